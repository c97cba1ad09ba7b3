/*
 * lock.c — one writer per data dir.
 *
 * The writer holds two flocks, both released by the kernel when the process dies:
 * - on DIR itself (open(DIR, O_RDONLY | O_DIRECTORY)): this is the rule that holds even when
 *   DIR/lock is removed or replaced, since nobody can swap the directory inode under an open
 *   descriptor;
 * - on DIR/lock, which holds the writer's pid for the "in use by pid N" message.
 * DIR/lock is opened with O_NOFOLLOW and must be a plain file with one link, so a symlink or a
 * hard link planted there cannot make a (root) writer overwrite another file; it is truncated
 * and rewritten only after both locks are held.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "store_internal.h"

/* The pid in DIR/lock, read without following links; 0 if unknown. */
static int holder_pid(int dir_fd)
{
  char buf[32] = { 0 };
  int fd = openat(dir_fd, "lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return 0;
  struct stat st;
  ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? pread(fd, buf, sizeof buf - 1, 0) : -1;
  close(fd);
  if (n <= 0) return 0;
  long v = strtol(buf, NULL, 10);
  return v > 0 && v < (1L << 30) ? (int)v : 0;
}

static int busy(int fd, int dir_fd, int *out_pid)
{
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
  if (errno != EWOULDBLOCK) return -errno;
  if (out_pid) *out_pid = holder_pid(dir_fd);
  return JOURNAL_EINUSE;
}

int journal__lock_take(const char *dir, struct journal_lock *out, int *out_pid)
{
  out->dir_fd = out->file_fd = -1;
  if (out_pid) *out_pid = 0;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -errno;
  int rc = busy(dfd, dfd, out_pid);
  if (rc) { close(dfd); return rc; }
  int fd = openat(dfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
  if (fd < 0) {
    rc = errno == ELOOP ? JOURNAL_ELOCKFILE : -errno;
    close(dfd);
    return rc;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) rc = JOURNAL_ELOCKFILE;
  if (!rc) rc = busy(fd, dfd, out_pid);
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
  if (!rc && (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n)) rc = -EIO;
  if (rc) {
    close(fd);
    close(dfd);
    return rc;
  }
  out->dir_fd = dfd;
  out->file_fd = fd;
  return 0;
}

void journal__lock_release(struct journal_lock *l)
{
  if (l->file_fd >= 0) close(l->file_fd); /* releases the flocks */
  if (l->dir_fd >= 0) close(l->dir_fd);
  l->file_fd = l->dir_fd = -1;
}
