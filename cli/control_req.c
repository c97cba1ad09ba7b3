/*
 * control_req.c — a control-socket request line checked without the loop (control_req.h):
 * JSON shape, field ranges, branch names, and the roles that may never make a request.
 */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "control_req.h"
#include "reduce.h"

int control_req_load(struct control_req *r, const char *line, size_t len, char *msg, size_t msg_len)
{
  memset(r, 0, sizeof *r);
  json_error_t je;
  /* each key once: two "target"s could be read differently by different parts of the code */
  json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
  if (!req || !json_is_object(req)) {
    if (req) snprintf(msg, msg_len, "malformed request: expected one JSON object per line");
    else snprintf(msg, msg_len, "malformed request: %s (one JSON object per line, each key once)", je.text);
    json_decref(req);
    return -1;
  }
  r->json = req;
  return 0;
}

void control_req_free(struct control_req *r)
{
  json_decref(r->json);
  r->json = NULL;
}

/* A branch given as its number (1..max) or its configured name; 0 when neither. */
static unsigned branch_number(const struct hw_panel *p, const json_t *v, json_int_t max)
{
  if (json_is_integer(v)) {
    json_int_t n = json_integer_value(v);
    return n >= 1 && n <= max ? (unsigned)n : 0;
  }
  if (json_is_string(v))
    for (unsigned b = 0; b < p->num_branches; b++)
      if (!strcmp(p->branch[b].name, json_string_value(v))) return p->branch[b].number;
  return 0;
}

static bool branch_is_critical(const struct hw_panel *p, unsigned number)
{
  for (unsigned b = 0; b < p->num_branches; b++)
    if (p->branch[b].number == number) return p->branch[b].critical;
  return false;
}

const char *daemon_role_name(int role)
{
  static const char *const names[] = { "viewer", "automation", "utility", "operator", "installer", "admin" };
  return role >= ROLE_VIEWER && role <= ROLE_ADMIN ? names[role] : "viewer";
}

/* The request_id given, or sock-<the seq the request would get>. */
static const char *request_id(struct control_req *r, const struct control_ctx *ctx)
{
  const char *rid = json_string_value(json_object_get(r->json, "request_id"));
  if (rid) return rid;
  snprintf(r->ridbuf, sizeof r->ridbuf, "sock-%llu", (unsigned long long)ctx->next_seq);
  return r->ridbuf;
}

static const char *check_note(struct control_req *r, const struct control_ctx *ctx, char *msg, size_t msg_len)
{
  r->op = CONTROL_NOTE;
  r->text = json_string_value(json_object_get(r->json, "text"));
  r->claimed_who = json_string_value(json_object_get(r->json, "who"));
  if (ctx->role < ROLE_OPERATOR) {
    snprintf(msg, msg_len, "refused: role %s may not append notes", daemon_role_name(ctx->role));
    return msg;
  }
  if (!r->text || !*r->text || strlen(r->text) > CONTROL_NOTE_MAX)
    return "malformed request: note needs \"text\" (1..4096 bytes)";
  if (r->claimed_who) r->claimed_who_len = cli_utf8_prefix(r->claimed_who, CONTROL_CLAIMED_WHO_MAX);
  return NULL;
}

/* A request's expiry as wall ns (0: none): "expires" (ns since the Unix epoch) or
 * "expires_in_ns" (from now on the panel's clock). One already past is journaled all the same:
 * the fold refuses it `expired` (docs/replay.md), so the record says what was asked and when. */
static const char *expiry(json_t *req, const struct control_ctx *ctx, int64_t *out)
{
  json_t *at = json_object_get(req, "expires"), *in = json_object_get(req, "expires_in_ns");
  *out = 0;
  if (at && in) return "malformed request: give \"expires\" or \"expires_in_ns\", not both";
  if (at) {
    if (!json_is_integer(at) || json_integer_value(at) <= 0)
      return "malformed request: \"expires\" must be a positive integer (ns since the Unix epoch)";
    *out = (int64_t)json_integer_value(at);
  } else if (in) {
    if (!json_is_integer(in) || json_integer_value(in) < 0 ||
        __builtin_add_overflow(ctx->wall_ns, (int64_t)json_integer_value(in), out) || *out <= 0)
      return "malformed request: \"expires_in_ns\" must be a non-negative integer ending at a representable time";
  }
  return NULL;
}

enum { POLICY_SERVICE, POLICY_DR, POLICY_ALARM, POLICY_DER };

static const char *check_switch(struct control_req *r, const struct control_ctx *ctx)
{
  r->op = CONTROL_SWITCH;
  const char *desired = json_string_value(json_object_get(r->json, "desired"));
  r->reason = json_string_value(json_object_get(r->json, "reason")); /* cut by run_request_switch */
  r->rid = request_id(r, ctx);
  r->target = (uint16_t)branch_number(ctx->panel, json_object_get(r->json, "branch"), 65535);
  if (!r->target) return "malformed request: \"branch\" must be a branch number or a configured name";
  if (!desired || (strcmp(desired, "on") && strcmp(desired, "off")))
    return "malformed request: \"desired\" must be \"on\" or \"off\"";
  r->on = !strcmp(desired, "on");
  if (strlen(r->rid) > CONTROL_RID_MAX) return "malformed request: request_id longer than 64 bytes";
  const char *bad = expiry(r->json, ctx, &r->expiry_ns);
  if (bad) return bad;
  if (ctx->role == ROLE_UTILITY) return "refused: role utility may not switch branches";
  if (ctx->role == ROLE_AUTOMATION && branch_is_critical(ctx->panel, r->target))
    return "refused: role automation may not switch a critical branch";
  /* any other role's request is journaled: the fold refuses a viewer (`role`) */
  r->origin = ctx->role == ROLE_AUTOMATION ? JOURNAL_ORIGIN_AUTOMATION : JOURNAL_ORIGIN_OPERATOR;
  return NULL;
}

static const char *check_service(struct journal_request *q, const char *action, json_t *req)
{
  q->kind = JOURNAL_REQ_SERVICE;
  if (!strcmp(action, "disconnect")) { q->action = JOURNAL_SVC_DISCONNECT; q->origin = JOURNAL_ORIGIN_REMOTE; }
  else if (!strcmp(action, "reconnect")) { q->action = JOURNAL_SVC_RECONNECT; q->desired = JOURNAL_DESIRED_ON; q->origin = JOURNAL_ORIGIN_REMOTE; }
  else if (!strcmp(action, "confirm")) { q->action = JOURNAL_SVC_CONFIRM; q->desired = JOURNAL_DESIRED_ON; }
  else if (!strcmp(action, "set-mode")) {
    json_t *m = json_object_get(req, "mode");
    q->action = JOURNAL_SVC_SET_MODE;
    q->origin = JOURNAL_ORIGIN_REMOTE;
    if (!json_is_integer(m) || json_integer_value(m) < 0 || json_integer_value(m) > 6) return "malformed request: \"mode\" must be 0..6";
    q->control_mode = (uint8_t)json_integer_value(m);
  } else return "malformed request: service action must be disconnect, reconnect, confirm or set-mode";
  return NULL;
}

/* A positive integer field, or 0 when absent or not positive. */
static json_int_t positive(json_t *req, const char *key)
{
  json_t *v = json_object_get(req, key);
  return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

static const char *check_dr(struct journal_request *q, const char *action, json_t *req, const struct control_ctx *ctx)
{
  const char *bad = NULL;
  if (!strcmp(action, "start")) q->kind = JOURNAL_REQ_DR_START;
  else if (!strcmp(action, "cancel")) q->kind = JOURNAL_REQ_DR_CANCEL;
  else if (!strcmp(action, "opt-out")) q->kind = JOURNAL_REQ_DR_OPT_OUT;
  else bad = "malformed request: dr action must be start, cancel or opt-out";
  if (q->kind != JOURNAL_REQ_DR_OPT_OUT) q->origin = JOURNAL_ORIGIN_DEMAND_RESPONSE;
  const char *event = json_string_value(json_object_get(req, "event"));
  if (!event || !*event || strlen(event) > 64) bad = bad ? bad : "malformed request: \"event\" must be 1..64 bytes";
  else q->event = (struct journal_slice){ (const uint8_t *)event, (uint32_t)strlen(event) };
  json_t *v = json_object_get(req, "modification");
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    if (json_integer_value(v) > UINT32_MAX) bad = bad ? bad : "malformed request: \"modification\" must be 0..4294967295";
    else q->modification = (uint32_t)json_integer_value(v);
  }
  if ((v = json_object_get(req, "start_ns")) && json_is_integer(v)) q->dtstart_ns = (int64_t)json_integer_value(v);
  if ((v = json_object_get(req, "start_in_ns")) && json_is_integer(v) &&
      __builtin_add_overflow(ctx->wall_ns, (int64_t)json_integer_value(v), &q->dtstart_ns))
    bad = bad ? bad : "malformed request: \"start_in_ns\" out of range";
  q->duration_ns = (uint64_t)positive(req, "duration_ns");
  q->randomize_ns = (uint64_t)positive(req, "randomize_ns");
  json_int_t w = positive(req, "reduce_w");
  if (w > UINT32_MAX) bad = bad ? bad : "malformed request: \"reduce_w\" must be 1..4294967295";
  else q->reduce_w = (uint32_t)w;
  q->mandatory = json_is_true(json_object_get(req, "mandatory"));
  /* the event's latest end must be a time: no overflow in the start drawn or the end folded */
  int64_t end = q->dtstart_ns ? q->dtstart_ns : ctx->wall_ns;
  if (__builtin_add_overflow(end, (int64_t)q->randomize_ns, &end) || __builtin_add_overflow(end, (int64_t)q->duration_ns, &end))
    bad = bad ? bad : "malformed request: start, randomize_ns and duration_ns end after the last representable time";
  json_t *br = json_object_get(req, "branches");
  for (size_t k = 0; json_is_array(br) && k < json_array_size(br); k++) {
    unsigned n = branch_number(ctx->panel, json_array_get(br, k), 64);
    if (n < 1 || n > 64) { bad = "malformed request: \"branches\" holds an unknown branch"; break; }
    q->branch_mask |= 1ull << (n - 1);
  }
  return bad;
}

/* alarm_ack: "target" a branch (number or name) or "panel", "alarm" one of the alarm names. */
static const char *check_alarm_ack(struct journal_request *q, json_t *req, const struct control_ctx *ctx)
{
  q->kind = JOURNAL_REQ_ALARM_ACK;
  json_t *t = json_object_get(req, "target");
  if (json_is_string(t) && !strcmp(json_string_value(t), "panel")) q->target = 0;
  else if (!(q->target = (uint16_t)branch_number(ctx->panel, t, 65535)))
    return "malformed request: \"target\" must be a branch number, a configured name or \"panel\"";
  const char *alarm = json_string_value(json_object_get(req, "alarm"));
  char name[32];
  for (unsigned k = 0; alarm && k < JOURNAL_ALARM_MAX; k++) /* the reducers' names: value k + 1 is bit 1 << k */
    if (!strcmp(alarm, replay_alarm_names(1u << k, name, sizeof name))) q->alarm = (uint8_t)(k + 1);
  if (!q->alarm)
    return "malformed request: \"alarm\" must be welded, ct_polarity, phase_map, unexplained_trip, stale_der, backfeed_risk, der_mismatch, leakage_high, over_temperature or temperature_rise";
  return NULL;
}

bool control_der_battery_guarded(unsigned der_target, int action)
{
  return der_target == JOURNAL_DERT_ESS &&
         (action == JOURNAL_DERA_DISCONNECT || action == JOURNAL_DERA_DISCHARGE_LIMIT || action == JOURNAL_DERA_LIMIT);
}

/* der: "source" pv or ess (configured in the panel's der), "action" connect, disconnect, limit,
 * charge_limit or discharge_limit, and for the limits "permille" 0..1000 of the rating. The
 * fold decides the rest (docs/policy.md "DER commands"). */
static const char *check_der(struct journal_request *q, const char *action, json_t *req, const struct control_ctx *ctx)
{
  q->kind = JOURNAL_REQ_DER;
  const char *src = json_string_value(json_object_get(req, "source"));
  if (!src || (strcmp(src, "pv") && strcmp(src, "ess"))) return "malformed request: \"source\" must be \"pv\" or \"ess\"";
  unsigned t = !strcmp(src, "pv") ? JOURNAL_DERT_PV : JOURNAL_DERT_ESS;
  if (!(t == JOURNAL_DERT_PV ? ctx->panel->der.pv : ctx->panel->der.ess))
    return t == JOURNAL_DERT_PV ? "refused: the panel config has no der.pv" : "refused: the panel config has no der.ess";
  int a = journal_der_action_from_name(action);
  if (a < 0) return "malformed request: der action must be connect, disconnect, limit, charge_limit or discharge_limit";
  q->desired = a == JOURNAL_DERA_DISCONNECT ? JOURNAL_DESIRED_OFF : JOURNAL_DESIRED_ON;
  json_t *pm = json_object_get(req, "permille");
  if (a >= JOURNAL_DERA_LIMIT) {
    if (!json_is_integer(pm) || json_integer_value(pm) < 0 || json_integer_value(pm) > 1000)
      return "malformed request: \"permille\" must be 0..1000 (of the device's rating) for a limit";
  } else if (pm) return "malformed request: \"permille\" is only for limit, charge_limit and discharge_limit";
  if ((a == JOURNAL_DERA_CHARGE_LIMIT || a == JOURNAL_DERA_DISCHARGE_LIMIT) && t != JOURNAL_DERT_ESS)
    return "malformed request: charge_limit and discharge_limit are for the ess source";
  if (ctx->role == ROLE_AUTOMATION && control_der_battery_guarded(t, a))
    return "refused: role automation may not disconnect the battery or limit its discharge or output (on backup it may be what keeps the critical branches on)";
  q->der = journal_der_pack(t, (unsigned)a, a >= JOURNAL_DERA_LIMIT ? (unsigned)json_integer_value(pm) : 0);
  return NULL;
}

static const char *check_policy(struct control_req *r, const struct control_ctx *ctx, int which)
{
  r->op = CONTROL_POLICY;
  struct journal_request *q = &r->q;
  const char *action = which == POLICY_ALARM ? "ack" : json_string_value(json_object_get(r->json, "action"));
  const char *reason = json_string_value(json_object_get(r->json, "reason"));
  const char *rid = r->rid = request_id(r, ctx);
  /* roles: admin acts as the utility head-end (remote); an operator presses confirm and opts out */
  q->origin = JOURNAL_ORIGIN_OPERATOR;
  q->request_id = (struct journal_slice){ (const uint8_t *)rid, (uint32_t)strlen(rid) };
  if (reason) q->reason = (struct journal_slice){ (const uint8_t *)reason, (uint32_t)cli_utf8_prefix(reason, CONTROL_REASON_MAX) };
  const char *bad = NULL;
  if (!action) bad = "malformed request: missing \"action\"";
  else if (strlen(rid) > CONTROL_RID_MAX) bad = "malformed request: request_id longer than 64 bytes";
  else if (which == POLICY_SERVICE) bad = check_service(q, action, r->json);
  else if (which == POLICY_DR) bad = check_dr(q, action, r->json, ctx);
  else if (which == POLICY_DER) bad = check_der(q, action, r->json, ctx);
  else bad = check_alarm_ack(q, r->json, ctx);
  if (!bad) bad = expiry(r->json, ctx, &q->expiry_ns);
  if (!bad && (ctx->role == ROLE_AUTOMATION || ctx->role == ROLE_UTILITY) && which == POLICY_ALARM)
    bad = ctx->role == ROLE_AUTOMATION ? "refused: role automation may not acknowledge alarms"
                                       : "refused: role utility may not acknowledge alarms";
  else if (!bad && ctx->role == ROLE_AUTOMATION && q->kind != JOURNAL_REQ_DR_OPT_OUT && q->kind != JOURNAL_REQ_DER)
    bad = "refused: role automation may only opt out of demand response and command DER";
  if (ctx->role == ROLE_AUTOMATION) q->origin = JOURNAL_ORIGIN_AUTOMATION;
  else if (which == POLICY_DER && ctx->role == ROLE_UTILITY) q->origin = JOURNAL_ORIGIN_REMOTE; /* a utility's curtailment */
  return bad;
}

/* An integer field in [lo, hi]: 1 and *out, 0 when absent, -1 when malformed. */
static int int_in(json_t *req, const char *key, json_int_t lo, json_int_t hi, json_int_t *out)
{
  json_t *v = json_object_get(req, key);
  if (!v) return 0;
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) return -1;
  *out = json_integer_value(v);
  return 1;
}

/* der_observe: {"source":"pv"|"ess", "state":NAME, "w":W?, "soc_mpct":N?, "age_ms":N} or
 * {"source":…, "stale":true}. Only a uid of roles.der_bridge (ctx->der_bridge) reports. */
static const char *check_der_observe(struct control_req *r, const struct control_ctx *ctx, char *msg, size_t msg_len)
{
  r->op = CONTROL_DER_OBSERVE;
  struct control_der_obs *o = &r->obs;
  const char *src = json_string_value(json_object_get(r->json, "source"));
  if (!src || (strcmp(src, "pv") && strcmp(src, "ess"))) return "malformed request: \"source\" must be \"pv\" or \"ess\"";
  o->source = !strcmp(src, "pv") ? JOURNAL_DER_PV : JOURNAL_DER_ESS;
  if (!(o->source == JOURNAL_DER_PV ? ctx->panel->der.pv : ctx->panel->der.ess)) {
    snprintf(msg, msg_len, "refused: the panel config has no der.%s", src);
    return msg;
  }
  json_t *stale = json_object_get(r->json, "stale");
  if (stale && !json_is_boolean(stale)) return "malformed request: \"stale\" must be true or false";
  o->stale = json_is_true(stale);
  json_int_t v = 0;
  if (!o->stale) {
    int st = journal_der_state_from_name(json_string_value(json_object_get(r->json, "state")));
    if (st < 0) return "malformed request: \"state\" must be a der state (docs/bridges.md)";
    o->state = (uint8_t)st;
    int k = int_in(r->json, "w", INT32_MIN + 1, INT32_MAX, &v);
    if (k < 0) return "malformed request: \"w\" must be an integer (W)";
    o->have_w = k > 0;
    o->w = (int32_t)v;
    if ((k = int_in(r->json, "soc_mpct", 0, 1000000, &v)) < 0) return "malformed request: \"soc_mpct\" must be 0..1000000";
    o->have_soc = k > 0;
    o->soc_mpct = (int32_t)v;
    if (int_in(r->json, "age_ms", 0, 3600000, &v) < 0) return "malformed request: \"age_ms\" must be 0..3600000";
    o->age_ms = (uint32_t)v;
  }
  if (!ctx->der_bridge) {
    snprintf(msg, msg_len, "refused: role %s may not report DER observations (the uid is not in roles.der_bridge)",
             daemon_role_name(ctx->role));
    return msg;
  }
  return NULL;
}

/* der_command {"source"} and der_report {"source", "command_seq", "stage": "written" |
 * "write_failed" | "shown", "error"?}: only a uid of roles.der_bridge (ctx->der_bridge). */
static const char *check_der_bridge(struct control_req *r, const struct control_ctx *ctx, bool report, char *msg, size_t msg_len)
{
  r->op = CONTROL_DER_BRIDGE;
  struct control_der_bridge *b = &r->derb;
  const char *src = json_string_value(json_object_get(r->json, "source"));
  if (!src || (strcmp(src, "pv") && strcmp(src, "ess"))) return "malformed request: \"source\" must be \"pv\" or \"ess\"";
  b->source = !strcmp(src, "pv") ? JOURNAL_DER_PV : JOURNAL_DER_ESS;
  if (report) {
    json_int_t v = 0;
    if (int_in(r->json, "command_seq", 1, INT64_MAX, &v) <= 0) return "malformed request: \"command_seq\" must be a seq";
    b->command_seq = (uint64_t)v;
    const char *st = json_string_value(json_object_get(r->json, "stage"));
    if (st && !strcmp(st, "written")) b->stage = CONTROL_DER_WRITTEN;
    else if (st && !strcmp(st, "write_failed")) b->stage = CONTROL_DER_WRITE_FAILED;
    else if (st && !strcmp(st, "shown")) b->stage = CONTROL_DER_SHOWN;
    else return "malformed request: \"stage\" must be written, write_failed or shown";
    if (int_in(r->json, "error", 0, INT32_MAX, &v) < 0) return "malformed request: \"error\" must be an errno (0..)";
    b->error = (int32_t)v;
  }
  if (!ctx->der_bridge) {
    snprintf(msg, msg_len, "refused: role %s may not execute DER commands (the uid is not in roles.der_bridge)",
             daemon_role_name(ctx->role));
    return msg;
  }
  return NULL;
}

/* calibrate: {"branch", "factor", "reference_w", "measured_w", "windows"}; installer or admin. */
static const char *check_calibrate(struct control_req *r, const struct control_ctx *ctx, char *msg, size_t msg_len)
{
  r->op = CONTROL_CALIBRATE;
  struct control_calib *k = &r->cal;
  k->branch = (uint16_t)branch_number(ctx->panel, json_object_get(r->json, "branch"), HW_MAX_BRANCHES);
  const struct hw_panel_branch *b = k->branch ? hw_panel_branch_by_number(ctx->panel, k->branch) : NULL;
  if (!b) return "malformed request: \"branch\" must be a branch number or a configured name";
  json_t *f = json_object_get(r->json, "factor"), *rw = json_object_get(r->json, "reference_w"),
         *mw = json_object_get(r->json, "measured_w");
  json_int_t n = 0;
  if (!json_is_number(f) || !(json_number_value(f) > 0) || !(json_number_value(f) < 100))
    return "malformed request: \"factor\" must be a number in (0, 100)";
  if (!json_is_number(rw) || !(json_number_value(rw) > 0) || !json_is_number(mw) || !(json_number_value(mw) > 0))
    return "malformed request: \"reference_w\" and \"measured_w\" must be numbers > 0";
  if (int_in(r->json, "windows", 1, 100000, &n) <= 0) return "malformed request: \"windows\" must be 1..100000";
  if (ctx->role < ROLE_INSTALLER) {
    snprintf(msg, msg_len, "refused: role %s may not calibrate (installer or admin)", daemon_role_name(ctx->role));
    return msg;
  }
  k->factor = json_number_value(f);
  k->reference_w = json_number_value(rw);
  k->measured_w = json_number_value(mw);
  k->windows = (uint32_t)n;
  k->gain_old = b->gain > 0 ? b->gain : 1.0;
  k->gain = k->gain_old * k->factor;
  if (!(k->gain >= HW_CAL_GAIN_MIN && k->gain <= HW_CAL_GAIN_MAX)) {
    snprintf(msg, msg_len, "refused: branch %u: the derived gain %.6f is outside [%g, %g]: check the CT, its ratio and the reference",
             k->branch, k->gain, HW_CAL_GAIN_MIN, HW_CAL_GAIN_MAX);
    return msg;
  }
  return NULL;
}

const char *control_req_check(struct control_req *r, const struct control_ctx *ctx, char *msg, size_t msg_len)
{
  r->op_name = json_string_value(json_object_get(r->json, "op"));
  if (!r->op_name) return "malformed request: missing \"op\"";
  if (!strcmp(r->op_name, "status")) { r->op = CONTROL_STATUS; return NULL; }
  if (!strcmp(r->op_name, "note")) return check_note(r, ctx, msg, msg_len);
  if (!strcmp(r->op_name, "switch")) return check_switch(r, ctx);
  if (!strcmp(r->op_name, "service")) return check_policy(r, ctx, POLICY_SERVICE);
  if (!strcmp(r->op_name, "dr")) return check_policy(r, ctx, POLICY_DR);
  if (!strcmp(r->op_name, "alarm_ack")) return check_policy(r, ctx, POLICY_ALARM);
  if (!strcmp(r->op_name, "der")) return check_policy(r, ctx, POLICY_DER);
  if (!strcmp(r->op_name, "der_observe")) return check_der_observe(r, ctx, msg, msg_len);
  if (!strcmp(r->op_name, "calibrate")) return check_calibrate(r, ctx, msg, msg_len);
  if (!strcmp(r->op_name, "der_command")) return check_der_bridge(r, ctx, false, msg, msg_len);
  if (!strcmp(r->op_name, "der_report")) return check_der_bridge(r, ctx, true, msg, msg_len);
  if (!strcmp(r->op_name, "remote")) {
    /* any peer may hand over a signed command: the daemon checks its signature (remote_accept.c) */
    r->op = CONTROL_REMOTE;
    r->cose = json_string_value(json_object_get(r->json, "cose"));
    if (!r->cose || !*r->cose || strlen(r->cose) > 4 * ((8192 + 2) / 3))
      return "malformed request: remote needs \"cose\": a COSE_Sign1 of at most 8192 bytes in base64";
    return NULL;
  }
  r->op = CONTROL_OTHER;
  return NULL;
}
