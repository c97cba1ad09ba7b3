/*
 * panel_internal.h — private to hw/: JSON field helpers (json_fields.c) shared by the panel
 * and scenario loaders, the panel's JSON both ways and its enum name tables. Each helper
 * names the failing field as "<what>: <path>.<key>: <why>" in the caller's error buffer and
 * returns the loader's error code (HW_ECONFIG or HW_ESCENARIO).
 */
#ifndef HEMS_HW_PANEL_INTERNAL_H
#define HEMS_HW_PANEL_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>

#include "hw.h"

struct hw__ctx {
  const char *what;
  char *err;
  size_t err_len;
  int code;
};

int hw__fail(struct hw__ctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int hw__check_keys(struct hw__ctx *c, json_t *obj, const char *path, const char *const *allowed);
int hw__get_num(struct hw__ctx *c, json_t *o, const char *path, const char *key, bool required,
                double lo, double hi, double def, double *out);
int hw__get_uint(struct hw__ctx *c, json_t *o, const char *path, const char *key, bool required,
                 unsigned lo, unsigned hi, unsigned def, unsigned *out);
int hw__get_bool(struct hw__ctx *c, json_t *o, const char *path, const char *key, bool def, bool *out);
int hw__get_str(struct hw__ctx *c, json_t *o, const char *path, const char *key, bool required,
                const char *def, char *out, size_t cap);
int hw__get_enum(struct hw__ctx *c, json_t *o, const char *path, const char *key, bool required,
                 const char *const *names, unsigned n, unsigned def, unsigned *out);
int hw__parse_text(struct hw__ctx *c, const char *text, size_t len, json_t **out);
int hw__panel_from_json(struct hw__ctx *c, struct hw_panel *p, json_t *root);
json_t *hw__panel_to_json(const struct hw_panel *p);
/* panel_rails.c: "rails" and "watchdog_bootstatus" (after the default line layout) */
int hw__parse_rails(struct hw__ctx *c, struct hw_panel *p, json_t *root);
void hw__rails_to_json(const struct hw_panel *p, json_t *o);
/* True when path's last component is the kernel ABI's name for a channel of quantity: hwmon
 * <quantity>N_input ("in", "temp", "curr"), IIO in_<quantity>N ("voltage", "temp", "current"). */
bool hw__sysfs_name(const char *path, bool hwmon, const char *quantity);
/* panel_taps.c: a leakage or temperature tap's "analog" source and thresholds */
int hw__parse_tap_analog(struct hw__ctx *c, struct hw_panel_tap *t, json_t *o, const char *path);
void hw__tap_analog_to_json(const struct hw_panel_tap *t, json_t *j);
/* panel_calib.c: "calibration" of a branch and of an AFE (defaults when absent) */
int hw__parse_branch_calib(struct hw__ctx *c, struct hw_panel_branch *b, json_t *o, const char *path);
int hw__parse_afe_calib(struct hw__ctx *c, struct hw_panel_afe *a, json_t *o, const char *path);
void hw__branch_calib_to_json(const struct hw_panel_branch *b, json_t *j);
void hw__afe_calib_to_json(const struct hw_panel_afe *a, json_t *j);
/* The names of enum hw_phase, hw_actuator_type, hw_fail_safe and hw_tap_kind, by value, as the
 * config spells them (panel.c). */
extern const char *const hw__phases[4];
extern const char *const hw__actuators[5];
extern const char *const hw__fail_safes[3];
extern const char *const hw__tap_kinds[7];

#endif
