/*
 * bench_decision.c — `hems bench decision`: decision latency of the policy, from the offending
 * window record to the durable command record it causes, at 200 ms windows.
 *
 * A fresh data dir (`hems init` through this binary) gets a 40 A, 48-branch config; then one
 * window record per 200 ms of real time goes through the replay harness exactly as the daemon
 * appends them (append → fold → command record appended → journal_sync). Every 3 s another
 * branch draws 210 % of the service limit until the limiter sheds it (2 s allowance), so each
 * cycle yields one load_shed command. For each command: real time from the start of appending its cause window to
 * the command being durable (journal_sync returned) — an upper bound on "durable window →
 * durable command". Prints p50 / p99 in ms.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "replay.h"


static int cmp_d(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int cli_bench_decision(int argc, char **argv)
{
  enum { O_DIR = 1000, O_FORMAT, O_SECONDS };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "format", required_argument, NULL, O_FORMAT },
                                      { "seconds", required_argument, NULL, O_SECONDS }, { 0 } };
  const char *base = NULL, *format = "text";
  uint64_t seconds = 60;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) base = optarg;
    else if (opt == O_FORMAT) format = optarg;
    else if (opt == O_SECONDS) { if (cli_parse_u64(optarg, &seconds) || !seconds || seconds > 3600) return CLI_USAGE; }
    else return cli_usage(cli_find("bench"), false);
  }
  char dir[4200];
  if (base) snprintf(dir, sizeof dir, "%s/bench-decision", base);
  else {
    snprintf(dir, sizeof dir, "/tmp/hems-bench-decision-XXXXXX");
    if (!mkdtemp(dir)) { cli_err("bench decision: mkdtemp: %s", strerror(errno)); return CLI_ENV; }
    strncat(dir, "/d", sizeof dir - strlen(dir) - 1);
  }
  cli_rm_rf(dir);
  struct journal_options co;
  memset(&co, 0, sizeof co);
  co.dir = dir;
  int crc = journal_create(&co, "{}", 2, HEMS_FIRMWARE_VERSION);
  if (crc) { cli_err("bench decision: %s: %s", dir, journal_strerror(crc)); return CLI_ENV; }

  struct replay_harness *h = calloc(1, sizeof *h);
  struct journal_options jo;
  memset(&jo, 0, sizeof jo);
  jo.dir = dir;
  struct replay_harness_options ho = { 100000, 3600ll * 1000000000ll, false };
  replay_harness_init(h, &ho, &jo);
  struct journal *j;
  int rc = journal_open(&j, &jo, NULL, NULL);
  if (!rc) rc = replay_harness_attach(h, j);
  if (rc) { cli_err("bench decision: %s: %s", dir, journal_strerror(rc)); free(h); return CLI_ENV; }

  /* 48 branches, branch 1 critical; one sheddable branch per 3 s cycle draws 80 A (210 % of
   * 40 A with branch 1's 4 A) until the limiter sheds it after the 2 s allowance. */
  static char cfg[8192];
  size_t off = (size_t)snprintf(cfg, sizeof cfg, "{\"name\":\"bench\",\"service_limit_a\":40,\"branches\":[");
  for (unsigned b = 1; b <= REPLAY_BRANCHES_MAX; b++)
    off += (size_t)snprintf(cfg + off, sizeof cfg - off, "%s{\"number\":%u,\"priority\":%u,\"critical\":%s,\"fail_safe\":\"%s\",\"load_only\":true}",
                            b > 1 ? "," : "", b, b % 8, b == 1 ? "true" : "false", b == 1 ? "closed" : "last_proven");
  snprintf(cfg + off, sizeof cfg - off, "]}");
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_CONFIG;
  r.source.kind = JOURNAL_SRC_PANEL;
  r.body.config.config_version = 99;
  r.body.config.json = (struct journal_slice){ (const uint8_t *)cfg, (uint32_t)strlen(cfg) };
  rc = replay_harness_append(h, &r, NULL, NULL, NULL);

  unsigned cap = (unsigned)seconds * 5 + 16, nlat = 0;
  double *lat = calloc(cap, sizeof *lat);
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (unsigned i = 0; i < seconds * 5 && !rc; i++) {
    next.tv_nsec += 200000000;
    if (next.tv_nsec >= 1000000000) { next.tv_nsec -= 1000000000; next.tv_sec++; }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    unsigned hot = 2 + (i / 15) % (REPLAY_BRANCHES_MAX - 1); /* a new branch every 3 s */
    memset(&r, 0, sizeof r);
    r.type = JOURNAL_T_WINDOW;
    r.source.kind = JOURNAL_SRC_AFE;
    r.source.index = 1;
    r.body.window.duration_us = 200000;
    r.body.window.nch = 2;
    r.body.window.npow = 2;
    uint16_t br[2] = { 1, (uint16_t)hot };
    int32_t ma[2] = { 4000, h->state.br[hot - 1].commanded == REPLAY_OFF ? 0 : 80000 };
    for (unsigned k = 0; k < 2; k++) {
      r.body.window.ch[k].kind = JOURNAL_CH_CURRENT;
      r.body.window.ch[k].branch = br[k];
      r.body.window.ch[k].rms_m = ma[k];
      r.body.window.pow[k].branch = br[k];
      r.body.window.pow[k].p_mw = (int64_t)ma[k] * 230;
    }
    struct replay_effects fx;
    uint64_t seqs[REPLAY_EFFECTS_MAX] = { 0 };
    double t0 = cli_mono_s();
    rc = replay_harness_append(h, &r, NULL, &fx, seqs);
    unsigned cmds = 0;
    for (uint32_t k = 0; k < fx.n; k++) cmds += fx.e[k].kind == REPLAY_EFFECT_COMMAND;
    if (!rc && cmds) {
      rc = journal_sync(j);
      double dt = (cli_mono_s() - t0) * 1e3;
      for (unsigned k = 0; k < cmds && nlat < cap; k++) lat[nlat++] = dt;
    }
  }
  int close_rc = journal_close(j);
  if (!rc) rc = close_rc;
  free(h);
  if (!base) {
    dir[strlen(dir) - 2] = 0; /* the mkdtemp dir around "/d" */
    cli_rm_rf(dir);
  }
  if (rc) { free(lat); cli_err("bench decision: %s", journal_strerror(rc)); return CLI_ENV; }
  qsort(lat, nlat, sizeof *lat, cmp_d);
  double p50 = nlat ? lat[nlat / 2] : 0, p99 = nlat ? lat[(nlat * 99) / 100 < nlat ? (nlat * 99) / 100 : nlat - 1] : 0;
  if (!strcmp(format, "json"))
    printf("{\"bench\":\"decision\",\"window_ms\":200,\"commands\":%u,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"target_p99_ms\":100}\n",
           nlat, p50, p99, nlat ? lat[nlat - 1] : 0);
  else
    printf("decision latency (cause window append → durable command), 200 ms windows, %u commands: p50 %.3f ms, p99 %.3f ms (target p99 <= 100 ms)\n",
           nlat, p50, p99);
  free(lat);
  return CLI_OK;
}
