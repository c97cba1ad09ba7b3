/*
 * plshim.c — LD_PRELOAD shim for the power-loss simulator (tests/fault/powerloss.c).
 *
 * The process under test runs normally on a real data dir; this shim only *records* what reached
 * the kernel for files under $HEMS_PL_ROOT (a canonical absolute path), appending one record per
 * operation to $HEMS_PL_LOG (format in pl_log.h). Nothing is held back or changed: the log is
 * the whole story of the disk, and powerloss rebuilds post-cut images from it afterwards.
 *
 * Recorded (file identity is the inode, so two fds on data.mdb are one file):
 *  - data: pwrite/pwrite64/write/writev/pwritev/pwritev64 (the bytes and the file offset),
 *    ftruncate, and O_TRUNC opens; a write on an O_DSYNC/O_SYNC fd (LMDB's meta-page fd) is
 *    followed by a SYNC record for that file;
 *  - sync points: fsync/fdatasync on a file (SYNC), on a directory (DIRSYNC); sync/syncfs
 *    (SYNCALL);
 *  - namespace: a create by open/openat/creat/fopen (the name did not exist before), rename,
 *    unlink, mkdir;
 *  - stdio: a FILE opened for writing under the root (bundles written with fwrite) is not seen
 *    write by write (glibc writes internally); at fsync of its fd and at fclose the shim reads
 *    the file back and logs its whole content as one write (plus its size), so stdio data is
 *    unsynced until its fsync like anything else;
 *  - UNSUP: a shared writable mmap of a tracked file (MDB_WRITEMAP) would bypass the log; the
 *    shim logs it and powerloss refuses the log.
 * Not tracked: DIR/lock and journal/lock.mdb, and the same of history/ and history.new/ (lock state, rebuilt on open; lock.mdb is a shared
 * mmap). Each record is appended under one process-wide mutex held across the real call, so the
 * order of records is the order in which the operations took effect; records from several
 * processes interleave by O_APPEND. dup/dup2 of a tracked fd is not followed (nothing under test
 * uses it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "pl_log.h"

#define FD_MAX 4096

struct fdinfo {
  unsigned char tracked, dsync, stdio, dir;
  uint64_t ino;
};

static struct fdinfo g_fd[FD_MAX];
static pthread_mutex_t g_mu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static int g_log = -2; /* -2: not yet opened; -1: disabled */
static char g_root[PATH_MAX];
static size_t g_rootlen;

#define REAL(name, ret, ...)                                          \
  static ret (*real_##name)(__VA_ARGS__);                             \
  static void load_##name(void)                                       \
  {                                                                   \
    if (!real_##name) real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name); \
  }

REAL(open, int, const char *, int, ...)
REAL(openat, int, int, const char *, int, ...)
REAL(openat64, int, int, const char *, int, ...)
REAL(fopen, FILE *, const char *, const char *)
REAL(fopen64, FILE *, const char *, const char *)
REAL(fclose, int, FILE *)
REAL(close, int, int)
REAL(write, ssize_t, int, const void *, size_t)
REAL(pwrite, ssize_t, int, const void *, size_t, off_t)
REAL(writev, ssize_t, int, const struct iovec *, int)
REAL(pwritev, ssize_t, int, const struct iovec *, int, off_t)
REAL(ftruncate, int, int, off_t)
REAL(fsync, int, int)
REAL(fdatasync, int, int)
REAL(renameat, int, int, const char *, int, const char *)
REAL(unlinkat, int, int, const char *, int)
REAL(mkdir, int, const char *, mode_t)
REAL(mmap, void *, void *, size_t, int, int, int, off_t)
REAL(mmap64, void *, void *, size_t, int, int, int, off_t)
REAL(sync, void, void)
REAL(syncfs, int, int)

static int log_fd(void)
{
  if (g_log != -2) return g_log;
  const char *p = getenv("HEMS_PL_LOG"), *r = getenv("HEMS_PL_ROOT");
  g_log = -1;
  if (!p || !r || !*r) return -1;
  load_open();
  snprintf(g_root, sizeof g_root, "%s", r);
  g_rootlen = strlen(g_root);
  g_log = real_open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  return g_log;
}

/* One record, one write(2): header, then the path bytes, then the data, then zero padding. */
static void emit(uint32_t op, uint64_t ino, uint64_t off, const char *path, const struct iovec *iov, int iovcnt)
{
  int lf = log_fd();
  if (lf < 0) return;
  uint64_t len = 0;
  for (int i = 0; i < iovcnt; i++) len += iov[i].iov_len;
  size_t plen = path ? strlen(path) + 1 : 0;
  struct pl_rec h = { PL_MAGIC, op, (uint32_t)plen, 0, ino, off, len };
  size_t total = PL_ALIGN(sizeof h + plen + len);
  char *buf = calloc(1, total);
  if (!buf) abort();
  memcpy(buf, &h, sizeof h);
  if (plen) memcpy(buf + sizeof h, path, plen);
  char *q = buf + sizeof h + plen;
  for (int i = 0; i < iovcnt; i++) { memcpy(q, iov[i].iov_base, iov[i].iov_len); q += iov[i].iov_len; }
  load_write();
  size_t done = 0;
  while (done < total) {
    ssize_t n = real_write(lf, buf + done, total - done);
    if (n <= 0) abort(); /* a lost record would make every later cut a lie */
    done += (size_t)n;
  }
  free(buf);
}

/* Path relative to the root when `abs` is under it, else NULL. */
static const char *under_root(const char *abs)
{
  if (log_fd() < 0) return NULL;
  if (strncmp(abs, g_root, g_rootlen) != 0 || (abs[g_rootlen] != '/' && abs[g_rootlen] != 0)) return NULL;
  return abs[g_rootlen] ? abs + g_rootlen + 1 : "";
}

static int excluded(const char *rel)
{
  return !strcmp(rel, "lock") || !strcmp(rel, "journal/lock.mdb") || !strcmp(rel, "history/lock") ||
         !strcmp(rel, "history/journal/lock.mdb") || !strcmp(rel, "history.new/lock") ||
         !strcmp(rel, "history.new/journal/lock.mdb");
}

/* Canonical absolute form of a path that may not exist yet: realpath of its directory + name. */
static int resolve_at(int dirfd, const char *path, char out[PATH_MAX])
{
  char dir[2 * PATH_MAX + 2], base[PATH_MAX], real[PATH_MAX];
  if (path[0] == '/') snprintf(dir, sizeof dir, "%s", path);
  else if (dirfd == AT_FDCWD) {
    if (!getcwd(real, sizeof real)) return -1;
    snprintf(dir, sizeof dir, "%s/%s", real, path);
  } else {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
    ssize_t n = readlink(link, real, sizeof real - 1);
    if (n < 0) return -1;
    real[n] = 0;
    snprintf(dir, sizeof dir, "%s/%s", real, path);
  }
  char *slash = strrchr(dir, '/');
  snprintf(base, sizeof base, "%s", slash + 1);
  if (slash == dir) snprintf(dir, sizeof dir, "/");
  else *slash = 0;
  if (!realpath(dir, real)) return -1;
  if (snprintf(out, PATH_MAX, "%s/%s", strcmp(real, "/") ? real : "", base) >= PATH_MAX) return -1;
  return 0;
}

static int exists_at(int dirfd, const char *path)
{
  struct stat st;
  return fstatat(dirfd, path, &st, 0) == 0;
}

/* After a successful open of `path` (relative to dirfd) as fd: start tracking it. */
static void opened(int dirfd, const char *path, int fd, int flags, int existed, int stdio)
{
  char abs[PATH_MAX];
  if (fd < 0 || fd >= FD_MAX || resolve_at(dirfd, path, abs)) return;
  const char *rel = under_root(abs);
  if (!rel || excluded(rel)) return;
  struct stat st;
  if (fstat(fd, &st) != 0) return;
  struct fdinfo *f = &g_fd[fd];
  memset(f, 0, sizeof *f);
  f->tracked = 1;
  f->ino = (uint64_t)st.st_ino;
  f->dir = S_ISDIR(st.st_mode);
  f->dsync = (flags & (O_DSYNC | O_SYNC)) != 0;
  f->stdio = (unsigned char)stdio;
  if (f->dir) return;
  if (!existed) emit(PL_CREATE, f->ino, 0, rel, NULL, 0);
  else if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) emit(PL_TRUNC, f->ino, 0, NULL, NULL, 0);
}

static int do_openat(int dirfd, const char *path, int flags, mode_t mode, int (*fn)(int, const char *, int, ...))
{
  pthread_mutex_lock(&g_mu);
  int existed = exists_at(dirfd, path);
  int fd = fn(dirfd, path, flags, mode);
  int e = errno;
  if (fd >= 0) opened(dirfd, path, fd, flags, existed, 0);
  pthread_mutex_unlock(&g_mu);
  errno = e;
  return fd;
}

#define MODE_ARG(flags) \
  mode_t mode = 0;      \
  if ((flags) & (O_CREAT | O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = (mode_t)va_arg(ap, int); va_end(ap); }

int openat(int dirfd, const char *path, int flags, ...)
{
  MODE_ARG(flags);
  load_openat();
  return do_openat(dirfd, path, flags, mode, real_openat);
}
int openat64(int dirfd, const char *path, int flags, ...)
{
  MODE_ARG(flags);
  load_openat64();
  return do_openat(dirfd, path, flags, mode, real_openat64 ? real_openat64 : real_openat);
}
int open(const char *path, int flags, ...)
{
  MODE_ARG(flags);
  load_openat();
  return do_openat(AT_FDCWD, path, flags, mode, real_openat);
}
int open64(const char *path, int flags, ...)
{
  MODE_ARG(flags);
  load_openat();
  return do_openat(AT_FDCWD, path, flags, mode, real_openat);
}
int __open_2(const char *path, int flags)
{
  load_openat();
  return do_openat(AT_FDCWD, path, flags, 0, real_openat);
}
int __openat_2(int dirfd, const char *path, int flags)
{
  load_openat();
  return do_openat(dirfd, path, flags, 0, real_openat);
}
int creat(const char *path, mode_t mode)
{
  load_openat();
  return do_openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode, real_openat);
}

static FILE *do_fopen(const char *path, const char *m, FILE *(*fn)(const char *, const char *))
{
  pthread_mutex_lock(&g_mu);
  int existed = exists_at(AT_FDCWD, path);
  FILE *f = fn(path, m);
  int e = errno;
  if (f && strpbrk(m, "wa+")) {
    int flags = O_RDWR | (m[0] == 'w' ? O_TRUNC : 0);
    opened(AT_FDCWD, path, fileno(f), flags, existed, 1);
  }
  pthread_mutex_unlock(&g_mu);
  errno = e;
  return f;
}
FILE *fopen(const char *path, const char *m) { load_fopen(); return do_fopen(path, m, real_fopen); }
FILE *fopen64(const char *path, const char *m)
{
  load_fopen64();
  load_fopen();
  return do_fopen(path, m, real_fopen64 ? real_fopen64 : real_fopen);
}

/* A stdio file's content as the kernel has it now, logged as its size and one write from
 * offset 0 (the same bytes again at fclose after fsync change nothing, whatever a cut keeps). */
static void stdio_snapshot(int fd)
{
  struct stat st;
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  load_openat();
  load_close();
  int rd = real_openat(AT_FDCWD, link, O_RDONLY | O_CLOEXEC); /* fopen "wb" gives a write-only fd */
  if (rd < 0 || fstat(rd, &st) != 0) abort();
  size_t n = (size_t)st.st_size;
  char *b = malloc(n ? n : 1);
  if (!b) abort();
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(rd, b + got, n - got, (off_t)got);
    if (r <= 0) abort();
    got += (size_t)r;
  }
  real_close(rd);
  struct iovec v = { b, got };
  emit(PL_TRUNC, g_fd[fd].ino, got, NULL, NULL, 0);
  emit(PL_WRITE, g_fd[fd].ino, 0, NULL, &v, 1);
  free(b);
}

static int tracked(int fd) { return fd >= 0 && fd < FD_MAX && g_fd[fd].tracked; }

int fclose(FILE *f)
{
  load_fclose();
  pthread_mutex_lock(&g_mu);
  int fd = fileno(f);
  if (tracked(fd) && g_fd[fd].stdio) {
    fflush(f);
    stdio_snapshot(fd);
  }
  if (fd >= 0 && fd < FD_MAX) g_fd[fd].tracked = 0;
  int rc = real_fclose(f);
  int e = errno;
  pthread_mutex_unlock(&g_mu);
  errno = e;
  return rc;
}

int close(int fd)
{
  load_close();
  pthread_mutex_lock(&g_mu);
  if (fd >= 0 && fd < FD_MAX) g_fd[fd].tracked = 0;
  int rc = real_close(fd);
  int e = errno;
  pthread_mutex_unlock(&g_mu);
  errno = e;
  return rc;
}

/* The data of a successful write of n bytes at off (from iov), then SYNC on an O_DSYNC fd. */
static void wrote(int fd, const struct iovec *iov, int iovcnt, off_t off, ssize_t n)
{
  if (n <= 0 || !tracked(fd) || g_fd[fd].stdio) return;
  struct iovec v[64];
  int k = 0;
  size_t left = (size_t)n;
  for (int i = 0; i < iovcnt && left && k < 64; i++) {
    size_t l = iov[i].iov_len < left ? iov[i].iov_len : left;
    v[k].iov_base = iov[i].iov_base;
    v[k++].iov_len = l;
    left -= l;
  }
  if (left) abort(); /* more than 64 iovecs: not expected from LMDB (its limit is 64) */
  emit(PL_WRITE, g_fd[fd].ino, (uint64_t)off, NULL, v, k);
  if (g_fd[fd].dsync) emit(PL_SYNC, g_fd[fd].ino, 0, NULL, NULL, 0);
}

ssize_t pwrite(int fd, const void *b, size_t n, off_t off)
{
  load_pwrite();
  pthread_mutex_lock(&g_mu);
  ssize_t r = real_pwrite(fd, b, n, off);
  int e = errno;
  struct iovec v = { (void *)b, n };
  wrote(fd, &v, 1, off, r);
  pthread_mutex_unlock(&g_mu);
  errno = e;
  return r;
}
ssize_t pwrite64(int fd, const void *b, size_t n, off_t off) { return pwrite(fd, b, n, off); }

ssize_t write(int fd, const void *b, size_t n)
{
  load_write();
  if (!tracked(fd)) return real_write(fd, b, n);
  pthread_mutex_lock(&g_mu);
  ssize_t r = real_write(fd, b, n);
  int e = errno;
  struct iovec v = { (void *)b, n };
  if (r > 0) wrote(fd, &v, 1, lseek(fd, 0, SEEK_CUR) - r, r);
  pthread_mutex_unlock(&g_mu);
  errno = e;
  return r;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
  load_writev();
  if (!tracked(fd)) return real_writev(fd, iov, cnt);
  pthread_mutex_lock(&g_mu);
  ssize_t r = real_writev(fd, iov, cnt);
  int e = errno;
  if (r > 0) wrote(fd, iov, cnt, lseek(fd, 0, SEEK_CUR) - r, r);
  pthread_mutex_unlock(&g_mu);
  errno = e;
  return r;
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
  load_pwritev();
  pthread_mutex_lock(&g_mu);
  ssize_t r = real_pwritev(fd, iov, cnt, off);
  int e = errno;
  wrote(fd, iov, cnt, off, r);
  pthread_mutex_unlock(&g_mu);
  errno = e;
  return r;
}
ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off) { return pwritev(fd, iov, cnt, off); }

int ftruncate(int fd, off_t len)
{
  load_ftruncate();
  pthread_mutex_lock(&g_mu);
  int rc = real_ftruncate(fd, len);
  int e = errno;
  if (rc == 0 && tracked(fd)) emit(PL_TRUNC, g_fd[fd].ino, (uint64_t)len, NULL, NULL, 0);
  pthread_mutex_unlock(&g_mu);
  errno = e;
  return rc;
}
int ftruncate64(int fd, off_t len) { return ftruncate(fd, len); }

static int do_sync(int fd, int (*fn)(int))
{
  pthread_mutex_lock(&g_mu);
  if (tracked(fd)) {
    if (g_fd[fd].dir) emit(PL_DIRSYNC, 0, 0, NULL, NULL, 0);
    else {
      if (g_fd[fd].stdio) stdio_snapshot(fd);
      emit(PL_SYNC, g_fd[fd].ino, 0, NULL, NULL, 0);
    }
  }
  int rc = fn(fd);
  int e = errno;
  pthread_mutex_unlock(&g_mu);
  errno = e;
  return rc;
}
int fsync(int fd) { load_fsync(); return do_sync(fd, real_fsync); }
int fdatasync(int fd) { load_fdatasync(); return do_sync(fd, real_fdatasync); }

void sync(void)
{
  load_sync();
  pthread_mutex_lock(&g_mu);
  emit(PL_SYNCALL, 0, 0, NULL, NULL, 0);
  real_sync();
  pthread_mutex_unlock(&g_mu);
}
int syncfs(int fd)
{
  load_syncfs();
  pthread_mutex_lock(&g_mu);
  emit(PL_SYNCALL, 0, 0, NULL, NULL, 0);
  int rc = real_syncfs(fd);
  int e = errno;
  pthread_mutex_unlock(&g_mu);
  errno = e;
  return rc;
}

/* Namespace operations: logged with "old\0new" paths relative to the root. */
static int do_rename(int ofd, const char *o, int nfd, const char *n)
{
  load_renameat();
  pthread_mutex_lock(&g_mu);
  char ao[PATH_MAX], an[PATH_MAX];
  int ok = resolve_at(ofd, o, ao) == 0 && resolve_at(nfd, n, an) == 0;
  int rc = real_renameat(ofd, o, nfd, n);
  int e = errno;
  const char *ro = ok ? under_root(ao) : NULL, *rn = ok ? under_root(an) : NULL;
  if (rc == 0 && (ro || rn)) {
    if (!ro || !rn) emit(PL_UNSUP, 0, 0, "rename across the root", NULL, 0);
    else {
      char both[2 * PATH_MAX];
      size_t lo = strlen(ro);
      memcpy(both, ro, lo + 1);
      snprintf(both + lo + 1, sizeof both - lo - 1, "%s", rn);
      struct iovec v = { both + lo + 1, strlen(rn) + 1 };
      emit(PL_RENAME, 0, 0, both, &v, 1);
    }
  }
  pthread_mutex_unlock(&g_mu);
  errno = e;
  return rc;
}
int rename(const char *o, const char *n) { return do_rename(AT_FDCWD, o, AT_FDCWD, n); }
int renameat(int ofd, const char *o, int nfd, const char *n) { return do_rename(ofd, o, nfd, n); }

static void name_op(uint32_t op, int dirfd, const char *path)
{
  char abs[PATH_MAX];
  const char *rel = resolve_at(dirfd, path, abs) == 0 ? under_root(abs) : NULL;
  if (rel && !excluded(rel)) emit(op, 0, 0, rel, NULL, 0);
}

int unlinkat(int dirfd, const char *path, int flags)
{
  load_unlinkat();
  pthread_mutex_lock(&g_mu);
  char abs[PATH_MAX];
  int ok = resolve_at(dirfd, path, abs) == 0;
  int rc = real_unlinkat(dirfd, path, flags);
  int e = errno;
  const char *rel = ok ? under_root(abs) : NULL;
  if (rc == 0 && rel && !excluded(rel)) emit(PL_UNLINK, 0, 0, rel, NULL, 0);
  pthread_mutex_unlock(&g_mu);
  errno = e;
  return rc;
}
int unlink(const char *path) { return unlinkat(AT_FDCWD, path, 0); }

int mkdir(const char *path, mode_t mode)
{
  load_mkdir();
  pthread_mutex_lock(&g_mu);
  int rc = real_mkdir(path, mode);
  int e = errno;
  if (rc == 0) name_op(PL_MKDIR, AT_FDCWD, path);
  pthread_mutex_unlock(&g_mu);
  errno = e;
  return rc;
}

static void mapped(int prot, int flags, int fd)
{
  if ((prot & PROT_WRITE) && (flags & MAP_SHARED) && tracked(fd)) emit(PL_UNSUP, 0, 0, "shared writable mmap", NULL, 0);
}
void *mmap(void *a, size_t n, int prot, int flags, int fd, off_t off)
{
  load_mmap();
  mapped(prot, flags, fd);
  return real_mmap(a, n, prot, flags, fd, off);
}
void *mmap64(void *a, size_t n, int prot, int flags, int fd, off_t off)
{
  load_mmap64();
  load_mmap();
  mapped(prot, flags, fd);
  return (real_mmap64 ? real_mmap64 : real_mmap)(a, n, prot, flags, fd, off);
}
