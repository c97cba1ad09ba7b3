/*
 * cmd_diagnose.c — `hems diagnose [--dir DIR | BUNDLE] [--since T] [--branch B] [--format
 * text|json]`: the panel reference's field playbook run over the journal. One pass through the
 * records (cli_walk: a data dir as timeline reads it, a bundle checked as it is read — only
 * records a seal proved —, or the daemon for a dir this user reads through it) keeps what the
 * rules in diagnose_rules.c need: the rare records whole (faults, taps, sense-backs that were
 * not confirmed, commands, refusals, PQ events, boots, DER changes) and the windows folded into
 * per-branch figures. Each finding names the records it rests on; no finding is the answer
 * for a healthy panel. Exit 0 (findings or none), 1 a bundle damaged, 2 usage, 3 I/O.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "diagnose.h"

#define PQ_AFTER_NS 1500000000LL /* the load is judged on the first window starting this long after the event */

void dg_finding(struct dg *g, const char *kind, unsigned branch, const uint64_t *evidence, unsigned n, json_t *measured,
                const char *first_fix, const char *fmt, ...)
{
  if (g->only_branch && branch != g->only_branch) { json_decref(measured); return; }
  char summary[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(summary, sizeof summary, fmt, ap);
  va_end(ap);
  json_t *ev = json_array();
  for (unsigned i = 0; i < n; i++) if (evidence[i]) json_array_append_new(ev, json_integer((json_int_t)evidence[i]));
  json_t *f = json_pack("{s:s, s:I}", "finding", kind, "branch", (json_int_t)branch);
  const char *name = branch ? cli_branch_name(g->names, branch) : NULL;
  if (name) json_object_set_new(f, "name", json_string(name));
  json_object_set_new(f, "evidence", ev);
  json_object_set_new(f, "summary", json_string(summary));
  json_object_set_new(f, "first_fix", json_string(first_fix));
  if (measured) json_object_set_new(f, "measured", measured);
  json_array_append_new(g->findings, f);
}

/* ------------------------------------------------------------------ the pass */

struct pass {
  struct dg *g;
  int64_t since_ns;
  char der_last[3][48];     /* per DER source: "state fresh" of its last kept record */
  json_t *pending;          /* PQ events awaiting the windows after them */
};

static const char *type_of(const json_t *rec) { return json_string_value(json_object_get(rec, "type")); }

static void keep(struct pass *p, json_t *rec) { json_array_append(p->g->records, rec); }

/* A window: per branch its latest figures, negative power on load-only branches, the ring. */
static void fold_window(struct pass *p, const json_t *rec)
{
  struct dg *g = p->g;
  const json_t *b = json_object_get(rec, "body");
  uint64_t seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
  int64_t start = json_integer_value(json_object_get(b, "start_ns"));
  int64_t end = start + json_integer_value(json_object_get(b, "duration_us")) * 1000;
  unsigned afe = (unsigned)json_integer_value(json_object_get(b, "afe"));
  size_t i;
  json_t *pw;
  /* the phase voltages: the mains AFE's are the reference; the others' relative deviation */
  json_array_foreach(json_object_get(b, "channels"), i, pw) {
    const char *kind = json_string_value(json_object_get(pw, "kind")), *ph = json_string_value(json_object_get(pw, "phase"));
    if (!kind || strcmp(kind, "voltage") || !ph || ph[0] < 'A' || ph[0] > 'C' || ph[1]) continue;
    int k = ph[0] - 'A';
    double mv = (double)json_integer_value(json_object_get(pw, "rms_m"));
    if (g->mains_afe && afe == g->mains_afe) { g->ref_mv[k] = mv; g->ref_ns[k] = end; continue; }
    if (afe >= 64 || g->ref_mv[k] < 1000 || mv <= 0 || end - g->ref_ns[k] > 1500000000LL || g->ref_ns[k] - end > 1500000000LL) continue;
    double d = (mv - g->ref_mv[k]) / g->ref_mv[k];
    if (d > 0.2 || d < -0.2) continue; /* a dip seen a window apart, not a drift */
    if (!g->afe_dev[afe][k].dev && !(g->afe_dev[afe][k].dev = malloc(sizeof(float) * DG_DEV_MAX))) continue;
    g->afe_dev[afe][k].dev[g->afe_dev[afe][k].n % DG_DEV_MAX] = (float)d;
    if (g->afe_dev[afe][k].n < 3) g->afe_dev[afe][k].seqs[g->afe_dev[afe][k].n] = seq;
    g->afe_dev[afe][k].n++;
  }
  json_array_foreach(json_object_get(b, "powers"), i, pw) {
    json_int_t n = json_integer_value(json_object_get(pw, "branch"));
    if (n <= 0 || n >= DG_BRANCHES) continue;
    struct dg_branch *x = &g->br[n];
    int64_t p_mw = json_integer_value(json_object_get(pw, "p_mw"));
    int64_t i_ma = 0;
    size_t k;
    json_t *c;
    json_array_foreach(json_object_get(b, "channels"), k, c)
      if (json_integer_value(json_object_get(c, "ch")) == json_integer_value(json_object_get(pw, "ich")) &&
          json_integer_value(json_object_get(c, "branch")) == n)
        i_ma = json_integer_value(json_object_get(c, "rms_m"));
    x->last_seq = seq;
    x->last_ns = end;
    x->last_p_mw = p_mw;
    x->last_i_ma = i_ma;
    if (x->load_only && p_mw < -50000) {
      if (x->neg_windows < 3) x->neg_seqs[x->neg_windows] = seq;
      if (!x->neg_windows) { x->neg_p_mw = p_mw; x->neg_pf_mpct = json_integer_value(json_object_get(pw, "pf_mpct")); }
      x->neg_windows++;
    }
    unsigned r = x->nring % 4;
    x->ring[r].seq = seq;
    x->ring[r].start_ns = start;
    x->ring[r].end_ns = end;
    x->ring[r].p_mw = p_mw;
    x->nring++;
    /* PQ events waiting for this branch's first window after them */
    size_t e;
    json_t *pe;
    json_array_foreach(p->pending, e, pe) {
      json_t *after = json_object_get(pe, "after");
      char key[8];
      snprintf(key, sizeof key, "%u", (unsigned)n);
      if (json_object_get(after, key) || !json_object_get(json_object_get(pe, "before"), key)) continue;
      if (start >= json_integer_value(json_object_get(pe, "end_ns")) + PQ_AFTER_NS)
        json_object_set_new(after, key, json_pack("[I, I]", (json_int_t)seq, (json_int_t)p_mw));
    }
  }
}

/* A PQ event: each branch's power in its last window that ended before the event began. */
static void open_pq(struct pass *p, json_t *rec)
{
  const json_t *b = json_object_get(rec, "body");
  const char *kind = json_string_value(json_object_get(b, "kind"));
  if (!kind || (strcmp(kind, "dip") && strcmp(kind, "interruption"))) return;
  int64_t start = json_integer_value(json_object_get(b, "start_ns"));
  int64_t end = start + json_integer_value(json_object_get(b, "duration_us")) * 1000;
  json_t *before = json_object();
  for (unsigned n = 1; n < DG_BRANCHES; n++) {
    const struct dg_branch *x = &p->g->br[n];
    int best = -1;
    for (unsigned r = 0; r < 4 && r < x->nring; r++)
      if (x->ring[r].end_ns <= start && (best < 0 || x->ring[r].end_ns > x->ring[best].end_ns)) best = (int)r;
    if (best < 0) continue;
    char key[8];
    snprintf(key, sizeof key, "%u", n);
    json_object_set_new(before, key, json_pack("[I, I]", (json_int_t)x->ring[best].seq, (json_int_t)x->ring[best].p_mw));
  }
  json_t *pe = json_pack("{s:O, s:o, s:o, s:I}", "event", rec, "before", before, "after", json_object(), "end_ns", (json_int_t)end);
  json_array_append_new(p->pending, pe);
}

/* DER records: only the changes of state or freshness (the 5 s heartbeats say nothing new). */
static void fold_der(struct pass *p, json_t *rec)
{
  const json_t *b = json_object_get(rec, "body");
  const char *src = json_string_value(json_object_get(b, "source"));
  int s = !src ? -1 : !strcmp(src, "pv") ? 0 : !strcmp(src, "ess") ? 1 : !strcmp(src, "ats") ? 2 : -1;
  if (s < 0) return;
  char now[48];
  snprintf(now, sizeof now, "%s %d", json_string_value(json_object_get(b, "state")) ? json_string_value(json_object_get(b, "state")) : "",
           json_is_true(json_object_get(b, "fresh")));
  if (strcmp(now, p->der_last[s])) keep(p, rec);
  snprintf(p->der_last[s], sizeof p->der_last[s], "%s", now);
}

static int take(void *ctx, const uint8_t *bytes, size_t len)
{
  struct pass *p = ctx;
  struct dg *g = p->g;
  char *j = journal_record_to_json(bytes, len, JOURNAL_JSON_COMPACT);
  json_t *rec = j ? json_loads(j, 0, NULL) : NULL;
  free(j);
  const char *type = type_of(rec);
  if (!type) { json_decref(rec); return 0; }
  if (!strcmp(type, "config")) {
    /* the branches as configured from here on */
    json_t *cfg = json_loads(json_string_value(json_object_get(json_object_get(rec, "body"), "json")) ?: "", 0, NULL);
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(cfg, "afes"), i, b)
      if (json_is_true(json_object_get(b, "mains"))) g->mains_afe = (unsigned)json_integer_value(json_object_get(b, "index")) + 1;
    json_array_foreach(json_object_get(cfg, "branches"), i, b) {
      json_int_t n = json_integer_value(json_object_get(b, "number"));
      if (n <= 0 || n >= DG_BRANCHES) continue;
      g->br[n].known = true;
      g->br[n].load_only = !json_is_false(json_object_get(b, "load_only"));
      g->br[n].breaker_a = json_number_value(json_object_get(b, "breaker_a"));
      g->br[n].afe = (int)json_integer_value(json_object_get(b, "afe"));
      snprintf(g->br[n].phase, sizeof g->br[n].phase, "%s", json_string_value(json_object_get(b, "phase")) ?: "");
    }
    json_decref(cfg);
    json_decref(rec);
    return 0;
  }
  int64_t t = 0;
  cli_parse_time(json_string_value(json_object_get(rec, "time")) ?: "", 0, &t);
  bool in = t >= p->since_ns;
  const json_t *body = json_object_get(rec, "body");
  if (!strcmp(type, "window")) {
    fold_window(p, rec);
  } else if (!strcmp(type, "command") && !json_object_get(body, "der")) { /* a DER command moves no relay */
    json_t *tg = json_object_get(body, "target");
    const char *d = json_string_value(json_object_get(body, "desired"));
    if (json_is_integer(tg) && json_integer_value(tg) > 0 && json_integer_value(tg) < DG_BRANCHES && d && !strcmp(d, "on")) {
      struct dg_branch *x = &g->br[json_integer_value(tg)];
      x->close_seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
      x->close_ns = t;
      x->close_inrush_ma = 0;
    }
    if (in) keep(p, rec);
  } else if (!strcmp(type, "sense_back")) {
    json_t *tg = json_object_get(body, "target");
    if (json_is_integer(tg) && json_integer_value(tg) > 0 && json_integer_value(tg) < DG_BRANCHES) {
      struct dg_branch *x = &g->br[json_integer_value(tg)];
      if ((uint64_t)json_integer_value(json_object_get(body, "command_seq")) == x->close_seq) {
        x->close_sb_seq = (uint64_t)json_integer_value(json_object_get(rec, "seq"));
        x->close_inrush_ma = json_integer_value(json_object_get(body, "inrush_peak_ma"));
      }
    }
    const char *v = json_string_value(json_object_get(body, "verdict"));
    if (in && v && strcmp(v, "confirmed")) keep(p, rec);
  } else if (!strcmp(type, "der")) {
    if (in) fold_der(p, rec);
  } else if (!strcmp(type, "pq_event")) {
    if (in) { keep(p, rec); open_pq(p, rec); }
  } else if (!strcmp(type, "trip_tap")) {
    /* what the branch was doing when it tripped (the rules run after the pass) */
    json_t *bn = json_object_get(body, "branch");
    if (in && json_is_integer(bn) && json_integer_value(bn) > 0 && json_integer_value(bn) < DG_BRANCHES) {
      const struct dg_branch *x = &g->br[json_integer_value(bn)];
      json_object_set_new(rec, "_at", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "window_seq", (json_int_t)x->last_seq,
                                                "window_ns", (json_int_t)x->last_ns, "window_ma", (json_int_t)x->last_i_ma,
                                                "close_seq", (json_int_t)x->close_seq, "close_ns", (json_int_t)x->close_ns,
                                                "close_inrush_ma", (json_int_t)x->close_inrush_ma));
    }
    if (in) keep(p, rec);
  } else if (!strcmp(type, "fault") || !strcmp(type, "refusal") || !strcmp(type, "boot")) {
    if (in) keep(p, rec);
  }
  json_decref(rec);
  return 0;
}

int cli_diagnose_run(const struct cli_common *c, const char *pubkey, const char *fpr, int64_t since_ns, uint16_t only_branch,
                     const struct cli_names *names, json_t **findings)
{
  struct dg *g = calloc(1, sizeof *g);
  if (!g) { cli_err("diagnose: out of memory"); return CLI_ENV; }
  g->names = names;
  g->only_branch = only_branch;
  g->records = json_array();
  g->findings = json_array();
  struct pass p = { .g = g, .since_ns = since_ns, .pending = json_array() };
  struct cli_filter f;
  memset(&f, 0, sizeof f);
  int rc = cli_walk(c, pubkey, fpr, &f, 0, take, &p);
  g->pq_windows = json_object();
  size_t i;
  json_t *pe;
  json_array_foreach(p.pending, i, pe) {
    char key[24];
    snprintf(key, sizeof key, "%zu", i);
    json_object_set(g->pq_windows, key, pe);
  }
  /* the rules run on what was read even when a bundle broke off: what came before was proven */
  dg_rule_polarity(g);
  dg_rule_sense_backs(g);
  dg_rule_trips(g);
  dg_rule_power_events(g);
  dg_rule_comms(g);
  dg_rule_transfer(g);
  dg_rule_der(g);
  dg_rule_pq_load(g);
  dg_rule_load_shed(g);
  dg_rule_afe_drift(g);
  *findings = g->findings;
  for (unsigned a = 0; a < 64; a++)
    for (int k = 0; k < 3; k++) free(g->afe_dev[a][k].dev);
  json_decref(p.pending);
  json_decref(g->pq_windows);
  json_decref(g->records);
  free(g);
  return rc;
}

/* ------------------------------------------------------------------ output */

static void print_text(const json_t *f)
{
  unsigned n = (unsigned)json_integer_value(json_object_get(f, "branch"));
  const char *name = json_string_value(json_object_get(f, "name"));
  if (n) printf("branch %u%s%s: %s\n", n, name ? " " : "", name ? name : "", json_string_value(json_object_get(f, "finding")));
  else printf("panel: %s\n", json_string_value(json_object_get(f, "finding")));
  printf("  %s\n  evidence: seq", json_string_value(json_object_get(f, "summary")));
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(f, "evidence"), i, e) printf("%s %lld", i ? "," : "", (long long)json_integer_value(e));
  printf("\n  first fix: %s\n", json_string_value(json_object_get(f, "first_fix")));
}

int cli_cmd_diagnose(int argc, char **argv)
{
  enum { O_DIR = 1000, O_SINCE, O_BRANCH, O_FORMAT, O_PUBKEY, O_FP, O_COUNTER, O_ACCEPT };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "since", required_argument, NULL, O_SINCE },
                                      { "branch", required_argument, NULL, O_BRANCH }, { "format", required_argument, NULL, O_FORMAT },
                                      { "pubkey", required_argument, NULL, O_PUBKEY }, { "fingerprint", required_argument, NULL, O_FP },
                                      { "counter", required_argument, NULL, O_COUNTER }, { "accept-rollback", no_argument, NULL, O_ACCEPT },
                                      { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *since = NULL, *branch = NULL, *pubkey = NULL, *fpr = NULL;
  bool json = false;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) c.dir = optarg;
    else if (opt == O_SINCE) since = optarg;
    else if (opt == O_BRANCH) branch = optarg;
    else if (opt == O_PUBKEY) pubkey = optarg;
    else if (opt == O_FP) fpr = optarg;
    else if (opt == O_COUNTER) c.counter = optarg;
    else if (opt == O_ACCEPT) c.accept_rollback = true;
    else if (opt == O_FORMAT) {
      if (!strcmp(optarg, "json") || !strcmp(optarg, "jsonl")) json = true;
      else if (!strcmp(optarg, "text") || !strcmp(optarg, "table")) json = false;
      else { cli_err("diagnose: --format %s: takes text, table, json or jsonl", optarg); return CLI_USAGE; }
    } else return cli_usage(cli_find("diagnose"), false);
  }
  if (argc - optind > 1) return cli_usage(cli_find("diagnose"), false);
  if (argc - optind == 1) { int rc = cli_source_arg("diagnose", &c, argv[optind]); if (rc) return rc; }
  if (pubkey && fpr) { cli_err("diagnose: give --pubkey or --fingerprint, not both"); return CLI_USAGE; }
  int64_t since_ns = 0;
  uint64_t since_seq;
  bool is_seq;
  if (since && (cli_parse_seq_or_time(since, cli_now_ns(), &since_seq, &since_ns, &is_seq) || is_seq)) {
    cli_err("diagnose: --since %s: not a time (2026-12-04T15:15:24Z, 2026-12-04, @UNIX or -1h30m)", since);
    return CLI_USAGE;
  }
  struct dg *g = calloc(1, sizeof *g);
  struct cli_names names = { 0 };
  if (!g) { cli_err("diagnose: out of memory"); return CLI_ENV; }
  int rc = cli_names_load(&c, pubkey, fpr, &names);
  if (rc) { free(g); return rc; }
  g->names = &names;
  if (branch) {
    int brc = cli_branch_arg(&names, branch, &g->only_branch);
    if (brc == 0 && (g->only_branch >= DG_BRANCHES || (names.count && !cli_branch_name(&names, g->only_branch)))) brc = -ENOENT;
    if (brc) { cli_branch_arg_error("diagnose", &names, branch, brc); cli_names_free(&names); free(g); return CLI_USAGE; }
  }
  json_t *found = NULL;
  rc = cli_diagnose_run(&c, pubkey, fpr, since_ns, g->only_branch, &names, &found);
  g->findings = found;
  size_t i;
  json_t *x;
  json_array_foreach(g->findings, i, x) {
    if (json) {
      char *line = json_dumps(x, JSON_COMPACT);
      puts(line);
      free(line);
    } else {
      if (i) putchar('\n');
      print_text(x);
    }
  }
  if (!json && !json_array_size(g->findings) && rc == CLI_OK) printf("no findings%s\n", since ? " since then" : "");
  json_decref(g->findings);
  cli_names_free(&names);
  free(g);
  return rc;
}
