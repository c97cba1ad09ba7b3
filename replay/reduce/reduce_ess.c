/*
 * reduce_ess.c — reducer v 11: the battery on backup (docs/policy.md "The battery on backup").
 *
 * With an ESS and its permit-to-run line in the panel config (der.ess.branch, der.ess.max_w,
 * der.lines.ess_permit), the fold drives the permit as a DER command (der ess, connect /
 * disconnect) that the daemon executes on the line and proves from the battery's own state lines:
 *   - off at once (emergency disconnect, reason interlock) while the battery reports an alarm or
 *     a fault, or while the grid is absent and no transfer switch isolates the house (a battery
 *     that ran then would energise the service: anti-islanding);
 *   - on at once (reason backup) when the grid is absent, the transfer switch isolates the house
 *     on backup and the battery reports no alarm: it may then carry the house;
 *   - on again (reason restore) once a permit the fold took away may come back with the grid
 *     present: after the DER hold-off since the grid returned (IEEE 1547's reconnection delay),
 *     and no sooner than REPLAY_DER_CMD_MIN_NS after the last permit command.
 * An off is never delayed; an on also waits while the permit has had ops_per_min commands in the
 * last 60 s (a flapping interlock cannot make it chatter). While no rule has spoken (the permit
 * unknown, the grid present) the battery runs under its own control.
 * While the battery carries the house, the loads are shed to its rated power: the sum of the
 * last window's power of the branches still on (the battery's and exporting branches aside) is
 * brought to at most max_w by opening the lowest-priority ones first (then the highest number),
 * never a critical or fail-closed branch — an overload they alone carry is left to the
 * battery's own protection. The layer BACKUP holds them open until the grid returns; they then
 * close as a rolling restore after the hold-off (reduce_policy.c).
 */
#include "reduce_internal.h"

static int ess_alarmed(const struct replay_der *e)
{
  return e->seen && (e->state_code == JOURNAL_DERST_ALARM || e->state_code == JOURNAL_DERST_FAULT);
}

/* The permit the rules want now (REPLAY_UNKNOWN: none speaks), and the reason. */
static uint8_t permit_wanted(const struct replay_state *s, uint8_t *reason)
{
  const struct replay_policy *p = &s->pol;
  if (ess_alarmed(&s->der[JOURNAL_DER_ESS])) { *reason = JOURNAL_CMD_INTERLOCK; return REPLAY_OFF; }
  if (s->grid_present == 1) {
    if (!ats_isolating(s)) { *reason = JOURNAL_CMD_INTERLOCK; return REPLAY_OFF; }
    *reason = JOURNAL_CMD_BACKUP;
    return REPLAY_ON;
  }
  if (p->permit == REPLAY_OFF) { *reason = JOURNAL_CMD_RESTORE; return REPLAY_ON; }
  return REPLAY_UNKNOWN;
}

static void permit_command(struct replay_state *s, const struct journal_record *r, struct replay_effects *out)
{
  struct replay_policy *p = &s->pol;
  uint8_t reason = 0, want = permit_wanted(s, &reason);
  if (want == REPLAY_UNKNOWN || want == p->permit || out->n >= REPLAY_EFFECTS_MAX) return;
  if (want == REPLAY_ON) {
    const struct replay_der *e = &s->der[JOURNAL_DER_ESS];
    if (reason == JOURNAL_CMD_RESTORE && !supply_stable(p, 1)) return; /* the DER hold-off since the grid returned */
    if (reason == JOURNAL_CMD_RESTORE && e->cmd_seq && elapsed(r->wall_ns, e->cmd_wall_ns) < REPLAY_DER_CMD_MIN_NS) return;
    /* an on waits at the operations limit, as a branch's close does: a flapping transfer-switch
     * interlock cannot make the permit chatter (an off never waits) */
    unsigned ops = 0;
    for (int i = 0; i < REPLAY_OPS_RING; i++)
      if (p->permit_ops_ns[i] && elapsed(r->wall_ns, p->permit_ops_ns[i]) < 60ll * 1000000000ll) ops++;
    if (p->ops_per_min && ops >= p->ops_per_min) return;
  }
  struct replay_effect c;
  memset(&c, 0, sizeof c);
  c.kind = REPLAY_EFFECT_COMMAND;
  c.reason = reason;
  c.target = p->ess_branch;
  c.desired = want == REPLAY_ON ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF;
  c.cause_seq = r->seq;
  c.der = JOURNAL_DERT_ESS;
  c.der_action = want == REPLAY_ON ? JOURNAL_DERA_CONNECT : JOURNAL_DERA_DISCONNECT;
  if (want == REPLAY_ON && reason == JOURNAL_CMD_RESTORE)
    c.holdoff_ms = p->holding ? (uint32_t)(p->der_holdoff_ns / 1000000) : 0;
  reduce__emit(out, &c);
  p->permit = want;
  p->permit_ops_ns[p->permit_ops_head] = r->wall_ns;
  p->permit_ops_head = (uint8_t)((p->permit_ops_head + 1) % REPLAY_OPS_RING);
}

/* On backup with the battery permitted: open the lowest-priority loads until the rest fit its
 * rating (windows only: the loads are measured there). */
static void backup_shed(struct replay_state *s)
{
  struct replay_policy *p = &s->pol;
  int64_t load_mw = 0;
  for (int i = 0; i < REPLAY_BRANCHES_MAX; i++) {
    const struct replay_branch *b = &s->br[i];
    if (i + 1 == p->ess_branch || b->exports || b->p_mw <= 0 || held_of(b) != REPLAY_ON) continue;
    if (b->layers) continue; /* being opened */
    load_mw = sat_add(load_mw, b->p_mw);
  }
  int64_t cap_mw = (int64_t)p->ess_max_w * 1000;
  while (load_mw > cap_mw) {
    struct replay_branch *pick = NULL;
    for (int i = REPLAY_BRANCHES_MAX; i-- > 0;) {
      struct replay_branch *b = &s->br[i];
      if (i + 1 == p->ess_branch || b->exports || b->p_mw <= 0 || held_of(b) != REPLAY_ON || b->layers) continue;
      if (b->critical || b->fail_safe == 1) continue;
      if (!pick || b->priority < pick->priority) pick = b;
    }
    if (!pick) return;
    layer_set(pick, REPLAY_LAYER_BACKUP);
    pick->shed_ma = pick->irms_ma;
    load_mw -= pick->p_mw;
    p->sheds++;
  }
}

void reduce__ess(struct replay_state *s, const struct journal_record *r, struct replay_effects *out)
{
  struct replay_policy *p = &s->pol;
  if (!p->ess_permit_line || !p->ess_branch) return;
  permit_command(s, r, out);
  if (r->type == JOURNAL_T_WINDOW && p->ess_max_w && p->permit == REPLAY_ON && s->grid_present == 1 && ats_isolating(s))
    backup_shed(s);
}
