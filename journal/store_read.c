/*
 * store_read.c — reading a data dir: bounds, iterators, point reads, blobs, checkpoints and the
 * index queries (index blocks, groups, time seek). Every length read from the store is bounded
 * before it is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include <zstd.h>
#include "codec_internal.h"
#include "store_internal.h"
#include "timequality_internal.h"

/* Where does the group holding seq start? */
static int group_start_of(MDB_txn *txn, const struct journal_dbs *db, uint64_t seq, uint64_t *first, uint64_t *last)
{
  MDB_cursor *c;
  uint8_t kb[8];
  journal__be64(kb, seq);
  MDB_val k = { 8, kb }, v;
  int rc = mdb_cursor_open(txn, db->groups, &c);
  if (rc) return journal__lmdb_err(rc);
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  if (rc == 0 && journal__rd64(k.mv_data) == seq) {
    /* exact */
  } else {
    rc = rc == 0 ? mdb_cursor_get(c, &k, &v, MDB_PREV) : mdb_cursor_get(c, &k, &v, MDB_LAST);
  }
  if (rc == 0 && v.mv_size == GROUP_ENTRY_BYTES) {
    *first = journal__rd64(k.mv_data);
    *last = journal__rd64(v.mv_data);
    if (seq < *first || seq > *last) rc = MDB_NOTFOUND;
  } else if (rc == 0) {
    rc = MDB_CORRUPTED;
  }
  mdb_cursor_close(c);
  return journal__lmdb_err(rc);
}

int journal_reader_bounds(struct journal_reader *r, uint64_t *first, uint64_t *last)
{
  MDB_txn *txn;
  *first = *last = 0;
  int rc = journal__read_txn(r->env, &txn);
  if (rc) return rc;
  rc = journal__rec_bounds(txn, &r->db, first, last);
  mdb_txn_abort(txn);
  return rc;
}

int journal_iter_begin(struct journal_reader *r, uint64_t from_seq, struct journal_iter **out)
{
  struct journal_iter *it = calloc(1, sizeof *it);
  if (!it) return -ENOMEM;
  it->r = r;
  int rc = journal__read_txn(r->env, &it->txn);
  if (rc) { free(it); return rc; }
  rc = journal__rcur_open(&it->rc, it->txn, &r->db, &it->pc, PACK_CHECKED, from_seq);
  if (rc) { mdb_txn_abort(it->txn); free(it); return rc; }
  *out = it;
  return 0;
}

int journal__iter_restart(struct journal_iter *it, uint64_t from_seq, int mode)
{
  journal__rcur_close(&it->rc);
  return journal__rcur_open(&it->rc, it->txn, &it->r->db, &it->pc, mode, from_seq);
}

int journal_iter_next(struct journal_iter *it, uint64_t *seq, const uint8_t **bytes, size_t *len)
{
  return journal__rcur_next(&it->rc, seq, bytes, len);
}

int journal__iter_last_hash(const struct journal_iter *it, uint8_t out[JOURNAL_HASH_BYTES])
{
  return journal__rcur_last_hash(&it->rc, out);
}

int journal_iter_next_record(struct journal_iter *it, uint64_t *seq, struct journal_record *out)
{
  if (it->rc.mode != PACK_FAST && !it->rc.started) it->rc.mode = PACK_FAST;
  const uint8_t *b;
  size_t n;
  int rc = journal__rcur_next(&it->rc, seq, &b, &n);
  if (rc <= 0) return rc;
  if ((rc = journal_record_decode(b, n, out))) return rc;
  if (out->seq != *seq) return JOURNAL_EGAP;
  return 1;
}

int journal_iter_get(struct journal_iter *it, uint64_t seq, const uint8_t **bytes, size_t *len)
{
  return journal__rec_get(it->txn, &it->r->db, &it->pc, seq, bytes, len);
}

int journal_iter_get_blob(struct journal_iter *it, const uint8_t hash[JOURNAL_HASH_BYTES], uint8_t **data, size_t *len)
{
  MDB_val k = { 32, (void *)hash }, v;
  int rc = mdb_get(it->txn, it->r->db.blobs, &k, &v);
  if (rc) return journal__lmdb_err(rc);
  if (v.mv_size > JOURNAL_VALUE_MAX) return JOURNAL_EMDBPAGE;
  unsigned long long raw = ZSTD_getFrameContentSize(v.mv_data, v.mv_size);
  if (raw == ZSTD_CONTENTSIZE_ERROR || raw == ZSTD_CONTENTSIZE_UNKNOWN || raw > (1ull << 30)) return JOURNAL_ECORRUPT;
  uint8_t *out = malloc(raw ? raw : 1);
  if (!out) return -ENOMEM;
  size_t n = ZSTD_decompress(out, raw, v.mv_data, v.mv_size);
  if (ZSTD_isError(n) || n != raw) { free(out); return JOURNAL_ECORRUPT; }
  uint8_t h[32];
  crypto_generichash(h, 32, out, n, NULL, 0);
  if (memcmp(h, hash, 32) != 0) { free(out); return JOURNAL_ECORRUPT; }
  *data = out;
  *len = n;
  return 0;
}

int journal_checkpoint_get(struct journal_iter *it, uint64_t at_most, uint64_t *out_seq, uint8_t **data, size_t *len)
{
  MDB_cursor *c;
  uint8_t kb[8];
  journal__be64(kb, at_most);
  int rc = mdb_cursor_open(it->txn, it->r->db.checkpoints, &c);
  if (rc) return journal__lmdb_err(rc);
  MDB_val k = { 8, kb }, v;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  if (rc == 0 && journal__rd64(k.mv_data) > at_most) rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
  else if (rc == MDB_NOTFOUND) rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
  if (rc == 0 && v.mv_size > JOURNAL_VALUE_MAX) rc = MDB_CORRUPTED;
  if (rc == 0 && k.mv_size == 8) {
    *out_seq = journal__rd64(k.mv_data);
    *data = malloc(v.mv_size ? v.mv_size : 1);
    if (!*data) rc = ENOMEM;
    else { memcpy(*data, v.mv_data, v.mv_size); *len = v.mv_size; }
  }
  mdb_cursor_close(c);
  return journal__lmdb_err(rc);
}

void journal_iter_end(struct journal_iter *it)
{
  if (!it) return;
  journal__rcur_close(&it->rc);
  journal__pack_cache_free(&it->pc);
  mdb_txn_abort(it->txn);
  free(it);
}

/* The index block holding seq: [first, last]. */
static int block_of(MDB_txn *txn, const struct journal_dbs *db, uint64_t seq, uint64_t *first, uint64_t *last)
{
  MDB_cursor *c;
  uint8_t kb[8];
  journal__be64(kb, seq);
  MDB_val k = { 8, kb }, v;
  int rc = mdb_cursor_open(txn, db->blocks, &c);
  if (rc) return journal__lmdb_err(rc);
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  if (rc == 0 && journal__rd64(k.mv_data) != seq) rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
  else if (rc == MDB_NOTFOUND) rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
  if (rc == 0 && v.mv_size == 8 && k.mv_size == 8) {
    *first = journal__rd64(k.mv_data);
    *last = journal__rd64(v.mv_data);
    if (seq < *first || seq > *last) rc = MDB_NOTFOUND;
  } else if (rc == 0) {
    rc = MDB_CORRUPTED;
  }
  mdb_cursor_close(c);
  return journal__lmdb_err(rc);
}

int journal_index_blocks(struct journal_iter *it, int kind, uint32_t value, uint64_t from_seq, uint64_t *out, int cap)
{
  uint8_t ik[5] = { (uint8_t)kind, (uint8_t)(value >> 24), (uint8_t)(value >> 16), (uint8_t)(value >> 8), (uint8_t)value };
  uint64_t bf = 0, bl;
  if (from_seq > 1 && block_of(it->txn, &it->r->db, from_seq, &bf, &bl) != 0) bf = from_seq;
  uint8_t db8[8];
  journal__be64(db8, bf);
  MDB_cursor *c;
  int rc = mdb_cursor_open(it->txn, it->r->db.index, &c);
  if (rc) return journal__lmdb_err(rc);
  MDB_val k = { 5, ik }, v = { 8, db8 };
  rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE);
  int n = 0;
  while (rc == 0 && n < cap) {
    out[n++] = journal__rd64(v.mv_data);
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP);
  }
  mdb_cursor_close(c);
  if (rc && rc != MDB_NOTFOUND) return journal__lmdb_err(rc);
  return n;
}

int journal_index_block_range(struct journal_iter *it, uint64_t block_first, uint64_t *first, uint64_t *last)
{
  return block_of(it->txn, &it->r->db, block_first, first, last);
}

int journal_group_of(struct journal_iter *it, uint64_t seq, uint64_t *first, uint64_t *last)
{
  return group_start_of(it->txn, &it->r->db, seq, first, last);
}

/* The times and groups tables are derived files: the seq they give for wall_ns is checked
 * against the records, stepping back while the record before it is at or after wall_ns (one
 * record read when they are right). So an entry changed to point later cannot make a listing
 * start late (records hidden) nor `replay --until` take a checkpoint from after the time. An
 * answer of 0 (after every record) is checked from the head. */
static int seek_check(struct journal_iter *it, int64_t wall_ns, uint64_t *out_seq)
{
  uint64_t s = *out_seq;
  if (s == 0) {
    uint64_t first, last;
    int rc = journal__rec_bounds(it->txn, &it->r->db, &first, &last);
    if (rc) return rc;
    if (last == 0) return 0;
    s = last + 1;
  }
  uint64_t from = s;
  while (s > 1) {
    const uint8_t *b;
    size_t len;
    int rc = journal_iter_get(it, s - 1, &b, &len);
    if (rc == JOURNAL_ENOTFOUND) break; /* before the journal's first record */
    if (rc) return rc;
    struct journal_record r;
    if (journal_record_decode(b, len, &r) || r.wall_ns < wall_ns) break;
    s--;
  }
  if (s != from) *out_seq = s;
  return 0;
}

int journal_seek_time(struct journal_iter *it, int64_t wall_ns, uint64_t *out_seq)
{
  /* The times table's keys are the highest wall time up to each group's end (store_commit.c
   * journal__times_put): the first key at or after wall_ns names the group holding the first
   * record at or after it, whichever way the clock went before. A table written before (keyed
   * by each group's earliest time) gives a group at most one later, and seek_check steps back. */
  uint8_t tk[8];
  journal__be64(tk, (uint64_t)wall_ns ^ (1ull << 63));
  MDB_cursor *c;
  int rc = mdb_cursor_open(it->txn, it->r->db.times, &c);
  if (rc) return journal__lmdb_err(rc);
  MDB_val k = { 8, tk }, v;
  *out_seq = 0;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  if (rc == 0 && v.mv_size == 8) *out_seq = journal__rd64(v.mv_data);
  mdb_cursor_close(c);
  if (rc && rc != MDB_NOTFOUND) return journal__lmdb_err(rc);
  return seek_check(it, wall_ns, out_seq);
}

