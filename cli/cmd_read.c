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
#include <jansson.h>
#include "cli.h"

enum { O_DIR = 1000, O_COUNTER, O_ACCEPT, O_FORMAT, O_LIMIT, O_BRANCH, O_TYPE, O_SINCE, O_UNTIL, O_PUBKEY, O_FP, O_SOURCE };

/* A bundle's key pin (--pubkey FILE | --fingerprint FP), as `verify` takes it. */
#define PIN_OPTS { "pubkey", required_argument, NULL, O_PUBKEY }, { "fingerprint", required_argument, NULL, O_FP }

enum fmt { F_TABLE, F_JSONL, F_CSV, F_TEXT, F_JSON, F_CBOR };

static int parse_fmt(const char *s, int *out, bool listing)
{
  if (listing) {
    if (!strcmp(s, "table")) *out = F_TABLE;
    else if (!strcmp(s, "jsonl")) *out = F_JSONL;
    else if (!strcmp(s, "csv")) *out = F_CSV;
    else return -EINVAL;
  } else {
    if (!strcmp(s, "text")) *out = F_TEXT;
    else if (!strcmp(s, "json")) *out = F_JSON;
    else if (!strcmp(s, "cbor")) *out = F_CBOR;
    else return -EINVAL;
  }
  return 0;
}


/* ------------------------------------------------------------------ show */

/* Is p (a byte, or the lead byte of a two-byte UTF-8 sequence, n bytes left) a control: C0,
 * DEL, or C1 (U+0080..U+009F)? */
static bool is_control(const unsigned char *p, size_t n)
{
  return p[0] < 0x20 || p[0] == 0x7f || (p[0] == 0xc2 && n > 1 && p[1] >= 0x80 && p[1] <= 0x9f);
}

/* A text field (len bytes) for a terminal: as it is when it holds no control character (NUL
 * included) and does not start with a quote; else quoted, with \" \\ \n and every control as
 * \u00XX (RFC 8259 escapes), so record text cannot forge lines, move the cursor over earlier
 * output, drive the terminal or hide what follows a NUL. */
static void put_text(const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s;
  bool plain = !len || p[0] != '"';
  for (size_t i = 0; i < len && plain; i++) plain = !is_control(p + i, len - i);
  if (plain) { fwrite(s, 1, len, stdout); return; }
  putchar('"');
  for (size_t i = 0; i < len; i++) {
    if (p[i] == '"' || p[i] == '\\') printf("\\%c", p[i]);
    else if (p[i] == '\n') fputs("\\n", stdout);
    else if (p[i] == 0xc2 && is_control(p + i, len - i)) { printf("\\u%04x", p[i + 1]); i++; }
    else if (is_control(p + i, len - i)) printf("\\u%04x", p[i]);
    else putchar(p[i]);
  }
  putchar('"');
}

static void print_text(const char *json)
{
  json_error_t je;
  json_t *o = json_loads(json, 0, &je);
  if (!o) { puts(json); return; }
  printf("seq %lld  %s  %s  %s\n", (long long)json_integer_value(json_object_get(o, "seq")),
         json_string_value(json_object_get(o, "type")), json_string_value(json_object_get(o, "time")),
         json_string_value(json_object_get(o, "source")));
  const char *k;
  json_t *v;
  json_object_foreach(json_object_get(o, "body"), k, v) {
    char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    fputs("  ", stdout);
    put_text(k, strlen(k));
    fputs(": ", stdout);
    if (s) fputs(s, stdout);
    else put_text(json_string_value(v), json_string_length(v));
    putchar('\n');
    free(s);
  }
  printf("  (mono_ns %lld, time quality %s, boot %s, hash %s)\n", (long long)json_integer_value(json_object_get(o, "mono_ns")),
         json_string_value(json_object_get(o, "time_quality")), json_string_value(json_object_get(o, "boot_id")),
         json_string_value(json_object_get(o, "hash")));
  json_decref(o);
}

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
  return o->json ? 0 : JOURNAL_EBADREC;
}

static int shown_print(struct shown *o, int fmt)
{
  int rc = 0;
  if (fmt == F_CBOR && o->bytes) {
    if (fwrite(o->bytes, 1, o->len, stdout) != o->len || fflush(stdout) != 0) rc = -EIO;
  } else if (o->json) {
    if (fmt == F_JSON) puts(o->json);
    else print_text(o->json);
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
    else if (opt == O_FORMAT) { if (parse_fmt(optarg, &fmt, false)) { cli_err("show: --format takes text, json or cbor"); return CLI_USAGE; } }
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
    return shown_print_said(&out, fmt, drc);
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
      uint64_t first, last;
      journal_iter_end(it);
      it = NULL;
      journal_reader_bounds(s.reader, &first, &last);
      cli_err("show: no record with seq %llu (the journal holds %llu..%llu)", (unsigned long long)want,
              (unsigned long long)first, (unsigned long long)last);
      exit_code = CLI_FAIL;
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
  if (out.have && exit_code == CLI_OK && !out.json && !out.bytes) {
    cli_err("show: seq %llu: record does not decode", (unsigned long long)want);
    exit_code = CLI_FAIL;
  }
  exit_code = shown_print_said(&out, fmt, exit_code);
  cli_source_close(&s);
  return exit_code;
}

/* ------------------------------------------------------------------ timeline */

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void csv_field(const char *s)
{
  putchar('"');
  for (; *s; s++) { if (*s == '"') putchar('"'); putchar(*s); }
  putchar('"');
}

/* Prints one record; returns 0 or -1 when stdout failed (a closed pipe ends the listing). */
static int emit(int fmt, const uint8_t *b, size_t len)
{
  char *json = journal_record_to_json(b, len, JOURNAL_JSON_COMPACT);
  if (!json) return 0;
  if (fmt == F_JSONL) {
    puts(json);
  } else {
    json_t *o = json_loads(json, 0, NULL);
    char *body = o ? json_dumps(json_object_get(o, "body"), JSON_COMPACT) : NULL;
    const char *t = json_string_value(json_object_get(o, "time"));
    const char *ty = json_string_value(json_object_get(o, "type"));
    const char *src = json_string_value(json_object_get(o, "source"));
    long long seq = json_integer_value(json_object_get(o, "seq"));
    if (fmt == F_CSV) {
      printf("%lld,%s,%s,%s,", seq, t, ty, src);
      csv_field(body ? body : "");
      putchar('\n');
    } else {
      char sum[61];
      snprintf(sum, sizeof sum, "%s", body ? body : "");
      printf("%8lld  %s  %-10s  %-14s  %s%s\n", seq, t, ty, src, sum, body && strlen(body) > 60 ? "…" : "");
    }
    free(body);
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
  int fmt = isatty(STDOUT_FILENO) ? F_TABLE : F_JSONL, opt;
  uint64_t limit = 0;
  bool have_limit = false;
  struct cli_filter f;
  memset(&f, 0, sizeof f);
  const char *since = NULL, *until = NULL, *pubkey = NULL, *fpr = NULL;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (opt) {
    case O_DIR: c.dir = optarg; break;
    case O_COUNTER: c.counter = optarg; break;
    case O_ACCEPT: c.accept_rollback = true; break;
    case O_FORMAT:
      if (parse_fmt(optarg, &fmt, true)) { cli_err("timeline: --format takes table, jsonl or csv"); return CLI_USAGE; }
      break;
    case O_LIMIT:
      if (cli_parse_u64(optarg, &limit)) { cli_err("timeline: --limit takes a number"); return CLI_USAGE; }
      have_limit = true;
      break;
    case O_BRANCH: {
      uint64_t b;
      if (cli_parse_u64(optarg, &b) || b == 0 || b > 65535) { cli_err("timeline: --branch %s: not a branch number", optarg); return CLI_USAGE; }
      f.branch = (uint16_t)b;
      break;
    }
    case O_TYPE: {
      char buf[512];
      snprintf(buf, sizeof buf, "%s", optarg);
      for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        unsigned ty = journal_type_from_name(t);
        if (!ty) { cli_err("timeline: --type %s: unknown record type", t); return CLI_USAGE; }
        f.types[ty] = true;
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
  if (!have_limit) limit = fmt == F_TABLE ? 100 : 0;
  int64_t now = cli_now_ns();
  bool is_seq;
  if (since && cli_parse_seq_or_time(since, now, &f.since_seq, &f.since_t, &is_seq)) {
    cli_err("timeline: --since %s: not a seq, RFC 3339 time, @UNIX or -15m/-2h/-7d", since); return CLI_USAGE;
  } else if (since) f.have_since_t = !is_seq;
  if (until && cli_parse_seq_or_time(until, now, &f.until_seq, &f.until_t, &is_seq)) {
    cli_err("timeline: --until %s: not a seq, RFC 3339 time, @UNIX or -15m/-2h/-7d", until); return CLI_USAGE;
  } else if (until) f.have_until_t = !is_seq;

  if (pubkey && fpr) { cli_err("timeline: give --pubkey or --fingerprint, not both"); return CLI_USAGE; }
  bool via_daemon = !c.bundle && cli_read_through_daemon(c.dir);
  struct cli_source s;
  int rc = via_daemon ? 0 : cli_source_open(&c, pubkey, fpr, &s);
  if (rc) return rc;
  if (fmt == F_CSV) puts("seq,time,type,source,body");
  else if (fmt == F_TABLE) printf("%8s  %-24s  %-10s  %-14s  %s\n", "SEQ", "TIME", "TYPE", "SOURCE", "BODY");
  if (via_daemon) return cli_daemon_timeline(c.dir, &f, limit, emit, fmt);
  uint64_t printed = 0;
  int exit_code = CLI_OK;
  const uint8_t *b;
  size_t len;
  uint64_t seq;

  if (s.bundle) {
    struct journal_record_source *src = cli_source_records(&s, 0);
    if (!src) { cli_source_close(&s); return CLI_ENV; }
    const char *why = NULL;
    int got;
    bool out_done = false;
    /* Read to the end even past --limit: the listing's exit status says the bundle is whole. */
    while ((got = src->next(src->ctx, &seq, &b, &len, &why)) == 1) {
      if (out_done || (limit && printed >= limit) || !cli_filter_matches(&f, b, len, seq)) continue;
      if (emit(fmt, b, len)) out_done = true;
      else printed++;
    }
    if (got < 0) exit_code = cli_source_damaged(&s, why);
    cli_source_close(&s);
    return exit_code;
  }

  struct journal_iter *it;
  if ((rc = journal_iter_begin(s.reader, 1, &it))) { cli_source_close(&s); return cli_open_error(c.dir, c.counter, rc, 0); }
  uint64_t start = f.since_seq ? f.since_seq : 1;
  if (f.have_since_t) {
    uint64_t ts;
    if (journal_seek_time(it, f.since_t, &ts) == 0 && ts > start) start = ts;
  }
  bool indexed = f.branch || f.any_type || f.have_source;
  char why[200];
  if (indexed && journal_index_coverage(it, why, sizeof why) != 0) {
    /* the index is a derived file: an incomplete one must not make records vanish */
    cli_err("timeline: warning: %s: index incomplete (%s); listing by a full scan ('hems reindex --dir %s' rebuilds it)",
            c.dir, why, c.dir);
    indexed = false;
  }
  if (!indexed) {
    journal_iter_end(it);
    if ((rc = journal_iter_begin(s.reader, start, &it))) { cli_source_close(&s); return CLI_ENV; }
    while ((!limit || printed < limit) && journal_iter_next(it, &seq, &b, &len) == 1) {
      if (f.until_seq && seq > f.until_seq) break;
      if (!cli_filter_matches(&f, b, len, seq)) continue;
      if (emit(fmt, b, len)) break;
      printed++;
    }
  } else {
    /* Candidate groups from the most selective index: the branch, the source, else the union
     * of types. */
    uint64_t from = start;
    bool done = false;
    while (!done && (!limit || printed < limit)) {
      uint64_t groups[256];
      int n = 0;
      if (f.branch) {
        n = journal_index_blocks(it, JOURNAL_IDX_BRANCH, f.branch, from, groups, 256);
      } else if (f.have_source) {
        n = journal_index_blocks(it, JOURNAL_IDX_SOURCE, journal_index_source_value(&f.source), from, groups, 256);
      } else {
        /* merge per-type lists: the smallest group seqs across the types, deduplicated */
        static uint64_t best[256 * JOURNAL_T__MAX];
        int nb = 0;
        for (unsigned t = 1; t < JOURNAL_T__MAX; t++) {
          if (!f.types[t]) continue;
          int k = journal_index_blocks(it, JOURNAL_IDX_TYPE, t, from, best + nb, 256);
          if (k > 0) nb += k;
        }
        qsort(best, (size_t)nb, sizeof best[0], cmp_u64);
        for (int i = 0; i < nb && n < 256; i++) if (n == 0 || groups[n - 1] != best[i]) groups[n++] = best[i];
      }
      if (n <= 0) break;
      for (int gi = 0; gi < n && !done; gi++) {
        uint64_t gf, gl;
        if (journal_index_block_range(it, groups[gi], &gf, &gl)) continue;
        for (uint64_t q = gf > start ? gf : start; q <= gl; q++) {
          if (f.until_seq && q > f.until_seq) { done = true; break; }
          if (journal_iter_get(it, q, &b, &len)) continue;
          if (!cli_filter_matches(&f, b, len, q)) continue;
          if (emit(fmt, b, len)) { done = true; break; }
          if (limit && ++printed >= limit) { done = true; break; }
        }
        from = gl + 1;
      }
    }
  }
  journal_iter_end(it);
  cli_source_close(&s);
  return exit_code;
}
