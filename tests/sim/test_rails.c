/*
 * test_rails.c — supply rails and reset reasons (issue 17 item 4) through the real binary
 * (HEMS_BIN), `hems run --speed max`.
 *
 * dip: the default panel with rails 5v (5000 mV, power-good below 90 %) and 3v3 (3300 mV,
 *   below 95 %); the 5v rail at 80 % for 2 s from 20 s, the AFCI tap of branch 15 asserting at
 *   21 s (inside the dip) and releasing at 40 s, the 3v3 rail at 96 % at 30 s (above its
 *   threshold: nothing). Expected: boot rail_status "ok"; fault rail_low at 20 s (value 5000,
 *   the detail naming 5v) and rail_ok at 22 s (value 2000 ms); the tap's edge at 21 s carries
 *   rails_low 1 (bit 0: rails[0]), its release at 40 s none, nor any record after 22 s; no fault
 *   for 3v3; `replay --check` clean. Without rails (the shipped default) rail_status is "none".
 *
 * reset: the boot record's reset_reason — "restart" after a clean stop, "unclean_shutdown"
 *   after a kill -9, and from a watchdog bootstatus file named by the panel: 0x20
 *   (WDIOF_CARDRESET) "watchdog", 0x10 (WDIOF_POWERUNDER) "brownout", 0 "power_on", garbage
 *   "unknown".
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli_test.h"

static int setup(void **state)
{
  (void)state;
  return cli_test_setup("rails");
}

/* The default scenario with "rails" and extra panel keys (a Python dict literal merged into
 * the panel) and the given timeline, written to TMP/NAME.json; init TMP/NAME. */
static void prepare(const char *name, const char *panel_extra, const char *timeline, char *d, size_t cap)
{
  snprintf(d, cap, "%s/%s", tmp, name);
  assert_int_equal(sh("/usr/bin/python3 -c \"import json\n"
                      "s = json.load(open('%s/hw/sim/scenarios/default.json'))\n"
                      "s['name'] = '%s'\n"
                      "s['panel']['rails'] = [{'name': '5v', 'nominal_mv': 5000}, {'name': '3v3', 'nominal_mv': 3300, 'min_pct': 95}]\n"
                      "s['panel'].update(%s)\n"
                      "s['timeline'] = %s\n"
                      "json.dump(s, open('%s.json', 'w'))\"",
                      HEMS_SOURCE_DIR, name, panel_extra, timeline, d),
                   0);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
}

static void dip(void **state)
{
  (void)state;
  char d[300], nr[300];
  prepare("dip", "{}",
          "[{'at': '20s', 'do': 'rail', 'name': '5v', 'level': 80, 'duration': '2s'},"
          " {'at': '21s', 'do': 'tap', 'tap': 'afci-15', 'active': True, 'bounce': False},"
          " {'at': '30s', 'do': 'rail', 'name': '3v3', 'level': 96},"
          " {'at': '40s', 'do': 'tap', 'tap': 'afci-15', 'active': False, 'bounce': False}]",
          d, sizeof d);
  assert_int_equal(sh("%s run --dir %s --sim %s.json --speed max --for 60s >/dev/null 2>%s.err", bin, d, d, d), 0);
  int rc = sh("%s timeline --dir %s --format jsonl | /usr/bin/python3 -c \"\n"
              "import json, sys\n"
              "recs = [json.loads(l) for l in sys.stdin]\n"
              "S = 1000000000\n"
              "boot = [r for r in recs if r['type'] == 'boot'][-1]\n"
              "assert boot['body']['rail_status'] == 'ok', boot['body']\n"
              "f = [(r['mono_ns'], r['body']) for r in recs if r['type'] == 'fault' and r['body']['code'].startswith('rail')]\n"
              "assert [b['code'] for t, b in f] == ['rail_low', 'rail_ok'], f\n"
              "(t1, lo), (t2, ok) = f\n"
              "assert 20 * S <= t1 < 20 * S + 20000000 and lo['value'] == 5000 and 'rail 5v' in lo['detail'], f\n"
              "assert lo.get('rails_low') == 1, lo  # the fault carries the snapshot too\n"
              "assert 22 * S <= t2 < 22 * S + 20000000 and 1990 <= ok['value'] <= 2010 and 'rails_low' not in ok, f\n"
              "taps = [(r['mono_ns'], r['body']) for r in recs if r['type'] == 'trip_tap' and r['body']['branch'] == 15 and 'of_seq' not in r['body']]\n"
              "assert [b['edge'] for t, b in taps] == ['rising', 'falling'], taps\n"
              "assert taps[0][1].get('rails_low') == 1 and 'rails_low' not in taps[1][1], taps\n"
              "late = [r for r in recs if r['mono_ns'] > 22 * S + 20000000 and 'rails_low' in r['body']]\n"
              "assert not late, late[:1]\n"
              "print('OK')\"",
              bin, d);
  assert_int_equal(rc, 0);
  assert_int_equal(sh("%s replay --check --dir %s | grep -q ' 0 divergence'", bin, d), 0);
  assert_int_equal(cli_run_default_with("norails", "None", "5s", nr, sizeof nr), 0);
  assert_int_equal(sh("%s timeline --dir %s --type boot --format jsonl | tail -1 | grep -q '\"rail_status\":\"none\"'", bin, nr), 0);
}

/* The last boot record's reset_reason into out. */
static void reset_reason(const char *d, char *out, size_t cap)
{
  assert_int_equal(sh_line(out, cap, "%s timeline --dir %s --type boot --format jsonl | tail -1 | "
                                     "/usr/bin/python3 -c \"import json,sys; print(json.load(sys.stdin)['body']['reset_reason'])\"",
                           bin, d),
                   0);
}

static void reset(void **state)
{
  (void)state;
  char d[300], why[64], bs[400];
  prepare("restart", "{}", "[]", d, sizeof d);
  assert_int_equal(sh("%s run --dir %s --sim %s.json --speed max --for 2s >/dev/null 2>&1", bin, d, d), 0);
  reset_reason(d, why, sizeof why);
  assert_string_equal(why, "restart");
  /* a daemon killed: the next boot says so */
  char scen[400];
  snprintf(scen, sizeof scen, "%s.json", d);
  pid_t pid = cli_spawn_daemon_with(d, NULL, scen);
  assert_true(pid > 0);
  char sock[400];
  snprintf(sock, sizeof sock, "%s/control.sock", d);
  if (cli_wait_for_socket(sock) != 0) { kill(pid, SIGKILL); fail_msg("the daemon never answered"); }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  assert_int_equal(sh("%s run --dir %s --sim %s.json --speed max --for 2s >/dev/null 2>&1", bin, d, d), 0);
  reset_reason(d, why, sizeof why);
  assert_string_equal(why, "unclean_shutdown");
  /* the watchdog's bootstatus */
  static const struct { const char *content, *want; } cases[] = {
    { "32\\n", "watchdog" }, { "0x10", "brownout" }, { "0\\n", "power_on" }, { "bogus", "unknown" } };
  snprintf(bs, sizeof bs, "%s/bootstatus", tmp);
  char extra[500], name[32];
  snprintf(extra, sizeof extra, "{'watchdog_bootstatus': '%s'}", bs);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(sh("printf '%s' > %s", cases[i].content, bs), 0);
    snprintf(name, sizeof name, "wd%zu", i);
    prepare(name, extra, "[]", d, sizeof d);
    assert_int_equal(sh("%s run --dir %s --sim %s.json --speed max --for 2s >/dev/null 2>&1", bin, d, d), 0);
    reset_reason(d, why, sizeof why);
    assert_string_equal(why, cases[i].want);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(dip),
    cmocka_unit_test(reset),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
