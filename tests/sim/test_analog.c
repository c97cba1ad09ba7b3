/*
 * test_analog.c — leakage and temperature measured through analog channels (issue 17 item 8b)
 * through the real binary (HEMS_BIN), `hems run --speed max`.
 *
 * The default panel with tap leak-1 moved to branch 3 and read through hwmon (curr1_input,
 * integer mA: the ABI), alarm 10 mA, hysteresis 1 mA (the default: a tenth); tap temp-bus
 * (panel-wide) read through IIO in_temp0 with scale 62.5 m°C and offset -400 counts (written
 * here: a 1/16 °C sensor), alarm 60 °C, hysteresis 2 °C, rise 5 °C/min. Read once a second.
 * Timeline and what it must give, worked by hand:
 *   30 s leakage 12 mA          fault leakage_high, value 12000 µA, branch 3, within 30..31.1 s
 *   40 s leak-1's line asserts  trip_tap rising carrying value_milli 12000 (and its capture too)
 *   50 s leakage 8.5 mA         hwmon holds whole mA: 9 (8.5 rounds half up), not below 10 - 1:
 *                               nothing (the hysteresis holds)
 *   55 s leakage 8 mA           fault leakage_ok, value 8000, within 55..56.1 s
 *   58 s the line releases      trip_tap falling, value_milli 8000
 *   60 s temperature 70 °C, ramp 4 min from 25 °C: 0.1875 °C/s. The rise over a minute reaches
 *        5 °C at 60 + 5 / 0.1875 = 86.7 s: fault temperature_rise (value ≥ 5000 m°C/min, at
 *        most one reading and one quantum more: < 5300) within 86.6..87.9 s; the value reaches
 *        60 °C at 60 + 35 / 0.1875 = 246.7 s: fault over_temperature, 60000..60300 m°C, within
 *        246.6..248 s; the ramp ends at 300 s, and the rise over a minute, 45 - 0.1875 (t -
 *        120), falls below 5 - 2 = 3 °C at t = 344 s: fault temperature_rise_ok within 344..346 s
 *   400 s temperature 50 °C      (raw 1200: exactly 50000) fault temperature_ok, value 50000,
 *                               within 400..401.1 s
 * No other fault; replay --check clean; the fold's alarms: branch 3 leakage_high, the panel
 * over_temperature and temperature_rise (held until acknowledged: tests/replay/test_v11_analog.c).
 * unreadable: the hwmon file removed under a running daemon is one tap_read_failed fault.
 * restart: a run that ends with leakage_high held (12 mA from 30 s, stopped at 35 s), then a
 *   second run on the same journal whose sensor reads 0 mA: its first reading (within 1.1 s of
 *   the second boot) ends the held condition with leakage_ok, value 0 — the alarm can be
 *   acknowledged — and nothing else; replay --check clean.
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
  return cli_test_setup("analog");
}

static void prepare(const char *name, const char *timeline, char *d, size_t cap)
{
  snprintf(d, cap, "%s/%s", tmp, name);
  assert_int_equal(sh("mkdir -p %s/hwmon0 %s/iio && printf '62.5\\n' > %s/iio/in_temp0_scale && "
                      "printf -- '-400\\n' > %s/iio/in_temp0_offset", d, d, d, d), 0);
  assert_int_equal(sh("/usr/bin/python3 -c \"import json\n"
                      "s = json.load(open('%s/hw/sim/scenarios/default.json'))\n"
                      "s['name'] = '%s'\n"
                      "for t in s['panel']['taps']:\n"
                      "  if t['name'] == 'leak-1': t.update({'branch': 3, 'analog': {'hwmon': '%s/hwmon0/curr1_input', 'alarm_ma': 10}})\n"
                      "  if t['name'] == 'temp-bus': t['analog'] = {'iio': '%s/iio/in_temp0', 'alarm_c': 60, 'hysteresis_c': 2, 'rise_c_per_min': 5}\n"
                      "s['timeline'] = %s\n"
                      "json.dump(s, open('%s.json', 'w'))\"",
                      HEMS_SOURCE_DIR, name, d, d, timeline, d),
                   0);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
}

static void thresholds(void **state)
{
  (void)state;
  char d[300], v[64];
  prepare("thresholds",
          "[{'at': '30s', 'do': 'leakage', 'tap': 'leak-1', 'ma': 12},"
          " {'at': '40s', 'do': 'tap', 'tap': 'leak-1', 'active': True, 'bounce': False},"
          " {'at': '50s', 'do': 'leakage', 'tap': 'leak-1', 'ma': 8.5},"
          " {'at': '55s', 'do': 'leakage', 'tap': 'leak-1', 'ma': 8},"
          " {'at': '58s', 'do': 'tap', 'tap': 'leak-1', 'active': False, 'bounce': False},"
          " {'at': '60s', 'do': 'temperature', 'tap': 'temp-bus', 'c': 70, 'ramp': '4m'},"
          " {'at': '400s', 'do': 'temperature', 'tap': 'temp-bus', 'c': 50}]",
          d, sizeof d);
  assert_int_equal(sh("%s run --dir %s --sim %s.json --speed max --for 420s >/dev/null 2>%s.err", bin, d, d, d), 0);
  int rc = sh("%s timeline --dir %s --format jsonl | /usr/bin/python3 -c \"\n"
              "import json, sys\n"
              "recs = [json.loads(l) for l in sys.stdin]\n"
              "S = 1e9\n"
              "f = [(r['mono_ns'] / S, r['body']) for r in recs if r['type'] == 'fault' and r['body']['code'] in\n"
              "     ('leakage_high', 'leakage_ok', 'over_temperature', 'temperature_ok', 'temperature_rise', 'temperature_rise_ok', 'tap_read_failed')]\n"
              "assert [b['code'] for t, b in f] == ['leakage_high', 'leakage_ok', 'temperature_rise', 'over_temperature', 'temperature_rise_ok', 'temperature_ok'], f\n"
              "(t1, lh), (t2, lo), (t3, tr), (t4, ot), (t5, tro), (t6, tok) = f\n"
              "assert 30 <= t1 < 31.1 and lh['value'] == 12000 and lh['branch'] == 3 and 'tap leak-1' in lh['detail'], f[0]\n"
              "assert 55 <= t2 < 56.1 and lo['value'] == 8000 and lo['branch'] == 3, f[1]\n"
              "assert 86.6 <= t3 < 87.9 and 5000 <= tr['value'] < 5300 and tr['branch'] == 0, f[2]\n"
              "assert 246.6 <= t4 < 248 and 60000 <= ot['value'] < 60300 and ot['branch'] == 0, f[3]\n"
              "assert 344 <= t5 < 346 and tro['value'] < 3000, f[4]\n"
              "assert 400 <= t6 < 401.1 and tok['value'] == 50000, f[5]\n"
              "taps = [(r['mono_ns'] / S, r['body']) for r in recs if r['type'] == 'trip_tap' and r['body']['kind'] == 'leakage']\n"
              "edges = [(t, b) for t, b in taps if 'of_seq' not in b]\n"
              "assert [(b['edge'], b['branch'], b.get('value_milli')) for t, b in edges] == [('rising', 3, 12000), ('falling', 3, 8000)], edges\n"
              "assert 40 <= edges[0][0] < 40.1 and 58 <= edges[1][0] < 58.1, edges\n"
              "assert [b.get('value_milli') for t, b in taps if b.get('of_seq')] == [12000, 8000], taps  # each capture repeats its edge's\n"
              "other = [r for r in recs if r['type'] == 'trip_tap' and r['body']['kind'] not in ('leakage', 'temperature') and 'value_milli' in r['body']]\n"
              "assert not other, other[:1]  # a binary tap carries no value\n"
              "print('OK')\"",
              bin, d);
  assert_int_equal(rc, 0);
  assert_int_equal(sh("%s replay --check --dir %s | grep -q ' 0 divergence'", bin, d), 0);
  assert_int_equal(sh("%s replay --dir %s | grep -q '^alarms: leakage_high,over_temperature,temperature_rise$'", bin, d), 0);
  assert_int_equal(status_branch(d, 3, "alarms", v, sizeof v), 0);
  assert_string_equal(v, "leakage_high");
}

static void unreadable(void **state)
{
  (void)state;
  char d[300];
  prepare("unreadable", "[]", d, sizeof d);
  /* the daemon in real time; the file goes away 1.5 s into the run and is not back */
  assert_int_equal(sh("%s run --dir %s --sim %s.json --for 4s >/dev/null 2>%s.err & pid=$!; sleep 1.5; rm %s/hwmon0/curr1_input; "
                      "wait $pid", bin, d, d, d, d),
                   0);
  int rc = sh("%s timeline --dir %s --format jsonl | /usr/bin/python3 -c \"\n"
              "import json, sys\n"
              "recs = [json.loads(l) for l in sys.stdin]\n"
              "f = [r['body'] for r in recs if r['type'] == 'fault' and r['body']['code'] in ('tap_read_failed', 'leakage_high', 'leakage_ok')]\n"
              "assert [b['code'] for b in f] == ['tap_read_failed'], f\n"
              "assert 'tap leak-1' in f[0]['detail'] and 'hwmon0/curr1_input' in f[0]['detail'] and f[0]['branch'] == 3, f\n"
              "print('OK')\"",
              bin, d);
  assert_int_equal(rc, 0);
}

static void restart(void **state)
{
  (void)state;
  char d[300];
  prepare("restart", "[{'at': '30s', 'do': 'leakage', 'tap': 'leak-1', 'ma': 12}]", d, sizeof d);
  assert_int_equal(sh("%s run --dir %s --sim %s.json --speed max --for 35s >/dev/null 2>%s.err", bin, d, d, d), 0);
  assert_int_equal(sh("%s run --dir %s --sim %s.json --speed max --for 5s >/dev/null 2>>%s.err", bin, d, d, d), 0);
  int rc = sh("%s timeline --dir %s --format jsonl | /usr/bin/python3 -c \"\n"
              "import json, sys\n"
              "recs = [json.loads(l) for l in sys.stdin]\n"
              "boots = [r['seq'] for r in recs if r['type'] == 'boot']\n"
              "assert len(boots) >= 2, boots  # init's, then each run's\n"
              "f = [r for r in recs if r['type'] == 'fault' and r['body']['code'] in ('leakage_high', 'leakage_ok')]\n"
              "assert [(r['body']['code'], r['body']['value'], r['seq'] > boots[-1]) for r in f] == [('leakage_high', 12000, False), ('leakage_ok', 0, True)], f\n"
              "boot2 = [r for r in recs if r['seq'] == boots[-1]][0]\n"
              "assert 0 <= f[1]['mono_ns'] - boot2['mono_ns'] < 1.1e9, (f[1], boot2)\n"
              "print('OK')\"",
              bin, d);
  assert_int_equal(rc, 0);
  assert_int_equal(sh("%s replay --check --dir %s | grep -q ' 0 divergence'", bin, d), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(thresholds),
    cmocka_unit_test(unreadable),
    cmocka_unit_test(restart),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
