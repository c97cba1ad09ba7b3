/*
 * verify.c — chain, order, seal and key verification over any record source (a data dir or a
 * bundle), needing only a trusted public key.
 *
 * Records are checked group by group. Within a group the link hashes are only trusted once
 * the group's seal verifies; then the group is walked backwards from the signed head hash, so
 * the record whose bytes changed (not merely its successor) is named as the first bad seq.
 * Gaps, reorders and swaps are caught by comparing each record's own seq with its position.
 * A source with signed framing (a bundle) names the key that signed it; that key must be the
 * trusted one or certified from it, by the end of the source at the latest.
 *
 * The checks run record by record (vcheck_push); journal_verify drains a source through them,
 * and the checked source (journal_checked_*) keeps each group's bytes until its seal verifies
 * and only then hands the group on, so readers of a bundle never see an unproven record.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "codec_internal.h"
#include "grow_internal.h"
#include "store_internal.h"
#include "verify_internal.h"

#define MAX_KEYS JOURNAL__VERIFY_MAX_KEYS
#define GROUP_RECORDS_MAX (1u << 20)
#define GROUP_BYTES_MAX (64u << 20)

#define fail journal__vfail
#define link journal__vlink
#define vstate journal__vstate

int journal__vfail(struct vstate *v, uint64_t seq, int code, const char *fmt, unsigned long long a)
{
  v->res->bad_seq = seq;
  snprintf(v->res->reason, sizeof v->res->reason, fmt, a);
  return code;
}

/* The group in v->grp ends with a seal at v->grp[n-1] that has verified; find the first
 * record of the group whose bytes are not what was sealed. */
static int check_group_links(struct vstate *v, const uint8_t head_hash[32])
{
  const uint8_t *expect = head_hash; /* NULL: after a withheld record, not known */
  for (size_t i = v->n - 1; i-- > 0;) {
    if (v->grp[i].withheld) { expect = NULL; continue; }
    if (expect && memcmp(v->grp[i].hash, expect, 32) != 0)
      return fail(v, v->grp[i].seq, JOURNAL_EBADCHAIN, "record hash does not match the sealed chain%.0llu", 0);
    expect = v->grp[i].prev;
  }
  if (v->n == 1) expect = v->grp[0].prev;
  if (expect && memcmp(expect, v->anchor, 32) != 0) {
    if (v->anchor_seq) return fail(v, v->anchor_seq, JOURNAL_EBADCHAIN, "record hash does not match its successor's prev%.0llu", 0);
    return fail(v, v->grp[0].seq, JOURNAL_EBADCHAIN, "prev hash does not match the expected start of the chain%.0llu", 0);
  }
  return 0;
}

/* The tree holds leaves 0 .. seq-2 (every record before the seal): its root must be the one the
 * seal signed. A seal without a root (written before the tree) is not compared. */
static int check_tree_root(struct vstate *v, const struct journal_record *r)
{
  static const uint8_t zero[32];
  if (v->group_withheld && (!v->tree || memcmp(r->body.seal.tree_root, zero, 32) == 0))
    return fail(v, r->seq, JOURNAL_EPROOF, "seal without a tree root over a withheld record%.0llu", 0);
  if (!v->tree || memcmp(r->body.seal.tree_root, zero, 32) == 0) return 0;
  uint8_t root[32];
  if (v->tree->size != r->body.seal.sealed_seq || journal_merkle_appender_root(v->tree, root) != 0)
    return -EIO;
  if (memcmp(root, r->body.seal.tree_root, 32) != 0)
    return fail(v, r->seq, JOURNAL_EPROOF, "seal tree_root is not the Merkle root of the records before it%.0llu", 0);
  return 0;
}

/* The fold holds the state after every record before the seal: its hash must be the one the
 * seal carries (an all-zero state hash, a seal written without a fold, is not compared). */
static int check_state_hash(struct vstate *v, const struct journal_record *r)
{
  static const uint8_t zero[32];
  if (!v->fold_on) return 0;
  if (v->fold_bad_seq) return fail(v, v->fold_bad_seq, JOURNAL_ECORRUPT, "record does not decode%.0llu", 0);
  if (memcmp(r->body.seal.state_hash, zero, 32) == 0) return 0;
  uint8_t h[32];
  v->fold->state_hash(v->fold->ctx, h);
  if (memcmp(h, r->body.seal.state_hash, 32) != 0)
    return fail(v, r->seq, JOURNAL_EBADCHAIN, "seal state_hash is not the hash of the state folded from the records before it%.0llu", 0);
  return 0;
}

static int fold_apply(struct vstate *v, uint64_t seq, const uint8_t *bytes, size_t len, const struct journal__vpre *pre)
{
  /* a record the fold cannot take is reported at its group's seal, after the chain checks
   * (which name a changed record as such) */
  if (!v->fold_on || v->fold_bad_seq) return 0;
  int rc;
  if (v->fold->apply_record) {
    struct journal_record tmp;
    const struct journal_record *r = &tmp;
    if (pre && pre->rec) { rc = pre->rec_rc; r = pre->rec; }
    else rc = journal_record_decode_reuse(bytes, len, &tmp); /* read by its type */
    if (!rc) rc = v->fold->apply_record(v->fold->ctx, r);
  } else {
    rc = v->fold->apply(v->fold->ctx, bytes, len);
  }
  if (rc) v->fold_bad_seq = seq;
  return 0;
}

static int on_seal(struct vstate *v, const uint8_t *bytes, size_t len, const struct journal__vpre *pre)
{
  struct journal_record r;
  struct link *me = &v->grp[v->n - 1];
  int rc = journal_record_decode(bytes, len, &r);
  if (rc) return fail(v, me->seq, JOURNAL_ECORRUPT, "seal does not decode%.0llu", 0);
  const struct journal_seal *s = &r.body.seal;
  if (s->sealed_seq + 1 != r.seq) return fail(v, r.seq, JOURNAL_EBADCHAIN, "seal names sealed_seq %llu", (unsigned long long)s->sealed_seq);
  if (s->group_records != v->n - 1) return fail(v, r.seq, JOURNAL_EBADCHAIN, "seal covers %llu records but the group holds a different number", s->group_records);
  const uint8_t *pk = journal__vkey_find(v, s->key_id);
  if (!pk) return fail(v, r.seq, JOURNAL_EBADSIG, "seal signed by an untrusted key%.0llu", 0);
  if ((rc = journal__vkey_check_seal(v, r.seq, s->key_id))) return rc;
  if (v->newest_only) {
    /* checked at the end if this stays the newest seal */
    uint8_t *q = journal__grow(v->last_seal, &v->last_seal_cap, len, 1, 4096);
    if (!q) return -ENOMEM;
    v->last_seal = q;
    memcpy(q, bytes, len);
    v->last_seal_len = len;
  } else {
    bool ok = pre && pre->sig >= 0 && memcmp(pre->sig_pk, pk, 32) == 0 ? pre->sig == 1
                                                                         : journal_seal_verify(&r, v->src->device_id, pk) == 0;
    if (!ok) return fail(v, r.seq, JOURNAL_EBADSIG, "seal signature invalid%.0llu", 0);
  }
  if (memcmp(r.prev, s->head_hash, 32) != 0)
    return fail(v, r.seq, JOURNAL_EBADCHAIN, "seal prev differs from its signed head hash%.0llu", 0);
  if ((rc = check_group_links(v, s->head_hash))) return rc;
  if ((rc = check_tree_root(v, &r))) return rc;
  if ((rc = check_state_hash(v, &r))) return rc;
  /* Group proven: everything up to this seal is intact. */
  journal__vkey_group_proven(v, r.seq);
  v->res->seals++;
  v->res->last_sealed_seq = r.seq;
  memcpy(v->anchor, me->hash, 32);
  v->anchor_seq = r.seq;
  v->n = 0;
  v->group_withheld = false;
  return 0;
}

int journal__vblob_status(const struct journal_record_source *src, const uint8_t *bytes, size_t len)
{
  const uint8_t *hash;
  if (!src->get_blob || !journal__record_capture(bytes, len, &hash)) return 0;
  uint8_t *data = NULL;
  size_t dl = 0;
  int rc = src->get_blob(src->ctx, hash, &data, &dl);
  if (rc) { free(data); return 1; }
  uint8_t h[32];
  crypto_generichash(h, 32, data, dl, NULL, 0);
  free(data);
  return memcmp(h, hash, 32) != 0 ? 2 : 0;
}

static int check_blobs(struct vstate *v, const struct journal_record_source *src, uint64_t seq,
                       const uint8_t *bytes, size_t len, const struct journal__vpre *pre)
{
  int st = pre && pre->blob >= 0 ? pre->blob : journal__vblob_status(src, bytes, len);
  if (st == 1) return fail(v, seq, JOURNAL_ECORRUPT, "capture blob missing or damaged%.0llu", 0);
  if (st == 2) return fail(v, seq, JOURNAL_ECORRUPT, "capture blob hash mismatch%.0llu", 0);
  return 0;
}

static void check_signer(struct vstate *v)
{
  if (v->signer_trusted) return;
  uint8_t id[16];
  journal_key_id(v->src->signer_pk, id);
  v->signer_trusted = journal__vkey_find(v, id) != NULL;
}

int journal__vcheck_init(struct vstate *v, const struct journal_record_source *src, const uint8_t trusted_pk[32],
                       const uint8_t *expect_prev, struct journal_verify_result *res)
{
  memset(v, 0, sizeof *v);
  memset(res, 0, sizeof *res);
  v->res = res;
  v->src = src;
  if (sodium_init() < 0) return -EIO;
  journal__vkey_trust(v, trusted_pk);
  if (src->trusted_in_force) {
    memcpy(v->in_force, v->key_ids[0], sizeof v->in_force);
    v->have_in_force = true;
  }
  if (expect_prev) memcpy(v->anchor, expect_prev, 32);
  v->anchor_from_record = !expect_prev; /* decided at the first record */
  v->signer_trusted = !src->signer_pk;
  check_signer(v);
  return 0;
}

static int keep(struct vstate *v, struct link *l, const uint8_t *bytes, size_t len)
{
  if (!v->keep_bytes) return 0;
  if (len > GROUP_BYTES_MAX - v->alen) return fail(v, l->seq, JOURNAL_ECORRUPT, "group too large (no seal within %llu bytes)", GROUP_BYTES_MAX);
  uint8_t *q = journal__grow(v->arena, &v->acap, v->alen + len, 1, 65536);
  if (!q) return -ENOMEM;
  v->arena = q;
  memcpy(v->arena + v->alen, bytes, len);
  l->off = v->alen;
  l->len = len;
  v->alen += len;
  return 0;
}

static int tree_leaf(struct vstate *v, const uint8_t *bytes, size_t len, const struct journal__vpre *pre)
{
  if (!v->tree) return 0;
  uint8_t leaf[32];
  if (pre && pre->has_leaf) memcpy(leaf, pre->leaf, 32);
  else journal_merkle_leaf_hash(&v->mh, bytes, len, leaf);
  return journal_merkle_append(v->tree, leaf) ? -EIO : 0;
}

void journal__vcheck_free(struct vstate *v)
{
  free(v->grp);
  free(v->arena);
  if (v->tree) journal_merkle_hasher_deinit(&v->mh);
  free(v->tree);
  free(v->last_seal);
  v->last_seal = NULL;
  v->grp = NULL;
  v->arena = NULL;
  v->tree = NULL;
}

/* The first record at seq, then every record: in order (0) or the gap (<0). */
static int start_and_order(struct vstate *v, uint64_t seq)
{
  if (v->expect_seq == 0) {
    v->expect_seq = seq;
    v->first_seq = seq;
    v->res->first_seq = seq;
    if (v->anchor_from_record && seq == 1) v->anchor_from_record = false; /* all-zero anchor */
    const struct journal_merkle_appender *from = v->src->tree_from;
    if (seq == 1 || (from && from->size == seq - 1)) {
      /* from the first record the tree can be recomputed (after a cut it cannot unless the
       * source gives the tree before it: the tree's left part is not in the source; the seals'
       * roots are then covered by their signatures) */
      v->tree = malloc(sizeof *v->tree);
      if (!v->tree || journal_merkle_hasher_init(&v->mh) != 0) { free(v->tree); v->tree = NULL; return -ENOMEM; }
      journal_merkle_appender_init(v->tree, &v->mh, NULL, NULL);
      if (seq > 1) {
        v->tree->size = from->size;
        memcpy(v->tree->edge, from->edge, sizeof v->tree->edge);
      }
      if (v->fold && seq == 1) { v->fold->reset(v->fold->ctx); v->fold_on = true; }
    }
  }
  if (seq != v->expect_seq)
    return seq > v->expect_seq ? fail(v, v->expect_seq, JOURNAL_EGAP, "record missing (next present is seq %llu)", (unsigned long long)seq)
                               : fail(v, seq, JOURNAL_EGAP, "out of order after seq %llu", (unsigned long long)(v->expect_seq - 1));
  return 0;
}

/* One more link in the current group (NULL: -ENOMEM or the group is too large, v->res filled). */
static struct link *group_add(struct vstate *v, uint64_t seq, int *rc)
{
  if (v->n >= GROUP_RECORDS_MAX) {
    *rc = fail(v, seq, JOURNAL_ECORRUPT, "group too large (no seal within %llu records)", GROUP_RECORDS_MAX);
    return NULL;
  }
  struct link *g = journal__grow(v->grp, &v->cap, v->n + 1, sizeof *g, 1024);
  if (!g) { *rc = -ENOMEM; return NULL; }
  v->grp = g;
  struct link *l = &v->grp[v->n++];
  l->seq = seq;
  l->withheld = false;
  return l;
}

int journal__vcheck_withheld(struct vstate *v, uint64_t seq, const uint8_t leaf[32])
{
  int rc = start_and_order(v, seq);
  if (rc) return rc;
  if (!v->tree || v->keep_bytes || (seq == v->first_seq && v->anchor_from_record))
    return fail(v, seq, JOURNAL_EPROOF, "withheld record (its leaf hash only) where no recomputed tree covers it%.0llu", 0);
  struct link *l = group_add(v, seq, &rc);
  if (!l) return rc;
  l->withheld = true;
  v->group_withheld = true;
  v->fold_on = false; /* the state after it cannot be folded */
  v->res->records++;
  v->res->last_seq = seq;
  v->expect_seq = seq + 1;
  return journal_merkle_append(v->tree, leaf) ? -EIO : 0;
}

/* One record: 0 taken, 1 taken and it completed a proven group (v->grp[0..n) until the next
 * push), <0 bad (v->res filled). */
int journal__vcheck_push(struct vstate *v, uint64_t seq, const uint8_t *bytes, size_t len,
                         const struct journal__vpre *pre)
{
  struct journal_verify_result *res = v->res;
  uint64_t inner;
  unsigned type;
  uint8_t prev[32];
  int rc = start_and_order(v, seq);
  if (rc) return rc;
  int prc = journal_record_peek(bytes, len, &inner, &type, prev);
  if (prc) return fail(v, seq, prc == JOURNAL_EVERSION ? JOURNAL_EVERSION : JOURNAL_ECORRUPT,
                       prc == JOURNAL_EVERSION ? "unsupported schema version%.0llu" : "record does not decode%.0llu", 0);
  if (inner != seq) return fail(v, seq, JOURNAL_EGAP, "record at this position holds seq %llu", (unsigned long long)inner);
  if (seq == v->first_seq) {
    memcpy(v->first_prev, prev, 32);
    if (v->anchor_from_record) memcpy(v->anchor, prev, 32);
  }
  struct link *l = group_add(v, seq, &rc);
  if (!l) return rc;
  memcpy(l->prev, prev, 32);
  if (pre) memcpy(l->hash, pre->hash, 32);
  else journal_record_hash(bytes, len, l->hash);
  if ((rc = keep(v, l, bytes, len))) return rc;
  res->records++;
  res->last_seq = seq;
  v->expect_seq = seq + 1;
  if (type == JOURNAL_T_SEAL) {
    size_t n = v->n;
    if ((rc = on_seal(v, bytes, len, pre))) return rc;
    v->n = n; /* on_seal emptied the group; the caller takes it, then vcheck_next_group resets */
    if ((rc = tree_leaf(v, bytes, len, pre))) return rc;
    if ((rc = fold_apply(v, seq, bytes, len, pre))) return rc;
    return 1;
  }
  if ((rc = tree_leaf(v, bytes, len, pre))) return rc;
  if (type == JOURNAL_T_KEY || type == JOURNAL_T_RETENTION) {
    struct journal_record r;
    if (journal_record_decode(bytes, len, &r)) return fail(v, seq, JOURNAL_ECORRUPT, "record does not decode%.0llu", 0);
    if (type == JOURNAL_T_KEY) {
      if ((rc = journal__vkey_record(v, seq, &r.body.key))) return rc;
      check_signer(v);
    }
    if (type == JOURNAL_T_RETENTION && v->anchor_from_record && r.body.retention.cut_seq + 1 == v->first_seq) {
      /* The cut this journal starts from is attested here (and sealed with this group). */
      if (memcmp(r.body.retention.cut_hash, v->first_prev, 32) != 0)
        return fail(v, v->first_seq, JOURNAL_EBADCHAIN, "first record does not continue the retention cut%.0llu", 0);
      v->anchor_from_record = false;
    }
  } else if (type == JOURNAL_T_PQ_EVENT || type == JOURNAL_T_TRIP_TAP) { /* the types that name blobs */
    if ((rc = check_blobs(v, v->src, seq, bytes, len, pre))) return rc;
  }
  return fold_apply(v, seq, bytes, len, pre);
}

void journal__vcheck_next_group(struct vstate *v)
{
  v->n = 0;
  v->alen = 0;
}

/* The source's reason for stopping (<0) or its clean end (0). */
int journal__vcheck_end(struct vstate *v, int got, const char *why)
{
  struct journal_verify_result *res = v->res;
  if (got < 0) {
    if (got == JOURNAL_ETRUNC) {
      res->truncated = true;
      snprintf(res->reason, sizeof res->reason, "%s", why ? why : "truncated");
    } else {
      res->bad_seq = v->expect_seq ? v->expect_seq : 1;
      snprintf(res->reason, sizeof res->reason, "%s", why ? why : journal_strerror(got));
    }
    return got;
  }
  if (v->newest_only && v->last_seal_len) {
    /* the newest seal's signature: with the chain and the tree it authenticates every record */
    struct journal_record r;
    if (journal_record_decode(v->last_seal, v->last_seal_len, &r)) return -EIO;
    const uint8_t *pk = journal__vkey_find(v, r.body.seal.key_id);
    if (!pk || journal_seal_verify(&r, v->src->device_id, pk) != 0)
      return fail(v, r.seq, JOURNAL_EBADSIG, "seal signature invalid%.0llu", 0);
  }
  if (v->n > 0)
    return fail(v, v->grp[0].seq, JOURNAL_EUNSEALED, "records from here on are not covered by a seal%.0llu", 0);
  /* A start after seq 1 with no anchor given is only legitimate as a retention cut that a
   * later retention record attests; otherwise the records before it were removed. */
  if (v->anchor_from_record && v->first_seq > 1)
    return fail(v, 1, JOURNAL_EGAP, "records 1..%llu missing (no retention record attests a cut)",
                (unsigned long long)(v->first_seq - 1));
  if (v->src->signer_pk) {
    uint8_t sid[16];
    journal_key_id(v->src->signer_pk, sid);
    int si = journal__vkey_index(v, sid);
    if (si >= 0 && v->key_revoked[si]) {
      char fp[33];
      journal_fingerprint_hex(v->src->signer_pk, fp);
      res->bad_seq = 0;
      snprintf(res->reason, sizeof res->reason, "bundle header and end frame are signed by key %s, revoked at seq %llu", fp,
               (unsigned long long)v->key_revoked[si]);
      return JOURNAL_EBADSIG;
    }
  }
  if (!v->signer_trusted) {
    char fp[33];
    journal_fingerprint_hex(v->src->signer_pk, fp);
    res->bad_seq = 0;
    snprintf(res->reason, sizeof res->reason, "bundle header and end frame are signed by key %s, which the trusted key does not certify", fp);
    return JOURNAL_EBADSIG;
  }
  if (res->records == 0) snprintf(res->reason, sizeof res->reason, "no records");
  const uint8_t *in_force = v->have_in_force ? journal__vkey_find(v, v->in_force) : NULL;
  if (in_force && memcmp(in_force, v->keys[0], 32)) { /* keys[0]: the trusted key the source started with */
    res->key_rotated = true;
    memcpy(res->key_in_force, in_force, 32);
  }
  return 0;
}

int journal_verify(const struct journal_record_source *src, const uint8_t trusted_pk[JOURNAL_PUBKEY_BYTES],
                   const uint8_t *expect_prev, struct journal_verify_result *res,
                   journal_progress_cb progress, void *pctx)
{
  struct vstate v;
  int rc = journal__vcheck_init(&v, src, trusted_pk, expect_prev, res);
  while (rc == 0) {
    uint64_t seq;
    const uint8_t *bytes;
    size_t len;
    const char *why = NULL;
    int got = src->next(src->ctx, &seq, &bytes, &len, &why);
    if (got <= 0) { rc = journal__vcheck_end(&v, got, why); break; }
    if (got == 2 && len != JOURNAL_HASH_BYTES) { rc = journal__vcheck_end(&v, JOURNAL_ECORRUPT, "a withheld record's leaf hash is not 32 bytes"); break; }
    rc = got == 2 ? journal__vcheck_withheld(&v, seq, bytes) : journal__vcheck_push(&v, seq, bytes, len, NULL);
    if (rc == 1) { journal__vcheck_next_group(&v); rc = 0; }
    if (progress && (res->records & 0xffff) == 0) progress(pctx, seq);
  }
  journal__vcheck_free(&v);
  return rc;
}

/* ------------------------------------------------------------------ checked source */

struct journal_checked {
  struct vstate v;
  struct journal_verify_result res;
  struct journal_record_source src;
  size_t next_out;  /* index in v.grp of the next proven record to hand on */
  size_t ready;     /* records of the proven group (0: none) */
  int failed;       /* the first error, returned again on every later call */
  char why[200];
};

static int checked_fail(struct journal_checked *c, int rc, const char **why)
{
  if (!c->failed) {
    if (c->res.bad_seq) snprintf(c->why, sizeof c->why, "first bad seq %llu: %s", (unsigned long long)c->res.bad_seq, c->res.reason);
    else snprintf(c->why, sizeof c->why, "%s", c->res.reason);
    c->failed = rc;
  }
  *why = c->why;
  return c->failed;
}

static int checked_next(void *ctx, uint64_t *seq, const uint8_t **bytes, size_t *len, const char **why)
{
  struct journal_checked *c = ctx;
  if (c->failed) return checked_fail(c, c->failed, why);
  for (;;) {
    if (c->next_out < c->ready) {
      struct link *l = &c->v.grp[c->next_out++];
      *seq = l->seq;
      *bytes = c->v.arena + l->off;
      *len = l->len;
      return 1;
    }
    if (c->ready) { journal__vcheck_next_group(&c->v); c->ready = 0; c->next_out = 0; }
    const struct journal_record_source *in = c->v.src;
    uint64_t s;
    const uint8_t *b;
    size_t n;
    const char *w = NULL;
    int got = in->next(in->ctx, &s, &b, &n, &w);
    if (got == 2) { got = JOURNAL_EPROOF; w = "a withheld record (its leaf hash only): nothing to hand on"; }
    int rc = got <= 0 ? journal__vcheck_end(&c->v, got, w) : journal__vcheck_push(&c->v, s, b, n, NULL);
    if (rc < 0) return checked_fail(c, rc, why);
    if (got == 0) return 0;
    if (rc == 1) c->ready = c->v.n;
  }
}

static int checked_blob(void *ctx, const uint8_t hash[32], uint8_t **data, size_t *len)
{
  struct journal_checked *c = ctx;
  const struct journal_record_source *in = c->v.src;
  return in->get_blob ? in->get_blob(in->ctx, hash, data, len) : JOURNAL_ENOTFOUND;
}

int journal_checked_open(struct journal_checked **out, const struct journal_record_source *inner,
                         const uint8_t trusted_pk[JOURNAL_PUBKEY_BYTES], const uint8_t *expect_prev)
{
  struct journal_checked *c = calloc(1, sizeof *c);
  if (!c) return -ENOMEM;
  int rc = journal__vcheck_init(&c->v, inner, trusted_pk, expect_prev, &c->res);
  if (rc) { free(c); return rc; }
  c->v.keep_bytes = true;
  c->src.next = checked_next;
  c->src.get_blob = checked_blob;
  c->src.ctx = c;
  c->src.device_id = inner->device_id;
  *out = c;
  return 0;
}

struct journal_record_source *journal_checked_source(struct journal_checked *c) { return &c->src; }
const struct journal_verify_result *journal_checked_result(const struct journal_checked *c) { return &c->res; }

void journal_checked_close(struct journal_checked *c)
{
  if (!c) return;
  journal__vcheck_free(&c->v);
  free(c);
}

/* ------------------------------------------------------------------ dir source */

static int dir_next(void *ctx, uint64_t *seq, const uint8_t **bytes, size_t *len, const char **why)
{
  struct journal_dir_source *ds = ctx;
  int rc = journal_iter_next(ds->it, seq, bytes, len);
  if (rc < 0) *why = journal_strerror(rc);
  return rc;
}

static int dir_last_hash(void *ctx, uint8_t out[JOURNAL_HASH_BYTES])
{
  struct journal_dir_source *ds = ctx;
  return journal__iter_last_hash(ds->it, out);
}

static int dir_blob(void *ctx, const uint8_t hash[32], uint8_t **data, size_t *len)
{
  struct journal_dir_source *ds = ctx;
  return journal_iter_get_blob(ds->it, hash, data, len);
}

int journal_dir_source_init(struct journal_dir_source *ds, struct journal_reader *r, uint64_t from_seq)
{
  memset(ds, 0, sizeof *ds);
  int rc = journal_iter_begin(r, from_seq, &ds->it);
  if (rc) return rc;
  ds->src.next = dir_next;
  ds->src.get_blob = dir_blob;
  ds->src.last_hash = dir_last_hash;
  ds->src.ctx = ds;
  ds->reader = r;
  ds->from_seq = from_seq;
  if (journal_reader_device_id(r, ds->device_id) == 0) ds->src.device_id = ds->device_id;
  return 0;
}

int journal_dir_source_init_fast(struct journal_dir_source *ds, struct journal_reader *r, uint64_t from_seq)
{
  int rc = journal_dir_source_init(ds, r, from_seq);
  if (!rc) rc = journal__iter_restart(ds->it, from_seq, PACK_FAST);
  if (rc) journal_dir_source_deinit(ds);
  return rc;
}

int journal_dir_source_rewind(void *ctx)
{
  struct journal_dir_source *ds = ctx;
  struct journal_iter *it;
  int rc = journal_iter_begin(ds->reader, ds->from_seq, &it);
  if (rc) return rc;
  journal_iter_end(ds->it);
  ds->it = it;
  return 0;
}

void journal_dir_source_deinit(struct journal_dir_source *ds)
{
  journal_iter_end(ds->it);
  ds->it = NULL;
}
