/*
 * run_analog.c — leakage and temperature taps with an analog source (issue 17 item 8b; the
 * panel config's taps[].analog, docs/hardware.md): each is read every RUN_ANALOG_READ_NS of
 * panel time through its hwmon or IIO file (hw/rail_volt.c). A value at or above the tap's
 * alarm is fault{leakage_high} / fault{over_temperature} (value: the measured µA / m°C, branch:
 * the tap's), ended by fault{leakage_ok} / fault{temperature_ok} (value: the measured) once it
 * is below alarm − hysteresis, so a value at the threshold cannot make faults chatter. A
 * temperature tap with rise_c_per_min compares each reading with the one a minute before: a
 * rise at or above it is fault{temperature_rise} (value: the rise in m°C per minute), ended by
 * fault{temperature_rise_ok} below rise − hysteresis. A file that does not read is one
 * fault{tap_read_failed} until it reads again; the tap keeps its state, and its rise history
 * starts afresh. Each tap edge (run_taps.c) carries the value read at that moment
 * (run_analog_value). The fold raises the alarms (replay/reduce/reduce_analog.c, v 11), one per
 * alarm and branch (the panel's for branch 0): so an ending fault is journaled only when no
 * other tap of the same kind on the same branch is still past its threshold, and a tap starts
 * (first reading after a start) in the state the fold holds — a condition journaled before a
 * restart is ended by the first reading below the threshold, never left held for good.
 */
#include <stdio.h>
#include <string.h>
#include "run.h"

#define RUN_ANALOG_READ_NS 1000000000ull

enum { AN_HIGH = 1, AN_RISE = 2, AN_UNREAD = 4, AN_SEEDED = 8 };

/* The fold's held bit for tap t's state bit (AN_HIGH or AN_RISE). */
static uint8_t held_bit(const struct hw_panel_tap *t, uint8_t an)
{
  if (an == AN_RISE) return REPLAY_HELD_TEMPERATURE_RISE;
  return t->kind == HW_TAP_LEAKAGE ? REPLAY_HELD_LEAKAGE : REPLAY_HELD_OVER_TEMPERATURE;
}

static bool fold_holds(const struct daemon *d, const struct hw_panel_tap *t, uint8_t an)
{
  const struct replay_state *s = &d->h.state;
  if (s->reducer_version < 11 || t->branch > REPLAY_BRANCHES_MAX) return false;
  uint8_t held = t->branch ? s->br[t->branch - 1].analog_held : s->analog_held;
  return (held & held_bit(t, an)) != 0;
}

/* Another analog tap of t's kind on t's branch still has state bit an (its condition holds). */
static bool others_hold(const struct daemon *d, unsigned i, uint8_t an)
{
  const struct hw_panel *p = d->panel;
  for (unsigned j = 0; j < p->num_taps; j++)
    if (j != i && p->tap[j].analog && p->tap[j].kind == p->tap[i].kind && p->tap[j].branch == p->tap[i].branch &&
        (d->analog[j].state & an))
      return true;
  return false;
}

static double unit(int32_t milli) { return milli / 1000.0; }
static const char *unit_name(const struct hw_panel_tap *t) { return t->kind == HW_TAP_LEAKAGE ? "mA" : "°C"; }

static void high_fault(struct daemon *d, const struct hw_panel_tap *t, bool high, int32_t v)
{
  bool leak = t->kind == HW_TAP_LEAKAGE;
  char detail[256];
  if (high)
    snprintf(detail, sizeof detail, "tap %s: %.3f %s at or above %.3f %s (%s)", t->name, unit(v), unit_name(t),
             unit(t->alarm_milli), unit_name(t), t->analog_path);
  else
    snprintf(detail, sizeof detail, "tap %s: %.3f %s, below %.3f %s again", t->name, unit(v), unit_name(t),
             unit(t->alarm_milli - t->hysteresis_milli), unit_name(t));
  run_fault(d, high ? (leak ? "leakage_high" : "over_temperature") : (leak ? "leakage_ok" : "temperature_ok"), v,
            (uint16_t)t->branch, detail);
}

static void rise_fault(struct daemon *d, const struct hw_panel_tap *t, bool rising, int32_t rise)
{
  char detail[256];
  if (rising)
    snprintf(detail, sizeof detail, "tap %s: rose %.3f °C in a minute, at or above %.3f °C/min (%s)", t->name,
             unit(rise), unit(t->rise_milli_per_min), t->analog_path);
  else
    snprintf(detail, sizeof detail, "tap %s: rose %.3f °C in a minute, below %.3f °C/min again", t->name, unit(rise),
             unit(t->rise_milli_per_min - t->hysteresis_milli));
  run_fault(d, rising ? "temperature_rise" : "temperature_rise_ok", rise, (uint16_t)t->branch, detail);
}

/* The rise over the last minute once a minute of readings is held (else false): with
 * RUN_ANALOG_HIST (61) held, the oldest is exactly 60 readings before the newest. */
static bool rise_of(struct daemon *d, unsigned i, int32_t v, int32_t *rise)
{
  struct run_analog *a = &d->analog[i];
  a->hist[a->hist_at] = v;
  a->hist_at = (uint8_t)((a->hist_at + 1) % RUN_ANALOG_HIST);
  if (a->hist_n < RUN_ANALOG_HIST) a->hist_n++;
  if (a->hist_n < RUN_ANALOG_HIST) return false;
  *rise = v - a->hist[a->hist_at];
  return true;
}

static void read_tap(struct daemon *d, unsigned i)
{
  const struct hw_panel_tap *t = &d->panel->tap[i];
  struct run_analog *a = &d->analog[i];
  int32_t v;
  int r = hw_tap_read_milli(t, &v);
  if (r) {
    if (!(a->state & AN_UNREAD)) {
      char detail[256];
      snprintf(detail, sizeof detail, "tap %s: %s: %s", t->name, t->analog_path, hw_strerror(r));
      run_fault(d, "tap_read_failed", r, (uint16_t)t->branch, detail);
    }
    a->state |= AN_UNREAD;
    a->hist_n = 0;
    a->hist_at = 0;
    return;
  }
  a->state &= (uint8_t)~AN_UNREAD;
  if (!(a->state & AN_SEEDED)) { /* the conditions the fold holds from before a restart */
    a->state |= AN_SEEDED;
    if (fold_holds(d, t, AN_HIGH)) a->state |= AN_HIGH;
    if (fold_holds(d, t, AN_RISE)) a->state |= AN_RISE;
  }
  a->milli = v;
  a->have = true;
  bool high = a->state & AN_HIGH;
  if (!high && v >= t->alarm_milli) { a->state |= AN_HIGH; high_fault(d, t, true, v); }
  else if (high && v < t->alarm_milli - t->hysteresis_milli) {
    a->state &= (uint8_t)~AN_HIGH;
    if (!others_hold(d, i, AN_HIGH)) high_fault(d, t, false, v);
  }
  int32_t rise;
  bool rising = a->state & AN_RISE;
  if (!t->rise_milli_per_min || !rise_of(d, i, v, &rise)) {
    /* no rise alarm on this tap, or no minute of readings yet: a held rise ends only with one */
    if (rising && !t->rise_milli_per_min) { a->state &= (uint8_t)~AN_RISE; if (!others_hold(d, i, AN_RISE)) rise_fault(d, t, false, 0); }
    return;
  }
  if (!rising && rise >= t->rise_milli_per_min) { a->state |= AN_RISE; rise_fault(d, t, true, rise); }
  else if (rising && rise < t->rise_milli_per_min - t->hysteresis_milli) {
    a->state &= (uint8_t)~AN_RISE;
    if (!others_hold(d, i, AN_RISE)) rise_fault(d, t, false, rise);
  }
}

void run_analog_tick(struct daemon *d)
{
  const struct hw_panel *p = d->panel;
  uint64_t now = run_now_ns(d);
  if (now < d->analog_next_read_ns) return;
  d->analog_next_read_ns = now + RUN_ANALOG_READ_NS;
  for (unsigned i = 0; i < p->num_taps; i++)
    if (p->tap[i].analog) read_tap(d, i);
}

bool run_analog_value(struct daemon *d, unsigned tap, int32_t *milli)
{
  if (tap >= d->panel->num_taps || !d->panel->tap[tap].analog) return false;
  return hw_tap_read_milli(&d->panel->tap[tap], milli) == 0;
}
