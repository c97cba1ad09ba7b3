/*
 * rms.c — the fast RMS path: integer per-cycle RMS and peak of instantaneous branch currents.
 *
 * Invariants: integer arithmetic only; samples are clamped to ±2^24 mA (16.7 kA, far above any
 * branch) so a cycle's sum of squares (2^48 per sample, < 2^16 samples) fits in 64 bits; no
 * allocation, O(1) per sample.
 */
#include "actuators.h"

#include <string.h>

#define SAMPLE_CLAMP_MA (1 << 24)

uint32_t actuator_isqrt64(uint64_t v)
{
  uint64_t r = 0, bit = 1ull << 62;
  while (bit > v) bit >>= 2;
  while (bit) {
    if (v >= r + bit) { v -= r + bit; r = (r >> 1) + bit; }
    else r >>= 1;
    bit >>= 2;
  }
  return (uint32_t)r;
}

void actuator_rms_init(struct actuator_rms *r, unsigned samples_per_cycle)
{
  memset(r, 0, sizeof *r);
  r->samples_per_cycle = samples_per_cycle ? samples_per_cycle : 160;
  if (r->samples_per_cycle > 65535) r->samples_per_cycle = 65535; /* keeps sum_sq in 64 bits */
}

bool actuator_rms_push(struct actuator_rms *r, unsigned k, int32_t sample_ma)
{
  if (k >= HW_MAX_BRANCHES) return false;
  if (sample_ma > SAMPLE_CLAMP_MA) sample_ma = SAMPLE_CLAMP_MA;
  if (sample_ma < -SAMPLE_CLAMP_MA) sample_ma = -SAMPLE_CLAMP_MA;
  int32_t a = sample_ma < 0 ? -sample_ma : sample_ma;
  r->sum_sq[k] += (uint64_t)((int64_t)a * a);
  if (a > r->peak[k]) r->peak[k] = a;
  if (++r->n[k] < r->samples_per_cycle) return false;
  r->rms_ma[k] = (int32_t)actuator_isqrt64(r->sum_sq[k] / r->n[k]);
  r->peak_ma[k] = r->peak[k];
  r->n[k] = 0;
  r->sum_sq[k] = 0;
  r->peak[k] = 0;
  return true;
}
