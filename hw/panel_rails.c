/*
 * panel_rails.c — the panel config's supply rails and watchdog: "rails": [{"name", "line",
 * "active_low", "nominal_mv", "min_pct"}] (power-good inputs; docs/hardware.md) and
 * "watchdog_bootstatus" (the file whose flags say why the board last reset); a rail may instead
 * be measured: "hwmon" or "iio" (a path), "divider", "hysteresis_pct". Both are left out
 * of the canonical config when absent, so older configs keep their bytes.
 */
#include <stdio.h>
#include <string.h>
#include "panel_internal.h"

/* The file name the kernel's ABI gives a channel of a quantity: hwmon <hwmon>N_input (in, temp,
 * curr), an IIO channel in_<iio>N (voltage, temp, current). Only such a name is read (and, by the
 * simulator, written): a config cannot point either at an arbitrary file. */
bool hw__sysfs_name(const char *path, bool hwmon, const char *quantity)
{
  const char *b = strrchr(path, '/');
  if (!b) return false;
  b++;
  if (!hwmon) {
    if (strncmp(b, "in_", 3)) return false;
    b += 3;
  }
  size_t n = strlen(quantity);
  if (strncmp(b, quantity, n)) return false;
  b += n;
  if (*b < '0' || *b > '9') return false;
  while (*b >= '0' && *b <= '9') b++;
  return hwmon ? !strcmp(b, "_input") : *b == 0;
}

int hw__parse_rails(struct hw__ctx *c, struct hw_panel *p, json_t *root)
{
  static const char *const keys[] = { "name", "line", "active_low", "nominal_mv", "min_pct", "hwmon", "iio", "divider",
                                      "hysteresis_pct", NULL };
  int r;
  if ((r = hw__get_str(c, root, "", "watchdog_bootstatus", false, "", p->watchdog_bootstatus,
                       sizeof p->watchdog_bootstatus)) < 0)
    return r;
  json_t *rails = json_object_get(root, "rails");
  if (!rails) return 0;
  if (!json_is_array(rails) || json_array_size(rails) > HW_MAX_RAILS)
    return hw__fail(c, "rails", "expected an array of at most %d rails", HW_MAX_RAILS);
  p->num_rails = (unsigned)json_array_size(rails);
  for (unsigned i = 0; i < p->num_rails; i++) {
    json_t *o = json_array_get(rails, i);
    struct hw_panel_rail *rl = &p->rail[i];
    char path[32], f[48];
    snprintf(path, sizeof path, "rails[%u]", i);
    if (!json_is_object(o)) return hw__fail(c, path, "expected an object");
    if ((r = hw__check_keys(c, o, path, keys)) < 0) return r;
    if ((r = hw__get_str(c, o, path, "name", true, "", rl->name, sizeof rl->name)) < 0) return r;
    snprintf(f, sizeof f, "%s.name", path);
    if (!rl->name[0] || strpbrk(rl->name, ",: ")) return hw__fail(c, f, "a name of 1..15 characters without ',', ':' or spaces");
    for (unsigned j = 0; j < i; j++)
      if (!strcmp(p->rail[j].name, rl->name)) return hw__fail(c, f, "\"%s\" is defined twice", rl->name);
    if ((r = hw__get_uint(c, o, path, "nominal_mv", true, 500, 60000, 0, &rl->nominal_mv)) < 0) return r;
    if ((r = hw__get_uint(c, o, path, "min_pct", false, 50, 99, 90, &rl->min_pct)) < 0) return r;
    bool hwmon = json_object_get(o, "hwmon") != NULL, iio = json_object_get(o, "iio") != NULL;
    if (hwmon || iio) { /* measured: a voltage file, no power-good line */
      snprintf(f, sizeof f, "%s.%s", path, hwmon ? "hwmon" : "iio");
      if (hwmon && iio) return hw__fail(c, f, "a rail is read through hwmon or iio, not both");
      if (json_object_get(o, "line") || json_object_get(o, "active_low"))
        return hw__fail(c, f, "a measured rail has no power-good line (leave out line and active_low)");
      if ((r = hw__get_str(c, o, path, hwmon ? "hwmon" : "iio", true, "", rl->volt_path, sizeof rl->volt_path)) < 0) return r;
      if (rl->volt_path[0] != '/' || !hw__sysfs_name(rl->volt_path, hwmon, hwmon ? "in" : "voltage"))
        return hw__fail(c, f, "an absolute path ending in %s", hwmon ? "inN_input (…/hwmonM/inN_input)" : "in_voltageN (…/iio:deviceM/in_voltageN)");
      rl->volt = hwmon ? HW_RAIL_VOLT_HWMON : HW_RAIL_VOLT_IIO;
      rl->line = HW_LINE_NONE;
      if ((r = hw__get_num(c, o, path, "divider", false, 1, 1000, 1, &rl->divider)) < 0) return r;
      if ((r = hw__get_uint(c, o, path, "hysteresis_pct", false, 0, 20, 2, &rl->hysteresis_pct)) < 0) return r;
      if (rl->min_pct + rl->hysteresis_pct > 100) {
        snprintf(f, sizeof f, "%s.hysteresis_pct", path);
        return hw__fail(c, f, "min_pct + hysteresis_pct above 100");
      }
    } else {
      if (json_object_get(o, "divider") || json_object_get(o, "hysteresis_pct")) {
        snprintf(f, sizeof f, "%s.divider", path);
        return hw__fail(c, f, "divider and hysteresis_pct are for a measured rail (hwmon or iio)");
      }
      unsigned line;
      if ((r = hw__get_uint(c, o, path, "line", false, 0, 1023, 251 + i, &line)) < 0) return r;
      rl->line = line;
      if ((r = hw__get_bool(c, o, path, "active_low", false, &rl->active_low)) < 0) return r;
    }
  }
  return 0;
}

void hw__rails_to_json(const struct hw_panel *p, json_t *o)
{
  if (p->watchdog_bootstatus[0]) json_object_set_new(o, "watchdog_bootstatus", json_string(p->watchdog_bootstatus));
  if (!p->num_rails) return;
  json_t *a = json_array();
  for (unsigned i = 0; i < p->num_rails; i++) {
    const struct hw_panel_rail *rl = &p->rail[i];
    if (rl->volt) /* measured: no line keys, so a line rail's canonical bytes stay as they were */
      json_array_append_new(a, json_pack("{s:s, s:s, s:f, s:i, s:i, s:i}", "name", rl->name,
                                         rl->volt == HW_RAIL_VOLT_HWMON ? "hwmon" : "iio", rl->volt_path, "divider",
                                         rl->divider, "hysteresis_pct", (int)rl->hysteresis_pct, "nominal_mv",
                                         (int)rl->nominal_mv, "min_pct", (int)rl->min_pct));
    else
      json_array_append_new(a, json_pack("{s:s, s:i, s:b, s:i, s:i}", "name", rl->name, "line", (int)rl->line, "active_low",
                                         rl->active_low, "nominal_mv", (int)rl->nominal_mv, "min_pct", (int)rl->min_pct));
  }
  json_object_set_new(o, "rails", a);
}
