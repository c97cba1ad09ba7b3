/*
 * plot_energy.c — per-branch energy bars for a period (`hems plot --energy`, and the report):
 * the sums of the windows' per-branch import_uwh and export_uwh whose start falls in
 * [since, until], drawn as horizontal bars, import and export side by side.
 */
#include <stdlib.h>
#include <string.h>
#include "cli.h"

#define MAXB 256

struct sums { int64_t since, until; int64_t imp[MAXB], exp[MAXB]; bool seen[MAXB]; };

static int take(void *ctx, const uint8_t *b, size_t len)
{
  struct sums *s = ctx;
  char *j = journal_record_to_json(b, len, JOURNAL_JSON_COMPACT);
  json_t *o = j ? json_loads(j, 0, NULL) : NULL;
  free(j);
  const json_t *body = json_object_get(o, "body");
  int64_t start = json_integer_value(json_object_get(body, "start_ns"));
  if ((!s->since || start >= s->since) && (!s->until || start <= s->until)) {
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(body, "powers"), i, p) {
      json_int_t n = json_integer_value(json_object_get(p, "branch"));
      if (n <= 0 || n >= MAXB) continue;
      s->seen[n] = true;
      s->imp[n] += json_integer_value(json_object_get(p, "import_uwh"));
      s->exp[n] += json_integer_value(json_object_get(p, "export_uwh"));
    }
  }
  json_decref(o);
  return 0;
}

int cli_plot_energy(const struct cli_common *c, const char *pubkey, const char *fpr, int64_t since_ns, int64_t until_ns,
                    FILE *f, bool standalone, json_t **totals)
{
  struct sums *s = calloc(1, sizeof *s);
  if (!s) { cli_err("plot: out of memory"); return CLI_ENV; }
  s->since = since_ns;
  s->until = until_ns;
  struct cli_filter fl;
  memset(&fl, 0, sizeof fl);
  fl.types[JOURNAL_T_WINDOW] = true;
  fl.any_type = true;
  if (since_ns) { fl.have_since_t = true; fl.since_t = since_ns - 60000000000LL; } /* a window starts before its record */
  int rc = cli_walk(c, pubkey, fpr, &fl, 0, take, s);
  struct cli_names names = { 0 };
  if (!rc) rc = cli_names_load(c, pubkey, fpr, &names);
  if (rc) { free(s); return rc; }
  unsigned nb = 0;
  int64_t max = 1;
  for (unsigned n = 1; n < MAXB; n++)
    if (s->seen[n]) { nb++; if (s->imp[n] > max) max = s->imp[n]; if (s->exp[n] > max) max = s->exp[n]; }
  if (totals) {
    *totals = json_array();
    for (unsigned n = 1; n < MAXB; n++)
      if (s->seen[n])
        json_array_append_new(*totals, json_pack("{s:I, s:s, s:I, s:I}", "branch", (json_int_t)n, "name",
                                                 cli_branch_name(&names, n) ? cli_branch_name(&names, n) : "",
                                                 "import_uwh", (json_int_t)s->imp[n], "export_uwh", (json_int_t)s->exp[n]));
  }
  if (f) {
    double h = 60 + 22.0 * nb, x0 = 260, x1 = 1000;
    cli_svg_begin(f, 1100, h, "hems plot: energy per branch", standalone);
    cli_svg_text(f, 20, 20, "start", "energy per branch (import blue, export green), %u branches", nb);
    double y = 40;
    for (unsigned n = 1; n < MAXB; n++) {
      if (!s->seen[n]) continue;
      const char *name = cli_branch_name(&names, n);
      char wi[32], we[32];
      cli_unit_text("import_uwh", s->imp[n], wi, sizeof wi);
      cli_unit_text("export_uwh", s->exp[n], we, sizeof we);
      cli_svg_text(f, x0 - 8, y + 12, "end", "%u %s", n, name ? name : "");
      cli_svg_rect(f, x0, y + 2, (x1 - x0) * (double)s->imp[n] / (double)max, 8, "bar-in");
      cli_svg_rect(f, x0, y + 10, (x1 - x0) * (double)s->exp[n] / (double)max, 8, "bar-out");
      cli_svg_text(f, x1 + 6, y + 12, "start", "%s%s%s", wi, s->exp[n] ? " / " : "", s->exp[n] ? we : "");
      y += 22;
    }
    cli_svg_end(f);
  }
  cli_names_free(&names);
  free(s);
  return 0;
}
