/*
 * polarity.c — installation checks from per-window powers: a CT mounted backwards and a
 * current channel mapped to the wrong phase (DESIGN.md "Derived state", issue "Phase map and
 * polarity").
 *
 * Evidence is the angle of the complex power S = P + jQ of a branch against the voltage the
 * panel config pairs it with. A real load sits within ±60° (|PF| ≥ 0.5). A reversed CT turns
 * that by 180°: P negative while |PF| stays normal — on a branch marked load-only, where
 * nothing can export, that is suspicious. A current on another phase than configured is
 * measured against a voltage 120° away: the angle lands near ±120° (|PF| ≈ 0.5 for a
 * resistive load) with |Q| ≈ √3·|P|. Both must hold for `windows_needed` consecutive windows
 * with enough apparent power to judge, and each is reported once per branch until cleared.
 */
#include <math.h>
#include <string.h>
#include "ingest.h"

void ingest_polarity_init(struct ingest_polarity *st)
{
  memset(st, 0, sizeof *st);
}

int ingest_polarity_update(struct ingest_polarity *st, bool load_only, double p_w, double q_var,
                           double s_va, unsigned windows_needed)
{
  if (windows_needed == 0) windows_needed = 5;
  if (!(s_va >= INGEST_POLARITY_MIN_VA) || !isfinite(p_w) || !isfinite(q_var)) {
    st->reversed_run = st->swap_run = 0; /* too little signal: no evidence either way */
    return INGEST_POL_NONE;
  }
  double angle = fabs(atan2(q_var, p_w)) * 180.0 / M_PI; /* 0 … 180 */
  double pf = p_w / s_va;
  bool reversed = load_only && p_w < 0 && angle >= 135.0 && fabs(pf) >= 0.7;
  bool swapped = angle >= 100.0 && angle <= 140.0;
  st->reversed_run = reversed ? st->reversed_run + 1 : 0;
  st->swap_run = swapped && !reversed ? st->swap_run + 1 : 0;
  st->last_angle_deg = angle;
  st->last_pf = pf;
  if (st->reversed_run >= windows_needed && !st->reported_reversed) {
    st->reported_reversed = true;
    return INGEST_POL_REVERSED;
  }
  if (st->swap_run >= windows_needed && !st->reported_swap) {
    st->reported_swap = true;
    return INGEST_POL_PHASE_MAP;
  }
  return INGEST_POL_NONE;
}
