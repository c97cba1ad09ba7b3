/* Shared by the tests that drive the `hems` binary ($HEMS_BIN, set by CTest) in a scratch
 * directory: the shell helper and the scratch dir's setup and teardown. */
#ifndef HEMS_TESTS_CLI_TEST_H
#define HEMS_TESTS_CLI_TEST_H

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmp[256];    /* the scratch dir */
static const char *bin;  /* the hems binary */

/* Runs a shell command built like printf; its exit status, or -1 if it did not exit. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The first line of a command's stdout (built like printf) into buf, without its newline; the
 * command's exit status, or -1 if it printed nothing or did not exit. */
static inline int sh_line(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int sh_line(char *buf, size_t cap, const char *fmt, ...)
{
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  FILE *f = popen(cmd, "r");
  if (!f) return -1;
  buf[0] = 0;
  char *ok = fgets(buf, (int)cap, f);
  int st = pclose(f);
  if (!ok) return -1;
  buf[strcspn(buf, "\n")] = 0;
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Branch N's FIELD ("commanded", "sensed", …) as `hems status --dir DIR --format json` gives
 * it (from the daemon, or folded from the journal), into out (empty if absent); the pipeline's
 * exit status. */
static inline int status_branch(const char *dir, unsigned n, const char *field, char *out, size_t cap)
{
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s status --dir %s --format json | /usr/bin/python3 -c \"import json,sys\n"
           "s = json.load(sys.stdin)\n"
           "print(*[b['%s'] for b in s.get('branches') or s['state']['branches'] if b['branch'] == %u])\"",
           bin, dir, field, n);
  out[0] = 0;
  FILE *f = popen(cmd, "r");
  if (!f) return -1;
  if (fgets(out, (int)cap, f)) out[strcspn(out, "\n")] = 0;
  int st = pclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#ifndef HEMS_TEST_TIMEOUT_SCALE
#define HEMS_TEST_TIMEOUT_SCALE 1
#endif

/* How long a test waits for something that comes "soon" (a daemon's socket, a record): 60 s,
 * generous for a loaded machine, times HEMS_TEST_TIMEOUT_SCALE (10 under an emulator), the
 * same scale as the CTest time limits (tests/CMakeLists.txt hems_test_timeout). */
static inline int hems_test_timeout(void)
{
  return 60 * HEMS_TEST_TIMEOUT_SCALE;
}

/* Waits until a connect to the unix socket at path succeeds: the daemon creates the file at
 * bind() and listens only after, so the file alone does not mean a connect works (it is
 * refused in between). 0 once connected, -1 after hems_test_timeout() seconds. */
static inline int cli_wait_for_socket(const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof sa.sun_path) return -1;
  memcpy(sa.sun_path, path, strlen(path) + 1);
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
      close(fd);
      if (rc == 0) return 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - t0.tv_sec >= hems_test_timeout()) return -1;
    usleep(25000);
  }
}

/* Starts `hems run --dir DIR` (the simulated panel, real time; `--socket PATH` when socket is
 * not NULL; `--sim SCENARIO` when scenario is not NULL, else the default scenario) with stdout
 * to /dev/null and stderr to DIR.err; its pid (the caller waits for its socket and stops it). */
static inline pid_t cli_spawn_daemon_with(const char *dir, const char *socket, const char *scenario)
{
  pid_t pid = fork();
  if (pid == 0) {
    char err[400];
    snprintf(err, sizeof err, "%s.err", dir);
    int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 1);
    if (fd >= 0) dup2(fd, 2);
    const char *argv[9] = { bin, "run", "--dir", dir };
    int n = 4;
    if (socket) { argv[n++] = "--socket"; argv[n++] = socket; }
    if (scenario) { argv[n++] = "--sim"; argv[n++] = scenario; }
    execv(bin, (char *const *)argv);
    _exit(127);
  }
  return pid;
}

static inline pid_t cli_spawn_daemon_at(const char *dir, const char *socket) { return cli_spawn_daemon_with(dir, socket, NULL); }
static inline pid_t cli_spawn_daemon(const char *dir) { return cli_spawn_daemon_at(dir, NULL); }

#ifdef HEMS_SOURCE_DIR
/* The shipped `default` scenario with its timeline replaced by timeline (a Python list literal
 * of stimuli; "None" keeps the shipped one), written to TMP/NAME.json, then `hems init` and `hems run --sim it --speed max
 * --for FOR` into TMP/NAME (its path into dir); 0 when both exit 0 (the run's stderr goes to
 * TMP/NAME.err). */
static inline int cli_run_default_with(const char *name, const char *timeline, const char *for_s, char *dir, size_t cap)
{
  snprintf(dir, cap, "%s/%s", tmp, name);
  if (sh("/usr/bin/python3 -c \"import json\n"
         "s = json.load(open('%s/hw/sim/scenarios/default.json'))\n"
         "s['name'] = '%s'\n"
         "s['timeline'] = %s or s['timeline']\n"
         "json.dump(s, open('%s.json', 'w'))\"",
         HEMS_SOURCE_DIR, name, timeline, dir))
    return -1;
  if (sh("%s init --dir %s >/dev/null", bin, dir)) return -1;
  return sh("%s run --dir %s --sim %s.json --speed max --for %s >/dev/null 2>%s.err", bin, dir, dir, for_s, dir) ? -1 : 0;
}
#endif

/* Finds the binary and makes the scratch dir /tmp/hems-test-NAME-XXXXXX. */
static int cli_test_setup(const char *name)
{
  bin = getenv("HEMS_BIN");
  if (!bin) return -1;
  snprintf(tmp, sizeof tmp, "/tmp/hems-test-%s-XXXXXX", name);
  return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  sh("rm -rf %s", tmp);
  return 0;
}

#endif
