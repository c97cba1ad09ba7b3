/*
 * reduce_analog.c — reducer v 11: alarms from measured leakage and temperature (issue 17 item
 * 8b; reduce_internal.h says how the fold is split). The daemon reads a tap's analog source and
 * journals the crossings as faults naming the tap's branch (0: panel-wide); the fold raises the
 * branch's (or the panel's) alarm and holds its condition until the fault that ends it:
 *   leakage_high     → leakage_high      ended by leakage_ok
 *   over_temperature → over_temperature  ended by temperature_ok
 *   temperature_rise → temperature_rise  ended by temperature_rise_ok
 * The alarm itself stays until acknowledged (reduce_alarm.c asks reduce__analog_condition).
 * A leakage_high on a branch is also leakage evidence for a trip that follows.
 */
#include "reduce_internal.h"

struct analog_code { const char *code; size_t len; uint32_t alarm; int raise; };
static const struct analog_code codes[] = {
  { "leakage_high", 12, REPLAY_ALARM_LEAKAGE_HIGH, 1 },
  { "leakage_ok", 10, REPLAY_ALARM_LEAKAGE_HIGH, 0 },
  { "over_temperature", 16, REPLAY_ALARM_OVER_TEMPERATURE, 1 },
  { "temperature_ok", 14, REPLAY_ALARM_OVER_TEMPERATURE, 0 },
  { "temperature_rise", 16, REPLAY_ALARM_TEMPERATURE_RISE, 1 },
  { "temperature_rise_ok", 19, REPLAY_ALARM_TEMPERATURE_RISE, 0 },
};

/* The alarm's bit in analog_held. */
static uint8_t held_bit(uint32_t alarm)
{
  return alarm == REPLAY_ALARM_LEAKAGE_HIGH ? REPLAY_HELD_LEAKAGE
       : alarm == REPLAY_ALARM_OVER_TEMPERATURE ? REPLAY_HELD_OVER_TEMPERATURE : REPLAY_HELD_TEMPERATURE_RISE;
}

void reduce__fold_analog_fault(struct replay_state *s, const struct journal_record *r)
{
  const struct journal_fault *f = &r->body.fault;
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    const struct analog_code *c = &codes[i];
    if (!slice_eq(f->code, c->code, c->len)) continue;
    struct replay_branch *b = f->branch ? branch_of(s, f->branch) : NULL;
    if (f->branch && !b) return; /* a branch beyond the panel's: nothing to raise it on */
    uint32_t *alarms = b ? &b->alarms : &s->alarms;
    uint8_t *held = b ? &b->analog_held : &s->analog_held;
    if (c->raise) {
      *alarms |= c->alarm;
      *held |= held_bit(c->alarm);
      if (b && c->alarm == REPLAY_ALARM_LEAKAGE_HIGH) b->evidence_wall_ns = r->wall_ns;
    } else {
      *held &= (uint8_t)~held_bit(c->alarm);
    }
    return;
  }
}

int reduce__analog_condition(const struct replay_state *s, uint16_t branch, uint32_t alarm)
{
  uint8_t held = branch ? s->br[branch - 1].analog_held : s->analog_held;
  return (held & held_bit(alarm)) != 0;
}
