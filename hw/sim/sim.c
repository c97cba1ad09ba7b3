/*
 * sim.c — the simulated panel: mains, branch loads, actuators, taps, DER, a simulated gpiochip
 * and one emulated ADE9000 per AFE, stepped at 8 kSPS on a virtual clock.
 *
 * Determinism: all randomness comes from one xoshiro256** stream seeded from the caller's seed
 * (splitmix64), all time from the virtual clock (ns, advanced only by hw_sim_advance), and the
 * per-sample arithmetic is a fixed sequence of double operations (built with -ffp-contract=off),
 * so the same scenario and seed give byte-identical samples, GPIO events and stimuli.
 *
 * Model summary (docs/scenarios.md has the details): phases are unit rotors advanced by one
 * complex multiply per sample; harmonics are powers of the rotor. A branch conducts when its
 * contact is closed and its breaker is not tripped; its current follows its load model (resistive,
 * motor/heat pump with decaying inrush, switch-mode harmonics, EV ramp, phantom, PV/ESS
 * injection). Actuators react to GPIO outputs with operate/release times, latching pulse
 * minimums, aux contacts with bounce, and faults (welded, stuck open, chatter, SSR leakage).
 * Inputs reach the caller only through the simulated gpiochip (edges with debounce, a bounded
 * event buffer that drops the oldest on overflow, per-request and per-line seqnos).
 * No allocation after hw_sim_create.
 */
#include "hw.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

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

struct hw_sim {
  struct hw_scenario sc;
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

/* ---------------------------------------------------------------- PRNG */
static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t rng_next(struct hw_sim *s)
{
  uint64_t *q = s->rng, r = rotl(q[1] * 5, 7) * 9, t = q[1] << 17;
  q[2] ^= q[0]; q[3] ^= q[1]; q[1] ^= q[2]; q[0] ^= q[3]; q[2] ^= t; q[3] = rotl(q[3], 45);
  return r;
}
static double rng_uniform(struct hw_sim *s) /* [0,1) */
{
  return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---------------------------------------------------------------- gpio chip */
static uint64_t ts_of(const struct hw_sim *s, const struct sim_req *r, uint64_t t)
{
  return r->realtime ? (uint64_t)((int64_t)(SIM_EPOCH_NS + t) + s->wall_offset_ns) : t;
}

static void emit(struct hw_sim *s, struct sim_line *l, unsigned offset, uint8_t logical, uint64_t t)
{
  l->reported = logical;
  if (!(l->edges & (logical ? HW_GPIO_EDGE_RISING : HW_GPIO_EDGE_FALLING))) return;
  struct sim_req *r = &s->req[l->req];
  struct hw_gpio_event ev = { .timestamp_ns = ts_of(s, r, t), .offset = offset, .rising = logical,
                              .seqno = ++r->seqno, .line_seqno = ++l->line_seqno };
  if (r->count == r->cap) { r->head = (r->head + 1) % r->cap; r->count--; } /* drop the oldest */
  r->ring[(r->head + r->count) % r->cap] = ev;
  if (r->count++ == 0 && r->efd >= 0) {
    uint64_t one = 1;
    ssize_t w = write(r->efd, &one, sizeof one);
    (void)w;
  }
}

static void on_output(struct hw_sim *s, unsigned line, uint64_t t);
static void branch_coeffs(const struct hw_sim *s, struct sim_branch *b);

static void line_set(struct hw_sim *s, unsigned line, uint8_t phys, uint64_t t)
{
  if (line >= NLINES) return;
  struct sim_line *l = &s->line[line];
  if (l->phys == phys) return;
  l->phys = phys;
  if (l->req < 0 || l->output || !l->edges) return;
  uint8_t logical = phys ^ l->active_low;
  if (l->debounce_us) {
    l->deb_due = t + (uint64_t)l->debounce_us * 1000;
    if (!s->next_deb_ns || l->deb_due < s->next_deb_ns) s->next_deb_ns = l->deb_due;
  } else {
    emit(s, l, line, logical, t);
  }
}

static void run_debounce(struct hw_sim *s, uint64_t now)
{
  if (!s->next_deb_ns || s->next_deb_ns > now) return;
  uint64_t next = 0;
  /* fire in time order so events of different lines stay ordered */
  for (;;) {
    int best = -1;
    for (unsigned i = 0; i < NLINES; i++)
      if (s->line[i].deb_due && s->line[i].deb_due <= now &&
          (best < 0 || s->line[i].deb_due < s->line[best].deb_due))
        best = (int)i;
    if (best < 0) break;
    struct sim_line *l = &s->line[best];
    uint64_t due = l->deb_due;
    l->deb_due = 0;
    uint8_t logical = l->phys ^ l->active_low;
    if (l->req >= 0 && logical != l->reported) emit(s, l, (unsigned)best, logical, due);
  }
  for (unsigned i = 0; i < NLINES; i++)
    if (s->line[i].deb_due && (!next || s->line[i].deb_due < next)) next = s->line[i].deb_due;
  s->next_deb_ns = next;
}

static void sched_add(struct hw_sim *s, uint64_t t, unsigned line, uint8_t level)
{
  if (line >= NLINES) return;
  if (s->nsched == SCHED) { s->sched_dropped++; return; }
  unsigned i = s->nsched++;
  while (i > 0 && s->sched[i - 1].t_ns > t) { s->sched[i] = s->sched[i - 1]; i--; }
  s->sched[i] = (struct sched){ t, (uint16_t)line, level };
}

static void run_sched(struct hw_sim *s, uint64_t now)
{
  unsigned k = 0;
  while (k < s->nsched && s->sched[k].t_ns <= now) {
    line_set(s, s->sched[k].line, s->sched[k].level, s->sched[k].t_ns);
    k++;
  }
  if (k) {
    memmove(s->sched, s->sched + k, (s->nsched - k) * sizeof s->sched[0]);
    s->nsched -= k;
  }
}

static int chip_info(void *ctx, struct hw_gpio_chip_info *out)
{
  memset(out, 0, sizeof *out);
  strcpy(out->name, "gpiochip-sim");
  strcpy(out->label, "hems simulated panel");
  out->num_lines = NLINES;
  return 0;
}

static int lines_get(struct hw_gpio_lines *gl, uint64_t mask, uint64_t *out)
{
  struct sim_req *r = gl->ctx;
  uint64_t bits = 0;
  for (unsigned i = 0; i < gl->num_lines; i++)
    if (mask & (1ull << i)) {
      const struct sim_line *l = &r->sim->line[gl->offsets[i]];
      if (l->phys ^ l->active_low) bits |= 1ull << i;
    }
  *out = bits;
  return 0;
}

static int lines_set(struct hw_gpio_lines *gl, uint64_t mask, uint64_t bits)
{
  struct sim_req *r = gl->ctx;
  for (unsigned i = 0; i < gl->num_lines; i++)
    if ((mask & (1ull << i)) && !r->sim->line[gl->offsets[i]].output) return -EPERM;
  for (unsigned i = 0; i < gl->num_lines; i++)
    if (mask & (1ull << i)) {
      unsigned off = gl->offsets[i];
      struct sim_line *l = &r->sim->line[off];
      uint8_t phys = (uint8_t)(((bits >> i) & 1) ^ l->active_low);
      if (phys != l->phys) {
        l->phys = phys;
        on_output(r->sim, off, r->sim->now_ns);
      }
    }
  return 0;
}

static int lines_read(struct hw_gpio_lines *gl, struct hw_gpio_event *ev, unsigned max, unsigned *n)
{
  struct sim_req *r = gl->ctx;
  unsigned k = 0;
  while (k < max && r->count) {
    ev[k++] = r->ring[r->head];
    r->head = (r->head + 1) % r->cap;
    r->count--;
  }
  if (r->count == 0 && r->efd >= 0) {
    uint64_t v;
    ssize_t rd = read(r->efd, &v, sizeof v); /* non-blocking: resets readiness */
    (void)rd;
  }
  *n = k;
  return 0;
}

static void lines_release(struct hw_gpio_lines *gl)
{
  struct sim_req *r = gl->ctx;
  struct hw_sim *s = r->sim;
  for (unsigned i = 0; i < gl->num_lines; i++) {
    unsigned off = gl->offsets[i];
    struct sim_line *l = &s->line[off];
    bool out = l->output;
    l->req = -1;
    l->output = false;
    l->edges = 0;
    l->deb_due = 0;
    if (out && l->phys) { /* the kernel stops driving: the line falls to its pull-down */
      l->phys = 0;
      on_output(s, off, s->now_ns);
    }
    l->active_low = false;
  }
  if (r->efd >= 0) close(r->efd);
  r->efd = -1;
  r->used = false;
}

static const struct hw_gpio_lines_ops sim_lines_ops = { lines_get, lines_set, lines_read, lines_release };

static bool is_sim_input(const struct hw_sim *s, unsigned off)
{
  return s->line[off].role == R_NONE;
}

static int chip_request(void *ctx, const struct hw_gpio_request_config *cfg, struct hw_gpio_lines *out)
{
  struct hw_sim *s = ctx;
  for (unsigned i = 0; i < cfg->num_lines; i++) {
    unsigned off = cfg->lines[i].offset;
    if (off >= NLINES) return -EINVAL;
    if (s->line[off].req >= 0) return -EBUSY;
    /* a line the panel drives (aux, sense, tap, irq) cannot be an output and vice versa */
    if (cfg->lines[i].output == is_sim_input(s, off)) return -EINVAL;
  }
  int ri = -1;
  for (int i = 0; i < NREQ; i++) if (!s->req[i].used) { ri = i; break; }
  if (ri < 0) return -ENOSPC;
  struct sim_req *r = &s->req[ri];
  memset(r, 0, sizeof *r);
  r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->efd < 0) return -errno;
  r->used = true;
  r->sim = s;
  r->realtime = cfg->event_clock_realtime;
  r->num = cfg->num_lines;
  unsigned cap = cfg->event_buffer_size ? cfg->event_buffer_size : 16 * cfg->num_lines;
  r->cap = cap > RING ? RING : cap;
  for (unsigned i = 0; i < cfg->num_lines; i++) {
    const struct hw_gpio_line_config *lc = &cfg->lines[i];
    struct sim_line *l = &s->line[lc->offset];
    l->req = (int8_t)ri;
    l->index = (uint8_t)i;
    l->output = lc->output;
    l->active_low = lc->active_low;
    l->edges = lc->edges;
    l->debounce_us = lc->debounce_us;
    l->deb_due = 0;
    l->line_seqno = 0;
    if (lc->output) {
      uint8_t phys = (uint8_t)(lc->initial_value ^ lc->active_low);
      if (phys != l->phys) { l->phys = phys; on_output(s, lc->offset, s->now_ns); }
    } else {
      l->reported = l->phys ^ l->active_low;
    }
  }
  out->ops = &sim_lines_ops;
  out->ctx = r;
  out->fd = r->efd;
  return 0;
}

static const struct hw_gpio_chip_ops sim_chip_ops = { chip_info, chip_request };

/* ---------------------------------------------------------------- actuators */
static double operate_ns(enum hw_actuator_type t)
{
  switch (t) {
  case HW_ACT_MONOSTABLE: return 10e6;
  case HW_ACT_LATCHING: return 15e6;
  case HW_ACT_CONTACTOR: return 25e6;
  case HW_ACT_SSR: return 2.5e6;  /* next zero crossing, on average */
  case HW_ACT_EFUSE: return 0.5e6;
  }
  return 10e6;
}
static double release_ns(enum hw_actuator_type t)
{
  switch (t) {
  case HW_ACT_MONOSTABLE: return 5e6;
  case HW_ACT_LATCHING: return 15e6;
  case HW_ACT_CONTACTOR: return 15e6;
  case HW_ACT_SSR: return 2.5e6;
  case HW_ACT_EFUSE: return 0.1e6;
  }
  return 5e6;
}

static bool supply_ok(const struct hw_sim *s) { return s->now_ns >= s->supply_low_until; }

static void aux_update(struct hw_sim *s, struct sim_branch *b, uint64_t t, bool bounce)
{
  uint32_t aux = b->cfg->line_aux;
  if (aux == HW_LINE_NONE) return;
  uint8_t level;
  if (b->cfg->actuator == HW_ACT_EFUSE)
    level = b->contact && !b->efuse_tripped; /* power good */
  else
    level = b->contact;
  if (bounce && b->cfg->actuator != HW_ACT_EFUSE) {
    /* contact bounce: a few ms of toggling before the aux contact settles */
    uint64_t d1 = 300000 + (rng_next(s) % 200000), d2 = d1 + 400000 + (rng_next(s) % 300000);
    sched_add(s, t, aux, level);
    sched_add(s, t + d1, aux, (uint8_t)!level);
    sched_add(s, t + d2, aux, level);
  } else {
    sched_add(s, t, aux, level);
  }
}

static void contact_to(struct hw_sim *s, struct sim_branch *b, bool closed, uint64_t t)
{
  if (b->welded && !closed) return;      /* contacts fused: they stay closed */
  if (b->stuck_open && closed) return;
  if (b->contact == closed) return;
  b->contact = closed;
  aux_update(s, b, t, true);
}

static void on_output(struct hw_sim *s, unsigned line, uint64_t t)
{
  struct sim_line *l = &s->line[line];
  uint8_t phys = l->phys;
  switch (l->role) {
  case R_COIL: case R_COIL_RESET: {
    struct sim_branch *b = &s->br[l->role_idx];
    enum hw_actuator_type ty = b->cfg->actuator;
    int which = l->role == R_COIL_RESET;
    b->coil[which] = phys;
    if (ty == HW_ACT_LATCHING) {
      /* a latching relay moves only if the pulse lasts >= 3x the operate time, with supply */
      b->latch_check_t[which] = phys ? t + (uint64_t)(3 * operate_ns(ty)) : 0;
      return;
    }
    bool want = b->cfg->coil_active_low ? !phys : phys;
    if (ty == HW_ACT_EFUSE && want) b->efuse_tripped = false;
    if (want && !b->cfg->coil_active_low && !supply_ok(s) && ty != HW_ACT_SSR && ty != HW_ACT_EFUSE)
      return; /* coil cannot pull in on a low supply */
    b->pending_to = want;
    b->pending_t = t + (uint64_t)(want ? operate_ns(ty) : release_ns(ty));
    if (b->chatter && want) b->next_chatter_t = b->pending_t + 20000000;
    return;
  }
  case R_ESS_PERMIT:
    s->ess_permit = phys;
    return;
  case R_SERVICE_COIL:
    /* energise to disconnect, so a controller that is not running leaves the panel fed */
    s->service_closed = !phys;
    sched_add(s, t + 30000000, s->sc.panel.line_service_aux, (uint8_t)!phys);
    return;
  default:
    return;
  }
}

static void actuators_step(struct hw_sim *s, struct sim_branch *b, uint64_t now)
{
  if (b->pending_to >= 0 && b->pending_t <= now) {
    uint64_t t = b->pending_t;
    bool to = b->pending_to;
    b->pending_to = -1;
    contact_to(s, b, to, t);
    if (b->cfg->actuator == HW_ACT_EFUSE) aux_update(s, b, t, false);
  }
  for (int w = 0; w < 2; w++)
    if (b->latch_check_t[w] && b->latch_check_t[w] <= now) {
      uint64_t t = b->latch_check_t[w];
      b->latch_check_t[w] = 0;
      if (b->coil[w] && supply_ok(s)) contact_to(s, b, w == 0, t);
    }
  if (b->chatter && b->next_chatter_t && b->next_chatter_t <= now) {
    bool commanded = b->cfg->coil_active_low ? !b->coil[0] : b->coil[0];
    if (commanded) {
      b->contact = !b->contact;
      aux_update(s, b, b->next_chatter_t, false);
      b->next_chatter_t += 20000000 + rng_next(s) % 40000000;
    } else {
      if (!b->contact) b->next_chatter_t = 0;
      else { b->contact = false; aux_update(s, b, b->next_chatter_t, false); b->next_chatter_t = 0; }
    }
  }
}

/* ---------------------------------------------------------------- DER lines */
/* The panel's power-fail inputs (a supply monitor on the grid side) assert while the grid is
 * down; the line's level follows active_low as for any tap. */
static void power_fail_lines(struct hw_sim *s, uint64_t t)
{
  for (unsigned i = 0; i < s->sc.panel.num_taps; i++) {
    const struct hw_panel_tap *tp = &s->sc.panel.tap[i];
    if (tp->kind == HW_TAP_POWER_FAIL) sched_add(s, t, tp->line, (uint8_t)(!s->grid_up ^ tp->active_low));
  }
}

static void der_lines(struct hw_sim *s, uint64_t t)
{
  const struct hw_panel_der *d = &s->sc.panel.der;
  if (d->pv) {
    sched_add(s, t, d->line_pv_grid_tied, s->pv_state == 0 && s->grid_up);
    sched_add(s, t, d->line_pv_fault, s->pv_state == 2);
  }
  if (d->ess) {
    sched_add(s, t, d->line_ess_charging, s->ess_state == 1 && s->ess_permit);
    sched_add(s, t, d->line_ess_discharging, s->ess_state == 2 && s->ess_permit);
    sched_add(s, t, d->line_ess_alarm, s->ess_state == 3);
  }
  if (d->ats) {
    sched_add(s, t, d->line_ats_grid_present, s->grid_up);
    sched_add(s, t, d->line_ats_on_backup, s->on_backup);
    sched_add(s, t, d->line_ats_interlock_ok, s->interlock_ok);
  }
}

/* ---------------------------------------------------------------- timeline */
static void freq_steps(struct hw_sim *s)
{
  double w = 2 * M_PI * (s->freq_set + s->freq_drift) * 125e-6;
  s->step_c = cos(w);
  s->step_s = sin(w);
}

static void apply_event(struct hw_sim *s, const struct hw_scenario_event *e)
{
  uint64_t t = e->t_ns;
  int bi = -1;
  for (unsigned i = 0; i < s->sc.panel.num_branches; i++)
    if (s->sc.panel.branch[i].number == e->branch) bi = (int)i;
  struct sim_branch *b = bi >= 0 ? &s->br[bi] : NULL;
  switch (e->kind) {
  case HW_EV_LOAD:
    if (!b) return;
    b->load_on = e->on;
    if (!isnan(e->value)) b->power_w = e->value;
    branch_coeffs(s, b);
    return;
  case HW_EV_GRID: {
    uint8_t ph = e->phases ? e->phases : 7;
    switch (e->sub) {
    case HW_GRID_SAG: case HW_GRID_SWELL:
      for (int p = 0; p < 3; p++)
        if (ph & (1 << p)) { s->grid_factor[p] = e->value / 100.0; s->sag_end_ns[p] = t + e->duration_ns; }
      return;
    case HW_GRID_OUTAGE:
      s->grid_up = false;
      s->ats_due_ns = s->sc.panel.der.ats ? t + 3000000000ull : 0;
      der_lines(s, t);
      power_fail_lines(s, t);
      return;
    case HW_GRID_RESTORE:
      s->grid_up = true;
      s->ats_due_ns = s->on_backup ? t + 5000000000ull : 0;
      der_lines(s, t);
      power_fail_lines(s, t);
      return;
    case HW_GRID_FREQ:
      s->freq_set = e->value;
      freq_steps(s);
      return;
    }
    return;
  }
  case HW_EV_TAP: {
    const struct hw_panel_tap *tp = &s->sc.panel.tap[e->tap];
    uint8_t level = (uint8_t)(e->on ^ tp->active_low);
    if (e->mandatory) { /* bounce */
      sched_add(s, t, tp->line, level);
      sched_add(s, t + 400000, tp->line, (uint8_t)!level);
      sched_add(s, t + 1100000, tp->line, level);
      sched_add(s, t + 1500000 + rng_next(s) % 500000, tp->line, (uint8_t)!level);
      sched_add(s, t + 2600000, tp->line, level);
    } else {
      sched_add(s, t, tp->line, level);
    }
    if (tp->branch && (tp->kind == HW_TAP_RCD || tp->kind == HW_TAP_MCB || tp->kind == HW_TAP_AFCI))
      for (unsigned i = 0; i < s->sc.panel.num_branches; i++)
        if (s->sc.panel.branch[i].number == tp->branch) s->br[i].breaker_open = e->on;
    return;
  }
  case HW_EV_DER:
    if (e->sub == 0) {
      s->pv_state = e->modification;
      if (!isnan(e->value)) s->pv_w = e->value;
    } else if (e->sub == 1) {
      s->ess_state = e->modification;
      if (!isnan(e->value)) s->ess_w = e->value;
    } else {
      if (e->modification == 0) s->on_backup = false;
      else if (e->modification == 1) s->on_backup = true;
      else s->interlock_ok = e->modification == 3;
      s->ats_due_ns = 0;
    }
    der_lines(s, t);
    return;
  case HW_EV_FAULT:
    switch (e->sub) {
    case HW_FAULT_WELDED: if (b) b->welded = true; return;
    case HW_FAULT_STUCK_OPEN: if (b) b->stuck_open = true; return;
    case HW_FAULT_CHATTER: if (b) { b->chatter = true; b->next_chatter_t = t + 20000000; } return;
    case HW_FAULT_SSR_LEAKAGE: if (b) b->leak_fault = true; return;
    case HW_FAULT_REVERSED_CT: if (b) b->reversed = true; return;
    case HW_FAULT_PHASE_SWAP: if (b) { b->actual_phase = (enum hw_phase)(int)e->value; branch_coeffs(s, b); } return;
    case HW_FAULT_SPI_CRC_BURST: s->afe[e->afe].crc_burst += (unsigned)e->value; return;
    case HW_FAULT_MISSING_CHIP: s->afe[e->afe].missing = true; return;
    /* the chip answers again, as after a power cycle of its board: registers at reset values */
    case HW_FAULT_CLOCK_OFFSET: s->sync_offset_ns = (int64_t)llround(e->value * 1e9); return;
    case HW_FAULT_CHIP_BACK: s->afe[e->afe].missing = false; ade_emul_power_cycle(&s->afe[e->afe]); return;
    case HW_FAULT_CLOCK_STEP: s->wall_offset_ns += (int64_t)llround(e->value * 1e9); s->clock_unsynced = true; return;
    /* time synchronisation regained: the clock is stepped back to true time (or by `seconds`
     * when given) and says synced again, as an NTP client's step does */
    case HW_FAULT_CLOCK_SYNC:
      s->wall_offset_ns = isnan(e->value) ? 0 : s->wall_offset_ns + (int64_t)llround(e->value * 1e9);
      s->clock_unsynced = false;
      return;
    case HW_FAULT_GPIO_OVERFLOW: {
      uint32_t line = b && b->cfg->line_aux != HW_LINE_NONE ? b->cfg->line_aux : (b ? b->cfg->line_sense : HW_LINE_NONE);
      if (line == HW_LINE_NONE) return;
      uint8_t cur = s->line[line].phys;
      unsigned n = (unsigned)e->value;
      for (unsigned k = 0; k < n; k++) {
        sched_add(s, t + 2 * k * 20000ull, line, (uint8_t)!cur);
        sched_add(s, t + (2 * k + 1) * 20000ull, line, cur);
      }
      return;
    }
    case HW_FAULT_CLEAR:
      if (b) {
        b->welded = b->stuck_open = b->chatter = b->leak_fault = b->reversed = false;
        b->actual_phase = b->cfg->phase;
        branch_coeffs(s, b);
      }
      return;
    }
    return;
  case HW_EV_SUPPLY_LOW:
    s->supply_low_until = t + e->duration_ns;
    break;
  default:
    break;
  }
  /* non-hardware stimuli (and supply_low, which is both) go to the caller */
  if (s->stim_count < HW_SCENARIO_MAX_EVENTS) {
    struct hw_stimulus *st = &s->stim[(s->stim_head + s->stim_count++) % HW_SCENARIO_MAX_EVENTS];
    st->t_ns = t;
    st->ev = *e;
  }
}

/* ---------------------------------------------------------------- signals */
static void mains_step(struct hw_sim *s)
{
  /* rotor: one complex multiply per sample, renormalised every 1024 samples */
  double c = s->rot_c * s->step_c - s->rot_s * s->step_s;
  double sn = s->rot_s * s->step_c + s->rot_c * s->step_s;
  s->rot_c = c, s->rot_s = sn;
  if ((s->sample_no & 1023) == 0) {
    double m = 1.0 / sqrt(c * c + sn * sn);
    s->rot_c *= m, s->rot_s *= m;
  }
  bool live = (s->grid_up || s->on_backup) && s->service_closed;
  bool split = s->sc.panel.mains == HW_MAINS_SPLIT_120_240_60;
  unsigned nph = split ? 2 : 3;
  for (unsigned p = 0; p < nph; p++) {
    double wc = s->rot_c * s->ph_c[p] - s->rot_s * s->ph_s[p];
    double ws = s->rot_s * s->ph_c[p] + s->rot_c * s->ph_s[p];
    s->c1[p] = wc;
    s->s[p][1] = ws;
    double pc = wc, ps = ws, w2c = wc * wc - ws * ws, w2s = 2 * wc * ws;
    for (int h = 3; h <= s->hmax; h += 2) {
      double nc = pc * w2c - ps * w2s, ns = ps * w2c + pc * w2s;
      pc = nc, ps = ns;
      s->s[p][h] = ps;
    }
    double f = s->grid_up ? s->grid_factor[p] : 1.0; /* backup inverter: clean nominal */
    double a = live ? s->nominal_pk * f : 0;
    double v = ws;
    for (int h = 3, k = 0; h <= 17 && h <= s->hmax; h += 2, k++)
      if (s->sc.v_harmonic_pct[k] != 0) v += s->sc.v_harmonic_pct[k] * 0.01 * s->s[p][h];
    s->amp[p] = a;
    s->v[p] = a * v;
  }
  if (split) {
    /* L2 is L1 inverted; L12 = L1 - L2 (240 V in phase with L1) */
    s->amp[HW_PHASE_L12] = s->amp[0] + s->amp[1];
    s->v[HW_PHASE_L12] = s->v[0] - s->v[1];
    s->c1[HW_PHASE_L12] = s->c1[0];
    for (int h = 1; h <= s->hmax; h += 2) s->s[HW_PHASE_L12][h] = s->s[0][h];
  }
}

static void branch_coeffs(const struct hw_sim *s, struct sim_branch *b)
{
  double vn = s->sc.panel.nominal_v * (b->actual_phase == HW_PHASE_L12 ? 2 : 1);
  b->k_res = b->power_w / (vn * vn);
  b->ipk = M_SQRT2 * b->power_w / vn;
  b->vn_pk = vn * M_SQRT2;
  b->inv_vn_pk = 1.0 / (s->sc.panel.nominal_v * M_SQRT2);
  b->pf = b->load.pf > 0 ? b->load.pf : 1;
  b->sphi_over_pf = sqrt(1 - b->pf * b->pf) / b->pf;
}

static double branch_current(struct hw_sim *s, struct sim_branch *b, double *out_vl)
{
  unsigned p = b->actual_phase;
  double vn = s->sc.panel.nominal_v * (p == HW_PHASE_L12 ? 2 : 1);
  double vpk_n = b->vn_pk;
  bool conducting = b->contact && !b->breaker_open && !b->efuse_tripped;
  bool ssr_leak = !conducting && b->cfg->actuator == HW_ACT_SSR && !b->breaker_open;
  double g = s->amp[p] * b->inv_vn_pk; /* bus amplitude, per unit */
  const struct hw_scenario_load *ld = &b->load;
  double i = 0, vl = conducting ? s->v[p] : 0;
  bool source = ld->kind == HW_LOAD_PV || ld->kind == HW_LOAD_ESS;
  bool energized = conducting && g > 0.05 && (b->load_on || source);
  if (energized && !b->energized) b->on_since_ns = s->now_ns;
  b->energized = energized;
  if (energized) {
    double ipk = b->ipk;
    double tt = (double)(s->now_ns - b->on_since_ns) * 1e-9;
    switch (ld->kind) {
    case HW_LOAD_NONE: break;
    case HW_LOAD_RESISTIVE:
      i = b->k_res * s->v[p];
      break;
    case HW_LOAD_MOTOR: case HW_LOAD_HEATPUMP: {
      double k = ld->kind == HW_LOAD_MOTOR ? 6.0 : 3.0, tau = ld->kind == HW_LOAD_MOTOR ? 0.12 : 0.3;
      double env = tt < 8 * tau ? 1 + (k - 1) * exp(-tt / tau) : 1;
      i = env * g * ipk * (s->s[p][1] - s->c1[p] * b->sphi_over_pf);
      break;
    }
    case HW_LOAD_SMPS: case HW_LOAD_PHANTOM:
      i = g * ipk * (s->s[p][1] + 0.75 * s->s[p][3] + 0.5 * s->s[p][5] + 0.3 * s->s[p][7] + 0.15 * s->s[p][9]);
      break;
    case HW_LOAD_EV: {
      double r = ld->ramp_s > 0 && tt < ld->ramp_s ? tt / ld->ramp_s : 1;
      i = r * g * ipk * s->s[p][1];
      break;
    }
    case HW_LOAD_PV:
      i = (s->pv_state == 0 || s->pv_state == 3) && s->grid_up ? -M_SQRT2 * s->pv_w / vn * s->s[p][1] : 0;
      break;
    case HW_LOAD_ESS: {
      double w = s->ess_permit ? s->ess_w : 0;
      if (s->ess_state == 2 || (s->on_backup && !s->grid_up)) i = -M_SQRT2 * w / vn * s->s[p][1];
      else if (s->ess_state == 1) i = M_SQRT2 * w / vn * s->s[p][1];
      break;
    }
    }
    if (b->cfg->actuator == HW_ACT_EFUSE && fabs(i) > 2.5 * M_SQRT2 * b->cfg->breaker_a) {
      b->efuse_tripped = true; /* electronic fuse: fast overcurrent trip, power-good drops */
      aux_update(s, b, s->now_ns, false);
    }
  } else if (ssr_leak && g > 0.05) {
    double gl = (b->leak_fault ? 0.08 : 0.004) / s->sc.panel.nominal_v; /* off-state leakage */
    i = gl * s->v[p];
    double rl = b->power_w > 0 && ld->kind == HW_LOAD_RESISTIVE ? vn * vn / b->power_w : 1000;
    vl = i * rl;
  }
  if (!conducting && ld->kind == HW_LOAD_PV && s->pv_state == 3 && !s->grid_up) {
    /* anti-islanding failed: the inverter keeps its branch's load side energised */
    vl = vpk_n * s->s[p][1];
  }
  *out_vl = vl;
  return i;
}

static void end_cycle(struct hw_sim *s, uint64_t t)
{
  double vn = s->sc.panel.nominal_v;
  for (unsigned i = 0; i < s->sc.panel.num_branches; i++) {
    struct sim_branch *b = &s->br[i];
    b->irms = sqrt(b->cyc_ii / s->cyc_n);
    b->vlrms = sqrt(b->cyc_vv / s->cyc_n);
    b->cyc_ii = b->cyc_vv = 0;
    uint32_t sense = b->cfg->line_sense;
    if (sense != HW_LINE_NONE) line_set(s, sense, b->vlrms > 0.5 * vn, t);
  }
  for (int p = 0; p < 3; p++)
    if (s->sag_end_ns[p] && s->sag_end_ns[p] <= t) { s->grid_factor[p] = 1; s->sag_end_ns[p] = 0; }
  s->cyc_n = 0;
}

static void sample(struct hw_sim *s)
{
  uint64_t now = s->now_ns;
  while (s->next_event < s->sc.num_events && s->sc.event[s->next_event].t_ns <= now)
    apply_event(s, &s->sc.event[s->next_event++]);
  if (s->nsched && s->sched[0].t_ns <= now) run_sched(s, now);
  run_debounce(s, now);
  if (s->ats_due_ns && s->ats_due_ns <= now) {
    s->on_backup = !s->grid_up && s->sc.panel.der.ess;
    s->ats_due_ns = 0;
    der_lines(s, now);
  }
  if (s->sample_no % 800 == 0 && s->sc.freq_drift_hz > 0) { /* slow frequency wander */
    s->freq_drift += (rng_uniform(s) - 0.5) * 0.01;
    if (s->freq_drift > s->sc.freq_drift_hz) s->freq_drift = s->sc.freq_drift_hz;
    if (s->freq_drift < -s->sc.freq_drift_hz) s->freq_drift = -s->sc.freq_drift_hz;
    freq_steps(s);
  }
  mains_step(s);
  const struct hw_panel *pn = &s->sc.panel;
  double line_i[CONDUCTORS] = { 0 };
  for (unsigned k = 0; k < pn->num_branches; k++) {
    struct sim_branch *b = &s->br[k];
    actuators_step(s, b, now);
    double vl;
    double i = branch_current(s, b, &vl);
    b->i_ct = i;
    b->cyc_ii += i * i;
    b->cyc_vv += vl * vl;
    if (fabs(i) > b->ipeak) b->ipeak = fabs(i);
    if (b->actual_phase == HW_PHASE_L12) { line_i[0] += i; line_i[1] -= i; }
    else line_i[b->actual_phase] += i;
  }
  if (pn->der.ess && s->ess_state && s->ess_permit) {
    double dir = s->ess_state == 1 ? 1 : s->ess_state == 2 ? -1 : 0;
    s->ess_soc += dir * s->ess_w * 125e-6 / 3600.0 / pn->der.ess_capacity_wh * 100.0;
    if (s->ess_soc < 0) s->ess_soc = 0;
    if (s->ess_soc > 100) s->ess_soc = 100;
  }
  /* AFE inputs */
  for (unsigned a = 0; a < pn->num_afes; a++) {
    const struct hw_panel_afe *af = &pn->afe[a];
    double vp[3], ip[4];
    uint64_t r = rng_next(s), r2 = rng_next(s);
    double nz = s->sc.noise_rel * (1.0 / 32768.0);
    for (int k = 0; k < 3; k++) {
      double v = s->v[af->v_phase[k]];
      double i;
      if (af->mains) {
        i = af->v_phase[k] == HW_PHASE_L12 ? 0 : line_i[af->v_phase[k]];
      } else {
        int bi = s->br_at[a][k];
        i = bi < 0 ? 0 : (s->br[bi].reversed ? -s->br[bi].i_ct : s->br[bi].i_ct);
      }
      s->v_in[a][k] = v;
      s->i_in[a][k] = i;
      vp[k] = v * s->v_scale[a] + nz * (double)((int16_t)(r >> (16 * k)));
      ip[k] = i * s->i_scale[a][k] + nz * (double)((int16_t)(r2 >> (16 * k)));
    }
    s->i_in[a][3] = af->mains ? line_i[0] + line_i[1] + line_i[2] : 0;
    ip[3] = s->i_in[a][3] * s->i_scale[a][3];
    ade_emul_push(&s->afe[a], vp, ip);
    bool irq = ade_emul_irq0(&s->afe[a]);
    if (irq != s->irq[a]) {
      s->irq[a] = irq;
      line_set(s, af->line_irq, (uint8_t)!irq, now); /* IRQ0 is active low */
    }
  }
  if (s->hook) {
    struct hw_sim_frame f = { now, pn->num_afes, (const double (*)[3])s->v_in, (const double (*)[4])s->i_in };
    s->hook(s->hook_user, &f);
  }
  s->cyc_n++;
  s->cyc_acc += (unsigned)s->freq_nom;
  if (s->cyc_acc >= 8000) { s->cyc_acc -= 8000; end_cycle(s, now); }
  s->sample_no++;
  s->now_ns += HW_SIM_SAMPLE_NS;
}

/* ---------------------------------------------------------------- public */
int hw_sim_create(struct hw_sim **out, const struct hw_scenario *sc, uint64_t seed, char *err, size_t err_len)
{
  *out = NULL;
  struct hw_sim *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  s->sc = *sc;
  s->seed = seed;
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
  const struct hw_panel *p = &s->sc.panel;
  bool split = p->mains == HW_MAINS_SPLIT_120_240_60;
  s->nominal_pk = p->nominal_v * M_SQRT2;
  s->freq_nom = p->freq_hz;
  s->freq_set = p->freq_hz;
  s->rot_c = 1, s->rot_s = 0;
  freq_steps(s);
  double off[3] = { 0, split ? M_PI : -2 * M_PI / 3, 2 * M_PI / 3 };
  for (int k = 0; k < 3; k++) { s->ph_c[k] = cos(off[k]); s->ph_s[k] = sin(off[k]); }
  s->hmax = 9;
  for (int k = 0; k < 8; k++) if (s->sc.v_harmonic_pct[k] != 0 && 3 + 2 * k > s->hmax) s->hmax = 3 + 2 * k;
  for (int k = 0; k < 3; k++) s->grid_factor[k] = 1;
  s->grid_up = true;
  s->interlock_ok = true;
  s->service_closed = true;
  s->ess_soc = 60;
  s->ess_permit = false;
  s->pv_w = p->der.pv ? p->der.pv_peak_w * 0.5 : 0;
  s->ess_w = p->der.ess ? p->der.ess_max_w * 0.5 : 0;
  for (unsigned i = 0; i < NLINES; i++) s->line[i].req = -1;
  for (unsigned i = 0; i < NREQ; i++) s->req[i].efd = -1;
  for (unsigned a = 0; a < HW_MAX_AFES; a++) for (int k = 0; k < 3; k++) s->br_at[a][k] = -1;
  for (unsigned i = 0; i < p->num_branches; i++) {
    struct sim_branch *b = &s->br[i];
    b->cfg = &p->branch[i];
    b->load = s->sc.load[i];
    b->load_on = b->load.on;
    b->power_w = b->load.power_w;
    if (b->load.kind == HW_LOAD_PV) b->power_w = p->der.pv_peak_w;
    b->pending_to = -1;
    b->actual_phase = b->cfg->phase;
    branch_coeffs(s, b);
    s->br_at[b->cfg->afe][b->cfg->channel] = (int)i;
    /* initial contacts: NC monostables are closed unpowered; latching keep the scenario's */
    if (b->cfg->actuator == HW_ACT_LATCHING) b->contact = b->load.closed;
    else b->contact = b->cfg->coil_active_low && b->cfg->actuator != HW_ACT_SSR && b->cfg->actuator != HW_ACT_EFUSE;
    if (b->cfg->line_coil < NLINES) { s->line[b->cfg->line_coil].role = R_COIL; s->line[b->cfg->line_coil].role_idx = (uint8_t)i; }
    else if (b->cfg->line_coil != HW_LINE_NONE) goto bad_line;
    if (b->cfg->line_coil_reset < NLINES) { s->line[b->cfg->line_coil_reset].role = R_COIL_RESET; s->line[b->cfg->line_coil_reset].role_idx = (uint8_t)i; }
    if (b->cfg->line_aux < NLINES) s->line[b->cfg->line_aux].phys = b->cfg->actuator == HW_ACT_EFUSE ? 0 : b->contact;
  }
  if (p->der.line_ess_permit < NLINES) s->line[p->der.line_ess_permit].role = R_ESS_PERMIT;
  if (p->line_service_coil < NLINES) s->line[p->line_service_coil].role = R_SERVICE_COIL;
  if (p->line_service_aux < NLINES) s->line[p->line_service_aux].phys = 1;
  for (unsigned t = 0; t < p->num_taps; t++)
    if (p->tap[t].line < NLINES) s->line[p->tap[t].line].phys = p->tap[t].active_low;
    else goto bad_line;
  for (unsigned a = 0; a < p->num_afes; a++) {
    ade_emul_init(&s->afe[a]);
    const struct hw_panel_afe *af = &p->afe[a];
    if (af->line_irq < NLINES) s->line[af->line_irq].phys = 1;
    s->v_scale[a] = 1.0 / af->v_ratio;
    for (int k = 0; k < 3; k++) {
      int bi = s->br_at[a][k];
      double ct = af->mains ? af->mains_ct_ratio : bi >= 0 ? p->branch[bi].ct_ratio : 2000;
      s->i_scale[a][k] = af->burden_ohm / ct; /* A primary → V at the pin */
    }
    s->i_scale[a][3] = af->burden_ohm / af->mains_ct_ratio;
  }
  s->chip.ops = &sim_chip_ops;
  s->chip.ctx = s;
  der_lines(s, 0);
  run_sched(s, 0);
  *out = s;
  return 0;
bad_line:
  if (err && err_len) snprintf(err, err_len, "%s: a GPIO line offset is beyond the simulated chip's %d lines", sc->name, NLINES);
  free(s);
  return HW_ESCENARIO;
}

void hw_sim_destroy(struct hw_sim *s)
{
  if (!s) return;
  for (unsigned i = 0; i < NREQ; i++) if (s->req[i].efd >= 0) close(s->req[i].efd);
  free(s);
}

int hw_sim_advance(struct hw_sim *s, uint64_t ns)
{
  uint64_t total = s->carry_ns + ns;
  uint64_t n = total / HW_SIM_SAMPLE_NS;
  s->carry_ns = total % HW_SIM_SAMPLE_NS;
  for (uint64_t k = 0; k < n; k++) sample(s);
  /* entries scheduled exactly at the new "now" are due now, so the caller sees them */
  while (s->next_event < s->sc.num_events && s->sc.event[s->next_event].t_ns <= s->now_ns)
    apply_event(s, &s->sc.event[s->next_event++]);
  return 0;
}

uint64_t hw_sim_now_ns(const struct hw_sim *s) { return s->now_ns; }
uint64_t hw_sim_wall_ns(const struct hw_sim *s) { return (uint64_t)((int64_t)(SIM_EPOCH_NS + s->now_ns) + s->wall_offset_ns); }
bool hw_sim_clock_synced(const struct hw_sim *s) { return !s->clock_unsynced; }
int64_t hw_sim_clock_offset_ns(const struct hw_sim *s) { return s->clock_unsynced ? 0 : s->sync_offset_ns; }
const struct hw_panel *hw_sim_panel(const struct hw_sim *s) { return &s->sc.panel; }
struct hw_spi *hw_sim_afe_spi(struct hw_sim *s, unsigned afe) { return afe < s->sc.panel.num_afes ? &s->afe[afe].spi : NULL; }
struct hw_gpio_chip *hw_sim_gpio_chip(struct hw_sim *s) { return &s->chip; }
void hw_sim_set_frame_hook(struct hw_sim *s, hw_sim_frame_fn fn, void *user) { s->hook = fn; s->hook_user = user; }

unsigned hw_sim_poll_stimuli(struct hw_sim *s, struct hw_stimulus *out, unsigned max)
{
  unsigned k = 0;
  while (k < max && s->stim_count) {
    out[k++] = s->stim[s->stim_head];
    s->stim_head = (s->stim_head + 1) % HW_SCENARIO_MAX_EVENTS;
    s->stim_count--;
  }
  return k;
}

int hw_sim_branch_truth(struct hw_sim *s, unsigned number, struct hw_sim_branch_truth *out)
{
  for (unsigned i = 0; i < s->sc.panel.num_branches; i++)
    if (s->br[i].cfg->number == number) {
      struct sim_branch *b = &s->br[i];
      out->contact_closed = b->contact;
      out->breaker_open = b->breaker_open;
      out->load_on = b->load_on;
      out->current_rms_a = b->irms;
      out->current_peak_a = b->ipeak;
      out->load_side_v = b->vlrms;
      b->ipeak = 0;
      return 0;
    }
  return -ENOENT;
}

void hw_sim_der_status(const struct hw_sim *s, struct hw_sim_der_status *o)
{
  memset(o, 0, sizeof *o);
  o->grid_present = s->grid_up;
  o->on_backup = s->on_backup;
  o->interlock_ok = s->interlock_ok;
  o->pv_grid_tied = s->pv_state == 0 && s->grid_up;
  o->pv_fault = s->pv_state == 2;
  o->ess_permit = s->ess_permit;
  o->pv_w = o->pv_grid_tied ? s->pv_w : 0;
  o->ess_w = !s->ess_permit ? 0 : s->ess_state == 1 ? s->ess_w : s->ess_state == 2 ? -s->ess_w : 0;
  o->ess_soc_pct = s->ess_soc;
}

void hw_panel_ade9000_config(const struct hw_panel *p, unsigned afe, struct hw_ade9000_config *out)
{
  memset(out, 0, sizeof *out);
  const struct hw_panel_afe *a = &p->afe[afe];
  out->mains_60hz = p->mains == HW_MAINS_SPLIT_120_240_60;
  out->waveform = a->mains;
  out->nominal_v = a->v_phase[0] == HW_PHASE_L12 ? 2 * p->nominal_v : p->nominal_v;
  for (int k = 0; k < 3; k++) {
    out->v_ratio[k] = a->v_ratio;
    double ct = a->mains ? a->mains_ct_ratio : 2000;
    for (unsigned i = 0; i < p->num_branches; i++)
      if (p->branch[i].afe == afe && p->branch[i].channel == (unsigned)k) ct = p->branch[i].ct_ratio;
    out->i_a_per_v[k] = ct / a->burden_ohm;
  }
  out->i_a_per_v[3] = a->mains_ct_ratio / a->burden_ohm;
}
