/*
 * json_fields.c — the JSON field helpers of the panel and scenario loaders (panel_internal.h):
 * typed, range-checked reads of one field, unknown-key checks, parsing a text into an object;
 * each failure names the field as "<what>: <path>.<key>: <why>".
 */
#include "hw.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "panel_internal.h"

int hw__fail(struct hw__ctx *c, const char *field, const char *fmt, ...)
{
  if (c->err && c->err_len) {
    int n = snprintf(c->err, c->err_len, "%s: %s: ", c->what, field);
    if (n >= 0 && (size_t)n < c->err_len) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return c->code;
}

int hw__check_keys(struct hw__ctx *c, json_t *obj, const char *path, const char *const *allowed)
{
  if (!json_is_object(obj)) return hw__fail(c, path, "expected an object");
  const char *k;
  json_t *v;
  json_object_foreach(obj, k, v) {
    bool ok = false;
    for (const char *const *a = allowed; *a; a++) if (!strcmp(*a, k)) { ok = true; break; }
    if (!ok) {
      char f[160];
      snprintf(f, sizeof f, "%s%s%s", path, *path ? "." : "", k);
      return hw__fail(c, f, "unknown field");
    }
  }
  return 0;
}

static void fpath(char *buf, size_t n, const char *path, const char *key)
{
  snprintf(buf, n, "%s%s%s", path, *path ? "." : "", key);
}

int hw__get_num(struct hw__ctx *c, json_t *o, const char *path, const char *key, bool required,
                double lo, double hi, double def, double *out)
{
  char f[160];
  fpath(f, sizeof f, path, key);
  json_t *v = json_object_get(o, key);
  if (!v) {
    if (required) return hw__fail(c, f, "missing");
    *out = def;
    return 0;
  }
  if (!json_is_number(v)) return hw__fail(c, f, "expected a number");
  double d = json_number_value(v);
  if (!isfinite(d) || d < lo || d > hi) return hw__fail(c, f, "%g is out of range [%g, %g]", d, lo, hi);
  *out = d;
  return 0;
}

int hw__get_uint(struct hw__ctx *c, json_t *o, const char *path, const char *key, bool required,
                 unsigned lo, unsigned hi, unsigned def, unsigned *out)
{
  char f[160];
  fpath(f, sizeof f, path, key);
  json_t *v = json_object_get(o, key);
  if (!v) {
    if (required) return hw__fail(c, f, "missing");
    *out = def;
    return 0;
  }
  if (!json_is_integer(v)) return hw__fail(c, f, "expected an integer");
  json_int_t i = json_integer_value(v);
  if (i < (json_int_t)lo || i > (json_int_t)hi)
    return hw__fail(c, f, "%lld is out of range [%u, %u]", (long long)i, lo, hi);
  *out = (unsigned)i;
  return 0;
}

int hw__get_bool(struct hw__ctx *c, json_t *o, const char *path, const char *key, bool def, bool *out)
{
  char f[160];
  fpath(f, sizeof f, path, key);
  json_t *v = json_object_get(o, key);
  if (!v) { *out = def; return 0; }
  if (!json_is_boolean(v)) return hw__fail(c, f, "expected true or false");
  *out = json_is_true(v);
  return 0;
}

int hw__get_str(struct hw__ctx *c, json_t *o, const char *path, const char *key, bool required,
                const char *def, char *out, size_t cap)
{
  char f[160];
  fpath(f, sizeof f, path, key);
  json_t *v = json_object_get(o, key);
  if (!v) {
    if (required) return hw__fail(c, f, "missing");
    snprintf(out, cap, "%s", def);
    return 0;
  }
  if (!json_is_string(v)) return hw__fail(c, f, "expected a string");
  const char *s = json_string_value(v);
  if (strlen(s) >= cap) return hw__fail(c, f, "longer than %zu bytes", cap - 1);
  if (strlen(s) != json_string_length(v)) return hw__fail(c, f, "contains a NUL byte");
  memcpy(out, s, strlen(s) + 1);
  return 0;
}

int hw__get_enum(struct hw__ctx *c, json_t *o, const char *path, const char *key, bool required,
                 const char *const *names, unsigned n, unsigned def, unsigned *out)
{
  char f[160], s[32];
  fpath(f, sizeof f, path, key);
  json_t *v = json_object_get(o, key);
  if (!v) {
    if (required) return hw__fail(c, f, "missing");
    *out = def;
    return 0;
  }
  if (!json_is_string(v)) return hw__fail(c, f, "expected a string");
  snprintf(s, sizeof s, "%s", json_string_value(v));
  for (unsigned i = 0; i < n; i++) if (!strcmp(names[i], s)) { *out = i; return 0; }
  char list[200] = "";
  for (unsigned i = 0; i < n; i++) {
    strncat(list, names[i], sizeof list - strlen(list) - 1);
    if (i + 1 < n) strncat(list, ", ", sizeof list - strlen(list) - 1);
  }
  return hw__fail(c, f, "\"%s\" is not one of %s", s, list);
}

int hw__parse_text(struct hw__ctx *c, const char *text, size_t len, json_t **out)
{
  json_error_t je;
  *out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
  if (!*out) {
    char f[64];
    snprintf(f, sizeof f, "line %d column %d", je.line, je.column);
    return hw__fail(c, f, "%s", je.text);
  }
  if (!json_is_object(*out)) {
    json_decref(*out);
    *out = NULL;
    return hw__fail(c, "(top level)", "expected a JSON object");
  }
  return 0;
}
