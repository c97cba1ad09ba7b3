/*
 * reduce.c — the fold: derived state and decisions from records alone (the policy, config,
 * hash and names parts are in the other reduce_*.c files: reduce_internal.h).
 *
 * Invariants: no clock, I/O, allocation, logging or floating point; only memcpy/memset/memcmp
 * and BLAKE2b. Integer arithmetic everywhere, saturating where a sum could overflow. Every
 * branch of the fold is a function of (state, record) only, and seals are ignored.
 *
 * sense_back, trip_tap and der are the actuators issue's typed bodies (journal.h); their
 * enums map onto the reducer's own (verdict + 1 = enum replay_verdict).
 */
#include "reduce_internal.h"

/* ------------------------------------------------------------------ init */

void replay_state_init(struct replay_state *s)
{
  memset(s, 0, sizeof *s);
  s->reducer_version = REPLAY_REDUCER_BASE;
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
  p->holdoff_ns = REPLAY_DEFAULT_RESTORE_HOLDOFF_NS;
  p->der_holdoff_ns = REPLAY_DEFAULT_DER_HOLDOFF_NS;
  p->pq_low_permille = REPLAY_DEFAULT_PQ_LOW_PERMILLE;
  p->pq_high_permille = REPLAY_DEFAULT_PQ_HIGH_PERMILLE;
  p->pq_hyst_permille = REPLAY_DEFAULT_PQ_HYST_PERMILLE;
  p->protect_ns = REPLAY_DEFAULT_PROTECT_NS;
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
    int old = elapsed(s->wall_ns, d->last_wall_ns) > d->max_age_ns;
    d->stale = (uint8_t)(old || !d->fresh);
    if (d->stale) stale_any = 1;
    if (!d->interlock_ok) s->backfeed_risk = 1;
  }
  if (stale_any) s->alarms |= REPLAY_ALARM_STALE_DER;
  else s->alarms &= ~(uint32_t)REPLAY_ALARM_STALE_DER;
  if (s->backfeed_risk) s->alarms |= REPLAY_ALARM_BACKFEED_RISK;
  else s->alarms &= ~(uint32_t)REPLAY_ALARM_BACKFEED_RISK;
}

/* v 7: current flowed through the branch for the whole window (its smallest half-cycle RMS,
 * IEC 61000-4-30 Urms(1/2) applied to current), and the window started after the trip that
 * opened it, so it is on whatever the last sense-back said — a breaker or RCD reset by hand
 * (its contact may never report the reset), or a relay that moved since. A window without
 * half-cycle values (the register path, schema v 1) proves nothing. A commanded-on branch with
 * no command pending and no fault is proven again: the metering confirms the commanded state. */
static void metered_on(struct replay_branch *b)
{
  b->sensed = REPLAY_ON;
  b->breaker_open = 0;
  b->rcd_tripped = 0;
  if (b->commanded == REPLAY_ON && !b->pending_seq && b->fault == REPLAY_V_NONE) b->proven = 1;
  else if (b->commanded == REPLAY_OFF) b->proven = 0; /* current through a branch proven open: no longer proven */
}

/* v 8: a phase voltage against the configured band (the protective action's input): out below
 * the dip or above the swell threshold, back inside only within the band narrowed by the
 * hysteresis on both sides. Only the voltage source's windows count (the config's mains AFE,
 * else AFE 1): one measurement per phase, so two AFEs reading either side of a threshold cannot
 * restart it window by window. How long a phase is out is summed in pq_protect. */
static void pq_band(struct replay_state *s, const struct journal_window_channel *c)
{
  struct replay_policy *p = &s->pol;
  if (!p->nominal_mv || c->phase > JOURNAL_PHASE_C || c->rms_m <= 0) return;
  int64_t v = (int64_t)c->rms_m * 1000, nom = p->nominal_mv; /* v / nom in permille: v·1000 vs permille·nom */
  int out = v < (int64_t)p->pq_low_permille * nom || v > (int64_t)p->pq_high_permille * nom;
  int back = v >= (int64_t)(p->pq_low_permille + p->pq_hyst_permille) * nom &&
             v <= (int64_t)(p->pq_high_permille - p->pq_hyst_permille) * nom;
  if (out && !p->pq_out[c->phase]) { p->pq_out[c->phase] = 1; p->pq_out_for_ns[c->phase] = 0; }
  else if (back) { p->pq_out[c->phase] = 0; p->pq_out_for_ns[c->phase] = 0; }
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
    if (sign_error) {
      b->alarms |= REPLAY_ALARM_CT_POLARITY;
      if (s->reducer_version >= 7) b->suspect |= REPLAY_ALARM_CT_POLARITY;
    }
    if (p->phase < REPLAY_PHASES) {
      if (s->reducer_version >= 7) b->phase_now = (uint8_t)(p->phase + 1);
      if (b->phase == 0) b->phase = (uint8_t)(p->phase + 1);
      else if (b->phase != p->phase + 1) {
        b->alarms |= REPLAY_ALARM_PHASE_MAP;
        if (s->reducer_version >= 7) b->suspect |= REPLAY_ALARM_PHASE_MAP;
      }
    }
  }
  unsigned nch = w->nch < JOURNAL_WINDOW_CHANNELS ? w->nch : JOURNAL_WINDOW_CHANNELS;
  for (unsigned i = 0; i < nch; i++) {
    const struct journal_window_channel *c = &w->ch[i];
    if (s->reducer_version >= 8 && c->kind == JOURNAL_CH_VOLTAGE && w->afe == (s->pol.mains_afe ? s->pol.mains_afe : 1))
      pq_band(s, c);
    if (c->kind != JOURNAL_CH_CURRENT) continue;
    struct replay_branch *b = branch_of(s, c->branch);
    if (!b) continue;
    b->irms_ma = c->rms_m;
    if (s->reducer_version >= 7 && c->hrms_min_m >= REPLAY_METERED_ON_MA && w->start_ns > b->open_wall_ns)
      metered_on(b);
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
    if (b) {
      b->alarms |= REPLAY_ALARM_CT_POLARITY;
      if (s->reducer_version >= 7) b->suspect |= REPLAY_ALARM_CT_POLARITY;
    } else s->alarms |= REPLAY_ALARM_CT_POLARITY;
  } else if (s->reducer_version >= 6 && slice_eq(f->code, "phase_map_mismatch", 18)) {
    /* v 6: the daemon's phase-map check (a branch's current against another phase's voltage) */
    struct replay_branch *b = branch_of(s, f->branch);
    if (b) {
      b->alarms |= REPLAY_ALARM_PHASE_MAP;
      if (s->reducer_version >= 7) b->suspect |= REPLAY_ALARM_PHASE_MAP;
    }
  } else if (s->reducer_version >= 7 && slice_eq(f->code, "der_mismatch", 12)) {
    /* v 7: the daemon's check of a DER's state against its branch's metering */
    struct replay_branch *b = branch_of(s, f->branch);
    if (b) { b->alarms |= REPLAY_ALARM_DER_MISMATCH; b->der_mismatch = 1; }
  } else if (s->reducer_version >= 7 && slice_eq(f->code, "der_consistent", 14)) {
    struct replay_branch *b = branch_of(s, f->branch);
    if (b) b->der_mismatch = 0;
  } else if (s->reducer_version >= 11) {
    reduce__fold_analog_fault(s, r);
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
  while (s->req_count && elapsed(now_ns, req_at(s, 0)->wall_ns) > REPLAY_REQ_WINDOW_NS) {
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

  unsigned kind_max = s->reducer_version >= 10 ? JOURNAL_REQ_DER
                    : s->reducer_version >= 7 ? JOURNAL_REQ_ALARM_ACK : JOURNAL_REQ_DR_OPT_OUT;
  if (q->request_id.len > REPLAY_REQUEST_ID_MAX || q->desired > JOURNAL_DESIRED_ON || q->kind > kind_max ||
      (q->kind == JOURNAL_REQ_SERVICE && (q->action == JOURNAL_SVC_NONE || q->action > JOURNAL_SVC_SET_MODE)) ||
      (q->kind == JOURNAL_REQ_DER && !reduce__der_request_parse(q, &(struct reduce_der_req){ 0 }))) {
    e.kind = REPLAY_EFFECT_REFUSAL;
    e.reason = JOURNAL_REF_INVALID;
    goto emit;
  }

  uint8_t id_hash[16], body_hash[16];
  if (q->request_id.len) {
    hash128(q->request_id.ptr, q->request_id.len, id_hash);
    /* The decision-relevant body: a repeat must match all of it to get the stored outcome. */
    uint8_t buf[2 + 1 + 1 + 1 + 8 + 4 + 32 + 4 + 8 * 6 + 4 + 4 + 32 + 1];
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
    /* v 7: an alarm_ack's alarm is one more byte; without one the bytes are v 6's */
    int with_alarm = s->reducer_version >= 7 && q->alarm;
    buf[sizeof buf - 1] = with_alarm ? q->alarm : 0;
    if (q->kind == JOURNAL_REQ_DER) { /* v 10: a der request's source, action and permille follow */
      uint8_t dbuf[sizeof buf + 4];
      memcpy(dbuf, buf, sizeof buf);
      put_le(dbuf + sizeof buf, q->der, 4);
      hash128(dbuf, sizeof dbuf, body_hash);
    } else hash128(buf, sizeof buf - (with_alarm ? 0 : 1), body_hash);
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

  if (q->kind == JOURNAL_REQ_SERVICE) reduce__decide_service(s, r, q->action, &e);
  else if (q->kind == JOURNAL_REQ_ALARM_ACK) reduce__decide_alarm_ack(s, r, &e);
  else if (q->kind == JOURNAL_REQ_DER) reduce__decide_der(s, r, &e);
  else if (q->kind != JOURNAL_REQ_SWITCH) reduce__decide_dr(s, r, &e);
  else if (q->target == JOURNAL_TARGET_SERVICE)
    reduce__decide_service(s, r, q->desired == JOURNAL_DESIRED_ON ? JOURNAL_SVC_RECONNECT : JOURNAL_SVC_DISCONNECT, &e);
  else reduce__decide_switch(s, r, &e);
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
  reduce__emit(out, &e);
}

static void fold_command(struct replay_state *s, const struct journal_record *r)
{
  const struct journal_command *c = &r->body.command;
  s->commands++;
  uint8_t v = c->desired == JOURNAL_DESIRED_ON ? REPLAY_ON : REPLAY_OFF;
  if (s->reducer_version >= 10 && c->der) {
    reduce__fold_der_command(s, r); /* no branch moves: the SunSpec bridge or the permit line executes it */
  } else if (c->target == JOURNAL_TARGET_SERVICE) {
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
      if (s->reducer_version >= 9) reduce__rollup_count(s, r, c->target, REDUCE_ROLLUP_COMMAND);
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
  if ((s->reducer_version >= 10 && sb->actuator == JOURNAL_ACTR_SUNSPEC) ||
      (s->reducer_version >= 11 && sb->actuator == JOURNAL_ACTR_PERMIT)) { /* a DER command's proof */
    reduce__fold_der_sense(s, r);
    return;
  }
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
  /* v 7: a confirmed open, like a trip: only windows that start after it are metering since */
  if (s->reducer_version >= 7 && verdict == REPLAY_V_CONFIRMED && sensed == REPLAY_OFF) b->open_wall_ns = r->wall_ns;
  /* closing into a live load side would backfeed (it clears when an open reads it absent) */
  if (sb->commanded == JOURNAL_DESIRED_OFF && sb->load_v != JOURNAL_LOADV_NOT_WIRED)
    b->load_v = sb->load_v == JOURNAL_LOADV_PRESENT && verdict != REPLAY_V_WELDED;
}

/* A source reports the grid present or absent. v 5: absent while any source says so (a transfer
 * switch that reports the grid back does not end an outage the power-fail input still sees);
 * v 4: the last report wins. */
static void grid_report(struct replay_state *s, uint8_t source, int present)
{
  if (s->reducer_version < 5) { s->grid_present = present ? 2 : 1; return; }
  if (present) s->grid_absent &= (uint8_t)~source;
  else s->grid_absent |= source;
  s->grid_present = s->grid_absent ? 1 : 2;
}

static void fold_trip_tap(struct replay_state *s, const struct journal_record *r)
{
  const struct journal_trip_tap *t = &r->body.trip_tap;
  if (s->reducer_version >= 6 && t->of_seq) return; /* v 6: the capture of an edge folded before */
  s->trip_taps++;
  struct replay_branch *b = branch_of(s, t->branch);
  if (t->edge == JOURNAL_EDGE_FALLING) { /* the tap is no longer asserted: reset by hand */
    if (t->kind == JOURNAL_TAP_POWER_FAIL) grid_report(s, REPLAY_GRID_BY_POWER_FAIL, 1);
    if (b && (t->kind == JOURNAL_TAP_MCB || t->kind == JOURNAL_TAP_AFCI)) b->breaker_open = 0;
    if (b && t->kind == JOURNAL_TAP_RCD) b->rcd_tripped = 0;
    return;
  }
  if (t->kind == JOURNAL_TAP_POWER_FAIL) { grid_report(s, REPLAY_GRID_BY_POWER_FAIL, 0); return; }
  if (!b) return;
  if (t->kind == JOURNAL_TAP_LEAKAGE) { b->evidence_wall_ns = r->wall_ns; return; }
  if (t->kind != JOURNAL_TAP_RCD && t->kind != JOURNAL_TAP_MCB && t->kind != JOURNAL_TAP_AFCI) return;
  b->trips++;
  if (s->reducer_version >= 9) reduce__rollup_count(s, r, t->branch, REDUCE_ROLLUP_TRIP);
  if (t->kind == JOURNAL_TAP_RCD) b->rcd_tripped = 1;
  else b->breaker_open = 1;
  b->sensed = REPLAY_OFF;
  b->proven = 0;
  if (s->reducer_version >= 7) b->open_wall_ns = r->wall_ns;
  /* The tap's own pre-trigger signature counts as evidence (overload or a fault current). */
  if (t->rms_ma > REPLAY_OVERLOAD_MA || t->peak_ma > 4 * REPLAY_OVERLOAD_MA) b->evidence_wall_ns = r->wall_ns;
  int explained = b->evidence_wall_ns && elapsed(r->wall_ns, b->evidence_wall_ns) <= REPLAY_TRIP_EVIDENCE_NS;
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
  if (s->reducer_version >= 10 && dr->via == JOURNAL_DERVIA_SUNSPEC && dr->source != JOURNAL_DER_ATS) {
    d->sunspec = 1; /* a bridge reads it, so a bridge can write it */
    d->branch = dr->branch;
  }
  if (dr->source != JOURNAL_DER_ATS && dr->branch) {
    struct replay_branch *b = branch_of(s, dr->branch);
    if (b) b->exports = 1; /* a DER feeds it */
  }
  if (dr->source == JOURNAL_DER_ATS) {
    s->transfer_state = (uint8_t)(dr->transfer + 1);
    grid_report(s, REPLAY_GRID_BY_ATS, dr->grid_present != 0);
  }
  der_freshness(s);
}

/* ------------------------------------------------------------------ apply */

void replay_apply(struct replay_state *s, const struct journal_record *r, struct replay_effects *out)
{
  struct replay_effects local; /* decisions update state: they are made whether or not asked for */
  if (!out) out = &local;
  out->n = 0;
  out->nrollup = 0;
  if (r->type == JOURNAL_T_SEAL) return; /* the live fold never sees its own seals */
  s->seq = r->seq;
  s->wall_ns = r->wall_ns;
  s->records++;
  switch (r->type) {
  case JOURNAL_T_BOOT:
    s->config_version = r->body.boot.config_version;
    /* v 7: the daemon restarted: its detectors run afresh and raise what still holds */
    if (s->reducer_version >= 7) for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) s->br[i].suspect = 0;
    /* a newer version's rules from this boot on; never back; a version this code does not know
     * is folded as its newest (the seals then tell: their state hashes differ) */
    if (r->body.boot.reducer_version > s->reducer_version)
      s->reducer_version = r->body.boot.reducer_version < REPLAY_REDUCER_VERSION ? r->body.boot.reducer_version : REPLAY_REDUCER_VERSION;
    break;
  case JOURNAL_T_CONFIG:
    s->config_version = r->body.config.config_version;
    if (s->reducer_version >= 7) for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) s->br[i].suspect = 0; /* re-commissioned */
    reduce__config_json(s, r->body.config.json);
    break;
  case JOURNAL_T_WINDOW:
    fold_window(s, r);
    if (s->reducer_version >= 9) reduce__rollup_window(s, r, out);
    break;
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
   * themselves (their folding must not decide again, or live and offline would differ), and
   * rollup records (v 9) the fold's summaries (type 19 was never written before v 9). */
  if (r->type != JOURNAL_T_COMMAND && r->type != JOURNAL_T_REFUSAL && r->type != JOURNAL_T_ROLLUP)
    reduce__reconcile(s, r, out);
}
