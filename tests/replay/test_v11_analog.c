/*
 * test_v11_analog.c — reducer v 11 (issue 17 item 8b): the daemon's faults from a tap's analog
 * source raise alarms, each folded also under v 10 to show what changed:
 * - fault{leakage_high} on branch 3 raises branch 3's leakage_high (and is leakage evidence);
 *   alarm_ack is refused alarm_active until fault{leakage_ok}, then accepted (the alarm cleared);
 * - panel-wide (branch 0) over_temperature and temperature_rise raise the panel's alarms, each
 *   held until its own end fault (temperature_ok does not end temperature_rise);
 * - a second raise after an acknowledgement raises the alarm again;
 * - under v 10 the faults raise nothing and an alarm_ack naming one of the three is invalid;
 * - the alarm names (status, socket, CLI) and the serialisation's v 11 tail.
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

static void fault(struct replay_state *s, uint64_t seq, const char *code, uint16_t branch, int64_t value)
{
  struct journal_record f;
  rp_rec_at(&f, JOURNAL_T_FAULT, seq, T0);
  f.body.fault.code = rp_lit(code);
  f.body.fault.branch = branch;
  f.body.fault.value = value;
  replay_apply(s, &f, NULL);
}

static struct replay_effect ack(struct replay_state *s, uint64_t seq, uint16_t target, uint8_t alarm, const char *id)
{
  struct replay_effects fx;
  rp_alarm_ack(s, seq, T0, target, alarm, JOURNAL_ROLE_OPERATOR, id, &fx);
  assert_int_equal(fx.n, 1);
  return fx.e[0];
}

static void expect(struct replay_effect e, unsigned kind, unsigned reason)
{
  assert_int_equal(e.kind, kind);
  assert_int_equal(e.reason, reason);
}

static void test_leakage_branch(void **st)
{
  (void)st;
  for (uint32_t v = 10; v <= 11; v++) {
    struct replay_state *s = at_version(v);
    fault(s, 2, "leakage_high", 3, 12000);
    assert_int_equal(s->br[2].alarms, v >= 11 ? REPLAY_ALARM_LEAKAGE_HIGH : 0);
    assert_int_equal(s->br[2].evidence_wall_ns, v >= 11 ? T0 + 2000000000ll : 0);
    assert_int_equal(s->alarms, 0);
    if (v < 11) {
      expect(ack(s, 3, 3, JOURNAL_ALARM_LEAKAGE_HIGH, "l0"), REPLAY_EFFECT_REFUSAL, JOURNAL_REF_INVALID);
      free(s);
      continue;
    }
    expect(ack(s, 3, 3, JOURNAL_ALARM_LEAKAGE_HIGH, "l1"), REPLAY_EFFECT_REFUSAL, JOURNAL_REF_ALARM_ACTIVE);
    fault(s, 4, "leakage_ok", 3, 5000);
    assert_int_equal(s->br[2].alarms, REPLAY_ALARM_LEAKAGE_HIGH); /* raised until acknowledged */
    expect(ack(s, 5, 3, JOURNAL_ALARM_LEAKAGE_HIGH, "l2"), REPLAY_EFFECT_DEFERRED, REPLAY_DEFER_ACCEPTED);
    assert_int_equal(s->br[2].alarms, 0);
    expect(ack(s, 6, 3, JOURNAL_ALARM_LEAKAGE_HIGH, "l3"), REPLAY_EFFECT_REFUSAL, JOURNAL_REF_ALARM_NOT_RAISED);
    fault(s, 7, "leakage_high", 3, 15000); /* it returns: raised again */
    assert_int_equal(s->br[2].alarms, REPLAY_ALARM_LEAKAGE_HIGH);
    expect(ack(s, 8, 3, JOURNAL_ALARM_LEAKAGE_HIGH, "l4"), REPLAY_EFFECT_REFUSAL, JOURNAL_REF_ALARM_ACTIVE);
    free(s);
  }
}

static void test_temperature_panel(void **st)
{
  (void)st;
  struct replay_state *s = at_version(11);
  fault(s, 2, "temperature_rise", 0, 5000);
  fault(s, 3, "over_temperature", 0, 60050);
  assert_int_equal(s->alarms, REPLAY_ALARM_TEMPERATURE_RISE | REPLAY_ALARM_OVER_TEMPERATURE);
  fault(s, 4, "temperature_ok", 0, 50000);
  /* the rise's own end has not come: its alarm holds, the threshold's does not */
  expect(ack(s, 5, 0, JOURNAL_ALARM_TEMPERATURE_RISE, "t1"), REPLAY_EFFECT_REFUSAL, JOURNAL_REF_ALARM_ACTIVE);
  expect(ack(s, 6, 0, JOURNAL_ALARM_OVER_TEMPERATURE, "t2"), REPLAY_EFFECT_DEFERRED, REPLAY_DEFER_ACCEPTED);
  assert_int_equal(s->alarms, REPLAY_ALARM_TEMPERATURE_RISE);
  fault(s, 7, "temperature_rise_ok", 0, 2960);
  expect(ack(s, 8, 0, JOURNAL_ALARM_TEMPERATURE_RISE, "t3"), REPLAY_EFFECT_DEFERRED, REPLAY_DEFER_ACCEPTED);
  assert_int_equal(s->alarms, 0);
  /* a panel-wide end fault does not end a branch's, nor the other way round */
  fault(s, 9, "over_temperature", 4, 61000);
  fault(s, 10, "temperature_ok", 0, 50000);
  expect(ack(s, 11, 4, JOURNAL_ALARM_OVER_TEMPERATURE, "t4"), REPLAY_EFFECT_REFUSAL, JOURNAL_REF_ALARM_ACTIVE);
  free(s);
}

static void test_names_and_tail(void **st)
{
  (void)st;
  char names[128];
  assert_string_equal(replay_alarm_names(REPLAY_ALARM_LEAKAGE_HIGH | REPLAY_ALARM_OVER_TEMPERATURE | REPLAY_ALARM_TEMPERATURE_RISE,
                                         names, sizeof names),
                      "leakage_high,over_temperature,temperature_rise");
  /* the alarm_ack values are the reducers' bits + 1 (control_req.c maps names so) */
  assert_int_equal(1u << (JOURNAL_ALARM_LEAKAGE_HIGH - 1), REPLAY_ALARM_LEAKAGE_HIGH);
  assert_int_equal(1u << (JOURNAL_ALARM_OVER_TEMPERATURE - 1), REPLAY_ALARM_OVER_TEMPERATURE);
  assert_int_equal(1u << (JOURNAL_ALARM_TEMPERATURE_RISE - 1), REPLAY_ALARM_TEMPERATURE_RISE);
  struct replay_state *a = at_version(10), *b = at_version(11);
  /* v 11 adds the battery's permit tail (REPLAY_SER_V11_TAIL), then the panel's and 48 branches'
   * held conditions, one byte each */
  assert_int_equal(replay_state_serialised_len(b) - replay_state_serialised_len(a), REPLAY_SER_V11_TAIL + 1 + REPLAY_BRANCHES_MAX);
  uint8_t h1[32], h2[32];
  replay_state_hash(b, h1);
  fault(b, 2, "over_temperature", 0, 60050);
  b->alarms = 0; /* the held condition alone is state: it changes the hash */
  replay_state_hash(b, h2);
  assert_memory_not_equal(h1, h2, 32);
  free(a);
  free(b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_leakage_branch),
    cmocka_unit_test(test_temperature_panel),
    cmocka_unit_test(test_names_and_tail),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
