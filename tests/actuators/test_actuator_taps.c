/*
 * test_actuator_taps.c — trip taps and DER status lines on the simulated panel: a bouncing RCD
 * tap gives one debounced trip_tap per edge with the kernel timestamp of the edge that started
 * the stable level and the branch's pre-trigger signature; a grid outage gives der records for
 * the ATS; lost events (seqno gaps) are counted for a gpio_overflow fault and resynced, both in
 * the taps decoder and in the actuator set's aux inputs; hostile event bursts are survived.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "act_util.h"

#define MS 1000000ull

struct collected {
  unsigned n;
  struct actuator_tap_record r[256];
};

static int32_t g_sig_rms = 4321, g_sig_peak = 6100;
static bool sig(void *ctx, unsigned branch, uint64_t t_ns, int32_t *rms, int32_t *peak)
{
  (void)ctx; (void)t_ns;
  if (branch != 1) return false;
  *rms = g_sig_rms;
  *peak = g_sig_peak;
  return true;
}

static void run(struct hw_sim *sim, struct actuator_taps *t, uint64_t ns, struct collected *c)
{
  for (uint64_t k = 0; k < ns / MS; k++) {
    assert_int_equal(hw_sim_advance(sim, MS), 0);
    unsigned n;
    do {
      assert_int_equal(actuator_taps_poll(t, hw_sim_now_ns(sim), c->r + c->n, 8, &n), 0);
      c->n += n;
      assert_true(c->n + 8 <= 256);
    } while (n == 8);
  }
}

static struct hw_sim *make_sim(struct hw_scenario *sc)
{
  struct hw_sim *sim = NULL;
  char err[256];
  assert_int_equal(hw_sim_create(&sim, sc, 3, err, sizeof err), 0);
  return sim;
}

static void add_tap(struct hw_scenario *sc, uint64_t t, unsigned tap, bool on, bool bounce)
{
  act_add_event(sc, t, HW_EV_TAP, 0, 0);
  for (unsigned i = 0; i < sc->num_events; i++)
    if (sc->event[i].t_ns == t && sc->event[i].kind == HW_EV_TAP && sc->event[i].tap == 0 && sc->event[i].branch == 0 &&
        !sc->event[i].on && !sc->event[i].mandatory) {
      sc->event[i].tap = tap;
      sc->event[i].on = on;
      sc->event[i].mandatory = bounce;
      return;
    }
  fail();
}

static void test_tap_debounced_with_signature(void **state)
{
  (void)state;
  struct hw_scenario *sc = act_scenario(act_panel_json);
  add_tap(sc, 100 * MS, 0, true, true);   /* rcd-1 trips, contact bounces for 2.6 ms */
  add_tap(sc, 300 * MS, 0, false, false); /* reset */
  add_tap(sc, 400 * MS, 1, true, false);  /* power fail, no debounce */
  struct hw_sim *sim = make_sim(sc);
  struct actuator_taps t;
  assert_int_equal(actuator_taps_init(&t, hw_sim_gpio_chip(sim), hw_sim_panel(sim), sig, NULL, 0), 0);
  struct collected *c = calloc(1, sizeof *c);
  run(sim, &t, 500 * MS, c);
  unsigned taps = 0;
  struct journal_trip_tap got[8];
  for (unsigned i = 0; i < c->n; i++)
    if (c->r[i].type == JOURNAL_T_TRIP_TAP && taps < 8) got[taps++] = c->r[i].body.trip_tap;
  assert_int_equal(taps, 3); /* bounce filtered: one record per real edge */
  assert_int_equal(got[0].kind, JOURNAL_TAP_RCD);
  assert_int_equal(got[0].edge, JOURNAL_EDGE_RISING);
  assert_int_equal(got[0].branch, 1);
  assert_int_equal(got[0].kernel_ns, 100 * MS + 2600000); /* last bounce edge starts the stable level */
  assert_int_equal(got[0].rms_ma, 4321);
  assert_int_equal(got[0].peak_ma, 6100);
  assert_int_equal(got[0].crest_milli, 6100 * 1000 / 4321);
  assert_int_equal(got[1].edge, JOURNAL_EDGE_FALLING);
  assert_int_equal(got[1].kernel_ns, 300 * MS);
  assert_int_equal(got[2].kind, JOURNAL_TAP_POWER_FAIL);
  assert_int_equal(got[2].branch, 0);
  assert_int_equal(got[2].rms_ma, 0);
  assert_int_equal(t.gpio_overflow, 0);
  /* the record body encodes and decodes through the journal codec */
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.seq = 1; r.version = JOURNAL_SCHEMA_VERSION; r.type = JOURNAL_T_TRIP_TAP;
  r.source = c->r[0].type == JOURNAL_T_TRIP_TAP ? c->r[0].source : r.source;
  r.source.kind = JOURNAL_SRC_TAP; r.source.sub = JOURNAL_TAP_RCD; r.source.index = 1;
  r.body.trip_tap = got[0];
  uint8_t buf[1024];
  size_t len;
  assert_int_equal(journal_record_encode(&r, buf, sizeof buf, &len), 0);
  struct journal_record back;
  assert_int_equal(journal_record_decode(buf, len, &back), 0);
  assert_memory_equal(&back.body.trip_tap, &got[0], sizeof got[0]);
  actuator_taps_deinit(&t);
  hw_sim_destroy(sim);
  free(c);
  free(sc);
}

static void test_der_ats_outage(void **state)
{
  (void)state;
  struct hw_scenario *sc = act_scenario(act_panel_json);
  act_add_event(sc, 100 * MS, HW_EV_GRID, HW_GRID_OUTAGE, 0);
  act_add_event(sc, 400 * MS, HW_EV_GRID, HW_GRID_RESTORE, 0);
  struct hw_sim *sim = make_sim(sc);
  struct actuator_taps t;
  assert_int_equal(actuator_taps_init(&t, hw_sim_gpio_chip(sim), hw_sim_panel(sim), NULL, NULL, 0), 0);
  struct collected *c = calloc(1, sizeof *c);
  run(sim, &t, 600 * MS, c);
  struct journal_der d[8];
  unsigned n = 0;
  for (unsigned i = 0; i < c->n; i++)
    if (c->r[i].type == JOURNAL_T_DER && n < 8) {
      d[n++] = c->r[i].body.der;
      assert_int_equal(c->r[i].source.kind, JOURNAL_SRC_DER);
      assert_int_equal(c->r[i].source.sub, JOURNAL_DER_ATS);
    }
  assert_int_equal(n, 3);
  assert_int_equal(d[0].reason, JOURNAL_DERR_INITIAL);
  assert_int_equal(d[0].state, JOURNAL_DERST_ON_GRID);
  assert_true(d[0].grid_present && d[0].interlock_ok && d[0].fresh);
  assert_int_equal(d[0].transfer, JOURNAL_XFER_GRID);
  assert_int_equal(d[1].reason, JOURNAL_DERR_EDGE);
  assert_int_equal(d[1].state, JOURNAL_DERST_NO_SUPPLY); /* no ESS behind the ATS: nothing to transfer to */
  assert_false(d[1].grid_present);
  assert_int_equal(d[1].kernel_ns, 100 * MS);
  assert_int_equal(d[2].state, JOURNAL_DERST_ON_GRID);
  assert_int_equal(d[2].kernel_ns, 400 * MS);
  actuator_taps_deinit(&t);
  hw_sim_destroy(sim);
  free(c);
  free(sc);
}

/* Freshness means "being read": every 5 s each source's lines are read and reported (resync,
 * fresh) even when nothing changed; a source whose lines stop answering (the simulator's `der`
 * state no_comm: reads fail with EIO) is reported stale with its last known state, and fresh
 * again once they answer. */
static void test_der_heartbeat_and_no_comm(void **state)
{
  (void)state;
  struct hw_scenario *sc = act_scenario(act_panel_json);
  act_add_event(sc, 6000 * MS, HW_EV_DER, 2, 0);
  sc->event[sc->num_events - 1].modification = 4; /* no_comm */
  act_add_event(sc, 16000 * MS, HW_EV_DER, 2, 0); /* grid: answering again */
  struct hw_sim *sim = make_sim(sc);
  struct actuator_taps t;
  assert_int_equal(actuator_taps_init(&t, hw_sim_gpio_chip(sim), hw_sim_panel(sim), NULL, NULL, 0), 0);
  assert_int_equal(actuator_taps_next_due_ns(&t), ACTUATOR_DER_CHECK_NS);
  struct collected *c = calloc(1, sizeof *c);
  run(sim, &t, 22000 * MS, c);
  unsigned n = 0;
  static const struct { uint64_t at_ms; uint8_t reason; bool fresh; } want[] = {
    { 1, JOURNAL_DERR_INITIAL, true }, { 5000, JOURNAL_DERR_RESYNC, true }, { 10000, JOURNAL_DERR_STALE, false },
    { 15000, JOURNAL_DERR_STALE, false }, { 20000, JOURNAL_DERR_RESYNC, true } };
  for (unsigned i = 0; i < c->n; i++) {
    if (c->r[i].type != JOURNAL_T_DER) continue;
    const struct journal_der *d = &c->r[i].body.der;
    assert_true(n < sizeof want / sizeof want[0]);
    assert_int_equal(d->reason, want[n].reason);
    assert_int_equal(d->fresh, want[n].fresh);
    assert_int_equal(d->state, JOURNAL_DERST_ON_GRID); /* the last known state, stale or not */
    if (n) assert_int_equal(d->kernel_ns, want[n].at_ms * MS);
    n++;
  }
  assert_int_equal(n, sizeof want / sizeof want[0]);
  assert_int_equal(actuator_taps_next_due_ns(&t), 25000 * MS);
  actuator_taps_deinit(&t);
  hw_sim_destroy(sim);
  free(c);
  free(sc);
}

/* Lost events: the decoder counts them for a gpio_overflow fault and emits a resync der. */
static void test_taps_overflow_counted_and_resynced(void **state)
{
  (void)state;
  struct hw_scenario *sc = act_scenario(act_panel_json);
  struct hw_sim *sim = make_sim(sc);
  struct actuator_taps t;
  assert_int_equal(actuator_taps_init(&t, hw_sim_gpio_chip(sim), hw_sim_panel(sim), NULL, NULL, 0), 0);
  struct actuator_tap_record out[16];
  unsigned n;
  assert_int_equal(actuator_taps_poll(&t, 0, out, 16, &n), 0);
  assert_int_equal(n, 1); /* initial ATS state */
  const struct hw_panel *p = hw_sim_panel(sim);
  struct hw_gpio_event ev[3] = {
    { .timestamp_ns = 5 * MS, .offset = p->tap[1].line, .rising = true, .seqno = 9, .line_seqno = 3, .dropped_before = 7 },
    { .timestamp_ns = 4 * MS, .offset = 999, .rising = true }, /* unknown line, time backwards */
    { .timestamp_ns = 6 * MS, .offset = p->tap[1].line, .rising = false, .seqno = 10, .line_seqno = 4 },
  };
  int used = actuator_taps_feed(&t, ev, 3, 7 * MS, out, 16, &n);
  assert_int_equal(used, 3);
  assert_int_equal(t.gpio_overflow, 7);
  assert_int_equal(t.unknown_events, 1);
  unsigned taps = 0, ders = 0;
  for (unsigned i = 0; i < n; i++) {
    if (out[i].type == JOURNAL_T_TRIP_TAP) {
      taps++;
      if (taps == 1) assert_int_equal(out[i].body.trip_tap.dropped, 7);
    }
    if (out[i].type == JOURNAL_T_DER) { ders++; assert_int_equal(out[i].body.der.reason, JOURNAL_DERR_RESYNC); }
  }
  assert_int_equal(taps, 2);
  assert_int_equal(ders, 1);
  /* a too-small output array consumes nothing rather than dropping records */
  assert_int_equal(actuator_taps_feed(&t, ev, 3, 8 * MS, out, 3, &n), 0);
  actuator_taps_deinit(&t);
  hw_sim_destroy(sim);
  free(sc);
}

/* The actuator set's aux inputs: a burst that overflows the kernel buffer is counted and the
 * debounced aux level is resynced to the line. */
static void test_set_aux_overflow(void **state)
{
  (void)state;
  struct hw_scenario *sc = act_scenario(act_panel_json);
  struct hw_scenario_event *e;
  act_add_event(sc, 100 * MS, HW_EV_FAULT, HW_FAULT_GPIO_OVERFLOW, 1);
  for (unsigned i = 0; i < sc->num_events; i++) if (sc->event[i].sub == HW_FAULT_GPIO_OVERFLOW) { e = &sc->event[i]; e->value = 400; }
  struct hw_sim *sim = make_sim(sc);
  struct actuator_set s;
  struct actuator_initial init;
  memset(&init, 0, sizeof init);
  for (int k = 0; k < 6; k++) init.branch_on[k] = true;
  init.branch_on[2] = false;
  init.service_connected = true;
  assert_int_equal(actuator_set_init(&s, hw_sim_gpio_chip(sim), hw_sim_panel(sim), &init, NULL, 0), 0);
  struct actuator_sense_result res[4];
  unsigned n;
  for (int k = 0; k < 200; k++) { /* poll only every 100 ms: the 800-edge burst overflows */
    assert_int_equal(hw_sim_advance(sim, MS), 0);
    if (k % 100 == 99) assert_int_equal(actuator_poll(&s, hw_sim_now_ns(sim), res, 4, &n), 0);
  }
  assert_true(s.gpio_overflow > 0);
  assert_true(s.resyncs > 0);
  struct actuator_status st;
  struct hw_sim_branch_truth tr;
  assert_int_equal(actuator_status(&s, 1, &st), 0);
  assert_int_equal(hw_sim_branch_truth(sim, 1, &tr), 0);
  assert_int_equal(st.aux_closed, tr.contact_closed);
  actuator_set_deinit(&s);
  hw_sim_destroy(sim);
  free(sc);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tap_debounced_with_signature),
    cmocka_unit_test(test_der_ats_outage),
    cmocka_unit_test(test_der_heartbeat_and_no_comm),
    cmocka_unit_test(test_taps_overflow_counted_and_resynced),
    cmocka_unit_test(test_set_aux_overflow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
