/*
 * index_rebuild.c — `hems reindex`: every derived table rebuilt from the records alone.
 *
 * `groups`, `times`, `index` and `blocks` are emptied and refilled in one write transaction, so
 * a reader sees either the old tables or the new ones. Groups are the runs of records ending in a
 * seal; their entries, and the index blocks over them (INDEX_BLOCK_GROUPS groups or
 * INDEX_BLOCK_RECORDS records), follow the same rules as the writer (store.c put_group), so the
 * rebuilt tables are what an undamaged writer would have left (except that a block straddling a
 * retention cut now starts at the first kept record). Records after the last seal cannot be in a
 * committed journal and are left out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "store_internal.h"

struct rebuild {
  MDB_txn *txn;
  const struct journal_dbs *db;
  struct journal_reindex_info *info;
  /* the group being read */
  uint64_t gfirst, gn, mono_first;
  int64_t wall_min, wall_max;
  struct index_key gkeys[GROUP_KEYSET / 2];
  int ngkeys;
  /* the open index block */
  uint64_t bfirst;
  uint32_t bgroups, brecords;
  struct index_key bkeys[GROUP_KEYSET / 2];
  uint32_t nbkeys;
};

static int put_index(struct rebuild *b, struct index_key key)
{
  for (uint32_t i = 0; i < b->nbkeys; i++)
    if (b->bkeys[i].kind == key.kind && b->bkeys[i].value == key.value) return 0;
  if (b->nbkeys >= GROUP_KEYSET / 2) return JOURNAL_ETOOBIG;
  b->bkeys[b->nbkeys++] = key;
  uint8_t ik[5] = { key.kind, (uint8_t)(key.value >> 24), (uint8_t)(key.value >> 16), (uint8_t)(key.value >> 8), (uint8_t)key.value };
  uint8_t bf[8];
  journal__be64(bf, b->bfirst);
  MDB_val k = { 5, ik }, v = { 8, bf };
  int rc = mdb_put(b->txn, b->db->index, &k, &v, MDB_NODUPDATA);
  if (rc == MDB_KEYEXIST) rc = 0;
  if (!rc) b->info->entries++;
  return journal__lmdb_err(rc);
}

/* The group gfirst..last (its seal) is complete: its entry, its time, its index block. */
static int end_group(struct rebuild *b, uint64_t last)
{
  uint8_t fs[8], vb[GROUP_ENTRY_BYTES];
  journal__be64(fs, b->gfirst);
  journal__be64(vb, last);
  journal__be64(vb + 8, (uint64_t)b->wall_min);
  journal__be64(vb + 16, (uint64_t)b->wall_max);
  journal__be64(vb + 24, b->mono_first);
  MDB_val k = { 8, fs }, v = { sizeof vb, vb };
  int rc = mdb_put(b->txn, b->db->groups, &k, &v, MDB_APPEND);
  if (!rc) rc = journal__times_put(b->txn, b->db->times, b->gfirst, b->wall_max);
  if (rc) return journal__lmdb_err(rc);
  if (!b->bfirst || b->bgroups >= INDEX_BLOCK_GROUPS || b->brecords >= INDEX_BLOCK_RECORDS) {
    b->bfirst = b->gfirst;
    b->bgroups = b->brecords = b->nbkeys = 0;
    b->info->blocks++;
  }
  for (int i = 0; i < b->ngkeys; i++)
    if ((rc = put_index(b, b->gkeys[i]))) return rc;
  b->bgroups++;
  b->brecords += (uint32_t)b->gn;
  uint8_t bf[8], bl[8];
  journal__be64(bf, b->bfirst);
  journal__be64(bl, last);
  MDB_val bk = { 8, bf }, bv = { 8, bl };
  if ((rc = mdb_put(b->txn, b->db->blocks, &bk, &bv, 0))) return journal__lmdb_err(rc);
  b->info->groups++;
  b->gn = 0;
  b->ngkeys = 0;
  return 0;
}

static int add_record(struct rebuild *b, struct journal_record *r, const uint8_t *bytes, size_t len)
{
  if (b->gn == 0) {
    b->gfirst = r->seq;
    b->mono_first = r->mono_ns;
    b->wall_min = b->wall_max = r->wall_ns;
  }
  if (r->wall_ns < b->wall_min) b->wall_min = r->wall_ns;
  if (r->wall_ns > b->wall_max) b->wall_max = r->wall_ns;
  b->gn++;
  struct index_key ks[64];
  int nk = journal__record_index_keys(bytes, len, ks, 64);
  if (nk < 0) return nk;
  for (int i = 0; i < nk; i++) b->ngkeys = journal__index_add_key(b->gkeys, b->ngkeys, GROUP_KEYSET / 2, ks[i].kind, ks[i].value);
  b->info->records++;
  return r->type == JOURNAL_T_SEAL ? end_group(b, r->seq) : 0;
}

static int rebuild_txn(struct journal *j, struct rebuild *b, struct journal_record *r)
{
  int rc = mdb_txn_begin(j->env, NULL, 0, &b->txn);
  if (rc) return journal__lmdb_err(rc);
  b->db = &j->db;
  if ((rc = mdb_drop(b->txn, j->db.groups, 0)) || (rc = mdb_drop(b->txn, j->db.times, 0)) ||
      (rc = mdb_drop(b->txn, j->db.index, 0)) || (rc = mdb_drop(b->txn, j->db.blocks, 0))) {
    mdb_txn_abort(b->txn);
    return journal__lmdb_err(rc);
  }
  struct journal_rcur c;
  struct pack_cache pc = { 0 };
  if ((rc = journal__rcur_open(&c, b->txn, &j->db, &pc, PACK_CHECKED, 0))) { mdb_txn_abort(b->txn); return rc; }
  int err = 0;
  uint64_t seq;
  const uint8_t *vb;
  size_t vl;
  while (!err && (rc = journal__rcur_next(&c, &seq, &vb, &vl)) == 1) {
    if (journal_record_decode(vb, vl, r) || r->seq != seq) {
      err = JOURNAL_ECORRUPT; /* `hems verify` names it; an index is not rebuilt over it */
      break;
    }
    err = add_record(b, r, vb, vl);
  }
  journal__rcur_close(&c);
  journal__pack_cache_free(&pc);
  if (!err && rc < 0) err = rc;
  if (err) { mdb_txn_abort(b->txn); return err; }
  return journal__lmdb_err(mdb_txn_commit(b->txn));
}

int journal_reindex(struct journal *j, struct journal_reindex_info *info)
{
  memset(info, 0, sizeof *info);
  /* The writer thread is idle after a sync and this thread owns appends (as in retention). */
  int rc = journal_sync(j);
  if (rc) return rc;
  struct rebuild *b = malloc(sizeof *b);
  struct journal_record *r = malloc(sizeof *r);
  if (!b || !r) { free(b); free(r); return -ENOMEM; }
  uint64_t max = j->opt.map_size_max ? j->opt.map_size_max : (1ull << 40);
  for (;;) {
    memset(b, 0, sizeof *b);
    memset(info, 0, sizeof *info);
    b->info = info;
    rc = rebuild_txn(j, b, r);
    if (rc != JOURNAL_EFULL || j->map_size >= max) break;
    uint64_t ns = j->map_size * 2 > max ? max : j->map_size * 2;
    if ((rc = journal__lmdb_err(mdb_env_set_mapsize(j->env, ns)))) break;
    j->map_size = ns;
  }
  free(b);
  free(r);
  if (!rc) {
    /* the writer's open block is gone: its next group opens a new one */
    pthread_mutex_lock(&j->mu);
    j->blk.first = 0;
    pthread_mutex_unlock(&j->mu);
  }
  return rc;
}
