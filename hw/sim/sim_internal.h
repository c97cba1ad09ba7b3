/*
 * sim_internal.h — private to hw/sim/: the simulated panel's state (struct hw_sim) and the
 * steps its files share: the simulated gpiochip (sim_gpio.c), actuators and DER lines
 * (sim_actuators.c), scenario events (sim_events.c), mains and branch loads (sim_loads.c); the
 * per-sample step and the public API are in sim.c.
 */
#ifndef HEMS_HW_SIM_INTERNAL_H
#define HEMS_HW_SIM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "hw.h"
#include "emul.h"

#define NLINES 256
#define NREQ 16
#define RING 256
#define SCHED 4096
#define CONDUCTORS 4
#define HMAX 17
#define SIM_EPOCH_NS 1767225600000000000ull /* 2026-01-01T00:00:00Z */

enum role { R_NONE = 0, R_COIL, R_COIL_RESET, R_ESS_PERMIT, R_SERVICE_COIL };

struct sim_line {
  uint8_t phys;
  int8_t req;
  uint8_t index;
  bool output, active_low;
  uint8_t edges;
  uint32_t debounce_us;
  uint64_t deb_due;
  uint8_t reported;
  uint32_t line_seqno;
  uint8_t role;
  uint8_t role_idx;
  bool dead;        /* its source stopped answering (`der` state no_comm): a read fails (EIO) */
};

struct sim_req {
  bool used;
  bool realtime;
  int efd;
  unsigned num;
  struct hw_gpio_event ring[RING];
  unsigned cap, head, count;
  uint32_t seqno;
  struct hw_sim *sim;
};

struct sched { uint64_t t_ns; uint16_t line; uint8_t level; };

struct sim_branch {
  const struct hw_panel_branch *cfg;
  struct hw_scenario_load load;
  bool load_on;
  double power_w;
  bool energized;
  uint64_t on_since_ns;
  bool contact;
  int pending_to;            /* -1 none */
  uint64_t pending_t;
  bool coil[2];
  uint64_t latch_check_t[2]; /* 0 none */
  bool welded, stuck_open, chatter, leak_fault, efuse_tripped, breaker_open, reversed;
  uint64_t next_chatter_t;
  enum hw_phase actual_phase;
  double i_ct;               /* current through the CT this sample (A, true direction) */
  double cyc_ii, cyc_vv, irms, vlrms, ipeak;
  /* per-branch constants, recomputed when power or phase changes (no divisions per sample) */
  double k_res, ipk, inv_vn_pk, pf, sphi_over_pf, vn_pk;
};

/* An analog tap's simulated value (thousandths of its unit): a ramp from `from` at t0 to `to` at
 * t1 (sim_analog.c). */
struct sim_analog {
  int32_t from, to;
  uint64_t t0_ns, t1_ns, written_ns;
  bool ramping;
};

struct hw_sim {
  struct hw_scenario sc;
  struct sim_analog analog[HW_MAX_TAPS];
  uint64_t rail_back_ns[HW_MAX_RAILS]; /* a measured rail's dip ends (its file back to nominal); 0 none */
  uint64_t seed;
  uint64_t rng[4];
  uint64_t now_ns, carry_ns, sample_no;
  int64_t wall_offset_ns;
  bool clock_unsynced;       /* a clock_step made the board's clock unsynchronised; clock_sync ends it */
  int64_t sync_offset_ns;    /* the offset the board's time source reports (clock_offset) */
  unsigned next_event;
  /* mains */
  double nominal_pk, freq_nom, freq_drift, freq_set;
  double rot_c, rot_s;           /* fundamental rotor */
  double step_c, step_s;
  double ph_c[CONDUCTORS], ph_s[CONDUCTORS]; /* fixed phase offsets */
  double grid_factor[3];
  uint64_t sag_end_ns[3];
  /* a flicker stimulus: amplitude × (1 + flk_half·m(t)), m a ±1 square or a sine at flk_hz */
  double flk_half, flk_hz;
  bool flk_sine;
  uint8_t flk_phases;
  uint64_t flk_start_ns, flk_end_ns;
  bool grid_up, on_backup, interlock_ok, service_closed;
  uint64_t ats_due_ns;
  int hmax;
  double v[CONDUCTORS], amp[CONDUCTORS];
  double s[CONDUCTORS][HMAX + 1], c1[CONDUCTORS];
  /* supply */
  uint64_t supply_low_until;
  /* DER */
  int pv_state;                  /* 0 producing, 1 off, 2 fault, 3 islanded */
  double pv_w;
  int ess_state;                 /* 0 idle, 1 charging, 2 discharging, 3 alarm */
  double ess_w, ess_soc;
  bool ess_permit;
  bool der_stuck[3];             /* pv, ess, ats: status lines frozen (`der` state stuck) */
  /* branches */
  struct sim_branch br[HW_MAX_BRANCHES];
  int br_at[HW_MAX_AFES][3];     /* branch index per AFE channel, -1 none */
  unsigned cyc_n, cyc_acc;
  /* AFEs */
  struct ade_emul afe[HW_MAX_AFES];
  bool irq[HW_MAX_AFES];
  double v_in[HW_MAX_AFES][3], i_in[HW_MAX_AFES][4];
  double i_scale[HW_MAX_AFES][4];
  double v_scale[HW_MAX_AFES];
  double v_drift[HW_MAX_AFES];  /* fault afe_drift: the voltage front end's gain error, relative */
  /* gpio */
  struct hw_gpio_chip chip;
  struct sim_line line[NLINES];
  struct sim_req req[NREQ];
  uint64_t next_deb_ns;
  struct sched sched[SCHED];
  unsigned nsched;
  uint64_t sched_dropped;
  /* stimuli */
  struct hw_stimulus stim[HW_SCENARIO_MAX_EVENTS];
  unsigned stim_head, stim_count;
  hw_sim_frame_fn hook;
  void *hook_user;
};

/* PRNG: one xoshiro256** stream (seeded in sim.c) */
static inline uint64_t hw__sim_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t hw__sim_rng_next(struct hw_sim *s)
{
  uint64_t *q = s->rng, r = hw__sim_rotl(q[1] * 5, 7) * 9, t = q[1] << 17;
  q[2] ^= q[0]; q[3] ^= q[1]; q[1] ^= q[2]; q[0] ^= q[3]; q[2] ^= t; q[3] = hw__sim_rotl(q[3], 45);
  return r;
}

/* sim_gpio.c: a line's physical level (edges to the requests, with debounce), timed level
 * changes, the chip's ops */
void hw__sim_line_set(struct hw_sim *s, unsigned line, uint8_t phys, uint64_t t);
void hw__sim_run_debounce(struct hw_sim *s, uint64_t now);
void hw__sim_sched_add(struct hw_sim *s, uint64_t t, unsigned line, uint8_t level);
void hw__sim_run_sched(struct hw_sim *s, uint64_t now);
extern const struct hw_gpio_chip_ops hw__sim_chip_ops;

/* sim_actuators.c: an output line changed; a branch's actuator over time; aux contacts; the
 * power-fail and DER input lines */
void hw__sim_on_output(struct hw_sim *s, unsigned line, uint64_t t);
void hw__sim_actuators_step(struct hw_sim *s, struct sim_branch *b, uint64_t now);
void hw__sim_aux_update(struct hw_sim *s, struct sim_branch *b, uint64_t t, bool bounce);
void hw__sim_power_fail_lines(struct hw_sim *s, uint64_t t);
void hw__sim_der_lines(struct hw_sim *s, uint64_t t);
/* The battery carries the house by itself: on backup, the grid down, permitted to run, not in
 * alarm (a scripted state 3) and not empty. */
static inline bool hw__sim_ess_on_backup(const struct hw_sim *s)
{
  return s->sc.panel.der.ess && s->on_backup && !s->grid_up && s->ess_permit && s->ess_state != 3 && s->ess_soc > 0;
}

/* sim_events.c: the scenario's timeline */
void hw__sim_freq_steps(struct hw_sim *s);
void hw__sim_apply_event(struct hw_sim *s, const struct hw_scenario_event *e);
/* sim_analog.c: analog taps' files at power-up (HW_ESCENARIO and err when one cannot be
 * written), a leakage / temperature stimulus, and their ramps as time advances */
int hw__sim_analog_init(struct hw_sim *s, char *err, size_t err_len);
void hw__sim_analog_event(struct hw_sim *s, const struct hw_scenario_event *e);
void hw__sim_analog_advance(struct hw_sim *s);

/* sim_loads.c: mains and branch currents, one sample; the end of a mains cycle */
void hw__sim_mains_step(struct hw_sim *s);
void hw__sim_branch_coeffs(const struct hw_sim *s, struct sim_branch *b);
double hw__sim_branch_current(struct hw_sim *s, struct sim_branch *b, double *out_vl);
void hw__sim_end_cycle(struct hw_sim *s, uint64_t t);

#endif
