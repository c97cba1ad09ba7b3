/*
 * verify_fold.c — the reducer as journal_verify's fold: verify compares every seal's state hash
 * with the state folded from seq 1 (decode + replay_apply, as replay_fold does).
 *
 * The state hash is replay_state_hash's: BLAKE2b-256 of the canonical serialisation. Verify
 * takes it at every seal (a daemon seals every second: every ~30 records of a full panel, a
 * ~15 kB serialisation each time), so here the serialisation is hashed with the journal's own
 * BLAKE2b (journal/blake2b.c, the record hash's), measured twice as fast on x86 as the AVX2
 * one libsodium selects; the bytes hashed and the hash are the same.
 */
#include <string.h>
#include "blake2b_internal.h"
#include "replay.h"

#define VF_SER_MAX 65536 /* larger serialisations take replay_state_hash itself */

static void vf_reset(void *ctx) { replay_state_init(ctx); }

static int vf_apply(void *ctx, const uint8_t *bytes, size_t len)
{
  struct journal_record r;
  struct replay_effects fx;
  int rc = journal_record_decode_reuse(bytes, len, &r);
  if (rc) return rc;
  replay_apply(ctx, &r, &fx);
  return 0;
}

static int vf_apply_record(void *ctx, const struct journal_record *r)
{
  struct replay_effects fx;
  replay_apply(ctx, r, &fx);
  return 0;
}

static void vf_hash(void *ctx, uint8_t out[JOURNAL_HASH_BYTES])
{
  uint8_t buf[VF_SER_MAX];
  size_t n = replay_state_serialise(ctx, buf, sizeof buf);
  if (n > sizeof buf) {
    replay_state_hash(ctx, out);
    return;
  }
  struct journal__b2b st;
  journal__b2b_init(&st, JOURNAL_HASH_BYTES);
  journal__b2b_update(&st, buf, n);
  journal__b2b_final(&st, out);
}

void replay_verify_fold(struct journal_verify_fold *f, struct replay_state *s)
{
  memset(f, 0, sizeof *f);
  f->ctx = s;
  f->reset = vf_reset;
  f->apply = vf_apply;
  f->state_hash = vf_hash;
  f->apply_record = vf_apply_record;
}
