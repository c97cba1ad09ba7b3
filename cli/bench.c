/*
 * bench.c — `hems bench journal|sim|ingest` (analyze: bench_analyze.c): the DESIGN.md performance figures, each beside its
 * same-run baseline. Figures are measured here and now; nothing is assumed.
 *
 * journal: the production append path (encode, chain hash, per-group index entries, Ed25519
 *   seal, LMDB commit with fsync on the writer thread) against raw unsigned MDB_APPEND of the
 *   very same record bytes, commit every 1000, no indexes — alternating, 3 rounds each, median.
 *   Latency: critical records (1 in 10) at 1000 records/s offered, append → durable callback.
 *   Bytes written: /proc/self/io write_bytes over one production round (the kernel's count of
 *   bytes this process sent to storage), else data.mdb growth.
 * verify: cli/bench_verify.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <lmdb.h>
#include <sodium.h>
#include "cli.h"
#include "hw.h"
#include "ingest.h"




static uint64_t io_write_bytes(void)
{
  FILE *f = fopen("/proc/self/io", "r");
  if (!f) return 0;
  char line[128];
  unsigned long long v = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "write_bytes: %llu", &v) == 1) break;
  fclose(f);
  return v;
}

/* A non-critical record of exactly `bytes` encoded bytes: a fault whose detail pads it. */
struct rec_gen {
  struct journal_record r;
  uint64_t step_ns;  /* record time between records; 0 = all at one instant (groups by count) */
  char pad[JOURNAL_RECORD_MAX];
  uint32_t detail_len;
};

static int gen_init(struct rec_gen *g, size_t bytes)
{
  memset(g, 0, sizeof *g);
  memset(g->pad, 'x', sizeof g->pad);
  g->r.type = JOURNAL_T_FAULT;
  g->r.source.kind = JOURNAL_SRC_BRANCH;
  g->r.source.index = 48;
  g->r.seq = 1000000;
  g->r.mono_ns = 1ull << 50;
  g->r.wall_ns = 1ll << 60;
  g->r.version = JOURNAL_SCHEMA_VERSION;
  g->r.body.fault.code = (struct journal_slice){ (const uint8_t *)"late_window", 11 };
  g->r.body.fault.branch = 48;
  g->r.body.fault.value = 123456;
  uint8_t buf[JOURNAL_RECORD_MAX];
  for (uint32_t d = 0; d < 60000; d++) {
    g->r.body.fault.detail = (struct journal_slice){ (const uint8_t *)g->pad, d };
    size_t len;
    if (journal_record_encode(&g->r, buf, sizeof buf, &len)) return -EINVAL;
    if (len == bytes) { g->detail_len = d; return 0; }
    if (len > bytes) return -EINVAL;
  }
  return -EINVAL;
}

static void gen_at(struct rec_gen *g, uint64_t i)
{
  g->r.source.index = (uint16_t)(1 + i % 48);
  g->r.body.fault.branch = g->r.source.index;
  g->r.body.fault.detail = (struct journal_slice){ (const uint8_t *)g->pad, g->detail_len };
  g->r.mono_ns = (1ull << 50) + i * g->step_ns;
  g->r.wall_ns = (1ll << 60) + (int64_t)(i * g->step_ns);
}

/* The journal's clock while a generator with a time step appends: the current record's time. */
static void gen_clock(void *ctx, uint64_t *mono_ns, int64_t *wall_ns, uint8_t *tq)
{
  const struct rec_gen *g = ctx;
  *mono_ns = g->r.mono_ns;
  *wall_ns = g->r.wall_ns;
  *tq = JOURNAL_TQ_SYNCED;
}

struct bench_opts {
  const char *dir;
  uint64_t records;
  size_t record_bytes;
  bool json;
};

/* ---- raw LMDB baseline */
static double raw_round(const char *dir, const uint8_t *recs, size_t rb, uint64_t n)
{
  char path[4400];
  snprintf(path, sizeof path, "%s/raw", dir);
  cli_rm_rf(path);
  mkdir(path, 0700);
  MDB_env *env;
  MDB_dbi dbi;
  MDB_txn *txn;
  mdb_env_create(&env);
  mdb_env_set_maxdbs(env, 4);
  mdb_env_set_mapsize(env, (size_t)(n * (rb + 64) * 3 + (64u << 20)));
  if (mdb_env_open(env, path, MDB_NOTLS, 0600)) { mdb_env_close(env); return -1; }
  mdb_txn_begin(env, NULL, 0, &txn);
  mdb_dbi_open(txn, "records", MDB_CREATE, &dbi);
  mdb_txn_commit(txn);
  double t0 = cli_mono_s();
  uint8_t kb[8];
  int rc = 0;
  for (uint64_t i = 0; i < n && !rc; i += 1000) {
    rc = mdb_txn_begin(env, NULL, 0, &txn);
    for (uint64_t k = i; k < i + 1000 && k < n && !rc; k++) {
      uint64_t s = k + 1;
      for (int b = 7; b >= 0; b--) { kb[b] = (uint8_t)s; s >>= 8; }
      MDB_val key = { 8, kb }, val = { rb, (void *)(recs + k * rb) };
      rc = mdb_put(txn, dbi, &key, &val, MDB_APPEND);
    }
    if (rc) mdb_txn_abort(txn);
    else rc = mdb_txn_commit(txn);
  }
  double dt = cli_mono_s() - t0;
  mdb_env_close(env);
  cli_rm_rf(path);
  return rc ? -1 : (double)n / dt;
}

/* ---- production path */
struct prod_result;
static int prod_round_sync(const char *dir, struct rec_gen *g, uint64_t n, bool keep, uint32_t batch, bool no_sync,
                           struct prod_result *out);
struct prod_result { double rate; double mean_group; double groups_per_commit; uint64_t bytes_written; uint64_t mdb_bytes; };

static int make_journal(const char *dir)
{
  struct journal_options o;
  memset(&o, 0, sizeof o);
  o.dir = dir;
  o.map_size = 1ull << 30;
  return journal_create(&o, "{}", 2, HEMS_FIRMWARE_VERSION);
}

static int prod_round(const char *dir, struct rec_gen *g, uint64_t n, bool keep, uint32_t batch, struct prod_result *out)
{
  return prod_round_sync(dir, g, n, keep, batch, false, out);
}

/* A production round; no_sync only to synthesise a journal that is then read, never timed. */
static int prod_round_sync(const char *dir, struct rec_gen *g, uint64_t n, bool keep, uint32_t batch, bool no_sync,
                           struct prod_result *out)
{
  cli_rm_rf(dir);
  int rc = make_journal(dir);
  if (rc) return rc;
  struct journal_options o;
  memset(&o, 0, sizeof o);
  o.dir = dir;
  o.map_size = 1ull << 30;
  o.commit_batch_max = batch;
  o.unsafe_no_sync = no_sync;
  if (g->step_ns) { o.clock.now = gen_clock; o.clock.ctx = g; } /* record time as generated */
  struct journal *j;
  if ((rc = journal_open(&j, &o, NULL, NULL))) return rc;
  struct journal_stats st0, st1;
  journal_get_stats(j, &st0);
  uint64_t w0 = io_write_bytes();
  double t0 = cli_mono_s();
  for (uint64_t i = 0; i < n && !rc; i++) {
    gen_at(g, i);
    rc = journal_append(j, &g->r, NULL);
  }
  if (!rc) rc = journal_sync(j);
  double dt = cli_mono_s() - t0;
  uint64_t w1 = io_write_bytes();
  journal_get_stats(j, &st1);
  int crc = journal_close(j);
  if (rc || crc) return rc ? rc : crc;
  char path[4400];
  struct stat sb;
  snprintf(path, sizeof path, "%s/journal/data.mdb", dir);
  out->mdb_bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
  out->rate = (double)n / dt;
  uint64_t groups = st1.groups_committed - st0.groups_committed;
  out->mean_group = groups ? (double)(st1.records_committed - st0.records_committed) / (double)groups : 0;
  uint64_t commits = st1.commits - st0.commits;
  out->groups_per_commit = commits ? (double)groups / (double)commits : 0;
  out->bytes_written = w1 - w0;
  if (!keep) cli_rm_rf(dir);
  return 0;
}

/* ---- latency */
struct lat {
  pthread_mutex_t mu;
  uint64_t seqs[8192];
  double t_append[8192];
  double lat_ms[8192];
  int n, head, nlat;
};

static void lat_durable(void *ctx, uint64_t seq)
{
  struct lat *l = ctx;
  double t = cli_mono_s();
  pthread_mutex_lock(&l->mu);
  while (l->head < l->n && l->seqs[l->head] <= seq) {
    l->lat_ms[l->nlat++] = (t - l->t_append[l->head]) * 1e3;
    l->head++;
  }
  pthread_mutex_unlock(&l->mu);
}

static int cmp_d(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int latency_round(const char *dir, struct rec_gen *g, double *p50, double *p99, int *samples)
{
  cli_rm_rf(dir);
  int rc = make_journal(dir);
  if (rc) return rc;
  static struct lat l;
  memset(&l, 0, sizeof l);
  pthread_mutex_init(&l.mu, NULL);
  struct journal_options o;
  memset(&o, 0, sizeof o);
  o.dir = dir;
  o.on_durable = lat_durable;
  o.ctx = &l;
  struct journal *j;
  if ((rc = journal_open(&j, &o, NULL, NULL))) return rc;
  struct journal_record note;
  memset(&note, 0, sizeof note);
  note.type = JOURNAL_T_NOTE;
  note.source.kind = JOURNAL_SRC_OPERATOR;
  note.body.note.who = (struct journal_slice){ (const uint8_t *)"bench", 5 };
  note.body.note.text = (struct journal_slice){ (const uint8_t *)"critical record latency probe", 29 };
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (int i = 0; i < 5000 && !rc; i++) {
    next.tv_nsec += 1000000; /* 1 k records/s offered */
    if (next.tv_nsec >= 1000000000) { next.tv_nsec -= 1000000000; next.tv_sec++; }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    if (i % 10 == 9) {
      uint64_t seq;
      double t = cli_mono_s();
      pthread_mutex_lock(&l.mu);
      rc = journal_append(j, &note, &seq);
      if (!rc && l.n < 8192) { l.seqs[l.n] = seq; l.t_append[l.n] = t; l.n++; }
      pthread_mutex_unlock(&l.mu);
    } else {
      gen_at(g, (uint64_t)i);
      rc = journal_append(j, &g->r, NULL);
    }
  }
  if (!rc) rc = journal_sync(j);
  journal_close(j);
  cli_rm_rf(dir);
  if (rc) return rc;
  qsort(l.lat_ms, (size_t)l.nlat, sizeof l.lat_ms[0], cmp_d);
  *samples = l.nlat;
  *p50 = l.nlat ? l.lat_ms[l.nlat / 2] : 0;
  *p99 = l.nlat ? l.lat_ms[(int)(l.nlat * 0.99)] : 0;
  return 0;
}

static double fsync_ms(const char *dir)
{
  char path[4400];
  snprintf(path, sizeof path, "%s/fsync-probe", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return -1;
  char buf[4096];
  memset(buf, 1, sizeof buf);
  double t0 = cli_mono_s();
  for (int i = 0; i < 200; i++) {
    if (pwrite(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf) break;
    fdatasync(fd);
  }
  double dt = cli_mono_s() - t0;
  close(fd);
  unlink(path);
  return dt / 200 * 1e3;
}

static int cmp_double(const void *a, const void *b) { return cmp_d(a, b); }

static const char *base_dir(const struct bench_opts *o, char *buf, size_t cap, bool *tmp)
{
  if (o->dir) {
    mkdir(o->dir, 0700);
    *tmp = false;
    return o->dir;
  }
  const char *t = getenv("TMPDIR");
  snprintf(buf, cap, "%s/hems-bench-XXXXXX", t && *t ? t : "/tmp");
  *tmp = true;
  return mkdtemp(buf);
}

void cli_bench_emit(json_t *o, bool as_json)
{
  if (as_json) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    puts(s);
    free(s);
    return;
  }
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    if (json_is_real(v)) printf("%-26s %.4g\n", k, json_real_value(v));
    else if (json_is_integer(v)) printf("%-26s %lld\n", k, (long long)json_integer_value(v));
    else if (json_is_string(v)) printf("%-26s %s\n", k, json_string_value(v));
    else if (json_is_boolean(v)) printf("%-26s %s\n", k, json_is_true(v) ? "true" : "false");
  }
}

/* Prints the figures and removes the bench's files. */
static int bench_finish(json_t *out, const struct bench_opts *o, const char *jdir, const char *base, bool tmp)
{
  cli_bench_emit(out, o->json);
  json_decref(out);
  cli_rm_rf(jdir);
  if (tmp) cli_rm_rf(base);
  return CLI_OK;
}

/* The working dir (tbuf: 4200 bytes), the journal dir SUB in it (jdir: 4300 bytes) and the
 * record generator for --record-bytes; 0 or a CLI exit code (the error printed). */
static int bench_prepare(const struct bench_opts *o, const char *sub, char *tbuf, char *jdir, const char **base,
                         bool *tmp, struct rec_gen *g)
{
  *base = base_dir(o, tbuf, 4200, tmp);
  if (!*base) { cli_err("bench: cannot create a working dir: %s", strerror(errno)); return CLI_ENV; }
  snprintf(jdir, 4300, "%s/%s", *base, sub);
  if (gen_init(g, o->record_bytes)) { cli_err("bench: --record-bytes %zu: cannot build records of that size", o->record_bytes); return CLI_USAGE; }
  return 0;
}

/* ns per record of leaf hash + journal_merkle_append over the encoded records (best of 3). */
static double tree_cost_ns(const uint8_t *recs, size_t rb, uint64_t n)
{
  struct journal_merkle_hasher h;
  struct journal_merkle_appender *a = malloc(sizeof *a);
  if (!a || journal_merkle_hasher_init(&h)) { free(a); return -1; }
  double best = -1;
  for (int round = 0; round < 3; round++) {
    journal_merkle_appender_init(a, &h, NULL, NULL);
    double t0 = cli_mono_s();
    for (uint64_t i = 0; i < n; i++) {
      uint8_t leaf[JOURNAL_HASH_BYTES];
      journal_merkle_leaf_hash(&h, recs + i * rb, rb, leaf); /* records are exactly rb bytes */
      journal_merkle_append(a, leaf);
    }
    double ns = (cli_mono_s() - t0) * 1e9 / (double)n;
    if (best < 0 || ns < best) best = ns;
  }
  journal_merkle_hasher_deinit(&h);
  free(a);
  return best;
}

static int bench_journal(const struct bench_opts *o)
{
  char tbuf[4200], jdir[4300];
  bool tmp;
  const char *base;
  static struct rec_gen g;
  int crc = bench_prepare(o, "journal-bench", tbuf, jdir, &base, &tmp, &g);
  if (crc) return crc;
  uint64_t n = o->records;
  /* The same bytes for the raw baseline: encode what the production path appends. */
  uint8_t *recs = malloc(n * o->record_bytes);
  if (!recs) { cli_err("bench: out of memory"); return CLI_ENV; }
  for (uint64_t i = 0; i < n; i++) {
    gen_at(&g, i);
    g.r.seq = i + 1;
    size_t len;
    journal_record_encode(&g.r, recs + i * o->record_bytes, o->record_bytes, &len);
  }
  double raw[3], prod[3], strict[3];
  struct prod_result pr[3], sr;
  int rc = 0;
  for (int round = 0; round < 3 && !rc; round++) {
    if (isatty(STDERR_FILENO)) fprintf(stderr, "\rbench journal: round %d/3", round + 1);
    raw[round] = raw_round(base, recs, o->record_bytes, n);
    /* strict: exactly one sealed group of 1000 per LMDB commit, like the raw baseline */
    rc = prod_round(jdir, &g, n, false, 1, &sr);
    strict[round] = sr.rate;
    /* production: queued sealed groups may share a commit (group commit) */
    if (!rc) rc = prod_round(jdir, &g, n, false, 0, &pr[round]);
    prod[round] = pr[round].rate;
    if (raw[round] < 0) rc = -EIO;
  }
  if (isatty(STDERR_FILENO)) fprintf(stderr, "\r\033[K");
  if (rc) { free(recs); cli_err("bench journal: %s", journal_strerror(rc)); if (tmp) cli_rm_rf(base); return CLI_ENV; }
  double rs[3], ps[3], ss[3];
  memcpy(rs, raw, sizeof rs);
  memcpy(ps, prod, sizeof ps);
  memcpy(ss, strict, sizeof ss);
  qsort(rs, 3, sizeof rs[0], cmp_double);
  qsort(ps, 3, sizeof ps[0], cmp_double);
  qsort(ss, 3, sizeof ss[0], cmp_double);
  double p50 = 0, p99 = 0;
  int samples = 0;
  char ldir[4300];
  snprintf(ldir, sizeof ldir, "%s/latency-bench", base);
  rc = latency_round(ldir, &g, &p50, &p99, &samples);
  if (rc) { cli_err("bench journal: latency: %s", journal_strerror(rc)); if (tmp) cli_rm_rf(base); return CLI_ENV; }
  double fs = fsync_ms(base);
  uint64_t bw = pr[2].bytes_written;
  /* The Merkle tree's share of the append path (leaf hash + appender, what the writer adds per
   * record; appends_per_s above already includes it), over the same record bytes. */
  double tree_ns = tree_cost_ns(recs, o->record_bytes, n);
  free(recs);
  json_t *out = json_object();
  json_object_set_new(out, "bench", json_string("journal"));
  json_object_set_new(out, "records", json_integer((json_int_t)n));
  json_object_set_new(out, "record_bytes", json_integer((json_int_t)o->record_bytes));
  json_object_set_new(out, "appends_per_s", json_real(ps[1]));
  json_object_set_new(out, "raw_lmdb_appends_per_s", json_real(rs[1]));
  json_object_set_new(out, "ratio", json_real(ps[1] / rs[1]));
  /* appends_per_s is with the Merkle tree maintained (every record a leaf, tiles stored at each
   * seal); the tree's own cost per record, and what the rate would be without it */
  json_object_set_new(out, "tree_maintained", json_true());
  json_object_set_new(out, "tree_ns_per_record", json_real(tree_ns));
  json_object_set_new(out, "without_tree_appends_per_s_est", json_real(1.0 / (1.0 / ps[1] - tree_ns * 1e-9)));
  /* the ratio holds for this many sealed groups per LMDB commit (group commit under load) */
  json_object_set_new(out, "groups_per_commit", json_real(pr[2].groups_per_commit));
  json_object_set_new(out, "mean_group_size", json_real(pr[2].mean_group));
  json_object_set_new(out, "one_group_per_commit_appends_per_s", json_real(ss[1]));
  json_object_set_new(out, "one_group_per_commit_ratio", json_real(ss[1] / rs[1]));
  json_object_set_new(out, "p50_ms", json_real(p50));
  json_object_set_new(out, "p99_ms", json_real(p99));
  json_object_set_new(out, "latency_samples", json_integer(samples));
  json_object_set_new(out, "fsync_ms", json_real(fs));
  json_object_set_new(out, "p99_target_ms", json_real(2.0 + fs));
  json_object_set_new(out, "bytes_per_record", json_real(bw ? (double)bw / (double)n : (double)pr[2].mdb_bytes / (double)n));
  json_object_set_new(out, "bytes_source", json_string(bw ? "proc_io_write_bytes" : "data_mdb_size"));
  json_object_set_new(out, "rounds", json_integer(3));
  return bench_finish(out, o, jdir, base, tmp);
}

/* sim: the simulated panel plus the emulated SPI path through the real ADE9000 driver,
 * full-panel (48 current + 3 voltage channels at 8 kSPS), one core; baseline = real time. */
static int bench_sim(const struct bench_opts *o)
{
  struct hw_bench_result r;
  struct timespec c0, c1;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
  int rc = hw_bench_sim(20.0, 1, &r);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
  if (rc) { cli_err("bench sim: %s", hw_strerror(rc)); return CLI_ENV; }
  /* One core: the thread's CPU time, so other load on a shared machine does not count. */
  double cpu_s = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
  json_t *out = json_object();
  json_object_set_new(out, "bench", json_string("sim"));
  json_object_set_new(out, "channels", json_integer(r.channels));
  json_object_set_new(out, "virtual_s", json_real(r.virtual_s));
  json_object_set_new(out, "wall_s", json_real(r.wall_s));
  json_object_set_new(out, "cpu_s", json_real(cpu_s));
  json_object_set_new(out, "realtime_factor", json_real(r.virtual_s / cpu_s));
  json_object_set_new(out, "wall_realtime_factor", json_real(r.realtime_factor));
  json_object_set_new(out, "target_realtime_factor", json_real(50));
  json_object_set_new(out, "channel_samples", json_integer((json_int_t)r.samples));
  cli_bench_emit(out, o->json);
  json_decref(out);
  return CLI_OK;
}

/* ingest: 48 current + 3 voltage channels at 8 kSPS through the whole waveform pipeline
 * (windows, harmonics, Urms(1/2), PQ, capture and signature rings), one core. */
static int bench_ingest(const struct bench_opts *o)
{
  struct ingest_bench_result r;
  int rc = ingest_bench(20.0, &r);
  if (rc) { cli_err("bench ingest: %s", ingest_strerror(rc)); return CLI_ENV; }
  json_t *out = json_object();
  json_object_set_new(out, "bench", json_string("ingest"));
  json_object_set_new(out, "channels", json_integer(r.channels));
  json_object_set_new(out, "sample_rate_hz", json_real(r.sample_rate_hz));
  json_object_set_new(out, "seconds_simulated", json_real(r.seconds_simulated));
  json_object_set_new(out, "cpu_s", json_real(r.cpu_s));
  json_object_set_new(out, "realtime_factor", json_real(r.realtime_factor));
  json_object_set_new(out, "realtime_factor_class_a_off", json_real(r.realtime_factor_class_a_off));
  json_object_set_new(out, "target_realtime_factor", json_real(50));
  json_object_set_new(out, "capture_ring_bytes", json_integer((json_int_t)r.capture_ring_bytes));
  json_object_set_new(out, "engine_bytes", json_integer((json_int_t)r.engine_bytes));
  json_object_set_new(out, "engine_bytes_class_a_off", json_integer((json_int_t)r.engine_bytes_class_a_off));
  json_object_set_new(out, "windows", json_integer((json_int_t)r.windows));
  json_object_set_new(out, "pq_events", json_integer((json_int_t)r.events));
  json_object_set_new(out, "captures", json_integer((json_int_t)r.captures));
  if (r.blob_bytes) json_object_set_new(out, "capture_delta_coding_ratio", json_real((double)r.blob_bytes_raw / (double)r.blob_bytes));
  cli_bench_emit(out, o->json);
  json_decref(out);
  return CLI_OK;
}

int cli_cmd_bench(int argc, char **argv)
{
  for (int i = 1; i < argc; i++) /* `bench replay` has options of its own: cli/bench_replay.c */
    if (!strcmp(argv[i], "replay")) return cli_bench_replay(argc, argv);
    else if (!strcmp(argv[i], "verify")) return cli_bench_verify(argc, argv); /* cli/bench_verify.c */
    else if (!strcmp(argv[i], "decision")) return cli_bench_decision(argc, argv); /* cli/bench_decision.c */
    else if (!strcmp(argv[i], "merkle")) return cli_bench_merkle(argc, argv); /* cli/bench_merkle.c */
    else if (!strcmp(argv[i], "codec")) return cli_bench_codec(argc, argv); /* cli/bench_codec.c */
    else if (!strcmp(argv[i], "analyze")) return cli_bench_analyze(argc, argv); /* cli/bench_analyze.c */
    else if (!strcmp(argv[i], "fleet")) return cli_bench_fleet(argc, argv); /* cli/bench_fleet.c */
  for (int i = 1; i < argc; i++) /* `bench query` and `bench daemon` too */
    if (!strcmp(argv[i], "query")) return cli_bench_query(argc, argv);
    else if (!strcmp(argv[i], "daemon")) return cli_bench_daemon(argc, argv);
  enum { O_DIR = 1000, O_FORMAT, O_RECORDS, O_BYTES };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "format", required_argument, NULL, O_FORMAT },
                                      { "records", required_argument, NULL, O_RECORDS },
                                      { "record-bytes", required_argument, NULL, O_BYTES }, { 0 } };
  struct bench_opts o = { NULL, 200000, 200, false };
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    uint64_t v;
    switch (opt) {
    case O_DIR: o.dir = optarg; break;
    case O_FORMAT:
      if (!strcmp(optarg, "json")) o.json = true;
      else if (!strcmp(optarg, "text")) o.json = false;
      else { cli_err("bench: --format takes text or json"); return CLI_USAGE; }
      break;
    case O_RECORDS:
      if (cli_parse_u64(optarg, &v) || v < 1000 || v > 100000000) { cli_err("bench: --records takes 1000..100000000"); return CLI_USAGE; }
      o.records = v;
      break;
    case O_BYTES:
      if (cli_parse_u64(optarg, &v) || v < 120 || v > 60000) { cli_err("bench: --record-bytes takes 120..60000"); return CLI_USAGE; }
      o.record_bytes = (size_t)v;
      break;
    default: return cli_usage(cli_find("bench"), false);
    }
  }
  if (optind != argc - 1) return cli_usage(cli_find("bench"), false);
  const char *what = argv[optind];
  if (sodium_init() < 0) return CLI_ENV;
  if (!strcmp(what, "journal")) return bench_journal(&o);
  if (!strcmp(what, "sim")) return bench_sim(&o);
  if (!strcmp(what, "ingest")) return bench_ingest(&o);
  cli_err("bench: %s: unknown benchmark (journal, verify, sim, ingest)", what);
  return CLI_USAGE;
}
