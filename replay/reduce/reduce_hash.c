/*
 * reduce_hash.c — the canonical serialisation of the derived state and its BLAKE2b state hash (reduce_internal.h says how the fold is split).
 */
#include "reduce_internal.h"

/* ------------------------------------------------------------------ canonical hash */

/* Serialiser: explicit little-endian fixed-width stores into a large buffer, handed to BLAKE2b
 * (or counted, or copied out) in big updates. Each section first makes room for its largest
 * size (ROOM), so a field's store checks nothing; the bytes are the same as field by field. */
#define SER_BUF 16384
struct ser {
  crypto_generichash_state st;
  size_t n;
  size_t total;   /* bytes flushed before buf[0] */
  int count_only;
  uint8_t *out;   /* replay_state_serialise: the bytes go here (when they fit in cap) */
  size_t cap;
  uint8_t buf[SER_BUF];
};

static void ser_flush(struct ser *w)
{
  if (w->out) {
    if (w->total + w->n <= w->cap) memcpy(w->out + w->total, w->buf, w->n);
  } else if (!w->count_only && w->n) crypto_generichash_update(&w->st, w->buf, w->n);
  w->total += w->n;
  w->n = 0;
}
static inline void ser_room(struct ser *w, size_t need)
{
  if (w->n + need > SER_BUF) ser_flush(w);
}
static inline void ser_1(struct ser *w, uint64_t v)
{
  w->buf[w->n++] = (uint8_t)v;
}
static inline void ser_2(struct ser *w, uint64_t v)
{
  uint8_t *p = w->buf + w->n;
  p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
  w->n += 2;
}
static inline void ser_4(struct ser *w, uint64_t v)
{
  uint8_t *p = w->buf + w->n;
  p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
  w->n += 4;
}
static inline void ser_8(struct ser *w, uint64_t v)
{
  uint8_t *p = w->buf + w->n;
  p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
  p[4] = (uint8_t)(v >> 32); p[5] = (uint8_t)(v >> 40); p[6] = (uint8_t)(v >> 48); p[7] = (uint8_t)(v >> 56);
  w->n += 8;
}
static inline void ser_b(struct ser *w, const uint8_t *p, size_t len)
{
  memcpy(w->buf + w->n, p, len);
  w->n += len;
}
#define ROOM(b) ser_room(w, (b))
#define U8(v) ser_1(w, (uint64_t)(v))
#define U16(v) ser_2(w, (uint64_t)(v))
#define U32(v) ser_4(w, (uint64_t)(v))
#define U64(v) ser_8(w, (uint64_t)(v))

static void serialise(struct ser *w, const struct replay_state *s)
{
  static const uint8_t tag[16] = "hems.state.v3";
  ROOM(256); /* 194 bytes */
  ser_b(w, tag, sizeof tag);
  U32(s->reducer_version); U32(s->config_version); U64(s->seq); U64(s->wall_ns);
  U64(s->records); U64(s->windows); U64(s->requests); U64(s->commands); U64(s->refusals);
  U64(s->faults); U64(s->sense_backs); U64(s->trip_taps); U64(s->der_updates);
  U16(s->nbranches); U8(s->service_commanded); U8(s->grid_present); U8(s->transfer_state);
  U8(s->backfeed_risk); U32(s->alarms); U64(s->service_pending_seq);
  for (int i = 0; i < REPLAY_PHASES; i++) { U64(s->phase_import_uwh[i]); U64(s->phase_export_uwh[i]); }
  for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) {
    const struct replay_branch *b = &s->br[i];
    ROOM(128); /* 67 */
    U8(b->commanded); U8(b->sensed); U8(b->proven); U8(b->fault); U8(b->breaker_open);
    U8(b->rcd_tripped); U8(b->phase); U32(b->alarms); U32(b->trips); U64(b->import_uwh);
    U64(b->export_uwh); U64(b->p_mw); U32(b->irms_ma); U64(b->pending_seq); U64(b->last_command_seq);
    U64(b->evidence_wall_ns);
  }
  for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) {
    const struct replay_branch *b = &s->br[i];
    ROOM(256); /* 89 + REPLAY_REQUEST_ID_MAX */
    _Static_assert(REPLAY_REQUEST_ID_MAX + 8 * REPLAY_OPS_RING <= 160, "ROOM for a branch's policy part");
    U8(b->want); U8(b->layers); U8(b->priority); U8(b->critical); U8(b->fail_safe); U8(b->exports);
    U8(b->deferred); U8(b->load_v); U8(b->restore_due); U16(b->breaker_a); U8(b->want_id_len); U8(b->ops_head);
    U32(b->shed_ma); U64(b->want_seq);
    ser_b(w, (const uint8_t *)b->want_id, REPLAY_REQUEST_ID_MAX);
    for (int k = 0; k < REPLAY_OPS_RING; k++) U64(b->ops_ns[k]);
  }
  const struct replay_policy *p = &s->pol;
  _Static_assert(REPLAY_ALLOWANCE_LEVELS <= 8, "ROOM for the policy part");
  ROOM(256); /* 68 + 20 per allowance level */
  U8(p->svc_state); U8(p->svc_mode); U8(p->supply_low); U8(p->outage); U8(p->shedding); U8(p->ops_per_min);
  U16(p->service_limit_a); U32(p->load_ma); U32(p->load_permille);
  for (int k = 0; k < REPLAY_ALLOWANCE_LEVELS; k++) { U64(p->over_since_ns[k]); U32(p->level_permille[k]); U64(p->allowance_ns[k]); }
  U64(p->under_since_ns); U64(p->last_close_ns); U64(p->stagger_ns); U64(p->min_under_ns);
  U32(p->restore_permille); U64(p->sheds); U64(p->restores);
  for (int k = 0; k < REPLAY_DR_EVENTS; k++) {
    const struct replay_dr_event *ev = &p->dr[k];
    ROOM(128); /* 66 */
    ser_b(w, ev->id_hash, 16); U8(ev->status); U8(ev->mandatory); U32(ev->modification); U32(ev->reduce_w);
    U64(ev->start_ns); U64(ev->end_ns); U64(ev->branch_mask); U64(ev->applied_mask); U64(ev->request_seq);
  }
  for (int i = 0; i < REPLAY_DER_SOURCES; i++) {
    const struct replay_der *d = &s->der[i];
    ROOM(64); /* 32 */
    U8(d->seen); U8(d->interlock_ok); U8(d->fresh); U8(d->stale); U32(d->state_code);
    U64(d->last_seq); U64(d->last_wall_ns); U64(d->max_age_ns);
  }
  /* The request window in age order (oldest first): only live entries are state. */
  ROOM(8);
  U32(s->req_count);
  for (uint32_t i = 0; i < s->req_count && i < REPLAY_REQ_WINDOW_IDS; i++) {
    const struct replay_req_entry *e = &s->req[(s->req_head + i) % REPLAY_REQ_WINDOW_IDS];
    ROOM(64); /* 58 */
    ser_b(w, e->id_hash, 16); ser_b(w, e->body_hash, 16);
    U64(e->request_seq); U64(e->outcome_seq); U64(e->wall_ns); U8(e->outcome); U8(e->reason);
  }
  if (s->reducer_version >= 5) { /* REPLAY_SER_V5_TAIL */
    ROOM(64); /* 34 */
    U64(s->pol.stable_last_ns); U64(s->pol.stable_for_ns); U64(s->pol.holdoff_ns); U64(s->pol.der_holdoff_ns);
    U8(s->grid_absent); U8(s->pol.holding);
  }
  if (s->reducer_version >= 7) { /* REPLAY_SER_V7_TAIL */
    for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) {
      ROOM(16); /* 11 */
      U8(s->br[i].phase_now); U64(s->br[i].open_wall_ns); U8(s->br[i].der_mismatch); U8(s->br[i].suspect);
    }
  }
  if (s->reducer_version >= 8) { /* REPLAY_SER_V8_TAIL */
    const struct replay_policy *q = &s->pol;
    ROOM(128); /* 72 */
    U32(q->nominal_mv); U16(q->pq_low_permille); U16(q->pq_high_permille); U16(q->pq_hyst_permille);
    U8(q->protecting); U8(q->mains_afe); U8(q->pq_out[0]); U8(q->pq_out[1]); U8(q->pq_out[2]); U8(q->protect_trips);
    U64(q->protect_ns);
    for (int k = 0; k < 3; k++) U64(q->pq_out_for_ns[k]);
    U64(q->pq_ok_for_ns); U64(q->pq_last_ns); U64(q->protect_trip_ns);
    ROOM(REPLAY_BRANCHES_MAX);
    for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) U8(s->br[i].sensitive);
  }
  if (s->reducer_version >= 9) /* the rollup slots (reduce.h REPLAY_SER_V9_SLOT) */
    for (int k = 0; k < 2; k++) {
      const struct replay_rollup_slot *r = &s->roll[k];
      ROOM(32);
      U8(r->open);
      if (!r->open) continue;
      U64(r->start_ns); U64(r->first_seq); U32(r->late_windows);
      for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) {
        const struct replay_rollup_branch *b = &r->br[i];
        ROOM(64); /* 56 */
        U64(b->import_uwh); U64(b->export_uwh); U64(b->p_min_mw); U64(b->p_max_mw); U64(b->p_sum_mw);
        U32(b->windows); U32(b->events); U32(b->trips); U32(b->commands);
      }
      for (int i = 0; i < REPLAY_ROLLUP_PHASES; i++) {
        const struct replay_rollup_phase *ph = &r->ph[i];
        ROOM(32); /* 20 */
        U32(ph->v_min_mv); U32(ph->v_max_mv); U64(ph->v_sum_mv); U32(ph->windows);
      }
    }
  if (s->reducer_version >= 10) { /* REPLAY_SER_V10_TAIL */
    ROOM(80); /* 69 */
    for (int i = 0; i < REPLAY_DER_SOURCES; i++) {
      const struct replay_der *d = &s->der[i];
      U8(d->sunspec); U8(d->cmd_state); U8(d->cmd_action); U16(d->branch); U16(d->cmd_permille); U64(d->cmd_seq);
      U64(d->cmd_wall_ns);
    }
  }
  if (s->reducer_version >= 11) { /* REPLAY_SER_V11_TAIL */
    ROOM(REPLAY_BRANCHES_MAX + 16 + 8 * REPLAY_OPS_RING); /* 121 */
    for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) U8(s->br[i].defer_noted);
    U8(s->pol.ess_permit_line); U8(s->pol.permit); U16(s->pol.ess_branch); U32(s->pol.ess_max_w);
    U8(s->pol.permit_ops_head);
    for (int i = 0; i < REPLAY_OPS_RING; i++) U64(s->pol.permit_ops_ns[i]);
    ROOM(REPLAY_SER_V11_ANALOG); /* REPLAY_SER_V11_ANALOG (reduce_analog.c) */
    U8(s->analog_held);
    for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) U8(s->br[i].analog_held);
  }
}

void replay_state_hash(const struct replay_state *s, uint8_t out[32])
{
  struct ser w;
  w.n = 0;
  w.total = 0;
  w.count_only = 0;
  w.out = NULL;
  crypto_generichash_init(&w.st, NULL, 0, 32);
  serialise(&w, s);
  ser_flush(&w);
  crypto_generichash_final(&w.st, out, 32);
}

size_t replay_state_serialised_len(const struct replay_state *s)
{
  struct ser w;
  w.n = 0;
  w.total = 0;
  w.count_only = 1;
  w.out = NULL;
  serialise(&w, s);
  return w.total + w.n;
}

size_t replay_state_serialise(const struct replay_state *s, uint8_t *out, size_t cap)
{
  struct ser w;
  w.n = 0;
  w.total = 0;
  w.count_only = 1;
  w.out = out;
  w.cap = cap;
  serialise(&w, s);
  ser_flush(&w);
  return w.total;
}
