/*
 * store.c — the LMDB store and the writer: commit groups, seals, the writer thread, the
 * writer lock, the anti-rollback check, readers and index queries.
 *
 * Invariants kept here:
 * - seq is gapless from 1; `records` is only ever written with MDB_APPEND (never rewritten;
 *   retention deletes whole prefixes in retention.c).
 * - Every group ends with a seal in the same LMDB transaction; a group is reported durable
 *   (on_durable, durable_seq) only after mdb_txn_commit returned 0, and the counter store is
 *   written after that commit.
 * - Group boundaries are a pure function of the record stream and the journal clock: a
 *   critical record, JOURNAL_GROUP_RECORDS_MAX records, or a record >= span after the group's
 *   first record ends it; journal_flush() ends it explicitly.
 * - Index entries are per group, not per record: one dup entry (key -> group first seq) per
 *   distinct key in the group, so indexing costs O(distinct keys), not O(records).
 * - One writer per data dir: flock on DIR and on DIR/lock (lock.c), released by the kernel when
 *   the process dies.
 * - Nothing is mapped before envcheck.c has checked data.mdb against its meta pages; every
 *   value length read from the store is bounded before it is used.
 * - A counter store is never re-created from the journal: missing, damaged or unsigned, it is
 *   refused unless accept_rollback, which journals fault{rollback_accepted}.
 * - An unclean shutdown stays recorded (meta unclean_pending) until a boot record reporting it
 *   commits, whatever other writers open and close the journal in between.
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
  if (!create) {
    MDB_val k = { 6, "format" }, v;
    if (mdb_get(txn, db->meta, &k, &v) == 0 && v.mv_size == 4) {
      const uint8_t *f = v.mv_data;
      uint32_t ver = (uint32_t)f[0] << 24 | (uint32_t)f[1] << 16 | (uint32_t)f[2] << 8 | f[3];
      if (ver != JOURNAL_FORMAT_VERSION) return JOURNAL_EVERSION;
    }
  }
  if ((rc = mdb_dbi_open(txn, "records", c, &db->records)) ||
      (rc = mdb_dbi_open(txn, "groups", c, &db->groups)) ||
      (rc = mdb_dbi_open(txn, "index", c | MDB_DUPSORT | MDB_DUPFIXED, &db->index)) ||
      (rc = mdb_dbi_open(txn, "times", c | MDB_DUPSORT | MDB_DUPFIXED, &db->times)) ||
      (rc = mdb_dbi_open(txn, "blobs", c, &db->blobs)) ||
      (rc = mdb_dbi_open(txn, "checkpoints", c, &db->checkpoints)) ||
      (rc = mdb_dbi_open(txn, "blocks", c, &db->blocks)))
    return rc == MDB_NOTFOUND ? JOURNAL_ECORRUPT : journal__lmdb_err(rc);
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

static int meta_put(MDB_txn *txn, const struct journal_dbs *db, const char *key, const void *val, size_t n)
{
  MDB_val k = { strlen(key), (void *)key }, v = { n, (void *)val };
  return journal__lmdb_err(mdb_put(txn, db->meta, &k, &v, 0));
}

static void real_clock(void *ctx, uint64_t *mono, int64_t *wall, uint8_t *tq)
{
  (void)ctx;
  struct timespec m, w;
  clock_gettime(CLOCK_BOOTTIME, &m);
  clock_gettime(CLOCK_REALTIME, &w);
  *mono = (uint64_t)m.tv_sec * 1000000000ull + (uint64_t)m.tv_nsec;
  *wall = (int64_t)w.tv_sec * 1000000000ll + w.tv_nsec;
  /* adjtimex() is a costly syscall (it stirs the kernel's entropy pool): ask at most once per
   * second of monotonic time. The flag describes the clock's discipline, which changes slowly. */
  static __thread uint64_t tq_checked_ns;
  static __thread uint8_t tq_cached = JOURNAL_TQ_UNSYNCED;
  if (tq_checked_ns == 0 || *mono - tq_checked_ns >= 1000000000ull) {
    tq_cached = journal__time_quality_now(); /* a failed query reads as unsynced (timequality.c) */
    tq_checked_ns = *mono;
  }
  *tq = tq_cached;
}

static void read_boot_id(uint8_t out[16])
{
  char buf[64] = { 0 };
  memset(out, 0, 16);
  int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  int k = 0;
  for (ssize_t i = 0; i < n && k < 32; i++) {
    char c = buf[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) continue;
    out[k / 2] = (uint8_t)(out[k / 2] << 4 | v);
    k++;
  }
}

/* ------------------------------------------------------------------ groups */

static struct group *group_get(struct journal *j)
{
  struct group *g;
  pthread_mutex_lock(&j->mu);
  g = j->free_list;
  if (g) j->free_list = g->next;
  pthread_mutex_unlock(&j->mu);
  if (!g) {
    g = calloc(1, sizeof *g);
    if (!g) return NULL;
  }
  g->len = 0;
  g->n = 0;
  g->nkeys = 0;
  memset(g->keyset, 0, sizeof g->keyset);
  g->blen = 0;
  g->clen = 0;
  g->critical = false;
  g->boot_seen = false;
  g->mono_last = 0;
  g->next = NULL;
  g->first_seq = 0;
  return g;
}

static void group_free(struct group *g)
{
  if (!g) return;
  free(g->bytes);
  free(g->offs);
  free(g->keys);
  free(g->blobs);
  free(g->ckpts);
  free(g);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
  if (need <= *cap) return 0;
  size_t nc = *cap ? *cap : 64;
  while (nc < need) nc *= 2;
  void *q = realloc(*p, nc * elem);
  if (!q) return -ENOMEM;
  *p = q;
  *cap = nc;
  return 0;
}

/* Index keys from the decoded struct (no re-parse): type, source, and for typed bodies the
 * fields named "branch"/"target"; raw bodies fall back to scanning their CBOR. */
static int struct_index_keys(const struct journal_record *r, const uint8_t *rec, size_t len,
                             struct index_key *out, int cap)
{
  const struct jdesc *d = journal__body_desc(r->type);
  if (!d) return journal__record_index_keys(rec, len, out, cap);
  int n = 0;
  n = journal__index_add_key(out, n, cap, JOURNAL_IDX_TYPE, r->type);
  const struct journal_source *src = &r->source;
  n = journal__index_add_key(out, n, cap, JOURNAL_IDX_SOURCE, journal_index_source_value(src));
  if (src->kind == JOURNAL_SRC_BRANCH || (src->kind == JOURNAL_SRC_TAP && src->index))
    n = journal__index_add_key(out, n, cap, JOURNAL_IDX_BRANCH, src->index);
  for (unsigned i = 0; i < d->n; i++) {
    const struct jfield *f = &d->fields[i];
    if (f->name[0] != 'b' && f->name[0] != 't') continue;
    const uint8_t *p = (const uint8_t *)&r->body + f->offset;
    if (f->kind == JF_U16ARR && strcmp(f->name, "branches") == 0) {
      uint16_t cnt;
      memcpy(&cnt, (const uint8_t *)&r->body + f->count_offset, 2);
      for (unsigned e = 0; e < cnt && e < f->max; e++) {
        uint16_t b16;
        memcpy(&b16, p + 2 * e, 2);
        if (b16) n = journal__index_add_key(out, n, cap, JOURNAL_IDX_BRANCH, b16);
      }
      continue;
    }
    if (strcmp(f->name, "branch") != 0 && strcmp(f->name, "target") != 0) continue;
    uint32_t v = 0;
    if (f->kind == JF_U8) v = *p;
    else if (f->kind == JF_U16 || f->kind == JF_TARGET) { uint16_t x; memcpy(&x, p, 2); v = x; }
    else if (f->kind == JF_U32) memcpy(&v, p, 4);
    else continue;
    if (v && v <= 0xffff) n = journal__index_add_key(out, n, cap, JOURNAL_IDX_BRANCH, v);
  }
  return n;
}

static uint32_t key_hash(struct index_key k) { return (k.value * 2654435761u) ^ (uint32_t)k.kind * 40503u; }

static int group_add(struct group *g, const struct journal_record *r, const uint8_t *rec, size_t len)
{
  uint64_t seq = r->seq, mono = r->mono_ns;
  int64_t wall = r->wall_ns;
  size_t ncap = g->ncap;
  if (grow((void **)&g->bytes, &g->cap, g->len + len, 1) ||
      grow((void **)&g->offs, &ncap, (size_t)g->n + 2, sizeof(uint32_t)))
    return -ENOMEM;
  g->ncap = (uint32_t)ncap;
  if (g->n == 0) {
    g->first_seq = seq;
    g->wall_min = g->wall_max = wall;
    g->mono_first = mono;
    g->offs[0] = 0;
  }
  if (wall < g->wall_min) g->wall_min = wall;
  if (wall > g->wall_max) g->wall_max = wall;
  memcpy(g->bytes + g->len, rec, len);
  g->len += len;
  g->n++;
  g->mono_last = mono;
  if (journal_type_is_critical(r->type)) g->critical = true;
  g->offs[g->n] = (uint32_t)g->len;
  struct index_key ks[64];
  int nk = struct_index_keys(r, rec, len, ks, 64);
  for (int i = 0; i < nk; i++) {
    /* Distinct keys of the group through a small open-addressing set of key indexes + 1. */
    uint32_t h = key_hash(ks[i]) & (GROUP_KEYSET - 1);
    for (;;) {
      uint32_t slot = g->keyset[h];
      if (slot == 0) break;
      if (g->keys[slot - 1].kind == ks[i].kind && g->keys[slot - 1].value == ks[i].value) break;
      h = (h + 1) & (GROUP_KEYSET - 1);
    }
    if (g->keyset[h]) continue;
    if (g->nkeys >= GROUP_KEYSET / 2) return JOURNAL_ETOOBIG;
    size_t kc = g->kcap;
    if (grow((void **)&g->keys, &kc, (size_t)g->nkeys + 1, sizeof *g->keys)) return -ENOMEM;
    g->kcap = (uint32_t)kc;
    g->keys[g->nkeys++] = ks[i];
    g->keyset[h] = g->nkeys;
  }
  return 0;
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
  for (uint32_t i = 0; i < g->n && !rc; i++) {
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
    uint32_t h = key_hash(key) & (GROUP_KEYSET - 1);
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
    uint8_t tk[8];
    journal__be64(tk, (uint64_t)g->wall_min ^ (1ull << 63));
    MDB_val k = { 8, tk }, v = { 8, fs };
    rc = mdb_put(txn, j->db.times, &k, &v, MDB_NODUPDATA);
    if (rc == MDB_KEYEXIST) rc = 0;
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
  *bytes_out += bytes;
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
    uint32_t h = key_hash(bk->keys[i]) & (GROUP_KEYSET - 1);
    while (bk->set[h]) h = (h + 1) & (GROUP_KEYSET - 1);
    bk->set[h] = i + 1;
  }
}

static int commit_batch(struct journal *j, struct group *first, int count)
{
  for (;;) {
    blk_save(j);
    int rc = commit_batch_txn(j, first, count);
    if (rc) blk_restore(j);
    if (rc != JOURNAL_EFULL) return rc;
    if ((rc = grow_map(j))) return rc;
  }
}

#define JOURNAL_BATCH_MAX 64

static void *writer_main(void *arg)
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
      j->base_seq = last;
      memcpy(j->base_hash, lastg->last_hash, JOURNAL_HASH_BYTES);
      if (j->opt.on_durable) j->opt.on_durable(j->opt.ctx, last);
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
  }
  pthread_mutex_unlock(&j->mu);
  return NULL;
}

/* ------------------------------------------------------------------ appending */

static void stamp(struct journal *j, struct journal_record *r)
{
  if (j->opt.clock.now) j->opt.clock.now(j->opt.clock.ctx, &r->mono_ns, &r->wall_ns, &r->time_quality);
  else real_clock(NULL, &r->mono_ns, &r->wall_ns, &r->time_quality);
  memcpy(r->boot_id, j->opt.boot_id, JOURNAL_BOOTID_BYTES);
  r->version = JOURNAL_SCHEMA_VERSION;
  r->seq = j->head_seq + 1;
  memcpy(r->prev, j->head_hash, JOURNAL_HASH_BYTES);
}

/* Encodes, hashes and adds one stamped record to the current group. */
static int add_record(struct journal *j, const struct journal_record *r)
{
  size_t len;
  int rc = journal_record_encode(r, j->scratch, sizeof j->scratch, &len);
  if (rc) return rc == -ENOSPC ? JOURNAL_ETOOBIG : rc;
  if (!j->cur && !(j->cur = group_get(j))) return -ENOMEM;
  if ((rc = group_add(j->cur, r, j->scratch, len))) return rc;
  journal_record_hash(j->scratch, len, j->head_hash);
  j->head_seq = r->seq;
  memcpy(j->cur->last_hash, j->head_hash, JOURNAL_HASH_BYTES);
  return 0;
}

static int wait_durable(struct journal *j, uint64_t seq)
{
  pthread_mutex_lock(&j->mu);
  if (j->durable_seq < seq) { j->urgent = true; pthread_cond_broadcast(&j->cv); }
  while (j->durable_seq < seq && !j->failed) pthread_cond_wait(&j->cv, &j->mu);
  int rc = j->durable_seq >= seq ? 0 : j->failed;
  pthread_mutex_unlock(&j->mu);
  return rc;
}

/* Seals the current group and hands it to the writer thread. */
static int seal_group(struct journal *j)
{
  struct group *g = j->cur;
  if (!g || g->n == 0) return 0;
  struct journal_record s;
  memset(&s, 0, sizeof s);
  s.type = JOURNAL_T_SEAL;
  s.source.kind = JOURNAL_SRC_PANEL;
  stamp(j, &s);
  struct journal_seal *b = &s.body.seal;
  b->sealed_seq = j->head_seq;
  memcpy(b->head_hash, j->head_hash, JOURNAL_HASH_BYTES);
  if (j->opt.state_hash) j->opt.state_hash(j->opt.ctx, b->state_hash);
  memcpy(b->key_id, j->signer->key_id, JOURNAL_KEYID_BYTES);
  b->group_records = g->n;
  uint8_t msg[JOURNAL_SEAL_MESSAGE_BYTES];
  int rc = journal_seal_message(&s, msg);
  if (!rc) rc = j->signer->sign(j->signer->ctx, msg, sizeof msg, b->sig);
  if (rc) return rc;
  if ((rc = add_record(j, &s))) return rc;
  bool crit = g->critical; /* g belongs to the writer thread once queued */

  pthread_mutex_lock(&j->mu);
  while (j->q_len >= JOURNAL_QUEUE_MAX && !j->failed) pthread_cond_wait(&j->cv, &j->mu);
  if (j->failed) { rc = j->failed; pthread_mutex_unlock(&j->mu); return rc; }
  if (j->q_tail) j->q_tail->next = g; else j->q_head = g;
  j->q_tail = g;
  j->q_len++;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
  j->cur = NULL;
  /* Virtual clock: the appender waits for durability — for every group, or with a commit hold
   * for critical ones only (what they start, an actuation, must not run ahead of durability). */
  if (j->opt.virtual_clock && (!j->opt.commit_hold_ns || crit)) return wait_durable(j, j->head_seq);
  return 0;
}

static int check_failed(struct journal *j)
{
  pthread_mutex_lock(&j->mu);
  int rc = j->failed;
  pthread_mutex_unlock(&j->mu);
  return rc;
}

int journal_append_stamped(struct journal *j, struct journal_record *r)
{
  int rc = check_failed(j);
  if (rc) return rc;
  if (r->type == JOURNAL_T_SEAL || r->type == 0 || r->type >= JOURNAL_T__MAX) return JOURNAL_EBADREC;
  stamp(j, r);
  if ((rc = add_record(j, r))) {
    /* Nothing was added (encode failed before the group changed). */
    return rc;
  }
  struct group *g = j->cur;
  if (r->type == JOURNAL_T_BOOT) g->boot_seen = true;
  uint32_t max = j->opt.group_records_max ? j->opt.group_records_max : JOURNAL_GROUP_RECORDS_MAX;
  uint64_t span = j->opt.group_span_ns ? j->opt.group_span_ns : JOURNAL_GROUP_SPAN_NS;
  if (journal_type_is_critical(r->type) || g->n >= max || r->mono_ns - g->mono_first >= span)
    return seal_group(j);
  return 0;
}

int journal_append(struct journal *j, const struct journal_record *in, uint64_t *out_seq)
{
  struct journal_record r = *in;
  uint64_t next = j->head_seq + 1;
  int rc = journal_append_stamped(j, &r);
  if (out_seq && j->head_seq >= next) *out_seq = next; /* added (even if sealing then failed) */
  return rc;
}

int journal_flush(struct journal *j)
{
  int rc = check_failed(j);
  return rc ? rc : seal_group(j);
}

int journal_sync(struct journal *j)
{
  int rc = journal_flush(j);
  if (rc) return rc;
  return wait_durable(j, j->head_seq);
}

uint64_t journal_head_seq(const struct journal *j) { return j->head_seq; }
void journal_head_hash(const struct journal *j, uint8_t out[JOURNAL_HASH_BYTES]) { memcpy(out, j->head_hash, 32); }
const uint8_t *journal_signer_pubkey(const struct journal *j) { return j->signer->pubkey; }

uint64_t journal_durable_seq(struct journal *j)
{
  pthread_mutex_lock(&j->mu);
  uint64_t s = j->durable_seq;
  pthread_mutex_unlock(&j->mu);
  return s;
}

void journal_get_stats(struct journal *j, struct journal_stats *out)
{
  pthread_mutex_lock(&j->mu);
  *out = j->stats;
  pthread_mutex_unlock(&j->mu);
}

int journal_put_blob(struct journal *j, const uint8_t *data, size_t len, uint8_t out_hash[JOURNAL_HASH_BYTES])
{
  crypto_generichash(out_hash, JOURNAL_HASH_BYTES, data, len, NULL, 0);
  size_t bound = ZSTD_compressBound(len);
  if (!j->cur && !(j->cur = group_get(j))) return -ENOMEM;
  struct group *g = j->cur;
  if (grow((void **)&g->blobs, &g->bcap, g->blen + 36 + bound, 1)) return -ENOMEM;
  size_t c = ZSTD_compress(g->blobs + g->blen + 36, bound, data, len, 3);
  if (ZSTD_isError(c)) return -EIO;
  uint32_t cl = (uint32_t)c;
  memcpy(g->blobs + g->blen, out_hash, 32);
  memcpy(g->blobs + g->blen + 32, &cl, 4);
  g->blen += 36 + c;
  return 0;
}

int journal_checkpoint_put(struct journal *j, uint64_t seq, const uint8_t *data, size_t len)
{
  if (len > (64u << 20)) return JOURNAL_ETOOBIG;
  if (!j->cur && !(j->cur = group_get(j))) return -ENOMEM;
  struct group *g = j->cur;
  if (grow((void **)&g->ckpts, &g->ccap, g->clen + 12 + len, 1)) return -ENOMEM;
  uint32_t l32 = (uint32_t)len;
  memcpy(g->ckpts + g->clen, &seq, 8);
  memcpy(g->ckpts + g->clen + 8, &l32, 4);
  memcpy(g->ckpts + g->clen + 12, data, len);
  g->clen += 12 + len;
  return 0;
}

/* ------------------------------------------------------------------ open / create / close */

static void (*volatile lmdb_assert_hook)(const char *msg);

void journal_set_lmdb_assert_hook(void (*hook)(const char *msg)) { lmdb_assert_hook = hook; }

static void on_lmdb_assert(MDB_env *env, const char *msg)
{
  (void)env;
  void (*hook)(const char *) = lmdb_assert_hook;
  if (hook) hook(msg);
}

static int env_open(const char *dir, bool rdonly, uint64_t map_size, MDB_env **out, bool no_sync)
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

/* Head of the journal: last seq and its record hash (0 and zero hash when empty). */
static int read_head(MDB_txn *txn, const struct journal_dbs *db, uint64_t *seq, uint8_t hash[32])
{
  MDB_cursor *c;
  MDB_val k, v;
  *seq = 0;
  memset(hash, 0, 32);
  int rc = mdb_cursor_open(txn, db->records, &c);
  if (rc) return journal__lmdb_err(rc);
  rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
  if (rc == 0) {
    if (k.mv_size != 8 || v.mv_size > JOURNAL_RECORD_MAX) { mdb_cursor_close(c); return JOURNAL_EMDBPAGE; }
    *seq = journal__rd64(k.mv_data);
    journal_record_hash(v.mv_data, v.mv_size, hash);
    rc = 0;
  } else if (rc == MDB_NOTFOUND) {
    rc = 0;
  } else {
    rc = journal__lmdb_err(rc);
  }
  mdb_cursor_close(c);
  return rc;
}

static int check_format(MDB_txn *txn, const struct journal_dbs *db)
{
  uint8_t b[8];
  int n = journal__meta_get(txn, db, "format", b, sizeof b);
  if (n != 4) return JOURNAL_ECORRUPT;
  uint32_t v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
  if (v != JOURNAL_FORMAT_VERSION) return JOURNAL_EVERSION;
  n = journal__meta_get(txn, db, "features_incompat", b, sizeof b);
  if (n == 4) {
    uint32_t f = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    if (f & ~JOURNAL_FEATURES_INCOMPAT_KNOWN) return JOURNAL_EVERSION;
  }
  return 0;
}

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

static int record_hash_at(MDB_txn *txn, const struct journal_dbs *db, uint64_t seq, uint8_t hash[32])
{
  uint8_t kb[8];
  journal__be64(kb, seq);
  MDB_val k = { 8, kb }, v;
  int rc = mdb_get(txn, db->records, &k, &v);
  if (rc) return journal__lmdb_err(rc);
  if (v.mv_size > JOURNAL_RECORD_MAX) return JOURNAL_EMDBPAGE;
  journal_record_hash(v.mv_data, v.mv_size, hash);
  return 0;
}

enum counter_verdict { CV_OK, CV_REPAIR, CV_ROLLBACK, CV_MISSING, CV_DAMAGED };

/* Does the journal hold (seq, hash)? seq 0 is the empty journal, whose head hash is zero. */
static bool journal_holds(MDB_txn *txn, const struct journal_dbs *db, uint64_t seq, const uint8_t hash[32])
{
  uint8_t h[32] = { 0 };
  if (seq != 0 && record_hash_at(txn, db, seq, h) != 0) return false;
  return memcmp(h, hash, 32) == 0;
}

/* The anti-rollback rule (DESIGN.md invariant 5), given what the counter store returned (crc,
 * cseq, chash) and the head of a snapshot taken after reading it. A writer, which holds the
 * lock, accepts a journal ahead of its counter only in the crash window of its last commit
 * (counter = meta commit_base); a reader, whose snapshot may be any number of commits newer
 * than the counter it read just before, accepts a head that continues the counter's. */
static int counter_check(MDB_txn *txn, const struct journal_dbs *db, uint64_t head, const uint8_t head_hash[32],
                         int crc, uint64_t cseq, const uint8_t chash[32], bool reader, int *verdict)
{
  if (crc == -ENOENT) {
    /* Never re-created from the journal: journal_create writes seq 0 before the first commit. */
    *verdict = head ? CV_MISSING : CV_OK;
    return 0;
  }
  if (crc == JOURNAL_ECTRSIG || crc == JOURNAL_ECTRFORMAT) { *verdict = CV_DAMAGED; return 0; }
  if (crc) return crc;
  if (cseq > head) { *verdict = CV_ROLLBACK; return 0; }
  if (cseq == head) {
    *verdict = memcmp(chash, head_hash, 32) == 0 ? CV_OK : CV_ROLLBACK;
    return 0;
  }
  if (reader) {
    *verdict = journal_holds(txn, db, cseq, chash) ? CV_OK : CV_ROLLBACK;
    return 0;
  }
  uint8_t base[40];
  if (journal__meta_get(txn, db, "commit_base", base, sizeof base) == 40 && journal__rd64(base) == cseq &&
      memcmp(base + 8, chash, 32) == 0 && journal_holds(txn, db, cseq, chash))
    *verdict = CV_REPAIR;
  else
    *verdict = CV_ROLLBACK;
  return 0;
}

static void journal_free(struct journal *j)
{
  if (!j) return;
  if (j->thread_started) {
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->thread, NULL);
  }
  group_free(j->cur);
  while (j->free_list) { struct group *g = j->free_list; j->free_list = g->next; group_free(g); }
  while (j->q_head) { struct group *g = j->q_head; j->q_head = g->next; group_free(g); }
  if (j->env) mdb_env_close(j->env);
  journal__file_counter_deinit(&j->fcounter);
  journal_file_signer_wipe(&j->fsigner);
  journal__lock_release(&j->lock);
  pthread_mutex_destroy(&j->mu);
  pthread_cond_destroy(&j->cv);
  free(j);
}

/* meta clean_shutdown = v; and when opening after an unclean shutdown, unclean_pending = 1,
 * which only the commit of a boot record clears (commit_batch_txn). */
static int set_clean(struct journal *j, uint8_t v, bool unclean_pending)
{
  MDB_txn *txn;
  int rc = mdb_txn_begin(j->env, NULL, 0, &txn);
  if (rc) return journal__lmdb_err(rc);
  uint8_t one = 1;
  rc = meta_put(txn, &j->db, "clean_shutdown", &v, 1);
  if (!rc && unclean_pending) rc = meta_put(txn, &j->db, "unclean_pending", &one, 1);
  if (rc) { mdb_txn_abort(txn); return rc; }
  return journal__lmdb_err(mdb_txn_commit(txn));
}

static int do_open(struct journal **out, const struct journal_options *o, struct journal_open_info *info,
                   int *out_pid, bool creating)
{
  struct journal_open_info dummy;
  if (!info) info = &dummy;
  memset(info, 0, sizeof *info);
  if (sodium_init() < 0) return -EIO;
  struct stat st;
  if (stat(o->dir, &st) != 0) return errno == ENOENT ? JOURNAL_ENOJOURNAL : -errno;
  struct journal *j = calloc(1, sizeof *j);
  if (!j) return -ENOMEM;
  j->lock.dir_fd = j->lock.file_fd = -1;
  j->fcounter.fd = -1;
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
  j->opt = *o;
  snprintf(j->dir, sizeof j->dir, "%s", o->dir);
  j->opt.dir = j->dir;
  int rc = journal__lock_take(j->dir, &j->lock, out_pid);
  if (rc) goto fail;
  bool zero_boot = true;
  for (int i = 0; i < JOURNAL_BOOTID_BYTES; i++) if (o->boot_id[i]) zero_boot = false;
  if (zero_boot) read_boot_id(j->opt.boot_id);

  if (o->signer) {
    j->signer = o->signer;
  } else {
    if ((rc = journal_file_signer_load(&j->fsigner, j->dir))) goto fail;
    j->signer = &j->fsigner.signer;
  }
  if (o->counter) {
    j->counter = o->counter;
  } else {
    char cp[4200];
    if (o->counter_path) snprintf(cp, sizeof cp, "%s", o->counter_path);
    else snprintf(cp, sizeof cp, "%s/counter", j->dir);
    journal__file_counter_init(&j->fcounter, cp, j->signer, NULL);
    j->counter = &j->fcounter.ops;
  }

  if ((rc = env_open(j->dir, false, o->map_size, &j->env, o->unsafe_no_sync))) goto fail;
  j->fcounter.no_sync = o->unsafe_no_sync;
  MDB_envinfo ei;
  mdb_env_info(j->env, &ei);
  j->map_size = ei.me_mapsize;

  MDB_txn *txn;
  if ((rc = journal__lmdb_err(mdb_txn_begin(j->env, NULL, MDB_RDONLY, &txn)))) goto fail;
  rc = journal__open_dbs(txn, &j->db, false);
  if (!rc) rc = check_format(txn, &j->db);
  if (!rc) rc = read_head(txn, &j->db, &j->head_seq, j->head_hash);
  uint8_t clean = 0, pending = 0;
  int had_clean = rc ? -1 : journal__meta_get(txn, &j->db, "clean_shutdown", &clean, 1);
  int had_pending = rc ? -1 : journal__meta_get(txn, &j->db, "unclean_pending", &pending, 1);
  uint64_t cseq = 0;
  uint8_t chash[32];
  int verdict = CV_OK, crc = 0;
  if (!rc && !creating) {
    crc = j->counter->read(j->counter->ctx, &cseq, chash);
    if (crc) cseq = 0;
    rc = counter_check(txn, &j->db, j->head_seq, j->head_hash, crc, cseq, chash, false, &verdict);
  }
  mdb_txn_commit(txn);
  if (rc) goto fail;
  info->head_seq = j->head_seq;
  memcpy(info->head_hash, j->head_hash, 32);
  info->counter_seq = cseq;
  bool unclean = !(had_clean == 1 && clean == 1) || (had_pending == 1 && pending == 1);
  info->last_shutdown_clean = !unclean;
  j->durable_seq = j->head_seq;
  j->base_seq = j->head_seq;
  memcpy(j->base_hash, j->head_hash, JOURNAL_HASH_BYTES);

  if (verdict == CV_DAMAGED && !o->accept_rollback) {
    rc = crc;
    goto fail;
  }
  if ((verdict == CV_ROLLBACK || verdict == CV_MISSING) && !o->accept_rollback) {
    rc = JOURNAL_EROLLBACK;
    goto fail;
  }
  if ((rc = set_clean(j, 0, unclean))) goto fail;
  if (creating) {
    /* The counter exists from before the first commit (seq 0, the empty journal's zero hash),
     * so a missing one is never the normal state; both slots, over any older file there. */
    uint8_t zero[32] = { 0 };
    if ((rc = j->counter->write(j->counter->ctx, 0, zero)) || (rc = j->counter->write(j->counter->ctx, 0, zero)))
      goto fail;
  }
  if (pthread_create(&j->thread, NULL, writer_main, j) != 0) { rc = -EAGAIN; goto fail; }
  j->thread_started = true;

  if (verdict == CV_REPAIR) {
    if ((rc = j->counter->write(j->counter->ctx, j->head_seq, j->head_hash))) goto fail;
    info->counter_repaired = true;
  } else if (verdict == CV_ROLLBACK || verdict == CV_MISSING || verdict == CV_DAMAGED) {
    /* Accepted: reset both counter slots to the journal's head, then journal the fact. */
    if ((rc = j->counter->write(j->counter->ctx, j->head_seq, j->head_hash)) ||
        (rc = j->counter->write(j->counter->ctx, j->head_seq, j->head_hash)))
      goto fail;
    struct journal_record f;
    char detail[160];
    memset(&f, 0, sizeof f);
    f.type = JOURNAL_T_FAULT;
    f.source.kind = JOURNAL_SRC_PANEL;
    int n = verdict == CV_MISSING
              ? snprintf(detail, sizeof detail, "counter store missing; journal head seq %llu accepted",
                         (unsigned long long)j->head_seq)
            : verdict == CV_DAMAGED
              ? snprintf(detail, sizeof detail, "counter store damaged (%s); journal head seq %llu accepted",
                         journal_strerror(crc), (unsigned long long)j->head_seq)
              : snprintf(detail, sizeof detail, "journal head seq %llu behind counter seq %llu accepted",
                         (unsigned long long)j->head_seq, (unsigned long long)cseq);
    f.body.fault.code.ptr = (const uint8_t *)"rollback_accepted";
    f.body.fault.code.len = 17;
    f.body.fault.detail.ptr = (const uint8_t *)detail;
    f.body.fault.detail.len = (uint32_t)(n < (int)sizeof detail ? n : (int)sizeof detail - 1);
    f.body.fault.value = (int64_t)cseq;
    if ((rc = journal_append(j, &f, NULL)) || (rc = journal_sync(j))) goto fail;
    info->rollback_accepted = true;
  }
  *out = j;
  return 0;
fail:
  if (rc == JOURNAL_EROLLBACK) {
    info->head_seq = j->head_seq;
    info->counter_seq = cseq;
  }
  journal_free(j);
  return rc;
}

int journal_open(struct journal **out, const struct journal_options *o, struct journal_open_info *info, int *out_pid)
{
  return do_open(out, o, info, out_pid, false);
}

int journal_close(struct journal *j)
{
  if (!j) return 0;
  int rc = journal_sync(j);
  if (!rc && j->opt.unsafe_no_sync) rc = journal__lmdb_err(mdb_env_sync(j->env, 1));
  if (!rc) rc = set_clean(j, 1, false);
  journal_free(j);
  return rc;
}

static void put_be32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

int journal_create(const struct journal_options *o, const char *config_json, size_t config_len,
                   const char *firmware_version)
{
  char path[4200];
  struct stat st;
  if (sodium_init() < 0) return -EIO;
  if (mkdir(o->dir, 0750) != 0 && errno != EEXIST) return -errno;
  snprintf(path, sizeof path, "%s/journal/data.mdb", o->dir);
  if (stat(path, &st) == 0) return JOURNAL_EEXIST;
  snprintf(path, sizeof path, "%s/journal", o->dir);
  if (mkdir(path, 0750) != 0 && errno != EEXIST) return -errno;
  int rc;
  if (!o->signer) {
    rc = journal_keys_create(o->dir, NULL);
    if (rc && rc != -EEXIST) return rc;
  }
  MDB_env *env;
  if ((rc = journal__lmdb_err(mdb_env_create(&env)))) return rc;
  mdb_env_set_maxdbs(env, 16);
  mdb_env_set_mapsize(env, o->map_size ? o->map_size : (64ull << 20));
  rc = mdb_env_open(env, path, MDB_NOTLS, 0600);
  if (rc) { mdb_env_close(env); return journal__lmdb_err(rc); }
  MDB_txn *txn;
  struct journal_dbs db;
  rc = journal__lmdb_err(mdb_txn_begin(env, NULL, 0, &txn));
  if (!rc) {
    rc = journal__open_dbs(txn, &db, true);
    uint8_t b[4], id[16];
    char idhex[33];
    put_be32(b, JOURNAL_FORMAT_VERSION);
    if (!rc) rc = meta_put(txn, &db, "format", b, 4);
    put_be32(b, 0);
    if (!rc) rc = meta_put(txn, &db, "features_compat", b, 4);
    if (!rc) rc = meta_put(txn, &db, "features_incompat", b, 4);
    randombytes_buf(id, sizeof id);
    journal_hex(id, sizeof id, idhex);
    if (!rc) rc = meta_put(txn, &db, "device_id", idhex, 32);
    if (rc) mdb_txn_abort(txn);
    else rc = journal__lmdb_err(mdb_txn_commit(txn));
  }
  mdb_env_close(env);
  if (rc) return rc;

  struct journal *j;
  struct journal_open_info info;
  if ((rc = do_open(&j, o, &info, NULL, true))) return rc;

  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_BOOT;
  r.source.kind = JOURNAL_SRC_PANEL;
  memcpy(r.body.boot.boot_id, j->opt.boot_id, 16);
  r.body.boot.reset_reason = (struct journal_slice){ (const uint8_t *)"init", 4 };
  r.body.boot.previous_shutdown = JOURNAL_SHUTDOWN_FIRST;
  const char *fw = firmware_version ? firmware_version : "";
  r.body.boot.firmware_version = (struct journal_slice){ (const uint8_t *)fw, (uint32_t)strlen(fw) };
  r.body.boot.rail_status = (struct journal_slice){ (const uint8_t *)"ok", 2 };
  r.body.boot.config_version = 1;
  rc = journal_append(j, &r, NULL);

  if (!rc) {
    memset(&r, 0, sizeof r);
    r.type = JOURNAL_T_CONFIG;
    r.source.kind = JOURNAL_SRC_PANEL;
    const char *cj = config_json ? config_json : "{}";
    size_t cl = config_json ? config_len : 2;
    r.body.config.config_version = 1;
    crypto_generichash(r.body.config.config_hash, 32, (const uint8_t *)cj, cl, NULL, 0);
    r.body.config.json = (struct journal_slice){ (const uint8_t *)cj, (uint32_t)cl };
    rc = journal_append(j, &r, NULL);
  }
  if (!rc) {
    memset(&r, 0, sizeof r);
    r.type = JOURNAL_T_KEY;
    r.source.kind = JOURNAL_SRC_PANEL;
    struct journal_key *k = &r.body.key;
    memcpy(k->pubkey, j->signer->pubkey, 32);
    memcpy(k->key_id, j->signer->key_id, 16);
    k->algorithm = (struct journal_slice){ (const uint8_t *)"ed25519", 7 };
    uint8_t msg[11 + 32 + 16 + 16];
    memcpy(msg, "hems-key-v1", 11);
    memcpy(msg + 11, k->pubkey, 32);
    memcpy(msg + 43, k->key_id, 16);
    memcpy(msg + 59, k->prev_key_id, 16);
    rc = j->signer->sign(j->signer->ctx, msg, sizeof msg, k->cert);
    if (!rc) rc = journal_append(j, &r, NULL);
  }
  int crc = journal_close(j);
  return rc ? rc : crc;
}

/* ------------------------------------------------------------------ readers */

int journal_reader_open(struct journal_reader **out, const char *dir, const char *counter_path, bool allow_rollback)
{
  if (sodium_init() < 0) return -EIO;
  /* The counter first, then the snapshot: the writer updates the counter only after a commit,
   * so a snapshot taken afterwards is never behind what the counter said (a snapshot taken
   * first could be, by every commit the writer made in between: a false rollback). */
  struct journal_file_counter fc;
  uint64_t cseq = 0;
  uint8_t chash[32];
  int crc = 0;
  if (!allow_rollback) {
    journal__file_counter_init_dir(&fc, dir, counter_path);
    crc = fc.ops.read(fc.ops.ctx, &cseq, chash);
  }
  struct journal_reader *r = calloc(1, sizeof *r);
  if (!r) return -ENOMEM;
  r->owns_env = true;
  int rc = env_open(dir, true, 0, &r->env, false);
  if (rc) { free(r); return rc; }
  MDB_txn *txn;
  if ((rc = journal__read_txn(r->env, &txn))) goto fail;
  rc = journal__open_dbs(txn, &r->db, false);
  if (!rc) rc = check_format(txn, &r->db);
  if (!rc && !allow_rollback) {
    uint64_t head;
    uint8_t hh[32];
    int verdict;
    rc = read_head(txn, &r->db, &head, hh);
    if (!rc) rc = counter_check(txn, &r->db, head, hh, crc, cseq, chash, true, &verdict);
    if (!rc && verdict == CV_ROLLBACK) rc = JOURNAL_EROLLBACK;
    if (!rc && verdict == CV_DAMAGED) rc = crc;
  }
  /* Commit, not abort: DBI handles opened in an aborted txn are closed with it. */
  mdb_txn_commit(txn);
  if (rc) goto fail;
  *out = r;
  return 0;
fail:
  mdb_env_close(r->env);
  free(r);
  return rc;
}

/* For the rollback message: head and counter seq without refusing. */
int journal_rollback_info(const char *dir, const char *counter_path, uint64_t *head, uint64_t *cseq)
{
  if (sodium_init() < 0) return -EIO;
  MDB_env *env;
  int rc = env_open(dir, true, 0, &env, false);
  if (rc) return rc;
  MDB_txn *txn;
  struct journal_dbs db;
  uint8_t hh[32], ch[32];
  if ((rc = journal__read_txn(env, &txn)) == 0) {
    rc = journal__open_dbs(txn, &db, false);
    if (!rc) rc = read_head(txn, &db, head, hh);
    mdb_txn_abort(txn);
  }
  mdb_env_close(env);
  if (rc) return rc;
  struct journal_file_counter fc;
  journal__file_counter_init_dir(&fc, dir, counter_path);
  *cseq = 0;
  rc = fc.ops.read(fc.ops.ctx, cseq, ch);
  return rc == -ENOENT ? 0 : rc;
}

void journal_reader_close(struct journal_reader *r)
{
  if (!r) return;
  if (r->owns_env) mdb_env_close(r->env);
  free(r);
}

int journal_reader_bounds(struct journal_reader *r, uint64_t *first, uint64_t *last)
{
  MDB_txn *txn;
  MDB_cursor *c;
  MDB_val k, v;
  *first = *last = 0;
  int rc = journal__read_txn(r->env, &txn);
  if (rc) return rc;
  rc = mdb_cursor_open(txn, r->db.records, &c);
  if (!rc) {
    if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0) *first = journal__rd64(k.mv_data);
    if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0) *last = journal__rd64(k.mv_data);
    mdb_cursor_close(c);
  }
  mdb_txn_abort(txn);
  return journal__lmdb_err(rc);
}

int journal_iter_begin(struct journal_reader *r, uint64_t from_seq, struct journal_iter **out)
{
  struct journal_iter *it = calloc(1, sizeof *it);
  if (!it) return -ENOMEM;
  it->r = r;
  it->from = from_seq;
  int rc = journal__read_txn(r->env, &it->txn);
  if (rc) { free(it); return rc; }
  rc = mdb_cursor_open(it->txn, r->db.records, &it->cur);
  if (rc) { mdb_txn_abort(it->txn); free(it); return journal__lmdb_err(rc); }
  *out = it;
  return 0;
}

int journal_iter_next(struct journal_iter *it, uint64_t *seq, const uint8_t **bytes, size_t *len)
{
  MDB_val k, v;
  int rc;
  if (!it->started) {
    uint8_t kb[8];
    journal__be64(kb, it->from);
    k.mv_size = 8;
    k.mv_data = kb;
    rc = mdb_cursor_get(it->cur, &k, &v, MDB_SET_RANGE);
    it->started = true;
  } else {
    rc = mdb_cursor_get(it->cur, &k, &v, MDB_NEXT);
  }
  if (rc == MDB_NOTFOUND) return 0;
  if (rc) return journal__lmdb_err(rc);
  if (k.mv_size != 8 || v.mv_size > JOURNAL_RECORD_MAX) return JOURNAL_EMDBPAGE;
  *seq = journal__rd64(k.mv_data);
  *bytes = v.mv_data;
  *len = v.mv_size;
  return 1;
}

int journal_iter_get(struct journal_iter *it, uint64_t seq, const uint8_t **bytes, size_t *len)
{
  uint8_t kb[8];
  journal__be64(kb, seq);
  MDB_val k = { 8, kb }, v;
  int rc = mdb_get(it->txn, it->r->db.records, &k, &v);
  if (rc) return journal__lmdb_err(rc);
  if (v.mv_size > JOURNAL_RECORD_MAX) return JOURNAL_EMDBPAGE;
  *bytes = v.mv_data;
  *len = v.mv_size;
  return 0;
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
  mdb_cursor_close(it->cur);
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

int journal_seek_time(struct journal_iter *it, int64_t wall_ns, uint64_t *out_seq)
{
  /* Groups are indexed by their earliest wall time; the group holding the first record at or
   * after wall_ns starts at or before the first index entry >= wall_ns, so step back one. */
  uint8_t tk[8];
  journal__be64(tk, (uint64_t)wall_ns ^ (1ull << 63));
  MDB_cursor *c;
  int rc = mdb_cursor_open(it->txn, it->r->db.times, &c);
  if (rc) return journal__lmdb_err(rc);
  MDB_val k = { 8, tk }, v;
  *out_seq = 0;
  uint64_t next = 0; /* the first group indexed at or after wall_ns, if any */
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  if (rc == 0) { next = journal__rd64(v.mv_data); rc = mdb_cursor_get(c, &k, &v, MDB_PREV); }
  else if (rc == MDB_NOTFOUND) rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
  if (rc == 0) {
    /* The earlier group qualifies only if it reaches wall_ns (its wall max); otherwise the
     * answer is the next group, or none (0) when wall_ns is after every record. */
    uint64_t cand = journal__rd64(v.mv_data);
    uint8_t gk[8];
    journal__be64(gk, cand);
    MDB_val g = { 8, gk }, gv;
    *out_seq = cand;
    if (mdb_get(it->txn, it->r->db.groups, &g, &gv) == 0 && gv.mv_size == GROUP_ENTRY_BYTES &&
        (int64_t)journal__rd64((const uint8_t *)gv.mv_data + 16) < wall_ns)
      *out_seq = next;
  } else if (rc == MDB_NOTFOUND) {
    *out_seq = next;
    rc = 0;
  }
  mdb_cursor_close(c);
  return journal__lmdb_err(rc);
}
