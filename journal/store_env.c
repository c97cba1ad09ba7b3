/*
 * store_env.c — the LMDB layer every part of the store shares: big-endian helpers, LMDB error
 * mapping, read transactions, the named databases, meta entries, and opening the environment
 * (after envcheck.c has checked data.mdb against its meta pages). Split from store.c, which
 * keeps opening, creating and closing a journal.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "store_internal.h"
/* ------------------------------------------------------------------ helpers */

void journal__be64(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}

uint64_t journal__rd64(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

int journal__lmdb_err(int rc)
{
  switch (rc) {
  case 0: return 0;
  case MDB_MAP_FULL: return JOURNAL_EFULL;
  case MDB_NOTFOUND: return JOURNAL_ENOTFOUND;
  case MDB_CORRUPTED: case MDB_PAGE_NOTFOUND: return JOURNAL_EMDBPAGE;
  case MDB_INVALID: return JOURNAL_EMDBMETA;
  case MDB_VERSION_MISMATCH: return JOURNAL_EVERSION;
  default: return rc > 0 ? -rc : JOURNAL_ECORRUPT;
  }
}

int journal__read_txn(MDB_env *env, MDB_txn **out)
{
  for (int tries = 0; tries < 3; tries++) {
    int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, out);
    if (rc == MDB_MAP_RESIZED) { mdb_env_set_mapsize(env, 0); continue; }
    return journal__lmdb_err(rc);
  }
  return JOURNAL_ECORRUPT;
}

int journal__open_dbs(MDB_txn *txn, struct journal_dbs *db, bool create)
{
  unsigned c = create ? MDB_CREATE : 0;
  int rc;
  /* meta first: a journal of another format version is named as such, not as corrupt */
  if ((rc = mdb_dbi_open(txn, "meta", c, &db->meta))) return rc == MDB_NOTFOUND ? JOURNAL_ECORRUPT : journal__lmdb_err(rc);
  db->format = JOURNAL_FORMAT_VERSION;
  /* journal_create puts meta format first, so a format-2 journal is made without `packs` */
  MDB_val k = { 6, "format" }, v;
  if (mdb_get(txn, db->meta, &k, &v) == 0 && v.mv_size == 4) {
    const uint8_t *f = v.mv_data;
    uint32_t ver = (uint32_t)f[0] << 24 | (uint32_t)f[1] << 16 | (uint32_t)f[2] << 8 | f[3];
    if (ver < JOURNAL_FORMAT_MIN_READ || ver > JOURNAL_FORMAT_VERSION) return JOURNAL_EVERSION;
    db->format = ver;
  }
  if ((rc = mdb_dbi_open(txn, "records", c, &db->records)) ||
      (db->format >= 3 && (rc = mdb_dbi_open(txn, "packs", c, &db->packs))) ||
      (rc = mdb_dbi_open(txn, "groups", c, &db->groups)) ||
      (rc = mdb_dbi_open(txn, "index", c | MDB_DUPSORT | MDB_DUPFIXED, &db->index)) ||
      (rc = mdb_dbi_open(txn, "times", c | MDB_DUPSORT | MDB_DUPFIXED, &db->times)) ||
      (rc = mdb_dbi_open(txn, "blobs", c, &db->blobs)) ||
      (rc = mdb_dbi_open(txn, "checkpoints", c, &db->checkpoints)) ||
      (rc = mdb_dbi_open(txn, "blocks", c, &db->blocks)))
    return rc == MDB_NOTFOUND ? JOURNAL_ECORRUPT : journal__lmdb_err(rc);
  /* the Merkle tiles: a writer creates them when missing (tree_store.c) */
  rc = mdb_dbi_open(txn, "tiles", c, &db->tiles);
  if (rc && rc != MDB_NOTFOUND) return journal__lmdb_err(rc);
  db->tiles_ok = rc == 0;
  return 0;
}

int journal__meta_get(MDB_txn *txn, const struct journal_dbs *db, const char *key, void *buf, size_t cap)
{
  MDB_val k = { strlen(key), (void *)key }, v;
  int rc = mdb_get(txn, db->meta, &k, &v);
  if (rc) return journal__lmdb_err(rc);
  size_t n = v.mv_size < cap ? v.mv_size : cap;
  memcpy(buf, v.mv_data, n);
  return (int)n;
}

int journal__meta_put(MDB_txn *txn, const struct journal_dbs *db, const char *key, const void *val, size_t n)
{
  MDB_val k = { strlen(key), (void *)key }, v = { n, (void *)val };
  return journal__lmdb_err(mdb_put(txn, db->meta, &k, &v, 0));
}


static void (*volatile lmdb_assert_hook)(const char *msg);

void journal_set_lmdb_assert_hook(void (*hook)(const char *msg)) { lmdb_assert_hook = hook; }

static void on_lmdb_assert(MDB_env *env, const char *msg)
{
  (void)env;
  void (*hook)(const char *) = lmdb_assert_hook;
  if (hook) hook(msg);
}

int journal__env_open(const char *dir, bool rdonly, uint64_t map_size, MDB_env **out, bool no_sync)
{
  char path[4200];
  snprintf(path, sizeof path, "%s/journal", dir);
  struct stat st;
  char data[4300];
  snprintf(data, sizeof data, "%s/data.mdb", path);
  int rc = journal__env_check(data);
  if (rc) return rc;
  if (stat(data, &st) != 0) return errno == ENOENT ? JOURNAL_ENOJOURNAL : -errno;
  MDB_env *env;
  rc = mdb_env_create(&env);
  if (rc) return journal__lmdb_err(rc);
  mdb_env_set_maxdbs(env, 16);
  mdb_env_set_maxreaders(env, 126);
  mdb_env_set_assert(env, on_lmdb_assert);
  uint64_t ms = map_size ? map_size : (64ull << 20);
  if ((uint64_t)st.st_size > ms) ms = (uint64_t)st.st_size;
  mdb_env_set_mapsize(env, ms);
  rc = mdb_env_open(env, path, (rdonly ? MDB_RDONLY : 0) | MDB_NOTLS | (no_sync ? MDB_NOSYNC : 0), rdonly ? 0444 : 0600);
  if (rc) {
    mdb_env_close(env);
    if (rc == EACCES) return -EACCES;
    return rc == ENOENT ? JOURNAL_ENOJOURNAL : journal__lmdb_err(rc);
  }
  int dead = 0;
  mdb_reader_check(env, &dead);
  *out = env;
  return 0;
}

