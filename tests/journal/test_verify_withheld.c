/*
 * test_verify_withheld.c — journal_verify over a source with withheld records (next() returning
 * 2 with the record's leaf hash: what `hems collect` gets from `hems ship --withhold`).
 *
 * A journal is written (fault records in groups of 5, each seal with its tree root), read into
 * memory, and verified from a source that withholds some records, the leaf hash computed here
 * with OpenSSL's SHA256(0x00 || record) (RFC 9162 §2.1.1), not with the library's hasher:
 *   - from seq 1, every third non-seal record withheld: verifies, the same counts as in full;
 *   - one withheld leaf with one bit changed: JOURNAL_EPROOF at the seal after it;
 *   - a shipped record changed next to a withheld one (its chain link to the withheld one is
 *     not checkable): still caught (JOURNAL_EPROOF via the tree, or its seal);
 *   - from a later seq with no tree given: refused (JOURNAL_EPROOF, "withheld"); with tree_from
 *     of the records before it: verifies; tree_from of another size: refused;
 *   - journal_verify_opt and the checked source refuse a withheld record;
 *   - a full source (nothing withheld) from a later seq with tree_from: a wrong root is caught.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <openssl/sha.h>
#include "jt_util.h"

#define N 60

static uint8_t *g_rec[N + 64];
static size_t g_len[N + 64];
static uint64_t g_n;

struct src { uint64_t i, from; bool withhold[N + 64]; uint8_t leaf[N + 64][32]; };

static int next(void *ctx, uint64_t *seq, const uint8_t **bytes, size_t *len, const char **why)
{
  (void)why;
  struct src *s = ctx;
  if (s->i >= g_n) return 0;
  uint64_t i = s->i++;
  *seq = i + 1;
  if (s->withhold[i]) { *bytes = s->leaf[i]; *len = 32; return 2; }
  *bytes = g_rec[i];
  *len = g_len[i];
  return 1;
}

static void leaf_of(const uint8_t *b, size_t len, uint8_t out[32])
{
  uint8_t *p = malloc(len + 1);
  p[0] = 0;
  memcpy(p + 1, b, len);
  SHA256(p, len + 1, out);
  free(p);
}

static bool is_seal(uint64_t i)
{
  uint64_t seq;
  unsigned type;
  uint8_t prev[32];
  return journal_record_peek(g_rec[i], g_len[i], &seq, &type, prev) == 0 && type == JOURNAL_T_SEAL;
}

static char *g_base, *g_dir;
static uint8_t g_pk[32];

static int setup(void **state)
{
  (void)state;
  g_dir = jt_init_dir(&g_base, NULL, NULL);
  struct jt_clock clk;
  jt_clock_init(&clk, 1000000);
  struct journal_options o;
  jt_opts(&o, g_dir, &clk);
  o.group_records_max = 5;
  o.group_span_ns = 1ull << 62;
  struct journal *j;
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);
  for (int i = 0; i < N; i++) {
    struct journal_record rec;
    jt_fault_rec(&rec, "withheld", i);
    assert_int_equal(journal_append(j, &rec, NULL), 0);
  }
  assert_int_equal(journal_close(j), 0);
  struct journal_reader *r;
  assert_int_equal(journal_reader_open(&r, g_dir, NULL, true), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(r, 1, &it), 0);
  uint64_t seq;
  const uint8_t *b;
  size_t len;
  while (journal_iter_next(it, &seq, &b, &len) == 1) {
    assert_true(g_n < N + 64 && seq == g_n + 1);
    g_rec[g_n] = malloc(len);
    memcpy(g_rec[g_n], b, len);
    g_len[g_n++] = len;
  }
  journal_iter_end(it);
  journal_reader_close(r);
  assert_int_equal(jt_pubkey(g_dir, g_pk), 0);
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  for (uint64_t i = 0; i < g_n; i++) free(g_rec[i]);
  jt_rm_rf(g_base);
  free(g_base);
  free(g_dir);
  return 0;
}

/* Withholds every third record after the first 12 that is no seal, key, boot or config (a
 * fault record here). */
static struct src *withholding(void)
{
  struct src *s = calloc(1, sizeof *s);
  int k = 0;
  for (uint64_t i = 12; i < g_n; i++) {
    uint64_t seq;
    unsigned type;
    uint8_t prev[32];
    assert_int_equal(journal_record_peek(g_rec[i], g_len[i], &seq, &type, prev), 0);
    if (type == JOURNAL_T_FAULT && k++ % 3 == 0) {
      s->withhold[i] = true;
      leaf_of(g_rec[i], g_len[i], s->leaf[i]);
    }
  }
  return s;
}

static int run(struct src *s, const struct journal_merkle_appender *from, struct journal_verify_result *res)
{
  s->i = s->from;
  struct journal_record_source rs = { .next = next, .ctx = s, .device_id = NULL, .tree_from = from };
  static char dev[33];
  struct journal_reader *r;
  assert_int_equal(journal_reader_open(&r, g_dir, NULL, true), 0);
  assert_int_equal(journal_reader_device_id(r, dev), 0);
  journal_reader_close(r);
  rs.device_id = dev;
  uint8_t prev[32] = { 0 };
  if (s->from) journal_record_hash(g_rec[s->from - 1], g_len[s->from - 1], prev);
  return journal_verify(&rs, g_pk, s->from ? prev : NULL, res, NULL, NULL);
}

static void test_withheld_verifies(void **state)
{
  (void)state;
  struct src full = { 0 };
  struct journal_verify_result a, b;
  assert_int_equal(run(&full, NULL, &a), 0);
  struct src *s = withholding();
  int held = 0;
  for (uint64_t i = 0; i < g_n; i++) held += s->withhold[i];
  assert_true(held >= 10);
  int rc = run(s, NULL, &b);
  if (rc) fail_msg("withheld: %s at %llu: %s", journal_strerror(rc), (unsigned long long)b.bad_seq, b.reason);
  assert_int_equal(a.records, b.records);
  assert_int_equal(a.seals, b.seals);
  assert_int_equal(a.last_sealed_seq, b.last_sealed_seq);
  free(s);
}

static void test_altered_leaf(void **state)
{
  (void)state;
  struct src *s = withholding();
  uint64_t w = 0;
  for (uint64_t i = 0; i < g_n && !w; i++)
    if (s->withhold[i]) w = i;
  s->leaf[w][31] ^= 1;
  struct journal_verify_result res;
  assert_int_equal(run(s, NULL, &res), JOURNAL_EPROOF);
  uint64_t seal = w;
  while (!is_seal(seal)) seal++;
  assert_int_equal(res.bad_seq, seal + 1);
  free(s);
}

static void test_changed_neighbour(void **state)
{
  (void)state;
  struct src *s = withholding();
  uint64_t w = 0;
  for (uint64_t i = 1; i < g_n && !w; i++)
    if (s->withhold[i] && !s->withhold[i + 1] && !is_seal(i + 1)) w = i + 1; /* the record after a withheld one */
  assert_true(w > 0);
  uint8_t *keep = g_rec[w];
  g_rec[w] = malloc(g_len[w]);
  memcpy(g_rec[w], keep, g_len[w]);
  g_rec[w][g_len[w] - 1] ^= 1;
  struct journal_verify_result res;
  int rc = run(s, NULL, &res);
  free(g_rec[w]);
  g_rec[w] = keep;
  assert_int_not_equal(rc, 0);
  assert_true(res.bad_seq >= w + 1);
  free(s);
}

/* The tree of records 1..upto into a (leaf 3 with one bit changed when damaged). */
static void tree_before(struct journal_merkle_appender *a, struct journal_merkle_hasher *h, uint64_t upto, bool damaged)
{
  journal_merkle_appender_init(a, h, NULL, NULL);
  for (uint64_t i = 0; i < upto; i++) {
    uint8_t l[32];
    leaf_of(g_rec[i], g_len[i], l);
    if (damaged && i == 2) l[0] ^= 1;
    assert_int_equal(journal_merkle_append(a, l), 0);
  }
}

static void test_tree_needed(void **state)
{
  (void)state;
  struct src *s = withholding();
  /* from the seal before the first withheld record, plus one */
  uint64_t w = 0;
  for (uint64_t i = 0; i < g_n && !w; i++)
    if (s->withhold[i]) w = i;
  uint64_t from = w;
  while (!is_seal(from - 1)) from--;
  s->from = from;
  struct journal_verify_result res;
  assert_int_equal(run(s, NULL, &res), JOURNAL_EPROOF);
  assert_non_null(strstr(res.reason, "withheld"));

  struct journal_merkle_hasher h;
  assert_int_equal(journal_merkle_hasher_init(&h), 0);
  struct journal_merkle_appender *a = malloc(sizeof *a);
  tree_before(a, &h, from, false);
  int rc = run(s, a, &res);
  if (rc) fail_msg("tree_from: %s at %llu: %s", journal_strerror(rc), (unsigned long long)res.bad_seq, res.reason);
  /* a tree of another size is not taken: refused as without one */
  uint8_t l[32] = { 0 };
  assert_int_equal(journal_merkle_append(a, l), 0);
  assert_int_equal(run(s, a, &res), JOURNAL_EPROOF);

  /* the full source from there with the right tree, one leaf of it wrong: a seal's root differs */
  struct src full = { 0 };
  full.from = from;
  tree_before(a, &h, from, true);
  assert_int_equal(run(&full, a, &res), JOURNAL_EPROOF);
  free(a);
  journal_merkle_hasher_deinit(&h);
  free(s);
}

static void test_opt_and_checked_refuse(void **state)
{
  (void)state;
  struct src *s = withholding();
  struct journal_verify_result res;
  assert_int_equal(run(s, NULL, &res), 0); /* sets the device id, as below */
  static char dev[33];
  struct journal_reader *r;
  assert_int_equal(journal_reader_open(&r, g_dir, NULL, true), 0);
  assert_int_equal(journal_reader_device_id(r, dev), 0);
  journal_reader_close(r);
  s->i = 0;
  struct journal_record_source rs = { .next = next, .ctx = s, .device_id = dev };
  struct journal_verify_opts o = { .threads = 2, .all_seals = true };
  assert_int_equal(journal_verify_opt(&rs, g_pk, NULL, &o, &res), JOURNAL_EPROOF);
  assert_non_null(strstr(res.reason, "withheld"));
  s->i = 0;
  o.threads = 1;
  assert_int_equal(journal_verify_opt(&rs, g_pk, NULL, &o, &res), JOURNAL_EPROOF);
  s->i = 0;
  struct journal_checked *c;
  assert_int_equal(journal_checked_open(&c, &rs, g_pk, NULL), 0);
  struct journal_record_source *cs = journal_checked_source(c);
  uint64_t seq;
  const uint8_t *b;
  size_t len;
  const char *why = NULL;
  int got;
  while ((got = cs->next(cs->ctx, &seq, &b, &len, &why)) == 1) assert_false(s->withhold[seq - 1]);
  assert_int_equal(got, JOURNAL_EPROOF);
  assert_non_null(strstr(why, "withheld"));
  journal_checked_close(c);
  free(s);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_withheld_verifies),
    cmocka_unit_test(test_altered_leaf),
    cmocka_unit_test(test_changed_neighbour),
    cmocka_unit_test(test_tree_needed),
    cmocka_unit_test(test_opt_and_checked_refuse),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
