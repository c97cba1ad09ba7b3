/*
 * record.c — integer fixed-point bodies of the `window` and `pq_event` records
 * (schemas/ingest.cddl) from the float DSP results.
 *
 * Aggregation of basic windows into records of period_ms: rms and the harmonic-distortion
 * and fundamental magnitudes as sqrt(time-weighted mean of squares) (IEC 61000-4-30), THD of
 * the record = distortion rms / fundamental rms, powers as time-weighted means, PF = P/S of
 * the means, min/max as extremes, frequency = cycles / duration. A record closes at the first
 * basic window ending within half a window of its boundary (start + k·period), so records stay
 * on the period grid on average. Energy goes window by window through the pair's
 * struct ingest_energy: each record carries the whole µWh it completed, so the sum of the
 * records' energies is exactly the running total.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static int32_t clamp32(double x)
{
  if (!(x == x)) return 0;
  if (x > 2147483647.0) return INT32_MAX;
  if (x < -2147483648.0) return INT32_MIN;
  return (int32_t)llround(x);
}
static int64_t clamp64(double x)
{
  if (!(x == x)) return 0;
  if (x > 9.2e18) return INT64_MAX;
  if (x < -9.2e18) return INT64_MIN;
  return (int64_t)llround(x);
}

int ingest_aggregator_init(struct ingest_aggregator *a, uint32_t period_ms)
{
  memset(a, 0, sizeof *a);
  if (period_ms == 0 || period_ms > 3600000u) return -EINVAL;
  a->period_ms = period_ms;
  for (unsigned k = 0; k < INGEST_CHANNELS_MAX; k++) ingest_energy_init(&a->energy[k]);
  return 0;
}

static void reset_sums(struct ingest_aggregator *a)
{
  a->dur_s = a->cycles = 0.0;
  a->nwin = 0;
  a->flags = 0;
  for (unsigned c = 0; c < INGEST_CHANNELS_MAX; c++) {
    a->ch_sq[c] = a->ch_h1sq[c] = a->ch_dsq[c] = 0.0;
    a->ch_min[c] = INFINITY;
    a->ch_max[c] = -INFINITY;
    a->ch_hmin[c] = INFINITY;
    a->ch_hmax[c] = 0.0;
    a->p_ws[c] = a->q_ws[c] = a->s_ws[c] = 0.0;
    a->imp_uwh[c] = a->exp_uwh[c] = 0;
  }
}

static void fill(struct ingest_aggregator *a, struct ingest_rec_window *out)
{
  memset(out, 0, sizeof *out);
  double T = a->dur_s > 0 ? a->dur_s : 1.0;
  out->start_ns = a->start_ns;
  out->duration_us = (uint32_t)llround(a->dur_s * 1e6);
  out->freq_mhz = (uint32_t)llround(a->cycles / T * 1000.0);
  out->basic_windows = a->nwin;
  out->flags = (uint16_t)a->flags;
  out->nch = (uint8_t)a->nch;
  out->npow = (uint8_t)a->npow;
  for (unsigned c = 0; c < a->nch; c++) {
    struct ingest_rec_channel *rc = &out->ch[c];
    rc->ch = (uint8_t)c;
    rc->kind = a->ch_kind[c];
    memcpy(rc->phase, a->ch_phase[c], INGEST_PHASE_MAX);
    rc->branch = a->ch_branch[c];
    rc->rms_m = clamp32(sqrt(a->ch_sq[c] / T) * 1000.0);
    rc->min_m = clamp32(a->ch_min[c] * 1000.0);
    rc->max_m = clamp32(a->ch_max[c] * 1000.0);
    double h1 = sqrt(a->ch_h1sq[c] / T), dd = sqrt(a->ch_dsq[c] / T);
    rc->thd_mpct = clamp32(h1 > 0 ? dd / h1 * 100000.0 : 0.0);
    rc->hrms_min_m = a->ch_hmin[c] < INFINITY ? clamp32(a->ch_hmin[c] * 1000.0) : 0;
    rc->hrms_max_m = clamp32(a->ch_hmax[c] * 1000.0);
    rc->event = (a->flags & INGEST_RWF_EVENT) && a->ch_kind[c] == INGEST_KIND_VOLTAGE;
  }
  for (unsigned k = 0; k < a->npow; k++) {
    struct ingest_rec_power *rp = &out->pow[k];
    rp->ich = a->pow_ich[k];
    rp->vch = a->pow_vch[k];
    rp->branch = a->pow_branch[k];
    memcpy(rp->phase, a->ch_phase[rp->ich], INGEST_PHASE_MAX);
    double p = a->p_ws[k] / T, q = a->q_ws[k] / T, s = a->s_ws[k] / T;
    rp->p_mw = clamp64(p * 1000.0);
    rp->q_mvar = clamp64(q * 1000.0);
    rp->s_mva = clamp64(s * 1000.0);
    rp->pf_mpct = clamp32(s > 0 ? p / s * 100000.0 : 0.0);
    rp->import_uwh = a->imp_uwh[k];
    rp->export_uwh = a->exp_uwh[k];
  }
}

int ingest_aggregator_add(struct ingest_aggregator *a, const struct ingest_config *cfg,
                          const struct ingest_window *w, struct ingest_rec_window *out)
{
  const int64_t period_ns = (int64_t)a->period_ms * 1000000;
  if (!a->open) {
    a->open = true;
    a->start_ns = w->start_ns;
    if (a->boundary_ns == 0 || w->start_ns >= a->boundary_ns + period_ns)
      a->boundary_ns = w->start_ns + period_ns;
    reset_sums(a);
    a->nch = w->nch;
    a->npow = w->npow;
    for (unsigned k = 0; k < w->npow; k++) {
      a->pow_ich[k] = (uint8_t)w->pow[k].ich;
      a->pow_vch[k] = (uint8_t)w->pow[k].vch;
      a->pow_branch[k] = cfg ? cfg->ch[w->pow[k].ich].branch : 0;
    }
    for (unsigned c = 0; c < w->nch; c++) {
      a->ch_kind[c] = cfg ? cfg->ch[c].kind : 0;
      a->ch_branch[c] = cfg ? cfg->ch[c].branch : 0;
      memset(a->ch_phase[c], 0, INGEST_PHASE_MAX);
      if (cfg) memcpy(a->ch_phase[c], cfg->ch[c].phase, INGEST_PHASE_MAX - 1);
    }
  }
  double d = w->duration_s;
  a->dur_s += d;
  a->cycles += w->cycles;
  a->nwin++;
  if (w->flags & INGEST_WF_EVENT) a->flags |= INGEST_RWF_EVENT;
  if (w->flags & INGEST_WF_UNSYNC) a->flags |= INGEST_RWF_UNSYNC;
  for (unsigned c = 0; c < a->nch && c < w->nch; c++) {
    const struct ingest_channel_metrics *m = &w->ch[c];
    a->ch_sq[c] += m->rms * m->rms * d;
    a->ch_h1sq[c] += m->h1_rms * m->h1_rms * d;
    double dist = m->thd_pct / 100.0 * m->h1_rms;
    a->ch_dsq[c] += dist * dist * d;
    if (m->min < a->ch_min[c]) a->ch_min[c] = m->min;
    if (m->max > a->ch_max[c]) a->ch_max[c] = m->max;
    if (m->hrms_min < a->ch_hmin[c]) a->ch_hmin[c] = m->hrms_min;
    if (m->hrms_max > a->ch_hmax[c]) a->ch_hmax[c] = m->hrms_max;
  }
  for (unsigned k = 0; k < a->npow && k < w->npow; k++) {
    const struct ingest_power_metrics *pm = &w->pow[k];
    a->p_ws[k] += pm->p_w * d;
    a->q_ws[k] += pm->q_var * d;
    a->s_ws[k] += pm->s_va * d;
    int64_t di, de;
    ingest_energy_add(&a->energy[k], ingest_energy_nj(pm->p_w, d), &di, &de);
    a->imp_uwh[k] += di;
    a->exp_uwh[k] += de;
  }
  int64_t half_ns = (int64_t)llround(d * 0.5e9);
  if (w->end_ns >= a->boundary_ns - half_ns) {
    fill(a, out);
    a->open = false;
    a->boundary_ns += period_ns;
    return 1;
  }
  return 0;
}

int ingest_aggregator_flush(struct ingest_aggregator *a, struct ingest_rec_window *out)
{
  if (!a->open || a->nwin == 0) return 0;
  fill(a, out);
  a->open = false;
  return 1;
}

void ingest_rec_pq_event_fill(const struct ingest_pq_event *e, struct ingest_rec_pq_event *out)
{
  memset(out, 0, sizeof *out);
  out->kind = (uint8_t)e->kind;
  out->category = (uint8_t)e->category;
  out->flags = (uint8_t)e->flags;
  memcpy(out->phases, e->phases, sizeof out->phases);
  out->phases[sizeof out->phases - 1] = 0;
  out->start_ns = e->start_ns;
  double us = e->duration_s * 1e6;
  out->duration_us = us > 0 ? (uint64_t)llround(us) : 0;
  out->extreme_mv = clamp32(e->extreme_v * 1000.0);
  out->extreme_mpct = clamp32(e->extreme_pct * 1000.0);
  out->declared_mv = clamp32(e->declared_v * 1000.0);
  out->nph = (uint8_t)(e->nv < INGEST_VPHASES_MAX ? e->nv : INGEST_VPHASES_MAX);
  for (unsigned i = 0; i < out->nph; i++) {
    out->ph[i].ch = (uint8_t)e->vch[i];
    out->ph[i].min_mv = clamp32(e->vmin_v[i] * 1000.0);
    out->ph[i].max_mv = clamp32(e->vmax_v[i] * 1000.0);
  }
  out->has_capture = false; /* the caller hashes the blob and sets capture[] */
}
