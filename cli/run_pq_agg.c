/*
 * run_pq_agg.c — the mains AFE's IEC 61000-4-30 aggregation intervals as `pq_aggregate`
 * records: the 10-minute (clock aligned) and 2-hour intervals, with flicker (Pst, Plt),
 * unbalance (u0, u2), frequency, rms, THD and the IEC 61000-4-7 harmonic and interharmonic
 * groups and subgroups to the 50th. The 150/180-cycle and 10-s intervals are not journaled:
 * the `window` records (200 ms … 10 s) already carry what they would.
 */
#include <math.h>
#include <string.h>
#include "run.h"

/* Hundredths of a percent of the fundamental, saturating; 0 when there is no fundamental. */
static uint16_t cpct(double x, double h1)
{
  if (!(h1 > 0) || !(x > 0)) return 0;
  double v = x / h1 * 10000.0;
  return v >= 65535.0 ? 65535 : (uint16_t)lround(v);
}

static int32_t milli(double x)
{
  if (!isfinite(x)) return 0;
  double v = x * 1000.0;
  return v >= 2147483647.0 ? INT32_MAX : v <= -2147483647.0 ? -INT32_MAX : (int32_t)llround(v);
}

static uint32_t umilli(double x)
{
  if (!isfinite(x) || x <= 0) return 0;
  double v = x * 1000.0;
  return v >= 4294967295.0 ? UINT32_MAX : (uint32_t)llround(v);
}

static void fill_channel(const struct daemon *d, const struct ingest_pq_aggregate *a, unsigned c,
                         struct journal_agg_channel *o)
{
  const struct ingest_channel_cfg *cc = &d->icfg.ch[c];
  o->ch = (uint8_t)c;
  o->kind = cc->kind == INGEST_KIND_VOLTAGE ? JOURNAL_CH_VOLTAGE : JOURNAL_CH_CURRENT;
  o->phase = cc->phase[0] == 'B' ? JOURNAL_PHASE_B : cc->phase[0] == 'C' ? JOURNAL_PHASE_C : JOURNAL_PHASE_A;
  o->rms_m = milli(a->rms[c]);
  o->thd_mpct = milli(a->thd_pct[c]);
  double h1 = a->group_rms[c][1];
  o->h1_m = milli(h1);
  o->nh = o->nhs = o->nih = o->nihs = JOURNAL_AGG_HARMONICS;
  for (unsigned h = 0; h < JOURNAL_AGG_HARMONICS && h <= INGEST_HARMONICS_MAX; h++) {
    o->h_cpct[h] = cpct(a->group_rms[c][h], h1);
    o->hs_cpct[h] = cpct(a->subgroup_rms[c][h], h1);
    o->ih_cpct[h] = cpct(a->ih_group_rms[c][h], h1);
    o->ihs_cpct[h] = cpct(a->ih_subgroup_rms[c][h], h1);
  }
  for (unsigned k = 0; k < a->nv && k < INGEST_VPHASES_MAX; k++) {
    if (a->vch[k] != (int)c) continue;
    if (a->has_pst) o->pst_milli = umilli(a->pst[k]);
    if (a->has_plt) o->plt_milli = umilli(a->plt[k]);
  }
}

/* The engine's Class A aggregate sink. */
void run_pq_aggregate(void *ctx, const struct ingest_pq_aggregate *a)
{
  struct daemon *d = ctx;
  if (a->kind != INGEST_AGG_10MIN && a->kind != INGEST_AGG_2H) return;
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_PQ_AGGREGATE;
  r.source.kind = JOURNAL_SRC_AFE;
  r.source.index = (uint16_t)(d->mains + 1);
  struct journal_pq_aggregate *g = &r.body.pq_aggregate;
  g->afe = (uint16_t)(d->mains + 1);
  g->interval_s = a->kind == INGEST_AGG_10MIN ? 600 : 7200;
  g->start_ns = a->start_ns;
  g->covered_ms = umilli(a->covered_s);
  g->nwin = a->nwin > UINT16_MAX ? UINT16_MAX : (uint16_t)a->nwin;
  g->flags = (uint8_t)((a->flagged ? JOURNAL_AGGF_FLAGGED : 0) | (a->partial ? JOURNAL_AGGF_PARTIAL : 0) |
                       (a->has_unbalance ? JOURNAL_AGGF_UNBALANCE : 0));
  g->freq_mhz = umilli(a->freq_hz);
  if (a->has_unbalance) {
    g->u2_mpct = umilli(a->u2_pct);
    g->u0_mpct = umilli(a->u0_pct);
  }
  for (unsigned c = 0; c < a->nch && g->nch < JOURNAL_AGG_CHANNELS; c++) fill_channel(d, a, c, &g->ch[g->nch++]);
  /* a full disk: metering gives way (run_disk.c) */
  if (!run_disk_drop(d) && run_append(d, &r) == 0) d->pq_aggregates++;
}
