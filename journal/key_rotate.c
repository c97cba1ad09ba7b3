/*
 * key_rotate.c — key rotation and revocation on an open writer (journal.h). A rotation is a
 * `key` record for the next key, certified by the key in force and sealed by it; from the next
 * group on the writer seals with the next key and the counter file is signed by it. Verify
 * (verify.c) holds every seal to the key in force, so a retired key's seals after its
 * rotation, and a revoked key's after its revocation, are refused.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include "store_internal.h"

#define REASON_MAX 200

size_t journal_key_cert_msg(const struct journal_key *k, uint8_t *msg, size_t cap)
{
  const char *tag = k->revoked ? "hems-key-revoke-v1" : "hems-key-v1";
  size_t tl = strlen(tag), rl = k->revoked ? k->reason.len : 0;
  size_t n = tl + 32 + 16 + 16 + rl;
  if (n > cap || (rl && !k->reason.ptr)) return 0;
  memcpy(msg, tag, tl);
  memcpy(msg + tl, k->pubkey, 32);
  memcpy(msg + tl + 32, k->key_id, 16);
  memcpy(msg + tl + 48, k->prev_key_id, 16);
  if (rl) memcpy(msg + tl + 64, k->reason.ptr, rl);
  return n;
}

static int append_key(struct journal *j, struct journal_record *r)
{
  uint8_t msg[11 + 32 + 16 + 16 + 18 + REASON_MAX];
  size_t n = journal_key_cert_msg(&r->body.key, msg, sizeof msg);
  if (!n) return -EINVAL;
  int rc = j->signer->sign(j->signer->ctx, msg, n, r->body.key.cert);
  if (!rc) rc = journal_append(j, r, NULL);
  if (!rc) rc = journal_sync(j);
  return rc;
}

static void key_record(struct journal_record *r, const uint8_t pubkey[32], const uint8_t prev_id[16])
{
  memset(r, 0, sizeof *r);
  r->type = JOURNAL_T_KEY;
  r->source.kind = JOURNAL_SRC_OPERATOR;
  memcpy(r->body.key.pubkey, pubkey, 32);
  journal_key_id(pubkey, r->body.key.key_id);
  memcpy(r->body.key.prev_key_id, prev_id, 16);
  r->body.key.algorithm = (struct journal_slice){ (const uint8_t *)"ed25519", 7 };
}

int journal_key_rotate(struct journal *j, const struct journal_signer *next)
{
  if (!next || !next->sign) return -EINVAL;
  if (memcmp(next->key_id, j->signer->key_id, 16) == 0) return -EINVAL; /* the key in force already */
  struct journal_record r;
  key_record(&r, next->pubkey, j->signer->key_id);
  int rc = append_key(j, &r); /* durable, sealed by the key in force */
  if (rc) return rc;
  /* The writer thread is idle after the sync: nothing is queued until the next append. */
  pthread_mutex_lock(&j->mu);
  j->signer = next;
  j->fcounter.signer = next;
  memcpy(j->fcounter.pubkey, next->pubkey, 32);
  memcpy(j->fcounter.key_id, next->key_id, 16);
  pthread_mutex_unlock(&j->mu);
  /* both counter slots signed by the next key (the head is unchanged) */
  if ((rc = j->counter->write(j->counter->ctx, j->head_seq, j->head_hash)) ||
      (rc = j->counter->write(j->counter->ctx, j->head_seq, j->head_hash)))
    return rc;
  if (j->fcounter.have_hw) {
    uint64_t count;
    rc = journal_counter_bump(j, &count);
  }
  return rc;
}

int journal_key_revoke(struct journal *j, const uint8_t pubkey[JOURNAL_PUBKEY_BYTES], const char *reason)
{
  size_t rl = reason ? strlen(reason) : 0;
  if (rl == 0 || rl > REASON_MAX) return -EINVAL;
  struct journal_record r;
  key_record(&r, pubkey, j->signer->key_id);
  if (memcmp(r.body.key.key_id, j->signer->key_id, 16) == 0) return -EINVAL; /* rotate first */
  r.body.key.revoked = true;
  r.body.key.reason = (struct journal_slice){ (const uint8_t *)reason, (uint32_t)rl };
  return append_key(j, &r);
}
