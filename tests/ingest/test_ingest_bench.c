/*
 * test_ingest_bench.c — runs ingest_bench() (the `hems bench ingest` figure) for a few
 * simulated seconds and checks the work was done (windows, events, captures); prints the
 * realtime factor and memory but asserts no timing. Also measures what zstd makes of a capture
 * blob versus the raw int32 codes (the ratio reported in docs/ingest.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>
#include <zstd.h>

#include "siggen.h"

static void t_bench(void **st)
{
  (void)st;
  struct ingest_bench_result r;
  assert_int_equal(ingest_bench(12.0, &r), 0);
  print_message("ingest bench: %u channels at %.0f Hz, %.0f s simulated in %.3f s CPU: %.1fx real time "
                "(same run, Class A additions off: %.1fx)\n", r.channels, r.sample_rate_hz,
                r.seconds_simulated, r.cpu_s, r.realtime_factor, r.realtime_factor_class_a_off);
  print_message("capture rings %zu bytes, engine total %zu bytes; windows %llu events %llu captures %llu; "
                "blob %zu bytes for %zu raw (%.2fx)\n",
                r.capture_ring_bytes, r.engine_bytes, (unsigned long long)r.windows,
                (unsigned long long)r.events, (unsigned long long)r.captures, r.blob_bytes,
                r.blob_bytes_raw, r.blob_bytes ? (double)r.blob_bytes_raw / r.blob_bytes : 0.0);
  assert_int_equal(r.channels, 51);
  assert_true(r.windows >= 4 * 12); /* ≥ 4 windows per second (5 expected) */
  assert_true(r.events >= 1);
  assert_true(r.captures >= 1);
  assert_true(r.realtime_factor > 0 && r.realtime_factor_class_a_off > 0);
  assert_true(r.engine_bytes_class_a_off > 0 && r.engine_bytes_class_a_off < r.engine_bytes);
  assert_true(r.capture_ring_bytes > 0 && r.capture_ring_bytes < r.engine_bytes);
}

static struct { uint8_t *blob; size_t len; size_t raw; } cap;

static void on_capture(void *ctx, const struct ingest_capture_view *c)
{
  (void)ctx;
  size_t bound = ingest_capture_blob_bound(c->nch, c->nframes);
  cap.blob = realloc(cap.blob, bound);
  assert_int_equal(ingest_capture_encode(c, cap.blob, bound, &cap.len), 0);
  cap.raw = (size_t)c->nch * c->nframes * 4;
  /* zstd on the raw codes, for comparison */
  size_t zb = ZSTD_compressBound(cap.raw);
  void *z = malloc(zb);
  size_t zr = ZSTD_compress(z, zb, c->codes, cap.raw, 3);
  size_t zc = ZSTD_compress(z, zb, cap.blob, cap.len, 3);
  assert_false(ZSTD_isError(zr));
  assert_false(ZSTD_isError(zc));
  print_message("capture %u ch x %u frames: raw int32 %zu B; zstd(raw) %zu B (%.2fx); "
                "blob %zu B (%.2fx); zstd(blob) %zu B (%.2fx)\n",
                c->nch, c->nframes, cap.raw, zr, (double)cap.raw / zr, cap.len,
                (double)cap.raw / cap.len, zc, (double)cap.raw / zc);
  assert_true(zc < zr);
  free(z);
}

static double env_dip(const void *ctx, unsigned ch, double t)
{
  (void)ctx;
  return (ch == 0 && t >= 0.5 && t < 0.6) ? 0.7 : 1.0;
}

static void t_zstd_ratio(void **st)
{
  (void)st;
  /* realistic codes: ADE9000-like 24-bit full scale, 3 V + 6 I, harmonics and noise */
  struct sg g;
  memset(&g, 0, sizeof g);
  g.fs = 8000;
  g.f = 60;
  g.nch = 9;
  g.rng = 5;
  struct ingest_config cfg;
  ingest_config_defaults(&cfg);
  cfg.nominal_hz = 60;
  cfg.nch = 9;
  cfg.pq.declared_v = 120;
  for (unsigned c = 0; c < 9; c++) {
    bool v = c < 3;
    unsigned ph = c % 3;
    g.ch[c].order[0] = 1;
    g.ch[c].amp_rms[0] = v ? 120.0 : 3.0 + 2 * c;
    g.ch[c].phase_rad[0] = -2 * M_PI / 3 * ph - (v ? 0 : 0.3);
    g.ch[c].order[1] = v ? 5 : 3;
    g.ch[c].amp_rms[1] = v ? 2.0 : 0.6 + 0.2 * c;
    g.ch[c].scale = v ? 400.0 / 8388608.0 : 100.0 / 8388608.0;
    g.ch[c].noise_rms = v ? 0.02 : 0.002;
    g.ch[c].env = env_dip;
    snprintf(cfg.ch[c].name, sizeof cfg.ch[c].name, "%s%u", v ? "V" : "I", c);
    snprintf(cfg.ch[c].phase, sizeof cfg.ch[c].phase, "%c", 'A' + ph);
    cfg.ch[c].kind = v ? INGEST_KIND_VOLTAGE : INGEST_KIND_CURRENT;
    cfg.ch[c].scale = g.ch[c].scale;
    cfg.ch[c].voltage_ch = -1;
  }
  ingest_config_pair_by_phase(&cfg);
  struct ingest_sink sink = {.capture = on_capture};
  struct ingest_engine e;
  assert_int_equal(ingest_engine_init(&e, &cfg, &sink), 0);
  sg_run(&g, &e, 1.5);
  ingest_engine_finish(&e);
  ingest_engine_deinit(&e);
  assert_non_null(cap.blob);
  free(cap.blob);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(t_zstd_ratio),
    cmocka_unit_test(t_bench),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
