/*
 * signature.c — pre-trigger signature rings: per branch, a ring of per-cycle summaries
 * (end time, Σx²·dt, duration, peak) answering "rms, peak and crest factor of the last N
 * cycles ending at or before T" for trip_tap records.
 *
 * The engine feeds every current channel's ring once per reference cycle (positive boundary
 * to positive boundary) from its sample ring; on the register path the caller feeds a
 * standalone ring from the AFE's per-cycle values. Invariants: cap ≥ 1; count ≤ cap; entries
 * are pushed in time order; a query never reads outside the count newest entries.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>

void ingest_sigring_init(struct ingest_sigring *r, struct ingest_sigring_cycle *storage,
                         unsigned cap)
{
  r->cyc = storage;
  r->cap = cap;
  r->head = 0;
  r->count = 0;
}

void ingest_sigring_push(struct ingest_sigring *r, int64_t end_ns, double sum_sq,
                         double duration_s, double peak)
{
  if (!r->cap) return;
  struct ingest_sigring_cycle *c = &r->cyc[r->head];
  c->end_ns = end_ns;
  c->sum_sq = sum_sq;
  c->duration_s = duration_s;
  c->peak = (float)peak;
  r->head = (r->head + 1) % r->cap;
  if (r->count < r->cap) r->count++;
}

int ingest_sigring_query(const struct ingest_sigring *r, int64_t t_ns, unsigned ncycles,
                         struct ingest_signature *out)
{
  memset(out, 0, sizeof *out);
  if (!r->cap || ncycles == 0) return -EINVAL;
  /* newest first: skip cycles ending after t_ns */
  unsigned i = 0;
  for (; i < r->count; i++) {
    const struct ingest_sigring_cycle *c = &r->cyc[(r->head + r->cap - 1 - i) % r->cap];
    if (c->end_ns <= t_ns) break;
  }
  if (i == r->count) return -ENOENT;
  double ss = 0.0, dur = 0.0, pk = 0.0;
  unsigned used = 0;
  int64_t from_ns = 0, to_ns = 0;
  for (; i < r->count && used < ncycles; i++, used++) {
    const struct ingest_sigring_cycle *c = &r->cyc[(r->head + r->cap - 1 - i) % r->cap];
    if (used == 0) to_ns = c->end_ns;
    from_ns = c->end_ns - (int64_t)llround(c->duration_s * 1e9);
    ss += c->sum_sq;
    dur += c->duration_s;
    if (c->peak > pk) pk = c->peak;
  }
  out->cycles = used;
  out->rms = dur > 0 ? sqrt(ss / dur) : 0.0;
  out->peak = pk;
  out->crest = out->rms > 0 ? pk / out->rms : 0.0;
  out->from_ns = from_ns;
  out->to_ns = to_ns;
  return 0;
}

void ingest__signature_cycle(struct ingest__engine *E, double ta, double tb)
{
  const double fs = E->cfg.sample_rate_hz;
  if (tb - ta > 2.0 * fs / E->cfg.nominal_hz) return; /* not a cycle (gap in crossings) */
  int64_t m0 = (int64_t)ceil(ta), m1 = (int64_t)ceil(tb);
  if (m0 < 0 || (uint64_t)m1 > E->n) return;
  int64_t end_ns = ingest__t_ns(E, tb);
  for (unsigned c = 0; c < E->nch; c++) {
    const struct ingest_channel_cfg *cc = &E->cfg.ch[c];
    if (cc->kind != INGEST_KIND_CURRENT) continue;
    const int32_t *rc = E->ring + (size_t)c * E->ring_len;
    double ss = 0.0, pk = 0.0;
    for (int64_t m = m0; m < m1; m++) {
      double x = cc->scale * rc[(uint64_t)m & E->ring_mask] + cc->offset;
      ss += x * x;
      double ax = fabs(x);
      if (ax > pk) pk = ax;
    }
    /* scale the sample sum to the exact cycle length */
    double nsamp = (double)(m1 - m0);
    double dur = (tb - ta) / fs;
    ingest_sigring_push(&E->sig[c], end_ns, nsamp > 0 ? ss / nsamp * dur : 0.0, dur, pk);
  }
}

int ingest_engine_signature(const struct ingest_engine *e, unsigned ch, int64_t t_ns,
                            unsigned ncycles, struct ingest_signature *out)
{
  const struct ingest__engine *E = e->p;
  if (!E || ch >= E->nch) return -EINVAL;
  return ingest_sigring_query(&E->sig[ch], t_ns, ncycles, out);
}
