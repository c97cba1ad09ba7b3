/*
 * read_daemon.c — `hems show` and `hems timeline` for a user other than the data dir's owner:
 * through the running daemon's read API (run_viewer.c), never by opening the LMDB files (an
 * LMDB reader must write lock.mdb, and whoever can write it can make the writer commit over an
 * older meta page). The daemon sends each record's exact bytes; the commands print them with the
 * code of a direct read, so the output is the same.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "cli.h"

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

int cli_daemon_timeline(const char *dir, const struct cli_filter *f, uint64_t limit,
                        int (*emit)(int fmt, const uint8_t *b, size_t len), int fmt)
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
      int stop = emit(fmt, b, len);
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
