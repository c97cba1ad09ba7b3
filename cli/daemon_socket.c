/*
 * daemon_socket.c — the daemon's control socket (a Unix stream socket on the libuv loop) and
 * the client side used by `hems status`, `hems switch`, `hems note` ….
 *
 * Protocol: one JSON object per line each way. Requests longer than DAEMON_REQUEST_MAX bytes
 * get an error response and the connection is closed; the daemon keeps running. The peer's
 * uid/gid (SO_PEERCRED) decide its role (daemon_handle_request applies it). The socket is
 * created mode 0660: the umask is set before bind, because uv_pipe_chmod can only widen.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>
#include "daemon.h"

void daemon_socket_path(const char *dir, const char *override, char out[4200])
{
  if (override) { snprintf(out, 4200, "%s", override); return; }
  char abs[4096];
  if (!realpath(dir, abs)) snprintf(abs, sizeof abs, "%s", dir);
  int n = snprintf(out, 4200, "%s/control.sock", abs);
  if (n > 0 && n <= 107) return;
  uint8_t h[32];
  char hex[65];
  crypto_generichash(h, sizeof h, (const uint8_t *)abs, strlen(abs), NULL, 0);
  journal_hex(h, 8, hex);
  const char *rt = getenv("XDG_RUNTIME_DIR");
  snprintf(out, 4200, "%s/hems-%s.sock", rt && *rt ? rt : "/tmp", hex);
}

static void on_client_close(uv_handle_t *h)
{
  struct daemon_client *c = h->data;
  free(c->buf);
  c->buf = NULL;
  c->len = 0;
  c->in_use = false;
  c->closing = false;
}

static void client_close(struct daemon_client *c)
{
  if (c->closing) return;
  c->closing = true;
  uv_close((uv_handle_t *)&c->pipe, on_client_close);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  (void)h;
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

struct write_req { uv_write_t req; char *data; };
static void send_line(struct daemon_client *c, char *line_owned);

static void on_written(uv_write_t *req, int status)
{
  (void)status;
  struct write_req *w = (struct write_req *)req;
  free(w->data);
  free(w);
}

void daemon_client_send(struct daemon_client *c, char *line_owned)
{
  if (!c->in_use || c->closing) { free(line_owned); return; }
  send_line(c, line_owned);
}

static void send_line(struct daemon_client *c, char *line_owned)
{
  size_t n = strlen(line_owned);
  char *data = realloc(line_owned, n + 2);
  if (!data) { free(line_owned); return; }
  data[n] = '\n';
  data[n + 1] = 0;
  struct write_req *w = malloc(sizeof *w);
  if (!w) { free(data); return; }
  w->data = data;
  uv_buf_t b = uv_buf_init(data, (unsigned)(n + 1));
  if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_written) != 0) { free(data); free(w); }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
  struct daemon_client *c = s->data;
  if (nread < 0) {
    free(buf->base);
    client_close(c);
    return;
  }
  for (ssize_t i = 0; i < nread && !c->closing; i++) {
    char ch = buf->base[i];
    if (ch == '\n') {
      char *resp = daemon_handle_request(c->d, c, c->buf ? c->buf : "", c->len);
      c->len = 0;
      if (resp) send_line(c, resp);
      continue;
    }
    if (c->len >= DAEMON_REQUEST_MAX) {
      char *e = strdup("{\"ok\":false,\"error\":\"request too large\"}");
      if (e) send_line(c, e);
      client_close(c);
      break;
    }
    if (!c->buf) c->buf = malloc(DAEMON_REQUEST_MAX + 1);
    if (!c->buf) { client_close(c); break; }
    c->buf[c->len++] = ch;
  }
  free(buf->base);
}

static void on_connection(uv_stream_t *server, int status)
{
  struct daemon_socket *s = server->data;
  if (status < 0) return;
  struct daemon_client *c = NULL;
  for (int i = 0; i < DAEMON_CLIENTS_MAX; i++)
    if (!s->clients[i].in_use) { c = &s->clients[i]; break; }
  uv_pipe_t tmp;
  if (!c) {
    /* Full: accept and close, so the client sees an answer instead of hanging. */
    uv_pipe_init(server->loop, &tmp, 0);
    if (uv_accept(server, (uv_stream_t *)&tmp) == 0) uv_close((uv_handle_t *)&tmp, NULL);
    return;
  }
  unsigned gen = c->gen + 1;
  memset(c, 0, sizeof *c);
  c->gen = gen;
  c->in_use = true;
  c->d = server->loop->data; /* run.c sets loop->data to the daemon */
  uv_pipe_init(server->loop, &c->pipe, 0);
  c->pipe.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) { client_close(c); return; }
  uv_os_fd_t fd;
  struct ucred cred;
  socklen_t cl = sizeof cred;
  c->uid = UINT32_MAX;
  if (uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0) {
    c->uid = cred.uid;
    c->gid = cred.gid;
    c->have_cred = true;
  }
  uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
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

int daemon_socket_listen(uv_loop_t *loop, struct daemon_socket *s, const char *path)
{
  memset(s, 0, sizeof *s);
  snprintf(s->path, sizeof s->path, "%s", path);
  int rc = uv_pipe_init(loop, &s->server, 0);
  if (rc) return rc;
  s->server.data = s;
  /* A stale socket of a killed daemon: we hold the writer lock, so nobody else owns it. */
  unlink(s->path);
  mode_t old = umask(0117); /* -> 0660 */
  rc = uv_pipe_bind(&s->server, s->path);
  umask(old);
  if (rc) { uv_close((uv_handle_t *)&s->server, NULL); return rc; }
  rc = uv_listen((uv_stream_t *)&s->server, 16, on_connection);
  if (rc) { uv_close((uv_handle_t *)&s->server, NULL); unlink(s->path); return rc; }
  s->open = true;
  return 0;
}

/* ------------------------------------------------------------------ client side */

int daemon_call(const char *dir, const char *socket_override, const char *request, char **out, int timeout_ms)
{
  char path[4200];
  daemon_socket_path(dir, socket_override, path);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa.sun_path) return -ENAMETOOLONG;
  memcpy(sa.sun_path, path, strlen(path));
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int e = errno;
    close(fd);
    return e == ENOENT || e == ECONNREFUSED ? -e : -e;
  }
  size_t n = strlen(request);
  const char *p = request;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) { if (errno == EINTR) continue; int e = errno; close(fd); return -e; }
    p += w;
    n -= (size_t)w;
  }
  if (write(fd, "\n", 1) != 1) { close(fd); return -EIO; }
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (!buf) { close(fd); return -ENOMEM; }
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long left = timeout_ms - (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
    if (left <= 0) { free(buf); close(fd); return -ETIMEDOUT; }
    struct pollfd pfd = { fd, POLLIN, 0 };
    int pr = poll(&pfd, 1, (int)left);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) { free(buf); close(fd); return -ETIMEDOUT; }
    if (len + 1 >= cap) {
      if (cap >= (16u << 20)) { free(buf); close(fd); return -EMSGSIZE; }
      char *q = realloc(buf, cap * 2);
      if (!q) { free(buf); close(fd); return -ENOMEM; }
      buf = q;
      cap *= 2;
    }
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0) { if (errno == EINTR) continue; int e = errno; free(buf); close(fd); return -e; }
    if (r == 0) { free(buf); close(fd); return -ECONNRESET; }
    len += (size_t)r;
    char *nl = memchr(buf, '\n', len);
    if (nl) {
      *nl = 0;
      *out = buf;
      close(fd);
      return 0;
    }
  }
}
