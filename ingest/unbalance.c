/*
 * unbalance.c — supply voltage unbalance (IEC 61000-4-30 §5.7) from the symmetrical
 * components of the fundamental phasors of phases A, B, C (in that order, positive sequence
 * A → B → C):
 *   U1 = (Ua + a·Ub + a²·Uc)/3,  U2 = (Ua + a²·Ub + a·Uc)/3,  U0 = (Ua + Ub + Uc)/3,
 *   a = e^{j2π/3};  u2 = |U2|/|U1|·100 %,  u0 = |U0|/|U1|·100 %.
 * Phasors are taken from the same synchronised window, so their common reference cancels.
 */
#include "internal.h"

#include <math.h>

int ingest__unbalance(const double re[3], const double im[3], double *out_u2_pct,
                      double *out_u0_pct)
{
  const double ar = -0.5, ai = sqrt(3.0) / 2.0; /* a */
  /* a·Ub, a²·Ub (a² = conj(a)) */
  double bar = ar * re[1] - ai * im[1], bai = ar * im[1] + ai * re[1];
  double b2r = ar * re[1] + ai * im[1], b2i = ar * im[1] - ai * re[1];
  double car = ar * re[2] - ai * im[2], cai = ar * im[2] + ai * re[2];
  double c2r = ar * re[2] + ai * im[2], c2i = ar * im[2] - ai * re[2];
  double u1r = re[0] + bar + c2r, u1i = im[0] + bai + c2i;
  double u2r = re[0] + b2r + car, u2i = im[0] + b2i + cai;
  double u0r = re[0] + re[1] + re[2], u0i = im[0] + im[1] + im[2];
  double u1 = hypot(u1r, u1i);
  if (!(u1 > 0)) return -1;
  *out_u2_pct = 100.0 * hypot(u2r, u2i) / u1;
  *out_u0_pct = 100.0 * hypot(u0r, u0i) / u1;
  return 0;
}
