/*
 * test_crash.c — DESIGN.md invariant 4: a child process appends at full speed (critical and
 * non-critical records) and reports every durable seq over a pipe from the on_durable
 * callback; the parent kill -9s it at a random moment (seeded PRNG, 1–80 ms) for 60 rounds.
 * After each kill the parent reopens: every reported-durable seq is present, the journal
 * verifies (chain and seals), the counter is consistent (no rollback), and appending continues
 * at head+1. The parent never holds an LMDB env while it forks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <time.h>
#include "jt_util.h"

#define ROUNDS 60

static int g_pipe = -1;

static void child_durable(void *ctx, uint64_t seq)
{
  (void)ctx;
  if (write(g_pipe, &seq, sizeof seq) != (ssize_t)sizeof seq) _exit(5);
}

static void child_main(const char *dir, int fd, unsigned seed)
{
  g_pipe = fd;
  struct journal_options o;
  jt_opts(&o, dir, NULL);
  o.on_durable = child_durable;
  struct journal *j;
  if (journal_open(&j, &o, NULL, NULL)) _exit(3);
  struct journal_record r;
  char pad[300];
  uint32_t x = seed;
  for (uint64_t i = 0;; i++) {
    x = x * 1664525u + 1013904223u;
    if ((x >> 24) % 16 == 0) jt_note_rec(&r, "critical note");
    else jt_big_rec(&r, pad, i, 50 + (x >> 8) % 200);
    if (journal_append(j, &r, NULL)) _exit(4);
  }
}

static void test_kill9(void **state)
{
  (void)state;
  char *base = jt_mkdtemp();
  char *dir = strdup(jt_path("%s/data", base));
  struct journal_options o;
  jt_opts(&o, dir, NULL);
  assert_int_equal(journal_create(&o, NULL, 0, "test"), 0);
  uint8_t pk[32];
  assert_int_equal(jt_pubkey(dir, pk), 0);
  uint32_t rng = 20261121u;
  uint64_t total_durable = 0;
  static uint64_t seqs[1 << 20];
  for (int round = 0; round < ROUNDS; round++) {
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork(); /* no LMDB env is open in this process here */
    assert_true(pid >= 0);
    if (pid == 0) { close(p[0]); child_main(dir, p[1], rng); _exit(0); }
    close(p[1]);
    rng = rng * 1103515245u + 12345u;
    long ms = 1 + (long)((rng >> 8) % 80);
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) fail_msg("round %d: child exited on its own (status %d)", round, st);
    size_t n = 0;
    for (;;) {
      ssize_t r = read(p[0], (uint8_t *)seqs + n * 8, sizeof seqs - n * 8);
      if (r <= 0) break;
      n += (size_t)r / 8;
    }
    close(p[0]);
    uint64_t max_durable = 0;
    for (size_t i = 0; i < n; i++) {
      if (i && seqs[i] <= seqs[i - 1]) fail_msg("round %d: durable seqs not increasing", round);
      max_durable = seqs[i];
    }
    total_durable += n;

    /* Reopen: the crash window (commit done, counter not yet written) is repaired silently. */
    struct journal *j;
    struct journal_open_info info;
    int rc = journal_open(&j, &o, &info, NULL);
    if (rc) fail_msg("round %d: reopen failed: %s", round, journal_strerror(rc));
    if (n > 0) assert_false(info.last_shutdown_clean); /* the child had opened it */
    if (info.head_seq < max_durable) fail_msg("round %d: head %llu < reported durable %llu", round,
                                              (unsigned long long)info.head_seq, (unsigned long long)max_durable);
    struct journal_reader *rd;
    assert_int_equal(journal_reader_attach(&rd, j), 0);
    struct journal_iter *it;
    assert_int_equal(journal_iter_begin(rd, 1, &it), 0);
    for (size_t i = 0; i < n; i++) {
      const uint8_t *b;
      size_t len;
      if (journal_iter_get(it, seqs[i], &b, &len)) fail_msg("round %d: durable seq %llu missing", round, (unsigned long long)seqs[i]);
      struct journal_record rec;
      assert_int_equal(journal_record_decode(b, len, &rec), 0);
      assert_int_equal(rec.type, JOURNAL_T_SEAL); /* durable points are group ends */
    }
    journal_iter_end(it);
    struct journal_dir_source ds;
    assert_int_equal(journal_dir_source_init(&ds, rd, 1), 0);
    struct journal_verify_result res;
    rc = journal_verify(&ds.src, pk, NULL, &res, NULL, NULL);
    journal_dir_source_deinit(&ds);
    journal_reader_close(rd);
    if (rc) fail_msg("round %d: verify: first bad seq %llu: %s", round, (unsigned long long)res.bad_seq, res.reason);
    assert_int_equal(res.last_seq, info.head_seq);
    struct journal_record r;
    uint64_t s;
    jt_note_rec(&r, "after the crash");
    assert_int_equal(journal_append(j, &r, &s), 0);
    assert_int_equal(s, info.head_seq + 1);
    assert_int_equal(journal_close(j), 0);
  }
  print_message("%d rounds, %llu durable reports checked\n", ROUNDS, (unsigned long long)total_durable);
  assert_true(total_durable > 0);
  jt_rm_rf(base);
  free(base);
  free(dir);
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = { cmocka_unit_test(test_kill9) };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
