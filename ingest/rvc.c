/*
 * rvc.c — rapid voltage change detection (IEC 61000-4-30 Ed. 3 §5.11) from Urms(1/2).
 *
 * Per voltage channel a ring keeps the last N = 100 (50 Hz) / 120 (60 Hz) Urms(1/2) values —
 * one second — and their arithmetic mean. A channel is in steady state when all N values lie
 * within the threshold (cfg.rvc_pct of the declared voltage) of that mean.
 *   start   every channel is steady, no dip or swell is in progress, and a new Urms(1/2)
 *           differs from its channel's mean of the N values before it by more than the
 *           threshold. Start = start of that Urms(1/2) cycle; the means at that moment are the
 *           "final means before the RVC".
 *   end     every channel is steady again with the threshold reduced by the hysteresis (cfg.
 *           rvc_hysteresis_pct, default half the threshold). End = start of the steady second
 *           (not before the end of the cycle that started the event).
 *   discard a dip or swell starting while the RVC is in progress makes it a dip/swell, not an
 *           RVC (nothing is reported); detection re-arms only after a steady second.
 * ΔUmax = the largest |Urms(1/2) − mean before| of any channel from start to end detection;
 * ΔUss = the largest |mean after − mean before| of any channel; both in % of the declared
 * voltage. An RVC still open at the end of input is reported with INGEST_PQF_AT_END.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

void ingest__rvc_init(struct ingest__rvc *r, const struct ingest_config *cfg, const int *vch,
                      unsigned nv, unsigned cycles_per_window)
{
  memset(r, 0, sizeof *r);
  double u = cfg->pq.declared_v;
  r->on = cfg->rvc_pct > 0 && u > 0 && nv > 0;
  r->N = cycles_per_window * 10; /* 10 cycles → 100 half cycles a second at 50 Hz, 12 → 120 */
  if (r->N > INGEST__RVC_N_MAX) r->N = INGEST__RVC_N_MAX;
  r->nv = nv;
  for (unsigned i = 0; i < nv; i++) r->vch[i] = vch[i];
  r->declared = u;
  r->thr = u * cfg->rvc_pct / 100.0;
  double h = cfg->rvc_hysteresis_pct >= 0 ? cfg->rvc_hysteresis_pct : cfg->rvc_pct / 2;
  r->thr_end = u * (cfg->rvc_pct - h) / 100.0;
  if (r->thr_end < 0) r->thr_end = 0;
}

static bool steady(const struct ingest__rvc *r, const struct ingest__rvc_ch *c, double lim)
{
  if (c->count < r->N) return false;
  double m = c->sum / r->N;
  for (unsigned k = 0; k < r->N; k++)
    if (fabs(c->v[k] - m) > lim) return false;
  return true;
}

static bool all_steady(const struct ingest__rvc *r, double lim)
{
  for (unsigned i = 0; i < r->nv; i++)
    if (!steady(r, &r->ch[i], lim)) return false;
  return true;
}

static void emit(struct ingest__engine *E, double t_end, bool at_end)
{
  struct ingest__rvc *r = &E->rvc;
  struct ingest_pq_event ev;
  memset(&ev, 0, sizeof ev);
  ev.id = ++E->next_event_id;
  ev.kind = INGEST_PQ_RVC;
  double uss = 0;
  for (unsigned i = 0; i < r->nv; i++) {
    const struct ingest__rvc_ch *c = &r->ch[i];
    double m = c->count ? c->sum / c->count : r->pre_mean[i];
    if (fabs(m - r->pre_mean[i]) > uss) uss = fabs(m - r->pre_mean[i]);
    ev.vch[i] = r->vch[i];
    ev.vmin_v[i] = r->vmin[i];
    ev.vmax_v[i] = r->vmax[i];
  }
  ev.nv = r->nv;
  ev.phase_mask = r->mask;
  ev.start_sample = r->start_t;
  ev.end_sample = t_end < r->min_end ? r->min_end : t_end;
  ev.start_ns = ingest__t_ns(E, ev.start_sample);
  ev.end_ns = ingest__t_ns(E, ev.end_sample);
  ev.duration_s = (ev.end_sample - ev.start_sample) / E->cfg.sample_rate_hz;
  ev.declared_v = r->declared;
  ev.extreme_v = r->dmax_v;
  ev.extreme_pct = 100.0 * r->dmax_v / r->declared;
  ev.delta_umax_pct = 100.0 * r->dmax / r->declared;
  ev.delta_uss_pct = 100.0 * uss / r->declared;
  ev.flags = INGEST_PQF_NO_CAPTURE | (at_end ? INGEST_PQF_AT_END : 0);
  ingest__phases_string(&E->pq, ev.phase_mask, ev.phases, sizeof ev.phases);
  r->active = false;
  if (E->sink_a.pq_event_ext) E->sink_a.pq_event_ext(E->sink.ctx, &ev);
}

void ingest__rvc_update(struct ingest__engine *E, unsigned k, double urms, double ta, double tb)
{
  struct ingest__rvc *r = &E->rvc;
  if (!r->on || k >= r->nv) return;
  struct ingest__rvc_ch *c = &r->ch[k];
  bool dipswell = E->pq.dip.active || E->pq.swell.active;
  if (r->active && dipswell) r->active = false; /* a dip or swell, not an RVC */
  if (!r->active && !dipswell && c->count == r->N && all_steady(r, r->thr) &&
      fabs(urms - c->sum / r->N) > r->thr) {
    r->active = true;
    r->start_t = ta;
    r->min_end = tb;
    r->dmax = 0;
    r->mask = 0;
    for (unsigned i = 0; i < r->nv; i++) {
      r->pre_mean[i] = r->ch[i].sum / r->N;
      r->vmin[i] = r->vmax[i] = r->pre_mean[i];
    }
  }
  /* push into the ring */
  unsigned at = (c->head + c->count) % r->N;
  if (c->count == r->N) {
    c->sum -= c->v[c->head];
    at = c->head;
    c->head = (c->head + 1) % r->N;
  } else {
    c->count++;
  }
  c->v[at] = urms;
  c->ta[at] = ta;
  c->sum += urms;
  if (!r->active) return;
  double d = fabs(urms - r->pre_mean[k]);
  if (d > r->thr) r->mask |= 1u << k;
  if (d > r->dmax) { r->dmax = d; r->dmax_v = urms; }
  if (urms < r->vmin[k]) r->vmin[k] = urms;
  if (urms > r->vmax[k]) r->vmax[k] = urms;
  if (all_steady(r, r->thr_end)) {
    double t_end = -INFINITY;
    for (unsigned i = 0; i < r->nv; i++)
      if (r->ch[i].ta[r->ch[i].head] > t_end) t_end = r->ch[i].ta[r->ch[i].head];
    emit(E, t_end, false);
  }
}

void ingest__rvc_finish(struct ingest__engine *E, double t_end)
{
  if (E->rvc.active) emit(E, t_end, true);
}
