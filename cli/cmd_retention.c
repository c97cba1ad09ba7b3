/*
 * cmd_retention.c — `hems retention [--dir DIR] [--keep D] [--quota SIZE] [--run]`: show the
 * journal's extent, its bytes and the policy of DIR/config.json "retention"; with --run, one
 * retention pass (retention_policy.c): cut by age and by quota, archive first, then prune the
 * oldest archive bundles to the quota.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "replay.h"
#include "retention.h"

/* Before the prefix goes: a checkpoint of the derived state at the cut, committed with the
 * retention record. */
static int append_retention(void *ctx, struct journal *j, const struct journal_record *rec)
{
  int rc = replay_checkpoint_at(j, rec->body.retention.cut_seq);
  if (rc) return rc;
  struct journal_record r = *rec;
  if (ctx) journal_history_anchor(ctx, &r); /* the long-horizon log's head: copies made durable first */
  return journal_append(j, &r, NULL);
}

static void show(const struct cli_common *c, const struct retention_policy *p, const char *keep)
{
  struct journal_reader *r;
  if (cli_open_reader(c, &r)) return;
  uint64_t first, last;
  journal_reader_bounds(r, &first, &last);
  struct journal_space sp;
  if (journal_reader_space(r, &sp)) memset(&sp, 0, sizeof sp);
  struct journal_iter *it;
  const uint8_t *b;
  size_t len;
  char t0[32] = "-", t1[32] = "-";
  if (journal_iter_begin(r, first, &it) == 0) {
    struct journal_record rec;
    if (journal_iter_get(it, first, &b, &len) == 0 && journal_record_decode(b, len, &rec) == 0) journal_format_time(rec.wall_ns, t0);
    if (journal_iter_get(it, last, &b, &len) == 0 && journal_record_decode(b, len, &rec) == 0) journal_format_time(rec.wall_ns, t1);
    journal_iter_end(it);
  }
  journal_reader_close(r);
  unsigned na = 0;
  uint64_t ab = retention_archive_bytes(c->dir, &na);
  printf("journal holds seq %llu..%llu (%s .. %s); policy: keep %s; 'hems retention --run' archives older groups to %s/archive/\n",
         (unsigned long long)first, (unsigned long long)last, t0, t1, keep, c->dir);
  printf("journal: %llu bytes in use of a %llu-byte file; archives: %u bundles, %llu bytes; quota: ",
         (unsigned long long)sp.used_bytes, (unsigned long long)sp.file_bytes, na, (unsigned long long)ab);
  if (p->quota) printf("%llu bytes (%.1f %% used)\n", (unsigned long long)p->quota, 100.0 * (double)(sp.used_bytes + ab) / (double)p->quota);
  else printf("none\n");
}

int cli_cmd_retention(int argc, char **argv)
{
  enum { O_DIR = 1000, O_COUNTER, O_ACCEPT, O_KEEP, O_QUOTA, O_RUN, O_SIGNER };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT }, { "keep", required_argument, NULL, O_KEEP },
                                      { "quota", required_argument, NULL, O_QUOTA }, { "run", no_argument, NULL, O_RUN },
                                      CLI_SIGNER_OPTION(O_SIGNER), { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *keep = NULL, *quota = NULL;
  bool run = false;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (opt) {
    case O_DIR: c.dir = optarg; break;
    case O_COUNTER: c.counter = optarg; break;
    case O_ACCEPT: c.accept_rollback = true; break;
    case O_SIGNER: cli_signer_option(optarg); break;
    case O_KEEP: keep = optarg; break;
    case O_QUOTA: quota = optarg; break;
    case O_RUN: run = true; break;
    default: return cli_usage(cli_find("retention"), false);
    }
  }
  if (optind != argc) return cli_usage(cli_find("retention"), false);
  struct retention_policy p;
  char err[4400];
  if (retention_policy_load(c.dir, &p, err, sizeof err)) { cli_err("%s", err); return CLI_USAGE; }
  /* --keep, else the configured windows, else 30 days */
  if (keep && (cli_parse_duration_ns(keep, &p.windows_ns) || p.windows_ns <= 0)) {
    cli_err("retention: --keep %s: not a duration (e.g. 30d, 12h)", keep);
    return CLI_USAGE;
  }
  if (!keep && !p.windows_ns) { keep = "30d"; p.windows_ns = 30ll * 86400 * 1000000000ll; }
  char kbuf[32];
  if (!keep) { snprintf(kbuf, sizeof kbuf, "%.0fs", (double)p.windows_ns / 1e9); keep = kbuf; }
  if (quota && (retention_parse_size(quota, &p.quota) || !p.quota)) {
    cli_err("retention: --quota %s: not a size (e.g. 8GB, 500MB, 64MiB or bytes)", quota);
    return CLI_USAGE;
  }
  if (!run) { show(&c, &p, keep); return CLI_OK; }
  struct journal *j;
  struct journal_open_info info;
  int rc = cli_open_writer(&c, &j, &info);
  if (rc) return rc;
  /* the long-horizon log first gets what the cut will take */
  struct journal_history *h = NULL;
  uint64_t copied = 0, hcut = 0;
  if ((rc = retention_history_open(&c, &h))) { journal_close(j); return rc; }
  if ((rc = retention_history_catch_up(h, j, &copied))) {
    cli_err("retention: %s/" JOURNAL_HISTORY_DIR ": copying: %s (nothing cut)", c.dir, journal_strerror(rc));
    journal_history_close(h);
    journal_close(j);
    return CLI_ENV;
  }
  struct retention_result res;
  rc = retention_pass(j, h, c.dir, &p, false, append_retention, h, &res);
  int hrc = retention_history_cut(h, &p, &hcut);
  int hcrc = journal_history_close(h);
  if (!hrc) hrc = hcrc;
  int crc = journal_close(j);
  if (copied) printf("copied %llu records to the long-horizon log %s/" JOURNAL_HISTORY_DIR "\n", (unsigned long long)copied, c.dir);
  if (hcut) printf("archived the long-horizon log's seq ..%llu to %s/" JOURNAL_HISTORY_DIR "/archive/ (older than its horizon)\n",
                   (unsigned long long)hcut, c.dir);
  if (hrc) cli_err("retention: %s/" JOURNAL_HISTORY_DIR ": %s", c.dir, journal_strerror(hrc));
  if (res.cut_seq) printf("archived seq ..%llu to %s/archive/ and cut it from the journal\n", (unsigned long long)res.cut_seq, c.dir);
  else if (!rc) printf("nothing older than %s%s to archive\n", keep, p.quota ? " or beyond the quota" : "");
  if (res.pruned) printf("removed the %u oldest archive bundles (%llu bytes) to keep within the quota\n", res.pruned, (unsigned long long)res.pruned_bytes);
  if (p.quota) printf("journal %llu bytes in use + archives %llu bytes + long-horizon log %llu bytes; quota %llu bytes\n",
                      (unsigned long long)res.journal_used, (unsigned long long)res.archive_bytes,
                      (unsigned long long)res.history_bytes, (unsigned long long)p.quota);
  if (hrc && !rc && !crc) return CLI_ENV;
  if (rc || crc) { cli_err("retention: %s", cli_signer_why(rc ? rc : crc)); return CLI_ENV; }
  return CLI_OK;
}
