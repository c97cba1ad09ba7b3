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
                                   "expired", "unknown_target", "invalid", "interlock", "mode", "mandatory",
                                   "superseded", "unknown_event" };
  return v < sizeof n / sizeof n[0] ? n[v] : "?";
}
const char *replay_defer_reason_name(unsigned v)
{
  static const char *const n[] = { "accepted", "overridden", "supply_low", "armed" };
  return v < sizeof n / sizeof n[0] ? n[v] : "?";
}
const char *replay_service_state_name(unsigned v)
{
  static const char *const n[] = { "disconnected", "connected", "ready_for_reconnection" };
  return v < sizeof n / sizeof n[0] ? n[v] : "?";
}
const char *replay_dr_status_name(unsigned v)
{
  static const char *const n[] = { "free", "scheduled", "active", "completed", "cancelled", "opted_out" };
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
  struct replay_policy *p = &s->pol;
  p->svc_state = REPLAY_SVC_CONNECTED;
  p->svc_mode = REPLAY_DEFAULT_SERVICE_MODE;
  p->ops_per_min = REPLAY_DEFAULT_OPS_PER_MIN;
  static const uint32_t level[REPLAY_ALLOWANCE_LEVELS] = { 1100, 1250, 1500, 2000 };
  static const int64_t allow_s[REPLAY_ALLOWANCE_LEVELS] = { 300, 60, 10, 2 };
  for (int i = 0; i < REPLAY_ALLOWANCE_LEVELS; i++) {
    p->level_permille[i] = level[i];
    p->allowance_ns[i] = allow_s[i] * 1000000000ll;
  }
  p->stagger_ns = REPLAY_DEFAULT_STAGGER_NS;
  p->min_under_ns = REPLAY_DEFAULT_MIN_UNDER_NS;
  p->restore_permille = REPLAY_DEFAULT_RESTORE_PERMILLE;
  for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) s->br[i].fail_safe = 1; /* closed until a config says */
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
  if (slice_eq(f->code, "supply_low", 10)) s->pol.supply_low = 1;
  else if (slice_eq(f->code, "supply_restored", 15)) s->pol.supply_low = 0;
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

/* ------------------------------------------------------------------ policy: config */

/* A minimal scanner for the panel config's JSON (the `config` record): the fold reads the
 * per-branch policy fields from it. Any malformed input just stops the scan. */
struct jcur { const uint8_t *p, *e; };

static int j_isws(uint8_t c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
static void j_ws(struct jcur *c) { while (c->p < c->e && j_isws(*c->p)) c->p++; }
static int j_peek(struct jcur *c, uint8_t ch) { j_ws(c); return c->p < c->e && *c->p == ch; }

static int j_string(struct jcur *c, const uint8_t **s, uint32_t *n)
{
  j_ws(c);
  if (c->p >= c->e || *c->p != '"') return -1;
  const uint8_t *start = ++c->p;
  while (c->p < c->e && *c->p != '"') c->p += *c->p == '\\' ? 2 : 1;
  if (c->p >= c->e) return -1;
  *s = start;
  *n = (uint32_t)(c->p - start);
  c->p++;
  return 0;
}

static int j_skip(struct jcur *c)
{
  j_ws(c);
  if (c->p >= c->e) return -1;
  const uint8_t *s;
  uint32_t n;
  if (*c->p == '"') return j_string(c, &s, &n);
  if (*c->p == '{' || *c->p == '[') {
    int depth = 0;
    while (c->p < c->e) {
      uint8_t ch = *c->p;
      if (ch == '"') { if (j_string(c, &s, &n)) return -1; continue; }
      if (ch == '{' || ch == '[') depth++;
      else if (ch == '}' || ch == ']') { if (--depth == 0) { c->p++; return 0; } }
      c->p++;
    }
    return -1;
  }
  while (c->p < c->e && *c->p != ',' && *c->p != '}' && *c->p != ']' && !j_isws(*c->p)) c->p++;
  return 0;
}

/* A non-negative integer (a fraction is cut), saturating at 65535. */
static int j_uint(struct jcur *c, uint32_t *out)
{
  j_ws(c);
  uint32_t v = 0;
  int digits = 0;
  while (c->p < c->e && *c->p >= '0' && *c->p <= '9') {
    if (v < 65535) v = v * 10 + (uint32_t)(*c->p - '0');
    c->p++;
    digits++;
  }
  if (!digits) return j_skip(c) ? -1 : 1;
  if (v > 65535) v = 65535;
  *out = v;
  return j_skip(c) < 0 ? -1 : 0; /* the rest of the number */
}

static int j_key(struct jcur *c, const uint8_t **k, uint32_t *kn)
{
  if (j_string(c, k, kn)) return -1;
  if (!j_peek(c, ':')) return -1;
  c->p++;
  return 0;
}

static int key_is(const uint8_t *k, uint32_t kn, const char *lit)
{
  size_t n = cstr_len(lit);
  return kn == n && memcmp(k, lit, n) == 0;
}

static void config_branch(struct replay_state *s, struct jcur *c)
{
  if (!j_peek(c, '{')) { j_skip(c); return; }
  c->p++;
  uint32_t number = 0, priority = 0, breaker = 0;
  int critical = 0, load_only = 1, fail_safe = 1;
  const uint8_t *k;
  uint32_t kn;
  while (!j_peek(c, '}')) {
    if (j_key(c, &k, &kn)) return;
    if (key_is(k, kn, "number")) { if (j_uint(c, &number) < 0) return; }
    else if (key_is(k, kn, "priority")) { if (j_uint(c, &priority) < 0) return; }
    else if (key_is(k, kn, "breaker_a")) { if (j_uint(c, &breaker) < 0) return; }
    else if (key_is(k, kn, "critical") || key_is(k, kn, "load_only")) {
      j_ws(c);
      int v = c->p < c->e && *c->p == 't';
      if (key_is(k, kn, "critical")) critical = v; else load_only = v;
      if (j_skip(c)) return;
    } else if (key_is(k, kn, "fail_safe")) {
      const uint8_t *v;
      uint32_t vn;
      if (j_string(c, &v, &vn)) return;
      fail_safe = key_is(v, vn, "open") ? 0 : key_is(v, vn, "last_proven") ? 2 : 1;
    } else if (j_skip(c)) return;
    if (j_peek(c, ',')) c->p++;
  }
  c->p++;
  struct replay_branch *b = number ? branch_of(s, number) : NULL;
  if (!b) return;
  b->priority = (uint8_t)(priority > 255 ? 255 : priority);
  b->critical = (uint8_t)critical;
  b->fail_safe = (uint8_t)fail_safe;
  b->breaker_a = (uint16_t)breaker;
  if (!load_only) b->exports = 1;
}

static void fold_config_json(struct replay_state *s, struct journal_slice json)
{
  if (!json.ptr || !json.len) return;
  struct jcur c = { json.ptr, json.ptr + json.len };
  if (!j_peek(&c, '{')) return;
  c.p++;
  const uint8_t *k;
  uint32_t kn;
  while (!j_peek(&c, '}')) {
    if (j_key(&c, &k, &kn)) return;
    if (key_is(k, kn, "service_limit_a")) {
      uint32_t v = 0;
      if (j_uint(&c, &v) < 0) return;
      s->pol.service_limit_a = (uint16_t)v;
    } else if (key_is(k, kn, "branches") && j_peek(&c, '[')) {
      c.p++;
      while (!j_peek(&c, ']')) {
        const uint8_t *before = c.p;
        config_branch(s, &c);
        if (j_peek(&c, ',')) c.p++;
        if (c.p == before || c.p >= c.e) return;
      }
      c.p++;
    } else if (j_skip(&c)) return;
    if (j_peek(&c, ',')) c.p++;
    if (c.p >= c.e) return;
  }
}

/* ------------------------------------------------------------------ policy: arbitration */

static uint8_t held_of(const struct replay_branch *b) { return b->commanded ? b->commanded : b->sensed; }

/* Effective demand: OFF if any layer demands it, else the operator's `want` (UNKNOWN: leave). */
static uint8_t desired_of(const struct replay_branch *b) { return b->layers ? REPLAY_OFF : b->want; }

/* A time-bounded or safety layer takes the branch: remember what to revert to. */
static void layer_set(struct replay_branch *b, uint8_t bit)
{
  if (!b->layers && b->want == REPLAY_UNKNOWN) b->want = held_of(b) == REPLAY_OFF ? REPLAY_OFF : REPLAY_ON;
  b->layers |= bit;
}

static void layer_clear(struct replay_branch *b, uint8_t bits)
{
  if ((b->layers & bits) && !(b->layers & (uint8_t)~bits)) b->restore_due = 1;
  b->layers &= (uint8_t)~bits;
}

static int ats_isolating(const struct replay_state *s)
{
  const struct replay_der *a = &s->der[JOURNAL_DER_ATS];
  return a->seen && a->interlock_ok && s->transfer_state == JOURNAL_XFER_BACKUP + 1;
}

/* Would closing branch b backfeed? The grid is absent and the branch exports (a DER behind it:
 * anti-islanding) or no transfer switch isolates the house; or its load side is live while it
 * is open. */
static int would_backfeed(const struct replay_state *s, const struct replay_branch *b)
{
  if (s->grid_present == 1 && (b->exports || (s->der[JOURNAL_DER_ATS].seen && !ats_isolating(s)))) return 1;
  return b->load_v && held_of(b) == REPLAY_OFF;
}

/* The interlock that refuses a close of b, or -1. */
static int close_interlock(const struct replay_state *s, const struct replay_branch *b)
{
  if (b->breaker_open) return JOURNAL_REF_BREAKER_OPEN;
  if (b->rcd_tripped) return JOURNAL_REF_RCD_TRIPPED;
  if (would_backfeed(s, b)) return JOURNAL_REF_BACKFEED;
  return -1;
}

static int rate_limited(const struct replay_state *s, const struct replay_branch *b, int64_t now)
{
  unsigned n = 0;
  for (int i = 0; i < REPLAY_OPS_RING; i++)
    if (b->ops_ns[i] && now - b->ops_ns[i] < 60ll * 1000000000ll) n++;
  return s->pol.ops_per_min && n >= s->pol.ops_per_min;
}

static void emit(struct replay_effects *out, const struct replay_effect *e)
{
  if (out->n < REPLAY_EFFECTS_MAX) out->e[out->n++] = *e;
}

static int targeted(const struct replay_effects *out, uint16_t target)
{
  for (uint32_t i = 0; i < out->n; i++)
    if (out->e[i].target == target && (out->e[i].kind == REPLAY_EFFECT_COMMAND)) return 1;
  return 0;
}

/* ------------------------------------------------------------------ policy: demand response */

static void dr_recompute(struct replay_state *s)
{
  for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) layer_clear(&s->br[i], REPLAY_LAYER_DR);
  for (int k = 0; k < REPLAY_DR_EVENTS; k++) {
    const struct replay_dr_event *ev = &s->pol.dr[k];
    if (ev->status != REPLAY_DR_ACTIVE) continue;
    for (int i = 0; i < REPLAY_BRANCHES_MAX; i++)
      if (ev->applied_mask & (1ull << i)) layer_set(&s->br[i], REPLAY_LAYER_DR);
  }
}

/* Activation: the branch set as asked, or for a kW target the lowest-priority non-critical
 * branches that draw power, until their last window power covers the reduction. */
static void dr_activate(struct replay_state *s, struct replay_dr_event *ev)
{
  uint64_t mask = ev->branch_mask;
  if (ev->reduce_w) {
    int64_t sum_mw = 0, goal_mw = (int64_t)ev->reduce_w * 1000;
    for (unsigned prio = 0; prio < 256 && sum_mw < goal_mw; prio++)
      for (int i = 0; i < REPLAY_BRANCHES_MAX && sum_mw < goal_mw; i++) {
        const struct replay_branch *b = &s->br[i];
        if (b->priority != prio || b->critical || held_of(b) == REPLAY_OFF || b->p_mw <= 0) continue;
        mask |= 1ull << i;
        sum_mw += b->p_mw;
      }
  }
  ev->applied_mask = 0;
  for (int i = 0; i < REPLAY_BRANCHES_MAX; i++)
    if ((mask & (1ull << i)) && !s->br[i].critical) ev->applied_mask |= 1ull << i;
  ev->status = REPLAY_DR_ACTIVE;
}

static void dr_update(struct replay_state *s, int64_t now)
{
  int changed = 0;
  for (int k = 0; k < REPLAY_DR_EVENTS; k++) {
    struct replay_dr_event *ev = &s->pol.dr[k];
    if (ev->status == REPLAY_DR_SCHEDULED && now >= ev->start_ns) {
      if (now >= ev->end_ns) ev->status = REPLAY_DR_COMPLETED;
      else dr_activate(s, ev);
      changed = 1;
    } else if (ev->status == REPLAY_DR_ACTIVE && now >= ev->end_ns) {
      ev->status = REPLAY_DR_COMPLETED;
      changed = 1;
    }
  }
  if (changed) dr_recompute(s);
}

static struct replay_dr_event *dr_find(struct replay_state *s, const uint8_t id_hash[16])
{
  for (int k = 0; k < REPLAY_DR_EVENTS; k++)
    if (s->pol.dr[k].status != REPLAY_DR_FREE && memcmp(s->pol.dr[k].id_hash, id_hash, 16) == 0) return &s->pol.dr[k];
  return NULL;
}

/* A free slot, else the ended event started longest ago. */
static struct replay_dr_event *dr_slot(struct replay_state *s)
{
  struct replay_dr_event *best = NULL;
  for (int k = 0; k < REPLAY_DR_EVENTS; k++) {
    struct replay_dr_event *ev = &s->pol.dr[k];
    if (ev->status == REPLAY_DR_FREE) return ev;
    if (ev->status == REPLAY_DR_SCHEDULED || ev->status == REPLAY_DR_ACTIVE) continue;
    if (!best || ev->request_seq < best->request_seq) best = ev;
  }
  return best;
}

/* ------------------------------------------------------------------ policy: load control */

/* Per-phase sum of branch currents, leaving out branches being shed (their relay opens). */
static int32_t phase_loads(const struct replay_state *s, int64_t ph[REPLAY_PHASES])
{
  for (int i = 0; i < REPLAY_PHASES; i++) ph[i] = 0;
  for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) {
    const struct replay_branch *b = &s->br[i];
    if (!b->phase || b->irms_ma <= 0 || (b->layers && held_of(b) == REPLAY_OFF)) continue;
    if (b->layers & REPLAY_LAYER_SHED) continue;
    ph[b->phase - 1] += b->irms_ma;
  }
  int64_t m = 0;
  for (int i = 0; i < REPLAY_PHASES; i++) if (ph[i] > m) m = ph[i];
  return m > INT32_MAX ? INT32_MAX : (int32_t)m;
}

static void limiter(struct replay_state *s, const struct journal_record *r)
{
  struct replay_policy *p = &s->pol;
  int64_t now = r->wall_ns, dur = (int64_t)r->body.window.duration_us * 1000;
  int64_t ph[REPLAY_PHASES];
  p->load_ma = phase_loads(s, ph);
  if (!p->service_limit_a) return;
  int64_t limit_ma = (int64_t)p->service_limit_a * 1000;
  p->load_permille = (uint32_t)(p->load_ma / p->service_limit_a);
  int trip = 0;
  for (int k = 0; k < REPLAY_ALLOWANCE_LEVELS; k++) {
    if (p->load_permille >= p->level_permille[k]) {
      if (!p->over_since_ns[k]) p->over_since_ns[k] = now - dur; /* the window's start */
      /* shed before the allowance runs out: the next window may come too late */
      if (now + dur - p->over_since_ns[k] >= p->allowance_ns[k]) trip = 1;
    } else {
      p->over_since_ns[k] = 0;
    }
  }
  if (trip) p->shedding = 1;
  if (p->shedding) {
    /* lowest priority first (then the highest number), on the overloaded phases, never a
     * critical or fail-closed branch (fail_safe "closed": it must stay on whatever happens) */
    for (;;) {
      int worst = 0;
      for (int i = 1; i < REPLAY_PHASES; i++) if (ph[i] > ph[worst]) worst = i;
      if (ph[worst] < limit_ma) break;
      struct replay_branch *pick = NULL;
      for (int i = REPLAY_BRANCHES_MAX; i-- > 0;) {
        struct replay_branch *b = &s->br[i];
        if (b->critical || b->fail_safe == 1 || b->phase != worst + 1 || b->irms_ma <= 0 || (b->layers & REPLAY_LAYER_SHED)) continue;
        if (held_of(b) == REPLAY_OFF) continue;
        if (!pick || b->priority < pick->priority) pick = b;
      }
      if (!pick) break;
      layer_set(pick, REPLAY_LAYER_SHED);
      pick->shed_ma = pick->irms_ma;
      ph[worst] -= pick->irms_ma;
      p->sheds++;
    }
    p->shedding = 0;
    for (int k = 0; k < REPLAY_ALLOWANCE_LEVELS; k++) p->over_since_ns[k] = 0;
    p->under_since_ns = 0;
    return;
  }
  /* restore: the highest-priority shed branch, when it fits under the restore threshold for
   * min_under, one per stagger (hysteresis: 100 % sheds, restore_permille restores) */
  struct replay_branch *cand = NULL;
  for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) {
    struct replay_branch *b = &s->br[i];
    if (!(b->layers & REPLAY_LAYER_SHED)) continue;
    if (!cand || b->priority > cand->priority) cand = b;
  }
  if (!cand) { p->under_since_ns = 0; return; }
  int64_t after = (cand->phase ? ph[cand->phase - 1] : p->load_ma) + cand->shed_ma;
  if (after * 1000 > (int64_t)p->restore_permille * limit_ma) { p->under_since_ns = 0; return; }
  if (!p->under_since_ns) p->under_since_ns = now;
  if (now - p->under_since_ns < p->min_under_ns) return;
  if (p->last_close_ns && now - p->last_close_ns < p->stagger_ns) return;
  layer_clear(cand, REPLAY_LAYER_SHED);
  cand->shed_ma = 0;
  p->under_since_ns = 0;
  p->restores++;
}

/* ------------------------------------------------------------------ policy: issue */

/* After every input record: outage fail-safe, DR periods, the limiter (windows), then one
 * command per branch whose effective demand differs from what it holds. Opens go at once;
 * closes pass the interlocks and run as a rolling sequence (one per stagger). Nothing is
 * commanded while the supply is too low: it waits for the restore. */
static void reconcile(struct replay_state *s, const struct journal_record *r, struct replay_effects *out)
{
  struct replay_policy *p = &s->pol;
  int64_t now = r->wall_ns;
  if (s->grid_present == 1 && !p->outage) {
    p->outage = 1;
    for (int i = 0; i < REPLAY_BRANCHES_MAX; i++)
      if (s->br[i].fail_safe == 0 && held_of(&s->br[i]) == REPLAY_ON) layer_set(&s->br[i], REPLAY_LAYER_FAIL_SAFE);
  } else if (s->grid_present == 2 && p->outage) {
    p->outage = 0;
    for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) layer_clear(&s->br[i], REPLAY_LAYER_FAIL_SAFE);
  }
  dr_update(s, now);
  if (r->type == JOURNAL_T_WINDOW) limiter(s, r);
  if (p->supply_low) return;
  int closed = 0, any = 0;
  for (unsigned n = 0; n < REPLAY_BRANCHES_MAX && !any; n++)
    any = s->br[n].layers || s->br[n].deferred || s->br[n].restore_due;
  if (!any) return;
  /* opens lowest priority first, closes highest priority first */
  uint8_t order[REPLAY_BRANCHES_MAX];
  for (unsigned i = 0; i < REPLAY_BRANCHES_MAX; i++) {
    unsigned j = i;
    uint8_t key = s->br[i].layers ? s->br[i].priority : (uint8_t)(255 - s->br[i].priority);
    while (j > 0) {
      const struct replay_branch *o = &s->br[order[j - 1]];
      uint8_t ok = o->layers ? o->priority : (uint8_t)(255 - o->priority);
      if (ok <= key) break;
      order[j] = order[j - 1];
      j--;
    }
    order[j] = (uint8_t)i;
  }
  for (unsigned k = 0; k < REPLAY_BRANCHES_MAX && out->n < REPLAY_EFFECTS_MAX; k++) {
    unsigned n = order[k] + 1u;
    struct replay_branch *b = &s->br[n - 1];
    if (!b->layers && !b->deferred && !b->restore_due) continue; /* the operator's own commands are direct */
    uint8_t d = desired_of(b);
    if (d == REPLAY_UNKNOWN) { b->restore_due = 0; continue; }
    if (d == held_of(b)) { b->deferred = 0; b->restore_due = 0; continue; }
    if (targeted(out, (uint16_t)n)) continue;
    struct replay_effect e;
    memset(&e, 0, sizeof e);
    e.kind = REPLAY_EFFECT_COMMAND;
    e.target = (uint16_t)n;
    e.cause_seq = r->seq;
    if (d == REPLAY_OFF) {
      e.desired = JOURNAL_DESIRED_OFF;
      e.reason = (b->layers & REPLAY_LAYER_FAIL_SAFE) ? JOURNAL_CMD_FAIL_SAFE
               : (b->layers & REPLAY_LAYER_SHED) ? JOURNAL_CMD_LOAD_SHED
               : (b->layers & REPLAY_LAYER_DR) ? JOURNAL_CMD_DEMAND_RESPONSE : JOURNAL_CMD_OPERATOR;
    } else {
      if (close_interlock(s, b) >= 0) continue;  /* stays pending until the interlock clears */
      if (closed || (p->last_close_ns && now - p->last_close_ns < p->stagger_ns)) continue;
      closed = 1;
      p->last_close_ns = now;
      e.desired = JOURNAL_DESIRED_ON;
      e.reason = JOURNAL_CMD_RESTORE;
    }
    if (b->deferred && b->want_seq) {
      /* the operator's request that waited (supply too low) runs now, under its own id */
      e.cause_seq = b->want_seq;
      e.reason = JOURNAL_CMD_OPERATOR;
      e.request_id_len = b->want_id_len;
      memcpy(e.request_id, b->want_id, b->want_id_len);
      b->deferred = 0;
    }
    b->restore_due = 0;
    emit(out, &e);
  }
}

/* ------------------------------------------------------------------ policy: requests */

static void decide_switch(struct replay_state *s, const struct journal_record *r, struct replay_effect *e)
{
  const struct journal_request *q = &r->body.request;
  struct replay_branch *b = q->target <= REPLAY_BRANCHES_MAX ? &s->br[q->target - 1] : NULL;
  e->kind = REPLAY_EFFECT_REFUSAL;
  int il;
  if (q->role == JOURNAL_ROLE_VIEWER) { e->reason = JOURNAL_REF_ROLE; return; }
  if (q->expiry_ns && r->wall_ns > q->expiry_ns) { e->reason = JOURNAL_REF_EXPIRED; return; }
  if (!b) { e->reason = JOURNAL_REF_UNKNOWN_TARGET; return; }
  if (q->desired == JOURNAL_DESIRED_ON && (il = close_interlock(s, b)) >= 0) { e->reason = (uint8_t)il; return; }
  if (rate_limited(s, b, r->wall_ns)) { e->reason = JOURNAL_REF_RATE_LIMIT; return; }
  branch_of(s, q->target);
  b->want = q->desired == JOURNAL_DESIRED_ON ? REPLAY_ON : REPLAY_OFF;
  b->want_seq = r->seq;
  b->want_id_len = e->request_id_len;
  memset(b->want_id, 0, sizeof b->want_id);
  memcpy(b->want_id, e->request_id, e->request_id_len);
  b->deferred = 0;
  if (s->pol.supply_low) {
    b->deferred = 1;
    e->kind = REPLAY_EFFECT_DEFERRED;
    e->reason = REPLAY_DEFER_SUPPLY_LOW;
  } else if (q->desired == JOURNAL_DESIRED_ON && b->layers) {
    e->kind = REPLAY_EFFECT_DEFERRED;
    e->reason = REPLAY_DEFER_OVERRIDDEN;
  } else {
    e->kind = REPLAY_EFFECT_COMMAND;
    e->reason = q->origin == JOURNAL_ORIGIN_REMOTE ? JOURNAL_CMD_REMOTE
              : q->origin == JOURNAL_ORIGIN_DEMAND_RESPONSE ? JOURNAL_CMD_DEMAND_RESPONSE : JOURNAL_CMD_OPERATOR;
  }
}

static int mode_in(unsigned mode, const char *set)
{
  for (; *set; set++) if ((unsigned)(*set - '0') == mode) return 1;
  return 0;
}

/* COSEM class 70 (facts: transitions a..h, modes 0..6). Utility/admin act remotely (a..d);
 * `confirm` is the local press (e, h): an operator's, or the panel's button. Manual disconnect
 * (f, g) is a local mechanical action outside the fold. */
static void decide_service(struct replay_state *s, const struct journal_record *r, unsigned action,
                           struct replay_effect *e)
{
  const struct journal_request *q = &r->body.request;
  struct replay_policy *p = &s->pol;
  int remote = q->role == JOURNAL_ROLE_UTILITY || q->role == JOURNAL_ROLE_ADMIN;
  unsigned m = p->svc_mode;
  e->target = JOURNAL_TARGET_SERVICE;
  e->kind = REPLAY_EFFECT_REFUSAL;
  if (q->role == JOURNAL_ROLE_VIEWER || (action != JOURNAL_SVC_CONFIRM && !remote)) {
    e->reason = JOURNAL_REF_ROLE;
    return;
  }
  if (q->expiry_ns && r->wall_ns > q->expiry_ns) { e->reason = JOURNAL_REF_EXPIRED; return; }
  int backfeed = s->backfeed_risk || (s->grid_present == 1 && s->der[JOURNAL_DER_ATS].seen && !ats_isolating(s));
  switch (action) {
  case JOURNAL_SVC_DISCONNECT:
    e->desired = JOURNAL_DESIRED_OFF;
    if (m == 0) { e->reason = JOURNAL_REF_MODE; return; }
    p->svc_state = REPLAY_SVC_DISCONNECTED;                 /* b, c (or held) */
    e->reason = JOURNAL_CMD_REMOTE;
    e->kind = REPLAY_EFFECT_COMMAND;
    return;
  case JOURNAL_SVC_RECONNECT:
    e->desired = JOURNAL_DESIRED_ON;
    if (backfeed) { e->reason = JOURNAL_REF_BACKFEED; return; }
    if (p->svc_state != REPLAY_SVC_CONNECTED && !mode_in(m, "024")) {
      p->svc_state = REPLAY_SVC_READY;                      /* d: arm only */
      e->kind = REPLAY_EFFECT_DEFERRED;
      e->reason = REPLAY_DEFER_ARMED;
      return;
    }
    p->svc_state = REPLAY_SVC_CONNECTED;                    /* a (or held) */
    e->kind = REPLAY_EFFECT_COMMAND;
    e->reason = JOURNAL_CMD_REMOTE;
    return;
  case JOURNAL_SVC_CONFIRM:
    e->desired = JOURNAL_DESIRED_ON;
    if (p->svc_state == REPLAY_SVC_DISCONNECTED) { e->reason = JOURNAL_REF_MODE; return; } /* not armed */
    if (backfeed) { e->reason = JOURNAL_REF_BACKFEED; return; }
    p->svc_state = REPLAY_SVC_CONNECTED;                    /* e / h (or held) */
    e->kind = REPLAY_EFFECT_COMMAND;
    e->reason = JOURNAL_CMD_OPERATOR;
    return;
  case JOURNAL_SVC_SET_MODE:
    if (q->control_mode > 6) { e->reason = JOURNAL_REF_INVALID; return; }
    p->svc_mode = q->control_mode;
    if (m != 0 && q->control_mode == 0 && p->svc_state != REPLAY_SVC_CONNECTED && !backfeed) {
      p->svc_state = REPLAY_SVC_CONNECTED;                  /* mode 0: always connected */
      e->kind = REPLAY_EFFECT_COMMAND;
      e->desired = JOURNAL_DESIRED_ON;
      e->reason = JOURNAL_CMD_REMOTE;
      return;
    }
    e->kind = REPLAY_EFFECT_DEFERRED;
    e->reason = REPLAY_DEFER_ACCEPTED;
    return;
  default:
    e->reason = JOURNAL_REF_INVALID;
  }
}

static void decide_dr(struct replay_state *s, const struct journal_record *r, struct replay_effect *e)
{
  const struct journal_request *q = &r->body.request;
  int utility = q->role == JOURNAL_ROLE_UTILITY || q->role == JOURNAL_ROLE_ADMIN;
  e->kind = REPLAY_EFFECT_REFUSAL;
  if (q->role == JOURNAL_ROLE_VIEWER || (q->kind != JOURNAL_REQ_DR_OPT_OUT && !utility)) { e->reason = JOURNAL_REF_ROLE; return; }
  if (q->expiry_ns && r->wall_ns > q->expiry_ns) { e->reason = JOURNAL_REF_EXPIRED; return; }
  if (!q->event.len || !q->event.ptr) { e->reason = JOURNAL_REF_INVALID; return; }
  uint8_t id[16];
  hash128(q->event.ptr, q->event.len, id);
  struct replay_dr_event *ev = dr_find(s, id);
  if (q->kind == JOURNAL_REQ_DR_START) {
    if (!q->duration_ns || q->duration_ns > (uint64_t)INT64_MAX / 2 || (!q->reduce_w && !q->branch_mask)) {
      e->reason = JOURNAL_REF_INVALID;
      return;
    }
    if (ev && q->modification < ev->modification) { e->reason = JOURNAL_REF_SUPERSEDED; return; }
    if (ev && q->modification == ev->modification) {
      e->kind = REPLAY_EFFECT_REPLY;                        /* equal: the stored reply again */
      e->stored_kind = REPLAY_EFFECT_DEFERRED;
      e->reason = REPLAY_DEFER_ACCEPTED;
      e->stored_seq = ev->request_seq;
      return;
    }
    if (!ev && !(ev = dr_slot(s))) { e->reason = JOURNAL_REF_INVALID; return; }
    memset(ev, 0, sizeof *ev);
    memcpy(ev->id_hash, id, 16);
    ev->status = REPLAY_DR_SCHEDULED;
    ev->mandatory = q->mandatory != 0;
    ev->modification = q->modification;
    ev->reduce_w = q->reduce_w;
    ev->branch_mask = q->branch_mask;
    ev->start_ns = q->start_ns ? q->start_ns : q->dtstart_ns ? q->dtstart_ns : r->wall_ns;
    ev->end_ns = ev->start_ns + (int64_t)q->duration_ns;
    ev->request_seq = r->seq;
    dr_recompute(s);                                        /* a replaced active event lets go */
  } else {
    if (!ev) { e->reason = JOURNAL_REF_UNKNOWN_EVENT; return; }
    if (q->kind == JOURNAL_REQ_DR_OPT_OUT && ev->mandatory) { e->reason = JOURNAL_REF_MANDATORY; return; }
    if (ev->status == REPLAY_DR_SCHEDULED || ev->status == REPLAY_DR_ACTIVE)
      ev->status = q->kind == JOURNAL_REQ_DR_OPT_OUT ? REPLAY_DR_OPTED_OUT : REPLAY_DR_CANCELLED;
    dr_recompute(s);
  }
  e->kind = REPLAY_EFFECT_DEFERRED;
  e->reason = REPLAY_DEFER_ACCEPTED;
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

  if (q->request_id.len > REPLAY_REQUEST_ID_MAX || q->desired > JOURNAL_DESIRED_ON || q->kind > JOURNAL_REQ_DR_OPT_OUT ||
      (q->kind == JOURNAL_REQ_SERVICE && (q->action == JOURNAL_SVC_NONE || q->action > JOURNAL_SVC_SET_MODE))) {
    e.kind = REPLAY_EFFECT_REFUSAL;
    e.reason = JOURNAL_REF_INVALID;
    goto emit;
  }

  uint8_t id_hash[16], body_hash[16];
  if (q->request_id.len) {
    hash128(q->request_id.ptr, q->request_id.len, id_hash);
    /* The decision-relevant body: a repeat must match all of it to get the stored outcome. */
    uint8_t buf[2 + 1 + 1 + 1 + 8 + 4 + 32 + 4 + 8 * 6 + 4 + 4 + 32];
    size_t il = q->issuer.len < 32 ? q->issuer.len : 32;
    size_t el = q->event.len < 32 ? q->event.len : 32;
    memset(buf, 0, sizeof buf);
    put_le(buf, q->target, 2);
    buf[2] = q->desired;
    buf[3] = q->role;
    buf[4] = q->origin;
    put_le(buf + 5, (uint64_t)q->expiry_ns, 8);
    put_le(buf + 13, q->issuer.len, 4);
    if (il) memcpy(buf + 17, q->issuer.ptr, il);
    uint8_t *x = buf + 49;
    x[0] = q->kind; x[1] = q->action; x[2] = q->control_mode; x[3] = q->mandatory;
    put_le(x + 4, (uint64_t)q->dtstart_ns, 8);
    put_le(x + 12, (uint64_t)q->start_ns, 8);
    put_le(x + 20, q->randomize_ns, 8);
    put_le(x + 28, q->duration_ns, 8);
    put_le(x + 36, q->branch_mask, 8);
    put_le(x + 44, q->modification, 4);
    put_le(x + 48, q->reduce_w, 4);
    put_le(x + 52, q->event.len, 4);
    if (el) memcpy(x + 56, q->event.ptr, el);
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

  if (q->kind == JOURNAL_REQ_SERVICE) decide_service(s, r, q->action, &e);
  else if (q->kind != JOURNAL_REQ_SWITCH) decide_dr(s, r, &e);
  else if (q->target == JOURNAL_TARGET_SERVICE)
    decide_service(s, r, q->desired == JOURNAL_DESIRED_ON ? JOURNAL_SVC_RECONNECT : JOURNAL_SVC_DISCONNECT, &e);
  else decide_switch(s, r, &e);
  if (q->request_id.len && e.kind != REPLAY_EFFECT_REPLY) {
    struct replay_req_entry *n = req_push(s);
    memcpy(n->id_hash, id_hash, 16);
    memcpy(n->body_hash, body_hash, 16);
    n->request_seq = r->seq;
    n->wall_ns = r->wall_ns;
    n->outcome = e.kind;
    n->reason = e.reason;
  }
emit:
  emit(out, &e);
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
      b->ops_ns[b->ops_head] = r->wall_ns;
      b->ops_head = (uint8_t)((b->ops_head + 1) % REPLAY_OPS_RING);
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
  /* closing into a live load side would backfeed (it clears when an open reads it absent) */
  if (sb->commanded == JOURNAL_DESIRED_OFF && sb->load_v != JOURNAL_LOADV_NOT_WIRED)
    b->load_v = sb->load_v == JOURNAL_LOADV_PRESENT && verdict != REPLAY_V_WELDED;
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
  if (dr->source != JOURNAL_DER_ATS && dr->branch) {
    struct replay_branch *b = branch_of(s, dr->branch);
    if (b) b->exports = 1; /* a DER feeds it */
  }
  if (dr->source == JOURNAL_DER_ATS) {
    s->transfer_state = (uint8_t)(dr->transfer + 1);
    s->grid_present = dr->grid_present ? 2 : 1;
  }
  der_freshness(s);
}

/* ------------------------------------------------------------------ apply */

void replay_apply(struct replay_state *s, const struct journal_record *r, struct replay_effects *out)
{
  struct replay_effects local; /* decisions update state: they are made whether or not asked for */
  if (!out) out = &local;
  out->n = 0;
  if (r->type == JOURNAL_T_SEAL) return; /* the live fold never sees its own seals */
  s->seq = r->seq;
  s->wall_ns = r->wall_ns;
  s->records++;
  switch (r->type) {
  case JOURNAL_T_BOOT: s->config_version = r->body.boot.config_version; break;
  case JOURNAL_T_CONFIG:
    s->config_version = r->body.config.config_version;
    fold_config_json(s, r->body.config.json);
    break;
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
  /* Policy decisions follow every input record; command/refusal records are the decisions
   * themselves (their folding must not decide again, or live and offline would differ). */
  if (r->type != JOURNAL_T_COMMAND && r->type != JOURNAL_T_REFUSAL) reconcile(s, r, out);
}

/* ------------------------------------------------------------------ canonical hash */

/* Serialiser: explicit little-endian, field by field, buffered into BLAKE2b (or counted). */
struct ser {
  crypto_generichash_state st;
  uint8_t buf[512];
  size_t n;
  size_t total;
  int count_only;
  uint8_t *out;   /* replay_state_serialise: the bytes go here (when they fit in cap) */
  size_t cap;
};

static void ser_flush(struct ser *w)
{
  if (w->out) {
    size_t at = w->total - w->n;
    if (at + w->n <= w->cap) memcpy(w->out + at, w->buf, w->n);
  } else if (!w->count_only && w->n) crypto_generichash_update(&w->st, w->buf, w->n);
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
  static const uint8_t tag[16] = "hems.state.v3";
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
  for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) {
    const struct replay_branch *b = &s->br[i];
    U8(b->want); U8(b->layers); U8(b->priority); U8(b->critical); U8(b->fail_safe); U8(b->exports);
    U8(b->deferred); U8(b->load_v); U8(b->restore_due); U16(b->breaker_a); U8(b->want_id_len); U8(b->ops_head);
    U32(b->shed_ma); U64(b->want_seq);
    ser_b(w, (const uint8_t *)b->want_id, REPLAY_REQUEST_ID_MAX);
    for (int k = 0; k < REPLAY_OPS_RING; k++) U64(b->ops_ns[k]);
  }
  const struct replay_policy *p = &s->pol;
  U8(p->svc_state); U8(p->svc_mode); U8(p->supply_low); U8(p->outage); U8(p->shedding); U8(p->ops_per_min);
  U16(p->service_limit_a); U32(p->load_ma); U32(p->load_permille);
  for (int k = 0; k < REPLAY_ALLOWANCE_LEVELS; k++) { U64(p->over_since_ns[k]); U32(p->level_permille[k]); U64(p->allowance_ns[k]); }
  U64(p->under_since_ns); U64(p->last_close_ns); U64(p->stagger_ns); U64(p->min_under_ns);
  U32(p->restore_permille); U64(p->sheds); U64(p->restores);
  for (int k = 0; k < REPLAY_DR_EVENTS; k++) {
    const struct replay_dr_event *ev = &p->dr[k];
    ser_b(w, ev->id_hash, 16); U8(ev->status); U8(ev->mandatory); U32(ev->modification); U32(ev->reduce_w);
    U64(ev->start_ns); U64(ev->end_ns); U64(ev->branch_mask); U64(ev->applied_mask); U64(ev->request_seq);
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
  return w.total;
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
