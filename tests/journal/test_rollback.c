/*
 * test_rollback.c — DESIGN.md invariant 5 through the CLI: an older copy of DIR/journal/
 * swapped in makes every opening command exit 1 with `hems: journal rollback: head seq N <
 * counter seq M` (exact N, M); `--accept-rollback` proceeds and journals
 * fault{code: rollback_accepted}; a crash between commit and counter write (counter exactly
 * one commit behind) is repaired silently; a journal two commits ahead of its counter is not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "jt_util.h"

static uint64_t head_of(const char *dir)
{
  struct journal_reader *r;
  assert_int_equal(journal_reader_open(&r, dir, NULL, true), 0);
  uint64_t first, last;
  assert_int_equal(journal_reader_bounds(r, &first, &last), 0);
  journal_reader_close(r);
  return last;
}

static void run_ok(const char *what, const char *d, const char *text)
{
  struct jt_out o;
  jt_hems(&o, what, "--dir", d, text, NULL);
  if (o.status != 0) fail_msg("hems %s: exit %d: %s", what, o.status, o.err);
  jt_out_free(&o);
}

static void test_swap_old_journal(void **state)
{
  (void)state;
  char *base = jt_mkdtemp();
  char *d = strdup(jt_path("%s/data", base));
  struct jt_out o;
  jt_hems(&o, "init", "--dir", d, NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  for (int i = 0; i < 3; i++) run_ok("note", d, "before the copy");
  uint64_t n = head_of(d);
  assert_int_equal(jt_sh("cp -a '%s/journal' '%s/journal-old'", d, base), 0);
  run_ok("note", d, "after the copy 1");
  run_ok("note", d, "after the copy 2");
  uint64_t m = head_of(d);
  assert_int_equal(m, n + 4); /* two notes, each note + seal */
  assert_int_equal(jt_sh("rm -rf '%s/journal' && cp -a '%s/journal-old' '%s/journal'", d, base, d), 0);
  char want[96];
  snprintf(want, sizeof want, "hems: journal rollback: head seq %llu < counter seq %llu\n", (unsigned long long)n, (unsigned long long)m);
  char *out = strdup(jt_path("%s/x.hems", base));
  struct { const char *args[6]; } cmds[] = {
    { { "note", "--dir", d, "hello", NULL } },
    { { "verify", "--dir", d, NULL } },
    { { "timeline", "--dir", d, NULL } },
    { { "show", "--dir", d, "1", NULL } },
    { { "export", "--dir", d, "--out", out, NULL } },
  };
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    const char **a = cmds[i].args;
    jt_hems(&o, a[0], a[1], a[2], a[3], a[4], a[5], NULL);
    if (o.status != 1) fail_msg("hems %s: exit %d, want 1: %s", a[0], o.status, o.err);
    if (strncmp(o.err, want, strlen(want)) != 0) fail_msg("hems %s: stderr '%s', want first line '%s'", a[0], o.err, want);
    jt_out_free(&o);
  }
  assert_int_equal(head_of(d), n); /* nothing was appended by the refused note */
  jt_hems(&o, "note", "--dir", d, "--accept-rollback", "accepted", NULL);
  if (o.status != 0) fail_msg("note --accept-rollback: exit %d: %s", o.status, o.err);
  jt_out_free(&o);
  jt_hems(&o, "timeline", "--dir", d, "--type", "fault", "--format", "jsonl", NULL);
  assert_int_equal(o.status, 0);
  assert_int_equal(jt_lines(o.out), 1);
  assert_non_null(strstr(o.out, "\"code\":\"rollback_accepted\""));
  char seqs[32];
  snprintf(seqs, sizeof seqs, "\"seq\":%llu,", (unsigned long long)n + 1);
  if (!strstr(o.out, seqs)) fail_msg("fault is not seq %llu: %s", (unsigned long long)n + 1, o.out);
  jt_out_free(&o);
  jt_hems(&o, "verify", "--dir", d, NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  run_ok("note", d, "life goes on");
  jt_rm_rf(base);
  free(base);
  free(d);
  free(out);
}

static void test_crash_window_and_two_behind(void **state)
{
  (void)state;
  char *base = jt_mkdtemp();
  char *d = strdup(jt_path("%s/data", base));
  struct jt_out o;
  jt_hems(&o, "init", "--dir", d, NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  run_ok("note", d, "one");
  /* Counter one commit behind: the journal committed, the process died before the counter. */
  assert_int_equal(jt_sh("cp -p '%s/counter' '%s/counter-1'", d, base), 0);
  uint64_t before = head_of(d);
  run_ok("note", d, "two");
  assert_int_equal(jt_sh("cp -p '%s/counter-1' '%s/counter'", base, d), 0);
  uint64_t head, cseq;
  assert_int_equal(journal_rollback_info(d, NULL, &head, &cseq), 0);
  assert_int_equal(cseq, before);
  assert_int_equal(head, before + 2);
  jt_hems(&o, "verify", "--dir", d, NULL); /* a reader accepts the crash window */
  if (o.status != 0) fail_msg("verify in crash window: exit %d: %s", o.status, o.err);
  jt_out_free(&o);
  struct journal_options opt;
  jt_opts(&opt, d, NULL);
  struct journal *j;
  struct journal_open_info info;
  assert_int_equal(journal_open(&j, &opt, &info, NULL), 0);
  assert_true(info.counter_repaired);
  assert_false(info.rollback_accepted);
  assert_int_equal(info.counter_seq, before);
  assert_int_equal(journal_close(j), 0);
  assert_int_equal(journal_rollback_info(d, NULL, &head, &cseq), 0);
  assert_int_equal(cseq, head); /* repaired */
  jt_hems(&o, "timeline", "--dir", d, "--type", "fault", "--format", "jsonl", NULL);
  assert_int_equal(o.status, 0);
  assert_null(strstr(o.out, "rollback_accepted"));
  jt_out_free(&o);

  /* Two commits behind: not the crash window. */
  assert_int_equal(jt_sh("cp -p '%s/counter' '%s/counter-2'", d, base), 0);
  run_ok("note", d, "three");
  run_ok("note", d, "four");
  assert_int_equal(jt_sh("cp -p '%s/counter-2' '%s/counter'", base, d), 0);
  jt_hems(&o, "note", "--dir", d, "five", NULL);
  if (o.status != 1) fail_msg("journal two commits ahead of its counter: exit %d: %s", o.status, o.err);
  assert_non_null(strstr(o.err, "hems: journal rollback: "));
  assert_int_equal(jt_lines(o.err), 1);
  jt_out_free(&o);
  /* A counter ahead of the journal at all is a rollback, through the library too. */
  assert_int_equal(journal_open(&j, &opt, &info, NULL), JOURNAL_EROLLBACK);
  jt_rm_rf(base);
  free(base);
  free(d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_swap_old_journal),
    cmocka_unit_test(test_crash_window_and_two_behind),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
