/*
 * fuzz_control_req.c — fuzz target for the control socket's request lines (cli/control_req.c),
 * checked as each of the six roles against a small panel (branches 1 "kitchen", 7 "fridge"
 * critical, 64 "ev").
 * Properties: no crash or sanitizer report; an accepted request holds only what the journal
 * takes (a switch names a branch 1..65535, a note's text is 1..4096 bytes, a request_id at most
 * 64 bytes, a reason at most 256 bytes ending between UTF-8 characters, an event 1..64 bytes,
 * a DR event's end representable); refused roles never get through (utility switching, automation
 * switching the critical branch or asking anything but a DR opt-out or a DER command, notes below
 * operator; automation never disconnects the battery or limits its discharge); a DER command is
 * packed exactly as the fold takes it; DER observations and the bridge's DER ops only for a peer
 * in roles.der_bridge (here: automation when the input's length is odd).
 * A read op's timeline filter (cli/read_filter.c) is taken as the daemon takes it: an error is
 * one "malformed request" line; an accepted one has seqs that fit in a JSON integer and only
 * known record types.
 * The corpus (tests/fuzz/corpus/control_req/) holds one request line per file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "control_req.h"
#include "read_filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok) abort();
}

static bool utf8_boundary(const uint8_t *p, uint32_t len)
{
  return len == 0 || (p[len] & 0xc0) != 0x80;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct hw_panel panel;
  if (!panel.num_branches) {
    panel.num_branches = 3;
    panel.branch[0].number = 1; snprintf(panel.branch[0].name, sizeof panel.branch[0].name, "kitchen");
    panel.branch[1].number = 7; snprintf(panel.branch[1].name, sizeof panel.branch[1].name, "fridge");
    panel.branch[1].critical = true;
    panel.branch[2].number = 64; snprintf(panel.branch[2].name, sizeof panel.branch[2].name, "ev");
    panel.der.pv = panel.der.ess = true;
  }
  for (int role = ROLE_VIEWER; role <= ROLE_ADMIN; role++) {
    char msg[300];
    struct control_req r;
    if (control_req_load(&r, (const char *)data, size, msg, sizeof msg)) {
      check(r.json == NULL && !strncmp(msg, "malformed request: ", 19));
      return 0;
    }
    struct control_ctx ctx = { .panel = &panel, .role = role, .next_seq = 99, .wall_ns = 1700000000000000000LL,
                               .der_bridge = role == ROLE_AUTOMATION && (size & 1) };
    const char *bad = control_req_check(&r, &ctx, msg, sizeof msg);
    if (bad) {
      check(!strncmp(bad, "malformed request: ", 19) || !strncmp(bad, "refused: ", 9));
    } else if (r.op == CONTROL_NOTE) {
      check(role >= ROLE_OPERATOR);
      size_t n = strlen(r.text);
      check(n >= 1 && n <= CONTROL_NOTE_MAX);
      if (r.claimed_who) check(r.claimed_who_len <= CONTROL_CLAIMED_WHO_MAX);
    } else if (r.op == CONTROL_SWITCH) {
      check(r.target >= 1 && strlen(r.rid) <= CONTROL_RID_MAX);
      check(role != ROLE_UTILITY);
      check(!(role == ROLE_AUTOMATION && r.target == 7));
    } else if (r.op == CONTROL_POLICY) {
      const struct journal_request *q = &r.q;
      check(q->request_id.len <= CONTROL_RID_MAX && q->reason.len <= CONTROL_REASON_MAX);
      check(utf8_boundary(q->reason.ptr, q->reason.len));
      check(role != ROLE_AUTOMATION || q->kind == JOURNAL_REQ_DR_OPT_OUT || q->kind == JOURNAL_REQ_DER);
      check(role != ROLE_AUTOMATION || q->kind != JOURNAL_REQ_ALARM_ACK);
      if (q->kind == JOURNAL_REQ_DER) {
        /* exactly what the fold takes as well formed (reduce_der.c) */
        unsigned t, a;
        uint32_t pm;
        journal_der_unpack(q->der, &t, &a, &pm);
        check((t == JOURNAL_DERT_PV || t == JOURNAL_DERT_ESS) && a >= JOURNAL_DERA_CONNECT && a <= JOURNAL_DERA_MAX);
        check(a >= JOURNAL_DERA_LIMIT ? pm <= 1000 : pm == 0);
        check(t == JOURNAL_DERT_ESS || a < JOURNAL_DERA_CHARGE_LIMIT);
        check(journal_der_pack(t, a, pm) == q->der);
        check(q->target == JOURNAL_TARGET_SERVICE && q->desired == (a == JOURNAL_DERA_DISCONNECT ? 0 : 1));
        check(role != ROLE_AUTOMATION || t != JOURNAL_DERT_ESS || (a != JOURNAL_DERA_DISCONNECT && a != JOURNAL_DERA_DISCHARGE_LIMIT));
      } else if (q->kind == JOURNAL_REQ_ALARM_ACK) {
        /* a viewer's is journaled (the fold refuses it); automation and utility are refused here */
        check(role != ROLE_AUTOMATION && role != ROLE_UTILITY);
        check(q->alarm >= 1 && q->alarm <= JOURNAL_ALARM_MAX);
        check(q->target == 0 || q->target == 1 || q->target == 7 || q->target == 64 || json_is_integer(json_object_get(r.json, "target")));
      } else if (q->kind != JOURNAL_REQ_SERVICE) {
        check(q->event.len >= 1 && q->event.len <= 64);
        int64_t end;
        int64_t start = q->dtstart_ns ? q->dtstart_ns : ctx.wall_ns;
        check(!__builtin_add_overflow(start, (int64_t)q->randomize_ns, &end) &&
              !__builtin_add_overflow(end, (int64_t)q->duration_ns, &end));
      } else {
        check(q->action >= JOURNAL_SVC_DISCONNECT && q->control_mode <= 6);
      }
    } else if (r.op == CONTROL_DER_BRIDGE || r.op == CONTROL_DER_OBSERVE) {
      check(ctx.der_bridge); /* only the uids of roles.der_bridge */
      if (r.op == CONTROL_DER_BRIDGE) {
        check(r.derb.source == JOURNAL_DER_PV || r.derb.source == JOURNAL_DER_ESS);
        check(r.derb.stage == CONTROL_DER_FETCH || (r.derb.command_seq >= 1 && r.derb.error >= 0));
      }
    } else if (r.op == CONTROL_OTHER) {
      check(r.op_name != NULL);
      struct cli_filter f;
      const char *fbad = cli_filter_from_json(r.json, &f);
      if (fbad) {
        check(!strncmp(fbad, "malformed request: ", 19));
      } else {
        check(f.since_seq <= INT64_MAX && f.until_seq <= INT64_MAX && !f.types[0]);
        json_t *back = cli_filter_to_json(&f); /* the CLI's form of what was taken */
        struct cli_filter g;
        check(back && cli_filter_from_json(back, &g) == NULL && !memcmp(f.types, g.types, sizeof f.types) &&
              f.branch == g.branch && f.since_seq == g.since_seq && f.until_seq == g.until_seq);
        json_decref(back);
      }
    }
    control_req_free(&r);
  }
  return 0;
}
