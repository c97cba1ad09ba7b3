/*
 * test_v10_rules.c — reducer v 10: DER commands (replay/reduce/reduce_der.c), decided from
 * records alone.
 * - before a `der` record via SunSpec from the source: unknown_target; a der record via the
 *   status lines does not make it commandable;
 * - a viewer: role; past its expiry: expired; malformed packings (charge_limit on pv, a permille
 *   on connect, over 1000, an unknown action): invalid; under v 9 any der request: invalid;
 * - connect with the grid absent (power-fail tap): backfeed; with the source's or the transfer
 *   switch's interlock open: interlock; a source not reported for over 10 s: stale; a command
 *   within 10 s of the source's last: rate_limit;
 * - a command: target the source's branch, the der fields as asked, reason by origin (remote for
 *   a remote origin); folding it moves no branch; the sense_back (actuator sunspec) naming it
 *   proves it (confirmed) or not (no_feedback); one naming another seq changes nothing;
 * - a repeat of the request id with another packing is refused conflict.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>
#include "replay.h"
#include "rp_util.h"

static const int64_t T0 = 9000000000000ll;

static struct replay_state *at_version(uint32_t v)
{
  struct replay_state *s = rp_state_at(v, T0);
  assert_non_null(s);
  assert_int_equal(s->reducer_version, v);
  return s;
}

static void der(struct replay_state *s, uint64_t seq, uint8_t source, uint8_t via, uint16_t branch, uint8_t interlock_ok)
{
  struct journal_record r;
  rp_rec_at(&r, JOURNAL_T_DER, seq, T0);
  r.body.der.source = source;
  r.body.der.state = JOURNAL_DERST_PRODUCING;
  r.body.der.via = via;
  r.body.der.branch = branch;
  r.body.der.fresh = 1;
  r.body.der.interlock_ok = interlock_ok;
  r.body.der.grid_present = 1;
  r.body.der.transfer = JOURNAL_XFER_NONE;
  replay_apply(s, &r, NULL);
}

static struct replay_effect ask(struct replay_state *s, uint64_t seq, uint32_t packed, uint8_t role, uint8_t origin,
                                int64_t expiry_ns, const char *id)
{
  struct journal_record r;
  rp_rec_at(&r, JOURNAL_T_REQUEST, seq, T0);
  r.body.request.kind = JOURNAL_REQ_DER;
  r.body.request.der = packed;
  r.body.request.role = role;
  r.body.request.origin = origin;
  r.body.request.expiry_ns = expiry_ns;
  r.body.request.request_id = rp_lit(id);
  struct replay_effects fx;
  replay_apply(s, &r, &fx);
  assert_int_equal(fx.n, 1);
  return fx.e[0];
}

static void refused(struct replay_effect e, unsigned reason)
{
  assert_int_equal(e.kind, REPLAY_EFFECT_REFUSAL);
  assert_int_equal(e.reason, reason);
}

static void fold_command(struct replay_state *s, uint64_t seq, const struct replay_effect *e)
{
  struct journal_record r;
  rp_rec_at(&r, JOURNAL_T_COMMAND, seq, T0);
  r.body.command.target = e->target;
  r.body.command.desired = e->desired;
  r.body.command.reason = e->reason;
  r.body.command.cause_seq = e->cause_seq;
  r.body.command.der = e->der;
  r.body.command.der_action = e->der_action;
  r.body.command.der_permille = e->der_permille;
  replay_apply(s, &r, NULL);
}

static void sunspec_sense(struct replay_state *s, uint64_t seq, uint16_t target, uint64_t command_seq, uint8_t verdict)
{
  struct journal_record r;
  rp_rec_at(&r, JOURNAL_T_SENSE_BACK, seq, T0);
  r.body.sense_back.target = target;
  r.body.sense_back.actuator = JOURNAL_ACTR_SUNSPEC;
  r.body.sense_back.commanded = JOURNAL_DESIRED_OFF;
  r.body.sense_back.sensed = JOURNAL_SENSED_OFF;
  r.body.sense_back.verdict = verdict;
  r.body.sense_back.command_seq = command_seq;
  replay_apply(s, &r, NULL);
}

static void test_decisions(void **st)
{
  (void)st;
  struct replay_state *s = at_version(10);
  uint32_t pv_limit_40 = journal_der_pack(JOURNAL_DERT_PV, JOURNAL_DERA_LIMIT, 400);
  assert_int_equal(pv_limit_40, 1 + 4 * 3 + 64 * 400); /* schemas/replay.cddl */
  refused(ask(s, 2, pv_limit_40, JOURNAL_ROLE_OPERATOR, JOURNAL_ORIGIN_OPERATOR, 0, ""), JOURNAL_REF_UNKNOWN_TARGET);
  der(s, 3, JOURNAL_DER_PV, JOURNAL_DERVIA_LINES, 8, 1); /* status lines: no bridge to write it */
  refused(ask(s, 4, pv_limit_40, JOURNAL_ROLE_OPERATOR, JOURNAL_ORIGIN_OPERATOR, 0, ""), JOURNAL_REF_UNKNOWN_TARGET);
  der(s, 5, JOURNAL_DER_PV, JOURNAL_DERVIA_SUNSPEC, 8, 1);
  refused(ask(s, 6, pv_limit_40, JOURNAL_ROLE_VIEWER, JOURNAL_ORIGIN_OPERATOR, 0, ""), JOURNAL_REF_ROLE);
  refused(ask(s, 7, pv_limit_40, JOURNAL_ROLE_OPERATOR, JOURNAL_ORIGIN_OPERATOR, T0, ""), JOURNAL_REF_EXPIRED);
  static const uint32_t bad[] = { 0, 3 + 4 * 1, 1 + 4 * 0, 1 + 4 * 6, 1 + 4 * 1 + 64 * 5, 1 + 4 * 3 + 64 * 1001,
                                  1 + 4 * 4 + 64 * 10 /* charge_limit on pv */, 1 + 4 * 5 };
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++)
    refused(ask(s, 8 + i, bad[i], JOURNAL_ROLE_OPERATOR, JOURNAL_ORIGIN_OPERATOR, 0, ""), JOURNAL_REF_INVALID);
  refused(ask(s, 17, pv_limit_40, JOURNAL_ROLE_OPERATOR, JOURNAL_ORIGIN_OPERATOR, 0, ""), JOURNAL_REF_STALE); /* 12 s since */
  der(s, 19, JOURNAL_DER_PV, JOURNAL_DERVIA_SUNSPEC, 8, 1);
  struct replay_effect e = ask(s, 20, pv_limit_40, JOURNAL_ROLE_UTILITY, JOURNAL_ORIGIN_REMOTE, 0, "cur-1");
  assert_int_equal(e.kind, REPLAY_EFFECT_COMMAND);
  assert_int_equal(e.reason, JOURNAL_CMD_REMOTE);
  assert_int_equal(e.target, 8);
  assert_int_equal(e.desired, JOURNAL_DESIRED_ON);
  assert_int_equal(e.der, JOURNAL_DERT_PV);
  assert_int_equal(e.der_action, JOURNAL_DERA_LIMIT);
  assert_int_equal(e.der_permille, 400);
  /* the same id, another packing: conflict; the same body: the stored reply */
  refused(ask(s, 21, pv_limit_40 + 64, JOURNAL_ROLE_UTILITY, JOURNAL_ORIGIN_REMOTE, 0, "cur-1"), JOURNAL_REF_CONFLICT);
  assert_int_equal(ask(s, 22, pv_limit_40, JOURNAL_ROLE_UTILITY, JOURNAL_ORIGIN_REMOTE, 0, "cur-1").kind, REPLAY_EFFECT_REPLY);
  /* folding the command moves no branch */
  struct replay_branch before = s->br[7];
  fold_command(s, 23, &e);
  assert_memory_equal(&before, &s->br[7], sizeof before);
  assert_int_equal(s->der[JOURNAL_DER_PV].cmd_state, REPLAY_DERCMD_PENDING);
  assert_int_equal(s->der[JOURNAL_DER_PV].cmd_seq, 23);
  assert_int_equal(s->der[JOURNAL_DER_PV].cmd_permille, 400);
  sunspec_sense(s, 24, 8, 22, JOURNAL_VERDICT_CONFIRMED); /* names another seq */
  assert_int_equal(s->der[JOURNAL_DER_PV].cmd_state, REPLAY_DERCMD_PENDING);
  sunspec_sense(s, 25, 8, 23, JOURNAL_VERDICT_CONFIRMED);
  assert_int_equal(s->der[JOURNAL_DER_PV].cmd_state, REPLAY_DERCMD_CONFIRMED);
  assert_memory_equal(&before, &s->br[7], sizeof before); /* the sense_back neither */
  free(s);
}

static void test_connect_interlocks(void **st)
{
  (void)st;
  struct replay_state *s = at_version(10);
  uint32_t ess_connect = journal_der_pack(JOURNAL_DERT_ESS, JOURNAL_DERA_CONNECT, 0);
  der(s, 2, JOURNAL_DER_ESS, JOURNAL_DERVIA_SUNSPEC, 9, 0);
  assert_int_equal(s->backfeed_risk, 1); /* a source on without its interlock */
  refused(ask(s, 3, ess_connect, JOURNAL_ROLE_ADMIN, JOURNAL_ORIGIN_OPERATOR, 0, ""), JOURNAL_REF_BACKFEED);
  der(s, 4, JOURNAL_DER_ESS, JOURNAL_DERVIA_SUNSPEC, 9, 1);
  /* the grid absent: a power-fail tap */
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_TRIP_TAP;
  r.seq = 5;
  r.wall_ns = T0 + 5000000000ll;
  r.body.trip_tap.kind = JOURNAL_TAP_POWER_FAIL;
  r.body.trip_tap.edge = JOURNAL_EDGE_RISING;
  replay_apply(s, &r, NULL);
  refused(ask(s, 6, ess_connect, JOURNAL_ROLE_ADMIN, JOURNAL_ORIGIN_OPERATOR, 0, ""), JOURNAL_REF_BACKFEED);
  /* a disconnect or a limit is fine in an outage */
  struct replay_effect e = ask(s, 7, journal_der_pack(JOURNAL_DERT_ESS, JOURNAL_DERA_DISCHARGE_LIMIT, 1000),
                               JOURNAL_ROLE_ADMIN, JOURNAL_ORIGIN_OPERATOR, 0, "");
  assert_int_equal(e.kind, REPLAY_EFFECT_COMMAND);
  assert_int_equal(e.target, 9);
  assert_int_equal(e.der_action, JOURNAL_DERA_DISCHARGE_LIMIT);
  fold_command(s, 8, &e);
  sunspec_sense(s, 9, 9, 8, JOURNAL_VERDICT_NO_FEEDBACK);
  assert_int_equal(s->der[JOURNAL_DER_ESS].cmd_state, REPLAY_DERCMD_FAILED);
  r.seq = 10;
  r.wall_ns = T0 + 10000000000ll;
  r.body.trip_tap.edge = JOURNAL_EDGE_FALLING; /* the grid back */
  replay_apply(s, &r, NULL);
  /* within 10 s of the last command to the source: rate_limit */
  refused(ask(s, 11, ess_connect, JOURNAL_ROLE_ADMIN, JOURNAL_ORIGIN_OPERATOR, 0, ""), JOURNAL_REF_RATE_LIMIT);
  /* 15 s on, the source not reported for 11 s: stale */
  refused(ask(s, 15, ess_connect, JOURNAL_ROLE_ADMIN, JOURNAL_ORIGIN_OPERATOR, 0, ""), JOURNAL_REF_STALE);
  der(s, 16, JOURNAL_DER_ESS, JOURNAL_DERVIA_SUNSPEC, 9, 1);
  /* the transfer switch's interlock open: no connect, whatever the SunSpec source says */
  der(s, 17, JOURNAL_DER_ATS, JOURNAL_DERVIA_LINES, 0, 0);
  refused(ask(s, 18, ess_connect, JOURNAL_ROLE_ADMIN, JOURNAL_ORIGIN_OPERATOR, 0, ""),
          s->backfeed_risk ? JOURNAL_REF_BACKFEED : JOURNAL_REF_INTERLOCK); /* either way: not connected */
  der(s, 19, JOURNAL_DER_ATS, JOURNAL_DERVIA_LINES, 0, 1);
  assert_int_equal(ask(s, 20, ess_connect, JOURNAL_ROLE_ADMIN, JOURNAL_ORIGIN_OPERATOR, 0, "").kind, REPLAY_EFFECT_COMMAND);
  free(s);
}

static void test_before_v10(void **st)
{
  (void)st;
  struct replay_state *s = at_version(9);
  der(s, 2, JOURNAL_DER_PV, JOURNAL_DERVIA_SUNSPEC, 8, 1);
  assert_int_equal(s->der[JOURNAL_DER_PV].sunspec, 0);
  refused(ask(s, 3, journal_der_pack(JOURNAL_DERT_PV, JOURNAL_DERA_DISCONNECT, 0), JOURNAL_ROLE_ADMIN,
              JOURNAL_ORIGIN_OPERATOR, 0, ""), JOURNAL_REF_INVALID);
  free(s);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_decisions),
    cmocka_unit_test(test_connect_interlocks),
    cmocka_unit_test(test_before_v10),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
