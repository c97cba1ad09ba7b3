/*
 * test_history.c — the long-horizon log (journal.h journal_history; issue 13): copies of every
 * main-log record of a kept type (counted here from the main log itself: every type but window
 * and seal), in main seq order, each holding the exact bytes it names; a restart resumes after
 * the newest copy without copying twice; records appended after the last sync are pending;
 * journal_history_check finds a copy that differs from the main log's record even when the copy
 * is self-consistent (a forger holding the key), and a kept record without its copy; after a
 * retention cut of the main log `hems verify --dir` checks both logs and `hems timeline` lists
 * the cut records from the history, under their main seqs; a cut's retention record anchors the
 * history (its head then), so a history rolled back or deleted fails verify; a history made after
 * a key rotation verifies through the main log's certified chain, one of another key does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "jt_util.h"

struct fx {
  char *base, d[600], h[700];
  struct jt_clock clk;
  struct journal_options o;
  struct journal *j;
};

static void fx_open(struct fx *f)
{
  f->base = jt_mkdtemp();
  snprintf(f->d, sizeof f->d, "%.400s/data", f->base);
  snprintf(f->h, sizeof f->h, "%s/history", f->d);
  jt_clock_init(&f->clk, 1000000000ull);
  jt_opts(&f->o, f->d, &f->clk);
  assert_int_equal(journal_create(&f->o, "{}", 2, "test"), 0);
  assert_int_equal(journal_open(&f->j, &f->o, NULL, NULL), 0);
}

static void append_mix(struct journal *j, int n, int from)
{
  struct journal_record r;
  char text[64];
  for (int i = from; i < from + n; i++) {
    if (i % 3 == 0) {
      snprintf(text, sizeof text, "note %d", i);
      jt_note_rec(&r, text); /* critical: ends a group (a seal follows) */
    } else {
      jt_fault_rec(&r, "bulk", i);
    }
    assert_int_equal(journal_append(j, &r, NULL), 0);
  }
  assert_int_equal(journal_sync(j), 0);
}

/* Kept records of the main log from seq `from` on, by reading its types (independent of the
 * history code). */
static uint64_t kept_in_main(struct journal *j, uint64_t from)
{
  struct journal_reader *r;
  assert_int_equal(journal_reader_attach(&r, j), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(r, from, &it), 0);
  uint64_t seq, n = 0;
  const uint8_t *b;
  size_t len;
  struct journal_record *rec = malloc(sizeof *rec);
  while (journal_iter_next(it, &seq, &b, &len) == 1) {
    assert_int_equal(journal_record_decode(b, len, rec), 0);
    if (rec->type != JOURNAL_T_SEAL && rec->type != JOURNAL_T_WINDOW) n++;
  }
  free(rec);
  journal_iter_end(it);
  journal_reader_close(r);
  return n;
}

static void sync_all(struct journal_history *h, struct journal *j, uint64_t *copied)
{
  struct journal_reader *r;
  assert_int_equal(journal_reader_attach(&r, j), 0);
  assert_int_equal(journal_history_sync(h, r, journal_durable_seq(j), 0, copied), 0);
  journal_reader_close(r);
  assert_int_equal(journal_sync(journal_history_journal(h)), 0); /* what a reader of the dir sees */
}

static int check(struct fx *f, struct journal_history_report *rep)
{
  struct journal_reader *m, *hr;
  assert_int_equal(journal_reader_attach(&m, f->j), 0);
  assert_int_equal(journal_reader_open(&hr, f->h, NULL, true), 0);
  int rc = journal_history_check(hr, m, rep);
  journal_reader_close(hr);
  journal_reader_close(m);
  return rc;
}

static void test_copies_resume_pending(void **state)
{
  (void)state;
  struct fx f;
  fx_open(&f);
  append_mix(f.j, 40, 0);
  struct journal_history *h;
  assert_int_equal(journal_history_open(&h, &f.o, NULL), 0);
  uint64_t copied = 0, want = kept_in_main(f.j, 1);
  sync_all(h, f.j, &copied);
  assert_int_equal(copied, want);
  assert_true(want >= 43); /* boot, config, key and the 40 */
  struct journal_history_report rep;
  assert_int_equal(check(&f, &rep), 0);
  assert_int_equal(rep.copies, want);
  assert_int_equal(rep.cross_checked, want);
  assert_int_equal(rep.pending, 0);

  /* appended, not yet copied: pending; a reopened history resumes after its newest copy */
  uint64_t head = journal_head_seq(f.j);
  append_mix(f.j, 9, 40);
  uint64_t more = kept_in_main(f.j, head + 1);
  assert_int_equal(more, 9);
  assert_int_equal(check(&f, &rep), 0);
  assert_int_equal(rep.pending, more);
  assert_int_equal(journal_history_close(h), 0);
  assert_int_equal(journal_history_open(&h, &f.o, NULL), 0);
  sync_all(h, f.j, &copied);
  assert_int_equal(copied, more);
  assert_int_equal(check(&f, &rep), 0);
  assert_int_equal(rep.copies, want + more);
  assert_int_equal(rep.pending, 0);
  assert_int_equal(journal_history_close(h), 0);
  assert_int_equal(journal_close(f.j), 0);

  /* the CLI: both logs verify with the dir's key, the cross-reference passes */
  struct jt_out o;
  jt_hems(&o, "verify", "--dir", f.d, NULL);
  assert_int_equal(o.status, 0);
  assert_non_null(strstr(o.out, "history: ok: seq 1.."));
  char line[160];
  snprintf(line, sizeof line, "history: %llu copies: %llu compared with the main log", (unsigned long long)(want + more),
           (unsigned long long)(want + more));
  assert_non_null(strstr(o.out, line));
  jt_out_free(&o);
  jt_rm_rf(f.base);
  free(f.base);
}

/* A forger holding the key rewrites a copy: a self-consistent copy (bytes and hash agree) of a
 * note the main log does not hold. The cross-reference finds it; a dropped copy is found too. */
static void test_forged_and_missing_copy(void **state)
{
  (void)state;
  struct fx f;
  fx_open(&f);
  append_mix(f.j, 30, 0);
  struct journal_history *h;
  assert_int_equal(journal_history_open(&h, &f.o, NULL), 0);
  uint64_t copied;
  sync_all(h, f.j, &copied);
  assert_int_equal(journal_history_close(h), 0);

  /* the forger holds the key: the history's counter is re-signed with it (the dir keeps none) */
  assert_int_equal(jt_sh("cp '%s/keys/signing.key' '%s/keys/signing.key'", f.d, f.h), 0);
  struct jt_lmdb l;
  MDB_txn *t;
  struct jt_recs rs;
  struct journal_record *c = malloc(sizeof *c), *inner = malloc(sizeof *inner);
  /* find the copy of a note: rewrite the note's text, the copy's hash to match */
  assert_int_equal(jt_lmdb_open(&l, f.h), 0);
  assert_int_equal(mdb_txn_begin(l.env, NULL, 0, &t), 0);
  assert_int_equal(jt_recs_load(t, l.records, &rs), 0);
  size_t pos = 0;
  uint64_t forged_main = 0;
  for (size_t i = 0; i < rs.n && !forged_main; i++) {
    if (journal_record_decode(rs.r[i].b, rs.r[i].n, c) != 0 || c->type != JOURNAL_T_COPY) continue;
    if (journal_record_decode(c->body.copy.record.ptr, c->body.copy.record.len, inner) != 0 || inner->type != JOURNAL_T_NOTE) continue;
    pos = i;
    forged_main = c->body.copy.main_seq;
  }
  assert_true(forged_main > 0);
  static uint8_t ib[4096], cb[8192];
  size_t il, cl;
  inner->body.note.text = (struct journal_slice){ (const uint8_t *)"the breaker was never opened", 28 };
  assert_int_equal(journal_record_encode(inner, ib, sizeof ib, &il), 0);
  c->body.copy.record = (struct journal_slice){ ib, (uint32_t)il };
  journal_record_hash(ib, il, c->body.copy.main_hash);
  assert_int_equal(journal_record_encode(c, cb, sizeof cb, &cl), 0);
  free(rs.r[pos].b);
  rs.r[pos].b = malloc(cl);
  memcpy(rs.r[pos].b, cb, cl);
  rs.r[pos].n = cl;
  for (size_t i = pos; i < rs.n; i++) rs.r[i].fresh = true; /* a forger re-chains what follows */
  assert_int_equal(jt_recs_store(t, l.records, &rs), 0);
  assert_int_equal(mdb_txn_commit(t), 0);
  jt_recs_free(&rs);
  jt_lmdb_close(&l);
  assert_int_equal(jt_counter_to_head(f.h), 0);
  struct journal_history_report rep;
  assert_int_equal(check(&f, &rep), JOURNAL_ECORRUPT);
  assert_int_equal(rep.bad_main_seq, forged_main);
  assert_non_null(strstr(rep.reason, "differs from the copy"));

  /* the same history without that copy: the main log's note has none */
  assert_int_equal(jt_lmdb_open(&l, f.h), 0);
  assert_int_equal(mdb_txn_begin(l.env, NULL, 0, &t), 0);
  assert_int_equal(jt_recs_load(t, l.records, &rs), 0);
  free(rs.r[pos].b);
  memmove(&rs.r[pos], &rs.r[pos + 1], (rs.n - pos - 1) * sizeof rs.r[0]);
  rs.n--;
  for (size_t i = pos; i < rs.n; i++) rs.r[i].fresh = true;
  assert_int_equal(jt_recs_store(t, l.records, &rs), 0);
  assert_int_equal(mdb_txn_commit(t), 0);
  jt_recs_free(&rs);
  jt_lmdb_close(&l);
  assert_int_equal(jt_counter_to_head(f.h), 0);
  assert_int_equal(check(&f, &rep), JOURNAL_ECORRUPT);
  assert_int_equal(rep.bad_main_seq, forged_main);
  assert_non_null(strstr(rep.reason, "has no copy"));
  assert_int_equal(journal_close(f.j), 0);
  free(c);
  free(inner);
  jt_rm_rf(f.base);
  free(f.base);
}

/* After a cut of the main log: the cut notes are listed from the history under their main
 * seqs, verify checks both logs. */
static void test_after_cut(void **state)
{
  (void)state;
  struct fx f;
  fx_open(&f);
  append_mix(f.j, 300, 0);
  struct journal_history *h;
  assert_int_equal(journal_history_open(&h, &f.o, NULL), 0);
  uint64_t copied, cut = 0;
  sync_all(h, f.j, &copied);
  assert_int_equal(journal_history_close(h), 0);
  assert_int_equal(journal_retention_cut(f.j, 0, journal_head_seq(f.j) / 2, NULL, NULL, &cut), 0);
  assert_true(cut > 10);
  struct journal_history_report rep;
  assert_int_equal(check(&f, &rep), 0);
  assert_true(rep.history_only > 0);
  assert_int_equal(rep.main_first, cut + 1);
  assert_int_equal(journal_close(f.j), 0);

  struct jt_out o;
  jt_hems(&o, "timeline", "--dir", f.d, "--type", "note", "--format", "jsonl", NULL);
  assert_int_equal(o.status, 0);
  assert_int_equal(jt_lines(o.out), 100); /* every third of the 300 */
  assert_non_null(strstr(o.out, "\"text\":\"note 0\""));
  jt_out_free(&o);
  jt_hems(&o, "verify", "--dir", f.d, NULL);
  assert_int_equal(o.status, 0);
  assert_non_null(strstr(o.out, "history: ok"));
  assert_non_null(strstr(o.out, "of records it no longer holds"));
  jt_out_free(&o);
  jt_rm_rf(f.base);
  free(f.base);
}

/* The retention appender of a writer with a long-horizon log: the cut names the history's head. */
static int anchor_append(void *ctx, struct journal *j, const struct journal_record *rec)
{
  struct journal_record *r = malloc(sizeof *r);
  *r = *rec;
  journal_history_anchor(ctx, r);
  int rc = journal_append(j, r, NULL);
  free(r);
  return rc;
}

/* A cut anchors the history in the main log: the history rolled back to a copy from before the
 * cut (an attacker's, or an old backup's), or deleted, no longer verifies; the anchored one does. */
static void test_anchor_rollback_delete(void **state)
{
  (void)state;
  struct fx f;
  fx_open(&f);
  append_mix(f.j, 60, 0);
  struct journal_history *h;
  assert_int_equal(journal_history_open(&h, &f.o, NULL), 0);
  uint64_t copied, cut = 0;
  sync_all(h, f.j, &copied);
  assert_int_equal(journal_history_close(h), 0);
  assert_int_equal(jt_sh("cp -a '%s' '%s.old'", f.h, f.h), 0); /* the history as it was */
  append_mix(f.j, 240, 60);
  assert_int_equal(journal_history_open(&h, &f.o, NULL), 0);
  sync_all(h, f.j, &copied);
  uint64_t head = journal_head_seq(journal_history_journal(h));
  assert_int_equal(journal_retention_cut(f.j, 0, journal_head_seq(f.j) / 2, anchor_append, h, &cut), 0);
  assert_true(cut > 100);
  assert_int_equal(journal_sync(f.j), 0);
  sync_all(h, f.j, &copied); /* the retention record's copy */
  assert_int_equal(journal_history_close(h), 0);
  struct journal_history_report rep;
  assert_int_equal(check(&f, &rep), 0);
  assert_int_equal(rep.anchor_history_seq, head);
  assert_true(rep.anchor_main_seq > cut);
  assert_int_equal(rep.unanchored, 0);
  assert_int_equal(journal_close(f.j), 0);
  struct jt_out o;
  jt_hems(&o, "verify", "--dir", f.d, NULL);
  assert_int_equal(o.status, 0);
  assert_non_null(strstr(o.out, "anchored by the retention record"));
  jt_out_free(&o);

  /* rolled back: the old history (it verifies by itself, with the same key) */
  assert_int_equal(jt_sh("mv '%s' '%s.new' && mv '%s.old' '%s'", f.h, f.h, f.h, f.h), 0);
  jt_hems(&o, "verify", "--dir", f.d, NULL);
  assert_int_equal(o.status, 1);
  assert_non_null(strstr(o.out, "history: ok: seq 1.."));
  assert_non_null(strstr(o.out, "lacks the head the main log's retention record names"));
  jt_out_free(&o);
  /* deleted */
  assert_int_equal(jt_sh("rm -rf '%s'", f.h), 0);
  jt_hems(&o, "verify", "--dir", f.d, NULL);
  assert_int_equal(o.status, 1);
  assert_non_null(strstr(o.out, "history: missing: the main log's retention record at seq"));
  jt_out_free(&o);
  /* a timeline of the cut part says nothing forged: without the history it lists the main log */
  assert_int_equal(jt_sh("mv '%s.new' '%s'", f.h, f.h), 0);
  jt_hems(&o, "verify", "--dir", f.d, NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  jt_rm_rf(f.base);
  free(f.base);
}

/* A history made after a key rotation begins with the rotated key: verify trusts it because the
 * main log's certified chain names it, not because the history's own keys/ says so. */
static void test_history_after_rotation(void **state)
{
  (void)state;
  char *base;
  char *d = jt_init_dir(&base, NULL, NULL);
  struct jt_out o;
  jt_hems(&o, "note", "--dir", d, "before the rotation", NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  jt_hems(&o, "key", "rotate", "--dir", d, NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  jt_hems(&o, "retention", "--dir", d, "--keep", "1h", "--run", NULL);
  assert_int_equal(o.status, 0);
  assert_non_null(strstr(o.out, "copied"));
  jt_out_free(&o);
  jt_hems(&o, "verify", "--dir", d, NULL);
  assert_int_equal(o.status, 0);
  assert_non_null(strstr(o.out, "history: ok"));
  jt_out_free(&o);
  /* a history signed by a key the main log never certified is refused */
  assert_int_equal(jt_sh("rm -rf '%s/history' && mkdir -p '%s.other' && '%s' init --dir '%s.other/d' >/dev/null && "
                         "'%s' retention --dir '%s.other/d' --keep 1h --run >/dev/null && cp -a '%s.other/d/history' '%s/history'",
                         d, base, jt_hems_bin(), base, jt_hems_bin(), base, base, d), 0);
  jt_hems(&o, "verify", "--dir", d, NULL);
  assert_int_equal(o.status, 1);
  assert_non_null(strstr(o.out, "history: its first key is not one the main log certifies"));
  jt_out_free(&o);
  free(d);
  jt_rm_rf(base);
  free(base);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_copies_resume_pending),
    cmocka_unit_test(test_forged_and_missing_copy),
    cmocka_unit_test(test_after_cut),
    cmocka_unit_test(test_anchor_rollback_delete),
    cmocka_unit_test(test_history_after_rotation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
