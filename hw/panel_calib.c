/*
 * panel_calib.c — the panel config's metering calibration (docs/operations.md "Calibration"):
 *   branches[i].calibration: {"gain": G, "phase_deg": D}        the branch CT's current channel
 *   afes[i].calibration: {"v_gain": [3], "v_offset_v": [3],      the voltage inputs VA, VB, VC;
 *                         "i_gain": [3], "i_phase_deg": [3]}     the mains CTs (mains AFE only)
 * Defaults: gain 1, phase 0, offset 0. A gain multiplies what the channel reads (1.02: it read 2 %
 * low); phase_deg delays the current by that angle (a CT whose secondary leads its primary by
 * 0.3° takes 0.3). Both sections are left out of the canonical config while every value is a
 * default, so a config from before calibration keeps its bytes (and its hash).
 *
 * Also the pure conversions to the ADE9000's calibration registers (facts/ade9000.md):
 * xIGAIN / xVGAIN = (gain − 1) · 2^27 (signed), xPHCAL0 = (sin(φ − ω) + sin ω) / sin(2ω − φ) · 2^27
 * with ω = 2π · f_line / 8000 (ADI's phase calibration formula; φ the correction in radians).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "panel_internal.h"

int32_t hw_ade9000_gain_reg(double gain)
{
  double r = (gain - 1.0) * 134217728.0; /* 2^27 */
  if (!(r > -2147483648.0)) r = -2147483648.0;
  if (r > 2147483647.0) r = 2147483647.0;
  return (int32_t)llround(r);
}

int32_t hw_ade9000_phcal_reg(double phase_deg, bool hz60)
{
  double w = 2.0 * M_PI * (hz60 ? 60.0 : 50.0) / 8000.0, phi = phase_deg * M_PI / 180.0;
  return (int32_t)llround((sin(phi - w) + sin(w)) / sin(2.0 * w - phi) * 134217728.0);
}

/* One of three numbers per AFE input, each in [lo, hi]; def when absent. */
static int get3(struct hw__ctx *c, json_t *o, const char *path, const char *key, double lo, double hi, double def,
                double out[3])
{
  char f[128];
  snprintf(f, sizeof f, "%s.%s", path, key);
  json_t *a = json_object_get(o, key);
  for (int k = 0; k < 3; k++) out[k] = def;
  if (!a) return 0;
  if (!json_is_array(a) || json_array_size(a) != 3) return hw__fail(c, f, "expected an array of 3 numbers (inputs A, B, C)");
  for (unsigned k = 0; k < 3; k++) {
    json_t *v = json_array_get(a, k);
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!json_is_number(v)) return hw__fail(c, f, "element %u is not a number", k);
    if (!isfinite(d) || d < lo || d > hi) return hw__fail(c, f, "element %u: %g is out of range [%g, %g]", k, d, lo, hi);
    out[k] = d;
  }
  return 0;
}

int hw__parse_branch_calib(struct hw__ctx *c, struct hw_panel_branch *b, json_t *o, const char *path)
{
  static const char *const keys[] = { "gain", "phase_deg", NULL };
  b->gain = 1.0;
  b->phase_deg = 0.0;
  json_t *cal = json_object_get(o, "calibration");
  if (!cal) return 0;
  char p[96];
  snprintf(p, sizeof p, "%s.calibration", path);
  if (!json_is_object(cal)) return hw__fail(c, p, "expected an object {\"gain\", \"phase_deg\"}");
  int r;
  if ((r = hw__check_keys(c, cal, p, keys)) < 0) return r;
  if ((r = hw__get_num(c, cal, p, "gain", false, HW_CAL_GAIN_MIN, HW_CAL_GAIN_MAX, 1.0, &b->gain)) < 0) return r;
  return hw__get_num(c, cal, p, "phase_deg", false, -HW_CAL_PHASE_MAX_DEG, HW_CAL_PHASE_MAX_DEG, 0.0, &b->phase_deg);
}

int hw__parse_afe_calib(struct hw__ctx *c, struct hw_panel_afe *a, json_t *o, const char *path)
{
  static const char *const keys[] = { "v_gain", "v_offset_v", "i_gain", "i_phase_deg", NULL };
  for (int k = 0; k < 3; k++) a->v_gain[k] = a->i_gain[k] = 1.0, a->v_offset_v[k] = a->i_phase_deg[k] = 0.0;
  json_t *cal = json_object_get(o, "calibration");
  if (!cal) return 0;
  char p[96];
  snprintf(p, sizeof p, "%s.calibration", path);
  if (!json_is_object(cal)) return hw__fail(c, p, "expected an object {\"v_gain\", \"v_offset_v\", \"i_gain\", \"i_phase_deg\"}");
  int r;
  if ((r = hw__check_keys(c, cal, p, keys)) < 0) return r;
  if (!a->mains && (json_object_get(cal, "i_gain") || json_object_get(cal, "i_phase_deg"))) {
    char f[128];
    snprintf(f, sizeof f, "%s.%s", p, json_object_get(cal, "i_gain") ? "i_gain" : "i_phase_deg");
    return hw__fail(c, f, "only the mains AFE's current inputs are calibrated here (a branch's CT: branches[].calibration)");
  }
  if ((r = get3(c, cal, p, "v_gain", HW_CAL_GAIN_MIN, HW_CAL_GAIN_MAX, 1.0, a->v_gain)) < 0) return r;
  if ((r = get3(c, cal, p, "v_offset_v", -HW_CAL_V_OFFSET_MAX, HW_CAL_V_OFFSET_MAX, 0.0, a->v_offset_v)) < 0) return r;
  if ((r = get3(c, cal, p, "i_gain", HW_CAL_GAIN_MIN, HW_CAL_GAIN_MAX, 1.0, a->i_gain)) < 0) return r;
  return get3(c, cal, p, "i_phase_deg", -HW_CAL_PHASE_MAX_DEG, HW_CAL_PHASE_MAX_DEG, 0.0, a->i_phase_deg);
}

/* A gain of 0 (a panel built in code, never parsed) is no gain: 1. */
static double gain_of(double g) { return g > 0 ? g : 1.0; }

void hw__branch_calib_to_json(const struct hw_panel_branch *b, json_t *j)
{
  if (gain_of(b->gain) == 1.0 && b->phase_deg == 0.0) return;
  json_object_set_new(j, "calibration", json_pack("{s:f, s:f}", "gain", gain_of(b->gain), "phase_deg", b->phase_deg));
}

static json_t *arr3(const double v[3], bool gain)
{
  return gain ? json_pack("[f, f, f]", gain_of(v[0]), gain_of(v[1]), gain_of(v[2])) : json_pack("[f, f, f]", v[0], v[1], v[2]);
}

void hw__afe_calib_to_json(const struct hw_panel_afe *a, json_t *j)
{
  bool any = false;
  for (int k = 0; k < 3; k++)
    any |= gain_of(a->v_gain[k]) != 1.0 || a->v_offset_v[k] != 0.0 || gain_of(a->i_gain[k]) != 1.0 || a->i_phase_deg[k] != 0.0;
  if (!any) return;
  json_t *cal = json_pack("{s:o, s:o}", "v_gain", arr3(a->v_gain, true), "v_offset_v", arr3(a->v_offset_v, false));
  if (a->mains) {
    json_object_set_new(cal, "i_gain", arr3(a->i_gain, true));
    json_object_set_new(cal, "i_phase_deg", arr3(a->i_phase_deg, false));
  }
  json_object_set_new(j, "calibration", cal);
}
