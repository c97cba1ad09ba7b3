/*
 * test_v8_protect.c — reducer v 8, the protective action (issue 17 item 3), folded under v 8 and
 * v 7 from the same records: a config record with "mains" 3ph-230-50 and "pq" {dip 90 %, swell
 * 110 %, hysteresis 2 %, protect_after_s 10} marks branch 12 sensitive (13 is not); both are on.
 * Phase A at 255 V (110.9 % of 230 V: above the swell threshold) — 9 s of it does nothing; at
 * 10 s the fold opens branch 12 only (command reason protect). 250 V (108.7 %: below 110 % but
 * above 110 − 2 %) is not back inside the band: nothing closes. 240 V (104.3 %) is back: after
 * the 10 s restore hold-off branch 12 closes (reason restore). An under-voltage of 200 V
 * (87 %) does the same. Under v 7 none of it happens. A config without "pq" has the defaults
 * (protect after 60 s); "restore" sets the hold-offs. The thresholds are percentages of the nominal, as IEC 61000-4-30 sets
 * dips and swells; the arithmetic here is the expected value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "replay.h"
#include "rp_util.h"

static const int64_t T0 = 9000000000000ll;
#define S 1000000000ll

static uint64_t seq;

static void apply(struct replay_state *s, struct journal_record *r, int64_t at, struct replay_effects *fx)
{
  r->seq = ++seq;
  r->wall_ns = T0 + at;
  replay_apply(s, r, fx);
}

static struct replay_state *setup_state(uint32_t v, const char *config)
{
  seq = 0;
  struct replay_state *s = malloc(sizeof *s);
  replay_state_init(s);
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_BOOT;
  r.body.boot.reducer_version = v;
  apply(s, &r, 0, NULL);
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_CONFIG;
  r.body.config.json = rp_lit(config);
  apply(s, &r, 0, NULL);
  for (uint16_t b = 12; b <= 13; b++) {
    memset(&r, 0, sizeof r);
    r.type = JOURNAL_T_COMMAND;
    r.body.command.target = b;
    r.body.command.desired = JOURNAL_DESIRED_ON;
    apply(s, &r, 0, NULL);
    memset(&r, 0, sizeof r);
    r.type = JOURNAL_T_SENSE_BACK;
    r.body.sense_back.target = b;
    r.body.sense_back.commanded = JOURNAL_DESIRED_ON;
    r.body.sense_back.sensed = JOURNAL_SENSED_ON;
    r.body.sense_back.load_v = JOURNAL_LOADV_NOT_WIRED;
    apply(s, &r, 0, NULL);
  }
  return s;
}

static uint16_t g_afe = 1; /* the AFE the windows come from */

/* A 1 s window ending at `at` with phase A at mv (B and C at 230 V); returns its effects. */
static struct replay_effects window(struct replay_state *s, int64_t at, int32_t mv)
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_WINDOW;
  r.body.window.afe = g_afe; /* the voltage source: AFE 1 unless the config names a mains AFE */
  r.body.window.start_ns = T0 + at - S;
  r.body.window.duration_us = 1000000;
  r.body.window.nch = 3;
  for (int k = 0; k < 3; k++)
    r.body.window.ch[k] = (struct journal_window_channel){ .ch = (uint8_t)(4 + k), .kind = JOURNAL_CH_VOLTAGE,
                                                           .phase = (uint8_t)k, .rms_m = k ? 230000 : mv };
  struct replay_effects fx;
  apply(s, &r, at, &fx);
  return fx;
}

/* Acts on a command effect as the daemon would: its record, then a confirmed sense-back. */
static void execute(struct replay_state *s, const struct replay_effect *e, int64_t at)
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_COMMAND;
  r.body.command.target = e->target;
  r.body.command.desired = e->desired;
  r.body.command.reason = e->reason;
  r.body.command.cause_seq = e->cause_seq;
  apply(s, &r, at, NULL);
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_SENSE_BACK;
  r.body.sense_back.target = e->target;
  r.body.sense_back.commanded = e->desired;
  r.body.sense_back.sensed = e->desired == JOURNAL_DESIRED_ON ? JOURNAL_SENSED_ON : JOURNAL_SENSED_OFF;
  r.body.sense_back.load_v = JOURNAL_LOADV_NOT_WIRED;
  apply(s, &r, at, NULL);
}

/* Folds 1 s windows at mv from `from` s to `to` s; returns the second the first command came
 * at (-1 none) and that command in *cmd. */
static int run_until_command(struct replay_state *s, int from, int to, int32_t mv, struct replay_effect *cmd)
{
  for (int t = from; t <= to; t++) {
    struct replay_effects fx = window(s, t * S, mv);
    for (uint32_t i = 0; i < fx.n; i++)
      if (fx.e[i].kind == REPLAY_EFFECT_COMMAND) {
        *cmd = fx.e[i];
        execute(s, cmd, t * S);
        return t;
      }
  }
  return -1;
}

static const char *CONFIG = "{\"mains\":\"3ph-230-50\",\"pq\":{\"dip_pct\":90.0,\"hysteresis_pct\":2.0,"
                            "\"interruption_pct\":10.0,\"protect_after_s\":10,\"swell_pct\":110.0},"
                            "\"branches\":[{\"number\":12,\"load_only\":true,\"sensitive\":true},"
                            "{\"number\":13,\"load_only\":true}],\"service_limit_a\":63}";

static void test_swell(void **st)
{
  (void)st;
  for (uint32_t v = 7; v <= 8; v++) {
    struct replay_state *s = setup_state(v, CONFIG);
    struct replay_effect c;
    assert_int_equal(run_until_command(s, 1, 5, 230000, &c), -1);
    /* out from the window 5..6 s (journaled at 6 s, which already counts its second): 15 s */
    int t = run_until_command(s, 6, 40, 255000, &c);
    if (v < 8) { assert_int_equal(t, -1); free(s); continue; }
    assert_int_equal(t, 15);
    assert_int_equal(c.target, 12);
    assert_int_equal(c.desired, JOURNAL_DESIRED_OFF);
    assert_int_equal(c.reason, JOURNAL_CMD_PROTECT);
    assert_int_equal(s->br[12].commanded, REPLAY_ON); /* branch 13: not sensitive, left alone */
    assert_int_equal(run_until_command(s, 16, 30, 255000, &c), -1);
    assert_int_equal(run_until_command(s, 31, 60, 250000, &c), -1); /* inside 110 %, not 108 %: not back */
    /* back from the window 60..61 s (journaled at 61 s, which counts its second); the hold-off
     * of 10 s ends at 70 s */
    t = run_until_command(s, 61, 90, 240000, &c);
    assert_int_equal(t, 70);
    assert_int_equal(c.target, 12);
    assert_int_equal(c.desired, JOURNAL_DESIRED_ON);
    assert_int_equal(c.reason, JOURNAL_CMD_RESTORE);
    assert_int_equal(s->pol.protecting, 0);
    free(s);
  }
}

static void test_undervoltage_and_defaults(void **st)
{
  (void)st;
  struct replay_state *s = setup_state(8, CONFIG);
  struct replay_effect c;
  /* 200 V = 87 %: out; 207 V = 90.0 % is not below the threshold (out means below 90 %); out
   * from the window 30..31 s, so 10 s later is 40 s */
  assert_int_equal(run_until_command(s, 1, 30, 207000, &c), -1);
  assert_int_equal(run_until_command(s, 31, 60, 200000, &c), 40);
  assert_int_equal(c.reason, JOURNAL_CMD_PROTECT);
  free(s);
  /* no "pq": 60 s */
  s = setup_state(8, "{\"mains\":\"3ph-230-50\",\"branches\":[{\"number\":12,\"load_only\":true,\"sensitive\":true}]}");
  assert_int_equal(run_until_command(s, 1, 200, 260000, &c), 60);
  assert_int_equal(c.reason, JOURNAL_CMD_PROTECT);
  free(s);
  /* no nominal (no "mains"): no protection */
  s = setup_state(8, "{\"branches\":[{\"number\":12,\"load_only\":true,\"sensitive\":true}]}");
  assert_int_equal(run_until_command(s, 1, 200, 260000, &c), -1);
  free(s);
}

/* "restore": {"holdoff_s": 20}: the same swell closes the branch 20 s after the band, not 10;
 * a hold-off under the floor (5 s) is raised to it, and the protective restore waits at least
 * protect_after_s. */
static void test_configured_holdoff(void **st)
{
  (void)st;
  static const char *cfg = "{\"mains\":\"3ph-230-50\",\"pq\":{\"protect_after_s\":10},\"restore\":{\"holdoff_s\":20,"
                           "\"der_holdoff_s\":3},\"branches\":[{\"number\":12,\"load_only\":true,\"sensitive\":true}]}";
  struct replay_state *s = setup_state(8, cfg);
  assert_true(s->pol.holdoff_ns == 20 * S && s->pol.der_holdoff_ns == REPLAY_MIN_HOLDOFF_NS);
  struct replay_effect c;
  assert_int_equal(run_until_command(s, 1, 30, 255000, &c), 10);
  assert_int_equal(run_until_command(s, 11, 30, 255000, &c), -1);
  assert_int_equal(run_until_command(s, 31, 80, 230000, &c), 50); /* back from the window 30..31 s */
  assert_int_equal(c.reason, JOURNAL_CMD_RESTORE);
  free(s);
  /* under v 7 the hold-offs stay the defaults */
  s = setup_state(7, cfg);
  assert_true(s->pol.holdoff_ns == REPLAY_DEFAULT_RESTORE_HOLDOFF_NS && s->pol.der_holdoff_ns == REPLAY_DEFAULT_DER_HOLDOFF_NS);
  free(s);
}

/* Review findings: one voltage source; the restore wait doubling per trip within an hour; a
 * DER branch's restore after the DER hold-off; no action on split-phase; a config with
 * non-numbers keeps the defaults (the same state on every build); a clock step neither fires
 * nor delays the action. */
static void test_hardening(void **st)
{
  (void)st;
  struct replay_effect c;
  /* the mains AFE is AFE 3: AFE 1's windows are not the source */
  static const char *mains3 = "{\"afes\":[{\"index\":0,\"mains\":false},{\"index\":2,\"mains\":true}],\"mains\":\"3ph-230-50\","
                              "\"pq\":{\"protect_after_s\":10},\"branches\":[{\"number\":12,\"load_only\":true,\"sensitive\":true}]}";
  struct replay_state *s = setup_state(8, mains3);
  assert_int_equal(s->pol.mains_afe, 3);
  g_afe = 1;
  assert_int_equal(run_until_command(s, 1, 40, 260000, &c), -1);
  g_afe = 3;
  assert_int_equal(run_until_command(s, 41, 80, 260000, &c), 50);
  g_afe = 1;
  free(s);

  /* backoff: a 20 s swell every 100 s; restore 10, 20, 40 s after each */
  s = setup_state(8, CONFIG);
  int t0 = 0;
  for (int k = 0; k < 3; k++) {
    assert_int_equal(run_until_command(s, t0 + 1, t0 + 5, 230000, &c), -1);
    assert_int_equal(run_until_command(s, t0 + 6, t0 + 25, 255000, &c), t0 + 15);
    assert_int_equal(run_until_command(s, t0 + 16, t0 + 25, 255000, &c), -1);
    int back = run_until_command(s, t0 + 26, t0 + 99, 230000, &c);
    assert_int_equal(back, t0 + 26 + (10 << k) - 1);
    assert_int_equal(c.reason, JOURNAL_CMD_RESTORE);
    t0 += 100;
  }
  assert_int_equal(s->pol.protect_trips, 3);
  free(s);

  /* a sensitive branch with DER behind it waits the DER hold-off (300 s) */
  s = setup_state(8, "{\"mains\":\"3ph-230-50\",\"pq\":{\"protect_after_s\":10},"
                     "\"branches\":[{\"number\":12,\"load_only\":false,\"sensitive\":true}]}");
  assert_int_equal(run_until_command(s, 1, 30, 255000, &c), 10);
  assert_int_equal(run_until_command(s, 11, 30, 255000, &c), -1);
  assert_int_equal(run_until_command(s, 31, 400, 230000, &c), 31 + 300 - 1);
  free(s);

  /* split-phase: no nominal, no action */
  s = setup_state(8, "{\"mains\":\"split-120-240-60\",\"pq\":{\"protect_after_s\":10},"
                     "\"branches\":[{\"number\":12,\"load_only\":true,\"sensitive\":true}]}");
  assert_int_equal(s->pol.nominal_mv, 0);
  assert_int_equal(run_until_command(s, 1, 100, 240000, &c), -1);
  free(s);

  /* non-numbers keep the defaults; a hold-off or protect time under the floor is raised */
  s = setup_state(8, "{\"mains\":\"3ph-230-50\",\"restore\":{\"holdoff_s\":null,\"der_holdoff_s\":1},"
                     "\"pq\":{\"dip_pct\":null,\"swell_pct\":\"x\",\"hysteresis_pct\":-5,\"protect_after_s\":2}}");
  assert_int_equal(s->pol.pq_low_permille, REPLAY_DEFAULT_PQ_LOW_PERMILLE);
  assert_int_equal(s->pol.pq_high_permille, REPLAY_DEFAULT_PQ_HIGH_PERMILLE);
  assert_int_equal(s->pol.pq_hyst_permille, REPLAY_DEFAULT_PQ_HYST_PERMILLE);
  assert_true(s->pol.protect_ns == REPLAY_MIN_PROTECT_NS);
  assert_true(s->pol.holdoff_ns == REPLAY_DEFAULT_RESTORE_HOLDOFF_NS && s->pol.der_holdoff_ns == REPLAY_MIN_HOLDOFF_NS);
  free(s);

  /* a forward clock step of 1000 s during a swell counts 2 s, not 1000 */
  s = setup_state(8, CONFIG);
  assert_int_equal(run_until_command(s, 1, 5, 255000, &c), -1); /* out from 1 s: 5 s so far */
  assert_int_equal(run_until_command(s, 1006, 1008, 255000, &c), -1); /* +2 (the step), +1, +1: 9 s */
  assert_int_equal(run_until_command(s, 1009, 1020, 255000, &c), 1009);
  free(s);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_swell),
    cmocka_unit_test(test_undervoltage_and_defaults),
    cmocka_unit_test(test_configured_holdoff),
    cmocka_unit_test(test_hardening),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
