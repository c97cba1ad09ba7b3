/*
 * cmd_stats.c — `hems stats [--dir DIR] [--format text|json]`: what the journal costs on disk
 * (docs/cli.md "stats"). records and by_type come from reading every record (by_type bytes
 * are canonical record bytes — what is hashed and sealed —, not the compressed share on disk);
 * disk_bytes is the size of the files of DIR/journal; write_bytes_per_day is the running
 * daemon's own storage writes over its uptime, when one answers on the control socket;
 * horizon_days is how long DIR/config.json's retention quota holds at the journal's rate
 * (disk bytes over the wall-time span of its records; after a cut the file keeps its size, so
 * the rate reads high until the journal has filled the freed pages). The bytes of each log: the main log's pages in
 * use (journal_bytes), its files (disk_bytes), the archive bundles (archive_bytes) and the
 * long-horizon log DIR/history (long_horizon: its records, pages in use, files and archives,
 * the days its records span and its bytes per day at that rate; null without one).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include "cli.h"
#include "daemon.h"
#include "retention.h"

static uint64_t journal_disk_bytes(const char *dir)
{
  char p[4200];
  snprintf(p, sizeof p, "%s/journal", dir);
  return retention_dir_bytes(p);
}

/* The daemon's storage writes per day, when one answers (quietly absent otherwise). */
static bool daemon_write_rate(const char *dir, double *per_day)
{
  char *resp = NULL;
  if (daemon_call(dir, NULL, "{\"op\":\"status\"}", &resp, 5000) != 0) return false;
  json_error_t je;
  json_t *o = json_loads(resp, 0, &je);
  free(resp);
  if (!o) return false;
  json_t *w = json_object_get(o, "storage_write_bytes"), *u = json_object_get(o, "uptime_s");
  bool ok = json_is_integer(w) && json_is_number(u) && json_number_value(u) > 0;
  if (ok) *per_day = (double)json_integer_value(w) / json_number_value(u) * 86400.0;
  json_decref(o);
  return ok;
}

/* DIR/history: {records, used_bytes, disk_bytes (pages in use + archives: what the quota
 * counts), span_days}, or NULL. */
static json_t *long_horizon(const struct cli_common *c)
{
  char hdir[4200];
  if (journal_history_path(c->dir, hdir, sizeof hdir) || !journal_history_exists(c->dir)) return NULL;
  struct journal_reader *r;
  if (journal_reader_open(&r, hdir, NULL, false) != 0) return NULL;
  struct journal_space sp;
  if (journal_reader_space(r, &sp)) memset(&sp, 0, sizeof sp);
  uint64_t n = 0;
  int64_t w0 = 0, w1 = 0;
  struct journal_iter *it;
  if (journal_iter_begin(r, 1, &it) == 0) {
    uint64_t seq;
    struct journal_record *rec = malloc(sizeof *rec);
    const uint8_t *b;
    size_t len;
    while (rec && journal_iter_next(it, &seq, &b, &len) == 1) {
      n++;
      if (journal_record_decode(b, len, rec) != 0) continue;
      if (!w0 || rec->wall_ns < w0) w0 = rec->wall_ns;
      if (rec->wall_ns > w1) w1 = rec->wall_ns;
    }
    free(rec);
    journal_iter_end(it);
  }
  journal_reader_close(r);
  return json_pack("{s:I, s:I, s:I, s:f}", "records", (json_int_t)n, "used_bytes", (json_int_t)sp.used_bytes, "disk_bytes",
                   (json_int_t)retention_history_bytes(NULL, c->dir), "span_days", w1 > w0 ? (double)(w1 - w0) / 86400e9 : 0.0);
}

int cli_cmd_stats(int argc, char **argv)
{
  enum { O_DIR = 1000, O_FORMAT, O_COUNTER, O_ACCEPT };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "format", required_argument, NULL, O_FORMAT },
                                      { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT }, { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *format = "text";
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) c.dir = optarg;
    else if (opt == O_FORMAT) format = optarg;
    else if (opt == O_COUNTER) c.counter = optarg;
    else if (opt == O_ACCEPT) c.accept_rollback = true;
    else return cli_usage(cli_find("stats"), false);
  }
  if (optind != argc) return cli_usage(cli_find("stats"), false);
  if (strcmp(format, "text") && strcmp(format, "json")) { cli_err("stats: --format must be text or json, not '%s'", format); return CLI_USAGE; }
  struct retention_policy pol;
  char err[4400];
  if (retention_policy_load(c.dir, &pol, err, sizeof err)) { cli_err("stats: %s", err); return CLI_USAGE; }
  struct journal_reader *r;
  int rc = cli_open_reader(&c, &r);
  if (rc) return rc;
  struct journal_space sp;
  if (journal_reader_space(r, &sp)) memset(&sp, 0, sizeof sp);
  struct journal_iter *it;
  if ((rc = journal_iter_begin(r, 1, &it))) { journal_reader_close(r); return cli_open_error(c.dir, c.counter, rc, 0); }
  uint64_t n = 0, by_n[JOURNAL_T__MAX] = { 0 }, by_b[JOURNAL_T__MAX] = { 0 }, seq;
  int64_t wmin = 0, wmax = 0;
  const uint8_t *b;
  size_t len;
  struct journal_record rec;
  while ((rc = journal_iter_next(it, &seq, &b, &len)) == 1) {
    if (journal_record_decode(b, len, &rec) != 0 || rec.type >= JOURNAL_T__MAX) { rc = JOURNAL_ECORRUPT; break; }
    if (!n || rec.wall_ns < wmin) wmin = rec.wall_ns;
    if (!n || rec.wall_ns > wmax) wmax = rec.wall_ns;
    n++;
    by_n[rec.type]++;
    by_b[rec.type] += len;
  }
  journal_iter_end(it);
  journal_reader_close(r);
  if (rc < 0) {
    if (journal_is_store_damage(rc)) cli_err("%s/journal/data.mdb: damaged (%s at seq %llu; 'hems verify --dir %s' names it)", c.dir,
                                             journal_strerror(rc), (unsigned long long)seq, c.dir);
    else cli_err("stats: %s: %s", c.dir, journal_strerror(rc));
    return CLI_ENV;
  }
  json_t *lh = long_horizon(&c);
  uint64_t disk = journal_disk_bytes(c.dir), quota = pol.quota, used = sp.used_bytes ? sp.used_bytes : disk;
  unsigned narch = 0;
  uint64_t arch = retention_archive_bytes(c.dir, &narch);
  double wpd = 0, span_days = (double)(wmax - wmin) / 86400e9;
  bool have_w = daemon_write_rate(c.dir, &wpd);
  bool have_h = quota && span_days > 0 && disk > 0;
  double horizon = have_h ? (double)quota / ((double)disk / span_days) : 0;
  json_t *o = json_object();
  json_object_set_new(o, "records", json_integer((json_int_t)n));
  json_object_set_new(o, "disk_bytes", json_integer((json_int_t)disk));
  json_object_set_new(o, "bytes_per_record", n ? json_real((double)disk / (double)n) : json_null());
  json_t *bt = json_object();
  for (unsigned t = 1; t < JOURNAL_T__MAX; t++)
    if (by_n[t]) json_object_set_new(bt, journal_type_name(t), json_pack("{s:I, s:I}", "records", (json_int_t)by_n[t], "bytes", (json_int_t)by_b[t]));
  json_object_set_new(o, "by_type", bt);
  json_object_set_new(o, "write_bytes_per_day", have_w ? json_real(wpd) : json_null());
  json_object_set_new(o, "horizon_days", have_h ? json_real(horizon) : json_null());
  json_object_set_new(o, "journal_bytes", json_integer((json_int_t)used));
  json_object_set_new(o, "archive_bytes", json_integer((json_int_t)arch));
  json_object_set_new(o, "archives", json_integer((json_int_t)narch));
  uint64_t hbytes = lh ? (uint64_t)json_integer_value(json_object_get(lh, "disk_bytes")) : 0;
  json_object_set_new(o, "long_horizon_bytes", lh ? json_integer((json_int_t)hbytes) : json_null());
  json_object_set_new(o, "long_horizon", lh ? lh : json_null());
  json_object_set_new(o, "quota", quota ? json_integer((json_int_t)quota) : json_null());
  if (!strcmp(format, "json")) {
    char *s = json_dumps(o, JSON_COMPACT);
    printf("%s\n", s);
    free(s);
  } else {
    printf("records           %llu\n", (unsigned long long)n);
    printf("disk_bytes        %llu\n", (unsigned long long)disk);
    if (n) printf("bytes_per_record  %.1f\n", (double)disk / (double)n);
    printf("by_type           (records, canonical bytes)\n");
    for (unsigned t = 1; t < JOURNAL_T__MAX; t++)
      if (by_n[t]) printf("  %-14s %10llu %14llu\n", journal_type_name(t), (unsigned long long)by_n[t], (unsigned long long)by_b[t]);
    printf("journal_bytes     %llu (LMDB pages in use; the file keeps its size after a cut)\n", (unsigned long long)used);
    printf("archive_bytes     %llu (%u bundles in %s/archive)\n", (unsigned long long)arch, narch, c.dir);
    if (lh) {
      double days = json_real_value(json_object_get(lh, "span_days"));
      printf("long_horizon_bytes %llu (%s/" JOURNAL_HISTORY_DIR ": %lld records, %lld bytes in use, %.2f days", (unsigned long long)hbytes,
             c.dir, (long long)json_integer_value(json_object_get(lh, "records")),
             (long long)json_integer_value(json_object_get(lh, "used_bytes")), days);
      if (days > 0) printf(", %.0f bytes per day", (double)hbytes / days);
      printf(")\n");
    } else {
      printf("long_horizon_bytes - (no long-horizon log: the daemon makes %s/" JOURNAL_HISTORY_DIR ")\n", c.dir);
    }
    if (quota) printf("quota             %llu (journal + archives + long-horizon log %.1f %% of it)\n", (unsigned long long)quota,
                      100.0 * (double)(used + arch + hbytes) / (double)quota);
    else printf("quota             - (none configured)\n");
    if (have_w) printf("write_bytes_per_day %.0f (the running daemon's)\n", wpd);
    else printf("write_bytes_per_day - (no daemon answers)\n");
    if (have_h) printf("horizon_days      %.1f (retention quota %llu bytes)\n", horizon, (unsigned long long)quota);
    else printf("horizon_days      - (no retention quota configured)\n");
  }
  json_decref(o);
  return CLI_OK;
}
