/*
 * run_taps.c — trip taps and DER status inputs: their GPIO edges become `trip_tap` and `der`
 * records, journaled at once and in the kernel's order (the fold acts on a tap — a power-fail
 * input opens branches — so nothing waits); the waveform capture around a tap's edge follows, when
 * complete (at most 2 s later), in a second `trip_tap` naming the first (`of_seq`: reducer v 6
 * folds it as no edge). Lost GPIO events become a `gpio_overflow` fault.
 */
#include <stdio.h>
#include <string.h>
#include "run.h"

/* A tap's capture is complete: the second record, naming the tap's (same fields, capture set). */
void run_taps_capture_done(struct daemon *d, uint64_t id, const uint8_t hash[32])
{
  for (int k = 0; k < PENDING_TAPS; k++) {
    struct pending_tap *p = &d->ptaps[k];
    if (!p->used || p->capture_id != id) continue;
    p->used = false;
    struct journal_record r;
    memset(&r, 0, sizeof r);
    r.type = JOURNAL_T_TRIP_TAP;
    r.source = p->rec.source;
    r.body.trip_tap = p->rec.body.trip_tap;
    memcpy(r.body.trip_tap.capture, hash, 32);
    r.body.trip_tap.of_seq = p->tap_seq;
    run_append(d, &r);
  }
}

/* Captures that never came (the engine stopped, or past 2 s): forgotten; the tap is journaled. */
void run_taps_flush(struct daemon *d, bool all)
{
  for (int k = 0; k < PENDING_TAPS; k++)
    if (d->ptaps[k].used && (all || run_now_ns(d) >= d->ptaps[k].deadline_ns)) d->ptaps[k].used = false;
}

void run_taps_poll(struct daemon *d)
{
  if (!d->taps_ok) return;
  struct actuator_tap_record tr[8];
  unsigned n;
  do {
    n = 0;
    if (actuator_taps_poll(&d->taps, run_now_ns(d), tr, 8, &n)) break;
    for (unsigned i = 0; i < n; i++) {
      struct journal_record r;
      memset(&r, 0, sizeof r);
      r.type = tr[i].type;
      r.source = tr[i].source;
      if (tr[i].type == JOURNAL_T_TRIP_TAP) {
        d->taps_seen++;
        if (tr[i].body.trip_tap.branch && tr[i].body.trip_tap.branch <= HW_MAX_BRANCHES)
          d->branch_tapped[tr[i].body.trip_tap.branch] = true;
        r.body.trip_tap = tr[i].body.trip_tap;
        /* a leakage or temperature tap with an analog source: its value at the edge */
        int32_t milli;
        if (run_analog_value(d, tr[i].body.trip_tap.tap, &milli)) {
          r.body.trip_tap.value_milli = tr[i].body.trip_tap.value_milli = milli;
          r.body.trip_tap.have_value = tr[i].body.trip_tap.have_value = 1;
        }
        uint64_t seq = 0;
        if (run_append_fx(d, &r, &seq, NULL, NULL)) continue;
        /* A waveform capture around the edge (the ingest hook): its record follows when the
         * capture is complete (at most 2 s), naming this one. */
        int64_t cid = d->eng_ok ? ingest_engine_trigger(&d->eng, 1u + tr[i].body.trip_tap.tap) : -1;
        for (int k = 0; k < PENDING_TAPS && cid > 0; k++)
          if (!d->ptaps[k].used) {
            d->ptaps[k].used = true;
            d->ptaps[k].capture_id = (uint64_t)cid;
            d->ptaps[k].deadline_ns = run_now_ns(d) + 2000000000ull;
            d->ptaps[k].tap_seq = seq;
            d->ptaps[k].rec = tr[i];
            break;
          }
        continue;
      } else {
        r.body.der = tr[i].body.der;
        d->der_seen++;
      }
      run_append(d, &r);
    }
  } while (n == 8);
  uint64_t ov = d->taps.gpio_overflow + (d->act_ok ? d->act.gpio_overflow : 0);
  if (ov != d->gpio_overflow_seen) {
    char detail[96];
    snprintf(detail, sizeof detail, "%llu GPIO events lost (kernel buffer overflow); inputs resynced",
             (unsigned long long)(ov - d->gpio_overflow_seen));
    run_fault(d, "gpio_overflow", (int64_t)(ov - d->gpio_overflow_seen), 0, detail);
    d->gpio_overflow_seen = ov;
  }
}

/* Pre-trigger signature for a trip tap: the branch's last window current (register path). */
static bool run_taps_signature(void *ctx, unsigned branch, uint64_t t_ns, int32_t *rms_ma, int32_t *peak_ma)
{
  struct daemon *d = ctx;
  (void)t_ns;
  if (branch == 0 || branch > REPLAY_BRANCHES_MAX) return false;
  int32_t rms = d->h.state.br[branch - 1].irms_ma;
  if (rms <= 0) return false;
  *rms_ma = rms;
  *peak_ma = (int32_t)((int64_t)rms * 1414 / 1000);
  return true;
}

/* Requests every tap line and DER status line as inputs; a fault when refused. */
void run_taps_open(struct daemon *d, struct hw_gpio_chip *chip)
{
  int arc = actuator_taps_init(&d->taps, chip, d->panel, run_taps_signature, d, run_now_ns(d));
  d->taps_ok = arc == 0;
  if (arc) {
    char detail[128];
    snprintf(detail, sizeof detail, "tap inputs: %s", actuator_strerror(arc));
    run_fault(d, "gpio_request", arc, 0, detail);
  }
}
