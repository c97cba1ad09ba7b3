/*
 * store.c — opening, creating and closing the LMDB store: the format check, the head, the
 * anti-rollback check (writer and reader), the writer lock. The shared LMDB helpers and the
 * environment's opening are in store_env.c.
 * Appending is in store_writer.c, the writer thread and its commits in store_commit.c,
 * iterators and index queries in store_read.c.
 *
 * Invariants kept here:
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

/* ------------------------------------------------------------------ open / create / close */

/* Head of the journal: last seq and its record hash (0 and zero hash when empty). */
static int read_head(MDB_txn *txn, const struct journal_dbs *db, uint64_t *seq, uint8_t hash[32])
{
  uint64_t first;
  *seq = 0;
  memset(hash, 0, 32);
  int rc = journal__rec_bounds(txn, db, &first, seq);
  if (rc || !*seq) return rc;
  struct pack_cache pc = { 0 };
  const uint8_t *b;
  size_t n;
  rc = journal__rec_get(txn, db, &pc, *seq, &b, &n);
  if (!rc) journal_record_hash(b, n, hash);
  journal__pack_cache_free(&pc);
  return rc;
}

/* writer: the format a writer appends to (0 for a reader). A writer appends to the current format
 * (a format-2 journal is migrated first) unless it asked for format 2 (journal_options.format). */
static int check_format(MDB_txn *txn, const struct journal_dbs *db, unsigned writer)
{
  uint8_t b[8];
  int n = journal__meta_get(txn, db, "format", b, sizeof b);
  if (n != 4) return JOURNAL_ECORRUPT;
  uint32_t v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
  if (v < JOURNAL_FORMAT_MIN_READ || v > JOURNAL_FORMAT_VERSION) return JOURNAL_EVERSION;
  if (writer && v != writer) return v < JOURNAL_FORMAT_VERSION ? JOURNAL_EFORMAT2 : JOURNAL_EVERSION;
  n = journal__meta_get(txn, db, "features_incompat", b, sizeof b);
  if (n == 4) {
    uint32_t f = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    if (f & ~JOURNAL_FEATURES_INCOMPAT_KNOWN) return JOURNAL_EVERSION;
  }
  return 0;
}

static int record_hash_at(MDB_txn *txn, const struct journal_dbs *db, uint64_t seq, uint8_t hash[32])
{
  struct pack_cache pc = { 0 };
  const uint8_t *b;
  size_t n;
  int rc = journal__rec_get(txn, db, &pc, seq, &b, &n);
  if (!rc) journal_record_hash(b, n, hash);
  journal__pack_cache_free(&pc);
  return rc;
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
  if (crc == JOURNAL_ECTRSIG || crc == JOURNAL_ECTRFORMAT || crc == JOURNAL_EHWBEHIND || crc == JOURNAL_EHWAHEAD) {
    *verdict = CV_DAMAGED;
    return 0;
  }
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
  journal__group_free(j->cur);
  while (j->free_list) { struct group *g = j->free_list; j->free_list = g->next; journal__group_free(g); }
  while (j->q_head) { struct group *g = j->q_head; j->q_head = g->next; journal__group_free(g); }
  journal__tree_close(j);
  if (j->env) mdb_env_close(j->env);
  ZSTD_freeCCtx(j->cctx);
  free(j->pk_rec);
  free(j->pk_len);
  free(j->pk_chk);
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
  rc = journal__meta_put(txn, &j->db, "clean_shutdown", &v, 1);
  if (!rc && unclean_pending) rc = journal__meta_put(txn, &j->db, "unclean_pending", &one, 1);
  if (rc) { mdb_txn_abort(txn); return rc; }
  return journal__lmdb_err(mdb_txn_commit(txn));
}

/* The format a writer with these options makes and appends to; 0 for a value not defined. */
static unsigned writer_format(const struct journal_options *o)
{
  return o->format == 0 || o->format == JOURNAL_FORMAT_VERSION ? JOURNAL_FORMAT_VERSION
         : o->format == JOURNAL_FORMAT_MIN_READ                ? JOURNAL_FORMAT_MIN_READ
                                                                : 0;
}

static int do_open(struct journal **out, const struct journal_options *o, struct journal_open_info *info,
                   int *out_pid, bool creating)
{
  struct journal_open_info dummy;
  if (!info) info = &dummy;
  memset(info, 0, sizeof *info);
  if (!writer_format(o)) return -EINVAL;
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
    journal__counter_file_path(cp, sizeof cp, j->dir, o->counter_path);
    journal__file_counter_init(&j->fcounter, cp, j->signer, NULL);
    j->counter = &j->fcounter.ops;
    if ((rc = journal__counter_hw_attach(&j->fcounter, o->counter_path, creating))) goto fail;
  }

  if ((rc = journal__env_open(j->dir, false, o->map_size, &j->env, o->unsafe_no_sync))) goto fail;
  j->fcounter.no_sync = o->unsafe_no_sync;
  MDB_envinfo ei;
  mdb_env_info(j->env, &ei);
  j->map_size = ei.me_mapsize;

  MDB_txn *txn;
  if ((rc = journal__lmdb_err(mdb_txn_begin(j->env, NULL, MDB_RDONLY, &txn)))) goto fail;
  rc = journal__open_dbs(txn, &j->db, false);
  if (!rc) rc = check_format(txn, &j->db, writer_format(o));
  if (!rc) rc = read_head(txn, &j->db, &j->head_seq, j->head_hash);
  if (!rc) {
    int n = journal__meta_get(txn, &j->db, "device_id", j->device_id, 32);
    j->device_id[n == 32 ? 32 : 0] = 0;
  }
  uint8_t clean = 0, pending = 0;
  int had_clean = rc ? -1 : journal__meta_get(txn, &j->db, "clean_shutdown", &clean, 1);
  int had_pending = rc ? -1 : journal__meta_get(txn, &j->db, "unclean_pending", &pending, 1);
  uint64_t cseq = 0;
  uint8_t chash[32];
  int verdict = CV_OK, crc = 0;
  if (!rc && !creating) rc = journal__counter_kind_check(txn, &j->db, &j->fcounter);
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
  info->hw_count = j->fcounter.have_hw ? j->fcounter.hw_file : 0;
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
  if ((rc = journal__tree_open(j))) goto fail;
  if ((rc = journal__counter_hw_open(j, creating, verdict != CV_OK && verdict != CV_REPAIR))) goto fail;
  if (creating) {
    /* The counter exists from before the first commit (seq 0, the empty journal's zero hash),
     * so a missing one is never the normal state; both slots, over any older file there. */
    uint8_t zero[32] = { 0 };
    if ((rc = j->counter->write(j->counter->ctx, 0, zero)) || (rc = j->counter->write(j->counter->ctx, 0, zero)))
      goto fail;
  }
  if (pthread_create(&j->thread, NULL, journal__writer_main, j) != 0) { rc = -EAGAIN; goto fail; }
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
  unsigned format = writer_format(o);
  if (!format) return -EINVAL;
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
  } else {
    /* A token's key: its public half is signing.pub as usual (an older one must be the same) */
    uint8_t had[JOURNAL_PUBKEY_BYTES];
    char pub[4200];
    snprintf(pub, sizeof pub, "%s/keys/signing.pub", o->dir);
    rc = journal_pubkey_create(o->dir, o->signer->pubkey);
    if (rc == -EEXIST && journal_pubkey_load(pub, had) == 0 && !memcmp(had, o->signer->pubkey, sizeof had)) rc = 0;
    if (rc) return rc;
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
    /* meta format first: journal__open_dbs makes the databases of that format */
    uint8_t b[4], id[16];
    char idhex[33];
    put_be32(b, format);
    rc = journal__lmdb_err(mdb_dbi_open(txn, "meta", MDB_CREATE, &db.meta));
    if (!rc) rc = journal__meta_put(txn, &db, "format", b, 4);
    if (!rc) rc = journal__open_dbs(txn, &db, true);
    put_be32(b, 0);
    if (!rc) rc = journal__meta_put(txn, &db, "features_compat", b, 4);
    if (!rc) rc = journal__meta_put(txn, &db, "features_incompat", b, 4);
    randombytes_buf(id, sizeof id);
    journal_hex(id, sizeof id, idhex);
    if (!rc) rc = journal__meta_put(txn, &db, "device_id", idhex, 32);
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
    size_t n = journal_key_cert_msg(k, msg, sizeof msg); /* self-certified: prev_key_id all zero */
    rc = n ? j->signer->sign(j->signer->ctx, msg, n, k->cert) : -EINVAL;
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
  journal__file_counter_init_dir(&fc, dir, counter_path);
  if (!allow_rollback) {
    if ((crc = journal__counter_hw_attach(&fc, counter_path, false))) return crc;
    crc = fc.ops.read(fc.ops.ctx, &cseq, chash);
  }
  struct journal_reader *r = calloc(1, sizeof *r);
  if (!r) return -ENOMEM;
  r->owns_env = true;
  int rc = journal__env_open(dir, true, 0, &r->env, false);
  if (rc) { free(r); journal__file_counter_deinit(&fc); return rc; }
  MDB_txn *txn;
  if ((rc = journal__read_txn(r->env, &txn))) { journal__file_counter_deinit(&fc); goto fail; }
  rc = journal__open_dbs(txn, &r->db, false);
  if (!rc) rc = check_format(txn, &r->db, 0);
  if (!rc && !allow_rollback) rc = journal__counter_kind_check(txn, &r->db, &fc);
  if (!rc && !allow_rollback) {
    uint64_t head;
    uint8_t hh[32];
    int verdict;
    rc = read_head(txn, &r->db, &head, hh);
    /* A head that cannot be rebuilt (its pack damaged) has no hash to hold the counter against:
     * the reader opens, and reading or verifying names the first damaged record. */
    if (rc == JOURNAL_EPACK) { rc = 0; verdict = CV_OK; }
    else if (!rc) rc = counter_check(txn, &r->db, head, hh, crc, cseq, chash, true, &verdict);
    if (!rc && verdict == CV_ROLLBACK) rc = JOURNAL_EROLLBACK;
    if (!rc && verdict == CV_DAMAGED) rc = crc;
  }
  /* Commit, not abort: DBI handles opened in an aborted txn are closed with it. */
  mdb_txn_commit(txn);
  journal__file_counter_deinit(&fc);
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
  int rc = journal__env_open(dir, true, 0, &env, false);
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
  rc = journal__counter_hw_attach(&fc, counter_path, false);
  if (!rc) rc = fc.ops.read(fc.ops.ctx, cseq, ch);
  journal__file_counter_deinit(&fc);
  return rc == -ENOENT ? 0 : rc;
}

void journal_reader_close(struct journal_reader *r)
{
  if (!r) return;
  if (r->owns_env) mdb_env_close(r->env);
  free(r);
}

