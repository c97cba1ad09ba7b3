/*
 * test_bridge_cmd.c — the MQTT messages `hems bridge mqtt` takes (cli/bridge_cmd.c): Home
 * Assistant's switch payloads ON/OFF on <base>/branch/<N>/switch/set and its birth/last-will
 * payloads online/offline on <prefix>/status, exactly; everything else one line naming the topic,
 * escaped so a topic cannot forge a log line. Node ids and prefixes the bridge accepts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "bridge_cmd.h"

static int parse(const char *topic, const char *payload, struct bridge_cmd *c, char *msg, size_t cap)
{
  return bridge_cmd_parse("hems/p1", "homeassistant", topic, strlen(topic), payload, strlen(payload), c, msg, cap);
}

static void accepted(void **state)
{
  (void)state;
  struct bridge_cmd c;
  char msg[600];
  assert_int_equal(parse("hems/p1/branch/7/switch/set", "ON", &c, msg, sizeof msg), 0);
  assert_int_equal(c.kind, BRIDGE_CMD_SWITCH);
  assert_int_equal(c.branch, 7);
  assert_true(c.on);
  assert_int_equal(parse("hems/p1/branch/65535/switch/set", "OFF", &c, msg, sizeof msg), 0);
  assert_int_equal(c.branch, 65535);
  assert_false(c.on);
  assert_int_equal(parse("homeassistant/status", "online", &c, msg, sizeof msg), 0);
  assert_int_equal(c.kind, BRIDGE_CMD_HA_ONLINE);
  assert_int_equal(parse("homeassistant/status", "offline", &c, msg, sizeof msg), 0);
  assert_int_equal(c.kind, BRIDGE_CMD_HA_OFFLINE);
}

static void refused(void **state)
{
  (void)state;
  static const struct { const char *topic, *payload, *why; } bad[] = {
    { "hems/p1/branch/7/switch/set", "on", "payload must be exactly \"ON\" or \"OFF\"" },
    { "hems/p1/branch/7/switch/set", "ON ", "payload must be exactly \"ON\" or \"OFF\"" },
    { "hems/p1/branch/7/switch/set", "", "payload must be exactly \"ON\" or \"OFF\"" },
    { "hems/p1/branch/0/switch/set", "ON", "branch must be a number 1..65535" },
    { "hems/p1/branch/65536/switch/set", "ON", "branch must be a number 1..65535" },
    { "hems/p1/branch/07/switch/set", "ON", "branch number with a leading zero" },
    { "hems/p1/branch/+7/switch/set", "ON", "branch must be a number 1..65535" },
    { "hems/p1/branch/7/switch/set/", "ON", "not a topic the bridge takes" },
    { "hems/p1/branch/7/switch", "ON", "not a topic the bridge takes" },
    { "hems/p2/branch/7/switch/set", "ON", "not a topic the bridge takes" },
    { "homeassistant/status", "Online", "payload must be exactly \"online\" or \"offline\"" },
    { "homeassistant/status/x", "online", "not a topic the bridge takes" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct bridge_cmd c;
    char msg[600], want[600];
    assert_int_equal(parse(bad[i].topic, bad[i].payload, &c, msg, sizeof msg), -1);
    snprintf(want, sizeof want, "bad message on topic '%s': %s", bad[i].topic, bad[i].why);
    assert_string_equal(msg, want);
  }
}

/* Control bytes, quotes and non-ASCII in a topic come out as \xNN; long topics are cut. */
static void topic_escaped(void **state)
{
  (void)state;
  struct bridge_cmd c;
  char msg[600];
  assert_int_equal(parse("hems/p1/x\n'\xff", "ON", &c, msg, sizeof msg), -1);
  assert_string_equal(msg, "bad message on topic 'hems/p1/x\\x0a\\x27\\xff': not a topic the bridge takes");
  char longt[300];
  memset(longt, 'a', sizeof longt - 1);
  longt[sizeof longt - 1] = 0;
  assert_int_equal(parse(longt, "ON", &c, msg, sizeof msg), -1);
  assert_non_null(strstr(msg, "aaa...': not a topic"));
  assert_true(strlen(msg) < 160);
}

static void names(void **state)
{
  (void)state;
  assert_true(bridge_node_id_ok("hems_0123abcd"));
  assert_true(bridge_node_id_ok("a-B_9"));
  assert_false(bridge_node_id_ok(""));
  assert_false(bridge_node_id_ok("a/b"));
  assert_false(bridge_node_id_ok("a b"));
  assert_true(bridge_prefix_ok("homeassistant"));
  assert_true(bridge_prefix_ok("site/ha"));
  assert_false(bridge_prefix_ok("site//ha"));
  assert_false(bridge_prefix_ok("/ha"));
  assert_false(bridge_prefix_ok("ha/"));
  assert_false(bridge_prefix_ok("ha/#"));
  assert_false(bridge_prefix_ok("h+a"));
  assert_false(bridge_prefix_ok("h a"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(accepted),
    cmocka_unit_test(refused),
    cmocka_unit_test(topic_escaped),
    cmocka_unit_test(names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
