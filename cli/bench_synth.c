/*
 * bench_synth.c — the journal `hems bench replay`, `verify` and `query` measure: a 48-branch panel
 * (16 branch AFEs with 3 current channels each, plus the mains AFE) synthesised at record level
 * through the replay harness (live state hashes in every seal, hourly checkpoints), in format 3
 * or, for the same-run comparison, format 2 (journal_options.format); the options replay and
 * verify share; the page-cache residency of a journal and dropping it for cold-cache runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
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

/* Writes `days` of a 48-branch panel into dir through the replay harness: a boot record declaring
 * the reducer version the daemon runs, then one window per AFE per second of virtual time, DER updates every 5 s, a request every 10 min with its command and
 * sense-back. group_span_ns: how much record time one commit group may span. */
int cli_bench_synth_journal(const char *dir, unsigned format, double days, uint64_t max_records,
                            uint64_t group_span_ns, const char *what, struct cli_synth_result *out)
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
  jo.format = format;
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
  /* the daemon's boot record: it declares the reducer version, so the journal folds under the
   * rules the daemon runs (rollups included), not the base version's (in both formats: schema
   * v 1 carries the optional field too) */
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_BOOT;
  r.source.kind = JOURNAL_SRC_PANEL;
  memcpy(r.body.boot.boot_id, jo.boot_id, sizeof r.body.boot.boot_id);
  r.body.boot.config_version = 15;
  r.body.boot.reducer_version = REPLAY_REDUCER_VERSION;
  r.body.boot.previous_shutdown = JOURNAL_SHUTDOWN_FIRST;
  static const char fw[] = HEMS_FIRMWARE_VERSION;
  r.body.boot.firmware_version = (struct journal_slice){ (const uint8_t *)fw, sizeof fw - 1 };
  r.body.boot.rail_status = (struct journal_slice){ (const uint8_t *)"ok", 2 };
  r.body.boot.reset_reason = (struct journal_slice){ (const uint8_t *)"bench", 5 };
  rc = replay_harness_append(h, &r, NULL, NULL, NULL);
  appended++;
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
