/*
 * test_sim.c — the simulated panel seen through the same interfaces the daemon uses: shipped
 * scenarios load; same seed ⇒ byte-identical sample/event/stimulus streams (hashed), another
 * seed differs; physics sanity (motor inrush, SSR leakage, welded relay, PV backfeed voltage);
 * the ADE9000 driver over the emulated SPI against the simulator's ground truth; GPIO debounce,
 * edge order, seqno gaps and caller-supplied initial output values.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hw.h"

static struct hw_scenario *load_sc(const char *name)
{
  struct hw_scenario *sc = malloc(sizeof *sc);
  char err[256];
  int r = hw_scenario_load(sc, name, err, sizeof err);
  if (r) fprintf(stderr, "%s\n", err);
  assert_int_equal(r, 0);
  return sc;
}

static struct hw_sim *make(const char *name, uint64_t seed)
{
  struct hw_scenario *sc = load_sc(name);
  struct hw_sim *s;
  char err[256];
  assert_int_equal(hw_sim_create(&s, sc, seed, err, sizeof err), 0);
  free(sc);
  return s;
}

static struct hw_scenario *parse_sc(const char *json)
{
  struct hw_scenario *sc = malloc(sizeof *sc);
  char err[256];
  int r = hw_scenario_parse(sc, json, strlen(json), "test.json", err, sizeof err);
  if (r) fprintf(stderr, "%s\n", err);
  assert_int_equal(r, 0);
  return sc;
}

static void shipped_scenarios_load(void **st)
{
  const char *const *names = hw_scenario_names();
  const char *want[] = { "default", "sag-and-inrush", "welded-relay", "grid-outage-transfer",
                         "reversed-ct", "service-overload", "full-panel" };
  for (unsigned i = 0; i < 7; i++) {
    bool found = false;
    for (const char *const *n = names; *n; n++) found |= !strcmp(*n, want[i]);
    assert_true(found);
    struct hw_sim *s = make(want[i], 1);
    hw_sim_destroy(s);
  }
  struct hw_scenario *sc = load_sc("default");
  assert_int_equal(sc->panel.num_branches, 24);
  for (unsigned n = 1; n <= 4; n++) {
    const struct hw_panel_branch *b = hw_panel_branch_by_number(&sc->panel, n);
    assert_non_null(b);
    assert_int_equal(b->actuator, HW_ACT_MONOSTABLE);
    assert_int_equal(sc->load[n - 1].kind, HW_LOAD_RESISTIVE);
    for (unsigned e = 0; e < sc->num_events; e++) assert_int_not_equal(sc->event[e].branch, n);
  }
  for (unsigned e = 0; e < sc->num_events; e++) assert_true(sc->event[e].t_ns <= 240000000000ull);
  free(sc);
  sc = load_sc("full-panel");
  assert_int_equal(sc->panel.num_branches, 48);
  assert_int_equal(sc->panel.num_afes, 16);
  free(sc);
  char err[256];
  sc = malloc(sizeof *sc);
  assert_int_equal(hw_scenario_load(sc, "no-such-scenario", err, sizeof err), HW_ENOSCENARIO);
  assert_non_null(strstr(err, "default"));
  free(sc);
}

/* FNV-1a over everything observable */
struct hasher { uint64_t h; uint64_t frames; };
static void mix(struct hasher *x, const void *p, size_t n)
{
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++) { x->h ^= c[i]; x->h *= 0x100000001b3ull; }
}
static void frame_hook(void *user, const struct hw_sim_frame *f)
{
  struct hasher *x = user;
  mix(x, &f->t_ns, sizeof f->t_ns);
  mix(x, f->v_v, sizeof(double) * 3 * f->num_afes);
  mix(x, f->i_a, sizeof(double) * 4 * f->num_afes);
  x->frames++;
}

/* Requests every panel-driven input line with both edges, in requests of <= 64 lines. */
static unsigned request_inputs(struct hw_sim *s, struct hw_gpio_lines *req, unsigned max_req, uint32_t debounce_us)
{
  const struct hw_panel *p = hw_sim_panel(s);
  struct hw_gpio_request_config cfg = { .consumer = "test" };
  unsigned nreq = 0;
  uint32_t lines[256];
  unsigned n = 0;
  for (unsigned i = 0; i < p->num_branches; i++) {
    if (p->branch[i].line_aux != HW_LINE_NONE) lines[n++] = p->branch[i].line_aux;
    lines[n++] = p->branch[i].line_sense;
  }
  for (unsigned i = 0; i < p->num_taps; i++) lines[n++] = p->tap[i].line;
  for (unsigned i = 0; i < p->num_afes; i++) lines[n++] = p->afe[i].line_irq;
  for (unsigned k = 0; k < n;) {
    cfg.num_lines = 0;
    while (k < n && cfg.num_lines < 64) {
      cfg.lines[cfg.num_lines++] = (struct hw_gpio_line_config){ .offset = lines[k++], .edges = HW_GPIO_EDGE_BOTH, .debounce_us = debounce_us };
    }
    assert_true(nreq < max_req);
    assert_int_equal(hw_gpio_request(hw_sim_gpio_chip(s), &cfg, &req[nreq]), 0);
    nreq++;
  }
  return nreq;
}

static uint64_t run_hash(const char *name, uint64_t seed, double seconds)
{
  struct hw_sim *s = make(name, seed);
  struct hasher x = { 0xcbf29ce484222325ull, 0 };
  hw_sim_set_frame_hook(s, frame_hook, &x);
  struct hw_gpio_lines req[8];
  unsigned nreq = request_inputs(s, req, 8, 0);
  struct hw_gpio_event ev[64];
  struct hw_stimulus stim[16];
  for (double t = 0; t < seconds; t += 0.01) {
    hw_sim_advance(s, 10000000);
    for (unsigned r = 0; r < nreq; r++) {
      unsigned n;
      do {
        assert_int_equal(hw_gpio_read_events(&req[r], ev, 64, &n), 0);
        for (unsigned k = 0; k < n; k++) {
          mix(&x, &ev[k].timestamp_ns, 8); mix(&x, &ev[k].offset, 4); mix(&x, &ev[k].rising, 1);
          mix(&x, &ev[k].seqno, 4);
        }
      } while (n == 64);
    }
    unsigned k = hw_sim_poll_stimuli(s, stim, 16);
    for (unsigned i = 0; i < k; i++) { mix(&x, &stim[i].t_ns, 8); mix(&x, stim[i].ev.id, sizeof stim[i].ev.id); }
  }
  assert_int_equal(x.frames, (uint64_t)llround(seconds * 8000));
  for (unsigned r = 0; r < nreq; r++) hw_gpio_release(&req[r]);
  hw_sim_destroy(s);
  return x.h;
}

static void determinism(void **st)
{
  uint64_t a = run_hash("sag-and-inrush", 7, 2.0), b = run_hash("sag-and-inrush", 7, 2.0);
  uint64_t c = run_hash("sag-and-inrush", 8, 2.0);
  assert_true(a == b);
  assert_true(a != c);
}

/* Requests one output line with a logical initial value. */
static void req_out(struct hw_sim *s, uint32_t line, bool initial, bool active_low, struct hw_gpio_lines *l)
{
  struct hw_gpio_request_config cfg = { .consumer = "coil", .num_lines = 1 };
  cfg.lines[0] = (struct hw_gpio_line_config){ .offset = line, .output = true, .initial_value = initial, .active_low = active_low };
  assert_int_equal(hw_gpio_request(hw_sim_gpio_chip(s), &cfg, l), 0);
}

static void motor_inrush(void **st)
{
  struct hw_sim *s = make("sag-and-inrush", 1);
  const struct hw_panel_branch *b = hw_panel_branch_by_number(hw_sim_panel(s), 3);
  struct hw_gpio_lines coil;
  req_out(s, b->line_coil, false, b->coil_active_low, &coil);
  hw_sim_advance(s, 1000000000);
  struct hw_sim_branch_truth t;
  assert_int_equal(hw_sim_branch_truth(s, 3, &t), 0);
  assert_false(t.contact_closed);
  assert_true(t.current_peak_a < 0.01);
  assert_int_equal(hw_gpio_set(&coil, 1, 1), 0);
  hw_sim_advance(s, 200000000);
  assert_int_equal(hw_sim_branch_truth(s, 3, &t), 0);
  double inrush_peak = t.current_peak_a;
  hw_sim_advance(s, 3000000000ull);
  assert_int_equal(hw_sim_branch_truth(s, 3, &t), 0); /* resets the peak */
  hw_sim_advance(s, 200000000);
  assert_int_equal(hw_sim_branch_truth(s, 3, &t), 0);
  assert_true(t.contact_closed);
  assert_true(t.current_peak_a > 5);
  assert_true(inrush_peak >= 5 * t.current_peak_a); /* peak vs steady peak */
  hw_gpio_release(&coil);
  hw_sim_destroy(s);
}

static void ssr_leakage_and_register_path(void **st)
{
  struct hw_sim *s = make("default", 3);
  const struct hw_panel *p = hw_sim_panel(s);
  const struct hw_panel_branch *b16 = hw_panel_branch_by_number(p, 16), *b2 = hw_panel_branch_by_number(p, 2);
  assert_int_equal(b16->actuator, HW_ACT_SSR);
  /* the SSR gate is never driven: off, but a few mA leak with the bus live */
  hw_sim_advance(s, 1000000000);
  struct hw_sim_branch_truth t;
  assert_int_equal(hw_sim_branch_truth(s, 16, &t), 0);
  assert_false(t.contact_closed);
  assert_true(t.current_rms_a > 0.001 && t.current_rms_a < 0.05);
  /* the same residual through the real driver on the emulated AFE */
  struct hw_ade9000 dev;
  struct hw_ade9000_config cfg;
  hw_panel_ade9000_config(p, b16->afe, &cfg);
  assert_int_equal(hw_ade9000_init(&dev, hw_sim_afe_spi(s, b16->afe), &cfg), 0);
  hw_sim_advance(s, 1100000000);
  struct hw_ade9000_metrics m;
  assert_int_equal(hw_ade9000_read_metrics(&dev, &m), 0);
  double leak = m.ph[b16->channel].irms_a;
  assert_true(leak > 0.001 && leak < 0.05);
  assert_true(m.ph[b16->channel].vrms_v > 200); /* voltage present */
  /* branch 2: 1500 W heater, NC relay closed: P = V I, PF 1, through the driver */
  struct hw_ade9000 dev2;
  hw_panel_ade9000_config(p, b2->afe, &cfg);
  assert_int_equal(hw_ade9000_init(&dev2, hw_sim_afe_spi(s, b2->afe), &cfg), 0);
  hw_sim_advance(s, 1100000000);
  assert_int_equal(hw_ade9000_read_metrics(&dev2, &m), 0);
  const struct hw_ade9000_phase *ph = &m.ph[b2->channel];
  assert_true(fabs(ph->p_w - 1500) / 1500 < 0.01);
  assert_true(fabs(ph->p_w - ph->vrms_v * ph->irms_a) / 1500 < 0.001);
  assert_true(fabs(ph->pf - 1) < 0.001);
  assert_true(fabs(ph->freq_hz - 50) < 0.05);
  assert_true(m.energy_ready);
  hw_sim_destroy(s);
}

static void welded_relay(void **st)
{
  struct hw_sim *s = make("welded-relay", 1);
  const struct hw_panel_branch *b = hw_panel_branch_by_number(hw_sim_panel(s), 2);
  struct hw_gpio_lines coil, in;
  req_out(s, b->line_coil, true, b->coil_active_low, &coil); /* closed, as rebuilt */
  struct hw_gpio_request_config cfg = { .num_lines = 2 };
  cfg.lines[0] = (struct hw_gpio_line_config){ .offset = b->line_aux, .edges = HW_GPIO_EDGE_BOTH };
  cfg.lines[1] = (struct hw_gpio_line_config){ .offset = b->line_sense, .edges = HW_GPIO_EDGE_BOTH };
  assert_int_equal(hw_gpio_request(hw_sim_gpio_chip(s), &cfg, &in), 0);
  hw_sim_advance(s, 59000000000ull);
  struct hw_stimulus stim[8];
  unsigned n = hw_sim_poll_stimuli(s, stim, 8);
  assert_int_equal(n, 0);
  hw_sim_advance(s, 1000000000ull);
  n = hw_sim_poll_stimuli(s, stim, 8);
  assert_int_equal(n, 1);
  assert_int_equal(stim[0].ev.kind, HW_EV_SWITCH);
  assert_string_equal(stim[0].ev.id, "weld-1");
  assert_false(stim[0].ev.on);
  assert_int_equal(hw_gpio_set(&coil, 1, 0), 0); /* open command */
  hw_sim_advance(s, 200000000);
  struct hw_sim_branch_truth t;
  assert_int_equal(hw_sim_branch_truth(s, 2, &t), 0);
  assert_true(t.contact_closed);
  assert_true(t.current_rms_a > 8); /* 2000 W at 230 V keeps flowing */
  uint64_t bits;
  assert_int_equal(hw_gpio_get(&in, 3, &bits), 0);
  assert_int_equal(bits, 3); /* aux still closed, load side still live */
  /* a healthy relay on the same panel opens */
  const struct hw_panel_branch *b1 = hw_panel_branch_by_number(hw_sim_panel(s), 1);
  struct hw_gpio_lines c1;
  req_out(s, b1->line_coil, false, b1->coil_active_low, &c1);
  hw_sim_advance(s, 100000000);
  assert_int_equal(hw_sim_branch_truth(s, 1, &t), 0);
  assert_false(t.contact_closed);
  assert_true(t.current_rms_a < 0.001);
  hw_gpio_release(&c1);
  hw_gpio_release(&in);
  hw_gpio_release(&coil);
  hw_sim_destroy(s);
}

static void pv_backfeed_voltage(void **st)
{
  struct hw_sim *s = make("grid-outage-transfer", 1);
  const struct hw_panel *p = hw_sim_panel(s);
  const struct hw_panel_branch *b = hw_panel_branch_by_number(p, 3);
  struct hw_gpio_request_config cfg = { .num_lines = 3 };
  cfg.lines[0] = (struct hw_gpio_line_config){ .offset = b->line_sense, .edges = HW_GPIO_EDGE_BOTH };
  cfg.lines[1] = (struct hw_gpio_line_config){ .offset = p->der.line_ats_grid_present, .edges = HW_GPIO_EDGE_BOTH };
  cfg.lines[2] = (struct hw_gpio_line_config){ .offset = p->der.line_ats_on_backup, .edges = HW_GPIO_EDGE_BOTH };
  struct hw_gpio_lines in;
  assert_int_equal(hw_gpio_request(hw_sim_gpio_chip(s), &cfg, &in), 0);
  hw_sim_advance(s, 29000000000ull);
  uint64_t bits;
  assert_int_equal(hw_gpio_get(&in, 7, &bits), 0);
  assert_int_equal(bits, 2); /* grid present, PV branch open and dead */
  hw_sim_advance(s, 10000000000ull);
  struct hw_sim_branch_truth t;
  assert_int_equal(hw_sim_branch_truth(s, 3, &t), 0);
  assert_false(t.contact_closed);
  assert_true(t.load_side_v > 200); /* PV keeps its side live with the grid down */
  assert_int_equal(hw_gpio_get(&in, 7, &bits), 0);
  assert_int_equal(bits, 5); /* sense high, grid absent, on backup */
  struct hw_sim_der_status d;
  hw_sim_der_status(s, &d);
  assert_false(d.grid_present);
  assert_true(d.on_backup);
  hw_gpio_release(&in);
  hw_sim_destroy(s);
}

static const char *TAP_SC =
  "{\"name\":\"t\",\"panel\":{\"mains\":\"3ph-230-50\",\"service_limit_a\":40,"
  "\"afes\":[{\"index\":0}],"
  "\"branches\":[{\"number\":1,\"phase\":\"L1\",\"afe\":0,\"channel\":\"A\",\"breaker_a\":16,\"actuator\":\"monostable\"}],"
  "\"taps\":[{\"name\":\"afci-1\",\"kind\":\"afci\",\"branch\":1},{\"name\":\"rcd\",\"kind\":\"rcd\",\"debounce_us\":0}]},"
  "\"loads\":[{\"branch\":1,\"kind\":\"resistive\",\"power_w\":1000}],"
  "\"timeline\":[{\"at\":0.1,\"do\":\"tap\",\"tap\":\"afci-1\",\"active\":true,\"bounce\":true},"
  "{\"at\":0.1,\"do\":\"tap\",\"tap\":\"rcd\",\"active\":true,\"bounce\":true},"
  "{\"at\":0.2,\"do\":\"fault\",\"kind\":\"gpio_overflow\",\"branch\":1,\"count\":100}]}";

static void gpio_debounce_order_and_gaps(void **st)
{
  struct hw_scenario *sc = parse_sc(TAP_SC);
  struct hw_sim *s;
  assert_int_equal(hw_sim_create(&s, sc, 1, NULL, 0), 0);
  const struct hw_panel *p = hw_sim_panel(s);
  struct hw_gpio_request_config cfg = { .num_lines = 2, .event_buffer_size = 16 };
  cfg.lines[0] = (struct hw_gpio_line_config){ .offset = p->tap[0].line, .edges = HW_GPIO_EDGE_BOTH, .debounce_us = 5000 };
  cfg.lines[1] = (struct hw_gpio_line_config){ .offset = p->tap[1].line, .edges = HW_GPIO_EDGE_BOTH };
  struct hw_gpio_lines taps, aux;
  assert_int_equal(hw_gpio_request(hw_sim_gpio_chip(s), &cfg, &taps), 0);
  struct hw_gpio_request_config ca = { .num_lines = 1, .event_buffer_size = 16 };
  ca.lines[0] = (struct hw_gpio_line_config){ .offset = p->branch[0].line_aux, .edges = HW_GPIO_EDGE_BOTH };
  assert_int_equal(hw_gpio_request(hw_sim_gpio_chip(s), &ca, &aux), 0);
  struct pollfd pf = { .fd = taps.fd, .events = POLLIN };
  assert_int_equal(poll(&pf, 1, 0), 0);
  hw_sim_advance(s, 150000000);
  assert_int_equal(poll(&pf, 1, 0), 1); /* the request fd is pollable */
  struct hw_gpio_event ev[32];
  unsigned n;
  assert_int_equal(hw_gpio_read_events(&taps, ev, 32, &n), 0);
  /* rcd (no debounce): 5 raw edges alternating, in time order; afci (5 ms debounce): one */
  unsigned rcd = 0, afci = 0;
  for (unsigned k = 0; k < n; k++) {
    if (k) assert_true(ev[k].timestamp_ns >= ev[k - 1].timestamp_ns);
    if (ev[k].offset == p->tap[1].line) { assert_int_equal(ev[k].rising, rcd % 2 == 0); rcd++; }
    else { assert_true(ev[k].rising); afci++; assert_true(ev[k].timestamp_ns >= 100000000 + 5000000); }
    assert_int_equal(ev[k].dropped_before, 0);
  }
  assert_int_equal(rcd, 5);
  assert_int_equal(afci, 1);
  assert_int_equal(poll(&pf, 1, 0), 0);
  struct hw_sim_branch_truth t;
  assert_int_equal(hw_sim_branch_truth(s, 1, &t), 0);
  assert_true(t.breaker_open); /* the AFCI opened the branch breaker */
  /* 200 edges into a 16-event buffer: the oldest are dropped, the seqno gap is reported */
  hw_sim_advance(s, 100000000);
  assert_int_equal(hw_gpio_read_events(&aux, ev, 32, &n), 0);
  assert_int_equal(n, 16);
  assert_int_equal(ev[0].dropped_before, 184);
  assert_int_equal(aux.events_dropped, 184);
  hw_gpio_release(&aux);
  hw_gpio_release(&taps);
  hw_sim_destroy(s);
  free(sc);
}

static void outputs_initial_values_and_revert(void **st)
{
  struct hw_sim *s = make("welded-relay", 1);
  const struct hw_panel_branch *b = hw_panel_branch_by_number(hw_sim_panel(s), 1);
  assert_true(b->coil_active_low); /* NC relay: closed while unpowered */
  struct hw_sim_branch_truth t;
  hw_sim_advance(s, 100000000);
  assert_int_equal(hw_sim_branch_truth(s, 1, &t), 0);
  assert_true(t.contact_closed);
  struct hw_gpio_lines coil;
  req_out(s, b->line_coil, false, true, &coil); /* the daemon rebuilt "open" */
  hw_sim_advance(s, 50000000);
  assert_int_equal(hw_sim_branch_truth(s, 1, &t), 0);
  assert_false(t.contact_closed);
  /* a second request of a held line is refused; an input cannot be driven */
  struct hw_gpio_lines again;
  struct hw_gpio_request_config cfg = { .num_lines = 1 };
  cfg.lines[0] = (struct hw_gpio_line_config){ .offset = b->line_coil, .output = true };
  assert_int_equal(hw_gpio_request(hw_sim_gpio_chip(s), &cfg, &again), -EBUSY);
  cfg.lines[0] = (struct hw_gpio_line_config){ .offset = b->line_aux, .output = true };
  assert_int_equal(hw_gpio_request(hw_sim_gpio_chip(s), &cfg, &again), -EINVAL);
  /* closing the fd reverts the output: the NC relay falls back closed */
  hw_gpio_release(&coil);
  hw_sim_advance(s, 50000000);
  assert_int_equal(hw_sim_branch_truth(s, 1, &t), 0);
  assert_true(t.contact_closed);
  hw_sim_destroy(s);
}

static void reversed_ct_reads_negative(void **st)
{
  struct hw_sim *s = make("reversed-ct", 1);
  const struct hw_panel *p = hw_sim_panel(s);
  const struct hw_panel_branch *b = hw_panel_branch_by_number(p, 4);
  struct hw_ade9000 dev;
  struct hw_ade9000_config cfg;
  hw_panel_ade9000_config(p, b->afe, &cfg);
  assert_int_equal(hw_ade9000_init(&dev, hw_sim_afe_spi(s, b->afe), &cfg), 0);
  hw_sim_advance(s, 1100000000);
  struct hw_ade9000_metrics m;
  assert_int_equal(hw_ade9000_read_metrics(&dev, &m), 0);
  assert_true(m.ph[b->channel].p_w < -2000);   /* load-only branch reads as export */
  hw_sim_destroy(s);
}

static void service_overload_and_sag(void **st)
{
  struct hw_sim *s = make("service-overload", 1);
  const struct hw_panel *p = hw_sim_panel(s);
  hw_sim_advance(s, 120000000000ull);
  double l1 = 0;
  struct hw_sim_branch_truth t;
  for (unsigned i = 0; i < p->num_branches; i++)
    if (p->branch[i].phase == HW_PHASE_L1) {
      assert_int_equal(hw_sim_branch_truth(s, p->branch[i].number, &t), 0);
      l1 += t.current_rms_a;
    }
  assert_true(l1 > 1.25 * p->service_limit_a); /* > 125 % by minute 2 */
  hw_sim_destroy(s);
  /* the sag is deep enough for the mains AFE to flag a dip on every phase */
  s = make("sag-and-inrush", 1);
  p = hw_sim_panel(s);
  assert_true(p->afe[0].mains);
  struct hw_ade9000 dev;
  struct hw_ade9000_config cfg;
  hw_panel_ade9000_config(p, 0, &cfg);
  assert_true(cfg.waveform);
  assert_int_equal(hw_ade9000_init(&dev, hw_sim_afe_spi(s, 0), &cfg), 0);
  struct hw_ade9000_wfb_half *h = malloc(sizeof *h);
  struct hw_ade9000_metrics m;
  for (unsigned k = 0; k < 19 * 125; k++) { /* stream until 19 s: no dip yet */
    hw_sim_advance(s, 8000000);
    int r = hw_ade9000_wfb_poll(&dev, h);
    assert_true(r == 0 || r == HW_ENOTREADY);
  }
  assert_int_equal(dev.count.wfb_overruns, 0);
  assert_int_equal(hw_ade9000_read_metrics(&dev, &m), 0);
  assert_false(m.ph[0].dip);
  hw_sim_advance(s, 2000000000ull);
  assert_int_equal(hw_ade9000_read_metrics(&dev, &m), 0);
  for (int ph = 0; ph < 3; ph++) {
    assert_true(m.ph[ph].dip);
    assert_true(fabs(m.ph[ph].dip_v - 115) < 10);
  }
  free(h);
  hw_sim_destroy(s);
}

static void bench_runs(void **st)
{
  struct hw_bench_result r;
  assert_int_equal(hw_bench_sim(0.5, 1, &r), 0);
  assert_int_equal(r.channels, 51);
  assert_true(r.samples >= 51 * 3900); /* no timing assertion: the machine is shared */
  assert_true(r.realtime_factor > 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(shipped_scenarios_load),
    cmocka_unit_test(determinism),
    cmocka_unit_test(motor_inrush),
    cmocka_unit_test(ssr_leakage_and_register_path),
    cmocka_unit_test(welded_relay),
    cmocka_unit_test(pv_backfeed_voltage),
    cmocka_unit_test(gpio_debounce_order_and_gaps),
    cmocka_unit_test(outputs_initial_values_and_revert),
    cmocka_unit_test(reversed_ct_reads_negative),
    cmocka_unit_test(service_overload_and_sag),
    cmocka_unit_test(bench_runs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
