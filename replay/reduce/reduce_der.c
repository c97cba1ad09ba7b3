/*
 * reduce_der.c — reducer v 10: commands to DER sources (docs/policy.md "DER commands").
 *
 * A `der` request names a source (pv, ess), an action and, for the limits, a permille of the
 * device's rating. The fold decides it like a switch: a viewer is refused `role`, a request past
 * its expiry `expired`; a source that no `der` record via SunSpec has come from yet is
 * `unknown_target` (nothing could write to it: the SunSpec bridge executes DER commands); one
 * that is stale `stale` (nothing could prove it); a command within REPLAY_DER_CMD_MIN_NS of the
 * source's last `rate_limit`; a connect while the grid is absent or the fold sees a backfeed
 * risk would energise a dead service: `backfeed`, and while the source's or the transfer
 * switch's interlock is open: `interlock`. Otherwise a command whose target is the branch the
 * source feeds. Folding the command changes no branch (the panel's relays do not move): it
 * makes the command the source's pending one; the sense_back that names it (actuator sunspec,
 * journaled by the daemon from the bridge's report) proves it or not.
 */
#include "reduce_internal.h"

/* The request's packed DER command, when well formed (else the fold refuses it `invalid`). */
bool reduce__der_request_parse(const struct journal_request *q, struct reduce_der_req *out)
{
  unsigned t, a;
  uint32_t pm;
  journal_der_unpack(q->der, &t, &a, &pm);
  if (t != JOURNAL_DERT_PV && t != JOURNAL_DERT_ESS) return false;
  if (a < JOURNAL_DERA_CONNECT || a > JOURNAL_DERA_MAX) return false;
  bool limit = a >= JOURNAL_DERA_LIMIT;
  if (limit ? pm > 1000 : pm != 0) return false;
  if ((a == JOURNAL_DERA_CHARGE_LIMIT || a == JOURNAL_DERA_DISCHARGE_LIMIT) && t != JOURNAL_DERT_ESS) return false;
  out->target = (uint8_t)t;
  out->action = (uint8_t)a;
  out->permille = (uint16_t)pm;
  return true;
}

void reduce__decide_der(struct replay_state *s, const struct journal_record *r, struct replay_effect *e)
{
  const struct journal_request *q = &r->body.request;
  struct reduce_der_req x;
  if (!reduce__der_request_parse(q, &x)) { e->kind = REPLAY_EFFECT_REFUSAL; e->reason = JOURNAL_REF_INVALID; return; }
  const struct replay_der *d = &s->der[x.target == JOURNAL_DERT_PV ? JOURNAL_DER_PV : JOURNAL_DER_ESS];
  e->kind = REPLAY_EFFECT_REFUSAL;
  e->target = d->branch;
  e->desired = x.action == JOURNAL_DERA_DISCONNECT ? JOURNAL_DESIRED_OFF : JOURNAL_DESIRED_ON;
  if (q->role == JOURNAL_ROLE_VIEWER) { e->reason = JOURNAL_REF_ROLE; return; }
  if (q->expiry_ns && r->wall_ns > q->expiry_ns) { e->reason = JOURNAL_REF_EXPIRED; return; }
  if (!d->sunspec || !d->branch) { e->reason = JOURNAL_REF_UNKNOWN_TARGET; return; }
  /* judged at the request's time (the fold marks staleness on windows and der records only) */
  if (d->stale || !d->fresh || elapsed(r->wall_ns, d->last_wall_ns) > d->max_age_ns) {
    e->reason = JOURNAL_REF_STALE; /* nothing could prove it */
    return;
  }
  if (d->cmd_seq && elapsed(r->wall_ns, d->cmd_wall_ns) < REPLAY_DER_CMD_MIN_NS) {
    e->reason = JOURNAL_REF_RATE_LIMIT; /* no toggling a device faster than its proof loop */
    return;
  }
  if (x.action == JOURNAL_DERA_CONNECT) {
    /* a SunSpec source says nothing of an interlock: the panel's own view decides */
    const struct replay_der *ats = &s->der[JOURNAL_DER_ATS];
    if (s->grid_present == 1 || s->backfeed_risk) { e->reason = JOURNAL_REF_BACKFEED; return; }
    if (!d->interlock_ok || (ats->seen && !ats->interlock_ok)) { e->reason = JOURNAL_REF_INTERLOCK; return; }
  }
  e->kind = REPLAY_EFFECT_COMMAND;
  e->reason = q->origin == JOURNAL_ORIGIN_REMOTE ? JOURNAL_CMD_REMOTE
            : q->origin == JOURNAL_ORIGIN_DEMAND_RESPONSE ? JOURNAL_CMD_DEMAND_RESPONSE : JOURNAL_CMD_OPERATOR;
  e->der = x.target;
  e->der_action = x.action;
  e->der_permille = x.permille;
}

void reduce__fold_der_command(struct replay_state *s, const struct journal_record *r)
{
  const struct journal_command *c = &r->body.command;
  if (c->der != JOURNAL_DERT_PV && c->der != JOURNAL_DERT_ESS) return;
  struct replay_der *d = &s->der[c->der == JOURNAL_DERT_PV ? JOURNAL_DER_PV : JOURNAL_DER_ESS];
  d->cmd_seq = r->seq;
  d->cmd_action = c->der_action;
  d->cmd_permille = c->der_permille;
  d->cmd_state = REPLAY_DERCMD_PENDING;
  d->cmd_wall_ns = r->wall_ns;
}

void reduce__fold_der_sense(struct replay_state *s, const struct journal_record *r)
{
  const struct journal_sense_back *sb = &r->body.sense_back;
  for (int i = 0; i < REPLAY_DER_SOURCES; i++) {
    struct replay_der *d = &s->der[i];
    if (!sb->command_seq || d->cmd_seq != sb->command_seq || d->cmd_state != REPLAY_DERCMD_PENDING) continue;
    d->cmd_state = sb->verdict == JOURNAL_VERDICT_CONFIRMED ? REPLAY_DERCMD_CONFIRMED : REPLAY_DERCMD_FAILED;
  }
}
