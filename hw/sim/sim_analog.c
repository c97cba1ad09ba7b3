/*
 * sim_analog.c — the simulator's analog taps (issue 17 item 8b): a leakage or temperature tap
 * with an "analog" source has its hwmon / IIO file written with what the sensor would read
 * (hw_tap_write_milli), as a measured rail's is. At power-up leakage reads 0 mA and temperature
 * HW_SIM_AMBIENT_MILLI_C; the `leakage` and `temperature` stimuli step the value or ramp it
 * linearly over `ramp`, the file rewritten at most every HW_SIM_ANALOG_WRITE_NS of simulated
 * time while it ramps (and at the ramp's end, so the final value is exact).
 */
#include <math.h>
#include <stdio.h>
#include "sim_internal.h"

#define HW_SIM_AMBIENT_MILLI_C 25000
#define HW_SIM_ANALOG_WRITE_NS 100000000ull

static int32_t value_at(const struct sim_analog *a, uint64_t t)
{
  if (t >= a->t1_ns || a->t1_ns <= a->t0_ns) return a->to;
  double f = (double)(t - a->t0_ns) / (double)(a->t1_ns - a->t0_ns);
  return (int32_t)llround(a->from + (a->to - a->from) * f);
}

int hw__sim_analog_init(struct hw_sim *s, char *err, size_t err_len)
{
  const struct hw_panel *p = &s->sc.panel;
  for (unsigned i = 0; i < p->num_taps; i++) {
    const struct hw_panel_tap *t = &p->tap[i];
    if (!t->analog) continue;
    struct sim_analog *a = &s->analog[i];
    a->from = a->to = t->kind == HW_TAP_TEMPERATURE ? HW_SIM_AMBIENT_MILLI_C : 0;
    int r = hw_tap_write_milli(t, a->to);
    if (r) {
      if (err && err_len) snprintf(err, err_len, "%s: taps[%u] (%s): cannot write %s: %s", s->sc.name, i, t->name,
                                   t->analog_path, hw_strerror(r));
      return HW_ESCENARIO;
    }
  }
  return 0;
}

void hw__sim_analog_event(struct hw_sim *s, const struct hw_scenario_event *e)
{
  struct sim_analog *a = &s->analog[e->tap];
  a->from = value_at(a, e->t_ns);
  a->to = (int32_t)llround(e->value * 1000);
  a->t0_ns = e->t_ns;
  a->t1_ns = e->t_ns + e->duration_ns;
  a->ramping = e->duration_ns > 0;
  if (!a->ramping) hw_tap_write_milli(&s->sc.panel.tap[e->tap], a->to);
  else a->written_ns = 0; /* the first write at the next advance */
}

void hw__sim_analog_advance(struct hw_sim *s)
{
  for (unsigned i = 0; i < s->sc.panel.num_taps; i++) {
    struct sim_analog *a = &s->analog[i];
    if (!a->ramping) continue;
    bool end = s->now_ns >= a->t1_ns;
    if (!end && a->written_ns && s->now_ns < a->written_ns + HW_SIM_ANALOG_WRITE_NS) continue;
    hw_tap_write_milli(&s->sc.panel.tap[i], value_at(a, s->now_ns));
    a->written_ns = s->now_ns;
    a->ramping = !end;
  }
}
