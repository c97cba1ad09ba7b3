/*
 * pq.c — power-quality events per IEC 61000-4-30 from Urms(1/2), and IEEE 1159 categories.
 *
 * Polyphase rules (thresholds in percent of the declared voltage, all configurable):
 *   dip          starts when any channel's Urms(1/2) < dip (90 %); ends when every channel is
 *                ≥ dip + hysteresis (92 %). Start = start of the Urms(1/2) cycle that crossed;
 *                end = end of the cycle that completed the return.
 *   swell        starts when any > swell (110 %); ends when all ≤ swell − hysteresis (108 %).
 *   interruption starts when all < interruption (10 %); ends when any ≥ interruption +
 *                hysteresis (12 %).
 * One event per polyphase disturbance: an interruption always lies inside a dip (all < 10 %
 * implies any < 90 %), so the dip that contains one or more interruptions is reported once,
 * as kind interruption with the interruption's start and end (first start to last end). A dip
 * and a swell at the same time (one phase low, another high) are two disturbances.
 * Residual = minimum Urms(1/2) of the involved channels during the event; swell magnitude =
 * maximum. A channel whose first Urms(1/2) of the run is already beyond a threshold starts an
 * event flagged INGEST_PQF_AT_START; an event open at the end is closed with INGEST_PQF_AT_END.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

const char *ingest_ieee1159_name(int c)
{
  switch (c) {
  case INGEST_1159_INSTANTANEOUS_SAG: return "instantaneous_sag";
  case INGEST_1159_MOMENTARY_SAG: return "momentary_sag";
  case INGEST_1159_TEMPORARY_SAG: return "temporary_sag";
  case INGEST_1159_UNDERVOLTAGE: return "undervoltage";
  case INGEST_1159_INSTANTANEOUS_SWELL: return "instantaneous_swell";
  case INGEST_1159_MOMENTARY_SWELL: return "momentary_swell";
  case INGEST_1159_TEMPORARY_SWELL: return "temporary_swell";
  case INGEST_1159_OVERVOLTAGE: return "overvoltage";
  case INGEST_1159_MOMENTARY_INTERRUPTION: return "momentary_interruption";
  case INGEST_1159_TEMPORARY_INTERRUPTION: return "temporary_interruption";
  case INGEST_1159_SUSTAINED_INTERRUPTION: return "sustained_interruption";
  default: return "none";
  }
}

const char *ingest_ieee1159_class(int c)
{
  switch (c) {
  case INGEST_1159_INSTANTANEOUS_SAG: case INGEST_1159_INSTANTANEOUS_SWELL: return "instantaneous";
  case INGEST_1159_MOMENTARY_SAG: case INGEST_1159_MOMENTARY_SWELL:
  case INGEST_1159_MOMENTARY_INTERRUPTION: return "momentary";
  case INGEST_1159_TEMPORARY_SAG: case INGEST_1159_TEMPORARY_SWELL:
  case INGEST_1159_TEMPORARY_INTERRUPTION: return "temporary";
  case INGEST_1159_UNDERVOLTAGE: case INGEST_1159_OVERVOLTAGE:
  case INGEST_1159_SUSTAINED_INTERRUPTION: return "sustained";
  default: return "none";
  }
}

int ingest_ieee1159_classify(int kind, double duration_s, double pu, double nominal_hz)
{
  double cyc = duration_s * (nominal_hz > 0 ? nominal_hz : 50.0);
  /* Durations below half a cycle cannot be seen by Urms(1/2); they are reported in the
   * shortest class. The magnitude bands of the table decide nothing further here: an event
   * exists because a threshold was crossed, and the duration picks the class. */
  (void)pu;
  if (kind == INGEST_PQ_INTERRUPTION) {
    if (duration_s <= 3.0) return INGEST_1159_MOMENTARY_INTERRUPTION;
    if (duration_s <= 60.0) return INGEST_1159_TEMPORARY_INTERRUPTION;
    return INGEST_1159_SUSTAINED_INTERRUPTION;
  }
  if (kind == INGEST_PQ_DIP) {
    if (cyc <= 30.0) return INGEST_1159_INSTANTANEOUS_SAG;
    if (duration_s <= 3.0) return INGEST_1159_MOMENTARY_SAG;
    if (duration_s <= 60.0) return INGEST_1159_TEMPORARY_SAG;
    return INGEST_1159_UNDERVOLTAGE;
  }
  if (kind == INGEST_PQ_SWELL) {
    if (cyc <= 30.0) return INGEST_1159_INSTANTANEOUS_SWELL;
    if (duration_s <= 3.0) return INGEST_1159_MOMENTARY_SWELL;
    if (duration_s <= 60.0) return INGEST_1159_TEMPORARY_SWELL;
    return INGEST_1159_OVERVOLTAGE;
  }
  return INGEST_1159_NONE;
}

void ingest__pq_init(struct ingest__pq *pq, const struct ingest_config *cfg, const int *vch,
                     unsigned nv)
{
  memset(pq, 0, sizeof *pq);
  pq->nv = nv;
  for (unsigned i = 0; i < nv; i++) {
    pq->vch[i] = vch[i];
    memcpy(pq->label[i], cfg->ch[vch[i]].phase, INGEST_PHASE_MAX);
    pq->label[i][INGEST_PHASE_MAX - 1] = 0;
    pq->last[i] = NAN;
  }
  double u = cfg->pq.declared_v;
  pq->declared = u;
  pq->dip_thr = u * cfg->pq.dip_pct / 100.0;
  pq->swell_thr = u * cfg->pq.swell_pct / 100.0;
  pq->intr_thr = u * cfg->pq.interruption_pct / 100.0;
  pq->hyst = u * cfg->pq.hysteresis_pct / 100.0;
}

static void kind_start(struct ingest__engine *E, struct ingest__pq_kind_state *k, unsigned v,
                       double urms, double ta, bool first)
{
  struct ingest__pq *pq = &E->pq;
  memset(k, 0, sizeof *k);
  k->active = true;
  k->start_t = ta;
  k->mask = 1u << v;
  k->extreme = urms;
  k->at_start = first;
  for (unsigned i = 0; i < pq->nv; i++) {
    double l = pq->seen[i] ? pq->last[i] : urms;
    k->vmin[i] = k->vmax[i] = l;
  }
  k->capture_id = ingest__capture_start(E, ta, 0);
  k->no_capture = k->capture_id == 0;
  if (!E->ev_active) {
    E->ev_active = true;
    E->ev_active_start = ta;
  }
}

void ingest__phases_string(const struct ingest__pq *pq, uint32_t mask, char *out, size_t cap)
{
  size_t o = 0;
  out[0] = 0;
  for (unsigned i = 0; i < pq->nv; i++) {
    if (!(mask & (1u << i))) continue;
    const char *l = pq->label[i][0] ? pq->label[i] : "?";
    if (strstr(out, l)) continue; /* two channels on one phase label: name it once */
    size_t ll = strlen(l);
    if (o + ll + 1 > cap) break;
    memcpy(out + o, l, ll + 1);
    o += ll;
  }
}

static void kind_emit(struct ingest__engine *E, struct ingest__pq_kind_state *k, int kind,
                      double t_end, bool at_end)
{
  struct ingest__pq *pq = &E->pq;
  struct ingest_pq_event ev;
  memset(&ev, 0, sizeof ev);
  ev.id = ++E->next_event_id;
  ev.kind = kind;
  ev.phase_mask = k->mask;
  ev.start_sample = k->start_t;
  ev.end_sample = t_end;
  ev.extreme_v = k->extreme;
  if (kind == INGEST_PQ_DIP && k->had_intr) {
    ev.kind = INGEST_PQ_INTERRUPTION;
    ev.start_sample = k->intr_start;
    ev.end_sample = k->intr_end;
    ev.extreme_v = k->intr_extreme < k->extreme ? k->intr_extreme : k->extreme;
    ev.phase_mask = (pq->nv >= 32) ? 0xffffffffu : ((1u << pq->nv) - 1u);
  }
  ingest__phases_string(pq, ev.phase_mask, ev.phases, sizeof ev.phases);
  ev.start_ns = ingest__t_ns(E, ev.start_sample);
  ev.end_ns = ingest__t_ns(E, ev.end_sample);
  ev.duration_s = (ev.end_sample - ev.start_sample) / E->cfg.sample_rate_hz;
  ev.declared_v = pq->declared;
  ev.extreme_pct = pq->declared > 0 ? 100.0 * ev.extreme_v / pq->declared : 0.0;
  ev.category = ingest_ieee1159_classify(ev.kind, ev.duration_s, ev.extreme_pct / 100.0,
                                         E->cfg.nominal_hz);
  ev.flags = (k->at_start ? INGEST_PQF_AT_START : 0) | (at_end ? INGEST_PQF_AT_END : 0) |
             (k->no_capture ? INGEST_PQF_NO_CAPTURE : 0);
  ev.capture_id = k->capture_id;
  ev.nv = pq->nv;
  for (unsigned i = 0; i < pq->nv; i++) {
    ev.vch[i] = pq->vch[i];
    ev.vmin_v[i] = k->vmin[i];
    ev.vmax_v[i] = k->vmax[i];
  }
  k->active = false;
  ingest__event_done(E, &ev);
}

static void track(struct ingest__pq_kind_state *k, unsigned v, double urms)
{
  if (urms < k->vmin[v]) k->vmin[v] = urms;
  if (urms > k->vmax[v]) k->vmax[v] = urms;
}

static void update_ev_active(struct ingest__engine *E, double t)
{
  if (E->ev_active && !E->pq.dip.active && !E->pq.swell.active) {
    E->ev_active = false;
    E->ev_last_start = E->ev_active_start;
    E->ev_last_end = t;
  }
}

void ingest__pq_update(struct ingest__engine *E, unsigned v, double urms, double ta, double tb)
{
  struct ingest__pq *pq = &E->pq;
  if (v >= pq->nv || pq->declared <= 0.0) return;
  bool first = !pq->seen[v];
  pq->seen[v] = true;
  pq->last[v] = urms;

  /* dip and interruption */
  struct ingest__pq_kind_state *d = &pq->dip;
  if (!d->active) {
    if (urms < pq->dip_thr) kind_start(E, d, v, urms, ta, first);
  } else {
    if (urms < pq->dip_thr) d->mask |= 1u << v;
    if ((d->mask & (1u << v)) && urms < d->extreme) d->extreme = urms;
    track(d, v, urms);
  }
  if (d->active) {
    bool all_below = true, any_recovered = false;
    for (unsigned i = 0; i < pq->nv; i++) {
      if (!pq->seen[i] || !(pq->last[i] < pq->intr_thr)) all_below = false;
      if (pq->seen[i] && pq->last[i] >= pq->intr_thr + pq->hyst) any_recovered = true;
    }
    if (!pq->intr_active && all_below) {
      pq->intr_active = true;
      if (!d->had_intr) {
        d->had_intr = true;
        d->intr_start = ta;
        d->intr_extreme = urms;
      }
    } else if (pq->intr_active && any_recovered) {
      pq->intr_active = false;
      d->intr_end = tb;
    }
    if (pq->intr_active && urms < d->intr_extreme) d->intr_extreme = urms;
    bool all_ok = true;
    for (unsigned i = 0; i < pq->nv; i++)
      if (pq->seen[i] && pq->last[i] < pq->dip_thr + pq->hyst) all_ok = false;
    if (all_ok) kind_emit(E, d, INGEST_PQ_DIP, tb, false);
  }

  /* swell */
  struct ingest__pq_kind_state *s = &pq->swell;
  if (!s->active) {
    if (urms > pq->swell_thr) kind_start(E, s, v, urms, ta, first);
  } else {
    if (urms > pq->swell_thr) s->mask |= 1u << v;
    if ((s->mask & (1u << v)) && urms > s->extreme) s->extreme = urms;
    track(s, v, urms);
    bool all_ok = true;
    for (unsigned i = 0; i < pq->nv; i++)
      if (pq->seen[i] && pq->last[i] > pq->swell_thr - pq->hyst) all_ok = false;
    if (all_ok) kind_emit(E, s, INGEST_PQ_SWELL, tb, false);
  }
  update_ev_active(E, tb);
}

void ingest__pq_finish(struct ingest__engine *E, double t_end)
{
  struct ingest__pq *pq = &E->pq;
  if (pq->dip.active) {
    if (pq->intr_active) {
      pq->intr_active = false;
      pq->dip.intr_end = t_end;
    }
    kind_emit(E, &pq->dip, INGEST_PQ_DIP, t_end, true);
  }
  if (pq->swell.active) kind_emit(E, &pq->swell, INGEST_PQ_SWELL, t_end, true);
  update_ev_active(E, t_end);
}
