/*
 * bridge_modbus.c — `hems bridge modbus`: a Modbus TCP server (libmodbus) whose register map
 * (modbus_map.c, docs/modbus.md) shows the daemon's status: the folded durable energy totals,
 * power, switch states and alarms per branch, voltage and frequency from the follow stream's
 * windows, head and durable seq. The image is rebuilt after each status call (every --interval)
 * and each followed record; a read only copies it, so a client that reads, or disconnects in
 * the middle of a frame, touches nothing in the journal. A write to the command block becomes
 * a `switch` request on the daemon's socket, request id modbus-<n>, under the role the daemon
 * gives the bridge's uid; its outcome shows in the command block's result register.
 *
 * One thread, one poll loop: the listening socket, up to CLIENTS_MAX clients (libmodbus reads
 * each frame with a 2 s indication timeout, so a half-sent frame cannot stall the others), the
 * follow stream and the pending switch requests.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <modbus/modbus.h>
#include "cli.h"
#include "bridge.h"
#include "modbus_map.h"

#define CLIENTS_MAX 16
#define BACKOFF_MAX_MS 30000
#define WARMUP_RECORDS 200

struct mb {
  modbus_t *ctx;
  int listen_fd, client[CLIENTS_MAX];
  struct bridge_panel p;
  struct bridge_link l;
  struct modbus_state s;
  struct modbus_image img;
  bool daemon_up;
  int64_t interval_ms, next_status_ms, retry_ms, backoff_ms;
  uint64_t pending_n;  /* the request number now waiting, 0: none */
};

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static int service_code(const char *s)
{
  return !strcmp(s, "disconnected") ? 0 : !strcmp(s, "connected") ? 1 : !strcmp(s, "ready_for_reconnection") ? 2 : -1;
}

/* The panel as the map's numbers, then the image. */
static void rebuild(struct mb *b)
{
  struct modbus_state *s = &b->s;
  snprintf(s->model, sizeof s->model, "%s", b->p.model);
  snprintf(s->version, sizeof s->version, "%s", HEMS_VERSION_STRING);
  snprintf(s->device_id, sizeof s->device_id, "%s", b->p.device_id);
  for (int ph = 0; ph < 3; ph++) { s->have_v[ph] = b->p.have_v[ph]; s->v_mv[ph] = b->p.v_mv[ph]; }
  s->have_freq = b->p.have_freq;
  s->freq_mhz = b->p.freq_mhz;
  s->alarms = b->p.alarms;
  s->service = service_code(b->p.service);
  s->n = b->p.n;
  s->have_checkpoint = b->p.checkpoint_size > 0;
  s->checkpoint_size = b->p.checkpoint_size;
  for (unsigned i = 0; i < b->p.n && i < MODBUS_MAP_BRANCHES; i++) {
    const struct bridge_branch *x = &b->p.br[i];
    s->br[i] = (struct modbus_branch_state){ x->number, x->critical, x->sensed, x->have_status, x->have_energy,
                                             x->power_w, x->import_wh, x->export_wh, (uint16_t)x->alarms };
  }
  modbus_map_build(s, &b->img);
}

static void daemon_lost(struct mb *b, int rc)
{
  if (b->daemon_up) cli_err("bridge modbus: lost the daemon of %s (%s); reconnecting", b->l.dir, strerror(rc < 0 ? -rc : rc));
  b->daemon_up = false;
  bridge_link_close(&b->l); /* a switch request still waiting has no answer now */
  if (b->pending_n) {
    b->pending_n = 0;
    b->s.request_result = MODBUS_RESULT_FAILED;
    rebuild(b);
  }
  b->retry_ms = bridge_now_ms() + b->backoff_ms;
  b->backoff_ms = b->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b->backoff_ms * 2;
}

/* One status call folded into the panel and the image: 0, or <0 (the daemon went away). */
static int status_now(struct mb *b, uint64_t *durable)
{
  json_t *st;
  int rc = bridge_link_status(&b->l, 5000, &st);
  if (rc) return rc;
  if (bridge_panel_status(&b->p, st)) cli_err("bridge modbus: the daemon's status has no branches");
  b->s.head_seq = (uint64_t)json_integer_value(json_object_get(st, "head_seq"));
  b->s.durable_seq = (uint64_t)json_integer_value(json_object_get(st, "durable_seq"));
  if (durable) *durable = b->s.durable_seq;
  json_decref(st);
  rebuild(b);
  return 0;
}

static void daemon_connect_now(struct mb *b)
{
  uint64_t durable = 0;
  int rc = status_now(b, &durable);
  if (!rc) {
    uint64_t from = b->p.last_seq ? b->p.last_seq + 1 : durable > WARMUP_RECORDS ? durable - WARMUP_RECORDS : 1;
    rc = bridge_link_follow(&b->l, from, 0);
    if (!rc) {
      cli_err("bridge modbus: following the daemon of %s from seq %llu (%u branches)", b->l.dir, (unsigned long long)from, b->p.n);
      b->daemon_up = true;
      b->backoff_ms = 1000;
      b->next_status_ms = bridge_now_ms() + b->interval_ms;
      return;
    }
  }
  cli_err("bridge modbus: no daemon answers for %s (%s); retry in %lld s", b->l.dir, strerror(rc < 0 ? -rc : rc),
          (long long)b->backoff_ms / 1000);
  b->daemon_up = true; /* so daemon_lost closes and backs off */
  daemon_lost(b, rc);
}

static void on_record(void *ctx, const uint8_t *rec, size_t len, uint64_t seq)
{
  struct mb *b = ctx;
  json_t *ev = NULL;
  char part[64];
  if (bridge_panel_record(&b->p, rec, len, &ev, part, sizeof part)) b->next_status_ms = bridge_now_ms();
  json_decref(ev);
  if (seq > b->s.head_seq) b->s.head_seq = seq;
}

static void on_done(void *ctx, const struct bridge_pending *q, enum bridge_outcome out)
{
  struct mb *b = ctx;
  unsigned long long n = 0;
  if (sscanf(q->rid, "modbus-%llu", &n) != 1 || n != b->pending_n) return;
  static const uint16_t code[] = { MODBUS_RESULT_CONFIRMED, MODBUS_RESULT_NOT_CONFIRMED, MODBUS_RESULT_REFUSED, MODBUS_RESULT_FAILED };
  b->s.request_result = code[out];
  b->pending_n = 0;
  b->next_status_ms = bridge_now_ms(); /* the sense-back changed the switch state */
  rebuild(b);
}

/* Asks the daemon for a switch from the command block: 0 (the write's echo goes back), or an
 * exception code. */
static uint8_t do_switch(struct mb *b, const struct modbus_write *w)
{
  if (!b->daemon_up) return MODBUS_EX_FAILURE;
  if (b->pending_n) return MODBUS_EX_BUSY;
  /* n above the daemon's head: every request appends, so the next n of any bridge, restarted
   * or not, is new to the journal (a reused request id is the daemon's conflict) */
  uint64_t n = b->s.head_seq + 1 > b->s.request_n + 1 ? b->s.head_seq + 1 : b->s.request_n + 1;
  char rid[32], msg[300];
  snprintf(rid, sizeof rid, "modbus-%llu", (unsigned long long)n);
  int rc = bridge_link_switch(&b->l, w->branch, w->on, rid, bridge_now_ms(), msg, sizeof msg);
  cli_err("bridge modbus: %s", msg);
  if (rc) return rc == -EBUSY ? MODBUS_EX_BUSY : MODBUS_EX_FAILURE;
  b->s.request_n = n;
  b->s.request_branch = w->branch;
  b->s.request_result = MODBUS_RESULT_PENDING;
  b->pending_n = n;
  rebuild(b);
  return 0;
}

static void client_close(struct mb *b, int i)
{
  close(b->client[i]);
  b->client[i] = -1;
}

/* One request from client i: libmodbus reads the frame, the map answers it. */
static void client_request(struct mb *b, int i)
{
  uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH], a[7 + MODBUS_MAP_PDU_MAX];
  modbus_set_socket(b->ctx, b->client[i]);
  int n = modbus_receive(b->ctx, q);
  if (n < 0) { client_close(b, i); return; } /* closed, a half frame timed out, or a bad header */
  int hl = modbus_get_header_length(b->ctx);
  if (n <= hl) return;
  struct modbus_write w;
  size_t len = modbus_map_answer(&b->img, &b->s, q + hl, (size_t)(n - hl), a + 7, &w);
  if (w.is_switch) {
    uint8_t ex = do_switch(b, &w);
    if (ex) len = modbus_map_exception(q[hl], ex, a + 7);
  }
  memcpy(a, q, 4);          /* transaction and protocol ids */
  a[4] = (uint8_t)((len + 1) >> 8);
  a[5] = (uint8_t)(len + 1);
  a[6] = q[6];              /* unit id */
  if (send(b->client[i], a, 7 + len, MSG_NOSIGNAL) != (ssize_t)(7 + len)) client_close(b, i);
}

static void accept_client(struct mb *b)
{
  int fd = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) return;
  for (int i = 0; i < CLIENTS_MAX; i++)
    if (b->client[i] < 0) { b->client[i] = fd; return; }
  cli_err("bridge modbus: %d clients already connected: one more refused", CLIENTS_MAX);
  close(fd);
}

static void loop_turn(struct mb *b)
{
  int64_t now = bridge_now_ms();
  if (!b->daemon_up && now >= b->retry_ms) daemon_connect_now(b);
  struct pollfd fds[2 + CLIENTS_MAX + BRIDGE_PENDING_MAX];
  int n = 0, ci[CLIENTS_MAX];
  fds[n++] = (struct pollfd){ b->listen_fd, POLLIN, 0 };
  int fi = b->l.follow_fd >= 0 ? n : -1;
  if (fi >= 0) fds[n++] = (struct pollfd){ b->l.follow_fd, POLLIN, 0 };
  for (int i = 0; i < CLIENTS_MAX; i++) {
    ci[i] = b->client[i] >= 0 ? n : -1;
    if (ci[i] >= 0) fds[n++] = (struct pollfd){ b->client[i], POLLIN, 0 };
  }
  for (int i = 0; i < BRIDGE_PENDING_MAX; i++)
    if (b->l.pend[i].fd >= 0) fds[n++] = (struct pollfd){ b->l.pend[i].fd, POLLIN, 0 };
  int64_t wait = b->daemon_up ? b->next_status_ms - now : b->retry_ms - now;
  if (wait > 1000) wait = 1000;
  if (poll(fds, (nfds_t)n, wait < 0 ? 0 : (int)wait) < 0) return;
  if (fds[0].revents) accept_client(b);
  for (int i = 0; i < CLIENTS_MAX; i++)
    if (ci[i] >= 0 && fds[ci[i]].revents) client_request(b, i);
  if (fi >= 0 && fds[fi].revents) {
    int rc = bridge_link_read(&b->l, &b->p, on_record, b);
    if (rc) daemon_lost(b, rc);
    else rebuild(b);
  }
  now = bridge_now_ms();
  bridge_link_pending(&b->l, now);
  if (b->daemon_up && now >= b->next_status_ms) {
    b->next_status_ms = now + b->interval_ms;
    int rc = status_now(b, NULL);
    if (rc) daemon_lost(b, rc);
  }
}

/* HOST:PORT, [V6]:PORT, HOST, or :PORT into host (NULL: every address) and port: 0, or -1. */
static int listen_addr(const char *s, char *buf, size_t cap, const char **host, int *port)
{
  *port = 502;
  if (snprintf(buf, cap, "%s", s) >= (int)cap || bridge_host_port(buf, host, port)) return -1;
  if (!**host) *host = NULL;
  return 0;
}

static int cli_bridge_modbus(int argc, char **argv)
{
  const char *dir = cli_default_dir(), *sock = NULL, *listen_s = "0.0.0.0:502", *interval = "1s";
  for (int i = 1; i < argc; i++) {
    const char **slot = !strcmp(argv[i], "--dir") ? &dir : !strcmp(argv[i], "--socket") ? &sock
                        : !strcmp(argv[i], "--listen") ? &listen_s : !strcmp(argv[i], "--interval") ? &interval : NULL;
    if (!slot || i + 1 >= argc) {
      cli_err("bridge modbus: %s: %s", argv[i], slot ? "needs a value" : "unknown option");
      return CLI_USAGE;
    }
    *slot = argv[++i];
  }
  char hostbuf[256];
  const char *host;
  int port;
  if (listen_addr(listen_s, hostbuf, sizeof hostbuf, &host, &port)) {
    cli_err("bridge modbus: --listen %s: expected HOST:PORT (port 1..65535)", listen_s);
    return CLI_USAGE;
  }
  int64_t iv;
  if (cli_parse_duration_ns(interval, &iv) || iv < 100000000LL || iv > 3600000000000LL) {
    cli_err("bridge modbus: --interval %s: a duration from 100ms to 1h", interval);
    return CLI_USAGE;
  }
  static struct mb b; /* the panel and the image: not on the stack */
  memset(&b, 0, sizeof b);
  b.interval_ms = iv / 1000000;
  b.backoff_ms = 1000;
  for (int i = 0; i < CLIENTS_MAX; i++) b.client[i] = -1;
  bridge_link_init(&b.l, dir, sock);
  b.l.who = "bridge modbus";
  b.l.reason = "modbus (hems bridge modbus)";
  b.l.done = on_done;
  b.l.done_ctx = &b;
  b.s.service = -1;
  rebuild(&b);
  char service[8];
  snprintf(service, sizeof service, "%d", port);
  b.ctx = modbus_new_tcp_pi(host, service); /* getaddrinfo: IPv4 and IPv6 */
  if (!b.ctx) { cli_err("bridge modbus: --listen %s: %s", listen_s, modbus_strerror(errno)); return CLI_USAGE; }
  modbus_set_indication_timeout(b.ctx, 2, 0);
  b.listen_fd = modbus_tcp_pi_listen(b.ctx, CLIENTS_MAX);
  if (b.listen_fd < 0) {
    cli_err("bridge modbus: --listen %s: %s", listen_s, modbus_strerror(errno));
    modbus_free(b.ctx);
    return CLI_ENV;
  }
  struct sigaction sa = { .sa_handler = on_signal };
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  cli_err("bridge modbus: listening on %s port %d, status every %lld ms", host ? host : "every address", port,
          (long long)b.interval_ms);
  while (!stop_signal) loop_turn(&b);
  for (int i = 0; i < CLIENTS_MAX; i++)
    if (b.client[i] >= 0) client_close(&b, i);
  close(b.listen_fd);
  modbus_free(b.ctx);
  bridge_link_close(&b.l);
  cli_err("bridge modbus: stopped (%s)", stop_signal == SIGTERM ? "SIGTERM" : "SIGINT");
  return CLI_OK;
}

int cli_cmd_bridge(int argc, char **argv)
{
  if (argc >= 2 && !strcmp(argv[1], "mqtt")) return cli_bridge_mqtt(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "modbus")) return cli_bridge_modbus(argc - 1, argv + 1);
  if (argc >= 2 && !strcmp(argv[1], "sunspec")) return cli_bridge_sunspec(argc - 1, argv + 1);
  cli_err("bridge: %s: unknown bridge (hems bridge mqtt, hems bridge modbus, hems bridge sunspec)", argc >= 2 ? argv[1] : "(none)");
  return CLI_USAGE;
}
