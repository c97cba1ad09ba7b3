/*
 * pl_proc.c — process and file helpers of the power-loss simulator (see pl_proc.h). A child's
 * output goes to memfds (no pipe to drain while waiting); a timeout is an alarm() set before
 * exec, so a hung child ends by SIGALRM and is reported as a signal.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "pl_proc.h"

#ifndef PL_HEMS_BIN
#define PL_HEMS_BIN "hems"
#endif
#ifndef PL_SHIM_LIB
#define PL_SHIM_LIB "libhems_plshim.so"
#endif

static const char *g_hems = PL_HEMS_BIN, *g_shim = PL_SHIM_LIB, *g_logp = "", *g_root = "";

void pl_set_hems(const char *path) { g_hems = path; }
void pl_set_shim(const char *path) { g_shim = path; }
void pl_set_log(const char *log, const char *root) { g_logp = log; g_root = root; }
const char *pl_hems(void)
{
  const char *e = getenv("HEMS_BIN");
  return g_hems == (const char *)PL_HEMS_BIN && e && *e ? e : g_hems;
}

static pid_t start(const char *const *argv, bool shim, int out_fd, int err_fd, unsigned timeout_s)
{
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid != 0) return pid;
  int nul = open("/dev/null", O_RDWR);
  dup2(nul, 0);
  dup2(out_fd >= 0 ? out_fd : nul, 1);
  dup2(err_fd >= 0 ? err_fd : nul, 2);
  unsetenv("HEMS_DIR");
  if (shim) {
    setenv("LD_PRELOAD", g_shim, 1);
    setenv("HEMS_PL_LOG", g_logp, 1);
    setenv("HEMS_PL_ROOT", g_root, 1);
    /* a sanitizer build must accept a preload ahead of its runtime */
    const char *ao = getenv("ASAN_OPTIONS");
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", ao ? ao : "", ao && *ao ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
  } else {
    unsetenv("LD_PRELOAD");
  }
  if (timeout_s) alarm(timeout_s);
  execv(argv[0], (char *const *)argv);
  _exit(127);
}

pid_t pl_spawn(const char *const *argv, bool shim) { return start(argv, shim, -1, -1, 0); }

static void grab(int fd, char *buf, size_t cap)
{
  if (!buf || !cap) return;
  ssize_t n = pread(fd, buf, cap - 1, 0);
  buf[n > 0 ? n : 0] = 0;
}

int pl_run(const char *const *argv, bool shim, char *out, size_t out_cap, char *err, size_t err_cap, unsigned timeout_s)
{
  int o = memfd_create("pl-out", MFD_CLOEXEC), e = memfd_create("pl-err", MFD_CLOEXEC);
  if (o < 0 || e < 0) { perror("powerloss: memfd_create"); exit(3); }
  /* the child's dup2 clears CLOEXEC on the copies it keeps */
  pid_t pid = start(argv, shim, o, e, timeout_s);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  grab(o, out, out_cap);
  grab(e, err, err_cap);
  close(o);
  close(e);
  if (WIFSIGNALED(st)) return -WTERMSIG(st);
  return WEXITSTATUS(st);
}

static int parse_range(const char *out, uint64_t *a, uint64_t *b)
{
  const char *p = strstr(out, "seq ");
  if (!p || sscanf(p, "seq %" SCNu64 "..%" SCNu64, a, b) != 2) return -1;
  return 0;
}

int pl_verify_range_err(const char *dir, uint64_t *a, uint64_t *b, char *err, size_t err_cap)
{
  const char *argv[] = { pl_hems(), "verify", "--dir", dir, NULL };
  char out[1024], e[1024];
  int st = pl_run(argv, false, out, sizeof out, e, sizeof e, 120);
  if (err) {
    char *nl = strchr(e, '\n');
    if (nl) *nl = 0;
    snprintf(err, err_cap, "%s", e);
  }
  if (st == 0 && parse_range(out, a, b)) st = 1;
  return st;
}

int pl_verify_range(const char *dir, uint64_t *a, uint64_t *b) { return pl_verify_range_err(dir, a, b, NULL, 0); }

int pl_verify_bundle(const char *path, const char *pub, uint64_t *a, uint64_t *b)
{
  const char *argv[] = { pl_hems(), "verify", path, "--pubkey", pub, NULL };
  char out[1024];
  int st = pl_run(argv, false, out, sizeof out, NULL, 0, 120);
  if (st == 0 && parse_range(out, a, b)) st = 1;
  return st;
}

uint8_t *pl_slurp(const char *path, size_t *out_len)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) { if (fd >= 0) close(fd); return NULL; }
  size_t n = (size_t)st.st_size, got = 0;
  uint8_t *b = malloc(n ? n : 1);
  while (b && got < n) {
    ssize_t r = read(fd, b + got, n - got);
    if (r <= 0) { free(b); b = NULL; break; }
    got += (size_t)r;
  }
  close(fd);
  *out_len = n;
  return b;
}

static int cmp(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

size_t pl_list(const char *dir, const char *suffix, char ***out)
{
  *out = NULL;
  DIR *d = opendir(dir);
  if (!d) return 0;
  size_t n = 0, cap = 0, sl = strlen(suffix);
  for (struct dirent *e; (e = readdir(d));) {
    size_t l = strlen(e->d_name);
    if (l < sl || strcmp(e->d_name + l - sl, suffix)) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 8;
      char **q = realloc(*out, cap * sizeof *q);
      if (!q) abort();
      *out = q;
    }
    (*out)[n++] = strdup(e->d_name);
  }
  closedir(d);
  if (n) qsort(*out, n, sizeof **out, cmp);
  return n;
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *f)
{
  (void)st; (void)f;
  return type == FTW_DP ? rmdir(p) : unlink(p);
}

void pl_rm_rf(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }
