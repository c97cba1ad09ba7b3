/*
 * test_cddl_keys.c — schemas/hems-v3.cddl and the codec's v 3 tables agree, both ways: every
 * `v3.<type>.<field> = N` assignment names a field of that table with integer key N, and every
 * field of every table (sub-tables as <type>.<array>.<field>) has exactly one assignment; each
 * field's member line is optional (`?`) exactly when the codec may leave the field out (when zero, or
 * when its presence byte says absent);
 * and each enum's `&(name: value, …)` list is the codec's list of names in value order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "codec_internal.h"

struct assign { char path[96]; unsigned key; int used; };
struct member { char path[96]; int optional; char enums[400]; int used; };
static struct assign as[512];
static struct member ms[512];
static int nas, nms;

static void parse(const char *file)
{
  FILE *f = fopen(file, "r");
  if (!f) fail_msg("%s: cannot open", file);
  char line[512];
  int lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char path[96];
    unsigned key;
    int pos = 0;
    if (sscanf(line, "v3.%95[a-z0-9_.] = %u%n", path, &key, &pos) == 2) {
      if (nas == 512) fail_msg("too many assignments");
      for (int i = 0; i < nas; i++)
        if (!strcmp(as[i].path, path)) fail_msg("%s:%d: %s assigned twice", file, lineno, path);
      snprintf(as[nas].path, sizeof as[nas].path, "%s", path);
      as[nas++].key = key;
      continue;
    }
    const char *p = line;
    while (*p == ' ') p++;
    int optional = 0;
    if (p[0] == '?' && p[1] == ' ') { optional = 1; p += 2; }
    if (sscanf(p, "v3.%95[a-z0-9_.] =>%n", path, &pos) == 1 && pos) {
      struct member *m = &ms[nms++];
      snprintf(m->path, sizeof m->path, "%s", path);
      m->optional = optional;
      const char *e = strstr(p, "&(");
      if (e) {
        /* "&(a: 0, b: 1)" → "a=0,b=1," */
        size_t n = 0;
        e += 2;
        while (*e && *e != ')') {
          char name[64];
          unsigned v;
          int adv = 0;
          if (sscanf(e, " %63[A-Za-z0-9_]: %u%n", name, &v, &adv) != 2) fail_msg("%s:%d: bad enum list", file, lineno);
          n += (size_t)snprintf(m->enums + n, sizeof m->enums - n, "%s=%u,", name, v);
          e += adv;
          if (*e == ',') e++;
        }
      }
    }
  }
  fclose(f);
}

static void check_table(const char *prefix, const struct jdesc *d)
{
  for (unsigned i = 0; i < d->n; i++) {
    const struct jfield *f = &d->fields[i];
    char path[96];
    snprintf(path, sizeof path, "%s.%s", prefix, f->name);
    int found = 0;
    for (int k = 0; k < nas; k++)
      if (!strcmp(as[k].path, path)) {
        if (as[k].key != f->ikey) fail_msg("%s: the CDDL assigns %u, the codec %u", path, as[k].key, f->ikey);
        as[k].used = found = 1;
      }
    if (!found) fail_msg("%s (key %u): no assignment in the CDDL", path, f->ikey);
    found = 0;
    for (int k = 0; k < nms; k++) {
      if (strcmp(ms[k].path, path)) continue;
      found++;
      ms[k].used = 1;
      if (ms[k].optional != (f->omit_zero != 0)) /* left out when zero, or when absent (JF_OMIT_ABSENT) */
        fail_msg("%s: optional in the CDDL %d, left out by the codec %d", path, ms[k].optional, f->omit_zero);
      char want[400] = "";
      size_t n = 0;
      if (f->kind == JF_ENUM)
        for (unsigned e = 0; f->enum_names[e]; e++) n += (size_t)snprintf(want + n, sizeof want - n, "%s=%u,", f->enum_names[e], e);
      if (strcmp(ms[k].enums, want)) fail_msg("%s: enum list '%s' in the CDDL, '%s' in the codec", path, ms[k].enums, want);
    }
    if (found != 1) fail_msg("%s: %d member lines in the CDDL", path, found);
    if (f->kind == JF_ARRAY) check_table(path, f->sub);
  }
}

static void test_cddl_matches_tables(void **state)
{
  (void)state;
  parse(HEMS_SOURCE_DIR "/schemas/hems-v3.cddl");
  assert_true(nas > 100);
  const struct jdesc *d[32];
  const char *names[32];
  int n = journal__all_descs(d, names, 32);
  assert_true(n >= 16);
  for (int i = 0; i < n; i++) check_table(names[i], d[i]);
  for (int k = 0; k < nas; k++)
    if (!as[k].used) fail_msg("v3.%s = %u: no such field in the codec's tables", as[k].path, as[k].key);
  for (int k = 0; k < nms; k++)
    if (!ms[k].used) fail_msg("member v3.%s: no such field in the codec's tables", ms[k].path);
}

int main(void)
{
  const struct CMUnitTest tests[] = { cmocka_unit_test(test_cddl_matches_tables) };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
