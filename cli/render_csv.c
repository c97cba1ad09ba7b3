/*
 * render_csv.c — `hems timeline --format csv`: record bodies flattened into columns for a
 * spreadsheet (RFC 4180), units in the header, values exact in those units.
 *
 * A listing of windows only (`--type window`) has one row per metered power: time, AFE,
 * branch and its name, phase, V (and the window's min/max half-cycle RMS, where a short sag
 * shows), A, W, var, VA, PF, Wh in, Wh out, Hz. Any other listing has one row per record: seq,
 * time, type, source, branch name, then one column per body field of the listed types (the
 * union, in type order; a list field as compact JSON in one cell). Record text is untrusted: a
 * cell that a spreadsheet would read as a formula (= + - @ tab CR first) is prefixed with '.
 */
#include <stdlib.h>
#include <string.h>
#include "cli.h"

#define CSV_MAX_COLS 512

struct cli_csv {
  bool windows;                /* one row per power */
  unsigned ncols;
  const char *cols[CSV_MAX_COLS];
  const struct cli_names *names;
};

static void cell(const char *s, bool text)
{
  bool quote = false;
  for (const char *p = s; *p; p++) if (*p == '"' || *p == ',' || *p == '\n' || *p == '\r') quote = true;
  bool formula = text && (*s == '=' || *s == '+' || *s == '-' || *s == '@' || *s == '\t' || *s == '\r');
  if (quote || formula) putchar('"');
  if (formula) putchar('\'');
  for (; *s; s++) { if (*s == '"') putchar('"'); putchar(*s); }
  if (quote || formula) putchar('"');
}

static void sep(void) { putchar(','); }

static void num_cell(const char *key, json_int_t v)
{
  char t[64];
  if (!cli_unit_csv(key, v, t, sizeof t)) snprintf(t, sizeof t, "%lld", (long long)v);
  cell(t, false);
}

struct cli_csv *cli_csv_begin(const struct cli_filter *f, const struct cli_names *names)
{
  struct cli_csv *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->names = names;
  unsigned ntypes = 0;
  for (unsigned t = 1; t < JOURNAL_T__MAX; t++) ntypes += f->any_type && f->types[t];
  c->windows = ntypes == 1 && f->types[JOURNAL_T_WINDOW];
  if (c->windows) {
    puts("seq,time,afe,branch,name,phase,V [V],V min half-cycle [V],V max half-cycle [V],I [A],I min half-cycle [A],"
         "I max half-cycle [A],P [W],Q [var],S [VA],PF,energy in [Wh],energy out [Wh],frequency [Hz],event,flags");
    return c;
  }
  for (unsigned t = 1; t < JOURNAL_T__MAX; t++) {
    if (f->any_type && !f->types[t]) continue;
    const char *name;
    for (unsigned i = 0; (name = journal_body_field(t, i, NULL)); i++) {
      bool have = false;
      for (unsigned k = 0; k < c->ncols && !have; k++) have = !strcmp(c->cols[k], name);
      if (!have && c->ncols < CSV_MAX_COLS) c->cols[c->ncols++] = name;
    }
  }
  fputs("seq,time,type,source,name", stdout);
  for (unsigned k = 0; k < c->ncols; k++) {
    char h[80];
    cli_unit_header(c->cols[k], h, sizeof h);
    sep();
    cell(h, false);
  }
  putchar('\n');
  return c;
}

void cli_csv_end(struct cli_csv *c) { free(c); }

static const json_t *channel(const json_t *body, const json_t *ch)
{
  size_t i;
  json_t *c;
  if (!json_is_integer(ch)) return NULL;
  json_array_foreach(json_object_get(body, "channels"), i, c)
    if (json_integer_value(json_object_get(c, "ch")) == json_integer_value(ch)) return c;
  return NULL;
}

/* rms, hrms_min, hrms_max of a channel in key's unit (mV or mA); empty cells when absent. */
static void channel_cells(const json_t *ch, const char *unit_key)
{
  static const char *const f[] = { "rms_m", "hrms_min_m", "hrms_max_m" };
  for (int i = 0; i < 3; i++) {
    sep();
    json_t *v = ch ? json_object_get(ch, f[i]) : NULL;
    if (json_is_integer(v)) num_cell(unit_key, json_integer_value(v));
  }
}

static void window_rows(struct cli_csv *c, const json_t *rec)
{
  const json_t *body = json_object_get(rec, "body");
  const char *time = json_string_value(json_object_get(rec, "time"));
  size_t i;
  json_t *p;
  json_array_foreach(json_object_get(body, "powers"), i, p) {
    char t[64];
    printf("%lld,", (long long)json_integer_value(json_object_get(rec, "seq")));
    cell(time ? time : "", false);
    printf(",%lld,", (long long)json_integer_value(json_object_get(body, "afe")));
    json_int_t b = json_integer_value(json_object_get(p, "branch"));
    const char *name = b > 0 ? cli_branch_name(c->names, (unsigned)b) : NULL;
    if (b > 0) printf("%lld", (long long)b);
    sep();
    cell(b > 0 ? (name ? name : "") : "mains", true);
    sep();
    const char *ph = json_string_value(json_object_get(p, "phase"));
    cell(ph ? ph : "", true);
    channel_cells(channel(body, json_object_get(p, "vch")), "v_mv");
    channel_cells(channel(body, json_object_get(p, "ich")), "i_ma");
    static const char *const pk[] = { "p_mw", "q_mvar", "s_mva" };
    for (int k = 0; k < 3; k++) { sep(); num_cell(pk[k], json_integer_value(json_object_get(p, pk[k]))); }
    /* pf_mpct: milli-percent; the power factor itself is pf_mpct / 100000, exactly */
    json_int_t pf = json_integer_value(json_object_get(p, "pf_mpct"));
    unsigned long long a = pf < 0 ? (unsigned long long)-pf : (unsigned long long)pf;
    snprintf(t, sizeof t, "%s%llu.%05llu", pf < 0 ? "-" : "", a / 100000, a % 100000);
    sep();
    cell(t, false);
    sep();
    num_cell("import_uwh", json_integer_value(json_object_get(p, "import_uwh")));
    sep();
    num_cell("export_uwh", json_integer_value(json_object_get(p, "export_uwh")));
    sep();
    json_t *fq = json_object_get(body, "freq_mhz");
    if (json_integer_value(fq)) num_cell("freq_mhz", json_integer_value(fq));
    /* a PQ event or a trip tap touched this power's voltage or current in the window */
    const json_t *vc = channel(body, json_object_get(p, "vch")), *ic = channel(body, json_object_get(p, "ich"));
    sep();
    if (json_is_true(json_object_get(vc, "event")) || json_is_true(json_object_get(ic, "event"))) cell("true", false);
    printf(",%lld\n", (long long)json_integer_value(json_object_get(body, "flags")));
  }
}

static void record_row(struct cli_csv *c, const json_t *rec)
{
  const json_t *body = json_object_get(rec, "body");
  const char *time = json_string_value(json_object_get(rec, "time"));
  const char *type = json_string_value(json_object_get(rec, "type"));
  const char *src = json_string_value(json_object_get(rec, "source"));
  printf("%lld,", (long long)json_integer_value(json_object_get(rec, "seq")));
  cell(time ? time : "", false);
  sep();
  cell(type ? type : "", true);
  sep();
  cell(src ? src : "", true);
  sep();
  unsigned long b = 0;
  char tail;
  if (!src || sscanf(src, "branch:%lu%c", &b, &tail) != 1) {
    json_t *tg = json_object_get(body, "target");
    b = json_is_integer(tg) && json_integer_value(tg) > 0 ? (unsigned long)json_integer_value(tg) : 0;
  }
  const char *name = b ? cli_branch_name(c->names, (unsigned)b) : NULL;
  cell(name ? name : "", true);
  for (unsigned k = 0; k < c->ncols; k++) {
    sep();
    json_t *v = json_object_get(body, c->cols[k]);
    if (!v || json_is_null(v)) continue;
    if (json_is_integer(v)) num_cell(c->cols[k], json_integer_value(v));
    else if (json_is_string(v)) cell(json_string_value(v), true);
    else if (json_is_true(v)) cell("true", false);
    else if (json_is_false(v)) cell("false", false);
    else {
      char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      cell(d ? d : "", true);
      free(d);
    }
  }
  putchar('\n');
}

void cli_csv_row(struct cli_csv *c, const json_t *rec)
{
  if (c->windows) window_rows(c, rec);
  else record_row(c, rec);
}
