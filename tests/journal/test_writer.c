/*
 * test_writer.c — the writer's hold on its data dir (trust issue items 14 and 15).
 *
 * One writer: with a writer running, `rm DIR/lock` does not let a second one in (exit 3, "in
 * use"); a DIR/lock that is a symbolic or hard link to another file is refused (exit 3) and
 * that file is left byte for byte as it was. Shutdown state: after a kill -9 of `hems run`, a
 * CLI writer (`hems note`) in between does not make the next daemon boot record say the
 * previous shutdown was clean; the boot after that one, following a clean stop, says clean.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <time.h>
#include "jt_util.h"

/* A writer in a child process (forked before this process opens any LMDB environment) that
 * holds the journal until *release is written to. Returns its pid. */
static pid_t hold_writer(const char *d, int *release)
{
  int ready[2], go[2];
  assert_int_equal(pipe(ready), 0);
  assert_int_equal(pipe(go), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    close(go[1]);
    struct journal_options opt;
    jt_opts(&opt, d, NULL);
    struct journal *j;
    char c = journal_open(&j, &opt, NULL, NULL) == 0 ? 'r' : 'x';
    if (write(ready[1], &c, 1) != 1 || c != 'r') _exit(2);
    if (read(go[0], &c, 1) < 0) _exit(3);
    _exit(journal_close(j) == 0 ? 0 : 4);
  }
  close(ready[1]);
  close(go[0]);
  char c = 0;
  assert_int_equal(read(ready[0], &c, 1), 1);
  close(ready[0]);
  assert_int_equal(c, 'r');
  *release = go[1];
  return pid;
}

static void release_writer(pid_t pid, int release)
{
  assert_int_equal(write(release, "g", 1), 1);
  close(release);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_lock_removed(void **state)
{
  (void)state;
  char *base, *d = jt_init_dir(&base, NULL, NULL);
  int release;
  pid_t pid = hold_writer(d, &release);
  struct jt_out o;
  char want[64];
  snprintf(want, sizeof want, "in use by pid %d", (int)pid);

  /* with DIR/lock in place the holder is named; a second daemon does not start */
  jt_hems(&o, "run", "--dir", d, "--for", "1s", "--speed", "max", NULL);
  if (o.status != 3 || !strstr(o.err, want)) fail_msg("second writer: exit %d: %s", o.status, o.err);
  jt_out_free(&o);

  assert_int_equal(unlink(jt_path("%s/lock", d)), 0);
  jt_hems(&o, "run", "--dir", d, "--for", "1s", "--speed", "max", NULL);
  if (o.status != 3 || !strstr(o.err, "data dir in use")) fail_msg("second writer after rm lock: exit %d: %s", o.status, o.err);
  assert_int_equal(jt_lines(o.err), 1);
  jt_out_free(&o);
  struct journal_options opt;
  jt_opts(&opt, d, NULL);
  struct journal *j;
  int holder = -1;
  assert_int_equal(journal_open(&j, &opt, NULL, &holder), JOURNAL_EINUSE);
  release_writer(pid, release);
  /* the holder gone, writers come back (DIR/lock re-created) */
  jt_hems(&o, "note", "--dir", d, "after", NULL);
  if (o.status != 0) fail_msg("note after the holder exited: %s", o.err);
  jt_out_free(&o);
  assert_int_equal(access(jt_path("%s/lock", d), F_OK), 0);
  jt_rm_rf(base);
  free(base);
  free(d);
}

static void test_lock_link(void **state)
{
  (void)state;
  char *base, *d = jt_init_dir(&base, NULL, NULL);
  char *target = strdup(jt_path("%s/precious", base));
  const char text[] = "root:x:0:0:precious contents\n";
  assert_int_equal(jt_write_file(target, text, sizeof text - 1), 0);
  assert_int_equal(unlink(jt_path("%s/lock", d)), 0);
  assert_int_equal(symlink(target, jt_path("%s/lock", d)), 0);
  char want[4300];
  snprintf(want, sizeof want, "hems: %s/lock: lock file is a link or not a plain file", d);
  struct jt_out o;
  jt_hems(&o, "note", "--dir", d, "through a link", NULL);
  if (o.status != 3 || strncmp(o.err, want, strlen(want)) != 0) fail_msg("symlinked lock: exit %d: %s", o.status, o.err);
  jt_out_free(&o);
  size_t n;
  uint8_t *now = jt_read_file(target, &n);
  assert_non_null(now);
  assert_int_equal(n, sizeof text - 1);
  assert_memory_equal(now, text, n);
  free(now);

  /* a hard link is refused too (O_NOFOLLOW cannot see it) */
  assert_int_equal(unlink(jt_path("%s/lock", d)), 0);
  assert_int_equal(link(target, jt_path("%s/lock", d)), 0);
  jt_hems(&o, "note", "--dir", d, "through a hard link", NULL);
  if (o.status != 3 || strncmp(o.err, want, strlen(want)) != 0) fail_msg("hard-linked lock: exit %d: %s", o.status, o.err);
  jt_out_free(&o);
  now = jt_read_file(target, &n);
  assert_int_equal(n, sizeof text - 1);
  assert_memory_equal(now, text, n);
  free(now);
  jt_hems(&o, "timeline", "--dir", d, "--type", "note", "--format", "jsonl", NULL);
  assert_int_equal(o.status, 0);
  assert_string_equal(o.out, ""); /* neither note was recorded */
  jt_out_free(&o);
  jt_rm_rf(base);
  free(base);
  free(d);
  free(target);
}

/* previous_shutdown of every boot record, in order, as "first clean unclean …". */
static void boots(const char *d, char *out, size_t cap)
{
  struct jt_out o;
  jt_hems(&o, "timeline", "--dir", d, "--type", "boot", "--format", "jsonl", NULL);
  assert_int_equal(o.status, 0);
  out[0] = 0;
  for (const char *p = o.out; (p = strstr(p, "\"previous_shutdown\":\"")); ) {
    p += strlen("\"previous_shutdown\":\"");
    size_t l = strcspn(p, "\"");
    size_t have = strlen(out);
    snprintf(out + have, cap - have, "%s%.*s", have ? " " : "", (int)l, p);
  }
  jt_out_free(&o);
}

static void test_unclean_sticky(void **state)
{
  (void)state;
  char *base, *d = jt_init_dir(&base, NULL, NULL);
  char b[256];
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open("/dev/null", O_RDWR);
    dup2(fd, 0); dup2(fd, 1); dup2(fd, 2);
    execl(jt_hems_bin(), jt_hems_bin(), "run", "--dir", d, "--for", "10m", (char *)NULL);
    _exit(127);
  }
  /* wait for the daemon's boot record to be durable */
  for (int i = 0; i < 200; i++) {
    boots(d, b, sizeof b);
    if (!strcmp(b, "first clean")) break;
    struct timespec ts = { 0, 50000000 };
    nanosleep(&ts, NULL);
  }
  assert_string_equal(b, "first clean");
  assert_int_equal(kill(pid, SIGKILL), 0);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);

  struct jt_out o;
  jt_hems(&o, "note", "--dir", d, "after the crash", NULL);
  if (o.status != 0) fail_msg("note after kill -9: exit %d: %s", o.status, o.err);
  jt_out_free(&o);
  jt_hems(&o, "run", "--dir", d, "--for", "1s", "--speed", "max", NULL);
  if (o.status != 0) fail_msg("run after the note: exit %d: %s", o.status, o.err);
  jt_out_free(&o);
  boots(d, b, sizeof b);
  assert_string_equal(b, "first clean unclean");
  /* recorded once: the next boot after a clean stop is clean again */
  jt_hems(&o, "run", "--dir", d, "--for", "1s", "--speed", "max", NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  boots(d, b, sizeof b);
  assert_string_equal(b, "first clean unclean clean");
  jt_rm_rf(base);
  free(base);
  free(d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_lock_removed),
    cmocka_unit_test(test_lock_link),
    cmocka_unit_test(test_unclean_sticky),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
