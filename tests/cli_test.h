/* Shared by the tests that drive the `hems` binary ($HEMS_BIN, set by CTest) in a scratch
 * directory: the shell helper and the scratch dir's setup and teardown. */
#ifndef HEMS_TESTS_CLI_TEST_H
#define HEMS_TESTS_CLI_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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
