/*
 * test_tpm.c — `--counter tpm:NVINDEX` end to end against a software TPM 2.0 (swtpm) that the
 * test starts on a free private port in its scratch dir and stops at the end. Counts are read
 * independently with tpm2-tools (tpm2_nvread, tpm2_nvreadpublic), never from hems itself; the
 * counter file's format-3 slot is parsed here from its documented layout (docs/journal.md).
 *
 * Shows: init defines the NV counter index; a journal made with it is refused without it (and
 * with another index); each daemon boot increments it and the new count is signed in a seal;
 * under --sim --speed max the hourly bump runs once per hour of panel time; and the rollback
 * attack — the whole data dir with its counter file restored from a copy taken earlier — is
 * refused, although the copy is byte for byte what was there (only the TPM's count moved on);
 * and a bump cut between writing the file and incrementing the TPM (the TPM's own state put
 * back, so it is one behind) is completed by the next writer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "cli_test.h"

#define NV "tpm:0x01500010"
#define NVHEX "0x01500010"

static pid_t swtpm_pid;
static int tpm_port;

/* Both port and port + 1 can be bound on 127.0.0.1 now. */
static int ports_free(int port)
{
  for (int i = 0; i < 2; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)(port + i)) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0) close(s);
    if (!ok) return 0;
  }
  return 1;
}

static int tpm_answers(void)
{
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)tpm_port) };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
  if (s >= 0) close(s);
  return ok;
}

/* Starts swtpm on tpm_port with its state in TMP/swtpm (kept across restarts). */
static int swtpm_start(void)
{
  char state_dir[300], ctrl[64], server[64], tpmstate[320], log[320];
  snprintf(state_dir, sizeof state_dir, "%s/swtpm", tmp);
  if (mkdir(state_dir, 0700) != 0 && errno != EEXIST) return -1;
  snprintf(server, sizeof server, "type=tcp,port=%d,bindaddr=127.0.0.1", tpm_port);
  snprintf(ctrl, sizeof ctrl, "type=tcp,port=%d,bindaddr=127.0.0.1", tpm_port + 1);
  snprintf(tpmstate, sizeof tpmstate, "dir=%s", state_dir);
  snprintf(log, sizeof log, "file=%s/swtpm.log", tmp);
  swtpm_pid = fork();
  if (swtpm_pid < 0) return -1;
  if (swtpm_pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* the TPM goes with the test, whatever ends it */
    execlp("swtpm", "swtpm", "socket", "--tpm2", "--tpmstate", tpmstate, "--server", server, "--ctrl", ctrl,
           "--flags", "not-need-init,startup-clear", "--log", log, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 100 * hems_test_timeout() / 60 && !tpm_answers(); i++) usleep(100000);
  return tpm_answers() ? 0 : -1;
}

static void swtpm_stop(void)
{
  if (swtpm_pid > 0) {
    kill(swtpm_pid, SIGTERM);
    waitpid(swtpm_pid, NULL, 0);
  }
  swtpm_pid = 0;
}

static int setup(void **state)
{
  (void)state;
  if (cli_test_setup("tpm")) return -1;
  if (sh("command -v swtpm >/dev/null && command -v tpm2_nvread >/dev/null")) {
    fprintf(stderr, "test_tpm: swtpm and tpm2-tools are needed (Debian swtpm swtpm-tools tpm2-tools; .ci/setup deps)\n");
    return -1;
  }
  srand((unsigned)getpid() ^ (unsigned)time(NULL));
  for (int tries = 0; tries < 50 && !tpm_port; tries++) {
    int p = 20000 + 2 * (rand() % 15000);
    if (ports_free(p)) tpm_port = p;
  }
  if (!tpm_port) return -1;
  if (swtpm_start()) {
    swtpm_stop();
    return -1;
  }
  char tcti[96];
  snprintf(tcti, sizeof tcti, "swtpm:host=127.0.0.1,port=%d", tpm_port);
  setenv("TPM2TOOLS_TCTI", tcti, 1);
  return 0;
}

static int stop(void **state)
{
  swtpm_stop();
  return teardown(state);
}

/* The NV counter's count as tpm2_nvread reads it (8 bytes, big-endian). */
static uint64_t tpm_count(void)
{
  char line[64];
  int rc = sh_line(line, sizeof line, "tpm2_nvread -C " NVHEX " -s 8 " NVHEX " | od -An -tx1 | tr -d ' \\n'");
  assert_int_equal(rc, 0);
  assert_int_equal(strlen(line), 16);
  return strtoull(line, NULL, 16);
}

/* The hw_count values of the seals in dir, in seq order, space separated ("" when none). */
static void seal_counts(const char *dir, char *out, size_t cap)
{
  int rc = sh_line(out, cap,
                   "%s timeline --dir %s --counter " NV " --type seal --format jsonl | /usr/bin/python3 -c \"import json,sys\n"
                   "print(' '.join(str(json.loads(l)['body']['hw_count']) for l in sys.stdin if 'hw_count' in json.loads(l)['body']))\"",
                   bin, dir);
  assert_int_equal(rc, 0);
}

/* The TPM count of the best slot of DIR/counter, parsed from the format-3 layout: two 136-byte
 * slots "HEMSCTR3" | seq u64 BE | hash 32 | key id 16 | count u64 BE | signature 64. */
static uint64_t file_count(const char *dir)
{
  char line[64];
  assert_int_equal(sh_line(line, sizeof line, "/usr/bin/python3 -c \"import struct\n"
                           "b = open('%s/counter', 'rb').read()\n"
                           "assert len(b) == 272, len(b)\n"
                           "s = [b[i:i + 136] for i in (0, 136)]\n"
                           "assert all(x[:8] == b'HEMSCTR3' for x in s)\n"
                           "print(max((struct.unpack('>Q', x[8:16])[0], struct.unpack('>Q', x[64:72])[0]) for x in s)[1])\"",
                           dir), 0);
  return strtoull(line, NULL, 10);
}

/* init defines the index (absent before: tpm2_nvreadpublic fails), as an 8-byte counter; the
 * count after init is in the counter file and in the first seal. */
static void test_init_defines_index(void **state)
{
  (void)state;
  assert_int_not_equal(sh("tpm2_nvreadpublic " NVHEX " >/dev/null 2>&1"), 0);
  assert_int_equal(sh("%s init --dir %s/d --counter " NV " >/dev/null", bin, tmp), 0);
  assert_int_equal(sh("tpm2_nvreadpublic " NVHEX " > %s/pub.txt", tmp), 0);
  assert_int_equal(sh("grep -q 'nt=0x1' %s/pub.txt && grep -q 'size: 8' %s/pub.txt && grep -q 'written' %s/pub.txt", tmp,
                      tmp, tmp), 0);
  uint64_t n = tpm_count();
  assert_true(n >= 1);
  char dir[300], counts[256], want[32];
  snprintf(dir, sizeof dir, "%s/d", tmp);
  assert_int_equal(file_count(dir), n);
  seal_counts(dir, counts, sizeof counts);
  snprintf(want, sizeof want, "%llu", (unsigned long long)n);
  assert_string_equal(counts, want);
}

/* Opening a TPM-initialised journal without --counter, or with another index, is refused with
 * one line naming the counter it was made with; --accept-rollback does not pass it. A file-made
 * journal opened with the TPM counter is refused the same way. A TPM that does not answer is an
 * environment error (exit 3). */
static void test_refused_without_counter(void **state)
{
  (void)state;
  assert_int_equal(sh("%s note --dir %s/d x 2> %s/e1", bin, tmp, tmp), 1);
  assert_int_equal(sh("grep -q 'initialised with --counter " NV "' %s/e1 && test $(wc -l < %s/e1) -eq 1", tmp, tmp), 0);
  assert_int_equal(sh("%s note --dir %s/d --accept-rollback x 2>/dev/null", bin, tmp), 1);
  assert_int_equal(sh("%s status --dir %s/d >/dev/null 2>&1", bin, tmp), 1);
  assert_int_equal(sh("%s note --dir %s/d --counter tpm:0x01500011 x 2> %s/e2", bin, tmp, tmp), 3);
  assert_int_equal(sh("grep -q 'no NV index 0x01500011' %s/e2", tmp), 0);
  assert_int_equal(sh("tpm2_nvdefine 0x01500011 -C o -s 8 -a 'nt=counter|ownerread|ownerwrite|authread|authwrite' >/dev/null"), 0);
  assert_int_equal(sh("%s note --dir %s/d --counter tpm:0x01500011 x 2> %s/e2", bin, tmp, tmp), 1);
  assert_int_equal(sh("grep -q 'initialised with --counter " NV "' %s/e2", tmp), 0);
  assert_int_equal(sh("%s init --dir %s/f >/dev/null && %s note --dir %s/f --counter " NV " x 2> %s/e3", bin, tmp, bin,
                      tmp, tmp), 1);
  assert_int_equal(sh("grep -q 'counter file' %s/e3", tmp), 0);
  assert_int_equal(sh("%s note --dir %s/d --counter " NV " --tcti swtpm:host=127.0.0.1,port=1 x 2> %s/e4", bin, tmp, tmp), 3);
  assert_int_equal(sh("grep -q 'hardware counter unavailable' %s/e4", tmp), 0);
  /* with it: appends, reads and verifies */
  assert_int_equal(sh("%s note --dir %s/d --counter " NV " ok >/dev/null", bin, tmp), 0);
  assert_int_equal(sh("%s verify --dir %s/d --counter " NV " >/dev/null", bin, tmp), 0);
}

/* Each daemon start increments the counter once (a 2 s run: no hourly bump); the new count is
 * signed in a seal and held by the counter file. */
static void test_boot_increments(void **state)
{
  (void)state;
  char dir[300], counts[256];
  snprintf(dir, sizeof dir, "%s/d", tmp);
  for (int i = 0; i < 2; i++) {
    uint64_t n0 = tpm_count();
    assert_int_equal(sh("%s run --dir %s --counter " NV " --sim default --speed max --for 2s >/dev/null 2>%s/run.err || "
                        "{ cat %s/run.err >&2; exit 1; }", bin, dir, tmp, tmp), 0);
    uint64_t n1 = tpm_count();
    assert_int_equal(n1, n0 + 1);
    assert_int_equal(file_count(dir), n1);
    seal_counts(dir, counts, sizeof counts);
    const char *last = strrchr(counts, ' ');
    assert_int_equal(strtoull(last ? last + 1 : counts, NULL, 10), n1);
  }
}

/* Under --sim --speed max a run of 61 minutes of panel time bumps at boot and once at the hour:
 * +2, and the two seals carrying them are at least an hour of panel time apart. */
static void test_hourly_bound(void **state)
{
  /* a new data dir on the index that exists (init keeps it); the dirs before are behind now:
   * one index serves one data dir */
  (void)state;
  /* a small panel (the default scenario's mains AFE and two branches, no DER, no timeline): an
   * hour of panel time costs a third of the default's, which matters in the ASan build */
  assert_int_equal(sh("/usr/bin/python3 -c \"import json\n"
                      "s = json.load(open('%s/hw/sim/scenarios/default.json'))\n"
                      "p = s['panel']\n"
                      "p['afes'] = [a for a in p['afes'] if a['index'] <= 1]\n"
                      "p['branches'] = [b for b in p['branches'] if b['afe'] <= 1][:2]\n"
                      "keep = {b['number'] for b in p['branches']}\n"
                      "p['taps'] = [t for t in p['taps'] if t.get('branch', 1) in keep]\n"
                      "p['der'] = {}\n"
                      "s['loads'] = [l for l in s['loads'] if l['branch'] in keep]\n"
                      "s['timeline'] = []\n"
                      "s['name'] = 'small'\n"
                      "json.dump(s, open('%s/small.json', 'w'))\"", HEMS_SOURCE_DIR, tmp), 0);
  assert_int_equal(sh("%s init --dir %s/h --counter " NV " >/dev/null", bin, tmp), 0);
  uint64_t n0 = tpm_count();
  assert_int_equal(sh("%s run --dir %s/h --counter " NV " --sim %s/small.json --speed max --for 61m >/dev/null 2>&1", bin, tmp,
                      tmp), 0);
  assert_int_equal(tpm_count(), n0 + 2);
  assert_int_equal(sh("%s timeline --dir %s/h --counter " NV " --type seal --format jsonl | /usr/bin/python3 -c \"import json,sys\n"
                      "s = [json.loads(l) for l in sys.stdin]\n"
                      "b = [(x['body']['hw_count'], x['mono_ns']) for x in s if x['body'].get('hw_count', 0) > %llu]\n"
                      "assert [c for c, _ in b] == [%llu, %llu], b\n"
                      "assert b[1][1] - b[0][1] >= 3600 * 10**9, b\n"
                      "assert b[1][1] - b[0][1] < 3660 * 10**9, b\"",
                      bin, tmp, (unsigned long long)n0, (unsigned long long)n0 + 1, (unsigned long long)n0 + 2), 0);
}

/* The rollback attack: the whole data dir, counter file included, copied away; the panel runs
 * on (a boot bump); the copy is put back. It is exactly what was there before, signed and
 * consistent — only the TPM's count moved — and it is refused. Restoring a copy taken since the
 * last bump is not (the remaining window, docs/threat-model.md). --accept-rollback proceeds and
 * journals the fact. */
static void test_rollback_attack(void **state)
{
  (void)state;
  assert_int_equal(sh("%s init --dir %s/r --counter " NV " >/dev/null && %s note --dir %s/r --counter " NV " a >/dev/null",
                      bin, tmp, bin, tmp), 0);
  assert_int_equal(sh("cp -a %s/r %s/backup", tmp, tmp), 0);
  /* within the window: a copy of the current interval restores (no count moved) */
  assert_int_equal(sh("%s note --dir %s/r --counter " NV " b >/dev/null", bin, tmp), 0);
  assert_int_equal(sh("rm -rf %s/r2 && cp -a %s/backup %s/r2 && %s status --dir %s/r2 --counter " NV " >/dev/null", tmp, tmp,
                      tmp, bin, tmp), 0);
  /* a boot: the count moves on */
  uint64_t old = tpm_count();
  assert_int_equal(sh("%s run --dir %s/r --counter " NV " --sim default --speed max --for 2s >/dev/null 2>&1", bin, tmp), 0);
  uint64_t now = tpm_count();
  assert_int_equal(now, old + 1);
  /* the attack: the whole data dir back from the copy */
  assert_int_equal(sh("rm -rf %s/r && cp -a %s/backup %s/r && diff -r %s/backup %s/r", tmp, tmp, tmp, tmp, tmp), 0);
  char dir[300];
  snprintf(dir, sizeof dir, "%s/r", tmp);
  assert_int_equal(file_count(dir), old);
  assert_int_equal(sh("%s note --dir %s/r --counter " NV " forged 2> %s/e5", bin, tmp, tmp), 1);
  char expect[200];
  snprintf(expect, sizeof expect, "holds TPM count %llu, " NV " is at %llu", (unsigned long long)old,
           (unsigned long long)now);
  assert_int_equal(sh("grep -q 'journal rollback: .*%s' %s/e5 && test $(wc -l < %s/e5) -eq 1", expect, tmp, tmp), 0);
  assert_int_equal(sh("%s run --dir %s/r --counter " NV " --sim default --speed max --for 2s >/dev/null 2>&1", bin, tmp), 1);
  assert_int_equal(sh("%s status --dir %s/r --counter " NV " >/dev/null 2>&1", bin, tmp), 1);
  assert_int_equal(sh("%s verify --dir %s/r --counter " NV " >/dev/null 2>&1", bin, tmp), 1);
  assert_int_equal(tpm_count(), now); /* refusing does not count */
  /* after investigating: accepted, journalled, and the file takes the TPM's count */
  assert_int_equal(sh("%s note --dir %s/r --counter " NV " --accept-rollback restored >/dev/null 2>&1", bin, tmp), 0);
  assert_int_equal(sh("%s timeline --dir %s/r --counter " NV " --type fault --format jsonl | grep -q rollback_accepted", bin,
                      tmp), 0);
  assert_int_equal(file_count(dir), now);
  assert_int_equal(sh("%s note --dir %s/r --counter " NV " after >/dev/null", bin, tmp), 0);
}

/* A bump cut between its two steps (the file written with count + 1, the TPM not incremented):
 * made real by putting back the TPM's own state from before a boot bump, so the TPM is one
 * behind the file. A reader accepts it; the next writer completes the increment. Two behind:
 * the file is ahead by more than a cut bump can leave — refused. */
static void test_cut_bump(void **state)
{
  (void)state;
  assert_int_equal(sh("%s init --dir %s/c --counter " NV " >/dev/null", bin, tmp), 0);
  uint64_t n0 = tpm_count();
  swtpm_stop();
  assert_int_equal(sh("rm -rf %s/swtpm.0 && cp -a %s/swtpm %s/swtpm.0", tmp, tmp, tmp), 0);
  assert_int_equal(swtpm_start(), 0);
  assert_int_equal(sh("%s run --dir %s/c --counter " NV " --sim default --speed max --for 2s >/dev/null 2>&1", bin, tmp), 0);
  assert_int_equal(tpm_count(), n0 + 1);
  swtpm_stop();
  assert_int_equal(sh("rm -rf %s/swtpm && cp -a %s/swtpm.0 %s/swtpm", tmp, tmp, tmp), 0);
  assert_int_equal(swtpm_start(), 0);
  assert_int_equal(tpm_count(), n0);
  char dir[300];
  snprintf(dir, sizeof dir, "%s/c", tmp);
  assert_int_equal(file_count(dir), n0 + 1);
  assert_int_equal(sh("%s status --dir %s/c --counter " NV " >/dev/null", bin, tmp), 0);
  assert_int_equal(tpm_count(), n0); /* a reader does not count */
  assert_int_equal(sh("%s note --dir %s/c --counter " NV " completed >/dev/null", bin, tmp), 0);
  assert_int_equal(tpm_count(), n0 + 1);
  /* two bumps, then the TPM's state from before both: the file is two ahead */
  swtpm_stop();
  assert_int_equal(sh("rm -rf %s/swtpm.0 && cp -a %s/swtpm %s/swtpm.0", tmp, tmp, tmp), 0);
  assert_int_equal(swtpm_start(), 0);
  for (int i = 0; i < 2; i++)
    assert_int_equal(sh("%s run --dir %s/c --counter " NV " --sim default --speed max --for 2s >/dev/null 2>&1", bin, tmp), 0);
  swtpm_stop();
  assert_int_equal(sh("rm -rf %s/swtpm && cp -a %s/swtpm.0 %s/swtpm", tmp, tmp, tmp), 0);
  assert_int_equal(swtpm_start(), 0);
  assert_int_equal(sh("%s note --dir %s/c --counter " NV " x 2> %s/e6", bin, tmp, tmp), 1);
  assert_int_equal(sh("grep -q 'holds TPM count %llu, " NV " is at %llu (ahead' %s/e6", (unsigned long long)n0 + 3,
                      (unsigned long long)n0 + 1, tmp), 0);
}

/* A key rotation bumps the TPM counter once (issue 16: at boot, at each cut, at each rotation,
 * hourly); the count is in the counter file, now signed by the new key, and the journal still
 * verifies from the first key with the TPM. */
static void test_rotation_bump(void **state)
{
  (void)state;
  char dir[300];
  snprintf(dir, sizeof dir, "%s/k", tmp);
  assert_int_equal(sh("%s init --dir %s --counter " NV " >/dev/null", bin, dir), 0);
  uint64_t n0 = tpm_count();
  assert_int_equal(sh("%s key rotate --dir %s --counter " NV " >/dev/null 2>%s/rot.err || { cat %s/rot.err >&2; exit 1; }",
                      bin, dir, tmp, tmp), 0);
  uint64_t n1 = tpm_count();
  assert_int_equal(n1, n0 + 1);
  assert_int_equal(file_count(dir), n1);
  assert_int_equal(sh("%s note --dir %s --counter " NV " after >/dev/null", bin, dir), 0);
  assert_int_equal(sh("%s verify --dir %s --counter " NV " >/dev/null", bin, dir), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_init_defines_index),
    cmocka_unit_test(test_refused_without_counter),
    cmocka_unit_test(test_boot_increments),
    cmocka_unit_test(test_hourly_bound),
    cmocka_unit_test(test_rollback_attack),
    cmocka_unit_test(test_cut_bump),
    cmocka_unit_test(test_rotation_bump),
  };
  return cmocka_run_group_tests(tests, setup, stop);
}
