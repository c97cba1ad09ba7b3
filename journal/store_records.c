/*
 * store_records.c — reading records out of a txn, either format: format 2 holds one LMDB value
 * per record in `records`; format 3 holds packs in `packs`, decoded once into a pack cache
 * (pack.c) and served from there. A damaged pack serves its intact records, then fails at the
 * first one that cannot be rebuilt exactly (the seq a verifier names).
 */
#include <errno.h>
#include <string.h>
#include "store_internal.h"

/* The pack holding seq, positioned on c: key first, value v. MDB_NOTFOUND when none does. */
static int seek_pack(MDB_cursor *c, uint64_t seq, MDB_val *k, MDB_val *v)
{
  uint8_t kb[8];
  journal__be64(kb, seq);
  k->mv_size = 8;
  k->mv_data = kb;
  int rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
  if (rc == 0 && k->mv_size == 8 && journal__rd64(k->mv_data) == seq) return 0;
  if (rc == 0) rc = mdb_cursor_get(c, k, v, MDB_PREV);
  else if (rc == MDB_NOTFOUND) rc = mdb_cursor_get(c, k, v, MDB_LAST);
  return rc;
}

/* LMDB's own codes (negative) to the journal's. */
static int mdb_code(int rc)
{
  return rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE ? journal__lmdb_err(rc) : rc;
}

static int check_kv(const MDB_val *k, const MDB_val *v)
{
  return k->mv_size != 8 || v->mv_size > JOURNAL_VALUE_MAX ? JOURNAL_EMDBPAGE : 0;
}

int journal__pack_of(MDB_txn *txn, const struct journal_dbs *db, uint64_t seq, uint64_t *first, uint32_t *n)
{
  MDB_cursor *c;
  MDB_val k, v;
  int rc = mdb_cursor_open(txn, db->packs, &c);
  if (rc) return journal__lmdb_err(rc);
  rc = seek_pack(c, seq, &k, &v);
  if (rc == 0 && (rc = check_kv(&k, &v)) == 0) {
    *first = journal__rd64(k.mv_data);
    rc = journal__pack_peek(v.mv_data, v.mv_size, n, NULL);
    if (!rc && (seq < *first || seq - *first >= *n)) rc = JOURNAL_ENOTFOUND;
  }
  mdb_cursor_close(c);
  return rc > 0 ? journal__lmdb_err(rc) : mdb_code(rc);
}

static int load(struct pack_cache *pc, const MDB_val *k, const MDB_val *v, int mode)
{
  int rc = check_kv(k, v);
  if (rc) return rc;
  return journal__pack_load(pc, journal__rd64(k->mv_data), v->mv_data, v->mv_size, mode);
}

static bool cached(const struct pack_cache *pc, uint64_t seq, int mode)
{
  return pc->first && seq >= pc->first && seq - pc->first < pc->n && (pc->mode == mode || mode == PACK_FAST);
}

/* Serves seq from the cache (which holds it). */
static int serve(const struct pack_cache *pc, uint64_t seq, const uint8_t **bytes, size_t *len)
{
  uint32_t i = (uint32_t)(seq - pc->first);
  if (i >= pc->good) return pc->bad_rc ? pc->bad_rc : JOURNAL_EPACK;
  *bytes = pc->canon + pc->off[i];
  *len = pc->off[i + 1] - pc->off[i];
  return 0;
}

int journal__rec_get(MDB_txn *txn, const struct journal_dbs *db, struct pack_cache *pc, uint64_t seq,
                     const uint8_t **bytes, size_t *len)
{
  uint8_t kb[8];
  MDB_val k = { 8, kb }, v;
  int rc;
  if (db->format < 3) {
    journal__be64(kb, seq);
    if ((rc = mdb_get(txn, db->records, &k, &v))) return journal__lmdb_err(rc);
    if (v.mv_size > JOURNAL_RECORD_MAX) return JOURNAL_EMDBPAGE;
    *bytes = v.mv_data;
    *len = v.mv_size;
    return 0;
  }
  if (!cached(pc, seq, PACK_CHECKED)) {
    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, db->packs, &c))) return journal__lmdb_err(rc);
    rc = seek_pack(c, seq, &k, &v);
    if (rc == 0) rc = load(pc, &k, &v, PACK_CHECKED);
    mdb_cursor_close(c);
    if (rc) return rc > 0 ? journal__lmdb_err(rc) : mdb_code(rc);
    if (!cached(pc, seq, PACK_CHECKED)) return JOURNAL_ENOTFOUND;
  }
  return serve(pc, seq, bytes, len);
}

int journal__rec_bounds(MDB_txn *txn, const struct journal_dbs *db, uint64_t *first, uint64_t *last)
{
  MDB_cursor *c;
  MDB_val k, v;
  *first = *last = 0;
  int rc = mdb_cursor_open(txn, db->format < 3 ? db->records : db->packs, &c);
  if (rc) return journal__lmdb_err(rc);
  rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
  if (rc == 0 && (rc = check_kv(&k, &v)) == 0) *first = journal__rd64(k.mv_data);
  if (rc == 0) rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
  if (rc == 0 && (rc = check_kv(&k, &v)) == 0) {
    *last = journal__rd64(k.mv_data);
    if (db->format >= 3) {
      uint32_t n;
      if ((rc = journal__pack_peek(v.mv_data, v.mv_size, &n, NULL)) == 0) *last += n - 1;
    }
  }
  mdb_cursor_close(c);
  if (rc == MDB_NOTFOUND) { *first = *last = 0; return 0; }
  return rc > 0 ? journal__lmdb_err(rc) : mdb_code(rc);
}

int journal__rcur_open(struct journal_rcur *rc, MDB_txn *txn, const struct journal_dbs *db, struct pack_cache *pc,
                       int mode, uint64_t from)
{
  memset(rc, 0, sizeof *rc);
  rc->txn = txn;
  rc->db = db;
  rc->pc = pc;
  rc->mode = mode;
  rc->from = from;
  int e = mdb_cursor_open(txn, db->format < 3 ? db->records : db->packs, &rc->c);
  return journal__lmdb_err(e);
}

void journal__rcur_close(struct journal_rcur *rc)
{
  if (rc->c) mdb_cursor_close(rc->c);
  rc->c = NULL;
}

static int next_v2(struct journal_rcur *rc, uint64_t *seq, const uint8_t **bytes, size_t *len)
{
  MDB_val k, v;
  int e;
  if (!rc->started) {
    uint8_t kb[8];
    journal__be64(kb, rc->from);
    k.mv_size = 8;
    k.mv_data = kb;
    e = mdb_cursor_get(rc->c, &k, &v, MDB_SET_RANGE);
    rc->started = true;
  } else {
    e = mdb_cursor_get(rc->c, &k, &v, MDB_NEXT);
  }
  if (e == MDB_NOTFOUND) return 0;
  if (e) return journal__lmdb_err(e);
  if (k.mv_size != 8 || v.mv_size > JOURNAL_RECORD_MAX) return JOURNAL_EMDBPAGE;
  *seq = journal__rd64(k.mv_data);
  *bytes = v.mv_data;
  *len = v.mv_size;
  return 1;
}

/* Loads the pack holding target, or failing that the first one after it (a gap, served as it
 * is: the verifier names it by seq). 1 loaded, 0 none, <0 error. */
static int locate(struct journal_rcur *rc, uint64_t target)
{
  MDB_val k, v;
  uint8_t kb[8];
  journal__be64(kb, target);
  k.mv_size = 8;
  k.mv_data = kb;
  int e = mdb_cursor_get(rc->c, &k, &v, MDB_SET_RANGE);
  bool after = e == 0; /* a pack starts at or after target */
  if (e == 0 && (e = check_kv(&k, &v))) return e;
  if (e == 0 && journal__rd64(k.mv_data) == target) return load(rc->pc, &k, &v, rc->mode) ?: 1;
  if (e && e != MDB_NOTFOUND) return journal__lmdb_err(e);
  e = mdb_cursor_get(rc->c, &k, &v, after ? MDB_PREV : MDB_LAST);
  if (e == 0) {
    if ((e = check_kv(&k, &v))) return e;
    uint32_t n;
    uint64_t f = journal__rd64(k.mv_data);
    if (journal__pack_peek(v.mv_data, v.mv_size, &n, NULL) != 0 || target - f < n)
      return load(rc->pc, &k, &v, rc->mode) ?: 1; /* holds target (or is damaged: served as such) */
    if (!after) return 0;
    e = mdb_cursor_get(rc->c, &k, &v, MDB_NEXT);
  } else if (e == MDB_NOTFOUND && after) {
    e = mdb_cursor_get(rc->c, &k, &v, MDB_FIRST);
  }
  if (e == MDB_NOTFOUND) return 0;
  if (e) return journal__lmdb_err(e);
  if ((e = check_kv(&k, &v))) return e;
  return load(rc->pc, &k, &v, rc->mode) ?: 1;
}

int journal__rcur_last_hash(const struct journal_rcur *rc, uint8_t out[JOURNAL_HASH_BYTES])
{
  const struct pack_cache *pc = rc->pc;
  if (rc->db->format < 3 || !rc->started || rc->next == 0 || pc->mode != PACK_CHECKED || !pc->hashes) return -1;
  uint64_t seq = rc->next - 1;
  if (!pc->first || seq < pc->first || seq - pc->first >= pc->good) return -1;
  memcpy(out, pc->hashes + (size_t)(seq - pc->first) * JOURNAL_HASH_BYTES, JOURNAL_HASH_BYTES);
  return 0;
}

int journal__rcur_next(struct journal_rcur *rc, uint64_t *seq, const uint8_t **bytes, size_t *len)
{
  if (rc->db->format < 3) return next_v2(rc, seq, bytes, len);
  if (rc->at_end) return 0;
  if (!rc->started) { rc->started = true; rc->next = rc->from ? rc->from : 1; }
  struct pack_cache *pc = rc->pc;
  if (!cached(pc, rc->next, rc->mode)) {
    int e = locate(rc, rc->next);
    if (e <= 0) { if (e == 0) rc->at_end = true; return e; }
    if (pc->first > rc->next) rc->next = pc->first;
  }
  *seq = rc->next;
  int e = serve(pc, rc->next, bytes, len);
  if (e) return e;
  rc->next++;
  return 1;
}
