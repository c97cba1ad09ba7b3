/*
 * energy.c — energy per branch in integers, import and export separately, with the remainder
 * carried.
 *
 * The only float→integer step is ingest_energy_nj(): one basic window's energy P·Δt rounded to
 * nJ. From there everything is integer: the nJ go into the direction's remainder, whole µWh
 * (3 600 000 nJ) move out of it into the running total and into the caller's record delta.
 * Invariant (checked by tests over a simulated hour): total_uwh·3 600 000 + rem_nj equals the
 * exact sum of every window energy added, and the running total equals the sum of the deltas
 * handed out — so 30 days of 1 s records never drift. int64 µWh hold 2.5·10⁹ kWh.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

void ingest_energy_init(struct ingest_energy *en) { memset(en, 0, sizeof *en); }

int64_t ingest_energy_nj(double p_w, double duration_s)
{
  double nj = p_w * duration_s * 1e9;
  if (!isfinite(nj)) return 0;
  if (nj > 9e18) nj = 9e18;
  if (nj < -9e18) nj = -9e18;
  return (int64_t)llround(nj);
}

void ingest_energy_add(struct ingest_energy *en, int64_t energy_nj, int64_t *out_import_uwh,
                       int64_t *out_export_uwh)
{
  int64_t di = 0, de = 0;
  if (energy_nj > 0) {
    en->import_rem_nj += energy_nj;
    di = en->import_rem_nj / INGEST_NJ_PER_UWH;
    en->import_rem_nj -= di * INGEST_NJ_PER_UWH;
    en->import_uwh += di;
  } else if (energy_nj < 0) {
    en->export_rem_nj += -energy_nj;
    de = en->export_rem_nj / INGEST_NJ_PER_UWH;
    en->export_rem_nj -= de * INGEST_NJ_PER_UWH;
    en->export_uwh += de;
  }
  if (out_import_uwh) *out_import_uwh = di;
  if (out_export_uwh) *out_export_uwh = de;
}
