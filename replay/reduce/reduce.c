/*
 * reduce.c — the fold: derived state and decisions from records alone.
 *
 * Invariants: no clock, I/O, allocation, logging or floating point; only memcpy/memset/memcmp
 * and BLAKE2b. Integer arithmetic everywhere, saturating where a sum could overflow. Every
 * branch of the fold is a function of (state, record) only, and seals are ignored.
 *
 * sense_back, trip_tap and der are the actuators issue's typed bodies (journal.h); their
 * enums map onto the reducer's own (verdict + 1 = enum replay_verdict).
 */
#include <string.h>
#include <sodium/crypto_generichash.h>
#include "reduce.h"

/* ------------------------------------------------------------------ small helpers */

static int64_t sat_add(int64_t a, int64_t b)
{
  if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
  return a + b;
}

static struct replay_branch *branch_of(struct replay_state *s, uint32_t b)
{
  if (b < 1 || b > REPLAY_BRANCHES_MAX) return NULL;
  if (b > s->nbranches) s->nbranches = (uint16_t)b;
  return &s->br[b - 1];
}

/* strlen without libc's string functions (the allowlist is memory functions only). */
static size_t cstr_len(const char *p)
{
  size_t n = 0;
  while (p[n]) n++;
  return n;
}

static int slice_eq(struct journal_slice sl, const char *lit, size_t n)
{
  return sl.len == n && sl.ptr && memcmp(sl.ptr, lit, n) == 0;
}

static void hash128(const uint8_t *parts, size_t n, uint8_t out[16])
{
  crypto_generichash(out, 16, parts, n, NULL, 0);
}

static const char *const verdict_names[] = { "none", "confirmed", "welded", "stuck_open", "leakage",
                                             "no_feedback", "chatter" };

/* ------------------------------------------------------------------ names */

const char *replay_onoff_name(unsigned v)
{
  return v == REPLAY_ON ? "on" : v == REPLAY_OFF ? "off" : "unknown";
}
const char *replay_verdict_name(unsigned v)
{
  return v < sizeof verdict_names / sizeof verdict_names[0] ? verdict_names[v] : "?";
}
const char *replay_command_reason_name(unsigned v)
{
  static const char *const n[] = { "operator", "load_shed", "restore", "demand_response", "interlock", "fail_safe", "remote" };
  return v < sizeof n / sizeof n[0] ? n[v] : "?";
}
const char *replay_refusal_reason_name(unsigned v)
{
  static const char *const n[] = { "backfeed", "breaker_open", "rcd_tripped", "rate_limit", "role", "conflict",
                                   "expired", "unknown_target", "invalid", "interlock" };
  return v < sizeof n / sizeof n[0] ? n[v] : "?";
}

const char *replay_alarm_names(uint32_t bits, char *buf, size_t cap)
{
  static const char *const n[] = { "welded", "ct_polarity", "phase_map", "unexplained_trip", "stale_der", "backfeed_risk" };
  size_t len = 0;
  if (cap) buf[0] = 0;
  for (unsigned i = 0; i < sizeof n / sizeof n[0]; i++) {
    if (!(bits & (1u << i))) continue;
    size_t w = cstr_len(n[i]) + (len ? 1 : 0);
    if (len + w + 1 > cap) break;
    if (len) buf[len++] = ',';
    memcpy(buf + len, n[i], cstr_len(n[i]));
    len += cstr_len(n[i]);
    buf[len] = 0;
  }
  return buf;
}

/* ------------------------------------------------------------------ init */

void replay_state_init(struct replay_state *s)
{
  memset(s, 0, sizeof *s);
  s->reducer_version = REPLAY_REDUCER_VERSION;
  for (int i = 0; i < REPLAY_DER_SOURCES; i++) s->der[i].max_age_ns = REPLAY_DER_MAX_AGE_NS;
}

/* ------------------------------------------------------------------ windows and energy */

static void der_freshness(struct replay_state *s)
{
  uint32_t stale_any = 0;
  s->backfeed_risk = 0;
  for (int i = 0; i < REPLAY_DER_SOURCES; i++) {
    struct replay_der *d = &s->der[i];
    if (!d->seen) continue;
    int old = s->wall_ns - d->last_wall_ns > d->max_age_ns;
    d->stale = (uint8_t)(old || !d->fresh);
    if (d->stale) stale_any = 1;
    if (!d->interlock_ok) s->backfeed_risk = 1;
  }
  if (stale_any) s->alarms |= REPLAY_ALARM_STALE_DER;
  else s->alarms &= ~(uint32_t)REPLAY_ALARM_STALE_DER;
  if (s->backfeed_risk) s->alarms |= REPLAY_ALARM_BACKFEED_RISK;
  else s->alarms &= ~(uint32_t)REPLAY_ALARM_BACKFEED_RISK;
}

static void fold_window(struct replay_state *s, const struct journal_record *r)
{
  const struct journal_window *w = &r->body.window;
  s->windows++;
  unsigned npow = w->npow < JOURNAL_WINDOW_CHANNELS ? w->npow : JOURNAL_WINDOW_CHANNELS;
  for (unsigned i = 0; i < npow; i++) {
    const struct journal_window_power *p = &w->pow[i];
    /* A negative delta is a sign error upstream (CT polarity): it never reduces a total. */
    int64_t imp = p->import_uwh, exp = p->export_uwh;
    int sign_error = imp < 0 || exp < 0;
    if (imp < 0) imp = 0;
    if (exp < 0) exp = 0;
    if (p->phase < REPLAY_PHASES) {
      s->phase_import_uwh[p->phase] = sat_add(s->phase_import_uwh[p->phase], imp);
      s->phase_export_uwh[p->phase] = sat_add(s->phase_export_uwh[p->phase], exp);
    }
    struct replay_branch *b = branch_of(s, p->branch);
    if (!b) continue;
    b->import_uwh = sat_add(b->import_uwh, imp);
    b->export_uwh = sat_add(b->export_uwh, exp);
    b->p_mw = p->p_mw;
    if (sign_error) b->alarms |= REPLAY_ALARM_CT_POLARITY;
    if (p->phase < REPLAY_PHASES) {
      if (b->phase == 0) b->phase = (uint8_t)(p->phase + 1);
      else if (b->phase != p->phase + 1) b->alarms |= REPLAY_ALARM_PHASE_MAP;
    }
  }
  unsigned nch = w->nch < JOURNAL_WINDOW_CHANNELS ? w->nch : JOURNAL_WINDOW_CHANNELS;
  for (unsigned i = 0; i < nch; i++) {
    const struct journal_window_channel *c = &w->ch[i];
    if (c->kind != JOURNAL_CH_CURRENT) continue;
    struct replay_branch *b = branch_of(s, c->branch);
    if (!b) continue;
    b->irms_ma = c->rms_m;
    if (c->rms_m > REPLAY_OVERLOAD_MA || c->max_m > 4 * REPLAY_OVERLOAD_MA) b->evidence_wall_ns = r->wall_ns;
  }
  der_freshness(s);
}

static void fold_fault(struct replay_state *s, const struct journal_record *r)
{
  const struct journal_fault *f = &r->body.fault;
  s->faults++;
  if (slice_eq(f->code, "suspected_ct_polarity", 21)) {
    struct replay_branch *b = branch_of(s, f->branch);
    if (b) b->alarms |= REPLAY_ALARM_CT_POLARITY;
    else s->alarms |= REPLAY_ALARM_CT_POLARITY;
  }
}

/* ------------------------------------------------------------------ request window */

static struct replay_req_entry *req_at(struct replay_state *s, uint32_t i)
{
  return &s->req[(s->req_head + i) % REPLAY_REQ_WINDOW_IDS];
}

/* Ids leave the window when it is full (oldest first) or when older than 24 h of record time;
 * an id that has left is unknown again. */
static void req_prune(struct replay_state *s, int64_t now_ns)
{
  while (s->req_count && now_ns - req_at(s, 0)->wall_ns > REPLAY_REQ_WINDOW_NS) {
    memset(req_at(s, 0), 0, sizeof(struct replay_req_entry));
    s->req_head = (s->req_head + 1) % REPLAY_REQ_WINDOW_IDS;
    s->req_count--;
  }
}

static struct replay_req_entry *req_find(struct replay_state *s, const uint8_t id_hash[16])
{
  for (uint32_t i = s->req_count; i-- > 0;) {
    struct replay_req_entry *e = req_at(s, i);
    if (memcmp(e->id_hash, id_hash, 16) == 0) return e;
  }
  return NULL;
}

static struct replay_req_entry *req_find_seq(struct replay_state *s, uint64_t request_seq)
{
  for (uint32_t i = s->req_count; i-- > 0;) {
    struct replay_req_entry *e = req_at(s, i);
    if (e->request_seq == request_seq) return e;
    if (e->request_seq < request_seq) break;
  }
  return NULL;
}

static struct replay_req_entry *req_push(struct replay_state *s)
{
  if (s->req_count == REPLAY_REQ_WINDOW_IDS) {
    s->req_head = (s->req_head + 1) % REPLAY_REQ_WINDOW_IDS;
    s->req_count--;
  }
  struct replay_req_entry *e = req_at(s, s->req_count++);
  memset(e, 0, sizeof *e);
  return e;
}

/* ------------------------------------------------------------------ decisions */

static void put_le(uint8_t *p, uint64_t v, int n)
{
  for (int i = 0; i < n; i++) { p[i] = (uint8_t)v; v >>= 8; }
}

static void fold_request(struct replay_state *s, const struct journal_record *r, struct replay_effects *out)
{
  const struct journal_request *q = &r->body.request;
  s->requests++;
  struct replay_effect e;
  memset(&e, 0, sizeof e);
  e.target = q->target;
  e.desired = q->desired;
  e.cause_seq = r->seq;
  if (q->request_id.len <= REPLAY_REQUEST_ID_MAX && q->request_id.ptr) {
    e.request_id_len = (uint8_t)q->request_id.len;
    memcpy(e.request_id, q->request_id.ptr, q->request_id.len);
  }
  req_prune(s, r->wall_ns);

  if (q->request_id.len > REPLAY_REQUEST_ID_MAX || q->desired > JOURNAL_DESIRED_ON) {
    e.kind = REPLAY_EFFECT_REFUSAL;
    e.reason = JOURNAL_REF_INVALID;
    goto emit;
  }

  uint8_t id_hash[16], body_hash[16];
  if (q->request_id.len) {
    hash128(q->request_id.ptr, q->request_id.len, id_hash);
    /* The decision-relevant body: a repeat must match all of it to get the stored outcome. */
    uint8_t buf[2 + 1 + 1 + 1 + 8 + 4 + 32];
    size_t il = q->issuer.len < 32 ? q->issuer.len : 32;
    memset(buf, 0, sizeof buf);
    put_le(buf, q->target, 2);
    buf[2] = q->desired;
    buf[3] = q->role;
    buf[4] = q->origin;
    put_le(buf + 5, (uint64_t)q->expiry_ns, 8);
    put_le(buf + 13, q->issuer.len, 4);
    if (il) memcpy(buf + 17, q->issuer.ptr, il);
    hash128(buf, sizeof buf, body_hash);
    struct replay_req_entry *old = req_find(s, id_hash);
    if (old) {
      if (memcmp(old->body_hash, body_hash, 16) == 0) {
        e.kind = REPLAY_EFFECT_REPLY;
        e.stored_kind = old->outcome;
        e.reason = old->reason;
        e.stored_seq = old->request_seq;
        e.stored_outcome_seq = old->outcome_seq;
      } else {
        e.kind = REPLAY_EFFECT_REFUSAL;
        e.reason = JOURNAL_REF_CONFLICT;
      }
      goto emit; /* neither changes the stored entry */
    }
  }

  e.kind = REPLAY_EFFECT_REFUSAL;
  struct replay_branch *b = NULL;
  if (q->target != JOURNAL_TARGET_SERVICE && q->target <= REPLAY_BRANCHES_MAX) b = &s->br[q->target - 1];
  if (q->role == JOURNAL_ROLE_VIEWER ||
      (q->target == JOURNAL_TARGET_SERVICE && q->role != JOURNAL_ROLE_ADMIN && q->role != JOURNAL_ROLE_UTILITY))
    e.reason = JOURNAL_REF_ROLE;
  else if (q->expiry_ns && r->wall_ns > q->expiry_ns)
    e.reason = JOURNAL_REF_EXPIRED;
  else if (q->target != JOURNAL_TARGET_SERVICE && !b)
    e.reason = JOURNAL_REF_UNKNOWN_TARGET;
  else if (b && q->desired == JOURNAL_DESIRED_ON && b->breaker_open)
    e.reason = JOURNAL_REF_BREAKER_OPEN;
  else if (b && q->desired == JOURNAL_DESIRED_ON && b->rcd_tripped)
    e.reason = JOURNAL_REF_RCD_TRIPPED;
  else if (q->target == JOURNAL_TARGET_SERVICE && q->desired == JOURNAL_DESIRED_ON && s->backfeed_risk)
    e.reason = JOURNAL_REF_BACKFEED;
  else {
    e.kind = REPLAY_EFFECT_COMMAND;
    e.reason = q->origin == JOURNAL_ORIGIN_REMOTE ? JOURNAL_CMD_REMOTE
             : q->origin == JOURNAL_ORIGIN_DEMAND_RESPONSE ? JOURNAL_CMD_DEMAND_RESPONSE
             : JOURNAL_CMD_OPERATOR;
  }
  if (q->request_id.len) {
    struct replay_req_entry *n = req_push(s);
    memcpy(n->id_hash, id_hash, 16);
    memcpy(n->body_hash, body_hash, 16);
    n->request_seq = r->seq;
    n->wall_ns = r->wall_ns;
    n->outcome = e.kind;
    n->reason = e.reason;
  }
emit:
  if (out && out->n < REPLAY_EFFECTS_MAX) out->e[out->n++] = e;
}

static void fold_command(struct replay_state *s, const struct journal_record *r)
{
  const struct journal_command *c = &r->body.command;
  s->commands++;
  uint8_t v = c->desired == JOURNAL_DESIRED_ON ? REPLAY_ON : REPLAY_OFF;
  if (c->target == JOURNAL_TARGET_SERVICE) {
    s->service_commanded = v;
    s->service_pending_seq = r->seq;
  } else {
    struct replay_branch *b = branch_of(s, c->target);
    if (b) {
      b->commanded = v;
      b->proven = 0;
      b->pending_seq = r->seq;
      b->last_command_seq = r->seq;
      if (v == REPLAY_ON) b->evidence_wall_ns = r->wall_ns; /* switching on: inrush */
    }
  }
  if (c->cause_seq) {
    struct replay_req_entry *e = req_find_seq(s, c->cause_seq);
    if (e && !e->outcome_seq) e->outcome_seq = r->seq;
  }
}

static void fold_refusal(struct replay_state *s, const struct journal_record *r)
{
  s->refusals++;
  if (r->body.refusal.cause_seq) {
    struct replay_req_entry *e = req_find_seq(s, r->body.refusal.cause_seq);
    if (e && !e->outcome_seq) e->outcome_seq = r->seq;
  }
}

/* ------------------------------------------------------------------ sense-back, taps, DER */

static void fold_sense_back(struct replay_state *s, const struct journal_record *r)
{
  const struct journal_sense_back *sb = &r->body.sense_back;
  s->sense_backs++;
  uint8_t verdict = sb->verdict <= JOURNAL_VERDICT_CHATTER ? (uint8_t)(sb->verdict + 1) : REPLAY_V_NONE;
  uint8_t sensed = sb->sensed == JOURNAL_SENSED_ON ? REPLAY_ON : sb->sensed == JOURNAL_SENSED_OFF ? REPLAY_OFF : REPLAY_UNKNOWN;
  if (sb->target == JOURNAL_TARGET_SERVICE) {
    s->service_pending_seq = 0;
    return;
  }
  struct replay_branch *b = branch_of(s, sb->target);
  if (!b) return;
  if (sensed != REPLAY_UNKNOWN) b->sensed = sensed;
  if (b->pending_seq && (!sb->command_seq || sb->command_seq == b->pending_seq)) b->pending_seq = 0;
  b->proven = verdict == REPLAY_V_CONFIRMED && b->sensed == b->commanded;
  if (verdict == REPLAY_V_CONFIRMED) b->fault = REPLAY_V_NONE;
  else if (verdict != REPLAY_V_NONE) b->fault = verdict;
  if (verdict == REPLAY_V_WELDED) b->alarms |= REPLAY_ALARM_WELDED;
  if (verdict == REPLAY_V_LEAKAGE || sb->inrush_peak_ma > 0) b->evidence_wall_ns = r->wall_ns;
  if (b->sensed == REPLAY_ON) { b->breaker_open = 0; b->rcd_tripped = 0; }
}

static void fold_trip_tap(struct replay_state *s, const struct journal_record *r)
{
  const struct journal_trip_tap *t = &r->body.trip_tap;
  s->trip_taps++;
  struct replay_branch *b = branch_of(s, t->branch);
  if (t->edge == JOURNAL_EDGE_FALLING) { /* the tap is no longer asserted: reset by hand */
    if (t->kind == JOURNAL_TAP_POWER_FAIL) s->grid_present = 2;
    if (b && (t->kind == JOURNAL_TAP_MCB || t->kind == JOURNAL_TAP_AFCI)) b->breaker_open = 0;
    if (b && t->kind == JOURNAL_TAP_RCD) b->rcd_tripped = 0;
    return;
  }
  if (t->kind == JOURNAL_TAP_POWER_FAIL) { s->grid_present = 1; return; }
  if (!b) return;
  if (t->kind == JOURNAL_TAP_LEAKAGE) { b->evidence_wall_ns = r->wall_ns; return; }
  if (t->kind != JOURNAL_TAP_RCD && t->kind != JOURNAL_TAP_MCB && t->kind != JOURNAL_TAP_AFCI) return;
  b->trips++;
  if (t->kind == JOURNAL_TAP_RCD) b->rcd_tripped = 1;
  else b->breaker_open = 1;
  b->sensed = REPLAY_OFF;
  b->proven = 0;
  /* The tap's own pre-trigger signature counts as evidence (overload or a fault current). */
  if (t->rms_ma > REPLAY_OVERLOAD_MA || t->peak_ma > 4 * REPLAY_OVERLOAD_MA) b->evidence_wall_ns = r->wall_ns;
  int explained = b->evidence_wall_ns && r->wall_ns - b->evidence_wall_ns <= REPLAY_TRIP_EVIDENCE_NS;
  if (!explained) b->alarms |= REPLAY_ALARM_UNEXPLAINED_TRIP;
}

static void fold_der(struct replay_state *s, const struct journal_record *r)
{
  const struct journal_der *dr = &r->body.der;
  s->der_updates++;
  if (dr->source >= REPLAY_DER_SOURCES) return;
  struct replay_der *d = &s->der[dr->source];
  d->seen = 1;
  d->last_seq = r->seq;
  d->last_wall_ns = r->wall_ns;
  d->interlock_ok = dr->interlock_ok != 0;
  d->fresh = dr->fresh != 0;
  d->state_code = dr->state;
  if (dr->source == JOURNAL_DER_ATS) {
    s->transfer_state = (uint8_t)(dr->transfer + 1);
    s->grid_present = dr->grid_present ? 2 : 1;
  }
  der_freshness(s);
}

/* ------------------------------------------------------------------ apply */

void replay_apply(struct replay_state *s, const struct journal_record *r, struct replay_effects *out)
{
  if (out) out->n = 0;
  if (r->type == JOURNAL_T_SEAL) return; /* the live fold never sees its own seals */
  s->seq = r->seq;
  s->wall_ns = r->wall_ns;
  s->records++;
  switch (r->type) {
  case JOURNAL_T_BOOT: s->config_version = r->body.boot.config_version; break;
  case JOURNAL_T_CONFIG: s->config_version = r->body.config.config_version; break;
  case JOURNAL_T_WINDOW: fold_window(s, r); break;
  case JOURNAL_T_FAULT: fold_fault(s, r); break;
  case JOURNAL_T_REQUEST: fold_request(s, r, out); break;
  case JOURNAL_T_COMMAND: fold_command(s, r); break;
  case JOURNAL_T_REFUSAL: fold_refusal(s, r); break;
  case JOURNAL_T_SENSE_BACK: fold_sense_back(s, r); break;
  case JOURNAL_T_TRIP_TAP: fold_trip_tap(s, r); break;
  case JOURNAL_T_DER: fold_der(s, r); break;
  default: break; /* note, pq_event, key, retention, actuation: no derived state yet */
  }
}

/* ------------------------------------------------------------------ canonical hash */

/* Serialiser: explicit little-endian, field by field, buffered into BLAKE2b (or counted). */
struct ser {
  crypto_generichash_state st;
  uint8_t buf[512];
  size_t n;
  size_t total;
  int count_only;
};

static void ser_flush(struct ser *w)
{
  if (!w->count_only && w->n) crypto_generichash_update(&w->st, w->buf, w->n);
  w->n = 0;
}
static void ser_u(struct ser *w, uint64_t v, int bytes)
{
  if (w->n + 8 > sizeof w->buf) ser_flush(w);
  put_le(w->buf + w->n, v, bytes);
  w->n += (size_t)bytes;
  w->total += (size_t)bytes;
}
static void ser_b(struct ser *w, const uint8_t *p, size_t len)
{
  if (w->n + len > sizeof w->buf) ser_flush(w);
  memcpy(w->buf + w->n, p, len);
  w->n += len;
  w->total += len;
}
#define U8(v) ser_u(w, (uint64_t)(v), 1)
#define U16(v) ser_u(w, (uint64_t)(v), 2)
#define U32(v) ser_u(w, (uint64_t)(v), 4)
#define U64(v) ser_u(w, (uint64_t)(v), 8)

static void serialise(struct ser *w, const struct replay_state *s)
{
  static const uint8_t tag[16] = "hems.state.v1";
  ser_b(w, tag, sizeof tag);
  U32(s->reducer_version); U32(s->config_version); U64(s->seq); U64(s->wall_ns);
  U64(s->records); U64(s->windows); U64(s->requests); U64(s->commands); U64(s->refusals);
  U64(s->faults); U64(s->sense_backs); U64(s->trip_taps); U64(s->der_updates);
  U16(s->nbranches); U8(s->service_commanded); U8(s->grid_present); U8(s->transfer_state);
  U8(s->backfeed_risk); U32(s->alarms); U64(s->service_pending_seq);
  for (int i = 0; i < REPLAY_PHASES; i++) { U64(s->phase_import_uwh[i]); U64(s->phase_export_uwh[i]); }
  for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) {
    const struct replay_branch *b = &s->br[i];
    U8(b->commanded); U8(b->sensed); U8(b->proven); U8(b->fault); U8(b->breaker_open);
    U8(b->rcd_tripped); U8(b->phase); U32(b->alarms); U32(b->trips); U64(b->import_uwh);
    U64(b->export_uwh); U64(b->p_mw); U32(b->irms_ma); U64(b->pending_seq); U64(b->last_command_seq);
    U64(b->evidence_wall_ns);
  }
  for (int i = 0; i < REPLAY_DER_SOURCES; i++) {
    const struct replay_der *d = &s->der[i];
    U8(d->seen); U8(d->interlock_ok); U8(d->fresh); U8(d->stale); U32(d->state_code);
    U64(d->last_seq); U64(d->last_wall_ns); U64(d->max_age_ns);
  }
  /* The request window in age order (oldest first): only live entries are state. */
  U32(s->req_count);
  for (uint32_t i = 0; i < s->req_count && i < REPLAY_REQ_WINDOW_IDS; i++) {
    const struct replay_req_entry *e = &s->req[(s->req_head + i) % REPLAY_REQ_WINDOW_IDS];
    ser_b(w, e->id_hash, 16); ser_b(w, e->body_hash, 16);
    U64(e->request_seq); U64(e->outcome_seq); U64(e->wall_ns); U8(e->outcome); U8(e->reason);
  }
}

void replay_state_hash(const struct replay_state *s, uint8_t out[32])
{
  struct ser w;
  w.n = 0;
  w.total = 0;
  w.count_only = 0;
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
  serialise(&w, s);
  return w.total;
}
