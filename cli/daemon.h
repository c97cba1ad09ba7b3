/*
 * daemon.h — private to cli/: the `hems run` daemon (one libuv loop) and its control socket.
 *
 * The loop does, in order, per tick: read hardware (advance the simulated panel, drain the
 * waveform buffer, GPIO edges) → build records → append → (durable) → fold → execute effects.
 * It is the only place that knows about time and files. Under --sim every record time, the
 * boot id and all randomness come from the virtual clock and the seed, so a run at
 * --speed max on copies of one data dir ends with the same head hash.
 */
#ifndef HEMS_CLI_DAEMON_H
#define HEMS_CLI_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include "journal.h"

#define DAEMON_REQUEST_MAX 65536 /* bytes in one control-socket request line */
#define DAEMON_CLIENTS_MAX 32

enum daemon_role { ROLE_VIEWER = 0, ROLE_OPERATOR = 1, ROLE_ADMIN = 2 };

struct daemon;

struct daemon_client {
  uv_pipe_t pipe;
  struct daemon *d;
  char *buf;
  size_t len;
  uint32_t uid, gid;
  bool have_cred;
  unsigned gen;   /* bumped per connection, so a late answer never reaches a newer client */
  bool closing;
  bool in_use;
};

struct daemon_socket {
  uv_pipe_t server;
  bool open;
  char path[4200];
  struct daemon_client clients[DAEMON_CLIENTS_MAX];
};

/* Socket path for a data dir (CLI.md): DIR/control.sock, or when that exceeds 107 bytes
 * $XDG_RUNTIME_DIR/hems-<16 hex of BLAKE2b(DIR)>.sock, else the same under /tmp. */
void daemon_socket_path(const char *dir, const char *override, char out[4200]);

/* Binds path (mode 0660, a stale socket removed first — the caller holds the writer lock) and
 * listens on loop; loop->data must be the struct daemon. 0 or a libuv error. */
int daemon_socket_listen(uv_loop_t *loop, struct daemon_socket *s, const char *path);
void daemon_socket_stop(struct daemon_socket *s);

/* Handles one request line from a client; writes one response line (JSON) into *out
 * (malloc'd). Implemented in run.c (it needs the daemon state). */
char *daemon_handle_request(struct daemon *d, struct daemon_client *c, const char *line, size_t len);

/* Sends one response line later (the answer to a request that had to wait); takes ownership of
 * line_owned. Dropped if the client has gone. */
void daemon_client_send(struct daemon_client *c, char *line_owned);

/* Client side: sends one request line to the daemon of dir and reads one response line.
 * 0 and *out (malloc'd), -ENOENT/-ECONNREFUSED when no daemon answers, other <0 on errors. */
int daemon_call(const char *dir, const char *socket_override, const char *request, char **out,
                int timeout_ms);

#endif
