/*
 * jt_v2.h — helpers of the format-2 tests (test_migrate, test_format2; header-only, after
 * jt_util.h and cmocka.h): a copy of tests/data/journal-v2, the values of a journal's `records`
 * database read with LMDB directly, a reader's records held against them, `hems migrate` run
 * and its report checked.
 */
#ifndef HEMS_TESTS_JT_V2_H
#define HEMS_TESTS_JT_V2_H

#define JT_V2_FIXTURE HEMS_SOURCE_DIR "/tests/data/journal-v2"
#define JT_V2_MAX 4096

/* base/name: a copy of the fixture with its keys (caller frees). */
static inline char *jt_v2_copy_fixture(const char *base, const char *name)
{
  char *d = strdup(jt_path("%s/%s", base, name));
  assert_int_equal(jt_sh("cp -a '%s' '%s' && chmod 600 '%s/keys/signing.key'", JT_V2_FIXTURE, d, d), 0);
  return d;
}

/* dir's journal opened read-only with LMDB itself (no journal code between). */
static inline MDB_env *jt_v2_env_ro(const char *dir)
{
  MDB_env *env;
  assert_int_equal(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 16);
  assert_int_equal(mdb_env_open(env, jt_path("%s/journal", dir), MDB_RDONLY, 0), 0);
  return env;
}

/* Every value of `records`, as LMDB holds it (keys 1, 2, … without a gap). */
struct jt_v2recs { uint8_t *b[JT_V2_MAX]; size_t n[JT_V2_MAX]; int count; };

/* Reads dir's `records` into v (more than 100 of them); with files set, each is also written
 * to files/%08d (seq). */
static inline void jt_v2_read(const char *dir, struct jt_v2recs *v, const char *files_arg)
{
  char files[4200]; /* jt_path's buffers are reused: files_arg may be one */
  snprintf(files, sizeof files, "%s", files_arg ? files_arg : "");
  memset(v, 0, sizeof *v);
  MDB_env *env = jt_v2_env_ro(dir);
  MDB_txn *t;
  MDB_dbi db;
  assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &t), 0);
  assert_int_equal(mdb_dbi_open(t, "records", 0, &db), 0);
  MDB_cursor *c;
  MDB_val k, val;
  assert_int_equal(mdb_cursor_open(t, db, &c), 0);
  for (int rc = mdb_cursor_get(c, &k, &val, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
    assert_int_equal(k.mv_size, 8);
    assert_int_equal(jt_rd64(k.mv_data), (uint64_t)v->count + 1);
    assert_true(v->count < JT_V2_MAX);
    v->b[v->count] = malloc(val.mv_size);
    memcpy(v->b[v->count], val.mv_data, val.mv_size);
    v->n[v->count] = val.mv_size;
    if (files_arg)
      assert_int_equal(jt_write_file(jt_path("%s/%08d", files, v->count + 1), val.mv_data, val.mv_size), 0);
    v->count++;
  }
  mdb_cursor_close(c);
  mdb_txn_abort(t);
  mdb_env_close(env);
  assert_true(v->count > 100);
}

static inline void jt_v2_free(struct jt_v2recs *v)
{
  for (int i = 0; i < v->count; i++) free(v->b[i]);
  v->count = 0;
}

/* A reader of dir serves seq 1 … v->count with exactly v's bytes, and no more; with hashes set, each record's
 * hash (journal_record_hash) is hashes[seq - 1]. */
static inline void jt_v2_expect_records(const char *dir, const struct jt_v2recs *v, uint8_t (*hashes)[32])
{
  struct journal_reader *r;
  assert_int_equal(journal_reader_open(&r, dir, NULL, false), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(r, 1, &it), 0);
  uint64_t seq;
  const uint8_t *b;
  size_t n;
  int i = 0;
  while (journal_iter_next(it, &seq, &b, &n) == 1) {
    assert_true(i < v->count);
    assert_int_equal(seq, (uint64_t)i + 1);
    assert_int_equal(n, v->n[i]);
    assert_memory_equal(b, v->b[i], n);
    if (hashes) {
      uint8_t h[32];
      journal_record_hash(b, n, h);
      assert_memory_equal(h, hashes[i], 32);
    }
    i++;
  }
  assert_int_equal(i, v->count);
  journal_iter_end(it);
  journal_reader_close(r);
}

/* `hems migrate --dir dir` succeeds and reports moving count records from format 2. */
static inline void jt_v2_migrate(const char *dir, int count)
{
  struct jt_out o;
  jt_hems(&o, "migrate", "--dir", dir, NULL);
  if (o.status != 0) fail_msg("migrate: exit %d: %s", o.status, o.err);
  char line[128];
  snprintf(line, sizeof line, "migrated %d records (seq 1..%d) from format 2", count, count);
  if (!strstr(o.out, line)) fail_msg("migrate said: %s", o.out);
  jt_out_free(&o);
}

#endif
