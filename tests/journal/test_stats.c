/*
 * test_stats.c — `hems stats` against values found another way: records and by_type from the
 * packs read with LMDB (jt_util.h's record view) and decoded here, disk_bytes from stat() of the
 * files of DIR/journal, horizon_days from the quota written into config.json and the records'
 * wall-time span, write_bytes_per_day null when no daemon answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include "jt_util.h"

static void test_stats(void **state)
{
  (void)state;
  char *base = jt_mkdtemp();
  char *d = strdup(jt_path("%s/d", base));
  struct jt_out o;
  jt_hems(&o, "init", "--dir", d, NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  for (int i = 0; i < 5; i++) {
    jt_hems(&o, "note", "--dir", d, i % 2 ? "a short note" : "a somewhat longer operator note about the panel", NULL);
    assert_int_equal(o.status, 0);
    jt_out_free(&o);
  }
  /* a retention quota of 2 GB */
  json_error_t je;
  json_t *cfg = json_load_file(jt_path("%s/config.json", d), 0, &je);
  assert_non_null(cfg);
  json_object_set_new(cfg, "retention", json_pack("{s:s}", "quota", "2GB"));
  assert_int_equal(json_dump_file(cfg, jt_path("%s/config.json", d), 0), 0);
  json_decref(cfg);

  /* expected: records, types and canonical bytes from the packs; wall span */
  struct jt_lmdb l;
  assert_int_equal(jt_lmdb_open(&l, d), 0);
  MDB_txn *t;
  assert_int_equal(mdb_txn_begin(l.env, NULL, MDB_RDONLY, &t), 0);
  struct jt_recs rs;
  assert_int_equal(jt_recs_load(t, l.records, &rs), 0);
  mdb_txn_abort(t);
  jt_lmdb_close(&l);
  uint64_t n_type[JOURNAL_T__MAX] = { 0 }, b_type[JOURNAL_T__MAX] = { 0 };
  int64_t wmin = INT64_MAX, wmax = INT64_MIN;
  for (size_t i = 0; i < rs.n; i++) {
    struct journal_record r;
    assert_int_equal(journal_record_decode(rs.r[i].b, rs.r[i].n, &r), 0);
    n_type[r.type]++;
    b_type[r.type] += rs.r[i].n;
    if (r.wall_ns < wmin) wmin = r.wall_ns;
    if (r.wall_ns > wmax) wmax = r.wall_ns;
  }
  size_t nrec = rs.n;
  jt_recs_free(&rs);
  assert_int_equal(n_type[JOURNAL_T_NOTE], 5);
  struct stat st;
  uint64_t disk = 0;
  assert_int_equal(stat(jt_path("%s/journal/data.mdb", d), &st), 0);
  disk += (uint64_t)st.st_size;
  assert_int_equal(stat(jt_path("%s/journal/lock.mdb", d), &st), 0);
  disk += (uint64_t)st.st_size;

  jt_hems(&o, "stats", "--dir", d, "--format", "json", NULL);
  if (o.status != 0) fail_msg("stats: exit %d: %s", o.status, o.err);
  json_t *s = json_loads(o.out, 0, &je);
  assert_non_null(s);
  assert_int_equal(json_integer_value(json_object_get(s, "records")), nrec);
  assert_int_equal(json_integer_value(json_object_get(s, "disk_bytes")), disk);
  assert_true(fabs(json_real_value(json_object_get(s, "bytes_per_record")) - (double)disk / (double)nrec) < 1e-6);
  json_t *bt = json_object_get(s, "by_type");
  size_t types = 0;
  for (unsigned ty = 1; ty < JOURNAL_T__MAX; ty++) {
    if (!n_type[ty]) continue;
    types++;
    json_t *e = json_object_get(bt, journal_type_name(ty));
    if (!e) fail_msg("by_type lacks %s", journal_type_name(ty));
    assert_int_equal(json_integer_value(json_object_get(e, "records")), n_type[ty]);
    assert_int_equal(json_integer_value(json_object_get(e, "bytes")), b_type[ty]);
  }
  assert_int_equal(json_object_size(bt), types);
  assert_true(json_is_null(json_object_get(s, "write_bytes_per_day"))); /* no daemon runs */
  double span_days = (double)(wmax - wmin) / 86400e9;
  assert_true(span_days > 0);
  double want = 2e9 / ((double)disk / span_days);
  double got = json_real_value(json_object_get(s, "horizon_days"));
  if (fabs(got - want) > want * 1e-9) fail_msg("horizon_days %g, want %g", got, want);
  json_decref(s);
  jt_out_free(&o);

  jt_hems(&o, "stats", "--dir", d, NULL);
  assert_int_equal(o.status, 0);
  assert_non_null(strstr(o.out, "disk_bytes"));
  jt_out_free(&o);
  jt_hems(&o, "stats", "--dir", d, "--format", "yaml", NULL);
  assert_int_equal(o.status, 2);
  jt_out_free(&o);
  jt_rm_rf(base);
  free(base);
  free(d);
}

int main(void)
{
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = { cmocka_unit_test(test_stats) };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
