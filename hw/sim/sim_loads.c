/*
 * sim_loads.c — the signals: mains phases as unit rotors (one complex multiply per sample,
 * odd harmonics as its powers, a flicker stimulus's modulation), each branch's current from its load model (resistive, motor
 * and heat pump inrush, switch-mode harmonics, EV ramp, PV/ESS injection, SSR leakage, an
 * islanding PV) and the per-cycle rms and sense lines.
 */
#include "hw.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim_internal.h"

void hw__sim_mains_step(struct hw_sim *s)
{
  /* rotor: one complex multiply per sample, renormalised every 1024 samples */
  double c = s->rot_c * s->step_c - s->rot_s * s->step_s;
  double sn = s->rot_s * s->step_c + s->rot_c * s->step_s;
  s->rot_c = c, s->rot_s = sn;
  if ((s->sample_no & 1023) == 0) {
    double m = 1.0 / sqrt(c * c + sn * sn);
    s->rot_c *= m, s->rot_s *= m;
  }
  bool live = (s->grid_up || s->on_backup) && s->service_closed;
  double flk = 1;
  if (s->flk_end_ns && s->now_ns < s->flk_end_ns && s->grid_up) {
    double ph = fmod((double)(s->now_ns - s->flk_start_ns) * 1e-9 * s->flk_hz, 1.0);
    double m = s->flk_sine ? sin(2 * M_PI * ph) : ph < 0.5 ? 1.0 : -1.0;
    flk = 1 + s->flk_half * m;
  }
  bool split = s->sc.panel.mains == HW_MAINS_SPLIT_120_240_60;
  unsigned nph = split ? 2 : 3;
  for (unsigned p = 0; p < nph; p++) {
    double wc = s->rot_c * s->ph_c[p] - s->rot_s * s->ph_s[p];
    double ws = s->rot_s * s->ph_c[p] + s->rot_c * s->ph_s[p];
    s->c1[p] = wc;
    s->s[p][1] = ws;
    double pc = wc, ps = ws, w2c = wc * wc - ws * ws, w2s = 2 * wc * ws;
    for (int h = 3; h <= s->hmax; h += 2) {
      double nc = pc * w2c - ps * w2s, ns = ps * w2c + pc * w2s;
      pc = nc, ps = ns;
      s->s[p][h] = ps;
    }
    double f = s->grid_up ? s->grid_factor[p] : 1.0; /* backup inverter: clean nominal */
    if (s->flk_phases & (1u << p)) f *= flk;
    double a = live ? s->nominal_pk * f : 0;
    double v = ws;
    for (int h = 3, k = 0; h <= 17 && h <= s->hmax; h += 2, k++)
      if (s->sc.v_harmonic_pct[k] != 0) v += s->sc.v_harmonic_pct[k] * 0.01 * s->s[p][h];
    s->amp[p] = a;
    s->v[p] = a * v;
  }
  if (split) {
    /* L2 is L1 inverted; L12 = L1 - L2 (240 V in phase with L1) */
    s->amp[HW_PHASE_L12] = s->amp[0] + s->amp[1];
    s->v[HW_PHASE_L12] = s->v[0] - s->v[1];
    s->c1[HW_PHASE_L12] = s->c1[0];
    for (int h = 1; h <= s->hmax; h += 2) s->s[HW_PHASE_L12][h] = s->s[0][h];
  }
}

void hw__sim_branch_coeffs(const struct hw_sim *s, struct sim_branch *b)
{
  double vn = s->sc.panel.nominal_v * (b->actual_phase == HW_PHASE_L12 ? 2 : 1);
  b->k_res = b->power_w / (vn * vn);
  b->ipk = M_SQRT2 * b->power_w / vn;
  b->vn_pk = vn * M_SQRT2;
  b->inv_vn_pk = 1.0 / (s->sc.panel.nominal_v * M_SQRT2);
  b->pf = b->load.pf > 0 ? b->load.pf : 1;
  b->sphi_over_pf = sqrt(1 - b->pf * b->pf) / b->pf;
}

double hw__sim_branch_current(struct hw_sim *s, struct sim_branch *b, double *out_vl)
{
  unsigned p = b->actual_phase;
  double vn = s->sc.panel.nominal_v * (p == HW_PHASE_L12 ? 2 : 1);
  double vpk_n = b->vn_pk;
  bool conducting = b->contact && !b->breaker_open && !b->efuse_tripped;
  bool ssr_leak = !conducting && b->cfg->actuator == HW_ACT_SSR && !b->breaker_open;
  double g = s->amp[p] * b->inv_vn_pk; /* bus amplitude, per unit */
  const struct hw_scenario_load *ld = &b->load;
  double i = 0, vl = conducting ? s->v[p] : 0;
  bool source = ld->kind == HW_LOAD_PV || ld->kind == HW_LOAD_ESS;
  bool energized = conducting && g > 0.05 && (b->load_on || source);
  if (energized && !b->energized) b->on_since_ns = s->now_ns;
  b->energized = energized;
  if (energized) {
    double ipk = b->ipk;
    double tt = (double)(s->now_ns - b->on_since_ns) * 1e-9;
    switch (ld->kind) {
    case HW_LOAD_NONE: break;
    case HW_LOAD_RESISTIVE:
      i = b->k_res * s->v[p];
      break;
    case HW_LOAD_MOTOR: case HW_LOAD_HEATPUMP: {
      double k = ld->kind == HW_LOAD_MOTOR ? 6.0 : 3.0, tau = ld->kind == HW_LOAD_MOTOR ? 0.12 : 0.3;
      double env = tt < 8 * tau ? 1 + (k - 1) * exp(-tt / tau) : 1;
      i = env * g * ipk * (s->s[p][1] - s->c1[p] * b->sphi_over_pf);
      break;
    }
    case HW_LOAD_SMPS: case HW_LOAD_PHANTOM:
      i = g * ipk * (s->s[p][1] + 0.75 * s->s[p][3] + 0.5 * s->s[p][5] + 0.3 * s->s[p][7] + 0.15 * s->s[p][9]);
      break;
    case HW_LOAD_EV: {
      double r = ld->ramp_s > 0 && tt < ld->ramp_s ? tt / ld->ramp_s : 1;
      i = r * g * ipk * s->s[p][1];
      break;
    }
    case HW_LOAD_PV:
      i = (s->pv_state == 0 || s->pv_state == 3) && s->grid_up ? -M_SQRT2 * s->pv_w / vn * s->s[p][1] : 0;
      break;
    case HW_LOAD_ESS: {
      double w = s->ess_permit ? s->ess_w : 0;
      if (s->ess_state == 2 || hw__sim_ess_on_backup(s)) i = -M_SQRT2 * w / vn * s->s[p][1];
      else if (s->ess_state == 1) i = M_SQRT2 * w / vn * s->s[p][1];
      break;
    }
    }
    if (b->cfg->actuator == HW_ACT_EFUSE && fabs(i) > 2.5 * M_SQRT2 * b->cfg->breaker_a) {
      b->efuse_tripped = true; /* electronic fuse: fast overcurrent trip, power-good drops */
      hw__sim_aux_update(s, b, s->now_ns, false);
    }
  } else if (ssr_leak && g > 0.05) {
    double gl = (b->leak_fault ? 0.08 : 0.004) / s->sc.panel.nominal_v; /* off-state leakage */
    i = gl * s->v[p];
    double rl = b->power_w > 0 && ld->kind == HW_LOAD_RESISTIVE ? vn * vn / b->power_w : 1000;
    vl = i * rl;
  }
  if (!conducting && ld->kind == HW_LOAD_PV && s->pv_state == 3 && !s->grid_up) {
    /* anti-islanding failed: the inverter keeps its branch's load side energised */
    vl = vpk_n * s->s[p][1];
  }
  *out_vl = vl;
  return i;
}

void hw__sim_end_cycle(struct hw_sim *s, uint64_t t)
{
  double vn = s->sc.panel.nominal_v;
  for (unsigned i = 0; i < s->sc.panel.num_branches; i++) {
    struct sim_branch *b = &s->br[i];
    b->irms = sqrt(b->cyc_ii / s->cyc_n);
    b->vlrms = sqrt(b->cyc_vv / s->cyc_n);
    b->cyc_ii = b->cyc_vv = 0;
    uint32_t sense = b->cfg->line_sense;
    if (sense != HW_LINE_NONE) hw__sim_line_set(s, sense, b->vlrms > 0.5 * vn, t);
  }
  for (int p = 0; p < 3; p++)
    if (s->sag_end_ns[p] && s->sag_end_ns[p] <= t) { s->grid_factor[p] = 1; s->sag_end_ns[p] = 0; }
  s->cyc_n = 0;
}
