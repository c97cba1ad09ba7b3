/*
 * run_actuate.c — the actuation executor: a decided command is driven only once its record
 * is durable (write-ahead), never twice, and journaled as an `actuation`; the sense windows get
 * this tick's current; the verdicts become `sense_back` records and answer the waiting client.
 * At start: the outputs come up in the state rebuilt from the journal, an unknown branch at its
 * fail-safe by a durable command, and a command not proven before the last stop is re-driven.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "run.h"

/* Write-ahead: a command is actuated only when its record is durable; then its `actuation`. */
void run_actuate_pending(struct daemon *d)
{
  if (!d->act_ok || d->npending == 0) return;
  uint64_t durable = journal_durable_seq(d->j);
  unsigned keep = 0;
  for (unsigned i = 0; i < d->npending; i++) {
    struct pending_cmd *p = &d->pending[i];
    if (p->seq > durable) { d->pending[keep++] = *p; continue; }
    struct actuator_command cmd = { p->target, p->on, p->request_id };
    struct journal_record r;
    memset(&r, 0, sizeof r);
    int rc = actuator_execute(&d->act, &cmd, p->seq, durable, run_now_ns(d), &r.body.actuation);
    if (rc == ACTUATOR_EBUSY) { d->pending[keep++] = *p; continue; }
    if (rc == ACTUATOR_ESTALE) continue; /* already executed (never twice) */
    if (rc) {
      char detail[160];
      snprintf(detail, sizeof detail, "command seq %llu (target %u): %s", (unsigned long long)p->seq, p->target, actuator_strerror(rc));
      run_fault(d, "actuation_refused", rc, p->target, detail);
      continue;
    }
    r.type = JOURNAL_T_ACTUATION;
    run_source_for_target(&r.source, p->target);
    if (run_append(d, &r) == 0) d->actuations++;
  }
  d->npending = keep;
}

/* Current evidence for open sense windows: this tick's one-cycle rms of those branches' AFEs. */
void run_actuate_feed_sense(struct daemon *d)
{
  if (!d->act_ok) return;
  bool read[HW_MAX_AFES] = { false };
  for (unsigned b = 0; b < d->panel->num_branches; b++) {
    const struct hw_panel_branch *br = &d->panel->branch[b];
    struct actuator_status st;
    if (actuator_status(&d->act, (uint16_t)br->number, &st) || !st.window_open) continue;
    if (br->afe >= HW_MAX_AFES || !d->afe_ok[br->afe] || (int)br->afe == d->mains || read[br->afe]) continue;
    read[br->afe] = true;
    if (!d->rms1[br->afe].fresh) continue;
    const double *irms = d->rms1[br->afe].i, *vrms = d->rms1[br->afe].v;
    for (unsigned k = 0; k < d->panel->num_branches; k++) {
      const struct hw_panel_branch *o = &d->panel->branch[k];
      if (o->afe != br->afe || o->channel > 2) continue;
      int32_t rms = (int32_t)llround(irms[o->channel] * 1000.0);
      actuator_feed_current(&d->act, o->number, run_now_ns(d), rms, (int32_t)llround(irms[o->channel] * 1414.2),
                            (int32_t)llround(vrms[o->channel] * 1000.0));
    }
  }
}

void run_actuate_poll(struct daemon *d)
{
  if (!d->act_ok) return;
  struct actuator_sense_result res[8];
  unsigned n;
  do {
    n = 0;
    if (actuator_poll(&d->act, run_now_ns(d), res, 8, &n)) break;
    for (unsigned i = 0; i < n; i++) {
      struct journal_record r;
      memset(&r, 0, sizeof r);
      r.type = JOURNAL_T_SENSE_BACK;
      r.source = res[i].source;
      r.body.sense_back = res[i].body;
      uint64_t seq = 0;
      if (run_append_fx(d, &r, &seq, NULL, NULL) != 0) return;
      d->sense_backs++;
      static const char *const verdicts[] = { "confirmed", "welded", "stuck_open", "leakage", "no_feedback", "chatter" };
      const struct journal_sense_back *sb = &res[i].body;
      char line[256];
      snprintf(line, sizeof line, "{\"ok\":true,\"outcome\":\"command\",\"command_seq\":%llu,\"sense_back_seq\":%llu,\"verdict\":\"%s\",\"target\":%u}",
               (unsigned long long)sb->command_seq, (unsigned long long)seq, sb->verdict < 6 ? verdicts[sb->verdict] : "unknown", sb->target);
      run_waiters_wake(d, 0, sb->command_seq, line);
    }
  } while (n == 8);
}

/* Outputs come up in the state rebuilt from the journal (they revert when a line fd closes, so a
 * restarted daemon must never request them blind); unknown → the branch's fail-safe. Fills b
 * (initial states, fail-safe commands) and journals those commands, synced. 0 or the error. */
int run_actuate_boot(struct daemon *d, struct run_boot_outputs *b)
{
  int rc = 0;
  memset(b, 0, sizeof *b);
  /* A branch the journal knows nothing of (first boot, or added by a config change) comes
   * up at its fail-safe state — by a durable `command` (reason fail_safe) that is then
   * executed like any other, so its actuation and sense-back are journaled too. */
  for (unsigned k = 0; k < d->panel->num_branches; k++) {
    const struct hw_panel_branch *pb = &d->panel->branch[k];
    const struct replay_branch *rb = pb->number <= REPLAY_BRANCHES_MAX ? &d->h.state.br[pb->number - 1] : NULL;
    uint8_t known = rb ? (rb->commanded ? rb->commanded : rb->sensed) : REPLAY_UNKNOWN;
    if (pb->fail_safe == HW_FAILSAFE_LAST_PROVEN && rb && rb->sensed) known = rb->sensed;
    if (known == REPLAY_ON) b->init.branch_on[k] = true;
    else if (known == REPLAY_OFF) b->init.branch_on[k] = false;
    else {
      b->init.branch_on[k] = pb->fail_safe != HW_FAILSAFE_OPEN;
      if (rb) b->cmd[b->n++] = (struct pending_cmd){ .target = (uint16_t)pb->number, .on = b->init.branch_on[k] };
    }
  }
  b->init.service_connected = d->h.state.service_commanded != REPLAY_OFF;
  if (d->panel->line_service_coil != HW_LINE_NONE && d->h.state.service_commanded == REPLAY_UNKNOWN)
    b->cmd[b->n++] = (struct pending_cmd){ .target = JOURNAL_TARGET_SERVICE, .on = true };
  for (unsigned i = 0; i < b->n && !rc; i++) {
    struct journal_record cr;
    memset(&cr, 0, sizeof cr);
    cr.type = JOURNAL_T_COMMAND;
    run_source_for_target(&cr.source, b->cmd[i].target);
    cr.body.command.target = b->cmd[i].target;
    cr.body.command.desired = b->cmd[i].on ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF;
    cr.body.command.reason = JOURNAL_CMD_FAIL_SAFE;
    if ((rc = run_append_fx(d, &cr, &b->cmd[i].seq, NULL, NULL)) == 0) d->commands++;
  }
  if (!rc && b->n && (rc = journal_sync(d->j)) != 0) cli_err("run: journal sync: %s", cli_signer_why(rc));
  return rc;
}

/* Requests every output (at b's initial states) and sense input; a fault when refused. */
void run_actuate_open(struct daemon *d, struct hw_gpio_chip *chip, const struct run_boot_outputs *b)
{
  int arc = actuator_set_init(&d->act, chip, d->panel, &b->init, NULL, run_now_ns(d));
  d->act_ok = arc == 0;
  if (arc) {
    char detail[128];
    snprintf(detail, sizeof detail, "actuator outputs: %s", actuator_strerror(arc));
    run_fault(d, "gpio_request", arc, 0, detail);
  }
}

/* Queues b's fail-safe commands (executed once durable, like any other). */
void run_actuate_queue_boot(struct daemon *d, const struct run_boot_outputs *b)
{
  for (unsigned i = 0; i < b->n && d->act_ok && d->npending < PENDING_MAX; i++) d->pending[d->npending++] = b->cmd[i];
  /* A command journaled but not proven before the last stop is re-driven now (it is durable). */
  for (unsigned n = 1; d->act_ok && n <= REPLAY_BRANCHES_MAX; n++) {
    uint64_t cs = d->h.state.br[n - 1].pending_seq;
    struct run_command_rec c;
    if (!cs || d->npending >= PENDING_MAX || run_read_command(d, cs, &c)) continue;
    struct pending_cmd *p = &d->pending[d->npending++];
    p->seq = cs;
    p->target = c.target;
    p->on = c.on;
    memcpy(p->request_id, c.request_id, sizeof p->request_id);
  }
}

int run_read_command(struct daemon *d, uint64_t seq, struct run_command_rec *out)
{
  struct journal_reader *rd;
  struct journal_iter *it;
  int rc = -1;
  memset(out, 0, sizeof *out);
  if (journal_reader_attach(&rd, d->j)) return -1;
  if (journal_iter_begin(rd, seq, &it) == 0) {
    const uint8_t *rec;
    size_t len;
    struct journal_record cr;
    if (journal_iter_get(it, seq, &rec, &len) == 0 && journal_record_decode(rec, len, &cr) == 0 && cr.type == JOURNAL_T_COMMAND) {
      out->target = cr.body.command.target;
      out->on = cr.body.command.desired == JOURNAL_DESIRED_ON;
      out->reason = cr.body.command.reason;
      out->der = cr.body.command.der;
      size_t rl = cr.body.command.request_id.len < 64 ? cr.body.command.request_id.len : 64;
      memcpy(out->request_id, cr.body.command.request_id.ptr, rl);
      out->request_id[rl] = 0;
      rc = 0;
    }
    journal_iter_end(it);
  }
  journal_reader_close(rd);
  return rc;
}
