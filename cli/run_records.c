/*
 * run_records.c — the one door to the journal: every record the daemon makes is appended
 * here, folded (so each seal carries the live state hash), and the decisions the fold asks for
 * are routed — a command to the actuation queue (run_actuate.c executes it once durable), an
 * answer to the socket client waiting on the request (run_requests.c). A failed append stops the
 * daemon.
 */
#include <stdio.h>
#include <string.h>
#include "run.h"

/* Every record goes through the replay harness: appended, folded (so each seal carries the
 * live state hash), and each decision it asks for is appended too (command / refusal). A
 * command is queued here and actuated only once its record is durable. */
int run_append_fx(struct daemon *d, struct journal_record *r, uint64_t *out_seq, struct replay_effects *out_fx,
                  uint64_t fx_seqs[REPLAY_EFFECTS_MAX])
{
  if (d->append_err) return d->append_err;
  /* the rails low now, on the records the field playbook reads them beside (run_rails.c) */
  if (r->type == JOURNAL_T_TRIP_TAP) r->body.trip_tap.rails_low = d->rails_low;
  else if (r->type == JOURNAL_T_SENSE_BACK) r->body.sense_back.rails_low = d->rails_low;
  else if (r->type == JOURNAL_T_DER) r->body.der.rails_low = d->rails_low;
  else if (r->type == JOURNAL_T_FAULT) r->body.fault.rails_low = d->rails_low;
  struct replay_effects fx;
  uint64_t seqs[REPLAY_EFFECTS_MAX] = { 0 }, seq = 0;
  int rc = replay_harness_append(&d->h, r, &seq, &fx, seqs);
  if (rc) {
    d->append_err = rc;
    cli_err("run: append failed: %s; stopping", cli_signer_why(rc));
    d->stopping = true;
    d->exit_code = CLI_ENV;
    return rc;
  }
  d->last_append_mono = run_now_ns(d);
  for (uint32_t i = 0; i < fx.n; i++) {
    const struct replay_effect *e = &fx.e[i];
    if (e->kind == REPLAY_EFFECT_COMMAND) {
      d->commands++;
      if (run_permit_is_cmd(e)) {
        run_permit_queue(d, e, seqs[i]); /* the fold's battery permit: its line (run_permit.c) */
      } else if (e->der) {
        run_der_cmd_queue(d, e, seqs[i]); /* the SunSpec bridge executes it (run_der_cmd.c) */
      } else if (d->npending < PENDING_MAX) {
        struct pending_cmd *p = &d->pending[d->npending++];
        p->seq = seqs[i];
        p->target = e->target;
        p->on = e->desired == JOURNAL_DESIRED_ON;
        size_t n = e->request_id_len < 64 ? e->request_id_len : 64;
        memcpy(p->request_id, e->request_id, n);
        p->request_id[n] = 0;
      } else {
        char detail[96];
        snprintf(detail, sizeof detail, "command seq %llu not executed: pending queue full", (unsigned long long)seqs[i]);
        struct journal_record f;
        memset(&f, 0, sizeof f);
        f.type = JOURNAL_T_FAULT;
        f.body.fault.code = (struct journal_slice){ (const uint8_t *)"command_overflow", 16 };
        f.body.fault.detail = (struct journal_slice){ (const uint8_t *)detail, (uint32_t)strlen(detail) };
        replay_harness_append(&d->h, &f, NULL, NULL, NULL);
      }
    } else if (e->kind == REPLAY_EFFECT_REFUSAL) {
      d->refusals++;
      char line[256];
      snprintf(line, sizeof line, "{\"ok\":true,\"outcome\":\"refusal\",\"reason\":\"%s\",\"request_seq\":%llu,\"refusal_seq\":%llu}",
               replay_refusal_reason_name(e->reason), (unsigned long long)seq, (unsigned long long)seqs[i]);
      run_waiters_wake(d, seq, 0, line);
    } else if (e->kind == REPLAY_EFFECT_DEFERRED ||
               (e->kind == REPLAY_EFFECT_REPLY && e->stored_kind == REPLAY_EFFECT_DEFERRED)) {
      /* Accepted without a command now (policy: DR scheduled, reconnect armed, overridden,
       * supply low): a later record's command cites the request. */
      char line[256];
      snprintf(line, sizeof line, "{\"ok\":true,\"outcome\":\"accepted\",\"held\":\"%s\",\"request_seq\":%llu%s}",
               replay_defer_reason_name(e->reason), (unsigned long long)seq,
               e->kind == REPLAY_EFFECT_REPLY ? ",\"repeat\":true" : "");
      run_waiters_wake(d, seq, 0, line);
    } else if (e->kind == REPLAY_EFFECT_REPLY) {
      /* A repeated request id: the stored outcome, nothing new happens. */
      char line[320];
      if (e->stored_kind == REPLAY_EFFECT_REFUSAL)
        snprintf(line, sizeof line, "{\"ok\":true,\"outcome\":\"refusal\",\"reason\":\"%s\",\"repeat\":true,\"request_seq\":%llu,\"original_request_seq\":%llu}",
                 replay_refusal_reason_name(e->reason), (unsigned long long)seq, (unsigned long long)e->stored_seq);
      else {
        const char *verdict = e->target && e->target <= REPLAY_BRANCHES_MAX && d->h.state.br[e->target - 1].proven ? "confirmed"
                   : replay_verdict_name(e->target && e->target <= REPLAY_BRANCHES_MAX ? d->h.state.br[e->target - 1].fault : 0);
        for (int k = 0; k < 2; k++) /* a DER command: its own proof, not the branch's relay */
          if (e->stored_outcome_seq && d->h.state.der[k].cmd_seq == e->stored_outcome_seq)
            verdict = d->h.state.der[k].cmd_state == REPLAY_DERCMD_CONFIRMED ? "confirmed"
                    : d->h.state.der[k].cmd_state == REPLAY_DERCMD_FAILED ? "no_feedback" : "pending";
        snprintf(line, sizeof line, "{\"ok\":true,\"outcome\":\"command\",\"repeat\":true,\"verdict\":\"%s\",\"request_seq\":%llu,\"original_request_seq\":%llu,\"command_seq\":%llu}",
                 verdict, (unsigned long long)seq, (unsigned long long)e->stored_seq, (unsigned long long)e->stored_outcome_seq);
      }
      run_waiters_wake(d, seq, 0, line);
    }
  }
  if (out_seq) *out_seq = seq;
  if (out_fx) *out_fx = fx;
  if (fx_seqs) memcpy(fx_seqs, seqs, sizeof seqs);
  return 0;
}

int run_append(struct daemon *d, struct journal_record *r)
{
  return run_append_fx(d, r, NULL, NULL, NULL);
}

void run_fault(struct daemon *d, const char *code, int64_t value, uint16_t branch, const char *detail)
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_FAULT;
  r.source.kind = JOURNAL_SRC_PANEL;
  r.body.fault.code = (struct journal_slice){ (const uint8_t *)code, (uint32_t)strlen(code) };
  r.body.fault.detail = (struct journal_slice){ (const uint8_t *)detail, (uint32_t)strlen(detail) };
  r.body.fault.value = value;
  r.body.fault.branch = branch;
  if (run_append(d, &r) == 0) d->faults++;
}

void run_source_for_target(struct journal_source *src, uint16_t target)
{
  memset(src, 0, sizeof *src);
  if (target == JOURNAL_TARGET_SERVICE) src->kind = JOURNAL_SRC_PANEL;
  else { src->kind = JOURNAL_SRC_BRANCH; src->index = target; }
}
