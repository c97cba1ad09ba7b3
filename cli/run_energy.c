/*
 * run_energy.c — per-branch energy totals as of the newest durable seal, for `status`
 * (durable_import_wh, durable_export_wh) and so for the bridges, whose meters must never dip.
 *
 * The fold runs ahead of durability: a record is folded when it is appended, and metering
 * groups share one commit every 15 s of panel time (run_start.c, commit_hold_ns). Totals read
 * straight from the fold can therefore include up to ~15 s of windows that a kill -9 or a
 * power cut takes back; after the restart the fold of what is on disk is lower, and a meter
 * that showed the first value goes backwards (seen: test_bridge_mqtt, 5 Wh then 4 Wh).
 *
 * So at every seal — the journal asks for the state hash while building it, in the appending
 * thread, and the state then is exactly the fold of every record before the seal — the totals
 * are copied into a small ring, tagged with the last record they cover. When the writer reports
 * durability the loop moves every copy at or before journal_durable_seq into `durable`. A seal
 * commits in the same transaction as its group, so `durable` never holds a record that can be
 * lost. If more than RUN_ENERGY_RING seals wait for one commit, the oldest copy is dropped: the
 * durable totals then lag a little more, they never run ahead.
 */
#include <stddef.h>
#include <string.h>
#include "run.h"

static void snapshot(struct daemon *d, struct run_energy *e, uint64_t seq)
{
  e->seq = seq;
  for (unsigned b = 0; b < REPLAY_BRANCHES_MAX; b++) {
    e->import_uwh[b] = d->h.state.br[b].import_uwh;
    e->export_uwh[b] = d->h.state.br[b].export_uwh;
  }
}

/* jo->state_hash with ctx = the harness (replay_harness_init set it): the harness's own, then a
 * copy of the totals it just folded to. */
static void seal_state_hash(void *ctx, uint8_t out[JOURNAL_HASH_BYTES])
{
  struct daemon *d = (struct daemon *)((char *)ctx - offsetof(struct daemon, h));
  struct run_energy_log *l = &d->sealed;
  l->harness_state_hash(ctx, out);
  if (!d->h.j) return; /* not attached yet: attach takes its own copy */
  if (l->n == RUN_ENERGY_RING) { l->first = (l->first + 1) % RUN_ENERGY_RING; l->n--; }
  snapshot(d, &l->ring[(l->first + l->n) % RUN_ENERGY_RING], journal_head_seq(d->h.j));
  l->n++;
}

void run_energy_hook(struct daemon *d, struct journal_options *jo)
{
  d->sealed.harness_state_hash = jo->state_hash;
  jo->state_hash = seal_state_hash;
}

void run_energy_attached(struct daemon *d)
{
  d->sealed.first = d->sealed.n = 0;
  snapshot(d, &d->sealed.durable, d->h.state.seq); /* folded from the journal on disk */
}

void run_energy_promote(struct daemon *d)
{
  struct run_energy_log *l = &d->sealed;
  uint64_t durable = journal_durable_seq(d->j);
  while (l->n && l->ring[l->first].seq <= durable) {
    l->durable = l->ring[l->first];
    l->first = (l->first + 1) % RUN_ENERGY_RING;
    l->n--;
  }
}
