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
 *                            seal's signature; the reading thread decodes records for the
 *                            fold only while the checking thread is behind (verify_pipe.c);
 *   reader_decodes_records_per_s  the same-run baseline: the same with every record decoded
 *                            on the reading thread (the split before);
 *   single_core_records_per_s  the same on one thread;
 *   all_seals_records_per_s  with every seal's signature (--all-seals), two threads, and
 *                            all_seals_single_core_records_per_s on one;
 *   chain_only_records_per_s   the same-run baseline: journal_verify as before (one thread,
 *                            every seal's signature, no fold);
 *   verify_dir_records_per_s the whole of `hems verify --dir` (cmd_journal.c): records_per_s's
 *                            verify, then the full index check on the snapshot it read
 *                            (journal_index_check_opt: records not hashed again) and the tiles
 *                            check; verify_dir_recheck_records_per_s the same-run baseline with
 *                            the index check on a snapshot of its own (journal_index_check:
 *                            every record hashed against its pack's check again).
 * The journal was just written, so it is normally in the page cache: the residency before the
 * runs (mincore) is reported. Beside each rate of journal_verify_opt, per_busiest_thread_cpu_s:
 * records over the CPU time of the busier of its threads (journal_verify_result.thread_cpu_s),
 * the rate the work allows on idle cores, which a machine loaded by other work does not hide.
 *
 * The same run first writes the same panel as a format-2 journal (journal_options.format 2: one
 * `records` value per record, schema v 1; as long as the format-3 one, at most 1 day) and runs
 * every mode on it the same way: `format2` beside `format3` (each with its bytes per record on
 * disk, data.mdb over records) and their ratios. The top-level figures are format 3's.
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

enum vmode { V_DEFAULT, V_READER_DECODES, V_ONE, V_ALL, V_ALL_ONE, V_CHAIN, V_DIR, V_DIR_RECHECK, V_MODES };
static const char *const mode_key[V_MODES] = { "records_per_s", "reader_decodes_records_per_s", "single_core_records_per_s", "all_seals_records_per_s",
                                               "all_seals_single_core_records_per_s", "chain_only_records_per_s",
                                               "verify_dir_records_per_s", "verify_dir_recheck_records_per_s" };
static const char *const mode_text[V_MODES] = {
  "two threads, fold + tree + chain, newest seal's signature (hems verify)",
  "baseline: the same, the reading thread decoding every record",
  "one thread, the same",
  "two threads, every seal's signature (--all-seals)",
  "one thread, every seal's signature",
  "baseline: journal_verify (one thread, chain + tree + every signature, no fold)",
  "hems verify --dir: the first line's verify, then the index and tiles checks",
  "baseline: the same, the index check hashing every record again",
};

static int cmp_dbl(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* What `hems verify --dir` does after the records verified: the full index check (on verified_it,
 * the iterator the verifier read, or on a snapshot of its own) and the tiles check. */
static int dir_checks(struct journal_reader *r, struct journal_iter *verified_it, uint64_t verified_last)
{
  struct journal_iter *it = verified_it;
  int rc = it ? 0 : journal_iter_begin(r, 1, &it);
  if (rc) return rc;
  struct journal_index_report rep;
  rc = journal_index_check_opt(it, verified_it ? verified_last : 0, &rep);
  if (!verified_it) journal_iter_end(it);
  uint64_t size;
  int trc = rc ? 0 : journal_tiles_check(r, &size);
  return rc ? rc : trc == JOURNAL_ENOTFOUND ? 0 : trc;
}

static int run_mode(struct journal_reader *r, const uint8_t pk[32], enum vmode m, struct replay_state *st,
                    struct journal_verify_result *res, double *rate, double *cpu_rate)
{
  struct journal_dir_source ds;
  int rc = journal_dir_source_init(&ds, r, 1);
  if (rc) return rc;
  struct journal_verify_fold fold;
  replay_verify_fold(&fold, st);
  struct journal_verify_opts o;
  memset(&o, 0, sizeof o);
  o.threads = m == V_DEFAULT || m == V_READER_DECODES || m == V_ALL ? 2 : 1;
  o.reader_decodes_all = m == V_READER_DECODES;
  o.all_seals = m == V_ALL || m == V_ALL_ONE;
  o.rewind = journal_dir_source_rewind;
  o.rewind_ctx = &ds;
  o.fold = &fold;
  if (m == V_DIR || m == V_DIR_RECHECK) o.threads = 2;
  double t0 = cli_mono_s();
  rc = m == V_CHAIN ? journal_verify(&ds.src, pk, NULL, res, NULL, NULL) : journal_verify_opt(&ds.src, pk, NULL, &o, res);
  if (!rc && (m == V_DIR || m == V_DIR_RECHECK)) rc = dir_checks(r, m == V_DIR ? ds.it : NULL, res->last_seq);
  double dt = cli_mono_s() - t0;
  *rate = dt > 0 ? (double)res->records / dt : 0;
  /* the rate the busiest thread's CPU time allows: what two idle cores would give, whatever
   * else the machine runs (journal_verify_opt only) */
  double busy = res->thread_cpu_s[0] > res->thread_cpu_s[1] ? res->thread_cpu_s[0] : res->thread_cpu_s[1];
  *cpu_rate = m != V_CHAIN && m != V_DIR && m != V_DIR_RECHECK && busy > 0 ? (double)res->records / busy : 0;
  journal_dir_source_deinit(&ds);
  return rc;
}

/* One format's journal: written into dir, every mode RUNS times (medians with min/max in
 * rate[m] sorted), then removed. 0 or a journal code; res holds the last run's result. */
struct vfig {
  unsigned format;
  double days;
  double rate[V_MODES][RUNS];
  double cpu_rate[V_MODES][RUNS]; /* records per CPU second of the busiest thread */
  struct journal_verify_result res;
  struct cli_residency cache;
};

static int measure(const char *dir, uint64_t max_records, struct replay_state *st, struct vfig *f, bool *writing)
{
  char label[64], pkp[4400];
  snprintf(label, sizeof label, "bench verify: writing format %u", f->format == 2 ? 2 : 3);
  struct cli_synth_result sr;
  *writing = true;
  int rc = cli_bench_synth_journal(dir, f->format, f->days, max_records, 1000000000ull, label, &sr);
  if (rc) return rc;
  *writing = false;
  uint8_t pk[32];
  snprintf(pkp, sizeof pkp, "%s/keys/signing.pub", dir);
  struct journal_reader *r = NULL;
  rc = journal_pubkey_load(pkp, pk);
  if (!rc) rc = journal_reader_open(&r, dir, NULL, false);
  if (rc || cli_journal_residency(dir, &f->cache)) memset(&f->cache, 0, sizeof f->cache);
  memset(&f->res, 0, sizeof f->res);
  for (int run = 0; run < RUNS && !rc; run++)
    for (int m = 0; m < V_MODES && !rc; m++) {
      if (isatty(STDERR_FILENO))
        fprintf(stderr, "\rbench verify: format %u, run %d/%d, %d/%d", f->format == 2 ? 2 : 3, run + 1, RUNS, m + 1, V_MODES);
      rc = run_mode(r, pk, (enum vmode)m, st, &f->res, &f->rate[m][run], &f->cpu_rate[m][run]);
    }
  if (isatty(STDERR_FILENO)) fprintf(stderr, "\r\033[K");
  if (r) journal_reader_close(r);
  for (int m = 0; m < V_MODES; m++) {
    qsort(f->rate[m], RUNS, sizeof f->rate[m][0], cmp_dbl);
    qsort(f->cpu_rate[m], RUNS, sizeof f->cpu_rate[m][0], cmp_dbl);
  }
  cli_rm_rf(dir);
  return rc;
}

static double per_record(const struct vfig *f)
{
  return f->res.records ? (double)f->cache.journal_bytes / (double)f->res.records : 0;
}

/* Every mode's median with its min and max, into v; per_busiest_thread_cpu_s: the medians of
 * records per CPU second of the busiest thread (journal_verify_opt's modes). */
static void put_modes(json_t *v, const struct vfig *f)
{
  json_t *cpu = json_object();
  for (int m = 0; m < V_MODES; m++)
    if (f->cpu_rate[m][RUNS / 2] > 0) json_object_set_new(cpu, mode_key[m], json_real(f->cpu_rate[m][RUNS / 2]));
  json_object_set_new(v, "per_busiest_thread_cpu_s", cpu);
  for (int m = 0; m < V_MODES; m++) {
    char k[80];
    json_object_set_new(v, mode_key[m], json_real(f->rate[m][RUNS / 2]));
    snprintf(k, sizeof k, "%s_min", mode_key[m]);
    json_object_set_new(v, k, json_real(f->rate[m][0]));
    snprintf(k, sizeof k, "%s_max", mode_key[m]);
    json_object_set_new(v, k, json_real(f->rate[m][RUNS - 1]));
  }
}

/* The figures of one format: every mode's median with its min and max, size, bytes per record. */
static json_t *fig_json(const struct vfig *f)
{
  json_t *v = json_object();
  json_object_set_new(v, "days", json_real(f->days));
  json_object_set_new(v, "records", json_integer((json_int_t)f->res.records));
  json_object_set_new(v, "seals", json_integer((json_int_t)f->res.seals));
  put_modes(v, f);
  json_object_set_new(v, "journal_bytes", json_integer((json_int_t)f->cache.journal_bytes));
  json_object_set_new(v, "bytes_per_record", json_real(per_record(f)));
  json_object_set_new(v, "cache_resident", json_boolean(f->cache.resident));
  return v;
}

int cli_bench_verify(int argc, char **argv)
{
  struct cli_synth_args a;
  char base[4200], dir[4300];
  int arc = cli_bench_synth_args(argc, argv, "verify", &a, base, sizeof base, dir, sizeof dir);
  if (arc) return arc;
  bool json = a.json, writing = false;
  /* format 2 first (removed before format 3 is written), then format 3, measured the same way */
  struct vfig *f2 = calloc(1, sizeof *f2), *f3 = calloc(1, sizeof *f3);
  struct replay_state *st = malloc(sizeof *st);
  int rc = f2 && f3 && st ? 0 : -ENOMEM;
  if (!rc) {
    f2->format = 2;
    f2->days = a.days < CLI_BENCH_FORMAT2_DAYS_MAX ? a.days : CLI_BENCH_FORMAT2_DAYS_MAX;
    f3->days = a.days;
    rc = measure(dir, a.max_records, st, f2, &writing);
  }
  struct vfig *bad = f2;
  if (!rc) { bad = f3; rc = measure(dir, a.max_records, st, f3, &writing); }
  free(st);
  cli_rm_rf(base);
  if (rc) {
    if (writing) cli_err("bench: writing the journal: %s", journal_strerror(rc));
    else if (bad)
      cli_err("bench verify: format %u: %s (first bad seq %llu: %s)", bad->format == 2 ? 2 : 3, journal_strerror(rc),
              (unsigned long long)bad->res.bad_seq, bad->res.reason);
    else cli_err("bench verify: %s", journal_strerror(rc));
    free(f2);
    free(f3);
    return writing || !bad ? CLI_ENV : CLI_FAIL;
  }
  const struct journal_verify_result res = f3->res;
  const struct cli_residency cache = f3->cache;
  double loads[3] = { 0, 0, 0 };
  if (getloadavg(loads, 3) < 1) loads[0] = -1;
  json_t *v = json_object();
  json_object_set_new(v, "bench", json_string("verify"));
  json_object_set_new(v, "days", json_real(a.days));
  json_object_set_new(v, "branches", json_integer(48));
  json_object_set_new(v, "records", json_integer((json_int_t)res.records));
  json_object_set_new(v, "seals", json_integer((json_int_t)res.seals));
  json_object_set_new(v, "records_per_seal", json_real((double)res.records / (double)(res.seals ? res.seals : 1)));
  put_modes(v, f3);
  json_object_set_new(v, "runs", json_integer(RUNS));
  json_object_set_new(v, "journal_bytes", json_integer((json_int_t)cache.journal_bytes));
  json_object_set_new(v, "journal_resident_bytes", json_integer((json_int_t)cache.resident_bytes));
  json_object_set_new(v, "cache_resident", json_boolean(cache.resident));
  json_object_set_new(v, "loadavg_1m", json_real(loads[0]));
  json_object_set_new(v, "target_records_per_s", json_real(1e6));
  json_object_set_new(v, "format3", fig_json(f3));
  json_object_set_new(v, "format2", fig_json(f2));
  json_t *q = json_object();
  for (int m = 0; m < V_MODES; m++) {
    double r2 = f2->rate[m][RUNS / 2];
    json_object_set_new(q, mode_key[m], json_real(r2 > 0 ? f3->rate[m][RUNS / 2] / r2 : 0));
  }
  json_object_set_new(q, "bytes_per_record", json_real(per_record(f2) > 0 ? per_record(f3) / per_record(f2) : 0));
  json_object_set_new(v, "format3_over_format2", q);
  if (json) {
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(s);
    free(s);
  } else {
    printf("verify bench: %.2f days of a 48-branch panel, %llu records, %llu seals (%.1f records per seal), %.1f MB\n", a.days,
           (unsigned long long)res.records, (unsigned long long)res.seals,
           (double)res.records / (double)(res.seals ? res.seals : 1), cache.journal_bytes / 1e6);
    for (int m = 0; m < V_MODES; m++) {
      printf("  %-80s %9.0f records/s (min %.0f, max %.0f)", mode_text[m], f3->rate[m][RUNS / 2], f3->rate[m][0],
             f3->rate[m][RUNS - 1]);
      if (f3->cpu_rate[m][RUNS / 2] > 0) printf("; %.0f per CPU s of the busiest thread", f3->cpu_rate[m][RUNS / 2]);
      printf("\n");
    }
    printf("  target 1000000 records/s; %s; load average %.2f\n",
           cache.resident ? "warm page cache" : "journal partly read from storage", loads[0]);
    printf("  the same run, format 3 beside format 2 (%.2f days, %llu records, %s; medians of %d):\n", f2->days,
           (unsigned long long)f2->res.records, f2->cache.resident ? "warm page cache" : "partly read from storage", RUNS);
    printf("    %-80s %10s %10s %6s\n", "records/s", "format 3", "format 2", "3 / 2");
    for (int m = 0; m < V_MODES; m++) {
      double r3 = f3->rate[m][RUNS / 2], r2 = f2->rate[m][RUNS / 2];
      printf("    %-80s %10.0f %10.0f %6.2f\n", mode_text[m], r3, r2, r2 > 0 ? r3 / r2 : 0);
    }
    printf("    %-80s %10.1f %10.1f %6.2f\n", "bytes per record on disk (data.mdb)", per_record(f3), per_record(f2),
           per_record(f2) > 0 ? per_record(f3) / per_record(f2) : 0);
  }
  json_decref(v);
  free(f2);
  free(f3);
  return CLI_OK;
}
