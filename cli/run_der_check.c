/*
 * run_der_check.c — a DER source's reported state checked against its branch's metering
 * (issue 17 item 6): a PV inverter that reports `grid_tied` (over SunSpec: `producing` or
 * `throttled`) while its branch is open and reads
 * no power, or a battery that reports `discharging` while its branch carries no current, is a
 * contradiction the reference's playbook wants flagged ("stale or contradicting DER"). When one
 * has held for RUN_DER_MISMATCH_NS of panel time the daemon journals `fault{der_mismatch}` with
 * both sides as evidence (the DER record's seq and state, the branch's sensed state, power and
 * current), once; when it ends, `fault{der_consistent}`. The fold raises the branch's
 * `der_mismatch` alarm on the first and holds it acknowledgeable only after the second
 * (reducer v 7, docs/policy.md "Alarms").
 */
#include <stdio.h>
#include "run.h"

#define RUN_DER_MISMATCH_NS (10ull * 1000000000ull) /* longer than a switching transient */
#define RUN_DER_NO_POWER_MW 5000                    /* |P| below 5 W: no power */
#define RUN_DER_NO_CURRENT_MA 250                   /* below the sense-back's current_on */

void run_der_check(struct daemon *d, uint64_t now)
{
  const struct hw_panel_der *cfg = &d->panel->der;
  const struct replay_state *st = &d->h.state;
  for (int k = 0; k < 2; k++) {
    unsigned src = k == 0 ? JOURNAL_DER_PV : JOURNAL_DER_ESS;
    unsigned branch = k == 0 ? (cfg->pv ? cfg->pv_branch : 0) : (cfg->ess ? cfg->ess_branch : 0);
    struct der_watch *w = &d->der_watch[k];
    if (!branch || branch > REPLAY_BRANCHES_MAX || !st->der[src].seen) continue;
    const struct replay_der *der = &st->der[src];
    const struct replay_branch *b = &st->br[branch - 1];
    /* the fold's latch is the truth (it survives a restart; the daemon's memory does not) */
    w->raised = b->der_mismatch != 0;
    /* a stale source's state is not current: neither a contradiction nor an agreement is
     * established on it — wait for fresh evidence */
    if (der->stale) continue;
    int64_t p = b->p_mw < 0 ? -b->p_mw : b->p_mw;
    bool open = b->sensed == REPLAY_OFF || b->breaker_open || b->rcd_tripped;
    /* exporting: the status line's grid_tied, or a SunSpec inverter's MPPT (producing) / throttled */
    bool exporting = der->state_code == JOURNAL_DERST_GRID_TIED || der->state_code == JOURNAL_DERST_PRODUCING ||
                     der->state_code == JOURNAL_DERST_THROTTLED;
    bool bad = (k == 0 ? exporting && open && p < RUN_DER_NO_POWER_MW
                      : der->state_code == JOURNAL_DERST_DISCHARGING && b->irms_ma < RUN_DER_NO_CURRENT_MA);
    if (!bad) {
      w->since_ns = 0;
      if (w->raised) {
        char detail[160];
        snprintf(detail, sizeof detail, "%s (der seq %llu) and branch %u agree again: sensed %s, %.1f W, %d mA",
                 k == 0 ? "pv" : "ess", (unsigned long long)der->last_seq, branch, replay_onoff_name(b->sensed),
                 b->p_mw / 1000.0, b->irms_ma);
        run_fault(d, "der_consistent", b->p_mw, (uint16_t)branch, detail);
        w->raised = false;
      }
      continue;
    }
    if (!w->since_ns) w->since_ns = now ? now : 1;
    if (w->raised || now - w->since_ns < RUN_DER_MISMATCH_NS) continue;
    char detail[200];
    if (k == 0)
      snprintf(detail, sizeof detail, "pv reports %s (der seq %llu) while branch %u is %s%s at %.1f W, %d mA",
               journal_der_state_name(der->state_code), (unsigned long long)der->last_seq, branch, b->breaker_open ? "tripped " : "",
               replay_onoff_name(b->sensed), b->p_mw / 1000.0, b->irms_ma);
    else
      snprintf(detail, sizeof detail, "ess reports discharging (der seq %llu) while branch %u carries %d mA (%.1f W)",
               (unsigned long long)der->last_seq, branch, b->irms_ma, b->p_mw / 1000.0);
    run_fault(d, "der_mismatch", b->p_mw, (uint16_t)branch, detail);
    w->raised = true;
  }
}
