/*
 * reduce_alarm.c — alarm acknowledgement (reducer v 7): an `alarm_ack` request clears an alarm
 * only when the condition that raised it no longer holds in the folded state; otherwise it is
 * refused `alarm_active` (reduce_internal.h says how the fold is split).
 *
 * The condition of each alarm, judged on the state alone (docs/policy.md "Alarms"):
 *   welded            the branch is not proven open now: a weld is disproven only by a confirmed
 *                     open (commanded off, sensed off, the last sense-back confirmed it)
 *   ct_polarity       the daemon's detector (fault suspected_ct_polarity) or a negative energy
 *                     delta raised it since the last boot or config record (the detector then
 *                     runs afresh), or the last window shows power flowing out of a branch
 *                     nothing feeds (below -REPLAY_CT_NOISE_MW)
 *   phase_map         likewise from fault phase_map_mismatch or a window on another phase than
 *                     first seen, or the last window was measured on another phase
 *   unexplained_trip  its breaker or RCD is still open
 *   der_mismatch      the daemon has not journaled fault{der_consistent} since its der_mismatch
 *   stale_der         a DER source is stale (the fold also clears it by itself once all are fresh)
 *   backfeed_risk     a DER source reports its interlock not made (likewise)
 *   leakage_high, over_temperature, temperature_rise (v 11, on a branch or the panel)
 *                     the daemon has not journaled the fault that ends it (leakage_ok,
 *                     temperature_ok, temperature_rise_ok: the value back below the threshold
 *                     minus the tap's hysteresis; reduce_analog.c)
 * An alarm that returns is raised again by the record that shows it.
 */
#include "reduce_internal.h"

static int branch_condition(const struct replay_state *s, const struct replay_branch *b, uint32_t bit)
{
  switch (bit) {
  case REPLAY_ALARM_WELDED:
    return !(b->commanded == REPLAY_OFF && b->sensed == REPLAY_OFF && b->proven && b->fault == REPLAY_V_NONE);
  case REPLAY_ALARM_CT_POLARITY: return (b->suspect & REPLAY_ALARM_CT_POLARITY) || (!b->exports && b->p_mw < -REPLAY_CT_NOISE_MW);
  case REPLAY_ALARM_PHASE_MAP: return (b->suspect & REPLAY_ALARM_PHASE_MAP) || (b->phase_now && b->phase && b->phase_now != b->phase);
  case REPLAY_ALARM_UNEXPLAINED_TRIP: return b->breaker_open || b->rcd_tripped;
  case REPLAY_ALARM_DER_MISMATCH: return b->der_mismatch;
  case REPLAY_ALARM_LEAKAGE_HIGH: case REPLAY_ALARM_OVER_TEMPERATURE: case REPLAY_ALARM_TEMPERATURE_RISE:
    return reduce__analog_condition(s, (uint16_t)(b - s->br + 1), bit);
  default: return 1; /* a panel-only alarm has no branch condition: never cleared on a branch */
  }
}

static int panel_condition(const struct replay_state *s, uint32_t bit)
{
  switch (bit) {
  case REPLAY_ALARM_STALE_DER:
    for (int i = 0; i < REPLAY_DER_SOURCES; i++)
      if (s->der[i].seen && s->der[i].stale) return 1;
    return 0;
  case REPLAY_ALARM_BACKFEED_RISK: return s->backfeed_risk != 0;
  case REPLAY_ALARM_CT_POLARITY: return 0; /* raised panel-wide by a fault naming no branch */
  case REPLAY_ALARM_LEAKAGE_HIGH: case REPLAY_ALARM_OVER_TEMPERATURE: case REPLAY_ALARM_TEMPERATURE_RISE:
    return reduce__analog_condition(s, 0, bit);
  default: return 1;
  }
}

void reduce__decide_alarm_ack(struct replay_state *s, const struct journal_record *r, struct replay_effect *e)
{
  const struct journal_request *q = &r->body.request;
  e->kind = REPLAY_EFFECT_REFUSAL;
  /* the socket refuses these too; the fold makes it a property of the records */
  if (q->role == JOURNAL_ROLE_VIEWER || q->role == JOURNAL_ROLE_UTILITY || q->origin == JOURNAL_ORIGIN_AUTOMATION) {
    e->reason = JOURNAL_REF_ROLE;
    return;
  }
  if (q->expiry_ns && r->wall_ns > q->expiry_ns) { e->reason = JOURNAL_REF_EXPIRED; return; }
  if (q->alarm == JOURNAL_ALARM_NONE || q->alarm > JOURNAL_ALARM_MAX) { e->reason = JOURNAL_REF_INVALID; return; }
  if (s->reducer_version < 11 && q->alarm > JOURNAL_ALARM_DER_MISMATCH) { e->reason = JOURNAL_REF_INVALID; return; }
  uint32_t bit = 1u << (q->alarm - 1);
  uint32_t *alarms;
  int holds;
  if (q->target == 0) {
    alarms = &s->alarms;
    holds = panel_condition(s, bit);
  } else {
    if (q->target > REPLAY_BRANCHES_MAX || q->target > s->nbranches) { e->reason = JOURNAL_REF_UNKNOWN_TARGET; return; }
    struct replay_branch *b = &s->br[q->target - 1];
    alarms = &b->alarms;
    holds = branch_condition(s, b, bit);
  }
  if (!(*alarms & bit)) { e->reason = JOURNAL_REF_ALARM_NOT_RAISED; return; }
  if (holds) { e->reason = JOURNAL_REF_ALARM_ACTIVE; return; }
  *alarms &= ~bit;
  e->kind = REPLAY_EFFECT_DEFERRED; /* accepted: the request record itself is the evidence */
  e->reason = REPLAY_DEFER_ACCEPTED;
}
