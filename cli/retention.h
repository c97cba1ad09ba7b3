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
  int64_t history_ns; /* "history": the long-horizon log's horizon (validated; no such log yet) */
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
};

/* One pass: cut by age (windows) and, when journal + archives exceed the quota, the oldest whole
 * groups so the journal's pages in use fall to 3/4 of the quota; early (disk pressure): the
 * oldest half of the records held besides. Then the oldest archives are removed while journal +
 * archives exceed the quota. Cuts archive first (a record never leaves the journal unless it is
 * in an archive); a failed cut is returned after the pruning. */
int retention_pass(struct journal *j, const char *dir, const struct retention_policy *p, bool early,
                   journal_retention_cb appender, void *ctx, struct retention_result *res);

#endif
