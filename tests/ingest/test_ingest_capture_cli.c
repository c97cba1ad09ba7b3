/*
 * test_ingest_capture_cli.c — `hems capture SEQ --comtrade OUT` exports the waveform capture
 * of every record that names one: a pq_event and a trip_tap. A journal is made in a temp dir
 * with a capture blob (three cycles of a known sine) and both records; the exported COMTRADE
 * must read back with the capture's samples. A record that names no capture is refused (1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>
#include <math.h>

#include "jt_util.h"
#include "ingest.h"

#define NF 480

static void make_blob(uint8_t **blob, size_t *len, int32_t *codes)
{
  static struct ingest_channel_cfg ch[1];
  snprintf(ch[0].name, sizeof ch[0].name, "VA");
  snprintf(ch[0].phase, sizeof ch[0].phase, "A");
  ch[0].kind = INGEST_KIND_VOLTAGE;
  ch[0].scale = 0.01;
  ch[0].voltage_ch = -1;
  for (unsigned n = 0; n < NF; n++) codes[n] = (int32_t)lrint(32520.0 * sin(2 * M_PI * 50.0 * n / 8000.0));
  struct ingest_capture_view v = { .id = 1, .sample_rate_hz = 8000, .nominal_hz = 50, .t0_ns = 1763733720000000000ll,
                                   .nframes = NF, .trigger_frame = 100, .reason = 3, .nch = 1, .ch = ch, .codes = codes };
  size_t cap = ingest_capture_blob_bound(1, NF);
  *blob = malloc(cap);
  assert_int_equal(ingest_capture_encode(&v, *blob, cap, len), 0);
}

static void export_every_capture(void **st)
{
  (void)st;
  char *dir = jt_mkdtemp();
  struct jt_clock clk;
  jt_clock_init(&clk, 1000000);
  struct journal_options o;
  jt_opts(&o, dir, &clk);
  assert_int_equal(journal_create(&o, NULL, 0, "test"), 0);
  struct journal *j;
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);
  int32_t codes[NF];
  uint8_t *blob;
  size_t blen;
  make_blob(&blob, &blen, codes);
  uint8_t hash[32];
  assert_int_equal(journal_put_blob(j, blob, blen, hash), 0);
  free(blob);

  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_TRIP_TAP;
  r.source.kind = JOURNAL_SRC_BRANCH;
  r.source.index = 2;
  r.body.trip_tap.tap = 1;
  r.body.trip_tap.branch = 2;
  r.body.trip_tap.edge = 1;
  memcpy(r.body.trip_tap.capture, hash, 32);
  uint64_t tap_seq, note_seq;
  assert_int_equal(journal_append(j, &r, &tap_seq), 0);
  jt_note_rec(&r, "no capture here");
  assert_int_equal(journal_append(j, &r, &note_seq), 0);
  assert_int_equal(journal_flush(j), 0);
  assert_int_equal(journal_sync(j), 0);
  assert_int_equal(journal_close(j), 0);

  char seq[32], out[4300];
  snprintf(seq, sizeof seq, "%llu", (unsigned long long)tap_seq);
  snprintf(out, sizeof out, "%s/tap", dir);
  struct jt_out res;
  int rc = jt_hems(&res, "capture", "--dir", dir, seq, "--comtrade", out, NULL);
  if (rc != 0) fprintf(stderr, "%s", res.err);
  assert_int_equal(rc, 0);
  jt_out_free(&res);

  struct ingest_ct_cfg cfg;
  struct ingest_ct_data dat;
  char msg[256];
  char cfgp[4400];
  snprintf(cfgp, sizeof cfgp, "%s.cfg", out);
  assert_int_equal(ingest_ct_read(cfgp, &cfg, &dat, msg, sizeof msg), 0);
  assert_int_equal(dat.nsamples, NF);
  for (unsigned n = 0; n < NF; n++) assert_true(fabs(dat.value[n] - 0.01 * codes[n]) < 1e-9);
  ingest_ct_cfg_free(&cfg);
  ingest_ct_data_free(&dat);

  snprintf(seq, sizeof seq, "%llu", (unsigned long long)note_seq);
  assert_int_equal(jt_hems(&res, "capture", "--dir", dir, seq, "--comtrade", out, NULL), 1);
  assert_non_null(strstr(res.err, "has no waveform capture"));
  jt_out_free(&res);
  jt_rm_rf(dir);
  free(dir);
}

int main(void)
{
  const struct CMUnitTest t[] = { cmocka_unit_test(export_every_capture) };
  return cmocka_run_group_tests(t, NULL, NULL);
}
