/*
 * run_clock.c — the daemon's clocks: panel time (virtual under --sim, CLOCK_BOOTTIME on
 * hardware), the records' wall time, the real clock that paces the simulation, and the journal's
 * clock under simulation. Reads clocks only; appends nothing.
 */
#include <errno.h>
#include <time.h>
#include "run.h"

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

void run_sim_clock(void *ctx, uint64_t *mono, int64_t *wall, uint8_t *tq)
{
  struct daemon *d = ctx;
  *mono = hw_sim_now_ns(d->sim);
  *wall = run_wall_ns(d);
  *tq = JOURNAL_TQ_SYNCED;
}

void run_sleep_ns(void *user, uint64_t ns)
{
  (void)user;
  struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}
