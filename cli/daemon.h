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
#include <jansson.h>
#include "journal.h"
#include "control_req.h" /* enum daemon_role */

#define DAEMON_REQUEST_MAX 65536 /* bytes in one control-socket request line */
#define DAEMON_CLIENTS_MAX 64    /* connections served at once; a newcomer closes the least
                                    recently active one (so idle connections cannot lock others out) */
#define DAEMON_REPLY_QUEUE_MAX (256u * 1024u) /* unsent answer bytes of one connection before it is
                                                closed (a peer that does not read) */
#define DAEMON_OPERATORS_GROUP "hems-operators"
#define DAEMON_REQUEST_NS_PER_TICK 2000000ull /* loop time spent answering request lines per
                                      tick over all connections (round robin; at least one line
                                      a tick): a peer that pipelines thousands of costly requests
                                      delays its own answers, never the tick */


struct daemon;
struct daemon_socket;

struct daemon_client {
  uv_pipe_t *pipe;     /* on the heap: freed in its close callback, after the slot moved on */
  struct daemon *d;
  struct daemon_socket *sock;
  char *buf;           /* bytes read and not yet answered (complete lines and a partial one) */
  size_t len;
  bool paused;         /* reading stopped while more than DAEMON_REQUEST_MAX bytes wait */
  uint32_t uid, gid;
  bool have_cred;
  unsigned gen;        /* bumped per connection, so a late answer never reaches a newer client */
  uint64_t active_ms;  /* loop time of the last byte read (or of the accept) */
  uint64_t follow_next, follow_until; /* op follow (run_viewer.c): the next seq to send (0: not
                                         following) and the last one (0: none) */
  struct viewer_export *export; /* op export (run_export.c): the bundle being streamed, or NULL */
  bool in_use;
};

struct daemon_socket {
  uv_pipe_t server;
  bool open;
  char path[4200];
  uint64_t evicted; /* connections closed for a newcomer */
  uint64_t spent_ns; /* loop time spent answering lines in this tick */
  bool answered;    /* a line was answered in this tick */
  unsigned next;    /* the connection the round robin asks first */
  struct daemon_client clients[DAEMON_CLIENTS_MAX];
};

/* ---- where the socket lives (daemon_path.c)
 *
 * Never in a directory another user can write: a squatter there could answer in the daemon's
 * place. The daemon binds the first that applies: --socket PATH (its directory must be ours or
 * root's and writable by nobody else); /run/hems/hems-<hex>.sock when /run/hems is a directory
 * of ours that nobody else can write (tmpfiles.d/hems.conf); DIR/control.sock when it
 * fits in 107 bytes and DIR is ours and writable by nobody else; $XDG_RUNTIME_DIR/hems/
 * hems-<hex>.sock (the directory created mode 0750 if missing, then checked); else no socket.
 * <hex> is the first 16 hex digits of BLAKE2b-256 of the real path of DIR. */

#define DAEMON_SOCKET_CANDIDATES 3

/* The paths a client tries for dir, in order (the override alone when given). Returns the
 * count. */
int daemon_socket_candidates(const char *dir, const char *override, char out[DAEMON_SOCKET_CANDIDATES][4200]);

/* The daemon's socket path for dir (rule above), creating $XDG_RUNTIME_DIR/hems when needed.
 * 0, or <0 with a one-line reason in why. */
int daemon_socket_choose(const char *dir, const char *override, char out[4200], char *why, size_t why_cap);

/* A directory fit to hold the socket: a real directory (not a symlink), owned by our euid (or
 * by root when root_ok), writable by nobody else. Creates it (mode 0750) when create and it is
 * missing. 0, -ENOENT, -ENOTDIR, -EPERM (owner or mode); why says which. */
int daemon_private_dir(const char *path, bool create, bool root_ok, char *why, size_t why_cap);

/* Best effort: gives path the group hems-operators (when that group exists and we may). */
void daemon_operators_group(const char *path);

/* ---- the server (daemon_socket.c) */

/* Binds path (mode 0660, a stale socket removed first — the caller holds the writer lock) and
 * listens on loop; loop->data must be the struct daemon. 0 or a libuv error: UV_EEXIST when
 * path is there and not a socket, UV_EADDRINUSE when a process listens on it (neither removed). */
int daemon_socket_listen(uv_loop_t *loop, struct daemon_socket *s, const char *path);
void daemon_socket_stop(struct daemon_socket *s);
/* Once per loop tick: a fresh budget of DAEMON_REQUEST_NS_PER_TICK, spent on waiting lines. */
void daemon_socket_tick(struct daemon_socket *s);

/* Handles one request line from a client; writes one response line (JSON) into *out
 * (malloc'd). Implemented in run.c (it needs the daemon state). */
char *daemon_handle_request(struct daemon *d, struct daemon_client *c, const char *line, size_t len);

/* Sends one response line later (the answer to a request that had to wait); takes ownership of
 * line_owned. Dropped if the client has gone. */
void daemon_client_send(struct daemon_client *c, char *line_owned);

/* ---- roles (daemon_roles.c) */

/* SO_PEERCRED → role: root and the daemon's own uid are admin; then the roles section
 * (json object {"admin": [...], "installer": [...], …}: uids, user names, "@group"; the highest
 * matching role wins, in the order admin, installer, operator, utility, automation, viewer);
 * then members of group hems-operators are operators; everyone else is a viewer. */
int daemon_role_of(const json_t *roles, bool have_cred, uint32_t uid, uint32_t gid);
/* Whether the peer is in the roles section's "der_bridge" list (uids, user names, "@group"):
 * the SunSpec bridge's uids, the only ones whose DER observations and DER command reports the
 * daemon takes (with root and the daemon's own uid). A capability, not a role: the peer's role
 * is still daemon_role_of's. */
bool daemon_is_der_bridge(const json_t *roles, bool have_cred, uint32_t uid, uint32_t gid);
/* The journal role a request of this socket role is recorded with (enum journal_role). */
uint8_t daemon_role_journal(int role);

/* ---- per-peer rate limit (daemon_limit.c)
 *
 * Per uid (a peer cannot escape it by opening connections or forking): a token bucket of
 * DAEMON_PEER_BURST requests refilled at DAEMON_PEER_RATE_PER_S. A request over the limit is
 * answered at once and not journaled; all of one peer's refused requests of one second become one
 * `refusal` record (reason rate_limit, cause_seq 0, uid, count). So a peer adds at most
 * BURST + RATE·t journaled requests (each with its decision) and one coalesced refusal per
 * second. */
#define DAEMON_PEER_RATE_PER_S 10
#define DAEMON_PEER_BURST 20
#define DAEMON_PEERS_MAX 64

struct daemon_peer {
  uint32_t uid;
  bool used;
  uint32_t tokens_milli;    /* tokens × 1000 */
  uint64_t refill_ms;       /* when tokens were last refilled */
  uint32_t dropped;         /* refused since dropped_since_ms, not yet journaled */
  uint64_t dropped_since_ms;
  uint16_t target;          /* the first refused request's target and desired */
  uint8_t desired;
  char request_id[65];
};

struct daemon_limit {
  struct daemon_peer peer[DAEMON_PEERS_MAX];
};

/* Takes one token for uid at now_ms. true: go ahead; false: refused (counted for the next
 * coalesced record, with target/desired/request_id of the first one refused). */
bool daemon_limit_take(struct daemon_limit *l, uint32_t uid, uint64_t now_ms, uint16_t target, uint8_t desired,
                       const char *request_id);

/* The next coalesced refusal due at now_ms (a peer's drops at least 1 s old, or all of them when
 * force): fills *out (request_id borrows from l) and clears that peer's count. false: none. */
bool daemon_limit_due(struct daemon_limit *l, uint64_t now_ms, bool force, struct journal_refusal *out);

/* Frees an export stream (run_export.c; NULL: nothing): when its connection closes. */
struct viewer_export;
void daemon_export_free(struct viewer_export *x);

/* ---- client side (daemon_client.c) */

/* Sends one request line to the daemon of dir and reads one response line: 0 and *out
 * (malloc'd); -ENOENT/-ECONNREFUSED when no daemon answers; -EPERM when the peer answering on
 * the socket is neither root nor the owner of dir (an error line is printed: its answer is not
 * trusted); other <0 on errors. */
int daemon_call(const char *dir, const char *socket_override, const char *request, char **out,
                int timeout_ms);
/* A connection to the daemon of dir (its socket found as daemon_call finds it) whose peer is
 * root or dir's owner: the fd (blocking, close-on-exec), or the errors of daemon_call. */
int daemon_connect(const char *dir, const char *socket_override);
/* The same, for an answer of many lines: each line (NUL-terminated, without its newline) goes
 * to on_line until it returns nonzero (>0: done, 0 returned; <0: that error); timeout_ms bounds
 * the wait for each line. */
int daemon_stream(const char *dir, const char *request, int timeout_ms,
                  int (*on_line)(void *ctx, const char *line), void *ctx);

#endif
