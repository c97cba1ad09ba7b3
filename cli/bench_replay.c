/*
 * bench_replay.c — `hems bench replay`: decode + fold throughput on one core, restart time from
 * the newest checkpoint, and the state's memory, on a journal synthesised at record level.
 *
 * The journal is a 48-branch panel (16 branch AFEs with 3 current channels each, plus the mains
 * AFE): one window per AFE per second of virtual time, DER updates every 5 s, a request every
 * 10 min with its command and sense-back, an occasional fault. It is written through the
 * journal API by the replay harness (so every seal carries the live state hash and checkpoints
 * are written as in production: every 1 h of record time). `--days` sets its length (default 1;
 * the DESIGN figure is for 30).
 *
 * records_per_s: replay_dir from seq 1 (LMDB scan + decode + fold; the store's fast path), no
 * checkpoints, warm page
 * cache (best of 3); cold_records_per_s: the first replay, after data.mdb was dropped from the
 * page cache (posix_fadvise DONTNEED; residency per mincore reported).
 * restart_s: open the reader, load and validate the newest checkpoint, fold the tail.
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
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <sodium.h>
#include "cli.h"
#include "replay.h"



int cli_journal_residency(const char *dir, struct cli_residency *out)
{
  memset(out, 0, sizeof *out);
  char path[4400], line[128];
  unsigned long long kb;
  FILE *f = fopen("/proc/meminfo", "r");
  if (f) {
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) out->mem_available_bytes = kb * 1024;
    fclose(f);
  }
  snprintf(path, sizeof path, "%s/journal/data.mdb", dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat sb;
  if (fstat(fd, &sb) != 0 || sb.st_size <= 0) { int e = errno; close(fd); return e ? -e : -EINVAL; }
  size_t len = (size_t)sb.st_size, page = (size_t)sysconf(_SC_PAGESIZE), pages = (len + page - 1) / page;
  out->journal_bytes = (uint64_t)len;
  void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (m == MAP_FAILED) return -errno;
  unsigned char *vec = malloc(pages);
  int rc = vec && mincore(m, len, vec) == 0 ? 0 : -ENOMEM;
  for (size_t i = 0; !rc && i < pages; i++) if (vec[i] & 1) out->resident_bytes += page;
  if (out->resident_bytes > out->journal_bytes) out->resident_bytes = out->journal_bytes;
  out->resident = out->resident_bytes * 100 >= out->journal_bytes * 99;
  free(vec);
  munmap(m, len);
  return rc;
}

/* Drops DIR/journal/data.mdb from the page cache (written back first): the next read of it
 * comes from storage. 0 or -errno. */
int cli_journal_drop_cache(const char *dir)
{
  char path[4400];
  snprintf(path, sizeof path, "%s/journal/data.mdb", dir);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = fdatasync(fd) == 0 ? posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) : errno;
  close(fd);
  return -rc;
}

struct vclock { uint64_t mono; int64_t wall; };
static void vclock_now(void *ctx, uint64_t *mono, int64_t *wall, uint8_t *tq)
{
  struct vclock *c = ctx;
  *mono = c->mono;
  *wall = c->wall;
  *tq = JOURNAL_TQ_SYNCED;
}

static uint64_t xs(uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void window(struct journal_record *r, unsigned afe, uint64_t *rng, int64_t wall)
{
  memset(r, 0, sizeof *r);
  r->type = JOURNAL_T_WINDOW;
  r->source.kind = JOURNAL_SRC_AFE;
  r->source.index = (uint16_t)afe;
  struct journal_window *w = &r->body.window;
  w->afe = (uint16_t)afe;
  w->start_ns = wall;
  w->duration_us = 1000000;
  w->freq_mhz = 50000 + (uint32_t)(xs(rng) % 40) - 20;
  w->basic_windows = 5;
  w->flags = 4;
  w->nch = 3;
  if (afe == 17) { /* mains: three voltages */
    for (int i = 0; i < 3; i++)
      w->ch[i] = (struct journal_window_channel){ (uint8_t)i, JOURNAL_CH_VOLTAGE, (uint8_t)i, 0,
                                                  230000 + (int32_t)(xs(rng) % 2000), -325000, 325000, 2100, 0, 0, false };
    return;
  }
  w->npow = 3;
  w->nbranches = 3;
  for (int i = 0; i < 3; i++) {
    uint16_t b = (uint16_t)((afe - 1) * 3 + i + 1);
    int32_t ma = (int32_t)(xs(rng) % 12000);
    int64_t p = (int64_t)ma * 230;
    w->branches[i] = b;
    w->ch[i] = (struct journal_window_channel){ (uint8_t)(i + 3), JOURNAL_CH_CURRENT, (uint8_t)i, b, ma, -ma * 14 / 10,
                                                ma * 14 / 10, 3500, 0, 0, false };
    w->pow[i] = (struct journal_window_power){ (uint8_t)(i + 3), (uint8_t)i, (uint8_t)i, b, p, p / 8, p + p / 50, 992,
                                               p / 3600, 0 };
  }
}

/* Writes `days` of a 48-branch panel into dir through the replay harness (records as described
 * at the top). group_span_ns: how much record time one commit group may span. */
int cli_bench_synth_journal(const char *dir, double days, uint64_t max_records, uint64_t group_span_ns,
                         const char *what, struct cli_synth_result *out)
{
  struct vclock vc = { 1000000000ull, 1763733720ll * 1000000000ll };
  struct journal_options jo;
  memset(&jo, 0, sizeof jo);
  jo.dir = dir;
  jo.clock.now = vclock_now;
  jo.clock.ctx = &vc;
  memset(jo.boot_id, 0x42, sizeof jo.boot_id);
  jo.map_size = 256u << 20;
  jo.group_span_ns = group_span_ns;
  jo.unsafe_no_sync = true; /* synthesis only: the journal is synced at close, before measuring */
  int rc = journal_create(&jo, "{\"branches\":48}", 15, HEMS_FIRMWARE_VERSION);
  struct replay_harness *h = calloc(1, sizeof *h);
  struct journal *j = NULL;
  if (!h) return -ENOMEM;
  if (!rc) {
    replay_harness_init(h, NULL, &jo);
    struct journal_open_info info;
    int pid;
    rc = journal_open(&j, &jo, &info, &pid);
  }
  if (!rc) rc = replay_harness_attach(h, j);
  if (rc) { free(h); return rc; }
  uint64_t seconds = (uint64_t)(days * 86400.0);
  uint64_t rng = 0x9e3779b97f4a7c15ull, appended = 0;
  struct journal_record r;
  struct cli_progress prog;
  cli_progress_init(&prog, what, seconds * 17);
  double t0 = cli_mono_s();
  char idbuf[32];
  for (uint64_t s = 0; s < seconds && !rc; s++) {
    for (unsigned afe = 1; afe <= 17 && !rc; afe++) {
      vc.mono += 1000000000ull / 17;
      vc.wall += 1000000000ll / 17;
      window(&r, afe, &rng, vc.wall);
      rc = replay_harness_append(h, &r, NULL, NULL, NULL);
      appended++;
    }
    if (s % 5 == 0 && !rc) {
      for (unsigned d = 0; d < 3 && !rc; d++) {
        memset(&r, 0, sizeof r);
        r.type = JOURNAL_T_DER;
        r.source.kind = JOURNAL_SRC_DER;
        r.source.sub = (uint8_t)d;
        r.body.der.source = (uint8_t)d;
        r.body.der.state = d == 2 ? JOURNAL_DERST_ON_GRID : JOURNAL_DERST_GRID_TIED;
        r.body.der.reason = JOURNAL_DERR_RESYNC;
        r.body.der.interlock_ok = 1;
        r.body.der.grid_present = 1;
        r.body.der.fresh = 1;
        rc = replay_harness_append(h, &r, NULL, NULL, NULL);
        appended++;
      }
    }
    if (s % 600 == 300 && !rc) {
      memset(&r, 0, sizeof r);
      r.type = JOURNAL_T_REQUEST;
      r.source.kind = JOURNAL_SRC_OPERATOR;
      r.body.request.target = (uint16_t)(1 + xs(&rng) % 48);
      r.body.request.desired = (uint8_t)(xs(&rng) & 1);
      r.body.request.role = JOURNAL_ROLE_OPERATOR;
      int idn = snprintf(idbuf, sizeof idbuf, "bench-%llu", (unsigned long long)s);
      r.body.request.request_id = (struct journal_slice){ (const uint8_t *)idbuf, (uint32_t)idn };
      struct replay_effects fx;
      rc = replay_harness_append(h, &r, NULL, &fx, NULL);
      appended += 1 + fx.n;
      if (!rc && fx.n && fx.e[0].kind == REPLAY_EFFECT_COMMAND) {
        memset(&r, 0, sizeof r);
        r.type = JOURNAL_T_SENSE_BACK;
        r.source.kind = JOURNAL_SRC_BRANCH;
        r.source.index = fx.e[0].target;
        r.body.sense_back.target = fx.e[0].target;
        r.body.sense_back.commanded = fx.e[0].desired;
        r.body.sense_back.sensed = fx.e[0].desired ? JOURNAL_SENSED_ON : JOURNAL_SENSED_OFF;
        r.body.sense_back.verdict = JOURNAL_VERDICT_CONFIRMED;
        r.body.sense_back.request_id = (struct journal_slice){ (const uint8_t *)idbuf, (uint32_t)idn };
        rc = replay_harness_append(h, &r, NULL, NULL, NULL);
        appended++;
      }
    }
    if ((s & 1023) == 0) cli_progress_cb(&prog, appended);
    if (max_records && appended >= max_records) break;
  }
  if (!rc) rc = journal_sync(j);
  out->gen_s = cli_mono_s() - t0;
  out->checkpoints = h->checkpoints_written;
  out->appended = appended;
  int crc = journal_close(j);
  if (!rc) rc = crc;
  cli_progress_done(&prog);
  free(h);
  return rc;
}

int cli_bench_synth_args(int argc, char **argv, const char *name, struct cli_synth_args *a, char *base, size_t cap,
                         char *dir, size_t dcap)
{
  enum { O_DIR = 1000, O_FORMAT, O_DAYS, O_RECORDS, O_BYTES };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "format", required_argument, NULL, O_FORMAT },
                                      { "days", required_argument, NULL, O_DAYS }, { "records", required_argument, NULL, O_RECORDS },
                                      { "record-bytes", required_argument, NULL, O_BYTES }, { 0 } };
  const char *dir_opt = NULL;
  a->json = false;
  a->days = 1;
  a->max_records = 0;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    uint64_t v;
    char *e;
    switch (opt) {
    case O_DIR: dir_opt = optarg; break;
    case O_FORMAT:
      if (!strcmp(optarg, "json")) a->json = true;
      else if (!strcmp(optarg, "text")) a->json = false;
      else { cli_err("bench: --format takes text or json"); return CLI_USAGE; }
      break;
    case O_DAYS:
      a->days = strtod(optarg, &e);
      if (*e || a->days <= 0 || a->days > 366) { cli_err("bench: --days takes a number of days, 0 < D <= 366"); return CLI_USAGE; }
      break;
    case O_RECORDS:
      if (cli_parse_u64(optarg, &v) || v < 1000) { cli_err("bench: --records takes >= 1000"); return CLI_USAGE; }
      a->max_records = v;
      break;
    case O_BYTES: break; /* the panel's records have their own sizes; accepted for old scripts */
    default: return cli_usage(cli_find("bench"), false);
    }
  }
  if (sodium_init() < 0) return CLI_ENV;
  if (dir_opt) {
    if (mkdir(dir_opt, 0750) != 0 && errno != EEXIST) { cli_err("bench: %s: %s", dir_opt, strerror(errno)); return CLI_ENV; }
    snprintf(base, cap, "%s/bench-%s-XXXXXX", dir_opt, name);
  } else {
    const char *t = getenv("TMPDIR");
    snprintf(base, cap, "%s/hems-bench-%s-XXXXXX", t && *t ? t : "/tmp", name);
  }
  if (!mkdtemp(base)) { cli_err("bench: %s: %s", base, strerror(errno)); return CLI_ENV; }
  snprintf(dir, dcap, "%s/data", base);
  return 0;
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

  /* ---- synthesise the journal, sealed per 1 s of record time as the daemon seals (synthesis
   * does not fsync per commit; the journal is synced before measuring) */
  struct cli_synth_result sr;
  int rc = cli_bench_synth_journal(dir, days, max_records, 1000000000ull, "bench replay: writing", &sr);
  if (rc) { cli_err("bench: writing the journal: %s", journal_strerror(rc)); cli_rm_rf(base); return CLI_ENV; }
  uint64_t appended = sr.appended, ckpts = sr.checkpoints;
  double gen_s = sr.gen_s;

  /* ---- full replay from seq 1 (decode + fold), then restart from the newest checkpoint */
  struct replay_state *st = malloc(sizeof *st);
  struct replay_result full, restart;
  struct journal_reader *rd;
  struct replay_options o;
  memset(&o, 0, sizeof o);
  struct cli_residency res, cold_res;
  /* cold: data.mdb dropped from the page cache first; then warm: the same replay again */
  int drop = cli_journal_drop_cache(dir);
  if (cli_journal_residency(dir, &cold_res)) memset(&cold_res, 0, sizeof cold_res);
  if ((rc = journal_reader_open(&rd, dir, NULL, false))) { cli_err("bench: %s", journal_strerror(rc)); free(st); return CLI_ENV; }
  double t1 = cli_mono_s();
  rc = replay_dir(rd, &o, st, &full);
  double cold_s = cli_mono_s() - t1;
  journal_reader_close(rd);
  if (cli_journal_residency(dir, &res)) memset(&res, 0, sizeof res);
  double fold_s = 0;
  for (int run = 0; run < 3 && !rc; run++) { /* warm: the best of 3 */
    if ((rc = journal_reader_open(&rd, dir, NULL, false))) break;
    t1 = cli_mono_s();
    rc = replay_dir(rd, &o, st, &full);
    double dt = cli_mono_s() - t1;
    if (!fold_s || dt < fold_s) fold_s = dt;
    journal_reader_close(rd);
  }
  size_t ser = replay_state_serialised_len(st);
  double t2 = cli_mono_s();
  o.use_checkpoints = true;
  /* as `hems status` restarts: checkpoints authenticated by seals of the dir's key */
  uint8_t pk[JOURNAL_PUBKEY_BYTES];
  char pkpath[4400];
  snprintf(pkpath, sizeof pkpath, "%s/keys/signing.pub", dir);
  if (journal_pubkey_load(pkpath, pk) == 0) o.trusted_pk = pk;
  if (!rc) rc = journal_reader_open(&rd, dir, NULL, false);
  if (!rc) { rc = replay_dir(rd, &o, st, &restart); journal_reader_close(rd); }
  double restart_s = cli_mono_s() - t2;
  free(st);
  cli_rm_rf(base);
  if (rc) { cli_err("bench: replay: %s", journal_strerror(rc)); return CLI_ENV; }
  bool same = memcmp(full.state_hash, restart.state_hash, 32) == 0;
  double rps = fold_s > 0 ? (double)full.records / fold_s : 0;
  double cold_rps = cold_s > 0 ? (double)full.records / cold_s : 0;
  double loads[3] = { 0, 0, 0 };
  if (getloadavg(loads, 3) < 1) loads[0] = -1;
  if (json) {
    json_t *out = json_object();
    json_object_set_new(out, "days", json_real(days));
    json_object_set_new(out, "branches", json_integer(48));
    json_object_set_new(out, "records", json_integer((json_int_t)full.records));
    json_object_set_new(out, "records_per_s", json_real(rps));
    json_object_set_new(out, "target_records_per_s", json_integer(3000000));
    json_object_set_new(out, "cold_records_per_s", json_real(cold_rps));
    json_object_set_new(out, "cold_dropped", json_boolean(drop == 0));
    json_object_set_new(out, "cold_journal_resident_bytes", json_integer((json_int_t)cold_res.resident_bytes));
    json_object_set_new(out, "loadavg_1m", json_real(loads[0]));
    json_object_set_new(out, "journal_bytes", json_integer((json_int_t)res.journal_bytes));
    json_object_set_new(out, "journal_resident_bytes", json_integer((json_int_t)res.resident_bytes));
    json_object_set_new(out, "mem_available_bytes", json_integer((json_int_t)res.mem_available_bytes));
    json_object_set_new(out, "cache_resident", json_boolean(res.resident));
    json_object_set_new(out, "restart_s", json_real(restart_s));
    json_object_set_new(out, "restart_from_seq", json_integer((json_int_t)restart.start_seq));
    json_object_set_new(out, "restart_tail_records", json_integer((json_int_t)restart.records));
    json_object_set_new(out, "restart_hash_equal", json_boolean(same));
    json_object_set_new(out, "state_bytes", json_integer((json_int_t)sizeof(struct replay_state)));
    json_object_set_new(out, "state_serialised_bytes", json_integer((json_int_t)ser));
    json_object_set_new(out, "checkpoint_bytes", json_integer((json_int_t)REPLAY_CHECKPOINT_BYTES));
    json_object_set_new(out, "checkpoints", json_integer((json_int_t)ckpts));
    json_object_set_new(out, "write_records_per_s", json_real(gen_s > 0 ? (double)appended / gen_s : 0));
    json_object_set_new(out, "reducer_version", json_integer(REPLAY_REDUCER_VERSION));
    char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(s);
    free(s);
    json_decref(out);
  } else {
    printf("replay bench: %.2f days of a 48-branch panel, %llu records (%llu checkpoints), reducer v%u\n", days,
           (unsigned long long)full.records, (unsigned long long)ckpts, REPLAY_REDUCER_VERSION);
    printf("  decode + fold from seq 1, warm cache: %.0f records/s (target 3000000) in %.2f s, one core (best of 3)\n", rps, fold_s);
    printf("  journal %.1f MB, %.1f %% of it in the page cache before the warm replays (MemAvailable %.1f GB): %s\n",
           res.journal_bytes / 1e6, res.journal_bytes ? 100.0 * (double)res.resident_bytes / (double)res.journal_bytes : 0,
           res.mem_available_bytes / 1e9, res.resident ? "a warm-cache figure" : "partly read from storage");
    printf("  cold cache (data.mdb dropped with POSIX_FADV_DONTNEED%s, %.1f %% resident before): %.0f records/s in %.2f s\n",
           drop ? " FAILED" : "", cold_res.journal_bytes ? 100.0 * (double)cold_res.resident_bytes / (double)cold_res.journal_bytes : 0,
           cold_rps, cold_s);
    printf("  load average %.2f\n", loads[0]);
    printf("  restart from the newest checkpoint (seq %llu, %llu tail records): %.3f s (target 0.1 s); state hash %s\n",
           (unsigned long long)restart.start_seq, (unsigned long long)restart.records, restart_s, same ? "equal" : "DIFFERENT");
    printf("  state memory: %zu bytes (canonical serialisation now %zu bytes; checkpoint %zu bytes)\n",
           sizeof(struct replay_state), ser, (size_t)REPLAY_CHECKPOINT_BYTES);
    printf("  writing the journal through the harness: %.0f records/s\n", gen_s > 0 ? (double)appended / gen_s : 0);
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
  int rc = cli_bench_synth_journal(dir, days, 0, 1000000000ull, "bench query: writing", &sr);
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
