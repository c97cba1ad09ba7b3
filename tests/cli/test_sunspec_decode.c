/*
 * test_sunspec_decode.c — the SunSpec decoder of `hems bridge sunspec` (cli/sunspec_decode.c)
 * without sockets. Expected values come from the SunSpec model definitions (sunspec/models
 * json/model_<id>.json: point offsets, "SunS" = 0x5375 0x6E53, the end model 0xFFFF) and the
 * information model's not-implemented values (int16 0x8000, uint16/enum16 0xFFFF, uint32
 * 0xFFFFFFFF, sunssf 0x8000), with scaled values worked out by hand here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include "sunspec.h"
#include "journal.h"

static void test_marker_and_bases(void **state)
{
  (void)state;
  assert_true(sunspec_is_marker(0x5375, 0x6E53)); /* "SunS" */
  assert_false(sunspec_is_marker(0x6E53, 0x5375));
  assert_int_equal(sunspec_bases[0], 40000);
  assert_int_equal(sunspec_bases[1], 0);
  assert_int_equal(sunspec_bases[2], 50000);
}

static void test_walk(void **state)
{
  (void)state;
  struct sunspec_chain c;
  memset(&c, 0, sizeof c);
  uint16_t next = 0;
  /* SunS at 40000: model 1 (66) at 40002, model 103 (50) at 40070, end at 40122 */
  assert_int_equal(sunspec_walk(&c, 40002, 1, 66, &next), SUNSPEC_NEXT);
  assert_int_equal(next, 40070);
  assert_int_equal(sunspec_walk(&c, 40070, 103, 50, &next), SUNSPEC_NEXT);
  assert_int_equal(next, 40122);
  assert_int_equal(sunspec_walk(&c, 40122, 0xFFFF, 0, &next), SUNSPEC_DONE);
  assert_int_equal(c.n, 2);
  assert_int_equal(c.m[0].addr, 40004);
  assert_int_equal(c.m[1].addr, 40072);
  /* a length that leaves the address space */
  assert_int_equal(sunspec_walk(&c, 65000, 7, 600, &next), SUNSPEC_BAD);
  /* a chain that never ends */
  memset(&c, 0, sizeof c);
  uint16_t a = 2;
  int s = SUNSPEC_NEXT;
  for (int i = 0; i < 1000 && s == SUNSPEC_NEXT; i++) s = sunspec_walk(&c, a, 7, 0, &a);
  assert_int_equal(s, SUNSPEC_BAD);
  assert_int_equal(c.n, SUNSPEC_MODELS_MAX);
}

static void test_scale(void **state)
{
  (void)state;
  int64_t v;
  assert_true(sunspec_scale_milli(345, 1, &v));
  assert_int_equal(v, 3450000);     /* 345 × 10 W = 3450 W */
  assert_true(sunspec_scale_milli(5001, -2, &v));
  assert_int_equal(v, 50010);       /* 50.01 Hz */
  assert_true(sunspec_scale_milli(-4567, -4, &v));
  assert_int_equal(v, -457);        /* -0.4567 → -0.457, half away from zero */
  assert_true(sunspec_scale_milli(5, -4, &v));
  assert_int_equal(v, 1);           /* 0.0005 → 0.001 */
  assert_false(sunspec_scale_milli(1, 11, &v));
  assert_false(sunspec_scale_milli(1, -11, &v));
  assert_false(sunspec_scale_milli(4294967295ll, 10, &v)); /* does not fit */
}

static void fill(uint16_t *r, unsigned n, uint16_t v)
{
  for (unsigned i = 0; i < n; i++) r[i] = v;
}

static void test_inverter(void **state)
{
  (void)state;
  uint16_t r[50];
  struct sunspec_obs o;
  fill(r, 50, 0xFFFF);
  r[12] = 345; r[13] = 1;            /* W, W_SF */
  r[14] = 5001; r[15] = (uint16_t)-2; /* Hz, Hz_SF */
  r[36] = 4;                         /* St MPPT */
  memset(&o, 0, sizeof o);
  assert_int_equal(sunspec_decode_model(&o, 103, r, 50), 0);
  assert_true(o.have_w && o.w_mw == 3450000 && o.have_hz && o.hz_mhz == 50010);
  assert_int_equal(sunspec_der_state(&o, false), JOURNAL_DERST_PRODUCING);
  r[12] = 0x8000;                    /* W not implemented */
  memset(&o, 0, sizeof o);
  assert_int_equal(sunspec_decode_model(&o, 101, r, 50), 0);
  assert_false(o.have_w);
  r[12] = 0; r[13] = 0x8000;         /* W 0 but W_SF not implemented */
  memset(&o, 0, sizeof o);
  assert_int_equal(sunspec_decode_model(&o, 102, r, 50), 0);
  assert_false(o.have_w);
  r[13] = 0;                         /* 0 W, SF 0: a reading */
  memset(&o, 0, sizeof o);
  assert_int_equal(sunspec_decode_model(&o, 103, r, 50), 0);
  assert_true(o.have_w && o.w_mw == 0);
  r[36] = 0xFFFF;                    /* St not implemented: no state */
  memset(&o, 0, sizeof o);
  assert_int_equal(sunspec_decode_model(&o, 103, r, 50), 0);
  assert_int_equal(sunspec_der_state(&o, false), -1);
  memset(&o, 0, sizeof o);
  assert_int_equal(sunspec_decode_model(&o, 103, r, 49), -1); /* too short */
  assert_int_equal(o.models, 0);
}

static void test_storage_battery(void **state)
{
  (void)state;
  uint16_t s[24], b[62];
  struct sunspec_obs o;
  fill(s, 24, 0xFFFF);
  s[6] = 523; s[20] = (uint16_t)-1;  /* ChaState 52.3 % */
  s[9] = 4;                          /* ChaSt CHARGING */
  memset(&o, 0, sizeof o);
  assert_int_equal(sunspec_decode_model(&o, 124, s, 24), 0);
  assert_true(o.have_soc && o.soc_mpct == 52300);
  assert_int_equal(sunspec_der_state(&o, true), JOURNAL_DERST_CHARGING);
  fill(b, 62, 0xFFFF);
  b[9] = 800; b[54] = (uint16_t)-1;  /* SoC 80.0 %, SoC_SF -1 */
  b[20] = 99;                        /* State FAULT */
  b[45] = (uint16_t)-1500; b[61] = 0; /* W -1500 */
  memset(&o, 0, sizeof o);
  assert_int_equal(sunspec_decode_model(&o, 802, b, 62), 0);
  assert_true(o.have_soc && o.soc_mpct == 80000 && o.have_w && o.w_mw == -1500000);
  assert_int_equal(sunspec_der_state(&o, true), JOURNAL_DERST_FAULT);
  b[9] = 0xFFFF; b[45] = 0x8000; b[20] = 3; b[14] = 3; /* SoC, W not implemented; DISCHARGING */
  memset(&o, 0, sizeof o);
  assert_int_equal(sunspec_decode_model(&o, 802, b, 62), 0);
  assert_false(o.have_soc || o.have_w);
  assert_int_equal(sunspec_der_state(&o, true), JOURNAL_DERST_DISCHARGING);
}

static void test_der_ac_and_common(void **state)
{
  (void)state;
  uint16_t r[153], c[66];
  struct sunspec_obs o;
  fill(r, 153, 0xFFFF);
  r[2] = 5;                          /* InvSt THROTTLED */
  r[3] = 2;                          /* ConnSt CONNECTED */
  r[8] = 1200; r[114] = (uint16_t)-1; /* W 120.0 W */
  r[15] = 0; r[16] = 50000; r[113] = (uint16_t)-3; /* Hz uint32 50.000 */
  memset(&o, 0, sizeof o);
  assert_int_equal(sunspec_decode_model(&o, 701, r, 153), 0);
  assert_true(o.have_w && o.w_mw == 120000 && o.have_hz && o.hz_mhz == 50000);
  assert_int_equal(sunspec_der_state(&o, false), JOURNAL_DERST_THROTTLED);
  memset(c, 0, sizeof c);
  c[0] = 'h' << 8 | 'e'; c[1] = 'm' << 8 | 's'; c[2] = 0x01 << 8 | 'x'; /* a control byte: '?' */
  c[48] = 'S' << 8 | 'N';
  memset(&o, 0, sizeof o);
  assert_int_equal(sunspec_decode_model(&o, 1, c, 66), 0);
  assert_string_equal(o.mn, "hems?x");
  assert_string_equal(o.sn, "SN");
  assert_string_equal(o.md, "");
  assert_int_equal(sunspec_decode_model(&o, 64200, c, 66), -1);
}

/* DER commands as register writes (sunspec_control.c): percent of the rating = raw × 10^SF
 * (SunSpec), so permille p is raw p × 10^(-1 - SF), rounded down (a limit is never written above
 * what was commanded); revert timers the device has set are written 0 first; and the readback
 * check. */
static void test_control_plan(void **st)
{
  (void)st;
  struct sunspec_obs o;
  struct sunspec_write w[SUNSPEC_WRITES_MAX];
  const char *why = NULL;
  uint16_t m[24];
  memset(&o, 0, sizeof o);
  assert_int_equal(sunspec_plan(&o, JOURNAL_DERA_CONNECT, 0, w, &why), -1); /* no model 123 */
  assert_non_null(why);
  fill(m, 24, 0xFFFF);
  m[2] = 1; m[3] = 100; m[7] = 0; m[21] = 0;                 /* Conn 1, WMaxLimPct 100 %, SF 0 */
  assert_int_equal(sunspec_decode_model(&o, 123, m, 24), 0);
  assert_int_equal(sunspec_plan(&o, JOURNAL_DERA_DISCONNECT, 0, w, &why), 1);
  assert_true(w[0].model == 123 && w[0].offset == 2 && w[0].value == 0);
  assert_int_equal(sunspec_plan(&o, JOURNAL_DERA_LIMIT, 400, w, &why), 2);
  assert_true(w[0].offset == 3 && w[0].value == 40 && w[1].offset == 7 && w[1].value == 1); /* 40 % */
  assert_int_equal(sunspec_plan(&o, JOURNAL_DERA_LIMIT, 255, w, &why), 2);
  assert_int_equal(w[0].value, 25);                                                        /* 25.5 % → 25: never above */
  o.m123[5] = 60; /* WMaxLimPct_RvrtTms set: written 0 first, so the device does not revert the limit */
  assert_int_equal(sunspec_plan(&o, JOURNAL_DERA_LIMIT, 400, w, &why), 3);
  assert_true(w[0].offset == 5 && w[0].value == 0 && w[1].offset == 3 && w[1].value == 40 && w[2].offset == 7);
  o.m123[5] = 0xFFFF;
  o.m123[21] = (uint16_t)-2;
  assert_int_equal(sunspec_plan(&o, JOURNAL_DERA_LIMIT, 255, w, &why), 2);
  assert_int_equal(w[0].value, 2550);                                                      /* 25.50 % */
  o.m123[21] = 1;
  assert_int_equal(sunspec_plan(&o, JOURNAL_DERA_LIMIT, 400, w, &why), 2);
  assert_int_equal(w[0].value, 4);                                                         /* 4 × 10 % */
  o.m123[21] = 0x8000;
  assert_int_equal(sunspec_plan(&o, JOURNAL_DERA_LIMIT, 400, w, &why), -1);                 /* SF not implemented */
  o.m123[21] = (uint16_t)-4;
  assert_int_equal(sunspec_plan(&o, JOURNAL_DERA_LIMIT, 1000, w, &why), -1);                /* 1 000 000 > uint16 */
  assert_int_equal(sunspec_plan(&o, JOURNAL_DERA_CHARGE_LIMIT, 100, w, &why), -1);          /* no model 124 */
  /* the readback: the limit shows once both registers read back */
  o.m123[21] = 0;
  assert_int_equal(sunspec_plan(&o, JOURNAL_DERA_LIMIT, 400, w, &why), 2);
  assert_false(sunspec_shows(&o, false, JOURNAL_DERA_LIMIT, w, 2));
  o.m123[3] = 40;
  assert_false(sunspec_shows(&o, false, JOURNAL_DERA_LIMIT, w, 2));
  o.m123[7] = 1;
  assert_true(sunspec_shows(&o, false, JOURNAL_DERA_LIMIT, w, 2));
  /* disconnect shows when Conn reads 0 and the inverter says off, sleeping or standby */
  assert_int_equal(sunspec_plan(&o, JOURNAL_DERA_DISCONNECT, 0, w, &why), 1);
  o.m123[2] = 0;
  o.inv_st = 4; /* MPPT */
  assert_false(sunspec_shows(&o, false, JOURNAL_DERA_DISCONNECT, w, 1));
  o.inv_st = 8; /* STANDBY */
  assert_true(sunspec_shows(&o, false, JOURNAL_DERA_DISCONNECT, w, 1));
  /* storage: InWRte / OutWRte at InOutWRte_SF, StorCtl_Mod keeps the other bit */
  fill(m, 24, 0xFFFF);
  m[3] = 2; m[23] = (uint16_t)-1; m[9] = 4;
  assert_int_equal(sunspec_decode_model(&o, 124, m, 24), 0);
  assert_int_equal(sunspec_plan(&o, JOURNAL_DERA_CHARGE_LIMIT, 255, w, &why), 2);
  assert_true(w[0].model == 124 && w[0].offset == 11 && w[0].value == 255 && w[1].offset == 3 && w[1].value == 3);
  assert_int_equal(sunspec_plan(&o, JOURNAL_DERA_DISCHARGE_LIMIT, 1000, w, &why), 2);
  assert_true(w[0].offset == 10 && w[0].value == 1000 && w[1].value == 2);
  o.m124[3] = 0xFFFF; /* StorCtl_Mod not implemented: only the bit asked */
  assert_int_equal(sunspec_plan(&o, JOURNAL_DERA_CHARGE_LIMIT, 10, w, &why), 2);
  assert_int_equal(w[1].value, 1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_marker_and_bases),
    cmocka_unit_test(test_walk),
    cmocka_unit_test(test_scale),
    cmocka_unit_test(test_inverter),
    cmocka_unit_test(test_storage_battery),
    cmocka_unit_test(test_der_ac_and_common),
    cmocka_unit_test(test_control_plan),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
