/*
 * bench_daemon.c — `hems bench daemon`: the daemon end to end, as a separate process (this very
 * binary), the way it runs on a panel.
 *
 * - realtime_factor: the `default` scenario (24 branches) at --speed max for --minutes of panel
 *   time (default 10): panel seconds per wall second, whole process (start, state rebuild,
 *   simulation through the emulated SPI and the real drivers, ingest, fold, journal, exit).
 * - full-panel in real time for --seconds (default 30): peak RSS (VmHWM) and CPU share
 *   ((utime + stime) / wall of the child).
 * - bytes written per day for full-panel at defaults: the daemon's own write_bytes
 *   (/proc/self/io, printed at exit) over --minutes of panel time at --speed max, scaled to 24 h
 *   (record and group cadence follow panel time, so the speed does not change what is written).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "cli.h"



struct child_result { double wall_s, cpu_s; long hwm_kb; unsigned long long write_bytes; int status; };

/* Runs `hems <args>` (this binary); stderr captured to err_path; samples VmHWM while it runs. */
static int run_child(const char *const argv[], const char *err_path, struct child_result *out)
{
  memset(out, 0, sizeof *out);
  double t0 = cli_mono_s();
  pid_t pid = fork();
  if (pid < 0) return -errno;
  if (pid == 0) {
    int nul = open("/dev/null", O_WRONLY), ef = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (nul >= 0) dup2(nul, 1);
    if (ef >= 0) dup2(ef, 2);
    execv("/proc/self/exe", (char *const *)argv);
    _exit(127);
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  struct rusage ru;
  int st = 0;
  for (;;) {
    pid_t w = wait4(pid, &st, WNOHANG, &ru);
    if (w == pid) break;
    if (w < 0) return -errno;
    FILE *f = fopen(path, "r");
    if (f) {
      char line[128];
      long v;
      while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &v) == 1 && v > out->hwm_kb) out->hwm_kb = v;
      fclose(f);
    }
    usleep(100000);
  }
  out->wall_s = cli_mono_s() - t0;
  out->cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  if (ru.ru_maxrss > out->hwm_kb) out->hwm_kb = ru.ru_maxrss;
  out->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  FILE *f = fopen(err_path, "r");
  if (f) {
    char line[1024];
    while (fgets(line, sizeof line, f)) {
      char *p = strstr(line, "storage_write_bytes ");
      if (p) out->write_bytes = strtoull(p + 20, NULL, 10);
    }
    fclose(f);
  }
  return 0;
}

int cli_bench_daemon(int argc, char **argv)
{
  enum { O_DIR = 1000, O_FORMAT, O_SECONDS, O_MINUTES };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "format", required_argument, NULL, O_FORMAT },
                                      { "seconds", required_argument, NULL, O_SECONDS },
                                      { "minutes", required_argument, NULL, O_MINUTES }, { 0 } };
  const char *dir_opt = NULL;
  bool json = false;
  uint64_t seconds = 30, minutes = 10;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) dir_opt = optarg;
    else if (opt == O_FORMAT) json = !strcmp(optarg, "json");
    else if (opt == O_SECONDS) { if (cli_parse_u64(optarg, &seconds) || !seconds || seconds > 3600) { cli_err("bench: --seconds takes 1..3600"); return CLI_USAGE; } }
    else if (opt == O_MINUTES) { if (cli_parse_u64(optarg, &minutes) || !minutes || minutes > 1440) { cli_err("bench: --minutes takes 1..1440"); return CLI_USAGE; } }
    else return cli_usage(cli_find("bench"), false);
  }
  char tmpl[4200];
  if (dir_opt) {
    if (mkdir(dir_opt, 0750) != 0 && errno != EEXIST) { cli_err("bench: %s: %s", dir_opt, strerror(errno)); return CLI_ENV; }
    snprintf(tmpl, sizeof tmpl, "%s/bench-daemon-XXXXXX", dir_opt);
  } else {
    const char *t = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/hems-bench-daemon-XXXXXX", t && *t ? t : "/tmp");
  }
  const char *base = mkdtemp(tmpl);
  if (!base) { cli_err("bench: %s: %s", tmpl, strerror(errno)); return CLI_ENV; }
  char da[4300], db[4300], dc[4300], err[4300], forv[32], secv[32];
  snprintf(da, sizeof da, "%s/default", base);
  snprintf(db, sizeof db, "%s/full-rt", base);
  snprintf(dc, sizeof dc, "%s/full-max", base);
  snprintf(err, sizeof err, "%s/stderr", base);
  snprintf(forv, sizeof forv, "%llum", (unsigned long long)minutes);
  snprintf(secv, sizeof secv, "%llus", (unsigned long long)seconds);
  struct child_result init, e2e, rt, mx;
  const char *const i1[] = { "hems", "init", "--dir", da, NULL };
  const char *const i2[] = { "hems", "init", "--dir", db, NULL };
  const char *const i3[] = { "hems", "init", "--dir", dc, NULL };
  const char *const r1[] = { "hems", "run", "--dir", da, "--sim", "default", "--for", forv, "--speed", "max", NULL };
  const char *const r2[] = { "hems", "run", "--dir", db, "--sim", "full-panel", "--for", secv, NULL };
  const char *const r3[] = { "hems", "run", "--dir", dc, "--sim", "full-panel", "--for", forv, "--speed", "max", NULL };
  int rc = 0;
  if (isatty(STDERR_FILENO)) fprintf(stderr, "bench daemon: default at --speed max for %s of panel time…\n", forv);
  if ((rc = run_child(i1, err, &init)) || init.status || (rc = run_child(r1, err, &e2e)) || e2e.status) goto fail;
  if (isatty(STDERR_FILENO)) fprintf(stderr, "bench daemon: full-panel in real time for %s…\n", secv);
  if ((rc = run_child(i2, err, &init)) || init.status || (rc = run_child(r2, err, &rt)) || rt.status) goto fail;
  if (isatty(STDERR_FILENO)) fprintf(stderr, "bench daemon: full-panel at --speed max for %s (bytes written)…\n", forv);
  if ((rc = run_child(i3, err, &init)) || init.status || (rc = run_child(r3, err, &mx)) || mx.status) goto fail;
  double panel_s = (double)minutes * 60.0;
  json_t *out = json_object();
  json_object_set_new(out, "bench", json_string("daemon"));
  json_object_set_new(out, "default_panel_s", json_real(panel_s));
  json_object_set_new(out, "default_wall_s", json_real(e2e.wall_s));
  json_object_set_new(out, "realtime_factor", json_real(panel_s / e2e.wall_s));
  json_object_set_new(out, "target_realtime_factor", json_real(30));
  json_object_set_new(out, "full_panel_realtime_s", json_real(rt.wall_s));
  json_object_set_new(out, "full_panel_rss_mb", json_real(rt.hwm_kb / 1024.0));
  json_object_set_new(out, "target_rss_mb", json_real(64));
  json_object_set_new(out, "full_panel_cpu_share", json_real(rt.cpu_s / rt.wall_s));
  json_object_set_new(out, "full_panel_bytes_written", json_integer((json_int_t)mx.write_bytes));
  json_object_set_new(out, "full_panel_bytes_per_day", json_real((double)mx.write_bytes / panel_s * 86400.0));
  json_object_set_new(out, "target_bytes_per_day", json_real(2.5e9));
  if (json) {
    char *t = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    puts(t);
    free(t);
  } else {
    const char *k;
    json_t *v;
    json_object_foreach(out, k, v) {
      if (json_is_real(v)) printf("%-28s %.4g\n", k, json_real_value(v));
      else if (json_is_integer(v)) printf("%-28s %lld\n", k, (long long)json_integer_value(v));
      else printf("%-28s %s\n", k, json_string_value(v));
    }
  }
  json_decref(out);
  cli_rm_rf(base);
  return CLI_OK;
fail:
  cli_err("bench daemon: a child run failed (%s); its stderr is in %s", rc ? strerror(-rc) : "non-zero exit", err);
  return CLI_ENV;
}
