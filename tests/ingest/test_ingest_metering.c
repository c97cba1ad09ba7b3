/*
 * test_ingest_metering.c — per-window metrics against analytic answers (issue 4, "Must show"):
 * resistive, inductive PF 0.5, capacitive PF 0.8, a current with THD 30 % (including a 39th
 * harmonic so resampling must not attenuate high orders), light load (1 % and 5 % of rated
 * current), off-nominal frequency (49.5, 50.5, 59.5, 60.5 Hz) and DC offset.
 * Limits: P within IEC 62053-22 class 0.5S (±0.5 % at PF 1 from 0.05 In, ±1.0 % at 0.01 In,
 * ±0.6 % at PF 0.5 ind / 0.8 cap from 0.1 In), Vrms and Irms within 0.1 %, THD within 0.5
 * percentage points, frequency within 10 mHz. Signals carry 24-bit quantisation and noise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "siggen.h"

#define I_RATED 10.0
#define V_DECL 230.0

struct acc {
  unsigned nwin;
  double max_v_err, max_i_err, max_p_err, max_q_err, max_thd_err, max_f_err, max_pf_err;
  double exp_v, exp_i, exp_p, exp_q, exp_thd, exp_f, exp_pf;
  double first_i_rms, first_i_thd;
  double h39_ratio;
  unsigned ich, vch;
};

static double rel(double a, double b) { return b != 0 ? fabs(a - b) / fabs(b) : fabs(a); }

static void on_window(void *ctx, const struct ingest_window *w)
{
  struct acc *a = ctx;
  const struct ingest_channel_metrics *v = &w->ch[a->vch], *i = &w->ch[a->ich];
  a->nwin++;
  double e;
  if ((e = rel(v->rms, a->exp_v)) > a->max_v_err) a->max_v_err = e;
  if ((e = rel(i->rms, a->exp_i)) > a->max_i_err) a->max_i_err = e;
  if ((e = fabs(i->thd_pct - a->exp_thd)) > a->max_thd_err) a->max_thd_err = e;
  if ((e = fabs(w->freq_hz - a->exp_f)) > a->max_f_err) a->max_f_err = e;
  assert_int_equal(w->npow, 1);
  const struct ingest_power_metrics *p = &w->pow[0];
  if ((e = rel(p->p_w, a->exp_p)) > a->max_p_err) a->max_p_err = e;
  if ((e = fabs(p->q_var - a->exp_q) / (a->exp_v * a->exp_i)) > a->max_q_err) a->max_q_err = e;
  if ((e = fabs(p->pf - a->exp_pf)) > a->max_pf_err) a->max_pf_err = e;
  if (i->group_rms[1] > 0 && a->h39_ratio >= 0) a->h39_ratio = i->group_rms[39] / i->group_rms[1];
}

/* One V + one I channel. iparts: pairs (order, rms fraction of fundamental, phase shift). */
struct mcase {
  const char *name;
  double f, f_nominal;
  double i_rms1;         /* fundamental current rms */
  double phi_deg;        /* current lags voltage by phi (positive = inductive) */
  unsigned horder[4];
  double hfrac[4];
  double i_dc, v_dc;
  double p_limit;        /* class 0.5S limit, fraction */
};

static void run_case(const struct mcase *mc, struct acc *a)
{
  struct sg g;
  memset(&g, 0, sizeof g);
  g.fs = 8000.0;
  g.f = mc->f;
  g.nch = 2;
  g.rng = 12345;
  struct sg_chan *v = &g.ch[0], *i = &g.ch[1];
  v->order[0] = 1;
  v->amp_rms[0] = V_DECL;
  v->phase_rad[0] = 0.3;
  v->dc = mc->v_dc;
  v->scale = 500.0 / 8388608.0;
  v->noise_rms = 0.02;
  i->order[0] = 1;
  i->amp_rms[0] = mc->i_rms1;
  i->phase_rad[0] = 0.3 - mc->phi_deg * M_PI / 180.0;
  for (unsigned k = 0; k < 4; k++) {
    if (!mc->horder[k]) continue;
    i->order[k + 1] = mc->horder[k];
    i->amp_rms[k + 1] = mc->hfrac[k] * mc->i_rms1;
    i->phase_rad[k + 1] = 0.7 * k;
  }
  i->dc = mc->i_dc;
  i->scale = 100.0 / 8388608.0;
  i->noise_rms = 0.00005 * I_RATED;

  struct ingest_config cfg;
  ingest_config_defaults(&cfg);
  cfg.nominal_hz = mc->f_nominal;
  cfg.nch = 2;
  snprintf(cfg.ch[0].name, sizeof cfg.ch[0].name, "VA");
  snprintf(cfg.ch[0].phase, sizeof cfg.ch[0].phase, "A");
  cfg.ch[0].kind = INGEST_KIND_VOLTAGE;
  cfg.ch[0].scale = v->scale;
  cfg.ch[0].voltage_ch = -1;
  snprintf(cfg.ch[1].name, sizeof cfg.ch[1].name, "IA");
  snprintf(cfg.ch[1].phase, sizeof cfg.ch[1].phase, "A");
  cfg.ch[1].kind = INGEST_KIND_CURRENT;
  cfg.ch[1].scale = i->scale;
  cfg.ch[1].voltage_ch = -1;
  ingest_config_pair_by_phase(&cfg);
  assert_int_equal(cfg.ch[1].voltage_ch, 0);

  memset(a, 0, sizeof *a);
  a->vch = 0;
  a->ich = 1;
  a->exp_v = sg_rms(v);
  a->exp_i = sg_rms(i);
  a->exp_p = sg_power(v, i);
  a->exp_q = V_DECL * mc->i_rms1 * sin(mc->phi_deg * M_PI / 180.0);
  a->exp_thd = sg_thd_pct(i, 40);
  a->exp_f = mc->f;
  a->exp_pf = a->exp_p / (a->exp_v * a->exp_i);
  a->h39_ratio = 0;

  struct ingest_sink sink = {.ctx = a, .window = on_window};
  struct ingest_engine e;
  assert_int_equal(ingest_engine_init(&e, &cfg, &sink), 0);
  sg_run(&g, &e, 2.0);
  ingest_engine_finish(&e);
  ingest_engine_deinit(&e);

  print_message("%-22s windows %2u  V %.4f%%  I %.4f%%  P %.4f%% (limit %.1f%%)  Q %.4f%%S  "
                "THD %.3fpp  f %.2fmHz  PF %.5f\n",
                mc->name, a->nwin, a->max_v_err * 100, a->max_i_err * 100, a->max_p_err * 100,
                mc->p_limit * 100, a->max_q_err * 100, a->max_thd_err, a->max_f_err * 1000,
                a->max_pf_err);
  assert_true(a->nwin >= 8);
  assert_true(a->max_v_err <= 0.001);
  assert_true(a->max_i_err <= 0.001);
  assert_true(a->max_p_err <= mc->p_limit);
  assert_true(a->max_thd_err <= 0.5);
  assert_true(a->max_f_err <= 0.010);
  assert_true(a->max_q_err <= 0.006);
}

static void t_resistive(void **st)
{
  (void)st;
  struct acc a;
  struct mcase mc = {"resistive 50Hz", 50, 50, I_RATED, 0, {0}, {0}, 0, 0, 0.005};
  run_case(&mc, &a);
  assert_true(a.exp_pf > 0.999);
}

static void t_inductive_pf05(void **st)
{
  (void)st;
  struct acc a;
  struct mcase mc = {"inductive PF0.5", 50, 50, I_RATED, 60, {0}, {0}, 0, 0, 0.006};
  run_case(&mc, &a);
}

static void t_capacitive_pf08(void **st)
{
  (void)st;
  struct acc a;
  struct mcase mc = {"capacitive PF0.8", 60, 60, I_RATED, -36.8699, {0}, {0}, 0, 0, 0.006};
  run_case(&mc, &a);
}

static void t_thd30(void **st)
{
  (void)st;
  struct acc a;
  /* 0.24² + 0.15² + 0.09² + 0.05² = 0.0907 → THD 30.1 % */
  struct mcase mc = {"THD 30% current", 50, 50, I_RATED, 0, {3, 5, 7, 39},
                     {0.24, 0.15, 0.09, 0.05}, 0, 0, 0.005};
  run_case(&mc, &a);
  assert_true(fabs(a.exp_thd - 30.12) < 0.05);
  /* the 39th (1950 Hz) group keeps its magnitude: 5 % of the fundamental within 0.1 % */
  assert_true(fabs(a.h39_ratio - 0.05) < 0.05 * 0.001);
}

static void t_thd30_60hz_h50(void **st)
{
  (void)st;
  struct acc a;
  /* 50th of 60 Hz is 3 kHz, at 0.375·fs */
  struct mcase mc = {"THD 60Hz with 50th", 60, 60, I_RATED, 0, {3, 5, 11, 39},
                     {0.24, 0.15, 0.09, 0.05}, 0, 0, 0.005};
  run_case(&mc, &a);
}

static void t_light_1pct(void **st)
{
  (void)st;
  struct acc a;
  struct mcase mc = {"1% load", 50, 50, 0.01 * I_RATED, 0, {0}, {0}, 0, 0, 0.010};
  run_case(&mc, &a);
}

static void t_light_5pct(void **st)
{
  (void)st;
  struct acc a;
  struct mcase mc = {"5% load", 60, 60, 0.05 * I_RATED, 0, {0}, {0}, 0, 0, 0.005};
  run_case(&mc, &a);
}

static void t_light_pf05_2pct(void **st)
{
  (void)st;
  struct acc a;
  struct mcase mc = {"2% load PF0.5 ind", 50, 50, 0.02 * I_RATED, 60, {0}, {0}, 0, 0, 0.010};
  run_case(&mc, &a);
}

static void t_off_nominal(void **st)
{
  (void)st;
  struct acc a;
  struct mcase m1 = {"49.5 Hz", 49.5, 50, I_RATED, 30, {0}, {0}, 0, 0, 0.005};
  struct mcase m2 = {"50.5 Hz", 50.5, 50, I_RATED, 30, {0}, {0}, 0, 0, 0.005};
  struct mcase m3 = {"59.5 Hz", 59.5, 60, I_RATED, -30, {0}, {0}, 0, 0, 0.005};
  struct mcase m4 = {"60.5 Hz", 60.5, 60, I_RATED, -30, {3}, {0.2}, 0, 0, 0.005};
  run_case(&m1, &a);
  run_case(&m2, &a);
  run_case(&m3, &a);
  run_case(&m4, &a);
}

static void t_dc_offset(void **st)
{
  (void)st;
  struct acc a;
  /* DC on the current (CT/ADC offset) and on the voltage: P includes DC·DC, rms includes DC */
  struct mcase m1 = {"DC offset on I", 50, 50, I_RATED, 20, {0}, {0}, 0.5, 0, 0.005};
  struct mcase m2 = {"DC offset on V and I", 50, 50, I_RATED, 20, {0}, {0}, 0.5, 10.0, 0.005};
  run_case(&m1, &a);
  run_case(&m2, &a);
}

static void t_backwards_power(void **st)
{
  (void)st;
  struct acc a;
  /* power flowing backwards: PF negative, Q sign still tells lead/lag */
  struct mcase mc = {"export PF -0.9 ind", 50, 50, I_RATED, 180 - 25.84, {0}, {0}, 0, 0, 0.006};
  run_case(&mc, &a);
  assert_true(a.exp_pf < -0.89);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(t_resistive),      cmocka_unit_test(t_inductive_pf05),
    cmocka_unit_test(t_capacitive_pf08), cmocka_unit_test(t_thd30),
    cmocka_unit_test(t_thd30_60hz_h50), cmocka_unit_test(t_light_1pct),
    cmocka_unit_test(t_light_5pct),     cmocka_unit_test(t_light_pf05_2pct),
    cmocka_unit_test(t_off_nominal),    cmocka_unit_test(t_dc_offset),
    cmocka_unit_test(t_backwards_power),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
