/*
 * test_ingest_comtrade.c — COMTRADE in and out, and capture blobs.
 *  - a dip capture from the engine: blob encode → decode is exact; written as COMTRADE 2013
 *    BINARY32 and BINARY, read back with the same samples, and `analyze` finds the dip again;
 *  - hand-made files in every ft variant (ASCII, BINARY, BINARY32, FLOAT32; 1999 and 2013;
 *    two sampling rates; .cff with ASCII and binary DAT) parse to the same values;
 *  - malformed files (wrong counts, bad dates, truncated .dat, missing fractional seconds,
 *    non-numeric fields) give an error naming the file, line and field;
 *  - the stored files under tests/data/comtrade/ parse (good) or fail as their name says;
 *  - the synthetic recording of ingest_ct_synth reads back as its analytic waveform.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>
#include <errno.h>
#include <unistd.h>
#include <sys/stat.h>

#include "siggen.h"

static char tmpdir[256];

static void path_in(char *buf, size_t cap, const char *name)
{
  snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *name, const void *data, size_t len)
{
  char p[512];
  path_in(p, sizeof p, name);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  fclose(f);
}

/* ---- capture round trip ---- */

struct capgot { uint8_t *blob; size_t blob_len; unsigned nev; unsigned ncap; size_t raw_bytes; };

static void on_capture(void *ctx, const struct ingest_capture_view *c)
{
  struct capgot *g = ctx;
  g->ncap++;
  size_t cap = ingest_capture_blob_bound(c->nch, c->nframes);
  g->blob = realloc(g->blob, cap);
  assert_int_equal(ingest_capture_encode(c, g->blob, cap, &g->blob_len), 0);
  g->raw_bytes = (size_t)c->nch * c->nframes * 4;
  /* decode and compare right here, while the view is valid */
  unsigned nch;
  uint32_t nf;
  assert_int_equal(ingest_capture_peek(g->blob, g->blob_len, &nch, &nf), 0);
  assert_int_equal(nch, c->nch);
  assert_int_equal(nf, c->nframes);
  int32_t *codes = malloc(sizeof(int32_t) * nch * nf);
  struct ingest_capture *dc = malloc(sizeof *dc);
  assert_int_equal(ingest_capture_decode(g->blob, g->blob_len, dc, codes, (size_t)nch * nf), 0);
  assert_memory_equal(codes, c->codes, sizeof(int32_t) * nch * nf);
  assert_int_equal(dc->v.trigger_frame, c->trigger_frame);
  assert_int_equal(dc->v.t0_ns, c->t0_ns);
  assert_string_equal(dc->chan[1].name, c->ch[1].name);
  assert_true(dc->v.sample_rate_hz == c->sample_rate_hz);
  /* every truncation of the blob is rejected, never read past */
  for (size_t cut = 0; cut < g->blob_len; cut += 1 + cut / 3)
    assert_true(ingest_capture_decode(g->blob, cut, dc, codes, (size_t)nch * nf) < 0);
  free(codes);
  free(dc);
}
static void on_event(void *ctx, const struct ingest_pq_event *e)
{
  struct capgot *g = ctx;
  (void)e;
  g->nev++;
}

static double env_dip(const void *ctx, unsigned ch, double t)
{
  (void)ctx;
  return (ch == 0 && t >= 0.5 && t < 0.6) ? 0.6 : 1.0;
}

static void make_capture(struct capgot *g, double vscale, double iscale)
{
  struct sg s;
  memset(&s, 0, sizeof s);
  s.fs = 8000;
  s.f = 50;
  s.nch = 4;
  s.rng = 3;
  struct ingest_config cfg;
  ingest_config_defaults(&cfg);
  cfg.nch = 4;
  cfg.capture_post_ms = 300;
  cfg.t0_ns = 1763733720000000000LL; /* 2025-11-21T14:02:00Z */
  const char *names[] = {"VA", "VB", "IA", "IB"};
  for (unsigned c = 0; c < 4; c++) {
    bool v = c < 2;
    s.ch[c].order[0] = 1;
    s.ch[c].amp_rms[0] = v ? 230.0 : 12.0;
    s.ch[c].phase_rad[0] = -2.0 * M_PI / 3.0 * (c % 2) - (v ? 0 : 0.4);
    s.ch[c].order[1] = v ? 0 : 5;
    s.ch[c].amp_rms[1] = 1.5;
    s.ch[c].scale = v ? vscale : iscale;
    s.ch[c].noise_rms = v ? 0.05 : 0.002;
    s.ch[c].env = env_dip;
    snprintf(cfg.ch[c].name, sizeof cfg.ch[c].name, "%s", names[c]);
    snprintf(cfg.ch[c].phase, sizeof cfg.ch[c].phase, "%c", 'A' + (c % 2));
    cfg.ch[c].kind = v ? INGEST_KIND_VOLTAGE : INGEST_KIND_CURRENT;
    cfg.ch[c].scale = s.ch[c].scale;
    cfg.ch[c].voltage_ch = -1;
    cfg.ch[c].branch = v ? 0 : (uint16_t)(c + 1);
  }
  ingest_config_pair_by_phase(&cfg);
  memset(g, 0, sizeof *g);
  struct ingest_sink sink = {.ctx = g, .capture = on_capture, .pq_event = on_event};
  struct ingest_engine e;
  assert_int_equal(ingest_engine_init(&e, &cfg, &sink), 0);
  sg_run(&s, &e, 1.5);
  ingest_engine_finish(&e);
  ingest_engine_deinit(&e);
  assert_int_equal(g->ncap, 1);
  assert_int_equal(g->nev, 1);
}

static void t_capture_roundtrip(void **st)
{
  (void)st;
  struct capgot g;
  make_capture(&g, 500.0 / 8388608.0, 100.0 / 8388608.0);
  print_message("capture blob: %zu bytes for %zu bytes of int32 codes (%.2f x)\n", g.blob_len,
                g.raw_bytes, (double)g.raw_bytes / g.blob_len);
  assert_true(g.blob_len < g.raw_bytes * 0.7);

  unsigned nch;
  uint32_t nf;
  assert_int_equal(ingest_capture_peek(g.blob, g.blob_len, &nch, &nf), 0);
  int32_t *codes = malloc(sizeof(int32_t) * nch * nf);
  struct ingest_capture *dc = malloc(sizeof *dc);
  assert_int_equal(ingest_capture_decode(g.blob, g.blob_len, dc, codes, (size_t)nch * nf), 0);
  assert_true(dc->v.trigger_frame >= 10 * 160);

  /* BINARY32: the same codes come back exactly */
  char base[512], cfgp[600], msg[512];
  path_in(base, sizeof base, "cap32");
  assert_int_equal(ingest_ct_write(base, &dc->v, INGEST_CT_BINARY32, "st", "dev", msg, sizeof msg), 0);
  snprintf(cfgp, sizeof cfgp, "%s.cfg", base);
  struct ingest_ct_cfg ct;
  struct ingest_ct_data dat;
  int rc = ingest_ct_read(cfgp, &ct, &dat, msg, sizeof msg);
  if (rc) print_message("%s\n", msg);
  assert_int_equal(rc, 0);
  assert_int_equal(ct.rev_year, 2013);
  assert_int_equal(ct.ft, INGEST_CT_BINARY32);
  assert_int_equal(ct.na, nch);
  assert_int_equal(dat.nsamples, nf);
  assert_non_null(dat.raw);
  assert_memory_equal(dat.raw, codes, sizeof(int32_t) * nch * nf);
  assert_true(fabs(ct.an[0].a - dc->chan[0].scale) < 1e-15);
  int64_t t0 = dc->v.t0_ns;
  assert_int_equal(ct.start.year, 2025);
  assert_int_equal(ct.start.month, 11);
  assert_int_equal(ct.start.day, 21);
  assert_int_equal(ct.start.hour, 14);
  assert_int_equal(ct.start.sec_ns / 1000, (t0 % 60000000000LL) / 1000);
  ingest_ct_cfg_free(&ct);
  ingest_ct_data_free(&dat);

  /* BINARY (int16): codes are scaled down by a power of two, values agree within that step */
  path_in(base, sizeof base, "cap16");
  assert_int_equal(ingest_ct_write(base, &dc->v, INGEST_CT_BINARY, NULL, NULL, msg, sizeof msg), 0);
  snprintf(cfgp, sizeof cfgp, "%s.cfg", base);
  assert_int_equal(ingest_ct_read(cfgp, &ct, &dat, msg, sizeof msg), 0);
  assert_int_equal(ct.ft, INGEST_CT_BINARY);
  for (unsigned c = 0; c < nch; c++)
    for (uint32_t n = 0; n < nf; n++) {
      double want = dc->chan[c].scale * codes[(size_t)c * nf + n];
      assert_true(fabs(dat.value[(size_t)c * nf + n] - want) <= ct.an[c].a * 0.5 + 1e-9);
    }
  ingest_ct_cfg_free(&ct);
  ingest_ct_data_free(&dat);

  /* analyze the written file: windows and the dip on phase A */
  char outp[512];
  path_in(outp, sizeof outp, "analyze.jsonl");
  FILE *out = fopen(outp, "w+");
  msg[0] = 0;
  rc = ingest_analyze_file(cfgp, 0, out, msg, sizeof msg);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(msg, "230 V"));
  fflush(out);
  rewind(out);
  char line[8192];
  unsigned nwin = 0, nev = 0;
  while (fgets(line, sizeof line, out)) {
    if (strstr(line, "\"type\":\"window\"")) nwin++;
    if (strstr(line, "\"type\":\"pq_event\"")) {
      nev++;
      assert_non_null(strstr(line, "\"kind\":\"dip\""));
      assert_non_null(strstr(line, "\"phases\":\"A\""));
      assert_non_null(strstr(line, "\"start\":\"2025-11-21T14:02:"));
    }
    if (nwin == 1 && strstr(line, "window")) {
      assert_non_null(strstr(line, "\"powers\":[{\"current\":\"IA\",\"voltage\":\"VA\""));
    }
  }
  fclose(out);
  print_message("analyze: %u windows, %u events\n", nwin, nev);
  assert_true(nwin >= 2);
  assert_int_equal(nev, 1);

  /* codes that fit int16 come back exactly from BINARY too */
  for (size_t k = 0; k < (size_t)nch * nf; k++) codes[k] /= 1024;
  path_in(base, sizeof base, "cap16x");
  assert_int_equal(ingest_ct_write(base, &dc->v, INGEST_CT_BINARY, NULL, NULL, msg, sizeof msg), 0);
  snprintf(cfgp, sizeof cfgp, "%s.cfg", base);
  assert_int_equal(ingest_ct_read(cfgp, &ct, &dat, msg, sizeof msg), 0);
  assert_memory_equal(dat.raw, codes, sizeof(int32_t) * nch * nf);
  ingest_ct_cfg_free(&ct);
  ingest_ct_data_free(&dat);

  free(codes);
  free(dc);
  free(g.blob);
}

/* ---- hand-made files in every ft variant ---- */

#define NS 400  /* samples: 4 cycles at 50 Hz, 5 kHz */
static const char *cfg_fmt =
  "Station X,Rec 1,%d\r\n"
  "3,2A,1D\r\n"
  "1,VA,A,Bus 1,V,%s,0,0,-32767,32767,1000,1,P\r\n"
  "2,IA,A,Feeder,A,%s,0.5,0,-32767,32767,200,5,S\r\n"
  "1,TRIP,,,0\r\n"
  "50\r\n"
  "%s"
  "21/11/2025,14:02:00.000000\r\n"
  "21/11/2025,14:02:00.040000\r\n"
  "%s\r\n"
  "1\r\n"
  "%s";

static int32_t code_at(unsigned c, unsigned n)
{
  return (int32_t)lrint((c == 0 ? 30000.0 : 20000.0) * sin(2 * M_PI * 50 * n / 5000.0 - c));
}

static void make_variant(const char *name, int rev, const char *ft, bool two_rates, bool cff)
{
  char rates[128];
  if (two_rates) snprintf(rates, sizeof rates, "2\r\n5000,200\r\n2500,%d\r\n", 200 + (NS - 200) / 2);
  else snprintf(rates, sizeof rates, "1\r\n5000,%d\r\n", NS);
  unsigned ns = two_rates ? 200 + (NS - 200) / 2 : NS;
  bool flt = strcmp(ft, "FLOAT32") == 0;
  char cfg[2048];
  snprintf(cfg, sizeof cfg, cfg_fmt, rev, flt ? "1" : "0.01", flt ? "1" : "0.001", rates, ft,
           rev == 2013 ? "+1,+1\r\n0,0\r\n" : "");
  size_t vs = strcmp(ft, "BINARY") == 0 ? 2 : 4;
  size_t cap = 64 + (size_t)ns * 64;
  uint8_t *dat = malloc(cap);
  size_t dl = 0;
  for (unsigned n = 0; n < ns; n++) {
    unsigned src = two_rates && n >= 200 ? 200 + (n - 200) * 2 : n; /* time-consistent */
    int32_t a = code_at(0, src), b = code_at(1, src);
    unsigned ts = (unsigned)(n * 200);
    if (!strcmp(ft, "ASCII")) {
      dl += (size_t)snprintf((char *)dat + dl, cap - dl, "%u,%u,%d,%d,%d\r\n", n + 1, ts, a, b, n >= 200);
    } else {
      uint8_t *r = dat + dl;
      for (int k = 0; k < 4; k++) { r[k] = (uint8_t)((n + 1) >> (8 * k)); r[4 + k] = (uint8_t)(ts >> (8 * k)); }
      int32_t v[2] = {a, b};
      for (int c = 0; c < 2; c++) {
        uint8_t *p = r + 8 + vs * c;
        uint32_t u;
        if (flt) { float fv = (float)(v[c] * (c == 0 ? 0.01 : 0.001)); memcpy(&u, &fv, 4); }
        else u = (uint32_t)v[c];
        for (size_t k = 0; k < vs; k++) p[k] = (uint8_t)(u >> (8 * k));
      }
      uint16_t w = n >= 200;
      r[8 + 2 * vs] = (uint8_t)w;
      r[9 + 2 * vs] = 0;
      dl += 10 + 2 * vs;
    }
  }
  char fn[128];
  if (!cff) {
    snprintf(fn, sizeof fn, "%s.cfg", name);
    write_file(fn, cfg, strlen(cfg));
    snprintf(fn, sizeof fn, "%s.dat", name);
    write_file(fn, dat, dl);
  } else {
    size_t tl = strlen(cfg) + dl + 256;
    char *t = malloc(tl);
    size_t o = (size_t)snprintf(t, tl, "--- file type: CFG ---\r\n%s--- file type: INF ---\r\n"
                                "--- file type: HDR ---\r\nhand made\r\n", cfg);
    if (!strcmp(ft, "ASCII")) o += (size_t)snprintf(t + o, tl - o, "--- file type: DAT ASCII ---\r\n");
    else o += (size_t)snprintf(t + o, tl - o, "--- file type: DAT %s: %zu ---\r\n", ft, dl);
    memcpy(t + o, dat, dl);
    o += dl;
    snprintf(fn, sizeof fn, "%s.cff", name);
    write_file(fn, t, o);
    free(t);
  }
  free(dat);
}

static void check_variant(const char *file, bool two_rates)
{
  char p[512], msg[512];
  path_in(p, sizeof p, file);
  struct ingest_ct_cfg ct;
  struct ingest_ct_data d;
  int rc = ingest_ct_read(p, &ct, &d, msg, sizeof msg);
  if (rc) print_message("%s: %s\n", file, msg);
  assert_int_equal(rc, 0);
  assert_int_equal(ct.na, 2);
  assert_int_equal(ct.nd, 1);
  assert_string_equal(ct.an[1].id, "IA");
  assert_int_equal(ct.an[1].ps, 'S');
  assert_int_equal(ct.trigger.sec_ns, 40000000);
  for (unsigned n = 0; n < d.nsamples; n++) {
    unsigned src = two_rates && n >= 200 ? 200 + (n - 200) * 2 : n;
    assert_true(fabs(d.value[n] - 0.01 * code_at(0, src)) < 1e-3);
    assert_true(fabs(d.value[d.nsamples + n] - (0.001 * code_at(1, src) + 0.5)) < 1e-4);
    assert_int_equal(d.digital[n] & 1, n >= 200);
    assert_int_equal(d.t_us[n], two_rates && n >= 200 ? 40000 + (int64_t)(n - 200) * 400 : (int64_t)n * 200);
  }
  ingest_ct_cfg_free(&ct);
  ingest_ct_data_free(&d);
}

static void t_every_ft(void **st)
{
  (void)st;
  static const char *fts[] = {"ASCII", "BINARY", "BINARY32", "FLOAT32"};
  char name[64], file[80];
  for (unsigned k = 0; k < 4; k++) {
    for (int two = 0; two < 2; two++) {
      snprintf(name, sizeof name, "v_%s_%d", fts[k], two);
      make_variant(name, 2013, fts[k], two, false);
      snprintf(file, sizeof file, "%s.cfg", name);
      check_variant(file, two);
      snprintf(name, sizeof name, "c_%s_%d", fts[k], two);
      make_variant(name, 2013, fts[k], two, true);
      snprintf(file, sizeof file, "%s.cff", name);
      check_variant(file, two);
    }
  }
  make_variant("v1999a", 1999, "ASCII", false, false);
  check_variant("v1999a.cfg", false);
  make_variant("v1999b", 1999, "BINARY", true, false);
  check_variant("v1999b.cfg", true);
}

/* ---- malformed ---- */

static void expect_cfg_error(const char *text, const char *want)
{
  struct ingest_ct_cfg ct;
  char msg[512];
  int rc = ingest_ct_cfg_parse(text, strlen(text), "x.cfg", &ct, msg, sizeof msg);
  if (rc == 0 || !strstr(msg, want)) print_message("got rc %d msg '%s', want '%s'\n", rc, msg, want);
  assert_true(rc < 0);
  assert_non_null(strstr(msg, want));
}

#define GOOD_HEAD "S,D,2013\r\n2,2A,0D\r\n1,VA,A,,V,1,0,0,-32767,32767,1,1,P\r\n2,IA,A,,A,1,0,0,-32767,32767,1,1,P\r\n50\r\n1\r\n1000,3\r\n"

static void t_malformed(void **st)
{
  (void)st;
  expect_cfg_error("S,D,2013\r\n3,2A,0D\r\n", "x.cfg:2: field 1 (TT): total is not the sum");
  expect_cfg_error("S,D,2013\r\n2,2A,0D\r\n1,VA,A,,V,1,0,0,-32767,32767,1,1,P\r\n50\r\n",
                   "x.cfg:4: analog channel needs 10 or 13 fields");
  expect_cfg_error(GOOD_HEAD "32/11/2025,14:02:00.000000\r\n", "x.cfg:8: field 1 (date): day out of range");
  expect_cfg_error(GOOD_HEAD "29/02/2025,14:02:00.000000\r\n", "x.cfg:8: field 1 (date): day out of range");
  expect_cfg_error(GOOD_HEAD "01/13/2025,14:02:00.000000\r\n", "x.cfg:8: field 1 (date): month out of range");
  expect_cfg_error(GOOD_HEAD "21/11/2025,14:02:00\r\n", "x.cfg:8: field 2 (time): missing fractional seconds");
  expect_cfg_error(GOOD_HEAD "21/11/2025,14:02:00.0\r\n21/11/2025,14:02:07\r\n",
                   "x.cfg:9: field 2 (time): missing fractional seconds");
  expect_cfg_error("S,D,2013\r\n2,2A,0D\r\n1,VA,A,,V,abc,0,0,-32767,32767,1,1,P\r\n",
                   "x.cfg:3: field 6 (a): not a number");
  expect_cfg_error("S,D,2013\r\n2,2A,0D\r\n1,VA,A,,V,1,0,0,-32767,32767,1,1,Q\r\n",
                   "x.cfg:3: field 13 (PS): expected P or S");
  expect_cfg_error("S,D,2013\r\nx,2A,0D\r\n", "x.cfg:2: field 1 (TT): not a non-negative integer");
  expect_cfg_error("S,D,2013\r\n2,2X,0D\r\n", "x.cfg:2: field 2 (##A): expected a count ending in A");
  expect_cfg_error("S,D,2020\r\n", "x.cfg:1: field 3 (rev_year)");
  expect_cfg_error(GOOD_HEAD "21/11/2025,14:02:00.000000\r\n21/11/2025,14:02:00.000000\r\nBINARY64\r\n",
                   "x.cfg:10: field 1 (ft)");
  expect_cfg_error(GOOD_HEAD "21/11/2025,14:02:00.000000\r\n", "x.cfg:9: unexpected end of file");
  expect_cfg_error("S,D,2013\r\n2,2A,0D\r\n2,VA,A,,V,1,0,0,-32767,32767,1,1,P\r\n",
                   "x.cfg:3: field 1 (An): channel index out of sequence");

  /* .dat errors */
  const char *cfg = GOOD_HEAD "21/11/2025,14:02:00.000000\r\n21/11/2025,14:02:00.000000\r\nASCII\r\n1\r\n0,0\r\n0,0\r\n";
  struct ingest_ct_cfg ct;
  char msg[512];
  assert_int_equal(ingest_ct_cfg_parse(cfg, strlen(cfg), "x.cfg", &ct, msg, sizeof msg), 0);
  struct ingest_ct_data d;
  const char *dat1 = "1,0,1,2\r\n2,1000,3,4\r\n";
  assert_int_equal(ingest_ct_dat_parse(&ct, (const uint8_t *)dat1, strlen(dat1), "x.dat", &d, msg, sizeof msg), INGEST_ETRUNC);
  assert_non_null(strstr(msg, "x.dat: 2 samples, but the .cfg declares 3"));
  const char *dat2 = "1,0,1,2\r\n2,1000,3,four\r\n3,2000,5,6\r\n";
  assert_int_equal(ingest_ct_dat_parse(&ct, (const uint8_t *)dat2, strlen(dat2), "x.dat", &d, msg, sizeof msg), INGEST_ESYNTAX);
  assert_non_null(strstr(msg, "x.dat:2: field 4 (analog 2 'IA'): not a number"));
  const char *dat3 = "1,0,1,2\r\n2,1000,3\r\n3,2000,5,6\r\n";
  assert_int_equal(ingest_ct_dat_parse(&ct, (const uint8_t *)dat3, strlen(dat3), "x.dat", &d, msg, sizeof msg), INGEST_ESYNTAX);
  assert_non_null(strstr(msg, "x.dat:2: 3 fields, expected 4"));
  ct.ft = INGEST_CT_BINARY;
  uint8_t bin[3 * 12] = {0};
  assert_int_equal(ingest_ct_dat_parse(&ct, bin, sizeof bin - 5, "x.dat", &d, msg, sizeof msg), INGEST_ETRUNC);
  assert_non_null(strstr(msg, "x.dat: sample 3: truncated"));
  assert_int_equal(ingest_ct_dat_parse(&ct, bin, sizeof bin, "x.dat", &d, msg, sizeof msg), 0);
  ingest_ct_data_free(&d);
  ingest_ct_cfg_free(&ct);

  /* file-level: the .dat is named in its own errors, a missing .dat is -ENOENT */
  write_file("bad.cfg", cfg, strlen(cfg));
  write_file("bad.dat", dat2, strlen(dat2));
  char p[512];
  path_in(p, sizeof p, "bad.cfg");
  struct ingest_ct_data dd;
  assert_int_equal(ingest_ct_read(p, &ct, &dd, msg, sizeof msg), INGEST_ESYNTAX);
  assert_non_null(strstr(msg, "bad.dat:2: field 4"));
  write_file("nodat.cfg", cfg, strlen(cfg));
  path_in(p, sizeof p, "nodat.cfg");
  assert_int_equal(ingest_ct_read(p, &ct, &dd, msg, sizeof msg), -ENOENT);
  assert_int_equal(ingest_analyze_file(p, 230, stdout, msg, sizeof msg), -ENOENT);
}

/* ---- stored files ---- */

static void t_stored_files(void **st)
{
  (void)st;
  static const struct { const char *file; int rc; const char *msg; } cases[] = {
    {"good_1999_ascii.cfg", 0, NULL},
    {"good_2013_single.cff", 0, NULL},
    {"bad_no_fraction.cfg", INGEST_ESYNTAX, "bad_no_fraction.cfg:9: field 2 (time): missing fractional seconds"},
    {"bad_counts.cfg", INGEST_ESYNTAX, "bad_counts.cfg:2: field 1 (TT)"},
    {"bad_date.cfg", INGEST_ESYNTAX, "bad_date.cfg:9: field 1 (date): month out of range"},
    {"bad_truncated.cfg", INGEST_ETRUNC, "bad_truncated.dat: sample 3: truncated"},
    {"bad_nonnumeric.cfg", INGEST_ESYNTAX, "bad_nonnumeric.dat:3: field 3 (analog 1 'VA'): not a number"},
  };
  char p[1024], msg[512];
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    snprintf(p, sizeof p, "%s/tests/data/comtrade/%s", HEMS_SOURCE_DIR, cases[k].file);
    struct ingest_ct_cfg ct;
    struct ingest_ct_data d;
    msg[0] = 0;
    int rc = ingest_ct_read(p, &ct, &d, msg, sizeof msg);
    if (rc != cases[k].rc || (cases[k].msg && !strstr(msg, cases[k].msg)))
      print_message("%s: rc %d msg '%s'\n", cases[k].file, rc, msg);
    assert_int_equal(rc, cases[k].rc);
    if (cases[k].msg) assert_non_null(strstr(msg, cases[k].msg));
    if (rc == 0) {
      assert_true(d.nsamples > 0);
      ingest_ct_cfg_free(&ct);
      ingest_ct_data_free(&d);
    }
  }
}

/* ingest_ct_synth (the file `hems bench analyze` measures on, whose reference run must read
 * 230 V): read back through the reader, in BINARY and BINARY32, every phase holds
 * 230·√(1 + 0.005²) V rms and 10 A rms over whole cycles, the active power per phase is
 * 230 · 10 · 0.9 W (the 5th harmonic has no current partner), and phase B lags A by 120°. */
static void t_synth_physics(void **st)
{
  (void)st;
  for (int b32 = 0; b32 < 2; b32++) {
    char base[300], cfgp[320];
    snprintf(base, sizeof base, "%s/synth%d", tmpdir, b32);
    snprintf(cfgp, sizeof cfgp, "%s.cfg", base);
    struct ingest_ct_synth_spec sp = {.seconds = 1, .binary32 = b32};
    char msg[512];
    assert_int_equal(ingest_ct_synth(base, &sp, msg, sizeof msg), 0);
    struct ingest_ct_cfg ct;
    struct ingest_ct_data d;
    assert_int_equal(ingest_ct_read(cfgp, &ct, &d, msg, sizeof msg), 0);
    assert_int_equal(ct.na, 6);
    assert_int_equal(d.nsamples, 8000);
    assert_int_equal(ct.ft, b32 ? INGEST_CT_BINARY32 : INGEST_CT_BINARY);
    const size_t n = 8000; /* 50 whole cycles */
    const double v_want = 230 * sqrt(1 + 0.005 * 0.005), tol_v = b32 ? 1e-4 : 2e-3;
    for (int ph = 0; ph < 3; ph++) {
      const double *v = d.value + (size_t)ph * n, *i = d.value + (size_t)(ph + 3) * n;
      double sv = 0, si = 0, p = 0;
      for (size_t k = 0; k < n; k++) {
        sv += v[k] * v[k];
        si += i[k] * i[k];
        p += v[k] * i[k];
      }
      assert_true(fabs(sqrt(sv / n) - v_want) < tol_v);
      assert_true(fabs(sqrt(si / n) - 10.0) < 1e-4);
      assert_true(fabs(p / n - 230 * 10 * 0.9) < 0.05);
    }
    /* B at t = 1/150 s (a third of a cycle) equals A at 0 */
    assert_true(fabs(d.value[n + 53] - d.value[0 + 0]) < 230 * M_SQRT2 * 0.05);
    ingest_ct_cfg_free(&ct);
    ingest_ct_data_free(&d);
  }
}

static int setup(void **st)
{
  (void)st;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/hems-ingest-ct-XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}
static int teardown(void **st)
{
  (void)st;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(t_capture_roundtrip),
    cmocka_unit_test(t_every_ft),
    cmocka_unit_test(t_malformed),
    cmocka_unit_test(t_stored_files),
    cmocka_unit_test(t_synth_physics),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
