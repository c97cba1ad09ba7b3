/*
 * run_housekeeping.c — housekeeping between the panel's work: the idle flush (metering
 * groups committed after 1 s without a record), hourly retention (archive and cut what is older
 * than the configured windows or beyond the quota, with a checkpoint at the cut; disk pressure
 * in run_disk.c), the TPM counter's bumps (at boot, at
 * each retention cut, at most once an hour of panel time: an NV counter wears out after some
 * 10^5..10^6 increments, so a bump per commit would not do) and the live loop's lateness fault.
 */
#include <stdio.h>
#include "run.h"

#define COUNTER_BUMP_NS (3600ull * 1000000000ull)

void run_counter_bump(struct daemon *d)
{
  if (!journal_counter_is_hw(d->o.c.counter)) return;
  d->next_counter_bump_ns = run_now_ns(d) + COUNTER_BUMP_NS;
  uint64_t count = 0;
  int rc = journal_counter_bump(d->j, &count);
  if (rc) {
    char detail[160];
    snprintf(detail, sizeof detail, "%s: %s (bound at the next bump)", d->o.c.counter, journal_strerror(rc));
    run_fault(d, "counter_bump_failed", rc, 0, detail);
    return;
  }
  d->counter_bumps++;
}

/* The retention record (with a checkpoint of the state at the cut) goes through the fold like
 * every other record. */
int run_retention_append(void *ctx, struct journal *j, const struct journal_record *rec)
{
  struct daemon *d = ctx;
  int rc = replay_checkpoint_at(j, rec->body.retention.cut_seq);
  if (rc) return rc;
  struct journal_record r = *rec;
  if (d->hist && d->hist_synced) journal_history_anchor(d->hist, &r); /* its copies are durable */
  return run_append(d, &r);
}

/* Hourly: archive and cut what is older than the configured windows or beyond the quota, so
 * each pass is small; then the oldest archives beyond the quota go (retention_policy.c). */
static void run_retention(struct daemon *d)
{
  d->next_retention_ns = run_now_ns(d) + 3600ull * 1000000000ull;
  /* a first catch-up of the long-horizon log over a long main log goes on in its 1 s turns
   * (run_history.c); the pass waits for it, a minute at a time */
  if (run_history_behind(d)) {
    d->next_retention_ns = run_now_ns(d) + 60ull * 1000000000ull;
    return;
  }
  /* the long-horizon log first holds durable copies of everything the cut may take, and the
   * retention record names its head (the anchor); not while the disk is full (the commits would
   * wait on the room the panel needs) */
  run_history_before_cut(d);
  struct retention_result res;
  int rc = retention_pass(d->j, d->hist, d->o.c.dir, &d->ret, false, run_retention_append, d, &res);
  if (rc) {
    char detail[160];
    snprintf(detail, sizeof detail, "retention: %s (records kept)", journal_strerror(rc));
    run_fault(d, "retention_failed", rc, 0, detail);
  } else if (res.cut_seq) {
    run_counter_bump(d); /* what was cut cannot come back with an older copy past this count */
  }
  run_history_after_cut(d, res.cut_seq);
  uint64_t hcut = 0;
  if (d->hist && (rc = retention_history_cut(d->hist, &d->ret, &hcut)) != 0) {
    char detail[200];
    snprintf(detail, sizeof detail, "retention of the long-horizon log: %s (records kept)", journal_strerror(rc));
    run_fault(d, "retention_failed", rc, 0, detail);
  }
}

/* Every tick: metering groups are committed after 1 s of panel time without a new record; the
 * retention pass when due. */
void run_housekeeping_tick(struct daemon *d, uint64_t now)
{
  if (now - d->last_append_mono >= FLUSH_IDLE_NS) {
    journal_flush(d->j);
    d->last_append_mono = now;
  }
  if ((d->ret.windows_ns || d->ret.quota || (d->hist && d->ret.history_ns)) && now >= d->next_retention_ns) run_retention(d);
  run_disk_tick(d, now);
  run_history_tick(d, now);
  if (now >= d->next_counter_bump_ns && journal_counter_is_hw(d->o.c.counter)) run_counter_bump(d);
}

/* Watchdog (live only): the loop fell behind the panel's clock by more than half a second
 * (lag_ms); at most one fault per 10 s of real time (now_real, seconds). */
void run_housekeeping_late(struct daemon *d, double lag_ms, double now_real)
{
  if (d->watchdog && lag_ms > 500 && now_real - d->last_watchdog_s > 10) {
    char detail[96];
    snprintf(detail, sizeof detail, "loop %.0f ms behind the sample cadence", lag_ms);
    run_fault(d, "late_window", (int64_t)lag_ms, 0, detail);
    d->last_watchdog_s = now_real;
  }
}
