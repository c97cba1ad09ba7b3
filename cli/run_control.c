/*
 * run_control.c — the control protocol: one request line from a socket client → checks
 * (JSON shape, role, per-peer rate limit) → a journaled request, note or status → one reply line,
 * now or when the fold decides (run_requests.c keeps the waiting client).
 */
#include <stdio.h>
#include <string.h>
#include <pwd.h>
#include "run.h"

static bool branch_is_critical(struct daemon *d, unsigned number)
{
  for (unsigned b = 0; b < d->panel->num_branches; b++)
    if (d->panel->branch[b].number == number) return d->panel->branch[b].critical;
  return false;
}

static char *reply_error(const char *msg)
{
  json_t *o = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return s;
}

/* service / dr ops: journal the request with a waiter on it; the fold's answer (refusal,
 * accepted, reply) wakes it at once, a service command at its sense-back. */
static char *policy_op(struct daemon *d, struct daemon_client *c, struct journal_request *q)
{
  int wi = -1;
  for (int i = 0; i < WAITERS_MAX; i++) if (!d->waiters[i].used) { wi = i; break; }
  if (wi < 0) return reply_error("busy: too many requests waiting");
  struct waiter *w = &d->waiters[wi];
  w->used = true;
  w->c = c;
  w->gen = c->gen;
  w->request_seq = journal_head_seq(d->j) + 1;
  w->command_seq = 0;
  uint64_t seq = 0, fxs[REPLAY_EFFECTS_MAX] = { 0 };
  struct replay_effects fx;
  int rc = run_request_policy(d, q, &seq, &fx, fxs);
  if (rc) { w->used = false; return reply_error(journal_strerror(rc)); }
  for (uint32_t i = 0; i < fx.n; i++)
    if (fx.e[i].kind == REPLAY_EFFECT_COMMAND && fx.e[i].target == JOURNAL_TARGET_SERVICE && fx.e[i].cause_seq == seq)
      run_waiters_follow(d, seq, fxs[i]);
  if (w->used && w->request_seq == seq && w->command_seq == 0) {
    w->used = false;
    return reply_error("no decision for this request");
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
  return reply_error(msg);
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
static char *note_op(struct daemon *d, struct daemon_client *c, int role, json_t *req)
{
  const char *text = json_string_value(json_object_get(req, "text"));
  const char *claimed = json_string_value(json_object_get(req, "who"));
  if (role < ROLE_OPERATOR) {
    char msg[96];
    snprintf(msg, sizeof msg, "refused: role %s may not append notes", daemon_role_name(role));
    return reply_error(msg);
  }
  if (!text || !*text || strlen(text) > 4096) return reply_error("malformed request: note needs \"text\" (1..4096 bytes)");
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
  r.body.note.text = (struct journal_slice){ (const uint8_t *)text, (uint32_t)strlen(text) };
  if (claimed) r.body.note.claimed_who = (struct journal_slice){ (const uint8_t *)claimed, (uint32_t)cli_utf8_prefix(claimed, 63) };
  uint64_t seq = 0;
  int rc = run_append_fx(d, &r, &seq, NULL, NULL);
  if (rc == 0) rc = journal_sync(d->j);
  if (rc) return reply_error(journal_strerror(rc));
  d->notes++;
  json_t *o = json_pack("{s:b, s:I}", "ok", 1, "seq", (json_int_t)seq);
  char *out = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return out;
}

char *daemon_handle_request(struct daemon *d, struct daemon_client *c, const char *line, size_t len)
{
  json_error_t je;
  /* each key once: two "target"s could be read differently by different parts of the code */
  json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
  if (!req || !json_is_object(req)) {
    char msg[300];
    if (req) snprintf(msg, sizeof msg, "malformed request: expected one JSON object per line");
    else snprintf(msg, sizeof msg, "malformed request: %s (one JSON object per line, each key once)", je.text);
    json_decref(req);
    return reply_error(msg);
  }
  run_control_flush_limited(d, false);
  const char *op = json_string_value(json_object_get(req, "op"));
  char *out = NULL;
  int role = daemon_role_of(d->roles, c->have_cred, c->uid, c->gid);
  if (!op) {
    out = reply_error("malformed request: missing \"op\"");
  } else if (!strcmp(op, "status")) {
    json_t *o = run_status_json(d);
    json_object_set_new(o, "ok", json_true());
    out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
  } else if (!strcmp(op, "note")) {
    out = note_op(d, c, role, req);
  } else if (!strcmp(op, "switch")) {
    json_t *jb = json_object_get(req, "branch");
    const char *desired = json_string_value(json_object_get(req, "desired"));
    const char *rid = json_string_value(json_object_get(req, "request_id"));
    const char *reason = json_string_value(json_object_get(req, "reason"));
    unsigned target = 0;
    if (json_is_integer(jb) && json_integer_value(jb) > 0 && json_integer_value(jb) <= 65535) target = (unsigned)json_integer_value(jb);
    else if (json_is_string(jb)) {
      for (unsigned b = 0; b < d->panel->num_branches; b++)
        if (!strcmp(d->panel->branch[b].name, json_string_value(jb))) target = d->panel->branch[b].number;
    }
    char ridbuf[48];
    if (!rid) { snprintf(ridbuf, sizeof ridbuf, "sock-%llu", (unsigned long long)journal_head_seq(d->j) + 1); rid = ridbuf; }
    if (!target) out = reply_error("malformed request: \"branch\" must be a branch number or a configured name");
    else if (!desired || (strcmp(desired, "on") && strcmp(desired, "off"))) out = reply_error("malformed request: \"desired\" must be \"on\" or \"off\"");
    else if (strlen(rid) > 64) out = reply_error("malformed request: request_id longer than 64 bytes");
    else if (role == ROLE_UTILITY) out = reply_error("refused: role utility may not switch branches");
    else if (role == ROLE_AUTOMATION && branch_is_critical(d, target))
      out = reply_error("refused: role automation may not switch a critical branch");
    else if (!peer_may_append(d, c, (uint16_t)target, !strcmp(desired, "on"), rid)) out = reply_rate_limited();
    else {
      /* The request is journaled whatever the role: the fold refuses a viewer (`role`). */
      uint8_t jrole = daemon_role_journal(role);
      uint8_t origin = role == ROLE_AUTOMATION ? JOURNAL_ORIGIN_AUTOMATION : JOURNAL_ORIGIN_OPERATOR;
      int wi = -1;
      for (int i = 0; i < WAITERS_MAX; i++) if (!d->waiters[i].used) { wi = i; break; }
      if (wi < 0) out = reply_error("busy: too many switch requests waiting");
      else {
        struct waiter *w = &d->waiters[wi];
        w->used = true;
        w->c = c;
        w->gen = c->gen;
        w->request_seq = journal_head_seq(d->j) + 1; /* the request's own seq, answered by the fold */
        w->command_seq = 0;
        uint64_t seq = 0, fxs[REPLAY_EFFECTS_MAX] = { 0 };
        struct replay_effects fx;
        int rc = run_request_switch(d, (uint16_t)target, !strcmp(desired, "on"), rid, reason, jrole, origin, c->uid, c->gid,
                                &seq, &fx, fxs);
        if (rc) { w->used = false; out = reply_error(journal_strerror(rc)); }
        else {
          for (uint32_t i = 0; i < fx.n; i++)
            if (fx.e[i].kind == REPLAY_EFFECT_COMMAND) run_waiters_follow(d, seq, fxs[i]);
          /* refusal / reply already answered through wake_waiters; a command answers at its sense-back */
          if (w->used && w->request_seq == seq && w->command_seq == 0) {
            w->used = false;
            out = reply_error("no decision for this request");
          }
        }
      }
    }
  } else if (!strcmp(op, "service") || !strcmp(op, "dr")) {
    bool svc = !strcmp(op, "service");
    const char *action = json_string_value(json_object_get(req, "action"));
    const char *rid = json_string_value(json_object_get(req, "request_id"));
    const char *reason = json_string_value(json_object_get(req, "reason"));
    const char *event = json_string_value(json_object_get(req, "event"));
    char ridbuf[48];
    if (!rid) { snprintf(ridbuf, sizeof ridbuf, "sock-%llu", (unsigned long long)journal_head_seq(d->j) + 1); rid = ridbuf; }
    struct journal_request q;
    memset(&q, 0, sizeof q);
    /* roles: admin acts as the utility head-end (remote); an operator presses confirm and opts out */
    q.role = daemon_role_journal(role);
    q.origin = JOURNAL_ORIGIN_OPERATOR;
    q.uid = c->uid;
    q.gid = c->gid;
    q.request_id = (struct journal_slice){ (const uint8_t *)rid, (uint32_t)strlen(rid) };
    if (reason) q.reason = (struct journal_slice){ (const uint8_t *)reason, (uint32_t)cli_utf8_prefix(reason, REASON_MAX) };
    const char *bad = NULL;
    if (!action) bad = "malformed request: missing \"action\"";
    else if (strlen(rid) > 64) bad = "malformed request: request_id longer than 64 bytes";
    else if (svc) {
      q.kind = JOURNAL_REQ_SERVICE;
      if (!strcmp(action, "disconnect")) { q.action = JOURNAL_SVC_DISCONNECT; q.origin = JOURNAL_ORIGIN_REMOTE; }
      else if (!strcmp(action, "reconnect")) { q.action = JOURNAL_SVC_RECONNECT; q.desired = JOURNAL_DESIRED_ON; q.origin = JOURNAL_ORIGIN_REMOTE; }
      else if (!strcmp(action, "confirm")) { q.action = JOURNAL_SVC_CONFIRM; q.desired = JOURNAL_DESIRED_ON; }
      else if (!strcmp(action, "set-mode")) {
        json_t *m = json_object_get(req, "mode");
        q.action = JOURNAL_SVC_SET_MODE;
        q.origin = JOURNAL_ORIGIN_REMOTE;
        if (!json_is_integer(m) || json_integer_value(m) < 0 || json_integer_value(m) > 6) bad = "malformed request: \"mode\" must be 0..6";
        else q.control_mode = (uint8_t)json_integer_value(m);
      } else bad = "malformed request: service action must be disconnect, reconnect, confirm or set-mode";
    } else {
      if (!strcmp(action, "start")) q.kind = JOURNAL_REQ_DR_START;
      else if (!strcmp(action, "cancel")) q.kind = JOURNAL_REQ_DR_CANCEL;
      else if (!strcmp(action, "opt-out")) q.kind = JOURNAL_REQ_DR_OPT_OUT;
      else bad = "malformed request: dr action must be start, cancel or opt-out";
      if (q.kind != JOURNAL_REQ_DR_OPT_OUT) q.origin = JOURNAL_ORIGIN_DEMAND_RESPONSE;
      if (!event || !*event || strlen(event) > 64) bad = bad ? bad : "malformed request: \"event\" must be 1..64 bytes";
      else q.event = (struct journal_slice){ (const uint8_t *)event, (uint32_t)strlen(event) };
      json_t *v;
      if ((v = json_object_get(req, "modification")) && json_is_integer(v) && json_integer_value(v) >= 0) {
        if (json_integer_value(v) > UINT32_MAX) bad = bad ? bad : "malformed request: \"modification\" must be 0..4294967295";
        else q.modification = (uint32_t)json_integer_value(v);
      }
      if ((v = json_object_get(req, "start_ns")) && json_is_integer(v)) q.dtstart_ns = (int64_t)json_integer_value(v);
      if ((v = json_object_get(req, "start_in_ns")) && json_is_integer(v) &&
          __builtin_add_overflow(run_wall_ns(d), (int64_t)json_integer_value(v), &q.dtstart_ns))
        bad = bad ? bad : "malformed request: \"start_in_ns\" out of range";
      if ((v = json_object_get(req, "duration_ns")) && json_is_integer(v) && json_integer_value(v) > 0) q.duration_ns = (uint64_t)json_integer_value(v);
      if ((v = json_object_get(req, "randomize_ns")) && json_is_integer(v) && json_integer_value(v) > 0) q.randomize_ns = (uint64_t)json_integer_value(v);
      if ((v = json_object_get(req, "reduce_w")) && json_is_integer(v) && json_integer_value(v) > 0) {
        if (json_integer_value(v) > UINT32_MAX) bad = bad ? bad : "malformed request: \"reduce_w\" must be 1..4294967295";
        else q.reduce_w = (uint32_t)json_integer_value(v);
      }
      q.mandatory = json_is_true(json_object_get(req, "mandatory"));
      /* the event's latest end must be a time: no overflow in the start drawn or the end folded */
      int64_t end = q.dtstart_ns ? q.dtstart_ns : run_wall_ns(d);
      if (__builtin_add_overflow(end, (int64_t)q.randomize_ns, &end) || __builtin_add_overflow(end, (int64_t)q.duration_ns, &end))
        bad = bad ? bad : "malformed request: start, randomize_ns and duration_ns end after the last representable time";
      json_t *br = json_object_get(req, "branches");
      for (size_t k = 0; json_is_array(br) && k < json_array_size(br); k++) {
        json_t *x = json_array_get(br, k);
        unsigned n = 0;
        if (json_is_integer(x)) n = (unsigned)json_integer_value(x);
        else if (json_is_string(x))
          for (unsigned b = 0; b < d->panel->num_branches; b++)
            if (!strcmp(d->panel->branch[b].name, json_string_value(x))) n = d->panel->branch[b].number;
        if (n < 1 || n > 64) { bad = "malformed request: \"branches\" holds an unknown branch"; break; }
        q.branch_mask |= 1ull << (n - 1);
      }
    }
    if (!bad && role == ROLE_AUTOMATION && q.kind != JOURNAL_REQ_DR_OPT_OUT)
      bad = "refused: role automation may only opt out of demand response";
    if (role == ROLE_AUTOMATION) q.origin = JOURNAL_ORIGIN_AUTOMATION;
    if (bad) out = reply_error(bad);
    else if (!peer_may_append(d, c, JOURNAL_TARGET_SERVICE, q.desired == JOURNAL_DESIRED_ON, rid)) out = reply_rate_limited();
    else out = policy_op(d, c, &q);
  } else {
    out = reply_error("unknown op");
  }
  json_decref(req);
  return out;
}
