/*
 * sim.c — the simulated panel: mains, branch loads, actuators, taps, DER, a simulated gpiochip
 * and one emulated ADE9000 per AFE, stepped at 8 kSPS on a virtual clock.
 *
 * Determinism: all randomness comes from one xoshiro256** stream seeded from the caller's seed
 * (splitmix64), all time from the virtual clock (ns, advanced only by hw_sim_advance), and the
 * per-sample arithmetic is a fixed sequence of double operations (built with -ffp-contract=off),
 * so the same scenario and seed give byte-identical samples, GPIO events and stimuli.
 *
 * Model summary (docs/scenarios.md has the details): phases are unit rotors advanced by one
 * complex multiply per sample; harmonics are powers of the rotor. A branch conducts when its
 * contact is closed and its breaker is not tripped; its current follows its load model (resistive,
 * motor/heat pump with decaying inrush, switch-mode harmonics, EV ramp, phantom, PV/ESS
 * injection). Actuators react to GPIO outputs with operate/release times, latching pulse
 * minimums, aux contacts with bounce, and faults (welded, stuck open, chatter, SSR leakage).
 * Inputs reach the caller only through the simulated gpiochip (edges with debounce, a bounded
 * event buffer that drops the oldest on overflow, per-request and per-line seqnos).
 * No allocation after hw_sim_create.
 *
 * Here: the per-sample step and the public API; the gpiochip, actuators, scenario events and
 * loads are in sim_gpio.c, sim_actuators.c, sim_events.c and sim_loads.c (sim_internal.h).
 */
#include "hw.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sim_internal.h"

/* ---------------------------------------------------------------- PRNG */
static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double rng_uniform(struct hw_sim *s) /* [0,1) */
{
  return (double)(hw__sim_rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static void sample(struct hw_sim *s)
{
  uint64_t now = s->now_ns;
  while (s->next_event < s->sc.num_events && s->sc.event[s->next_event].t_ns <= now)
    hw__sim_apply_event(s, &s->sc.event[s->next_event++]);
  if (s->nsched && s->sched[0].t_ns <= now) hw__sim_run_sched(s, now);
  hw__sim_run_debounce(s, now);
  if (s->ats_due_ns && s->ats_due_ns <= now) {
    s->on_backup = !s->grid_up && s->sc.panel.der.ess;
    s->ats_due_ns = 0;
    hw__sim_der_lines(s, now);
  }
  if (s->sample_no % 800 == 0 && s->sc.freq_drift_hz > 0) { /* slow frequency wander */
    s->freq_drift += (rng_uniform(s) - 0.5) * 0.01;
    if (s->freq_drift > s->sc.freq_drift_hz) s->freq_drift = s->sc.freq_drift_hz;
    if (s->freq_drift < -s->sc.freq_drift_hz) s->freq_drift = -s->sc.freq_drift_hz;
    hw__sim_freq_steps(s);
  }
  hw__sim_mains_step(s);
  const struct hw_panel *pn = &s->sc.panel;
  double line_i[CONDUCTORS] = { 0 };
  for (unsigned k = 0; k < pn->num_branches; k++) {
    struct sim_branch *b = &s->br[k];
    hw__sim_actuators_step(s, b, now);
    double vl;
    double i = hw__sim_branch_current(s, b, &vl);
    b->i_ct = i;
    b->cyc_ii += i * i;
    b->cyc_vv += vl * vl;
    if (fabs(i) > b->ipeak) b->ipeak = fabs(i);
    if (b->actual_phase == HW_PHASE_L12) { line_i[0] += i; line_i[1] -= i; }
    else line_i[b->actual_phase] += i;
  }
  if (pn->der.ess && s->ess_permit && (s->ess_state || hw__sim_ess_on_backup(s))) {
    double dir = hw__sim_ess_on_backup(s) || s->ess_state == 2 ? -1 : s->ess_state == 1 ? 1 : 0;
    s->ess_soc += dir * s->ess_w * 125e-6 / 3600.0 / pn->der.ess_capacity_wh * 100.0;
    if (s->ess_soc < 0) s->ess_soc = 0;
    if (s->ess_soc > 100) s->ess_soc = 100;
  }
  /* AFE inputs */
  for (unsigned a = 0; a < pn->num_afes; a++) {
    const struct hw_panel_afe *af = &pn->afe[a];
    double vp[3], ip[4];
    uint64_t r = hw__sim_rng_next(s), r2 = hw__sim_rng_next(s);
    double nz = s->sc.noise_rel * (1.0 / 32768.0);
    for (int k = 0; k < 3; k++) {
      double v = s->v[af->v_phase[k]];
      double i;
      if (af->mains) {
        i = af->v_phase[k] == HW_PHASE_L12 ? 0 : line_i[af->v_phase[k]];
      } else {
        int bi = s->br_at[a][k];
        i = bi < 0 ? 0 : (s->br[bi].reversed ? -s->br[bi].i_ct : s->br[bi].i_ct);
      }
      s->v_in[a][k] = v;
      s->i_in[a][k] = i;
      vp[k] = v * s->v_scale[a] * (1.0 + s->v_drift[a]) + nz * (double)((int16_t)(r >> (16 * k)));
      ip[k] = i * s->i_scale[a][k] + nz * (double)((int16_t)(r2 >> (16 * k)));
    }
    s->i_in[a][3] = af->mains ? line_i[0] + line_i[1] + line_i[2] : 0;
    ip[3] = s->i_in[a][3] * s->i_scale[a][3];
    ade_emul_push(&s->afe[a], vp, ip);
    bool irq = ade_emul_irq0(&s->afe[a]);
    if (irq != s->irq[a]) {
      s->irq[a] = irq;
      hw__sim_line_set(s, af->line_irq, (uint8_t)!irq, now); /* IRQ0 is active low */
    }
  }
  if (s->hook) {
    struct hw_sim_frame f = { now, pn->num_afes, (const double (*)[3])s->v_in, (const double (*)[4])s->i_in };
    s->hook(s->hook_user, &f);
  }
  s->cyc_n++;
  s->cyc_acc += (unsigned)s->freq_nom;
  if (s->cyc_acc >= 8000) { s->cyc_acc -= 8000; hw__sim_end_cycle(s, now); }
  s->sample_no++;
  s->now_ns += HW_SIM_SAMPLE_NS;
}

/* ---------------------------------------------------------------- public */
int hw_sim_create(struct hw_sim **out, const struct hw_scenario *sc, uint64_t seed, char *err, size_t err_len)
{
  *out = NULL;
  struct hw_sim *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  s->sc = *sc;
  s->seed = seed;
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
  const struct hw_panel *p = &s->sc.panel;
  bool split = p->mains == HW_MAINS_SPLIT_120_240_60;
  s->nominal_pk = p->nominal_v * M_SQRT2;
  s->freq_nom = p->freq_hz;
  s->freq_set = p->freq_hz;
  s->rot_c = 1, s->rot_s = 0;
  hw__sim_freq_steps(s);
  double off[3] = { 0, split ? M_PI : -2 * M_PI / 3, 2 * M_PI / 3 };
  for (int k = 0; k < 3; k++) { s->ph_c[k] = cos(off[k]); s->ph_s[k] = sin(off[k]); }
  s->hmax = 9;
  for (int k = 0; k < 8; k++) if (s->sc.v_harmonic_pct[k] != 0 && 3 + 2 * k > s->hmax) s->hmax = 3 + 2 * k;
  for (int k = 0; k < 3; k++) s->grid_factor[k] = 1;
  s->grid_up = true;
  s->interlock_ok = true;
  s->service_closed = true;
  s->ess_soc = 60;
  s->ess_permit = false;
  s->pv_w = p->der.pv ? p->der.pv_peak_w * 0.5 : 0;
  s->ess_w = p->der.ess ? p->der.ess_max_w * 0.5 : 0;
  for (unsigned i = 0; i < NLINES; i++) s->line[i].req = -1;
  for (unsigned i = 0; i < NREQ; i++) s->req[i].efd = -1;
  for (unsigned a = 0; a < HW_MAX_AFES; a++) for (int k = 0; k < 3; k++) s->br_at[a][k] = -1;
  for (unsigned i = 0; i < p->num_branches; i++) {
    struct sim_branch *b = &s->br[i];
    b->cfg = &p->branch[i];
    b->load = s->sc.load[i];
    b->load_on = b->load.on;
    b->power_w = b->load.power_w;
    if (b->load.kind == HW_LOAD_PV) b->power_w = p->der.pv_peak_w;
    b->pending_to = -1;
    b->actual_phase = b->cfg->phase;
    hw__sim_branch_coeffs(s, b);
    s->br_at[b->cfg->afe][b->cfg->channel] = (int)i;
    /* initial contacts: NC monostables are closed unpowered; latching keep the scenario's */
    if (b->cfg->actuator == HW_ACT_LATCHING) b->contact = b->load.closed;
    else b->contact = b->cfg->coil_active_low && b->cfg->actuator != HW_ACT_SSR && b->cfg->actuator != HW_ACT_EFUSE;
    if (b->cfg->line_coil < NLINES) { s->line[b->cfg->line_coil].role = R_COIL; s->line[b->cfg->line_coil].role_idx = (uint8_t)i; }
    else if (b->cfg->line_coil != HW_LINE_NONE) goto bad_line;
    if (b->cfg->line_coil_reset < NLINES) { s->line[b->cfg->line_coil_reset].role = R_COIL_RESET; s->line[b->cfg->line_coil_reset].role_idx = (uint8_t)i; }
    if (b->cfg->line_aux < NLINES) s->line[b->cfg->line_aux].phys = b->cfg->actuator == HW_ACT_EFUSE ? 0 : b->contact;
  }
  if (p->der.line_ess_permit < NLINES) s->line[p->der.line_ess_permit].role = R_ESS_PERMIT;
  if (p->line_service_coil < NLINES) s->line[p->line_service_coil].role = R_SERVICE_COIL;
  if (p->line_service_aux < NLINES) s->line[p->line_service_aux].phys = 1;
  for (unsigned t = 0; t < p->num_taps; t++)
    if (p->tap[t].line < NLINES) s->line[p->tap[t].line].phys = p->tap[t].active_low;
    else goto bad_line;
  for (unsigned a = 0; a < p->num_afes; a++) {
    ade_emul_init(&s->afe[a]);
    const struct hw_panel_afe *af = &p->afe[a];
    if (af->line_irq < NLINES) s->line[af->line_irq].phys = 1;
    s->v_scale[a] = 1.0 / af->v_ratio;
    for (int k = 0; k < 3; k++) {
      int bi = s->br_at[a][k];
      double ct = af->mains ? af->mains_ct_ratio : bi >= 0 ? p->branch[bi].ct_ratio : 2000;
      s->i_scale[a][k] = af->burden_ohm / ct; /* A primary → V at the pin */
      if (!af->mains && bi >= 0) s->i_scale[a][k] *= 1.0 + s->sc.load[bi].ct_error_pct / 100.0; /* a CT's gain error */
    }
    s->i_scale[a][3] = af->burden_ohm / af->mains_ct_ratio;
  }
  s->chip.ops = &hw__sim_chip_ops;
  s->chip.ctx = s;
  hw__sim_der_lines(s, 0);
  for (unsigned i = 0; i < p->num_rails; i++) { /* every rail good at power-up */
    if (p->rail[i].volt) {
      int wr = hw_rail_write_mv(&p->rail[i], (int32_t)p->rail[i].nominal_mv);
      if (wr) {
        if (err && err_len) snprintf(err, err_len, "%s: rails[%u] (%s): cannot write %s: %s", sc->name, i, p->rail[i].name,
                                     p->rail[i].volt_path, hw_strerror(wr));
        free(s);
        return HW_ESCENARIO;
      }
    } else if (p->rail[i].line < NLINES) hw__sim_sched_add(s, 0, p->rail[i].line, (uint8_t)(1 ^ p->rail[i].active_low));
  }
  if (hw__sim_analog_init(s, err, err_len)) {
    free(s);
    return HW_ESCENARIO;
  }
  hw__sim_run_sched(s, 0);
  *out = s;
  return 0;
bad_line:
  if (err && err_len) snprintf(err, err_len, "%s: a GPIO line offset is beyond the simulated chip's %d lines", sc->name, NLINES);
  free(s);
  return HW_ESCENARIO;
}

void hw_sim_destroy(struct hw_sim *s)
{
  if (!s) return;
  for (unsigned i = 0; i < NREQ; i++) if (s->req[i].efd >= 0) close(s->req[i].efd);
  free(s);
}

int hw_sim_advance(struct hw_sim *s, uint64_t ns)
{
  uint64_t total = s->carry_ns + ns;
  uint64_t n = total / HW_SIM_SAMPLE_NS;
  s->carry_ns = total % HW_SIM_SAMPLE_NS;
  for (uint64_t k = 0; k < n; k++) sample(s);
  /* entries scheduled exactly at the new "now" are due now, so the caller sees them */
  while (s->next_event < s->sc.num_events && s->sc.event[s->next_event].t_ns <= s->now_ns)
    hw__sim_apply_event(s, &s->sc.event[s->next_event++]);
  for (unsigned i = 0; i < s->sc.panel.num_rails; i++) /* a measured rail's dip ends */
    if (s->rail_back_ns[i] && s->now_ns >= s->rail_back_ns[i]) {
      s->rail_back_ns[i] = 0;
      hw_rail_write_mv(&s->sc.panel.rail[i], (int32_t)s->sc.panel.rail[i].nominal_mv);
    }
  hw__sim_analog_advance(s);
  return 0;
}

uint64_t hw_sim_now_ns(const struct hw_sim *s) { return s->now_ns; }
uint64_t hw_sim_wall_ns(const struct hw_sim *s) { return (uint64_t)((int64_t)(SIM_EPOCH_NS + s->now_ns) + s->wall_offset_ns); }
bool hw_sim_clock_synced(const struct hw_sim *s) { return !s->clock_unsynced; }
int64_t hw_sim_clock_offset_ns(const struct hw_sim *s) { return s->clock_unsynced ? 0 : s->sync_offset_ns; }
const struct hw_panel *hw_sim_panel(const struct hw_sim *s) { return &s->sc.panel; }
struct hw_spi *hw_sim_afe_spi(struct hw_sim *s, unsigned afe) { return afe < s->sc.panel.num_afes ? &s->afe[afe].spi : NULL; }
struct hw_gpio_chip *hw_sim_gpio_chip(struct hw_sim *s) { return &s->chip; }
void hw_sim_set_frame_hook(struct hw_sim *s, hw_sim_frame_fn fn, void *user) { s->hook = fn; s->hook_user = user; }

unsigned hw_sim_poll_stimuli(struct hw_sim *s, struct hw_stimulus *out, unsigned max)
{
  unsigned k = 0;
  while (k < max && s->stim_count) {
    out[k++] = s->stim[s->stim_head];
    s->stim_head = (s->stim_head + 1) % HW_SCENARIO_MAX_EVENTS;
    s->stim_count--;
  }
  return k;
}

int hw_sim_branch_truth(struct hw_sim *s, unsigned number, struct hw_sim_branch_truth *out)
{
  for (unsigned i = 0; i < s->sc.panel.num_branches; i++)
    if (s->br[i].cfg->number == number) {
      struct sim_branch *b = &s->br[i];
      out->contact_closed = b->contact;
      out->breaker_open = b->breaker_open;
      out->load_on = b->load_on;
      out->current_rms_a = b->irms;
      out->current_peak_a = b->ipeak;
      out->load_side_v = b->vlrms;
      b->ipeak = 0;
      return 0;
    }
  return -ENOENT;
}

void hw_sim_der_status(const struct hw_sim *s, struct hw_sim_der_status *o)
{
  memset(o, 0, sizeof *o);
  o->grid_present = s->grid_up;
  o->on_backup = s->on_backup;
  o->interlock_ok = s->interlock_ok;
  o->pv_grid_tied = s->pv_state == 0 && s->grid_up;
  o->pv_fault = s->pv_state == 2;
  o->ess_permit = s->ess_permit;
  o->pv_w = o->pv_grid_tied ? s->pv_w : 0;
  o->ess_w = !s->ess_permit ? 0 : hw__sim_ess_on_backup(s) || s->ess_state == 2 ? -s->ess_w : s->ess_state == 1 ? s->ess_w : 0;
  o->ess_soc_pct = s->ess_soc;
}

void hw_panel_ade9000_config(const struct hw_panel *p, unsigned afe, struct hw_ade9000_config *out)
{
  memset(out, 0, sizeof *out);
  const struct hw_panel_afe *a = &p->afe[afe];
  out->mains_60hz = p->mains == HW_MAINS_SPLIT_120_240_60;
  out->waveform = a->mains;
  out->nominal_v = a->v_phase[0] == HW_PHASE_L12 ? 2 * p->nominal_v : p->nominal_v;
  out->dip_pct = p->pq.dip_pct;     /* the chip's own DIP_LVL / SWELL_LVL: the panel's thresholds */
  out->swell_pct = p->pq.swell_pct;
  for (int k = 0; k < 3; k++) {
    out->v_ratio[k] = a->v_ratio;
    double ct = a->mains ? a->mains_ct_ratio : 2000;
    for (unsigned i = 0; i < p->num_branches; i++)
      if (p->branch[i].afe == afe && p->branch[i].channel == (unsigned)k) ct = p->branch[i].ct_ratio;
    out->i_a_per_v[k] = ct / a->burden_ohm;
    /* calibration registers: the branch CT's on its channel (a mains AFE: its own CTs') */
    double ig = a->i_gain[k], ph = a->i_phase_deg[k];
    if (!a->mains) {
      ig = 1.0, ph = 0.0;
      for (unsigned i = 0; i < p->num_branches; i++)
        if (p->branch[i].afe == afe && p->branch[i].channel == (unsigned)k) ig = p->branch[i].gain, ph = p->branch[i].phase_deg;
    }
    out->igain[k] = hw_ade9000_gain_reg(ig > 0 ? ig : 1.0);
    out->phcal[k] = hw_ade9000_phcal_reg(ph, out->mains_60hz);
    out->vgain[k] = hw_ade9000_gain_reg(a->v_gain[k] > 0 ? a->v_gain[k] : 1.0);
  }
  out->i_a_per_v[3] = a->mains_ct_ratio / a->burden_ohm;
}
