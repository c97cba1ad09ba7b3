/*
 * test_clock_step.c — a wall-clock step through the real binary (HEMS_BIN): the shipped
 * `default` scenario with its timeline replaced by a clock_step of −30 s at 10 s and a
 * clock_sync at 40 s, run by `hems run --speed max --for 60s`. The expected records follow from
 * what was injected, not from the daemon's output:
 *   - exactly two `time_step` faults, value −30000 and +30000 ms, at panel times 10 s and 40 s;
 *   - every record of the run has wall − mono equal to the run's offset, minus 30 s from 10 s to
 *     40 s (the displaced clock) — so the label can be checked against the clock itself;
 *   - time_quality `stepped` exactly for the records from 10 s until 2 s after the last step
 *     (42 s: the clock says synced again), `synced` before and after;
 *   - `replay --check` clean.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli_test.h"

static int setup(void **state)
{
  (void)state;
  return cli_test_setup("clockstep");
}

static void step_and_sync(void **state)
{
  (void)state;
  char d[300];
  assert_int_equal(cli_run_default_with("clock-step",
                                        "[{'at': '10s', 'do': 'fault', 'kind': 'clock_step', 'seconds': -30},"
                                        " {'at': '40s', 'do': 'fault', 'kind': 'clock_sync'}]",
                                        "60s", d, sizeof d),
                   0);
  /* the checker prints OK or what differs; records of this run are those with boot_id of the
   * run's boot record (hems init's own records come before it) */
  int rc = sh("%s timeline --dir %s --format jsonl | /usr/bin/python3 -c \"\n"
              "import json, sys\n"
              "from datetime import datetime, timezone\n"
              "recs = [json.loads(l) for l in sys.stdin]\n"
              "boot = [r for r in recs if r['type'] == 'boot'][-1]\n"
              "run = [r for r in recs if r['seq'] >= boot['seq']]\n"
              "S = 1000000000\n"
              "def wall_ms(r):\n"
              "    t = datetime.strptime(r['time'], '%%Y-%%m-%%dT%%H:%%M:%%S.%%fZ').replace(tzinfo=timezone.utc)\n"
              "    return round(t.timestamp() * 1000)\n"
              "bad = []\n"
              "steps = [(r['body']['value'], r['mono_ns']) for r in run if r['type'] == 'fault' and r['body']['code'] == 'time_step']\n"
              "if steps != [(-30000, 10 * S), (30000, 40 * S)]: bad.append('time_step faults %%s' %% steps)\n"
              "base = wall_ms(boot) - boot['mono_ns'] // 1000000\n"
              "for r in run:\n"
              "    m = r['mono_ns']\n"
              "    shift = -30000 if 10 * S <= m < 40 * S else 0\n"
              "    if abs(wall_ms(r) - m // 1000000 - base - shift) > 1: bad.append('seq %%d: wall %%s at mono %%d' %% (r['seq'], r['time'], m))\n"
              "    want = 'stepped' if 10 * S <= m < 42 * S else 'synced'\n"
              "    if r['time_quality'] != want: bad.append('seq %%d at mono %%d: %%s, want %%s' %% (r['seq'], m, r['time_quality'], want))\n"
              "n = sum(1 for r in run if r['time_quality'] == 'stepped')\n"
              "if n < 100: bad.append('only %%d stepped records' %% n)\n"
              "print('\\\\n'.join(bad[:10]) if bad else 'OK %%d records, %%d stepped' %% (len(run), n))\n"
              "sys.exit(1 if bad else 0)\"",
              bin, d);
  assert_int_equal(rc, 0);
  assert_int_equal(sh("%s replay --check --dir %s | grep -q ' 0 divergence'", bin, d), 0);
}

/* The sync offset the time source reports, checked every 10 s of panel time against
 * time.max_offset_ms (default 500): +0.8 s from 5 s, +0.1 s from 25 s, -0.9 s from 45 s gives a
 * `time_offset` fault at the checks at 10 s (800 ms) and 50 s (-900 ms) — once each time it goes
 * over — and none with a limit of 1000 ms. */
static void offset_over_limit(void **state)
{
  (void)state;
  static const char *tl = "[{'at': '5s', 'do': 'fault', 'kind': 'clock_offset', 'seconds': 0.8},"
                          " {'at': '25s', 'do': 'fault', 'kind': 'clock_offset', 'seconds': 0.1},"
                          " {'at': '45s', 'do': 'fault', 'kind': 'clock_offset', 'seconds': -0.9}]";
  char d[300], e[300];
  assert_int_equal(cli_run_default_with("offset", tl, "60s", d, sizeof d), 0);
  const char *check = "%s timeline --dir %s --type fault --format jsonl | /usr/bin/python3 -c \"\n"
                      "import json, sys\n"
                      "f = [json.loads(l) for l in sys.stdin]\n"
                      "got = [(r['mono_ns'], r['body']['value']) for r in f if r['body']['code'] == 'time_offset']\n"
                      "print(got)\n"
                      "sys.exit(0 if got == %s else 1)\"";
  assert_int_equal(sh(check, bin, d, "[(10000000000, 800), (50000000000, -900)]"), 0);
  /* the same panel with the limit at 1000 ms: nothing over it */
  snprintf(e, sizeof e, "%s/offset-1s", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null && echo '{\"time\": {\"max_offset_ms\": 1000}}' > %s/config.json", bin, e, e), 0);
  assert_int_equal(sh("%s run --dir %s --sim %s.json --speed max --for 60s >/dev/null 2>&1", bin, e, d), 0);
  assert_int_equal(sh(check, bin, e, "[]"), 0);
  assert_int_equal(sh("%s timeline --dir %s --type fault --format jsonl | grep -c config_invalid | grep -qx 0", bin, e), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(step_and_sync),
    cmocka_unit_test(offset_over_limit),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
