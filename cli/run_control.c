/*
 * run_control.c — the control protocol: one request line from a socket client → checks
 * (JSON shape and roles in control_req.c; the per-peer rate limit here) → a journaled request,
 * note or status → one reply line,
 * now or when the fold decides (run_requests.c keeps the waiting client).
 */
#include <stdio.h>
#include <string.h>
#include <pwd.h>
#include "run.h"


/* A free waiter for client c on the request about to be journaled (its own seq is the next one,
 * answered by the fold), or NULL when all are taken. */
static struct waiter *waiter_take(struct daemon *d, struct daemon_client *c)
{
  for (int i = 0; i < WAITERS_MAX; i++) {
    struct waiter *w = &d->waiters[i];
    if (w->used) continue;
    w->used = true;
    w->c = c;
    w->gen = c->gen;
    w->request_seq = journal_head_seq(d->j) + 1;
    w->command_seq = 0;
    return w;
  }
  return NULL;
}

/* service / dr ops: journal the request with a waiter on it; the fold's answer (refusal,
 * accepted, reply) wakes it at once, a service command at its sense-back. */
char *run_control_policy_op(struct daemon *d, struct daemon_client *c, struct journal_request *q)
{
  struct waiter *w = waiter_take(d, c);
  if (!w) return run_reply_error("busy: too many requests waiting");
  uint64_t seq = 0, fxs[REPLAY_EFFECTS_MAX] = { 0 };
  struct replay_effects fx;
  int rc = run_request_policy(d, q, &seq, &fx, fxs);
  if (rc) { w->used = false; return run_reply_error(journal_strerror(rc)); }
  for (uint32_t i = 0; i < fx.n; i++)
    if (fx.e[i].kind == REPLAY_EFFECT_COMMAND && (fx.e[i].target == JOURNAL_TARGET_SERVICE || fx.e[i].der) &&
        fx.e[i].cause_seq == seq)
      run_waiters_follow(d, seq, fxs[i]);
  if (w->used && w->request_seq == seq && w->command_seq == 0) {
    w->used = false;
    return run_reply_error("no decision for this request");
  }
  return NULL;
}

/* The per-peer rate limit (daemon.h): true when this request may be journaled. */
static bool peer_may_append(struct daemon *d, struct daemon_client *c, uint16_t target, bool on, const char *rid)
{
  return daemon_limit_take(&d->limit, c->uid, uv_now(&d->loop), target, on ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF, rid);
}

static char *reply_rate_limited(void)
{
  char msg[160];
  snprintf(msg, sizeof msg, "refused: rate limit (%d requests per second per uid, bursts of %d; the excess is journaled "
           "as one refusal with a count)", DAEMON_PEER_RATE_PER_S, DAEMON_PEER_BURST);
  return run_reply_error(msg);
}

/* Journals the coalesced rate-limit refusals that are due (all of them when force). */
void run_control_flush_limited(struct daemon *d, bool force)
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_REFUSAL;
  r.source.kind = JOURNAL_SRC_OPERATOR;
  while (!d->append_err && daemon_limit_due(&d->limit, uv_now(&d->loop), force, &r.body.refusal)) {
    d->refusals++;
    run_append(d, &r);
  }
}

/* A note over the socket: the author is the peer's uid/gid; a name the client gives is kept
 * apart as claimed_who. */
static char *note_op(struct daemon *d, struct daemon_client *c, const struct control_req *q)
{
  if (!peer_may_append(d, c, JOURNAL_TARGET_SERVICE, false, "")) return reply_rate_limited();
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_NOTE;
  r.source.kind = JOURNAL_SRC_OPERATOR;
  char who[64];
  struct passwd *pw = getpwuid(c->uid);
  if (pw) snprintf(who, sizeof who, "%s", pw->pw_name);
  else snprintf(who, sizeof who, "uid:%u", (unsigned)c->uid);
  r.body.note.uid = c->uid;
  r.body.note.gid = c->gid;
  r.body.note.who = (struct journal_slice){ (const uint8_t *)who, (uint32_t)strlen(who) };
  r.body.note.text = (struct journal_slice){ (const uint8_t *)q->text, (uint32_t)strlen(q->text) };
  if (q->claimed_who) r.body.note.claimed_who = (struct journal_slice){ (const uint8_t *)q->claimed_who, (uint32_t)q->claimed_who_len };
  uint64_t seq = 0;
  int rc = run_append_fx(d, &r, &seq, NULL, NULL);
  if (rc == 0) rc = journal_sync(d->j);
  if (rc) return run_reply_error(journal_strerror(rc));
  d->notes++;
  json_t *o = json_pack("{s:b, s:I}", "ok", 1, "seq", (json_int_t)seq);
  char *out = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return out;
}

/* A switch: journaled with a waiter on it; the fold's refusal or reply answers at once, a
 * command at its sense-back. */
static char *switch_op(struct daemon *d, struct daemon_client *c, int role, const struct control_req *q)
{
  if (!peer_may_append(d, c, q->target, q->on, q->rid)) return reply_rate_limited();
  struct waiter *w = waiter_take(d, c);
  if (!w) return run_reply_error("busy: too many switch requests waiting");
  uint64_t seq = 0, fxs[REPLAY_EFFECTS_MAX] = { 0 };
  struct replay_effects fx;
  int rc = run_request_switch(d, q->target, q->on, q->rid, q->reason, q->expiry_ns, daemon_role_journal(role), q->origin,
                              c->uid, c->gid, &seq, &fx, fxs);
  if (rc) { w->used = false; return run_reply_error(journal_strerror(rc)); }
  for (uint32_t i = 0; i < fx.n; i++)
    if (fx.e[i].kind == REPLAY_EFFECT_COMMAND) run_waiters_follow(d, seq, fxs[i]);
  /* refusal / reply already answered through wake_waiters; a command answers at its sense-back */
  if (w->used && w->request_seq == seq && w->command_seq == 0) {
    w->used = false;
    return run_reply_error("no decision for this request");
  }
  return NULL;
}

/* A bridge's DER poll: journaled as a `der` record when due (run_der_obs.c), under the rate limit. */
static char *der_observe_op(struct daemon *d, struct daemon_client *c, const struct control_der_obs *o)
{
  struct journal_record r;
  uint64_t seq = 0;
  if (run_der_obs_due(d, o, &r)) {
    if (!peer_may_append(d, c, JOURNAL_TARGET_SERVICE, false, "")) return reply_rate_limited();
    int rc = run_der_obs_append(d, &r, &seq);
    if (rc) return run_reply_error(journal_strerror(rc));
  }
  json_t *o2 = json_pack("{s:b, s:I}", "ok", 1, "seq", (json_int_t)seq);
  char *out = json_dumps(o2, JSON_COMPACT);
  json_decref(o2);
  return out;
}

char *daemon_handle_request(struct daemon *d, struct daemon_client *c, const char *line, size_t len)
{
  struct control_req q;
  char msg[300];
  if (control_req_load(&q, line, len, msg, sizeof msg)) return run_reply_error(msg);
  run_control_flush_limited(d, false);
  int role = daemon_role_of(d->roles, c->have_cred, c->uid, c->gid);
  struct control_ctx ctx = { .panel = d->panel, .role = role, .next_seq = journal_head_seq(d->j) + 1,
                             .wall_ns = run_wall_ns(d),
                             .der_bridge = daemon_is_der_bridge(d->roles, c->have_cred, c->uid, c->gid) };
  const char *bad = control_req_check(&q, &ctx, msg, sizeof msg);
  char *out = NULL;
  if (bad) {
    out = run_reply_error(bad);
  } else if (q.op == CONTROL_STATUS) {
    json_t *o = run_status_json(d);
    json_object_set_new(o, "ok", json_true());
    out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
  } else if (q.op == CONTROL_NOTE) {
    out = note_op(d, c, &q);
  } else if (q.op == CONTROL_SWITCH) {
    out = switch_op(d, c, role, &q);
  } else if (q.op == CONTROL_CALIBRATE) {
    out = peer_may_append(d, c, q.cal.branch, true, "") ? run_calib_op(d, c, &q.cal) : reply_rate_limited();
  } else if (q.op == CONTROL_DER_BRIDGE) {
    out = q.derb.stage == CONTROL_DER_FETCH || peer_may_append(d, c, JOURNAL_TARGET_SERVICE, false, "")
              ? run_der_cmd_op(d, c->uid, &q.derb) : reply_rate_limited();
  } else if (q.op == CONTROL_REMOTE) {
    /* a signed remote command: its signature is its authority, whoever hands it over (remote_accept.c) */
    out = peer_may_append(d, c, JOURNAL_TARGET_SERVICE, false, "") ? run_remote_op(d, c, q.cose) : reply_rate_limited();
  } else if (q.op == CONTROL_DER_OBSERVE) {
    out = der_observe_op(d, c, &q.obs);
  } else if (q.op == CONTROL_POLICY) {
    q.q.role = daemon_role_journal(role);
    q.q.uid = c->uid;
    q.q.gid = c->gid;
    if (!peer_may_append(d, c, JOURNAL_TARGET_SERVICE, q.q.desired == JOURNAL_DESIRED_ON, q.rid)) out = reply_rate_limited();
    else out = run_control_policy_op(d, c, &q.q);
  } else if (!strcmp(q.op_name, "witness")) { /* a head-end's cosignature (run_witness.c) */
    out = peer_may_append(d, c, JOURNAL_TARGET_SERVICE, false, "") ? run_witness_op(d, role, q.json) : reply_rate_limited();
  } else {
    out = run_viewer_op(d, c, q.op_name, q.json); /* the read ops; "unknown op" for the rest */
  }
  control_req_free(&q);
  return out;
}
