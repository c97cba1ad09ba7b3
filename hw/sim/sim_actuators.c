/*
 * sim_actuators.c — the simulated actuators (operate/release times per type, latching pulse
 * minimums, coils that cannot pull in on a low supply, aux contacts with bounce, welded, stuck
 * open and chatter faults, the service disconnect) and the power-fail and DER input lines.
 */
#include "hw.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim_internal.h"

static double operate_ns(enum hw_actuator_type t)
{
  switch (t) {
  case HW_ACT_MONOSTABLE: return 10e6;
  case HW_ACT_LATCHING: return 15e6;
  case HW_ACT_CONTACTOR: return 25e6;
  case HW_ACT_SSR: return 2.5e6;  /* next zero crossing, on average */
  case HW_ACT_EFUSE: return 0.5e6;
  }
  return 10e6;
}
static double release_ns(enum hw_actuator_type t)
{
  switch (t) {
  case HW_ACT_MONOSTABLE: return 5e6;
  case HW_ACT_LATCHING: return 15e6;
  case HW_ACT_CONTACTOR: return 15e6;
  case HW_ACT_SSR: return 2.5e6;
  case HW_ACT_EFUSE: return 0.1e6;
  }
  return 5e6;
}

static bool supply_ok(const struct hw_sim *s) { return s->now_ns >= s->supply_low_until; }

void hw__sim_aux_update(struct hw_sim *s, struct sim_branch *b, uint64_t t, bool bounce)
{
  uint32_t aux = b->cfg->line_aux;
  if (aux == HW_LINE_NONE) return;
  uint8_t level;
  if (b->cfg->actuator == HW_ACT_EFUSE)
    level = b->contact && !b->efuse_tripped; /* power good */
  else
    level = b->contact;
  if (bounce && b->cfg->actuator != HW_ACT_EFUSE) {
    /* contact bounce: a few ms of toggling before the aux contact settles */
    uint64_t d1 = 300000 + (hw__sim_rng_next(s) % 200000), d2 = d1 + 400000 + (hw__sim_rng_next(s) % 300000);
    hw__sim_sched_add(s, t, aux, level);
    hw__sim_sched_add(s, t + d1, aux, (uint8_t)!level);
    hw__sim_sched_add(s, t + d2, aux, level);
  } else {
    hw__sim_sched_add(s, t, aux, level);
  }
}

static void contact_to(struct hw_sim *s, struct sim_branch *b, bool closed, uint64_t t)
{
  if (b->welded && !closed) return;      /* contacts fused: they stay closed */
  if (b->stuck_open && closed) return;
  if (b->contact == closed) return;
  b->contact = closed;
  hw__sim_aux_update(s, b, t, true);
  if (s->sc.panel.der.pv && b->cfg->number == s->sc.panel.der.pv_branch) hw__sim_der_lines(s, t);
}

/* The PV inverter sees the grid only through its branch: an open contactor or breaker leaves
 * it unsynchronised, so its grid_tied line is low (a real inverter's status contact). */
static bool pv_sees_grid(const struct hw_sim *s)
{
  unsigned n = s->sc.panel.der.pv_branch;
  if (!s->grid_up) return false;
  for (unsigned k = 0; n && k < s->sc.panel.num_branches; k++)
    if (s->br[k].cfg->number == n) return s->br[k].contact && !s->br[k].breaker_open;
  return true; /* no branch of its own: on the bus */
}

void hw__sim_on_output(struct hw_sim *s, unsigned line, uint64_t t)
{
  struct sim_line *l = &s->line[line];
  uint8_t phys = l->phys;
  switch (l->role) {
  case R_COIL: case R_COIL_RESET: {
    struct sim_branch *b = &s->br[l->role_idx];
    enum hw_actuator_type ty = b->cfg->actuator;
    int which = l->role == R_COIL_RESET;
    b->coil[which] = phys;
    if (ty == HW_ACT_LATCHING) {
      /* a latching relay moves only if the pulse lasts >= 3x the operate time, with supply */
      b->latch_check_t[which] = phys ? t + (uint64_t)(3 * operate_ns(ty)) : 0;
      return;
    }
    bool want = b->cfg->coil_active_low ? !phys : phys;
    if (ty == HW_ACT_EFUSE && want) b->efuse_tripped = false;
    if (want && !b->cfg->coil_active_low && !supply_ok(s) && ty != HW_ACT_SSR && ty != HW_ACT_EFUSE)
      return; /* coil cannot pull in on a low supply */
    b->pending_to = want;
    b->pending_t = t + (uint64_t)(want ? operate_ns(ty) : release_ns(ty));
    if (b->chatter && want) b->next_chatter_t = b->pending_t + 20000000;
    return;
  }
  case R_ESS_PERMIT:
    s->ess_permit = phys;
    hw__sim_der_lines(s, t); /* the battery starts or stops: its state lines say so */
    return;
  case R_SERVICE_COIL:
    /* energise to disconnect, so a controller that is not running leaves the panel fed */
    s->service_closed = !phys;
    hw__sim_sched_add(s, t + 30000000, s->sc.panel.line_service_aux, (uint8_t)!phys);
    return;
  default:
    return;
  }
}

void hw__sim_actuators_step(struct hw_sim *s, struct sim_branch *b, uint64_t now)
{
  if (b->pending_to >= 0 && b->pending_t <= now) {
    uint64_t t = b->pending_t;
    bool to = b->pending_to;
    b->pending_to = -1;
    contact_to(s, b, to, t);
    if (b->cfg->actuator == HW_ACT_EFUSE) hw__sim_aux_update(s, b, t, false);
  }
  for (int w = 0; w < 2; w++)
    if (b->latch_check_t[w] && b->latch_check_t[w] <= now) {
      uint64_t t = b->latch_check_t[w];
      b->latch_check_t[w] = 0;
      if (b->coil[w] && supply_ok(s)) contact_to(s, b, w == 0, t);
    }
  if (b->chatter && b->next_chatter_t && b->next_chatter_t <= now) {
    bool commanded = b->cfg->coil_active_low ? !b->coil[0] : b->coil[0];
    if (commanded) {
      b->contact = !b->contact;
      hw__sim_aux_update(s, b, b->next_chatter_t, false);
      b->next_chatter_t += 20000000 + hw__sim_rng_next(s) % 40000000;
    } else {
      if (!b->contact) b->next_chatter_t = 0;
      else { b->contact = false; hw__sim_aux_update(s, b, b->next_chatter_t, false); b->next_chatter_t = 0; }
    }
  }
}

/* ---------------------------------------------------------------- DER lines */
/* The panel's power-fail inputs (a supply monitor on the grid side) assert while the grid is
 * down; the line's level follows active_low as for any tap. */
void hw__sim_power_fail_lines(struct hw_sim *s, uint64_t t)
{
  for (unsigned i = 0; i < s->sc.panel.num_taps; i++) {
    const struct hw_panel_tap *tp = &s->sc.panel.tap[i];
    if (tp->kind == HW_TAP_POWER_FAIL) hw__sim_sched_add(s, t, tp->line, (uint8_t)(!s->grid_up ^ tp->active_low));
  }
}

void hw__sim_der_lines(struct hw_sim *s, uint64_t t)
{
  const struct hw_panel_der *d = &s->sc.panel.der;
  if (d->pv && !s->der_stuck[0]) {
    hw__sim_sched_add(s, t, d->line_pv_grid_tied, s->pv_state == 0 && pv_sees_grid(s));
    hw__sim_sched_add(s, t, d->line_pv_fault, s->pv_state == 2);
  }
  if (d->ess && !s->der_stuck[1]) {
    bool backup = hw__sim_ess_on_backup(s);
    hw__sim_sched_add(s, t, d->line_ess_charging, s->ess_state == 1 && s->ess_permit && !backup);
    hw__sim_sched_add(s, t, d->line_ess_discharging, (s->ess_state == 2 && s->ess_permit) || backup);
    hw__sim_sched_add(s, t, d->line_ess_alarm, s->ess_state == 3);
  }
  if (d->ats && !s->der_stuck[2]) {
    hw__sim_sched_add(s, t, d->line_ats_grid_present, s->grid_up);
    hw__sim_sched_add(s, t, d->line_ats_on_backup, s->on_backup);
    hw__sim_sched_add(s, t, d->line_ats_interlock_ok, s->interlock_ok);
  }
}
