/*
 * bench_codec.c — `hems bench codec --dir DIR`: the record schemas side by side on a real
 * journal (one written by `hems run`, e.g. `--sim full-panel --speed max`). Every record is
 * decoded and re-encoded in schema v 1 and v 3 (journal format 3's bodies); the bench reports
 * the mean encoded bytes per record and per window record in each, and the decode time per
 * window record in each (one core, best of 3 passes over every window). A format-2 journal
 * holds v 1 records whose v 3-only window fields (hrms_min_m, hrms_max_m, event) are 0, so v 3
 * is also measured with them filled (the window's rms ± 0.5 %, no event) — the size of the
 * final record.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

struct codec_sizes { uint64_t n, v1, v3, v3full; };
struct codec_set { uint8_t *buf; size_t len, cap; size_t *off; size_t n, ncap; };

static int set_add(struct codec_set *s, const uint8_t *b, size_t len)
{
  if (s->len + len > s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 1 << 20;
    while (nc < s->len + len) nc *= 2;
    uint8_t *q = realloc(s->buf, nc);
    if (!q) return -1;
    s->buf = q;
    s->cap = nc;
  }
  if (s->n + 1 >= s->ncap) {
    size_t nc = s->ncap ? s->ncap * 2 : 4096;
    size_t *q = realloc(s->off, nc * sizeof *q);
    if (!q) return -1;
    s->off = q;
    s->ncap = nc;
  }
  memcpy(s->buf + s->len, b, len);
  s->off[s->n++] = s->len;
  s->len += len;
  s->off[s->n] = s->len;
  return 0;
}

/* Best of 3 passes: ns per record to decode every record of s. */
static double decode_ns(const struct codec_set *s)
{
  static struct journal_record r;
  double best = 0;
  uint64_t sink = 0;
  for (int pass = 0; pass < 3; pass++) {
    double t0 = cli_mono_s();
    for (size_t i = 0; i < s->n; i++) {
      if (journal_record_decode(s->buf + s->off[i], s->off[i + 1] - s->off[i], &r)) return -1;
      sink += r.body.window.nch;
    }
    double ns = (cli_mono_s() - t0) * 1e9 / (double)(s->n ? s->n : 1);
    if (pass == 0 || ns < best) best = ns;
  }
  return sink ? best : best; /* sink keeps the loop's decodes alive */
}

static void fill_v3_fields(struct journal_window *w)
{
  for (unsigned k = 0; k < w->nch; k++) {
    struct journal_window_channel *c = &w->ch[k];
    if (c->hrms_min_m || c->hrms_max_m) continue;
    c->hrms_min_m = c->rms_m - c->rms_m / 200;
    c->hrms_max_m = c->rms_m + c->rms_m / 200;
  }
}

int cli_bench_codec(int argc, char **argv)
{
  enum { O_DIR = 1000, O_FORMAT };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR },
                                      { "format", required_argument, NULL, O_FORMAT }, { 0 } };
  const char *dir = NULL, *format = "text";
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) dir = optarg;
    else if (opt == O_FORMAT && (!strcmp(optarg, "text") || !strcmp(optarg, "json"))) format = optarg;
    else if (opt == O_FORMAT) { cli_err("bench: --format takes text or json"); return CLI_USAGE; }
    else return cli_usage(cli_find("bench"), false);
  }
  if (optind != argc - 1 || strcmp(argv[optind], "codec")) return cli_usage(cli_find("bench"), false);
  if (!dir) { cli_err("bench codec: --dir DIR (a journal written by 'hems run') is required"); return CLI_USAGE; }
  struct journal_reader *rd;
  struct journal_iter *it;
  int rc = journal_reader_open(&rd, dir, NULL, true);
  if (rc) { cli_err("bench codec: %s: %s", dir, journal_strerror(rc)); return CLI_ENV; }
  if ((rc = journal_iter_begin(rd, 1, &it))) {
    journal_reader_close(rd);
    cli_err("bench codec: %s: %s", dir, journal_strerror(rc));
    return CLI_ENV;
  }
  struct codec_sizes all = { 0 }, win = { 0 };
  struct codec_set w1 = { 0 }, w3 = { 0 };
  static struct journal_record r;
  static uint8_t b1[JOURNAL_RECORD_MAX], b3[JOURNAL_RECORD_MAX], b3f[JOURNAL_RECORD_MAX];
  uint64_t seq;
  const uint8_t *bytes;
  size_t len;
  int ok = CLI_OK;
  while ((rc = journal_iter_next(it, &seq, &bytes, &len)) == 1) {
    size_t n1, n3, n3f;
    if (journal_record_decode(bytes, len, &r)) { cli_err("bench codec: seq %llu does not decode", (unsigned long long)seq); ok = CLI_FAIL; break; }
    r.version = JOURNAL_SCHEMA_V1;
    if (journal_record_encode(&r, b1, sizeof b1, &n1)) { ok = CLI_FAIL; break; }
    r.version = JOURNAL_SCHEMA_V3;
    if (journal_record_encode(&r, b3, sizeof b3, &n3)) { ok = CLI_FAIL; break; }
    n3f = n3;
    if (r.type == JOURNAL_T_WINDOW) {
      fill_v3_fields(&r.body.window);
      if (journal_record_encode(&r, b3f, sizeof b3f, &n3f)) { ok = CLI_FAIL; break; }
      win.n++;
      win.v1 += n1;
      win.v3 += n3;
      win.v3full += n3f;
      if (set_add(&w1, b1, n1) || set_add(&w3, b3f, n3f)) { cli_err("bench codec: out of memory"); ok = CLI_ENV; break; }
    }
    all.n++;
    all.v1 += n1;
    all.v3 += n3;
    all.v3full += n3f;
  }
  journal_iter_end(it);
  journal_reader_close(rd);
  if (rc < 0 && ok == CLI_OK) { cli_err("bench codec: %s: %s", dir, journal_strerror(rc)); ok = CLI_ENV; }
  double ns1 = ok == CLI_OK ? decode_ns(&w1) : 0, ns3 = ok == CLI_OK ? decode_ns(&w3) : 0;
  free(w1.buf); free(w1.off); free(w3.buf); free(w3.off);
  if (ok != CLI_OK) return ok;
  if (!win.n) { cli_err("bench codec: %s holds no window records", dir); return CLI_FAIL; }
#define AVG(s, f) ((double)(s).f / (double)((s).n ? (s).n : 1))
  if (!strcmp(format, "json"))
    printf("{\"bench\":\"codec\",\"records\":%llu,\"windows\":%llu,\"record_bytes_v1\":%.1f,\"record_bytes_v3\":%.1f,"
           "\"record_bytes_v3_filled\":%.1f,\"window_bytes_v1\":%.1f,\"window_bytes_v3\":%.1f,"
           "\"window_bytes_v3_filled\":%.1f,\"window_decode_ns_v1\":%.1f,\"window_decode_ns_v3\":%.1f}\n",
           (unsigned long long)all.n, (unsigned long long)win.n, AVG(all, v1), AVG(all, v3), AVG(all, v3full),
           AVG(win, v1), AVG(win, v3), AVG(win, v3full), ns1, ns3);
  else
    printf("%llu records (%llu windows) of %s, canonical record bytes (before storage compression):\n"
           "  all records     v 1 %7.1f B   v 3 %7.1f B   v 3 with hrms fields filled %7.1f B\n"
           "  window records  v 1 %7.1f B   v 3 %7.1f B   v 3 with hrms fields filled %7.1f B\n"
           "decode per window record, one core, best of 3: v 1 %.0f ns, v 3 (filled) %.0f ns\n",
           (unsigned long long)all.n, (unsigned long long)win.n, dir, AVG(all, v1), AVG(all, v3), AVG(all, v3full),
           AVG(win, v1), AVG(win, v3), AVG(win, v3full), ns1, ns3);
#undef AVG
  return CLI_OK;
}
