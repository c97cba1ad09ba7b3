/*
 * run_export.c — the read API's `export` op (every role): the bundle `hems export` writes for
 * the same range, built by the same code (journal_export, cli_export_bound,
 * cli_export_checkpoint) and streamed to the client, which writes the file on its side.
 *
 * The daemon writes the bundle into a private directory (mkdtemp, 0700) under its data dir,
 * opens it, and removes the file and the directory at once: what is left is an fd only this
 * connection reads from. Framing: the answer {"ok":true,"bytes":N,"first_seq":F,"last_seq":L,
 * "records":R}, then {"chunk":"<base64>"} lines of at most EXPORT_CHUNK bytes each, then
 * {"ok":true,"end":true,"bytes":N,"blake2b":"<hex of BLAKE2b-256 of the N bytes>"}.
 *
 * Bounds: a range of more than EXPORT_RECORDS_MAX records is refused with one error line (the
 * build runs on the loop; the cap keeps it short). Streaming follows the follow rule: chunks are
 * read from the file only while the connection has fewer than EXPORT_QUEUE_MAX unsent bytes,
 * at most EXPORT_CHUNKS_PER_PUMP per pump, so a client that does not read costs that queue and
 * an fd, and never blocks the loop. One export (and no follow) per connection at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "run.h"

#define EXPORT_RECORDS_MAX 50000u      /* records in one export through the daemon (~0.4 s of build) */
#define EXPORT_QUEUE_MAX (64u * 1024u) /* unsent bytes of one client before the pump waits */
#define EXPORT_CHUNK (12u * 1024u)     /* raw bytes per chunk line (16 KiB of base64) */
#define EXPORT_CHUNKS_PER_PUMP 16

struct viewer_export {
  int fd;
  uint64_t size, sent;
  crypto_generichash_state h;
};

void daemon_export_free(struct viewer_export *x)
{
  if (!x) return;
  close(x->fd);
  sodium_free(x);
}

/* "since"/"until": absent, a positive integer (a seq) or a string in `hems export`'s grammar. */
static bool bound_arg(const json_t *req, const char *key, char *out, size_t cap)
{
  const json_t *v = json_object_get(req, key);
  out[0] = 0;
  if (!v) return true;
  if (json_is_integer(v) && json_integer_value(v) >= 1) {
    snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    return true;
  }
  const char *s = json_string_value(v);
  if (!s || !*s || strlen(s) >= cap) return false;
  snprintf(out, cap, "%s", s);
  return true;
}

static char *export_error(int rc)
{
  if (rc == JOURNAL_ENOTFOUND) return run_reply_error("no records in that range");
  if (rc == JOURNAL_EPROOF || rc == JOURNAL_EBADSIG) return run_reply_error("cannot prove the bundle's range consistent with the newest seal");
  char msg[200];
  snprintf(msg, sizeof msg, "export failed: %s", journal_strerror(rc));
  return run_reply_error(msg);
}

/* The bundle of [s, u] into a private file, opened and unlinked: its fd, or <0. */
static int build(struct daemon *d, struct journal_reader *r, uint64_t s, uint64_t u, struct journal_export_info *info)
{
  char tmpl[4300], path[4320];
  snprintf(tmpl, sizeof tmpl, "%s/.export.XXXXXX", d->o.c.dir);
  if (!mkdtemp(tmpl)) return -errno;
  snprintf(path, sizeof path, "%s/bundle", tmpl);
  struct journal_file_signer fs;
  const struct journal_signer *sg = NULL;
  int rc = cli_signer_get(&d->o.c, &sg) ? JOURNAL_ESIGNER : cli_signer_or_file(sg, d->o.c.dir, &fs, &sg);
  if (!rc) {
    struct journal_export_options eo = { .since_seq = s, .until_seq = u, .checkpoint = cli_export_checkpoint,
                                         .checkpoint_ctx = (void *)sg->pubkey };
    rc = journal_export(r, sg, &eo, path, info);
  }
  journal_file_signer_wipe(&fs);
  int fd = rc ? rc : open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && !rc) fd = -errno;
  unlink(path);
  rmdir(tmpl);
  return fd;
}

static char *export_begin(struct daemon *d, struct daemon_client *c, const json_t *req)
{
  char since[128], until[128];
  if (!bound_arg(req, "since", since, sizeof since) || !bound_arg(req, "until", until, sizeof until))
    return run_reply_error("malformed request: \"since\"/\"until\" must be a positive seq or a time string");
  if (c->export || c->follow_next) return run_reply_error("refused: this connection already streams");
  uint64_t durable = journal_durable_seq(d->j), s = 0, u = 0;
  struct journal_reader *r;
  if (journal_reader_attach(&r, d->j)) return run_reply_error("out of memory");
  if ((*since && cli_export_bound(r, since, false, &s)) || (*until && cli_export_bound(r, until, true, &u))) {
    journal_reader_close(r);
    return run_reply_error("malformed request: \"since\"/\"until\" take a seq, an RFC 3339 time, @UNIX or -15m/-2h/-7d");
  }
  char msg[200];
  if ((*since && s == UINT64_MAX) || (*until && u == 0) || (s > durable)) {
    journal_reader_close(r);
    return run_reply_error("no records in that range");
  }
  if (!u || u > durable) u = durable; /* only durable records are served */
  uint64_t first = s ? s : 1;
  if (u >= first && u - first >= EXPORT_RECORDS_MAX) {
    journal_reader_close(r);
    snprintf(msg, sizeof msg, "refused: an export through the daemon covers at most %u records (this range: %llu); narrow since/until",
             EXPORT_RECORDS_MAX, (unsigned long long)(u - first + 1));
    return run_reply_error(msg);
  }
  struct journal_export_info info;
  int fd = build(d, r, s, u, &info);
  journal_reader_close(r);
  if (fd < 0) return export_error(fd);
  struct viewer_export *x = sodium_malloc(sizeof *x);
  off_t size = lseek(fd, 0, SEEK_END);
  if (!x || size < 0 || lseek(fd, 0, SEEK_SET) != 0) {
    close(fd);
    if (x) sodium_free(x);
    return run_reply_error("out of memory");
  }
  x->fd = fd;
  x->size = (uint64_t)size;
  x->sent = 0;
  crypto_generichash_init(&x->h, NULL, 0, 32);
  char *ok = run_reply_line(json_pack("{s:b, s:I, s:I, s:I, s:I}", "ok", 1, "bytes", (json_int_t)size, "first_seq",
                               (json_int_t)info.first_seq, "last_seq", (json_int_t)info.last_seq, "records",
                               (json_int_t)info.records));
  if (!ok) { daemon_export_free(x); return run_reply_error("out of memory"); }
  c->export = x;
  daemon_client_send(c, ok);
  run_export_pump(d);
  return NULL;
}

char *run_export_op(struct daemon *d, struct daemon_client *c, const json_t *req)
{
  return export_begin(d, c, req);
}

static void export_end(struct daemon_client *c, char *line)
{
  daemon_export_free(c->export);
  c->export = NULL;
  if (line) daemon_client_send(c, line);
}

static void export_one(struct daemon_client *c)
{
  struct viewer_export *x = c->export;
  uint8_t buf[EXPORT_CHUNK];
  for (unsigned n = 0; n < EXPORT_CHUNKS_PER_PUMP && x->sent < x->size; n++) {
    if (uv_stream_get_write_queue_size((const uv_stream_t *)c->pipe) >= EXPORT_QUEUE_MAX) return;
    size_t want = x->size - x->sent < EXPORT_CHUNK ? (size_t)(x->size - x->sent) : EXPORT_CHUNK;
    ssize_t got = pread(x->fd, buf, want, (off_t)x->sent);
    if (got <= 0) { export_end(c, run_reply_error("export: reading the bundle failed")); return; }
    size_t cap = sodium_base64_ENCODED_LEN((size_t)got, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(cap);
    if (!b64) return; /* out of memory: the next pump retries */
    sodium_bin2base64(b64, cap, buf, (size_t)got, sodium_base64_VARIANT_ORIGINAL);
    char *line = run_reply_line(json_pack("{s:s}", "chunk", b64));
    free(b64);
    if (!line) return;
    crypto_generichash_update(&x->h, buf, (size_t)got);
    x->sent += (uint64_t)got;
    daemon_client_send(c, line);
    if (!c->in_use || c->export != x) return; /* the send closed the connection */
  }
  if (x->sent < x->size) return;
  uint8_t h[32];
  char hex[65];
  crypto_generichash_final(&x->h, h, sizeof h);
  sodium_bin2hex(hex, sizeof hex, h, sizeof h);
  export_end(c, run_reply_line(json_pack("{s:b, s:b, s:I, s:s}", "ok", 1, "end", 1, "bytes", (json_int_t)x->size, "blake2b", hex)));
}

void run_export_pump(struct daemon *d)
{
  if (!d->sock.open) return;
  for (int i = 0; i < DAEMON_CLIENTS_MAX; i++) {
    struct daemon_client *c = &d->sock.clients[i];
    if (c->in_use && c->export) export_one(c);
  }
}
