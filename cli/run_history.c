/*
 * run_history.c — the daemon's long-horizon log (DIR/history, journal.h journal_history): opened
 * beside the main journal with the same signer and clock, fed once a second of panel time with
 * copies of the main log's durable records (at most HISTORY_BATCH looked at per turn, so a
 * first catch-up over a long main log never stalls the loop), in full before every retention
 * pass (retention_policy.c) and at shutdown. A history that cannot be opened or written is a
 * fault, never a reason to stop the panel: the main log and its archives keep everything.
 */
#include <errno.h>
#include <stdio.h>
#include "run.h"

#define HISTORY_BATCH 20000
#define HISTORY_PERIOD_NS 1000000000ull

void run_history_open(struct daemon *d, const struct journal_options *jo)
{
  int pid = 0;
  d->hist_rc = journal_history_open(&d->hist, jo, &pid);
  if (!d->hist_rc && (d->hist_rc = journal_reader_attach(&d->hist_main, d->j)) != 0) {
    journal_history_close(d->hist);
    d->hist = NULL;
  }
  if (!d->hist_rc) {
    char hdir[4200];
    journal_history_path(d->o.c.dir, hdir, sizeof hdir);
    if (cli_key_in_force_check(journal_history_journal(d->hist), hdir) != CLI_OK) {
      d->hist_rc = -EKEYREJECTED;
      run_history_close(d);
    }
  }
  d->hist_reported = false;
}

static void history_failed(struct daemon *d, const char *what, int rc)
{
  char detail[200];
  snprintf(detail, sizeof detail, "long-horizon log %s/" JOURNAL_HISTORY_DIR ": %s: %s (the main log keeps every record)",
           d->o.c.dir, what, journal_strerror(rc));
  run_fault(d, "history_failed", rc, 0, detail);
}

int run_history_sync(struct daemon *d, uint64_t max)
{
  if (!d->hist) return 0;
  uint64_t n = 0;
  int rc = journal_history_sync(d->hist, d->hist_main, journal_durable_seq(d->j), max, &n);
  d->hist_copies += n;
  /* before a cut (max 0) the copies must be durable: the cut may take their originals */
  if (!rc && !max) rc = journal_sync(journal_history_journal(d->hist));
  if (rc) {
    /* a failed history writer stays failed: say so once, and go on without it */
    history_failed(d, "copying", rc);
    run_history_close(d);
  }
  return rc;
}

void run_history_tick(struct daemon *d, uint64_t now)
{
  if (d->hist_rc && !d->hist_reported) {
    d->hist_reported = true;
    history_failed(d, "opening", d->hist_rc);
  }
  /* while the disk is full the history waits: its commits would compete with the reserve */
  if (!d->hist || now < d->next_history_ns || d->disk.shedding) return;
  d->next_history_ns = now + HISTORY_PERIOD_NS;
  run_history_sync(d, HISTORY_BATCH);
}

bool run_history_behind(struct daemon *d)
{
  return d->hist && journal_durable_seq(d->j) > journal_history_copied(d->hist) + 5 * HISTORY_BATCH;
}

void run_history_before_cut(struct daemon *d)
{
  d->hist_synced = false;
  if (!d->hist || d->disk.shedding || journal_sync(d->j) != 0) return;
  if (run_history_sync(d, 0) == 0 && d->hist) d->hist_synced = true;
}

void run_history_after_cut(struct daemon *d, uint64_t cut_seq)
{
  if (cut_seq && !d->hist_synced) {
    char detail[200];
    snprintf(detail, sizeof detail, "the cut of seq ..%llu was made without the long-horizon log: what it took is in the "
             "archive only", (unsigned long long)cut_seq);
    run_fault(d, "history_gap", (int64_t)cut_seq, 0, detail);
  }
  d->hist_synced = false;
}

void run_history_close(struct daemon *d)
{
  if (d->hist_main) journal_reader_close(d->hist_main);
  d->hist_main = NULL;
  if (d->hist) {
    int rc = journal_history_close(d->hist);
    if (rc) cli_err("run: closing the long-horizon log: %s", journal_strerror(rc));
  }
  d->hist = NULL;
}
