/*
 * bench.c — `hems bench ingest`: 48 current + 3 voltage channels at 8 kSPS, 60 Hz, through the
 * whole waveform path (ring store, zero crossings and Urms(1/2) on the three voltages, PQ state
 * machine, basic windows with resampling + FFT + harmonic groups + powers for all 51 channels,
 * per-cycle signature rings, capture rings, and the blob encoding of each capture; and, as
 * ingest_config_defaults() leaves them on, the flickermeters, unbalance, RVC detection and the
 * Class A aggregation).
 *
 * The signal is generated before timing starts: one second of a three-phase supply with 48
 * branch currents of different loads, PFs and harmonic content (exactly 60 cycles, so it
 * repeats seamlessly), plus a second copy with a 100 ms dip to 70 % on phase A; every tenth
 * second is the dip copy, so captures run. The measured time is the calling thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID) spent in ingest_engine_push(); realtime factor = simulated seconds /
 * that time. The same-run baseline is a second engine with the switchable Class A additions
 * off, fed the same seconds in turn with the first (which goes first alternates).
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bench_ctx {
  struct ingest_bench_result *r;
  uint8_t *blob;
  size_t blob_cap;
};

static void b_window(void *ctx, const struct ingest_window *w)
{
  struct bench_ctx *b = ctx;
  (void)w;
  b->r->windows++;
}
static void b_event(void *ctx, const struct ingest_pq_event *e)
{
  struct bench_ctx *b = ctx;
  (void)e;
  b->r->events++;
}
static void b_capture(void *ctx, const struct ingest_capture_view *c)
{
  struct bench_ctx *b = ctx;
  size_t len = 0;
  b->r->captures++;
  if (ingest_capture_encode(c, b->blob, b->blob_cap, &len) == 0) {
    b->r->blob_bytes += len;
    b->r->blob_bytes_raw += (size_t)c->nch * c->nframes * sizeof(int32_t);
  }
}

static double cpu_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int ingest_bench(double seconds, struct ingest_bench_result *out)
{
  memset(out, 0, sizeof *out);
  const unsigned NV = 3, NI = 48, NCH = NV + NI;
  const double fs = 8000.0, f0 = 60.0;
  const size_t FR = 8000; /* one second, 60 whole cycles */
  struct ingest_config *cfg = calloc(1, sizeof *cfg);
  int32_t *sig = malloc(sizeof(int32_t) * FR * NCH * 2);
  struct bench_ctx b = {.r = out};
  if (!cfg || !sig) { free(cfg); free(sig); return -ENOMEM; }
  ingest_config_defaults(cfg);
  cfg->sample_rate_hz = fs;
  cfg->nominal_hz = f0;
  cfg->nch = NCH;
  cfg->pq.declared_v = 120.0;
  cfg->capture_pre_cycles = 12;
  cfg->capture_post_ms = 500;
  const double vscale = 400.0 / 8388608.0, iscale = 100.0 / 8388608.0;
  for (unsigned c = 0; c < NCH; c++) {
    struct ingest_channel_cfg *cc = &cfg->ch[c];
    unsigned ph = c < NV ? c : (c - NV) % 3;
    snprintf(cc->name, sizeof cc->name, c < NV ? "V%c" : "I%u", c < NV ? 'A' + c : c - NV + 1);
    if (c < NV) snprintf(cc->name, sizeof cc->name, "V%c", 'A' + ph);
    snprintf(cc->phase, sizeof cc->phase, "%c", 'A' + ph);
    cc->kind = c < NV ? INGEST_KIND_VOLTAGE : INGEST_KIND_CURRENT;
    cc->scale = c < NV ? vscale : iscale;
    cc->voltage_ch = c < NV ? -1 : (int16_t)ph;
    cc->branch = c < NV ? 0 : (uint16_t)(c - NV + 1);
  }
  uint32_t rng = 1;
  for (int copy = 0; copy < 2; copy++) {
    for (size_t n = 0; n < FR; n++) {
      double t = (double)n / fs, w = 2 * M_PI * f0 * t;
      for (unsigned c = 0; c < NCH; c++) {
        unsigned ph = c < NV ? c : (c - NV) % 3;
        double th = w - 2 * M_PI / 3 * ph, x;
        rng = rng * 1664525u + 1013904223u;
        double noise = ((double)(rng >> 8) / 16777216.0 - 0.5);
        if (c < NV) {
          double env = (copy == 1 && ph == 0 && t >= 0.4 && t < 0.5) ? 0.7 : 1.0;
          x = env * 120.0 * M_SQRT2 * sin(th) + 0.6 * sin(5 * th) + 0.02 * noise;
        } else {
          unsigned k = c - NV;
          double irms = 0.2 + 0.9 * (k % 17), phi = 0.1 * (k % 7) - 0.2;
          x = irms * M_SQRT2 * (sin(th - phi) + 0.2 * sin(3 * (th - phi)) + 0.08 * sin(5 * (th - phi))) +
              0.001 * noise;
        }
        sig[((size_t)copy * FR + n) * NCH + c] = (int32_t)lrint(x / cfg->ch[c].scale);
      }
    }
  }
  /* the same-run baseline: a second engine on the same signal with the Class A additions
   * that have a switch off (flickermeters, unbalance, RVC, frequency events; the aggregation
   * has none); the two are pushed second by second in turn, so machine load hits both alike */
  struct ingest_config *base = malloc(sizeof *base);
  struct ingest_bench_result base_r;
  struct bench_ctx bb = {.r = &base_r};
  memset(&base_r, 0, sizeof base_r);
  if (!base) { free(cfg); free(sig); return -ENOMEM; }
  *base = *cfg;
  base->flicker = false;
  base->unbalance = false;
  base->rvc_pct = 0;
  base->rvc_hysteresis_pct = 0;
  base->freq_band_pct = 0;
  struct ingest_sink sink = {.ctx = &b, .window = b_window, .pq_event = b_event, .capture = b_capture};
  struct ingest_sink bsink = {.ctx = &bb, .window = b_window, .pq_event = b_event, .capture = b_capture};
  struct ingest_engine e, be;
  int rc = ingest_engine_init(&e, cfg, &sink);
  if (rc) { free(base); free(cfg); free(sig); return rc; }
  rc = ingest_engine_init(&be, base, &bsink);
  if (rc) { ingest_engine_deinit(&e); free(base); free(cfg); free(sig); return rc; }
  b.blob_cap = bb.blob_cap = ingest_capture_blob_bound(NCH, (uint32_t)(fs * 2));
  b.blob = bb.blob = malloc(b.blob_cap);
  if (!b.blob) { ingest_engine_deinit(&e); ingest_engine_deinit(&be); free(base); free(cfg); free(sig); return -ENOMEM; }
  out->capture_ring_bytes = ingest_engine_capture_bytes(&e);
  out->engine_bytes = ingest_engine_memory_bytes(&e);
  out->engine_bytes_class_a_off = ingest_engine_memory_bytes(&be);
  unsigned nsec = seconds < 1 ? 1 : (unsigned)ceil(seconds);
  const size_t chunk = 800;
  double on_s = 0, off_s = 0;
  for (unsigned s = 0; s <= nsec; s++) {
    const int32_t *src = sig + (s % 10 == 5 ? FR * NCH : 0);
    for (int k = 0; k < 2; k++) {
      struct ingest_engine *x = k == (int)(s & 1) ? &e : &be;
      double t0 = cpu_s();
      if (s < nsec)
        for (size_t off = 0; off < FR; off += chunk) ingest_engine_push(x, src + off * NCH, chunk);
      else
        ingest_engine_finish(x);
      double dt = cpu_s() - t0;
      if (x == &e) on_s += dt; else off_s += dt;
    }
  }
  out->realtime_factor_class_a_off = off_s > 0 ? nsec / off_s : 0.0;
  ingest_engine_deinit(&be);
  free(base);
  out->seconds_simulated = nsec;
  out->cpu_s = on_s;
  out->realtime_factor = out->cpu_s > 0 ? nsec / out->cpu_s : 0.0;
  out->channels = NCH;
  out->sample_rate_hz = fs;
  ingest_engine_deinit(&e);
  free(b.blob);
  free(cfg);
  free(sig);
  return 0;
}
