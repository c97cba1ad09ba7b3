/*
 * cmd_ingest.c — `hems analyze` (a COMTRADE file through the ingest pipeline) and
 * `hems capture` (an event's waveform capture out as COMTRADE 2013).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"
#include "ingest.h"

int cli_cmd_analyze(int argc, char **argv)
{
  enum { O_DECL = 1000, O_FORMAT, O_FBAND };
  static const struct option lo[] = { { "declared-voltage", required_argument, NULL, O_DECL },
                                      { "format", required_argument, NULL, O_FORMAT },
                                      { "freq-band", required_argument, NULL, O_FBAND }, { 0 } };
  double declared = 0, band = -1;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DECL) {
      char *e;
      declared = strtod(optarg, &e);
      if (*e || !(declared > 0) || declared > 1e6) { cli_err("analyze: --declared-voltage %s: volts > 0", optarg); return CLI_USAGE; }
    } else if (opt == O_FBAND) {
      char *e;
      band = strtod(optarg, &e);
      if (*e || !(band >= 0) || band > 50) { cli_err("analyze: --freq-band %s: percent of nominal, 0..50 (0 = off)", optarg); return CLI_USAGE; }
    } else if (opt == O_FORMAT) {
      if (strcmp(optarg, "jsonl") != 0) { cli_err("analyze: --format takes jsonl"); return CLI_USAGE; }
    } else {
      return cli_usage(cli_find("analyze"), false);
    }
  }
  if (optind != argc - 1) return cli_usage(cli_find("analyze"), false);
  char msg[512] = "";
  const struct ingest_analyze_opts ao = {.declared_v = declared, .freq_band_pct = band};
  int rc = ingest_analyze_file_opts(argv[optind], &ao, stdout, msg, sizeof msg);
  fflush(stdout);
  if (rc == 0) {
    if (msg[0]) fprintf(stderr, "hems: analyze: %s\n", msg);
    return CLI_OK;
  }
  if (rc == -ENOENT || rc == -EACCES || rc == -EISDIR) {
    cli_err("analyze: %s: %s", argv[optind], msg[0] ? msg : strerror(-rc));
    return CLI_ENV;
  }
  cli_err("analyze: %s", msg[0] ? msg : ingest_strerror(rc));
  return CLI_FAIL;
}

/* Finds record SEQ and the blob its body names ("capture"). */
int cli_capture_fetch(struct cli_source *s, uint64_t want, uint8_t **blob, size_t *blen)
{
  const uint8_t *b = NULL;
  size_t len = 0;
  struct journal_iter *it = NULL;
  struct journal_record_source *src = NULL;
  int rc;
  if (s->reader) {
    if ((rc = journal_iter_begin(s->reader, want, &it))) return rc;
    if ((rc = journal_iter_get(it, want, &b, &len))) { journal_iter_end(it); cli_err("capture: no record with seq %llu", (unsigned long long)want); return CLI_FAIL; }
  } else {
    /* checked as it is read: the record is proven by its group's seal before it comes */
    src = cli_source_records(s, 0);
    uint64_t seq;
    const char *why = NULL;
    const uint8_t *rb;
    size_t rl;
    int got = 0;
    static uint8_t found[JOURNAL_RECORD_MAX];
    b = NULL;
    /* to the end: the bundle as a whole (its end frame, its signer) is checked too */
    while (src && (got = src->next(src->ctx, &seq, &rb, &rl, &why)) == 1)
      if (seq == want && rl <= sizeof found) { memcpy(found, rb, rl); b = found; len = rl; }
    if (got < 0 || !src) return cli_source_damaged(s, why);
    if (!b) { cli_err("capture: no record with seq %llu in the bundle", (unsigned long long)want); return CLI_FAIL; }
  }
  struct journal_record rec;
  rc = journal_record_decode(b, len, &rec);
  const uint8_t *hash = NULL;
  static const uint8_t zero[32];
  /* every record type that can name a capture: pq events and trip taps */
  if (rc == 0 && rec.type == JOURNAL_T_PQ_EVENT) hash = rec.body.pq_event.capture;
  else if (rc == 0 && rec.type == JOURNAL_T_TRIP_TAP) hash = rec.body.trip_tap.capture;
  if (hash && memcmp(hash, zero, 32) == 0) hash = NULL;
  if (!hash) {
    if (it) journal_iter_end(it);
    cli_err("capture: seq %llu (%s) has no waveform capture", (unsigned long long)want,
            rc == 0 ? journal_type_name(rec.type) : "undecodable");
    return CLI_FAIL;
  }
  uint8_t h[32];
  memcpy(h, hash, 32);
  if (it) {
    rc = journal_iter_get_blob(it, h, blob, blen);
    journal_iter_end(it);
  } else {
    rc = src->get_blob(src->ctx, h, blob, blen);
  }
  if (rc) { cli_err("capture: seq %llu: capture blob missing or damaged", (unsigned long long)want); return CLI_FAIL; }
  return 0;
}

int cli_capture_load(const struct cli_common *c, const char *pubkey, const char *fpr, const char *cmd, uint64_t seq,
                     struct ingest_capture *cap, int32_t **codes)
{
  struct cli_source s;
  int rc = cli_source_open(c, pubkey, fpr, &s);
  if (rc) return rc;
  uint8_t *blob = NULL;
  size_t blen = 0;
  rc = cli_capture_fetch(&s, seq, &blob, &blen);
  cli_source_close(&s);
  if (rc) return rc < 0 ? CLI_ENV : rc;
  unsigned nch;
  uint32_t nf;
  *codes = NULL;
  if ((rc = ingest_capture_peek(blob, blen, &nch, &nf)) == 0) {
    if (!(*codes = malloc(sizeof **codes * (size_t)nch * nf + 1))) { free(blob); cli_err("%s: out of memory", cmd); return CLI_ENV; }
    rc = ingest_capture_decode(blob, blen, cap, *codes, (size_t)nch * nf);
  }
  free(blob);
  if (rc) {
    cli_err("%s: seq %llu: %s", cmd, (unsigned long long)seq, ingest_strerror(rc));
    free(*codes);
    *codes = NULL;
    return CLI_FAIL;
  }
  return 0;
}

int cli_cmd_capture(int argc, char **argv)
{
  enum { O_DIR = 1000, O_COUNTER, O_ACCEPT, O_COMTRADE, O_BIN32 };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT },
                                      { "comtrade", required_argument, NULL, O_COMTRADE },
                                      { "binary32", no_argument, NULL, O_BIN32 }, { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *out = NULL;
  int ft = INGEST_CT_BINARY;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) c.dir = optarg;
    else if (opt == O_COUNTER) c.counter = optarg;
    else if (opt == O_ACCEPT) c.accept_rollback = true;
    else if (opt == O_COMTRADE) out = optarg;
    else if (opt == O_BIN32) ft = INGEST_CT_BINARY32;
    else return cli_usage(cli_find("capture"), false);
  }
  int npos = argc - optind;
  if (!out || npos < 1 || npos > 2) return cli_usage(cli_find("capture"), false);
  if (npos == 2) {
    struct stat st;
    const char *p = argv[optind++];
    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) c.dir = p;
    else if (journal_is_bundle(p)) c.bundle = p;
    else { cli_err("%s: not a data dir or a hems bundle", p); return CLI_USAGE; }
  }
  uint64_t seq;
  if (cli_parse_u64(argv[optind], &seq) || seq == 0) { cli_err("capture: SEQ must be a positive integer"); return CLI_USAGE; }
  char msg[256] = "";
  int exit_code = CLI_OK;
  static struct ingest_capture cap;
  int32_t *codes = NULL;
  int rc = cli_capture_load(&c, NULL, NULL, "capture", seq, &cap, &codes);
  if (rc) return rc;
  unsigned nch = cap.v.nch;
  uint32_t nframes = cap.v.nframes;
  if ((rc = ingest_ct_write(out, &cap.v, ft, "hems", "panel", msg, sizeof msg))) {
    cli_err("capture: %s: %s", out, msg[0] ? msg : ingest_strerror(rc));
    exit_code = CLI_ENV;
  } else {
    printf("wrote %s.cfg and %s.dat: %u channels, %u samples at %.0f Hz\n", out, out, nch, nframes, cap.v.sample_rate_hz);
  }
  free(codes);
  return exit_code;
}
