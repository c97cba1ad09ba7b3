/*
 * run_afe_health.c — a branch AFE's bus faults as named conditions, not a record per read.
 *
 * A chip that stops answering (every retry of a read sees MISO stuck: HW_ENOCHIP) is
 * `afe_missing`: journaled once when it starts, then as a summary at most once a minute while it
 * lasts (value: the probes left unanswered since the last record). While missing, the AFE is not
 * read for windows, one-cycle rms or sense-backs; its PART_ID is probed every AFE_PROBE_NS. When
 * it answers again it is re-initialised (a chip that lost power lost its configuration; the reset
 * also restarts its energy accumulators, so the gap is not metered and no delta spans it) and
 * `afe_recovered` is journaled (value: ms missing). SPI CRC errors that persist after the
 * driver's retries (`spi_crc`) are journaled at their first occurrence and then summed into at
 * most one record a minute (value: the reads that failed since the last record).
 */
#include <stdio.h>
#include <string.h>
#include "run.h"

#define AFE_SUMMARY_NS 60000000000ull /* at most one record a minute per AFE and condition */
#define AFE_PROBE_NS 5000000000ull    /* a missing AFE's PART_ID is read this often */

static void missing_starts(struct daemon *d, unsigned a, uint64_t now, const char *when)
{
  struct afe_health *h = &d->afe_health[a];
  h->missing = true;
  h->since_ns = now;
  h->unanswered = 0;
  h->next_probe_ns = now + AFE_PROBE_NS;
  d->afe_ok[a] = false;
  if (h->reported_ns && now - h->reported_ns < AFE_SUMMARY_NS) {
    /* gone again within a minute of the last record: a flapping chip is counted, and said in
     * the next summary (missing or recovered), at most one a minute */
    h->flaps++;
    return;
  }
  h->reported_ns = now;
  char detail[200];
  snprintf(detail, sizeof detail, "afe %u: no chip answers on the SPI bus (MISO stuck)%s; its branches are not metered until it answers again",
           a + 1, when);
  run_fault(d, "afe_missing", 0, 0, detail);
}

void run_afe_start_failed(struct daemon *d, unsigned a, int rc)
{
  if (rc == HW_ENOCHIP && !d->panel->afe[a].mains) { /* the streaming mains AFE is not probed */
    missing_starts(d, a, run_now_ns(d), " at start");
    return;
  }
  char detail[128];
  snprintf(detail, sizeof detail, "afe %u: %s", a + 1, hw_strerror(rc));
  run_fault(d, rc == HW_ECRC ? "spi_crc" : "afe_missing", rc, 0, detail);
}

/* After a window's read of AFE a (rc: hw_ade9000_read_metrics). */
void run_afe_after_read(struct daemon *d, unsigned a, int rc)
{
  struct afe_health *h = &d->afe_health[a];
  uint64_t now = run_now_ns(d);
  if (h->flaps && rc != HW_ENOCHIP && now - h->reported_ns >= AFE_SUMMARY_NS) {
    /* a flapping chip that answers now: the summary of its drop-outs since the last record */
    char detail[200];
    snprintf(detail, sizeof detail, "afe %u: answers; it dropped out %llu times in the last %.0f s (windows lost while it was missing)",
             a + 1, (unsigned long long)h->flaps, (double)(now - h->reported_ns) / 1e9);
    run_fault(d, "afe_recovered", (int64_t)h->flaps, 0, detail);
    h->flaps = 0;
    h->reported_ns = now;
  }
  uint64_t faults = d->afe[a].count.crc_faults;
  uint64_t delta = faults - h->crc_seen;
  h->crc_seen = faults;
  if (rc == HW_ENOCHIP) { /* the failed reads were a missing chip's, not CRC errors */
    missing_starts(d, a, now, "");
    return;
  }
  h->crc_pending += delta;
  if (h->crc_pending && (!h->crc_reported_ns || now - h->crc_reported_ns >= AFE_SUMMARY_NS)) {
    char detail[160];
    if (h->crc_reported_ns)
      snprintf(detail, sizeof detail, "afe %u: SPI CRC errors persisted after retries: %llu reads failed in the last %.0f s", a + 1,
               (unsigned long long)h->crc_pending, (double)(now - h->crc_reported_ns) / 1e9);
    else
      snprintf(detail, sizeof detail, "afe %u: SPI CRC errors persisted after retries (further ones summed at most once a minute)", a + 1);
    run_fault(d, "spi_crc", (int64_t)h->crc_pending, 0, detail);
    h->crc_pending = 0;
    h->crc_reported_ns = now;
  }
}

/* Every window period, for each missing AFE: the probe when due, the summary, the return. */
void run_afe_probe(struct daemon *d, unsigned a)
{
  struct afe_health *h = &d->afe_health[a];
  uint64_t now = run_now_ns(d);
  if (!h->missing || now < h->next_probe_ns || d->panel->afe[a].mains) return;
  /* on a 5 s grid from when it went missing (window ticks fall a few ms either side of it) */
  while (h->next_probe_ns <= now) h->next_probe_ns += AFE_PROBE_NS;
  int rc = hw_ade9000_probe(&d->afe[a]);
  if (rc == 0) {
    /* it answers: reset and configure it as at start (its energy accumulators restart at zero) */
    struct hw_ade9000_config ac;
    hw_panel_ade9000_config(d->panel, a, &ac);
    if (d->hw) ac.delay_ns = run_sleep_ns;
    struct hw_spi *spi = d->afe[a].spi;
    rc = hw_ade9000_init(&d->afe[a], spi, &ac);
  }
  if (rc == 0) {
    h->missing = false;
    h->crc_seen = 0; /* init cleared the driver's counters */
    memset(d->energy_prev_nj[a], 0, sizeof d->energy_prev_nj[a]);
    memset(&d->rms1[a], 0, sizeof d->rms1[a]);
    d->afe_ok[a] = true;
    if (h->flaps) return; /* flapping: said in the next summary */
    char detail[200];
    snprintf(detail, sizeof detail, "afe %u: answers again after %.1f s; re-initialised (energy counted from zero: the gap is not metered)",
             a + 1, (double)(now - h->since_ns) / 1e9);
    run_fault(d, "afe_recovered", (int64_t)((now - h->since_ns) / 1000000), 0, detail);
    h->reported_ns = now;
    return;
  }
  h->unanswered++;
  if (now - h->reported_ns >= AFE_SUMMARY_NS) {
    char detail[200];
    snprintf(detail, sizeof detail, "afe %u: still missing after %.0f s (%llu probes unanswered, %llu drop-outs in the last %.0f s: %s)",
             a + 1, (double)(now - h->since_ns) / 1e9, (unsigned long long)h->unanswered, (unsigned long long)h->flaps,
             (double)(now - h->reported_ns) / 1e9, hw_strerror(rc));
    run_fault(d, "afe_missing", (int64_t)h->unanswered, 0, detail);
    h->unanswered = 0;
    h->flaps = 0;
    h->reported_ns = now;
  }
}
