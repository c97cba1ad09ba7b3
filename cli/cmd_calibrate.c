/*
 * cmd_calibrate.c — `hems calibrate --branch B --reference-w W [--windows N]`: a branch CT's gain
 * from a known load (docs/operations.md "Calibration"). With a load of known real power on the
 * branch (a resistive heater measured with a reference meter, or a rated load at nominal
 * voltage), the mean active power of the next N window records of the branch's AFE is compared
 * with the reference: factor = W / measured. The running daemon applies gain · factor (the
 * branch's current gain is already in what it measured), writes it to the AFE's xIGAIN, and
 * journals it — a note naming who and from what, then a `config` record — before it answers;
 * this prints what was measured, derived and changed. Nothing is changed when the load reads no
 * power, when the gain would leave [0.5, 2], or when the role is below installer.
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

#define CALIBRATE_WAIT_S 300 /* for the windows (panel time may run slow) */
#define CALIBRATE_WINDOWS_MAX 1000

struct measure {
  unsigned afe, branch, want, n;
  double sum_w;
  uint64_t first_seq, last_seq;
};

static int take_window(void *ctx, const uint8_t *b, size_t len)
{
  struct measure *m = ctx;
  char *j = journal_record_to_json(b, len, JOURNAL_JSON_COMPACT);
  json_t *o = j ? json_loads(j, 0, NULL) : NULL;
  free(j);
  json_t *body = json_object_get(o, "body");
  size_t i;
  json_t *p;
  if ((unsigned)json_integer_value(json_object_get(body, "afe")) == m->afe)
    json_array_foreach(json_object_get(body, "powers"), i, p) {
      if ((unsigned)json_integer_value(json_object_get(p, "branch")) != m->branch || m->n >= m->want) continue;
      uint64_t seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
      if (!m->n) m->first_seq = seq;
      m->last_seq = seq;
      m->sum_w += (double)json_integer_value(json_object_get(p, "p_mw")) / 1000.0;
      m->n++;
    }
  json_decref(o);
  return m->n >= m->want;
}

/* The mean power of the branch over the first m->want windows of its AFE after seq `after`. */
static int measure(const struct cli_common *c, uint64_t after, struct measure *m)
{
  struct cli_filter f;
  memset(&f, 0, sizeof f);
  f.types[JOURNAL_T_WINDOW] = true;
  f.any_type = true;
  f.since_seq = after + 1;
  time_t t0 = time(NULL);
  for (;;) {
    m->n = 0;
    m->sum_w = 0;
    int rc = cli_walk(c, NULL, NULL, &f, 0, take_window, m);
    if (rc) return rc;
    if (m->n >= m->want) return 0;
    if (time(NULL) - t0 > CALIBRATE_WAIT_S) {
      cli_err("calibrate: branch %u: %u of %u windows of AFE %u after seq %llu within %d s (is the daemon metering?)", m->branch, m->n,
              m->want, m->afe, (unsigned long long)after, CALIBRATE_WAIT_S);
      return CLI_FAIL;
    }
    usleep(200000);
  }
}

static int parse_args(int argc, char **argv, struct cli_common *c, const char **branch, double *ref_w, unsigned *windows)
{
  enum { O_DIR = 1000, O_BRANCH, O_REF, O_WINDOWS };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "branch", required_argument, NULL, O_BRANCH },
                                      { "reference-w", required_argument, NULL, O_REF },
                                      { "windows", required_argument, NULL, O_WINDOWS }, { 0 } };
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    uint64_t v;
    char *e;
    if (opt == O_DIR) c->dir = optarg;
    else if (opt == O_BRANCH) *branch = optarg;
    else if (opt == O_REF) {
      errno = 0;
      *ref_w = strtod(optarg, &e);
      if (e == optarg || *e || errno || !isfinite(*ref_w) || !(*ref_w > 0) || *ref_w > 1e6) {
        cli_err("calibrate: --reference-w %s: the known load's real power in watts, > 0 and at most 1000000", optarg);
        return CLI_USAGE;
      }
    } else if (opt == O_WINDOWS) {
      if (cli_parse_u64(optarg, &v) || v < 1 || v > CALIBRATE_WINDOWS_MAX) {
        cli_err("calibrate: --windows %s: takes 1..%d windows", optarg, CALIBRATE_WINDOWS_MAX);
        return CLI_USAGE;
      }
      *windows = (unsigned)v;
    } else return cli_usage(cli_find("calibrate"), false);
  }
  if (optind != argc) return cli_usage(cli_find("calibrate"), false);
  if (!*branch || !(*ref_w > 0)) {
    cli_err("calibrate: --branch and --reference-w are required");
    return CLI_USAGE;
  }
  return CLI_OK;
}

static void print_result(json_t *o, const struct measure *m, double ref_w, double factor)
{
  json_t *regs = json_object_get(o, "registers");
  const char *ch = json_string_value(json_object_get(o, "channel"));
  char ph = ch && *ch ? *ch : 'A';
  printf("branch %u %s: measured %.3f W (mean of %u windows, seq %llu..%llu) against a reference of %.3f W: factor %.6f\n", m->branch,
         json_string_value(json_object_get(o, "name")) ? json_string_value(json_object_get(o, "name")) : "", m->sum_w / m->n, m->n,
         (unsigned long long)m->first_seq, (unsigned long long)m->last_seq, ref_w, factor);
  printf("gain %.9g -> %.9g (phase %.3g°)\n", json_number_value(json_object_get(o, "gain_old")), json_number_value(json_object_get(o, "gain")),
         json_number_value(json_object_get(o, "phase_deg")));
  printf("AFE %d: %cIGAIN (0x%03x) = %lld, %cPHCAL0 (0x%03x) = %lld, %cVGAIN (0x%03x) = %lld (read back)\n",
         (int)json_integer_value(json_object_get(o, "afe")), ph, (unsigned)json_integer_value(json_object_get(regs, "igain_addr")),
         (long long)json_integer_value(json_object_get(regs, "igain")), ph, (unsigned)json_integer_value(json_object_get(regs, "phcal_addr")),
         (long long)json_integer_value(json_object_get(regs, "phcal")), ph, (unsigned)json_integer_value(json_object_get(regs, "vgain_addr")),
         (long long)json_integer_value(json_object_get(regs, "vgain")));
  printf("journaled: note seq %lld, config version %lld seq %lld\n", (long long)json_integer_value(json_object_get(o, "note_seq")),
         (long long)json_integer_value(json_object_get(o, "config_version")), (long long)json_integer_value(json_object_get(o, "config_seq")));
}

int cli_cmd_calibrate(int argc, char **argv)
{
  struct cli_common c = { cli_default_dir(), NULL, false, NULL };
  const char *barg = NULL;
  double ref_w = 0;
  unsigned windows = 10;
  int rc = parse_args(argc, argv, &c, &barg, &ref_w, &windows);
  if (rc) return rc;
  json_t *st = NULL, *cfg = NULL, *o = NULL;
  struct cli_names names = { 0 };
  if ((rc = cli_daemon_request(c.dir, json_pack("{s:s}", "op", "status"), 10000, &st))) return rc; /* 3: no daemon */
  if ((rc = cli_config_load(&c, NULL, NULL, &cfg)) || !cfg) {
    if (!rc) cli_err("calibrate: %s: the journal holds no panel config with branches", c.dir);
    rc = rc ? rc : CLI_FAIL;
    goto out;
  }
  char *txt = json_dumps(cfg, JSON_COMPACT);
  if (txt) cli_names_from_config(txt, strlen(txt), &names);
  free(txt);
  uint16_t bn;
  int brc = cli_branch_arg(&names, barg, &bn);
  if (brc == 0 && (bn > REPLAY_BRANCHES_MAX || !cli_branch_name(&names, bn))) brc = -ENOENT;
  if (brc) {
    cli_branch_arg_error("calibrate", &names, barg, brc);
    rc = CLI_USAGE;
    goto out;
  }
  struct measure m = { .branch = bn, .want = windows };
  size_t i;
  json_t *b;
  json_array_foreach(json_object_get(cfg, "branches"), i, b)
    if ((unsigned)json_integer_value(json_object_get(b, "number")) == bn)
      m.afe = (unsigned)json_integer_value(json_object_get(b, "afe")) + 1; /* records count AFEs from 1 */
  if ((rc = measure(&c, (uint64_t)json_integer_value(json_object_get(st, "head_seq")), &m))) goto out;
  double mean_w = m.sum_w / m.n;
  if (!(mean_w >= ref_w * 0.01)) {
    cli_err("calibrate: branch %u reads %.3f W over %u windows (seq %llu..%llu): put the known load on and the branch on, then retry", bn,
            mean_w, m.n, (unsigned long long)m.first_seq, (unsigned long long)m.last_seq);
    rc = CLI_FAIL;
    goto out;
  }
  double factor = ref_w / mean_w;
  json_t *req = json_pack("{s:s, s:i, s:f, s:f, s:f, s:i}", "op", "calibrate", "branch", (int)bn, "factor", factor, "reference_w", ref_w,
                          "measured_w", mean_w, "windows", (int)m.n);
  if ((rc = cli_daemon_request(c.dir, req, 30000, &o))) goto out;
  if (!json_is_true(json_object_get(o, "ok"))) {
    const char *why = json_string_value(json_object_get(o, "error"));
    cli_err("calibrate: branch %u: measured %.3f W against %.3f W (factor %.6f): %s", bn, mean_w, ref_w, factor, why ? why : "refused");
    rc = CLI_FAIL;
    goto out;
  }
  print_result(o, &m, ref_w, factor);
  rc = CLI_OK;
out:
  cli_names_free(&names);
  json_decref(o);
  json_decref(cfg);
  json_decref(st);
  return rc;
}
