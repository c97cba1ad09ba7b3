/*
 * daemon_socket.c — the daemon's control socket: a Unix stream socket on the libuv loop.
 *
 * Protocol: one JSON object per line each way. Requests longer than DAEMON_REQUEST_MAX bytes
 * get an error response and the connection is closed; the daemon keeps running. The peer's
 * uid/gid (SO_PEERCRED) decide its role (daemon_handle_request applies it). The socket is
 * created mode 0660: the umask is set before bind, because uv_pipe_chmod can only widen.
 *
 * Connections: at most DAEMON_CLIENTS_MAX are served; a newcomer beyond that closes the least
 * recently active one of the uid holding the most (its own, when it is that uid), so idle
 * connections cannot lock the socket nor one user's connections push out another's; every one is
 * accepted (an unaccepted one stops libuv from reading the listening socket). Each connection's
 * handle lives on the heap: uv_close is asynchronous, so the handle is freed in its close
 * callback, while its slot is free at once for the next newcomer (a per-slot generation keeps
 * late answers from reaching the wrong peer).
 *
 * Requests: bytes read are kept per connection and answered a line at a time, for at most
 * DAEMON_REQUEST_NS_PER_TICK of loop time per tick (at least one line) over all connections,
 * in round robin: a peer
 * that pipelines a flood of costly requests (a read op scans up to thousands of records) waits
 * for its own answers while the tick and the other peers go on. A connection stops being read
 * while more than DAEMON_REQUEST_MAX bytes of it wait, so it holds at most twice that.
 *
 * Answers a peer leaves unread queue in the daemon (a status answer is kilobytes for a 16-byte
 * request): once more than DAEMON_REPLY_QUEUE_MAX bytes wait, the next answer closes the
 * connection instead, so one connection holds at most that much.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "daemon.h"

static void on_pipe_closed(uv_handle_t *h)
{
  free(h);
}

/* Frees the slot at once (a newcomer may take it now); the handle itself lives on the heap
 * until libuv's close callback, and no callback of it touches the slot again. */
static void client_close(struct daemon_client *c)
{
  if (!c->in_use) return;
  c->pipe->data = NULL;
  uv_close((uv_handle_t *)c->pipe, on_pipe_closed);
  c->pipe = NULL;
  free(c->buf);
  c->buf = NULL;
  c->len = 0;
  daemon_export_free(c->export);
  c->export = NULL;
  c->in_use = false;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

struct write_req { uv_write_t req; char *data; };
static void send_line(struct daemon_client *c, char *line_owned);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
  (void)status;
  struct write_req *w = (struct write_req *)req;
  free(w->data);
  free(w);
}

void daemon_client_send(struct daemon_client *c, char *line_owned)
{
  if (!c->in_use) { free(line_owned); return; }
  send_line(c, line_owned);
}

static void send_line(struct daemon_client *c, char *line_owned)
{
  if (!c->in_use) { free(line_owned); return; } /* closed meanwhile (e.g. while its request was handled) */
  if (uv_stream_get_write_queue_size((uv_stream_t *)c->pipe) > DAEMON_REPLY_QUEUE_MAX) {
    /* a peer that does not read its answers: drop it rather than queue without bound */
    free(line_owned);
    client_close(c);
    return;
  }
  size_t n = strlen(line_owned);
  char *data = realloc(line_owned, n + 2);
  if (!data) { free(line_owned); return; }
  data[n] = '\n';
  data[n + 1] = 0;
  struct write_req *w = malloc(sizeof *w);
  if (!w) { free(data); return; }
  w->data = data;
  uv_buf_t b = uv_buf_init(data, (unsigned)(n + 1));
  if (uv_write(&w->req, (uv_stream_t *)c->pipe, &b, 1, on_written) != 0) { free(data); free(w); }
}

/* Answers c's first complete line, if it has one: true when it did (or closed c). */
static bool answer_one(struct daemon_client *c)
{
  char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
  if (!nl) {
    if (c->len > DAEMON_REQUEST_MAX) {
      char *e = strdup("{\"ok\":false,\"error\":\"request too large\"}");
      if (e) send_line(c, e);
      client_close(c);
      return true;
    }
    return false;
  }
  size_t n = (size_t)(nl - c->buf);
  if (n > DAEMON_REQUEST_MAX) {
    char *e = strdup("{\"ok\":false,\"error\":\"request too large\"}");
    if (e) send_line(c, e);
    client_close(c);
    return true;
  }
  char *resp = daemon_handle_request(c->d, c, c->buf, n);
  if (!c->in_use) { free(resp); return true; }
  memmove(c->buf, nl + 1, c->len - n - 1);
  c->len -= n + 1;
  if (resp) send_line(c, resp);
  if (c->in_use && c->paused && c->len <= DAEMON_REQUEST_MAX) {
    c->paused = false;
    uv_read_start((uv_stream_t *)c->pipe, on_alloc, on_read);
  }
  return true;
}

/* Spends what is left of this tick's budget on waiting lines, one per connection in turn. */
static void pump(struct daemon_socket *s)
{
  while (!s->answered || s->spent_ns < DAEMON_REQUEST_NS_PER_TICK) {
    bool any = false;
    for (unsigned k = 0; k < DAEMON_CLIENTS_MAX; k++) {
      struct daemon_client *c = &s->clients[(s->next + k) % DAEMON_CLIENTS_MAX];
      if (!c->in_use) continue;
      uint64_t t0 = uv_hrtime();
      if (!answer_one(c)) continue;
      s->spent_ns += uv_hrtime() - t0;
      s->answered = true;
      any = true;
      s->next = (unsigned)((s->next + k + 1) % DAEMON_CLIENTS_MAX);
      break;
    }
    if (!any) return;
  }
}

void daemon_socket_tick(struct daemon_socket *s)
{
  if (!s->open) return;
  s->spent_ns = 0;
  s->answered = false;
  pump(s);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
  struct daemon_client *c = s->data;
  if (!c) { free(buf->base); return; } /* closed */
  c->active_ms = uv_now(s->loop);
  if (nread < 0) {
    free(buf->base);
    client_close(c);
    return;
  }
  if (nread > 0) {
    if (!c->buf) c->buf = malloc(2 * (size_t)DAEMON_REQUEST_MAX + 65536);
    if (!c->buf || c->len + (size_t)nread > 2 * (size_t)DAEMON_REQUEST_MAX + 65536) {
      free(buf->base);
      client_close(c);
      return;
    }
    memcpy(c->buf + c->len, buf->base, (size_t)nread);
    c->len += (size_t)nread;
    if (c->len > DAEMON_REQUEST_MAX && !c->paused) {
      c->paused = true; /* until its lines are answered */
      uv_read_stop(s);
    }
  }
  free(buf->base);
  pump(c->sock);
}

/* The connection a newcomer of uid closes when every slot is taken: the least recently active
 * one of the uid holding the most connections, the newcomer counted with its uid. So a uid that
 * opens connections in bulk closes its own, never those of other users (an operator waiting for
 * a sense-back); among uids holding equally many, the quietest connection goes. */
static struct daemon_client *victim(struct daemon_socket *s, uint32_t uid)
{
  int count[DAEMON_CLIENTS_MAX], most = 0;
  for (int i = 0; i < DAEMON_CLIENTS_MAX; i++) {
    count[i] = s->clients[i].uid == uid; /* the newcomer */
    for (int k = 0; k < DAEMON_CLIENTS_MAX; k++) count[i] += s->clients[k].uid == s->clients[i].uid;
    if (count[i] > most) most = count[i];
  }
  struct daemon_client *v = NULL;
  for (int i = 0; i < DAEMON_CLIENTS_MAX; i++)
    if (count[i] == most && (!v || s->clients[i].active_ms < v->active_ms)) v = &s->clients[i];
  return v;
}

static void on_connection(uv_stream_t *server, int status)
{
  struct daemon_socket *s = server->data;
  if (status < 0) return;
  uv_pipe_t *p = malloc(sizeof *p);
  if (!p || uv_pipe_init(server->loop, p, 0) != 0) {
    /* out of memory: libuv keeps the connection pending and offers it again later */
    free(p);
    return;
  }
  p->data = NULL;
  if (uv_accept(server, (uv_stream_t *)p) != 0) { uv_close((uv_handle_t *)p, on_pipe_closed); return; }
  uv_os_fd_t fd;
  struct ucred cred;
  socklen_t cl = sizeof cred;
  bool have_cred = uv_fileno((uv_handle_t *)p, &fd) == 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0;
  uint32_t uid = have_cred ? cred.uid : UINT32_MAX, gid = have_cred ? cred.gid : UINT32_MAX;
  struct daemon_client *c = NULL;
  for (int i = 0; i < DAEMON_CLIENTS_MAX && !c; i++)
    if (!s->clients[i].in_use) c = &s->clients[i];
  if (!c) {
    s->evicted++;
    c = victim(s, uid);
    client_close(c);
  }
  unsigned gen = c->gen + 1;
  memset(c, 0, sizeof *c);
  c->gen = gen;
  c->in_use = true;
  c->d = server->loop->data; /* run.c sets loop->data to the daemon */
  c->sock = s;
  c->active_ms = uv_now(server->loop);
  c->pipe = p;
  p->data = c;
  c->uid = uid;
  c->gid = gid;
  c->have_cred = have_cred;
  uv_read_start((uv_stream_t *)p, on_alloc, on_read);
}

void daemon_socket_stop(struct daemon_socket *s)
{
  if (!s->open) return;
  for (int i = 0; i < DAEMON_CLIENTS_MAX; i++)
    if (s->clients[i].in_use) client_close(&s->clients[i]);
  uv_close((uv_handle_t *)&s->server, NULL);
  unlink(s->path);
  s->open = false;
}

/* Does a process listen on the Unix socket at path? */
static bool socket_answers(const char *path)
{
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa.sun_path) return false;
  memcpy(sa.sun_path, path, strlen(path));
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool live = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  close(fd);
  return live;
}

int daemon_socket_listen(uv_loop_t *loop, struct daemon_socket *s, const char *path)
{
  memset(s, 0, sizeof *s);
  snprintf(s->path, sizeof s->path, "%s", path);
  int rc = uv_pipe_init(loop, &s->server, 0);
  if (rc) return rc;
  s->server.data = s;
  /* A stale socket of a killed daemon is removed; anything else at the path is left alone: a file
   * that is not a socket (a mistyped --socket must not delete it), or a socket some process still
   * listens on (another daemon given the same --socket: our writer lock covers only our DIR). */
  struct stat st;
  if (lstat(s->path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) { uv_close((uv_handle_t *)&s->server, NULL); return UV_EEXIST; }
    if (socket_answers(s->path)) { uv_close((uv_handle_t *)&s->server, NULL); return UV_EADDRINUSE; }
    unlink(s->path);
  }
  mode_t old = umask(0117); /* -> 0660 */
  rc = uv_pipe_bind(&s->server, s->path);
  umask(old);
  if (rc) { uv_close((uv_handle_t *)&s->server, NULL); return rc; }
  rc = uv_listen((uv_stream_t *)&s->server, SOMAXCONN, on_connection);
  if (rc) { uv_close((uv_handle_t *)&s->server, NULL); unlink(s->path); return rc; }
  daemon_operators_group(s->path);
  s->open = true;
  return 0;
}
