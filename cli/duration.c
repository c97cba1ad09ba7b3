/*
 * duration.c — durations as people write them ("90s", "15m", "1h30m", "30d", "3y"): the CLI's
 * options, DIR/config.json "retention", the bridges' intervals. In the control library (no
 * loop, no journal) so the config parsers and their fuzz targets use the same code.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* One "<number><unit>" term of a duration (units ms, s, m, h, d, y = 365 d; none: s) from *s,
 * advancing *s; 0 or -EINVAL. */
static int duration_term(const char **s, double *ns)
{
  char *e;
  errno = 0;
  if (!isdigit((unsigned char)**s) && **s != '.') return -EINVAL; /* no sign, inf, nan */
  double v = strtod(*s, &e);
  if (errno || e == *s || !isfinite(v) || v < 0) return -EINVAL;
  double mul;
  size_t ul = 1;
  if (!strncmp(e, "ms", 2)) { mul = 1e6; ul = 2; }
  else if (*e == 's') mul = 1e9;
  else if (*e == 'm') mul = 60e9;
  else if (*e == 'h') mul = 3600e9;
  else if (*e == 'd') mul = 86400e9;
  else if (*e == 'y') mul = 365 * 86400e9;
  else if (!*e) { mul = 1e9; ul = 0; }
  else return -EINVAL;
  *ns = v * mul;
  *s = e + ul;
  return 0;
}

int cli_parse_duration_ns(const char *s, int64_t *out_ns)
{
  if (!s || !*s) return -EINVAL;
  double total = 0, ns;
  int terms = 0;
  /* "90s", "1h30m", "2d12h": terms add up; a bare number (seconds) only alone */
  while (*s) {
    const char *start = s;
    if (duration_term(&s, &ns)) return -EINVAL;
    if (s == start + strlen(start) && terms && !isalpha((unsigned char)s[-1])) return -EINVAL;
    total += ns;
    if (total > 9.2e18) return -EINVAL;
    terms++;
  }
  *out_ns = (int64_t)total;
  return 0;
}
