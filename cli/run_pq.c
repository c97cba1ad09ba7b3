/*
 * run_pq.c — power-quality events as `pq_event` records: from the waveform engine of
 * the mains AFE (IEC 61000-4-30 events with their capture blob, rapid voltage changes and
 * frequency deviations) and, on panels without one, from
 * the reference AFE's latched dip/swell registers, window by window (register path).
 */
#include <math.h>
#include <string.h>
#include "run.h"

static void emit_register_pq(struct daemon *d, int64_t end_ns)
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_PQ_EVENT;
  r.source.kind = JOURNAL_SRC_AFE;
  r.source.index = (uint16_t)(d->pq_afe + 1);
  struct journal_pq_event *pq = &r.body.pq_event;
  pq->afe = (uint16_t)(d->pq_afe + 1);
  pq->kind = d->rpq.kind == INGEST_PQ_SWELL ? JOURNAL_PQ_SWELL : JOURNAL_PQ_DIP;
  pq->flags = 8; /* register path: latched AFE dip/swell registers, window resolution, no capture */
  int n = 0;
  static const char names[3] = { 'A', 'B', 'C' };
  for (int k = 0; k < 3; k++) {
    if (!(d->rpq.phases & (1u << k))) continue;
    pq->phases[n++] = names[k];
    struct journal_pq_phase *ph = &pq->ph[pq->nph++];
    ph->ch = (uint8_t)(4 + k);
    ph->phase = (uint8_t)k;
    ph->min_mv = (int32_t)llround(d->rpq.min_v[k] * 1000.0);
    ph->max_mv = (int32_t)llround(d->rpq.max_v[k] * 1000.0);
  }
  pq->phases[n] = 0;
  pq->start_ns = d->rpq.start_ns;
  double dur_s = (double)(end_ns - d->rpq.start_ns) / 1e9;
  pq->duration_us = (uint64_t)llround(dur_s * 1e6);
  pq->declared_mv = (int32_t)llround(d->panel->nominal_v * 1000.0);
  pq->extreme_mv = (int32_t)llround(d->rpq.extreme_v * 1000.0);
  pq->extreme_mpct = (int32_t)llround(d->rpq.extreme_v / d->panel->nominal_v * 100000.0);
  int cat = ingest_ieee1159_classify(d->rpq.kind, dur_s, d->rpq.extreme_v / d->panel->nominal_v, d->panel->freq_hz);
  const char *cls = ingest_ieee1159_class(cat);
  pq->category = !strcmp(cls, "momentary") ? JOURNAL_IEEE1159_MOMENTARY : !strcmp(cls, "temporary") ? JOURNAL_IEEE1159_TEMPORARY
               : !strcmp(cls, "sustained") ? JOURNAL_IEEE1159_SUSTAINED : JOURNAL_IEEE1159_INSTANTANEOUS;
  if (run_append(d, &r) == 0) d->pq_events++;
}

/* One event per polyphase disturbance from the AFE's own dip/swell detection (DIP_LVL /
 * SWELL_LVL on the one-cycle RMS): it starts at the first window whose read shows a latched
 * flag on any phase and ends at the first window with none. */
void run_pq_register(struct daemon *d, const struct hw_ade9000_metrics *m, int64_t window_end_ns)
{
  unsigned dips = 0, swells = 0;
  for (int k = 0; k < 3; k++) {
    if (m->ph[k].dip) dips |= 1u << k;
    if (m->ph[k].swell) swells |= 1u << k;
  }
  unsigned any = dips | swells;
  if (!d->rpq.active) {
    if (!any) return;
    d->rpq.active = true;
    d->rpq.kind = dips ? INGEST_PQ_DIP : INGEST_PQ_SWELL;
    d->rpq.phases = 0;
    d->rpq.start_ns = window_end_ns - (int64_t)d->o.window_ms * 1000000;
    d->rpq.extreme_v = d->rpq.kind == INGEST_PQ_DIP ? 1e9 : 0;
    for (int k = 0; k < 3; k++) { d->rpq.min_v[k] = 1e9; d->rpq.max_v[k] = 0; }
  }
  if (any) {
    for (int k = 0; k < 3; k++) {
      if (d->rpq.kind == INGEST_PQ_DIP && (dips & (1u << k))) {
        d->rpq.phases |= 1u << k;
        if (m->ph[k].dip_v < d->rpq.min_v[k]) d->rpq.min_v[k] = m->ph[k].dip_v;
        if (m->ph[k].dip_v < d->rpq.extreme_v) d->rpq.extreme_v = m->ph[k].dip_v;
        if (m->ph[k].vrms_v > d->rpq.max_v[k]) d->rpq.max_v[k] = m->ph[k].vrms_v;
      } else if (d->rpq.kind == INGEST_PQ_SWELL && (swells & (1u << k))) {
        d->rpq.phases |= 1u << k;
        if (m->ph[k].swell_v > d->rpq.max_v[k]) d->rpq.max_v[k] = m->ph[k].swell_v;
        if (m->ph[k].swell_v > d->rpq.extreme_v) d->rpq.extreme_v = m->ph[k].swell_v;
        if (m->ph[k].vrms_v < d->rpq.min_v[k]) d->rpq.min_v[k] = m->ph[k].vrms_v;
      }
    }
    return;
  }
  emit_register_pq(d, window_end_ns - (int64_t)d->o.window_ms * 1000000);
  d->rpq.active = false;
}

void run_pq_mains(void *ctx, const struct ingest_pq_event *e)
{
  struct daemon *d = ctx;
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_PQ_EVENT;
  r.source.kind = JOURNAL_SRC_AFE;
  r.source.index = (uint16_t)(d->mains + 1);
  struct journal_pq_event *pq = &r.body.pq_event;
  pq->afe = (uint16_t)(d->mains + 1);
  pq->kind = e->kind == INGEST_PQ_SWELL ? JOURNAL_PQ_SWELL : e->kind == INGEST_PQ_INTERRUPTION ? JOURNAL_PQ_INTERRUPTION
           : e->kind == INGEST_PQ_RVC ? JOURNAL_PQ_RVC : e->kind == INGEST_PQ_FREQ ? JOURNAL_PQ_FREQ : JOURNAL_PQ_DIP;
  const char *cls = ingest_ieee1159_class(e->category);
  pq->category = !strcmp(cls, "momentary") ? JOURNAL_IEEE1159_MOMENTARY : !strcmp(cls, "temporary") ? JOURNAL_IEEE1159_TEMPORARY
               : !strcmp(cls, "sustained") ? JOURNAL_IEEE1159_SUSTAINED : JOURNAL_IEEE1159_INSTANTANEOUS;
  pq->flags = (uint8_t)(e->flags & 0xff);
  size_t pl = strnlen(e->phases, sizeof pq->phases - 1);
  memcpy(pq->phases, e->phases, pl);
  pq->phases[pl] = 0;
  pq->start_ns = e->start_ns;
  pq->duration_us = (uint64_t)llround(e->duration_s * 1e6);
  pq->extreme_mv = (int32_t)llround(e->extreme_v * 1000.0);
  pq->extreme_mpct = (int32_t)llround(e->extreme_pct * 1000.0);
  pq->declared_mv = (int32_t)llround(e->declared_v * 1000.0);
  if (e->kind == INGEST_PQ_RVC) {
    pq->delta_umax_mpct = (int32_t)llround(e->delta_umax_pct * 1000.0);
    pq->delta_uss_mpct = (int32_t)llround(e->delta_uss_pct * 1000.0);
  } else if (e->kind == INGEST_PQ_FREQ) {
    pq->freq_mhz = (uint32_t)llround(e->freq_extreme_hz * 1000.0);
    pq->extreme_mv = pq->extreme_mpct = 0; /* a frequency event has no voltage extreme */
  }
  if (e->kind == INGEST_PQ_RVC || e->kind == INGEST_PQ_FREQ) pq->category = JOURNAL_IEEE1159_NONE;
  for (unsigned i = 0; i < e->nv && pq->nph < 4; i++) {
    struct journal_pq_phase *ph = &pq->ph[pq->nph++];
    ph->ch = (uint8_t)e->vch[i];
    const char *lab = d->icfg.ch[e->vch[i]].phase;
    ph->phase = lab[0] == 'B' ? JOURNAL_PHASE_B : lab[0] == 'C' ? JOURNAL_PHASE_C : JOURNAL_PHASE_A;
    ph->min_mv = (int32_t)llround(e->vmin_v[i] * 1000.0);
    ph->max_mv = (int32_t)llround(e->vmax_v[i] * 1000.0);
  }
  for (unsigned i = 0; i < 8 && e->capture_id; i++)
    if (d->caps[i].id == e->capture_id) memcpy(pq->capture, d->caps[i].hash, 32);
  if (run_append(d, &r) == 0) d->pq_events++;
}
