/*
 * ship.c — `hems ship`: the journal's records to a fleet head-end over MQTT (ship.h, the wire
 * format; docs/fleet.md). One thread, one poll loop over the broker's socket and two follow
 * connections to the daemon (bridge_link.c): the live one from the cursor on, and one for a
 * backfill request at a time.
 *
 * Cursor: the last seq of the newest live batch the broker acknowledged (PUBACK, in publish
 * order), kept in the state file (tmp, fsync, rename, fsync of the directory). Live reading
 * starts after it on every (re)start and after every broker reconnect — the client is made anew
 * then, so nothing libmosquitto still held is resent behind our back — so no record is skipped
 * and only batches not yet acknowledged go out twice (at-least-once; the head-end dedupes by
 * (device, seq)). At most SHIP_INFLIGHT batches are unacknowledged: past that, and while the
 * broker is away, the live stream is not read and the daemon keeps serving it from the journal
 * (its follow cursor is a seq), so the journal is the only buffer. A lost daemon connection
 * resumes after the last batch handed to the broker.
 *
 * Batches close at a seal (never inside a seal group) once SHIP_BATCH_RECORDS or
 * SHIP_BATCH_BYTES are reached or the stream has nothing more to read; each live batch is
 * followed by its newest seal's checkpoint, retained. Backfill batches close at seals too, and at
 * the request's last seq.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <sodium.h>
#include <mosquitto.h>
#include <sodium.h>
#include "cli.h"
#include "bridge.h"
#include "ship.h"

#define STATS_EVERY 100 /* a stats line every this many live batches */

volatile sig_atomic_t ship_stop;
static void on_signal(int sig) { ship_stop = sig; }

/* ---- the cursor file */

static int state_save(struct ship *s)
{
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", s->state_path);
  FILE *f = fopen(tmp, "we");
  if (!f) return -errno;
  fprintf(f, "{\"device\":\"%s\",\"cursor\":%llu,\"records\":%llu,\"batches\":%llu,\"wire_bytes\":%llu,\"raw_bytes\":%llu}\n",
          s->dev_hex, (unsigned long long)s->cursor, (unsigned long long)s->st_records, (unsigned long long)s->st_batches,
          (unsigned long long)s->st_wire, (unsigned long long)s->st_raw);
  if (fclose(f) != 0) { unlink(tmp); return -EIO; }
  return cli_replace_durably(tmp, s->state_path, s->state_dir);
}

/* Reads the state file if there is one: 0, or the exit code after one line. */
static int state_load(struct ship *s)
{
  json_error_t e;
  json_t *o = json_load_file(s->state_path, JSON_REJECT_DUPLICATES, &e);
  if (!o) {
    FILE *f = fopen(s->state_path, "re");
    if (!f && errno == ENOENT) return 0; /* a first start: from seq 1 */
    if (f) fclose(f);
    cli_err("ship: --state %s: %s", s->state_path, f ? e.text : strerror(errno));
    return CLI_ENV;
  }
  const char *dev = json_string_value(json_object_get(o, "device"));
  json_t *c = json_object_get(o, "cursor");
  int rc = 0;
  if (!dev || !json_is_integer(c) || json_integer_value(c) < 0) {
    cli_err("ship: --state %s: not a ship state file (device, cursor)", s->state_path);
    rc = CLI_ENV;
  } else if (strcmp(dev, s->dev_hex)) {
    cli_err("ship: --state %s: the cursor of device %.32s, not of this journal's %s", s->state_path, dev, s->dev_hex);
    rc = CLI_ENV;
  } else {
    s->cursor = s->handed = (uint64_t)json_integer_value(c);
    s->st_records = (uint64_t)json_integer_value(json_object_get(o, "records"));
    s->st_batches = (uint64_t)json_integer_value(json_object_get(o, "batches"));
    s->st_wire = (uint64_t)json_integer_value(json_object_get(o, "wire_bytes"));
    s->st_raw = (uint64_t)json_integer_value(json_object_get(o, "raw_bytes"));
  }
  json_decref(o);
  return rc;
}

static void stats_line(const struct ship *s, const char *when)
{
  double n = s->st_records ? (double)s->st_records : 1;
  cli_err("ship: %s%llu records in %llu batches acknowledged, cursor %llu: %.1f bytes per record on the wire "
          "(%.1f raw)", when, (unsigned long long)s->st_records, (unsigned long long)s->st_batches,
          (unsigned long long)s->cursor, (double)s->st_wire / n, (double)s->st_raw / n);
}

/* ---- publishing */

void ship_reply(struct ship *s, json_t *o)
{
  char *t = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (t && s->up) mosquitto_publish(s->k.m, NULL, s->t_reply, (int)strlen(t), t, 1, false);
  free(t);
}

/* The signed note of the seal ending a live batch, retained on the checkpoint topic (verified
 * with the journal's public key first: a note that does not verify is not published). */
static void checkpoint(struct ship *s, const struct ship_batch *b)
{
  struct journal_record r;
  if (!b->ends_at_seal || journal_record_decode(b->raw + b->last_off, b->last_len, &r) || r.type != JOURNAL_T_SEAL)
    return;
  if (journal_seal_verify(&r, s->dev_hex, s->pk) != 0) { /* a key rotated since: its new public key */
    if (journal_pubkey_load(s->pk_path, s->pk) != 0 || journal_seal_verify(&r, s->dev_hex, s->pk) != 0) {
      cli_err("ship: seal %llu does not verify with %s: its checkpoint is not published", (unsigned long long)r.seq, s->pk_path);
      return;
    }
  }
  char note[JOURNAL_TLOG_NOTE_MAX];
  int n = journal_seal_note(&r, s->dev_hex, s->pk, note, sizeof note);
  if (n > 0) mosquitto_publish(s->k.m, NULL, s->t_ckpt, n, note, 1, true);
}

int ship_publish(struct ship *s, struct ship_batch *b, enum ship_kind kind)
{
  if (!b->count) return 0;
  if (kind == SHIP_LIVE ? s->n_infl >= SHIP_INFLIGHT : s->n_bf >= SHIP_INFLIGHT) return -EAGAIN; /* it waits for room */
  uint8_t *env;
  size_t n;
  int mid = 0, rc = ship_batch_envelope(b, s->dev, kind, &env, &n);
  if (rc) { cli_err("ship: batch from seq %llu: %s", (unsigned long long)b->first_seq, strerror(-rc)); return rc; }
  rc = mosquitto_publish(s->k.m, &mid, s->t_records, (int)n, env, 1, false);
  free(env);
  if (rc != MOSQ_ERR_SUCCESS) {
    cli_err("ship: publish: %s", mosquitto_strerror(rc));
    return -EIO;
  }
  if (kind == SHIP_LIVE) {
    s->infl[s->n_infl++] = (struct inflight){ mid, b->first_seq + b->count - 1, b->count, false };
    s->handed = b->first_seq + b->count - 1;
    s->st_wire += n;
    s->st_raw += b->rec_bytes;
    checkpoint(s, b);
  } else {
    s->bf_mid[s->n_bf++] = mid;
    s->bf_batches++;
  }
  ship_batch_reset(b);
  return 0;
}

static void on_publish(struct mosquitto *m, void *ctx, int mid)
{
  (void)m;
  struct ship *s = ctx;
  for (unsigned i = 0; i < s->n_bf; i++)
    if (s->bf_mid[i] == mid) s->bf_mid[i--] = s->bf_mid[--s->n_bf];
  for (unsigned i = 0; i < s->n_infl; i++)
    if (s->infl[i].mid == mid) s->infl[i].acked = true;
  unsigned k = 0;
  while (k < s->n_infl && s->infl[k].acked) {
    s->cursor = s->infl[k].last_seq;
    s->st_records += s->infl[k].records;
    if (++s->st_batches % STATS_EVERY == 0) stats_line(s, "");
    k++;
  }
  if (!k) return;
  memmove(s->infl, s->infl + k, (s->n_infl - k) * sizeof s->infl[0]);
  s->n_infl -= k;
  int rc = state_save(s);
  if (rc) cli_err("ship: --state %s: %s (the cursor stays where it was on disk)", s->state_path, strerror(-rc));
}

/* ---- the live stream */

static void on_live(void *ctx, const uint8_t *rec, size_t len, uint64_t seq)
{
  struct ship *s = ctx;
  bool seal = ship_is_seal(rec, len);
  if (seq > s->head) s->head = seq;
  if (s->refollow) return;
  if (s->cur.count && seq != s->cur.first_seq + s->cur.count && ship_publish(s, &s->cur, SHIP_LIVE)) {
    s->refollow = true; /* a cut, and no room to send what came before it: read it all again later */
    return;
  }
  if (ship_batch_add(&s->cur, rec, len, seq, seal)) { cli_err("ship: out of memory"); ship_stop = SIGTERM; return; }
  if (seal && ship_batch_full(&s->cur)) ship_publish(s, &s->cur, SHIP_LIVE); /* or it grows till there is room */
}

static void daemon_lost(struct ship *s, int rc)
{
  if (s->daemon_up) cli_err("ship: lost the daemon of %s (%s); reconnecting", s->dir, strerror(rc < 0 ? -rc : rc));
  s->daemon_up = false;
  bridge_link_close(&s->live);
  ship_batch_reset(&s->cur); /* read again after what was handed over */
  bridge_backoff(&s->daemon_retry_ms, &s->daemon_backoff_ms);
}

/* Status (the device id and the durable head), then, with the broker up, the follow stream
 * after what was handed to the broker. */
static void daemon_connect(struct ship *s)
{
  json_t *st;
  int rc = bridge_link_status(&s->live, 5000, &st);
  if (rc) {
    if (s->daemon_backoff_ms == BRIDGE_BACKOFF_MIN_MS)
      cli_err("ship: no daemon answers for %s (%s); retrying", s->dir, strerror(rc < 0 ? -rc : rc));
    bridge_backoff(&s->daemon_retry_ms, &s->daemon_backoff_ms);
    return;
  }
  const char *id = json_string_value(json_object_get(st, "device_id"));
  uint64_t durable = (uint64_t)json_integer_value(json_object_get(st, "durable_seq"));
  if (durable > s->head) s->head = durable;
  if (!s->dev_hex[0] && id && strlen(id) == 32 &&
      !sodium_hex2bin(s->dev, sizeof s->dev, id, 32, NULL, NULL, NULL))
    snprintf(s->dev_hex, sizeof s->dev_hex, "%s", id);
  else if (s->dev_hex[0] && (!id || strcmp(id, s->dev_hex))) {
    cli_err("ship: the daemon of %s now serves device %s, not %s: stopping", s->dir, id ? id : "(none)", s->dev_hex);
    ship_stop = SIGTERM;
  }
  json_decref(st);
  if (!s->dev_hex[0]) {
    cli_err("ship: the daemon's status carries no device id (32 hex)");
    bridge_backoff(&s->daemon_retry_ms, &s->daemon_backoff_ms);
    return;
  }
  s->daemon_up = true;
  s->daemon_backoff_ms = BRIDGE_BACKOFF_MIN_MS;
  if (!s->up) return;
  s->lp->last_seq = s->handed;
  if ((rc = bridge_link_follow(&s->live, s->handed + 1, 0))) { daemon_lost(s, rc); return; }
  cli_err("ship: shipping the journal of %s from seq %llu (durable head %llu)", s->dir, (unsigned long long)s->handed + 1,
          (unsigned long long)durable);
}

static void on_message(struct mosquitto *m, void *ctx, const struct mosquitto_message *msg)
{
  (void)m;
  struct ship *s = ctx;
  if (ship_cosigned_message(s, msg)) return;
  if (ship_commands_message(s, msg)) return;
  if (!strcmp(msg->topic, s->t_bf)) ship_backfill_request(s, msg->payload, msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0);
}

/* ---- the broker */

static void on_connect(struct mosquitto *m, void *ctx, int rc)
{
  struct ship *s = ctx;
  if (!bridge_broker_connected(&s->k, rc)) return;
  mosquitto_subscribe(m, NULL, s->t_bf, 1);
  ship_cosigned_subscribe(s);
  ship_commands_subscribe(s, m);
  s->up = true;
  s->handed = s->cursor;
  if (s->daemon_up) daemon_connect(s); /* follow again after the cursor */
}

static void on_subscribe(struct mosquitto *m, void *ctx, int mid, int n, const int *granted)
{
  (void)m;
  struct ship *s = ctx;
  if (ship_cosigned_suback(mid)) return;
  if (ship_commands_subscribed(s, mid, n, granted)) return;
  if (n == 1 && granted[0] <= 2) cli_err("ship: taking backfill requests on %s", s->t_bf);
  else cli_err("ship: the broker refused the subscription to %s: no backfill requests", s->t_bf);
}

static int client_new(struct ship *s);

/* A lost broker: whatever was not acknowledged goes again after the reconnect, from the cursor,
 * on a new client (the old one's queue is dropped with it). */
static void broker_lost(struct ship *s, int rc)
{
  if (s->up) cli_err("ship: lost broker %s:%d (%s); reconnecting", s->k.host, s->k.port, rc ? mosquitto_strerror(rc) : "closed");
  else cli_err("ship: broker %s:%d: the connection failed (%s); retry in %lld s", s->k.host, s->k.port,
               rc ? mosquitto_strerror(rc) : "closed", (long long)s->k.backoff_ms / 1000);
  s->up = false;
  s->n_infl = s->n_bf = 0;
  s->handed = s->cursor;
  ship_batch_reset(&s->cur);
  bridge_link_close(&s->live);
  if (s->bf_on) { bridge_link_close(&s->bf); s->bf_on = false; }
  mosquitto_destroy(s->k.m);
  s->k.m = NULL;
  if (client_new(s)) ship_stop = SIGTERM;
  bridge_backoff(&s->k.retry_ms, &s->k.backoff_ms);
}

static int client_new(struct ship *s)
{
  s->k.m = mosquitto_new(s->client_id, true, s);
  if (!s->k.m) { cli_err("ship: mosquitto_new: %s", strerror(errno)); return CLI_ENV; }
  mosquitto_int_option(s->k.m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_max_inflight_messages_set(s->k.m, SHIP_INFLIGHT + 4); /* batches, checkpoints, replies */
  mosquitto_connect_callback_set(s->k.m, on_connect);
  mosquitto_message_callback_set(s->k.m, on_message);
  mosquitto_publish_callback_set(s->k.m, on_publish);
  mosquitto_subscribe_callback_set(s->k.m, on_subscribe);
  return bridge_broker_auth(s->k.m, "ship", &s->auth, s->tls);
}

/* ---- the loop */

static void loop_turn(struct ship *s)
{
  int64_t now = bridge_now_ms();
  if (!s->daemon_up && now >= s->daemon_retry_ms) daemon_connect(s);
  bridge_broker_turn(&s->k, s->up, now);
  struct pollfd fds[3];
  int n = 0, msock = mosquitto_socket(s->k.m);
  if (msock >= 0) fds[n++] = (struct pollfd){ msock, (short)(POLLIN | (mosquitto_want_write(s->k.m) ? POLLOUT : 0)), 0 };
  bool room = s->up && s->n_infl < SHIP_INFLIGHT;
  int li = room && s->live.follow_fd >= 0 ? n : -1;
  if (li >= 0) fds[n++] = (struct pollfd){ s->live.follow_fd, POLLIN, 0 };
  int bi = s->up && s->n_bf < SHIP_INFLIGHT && s->bf.follow_fd >= 0 ? n : -1;
  if (bi >= 0) fds[n++] = (struct pollfd){ s->bf.follow_fd, POLLIN, 0 };
  if (poll(fds, (nfds_t)n, 1000) < 0 && errno != EINTR) return;
  if (msock >= 0 || s->up) {
    int rc = mosquitto_loop(s->k.m, 0, 1);
    if (rc != MOSQ_ERR_SUCCESS && (s->up || msock >= 0)) broker_lost(s, rc);
  }
  if (li >= 0 && fds[li].revents && s->live.follow_fd >= 0) {
    int rc = bridge_link_read(&s->live, s->lp, on_live, s);
    if (!rc && s->refollow) {
      ship_batch_reset(&s->cur);
      s->lp->last_seq = s->handed;
      rc = bridge_link_follow(&s->live, s->handed + 1, 0);
    }
    s->refollow = false;
    if (rc) daemon_lost(s, rc);
  }
  /* the stream had nothing more (or was not read, for want of room): what ends at a seal goes */
  if (s->up && s->cur.ends_at_seal) ship_publish(s, &s->cur, SHIP_LIVE);
  if (bi >= 0 && fds[bi].revents && s->bf.follow_fd >= 0) ship_backfill_read(s);
  if (s->up) ship_backfill_finish(s);
}

/* ---- options */

static const char *parent_dir(const char *path, char *out, size_t cap)
{
  snprintf(out, cap, "%s", path);
  char *sl = strrchr(out, '/');
  if (!sl) snprintf(out, cap, ".");
  else if (sl == out) out[1] = 0;
  else *sl = 0;
  return out;
}

enum { O_DIR = 1000, O_SOCKET, O_BROKER, O_DEVICE, O_CAFILE, O_CERT, O_KEY, O_USER, O_PWFILE, O_STATE, O_WITHHOLD, O_PUBKEY, O_ENCRYPT,
       O_WITNESS };

int cli_cmd_ship(int argc, char **argv)
{
  static const struct option lo[] = {
    { "dir", required_argument, NULL, O_DIR }, { "socket", required_argument, NULL, O_SOCKET },
    { "broker", required_argument, NULL, O_BROKER }, { "device-id", required_argument, NULL, O_DEVICE },
    { "cafile", required_argument, NULL, O_CAFILE }, { "cert", required_argument, NULL, O_CERT },
    { "key", required_argument, NULL, O_KEY }, { "username", required_argument, NULL, O_USER },
    { "password-file", required_argument, NULL, O_PWFILE }, { "state", required_argument, NULL, O_STATE },
    { "withhold", required_argument, NULL, O_WITHHOLD }, { "pubkey", required_argument, NULL, O_PUBKEY },
    { "encrypt-to", required_argument, NULL, O_ENCRYPT }, { "witness", required_argument, NULL, O_WITNESS }, { 0 }
  };
  static struct ship s; /* two follow links and two panels: not on the stack */
  static struct bridge_panel lp, bp;
  memset(&s, 0, sizeof s);
  const char *dir = cli_default_dir(), *sock = NULL, *broker = NULL, *device = NULL, *state = NULL, *withhold = NULL, *pubkey = NULL, *encrypt_to = NULL;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (opt) {
    case O_DIR: dir = optarg; break;
    case O_SOCKET: sock = optarg; break;
    case O_BROKER: broker = optarg; break;
    case O_DEVICE: device = optarg; break;
    case O_CAFILE: s.auth.cafile = optarg; break;
    case O_CERT: s.auth.cert = optarg; break;
    case O_KEY: s.auth.key = optarg; break;
    case O_USER: s.auth.user = optarg; break;
    case O_PWFILE: s.auth.pwfile = optarg; break;
    case O_STATE: state = optarg; break;
    case O_WITHHOLD: withhold = optarg; break;
    case O_PUBKEY: pubkey = optarg; break;
    case O_ENCRYPT: encrypt_to = optarg; break;
    case O_WITNESS: if (ship_cosigned_option(optarg)) return CLI_USAGE; break;
    default: return cli_usage(cli_find("ship"), false);
    }
  }
  if (optind != argc || !broker) return cli_usage(cli_find("ship"), false);
  char hostbuf[256], statebuf[4096];
  if (bridge_broker_url(broker, hostbuf, sizeof hostbuf, &s.k.host, &s.k.port, &s.tls)) {
    cli_err("ship: --broker %s: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]", broker);
    return CLI_USAGE;
  }
  if (device && !bridge_node_id_ok(device)) { cli_err("ship: --device-id %s: 1..64 of A-Z a-z 0-9 _ -", device); return CLI_USAGE; }
  if (!s.auth.cert != !s.auth.key) { cli_err("ship: --cert and --key go together"); return CLI_USAGE; }
  if (s.auth.pwfile && !s.auth.user) { cli_err("ship: --password-file needs --username"); return CLI_USAGE; }
  uint64_t wmask = 0;
  char why[160];
  if (withhold && ship_withhold_parse(withhold, &wmask, why, sizeof why)) { cli_err("ship: --withhold %s", why); return CLI_USAGE; }
  static uint8_t seal_pk[32];
  int krc;
  if (encrypt_to && (krc = cli_seal_pubkey("ship: --encrypt-to", encrypt_to, seal_pk))) return krc;
  if (encrypt_to && sodium_init() < 0) { cli_err("ship: libsodium did not initialise"); return CLI_ENV; }
  if (!state) snprintf(statebuf, sizeof statebuf, "%s/ship.state", dir), state = statebuf;
  s.state_path = state;
  parent_dir(state, s.state_dir, sizeof s.state_dir);
  s.dir = dir;
  if (pubkey) snprintf(s.pk_path, sizeof s.pk_path, "%s", pubkey);
  else snprintf(s.pk_path, sizeof s.pk_path, "%s/keys/signing.pub", dir);
  if (journal_pubkey_load(s.pk_path, s.pk) != 0) { cli_err("ship: %s: not a public key file", s.pk_path); return CLI_ENV; }
  s.k.who = "ship";
  s.k.keepalive_s = 30;
  s.k.backoff_ms = s.daemon_backoff_ms = BRIDGE_BACKOFF_MIN_MS;
  s.lp = &lp;
  s.bp = &bp;
  bridge_link_init(&s.live, dir, sock);
  bridge_link_init(&s.bf, dir, sock);
  s.live.who = s.bf.who = "ship";
  ship_batch_init(&s.cur);
  ship_batch_init(&s.bfb);
  s.cur.withhold = s.bfb.withhold = wmask; /* live and backfill alike */
  if (encrypt_to) s.cur.seal_to = s.bfb.seal_to = seal_pk;
  struct sigaction sa = { .sa_handler = on_signal };
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  /* the device id comes from the daemon: wait for it once */
  while (!s.daemon_up && !ship_stop) {
    daemon_connect(&s);
    if (!s.daemon_up) {
      struct timespec ts = { (time_t)(s.daemon_retry_ms - bridge_now_ms()) / 1000, 0 };
      nanosleep(&ts, NULL);
    }
  }
  int rc = CLI_OK;
  if (ship_stop || (rc = state_load(&s))) goto out_link;
  const char *topic_id = device ? device : s.dev_hex;
  snprintf(s.t_records, sizeof s.t_records, "hems/%s/records", topic_id);
  snprintf(s.t_ckpt, sizeof s.t_ckpt, "hems/%s/checkpoint", topic_id);
  snprintf(s.t_bf, sizeof s.t_bf, "hems/%s/backfill", topic_id);
  snprintf(s.t_reply, sizeof s.t_reply, "hems/%s/backfill/reply", topic_id);
  ship_commands_topic(&s, topic_id);
  snprintf(s.client_id, sizeof s.client_id, "hems-ship-%.32s", s.dev_hex);
  mosquitto_lib_init();
  if ((rc = client_new(&s))) goto out_mosq;
  cli_err("ship: device %s, topics hems/%s/…, broker %s:%d%s, cursor %llu (%s)", s.dev_hex, topic_id, s.k.host, s.k.port,
          s.tls ? " (TLS)" : "", (unsigned long long)s.cursor, s.state_path);
  while (!ship_stop) loop_turn(&s);
  if (s.up) {
    /* a stop: the acknowledgements on their way still move the cursor (a second at most) */
    for (int i = 0; i < 20 && s.n_infl; i++) mosquitto_loop(s.k.m, 50, 1);
    mosquitto_disconnect(s.k.m);
  }
  stats_line(&s, "stopped: ");
out_mosq:
  mosquitto_destroy(s.k.m);
  mosquitto_lib_cleanup();
out_link:
  bridge_link_close(&s.live);
  bridge_link_close(&s.bf);
  ship_batch_deinit(&s.cur);
  ship_batch_deinit(&s.bfb);
  return rc;
}
