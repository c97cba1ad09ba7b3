/*
 * test_ingest_energy.c — a simulated hour of one branch at 50 Hz whose load changes every
 * minute (import and export, PF 1 / 0.5 ind / 0.8 cap, 5 % … 100 % of rated current), through
 * the engine and the 1 s record aggregator.
 * Shows: (1) every basic window's energy matches the analytic ∫v·i dt over that window within
 * class 0.5S; (2) the hour's import and export match the analytic totals within 0.5 %;
 * (3) exactness: the running totals equal the sum of the records' µWh exactly, and
 * total·3 600 000 + remainder equals the sum of the window energies in nJ exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "siggen.h"

#define F 50.0
#define W (2.0 * M_PI * F)
#define V_RMS 230.0

struct level { double i_rms, phi; };
static const struct level levels[] = {
  {10.0, 0.0}, {5.0, M_PI / 3}, {-3.0, 0.0}, {0.5, 0.0}, {8.0, -0.6435}, {-10.0, 0.3},
  {1.0, M_PI / 3}, {2.5, -0.6435},
};
#define NLEV (sizeof levels / sizeof levels[0])

static const struct level *level_at(double t)
{
  long m = (long)floor(t / 60.0);
  if (m < 0) m = 0;
  return &levels[(size_t)m % NLEV];
}

/* ∫ v·i dt over [t0, t1) within one level segment */
static double seg_energy(const struct level *l, double t0, double t1)
{
  double vi = V_RMS * fabs(l->i_rms), s = l->i_rms < 0 ? -1.0 : 1.0;
  return s * vi * (cos(l->phi) * (t1 - t0) - (sin(2 * W * t1 - l->phi) - sin(2 * W * t0 - l->phi)) / (2 * W));
}
static double analytic_energy(double ta, double tb)
{
  double e = 0.0, t = ta;
  while (t < tb) {
    double next = (floor(t / 60.0) + 1.0) * 60.0;
    if (next > tb) next = tb;
    e += seg_energy(level_at(t), t, next);
    t = next;
  }
  return e;
}

static double env_i(const void *ctx, unsigned ch, double t)
{
  (void)ctx; (void)ch; (void)t;
  return 1.0;
}

struct st {
  struct ingest_config *cfg;
  struct ingest_aggregator agg;
  unsigned nwin, nrec;
  double max_win_err;
  double ana_imp_j, ana_exp_j;
  int64_t sum_nj_imp, sum_nj_exp;
  int64_t rec_imp_uwh, rec_exp_uwh;
};

static void on_window(void *ctx, const struct ingest_window *w)
{
  struct st *s = ctx;
  s->nwin++;
  double ta = w->start_sample / 8000.0, tb = ta + w->duration_s;
  double ana = analytic_energy(ta, tb);
  double got = w->pow[0].p_w * w->duration_s;
  double err = fabs(got - ana) / fabs(ana);
  if (err > s->max_win_err) s->max_win_err = err;
  if (ana > 0) s->ana_imp_j += ana; else s->ana_exp_j -= ana;
  int64_t nj = ingest_energy_nj(w->pow[0].p_w, w->duration_s);
  if (nj > 0) s->sum_nj_imp += nj; else s->sum_nj_exp -= nj;
  struct ingest_rec_window rec;
  if (ingest_aggregator_add(&s->agg, s->cfg, w, &rec) == 1) {
    s->nrec++;
    assert_int_equal(rec.npow, 1);
    assert_int_equal(rec.pow[0].branch, 7);
    assert_string_equal(rec.pow[0].phase, "A");
    assert_int_equal(rec.ch[1].branch, 7);
    assert_true(rec.pow[0].pf_mpct > -100001 && rec.pow[0].pf_mpct < 100001);
    s->rec_imp_uwh += rec.pow[0].import_uwh;
    s->rec_exp_uwh += rec.pow[0].export_uwh;
  }
}

/* current = level·√2·sin(ωt − φ): realised through a custom generator loop */
static void t_hour(void **state)
{
  (void)state;
  struct ingest_config cfg;
  ingest_config_defaults(&cfg);
  cfg.nominal_hz = F;
  cfg.nch = 2;
  cfg.capture_post_ms = 0;
  const double vs = 500.0 / 8388608.0, is = 100.0 / 8388608.0;
  cfg.ch[0] = (struct ingest_channel_cfg){.name = "V", .phase = "A", .kind = INGEST_KIND_VOLTAGE,
                                          .scale = vs, .voltage_ch = -1};
  cfg.ch[1] = (struct ingest_channel_cfg){.name = "I", .phase = "A", .kind = INGEST_KIND_CURRENT,
                                          .scale = is, .voltage_ch = 0, .branch = 7};
  (void)env_i;
  struct st s;
  memset(&s, 0, sizeof s);
  s.cfg = &cfg;
  assert_int_equal(ingest_aggregator_init(&s.agg, 1000), 0);
  struct ingest_sink sink = {.ctx = &s, .window = on_window};
  struct ingest_engine e;
  assert_int_equal(ingest_engine_init(&e, &cfg, &sink), 0);
  const size_t chunk = 8000;
  int32_t *buf = malloc(sizeof(int32_t) * 2 * chunk);
  uint32_t rng = 7;
  for (uint64_t n0 = 0; n0 < 3600ull * 8000; n0 += chunk) {
    for (size_t f = 0; f < chunk; f++) {
      double t = (double)(n0 + f) / 8000.0;
      const struct level *l = level_at(t);
      rng = rng * 1664525u + 1013904223u;
      double noise = ((double)(rng >> 8) / 16777216.0 - 0.5) * 0.002;
      double v = V_RMS * M_SQRT2 * sin(W * t);
      double i = l->i_rms * M_SQRT2 * sin(W * t - l->phi) + noise;
      buf[2 * f] = (int32_t)lrint(v / vs);
      buf[2 * f + 1] = (int32_t)lrint(i / is);
    }
    ingest_engine_push(&e, buf, chunk);
  }
  free(buf);
  ingest_engine_finish(&e);
  struct ingest_rec_window rec;
  if (ingest_aggregator_flush(&s.agg, &rec) == 1) {
    s.rec_imp_uwh += rec.pow[0].import_uwh;
    s.rec_exp_uwh += rec.pow[0].export_uwh;
    s.nrec++;
  }
  ingest_engine_deinit(&e);

  const struct ingest_energy *en = &s.agg.energy[0];
  double imp_j = (double)en->import_uwh * 3.6e-3 + en->import_rem_nj * 1e-9;
  double exp_j = (double)en->export_uwh * 3.6e-3 + en->export_rem_nj * 1e-9;
  print_message("windows %u records %u  max window energy error %.4f%%\n", s.nwin, s.nrec,
                s.max_win_err * 100);
  print_message("import %.3f Wh (analytic %.3f, %.4f%%)  export %.3f Wh (analytic %.3f, %.4f%%)\n",
                imp_j / 3600, s.ana_imp_j / 3600, (imp_j - s.ana_imp_j) / s.ana_imp_j * 100,
                exp_j / 3600, s.ana_exp_j / 3600, (exp_j - s.ana_exp_j) / s.ana_exp_j * 100);
  assert_true(s.nwin > 17900);
  assert_true(s.nrec >= 3590 && s.nrec <= 3601);
  /* exact sums */
  assert_true(s.rec_imp_uwh == en->import_uwh);
  assert_true(s.rec_exp_uwh == en->export_uwh);
  assert_true(en->import_uwh * INGEST_NJ_PER_UWH + en->import_rem_nj == s.sum_nj_imp);
  assert_true(en->export_uwh * INGEST_NJ_PER_UWH + en->export_rem_nj == s.sum_nj_exp);
  assert_true(en->import_rem_nj >= 0 && en->import_rem_nj < INGEST_NJ_PER_UWH);
  /* class 0.5S: worst window (5 % In at PF 0.5 → ±1.0 %), totals ±0.5 % */
  assert_true(s.max_win_err <= 0.010);
  assert_true(fabs(imp_j - s.ana_imp_j) / s.ana_imp_j <= 0.005);
  assert_true(fabs(exp_j - s.ana_exp_j) / s.ana_exp_j <= 0.005);
}

static void t_energy_carry(void **state)
{
  (void)state;
  /* 1 W for 1 ms = 1 mJ per window; 1 µWh = 3.6 mJ: 36 windows make exactly 10 µWh */
  struct ingest_energy en;
  ingest_energy_init(&en);
  int64_t tot = 0;
  for (int k = 0; k < 36; k++) {
    int64_t di, de;
    ingest_energy_add(&en, ingest_energy_nj(1.0, 0.001), &di, &de);
    tot += di;
    assert_int_equal(de, 0);
  }
  assert_int_equal(tot, 10);
  assert_int_equal(en.import_uwh, 10);
  assert_int_equal(en.import_rem_nj, 0);
  int64_t di, de;
  ingest_energy_add(&en, -7200001, &di, &de);
  assert_int_equal(de, 2);
  assert_int_equal(en.export_rem_nj, 1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(t_energy_carry),
    cmocka_unit_test(t_hour),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
