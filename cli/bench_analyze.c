/*
 * bench_analyze.c — `hems bench analyze`: the whole `hems analyze` process on a generated
 * COMTRADE file (ingest_ct_synth: 6 channels, 8 kSPS, BINARY, 30 s by default) beside the
 * reference implementation pqopen-lib (IEC 61000-4-30 in Python, numpy + scipy) on the same
 * file in the same run.
 *
 * hems side: this binary re-executed as `hems analyze FILE.cfg` (output to /dev/null), wall
 * time from fork to reap, CPU (user + sys) and max RSS from wait4's rusage — start-up, .cfg
 * parsing, the .dat decode and the JSON output all count. Reference side: `python3 -c SCRIPT`
 * with PYTHONPATH at a directory holding the pqopen and daqopen packages (the sources of
 * DaqOpen/pqopen-lib and DaqOpen/daqopen-lib); the script reads the .dat with numpy (not
 * timed), then times only the processing: three phases (U and I), harmonics to the 50th,
 * flicker at 230 V, 10-minute time sync, fed in 1-second blocks as a live instrument would;
 * it prints wall (perf_counter) and CPU (process_time) seconds and the last U1 RMS, which
 * must read 230 V ± 0.5 % or the reference run counts as failed. Runs alternate hems /
 * reference so both see the same machine load; the figures are medians.
 *
 * The reference is optional: without one (no --reference, no HEMS_PQOPEN_PATH, no numpy)
 * the bench says so on stderr and in its output ("reference": "skipped: …"), never silently.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "cli.h"
#include "ingest.h"

static const char ref_script[] =
  "import sys, time\n"
  "from datetime import datetime, timezone\n"
  "import numpy as np\n"
  "from daqopen.channelbuffer import AcqBuffer\n"
  "from pqopen.powersystem import PowerSystem\n"
  "base = sys.argv[1]\n"
  "cfg = open(base + '.cfg', newline='').read().split('\\r\\n')\n"
  "na = int(cfg[1].split(',')[1].rstrip('A'))\n"
  "gain = [float(cfg[2 + k].split(',')[5]) for k in range(na)]\n"
  "off = [float(cfg[2 + k].split(',')[6]) for k in range(na)]\n"
  "lf = float(cfg[2 + na])\n"
  "fs, ns = (float(x) for x in cfg[4 + na].split(','))\n"
  "ns = int(ns)\n"
  "d, hms = cfg[5 + na].split(',')\n"
  "t0_us = datetime.strptime(d + ' ' + hms, '%d/%m/%Y %H:%M:%S.%f').replace(tzinfo=timezone.utc).timestamp() * 1e6\n"
  "rec = np.dtype([('n', '<u4'), ('t', '<u4'), ('a', '<i2', (na,))])\n"
  "raw = np.fromfile(base + '.dat', dtype=rec, count=ns)\n"
  "block = int(fs)\n"
  "w0 = time.perf_counter(); c0 = time.process_time()\n"
  "ch = [AcqBuffer(size=ns + 1, scale_gain=gain[k], scale_offset=off[k]) for k in range(na)]\n"
  "tch = AcqBuffer(size=ns + 1, dtype=np.float64)\n"
  "ps = PowerSystem(zcd_channel=ch[0], input_samplerate=fs, nominal_frequency=lf, nper=10 if lf == 50 else 12)\n"
  "for p in range(3):\n"
  "    ps.add_phase(u_channel=ch[p], i_channel=ch[p + 3])\n"
  "ps.enable_nper_abs_time_sync(tch)\n"
  "ps.enable_harmonic_calculation(50)\n"
  "ps.enable_fluctuation_calculation(230)\n"
  "for s in range(0, ns, block):\n"
  "    blk = raw['a'][s:s + block]\n"
  "    for k in range(na):\n"
  "        ch[k].put_data(blk[:, k])\n"
  "    tch.put_data(t0_us + raw['t'][s:s + block].astype(np.float64))\n"
  "    ps.process()\n"
  "w1 = time.perf_counter(); c1 = time.process_time()\n"
  "print('processing', w1 - w0, c1 - c0, ps.output_channels['U1_rms'].last_sample_value)\n";

struct run { double wall_s, cpu_s; long rss_kb; };

static int cmp_d(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Runs argv with stdout to out_fd (or /dev/null when -1), stderr to /dev/null and env extra
 * (NAME=VALUE or NULL) added; 0 when it exits 0. */
static int spawn(char *const argv[], const char *env_extra, int out_fd, struct run *r)
{
  double t0 = cli_mono_s();
  pid_t pid = fork();
  if (pid < 0) return -errno;
  if (pid == 0) {
    int dn = open("/dev/null", O_WRONLY);
    dup2(out_fd >= 0 ? out_fd : dn, STDOUT_FILENO);
    dup2(dn, STDERR_FILENO);
    if (env_extra) putenv((char *)env_extra);
    execv(argv[0], argv);
    _exit(127);
  }
  if (out_fd >= 0) close(out_fd);
  int st;
  struct rusage ru;
  if (wait4(pid, &st, 0, &ru) < 0) return -errno;
  r->wall_s = cli_mono_s() - t0;
  r->cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
  r->rss_kb = ru.ru_maxrss;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -ECHILD;
}

/* One reference run: its own processing wall and CPU seconds (not the interpreter's start). */
static int ref_run(const char *python, const char *env, const char *base, struct run *r, double *u1, char *why, size_t cap)
{
  int fd[2];
  if (pipe(fd)) return -errno;
  char *argv[] = { (char *)python, "-c", (char *)ref_script, (char *)base, NULL };
  struct run whole;
  int rc = spawn(argv, env, fd[1], &whole);
  char buf[512] = "";
  ssize_t n = read(fd[0], buf, sizeof buf - 1);
  close(fd[0]);
  if (n > 0) buf[n] = 0;
  double w, c;
  if (rc || sscanf(buf, "processing %lf %lf %lf", &w, &c, u1) != 3) {
    snprintf(why, cap, "%.200s with PYTHONPATH=%.300s failed (numpy, scipy and the pqopen/daqopen packages are needed)", python, env + 11);
    return -1;
  }
  if (!(*u1 > 230 * 0.995 && *u1 < 230 * 1.005)) {
    snprintf(why, cap, "it read U1 %.3f V rms where the file holds 230 V: not a valid run", *u1);
    return -1;
  }
  r->wall_s = w;
  r->cpu_s = c;
  r->rss_kb = whole.rss_kb;
  return 0;
}

int cli_bench_analyze(int argc, char **argv)
{
  enum { O_SECONDS = 1000, O_RUNS, O_REF, O_FORMAT, O_DIR };
  static const struct option lo[] = { { "seconds", required_argument, NULL, O_SECONDS }, { "runs", required_argument, NULL, O_RUNS },
                                      { "reference", required_argument, NULL, O_REF }, { "format", required_argument, NULL, O_FORMAT },
                                      { "dir", required_argument, NULL, O_DIR }, { 0 } };
  uint64_t seconds = 30, runs = 3;
  const char *ref = getenv("HEMS_PQOPEN_PATH"), *dir = NULL;
  bool as_json = false;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (opt) {
    case O_SECONDS:
      if (cli_parse_u64(optarg, &seconds) || seconds < 1 || seconds > 86400) { cli_err("bench analyze: --seconds takes 1..86400"); return CLI_USAGE; }
      break;
    case O_RUNS:
      if (cli_parse_u64(optarg, &runs) || runs < 1 || runs > 50) { cli_err("bench analyze: --runs takes 1..50"); return CLI_USAGE; }
      break;
    case O_REF: ref = optarg; break;
    case O_DIR: dir = optarg; break;
    case O_FORMAT:
      if (!strcmp(optarg, "json")) as_json = true;
      else if (strcmp(optarg, "text")) { cli_err("bench analyze: --format takes text or json"); return CLI_USAGE; }
      break;
    default: return cli_usage(cli_find("bench"), false);
    }
  }
  char tbuf[4096], base[4200], self[4096], msg[512];
  bool tmp = !dir;
  if (tmp) {
    const char *t = getenv("TMPDIR");
    snprintf(tbuf, sizeof tbuf, "%s/hems-bench-XXXXXX", t && *t ? t : "/tmp");
    dir = mkdtemp(tbuf);
    if (!dir) { cli_err("bench analyze: cannot create a working dir: %s", strerror(errno)); return CLI_ENV; }
  } else {
    mkdir(dir, 0700);
  }
  snprintf(base, sizeof base, "%s/bench", dir);
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  struct ingest_ct_synth_spec spec = { .seconds = (double)seconds };
  if (sl <= 0 || ingest_ct_synth(base, &spec, msg, sizeof msg)) {
    cli_err("bench analyze: %s", sl <= 0 ? "cannot find this executable (/proc/self/exe)" : msg);
    if (tmp) cli_rm_rf(dir);
    return CLI_ENV;
  }
  self[sl] = 0;
  char cfg[4300];
  snprintf(cfg, sizeof cfg, "%s.cfg", base);
  char *hargv[] = { self, "analyze", cfg, NULL };

  const char *python = getenv("HEMS_PYTHON") ? getenv("HEMS_PYTHON") : "/usr/bin/python3";
  char why[600] = "", env[4200] = "";
  bool have_ref = ref && *ref;
  if (!have_ref) snprintf(why, sizeof why, "no reference: give --reference DIR or HEMS_PQOPEN_PATH (a directory holding the pqopen and daqopen packages)");
  else if (access(python, X_OK)) { snprintf(why, sizeof why, "%s not found", python); have_ref = false; }
  else snprintf(env, sizeof env, "PYTHONPATH=%s", ref);

  double hw[50], hc[50], rw[50], rc_[50], u1 = 0;
  long rss = 0, ref_rss = 0;
  int nh = 0, nr = 0;
  for (uint64_t k = 0; k < runs; k++) {
    struct run r;
    if (spawn(hargv, NULL, -1, &r)) { cli_err("bench analyze: hems analyze %s failed", cfg); if (tmp) cli_rm_rf(dir); return CLI_ENV; }
    hw[nh] = r.wall_s; hc[nh++] = r.cpu_s;
    if (r.rss_kb > rss) rss = r.rss_kb;
    if (isatty(STDERR_FILENO)) fprintf(stderr, "\rbench analyze: run %llu/%llu", (unsigned long long)k + 1, (unsigned long long)runs);
    if (!have_ref) continue;
    if (ref_run(python, env, base, &r, &u1, why, sizeof why)) { have_ref = false; continue; }
    rw[nr] = r.wall_s; rc_[nr++] = r.cpu_s;
    if (r.rss_kb > ref_rss) ref_rss = r.rss_kb;
  }
  if (isatty(STDERR_FILENO)) fputc('\n', stderr);
  if (!have_ref) fprintf(stderr, "hems: bench analyze: reference side skipped: %s\n", why);

  json_t *out = json_object();
  json_object_set_new(out, "bench", json_string("analyze"));
  json_object_set_new(out, "file", json_string("6 channels (3 V + 3 I), 8000 Hz, BINARY"));
  json_object_set_new(out, "seconds_recorded", json_integer((json_int_t)seconds));
  json_object_set_new(out, "runs", json_integer((json_int_t)runs));
  double hwm = median(hw, nh), hcm = median(hc, nh);
  json_object_set_new(out, "hems_process_wall_s", json_real(hwm));
  json_object_set_new(out, "hems_process_cpu_s", json_real(hcm));
  json_object_set_new(out, "hems_max_rss_kb", json_integer(rss));
  if (have_ref && nr == (int)runs) {
    double rwm = median(rw, nr), rcm = median(rc_, nr);
    json_object_set_new(out, "reference", json_string("pqopen-lib"));
    json_object_set_new(out, "reference_processing_wall_s", json_real(rwm));
    json_object_set_new(out, "reference_processing_cpu_s", json_real(rcm));
    json_object_set_new(out, "reference_u1_rms_v", json_real(u1));
    json_object_set_new(out, "reference_max_rss_kb", json_integer(ref_rss));
    json_object_set_new(out, "speedup_wall", json_real(rwm / hwm));
    json_object_set_new(out, "speedup_cpu", json_real(rcm / hcm));
    json_object_set_new(out, "target_speedup", json_real(20));
  } else {
    char s[700];
    snprintf(s, sizeof s, "skipped: %s", why);
    json_object_set_new(out, "reference", json_string(s));
  }
  cli_bench_emit(out, as_json);
  json_decref(out);
  if (tmp) cli_rm_rf(dir);
  return CLI_OK;
}
