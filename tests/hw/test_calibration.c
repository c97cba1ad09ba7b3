/*
 * test_calibration.c — metering calibration (docs/operations.md "Calibration"):
 *   - the gain and phase register conversions against values worked out by hand from the
 *     formulas (xIGAIN = (gain − 1)·2^27; xPHCAL0 = (sin(φ−ω) + sin ω)/sin(2ω−φ)·2^27, ω = 2π f/8000);
 *   - the driver writes them at init and at run time and reads them back, and the independent
 *     emulator honours them: a known load pushed at the pins reads gain × the truth, and a phase
 *     correction turns P and Q by the angle (P = VI cos φ, Q = VI sin φ for a resistive load);
 *   - the panel config's "calibration" sections: defaults, one error line per bad field, left out
 *     of the canonical JSON while default (older configs keep their bytes), and a fixed point.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hw.h"
#include "sim/emul.h"

static void conversions(void **st)
{
  (void)st;
  /* 0.05 · 2^27 = 6710886.4 */
  assert_int_equal(hw_ade9000_gain_reg(1.0), 0);
  assert_int_equal(hw_ade9000_gain_reg(1.05), 6710886);
  assert_int_equal(hw_ade9000_gain_reg(0.95), -6710886);
  assert_int_equal(hw_ade9000_gain_reg(0.98), -2684355); /* −0.02 · 2^27 = −2684354.56 */
  assert_int_equal(hw_ade9000_gain_reg(2.0), 134217728);
  assert_int_equal(hw_ade9000_phcal_reg(0.0, false), 0);
  assert_int_equal(hw_ade9000_phcal_reg(0.0, true), 0);
  /* worked from the formula: 50 Hz, 1°: 38353399; 60 Hz, −0.5°: −11379375; 50 Hz, 2°: 107377249 */
  assert_int_equal(hw_ade9000_phcal_reg(1.0, false), 38353399);
  assert_int_equal(hw_ade9000_phcal_reg(-0.5, true), -11379375);
  assert_int_equal(hw_ade9000_phcal_reg(2.0, false), 107377249);
}

/* Seconds of a resistive load at the pins: V on every phase, I on phase p = (p + 1) · irms. */
static void push(struct ade_emul *e, double seconds, double vrms, double irms)
{
  unsigned n = (unsigned)(seconds * 8000);
  for (unsigned k = 0; k < n; k++) {
    double t = k / 8000.0, v[3], i[4] = { 0 };
    for (int p = 0; p < 3; p++) {
      double ph = 2 * M_PI * 50 * t - p * 2 * M_PI / 3;
      v[p] = vrms * sqrt(2) * sin(ph) / 1001.0;
      i[p] = irms * (p + 1) * sqrt(2) * sin(ph) / 200.0;
    }
    ade_emul_push(e, v, i);
  }
}

static void driver_and_emulator(void **st)
{
  (void)st;
  struct ade_emul *e = calloc(1, sizeof *e);
  ade_emul_init(e);
  struct hw_ade9000 dev;
  struct hw_ade9000_config c = { .nominal_v = 230 };
  for (int i = 0; i < 3; i++) c.v_ratio[i] = 1001;
  for (int i = 0; i < 4; i++) c.i_a_per_v[i] = 200;
  c.igain[0] = hw_ade9000_gain_reg(1.05); /* phase A current reads 5 % more */
  c.vgain[1] = hw_ade9000_gain_reg(0.98); /* phase B voltage 2 % less */
  c.phcal[2] = hw_ade9000_phcal_reg(2.0, false); /* phase C current delayed 2° */
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  /* the registers as the chip holds them (addresses from the facts: A 0x000/0x006/0x00B, +0x20 per phase) */
  assert_int_equal((int32_t)e->reg[0x000], 6710886);
  assert_int_equal((int32_t)e->reg[0x02B], -2684355);
  assert_int_equal((int32_t)e->reg[0x046], 107377249);
  int32_t held[3];
  assert_int_equal(hw_ade9000_get_calibration(&dev, 2, held), 0);
  assert_int_equal(held[0], 0);
  assert_int_equal(held[1], 107377249);
  push(e, 1.0, 230, 10);
  struct hw_ade9000_metrics m;
  assert_int_equal(hw_ade9000_read_metrics(&dev, &m), 0);
  assert_true(fabs(m.ph[0].irms_a - 10.5) / 10.5 < 0.001);
  assert_true(fabs(m.ph[0].p_w - 230 * 10.5) / 2415 < 0.001);
  assert_true(fabs(m.ph[0].energy_j - 230 * 10.5) / 2415 < 0.002);
  assert_true(fabs(m.ph[1].vrms_v - 230 * 0.98) / 225.4 < 0.001);
  assert_true(fabs(m.ph[1].p_w - 0.98 * 230 * 20) / 4508 < 0.001);
  double s = 230 * 30, phi = 2.0 * M_PI / 180;
  assert_true(fabs(m.ph[2].irms_a - 30) / 30 < 0.001); /* a delay keeps the rms */
  assert_true(fabs(m.ph[2].p_w - s * cos(phi)) / s < 0.001);
  assert_true(fabs(m.ph[2].q_var - s * sin(phi)) / s < 0.002); /* a delayed current lags: Q > 0 */
  /* at run time: phase A back to 1, read back, and the next results follow */
  assert_int_equal(hw_ade9000_set_calibration(&dev, 0, 0, 0, hw_ade9000_gain_reg(1.01)), 0);
  assert_int_equal(hw_ade9000_get_calibration(&dev, 0, held), 0);
  assert_int_equal(held[0], 0);
  assert_int_equal(held[2], hw_ade9000_gain_reg(1.01));
  assert_int_equal(dev.cfg.vgain[0], hw_ade9000_gain_reg(1.01));
  push(e, 1.0, 230, 10);
  assert_int_equal(hw_ade9000_read_metrics(&dev, &m), 0);
  assert_true(fabs(m.ph[0].irms_a - 10) / 10 < 0.001);
  assert_true(fabs(m.ph[0].vrms_v - 232.3) / 232.3 < 0.001);
  assert_int_equal(hw_ade9000_set_calibration(&dev, 3, 0, 0, 0), -EINVAL);
  free(e);
}

#define HEAD "{\"mains\":\"3ph-230-50\",\"service_limit_a\":40,\"afes\":[{\"index\":0,\"mains\":true},{\"index\":1%s}],"
#define BR "\"branches\":[{\"number\":1,\"phase\":\"L1\",\"afe\":1,\"channel\":\"A\",\"breaker_a\":16,\"actuator\":\"monostable\"%s}]}"

static int parse(struct hw_panel *p, const char *afe1, const char *br1, char *err, size_t n)
{
  char buf[1024];
  char fmt[512];
  snprintf(fmt, sizeof fmt, "%s%s", HEAD, BR);
  snprintf(buf, sizeof buf, fmt, afe1, br1);
  return hw_panel_parse(p, buf, strlen(buf), "p.json", err, n);
}

static void panel_config(void **st)
{
  (void)st;
  static struct hw_panel p, q;
  char err[256] = "", cj[8192], cj2[8192];
  size_t n, n2;
  /* defaults, and no "calibration" key in the canonical text */
  assert_int_equal(parse(&p, "", "", err, sizeof err), 0);
  assert_true(p.branch[0].gain == 1.0 && p.branch[0].phase_deg == 0.0);
  assert_true(p.afe[1].v_gain[2] == 1.0 && p.afe[1].v_offset_v[0] == 0.0 && p.afe[0].i_gain[1] == 1.0);
  assert_int_equal(hw_panel_canonical_json(&p, cj, sizeof cj, &n), 0);
  assert_null(strstr(cj, "calibration"));
  /* given: parsed, written, and read back to the same bytes */
  assert_int_equal(parse(&p, ",\"calibration\":{\"v_gain\":[1.01,1,0.99],\"v_offset_v\":[0.5,0,0]}",
                         ",\"calibration\":{\"gain\":1.0526,\"phase_deg\":-0.4}", err, sizeof err), 0);
  assert_true(p.branch[0].gain == 1.0526 && p.branch[0].phase_deg == -0.4);
  assert_true(p.afe[1].v_gain[0] == 1.01 && p.afe[1].v_gain[2] == 0.99 && p.afe[1].v_offset_v[0] == 0.5);
  assert_int_equal(hw_panel_canonical_json(&p, cj, sizeof cj, &n), 0);
  assert_non_null(strstr(cj, "\"calibration\":{\"gain\":1.0526"));
  assert_non_null(strstr(cj, "\"calibration\":{\"v_gain\":[1.01"));
  assert_int_equal(hw_panel_parse(&q, cj, n, "canon", err, sizeof err), 0);
  assert_int_equal(hw_panel_canonical_json(&q, cj2, sizeof cj2, &n2), 0);
  assert_int_equal(n, n2);
  assert_memory_equal(cj, cj2, n);
  /* the register config the daemon builds from it */
  struct hw_ade9000_config ac;
  hw_panel_ade9000_config(&p, 1, &ac);
  assert_int_equal(ac.igain[0], hw_ade9000_gain_reg(1.0526));
  assert_int_equal(ac.phcal[0], hw_ade9000_phcal_reg(-0.4, false));
  assert_int_equal(ac.vgain[0], hw_ade9000_gain_reg(1.01));
  assert_int_equal(ac.igain[1], 0);
  /* one error line naming file, field and why */
  static const struct { const char *afe, *br, *msg; } bad[] = {
    { "", ",\"calibration\":{\"gain\":3}", "p.json: branches[0].calibration.gain: 3 is out of range [0.5, 2]" },
    { "", ",\"calibration\":{\"gain\":0}", "p.json: branches[0].calibration.gain: 0 is out of range [0.5, 2]" },
    { "", ",\"calibration\":{\"phase_deg\":11}", "p.json: branches[0].calibration.phase_deg: 11 is out of range [-10, 10]" },
    { "", ",\"calibration\":{\"gian\":1}", "p.json: branches[0].calibration.gian: unknown field" },
    { "", ",\"calibration\":1.02", "p.json: branches[0].calibration: expected an object" },
    { ",\"calibration\":{\"v_gain\":[1,1]}", "", "p.json: afes[1].calibration.v_gain: expected an array of 3 numbers" },
    { ",\"calibration\":{\"v_gain\":[1,\"x\",1]}", "", "p.json: afes[1].calibration.v_gain: element 1 is not a number" },
    { ",\"calibration\":{\"v_offset_v\":[0,0,60]}", "", "p.json: afes[1].calibration.v_offset_v: element 2: 60 is out of range [-50, 50]" },
    { ",\"calibration\":{\"i_gain\":[1,1,1]}", "", "p.json: afes[1].calibration.i_gain: only the mains AFE's current inputs" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = 0;
    int r = parse(&p, bad[i].afe, bad[i].br, err, sizeof err);
    if (r != HW_ECONFIG || strncmp(err, bad[i].msg, strlen(bad[i].msg)) || strchr(err, '\n'))
      fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, r, err, bad[i].msg);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(conversions),
    cmocka_unit_test(driver_and_emulator),
    cmocka_unit_test(panel_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
