/*
 * run_viewer.c — the control socket's read API, open to every role (viewer included): `show`
 * (one record: the JSON `hems show --format json` prints and its exact bytes), `timeline` (the
 * records `hems timeline`'s filter passes, bounded per reply, with a cursor) and `follow` (the
 * exact bytes of records from a seq on, as they become durable, optionally up to a last seq).
 *
 * Other users read the live journal through here, never by opening its LMDB files: an LMDB
 * reader must write lock.mdb, and whoever can write it can make the writer commit over an older
 * meta page. These ops read the writer's own environment through a reader attached to it
 * (journal_reader_attach) and never append: no record, no rate-limit token.
 *
 * Only durable records are served (seq <= journal_durable_seq): what a follower saw is on disk.
 *
 * Follow framing: the answer {"ok":true,"from":N,"durable_seq":D}, then one line per record
 * {"seq":S,"cbor":"<base64 of the record's exact bytes>"} in seq order, and with "until" a last
 * line {"ok":true,"end":U}. Seqs that retention removed (a cursor before the first kept record,
 * at the request or after a cut while it follows) are named by one line {"gap":{"from":A,"to":B}}
 * in their place, so a follower knows what it will never get. Backpressure: records are read from the journal in chunks of at most
 * FOLLOW_CHUNK, and only while the connection has fewer than FOLLOW_QUEUE_MAX unsent bytes; a
 * follower that does not read simply stays behind (its cursor is a seq, served from the journal
 * when it reads again), so it costs the daemon at most that queue and never blocks the loop.
 * The pump runs when a commit becomes durable, on every tick and right after a follow request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "run.h"

#define FOLLOW_QUEUE_MAX (64u * 1024u) /* unsent bytes of one follower before the pump waits */
#define FOLLOW_CHUNK 256               /* records read per follower per pump */
#define TIMELINE_LIMIT_MAX 256         /* records in one timeline reply */
#define TIMELINE_SCAN_MAX 1024         /* records one timeline request reads (~1.4 ms) */
#define TIMELINE_BYTES_MAX (1024u * 1024u) /* base64 of one reply's records (at least one record) */

char *run_reply_line(json_t *o)
{
  char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return s;
}

char *run_reply_error(const char *msg)
{
  return run_reply_line(json_pack("{s:b, s:s}", "ok", 0, "error", msg));
}

/* The record's exact bytes as standard base64 (malloc'd), or NULL. */
static char *base64_of(const uint8_t *b, size_t len)
{
  size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
  char *s = malloc(cap);
  if (s) sodium_bin2base64(s, cap, b, len, sodium_base64_VARIANT_ORIGINAL);
  return s;
}

/* A field that must be a positive integer (absent: false unless optional, *out = 0). */
static bool seq_field(const json_t *req, const char *key, bool optional, uint64_t *out)
{
  const json_t *v = json_object_get(req, key);
  *out = 0;
  if (!v) return optional;
  if (!json_is_integer(v) || json_integer_value(v) < 1) return false;
  *out = (uint64_t)json_integer_value(v);
  return true;
}

static bool following(const struct daemon_client *c)
{
  return c->follow_next != 0;
}

static char *show_op(struct daemon *d, const json_t *req)
{
  uint64_t seq;
  if (!seq_field(req, "seq", false, &seq)) return run_reply_error("malformed request: \"seq\" must be a positive integer");
  uint64_t durable = journal_durable_seq(d->j);
  char msg[160];
  struct journal_reader *r;
  struct journal_iter *it;
  if (journal_reader_attach(&r, d->j)) return run_reply_error("out of memory");
  int rc = journal_iter_begin(r, seq, &it);
  if (rc) { journal_reader_close(r); return run_reply_error(journal_strerror(rc)); }
  const uint8_t *b;
  size_t len;
  char *out = NULL;
  if (seq > durable || journal_iter_get(it, seq, &b, &len) != 0) {
    uint64_t first = 0, last = 0;
    journal_reader_bounds(r, &first, &last);
    if (last > durable) last = durable;
    snprintf(msg, sizeof msg, "no record with seq %llu (the journal holds %llu..%llu)", (unsigned long long)seq,
             (unsigned long long)first, (unsigned long long)last);
    out = run_reply_error(msg);
  } else {
    char *js = journal_record_to_json(b, len, JOURNAL_JSON_WITH_HASH | JOURNAL_JSON_COMPACT);
    json_t *rec = js ? json_loads(js, 0, NULL) : NULL;
    char *cbor = base64_of(b, len);
    if (!rec || !cbor) {
      json_decref(rec);
      snprintf(msg, sizeof msg, "seq %llu: record does not decode", (unsigned long long)seq);
      out = run_reply_error(msg);
    } else {
      out = run_reply_line(json_pack("{s:b, s:I, s:o, s:s}", "ok", 1, "seq", (json_int_t)seq, "record", rec, "cbor", cbor));
    }
    free(js);
    free(cbor);
  }
  journal_iter_end(it);
  journal_reader_close(r);
  return out;
}

/* One record of a timeline reply or a follow stream: {"seq":S,"cbor":"<base64>"}. */
static json_t *record_json(uint64_t seq, const uint8_t *b, size_t len)
{
  char *cbor = base64_of(b, len);
  json_t *o = cbor ? json_pack("{s:I, s:s}", "seq", (json_int_t)seq, "cbor", cbor) : NULL;
  free(cbor);
  return o;
}

/* The records from "from" on (default: the filter's since) that pass the filter: at most
 * "limit" (≤ TIMELINE_LIMIT_MAX) of them among at most TIMELINE_SCAN_MAX read, so no request
 * makes the daemon read or build without bound, and records of at most TIMELINE_BYTES_MAX of base64
 * (always one, so the cursor advances); "next" is the seq to ask from for more, null
 * at the durable end (or until_seq). */
static char *timeline_op(struct daemon *d, const json_t *req)
{
  struct cli_filter f;
  const char *bad = cli_filter_from_json(req, &f);
  if (bad) return run_reply_error(bad);
  uint64_t from, limit;
  if (!seq_field(req, "from", true, &from)) return run_reply_error("malformed request: \"from\" must be a positive integer");
  if (!seq_field(req, "limit", true, &limit) || limit > TIMELINE_LIMIT_MAX)
    return run_reply_error("malformed request: \"limit\" must be 1..256");
  if (!limit) limit = TIMELINE_LIMIT_MAX;
  if (from < f.since_seq) from = f.since_seq;
  if (!from) from = 1;
  uint64_t durable = journal_durable_seq(d->j);
  uint64_t last = f.until_seq && f.until_seq < durable ? f.until_seq : durable;
  struct journal_reader *r;
  struct journal_iter *it;
  if (journal_reader_attach(&r, d->j)) return run_reply_error("out of memory");
  int rc = journal_iter_begin(r, from, &it);
  uint64_t ts;
  if (rc == 0 && f.have_since_t && journal_seek_time(it, f.since_t, &ts) == 0 && ts > from) {
    journal_iter_end(it);
    rc = journal_iter_begin(r, from = ts, &it);
  }
  if (rc) { journal_reader_close(r); return run_reply_error(journal_strerror(rc)); }
  json_t *recs = json_array();
  uint64_t seq, next = 0, n = 0;
  const uint8_t *b;
  size_t len, bytes = 0;
  for (unsigned scanned = 0;; scanned++) {
    int got = journal_iter_next(it, &seq, &b, &len);
    if (got < 0) { rc = got; break; }
    if (got == 0 || seq > last) break;
    if (scanned == TIMELINE_SCAN_MAX || n == limit) { next = seq; break; }
    if (!cli_filter_matches(&f, b, len, seq)) continue;
    size_t b64 = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    if (n && bytes + b64 > TIMELINE_BYTES_MAX) { next = seq; break; }
    json_array_append_new(recs, record_json(seq, b, len));
    bytes += b64;
    n++;
  }
  journal_iter_end(it);
  journal_reader_close(r);
  if (rc) { json_decref(recs); return run_reply_error(journal_strerror(rc)); }
  return run_reply_line(json_pack("{s:b, s:o, s:o, s:I}", "ok", 1, "records", recs, "next", next ? json_integer((json_int_t)next) : json_null(),
                           "durable_seq", (json_int_t)durable));
}

static char *follow_op(struct daemon *d, struct daemon_client *c, const json_t *req)
{
  uint64_t from, until;
  if (!seq_field(req, "from", false, &from)) return run_reply_error("malformed request: \"from\" must be a positive integer");
  if (!seq_field(req, "until", true, &until)) return run_reply_error("malformed request: \"until\" must be a positive integer");
  if (until && until < from) return run_reply_error("malformed request: \"until\" is before \"from\"");
  if (following(c) || c->export) return run_reply_error("refused: this connection already streams");
  c->follow_next = from;
  c->follow_until = until;
  char *ok = run_reply_line(json_pack("{s:b, s:I, s:I}", "ok", 1, "from", (json_int_t)from, "durable_seq",
                               (json_int_t)journal_durable_seq(d->j)));
  if (!ok) { c->follow_next = 0; return run_reply_error("out of memory"); }
  daemon_client_send(c, ok);
  run_viewer_pump(d);
  return NULL;
}

char *run_viewer_op(struct daemon *d, struct daemon_client *c, const char *op, const json_t *req)
{
  if (!strcmp(op, "show")) return show_op(d, req);
  if (!strcmp(op, "follow")) return follow_op(d, c, req);
  if (!strcmp(op, "timeline")) return timeline_op(d, req);
  if (!strcmp(op, "export")) return run_export_op(d, c, req);
  return run_reply_error("unknown op");
}

/* A follower's end: an error line (the journal could not be read), or the "end" line of a
 * follow with until. Either way the connection stops following. */
static void follow_stop(struct daemon_client *c, const char *err)
{
  char *line = err ? run_reply_error(err) : run_reply_line(json_pack("{s:b, s:I}", "ok", 1, "end", (json_int_t)c->follow_until));
  c->follow_next = 0;
  if (line) daemon_client_send(c, line);
}

/* Seqs from the cursor to `to` are not in the journal (retention removed them): the line
 * {"gap":{"from":A,"to":B}} says so and the cursor moves past them. false: out of memory (the
 * cursor stays, the next pump retries). */
static bool follow_gap(struct daemon_client *c, uint64_t to)
{
  char *line = run_reply_line(json_pack("{s:{s:I, s:I}}", "gap", "from", (json_int_t)c->follow_next, "to", (json_int_t)to));
  if (!line) return false;
  c->follow_next = to + 1;
  daemon_client_send(c, line);
  return true;
}

static size_t unsent(const struct daemon_client *c)
{
  return uv_stream_get_write_queue_size((const uv_stream_t *)c->pipe);
}

/* Sends client c the durable records from its cursor on: at most FOLLOW_CHUNK, and none once
 * FOLLOW_QUEUE_MAX bytes wait unsent. */
static void follow_one(struct journal_reader *r, struct daemon_client *c, uint64_t durable)
{
  uint64_t last = c->follow_until && c->follow_until < durable ? c->follow_until : durable;
  struct journal_iter *it;
  int rc = journal_iter_begin(r, c->follow_next, &it);
  if (rc) { follow_stop(c, journal_strerror(rc)); return; }
  uint64_t seq;
  const uint8_t *b;
  size_t len;
  for (unsigned n = 0; c->in_use && n < FOLLOW_CHUNK && unsent(c) < FOLLOW_QUEUE_MAX; n++) {
    int got = journal_iter_next(it, &seq, &b, &len);
    if (got < 0) { follow_stop(c, journal_strerror(got)); break; }
    if (got == 0) break;
    if (seq > c->follow_next && !follow_gap(c, seq - 1 < last ? seq - 1 : last)) break;
    if (seq > last) break;
    char *line = run_reply_line(record_json(seq, b, len));
    if (!line) break; /* out of memory: the cursor stays, the next pump retries */
    c->follow_next = seq + 1;
    daemon_client_send(c, line);
  }
  journal_iter_end(it);
  if (c->in_use && following(c) && c->follow_until && c->follow_next > c->follow_until) follow_stop(c, NULL);
}

void run_viewer_pump(struct daemon *d)
{
  if (!d->sock.open) return;
  run_export_pump(d);
  uint64_t durable = journal_durable_seq(d->j);
  struct journal_reader *r = NULL;
  for (int i = 0; i < DAEMON_CLIENTS_MAX; i++) {
    struct daemon_client *c = &d->sock.clients[i];
    if (!c->in_use || !following(c) || c->follow_next > durable || unsent(c) >= FOLLOW_QUEUE_MAX) continue;
    if (!r && journal_reader_attach(&r, d->j)) return;
    follow_one(r, c, durable);
  }
  if (r) journal_reader_close(r);
}
