/*
 * store_internal.h — private to journal/: the writer, reader and group structures shared by
 * store.c, store_writer.c, store_commit.c, store_read.c, verify.c, bundle.c and retention.c.
 */
#ifndef HEMS_JOURNAL_STORE_INTERNAL_H
#define HEMS_JOURNAL_STORE_INTERNAL_H

#include <pthread.h>
#include <lmdb.h>
#include "journal.h"
#include "pack_internal.h"

struct journal_dbs;

struct journal_file_counter {
  struct journal_counter_ops ops;
  char path[4200];
  int fd;
  int next_slot;
  bool no_sync;  /* benchmarks only (journal_options.unsafe_no_sync) */
  const struct journal_signer *signer;     /* signs written slots; NULL for a reader */
  uint8_t pubkey[JOURNAL_PUBKEY_BYTES];    /* checks read slots */
  uint8_t key_id[JOURNAL_KEYID_BYTES];
  bool have_pubkey;
  /* bound to a hardware counter (counter_hw.c): format 3 slots carry its count */
  bool have_hw;
  struct journal_hwcount hw;
  uint64_t hw_file;        /* the count the file holds (read) or the writer writes next */
  uint64_t hw_seen;        /* the hardware's count at the last read */
  uint64_t last_seq;       /* the newest (seq, hash) read or written: what a bump rewrites */
  uint8_t last_hash[JOURNAL_HASH_BYTES];
  pthread_mutex_t mu;      /* the writer thread's writes vs the appending thread's bumps */
};
/* A counter file at path, written (signed) with signer, or only read and checked with pubkey
 * (the signer's own public key when signer is set; NULL: no key, a present counter reads as
 * JOURNAL_ECTRKEY). The signer is borrowed for the counter's lifetime. */
void journal__file_counter_init(struct journal_file_counter *c, const char *path, const struct journal_signer *signer,
                                const uint8_t *pubkey);
/* A reader's view: counter_path or DIR/counter, checked with DIR/keys/signing.pub. */
void journal__file_counter_init_dir(struct journal_file_counter *c, const char *dir, const char *counter_path);
void journal__file_counter_deinit(struct journal_file_counter *c);
/* fsync of a directory: a new or renamed name in it is durable only after it (retention.c). */
int journal__sync_dir(const char *path);
/* counter_hw.c: binds c to the hardware counter counter_path names (journal_counter_is_hw) —
 * opened through the registered opener, define on create — and checks meta counter_kind
 * (txn may be NULL: not checked). 0 when counter_path names no hardware. */
int journal__counter_hw_attach(struct journal_file_counter *c, const char *counter_path, bool define);
/* JOURNAL_ECTRKIND unless meta counter_kind matches c (absent = a file counter). */
int journal__counter_kind_check(MDB_txn *txn, const struct journal_dbs *db, const struct journal_file_counter *c);
/* The counter file's path for counter_path (a file, or DIR/counter for a hardware counter). */
void journal__counter_file_path(char *out, size_t cap, const char *dir, const char *counter_path);
/* The hardware counter when a writer opens (counter_hw.c): on create the first increment and
 * meta counter_kind; a cut bump completed; accepted (--accept-rollback): the hardware's count.
 * 0 without a hardware counter. */
struct journal;
int journal__counter_hw_open(struct journal *j, bool creating, bool accepted);
int journal__counter_write_locked(struct journal_file_counter *c, uint64_t seq, const uint8_t hash[JOURNAL_HASH_BYTES]);

/* lock.c — the one-writer rule (docs/journal.md "Writer lock"). Takes flock on DIR itself and on
 * DIR/lock (opened without following links, never truncated before both are held), then
 * writes the pid into DIR/lock. JOURNAL_EINUSE with *out_pid (0 if unknown) when another
 * process holds either; JOURNAL_ELOCKFILE when DIR/lock is a link or not a plain file. */
struct journal_lock { int dir_fd, file_fd; };
int journal__lock_take(const char *dir, struct journal_lock *out, int *out_pid);
void journal__lock_release(struct journal_lock *l);

/* envcheck.c — checks DIR/journal/data.mdb against its own LMDB meta pages before LMDB maps it
 * (magic, version, page size, root pages within the last page and within the file, map size).
 * 0, JOURNAL_ENOJOURNAL, or JOURNAL_EMDBSHORT / JOURNAL_EMDBMETA. */
int journal__env_check(const char *data_path);
/* Largest value a named database may hold (bounds every length read from the store). */
#define JOURNAL_VALUE_MAX (64u << 20)

/* Named databases of DIR/journal (docs/journal.md). */
struct journal_dbs {
  MDB_dbi records;  /* format 2: u64 BE seq -> record bytes (empty in format 3) */
  MDB_dbi packs;    /* format 3: u64 BE first seq -> pack (pack_internal.h) */
  uint32_t format;  /* meta format: 2 or 3 */
  MDB_dbi groups;   /* u64 BE first seq -> struct group_entry (BE) */
  MDB_dbi index;    /* DUPSORT|DUPFIXED: kind(1)+value(u32 BE) -> u64 BE group first seq */
  MDB_dbi times;    /* DUPSORT|DUPFIXED: wall ns (u64 BE, offset by 2^63) -> u64 BE group first seq */
  MDB_dbi blobs;    /* 32-byte content hash -> zstd frame */
  MDB_dbi meta;     /* text key -> value */
  MDB_dbi checkpoints; /* u64 BE seq -> checkpoint bytes (replay) */
  MDB_dbi blocks;   /* u64 BE first seq of an index block -> u64 BE its last seq so far */
  MDB_dbi tiles;    /* level(1) | tile index (u64 BE) -> 32 × width hashes (tree_store.c) */
  bool tiles_ok;    /* `tiles` exists (journals written before the tree lack it until a writer opens) */
};

#define JOURNAL_FORMAT_VERSION 3u /* 2: index blocks (named db `blocks`); 3: packs */
#define JOURNAL_FORMAT_MIN_READ 2u /* readers still read format 2 (`records`); writers refuse it */
/* Format feature flags (meta "features_compat" / "features_incompat", u32 BE). An opener
 * refuses a journal with an incompatible feature it does not know. */
#define JOURNAL_FEATURES_INCOMPAT_KNOWN 0u
#define JOURNAL_FEATURES_COMPAT_KNOWN 0u

#define GROUP_ENTRY_BYTES 32 /* last seq, wall min, wall max, mono first: u64 BE each */

struct index_key { uint8_t kind; uint32_t value; };

#define GROUP_KEYSET 16384 /* at most 8192 distinct index keys per group */

/* Index blocks (flash wear): an index entry names the block of commit groups holding a match,
 * written once per key per block, instead of once per key per group. A block closes after
 * INDEX_BLOCK_GROUPS groups or INDEX_BLOCK_RECORDS records. */
#define INDEX_BLOCK_GROUPS 64
#define INDEX_BLOCK_RECORDS 4096
struct index_block {
  uint64_t first;            /* first seq of the block; 0 = none open */
  uint32_t groups, records;
  uint32_t nkeys, committed; /* keys indexed in this block; the first `committed` are durable */
  struct index_key keys[GROUP_KEYSET / 2];
  uint32_t set[GROUP_KEYSET];/* open addressing over keys: index + 1 */
};

/* A commit group being built by the appending thread, then committed by the writer thread. */
struct group {
  uint8_t *bytes;      /* concatenated record bytes */
  size_t len, cap;
  uint32_t *offs;      /* record i spans offs[i]..offs[i+1] */
  uint32_t n, ncap;
  uint64_t first_seq;
  int64_t wall_min, wall_max;
  uint64_t mono_first;
  struct index_key *keys; /* distinct index keys of the group */
  uint32_t nkeys, kcap;
  uint32_t keyset[GROUP_KEYSET]; /* open addressing over keys: index + 1, 0 = empty */
  uint8_t *blobs;      /* (hash 32 | u32 len | zstd bytes)* */
  size_t blen, bcap;
  uint8_t *ckpts;      /* (u64 seq | u32 len | bytes)* */
  size_t clen, ccap;
  uint8_t *tiles;      /* (level | u64 index | u16 width | hashes)*: Merkle tiles to store */
  size_t tlen, tcap;
  uint8_t last_hash[JOURNAL_HASH_BYTES];
  uint8_t *checks;     /* PACK_CHECK_BYTES per record: the first bytes of its hash */
  size_t chcap;
  bool critical;       /* holds a critical record: committed without delay */
  bool boot_seen;      /* holds a boot record: its commit clears meta unclean_pending */
  uint64_t mono_last;  /* record time of its last record */
  struct group *next;
};

#define JOURNAL_QUEUE_MAX 64

struct journal {
  char dir[4096];
  MDB_env *env;
  struct journal_dbs db;
  struct journal_lock lock;
  struct journal_options opt;
  struct journal_file_counter fcounter;
  const struct journal_counter_ops *counter;
  struct journal_file_signer fsigner;
  const struct journal_signer *signer;
  char device_id[33];  /* meta device_id ("" if none): the origin of v 3 seals' checkpoints */
  struct journal_tree *tree; /* the Merkle tree (tree_store.c), appending thread */

  /* appending thread */
  uint64_t head_seq;
  uint8_t head_hash[JOURNAL_HASH_BYTES];
  struct group *cur;
  uint8_t scratch[JOURNAL_RECORD_MAX];
  uint64_t seal_hw_count; /* the next seal's hw_count (journal_counter_bump), then 0 */

  int sign_failed;     /* the signer refused a seal: appends fail; sealed groups still commit */
  /* shared with the writer thread, under mu */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct group *q_head, *q_tail, *free_list;
  int q_len;
  uint64_t durable_seq;
  int failed;
  bool stop;
  bool urgent;         /* someone waits for durability: commit what is queued now */
  pthread_t thread;
  bool thread_started;
  uint64_t map_size;
  struct journal_stats stats;
  /* writer thread only: the open index block */
  struct index_block blk, blk_saved;
  /* writer thread only: data.mdb's size after the last commit (cache_trim, store_commit.c) */
  uint64_t cached_end;
  /* writer thread only: the durable head before the next commit */
  uint64_t base_seq;
  uint8_t base_hash[JOURNAL_HASH_BYTES];
  /* writer thread only: pack compression */
  ZSTD_CCtx *cctx;
  const uint8_t **pk_rec;
  size_t *pk_len;
  uint8_t *pk_chk;
  size_t pk_cap, pk_chcap;
};

struct journal_reader {
  MDB_env *env;
  struct journal_dbs db;
  bool owns_env;
};

/* A cursor over the records of a txn, either format: format 2 walks `records`, format 3 walks
 * `packs` through a pack cache. next: 1 with a record, 0 at the end, <0 damage with *seq the
 * first seq that cannot be served. */
struct journal_rcur {
  MDB_txn *txn;
  const struct journal_dbs *db;
  MDB_cursor *c;
  struct pack_cache *pc;
  int mode;
  uint64_t from, next;
  bool started, at_end;
};
int journal__rcur_open(struct journal_rcur *rc, MDB_txn *txn, const struct journal_dbs *db, struct pack_cache *pc,
                       int mode, uint64_t from);
int journal__rcur_next(struct journal_rcur *rc, uint64_t *seq, const uint8_t **bytes, size_t *len);
void journal__rcur_close(struct journal_rcur *rc);
/* retention_blobs.c: deletes (in txn) the blobs that only records first..cut name. */
int journal__prune_blobs(MDB_txn *txn, const struct journal_dbs *db, uint64_t first, uint64_t cut);
/* The chain hash of the record the last next() served, when its pack was decoded checked (every
 * record hashed to rebuild the next one's prev): 0 and out, else -1 (the caller hashes). */
int journal__rcur_last_hash(const struct journal_rcur *rc, uint8_t out[JOURNAL_HASH_BYTES]);
/* One record by seq (format 3: decodes its pack into pc once). */
int journal__rec_get(MDB_txn *txn, const struct journal_dbs *db, struct pack_cache *pc, uint64_t seq,
                     const uint8_t **bytes, size_t *len);
/* First and last seq held (0, 0 when empty), without decoding records. */
int journal__rec_bounds(MDB_txn *txn, const struct journal_dbs *db, uint64_t *first, uint64_t *last);
/* The pack holding seq: its first seq and record count (format 3). */
int journal__pack_of(MDB_txn *txn, const struct journal_dbs *db, uint64_t seq, uint64_t *first, uint32_t *n);

/* Starts the iterator again from from_seq (bundle export), PACK_CHECKED or PACK_FAST. */
struct journal_iter;
int journal__iter_restart(struct journal_iter *it, uint64_t from_seq, int mode);
/* journal__rcur_last_hash of the iterator's cursor. */
int journal__iter_last_hash(const struct journal_iter *it, uint8_t out[JOURNAL_HASH_BYTES]);

struct journal_iter {
  struct journal_reader *r;
  MDB_txn *txn;
  struct journal_rcur rc;
  struct pack_cache pc;
  uint8_t *blob_scratch;
};

void journal__be64(uint8_t *p, uint64_t v);
/* Files group first_seq..(its seal) in the times table (store_commit.c); an LMDB code. */
int journal__times_put(MDB_txn *txn, MDB_dbi times, uint64_t first_seq, int64_t wall_max);
uint64_t journal__rd64(const uint8_t *p);
int journal__lmdb_err(int rc);
/* Opens DIR/journal after envcheck.c has checked data.mdb (store.c). */
int journal__env_open(const char *dir, bool rdonly, uint64_t map_size, MDB_env **out, bool no_sync);
/* Begins a read txn, handling MDB_MAP_RESIZED. */
int journal__read_txn(MDB_env *env, MDB_txn **out);
int journal__open_dbs(MDB_txn *txn, struct journal_dbs *db, bool create);
/* Reads meta key into buf; returns its length or <0. */
int journal__meta_get(MDB_txn *txn, const struct journal_dbs *db, const char *key, void *buf, size_t cap);
int journal__meta_put(MDB_txn *txn, const struct journal_dbs *db, const char *key, const void *val, size_t n);
/* store_commit.c: the writer thread (started by store.c's open). */
void *journal__writer_main(void *arg);
/* store_writer.c: freeing a group, the clock used when the options name none; for
 * store_commit.c the growable-buffer step (-ENOMEM when out of memory, *p unchanged) and the
 * index-key hash of the group and index-block key sets. */
void journal__group_free(struct group *g);
void journal__real_clock(void *ctx, uint64_t *mono, int64_t *wall, uint8_t *tq);
int journal__store_grow(void **p, size_t *cap, size_t need, size_t elem);
uint32_t journal__key_hash(struct index_key k);
/* Adds key (kind, value) to out[0..n) unless present (and room is left); returns the new n. */
int journal__index_add_key(struct index_key *out, int n, int cap, uint8_t kind, uint32_t value);
/* Index keys a record contributes (type, source, branches named in the body). */
int journal__record_index_keys(const uint8_t *buf, size_t len, struct index_key *out, int cap);
/* The same keys from a decoded record r (rec, len: its bytes, scanned only for a raw body). */
struct journal_record;
int journal__struct_index_keys(const struct journal_record *r, const uint8_t *rec, size_t len, struct index_key *out,
                               int cap);

/* tree_store.c — the Merkle tree the writer keeps. open: restore (or rebuild) after the head is
 * read; leaf: each record as it joins the current group; seal: the root of `size` leaves (the
 * group's records), partial tiles queued in the current group; put: the group's tiles, in the
 * transaction that commits it (returns an LMDB code, adds to *bytes). */
struct journal_tree;
int journal__tree_open(struct journal *j);
void journal__tree_close(struct journal *j);
int journal__tree_leaf(struct journal *j, const uint8_t *rec, size_t len);
int journal__tree_seal(struct journal *j, uint64_t size, uint8_t root[JOURNAL_HASH_BYTES]);
int journal__tree_put(struct journal *j, MDB_txn *txn, const struct group *g, uint64_t *bytes);

#endif
