/*
 * ship.h — private to cli/: `hems ship`, the panel side of fleet shipping (docs/fleet.md). A
 * bridge process (bridge.h) that reads the journal through the daemon's `follow` stream from its
 * durable cursor on and publishes the records' exact bytes to an MQTT broker in batches.
 *
 *   ship_batch.c  a batch of records and its envelope (deterministic CBOR around a zstd frame)
 *   ship.c        the command: options, the cursor file, libmosquitto, the loop
 *   ship_backfill.c  answering backfill requests
 *   ship_req.c    the backfill request it takes (ship_req.h; fuzzed)
 *
 * Envelope (docs/fleet.md "Batch envelope"), a CBOR map with unsigned keys in this order:
 *   0: 1 (the envelope version)       1: device id (bstr, 16 bytes)
 *   2: first seq                      3: count (records)
 *   4: 0 live, 1 backfill             5: zstd frame of the records: a CBOR sequence (RFC 8742)
 *                                        of `count` byte strings, each one record's exact bytes
 * With --withhold TYPES (the owner's privacy policy), a record of those types goes out as an
 * array [leaf hash] (bstr 32: its RFC 9162 leaf hash) in its place, and the envelope's version
 * is 2: the head-end still recomputes the tree and checks it against the signed checkpoints,
 * but learns of a withheld record only that it exists at that seq.
 * With --encrypt-to PUBKEY, key 5 holds a libsodium sealed box (X25519) of the zstd frame and key
 * 6 the recipient key id (8 bytes: SHA-256 of the key, as sealed bundles): the broker and anyone
 * on the way see the device, the seqs and the sizes, not the records.
 */
#ifndef HEMS_CLI_SHIP_H
#define HEMS_CLI_SHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "journal.h"

#define SHIP_ENVELOPE_VERSION 1
#define SHIP_ENVELOPE_WITHHELD 2 /* a batch with withheld records */
#define SHIP_DEVICE_BYTES 16
#define SHIP_BATCH_RECORDS 512        /* a batch closes at the first seal after this many records… */
#define SHIP_BATCH_BYTES (128u << 10) /* …or this many record bytes (or when the stream is idle) */
#define SHIP_ZSTD_LEVEL 6

enum ship_kind { SHIP_LIVE = 0, SHIP_BACKFILL = 1 };

struct ship_batch {
  uint8_t *raw;          /* the CBOR sequence of record byte strings */
  size_t len, cap;
  size_t rec_bytes;      /* the records' own bytes (without their bstr heads) */
  uint64_t first_seq, count;
  bool ends_at_seal;     /* the last record is a seal */
  size_t last_off, last_len; /* the last record's bytes within raw */
  uint64_t withhold;     /* record types (bit 1 << type) sent as their leaf hash only */
  uint64_t withheld;     /* how many of this batch's records were */
  struct journal_merkle_hasher *hasher; /* for the leaf hashes (made on first use) */
  const uint8_t *seal_to;  /* 32-byte X25519 public key: the frame is sealed to it (NULL: not) */
};

void ship_batch_init(struct ship_batch *b);
void ship_batch_deinit(struct ship_batch *b);
void ship_batch_reset(struct ship_batch *b);
/* TYPES, a comma-separated list of record type names, into a mask for ship_batch.withhold:
 * 0, or -EINVAL with why (an unknown name, or a type the head-end cannot verify without:
 * seal, key, boot, config, retention). */
int ship_withhold_parse(const char *types, uint64_t *mask, char *why, size_t why_cap);
/* Appends one record (seq must follow the last one, any seq for an empty batch), or its leaf
 * hash if its type is withheld: 0, -ENOMEM or -EIO (the hash failed). */
int ship_batch_add(struct ship_batch *b, const uint8_t *rec, size_t len, uint64_t seq, bool is_seal);
/* Whether rec (a record's bytes) is a seal, from its envelope alone (journal_record_peek). */
bool ship_is_seal(const uint8_t *rec, size_t len);
/* Whether the batch should close now it ends at a seal (SHIP_BATCH_RECORDS or SHIP_BATCH_BYTES). */
bool ship_batch_full(const struct ship_batch *b);
/* The envelope of b (malloc'd, *out_len bytes): 0, -ENOMEM, or -EIO (zstd failed). */
int ship_batch_envelope(const struct ship_batch *b, const uint8_t device[SHIP_DEVICE_BYTES], enum ship_kind kind,
                        uint8_t **out, size_t *out_len);

int cli_cmd_ship(int argc, char **argv);

/* ---- the command's state (ship.c, ship_backfill.c) */

#include <signal.h>
#include "bridge.h"
#include "ship_req.h"

#define SHIP_INFLIGHT 16      /* live batches published and not yet acknowledged, at most */
#define GAPS_MAX 16           /* retention gaps named in one backfill reply */

struct inflight { int mid; uint64_t last_seq, records; bool acked; };

struct ship {
  struct bridge_broker k;
  bool up, daemon_up;
  const char *state_path, *dir;
  char state_dir[4096];
  char dev_hex[33], t_records[BRIDGE_TOPIC_MAX], t_ckpt[BRIDGE_TOPIC_MAX], t_bf[BRIDGE_TOPIC_MAX],
      t_reply[BRIDGE_TOPIC_MAX];
  uint8_t dev[SHIP_DEVICE_BYTES], pk[32];
  char pk_path[4096];
  struct bridge_auth auth;
  bool tls;
  char client_id[64];
  int64_t daemon_retry_ms, daemon_backoff_ms;
  struct bridge_link live, bf;
  struct bridge_panel *lp, *bp; /* only their last_seq is used: the follow reader's gap cursor */
  uint64_t cursor;              /* acknowledged through */
  uint64_t handed;              /* handed to the broker through (>= cursor) */
  uint64_t head;                /* the newest durable seq known */
  bool refollow;                /* records were dropped unsent: follow again after `handed` */
  struct ship_batch cur;
  struct inflight infl[SHIP_INFLIGHT];
  unsigned n_infl;
  /* the backfill being answered */
  bool bf_on;
  struct ship_req req;
  uint64_t bf_next, bf_records, bf_batches, gaps[GAPS_MAX][2];
  unsigned n_gaps;
  struct ship_batch bfb;
  bool bf_read_all;             /* every seq of the range was read (or named as removed) */
  bool bf_refollow;             /* records were dropped unsent: follow again from bf_next */
  int bf_mid[SHIP_INFLIGHT];    /* backfill batches not yet acknowledged */
  unsigned n_bf;
  char t_cmd[BRIDGE_TOPIC_MAX]; /* hems/<id>/commands: signed remote commands (ship_commands.c) */
  int cmd_mid;                  /* its subscription's message id */
  /* totals, live batches acknowledged */
  uint64_t st_records, st_batches, st_wire, st_raw;
};

extern volatile sig_atomic_t ship_stop; /* SIGTERM or SIGINT, or a fatal error: the loop ends */

/* Publishes b with QoS 1 on the records topic and empties it; a live batch is also tracked for
 * its acknowledgement (the cursor) and followed by its checkpoint. 0; -EAGAIN when SHIP_INFLIGHT
 * batches of its kind already wait for their acknowledgement (b is kept); <0 otherwise. */
int ship_publish(struct ship *s, struct ship_batch *b, enum ship_kind kind);
/* Publishes o (taken) on the backfill reply topic. */
void ship_reply(struct ship *s, json_t *o);
/* A payload on the backfill topic: refused with a reply, or the range's follow started. */
void ship_backfill_request(struct ship *s, const void *payload, size_t len);
/* Reads what the backfill follow connection has. */
void ship_backfill_read(struct ship *s);
/* Once the range is read and its last batch handed over: the reply (call every loop turn). */
void ship_backfill_finish(struct ship *s);
/* Signed remote commands (ship_commands.c): the topic, its subscription (and the broker's
 * answer to it: true when mid was it), and a message on it handed to the daemon (true when the
 * message was on that topic). */
struct mosquitto_message;
void ship_commands_topic(struct ship *s, const char *topic_id);
void ship_commands_subscribe(struct ship *s, struct mosquitto *m);
bool ship_commands_subscribed(struct ship *s, int mid, int n, const int *granted);
bool ship_commands_message(struct ship *s, const struct mosquitto_message *msg);

/* --witness WVKEY: the head-end's cosignatures journaled through the daemon (ship_cosigned.c).
 * option: 0 or CLI_USAGE after a line; subscribe on every connect; suback/message return whether
 * the SUBACK / message was theirs. */
int ship_cosigned_option(const char *vkey);
void ship_cosigned_subscribe(struct ship *s);
bool ship_cosigned_suback(int mid);
struct mosquitto_message;
bool ship_cosigned_message(struct ship *s, const struct mosquitto_message *msg);

#endif
