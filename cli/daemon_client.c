/*
 * daemon_client.c — the client side of the control socket, used by `hems status`, `switch`,
 * `note`, `service`, `dr`: one request line out, one answer line back.
 *
 * An answer is trusted only from the daemon: before the request is sent, the peer's uid
 * (SO_PEERCRED on our end: the credentials of the process that called listen) must be root's
 * or the data dir's owner's. Anyone else answering on a socket path — a squatter — gets nothing
 * and the command fails with exit 3.
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
#include "cli.h"
#include "daemon.h"

/* Connects to path: the fd, or <0. */
static int connect_to(const char *path)
{
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
    return -e;
  }
  return fd;
}

/* Is the process listening on fd the daemon of dir: root or dir's owner? Prints why not. */
static bool peer_trusted(int fd, const char *dir, const char *path)
{
  struct ucred cred;
  socklen_t cl = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0) {
    cli_err("%s: control socket %s: cannot tell who answers (%s): not trusted", dir, path, strerror(errno));
    return false;
  }
  struct stat st;
  bool have_owner = stat(dir, &st) == 0;
  if (cred.uid == 0 || (have_owner && cred.uid == st.st_uid)) return true;
  if (have_owner)
    cli_err("%s: control socket %s is served by uid %u, not by the data dir's owner (uid %u) or root: not trusted",
            dir, path, (unsigned)cred.uid, (unsigned)st.st_uid);
  else
    cli_err("%s: control socket %s is served by uid %u, and the data dir's owner is unknown (%s): not trusted",
            dir, path, (unsigned)cred.uid, strerror(errno));
  return false;
}

static int write_all(int fd, const char *p, size_t n)
{
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads one line (up to 16 MiB) within timeout_ms: 0 and *out, or <0. */
static int read_line(int fd, int timeout_ms, char **out)
{
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  if (!buf) return -ENOMEM;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long left = timeout_ms - (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
    if (left <= 0) { free(buf); return -ETIMEDOUT; }
    struct pollfd pfd = { fd, POLLIN, 0 };
    int pr = poll(&pfd, 1, (int)left);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) { free(buf); return -ETIMEDOUT; }
    if (len + 1 >= cap) {
      if (cap >= (16u << 20)) { free(buf); return -EMSGSIZE; }
      char *q = realloc(buf, cap * 2);
      if (!q) { free(buf); return -ENOMEM; }
      buf = q;
      cap *= 2;
    }
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      free(buf);
      return -e;
    }
    if (r == 0) { free(buf); return -ECONNRESET; }
    len += (size_t)r;
    char *nl = memchr(buf, '\n', len);
    if (nl) {
      *nl = 0;
      *out = buf;
      return 0;
    }
  }
}

int daemon_connect(const char *dir, const char *socket_override)
{
  char paths[DAEMON_SOCKET_CANDIDATES][4200];
  int n = daemon_socket_candidates(dir, socket_override, paths);
  int fd = -ENOENT, first_err = 0, at = -1;
  for (int i = 0; i < n; i++) {
    fd = connect_to(paths[i]);
    if (fd >= 0) { at = i; break; }
    /* "nothing there" is the normal case for the other places; any other error is kept */
    if (!first_err || (first_err == -ENOENT && fd != -ENOENT)) first_err = fd;
  }
  if (at < 0) return first_err ? first_err : -ENOENT;
  if (!peer_trusted(fd, dir, paths[at])) { close(fd); return -EPERM; }
  return fd;
}

int daemon_call(const char *dir, const char *socket_override, const char *request, char **out, int timeout_ms)
{
  int fd = daemon_connect(dir, socket_override);
  if (fd < 0) return fd;
  int rc = write_all(fd, request, strlen(request));
  if (rc == 0) rc = write_all(fd, "\n", 1);
  if (rc == 0) rc = read_line(fd, timeout_ms, out);
  close(fd);
  return rc;
}

int daemon_stream(const char *dir, const char *request, int timeout_ms, int (*on_line)(void *ctx, const char *line), void *ctx)
{
  int fd = daemon_connect(dir, NULL);
  if (fd < 0) return fd;
  int rc = write_all(fd, request, strlen(request));
  if (rc == 0) rc = write_all(fd, "\n", 1);
  size_t cap = 1u << 16, len = 0;
  char *buf = rc ? NULL : malloc(cap);
  if (!rc && !buf) rc = -ENOMEM;
  while (!rc) {
    char *nl = memchr(buf, '\n', len);
    if (nl) {
      *nl = 0;
      int r = on_line(ctx, buf);
      len -= (size_t)(nl + 1 - buf);
      memmove(buf, nl + 1, len);
      if (r) { rc = r < 0 ? r : 0; break; }
      continue;
    }
    if (len + 1 >= cap) {
      if (cap >= (16u << 20)) { rc = -EMSGSIZE; break; }
      char *q = realloc(buf, cap * 2);
      if (!q) { rc = -ENOMEM; break; }
      buf = q;
      cap *= 2;
    }
    struct pollfd pfd = { fd, POLLIN, 0 };
    int pr = poll(&pfd, 1, timeout_ms);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) { rc = -ETIMEDOUT; break; }
    ssize_t r = read(fd, buf + len, cap - len - 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) rc = -errno;
    else if (r == 0) rc = -ECONNRESET;
    else len += (size_t)r;
  }
  free(buf);
  close(fd);
  return rc;
}
