/*
 * store_commit.c — committing: the writer thread, its LMDB transactions (records or packs,
 * groups, index, times, blobs, checkpoints) and the map growth they may need.
 *
 * Invariants kept here:
 * - records are only ever written with MDB_APPEND (never rewritten; retention deletes whole
 *   prefixes in retention.c).
 * - A group's seal is committed in the same LMDB transaction as its records; a group is
 *   reported durable (durable_seq, then on_durable) only after mdb_txn_commit returned 0 and
 *   the counter store was written after that commit.
 * - Index entries are per group, not per record: one dup entry (key -> block first seq) per
 *   distinct key, so indexing costs O(distinct keys), not O(records).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>
#include "codec_internal.h"
#include "store_internal.h"

/* The times table: one entry per group, keyed by the highest wall time of any record up to the
 * group's end (the last key's, or the group's own wall max when that is higher), its value the
 * group's first seq. The keys so rise with seq even where the clock stepped back (an RTC ahead
 * at boot, then NTP; a simulated run at --speed max, then a real-time one), and the first key at
 * or after T names the group holding the first record at or after T (journal_seek_time). Keyed
 * by each group's own earliest time, a group written after a step back sorted before T while
 * earlier records were at or after T, and a listing from T started at it: records hidden. */
int journal__times_put(MDB_txn *txn, MDB_dbi times, uint64_t first_seq, int64_t wall_max)
{
  uint64_t hi = (uint64_t)wall_max ^ (1ull << 63);
  MDB_cursor *c;
  int rc = mdb_cursor_open(txn, times, &c);
  if (rc) return rc;
  MDB_val k, v;
  rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
  mdb_cursor_close(c);
  if (rc == 0 && k.mv_size == 8 && journal__rd64(k.mv_data) > hi) hi = journal__rd64(k.mv_data);
  else if (rc && rc != MDB_NOTFOUND) return rc;
  uint8_t tk[8], fs[8];
  journal__be64(tk, hi);
  journal__be64(fs, first_seq);
  MDB_val nk = { 8, tk }, nv = { 8, fs };
  rc = mdb_put(txn, times, &nk, &nv, MDB_NODUPDATA);
  return rc == MDB_KEYEXIST ? 0 : rc;
}

/* ------------------------------------------------------------------ the writer thread */

static int grow_map(struct journal *j)
{
  uint64_t max = j->opt.map_size_max ? j->opt.map_size_max : (1ull << 40);
  if (j->map_size >= max) return JOURNAL_EFULL;
  uint64_t ns = j->map_size * 2;
  if (ns > max) ns = max;
  int rc = mdb_env_set_mapsize(j->env, ns);
  if (rc) return journal__lmdb_err(rc);
  j->map_size = ns;
  j->stats.map_grows++;
  return 0;
}

static int put_group(struct journal *j, MDB_txn *txn, struct group *g, uint64_t *bytes_out)
{
  uint8_t kb[8], vb[GROUP_ENTRY_BYTES];
  uint64_t bytes = 0;
  int rc = 0;
  /* Format 3: the records went into the commit's pack (put_packs). Format 2 (asked for by
   * journal_options.format): one `records` value per record, as it was. */
  for (uint32_t i = 0; j->db.format < 3 && i < g->n && !rc; i++) {
    journal__be64(kb, g->first_seq + i);
    MDB_val k = { 8, kb }, v = { g->offs[i + 1] - g->offs[i], g->bytes + g->offs[i] };
    rc = mdb_put(txn, j->db.records, &k, &v, MDB_APPEND);
    bytes += v.mv_size + 8;
  }
  uint64_t last = g->first_seq + g->n - 1;
  uint8_t fs[8];
  journal__be64(fs, g->first_seq);
  if (!rc) {
    journal__be64(vb, last);
    journal__be64(vb + 8, (uint64_t)g->wall_min);
    journal__be64(vb + 16, (uint64_t)g->wall_max);
    journal__be64(vb + 24, g->mono_first);
    MDB_val k = { 8, fs }, v = { sizeof vb, vb };
    rc = mdb_put(txn, j->db.groups, &k, &v, MDB_APPEND);
    bytes += 8 + sizeof vb;
  }
  /* Index entries: once per key per index block (see store_internal.h). */
  struct index_block *bk = &j->blk;
  if (!bk->first || bk->groups >= INDEX_BLOCK_GROUPS || bk->records >= INDEX_BLOCK_RECORDS) {
    bk->first = g->first_seq;
    bk->groups = bk->records = bk->nkeys = bk->committed = 0;
    memset(bk->set, 0, sizeof bk->set);
  }
  uint8_t bf[8];
  journal__be64(bf, bk->first);
  for (uint32_t i = 0; i < g->nkeys && !rc; i++) {
    struct index_key key = g->keys[i];
    uint32_t h = journal__key_hash(key) & (GROUP_KEYSET - 1);
    while (bk->set[h] && !(bk->keys[bk->set[h] - 1].kind == key.kind && bk->keys[bk->set[h] - 1].value == key.value))
      h = (h + 1) & (GROUP_KEYSET - 1);
    if (bk->set[h]) continue; /* already indexed in this block */
    if (bk->nkeys >= GROUP_KEYSET / 2) { rc = MDB_BAD_VALSIZE; break; }
    bk->keys[bk->nkeys++] = key;
    bk->set[h] = bk->nkeys;
    uint8_t ik[5];
    ik[0] = key.kind;
    ik[1] = (uint8_t)(key.value >> 24); ik[2] = (uint8_t)(key.value >> 16);
    ik[3] = (uint8_t)(key.value >> 8); ik[4] = (uint8_t)key.value;
    MDB_val k = { 5, ik }, v = { 8, bf };
    rc = mdb_put(txn, j->db.index, &k, &v, MDB_NODUPDATA);
    if (rc == MDB_KEYEXIST) rc = 0;
    bytes += 13;
  }
  if (!rc) {
    bk->groups++;
    bk->records += g->n;
    uint8_t bl[8];
    journal__be64(bl, last);
    MDB_val k = { 8, bf }, v = { 8, bl };
    rc = mdb_put(txn, j->db.blocks, &k, &v, 0);
  }
  if (!rc) {
    rc = journal__times_put(txn, j->db.times, g->first_seq, g->wall_max);
    bytes += 16;
  }
  for (size_t off = 0; off < g->blen && !rc;) {
    uint32_t bl;
    memcpy(&bl, g->blobs + off + 32, 4);
    MDB_val k = { 32, g->blobs + off }, v = { bl, g->blobs + off + 36 };
    rc = mdb_put(txn, j->db.blobs, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) rc = 0; /* content addressed: same hash, same content */
    bytes += 32 + bl;
    off += 36 + bl;
  }
  for (size_t off = 0; off < g->clen && !rc;) {
    uint32_t cl;
    memcpy(&cl, g->ckpts + off + 8, 4);
    uint8_t kb8[8];
    uint64_t cs;
    memcpy(&cs, g->ckpts + off, 8);
    journal__be64(kb8, cs);
    MDB_val k = { 8, kb8 }, v = { cl, g->ckpts + off + 12 };
    rc = mdb_put(txn, j->db.checkpoints, &k, &v, 0);
    bytes += 8 + cl;
    off += 12 + cl;
  }
  if (!rc) rc = journal__tree_put(j, txn, g, &bytes);
  *bytes_out += bytes;
  return rc;
}

/* The records of `count` groups from `first` as packs: one per commit, split at a group boundary
 * only when a pack would pass PACK_RAW_MAX or PACK_RECORDS_MAX. */
static int put_packs(struct journal *j, MDB_txn *txn, struct group *first, int count, uint64_t *bytes_out)
{
  size_t total = 0;
  struct group *g = first;
  for (int i = 0; i < count; i++, g = g->next) total += g->n;
  if (total > j->pk_cap) {
    const uint8_t **nr = realloc(j->pk_rec, total * sizeof *nr);
    if (nr) j->pk_rec = nr;
    size_t *nl = nr ? realloc(j->pk_len, total * sizeof *nl) : NULL;
    if (!nl) return -ENOMEM;
    j->pk_len = nl;
    j->pk_cap = total;
  }
  if (journal__store_grow((void **)&j->pk_chk, &j->pk_chcap, total * PACK_CHECK_BYTES, 1)) return -ENOMEM;
  if (!j->cctx && !(j->cctx = ZSTD_createCCtx())) return -ENOMEM;
  const uint8_t *prev = j->base_hash;
  g = first;
  int rc = 0;
  for (int i = 0; i < count && !rc;) {
    /* one pack: whole groups from g on */
    uint32_t n = 0;
    size_t raw = 0;
    uint64_t pfirst = g->first_seq;
    struct group *last = g;
    while (i < count) {
      size_t graw = g->len + (size_t)g->n * (4 + PACK_CHECK_BYTES);
      if (n && (raw + graw > PACK_RAW_MAX || n + g->n > PACK_RECORDS_MAX)) break;
      for (uint32_t r = 0; r < g->n; r++) {
        j->pk_rec[n + r] = g->bytes + g->offs[r];
        j->pk_len[n + r] = g->offs[r + 1] - g->offs[r];
      }
      memcpy(j->pk_chk + (size_t)n * PACK_CHECK_BYTES, g->checks, (size_t)g->n * PACK_CHECK_BYTES);
      n += g->n;
      raw += graw;
      last = g;
      g = g->next;
      i++;
    }
    uint8_t *v;
    size_t vl;
    int level = j->opt.pack_level ? j->opt.pack_level : PACK_ZSTD_LEVEL;
    rc = journal__pack_encode(j->cctx, level, j->pk_rec, j->pk_len, n, j->pk_chk, prev, &v, &vl);
    if (rc) return rc;
    uint8_t kb[8];
    journal__be64(kb, pfirst);
    MDB_val k = { 8, kb }, val = { vl, v };
    rc = journal__lmdb_err(mdb_put(txn, j->db.packs, &k, &val, MDB_APPEND)); /* MDB_MAP_FULL: JOURNAL_EFULL */
    free(v);
    *bytes_out += 8 + vl;
    prev = last->last_hash;
  }
  return rc;
}

/* Commits `count` sealed groups from `first` in one transaction (group commit under load: the
 * groups stay separately sealed, they only share the fsync). The transaction also records the
 * head that preceded it ("commit_base"), which is what the counter store holds if the process
 * dies between this commit and the counter write — the crash window the next open repairs. */
static int commit_batch_txn(struct journal *j, struct group *first, int count)
{
  MDB_txn *txn;
  int rc = mdb_txn_begin(j->env, NULL, 0, &txn);
  if (rc) return journal__lmdb_err(rc);
  uint64_t bytes = 0;
  struct group *g = first;
  bool boot = false;
  rc = j->db.format >= 3 ? put_packs(j, txn, first, count, &bytes) : 0;
  if (rc) { mdb_txn_abort(txn); return rc; }
  for (int i = 0; i < count && !rc; i++, g = g->next) {
    rc = put_group(j, txn, g, &bytes);
    boot |= g->boot_seen;
  }
  if (!rc && boot) {
    /* a boot record reports the previous shutdown: the unclean state has been recorded */
    uint8_t zero = 0;
    MDB_val k = { 15, "unclean_pending" }, v = { 1, &zero };
    rc = mdb_put(txn, j->db.meta, &k, &v, 0);
  }
  if (!rc) {
    uint8_t base[40];
    journal__be64(base, j->base_seq);
    memcpy(base + 8, j->base_hash, 32);
    MDB_val k = { 11, "commit_base" }, v = { sizeof base, base };
    rc = mdb_put(txn, j->db.meta, &k, &v, 0);
  }
  if (rc) {
    mdb_txn_abort(txn);
    return rc == MDB_MAP_FULL ? JOURNAL_EFULL : journal__lmdb_err(rc);
  }
  rc = mdb_txn_commit(txn);
  if (rc) return rc == MDB_MAP_FULL ? JOURNAL_EFULL : journal__lmdb_err(rc);
  j->stats.bytes_committed += bytes;
  return 0;
}

/* The index block state changes inside a transaction; an aborted transaction must not leave it
 * claiming entries that were never written. */
static void blk_save(struct journal *j)
{
  j->blk_saved.first = j->blk.first;
  j->blk_saved.groups = j->blk.groups;
  j->blk_saved.records = j->blk.records;
  j->blk_saved.nkeys = j->blk.nkeys;
}

static void blk_restore(struct journal *j)
{
  struct index_block *bk = &j->blk;
  if (bk->first != j->blk_saved.first) {
    /* a new block was opened inside the failed transaction: start it again next time */
    bk->first = 0;
    return;
  }
  bk->groups = j->blk_saved.groups;
  bk->records = j->blk_saved.records;
  bk->nkeys = j->blk_saved.nkeys;
  memset(bk->set, 0, sizeof bk->set);
  for (uint32_t i = 0; i < bk->nkeys; i++) {
    uint32_t h = journal__key_hash(bk->keys[i]) & (GROUP_KEYSET - 1);
    while (bk->set[h]) h = (h + 1) & (GROUP_KEYSET - 1);
    bk->set[h] = i + 1;
  }
}

/* A commit that found the filesystem full: on_nospace may free room (the daemon's reserve
 * file); otherwise wait 100 ms. False once the journal is closing and nothing more could be
 * freed: the commit then fails. */
static bool nospace_wait(struct journal *j)
{
  pthread_mutex_lock(&j->mu);
  bool stop = j->stop;
  j->stats.nospace_retries++;
  pthread_mutex_unlock(&j->mu);
  if (!j->opt.on_nospace) return false;
  if (j->opt.on_nospace(j->opt.ctx)) return true;
  if (stop) return false;
  struct timespec ts = { 0, 100000000 };
  nanosleep(&ts, NULL);
  return true;
}

/* No room on the filesystem: ENOSPC or EDQUOT — or EIO when the filesystem has (almost) no room
 * left: LMDB reports a short write (the filesystem filled up in the middle of its writev) as EIO. */
static bool no_room(const struct journal *j, int rc)
{
  if (rc == -ENOSPC || rc == -EDQUOT) return true;
  struct statvfs sv;
  return rc == -EIO && statvfs(j->dir, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize < (1u << 20);
}

static int commit_batch(struct journal *j, struct group *first, int count)
{
  for (;;) {
    blk_save(j);
    int rc = commit_batch_txn(j, first, count);
    if (rc) blk_restore(j);
    /* no room on the filesystem: the same groups again once there is (journal.h on_nospace) */
    if (no_room(j, rc) && nospace_wait(j)) continue;
    if (rc != JOURNAL_EFULL) return rc;
    if ((rc = grow_map(j))) return rc;
  }
}

#define JOURNAL_BATCH_MAX 64

/* Flash wear, as the kernel counts it. LMDB writes a run of contiguous new pages at the end of
 * data.mdb with one writev; the page cache then holds them as one large folio (Linux 6.x ext4),
 * and when LMDB later reuses one page of that run (a freed leaf or branch page), the whole folio
 * is dirtied: write_bytes grows by the folio's size, not 4 KiB, and the run is written back as a
 * unit. After a commit its pages are durable and clean, so the part of the file the commit
 * appended is dropped from the cache here; a later read maps it back in 4 KiB pages and a later
 * rewrite of a page dirties 4 KiB. Whole file on the first call (the cache a previous writer
 * left). Purely advisory: nothing about what is on disk or durable changes, and a failure is
 * ignored. */
static void cache_trim(struct journal *j)
{
  int fd;
  struct stat st;
  if (mdb_env_get_fd(j->env, &fd) != 0 || fstat(fd, &st) != 0) return;
  uint64_t end = (uint64_t)st.st_size;
  uint64_t from = j->cached_end <= end ? j->cached_end & ~(uint64_t)4095 : 0;
  if (end > from) posix_fadvise(fd, (off_t)from, (off_t)(end - from), POSIX_FADV_DONTNEED);
  j->cached_end = end;
}

void *journal__writer_main(void *arg)
{
  struct journal *j = arg;
  pthread_mutex_lock(&j->mu);
  for (;;) {
    while (!j->q_head && !j->stop) pthread_cond_wait(&j->cv, &j->mu);
    if (!j->q_head && j->stop) break;
    /* Flash wear: non-critical groups may wait to share a commit (commit_hold_ns). */
    uint64_t hold = j->opt.commit_hold_ns;
    if (hold && !j->stop && !j->urgent && !j->failed && j->q_len < JOURNAL_QUEUE_MAX / 2) {
      bool critical = false;
      for (struct group *g = j->q_head; g; g = g->next) critical |= g->critical;
      uint64_t span = j->q_tail->mono_last - j->q_head->mono_first;
      if (!critical && span < hold) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        uint64_t left = hold - span;
        dl.tv_sec += (time_t)(left / 1000000000ull);
        dl.tv_nsec += (long)(left % 1000000000ull);
        if (dl.tv_nsec >= 1000000000) { dl.tv_sec++; dl.tv_nsec -= 1000000000; }
        struct group *tail = j->q_tail;
        int w = 0;
        while (!j->stop && !j->urgent && j->q_tail == tail && w == 0) w = pthread_cond_timedwait(&j->cv, &j->mu, &dl);
        if (w == 0) continue; /* something changed: judge again */
      }
    }
    struct group *first = j->q_head, *lastg = first;
    int count = 1;
    int batch_max = j->opt.commit_batch_max ? (int)j->opt.commit_batch_max : JOURNAL_BATCH_MAX;
    while (lastg->next && count < batch_max) { lastg = lastg->next; count++; }
    int failed = j->failed;
    pthread_mutex_unlock(&j->mu);

    int rc = failed ? failed : commit_batch(j, first, count);
    uint64_t last = lastg->first_seq + lastg->n - 1;
    if (rc == 0) {
      cache_trim(j);
      j->base_seq = last;
      memcpy(j->base_hash, lastg->last_hash, JOURNAL_HASH_BYTES);
      /* After the commit: a crash between the two leaves the journal one commit ahead of its
       * counter (the counter equals commit_base), which the next open repairs silently. */
      int crc = j->counter->write(j->counter->ctx, last, lastg->last_hash);
      if (crc) rc = crc;
    }

    pthread_mutex_lock(&j->mu);
    uint64_t recs = 0;
    for (int i = 0; i < count; i++) {
      struct group *g = j->q_head;
      recs += g->n;
      j->q_head = g->next;
      j->q_len--;
      g->next = j->free_list;
      j->free_list = g;
    }
    if (!j->q_head) { j->q_tail = NULL; j->urgent = false; }
    if (rc == 0) {
      j->durable_seq = last;
      j->stats.groups_committed += (uint64_t)count;
      j->stats.records_committed += recs;
      j->stats.commits++;
    } else if (!j->failed) {
      j->failed = rc;
    }
    pthread_cond_broadcast(&j->cv);
    if (rc == 0 && j->opt.on_durable) {
      /* Only now, when journal_durable_seq() already says so (the counter written too): whoever
       * the callback wakes reads the new durable seq, never the old one. Without the lock, so the
       * callback cannot stall appenders. */
      pthread_mutex_unlock(&j->mu);
      j->opt.on_durable(j->opt.ctx, last);
      pthread_mutex_lock(&j->mu);
    }
  }
  pthread_mutex_unlock(&j->mu);
  return NULL;
}
