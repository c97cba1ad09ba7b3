/*
 * verify_pipe.c — journal_verify_opt: verify's checks (verify.c) on two threads, and the
 * newest-seal mode.
 *
 * Two threads: the reader takes records from the source, copies them into batches and works
 * out what needs no order — each record's chain hash (BLAKE2b) and Merkle leaf (SHA-256), the
 * capture blobs' hashes, the record decoded for the fold (apply_record) when the checker is the
 * slower side (below), and with all_seals each seal's signature (with the key its key id
 * names among the trusted key and the key records read so far; the checker uses the result
 * only when its own trusted key for that id is the same key). The checker takes the batches in
 * order through a bounded ring (PIPE_BATCHES) and runs every check and the fold exactly as one
 * thread does, so the first bad seq and its reason do not depend on the threads.
 *
 * Who decodes for the fold: decoding is the one large piece of work either side can do (it is
 * pure: the record decoded on either thread is the same). The reader decodes a batch when at
 * least half the ring is waiting for the checker (the checker is behind: the reader has time to
 * spare); otherwise it leaves the batch's records undecoded and the checker decodes them as it
 * folds (verify.c fold_apply). So the work moves to whichever thread is idle, and the split
 * does not change any result. reader_decodes_all (the bench's baseline) decodes every batch
 * on the reader, as before the split.
 *
 * Newest-seal mode checks the signature of the newest seal only. When anything fails, the
 * source is rewound and read again with every seal's signature checked, and that result is the
 * answer: the same first bad seq and reason as journal_verify.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "codec_internal.h"
#include "grow_internal.h"
#include "verify_internal.h"

#define PIPE_BATCHES 8
#define WITHHELD_REFUSED "a withheld record (its leaf hash only): journal_verify takes it, not journal_verify_opt"
#define BATCH_RECORDS 512
#define BATCH_BYTES (1u << 20)

struct pbatch {
  unsigned n;
  uint64_t seq[BATCH_RECORDS];
  size_t off[BATCH_RECORDS], len[BATCH_RECORDS];
  struct journal__vpre pre[BATCH_RECORDS];
  struct journal_record *recs; /* BATCH_RECORDS, when the fold takes decoded records */
  uint8_t *arena;
  size_t alen, acap;
  bool end;       /* the source ended after these records: got (0 clean, <0 damage), why */
  int got;
  bool has_why;
  char why[200];
};

struct pipe {
  const struct journal_record_source *src;
  bool all_seals;
  bool decode;    /* decode records for the fold (from seq 1) */
  bool decode_all; /* on the reader whatever the ring holds (the bench's baseline) */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t produced, consumed; /* batches */
  bool stop;
  struct pbatch b[PIPE_BATCHES];
  /* the reader's key table (all_seals): key id -> key */
  uint8_t keys[JOURNAL__VERIFY_MAX_KEYS][32];
  uint8_t key_ids[JOURNAL__VERIFY_MAX_KEYS][16];
  int nkeys;
  double reader_cpu_s; /* the reader's CPU time, when it ends */
};

static double thread_cpu_s(void)
{
  struct timespec ts;
  return clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0 ? (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 : 0;
}

static void reader_key(struct pipe *p, const uint8_t pk[32])
{
  uint8_t id[16];
  journal_key_id(pk, id);
  for (int i = 0; i < p->nkeys; i++)
    if (memcmp(p->key_ids[i], id, 16) == 0) return;
  if (p->nkeys >= JOURNAL__VERIFY_MAX_KEYS) return;
  memcpy(p->keys[p->nkeys], pk, 32);
  memcpy(p->key_ids[p->nkeys], id, 16);
  p->nkeys++;
}

/* What can be checked ahead of order: seal signatures (all_seals), keys for them, blobs. */
static void ahead(struct pipe *p, const uint8_t *bytes, size_t len, struct journal__vpre *pre)
{
  uint64_t inner;
  unsigned type;
  uint8_t prev[32];
  pre->sig = -1;
  pre->blob = -1;
  if (journal_record_peek(bytes, len, &inner, &type, prev)) return;
  if (type == JOURNAL_T_PQ_EVENT || type == JOURNAL_T_TRIP_TAP) {
    pre->blob = (int8_t)journal__vblob_status(p->src, bytes, len);
    return;
  }
  if (!p->all_seals || (type != JOURNAL_T_SEAL && type != JOURNAL_T_KEY)) return;
  struct journal_record r;
  if (journal_record_decode(bytes, len, &r)) return;
  if (type == JOURNAL_T_KEY) {
    uint8_t id[16];
    journal_key_id(r.body.key.pubkey, id);
    if (memcmp(id, r.body.key.key_id, 16) == 0) reader_key(p, r.body.key.pubkey);
    return;
  }
  for (int i = 0; i < p->nkeys; i++)
    if (memcmp(p->key_ids[i], r.body.seal.key_id, 16) == 0) {
      memcpy(pre->sig_pk, p->keys[i], 32);
      pre->sig = journal_seal_verify(&r, p->src->device_id, p->keys[i]) == 0 ? 1 : 0;
      return;
    }
}

static void *reader(void *arg)
{
  struct pipe *p = arg;
  struct journal_merkle_hasher mh;
  bool have_mh = journal_merkle_hasher_init(&mh) == 0, first = true, leaves = false;
  for (bool end = false; !end;) {
    pthread_mutex_lock(&p->mu);
    while (p->produced - p->consumed == PIPE_BATCHES && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
    bool stop = p->stop;
    /* the checker is behind: this batch is decoded here (see the header) */
    bool decode = p->decode && (p->decode_all || p->produced - p->consumed >= PIPE_BATCHES / 2);
    pthread_mutex_unlock(&p->mu);
    if (stop) break;
    struct pbatch *b = &p->b[p->produced % PIPE_BATCHES];
    b->n = 0;
    b->alen = 0;
    b->end = false;
    while (b->n < BATCH_RECORDS && b->alen < BATCH_BYTES) {
      uint64_t seq;
      const uint8_t *bytes;
      size_t len;
      const char *why = NULL;
      int got = p->src->next(p->src->ctx, &seq, &bytes, &len, &why);
      if (got == 2) { got = JOURNAL_EPROOF; why = WITHHELD_REFUSED; }
      if (got > 0) {
        uint8_t *q = journal__grow(b->arena, &b->acap, b->alen + len, 1, BATCH_BYTES + 65536);
        if (!q) { got = -ENOMEM; why = NULL; }
        else b->arena = q;
      }
      if (got <= 0) {
        b->end = end = true;
        b->got = got;
        b->has_why = why != NULL;
        if (why) snprintf(b->why, sizeof b->why, "%s", why);
        break;
      }
      if (first) { leaves = seq == 1 && have_mh; first = false; }
      unsigned i = b->n++;
      memcpy(b->arena + b->alen, bytes, len);
      b->seq[i] = seq;
      b->off[i] = b->alen;
      b->len[i] = len;
      b->alen += len;
      struct journal__vpre *pre = &b->pre[i];
      if (!p->src->last_hash || p->src->last_hash(p->src->ctx, pre->hash) != 0) journal_record_hash(bytes, len, pre->hash);
      pre->has_leaf = leaves;
      if (leaves) {
        journal_merkle_leaf_hash(&mh, bytes, len, pre->leaf);
        if (mh.failed) pre->has_leaf = false; /* the checker hashes it itself */
      }
      ahead(p, bytes, len, pre);
      pre->rec = NULL;
      if (leaves && decode && (b->recs || (b->recs = malloc(BATCH_RECORDS * sizeof *b->recs)))) {
        pre->rec_rc = journal_record_decode_reuse(b->arena + b->off[i], len, &b->recs[i]); /* read by its type */
        pre->rec = &b->recs[i];
      }
    }
    pthread_mutex_lock(&p->mu);
    p->produced++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  if (have_mh) journal_merkle_hasher_deinit(&mh);
  p->reader_cpu_s = thread_cpu_s(); /* read by the checker after pthread_join */
  return NULL;
}

static void progress(const struct journal_verify_opts *o, const struct journal_verify_result *res, uint64_t seq)
{
  if (o->progress && (res->records & 0xffff) == 0) o->progress(o->pctx, seq);
}

static int run_one_thread(struct journal__vstate *v, const struct journal_verify_opts *o)
{
  int rc = 0;
  while (rc == 0) {
    uint64_t seq;
    const uint8_t *bytes;
    size_t len;
    const char *why = NULL;
    int got = v->src->next(v->src->ctx, &seq, &bytes, &len, &why);
    if (got == 2) { got = JOURNAL_EPROOF; why = WITHHELD_REFUSED; }
    if (got <= 0) return journal__vcheck_end(v, got, why);
    rc = journal__vcheck_push(v, seq, bytes, len, NULL);
    if (rc == 1) { journal__vcheck_next_group(v); rc = 0; }
    progress(o, v->res, seq);
  }
  return rc;
}

static int run_two_threads(struct journal__vstate *v, const struct journal_verify_opts *o, bool all_seals)
{
  struct pipe *p = calloc(1, sizeof *p);
  if (!p) return run_one_thread(v, o);
  p->src = v->src;
  p->all_seals = all_seals;
  p->decode = v->fold && v->fold->apply_record;
  p->decode_all = o->reader_decodes_all;
  memcpy(p->keys[0], v->keys[0], 32);
  memcpy(p->key_ids[0], v->key_ids[0], 16);
  p->nkeys = 1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  pthread_t t;
  if (pthread_create(&t, NULL, reader, p) != 0) {
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
    return run_one_thread(v, o);
  }
  int rc = 0;
  for (bool done = false; !done;) {
    pthread_mutex_lock(&p->mu);
    while (p->consumed == p->produced) pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    struct pbatch *b = &p->b[p->consumed % PIPE_BATCHES];
    for (unsigned i = 0; i < b->n && rc == 0; i++) {
      rc = journal__vcheck_push(v, b->seq[i], b->arena + b->off[i], b->len[i], &b->pre[i]);
      if (rc == 1) { journal__vcheck_next_group(v); rc = 0; }
      progress(o, v->res, b->seq[i]);
    }
    if (rc == 0 && b->end) rc = journal__vcheck_end(v, b->got, b->has_why ? b->why : NULL);
    done = rc != 0 || b->end;
    pthread_mutex_lock(&p->mu);
    p->consumed++;
    if (done) p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  pthread_join(t, NULL);
  v->res->thread_cpu_s[1] = p->reader_cpu_s;
  for (int i = 0; i < PIPE_BATCHES; i++) { free(p->b[i].arena); free(p->b[i].recs); }
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p);
  return rc;
}

static int run_pass(const struct journal_record_source *src, const uint8_t trusted_pk[JOURNAL_PUBKEY_BYTES],
                    const uint8_t *expect_prev, const struct journal_verify_opts *o, bool all_seals,
                    struct journal_verify_result *res)
{
  struct journal__vstate v;
  int rc = journal__vcheck_init(&v, src, trusted_pk, expect_prev, res);
  if (rc) return rc;
  v.newest_only = !all_seals;
  v.fold = o->fold;
  double cpu0 = thread_cpu_s();
  rc = o->threads >= 2 ? run_two_threads(&v, o, all_seals) : run_one_thread(&v, o);
  res->thread_cpu_s[0] = thread_cpu_s() - cpu0;
  journal__vcheck_free(&v);
  return rc;
}

int journal_verify_opt(const struct journal_record_source *src, const uint8_t trusted_pk[JOURNAL_PUBKEY_BYTES],
                       const uint8_t *expect_prev, const struct journal_verify_opts *o,
                       struct journal_verify_result *res)
{
  static const struct journal_verify_opts none;
  if (!o) o = &none;
  bool all = o->all_seals || !o->rewind;
  int rc = run_pass(src, trusted_pk, expect_prev, o, all, res);
  if (rc == 0 || all) return rc;
  /* newest-seal mode failed somewhere: read again checking every seal, for the exact answer */
  int wrc = o->rewind(o->rewind_ctx);
  if (wrc) {
    memset(res, 0, sizeof *res);
    snprintf(res->reason, sizeof res->reason, "cannot read the source again: %s", journal_strerror(wrc));
    return wrc;
  }
  return run_pass(src, trusted_pk, expect_prev, o, true, res);
}
