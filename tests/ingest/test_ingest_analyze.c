/*
 * test_ingest_analyze.c — `hems analyze` end to end on COMTRADE files written here (three
 * phases at 230 V, 8 kSPS, BINARY):
 *  - the declared voltage comes from the .cfg's transformer rating before any guess: a
 *    recording that starts with 20 s of grid outage (primary values, VT 230:57.7) is judged
 *    against 230 V — no phantom swell when the supply returns, the outage reported as an
 *    interruption in progress at the start; a line-to-line rating above the channel's range
 *    is divided by √3; an 11 kV VT gives 11000/√3 by the ratio arithmetic (no low-voltage
 *    nominal), its secondary 110/√3 the standard 63.5 V;
 *  - without a ratio, the median of the energised cycles (not of the outage) gives 230 V;
 *  - frequency deviation events with the band as given (--freq-band): 50.6 Hz is one with
 *    the default 1 %, none with 2 % or off; 50.4 Hz none with 1 %, one with 0.5 %;
 *  - a 30 s file from 12:00:03 prints one clock-aligned `aggregate` (start 12:00:00, partial,
 *    no Pst) and a +6 % step prints one `rvc` pq_event with ΔUss ≈ 6 %;
 *  - a 10 min 5 s file from 12:00:00 (4 kSPS) carrying the IEC 61000-4-15 Ed. 2 Table 5 point
 *    39 changes/min, ΔV/V 0.894 % (230 V lamp, 50 Hz; see flicker_tables.h for the source) prints
 *    a complete 10-minute `aggregate` with Pst 1.00 ± 5 % on A, B and C (the standard's
 *    tolerance), then a partial one for the last 5 s, without Pst.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest.h"

static char dir[256];

struct spec {
  double seconds, outage_s, step_t, step_level;
  double fs;                         /* 0 → 8000 */
  double flicker_cpm, flicker_dvv_pct; /* rectangular modulation of all phases, or 0 */
  char ps;
  double primary, secondary, range;  /* range: the channel's max code (0 → 32767) */
  double vrms, va;                   /* phase voltage (0 → 230 V) and volts per code (0 → 0.02) */
  double freq_hz;                    /* supply frequency (0 → 50; the .cfg's lf stays 50) */
  const char *start;
};

static void write_ct(const char *base, const struct spec *sp)
{
  const double fs = sp->fs > 0 ? sp->fs : 8000, va = sp->va > 0 ? sp->va : 0.02;
  const double vrms = sp->vrms > 0 ? sp->vrms : 230, hz = sp->freq_hz > 0 ? sp->freq_hz : 50;
  uint64_t ns = (uint64_t)llround(sp->seconds * fs);
  char p[512];
  snprintf(p, sizeof p, "%s/%s.cfg", dir, base);
  FILE *c = fopen(p, "wb");
  assert_non_null(c);
  int mx = sp->range > 0 ? (int)sp->range : 32767;
  fprintf(c, "t,hems,2013\r\n3,3A,0D\r\n");
  for (int k = 0; k < 3; k++)
    fprintf(c, "%d,V%c,%c,,V,%g,0,0,%d,%d,%g,%g,%c\r\n", k + 1, 'A' + k, 'A' + k, va, -mx, mx, sp->primary,
            sp->secondary, sp->ps);
  fprintf(c, "50\r\n1\r\n%.0f,%llu\r\n%s\r\n%s\r\nBINARY\r\n1\r\n0,0\r\n0,0\r\n", fs,
          (unsigned long long)ns, sp->start, sp->start);
  fclose(c);
  snprintf(p, sizeof p, "%s/%s.dat", dir, base);
  FILE *d = fopen(p, "wb");
  assert_non_null(d);
  for (uint64_t n = 0; n < ns; n++) {
    double t = (double)n / fs;
    uint8_t r[14];
    uint32_t sn = (uint32_t)(n + 1), ts = (uint32_t)llround(t * 1e6);
    memcpy(r, &sn, 4);
    memcpy(r + 4, &ts, 4);
    double env = t < sp->outage_s ? 0.0 : (sp->step_t > 0 && t >= sp->step_t ? sp->step_level : 1.0);
    if (sp->flicker_cpm > 0) /* two levels, 50 % duty: cpm changes a minute */
      env *= fmod(t * sp->flicker_cpm / 120.0, 1.0) < 0.5 ? 1 + sp->flicker_dvv_pct / 200 : 1 - sp->flicker_dvv_pct / 200;
    for (int k = 0; k < 3; k++) {
      int16_t v = (int16_t)lrint(env * vrms * M_SQRT2 * sin(2 * M_PI * hz * t - 2 * M_PI / 3 * k) / va);
      memcpy(r + 8 + 2 * k, &v, 2);
    }
    assert_int_equal(fwrite(r, 1, sizeof r, d), sizeof r);
  }
  fclose(d);
}

struct result { char msg[512]; unsigned nwin, nagg, nrvc, nswell, nintr, ndip, nfreq; json_t *agg, *rvc, *intr, *freq; };

/* band_pct < 0: through ingest_analyze_file (the defaults) */
static void analyze_band(const char *base, double declared_v, double band_pct, struct result *res)
{
  memset(res, 0, sizeof *res);
  char p[512];
  snprintf(p, sizeof p, "%s/%s.cfg", dir, base);
  FILE *out = tmpfile();
  assert_non_null(out);
  const struct ingest_analyze_opts opts = {.declared_v = declared_v, .freq_band_pct = band_pct};
  int rc = band_pct < 0 ? ingest_analyze_file(p, declared_v, out, res->msg, sizeof res->msg)
                        : ingest_analyze_file_opts(p, &opts, out, res->msg, sizeof res->msg);
  if (rc) fprintf(stderr, "%s\n", res->msg);
  assert_int_equal(rc, 0);
  rewind(out);
  char line[65536];
  while (fgets(line, sizeof line, out)) {
    json_t *o = json_loads(line, 0, NULL);
    assert_non_null(o);
    const char *type = json_string_value(json_object_get(o, "type"));
    const char *kind = json_string_value(json_object_get(o, "kind"));
    if (strcmp(type, "window") == 0) res->nwin++;
    else if (strcmp(type, "aggregate") == 0) { res->nagg++; json_decref(res->agg); res->agg = json_incref(o); }
    else if (kind && strcmp(kind, "rvc") == 0) { res->nrvc++; json_decref(res->rvc); res->rvc = json_incref(o); }
    else if (kind && strcmp(kind, "swell") == 0) res->nswell++;
    else if (kind && strcmp(kind, "dip") == 0) res->ndip++;
    else if (kind && strcmp(kind, "frequency") == 0) { res->nfreq++; json_decref(res->freq); res->freq = json_incref(o); }
    else if (kind && strcmp(kind, "interruption") == 0) { res->nintr++; json_decref(res->intr); res->intr = json_incref(o); }
    json_decref(o);
  }
  fclose(out);
}

static void analyze(const char *base, double declared_v, struct result *res) { analyze_band(base, declared_v, -1, res); }

/* Write the file of sp, analyze it without --declared-voltage and show how it was declared. */
static void analyze_auto(const char *base, const struct spec *sp, struct result *r)
{
  write_ct(base, sp);
  analyze(base, 0, r);
  printf("%s\n", r->msg);
}

static void result_free(struct result *r)
{
  json_decref(r->freq);
  json_decref(r->agg);
  json_decref(r->rvc);
  json_decref(r->intr);
}

static double num(json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

static void declared_from_cfg(void **st)
{
  (void)st;
  struct spec sp = {.seconds = 30, .outage_s = 20, .ps = 'P', .primary = 230, .secondary = 57.7,
                    .start = "04/12/2026,12:00:03.000000"};
  struct result r;
  analyze_auto("outage_vt", &sp, &r);
  assert_non_null(strstr(r.msg, "using 230 V"));
  assert_non_null(strstr(r.msg, "from the .cfg"));
  assert_int_equal(r.nswell, 0);
  assert_int_equal(r.nintr, 1);
  assert_true(json_is_true(json_object_get(r.intr, "in_progress_at_start")));
  result_free(&r);
  /* no ratio stated: the median of the energised cycles, not of the outage */
  sp.primary = sp.secondary = 1;
  analyze_auto("outage", &sp, &r);
  assert_non_null(strstr(r.msg, "using 230 V"));
  assert_non_null(strstr(r.msg, "median RMS"));
  assert_int_equal(r.nswell, 0);
  result_free(&r);
  /* 400:100 VT on phase channels whose range (±17000 codes × 0.02 V = 340 V peak) cannot
   * hold 400 V rms: a line-to-line rating, 400/√3 → 230 V */
  sp.outage_s = 0;
  sp.primary = 400;
  sp.secondary = 100;
  sp.range = 17000;
  sp.seconds = 5;
  analyze_auto("ll", &sp, &r);
  assert_non_null(strstr(r.msg, "using 230 V"));
  assert_non_null(strstr(r.msg, "line-to-line"));
  result_free(&r);
}

/* The declared voltage by the ratio arithmetic of the .cfg (IEEE C37.111 primary, secondary,
 * PS), not the nearest low-voltage nominal:
 *  - an 11 kV system recorded in primary values on phase channels with a VT 11000:110 and a
 *    range (±32767 × 0.3 V = 9830 V peak, 6951 V rms) that cannot hold 11 kV: a line-to-line
 *    rating, 11000/√3 = 6350.85 V, which no IEC 60038 nominal is within 1 % of — declared as
 *    it is (before: snapped to 690 V, a 920 % swell for the whole file);
 *  - the same VT in secondary values (PS = S, ±32767 × 0.003 V): 110/√3 = 63.51 V, within
 *    1 % of the standard 63.5 V, which is used.
 * Neither file, a steady supply at exactly that voltage, may report a dip or swell. */
static double using_v(const char *msg)
{
  const char *p = strstr(msg, "using ");
  assert_non_null(p);
  return atof(p + 6);
}

static void declared_from_ratio(void **st)
{
  (void)st;
  struct spec sp = {.seconds = 5, .ps = 'P', .primary = 11000, .secondary = 110, .vrms = 11000 / sqrt(3.0),
                    .va = 0.3, .start = "04/12/2026,12:00:03.000000"};
  struct result r;
  analyze_auto("mv_primary", &sp, &r);
  assert_non_null(strstr(r.msg, "from the .cfg"));
  assert_non_null(strstr(r.msg, "line-to-line"));
  double v = using_v(r.msg);
  if (fabs(v / (11000 / sqrt(3.0)) - 1) > 1e-5) fail_msg("declared %g V, want 11000/√3", v);
  assert_int_equal(r.nswell + r.ndip + r.nintr, 0);
  assert_true(r.nwin > 0);
  result_free(&r);
  sp.ps = 'S';
  sp.vrms = 110 / sqrt(3.0);
  sp.va = 0.003;
  analyze_auto("mv_secondary", &sp, &r);
  assert_non_null(strstr(r.msg, "secondary values"));
  assert_true(fabs(110 / sqrt(3.0) / 63.5 - 1) <= 0.01);
  assert_true(using_v(r.msg) == 63.5);
  assert_int_equal(r.nswell + r.ndip + r.nintr, 0);
  result_free(&r);
}

/* Frequency deviation events in `hems analyze` from analytic three-phase supplies off 50 Hz,
 * 30 s from 12:00:00 (three clock-aligned 10-s frequencies, all equal to the supply's):
 * 50.6 Hz is 1.2 % off — one event with the default 1 % band (EN 50160's), extreme 50.6 Hz,
 * from 12:00:00, still in progress at the end; none with a 2 % band or with the band off (0);
 * 50.4 Hz (0.8 % off) — none with the default band, one with a 0.5 % band. */
static void frequency_band(void **st)
{
  (void)st;
  struct spec sp = {.seconds = 30, .freq_hz = 50.6, .ps = 'P', .primary = 1, .secondary = 1,
                    .start = "04/12/2026,12:00:00.000000"};
  write_ct("f506", &sp);
  struct result r;
  analyze_band("f506", 230, -1, &r);
  assert_int_equal(r.nfreq, 1);
  assert_true(fabs(num(r.freq, "freq_extreme_hz") - 50.6) < 0.001);
  assert_string_equal(json_string_value(json_object_get(r.freq, "start")), "2026-12-04T12:00:00.000Z");
  assert_true(json_is_true(json_object_get(r.freq, "in_progress_at_end")));
  assert_int_equal(r.nswell + r.ndip + r.nintr, 0);
  result_free(&r);
  analyze_band("f506", 230, 2.0, &r);
  assert_int_equal(r.nfreq, 0);
  result_free(&r);
  analyze_band("f506", 230, 0.0, &r);
  assert_int_equal(r.nfreq, 0);
  result_free(&r);
  sp.freq_hz = 50.4;
  write_ct("f504", &sp);
  analyze_band("f504", 230, -1, &r);
  assert_int_equal(r.nfreq, 0);
  result_free(&r);
  analyze_band("f504", 230, 0.5, &r);
  assert_int_equal(r.nfreq, 1);
  assert_true(fabs(num(r.freq, "freq_extreme_hz") - 50.4) < 0.001);
  result_free(&r);
}

static void aggregate_and_rvc(void **st)
{
  (void)st;
  struct spec sp = {.seconds = 30, .step_t = 10, .step_level = 1.06, .ps = 'P', .primary = 1,
                    .secondary = 1, .start = "04/12/2026,12:00:03.000000"};
  write_ct("step", &sp);
  struct result r;
  analyze("step", 230, &r);
  assert_int_equal(r.nagg, 1);
  assert_string_equal(json_string_value(json_object_get(r.agg, "start")), "2026-12-04T12:00:00.000Z");
  assert_int_equal(json_integer_value(json_object_get(r.agg, "interval_s")), 600);
  assert_true(json_is_true(json_object_get(r.agg, "partial")));
  assert_true(json_is_false(json_object_get(r.agg, "flagged")));
  assert_null(json_object_get(r.agg, "pst"));
  assert_true(num(r.agg, "u2_pct") < 0.05);
  assert_true(fabs(num(r.agg, "freq_hz") - 50) < 1e-3);
  /* rms over 10 s at 230 V and 20 s at 243.8 V */
  double want = sqrt((10 * 230.0 * 230.0 + 20 * pow(230 * 1.06, 2)) / 30);
  assert_true(fabs(num(json_object_get(r.agg, "urms"), "A") - want) < 0.5);
  assert_int_equal(r.nrvc, 1);
  char *txt = json_dumps(r.rvc, JSON_COMPACT);
  printf("rvc: %s\n", txt);
  free(txt);
  assert_true(fabs(num(r.rvc, "delta_uss_pct") - 6) < 0.1);
  assert_true(num(r.rvc, "delta_umax_pct") >= num(r.rvc, "delta_uss_pct") - 1e-9);
  assert_int_equal(r.nswell, 0);
  result_free(&r);
}

static void aggregate_pst(void **st)
{
  (void)st;
  struct spec sp = {.seconds = 605, .fs = 4000, .flicker_cpm = 39, .flicker_dvv_pct = 0.894,
                    .ps = 'P', .primary = 1, .secondary = 1, .start = "04/12/2026,12:00:00.000000"};
  write_ct("pst", &sp);
  struct result r;
  char p[512];
  snprintf(p, sizeof p, "%s/pst.cfg", dir);
  FILE *out = tmpfile();
  assert_non_null(out);
  assert_int_equal(ingest_analyze_file(p, 230, out, r.msg, sizeof r.msg), 0);
  rewind(out);
  char line[8192];
  unsigned nagg = 0;
  json_t *agg[2] = {NULL, NULL};
  while (fgets(line, sizeof line, out)) {
    json_t *o = json_loads(line, 0, NULL);
    assert_non_null(o);
    if (strcmp(json_string_value(json_object_get(o, "type")), "aggregate") == 0 && nagg < 2)
      agg[nagg++] = json_incref(o);
    json_decref(o);
  }
  fclose(out);
  unlink(p);
  snprintf(p, sizeof p, "%s/pst.dat", dir);
  unlink(p);
  assert_int_equal(nagg, 2);
  char *txt = json_dumps(agg[0], JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
  printf("complete: %s\n", txt);
  free(txt);
  assert_string_equal(json_string_value(json_object_get(agg[0], "start")), "2026-12-04T12:00:00.000Z");
  assert_true(json_is_false(json_object_get(agg[0], "partial")));
  assert_true(json_is_false(json_object_get(agg[0], "flagged")));
  json_t *pst = json_object_get(agg[0], "pst");
  assert_non_null(pst);
  for (const char *ph = "ABC"; *ph; ph++) {
    char k[2] = {*ph, 0};
    assert_true(fabs(num(pst, k) - 1.0) <= 0.05);
  }
  assert_true(num(agg[0], "u2_pct") < 0.05);
  assert_string_equal(json_string_value(json_object_get(agg[1], "start")), "2026-12-04T12:10:00.000Z");
  assert_true(json_is_true(json_object_get(agg[1], "partial")));
  assert_null(json_object_get(agg[1], "pst"));
  json_decref(agg[0]);
  json_decref(agg[1]);
}

static int setup(void **st)
{
  (void)st;
  const char *b = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/hems-analyze-XXXXXX", b && *b ? b : "/tmp");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
  (void)st;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
  const struct CMUnitTest t[] = { cmocka_unit_test(declared_from_cfg), cmocka_unit_test(declared_from_ratio),
                                  cmocka_unit_test(frequency_band),
                                  cmocka_unit_test(aggregate_and_rvc),
                                  cmocka_unit_test(aggregate_pst) };
  return cmocka_run_group_tests(t, setup, teardown);
}
