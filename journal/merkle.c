/*
 * merkle.c — the RFC 9162 Merkle tree over the records, kept as C2SP tlog-tiles.
 *
 * Hashing: leaf = SHA-256(0x00 || record bytes), node = SHA-256(0x01 || left || right), through
 * OpenSSL's libcrypto, whose SHA-256 uses the CPU's SHA extensions (x86 SHA-NI, ARMv8 crypto);
 * the EVP context is made once per hasher and reused, so a leaf costs one digest and no
 * allocation.
 *
 * The appender keeps only the right edge of the tree (one hash per set bit of the size) and the
 * rightmost tile of each of the 8 tile levels; every node is computed exactly once, when its
 * right child completes. Tile level L holds the hashes at height 8L: a hash enters level L when
 * its subtree of 2^(8L) leaves completes.
 *
 * Reading (roots and proofs for any size up to the stored one) goes through a tile reader: the
 * hash of the complete subtree at (height h, index i) is the Merkle hash of 2^(h mod 8)
 * consecutive hashes of one tile at level h div 8 — Go sumdb/tlog's tile lookup. Every range
 * the RFC's PATH and SUBPROOF recursions hash, D[lo:hi), starts at a multiple of the smallest
 * power of two ≥ hi - lo, so it splits into complete, aligned subtrees (the binary digits of
 * hi - lo, largest first) whose right fold is MTH(D[lo:hi]).
 *
 * Verification follows the RFC's own iterative algorithms (§2.1.3.2, §2.1.4.2) and shares no
 * code with the generators, so a bug in one is not mirrored in the other (the Go cross-check in
 * tests/go/ is the independent third party).
 */
#include <errno.h>
#include <string.h>
#include <openssl/evp.h>
#include "journal.h"

#define HB JOURNAL_HASH_BYTES

/* ---------------------------------------------------------------- hashing */

int journal_merkle_hasher_init(struct journal_merkle_hasher *h)
{
  memset(h, 0, sizeof *h);
  EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!md || !ctx) {
    EVP_MD_free(md);
    EVP_MD_CTX_free(ctx);
    return -ENOMEM;
  }
  h->md = md;
  h->ctx = ctx;
  return 0;
}

void journal_merkle_hasher_deinit(struct journal_merkle_hasher *h)
{
  EVP_MD_CTX_free(h->ctx);
  EVP_MD_free(h->md);
  memset(h, 0, sizeof *h);
}

static void digest2(struct journal_merkle_hasher *h, const void *a, size_t alen, const void *b, size_t blen,
                    uint8_t out[HB])
{
  unsigned n = 0;
  if (h->failed || !h->ctx || !EVP_DigestInit_ex2(h->ctx, h->md, NULL) || !EVP_DigestUpdate(h->ctx, a, alen) ||
      (blen && !EVP_DigestUpdate(h->ctx, b, blen)) || !EVP_DigestFinal_ex(h->ctx, out, &n) || n != HB) {
    h->failed = true;
    memset(out, 0, HB);
  }
}

void journal_merkle_leaf_hash(struct journal_merkle_hasher *h, const uint8_t *record, size_t len, uint8_t out[HB])
{
  static const uint8_t zero = 0x00;
  digest2(h, &zero, 1, record, len, out);
}

void journal_merkle_node_hash(struct journal_merkle_hasher *h, const uint8_t left[HB], const uint8_t right[HB],
                              uint8_t out[HB])
{
  uint8_t buf[1 + 2 * HB];
  buf[0] = 0x01;
  memcpy(buf + 1, left, HB);
  memcpy(buf + 1 + HB, right, HB);
  digest2(h, buf, sizeof buf, NULL, 0, out);
}

static int hasher_rc(const struct journal_merkle_hasher *h) { return h->failed ? -EIO : 0; }

/* ---------------------------------------------------------------- the appender */

void journal_merkle_appender_init(struct journal_merkle_appender *a, struct journal_merkle_hasher *h,
                                  journal_merkle_tile_cb on_tile, void *ctx)
{
  a->h = h;
  a->on_tile = on_tile;
  a->ctx = ctx;
  a->size = 0;
  memset(a->flushed, 0, sizeof a->flushed);
}

/* A hash at height 8·level, position pos, completed: put it in that level's rightmost tile. */
static int tile_put(struct journal_merkle_appender *a, unsigned level, uint64_t pos, const uint8_t hash[HB])
{
  unsigned off = (unsigned)(pos % JOURNAL_MERKLE_TILE_WIDTH);
  memcpy(a->tiles[level][off], hash, HB);
  if (off != JOURNAL_MERKLE_TILE_WIDTH - 1) return 0;
  a->flushed[level] = 0;
  return a->on_tile ? a->on_tile(a->ctx, level, pos / JOURNAL_MERKLE_TILE_WIDTH, a->tiles[level][0],
                                 JOURNAL_MERKLE_TILE_WIDTH) : 0;
}

int journal_merkle_append(struct journal_merkle_appender *a, const uint8_t leaf[HB])
{
  uint64_t n = a->size; /* index of the new leaf */
  uint8_t cur[HB];
  int rc = 0;
  memcpy(cur, leaf, HB);
  for (unsigned height = 0;; height++) {
    if (height % JOURNAL_MERKLE_TILE_HEIGHT == 0 && !rc)
      rc = tile_put(a, height / JOURNAL_MERKLE_TILE_HEIGHT, n >> height, cur);
    if (!((n >> height) & 1)) { /* a left child: it waits on the edge for its sibling */
      memcpy(a->edge[height], cur, HB);
      break;
    }
    journal_merkle_node_hash(a->h, a->edge[height], cur, cur);
  }
  a->size = n + 1;
  return rc ? rc : hasher_rc(a->h);
}

int journal_merkle_flush(struct journal_merkle_appender *a)
{
  for (unsigned level = 0; level < JOURNAL_MERKLE_TILE_LEVELS; level++) {
    uint64_t at_level = a->size >> (JOURNAL_MERKLE_TILE_HEIGHT * level);
    unsigned width = (unsigned)(at_level % JOURNAL_MERKLE_TILE_WIDTH);
    if (!width || width == a->flushed[level]) continue;
    int rc = a->on_tile ? a->on_tile(a->ctx, level, at_level / JOURNAL_MERKLE_TILE_WIDTH, a->tiles[level][0], width) : 0;
    if (rc) return rc;
    a->flushed[level] = (uint16_t)width;
  }
  return 0;
}

int journal_merkle_appender_root(struct journal_merkle_appender *a, uint8_t out[HB])
{
  if (a->size == 0) {
    digest2(a->h, "", 0, NULL, 0, out);
    return hasher_rc(a->h);
  }
  unsigned k = (unsigned)__builtin_ctzll(a->size);
  memcpy(out, a->edge[k], HB);
  for (k++; k < 64; k++)
    if ((a->size >> k) & 1) journal_merkle_node_hash(a->h, a->edge[k], out, out);
  return hasher_rc(a->h);
}

int journal_merkle_appender_restore(struct journal_merkle_appender *a, const struct journal_merkle_tile_reader *r,
                                    uint64_t size)
{
  a->size = 0;
  for (unsigned k = 0; k < 64; k++) {
    if (!((size >> k) & 1)) continue;
    int rc = journal_merkle_stored_hash(a->h, r, k, (size >> k) - 1, a->edge[k]);
    if (rc) return rc;
  }
  for (unsigned level = 0; level < JOURNAL_MERKLE_TILE_LEVELS; level++) {
    uint64_t at_level = size >> (JOURNAL_MERKLE_TILE_HEIGHT * level);
    unsigned width = (unsigned)(at_level % JOURNAL_MERKLE_TILE_WIDTH);
    a->flushed[level] = (uint16_t)width;
    if (!width) continue;
    int rc = r->read(r->ctx, level, at_level / JOURNAL_MERKLE_TILE_WIDTH, 0, width, a->tiles[level][0]);
    if (rc) return rc;
  }
  a->size = size;
  return 0;
}

/* ---------------------------------------------------------------- reading from tiles */

int journal_merkle_stored_hash(struct journal_merkle_hasher *h, const struct journal_merkle_tile_reader *r,
                               unsigned height, uint64_t index, uint8_t out[HB])
{
  if (height >= 64) return -EINVAL;
  unsigned level = height / JOURNAL_MERKLE_TILE_HEIGHT, within = height % JOURNAL_MERKLE_TILE_HEIGHT;
  unsigned count = 1u << within;
  uint64_t pos = index << within; /* first position at the tile level's height */
  uint8_t buf[JOURNAL_MERKLE_TILE_WIDTH / 2][HB];
  int rc = r->read(r->ctx, level, pos / JOURNAL_MERKLE_TILE_WIDTH, (unsigned)(pos % JOURNAL_MERKLE_TILE_WIDTH),
                   count, buf[0]);
  if (rc) return rc;
  for (unsigned w = count; w > 1; w /= 2)
    for (unsigned i = 0; i < w / 2; i++) journal_merkle_node_hash(h, buf[2 * i], buf[2 * i + 1], buf[i]);
  memcpy(out, buf[0], HB);
  return hasher_rc(h);
}

static int records_read(void *ctx, unsigned level, uint64_t index, unsigned first, unsigned count, uint8_t *out)
{
  struct journal_merkle_records *s = ctx;
  if (level) return s->upper.read(s->upper.ctx, level, index, first, count, out);
  for (unsigned i = 0; i < count; i++) {
    const uint8_t *b;
    size_t len;
    int rc = s->get(s->ctx, index * JOURNAL_MERKLE_TILE_WIDTH + first + i, &b, &len);
    /* a record cut by retention: its leaf hash from the partial level-0 tile the cut kept
     * beside the upper tiles, if any (retention.c: the next archive's frontier needs it) */
    if (rc == JOURNAL_ENOTFOUND && s->upper.read) {
      if ((rc = s->upper.read(s->upper.ctx, 0, index, first + i, 1, out + (size_t)i * HB))) return rc;
      continue;
    }
    if (rc) return rc;
    journal_merkle_leaf_hash(s->h, b, len, out + (size_t)i * HB);
  }
  return hasher_rc(s->h);
}

struct journal_merkle_tile_reader journal_merkle_records_reader(struct journal_merkle_records *s)
{
  return (struct journal_merkle_tile_reader){ records_read, s };
}

/* MTH(D[lo:hi]) for 0 < hi - lo, lo a multiple of the smallest power of two ≥ hi - lo (every
 * range of the RFC recursions is): the right fold of the complete subtrees that the binary
 * digits of hi - lo cut it into. */
static int range_hash(struct journal_merkle_hasher *h, const struct journal_merkle_tile_reader *r, uint64_t lo,
                      uint64_t hi, uint8_t out[HB])
{
  uint8_t parts[64][HB];
  unsigned np = 0;
  uint64_t pos = lo, n = hi - lo;
  if (hi <= lo) return -EINVAL;
  for (int k = 63; k >= 0; k--) {
    if (!((n >> k) & 1)) continue;
    if (pos & ((1ull << k) - 1)) return -EINVAL; /* not an aligned range: a bug in the caller */
    int rc = journal_merkle_stored_hash(h, r, (unsigned)k, pos >> k, parts[np++]);
    if (rc) return rc;
    pos += 1ull << k;
  }
  memcpy(out, parts[np - 1], HB);
  for (unsigned i = np - 1; i-- > 0;) journal_merkle_node_hash(h, parts[i], out, out);
  return hasher_rc(h);
}

int journal_merkle_root(struct journal_merkle_hasher *h, const struct journal_merkle_tile_reader *r, uint64_t size,
                        uint8_t out[HB])
{
  if (size == 0) {
    digest2(h, "", 0, NULL, 0, out);
    return hasher_rc(h);
  }
  return range_hash(h, r, 0, size, out);
}

/* The largest power of two smaller than n (n ≥ 2). */
static uint64_t split_point(uint64_t n) { return 1ull << (63 - __builtin_clzll(n - 1)); }

/* RFC 9162 PATH(m, D[lo:hi]): appends the path, leaf side first. */
static int path(struct journal_merkle_hasher *h, const struct journal_merkle_tile_reader *r, uint64_t m, uint64_t lo,
                uint64_t hi, uint8_t out[][HB], unsigned *n)
{
  if (hi - lo == 1) return 0;
  uint64_t k = split_point(hi - lo);
  int rc;
  if (m < lo + k) {
    if ((rc = path(h, r, m, lo, lo + k, out, n))) return rc;
    rc = range_hash(h, r, lo + k, hi, out[*n]);
  } else {
    if ((rc = path(h, r, m, lo + k, hi, out, n))) return rc;
    rc = range_hash(h, r, lo, lo + k, out[*n]);
  }
  if (!rc) (*n)++;
  return rc;
}

int journal_merkle_prove_inclusion(struct journal_merkle_hasher *h, const struct journal_merkle_tile_reader *r,
                                   uint64_t index, uint64_t size, uint8_t out[][HB], unsigned *out_n)
{
  *out_n = 0;
  if (index >= size) return -EINVAL;
  return path(h, r, index, 0, size, out, out_n);
}

/* RFC 9162 SUBPROOF(m, D[lo:hi], b) with m = old - lo. */
static int subproof(struct journal_merkle_hasher *h, const struct journal_merkle_tile_reader *r, uint64_t old,
                    uint64_t lo, uint64_t hi, bool b, uint8_t out[][HB], unsigned *n)
{
  int rc;
  if (old == hi) {
    if (b) return 0;
    if ((rc = range_hash(h, r, lo, hi, out[*n]))) return rc;
    (*n)++;
    return 0;
  }
  uint64_t k = split_point(hi - lo);
  if (old <= lo + k) {
    if ((rc = subproof(h, r, old, lo, lo + k, b, out, n))) return rc;
    rc = range_hash(h, r, lo + k, hi, out[*n]);
  } else {
    if ((rc = subproof(h, r, old, lo + k, hi, false, out, n))) return rc;
    rc = range_hash(h, r, lo, lo + k, out[*n]);
  }
  if (!rc) (*n)++;
  return rc;
}

int journal_merkle_prove_consistency(struct journal_merkle_hasher *h, const struct journal_merkle_tile_reader *r,
                                     uint64_t old_size, uint64_t new_size, uint8_t out[][HB], unsigned *out_n)
{
  *out_n = 0;
  if (old_size < 1 || old_size > new_size) return -EINVAL;
  if (old_size == new_size) return 0;
  return subproof(h, r, old_size, 0, new_size, true, out, out_n);
}

/* ---------------------------------------------------------------- verification (RFC 9162) */

int journal_merkle_verify_inclusion(struct journal_merkle_hasher *h, const uint8_t leaf[HB], uint64_t index,
                                    uint64_t size, const uint8_t root[HB], const uint8_t proof[][HB], unsigned n)
{
  /* §2.1.3.2 */
  if (index >= size) return JOURNAL_EPROOF;
  uint64_t fn = index, sn = size - 1;
  uint8_t r[HB];
  memcpy(r, leaf, HB);
  for (unsigned i = 0; i < n; i++) {
    if (sn == 0) return JOURNAL_EPROOF;
    if ((fn & 1) || fn == sn) {
      journal_merkle_node_hash(h, proof[i], r, r);
      if (!(fn & 1))
        while (!(fn & 1) && fn != 0) { fn >>= 1; sn >>= 1; }
    } else {
      journal_merkle_node_hash(h, r, proof[i], r);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (h->failed) return -EIO;
  return sn == 0 && memcmp(r, root, HB) == 0 ? 0 : JOURNAL_EPROOF;
}

int journal_merkle_verify_consistency(struct journal_merkle_hasher *h, uint64_t old_size, const uint8_t old_root[HB],
                                      uint64_t new_size, const uint8_t new_root[HB], const uint8_t proof[][HB],
                                      unsigned n)
{
  if (old_size < 1 || old_size > new_size) return JOURNAL_EPROOF;
  if (old_size == new_size) /* a tree is consistent with itself, by the empty proof only */
    return n == 0 && memcmp(old_root, new_root, HB) == 0 ? 0 : JOURNAL_EPROOF;
  /* §2.1.4.2; the path is proof, with old_root in front when old_size is a power of two */
  if (n == 0) return JOURNAL_EPROOF;
  bool prepend = (old_size & (old_size - 1)) == 0;
  unsigned total = n + (prepend ? 1 : 0);
  uint64_t fn = old_size - 1, sn = new_size - 1;
  while (fn & 1) { fn >>= 1; sn >>= 1; }
  uint8_t fr[HB], sr[HB];
  const uint8_t *first = prepend ? old_root : proof[0];
  memcpy(fr, first, HB);
  memcpy(sr, first, HB);
  for (unsigned i = 1; i < total; i++) {
    const uint8_t *c = proof[prepend ? i - 1 : i];
    if (sn == 0) return JOURNAL_EPROOF;
    if ((fn & 1) || fn == sn) {
      journal_merkle_node_hash(h, c, fr, fr);
      journal_merkle_node_hash(h, c, sr, sr);
      if (!(fn & 1))
        while (!(fn & 1) && fn != 0) { fn >>= 1; sn >>= 1; }
    } else {
      journal_merkle_node_hash(h, sr, c, sr);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (h->failed) return -EIO;
  return memcmp(fr, old_root, HB) == 0 && memcmp(sr, new_root, HB) == 0 && sn == 0 ? 0 : JOURNAL_EPROOF;
}
