/*
 * test_backup.c — the battery on backup and a close deferred at the operations limit (issue 17
 * items 2 and 1; reducer v 11) through the real binary (HEMS_BIN), `hems run --speed max`, on the
 * shipped `grid-outage-transfer` panel (the transfer switch moves to the battery 3 s after the
 * grid is lost and back 5 s after it returns).
 *
 * backup: the battery rated 1200 W; the heater (branch 5, 1500 W, priority 2) and the sockets
 *   (branch 6, 300 W, priority 4) "last_proven", so they stay on through the outage beside the
 *   critical lights and fridge (300 + 150 W); the grid lost at 30 s and back at 120 s, and no
 *   scripted battery state at all.
 *   - the permit: exactly two commands (der ess), an emergency disconnect (reason interlock) when
 *     the grid goes (30 s, one window either way: nothing isolates the house yet) and a connect
 *     (reason backup) when the switch is on backup (33 s); each with an actuation on the permit
 *     line (result ok) and a confirmed sense_back naming it; the connect's proof is the battery
 *     discharging by itself (a der ess record "discharging" between the two);
 *   - the shed: 2250 W against 1200 W opens exactly branch 5 (reason backup), within 2 s of the
 *     connect (750 W remain, so nothing else); it is closed by a restore 10 s (the hold-off) after
 *     the grid returns; no other branch is commanded after start-up;
 *   - `replay --check` clean.
 * deferred: branch 6 fail-safe "open", switched on/off/on/off/on at 21..25 s (with its start-up
 *   command, six operations), opened by the fail-safe at 30 s (the seventh), the grid back at
 *   35 s: when the 10 s hold-off ends (45 s) the restore waits at the limit (6 per minute) — one
 *   refusal `deferred` (ops 7, ops_limit 6), never repeated — and the close runs at 81 s, when
 *   the operation at 21 s ages out; `replay --check` clean.
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
  return cli_test_setup("backup");
}

/* grid-outage-transfer with the python edits `edit` and the timeline `timeline`; init and run. */
static void run_with(const char *name, const char *edit, const char *timeline, const char *dur, char *d, size_t cap)
{
  snprintf(d, cap, "%s/%s", tmp, name);
  assert_int_equal(sh("/usr/bin/python3 -c \"import json\n"
                      "s = json.load(open('%s/hw/sim/scenarios/grid-outage-transfer.json'))\n"
                      "s['name'] = '%s'\n"
                      "br = {b['number']: b for b in s['panel']['branches']}\n"
                      "%s\n"
                      "s['timeline'] = %s\n"
                      "json.dump(s, open('%s.json', 'w'))\"",
                      HEMS_SOURCE_DIR, name, edit, timeline, d),
                   0);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
  assert_int_equal(sh("%s run --dir %s --sim %s.json --speed max --for %s >/dev/null 2>%s.err", bin, d, d, dur, d), 0);
  assert_int_equal(sh("%s replay --check --dir %s | grep -q ' 0 divergence'", bin, d), 0);
}

static void backup(void **state)
{
  (void)state;
  char d[300];
  run_with("backup",
           "s['panel']['der']['ess']['max_w'] = 1200\n"
           "br[5].update(fail_safe='last_proven', priority=2)\n"
           "br[6].update(fail_safe='last_proven', priority=4)",
           "[{'at': '30s', 'do': 'grid', 'kind': 'outage'}, {'at': '120s', 'do': 'grid', 'kind': 'restore'}]", "160s", d,
           sizeof d);
  int rc = sh("%s timeline --dir %s --format jsonl | /usr/bin/python3 -c \"\n"
              "import json, sys\n"
              "recs = [json.loads(l) for l in sys.stdin]\n"
              "S = 1000000000\n"
              "late = [r for r in recs if r['mono_ns'] > 1 * S]\n"
              "cmds = [r for r in late if r['type'] == 'command']\n"
              "permit = [r for r in cmds if r['body'].get('der') == 'ess']\n"
              "assert [(r['body']['der_action'], r['body']['reason'], r['body']['target']) for r in permit] == "
              "[('disconnect', 'interlock', 4), ('connect', 'backup', 4)], permit\n"
              "off, on = permit\n"
              "assert 29 * S <= off['mono_ns'] <= 31 * S, off['mono_ns']\n"
              "assert 32 * S <= on['mono_ns'] <= 34.5 * S, on['mono_ns']\n"
              "for c in permit:\n"
              "  act = [r for r in recs if r['type'] == 'actuation' and r['body']['command_seq'] == c['seq']]\n"
              "  assert len(act) == 1 and act[0]['body']['actuator'] == 'permit' and act[0]['body']['result'] == 'ok', act\n"
              "  assert act[0]['body']['action'] == ('enable_on' if c['body']['desired'] == 'on' else 'enable_off'), act\n"
              "  sb = [r for r in recs if r['type'] == 'sense_back' and r['body']['command_seq'] == c['seq']]\n"
              "  assert len(sb) == 1 and sb[0]['body']['actuator'] == 'permit' and sb[0]['body']['verdict'] == 'confirmed', sb\n"
              "  assert sb[0]['body']['sensed'] == c['body']['desired'], sb\n"
              "  if c is on:\n"
              "    runs = [r for r in recs if r['type'] == 'der' and r['body']['source'] == 'ess' and\n"
              "            r['body']['state'] == 'discharging' and on['seq'] < r['seq'] < sb[0]['seq']]\n"
              "    assert runs, 'the connect proven without the battery discharging'\n"
              "branch = [(r['body']['target'], r['body']['desired'], r['body']['reason'], r['mono_ns']) for r in cmds if 'der' not in r['body']]\n"
              "assert [b[:3] for b in branch] == [(5, 'off', 'backup'), (5, 'on', 'restore')], branch\n"
              "assert on['mono_ns'] < branch[0][3] <= on['mono_ns'] + 2 * S, (on['mono_ns'], branch[0][3])\n"
              "assert 129 * S <= branch[1][3] <= 131.5 * S, branch[1][3]\n"
              "print('OK')\"",
              bin, d);
  assert_int_equal(rc, 0);
}

static void deferred(void **state)
{
  (void)state;
  char d[300];
  run_with("deferred", "br[6].update(fail_safe='open')",
           "[{'at': '%ds' % (21 + k), 'do': 'switch', 'branch': 6, 'desired': 'on' if k % 2 == 0 else 'off', "
           "'request_id': 'op-%d' % k} for k in range(5)] + [{'at': '30s', 'do': 'grid', 'kind': 'outage'}, "
           "{'at': '35s', 'do': 'grid', 'kind': 'restore'}]",
           "100s", d, sizeof d);
  int rc = sh("%s timeline --dir %s --format jsonl | /usr/bin/python3 -c \"\n"
              "import json, sys\n"
              "recs = [json.loads(l) for l in sys.stdin]\n"
              "S = 1000000000\n"
              "six = [r for r in recs if r['type'] in ('command', 'refusal') and r['body']['target'] == 6 and r['mono_ns'] > 1 * S]\n"
              "got = [(r['type'], r['body']['desired'], r['body']['reason']) for r in six]\n"
              "assert got == [('command', d, 'operator') for d in ('on', 'off', 'on', 'off', 'on')] + "
              "[('command', 'off', 'fail_safe'), ('refusal', 'on', 'deferred'), ('command', 'on', 'restore')], got\n"
              "ref, close = six[6], six[7]\n"
              "assert ref['body']['ops'] == 7 and ref['body']['ops_limit'] == 6, ref\n"
              "assert 44 * S <= ref['mono_ns'] <= 46.5 * S, ref['mono_ns']  # 35 s + the 10 s hold-off\n"
              "assert 80.5 * S <= close['mono_ns'] <= 82.5 * S, close['mono_ns']  # the 21 s operation + 60 s\n"
              "print('OK')\"",
              bin, d);
  assert_int_equal(rc, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(backup),
    cmocka_unit_test(deferred),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
