/*
 * test_ingest_classa.c — the IEC 61000-4-30 Class A additions through the engine, on analytic
 * three-phase signals (siggen.h):
 *  - unbalance: balanced → 0; one phase lost → u2 = u0 = 50 % exactly (symmetrical components
 *    by hand); magnitude and angle unbalance against the standard's line-to-line formula
 *    u2 = √((1 − √(3 − 6β)) / (1 + √(3 − 6β))), β = ΣU_ll⁴ / (ΣU_ll²)², within the Class A
 *    ±0.15 % (absolute); phases built from known symmetrical components (U1, U2, U0 of set
 *    magnitude and angle) at 59.7 Hz on a 60 Hz system, 8 kSPS, with 5th and 7th harmonics and
 *    noise: u2, u0 per 12-cycle window, per 180-cycle block and per 10-minute interval;
 *  - rapid voltage change at the threshold's boundary (5.5 % is one RVC with ΔUss and ΔUmax
 *    of the step; 4.5 % is none), a dip is never an RVC, no RVC before a steady second; an
 *    overshoot gives ΔUmax of the overshoot and ΔUss of the step, a 6 % step down (above the
 *    dip threshold) is an RVC, the threshold and hysteresis are the configured ones;
 *  - aggregation: clock-aligned 10-minute intervals (partial at the start and end of a run,
 *    complete with Pst when the run covers one), 150-cycle blocks of 15 windows restarted at
 *    the tick, flagging (a dip marks its interval, which is still delivered), harmonic and
 *    interharmonic groups and subgroups (IEC 61000-4-7) of a known spectrum; two hours of a
 *    flicker test point: twelve 10-minute Pst of 1.00 ± 5 %, the 2-hour Plt from them, the
 *    flag of one 10-minute interval carried into its 2-hour interval;
 *  - frequency deviation events outside nominal ± 1 %, none inside.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>
#include <math.h>

#include "siggen.h"

#define MIN_NS 60000000000LL
#define T1200 1764849600000000000LL /* 2025-12-04T12:00:00Z, a 10-minute (and 2-hour) tick */

struct got {
  unsigned nwin, nev, next, nagg10, nc150, nc150_partial, nc150_bad;
  double c150_u2_min, c150_u2_max, c150_u0_min, c150_u0_max;
  struct ingest_pq_event ev[16], ext[16];
  struct ingest_pq_aggregate agg10[16], agg2h[4];
  unsigned nagg2h;
  double u2_min, u2_max, u0_min, u0_max;
};

static void on_window(void *ctx, const struct ingest_window *w)
{
  struct got *g = ctx;
  if (g->nwin++ < 5 || !w->has_unbalance) return; /* skip the start-up windows */
  if (w->u2_pct < g->u2_min) g->u2_min = w->u2_pct;
  if (w->u2_pct > g->u2_max) g->u2_max = w->u2_pct;
  if (w->u0_pct < g->u0_min) g->u0_min = w->u0_pct;
  if (w->u0_pct > g->u0_max) g->u0_max = w->u0_pct;
}
static void on_event(void *ctx, const struct ingest_pq_event *e)
{
  struct got *g = ctx;
  if (g->nev < 16) g->ev[g->nev] = *e;
  g->nev++;
}
static void on_ext(void *ctx, const struct ingest_pq_event *e)
{
  struct got *g = ctx;
  if (g->next < 16) g->ext[g->next] = *e;
  g->next++;
}
static void on_agg(void *ctx, const struct ingest_pq_aggregate *a)
{
  struct got *g = ctx;
  if (a->kind == INGEST_AGG_10MIN && g->nagg10 < 16) g->agg10[g->nagg10++] = *a;
  if (a->kind == INGEST_AGG_2H && g->nagg2h < 4) g->agg2h[g->nagg2h++] = *a;
  if (a->kind == INGEST_AGG_CYC150) {
    g->nc150++;
    if (a->partial) g->nc150_partial++;
    else if (a->nwin != 15) g->nc150_bad++;
    if (a->has_unbalance) {
      g->c150_u2_min = fmin(g->c150_u2_min, a->u2_pct);
      g->c150_u2_max = fmax(g->c150_u2_max, a->u2_pct);
      g->c150_u0_min = fmin(g->c150_u0_min, a->u0_pct);
      g->c150_u0_max = fmax(g->c150_u0_max, a->u0_pct);
    }
  }
}

/* three voltage channels, 230 V, fs 4 kSPS unless changed; mags in V, angles in degrees */
static void setup(struct sg *s, struct ingest_config *cfg, double f, const double mag[3],
                  const double ang_deg[3])
{
  memset(s, 0, sizeof *s);
  s->fs = 4000;
  s->f = f;
  s->nch = 3;
  s->rng = 7;
  ingest_config_defaults(cfg);
  cfg->sample_rate_hz = s->fs;
  cfg->nominal_hz = 50;
  cfg->nch = 3;
  cfg->capture_post_ms = 0;
  cfg->t0_ns = T1200;
  for (unsigned c = 0; c < 3; c++) {
    s->ch[c].order[0] = 1;
    s->ch[c].amp_rms[0] = mag[c];
    s->ch[c].phase_rad[0] = ang_deg[c] * M_PI / 180.0;
    s->ch[c].scale = 1e-4;
    snprintf(cfg->ch[c].name, sizeof cfg->ch[c].name, "V%c", 'A' + c);
    snprintf(cfg->ch[c].phase, sizeof cfg->ch[c].phase, "%c", 'A' + c);
    cfg->ch[c].kind = INGEST_KIND_VOLTAGE;
    cfg->ch[c].scale = 1e-4;
    cfg->ch[c].voltage_ch = -1;
  }
}

static void run(struct sg *s, const struct ingest_config *cfg, double seconds, struct got *g)
{
  memset(g, 0, sizeof *g);
  g->u2_min = g->u0_min = INFINITY;
  g->u2_max = g->u0_max = -INFINITY;
  g->c150_u2_min = g->c150_u0_min = INFINITY;
  g->c150_u2_max = g->c150_u0_max = -INFINITY;
  struct ingest_sink sink = {.ctx = g, .window = on_window, .pq_event = on_event};
  struct ingest_sink_class_a sa = {.pq_event_ext = on_ext, .aggregate = on_agg};
  struct ingest_engine e;
  assert_int_equal(ingest_engine_init(&e, cfg, &sink), 0);
  ingest_engine_set_class_a(&e, &sa);
  sg_run(s, &e, seconds);
  ingest_engine_finish(&e);
  ingest_engine_deinit(&e);
}

/* the standard's line-to-line formula, from phasors (magnitude, degrees) */
static double u2_beta(const double m[3], const double a[3])
{
  double re[3], im[3], ll[3];
  for (int k = 0; k < 3; k++) { re[k] = m[k] * cos(a[k] * M_PI / 180); im[k] = m[k] * sin(a[k] * M_PI / 180); }
  for (int k = 0; k < 3; k++) ll[k] = hypot(re[k] - re[(k + 1) % 3], im[k] - im[(k + 1) % 3]);
  double s2 = 0, s4 = 0;
  for (int k = 0; k < 3; k++) { s2 += ll[k] * ll[k]; s4 += pow(ll[k], 4); }
  double beta = s4 / (s2 * s2), r = sqrt(3 - 6 * beta);
  return 100 * sqrt((1 - r) / (1 + r));
}

static void unbalance_cases(void **st)
{
  (void)st;
  struct sg s;
  struct ingest_config cfg;
  struct got g;
  /* balanced */
  const double m0[3] = {230, 230, 230}, a0[3] = {0, -120, 120};
  setup(&s, &cfg, 50, m0, a0);
  run(&s, &cfg, 3, &g);
  assert_true(g.u2_max < 0.01 && g.u0_max < 0.01);
  /* phase C lost: U1 = (1 + 1 + 0)/3, U2 = (1 + a)/3, U0 = (1 + a²)/3 → |U2|/|U1| = |U0|/|U1| = ½ */
  const double m1[3] = {230, 230, 0};
  setup(&s, &cfg, 50, m1, a0);
  run(&s, &cfg, 3, &g);
  printf("phase lost: u2 %.4f..%.4f %% u0 %.4f..%.4f %%\n", g.u2_min, g.u2_max, g.u0_min, g.u0_max);
  assert_true(fabs(g.u2_min - 50) < 0.15 && fabs(g.u2_max - 50) < 0.15);
  assert_true(fabs(g.u0_min - 50) < 0.15 && fabs(g.u0_max - 50) < 0.15);
  /* magnitude and angle unbalance: u2 against the line-to-line formula (no u0 in it); u0
   * from the phasor sum computed here */
  const double cases[3][6] = {{230, 230, 207, 0, -120, 120}, {230, 230, 230, 0, -125, 115},
                              {220, 235, 240, 0, -118, 124}};
  for (int k = 0; k < 3; k++) {
    const double *m = cases[k], *a = cases[k] + 3;
    setup(&s, &cfg, 50, m, a);
    run(&s, &cfg, 3, &g);
    double want = u2_beta(m, a);
    double sr = 0, si = 0, pr = 0, pi = 0; /* U0 and U1 by hand */
    for (int p = 0; p < 3; p++) {
      sr += m[p] * cos(a[p] * M_PI / 180);
      si += m[p] * sin(a[p] * M_PI / 180);
      pr += m[p] * cos((a[p] + 120.0 * p) * M_PI / 180);
      pi += m[p] * sin((a[p] + 120.0 * p) * M_PI / 180);
    }
    double want0 = 100 * hypot(sr, si) / hypot(pr, pi);
    printf("case %d: u2 %.4f (formula %.4f) u0 %.4f (by hand %.4f)\n", k, g.u2_max, want, g.u0_max, want0);
    assert_true(fabs(g.u2_min - want) < 0.15 && fabs(g.u2_max - want) < 0.15);
    assert_true(fabs(g.u0_min - want0) < 0.15 && fabs(g.u0_max - want0) < 0.15);
  }
}

/* phases from known symmetrical components: Ua = U1 + U2 + U0, Ub = a²U1 + aU2 + U0,
 * Uc = aU1 + a²U2 + U0 (a = e^{j120°}, positive sequence A → B → C) */
static void unbalance_sequences(void **st)
{
  (void)st;
  static const double seq[][4] = { /* u2 %, angle of U2°, u0 %, angle of U0° */
    {0.5, 30, 0.0, 0}, {2.0, 30, 1.0, -50}, {5.0, -100, 3.0, 170}};
  for (size_t k = 0; k < sizeof seq / sizeof seq[0]; k++) {
    const double U1 = 230, d2 = seq[k][0] / 100 * U1, d0 = seq[k][2] / 100 * U1;
    const double th2 = seq[k][1] * M_PI / 180, th0 = seq[k][3] * M_PI / 180;
    double mag[3], ang[3];
    for (int p = 0; p < 3; p++) {
      /* angles of a^p applied to U1 (−120°·p) and to U2 (+120°·p) */
      double r = U1 * cos(-2 * M_PI / 3 * p) + d2 * cos(th2 + 2 * M_PI / 3 * p) + d0 * cos(th0);
      double i = U1 * sin(-2 * M_PI / 3 * p) + d2 * sin(th2 + 2 * M_PI / 3 * p) + d0 * sin(th0);
      mag[p] = hypot(r, i);
      ang[p] = atan2(i, r) * 180 / M_PI;
    }
    struct sg s;
    struct ingest_config cfg;
    struct got g;
    setup(&s, &cfg, 59.7, mag, ang);
    s.fs = 8000;
    cfg.sample_rate_hz = 8000;
    cfg.nominal_hz = 60;
    for (int c = 0; c < 3; c++) { /* 5th (negative sequence) 3 %, 7th (positive) 2 %, noise */
      s.ch[c].order[1] = 5; s.ch[c].amp_rms[1] = 6.9; s.ch[c].phase_rad[1] = 5 * s.ch[c].phase_rad[0];
      s.ch[c].order[2] = 7; s.ch[c].amp_rms[2] = 4.6; s.ch[c].phase_rad[2] = 7 * s.ch[c].phase_rad[0];
      s.ch[c].noise_rms = 0.2;
    }
    cfg.t0_ns = T1200 + 9 * MIN_NS;
    run(&s, &cfg, 20, &g);
    assert_int_equal(g.nev + g.next, 0);
    assert_int_equal(g.nagg10, 1);
    const struct ingest_pq_aggregate *x = &g.agg10[0];
    printf("sequences u2 %.1f %% u0 %.1f %%: window u2 %.4f..%.4f u0 %.4f..%.4f; 180-cycle u2 "
           "%.4f..%.4f u0 %.4f..%.4f; 10 min u2 %.4f u0 %.4f\n", seq[k][0], seq[k][2], g.u2_min,
           g.u2_max, g.u0_min, g.u0_max, g.c150_u2_min, g.c150_u2_max, g.c150_u0_min,
           g.c150_u0_max, x->u2_pct, x->u0_pct);
    assert_true(g.nwin > 90);
    assert_true(fabs(g.u2_min - seq[k][0]) <= 0.15 && fabs(g.u2_max - seq[k][0]) <= 0.15);
    assert_true(fabs(g.u0_min - seq[k][2]) <= 0.15 && fabs(g.u0_max - seq[k][2]) <= 0.15);
    assert_true(fabs(g.c150_u2_min - seq[k][0]) <= 0.15 && fabs(g.c150_u2_max - seq[k][0]) <= 0.15);
    assert_true(fabs(g.c150_u0_min - seq[k][2]) <= 0.15 && fabs(g.c150_u0_max - seq[k][2]) <= 0.15);
    assert_true(x->has_unbalance);
    assert_true(fabs(x->u2_pct - seq[k][0]) <= 0.15 && fabs(x->u0_pct - seq[k][2]) <= 0.15);
  }
}

struct step_env { double t, level; };
static double step_fn(const void *ctx, unsigned ch, double t)
{
  const struct step_env *e = ctx;
  (void)ch;
  return t >= e->t ? e->level : 1.0;
}

/* balanced 230 V with every phase stepped to env->level at env->t */
static void run_step(struct step_env *env, double seconds, struct got *g)
{
  struct sg s;
  struct ingest_config cfg;
  const double m[3] = {230, 230, 230}, a[3] = {0, -120, 120};
  setup(&s, &cfg, 50, m, a);
  for (int c = 0; c < 3; c++) { s.ch[c].env = step_fn; s.ch[c].env_ctx = env; }
  run(&s, &cfg, seconds, g);
}

static void rvc_boundaries(void **st)
{
  (void)st;
  struct got g;
  struct step_env env = {3.0, 1.055};
  run_step(&env, 6, &g);
  assert_int_equal(g.nev, 0);
  assert_int_equal(g.next, 1);
  const struct ingest_pq_event *e = &g.ext[0];
  printf("rvc +5.5 %%: start %.4f s, duration %.4f s, dUmax %.3f %%, dUss %.3f %%, phases %s\n",
         (double)(e->start_ns - T1200) / 1e9, e->duration_s, e->delta_umax_pct, e->delta_uss_pct, e->phases);
  assert_int_equal(e->kind, INGEST_PQ_RVC);
  double t0 = (double)(e->start_ns - T1200) / 1e9;
  assert_true(t0 >= 3.0 - 0.021 && t0 <= 3.0);          /* the cycle holding the step */
  assert_true(fabs(e->delta_uss_pct - 5.5) < 0.05);
  assert_true(e->delta_umax_pct >= e->delta_uss_pct - 1e-9 && e->delta_umax_pct < 5.6);
  assert_true(e->duration_s >= 0 && e->duration_s < 0.05);
  assert_string_equal(e->phases, "ABC");
  /* below the threshold: nothing */
  env.level = 1.045;
  run_step(&env, 6, &g);
  assert_int_equal(g.nev + g.next, 0);
  /* a step into a dip (85 %) is a dip, not an RVC */
  env.level = 0.85;
  run_step(&env, 6, &g);
  assert_int_equal(g.next, 0);
  assert_int_equal(g.nev, 1);
  assert_int_equal(g.ev[0].kind, INGEST_PQ_DIP);
  /* no steady second yet: a step at 0.5 s is not an RVC */
  env.t = 0.5;
  env.level = 1.06;
  run_step(&env, 4, &g);
  assert_int_equal(g.next, 0);
}

/* piecewise level of all phases: 1 before t0, `over` from t0 to t0 + over_s, then `level` */
struct prof_env { double t0, over, over_s, level; };
static double prof_fn(const void *ctx, unsigned ch, double t)
{
  const struct prof_env *e = ctx;
  (void)ch;
  return t < e->t0 ? 1.0 : t < e->t0 + e->over_s ? e->over : e->level;
}

static void run_prof(struct prof_env *env, double rvc_pct, double hyst_pct, struct got *g)
{
  struct sg s;
  struct ingest_config cfg;
  const double m[3] = {230, 230, 230}, a[3] = {0, -120, 120};
  setup(&s, &cfg, 50, m, a);
  cfg.rvc_pct = rvc_pct;
  cfg.rvc_hysteresis_pct = hyst_pct;
  for (int c = 0; c < 3; c++) { s.ch[c].env = prof_fn; s.ch[c].env_ctx = env; }
  run(&s, &cfg, 6, g);
}

static void rvc_magnitudes(void **st)
{
  (void)st;
  struct got g;
  /* overshoot: 100 ms at +9 %, then steady at +5.5 %: ΔUmax is the overshoot (whole Urms(1/2)
   * cycles inside it read exactly 1.09 × 230 V), ΔUss the step; the overshoot lies 3.5 % above
   * the new level, outside the 2.5 % end band, so the steady second starts after it and the
   * RVC lasts the 100 ms give or take a cycle (start: the cycle holding the step; end: the
   * first cycle within the band, which may still hold the overshoot's last part) */
  struct prof_env over = {3.0, 1.09, 0.1, 1.055};
  run_prof(&over, 5, 2.5, &g);
  assert_int_equal(g.nev, 0);
  assert_int_equal(g.next, 1);
  printf("rvc overshoot: dUmax %.3f %% dUss %.3f %% duration %.3f s\n", g.ext[0].delta_umax_pct,
         g.ext[0].delta_uss_pct, g.ext[0].duration_s);
  assert_true(fabs(g.ext[0].delta_umax_pct - 9.0) < 0.05);
  assert_true(fabs(g.ext[0].delta_uss_pct - 5.5) < 0.05);
  assert_true(g.ext[0].duration_s >= 0.08 && g.ext[0].duration_s <= 0.12);
  /* an overshoot within the end band of the new level (+7 % over +5.5 %) belongs to the steady
   * second: the RVC ends with the step (the standard's steady-state rule), ΔUmax still 7 % */
  struct prof_env small = {3.0, 1.07, 0.1, 1.055};
  run_prof(&small, 5, 2.5, &g);
  assert_int_equal(g.next, 1);
  assert_true(fabs(g.ext[0].delta_umax_pct - 7.0) < 0.05 && g.ext[0].duration_s < 0.05);
  /* a step down of 6 % (to 94 %, above the 90 % dip threshold) is an RVC, magnitudes positive */
  struct prof_env down = {3.0, 0.94, 0, 0.94};
  run_prof(&down, 5, 2.5, &g);
  assert_int_equal(g.nev, 0);
  assert_int_equal(g.next, 1);
  assert_true(fabs(g.ext[0].delta_uss_pct - 6.0) < 0.05 && fabs(g.ext[0].delta_umax_pct - 6.0) < 0.05);
  /* configurable threshold: +4 % is none at 5 %, one RVC at 3 % (hysteresis 1.5 %) */
  struct prof_env four = {3.0, 1.04, 0, 1.04};
  run_prof(&four, 5, 2.5, &g);
  assert_int_equal(g.next, 0);
  run_prof(&four, 3, 1.5, &g);
  assert_int_equal(g.next, 1);
  assert_true(fabs(g.ext[0].delta_uss_pct - 4.0) < 0.05);
  /* RVC off (threshold 0): nothing */
  run_prof(&four, 0, 0, &g);
  assert_int_equal(g.next, 0);
}

struct dip_env { double t0, t1; };
static double dip_fn(const void *ctx, unsigned ch, double t)
{
  const struct dip_env *e = ctx;
  return ch == 0 && t >= e->t0 && t < e->t1 ? 0.5 : 1.0;
}

static void aggregation_intervals(void **st)
{
  (void)st;
  struct sg s;
  struct ingest_config cfg;
  struct got g;
  const double m[3] = {230, 230, 230}, a[3] = {0, -120, 120};
  /* a run from 12:03 to 12:12: two clock-aligned intervals, both partial, no Pst */
  setup(&s, &cfg, 50, m, a);
  cfg.t0_ns = T1200 + 3 * MIN_NS;
  run(&s, &cfg, 9 * 60, &g);
  assert_int_equal(g.nagg10, 2);
  assert_true(g.agg10[0].start_ns == T1200 && g.agg10[0].partial && !g.agg10[0].has_pst);
  assert_true(g.agg10[1].start_ns == T1200 + 10 * MIN_NS && g.agg10[1].partial && !g.agg10[1].has_pst);
  assert_true(g.agg10[0].nwin > 2090 && g.agg10[0].nwin <= 2100);  /* 7 min of 200 ms */
  /* 12:00:00 to 12:10:05 with a 100 ms dip at 12:04: the first interval complete, flagged,
   * delivered, with Pst; the second partial and not flagged */
  struct dip_env de = {240.0, 240.1};
  setup(&s, &cfg, 50, m, a);
  s.ch[0].env = dip_fn;
  s.ch[0].env_ctx = &de;
  run(&s, &cfg, 605, &g);
  assert_int_equal(g.nev, 1);
  assert_int_equal(g.nagg10, 2);
  const struct ingest_pq_aggregate *x = &g.agg10[0];
  printf("10 min: nwin %u freq %.5f urms %.4f partial %d flagged %d pst %.4f %.4f %.4f; c150 %u (%u partial)\n",
         x->nwin, x->freq_hz, x->rms[1], x->partial, x->flagged, x->pst[0], x->pst[1], x->pst[2], g.nc150, g.nc150_partial);
  assert_true(!x->partial && x->flagged && x->has_pst);
  assert_true(x->nwin >= 2999 && x->nwin <= 3000);
  assert_true(fabs(x->freq_hz - 50) < 1e-4);
  assert_true(fabs(x->rms[1] - 230) < 0.05 && fabs(x->thd_pct[1]) < 0.01);
  assert_true(x->pst[1] < 0.05 && x->pst[2] < 0.05); /* steady phases */
  assert_true(g.agg10[1].partial && !g.agg10[1].flagged && !g.agg10[1].has_pst);
  /* 150-cycle blocks: 15 windows each, the one the tick cuts is partial */
  assert_int_equal(g.nc150_bad, 0);
  assert_true(g.nc150 >= 200 && g.nc150_partial >= 1 && g.nc150_partial <= 3);
}

/* Table 5 point 39 changes/min, ΔV/V 0.894 % (IEC 61000-4-15 Ed. 2, 230 V lamp, 50 Hz; source
 * in flicker_tables.h) on every phase, and a 100 ms dip to 50 % on phase A at t_dip */
struct flk_env { double t_dip; };
static double flk_fn(const void *ctx, unsigned ch, double t)
{
  const struct flk_env *e = ctx;
  double m = fmod(t * 39.0 / 120.0, 1.0) < 0.5 ? 1 + 0.00447 : 1 - 0.00447;
  return ch == 0 && t >= e->t_dip && t < e->t_dip + 0.1 ? 0.5 * m : m;
}

/* 2 h 5 s from the 12:00 tick at 1 kSPS: twelve complete 10-minute intervals with Pst 1.00 ±
 * 5 % (but phase A of the one holding the dip: flagged, its Pst kept), then a partial one; the
 * 2-hour interval complete, with Plt = ∛(mean Pst³) — 1.00 ± 5 % on B and C — flagged because
 * one of its 10-minute intervals is; then a partial 2-hour interval without Plt */
static void aggregation_two_hours(void **st)
{
  (void)st;
  struct sg s;
  struct ingest_config cfg;
  struct got g;
  const double m[3] = {230, 230, 230}, a[3] = {0, -120, 120};
  struct flk_env fe = {34 * 60.0};
  setup(&s, &cfg, 50, m, a);
  s.fs = 1000;
  cfg.sample_rate_hz = 1000;
  for (int c = 0; c < 3; c++) { s.ch[c].env = flk_fn; s.ch[c].env_ctx = &fe; }
  run(&s, &cfg, 7205, &g);
  assert_int_equal(g.nev, 1);
  assert_int_equal(g.nagg10, 13);
  for (unsigned k = 0; k < 12; k++) {
    const struct ingest_pq_aggregate *x = &g.agg10[k];
    assert_true(x->start_ns == T1200 + (int64_t)k * 10 * MIN_NS);
    assert_true(!x->partial && x->has_pst);
    assert_true(x->flagged == (k == 3));
    if (k != 3) /* the dip reads as strong flicker on A: why the interval is flagged */
      for (unsigned i = 0; i < 3; i++) assert_true(fabs(x->pst[i] - 1.0) <= 0.05);
  }
  assert_true(g.agg10[12].partial && !g.agg10[12].has_pst);
  assert_int_equal(g.nagg2h, 2);
  const struct ingest_pq_aggregate *h = &g.agg2h[0];
  printf("2 h: start +%lld s partial %d flagged %d n %u plt %.4f %.4f %.4f urms %.4f; Pst[0] %.4f %.4f %.4f\n",
         (long long)((h->start_ns - T1200) / 1000000000LL), h->partial, h->flagged, h->nwin,
         h->plt[0], h->plt[1], h->plt[2], h->rms[1], g.agg10[0].pst[0], g.agg10[0].pst[1], g.agg10[0].pst[2]);
  assert_true(h->start_ns == T1200 && !h->partial && h->flagged && h->nwin == 12);
  assert_true(h->has_plt);
  for (unsigned i = 0; i < 3; i++) {
    double want = 0;
    for (unsigned k = 0; k < 12; k++) want += pow(g.agg10[k].pst[i], 3);
    assert_true(fabs(h->plt[i] - cbrt(want / 12)) < 1e-9);
    if (i > 0) assert_true(fabs(h->plt[i] - 1.0) <= 0.05);
  }
  assert_true(g.agg10[3].pst[0] > 2 && h->plt[0] > 2); /* kept and flagged, not dropped */
  assert_true(fabs(h->rms[1] - 230) < 0.05);
  assert_true(g.agg2h[1].start_ns == T1200 + 120 * MIN_NS && g.agg2h[1].partial && !g.agg2h[1].has_plt);
}

static void harmonic_groups(void **st)
{
  (void)st;
  struct sg s;
  struct ingest_config cfg;
  struct got g;
  const double m[3] = {230, 230, 230}, a[3] = {0, -120, 120};
  setup(&s, &cfg, 50, m, a);
  /* base 5 Hz so that orders reach any 5 Hz bin: 50 Hz (order 10), 5th harmonic 250 Hz
   * (order 50, 2 %), an interharmonic at 285 Hz (order 57, 1 %: bin 7 after the 5th) */
  s.f = 5;
  for (int c = 0; c < 3; c++) {
    s.ch[c].order[0] = 10;
    s.ch[c].order[1] = 50; s.ch[c].amp_rms[1] = 4.6; s.ch[c].phase_rad[1] = 5 * s.ch[c].phase_rad[0];
    s.ch[c].order[2] = 57; s.ch[c].amp_rms[2] = 2.3;
  }
  cfg.t0_ns = T1200 + 9 * MIN_NS;
  run(&s, &cfg, 30, &g);
  assert_int_equal(g.nagg10, 1);
  const struct ingest_pq_aggregate *x = &g.agg10[0];
  printf("G1 %.4f G5 %.4f SG5 %.4f IHG5 %.4f IHSG5 %.4f IHG4 %.5f\n", x->group_rms[0][1], x->group_rms[0][5],
         x->subgroup_rms[0][5], x->ih_group_rms[0][5], x->ih_subgroup_rms[0][5], x->ih_group_rms[0][4]);
  assert_true(fabs(x->group_rms[0][1] - 230) < 0.05);
  /* harmonic group 5 spans 225–275 Hz: 250 Hz only; group 6 (275–325 Hz) takes the 285 Hz
   * interharmonic, subgroup 6 (295–305 Hz) does not; the interharmonic group and centred
   * subgroup between 5 and 6 (255–295 Hz, 260–290 Hz) hold it alone */
  assert_true(fabs(x->group_rms[0][5] - 4.6) < 0.005);
  assert_true(fabs(x->subgroup_rms[0][5] - 4.6) < 0.005);
  assert_true(fabs(x->group_rms[0][6] - 2.3) < 0.005);
  assert_true(x->subgroup_rms[0][6] < 0.005);
  assert_true(fabs(x->ih_group_rms[0][5] - 2.3) < 0.005);
  assert_true(fabs(x->ih_subgroup_rms[0][5] - 2.3) < 0.005);
  assert_true(x->ih_group_rms[0][4] < 0.005 && x->ih_group_rms[0][6] < 0.005);
  /* THD over the groups 2–40: both components */
  assert_true(fabs(x->thd_pct[0] - 100 * hypot(4.6, 2.3) / 230) < 0.01);
}

static void frequency_events(void **st)
{
  (void)st;
  struct sg s;
  struct ingest_config cfg;
  struct got g;
  const double m[3] = {230, 230, 230}, a[3] = {0, -120, 120};
  setup(&s, &cfg, 50.6, m, a);
  run(&s, &cfg, 30, &g);
  assert_int_equal(g.next, 1);
  assert_int_equal(g.ext[0].kind, INGEST_PQ_FREQ);
  assert_true(fabs(g.ext[0].freq_extreme_hz - 50.6) < 0.001);
  assert_true(g.ext[0].start_ns == T1200 && (g.ext[0].flags & INGEST_PQF_AT_END));
  setup(&s, &cfg, 50.4, m, a);
  run(&s, &cfg, 30, &g);
  assert_int_equal(g.next, 0);
}

int main(void)
{
  const struct CMUnitTest t[] = {
    cmocka_unit_test(unbalance_cases), cmocka_unit_test(unbalance_sequences),
    cmocka_unit_test(rvc_boundaries), cmocka_unit_test(rvc_magnitudes),
    cmocka_unit_test(aggregation_intervals), cmocka_unit_test(aggregation_two_hours),
    cmocka_unit_test(harmonic_groups),
    cmocka_unit_test(frequency_events),
  };
  return cmocka_run_group_tests(t, NULL, NULL);
}
