/*
 * run_der_obs.c — DER observations from a bridge (`hems bridge sunspec`, op der_observe) as
 * `der` records (via "sunspec"): the source's state, its AC power in W and its state of charge
 * when the device implements them, the branch the panel config gives the source, kernel_ns the
 * poll's time on the panel clock (now minus the poll's age).
 *
 * Not every poll is journaled: one is when the state, freshness or which values are known
 * changes, when power moves by RUN_DER_OBS_W_DEADBAND_W or 5 % (whichever is more), state of
 * charge by 1 %, or when RUN_DER_OBS_HEARTBEAT_NS has passed since the last (so the fold, which
 * calls a source stale after REPLAY_DER_MAX_AGE_NS of record time without one, sees it fresh
 * while the device answers). A device that stops answering is journaled once (fresh false,
 * reason stale, the last state it reported); after that the fold's own age keeps it stale.
 */
#include <stdlib.h>
#include <string.h>
#include "run.h"
#include "control_req.h"

#define RUN_DER_OBS_HEARTBEAT_NS (5ll * 1000000000ll)
#define RUN_DER_OBS_W_DEADBAND_W 20
#define RUN_DER_OBS_SOC_DEADBAND_MPCT 1000
#define RUN_DER_OBS_FRESH_MS 5000 /* a poll older than this when it arrives is not fresh */

static bool moved(bool have, int32_t now, int32_t then, int32_t band)
{
  if (!have) return false;
  int64_t d = (int64_t)now - then;
  return llabs(d) >= band;
}

bool run_der_obs_due(struct daemon *d, const struct control_der_obs *o, struct journal_record *r)
{
  struct der_obs_last *last = &d->der_obs[o->source == JOURNAL_DER_PV ? 0 : 1];
  uint64_t now = run_now_ns(d), age = (uint64_t)o->age_ms * 1000000u;
  memset(r, 0, sizeof *r);
  r->type = JOURNAL_T_DER;
  r->source.kind = JOURNAL_SRC_DER;
  r->source.sub = o->source;
  struct journal_der *b = &r->body.der;
  b->source = o->source;
  b->via = JOURNAL_DERVIA_SUNSPEC;
  b->branch = (uint16_t)(o->source == JOURNAL_DER_PV ? d->panel->der.pv_branch : d->panel->der.ess_branch);
  b->interlock_ok = 1; /* no ATS behind a SunSpec source: as the status lines say without one */
  b->grid_present = 1;
  b->transfer = JOURNAL_XFER_NONE;
  b->kernel_ns = now > age ? now - age : 0;
  if (o->stale) {
    if (!last->seen || !last->b.fresh) return false; /* never fresh, or already journaled stale */
    b->state = last->b.state;
    b->fresh = 0;
    b->reason = JOURNAL_DERR_STALE;
    b->kernel_ns = now;
    return true;
  }
  b->state = o->state;
  b->fresh = o->age_ms <= RUN_DER_OBS_FRESH_MS;
  b->have_w = o->have_w;
  b->w = o->have_w ? o->w : 0;
  b->have_soc = o->have_soc;
  b->soc_mpct = o->have_soc ? o->soc_mpct : 0;
  if (!last->seen) { b->reason = JOURNAL_DERR_INITIAL; return true; }
  const struct journal_der *p = &last->b;
  int32_t wband = abs(p->w) / 20 > RUN_DER_OBS_W_DEADBAND_W ? abs(p->w) / 20 : RUN_DER_OBS_W_DEADBAND_W;
  bool change = b->state != p->state || b->fresh != p->fresh || b->have_w != p->have_w || b->have_soc != p->have_soc ||
                moved(b->have_w, b->w, p->w, wband) || moved(b->have_soc, b->soc_mpct, p->soc_mpct, RUN_DER_OBS_SOC_DEADBAND_MPCT);
  b->reason = change ? JOURNAL_DERR_EDGE : JOURNAL_DERR_RESYNC;
  return change || now - last->at_ns >= (uint64_t)RUN_DER_OBS_HEARTBEAT_NS;
}

int run_der_obs_append(struct daemon *d, struct journal_record *r, uint64_t *seq)
{
  int rc = run_append_fx(d, r, seq, NULL, NULL);
  if (rc) return rc;
  struct der_obs_last *last = &d->der_obs[r->body.der.source == JOURNAL_DER_PV ? 0 : 1];
  last->seen = true;
  last->b = r->body.der;
  last->at_ns = run_now_ns(d);
  d->der_seen++;
  return 0;
}
