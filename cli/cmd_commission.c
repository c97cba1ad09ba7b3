/*
 * cmd_commission.c — `hems commission`: the active commissioning check of CT polarity and
 * phase mapping. With a known resistive load on each branch (a heater, a kettle, a lamp), the
 * running daemon switches the branch on and off through ordinary journaled requests (interlocks,
 * the operations limit and sense-backs apply as to any switch), and the windows the journal
 * records after each sense-back give the load's own change: ΔP and ΔQ. Its angle says what the
 * current follows (docs/operations.md "Commissioning"; the reference's field playbook: "if V–I
 * phase and sign flip with CT orientation, polarity is wrong; if the error follows phase labels,
 * mapping is wrong"):
 *   ~0°   the configured phase, CT the right way round             → ok
 *   ~180° the configured phase, CT reversed                        → ct_reversed
 *   ~±120° / ~±60°  another phase (reversed when ±60°)             → phase_map
 * (the angle of ΔP + jΔQ: φV − φI). With ABC rotation (L1, L2, L3), the voltage of the phase
 * after the configured one lags it by 120°: a current on it shows +120°. A load
 * change too small to measure is `no_load`; an angle near none of these is `inconclusive` (the
 * load is not resistive). Each branch is left as it was found. The findings are journaled as
 * one note.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "reduce.h"

#define COMMISSION_MIN_MA 100      /* a load change below this is no measurement */
#define COMMISSION_TOLERANCE_DEG 25.0
#define COMMISSION_WAIT_S 120      /* for the windows after a switch (panel time may be slow) */

struct meas {
  bool have;
  uint64_t seq;  /* the window */
  int64_t p_mw, q_mvar, i_ma;
};

struct branch_result {
  unsigned number;
  const char *name, *phase;
  const char *verdict;
  char follows[24];
  bool reversed;
  double angle_deg;
  struct meas on, off;
  char why[160];
};

/* The branch's power in the newest of `settle` windows of its AFE after seq `after`. */
struct wait_ctx {
  unsigned afe, branch, settle, seen;
  struct meas m;
};

static int take_window(void *ctx, const uint8_t *b, size_t len)
{
  struct wait_ctx *w = ctx;
  char *j = journal_record_to_json(b, len, JOURNAL_JSON_COMPACT);
  json_t *o = j ? json_loads(j, 0, NULL) : NULL;
  free(j);
  json_t *body = json_object_get(o, "body");
  if ((unsigned)json_integer_value(json_object_get(body, "afe")) == w->afe) {
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(body, "powers"), i, p) {
      if ((unsigned)json_integer_value(json_object_get(p, "branch")) != w->branch) continue;
      w->seen++;
      w->m.have = true;
      w->m.seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
      w->m.p_mw = json_integer_value(json_object_get(p, "p_mw"));
      w->m.q_mvar = json_integer_value(json_object_get(p, "q_mvar"));
      size_t k;
      json_t *c;
      json_array_foreach(json_object_get(body, "channels"), k, c)
        if (json_integer_value(json_object_get(c, "ch")) == json_integer_value(json_object_get(p, "ich")) &&
            !strcmp(json_string_value(json_object_get(c, "kind")) ? json_string_value(json_object_get(c, "kind")) : "", "current"))
          w->m.i_ma = json_integer_value(json_object_get(c, "rms_m"));
    }
  }
  json_decref(o);
  return w->seen >= w->settle; /* enough: stop */
}

static int wait_windows(const struct cli_common *c, unsigned afe, unsigned branch, uint64_t after, unsigned settle, struct meas *out)
{
  struct cli_filter f;
  memset(&f, 0, sizeof f);
  f.types[JOURNAL_T_WINDOW] = true;
  f.any_type = true;
  f.since_seq = after + 1;
  time_t t0 = time(NULL);
  for (;;) {
    struct wait_ctx w = { afe, branch, settle, 0, { 0 } };
    int rc = cli_walk(c, NULL, NULL, &f, 0, take_window, &w);
    if (rc) return rc;
    if (w.seen >= settle) { *out = w.m; return 0; }
    if (time(NULL) - t0 > COMMISSION_WAIT_S) {
      cli_err("commission: branch %u: no %u windows of AFE %u after seq %llu within %d s (is the daemon metering?)", branch,
              settle, afe, (unsigned long long)after, COMMISSION_WAIT_S);
      return CLI_FAIL;
    }
    usleep(200000);
  }
}

/* One switch through the daemon: the command's seq when its sense-back confirmed it. */
static int switch_branch(const char *dir, unsigned branch, bool on, const char *run_id, const char *step, uint64_t *command_seq)
{
  char rid[80], reason[64];
  /* one id per step: a repeated id would get the stored outcome and no actuation */
  snprintf(rid, sizeof rid, "commission-%s-%u-%s", run_id, branch, step);
  snprintf(reason, sizeof reason, "commissioning check");
  json_t *req = json_pack("{s:s, s:I, s:s, s:s, s:s}", "op", "switch", "branch", (json_int_t)branch, "desired", on ? "on" : "off",
                          "request_id", rid, "reason", reason);
  json_t *o;
  int rc = cli_daemon_request(dir, req, 60000, &o);
  if (rc) return rc;
  const char *outcome = json_string_value(json_object_get(o, "outcome"));
  const char *verdict = json_string_value(json_object_get(o, "verdict"));
  if (!json_is_true(json_object_get(o, "ok")) || !outcome || strcmp(outcome, "command") || !verdict || strcmp(verdict, "confirmed")) {
    const char *why = json_string_value(json_object_get(o, "reason"));
    if (!why) why = json_string_value(json_object_get(o, "error"));
    if (!why) why = verdict;
    cli_err("commission: branch %u %s: %s %s", branch, on ? "on" : "off", outcome ? outcome : "failed", why ? why : "");
    json_decref(o);
    return CLI_FAIL;
  }
  *command_seq = (uint64_t)json_integer_value(json_object_get(o, "command_seq"));
  json_decref(o);
  return 0;
}

static int phase_index(const char *label)
{
  if (!label) return -1;
  if (!strcmp(label, "L1") || !strcmp(label, "A")) return 0;
  if (!strcmp(label, "L2") || !strcmp(label, "B")) return 1;
  if (!strcmp(label, "L3") || !strcmp(label, "C")) return 2;
  return -1;
}

/* The decision from the load's change (on − off). */
static void decide(struct branch_result *r)
{
  double dp = (double)(r->on.p_mw - r->off.p_mw), dq = (double)(r->on.q_mvar - r->off.q_mvar);
  int64_t di = r->on.i_ma - r->off.i_ma;
  if (di < COMMISSION_MIN_MA && di > -COMMISSION_MIN_MA) {
    r->verdict = "no_load";
    snprintf(r->why, sizeof r->why, "the current changed by %lld mA: put a known resistive load (≥ 0.1 A) on the branch",
             (long long)di);
    return;
  }
  r->angle_deg = atan2(dq, dp) * 180.0 / M_PI;
  int cfg = phase_index(r->phase);
  /* the angle of ΔS = V·conj(ΔI), φV − φI (Q > 0: the current lags): the current on phase k
   * (0 the configured one, 1 the next, whose voltage lags 120°, 2 the one after) through a CT
   * the right way round gives 120°·k; reversed, 180° more */
  double best = 1e9;
  int bk = 0;
  bool brev = false;
  for (int k = 0; k < 3; k++)
    for (int rev = 0; rev < 2; rev++) {
      double want = 120.0 * k + (rev ? 180.0 : 0.0);
      double d = fmod(fabs(r->angle_deg - want), 360.0);
      if (d > 180.0) d = 360.0 - d;
      if (d < best) { best = d; bk = k; brev = rev; }
    }
  if (best > COMMISSION_TOLERANCE_DEG) {
    r->verdict = "inconclusive";
    snprintf(r->why, sizeof r->why, "the load's angle %.0f° is near no phase: is the load resistive?", r->angle_deg);
    return;
  }
  r->reversed = brev;
  if (cfg >= 0) snprintf(r->follows, sizeof r->follows, "L%d", (cfg + bk) % 3 + 1);
  else snprintf(r->follows, sizeof r->follows, "%s+%d", r->phase ? r->phase : "?", bk);
  if (bk == 0 && !brev) {
    r->verdict = "ok";
    snprintf(r->why, sizeof r->why, "the current follows %s, the CT the right way round", r->follows);
  } else if (bk == 0) {
    r->verdict = "ct_reversed";
    snprintf(r->why, sizeof r->why, "the current follows %s reversed: turn the CT round (or set its polarity to -1)", r->follows);
  } else {
    r->verdict = "phase_map";
    snprintf(r->why, sizeof r->why, "the current follows %s%s, not %s: correct the phase mapping%s", r->follows, brev ? " reversed" : "",
             r->phase ? r->phase : "?", brev ? " and the CT's direction" : "");
  }
}

static json_t *result_json(const struct branch_result *r)
{
  json_t *o = json_pack("{s:I, s:s, s:s}", "branch", (json_int_t)r->number, "name", r->name ? r->name : "", "verdict", r->verdict);
  json_object_set_new(o, "phase", json_string(r->phase ? r->phase : ""));
  if (r->follows[0]) json_object_set_new(o, "follows", json_string(r->follows));
  json_object_set_new(o, "ct_reversed", json_boolean(r->reversed));
  if (r->on.have && r->off.have) {
    json_object_set_new(o, "angle_deg", json_integer((json_int_t)lround(r->angle_deg)));
    json_object_set_new(o, "delta_p_mw", json_integer(r->on.p_mw - r->off.p_mw));
    json_object_set_new(o, "delta_q_mvar", json_integer(r->on.q_mvar - r->off.q_mvar));
    json_object_set_new(o, "delta_i_ma", json_integer(r->on.i_ma - r->off.i_ma));
    json_object_set_new(o, "evidence", json_pack("[I, I]", (json_int_t)r->on.seq, (json_int_t)r->off.seq));
  }
  json_object_set_new(o, "summary", json_string(r->why));
  return o;
}

/* Switches one branch on then off (windows after each), back to how it was; fills r. A step
 * that fails still tries to leave the branch as it was found. */
static int check_branch(const struct cli_common *c, const char *run_id, unsigned afe, bool was_on, unsigned settle,
                        struct branch_result *r)
{
  uint64_t seq;
  int rc;
  bool now_on = was_on, unsure = false; /* what the branch is now, as far as the sense-backs said */
  if (!(rc = switch_branch(c->dir, r->number, true, run_id, "on", &seq))) {
    now_on = true;
    rc = wait_windows(c, afe, r->number, seq, settle, &r->on);
  } else unsure = true;
  if (!rc) {
    if (!(rc = switch_branch(c->dir, r->number, false, run_id, "off", &seq))) {
      now_on = false;
      rc = wait_windows(c, afe, r->number, seq, settle, &r->off);
    } else unsure = true;
  }
  /* back as found (no relay operation when it already is) */
  uint64_t ignored;
  int back = now_on == was_on && !unsure ? 0 : switch_branch(c->dir, r->number, was_on, run_id, "restore", &ignored);
  if (back) cli_err("commission: branch %u could not be switched back %s: switch it by hand", r->number, was_on ? "on" : "off");
  if (rc) return rc;
  if (back) return back;
  decide(r);
  return 0;
}

int cli_cmd_commission(int argc, char **argv)
{
  enum { O_DIR = 1000, O_BRANCH, O_SETTLE, O_CRIT, O_FORMAT, O_COUNTER, O_ACCEPT };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "branch", required_argument, NULL, O_BRANCH },
                                      { "settle", required_argument, NULL, O_SETTLE }, { "include-critical", no_argument, NULL, O_CRIT },
                                      { "format", required_argument, NULL, O_FORMAT }, { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT }, { 0 } };
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *only[64];
  unsigned nonly = 0, settle = 3;
  bool crit = false, json = false;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    uint64_t v;
    if (opt == O_DIR) c.dir = optarg;
    else if (opt == O_BRANCH && nonly < 64) only[nonly++] = optarg;
    else if (opt == O_SETTLE) {
      if (cli_parse_u64(optarg, &v) || v < 1 || v > 60) { cli_err("commission: --settle %s: takes 1..60 windows", optarg); return CLI_USAGE; }
      settle = (unsigned)v;
    } else if (opt == O_CRIT) crit = true;
    else if (opt == O_FORMAT) {
      if (!strcmp(optarg, "json") || !strcmp(optarg, "jsonl")) json = true;
      else if (!strcmp(optarg, "text") || !strcmp(optarg, "table")) json = false;
      else { cli_err("commission: --format %s: takes text, table, json or jsonl", optarg); return CLI_USAGE; }
    } else if (opt == O_COUNTER || opt == O_ACCEPT) continue;
    else return cli_usage(cli_find("commission"), false);
  }
  if (optind != argc) return cli_usage(cli_find("commission"), false);
  /* the daemon must be there: commissioning switches through it */
  json_t *st;
  int rc = cli_daemon_request(c.dir, json_pack("{s:s}", "op", "status"), 10000, &st);
  if (rc) return rc;
  json_t *cfg = NULL;
  struct cli_names names = { 0 };
  if ((rc = cli_config_load(&c, NULL, NULL, &cfg)) || !cfg) {
    if (!rc) cli_err("commission: %s: the journal holds no panel config with branches", c.dir);
    json_decref(st);
    return rc ? rc : CLI_FAIL;
  }
  char *txt = json_dumps(cfg, JSON_COMPACT);
  if (txt) cli_names_from_config(txt, strlen(txt), &names);
  free(txt);
  bool want[REPLAY_BRANCHES_MAX + 1] = { false };
  for (unsigned i = 0; i < nonly; i++) {
    uint16_t b;
    int brc = cli_branch_arg(&names, only[i], &b);
    if (brc == 0 && (b > REPLAY_BRANCHES_MAX || !cli_branch_name(&names, b))) brc = -ENOENT;
    if (brc) { cli_branch_arg_error("commission", &names, only[i], brc); rc = CLI_USAGE; goto out; }
    want[b] = true;
  }
  char run_id[32];
  snprintf(run_id, sizeof run_id, "%llx", (unsigned long long)(cli_now_ns() / 1000000));
  json_t *results = json_array();
  char note[2048];
  size_t nl = (size_t)snprintf(note, sizeof note, "commission %s:", run_id);
  unsigned problems = 0;
  size_t i;
  json_t *b;
  json_array_foreach(json_object_get(cfg, "branches"), i, b) {
    unsigned n = (unsigned)json_integer_value(json_object_get(b, "number"));
    if (!n || n > REPLAY_BRANCHES_MAX || (nonly && !want[n])) continue;
    struct branch_result r = { .number = n, .name = json_string_value(json_object_get(b, "name")),
                               .phase = json_string_value(json_object_get(b, "phase")) };
    bool der = json_is_false(json_object_get(b, "load_only"));
    bool was_on = false;
    size_t k;
    json_t *sb;
    json_array_foreach(json_object_get(st, "branches"), k, sb)
      if ((unsigned)json_integer_value(json_object_get(sb, "branch")) == n)
        was_on = !strcmp(json_string_value(json_object_get(sb, "commanded")) ? json_string_value(json_object_get(sb, "commanded")) : "", "on");
    if (json_is_true(json_object_get(b, "critical")) && !crit) {
      r.verdict = "skipped";
      snprintf(r.why, sizeof r.why, "critical: switched only with --include-critical");
    } else if (der) {
      r.verdict = "skipped";
      snprintf(r.why, sizeof r.why, "DER behind it (load_only false): its power may flow either way");
    } else if ((rc = check_branch(&c, run_id, (unsigned)json_integer_value(json_object_get(b, "afe")) + 1, was_on, settle, &r))) {
      /* (the config counts AFEs from 0, the mains AFE's; records from 1) */
      json_decref(results);
      goto out;
    }
    if (strcmp(r.verdict, "ok") && strcmp(r.verdict, "skipped")) problems++;
    json_array_append_new(results, result_json(&r));
    if (nl < sizeof note) nl += (size_t)snprintf(note + nl, sizeof note - nl, " %u %s%s%s;", n, r.verdict, r.follows[0] ? " follows " : "", r.follows);
    if (json) {
      char *line = json_dumps(json_array_get(results, json_array_size(results) - 1), JSON_COMPACT);
      puts(line);
      free(line);
    } else {
      const char *name = r.name ? r.name : "";
      if (r.on.have && r.off.have) {
        char dp[32], dq[32], di[32];
        cli_unit_text("p_mw", r.on.p_mw - r.off.p_mw, dp, sizeof dp);
        cli_unit_text("q_mvar", r.on.q_mvar - r.off.q_mvar, dq, sizeof dq);
        cli_unit_text("i_ma", r.on.i_ma - r.off.i_ma, di, sizeof di);
        printf("%u %s: %s — load on−off ΔP %s, ΔQ %s, ΔI %s, angle %.0f°: %s (windows %llu, %llu)\n", n, name, r.verdict, dp, dq, di,
               r.angle_deg, r.why, (unsigned long long)r.on.seq, (unsigned long long)r.off.seq);
      } else {
        printf("%u %s: %s — %s\n", n, name, r.verdict, r.why);
      }
    }
    fflush(stdout);
  }
  /* the findings into the journal, beside the switching that produced them */
  json_t *o;
  if (cli_daemon_request(c.dir, json_pack("{s:s, s:s, s:s}", "op", "note", "text", note, "who", "hems commission"), 10000, &o) == 0) {
    if (!json_is_true(json_object_get(o, "ok"))) cli_err("commission: the findings were not journaled: %s", json_string_value(json_object_get(o, "error")));
    json_decref(o);
  }
  json_decref(results);
  rc = problems ? CLI_FAIL : CLI_OK;
out:
  cli_names_free(&names);
  json_decref(cfg);
  json_decref(st);
  return rc;
}
