/*
 * collect.h — private to cli/: `hems collect`, the fleet head-end (docs/fleet.md "The collector").
 *
 *   collect.c          the command: options, registration, libmosquitto (MQTT 5 shared
 *                      subscriptions), the loop, held batches and backfill requests
 *   collect_envelope.c the batch envelope, decoded as untrusted input (collect_envelope.h; fuzzed)
 *   collect_batch.c    one batch: per-device lock, dedupe, chain/seal/tree checks, insert, cosign
 *   collect_events.c   the decoded copy of non-window records (table events)
 *   collect_windows.c  --decode-windows: the windows' power entries, decoded (table window_powers)
 *   collect_db.c       libpq: connect, migrations (schemas/fleet/), device state, quarantine
 *   collect_audit.c    `hems verify --db URL --device ID`
 */
#ifndef HEMS_CLI_COLLECT_H
#define HEMS_CLI_COLLECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>
#include "journal.h"

/* A device's verification state, the `devices` row (read and written under its lock). */
struct collect_dev {
  char id[33];
  uint8_t pk[JOURNAL_PUBKEY_BYTES];   /* registered */
  uint8_t key[JOURNAL_PUBKEY_BYTES];  /* in force after head */
  uint64_t head;
  uint8_t head_hash[JOURNAL_HASH_BYTES];
  uint8_t edge[64][JOURNAL_HASH_BYTES]; /* the tree's right edge over 1..head (set bits of head) */
  bool quarantined;
};

/* What became of a batch. */
enum collect_outcome {
  COLLECT_STORED,     /* verified and inserted (or, for records already held, equal: nothing new) */
  COLLECT_AHEAD,      /* starts after head + 1: held, then a backfill is asked for */
  COLLECT_DROPPED,    /* not taken and nothing to do (malformed, unregistered, quarantined, …) */
  COLLECT_QUARANTINED,/* refused: the device is quarantined now, with the evidence */
  COLLECT_DB_ERROR    /* the database failed: the batch is not acknowledged as done (retry) */
};

struct collect_witness {
  bool on;
  struct journal_file_signer fs;
  struct journal_tlog_verifier v;
  /* --recipient-key: the X25519 key pair sealed batches (ship --encrypt-to) are opened with */
  bool recipient;
  uint8_t rcpt_pk[32], rcpt_sk[32];
  /* --decode-windows: window records' power entries into window_powers (collect_windows.c) */
  bool decode_windows;
};

struct collect_result {
  uint64_t head;          /* the device's head after (or before, when ahead) */
  uint64_t inserted;      /* records inserted */
  char *cosigned;         /* malloc'd cosigned note to publish on hems/ID/cosigned, or NULL */
  uint8_t key[JOURNAL_PUBKEY_BYTES]; /* the device's key in force before the batch */
};

/* ---- collect_db.c */
#define COLLECT_LOCK_MIGRATE 0x68656d73636f6c6cll /* "hemscoll": the migration lock */
int collect_db_connect(const char *who, const char *url, PGconn **out); /* CLI_OK, CLI_USAGE or CLI_ENV after a line */
int collect_db_migrate(PGconn *db);                           /* CLI_OK or CLI_ENV after a line */
/* PGRES_COMMAND_OK / TUPLES_OK or one line naming what: 0 or -1. Clears r on failure. */
int collect_db_ok(PGresult *r, const char *what);
int collect_db_exec(PGconn *db, const char *sql, const char *what);
/* Reads the device's row FOR UPDATE: 1 found, 0 not registered, -1 error. */
int collect_db_load(PGconn *db, const char *id, struct collect_dev *d);
int collect_db_save(PGconn *db, const struct collect_dev *d);
int collect_db_quarantine(PGconn *db, const char *id, const char *reason, uint64_t seq, const uint8_t *stored_hash,
                          const uint8_t *received_hash, const uint8_t *received, size_t received_len,
                          const char *evidence);
/* Decodes a bytea column (text result) into out of exactly n bytes: 0 or -1. */
int collect_db_bytea(PGresult *r, int row, int col, uint8_t *out, size_t n);
int collect_register(const char *url, const char *id, const char *pubkey_path, const char *fpr);

/* ---- collect_batch.c */
/* Rows for COPY … FROM STDIN (text format): device, seq, type, wall time, bytes (\\x hex). */
struct collect_copy { char *p; size_t n, cap; };
int collect_copy_put(struct collect_copy *g, const char *s, size_t n);
/* The first four columns and their tabs: device, seq, type, wall time (or \N). */
int collect_copy_head(struct collect_copy *g, const char *id, const struct journal_record *r);
int collect_copy_line(struct collect_copy *g, const char *id, const struct journal_record *r, const uint8_t *b, size_t len);
/* COPY of g's rows into "table (columns)": 0 or -1 after a line. */
int collect_copy_in(PGconn *db, const char *table_columns, const struct collect_copy *g);
/* collect_events.c: r's decoded row for events (nothing for a window): 0 or -1. */
int collect_event_line(struct collect_copy *g, const char *id, const struct journal_record *r, const uint8_t *b, size_t len);
/* collect_windows.c: a window's rows for collect_windows_table, one per power entry (nothing for
 * other records): 0 or -1. The batch asks for them with --decode-windows (w->decode_windows). */
extern const char collect_windows_table[];
int collect_window_lines(struct collect_copy *g, const char *id, const struct journal_record *r);
enum collect_outcome collect_batch(PGconn *db, const struct collect_witness *w, const char *topic_dev,
                                   const uint8_t *payload, size_t len, struct collect_result *res);
/* Before a backfill is asked for on an ahead batch's word: 1 its last record is a seal at its
 * last seq that verifies with key (the gap is the device's own claim), 0 it is not, -1 it does
 * not decode. The one time an ahead batch is decompressed. */
int collect_batch_proves_ahead(const struct collect_witness *w, const char *id, const uint8_t key[JOURNAL_PUBKEY_BYTES],
                               const uint8_t *payload, size_t len, uint64_t *first, uint64_t *last);
/* A checkpoint note from hems/ID/checkpoint, against the verified ones: a fork quarantines. */
enum collect_outcome collect_checkpoint(PGconn *db, const char *topic_dev, const uint8_t *note, size_t len);

/* ---- collect_audit.c */
int collect_verify_db(int argc, char **argv);
int cli_cmd_collect(int argc, char **argv);

#endif
