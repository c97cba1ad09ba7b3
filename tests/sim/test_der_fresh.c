/*
 * test_der_fresh.c — DER freshness that means "being read", and DER state checked against
 * metering (issue 17 item 6), through the real binary (HEMS_BIN), `hems run --speed max`:
 *
 * steady: the shipped `default` scenario for 200 s. Every source is read every 5 s, so each has
 *   a der record at most 5 s (plus one tick) after the one before, all fresh; no source is
 *   stale at the end (before, every steady source went STALE 10 s after its last change); the
 *   PV inverter, whose branch stays open (fail-safe open, never closed), never reports
 *   grid_tied, and no der_mismatch is journaled on this healthy panel.
 *
 * no_comm: the PV inverter stops answering at 30 s and answers again at 90 s. Its der records
 *   in [30 s, 90 s) are stale (fresh false, reason stale), the first by 35 s; the battery's and
 *   the transfer switch's stay fresh; a run stopped at 60 s folds to `stale_der` (status: pv
 *   STALE), the full run to 120 s does not.
 *
 * mismatch: the PV branch is closed at 5 s, the inverter produces 2 kW from 20 s, its status
 *   contact sticks at 30 s, the branch is opened at 40 s and closed again at 70 s. The inverter
 *   then "says grid_tied" while its branch is open at 0 W: one fault der_mismatch on branch 8
 *   10 s after the first window that shows it (51 s), with |P| < 5 W and both sides in its
 *   detail, then der_consistent when the branch carries the 2 kW again (71 s); status shows the
 *   der_mismatch alarm on branch 8. Every run: `replay --check` clean.
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
  return cli_test_setup("derfresh");
}

static void check_clean(const char *d)
{
  assert_int_equal(sh("%s replay --check --dir %s | grep -q ' 0 divergence'", bin, d), 0);
}

static void steady(void **state)
{
  (void)state;
  char d[300];
  assert_int_equal(cli_run_default_with("steady", "None", "200s", d, sizeof d), 0);
  int rc = sh("%s timeline --dir %s --format jsonl | /usr/bin/python3 -c \"\n"
              "import json, sys\n"
              "recs = [json.loads(l) for l in sys.stdin]\n"
              "S = 1000000000\n"
              "bad = []\n"
              "for src in ('pv', 'ess', 'ats'):\n"
              "    t = [r['mono_ns'] for r in recs if r['type'] == 'der' and r['source'] == 'der:' + src]\n"
              "    if len(t) < 40: bad.append('%%s: %%d der records' %% (src, len(t)))\n"
              "    gaps = [b - a for a, b in zip(t, t[1:])]\n"
              "    if gaps and max(gaps) > 5 * S + 20000000: bad.append('%%s: a gap of %%d ns' %% (src, max(gaps)))\n"
              "    if [r for r in recs if r['type'] == 'der' and r['source'] == 'der:' + src and not r['body']['fresh']]:\n"
              "        bad.append('%%s: a stale record' %% src)\n"
              "if [r for r in recs if r['type'] == 'der' and r['source'] == 'der:pv' and r['body']['state'] == 'grid_tied']:\n"
              "    bad.append('pv grid_tied with its branch open')\n"
              "if [r for r in recs if r['type'] == 'fault' and r['body']['code'].startswith('der_')]: bad.append('a der fault')\n"
              "print('\\\\n'.join(bad) if bad else 'OK')\n"
              "sys.exit(1 if bad else 0)\"",
              bin, d);
  assert_int_equal(rc, 0);
  assert_int_equal(sh("%s status --dir %s | grep -q '^der pv: fresh'", bin, d), 0);
  assert_int_equal(sh("%s status --dir %s | grep '^alarms:' | grep -q stale_der", bin, d), 1);
  check_clean(d);
}

#define NO_COMM "[{'at': '30s', 'do': 'der', 'source': 'pv', 'state': 'no_comm'}," \
                " {'at': '90s', 'do': 'der', 'source': 'pv', 'state': 'off'}]"

static void no_comm(void **state)
{
  (void)state;
  char d[300], d60[300];
  assert_int_equal(cli_run_default_with("nocomm", NO_COMM, "120s", d, sizeof d), 0);
  int rc = sh("%s timeline --dir %s --format jsonl | /usr/bin/python3 -c \"\n"
              "import json, sys\n"
              "recs = [json.loads(l) for l in sys.stdin if json.loads(l)['type'] == 'der']\n"
              "S = 1000000000\n"
              "bad = []\n"
              "pv = [(r['mono_ns'], r['body']['fresh'], r['body']['reason']) for r in recs if r['source'] == 'der:pv']\n"
              "gone = [p for p in pv if 30 * S <= p[0] < 90 * S]\n"
              "if not gone or gone[0][0] > 35 * S + 20000000: bad.append('first pv record after 30 s: %%s' %% gone[:1])\n"
              "if [p for p in gone if p[1] or p[2] != 'stale']: bad.append('pv answered while silent: %%s' %% gone)\n"
              "if [p for p in pv if (p[0] < 30 * S or p[0] >= 90 * S) and not p[1]]: bad.append('pv stale outside the silence')\n"
              "if [r for r in recs if r['source'] != 'der:pv' and not r['body']['fresh']]: bad.append('another source stale')\n"
              "print('\\\\n'.join(bad) if bad else 'OK')\n"
              "sys.exit(1 if bad else 0)\"",
              bin, d);
  assert_int_equal(rc, 0);
  assert_int_equal(sh("%s status --dir %s | grep '^alarms:' | grep -q stale_der", bin, d), 1);
  check_clean(d);
  assert_int_equal(cli_run_default_with("nocomm60", NO_COMM, "60s", d60, sizeof d60), 0);
  assert_int_equal(sh("%s status --dir %s | grep -q '^der pv: STALE'", bin, d60), 0);
  assert_int_equal(sh("%s status --dir %s | grep '^alarms:' | grep -q stale_der", bin, d60), 0);
  assert_int_equal(sh("%s status --dir %s | grep -q '^der ess: fresh'", bin, d60), 0);
  check_clean(d60);
}

static void mismatch(void **state)
{
  (void)state;
  char d[300], v[64];
  assert_int_equal(cli_run_default_with("mismatch",
                                        "[{'at': '5s', 'do': 'switch', 'branch': 8, 'desired': 'on', 'request_id': 'pv-on'},"
                                        " {'at': '20s', 'do': 'der', 'source': 'pv', 'state': 'producing', 'power_w': 2000},"
                                        " {'at': '30s', 'do': 'der', 'source': 'pv', 'state': 'stuck'},"
                                        " {'at': '40s', 'do': 'switch', 'branch': 8, 'desired': 'off', 'request_id': 'pv-off'},"
                                        " {'at': '70s', 'do': 'switch', 'branch': 8, 'desired': 'on', 'request_id': 'pv-on-2'}]",
                                        "100s", d, sizeof d),
                   0);
  int rc = sh("%s timeline --dir %s --format jsonl | /usr/bin/python3 -c \"\n"
              "import json, sys\n"
              "recs = [json.loads(l) for l in sys.stdin]\n"
              "S = 1000000000\n"
              "f = [(r['mono_ns'], r['body']) for r in recs if r['type'] == 'fault' and r['body']['code'].startswith('der_')]\n"
              "assert [b['code'] for t, b in f] == ['der_mismatch', 'der_consistent'], f\n"
              "(t1, m), (t2, c) = f\n"
              "assert m['branch'] == 8 and c['branch'] == 8, f\n"
              "assert 50 * S <= t1 <= 52 * S and 70 * S < t2 <= 72 * S, (t1, t2)\n"
              "assert abs(m['value']) < 5000, m  # mW: no power through the open branch\n"
              "assert 'grid_tied' in m['detail'] and 'branch 8 is off' in m['detail'], m\n"
              "assert c['value'] < -1500000, c  # the inverter's 2 kW flows out of the branch again\n"
              "pv = [r for r in recs if r['type'] == 'der' and r['source'] == 'der:pv' and t1 - 10 * S <= r['mono_ns'] <= t1]\n"
              "assert pv and all(r['body']['state'] == 'grid_tied' for r in pv), pv\n"
              "print('OK')\"",
              bin, d);
  assert_int_equal(rc, 0);
  assert_int_equal(status_branch(d, 8, "alarms", v, sizeof v), 0);
  assert_string_equal(v, "der_mismatch");
  check_clean(d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(steady),
    cmocka_unit_test(no_comm),
    cmocka_unit_test(mismatch),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
