/*
 * test_run.c — the `hems run` daemon end to end, through the real binary (HEMS_BIN):
 * determinism of --speed max runs on copies of one data dir, SIGTERM during a busy run,
 * kill -9 and restart, the control socket (notes, malformed and oversized requests, roles).
 * The role checks need root (a peer that drops to uid 65534); as a normal user they are
 * skipped with a HEMS-SKIP line, which .ci/run allows by name.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <lmdb.h>
#include "journal.h"

#include "cli_test.h"
#include "skip.h"

/* The role checks need a second, unprivileged peer: a child that drops to uid 65534, which
 * only root may do. Run as a normal user, they are skipped, out loud. */
static bool can_drop_to_nobody(const char *id)
{
  if (geteuid() == 0) return true;
  hems_skip(id, "needs root to setuid(65534) for an unprivileged socket peer");
  return false;
}

static int setup(void **state)
{
  (void)state;
  if (cli_test_setup("run")) return -1;
  /* group-traversable, so a process with the socket's group (the viewer test) can reach it */
  return chmod(tmp, 0750);
}

/* Head seq and hash of a data dir, read through the library. */
static void head_of(const char *dir, uint64_t *seq, uint8_t hash[32])
{
  struct journal_reader *r;
  assert_int_equal(journal_reader_open(&r, dir, NULL, false), 0);
  uint64_t first, last;
  assert_int_equal(journal_reader_bounds(r, &first, &last), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(r, last, &it), 0);
  const uint8_t *b;
  size_t len;
  assert_int_equal(journal_iter_get(it, last, &b, &len), 0);
  journal_record_hash(b, len, hash);
  *seq = last;
  journal_iter_end(it);
  journal_reader_close(r);
}

static int verify_dir(const char *dir, uint64_t *records)
{
  struct journal_reader *r;
  if (journal_reader_open(&r, dir, NULL, false)) return -1;
  uint8_t pk[32];
  char path[512];
  snprintf(path, sizeof path, "%s/keys/signing.pub", dir);
  assert_int_equal(journal_pubkey_load(path, pk), 0);
  struct journal_dir_source ds;
  assert_int_equal(journal_dir_source_init(&ds, r, 1), 0);
  struct journal_verify_result res;
  int rc = journal_verify(&ds.src, pk, NULL, &res, NULL, NULL);
  if (rc) fprintf(stderr, "verify: first bad seq %llu: %s\n", (unsigned long long)res.bad_seq, res.reason);
  if (records) *records = res.records;
  journal_dir_source_deinit(&ds);
  journal_reader_close(r);
  return rc;
}

static pid_t spawn_run(const char *dir, const char *const extra[])
{
  pid_t pid = fork();
  if (pid == 0) {
    const char *argv[32] = { bin, "run", "--dir", dir };
    int n = 4;
    for (int i = 0; extra && extra[i] && n < 30; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) { dup2(devnull, 1); dup2(devnull, 2); }
    execv(bin, (char *const *)argv);
    _exit(127);
  }
  return pid;
}

static void wait_for_socket(const char *dir)
{
  char path[512];
  snprintf(path, sizeof path, "%s/control.sock", dir);
  if (cli_wait_for_socket(path) != 0) fail_msg("daemon socket %s never accepted a connection", path);
}

/* One request line over the control socket; returns the response line (malloc'd) or NULL. */
static char *call(const char *dir, const char *req, size_t len)
{
  char path[512];
  snprintf(path, sizeof path, "%s/control.sock", dir);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof sa.sun_path) { close(fd); return NULL; }
  memcpy(sa.sun_path, path, strlen(path) + 1);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { close(fd); return NULL; }
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, req + off, len - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  char *buf = calloc(1, 1 << 16);
  size_t n = 0;
  struct timeval tv = { 10, 0 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (n < (1 << 16) - 1) {
    ssize_t r = read(fd, buf + n, (1 << 16) - 1 - n);
    if (r <= 0) break;
    n += (size_t)r;
    if (memchr(buf, '\n', n)) break;
  }
  close(fd);
  if (n == 0) { free(buf); return NULL; }
  return buf;
}

static char *call_str(const char *dir, const char *req)
{
  return call(dir, req, strlen(req));
}

static void deterministic_runs_on_copies(void **state)
{
  (void)state;
  char a[300], b[300], c[300];
  snprintf(a, sizeof a, "%s/det-a", tmp);
  snprintf(b, sizeof b, "%s/det-b", tmp);
  snprintf(c, sizeof c, "%s/det-c", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, a), 0);
  assert_int_equal(sh("cp -a %s %s && cp -a %s %s", a, b, a, c), 0);
  assert_int_equal(sh("%s run --dir %s --sim default --for 1m --speed max --seed 4 2>/dev/null", bin, a), 0);
  assert_int_equal(sh("%s run --dir %s --sim default --for 1m --speed max --seed 4 2>/dev/null", bin, b), 0);
  assert_int_equal(sh("%s run --dir %s --sim default --for 1m --speed max --seed 5 2>/dev/null", bin, c), 0);
  uint64_t sa, sb, sc;
  uint8_t ha[32], hb[32], hc[32];
  head_of(a, &sa, ha);
  head_of(b, &sb, hb);
  head_of(c, &sc, hc);
  assert_true(sa > 100);
  assert_int_equal(sa, sb);
  assert_memory_equal(ha, hb, 32);
  assert_memory_not_equal(ha, hc, 32); /* another seed, another panel history */
  assert_int_equal(verify_dir(a, NULL), 0);
}

static void sigterm_during_busy_run(void **state)
{
  (void)state;
  char d[300];
  snprintf(d, sizeof d, "%s/term", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
  const char *extra[] = { "--sim", "full-panel", "--speed", "max", "--for", "1h", NULL };
  pid_t pid = spawn_run(d, extra);
  wait_for_socket(d);
  /* busy: wait until the daemon has appended a good number of records (sanitizer builds are
   * slow, so poll instead of sleeping a fixed time) */
  long long head = 0, first = -1;
  for (int i = 0; i < 600 && (first < 0 || head <= first + 200); i++) {
    char *r = call_str(d, "{\"op\":\"status\"}\n");
    const char *h = r ? strstr(r, "\"head_seq\":") : NULL;
    if (h) head = atoll(h + 11);
    if (h && first < 0) first = head;
    free(r);
    if (first < 0 || head <= first + 200) usleep(100000);
  }
  assert_true(first >= 0 && head > first + 200); /* windows keep coming after the boot records */
  assert_int_equal(kill(pid, SIGTERM), 0);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  uint64_t recs = 0;
  assert_int_equal(verify_dir(d, &recs), 0); /* contiguous, chained, every group sealed */
  uint64_t seq;
  uint8_t h[32];
  head_of(d, &seq, h);
  assert_int_equal(recs, seq);
  assert_true(seq >= (uint64_t)head); /* nothing seen through the socket is lost */
  /* the last record is a seal (final flush) */
  assert_int_equal(sh("%s show --dir %s --format json %llu | grep -q '\"type\": \"seal\"'", bin, d, (unsigned long long)seq), 0);
}

static void kill9_then_restart_is_unclean(void **state)
{
  (void)state;
  char d[300];
  snprintf(d, sizeof d, "%s/k9", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
  pid_t pid = spawn_run(d, NULL); /* real time, default scenario */
  wait_for_socket(d);
  usleep(1500000);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  uint64_t before;
  uint8_t h[32];
  head_of(d, &before, h);
  assert_int_equal(verify_dir(d, NULL), 0); /* what was durable is intact */
  assert_int_equal(sh("%s run --dir %s --for 5s --speed max 2>/dev/null", bin, d), 0);
  /* The new boot record is the next seq and says the previous shutdown was unclean. */
  assert_int_equal(sh("%s show --dir %s --format json %llu | grep -q '\"previous_shutdown\": \"unclean\"'", bin, d,
                      (unsigned long long)before + 1), 0);
  assert_int_equal(verify_dir(d, NULL), 0);
  /* a clean stop, then another start: clean */
  uint64_t mid;
  head_of(d, &mid, h);
  assert_int_equal(sh("%s run --dir %s --for 2s --speed max 2>/dev/null", bin, d), 0);
  assert_int_equal(sh("%s show --dir %s --format json %llu | grep -q '\"previous_shutdown\": \"clean\"'", bin, d,
                      (unsigned long long)mid + 1), 0);
}

static void control_socket(void **state)
{
  (void)state;
  char d[300];
  snprintf(d, sizeof d, "%s/sock", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
  pid_t pid = spawn_run(d, NULL);
  wait_for_socket(d);
  char path[512];
  struct stat st;
  snprintf(path, sizeof path, "%s/control.sock", d);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0660);
  /* a second writer is refused with the holder's pid */
  assert_int_equal(sh("%s run --dir %s --for 1s 2>%s/second.err", bin, d, tmp), 3);
  assert_int_equal(sh("grep -q 'in use by pid %d' %s/second.err", (int)pid, tmp), 0);
  /* notes go through the socket while the daemon runs */
  assert_int_equal(sh("%s note --dir %s 'through the daemon' >/dev/null", bin, d), 0);
  /* malformed and oversized requests get an error; the daemon keeps answering */
  char *r = call_str(d, "{not json\n");
  assert_non_null(r);
  assert_non_null(strstr(r, "\"ok\":false"));
  free(r);
  r = call_str(d, "{\"op\":\"frobnicate\"}\n");
  assert_non_null(r);
  assert_non_null(strstr(r, "unknown op"));
  free(r);
  size_t big = 70000;
  char *huge = malloc(big + 1);
  memset(huge, 'x', big);
  huge[big] = '\n';
  r = call(d, huge, big + 1);
  free(huge);
  assert_non_null(r);
  assert_non_null(strstr(r, "too large"));
  free(r);
  r = call_str(d, "{\"op\":\"status\"}\n");
  assert_non_null(r);
  assert_non_null(strstr(r, "\"head_seq\""));
  assert_non_null(strstr(r, "\"state_hash\""));
  {
    char meta_dev[64], want[100];
    assert_int_equal(sh_line(meta_dev, sizeof meta_dev,
                             "mdb_dump -p -s meta %s/journal | /usr/bin/python3 -c \"import sys; l=[x.strip() for x in sys.stdin]; "
                             "print(l[l.index('device_id')+1])\"", d), 0);
    assert_int_equal(strlen(meta_dev), 32);
    snprintf(want, sizeof want, "\"device_id\":\"%s\"", meta_dev);
    assert_non_null(strstr(r, want));
  }
  free(r);
  /* a viewer (uid nobody, allowed to connect through the socket's group) may not append */
  int cst;
  if (can_drop_to_nobody("test_run/control_socket/viewer")) {
    pid_t child = fork();
    if (child == 0) {
      if (setgid(0) != 0 || setuid(65534) != 0) _exit(2);
      char *resp = call_str(d, "{\"op\":\"note\",\"text\":\"from a viewer\"}\n");
      _exit(resp && strstr(resp, "refused") ? 0 : 1);
    }
    waitpid(child, &cst, 0);
    assert_true(WIFEXITED(cst));
    assert_int_equal(WEXITSTATUS(cst), 0);
  }
  kill(pid, SIGTERM);
  waitpid(pid, &cst, 0);
  assert_int_equal(WEXITSTATUS(cst), 0);
  assert_int_equal(sh("%s timeline --dir %s --type note --format jsonl | grep -q 'through the daemon'", bin, d), 0);
  assert_int_not_equal(sh("%s timeline --dir %s --type note --format jsonl | grep -q 'from a viewer'", bin, d), 0);
  assert_int_equal(stat(path, &st), -1); /* socket removed on a clean stop */
}

/* init → run → status, timeline, verify, export, replay --check agree; the bundle verifies with
 * only the public key and replays to the same state hash. */
static void end_to_end_agreement(void **state)
{
  (void)state;
  char d[300], b[400];
  snprintf(d, sizeof d, "%s/e2e", tmp);
  snprintf(b, sizeof b, "%s/e2e.hems", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
  assert_int_equal(sh("%s run --dir %s --sim sag-and-inrush --for 5m --speed max 2>/dev/null", bin, d), 0);
  char st_seq[64], st_head[128], st_state[128], tl_last[64], rp_state[128], rp_head[128], bl_state[128];
  const char *py = "/usr/bin/python3 -c \"import json,sys; print(json.load(sys.stdin)%s)\"";
  char cmd[600];
  snprintf(cmd, sizeof cmd, py, "['head_seq']");
  assert_int_equal(sh_line(st_seq, sizeof st_seq, "%s status --dir %s --format json | %s", bin, d, cmd), 0);
  snprintf(cmd, sizeof cmd, py, "['head_hash']");
  assert_int_equal(sh_line(st_head, sizeof st_head, "%s status --dir %s --format json | %s", bin, d, cmd), 0);
  snprintf(cmd, sizeof cmd, py, "['state_hash']");
  assert_int_equal(sh_line(st_state, sizeof st_state, "%s status --dir %s --format json | %s", bin, d, cmd), 0);
  assert_int_equal(sh_line(tl_last, sizeof tl_last, "%s timeline --dir %s --format jsonl | tail -n 1 | /usr/bin/python3 -c \"import json,sys; print(json.loads(sys.stdin.read())['seq'])\"", bin, d), 0);
  assert_string_equal(st_seq, tl_last);
  /* status carries the data dir's device id: the meta entry as lmdb-utils' mdb_dump reads it */
  char st_dev[64], meta_dev[64];
  snprintf(cmd, sizeof cmd, py, "['device_id']");
  assert_int_equal(sh_line(st_dev, sizeof st_dev, "%s status --dir %s --format json | %s", bin, d, cmd), 0);
  assert_int_equal(sh_line(meta_dev, sizeof meta_dev,
                           "mdb_dump -p -s meta %s/journal | /usr/bin/python3 -c \"import sys; l=[x.strip() for x in sys.stdin]; "
                           "print(l[l.index('device_id')+1])\"", d), 0);
  assert_int_equal(strlen(meta_dev), 32);
  assert_string_equal(st_dev, meta_dev);
  snprintf(cmd, sizeof cmd, py, "['state_hash']");
  assert_int_equal(sh_line(rp_state, sizeof rp_state, "%s replay --dir %s --format json | %s", bin, d, cmd), 0);
  snprintf(cmd, sizeof cmd, py, "['head_hash']");
  assert_int_equal(sh_line(rp_head, sizeof rp_head, "%s replay --dir %s --format json | %s", bin, d, cmd), 0);
  assert_string_equal(st_state, rp_state);
  assert_string_equal(st_head, rp_head);
  assert_int_equal(sh("%s verify --dir %s >/dev/null", bin, d), 0);
  /* show --format cbor gives each record's exact bytes: record N+1's prev (key 0) is
   * BLAKE2b-256("hems.record.v1\0" || bytes of N) as Python's hashlib computes it, over the
   * first 40 records, and the seq (key 1) is the one asked for */
  assert_int_equal(sh("/usr/bin/python3 -c \"\n"
                      "import cbor2, hashlib, subprocess, sys\n"
                      "prev = bytes(32)\n"
                      "for n in range(1, 41):\n"
                      "    b = subprocess.run(['%s', 'show', '--dir', '%s', str(n), '--format', 'cbor'], check=True, capture_output=True).stdout\n"
                      "    r = cbor2.loads(b)\n"
                      "    assert r[1] == n and r[0] == prev, n\n"
                      "    prev = hashlib.blake2b(b'hems.record.v1\\x00' + b, digest_size=32).digest()\n"
                      "\"", bin, d), 0);
  assert_int_not_equal(sh("%s show --dir %s 1 --format yaml 2>/dev/null", bin, d), 0);
  assert_int_equal(sh("%s replay --dir %s --check >/dev/null", bin, d), 0);
  assert_int_equal(sh("%s export --dir %s --out %s >/dev/null", bin, d, b), 0);
  assert_int_equal(sh("cp %s/keys/signing.pub %s/only.pub", d, tmp), 0);
  assert_int_equal(sh("%s verify %s --pubkey %s/only.pub >/dev/null 2>&1", bin, b, tmp), 0);
  snprintf(cmd, sizeof cmd, py, "['state_hash']");
  assert_int_equal(sh_line(bl_state, sizeof bl_state, "%s replay %s --format json | %s", bin, b, cmd), 0);
  assert_string_equal(bl_state, st_state);
  assert_int_equal(sh("%s replay %s --check >/dev/null", bin, b), 0);
}

/* Register-path windows carry the half-cycle rms extremes (xVRMSONE/xIRMSONE polled every
 * tick): the sag of sag-and-inrush (level, time, phases from the scenario file) is in
 * hrms_min_m of each sagged phase's voltage window, hrms_max_m stays nominal, and before any
 * stimulus hrms_min ≈ hrms_max ≈ rms (tests/cli/hrms_check.py). */
static void register_windows_carry_half_cycle_rms(void **state)
{
  (void)state;
  char d[300], out[64];
  snprintf(d, sizeof d, "%s/hrms", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
  assert_int_equal(sh("%s run --dir %s --sim sag-and-inrush --for 30s --speed max 2>/dev/null", bin, d), 0);
  assert_int_equal(sh_line(out, sizeof out, "%s timeline --dir %s --type window --format jsonl | /usr/bin/python3 "
                           HEMS_SOURCE_DIR "/tests/cli/hrms_check.py " HEMS_SOURCE_DIR "/hw/sim/scenarios/sag-and-inrush.json",
                           bin, d), 0);
  assert_int_equal(strncmp(out, "ok ", 3), 0);
}

/* After kill -9 the restarted daemon requests its outputs in the state rebuilt from the
 * journal: a branch switched off before the crash is off from the first window on. */
static void outputs_come_up_in_the_rebuilt_state(void **state)
{
  (void)state;
  char d[300];
  snprintf(d, sizeof d, "%s/rebuilt", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
  pid_t pid = spawn_run(d, NULL);
  wait_for_socket(d);
  assert_int_equal(sh("%s switch --dir %s 2 off --request-id rb-1 >/dev/null", bin, d), 0);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  uint64_t before;
  uint8_t h[32];
  head_of(d, &before, h);
  assert_int_equal(sh("%s run --dir %s --for 3s --speed max 2>/dev/null", bin, d), 0);
  /* every window after the restart shows branch 2 without power */
  char out[64];
  assert_int_equal(sh_line(out, sizeof out,
    "%s timeline --dir %s --type window --since %llu --branch 2 --format jsonl | /usr/bin/python3 -c \""
    "import json,sys\n"
    "ps=[p['p_mw'] for l in sys.stdin for p in json.loads(l)['body']['powers'] if p['branch']==2]\n"
    "print(len(ps), max(abs(x) for x in ps) if ps else -1)\"", bin, d, (unsigned long long)before + 1), 0);
  unsigned n = 0;
  long long maxp = -1;
  assert_int_equal(sscanf(out, "%u %lld", &n, &maxp), 2);
  assert_true(n >= 2);
  assert_true(maxp < 5000); /* < 5 W: the heater (1500 W) stays off */
  /* and the fold agrees: branch 2 commanded and sensed off; branch 1, never switched, on */
  char v[32];
  assert_int_equal(status_branch(d, 2, "commanded", v, sizeof v), 0);
  assert_string_equal(v, "off");
  assert_int_equal(status_branch(d, 2, "sensed", v, sizeof v), 0);
  assert_string_equal(v, "off");
  assert_int_equal(status_branch(d, 1, "commanded", v, sizeof v), 0);
  assert_string_equal(v, "on");
}

/* Roles on the socket: a viewer's switch is refused (and the refusal journaled); a uid the
 * config's roles section makes an operator may switch. */
static void viewer_refused_operator_allowed(void **state)
{
  (void)state;
  if (!can_drop_to_nobody("test_run/viewer_refused_operator_allowed")) return;
  char d[300];
  snprintf(d, sizeof d, "%s/roles", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
  pid_t pid = spawn_run(d, NULL);
  wait_for_socket(d);
  pid_t child = fork();
  if (child == 0) {
    if (setgid(0) != 0 || setuid(65534) != 0) _exit(2);
    char *resp = call_str(d, "{\"op\":\"switch\",\"branch\":3,\"desired\":\"off\",\"request_id\":\"v-1\"}\n");
    _exit(resp && strstr(resp, "\"refusal\"") && strstr(resp, "\"role\"") ? 0 : 1);
  }
  int cst;
  waitpid(child, &cst, 0);
  assert_true(WIFEXITED(cst));
  assert_int_equal(WEXITSTATUS(cst), 0);
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  assert_int_equal(sh("%s timeline --dir %s --type refusal --format jsonl | grep -q '\"reason\":\"role\"'", bin, d), 0);
  assert_int_not_equal(sh("%s timeline --dir %s --type command --format jsonl | grep -q '\"v-1\"'", bin, d), 0);
  /* the config's roles section makes uid 65534 an operator */
  assert_int_equal(sh("echo '{\"roles\":{\"operator\":[65534]}}' > %s/config.json", d), 0);
  pid = spawn_run(d, NULL);
  wait_for_socket(d);
  child = fork();
  if (child == 0) {
    if (setgid(0) != 0 || setuid(65534) != 0) _exit(2);
    char *resp = call_str(d, "{\"op\":\"switch\",\"branch\":3,\"desired\":\"off\",\"request_id\":\"o-1\"}\n");
    _exit(resp && strstr(resp, "\"confirmed\"") ? 0 : 1);
  }
  waitpid(child, &cst, 0);
  assert_true(WIFEXITED(cst));
  assert_int_equal(WEXITSTATUS(cst), 0);
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  assert_int_equal(sh("%s timeline --dir %s --type command --format jsonl | grep -q '\"o-1\"'", bin, d), 0);
}

/* The pid holding a lock on byte 0 of DIR/journal/lock.mdb that a write lock would conflict
 * with (F_GETLK), or 0 when nobody holds one. */
static pid_t lmdb_lock_holder(const char *dir, short *type)
{
  char path[512];
  snprintf(path, sizeof path, "%s/journal/lock.mdb", dir);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  assert_true(fd >= 0);
  struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
  assert_int_equal(fcntl(fd, F_GETLK, &fl), 0);
  close(fd);
  *type = fl.l_type;
  return fl.l_type == F_UNLCK ? 0 : fl.l_pid;
}

/* LMDB tells "first user of the lock region" from "joining a live one" by a POSIX record lock
 * on lock.mdb, which every open env holds (shared) for as long as it is open; the first user
 * re-initialises the region (reader table, the last committed txn id). POSIX record locks
 * belong to the process, so a second env on the same journal opened and closed inside the
 * daemon drops the writer's lock, and every reader started after that (hems show, timeline,
 * verify, status) resets the region under the live writer: a reader can then take a snapshot
 * older than the counter it read (a false "journal rollback: head seq N < counter seq M"), and
 * the writer can begin a txn on an older meta page. So: while the daemon runs, and after
 * readers came and went, it still holds its lock. */
static void daemon_keeps_lmdb_lock(void **state)
{
  (void)state;
  char d[300];
  snprintf(d, sizeof d, "%s/lmdblock", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
  const char *extra[] = { "--sim", "default", "--speed", "1", NULL };
  pid_t pid = spawn_run(d, extra);
  wait_for_socket(d);
  short type;
  assert_int_equal(lmdb_lock_holder(d, &type), pid);
  assert_int_equal(type, F_RDLCK);
  for (int i = 0; i < 3; i++) assert_int_equal(sh("%s show --dir %s 1 >/dev/null", bin, d), 0);
  assert_int_equal(lmdb_lock_holder(d, &type), pid);
  assert_int_equal(type, F_RDLCK);
  assert_int_equal(kill(pid, SIGTERM), 0);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  assert_int_equal(lmdb_lock_holder(d, &type), 0);
}

/* A journal of another format version (here the earlier format 1, without index blocks) is
 * refused as such — exit 3 naming the version problem — never taken for corrupt or rewritten. */
static void other_format_version_refused(void **state)
{
  (void)state;
  char d[300], env_path[320];
  snprintf(d, sizeof d, "%s/fmt1", tmp);
  snprintf(env_path, sizeof env_path, "%s/journal", d);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi meta;
  assert_int_equal(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 16);
  assert_int_equal(mdb_env_open(env, env_path, 0, 0600), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  uint8_t one[4] = { 0, 0, 0, 1 };
  MDB_val k = { 6, "format" }, v = { 4, one };
  assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
  assert_int_equal(sh("%s verify --dir %s >/dev/null 2>%s/fmt.err", bin, d, tmp), 3);
  assert_int_equal(sh("grep -q 'unsupported format' %s/fmt.err", tmp), 0);
  assert_int_equal(sh("%s note --dir %s x >/dev/null 2>&1", bin, d), 3);
}

/* Retention archives a prefix and leaves a checkpoint of the state at the cut: the remaining
 * journal verifies, `replay --check` still compares every seal, and the archive verifies. */
static void retention_keeps_replay_checkable(void **state)
{
  (void)state;
  char d[300];
  snprintf(d, sizeof d, "%s/ret", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
  assert_int_equal(sh("%s run --dir %s --sim default --for 2m --speed max 2>/dev/null", bin, d), 0);
  assert_int_equal(sh("%s retention --dir %s --keep 30s --run >/dev/null", bin, d), 0);
  assert_int_equal(sh("ls %s/archive/*.hems >/dev/null", d), 0);
  assert_int_equal(sh("%s verify --dir %s >/dev/null", bin, d), 0);
  assert_int_equal(sh("%s verify %s/archive/*.hems --pubkey %s/keys/signing.pub >/dev/null 2>&1", bin, d, d), 0);
  assert_int_equal(sh("%s replay --dir %s --check >/dev/null 2>&1", bin, d), 0);
  /* the main log really starts after seq 1 now; seq 1 (the boot) is the long-horizon log's copy */
  assert_int_equal(sh("%s retention --dir %s | grep -q 'holds seq 1\\.\\.'", bin, d), 1);
  assert_int_equal(sh("%s show --dir %s 1 --format json | grep -q '\"type\": \"boot\"'", bin, d), 0);
  /* a daemon restarts from the checkpoint at the cut, proven by the first seal after it (no
   * checkpoint_rejected fault), and what it then seals still checks */
  assert_int_equal(sh("%s run --dir %s --sim default --for 10s --speed max 2>/dev/null", bin, d), 0);
  assert_int_not_equal(sh("%s timeline --dir %s --type fault --format jsonl | grep -q checkpoint_rejected", bin, d), 0);
  assert_int_equal(sh("%s replay --dir %s --check >/dev/null 2>&1", bin, d), 0);
  /* the daemon's own retention timer ("retention": {"keep": …} in DIR/config.json), which the
   * daemon keeps when it rewrites config.json for the panel in use */
  char d2[300];
  snprintf(d2, sizeof d2, "%s/ret2", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d2), 0);
  assert_int_equal(sh("echo '{\"retention\":{\"keep\":\"30s\"}}' > %s/config.json", d2), 0);
  assert_int_equal(sh("%s run --dir %s --sim default --for 3m --speed max 2>/dev/null", bin, d2), 0);
  assert_int_equal(sh("%s timeline --dir %s --type retention --format jsonl | grep -q cut_seq", bin, d2), 0);
  assert_int_equal(sh("grep -q retention %s/config.json", d2), 0);
  assert_int_equal(sh("%s verify --dir %s >/dev/null", bin, d2), 0);
  assert_int_equal(sh("%s replay --dir %s --check >/dev/null 2>&1", bin, d2), 0);
}

static void bad_arguments(void **state)
{
  (void)state;
  char d[300];
  snprintf(d, sizeof d, "%s/args", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
  assert_int_equal(sh("%s run --dir %s --speed fast 2>/dev/null", bin, d), 2);
  assert_int_equal(sh("%s run --dir %s --for soon 2>/dev/null", bin, d), 2);
  assert_int_equal(sh("%s run --dir %s --sim no-such-scenario 2>/dev/null", bin, d), 2);
  assert_int_equal(sh("%s run --dir %s/missing --for 1s 2>/dev/null", bin, d), 3);
  assert_int_equal(sh("echo '{\"name\":1}' > %s/bad.json && %s run --dir %s --sim %s/bad.json 2>%s/bad.err", tmp, bin, d, tmp, tmp), 2);
  assert_int_equal(sh("grep -q 'bad.json' %s/bad.err", tmp), 0);
  /* init refuses a panel config that is not one, naming the file and the field */
  assert_int_equal(sh("echo '{\"branches\":[]}' > %s/panel.json && %s init --dir %s/p1 --config %s/panel.json 2>%s/panel.err", tmp, bin, tmp, tmp, tmp), 2);
  assert_int_equal(sh("grep -q 'panel.json: mains' %s/panel.err", tmp), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(deterministic_runs_on_copies),
    cmocka_unit_test(sigterm_during_busy_run),
    cmocka_unit_test(kill9_then_restart_is_unclean),
    cmocka_unit_test(control_socket),
    cmocka_unit_test(end_to_end_agreement),
    cmocka_unit_test(register_windows_carry_half_cycle_rms),
    cmocka_unit_test(outputs_come_up_in_the_rebuilt_state),
    cmocka_unit_test(viewer_refused_operator_allowed),
    cmocka_unit_test(daemon_keeps_lmdb_lock),
    cmocka_unit_test(other_format_version_refused),
    cmocka_unit_test(retention_keeps_replay_checkable),
    cmocka_unit_test(bad_arguments),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
