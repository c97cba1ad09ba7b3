/*
 * dsp.c — synchronisation of a zero-crossing-bounded window to INGEST_FFT_N points, and the
 * IEC 61000-4-7 harmonic groups of its spectrum (kissfft, real FFT).
 *
 * The window between two positive zero crossings holds an integer number of cycles but a
 * fractional number of samples (133.3 per cycle at 8 kSPS, 60 Hz). It is resampled with a
 * band-limited interpolator: a Kaiser-windowed sinc of 2·12 taps (β = 9) tabulated at 1024
 * fractional delays, each row normalised to unit DC gain. Its magnitude response is flat
 * within 0.007 % up to 0.375·fs (3 kHz at 8 kSPS: the 50th harmonic of 60 Hz), so harmonic
 * magnitudes are not attenuated; it is symmetric, so phases are not shifted. After resampling
 * bin k·cycles is harmonic k exactly, with no leakage from the window length.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static double bessel_i0(double x)
{
  double s = 1.0, t = 1.0;
  for (int k = 1; k < 60; k++) {
    double q = x / (2.0 * k);
    t *= q * q;
    s += t;
    if (t < s * 1e-17) break;
  }
  return s;
}

int ingest__dsp_init(struct ingest__dsp *d, unsigned nch, size_t seg_cap)
{
  memset(d, 0, sizeof *d);
  const int taps = 2 * INGEST__RS_HALF;
  d->table = malloc(sizeof(float) * (size_t)(INGEST__RS_PHASES + 1) * (size_t)taps);
  d->fft = kiss_fftr_alloc(INGEST_FFT_N, 0, NULL, NULL);
  d->seg = malloc(sizeof(float) * seg_cap);
  d->seg_cap = seg_cap;
  d->ybuf = malloc(sizeof(float) * (size_t)nch * INGEST_FFT_N);
  d->spec = malloc(sizeof(kiss_fft_cpx) * (size_t)nch * (INGEST_FFT_N / 2 + 1));
  d->idx = malloc(sizeof(int32_t) * INGEST_FFT_N);
  d->taps = malloc(sizeof(float *) * INGEST_FFT_N);
  if (!d->idx || !d->taps || !d->table || !d->fft || !d->seg || !d->ybuf || !d->spec) {
    ingest__dsp_deinit(d);
    return -ENOMEM;
  }
  const double i0b = bessel_i0(INGEST__RS_BETA);
  for (int p = 0; p <= INGEST__RS_PHASES; p++) {
    double fr = (double)p / INGEST__RS_PHASES;
    double h[2 * INGEST__RS_HALF], sum = 0.0;
    for (int k = -INGEST__RS_HALF + 1; k <= INGEST__RS_HALF; k++) {
      double t = k - fr;
      double s = fabs(t) < 1e-12 ? 1.0 : sin(M_PI * t) / (M_PI * t);
      double u = t / INGEST__RS_HALF;
      double w = fabs(u) < 1.0 ? bessel_i0(INGEST__RS_BETA * sqrt(1.0 - u * u)) / i0b : 0.0;
      h[k + INGEST__RS_HALF - 1] = s * w;
      sum += s * w;
    }
    for (int k = 0; k < taps; k++) d->table[(size_t)p * taps + k] = (float)(h[k] / sum);
  }
  return 0;
}

void ingest__dsp_deinit(struct ingest__dsp *d)
{
  free(d->table);
  if (d->fft) kiss_fftr_free(d->fft);
  free(d->seg);
  free(d->ybuf);
  free(d->spec);
  free(d->idx);
  free(d->taps);
  memset(d, 0, sizeof *d);
}

void ingest__resample_plan(const struct ingest__dsp *d, size_t len, double t0, double step,
                           unsigned n, int32_t *idx, const float **taps)
{
  const int ntaps = 2 * INGEST__RS_HALF;
  for (unsigned k = 0; k < n; k++) {
    double t = t0 + step * k;
    double fl = floor(t);
    long i = (long)fl;
    long p = lrint((t - fl) * INGEST__RS_PHASES);
    long first = i - INGEST__RS_HALF + 1;
    /* the caller guarantees the margin; clamp anyway so a bad plan cannot read outside */
    if (first < 0) first = 0;
    if ((size_t)(first + ntaps) > len) first = (long)len - ntaps;
    idx[k] = (int32_t)first;
    taps[k] = d->table + (size_t)p * ntaps;
  }
}

void ingest__resample_run(const float *x, unsigned n, const int32_t *idx,
                          const float *const *taps, float *out)
{
  /* four partial sums in a fixed order: deterministic (no reassociation by the compiler)
   * and easy for it to keep in one vector register */
  for (unsigned k = 0; k < n; k++) {
    const float *h = taps[k], *xs = x + idx[k];
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    for (int j = 0; j < 2 * INGEST__RS_HALF; j += 4) {
      a0 += h[j] * xs[j];
      a1 += h[j + 1] * xs[j + 1];
      a2 += h[j + 2] * xs[j + 2];
      a3 += h[j + 3] * xs[j + 3];
    }
    out[k] = (a0 + a1) + (a2 + a3);
  }
}

void ingest__groups(const kiss_fft_cpx *X, unsigned n, unsigned cycles, float *group_rms,
                    unsigned hmax)
{
  /* rms² of bin k (0 < k < n/2) of a real signal = 2|X_k|²/n² */
  const double norm = 2.0 / ((double)n * (double)n);
  group_rms[0] = (float)(fabs((double)X[0].r) / n);
  const unsigned half = cycles / 2;
  for (unsigned h = 1; h <= hmax; h++) {
    long c = (long)h * cycles;
    double g = 0.0;
    for (long k = c - (long)half; k <= c + (long)half; k++) {
      if (k <= 0 || k >= (long)n / 2) continue;
      double m = ((double)X[k].r * X[k].r + (double)X[k].i * X[k].i) * norm;
      if (k == c - (long)half || k == c + (long)half) m *= 0.5;
      g += m;
    }
    group_rms[h] = (float)sqrt(g);
  }
}

void ingest__subgroups(const kiss_fft_cpx *X, unsigned n, unsigned cycles, float *sg, float *ig,
                       float *isg, unsigned hmax)
{
  const double norm = 2.0 / ((double)n * (double)n);
  const long top = (long)n / 2;
#define BIN(k) ((k) <= 0 || (k) >= top ? 0.0 : ((double)X[k].r * X[k].r + (double)X[k].i * X[k].i) * norm)
  for (unsigned h = 0; h <= hmax; h++) {
    long c = (long)h * cycles;
    double s = 0.0, g = 0.0, gi = 0.0;
    if (h > 0)
      for (long k = c - 1; k <= c + 1; k++) s += BIN(k);
    for (long i = 1; i < (long)cycles; i++) {
      double m = BIN(c + i);
      g += m;
      if (i >= 2 && i <= (long)cycles - 2) gi += m;
    }
    sg[h] = (float)sqrt(s);
    ig[h] = (float)sqrt(g);
    isg[h] = (float)sqrt(gi);
  }
#undef BIN
}
