/*
 * test_reload.c — SIGHUP re-reads DIR/config.json (docs/operations.md), through the real binary
 * (HEMS_BIN) and a live daemon: the file's local settings ("retention", "time") are not panel
 * fields, so a config.json holding them reloads without a fault and without a new `config`
 * record (the panel did not change); a file that is not valid JSON is refused with one
 * `config_invalid` fault naming the file, and the daemon keeps running and answering.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli_test.h"

static int setup(void **state)
{
  (void)state;
  return cli_test_setup("reload");
}

static pid_t pid;

static int stop(void **state)
{
  (void)state;
  if (pid > 0) {
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    pid = 0;
  }
  return 0;
}

/* The number of records of type in DIR's journal (read while the daemon runs: through it). */
static int count(const char *d, const char *type, const char *also)
{
  char line[64];
  if (sh_line(line, sizeof line, "%s timeline --dir %s --type %s --format jsonl | grep -c '%s'", bin, d, type, also) < 0) return -1;
  return atoi(line);
}

/* Waits up to the test timeout for count(d, type, also) to reach n. */
static bool wait_count(const char *d, const char *type, const char *also, int n)
{
  for (int i = 0; i < hems_test_timeout() * 10; i++) {
    if (count(d, type, also) >= n) return true;
    usleep(100000);
  }
  return false;
}

static void local_settings_reload(void **state)
{
  (void)state;
  char d[300], sock[400];
  snprintf(d, sizeof d, "%s/d", tmp);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, d), 0);
  pid = cli_spawn_daemon(d);
  snprintf(sock, sizeof sock, "%s/control.sock", d);
  assert_int_equal(cli_wait_for_socket(sock), 0);
  int configs = count(d, "config", "config");
  assert_true(configs >= 1);
  /* the daemon wrote the panel in use into config.json; add the local settings to it */
  assert_int_equal(sh("/usr/bin/python3 -c \"import json\n"
                      "p = '%s/config.json'\n"
                      "c = json.load(open(p))\n"
                      "c['retention'] = {'keep': '30d'}\n"
                      "c['time'] = {'max_offset_ms': 100}\n"
                      "json.dump(c, open(p, 'w'))\"",
                      d),
                   0);
  assert_int_equal(kill(pid, SIGHUP), 0);
  /* a marker after the reload: the daemon handles SIGHUP between ticks, before this note */
  usleep(300000);
  assert_int_equal(sh("%s note --dir %s after-reload-1 >/dev/null", bin, d), 0);
  assert_true(wait_count(d, "note", "after-reload-1", 1));
  assert_int_equal(count(d, "fault", "config_invalid"), 0);
  assert_int_equal(count(d, "config", "config"), configs);
  /* not JSON: refused with one line naming the file; the daemon keeps running */
  assert_int_equal(sh("echo '{\"mains\":' > %s/config.json", d), 0);
  assert_int_equal(kill(pid, SIGHUP), 0);
  assert_true(wait_count(d, "fault", "config_invalid", 1));
  char want[400];
  snprintf(want, sizeof want, "%s/config.json", d);
  assert_true(wait_count(d, "fault", want, 1));
  assert_int_equal(sh("%s status --dir %s --format json >/dev/null", bin, d), 0);
  assert_int_equal(kill(pid, 0), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(local_settings_reload, stop),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
