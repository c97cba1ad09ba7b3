/*
 * test_actuators.c — the proof loop on the simulated panel (issue 6 part A): sense-back
 * verdicts for injected faults (welded, stuck open, SSR leakage, chatter), no actuation
 * without a durable command, held-state commands, latching pulse widths, initial output values,
 * the journaled records, and the sense-back latency per actuator type in virtual time.
 *
 * Every check is on virtual time or on records/GPIO writes, never on wall-clock timing. The
 * simulator's ground truth (hw_sim_branch_truth) is used only to confirm a test's premise (the
 * contact really is welded), never as the evidence under test.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "act_util.h"

#define MS 1000000ull

struct fx {
  char *dir;
  struct hw_scenario *sc;
  struct actuator_harness h;
  struct spy spy;
};

static struct fx *fx_new(struct hw_scenario *sc, const struct actuator_initial *init,
                         const struct actuator_thresholds *th)
{
  struct fx *f = calloc(1, sizeof *f);
  f->dir = act_tmpdir();
  f->sc = sc;
  f->spy.h = &f->h;
  struct actuator_harness_options o = { .scenario = sc, .seed = 7, .dir = f->dir, .initial = init, .th = th,
                                        .wrap_chip = spy_wrap, .wrap_ctx = &f->spy };
  int r = actuator_harness_init(&f->h, &o);
  if (r < 0) fail_msg("harness_init: %s", actuator_strerror(r));
  assert_int_equal(actuator_harness_run(&f->h, 200 * MS), 0); /* metering samples exist */
  return f;
}

static void fx_free(struct fx *f)
{
  actuator_harness_deinit(&f->h);
  act_rmdir(f->dir);
  free(f->sc);
  free(f);
}

static struct actuator_harness_step cmd(struct fx *f, uint16_t target, bool on, const char *id)
{
  struct actuator_harness_step st;
  int r = actuator_harness_command(&f->h, target, on, id, JOURNAL_CMD_OPERATOR, 0, &st);
  if (r < 0) fail_msg("command %u %s: %s", target, on ? "on" : "off", actuator_strerror(r));
  return st;
}

/* The journal holds command → actuation → sense_back for the step, with matching fields. */
static void check_journaled(struct fx *f, const struct actuator_harness_step *st, uint8_t verdict)
{
  static uint8_t buf[JOURNAL_RECORD_MAX];
  struct journal_record r;
  assert_true(st->command_seq < st->actuation_seq && st->actuation_seq < st->sense_back_seq);
  assert_true(journal_durable_seq(f->h.journal) >= st->sense_back_seq);
  assert_int_equal(act_read_record(&f->h, st->command_seq, &r, buf, sizeof buf), 0);
  assert_int_equal(r.type, JOURNAL_T_COMMAND);
  assert_int_equal(act_read_record(&f->h, st->actuation_seq, &r, buf, sizeof buf), 0);
  assert_int_equal(r.type, JOURNAL_T_ACTUATION);
  assert_int_equal(r.body.actuation.command_seq, st->command_seq);
  assert_int_equal(act_read_record(&f->h, st->sense_back_seq, &r, buf, sizeof buf), 0);
  assert_int_equal(r.type, JOURNAL_T_SENSE_BACK);
  assert_int_equal(r.body.sense_back.command_seq, st->command_seq);
  assert_int_equal(r.body.sense_back.verdict, verdict);
  assert_int_equal(r.body.sense_back.request_id.len, strlen(st->request_id));
  assert_memory_equal(r.body.sense_back.request_id.ptr, st->request_id, strlen(st->request_id));
}

/* ------------------------------------------------------------------ faults */

static void test_welded_relay_shipped_scenario(void **state)
{
  (void)state;
  struct hw_scenario *sc = act_scenario_named("welded-relay");
  /* bring the scenario's weld (30 s) forward; keep everything else as shipped */
  for (unsigned i = 0; i < sc->num_events; i++)
    if (sc->event[i].kind == HW_EV_FAULT) sc->event[i].t_ns = 100 * MS;
  struct fx *f = fx_new(sc, NULL, NULL);
  struct hw_sim_branch_truth t;

  struct actuator_harness_step st = cmd(f, 2, false, "weld-1");
  assert_int_equal(st.actuation.result, JOURNAL_ACTRES_OK);
  assert_int_equal(st.sense_back.verdict, JOURNAL_VERDICT_WELDED);
  assert_int_not_equal(st.sense_back.sensed, JOURNAL_SENSED_OFF); /* never reported as off */
  assert_int_equal(st.sense_back.sensed, JOURNAL_SENSED_ON);
  assert_int_equal(st.sense_back.aux, JOURNAL_AUX_CLOSED);
  assert_int_equal(st.sense_back.load_v, JOURNAL_LOADV_PRESENT);
  assert_true(st.sense_back.current_ma > 8000); /* 2 kW at 230 V */
  check_journaled(f, &st, JOURNAL_VERDICT_WELDED);
  assert_int_equal(hw_sim_branch_truth(f->h.sim, 2, &t), 0);
  assert_true(t.contact_closed); /* the premise: the contact really stayed closed */

  /* the healthy neighbour opens and is confirmed off */
  st = cmd(f, 1, false, "weld-2");
  assert_int_equal(st.sense_back.verdict, JOURNAL_VERDICT_CONFIRMED);
  assert_int_equal(st.sense_back.sensed, JOURNAL_SENSED_OFF);
  assert_true(st.sense_back.current_ma < 20);
  fx_free(f);
}

static void test_stuck_open_on_close(void **state)
{
  (void)state;
  struct hw_scenario *sc = act_scenario(act_panel_json);
  act_add_event(sc, 100 * MS, HW_EV_FAULT, HW_FAULT_STUCK_OPEN, 1);
  struct fx *f = fx_new(sc, NULL, NULL);
  struct actuator_harness_step st = cmd(f, 1, false, "so-1"); /* opening works */
  assert_int_equal(st.sense_back.verdict, JOURNAL_VERDICT_CONFIRMED);
  st = cmd(f, 1, true, "so-2");
  assert_int_equal(st.sense_back.verdict, JOURNAL_VERDICT_STUCK_OPEN);
  assert_int_equal(st.sense_back.sensed, JOURNAL_SENSED_OFF);
  assert_int_equal(st.sense_back.aux, JOURNAL_AUX_OPEN);
  assert_true(st.sense_back.current_ma <= 20);
  check_journaled(f, &st, JOURNAL_VERDICT_STUCK_OPEN);
  /* a healthy close on another branch is confirmed, with inrush and crest of the close */
  st = cmd(f, 3, true, "so-3");
  assert_int_equal(st.sense_back.verdict, JOURNAL_VERDICT_CONFIRMED);
  assert_true(st.sense_back.inrush_peak_ma > st.sense_back.current_ma * 2); /* motor: inrush >> rms */
  assert_true(st.sense_back.crest_milli > 2000);
  fx_free(f);
}

static void test_ssr_leakage_is_leakage_not_welded(void **state)
{
  (void)state;
  struct hw_scenario *sc = act_scenario(act_panel_json);
  /* control first: a healthy SSR's off-state leakage (a few mA) is below current_zero_ma */
  struct fx *f = fx_new(sc, NULL, NULL);
  struct actuator_harness_step st = cmd(f, 4, false, "ssr-0");
  assert_int_equal(st.sense_back.verdict, JOURNAL_VERDICT_CONFIRMED);
  assert_int_equal(st.sense_back.aux, JOURNAL_AUX_NOT_WIRED);
  fx_free(f);

  sc = act_scenario(act_panel_json);
  act_add_event(sc, 100 * MS, HW_EV_FAULT, HW_FAULT_SSR_LEAKAGE, 4);
  f = fx_new(sc, NULL, NULL);
  st = cmd(f, 4, false, "ssr-1");
  assert_int_equal(st.sense_back.verdict, JOURNAL_VERDICT_LEAKAGE);
  assert_int_not_equal(st.sense_back.verdict, JOURNAL_VERDICT_WELDED);
  assert_int_equal(st.sense_back.sensed, JOURNAL_SENSED_OFF);
  assert_true(st.sense_back.current_ma > 20 && st.sense_back.current_ma < 250);
  assert_int_equal(st.sense_back.load_v, JOURNAL_LOADV_ABSENT);
  check_journaled(f, &st, JOURNAL_VERDICT_LEAKAGE);
  fx_free(f);
}

static void test_chatter(void **state)
{
  (void)state;
  struct hw_scenario *sc = act_scenario(act_panel_json);
  act_add_event(sc, 100 * MS, HW_EV_FAULT, HW_FAULT_CHATTER, 1);
  struct fx *f = fx_new(sc, NULL, NULL);
  struct actuator_harness_step st = cmd(f, 1, false, "ch-1");
  st = cmd(f, 1, true, "ch-2");
  assert_int_equal(st.sense_back.verdict, JOURNAL_VERDICT_CHATTER);
  assert_true(st.sense_back.aux_edges >= 3);
  check_journaled(f, &st, JOURNAL_VERDICT_CHATTER);
  fx_free(f);
}

/* ------------------------------------------------------------------ durability and held state */

static void test_no_actuation_without_durable_command(void **state)
{
  (void)state;
  struct fx *f = fx_new(act_scenario(act_panel_json), NULL, NULL);
  struct actuator_set *s = &f->h.set;
  uint64_t now = hw_sim_now_ns(f->h.sim);
  unsigned w0 = f->spy.nwrites;
  struct actuator_command c = { .target = 1, .on = false, .request_id = "nd-1" };
  struct journal_actuation a;
  uint64_t durable = journal_durable_seq(f->h.journal);
  assert_int_equal(actuator_execute(s, &c, 0, durable, now, &a), ACTUATOR_ENOTDURABLE);
  assert_int_equal(actuator_execute(s, &c, durable + 1, durable, now, &a), ACTUATOR_ENOTDURABLE);
  /* the journal's head after a non-critical append is not durable either */
  assert_int_equal(actuator_execute_journaled(s, f->h.journal, &c, journal_durable_seq(f->h.journal) + 1, now, &a),
                   ACTUATOR_ENOTDURABLE);
  assert_int_equal(f->spy.nwrites, w0); /* not one line written */
  struct actuator_status stt;
  assert_int_equal(actuator_status(s, 1, &stt), 0);
  assert_true(stt.held && !stt.window_open);

  /* with a durable seq it runs; the same seq again is refused (no double execution) */
  assert_int_equal(actuator_execute(s, &c, durable, durable, now, &a), 0);
  assert_int_equal(f->spy.nwrites, w0 + 1);
  assert_int_equal(actuator_execute(s, &c, durable, durable, now, &a), ACTUATOR_ESTALE);
  c.on = true;
  assert_int_equal(actuator_execute(s, &c, durable + 1, durable + 1, now, &a), ACTUATOR_EBUSY);
  assert_int_equal(f->spy.nwrites, w0 + 1);
  assert_string_equal(actuator_strerror(ACTUATOR_ENOTDURABLE),
                      "command record is not durable (no actuation without it)");
  fx_free(f);
}

static void test_held_state_no_toggle_confirmed(void **state)
{
  (void)state;
  struct fx *f = fx_new(act_scenario(act_panel_json), NULL, NULL);
  for (uint16_t b = 1; b <= 6; b++) {
    if (b == 3) continue; /* the contactor starts open */
    unsigned w0 = f->spy.nwrites;
    struct actuator_harness_step st = cmd(f, b, true, "held");
    assert_int_equal(f->spy.nwrites, w0); /* no GPIO write at all */
    assert_int_equal(st.actuation.result, JOURNAL_ACTRES_NO_OP);
    assert_int_equal(st.actuation.action, JOURNAL_ACTION_NONE);
    assert_int_equal(st.sense_back.verdict, JOURNAL_VERDICT_CONFIRMED);
    assert_int_equal(st.sense_back.moved, 0);
    check_journaled(f, &st, JOURNAL_VERDICT_CONFIRMED);
  }
  fx_free(f);
}

/* ------------------------------------------------------------------ latching and init */

static void test_latching_pulses_only_on_transitions(void **state)
{
  (void)state;
  struct actuator_thresholds th;
  actuator_thresholds_default(&th);
  th.pulse_ms = 60; /* a configured width, not the default */
  struct fx *f = fx_new(act_scenario(act_panel_json), NULL, &th);
  const struct hw_panel_branch *b = hw_panel_branch_by_number(hw_sim_panel(f->h.sim), 2);
  struct hw_sim_branch_truth t;

  /* at rest both coils are off (no holding energy) */
  bool m, r;
  assert_int_equal(actuator_output_get(&f->h.set, 2, &m, &r), 0);
  assert_false(m);
  assert_false(r);
  assert_int_equal(spy_initial(&f->spy, b->line_coil, NULL), 0);
  assert_int_equal(spy_initial(&f->spy, b->line_coil_reset, NULL), 0);

  struct { bool on; bool moves; } seq[] = { { false, true }, { false, false }, { true, true }, { true, false },
                                            { false, true } };
  for (unsigned i = 0; i < sizeof seq / sizeof seq[0]; i++) {
    unsigned w0 = f->spy.nwrites;
    struct actuator_harness_step st = cmd(f, 2, seq[i].on, "latch");
    uint32_t pulsed = seq[i].on ? b->line_coil : b->line_coil_reset;
    uint32_t other = seq[i].on ? b->line_coil_reset : b->line_coil;
    assert_int_equal(spy_writes_to(&f->spy, w0, other), 0);
    if (!seq[i].moves) {
      assert_int_equal(spy_writes_to(&f->spy, w0, pulsed), 0);
      assert_int_equal(st.actuation.result, JOURNAL_ACTRES_NO_OP);
    } else {
      assert_int_equal(spy_writes_to(&f->spy, w0, pulsed), 2); /* on, then off */
      const struct spy_write *on = NULL, *off = NULL;
      for (unsigned k = w0; k < f->spy.nwrites; k++)
        if (f->spy.w[k].offset == pulsed) { if (f->spy.w[k].value) on = &f->spy.w[k]; else off = &f->spy.w[k]; }
      assert_non_null(on);
      assert_non_null(off);
      assert_int_equal(off->t_ns - on->t_ns, 60 * MS); /* virtual time: exactly the width */
      assert_int_equal(st.actuation.pulse_us, 60000);
      assert_int_equal(st.actuation.action, seq[i].on ? JOURNAL_ACTION_PULSE_SET : JOURNAL_ACTION_PULSE_RESET);
    }
    assert_int_equal(st.sense_back.verdict, JOURNAL_VERDICT_CONFIRMED);
    assert_int_equal(hw_sim_branch_truth(f->h.sim, 2, &t), 0);
    assert_int_equal(t.contact_closed, seq[i].on);
    assert_int_equal(actuator_output_get(&f->h.set, 2, &m, &r), 0);
    assert_false(m || r); /* back at rest after every command */
  }
  fx_free(f);
}

static void test_outputs_requested_with_initial_values(void **state)
{
  (void)state;
  struct actuator_initial init;
  memset(&init, 0, sizeof init);
  /* mono on, latch (rest), contactor off, ssr on, efuse off, NC mono off; service connected */
  init.branch_on[0] = true; init.branch_on[1] = true; init.branch_on[2] = false;
  init.branch_on[3] = true; init.branch_on[4] = false; init.branch_on[5] = false;
  init.service_connected = true;
  struct hw_scenario *sc = act_scenario(act_panel_json);
  struct fx *f = fx_new(sc, &init, NULL);
  const struct hw_panel *p = hw_sim_panel(f->h.sim);
  for (unsigned k = 0; k < p->num_branches; k++) {
    const struct hw_panel_branch *b = &p->branch[k];
    bool al = false;
    int v = spy_initial(&f->spy, b->line_coil, &al);
    if (b->actuator == HW_ACT_LATCHING) assert_int_equal(v, 0);
    else assert_int_equal(v, init.branch_on[k]);
    assert_int_equal(al, b->coil_active_low); /* NC relay: logical 1 still means closed */
    /* the simulated hardware followed: contacts (not latching) are where the caller said */
    struct hw_sim_branch_truth t;
    assert_int_equal(hw_sim_branch_truth(f->h.sim, b->number, &t), 0);
    if (b->actuator != HW_ACT_LATCHING) assert_int_equal(t.contact_closed, init.branch_on[k]);
    bool m;
    assert_int_equal(actuator_output_get(&f->h.set, (uint16_t)b->number, &m, NULL), 0);
    if (b->actuator != HW_ACT_LATCHING) assert_int_equal(m, init.branch_on[k]);
  }
  bool al = false;
  assert_int_equal(spy_initial(&f->spy, p->line_service_coil, &al), 1);
  assert_true(al); /* energise to disconnect: logical 1 = connected = coil off */
  /* no write happened during init: values came with the request itself */
  assert_int_equal(f->spy.nwrites, 0);
  fx_free(f);
}

static void test_every_type_and_service(void **state)
{
  (void)state;
  struct fx *f = fx_new(act_scenario(act_panel_json), NULL, NULL);
  for (uint16_t b = 1; b <= 6; b++) {
    struct actuator_harness_step st = cmd(f, b, false, "t-off");
    if (b == 3) assert_int_equal(st.actuation.result, JOURNAL_ACTRES_NO_OP);
    assert_int_equal(st.sense_back.verdict, JOURNAL_VERDICT_CONFIRMED);
    assert_int_equal(st.sense_back.sensed, JOURNAL_SENSED_OFF);
    st = cmd(f, b, true, "t-on");
    assert_int_equal(st.sense_back.verdict, JOURNAL_VERDICT_CONFIRMED);
    assert_int_equal(st.sense_back.sensed, JOURNAL_SENSED_ON);
    assert_true(st.sense_back.current_ma > 250);
    assert_true(st.sense_back.crest_milli >= 1300); /* resistive ≈ 1414, motor higher */
  }
  struct actuator_harness_step st = cmd(f, JOURNAL_TARGET_SERVICE, false, "svc-off");
  assert_int_equal(st.actuation.action, JOURNAL_ACTION_COIL_ON); /* energised to disconnect */
  assert_int_equal(st.sense_back.verdict, JOURNAL_VERDICT_CONFIRMED);
  assert_int_equal(st.sense_back.aux, JOURNAL_AUX_OPEN);
  check_journaled(f, &st, JOURNAL_VERDICT_CONFIRMED);
  st = cmd(f, JOURNAL_TARGET_SERVICE, true, "svc-on");
  assert_int_equal(st.sense_back.verdict, JOURNAL_VERDICT_CONFIRMED);
  assert_int_equal(st.sense_back.aux, JOURNAL_AUX_CLOSED);
  fx_free(f);
}

/* ------------------------------------------------------------------ latency */

static int cmp_u32(const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void test_sense_back_latency_by_type(void **state)
{
  (void)state;
  struct fx *f = fx_new(act_scenario(act_panel_json), NULL, NULL);
  for (int round = 0; round < 20; round++) {
    bool on = round & 1;
    /* the service disconnect closes first and opens last, so every branch has supply */
    struct actuator_harness_step st;
    if (on) assert_int_equal(cmd(f, JOURNAL_TARGET_SERVICE, true, "lat").sense_back.verdict, JOURNAL_VERDICT_CONFIRMED);
    for (uint16_t b = 1; b <= 6; b++) {
      st = cmd(f, b, on, "lat");
      assert_int_equal(st.sense_back.verdict, JOURNAL_VERDICT_CONFIRMED);
    }
    if (!on) assert_int_equal(cmd(f, JOURNAL_TARGET_SERVICE, false, "lat").sense_back.verdict, JOURNAL_VERDICT_CONFIRMED);
    assert_int_equal(actuator_harness_run(&f->h, (uint64_t)(37 + 11 * round) * MS), 0); /* vary phase */
  }
  static const char *const names[] = { "monostable", "latching", "contactor", "ssr", "efuse", "service" };
  print_message("sense-back latency, virtual time (actuation -> verdict), ms\n");
  print_message("%-11s %5s %7s %7s %7s %7s %8s\n", "type", "n", "min", "p50", "p90", "max", "deadline");
  for (int t = 0; t < ACTUATOR_TYPES; t++) {
    unsigned n = f->h.lat_n[t];
    assert_true(n >= 20);
    uint32_t *v = f->h.lat_us[t];
    qsort(v, n, sizeof v[0], cmp_u32);
    print_message("%-11s %5u %7.1f %7.1f %7.1f %7.1f %8u\n", names[t], n, v[0] / 1e3, v[n / 2] / 1e3,
                  v[n * 9 / 10] / 1e3, v[n - 1] / 1e3, f->h.set.th.deadline_ms[t]);
    assert_true(v[n - 1] <= f->h.set.th.deadline_ms[t] * 1000u + 1000u);
  }
  fx_free(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_welded_relay_shipped_scenario),
    cmocka_unit_test(test_stuck_open_on_close),
    cmocka_unit_test(test_ssr_leakage_is_leakage_not_welded),
    cmocka_unit_test(test_chatter),
    cmocka_unit_test(test_no_actuation_without_durable_command),
    cmocka_unit_test(test_held_state_no_toggle_confirmed),
    cmocka_unit_test(test_latching_pulses_only_on_transitions),
    cmocka_unit_test(test_outputs_requested_with_initial_values),
    cmocka_unit_test(test_every_type_and_service),
    cmocka_unit_test(test_sense_back_latency_by_type),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
