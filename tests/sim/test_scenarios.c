/*
 * test_scenarios.c — every shipped scenario through the whole system: `hems run --sim NAME
 * --for 5m --speed max` on a fresh data dir must yield every record kind its stimuli call for
 * (derived from the scenario's own timeline), name the branch its faults were put on (a reversed
 * CT, a welded relay asked off), verify with only the public key, and pass
 * `hems replay --check` (every seal's live state hash and every decision recomputed offline).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "hw.h"
#include "journal.h"

#include "cli_test.h"

static int setup(void **state)
{
  (void)state;
  return cli_test_setup("scen");
}

/* Record kinds the scenario's stimuli call for. */
static void expected_kinds(const struct hw_scenario *sc, bool want[JOURNAL_T__MAX])
{
  memset(want, 0, JOURNAL_T__MAX);
  want[JOURNAL_T_BOOT] = want[JOURNAL_T_CONFIG] = want[JOURNAL_T_WINDOW] = want[JOURNAL_T_SEAL] = true;
  const struct hw_panel *p = &sc->panel;
  if (p->der.pv || p->der.ess || p->der.ats) want[JOURNAL_T_DER] = true; /* initial DER states */
  for (unsigned i = 0; i < sc->num_events; i++) {
    const struct hw_scenario_event *e = &sc->event[i];
    if (e->t_ns > 300ull * 1000000000ull) continue;
    switch (e->kind) {
    case HW_EV_SWITCH: want[JOURNAL_T_REQUEST] = true; break;
    case HW_EV_NOTE: want[JOURNAL_T_NOTE] = true; break;
    case HW_EV_TAP: want[JOURNAL_T_TRIP_TAP] = true; break;
    case HW_EV_DER: want[JOURNAL_T_DER] = true; break;
    case HW_EV_GRID:
      if (e->sub == HW_GRID_SAG || e->sub == HW_GRID_SWELL || e->sub == HW_GRID_OUTAGE) want[JOURNAL_T_PQ_EVENT] = true;
      break;
    case HW_EV_FAULT:
      if (e->sub == HW_FAULT_REVERSED_CT) {
        const struct hw_panel_branch *b = hw_panel_branch_by_number(p, e->branch);
        if (b && b->load_only) want[JOURNAL_T_FAULT] = true; /* suspected_ct_polarity */
      }
      break;
    case HW_EV_DR_START: case HW_EV_DR_CANCEL: case HW_EV_DR_OPT_OUT: case HW_EV_SERVICE:
      want[JOURNAL_T_REQUEST] = true;
      break;
    default: break;
    }
  }
}

/* What the scenario's own timeline makes certain for one branch: its CT was reversed (a
 * load-only branch must get a suspected_ct_polarity fault naming it), its relay welded before an
 * operator asked it off (that request's sense-back must say welded). */
struct branch_expect { bool ct_reversed, welded, welded_then_off; };

static void expected_branches(const struct hw_scenario *sc, struct branch_expect be[HW_MAX_BRANCHES + 1])
{
  memset(be, 0, sizeof *be * (HW_MAX_BRANCHES + 1));
  for (unsigned i = 0; i < sc->num_events; i++) {
    const struct hw_scenario_event *e = &sc->event[i];
    if (e->t_ns > 300ull * 1000000000ull || e->branch > HW_MAX_BRANCHES) continue;
    const struct hw_panel_branch *b = hw_panel_branch_by_number(&sc->panel, e->branch);
    if (e->kind == HW_EV_FAULT && e->sub == HW_FAULT_REVERSED_CT && b && b->load_only) be[e->branch].ct_reversed = true;
    if (e->kind == HW_EV_FAULT && e->sub == HW_FAULT_WELDED) be[e->branch].welded = true;
    if (e->kind == HW_EV_SWITCH && !e->on && be[e->branch].welded) be[e->branch].welded_then_off = true;
  }
}

#define VERDICTS (JOURNAL_VERDICT_CHATTER + 1)

/* Per branch: suspected_ct_polarity faults, and sense-backs of an "off" command by verdict. */
struct branch_seen { unsigned ct_polarity, off_verdict[VERDICTS]; };

/* Counts one record into the per-branch tallies. */
static void tally_branch(const struct journal_record *rec, struct branch_seen bs[HW_MAX_BRANCHES + 1])
{
  if (rec->type == JOURNAL_T_FAULT && rec->body.fault.branch <= HW_MAX_BRANCHES &&
      rec->body.fault.code.len == 21 && !memcmp(rec->body.fault.code.ptr, "suspected_ct_polarity", 21))
    bs[rec->body.fault.branch].ct_polarity++;
  if (rec->type == JOURNAL_T_SENSE_BACK && rec->body.sense_back.target <= HW_MAX_BRANCHES &&
      rec->body.sense_back.commanded == JOURNAL_DESIRED_OFF && rec->body.sense_back.verdict < VERDICTS)
    bs[rec->body.sense_back.target].off_verdict[rec->body.sense_back.verdict]++;
}

/* Runs the scenario for 5 simulated minutes in tmp/NAME; checks what every scenario must show,
 * and per branch exactly what its timeline makes certain. Returns the per-branch tallies (valid
 * until the next run). */
static const struct branch_seen *run_scenario_tally(const char *name)
{
  static struct branch_seen bs[HW_MAX_BRANCHES + 1];
  memset(bs, 0, sizeof bs);
  struct hw_scenario *sc = calloc(1, sizeof *sc);
  char err[256];
  assert_int_equal(hw_scenario_load(sc, name, err, sizeof err), 0);
  bool want[JOURNAL_T__MAX];
  expected_kinds(sc, want);
  static struct branch_expect be[HW_MAX_BRANCHES + 1];
  expected_branches(sc, be);
  free(sc);

  char dir[400];
  snprintf(dir, sizeof dir, "%s/%s", tmp, name);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, dir), 0);
  assert_int_equal(sh("%s run --dir %s --sim %s --for 5m --speed max 2>/dev/null", bin, dir, name), 0);

  /* kinds present, counted through the library */
  uint64_t count[JOURNAL_T__MAX] = { 0 };
  struct journal_reader *r;
  assert_int_equal(journal_reader_open(&r, dir, NULL, false), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(r, 1, &it), 0);
  uint64_t seq;
  const uint8_t *b;
  size_t len;
  unsigned cmd_or_refusal = 0;
  static struct journal_record rec;
  while (journal_iter_next(it, &seq, &b, &len) == 1) {
    assert_int_equal(journal_record_decode(b, len, &rec), 0);
    count[rec.type]++;
    if (rec.type == JOURNAL_T_COMMAND || rec.type == JOURNAL_T_REFUSAL) cmd_or_refusal++;
    tally_branch(&rec, bs);
  }
  journal_iter_end(it);
  journal_reader_close(r);
  for (unsigned t = 1; t < JOURNAL_T__MAX; t++) {
    if (want[t] && count[t] == 0) fail_msg("scenario %s: no %s record although its stimuli call for one", name, journal_type_name(t));
  }
  /* every request is decided: a command (then actuation and sense-back) or a refusal */
  if (count[JOURNAL_T_REQUEST]) {
    assert_true(cmd_or_refusal >= 1);
    if (count[JOURNAL_T_COMMAND]) {
      assert_true(count[JOURNAL_T_ACTUATION] >= 1);
      assert_true(count[JOURNAL_T_SENSE_BACK] >= 1);
    }
  }
  /* the data dir verifies with only its public key, and the offline fold agrees with the live one */
  assert_int_equal(sh("%s verify --dir %s --pubkey %s/keys/signing.pub >/dev/null", bin, dir, dir), 0);
  assert_int_equal(sh("%s replay --dir %s --check >/dev/null", bin, dir), 0);
  /* per branch: a polarity fault exactly where a CT was reversed; a welded relay asked off is
   * reported welded, and never confirmed off */
  for (unsigned n = 1; n <= HW_MAX_BRANCHES; n++) {
    if (be[n].ct_reversed && !bs[n].ct_polarity) fail_msg("scenario %s: branch %u's CT is reversed but no suspected_ct_polarity names it", name, n);
    if (!be[n].ct_reversed && bs[n].ct_polarity) fail_msg("scenario %s: suspected_ct_polarity for branch %u, whose CT is fine", name, n);
    if (be[n].welded_then_off && !bs[n].off_verdict[JOURNAL_VERDICT_WELDED]) fail_msg("scenario %s: branch %u welded, asked off, but no sense-back says welded", name, n);
    if (be[n].welded && bs[n].off_verdict[JOURNAL_VERDICT_CONFIRMED]) fail_msg("scenario %s: branch %u welded, yet an off was confirmed", name, n);
  }
  return bs;
}

static void run_scenario(const char *name) { run_scenario_tally(name); }

static void scenario_default(void **s) { (void)s; run_scenario("default"); }
static void scenario_sag_and_inrush(void **s) { (void)s; run_scenario("sag-and-inrush"); }
/* welded-relay.json: branch 2 (water heater) welds at 30 s, is asked off at 60 s; branch 1
 * (lights), healthy, is asked off at 120 s. */
static void scenario_welded_relay(void **s)
{
  (void)s;
  const struct branch_seen *b = run_scenario_tally("welded-relay");
  assert_true(b[2].off_verdict[JOURNAL_VERDICT_WELDED] >= 1);
  assert_int_equal(b[2].off_verdict[JOURNAL_VERDICT_CONFIRMED], 0);
  assert_int_equal(b[1].off_verdict[JOURNAL_VERDICT_CONFIRMED], 1);
  assert_int_equal(b[1].off_verdict[JOURNAL_VERDICT_WELDED], 0);
}
static void scenario_grid_outage_transfer(void **s) { (void)s; run_scenario("grid-outage-transfer"); }
/* reversed-ct.json: branch 4 (kettle circuit, load only) has its CT reversed from 0 s; the
 * other five branches' CTs are mounted right. */
static void scenario_reversed_ct(void **s)
{
  (void)s;
  const struct branch_seen *b = run_scenario_tally("reversed-ct");
  assert_true(b[4].ct_polarity >= 1);
  for (unsigned n = 1; n <= 6; n++)
    if (n != 4) assert_int_equal(b[n].ct_polarity, 0);
}
static void scenario_service_overload(void **s) { (void)s; run_scenario("service-overload"); }
static void scenario_full_panel(void **s) { (void)s; run_scenario("full-panel"); }

/* Service overload, then relief, through the daemon (tests/data/scenarios/overload-relief.json):
 * the lowest-priority branches are shed (sauna, then the EV charger), the fail-closed critical
 * fridge never; when the oven stops, both come back highest priority first, a stagger apart,
 * and nothing oscillates afterwards. */
static void overload_then_relief_restores_staggered(void **s)
{
  (void)s;
  char dir[400], scen[512];
  snprintf(dir, sizeof dir, "%s/relief", tmp);
  snprintf(scen, sizeof scen, "%s/tests/data/scenarios/overload-relief.json", HEMS_SOURCE_DIR);
  assert_int_equal(sh("%s init --dir %s >/dev/null", bin, dir), 0);
  assert_int_equal(sh("%s run --dir %s --sim %s --for 5m --speed max 2>/dev/null", bin, dir, scen), 0);
  struct journal_reader *r;
  assert_int_equal(journal_reader_open(&r, dir, NULL, false), 0);
  struct journal_iter *it;
  assert_int_equal(journal_iter_begin(r, 1, &it), 0);
  struct { uint16_t target; uint8_t desired, reason; int64_t wall; } cmd[16];
  int n = 0;
  uint64_t seq;
  const uint8_t *b;
  size_t len;
  static struct journal_record rec;
  while (journal_iter_next(it, &seq, &b, &len) == 1) {
    if (journal_record_decode(b, len, &rec) || rec.type != JOURNAL_T_COMMAND) continue;
    if (rec.body.command.reason == JOURNAL_CMD_FAIL_SAFE && !rec.body.command.cause_seq) continue; /* first boot */
    assert_true(n < 16);
    cmd[n].target = rec.body.command.target;
    cmd[n].desired = rec.body.command.desired;
    cmd[n].reason = rec.body.command.reason;
    cmd[n].wall = rec.wall_ns;
    n++;
  }
  journal_iter_end(it);
  journal_reader_close(r);
  assert_int_equal(n, 4); /* two sheds, two restores, no oscillation */
  assert_int_equal(cmd[0].target, 7); /* sauna, priority 0 */
  assert_int_equal(cmd[0].desired, JOURNAL_DESIRED_OFF);
  assert_int_equal(cmd[0].reason, JOURNAL_CMD_LOAD_SHED);
  assert_int_equal(cmd[1].target, 4); /* EV charger, priority 1 */
  assert_int_equal(cmd[1].reason, JOURNAL_CMD_LOAD_SHED);
  assert_int_equal(cmd[2].target, 4); /* back highest priority first */
  assert_int_equal(cmd[2].desired, JOURNAL_DESIRED_ON);
  assert_int_equal(cmd[2].reason, JOURNAL_CMD_RESTORE);
  assert_int_equal(cmd[3].target, 7);
  assert_int_equal(cmd[3].reason, JOURNAL_CMD_RESTORE);
  assert_true(cmd[3].wall - cmd[2].wall >= 2000000000ll); /* at least the 2 s stagger */
  assert_int_equal(sh("%s replay --dir %s --check >/dev/null", bin, dir), 0);
}

/* Every shipped scenario has a test above. */
static void every_shipped_scenario_is_covered(void **s)
{
  (void)s;
  static const char *const covered[] = { "default", "sag-and-inrush", "welded-relay", "grid-outage-transfer",
                                          "reversed-ct", "service-overload", "full-panel", NULL };
  for (const char *const *n = hw_scenario_names(); *n; n++) {
    bool found = false;
    for (const char *const *c = covered; *c; c++) if (!strcmp(*c, *n)) found = true;
    if (!found) fail_msg("shipped scenario %s has no end-to-end test", *n);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_shipped_scenario_is_covered),
    cmocka_unit_test(scenario_default),
    cmocka_unit_test(scenario_sag_and_inrush),
    cmocka_unit_test(scenario_welded_relay),
    cmocka_unit_test(scenario_grid_outage_transfer),
    cmocka_unit_test(scenario_reversed_ct),
    cmocka_unit_test(scenario_service_overload),
    cmocka_unit_test(scenario_full_panel),
    cmocka_unit_test(overload_then_relief_restores_staggered),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
