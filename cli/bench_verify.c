/*
 * bench_verify.c — `hems bench verify`: verify throughput on a daemon-shaped journal.
 *
 * The journal: `--days` (default 1) of the 48-branch panel written through the replay harness
 * (cli_bench_synth_journal: 16 branch AFEs + mains, one window per AFE per second, DER updates,
 * requests with their commands and sense-backs; every seal carries the live state hash), sealed
 * per 1 s of record time as the daemon seals (~17-20 records per seal). `--records N` cuts it.
 *
 * Each configuration runs RUNS times over the same reader; the median is reported with the
 * fastest and slowest run:
 *   records_per_s            what `hems verify --dir` does: two threads, chain, Merkle tree
 *                            recomputed, every seal's state hash against the fold, the newest
 *                            seal's signature;
 *   single_core_records_per_s  the same on one thread;
 *   all_seals_records_per_s  with every seal's signature (--all-seals), two threads, and
 *                            all_seals_single_core_records_per_s on one;
 *   chain_only_records_per_s   the same-run baseline: journal_verify as before (one thread,
 *                            every seal's signature, no fold).
 * The journal was just written, so it is normally in the page cache: the residency before the
 * runs (mincore) is reported.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <sodium.h>
#include "cli.h"
#include "replay.h"

enum { RUNS = 3 };

enum vmode { V_DEFAULT, V_ONE, V_ALL, V_ALL_ONE, V_CHAIN, V_MODES };
static const char *const mode_key[V_MODES] = { "records_per_s", "single_core_records_per_s", "all_seals_records_per_s",
                                               "all_seals_single_core_records_per_s", "chain_only_records_per_s" };
static const char *const mode_text[V_MODES] = {
  "two threads, fold + tree + chain, newest seal's signature (hems verify)",
  "one thread, the same",
  "two threads, every seal's signature (--all-seals)",
  "one thread, every seal's signature",
  "baseline: journal_verify (one thread, chain + tree + every signature, no fold)",
};

static int cmp_dbl(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int run_mode(struct journal_reader *r, const uint8_t pk[32], enum vmode m, struct replay_state *st,
                    struct journal_verify_result *res, double *rate)
{
  struct journal_dir_source ds;
  int rc = journal_dir_source_init(&ds, r, 1);
  if (rc) return rc;
  struct journal_verify_fold fold;
  replay_verify_fold(&fold, st);
  struct journal_verify_opts o;
  memset(&o, 0, sizeof o);
  o.threads = m == V_DEFAULT || m == V_ALL ? 2 : 1;
  o.all_seals = m == V_ALL || m == V_ALL_ONE;
  o.rewind = journal_dir_source_rewind;
  o.rewind_ctx = &ds;
  o.fold = &fold;
  double t0 = cli_mono_s();
  rc = m == V_CHAIN ? journal_verify(&ds.src, pk, NULL, res, NULL, NULL) : journal_verify_opt(&ds.src, pk, NULL, &o, res);
  double dt = cli_mono_s() - t0;
  *rate = dt > 0 ? (double)res->records / dt : 0;
  journal_dir_source_deinit(&ds);
  return rc;
}

int cli_bench_verify(int argc, char **argv)
{
  struct cli_synth_args a;
  char base[4200], dir[4300], pkp[4400];
  int arc = cli_bench_synth_args(argc, argv, "verify", &a, base, sizeof base, dir, sizeof dir);
  if (arc) return arc;
  bool json = a.json;
  struct cli_synth_result sr;
  int rc = cli_bench_synth_journal(dir, a.days, a.max_records, 1000000000ull, "bench verify: writing", &sr);
  if (rc) { cli_err("bench: writing the journal: %s", journal_strerror(rc)); cli_rm_rf(base); return CLI_ENV; }
  uint8_t pk[32];
  snprintf(pkp, sizeof pkp, "%s/keys/signing.pub", dir);
  struct journal_reader *r = NULL;
  struct replay_state *st = malloc(sizeof *st);
  if (!st) rc = -ENOMEM;
  if (!rc) rc = journal_pubkey_load(pkp, pk);
  if (!rc) rc = journal_reader_open(&r, dir, NULL, false);
  struct cli_residency cache;
  if (rc || cli_journal_residency(dir, &cache)) memset(&cache, 0, sizeof cache);
  double rate[V_MODES][RUNS];
  struct journal_verify_result res;
  memset(&res, 0, sizeof res);
  for (int run = 0; run < RUNS && !rc; run++)
    for (int m = 0; m < V_MODES && !rc; m++) {
      if (isatty(STDERR_FILENO)) fprintf(stderr, "\rbench verify: run %d/%d, %d/%d", run + 1, RUNS, m + 1, V_MODES);
      rc = run_mode(r, pk, (enum vmode)m, st, &res, &rate[m][run]);
    }
  if (isatty(STDERR_FILENO)) fprintf(stderr, "\r\033[K");
  if (r) journal_reader_close(r);
  free(st);
  cli_rm_rf(base);
  if (rc) {
    cli_err("bench verify: %s (first bad seq %llu: %s)", journal_strerror(rc), (unsigned long long)res.bad_seq, res.reason);
    return CLI_FAIL;
  }
  double loads[3] = { 0, 0, 0 };
  if (getloadavg(loads, 3) < 1) loads[0] = -1;
  json_t *v = json_object();
  json_object_set_new(v, "bench", json_string("verify"));
  json_object_set_new(v, "days", json_real(a.days));
  json_object_set_new(v, "branches", json_integer(48));
  json_object_set_new(v, "records", json_integer((json_int_t)res.records));
  json_object_set_new(v, "seals", json_integer((json_int_t)res.seals));
  json_object_set_new(v, "records_per_seal", json_real((double)res.records / (double)(res.seals ? res.seals : 1)));
  for (int m = 0; m < V_MODES; m++) {
    qsort(rate[m], RUNS, sizeof rate[m][0], cmp_dbl);
    char k[80];
    json_object_set_new(v, mode_key[m], json_real(rate[m][RUNS / 2]));
    snprintf(k, sizeof k, "%s_min", mode_key[m]);
    json_object_set_new(v, k, json_real(rate[m][0]));
    snprintf(k, sizeof k, "%s_max", mode_key[m]);
    json_object_set_new(v, k, json_real(rate[m][RUNS - 1]));
  }
  json_object_set_new(v, "runs", json_integer(RUNS));
  json_object_set_new(v, "journal_bytes", json_integer((json_int_t)cache.journal_bytes));
  json_object_set_new(v, "journal_resident_bytes", json_integer((json_int_t)cache.resident_bytes));
  json_object_set_new(v, "cache_resident", json_boolean(cache.resident));
  json_object_set_new(v, "loadavg_1m", json_real(loads[0]));
  json_object_set_new(v, "target_records_per_s", json_real(1e6));
  if (json) {
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(s);
    free(s);
  } else {
    printf("verify bench: %.2f days of a 48-branch panel, %llu records, %llu seals (%.1f records per seal), %.1f MB\n", a.days,
           (unsigned long long)res.records, (unsigned long long)res.seals,
           (double)res.records / (double)(res.seals ? res.seals : 1), cache.journal_bytes / 1e6);
    for (int m = 0; m < V_MODES; m++)
      printf("  %-80s %9.0f records/s (min %.0f, max %.0f)\n", mode_text[m], rate[m][RUNS / 2], rate[m][0], rate[m][RUNS - 1]);
    printf("  target 1000000 records/s; %s; load average %.2f\n",
           cache.resident ? "warm page cache" : "journal partly read from storage", loads[0]);
  }
  json_decref(v);
  return CLI_OK;
}
