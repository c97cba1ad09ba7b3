/*
 * retention_config.c — the "retention" object of DIR/config.json (retention.h):
 * {"windows": "30d", "history": "3y", "quota": "8GB", "high_water": "90%", "reserve": "8MB"};
 * "keep" is the older name of "windows". Unknown keys and bad values are one error line naming
 * the file and the field. In the control library: tests/fuzz/fuzz_retention_config.c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "retention.h"

int retention_parse_size(const char *s, uint64_t *out)
{
  if (!s || !*s || !(*s >= '0' && *s <= '9')) return -EINVAL;
  char *e;
  errno = 0;
  double v = strtod(s, &e);
  if (errno || e == s || !isfinite(v) || v < 0) return -EINVAL;
  static const struct { const char *u; double m; } units[] = {
    { "", 1 }, { "B", 1 }, { "KB", 1e3 }, { "MB", 1e6 }, { "GB", 1e9 }, { "TB", 1e12 },
    { "KiB", 1024.0 }, { "MiB", 1048576.0 }, { "GiB", 1073741824.0 }, { "TiB", 1099511627776.0 } };
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
    if (strcmp(e, units[i].u) == 0) {
      double b = v * units[i].m;
      if (b > 1.8e19) return -EINVAL;
      *out = (uint64_t)b;
      return 0;
    }
  return -EINVAL;
}

/* "<path>: retention.<field> <value>: why" — a text value quoted and cut to its longest valid
 * UTF-8 prefix of at most 64 bytes, any other value as JSON (cut to 64 bytes). */
static int bad(char *err, size_t cap, const char *path, const char *field, json_t *v, const char *why)
{
  if (json_is_string(v)) {
    const char *t = json_string_value(v);
    snprintf(err, cap, "%s: retention.%s \"%.*s\": %s", path, field, (int)cli_utf8_prefix(t, 64), t, why);
  } else {
    char *txt = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    snprintf(err, cap, "%s: retention.%s %.64s: %s", path, field, txt ? txt : "", why);
    free(txt);
  }
  /* one line: a key or value from the file may hold control characters (a newline) */
  for (char *c = err; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
  return -EINVAL;
}

static int duration(json_t *v, const char *path, const char *field, int64_t *out, char *err, size_t cap)
{
  if (!v) return 0;
  if (!json_is_string(v) || cli_parse_duration_ns(json_string_value(v), out) || *out <= 0)
    return bad(err, cap, path, field, v, "not a duration (e.g. 90s, 15m, 1h, 30d, 3y)");
  return 0;
}

static int size(json_t *v, const char *path, const char *field, uint64_t *out, bool zero_ok, char *err, size_t cap)
{
  if (!v) return 0;
  if (json_is_integer(v) && json_integer_value(v) >= 0) *out = (uint64_t)json_integer_value(v);
  else if (!json_is_string(v) || retention_parse_size(json_string_value(v), out))
    return bad(err, cap, path, field, v, "not a size (e.g. 8GB, 500MB, 64MiB or bytes)");
  if (!zero_ok && *out == 0) return bad(err, cap, path, field, v, "must be more than 0 bytes");
  return 0;
}

int retention_policy_from_json(json_t *r, const char *path, struct retention_policy *p, char *err, size_t cap)
{
  memset(p, 0, sizeof *p);
  p->high_water = RETENTION_HIGH_WATER_DEFAULT;
  p->reserve = RETENTION_RESERVE_DEFAULT;
  if (!r) return 0;
  if (!json_is_object(r)) return bad(err, cap, path, "", r, "not an object");
  const char *key;
  json_t *v;
  json_object_foreach(r, key, v) {
    static const char *const known[] = { "windows", "keep", "history", "quota", "high_water", "reserve" };
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) ok |= !strcmp(key, known[i]);
    if (!ok) return bad(err, cap, path, key, v, "unknown key (windows, keep, history, quota, high_water, reserve)");
  }
  json_t *w = json_object_get(r, "windows"), *k = json_object_get(r, "keep");
  if (w && k) return bad(err, cap, path, "keep", k, "the older name of \"windows\": give one of them");
  int rc;
  if ((rc = duration(w ? w : k, path, w ? "windows" : "keep", &p->windows_ns, err, cap)) ||
      (rc = duration(json_object_get(r, "history"), path, "history", &p->history_ns, err, cap)) ||
      (rc = size(json_object_get(r, "quota"), path, "quota", &p->quota, false, err, cap)) ||
      (rc = size(json_object_get(r, "reserve"), path, "reserve", &p->reserve, true, err, cap)))
    return rc;
  if (p->reserve > (1ull << 30)) return bad(err, cap, path, "reserve", json_object_get(r, "reserve"), "at most 1GiB");
  json_t *h = json_object_get(r, "high_water");
  if (h) {
    const char *s = json_string_value(h);
    char *e = NULL;
    double pct = s ? strtod(s, &e) : 0;
    if (!s || e == s || strcmp(e, "%") || !(pct >= 50 && pct <= 99))
      return bad(err, cap, path, "high_water", h, "not a percentage from 50% to 99%");
    p->high_water = pct / 100.0;
  }
  return 0;
}
