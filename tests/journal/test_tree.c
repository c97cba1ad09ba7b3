/*
 * test_tree.c — the Merkle tree the writer keeps (journal/tree_store.c) and the seal
 * signatures of both kinds (journal/seal.c).
 *
 * Every seal's tree_root is compared with RFC 9162 MTH computed here by its recursive
 * definition (§2.1.1) with OpenSSL's SHA256() over the record bytes read back — not with the
 * appender that wrote them. The writer is reopened (tiles restored), its tiles damaged and
 * dropped (rebuilt from the records), a seal re-signed over a wrong root (verify names it,
 * JOURNAL_EPROOF). A v 3 seal's signature is the C2SP signed note of its checkpoint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <openssl/sha.h>
#include <sodium.h>
#include "jt_util.h"

static uint8_t (*g_leaf)[32];
static uint64_t g_nleaf;

static void node(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
  uint8_t b[65];
  b[0] = 1;
  memcpy(b + 1, l, 32);
  memcpy(b + 33, r, 32);
  SHA256(b, sizeof b, out);
}

/* RFC 9162 §2.1.1: MTH(D[lo:lo+n]). */
static void mth(uint64_t lo, uint64_t n, uint8_t out[32])
{
  if (n == 1) { memcpy(out, g_leaf[lo], 32); return; }
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  uint8_t a[32], b[32];
  mth(lo, k, a);
  mth(lo + k, n - k, b);
  node(a, b, out);
}

/* Reads every record, checks each seal's tree_root against MTH of the records before it;
 * returns the number of seals checked. */
static int check_roots(const char *dir)
{
  struct journal_reader *r;
  assert_int_equal(journal_reader_open(&r, dir, NULL, true), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(r, 1, &it), 0);
  uint64_t seq;
  const uint8_t *b;
  size_t len;
  int seals = 0;
  g_nleaf = 0;
  while (journal_iter_next(it, &seq, &b, &len) == 1) {
    assert_int_equal(seq, g_nleaf + 1);
    g_leaf = realloc(g_leaf, (size_t)(g_nleaf + 1) * 32);
    uint8_t *lb = malloc(len + 1);
    lb[0] = 0;
    memcpy(lb + 1, b, len);
    SHA256(lb, len + 1, g_leaf[g_nleaf]);
    free(lb);
    struct journal_record rec;
    assert_int_equal(journal_record_decode(b, len, &rec), 0);
    if (rec.type == JOURNAL_T_SEAL) {
      uint8_t root[32];
      mth(0, rec.body.seal.sealed_seq, root);
      if (memcmp(root, rec.body.seal.tree_root, 32) != 0) fail_msg("seal %llu: tree_root is not MTH of records 1..%llu",
                                                                  (unsigned long long)seq, (unsigned long long)rec.body.seal.sealed_seq);
      seals++;
    }
    g_nleaf++;
  }
  journal_iter_end(it);
  journal_reader_close(r);
  return seals;
}

static void append_faults(const char *dir, struct jt_clock *clk, int n, int group_max)
{
  struct journal_options o;
  jt_opts(&o, dir, clk);
  o.group_records_max = (uint32_t)group_max;
  o.group_span_ns = 1ull << 62;
  struct journal *j;
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);
  for (int i = 0; i < n; i++) {
    struct journal_record rec;
    jt_fault_rec(&rec, "tree", i);
    assert_int_equal(journal_append(j, &rec, NULL), 0);
  }
  assert_int_equal(journal_close(j), 0);
}

static void verify_ok(const char *dir)
{
  struct journal_verify_result res;
  int rc = jt_verify_dir(dir, &res);
  if (rc) fail_msg("verify: %s at %llu: %s", journal_strerror(rc), (unsigned long long)res.bad_seq, res.reason);
}

/* Level-1 tile 0 as stored, compared with MTH of each run of 256 leaves. */
static void check_tile1(const char *dir)
{
  struct jt_lmdb l;
  assert_int_equal(jt_lmdb_open(&l, dir), 0);
  MDB_txn *t;
  MDB_dbi tiles;
  assert_int_equal(mdb_txn_begin(l.env, NULL, MDB_RDONLY, &t), 0);
  assert_int_equal(mdb_dbi_open(t, "tiles", 0, &tiles), 0);
  uint8_t kb[9] = { 1 };
  MDB_val k = { 9, kb }, v;
  assert_int_equal(mdb_get(t, tiles, &k, &v), 0);
  uint64_t width = v.mv_size / 32;
  assert_true(width >= (g_nleaf - 1) / 256 && width <= g_nleaf / 256);
  for (uint64_t i = 0; i < width; i++) {
    uint8_t h[32];
    mth(i * 256, 256, h);
    assert_memory_equal(h, (const uint8_t *)v.mv_data + i * 32, 32);
  }
  /* no level-0 tile is stored */
  kb[0] = 0;
  assert_int_equal(mdb_get(t, tiles, &k, &v), MDB_NOTFOUND);
  mdb_txn_abort(t);
  jt_lmdb_close(&l);
}

/* journal_tiles_check on DIR (what `hems verify` reports). */
static int tiles_check(const char *dir)
{
  struct journal_reader *r;
  assert_int_equal(journal_reader_open(&r, dir, NULL, true), 0);
  uint64_t size;
  int rc = journal_tiles_check(r, &size);
  if (rc == 0) assert_int_equal(size, g_nleaf - 1);
  journal_reader_close(r);
  return rc;
}

static void test_store_tree(void **state)
{
  (void)state;
  char *base;
  char *dir = jt_init_dir(&base, NULL, NULL);
  struct jt_clock clk;
  jt_clock_init(&clk, 1000000);
  append_faults(dir, &clk, 2000, 37);
  int s1 = check_roots(dir);
  assert_true(s1 > 50);
  verify_ok(dir);
  check_tile1(dir);

  /* reopened: the appender is restored from tiles and the last records */
  assert_int_equal(tiles_check(dir), 0);
  append_faults(dir, &clk, 700, 53);
  assert_true(check_roots(dir) > s1);
  verify_ok(dir);
  check_tile1(dir);

  /* a damaged tile: the writer's open finds the root wrong and rebuilds from the records */
  struct jt_lmdb l;
  assert_int_equal(jt_lmdb_open(&l, dir), 0);
  MDB_txn *t;
  MDB_dbi tiles;
  assert_int_equal(mdb_txn_begin(l.env, NULL, 0, &t), 0);
  assert_int_equal(mdb_dbi_open(t, "tiles", 0, &tiles), 0);
  uint8_t kb[9] = { 1 };
  MDB_val k = { 9, kb }, v;
  assert_int_equal(mdb_get(t, tiles, &k, &v), 0);
  uint8_t *copy = malloc(v.mv_size);
  memcpy(copy, v.mv_data, v.mv_size);
  copy[v.mv_size - 1] ^= 0x40; /* the newest entry: the edge of the restored tree reads it */
  MDB_val nv = { v.mv_size, copy };
  assert_int_equal(mdb_put(t, tiles, &k, &nv, 0), 0);
  assert_int_equal(mdb_txn_commit(t), 0);
  free(copy);
  jt_lmdb_close(&l);
  assert_int_equal(tiles_check(dir), JOURNAL_ECORRUPT);
  append_faults(dir, &clk, 300, 41);
  check_roots(dir);
  assert_int_equal(tiles_check(dir), 0);
  verify_ok(dir);
  check_tile1(dir);

  /* no tiles at all (a journal written before the tree): rebuilt on the writer's open */
  assert_int_equal(jt_lmdb_open(&l, dir), 0);
  assert_int_equal(mdb_txn_begin(l.env, NULL, 0, &t), 0);
  assert_int_equal(mdb_dbi_open(t, "tiles", 0, &tiles), 0);
  assert_int_equal(mdb_drop(t, tiles, 1), 0);
  assert_int_equal(mdb_txn_commit(t), 0);
  jt_lmdb_close(&l);
  assert_int_equal(tiles_check(dir), JOURNAL_ENOTFOUND);
  append_faults(dir, &clk, 10, 41);
  check_roots(dir);
  verify_ok(dir);
  check_tile1(dir);

  /* the head seal re-signed by the journal's own key over a wrong root: the signature holds,
   * the recomputed tree does not */
  uint64_t head = g_nleaf;
  assert_int_equal(jt_lmdb_open(&l, dir), 0);
  assert_int_equal(mdb_txn_begin(l.env, NULL, 0, &t), 0);
  uint8_t *p;
  size_t n;
  assert_int_equal(jt_get(t, l.records, head, &p, &n), 0);
  struct journal_record rec;
  assert_int_equal(journal_record_decode(p, n, &rec), 0);
  assert_int_equal(rec.type, JOURNAL_T_SEAL);
  rec.body.seal.tree_root[5] ^= 1;
  struct journal_file_signer fs;
  assert_int_equal(journal_file_signer_load(&fs, dir), 0);
  char dev[33] = { 0 }; /* a v 3 seal signs its checkpoint under the dir's device id */
  MDB_dbi meta;
  MDB_val mk = { 9, (void *)"device_id" }, mv;
  assert_int_equal(mdb_dbi_open(t, "meta", 0, &meta), 0);
  assert_int_equal(mdb_get(t, meta, &mk, &mv), 0);
  memcpy(dev, mv.mv_data, mv.mv_size < 32 ? mv.mv_size : 32);
  assert_int_equal(journal_seal_sign(&rec, dev, &fs.signer), 0);
  journal_file_signer_wipe(&fs);
  uint8_t out[1024];
  size_t ol;
  assert_int_equal(journal_record_encode(&rec, out, sizeof out, &ol), 0);
  assert_int_equal(jt_put(t, l.records, head, out, ol), 0);
  assert_int_equal(mdb_txn_commit(t), 0);
  free(p);
  jt_lmdb_close(&l);
  struct journal_verify_result res;
  assert_int_equal(jt_verify_dir(dir, &res), JOURNAL_EPROOF);
  assert_int_equal(res.bad_seq, head);

  jt_rm_rf(base);
  free(base);
  free(dir);
  free(g_leaf);
  g_leaf = NULL;
}

static int test_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[64])
{
  return crypto_sign_detached(sig, NULL, msg, len, ctx);
}

/* A v 3 seal signs its checkpoint: the note journal_seal_note writes opens with the log's
 * verifier key, its body is the checkpoint of the seal, and the seal line binds the rest. */
static void test_v3_seal(void **state)
{
  (void)state;
  uint8_t seed[32], sk[64];
  memset(seed, 7, 32);
  struct journal_signer s;
  crypto_sign_seed_keypair(s.pubkey, sk, seed);
  journal_key_id(s.pubkey, s.key_id);
  s.sign = test_sign;
  s.ctx = sk;
  const char *id = "00112233445566778899aabbccddeeff";
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.version = 3;
  r.seq = 1001;
  r.type = JOURNAL_T_SEAL;
  r.wall_ns = 1764869486123456789ll;
  r.mono_ns = 5;
  struct journal_seal *b = &r.body.seal;
  b->sealed_seq = 1000;
  memset(b->head_hash, 0xa1, 32);
  memset(r.prev, 0xa1, 32);
  memset(b->state_hash, 0x5e, 32);
  memset(b->tree_root, 0x77, 32);
  memcpy(b->key_id, s.key_id, 16);
  b->group_records = 27;
  assert_int_equal(journal_seal_sign(&r, id, &s), 0);
  assert_int_equal(journal_seal_verify(&r, id, s.pubkey), 0);
  assert_int_equal(journal_seal_verify(&r, "00112233445566778899aabbccddeefe", s.pubkey), JOURNAL_EBADSIG);
  assert_int_equal(journal_seal_verify(&r, NULL, s.pubkey), JOURNAL_EBADSIG);

  char note[JOURNAL_TLOG_NOTE_MAX];
  int n = journal_seal_note(&r, id, s.pubkey, note, sizeof note);
  assert_true(n > 0);
  struct journal_tlog_verifier v;
  assert_int_equal(journal_tlog_verifier_init(&v, "hems/00112233445566778899aabbccddeeff", JOURNAL_TLOG_ED25519, s.pubkey), 0);
  size_t blen;
  assert_int_equal(journal_tlog_open(note, (size_t)n, &v, &blen, NULL), 0);
  struct journal_tlog_checkpoint c;
  assert_int_equal(journal_tlog_checkpoint_parse(note, blen, &c), 0);
  assert_string_equal(c.origin, "hems/00112233445566778899aabbccddeeff");
  assert_int_equal(c.size, 1000);
  assert_memory_equal(c.root, b->tree_root, 32);
  struct journal_tlog_hems e;
  assert_int_equal(journal_tlog_hems_parse(c.ext, &e), 0);
  assert_true(e.has_seal);
  assert_memory_equal(e.state_hash, b->state_hash, 32);
  assert_memory_equal(e.head_hash, b->head_hash, 32);
  assert_true(e.time_ns == r.wall_ns);
  assert_non_null(strstr(c.ext, "time 2025-12-04T17:31:26.123456789Z\n"));
  /* the seal line: chain hash of the seal encoded with a zero signature */
  struct journal_record z = r;
  memset(z.body.seal.sig, 0, 64);
  uint8_t enc[1024], h[32];
  size_t el;
  assert_int_equal(journal_record_encode(&z, enc, sizeof enc, &el), 0);
  journal_record_hash(enc, el, h);
  assert_memory_equal(e.seal_hash, h, 32);

  /* every other field of the seal is bound: group_records, key id, times */
  struct journal_record m = r;
  m.body.seal.group_records++;
  assert_int_equal(journal_seal_verify(&m, id, s.pubkey), JOURNAL_EBADSIG);
  m = r;
  m.mono_ns++;
  assert_int_equal(journal_seal_verify(&m, id, s.pubkey), JOURNAL_EBADSIG);
  /* a v 1 seal has no checkpoint note; its signature is the seal message's */
  m = r;
  m.version = 1;
  assert_int_equal(journal_seal_note(&m, id, s.pubkey, note, sizeof note), JOURNAL_EVERSION);
  assert_int_equal(journal_seal_verify(&m, id, s.pubkey), JOURNAL_EBADSIG);
  assert_int_equal(journal_seal_sign(&m, NULL, &s), 0);
  uint8_t msg[JOURNAL_SEAL_MESSAGE_BYTES];
  assert_int_equal(journal_seal_message(&m, msg), 0);
  assert_int_equal(crypto_sign_verify_detached(m.body.seal.sig, msg, sizeof msg, s.pubkey), 0);
  assert_int_equal(journal_seal_verify(&m, NULL, s.pubkey), 0);
}

/* The docs' v 3 seal checkpoint (docs/journal.md, the fuzz corpus's note-seal) is what
 * journal_seal_sign and journal_seal_note make of the seal it describes, and that seal survives
 * the v 3 codec: encoded, decoded, still verifying. */
static void test_docs_v3_note(void **state)
{
  (void)state;
  uint8_t seed[32], sk[64];
  memset(seed, 1, 32);
  struct journal_signer s;
  crypto_sign_seed_keypair(s.pubkey, sk, seed);
  journal_key_id(s.pubkey, s.key_id);
  s.sign = test_sign;
  s.ctx = sk;
  const char *id = "00112233445566778899aabbccddeeff";
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.version = 3;
  r.seq = 1432818;
  r.type = JOURNAL_T_SEAL;
  r.wall_ns = 1764869486123456789ll;
  r.mono_ns = 86400000000000ull;
  for (int i = 0; i < 32; i++) {
    r.prev[i] = r.body.seal.head_hash[i] = (uint8_t)(0xa0 + i);
    r.body.seal.state_hash[i] = (uint8_t)i;
    r.body.seal.tree_root[i] = (uint8_t)(7 * i);
  }
  r.body.seal.sealed_seq = 1432817;
  memcpy(r.body.seal.key_id, s.key_id, 16);
  r.body.seal.group_records = 27;
  memcpy(r.boot_id, "\xb0\x07\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e", 16);
  assert_int_equal(journal_seal_sign(&r, id, &s), 0);
  char note[JOURNAL_TLOG_NOTE_MAX], corpus[JOURNAL_TLOG_NOTE_MAX];
  int n = journal_seal_note(&r, id, s.pubkey, note, sizeof note);
  assert_true(n > 0);
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/fuzz/corpus/checkpoint/note-seal", HEMS_SOURCE_DIR);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  size_t cn = fread(corpus, 1, sizeof corpus, f);
  fclose(f);
  assert_int_equal(cn, (size_t)n);
  assert_memory_equal(corpus, note, cn);
  uint8_t enc[1024];
  size_t el;
  struct journal_record d;
  assert_int_equal(journal_record_encode(&r, enc, sizeof enc, &el), 0);
  assert_int_equal(journal_record_decode(enc, el, &d), 0);
  assert_int_equal(d.version, 3);
  assert_memory_equal(d.body.seal.tree_root, r.body.seal.tree_root, 32);
  assert_int_equal(journal_seal_verify(&d, id, s.pubkey), 0);
  d.body.seal.tree_root[0] ^= 1;
  assert_int_equal(journal_seal_verify(&d, id, s.pubkey), JOURNAL_EBADSIG);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_v3_seal),
    cmocka_unit_test(test_docs_v3_note),
    cmocka_unit_test(test_store_tree),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
