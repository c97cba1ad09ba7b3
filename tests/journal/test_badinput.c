/*
 * test_badinput.c — DESIGN.md invariant 8 for the journal and CLI: missing data dir or
 * journal, corrupt data.mdb, missing or 0644 signing key, a record with an unknown schema
 * version, bad arguments, disk full → one clear error line, the documented exit code, no crash,
 * nothing durable lost.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "jt_util.h"

static void expect_one_line(struct jt_out *o, int code, const char *what, const char *needle)
{
  if (o->status != code) fail_msg("%s: exit %d, want %d: %s", what, o->status, code, o->err);
  if (strncmp(o->err, "hems: ", 6) != 0) fail_msg("%s: stderr does not start with 'hems: ': %s", what, o->err);
  if (jt_lines(o->err) != 1) fail_msg("%s: want one stderr line: %s", what, o->err);
  if (needle && !strstr(o->err, needle)) fail_msg("%s: stderr lacks '%s': %s", what, needle, o->err);
}

static char *init_dir(char *base)
{
  char *d = strdup(jt_path("%s/data", base));
  struct jt_out o;
  jt_hems(&o, "init", "--dir", d, NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  for (int i = 0; i < 4; i++) {
    jt_hems(&o, "note", "--dir", d, "a note", NULL);
    assert_int_equal(o.status, 0);
    jt_out_free(&o);
  }
  return d;
}

static void test_missing(void **state)
{
  (void)state;
  char *base = jt_mkdtemp();
  char *nodir = strdup(jt_path("%s/nope", base));
  struct jt_out o;
  const char *cmds[] = { "verify", "timeline", "note", "show", "export" };
  for (size_t i = 0; i < 5; i++) {
    if (!strcmp(cmds[i], "note")) jt_hems(&o, "note", "--dir", nodir, "x", NULL);
    else if (!strcmp(cmds[i], "show")) jt_hems(&o, "show", "--dir", nodir, "1", NULL);
    else if (!strcmp(cmds[i], "export")) jt_hems(&o, "export", "--dir", nodir, "--out", jt_path("%s/o.hems", base), NULL);
    else jt_hems(&o, cmds[i], "--dir", nodir, NULL);
    expect_one_line(&o, 3, cmds[i], nodir);
    jt_out_free(&o);
  }
  /* dir exists, no journal in it */
  char *empty = strdup(jt_path("%s/empty", base));
  mkdir(empty, 0700);
  jt_hems(&o, "verify", "--dir", empty, NULL);
  expect_one_line(&o, 3, "verify empty dir", "no journal");
  jt_out_free(&o);
  jt_hems(&o, "note", "--dir", empty, "x", NULL);
  expect_one_line(&o, 3, "note empty dir", NULL);
  jt_out_free(&o);
  jt_rm_rf(base);
  free(base); free(nodir); free(empty);
}

static void test_corrupt_lmdb(void **state)
{
  (void)state;
  char *base = jt_mkdtemp();
  char *d = init_dir(base);
  size_t n;
  char *p = strdup(jt_path("%s/journal/data.mdb", d));
  uint8_t *b = jt_read_file(p, &n);
  assert_non_null(b);
  uint32_t x = 99;
  for (size_t i = 0; i < n; i++) { x = x * 1103515245u + 12345u; b[i] = (uint8_t)(x >> 16); }
  assert_int_equal(jt_write_file(p, b, n), 0);
  free(b);
  struct jt_out o;
  jt_hems(&o, "timeline", "--dir", d, NULL);
  expect_one_line(&o, 3, "timeline corrupt", NULL);
  jt_out_free(&o);
  jt_hems(&o, "show", "--dir", d, "1", NULL);
  expect_one_line(&o, 3, "show corrupt", NULL);
  jt_out_free(&o);
  jt_hems(&o, "note", "--dir", d, "x", NULL);
  expect_one_line(&o, 3, "note corrupt", NULL);
  jt_out_free(&o);
  jt_hems(&o, "verify", "--dir", d, NULL);
  if (o.status != 1 && o.status != 3) fail_msg("verify corrupt: exit %d (crash?): %s", o.status, o.err);
  jt_out_free(&o);
  /* truncated to a few bytes */
  assert_int_equal(jt_write_file(p, "garbage", 7), 0);
  jt_hems(&o, "verify", "--dir", d, NULL);
  if (o.status != 1 && o.status != 3) fail_msg("verify tiny: exit %d: %s", o.status, o.err);
  jt_out_free(&o);
  jt_hems(&o, "timeline", "--dir", d, NULL);
  expect_one_line(&o, 3, "timeline tiny", NULL);
  jt_out_free(&o);
  jt_rm_rf(base);
  free(base); free(d); free(p);
}

static void test_keys(void **state)
{
  (void)state;
  char *base = jt_mkdtemp();
  char *d = init_dir(base);
  char *key = strdup(jt_path("%s/keys/signing.key", d));
  struct stat st;
  assert_int_equal(stat(key, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  struct jt_out o;
  assert_int_equal(chmod(key, 0644), 0);
  jt_hems(&o, "note", "--dir", d, "x", NULL);
  expect_one_line(&o, 3, "note 0644 key", "signing.key");
  jt_out_free(&o);
  assert_int_equal(chmod(key, 0640), 0);
  jt_hems(&o, "note", "--dir", d, "x", NULL);
  expect_one_line(&o, 3, "note 0640 key", "signing.key");
  jt_out_free(&o);
  assert_int_equal(chmod(key, 0600), 0);
  assert_int_equal(rename(key, jt_path("%s/saved.key", base)), 0);
  jt_hems(&o, "note", "--dir", d, "x", NULL);
  expect_one_line(&o, 3, "note without key", "signing.key");
  jt_out_free(&o);
  /* verifying needs only the public key */
  jt_hems(&o, "verify", "--dir", d, NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  assert_int_equal(jt_write_file(key, "short", 5), 0);
  chmod(key, 0600);
  jt_hems(&o, "note", "--dir", d, "x", NULL);
  expect_one_line(&o, 3, "note malformed key", "signing.key");
  jt_out_free(&o);
  jt_rm_rf(base);
  free(base); free(d); free(key);
}

static void test_schema_version(void **state)
{
  (void)state;
  char *base = jt_mkdtemp();
  char *d = init_dir(base);
  /* Patch the version of a note in the middle: map(10) 00 bstr32 … 01 <seq> 02 01. */
  struct jt_lmdb l;
  assert_int_equal(jt_lmdb_open(&l, d), 0);
  MDB_txn *t;
  assert_int_equal(mdb_txn_begin(l.env, NULL, 0, &t), 0);
  uint64_t target = 9;
  uint8_t *b;
  size_t n;
  assert_int_equal(jt_get(t, l.records, target, &b, &n), 0);
  assert_int_equal(b[36], 0x01);
  assert_int_equal(b[37], target);   /* seq < 24: one byte */
  assert_int_equal(b[38], 0x02);
  assert_int_equal(b[39], JOURNAL_SCHEMA_V3); /* format 3 writes schema v 3 */
  b[39] = JOURNAL_SCHEMA_V3 + 1;
  struct journal_record r;
  assert_int_equal(journal_record_decode(b, n, &r), JOURNAL_EVERSION);
  assert_int_equal(jt_put(t, l.records, target, b, n), 0);
  free(b);
  assert_int_equal(mdb_txn_commit(t), 0);
  jt_lmdb_close(&l);
  assert_int_equal(jt_counter_to_head(d), 0); /* as a writer of such records would leave it */
  struct jt_out o;
  jt_hems(&o, "verify", "--dir", d, NULL);
  assert_int_equal(o.status, 1);
  if (!strstr(o.out, "first bad seq 9: ")) fail_msg("verify: %s / %s", o.out, o.err);
  assert_non_null(strstr(o.out, "schema version"));
  jt_out_free(&o);
  jt_hems(&o, "show", "--dir", d, "9", NULL);
  if (o.status == 0 || o.status >= 128) fail_msg("show of a v2 record: exit %d", o.status);
  jt_out_free(&o);
  jt_hems(&o, "timeline", "--dir", d, "--format", "jsonl", NULL);
  if (o.status >= 128) fail_msg("timeline crashed");
  jt_out_free(&o);
  jt_rm_rf(base);
  free(base); free(d);
}

static void test_bad_args(void **state)
{
  (void)state;
  struct jt_out o;
  jt_hems(&o, "frobnicate", NULL);
  expect_one_line(&o, 2, "unknown command", NULL);
  jt_out_free(&o);
  jt_hems(&o, "verify", "--bogus", NULL);
  assert_int_equal(o.status, 2);
  jt_out_free(&o);
  jt_hems(&o, "verify", "--from", "0", NULL);
  assert_int_equal(o.status, 2);
  jt_out_free(&o);
  jt_hems(&o, "show", "--dir", "/nonexistent", "notaseq", NULL);
  assert_int_equal(o.status, 2);
  jt_out_free(&o);
  jt_hems(&o, "timeline", "--since", "yesterday-ish", "--dir", "/nonexistent", NULL);
  assert_int_equal(o.status, 2);
  jt_out_free(&o);
  jt_hems(&o, "verify", "--help", NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
}

struct dlog { uint64_t last; int n; };
static void on_durable(void *ctx, uint64_t seq) { struct dlog *l = ctx; l->last = seq; l->n++; }

static void test_disk_full(void **state)
{
  (void)state;
  char *base = jt_mkdtemp();
  char *d = strdup(jt_path("%s/data", base));
  struct jt_clock clk;
  jt_clock_init(&clk, 1000);
  struct journal_options o;
  jt_opts(&o, d, &clk);
  o.map_size = 256 << 10;
  o.map_size_max = 1 << 20;
  assert_int_equal(journal_create(&o, NULL, 0, "test"), 0);
  struct dlog dl = { 0, 0 };
  o.on_durable = on_durable;
  o.ctx = &dl;
  struct journal *j;
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);
  struct journal_record r;
  static char pad[8000];
  int rc = 0;
  for (int i = 0; i < 10000 && !rc; i++) {
    jt_noise_rec(&r, pad, (uint64_t)i, 6000);
    rc = journal_append(j, &r, NULL);
    if (!rc && i % 10 == 9) rc = journal_sync(j);
  }
  assert_int_equal(rc, JOURNAL_EFULL);
  assert_string_equal(journal_strerror(rc), "storage full");
  uint64_t durable = journal_durable_seq(j);
  assert_int_equal(dl.last, durable);
  journal_close(j);
  /* The CLI reads it fine and everything durable verifies. */
  struct jt_out out;
  jt_hems(&out, "verify", "--dir", d, NULL);
  if (out.status != 0) fail_msg("verify after full: %d %s %s", out.status, out.out, out.err);
  jt_out_free(&out);
  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, d, NULL, false), 0);
  uint64_t first, last;
  assert_int_equal(journal_reader_bounds(rd, &first, &last), 0);
  assert_true(last >= durable);
  journal_reader_close(rd);
  jt_rm_rf(base);
  free(base); free(d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_missing),
    cmocka_unit_test(test_corrupt_lmdb),
    cmocka_unit_test(test_keys),
    cmocka_unit_test(test_schema_version),
    cmocka_unit_test(test_bad_args),
    cmocka_unit_test(test_disk_full),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
