/*
 * units.c — record fields in human units. A record body keeps raw integers whose names carry
 * their unit (`supply_mv`, `duration_us`, `import_uwh`: docs/journal.md); text output shows them
 * scaled (`230.04 V`, `256.7 ms`, `0.111 Wh`) and CSV exactly in the base unit with the unit in
 * the header (`supply [V]` = 230.038). Scaling is decimal on integers: no rounding error beyond
 * the digits shown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

struct unit {
  const char *suffix; /* of the field name, underscore included */
  const char *text;   /* unit shown in text */
  int text_exp;       /* text value = raw / 10^text_exp */
  int text_dp;        /* decimals shown in text */
  const char *csv;    /* unit in the CSV header */
  int csv_exp;        /* CSV value = raw / 10^csv_exp, exactly */
};

/* Longest suffixes first (`_mvar` before `_mv`... `_ns` before `_s`). */
static const struct unit units[] = {
  { "_permille", "%", 1, 1, "%", 1 },
  { "_mvar", "var", 3, 1, "var", 3 },
  { "_mpct", "%", 3, 1, "%", 3 },
  { "_milli", "", 3, 2, "", 3 },
  { "_uwh", "Wh", 6, 3, "Wh", 6 },
  { "_mva", "VA", 3, 1, "VA", 3 },
  { "_mhz", "Hz", 3, 3, "Hz", 3 },
  { "_pct", "%", 0, 0, "%", 0 },
  { "_mv", "V", 3, 2, "V", 3 },
  { "_ma", "A", 3, 2, "A", 3 },
  { "_mw", "W", 3, 1, "W", 3 },
  { "_us", "ms", 3, 1, "s", 6 },
  { "_ns", "ms", 6, 1, "s", 9 },
  { "_ms", "ms", 0, 0, "s", 3 },
  { "_w", "W", 0, 0, "W", 0 },
};

/* A `_ns` field at or past this is a wall-clock instant (after 1970-01-12), not a duration. */
#define INSTANT_NS 1000000000000000LL

static const struct unit *find(const char *key, size_t *stem)
{
  size_t kl = strlen(key);
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    size_t sl = strlen(units[i].suffix);
    if (kl > sl && !strcmp(key + kl - sl, units[i].suffix)) {
      if (stem) *stem = kl - sl;
      return &units[i];
    }
  }
  return NULL;
}

/* raw / 10^exp with dp decimals, rounded half away from zero. */
static void decimal(char *buf, size_t n, int64_t raw, int exp, int dp)
{
  long long p = 1, keep = 1;
  for (int i = 0; i < exp; i++) p *= 10;
  for (int i = 0; i < dp && i < exp; i++) keep *= 10;
  unsigned long long a = raw < 0 ? (unsigned long long)(-(raw + 1)) + 1 : (unsigned long long)raw;
  unsigned long long step = (unsigned long long)(p / keep);
  unsigned long long q = (a + step / 2) / step; /* in units of 10^-dp (dp ≤ exp) */
  unsigned long long ip = q / (unsigned long long)keep, fp = q % (unsigned long long)keep;
  const char *sign = raw < 0 && q ? "-" : "";
  int shown = dp < exp ? dp : exp;
  char frac[24];
  for (int i = shown - 1; i >= 0; i--) { frac[i] = (char)('0' + fp % 10); fp /= 10; }
  frac[shown > 0 ? shown : 0] = 0;
  snprintf(buf, n, "%s%llu%s%s", sign, ip, shown > 0 ? "." : "", frac);
}

static void fmt_instant(int64_t ns, char *buf, size_t n)
{
  char t[40];
  journal_format_time(ns, t);
  snprintf(buf, n, "%s", t);
}

bool cli_unit_text(const char *key, int64_t v, char *buf, size_t n)
{
  const struct unit *u = find(key, NULL);
  if (!u) return false;
  if (!strcmp(u->suffix, "_ns") && (v >= INSTANT_NS || v <= -INSTANT_NS)) { fmt_instant(v, buf, n); return true; }
  const char *unit = u->text;
  int exp = u->text_exp, dp = u->text_dp;
  long long a = v < 0 ? -v : v;
  if (!strcmp(u->suffix, "_uwh") && a >= 1000000000LL) { unit = "kWh"; exp = 9; }
  else if (!strcmp(u->suffix, "_mw") && a >= 10000000LL) { unit = "kW"; exp = 6; dp = 2; }
  else if (!strcmp(u->suffix, "_ma") && a < 1000) dp = 3;
  else if ((!strcmp(u->suffix, "_ns") && a >= 10000000000LL) || (!strcmp(u->suffix, "_us") && a >= 10000000LL) ||
           (!strcmp(u->suffix, "_ms") && a >= 10000)) {
    unit = "s"; exp += 3; dp = 1;
  }
  char num[48];
  decimal(num, sizeof num, v, exp, dp);
  snprintf(buf, n, *unit ? "%s %s" : "%s%s", num, unit);
  return true;
}

/* CSV columns keep one unit for every row: these `_ns` fields are instants (UTC), the others
 * durations (s). */
static bool csv_instant(const char *key)
{
  return !strcmp(key, "start_ns") || !strcmp(key, "dtstart_ns");
}

bool cli_unit_csv(const char *key, int64_t v, char *buf, size_t n)
{
  const struct unit *u = find(key, NULL);
  if (!u) return false;
  if (csv_instant(key)) { if (v) fmt_instant(v, buf, n); else snprintf(buf, n, "%s", ""); return true; }
  decimal(buf, n, v, u->csv_exp, u->csv_exp);
  return true;
}

void cli_unit_header(const char *key, char *buf, size_t n)
{
  size_t stem = 0;
  const struct unit *u = find(key, &stem);
  if (!u) { snprintf(buf, n, "%s", key); return; }
  const char *unit = csv_instant(key) ? "UTC" : u->csv;
  if (*unit) snprintf(buf, n, "%.*s [%s]", (int)stem, key, unit);
  else snprintf(buf, n, "%.*s", (int)stem, key);
}

size_t cli_unit_stem(const char *key)
{
  size_t stem = 0;
  return find(key, &stem) ? stem : 0;
}
