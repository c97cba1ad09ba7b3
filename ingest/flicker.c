/*
 * flicker.c — the IEC 61000-4-15 flickermeter of one voltage channel: instantaneous flicker
 * sensation Pinst, short-term severity Pst (10 min) and long-term Plt (2 h).
 *
 * Block chain (all filters by the bilinear transform, double precision):
 *   1. input adaptor: u² divided by its mean square, tracked by a first-order low-pass with a
 *      60 s time constant (started from the mean square of the first cycle, so the chain
 *      starts settled), minus 1 — the normalised squaring demodulator. u² is averaged over
 *      D = floor(fs / 1000) samples and the rest of the chain runs at fs / D (≥ 1 kHz): the
 *      average's gain is within 0.3 % of 1 up to 35 Hz, and the carrier terms (2f and its
 *      harmonic products) it lets through lie above 35 Hz, where block 2 removes them;
 *   2. band-pass: first-order high-pass 0.05 Hz, sixth-order Butterworth low-pass (three
 *      biquads, pre-warped) at 35 Hz on 50 Hz supplies and 42 Hz on 60 Hz supplies (IEC
 *      61000-4-15 Ed. 2; with 35 Hz on 60 Hz the Table 1b/2b/5 points at 33⅓–40 Hz read 0.5–0.85
 *      of their value) — removes DC and the 2f carrier terms;
 *   3. lamp–eye–brain weighting filter
 *        W(s) = k·ω1·s / (s² + 2λs + ω1²) · (1 + s/ω2) / ((1 + s/ω3)(1 + s/ω4))
 *      with the standard's coefficients for the 230 V / 50 Hz and the 120 V / 60 Hz lamp;
 *   4. squaring and a first-order low-pass of 300 ms, times the gain that makes the peak
 *      output 1.0 for the reference fluctuation (sinusoidal 8.8 Hz, ΔV/V = 0.25 %, 230 V lamp;
 *      computed in closed form from the filters' responses, the same gain for both lamps);
 *   5. statistics: Pinst is sampled at ≈ 200 Hz into a classifier of INGEST_FLICKER_CLASSES
 *      logarithmic classes (1e-4 … 1e4, 0.9 % wide, linear interpolation inside a class), and
 *        Pst = sqrt(0.0314·P0.1 + 0.0525·P1s + 0.0657·P3s + 0.28·P10s + 0.08·P50s)
 *      with the smoothed percentiles P1s = (P0.7+P1+P1.5)/3, P3s = (P2.2+P3+P4)/3,
 *      P10s = (P6+P8+P10+P13+P17)/5, P50s = (P30+P50+P80)/3; Plt = ∛(Σ Pst³ / N).
 * The first 5 s after start are not classified: the filters' start-up transients (the 2f
 * carrier switching on, the 0.05 Hz high-pass) would read as flicker.
 * No allocation: the state is the caller's struct.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

#define LOG_MIN (-4.0)
#define LOG_SPAN 8.0

/* analog (b0 + b1 s + b2 s²)/(a0 + a1 s + a2 s²) → digital biquad, s = c(1 − z⁻¹)/(1 + z⁻¹) */
static void bilinear(double *q, double c, const double b[3], const double a[3])
{
  double c2 = c * c;
  double n0 = b[0] + b[1] * c + b[2] * c2, n1 = 2 * b[0] - 2 * b[2] * c2, n2 = b[0] - b[1] * c + b[2] * c2;
  double d0 = a[0] + a[1] * c + a[2] * c2, d1 = 2 * a[0] - 2 * a[2] * c2, d2 = a[0] - a[1] * c + a[2] * c2;
  q[0] = n0 / d0; q[1] = n1 / d0; q[2] = n2 / d0; q[3] = d1 / d0; q[4] = d2 / d0;
  q[5] = q[6] = 0.0;
}

/* first-order analog (b0 + b1 s)/(a0 + a1 s): no pole–zero pair at z = −1 */
static void bilinear1(double *q, double c, double b0, double b1, double a0, double a1)
{
  double d0 = a0 + a1 * c;
  q[0] = (b0 + b1 * c) / d0; q[1] = (b0 - b1 * c) / d0; q[2] = 0.0;
  q[3] = (a0 - a1 * c) / d0; q[4] = 0.0;
  q[5] = q[6] = 0.0;
}

static inline double section(double *q, double x)
{
  /* transposed direct form II */
  double y = q[0] * x + q[5];
  q[5] = q[1] * x - q[3] * y + q[6];
  q[6] = q[2] * x - q[4] * y;
  return y;
}

struct lamp { double k, lambda, f1, f2, f3, f4; };
static const struct lamp lamps[2] = {
  {1.74802, 4.05981, 9.15494, 2.27979, 1.22535, 21.9},      /* 230 V, 50 Hz */
  {1.6357, 4.167375, 9.077169, 2.939902, 1.394468, 17.31512}, /* 120 V, 60 Hz */
};

/* |W(j2πf)| of a lamp's weighting filter (analog prototype) */
static double weight_gain(const struct lamp *l, double f)
{
  double w = 2 * M_PI * f, w1 = 2 * M_PI * l->f1, w2 = 2 * M_PI * l->f2;
  double w3 = 2 * M_PI * l->f3, w4 = 2 * M_PI * l->f4, lam = 2 * M_PI * l->lambda;
  double re = w1 * w1 - w * w, im = 2 * lam * w;
  double g1 = l->k * w1 * w / sqrt(re * re + im * im);
  double g2 = sqrt(1 + (w / w2) * (w / w2)) / sqrt((1 + (w / w3) * (w / w3)) * (1 + (w / w4) * (w / w4)));
  return g1 * g2;
}

/* |band-pass(j2πf)| of block 3's 0.05 Hz high-pass and 35 Hz sixth-order Butterworth (at the
 * reference 8.8 Hz the 42 Hz low-pass of 60 Hz supplies differs from it by 6·10⁻⁸) */
static double band_gain(double f)
{
  double hp = (f / 0.05) / sqrt(1 + (f / 0.05) * (f / 0.05));
  double lp = 1.0 / sqrt(1 + pow(f / 35.0, 12));
  return hp * lp;
}

double ingest_flicker_gain(void)
{
  const double d = 0.0025, fm = 8.8, tau = 0.3;
  double g = d * weight_gain(&lamps[0], fm) * band_gain(fm);
  double ripple = 1.0 / sqrt(1 + pow(2 * M_PI * 2 * fm * tau, 2));
  return 1.0 / (g * g / 2.0 * (1.0 + ripple));
}

int ingest_flicker_init(struct ingest_flicker *f, double fs, double nominal_hz, int lamp)
{
  memset(f, 0, sizeof *f);
  if (!(fs >= 400.0 && fs <= 1e6) || !(nominal_hz > 0) || (lamp != INGEST_LAMP_230V && lamp != INGEST_LAMP_120V))
    return INGEST_ECONFIG;
  const struct lamp *l = &lamps[lamp];
  f->D = (unsigned)floor(fs / 1000.0);
  if (f->D < 1) f->D = 1;
  const double fr = fs / f->D; /* rate of blocks 2–4 */
  const double c = 2.0 * fr;
  f->fs = fs;
  f->lamp = lamp;
  f->ms_need = (unsigned)lround(fs / nominal_hz);
  f->ms_a = 1.0 / (60.0 * fr);
  bilinear1(f->q[0], c, 0.0, 1.0, 2 * M_PI * 0.05, 1.0);
  const double wc = 2 * M_PI * (nominal_hz >= 55.0 ? 42.0 : 35.0), cw = wc / tan(wc / (2.0 * fr));
  static const double qs[3] = {0.51763809, 0.70710678, 1.93185165};
  for (int k = 0; k < 3; k++) {
    const double b[3] = {wc * wc, 0, 0}, a[3] = {wc * wc, wc / qs[k], 1};
    bilinear(f->q[1 + k], cw, b, a);
  }
  double w1 = 2 * M_PI * l->f1, w2 = 2 * M_PI * l->f2, w3 = 2 * M_PI * l->f3, w4 = 2 * M_PI * l->f4;
  double lam = 2 * M_PI * l->lambda;
  const double b4[3] = {0, l->k * w1, 0}, a4[3] = {w1 * w1, 2 * lam, 1};
  bilinear(f->q[4], c, b4, a4);
  const double b5[3] = {1, 1 / w2, 0}, a5[3] = {1, 1 / w3 + 1 / w4, 1 / (w3 * w4)};
  bilinear(f->q[5], c, b5, a5);
  bilinear1(f->q[6], c, 1.0, 0.0, 1.0, 0.3);
  f->gain = ingest_flicker_gain();
  f->dec = (unsigned)lround(fr / 200.0);
  if (f->dec < 1) f->dec = 1;
  f->settle = (uint64_t)lround(5.0 * fr);
  return 0;
}

static void classify(struct ingest_flicker *f, double p)
{
  int k = 0;
  if (p > 0) {
    double x = (log10(p) - LOG_MIN) / LOG_SPAN * INGEST_FLICKER_CLASSES;
    k = x < 0 ? 0 : x >= INGEST_FLICKER_CLASSES ? INGEST_FLICKER_CLASSES - 1 : (int)x;
  }
  f->hist[k]++;
  f->nclass++;
  if (p > f->pinst_max) f->pinst_max = p;
}

double ingest_flicker_step(struct ingest_flicker *f, double x)
{
  double x2 = x * x;
  if (!f->ready) {
    f->ms += x2;
    if (++f->ms_n < f->ms_need) return 0.0;
    f->ms /= f->ms_n;
    f->ready = f->ms > 0;
    if (!f->ready) { f->ms = 0; f->ms_n = 0; }
    return 0.0;
  }
  f->acc += x2;
  if (++f->acc_n < f->D) return f->pinst;
  x2 = f->acc / f->D;
  f->acc = 0;
  f->acc_n = 0;
  double v = x2 / f->ms - 1.0;
  f->ms += f->ms_a * (x2 - f->ms);
  for (int k = 0; k < 6; k++) v = section(f->q[k], v);
  double p = f->gain * section(f->q[6], v * v);
  f->pinst = p;
  f->n++;
  if (f->n > f->settle && ++f->dec_n >= f->dec) {
    f->dec_n = 0;
    classify(f, p);
  }
  return p;
}

/* level exceeded by a fraction pct/100 of the classified samples */
static double percentile(const struct ingest_flicker *f, double pct)
{
  double target = pct / 100.0 * (double)f->nclass, above = 0.0;
  for (int k = INGEST_FLICKER_CLASSES - 1; k >= 0; k--) {
    double c = f->hist[k];
    if (c > 0 && above + c >= target) {
      double frac = (target - above) / c; /* from the class's top edge down */
      double hi = (double)(k + 1) / INGEST_FLICKER_CLASSES * LOG_SPAN + LOG_MIN;
      double lo = (double)k / INGEST_FLICKER_CLASSES * LOG_SPAN + LOG_MIN;
      if (k == 0) return pow(10.0, hi) * (1.0 - frac);
      return pow(10.0, hi) - frac * (pow(10.0, hi) - pow(10.0, lo));
    }
    above += c;
  }
  return 0.0;
}

double ingest_flicker_pst(const struct ingest_flicker *f)
{
  if (f->nclass == 0) return NAN;
#define P(x) percentile(f, x)
  double p1s = (P(0.7) + P(1) + P(1.5)) / 3, p3s = (P(2.2) + P(3) + P(4)) / 3;
  double p10s = (P(6) + P(8) + P(10) + P(13) + P(17)) / 5, p50s = (P(30) + P(50) + P(80)) / 3;
  double s = 0.0314 * P(0.1) + 0.0525 * p1s + 0.0657 * p3s + 0.28 * p10s + 0.08 * p50s;
#undef P
  return sqrt(s > 0 ? s : 0);
}

void ingest_flicker_reset_stats(struct ingest_flicker *f)
{
  memset(f->hist, 0, sizeof f->hist);
  f->nclass = 0;
  f->pinst_max = 0;
}

double ingest_flicker_plt(const double *pst, unsigned n)
{
  if (n == 0) return NAN;
  double s = 0;
  for (unsigned k = 0; k < n; k++) s += pst[k] * pst[k] * pst[k];
  return cbrt(s / n);
}
