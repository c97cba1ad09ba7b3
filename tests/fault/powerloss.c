/*
 * powerloss.c — power-loss simulator for the journal, in the manner of SQLite's crash tests.
 *
 *   powerloss [--cuts N] [--seed S] [--keep-failures DIR] [--hems PATH] [--shim PATH] [--quick] [-v]
 *
 * (--quick: daemon runs of 30 s and 15 s of panel time instead of 2 min and 1 min.)
 *
 * kill -9 keeps the page cache, so it never shows what fsync ordering is for. Here:
 *  1. A data dir is made with `hems init` (durable: its files are the log's INIT records).
 *  2. Workloads run under the LD_PRELOAD shim (plshim.c), which appends every write, truncate,
 *     sync and namespace operation on the data dir to one log: notes (append, seal, counter
 *     update), a daemon run (`hems run --sim default --speed max`: groups, group commit under
 *     the daemon's commit hold, seals), retention (archive bundle, rename, checkpoint, prune),
 *     notes after the cut, a second daemon run (restart from a checkpoint), a second retention.
 *     Between and during them this program appends ACK records to the same log: after a
 *     workload process exits 0 (everything it wrote is durable: a command returns only after
 *     its journal is closed), and, while a daemon runs, the `durable_seq` its status socket
 *     reports. The log is append-only with O_APPEND, so an ACK follows every sync it depends on.
 *  3. From that one log, N cut points are drawn (spread over the workloads); for each, the
 *     disk model (pl_image.h) builds what a power cut there could leave — synced data, plus
 *     none/all/a torn prefix/a torn subset of the unsynced writes, and a prefix of the
 *     un-fsynced namespace operations — as a fresh directory, which the real `hems` then opens:
 *       - `hems verify --dir IMG` exits 0 (a refusal or a signal fails the cut);
 *       - every record acknowledged before the cut is there: seq 1..acked lies in the journal's
 *         verified range or in a verified archive bundle (`hems verify BUNDLE`);
 *       - the counter (read through the journal library, not its bytes) is never ahead of the
 *         head, and at most one commit behind (the documented crash window);
 *       - DIR/config.json (local settings kept nowhere else) is whole JSON, old or new;
 *       - `hems show` of the head and `hems timeline` work; every 10th cut `hems run` continues
 *         on the image and `hems verify` passes again.
 * Exit 0 when every cut passes; 1 otherwise (the failing images are kept with --keep-failures).
 *
 * A failing run keeps its work dir (log and data). `--replay DIR` draws the same cuts (same
 * --cuts and --seed) from DIR's log instead of running the workloads again, so the images are
 * exactly that run's; `--only-cut N` checks only cut N (the others are still built, in order, so
 * the random choices that shape cut N are the same).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "journal.h"
#include "pl_image.h"
#include "pl_proc.h"

enum { W_APPEND, W_DAEMON, W_RETENTION, W_APPEND2, W_DAEMON2, W_RETENTION2, W_COUNT };
static const char *const wname[W_COUNT] = { "append", "daemon", "retention", "append-after-cut", "daemon-restart", "retention-2" };

static int g_log = -1;
static char g_data[4096]; /* canonical path of the live data dir */
static int g_verbose;
static int g_quick; /* --quick: shorter daemon runs (sanitizer builds) */

static void log_rec(uint32_t op, uint64_t ino, uint64_t off, const char *path, const void *data, uint64_t len)
{
  size_t plen = path ? strlen(path) + 1 : 0;
  struct pl_rec h = { PL_MAGIC, op, (uint32_t)plen, 0, ino, off, len };
  size_t total = PL_ALIGN(sizeof h + plen + (size_t)len);
  char *b = calloc(1, total);
  if (!b) abort();
  memcpy(b, &h, sizeof h);
  if (plen) memcpy(b + sizeof h, path, plen);
  if (len) memcpy(b + sizeof h + plen, data, (size_t)len);
  if (write(g_log, b, total) != (ssize_t)total) { perror("powerloss: log"); exit(3); }
  free(b);
}

static int init_one(const char *p, const struct stat *st, int type, struct FTW *f)
{
  (void)f;
  const char *rel = p + strlen(g_data);
  if (*rel == '/') rel++;
  if (!*rel) return 0;
  if (type == FTW_D) { log_rec(PL_INITDIR, 0, 0, rel, NULL, 0); return 0; }
  if (type != FTW_F || !S_ISREG(st->st_mode)) return 0;
  size_t n;
  uint8_t *b = pl_slurp(p, &n);
  if (!b) return -1;
  log_rec(PL_INIT, (uint64_t)st->st_ino, 0, rel, b, n);
  free(b);
  return 0;
}

/* ---------------------------------------------------------------- workloads */

static uint64_t g_acked;

static void ack(uint64_t seq)
{
  if (seq <= g_acked) return;
  g_acked = seq;
  log_rec(PL_ACK, 0, seq, NULL, NULL, 0);
}

/* After a workload exited 0: its head is durable. Read it without the shim. */
static void ack_head(void)
{
  uint64_t a, b;
  if (pl_verify_range(g_data, &a, &b) != 0) { fprintf(stderr, "powerloss: live dir does not verify after a workload\n"); exit(1); }
  ack(b);
}

static void shimmed(const char *const *argv)
{
  char out[256];
  int st = pl_run(argv, true, out, sizeof out, NULL, 0, 120);
  if (st != 0) { fprintf(stderr, "powerloss: workload %s %s failed (status %d)\n", argv[1], argv[2], st); exit(1); }
  ack_head();
}

static void notes(int n)
{
  for (int i = 0; i < n; i++) {
    char text[64], out[64];
    snprintf(text, sizeof text, "power-loss note %d", i);
    const char *argv[] = { pl_hems(), "note", "--dir", g_data, text, NULL };
    if (pl_run(argv, true, out, sizeof out, NULL, 0, 60) != 0) { fprintf(stderr, "powerloss: hems note failed\n"); exit(1); }
    ack(strtoull(out, NULL, 10)); /* exit 0: the note is durable */
  }
}

/* A daemon run; while it runs, poll its status socket and acknowledge its durable_seq. */
static void daemon_run(const char *dur)
{
  const char *argv[] = { pl_hems(), "run", "--dir", g_data, "--sim", "default", "--speed", "max", "--for", dur, NULL };
  pid_t pid = pl_spawn(argv, true);
  int st;
  for (;;) {
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid) break;
    char out[8192];
    const char *sargv[] = { pl_hems(), "status", "--dir", g_data, "--format", "json", NULL };
    if (pl_run(sargv, false, out, sizeof out, NULL, 0, 20) == 0 && strstr(out, "\"source\": \"daemon\"")) {
      const char *d = strstr(out, "\"durable_seq\":");
      if (d) ack(strtoull(d + 14, NULL, 10));
    }
    struct timespec ts = { 0, 20 * 1000000L };
    nanosleep(&ts, NULL);
  }
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { fprintf(stderr, "powerloss: daemon run failed (status %d)\n", st); exit(1); }
  ack_head();
}

static void workloads(void)
{
  log_rec(PL_MARK, 0, W_APPEND, NULL, NULL, 0);
  notes(12);
  log_rec(PL_MARK, 0, W_DAEMON, NULL, NULL, 0);
  daemon_run(g_quick ? "30s" : "2m");
  log_rec(PL_MARK, 0, W_RETENTION, NULL, NULL, 0);
  const char *ret[] = { pl_hems(), "retention", "--dir", g_data, "--keep", "30s", "--run", NULL };
  shimmed(ret);
  log_rec(PL_MARK, 0, W_APPEND2, NULL, NULL, 0);
  notes(8);
  log_rec(PL_MARK, 0, W_DAEMON2, NULL, NULL, 0);
  daemon_run(g_quick ? "15s" : "1m");
  log_rec(PL_MARK, 0, W_RETENTION2, NULL, NULL, 0);
  shimmed(ret);
}

/* ---------------------------------------------------------------- checks */

enum outcome { O_AT_HEAD, O_ONE_BEHIND, O_LOST, O_REFUSED, O_SIGNAL, O_COUNTER, O_TOOLS, O_CONFIG, O_COUNT };
static const char *const oname[O_COUNT] = { "verified, counter at head", "verified, counter one commit behind (repaired on open)",
                                            "LOST acknowledged records", "REFUSED", "KILLED BY SIGNAL", "COUNTER AHEAD OR FAR BEHIND",
                                            "show/timeline/run FAILED", "CONFIG.JSON DAMAGED" };

/* Seqs 1..want are in the journal range [a, b] or in verified archive bundles. */
static uint64_t missing(const char *img, uint64_t a, uint64_t b, uint64_t want)
{
  if (want == 0) return 0;
  if (b < want) return want - (b > a ? b : a - 1);
  if (a <= 1) return 0;
  uint64_t need_to = a - 1 < want ? a - 1 : want, covered = 0;
  char pat[4300];
  snprintf(pat, sizeof pat, "%s/archive", img);
  char **names = NULL;
  size_t n = pl_list(pat, ".hems", &names);
  /* bundles are named <first>-<cut>: in order by name */
  for (size_t i = 0; i < n; i++) {
    char path[8500], pub[4400];
    snprintf(path, sizeof path, "%s/%s", pat, names[i]);
    snprintf(pub, sizeof pub, "%s/keys/signing.pub", img);
    uint64_t x, y;
    if (pl_verify_bundle(path, pub, &x, &y) == 0 && x <= covered + 1 && y > covered) covered = y;
    free(names[i]);
  }
  free(names);
  return covered >= need_to ? 0 : need_to - covered;
}

struct tally {
  unsigned n[O_COUNT], by_w[W_COUNT], by_pol[PL_POLICIES], runs;
  uint64_t acked_checked, lost, pending;
};

static enum outcome check_cut(const char *img, uint64_t acked, bool run, char *why, size_t why_cap, struct tally *t)
{
  char err[512];
  uint64_t a = 0, b = 0;
  int st = pl_verify_range_err(img, &a, &b, err, sizeof err);
  if (st < 0) { snprintf(why, why_cap, "hems verify killed by signal %d", -st); return O_SIGNAL; }
  if (st != 0) { snprintf(why, why_cap, "hems verify exit %d: %s", st, err); return O_REFUSED; }
  t->acked_checked += acked;
  uint64_t m = missing(img, a, b, acked);
  if (m) {
    t->lost += m;
    snprintf(why, why_cap, "%" PRIu64 " of seq 1..%" PRIu64 " missing (journal %" PRIu64 "..%" PRIu64 ")", m, acked, a, b);
    return O_LOST;
  }
  uint64_t head = 0, cseq = 0;
  int rc = journal_rollback_info(img, NULL, &head, &cseq);
  if (rc || cseq > head || head != b) {
    snprintf(why, why_cap, "counter seq %" PRIu64 ", head %" PRIu64 " (verify said ..%" PRIu64 "): %s", cseq, head, b, rc ? journal_strerror(rc) : "ahead");
    return O_COUNTER;
  }
  /* DIR/config.json holds local settings (roles, retention) that are nowhere else: it is the
   * old file or the new one, never a torn mix. */
  char cfg[4300];
  snprintf(cfg, sizeof cfg, "%s/config.json", img);
  json_error_t jerr;
  json_t *cj = json_load_file(cfg, 0, &jerr);
  if (!cj) { snprintf(why, why_cap, "config.json: %s", jerr.text); return O_CONFIG; }
  json_decref(cj);
  char seq[32];
  snprintf(seq, sizeof seq, "%" PRIu64, b);
  const char *show[] = { pl_hems(), "show", "--dir", img, seq, NULL };
  const char *tl[] = { pl_hems(), "timeline", "--dir", img, "--format", "jsonl", "--limit", "20", NULL };
  char out[64];
  if ((st = pl_run(show, false, out, sizeof out, err, sizeof err, 60)) != 0 || (st = pl_run(tl, false, out, sizeof out, err, sizeof err, 60)) != 0) {
    snprintf(why, why_cap, "show/timeline status %d: %s", st, err);
    return O_TOOLS;
  }
  if (run) {
    const char *rv[] = { pl_hems(), "run", "--dir", img, "--sim", "default", "--speed", "max", "--for", "5s", NULL };
    uint64_t a2, b2;
    t->runs++;
    if ((st = pl_run(rv, false, out, sizeof out, err, sizeof err, 120)) != 0 || pl_verify_range(img, &a2, &b2) != 0 || b2 <= b) {
      snprintf(why, why_cap, "hems run on the image: status %d: %s", st, err);
      return O_TOOLS;
    }
  }
  /* The counter may trail the head by the last commit only (DESIGN invariant 5): the writer's
   * open repairs that silently, which the run above (or this open) proves. */
  if (cseq == head) return O_AT_HEAD;
  struct journal *j;
  struct journal_options o;
  memset(&o, 0, sizeof o);
  o.dir = img;
  struct journal_open_info info;
  rc = journal_open(&j, &o, &info, NULL);
  if (rc) { snprintf(why, why_cap, "counter %" PRIu64 " behind head %" PRIu64 " refused: %s", cseq, head, journal_strerror(rc)); return O_COUNTER; }
  journal_close(j);
  return O_ONE_BEHIND;
}

int main(int argc, char **argv)
{
  unsigned cuts = 150;
  uint64_t seed = 1;
  const char *keep_dir = NULL, *replay = NULL;
  long only_cut = -1;
  static const struct option opts[] = { { "cuts", required_argument, NULL, 'c' }, { "seed", required_argument, NULL, 's' },
                                        { "keep-failures", required_argument, NULL, 'k' }, { "hems", required_argument, NULL, 'H' },
                                        { "shim", required_argument, NULL, 'S' }, { "verbose", no_argument, NULL, 'v' },
                                        { "quick", no_argument, NULL, 'q' }, { "replay", required_argument, NULL, 'R' },
                                        { "only-cut", required_argument, NULL, 'O' }, { 0 } };
  for (int c; (c = getopt_long(argc, argv, "v", opts, NULL)) != -1;) {
    if (c == 'c') cuts = (unsigned)strtoul(optarg, NULL, 10);
    else if (c == 's') seed = strtoull(optarg, NULL, 10);
    else if (c == 'k') keep_dir = optarg;
    else if (c == 'H') pl_set_hems(optarg);
    else if (c == 'S') pl_set_shim(optarg);
    else if (c == 'v') g_verbose = 1;
    else if (c == 'q') g_quick = 1;
    else if (c == 'R') replay = optarg;
    else if (c == 'O') only_cut = strtol(optarg, NULL, 10);
    else {
      fprintf(stderr, "usage: powerloss [--cuts N] [--seed S] [--keep-failures DIR] [--hems PATH] [--shim PATH] [--quick] [-v]\n"
                      "                 [--replay DIR [--only-cut N]]\n");
      return 2;
    }
  }
  if (cuts == 0) { fprintf(stderr, "powerloss: --cuts must be > 0\n"); return 2; }
  signal(SIGPIPE, SIG_IGN);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);

  const char *tmp = getenv("TMPDIR");
  char base[4096];
  if (replay) snprintf(base, sizeof base, "%s", replay);
  else snprintf(base, sizeof base, "%s/hems-powerloss-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!replay && !mkdtemp(base)) { perror("powerloss: mkdtemp"); return 3; }
  char data[4200], logp[4200], img[4200];
  snprintf(data, sizeof data, "%s/data", base);
  snprintf(logp, sizeof logp, "%s/log", base);
  snprintf(img, sizeof img, "%s/img", base);
  if (replay) {
    if (!realpath(data, g_data)) { fprintf(stderr, "powerloss: --replay %s: no data dir in it\n", replay); return 3; }
  } else {
    const char *init[] = { pl_hems(), "init", "--dir", data, NULL };
    char out[256];
    if (pl_run(init, false, out, sizeof out, NULL, 0, 60) != 0 || !realpath(data, g_data)) { fprintf(stderr, "powerloss: hems init failed\n"); return 3; }
    pl_set_log(logp, g_data);
    g_log = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (g_log < 0 || nftw(g_data, init_one, 16, FTW_PHYS) != 0) { fprintf(stderr, "powerloss: cannot log the initial dir\n"); return 3; }
    ack_head();
    workloads();
    close(g_log);
  }
  struct timespec tw;
  clock_gettime(CLOCK_MONOTONIC, &tw);

  size_t loglen;
  uint8_t *log = pl_slurp(logp, &loglen);
  struct pl_model *m;
  char why[1024];
  if (!log || pl_model_init(&m, log, loglen, why, sizeof why)) { fprintf(stderr, "powerloss: %s\n", log ? why : "cannot read the log"); return 3; }
  size_t nrec = pl_model_records(m);
  size_t start[W_COUNT + 1] = { 0 };
  for (size_t i = 0; i < nrec; i++)
    if (pl_model_rec(m, i)->op == PL_MARK) start[pl_model_rec(m, i)->off] = i;
  start[W_COUNT] = nrec + 1; /* a cut after the last record: all done */

  /* Cut points: spread evenly over the workloads, uniform within one; visited in order. */
  uint64_t rng = seed * 0x2545f4914f6cdd1dull + 1;
  size_t *at = malloc(cuts * sizeof *at);
  if (!at) abort();
  for (unsigned i = 0; i < cuts; i++) {
    unsigned w = i % W_COUNT;
    at[i] = start[w] + 1 + (size_t)(pl_rand(&rng) % (start[w + 1] - start[w]));
  }
  for (unsigned i = 1; i < cuts; i++)
    for (unsigned j = i; j > 0 && at[j - 1] > at[j]; j--) { size_t x = at[j]; at[j] = at[j - 1]; at[j - 1] = x; }

  struct tally t;
  memset(&t, 0, sizeof t);
  unsigned failed = 0;
  for (unsigned i = 0; i < cuts; i++) {
    uint64_t acked, mark;
    pl_model_advance(m, at[i], &acked, &mark);
    enum pl_data_policy pol = (enum pl_data_policy)(pl_rand(&rng) % PL_POLICIES);
    unsigned pending = 0;
    pl_rm_rf(img);
    uint64_t cut_rng = rng;
    if (pl_model_materialise(m, img, pol, &rng, &pending)) { fprintf(stderr, "powerloss: cannot write the image\n"); return 3; }
    t.pending += pending;
    if (only_cut >= 0 && (long)i != only_cut) continue; /* built only for the random choices */
    enum outcome o = check_cut(img, acked, i % 10 == 9, why, sizeof why, &t);
    t.n[o]++;
    t.by_w[mark]++;
    t.by_pol[pol]++;
    if (g_verbose || o > O_ONE_BEHIND)
      fprintf(o > O_ONE_BEHIND ? stderr : stdout, "cut %u at record %zu/%zu (%s, policy %d, %u writes pending, acked ..%" PRIu64 ", rng %" PRIu64 "): %s%s%s\n",
              i, at[i], nrec, wname[mark], pol, pending, acked, cut_rng, oname[o], o > O_ONE_BEHIND ? ": " : "", o > O_ONE_BEHIND ? why : "");
    if (o > O_ONE_BEHIND) {
      failed++;
      if (keep_dir) {
        char dst[8400];
        snprintf(dst, sizeof dst, "%s/cut-%u", keep_dir, i);
        mkdir(keep_dir, 0700);
        if (rename(img, dst) != 0) perror("powerloss: keep");
      }
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  double wsecs = (double)(tw.tv_sec - t0.tv_sec) + (double)(tw.tv_nsec - t0.tv_nsec) / 1e9;
  printf("powerloss: seed %" PRIu64 ", %u cuts over a log of %zu records (%.1f MiB), %u daemon restarts on an image; %.1f s (workloads %.1f s)\n",
         seed, cuts, nrec, (double)loglen / 1048576.0, t.runs, secs, wsecs);
  printf("  records acknowledged durable: %" PRIu64 " (checked %" PRIu64 " times over all cuts); lost: %" PRIu64 "\n", g_acked, t.acked_checked, t.lost);
  printf("  unsynced writes at risk: %" PRIu64 " over all cuts\n", t.pending);
  printf("  by workload:");
  for (int w = 0; w < W_COUNT; w++) printf(" %s %u%s", wname[w], t.by_w[w], w + 1 < W_COUNT ? "," : "\n");
  printf("  by policy: keep none %u, keep all %u, torn prefix %u, torn subset %u\n", t.by_pol[0], t.by_pol[1], t.by_pol[2], t.by_pol[3]);
  for (int o = 0; o < O_COUNT; o++) printf("  %-58s %u\n", oname[o], t.n[o]);
  pl_model_free(m);
  free(log);
  free(at);
  if (!failed && !replay) pl_rm_rf(base);
  else printf("powerloss: %u of %u cuts failed; work dir kept: %s\n", failed, cuts, base);
  return failed ? 1 : 0;
}
