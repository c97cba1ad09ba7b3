/*
 * test_control_req.c — the control protocol's request checks (cli/control_req.c) without a
 * daemon: each field's range as docs/cli.md "Control socket" states it, branch names, the
 * roles that may never make a request, and the request ids a client does not give.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "control_req.h"

static struct hw_panel panel;

static int setup(void **state)
{
  (void)state;
  memset(&panel, 0, sizeof panel);
  panel.num_branches = 3;
  panel.branch[0].number = 1; snprintf(panel.branch[0].name, sizeof panel.branch[0].name, "kitchen");
  panel.branch[1].number = 7; snprintf(panel.branch[1].name, sizeof panel.branch[1].name, "fridge");
  panel.branch[1].critical = true;
  panel.branch[2].number = 64; snprintf(panel.branch[2].name, sizeof panel.branch[2].name, "ev");
  return 0;
}

/* Loads and checks line as role; returns the error line or NULL (r stays loaded; free it). */
static const char *run(struct control_req *r, int role, const char *line)
{
  static char msg[300];
  struct control_ctx ctx = { .panel = &panel, .role = role, .next_seq = 42, .wall_ns = 1700000000000000000LL };
  if (control_req_load(r, line, strlen(line), msg, sizeof msg)) return msg;
  return control_req_check(r, &ctx, msg, sizeof msg);
}

/* The error line for line as role (the request must be refused). */
static void expect_error(int role, const char *line, const char *prefix)
{
  struct control_req r;
  const char *e = run(&r, role, line);
  if (!e || strncmp(e, prefix, strlen(prefix))) print_error("%s → %s, want %s…\n", line, e ? e : "(accepted)", prefix);
  assert_non_null(e);
  assert_int_equal(strncmp(e, prefix, strlen(prefix)), 0);
  control_req_free(&r);
}

static void shape(void **state)
{
  (void)state;
  expect_error(ROLE_ADMIN, "", "malformed request: ");
  expect_error(ROLE_ADMIN, "[1,2]", "malformed request: expected one JSON object per line");
  expect_error(ROLE_ADMIN, "{\"op\":\"status\",\"op\":\"switch\"}", "malformed request: duplicate object key");
  expect_error(ROLE_ADMIN, "{\"op\":1}", "malformed request: missing \"op\"");
  expect_error(ROLE_ADMIN, "{}", "malformed request: missing \"op\"");
  struct control_req r;
  assert_null(run(&r, ROLE_VIEWER, "{\"op\":\"status\"}"));
  assert_int_equal(r.op, CONTROL_STATUS);
  control_req_free(&r);
  /* an op this file does not know is left to the daemon, by name */
  assert_null(run(&r, ROLE_VIEWER, "{\"op\":\"follow\",\"from\":1}"));
  assert_int_equal(r.op, CONTROL_OTHER);
  assert_string_equal(r.op_name, "follow");
  control_req_free(&r);
}

static void note(void **state)
{
  (void)state;
  expect_error(ROLE_VIEWER, "{\"op\":\"note\",\"text\":\"x\"}", "refused: role viewer may not append notes");
  expect_error(ROLE_AUTOMATION, "{\"op\":\"note\",\"text\":\"x\"}", "refused: role automation may not append notes");
  expect_error(ROLE_UTILITY, "{\"op\":\"note\",\"text\":\"x\"}", "refused: role utility may not append notes");
  expect_error(ROLE_OPERATOR, "{\"op\":\"note\"}", "malformed request: note needs \"text\"");
  expect_error(ROLE_OPERATOR, "{\"op\":\"note\",\"text\":\"\"}", "malformed request: note needs \"text\"");
  expect_error(ROLE_OPERATOR, "{\"op\":\"note\",\"text\":7}", "malformed request: note needs \"text\"");
  /* 4096 bytes is the most a note holds; 4097 is refused */
  static char line[5000], text[4098];
  memset(text, 'a', 4097);
  text[4097] = 0;
  snprintf(line, sizeof line, "{\"op\":\"note\",\"text\":\"%s\"}", text);
  expect_error(ROLE_OPERATOR, line, "malformed request: note needs \"text\"");
  text[4096] = 0;
  snprintf(line, sizeof line, "{\"op\":\"note\",\"text\":\"%s\"}", text);
  struct control_req r;
  assert_null(run(&r, ROLE_OPERATOR, line));
  assert_int_equal(strlen(r.text), 4096);
  control_req_free(&r);
  /* a claimed name is cut to 63 bytes, never inside a character: 62 × 'w' then "é" (2 bytes)
   * keeps the 62 */
  char who[80];
  memset(who, 'w', 62);
  snprintf(who + 62, sizeof who - 62, "\xc3\xa9zz");
  snprintf(line, sizeof line, "{\"op\":\"note\",\"text\":\"t\",\"who\":\"%s\"}", who);
  assert_null(run(&r, ROLE_INSTALLER, line));
  assert_int_equal(r.claimed_who_len, 62);
  control_req_free(&r);
  assert_null(run(&r, ROLE_ADMIN, "{\"op\":\"note\",\"text\":\"t\",\"who\":\"ana\"}"));
  assert_int_equal(r.op, CONTROL_NOTE);
  assert_int_equal(r.claimed_who_len, 3);
  control_req_free(&r);
}

static void switch_branch(void **state)
{
  (void)state;
  struct control_req r;
  assert_null(run(&r, ROLE_OPERATOR, "{\"op\":\"switch\",\"branch\":\"kitchen\",\"desired\":\"off\"}"));
  assert_int_equal(r.op, CONTROL_SWITCH);
  assert_int_equal(r.target, 1);
  assert_false(r.on);
  assert_int_equal(r.origin, JOURNAL_ORIGIN_OPERATOR);
  assert_string_equal(r.rid, "sock-42"); /* no request_id: named by the seq it would get */
  assert_null(r.reason);
  control_req_free(&r);
  assert_null(run(&r, ROLE_ADMIN, "{\"op\":\"switch\",\"branch\":65535,\"desired\":\"on\",\"request_id\":\"r-1\",\"reason\":\"why\"}"));
  assert_int_equal(r.target, 65535);
  assert_true(r.on);
  assert_string_equal(r.rid, "r-1");
  assert_string_equal(r.reason, "why");
  control_req_free(&r);
  /* a viewer's switch is journaled (the fold refuses it, `role`) */
  assert_null(run(&r, ROLE_VIEWER, "{\"op\":\"switch\",\"branch\":7,\"desired\":\"on\"}"));
  control_req_free(&r);
  const char *nobranch = "malformed request: \"branch\" must be a branch number or a configured name";
  expect_error(ROLE_ADMIN, "{\"op\":\"switch\",\"desired\":\"on\"}", nobranch);
  expect_error(ROLE_ADMIN, "{\"op\":\"switch\",\"branch\":0,\"desired\":\"on\"}", nobranch);
  expect_error(ROLE_ADMIN, "{\"op\":\"switch\",\"branch\":-1,\"desired\":\"on\"}", nobranch);
  expect_error(ROLE_ADMIN, "{\"op\":\"switch\",\"branch\":65536,\"desired\":\"on\"}", nobranch);
  expect_error(ROLE_ADMIN, "{\"op\":\"switch\",\"branch\":4294967297,\"desired\":\"on\"}", nobranch);
  expect_error(ROLE_ADMIN, "{\"op\":\"switch\",\"branch\":\"garage\",\"desired\":\"on\"}", nobranch);
  expect_error(ROLE_ADMIN, "{\"op\":\"switch\",\"branch\":1.0,\"desired\":\"on\"}", nobranch);
  expect_error(ROLE_ADMIN, "{\"op\":\"switch\",\"branch\":1,\"desired\":\"ON\"}", "malformed request: \"desired\" must be \"on\" or \"off\"");
  expect_error(ROLE_ADMIN, "{\"op\":\"switch\",\"branch\":1}", "malformed request: \"desired\" must be \"on\" or \"off\"");
  char line[200], rid[66];
  memset(rid, 'r', 65);
  rid[65] = 0;
  snprintf(line, sizeof line, "{\"op\":\"switch\",\"branch\":1,\"desired\":\"on\",\"request_id\":\"%s\"}", rid);
  expect_error(ROLE_ADMIN, line, "malformed request: request_id longer than 64 bytes");
  rid[64] = 0;
  snprintf(line, sizeof line, "{\"op\":\"switch\",\"branch\":1,\"desired\":\"on\",\"request_id\":\"%s\"}", rid);
  assert_null(run(&r, ROLE_ADMIN, line));
  control_req_free(&r);
  /* roles: utility never switches branches; automation never a critical one */
  expect_error(ROLE_UTILITY, "{\"op\":\"switch\",\"branch\":1,\"desired\":\"on\"}", "refused: role utility may not switch branches");
  expect_error(ROLE_AUTOMATION, "{\"op\":\"switch\",\"branch\":\"fridge\",\"desired\":\"off\"}", "refused: role automation may not switch a critical branch");
  assert_null(run(&r, ROLE_AUTOMATION, "{\"op\":\"switch\",\"branch\":\"kitchen\",\"desired\":\"off\"}"));
  assert_int_equal(r.origin, JOURNAL_ORIGIN_AUTOMATION);
  control_req_free(&r);
}

static void service(void **state)
{
  (void)state;
  struct control_req r;
  assert_null(run(&r, ROLE_ADMIN, "{\"op\":\"service\",\"action\":\"disconnect\",\"reason\":\"arrears\"}"));
  assert_int_equal(r.op, CONTROL_POLICY);
  assert_int_equal(r.q.kind, JOURNAL_REQ_SERVICE);
  assert_int_equal(r.q.action, JOURNAL_SVC_DISCONNECT);
  assert_int_equal(r.q.origin, JOURNAL_ORIGIN_REMOTE);
  assert_int_equal(r.q.desired, JOURNAL_DESIRED_OFF);
  assert_int_equal(r.q.request_id.len, strlen("sock-42"));
  assert_memory_equal(r.q.request_id.ptr, "sock-42", 7);
  assert_int_equal(r.q.reason.len, 7);
  control_req_free(&r);
  assert_null(run(&r, ROLE_OPERATOR, "{\"op\":\"service\",\"action\":\"confirm\"}"));
  assert_int_equal(r.q.action, JOURNAL_SVC_CONFIRM);
  assert_int_equal(r.q.desired, JOURNAL_DESIRED_ON);
  assert_int_equal(r.q.origin, JOURNAL_ORIGIN_OPERATOR);
  control_req_free(&r);
  assert_null(run(&r, ROLE_ADMIN, "{\"op\":\"service\",\"action\":\"set-mode\",\"mode\":6}"));
  assert_int_equal(r.q.control_mode, 6);
  control_req_free(&r);
  expect_error(ROLE_ADMIN, "{\"op\":\"service\",\"action\":\"set-mode\",\"mode\":7}", "malformed request: \"mode\" must be 0..6");
  expect_error(ROLE_ADMIN, "{\"op\":\"service\",\"action\":\"set-mode\",\"mode\":-1}", "malformed request: \"mode\" must be 0..6");
  expect_error(ROLE_ADMIN, "{\"op\":\"service\",\"action\":\"set-mode\"}", "malformed request: \"mode\" must be 0..6");
  expect_error(ROLE_ADMIN, "{\"op\":\"service\",\"action\":\"explode\"}", "malformed request: service action must be");
  expect_error(ROLE_ADMIN, "{\"op\":\"service\"}", "malformed request: missing \"action\"");
  expect_error(ROLE_AUTOMATION, "{\"op\":\"service\",\"action\":\"disconnect\"}", "refused: role automation may only opt out of demand response and command DER");
  /* a reason is cut to 256 bytes, never inside a character: 255 × 'a' then "é" keeps 255 */
  char line[400], reason[300];
  memset(reason, 'a', 255);
  snprintf(reason + 255, sizeof reason - 255, "\xc3\xa9");
  snprintf(line, sizeof line, "{\"op\":\"service\",\"action\":\"confirm\",\"reason\":\"%s\"}", reason);
  assert_null(run(&r, ROLE_OPERATOR, line));
  assert_int_equal(r.q.reason.len, 255);
  control_req_free(&r);
}

static void demand_response(void **state)
{
  (void)state;
  struct control_req r;
  assert_null(run(&r, ROLE_ADMIN, "{\"op\":\"dr\",\"action\":\"start\",\"event\":\"ev-1\",\"branches\":[\"kitchen\",7,64],"
                                  "\"start_in_ns\":1000,\"duration_ns\":600000000000,\"randomize_ns\":5,\"reduce_w\":1500,"
                                  "\"modification\":3,\"mandatory\":true}"));
  assert_int_equal(r.q.kind, JOURNAL_REQ_DR_START);
  assert_int_equal(r.q.origin, JOURNAL_ORIGIN_DEMAND_RESPONSE);
  assert_true(r.q.branch_mask == ((1ull << 0) | (1ull << 6) | (1ull << 63)));
  assert_true(r.q.dtstart_ns == 1700000000000001000LL);
  assert_true(r.q.duration_ns == 600000000000ull);
  assert_int_equal(r.q.randomize_ns, 5);
  assert_int_equal(r.q.reduce_w, 1500);
  assert_int_equal(r.q.modification, 3);
  assert_int_equal(r.q.mandatory, 1);
  assert_memory_equal(r.q.event.ptr, "ev-1", 4);
  control_req_free(&r);
  assert_null(run(&r, ROLE_AUTOMATION, "{\"op\":\"dr\",\"action\":\"opt-out\",\"event\":\"ev-1\"}"));
  assert_int_equal(r.q.kind, JOURNAL_REQ_DR_OPT_OUT);
  assert_int_equal(r.q.origin, JOURNAL_ORIGIN_AUTOMATION);
  control_req_free(&r);
  const char *unknown = "malformed request: \"branches\" holds an unknown branch";
  expect_error(ROLE_ADMIN, "{\"op\":\"dr\",\"action\":\"start\",\"event\":\"e\",\"branches\":[65]}", unknown);
  expect_error(ROLE_ADMIN, "{\"op\":\"dr\",\"action\":\"start\",\"event\":\"e\",\"branches\":[0]}", unknown);
  /* 2^32 + 1 must not wrap to branch 1 */
  expect_error(ROLE_ADMIN, "{\"op\":\"dr\",\"action\":\"start\",\"event\":\"e\",\"branches\":[4294967297]}", unknown);
  expect_error(ROLE_ADMIN, "{\"op\":\"dr\",\"action\":\"start\",\"event\":\"e\",\"branches\":[\"garage\"]}", unknown);
  expect_error(ROLE_ADMIN, "{\"op\":\"dr\",\"action\":\"pause\",\"event\":\"e\"}", "malformed request: dr action must be");
  expect_error(ROLE_ADMIN, "{\"op\":\"dr\",\"action\":\"start\"}", "malformed request: \"event\" must be 1..64 bytes");
  expect_error(ROLE_ADMIN, "{\"op\":\"dr\",\"action\":\"start\",\"event\":\"\"}", "malformed request: \"event\" must be 1..64 bytes");
  expect_error(ROLE_ADMIN, "{\"op\":\"dr\",\"action\":\"start\",\"event\":\"e\",\"reduce_w\":4294967296}",
               "malformed request: \"reduce_w\" must be 1..4294967295");
  expect_error(ROLE_ADMIN, "{\"op\":\"dr\",\"action\":\"start\",\"event\":\"e\",\"modification\":4294967296}",
               "malformed request: \"modification\" must be 0..4294967295");
  /* times: INT64_MAX is 9223372036854775807 ns; now is 1.7e18 */
  expect_error(ROLE_ADMIN, "{\"op\":\"dr\",\"action\":\"start\",\"event\":\"e\",\"start_in_ns\":9000000000000000000}",
               "malformed request: \"start_in_ns\" out of range");
  expect_error(ROLE_ADMIN, "{\"op\":\"dr\",\"action\":\"start\",\"event\":\"e\",\"start_ns\":9223372036854775800,\"duration_ns\":10}",
               "malformed request: start, randomize_ns and duration_ns end after the last representable time");
  expect_error(ROLE_ADMIN, "{\"op\":\"dr\",\"action\":\"start\",\"event\":\"e\",\"randomize_ns\":9223372036854775807}",
               "malformed request: start, randomize_ns and duration_ns end after the last representable time");
  expect_error(ROLE_AUTOMATION, "{\"op\":\"dr\",\"action\":\"start\",\"event\":\"e\"}", "refused: role automation may only opt out of demand response and command DER");
}

/* An expiry: "expires" (ns since the Unix epoch) or "expires_in_ns" (from the panel's clock,
 * ctx.wall_ns = 1.7e18 here), on switch, service and dr alike; one already past is accepted
 * (the fold refuses it `expired`, journaled); a bad type, a non-positive time, both keys or an
 * end past 2^63 - 1 ns is malformed. */
static void alarm_ack(void **state)
{
  (void)state;
  struct control_req r;
  assert_null(run(&r, ROLE_OPERATOR, "{\"op\":\"alarm_ack\",\"target\":\"kitchen\",\"alarm\":\"welded\",\"request_id\":\"a-1\","
                                     "\"reason\":\"checked\"}"));
  assert_int_equal(r.op, CONTROL_POLICY);
  assert_int_equal(r.q.kind, JOURNAL_REQ_ALARM_ACK);
  assert_int_equal(r.q.target, 1);
  assert_int_equal(r.q.alarm, JOURNAL_ALARM_WELDED);
  assert_int_equal(r.q.origin, JOURNAL_ORIGIN_OPERATOR);
  assert_memory_equal(r.q.request_id.ptr, "a-1", 3);
  assert_memory_equal(r.q.reason.ptr, "checked", 7);
  control_req_free(&r);
  assert_null(run(&r, ROLE_ADMIN, "{\"op\":\"alarm_ack\",\"target\":\"panel\",\"alarm\":\"backfeed_risk\"}"));
  assert_int_equal(r.q.target, 0);
  assert_int_equal(r.q.alarm, JOURNAL_ALARM_BACKFEED_RISK);
  control_req_free(&r);
  assert_null(run(&r, ROLE_OPERATOR, "{\"op\":\"alarm_ack\",\"target\":7,\"alarm\":\"unexplained_trip\"}"));
  assert_int_equal(r.q.target, 7);
  assert_int_equal(r.q.alarm, JOURNAL_ALARM_UNEXPLAINED_TRIP);
  control_req_free(&r);
  const char *bad_alarm = "malformed request: \"alarm\" must be welded, ct_polarity";
  expect_error(ROLE_OPERATOR, "{\"op\":\"alarm_ack\",\"target\":7,\"alarm\":\"Welded\"}", bad_alarm);
  expect_error(ROLE_OPERATOR, "{\"op\":\"alarm_ack\",\"target\":7}", bad_alarm);
  expect_error(ROLE_OPERATOR, "{\"op\":\"alarm_ack\",\"target\":7,\"alarm\":3}", bad_alarm);
  const char *bad_target = "malformed request: \"target\" must be a branch number";
  expect_error(ROLE_OPERATOR, "{\"op\":\"alarm_ack\",\"target\":0,\"alarm\":\"welded\"}", bad_target);
  expect_error(ROLE_OPERATOR, "{\"op\":\"alarm_ack\",\"target\":\"Panel\",\"alarm\":\"welded\"}", bad_target);
  expect_error(ROLE_OPERATOR, "{\"op\":\"alarm_ack\",\"alarm\":\"welded\"}", bad_target);
  expect_error(ROLE_AUTOMATION, "{\"op\":\"alarm_ack\",\"target\":7,\"alarm\":\"welded\"}",
               "refused: role automation may not acknowledge alarms");
  expect_error(ROLE_UTILITY, "{\"op\":\"alarm_ack\",\"target\":\"panel\",\"alarm\":\"stale_der\"}",
               "refused: role utility may not acknowledge alarms");
  assert_null(run(&r, ROLE_VIEWER, "{\"op\":\"alarm_ack\",\"target\":7,\"alarm\":\"welded\"}")); /* the fold refuses it */
  control_req_free(&r);
}

static void expiry(void **state)
{
  (void)state;
  struct control_req r;
  assert_null(run(&r, ROLE_OPERATOR, "{\"op\":\"switch\",\"branch\":1,\"desired\":\"off\"}"));
  assert_int_equal(r.expiry_ns, 0); /* none */
  control_req_free(&r);
  assert_null(run(&r, ROLE_OPERATOR, "{\"op\":\"switch\",\"branch\":1,\"desired\":\"off\",\"expires\":1700000060000000000}"));
  assert_int_equal(r.expiry_ns, 1700000060000000000LL);
  control_req_free(&r);
  assert_null(run(&r, ROLE_OPERATOR, "{\"op\":\"switch\",\"branch\":1,\"desired\":\"off\",\"expires\":1}"));
  assert_int_equal(r.expiry_ns, 1); /* 1970: past, still journaled */
  control_req_free(&r);
  assert_null(run(&r, ROLE_OPERATOR, "{\"op\":\"switch\",\"branch\":1,\"desired\":\"off\",\"expires_in_ns\":30000000000}"));
  assert_int_equal(r.expiry_ns, 1700000000000000000LL + 30000000000LL);
  control_req_free(&r);
  assert_null(run(&r, ROLE_ADMIN, "{\"op\":\"service\",\"action\":\"disconnect\",\"expires_in_ns\":0}"));
  assert_int_equal(r.q.expiry_ns, 1700000000000000000LL);
  control_req_free(&r);
  assert_null(run(&r, ROLE_ADMIN, "{\"op\":\"dr\",\"action\":\"cancel\",\"event\":\"e1\",\"expires\":1700000000000000001}"));
  assert_int_equal(r.q.expiry_ns, 1700000000000000001LL);
  control_req_free(&r);
  const char *bad[] = {
    "\"expires\":0", "\"expires\":-5", "\"expires\":\"2026-12-05T00:00:00Z\"", "\"expires\":1.5e18",
    "\"expires_in_ns\":-1", "\"expires_in_ns\":9223372036854775807", "\"expires_in_ns\":\"30s\"",
    "\"expires\":1700000060000000000,\"expires_in_ns\":1",
  };
  const char *want[] = {
    "malformed request: \"expires\" must be", "malformed request: \"expires\" must be", "malformed request: \"expires\" must be",
    "malformed request: \"expires\" must be", "malformed request: \"expires_in_ns\" must be",
    "malformed request: \"expires_in_ns\" must be", "malformed request: \"expires_in_ns\" must be",
    "malformed request: give \"expires\" or \"expires_in_ns\", not both",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char line[300];
    snprintf(line, sizeof line, "{\"op\":\"switch\",\"branch\":1,\"desired\":\"off\",%s}", bad[i]);
    expect_error(ROLE_OPERATOR, line, want[i]);
    snprintf(line, sizeof line, "{\"op\":\"dr\",\"action\":\"cancel\",\"event\":\"e1\",%s}", bad[i]);
    expect_error(ROLE_ADMIN, line, want[i]);
  }
}

/* calibrate: installer or admin; the gain in force times the factor, within [0.5, 2]. */
static void calibrate(void **state)
{
  (void)state;
  struct control_req r;
  const char *ok = "{\"op\":\"calibrate\",\"branch\":\"kitchen\",\"factor\":1.05,\"reference_w\":2000,\"measured_w\":1904.8,\"windows\":10}";
  assert_null(run(&r, ROLE_INSTALLER, ok));
  assert_int_equal(r.op, CONTROL_CALIBRATE);
  assert_int_equal(r.cal.branch, 1);
  assert_true(r.cal.gain_old == 1.0 && r.cal.gain == 1.05 && r.cal.windows == 10);
  control_req_free(&r);
  panel.branch[0].gain = 1.95; /* the gain in force is what the factor scales */
  expect_error(ROLE_ADMIN, ok, "refused: branch 1: the derived gain 2.047500 is outside [0.5, 2]");
  panel.branch[0].gain = 0;
  expect_error(ROLE_OPERATOR, ok, "refused: role operator may not calibrate (installer or admin)");
  expect_error(ROLE_AUTOMATION, ok, "refused: role automation may not calibrate");
  expect_error(ROLE_ADMIN, "{\"op\":\"calibrate\",\"branch\":64,\"factor\":1,\"reference_w\":1,\"measured_w\":1,\"windows\":1}",
               "malformed request: \"branch\" must be a branch number or a configured name");
  expect_error(ROLE_ADMIN, "{\"op\":\"calibrate\",\"branch\":1,\"factor\":0,\"reference_w\":1,\"measured_w\":1,\"windows\":1}",
               "malformed request: \"factor\" must be a number in (0, 100)");
  expect_error(ROLE_ADMIN, "{\"op\":\"calibrate\",\"branch\":1,\"factor\":1,\"reference_w\":-1,\"measured_w\":1,\"windows\":1}",
               "malformed request: \"reference_w\" and \"measured_w\" must be numbers > 0");
  expect_error(ROLE_ADMIN, "{\"op\":\"calibrate\",\"branch\":1,\"factor\":1,\"reference_w\":1,\"measured_w\":1,\"windows\":0}",
               "malformed request: \"windows\" must be 1..100000");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup(shape, setup),
    cmocka_unit_test_setup(note, setup),
    cmocka_unit_test_setup(switch_branch, setup),
    cmocka_unit_test_setup(service, setup),
    cmocka_unit_test_setup(demand_response, setup),
    cmocka_unit_test_setup(alarm_ack, setup),
    cmocka_unit_test_setup(expiry, setup),
    cmocka_unit_test_setup(calibrate, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
