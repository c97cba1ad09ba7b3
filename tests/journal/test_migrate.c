/*
 * test_migrate.c — `hems migrate` on a format-2 journal written by the code before format 3
 * (tests/data/journal-v2, with its keys): the writer refuses it naming `hems migrate`; after
 * migrating, every record has exactly the bytes it had in the old `records` database (read
 * here with LMDB directly), verify passes and replay reaches the same state hash; a damaged
 * one (a byte of a record flipped in `records`) is refused naming that seq, and data.mdb is
 * left byte for byte as it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include "jt_util.h"
#include "jt_v2.h"

static void state_hash(const char *dir, char out[65])
{
  struct jt_out o;
  jt_hems(&o, "replay", "--dir", dir, "--no-checkpoints", NULL);
  if (o.status != 0) fail_msg("replay %s: exit %d: %s", dir, o.status, o.err);
  const char *p = strstr(o.out, "state hash ");
  assert_non_null(p);
  memcpy(out, p + 11, 64);
  out[64] = 0;
  jt_out_free(&o);
}

static void test_writer_refused(void **state)
{
  (void)state;
  char *base = jt_mkdtemp(), *d = jt_v2_copy_fixture(base, "w");
  struct jt_out o;
  jt_hems(&o, "note", "--dir", d, "refused", NULL);
  assert_int_equal(o.status, 3);
  char want[4300];
  snprintf(want, sizeof want, "hems: %s: journal format 2; run 'hems migrate --dir %s'\n", d, d);
  assert_string_equal(o.err, want);
  jt_out_free(&o);
  /* readers still read it */
  jt_hems(&o, "verify", "--dir", d, NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  jt_rm_rf(base);
  free(base);
  free(d);
}

static void test_migrate_intact(void **state)
{
  (void)state;
  char *base = jt_mkdtemp(), *d = jt_v2_copy_fixture(base, "m");
  struct jt_v2recs v;
  jt_v2_read(d, &v, NULL);
  char before[65], after[65];
  state_hash(d, before);
  jt_v2_migrate(d, v.count);
  /* the exact bytes, seq by seq */
  jt_v2_expect_records(d, &v, NULL);
  struct jt_out o;
  jt_hems(&o, "verify", "--dir", d, NULL);
  if (o.status != 0) fail_msg("verify after migrate: %s%s", o.out, o.err);
  jt_out_free(&o);
  state_hash(d, after);
  assert_string_equal(before, after);
  /* a writer continues the same chain */
  jt_hems(&o, "note", "--dir", d, "after migration", NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  jt_hems(&o, "verify", "--dir", d, NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  jt_hems(&o, "migrate", "--dir", d, NULL);
  assert_int_equal(o.status, 0);
  assert_non_null(strstr(o.out, "already"));
  jt_out_free(&o);
  jt_v2_free(&v);
  jt_rm_rf(base);
  free(base);
  free(d);
}

static void test_migrate_damaged(void **state)
{
  (void)state;
  char *base = jt_mkdtemp(), *d = jt_v2_copy_fixture(base, "dmg");
  /* flip the last byte of record 100 (inside its body) in `records` */
  MDB_env *env;
  assert_int_equal(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 16);
  assert_int_equal(mdb_env_open(env, jt_path("%s/journal", d), 0, 0600), 0);
  MDB_txn *t;
  MDB_dbi db;
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &t), 0);
  assert_int_equal(mdb_dbi_open(t, "records", 0, &db), 0);
  uint8_t kb[8];
  jt_be64(kb, 100);
  MDB_val k = { 8, kb }, val;
  assert_int_equal(mdb_get(t, db, &k, &val), 0);
  uint8_t *copy = malloc(val.mv_size);
  memcpy(copy, val.mv_data, val.mv_size);
  copy[val.mv_size - 1] ^= 0x01;
  MDB_val nv = { val.mv_size, copy };
  assert_int_equal(mdb_put(t, db, &k, &nv, 0), 0);
  assert_int_equal(mdb_txn_commit(t), 0);
  mdb_env_close(env);
  free(copy);
  size_t n0, n1;
  uint8_t *before = jt_read_file(jt_path("%s/journal/data.mdb", d), &n0);
  struct jt_out o;
  jt_hems(&o, "migrate", "--dir", d, NULL);
  assert_int_equal(o.status, 1);
  if (!strstr(o.err, "first bad seq 100: ") || !strstr(o.err, "nothing changed")) fail_msg("migrate said: %s", o.err);
  jt_out_free(&o);
  uint8_t *after = jt_read_file(jt_path("%s/journal/data.mdb", d), &n1);
  assert_int_equal(n0, n1);
  assert_memory_equal(before, after, n0);
  free(before);
  free(after);
  jt_rm_rf(base);
  free(base);
  free(d);
}

int main(void)
{
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_writer_refused),
    cmocka_unit_test(test_migrate_intact),
    cmocka_unit_test(test_migrate_damaged),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
