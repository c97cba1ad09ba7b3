/*
 * test_retention_cut.c — retention cuts by position (journal_retention_cut: quota and disk
 * pressure), twice in a row: each archive verifies with the dir's key (the second one's tree
 * frontier starts inside the first cut's partial level-0 tile, which the cut keeps), the journal
 * verifies from the second cut on, the blobs only cut records name are removed and a blob a kept
 * record names too stays; journal_space_get's pages in use fall after the cut while the file
 * keeps its size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "jt_util.h"

static void pq_rec(struct journal_record *r, const uint8_t capture[32])
{
  memset(r, 0, sizeof *r);
  r->type = JOURNAL_T_PQ_EVENT;
  r->source.kind = JOURNAL_SRC_PANEL;
  r->body.pq_event.nph = 0;
  memcpy(r->body.pq_event.capture, capture, 32);
}

static void notes(struct journal *j, int n)
{
  struct journal_record r;
  for (int i = 0; i < n; i++) {
    jt_note_rec(&r, "filler note for the cut");
    assert_int_equal(journal_append(j, &r, NULL), 0);
  }
}

static int blob_present(const char *dir, const uint8_t h[32])
{
  struct journal_reader *r;
  assert_int_equal(journal_reader_open(&r, dir, NULL, false), 0);
  struct journal_iter *it;
  uint64_t first, last;
  assert_int_equal(journal_reader_bounds(r, &first, &last), 0);
  assert_int_equal(journal_iter_begin(r, first, &it), 0);
  uint8_t *data = NULL;
  size_t len;
  int rc = journal_iter_get_blob(it, h, &data, &len);
  free(data);
  journal_iter_end(it);
  journal_reader_close(r);
  return rc == 0;
}

static void archive_verifies(const char *d, uint64_t from, uint64_t to)
{
  uint8_t pk[32];
  struct journal_verify_result res;
  assert_int_equal(jt_pubkey(d, pk), 0);
  char *p = jt_path("%s/archive/%020llu-%020llu.hems", d, (unsigned long long)from, (unsigned long long)to);
  assert_int_equal(jt_verify_bundle(p, pk, &res), 0);
  assert_int_equal(res.first_seq, from);
  assert_int_equal(res.last_seq, to);
}

static void test_cut_twice(void **state)
{
  (void)state;
  struct jt_clock clk;
  jt_clock_init(&clk, 1000000000ull);
  char *base = jt_mkdtemp();
  char d[512];
  snprintf(d, sizeof d, "%.400s/data", base);
  struct journal_options o;
  jt_opts(&o, d, &clk);
  assert_int_equal(journal_create(&o, "{}", 2, "test"), 0);
  struct journal *j;
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);

  static const char only_old[] = "a capture only the cut records name", shared[] = "a capture named before and after the cut";
  uint8_t ha[32], hb[32];
  struct journal_record r;
  notes(j, 50);
  assert_int_equal(journal_put_blob(j, (const uint8_t *)only_old, sizeof only_old, ha), 0);
  pq_rec(&r, ha);
  assert_int_equal(journal_append(j, &r, NULL), 0);
  assert_int_equal(journal_put_blob(j, (const uint8_t *)shared, sizeof shared, hb), 0);
  pq_rec(&r, hb);
  assert_int_equal(journal_append(j, &r, NULL), 0);
  notes(j, 50);
  assert_int_equal(journal_sync(j), 0);
  uint64_t s1 = journal_head_seq(j);
  assert_true(s1 % 256 != 0); /* the cut falls inside a level-0 tile */
  notes(j, 80);
  pq_rec(&r, hb);
  assert_int_equal(journal_append(j, &r, NULL), 0);
  notes(j, 20);
  assert_int_equal(journal_sync(j), 0);

  struct journal_space before, after;
  assert_int_equal(journal_space_get(j, &before), 0);
  assert_int_equal(before.first_seq, 1);
  /* by position only (no age): every group up to s1, which a commit ended */
  uint64_t cut = 0;
  assert_int_equal(journal_retention_cut(j, 0, s1, NULL, NULL, &cut), 0);
  assert_int_equal(cut, s1);
  assert_int_equal(journal_space_get(j, &after), 0);
  assert_int_equal(after.first_seq, s1 + 1);
  assert_true(after.used_bytes < before.used_bytes);
  assert_true(after.file_bytes >= before.file_bytes);
  notes(j, 40);
  assert_int_equal(journal_sync(j), 0);
  uint64_t s2 = journal_head_seq(j);
  assert_int_equal(journal_close(j), 0);
  archive_verifies(d, 1, s1);
  assert_false(blob_present(d, ha)); /* only a cut record named it */
  assert_true(blob_present(d, hb));  /* a kept record names it too */

  /* the second cut: its archive's tree starts at s1, inside the tile the first cut kept */
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);
  notes(j, 3); /* the newest group is never cut */
  assert_int_equal(journal_sync(j), 0);
  assert_int_equal(journal_retention_cut(j, 0, s2, NULL, NULL, &cut), 0);
  assert_int_equal(cut, s2);
  assert_int_equal(journal_close(j), 0);
  archive_verifies(d, s1 + 1, s2);
  assert_false(blob_present(d, hb)); /* its last naming record is cut now */
  struct journal_verify_result res;
  assert_int_equal(jt_verify_dir(d, &res), 0);
  assert_int_equal(res.first_seq, s2 + 1);
  jt_rm_rf(base);
  free(base);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_cut_twice),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
