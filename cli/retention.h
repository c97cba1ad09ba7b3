/*
 * retention.h — the retention policy of a data dir (DIR/config.json "retention") and one pass
 * of it: cut the main log by age and by quota (archive first, journal/retention.c), prune the
 * oldest archive bundles to the quota. Shared by `hems retention --run`, the daemon's hourly
 * pass and its early cut under disk pressure (run_disk.c), and `hems stats`.
 */
#ifndef HEMS_CLI_RETENTION_H
#define HEMS_CLI_RETENTION_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "journal.h"

#define RETENTION_HIGH_WATER_DEFAULT 0.90
#define RETENTION_RESERVE_DEFAULT (8ull << 20)

struct retention_policy {
  int64_t windows_ns; /* "windows" (alias "keep"): the main log is cut by age; 0 = no age cut */
  int64_t history_ns; /* "history": the long-horizon log's horizon (DIR/history); 0 = no cut */
  uint64_t quota;     /* "quota": journal (pages in use) + archives ≤ quota; 0 = none */
  double high_water;  /* "high_water": disk pressure above this share of the fs or the quota */
  uint64_t reserve;   /* "reserve": bytes of DIR/reserve, released for critical records */
};

/* "8GB", "500MB", "64MiB", "1024" (bytes; also a JSON integer): 0, or -EINVAL. */
int retention_parse_size(const char *s, uint64_t *out);

/* The "retention" object of DIR/config.json (absent: defaults, no cut). 0, or -EINVAL with err
 * holding one line naming the file, the field and why. */
int retention_policy_from_json(json_t *retention, const char *path, struct retention_policy *p, char *err, size_t cap);
int retention_policy_load(const char *dir, struct retention_policy *p, char *err, size_t cap);

/* The bytes of DIR/archive/ *.hems and how many there are. */
uint64_t retention_archive_bytes(const char *dir, unsigned *count);

struct retention_result {
  uint64_t cut_seq;                    /* 0: nothing cut */
  unsigned pruned;                     /* archive bundles removed (oldest first) */
  uint64_t pruned_bytes;
  uint64_t journal_used, archive_bytes; /* after the pass */
  uint64_t history_bytes;              /* the long-horizon log's files, counted first */
};

/* One pass: cut by age (windows) and, when journal + archives (+ the long-horizon log, which
 * the quota holds first) exceed the quota, the oldest whole
 * groups so the journal's pages in use fall to 3/4 of the quota; early (disk pressure): the
 * oldest half of the records held besides. Then the oldest archives are removed while journal +
 * archives exceed the quota. Cuts archive first (a record never leaves the journal unless it is
 * in an archive); a failed cut is returned after the pruning. */
int retention_pass(struct journal *j, struct journal_history *hist, const char *dir, const struct retention_policy *p,
                   bool early, journal_retention_cb appender, void *ctx, struct retention_result *res);

/* The bytes of the regular files directly in a directory (0: none, or no such directory). */
uint64_t retention_dir_bytes(const char *path);
/* The long-horizon log's bytes: its LMDB pages in use (h, when open for writing here; else a
 * reader of DIR/history) and its archive bundles; 0 without one. */
uint64_t retention_history_bytes(struct journal_history *h, const char *dir);
/* Opens (creating) DIR/history for writing with the command's signer: 0, or the exit code
 * (the error said). */
struct cli_common;
int retention_history_open(const struct cli_common *c, struct journal_history **out);
/* Copies into h every durable record of j it lacks (journal_history_sync) and waits until the
 * copies are durable (a cut may take their originals next): 0 or the error. */
int retention_history_catch_up(struct journal_history *h, struct journal *j, uint64_t *copied);
/* The long-horizon log's own cut by p->history_ns (archive first, as the main log's). */
int retention_history_cut(struct journal_history *h, const struct retention_policy *p, uint64_t *cut);

#endif
