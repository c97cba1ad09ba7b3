/*
 * test_rollback.c — DESIGN.md invariant 5 through the CLI: an older copy of DIR/journal/
 * swapped in makes every opening command exit 1 with `hems: journal rollback: head seq N <
 * counter seq M` (exact N, M); `--accept-rollback` proceeds and journals
 * fault{code: rollback_accepted}; a crash between commit and counter write (counter exactly
 * one commit behind) is repaired silently; a journal two commits ahead of its counter is not.
 * Trust issue items 12, 13 and 17: a missing counter store is refused, never re-created from
 * the journal (even with meta commit_base zeroed); counter slots are signed with the journal's
 * key, so a counter written without it (another key, the unkeyed format 1, garbage) is refused
 * naming the counter file; readers racing a writer never see a false rollback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sodium.h>
#include "jt_util.h"

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
  char *base, *d = jt_init_dir(&base, NULL, NULL);
  struct jt_out o;
  for (int i = 0; i < 3; i++) run_ok("note", d, "before the copy");
  uint64_t n = jt_head_seq(d);
  assert_int_equal(jt_sh("cp -a '%s/journal' '%s/journal-old'", d, base), 0);
  run_ok("note", d, "after the copy 1");
  run_ok("note", d, "after the copy 2");
  uint64_t m = jt_head_seq(d);
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
  assert_int_equal(jt_head_seq(d), n); /* nothing was appended by the refused note */
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
  char *base, *d = jt_init_dir(&base, NULL, NULL);
  struct jt_out o;
  run_ok("note", d, "one");
  /* Counter one commit behind: the journal committed, the process died before the counter. */
  assert_int_equal(jt_sh("cp -p '%s/counter' '%s/counter-1'", d, base), 0);
  uint64_t before = jt_head_seq(d);
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

/* Head seq and hash of a dir (no counter check). */
static uint64_t head_hash_of(const char *dir, uint8_t hash[32])
{
  struct journal_reader *r;
  assert_int_equal(journal_reader_open(&r, dir, NULL, true), 0);
  uint64_t first, last;
  assert_int_equal(journal_reader_bounds(r, &first, &last), 0);
  struct journal_iter *it;
  const uint8_t *b;
  size_t len;
  assert_int_equal(journal_iter_begin(r, last, &it), 0);
  assert_int_equal(journal_iter_get(it, last, &b, &len), 0);
  journal_record_hash(b, len, hash);
  journal_iter_end(it);
  journal_reader_close(r);
  return last;
}

/* meta commit_base := zero, as an attacker with write access to the dir can do. */
static void zero_commit_base(const char *dir)
{
  struct jt_lmdb l;
  assert_int_equal(jt_lmdb_open(&l, dir), 0);
  MDB_txn *t;
  MDB_dbi meta;
  uint8_t zero[40] = { 0 };
  assert_int_equal(mdb_txn_begin(l.env, NULL, 0, &t), 0);
  assert_int_equal(mdb_dbi_open(t, "meta", 0, &meta), 0);
  MDB_val k = { 11, "commit_base" }, v = { sizeof zero, zero };
  assert_int_equal(mdb_put(t, meta, &k, &v, 0), 0);
  assert_int_equal(mdb_txn_commit(t), 0);
  jt_lmdb_close(&l);
}

static void expect_refused(const char *what, struct jt_out *o, const char *want)
{
  if (o->status != 1) fail_msg("%s: exit %d, want 1: %s / %s", what, o->status, o->err, o->out);
  if (!strstr(o->err, want)) fail_msg("%s: stderr '%s' lacks '%s'", what, o->err, want);
  assert_int_equal(jt_lines(o->err), 1);
  jt_out_free(o);
}

/* Item 12: a whole dir restored from an old copy, its separate counter removed and meta
 * commit_base zeroed: `hems run` refuses (exit 1) instead of re-creating the counter; with
 * --accept-rollback it starts and the fault is journaled. */
static void test_missing_counter_refused(void **state)
{
  (void)state;
  char *cbase = jt_mkdtemp(); /* the counter's separate storage */
  char *ctr = strdup(jt_path("%s/tpm-counter", cbase));
  char *base, *d = jt_init_dir(&base, "--counter", ctr);
  struct jt_out o;
  jt_hems(&o, "note", "--dir", d, "--counter", ctr, "before the backup", NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  assert_int_equal(jt_sh("cp -a '%s' '%s/backup'", d, base), 0);
  jt_hems(&o, "note", "--dir", d, "--counter", ctr, "after the backup", NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  assert_int_equal(jt_sh("rm -rf '%s' && cp -a '%s/backup' '%s' && rm '%s'", d, base, d, ctr), 0);
  zero_commit_base(d);
  uint8_t hh[32];
  uint64_t head = head_hash_of(d, hh);

  jt_hems(&o, "run", "--dir", d, "--counter", ctr, "--for", "1s", "--speed", "max", NULL);
  expect_refused("run without its counter", &o, "counter store missing");
  jt_hems(&o, "note", "--dir", d, "--counter", ctr, "x", NULL);
  expect_refused("note without its counter", &o, "counter store missing");
  assert_int_equal(head_hash_of(d, hh), head);
  assert_int_equal(access(ctr, F_OK), -1); /* not re-created */

  jt_hems(&o, "run", "--dir", d, "--counter", ctr, "--accept-rollback", "--for", "1s", "--speed", "max", NULL);
  if (o.status != 0) fail_msg("run --accept-rollback: exit %d: %s", o.status, o.err);
  jt_out_free(&o);
  jt_hems(&o, "timeline", "--dir", d, "--counter", ctr, "--type", "fault", "--format", "jsonl", NULL);
  assert_int_equal(o.status, 0);
  assert_non_null(strstr(o.out, "\"code\":\"rollback_accepted\""));
  assert_non_null(strstr(o.out, "counter store missing"));
  char seqs[32];
  snprintf(seqs, sizeof seqs, "\"seq\":%llu,", (unsigned long long)head + 1);
  if (!strstr(o.out, seqs)) fail_msg("fault is not seq %llu: %s", (unsigned long long)head + 1, o.out);
  jt_out_free(&o);
  jt_hems(&o, "verify", "--dir", d, "--counter", ctr, NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  jt_rm_rf(base);
  jt_rm_rf(cbase);
  free(base);
  free(cbase);
  free(d);
  free(ctr);
}

static void be64(uint8_t *p, uint64_t v) { for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; } }

/* Writes DIR/counter as two format-2 slots for (seq, hash), signed with sk (key id of pk). */
static void write_counter_v2(const char *path, uint64_t seq, const uint8_t hash[32], const uint8_t pk[32],
                             const uint8_t sk[64])
{
  uint8_t f[256], msg[16 + 64];
  for (int i = 0; i < 2; i++) {
    uint8_t *s = f + 128 * i;
    memcpy(s, "HEMSCTR2", 8);
    be64(s + 8, seq);
    memcpy(s + 16, hash, 32);
    journal_key_id(pk, s + 48);
    memset(msg, 0, 16);
    memcpy(msg, "hems.counter.v2", 15);
    memcpy(msg + 16, s, 64);
    crypto_sign_detached(s + 64, NULL, msg, sizeof msg, sk);
  }
  assert_int_equal(jt_write_file(path, f, sizeof f), 0);
}

/* Items 12 and 17: the old journal is swapped in and its counter rewritten to match it — signed
 * by another key, in the unkeyed format 1, as garbage. Every opener refuses (exit 1) and names
 * the counter file; --accept-rollback replaces it and journals the fact. */
static void test_forged_counter_refused(void **state)
{
  (void)state;
  char *base = jt_mkdtemp();
  char *d = strdup(jt_path("%s/data", base));
  char *ctr = strdup(jt_path("%s/counter", d));
  struct jt_out o;
  jt_hems(&o, "init", "--dir", d, NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  run_ok("note", d, "one");
  assert_int_equal(jt_sh("cp -a '%s/journal' '%s/journal-old'", d, base), 0);
  /* two commits after the copy, so neither counter slot holds the old head (a file counter
   * cannot tell a replayed older slot from a current one: docs/journal.md) */
  run_ok("note", d, "two");
  run_ok("note", d, "three");
  assert_int_equal(jt_sh("rm -rf '%s/journal' && cp -a '%s/journal-old' '%s/journal'", d, base, d), 0);
  uint8_t hh[32];
  uint64_t head = head_hash_of(d, hh);
  assert_int_equal(sodium_init() < 0, 0);
  size_t good_len;
  uint8_t *good = jt_read_file(ctr, &good_len);
  assert_non_null(good);
  assert_int_equal(good_len, 256);
  jt_hems(&o, "show", "--dir", d, "1", NULL); /* the swap itself is a rollback */
  expect_refused("show after the swap", &o, "journal rollback");

  /* the right format, the right (seq, hash), another key */
  uint8_t pk[32], sk[64];
  crypto_sign_keypair(pk, sk);
  write_counter_v2(ctr, head, hh, pk, sk);
  char want[4300];
  snprintf(want, sizeof want, "hems: %s: damaged (no counter slot with a valid signature", ctr);
  const char *cmds[][5] = { { "note", "--dir", d, "forged", NULL }, { "show", "--dir", d, "1", NULL },
                            { "verify", "--dir", d, NULL }, { "status", "--dir", d, NULL } };
  for (size_t i = 0; i < 4; i++) {
    jt_hems(&o, cmds[i][0], cmds[i][1], cmds[i][2], cmds[i][3], NULL);
    expect_refused(cmds[i][0], &o, want);
  }
  /* the journal's own signed counter, (seq, hash) rewritten to the old head without the key */
  assert_int_equal(jt_write_file(ctr, good, good_len), 0);
  for (int i = 0; i < 2; i++) {
    be64(good + 128 * i + 8, head);
    memcpy(good + 128 * i + 16, hh, 32);
  }
  assert_int_equal(jt_write_file(ctr, good, good_len), 0);
  for (size_t i = 0; i < 4; i++) {
    jt_hems(&o, cmds[i][0], cmds[i][1], cmds[i][2], cmds[i][3], NULL);
    expect_refused(cmds[i][0], &o, want);
  }
  free(good);
  uint8_t f[256];

  /* format 1: the unkeyed checksum anyone can compute */
  uint8_t v1[128];
  for (int i = 0; i < 2; i++) {
    uint8_t *s = v1 + 64 * i;
    memcpy(s, "HEMSCTR1", 8);
    be64(s + 8, head);
    memcpy(s + 16, hh, 32);
    crypto_generichash(s + 48, 16, s, 48, NULL, 0);
  }
  assert_int_equal(jt_write_file(ctr, v1, sizeof v1), 0);
  snprintf(want, sizeof want, "hems: %s: damaged (unsigned counter file (format 1))", ctr);
  jt_hems(&o, "note", "--dir", d, "forged", NULL);
  expect_refused("note, format 1 counter", &o, want);
  jt_hems(&o, "show", "--dir", d, "1", NULL);
  expect_refused("show, format 1 counter", &o, want);

  /* garbage (item 17): named as the counter file, not as the journal */
  memset(f, 0x5a, sizeof f);
  assert_int_equal(jt_write_file(ctr, f, sizeof f), 0);
  snprintf(want, sizeof want, "hems: %s: damaged (", ctr);
  for (size_t i = 0; i < 4; i++) {
    jt_hems(&o, cmds[i][0], cmds[i][1], cmds[i][2], cmds[i][3], NULL);
    if (strstr(o.err, "journal/")) fail_msg("%s names the journal for a bad counter: %s", cmds[i][0], o.err);
    expect_refused(cmds[i][0], &o, want);
  }
  assert_int_equal(head_hash_of(d, hh), head); /* nothing appended */

  jt_hems(&o, "note", "--dir", d, "--accept-rollback", "accepted", NULL);
  if (o.status != 0) fail_msg("note --accept-rollback: exit %d: %s", o.status, o.err);
  jt_out_free(&o);
  jt_hems(&o, "timeline", "--dir", d, "--type", "fault", "--format", "jsonl", NULL);
  assert_int_equal(o.status, 0);
  assert_non_null(strstr(o.out, "\"code\":\"rollback_accepted\""));
  assert_non_null(strstr(o.out, "counter store damaged"));
  jt_out_free(&o);
  run_ok("note", d, "signed again");
  jt_hems(&o, "verify", "--dir", d, NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  jt_rm_rf(base);
  free(base);
  free(d);
  free(ctr);
}

/* Item 13: readers opening while a writer commits as fast as it can never report a rollback. */
#define RACE_OPENS 10000
static void test_readers_race_writer(void **state)
{
  (void)state;
  char *base, *d = jt_init_dir(&base, NULL, NULL);
  int ready[2];
  assert_int_equal(pipe(ready), 0);
  fflush(NULL);
  pid_t pid = fork(); /* before any LMDB environment is open in this process */
  assert_true(pid >= 0);
  if (pid == 0) {
    struct journal_options opt;
    jt_opts(&opt, d, NULL);
    opt.unsafe_no_sync = true; /* as many commits (and counter writes) per second as possible */
    struct journal *j;
    if (journal_open(&j, &opt, NULL, NULL)) _exit(2);
    struct journal_record r;
    jt_note_rec(&r, "racing");
    for (long i = 0;; i++) {
      if (journal_append(j, &r, NULL) || journal_sync(j)) _exit(3);
      if (i == 10 && write(ready[1], "r", 1) != 1) _exit(4);
    }
  }
  close(ready[1]);
  char c;
  assert_int_equal(read(ready[0], &c, 1), 1);
  close(ready[0]);
  int rollbacks = 0, other = 0, last_err = 0;
  uint64_t first_head = 0, last_head = 0;
  for (int i = 0; i < RACE_OPENS; i++) {
    struct journal_reader *r;
    int rc = journal_reader_open(&r, d, NULL, false);
    if (rc == JOURNAL_EROLLBACK) rollbacks++;
    else if (rc) { other++; last_err = rc; }
    else {
      uint64_t f;
      journal_reader_bounds(r, &f, &last_head);
      if (!first_head) first_head = last_head;
      journal_reader_close(r);
    }
  }
  kill(pid, SIGKILL);
  int st;
  waitpid(pid, &st, 0);
  assert_true(WIFSIGNALED(st)); /* the writer was still writing when the opens ended */
  if (rollbacks || other)
    fail_msg("%d false rollbacks, %d other errors (last %s) in %d opens", rollbacks, other,
             journal_strerror(last_err), RACE_OPENS);
  /* the opens really raced commits: the head moved a lot while they ran */
  if (last_head < first_head + 1000) fail_msg("writer too slow to race: head %llu..%llu",
                                              (unsigned long long)first_head, (unsigned long long)last_head);
  jt_rm_rf(base);
  free(base);
  free(d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_swap_old_journal),
    cmocka_unit_test(test_crash_window_and_two_behind),
    cmocka_unit_test(test_missing_counter_refused),
    cmocka_unit_test(test_forged_counter_refused),
    cmocka_unit_test(test_readers_race_writer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
