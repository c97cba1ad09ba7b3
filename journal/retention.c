/*
 * retention.c — archive a prefix of whole commit groups and cut it from LMDB.
 *
 * Order (each step durable before the next): 1. export the prefix as a bundle under
 * DIR/archive/ (fsync'd, renamed into place, and the directories holding its name fsync'd:
 * without that the name may not survive a power cut that the pruning transaction does); 2. append and seal a `retention` record naming
 * the cut (seq, hash) and the archive's hash; 3. delete the prefix's records (format 3: whole
 * packs; the cut is moved back to a pack boundary first), group, index and
 * time entries in one LMDB transaction. A crash between 2 and 3 leaves the records in place
 * (still verifiable); the journal never loses a record that is not already in an archive, and
 * verification of the remaining journal starts from the cut the retention record attests.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "codec_internal.h"
#include "store_internal.h"

int journal_reader_attach(struct journal_reader **out, struct journal *j)
{
  struct journal_reader *r = calloc(1, sizeof *r);
  if (!r) return -ENOMEM;
  r->env = j->env;
  r->db = j->db;
  r->owns_env = false;
  *out = r;
  return 0;
}

/* A new or renamed name is durable only once its directory is synced. */
int journal__sync_dir(const char *path)
{
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = fsync(fd) == 0 ? 0 : -errno;
  close(fd);
  return rc;
}

static int hash_file(const char *path, uint8_t out[32])
{
  FILE *f = fopen(path, "rb");
  if (!f) return -errno;
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, 32);
  uint8_t buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) crypto_generichash_update(&st, buf, n);
  int err = ferror(f);
  fclose(f);
  if (err) return -EIO;
  crypto_generichash_final(&st, out, 32);
  return 0;
}

/* Deletes every dup of db whose value (u64 BE group seq) is <= cut: collect, then delete,
 * so no cursor is walked while the tree under it changes. */
static int prune_dups(MDB_txn *txn, MDB_dbi dbi, uint64_t cut)
{
  MDB_cursor *c;
  MDB_val k, v;
  struct kv { uint8_t key[16]; size_t klen; uint8_t val[8]; } *del = NULL;
  size_t n = 0, cap = 0;
  int rc = mdb_cursor_open(txn, dbi, &c);
  if (rc) return rc;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (v.mv_size != 8 || k.mv_size > 16 || journal__rd64(v.mv_data) > cut) continue;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 1024;
      struct kv *q = realloc(del, nc * sizeof *q);
      if (!q) { rc = ENOMEM; break; }
      del = q;
      cap = nc;
    }
    memcpy(del[n].key, k.mv_data, k.mv_size);
    del[n].klen = k.mv_size;
    memcpy(del[n].val, v.mv_data, 8);
    n++;
  }
  mdb_cursor_close(c);
  if (rc == MDB_NOTFOUND) rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    MDB_val dk = { del[i].klen, del[i].key }, dv = { 8, del[i].val };
    rc = mdb_del(txn, dbi, &dk, &dv);
  }
  free(del);
  return rc;
}

static int prune_prefix(MDB_txn *txn, MDB_dbi dbi, uint64_t cut)
{
  MDB_cursor *c;
  MDB_val k, v;
  int rc = mdb_cursor_open(txn, dbi, &c);
  if (rc) return rc;
  while ((rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
    if (k.mv_size != 8 || journal__rd64(k.mv_data) > cut) break;
    if ((rc = mdb_cursor_del(c, 0))) break;
  }
  mdb_cursor_close(c);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The first seq of the group holding seq (0 when none). */
static uint64_t group_first_of(MDB_txn *txn, const struct journal_dbs *db, uint64_t seq)
{
  MDB_cursor *c;
  uint8_t kb[8];
  journal__be64(kb, seq);
  MDB_val k = { 8, kb }, v;
  if (mdb_cursor_open(txn, db->groups, &c)) return 0;
  int g = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  if (g == 0 && journal__rd64(k.mv_data) > seq) g = mdb_cursor_get(c, &k, &v, MDB_PREV);
  else if (g == MDB_NOTFOUND) g = mdb_cursor_get(c, &k, &v, MDB_LAST);
  uint64_t f = g == 0 ? journal__rd64(k.mv_data) : 0;
  mdb_cursor_close(c);
  return f;
}

/* Moves a cut (a group end) back until it is a place the journal can be cut:
 * - format 3 deletes whole packs: a pack straddling the cut stays, and the cut moves back to
 *   the end of the pack before it (a pack ends at a group's seal, so that is still a group end);
 * - a request's group is followed by the decision its fold appended (a command or refusal
 *   citing it): a cut between them would leave the decision without its cause, which replay
 *   from the checkpoint at the cut cannot match — the cut moves back before the request's group.
 * *cut becomes 0 when no such place is left. */
static int settle_cut(struct journal *j, MDB_txn *txn, uint64_t first, uint64_t *cut)
{
  struct pack_cache pc = { 0 };
  int rc = 0;
  for (int tries = 0; *cut && tries < 64 && !rc; tries++) {
    if (j->db.format >= 3) {
      uint64_t pf;
      uint32_t pn;
      if ((rc = journal__pack_of(txn, &j->db, *cut, &pf, &pn))) break;
      if (pf + pn - 1 != *cut) { *cut = pf > first ? pf - 1 : 0; continue; }
    }
    const uint8_t *b;
    size_t n;
    struct journal_record nr;
    if (journal__rec_get(txn, &j->db, &pc, *cut + 1, &b, &n) != 0 || journal_record_decode(b, n, &nr) != 0) break;
    uint64_t cause = nr.type == JOURNAL_T_COMMAND ? nr.body.command.cause_seq
                   : nr.type == JOURNAL_T_REFUSAL ? nr.body.refusal.cause_seq : 0;
    uint64_t gf = group_first_of(txn, &j->db, *cut);
    if (!cause || cause > *cut || cause < gf) break; /* no decision whose cause is in the group cut last */
    *cut = gf > first ? gf - 1 : 0;
  }
  journal__pack_cache_free(&pc);
  return rc;
}

int journal_retention_run(struct journal *j, int64_t keep_ns, journal_retention_cb appender, void *ctx,
                          uint64_t *out_cut_seq)
{
  return journal_retention_cut(j, keep_ns, 0, appender, ctx, out_cut_seq);
}

int journal_retention_cut(struct journal *j, int64_t keep_ns, uint64_t min_seq, journal_retention_cb appender, void *ctx,
                          uint64_t *out_cut_seq)
{
  *out_cut_seq = 0;
  int rc = journal_sync(j);
  if (rc) return rc;
  MDB_txn *txn;
  if ((rc = journal__lmdb_err(mdb_txn_begin(j->env, NULL, MDB_RDONLY, &txn)))) return rc;
  MDB_cursor *c;
  MDB_val k, v;
  uint64_t first = 0, cut = 0;
  int64_t head_wall = INT64_MIN;
  rc = mdb_cursor_open(txn, j->db.groups, &c);
  if (!rc) {
    if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0) head_wall = (int64_t)journal__rd64((uint8_t *)v.mv_data + 16);
    int64_t threshold = keep_ns > 0 ? head_wall - keep_ns : INT64_MIN;
    int g = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    if (g == 0) first = journal__rd64(k.mv_data);
    /* The newest group is never archived: the journal keeps a head. */
    uint64_t last_group_first = 0;
    MDB_val lk, lv;
    if (mdb_cursor_get(c, &lk, &lv, MDB_LAST) == 0) last_group_first = journal__rd64(lk.mv_data);
    g = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (g == 0) {
      uint64_t gfirst = journal__rd64(k.mv_data);
      int64_t wmax = (int64_t)journal__rd64((uint8_t *)v.mv_data + 16);
      /* old enough by age, or (a quota's or disk pressure's cut) at or before min_seq */
      if (gfirst == last_group_first || (wmax >= threshold && gfirst > min_seq)) break;
      cut = journal__rd64(v.mv_data);
      g = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
  }
  if (!rc && cut) rc = settle_cut(j, txn, first, &cut);
  uint8_t cut_hash[32];
  /* The leaf hashes of the cut's partial level-0 tile (leaves cut/256*256 .. cut-1, the records
   * up to the cut): level 0 is not stored (tree_store.c) but read from the records, which go;
   * the next archive's tree frontier at the cut needs them. Kept in `tiles` at level 0. */
  unsigned leaf_n = cut % JOURNAL_MERKLE_TILE_WIDTH;
  uint8_t (*leaves)[32] = NULL;
  if (!rc && cut) {
    struct pack_cache pc = { 0 };
    const uint8_t *b;
    size_t n;
    rc = journal__rec_get(txn, &j->db, &pc, cut, &b, &n);
    if (!rc) journal_record_hash(b, n, cut_hash);
    if (!rc && leaf_n && j->db.format >= 3 && j->db.tiles_ok) {
      struct journal_merkle_hasher h;
      bool hok = (leaves = malloc((size_t)leaf_n * 32)) != NULL && journal_merkle_hasher_init(&h) == 0;
      if (!hok) rc = -ENOMEM;
      /* leaves of records an earlier cut in the same tile removed: from the tile it kept */
      unsigned from = 0;
      if (!rc && first > cut - leaf_n + 1) {
        from = (unsigned)(first - (cut - leaf_n + 1));
        uint8_t kb[9];
        kb[0] = 0;
        journal__be64(kb + 1, cut / JOURNAL_MERKLE_TILE_WIDTH);
        MDB_val tk = { sizeof kb, kb }, tv;
        if (mdb_get(txn, j->db.tiles, &tk, &tv) == 0 && tv.mv_size >= (size_t)from * 32) memcpy(leaves, tv.mv_data, (size_t)from * 32);
        else from = leaf_n + 1; /* not kept: no tile now either (the next archive's export says so) */
      }
      for (unsigned i = from; !rc && i < leaf_n; i++) {
        uint64_t seq = cut - leaf_n + 1 + i;
        rc = journal__rec_get(txn, &j->db, &pc, seq, &b, &n);
        if (!rc) journal_merkle_leaf_hash(&h, b, n, leaves[i]);
      }
      if (hok) journal_merkle_hasher_deinit(&h);
      if (from > leaf_n) { free(leaves); leaves = NULL; }
    }
    journal__pack_cache_free(&pc);
  }
  mdb_txn_abort(txn);
  if (rc || !cut) free(leaves);
  if (rc < 0) return rc;
  if (rc || !cut) return journal__lmdb_err(rc);

  char adir[4200], name[96], path[4400];
  snprintf(adir, sizeof adir, "%s/archive", j->dir);
  if (mkdir(adir, 0750) != 0) {
    if (errno != EEXIST) { rc = -errno; free(leaves); return rc; }
  } else if ((rc = journal__sync_dir(j->dir))) {
    free(leaves);
    return rc;
  }
  snprintf(name, sizeof name, "%020llu-%020llu.hems", (unsigned long long)first, (unsigned long long)cut);
  snprintf(path, sizeof path, "%s/%s", adir, name);
  struct journal_reader *r;
  if ((rc = journal_reader_attach(&r, j))) { free(leaves); return rc; }
  /* An archive of a journal cut before starts after seq 1: it carries the checkpoint the
   * earlier cut stored at first-1 (journal_export's default). */
  struct journal_export_options eo = { .since_seq = first, .until_seq = cut };
  rc = journal_export(r, j->signer, &eo, path, NULL);
  journal_reader_close(r);
  if (rc || (rc = journal__sync_dir(adir))) { free(leaves); return rc; }
  uint8_t ah[32];
  if ((rc = hash_file(path, ah))) { free(leaves); return rc; }

  struct journal_record rec;
  memset(&rec, 0, sizeof rec);
  rec.type = JOURNAL_T_RETENTION;
  rec.source.kind = JOURNAL_SRC_PANEL;
  rec.body.retention.cut_seq = cut;
  memcpy(rec.body.retention.cut_hash, cut_hash, 32);
  rec.body.retention.archive = (struct journal_slice){ (const uint8_t *)name, (uint32_t)strlen(name) };
  memcpy(rec.body.retention.archive_hash, ah, 32);
  /* The hook appends the record (and whatever must be committed with it, e.g. a checkpoint of
   * the state at the cut) its own way — a live daemon through its fold. */
  rc = appender ? appender(ctx, j, &rec) : journal_append(j, &rec, NULL);
  if (rc || (rc = journal_sync(j))) { free(leaves); return rc; }

  /* The writer thread is idle after sync and this thread owns appends, so this write
   * transaction cannot interleave with a group commit. */
  if ((rc = journal__lmdb_err(mdb_txn_begin(j->env, NULL, 0, &txn)))) { free(leaves); return rc; }
  int lr = 0;
  if (leaves) {
    uint8_t kb[9];
    kb[0] = 0;
    journal__be64(kb + 1, cut / JOURNAL_MERKLE_TILE_WIDTH);
    MDB_val tk = { sizeof kb, kb }, tv = { (size_t)leaf_n * 32, leaves };
    lr = mdb_put(txn, j->db.tiles, &tk, &tv, 0);
    free(leaves);
  }
  /* the blobs only the cut records name (retention_blobs.c), while the records are still there */
  if (!lr && (rc = journal__prune_blobs(txn, &j->db, first, cut))) { mdb_txn_abort(txn); return rc; }
  if (!lr) lr = prune_prefix(txn, j->db.format >= 3 ? j->db.packs : j->db.records, cut);
  if (!lr) lr = prune_prefix(txn, j->db.groups, cut);
  /* Index entries name blocks; a block that straddles the cut keeps its entries (its surviving
   * records are still found; the archived ones are simply gone). */
  uint64_t idx_cut = cut;
  if (!lr) {
    MDB_cursor *bc;
    uint8_t kb[8];
    journal__be64(kb, cut);
    MDB_val bk = { 8, kb }, bv;
    if (mdb_cursor_open(txn, j->db.blocks, &bc) == 0) {
      int g = mdb_cursor_get(bc, &bk, &bv, MDB_SET_RANGE);
      if (g == 0 && journal__rd64(bk.mv_data) != cut) g = mdb_cursor_get(bc, &bk, &bv, MDB_PREV);
      else if (g == MDB_NOTFOUND) g = mdb_cursor_get(bc, &bk, &bv, MDB_LAST);
      if (g == 0 && bv.mv_size == 8 && journal__rd64(bv.mv_data) > cut) idx_cut = journal__rd64(bk.mv_data) - 1;
      mdb_cursor_close(bc);
    }
  }
  if (!lr) lr = prune_dups(txn, j->db.index, idx_cut);
  if (!lr) lr = prune_prefix(txn, j->db.blocks, idx_cut);
  if (!lr) lr = prune_dups(txn, j->db.times, cut);
  /* replay checkpoints of states before the cut: no record they could start from is left
   * (the one at the cut, stored with the retention record, stays) */
  if (!lr && cut > 1) lr = prune_prefix(txn, j->db.checkpoints, cut - 1);
  if (lr) { mdb_txn_abort(txn); return journal__lmdb_err(lr); }
  if ((rc = journal__lmdb_err(mdb_txn_commit(txn)))) return rc;
  *out_cut_seq = cut;
  return 0;
}
