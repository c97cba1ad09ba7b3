/*
 * reduce_policy.c — policy: arbitration between layers, demand response, load control, the commands the fold issues and its decisions on requests (reduce_internal.h says how the fold is split).
 */
#include "reduce_internal.h"

/* ------------------------------------------------------------------ policy: arbitration */

/* Effective demand: OFF if any layer demands it, else the operator's `want` (UNKNOWN: leave). */
static uint8_t desired_of(const struct replay_branch *b) { return b->layers ? REPLAY_OFF : b->want; }

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

static unsigned ops_last_minute(const struct replay_branch *b, int64_t now)
{
  unsigned n = 0;
  for (int i = 0; i < REPLAY_OPS_RING; i++)
    if (b->ops_ns[i] && elapsed(now, b->ops_ns[i]) < 60ll * 1000000000ll) n++;
  return n;
}

static int rate_limited(const struct replay_state *s, const struct replay_branch *b, int64_t now)
{
  return s->pol.ops_per_min && ops_last_minute(b, now) >= s->pol.ops_per_min;
}

/* A load-shed command's why: the measured current of the branch's phase (the latest window of
 * each of its branches, the ones being shed included), the limit, the highest allowance level the load is over and its allowance, the
 * branch's priority and its place in this decision's shed order. */
static void explain_shed(const struct replay_state *s, const struct replay_branch *b, const struct replay_effects *out,
                         struct replay_effect *e)
{
  const struct replay_policy *p = &s->pol;
  /* the phase as measured: the branches this decision sheds are still closed */
  for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) {
    const struct replay_branch *o = &s->br[i];
    if (o->phase == b->phase && o->irms_ma > 0 && held_of(o) != REPLAY_OFF) e->phase_ma += o->irms_ma;
  }
  e->limit_ma = (int64_t)p->service_limit_a * 1000;
  for (int k = 0; k < REPLAY_ALLOWANCE_LEVELS; k++)
    if (p->level_permille[k] && p->load_permille >= p->level_permille[k] && p->level_permille[k] >= e->level_permille) {
      e->level_permille = p->level_permille[k];
      e->allowance_ms = (uint32_t)(p->allowance_ns[k] / 1000000);
    }
  e->priority = b->priority;
  uint8_t rank = 1;
  for (uint32_t i = 0; i < out->n; i++)
    if (out->e[i].kind == REPLAY_EFFECT_COMMAND && out->e[i].reason == JOURNAL_CMD_LOAD_SHED) rank++;
  e->rank = rank;
}

void reduce__emit(struct replay_effects *out, const struct replay_effect *e)
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
      if (!p->over_since_ns[k]) p->over_since_ns[k] = elapsed(now, dur); /* the window's start */
      /* shed before the allowance runs out: the next window may come too late */
      if (elapsed(sat_add(now, dur), p->over_since_ns[k]) >= p->allowance_ns[k]) trip = 1;
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
  if (elapsed(now, p->under_since_ns) < p->min_under_ns) return;
  if (p->last_close_ns && elapsed(now, p->last_close_ns) < p->stagger_ns) return;
  layer_clear(cand, REPLAY_LAYER_SHED);
  cand->shed_ma = 0;
  p->under_since_ns = 0;
  p->restores++;
}

/* ------------------------------------------------------------------ policy: issue */

/* v 5: the hold-off's clock. Each record folded while the grid is back adds the record-time
 * step since the previous one, at most REPLAY_HOLDOFF_STEP_MAX_NS and never negative: a clock
 * that jumps forward (an NTP step as the network returns with the grid) or back and forth
 * cannot end a hold-off early; a gap in the records only makes it longer. */
static void holdoff_tick(struct replay_policy *p, int64_t now)
{
  if (!p->holding || p->outage) return;
  int64_t d = elapsed(now, p->stable_last_ns);
  if (d > 0) p->stable_for_ns = sat_add(p->stable_for_ns, d < REPLAY_HOLDOFF_STEP_MAX_NS ? d : REPLAY_HOLDOFF_STEP_MAX_NS);
  p->stable_last_ns = now;
  if (p->stable_for_ns >= p->holdoff_ns && p->stable_for_ns >= p->der_holdoff_ns) p->holding = 0;
}

/* v 8: the protective action. Each record adds the record-time step since the last (at most
 * REPLAY_HOLDOFF_STEP_MAX_NS, never negative: a clock step neither fires nor delays it) to how
 * long each out-of-band phase has been out. One out for protect_ns holds every sensitive
 * branch open (layer PROTECT). Once every phase has been back for the restore wait the layer
 * lets go — per branch: the hold-off, a branch with DER behind it the DER hold-off — and they
 * close as a rolling restore (interlocks, stagger, operations limit). The wait is at least
 * protect_ns and doubles with each trip within an hour of the one before (up to 2^6): a
 * disturbance that comes and goes cannot make a relay chatter. */
static void pq_protect(struct replay_state *s, int64_t now)
{
  struct replay_policy *p = &s->pol;
  int64_t d = elapsed(now, p->pq_last_ns);
  int64_t step = !p->pq_last_ns || d <= 0 ? 0 : d < REPLAY_HOLDOFF_STEP_MAX_NS ? d : REPLAY_HOLDOFF_STEP_MAX_NS;
  p->pq_last_ns = now;
  int out = 0, long_out = 0;
  for (int k = 0; k < 3; k++) {
    if (!p->pq_out[k]) continue;
    out = 1;
    p->pq_out_for_ns[k] = sat_add(p->pq_out_for_ns[k], step);
    if (p->pq_out_for_ns[k] >= p->protect_ns) long_out = 1;
  }
  if (long_out && !p->protecting) {
    p->protecting = 1;
    p->pq_ok_for_ns = 0;
    int recent = p->protect_trip_ns && elapsed(now, p->protect_trip_ns) < 3600ll * 1000000000ll;
    p->protect_trips = (uint8_t)(recent ? (p->protect_trips < REPLAY_PROTECT_BACKOFF_MAX + 1 ? p->protect_trips + 1 : p->protect_trips) : 1);
    p->protect_trip_ns = now;
    for (int i = 0; i < REPLAY_BRANCHES_MAX; i++)
      if (s->br[i].sensitive) layer_set(&s->br[i], REPLAY_LAYER_PROTECT);
  }
  if (!p->protecting) return;
  if (out) { p->pq_ok_for_ns = 0; return; }
  p->pq_ok_for_ns = sat_add(p->pq_ok_for_ns, step);
  int shift = p->protect_trips > 1 ? p->protect_trips - 1 : 0;
  int held = 0;
  for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) {
    struct replay_branch *b = &s->br[i];
    if (!(b->layers & REPLAY_LAYER_PROTECT)) continue;
    int64_t wait = b->exports ? p->der_holdoff_ns : p->holdoff_ns;
    if (wait < p->protect_ns) wait = p->protect_ns;
    for (int k = 0; k < shift && wait < 3600ll * 1000000000ll; k++) wait *= 2;
    if (p->pq_ok_for_ns >= wait) layer_clear(b, REPLAY_LAYER_PROTECT);
    else held = 1;
  }
  if (!held) { p->protecting = 0; p->pq_ok_for_ns = 0; }
}

/* After every input record: outage fail-safe, DR periods, the limiter (windows), then one
 * command per branch whose effective demand differs from what it holds. Opens go at once;
 * closes pass the interlocks and run as a rolling sequence (one per stagger). Nothing is
 * commanded while the supply is too low: it waits for the restore. */
void reduce__reconcile(struct replay_state *s, const struct journal_record *r, struct replay_effects *out)
{
  struct replay_policy *p = &s->pol;
  int64_t now = r->wall_ns;
  if (s->reducer_version >= 5) {
    /* v 5: a time in the future (a clock that stepped back since) restarts from now instead of
     * blocking every policy close until the clock catches up */
    if (p->last_close_ns > now) p->last_close_ns = now;
    if (p->under_since_ns > now) p->under_since_ns = now;
  }
  if (s->grid_present == 1 && !p->outage) {
    p->outage = 1;
    for (int i = 0; i < REPLAY_BRANCHES_MAX; i++)
      if (s->br[i].fail_safe == 0 && held_of(&s->br[i]) == REPLAY_ON) layer_set(&s->br[i], REPLAY_LAYER_FAIL_SAFE);
  } else if (s->grid_present == 2 && p->outage) {
    p->outage = 0;
    if (s->reducer_version >= 5) { p->holding = 1; p->stable_for_ns = 0; p->stable_last_ns = now; }
    /* the fail-safe and (v 11) the backup shed let go together; a backup layer exists only
     * during an outage (reduce_ess.c), so the release belongs to its end, not to every record */
    for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) layer_clear(&s->br[i], REPLAY_LAYER_FAIL_SAFE | REPLAY_LAYER_BACKUP);
  }
  if (s->reducer_version >= 5) holdoff_tick(p, now);
  if (s->reducer_version >= 8) pq_protect(s, now);
  dr_update(s, now);
  if (r->type == JOURNAL_T_WINDOW) limiter(s, r);
  if (p->supply_low) return;
  if (s->reducer_version >= 11) reduce__ess(s, r, out); /* the battery's permit, the backup shed */
  int closed = 0;
  /* opens lowest priority first, closes highest priority first; only pending branches are
   * visited (the loop below changes no other branch's layers/deferred/restore_due, so a stable
   * sort of just those gives the order a stable sort of all 48 gives them) */
  uint8_t order[REPLAY_BRANCHES_MAX];
  unsigned m = 0;
  for (unsigned i = 0; i < REPLAY_BRANCHES_MAX; i++) {
    const struct replay_branch *b = &s->br[i];
    if (!b->layers && !b->deferred && !b->restore_due) continue;
    unsigned j = m++;
    uint8_t key = b->layers ? b->priority : (uint8_t)(255 - b->priority);
    while (j > 0) {
      const struct replay_branch *o = &s->br[order[j - 1]];
      uint8_t ok = o->layers ? o->priority : (uint8_t)(255 - o->priority);
      if (ok <= key) break;
      order[j] = order[j - 1];
      j--;
    }
    order[j] = (uint8_t)i;
  }
  for (unsigned k = 0; k < m && out->n < REPLAY_EFFECTS_MAX; k++) {
    unsigned n = order[k] + 1u;
    struct replay_branch *b = &s->br[n - 1];
    if (!b->layers && !b->deferred && !b->restore_due) continue; /* the operator's own commands are direct */
    uint8_t d = desired_of(b);
    if (d == REPLAY_UNKNOWN) { b->restore_due = 0; continue; }
    if (d == held_of(b)) { b->deferred = 0; b->restore_due = 0; b->defer_noted = 0; continue; }
    if (targeted(out, (uint16_t)n)) continue;
    struct replay_effect e;
    memset(&e, 0, sizeof e);
    e.kind = REPLAY_EFFECT_COMMAND;
    e.target = (uint16_t)n;
    e.cause_seq = r->seq;
    if (d == REPLAY_OFF) {
      e.desired = JOURNAL_DESIRED_OFF;
      e.reason = (b->layers & REPLAY_LAYER_FAIL_SAFE) ? JOURNAL_CMD_FAIL_SAFE
               : (b->layers & REPLAY_LAYER_BACKUP) ? JOURNAL_CMD_BACKUP
               : (b->layers & REPLAY_LAYER_SHED) ? JOURNAL_CMD_LOAD_SHED
               : (b->layers & REPLAY_LAYER_DR) ? JOURNAL_CMD_DEMAND_RESPONSE
               : (b->layers & REPLAY_LAYER_PROTECT) ? JOURNAL_CMD_PROTECT : JOURNAL_CMD_OPERATOR;
      if (e.reason == JOURNAL_CMD_LOAD_SHED) explain_shed(s, b, out, &e);
    } else {
      if (close_interlock(s, b) >= 0) continue;  /* stays pending until the interlock clears */
      if (s->reducer_version >= 5 && !supply_stable(p, b->exports)) continue; /* through the hold-off */
      /* v 5: a policy close counts against the branch's operations limit like any command (the
       * fail-safe open that preceded it included); over it, the close waits. Opens never do. */
      if (s->reducer_version >= 5 && rate_limited(s, b, now)) {
        /* v 11: the wait is journaled, once: a refusal `deferred` citing the record it began at */
        if (s->reducer_version >= 11 && !b->defer_noted) {
          struct replay_effect f;
          memset(&f, 0, sizeof f);
          f.kind = REPLAY_EFFECT_REFUSAL;
          f.reason = JOURNAL_REF_DEFERRED;
          f.target = (uint16_t)n;
          f.desired = JOURNAL_DESIRED_ON;
          f.cause_seq = r->seq;
          f.ops = ops_last_minute(b, now);
          f.ops_limit = p->ops_per_min;
          reduce__emit(out, &f);
          b->defer_noted = 1;
        }
        continue;
      }
      if (closed || (p->last_close_ns && elapsed(now, p->last_close_ns) < p->stagger_ns)) continue;
      closed = 1;
      p->last_close_ns = now;
      e.desired = JOURNAL_DESIRED_ON;
      e.reason = JOURNAL_CMD_RESTORE;
      /* its why: the stagger between closes, and after an outage the hold-off the supply had to
       * hold (the DER hold-off for a branch with DER behind it) */
      int64_t hold = p->holding ? (b->exports ? p->der_holdoff_ns : p->holdoff_ns) : 0;
      e.holdoff_ms = hold > 0 ? (uint32_t)(hold / 1000000) : 0;
      e.stagger_ms = p->stagger_ns > 0 ? (uint32_t)(p->stagger_ns / 1000000) : 0;
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
    b->defer_noted = 0;
    reduce__emit(out, &e);
  }
}

/* ------------------------------------------------------------------ policy: requests */

void reduce__decide_switch(struct replay_state *s, const struct journal_record *r, struct replay_effect *e)
{
  const struct journal_request *q = &r->body.request;
  struct replay_branch *b = q->target <= REPLAY_BRANCHES_MAX ? &s->br[q->target - 1] : NULL;
  e->kind = REPLAY_EFFECT_REFUSAL;
  int il;
  if (q->role == JOURNAL_ROLE_VIEWER) { e->reason = JOURNAL_REF_ROLE; return; }
  if (q->expiry_ns && r->wall_ns > q->expiry_ns) { e->reason = JOURNAL_REF_EXPIRED; return; }
  if (!b) { e->reason = JOURNAL_REF_UNKNOWN_TARGET; return; }
  if (q->desired == JOURNAL_DESIRED_ON && (il = close_interlock(s, b)) >= 0) { e->reason = (uint8_t)il; return; }
  if (rate_limited(s, b, r->wall_ns)) {
    e->reason = JOURNAL_REF_RATE_LIMIT;
    e->ops = ops_last_minute(b, r->wall_ns);
    e->ops_limit = s->pol.ops_per_min;
    return;
  }
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
void reduce__decide_service(struct replay_state *s, const struct journal_record *r, unsigned action,
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

void reduce__decide_dr(struct replay_state *s, const struct journal_record *r, struct replay_effect *e)
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
    /* saturated: a duration past the last representable time ends there (no wrap) */
    if (q->duration_ns > (uint64_t)INT64_MAX || __builtin_add_overflow(ev->start_ns, (int64_t)q->duration_ns, &ev->end_ns))
      ev->end_ns = INT64_MAX;
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
