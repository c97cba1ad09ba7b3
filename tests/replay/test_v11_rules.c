/*
 * test_v11_rules.c — reducer v 11, decided from records alone:
 * - deferred: a branch with five operator commands in a minute is opened by the fail-safe at an
 *   outage (its sixth operation, the default limit 6/min); after the grid returns and the 10 s
 *   hold-off passes, its restore close waits at the limit and that wait is journaled exactly
 *   once — a refusal `deferred` (ops 6, ops_limit 6, target the branch, desired on, cause_seq
 *   the record it began at); the close runs when the first operation ages out (60 s after it),
 *   with no second refusal. Under v 10 the same records give no refusal at all.
 * - the battery's permit (reduce_ess.c): a config with an ESS on branch 4 and a permit line; an
 *   outage the transfer switch does not yet isolate: ess disconnect, reason interlock (at once);
 *   the switch on backup with its interlock made: ess connect, reason backup; the battery in
 *   alarm: disconnect, interlock; without a permit line in the config nothing is commanded; an
 *   interlock that flaps every second gets 7 permit commands, not 20 (ons wait at 6 per minute).
 * - the backup shed: on backup at 2250 W of load against the battery's 1200 W rating, exactly
 *   the lowest-priority non-critical branch (1500 W) opens, reason backup; the grid's return
 *   releases it to a restore after the hold-off.
 * The expected values are the rules' arithmetic worked by hand (docs/policy.md).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>
#include "replay.h"
#include "rp_util.h"

static const int64_t T0 = 9000000000000ll;
static const int64_t S = 1000000000ll;

/* Folds r and then the command / refusal records the fold asked for (as the harness appends
 * them); returns the effects. */
static struct replay_effects fold(struct replay_state *s, struct journal_record *r)
{
  struct replay_effects fx;
  memset(&fx, 0, sizeof fx);
  replay_apply(s, r, &fx);
  for (uint32_t i = 0; i < fx.n; i++) {
    const struct replay_effect *e = &fx.e[i];
    if (e->kind != REPLAY_EFFECT_COMMAND && e->kind != REPLAY_EFFECT_REFUSAL) continue;
    struct journal_record o;
    replay_effect_record(e, &o);
    o.seq = s->seq + 1;
    o.wall_ns = r->wall_ns;
    replay_apply(s, &o, NULL);
  }
  return fx;
}

static void at(struct journal_record *r, unsigned type, struct replay_state *s, int64_t t)
{
  memset(r, 0, sizeof *r);
  r->type = (uint16_t)type;
  r->seq = s->seq + 1;
  r->wall_ns = T0 + t;
}

static void config(struct replay_state *s, int64_t t, const char *json)
{
  struct journal_record r;
  at(&r, JOURNAL_T_CONFIG, s, t);
  r.body.config.config_version = 1;
  r.body.config.json = rp_lit(json);
  fold(s, &r);
}

static struct replay_effects note(struct replay_state *s, int64_t t)
{
  struct journal_record r;
  at(&r, JOURNAL_T_NOTE, s, t);
  r.body.note.text = rp_lit("tick");
  return fold(s, &r);
}

static struct replay_effects power_fail(struct replay_state *s, int64_t t, int asserted)
{
  struct journal_record r;
  at(&r, JOURNAL_T_TRIP_TAP, s, t);
  r.body.trip_tap.kind = JOURNAL_TAP_POWER_FAIL;
  r.body.trip_tap.edge = asserted ? JOURNAL_EDGE_RISING : JOURNAL_EDGE_FALLING;
  return fold(s, &r);
}

static struct replay_effects switch_req(struct replay_state *s, int64_t t, uint16_t b, int on, const char *id)
{
  struct journal_record r;
  at(&r, JOURNAL_T_REQUEST, s, t);
  r.body.request.kind = JOURNAL_REQ_SWITCH;
  r.body.request.target = b;
  r.body.request.desired = on ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF;
  r.body.request.role = JOURNAL_ROLE_OPERATOR;
  r.body.request.request_id = rp_lit(id);
  return fold(s, &r);
}

static unsigned count(const struct replay_effects *fx, uint8_t kind, uint8_t reason)
{
  unsigned n = 0;
  for (uint32_t i = 0; i < fx->n; i++) n += fx->e[i].kind == kind && fx->e[i].reason == reason;
  return n;
}

static void deferral(uint32_t v, unsigned *refusals, int64_t *close_t, struct replay_effect *ref)
{
  struct replay_state *s = rp_state_at(v, T0);
  assert_non_null(s);
  config(s, 0, "{\"branches\":[{\"number\":1,\"priority\":5,\"fail_safe\":\"open\"}]}");
  static const char *const ids[] = { "a", "b", "c", "d", "e" };
  for (int k = 0; k < 5; k++) { /* on, off, on, off, on at 1..5 s: five operations */
    struct replay_effects fx = switch_req(s, (1 + k) * S, 1, k % 2 == 0, ids[k]);
    assert_int_equal(count(&fx, REPLAY_EFFECT_COMMAND, JOURNAL_CMD_OPERATOR), 1);
  }
  struct replay_effects fx = power_fail(s, 6 * S, 1); /* the sixth: the fail-safe open */
  assert_int_equal(count(&fx, REPLAY_EFFECT_COMMAND, JOURNAL_CMD_FAIL_SAFE), 1);
  power_fail(s, 7 * S, 0);
  *refusals = 0;
  *close_t = 0;
  for (int64_t t = 8; t <= 70 && !*close_t; t++) {
    fx = note(s, t * S);
    for (uint32_t i = 0; i < fx.n; i++) {
      if (fx.e[i].kind == REPLAY_EFFECT_REFUSAL && fx.e[i].reason == JOURNAL_REF_DEFERRED) { (*refusals)++; *ref = fx.e[i]; }
      if (fx.e[i].kind == REPLAY_EFFECT_COMMAND && fx.e[i].reason == JOURNAL_CMD_RESTORE) *close_t = t;
    }
  }
  free(s);
}

static void deferred_once(void **state)
{
  (void)state;
  unsigned n;
  int64_t close_t;
  struct replay_effect e;
  memset(&e, 0, sizeof e);
  deferral(11, &n, &close_t, &e);
  assert_int_equal(n, 1);
  assert_int_equal(e.target, 1);
  assert_int_equal(e.desired, JOURNAL_DESIRED_ON);
  assert_int_equal(e.ops, 6);
  assert_int_equal(e.ops_limit, 6);
  assert_true(e.cause_seq > 0);
  /* the first operation (1 s) ages out at 61 s: the close runs then, not before */
  assert_int_equal(close_t, 61);
  /* the rule is v 11's: v 10 waits silently, and closes at the same moment */
  deferral(10, &n, &close_t, &e);
  assert_int_equal(n, 0);
  assert_int_equal(close_t, 61);
}

/* the ATS's der record: grid present, on backup, interlock made */
static struct replay_effects ats(struct replay_state *s, int64_t t, int grid, int backup, int interlock_ok)
{
  struct journal_record r;
  at(&r, JOURNAL_T_DER, s, t);
  r.body.der.source = JOURNAL_DER_ATS;
  r.body.der.state = backup ? JOURNAL_DERST_ON_BACKUP : JOURNAL_DERST_ON_GRID;
  r.body.der.transfer = backup ? JOURNAL_XFER_BACKUP : JOURNAL_XFER_GRID;
  r.body.der.grid_present = (uint8_t)grid;
  r.body.der.interlock_ok = (uint8_t)interlock_ok;
  r.body.der.fresh = 1;
  return fold(s, &r);
}

static struct replay_effects ess(struct replay_state *s, int64_t t, uint8_t state)
{
  struct journal_record r;
  at(&r, JOURNAL_T_DER, s, t);
  r.body.der.source = JOURNAL_DER_ESS;
  r.body.der.state = state;
  r.body.der.branch = 4;
  r.body.der.grid_present = 1;
  r.body.der.interlock_ok = 1;
  r.body.der.fresh = 1;
  return fold(s, &r);
}

static const struct replay_effect *find_der(const struct replay_effects *fx)
{
  for (uint32_t i = 0; i < fx->n; i++)
    if (fx->e[i].kind == REPLAY_EFFECT_COMMAND && fx->e[i].der == JOURNAL_DERT_ESS) return &fx->e[i];
  return NULL;
}

#define PANEL_BRANCHES                                                                             \
  "\"branches\":[{\"number\":1,\"priority\":9,\"critical\":true,\"fail_safe\":\"closed\"},"      \
  "{\"number\":2,\"priority\":9,\"critical\":true,\"fail_safe\":\"closed\"},"                     \
  "{\"number\":4,\"priority\":5,\"fail_safe\":\"closed\"},"                                       \
  "{\"number\":5,\"priority\":2,\"fail_safe\":\"last_proven\"},"                                  \
  "{\"number\":6,\"priority\":4,\"fail_safe\":\"last_proven\"}]"
static const char *const WITH_PERMIT = "{" PANEL_BRANCHES ",\"der\":{\"ess\":{\"branch\":4,\"capacity_wh\":13500.0,"
                                       "\"max_w\":1200.0},\"ats\":true,\"lines\":{\"ess_permit\":245}}}";
static const char *const NO_PERMIT = "{" PANEL_BRANCHES ",\"der\":{\"ess\":{\"branch\":4,\"capacity_wh\":13500.0,"
                                     "\"max_w\":1200.0},\"ats\":true,\"lines\":{\"ess_permit\":null}}}";

static void permit(void **state)
{
  (void)state;
  struct replay_state *s = rp_state_at(11, T0);
  assert_non_null(s);
  config(s, 0, WITH_PERMIT);
  ess(s, 1 * S, JOURNAL_DERST_IDLE);
  struct replay_effects fx = ats(s, 2 * S, 1, 0, 1); /* grid present: no rule speaks */
  assert_null(find_der(&fx));
  fx = ats(s, 10 * S, 0, 0, 1); /* the outage, not yet isolated: emergency disconnect */
  const struct replay_effect *e = find_der(&fx);
  assert_non_null(e);
  assert_int_equal(e->reason, JOURNAL_CMD_INTERLOCK);
  assert_int_equal(e->der_action, JOURNAL_DERA_DISCONNECT);
  assert_int_equal(e->desired, JOURNAL_DESIRED_OFF);
  assert_int_equal(e->target, 4);
  fx = note(s, 11 * S); /* nothing new: it holds */
  assert_null(find_der(&fx));
  fx = ats(s, 13 * S, 0, 1, 1); /* on backup, isolated: the battery may carry the house */
  e = find_der(&fx);
  assert_non_null(e);
  assert_int_equal(e->reason, JOURNAL_CMD_BACKUP);
  assert_int_equal(e->der_action, JOURNAL_DERA_CONNECT);
  assert_int_equal(s->pol.permit, REPLAY_ON);
  fx = ess(s, 14 * S, JOURNAL_DERST_ALARM); /* the battery's alarm: emergency disconnect */
  e = find_der(&fx);
  assert_non_null(e);
  assert_int_equal(e->reason, JOURNAL_CMD_INTERLOCK);
  assert_int_equal(e->der_action, JOURNAL_DERA_DISCONNECT);
  free(s);

  s = rp_state_at(11, T0); /* no permit line: the battery is not the fold's to drive */
  assert_non_null(s);
  config(s, 0, NO_PERMIT);
  ess(s, 1 * S, JOURNAL_DERST_IDLE);
  fx = ats(s, 10 * S, 0, 0, 1);
  assert_null(find_der(&fx));
  fx = ats(s, 13 * S, 0, 1, 1);
  assert_null(find_der(&fx));
  free(s);
}

/* A transfer switch whose interlock flaps every second on backup: the permit's ons wait at the
 * operations limit (6 in 60 s) while its offs never do — 7 commands (off, on ×3 / off ×3, the last
 * off), nothing more while it flaps, and the on once two of them have aged out (13 s + 60 s). */
static void permit_no_chatter(void **state)
{
  (void)state;
  struct replay_state *s = rp_state_at(11, T0);
  assert_non_null(s);
  config(s, 0, WITH_PERMIT);
  ess(s, 1 * S, JOURNAL_DERST_IDLE);
  unsigned n = 0, ons = 0;
  int64_t last_on = 0;
  struct replay_effects fx = ats(s, 10 * S, 0, 0, 1);
  n += find_der(&fx) != NULL;
  for (int64_t t = 13; t <= 30; t++) {
    fx = ats(s, t * S, 0, 1, t % 2 == 1);
    const struct replay_effect *e = find_der(&fx);
    if (e) { n++; if (e->desired == JOURNAL_DESIRED_ON) ons++; }
  }
  assert_int_equal(n, 7);
  assert_int_equal(ons, 3);
  assert_int_equal(s->pol.permit, REPLAY_OFF);
  for (int64_t t = 31; t <= 80 && !last_on; t++) {
    fx = ats(s, t * S, 0, 1, 1);
    const struct replay_effect *e = find_der(&fx);
    if (e) { assert_int_equal(e->desired, JOURNAL_DESIRED_ON); last_on = t; }
  }
  assert_int_equal(last_on, 73);
  free(s);
}

/* A window of AFE 2 with one power per branch (W), phase A. */
static struct replay_effects window(struct replay_state *s, int64_t t, const uint16_t *br, const int32_t *w, unsigned n)
{
  struct journal_record r;
  at(&r, JOURNAL_T_WINDOW, s, t);
  struct journal_window *wi = &r.body.window;
  wi->afe = 2;
  wi->start_ns = T0 + t - S;
  wi->duration_us = 1000000;
  for (unsigned i = 0; i < n; i++) {
    struct journal_window_power *p = &wi->pow[wi->npow++];
    p->ich = (uint8_t)(3 + i);
    p->branch = br[i];
    p->phase = JOURNAL_PHASE_A;
    p->p_mw = (int64_t)w[i] * 1000;
    p->s_mva = (int64_t)w[i] * 1000;
  }
  return fold(s, &r);
}

static void backup_shed(void **state)
{
  (void)state;
  struct replay_state *s = rp_state_at(11, T0);
  assert_non_null(s);
  config(s, 0, WITH_PERMIT);
  static const uint16_t br[] = { 1, 2, 5, 6 };
  static const int32_t w[] = { 300, 150, 1500, 300 }; /* 2250 W */
  for (unsigned i = 0; i < 4; i++) switch_req(s, (1 + i) * S / 10, br[i], 1, i == 0 ? "1" : i == 1 ? "2" : i == 2 ? "5" : "6");
  ess(s, 1 * S, JOURNAL_DERST_IDLE);
  window(s, 2 * S, br, w, 4); /* on the grid: nothing is shed at 2250 W */
  for (int i = 0; i < 6; i++) assert_int_equal(s->br[i].layers, 0);
  ats(s, 10 * S, 0, 0, 1);
  ats(s, 13 * S, 0, 1, 1);
  assert_int_equal(s->pol.permit, REPLAY_ON);
  struct replay_effects fx = window(s, 14 * S, br, w, 4);
  /* 2250 W against 1200 W: branch 5 (priority 2, 1500 W) goes, 750 W remain; the critical
   * branches 1 and 2 and branch 6 stay */
  assert_int_equal(count(&fx, REPLAY_EFFECT_COMMAND, JOURNAL_CMD_BACKUP), 1);
  for (uint32_t i = 0; i < fx.n; i++)
    if (fx.e[i].reason == JOURNAL_CMD_BACKUP) {
      assert_int_equal(fx.e[i].target, 5);
      assert_int_equal(fx.e[i].desired, JOURNAL_DESIRED_OFF);
    }
  static const int32_t w2[] = { 300, 150, 0, 300 };
  fx = window(s, 15 * S, br, w2, 4);
  assert_int_equal(count(&fx, REPLAY_EFFECT_COMMAND, JOURNAL_CMD_BACKUP), 0);
  /* the grid returns: released, closed by a restore after the 10 s hold-off */
  ats(s, 40 * S, 1, 0, 1);
  int64_t restored = 0;
  for (int64_t t = 41; t <= 60 && !restored; t++) {
    fx = window(s, t * S, br, w2, 4);
    for (uint32_t i = 0; i < fx.n; i++)
      if (fx.e[i].kind == REPLAY_EFFECT_COMMAND && fx.e[i].target == 5 && fx.e[i].reason == JOURNAL_CMD_RESTORE) restored = t;
  }
  assert_true(restored >= 50 && restored <= 51);
  free(s);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(deferred_once),
    cmocka_unit_test(permit),
    cmocka_unit_test(permit_no_chatter),
    cmocka_unit_test(backup_shed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
