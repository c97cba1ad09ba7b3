/*
 * test_store.c — the LMDB store and writer: reopen continues at the next seq, seqs are
 * gapless, group boundaries (critical record, 1000 records, 1 s of record time, flush), every
 * group ends with a matching seal, on_durable is increasing, virtual-clock mode, one writer per
 * dir (EINUSE with the pid), readers beside a writer, index queries, blobs, time seeks across a
 * clock step back, map growth, disk full, retention.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "jt_util.h"

struct durable_log { uint64_t seqs[100000]; int n; int bad_order; };

static void on_durable(void *ctx, uint64_t seq)
{
  struct durable_log *d = ctx;
  if (d->n > 0 && seq <= d->seqs[d->n - 1]) d->bad_order = 1;
  if (d->n < 100000) d->seqs[d->n++] = seq;
}

static char *new_journal(struct jt_clock *clk)
{
  char *dir = jt_mkdtemp();
  char *d = malloc(4200);
  snprintf(d, 4200, "%s/data", dir);
  free(dir);
  struct journal_options o;
  jt_opts(&o, d, clk);
  assert_int_equal(journal_create(&o, "{}", 2, "test"), 0);
  return d;
}

/* A fresh journal (new_journal) on a clock of step ns per stamp, opened for writing with o. */
static struct journal *open_new(struct jt_clock *clk, uint64_t step, char **d, struct journal_options *o)
{
  jt_clock_init(clk, step);
  *d = new_journal(clk);
  jt_opts(o, *d, clk);
  struct journal *j;
  assert_int_equal(journal_open(&j, o, NULL, NULL), 0);
  return j;
}

static void cleanup(char *d)
{
  char *slash = strrchr(d, '/');
  *slash = 0;
  jt_rm_rf(d);
  free(d);
}

/* Walks the journal: gapless from `first`, every group ends with a seal whose body matches.
 * Returns the group sizes (records before each seal) in sizes[]. */
static int check_groups(const char *dir, uint64_t first, uint32_t *sizes, int cap, uint64_t *last_out)
{
  struct journal_reader *r;
  assert_int_equal(journal_reader_open(&r, dir, NULL, false), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(r, first, &it), 0);
  uint64_t seq, expect = first, group_first = first;
  const uint8_t *b;
  size_t len;
  uint8_t prev_hash[32] = { 0 };
  int ng = 0, got;
  bool have_prev = false;
  while ((got = journal_iter_next(it, &seq, &b, &len)) == 1) {
    assert_int_equal(seq, expect);
    struct journal_record rec;
    assert_int_equal(journal_record_decode(b, len, &rec), 0);
    assert_int_equal(rec.seq, seq);
    if (have_prev) assert_memory_equal(rec.prev, prev_hash, 32);
    if (rec.type == JOURNAL_T_SEAL) {
      assert_int_equal(rec.body.seal.sealed_seq, seq - 1);
      assert_memory_equal(rec.body.seal.head_hash, rec.prev, 32);
      assert_int_equal(rec.body.seal.group_records, seq - group_first);
      uint64_t gf, gl;
      assert_int_equal(journal_group_of(it, seq - 1, &gf, &gl), 0);
      assert_int_equal(gf, group_first);
      assert_int_equal(gl, seq);
      if (ng < cap) sizes[ng] = (uint32_t)(seq - group_first);
      ng++;
      group_first = seq + 1;
    }
    journal_record_hash(b, len, prev_hash);
    have_prev = true;
    expect++;
  }
  assert_int_equal(got, 0);
  assert_int_equal(group_first, expect); /* no unsealed tail */
  if (last_out) *last_out = expect - 1;
  journal_iter_end(it);
  journal_reader_close(r);
  return ng;
}

static void test_reopen_continues(void **state)
{
  (void)state;
  struct jt_clock clk;
  jt_clock_init(&clk, 1000);
  char *d = new_journal(&clk);
  struct journal_options o;
  jt_opts(&o, d, &clk);
  uint64_t head0 = 0;
  for (int round = 0; round < 3; round++) {
    struct journal *j;
    struct journal_open_info info;
    assert_int_equal(journal_open(&j, &o, &info, NULL), 0);
    if (round == 0) head0 = info.head_seq;
    else assert_true(info.last_shutdown_clean);
    assert_int_equal(info.head_seq, journal_head_seq(j));
    uint64_t s;
    struct journal_record r;
    jt_fault_rec(&r, "x", round);
    assert_int_equal(journal_append(j, &r, &s), 0);
    assert_int_equal(s, info.head_seq + 1);
    jt_note_rec(&r, "hello");
    assert_int_equal(journal_append(j, &r, &s), 0);
    assert_int_equal(s, info.head_seq + 2);
    assert_int_equal(journal_close(j), 0);
  }
  uint64_t last;
  uint32_t sizes[16];
  int ng = check_groups(d, 1, sizes, 16, &last);
  assert_int_equal(last, head0 + 3 * 3); /* fault, note, seal per round */
  assert_true(ng >= 6);
  struct journal_verify_result res;
  assert_int_equal(jt_verify_dir(d, &res), 0);
  assert_int_equal(res.last_seq, last);
  cleanup(d);
}

static void test_group_boundaries(void **state)
{
  (void)state;
  struct jt_clock clk;
  jt_clock_init(&clk, 1000); /* 1 µs of record time per stamp */
  char *d = new_journal(&clk);
  uint64_t head;
  check_groups(d, 1, NULL, 0, &head);
  struct durable_log *dl = calloc(1, sizeof *dl);
  struct journal_options o;
  jt_opts(&o, d, &clk);
  o.on_durable = on_durable;
  o.ctx = dl;
  struct journal *j;
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);
  struct journal_record r;
  uint64_t s;
  /* A: 5 non-critical + 1 critical → group of 6. */
  for (int i = 0; i < 5; i++) { jt_fault_rec(&r, "a", i); assert_int_equal(journal_append(j, &r, &s), 0); }
  jt_note_rec(&r, "critical");
  assert_int_equal(journal_append(j, &r, &s), 0);
  /* B: 2500 non-critical → groups of 1000, 1000, then 500 ended by flush. */
  for (int i = 0; i < 2500; i++) { jt_fault_rec(&r, "b", i); assert_int_equal(journal_append(j, &r, &s), 0); }
  assert_int_equal(journal_flush(j), 0);
  assert_int_equal(journal_flush(j), 0); /* empty group: no-op */
  /* C: 1 s of record time: 3 records 0.4 s apart → the third reaches 1 s after the first? no:
   * 0, 0.4, 0.8 stay; 1.2 ends the group (span >= 1 s), so the group holds 4. */
  clk.step = 400000000ull;
  for (int i = 0; i < 4; i++) { jt_fault_rec(&r, "c", i); assert_int_equal(journal_append(j, &r, &s), 0); }
  clk.step = 1000;
  jt_fault_rec(&r, "d", 0);
  assert_int_equal(journal_append(j, &r, &s), 0);
  assert_int_equal(journal_sync(j), 0);
  assert_int_equal(journal_durable_seq(j), journal_head_seq(j));
  struct journal_stats st;
  journal_get_stats(j, &st);
  assert_true(st.records_committed == journal_head_seq(j) - head);
  assert_int_equal(journal_close(j), 0);

  uint32_t sizes[64];
  int ng = check_groups(d, 1, sizes, 64, NULL);
  /* The groups after the ones journal_create made: */
  int k = ng - 6;
  assert_true(k >= 0);
  assert_int_equal(sizes[k + 0], 6);
  assert_int_equal(sizes[k + 1], 1000);
  assert_int_equal(sizes[k + 2], 1000);
  assert_int_equal(sizes[k + 3], 500);
  /* With a seal stamped in between, the 4th record at +1.2 s (≥ 1 s after the first) ends it. */
  assert_int_equal(sizes[k + 4], 4);
  assert_int_equal(sizes[k + 5], 1);
  assert_false(dl->bad_order);
  assert_true(dl->n >= 1);
  assert_int_equal(dl->seqs[dl->n - 1], head + 7 + 1001 + 1001 + 501 + 5 + 2);
  free(dl);
  cleanup(d);
}

static void test_virtual_clock(void **state)
{
  (void)state;
  struct jt_clock clk;
  jt_clock_init(&clk, 1000);
  char *d = new_journal(&clk);
  struct journal_options o;
  jt_opts(&o, d, &clk);
  o.virtual_clock = true;
  struct journal *j;
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);
  struct journal_record r;
  uint64_t s;
  for (int i = 0; i < 20; i++) {
    jt_fault_rec(&r, "v", i);
    assert_int_equal(journal_append(j, &r, &s), 0);
    jt_note_rec(&r, "n");
    assert_int_equal(journal_append(j, &r, &s), 0);
    /* The group-ending append returned only once durable (its seal included). */
    assert_int_equal(journal_durable_seq(j), s + 1);
  }
  assert_int_equal(journal_close(j), 0);
  cleanup(d);
}

static void test_second_writer_and_readers(void **state)
{
  (void)state;
  char *d = new_journal(NULL);
  struct journal_options o;
  jt_opts(&o, d, NULL);
  struct journal *j, *j2;
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);
  int pid = -1;
  assert_int_equal(journal_open(&j2, &o, NULL, &pid), JOURNAL_EINUSE);
  assert_int_equal(pid, (int)getpid());
  struct journal_record r;
  uint64_t s;
  jt_note_rec(&r, "one");
  assert_int_equal(journal_append(j, &r, &s), 0);
  assert_int_equal(journal_sync(j), 0);
  /* Reader in this process: attach to the writer's env. */
  struct journal_reader *rd;
  assert_int_equal(journal_reader_attach(&rd, j), 0);
  uint64_t first, last;
  assert_int_equal(journal_reader_bounds(rd, &first, &last), 0);
  assert_int_equal(first, 1);
  assert_int_equal(last, s + 1);
  journal_reader_close(rd);
  /* The CLI in another process reads while the writer holds the lock (fork+exec only: the
   * child never touches this process's LMDB env). */
  struct jt_out out;
  jt_hems(&out, "verify", "--dir", d, NULL);
  assert_int_equal(out.status, 0);
  jt_out_free(&out);
  jt_hems(&out, "note", "--dir", d, "second writer", NULL);
  assert_int_equal(out.status, 3);
  char want[64];
  snprintf(want, sizeof want, "in use by pid %d", (int)getpid());
  if (!strstr(out.err, want)) fail_msg("stderr lacks '%s': %s", want, out.err);
  jt_out_free(&out);
  assert_int_equal(journal_close(j), 0);
  assert_int_equal(journal_open(&j2, &o, NULL, NULL), 0);
  assert_int_equal(journal_close(j2), 0);
  cleanup(d);
}

static void test_index_and_blobs(void **state)
{
  (void)state;
  struct jt_clock clk;
  struct journal_options o;
  char *d;
  struct journal *j = open_new(&clk, 100000000ull, &d, &o); /* 0.1 s per stamp */
  struct journal_record r;
  uint64_t s, fault7_seq = 0, note_seq = 0;
  int64_t wall_at_note = 0;
  for (int i = 0; i < 50; i++) {
    jt_fault_rec(&r, "idx", i); /* source branch 1 + i % 12, body branch the same */
    assert_int_equal(journal_append(j, &r, &s), 0);
    if (i == 6) fault7_seq = s;
  }
  uint8_t blob[5000], h[32];
  for (size_t i = 0; i < sizeof blob; i++) blob[i] = (uint8_t)(i % 251);
  assert_int_equal(journal_put_blob(j, blob, sizeof blob, h), 0);
  wall_at_note = clk.wall;
  jt_note_rec(&r, "after the blob");
  assert_int_equal(journal_append(j, &r, &note_seq), 0);
  assert_int_equal(journal_close(j), 0);

  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, d, NULL, false), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(rd, 1, &it), 0);
  uint64_t g[64];
  uint64_t gf, gl;
  /* index blocks: the block holding the note is listed under type note, and its range holds it */
  int n = journal_index_blocks(it, JOURNAL_IDX_TYPE, JOURNAL_T_NOTE, 1, g, 64);
  assert_true(n >= 1);
  assert_int_equal(journal_index_block_range(it, g[n - 1], &gf, &gl), 0);
  assert_true(gf <= note_seq && note_seq <= gl);
  n = journal_index_blocks(it, JOURNAL_IDX_TYPE, JOURNAL_T_WINDOW, 1, g, 64);
  assert_int_equal(n, 0);
  n = journal_index_blocks(it, JOURNAL_IDX_BRANCH, 7, 1, g, 64);
  assert_true(n >= 1);
  bool found = false;
  for (int i = 0; i < n; i++)
    if (journal_index_block_range(it, g[i], &gf, &gl) == 0 && gf <= fault7_seq && fault7_seq <= gl) found = true;
  assert_true(found);
  /* the source index is read with the value it is written with (journal_index_source_value) */
  struct journal_source src = { .kind = JOURNAL_SRC_BRANCH, .index = 7 };
  n = journal_index_blocks(it, JOURNAL_IDX_SOURCE, journal_index_source_value(&src), 1, g, 64);
  found = false;
  for (int i = 0; i < n; i++)
    if (journal_index_block_range(it, g[i], &gf, &gl) == 0 && gf <= fault7_seq && fault7_seq <= gl) found = true;
  assert_true(found);
  struct journal_source op = { .kind = JOURNAL_SRC_OPERATOR };
  n = journal_index_blocks(it, JOURNAL_IDX_SOURCE, journal_index_source_value(&op), 1, g, 64);
  assert_true(n >= 1);
  assert_int_equal(journal_index_block_range(it, g[n - 1], &gf, &gl), 0);
  assert_true(gf <= note_seq && note_seq <= gl);
  struct journal_index_report rep;
  assert_int_equal(journal_index_check(it, &rep), 0);
  assert_int_equal(rep.missing + rep.wrong, 0);
  char why[200];
  assert_int_equal(journal_index_coverage(it, why, sizeof why), 0);
  n = journal_index_blocks(it, JOURNAL_IDX_BRANCH, 999, 1, g, 64);
  assert_int_equal(n, 0);
  uint64_t at;
  assert_int_equal(journal_seek_time(it, wall_at_note, &at), 0);
  assert_true(at <= note_seq);
  assert_int_equal(journal_group_of(it, at, &gf, &gl), 0);
  assert_true(gl >= note_seq - 1);
  assert_int_equal(journal_seek_time(it, wall_at_note + 1000000000000ll, &at), 0);
  assert_int_equal(at, 0);
  uint8_t *data = NULL;
  size_t dlen = 0;
  assert_int_equal(journal_iter_get_blob(it, h, &data, &dlen), 0);
  assert_int_equal(dlen, sizeof blob);
  assert_memory_equal(data, blob, dlen);
  free(data);
  uint8_t nohash[32] = { 1 };
  data = NULL;
  assert_true(journal_iter_get_blob(it, nohash, &data, &dlen) < 0);
  free(data);
  const uint8_t *b;
  size_t len;
  assert_int_equal(journal_iter_get(it, 999999, &b, &len), JOURNAL_ENOTFOUND);
  journal_iter_end(it);
  journal_reader_close(rd);
  cleanup(d);
}


/* The first seq of the journal at d whose record's wall time is at or after t, read from the
 * records themselves (0: none). */
static uint64_t first_at_or_after(const char *d, int64_t t)
{
  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, d, NULL, false), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(rd, 1, &it), 0);
  uint64_t found = 0;
  const uint8_t *b;
  size_t len;
  for (uint64_t s = 1; !found && journal_iter_get(it, s, &b, &len) == 0; s++) {
    struct journal_record r;
    assert_int_equal(journal_record_decode(b, len, &r), 0);
    if (r.wall_ns >= t) found = s;
  }
  journal_iter_end(it);
  journal_reader_close(rd);
  return found;
}

/* journal_seek_time's answer for t in the journal at d, and the group of the first record at or
 * after t: the answer is at or before that record and inside its group. */
static void seek_finds_first(const char *d, int64_t t)
{
  uint64_t want = first_at_or_after(d, t);
  assert_true(want > 0);
  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, d, NULL, false), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(rd, 1, &it), 0);
  uint64_t at = 0, gf, gl;
  assert_int_equal(journal_seek_time(it, t, &at), 0);
  assert_int_equal(journal_group_of(it, want, &gf, &gl), 0);
  assert_true(at >= gf && at <= want);
  journal_iter_end(it);
  journal_reader_close(rd);
}

/* The clock stepped back (an RTC ahead at boot, then NTP; a run at --speed max, then a real-time
 * one): records written after the step carry times earlier than records before it. A time T
 * inside the earlier run still finds its first record there, not in the later run's group that
 * spans T — nor after the times table is rebuilt from the records. */
static void test_seek_time_after_clock_step_back(void **state)
{
  (void)state;
  struct jt_clock clk;
  struct journal_options o;
  char *d;
  struct journal *j = open_new(&clk, 1000000ull, &d, &o); /* 1 ms per stamp */
  struct journal_record r;
  uint64_t s;
  int64_t w0 = clk.wall;
  for (int i = 0; i < 2500; i++) { jt_note_rec(&r, "before the step"); assert_int_equal(journal_append(j, &r, &s), 0); }
  clk.wall = w0 + 1000000000ll; /* back to 1 s after the start */
  for (int i = 0; i < 1500; i++) { jt_note_rec(&r, "after the step"); assert_int_equal(journal_append(j, &r, &s), 0); }
  assert_int_equal(journal_close(j), 0);
  int64_t t = w0 + 1500000000ll;
  assert_true(first_at_or_after(d, t) < 2500); /* T is inside the first run */
  seek_finds_first(d, t);
  seek_finds_first(d, w0 + 2200000000ll);
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);
  struct journal_reindex_info info;
  assert_int_equal(journal_reindex(j, &info), 0);
  assert_int_equal(journal_close(j), 0);
  seek_finds_first(d, t);
  cleanup(d);
}
static void test_map_growth(void **state)
{
  (void)state;
  struct jt_clock clk;
  jt_clock_init(&clk, 1000);
  char *d = jt_mkdtemp();
  struct journal_options o;
  jt_opts(&o, d, &clk);
  o.map_size = 1 << 20;
  assert_int_equal(journal_create(&o, NULL, 0, "test"), 0);
  struct journal *j;
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);
  static uint8_t raw[2100];
  struct journal_record r;
  uint64_t s;
  for (int i = 0; i < 3000; i++) {
    jt_noise_rec(&r, (char *)raw, (uint64_t)i, 2000);
    assert_int_equal(journal_append(j, &r, &s), 0);
  }
  assert_int_equal(journal_sync(j), 0);
  struct journal_stats st;
  journal_get_stats(j, &st);
  assert_true(st.map_grows > 0);
  assert_int_equal(journal_close(j), 0);
  struct journal_verify_result res;
  assert_int_equal(jt_verify_dir(d, &res), 0);
  assert_int_equal(res.last_seq, s + 1);
  jt_rm_rf(d);
  free(d);
}

/* Disk full: map_size_max small → EFULL; every record reported durable before is intact. */
static void test_disk_full(void **state)
{
  (void)state;
  struct jt_clock clk;
  jt_clock_init(&clk, 1000);
  char *d = jt_mkdtemp();
  struct journal_options o;
  jt_opts(&o, d, &clk);
  o.map_size = 512 << 10;
  o.map_size_max = 2 << 20;
  assert_int_equal(journal_create(&o, NULL, 0, "test"), 0);
  struct durable_log *dl = calloc(1, sizeof *dl);
  o.on_durable = on_durable;
  o.ctx = dl;
  struct journal *j;
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);
  static uint8_t raw[4200];
  struct journal_record r;
  uint64_t s;
  int rc = 0, i;
  for (i = 0; i < 100000 && rc == 0; i++) {
    jt_noise_rec(&r, (char *)raw, (uint64_t)i, 4000);
    rc = journal_append(j, &r, &s);
    if (rc == 0 && i % 50 == 49) rc = journal_sync(j);
  }
  assert_int_equal(rc, JOURNAL_EFULL);
  /* Failed writer: every later call returns the same error. */
  assert_int_equal(journal_append(j, &r, &s), JOURNAL_EFULL);
  assert_int_equal(journal_sync(j), JOURNAL_EFULL);
  uint64_t durable = journal_durable_seq(j);
  assert_true(durable > 100);
  assert_int_equal(journal_close(j), JOURNAL_EFULL);
  assert_false(dl->bad_order);
  assert_int_equal(dl->seqs[dl->n - 1], durable);
  /* Reopen: everything durable is there and verifies; appending works again with room. */
  struct journal_verify_result res;
  assert_int_equal(jt_verify_dir(d, &res), 0);
  assert_true(res.last_seq >= durable);
  o.on_durable = NULL;
  o.map_size_max = 0;
  struct journal_open_info info;
  assert_int_equal(journal_open(&j, &o, &info, NULL), 0);
  assert_true(info.head_seq >= durable);
  jt_note_rec(&r, "after full");
  assert_int_equal(journal_append(j, &r, &s), 0);
  assert_int_equal(s, info.head_seq + 1);
  assert_int_equal(journal_close(j), 0);
  assert_int_equal(jt_verify_dir(d, &res), 0);
  free(dl);
  jt_rm_rf(d);
  free(d);
}

static void test_retention(void **state)
{
  (void)state;
  struct jt_clock clk;
  struct journal_options o;
  char *d;
  struct journal *j = open_new(&clk, 1000000000ull, &d, &o); /* 1 s per stamp */
  struct journal_record r;
  uint64_t s;
  for (int i = 0; i < 60; i++) {
    jt_note_rec(&r, "old");
    assert_int_equal(journal_append(j, &r, &s), 0);
  }
  /* Retention deletes whole packs (one per commit): the commit here makes the old records end
   * a pack, so the cut can fall right after them. */
  assert_int_equal(journal_sync(j), 0);
  clk.wall += 3600ll * 1000000000ll;
  for (int i = 0; i < 10; i++) {
    jt_note_rec(&r, "new");
    assert_int_equal(journal_append(j, &r, &s), 0);
  }
  assert_int_equal(journal_sync(j), 0);
  uint64_t cut = 0;
  assert_int_equal(journal_retention_run(j, 1800ll * 1000000000ll, NULL, NULL, &cut), 0);
  assert_true(cut > 100);
  assert_true(cut < s);
  assert_int_equal(journal_close(j), 0);

  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, d, NULL, false), 0);
  uint64_t first, last;
  assert_int_equal(journal_reader_bounds(rd, &first, &last), 0);
  assert_int_equal(first, cut + 1);
  journal_reader_close(rd);
  struct journal_verify_result res;
  assert_int_equal(jt_verify_dir(d, &res), 0);
  assert_int_equal(res.first_seq, cut + 1);
  /* The archive is a bundle of 1..cut that verifies with the dir's key. */
  char name[64];
  snprintf(name, sizeof name, "%020llu-%020llu.hems", 1ull, (unsigned long long)cut);
  uint8_t pk[32];
  assert_int_equal(jt_pubkey(d, pk), 0);
  assert_int_equal(jt_verify_bundle(jt_path("%s/archive/%s", d, name), pk, &res), 0);
  assert_int_equal(res.first_seq, 1);
  assert_int_equal(res.last_seq, cut);
  cleanup(d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_reopen_continues),
    cmocka_unit_test(test_group_boundaries),
    cmocka_unit_test(test_virtual_clock),
    cmocka_unit_test(test_second_writer_and_readers),
    cmocka_unit_test(test_index_and_blobs),
    cmocka_unit_test(test_seek_time_after_clock_step_back),
    cmocka_unit_test(test_map_growth),
    cmocka_unit_test(test_disk_full),
    cmocka_unit_test(test_retention),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
