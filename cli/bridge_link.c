/*
 * bridge_link.c — the bridge's side of the daemon's control socket (bridge.h): a status call
 * now and then, one follow connection read without blocking, and at most BRIDGE_PENDING_MAX
 * switch requests in flight, each on its own connection (the daemon answers a switch only after
 * its sense-back, seconds later; the loop never waits for it).
 *
 * Every connection goes through daemon_connect: the peer must be root or the data dir's owner,
 * as for every hems client. The bridge's own uid gives it its role (`automation` through the
 * roles section of DIR/config.json); it sends no role and no name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include "cli.h"
#include "daemon.h"
#include "bridge.h"

#define FOLLOW_LINE_MAX (1u << 20) /* a stream line: a record of at most 64 KiB as base64, and room */

int64_t bridge_now_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void bridge_link_init(struct bridge_link *l, const char *dir, const char *socket)
{
  memset(l, 0, sizeof *l);
  l->dir = dir;
  l->socket = socket;
  l->follow_fd = -1;
  l->who = "bridge mqtt";
  l->reason = "home assistant (hems bridge mqtt)";
  for (int i = 0; i < BRIDGE_PENDING_MAX; i++) l->pend[i].fd = -1;
}

static void follow_close(struct bridge_link *l)
{
  if (l->follow_fd >= 0) close(l->follow_fd);
  l->follow_fd = -1;
  l->len = 0;
}

void bridge_link_close(struct bridge_link *l)
{
  follow_close(l);
  free(l->buf);
  l->buf = NULL;
  l->cap = 0;
  for (int i = 0; i < BRIDGE_PENDING_MAX; i++)
    if (l->pend[i].fd >= 0) { close(l->pend[i].fd); l->pend[i].fd = -1; }
}

int bridge_link_status(struct bridge_link *l, int timeout_ms, json_t **out)
{
  char *line = NULL;
  *out = NULL;
  int rc = daemon_call(l->dir, l->socket, "{\"op\":\"status\"}", &line, timeout_ms);
  if (rc) return rc;
  json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
  free(line);
  if (!o || !json_is_true(json_object_get(o, "ok"))) { json_decref(o); return -EPROTO; }
  *out = o;
  return 0;
}

/* Connects and sends one request line; the fd left non-blocking, or <0. */
static int send_request(struct bridge_link *l, const char *req)
{
  int fd = daemon_connect(l->dir, l->socket);
  if (fd < 0) return fd;
  size_t n = strlen(req), off = 0;
  while (off < n) {
    ssize_t w = write(fd, req + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) { int e = -errno; close(fd); return e; }
    off += (size_t)w;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) { int e = -errno; close(fd); return e; }
  return fd;
}

int bridge_link_follow(struct bridge_link *l, uint64_t from, uint64_t until)
{
  follow_close(l);
  char req[128];
  if (until)
    snprintf(req, sizeof req, "{\"op\":\"follow\",\"from\":%llu,\"until\":%llu}\n", (unsigned long long)from,
             (unsigned long long)until);
  else snprintf(req, sizeof req, "{\"op\":\"follow\",\"from\":%llu}\n", (unsigned long long)from);
  int fd = send_request(l, req);
  if (fd < 0) return fd;
  l->follow_fd = fd;
  return 0;
}

/* One stream line: a record, a gap, the answer, or an error. 0, or <0 (the stream ended). */
static int follow_line(struct bridge_link *l, struct bridge_panel *p, const char *line,
                       void (*on_record)(void *, const uint8_t *, size_t, uint64_t), void *ctx)
{
  json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
  if (!o) { cli_err("%s: follow: a line from the daemon is not JSON", l->who); return -EPROTO; }
  int rc = 0;
  json_t *seq = json_object_get(o, "seq"), *gap = json_object_get(o, "gap"), *ok = json_object_get(o, "ok");
  const char *b64 = json_string_value(json_object_get(o, "cbor"));
  if (json_is_integer(seq) && b64) {
    size_t n = strlen(b64), len = 0;
    uint8_t *b = malloc(n / 4 * 3 + 3);
    if (!b) rc = -ENOMEM;
    else if (sodium_base642bin(b, n / 4 * 3 + 3, b64, n, NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL)) {
      cli_err("%s: follow: seq %lld: bad base64", l->who, (long long)json_integer_value(seq));
      rc = -EPROTO;
    } else {
      p->last_seq = (uint64_t)json_integer_value(seq);
      on_record(ctx, b, len, p->last_seq);
    }
    free(b);
  } else if (gap) {
    json_t *to = json_object_get(gap, "to");
    if (json_is_integer(to)) p->last_seq = (uint64_t)json_integer_value(to);
    cli_err("%s: follow: seqs up to %llu were removed by retention before the bridge read them", l->who,
            (unsigned long long)p->last_seq);
  } else if (json_is_false(ok)) {
    cli_err("%s: follow: the daemon says: %s", l->who, json_string_value(json_object_get(o, "error")));
    rc = -EPROTO;
  }
  json_decref(o);
  return rc;
}

int bridge_link_read(struct bridge_link *l, struct bridge_panel *p,
                     void (*on_record)(void *ctx, const uint8_t *b, size_t len, uint64_t seq), void *ctx)
{
  if (l->follow_fd < 0) return -ENOTCONN;
  for (;;) {
    if (l->cap - l->len < 65536) {
      if (l->cap >= FOLLOW_LINE_MAX * 2) { follow_close(l); return -EMSGSIZE; }
      size_t cap = l->cap ? l->cap * 2 : 131072;
      char *q = realloc(l->buf, cap);
      if (!q) return -ENOMEM;
      l->buf = q;
      l->cap = cap;
    }
    ssize_t r = read(l->follow_fd, l->buf + l->len, l->cap - l->len - 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (r <= 0) { follow_close(l); return r < 0 ? -errno : -ECONNRESET; }
    l->len += (size_t)r;
    char *start = l->buf, *nl;
    int rc = 0;
    while (!rc && (nl = memchr(start, '\n', l->len - (size_t)(start - l->buf)))) {
      *nl = 0;
      rc = follow_line(l, p, start, on_record, ctx);
      start = nl + 1;
    }
    if (rc) { follow_close(l); return rc; }
    l->len -= (size_t)(start - l->buf);
    memmove(l->buf, start, l->len);
    if (l->len > FOLLOW_LINE_MAX) { cli_err("%s: follow: a line over 1 MiB", l->who); follow_close(l); return -EMSGSIZE; }
  }
}

/* A random (version 4) UUID, as text. */
static void uuid4(char out[37])
{
  uint8_t u[16];
  randombytes_buf(u, sizeof u);
  u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
  u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4],
           u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

int bridge_link_switch(struct bridge_link *l, uint16_t branch, bool on, const char *rid, int64_t now_ms, char *msg, size_t cap)
{
  struct bridge_pending *q = NULL;
  for (int i = 0; i < BRIDGE_PENDING_MAX && !q; i++)
    if (l->pend[i].fd < 0) q = &l->pend[i];
  if (!q) {
    snprintf(msg, cap, "switch branch %u %s: dropped: %d requests already wait for the daemon", branch, on ? "on" : "off",
             BRIDGE_PENDING_MAX);
    return -EBUSY;
  }
  char uuid[37];
  uuid4(uuid);
  if (rid) snprintf(q->rid, sizeof q->rid, "%s", rid);
  else snprintf(q->rid, sizeof q->rid, "mqtt-%s", uuid);
  json_t *req = json_pack("{s:s, s:i, s:s, s:s, s:s}", "op", "switch", "branch", (int)branch, "desired", on ? "on" : "off",
                          "request_id", q->rid, "reason", l->reason);
  char *line = req ? json_dumps(req, JSON_COMPACT) : NULL;
  json_decref(req);
  char *nl = line ? malloc(strlen(line) + 2) : NULL;
  if (nl) sprintf(nl, "%s\n", line);
  free(line);
  if (!nl) { snprintf(msg, cap, "switch branch %u: out of memory", branch); return -ENOMEM; }
  int fd = send_request(l, nl);
  free(nl);
  if (fd < 0) {
    snprintf(msg, cap, "switch branch %u %s (%s): the daemon's socket: %s", branch, on ? "on" : "off", q->rid, strerror(-fd));
    return fd;
  }
  q->fd = fd;
  q->branch = branch;
  q->on = on;
  q->len = 0;
  q->deadline_ms = now_ms + 60000;
  snprintf(msg, cap, "switch branch %u %s: sent as request %s", branch, on ? "on" : "off", q->rid);
  return 0;
}

/* One line for a switch request's end: the daemon's answer, or why there is none; then the
 * link's done callback, if any, with its outcome. */
static void pending_done(struct bridge_link *l, struct bridge_pending *q, const char *answer, const char *why)
{
  json_t *o = answer ? json_loads(answer, 0, NULL) : NULL;
  const char *what = q->on ? "on" : "off", *verdict = json_string_value(json_object_get(o, "verdict"));
  enum bridge_outcome out;
  if (!o) {
    cli_err("%s: switch branch %u %s (%s): %s", l->who, q->branch, what, q->rid, why ? why : "bad answer");
    out = BRIDGE_FAILED;
  } else if (!json_is_true(json_object_get(o, "ok"))) {
    cli_err("%s: switch branch %u %s (%s): %s", l->who, q->branch, what, q->rid, json_string_value(json_object_get(o, "error")));
    out = BRIDGE_FAILED;
  } else if (json_object_get(o, "verdict")) {
    cli_err("%s: switch branch %u %s (%s): command seq %lld, sense-back %s", l->who, q->branch, what, q->rid,
            (long long)json_integer_value(json_object_get(o, "command_seq")), verdict);
    out = verdict && !strcmp(verdict, "confirmed") ? BRIDGE_CONFIRMED : BRIDGE_NOT_CONFIRMED;
  } else {
    cli_err("%s: switch branch %u %s (%s): refused: %s", l->who, q->branch, what, q->rid,
            json_string_value(json_object_get(o, "reason")));
    out = BRIDGE_REFUSED;
  }
  json_decref(o);
  close(q->fd);
  q->fd = -1;
  if (l->done) l->done(l->done_ctx, q, out);
}

void bridge_link_pending(struct bridge_link *l, int64_t now_ms)
{
  for (int i = 0; i < BRIDGE_PENDING_MAX; i++) {
    struct bridge_pending *q = &l->pend[i];
    if (q->fd < 0) continue;
    ssize_t r;
    while ((r = read(q->fd, q->buf + q->len, sizeof q->buf - 1 - q->len)) > 0) q->len += (size_t)r;
    q->buf[q->len] = 0;
    char *nl = memchr(q->buf, '\n', q->len);
    if (nl) { *nl = 0; pending_done(l, q, q->buf, NULL); }
    else if (r == 0) pending_done(l, q, NULL, "the daemon closed the connection before answering");
    else if (q->len == sizeof q->buf - 1) pending_done(l, q, NULL, "answer too long");
    else if (r < 0 && errno != EAGAIN && errno != EINTR) pending_done(l, q, NULL, strerror(errno));
    else if (now_ms > q->deadline_ms) pending_done(l, q, NULL, "no answer within 60 s");
  }
}
