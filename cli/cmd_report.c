/*
 * cmd_report.c — `hems report [--dir DIR | BUNDLE] [--since T] [--until T] --out FILE.html|.txt`:
 * one self-contained file for a reader who has never seen a record. First the verification
 * (journal_verify over every record, against the pinned or the dir's key), then for the period:
 * per-branch energy, commands with their sense-backs, refusals, faults, PQ events (with their
 * pictures in HTML), alarm acknowledgements and diagnose's findings. Every string from the
 * journal is escaped (HTML) — a branch named `<script>` is text. No script, no external
 * resource. Exit 1 when the journal does not verify (said at the top of the report).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

#define PLOTS_MAX 6

struct model {
  bool html;
  char first_time[40], last_time[40];
  uint64_t first_seq, last_seq;
  uint8_t *seal;  /* the newest seal's bytes */
  size_t seal_len;
  FILE *f;
  json_t *commands, *verdicts, *refusals, *faults, *pq, *acks;
  int64_t since, until;
};

static int take(void *ctx, const uint8_t *b, size_t len)
{
  struct model *m = ctx;
  char *j = journal_record_to_json(b, len, JOURNAL_JSON_COMPACT);
  json_t *o = j ? json_loads(j, 0, NULL) : NULL;
  free(j);
  const char *type = json_string_value(json_object_get(o, "type"));
  uint64_t seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
  if (!m->first_seq) { m->first_seq = seq; snprintf(m->first_time, sizeof m->first_time, "%s", json_string_value(json_object_get(o, "time")) ?: ""); }
  m->last_seq = seq;
  snprintf(m->last_time, sizeof m->last_time, "%s", json_string_value(json_object_get(o, "time")) ?: "");
  if (type && !strcmp(type, "seal")) {
    uint8_t *c = realloc(m->seal, len);
    if (c) { memcpy(c, b, len); m->seal = c; m->seal_len = len; }
  }
  int64_t t = 0;
  cli_parse_time(json_string_value(json_object_get(o, "time")) ?: "", 0, &t);
  if (!type || (m->since && t < m->since) || (m->until && t > m->until)) { json_decref(o); return 0; }
  const json_t *body = json_object_get(o, "body");
  if (!strcmp(type, "command")) json_array_append(m->commands, o);
  else if (!strcmp(type, "sense_back")) {
    char k[24];
    snprintf(k, sizeof k, "%lld", (long long)json_integer_value(json_object_get(body, "command_seq")));
    json_object_set(m->verdicts, k, o);
  } else if (!strcmp(type, "refusal")) json_array_append(m->refusals, o);
  else if (!strcmp(type, "fault")) json_array_append(m->faults, o);
  else if (!strcmp(type, "pq_event")) json_array_append(m->pq, o);
  else if (!strcmp(type, "request") && !strcmp(json_string_value(json_object_get(body, "kind")) ?: "", "alarm_ack")) json_array_append(m->acks, o);
  json_decref(o);
  return 0;
}

/* Text into the report: escaped for HTML. */
static void put(struct model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct model *m, const char *fmt, ...)
{
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (m->html) cli_svg_escape(m->f, buf);
  else fputs(buf, m->f);
}

static void raw(struct model *m, const char *html, const char *text) { fputs(m->html ? html : text, m->f); }

static void heading(struct model *m, const char *h)
{
  if (m->html) fprintf(m->f, "<h2>%s</h2>\n", h);
  else fprintf(m->f, "\n%s\n%.*s\n", h, (int)strlen(h), "============================================================");
}

static void row_begin(struct model *m) { raw(m, "<tr><td>", ""); }
static void cell_sep(struct model *m) { raw(m, "</td><td>", "  |  "); }
static void row_end(struct model *m) { raw(m, "</td></tr>\n", "\n"); }

static const char *s_of(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)) ?: ""; }

static void branch_label(struct model *m, const struct cli_names *n, const json_t *v)
{
  if (json_is_integer(v)) {
    const char *name = cli_branch_name(n, (unsigned)json_integer_value(v));
    put(m, "%lld%s%s", (long long)json_integer_value(v), name ? " " : "", name ? name : "");
  } else put(m, "%s", json_string_value(v) ?: "");
}

int cli_cmd_report(int argc, char **argv)
{
  enum { O_DIR = 1000, O_OUT, O_SINCE, O_UNTIL, O_PUBKEY, O_FP, O_COUNTER, O_ACCEPT };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "out", required_argument, NULL, O_OUT },
                                      { "since", required_argument, NULL, O_SINCE }, { "until", required_argument, NULL, O_UNTIL },
                                      { "pubkey", required_argument, NULL, O_PUBKEY }, { "fingerprint", required_argument, NULL, O_FP },
                                      { "counter", required_argument, NULL, O_COUNTER }, { "accept-rollback", no_argument, NULL, O_ACCEPT },
                                      { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *out = NULL, *since = NULL, *until = NULL, *pubkey = NULL, *fpr = NULL;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) c.dir = optarg;
    else if (opt == O_OUT) out = optarg;
    else if (opt == O_SINCE) since = optarg;
    else if (opt == O_UNTIL) until = optarg;
    else if (opt == O_PUBKEY) pubkey = optarg;
    else if (opt == O_FP) fpr = optarg;
    else if (opt == O_COUNTER) c.counter = optarg;
    else if (opt == O_ACCEPT) c.accept_rollback = true;
    else return cli_usage(cli_find("report"), false);
  }
  if (!out) { cli_err("report: --out FILE.html|FILE.txt missing"); return CLI_USAGE; }
  size_t ol = strlen(out);
  bool html = ol > 5 && !strcmp(out + ol - 5, ".html"), text = ol > 4 && !strcmp(out + ol - 4, ".txt");
  if (!html && !text) { cli_err("report: --out %s: name it FILE.html or FILE.txt (the format follows the name)", out); return CLI_USAGE; }
  if (argc - optind > 1) return cli_usage(cli_find("report"), false);
  if (argc - optind == 1) { int rc = cli_source_arg("report", &c, argv[optind]); if (rc) return rc; }
  if (pubkey && fpr) { cli_err("report: give --pubkey or --fingerprint, not both"); return CLI_USAGE; }
  struct model m = { .html = html };
  int64_t now = cli_now_ns();
  if (since && cli_parse_time(since, now, &m.since)) { cli_err("report: --since %s: not a time", since); return CLI_USAGE; }
  if (until && cli_parse_time(until, now, &m.until)) { cli_err("report: --until %s: not a time", until); return CLI_USAGE; }
  if (since && until && m.since > m.until) { cli_err("report: --since %s is after --until %s: the range is empty", since, until); return CLI_USAGE; }

  /* 1. verification: every record, its chain and seals, against the key */
  struct cli_source s;
  int rc = cli_source_open(&c, pubkey, fpr, &s);
  if (rc) return rc;
  struct journal_record_source *src = s.bundle ? journal_bundle_source(s.bundle) : cli_source_records(&s, 0);
  if (!src) { cli_source_close(&s); cli_err("report: cannot read the journal"); return CLI_ENV; }
  struct cli_bundle_check bc = { 0 };
  if (s.bundle && (rc = cli_bundle_check_begin(&s, c.bundle, NULL, &bc))) { cli_source_close(&s); return rc; }
  struct journal_verify_result vr;
  int vrc = journal_verify(src, s.pubkey, s.bundle ? journal_bundle_first_prev(s.bundle) : NULL, &vr, NULL, NULL);
  char *head_note = NULL; /* a bundle's head at export, signed and proven consistent */
  if (vrc == 0 && s.bundle && bc.t) {
    const char *hn;
    size_t hl;
    if (cli_bundle_head_note(&bc, &hn, &hl)) vrc = JOURNAL_EPROOF;
    else if ((head_note = malloc(hl + 1))) { memcpy(head_note, hn, hl); head_note[hl] = 0; }
  }
  /* a data dir's long-horizon log answers for what the main log no longer holds: it is
   * checked the same way, with the same key (verify_history.c) */
  char hist1[400] = "", hist2[400] = "";
  bool hist_bad = false;
  if (vrc == 0 && s.reader && c.dir && journal_history_exists(c.dir)) {
    int hrc = cli_history_check(s.reader, c.dir, s.pubkey, hist1, sizeof hist1, hist2, sizeof hist2);
    if (hrc) { hist_bad = true; vrc = JOURNAL_ECORRUPT; }
  }
  char fp[33], devid[33] = "";
  journal_fingerprint_hex(s.pubkey, fp);
  if (s.bundle) snprintf(devid, sizeof devid, "%s", journal_bundle_device_id(s.bundle));
  else if (s.reader && journal_reader_device_id(s.reader, devid)) devid[0] = 0;
  bool pinned = s.pinned;
  uint8_t spk[JOURNAL_PUBKEY_BYTES];
  memcpy(spk, s.pubkey, sizeof spk);
  cli_source_close(&s);

  /* every later read checks against the key the verification used (said once, not per read) */
  if (!pubkey && !fpr) fpr = fp;
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", out);
  unlink(tmp);
  m.f = fopen(tmp, "wx");
  if (!m.f) { cli_err("report: %s: %s", tmp, strerror(errno)); return CLI_ENV; }
  m.commands = json_array(); m.verdicts = json_object(); m.refusals = json_array(); m.faults = json_array();
  m.pq = json_array(); m.acks = json_array();
  struct cli_names names = { 0 };
  json_t *totals = NULL, *findings = NULL;
  struct cli_filter fl;
  memset(&fl, 0, sizeof fl);
  if (vrc == 0) {
    rc = cli_names_load(&c, pubkey, fpr, &names);
    if (!rc) rc = cli_walk(&c, pubkey, fpr, &fl, 0, take, &m);
    if (!rc) rc = cli_plot_energy(&c, pubkey, fpr, m.since, m.until, NULL, false, &totals);
    if (!rc) rc = cli_diagnose_run(&c, pubkey, fpr, m.since, 0, &names, &findings);
  }
  if (html)
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>hems report</title>\n<style>"
          "body{font:14px sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:0.5em 0}"
          "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}.bad{background:#fdd;border:2px solid #c00;padding:1em}"
          ".ok{background:#dfd;padding:1em}</style></head><body>\n<h1>hems report</h1>\n", m.f);
  else fputs("hems report\n===========\n", m.f);
  /* the verdict first: what everything below rests on */
  raw(&m, vrc == 0 ? "<div class=\"ok\" id=\"verification\">" : "<div class=\"bad\" id=\"verification\">", "");
  if (vrc == 0)
    put(&m, "VERIFIED: records %llu..%llu intact (%llu records, %llu seals), signed by key %s%s.", (unsigned long long)vr.first_seq,
        (unsigned long long)vr.last_seq, (unsigned long long)vr.records, (unsigned long long)vr.seals, fp,
        pinned ? " (the pinned key)" : " (NOT pinned: checked against the journal's own key; pin it with --fingerprint)");
  else if (hist_bad)
    put(&m, "NOT VERIFIED: the long-horizon log is damaged or altered: %s. Nothing below is shown: the records cannot be "
        "trusted.", hist2[0] ? hist2 : hist1);
  else
    put(&m, "NOT VERIFIED: the journal is damaged or altered at seq %llu: %s. Nothing below is shown: the records cannot be "
        "trusted.", (unsigned long long)vr.bad_seq, vr.reason);
  if (vrc == 0 && hist1[0]) {
    raw(&m, "<br>\n", "\n");
    put(&m, "Long-horizon log: %s%s%s.", hist1, hist2[0] ? "; " : "", hist2);
  }
  raw(&m, "</div>\n", "\n");
  put(&m, "Panel (device id) %s; key fingerprint %s.", devid[0] ? devid : "unknown", fp);
  raw(&m, "<br>\n", "\n");
  if (vrc == 0 && m.first_seq) {
    put(&m, "Covered: seq %llu..%llu, %s to %s (UTC).", (unsigned long long)m.first_seq, (unsigned long long)m.last_seq, m.first_time, m.last_time);
    raw(&m, "<br>\n", "\n");
  }
  /* the checkpoints: the newest seal's (its signed tree head), and a bundle's head at export */
  struct journal_record sr;
  char note[JOURNAL_TLOG_NOTE_MAX];
  int nl = -1;
  if (vrc == 0 && m.seal && journal_record_decode(m.seal, m.seal_len, &sr) == 0 && sr.version >= 3 && devid[0] &&
      journal_seal_verify(&sr, devid, spk) == 0)
    nl = journal_seal_note(&sr, devid, spk, note, sizeof note);
  if (nl > 0) {
    put(&m, "Checkpoint of the newest seal (seq %llu, tree size %llu; C2SP signed note, verifiable with `hems key verifier`):",
        (unsigned long long)sr.seq, (unsigned long long)sr.body.seal.sealed_seq);
    raw(&m, "<pre class=\"checkpoint\">", "\n");
    put(&m, "%.*s", nl, note);
    raw(&m, "</pre>\n", "\n");
  }
  if (head_note) {
    put(&m, "Head at export (the panel's newest checkpoint when the bundle was written, signed by the key and proven to extend the "
            "records above):");
    raw(&m, "<pre class=\"checkpoint\">", "\n");
    put(&m, "%s", head_note);
    raw(&m, "</pre>\n", "\n");
  }
  if (since || until) { put(&m, "Period: %s to %s (UTC).", since ? since : "the start", until ? until : "the end"); raw(&m, "\n", "\n"); }

  if (vrc == 0 && !rc) {
    heading(&m, "Energy per branch");
    raw(&m, "<table><tr><th>branch</th><th>imported</th><th>exported</th></tr>\n", "");
    size_t i;
    json_t *x;
    json_array_foreach(totals, i, x) {
      char a[32], b[32];
      cli_unit_text("import_uwh", json_integer_value(json_object_get(x, "import_uwh")), a, sizeof a);
      cli_unit_text("export_uwh", json_integer_value(json_object_get(x, "export_uwh")), b, sizeof b);
      row_begin(&m); branch_label(&m, &names, json_object_get(x, "branch")); cell_sep(&m); put(&m, "%s", a); cell_sep(&m); put(&m, "%s", b); row_end(&m);
    }
    raw(&m, "</table>\n", "");
    if (html) cli_plot_energy(&c, pubkey, fpr, m.since, m.until, m.f, false, NULL);

    heading(&m, "Commands and what the panel measured after them");
    raw(&m, "<table><tr><th>time</th><th>branch</th><th>to</th><th>why</th><th>sense-back</th></tr>\n", "");
    json_array_foreach(m.commands, i, x) {
      const json_t *b = json_object_get(x, "body");
      char k[24];
      snprintf(k, sizeof k, "%lld", (long long)json_integer_value(json_object_get(x, "seq")));
      const json_t *sb = json_object_get(m.verdicts, k);
      row_begin(&m); put(&m, "%s", s_of(x, "time")); cell_sep(&m); branch_label(&m, &names, json_object_get(b, "target"));
      cell_sep(&m); put(&m, "%s", s_of(b, "desired")); cell_sep(&m);
      put(&m, "%s%s%s", s_of(b, "reason"), *s_of(b, "request_id") ? ", request " : "", s_of(b, "request_id"));
      cell_sep(&m);
      if (sb) put(&m, "%s (seq %lld)", s_of(json_object_get(sb, "body"), "verdict"), (long long)json_integer_value(json_object_get(sb, "seq")));
      else put(&m, "none recorded");
      row_end(&m);
    }
    raw(&m, "</table>\n", "");

    heading(&m, "Refusals");
    json_array_foreach(m.refusals, i, x) {
      const json_t *b = json_object_get(x, "body");
      raw(&m, "<p>", "- ");
      put(&m, "%s: branch ", s_of(x, "time"));
      branch_label(&m, &names, json_object_get(b, "target"));
      put(&m, " %s refused: %s", s_of(b, "desired"), s_of(b, "reason"));
      raw(&m, "</p>\n", "\n");
    }
    if (!json_array_size(m.refusals)) { raw(&m, "<p>", ""); put(&m, "none"); raw(&m, "</p>\n", "\n"); }

    heading(&m, "Faults");
    json_array_foreach(m.faults, i, x) {
      const json_t *b = json_object_get(x, "body");
      raw(&m, "<p>", "- ");
      put(&m, "%s: %s %s", s_of(x, "time"), s_of(b, "code"), s_of(b, "detail"));
      raw(&m, "</p>\n", "\n");
    }
    if (!json_array_size(m.faults)) { raw(&m, "<p>", ""); put(&m, "none"); raw(&m, "</p>\n", "\n"); }

    heading(&m, "Power-quality events");
    unsigned plots = 0;
    json_array_foreach(m.pq, i, x) {
      const json_t *b = json_object_get(x, "body");
      char ext[32], dur[32];
      cli_unit_text("extreme_mv", json_integer_value(json_object_get(b, "extreme_mv")), ext, sizeof ext);
      cli_unit_text("duration_us", json_integer_value(json_object_get(b, "duration_us")), dur, sizeof dur);
      raw(&m, "<p>", "- ");
      put(&m, "%s: %s on phases %s down to %s (%.1f %% of declared) for %s (seq %lld)", s_of(x, "time"), s_of(b, "kind"),
          s_of(b, "phases"), ext, (double)json_integer_value(json_object_get(b, "extreme_mpct")) / 1000.0, dur,
          (long long)json_integer_value(json_object_get(x, "seq")));
      raw(&m, "</p>\n", "\n");
      const char *cap = s_of(b, "capture");
      if (html && plots < PLOTS_MAX && *cap && strspn(cap, "0") != strlen(cap)) {
        cli_plot_capture(&c, pubkey, fpr, (uint64_t)json_integer_value(json_object_get(x, "seq")), m.f, false);
        plots++;
      }
    }
    if (!json_array_size(m.pq)) { raw(&m, "<p>", ""); put(&m, "none"); raw(&m, "</p>\n", "\n"); }

    heading(&m, "Alarms and acknowledgements");
    json_array_foreach(m.acks, i, x) {
      const json_t *b = json_object_get(x, "body");
      raw(&m, "<p>", "- ");
      put(&m, "%s: acknowledgement of %s on branch ", s_of(x, "time"), s_of(b, "alarm"));
      branch_label(&m, &names, json_object_get(b, "target"));
      raw(&m, "</p>\n", "\n");
    }
    json_array_foreach(findings, i, x) {
      raw(&m, "<p>", "- ");
      put(&m, "%s on ", s_of(x, "finding"));
      if (json_integer_value(json_object_get(x, "branch"))) { put(&m, "branch "); branch_label(&m, &names, json_object_get(x, "branch")); }
      else put(&m, "the panel");
      put(&m, ": %s First fix: %s", s_of(x, "summary"), s_of(x, "first_fix"));
      raw(&m, "</p>\n", "\n");
    }
    if (!json_array_size(m.acks) && !json_array_size(findings)) { raw(&m, "<p>", ""); put(&m, "none: diagnose found nothing"); raw(&m, "</p>\n", "\n"); }
  }
  if (html) fputs("</body></html>\n", m.f);
  bool bad = ferror(m.f) != 0;
  if (fclose(m.f) != 0) bad = true;
  json_decref(m.commands); json_decref(m.verdicts); json_decref(m.refusals); json_decref(m.faults);
  json_decref(m.pq); json_decref(m.acks); json_decref(totals); json_decref(findings);
  cli_names_free(&names);
  free(m.seal);
  free(head_note);
  if (bad || rc) { unlink(tmp); if (!rc) { cli_err("report: %s: write failed", out); rc = CLI_ENV; } return rc; }
  if (rename(tmp, out) != 0) { cli_err("report: %s: %s", out, strerror(errno)); unlink(tmp); return CLI_ENV; }
  if (vrc) {
    cli_err("report: %s: the journal does not verify (seq %llu: %s); the report says so", out, (unsigned long long)vr.bad_seq, vr.reason);
    return CLI_FAIL;
  }
  printf("wrote %s\n", out);
  return CLI_OK;
}
