/*
 * run_der_cmd.c — DER commands at the daemon (reducer v 10; docs/policy.md "DER commands").
 *
 * The fold decides a `der` request into a command record like any other; nothing at the panel
 * moves for it. The SunSpec bridge executes it: it asks (op der_command) for the source's command
 * once that record is durable, writes it to the device and says so (op der_report, stage written
 * or write_failed), and when a later poll shows the change (stage shown). The daemon journals each
 * step: an `actuation` (actuator sunspec) for the write, a `sense_back` (actuator sunspec)
 * confirmed when shown, no_feedback when the write failed or nothing was shown in time. So every
 * DER command ends in a sense_back, with or without a bridge:
 *   - a command nobody wrote within RUN_DER_CMD_WRITE_NS of panel time: no_feedback, and a
 *     fault{der_command_unexecuted};
 *   - a command written but not shown within RUN_DER_CMD_SHOW_NS: no_feedback;
 *   - a newer command for the same source supersedes one not yet proven: no_feedback for it.
 *   - a connect the panel's view now forbids when the bridge asks for it (the grid absent, a
 *     backfeed risk, the transfer switch's interlock open): no_feedback and a
 *     fault{der_command_withheld}.
 * A command pending in the folded state when the daemon starts is ended (no_feedback, fault
 * der_command_unexecuted): it was decided for a moment that has passed. A command is handed to
 * one peer (uid) only, and only that peer may report on it; the ops are for the uids of the
 * roles section's "der_bridge" list (and admin), not for every automation client. A superseded
 * command's late write report from its peer still becomes its actuation.
 */
#include <stdio.h>
#include <string.h>
#include "run.h"
#include "control_req.h"

#define RUN_DER_CMD_WRITE_NS (30ll * 1000000000ll)
#define RUN_DER_CMD_SHOW_NS (60ll * 1000000000ll)

static const char *const source_names[2] = { "pv", "ess" };

/* The sense_back that ends command k: confirmed or no_feedback. */
static void finish(struct daemon *d, struct der_cmd *k, bool confirmed)
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_SENSE_BACK;
  r.source.kind = JOURNAL_SRC_DER;
  r.source.sub = k->source;
  struct journal_sense_back *sb = &r.body.sense_back;
  uint64_t now = run_now_ns(d);
  sb->target = k->branch;
  sb->actuator = JOURNAL_ACTR_SUNSPEC;
  sb->commanded = k->on ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF;
  sb->sensed = confirmed ? (k->on ? JOURNAL_SENSED_ON : JOURNAL_SENSED_OFF) : JOURNAL_SENSED_UNKNOWN;
  sb->verdict = confirmed ? JOURNAL_VERDICT_CONFIRMED : JOURNAL_VERDICT_NO_FEEDBACK;
  sb->aux = JOURNAL_AUX_NOT_WIRED;
  sb->load_v = JOURNAL_LOADV_NOT_WIRED;
  uint64_t from = k->written ? k->written_ns : k->at_ns;
  uint64_t us = now > from ? (now - from) / 1000u : 0;
  sb->elapsed_us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
  sb->t_ns = now;
  sb->command_seq = k->seq;
  sb->request_id = (struct journal_slice){ (const uint8_t *)k->request_id, (uint32_t)strlen(k->request_id) };
  uint64_t seq = 0;
  k->live = false;
  if (run_append_fx(d, &r, &seq, NULL, NULL)) return;
  d->sense_backs++;
  char line[256];
  snprintf(line, sizeof line, "{\"ok\":true,\"outcome\":\"command\",\"command_seq\":%llu,\"sense_back_seq\":%llu,\"verdict\":\"%s\",\"der\":\"%s\"}",
           (unsigned long long)k->seq, (unsigned long long)seq, confirmed ? "confirmed" : "no_feedback", source_names[k->source]);
  run_waiters_wake(d, 0, k->seq, line);
}

static struct der_cmd *slot(struct daemon *d, uint8_t source) { return &d->der_cmd[source == JOURNAL_DER_PV ? 0 : 1]; }

void run_der_cmd_queue(struct daemon *d, const struct replay_effect *e, uint64_t seq)
{
  uint8_t source = e->der == JOURNAL_DERT_PV ? JOURNAL_DER_PV : JOURNAL_DER_ESS;
  struct der_cmd *k = slot(d, source);
  if (k->live) {
    /* superseded before it was proven: ended now; if a bridge took it and has not said whether
     * it wrote it, its late report still becomes the actuation it was */
    struct der_cmd *old = &d->der_cmd_old[source == JOURNAL_DER_PV ? 0 : 1];
    *old = *k;
    old->live = k->fetched && !k->written;
    finish(d, k, false);
  }
  memset(k, 0, sizeof *k);
  k->live = true;
  k->source = source;
  k->seq = seq;
  k->action = e->der_action;
  k->permille = e->der_permille;
  k->branch = e->target;
  k->on = e->desired == JOURNAL_DESIRED_ON;
  k->at_ns = run_now_ns(d);
  size_t n = e->request_id_len < sizeof k->request_id - 1 ? e->request_id_len : sizeof k->request_id - 1;
  memcpy(k->request_id, e->request_id, n);
}

/* At start: a command the folded state holds unproven was decided for a moment that has passed
 * (the grid, the interlocks, the request's expiry may all have changed): it is ended, not
 * offered again, with a fault saying so; whoever asked asks again. */
static void resume(struct daemon *d)
{
  d->der_cmd_resumed = true;
  for (uint8_t i = 0; i < 2; i++) {
    const struct replay_der *s = &d->h.state.der[i];
    if (d->h.state.reducer_version < 10 || s->cmd_state != REPLAY_DERCMD_PENDING || !s->cmd_seq) continue;
    if (run_permit_owns(d, s->cmd_seq)) continue; /* the battery's permit: proven afresh (run_permit.c) */
    struct der_cmd k;
    memset(&k, 0, sizeof k);
    k.source = i;
    k.seq = s->cmd_seq;
    k.action = s->cmd_action;
    k.branch = s->branch;
    k.on = s->cmd_action != JOURNAL_DERA_DISCONNECT;
    k.at_ns = run_now_ns(d);
    char detail[160];
    snprintf(detail, sizeof detail, "DER command seq %llu to %s was not proven before the daemon stopped: ended, not re-sent",
             (unsigned long long)k.seq, source_names[i]);
    run_fault(d, "der_command_unexecuted", (int64_t)k.seq, k.branch, detail);
    finish(d, &k, false);
  }
}

/* The panel's view now forbids what a connect would do (decided earlier, not yet written): the
 * reason, or NULL. */
static const char *connect_withheld(const struct daemon *d)
{
  const struct replay_state *s = &d->h.state;
  if (s->grid_present == 1) return "the grid is absent now";
  if (s->backfeed_risk) return "a backfeed risk now";
  if (s->der[JOURNAL_DER_ATS].seen && !s->der[JOURNAL_DER_ATS].interlock_ok) return "the transfer switch's interlock is open now";
  return NULL;
}

void run_der_cmd_tick(struct daemon *d)
{
  if (!d->der_cmd_resumed) resume(d);
  uint64_t now = run_now_ns(d);
  for (int i = 0; i < 2; i++) {
    struct der_cmd *k = &d->der_cmd[i];
    if (!k->live) continue;
    if (!k->written && now - k->at_ns >= (uint64_t)RUN_DER_CMD_WRITE_NS) {
      char detail[160];
      snprintf(detail, sizeof detail, "DER command seq %llu to %s: no bridge wrote it within %lld s (is hems bridge sunspec running?)",
               (unsigned long long)k->seq, source_names[k->source], RUN_DER_CMD_WRITE_NS / 1000000000ll);
      run_fault(d, "der_command_unexecuted", (int64_t)k->seq, k->branch, detail);
      finish(d, k, false);
    } else if (k->written && now - k->written_ns >= (uint64_t)RUN_DER_CMD_SHOW_NS) {
      finish(d, k, false);
    }
  }
}

char *run_der_cmd_op(struct daemon *d, uint32_t uid, const struct control_der_bridge *b)
{
  struct der_cmd *k = slot(d, b->source);
  if (b->stage == CONTROL_DER_FETCH) {
    /* write-ahead: only a durable command is handed out; once taken, only to the same peer
     * again (a bridge that restarted), never to another */
    if (!k->live || k->written || k->seq > journal_durable_seq(d->j) || (k->fetched && k->fetched_uid != uid))
      return run_reply_line(json_pack("{s:b, s:n}", "ok", 1, "command"));
    const char *why = k->action == JOURNAL_DERA_CONNECT ? connect_withheld(d) : NULL;
    if (why) {
      char detail[200];
      snprintf(detail, sizeof detail, "DER command seq %llu (connect %s) withheld: %s", (unsigned long long)k->seq,
               source_names[k->source], why);
      run_fault(d, "der_command_withheld", (int64_t)k->seq, k->branch, detail);
      finish(d, k, false);
      return run_reply_line(json_pack("{s:b, s:n}", "ok", 1, "command"));
    }
    k->fetched = true; /* only the peer that took it reports on it */
    k->fetched_uid = uid;
    json_t *c = json_pack("{s:I, s:s, s:i, s:i, s:s}", "seq", (json_int_t)k->seq, "action", journal_der_action_name(k->action),
                          "permille", (int)k->permille, "target", (int)k->branch, "request_id", k->request_id);
    return run_reply_line(json_pack("{s:b, s:o}", "ok", 1, "command", c));
  }
  struct der_cmd *old = &d->der_cmd_old[b->source == JOURNAL_DER_PV ? 0 : 1];
  if ((!k->live || k->seq != b->command_seq) && old->live && old->seq == b->command_seq && old->fetched_uid == uid &&
      b->stage != CONTROL_DER_SHOWN) {
    k = old; /* a superseded command's late write report: its actuation (its sense_back is journaled) */
    old->live = false;
    old->superseded = true;
  } else if (!k->live || k->seq != b->command_seq)
    return run_reply_error("refused: no such DER command awaiting the bridge for this source");
  if (!k->fetched || k->fetched_uid != uid) return run_reply_error("refused: the command was handed to another peer (uid), or to none");
  if (b->stage == CONTROL_DER_SHOWN && !k->written) return run_reply_error("refused: the command was not reported written");
  if (b->stage != CONTROL_DER_SHOWN && k->written) return run_reply_error("refused: the command was already reported written");
  if (b->stage == CONTROL_DER_SHOWN) {
    finish(d, k, true);
  } else {
    struct journal_record r;
    memset(&r, 0, sizeof r);
    r.type = JOURNAL_T_ACTUATION;
    r.source.kind = JOURNAL_SRC_DER;
    r.source.sub = k->source;
    struct journal_actuation *a = &r.body.actuation;
    a->target = k->branch;
    a->actuator = JOURNAL_ACTR_SUNSPEC;
    a->action = JOURNAL_ACTION_NONE;
    a->desired = k->on ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF;
    a->result = b->stage == CONTROL_DER_WRITTEN ? JOURNAL_ACTRES_OK : JOURNAL_ACTRES_FAILED;
    a->error = b->stage == CONTROL_DER_WRITTEN ? 0 : -(b->error ? b->error : 5 /* EIO */);
    a->line = 0xffffffffu;
    a->t_ns = run_now_ns(d);
    a->command_seq = k->seq;
    a->request_id = (struct journal_slice){ (const uint8_t *)k->request_id, (uint32_t)strlen(k->request_id) };
    int rc = run_append(d, &r);
    if (rc) return run_reply_error(journal_strerror(rc));
    d->actuations++;
    k->written = true;
    k->written_ns = run_now_ns(d);
    if (b->stage == CONTROL_DER_WRITE_FAILED && !k->superseded) finish(d, k, false);
  }
  return run_reply_line(json_pack("{s:b}", "ok", 1));
}
