/*
 * panel_taps.c — a leakage or temperature tap's analog source (issue 17 item 8b): "analog":
 * {"hwmon" | "iio": path, "alarm_ma" (leakage) | "alarm_c" (temperature), "hysteresis_ma" |
 * "hysteresis_c", "rise_c_per_min" (temperature)} (docs/hardware.md). The path must be the
 * kernel ABI's name for the quantity (hwmon currN_input / tempN_input, IIO in_currentN /
 * in_tempN), so a config cannot point the reader — or the simulator's writer — at any other
 * file. Thresholds are kept in thousandths of the unit; the key is left out of the canonical
 * config when absent, so a binary tap's bytes stay as they were.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "panel_internal.h"

int hw__parse_tap_analog(struct hw__ctx *c, struct hw_panel_tap *t, json_t *o, const char *path)
{
  static const char *const keys[] = { "hwmon", "iio", "alarm_ma", "alarm_c", "hysteresis_ma", "hysteresis_c",
                                      "rise_c_per_min", NULL };
  json_t *a = json_object_get(o, "analog");
  if (!a) return 0;
  char ap[96], f[128];
  snprintf(ap, sizeof ap, "%s.analog", path);
  bool leak = t->kind == HW_TAP_LEAKAGE;
  if (!leak && t->kind != HW_TAP_TEMPERATURE) return hw__fail(c, ap, "only a leakage or temperature tap has an analog source");
  if (!json_is_object(a)) return hw__fail(c, ap, "expected an object");
  int r;
  if ((r = hw__check_keys(c, a, ap, keys)) < 0) return r;
  bool hwmon = json_object_get(a, "hwmon") != NULL, iio = json_object_get(a, "iio") != NULL;
  if (hwmon == iio) return hw__fail(c, ap, "one of hwmon or iio (a path)");
  if ((r = hw__get_str(c, a, ap, hwmon ? "hwmon" : "iio", true, "", t->analog_path, sizeof t->analog_path)) < 0) return r;
  const char *q = hwmon ? (leak ? "curr" : "temp") : (leak ? "current" : "temp");
  snprintf(f, sizeof f, "%s.%s", ap, hwmon ? "hwmon" : "iio");
  if (t->analog_path[0] != '/' || !hw__sysfs_name(t->analog_path, hwmon, q))
    return hw__fail(c, f, "an absolute path ending in %s%sN%s", hwmon ? "" : "in_", q, hwmon ? "_input" : "");
  t->analog = hwmon ? HW_ANALOG_HWMON : HW_ANALOG_IIO;
  double alarm, hyst, rise = 0;
  if (leak) {
    if (json_object_get(a, "alarm_c") || json_object_get(a, "hysteresis_c") || json_object_get(a, "rise_c_per_min"))
      return hw__fail(c, ap, "a leakage tap's thresholds are alarm_ma and hysteresis_ma");
    if ((r = hw__get_num(c, a, ap, "alarm_ma", true, 0.1, 1000, 0, &alarm)) < 0) return r;
    if ((r = hw__get_num(c, a, ap, "hysteresis_ma", false, 0, 1000, alarm / 10, &hyst)) < 0) return r;
  } else {
    if (json_object_get(a, "alarm_ma") || json_object_get(a, "hysteresis_ma"))
      return hw__fail(c, ap, "a temperature tap's thresholds are alarm_c, hysteresis_c and rise_c_per_min");
    if ((r = hw__get_num(c, a, ap, "alarm_c", true, -40, 250, 0, &alarm)) < 0) return r;
    if ((r = hw__get_num(c, a, ap, "hysteresis_c", false, 0, 50, 2, &hyst)) < 0) return r;
    if ((r = hw__get_num(c, a, ap, "rise_c_per_min", false, 0, 100, 0, &rise)) < 0) return r;
    if (rise > 0 && hyst >= rise) {
      snprintf(f, sizeof f, "%s.hysteresis_c", ap);
      return hw__fail(c, f, "below rise_c_per_min (the rise alarm ends below rise_c_per_min - hysteresis_c)");
    }
  }
  if (leak && hyst >= alarm) {
    snprintf(f, sizeof f, "%s.hysteresis_ma", ap);
    return hw__fail(c, f, "below alarm_ma");
  }
  t->alarm_milli = (int32_t)lround(alarm * 1000);
  t->hysteresis_milli = (int32_t)lround(hyst * 1000);
  t->rise_milli_per_min = (int32_t)lround(rise * 1000);
  return 0;
}

void hw__tap_analog_to_json(const struct hw_panel_tap *t, json_t *j)
{
  if (!t->analog) return;
  bool leak = t->kind == HW_TAP_LEAKAGE;
  json_t *a = json_object();
  json_object_set_new(a, t->analog == HW_ANALOG_HWMON ? "hwmon" : "iio", json_string(t->analog_path));
  json_object_set_new(a, leak ? "alarm_ma" : "alarm_c", json_real(t->alarm_milli / 1000.0));
  json_object_set_new(a, leak ? "hysteresis_ma" : "hysteresis_c", json_real(t->hysteresis_milli / 1000.0));
  if (!leak) json_object_set_new(a, "rise_c_per_min", json_real(t->rise_milli_per_min / 1000.0));
  json_object_set_new(j, "analog", a);
}
