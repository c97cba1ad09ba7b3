/*
 * checkpoint_auth.c — a replay checkpoint is a cache in the data dir, so it is used only when a
 * signed seal vouches for it.
 *
 * A checkpoint at seq C (state folded through C) is authenticated by the first seal M > C that
 * carries a state hash and is by the trusted key (a seal at M signs the state after M − 1):
 *   1. every record C+1..M is chained: each record's prev is the hash of the one before it
 *      (record C's own hash is checked too when retention has not removed it);
 *   2. the seal names sealed_seq = M − 1 and head_hash = hash(record M − 1), carries the trusted
 *      key's id, and its Ed25519 signature verifies with the trusted public key;
 *   3. if record M + 1 exists, its prev is hash(record M): the seal is the one the rest of the
 *      journal is chained to, not one swapped in from elsewhere;
 *   4. the checkpoint's state folded through C+1..M−1 hashes to the seal's state_hash.
 * By 4 the state after M − 1 is the one the key signed, whatever the checkpoint held, and by
 * 1–3 the records folded to get there are the signed ones. The harness takes its checkpoints
 * while a seal is being built (C = M − 1), so 4 is one hash compare; retention's checkpoint at a
 * cut folds the first kept group once. What is not checked here: records after M + 1 (they are
 * folded as they are, as a fold from seq 1 would; `hems verify` proves them).
 * Key rotation: a seal by another key (the key in force before a rotation, whose seals follow a
 * checkpoint taken before it) is chained like any record and folded past, not trusted: its
 * state hash was computed by whoever wrote it, and a writer seals over whatever sits at the
 * head, so neither a key record certifying the trusted key nor a later seal by it makes that
 * hash one the trusted key computed. The fold goes on to the trusted key's first seal with a
 * state hash (within AUTH_FOLD_MAX records), which signs the state it folded itself; `hems key
 * rotate` makes one right after the rotation (cli/cmd_key_rotate.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "replay.h"

/* Records folded forward from a checkpoint to find its seal, at most. */
#define AUTH_FOLD_MAX 100000u

static int refuse(char *why, size_t cap, int rc, const char *fmt, unsigned long long a)
{
  if (why && cap) snprintf(why, cap, fmt, a);
  return rc;
}

int replay_checkpoint_authenticate(struct journal_iter *it, const uint8_t trusted_pk[JOURNAL_PUBKEY_BYTES],
                                   uint64_t cseq, const struct replay_state *s, uint64_t *barren, char *why,
                                   size_t why_cap)
{
  if (!trusted_pk) return refuse(why, why_cap, JOURNAL_EBADSIG, "no trusted public key to check its seal%.0llu", 0);
  uint8_t key_id[JOURNAL_KEYID_BYTES];
  journal_key_id(trusted_pk, key_id);
  struct replay_state *st = malloc(sizeof *st);
  struct journal_record *rec = malloc(sizeof *rec);
  struct replay_effects *fx = malloc(sizeof *fx);
  int rc = 0;
  if (!st || !rec || !fx) { rc = -ENOMEM; goto out; }
  memcpy(st, s, sizeof *st);
  const uint8_t *b;
  size_t len;
  uint8_t prev_hash[JOURNAL_HASH_BYTES];
  bool have_prev = journal_iter_get(it, cseq, &b, &len) == 0;
  if (have_prev) journal_record_hash(b, len, prev_hash);
  for (uint64_t q = cseq + 1;; q++) {
    if (q - cseq > AUTH_FOLD_MAX) {
      rc = refuse(why, why_cap, JOURNAL_ENOTFOUND, "no seal by the trusted key with a state hash within %llu records after it", AUTH_FOLD_MAX);
      break;
    }
    if (journal_iter_get(it, q, &b, &len) != 0) {
      rc = refuse(why, why_cap, JOURNAL_ENOTFOUND, "no seal by the trusted key with a state hash follows it (journal ends at seq %llu)", q - 1);
      break;
    }
    if (barren && *barren && q > *barren) {
      /* a walk from a newer checkpoint found none past here, and went at least as far */
      rc = refuse(why, why_cap, JOURNAL_ENOTFOUND, "no seal by the trusted key with a state hash follows it (none after seq %llu)", *barren);
      break;
    }
    if (journal_record_decode(b, len, rec) != 0 || rec->seq != q) {
      rc = refuse(why, why_cap, JOURNAL_ECORRUPT, "record %llu after it does not decode", q);
      goto out;
    }
    if (have_prev && memcmp(rec->prev, prev_hash, JOURNAL_HASH_BYTES) != 0) {
      rc = refuse(why, why_cap, JOURNAL_EBADCHAIN, "hash chain broken at seq %llu", q);
      goto out;
    }
    bool seal = rec->type == JOURNAL_T_SEAL;
    const struct journal_seal *sl = &rec->body.seal;
    uint8_t zero[JOURNAL_HASH_BYTES] = { 0 };
    if (seal && memcmp(sl->state_hash, zero, sizeof zero) != 0 && memcmp(sl->key_id, key_id, sizeof key_id) == 0) {
      /* the seal that vouches for the state after q - 1 */
      if (sl->sealed_seq + 1 != q || !have_prev || memcmp(sl->head_hash, prev_hash, JOURNAL_HASH_BYTES) != 0) {
        rc = refuse(why, why_cap, JOURNAL_EBADCHAIN, "seal at seq %llu does not seal the records before it", q);
        goto out;
      }
      char device_id[33];
      if (journal_iter_device_id(it, device_id) != 0) device_id[0] = 0; /* v 3 seals then fail */
      if (journal_seal_verify(rec, device_id, trusted_pk) != 0) {
        rc = refuse(why, why_cap, JOURNAL_EBADSIG, "seal signature at seq %llu does not verify", q);
        goto out;
      }
      uint8_t seal_hash[JOURNAL_HASH_BYTES], h[JOURNAL_HASH_BYTES];
      journal_record_hash(b, len, seal_hash);
      const uint8_t *nb;
      size_t nlen;
      uint64_t nseq;
      unsigned ntype;
      uint8_t nprev[JOURNAL_HASH_BYTES];
      if (journal_iter_get(it, q + 1, &nb, &nlen) == 0 &&
          (journal_record_peek(nb, nlen, &nseq, &ntype, nprev) != 0 || memcmp(nprev, seal_hash, sizeof nprev) != 0)) {
        rc = refuse(why, why_cap, JOURNAL_EBADCHAIN, "record %llu is not chained to the seal before it", q + 1);
        goto out;
      }
      replay_state_hash(st, h);
      if (memcmp(h, sl->state_hash, sizeof h) != 0)
        rc = refuse(why, why_cap, JOURNAL_ECORRUPT, "its state differs from the one the seal at seq %llu signed", q);
      goto out;
    }
    replay_apply(st, rec, fx);
    journal_record_hash(b, len, prev_hash);
    have_prev = true;
  }
  if (barren) *barren = cseq;
out:
  free(st);
  free(rec);
  free(fx);
  return rc;
}
