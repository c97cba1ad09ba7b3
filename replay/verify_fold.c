/*
 * verify_fold.c — the reducer as journal_verify's fold: verify compares every seal's state hash
 * with the state folded from seq 1 (decode + replay_apply, as replay_fold does).
 */
#include <string.h>
#include "replay.h"

static void vf_reset(void *ctx) { replay_state_init(ctx); }

static int vf_apply(void *ctx, const uint8_t *bytes, size_t len)
{
  struct journal_record r;
  struct replay_effects fx;
  int rc = journal_record_decode(bytes, len, &r);
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

static void vf_hash(void *ctx, uint8_t out[JOURNAL_HASH_BYTES]) { replay_state_hash(ctx, out); }

void replay_verify_fold(struct journal_verify_fold *f, struct replay_state *s)
{
  memset(f, 0, sizeof *f);
  f->ctx = s;
  f->reset = vf_reset;
  f->apply = vf_apply;
  f->state_hash = vf_hash;
  f->apply_record = vf_apply_record;
}
