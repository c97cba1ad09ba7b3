/*
 * verify_keys.c — the key chain verify follows (verify.c): the trusted keys, the key in force
 * (the pinned first key, then each rotation's key from the group after its record), retired and
 * revoked keys. A seal must be signed by the key in force; a key record or revocation must be
 * certified by it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>
#include "verify_internal.h"

#define MAX_KEYS JOURNAL__VERIFY_MAX_KEYS
#define vstate journal__vstate
#define fail journal__vfail

int journal__vkey_trust(struct vstate *v, const uint8_t pk[32])
{
  uint8_t id[16];
  journal_key_id(pk, id);
  for (int i = 0; i < v->nkeys; i++)
    if (memcmp(v->key_ids[i], id, 16) == 0) return 0;
  if (v->nkeys >= MAX_KEYS) return -ENOSPC;
  memcpy(v->keys[v->nkeys], pk, 32);
  memcpy(v->key_ids[v->nkeys], id, 16);
  v->nkeys++;
  return 0;
}

const uint8_t *journal__vkey_find(struct vstate *v, const uint8_t id[16])
{
  for (int i = 0; i < v->nkeys; i++)
    if (memcmp(v->key_ids[i], id, 16) == 0) return v->keys[i];
  return NULL;
}

int journal__vkey_index(struct vstate *v, const uint8_t id[16])
{
  for (int i = 0; i < v->nkeys; i++)
    if (memcmp(v->key_ids[i], id, 16) == 0) return i;
  return -1;
}

/* A revocation: certified by the key in force (prev_key_id), it ends key_id's acceptance. */
static int on_revoke(struct vstate *v, uint64_t seq, const struct journal_key *k)
{
  uint8_t msg[11 + 32 + 16 + 16 + 18 + 256];
  const uint8_t *pk = journal__vkey_find(v, k->prev_key_id);
  if (!pk) return fail(v, seq, JOURNAL_EBADSIG, "key revocation by an untrusted key%.0llu", 0);
  if (v->have_in_force && memcmp(k->prev_key_id, v->in_force, 16) != 0)
    return fail(v, seq, JOURNAL_EBADSIG, "key revocation signed by a key that is not the key in force%.0llu", 0);
  size_t n = journal_key_cert_msg(k, msg, sizeof msg);
  if (!n || crypto_sign_verify_detached(k->cert, msg, n, pk) != 0)
    return fail(v, seq, JOURNAL_EBADSIG, "key revocation certificate invalid%.0llu", 0);
  int i = journal__vkey_index(v, k->key_id);
  if (i >= 0 && !v->key_revoked[i]) v->key_revoked[i] = seq;
  return 0;
}

int journal__vkey_record(struct vstate *v, uint64_t seq, const struct journal_key *k)
{
  uint8_t id[16], msg[11 + 32 + 16 + 16];
  journal_key_id(k->pubkey, id);
  if (memcmp(id, k->key_id, 16) != 0) return fail(v, seq, JOURNAL_EBADSIG, "key record: key_id does not match pubkey%.0llu", 0);
  if (k->revoked) return on_revoke(v, seq, k);
  journal_key_cert_msg(k, msg, sizeof msg);
  static const uint8_t zero[16];
  const uint8_t *signer_pk;
  if (memcmp(k->prev_key_id, zero, 16) == 0) {
    /* Self-certified first key: acceptable only if it is already trusted. */
    if (!journal__vkey_find(v, k->key_id)) return 0; /* not ours to trust; seals will tell */
    signer_pk = k->pubkey;
  } else {
    signer_pk = journal__vkey_find(v, k->prev_key_id);
    if (!signer_pk) return fail(v, seq, JOURNAL_EBADSIG, "key record certified by an untrusted key%.0llu", 0);
    if (v->have_in_force && memcmp(k->prev_key_id, v->in_force, 16) != 0)
      return fail(v, seq, JOURNAL_EBADSIG, "key record certified by a key that is not the key in force%.0llu", 0);
    int pi = journal__vkey_index(v, k->prev_key_id);
    if (pi >= 0 && v->key_revoked[pi]) return fail(v, seq, JOURNAL_EBADSIG, "key record certified by a revoked key%.0llu", 0);
  }
  if (crypto_sign_verify_detached(k->cert, msg, sizeof msg, signer_pk) != 0)
    return fail(v, seq, JOURNAL_EBADSIG, "key record certificate invalid%.0llu", 0);
  if (journal__vkey_trust(v, k->pubkey) != 0) return fail(v, seq, JOURNAL_EBADSIG, "too many keys%.0llu", 0);
  if (memcmp(k->prev_key_id, zero, 16) == 0) {
    if (!v->have_in_force) { memcpy(v->in_force, k->key_id, 16); v->have_in_force = true; }
  } else {
    memcpy(v->pending, k->key_id, 16); /* in force once this group's seal (by the old key) verifies */
    v->have_pending = true;
  }
  return 0;
}

/* A seal's key must be the key in force (once the source has shown which that is). */
int journal__vkey_check_seal(struct vstate *v, uint64_t seq, const uint8_t key_id[16])
{
  int i = journal__vkey_index(v, key_id);
  if (i >= 0 && v->key_revoked[i])
    return fail(v, seq, JOURNAL_EBADSIG, "seal signed by a key revoked at seq %llu", (unsigned long long)v->key_revoked[i]);
  if (!v->have_in_force || memcmp(key_id, v->in_force, 16) == 0) return 0;
  if (i >= 0 && v->key_ended[i])
    return fail(v, seq, JOURNAL_EBADSIG, "seal signed by a key retired at seq %llu (rotated)", (unsigned long long)v->key_ended[i]);
  return fail(v, seq, JOURNAL_EBADSIG, "seal not signed by the key in force%.0llu", 0);
}

/* After a seal proved its group: a rotation in it takes effect. */
void journal__vkey_group_proven(struct vstate *v, uint64_t seal_seq)
{
  if (!v->have_pending) return;
  int i = v->have_in_force ? journal__vkey_index(v, v->in_force) : -1;
  if (i >= 0 && !v->key_ended[i]) v->key_ended[i] = seal_seq;
  memcpy(v->in_force, v->pending, 16);
  v->have_in_force = true;
  v->have_pending = false;
}

