/*
 * bridge_mqtt.c — `hems bridge mqtt`: Home Assistant MQTT discovery and state for the panel,
 * switch commands from Home Assistant as requests to the daemon (bridge.h says what comes from
 * where). One thread, one poll loop over the broker's socket (libmosquitto driven by
 * mosquitto_loop with a zero timeout), the daemon's follow stream and the pending switch
 * requests.
 *
 * Availability (hems/<node>/availability, retained) is "online" only while both the broker and
 * the daemon answer; the broker publishes "offline" for us as our last will if we vanish. Both
 * connections come back by themselves with exponential backoff (1 s doubling to 60 s; a broker
 * that takes the connection but sends no CONNACK within CONNACK_MS is dropped and tried again); on each
 * broker connect the bridge publishes every discovery config and state again (a restarted broker
 * without persistence has lost the retained ones), and likewise when Home Assistant says
 * "online" on <prefix>/status. A broker restart touches nothing in the journal: the bridge only
 * reads, and asks only when a command arrives.
 */
#include <errno.h>
#include <stddef.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <mosquitto.h>
#include "cli.h"
#include "bridge.h"

#define STATUS_SOON_MS 300   /* a record that may change alarms: status again this soon */
#define BACKLOG_MAX 100000   /* records behind the daemon's head the bridge reads after a gap */
#define WARMUP_RECORDS 200   /* recent records read on start for current, PF, voltage (no events) */
#define FULL_MIN_MS 5000     /* Home Assistant's "online" republishes at most this often */

struct bridge {
  struct mosquitto *m;
  struct bridge_names nm;
  char base[160], avail[200], node[80];
  struct bridge_panel p;
  struct bridge_link l;
  struct bridge_broker k;     /* k.m: the client */
  bool mqtt_up, daemon_up, need_full, online_sent;
  int64_t interval_ms, next_state_ms, next_status_ms;
  int64_t daemon_retry_ms, daemon_backoff_ms;
  struct bridge_topics owned; /* the config topics discovery publishes now (owned_known) */
  struct bridge_topics early; /* retained configs of this node seen before owned was known */
  bool owned_known;
  uint64_t events_after;     /* records up to this seq were there before the bridge: no events */
  int64_t last_full_ms, full_due_ms; /* Home Assistant's "online": everything again, at most every
                                        FULL_MIN_MS (anyone who may publish could ask in a loop) */
};

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

static void publish(void *ctx, const char *topic, char *payload, bool retain, int qos)
{
  struct bridge *b = ctx;
  if (b->mqtt_up) mosquitto_publish(b->k.m, NULL, topic, (int)strlen(payload), payload, qos, retain);
  free(payload);
}

/* "online" once both sides answer and everything was published since (Home Assistant has every
 * config before it sees the entities available), "offline" as soon as one does not answer. */
static void availability(struct bridge *b)
{
  bool online = b->mqtt_up && b->daemon_up && !b->need_full;
  if (!b->mqtt_up || online == b->online_sent) return;
  mosquitto_publish(b->k.m, NULL, b->avail, online ? 6 : 7, online ? "online" : "offline", 1, true);
  b->online_sent = online;
}

/* A retained config under this node id that discovery no longer publishes: deleted (an empty
 * retained payload), or Home Assistant keeps the entity. */
static void drop_stale(struct bridge *b, const char *topic)
{
  if (bridge_topics_has(&b->owned, topic)) return;
  cli_err("bridge mqtt: %s: no such entity any more: its retained config removed", topic);
  mosquitto_publish(b->k.m, NULL, topic, 0, NULL, 1, true);
}

/* The configs discovery publishes now; what it published before and no longer does goes (a
 * branch removed while the bridge runs), and so do the stale ones seen before this was known. */
static void owned_update(struct bridge *b)
{
  struct bridge_topics now;
  if (bridge_topics_of_discovery(&b->p, &b->nm, &now)) { /* incomplete: it must not delete anything */
    bridge_topics_free(&now);
    return;
  }
  struct bridge_topics before = b->owned;
  b->owned = now;
  if (b->owned_known)
    for (size_t i = 0; i < before.n; i++) drop_stale(b, before.t[i]);
  bridge_topics_free(&before);
  b->owned_known = true;
  for (size_t i = 0; i < b->early.n; i++) drop_stale(b, b->early.t[i]);
  bridge_topics_free(&b->early);
}

/* Everything again: discovery, every state, availability (broker connect, HA online, new layout). */
static void publish_all(struct bridge *b)
{
  if (!b->mqtt_up || !b->daemon_up) return;
  owned_update(b);
  bridge_ha_discovery(&b->p, &b->nm, publish, b);
  bridge_ha_states(&b->p, &b->nm, true, publish, b);
  b->need_full = b->p.layout_changed = false;
  b->online_sent = false;
  availability(b);
  b->last_full_ms = bridge_now_ms();
}

/* ---- the broker */

static void on_connect(struct mosquitto *m, void *ctx, int rc)
{
  struct bridge *b = ctx;
  if (!bridge_broker_connected(&b->k, rc)) return;
  char t[BRIDGE_TOPIC_MAX];
  snprintf(t, sizeof t, "%s/branch/+/switch/set", b->base);
  mosquitto_subscribe(m, NULL, t, 1);
  snprintf(t, sizeof t, "%s/status", b->nm.prefix);
  mosquitto_subscribe(m, NULL, t, 1);
  /* the broker's retained configs under this node id: the stale ones are removed (drop_stale) */
  snprintf(t, sizeof t, "%s/+/%s/+/config", b->nm.prefix, b->node);
  mosquitto_subscribe(m, NULL, t, 1);
  b->mqtt_up = true;
  b->need_full = true;
}

static void on_disconnect(struct mosquitto *m, void *ctx, int rc)
{
  (void)m;
  struct bridge *b = ctx;
  if (b->mqtt_up) cli_err("bridge mqtt: lost broker %s:%d (%s); reconnecting", b->k.host, b->k.port, rc ? mosquitto_strerror(rc) : "closed");
  b->mqtt_up = false;
}

/* A switch from Home Assistant: checked here against the panel, then asked of the daemon. */
static void switch_command(struct bridge *b, const struct bridge_cmd *c)
{
  char msg[300];
  struct bridge_branch *x = bridge_panel_branch(&b->p, c->branch);
  if (!x) cli_err("bridge mqtt: switch branch %u: the panel has no such branch: ignored", c->branch);
  else if (x->critical) cli_err("bridge mqtt: switch branch %u: critical, the automation role may not switch it: ignored", c->branch);
  else if (!b->daemon_up) cli_err("bridge mqtt: switch branch %u %s: the daemon does not answer: dropped", c->branch, c->on ? "on" : "off");
  else {
    bridge_link_switch(&b->l, c->branch, c->on, NULL, bridge_now_ms(), msg, sizeof msg);
    cli_err("bridge mqtt: %s", msg);
  }
}

static void on_message(struct mosquitto *m, void *ctx, const struct mosquitto_message *msg)
{
  (void)m;
  struct bridge *b = ctx;
  struct bridge_cmd c;
  char why[600];
  if (bridge_is_own_config(&b->nm, msg->topic)) { /* ours, echoed, or left from before */
    if (msg->payloadlen <= 0) return;            /* a deletion */
    if (b->owned_known) drop_stale(b, msg->topic);
    else if (b->early.n < 4096) bridge_topics_add(&b->early, msg->topic);
    return;
  }
  if (bridge_cmd_parse(b->base, b->nm.prefix, msg->topic, strlen(msg->topic), msg->payload, msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0,
                       &c, why, sizeof why)) {
    cli_err("bridge mqtt: %s", why);
    return;
  }
  if (c.kind == BRIDGE_CMD_SWITCH) switch_command(b, &c);
  else if (c.kind == BRIDGE_CMD_HA_ONLINE && !b->full_due_ms) {
    int64_t at = b->last_full_ms + FULL_MIN_MS;
    b->full_due_ms = at > bridge_now_ms() ? at : bridge_now_ms();
  }
}

/* ---- the daemon */

static void on_record(void *ctx, const uint8_t *rec, size_t len, uint64_t seq)
{
  struct bridge *b = ctx;
  json_t *ev = NULL;
  char part[64], t[BRIDGE_TOPIC_MAX];
  if (bridge_panel_record(&b->p, rec, len, &ev, part, sizeof part)) {
    int64_t soon = bridge_now_ms() + STATUS_SOON_MS;
    if (!b->next_status_ms || soon < b->next_status_ms) b->next_status_ms = soon;
  }
  if (ev && seq > b->events_after) {
    char *s = json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(12));
    snprintf(t, sizeof t, "%s/%s", b->base, part);
    if (s) publish(b, t, s, false, 1);
  }
  json_decref(ev);
}

static void daemon_lost(struct bridge *b, int rc)
{
  if (b->daemon_up)
    cli_err("bridge mqtt: lost the daemon of %s (%s); reconnecting", b->l.dir, strerror(rc < 0 ? -rc : rc));
  b->daemon_up = false;
  bridge_link_close(&b->l);
  availability(b);
  bridge_backoff(&b->daemon_retry_ms, &b->daemon_backoff_ms);
}

/* Status now: folds it; false when the daemon does not answer. */
static bool status_now(struct bridge *b)
{
  json_t *st;
  int rc = bridge_link_status(&b->l, 5000, &st);
  if (rc) { daemon_lost(b, rc); return false; }
  if (bridge_panel_status(&b->p, st)) cli_err("bridge mqtt: the daemon's status has no branches");
  json_decref(st);
  return true;
}

static void daemon_connect_now(struct bridge *b)
{
  json_t *st;
  int rc = bridge_link_status(&b->l, 5000, &st);
  if (rc) {
    if (b->daemon_backoff_ms == BRIDGE_BACKOFF_MIN_MS)
      cli_err("bridge mqtt: no daemon answers for %s (%s); retrying", b->l.dir, strerror(rc < 0 ? -rc : rc));
    bridge_backoff(&b->daemon_retry_ms, &b->daemon_backoff_ms);
    return;
  }
  uint64_t durable = (uint64_t)json_integer_value(json_object_get(st, "durable_seq"));
  bridge_panel_status(&b->p, st);
  json_decref(st);
  uint64_t from;
  if (!b->p.last_seq) { /* first start: recent windows for the measurements, no old events */
    from = durable > WARMUP_RECORDS ? durable - WARMUP_RECORDS : 1;
    b->events_after = durable;
  } else if (durable > b->p.last_seq + BACKLOG_MAX) {
    cli_err("bridge mqtt: %llu records came while the bridge was away; going on from the newest (their events are in the journal)",
            (unsigned long long)(durable - b->p.last_seq));
    from = durable - WARMUP_RECORDS;
    b->events_after = durable;
  } else from = b->p.last_seq + 1;
  rc = bridge_link_follow(&b->l, from, 0);
  if (rc) { daemon_lost(b, rc); return; }
  if (!b->p.device_id[0]) cli_err("bridge mqtt: the daemon's status carries no device_id");
  cli_err("bridge mqtt: following the daemon of %s from seq %llu (%u branches)", b->l.dir, (unsigned long long)from, b->p.n);
  b->daemon_up = true;
  b->daemon_backoff_ms = BRIDGE_BACKOFF_MIN_MS;
  b->need_full = true;
}

/* ---- the loop */

static void loop_turn(struct bridge *b)
{
  int64_t now = bridge_now_ms();
  if (!b->daemon_up && now >= b->daemon_retry_ms) daemon_connect_now(b);
  bridge_broker_turn(&b->k, b->mqtt_up, now);
  if (b->full_due_ms && now >= b->full_due_ms) { b->full_due_ms = 0; b->need_full = true; }
  if (b->need_full || (b->p.layout_changed && b->mqtt_up)) publish_all(b);
  struct pollfd fds[2 + BRIDGE_PENDING_MAX];
  int n = 0, msock = mosquitto_socket(b->k.m);
  if (msock >= 0) fds[n++] = (struct pollfd){ msock, (short)(POLLIN | (mosquitto_want_write(b->k.m) ? POLLOUT : 0)), 0 };
  int fi = b->l.follow_fd >= 0 ? n : -1;
  if (fi >= 0) fds[n++] = (struct pollfd){ b->l.follow_fd, POLLIN, 0 };
  for (int i = 0; i < BRIDGE_PENDING_MAX; i++)
    if (b->l.pend[i].fd >= 0) fds[n++] = (struct pollfd){ b->l.pend[i].fd, POLLIN, 0 };
  int64_t wait = 1000; /* libmosquitto's keepalive wants a call at least this often */
  if (b->daemon_up && b->next_status_ms && b->next_status_ms - now < wait) wait = b->next_status_ms - now;
  if (b->daemon_up && b->next_state_ms - now < wait) wait = b->next_state_ms - now;
  if (poll(fds, (nfds_t)n, wait < 0 ? 0 : (int)wait) < 0 && errno != EINTR) return;
  if (msock >= 0 || b->mqtt_up) {
    int rc = mosquitto_loop(b->k.m, 0, 1);
    if (rc != MOSQ_ERR_SUCCESS && b->mqtt_up) on_disconnect(b->k.m, b, rc);
    if (rc != MOSQ_ERR_SUCCESS && b->k.retry_ms < bridge_now_ms()) bridge_backoff(&b->k.retry_ms, &b->k.backoff_ms);
  }
  if (fi >= 0 && fds[fi].revents) {
    int rc = bridge_link_read(&b->l, &b->p, on_record, b);
    if (rc) daemon_lost(b, rc);
  }
  now = bridge_now_ms();
  bridge_link_pending(&b->l, now);
  if (b->daemon_up && b->next_status_ms && now >= b->next_status_ms) {
    b->next_status_ms = 0;
    status_now(b);
  }
  if (b->daemon_up && now >= b->next_state_ms) {
    b->next_state_ms = now + b->interval_ms;
    if (status_now(b)) bridge_ha_states(&b->p, &b->nm, false, publish, b);
  } else if (b->daemon_up) {
    bridge_ha_exceptions(&b->p, &b->nm, publish, b);
  }
  availability(b);
}

/* ---- options */

struct bridge_opts {
  const char *dir, *socket, *broker, *prefix, *node, *user, *pwfile, *cafile, *cert, *key, *interval;
};

static int parse_opts(int argc, char **argv, struct bridge_opts *o)
{
  memset(o, 0, sizeof *o);
  o->dir = cli_default_dir();
  o->prefix = "homeassistant";
  o->interval = "10s";
  static const struct { const char *name; size_t off; } opt[] = {
    { "--dir", offsetof(struct bridge_opts, dir) }, { "--socket", offsetof(struct bridge_opts, socket) },
    { "--broker", offsetof(struct bridge_opts, broker) }, { "--prefix", offsetof(struct bridge_opts, prefix) },
    { "--node-id", offsetof(struct bridge_opts, node) }, { "--username", offsetof(struct bridge_opts, user) },
    { "--password-file", offsetof(struct bridge_opts, pwfile) }, { "--cafile", offsetof(struct bridge_opts, cafile) },
    { "--cert", offsetof(struct bridge_opts, cert) }, { "--key", offsetof(struct bridge_opts, key) },
    { "--interval", offsetof(struct bridge_opts, interval) },
  };
  for (int i = 1; i < argc; i++) {
    size_t k = 0;
    while (k < sizeof opt / sizeof opt[0] && strcmp(argv[i], opt[k].name)) k++;
    if (k == sizeof opt / sizeof opt[0] || i + 1 >= argc) {
      cli_err("bridge mqtt: %s: %s", argv[i], k == sizeof opt / sizeof opt[0] ? "unknown option" : "needs a value");
      return CLI_USAGE;
    }
    *(const char **)((char *)o + opt[k].off) = argv[++i];
  }
  if (!o->broker) { cli_err("bridge mqtt: --broker mqtt://HOST:PORT is required"); return CLI_USAGE; }
  if (!bridge_prefix_ok(o->prefix)) { cli_err("bridge mqtt: --prefix %s: not a topic prefix (printable, no + # or empty level)", o->prefix); return CLI_USAGE; }
  if (o->node && !bridge_node_id_ok(o->node)) { cli_err("bridge mqtt: --node-id %s: 1..64 of A-Z a-z 0-9 _ -", o->node); return CLI_USAGE; }
  if (!o->cert != !o->key) { cli_err("bridge mqtt: --cert and --key go together"); return CLI_USAGE; }
  if (o->pwfile && !o->user) { cli_err("bridge mqtt: --password-file needs --username"); return CLI_USAGE; }
  return 0;
}

static int setup_mqtt(struct bridge *b, const struct bridge_opts *o, bool tls)
{
  char client[128];
  snprintf(client, sizeof client, "hems-bridge-%s", b->node);
  b->k.m = mosquitto_new(client, true, b);
  if (!b->k.m) { cli_err("bridge mqtt: mosquitto_new: %s", strerror(errno)); return CLI_ENV; }
  mosquitto_int_option(b->k.m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_connect_callback_set(b->k.m, on_connect);
  mosquitto_disconnect_callback_set(b->k.m, on_disconnect);
  mosquitto_message_callback_set(b->k.m, on_message);
  int rc = mosquitto_will_set(b->k.m, b->avail, 7, "offline", 1, true);
  if (rc) {
    cli_err("bridge mqtt: broker settings: %s", mosquitto_strerror(rc));
    return CLI_USAGE;
  }
  struct bridge_auth a = { o->user, o->pwfile, o->cafile, o->cert, o->key };
  return bridge_broker_auth(b->k.m, "bridge mqtt", &a, tls);
}

int cli_bridge_mqtt(int argc, char **argv)
{
  struct bridge_opts o;
  int rc = parse_opts(argc, argv, &o);
  if (rc) return rc;
  static struct bridge b; /* ~20 KB of panel: not on the stack */
  memset(&b, 0, sizeof b);
  char hostbuf[256];
  bool tls;
  if (bridge_broker_url(o.broker, hostbuf, sizeof hostbuf, &b.k.host, &b.k.port, &tls)) {
    cli_err("bridge mqtt: --broker %s: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]", o.broker);
    return CLI_USAGE;
  }
  int64_t iv;
  if (cli_parse_duration_ns(o.interval, &iv) || iv < 1000000000LL || iv > 3600000000000LL) {
    cli_err("bridge mqtt: --interval %s: a duration from 1s to 1h", o.interval);
    return CLI_USAGE;
  }
  b.interval_ms = iv / 1000000;
  b.k.keepalive_s = 30;
  b.k.who = "bridge mqtt";
  bridge_link_init(&b.l, o.dir, o.socket);
  b.k.backoff_ms = b.daemon_backoff_ms = BRIDGE_BACKOFF_MIN_MS;
  /* the node id defaults to the device's: wait for the daemon once to learn it */
  while (!b.daemon_up && !stop_signal) {
    daemon_connect_now(&b);
    if (!b.daemon_up) {
      struct timespec ts = { (time_t)(b.daemon_retry_ms - bridge_now_ms()) / 1000, 0 };
      nanosleep(&ts, NULL);
    }
  }
  if (o.node) snprintf(b.node, sizeof b.node, "%s", o.node);
  else snprintf(b.node, sizeof b.node, "hems_%.16s", b.p.device_id[0] ? b.p.device_id : "panel");
  snprintf(b.base, sizeof b.base, "hems/%s", b.node);
  snprintf(b.avail, sizeof b.avail, "%s/availability", b.base);
  b.nm = (struct bridge_names){ o.prefix, b.node, b.base };
  mosquitto_lib_init();
  if ((rc = setup_mqtt(&b, &o, tls))) { mosquitto_lib_cleanup(); bridge_link_close(&b.l); return rc; }
  struct sigaction sa = { .sa_handler = on_signal };
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  cli_err("bridge mqtt: node %s, discovery prefix %s, state every %lld s, broker %s:%d%s", b.node, o.prefix,
          (long long)b.interval_ms / 1000, b.k.host, b.k.port, tls ? " (TLS)" : "");
  b.next_state_ms = bridge_now_ms() + 2000; /* the first full states once a few windows came in */
  while (!stop_signal) loop_turn(&b);
  if (b.mqtt_up) {
    b.mqtt_up = false; /* a stop, not a loss: on_disconnect says nothing */
    mosquitto_publish(b.k.m, NULL, b.avail, 7, "offline", 1, true);
    for (int i = 0; i < 10 && mosquitto_want_write(b.k.m); i++) mosquitto_loop(b.k.m, 50, 1);
    mosquitto_disconnect(b.k.m);
  }
  mosquitto_destroy(b.k.m);
  mosquitto_lib_cleanup();
  bridge_link_close(&b.l);
  bridge_topics_free(&b.owned);
  bridge_topics_free(&b.early);
  cli_err("bridge mqtt: stopped (%s)", stop_signal == SIGTERM ? "SIGTERM" : "SIGINT");
  return CLI_OK;
}
