/*
 * test_tamper.c — the tamper matrix (DESIGN.md invariant 2): flip each byte of stored records
 * (every byte of an ordinary record and of a seal, samples of the rest), delete, insert, swap,
 * reorder records, forge a seal with another key → journal_verify fails naming the exact first
 * bad seq with a reason, and `hems verify` exits 1 printing `first bad seq N:`. Bundles:
 * truncation at every offset of the frame holding the last records (and some earlier offsets)
 * → truncated after the last whole frame's seal or damage, never success; flipped bytes in
 * header, frame and end frame → failure.
 *
 * Edits go into LMDB's `packs` database of a copy of the journal through jt_util.h's record
 * view (jt_damage: storage damage, the stored hash check stays; jt_put/jt_del: a forger's
 * rewrite, checks recomputed); the byte-flip matrix edits inside a write transaction that is
 * verified and then aborted, so each case starts from the same intact copy. test_pack_damage
 * flips bytes of the stored packs themselves (header, compressed frame) and expects the first
 * record whose bytes zstd no longer reproduces — found with zstd directly — to be named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <zstd.h>
#include "jt_util.h"

static char *g_base;   /* temp root */
static char *g_dir;    /* intact journal */
static uint8_t g_pk[32];
static uint64_t g_head;
static uint64_t g_seals[64];
static int g_nseals;

static int setup(void **state)
{
  (void)state;
  g_base = jt_mkdtemp();
  g_dir = strdup(jt_path("%s/intact", g_base));
  struct jt_clock clk;
  jt_clock_init(&clk, 1000);
  struct journal_options o;
  jt_opts(&o, g_dir, &clk);
  if (journal_create(&o, "{}", 2, "test")) return -1;
  o.group_records_max = 40;
  struct journal *j;
  if (journal_open(&j, &o, NULL, NULL)) return -1;
  struct journal_record r;
  uint64_t s;
  for (int i = 0; i < 300; i++) {
    if (i % 97 == 96) jt_note_rec(&r, "operator note in the middle");
    else jt_fault_rec(&r, "tamper", i);
    if (journal_append(j, &r, &s)) return -1;
  }
  if (journal_close(j)) return -1;
  if (jt_pubkey(g_dir, g_pk)) return -1;
  /* Where the seals are (read independently of the verifier). */
  struct jt_lmdb l;
  if (jt_lmdb_open(&l, g_dir)) return -1;
  MDB_txn *t;
  mdb_txn_begin(l.env, NULL, MDB_RDONLY, &t);
  struct jt_recs rs;
  if (jt_recs_load(t, l.records, &rs)) return -1;
  for (size_t i = 0; i < rs.n; i++) {
    uint64_t seq = rs.first + i;
    struct journal_record rec;
    if (journal_record_decode(rs.r[i].b, rs.r[i].n, &rec)) return -1;
    if (rec.type == JOURNAL_T_SEAL && g_nseals < 64) g_seals[g_nseals++] = seq;
    g_head = seq;
  }
  jt_recs_free(&rs);
  mdb_txn_abort(t);
  jt_lmdb_close(&l);
  return g_nseals >= 8 ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  jt_rm_rf(g_base);
  free(g_base);
  free(g_dir);
  return 0;
}

static char *fresh_copy(const char *name)
{
  char *p = strdup(jt_path("%s/%s", g_base, name));
  jt_rm_rf(p);
  assert_int_equal(jt_sh("cp -a '%s' '%s'", g_dir, p), 0);
  return p;
}

/* A record's `prev` (bytes 4..35) is not stored in format 3 (the reader rebuilds it from the
 * previous record's hash), so no damage to stored bytes can change it: the byte matrix skips
 * it, and damage to what is stored instead — the pack header's prev, the compressed frame —
 * has its own cases (test_pack_damage). */
#define PREV_OFF 4

static void expect_bad(int rc, const struct journal_verify_result *res, uint64_t seq, const char *what)
{
  if (rc == 0) fail_msg("%s: verify passed", what);
  if (res->bad_seq != seq) fail_msg("%s: first bad seq %llu (%s), want %llu", what, (unsigned long long)res->bad_seq, res->reason, (unsigned long long)seq);
  if (!res->reason[0]) fail_msg("%s: no reason", what);
}

/* Flips `mask` in byte `off` of record `seq` inside an aborted txn; returns verify's rc. */
static int flip_and_verify(struct jt_lmdb *l, uint64_t seq, size_t off, uint8_t mask, struct journal_verify_result *res, size_t *len_out)
{
  MDB_txn *t;
  assert_int_equal(mdb_txn_begin(l->env, NULL, 0, &t), 0);
  uint8_t *b;
  size_t len;
  assert_int_equal(jt_get(t, l->records, seq, &b, &len), 0);
  if (len_out) *len_out = len;
  int rc = 0;
  if (off < len) {
    b[off] ^= mask;
    assert_int_equal(jt_damage(t, l->records, seq, b, len), 0);
    rc = jt_verify_txn(t, l->records, g_pk, res);
  }
  free(b);
  mdb_txn_abort(t);
  return rc;
}

static void test_intact(void **state)
{
  (void)state;
  struct journal_verify_result res;
  assert_int_equal(jt_verify_dir(g_dir, &res), 0);
  assert_int_equal(res.last_seq, g_head);
  assert_int_equal(res.bad_seq, 0);
  struct jt_lmdb l;
  assert_int_equal(jt_lmdb_open(&l, g_dir), 0);
  MDB_txn *t;
  assert_int_equal(mdb_txn_begin(l.env, NULL, MDB_RDONLY, &t), 0);
  assert_int_equal(jt_verify_txn(t, l.records, g_pk, &res), 0);
  mdb_txn_abort(t);
  jt_lmdb_close(&l);
}

static void test_flip_every_byte(void **state)
{
  (void)state;
  char *d = fresh_copy("flip");
  struct jt_lmdb l;
  assert_int_equal(jt_lmdb_open(&l, d), 0);
  /* An ordinary record in the middle of a group, and a seal in the middle of the journal. */
  uint64_t seal = g_seals[g_nseals / 2];
  uint64_t ordinary = g_seals[g_nseals / 2 - 1] + 7;
  assert_true(ordinary < seal);
  uint64_t targets[2] = { ordinary, seal };
  for (int ti = 0; ti < 2; ti++) {
    size_t len = 1;
    for (size_t off = 0; off < len; off++) {
      if (off >= PREV_OFF && off < PREV_OFF + 32) continue; /* not stored (see PREV_OFF) */
      static const uint8_t masks[] = { 0x01, 0x80, 0xff };
      for (size_t m = 0; m < sizeof masks; m++) {
        struct journal_verify_result res;
        int rc = flip_and_verify(&l, targets[ti], off, masks[m], &res, &len);
        char what[96];
        snprintf(what, sizeof what, "%s seq %llu byte %zu ^0x%02x", ti ? "seal" : "record",
                 (unsigned long long)targets[ti], off, masks[m]);
        expect_bad(rc, &res, targets[ti], what);
      }
    }
  }
  /* Samples of every other record, including the first and the last (head) seal. */
  uint32_t x = 12345;
  for (uint64_t seq = 1; seq <= g_head; seq++) {
    for (int k = 0; k < 3; k++) {
      x = x * 1103515245u + 12345u;
      size_t len;
      struct journal_verify_result res;
      uint8_t mask = (uint8_t)(1u << (x >> 28 & 7));
      int rc = flip_and_verify(&l, seq, 0, 0, &res, &len); /* length probe: mask 0 = no edit */
      assert_int_equal(rc, 0);
      size_t off = (x >> 8) % len;
      if (off >= PREV_OFF && off < PREV_OFF + 32) off += 32; /* not stored (see PREV_OFF) */
      if (off >= len) off = 0;
      rc = flip_and_verify(&l, seq, off, mask, &res, NULL);
      /* Every byte counts, the head seal's too: a seal signs all of its own bytes. */
      char what[96];
      snprintf(what, sizeof what, "sample seq %llu byte %zu ^0x%02x", (unsigned long long)seq, off, mask);
      expect_bad(rc, &res, seq, what);
    }
  }
  jt_lmdb_close(&l);
  jt_rm_rf(d);
  free(d);
}

static void ed_flip(MDB_txn *t, MDB_dbi db, uint64_t seq, uint64_t off);

/* Applies an edit, commits it, and checks both verify and (optionally) the CLI. */
typedef void (*edit_fn)(MDB_txn *t, MDB_dbi db, uint64_t a, uint64_t b);

static void do_edit(const char *name, edit_fn fn, uint64_t a, uint64_t b, uint64_t want_bad, int want_code, bool cli)
{
  char *d = fresh_copy(name);
  struct jt_lmdb l;
  assert_int_equal(jt_lmdb_open(&l, d), 0);
  MDB_txn *t;
  assert_int_equal(mdb_txn_begin(l.env, NULL, 0, &t), 0);
  fn(t, l.records, a, b);
  assert_int_equal(mdb_txn_commit(t), 0);
  jt_lmdb_close(&l);
  if (fn != ed_flip) assert_int_equal(jt_counter_to_head(d), 0); /* a forger's edit (jt_util.h) */
  struct journal_verify_result res;
  int rc = jt_verify_dir(d, &res);
  expect_bad(rc, &res, want_bad, name);
  if (want_code) assert_int_equal(rc, want_code);
  if (cli) {
    struct jt_out o;
    jt_hems(&o, "verify", "--dir", d, NULL);
    if (o.status != 1) fail_msg("%s: hems verify exit %d: %s%s", name, o.status, o.out, o.err);
    char want[64];
    snprintf(want, sizeof want, "first bad seq %llu: ", (unsigned long long)want_bad);
    if (!strstr(o.out, want)) fail_msg("%s: stdout lacks '%s': %s", name, want, o.out);
    if (strncmp(o.err, "hems: ", 6) != 0) fail_msg("%s: stderr: %s", name, o.err);
    jt_out_free(&o);
  }
  jt_rm_rf(d);
  free(d);
}

static void ed_flip(MDB_txn *t, MDB_dbi db, uint64_t seq, uint64_t off)
{
  uint8_t *p; size_t n;
  assert_int_equal(jt_get(t, db, seq, &p, &n), 0);
  p[off % n] ^= 0x20;
  assert_int_equal(jt_damage(t, db, seq, p, n), 0);
  free(p);
}
static void ed_delete(MDB_txn *t, MDB_dbi db, uint64_t seq, uint64_t unused) { (void)unused; assert_int_equal(jt_del(t, db, seq), 0); }
static void ed_delete_prefix(MDB_txn *t, MDB_dbi db, uint64_t upto, uint64_t unused)
{
  (void)unused;
  for (uint64_t s = 1; s <= upto; s++) assert_int_equal(jt_del(t, db, s), 0);
}
static void ed_swap(MDB_txn *t, MDB_dbi db, uint64_t a, uint64_t b)
{
  uint8_t *pa, *pb; size_t na, nb;
  assert_int_equal(jt_get(t, db, a, &pa, &na), 0);
  assert_int_equal(jt_get(t, db, b, &pb, &nb), 0);
  assert_int_equal(jt_put(t, db, a, pb, nb), 0);
  assert_int_equal(jt_put(t, db, b, pa, na), 0);
  free(pa); free(pb);
}
/* rotate a, a+1, …, b left by one: a gets a+1's record, …, b gets a's */
static void ed_rotate(MDB_txn *t, MDB_dbi db, uint64_t a, uint64_t b)
{
  uint8_t *first; size_t fn;
  assert_int_equal(jt_get(t, db, a, &first, &fn), 0);
  for (uint64_t s = a; s < b; s++) {
    uint8_t *p; size_t n;
    assert_int_equal(jt_get(t, db, s + 1, &p, &n), 0);
    assert_int_equal(jt_put(t, db, s, p, n), 0);
    free(p);
  }
  assert_int_equal(jt_put(t, db, b, first, fn), 0);
  free(first);
}
/* insert at `at` a copy of record `src`, shifting at..head up by one */
static void ed_insert(MDB_txn *t, MDB_dbi db, uint64_t at, uint64_t src)
{
  for (uint64_t s = g_head; s >= at; s--) {
    uint8_t *p; size_t n;
    assert_int_equal(jt_get(t, db, s, &p, &n), 0);
    assert_int_equal(jt_put(t, db, s + 1, p, n), 0);
    free(p);
  }
  uint8_t *p; size_t n;
  assert_int_equal(jt_get(t, db, src, &p, &n), 0);
  assert_int_equal(jt_put(t, db, at, p, n), 0);
  free(p);
}
/* Forge: re-sign seal `seq` with another key. b = 0: keep the key id (bad signature);
 * b = 1: name the other key (untrusted key). */
static void ed_forge(MDB_txn *t, MDB_dbi db, uint64_t seq, uint64_t b)
{
  uint8_t *p; size_t n;
  assert_int_equal(jt_get(t, db, seq, &p, &n), 0);
  struct journal_record r;
  assert_int_equal(journal_record_decode(p, n, &r), 0);
  assert_int_equal(r.type, JOURNAL_T_SEAL);
  uint8_t pk[32], sk[64];
  crypto_sign_keypair(pk, sk);
  if (b) journal_key_id(pk, r.body.seal.key_id);
  memset(r.body.seal.state_hash, 0x42, 32); /* what a forger would want to change */
  uint8_t msg[JOURNAL_SEAL_MESSAGE_BYTES];
  assert_int_equal(journal_seal_message(&r, msg), 0);
  crypto_sign_detached(r.body.seal.sig, NULL, msg, sizeof msg, sk);
  uint8_t out[4096];
  size_t ol;
  assert_int_equal(journal_record_encode(&r, out, sizeof out, &ol), 0);
  assert_int_equal(jt_put(t, db, seq, out, ol), 0);
  free(p);
}

static void test_structural_edits(void **state)
{
  (void)state;
  uint64_t s3 = g_seals[3], s5 = g_seals[5];
  uint64_t mid = s3 + 10;
  do_edit("delete", ed_delete, mid, 0, mid, JOURNAL_EGAP, true);
  do_edit("delete-seal", ed_delete, s5, 0, s5, JOURNAL_EGAP, false);
  do_edit("delete-first-group", ed_delete_prefix, g_seals[0], 0, 1, JOURNAL_EGAP, true);
  do_edit("delete-prefix", ed_delete_prefix, g_seals[2], 0, 1, JOURNAL_EGAP, false);
  do_edit("insert", ed_insert, mid, mid - 5, mid, JOURNAL_EGAP, false);
  do_edit("swap", ed_swap, mid, mid + 3, mid, JOURNAL_EGAP, true);
  do_edit("swap-groups", ed_swap, s3 + 2, s5 + 2, s3 + 2, JOURNAL_EGAP, false);
  do_edit("reorder", ed_rotate, mid, mid + 4, mid, JOURNAL_EGAP, false);
  do_edit("flip-cli", ed_flip, mid + 1, 60, mid + 1, 0, true);
  do_edit("forge-seal-sig", ed_forge, s5, 0, s5, JOURNAL_EBADSIG, true);
  do_edit("forge-seal-key", ed_forge, s5, 1, s5, JOURNAL_EBADSIG, true);
  do_edit("forge-last-seal", ed_forge, g_seals[g_nseals - 1], 1, g_seals[g_nseals - 1], JOURNAL_EBADSIG, false);
}

/* ---- damage to a stored pack itself: its header and its compressed frame */

static uint32_t be32at(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* The first record a damaged frame's output no longer rebuilds (original layout: n lengths, n
 * checks, then the stored records): the lowest record any changed byte belongs to — record i
 * needs its own length word, its own check and its own stored bytes (and the records before it)
 * unchanged. Not simply the first changed byte's record: the tables come before the data, so a
 * change to a late record's length word can come with a change to an early record's check or
 * bytes further on in the output, and that early record is the first bad one. */
static uint32_t first_changed_record(const uint8_t *raw, const uint8_t *got, uint32_t n, size_t rl)
{
  uint32_t first = n;
  for (uint32_t i = 0; i < n && first == n; i++)
    if (memcmp(raw + 4 * (size_t)i, got + 4 * (size_t)i, 4) != 0 ||
        memcmp(raw + (size_t)n * 4 + 4 * (size_t)i, got + (size_t)n * 4 + 4 * (size_t)i, 4) != 0)
      first = i;
  size_t d = (size_t)n * 8, pos = d;
  while (d < rl && got[d] == raw[d]) d++;
  for (uint32_t i = 0; i < first && d < rl; i++) {
    pos += be32at(raw + 4 * (size_t)i) & 0xffffff;
    if (d < pos) first = i;
  }
  return first < n ? first : n - 1;
}

static void test_pack_damage(void **state)
{
  (void)state;
  struct jt_lmdb l;
  assert_int_equal(jt_lmdb_open(&l, g_dir), 0);
  MDB_txn *t;
  assert_int_equal(mdb_txn_begin(l.env, NULL, 0, &t), 0);
  /* a pack in the middle: the one holding the middle seal */
  MDB_cursor *c;
  assert_int_equal(mdb_cursor_open(t, l.records, &c), 0);
  uint8_t kb[8];
  jt_be64(kb, g_seals[g_nseals / 2]);
  MDB_val k = { 8, kb }, v;
  int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  if (rc == 0 && jt_rd64(k.mv_data) != g_seals[g_nseals / 2]) rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
  else if (rc == MDB_NOTFOUND) rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
  assert_int_equal(rc, 0);
  uint64_t first = jt_rd64(k.mv_data);
  size_t vl = v.mv_size;
  uint8_t *orig = malloc(vl), *b = malloc(vl);
  memcpy(orig, v.mv_data, vl);
  mdb_cursor_close(c);
  mdb_txn_abort(t);
  uint32_t n = be32at(orig + 2), rl = be32at(orig + 6);
  uint8_t *raw = malloc(rl), *got = malloc(rl);
  assert_int_equal(ZSTD_decompress(raw, rl, orig + 58, vl - 58), rl); /* zstd, not our reader */
  int named_first = 0, named_later = 0, same = 0;
  for (size_t off = 0; off < vl; off += off < 58 ? 1 : 3) {
    memcpy(b, orig, vl);
    b[off] ^= 0x10;
    uint64_t want = first;
    if (off >= 58) {
      size_t z = ZSTD_decompress(got, rl, b + 58, vl - 58);
      if (!ZSTD_isError(z) && z == rl) {
        if (memcmp(got, raw, rl) == 0) { same++; continue; } /* the frame still yields the same bytes */
        want = first + first_changed_record(raw, got, n, rl);
      }
    }
    assert_int_equal(mdb_txn_begin(l.env, NULL, 0, &t), 0);
    MDB_val pk = { 8, kb }, pv = { vl, b };
    jt_be64(kb, first);
    assert_int_equal(mdb_put(t, l.records, &pk, &pv, 0), 0);
    struct journal_verify_result res;
    rc = jt_verify_txn(t, l.records, g_pk, &res);
    mdb_txn_abort(t);
    char what[96];
    snprintf(what, sizeof what, "pack %llu byte %zu of %zu", (unsigned long long)first, off, vl);
    expect_bad(rc, &res, want, what);
    if (want == first) named_first++; else named_later++;
  }
  printf("pack of %u records, %zu bytes: %d damages named at its first record, %d later, %d harmless\n", n, vl,
         named_first, named_later, same);
  assert_true(named_later > 0);
  /* Made on purpose: the output's first change is the last record's length word, a later one
   * the first record's check — the first record is the first bad one (frame made by zstd). */
  memcpy(got, raw, rl);
  got[(size_t)(n - 1) * 4 + 3] ^= 0x01;
  got[(size_t)n * 4] ^= 0x01;
  assert_int_equal(first_changed_record(raw, got, n, rl), 0);
  size_t cb = ZSTD_compressBound(rl);
  uint8_t *re = malloc(58 + cb);
  memcpy(re, orig, 58);
  size_t cl = ZSTD_compress(re + 58, cb, got, rl, 3);
  assert_false(ZSTD_isError(cl));
  assert_int_equal(mdb_txn_begin(l.env, NULL, 0, &t), 0);
  jt_be64(kb, first);
  MDB_val rk = { 8, kb }, rv = { 58 + cl, re };
  assert_int_equal(mdb_put(t, l.records, &rk, &rv, 0), 0);
  struct journal_verify_result res;
  rc = jt_verify_txn(t, l.records, g_pk, &res);
  mdb_txn_abort(t);
  expect_bad(rc, &res, first, "pack: last length word and first check changed");
  free(re);
  free(orig); free(b); free(raw); free(got);
  jt_lmdb_close(&l);
}


/* ---- state hashes: journal_verify_opt's fold. The writer's seals carry a constant state hash;
 * a test fold that keeps it until it has taken record `turn` (then another value) must be named
 * at the first seal after `turn`; a fold that refuses record `refuse` names that record. */
struct tfold { uint64_t turn, refuse; bool turned; };
static const uint8_t k_state[32] = { 0x5a, 0x17, 0x33 };
static void sh_const(void *ctx, uint8_t out[32]) { (void)ctx; memcpy(out, k_state, 32); }
static void tf_reset(void *ctx) { ((struct tfold *)ctx)->turned = false; }
static int tf_apply(void *ctx, const uint8_t *b, size_t n)
{
  struct tfold *f = ctx;
  uint64_t seq;
  unsigned type;
  uint8_t prev[32];
  if (journal_record_peek(b, n, &seq, &type, prev)) return -1;
  if (seq == f->refuse) return -1;
  if (seq == f->turn) f->turned = true;
  return 0;
}
static int tf_apply_record(void *ctx, const struct journal_record *r)
{
  struct tfold *f = ctx;
  if (r->seq == f->refuse) return -1;
  if (r->seq == f->turn) f->turned = true;
  return 0;
}
static void tf_hash(void *ctx, uint8_t out[32])
{
  memcpy(out, k_state, 32);
  if (((struct tfold *)ctx)->turned) out[31] ^= 1;
}

static int fold_verify(const char *dir, struct tfold *tf, unsigned threads, bool all, struct journal_verify_result *res)
{
  /* threads 1, 2: the fold takes bytes; 3, 4, 5: decoded records (at 4 on whichever thread is
   * idle, which on a journal this small is the checking one; at 5 all on the reading thread) */
  struct journal_verify_fold f = { tf, tf_reset, tf_apply, tf_hash, NULL };
  bool reader_decodes = threads == 5;
  if (threads == 5) threads = 4;
  if (threads > 2) { f.apply = NULL; f.apply_record = tf_apply_record; threads -= 2; }
  struct journal_reader *r;
  int rc = journal_reader_open(&r, dir, NULL, true);
  if (rc) return rc;
  struct journal_dir_source ds;
  if ((rc = journal_dir_source_init(&ds, r, 0)) == 0) {
    struct journal_verify_opts o;
    memset(&o, 0, sizeof o);
    o.threads = threads;
    o.all_seals = all;
    o.rewind = journal_dir_source_rewind;
    o.rewind_ctx = &ds;
    o.fold = &f;
    o.reader_decodes_all = reader_decodes;
    rc = journal_verify_opt(&ds.src, g_pk, NULL, &o, res);
    journal_dir_source_deinit(&ds);
  }
  journal_reader_close(r);
  return rc;
}

static void test_state_hash(void **state)
{
  (void)state;
  char *d = strdup(jt_path("%s/sdir", g_base));
  struct jt_clock clk;
  jt_clock_init(&clk, 1000);
  struct journal_options o;
  jt_opts(&o, d, &clk);
  assert_int_equal(journal_create(&o, "{}", 2, "test"), 0);
  o.group_records_max = 30;
  o.state_hash = sh_const;
  struct journal *j;
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);
  struct journal_record r;
  uint64_t s;
  for (int i = 0; i < 200; i++) { jt_fault_rec(&r, "state", i); assert_int_equal(journal_append(j, &r, &s), 0); }
  assert_int_equal(journal_close(j), 0);
  uint8_t pk[32];
  memcpy(pk, g_pk, 32);
  assert_int_equal(jt_pubkey(d, g_pk), 0);
  /* the seals, read independently of the verifier */
  uint64_t seals[32];
  int ns = 0;
  struct jt_lmdb l;
  assert_int_equal(jt_lmdb_open(&l, d), 0);
  MDB_txn *t;
  mdb_txn_begin(l.env, NULL, MDB_RDONLY, &t);
  struct jt_recs rs;
  assert_int_equal(jt_recs_load(t, l.records, &rs), 0);
  for (size_t i = 0; i < rs.n; i++) {
    struct journal_record rec;
    assert_int_equal(journal_record_decode(rs.r[i].b, rs.r[i].n, &rec), 0);
    if (rec.type == JOURNAL_T_SEAL && ns < 32) seals[ns++] = rs.first + i;
  }
  jt_recs_free(&rs);
  mdb_txn_abort(t);
  jt_lmdb_close(&l);
  assert_true(ns >= 5);
  uint64_t turn = seals[2] + 3, refuse = seals[3] + 2;
  for (unsigned threads = 1; threads <= 5; threads++)
    for (int all = 0; all < 2; all++) {
      struct journal_verify_result res;
      struct tfold tf = { 0, 0, false };
      assert_int_equal(fold_verify(d, &tf, threads, all, &res), 0);
      tf = (struct tfold){ turn, 0, false };
      expect_bad(fold_verify(d, &tf, threads, all, &res), &res, seals[3], "state hash");
      assert_non_null(strstr(res.reason, "state_hash"));
      tf = (struct tfold){ 0, refuse, false };
      int rc = fold_verify(d, &tf, threads, all, &res);
      expect_bad(rc, &res, refuse, "fold refuses a record");
      assert_int_equal(rc, JOURNAL_ECORRUPT);
    }
  memcpy(g_pk, pk, 32);
  jt_rm_rf(d);
  free(d);
}

/* ---- bundles */

struct layout { size_t hdr_end; size_t frame_off[16]; uint64_t frame_last[16]; int nframes; size_t end_off, size; };

static void parse_bundle(const uint8_t *b, size_t n, struct layout *L)
{
  memset(L, 0, sizeof *L);
  L->size = n;
  assert_true(n > 16 && memcmp(b, "HEMSBNDL", 8) == 0);
  uint32_t hl = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
  size_t off = 16 + hl + 64;
  L->hdr_end = off;
  for (;;) {
    uint32_t fl = (uint32_t)b[off] << 24 | (uint32_t)b[off + 1] << 16 | (uint32_t)b[off + 2] << 8 | b[off + 3];
    if (fl == 0) { L->end_off = off; break; }
    L->frame_off[L->nframes] = off;
    /* decompress independently to find the frame's last seq */
    unsigned long long raw = ZSTD_getFrameContentSize(b + off + 4, fl);
    uint8_t *c = malloc(raw);
    assert_int_equal(ZSTD_decompress(c, raw, b + off + 4, fl), raw);
    for (size_t p = 0; p < raw;) {
      uint32_t el = (uint32_t)c[p + 1] << 24 | (uint32_t)c[p + 2] << 16 | (uint32_t)c[p + 3] << 8 | c[p + 4];
      if (c[p] == 1) { uint64_t s = 0; for (int i = 0; i < 8; i++) s = s << 8 | c[p + 5 + i]; L->frame_last[L->nframes] = s; }
      p += 5 + el;
    }
    free(c);
    L->nframes++;
    off += 4 + fl;
  }
  assert_int_equal(L->end_off + 4 + 80 + 64, n); /* format 2: the end frame signs a content hash too */
}

static void test_bundles(void **state)
{
  (void)state;
  char *d = strdup(jt_path("%s/bdir", g_base));
  struct jt_clock clk;
  jt_clock_init(&clk, 1000);
  struct journal_options o;
  jt_opts(&o, d, &clk);
  assert_int_equal(journal_create(&o, NULL, 0, "test"), 0);
  o.group_records_max = 50;
  struct journal *j;
  assert_int_equal(journal_open(&j, &o, NULL, NULL), 0);
  static uint8_t raw[1100];
  struct journal_record r;
  uint64_t s;
  for (int i = 0; i < 300; i++) {
    jt_big_rec(&r, (char *)raw, (uint64_t)i, 1000);
    assert_int_equal(journal_append(j, &r, &s), 0);
  }
  assert_int_equal(journal_flush(j), 0);
  for (int i = 0; i < 3; i++) { jt_note_rec(&r, "the last records"); assert_int_equal(journal_append(j, &r, &s), 0); }
  assert_int_equal(journal_close(j), 0);
  uint64_t last = s + 1;

  struct journal_reader *rd;
  assert_int_equal(journal_reader_open(&rd, d, NULL, false), 0);
  struct journal_file_signer fs;
  assert_int_equal(journal_file_signer_load(&fs, d), 0);
  char *bpath = strdup(jt_path("%s/b.hems", g_base));
  struct journal_export_info info;
  assert_int_equal(journal_export(rd, &fs.signer, NULL, bpath, &info), 0);
  journal_file_signer_wipe(&fs);
  journal_reader_close(rd);
  assert_int_equal(info.last_seq, last);
  uint8_t pk[32];
  assert_int_equal(jt_pubkey(d, pk), 0);
  struct journal_verify_result res;
  assert_int_equal(jt_verify_bundle(bpath, pk, &res), 0);
  assert_int_equal(res.last_seq, last);

  size_t n;
  uint8_t *b = jt_read_file(bpath, &n);
  struct layout L;
  parse_bundle(b, n, &L);
  assert_true(L.nframes >= 2);
  assert_int_equal(L.frame_last[L.nframes - 1], last);
  char *tpath = strdup(jt_path("%s/t.hems", g_base));

  /* Every offset from the start of the last frame (it holds the last three records and
   * more) to the end, plus offsets in the header and earlier frames. */
  size_t offs[8192];
  int no = 0;
  for (size_t t = L.frame_off[L.nframes - 1]; t < n && no < 8000; t++) offs[no++] = t;
  size_t extra[] = { 0, 7, 8, 15, 16, 17, L.hdr_end - 64, L.hdr_end - 1, L.hdr_end, L.hdr_end + 2,
                     L.frame_off[0] + 100, L.frame_off[1] - 1, L.frame_off[1], L.frame_off[1] + 3 };
  for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) offs[no++] = extra[i];
  assert_true(n - L.frame_off[L.nframes - 1] < 8000);
  int cli_checked = 0;
  for (int i = 0; i < no; i++) {
    size_t t = offs[i];
    assert_int_equal(jt_write_file(tpath, b, t), 0);
    int rc = jt_verify_bundle(tpath, pk, &res);
    if (rc == 0) fail_msg("bundle cut at %zu of %zu verified", t, n);
    if (t < L.hdr_end) continue; /* header cut: open fails (checked: rc != 0) */
    uint64_t want = 0;
    if (t >= L.end_off) want = last;
    else for (int k = 0; k < L.nframes; k++) if (t >= L.frame_off[k] + (size_t)0 && k > 0 && t >= L.frame_off[k]) want = L.frame_last[k - 1];
    if (rc != JOURNAL_ETRUNC || !res.truncated || res.last_sealed_seq != want)
      fail_msg("cut at %zu: rc %d truncated %d after %llu (%s), want truncated after %llu", t, rc, res.truncated,
               (unsigned long long)res.last_sealed_seq, res.reason, (unsigned long long)want);
    if ((t == L.end_off + 10 || t == L.frame_off[L.nframes - 1] + 5 || t == n - 1) && cli_checked < 3) {
      cli_checked++;
      struct jt_out out;
      jt_hems(&out, "verify", tpath, "--pubkey", jt_path("%s/keys/signing.pub", d), NULL);
      if (out.status != 1) fail_msg("cli cut %zu: exit %d %s", t, out.status, out.err);
      char w1[64], w2[64];
      snprintf(w1, sizeof w1, "truncated after seq %llu", (unsigned long long)want);
      snprintf(w2, sizeof w2, "hems: bundle damaged after seq %llu: ", (unsigned long long)want);
      if (!strstr(out.out, w1)) fail_msg("cli cut %zu: stdout lacks '%s': %s", t, w1, out.out);
      if (!strstr(out.err, w2)) fail_msg("cli cut %zu: stderr lacks '%s': %s", t, w2, out.err);
      jt_out_free(&out);
    }
  }
  assert_int_equal(cli_checked, 3);

  /* Flipped bytes: header, each frame (start, middle, end), end frame. */
  size_t flips[] = { 9, 13, 20, L.hdr_end - 70, L.hdr_end - 5, L.frame_off[0] + 2, L.frame_off[0] + 50,
                     L.frame_off[1] - 1, L.frame_off[1] + 4, (L.frame_off[1] + L.end_off) / 2, L.end_off - 1,
                     L.end_off + 2, L.end_off + 8, L.end_off + 30, n - 1 };
  for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
    for (int bit = 0; bit < 8; bit += 3) {
      b[flips[i]] ^= (uint8_t)(1 << bit);
      assert_int_equal(jt_write_file(tpath, b, n), 0);
      b[flips[i]] ^= (uint8_t)(1 << bit);
      int rc = jt_verify_bundle(tpath, pk, &res);
      if (rc == 0) fail_msg("bundle with byte %zu ^%d verified", flips[i], 1 << bit);
    }
  }
  {
    /* format 3: the first frame begins with the tree entry (the head's note), which no seal
     * covers: a byte changed there is caught by the content hash at the end, after the records
     * the seals proved ("after seq N"); one in the records by their seal ("after seq 0") */
    b[L.frame_off[0] + 50] ^= 0x10;
    assert_int_equal(jt_write_file(tpath, b, n), 0);
    b[L.frame_off[0] + 50] ^= 0x10;
    struct jt_out out;
    jt_hems(&out, "verify", tpath, "--pubkey", jt_path("%s/keys/signing.pub", d), NULL);
    assert_int_equal(out.status, 1);
    assert_true(strstr(out.err, "hems: bundle damaged after seq 0") ||
                (strstr(out.err, "hems: bundle damaged after seq ") && strstr(out.err, "content hash")));
    jt_out_free(&out);
  }
  /* Trailing bytes after the end frame. */
  uint8_t *b2 = malloc(n + 1);
  memcpy(b2, b, n);
  b2[n] = 0;
  assert_int_equal(jt_write_file(tpath, b2, n + 1), 0);
  assert_true(jt_verify_bundle(tpath, pk, &res) != 0);
  free(b2);
  /* A bundle signed by another key does not verify against ours. */
  uint8_t other[32];
  memcpy(other, pk, 32);
  other[0] ^= 1;
  assert_true(jt_verify_bundle(bpath, other, &res) != 0);
  free(b);
  free(tpath);
  free(bpath);
  free(d);
}

int main(void)
{
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_intact),
    cmocka_unit_test(test_flip_every_byte),
    cmocka_unit_test(test_structural_edits),
    cmocka_unit_test(test_pack_damage),
    cmocka_unit_test(test_bundles),
    cmocka_unit_test(test_state_hash),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
