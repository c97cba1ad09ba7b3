/*
 * read_daemon.c — `hems show` and `hems timeline` for a user other than the data dir's owner:
 * through the running daemon's read API (run_viewer.c), never by opening the LMDB files (an
 * LMDB reader must write lock.mdb, and whoever can write it can make the writer commit over an
 * older meta page). The daemon sends each record's exact bytes; the commands print them with the
 * code of a direct read, so the output is the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "cli.h"
#include "daemon.h"

bool cli_read_through_daemon(const char *dir)
{
  struct stat st;
  uid_t me = geteuid();
  return me != 0 && stat(dir, &st) == 0 && st.st_uid != me;
}

/* The answer's error as "cmd: error" on stderr: CLI_FAIL (the daemon answered, no). */
static int refused(const char *cmd, json_t *o)
{
  const char *e = json_string_value(json_object_get(o, "error"));
  cli_err("%s: %s", cmd, e ? e : "malformed answer from the daemon");
  json_decref(o);
  return e ? CLI_FAIL : CLI_ENV;
}

/* A record's "cbor" (base64) into a malloc'd copy of its bytes: 0, or -1. */
static int bytes_of(const json_t *rec, uint8_t **b, size_t *len)
{
  const char *s = json_string_value(json_object_get(rec, "cbor"));
  if (!s) return -1;
  size_t n = strlen(s), cap = n / 4 * 3 + 3;
  *b = malloc(cap);
  if (!*b) return -1;
  if (sodium_base642bin(*b, cap, s, n, NULL, len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0) { free(*b); *b = NULL; return -1; }
  return 0;
}

int cli_daemon_show(const char *dir, uint64_t seq, uint8_t **b, size_t *len)
{
  json_t *o;
  int rc = cli_daemon_request(dir, json_pack("{s:s, s:I}", "op", "show", "seq", (json_int_t)seq), 10000, &o);
  if (rc) return rc;
  if (!json_is_true(json_object_get(o, "ok"))) return refused("show", o);
  rc = bytes_of(o, b, len);
  json_decref(o);
  if (rc) { cli_err("show: malformed answer from the daemon"); return CLI_ENV; }
  return CLI_OK;
}

int cli_daemon_timeline(const char *dir, const struct cli_filter *f, uint64_t limit, cli_walk_fn emit, void *ctx)
{
  uint64_t from = f->since_seq ? f->since_seq : 1, printed = 0;
  for (;;) {
    json_t *req = cli_filter_to_json(f), *o;
    uint64_t want = limit && limit - printed < 256 ? limit - printed : 256;
    json_object_set_new(req, "op", json_string("timeline"));
    json_object_set_new(req, "from", json_integer((json_int_t)from));
    json_object_set_new(req, "limit", json_integer((json_int_t)want));
    int rc = cli_daemon_request(dir, req, 30000, &o);
    if (rc) return rc;
    if (!json_is_true(json_object_get(o, "ok"))) return refused("timeline", o);
    json_t *recs = json_object_get(o, "records"), *next = json_object_get(o, "next");
    for (size_t i = 0; i < json_array_size(recs); i++) {
      uint8_t *b;
      size_t len;
      if (bytes_of(json_array_get(recs, i), &b, &len)) { json_decref(o); cli_err("timeline: malformed answer from the daemon"); return CLI_ENV; }
      int stop = emit(ctx, b, len);
      free(b);
      if (stop) { json_decref(o); return CLI_OK; } /* standard output closed */
      printed++;
    }
    bool more = json_is_integer(next) && json_integer_value(next) > (json_int_t)from && (!limit || printed < limit);
    if (more) from = (uint64_t)json_integer_value(next);
    json_decref(o);
    if (!more) return CLI_OK;
  }
}

/* export's stream: the answer line, chunk lines into the file, the end line. */
struct export_rx {
  int fd;
  bool started, done;
  uint64_t want, got;
  json_int_t first, last, records;
  const char *err; /* the daemon's error, or ours */
  char daemon_err[300];
  crypto_generichash_state h;
};

static int export_line(void *ctx, const char *line)
{
  struct export_rx *x = ctx;
  json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
  const char *chunk = json_string_value(json_object_get(o, "chunk"));
  int rc = 0;
  if (!o) { x->err = "malformed answer from the daemon"; rc = -1; }
  else if (json_is_false(json_object_get(o, "ok"))) {
    const char *e = json_string_value(json_object_get(o, "error"));
    snprintf(x->daemon_err, sizeof x->daemon_err, "%s", e ? e : "failed");
    x->err = x->daemon_err;
    rc = -1;
  } else if (!x->started) {
    json_t *n = json_object_get(o, "bytes");
    if (!json_is_integer(n) || json_integer_value(n) < 0) { x->err = "malformed answer from the daemon"; rc = -1; }
    else {
      x->want = (uint64_t)json_integer_value(n);
      x->first = json_integer_value(json_object_get(o, "first_seq"));
      x->last = json_integer_value(json_object_get(o, "last_seq"));
      x->records = json_integer_value(json_object_get(o, "records"));
      x->started = true;
    }
  } else if (chunk) {
    size_t n = strlen(chunk), cap = n / 4 * 3 + 3, len;
    uint8_t *b = malloc(cap);
    if (!b || sodium_base642bin(b, cap, chunk, n, NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 || x->got + len > x->want) {
      x->err = "malformed answer from the daemon";
      rc = -1;
    } else if (write(x->fd, b, len) != (ssize_t)len) {
      x->err = strerror(errno ? errno : EIO);
      rc = -1;
    } else {
      crypto_generichash_update(&x->h, b, len);
      x->got += len;
    }
    free(b);
  } else if (json_is_true(json_object_get(o, "end"))) {
    uint8_t h[32];
    char hex[65];
    crypto_generichash_final(&x->h, h, sizeof h);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    const char *want = json_string_value(json_object_get(o, "blake2b"));
    if (x->got != x->want || !want || strcmp(want, hex)) { x->err = "the bundle received is not the one the daemon sent"; rc = -1; }
    else { x->done = true; rc = 1; }
  } else { x->err = "malformed answer from the daemon"; rc = -1; }
  json_decref(o);
  return rc;
}

int cli_daemon_export(const char *dir, const char *since, const char *until, const char *out)
{
  json_t *req = json_pack("{s:s}", "op", "export");
  if (since) json_object_set_new(req, "since", json_string(since));
  if (until) json_object_set_new(req, "until", json_string(until));
  char *line = req ? json_dumps(req, JSON_COMPACT) : NULL;
  json_decref(req);
  if (!line) { cli_err("export: out of memory"); return CLI_ENV; }
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", out);
  struct export_rx x = { .fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) };
  if (x.fd < 0) { cli_err("export: %s: %s", tmp, strerror(errno)); free(line); return CLI_ENV; }
  crypto_generichash_init(&x.h, NULL, 0, 32);
  int rc = daemon_stream(dir, line, 30000, export_line, &x);
  free(line);
  if (x.done && fsync(x.fd) != 0) { x.done = false; x.err = strerror(errno); }
  close(x.fd);
  if (x.done && link(tmp, out) != 0) { x.done = false; x.err = errno == EEXIST ? "exists (not overwritten)" : strerror(errno); }
  unlink(tmp);
  if (x.done) {
    printf("exported seq %lld..%lld: %lld records, %llu bytes to %s (through the daemon)\n", (long long)x.first,
           (long long)x.last, (long long)x.records, (unsigned long long)x.got, out);
    return CLI_OK;
  }
  if (x.err == x.daemon_err) { cli_err("export: %s", x.err); return strncmp(x.err, "malformed", 9) ? CLI_FAIL : CLI_USAGE; }
  if (x.err) { cli_err("export: %s: %s", out, x.err); return CLI_ENV; }
  return cli_daemon_unreachable(dir, rc ? rc : -ECONNRESET);
}
