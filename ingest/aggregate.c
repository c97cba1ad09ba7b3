/*
 * aggregate.c — IEC 61000-4-30 §4.4–4.5 time aggregation of the basic windows, and frequency
 * deviation events.
 *
 * Intervals (each an accumulator of squares; value = sqrt(mean of squares), frequency = cycles
 * / duration):
 *   150/180 cycles  15 consecutive basic windows; restarted at every 10-minute tick (the block
 *                   cut short by the tick is delivered with `partial`);
 *   10 s            clock aligned; frequency only. A 10-s frequency outside nominal ± the
 *                   configured band starts (or extends) a frequency deviation event, delivered
 *                   through pq_event_ext when a 10-s value is back in the band;
 *   10 min          clock aligned (a window belongs to the interval its start falls in), with
 *                   every channel's rms, THD, harmonic and interharmonic groups and subgroups
 *                   (IEC 61000-4-7), u2/u0 and, for a complete interval, each voltage channel's
 *                   Pst from its flickermeter;
 *   2 h             clock aligned, from the 10-minute values; Plt from twelve complete Pst.
 * Flagging: an interval any flagged basic window touches is `flagged` (and still delivered).
 * Complete = the windows start within 0.5 s of the interval's start and end within 0.5 s of
 * its end (the first and last zero crossing, the resampler margin); else `partial`.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define G (INGEST_HARMONICS_MAX + 1)
#define STRIDE (1 + 4 * G)
#define NS_10S 10000000000LL
#define NS_10MIN 600000000000LL
#define NS_2H 7200000000000LL
#define SLACK_NS 500000000LL

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

int ingest__agg_init(struct ingest__agg *a, const struct ingest_config *cfg, const int *vch,
                     unsigned nv, size_t *bytes)
{
  memset(a, 0, sizeof *a);
  a->nch = cfg->nch;
  a->nv = nv;
  for (unsigned i = 0; i < nv; i++) a->vch[i] = vch[i];
  a->f0 = cfg->nominal_hz;
  a->band_hz = cfg->freq_band_pct > 0 ? cfg->nominal_hz * cfg->freq_band_pct / 100.0 : 0.0;
  size_t n = (size_t)cfg->nch * STRIDE;
  a->c150.sq = calloc(n, sizeof(double));
  a->m10.sq = calloc(n, sizeof(double));
  a->h2.sq = calloc(n, sizeof(double));
  a->out = calloc(1, sizeof *a->out);
  if (!a->c150.sq || !a->m10.sq || !a->h2.sq || !a->out) {
    ingest__agg_deinit(a);
    return -ENOMEM;
  }
  *bytes += 3 * n * sizeof(double) + sizeof *a->out;
  return 0;
}

void ingest__agg_deinit(struct ingest__agg *a)
{
  free(a->c150.sq);
  free(a->m10.sq);
  free(a->h2.sq);
  free(a->out);
  a->c150.sq = a->m10.sq = a->h2.sq = NULL;
  a->out = NULL;
}

static void acc_open(struct ingest__acc *c, unsigned nch, int64_t start, int64_t end)
{
  double *sq = c->sq;
  memset(c, 0, sizeof *c);
  c->sq = sq;
  if (sq) memset(sq, 0, sizeof(double) * nch * STRIDE);
  c->open = true;
  c->start_ns = start;
  c->end_ns = end;
  c->first_ns = INT64_MAX;
  c->last_ns = INT64_MIN;
}

static void acc_span(struct ingest__acc *c, int64_t a, int64_t b, double dur, double cycles,
                     bool flagged)
{
  if (a < c->first_ns) c->first_ns = a;
  if (b > c->last_ns) c->last_ns = b;
  c->n++;
  c->dur += dur;
  c->cycles += cycles;
  c->flagged |= flagged;
}

static void acc_window(struct ingest__acc *c, const struct ingest_window *w)
{
  acc_span(c, w->start_ns, w->end_ns, w->duration_s, w->cycles, (w->flags & INGEST_WF_EVENT) != 0);
  if (!c->sq) return;
  for (unsigned ch = 0; ch < w->nch; ch++) {
    const struct ingest_channel_metrics *m = &w->ch[ch];
    double *q = c->sq + (size_t)ch * STRIDE;
    q[0] += m->rms * m->rms;
    for (unsigned h = 0; h < G; h++) {
      q[1 + h] += (double)m->group_rms[h] * m->group_rms[h];
      q[1 + G + h] += (double)m->subgroup_rms[h] * m->subgroup_rms[h];
      q[1 + 2 * G + h] += (double)m->ih_group_rms[h] * m->ih_group_rms[h];
      q[1 + 3 * G + h] += (double)m->ih_subgroup_rms[h] * m->ih_subgroup_rms[h];
    }
  }
  if (w->has_unbalance) {
    c->u2sq += w->u2_pct * w->u2_pct;
    c->u0sq += w->u0_pct * w->u0_pct;
    c->nub++;
  }
}

static void acc_aggregate(struct ingest__acc *c, const struct ingest_pq_aggregate *x)
{
  acc_span(c, x->start_ns, x->end_ns, x->covered_s, x->freq_hz * x->covered_s, x->flagged);
  for (unsigned ch = 0; ch < x->nch; ch++) {
    double *q = c->sq + (size_t)ch * STRIDE;
    q[0] += x->rms[ch] * x->rms[ch];
    for (unsigned h = 0; h < G; h++) {
      q[1 + h] += (double)x->group_rms[ch][h] * x->group_rms[ch][h];
      q[1 + G + h] += (double)x->subgroup_rms[ch][h] * x->subgroup_rms[ch][h];
      q[1 + 2 * G + h] += (double)x->ih_group_rms[ch][h] * x->ih_group_rms[ch][h];
      q[1 + 3 * G + h] += (double)x->ih_subgroup_rms[ch][h] * x->ih_subgroup_rms[ch][h];
    }
  }
  if (x->has_unbalance) {
    c->u2sq += x->u2_pct * x->u2_pct;
    c->u0sq += x->u0_pct * x->u0_pct;
    c->nub++;
  }
  if (x->has_pst && c->npst < 12) {
    for (unsigned i = 0; i < x->nv; i++) c->pst[i][c->npst] = x->pst[i];
    c->npst++;
  }
}

/* Fill a->out from c and deliver it. */
static void acc_emit(struct ingest__engine *E, struct ingest__acc *c, int kind, bool clock)
{
  struct ingest__agg *a = &E->agg;
  struct ingest_pq_aggregate *o = a->out;
  if (!c->open || c->n == 0) { c->open = false; return; }
  memset(o, 0, sizeof *o);
  o->kind = kind;
  o->start_ns = clock ? c->start_ns : c->first_ns;
  o->end_ns = clock ? c->end_ns : c->last_ns;
  o->covered_s = c->dur;
  o->nwin = c->n;
  o->flagged = c->flagged;
  o->partial = c->partial || (clock && (c->first_ns - c->start_ns > SLACK_NS || c->end_ns - c->last_ns > SLACK_NS));
  if (kind == INGEST_AGG_2H && c->n < 12) o->partial = true;
  o->freq_hz = c->dur > 0 ? c->cycles / c->dur : 0.0;
  o->nv = a->nv;
  for (unsigned i = 0; i < a->nv; i++) o->vch[i] = a->vch[i];
  if (c->sq) {
    o->nch = a->nch;
    for (unsigned ch = 0; ch < a->nch; ch++) {
      const double *q = c->sq + (size_t)ch * STRIDE;
      o->rms[ch] = sqrt(q[0] / c->n);
      double d40 = 0;
      for (unsigned h = 0; h < G; h++) {
        o->group_rms[ch][h] = (float)sqrt(q[1 + h] / c->n);
        o->subgroup_rms[ch][h] = (float)sqrt(q[1 + G + h] / c->n);
        o->ih_group_rms[ch][h] = (float)sqrt(q[1 + 2 * G + h] / c->n);
        o->ih_subgroup_rms[ch][h] = (float)sqrt(q[1 + 3 * G + h] / c->n);
        if (h >= 2 && h <= 40) d40 += q[1 + h] / c->n;
      }
      double g1 = o->group_rms[ch][1];
      o->thd_pct[ch] = g1 > 0 ? 100.0 * sqrt(d40) / g1 : 0.0;
    }
    if (c->nub) {
      o->has_unbalance = true;
      o->u2_pct = sqrt(c->u2sq / c->nub);
      o->u0_pct = sqrt(c->u0sq / c->nub);
    }
  }
  if (kind == INGEST_AGG_10MIN && !o->partial && a->pst_valid && a->pst_end_ns == c->end_ns) {
    o->has_pst = true;
    for (unsigned i = 0; i < a->nv; i++) o->pst[i] = a->pst[i];
  }
  if (kind == INGEST_AGG_2H && c->npst == 12) {
    o->has_plt = true;
    for (unsigned i = 0; i < a->nv; i++) o->plt[i] = ingest_flicker_plt(c->pst[i], 12);
  }
  c->open = false;
  if (E->sink_a.aggregate) E->sink_a.aggregate(E->sink.ctx, o);
  if (kind == INGEST_AGG_10MIN) {
    struct ingest__acc *h = &a->h2;
    if (!h->open) acc_open(h, a->nch, floor_div(o->start_ns, NS_2H) * NS_2H, 0);
    h->end_ns = h->start_ns + NS_2H;
    if (o->partial) h->partial = true;
    acc_aggregate(h, o);
  }
}

/* The 10 minutes in m10 are over: close the 2 h before them if they open a new one (the 2 h
 * whose last 10 minutes went missing), and the 2 h they end (IEC 61000-4-30: its value is there
 * at the end of its interval, not when the next 10 minutes close). */
static void emit_10min(struct ingest__engine *E)
{
  struct ingest__agg *a = &E->agg;
  int64_t s = floor_div(a->m10.start_ns, NS_2H) * NS_2H;
  if (a->h2.open && a->h2.start_ns != s) acc_emit(E, &a->h2, INGEST_AGG_2H, true);
  int64_t m10_end = a->m10.end_ns;
  acc_emit(E, &a->m10, INGEST_AGG_10MIN, true);
  if (a->h2.open && m10_end == a->h2.end_ns) acc_emit(E, &a->h2, INGEST_AGG_2H, true);
}

static void freq_event(struct ingest__engine *E, double f, int64_t s, int64_t e, bool flush)
{
  struct ingest__agg *a = &E->agg;
  if (a->band_hz <= 0) return;
  bool out = !flush && fabs(f - a->f0) > a->band_hz;
  if (out) {
    if (!a->fev_active) {
      a->fev_active = true;
      a->fev_start_ns = s;
      a->fev_extreme = f;
    }
    if (fabs(f - a->f0) > fabs(a->fev_extreme - a->f0)) a->fev_extreme = f;
    a->fev_end_ns = e;
    return;
  }
  if (!a->fev_active) return;
  struct ingest_pq_event ev;
  memset(&ev, 0, sizeof ev);
  ev.id = ++E->next_event_id;
  ev.kind = INGEST_PQ_FREQ;
  ev.start_ns = a->fev_start_ns;
  ev.end_ns = a->fev_end_ns;
  ev.duration_s = (double)(a->fev_end_ns - a->fev_start_ns) / 1e9;
  ev.freq_extreme_hz = a->fev_extreme;
  ev.declared_v = E->cfg.pq.declared_v;
  ev.flags = INGEST_PQF_NO_CAPTURE | (flush ? INGEST_PQF_AT_END : 0);
  a->fev_active = false;
  if (E->sink_a.pq_event_ext) E->sink_a.pq_event_ext(E->sink.ctx, &ev);
}

static void close_10s(struct ingest__engine *E)
{
  struct ingest__acc *c = &E->agg.s10;
  if (!c->open || c->n == 0) { c->open = false; return; }
  double f = c->cycles / c->dur;
  acc_emit(E, c, INGEST_AGG_10S, true);
  freq_event(E, f, c->start_ns, c->end_ns, false);
}

void ingest__agg_window(struct ingest__engine *E, const struct ingest_window *w)
{
  struct ingest__agg *a = &E->agg;
  if (!a->out) return;
  int64_t t = w->start_ns;
  int64_t s10 = floor_div(t, NS_10S) * NS_10S, m10 = floor_div(t, NS_10MIN) * NS_10MIN;
  if (a->s10.open && a->s10.start_ns != s10) close_10s(E);
  if (!a->s10.open) acc_open(&a->s10, a->nch, s10, s10 + NS_10S);
  acc_span(&a->s10, w->start_ns, w->end_ns, w->duration_s, w->cycles, (w->flags & INGEST_WF_EVENT) != 0);
  if (a->m10.open && a->m10.start_ns != m10) {
    if (a->c150.open) { a->c150.partial = true; acc_emit(E, &a->c150, INGEST_AGG_CYC150, false); }
    emit_10min(E);
  }
  if (!a->m10.open) acc_open(&a->m10, a->nch, m10, m10 + NS_10MIN);
  acc_window(&a->m10, w);
  if (!a->c150.open) acc_open(&a->c150, a->nch, w->start_ns, w->end_ns);
  acc_window(&a->c150, w);
  if (a->c150.n == 15) acc_emit(E, &a->c150, INGEST_AGG_CYC150, false);
}

void ingest__agg_finish(struct ingest__engine *E)
{
  struct ingest__agg *a = &E->agg;
  if (!a->out) return;
  close_10s(E);
  freq_event(E, 0, 0, 0, true);
  if (a->c150.open) { a->c150.partial = true; acc_emit(E, &a->c150, INGEST_AGG_CYC150, false); }
  if (a->m10.open) emit_10min(E);
  acc_emit(E, &a->h2, INGEST_AGG_2H, true);
}
