/*
 * run_meter.c — the register path of metering: each branch AFE's one-cycle rms read
 * every tick, and every window period a `window` record per branch AFE from its DSP registers
 * (plus polarity / phase-map installation faults). Power-quality events of this path are
 * run_pq.c's; the streaming mains AFE is run_mains.c's.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "run.h"

static uint8_t journal_phase_of(enum hw_phase p)
{
  switch (p) {
  case HW_PHASE_L2: return JOURNAL_PHASE_B;
  case HW_PHASE_L3: return JOURNAL_PHASE_C;
  default: return JOURNAL_PHASE_A;
  }
}

/* Register path, every tick: each branch AFE's one-cycle rms registers, read once (one SPI read
 * per register per tick, shared with the sense-backs below). The chip refreshes them every half
 * cycle (10 ms at 50 Hz, 8.3 ms at 60 Hz) but the tick is 16 ms, so the window's hrms_min_m /
 * hrms_max_m are the extremes of one Urms(1/2) sample per tick, not of every half cycle: a
 * sustained dip or swell (≥ one tick plus a cycle) shows, a single disturbed half cycle may not. */
void run_meter_poll_rms(struct daemon *d)
{
  for (unsigned a = 0; a < d->panel->num_afes && a < HW_MAX_AFES; a++) {
    d->rms1[a].fresh = false;
    if (!d->afe_ok[a] || (int)a == d->mains) continue;
    double i[3], v[3];
    if (hw_ade9000_read_rms_one(&d->afe[a], i, v)) continue;
    struct rms_one_track *q = &d->rms1[a];
    q->fresh = true;
    for (unsigned k = 0; k < 3; k++) {
      q->i[k] = i[k];
      q->v[k] = v[k];
      if (!q->n || i[k] < q->imin[k]) q->imin[k] = i[k];
      if (!q->n || i[k] > q->imax[k]) q->imax[k] = i[k];
      if (!q->n || v[k] < q->vmin[k]) q->vmin[k] = v[k];
      if (!q->n || v[k] > q->vmax[k]) q->vmax[k] = v[k];
    }
    q->n++;
  }
}

/* One `window` record per branch AFE from its DSP registers: rms, powers, PF, frequency, and
 * energy from the AFE's own accumulators (integer µWh with the remainder carried). */
static void register_window(struct daemon *d, unsigned a)
{
  const struct hw_panel *p = d->panel;
  struct hw_ade9000_metrics m;
  struct { uint16_t branch; int verdict; int64_t p_mw; double angle, pf; unsigned channel; } pending_pol[3];
  unsigned npol = 0;
  int rc = hw_ade9000_read_metrics(&d->afe[a], &m);
  run_afe_after_read(d, a, rc); /* CRC errors summed, a chip gone missing (run_afe_health.c) */
  if (rc) return;
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_WINDOW;
  r.source.kind = JOURNAL_SRC_AFE;
  r.source.index = (uint16_t)(a + 1);
  struct journal_window *w = &r.body.window;
  w->afe = (uint16_t)(a + 1);
  w->start_ns = run_wall_ns(d) - (int64_t)d->o.window_ms * 1000000;
  w->duration_us = d->o.window_ms * 1000;
  w->freq_mhz = (uint32_t)llround(m.ph[0].freq_hz * 1000.0);
  w->basic_windows = (uint16_t)(d->o.window_ms / 200 ? d->o.window_ms / 200 : 1);
  w->flags = 4; /* register path */
  for (unsigned k = 0; k < 3; k++) {
    struct journal_window_channel *c = &w->ch[w->nch++];
    c->ch = (uint8_t)(4 + k);
    c->kind = JOURNAL_CH_VOLTAGE;
    c->phase = journal_phase_of(p->afe[a].v_phase[k]);
    c->rms_m = (int32_t)llround(m.ph[k].vrms_v * 1000.0);
    c->event = m.ph[k].dip || m.ph[k].swell; /* the AFE's own dip/swell detector, latched */
    if (d->rms1[a].n) {
      c->hrms_min_m = (int32_t)llround(d->rms1[a].vmin[k] * 1000.0);
      c->hrms_max_m = (int32_t)llround(d->rms1[a].vmax[k] * 1000.0);
    }
  }
  for (unsigned b = 0; b < p->num_branches; b++) {
    const struct hw_panel_branch *br = &p->branch[b];
    if (br->afe != a || br->channel > 2) continue;
    unsigned k = br->channel;
    const struct hw_ade9000_phase *ph = &m.ph[k];
    double sign = br->polarity < 0 ? -1.0 : 1.0;
    struct journal_window_channel *c = &w->ch[w->nch++];
    c->ch = (uint8_t)k;
    c->kind = JOURNAL_CH_CURRENT;
    c->phase = journal_phase_of(br->phase);
    c->branch = (uint16_t)br->number;
    c->rms_m = (int32_t)llround(ph->irms_a * 1000.0);
    if (d->rms1[a].n) {
      c->hrms_min_m = (int32_t)llround(d->rms1[a].imin[k] * 1000.0);
      c->hrms_max_m = (int32_t)llround(d->rms1[a].imax[k] * 1000.0);
    }
    c->event = d->branch_tapped[br->number];
    d->branch_tapped[br->number] = false;
    struct journal_window_power *pw = &w->pow[w->npow++];
    pw->ich = (uint8_t)k;
    pw->vch = (uint8_t)(4 + k);
    pw->phase = c->phase;
    pw->branch = (uint16_t)br->number;
    pw->p_mw = llround(sign * ph->p_w * 1000.0);
    pw->q_mvar = llround(sign * ph->q_var * 1000.0);
    pw->s_mva = llround(ph->s_va * 1000.0);
    pw->pf_mpct = (int32_t)llround(sign * ph->pf * 100000.0);
    int64_t cum_nj = llround(sign * ph->energy_j * 1e9);
    int64_t delta = cum_nj - d->energy_prev_nj[a][k];
    d->energy_prev_nj[a][k] = cum_nj;
    int64_t imp = 0, exp = 0;
    ingest_energy_add(&d->energy[br->number], delta, &imp, &exp);
    pw->import_uwh = imp;
    pw->export_uwh = exp;
    w->branches[w->nbranches++] = (uint16_t)br->number;
    d->branch_p_mw[br->number] = pw->p_mw;
    int pol = ingest_polarity_update(&d->polarity[br->number], br->load_only, sign * ph->p_w, sign * ph->q_var, ph->s_va, 5);
    if (pol != INGEST_POL_NONE) {
      pending_pol[npol].branch = (uint16_t)br->number;
      pending_pol[npol].verdict = pol;
      pending_pol[npol].p_mw = pw->p_mw;
      pending_pol[npol].angle = d->polarity[br->number].last_angle_deg;
      pending_pol[npol].pf = d->polarity[br->number].last_pf;
      pending_pol[npol].channel = k;
      npol++;
    }
    d->phase_p_mw[pw->phase] += pw->p_mw;
  }
  d->rms1[a].n = 0; /* the next window's half-cycle extremes start now */
  /* a full disk: metering gives way (run_disk.c) */
  if (!run_disk_drop(d) && run_append(d, &r) == 0) d->windows++;
  if ((int)a == d->pq_afe) run_pq_register(d, &m, w->start_ns + (int64_t)w->duration_us * 1000);
  /* Installation faults after the window that completed their evidence. */
  for (unsigned i = 0; i < npol; i++) {
    char detail[200];
    static const char *const ph[] = { "A", "B", "C" };
    if (pending_pol[i].verdict == INGEST_POL_REVERSED) {
      snprintf(detail, sizeof detail, "load-only branch %u reads %.0f W for 5 windows: sign follows afe %u channel I%s, PF magnitude normal (%.2f, angle %.0f deg)",
               pending_pol[i].branch, pending_pol[i].p_mw / 1000.0, a + 1, ph[pending_pol[i].channel], pending_pol[i].pf, pending_pol[i].angle);
      run_fault(d, "suspected_ct_polarity", pending_pol[i].p_mw, pending_pol[i].branch, detail);
    } else {
      snprintf(detail, sizeof detail, "branch %u current sits %.0f deg from its configured voltage (PF %.2f) for 5 windows: it correlates with another phase",
               pending_pol[i].branch, pending_pol[i].angle, pending_pol[i].pf);
      run_fault(d, "phase_map_mismatch", (int64_t)llround(pending_pol[i].angle), pending_pol[i].branch, detail);
    }
  }
}

/* Every window period: the branch AFEs' windows (the phase totals restart with them). */
void run_meter_tick(struct daemon *d, uint64_t now)
{
  if (now < d->next_window_ns) return;
  memset(d->phase_p_mw, 0, sizeof d->phase_p_mw);
  for (unsigned a = 0; a < d->panel->num_afes; a++) {
    if ((int)a == d->mains) continue;
    if (d->afe_ok[a]) register_window(d, a);
    else run_afe_probe(d, a);
  }
  d->next_window_ns += (uint64_t)d->o.window_ms * 1000000ull;
  run_der_check(d, now);
}
