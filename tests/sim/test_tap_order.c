/*
 * test_tap_order.c — trip taps journaled at once and in the kernel's order, their waveform
 * captures after (reducer v 6), through the real binary (HEMS_BIN): the shipped `default`
 * scenario (an AFCI tap on branch 15 asserted at 100 s and released at 130 s, with contact
 * bounce, while the mains AFE streams) run by `hems run --speed max --for 150s`. Expected, from
 * the scenario and the GPIO path (edges read every 16 ms tick):
 *   - every edge record (no of_seq) is journaled within one tick plus 1 ms of its kernel
 *     timestamp, and the edges are in kernel-timestamp order by seq;
 *   - each edge carries no capture; each capture record names an earlier edge by of_seq, repeats
 *     its kind, edge and kernel_ns, and carries a non-zero blob hash that `hems capture` exports;
 *   - both AFCI edges got their capture; `replay --check` clean.
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
  return cli_test_setup("taporder");
}

static void edges_first_captures_after(void **state)
{
  (void)state;
  char d[300];
  assert_int_equal(cli_run_default_with("taps", "None", "150s", d, sizeof d), 0);
  int rc = sh("%s timeline --dir %s --type trip_tap --format jsonl | /usr/bin/python3 -c \"\n"
              "import json, sys\n"
              "t = [json.loads(l) for l in sys.stdin]\n"
              "bad = []\n"
              "Z = '0' * 64\n"
              "edges = [r for r in t if not r['body'].get('of_seq')]\n"
              "caps = [r for r in t if r['body'].get('of_seq')]\n"
              "for r in edges:\n"
              "    b = r['body']\n"
              "    if r['mono_ns'] - b['kernel_ns'] > 17000000: bad.append('edge %%d journaled %%d ns after its edge' %% (r['seq'], r['mono_ns'] - b['kernel_ns']))\n"
              "    if b.get('capture', Z) != Z: bad.append('edge %%d carries a capture' %% r['seq'])\n"
              "ks = [r['body']['kernel_ns'] for r in edges]\n"
              "if ks != sorted(ks): bad.append('edges out of kernel order: %%s' %% ks)\n"
              "byseq = {r['seq']: r for r in edges}\n"
              "for c in caps:\n"
              "    e = byseq.get(c['body']['of_seq'])\n"
              "    if not e or e['seq'] >= c['seq']: bad.append('capture %%d names no earlier edge' %% c['seq']); continue\n"
              "    for k in ('kind', 'edge', 'kernel_ns', 'tap', 'branch'):\n"
              "        if c['body'].get(k) != e['body'].get(k): bad.append('capture %%d: %%s differs' %% (c['seq'], k))\n"
              "    if c['body'].get('capture', Z) == Z: bad.append('capture %%d has no blob' %% c['seq'])\n"
              "afci = [r['seq'] for r in edges if r['body']['kind'] == 'afci']\n"
              "got = sorted(c['body']['of_seq'] for c in caps if c['body']['kind'] == 'afci')\n"
              "if len(afci) != 2 or got != afci: bad.append('afci edges %%s, captured %%s' %% (afci, got))\n"
              "print('\\\\n'.join(bad) if bad else 'OK %%d edges, %%d captures' %% (len(edges), len(caps)))\n"
              "open('%s/cap.seq', 'w').write(str(caps[0]['seq']) if caps else '0')\n"
              "sys.exit(1 if bad else 0)\"",
              bin, d, tmp);
  assert_int_equal(rc, 0);
  assert_int_equal(sh("%s capture --dir %s $(cat %s/cap.seq) --comtrade %s/cap >/dev/null 2>&1 && test -s %s/cap.cfg", bin, d, tmp, tmp, tmp), 0);
  assert_int_equal(sh("%s replay --check --dir %s | grep -q ' 0 divergence'", bin, d), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(edges_first_captures_after),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
