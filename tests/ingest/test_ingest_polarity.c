/*
 * test_ingest_polarity.c — the installation checks: a reversed CT on a load-only branch and a
 * current mapped to the wrong phase, judged from window powers (ingest/polarity.c).
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "ingest.h"

/* P, Q, S of a load of |S| = s at power-factor angle phi_deg seen through a measurement rotated
 * by rot_deg (180 = reversed CT, ±120 = other phase). */
static void pqs(double s, double phi_deg, double rot_deg, double *p, double *q)
{
  double a = (phi_deg + rot_deg) * M_PI / 180.0;
  *p = s * cos(a);
  *q = s * sin(a);
}

static int feed(struct ingest_polarity *st, bool load_only, double s, double phi, double rot, int n, int *first_at)
{
  int verdict = INGEST_POL_NONE;
  *first_at = -1;
  for (int i = 0; i < n; i++) {
    double p, q;
    pqs(s, phi, rot, &p, &q);
    int v = ingest_polarity_update(st, load_only, p, q, s, 5);
    if (v != INGEST_POL_NONE && *first_at < 0) { *first_at = i; verdict = v; }
  }
  return verdict;
}

static void reversed_ct_on_load_only_branch(void **state)
{
  (void)state;
  struct ingest_polarity st;
  int at;
  ingest_polarity_init(&st);
  assert_int_equal(feed(&st, true, 2000, 10, 180, 20, &at), INGEST_POL_REVERSED);
  assert_int_equal(at, 4);               /* on the 5th window */
  ingest_polarity_init(&st);
  assert_int_equal(feed(&st, false, 2000, 10, 180, 20, &at), INGEST_POL_NONE); /* may export */
  ingest_polarity_init(&st);
  assert_int_equal(feed(&st, true, 2000, 25, 0, 20, &at), INGEST_POL_NONE);    /* a normal load */
}

static void reported_once_and_needs_consecutive_evidence(void **state)
{
  (void)state;
  struct ingest_polarity st;
  ingest_polarity_init(&st);
  double p, q;
  pqs(1000, 0, 180, &p, &q);
  for (int i = 0; i < 4; i++) assert_int_equal(ingest_polarity_update(&st, true, p, q, 1000, 5), INGEST_POL_NONE);
  /* one normal window resets the run */
  assert_int_equal(ingest_polarity_update(&st, true, -p, -q, 1000, 5), INGEST_POL_NONE);
  for (int i = 0; i < 4; i++) assert_int_equal(ingest_polarity_update(&st, true, p, q, 1000, 5), INGEST_POL_NONE);
  assert_int_equal(ingest_polarity_update(&st, true, p, q, 1000, 5), INGEST_POL_REVERSED);
  for (int i = 0; i < 10; i++) assert_int_equal(ingest_polarity_update(&st, true, p, q, 1000, 5), INGEST_POL_NONE);
}

static void phase_map_mismatch(void **state)
{
  (void)state;
  struct ingest_polarity st;
  int at;
  ingest_polarity_init(&st);
  assert_int_equal(feed(&st, false, 3000, 0, 120, 10, &at), INGEST_POL_PHASE_MAP);
  ingest_polarity_init(&st);
  assert_int_equal(feed(&st, true, 3000, 5, -120, 10, &at), INGEST_POL_PHASE_MAP);
  assert_int_equal(at, 4);
}

static void too_little_power_is_not_evidence(void **state)
{
  (void)state;
  struct ingest_polarity st;
  int at;
  ingest_polarity_init(&st);
  assert_int_equal(feed(&st, true, 5, 0, 180, 50, &at), INGEST_POL_NONE);  /* 5 VA phantom load */
  assert_int_equal(ingest_polarity_update(&st, true, NAN, 0, 100, 5), INGEST_POL_NONE);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(reversed_ct_on_load_only_branch),
    cmocka_unit_test(reported_once_and_needs_consecutive_evidence),
    cmocka_unit_test(phase_map_mismatch),
    cmocka_unit_test(too_little_power_is_not_evidence),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
