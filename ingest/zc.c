/*
 * zc.c — zero-crossing and half-cycle tracker of one channel, and its Urms(1/2).
 *
 * Boundaries: a positive-going crossing is taken at the linear interpolation between the last
 * sample < 0 and the first ≥ 0, once the signal has been below −h since the previous one
 * (hysteresis h: 10 % of the declared peak for voltages; 10 % of the tracked peak for a current
 * used as reference); negative-going likewise. Crossings closer than 0.3 half-cycle to the
 * previous boundary are ignored. When no crossing arrives within 1.5 estimated half cycles
 * (interruption, very low voltage), a synthetic boundary is placed on a sample edge and further
 * ones every estimated half cycle, so Urms(1/2) and the windows keep their cadence.
 *
 * Urms(1/2): Σx² is accumulated per half cycle with the boundary sample split at the
 * boundary (each sample stands for [n − ½, n + ½)); at each boundary the rms over the last two
 * half cycles — one full cycle starting at a boundary — is sqrt(Σx² / length). The half cycle
 * open at the start of the run is partial and never used.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

void ingest__zc_init(struct ingest__zc *z, int ch, double scale, double offset, double h,
                     bool adaptive, double half_nom)
{
  memset(z, 0, sizeof *z);
  z->ch = ch;
  z->scale = scale;
  z->offset = offset;
  z->h = h;
  z->adaptive = adaptive;
  z->half_nom = half_nom;
  z->half_est = half_nom;
  z->last_b = -0.5;       /* start-of-run pseudo boundary: not valid as a cycle start */
  z->last_real = false;
  z->started = false;
  z->last_pol = -1;
  z->seg_valid = false;
  z->prev_valid = false;
}

/* Close the open half cycle at t; seg_sum already holds its part of every sample up to the
 * boundary. */
static void close_half(struct ingest__zc *z, double t, int pol, bool real,
                       struct ingest__zc_out *o)
{
  o->n = 1;
  o->t = t;
  o->pol = pol;
  o->real = real;
  o->urms_valid = false;
  if (z->seg_valid && z->prev_valid) {
    double len = t - z->prev_start;
    if (len > 0.0) {
      o->urms_valid = true;
      o->urms = sqrt((z->prev_sum + z->seg_sum) / len);
      o->urms_start = z->prev_start;
    }
  }
  if (real && z->last_real && z->started) {
    double m = t - z->last_b;
    if (m > 0.6 * z->half_nom && m < 1.6 * z->half_nom) z->half_est = 0.5 * (z->half_est + m);
  }
  z->prev_sum = z->seg_sum;
  z->prev_start = z->last_b;
  z->prev_valid = z->seg_valid;
  z->seg_sum = 0.0;
  z->seg_valid = true;
  z->last_b = t;
  z->last_real = real;
  z->last_pol = pol;
  z->started = true;
}

void ingest__zc_step(struct ingest__zc *z, double raw, uint64_t n, struct ingest__zc_out *o)
{
  double x = raw * z->scale + z->offset;
  double x2 = x * x;
  double prev = z->prev;
  double fn = (double)n;
  o->n = 0;

  if (z->adaptive) {
    double ax = fabs(x);
    z->peak = ax > z->peak ? ax : z->peak * 0.99995;
    z->h = 0.1 * z->peak;
  }

  int pol = 0;
  double t = 0.0;
  if (z->arm_pos && prev < 0.0 && x >= 0.0) {
    pol = 1;
    z->arm_pos = false;
  } else if (z->arm_neg && prev > 0.0 && x <= 0.0) {
    pol = -1;
    z->arm_neg = false;
  }
  if (pol != 0) {
    double d = x - prev;
    t = (fn - 1.0) + (d != 0.0 ? -prev / d : 1.0);
    if (t - z->last_b < 0.3 * z->half_nom && z->started) pol = 0; /* too close: noise */
  }
  if (x < -z->h) z->arm_pos = true;
  if (x > z->h) z->arm_neg = true;

  if (pol != 0) {
    /* split samples n-1 and n at t (sample m covers [m - 1/2, m + 1/2)) */
    double xp2 = prev * prev;
    double w_old_prev = t - (fn - 1.5);        /* part of sample n-1 before t */
    if (w_old_prev > 1.0) w_old_prev = 1.0;
    if (w_old_prev < 0.0) w_old_prev = 0.0;
    double w_old_cur = t - (fn - 0.5);          /* part of sample n before t */
    if (w_old_cur < 0.0) w_old_cur = 0.0;
    double moved = (1.0 - w_old_prev) * xp2;
    z->seg_sum += w_old_cur * x2 - moved;
    close_half(z, t, pol, true, o);
    z->seg_sum = moved + (1.0 - w_old_cur) * x2;
  } else {
    double limit = z->last_real || !z->started ? 1.5 * z->half_est : z->half_est;
    if (fn - 0.5 - z->last_b >= limit) {
      close_half(z, fn - 0.5, -z->last_pol, false, o);
      z->arm_pos = z->arm_neg = false;
    }
    z->seg_sum += x2;
  }
  z->prev = x;
}
