/*
 * test_merkle.c — the RFC 9162 Merkle tree, its C2SP tiles and its proofs (journal/merkle.c).
 *
 * Expected values come from outside our code: the Certificate Transparency reference vectors
 * (RFC 6962 test data: roots of sizes 0..8, two inclusion and two consistency proofs), the
 * C2SP tlog-tiles text (which tiles a tree of 70,000 and of 256 leaves has), and the RFC's
 * recursive definitions of MTH, PATH and SUBPROOF written out naively over an array of leaf
 * hashes (no tiles, no right edge) — the tiled, incremental code must agree with them at every
 * size, and every proof must verify while every one-byte change, truncation, extension or
 * wrong index is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>
#include "journal.h"

#define HB JOURNAL_HASH_BYTES

static struct journal_merkle_hasher H;

static void unhex(const char *s, uint8_t *out)
{
  for (size_t i = 0; s[2 * i]; i++) {
    unsigned v;
    sscanf(s + 2 * i, "%2x", &v);
    out[i] = (uint8_t)v;
  }
}

static void assert_hash(const uint8_t *got, const char *want_hex)
{
  uint8_t want[HB];
  unhex(want_hex, want);
  assert_memory_equal(got, want, HB);
}

/* ---------------------------------------------------------------- the RFC, naively */

static uint64_t split_k(uint64_t n)
{
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

static void mth(const uint8_t (*d)[HB], uint64_t n, uint8_t out[HB])
{
  if (n == 1) { memcpy(out, d[0], HB); return; }
  uint64_t k = split_k(n);
  uint8_t l[HB], r[HB];
  mth(d, k, l);
  mth(d + k, n - k, r);
  journal_merkle_node_hash(&H, l, r, out);
}

static void naive_path(uint64_t m, const uint8_t (*d)[HB], uint64_t n, uint8_t out[][HB], unsigned *np)
{
  if (n == 1) return;
  uint64_t k = split_k(n);
  if (m < k) { naive_path(m, d, k, out, np); mth(d + k, n - k, out[(*np)++]); }
  else { naive_path(m - k, d + k, n - k, out, np); mth(d, k, out[(*np)++]); }
}

static void naive_subproof(uint64_t m, const uint8_t (*d)[HB], uint64_t n, bool b, uint8_t out[][HB], unsigned *np)
{
  if (m == n) { if (!b) mth(d, n, out[(*np)++]); return; }
  uint64_t k = split_k(n);
  if (m <= k) { naive_subproof(m, d, k, b, out, np); mth(d + k, n - k, out[(*np)++]); }
  else { naive_subproof(m - k, d + k, n - k, false, out, np); mth(d, k, out[(*np)++]); }
}

/* ---------------------------------------------------------------- a tree in memory */

struct tree {
  struct journal_merkle_memtiles tiles;
  struct journal_merkle_appender *a;
  struct journal_merkle_tile_reader r;
  uint8_t (*leaves)[HB];
  uint64_t n;
};

static void leaf_of(uint64_t i, uint8_t out[HB])
{
  uint8_t rec[24];
  memset(rec, (int)(i * 131), sizeof rec);
  memcpy(rec, &i, sizeof i);
  journal_merkle_leaf_hash(&H, rec, sizeof rec, out);
}

static void tree_build(struct tree *t, uint64_t n)
{
  memset(t, 0, sizeof *t);
  journal_merkle_memtiles_init(&t->tiles);
  t->a = malloc(sizeof *t->a);
  t->leaves = malloc((size_t)(n ? n : 1) * HB);
  assert_non_null(t->a);
  assert_non_null(t->leaves);
  journal_merkle_appender_init(t->a, &H, journal_merkle_memtiles_put, &t->tiles);
  for (uint64_t i = 0; i < n; i++) {
    leaf_of(i, t->leaves[i]);
    assert_int_equal(journal_merkle_append(t->a, t->leaves[i]), 0);
  }
  assert_int_equal(journal_merkle_flush(t->a), 0);
  t->r = journal_merkle_memtiles_reader(&t->tiles);
  t->n = n;
}

static void tree_free(struct tree *t)
{
  journal_merkle_memtiles_deinit(&t->tiles);
  free(t->a);
  free(t->leaves);
}

/* Every way of spoiling a valid inclusion proof is refused. */
static void spoil_inclusion(const uint8_t leaf[HB], uint64_t m, uint64_t n, const uint8_t root[HB],
                            uint8_t p[][HB], unsigned np)
{
  assert_int_equal(journal_merkle_verify_inclusion(&H, leaf, m, n, root, (const uint8_t(*)[HB])p, np), 0);
  for (unsigned i = 0; i < np; i++) {
    unsigned byte = (unsigned)((m * 7 + i * 13) % HB);
    p[i][byte] ^= 0x01;
    assert_int_equal(journal_merkle_verify_inclusion(&H, leaf, m, n, root, (const uint8_t(*)[HB])p, np), JOURNAL_EPROOF);
    p[i][byte] ^= 0x01;
  }
  if (np) assert_int_equal(journal_merkle_verify_inclusion(&H, leaf, m, n, root, (const uint8_t(*)[HB])p, np - 1), JOURNAL_EPROOF);
  memset(p[np], 0xab, HB);
  assert_int_equal(journal_merkle_verify_inclusion(&H, leaf, m, n, root, (const uint8_t(*)[HB])p, np + 1), JOURNAL_EPROOF);
  if (n > 1) {
    assert_int_equal(journal_merkle_verify_inclusion(&H, leaf, (m + 1) % n, n, root, (const uint8_t(*)[HB])p, np), JOURNAL_EPROOF);
  }
  /* (A changed size is not in the list: the RFC path does not bind it — leaf 0 of 3 has the
   * same path as in a tree of 4 whose last leaf is an inner hash — the signed size does.) */
  assert_int_equal(journal_merkle_verify_inclusion(&H, leaf, n, n, root, (const uint8_t(*)[HB])p, np), JOURNAL_EPROOF);
  uint8_t bad[HB];
  memcpy(bad, root, HB);
  bad[HB - 1] ^= 0x80;
  assert_int_equal(journal_merkle_verify_inclusion(&H, leaf, m, n, bad, (const uint8_t(*)[HB])p, np), JOURNAL_EPROOF);
}

static void spoil_consistency(uint64_t m, const uint8_t r1[HB], uint64_t n, const uint8_t r2[HB], uint8_t p[][HB],
                              unsigned np)
{
  assert_int_equal(journal_merkle_verify_consistency(&H, m, r1, n, r2, (const uint8_t(*)[HB])p, np), 0);
  for (unsigned i = 0; i < np; i++) {
    unsigned byte = (unsigned)((m * 5 + n + i * 11) % HB);
    p[i][byte] ^= 0x10;
    assert_int_equal(journal_merkle_verify_consistency(&H, m, r1, n, r2, (const uint8_t(*)[HB])p, np), JOURNAL_EPROOF);
    p[i][byte] ^= 0x10;
  }
  if (np) assert_int_equal(journal_merkle_verify_consistency(&H, m, r1, n, r2, (const uint8_t(*)[HB])p, np - 1), JOURNAL_EPROOF);
  memset(p[np], 0xcd, HB);
  assert_int_equal(journal_merkle_verify_consistency(&H, m, r1, n, r2, (const uint8_t(*)[HB])p, np + 1), JOURNAL_EPROOF);
  uint8_t bad[HB];
  memcpy(bad, r1, HB);
  bad[0] ^= 1;
  assert_int_equal(journal_merkle_verify_consistency(&H, m, bad, n, r2, (const uint8_t(*)[HB])p, np), JOURNAL_EPROOF);
  memcpy(bad, r2, HB);
  bad[0] ^= 1;
  assert_int_equal(journal_merkle_verify_consistency(&H, m, r1, n, bad, (const uint8_t(*)[HB])p, np), JOURNAL_EPROOF);
  if (m > 1 && m < n)
    assert_int_equal(journal_merkle_verify_consistency(&H, m - 1, r1, n, r2, (const uint8_t(*)[HB])p, np), JOURNAL_EPROOF);
  assert_int_equal(journal_merkle_verify_consistency(&H, n + 1, r1, n, r2, (const uint8_t(*)[HB])p, np), JOURNAL_EPROOF);
}

/* ---------------------------------------------------------------- tests */

/* The CT reference leaves and tree heads (RFC 6962 test data). */
static const char *const ct_leaves[8] = { "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                          "606162636465666768696a6b6c6d6e6f" };
static const char *const ct_roots[9] = {
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void test_ct_vectors(void **state)
{
  (void)state;
  struct journal_merkle_memtiles mt;
  journal_merkle_memtiles_init(&mt);
  struct journal_merkle_appender *a = malloc(sizeof *a);
  journal_merkle_appender_init(a, &H, journal_merkle_memtiles_put, &mt);
  struct journal_merkle_tile_reader r = journal_merkle_memtiles_reader(&mt);
  uint8_t root[HB], leaves[8][HB];
  assert_int_equal(journal_merkle_appender_root(a, root), 0);
  assert_hash(root, ct_roots[0]);
  for (int i = 0; i < 8; i++) {
    uint8_t rec[16];
    unhex(ct_leaves[i], rec);
    journal_merkle_leaf_hash(&H, rec, strlen(ct_leaves[i]) / 2, leaves[i]);
    assert_int_equal(journal_merkle_append(a, leaves[i]), 0);
    assert_int_equal(journal_merkle_appender_root(a, root), 0);
    assert_hash(root, ct_roots[i + 1]);
  }
  assert_int_equal(journal_merkle_flush(a), 0);
  for (int n = 0; n <= 8; n++) {
    assert_int_equal(journal_merkle_root(&H, &r, (uint64_t)n, root), 0);
    assert_hash(root, ct_roots[n]);
  }
  uint8_t p[JOURNAL_MERKLE_PROOF_MAX + 1][HB];
  unsigned np;
  static const struct { uint64_t m, n; const char *proof[3]; } incl[2] = {
    { 0, 8, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
              "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
              "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
    { 5, 8, { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
              "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
              "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
  };
  uint8_t r8[HB];
  unhex(ct_roots[8], r8);
  for (int v = 0; v < 2; v++) {
    assert_int_equal(journal_merkle_prove_inclusion(&H, &r, incl[v].m, incl[v].n, p, &np), 0);
    assert_int_equal(np, 3);
    for (unsigned i = 0; i < 3; i++) assert_hash(p[i], incl[v].proof[i]);
    spoil_inclusion(leaves[incl[v].m], incl[v].m, 8, r8, p, np);
  }
  static const struct { uint64_t m, n; unsigned np; const char *proof[3]; } cons[2] = {
    { 2, 8, 2, { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                 "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
    { 6, 8, 3, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                 "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                 "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
  };
  for (int v = 0; v < 2; v++) {
    assert_int_equal(journal_merkle_prove_consistency(&H, &r, cons[v].m, cons[v].n, p, &np), 0);
    assert_int_equal(np, cons[v].np);
    for (unsigned i = 0; i < np; i++) assert_hash(p[i], cons[v].proof[i]);
    uint8_t r1[HB];
    unhex(ct_roots[cons[v].m], r1);
    spoil_consistency(cons[v].m, r1, 8, r8, p, np);
  }
  /* a tree is consistent with itself by the empty proof, and only with itself */
  uint8_t r4[HB];
  unhex(ct_roots[4], r4);
  assert_int_equal(journal_merkle_prove_consistency(&H, &r, 4, 4, p, &np), 0);
  assert_int_equal(np, 0);
  assert_int_equal(journal_merkle_verify_consistency(&H, 4, r4, 4, r4, (const uint8_t(*)[HB])p, 0), 0);
  assert_int_equal(journal_merkle_verify_consistency(&H, 4, r4, 4, r8, (const uint8_t(*)[HB])p, 0), JOURNAL_EPROOF);
  assert_int_equal(journal_merkle_prove_consistency(&H, &r, 0, 4, p, &np), -EINVAL);
  assert_int_equal(journal_merkle_prove_consistency(&H, &r, 5, 4, p, &np), -EINVAL);
  assert_int_equal(journal_merkle_prove_inclusion(&H, &r, 8, 8, p, &np), -EINVAL);
  free(a);
  journal_merkle_memtiles_deinit(&mt);
}

/* Every size up to 600 (three level-0 tiles, two level-1 entries): roots and every proof of
 * the tiled code equal the naive recursion's, and verify; spoiled ones do not. */
static void test_against_rfc_definitions(void **state)
{
  (void)state;
  struct tree t;
  tree_build(&t, 600);
  uint8_t got[JOURNAL_MERKLE_PROOF_MAX + 1][HB], want[JOURNAL_MERKLE_PROOF_MAX][HB];
  uint8_t (*roots)[HB] = malloc((t.n + 1) * HB);
  unsigned ng, nw;
  for (uint64_t n = 1; n <= t.n; n++) {
    mth((const uint8_t(*)[HB])t.leaves, n, roots[n]);
    uint8_t r[HB];
    assert_int_equal(journal_merkle_root(&H, &t.r, n, r), 0);
    assert_memory_equal(r, roots[n], HB);
  }
  uint8_t r[HB];
  assert_int_equal(journal_merkle_appender_root(t.a, r), 0);
  assert_memory_equal(r, roots[t.n], HB);
  for (uint64_t n = 1; n <= t.n; n += (n < 70 ? 1 : 37)) {
    for (uint64_t m = 0; m < n; m += (n < 70 ? 1 : 13)) {
      assert_int_equal(journal_merkle_prove_inclusion(&H, &t.r, m, n, got, &ng), 0);
      nw = 0;
      naive_path(m, (const uint8_t(*)[HB])t.leaves, n, want, &nw);
      assert_int_equal(ng, nw);
      assert_memory_equal(got, want, (size_t)ng * HB);
      spoil_inclusion(t.leaves[m], m, n, roots[n], got, ng);
    }
    for (uint64_t m = 1; m <= n; m += (n < 70 ? 1 : 11)) {
      assert_int_equal(journal_merkle_prove_consistency(&H, &t.r, m, n, got, &ng), 0);
      nw = 0;
      if (m < n) naive_subproof(m, (const uint8_t(*)[HB])t.leaves, n, true, want, &nw);
      assert_int_equal(ng, nw);
      assert_memory_equal(got, want, (size_t)ng * HB);
      if (m < n) spoil_consistency(m, roots[m], n, roots[n], got, ng);
      else assert_int_equal(journal_merkle_verify_consistency(&H, m, roots[m], n, roots[n], (const uint8_t(*)[HB])got, 0), 0);
    }
  }
  free(roots);
  tree_free(&t);
}

/* The tile set is the one C2SP tlog-tiles describes. */
static void expect_tiles(const struct tree *t, unsigned level, uint64_t full, unsigned partial)
{
  for (uint64_t i = 0; i < full; i++) assert_int_equal(t->tiles.width[level][i], JOURNAL_MERKLE_TILE_WIDTH);
  uint64_t end = full;
  if (partial) assert_int_equal(t->tiles.width[level][end++], partial);
  for (uint64_t i = end; i < t->tiles.cap[level]; i++) assert_int_equal(t->tiles.width[level][i], 0);
}

static void test_tile_shapes(void **state)
{
  (void)state;
  struct tree t;
  /* "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0
   * tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one
   * partial level 2 tile of width 1." */
  tree_build(&t, 70000);
  expect_tiles(&t, 0, 273, 112);
  expect_tiles(&t, 1, 1, 17);
  expect_tiles(&t, 2, 0, 1);
  for (unsigned l = 3; l < JOURNAL_MERKLE_TILE_LEVELS; l++) assert_int_equal(t.tiles.cap[l], 0);
  /* tile (1, 0) entry i is MTH of leaves [256 i, 256 i + 256); tile (2, 0) entry 0 of 65536 */
  uint8_t want[HB];
  for (unsigned i = 0; i < 256; i += 51) {
    mth((const uint8_t(*)[HB])t.leaves + 256 * i, 256, want);
    assert_memory_equal(t.tiles.hashes[1] + (size_t)i * HB, want, HB);
  }
  mth((const uint8_t(*)[HB])t.leaves, 65536, want);
  assert_memory_equal(t.tiles.hashes[2], want, HB);
  /* proofs across three tile levels */
  uint8_t p[JOURNAL_MERKLE_PROOF_MAX + 1][HB], root[HB], r1[HB];
  unsigned np;
  mth((const uint8_t(*)[HB])t.leaves, 70000, root);
  for (uint64_t m = 0; m < 70000; m += 6553) {
    assert_int_equal(journal_merkle_prove_inclusion(&H, &t.r, m, 70000, p, &np), 0);
    spoil_inclusion(t.leaves[m], m, 70000, root, p, np);
  }
  static const uint64_t olds[] = { 1, 255, 256, 257, 65535, 65536, 65537, 69999 };
  for (unsigned i = 0; i < sizeof olds / sizeof olds[0]; i++) {
    mth((const uint8_t(*)[HB])t.leaves, olds[i], r1);
    assert_int_equal(journal_merkle_prove_consistency(&H, &t.r, olds[i], 70000, p, &np), 0);
    spoil_consistency(olds[i], r1, 70000, root, p, np);
  }
  tree_free(&t);
  /* "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile
   * of width 1" */
  tree_build(&t, 256);
  expect_tiles(&t, 0, 1, 0);
  expect_tiles(&t, 1, 0, 1);
  tree_free(&t);
}

/* Flush emits exactly the partial tiles that grew; a full tile is emitted once, when it fills. */
struct emitted { unsigned n; unsigned level[16]; uint64_t index[16]; unsigned width[16]; };
static int record_tile(void *ctx, unsigned level, uint64_t index, const uint8_t *hashes, unsigned width)
{
  (void)hashes;
  struct emitted *e = ctx;
  if (e->n < 16) { e->level[e->n] = level; e->index[e->n] = index; e->width[e->n] = width; }
  e->n++;
  return 0;
}

static void test_emission(void **state)
{
  (void)state;
  struct emitted e = { 0 };
  struct journal_merkle_appender *a = malloc(sizeof *a);
  journal_merkle_appender_init(a, &H, record_tile, &e);
  uint8_t leaf[HB];
  for (uint64_t i = 0; i < 255; i++) { leaf_of(i, leaf); assert_int_equal(journal_merkle_append(a, leaf), 0); }
  assert_int_equal(e.n, 0);
  assert_int_equal(journal_merkle_flush(a), 0);
  assert_int_equal(e.n, 1);
  assert_true(e.level[0] == 0 && e.index[0] == 0 && e.width[0] == 255);
  assert_int_equal(journal_merkle_flush(a), 0); /* nothing grew */
  assert_int_equal(e.n, 1);
  leaf_of(255, leaf);
  assert_int_equal(journal_merkle_append(a, leaf), 0); /* fills tile (0, 0) */
  assert_int_equal(e.n, 2);
  assert_true(e.level[1] == 0 && e.index[1] == 0 && e.width[1] == 256);
  leaf_of(256, leaf);
  assert_int_equal(journal_merkle_append(a, leaf), 0);
  assert_int_equal(journal_merkle_flush(a), 0);
  assert_int_equal(e.n, 4); /* (0, 1) width 1 and (1, 0) width 1 */
  assert_true(e.level[2] == 0 && e.index[2] == 1 && e.width[2] == 1);
  assert_true(e.level[3] == 1 && e.index[3] == 0 && e.width[3] == 1);
  free(a);
}

/* An appender restored from stored tiles continues exactly as the one that never stopped. */
static void test_restore(void **state)
{
  (void)state;
  static const uint64_t cuts[] = { 1, 2, 255, 256, 257, 511, 512, 1000, 65536, 65537 };
  struct tree whole;
  tree_build(&whole, 66000);
  for (unsigned c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
    struct tree part;
    tree_build(&part, cuts[c]);
    struct journal_merkle_appender *b = malloc(sizeof *b);
    journal_merkle_appender_init(b, &H, journal_merkle_memtiles_put, &part.tiles);
    assert_int_equal(journal_merkle_appender_restore(b, &part.r, cuts[c]), 0);
    for (uint64_t i = cuts[c]; i < whole.n; i++) assert_int_equal(journal_merkle_append(b, whole.leaves[i]), 0);
    assert_int_equal(journal_merkle_flush(b), 0);
    uint8_t r1[HB], r2[HB];
    assert_int_equal(journal_merkle_appender_root(b, r1), 0);
    assert_int_equal(journal_merkle_appender_root(whole.a, r2), 0);
    assert_memory_equal(r1, r2, HB);
    for (unsigned l = 0; l < 3; l++)
      for (uint64_t i = 0; i < whole.tiles.cap[l] && whole.tiles.width[l][i]; i++) {
        assert_int_equal(part.tiles.width[l][i], whole.tiles.width[l][i]);
        assert_memory_equal(part.tiles.hashes[l] + i * 256 * HB, whole.tiles.hashes[l] + i * 256 * HB,
                            (size_t)whole.tiles.width[l][i] * HB);
      }
    free(b);
    tree_free(&part);
  }
  tree_free(&whole);
}

/* The store's layout: no level-0 tiles, level 0 hashed from the records on demand. Roots,
 * proofs and a restored appender are the same as with every tile stored. */
static int keep_upper(void *ctx, unsigned level, uint64_t index, const uint8_t *hashes, unsigned width)
{
  return level ? journal_merkle_memtiles_put(ctx, level, index, hashes, width) : 0;
}
struct recs { uint64_t n, cut; uint8_t rec[24]; };
static int get_rec(void *ctx, uint64_t i, const uint8_t **b, size_t *len)
{
  struct recs *r = ctx;
  if (i >= r->n || i < r->cut) return JOURNAL_ENOTFOUND;
  memset(r->rec, (int)(i * 131), sizeof r->rec); /* the bytes leaf_of hashes */
  memcpy(r->rec, &i, sizeof i);
  *b = r->rec;
  *len = sizeof r->rec;
  return 0;
}

static void test_level0_from_records(void **state)
{
  (void)state;
  struct tree full;
  tree_build(&full, 70000);
  struct journal_merkle_memtiles upper;
  journal_merkle_memtiles_init(&upper);
  struct journal_merkle_appender *a = malloc(sizeof *a);
  journal_merkle_appender_init(a, &H, keep_upper, &upper);
  for (uint64_t i = 0; i < full.n; i++) assert_int_equal(journal_merkle_append(a, full.leaves[i]), 0);
  assert_int_equal(journal_merkle_flush(a), 0);
  assert_int_equal(upper.cap[0], 0);
  struct recs rs = { full.n, 0, { 0 } };
  struct journal_merkle_records src = { &H, get_rec, &rs, journal_merkle_memtiles_reader(&upper) };
  struct journal_merkle_tile_reader r = journal_merkle_records_reader(&src);
  uint8_t r1[HB], r2[HB], p1[JOURNAL_MERKLE_PROOF_MAX][HB], p2[JOURNAL_MERKLE_PROOF_MAX][HB];
  unsigned n1, n2;
  for (uint64_t n = 1; n <= full.n; n = n * 3 + 1) {
    assert_int_equal(journal_merkle_root(&H, &r, n, r1), 0);
    assert_int_equal(journal_merkle_root(&H, &full.r, n, r2), 0);
    assert_memory_equal(r1, r2, HB);
    uint64_t m = n / 3;
    assert_int_equal(journal_merkle_prove_inclusion(&H, &r, m, n, p1, &n1), 0);
    assert_int_equal(journal_merkle_prove_inclusion(&H, &full.r, m, n, p2, &n2), 0);
    assert_int_equal(n1, n2);
    assert_memory_equal(p1, p2, (size_t)n1 * HB);
    assert_int_equal(journal_merkle_prove_consistency(&H, &r, m + 1, n, p1, &n1), 0);
    assert_int_equal(journal_merkle_prove_consistency(&H, &full.r, m + 1, n, p2, &n2), 0);
    assert_int_equal(n1, n2);
    assert_memory_equal(p1, p2, (size_t)n1 * HB);
  }
  struct journal_merkle_appender *b = malloc(sizeof *b);
  journal_merkle_appender_init(b, &H, keep_upper, &upper);
  assert_int_equal(journal_merkle_appender_restore(b, &r, 66666), 0);
  for (uint64_t i = 66666; i < full.n; i++) assert_int_equal(journal_merkle_append(b, full.leaves[i]), 0);
  assert_int_equal(journal_merkle_appender_root(b, r1), 0);
  assert_int_equal(journal_merkle_appender_root(full.a, r2), 0);
  assert_memory_equal(r1, r2, HB);
  /* records cut by retention: proofs that need no level-0 tile under the cut still work (a
   * consistency proof between sizes that are multiples of 256 above it), one that does fails
   * with the reader's error, never with a wrong proof */
  rs.cut = 65536;
  assert_int_equal(journal_merkle_prove_consistency(&H, &r, 65536, 69888, p1, &n1), 0);
  assert_int_equal(journal_merkle_prove_consistency(&H, &full.r, 65536, 69888, p2, &n2), 0);
  assert_memory_equal(p1, p2, (size_t)n1 * HB);
  assert_int_equal(journal_merkle_prove_inclusion(&H, &r, 100, 69888, p1, &n1), JOURNAL_ENOTFOUND);
  free(a);
  free(b);
  journal_merkle_memtiles_deinit(&upper);
  tree_free(&full);
}

/* A reader that cannot serve a tile makes roots and proofs fail with its error, never with a
 * wrong answer; a failing tile callback is returned by append. */
static int no_tiles(void *ctx, unsigned level, uint64_t index, unsigned first, unsigned count, uint8_t *out)
{
  (void)ctx, (void)level, (void)index, (void)first, (void)count, (void)out;
  return JOURNAL_ENOTFOUND;
}
static int full_disk(void *ctx, unsigned level, uint64_t index, const uint8_t *hashes, unsigned width)
{
  (void)ctx, (void)level, (void)index, (void)hashes, (void)width;
  return JOURNAL_EFULL;
}

static void test_errors(void **state)
{
  (void)state;
  struct journal_merkle_tile_reader r = { no_tiles, NULL };
  uint8_t out[HB], p[JOURNAL_MERKLE_PROOF_MAX][HB];
  unsigned np;
  assert_int_equal(journal_merkle_root(&H, &r, 5, out), JOURNAL_ENOTFOUND);
  assert_int_equal(journal_merkle_prove_inclusion(&H, &r, 1, 5, p, &np), JOURNAL_ENOTFOUND);
  assert_int_equal(journal_merkle_prove_consistency(&H, &r, 2, 5, p, &np), JOURNAL_ENOTFOUND);
  struct journal_merkle_appender *a = malloc(sizeof *a);
  journal_merkle_appender_init(a, &H, full_disk, NULL);
  assert_int_equal(journal_merkle_appender_restore(a, &r, 3), JOURNAL_ENOTFOUND);
  journal_merkle_appender_init(a, &H, full_disk, NULL);
  uint8_t leaf[HB];
  for (uint64_t i = 0; i < 255; i++) { leaf_of(i, leaf); assert_int_equal(journal_merkle_append(a, leaf), 0); }
  assert_int_equal(journal_merkle_flush(a), JOURNAL_EFULL);
  leaf_of(255, leaf);
  assert_int_equal(journal_merkle_append(a, leaf), JOURNAL_EFULL);
  free(a);
}

static int setup(void **state)
{
  (void)state;
  return journal_merkle_hasher_init(&H);
}

static int teardown(void **state)
{
  (void)state;
  journal_merkle_hasher_deinit(&H);
  return 0;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ct_vectors),
    cmocka_unit_test(test_against_rfc_definitions),
    cmocka_unit_test(test_tile_shapes),
    cmocka_unit_test(test_emission),
    cmocka_unit_test(test_restore),
    cmocka_unit_test(test_level0_from_records),
    cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
