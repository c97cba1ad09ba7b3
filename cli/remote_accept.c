/*
 * remote_accept.c — the daemon's decision on a signed remote command (remote.h, docs/fleet.md
 * "Remote commands"): decoded (remote_cose.c), the issuer found by kid in the panel config's
 * "remote" section (remote_config.c), the signature, audience, time window, cti and per-issuer
 * seq checked, the issuer's role against the request, and for a service disconnect under the
 * two-person rule a second issuer's signature awaited. Accepted: the request is journaled with
 * source remote:<issuer>, its seq and cti (the record persists the seq before anything acts: the
 * fold's command follows it) and decided by the fold as any other. Refused: a refusal record with
 * the reason, under a rate limit (bytes anyone can send must not fill the journal).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "remote_state.h"
#include "run.h"

#define SKEW_S REMOTE_SKEW_S
#define REFUSAL_BURST 20           /* refusals journaled per bucket before the rate applies */
#define REFUSAL_EVERY_MS 6000      /* then one per 6 s per bucket; the rest counted in the next */

/* A refusal record for a remote command (cause_seq 0: no request was journaled), under the
 * bucket's rate limit unless always; its seq in *seq (0 when only counted). */
static int journal_refusal(struct daemon *d, struct remote_bucket *b, bool always, const char *source_name, uint8_t reason,
                           const struct remote_msg *m, uint64_t *seq)
{
  *seq = 0;
  uint64_t now = uv_now(&d->loop);
  if (!always) {
    if (b->last_ms == 0) b->tokens = REFUSAL_BURST;
    else b->tokens += (double)(now - b->last_ms) / REFUSAL_EVERY_MS;
    if (b->tokens > REFUSAL_BURST) b->tokens = REFUSAL_BURST;
    b->last_ms = now;
    if (b->tokens < 1) { b->suppressed++; return 0; }
    b->tokens -= 1;
  }
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_REFUSAL;
  r.source.kind = JOURNAL_SRC_REMOTE;
  snprintf(r.source.name, sizeof r.source.name, "%s", source_name);
  struct journal_refusal *f = &r.body.refusal;
  f->target = JOURNAL_TARGET_SERVICE;
  f->reason = reason;
  if (!always && b->suppressed) { f->count = b->suppressed + 1; b->suppressed = 0; }
  if (m && m->payload) { /* got as far as the claims */
    f->remote_seq = m->c.seq;
    f->cti = (struct journal_slice){ m->c.cti, (uint32_t)m->c.cti_len };
  }
  d->refusals++;
  return run_append_fx(d, &r, seq, NULL, NULL);
}

static char *reply_refused(struct daemon *d, struct remote_bucket *b, bool always, const char *source_name, uint8_t reason,
                           const struct remote_msg *m, const char *detail)
{
  uint64_t seq = 0;
  int rc = journal_refusal(d, b, always, source_name, reason, m, &seq);
  if (rc) return run_reply_error(journal_strerror(rc));
  json_t *o = json_pack("{s:b, s:s, s:s, s:I, s:I, s:b}", "ok", 1, "outcome", "refusal", "reason",
                        replay_refusal_reason_name(reason), "request_seq", (json_int_t)0, "refusal_seq", (json_int_t)seq,
                        "journaled", seq != 0);
  if (detail) json_object_set_new(o, "detail", json_string(detail));
  char *out = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return out;
}

/* The roles' requests (docs/fleet.md): utility — demand response, the service disconnect
 * (disconnect, reconnect, set-mode; confirm is the local button's), DER curtailment; installer
 * — alarm acknowledgements and DER commands. Neither may ask what is kept for someone at the
 * panel (control_der_battery_guarded: the battery's disconnect and its limits). */
static bool role_permits(int role, const char *op, const char *action, const char *source)
{
  if (!op) return false;
  if (!strcmp(op, "der") && source && !strcmp(source, "ess") && action &&
      control_der_battery_guarded(JOURNAL_DERT_ESS, journal_der_action_from_name(action)))
    return false;
  if (role == ROLE_UTILITY)
    return !strcmp(op, "dr") || !strcmp(op, "der") ||
           (!strcmp(op, "service") && action && strcmp(action, "confirm"));
  if (role == ROLE_INSTALLER) return !strcmp(op, "alarm_ack") || !strcmp(op, "der");
  return false;
}

/* A cti is the issuer's own: another issuer using it first does not spend it (one read back from
 * the journal, any issuer's: a renamed issuer's message cannot come again under the new name). */
static bool cti_seen(const struct remote_state *st, const uint8_t kid[REMOTE_KID_BYTES], const struct remote_msg *m,
                     int64_t now_s)
{
  for (unsigned i = 0; i < REMOTE_CTIS; i++) {
    const struct remote_cti *k = &st->ctis[i];
    if ((k->any || !memcmp(k->kid, kid, REMOTE_KID_BYTES)) && k->len == m->c.cti_len && k->until_s >= now_s &&
        !memcmp(k->cti, m->c.cti, k->len))
      return true;
  }
  return false;
}

/* The message consumed: its seq is the issuer's last, its cti remembered until exp + skew (a
 * ring: the oldest goes first; after that, and after a restart, the seq still refuses a replay). */
static void consume(struct remote_state *st, struct remote_issuer *is, const struct remote_msg *m)
{
  is->last_seq = m->c.seq;
  struct remote_cti *k = &st->ctis[st->cti_next++ % REMOTE_CTIS];
  memcpy(k->cti, m->c.cti, m->c.cti_len);
  k->len = (uint8_t)m->c.cti_len;
  k->any = false;
  memcpy(k->kid, is->kid, REMOTE_KID_BYTES);
  k->until_s = m->c.exp + SKEW_S;
}

/* The request claim checked as the control socket checks a request of that role. */
static const char *check_request(struct daemon *d, const struct remote_issuer *is, const struct remote_msg *m,
                                 struct control_req *q, uint8_t *reason, char *msg, size_t msg_len)
{
  *reason = JOURNAL_REF_MALFORMED;
  if (control_req_load(q, m->c.req, m->c.req_len, msg, msg_len)) return msg;
  const char *op = json_string_value(json_object_get(q->json, "op"));
  if (!role_permits(is->role, op, json_string_value(json_object_get(q->json, "action")),
                    json_string_value(json_object_get(q->json, "source")))) {
    *reason = JOURNAL_REF_ROLE;
    snprintf(msg, msg_len, "role %s may not ask %s remotely", daemon_role_name(is->role), op ? op : "(no op)");
    return msg;
  }
  /* mode 0 (always connected) closes a disconnected service at once: from afar that is the
   * armed reconnect's local confirmation skipped (and one key undoing a two-person disconnect) */
  const char *action = json_string_value(json_object_get(q->json, "action"));
  json_t *mode = json_object_get(q->json, "mode");
  if (!strcmp(op, "service") && action && !strcmp(action, "set-mode") && json_is_integer(mode) && json_integer_value(mode) == 0 &&
      d->h.state.pol.svc_state != REPLAY_SVC_CONNECTED) {
    *reason = JOURNAL_REF_ROLE;
    snprintf(msg, msg_len, "set-mode 0 would reconnect the service without the panel's button: reconnect remotely, then confirm at the panel");
    return msg;
  }
  struct control_ctx ctx = { .panel = d->panel, .role = is->role, .next_seq = journal_head_seq(d->j) + 1,
                             .wall_ns = run_wall_ns(d), .der_bridge = false };
  const char *bad = control_req_check(q, &ctx, msg, msg_len);
  if (!bad && q->op != CONTROL_POLICY) bad = "not a policy request";
  if (bad && !strncmp(bad, "refused: role", 13)) *reason = JOURNAL_REF_ROLE;
  return bad;
}

/* The two-person rule (remote.two_person.service_disconnect): true when this disconnect is the
 * second, from another issuer within the window; else it becomes the one held. */
static bool second_signature(struct remote_state *st, unsigned issuer, int64_t now_s, uint64_t *first_seq,
                             unsigned *first_issuer)
{
  struct remote_pending *p = &st->pending;
  if (p->used && p->issuer != issuer && now_s - p->at_s <= st->window_s && now_s >= p->at_s && now_s <= p->exp_s) {
    *first_seq = p->record_seq;
    *first_issuer = p->issuer;
    return true; /* held until the second's request is journaled (accept_request) */
  }
  return false;
}

static char *accept_request(struct daemon *d, struct daemon_client *c, struct remote_state *st, unsigned ii,
                            const struct remote_msg *m, int64_t now_s)
{
  struct remote_issuer *is = &st->iss[ii];
  struct control_req q;
  char msg[300], rid[CONTROL_RID_MAX + 1], why[160];
  uint8_t reason;
  const char *bad = check_request(d, is, m, &q, &reason, msg, sizeof msg);
  if (bad) {
    char *out = reply_refused(d, &is->bucket, false, is->name, reason, m, bad);
    control_req_free(&q);
    return out;
  }
  struct journal_request *r = &q.q;
  r->role = daemon_role_journal(is->role);
  r->uid = r->gid = 0;
  r->issuer = (struct journal_slice){ (const uint8_t *)is->name, (uint32_t)strlen(is->name) };
  r->remote_seq = m->c.seq;
  r->cti = (struct journal_slice){ m->c.cti, (uint32_t)m->c.cti_len };
  /* in the issuer's own namespace: remote-<issuer>-<the id given>, else -<seq> (not sock-<seq>),
   * so no issuer can take an id another principal's request will use (refused conflict) */
  const char *given = json_string_value(json_object_get(q.json, "request_id"));
  int rl = given ? snprintf(rid, sizeof rid, "remote-%s-%s", is->name, given)
                 : snprintf(rid, sizeof rid, "remote-%s-%llu", is->name, (unsigned long long)m->c.seq);
  if (rl < 0 || (size_t)rl >= sizeof rid) {
    char *out = reply_refused(d, &is->bucket, false, is->name, JOURNAL_REF_MALFORMED, m,
                              "request_id: with its prefix remote-<issuer>- longer than 64 bytes");
    control_req_free(&q);
    return out;
  }
  r->request_id = (struct journal_slice){ (const uint8_t *)rid, (uint32_t)strlen(rid) };
  int64_t exp_ns = m->c.exp * 1000000000ll; /* the request lapses with the signature's validity */
  if (!r->expiry_ns || r->expiry_ns > exp_ns) r->expiry_ns = exp_ns;
  bool disconnect = r->kind == JOURNAL_REQ_SERVICE && r->action == JOURNAL_SVC_DISCONNECT;
  if (disconnect && st->two_person_disconnect) {
    uint64_t first_seq = 0;
    unsigned first = 0;
    if (!second_signature(st, ii, now_s, &first_seq, &first)) {
      uint64_t seq = 0;
      char *out = reply_refused(d, &is->bucket, true, is->name, JOURNAL_REF_AWAITING_SECOND, m,
                                "a service disconnect needs a second issuer's signature within the window");
      if (!d->append_err) {
        consume(st, is, m);
        seq = journal_head_seq(d->j);
        st->pending = (struct remote_pending){ true, ii, seq, now_s, m->c.exp + SKEW_S };
      }
      control_req_free(&q);
      return out;
    }
    snprintf(why, sizeof why, "two-person: with %s's signature (refusal seq %llu)", st->iss[first].name,
             (unsigned long long)first_seq);
    r->reason = (struct journal_slice){ (const uint8_t *)why, (uint32_t)strlen(why) };
  }
  uint64_t next = journal_head_seq(d->j) + 1;
  char *out = run_control_policy_op(d, c, r);
  if (journal_head_seq(d->j) >= next) { /* journaled: the seq is the issuer's last */
    consume(st, is, m);
    if (disconnect && st->two_person_disconnect) st->pending.used = false; /* the first signature spent */
  }
  control_req_free(&q);
  return out;
}

char *run_remote_op(struct daemon *d, struct daemon_client *c, const char *cose_b64)
{
  struct remote_state *st = run_remote_state(d);
  if (!st) return run_reply_error("out of memory");
  static uint8_t buf[REMOTE_MSG_MAX + 4];
  size_t len = 0;
  struct remote_msg m;
  char why[160], name[32];
  memset(&m, 0, sizeof m);
  if (sodium_base642bin(buf, sizeof buf, cose_b64, strlen(cose_b64), NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL))
    return reply_refused(d, &st->unauth_bucket, false, "?", JOURNAL_REF_MALFORMED, NULL, "not base64 of at most 8192 bytes");
  if (remote_decode(buf, len, &m, why, sizeof why)) {
    snprintf(name, sizeof name, "?");
    if (m.have_kid) {
      memcpy(name, "kid-", 4);
      sodium_bin2hex(name + 4, sizeof name - 4, m.kid, 12);
    }
    m.payload = NULL; /* the claims did not decode: none journaled */
    return reply_refused(d, &st->unauth_bucket, false, name, JOURNAL_REF_MALFORMED, &m, why);
  }
  int ii = remote_issuer_by_kid(st, m.kid);
  if (ii < 0) {
    memcpy(name, "kid-", 4);
    sodium_bin2hex(name + 4, sizeof name - 4, m.kid, 12);
    return reply_refused(d, &st->unauth_bucket, false, name, JOURNAL_REF_UNKNOWN_ISSUER, &m,
                         "no issuer of the panel config's remote section has this kid");
  }
  struct remote_issuer *is = &st->iss[ii];
  if (!remote_verify(&m, is->pk))
    return reply_refused(d, &st->unauth_bucket, false, is->name, JOURNAL_REF_SIGNATURE, &m, "the signature does not verify");
  /* authenticated from here on; a captured message can still be replayed by anyone: limited too */
  int64_t now_s = run_wall_ns(d) / 1000000000ll;
  struct remote_bucket *b = &is->bucket;
  if (!d->device_id[0] || strcmp(m.c.aud, d->device_id))
    return reply_refused(d, b, false, is->name, JOURNAL_REF_AUDIENCE, &m, "aud is not this panel's device id");
  if (m.c.iat > now_s + SKEW_S) return reply_refused(d, b, false, is->name, JOURNAL_REF_NOT_YET_VALID, &m, "iat is in the future");
  if (now_s > m.c.exp + SKEW_S) return reply_refused(d, b, false, is->name, JOURNAL_REF_EXPIRED, &m, "exp has passed");
  if (cti_seen(st, is->kid, &m, now_s)) return reply_refused(d, b, false, is->name, JOURNAL_REF_REPLAYED, &m, "cti already accepted");
  if (st->seqs_unknown)
    return reply_refused(d, b, false, is->name, JOURNAL_REF_SEQUENCE, &m, "the issuers' last seqs could not be read from the journal");
  if (st->floor_s && m.c.iat < st->floor_s + SKEW_S)
    return reply_refused(d, b, false, is->name, JOURNAL_REF_SEQUENCE, &m,
                         "iat is before the oldest record the journal keeps: whether it was accepted cannot be checked");
  if (m.c.seq <= is->last_seq) {
    snprintf(why, sizeof why, "seq %llu is not above %llu, the last accepted from %s", (unsigned long long)m.c.seq,
             (unsigned long long)is->last_seq, is->name);
    return reply_refused(d, b, false, is->name, JOURNAL_REF_SEQUENCE, &m, why);
  }
  return accept_request(d, c, st, (unsigned)ii, &m, now_s);
}
