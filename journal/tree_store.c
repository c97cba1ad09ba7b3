/*
 * tree_store.c — the RFC 9162 Merkle tree of the records, kept by the writer (docs/journal.md
 * "Merkle tree, tiles and checkpoints").
 *
 * The appending thread feeds every record's leaf hash into a journal_merkle_appender as the
 * record joins its group; at a seal the appender's root is the seal's tree_root, and the tiles
 * that filled or grew since the previous seal ride in the group's buffer to the writer thread,
 * which puts them into the named database `tiles` in the transaction that commits the seal.
 * Key = level (1 byte) || tile index (u64 BE), value = the tile's hashes (32 × width). Level 0
 * is not stored: its hashes are the records' leaf hashes, read back by hashing the records.
 *
 * On open the appender is restored from the stored tiles and the last < 256 records at the
 * size of the newest seal's tree, and its root is compared with that seal's tree_root before
 * the seal's own leaf is appended: damaged or missing tiles are found here, and the tree is
 * then rebuilt from the records (every record from seq 1 hashed again, every tile rewritten in
 * one transaction). A journal whose records no longer start at seq 1 and whose tiles do not
 * restore cannot be rebuilt: the open fails (JOURNAL_ECORRUPT) rather than sign a wrong root.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "store_internal.h"

#define TILE_KEY_BYTES 9
#define TILE_REC_HEAD 11 /* level(1) | index(u64) | width(u16), then the hashes */

struct journal_tree {
  struct journal_merkle_hasher h;
  struct journal_merkle_appender a;
  struct journal *j;
  MDB_txn *txn;     /* set while rebuilding: tiles go straight into it */
  bool quiet;       /* restoring: tiles already stored are not emitted again */
  int failed;       /* the appender and the groups disagree: every later seal fails */
};

static void tile_key(uint8_t k[TILE_KEY_BYTES], unsigned level, uint64_t index)
{
  k[0] = (uint8_t)level;
  journal__be64(k + 1, index);
}

static int on_tile(void *ctx, unsigned level, uint64_t index, const uint8_t *hashes, unsigned width)
{
  struct journal_tree *t = ctx;
  struct journal *j = t->j;
  if (level == 0 || t->quiet) return 0;
  if (t->txn) {
    uint8_t kb[TILE_KEY_BYTES];
    tile_key(kb, level, index);
    MDB_val k = { sizeof kb, kb }, v = { (size_t)width * JOURNAL_HASH_BYTES, (void *)hashes };
    return journal__lmdb_err(mdb_put(t->txn, j->db.tiles, &k, &v, 0));
  }
  struct group *g = j->cur;
  if (!g) return -EINVAL;
  size_t need = g->tlen + TILE_REC_HEAD + (size_t)width * JOURNAL_HASH_BYTES;
  if (need > g->tcap) {
    size_t nc = g->tcap ? g->tcap : 16384;
    while (nc < need) nc *= 2;
    uint8_t *q = realloc(g->tiles, nc);
    if (!q) return -ENOMEM;
    g->tiles = q;
    g->tcap = nc;
  }
  uint8_t *p = g->tiles + g->tlen;
  p[0] = (uint8_t)level;
  journal__be64(p + 1, index);
  p[9] = (uint8_t)(width >> 8);
  p[10] = (uint8_t)width;
  memcpy(p + TILE_REC_HEAD, hashes, (size_t)width * JOURNAL_HASH_BYTES);
  g->tlen = need;
  return 0;
}

int journal__tree_put(struct journal *j, MDB_txn *txn, const struct group *g, uint64_t *bytes)
{
  (void)j;
  for (size_t off = 0; off < g->tlen;) {
    const uint8_t *p = g->tiles + off;
    unsigned width = (unsigned)p[9] << 8 | p[10];
    MDB_val k = { TILE_KEY_BYTES, (void *)p }, v = { (size_t)width * JOURNAL_HASH_BYTES, (void *)(p + TILE_REC_HEAD) };
    int rc = mdb_put(txn, j->db.tiles, &k, &v, 0);
    if (rc) return rc; /* an LMDB code, as put_group's other puts */
    *bytes += TILE_KEY_BYTES + v.mv_size;
    off += TILE_REC_HEAD + v.mv_size;
  }
  return 0;
}

int journal__tree_leaf(struct journal *j, const uint8_t *rec, size_t len)
{
  struct journal_tree *t = j->tree;
  if (!t || t->failed) return 0; /* reported at the seal */
  uint8_t leaf[JOURNAL_HASH_BYTES];
  journal_merkle_leaf_hash(&t->h, rec, len, leaf);
  int rc = journal_merkle_append(&t->a, leaf);
  if (rc) t->failed = rc;
  return 0;
}

int journal__tree_seal(struct journal *j, uint64_t size, uint8_t root[JOURNAL_HASH_BYTES])
{
  struct journal_tree *t = j->tree;
  if (!t) { memset(root, 0, JOURNAL_HASH_BYTES); return 0; }
  if (t->failed) return t->failed;
  if (t->a.size != size) return t->failed = JOURNAL_ECORRUPT;
  int rc = journal_merkle_flush(&t->a);
  if (!rc) rc = journal_merkle_appender_root(&t->a, root);
  if (rc) t->failed = rc;
  return rc;
}

/* ------------------------------------------------------------------ restore and rebuild */

struct tread { const struct journal_dbs *db; struct journal_iter *it; };

static int read_upper(void *ctx, unsigned level, uint64_t index, unsigned first, unsigned count, uint8_t *out)
{
  struct tread *r = ctx;
  uint8_t kb[TILE_KEY_BYTES];
  tile_key(kb, level, index);
  MDB_val k = { sizeof kb, kb }, v;
  int rc = mdb_get(r->it->txn, r->db->tiles, &k, &v);
  if (rc == MDB_NOTFOUND) return JOURNAL_ENOTFOUND;
  if (rc) return journal__lmdb_err(rc);
  if (v.mv_size % JOURNAL_HASH_BYTES || v.mv_size > JOURNAL_MERKLE_TILE_WIDTH * JOURNAL_HASH_BYTES) return JOURNAL_ECORRUPT;
  if ((size_t)(first + count) * JOURNAL_HASH_BYTES > v.mv_size) return JOURNAL_ENOTFOUND; /* too narrow */
  memcpy(out, (const uint8_t *)v.mv_data + (size_t)first * JOURNAL_HASH_BYTES, (size_t)count * JOURNAL_HASH_BYTES);
  return 0;
}

static int read_record(void *ctx, uint64_t leaf_index, const uint8_t **bytes, size_t *len)
{
  struct tread *r = ctx;
  int rc = journal_iter_get(r->it, leaf_index + 1, bytes, len);
  return rc == MDB_NOTFOUND || rc == JOURNAL_ENOTFOUND ? JOURNAL_ENOTFOUND : rc;
}

/* The newest record is a seal: restore at its tree size and compare roots, then add its leaf. */
static int restore(struct journal_tree *t, const struct journal_dbs *db, struct journal_iter *it, uint64_t head)
{
  struct tread tr = { db, it };
  struct journal_merkle_records recs = { &t->h, read_record, &tr, { read_upper, &tr } };
  struct journal_merkle_tile_reader rd = journal_merkle_records_reader(&recs);
  const uint8_t *b;
  size_t len;
  struct journal_record seal;
  int rc = journal_iter_get(it, head, &b, &len);
  if (rc) return rc;
  if (journal_record_decode(b, len, &seal) || seal.type != JOURNAL_T_SEAL || seal.body.seal.sealed_seq + 1 != head)
    return JOURNAL_ECORRUPT;
  static const uint8_t zero[JOURNAL_HASH_BYTES];
  if (memcmp(seal.body.seal.tree_root, zero, sizeof zero) == 0) return JOURNAL_ENOTFOUND; /* a seal before the tree */
  t->quiet = true;
  rc = journal_merkle_appender_restore(&t->a, &rd, head - 1);
  if (rc == JOURNAL_ENOTFOUND) rc = JOURNAL_ECORRUPT; /* a tile (or a record) the tree needs is missing */
  uint8_t root[JOURNAL_HASH_BYTES];
  if (!rc) rc = journal_merkle_appender_root(&t->a, root);
  if (!rc && memcmp(root, seal.body.seal.tree_root, sizeof root) != 0) rc = JOURNAL_ECORRUPT;
  if (!rc) {
    /* its leaf: a tile it filled was stored with it */
    if ((rc = journal_iter_get(it, head, &b, &len)) == 0) {
      uint8_t leaf[JOURNAL_HASH_BYTES];
      journal_merkle_leaf_hash(&t->h, b, len, leaf);
      rc = journal_merkle_append(&t->a, leaf); /* what it grows is stored at the next seal */
    }
  }
  t->quiet = false;
  return rc;
}

/* Every tile again from the records 1..head, in one write transaction. */
static int rebuild(struct journal_tree *t, uint64_t head, MDB_txn *txn)
{
  struct journal *j = t->j;
  journal_merkle_appender_init(&t->a, &t->h, on_tile, t);
  int rc = journal__lmdb_err(mdb_drop(txn, j->db.tiles, 0));
  if (rc) return rc;
  struct journal_reader *r;
  if ((rc = journal_reader_attach(&r, j))) return rc;
  struct journal_iter *it;
  if ((rc = journal_iter_begin(r, 1, &it))) { journal_reader_close(r); return rc; }
  t->txn = txn;
  uint64_t expect = 1, seq;
  const uint8_t *b;
  size_t len;
  int got;
  while (!rc && expect <= head && (got = journal_iter_next(it, &seq, &b, &len)) != 0) {
    if (got < 0) { rc = got; break; }
    if (seq != expect) { rc = JOURNAL_ECORRUPT; break; } /* records cut: the tree cannot be rebuilt */
    uint8_t leaf[JOURNAL_HASH_BYTES];
    journal_merkle_leaf_hash(&t->h, b, len, leaf);
    rc = journal_merkle_append(&t->a, leaf);
    /* the stored tiles cover the newest seal's tree (head - 1 leaves) */
    if (!rc && seq + 1 == head) rc = journal_merkle_flush(&t->a);
    expect++;
  }
  if (!rc && expect != head + 1) rc = JOURNAL_ECORRUPT;
  if (!rc) rc = journal_merkle_flush(&t->a);
  t->txn = NULL;
  journal_iter_end(it);
  journal_reader_close(r);
  return rc;
}

int journal__tree_open(struct journal *j)
{
  struct journal_tree *t = calloc(1, sizeof *t);
  if (!t) return -ENOMEM;
  t->j = j;
  int rc = journal_merkle_hasher_init(&t->h);
  if (rc) { free(t); return rc; }
  journal_merkle_appender_init(&t->a, &t->h, on_tile, t);
  j->tree = t;
  uint64_t head = j->head_seq;
  if (head == 0) return 0;
  if (j->db.tiles_ok) {
    struct journal_reader *r;
    struct journal_iter *it;
    if ((rc = journal_reader_attach(&r, j))) return rc;
    if ((rc = journal_iter_begin(r, head, &it))) { journal_reader_close(r); return rc; }
    rc = restore(t, &j->db, it, head);
    journal_iter_end(it);
    journal_reader_close(r);
    if (rc == 0) return 0;
    if (rc != JOURNAL_ECORRUPT && rc != JOURNAL_ENOTFOUND) return rc;
  }
  MDB_txn *txn;
  if ((rc = journal__lmdb_err(mdb_txn_begin(j->env, NULL, 0, &txn)))) return rc;
  if (!j->db.tiles_ok) {
    if ((rc = journal__lmdb_err(mdb_dbi_open(txn, "tiles", MDB_CREATE, &j->db.tiles)))) { mdb_txn_abort(txn); return rc; }
  }
  rc = rebuild(t, head, txn);
  if (rc) { mdb_txn_abort(txn); return rc; }
  if ((rc = journal__lmdb_err(mdb_txn_commit(txn)))) return rc;
  j->db.tiles_ok = true;
  return 0;
}

void journal__tree_close(struct journal *j)
{
  if (!j->tree) return;
  journal_merkle_hasher_deinit(&j->tree->h);
  free(j->tree);
  j->tree = NULL;
}

/* ------------------------------------------------------------------ checking (readers) */

int journal_tiles_check(struct journal_reader *r, uint64_t *out_size)
{
  *out_size = 0;
  if (!r->db.tiles_ok) return JOURNAL_ENOTFOUND;
  struct journal_iter *it;
  uint64_t first, last;
  int rc = journal_reader_bounds(r, &first, &last);
  if (rc) return rc;
  if (!last) return JOURNAL_ENOTFOUND;
  if ((rc = journal_iter_begin(r, last, &it))) return rc;
  struct journal_tree *t = calloc(1, sizeof *t);
  if (!t) { journal_iter_end(it); return -ENOMEM; }
  if ((rc = journal_merkle_hasher_init(&t->h)) == 0) {
    journal_merkle_appender_init(&t->a, &t->h, NULL, NULL);
    rc = restore(t, &r->db, it, last);
    if (rc == 0) *out_size = last - 1;
    journal_merkle_hasher_deinit(&t->h);
  }
  free(t);
  journal_iter_end(it);
  return rc;
}

/* ------------------------------------------------------------------ proofs from a snapshot */

static int it_upper(void *ctx, unsigned level, uint64_t index, unsigned first, unsigned count, uint8_t *out)
{
  struct journal_iter *it = ctx;
  struct tread tr = { &it->r->db, it };
  if (!it->r->db.tiles_ok) return JOURNAL_ENOTFOUND;
  return read_upper(&tr, level, index, first, count, out);
}

static int it_record(void *ctx, uint64_t leaf_index, const uint8_t **bytes, size_t *len)
{
  struct tread tr = { NULL, ctx };
  return read_record(&tr, leaf_index, bytes, len);
}

struct journal_merkle_tile_reader journal_iter_tile_reader(struct journal_iter *it, struct journal_merkle_hasher *h,
                                                           struct journal_merkle_records *rs)
{
  rs->h = h;
  rs->get = it_record;
  rs->ctx = it;
  rs->upper.read = it_upper;
  rs->upper.ctx = it;
  return journal_merkle_records_reader(rs);
}
