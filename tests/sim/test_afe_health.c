/*
 * test_afe_health.c — a branch AFE that disappears and comes back, and CRC bursts, through the
 * real binary (HEMS_BIN): the shipped `default` scenario with its timeline replaced by
 * missing_chip on AFE index 2 (journal "afe 3", branches 4–6) at 10 s, chip_back at 130 s, and
 * three spi_crc_burst of 30 corrupted reads on AFE index 4 at 20, 25 and 50 s; `hems run
 * --speed max --for 200s`. Expected, from what was injected and the documented rules:
 *   - no `spi_crc` record for the missing chip (its failed reads are `afe_missing`);
 *   - `afe_missing` at 10 s (value 0), one summary at 70 s (60 s later) with value 12 (the
 *     probes every 5 s at 15 … 70 s), nothing more until `afe_recovered` at 130 s, value 120000
 *     (ms missing);
 *   - no window from AFE 3 in (10 s, 130 s], windows again after, the first of them with energy
 *     of one window only (import ≤ 1 s at the branch's power: no delta spans the gap);
 *   - `spi_crc` for AFE 5 at 20 s, then one summary at 80 s (at most one a minute), the values
 *     summing to 30: 90 corrupted transfers, each failing read taking the driver's 3 attempts;
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
  return cli_test_setup("afehealth");
}

static void missing_and_back(void **state)
{
  (void)state;
  char d[300];
  assert_int_equal(cli_run_default_with("afe-health",
                                        "[{'at': '10s', 'do': 'fault', 'kind': 'missing_chip', 'afe': 2},"
                                        " {'at': '20s', 'do': 'fault', 'kind': 'spi_crc_burst', 'afe': 4, 'count': 30},"
                                        " {'at': '25s', 'do': 'fault', 'kind': 'spi_crc_burst', 'afe': 4, 'count': 30},"
                                        " {'at': '50s', 'do': 'fault', 'kind': 'spi_crc_burst', 'afe': 4, 'count': 30},"
                                        " {'at': '130s', 'do': 'fault', 'kind': 'chip_back', 'afe': 2}]",
                                        "200s", d, sizeof d),
                   0);
  int rc = sh("%s timeline --dir %s --format jsonl | /usr/bin/python3 -c \"\n"
              "import json, sys\n"
              "recs = [json.loads(l) for l in sys.stdin]\n"
              "boot = [r for r in recs if r['type'] == 'boot'][-1]\n"
              "run = [r for r in recs if r['seq'] >= boot['seq']]\n"
              "S = 1000000000\n"
              "bad = []\n"
              "def faults(code, afe):\n"
              "    return [(r['mono_ns'], r['body']['value']) for r in run if r['type'] == 'fault' and r['body']['code'] == code\n"
              "            and r['body']['detail'].startswith('afe %%d:' %% afe)]\n"
              "if faults('spi_crc', 3): bad.append('spi_crc for the missing chip: %%s' %% faults('spi_crc', 3))\n"
              "if faults('afe_missing', 3) != [(10 * S, 0), (70 * S, 12)]: bad.append('afe_missing %%s' %% faults('afe_missing', 3))\n"
              "if faults('afe_recovered', 3) != [(130 * S, 120000)]: bad.append('afe_recovered %%s' %% faults('afe_recovered', 3))\n"
              "w3 = [r for r in run if r['type'] == 'window' and r['body']['afe'] == 3]\n"
              "gap = [r['mono_ns'] for r in w3 if 10 * S < r['mono_ns'] <= 130 * S]\n"
              "if gap: bad.append('AFE 3 windows while missing at %%s' %% gap[:3])\n"
              "before = [r for r in w3 if r['mono_ns'] <= 10 * S]\n"
              "after = [r for r in w3 if r['mono_ns'] > 130 * S]\n"
              "if not before or len(after) < 60: bad.append('AFE 3 windows: %%d before, %%d after' %% (len(before), len(after)))\n"
              "for p in after[0]['body']['powers'] if after else []:\n"
              "    # one window of energy: at most |P| for 1 s (1 uWh = 3.6 mJ: uWh = mW * 1 s / 3.6), with 10 %% margin\n"
              "    cap = abs(p['p_mw']) / 3.6 * 1.1 + 10\n"
              "    if p.get('import_uwh', 0) > cap or p.get('export_uwh', 0) > cap: bad.append('first window after the gap: %%s' %% p)\n"
              "crc = faults('spi_crc', 5)\n"
              "if [t for t, v in crc] != [20 * S, 80 * S] or sum(v for t, v in crc) != 30: bad.append('spi_crc afe 5: %%s' %% crc)\n"
              "print('\\\\n'.join(bad) if bad else 'OK')\n"
              "sys.exit(1 if bad else 0)\"",
              bin, d);
  assert_int_equal(rc, 0);
  assert_int_equal(sh("%s replay --check --dir %s | grep -q ' 0 divergence'", bin, d), 0);
}

/* A flapping chip: AFE index 2 drops out and returns every 6 s (missing_chip at 10, 22, 34 …
 * 178 s, chip_back 6 s after each) — 15 drop-outs. Without a limit that is two records per
 * cycle; with it, after the first drop-out and return, its records are at least 60 s apart and
 * the drop-outs in between are counted in them (14: all but the first, which is journaled). */
static void flapping_chip(void **state)
{
  (void)state;
  char d[300], tl[4096];
  size_t n = (size_t)snprintf(tl, sizeof tl, "[");
  for (int t = 10; t <= 178; t += 12)
    n += (size_t)snprintf(tl + n, sizeof tl - n, "{'at': '%ds', 'do': 'fault', 'kind': 'missing_chip', 'afe': 2},"
                          " {'at': '%ds', 'do': 'fault', 'kind': 'chip_back', 'afe': 2},", t, t + 6);
  snprintf(tl + n - 1, sizeof tl - (n - 1), "]");
  assert_int_equal(cli_run_default_with("afe-flap", tl, "240s", d, sizeof d), 0);
  int rc = sh("%s timeline --dir %s --type fault --format jsonl | /usr/bin/python3 -c \"\n"
              "import json, sys\n"
              "f = [json.loads(l) for l in sys.stdin]\n"
              "a = [(r['mono_ns'], r['body']['code'], r['body']['detail']) for r in f if r['body']['detail'].startswith('afe 3:')]\n"
              "flaps = sum(r['body']['value'] for r in f if r['body']['detail'].startswith('afe 3: answers; it dropped out'))\n"
              "S = 1000000000\n"
              "bad = []\n"
              "if len(a) < 3 or len(a) > 6: bad.append('%%d records' %% len(a))\n"
              "gaps = [y[0] - x[0] for x, y in zip(a[1:], a[2:])]\n"
              "if any(g < 60 * S for g in gaps): bad.append('records closer than 60 s: %%s' %% [g / S for g in gaps])\n"
              "if flaps != 14: bad.append('drop-outs counted in summaries: %%d, want 14 (15 scheduled, the first journaled)' %% flaps)\n"
              "if any(x[1] not in ('afe_missing', 'afe_recovered') for x in a): bad.append('other codes: %%s' %% a)\n"
              "print('\\\\n'.join(bad + [str((x[0] / S, x[1], x[2][:90])) for x in a]))\n"
              "sys.exit(1 if bad else 0)\"",
              bin, d);
  assert_int_equal(rc, 0);
  assert_int_equal(sh("%s replay --check --dir %s | grep -q ' 0 divergence'", bin, d), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(missing_and_back),
    cmocka_unit_test(flapping_chip),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
