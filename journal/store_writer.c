/*
 * store_writer.c — appending: the journal clock, commit groups, seals, blobs and checkpoints
 * handed to the writer thread (store_commit.c).
 *
 * Invariants kept here:
 * - seq is gapless from 1; a record is stamped with the next seq and the previous head hash.
 * - Every group ends with a seal; a group is handed to the writer thread only sealed.
 * - Group boundaries are a pure function of the record stream and the journal clock: a
 *   critical record, JOURNAL_GROUP_RECORDS_MAX records, or a record >= span after the group's
 *   first record ends it; journal_flush() ends it explicitly.
 * - Index keys are collected per group: one entry per distinct key in the group, so indexing
 *   costs O(distinct keys), not O(records).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include <zstd.h>
#include "codec_internal.h"
#include "store_internal.h"
#include "timequality_internal.h"

void journal__real_clock(void *ctx, uint64_t *mono, int64_t *wall, uint8_t *tq)
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
  g->tlen = 0;
  g->critical = false;
  g->boot_seen = false;
  g->mono_last = 0;
  g->next = NULL;
  g->first_seq = 0;
  return g;
}

void journal__group_free(struct group *g)
{
  if (!g) return;
  free(g->bytes);
  free(g->offs);
  free(g->keys);
  free(g->blobs);
  free(g->ckpts);
  free(g->tiles);
  free(g->checks);
  free(g);
}

int journal__store_grow(void **p, size_t *cap, size_t need, size_t elem)
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

uint32_t journal__key_hash(struct index_key k) { return (k.value * 2654435761u) ^ (uint32_t)k.kind * 40503u; }

static int group_add(struct group *g, const struct journal_record *r, const uint8_t *rec, size_t len)
{
  uint64_t seq = r->seq, mono = r->mono_ns;
  int64_t wall = r->wall_ns;
  size_t ncap = g->ncap;
  if (journal__store_grow((void **)&g->bytes, &g->cap, g->len + len, 1) ||
      journal__store_grow((void **)&g->offs, &ncap, (size_t)g->n + 2, sizeof(uint32_t)))
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
  int nk = journal__struct_index_keys(r, rec, len, ks, 64);
  for (int i = 0; i < nk; i++) {
    /* Distinct keys of the group through a small open-addressing set of key indexes + 1. */
    uint32_t h = journal__key_hash(ks[i]) & (GROUP_KEYSET - 1);
    for (;;) {
      uint32_t slot = g->keyset[h];
      if (slot == 0) break;
      if (g->keys[slot - 1].kind == ks[i].kind && g->keys[slot - 1].value == ks[i].value) break;
      h = (h + 1) & (GROUP_KEYSET - 1);
    }
    if (g->keyset[h]) continue;
    if (g->nkeys >= GROUP_KEYSET / 2) return JOURNAL_ETOOBIG;
    size_t kc = g->kcap;
    if (journal__store_grow((void **)&g->keys, &kc, (size_t)g->nkeys + 1, sizeof *g->keys)) return -ENOMEM;
    g->kcap = (uint32_t)kc;
    g->keys[g->nkeys++] = ks[i];
    g->keyset[h] = g->nkeys;
  }
  return 0;
}

/* ------------------------------------------------------------------ appending */

static void stamp(struct journal *j, struct journal_record *r)
{
  if (j->opt.clock.now) j->opt.clock.now(j->opt.clock.ctx, &r->mono_ns, &r->wall_ns, &r->time_quality);
  else journal__real_clock(NULL, &r->mono_ns, &r->wall_ns, &r->time_quality);
  memcpy(r->boot_id, j->opt.boot_id, JOURNAL_BOOTID_BYTES);
  /* Format 3 writes schema v 3 records (integer keys, typed arrays); the one place it is set.
   * A writer opens only format-3 journals unless it asked for format 2, which writes v 1. */
  r->version = j->db.format >= 3 ? JOURNAL_SCHEMA_V3 : JOURNAL_SCHEMA_VERSION;
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
  struct group *g = j->cur;
  if (journal__store_grow((void **)&g->checks, &g->chcap, ((size_t)g->n + 1) * PACK_CHECK_BYTES, 1)) return -ENOMEM;
  if ((rc = group_add(g, r, j->scratch, len))) return rc;
  journal__tree_leaf(j, j->scratch, len);
  journal_record_hash(j->scratch, len, j->head_hash);
  memcpy(g->checks + (size_t)(g->n - 1) * PACK_CHECK_BYTES, j->head_hash, PACK_CHECK_BYTES);
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
  /* a hardware counter bumped since the last seal: its count is signed here (format 3 only) */
  if (j->db.format >= 3) b->hw_count = j->seal_hw_count;
  int rc = journal__tree_seal(j, b->sealed_seq, b->tree_root);
  if (!rc && (rc = journal_seal_sign(&s, j->device_id, j->signer)) != 0) {
    /* The signer refused (a token removed, a wrong answer): every later append fails with it;
     * the open group is never sealed, the groups sealed before it still commit (their seals are
     * good) — then the counter write, which signs too, may fail the writer thread as well. */
    j->sign_failed = rc;
  }
  if (rc) return rc;
  if ((rc = add_record(j, &s))) return rc;
  j->seal_hw_count = 0;
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
  return rc ? rc : j->sign_failed;
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
  if (journal__store_grow((void **)&g->blobs, &g->bcap, g->blen + 36 + bound, 1)) return -ENOMEM;
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
  if (journal__store_grow((void **)&g->ckpts, &g->ccap, g->clen + 12 + len, 1)) return -ENOMEM;
  uint32_t l32 = (uint32_t)len;
  memcpy(g->ckpts + g->clen, &seq, 8);
  memcpy(g->ckpts + g->clen + 8, &l32, 4);
  memcpy(g->ckpts + g->clen + 12, data, len);
  g->clen += 12 + len;
  return 0;
}
