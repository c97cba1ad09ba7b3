/*
 * run_clock.c — the daemon's clocks: panel time (virtual under --sim, CLOCK_BOOTTIME on
 * hardware), the records' wall time, the real clock that paces the simulation, and the journal's
 * clock, watched for steps: a jump of the wall clock against the monotonic one is journaled as a
 * `time_step` fault and the records after it are `stepped` until the clock says it is
 * synchronised again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "run.h"

/* A change of at least 1 s in (wall - monotonic) between two reads is a step: a disciplined
 * clock slews at most 500 ppm (0.5 ms per second between reads), and reads are at most a tick
 * apart while the loop runs. */
#define CLOCK_STEP_NS 1000000000ll
/* Synchronised again: a read at least 2 s of monotonic time after the last step that says
 * synced (the live clock's adjtimex answer is cached for up to 1 s, so an answer from before the
 * step cannot end it). */
#define CLOCK_SETTLE_NS 2000000000ull
#define RUN_DEFAULT_MAX_OFFSET_NS 500000000ll /* 500 ms (Class A time-stamping wants ±20 ms: the offset is journaled for judging) */

double run_real_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

uint64_t run_boottime_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Panel time since start: virtual under simulation, CLOCK_BOOTTIME on hardware. */
uint64_t run_now_ns(const struct daemon *d)
{
  return d->hw ? run_boottime_ns() - d->hw_t0_boottime : hw_sim_now_ns(d->sim);
}

/* Wall time of "now" on the records' clock. */
int64_t run_wall_ns(const struct daemon *d)
{
  if (d->hw) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
  }
  return d->wall_base_ns + (int64_t)(hw_sim_wall_ns(d->sim) - d->sim_wall0);
}

/* One read of the records' clock: a step is remembered (to journal) and marks what follows
 * `stepped` until the clock says synced CLOCK_SETTLE_NS after the last step. */
void run_clock_watch(struct run_clockwatch *w, uint64_t mono, int64_t wall, uint8_t *tq)
{
  int64_t off;
  if (__builtin_sub_overflow(wall, (int64_t)mono, &off)) off = wall < 0 ? INT64_MIN : INT64_MAX;
  int64_t step;
  if (w->have && !__builtin_sub_overflow(off, w->offset_ns, &step) && (step >= CLOCK_STEP_NS || step <= -CLOCK_STEP_NS)) {
    w->stepped = true;
    w->step_mono_ns = mono;
    w->steps++;
    if (w->npending < sizeof w->pending_ns / sizeof w->pending_ns[0]) w->pending_ns[w->npending++] = step;
    else w->dropped++;
  }
  w->have = true;
  w->offset_ns = off;
  if (w->stepped && *tq == JOURNAL_TQ_SYNCED && mono - w->step_mono_ns >= CLOCK_SETTLE_NS) w->stepped = false;
  if (w->stepped) *tq = JOURNAL_TQ_STEPPED;
}

/* The journal's clock: the real clocks and adjtimex() on hardware, the virtual clock under
 * simulation (synced unless a scenario's clock_step made it unsynced and no clock_sync came
 * since), both watched for steps. Called on the loop's thread (every stamp is an append). */
void run_record_clock(void *ctx, uint64_t *mono, int64_t *wall, uint8_t *tq)
{
  struct daemon *d = ctx;
  if (d->hw) {
    journal_real_clock(NULL, mono, wall, tq);
  } else {
    *mono = hw_sim_now_ns(d->sim);
    *wall = run_wall_ns(d);
    *tq = hw_sim_clock_synced(d->sim) ? JOURNAL_TQ_SYNCED : JOURNAL_TQ_UNSYNCED;
  }
  run_clock_watch(&d->clk, *mono, *wall, tq);
}

/* The clock's offset from its time source: the kernel's NTP state on hardware, the scenario's
 * clock_offset under simulation; 0 when not known or not synced. */
int64_t run_clock_sync_offset_ns(const struct daemon *d)
{
  int64_t off = 0;
  if (d->hw) journal_clock_sync(&off);
  else off = hw_sim_clock_offset_ns(d->sim);
  return off;
}

/* Every 10 s of panel time: an offset over the configured limit is a `time_offset` fault (value:
 * the offset in ms), journaled when it goes over; back under the limit, the next time over is
 * journaled again. */
static void check_offset(struct daemon *d)
{
  struct run_clockwatch *w = &d->clk;
  uint64_t now = run_now_ns(d);
  if (now < w->next_offset_check_ns) return;
  w->next_offset_check_ns = (now / 10000000000ull + 1) * 10000000000ull; /* on a 10 s grid */
  int64_t off = run_clock_sync_offset_ns(d);
  int64_t mag = off < 0 ? (off == INT64_MIN ? INT64_MAX : -off) : off;
  int64_t limit = w->max_offset_ns > 0 ? w->max_offset_ns : RUN_DEFAULT_MAX_OFFSET_NS;
  bool over = mag > limit;
  if (over && !w->offset_over) {
    char detail[200];
    snprintf(detail, sizeof detail, "clock offset %+.3f s from its time source exceeds the limit of %.3f s (config time.max_offset_ms)",
             (double)off / 1e9, (double)limit / 1e9);
    run_fault(d, "time_offset", off / 1000000, 0, detail);
  }
  w->offset_over = over;
}

/* Every tick: one read (so a step shows even while nothing is appended), then each step seen
 * as a `time_step` fault, value the step in ms (negative: the wall clock went back). */
void run_clock_tick(struct daemon *d)
{
  uint64_t mono;
  int64_t wall;
  uint8_t tq;
  run_record_clock(d, &mono, &wall, &tq);
  struct run_clockwatch *w = &d->clk;
  int64_t steps[sizeof w->pending_ns / sizeof w->pending_ns[0]];
  unsigned n = w->npending;
  uint64_t dropped = w->dropped;
  memcpy(steps, w->pending_ns, sizeof steps);
  w->npending = 0; /* the faults' own stamps read the clock again */
  w->dropped = 0;
  for (unsigned i = 0; i < n; i++) {
    char detail[200];
    int len = snprintf(detail, sizeof detail, "wall clock stepped %+.3f s against the monotonic clock; records are stepped until it is synchronised again",
                       (double)steps[i] / 1e9);
    if (dropped && i + 1 == n && len > 0 && (size_t)len < sizeof detail)
      snprintf(detail + len, sizeof detail - (size_t)len, " (%llu more steps in the same tick)", (unsigned long long)dropped);
    run_fault(d, "time_step", steps[i] / 1000000, 0, detail);
  }
  check_offset(d);
}

void run_sleep_ns(void *user, uint64_t ns)
{
  (void)user;
  struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}
