/*
 * test_notify.c — `hems run` speaks systemd's notify protocol (sd_notify(3)) the way systemd
 * listens to it: the test binds a Unix datagram socket in its scratch dir, starts the daemon
 * with $NOTIFY_SOCKET naming it (and $WATCHDOG_USEC/$WATCHDOG_PID as WatchdogSec= sets them),
 * and reads what arrives, each datagram timestamped by the kernel on arrival (SO_TIMESTAMPNS).
 *
 * - READY=1 comes only once the journal is open: when it arrives the daemon is frozen
 *   (SIGSTOP) and the journal must already hold this run's boot record, durable (a reader sees
 *   only committed transactions): two boot records, init's and run's.
 * - STATUS= text rides with READY=1 and STOPPING=1.
 * - WATCHDOG=1 at the cadence $WATCHDOG_USEC asks for: never a gap longer than it (systemd
 *   would kill the service), and not more often than a quarter of it (the daemon pings every
 *   half); none before READY=1.
 * - A loop that cannot keep its cadence does not ping: at --speed 1000 the simulated panel
 *   outruns the loop (at most 64 ticks of 16 ms per 4 ms turn, 256 s of panel time per second,
 *   whatever the machine), so it falls ever further behind and the pings stop.
 * - STOPPING=1 on SIGTERM, then exit 0; no READY=1 from a run that cannot open its journal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "cli_test.h"

#define WATCHDOG_USEC 3000000ull
#define DEADLINE_S 60 /* start-up and shutdown on a loaded machine: a deadline, not a timing */

struct dgram { char text[512]; double t; }; /* t: kernel arrival time, seconds */

static int nsock = -1;
static pid_t running; /* the daemon under test, killed if a failed check left it running */
static char sock_path[300];

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts); /* the clock SO_TIMESTAMPNS stamps with */
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int setup(void **state)
{
  (void)state;
  if (cli_test_setup("notify")) return -1;
  snprintf(sock_path, sizeof sock_path, "%s/notify.sock", tmp);
  nsock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (nsock < 0) return -1;
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  if (strlen(sock_path) >= sizeof a.sun_path) return -1;
  memcpy(a.sun_path, sock_path, strlen(sock_path) + 1);
  int one = 1;
  if (bind(nsock, (struct sockaddr *)&a, sizeof a) || setsockopt(nsock, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one))
    return -1;
  return 0;
}

static void kill_running(void)
{
  if (running > 0) {
    kill(running, SIGKILL);
    waitpid(running, NULL, 0);
  }
  running = 0;
}

static int teardown_all(void **state)
{
  kill_running();
  if (nsock >= 0) close(nsock);
  return teardown(state);
}

/* The next datagram within timeout_s: 1, or 0 on timeout. */
static int next_dgram(struct dgram *g, double timeout_s)
{
  struct pollfd p = { nsock, POLLIN, 0 };
  int pr = poll(&p, 1, (int)(timeout_s * 1000));
  if (pr <= 0) return 0;
  char cbuf[CMSG_SPACE(sizeof(struct timespec))];
  struct iovec iov = { g->text, sizeof g->text - 1 };
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  ssize_t n = recvmsg(nsock, &m, 0);
  if (n < 0) return 0;
  g->text[n] = 0;
  g->t = now_s();
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      struct timespec ts;
      memcpy(&ts, CMSG_DATA(c), sizeof ts);
      g->t = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    }
  return 1;
}

/* Whether one line of the datagram is exactly `assignment` (e.g. "READY=1"). */
static int has_line(const char *text, const char *assignment)
{
  size_t n = strlen(assignment);
  for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    if (!strncmp(p, assignment, n) && (p[n] == '\n' || p[n] == 0)) return 1;
  return 0;
}

/* The STATUS= text of a datagram, or NULL. */
static const char *status_of(const char *text)
{
  for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    if (!strncmp(p, "STATUS=", 7)) return p + 7;
  return NULL;
}

static pid_t spawn(const char *dir, const char *speed)
{
  kill_running();
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    char err[400], pidbuf[32], usec[32];
    snprintf(err, sizeof err, "%s.err", dir);
    int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 1);
    if (fd >= 0) dup2(fd, 2);
    snprintf(pidbuf, sizeof pidbuf, "%d", (int)getpid());
    snprintf(usec, sizeof usec, "%llu", WATCHDOG_USEC);
    setenv("NOTIFY_SOCKET", sock_path, 1);
    setenv("WATCHDOG_USEC", usec, 1);
    setenv("WATCHDOG_PID", pidbuf, 1);
    execl(bin, bin, "run", "--dir", dir, "--sim", "default", "--speed", speed, (char *)NULL);
    _exit(127);
  }
  running = pid;
  return pid;
}

/* Reads until READY=1 (deadline): its datagram into ready; fails on a WATCHDOG=1 before it. */
static void wait_ready(struct dgram *ready, int *saw_status)
{
  double end = now_s() + DEADLINE_S;
  *saw_status = 0;
  while (now_s() < end) {
    if (!next_dgram(ready, end - now_s())) break;
    if (status_of(ready->text)) *saw_status = 1;
    assert_false(has_line(ready->text, "WATCHDOG=1"));
    if (has_line(ready->text, "READY=1")) return;
  }
  fail_msg("no READY=1 within %d s", DEADLINE_S);
}

/* SIGTERM → STOPPING=1 with STATUS= text → exit 0. */
static void stop_and_check(pid_t pid)
{
  assert_int_equal(kill(pid, SIGTERM), 0);
  struct dgram g;
  double end = now_s() + DEADLINE_S;
  int stopping = 0;
  while (!stopping && now_s() < end && next_dgram(&g, end - now_s()))
    if (has_line(g.text, "STOPPING=1")) {
      stopping = 1;
      assert_non_null(status_of(g.text));
    }
  assert_true(stopping);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  running = 0;
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

static int boot_records(const char *dir)
{
  char cmd[600], line[512];
  snprintf(cmd, sizeof cmd, "%s timeline --dir %s --type boot --format jsonl", bin, dir);
  FILE *f = popen(cmd, "r");
  if (!f) return -1;
  int n = 0;
  while (fgets(line, sizeof line, f)) if (strstr(line, "\"boot\"")) n++;
  return pclose(f) == 0 ? n : -1;
}

static void ready_watchdog_stopping(void **state)
{
  (void)state;
  char dir[300];
  snprintf(dir, sizeof dir, "%s/d", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, dir), 0);
  assert_int_equal(boot_records(dir), 1);
  pid_t pid = spawn(dir, "1");
  struct dgram ready;
  int saw_status;
  wait_ready(&ready, &saw_status);
  /* freeze it where READY=1 left it: the boot record must already be durable */
  assert_int_equal(kill(pid, SIGSTOP), 0);
  int boots = boot_records(dir);
  assert_int_equal(kill(pid, SIGCONT), 0);
  assert_int_equal(boots, 2);
  assert_non_null(status_of(ready.text));
  assert_non_null(strstr(status_of(ready.text), "running"));
  assert_true(saw_status);

  /* pings: from the resume on, never a gap longer than WATCHDOG_USEC, never closer than a quarter */
  double usec_s = (double)WATCHDOG_USEC / 1e6, prev = now_s(), end = prev + 4 * usec_s;
  int pings = 0;
  struct dgram g;
  while (now_s() < end && next_dgram(&g, end - now_s())) {
    assert_false(has_line(g.text, "READY=1")); /* once */
    if (!has_line(g.text, "WATCHDOG=1")) continue;
    double gap = g.t - prev;
    assert_true(gap <= usec_s);
    if (pings > 0) assert_true(gap >= usec_s / 4);
    prev = g.t;
    pings++;
  }
  assert_true(now_s() - prev <= usec_s); /* nor a gap at the end */
  assert_true(pings >= 4);
  stop_and_check(pid);
}

static void off_cadence_no_pings(void **state)
{
  (void)state;
  char dir[300];
  snprintf(dir, sizeof dir, "%s/fast", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, dir), 0);
  pid_t pid = spawn(dir, "1000");
  struct dgram ready, g;
  int saw_status;
  wait_ready(&ready, &saw_status);
  /* a ping may come in the first fraction of a second, before the lag passes half a second;
   * then none while the loop stays behind */
  double usec_s = (double)WATCHDOG_USEC / 1e6, quiet_from = ready.t + usec_s / 2 + 0.5, end = quiet_from + 2 * usec_s;
  int late_pings = 0;
  while (now_s() < end && next_dgram(&g, end - now_s()))
    if (has_line(g.text, "WATCHDOG=1") && g.t > quiet_from) late_pings++;
  assert_int_equal(late_pings, 0);
  stop_and_check(pid);
}

static void no_ready_without_journal(void **state)
{
  (void)state;
  char dir[300];
  snprintf(dir, sizeof dir, "%s/none", tmp); /* never initialised */
  pid_t pid = spawn(dir, "1");
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  running = 0;
  assert_true(WIFEXITED(st));
  assert_int_not_equal(WEXITSTATUS(st), 0);
  struct dgram g;
  while (next_dgram(&g, 0.2)) assert_false(has_line(g.text, "READY=1"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(ready_watchdog_stopping),
    cmocka_unit_test(off_cadence_no_pings),
    cmocka_unit_test(no_ready_without_journal),
  };
  return cmocka_run_group_tests(tests, setup, teardown_all);
}
