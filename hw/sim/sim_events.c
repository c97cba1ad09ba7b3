/*
 * sim_events.c — the scenario's timeline applied to the simulated panel: loads switched,
 * grid sags, swells, outages and frequency, taps (with bounce), DER states, injected faults;
 * the stimuli that are not hardware are queued for the caller (hw_sim_poll_stimuli).
 */
#include "hw.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim_internal.h"

void hw__sim_freq_steps(struct hw_sim *s)
{
  double w = 2 * M_PI * (s->freq_set + s->freq_drift) * 125e-6;
  s->step_c = cos(w);
  s->step_s = sin(w);
}

void hw__sim_apply_event(struct hw_sim *s, const struct hw_scenario_event *e)
{
  uint64_t t = e->t_ns;
  int bi = -1;
  for (unsigned i = 0; i < s->sc.panel.num_branches; i++)
    if (s->sc.panel.branch[i].number == e->branch) bi = (int)i;
  struct sim_branch *b = bi >= 0 ? &s->br[bi] : NULL;
  switch (e->kind) {
  case HW_EV_LOAD:
    if (!b) return;
    b->load_on = e->on;
    if (!isnan(e->value)) b->power_w = e->value;
    hw__sim_branch_coeffs(s, b);
    return;
  case HW_EV_GRID: {
    uint8_t ph = e->phases ? e->phases : 7;
    switch (e->sub) {
    case HW_GRID_SAG: case HW_GRID_SWELL:
      for (int p = 0; p < 3; p++)
        if (ph & (1 << p)) { s->grid_factor[p] = e->value / 100.0; s->sag_end_ns[p] = t + e->duration_ns; }
      return;
    case HW_GRID_OUTAGE:
      s->grid_up = false;
      s->ats_due_ns = s->sc.panel.der.ats ? t + 3000000000ull : 0;
      hw__sim_der_lines(s, t);
      hw__sim_power_fail_lines(s, t);
      return;
    case HW_GRID_RESTORE:
      s->grid_up = true;
      s->ats_due_ns = s->on_backup ? t + 5000000000ull : 0;
      hw__sim_der_lines(s, t);
      hw__sim_power_fail_lines(s, t);
      return;
    case HW_GRID_FREQ:
      s->freq_set = e->value;
      hw__sim_freq_steps(s);
      return;
    case HW_GRID_FLICKER:
      s->flk_half = e->value / 200.0; /* ΔV/V peak to peak, % → half, per unit */
      s->flk_hz = e->mod_hz;
      s->flk_sine = e->sine;
      s->flk_phases = ph;
      s->flk_start_ns = t;
      s->flk_end_ns = t + e->duration_ns;
      return;
    }
    return;
  }
  case HW_EV_TAP: {
    const struct hw_panel_tap *tp = &s->sc.panel.tap[e->tap];
    uint8_t level = (uint8_t)(e->on ^ tp->active_low);
    if (e->mandatory) { /* bounce */
      hw__sim_sched_add(s, t, tp->line, level);
      hw__sim_sched_add(s, t + 400000, tp->line, (uint8_t)!level);
      hw__sim_sched_add(s, t + 1100000, tp->line, level);
      hw__sim_sched_add(s, t + 1500000 + hw__sim_rng_next(s) % 500000, tp->line, (uint8_t)!level);
      hw__sim_sched_add(s, t + 2600000, tp->line, level);
    } else {
      hw__sim_sched_add(s, t, tp->line, level);
    }
    if (tp->branch && (tp->kind == HW_TAP_RCD || tp->kind == HW_TAP_MCB || tp->kind == HW_TAP_AFCI))
      for (unsigned i = 0; i < s->sc.panel.num_branches; i++)
        if (s->sc.panel.branch[i].number == tp->branch) s->br[i].breaker_open = e->on;
    if (s->sc.panel.der.pv && tp->branch == s->sc.panel.der.pv_branch) hw__sim_der_lines(s, t);
    return;
  }
  case HW_EV_DER: {
    const struct hw_panel_der *d = &s->sc.panel.der;
    const uint32_t pv[] = { d->line_pv_grid_tied, d->line_pv_fault, HW_LINE_NONE };
    const uint32_t ess[] = { d->line_ess_charging, d->line_ess_discharging, d->line_ess_alarm };
    const uint32_t ats[] = { d->line_ats_grid_present, d->line_ats_on_backup, d->line_ats_interlock_ok };
    const uint32_t *lines = e->sub == 0 ? pv : e->sub == 1 ? ess : ats;
    bool dead = e->modification == 4; /* no_comm: its lines stop answering; any other state revives them */
    for (int i = 0; i < 3; i++)
      if (lines[i] != HW_LINE_NONE && lines[i] < NLINES) s->line[lines[i]].dead = dead;
    s->der_stuck[e->sub] = e->modification == 5; /* stuck: its lines keep their levels */
    if (dead || s->der_stuck[e->sub]) return;
    if (e->sub == 0) {
      s->pv_state = e->modification;
      if (!isnan(e->value)) s->pv_w = e->value;
    } else if (e->sub == 1) {
      s->ess_state = e->modification;
      if (!isnan(e->value)) s->ess_w = e->value;
    } else {
      if (e->modification == 0) s->on_backup = false;
      else if (e->modification == 1) s->on_backup = true;
      else s->interlock_ok = e->modification == 3;
      s->ats_due_ns = 0;
    }
    hw__sim_der_lines(s, t);
    return;
  }
  case HW_EV_FAULT:
    switch (e->sub) {
    case HW_FAULT_WELDED: if (b) b->welded = true; return;
    case HW_FAULT_STUCK_OPEN: if (b) b->stuck_open = true; return;
    case HW_FAULT_CHATTER: if (b) { b->chatter = true; b->next_chatter_t = t + 20000000; } return;
    case HW_FAULT_SSR_LEAKAGE: if (b) b->leak_fault = true; return;
    case HW_FAULT_REVERSED_CT: if (b) b->reversed = true; return;
    case HW_FAULT_PHASE_SWAP: if (b) { b->actual_phase = (enum hw_phase)(int)e->value; hw__sim_branch_coeffs(s, b); } return;
    case HW_FAULT_SPI_CRC_BURST: s->afe[e->afe].crc_burst += (unsigned)e->value; return;
    case HW_FAULT_MISSING_CHIP: s->afe[e->afe].missing = true; return;
    /* the chip answers again, as after a power cycle of its board: registers at reset values */
    case HW_FAULT_CLOCK_OFFSET: s->sync_offset_ns = (int64_t)llround(e->value * 1e9); return;
    case HW_FAULT_CHIP_BACK: s->afe[e->afe].missing = false; ade_emul_power_cycle(&s->afe[e->afe]); return;
    case HW_FAULT_AFE_DRIFT: s->v_drift[e->afe] = e->value / 100.0; return;
    case HW_FAULT_CLOCK_STEP: s->wall_offset_ns += (int64_t)llround(e->value * 1e9); s->clock_unsynced = true; return;
    /* time synchronisation regained: the clock is stepped back to true time (or by `seconds`
     * when given) and says synced again, as an NTP client's step does */
    case HW_FAULT_CLOCK_SYNC:
      s->wall_offset_ns = isnan(e->value) ? 0 : s->wall_offset_ns + (int64_t)llround(e->value * 1e9);
      s->clock_unsynced = false;
      return;
    case HW_FAULT_GPIO_OVERFLOW: {
      uint32_t line = b && b->cfg->line_aux != HW_LINE_NONE ? b->cfg->line_aux : (b ? b->cfg->line_sense : HW_LINE_NONE);
      if (line == HW_LINE_NONE) return;
      uint8_t cur = s->line[line].phys;
      unsigned n = (unsigned)e->value;
      for (unsigned k = 0; k < n; k++) {
        hw__sim_sched_add(s, t + 2 * k * 20000ull, line, (uint8_t)!cur);
        hw__sim_sched_add(s, t + (2 * k + 1) * 20000ull, line, cur);
      }
      return;
    }
    case HW_FAULT_CLEAR:
      if (b) {
        b->welded = b->stuck_open = b->chatter = b->leak_fault = b->reversed = false;
        b->actual_phase = b->cfg->phase;
        hw__sim_branch_coeffs(s, b);
      }
      return;
    }
    return;
  case HW_EV_SUPPLY_LOW:
    s->supply_low_until = t + e->duration_ns;
    break;
  case HW_EV_RAIL: { /* the rail's power-good line follows its level against min_pct */
    const struct hw_panel_rail *rl = &s->sc.panel.rail[e->tap];
    if (rl->volt) { /* measured: its voltage file says the level (what the ADC reads) */
      hw_rail_write_mv(rl, (int32_t)llround(rl->nominal_mv * e->value / 100.0));
      s->rail_back_ns[e->tap] = e->duration_ns ? t + e->duration_ns : 0;
      return;
    }
    bool good = e->value >= rl->min_pct;
    if (rl->line >= NLINES) return;
    hw__sim_sched_add(s, t, rl->line, (uint8_t)(good ^ rl->active_low));
    if (e->duration_ns) hw__sim_sched_add(s, t + e->duration_ns, rl->line, (uint8_t)(1 ^ rl->active_low));
    return;
  }
  case HW_EV_LEAKAGE: case HW_EV_TEMPERATURE: /* an analog tap's file */
    hw__sim_analog_event(s, e);
    return;
  default:
    break;
  }
  /* non-hardware stimuli (and supply_low, which is both) go to the caller */
  if (s->stim_count < HW_SCENARIO_MAX_EVENTS) {
    struct hw_stimulus *st = &s->stim[(s->stim_head + s->stim_count++) % HW_SCENARIO_MAX_EVENTS];
    st->t_ns = t;
    st->ev = *e;
  }
}
