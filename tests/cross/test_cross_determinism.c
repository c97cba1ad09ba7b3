/*
 * test_cross_determinism.c — the reducers give the same state on every architecture.
 *
 * Built and registered in cross builds only (hw/toolchains/ARCH.cmake), where HEMS_BIN is the
 * target's hems under qemu-user and HEMS_HOST_BIN the build machine's. A journal written by
 * the host (x86-64) is exported as a bundle and replayed by the target with --check, which
 * compares every seal's signed state_hash with its own fold, and the final state hashes are
 * compared; then the other way round. (The bundle is the portable form: LMDB's data file
 * depends on the word size, so a 32-bit ARM journal directory does not open on x86-64.) Whether the simulator's samples themselves are bit-identical across architectures
 * (it uses libm) is measured and printed, not asserted: the journal is the truth, not the
 * simulator.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli_test.h"

static const char *host; /* the build machine's hems */

static int setup(void **state)
{
  (void)state;
  host = getenv("HEMS_HOST_BIN");
  if (!host || !*host) {
    fprintf(stderr, "HEMS_HOST_BIN is not set: configure the cross build with -DHEMS_HOST_BIN=PATH (bash .ci/cross does)\n");
    return -1;
  }
  return cli_test_setup("determinism");
}

/* Reads one JSON string field of a file written by `replay --format json` (python3 parses). */
static void json_field(const char *file, const char *key, char *out, size_t cap)
{
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import json; print(json.load(open('%s'))%s)\"", file, key);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  out[0] = 0;
  assert_non_null(fgets(out, (int)cap, p));
  out[strcspn(out, "\n")] = 0;
  assert_int_equal(pclose(p), 0);
}

/* writer writes a journal (default scenario, 2 minutes of panel time at --speed max); reader
 * replays it with --check; both print their final state; the hashes must agree. */
static void cross_replay(const char *writer, const char *reader, const char *name)
{
  assert_int_equal(sh("%s init --dir %s/%s >/dev/null", writer, tmp, name), 0);
  assert_int_equal(sh("%s run --dir %s/%s --sim default --for 2m --speed max --seed 7 >/dev/null 2>&1", writer, tmp, name), 0);
  assert_int_equal(sh("%s replay --dir %s/%s --format json > %s/%s.w.json", writer, tmp, name, tmp, name), 0);
  assert_int_equal(sh("%s export --dir %s/%s --out %s/%s.hems >/dev/null", writer, tmp, name, tmp, name), 0);
  int rc = sh("%s replay %s/%s.hems --pubkey %s/%s/keys/signing.pub --check --format json > %s/%s.r.json",
              reader, tmp, name, tmp, name, tmp, name);
  if (rc) sh("cat %s/%s.r.json >&2", tmp, name);
  assert_int_equal(rc, 0);
  char w[128], r[128], seals[32], ok[16];
  char wf[400], rf[400];
  snprintf(wf, sizeof wf, "%s/%s.w.json", tmp, name);
  snprintf(rf, sizeof rf, "%s/%s.r.json", tmp, name);
  json_field(wf, "['state_hash']", w, sizeof w);
  json_field(rf, "['state_hash']", r, sizeof r);
  json_field(rf, "['check']['seals_checked']", seals, sizeof seals);
  json_field(rf, "['check']['ok']", ok, sizeof ok);
  fprintf(stderr, "%s: writer state %s, reader state %s, %s seals compared, check ok %s\n", name, w, r, seals, ok);
  assert_string_equal(w, r);
  assert_string_equal(ok, "True");
  assert_true(atoi(seals) > 10);
}

static void test_host_journal_replays_on_target(void **state)
{
  (void)state;
  cross_replay(host, bin, "host");
}

static void test_target_journal_replays_on_host(void **state)
{
  (void)state;
  cross_replay(bin, host, "target");
}

/* Same scenario and seed on both: are the window records' measurements the same? Reported
 * only. start_ns is left out: the virtual clock starts at the wall time of each run. */
static void test_simulator_samples_compared(void **state)
{
  (void)state;
  assert_int_equal(sh("%s timeline %s/host.hems --type window --format jsonl | /usr/bin/python3 -c "
                      "\"import sys,json; [print(json.dumps({k: v for k, v in json.loads(l)['body'].items() if k != 'start_ns'}, sort_keys=True)) for l in sys.stdin]\" > %s/host.win",
                      host, tmp, tmp), 0);
  assert_int_equal(sh("%s timeline %s/target.hems --type window --format jsonl | /usr/bin/python3 -c "
                      "\"import sys,json; [print(json.dumps({k: v for k, v in json.loads(l)['body'].items() if k != 'start_ns'}, sort_keys=True)) for l in sys.stdin]\" > %s/target.win",
                      host, tmp, tmp), 0);
  int same = sh("cmp -s %s/host.win %s/target.win", tmp, tmp) == 0;
  sh("n=$(wc -l < %s/host.win); d=$(diff %s/host.win %s/target.win | grep -c '^<'); "
     "echo \"simulator window records identical across architectures: %s ($d of $n host records differ)\" >&2",
     tmp, tmp, tmp, same ? "yes" : "no");
  assert_int_equal(sh("test -s %s/host.win", tmp), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_host_journal_replays_on_target),
    cmocka_unit_test(test_target_journal_replays_on_host),
    cmocka_unit_test(test_simulator_samples_compared),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
