/*
 * test_viewer.c — the daemon's read API (`show`, `timeline`, `follow` on the control socket)
 * through the real binary, on a simulated panel whose journal already holds ~11 000 records:
 * an independent client (tests/cli/viewer_check.py: Python's json, base64, hashlib's BLAKE2b and
 * cbor2) checks that a follow from seq 1 streams each record's exact bytes chained by BLAKE2b and
 * equal to `hems show SEQ --format cbor`, continuing as new records become durable; that show and
 * timeline answer what `hems show` / `hems timeline` read directly; that a follower which does
 * not read stalls neither the appends nor the other clients nor grows the daemon; and that each
 * malformed request gets one error line; that an export through the socket streams the bytes
 * `hems export` writes for the same range, which `hems verify --fingerprint` accepts. As root, a
 * second uid (65534, role viewer) runs `hems show`, `hems timeline` and `hems export`, which go
 * through the daemon and give what the owner's direct reads give; otherwise that part is
 * skipped out loud.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "cli_test.h"
#include "skip.h"

#define CHECK "/usr/bin/python3 " HEMS_SOURCE_DIR "/tests/cli/viewer_check.py"

static char dir[300], sock[340], fp[80];
static pid_t daemon_pid;

/* One data dir for all tests: 1200 s of the default scenario at --speed max, then a daemon on
 * it in real time (so records keep becoming durable while the tests read). */
static int setup(void **state)
{
  (void)state;
  if (cli_test_setup("viewer") || chmod(tmp, 0750) != 0) return -1;
  snprintf(dir, sizeof dir, "%s/d", tmp);
  snprintf(sock, sizeof sock, "%s/control.sock", dir);
  if (sh_line(fp, sizeof fp, "%s init --dir %s | sed -n 's/^fingerprint //p'", bin, dir) != 0 || chmod(dir, 0750) != 0) return -1;
  if (sh("%s run --dir %s --for 1200s --speed max 2>/dev/null", bin, dir) != 0) return -1;
  daemon_pid = fork();
  if (daemon_pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) { dup2(devnull, 1); dup2(devnull, 2); }
    execl(bin, bin, "run", "--dir", dir, (char *)NULL);
    _exit(127);
  }
  return daemon_pid > 0 && cli_wait_for_socket(sock) == 0 ? 0 : -1;
}

/* The daemon stops cleanly (exit 0) after every reader went. */
static int stop(void **state)
{
  int st = -1;
  if (daemon_pid > 0) {
    kill(daemon_pid, SIGTERM);
    waitpid(daemon_pid, &st, 0);
  }
  teardown(state);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void follow_streams_exact_bytes(void **state)
{
  (void)state;
  assert_int_equal(sh(CHECK " follow %s %s %s", sock, bin, dir), 0);
}

static void show_and_timeline_match_direct_reads(void **state)
{
  (void)state;
  assert_int_equal(sh(CHECK " show %s %s %s", sock, bin, dir), 0);
  assert_int_equal(sh(CHECK " timeline %s %s %s", sock, bin, dir), 0);
}

static void slow_follower_stalls_nothing(void **state)
{
  (void)state;
#ifdef __SANITIZE_ADDRESS__
  /* ASan's quarantine keeps freed blocks resident: the daemon's ordinary allocation churn over the
   * test shows as several MB of RSS, so the bound is looser there (measured +8.8 MB) */
  assert_int_equal(sh(CHECK " slow %s %d %d", sock, (int)daemon_pid, 32 * 1024), 0);
#else
  assert_int_equal(sh(CHECK " slow %s %d", sock, (int)daemon_pid), 0);
#endif
}

static void export_streams_the_bundle_hems_export_writes(void **state)
{
  (void)state;
  assert_int_equal(sh(CHECK " export %s %s %s %s", sock, bin, dir, fp), 0);
}

static void malformed_requests_get_one_error_line(void **state)
{
  (void)state;
  assert_int_equal(sh(CHECK " bad %s", sock), 0);
}

/* cmd (a shell command) as uid 65534 with gid 0 (the socket's group), its stdout to out: its
 * exit status. */
static int as_nobody(const char *cmd, const char *out)
{
  int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644); /* ours: the child could not create it */
  if (fd < 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, NULL) != 0 || setgid(0) != 0 || setuid(65534) != 0) _exit(100);
    dup2(fd, 1);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  close(fd);
  int st;
  if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A user other than the data dir's owner reads through the daemon (never the LMDB files) and
 * sees what the owner's direct read prints, byte for byte. */
static void non_owner_reads_through_the_daemon(void **state)
{
  (void)state;
  if (geteuid() != 0) {
    hems_skip("test_viewer/non_owner_reads", "needs root to setuid(65534) for a second uid");
    return;
  }
  char until[32];
  assert_int_equal(sh_line(until, sizeof until, "%s status --dir %s --format json | /usr/bin/python3 -c "
                           "\"import json,sys; print(json.load(sys.stdin)['durable_seq'])\"", bin, dir), 0);
  const char *const reads[] = { "show 1 --format json", "show 3", "show 4000 --format cbor",
                                "timeline --limit 7 --format jsonl", "timeline --type window --branch 2 --format csv --until ",
                                "timeline --format jsonl --since 5000 --until " };
  for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
    char cmd[1024], a[400], b[400];
    bool tail = reads[i][strlen(reads[i]) - 1] == ' ';
    snprintf(cmd, sizeof cmd, "%s %s%s --dir %s 2>&1", bin, reads[i], tail ? until : "", dir);
    snprintf(a, sizeof a, "%s/owner.out", tmp);
    snprintf(b, sizeof b, "%s/nobody.out", tmp);
    int want = sh("%s >%s", cmd, a);
    assert_int_equal(as_nobody(cmd, b), want);
    if (sh("cmp -s %s %s", a, b) != 0) fail_msg("'%s' as uid 65534 printed other bytes than as the owner", reads[i]);
    printf("# %s: the same %s as the owner (exit %d)\n", reads[i], want ? "error" : "output", want);
  }
  /* no such record: exit 1 both ways (the range named moves on while records come) */
  char out[400], cmd[1024];
  snprintf(out, sizeof out, "%s/nobody.out", tmp);
  snprintf(cmd, sizeof cmd, "%s show 999999999 --dir %s", bin, dir);
  assert_int_equal(as_nobody(cmd, out), 1);
  /* export: the file the non-owner writes (0600, its own) holds the owner's bundle of the range,
   * taken between two owner exports that agree (the head the bundle carries moves) */
  char nb[400], a[500], b[500];
  snprintf(nb, sizeof nb, "%s/nb", tmp);
  assert_int_equal(mkdir(nb, 0700), 0);
  assert_int_equal(chown(nb, 65534, 0), 0);
  bool same = false;
  for (int attempt = 0; attempt < 20 && !same; attempt++) {
    snprintf(a, sizeof a, "%s/a.hems", tmp);
    snprintf(b, sizeof b, "%s/b.hems", tmp);
    sh("rm -f %s %s %s/n.hems", a, b, nb);
    assert_int_equal(sh("%s export --dir %s --since 3000 --until 6000 --out %s >/dev/null", bin, dir, a), 0);
    snprintf(cmd, sizeof cmd, "%s export --dir %s --since 3000 --until 6000 --out %s/n.hems", bin, dir, nb);
    assert_int_equal(as_nobody(cmd, out), 0);
    assert_int_equal(sh("%s export --dir %s --since 3000 --until 6000 --out %s >/dev/null", bin, dir, b), 0);
    same = sh("cmp -s %s %s", a, b) == 0;
  }
  assert_true(same);
  if (sh("cmp -s %s %s/n.hems", a, nb) != 0) fail_msg("the export as uid 65534 holds other bytes than the owner's");
  struct stat st;
  snprintf(b, sizeof b, "%s/n.hems", nb);
  assert_int_equal(stat(b, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(st.st_uid, 65534);
  assert_int_equal(sh("%s verify %s --fingerprint %s >/dev/null", bin, b, fp), 0);
  /* the file is never overwritten: exit 3, one line */
  assert_int_equal(as_nobody(cmd, out), 3);
  printf("# export: the owner's bundle, 0600, verified\n");
  /* the viewer role may follow: the stream from 1, chained, as the owner gets it */
  snprintf(cmd, sizeof cmd, CHECK " follow %s %s %s", sock, bin, dir);
  assert_int_equal(as_nobody(cmd, out), 0);
}

/* A follow from before the first record retention kept: one gap line naming the removed seqs,
 * then the first kept record on; with until inside the cut, the gap and the end (before this,
 * such a follow sent nothing and never ended). Its own data dir: 2 min simulated, cut at 30 s,
 * then 220 maximal notes: timeline pages of them hold at most 1 MiB of base64 each, and every
 * note once. */
static void follow_across_a_retention_cut(void **state)
{
  (void)state;
  char d[300], s[340];
  snprintf(d, sizeof d, "%s/cut", tmp);
  snprintf(s, sizeof s, "%s/control.sock", d);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
  assert_int_equal(sh("%s run --dir %s --for 2m --speed max 2>/dev/null", bin, d), 0);
  assert_int_equal(sh("%s retention --dir %s --keep 30s --run >/dev/null", bin, d), 0);
  /* 220 notes of 4096 bytes (the most a note holds) for the timeline's byte cap */
  assert_int_equal(sh("t=$(head -c 4096 /dev/zero | tr '\\0' n); for i in $(seq 220); do %s note --dir %s \"$t\" >/dev/null || exit 1; done",
                      bin, d), 0);
  pid_t pid = cli_spawn_daemon(d);
  assert_true(pid > 0);
  int ok = cli_wait_for_socket(s) == 0 && sh(CHECK " cut %s %s %s", s, bin, d) == 0 && sh(CHECK " big %s %s %s", s, bin, d) == 0;
  int st = -1;
  kill(pid, SIGTERM);
  waitpid(pid, &st, 0);
  if (!ok || !WIFEXITED(st) || WEXITSTATUS(st) != 0) { printf("# daemon status 0x%x\n", st); sh("cat %s.err >&2", d); }
  assert_true(ok);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(follow_streams_exact_bytes),
    cmocka_unit_test(show_and_timeline_match_direct_reads),
    cmocka_unit_test(slow_follower_stalls_nothing),
    cmocka_unit_test(export_streams_the_bundle_hems_export_writes),
    cmocka_unit_test(malformed_requests_get_one_error_line),
    cmocka_unit_test(non_owner_reads_through_the_daemon),
    cmocka_unit_test(follow_across_a_retention_cut),
  };
  return cmocka_run_group_tests(tests, setup, stop);
}
