/*
 * plot_energy.c — per-branch energy bars for a period (`hems plot --energy`, and the report):
 * the sums of the windows' per-branch import_uwh and export_uwh whose start falls in
 * [since, until] (a negative delta counts 0, as in the reducers' totals and rollups), drawn as
 * horizontal bars, import and export side by side. Where the main log no longer holds an
 * interval's windows (a rollup whose first_seq is before the main log's first seq: retention
 * cut them), the interval's 15-minute rollup answers for them — from the long-horizon log once
 * the main log no longer holds the rollup either (cli_walk reads both). A rollup counts when its
 * interval starts in the period, as a window does: a period resolves to 15 minutes there.
 */
#include <stdlib.h>
#include <string.h>
#include "cli.h"

#define MAXB 256
#define SPAN_NS ((int64_t)JOURNAL_ROLLUP_SECONDS * 1000000000LL)

struct sums {
  int64_t since, until;
  int64_t imp[MAXB], exp[MAXB];
  bool seen[MAXB];
  uint64_t main_first;      /* the main log's first seq: rollups of intervals cut before it answer */
  int64_t *used;            /* starts of the rollups that answer, ascending */
  size_t nused, capused;
  bool oom;
  struct journal_record *rec; /* scratch: the record decoded */
};

static bool in_period(const struct sums *s, int64_t start)
{
  return (!s->since || start >= s->since) && (!s->until || start <= s->until);
}

static void add(struct sums *s, unsigned n, int64_t imp, int64_t exp)
{
  if (n == 0 || n >= MAXB) return;
  s->seen[n] = true;
  s->imp[n] += imp > 0 ? imp : 0;
  s->exp[n] += exp > 0 ? exp : 0;
}

/* First pass: the rollups of cut intervals in the period. */
static int take_rollup(void *ctx, const uint8_t *b, size_t len)
{
  struct sums *s = ctx;
  struct journal_record *r = s->rec;
  if (journal_record_decode(b, len, r) != 0 || r->type != JOURNAL_T_ROLLUP) return 0;
  const struct journal_rollup *ru = &r->body.rollup;
  if (ru->first_seq < s->main_first && in_period(s, ru->start) && (!s->nused || ru->start > s->used[s->nused - 1])) {
    if (s->nused == s->capused) {
      size_t nc = s->capused ? s->capused * 2 : 256;
      int64_t *q = realloc(s->used, nc * sizeof *q);
      if (!q) { s->oom = true; return -1; }
      s->used = q;
      s->capused = nc;
    }
    s->used[s->nused++] = ru->start;
    for (unsigned i = 0; i < ru->nbr; i++) add(s, ru->br[i].branch, ru->br[i].import_uwh, ru->br[i].export_uwh);
  }
  return 0;
}

/* A window start inside an interval a rollup answered for. */
static bool answered(const struct sums *s, int64_t start)
{
  int64_t iv = start - (((start % SPAN_NS) + SPAN_NS) % SPAN_NS);
  size_t lo = 0, hi = s->nused;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (s->used[mid] < iv) lo = mid + 1;
    else hi = mid;
  }
  return lo < s->nused && s->used[lo] == iv;
}

static int take(void *ctx, const uint8_t *b, size_t len)
{
  struct sums *s = ctx;
  struct journal_record *r = s->rec;
  if (journal_record_decode(b, len, r) != 0 || r->type != JOURNAL_T_WINDOW) return 0;
  const struct journal_window *w = &r->body.window;
  if (in_period(s, w->start_ns) && !answered(s, w->start_ns))
    for (unsigned i = 0; i < w->npow; i++) add(s, w->pow[i].branch, w->pow[i].import_uwh, w->pow[i].export_uwh);
  return 0;
}

/* The main log's first seq (a dir read directly; else 1: nothing was cut that we could see). */
static uint64_t main_first_seq(const struct cli_common *c)
{
  if (c->bundle || cli_read_through_daemon(c->dir)) return 1;
  struct journal_reader *r;
  uint64_t first = 1, last = 0;
  if (journal_reader_open(&r, c->dir, c->counter, c->accept_rollback) != 0) return 1;
  if (journal_reader_bounds(r, &first, &last) != 0 || !first) first = 1;
  journal_reader_close(r);
  return first;
}

int cli_plot_energy(const struct cli_common *c, const char *pubkey, const char *fpr, int64_t since_ns, int64_t until_ns,
                    FILE *f, bool standalone, json_t **totals)
{
  struct sums *s = calloc(1, sizeof *s);
  if (s && !(s->rec = malloc(sizeof *s->rec))) { free(s); s = NULL; }
  if (!s) { cli_err("plot: out of memory"); return CLI_ENV; }
  s->since = since_ns;
  s->until = until_ns;
  s->main_first = main_first_seq(c);
  struct cli_filter fl;
  memset(&fl, 0, sizeof fl);
  fl.any_type = true;
  int rc = 0;
  if (s->main_first > 1) {
    /* a rollup is appended after its interval closed, some time after the period */
    fl.types[JOURNAL_T_ROLLUP] = true;
    if (since_ns) { fl.have_since_t = true; fl.since_t = since_ns; }
    rc = cli_walk(c, pubkey, fpr, &fl, 0, take_rollup, s);
    if (s->oom) { cli_err("plot: out of memory"); rc = CLI_ENV; }
    fl.types[JOURNAL_T_ROLLUP] = false;
  }
  fl.types[JOURNAL_T_WINDOW] = true;
  if (since_ns) { fl.have_since_t = true; fl.since_t = since_ns - 60000000000LL; } /* a window starts before its record */
  if (!rc) rc = cli_walk(c, pubkey, fpr, &fl, 0, take, s);
  struct cli_names names = { 0 };
  if (!rc) rc = cli_names_load(c, pubkey, fpr, &names);
  if (rc) { free(s->used); free(s->rec); free(s); return rc; }
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
    cli_svg_text(f, 20, 20, "start", "energy per branch (import blue, export green), %u branches%s", nb,
                 s->nused ? "; retention-cut intervals from their 15-minute rollups" : "");
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
  free(s->used);
  free(s->rec);
  free(s);
  return 0;
}
