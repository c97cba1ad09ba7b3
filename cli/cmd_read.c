/*
 * cmd_read.c — `hems show` and `hems timeline`: reading records from a data dir (through the
 * indexes) or from a bundle (checked as it is read: only records proven by a seal are printed,
 * then, on damage, the line "bundle damaged after seq N: why" and exit 1).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <jansson.h>
#include "cli.h"

enum { O_DIR = 1000, O_COUNTER, O_ACCEPT, O_FORMAT, O_LIMIT, O_BRANCH, O_TYPE, O_SINCE, O_UNTIL, O_PUBKEY, O_FP, O_SOURCE };

/* A bundle's key pin (--pubkey FILE | --fingerprint FP), as `verify` takes it. */
#define PIN_OPTS { "pubkey", required_argument, NULL, O_PUBKEY }, { "fingerprint", required_argument, NULL, O_FP }

enum fmt { F_TABLE, F_JSONL, F_CSV, F_TEXT, F_JSON, F_CBOR, F_JSON_ARRAY };

/* The words every object-printing command takes (table and text are one; jsonl one compact
 * line per object), with what fits each: timeline's json is one array, show's cbor the bytes. */
static int parse_fmt(const char *s, int *out, bool listing)
{
  if (listing) {
    if (!strcmp(s, "table") || !strcmp(s, "text")) *out = F_TABLE;
    else if (!strcmp(s, "jsonl")) *out = F_JSONL;
    else if (!strcmp(s, "json")) *out = F_JSON_ARRAY;
    else if (!strcmp(s, "csv")) *out = F_CSV;
    else return -EINVAL;
  } else {
    if (!strcmp(s, "text") || !strcmp(s, "table")) *out = F_TEXT;
    else if (!strcmp(s, "json")) *out = F_JSON;
    else if (!strcmp(s, "jsonl")) *out = F_JSONL;
    else if (!strcmp(s, "cbor")) *out = F_CBOR;
    else return -EINVAL;
  }
  return 0;
}


/* ------------------------------------------------------------------ show */

/* What show prints of one record: its JSON (text or json), or for cbor a copy of its exact
 * bytes (what the chain, the seals and the Merkle tree hash), written out at the end. */
struct shown {
  char *json;
  uint8_t *bytes;
  size_t len;
  bool have;
};

static int shown_take(struct shown *o, int fmt, const uint8_t *b, size_t len)
{
  o->have = true;
  if (fmt == F_CBOR) {
    o->bytes = malloc(len ? len : 1);
    if (!o->bytes) return -ENOMEM;
    memcpy(o->bytes, b, len);
    o->len = len;
    return 0;
  }
  o->json = journal_record_to_json(b, len, JOURNAL_JSON_WITH_HASH | (fmt == F_JSON ? 0 : JOURNAL_JSON_COMPACT));
  if (fmt == F_JSONL && o->json) {
    /* one line: the compact form */
    free(o->json);
    o->json = journal_record_to_json(b, len, JOURNAL_JSON_WITH_HASH | JOURNAL_JSON_COMPACT);
  }
  return o->json ? 0 : JOURNAL_EBADREC;
}

/* Branch names for text output (loaded once the record is in hand). */
static struct cli_names show_names;

static int shown_print(struct shown *o, int fmt)
{
  int rc = 0;
  if (fmt == F_CBOR && o->bytes) {
    if (fwrite(o->bytes, 1, o->len, stdout) != o->len || fflush(stdout) != 0) rc = -EIO;
  } else if (o->json) {
    json_t *rec = fmt == F_JSON || fmt == F_JSONL ? NULL : json_loads(o->json, 0, NULL);
    if (rec) cli_render_show(rec, &show_names);
    else puts(o->json);
    json_decref(rec);
  }
  free(o->json);
  free(o->bytes);
  memset(o, 0, sizeof *o);
  return rc;
}

/* shown_take, its failure said: the exit code. */
static int shown_take_said(struct shown *o, int fmt, const uint8_t *b, size_t len, uint64_t seq)
{
  int rc = shown_take(o, fmt, b, len);
  if (rc == -ENOMEM) { cli_err("show: out of memory"); return CLI_ENV; }
  if (rc) { cli_err("show: seq %llu: record does not decode", (unsigned long long)seq); return CLI_FAIL; }
  return CLI_OK;
}

/* show of a seq retention cut: the copy the long-horizon log hands over */
struct history_pick { struct shown *out; int fmt, rc; };
static int pick_copy(void *ctx, const uint8_t *b, size_t len)
{
  struct history_pick *p = ctx;
  uint64_t seq;
  unsigned type;
  uint8_t prev[JOURNAL_HASH_BYTES];
  if (journal_record_peek(b, len, &seq, &type, prev) != 0) return 1;
  p->rc = shown_take_said(p->out, p->fmt, b, len, seq);
  return 0; /* the limit (1) ends the walk */
}


/* shown_print, its failure said: the exit code (exit_code unless writing failed). */
static int shown_print_said(struct shown *o, int fmt, int exit_code)
{
  if (shown_print(o, fmt) != 0 && exit_code == CLI_OK) {
    cli_err("show: writing standard output: %s", strerror(errno));
    return CLI_ENV;
  }
  return exit_code;
}

int cli_cmd_show(int argc, char **argv)
{
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT },
                                      { "format", required_argument, NULL, O_FORMAT }, PIN_OPTS, { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *pubkey = NULL, *fpr = NULL;
  int fmt = F_TEXT, opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) c.dir = optarg;
    else if (opt == O_COUNTER) c.counter = optarg;
    else if (opt == O_ACCEPT) c.accept_rollback = true;
    else if (opt == O_FORMAT) { if (parse_fmt(optarg, &fmt, false)) { cli_err("show: --format %s: takes text, table, json, jsonl or cbor", optarg); return CLI_USAGE; } }
    else if (opt == O_PUBKEY) pubkey = optarg;
    else if (opt == O_FP) fpr = optarg;
    else return cli_usage(cli_find("show"), false);
  }
  if (fmt == F_CBOR && isatty(STDOUT_FILENO)) {
    cli_err("show: --format cbor writes binary; redirect standard output to a file or a pipe");
    return CLI_USAGE;
  }
  int npos = argc - optind;
  if (npos < 1 || npos > 2) return cli_usage(cli_find("show"), false);
  if (npos == 2) { int rc = cli_source_arg(NULL, &c, argv[optind]); if (rc) return rc; optind++; }
  uint64_t want;
  if (cli_parse_u64(argv[optind], &want) || want == 0) { cli_err("show: SEQ must be a positive integer"); return CLI_USAGE; }
  if (pubkey && fpr) { cli_err("show: give --pubkey or --fingerprint, not both"); return CLI_USAGE; }
  struct shown out = { 0 };
  if (!c.bundle && cli_read_through_daemon(c.dir)) {
    uint8_t *rb;
    size_t rl;
    int drc = cli_daemon_show(c.dir, want, &rb, &rl);
    if (drc) return drc;
    drc = shown_take_said(&out, fmt, rb, rl, want);
    free(rb);
    if (drc == CLI_OK && fmt == F_TEXT) cli_names_load(&c, NULL, NULL, &show_names);
    drc = shown_print_said(&out, fmt, drc);
    cli_names_free(&show_names);
    return drc;
  }
  struct cli_source s;
  int rc = cli_source_open(&c, pubkey, fpr, &s);
  if (rc) return rc;
  int exit_code = CLI_OK;
  if (s.reader) {
    struct journal_iter *it;
    if ((rc = journal_iter_begin(s.reader, want, &it))) { cli_source_close(&s); return cli_open_error(c.dir, c.counter, rc, 0); }
    const uint8_t *b;
    size_t len;
    rc = journal_iter_get(it, want, &b, &len);
    if (rc == 0) {
      exit_code = shown_take_said(&out, fmt, b, len, want);
    } else {
      uint64_t first, last, found = 0;
      journal_iter_end(it);
      it = NULL;
      journal_reader_bounds(s.reader, &first, &last);
      /* cut by retention: the long-horizon log's copy, when it keeps one (read_history.c) */
      struct history_pick hp = { &out, fmt, CLI_OK };
      struct cli_filter hf;
      memset(&hf, 0, sizeof hf);
      hf.since_seq = hf.until_seq = want;
      if (want < first) cli_walk_history(c.dir, first, &hf, 1, pick_copy, &hp, &found);
      if (found) {
        exit_code = hp.rc;
      } else {
        cli_err("show: no record with seq %llu (the journal holds %llu..%llu%s)", (unsigned long long)want,
                (unsigned long long)first, (unsigned long long)last,
                want < first && journal_history_exists(c.dir) ? "; the long-horizon log keeps no copy of it" : "");
        exit_code = CLI_FAIL;
      }
    }
    if (it) journal_iter_end(it);
  } else {
    /* The whole bundle is read (and so checked) even when the record comes early. */
    struct journal_record_source *src = cli_source_records(&s, 0);
    if (!src) { cli_source_close(&s); return CLI_ENV; }
    uint64_t seq;
    const uint8_t *b;
    size_t len;
    const char *why = NULL;
    int got;
    while ((got = src->next(src->ctx, &seq, &b, &len, &why)) == 1)
      if (seq == want && !out.have && shown_take(&out, fmt, b, len) == -ENOMEM) { got = -ENOMEM; why = "out of memory"; break; }
    if (got < 0) {
      /* what came before the damage was proven; the cbor bytes only when a seal proved them */
      if (out.json || out.bytes) shown_print(&out, fmt);
      exit_code = cli_source_damaged(&s, why);
    } else if (!out.have) {
      cli_err("show: no record with seq %llu in the bundle", (unsigned long long)want);
      exit_code = CLI_FAIL;
    }
  }
  if (fmt == F_TEXT && out.json && exit_code == CLI_OK) {
    cli_source_close(&s);
    cli_names_load(&c, pubkey, fpr, &show_names); /* names are a help: without them, numbers */
  }
  if (out.have && exit_code == CLI_OK && !out.json && !out.bytes) {
    cli_err("show: seq %llu: record does not decode", (unsigned long long)want);
    exit_code = CLI_FAIL;
  }
  exit_code = shown_print_said(&out, fmt, exit_code);
  cli_source_close(&s);
  cli_names_free(&show_names);
  return exit_code;
}

/* ------------------------------------------------------------------ timeline */

/* What timeline prints with. */
struct tl {
  int fmt;
  struct cli_names names;
  struct cli_csv *csv;
  size_t width; /* of a terminal; 0: lines are not cut */
  uint64_t printed;
};

static size_t terminal_width(void)
{
  struct winsize ws;
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
  return 0;
}

/* Prints one record; returns 0 or -1 when stdout failed (a closed pipe ends the listing). */
static int emit(void *ctx, const uint8_t *b, size_t len)
{
  struct tl *t = ctx;
  char *json = journal_record_to_json(b, len, JOURNAL_JSON_COMPACT);
  if (!json) return 0;
  if (t->fmt == F_JSONL) {
    puts(json);
  } else if (t->fmt == F_JSON_ARRAY) {
    printf("%s\n  %s", t->printed ? "," : "[", json);
    t->printed++;
  } else {
    json_t *o = json_loads(json, 0, NULL);
    if (t->fmt == F_CSV) {
      cli_csv_row(t->csv, o);
    } else {
      static char body[8192];
      char src[120];
      cli_render_summary(o, &t->names, body, sizeof body);
      cli_render_source(o, &t->names, src, sizeof src);
      const char *tm = json_string_value(json_object_get(o, "time"));
      const char *ty = json_string_value(json_object_get(o, "type"));
      char head[160];
      int hl = snprintf(head, sizeof head, "%8lld  %s  %-10s  %-20s  ", (long long)json_integer_value(json_object_get(o, "seq")),
                        tm ? tm : "?", ty ? ty : "?", src);
      size_t room = t->width > (size_t)hl + 10 ? t->width - (size_t)hl : 0, bl = strlen(body);
      if (room && bl > room) {
        size_t cut = cli_utf8_prefix(body, room - 1);
        printf("%s%.*s…\n", head, (int)cut, body);
      } else {
        printf("%s%s\n", head, body);
      }
    }
    json_decref(o);
  }
  free(json);
  return ferror(stdout) ? -1 : 0;
}

int cli_cmd_timeline(int argc, char **argv)
{
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT },
                                      { "format", required_argument, NULL, O_FORMAT }, { "limit", required_argument, NULL, O_LIMIT },
                                      { "branch", required_argument, NULL, O_BRANCH }, { "type", required_argument, NULL, O_TYPE },
                                      { "since", required_argument, NULL, O_SINCE }, { "until", required_argument, NULL, O_UNTIL },
                                      { "source", required_argument, NULL, O_SOURCE }, PIN_OPTS, { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  struct tl t = { .fmt = isatty(STDOUT_FILENO) ? F_TABLE : F_JSONL };
  int opt;
  uint64_t limit = 0;
  bool have_limit = false;
  struct cli_filter f;
  memset(&f, 0, sizeof f);
  const char *since = NULL, *until = NULL, *pubkey = NULL, *fpr = NULL, *branch = NULL;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (opt) {
    case O_DIR: c.dir = optarg; break;
    case O_COUNTER: c.counter = optarg; break;
    case O_ACCEPT: c.accept_rollback = true; break;
    case O_FORMAT:
      if (parse_fmt(optarg, &t.fmt, true)) { cli_err("timeline: --format %s: takes table, text, jsonl, json or csv", optarg); return CLI_USAGE; }
      break;
    case O_LIMIT:
      if (cli_parse_u64(optarg, &limit)) { cli_err("timeline: --limit %s: takes a number", optarg); return CLI_USAGE; }
      have_limit = true;
      break;
    case O_BRANCH: branch = optarg; break;
    case O_TYPE: {
      char buf[512];
      snprintf(buf, sizeof buf, "%s", optarg);
      for (char *save = NULL, *ty = strtok_r(buf, ",", &save); ty; ty = strtok_r(NULL, ",", &save)) {
        unsigned k = journal_type_from_name(ty);
        if (!k) {
          char list[400] = "";
          for (unsigned i = 1; i < JOURNAL_T__MAX; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i > 1 ? ", " : "", journal_type_name(i));
          cli_err("timeline: --type %s: unknown record type (types: %s)", ty, list);
          return CLI_USAGE;
        }
        f.types[k] = true;
        f.any_type = true;
      }
      break;
    }
    case O_SOURCE:
      memset(&f.source, 0, sizeof f.source);
      if (journal_source_parse(optarg, strlen(optarg), &f.source)) {
        cli_err("timeline: --source %s: not a source (panel, branch:7, afe:2, der:pv, tap:rcd:3, operator, remote:NAME)", optarg);
        return CLI_USAGE;
      }
      f.have_source = true;
      break;
    case O_SINCE: since = optarg; break;
    case O_UNTIL: until = optarg; break;
    case O_PUBKEY: pubkey = optarg; break;
    case O_FP: fpr = optarg; break;
    default: return cli_usage(cli_find("timeline"), false);
    }
  }
  if (argc - optind > 1) return cli_usage(cli_find("timeline"), false);
  if (argc - optind == 1) { int rc = cli_source_arg(NULL, &c, argv[optind]); if (rc) return rc; }
  if (!have_limit) limit = t.fmt == F_TABLE ? 100 : 0;
  int64_t now = cli_now_ns();
  bool is_seq;
  if (since && cli_parse_seq_or_time(since, now, &f.since_seq, &f.since_t, &is_seq)) {
    cli_err("timeline: --since %s: not a seq, a time (2026-12-04T15:15:24Z, 2026-12-04 15:15:24, 2026-12-04), @UNIX or -15m/-1h30m/-7d", since);
    return CLI_USAGE;
  } else if (since) f.have_since_t = !is_seq;
  if (until && cli_parse_seq_or_time(until, now, &f.until_seq, &f.until_t, &is_seq)) {
    cli_err("timeline: --until %s: not a seq, a time (2026-12-04T15:15:24Z, 2026-12-04 15:15:24, 2026-12-04), @UNIX or -15m/-1h30m/-7d", until);
    return CLI_USAGE;
  } else if (until) f.have_until_t = !is_seq;
  if ((f.since_seq && f.until_seq && f.since_seq > f.until_seq) || (f.have_since_t && f.have_until_t && f.since_t > f.until_t)) {
    cli_err("timeline: --since %s is after --until %s: the range is empty", since, until);
    return CLI_USAGE;
  }
  if (pubkey && fpr) { cli_err("timeline: give --pubkey or --fingerprint, not both"); return CLI_USAGE; }

  /* Names: for the text a person reads, and for --branch NAME. */
  int rc;
  if ((t.fmt != F_JSONL && t.fmt != F_JSON_ARRAY) || branch) {
    if ((rc = cli_names_load(&c, pubkey, fpr, &t.names))) return rc;
  }
  if (branch) {
    int brc = cli_branch_arg(&t.names, branch, &f.branch);
    if (brc == 0 && t.names.count && !cli_branch_name(&t.names, f.branch)) brc = -ENOENT; /* not a configured branch */
    if (brc) { cli_branch_arg_error("timeline", &t.names, branch, brc); cli_names_free(&t.names); return CLI_USAGE; }
  }
  if (t.fmt == F_CSV && !(t.csv = cli_csv_begin(&f, &t.names))) { cli_names_free(&t.names); cli_err("timeline: out of memory"); return CLI_ENV; }
  if (t.fmt == F_TABLE) {
    t.width = terminal_width();
    printf("%8s  %-24s  %-10s  %-20s  %s\n", "SEQ", "TIME", "TYPE", "SOURCE", "BODY");
  }
  rc = cli_walk(&c, pubkey, fpr, &f, limit, emit, &t);
  if (t.fmt == F_JSON_ARRAY) puts(t.printed ? "\n]" : "[]");
  cli_csv_end(t.csv);
  cli_names_free(&t.names);
  return rc;
}
