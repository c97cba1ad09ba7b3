/*
 * test_v7_rules.c — reducer v 7 (issue 17 items 7 and 10), each rule also folded under v 6 to
 * show what changed:
 * - metering is sensing: a window that started after the trip and whose smallest half-cycle
 *   current is at or above 250 mA (the sense-back's current_on) says the branch is on, so a
 *   breaker reset by hand — whose contact may never report it — clears breaker_open and the
 *   branch is proven again when it was commanded on; a window with samples from before the
 *   trip (journaled after its tap, or spanning it), leakage-level current (an open SSR: 20–250
 *   mA) or no half-cycle values (the register path) changes nothing;
 * - alarm_ack: each alarm is refused `alarm_active` while its condition holds, accepted (no
 *   record, the alarm cleared) once it does not, refused `alarm_not_raised` when it is not
 *   raised, `role` for a viewer, `unknown_target` for a branch never seen, `invalid` for no
 *   alarm; under v 6 an alarm_ack is `invalid`; a repeat of the same request id gets the stored
 *   outcome and a different alarm under the same id is a conflict;
 * - fault{der_mismatch} (the daemon's DER-vs-metering check) raises der_mismatch, which can be
 *   acknowledged only after fault{der_consistent}.
 */
#include <setjmp.h>
#include <stdarg.h>
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

/* One window journaled at seq (record time T0 + seq s) that started at start_ns: branch
 * `branch` on `phase` drawing rms_ma (its smallest half-cycle RMS hmin_ma) at power p_mw. */
static void window_at(struct replay_state *s, uint64_t seq, int64_t start_ns, uint16_t branch, int32_t rms_ma,
                      int32_t hmin_ma, int64_t p_mw, uint8_t phase)
{
  struct journal_record r;
  rp_rec_at(&r, JOURNAL_T_WINDOW, seq, T0);
  r.body.window.start_ns = start_ns;
  r.body.window.nch = 1;
  r.body.window.ch[0] = (struct journal_window_channel){ .ch = 6, .kind = JOURNAL_CH_CURRENT, .phase = phase, .branch = branch,
                                                         .rms_m = rms_ma, .min_m = -rms_ma * 1414 / 1000,
                                                         .max_m = rms_ma * 1414 / 1000, .hrms_min_m = hmin_ma,
                                                         .hrms_max_m = rms_ma };
  r.body.window.npow = 1;
  r.body.window.pow[0].branch = branch;
  r.body.window.pow[0].phase = phase;
  r.body.window.pow[0].p_mw = p_mw;
  r.body.window.pow[0].import_uwh = p_mw > 0 ? p_mw / 3600 : 0;
  replay_apply(s, &r, NULL);
}

/* A window of steady current that started 0.9 s before it was journaled. */
static void window(struct replay_state *s, uint64_t seq, uint16_t branch, int32_t rms_ma, int64_t p_mw, uint8_t phase)
{
  window_at(s, seq, T0 + (int64_t)seq * 1000000000ll - 900000000ll, branch, rms_ma, rms_ma, p_mw, phase);
}

static void tap(struct replay_state *s, uint64_t seq, uint16_t branch, uint8_t kind, uint8_t edge)
{
  struct journal_record r;
  rp_rec_at(&r, JOURNAL_T_TRIP_TAP, seq, T0);
  r.source = (struct journal_source){ JOURNAL_SRC_TAP, kind, branch, "" };
  r.body.trip_tap.kind = kind;
  r.body.trip_tap.edge = edge;
  r.body.trip_tap.branch = branch;
  replay_apply(s, &r, NULL);
}

static void command(struct replay_state *s, uint64_t seq, uint16_t branch, uint8_t desired)
{
  struct journal_record r;
  rp_rec_at(&r, JOURNAL_T_COMMAND, seq, T0);
  r.body.command.target = branch;
  r.body.command.desired = desired;
  replay_apply(s, &r, NULL);
}

static void sense(struct replay_state *s, uint64_t seq, uint16_t branch, uint8_t commanded, uint8_t sensed, uint8_t verdict)
{
  struct journal_record r;
  rp_rec_at(&r, JOURNAL_T_SENSE_BACK, seq, T0);
  r.body.sense_back.target = branch;
  r.body.sense_back.commanded = commanded;
  r.body.sense_back.sensed = sensed;
  r.body.sense_back.verdict = verdict;
  r.body.sense_back.load_v = JOURNAL_LOADV_NOT_WIRED;
  r.body.sense_back.command_seq = seq - 1;
  replay_apply(s, &r, NULL);
}

/* An alarm_ack request; returns its one effect. */
static struct replay_effect ack(struct replay_state *s, uint64_t seq, uint16_t target, uint8_t alarm, uint8_t role,
                                const char *id)
{
  struct replay_effects fx;
  rp_alarm_ack(s, seq, T0, target, alarm, role, id, &fx);
  assert_int_equal(fx.n, 1);
  return fx.e[0];
}

static void expect_refused(struct replay_effect e, unsigned reason)
{
  assert_int_equal(e.kind, REPLAY_EFFECT_REFUSAL);
  assert_int_equal(e.reason, reason);
}

static void test_breaker_reset_by_metering(void **st)
{
  (void)st;
  for (uint32_t v = 6; v <= 7; v++) {
    struct replay_state *s = at_version(v);
    command(s, 2, 15, JOURNAL_DESIRED_ON);
    sense(s, 3, 15, JOURNAL_DESIRED_ON, JOURNAL_SENSED_ON, JOURNAL_VERDICT_CONFIRMED);
    assert_int_equal(s->br[14].proven, 1);
    tap(s, 4, 15, JOURNAL_TAP_AFCI, JOURNAL_EDGE_RISING);
    assert_int_equal(s->br[14].breaker_open, 1);
    assert_int_equal(s->br[14].sensed, REPLAY_OFF);
    assert_int_equal(s->br[14].proven, 0);
    /* the window before the trip, journaled after its tap: samples from before, no evidence */
    window_at(s, 5, T0 + 3000000000ll, 15, 1810, 1800, 300000, JOURNAL_PHASE_A);
    assert_int_equal(s->br[14].breaker_open, 1);
    assert_int_equal(s->br[14].sensed, REPLAY_OFF);
    /* a window that spans the trip: its smallest half-cycle is ~0 */
    window_at(s, 5, T0 + 4000000000ll - 500000000ll, 15, 1200, 3, 150000, JOURNAL_PHASE_A);
    assert_int_equal(s->br[14].breaker_open, 1);
    /* leakage-level current: not evidence of a closed breaker */
    window(s, 5, 15, 249, 0, JOURNAL_PHASE_A);
    assert_int_equal(s->br[14].breaker_open, 1);
    assert_int_equal(s->br[14].sensed, REPLAY_OFF);
    /* a register-path window (no half-cycle values) proves nothing either */
    window_at(s, 5, T0 + 4500000000ll, 15, 1810, 0, 300000, JOURNAL_PHASE_A);
    assert_int_equal(s->br[14].breaker_open, 1);
    /* reset by hand, the contact says nothing: 305 W at 230 V is 1.326 A */
    window(s, 6, 15, 1326, 305000, JOURNAL_PHASE_A);
    assert_int_equal(s->br[14].breaker_open, v >= 7 ? 0 : 1);
    assert_int_equal(s->br[14].sensed, v >= 7 ? REPLAY_ON : REPLAY_OFF);
    assert_int_equal(s->br[14].proven, v >= 7 ? 1 : 0);
    /* the RCD likewise, at exactly the threshold */
    tap(s, 7, 16, JOURNAL_TAP_RCD, JOURNAL_EDGE_RISING);
    assert_int_equal(s->br[15].rcd_tripped, 1);
    window(s, 8, 16, REPLAY_METERED_ON_MA, 57500, JOURNAL_PHASE_A);
    assert_int_equal(s->br[15].rcd_tripped, v >= 7 ? 0 : 1);
    /* a branch commanded on with a command still pending is not proven by metering */
    command(s, 9, 17, JOURNAL_DESIRED_ON);
    window(s, 10, 17, 2000, 460000, JOURNAL_PHASE_A);
    assert_int_equal(s->br[16].sensed, v >= 7 ? REPLAY_ON : REPLAY_UNKNOWN);
    assert_int_equal(s->br[16].proven, 0);
    free(s);
  }
}

static void test_ack_welded(void **st)
{
  (void)st;
  struct replay_state *s = at_version(7);
  command(s, 2, 4, JOURNAL_DESIRED_OFF);
  sense(s, 3, 4, JOURNAL_DESIRED_OFF, JOURNAL_SENSED_ON, JOURNAL_VERDICT_WELDED);
  assert_true(s->br[3].alarms & REPLAY_ALARM_WELDED);
  expect_refused(ack(s, 4, 4, JOURNAL_ALARM_WELDED, JOURNAL_ROLE_OPERATOR, "a1"), JOURNAL_REF_ALARM_ACTIVE);
  /* a confirmed close does not disprove a weld */
  command(s, 5, 4, JOURNAL_DESIRED_ON);
  sense(s, 6, 4, JOURNAL_DESIRED_ON, JOURNAL_SENSED_ON, JOURNAL_VERDICT_CONFIRMED);
  expect_refused(ack(s, 7, 4, JOURNAL_ALARM_WELDED, JOURNAL_ROLE_OPERATOR, "a2"), JOURNAL_REF_ALARM_ACTIVE);
  /* a confirmed open does */
  command(s, 8, 4, JOURNAL_DESIRED_OFF);
  sense(s, 9, 4, JOURNAL_DESIRED_OFF, JOURNAL_SENSED_OFF, JOURNAL_VERDICT_CONFIRMED);
  expect_refused(ack(s, 10, 4, JOURNAL_ALARM_WELDED, JOURNAL_ROLE_VIEWER, "a3"), JOURNAL_REF_ROLE);
  assert_true(s->br[3].alarms & REPLAY_ALARM_WELDED);
  struct replay_effect e = ack(s, 11, 4, JOURNAL_ALARM_WELDED, JOURNAL_ROLE_OPERATOR, "a4");
  assert_int_equal(e.kind, REPLAY_EFFECT_DEFERRED);
  assert_int_equal(e.reason, REPLAY_DEFER_ACCEPTED);
  assert_int_equal(s->br[3].alarms & REPLAY_ALARM_WELDED, 0);
  /* the same request again: the stored outcome; the same id for another alarm: a conflict */
  e = ack(s, 12, 4, JOURNAL_ALARM_WELDED, JOURNAL_ROLE_OPERATOR, "a4");
  assert_int_equal(e.kind, REPLAY_EFFECT_REPLY);
  assert_int_equal(e.stored_seq, 11);
  expect_refused(ack(s, 13, 4, JOURNAL_ALARM_CT_POLARITY, JOURNAL_ROLE_OPERATOR, "a4"), JOURNAL_REF_CONFLICT);
  /* nothing raised any more */
  expect_refused(ack(s, 14, 4, JOURNAL_ALARM_WELDED, JOURNAL_ROLE_OPERATOR, "a5"), JOURNAL_REF_ALARM_NOT_RAISED);
  free(s);
}

static void test_ack_trip_polarity_phase(void **st)
{
  (void)st;
  struct replay_state *s = at_version(7);
  tap(s, 2, 9, JOURNAL_TAP_MCB, JOURNAL_EDGE_RISING); /* no evidence before it: unexplained */
  assert_true(s->br[8].alarms & REPLAY_ALARM_UNEXPLAINED_TRIP);
  expect_refused(ack(s, 3, 9, JOURNAL_ALARM_UNEXPLAINED_TRIP, JOURNAL_ROLE_OPERATOR, "t1"), JOURNAL_REF_ALARM_ACTIVE);
  tap(s, 4, 9, JOURNAL_TAP_MCB, JOURNAL_EDGE_FALLING); /* reset */
  assert_int_equal(ack(s, 5, 9, JOURNAL_ALARM_UNEXPLAINED_TRIP, JOURNAL_ROLE_ADMIN, "t2").kind, REPLAY_EFFECT_DEFERRED);
  assert_int_equal(s->br[8].alarms, 0);

  /* a load branch measuring -300 W: reversed CT (the daemon's detector says so). Reading
   * positive is not enough — the load may just be off, or the sign flipped twice — the
   * detector's word holds until it runs afresh (a boot record: the daemon restarted) */
  window(s, 6, 11, 1300, -300000, JOURNAL_PHASE_B);
  struct journal_record f;
  memset(&f, 0, sizeof f);
  f.type = JOURNAL_T_FAULT;
  f.seq = 7;
  f.wall_ns = T0 + 7000000000ll;
  f.body.fault.code = rp_lit("suspected_ct_polarity");
  f.body.fault.branch = 11;
  replay_apply(s, &f, NULL);
  assert_true(s->br[10].alarms & REPLAY_ALARM_CT_POLARITY);
  expect_refused(ack(s, 8, 11, JOURNAL_ALARM_CT_POLARITY, JOURNAL_ROLE_OPERATOR, "c1"), JOURNAL_REF_ALARM_ACTIVE);
  window(s, 9, 11, 1300, 300000, JOURNAL_PHASE_B);
  expect_refused(ack(s, 10, 11, JOURNAL_ALARM_CT_POLARITY, JOURNAL_ROLE_OPERATOR, "c2"), JOURNAL_REF_ALARM_ACTIVE);
  struct journal_record boot;
  memset(&boot, 0, sizeof boot);
  boot.type = JOURNAL_T_BOOT;
  boot.seq = 11;
  boot.wall_ns = T0 + 11000000000ll;
  boot.body.boot.reducer_version = 7;
  replay_apply(s, &boot, NULL);
  assert_int_equal(ack(s, 12, 11, JOURNAL_ALARM_CT_POLARITY, JOURNAL_ROLE_OPERATOR, "c3").kind, REPLAY_EFFECT_DEFERRED);
  assert_int_equal(s->br[10].alarms & REPLAY_ALARM_CT_POLARITY, 0);

  /* first seen on B, then measured on C: phase_map; held likewise until a config record (the
   * panel re-commissioned) */
  window(s, 13, 11, 1300, 300000, JOURNAL_PHASE_C);
  assert_true(s->br[10].alarms & REPLAY_ALARM_PHASE_MAP);
  expect_refused(ack(s, 14, 11, JOURNAL_ALARM_PHASE_MAP, JOURNAL_ROLE_OPERATOR, "p1"), JOURNAL_REF_ALARM_ACTIVE);
  window(s, 15, 11, 1300, 300000, JOURNAL_PHASE_B);
  expect_refused(ack(s, 16, 11, JOURNAL_ALARM_PHASE_MAP, JOURNAL_ROLE_OPERATOR, "p2"), JOURNAL_REF_ALARM_ACTIVE);
  struct journal_record cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.type = JOURNAL_T_CONFIG;
  cfg.seq = 17;
  cfg.wall_ns = T0 + 17000000000ll;
  cfg.body.config.json = rp_lit("{}");
  replay_apply(s, &cfg, NULL);
  assert_int_equal(ack(s, 18, 11, JOURNAL_ALARM_PHASE_MAP, JOURNAL_ROLE_OPERATOR, "p3").kind, REPLAY_EFFECT_DEFERRED);
  assert_int_equal(s->br[10].alarms, 0);
  /* roles the socket refuses are refused by the fold too */
  command(s, 19, 4, JOURNAL_DESIRED_OFF);
  sense(s, 20, 4, JOURNAL_DESIRED_OFF, JOURNAL_SENSED_ON, JOURNAL_VERDICT_WELDED);
  command(s, 21, 4, JOURNAL_DESIRED_OFF);
  sense(s, 22, 4, JOURNAL_DESIRED_OFF, JOURNAL_SENSED_OFF, JOURNAL_VERDICT_CONFIRMED);
  expect_refused(ack(s, 23, 4, JOURNAL_ALARM_WELDED, JOURNAL_ROLE_UTILITY, "r1"), JOURNAL_REF_ROLE);

  /* targets and values the fold cannot act on */
  expect_refused(ack(s, 25, 40, JOURNAL_ALARM_WELDED, JOURNAL_ROLE_OPERATOR, "x1"), JOURNAL_REF_UNKNOWN_TARGET);
  expect_refused(ack(s, 26, 11, JOURNAL_ALARM_NONE, JOURNAL_ROLE_OPERATOR, "x2"), JOURNAL_REF_INVALID);
  expect_refused(ack(s, 27, 11, JOURNAL_ALARM_MAX + 1, JOURNAL_ROLE_OPERATOR, "x3"), JOURNAL_REF_INVALID);
  expect_refused(ack(s, 28, 0, JOURNAL_ALARM_STALE_DER, JOURNAL_ROLE_OPERATOR, "x4"), JOURNAL_REF_ALARM_NOT_RAISED);
  free(s);
}

static void fault(struct replay_state *s, uint64_t seq, const char *code, uint16_t branch)
{
  struct journal_record f;
  memset(&f, 0, sizeof f);
  f.type = JOURNAL_T_FAULT;
  f.seq = seq;
  f.wall_ns = T0 + (int64_t)seq * 1000000000ll;
  f.body.fault.code = rp_lit(code);
  f.body.fault.branch = branch;
  replay_apply(s, &f, NULL);
}

/* The daemon's DER cross-check: der_mismatch raises the branch's alarm, acknowledgeable only
 * after der_consistent; v 6 knows neither. */
static void test_der_mismatch(void **st)
{
  (void)st;
  for (uint32_t v = 6; v <= 7; v++) {
    struct replay_state *s = at_version(v);
    window(s, 2, 8, 0, 0, JOURNAL_PHASE_B);
    fault(s, 3, "der_mismatch", 8);
    assert_int_equal(!!(s->br[7].alarms & REPLAY_ALARM_DER_MISMATCH), v >= 7);
    if (v >= 7) {
      expect_refused(ack(s, 4, 8, JOURNAL_ALARM_DER_MISMATCH, JOURNAL_ROLE_OPERATOR, "m1"), JOURNAL_REF_ALARM_ACTIVE);
      fault(s, 5, "der_consistent", 8);
      assert_true(s->br[7].alarms & REPLAY_ALARM_DER_MISMATCH); /* still raised until acknowledged */
      assert_int_equal(ack(s, 6, 8, JOURNAL_ALARM_DER_MISMATCH, JOURNAL_ROLE_OPERATOR, "m2").kind, REPLAY_EFFECT_DEFERRED);
      assert_int_equal(s->br[7].alarms, 0);
      char names[64];
      assert_string_equal(replay_alarm_names(REPLAY_ALARM_DER_MISMATCH, names, sizeof names), "der_mismatch");
    }
    free(s);
  }
}

static void test_ack_stale_der_and_v6(void **st)
{
  (void)st;
  struct replay_state *s = at_version(7);
  struct journal_record d;
  memset(&d, 0, sizeof d);
  d.type = JOURNAL_T_DER;
  d.seq = 2;
  d.wall_ns = T0 + 2000000000ll;
  d.body.der.source = JOURNAL_DER_PV;
  d.body.der.interlock_ok = 1;
  d.body.der.fresh = 1;
  replay_apply(s, &d, NULL);
  window(s, 20, 1, 0, 0, JOURNAL_PHASE_A); /* 18 s later: older than the 10 s freshness limit */
  assert_true(s->alarms & REPLAY_ALARM_STALE_DER);
  expect_refused(ack(s, 21, 0, JOURNAL_ALARM_STALE_DER, JOURNAL_ROLE_OPERATOR, "d1"), JOURNAL_REF_ALARM_ACTIVE);
  free(s);

  /* v 6 knows no alarm_ack: invalid, and nothing cleared */
  s = at_version(6);
  command(s, 2, 4, JOURNAL_DESIRED_OFF);
  sense(s, 3, 4, JOURNAL_DESIRED_OFF, JOURNAL_SENSED_ON, JOURNAL_VERDICT_WELDED);
  command(s, 4, 4, JOURNAL_DESIRED_OFF);
  sense(s, 5, 4, JOURNAL_DESIRED_OFF, JOURNAL_SENSED_OFF, JOURNAL_VERDICT_CONFIRMED);
  expect_refused(ack(s, 6, 4, JOURNAL_ALARM_WELDED, JOURNAL_ROLE_OPERATOR, "v6"), JOURNAL_REF_INVALID);
  assert_true(s->br[3].alarms & REPLAY_ALARM_WELDED);
  free(s);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_breaker_reset_by_metering),
    cmocka_unit_test(test_ack_welded),
    cmocka_unit_test(test_ack_trip_polarity_phase),
    cmocka_unit_test(test_ack_stale_der_and_v6),
    cmocka_unit_test(test_der_mismatch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
