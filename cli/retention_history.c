/*
 * retention_history.c — the long-horizon log's part of retention (retention.h): what it takes
 * on disk (counted against the quota before the main log and its archives) and its own cut, by
 * the "history" horizon. Its records are copies (journal.h journal_history): the main log's
 * pass copies what the history lacks before it cuts anything (run_history.c, cmd_retention.c).
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"
#include "retention.h"

uint64_t retention_dir_bytes(const char *path)
{
  DIR *d = opendir(path);
  if (!d) return 0;
  uint64_t sum = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char f[4500];
    struct stat st;
    snprintf(f, sizeof f, "%s/%s", path, e->d_name);
    if (stat(f, &st) == 0 && S_ISREG(st.st_mode)) sum += (uint64_t)st.st_size;
  }
  closedir(d);
  return sum;
}

uint64_t retention_history_bytes(struct journal_history *h, const char *dir)
{
  char p[4200];
  if (journal_history_path(dir, p, sizeof p) || !journal_history_exists(dir)) return 0;
  /* the pages in use (the history's own count, not the size of whatever files lie there) and
   * its archive bundles */
  struct journal_space sp;
  memset(&sp, 0, sizeof sp);
  if (h) {
    journal_space_get(journal_history_journal(h), &sp);
  } else {
    struct journal_reader *r;
    if (journal_reader_open(&r, p, NULL, true) == 0) {
      journal_reader_space(r, &sp);
      journal_reader_close(r);
    }
  }
  return sp.used_bytes + retention_archive_bytes(p, NULL);
}

int retention_history_cut(struct journal_history *h, const struct retention_policy *p, uint64_t *cut)
{
  *cut = 0;
  if (!h || p->history_ns <= 0) return 0;
  return journal_retention_run(journal_history_journal(h), p->history_ns, NULL, NULL, cut);
}

int retention_history_open(const struct cli_common *c, struct journal_history **out)
{
  struct journal_options o;
  memset(&o, 0, sizeof o);
  o.dir = c->dir;
  int pid = 0, rc = cli_signer_get(c, &o.signer);
  if (rc) return rc;
  char hdir[4200];
  journal_history_path(c->dir, hdir, sizeof hdir);
  if ((rc = journal_history_open(out, &o, &pid))) return cli_open_error(hdir, NULL, rc, pid);
  if ((rc = cli_key_in_force_check(journal_history_journal(*out), hdir))) {
    journal_history_close(*out);
    *out = NULL;
  }
  return rc;
}

int retention_history_catch_up(struct journal_history *h, struct journal *j, uint64_t *copied)
{
  struct journal_reader *r;
  int rc = journal_reader_attach(&r, j);
  if (rc) return rc;
  rc = journal_sync(j);
  if (!rc) rc = journal_history_sync(h, r, journal_durable_seq(j), 0, copied);
  journal_reader_close(r);
  if (!rc) rc = journal_sync(journal_history_journal(h)); /* durable before the cut takes the originals */
  return rc;
}
