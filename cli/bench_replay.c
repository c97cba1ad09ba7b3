/*
 * bench_replay.c — `hems bench replay`: decode + fold throughput on one core, restart time from
 * the newest checkpoint, and the state's memory, on a journal synthesised at record level
 * (cli/bench_synth.c: a 48-branch panel written through the replay harness, so every seal
 * carries the live state hash and checkpoints are written as in production, every 1 h of record
 * time). `--days` sets its length (default 1; the DESIGN figure is for 30).
 *
 * records_per_s: replay_dir from seq 1 (LMDB scan + decode + fold; the store's fast path), no
 * checkpoints, warm page cache (best of 3); cpu_records_per_s: the same over the replaying
 * thread's CPU time (CLOCK_THREAD_CPUTIME_ID, best of 3), the figure a machine loaded by other
 * work does not lower; cold_records_per_s: the first replay, after data.mdb
 * was dropped from the page cache (posix_fadvise DONTNEED; residency per mincore reported).
 * restart_s: open the reader, load and validate the newest checkpoint, fold the tail.
 *
 * The same run first writes the same panel as a format-2 journal (journal_options.format 2: one
 * `records` value per record, schema v 1; as long as the format-3 one, at most 1 day) and
 * measures it the same way: `format2` beside `format3` and their ratio, with the bytes per
 * record on disk (data.mdb over records) of each. The top-level figures are format 3's.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/wait.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <sodium.h>
#include "cli.h"
#include "replay.h"

/* One format's figures: the journal synthesised, then replayed cold, warm (best of 3) and from
 * its newest checkpoint. */
struct rfig {
  unsigned format;
  double days, gen_s, cold_s, warm_s, restart_s;
  double warm_cpu_s; /* the calling thread's CPU time of the warm replay (best of 3) */
  uint64_t appended, ckpts;
  struct replay_result full, restart;
  struct cli_residency res, cold_res;
  int drop;
  size_t ser;
  bool same;
};

static double rate(uint64_t n, double s) { return s > 0 ? (double)n / s : 0; }
static double per_record(const struct rfig *f) { return f->full.records ? (double)f->res.journal_bytes / (double)f->full.records : 0; }

/* Writes the journal of f->format into dir, measures it and removes it; 0 or a journal code
 * (*what says which step failed). */
static int measure(const char *dir, uint64_t max_records, struct replay_state *st, struct rfig *f, const char **what)
{
  char label[64];
  snprintf(label, sizeof label, "bench replay: writing format %u", f->format == 2 ? 2 : 3);
  /* sealed per 1 s of record time as the daemon seals (synthesis does not fsync per commit; the
   * journal is synced before measuring) */
  struct cli_synth_result sr;
  *what = "writing the journal";
  int rc = cli_bench_synth_journal(dir, f->format, f->days, max_records, 1000000000ull, label, &sr);
  if (rc) return rc;
  f->appended = sr.appended;
  f->ckpts = sr.checkpoints;
  f->gen_s = sr.gen_s;
  *what = "replay";
  struct journal_reader *rd;
  struct replay_options o;
  memset(&o, 0, sizeof o);
  /* cold: data.mdb dropped from the page cache first; then warm: the same replay again */
  f->drop = cli_journal_drop_cache(dir);
  if (cli_journal_residency(dir, &f->cold_res)) memset(&f->cold_res, 0, sizeof f->cold_res);
  if ((rc = journal_reader_open(&rd, dir, NULL, false))) return rc;
  double t1 = cli_mono_s();
  rc = replay_dir(rd, &o, st, &f->full);
  f->cold_s = cli_mono_s() - t1;
  journal_reader_close(rd);
  if (cli_journal_residency(dir, &f->res)) memset(&f->res, 0, sizeof f->res);
  for (int run = 0; run < 3 && !rc; run++) { /* warm: the best of 3 */
    if ((rc = journal_reader_open(&rd, dir, NULL, false))) break;
    t1 = cli_mono_s();
    double c1 = cli_thread_cpu_s();
    rc = replay_dir(rd, &o, st, &f->full);
    double dt = cli_mono_s() - t1, dc = cli_thread_cpu_s() - c1;
    if (!f->warm_s || dt < f->warm_s) f->warm_s = dt;
    if (!f->warm_cpu_s || dc < f->warm_cpu_s) f->warm_cpu_s = dc;
    journal_reader_close(rd);
  }
  f->ser = replay_state_serialised_len(st);
  double t2 = cli_mono_s();
  o.use_checkpoints = true;
  /* as `hems status` restarts: checkpoints authenticated by seals of the dir's key */
  uint8_t pk[JOURNAL_PUBKEY_BYTES];
  char pkpath[4400];
  snprintf(pkpath, sizeof pkpath, "%s/keys/signing.pub", dir);
  if (journal_pubkey_load(pkpath, pk) == 0) o.trusted_pk = pk;
  if (!rc) rc = journal_reader_open(&rd, dir, NULL, false);
  if (!rc) { rc = replay_dir(rd, &o, st, &f->restart); journal_reader_close(rd); }
  f->restart_s = cli_mono_s() - t2;
  f->same = memcmp(f->full.state_hash, f->restart.state_hash, 32) == 0;
  cli_rm_rf(dir);
  return rc;
}

static json_t *fig_json(const struct rfig *f)
{
  json_t *o = json_object();
  json_object_set_new(o, "days", json_real(f->days));
  json_object_set_new(o, "records", json_integer((json_int_t)f->full.records));
  json_object_set_new(o, "records_per_s", json_real(rate(f->full.records, f->warm_s)));
  json_object_set_new(o, "cpu_records_per_s", json_real(rate(f->full.records, f->warm_cpu_s)));
  json_object_set_new(o, "cold_records_per_s", json_real(rate(f->full.records, f->cold_s)));
  json_object_set_new(o, "restart_s", json_real(f->restart_s));
  json_object_set_new(o, "journal_bytes", json_integer((json_int_t)f->res.journal_bytes));
  json_object_set_new(o, "bytes_per_record", json_real(per_record(f)));
  json_object_set_new(o, "write_records_per_s", json_real(rate(f->appended, f->gen_s)));
  json_object_set_new(o, "cache_resident", json_boolean(f->res.resident));
  return o;
}

int cli_bench_replay(int argc, char **argv)
{
  struct cli_synth_args a;
  char base[4200], dir[4300];
  int arc = cli_bench_synth_args(argc, argv, "replay", &a, base, sizeof base, dir, sizeof dir);
  if (arc) return arc;
  bool json = a.json;
  double days = a.days;
  uint64_t max_records = a.max_records;

  /* format 2 first (removed before format 3 is written), then format 3: the same panel, the
   * same measurements, one after the other in this run */
  struct rfig f2 = { .format = 2, .days = days < CLI_BENCH_FORMAT2_DAYS_MAX ? days : CLI_BENCH_FORMAT2_DAYS_MAX };
  struct rfig f3 = { .format = 0, .days = days };
  struct replay_state *st = malloc(sizeof *st);
  const char *what = "replay";
  int rc = st ? measure(dir, max_records, st, &f2, &what) : -ENOMEM;
  if (!rc) rc = measure(dir, max_records, st, &f3, &what);
  free(st);
  cli_rm_rf(base);
  if (rc) { cli_err("bench: %s: %s", what, journal_strerror(rc)); return CLI_ENV; }
  const struct replay_result full = f3.full, restart = f3.restart;
  const struct cli_residency res = f3.res, cold_res = f3.cold_res;
  bool same = f3.same && f2.same;
  double rps = rate(full.records, f3.warm_s), cold_rps = rate(full.records, f3.cold_s);
  double rps2 = rate(f2.full.records, f2.warm_s), cold_rps2 = rate(f2.full.records, f2.cold_s);
  double loads[3] = { 0, 0, 0 };
  if (getloadavg(loads, 3) < 1) loads[0] = -1;
  if (json) {
    json_t *out = json_object();
    json_object_set_new(out, "days", json_real(days));
    json_object_set_new(out, "branches", json_integer(48));
    json_object_set_new(out, "records", json_integer((json_int_t)full.records));
    json_object_set_new(out, "records_per_s", json_real(rps));
    json_object_set_new(out, "cpu_records_per_s", json_real(rate(full.records, f3.warm_cpu_s)));
    json_object_set_new(out, "target_records_per_s", json_integer(3000000));
    json_object_set_new(out, "cold_records_per_s", json_real(cold_rps));
    json_object_set_new(out, "cold_dropped", json_boolean(f3.drop == 0 && f2.drop == 0));
    json_object_set_new(out, "cold_journal_resident_bytes", json_integer((json_int_t)cold_res.resident_bytes));
    json_object_set_new(out, "loadavg_1m", json_real(loads[0]));
    json_object_set_new(out, "journal_bytes", json_integer((json_int_t)res.journal_bytes));
    json_object_set_new(out, "journal_resident_bytes", json_integer((json_int_t)res.resident_bytes));
    json_object_set_new(out, "mem_available_bytes", json_integer((json_int_t)res.mem_available_bytes));
    json_object_set_new(out, "cache_resident", json_boolean(res.resident));
    json_object_set_new(out, "restart_s", json_real(f3.restart_s));
    json_object_set_new(out, "restart_from_seq", json_integer((json_int_t)restart.start_seq));
    json_object_set_new(out, "restart_tail_records", json_integer((json_int_t)restart.records));
    json_object_set_new(out, "restart_hash_equal", json_boolean(same));
    json_object_set_new(out, "state_bytes", json_integer((json_int_t)sizeof(struct replay_state)));
    json_object_set_new(out, "state_serialised_bytes", json_integer((json_int_t)f3.ser));
    json_object_set_new(out, "checkpoint_bytes", json_integer((json_int_t)REPLAY_CHECKPOINT_BYTES));
    json_object_set_new(out, "checkpoints", json_integer((json_int_t)f3.ckpts));
    json_object_set_new(out, "write_records_per_s", json_real(rate(f3.appended, f3.gen_s)));
    json_object_set_new(out, "reducer_version", json_integer(REPLAY_REDUCER_VERSION));
    json_object_set_new(out, "format3", fig_json(&f3));
    json_object_set_new(out, "format2", fig_json(&f2));
    json_t *q = json_object();
    json_object_set_new(q, "records_per_s", json_real(rps2 > 0 ? rps / rps2 : 0));
    json_object_set_new(q, "cold_records_per_s", json_real(cold_rps2 > 0 ? cold_rps / cold_rps2 : 0));
    json_object_set_new(q, "bytes_per_record", json_real(per_record(&f2) > 0 ? per_record(&f3) / per_record(&f2) : 0));
    json_object_set_new(out, "format3_over_format2", q);
    json_object_set_new(out, "formats_state_hash_equal",
                        json_boolean(f2.full.records == full.records && !memcmp(f2.full.state_hash, full.state_hash, 32)));
    char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(s);
    free(s);
    json_decref(out);
  } else {
    printf("replay bench: %.2f days of a 48-branch panel, %llu records (%llu checkpoints), reducer v%u\n", days,
           (unsigned long long)full.records, (unsigned long long)f3.ckpts, REPLAY_REDUCER_VERSION);
    printf("  decode + fold from seq 1, warm cache: %.0f records/s (target 3000000) in %.2f s, one core (best of 3)\n", rps, f3.warm_s);
    printf("  the same per CPU second of the replaying thread: %.0f records/s (format 2: %.0f)\n",
           rate(full.records, f3.warm_cpu_s), rate(f2.full.records, f2.warm_cpu_s));
    printf("  journal %.1f MB, %.1f %% of it in the page cache before the warm replays (MemAvailable %.1f GB): %s\n",
           res.journal_bytes / 1e6, res.journal_bytes ? 100.0 * (double)res.resident_bytes / (double)res.journal_bytes : 0,
           res.mem_available_bytes / 1e9, res.resident ? "a warm-cache figure" : "partly read from storage");
    printf("  cold cache (data.mdb dropped with POSIX_FADV_DONTNEED%s, %.1f %% resident before): %.0f records/s in %.2f s\n",
           f3.drop ? " FAILED" : "", cold_res.journal_bytes ? 100.0 * (double)cold_res.resident_bytes / (double)cold_res.journal_bytes : 0,
           cold_rps, f3.cold_s);
    printf("  load average %.2f\n", loads[0]);
    printf("  restart from the newest checkpoint (seq %llu, %llu tail records): %.3f s (target 0.1 s); state hash %s\n",
           (unsigned long long)restart.start_seq, (unsigned long long)restart.records, f3.restart_s, same ? "equal" : "DIFFERENT");
    printf("  state memory: %zu bytes (canonical serialisation now %zu bytes; checkpoint %zu bytes)\n",
           sizeof(struct replay_state), f3.ser, (size_t)REPLAY_CHECKPOINT_BYTES);
    printf("  writing the journal through the harness: %.0f records/s\n", rate(f3.appended, f3.gen_s));
    bool eq = f2.full.records == full.records && !memcmp(f2.full.state_hash, full.state_hash, 32);
    printf("  the same run, format 3 beside format 2 (%.2f days, %llu records, measured the same way; state hash %s):\n",
           f2.days, (unsigned long long)f2.full.records, eq ? "the same" : "different");
    printf("    %-40s %12s %12s %8s\n", "", "format 3", "format 2", "3 / 2");
    printf("    %-40s %12.0f %12.0f %8.2f\n", "decode + fold, warm cache, records/s", rps, rps2, rps2 > 0 ? rps / rps2 : 0);
    printf("    %-40s %12.0f %12.0f %8.2f\n", "decode + fold, cold cache, records/s", cold_rps, cold_rps2,
           cold_rps2 > 0 ? cold_rps / cold_rps2 : 0);
    printf("    %-40s %12.3f %12.3f\n", "restart from the newest checkpoint, s", f3.restart_s, f2.restart_s);
    printf("    %-40s %12.1f %12.1f %8.2f\n", "bytes per record on disk (data.mdb)", per_record(&f3), per_record(&f2),
           per_record(&f2) > 0 ? per_record(&f3) / per_record(&f2) : 0);
  }
  return same ? CLI_OK : CLI_FAIL;
}

/* ------------------------------------------------------------------ bench query */

/* Runs this very binary as `hems timeline ...` with stdout discarded; wall milliseconds. */
static double timed_cli(const char *const argv[])
{
  double t0 = cli_mono_s();
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); }
    execv("/proc/self/exe", (char *const *)argv);
    _exit(127);
  }
  int st;
  if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
  return (cli_mono_s() - t0) * 1e3;
}

static int cmp_dbl(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* `hems bench query`: the first page (100 records) of one branch's timeline on a synthesised
 * journal of `--days` (default 30) of a 48-branch panel with production commit groups (one per
 * second of record time), through the indexes — measured as the whole `hems timeline` command
 * (process start, open, index walk, decode, JSON out), median of 5 runs per branch, worst branch
 * reported; also the first page of the newest hour (`--since`, time index). */
int cli_bench_query(int argc, char **argv)
{
  enum { O_DIR = 1000, O_FORMAT, O_DAYS };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "format", required_argument, NULL, O_FORMAT },
                                      { "days", required_argument, NULL, O_DAYS }, { 0 } };
  const char *dir_opt = NULL;
  bool json = false;
  double days = 30;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) dir_opt = optarg;
    else if (opt == O_FORMAT) json = !strcmp(optarg, "json");
    else if (opt == O_DAYS) {
      char *e;
      days = strtod(optarg, &e);
      if (*e || days <= 0 || days > 366) { cli_err("bench: --days takes a number of days, 0 < D <= 366"); return CLI_USAGE; }
    } else return cli_usage(cli_find("bench"), false);
  }
  if (sodium_init() < 0) return CLI_ENV;
  char tmpl[4200];
  if (dir_opt) {
    if (mkdir(dir_opt, 0750) != 0 && errno != EEXIST) { cli_err("bench: %s: %s", dir_opt, strerror(errno)); return CLI_ENV; }
    snprintf(tmpl, sizeof tmpl, "%s/bench-query-XXXXXX", dir_opt);
  } else {
    const char *t = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/hems-bench-query-XXXXXX", t && *t ? t : "/tmp");
  }
  const char *base = mkdtemp(tmpl);
  if (!base) { cli_err("bench: %s: %s", tmpl, strerror(errno)); return CLI_ENV; }
  char dir[4300];
  snprintf(dir, sizeof dir, "%s/data", base);
  struct cli_synth_result sr;
  int rc = cli_bench_synth_journal(dir, 0, days, 0, 1000000000ull, "bench query: writing", &sr);
  if (rc) { cli_err("bench: writing the journal: %s", journal_strerror(rc)); cli_rm_rf(base); return CLI_ENV; }
  struct stat sb;
  char data[4400];
  snprintf(data, sizeof data, "%s/journal/data.mdb", dir);
  uint64_t bytes = stat(data, &sb) == 0 ? (uint64_t)sb.st_size : 0;
  static const char *const branches[] = { "1", "7", "24", "48" };
  double worst = 0, worst_recent = 0;
  char since[64];
  int64_t end_s = 1763733720ll + (int64_t)(days * 86400.0);
  snprintf(since, sizeof since, "@%lld", (long long)(end_s - 3600));
  for (unsigned bi = 0; bi < 4; bi++) {
    double t[5], tr[5];
    for (int k = 0; k < 5; k++) {
      const char *const a1[] = { "hems", "timeline", "--dir", dir, "--branch", branches[bi], "--limit", "100", "--format", "jsonl", NULL };
      const char *const a2[] = { "hems", "timeline", "--dir", dir, "--branch", branches[bi], "--since", since, "--limit", "100", "--format", "jsonl", NULL };
      t[k] = timed_cli(a1);
      tr[k] = timed_cli(a2);
      if (t[k] < 0 || tr[k] < 0) { cli_err("bench query: the timeline command failed"); cli_rm_rf(base); return CLI_ENV; }
    }
    qsort(t, 5, sizeof t[0], cmp_dbl);
    qsort(tr, 5, sizeof tr[0], cmp_dbl);
    if (t[2] > worst) worst = t[2];
    if (tr[2] > worst_recent) worst_recent = tr[2];
  }
  json_t *out = json_object();
  json_object_set_new(out, "bench", json_string("query"));
  json_object_set_new(out, "days", json_real(days));
  json_object_set_new(out, "records", json_integer((json_int_t)sr.appended));
  json_object_set_new(out, "journal_bytes", json_integer((json_int_t)bytes));
  json_object_set_new(out, "first_page_ms", json_real(worst));
  json_object_set_new(out, "first_page_newest_hour_ms", json_real(worst_recent));
  json_object_set_new(out, "target_ms", json_real(50));
  json_object_set_new(out, "page_records", json_integer(100));
  if (json) {
    char *txt = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    puts(txt);
    free(txt);
  } else {
    printf("query bench: %.1f days of a 48-branch panel, %llu records, %.1f GB\n", days, (unsigned long long)sr.appended, bytes / 1e9);
    printf("  first page (100 records) of one branch, whole `hems timeline` command: %.1f ms worst median (target 50)\n", worst);
    printf("  first page of the newest hour (--since, time index): %.1f ms\n", worst_recent);
  }
  json_decref(out);
  cli_rm_rf(base);
  return CLI_OK;
}
