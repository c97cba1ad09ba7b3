/*
 * window.c — metrics of one basic window (10 cycles at 50 Hz, 12 at 60 Hz) between two
 * positive zero crossings of the reference channel.
 *
 * Every channel's samples over [ta, tb) (fractional sample indices) are resampled to
 * INGEST_FFT_N points spanning exactly the window (dsp.c), so the window holds an integer
 * number of cycles of a band-limited signal. Then, per channel: rms = sqrt(mean y²) (DC and
 * harmonics included), mean, spectrum, IEC 61000-4-7 harmonic groups and THD (2..40, 2..50);
 * min/max come from the raw samples. Per current channel paired with a voltage channel:
 * P = mean(v·i), S = Urms·Irms, PF = P/S (negative only when P < 0), and Q = the reactive
 * power of the fundamental, Im(V1·I1*) from the spectrum (positive when the current lags:
 * inductive). Frequency = cycles / window duration. Half-cycle rms (Urms(1/2), IEC 61000-4-30
 * §5.4.2): the window's resampled points split into 2·cycles half cycles from the reference's
 * zero crossing; each pair of adjacent halves (one cycle) gives one value.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

/* Min and max over the one-cycle rms values refreshed every half cycle: halves h of n points
 * each (the last ones take the rounding), values over halves (h − 1, h) for h = 1 … nh − 1. */
static void half_cycle_rms(const float *y, unsigned n, unsigned nh, double *out_min, double *out_max)
{
  double prev = 0.0, mn = INFINITY, mx = 0.0;
  unsigned prevn = 0;
  for (unsigned h = 0; h < nh; h++) {
    unsigned k0 = (unsigned)((uint64_t)h * n / nh), k1 = (unsigned)((uint64_t)(h + 1) * n / nh);
    double s = 0.0;
    for (unsigned k = k0; k < k1; k++) s += (double)y[k] * y[k];
    if (h) {
      double r = sqrt((prev + s) / (prevn + k1 - k0));
      if (r < mn) mn = r;
      if (r > mx) mx = r;
    }
    prev = s;
    prevn = k1 - k0;
  }
  *out_min = nh > 1 ? mn : 0.0;
  *out_max = mx;
}

void ingest__window_compute(struct ingest__engine *E, double ta, double tb, uint32_t flags)
{
  struct ingest__dsp *d = &E->dsp;
  struct ingest_window *w = &E->win;
  const unsigned N = INGEST_FFT_N;
  const double fs = E->cfg.sample_rate_hz;
  double M = tb - ta;
  int64_t i0 = (int64_t)floor(ta) - INGEST__RS_HALF - 1;
  int64_t i1 = (int64_t)ceil(tb) + INGEST__RS_HALF + 1;
  if (i0 < 0 || (uint64_t)i1 >= E->n || (size_t)(i1 - i0 + 1) > d->seg_cap) return;
  size_t L = (size_t)(i1 - i0 + 1);
  double step = M / N;
  int64_t m0 = (int64_t)ceil(ta), m1 = (int64_t)ceil(tb); /* raw samples inside [ta, tb) */

  w->seq = E->win_seq++;
  w->start_sample = ta;
  w->length_samples = M;
  w->start_ns = ingest__t_ns(E, ta);
  w->end_ns = ingest__t_ns(E, tb);
  w->duration_s = M / fs;
  w->cycles = E->cycles;
  w->freq_hz = E->cycles / w->duration_s;
  w->flags = flags;
  w->nch = E->nch;

  ingest__resample_plan(d, L, ta - (double)i0, step, N, d->idx, d->taps);
  for (unsigned c = 0; c < E->nch; c++) {
    const int32_t *rc = E->ring + (size_t)c * E->ring_len;
    const float sc = (float)E->cfg.ch[c].scale, of = (float)E->cfg.ch[c].offset;
    float mn = INFINITY, mx = -INFINITY;
    for (size_t j = 0; j < L; j++) {
      float x = sc * (float)rc[(uint64_t)(i0 + (int64_t)j) & E->ring_mask] + of;
      d->seg[j] = x;
    }
    for (int64_t m = m0; m < m1; m++) {
      float x = d->seg[m - i0];
      if (x < mn) mn = x;
      if (x > mx) mx = x;
    }
    float *y = d->ybuf + (size_t)c * N;
    ingest__resample_run(d->seg, N, d->idx, (const float *const *)d->taps, y);
    double s1 = 0.0, s2 = 0.0;
    for (unsigned k = 0; k < N; k++) {
      s1 += y[k];
      s2 += (double)y[k] * y[k];
    }
    struct ingest_channel_metrics *cm = &w->ch[c];
    half_cycle_rms(y, N, 2 * E->cycles, &cm->hrms_min, &cm->hrms_max);
    cm->rms = sqrt(s2 / N);
    cm->dc = s1 / N;
    cm->min = mn;
    cm->max = mx;
    kiss_fft_cpx *X = d->spec + (size_t)c * (N / 2 + 1);
    kiss_fftr(d->fft, y, X);
    ingest__groups(X, N, E->cycles, cm->group_rms, INGEST_HARMONICS_MAX);
    double g1 = cm->group_rms[1];
    double d40 = 0.0, d50 = 0.0;
    for (unsigned h = 2; h <= INGEST_HARMONICS_MAX; h++) {
      double g = (double)cm->group_rms[h] * cm->group_rms[h];
      if (h <= 40) d40 += g;
      d50 += g;
    }
    cm->h1_rms = g1;
    cm->thd_pct = g1 > 0 ? 100.0 * sqrt(d40) / g1 : 0.0;
    cm->thd50_pct = g1 > 0 ? 100.0 * sqrt(d50) / g1 : 0.0;
    cm->h1_phase_rad = atan2((double)X[E->cycles].i, (double)X[E->cycles].r);
    cm->h1_re = (double)X[E->cycles].r * M_SQRT2 / N;
    cm->h1_im = (double)X[E->cycles].i * M_SQRT2 / N;
    ingest__subgroups(X, N, E->cycles, cm->subgroup_rms, cm->ih_group_rms, cm->ih_subgroup_rms,
                      INGEST_HARMONICS_MAX);
  }

  unsigned np = 0;
  for (unsigned c = 0; c < E->nch; c++) {
    const struct ingest_channel_cfg *cc = &E->cfg.ch[c];
    if (cc->kind != INGEST_KIND_CURRENT || cc->voltage_ch < 0 ||
        (unsigned)cc->voltage_ch >= E->nch)
      continue;
    unsigned v = (unsigned)cc->voltage_ch;
    const float *yi = d->ybuf + (size_t)c * N, *yv = d->ybuf + (size_t)v * N;
    double p = 0.0;
    for (unsigned k = 0; k < N; k++) p += (double)yi[k] * yv[k];
    p /= N;
    const kiss_fft_cpx *Xi = d->spec + (size_t)c * (N / 2 + 1) + E->cycles;
    const kiss_fft_cpx *Xv = d->spec + (size_t)v * (N / 2 + 1) + E->cycles;
    double q = ((double)Xv->i * Xi->r - (double)Xv->r * Xi->i) * 2.0 / ((double)N * N);
    if (cc->phase_rad != 0.0) { /* the current delayed by φ: P + jQ turns by +φ */
      double cs = cos(cc->phase_rad), sn = sin(cc->phase_rad), p0 = p;
      p = p0 * cs - q * sn;
      q = q * cs + p0 * sn;
    }
    struct ingest_power_metrics *pm = &w->pow[np++];
    pm->ich = (int)c;
    pm->vch = (int)v;
    pm->p_w = p;
    pm->q_var = q;
    pm->s_va = w->ch[v].rms * w->ch[c].rms;
    pm->pf = pm->s_va > 0 ? p / pm->s_va : 0.0;
    if (pm->pf > 1.0) pm->pf = 1.0;
    if (pm->pf < -1.0) pm->pf = -1.0;
    pm->energy_j = p * w->duration_s;
  }
  w->npow = np;
  w->has_unbalance = false;
  if (E->ub_ok) {
    double re[3], im[3];
    for (int p = 0; p < 3; p++) {
      re[p] = w->ch[E->ub_ch[p]].h1_re;
      im[p] = w->ch[E->ub_ch[p]].h1_im;
    }
    w->has_unbalance = ingest__unbalance(re, im, &w->u2_pct, &w->u0_pct) == 0;
  }
  if (E->sink.window) E->sink.window(E->sink.ctx, w);
  ingest__agg_window(E, w);
}
