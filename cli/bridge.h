/*
 * bridge.h — private to cli/: `hems bridge mqtt`, a separate process between the daemon's
 * control socket and an MQTT broker (Home Assistant discovery). It never opens the journal's
 * LMDB files: what it shows comes from the daemon's `status` (the folded state: energy totals,
 * branch states, alarms, the service disconnect) and its `follow` stream (each durable record's
 * exact bytes: windows for current, power factor, voltage and frequency; sense-backs for the
 * switches; trip taps and PQ events for HA event entities). What it asks becomes a `switch`
 * request under the bridge's own role (automation), request id mqtt-<uuid>.
 *
 *   bridge_link.c   the daemon side: status calls, the follow stream, pending switch requests
 *   bridge_ha.c     the model (struct bridge_panel) and the discovery and state payloads
 *   bridge_mqtt.c   the command: options, libmosquitto, the loop
 *   bridge_cmd.c    the MQTT messages it takes (bridge_cmd.h; fuzzed)
 *   bridge_modbus.c `hems bridge modbus`: a Modbus TCP server over the same link and model
 *                   (its register map: modbus_map.c, fuzzed); and the `hems bridge` dispatch
 *   bridge_sunspec.c `hems bridge sunspec`: a SunSpec client of the panel's DER sources whose
 *                   polls become der_observe requests (its decoder: sunspec_decode.c, fuzzed)
 */
#ifndef HEMS_CLI_BRIDGE_H
#define HEMS_CLI_BRIDGE_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "journal.h"
#include "bridge_cmd.h"

#define BRIDGE_BRANCHES_MAX 64
#define BRIDGE_PENDING_MAX 8 /* switch requests awaiting the daemon's answer at once */

/* Alarms: the reducers' bits and names (replay_alarm_name, REPLAY_ALARMS; the bits a branch
 * carries: REPLAY_ALARMS_BRANCH), as `status` spells them. */

struct bridge_branch {
  uint16_t number;
  char name[64];
  bool critical;          /* the automation role may not switch it: no switch entity */
  bool have_status;
  int64_t power_w;
  bool have_energy;       /* the daemon's status carries durable totals */
  uint64_t import_wh, export_wh; /* folded totals as of a durable seal, whole Wh (floored) */
  bool have_current, have_pf;
  int32_t current_ma, pf_mpct;   /* the last window's */
  int sensed;             /* switch state from the proven sense-back: -1 unknown, 0 off, 1 on */
  uint32_t alarms;        /* REPLAY_ALARM_* bits */
  bool switch_dirty, alarms_dirty; /* changed since published (report by exception) */
};

struct bridge_panel {
  char device_id[65];     /* status device_id; "" until known */
  char model[64];         /* the panel or scenario name */
  unsigned n;
  struct bridge_branch br[BRIDGE_BRANCHES_MAX];
  bool layout_changed;    /* branch numbers, names or critical flags changed: discovery again */
  bool have_v[3];
  int32_t v_mv[3];        /* per phase A, B, C: the last window's voltage channel rms */
  bool have_freq;
  uint32_t freq_mhz;
  char service[32];       /* policy.service: connected, disconnected, ready_for_reconnection */
  uint32_t alarms;        /* panel alarms */
  bool service_dirty, alarms_dirty;
  uint64_t last_seq;      /* the last record seen on the follow stream */
  uint64_t checkpoint_size; /* the newest followed seal's sealed_seq: its checkpoint's tree size */
};

/* ---- the model and the payloads (bridge_ha.c) */

/* Folds a status answer into p (branch list, energy, power, switch states, alarms, service).
 * 0, or -1 when it is not a status answer. */
int bridge_panel_status(struct bridge_panel *p, const json_t *status);
/* Folds one record (its exact bytes from follow). Sets *event to a JSON event payload to publish
 * (owned by the caller) on the topic part in event_topic ("branch/7/trip", "panel/pq",
 * "panel/trip"), else NULL. Returns true when the record may change alarms (the caller asks
 * status soon). */
bool bridge_panel_record(struct bridge_panel *p, const uint8_t *b, size_t len, json_t **event, char *event_topic,
                         size_t cap);
struct bridge_branch *bridge_panel_branch(struct bridge_panel *p, unsigned number);

/* One message to publish: topic (under base or prefix), payload (malloc'd), retained, qos. */
typedef void (*bridge_publish_fn)(void *ctx, const char *topic, char *payload_owned, bool retain, int qos);
struct bridge_names {
  const char *prefix; /* discovery prefix */
  const char *node;   /* node id */
  const char *base;   /* hems/<node id>: state, availability and command topics */
};
/* Every retained discovery config (sensors, switches, binary sensors, events; one device). */
void bridge_ha_discovery(const struct bridge_panel *p, const struct bridge_names *nm, bridge_publish_fn pub, void *ctx);
/* The periodic states: per branch power, energy, current, power factor; the panel's voltages,
 * frequency, service; and with all, switches and alarms too (else only the dirty ones). */
void bridge_ha_states(struct bridge_panel *p, const struct bridge_names *nm, bool all, bridge_publish_fn pub, void *ctx);
/* Only what changed since published: switches, alarms, the service state. */
void bridge_ha_exceptions(struct bridge_panel *p, const struct bridge_names *nm, bridge_publish_fn pub, void *ctx);

/* ---- the discovery configs the bridge owns (bridge_owned.c) */

struct bridge_topics { char **t; size_t n, cap; bool oom; };
void bridge_topics_free(struct bridge_topics *s);
int bridge_topics_add(struct bridge_topics *s, const char *topic);
/* The config topics bridge_ha_discovery publishes, sorted (for bridge_topics_has); -1 when memory
 * ran out (the set is then incomplete: nothing may be deleted by it). */
int bridge_topics_of_discovery(const struct bridge_panel *p, const struct bridge_names *nm, struct bridge_topics *out);
bool bridge_topics_has(const struct bridge_topics *s, const char *topic);
/* Whether topic is a discovery config under this bridge's node id:
 * <prefix>/<component>/<node id>/<object id>/config. */
bool bridge_is_own_config(const struct bridge_names *nm, const char *topic);

/* ---- the daemon side (bridge_link.c) */

struct bridge_pending {
  int fd;                 /* -1: free */
  char rid[48];           /* mqtt-<uuid>, modbus-<n> */
  uint16_t branch;
  bool on;
  int64_t deadline_ms;
  char buf[4096];
  size_t len;
};

enum bridge_outcome { BRIDGE_CONFIRMED, BRIDGE_NOT_CONFIRMED, BRIDGE_REFUSED, BRIDGE_FAILED };

struct bridge_link {
  const char *dir, *socket; /* --dir, --socket (NULL: the daemon's usual places) */
  const char *who;          /* log lines start with it: "bridge mqtt" (set after init to change) */
  const char *reason;       /* a switch request's reason */
  void (*done)(void *ctx, const struct bridge_pending *q, enum bridge_outcome out); /* or NULL */
  void *done_ctx;
  int follow_fd;            /* -1: not following */
  char *buf;                /* follow bytes read, not yet split into lines */
  size_t len, cap;
  struct bridge_pending pend[BRIDGE_PENDING_MAX];
};

/* CLOCK_MONOTONIC in ms: the bridges' timers. */
int64_t bridge_now_ms(void);
void bridge_link_init(struct bridge_link *l, const char *dir, const char *socket);
void bridge_link_close(struct bridge_link *l);
/* One status call (blocking, at most timeout_ms): 0 and *out, or <0 (no daemon, not trusted…). */
int bridge_link_status(struct bridge_link *l, int timeout_ms, json_t **out);
/* Starts following from seq from, up to seq until (0: on and on; non-blocking afterwards): 0 or <0. */
int bridge_link_follow(struct bridge_link *l, uint64_t from, uint64_t until);
/* Reads what the follow connection has: every complete record line goes to on_record; a gap
 * moves p->last_seq. 0, or <0 when the daemon went away (the caller reconnects). */
int bridge_link_read(struct bridge_link *l, struct bridge_panel *p,
                     void (*on_record)(void *ctx, const uint8_t *b, size_t len, uint64_t seq), void *ctx);
/* Sends a switch request (the role is the bridge uid's; request id rid, or mqtt-<uuid> when NULL):
 * 0, or <0 with one line in msg. */
int bridge_link_switch(struct bridge_link *l, uint16_t branch, bool on, const char *rid, int64_t now_ms, char *msg,
                       size_t cap);
/* Reads pending answers; each finished request (answer, error or timeout) logs one line. */
void bridge_link_pending(struct bridge_link *l, int64_t now_ms);

/* ---- the broker (bridge_broker.c): what `hems bridge mqtt` and `hems ship` share */

#define BRIDGE_BACKOFF_MIN_MS 1000
#define BRIDGE_BACKOFF_MAX_MS 60000
#define BRIDGE_CONNACK_MS 10000 /* a broker that takes the connection but never acknowledges it */

struct mosquitto;
struct bridge_auth { const char *user, *pwfile, *cafile, *cert, *key; }; /* options, each NULL if not given */
struct bridge_broker {
  struct mosquitto *m;      /* the caller's client */
  const char *who;          /* log lines start with it */
  const char *host;
  int port, keepalive_s;
  int64_t retry_ms, backoff_ms; /* the next connect attempt; the wait after a failed one */
  int64_t connack_due_ms;   /* a CONNECT is out: no CONNACK by then, the connection is dropped */
};

/* Moves *retry_ms by *backoff_ms from now and doubles *backoff_ms up to BRIDGE_BACKOFF_MAX_MS. */
void bridge_backoff(int64_t *retry_ms, int64_t *backoff_ms);
/* mqtt://HOST[:PORT] or mqtts://HOST[:PORT] ([v6]:PORT too): 0, or -1. host points into buf. */
int bridge_broker_url(const char *url, char *buf, size_t cap, const char **host, int *port, bool *tls);
/* Username and password file (its first line; refused when readable by others), and TLS (for
 * mqtts:// or any of cafile/cert; the broker's certificate verified against cafile, else the
 * system's CAs). 0, or the exit code after one line. */
int bridge_broker_auth(struct mosquitto *m, const char *who, const struct bridge_auth *a, bool tls);
/* A connect now (the CONNACK comes through mosquitto_loop); on failure one line and a backoff. */
void bridge_broker_connect(struct bridge_broker *k);
/* While not up: connects when the backoff has passed; drops a connection with no CONNACK
 * within BRIDGE_CONNACK_MS. */
void bridge_broker_turn(struct bridge_broker *k, bool up, int64_t now);
/* The CONNACK (the connect callback's rc): one line, connected or refused and why; when
 * connected, the backoff starts over. Returns whether connected. */
bool bridge_broker_connected(struct bridge_broker *k, int rc);

/* hems bridge mqtt (bridge_mqtt.c), hems bridge sunspec (bridge_sunspec.c); `hems bridge`
 * dispatches from bridge_modbus.c. */
int cli_bridge_mqtt(int argc, char **argv);
int cli_bridge_sunspec(int argc, char **argv);

#endif
