/*
 * test_index_keys.c — the branches a record is indexed under (docs/journal.md "Indexes": its
 * branch or tap source, and the body's top-level "branch", "target" and "branches") are the same
 * for a record's schema v 1 bytes (read by name from the CBOR) and its v 3 bytes (integer keys,
 * read from the decoded record): hand-built records against the branches the rule names, and
 * every record type of the fixtures, v 1 against v 3, over many seeds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
/* the fixtures header's comparison and corruption helpers are not used here */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "jt_records.h"
#pragma GCC diagnostic pop

static int u16_cmp(const void *a, const void *b)
{
  uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
  return (x > y) - (x < y);
}

/* The record's branches in schema `version`, sorted; returns their count. */
static int branches_as(struct journal_record *r, unsigned version, uint16_t *out)
{
  static uint8_t buf[JOURNAL_RECORD_MAX];
  size_t len = 0;
  r->version = version;
  assert_int_equal(journal_record_encode(r, buf, sizeof buf, &len), 0);
  int n = journal_record_branches(buf, len, out, 64);
  assert_true(n >= 0);
  qsort(out, (size_t)n, sizeof *out, u16_cmp);
  return n;
}

/* Both schemas give exactly want[0..n) (sorted). */
static void expect_branches(struct journal_record *r, const uint16_t *want, int n)
{
  static const unsigned versions[] = { JOURNAL_SCHEMA_V1, JOURNAL_SCHEMA_V3 };
  for (int v = 0; v < 2; v++) {
    uint16_t got[64];
    int m = branches_as(r, versions[v], got);
    assert_int_equal(m, n);
    if (n) assert_memory_equal(got, want, (size_t)n * sizeof *want);
  }
}

static void base(struct journal_record *r, unsigned type, uint8_t src_kind, uint8_t sub, uint16_t index)
{
  memset(r, 0, sizeof *r);
  r->seq = 42;
  r->type = (uint16_t)type;
  memcpy(r->boot_id, jt_boot_id, 16);
  r->source.kind = src_kind;
  r->source.sub = sub;
  r->source.index = index;
}

/* Records built by hand: the branches each names under the rule. */
static void test_branches_by_the_rule(void **state)
{
  (void)state;
  struct journal_record r;
  /* an operator's request for branch 13: the target only (source names no branch) */
  base(&r, JOURNAL_T_REQUEST, JOURNAL_SRC_OPERATOR, 0, 0);
  r.body.request.target = 13;
  expect_branches(&r, (const uint16_t[]){ 13 }, 1);
  /* the same request for the service disconnect (target 0, "service" in v 1): no branch */
  r.body.request.target = JOURNAL_TARGET_SERVICE;
  expect_branches(&r, NULL, 0);
  /* a command from branch 3 for branch 5: source and target */
  base(&r, JOURNAL_T_COMMAND, JOURNAL_SRC_BRANCH, 0, 3);
  r.body.command.target = 5;
  expect_branches(&r, (const uint16_t[]){ 3, 5 }, 2);
  /* a DER record from der:pv naming branch 8 in its body */
  base(&r, JOURNAL_T_DER, JOURNAL_SRC_DER, 0, 0);
  r.body.der.branch = 8;
  expect_branches(&r, (const uint16_t[]){ 8 }, 1);
  /* a window from afe:2 measuring branches 1, 2 and 24 (and 2 again): the "branches" array */
  base(&r, JOURNAL_T_WINDOW, JOURNAL_SRC_AFE, 0, 2);
  r.body.window.nbranches = 4;
  r.body.window.branches[0] = 24;
  r.body.window.branches[1] = 2;
  r.body.window.branches[2] = 1;
  r.body.window.branches[3] = 2;
  expect_branches(&r, (const uint16_t[]){ 1, 2, 24 }, 3);
}

/* Every type of the fixtures (all fields set, sources of every kind): v 1 and v 3 agree. */
static void test_v1_and_v3_agree_every_type(void **state)
{
  (void)state;
  unsigned compared = 0, with_branches = 0;
  for (unsigned t = 1; t < JOURNAL_T__MAX; t++)
    for (uint64_t seq = 1; seq <= 60; seq++) {
      struct journal_record r;
      uint8_t raw[256];
      size_t rawlen = 0;
      make_record(t, seq, &r, raw, &rawlen);
      uint16_t a[64], b[64];
      int na = branches_as(&r, JOURNAL_SCHEMA_V1, a), nb = branches_as(&r, JOURNAL_SCHEMA_V3, b);
      assert_int_equal(na, nb);
      if (na) assert_memory_equal(a, b, (size_t)na * sizeof *a);
      compared++;
      with_branches += na > 0;
    }
  assert_true(compared > 0);
  assert_true(with_branches > compared / 4); /* the comparison saw branches, not only empty sets */
}

int main(void)
{
  jt_records_init();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_branches_by_the_rule),
    cmocka_unit_test(test_v1_and_v3_agree_every_type),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
