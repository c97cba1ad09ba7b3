/*
 * migrate.c — a format-2 journal (`records`, one value per record) to format 3 (`packs`), in
 * place (docs/journal.md "Migration").
 *
 * Under the writer lock: the whole journal is verified first (chain, seals, keys, from the
 * dir's own public key) and any damage refuses the migration with nothing changed. Then one
 * LMDB write transaction moves every record into packs with its exact bytes and seq (so every
 * hash, seal and Merkle leaf stays what it was), empties `records` and sets meta format 3: a
 * crash leaves either the old journal or the new one. The Merkle tiles are then built by
 * opening the journal as a writer once (tree_store.c builds them for a journal without any).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>
#include "store_internal.h"

#define MIGRATE_PACK_RECORDS 4096     /* a pack closes at the first group end past this many */
#define MIGRATE_PACK_RAW (4u << 20)  /* or past this many bytes */

struct mig {
  MDB_txn *txn;
  struct journal_dbs *db;
  ZSTD_CCtx *cctx;
  const uint8_t **rec;
  size_t *len;
  uint32_t n, cap;
  size_t raw;
  uint64_t first;
  uint8_t prev[JOURNAL_HASH_BYTES];  /* prev of the pack being built */
  uint8_t head[JOURNAL_HASH_BYTES];  /* hash of the last record added */
  struct journal_migrate_info *info;
};

static int flush_pack(struct mig *m)
{
  if (!m->n) return 0;
  uint8_t *v;
  size_t vl;
  int rc = journal__pack_encode(m->cctx, PACK_ZSTD_LEVEL, m->rec, m->len, m->n, NULL, m->prev, &v, &vl);
  if (rc) return rc;
  uint8_t kb[8];
  journal__be64(kb, m->first);
  MDB_val k = { 8, kb }, val = { vl, v };
  rc = journal__lmdb_err(mdb_put(m->txn, m->db->packs, &k, &val, MDB_APPEND));
  free(v);
  m->info->packs++;
  m->info->pack_bytes += vl + 8;
  memcpy(m->prev, m->head, JOURNAL_HASH_BYTES);
  m->n = 0;
  m->raw = 0;
  return rc;
}

static int move_records(struct mig *m)
{
  MDB_cursor *c;
  MDB_val k, v;
  int rc = mdb_cursor_open(m->txn, m->db->records, &c);
  if (rc) return journal__lmdb_err(rc);
  bool first = true;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (k.mv_size != 8 || v.mv_size > JOURNAL_RECORD_MAX) { rc = JOURNAL_EMDBPAGE; break; }
    uint64_t seq = journal__rd64(k.mv_data);
    uint64_t s;
    unsigned type;
    uint8_t prev[JOURNAL_HASH_BYTES];
    if ((rc = journal_record_peek(v.mv_data, v.mv_size, &s, &type, prev)) || s != seq) { rc = rc ? rc : JOURNAL_EGAP; break; }
    if (first) { memcpy(m->prev, prev, JOURNAL_HASH_BYTES); first = false; }
    if (m->n == 0) m->first = seq;
    if (m->n == m->cap) {
      uint32_t nc = m->cap ? m->cap * 2 : 1024;
      const uint8_t **nr = realloc(m->rec, nc * sizeof *nr);
      if (nr) m->rec = nr;
      size_t *nl = nr ? realloc(m->len, nc * sizeof *nl) : NULL;
      if (!nl) { rc = -ENOMEM; break; }
      m->len = nl;
      m->cap = nc;
    }
    /* the values stay valid for the txn: nothing is written to `records` before the end */
    m->rec[m->n] = v.mv_data;
    m->len[m->n] = v.mv_size;
    m->n++;
    m->raw += v.mv_size;
    journal_record_hash(v.mv_data, v.mv_size, m->head);
    m->info->records++;
    if (!m->info->first_seq) m->info->first_seq = seq;
    m->info->last_seq = seq;
    /* packs end at a seal (a group end), as the writer's do */
    if (type == JOURNAL_T_SEAL && (m->n >= MIGRATE_PACK_RECORDS || m->raw >= MIGRATE_PACK_RAW) && (rc = flush_pack(m))) break;
  }
  mdb_cursor_close(c);
  if (rc == MDB_NOTFOUND) rc = flush_pack(m);
  return rc > 0 ? journal__lmdb_err(rc) : rc;
}

static int format_of(MDB_env *env, uint32_t *format)
{
  MDB_txn *txn;
  struct journal_dbs db;
  int rc = journal__read_txn(env, &txn);
  if (rc) return rc;
  rc = journal__open_dbs(txn, &db, false);
  *format = db.format;
  mdb_txn_abort(txn);
  return rc;
}

int journal_migrate(const char *dir, struct journal_migrate_info *info)
{
  memset(info, 0, sizeof *info);
  if (sodium_init() < 0) return -EIO;
  struct journal_lock lock = { -1, -1 };
  int pid = 0;
  int rc = journal__lock_take(dir, &lock, &pid);
  if (rc) return rc;
  MDB_env *env = NULL;
  uint32_t format = 0;
  if ((rc = journal__env_open(dir, false, 0, &env, false))) goto out;
  if ((rc = format_of(env, &format))) goto out;
  info->from_format = format;
  if (format >= 3) goto out; /* nothing to do */

  /* 1. verify everything first, from the dir's own key */
  char kp[4200];
  uint8_t pk[JOURNAL_PUBKEY_BYTES];
  snprintf(kp, sizeof kp, "%s/keys/signing.pub", dir);
  if ((rc = journal_pubkey_load(kp, pk))) goto out;
  struct journal_reader rd = { .env = env, .owns_env = false };
  {
    MDB_txn *txn;
    if ((rc = journal__read_txn(env, &txn))) goto out;
    rc = journal__open_dbs(txn, &rd.db, false);
    mdb_txn_commit(txn); /* keeps the DBI handles */
    if (rc) goto out;
  }
  struct journal_dir_source ds;
  if ((rc = journal_dir_source_init(&ds, &rd, 1))) goto out;
  rc = journal_verify(&ds.src, pk, NULL, &info->verify, NULL, NULL);
  journal_dir_source_deinit(&ds);
  if (rc) goto out; /* info->verify names the first bad seq; nothing changed */

  /* 2. one transaction: packs, `records` emptied, format 3 */
  struct stat st;
  char dp[4300];
  snprintf(dp, sizeof dp, "%s/journal/data.mdb", dir);
  if (stat(dp, &st) == 0) mdb_env_set_mapsize(env, (size_t)st.st_size * 2 + (64u << 20));
  struct mig m;
  memset(&m, 0, sizeof m);
  m.info = info;
  struct journal_dbs db;
  if ((rc = journal__lmdb_err(mdb_txn_begin(env, NULL, 0, &m.txn)))) goto out;
  rc = journal__open_dbs(m.txn, &db, false);
  if (!rc) rc = journal__lmdb_err(mdb_dbi_open(m.txn, "packs", MDB_CREATE, &db.packs));
  m.db = &db;
  if (!rc && !(m.cctx = ZSTD_createCCtx())) rc = -ENOMEM;
  if (!rc) rc = move_records(&m);
  if (!rc) rc = journal__lmdb_err(mdb_drop(m.txn, db.records, 0));
  uint8_t f[4] = { 0, 0, 0, JOURNAL_FORMAT_VERSION };
  if (!rc) rc = journal__meta_put(m.txn, &db, "format", f, 4);
  if (rc) mdb_txn_abort(m.txn);
  else rc = journal__lmdb_err(mdb_txn_commit(m.txn)); /* synced: the env is not MDB_NOSYNC */
  ZSTD_freeCCtx(m.cctx);
  free(m.rec);
  free(m.len);
  if (!rc) info->migrated = true;
out:
  if (env) mdb_env_close(env);
  journal__lock_release(&lock);
  if (rc == JOURNAL_EINUSE) info->pid = pid;
  return rc;
}
