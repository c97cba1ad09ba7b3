/*
 * test_format2.c — a format-2 journal made on request (journal_options.format = 2, what `hems
 * bench replay`/`verify` measure beside format 3) is the previous on-disk format: side by side
 * with tests/data/journal-v2 (written by the code before format 3) it has the same named
 * databases and meta keys, meta format 2, one `records` value per record, and Debian's
 * python3-cbor2 with Python's own BLAKE2b reads its records as schema v 1 with an intact chain;
 * a writer that does not ask for format 2 is refused naming `hems migrate` exactly as for the
 * fixture, readers and `hems verify` read it. `hems migrate` moves it to format 3 with every
 * record's bytes and the hashes Python computed, and the chain continues from them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include "jt_util.h"
#include "jt_v2.h"

/* ---- making one: groups of notes and faults, through the API with format 2 */

static void make_v2(const char *dir)
{
  struct jt_clock clk;
  jt_clock_init(&clk, 1000000);
  struct journal_options o;
  jt_opts(&o, dir, &clk);
  o.format = 2;
  assert_int_equal(journal_create(&o, "{\"branches\":48}", 15, "test"), 0);
  struct journal *j;
  struct journal_open_info info;
  int pid;
  assert_int_equal(journal_open(&j, &o, &info, &pid), 0);
  struct journal_record r;
  char text[64];
  for (int i = 0; i < 240; i++) {
    if (i % 8 == 7) {
      snprintf(text, sizeof text, "note %d", i);
      jt_note_rec(&r, text); /* critical: ends a group */
    } else {
      jt_fault_rec(&r, "spi_crc", i);
    }
    assert_int_equal(journal_append(j, &r, NULL), 0);
  }
  assert_int_equal(journal_close(j), 0);
}

/* ---- what LMDB holds, read with LMDB directly */

/* The names of the named databases (the main database's keys), space separated, sorted. */
static void db_names(const char *dir, char *out, size_t cap)
{
  MDB_env *env = jt_v2_env_ro(dir);
  MDB_txn *t;
  MDB_dbi main;
  assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &t), 0);
  assert_int_equal(mdb_dbi_open(t, NULL, 0, &main), 0);
  MDB_cursor *c;
  MDB_val k, v;
  assert_int_equal(mdb_cursor_open(t, main, &c), 0);
  out[0] = 0;
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
    snprintf(out + strlen(out), cap - strlen(out), "%.*s ", (int)k.mv_size, (const char *)k.mv_data);
  mdb_cursor_close(c);
  mdb_txn_abort(t);
  mdb_env_close(env);
}

/* The keys of meta, space separated (LMDB order), and its `format` value. */
static uint32_t meta_keys(const char *dir, char *out, size_t cap)
{
  MDB_env *env = jt_v2_env_ro(dir);
  MDB_txn *t;
  MDB_dbi meta;
  assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &t), 0);
  assert_int_equal(mdb_dbi_open(t, "meta", 0, &meta), 0);
  MDB_cursor *c;
  MDB_val k, v;
  uint32_t format = 0;
  assert_int_equal(mdb_cursor_open(t, meta, &c), 0);
  out[0] = 0;
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    snprintf(out + strlen(out), cap - strlen(out), "%.*s ", (int)k.mv_size, (const char *)k.mv_data);
    if (k.mv_size == 6 && !memcmp(k.mv_data, "format", 6)) {
      assert_int_equal(v.mv_size, 4);
      const uint8_t *f = v.mv_data;
      format = (uint32_t)f[0] << 24 | (uint32_t)f[1] << 16 | (uint32_t)f[2] << 8 | f[3];
    }
  }
  mdb_cursor_close(c);
  mdb_txn_abort(t);
  mdb_env_close(env);
  return format;
}

/* ---- the independent reading: python3-cbor2 and Python's BLAKE2b. Every record decodes and
 * re-encodes canonically to the same bytes, has the envelope keys 0..9, seq i+1, schema v 1 and
 * a text-keyed body, and its prev is BLAKE2b-256("hems.record.v1" NUL || previous record) (the
 * zero hash for seq 1); prints "seq hash" per record, then "OK n". */
static const char py_chain[] =
  "import sys, os, hashlib, cbor2\n"
  "d = sys.argv[1]\n"
  "prev = bytes(32)\n"
  "names = sorted(os.listdir(d))\n"
  "for i, n in enumerate(names):\n"
  "    b = open(os.path.join(d, n), 'rb').read()\n"
  "    o = cbor2.loads(b)\n"
  "    if cbor2.dumps(o, canonical=True) != b: print('NONCANONICAL', n); sys.exit(3)\n"
  "    if not isinstance(o, dict) or sorted(o.keys()) != list(range(10)): print('BADKEYS', n); sys.exit(4)\n"
  "    if o[1] != i + 1 or o[2] != 1: print('SEQ_OR_V', n, o[1], o[2]); sys.exit(5)\n"
  "    if o[0] != prev: print('PREV', n); sys.exit(6)\n"
  "    if not isinstance(o[9], dict) or not all(isinstance(k, str) for k in o[9]): print('BODY', n); sys.exit(7)\n"
  "    prev = hashlib.blake2b(b'hems.record.v1\\x00' + b, digest_size=32).digest()\n"
  "    print('%d %s' % (o[1], prev.hex()))\n"
  "print('OK', len(names))\n";

/* Runs py_chain over files; hashes[i] = Python's hash of record i+1. */
static void python_chain(const char *files, int count, uint8_t (*hashes)[32])
{
  if (access("/usr/bin/python3", X_OK) != 0) fail_msg("/usr/bin/python3 missing (apt-get install python3-cbor2)");
  char *argv[] = { "/usr/bin/python3", "-c", (char *)py_chain, (char *)files, NULL };
  struct jt_out o;
  jt_runv(argv, &o);
  if (o.status != 0) fail_msg("python3 cbor2/blake2b check of %s failed (%d): %.400s %s", files, o.status, o.out, o.err);
  char ok[32];
  snprintf(ok, sizeof ok, "OK %d\n", count);
  if (!strstr(o.out, ok)) fail_msg("python read other than %d records: %.400s", count, o.out);
  const char *p = o.out;
  for (int i = 0; i < count; i++) {
    unsigned long long seq;
    char hex[65];
    assert_int_equal(sscanf(p, "%llu %64s", &seq, hex), 2);
    assert_int_equal(seq, (unsigned long long)i + 1);
    for (int k = 0; k < 32; k++) {
      unsigned x;
      assert_int_equal(sscanf(hex + 2 * k, "%2x", &x), 1);
      hashes[i][k] = (uint8_t)x;
    }
    p = strchr(p, '\n') + 1;
  }
  jt_out_free(&o);
}

/* What a writer and a reader get from dir, a format-2 journal: the writer without format 2 is
 * refused naming `hems migrate` (the API and the CLI), `hems verify` passes. */
static void refused_as_format2(const char *dir)
{
  struct journal_options o;
  jt_opts(&o, dir, NULL);
  struct journal *j = NULL;
  struct journal_open_info info;
  int pid = 0;
  assert_int_equal(journal_open(&j, &o, &info, &pid), JOURNAL_EFORMAT2);
  o.format = 3;
  assert_int_equal(journal_open(&j, &o, &info, &pid), JOURNAL_EFORMAT2);
  struct jt_out out;
  jt_hems(&out, "note", "--dir", dir, "refused", NULL);
  assert_int_equal(out.status, 3);
  char want[4300];
  snprintf(want, sizeof want, "hems: %s: journal format 2; run 'hems migrate --dir %s'\n", dir, dir);
  assert_string_equal(out.err, want);
  jt_out_free(&out);
  jt_hems(&out, "verify", "--dir", dir, NULL);
  if (out.status != 0) fail_msg("verify %s: exit %d: %s%s", dir, out.status, out.out, out.err);
  jt_out_free(&out);
}

static void test_as_the_fixture(void **state)
{
  (void)state;
  char *base = jt_mkdtemp(), *fx = jt_v2_copy_fixture(base, "fixture");
  char *d = strdup(jt_path("%s/api", base));
  make_v2(d);
  char names_fx[512], names_api[512], meta_fx[512], meta_api[512];
  db_names(fx, names_fx, sizeof names_fx);
  db_names(d, names_api, sizeof names_api);
  assert_string_equal(names_fx, "blobs blocks checkpoints groups index meta records tiles times ");
  assert_string_equal(names_api, names_fx); /* no `packs` */
  assert_int_equal(meta_keys(fx, meta_fx, sizeof meta_fx), 2);
  assert_int_equal(meta_keys(d, meta_api, sizeof meta_api), 2);
  assert_string_equal(meta_api, meta_fx);
  static struct jt_v2recs vf, va;
  static uint8_t hf[JT_V2_MAX][32], ha[JT_V2_MAX][32];
  assert_int_equal(jt_sh("mkdir '%s/rf' '%s/ra'", base, base), 0);
  jt_v2_read(fx, &vf, jt_path("%s/rf", base));
  jt_v2_read(d, &va, jt_path("%s/ra", base));
  assert_true(va.count >= 3 + 240 + 240 / 8); /* boot, config, key; the records; a seal per note at least */
  python_chain(jt_path("%s/rf", base), vf.count, hf);
  python_chain(jt_path("%s/ra", base), va.count, ha);
  refused_as_format2(fx);
  refused_as_format2(d);
  /* a reader reads the records LMDB holds, in order, with the hashes Python computed */
  jt_v2_expect_records(d, &va, ha);
  /* a writer asking for format 2 appends to it, in format 2; format 2 of a format-3 journal and
   * a format not defined are refused */
  struct jt_clock clk;
  jt_clock_init(&clk, 1000000);
  clk.wall += 10000000000ll;
  clk.mono += 10000000000ull;
  struct journal_options o;
  jt_opts(&o, d, &clk);
  o.format = 2;
  struct journal *j;
  struct journal_open_info info;
  int pid;
  assert_int_equal(journal_open(&j, &o, &info, &pid), 0);
  assert_int_equal(info.head_seq, (uint64_t)va.count);
  struct journal_record rec;
  jt_note_rec(&rec, "appended in format 2");
  assert_int_equal(journal_append(j, &rec, NULL), 0);
  assert_int_equal(journal_close(j), 0);
  static struct jt_v2recs vb;
  assert_int_equal(jt_sh("mkdir '%s/rb'", base), 0);
  jt_v2_read(d, &vb, jt_path("%s/rb", base));
  assert_int_equal(vb.count, va.count + 2); /* the note and its seal */
  python_chain(jt_path("%s/rb", base), vb.count, ha);
  refused_as_format2(d);
  char *d3 = strdup(jt_path("%s/three", base));
  jt_opts(&o, d3, NULL);
  assert_int_equal(journal_create(&o, NULL, 0, "test"), 0);
  o.format = 2;
  assert_int_equal(journal_open(&j, &o, &info, &pid), JOURNAL_EVERSION);
  o.format = 1;
  assert_int_equal(journal_open(&j, &o, &info, &pid), -EINVAL);
  o.dir = jt_path("%s/never", base);
  assert_int_equal(journal_create(&o, NULL, 0, "test"), -EINVAL);
  assert_int_equal(access(o.dir, F_OK), -1);
  jt_v2_free(&vf);
  jt_v2_free(&va);
  jt_v2_free(&vb);
  jt_rm_rf(base);
  free(base);
  free(fx);
  free(d);
  free(d3);
}

static void test_migrated_hashes(void **state)
{
  (void)state;
  char *base = jt_mkdtemp();
  char *d = strdup(jt_path("%s/api", base));
  make_v2(d);
  static struct jt_v2recs v;
  static uint8_t h[JT_V2_MAX][32];
  assert_int_equal(jt_sh("mkdir '%s/r'", base), 0);
  jt_v2_read(d, &v, jt_path("%s/r", base));
  python_chain(jt_path("%s/r", base), v.count, h);
  jt_v2_migrate(d, v.count);
  char names[512], meta[512];
  assert_int_equal(meta_keys(d, meta, sizeof meta), 3);
  db_names(d, names, sizeof names);
  assert_non_null(strstr(names, "packs "));
  /* every record: the bytes it had, the hash Python computed from them */
  jt_v2_expect_records(d, &v, h);
  struct jt_out o;
  jt_hems(&o, "verify", "--dir", d, NULL);
  if (o.status != 0) fail_msg("verify after migrate: %s%s", o.out, o.err);
  jt_out_free(&o);
  /* a writer (format 3 now) continues the chain from Python's hash of the last record */
  jt_hems(&o, "note", "--dir", d, "after migration", NULL);
  assert_int_equal(o.status, 0);
  jt_out_free(&o);
  struct journal_reader *r;
  struct journal_iter *it;
  uint64_t seq;
  const uint8_t *b;
  size_t n;
  assert_int_equal(journal_reader_open(&r, d, NULL, false), 0);
  assert_int_equal(journal_iter_begin(r, (uint64_t)v.count + 1, &it), 0);
  assert_int_equal(journal_iter_next(it, &seq, &b, &n), 1);
  assert_int_equal(seq, (uint64_t)v.count + 1);
  struct journal_record rec;
  assert_int_equal(journal_record_decode(b, n, &rec), 0);
  assert_int_equal(rec.version, JOURNAL_SCHEMA_V3);
  assert_memory_equal(rec.prev, h[v.count - 1], 32);
  journal_iter_end(it);
  journal_reader_close(r);
  jt_v2_free(&v);
  jt_rm_rf(base);
  free(base);
  free(d);
}

int main(void)
{
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_as_the_fixture),
    cmocka_unit_test(test_migrated_hashes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
