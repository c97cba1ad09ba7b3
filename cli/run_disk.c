/*
 * run_disk.c — a full disk never stops the panel (docs/operations.md "Disk pressure").
 *
 * - The reserve, twice the policy's "reserve" (default 8 MiB, at most 1/8 of the filesystem):
 *   (1) blocks allocated past the end of the journal's data.mdb (journal_preallocate), topped
 *   up at every check while the filesystem has room: LMDB appends its pages there, onto blocks
 *   no other writer can take; (2) DIR/reserve, a file of allocated blocks given back to the
 *   filesystem the moment room runs out — by the journal's writer thread when a commit meets a
 *   full filesystem (the journal then tries the same commit again, journal.h on_nospace), or
 *   here when the free space falls below the reserve's size.
 * - Shedding: while the reserve is in use, metering windows (`window`, `pq_aggregate`) are
 *   dropped before they are journaled and counted; every other record — requests, commands,
 *   refusals, sense-backs, taps, faults, seals — is journaled as always. Once the free space is
 *   back above twice the reserve the reserve is made again and one `windows_dropped` fault
 *   says how many went.
 * - The high-water mark: every second of panel time the filesystem of DIR is asked (statvfs);
 *   at the policy's high_water (default 90 %) of the filesystem, or of the quota (journal
 *   pages in use + archives), one `disk_pressure` fault per episode and an early retention
 *   pass that archives and cuts the oldest half of the main log (retention_policy.c): the
 *   cut's pages are reused by LMDB, so the journal stops growing the file for a while. A cut
 *   that cannot write its archive does not happen (a record leaves the journal only once it
 *   is in an archive), nor is it tried with less than 1 MiB free (its archive would eat the
 *   room critical records need): shedding windows is the fallback, never losing a critical
 *   record. The episode ends 5 points below the mark.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "run.h"

#define DISK_CHECK_NS 1000000000ull

/* Allocates the reserve (blocks, not a sparse file); false when the filesystem has no room. */
static bool reserve_make(struct run_disk *k)
{
  if (!k->reserve_bytes) return false;
  int fd = open(k->reserve_path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return false;
  int rc = posix_fallocate(fd, 0, (off_t)k->reserve_bytes);
  if (rc == 0) rc = fdatasync(fd) == 0 ? 0 : errno;
  close(fd);
  if (rc) { unlink(k->reserve_path); return false; }
  __atomic_store_n(&k->reserve_held, 1, __ATOMIC_SEQ_CST);
  return true;
}

/* Gives the reserve back to the filesystem; true if it was held. Any thread. */
static bool reserve_release(struct run_disk *k)
{
  if (!__atomic_exchange_n(&k->reserve_held, 0, __ATOMIC_SEQ_CST)) return false;
  unlink(k->reserve_path);
  return true;
}

static void fs_read(struct daemon *d)
{
  struct statvfs sv;
  struct run_disk *k = &d->disk;
  if (statvfs(d->o.c.dir, &sv) != 0 || !sv.f_blocks) return;
  k->fs_bytes = (uint64_t)sv.f_blocks * sv.f_frsize;
  k->avail_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
  k->used_frac = 1.0 - (double)k->avail_bytes / (double)k->fs_bytes;
}

void run_disk_open(struct daemon *d)
{
  struct run_disk *k = &d->disk;
  snprintf(k->reserve_path, sizeof k->reserve_path, "%s/reserve", d->o.c.dir);
  fs_read(d);
  k->reserve_bytes = d->ret.reserve;
  if (k->fs_bytes && k->reserve_bytes > k->fs_bytes / 8) k->reserve_bytes = k->fs_bytes / 8;
  k->reserve_bytes &= ~(uint64_t)4095;
  unlink(k->reserve_path); /* a previous run's, of another size */
  fs_read(d);
  if (k->avail_bytes >= 2 * k->reserve_bytes) reserve_make(k);
  journal_preallocate(d->j, k->reserve_bytes);
  k->next_check_ns = run_now_ns(d);
}

/* The writer thread met a full filesystem (ctx: the harness, as replay_harness_init set it). */
static int on_nospace(void *ctx)
{
  struct daemon *d = (struct daemon *)((char *)ctx - offsetof(struct daemon, h));
  __atomic_store_n(&d->disk.nospace, 1, __ATOMIC_SEQ_CST);
  return reserve_release(&d->disk);
}

void run_disk_hook(struct daemon *d, struct journal_options *jo)
{
  (void)d;
  jo->on_nospace = on_nospace;
}

bool run_disk_drop(struct daemon *d)
{
  if (!d->disk.shedding) return false;
  d->disk.dropped++;
  d->disk.dropped_total++;
  return true;
}

static void pressure_begin(struct daemon *d, double quota_frac)
{
  struct run_disk *k = &d->disk;
  k->pressure = true;
  k->episodes++;
  char detail[512];
  int n = snprintf(detail, sizeof detail, "%s: filesystem %.1f %% used, %llu of %llu bytes free", d->o.c.dir, k->used_frac * 100.0,
                   (unsigned long long)k->avail_bytes, (unsigned long long)k->fs_bytes);
  if (d->ret.quota)
    n += snprintf(detail + n, sizeof detail - (size_t)n, "; quota %.1f %% used", quota_frac * 100.0);
  snprintf(detail + n, sizeof detail - (size_t)n, " (high water %.0f %%)%s; early cut of the oldest records", d->ret.high_water * 100.0,
           k->shedding ? "; reserve in use, metering windows dropped" : "");
  run_fault(d, "disk_pressure", (int64_t)(k->used_frac * 1000.0), 0, detail);
  /* the archive needs room of its own: with less than 1 MiB free it would only eat into what
   * the critical records have, and fail */
  if (k->avail_bytes < (1u << 20)) {
    run_fault(d, "retention_failed", -ENOSPC, 0, "early cut under disk pressure: less than 1 MiB free for its archive (records kept; metering windows are shed while the disk is full)");
    return;
  }
  /* what the cut takes is copied to the long-horizon log first, when it can be (the history
   * waits while the disk is full, run_history.c: then the archive alone holds it) */
  run_history_before_cut(d);
  struct retention_result res;
  int rc = retention_pass(d->j, d->hist, d->o.c.dir, &d->ret, true, run_retention_append, d, &res);
  run_history_after_cut(d, res.cut_seq);
  if (rc) {
    snprintf(detail, sizeof detail, "early cut under disk pressure: %s (records kept; metering windows are shed while the disk is full)",
             journal_strerror(rc));
    run_fault(d, "retention_failed", rc, 0, detail);
  } else if (res.cut_seq) {
    run_counter_bump(d);
  }
}

void run_disk_tick(struct daemon *d, uint64_t now)
{
  struct run_disk *k = &d->disk;
  bool hit = __atomic_exchange_n(&k->nospace, 0, __ATOMIC_SEQ_CST);
  if (!hit && now < k->next_check_ns) return;
  k->next_check_ns = now + DISK_CHECK_NS;
  fs_read(d);
  if (!k->fs_bytes) return;
  uint64_t low = k->reserve_bytes > (1u << 20) ? k->reserve_bytes : (1u << 20);
  if (!k->shedding && (hit || k->avail_bytes < low)) {
    k->shedding = true;
    k->dropped = 0;
    reserve_release(k);
    fs_read(d);
  } else if (k->shedding && !hit && k->avail_bytes >= 2 * low + k->reserve_bytes) {
    k->shedding = false;
    reserve_make(k);
    fs_read(d);
    if (k->dropped) {
      char detail[200];
      snprintf(detail, sizeof detail, "%llu metering windows dropped while the disk was full (the reserve made again)",
               (unsigned long long)k->dropped);
      run_fault(d, "windows_dropped", (int64_t)k->dropped, 0, detail);
    }
  }
  /* the journal's own room past its end, while the filesystem has room to give */
  if (!k->shedding && k->avail_bytes >= 2 * low) journal_preallocate(d->j, k->reserve_bytes);
  double quota_frac = 0;
  if (d->ret.quota) {
    struct journal_space sp;
    if (journal_space_get(d->j, &sp) == 0)
      quota_frac = (double)(sp.used_bytes + retention_archive_bytes(d->o.c.dir, NULL)) / (double)d->ret.quota;
  }
  double hw = d->ret.high_water;
  bool over = k->shedding || k->used_frac >= hw || quota_frac >= hw;
  if (over && !k->pressure) pressure_begin(d, quota_frac);
  else if (k->pressure && !over && k->used_frac < hw - 0.05 && quota_frac < hw - 0.05) k->pressure = false;
}
