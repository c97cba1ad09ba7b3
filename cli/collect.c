/*
 * collect.c — `hems collect`: the fleet head-end (collect.h; docs/fleet.md "The collector").
 *
 *   hems collect --db URL --register ID --pubkey FILE [--fingerprint FP]
 *   hems collect --broker URL --db URL [--group NAME] [--client-id ID] [--witness-key FILE]
 *                [--recipient-key FILE] [--decode-windows] …
 *
 * One thread: libmosquitto (MQTT 5, a persistent session) subscribed to
 * $share/GROUP/hems/+/records and $share/GROUP/hems/+/checkpoint, so the collectors of one group
 * split the devices' messages; each message is handled to the end (one PostgreSQL transaction
 * under the device's advisory lock, collect_batch.c) inside the message callback. A batch that
 * starts after the device's stored head (another collector still holds the batch before it, or
 * it was lost) is held, on its envelope's map alone, and tried again for HOLD_MS (at most
 * HELD_PER_DEV of one device); then a backfill of the gap is asked for on hems/ID/backfill —
 * whole only when the batch's last seal verifies with the device's key, else at most
 * BACKFILL_UNPROVEN records — and the batch dropped (the backfill brings it again). A batch the
 * database failed on is held and tried again the same way. Cosignatures go out retained on
 * hems/ID/cosigned after their transaction committed.
 */
#include <getopt.h>
#include <sodium.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include "cli.h"
#include "bridge.h"
#include "bridge_cmd.h"
#include "collect.h"
#include "collect_envelope.h"

#define HOLD_MS 3000        /* a batch ahead of the head waits this long for the one before it */
#define HELD_MAX 256        /* batches held at most (the oldest goes first) */
#define HELD_PER_DEV 16     /* of them one device's at most (its own oldest goes first) */
#define HELD_BYTES_MAX (64u << 20) /* and their bytes at most */
#define BACKFILL_EVERY_MS 5000 /* at most one backfill request per device in this time */
#define BACKFILL_MAX 100000 /* records a request may ask for (docs/fleet.md "Backfill") */
#define BACKFILL_UNPROVEN 2000 /* … on the word of a batch whose last seal does not verify */
#define SESSION_EXPIRY_S 3600

struct held {
  char dev[33];
  bool checkpoint;
  uint8_t *p;
  size_t n;
  int64_t since;
};

struct asked { char dev[33]; int64_t at; };

struct collector {
  PGconn *db;
  struct collect_witness w;
  struct bridge_broker k;
  struct bridge_auth auth;
  bool tls, up;
  const char *group;
  struct held held[HELD_MAX];
  unsigned n_held;
  size_t held_bytes;
  uint64_t dropped_held;
  struct asked asked[64];
  uint64_t batches, records, dups, quarantined;
  int64_t t0;
};

static volatile sig_atomic_t collect_stop;
static void on_signal(int sig) { collect_stop = sig; }

/* "hems/<32 hex>/records" → dev, kind: 0 records, 1 checkpoint, -1 neither. */
static int topic_parse(const char *t, char dev[33])
{
  if (strncmp(t, "hems/", 5)) return -1;
  t += 5;
  size_t n = strcspn(t, "/");
  if (n != 32) return -1;
  for (size_t i = 0; i < 32; i++)
    if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f'))) return -1;
  memcpy(dev, t, 32);
  dev[32] = 0;
  if (!strcmp(t + 32, "/records")) return 0;
  if (!strcmp(t + 32, "/checkpoint")) return 1;
  return -1;
}

static void held_drop(struct collector *c, unsigned i)
{
  c->held_bytes -= c->held[i].n;
  free(c->held[i].p);
  memmove(c->held + i, c->held + i + 1, (c->n_held - i - 1) * sizeof c->held[0]);
  c->n_held--;
}

static bool handle(struct collector *c, const char *dev, bool checkpoint, const uint8_t *p, size_t n, int64_t since);

/* Put aside. Bounded in count and bytes, and no one device can stall another: a device at
 * HELD_PER_DEV replaces its own oldest message, and the new one keeps the older time (its gap is
 * as old as that); when the queue is full, the device holding the most gives up its oldest,
 * which is handled at once as if its time were up (an ahead batch: its backfill asked for now,
 * not lost). */
static void hold(struct collector *c, const char *dev, bool checkpoint, const uint8_t *p, size_t n, int64_t since)
{
  for (;;) {
    unsigned mine = 0, oldest_mine = 0, most = 0, oldest_most = 0;
    for (unsigned i = 0; i < c->n_held; i++)
      if (!strcmp(c->held[i].dev, dev) && mine++ == 0) oldest_mine = i;
    bool full = c->n_held == HELD_MAX || c->held_bytes + n > HELD_BYTES_MAX;
    if (mine < HELD_PER_DEV && !full) break;
    for (unsigned i = 0; full && i < c->n_held; i++) { /* the device holding the most, at its oldest */
      unsigned k = 0, first = i;
      for (unsigned j = 0; j < c->n_held; j++)
        if (!strcmp(c->held[j].dev, c->held[i].dev) && k++ == 0) first = j;
      if (first == i && k > most) { most = k; oldest_most = i; }
    }
    unsigned v = mine >= HELD_PER_DEV || (full && mine == most) ? oldest_mine : oldest_most;
    if (c->dropped_held++ % 100 == 0)
      cli_err("collect: device %s: %u messages held, %zu bytes in all: its oldest put out (%" PRIu64 " so far)", c->held[v].dev,
              v == oldest_mine ? mine : most, c->held_bytes, c->dropped_held);
    struct held h = c->held[v];
    c->held[v].p = NULL; /* h owns it now */
    held_drop(c, v);
    if (!strcmp(h.dev, dev)) {
      if (h.since < since) since = h.since;
    } else {
      handle(c, h.dev, h.checkpoint, h.p, h.n, bridge_now_ms() - 10 * HOLD_MS - 1); /* due now */
    }
    free(h.p);
  }
  struct held *h = &c->held[c->n_held];
  if (!(h->p = malloc(n ? n : 1))) return;
  memcpy(h->p, p, n);
  h->n = n;
  h->checkpoint = checkpoint;
  h->since = since;
  snprintf(h->dev, sizeof h->dev, "%s", dev);
  c->n_held++;
  c->held_bytes += n;
}

static void ask_backfill(struct collector *c, const char *dev, uint64_t from, uint64_t to)
{
  int64_t now = bridge_now_ms();
  unsigned slot = 0;
  for (unsigned i = 0; i < 64; i++) {
    if (!strcmp(c->asked[i].dev, dev)) { slot = i; break; }
    if (c->asked[i].at < c->asked[slot].at) slot = i;
  }
  if (!strcmp(c->asked[slot].dev, dev) && now - c->asked[slot].at < BACKFILL_EVERY_MS) return;
  snprintf(c->asked[slot].dev, sizeof c->asked[slot].dev, "%s", dev);
  c->asked[slot].at = now;
  if (to - from + 1 > BACKFILL_MAX) to = from + BACKFILL_MAX - 1;
  char topic[64], req[96];
  snprintf(topic, sizeof topic, "hems/%s/backfill", dev);
  int n = snprintf(req, sizeof req, "{\"from\":%" PRIu64 ",\"to\":%" PRIu64 "}", from, to);
  if (c->up) mosquitto_publish(c->k.m, NULL, topic, n, req, 1, false);
  cli_err("collect: device %s: records %" PRIu64 "..%" PRIu64 " missing: backfill asked for", dev, from, to);
}


/* One message: true when it is done with (taken, dropped or quarantined), false to hold it. */
static bool handle(struct collector *c, const char *dev, bool checkpoint, const uint8_t *p, size_t n, int64_t since)
{
  if (checkpoint) {
    enum collect_outcome o = collect_checkpoint(c->db, dev, p, n);
    if (o == COLLECT_QUARANTINED) c->quarantined++;
    return o != COLLECT_DB_ERROR;
  }
  struct collect_result r;
  enum collect_outcome o = collect_batch(c->db, &c->w, dev, p, n, &r);
  if (o == COLLECT_STORED) {
    c->batches++;
    c->records += r.inserted;
    if (!r.inserted) c->dups++;
    if (r.cosigned && c->up) {
      char topic[64];
      snprintf(topic, sizeof topic, "hems/%s/cosigned", dev);
      mosquitto_publish(c->k.m, NULL, topic, (int)strlen(r.cosigned), r.cosigned, 1, true);
    }
    free(r.cosigned);
    if (c->batches % 1000 == 0) {
      double s = (double)(bridge_now_ms() - c->t0) / 1000.0;
      cli_err("collect: %" PRIu64 " batches, %" PRIu64 " records stored (%.0f records/s), %" PRIu64 " redelivered",
              c->batches, c->records, s > 0 ? (double)c->records / s : 0, c->dups);
    }
    return true;
  }
  if (o == COLLECT_QUARANTINED) c->quarantined++;
  if (o == COLLECT_AHEAD && bridge_now_ms() - since >= HOLD_MS) {
    /* the gap asked for is the batch's claim: taken whole only when its last seal is signed */
    uint64_t first = 0, last = 0;
    int proven = collect_batch_proves_ahead(&c->w, dev, r.key, p, n, &first, &last);
    if (proven < 0) return true; /* it does not decode: the message is dropped (said when it was due) */
    if (!proven && last > r.head + BACKFILL_UNPROVEN) {
      cli_err("collect: device %s: batch %" PRIu64 "..%" PRIu64 " ahead of head %" PRIu64 " does not end at a seal its key "
              "signs: a backfill of at most %d records", dev, first, last, r.head, BACKFILL_UNPROVEN);
      last = r.head + BACKFILL_UNPROVEN;
    }
    ask_backfill(c, dev, r.head + 1, last);
    return true;
  }
  if (o == COLLECT_DB_ERROR && bridge_now_ms() - since >= 10 * HOLD_MS) {
    cli_err("collect: device %s: a batch dropped after database errors (a backfill brings it again)", dev);
    return true;
  }
  return o != COLLECT_AHEAD && o != COLLECT_DB_ERROR;
}

static void retry_held(struct collector *c)
{
  unsigned keep = 0;
  unsigned n = c->n_held;
  for (unsigned i = 0; i < n; i++) {
    struct held h = c->held[i];
    if (handle(c, h.dev, h.checkpoint, h.p, h.n, h.since)) { free(h.p); c->held_bytes -= h.n; }
    else c->held[keep++] = h;
  }
  c->n_held = keep;
}

static void on_message(struct mosquitto *m, void *ctx, const struct mosquitto_message *msg, const mosquitto_property *props)
{
  (void)m;
  (void)props;
  struct collector *c = ctx;
  char dev[33];
  int kind = topic_parse(msg->topic, dev);
  if (kind < 0) return;
  int64_t now = bridge_now_ms();
  if (!handle(c, dev, kind == 1, msg->payload, (size_t)msg->payloadlen, now))
    hold(c, dev, kind == 1, msg->payload, (size_t)msg->payloadlen, now);
}

static void on_connect(struct mosquitto *m, void *ctx, int rc, int flags, const mosquitto_property *props)
{
  (void)flags;
  (void)props;
  struct collector *c = ctx;
  if (!bridge_broker_connected(&c->k, rc)) return;
  c->up = true;
  char t[300];
  snprintf(t, sizeof t, "$share/%s/hems/+/records", c->group);
  mosquitto_subscribe_v5(m, NULL, t, 1, 0, NULL);
  snprintf(t, sizeof t, "$share/%s/hems/+/checkpoint", c->group);
  mosquitto_subscribe_v5(m, NULL, t, 1, 0, NULL);
  cli_err("collect: subscribed to $share/%s/hems/+/records and …/checkpoint", c->group);
}

static void on_disconnect(struct mosquitto *m, void *ctx, int rc, const mosquitto_property *props)
{
  (void)m;
  (void)props;
  struct collector *c = ctx;
  if (c->up) cli_err("collect: broker %s:%d lost (%s)", c->k.host, c->k.port, mosquitto_reason_string(rc));
  c->up = false;
}

static void connect_v5(struct collector *c)
{
  mosquitto_property *p = NULL;
  mosquitto_property_add_int32(&p, MQTT_PROP_SESSION_EXPIRY_INTERVAL, SESSION_EXPIRY_S);
  /* the broker sends nothing larger than an envelope may be (and the topic, properties) */
  mosquitto_property_add_int32(&p, MQTT_PROP_MAXIMUM_PACKET_SIZE, COLLECT_ENVELOPE_MAX + 4096);
  int rc = mosquitto_connect_bind_v5(c->k.m, c->k.host, c->k.port, c->k.keepalive_s, NULL, p);
  mosquitto_property_free_all(&p);
  if (rc == MOSQ_ERR_SUCCESS) { c->k.connack_due_ms = bridge_now_ms() + BRIDGE_CONNACK_MS; return; }
  cli_err("collect: broker %s:%d: %s; retry in %lld s", c->k.host, c->k.port, mosquitto_strerror(rc),
          (long long)c->k.backoff_ms / 1000);
  bridge_backoff(&c->k.retry_ms, &c->k.backoff_ms);
}

static int run(struct collector *c, const char *client_id)
{
  mosquitto_lib_init();
  c->k.m = mosquitto_new(client_id, false, c);
  if (!c->k.m) { cli_err("collect: libmosquitto: out of memory"); return CLI_ENV; }
  mosquitto_int_option(c->k.m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
  int rc = bridge_broker_auth(c->k.m, "collect", &c->auth, c->tls);
  if (rc) { mosquitto_destroy(c->k.m); return rc; }
  mosquitto_connect_v5_callback_set(c->k.m, on_connect);
  mosquitto_disconnect_v5_callback_set(c->k.m, on_disconnect);
  mosquitto_message_v5_callback_set(c->k.m, on_message);
  c->t0 = bridge_now_ms();
  cli_err("collect: group %s, client id %s, broker %s:%d%s%s", c->group, client_id, c->k.host, c->k.port,
          c->tls ? " (TLS)" : "", c->w.on ? ", cosigning" : "");
  int64_t last_retry = 0;
  while (!collect_stop) {
    int64_t now = bridge_now_ms();
    if (!c->up && mosquitto_socket(c->k.m) < 0 && now >= c->k.retry_ms) connect_v5(c);
    else bridge_broker_turn(&c->k, c->up, now);
    rc = mosquitto_loop(c->k.m, 200, 1);
    if (rc != MOSQ_ERR_SUCCESS && c->up) {
      c->up = false;
      cli_err("collect: broker %s:%d lost (%s)", c->k.host, c->k.port, mosquitto_strerror(rc));
    }
    if (rc != MOSQ_ERR_SUCCESS && mosquitto_socket(c->k.m) >= 0) mosquitto_disconnect(c->k.m);
    if (mosquitto_socket(c->k.m) < 0) usleep(100000); /* no socket: mosquitto_loop returns at once */
    if (now - last_retry >= 500 && c->n_held) { retry_held(c); last_retry = now; }
    if (PQstatus(c->db) != CONNECTION_OK) {
      cli_err("collect: database connection lost; reconnecting");
      PQreset(c->db);
      if (PQstatus(c->db) != CONNECTION_OK) sleep(1);
    }
  }
  if (c->up) mosquitto_disconnect(c->k.m);
  mosquitto_destroy(c->k.m);
  mosquitto_lib_cleanup();
  cli_err("collect: stopped: %" PRIu64 " batches, %" PRIu64 " records stored, %" PRIu64 " redelivered, %" PRIu64
          " quarantines", c->batches, c->records, c->dups, c->quarantined);
  return CLI_OK;
}

enum { O_BROKER = 1000, O_DB, O_GROUP, O_CLIENT, O_WKEY, O_REGISTER, O_PUBKEY, O_FP, O_CAFILE, O_CERT, O_KEY, O_USER, O_PWFILE, O_RCPT,
       O_DECODE_WINDOWS };

int cli_cmd_collect(int argc, char **argv)
{
  static const struct option lo[] = {
    { "broker", required_argument, NULL, O_BROKER }, { "db", required_argument, NULL, O_DB },
    { "group", required_argument, NULL, O_GROUP }, { "client-id", required_argument, NULL, O_CLIENT },
    { "witness-key", required_argument, NULL, O_WKEY }, { "register", required_argument, NULL, O_REGISTER },
    { "pubkey", required_argument, NULL, O_PUBKEY }, { "fingerprint", required_argument, NULL, O_FP },
    { "cafile", required_argument, NULL, O_CAFILE }, { "cert", required_argument, NULL, O_CERT },
    { "key", required_argument, NULL, O_KEY }, { "username", required_argument, NULL, O_USER },
    { "password-file", required_argument, NULL, O_PWFILE }, { "recipient-key", required_argument, NULL, O_RCPT },
    { "decode-windows", no_argument, NULL, O_DECODE_WINDOWS }, { 0 }
  };
  static struct collector c;
  memset(&c, 0, sizeof c);
  const char *broker = NULL, *db = NULL, *client = NULL, *wkey = NULL, *reg = NULL, *pub = NULL, *fp = NULL, *rcpt = NULL;
  c.group = "hems";
  bool decode_windows = false;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (opt) {
    case O_BROKER: broker = optarg; break;
    case O_DB: db = optarg; break;
    case O_GROUP: c.group = optarg; break;
    case O_CLIENT: client = optarg; break;
    case O_WKEY: wkey = optarg; break;
    case O_REGISTER: reg = optarg; break;
    case O_PUBKEY: pub = optarg; break;
    case O_FP: fp = optarg; break;
    case O_CAFILE: c.auth.cafile = optarg; break;
    case O_CERT: c.auth.cert = optarg; break;
    case O_KEY: c.auth.key = optarg; break;
    case O_USER: c.auth.user = optarg; break;
    case O_PWFILE: c.auth.pwfile = optarg; break;
    case O_RCPT: rcpt = optarg; break;
    case O_DECODE_WINDOWS: decode_windows = true; break;
    default: return cli_usage(cli_find("collect"), false);
    }
  }
  if (optind != argc || !db) return cli_usage(cli_find("collect"), false);
  if (reg) {
    if (broker || rcpt || decode_windows || (!pub && !fp)) return cli_usage(cli_find("collect"), false);
    return collect_register(db, reg, pub, fp);
  }
  if (!broker || pub || fp) return cli_usage(cli_find("collect"), false);
  c.w.decode_windows = decode_windows;
  if (!bridge_node_id_ok(c.group)) { cli_err("collect: --group %s: 1..64 of A-Z a-z 0-9 _ -", c.group); return CLI_USAGE; }
  char hostbuf[256], idbuf[128], host[64] = "host";
  if (bridge_broker_url(broker, hostbuf, sizeof hostbuf, &c.k.host, &c.k.port, &c.tls)) {
    cli_err("collect: --broker %s: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]", broker);
    return CLI_USAGE;
  }
  if (!c.auth.cert != !c.auth.key) { cli_err("collect: --cert and --key go together"); return CLI_USAGE; }
  if (c.auth.pwfile && !c.auth.user) { cli_err("collect: --password-file needs --username"); return CLI_USAGE; }
  if (!client) {
    gethostname(host, sizeof host - 1);
    snprintf(idbuf, sizeof idbuf, "hems-collect-%s-%s", c.group, host);
    client = idbuf;
  }
  int rc;
  if (wkey) {
    if ((rc = cli_witness_key_load(wkey, &c.w.fs, &c.w.v))) return rc;
    c.w.on = true;
  }
  if (rcpt) {
    if ((rc = cli_seal_secret("collect: --recipient-key", rcpt, c.w.rcpt_sk))) goto out;
    crypto_scalarmult_base(c.w.rcpt_pk, c.w.rcpt_sk);
    c.w.recipient = true;
  }
  if ((rc = collect_db_connect("collect", db, &c.db)) || (rc = collect_db_migrate(c.db))) goto out;
  c.k.who = "collect";
  c.k.keepalive_s = 30;
  c.k.backoff_ms = BRIDGE_BACKOFF_MIN_MS;
  struct sigaction sa = { .sa_handler = on_signal };
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  rc = run(&c, client);
out:
  for (unsigned i = 0; i < c.n_held; i++) free(c.held[i].p);
  if (c.db) PQfinish(c.db);
  if (c.w.on) journal_file_signer_wipe(&c.w.fs);
  sodium_memzero(c.w.rcpt_sk, sizeof c.w.rcpt_sk);
  return rc;
}
