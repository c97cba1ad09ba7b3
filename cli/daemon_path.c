/*
 * daemon_path.c — where the control socket lives, and the checks on its directory.
 *
 * A Unix socket is only as trustworthy as the directory that holds it: anyone who can write
 * there can put their own socket in the daemon's place and answer "confirmed" to a switch. So
 * the socket goes only into a directory of the daemon's user that nobody else can write (rule
 * in daemon.h and docs/cli.md); never into a shared one such as /tmp. Directories are checked
 * with lstat, so a symlink planted in place of one is refused, not followed.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include "daemon.h"

#define SUN_PATH_MAX 107 /* sizeof(sockaddr_un.sun_path) - 1 */
#define RUN_DIR "/run/hems"

/* "hems-<16 hex of BLAKE2b-256(real path of dir)>.sock" */
static void hashed_name(const char *dir, char out[64])
{
  char abs[4096];
  if (!realpath(dir, abs)) snprintf(abs, sizeof abs, "%s", dir);
  uint8_t h[32];
  char hex[65];
  crypto_generichash(h, sizeof h, (const uint8_t *)abs, strlen(abs), NULL, 0);
  journal_hex(h, 8, hex);
  snprintf(out, 64, "hems-%.16s.sock", hex);
}

/* The three places, by kind; false when that place does not apply (too long, no $XDG…). */
static bool in_dir(const char *dir, char out[4200])
{
  char abs[4096];
  if (!realpath(dir, abs)) snprintf(abs, sizeof abs, "%s", dir);
  int n = snprintf(out, 4200, "%s/control.sock", abs);
  return n > 0 && n <= SUN_PATH_MAX;
}

static bool in_run(const char *dir, char out[4200])
{
  char name[64];
  hashed_name(dir, name);
  snprintf(out, 4200, RUN_DIR "/%s", name);
  return true;
}

static bool in_xdg(const char *dir, char out[4200], char xdg_dir[4200])
{
  const char *rt = getenv("XDG_RUNTIME_DIR");
  if (!rt || rt[0] != '/') return false;
  char name[64];
  hashed_name(dir, name);
  int n = snprintf(xdg_dir, 4200, "%s/hems", rt);
  if (n <= 0 || n >= 4200) return false;
  n = snprintf(out, 4200, "%s/%s", xdg_dir, name);
  return n > 0 && n <= SUN_PATH_MAX;
}

int daemon_socket_candidates(const char *dir, const char *override, char out[DAEMON_SOCKET_CANDIDATES][4200])
{
  if (override) { snprintf(out[0], 4200, "%s", override); return 1; }
  int n = 0;
  char xdg_dir[4200];
  if (in_run(dir, out[n])) n++;
  if (in_dir(dir, out[n])) n++;
  if (in_xdg(dir, out[n], xdg_dir)) n++;
  return n;
}

int daemon_private_dir(const char *path, bool create, bool root_ok, char *why, size_t why_cap)
{
  struct stat st;
  if (lstat(path, &st) != 0) {
    if (errno != ENOENT || !create) {
      int e = errno;
      snprintf(why, why_cap, "%s: %s", path, strerror(e));
      return -e;
    }
    if (mkdir(path, 0750) != 0 && errno != EEXIST) {
      int e = errno;
      snprintf(why, why_cap, "%s: cannot create: %s", path, strerror(e));
      return -e;
    }
    if (lstat(path, &st) != 0) {
      int e = errno;
      snprintf(why, why_cap, "%s: %s", path, strerror(e));
      return -e;
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    snprintf(why, why_cap, "%s: not a directory (a symlink or other file is never followed)", path);
    return -ENOTDIR;
  }
  if (st.st_uid != geteuid() && !(root_ok && st.st_uid == 0)) {
    snprintf(why, why_cap, "%s: owned by uid %u, not by us (uid %u)", path, (unsigned)st.st_uid, (unsigned)geteuid());
    return -EPERM;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    snprintf(why, why_cap, "%s: writable by group or others (mode %04o)", path, (unsigned)(st.st_mode & 07777));
    return -EPERM;
  }
  return 0;
}

void daemon_operators_group(const char *path)
{
  struct group *g = getgrnam(DAEMON_OPERATORS_GROUP);
  struct stat st;
  if (!g || lstat(path, &st) != 0 || st.st_gid == g->gr_gid) return;
  if (lchown(path, (uid_t)-1, g->gr_gid) != 0) return; /* not a member: keep our own group */
}

/* The directory part of path (no trailing slash; "/" for a file in the root). */
static void parent_of(const char *path, char out[4200])
{
  snprintf(out, 4200, "%s", path);
  char *slash = strrchr(out, '/');
  if (!slash) snprintf(out, 4200, ".");
  else if (slash == out) out[1] = 0;
  else *slash = 0;
}

int daemon_socket_choose(const char *dir, const char *override, char out[4200], char *why, size_t why_cap)
{
  char parent[4200], tried[512] = "";
  if (override) {
    snprintf(out, 4200, "%s", override);
    if (strlen(out) > SUN_PATH_MAX) { snprintf(why, why_cap, "%s: longer than %d bytes", out, SUN_PATH_MAX); return -ENAMETOOLONG; }
    parent_of(out, parent);
    return daemon_private_dir(parent, false, true, why, why_cap);
  }
  char sub[256];
  /* /run/hems (tmpfiles.d/hems.conf), when it is there and ours */
  if (in_run(dir, out) && daemon_private_dir(RUN_DIR, false, false, sub, sizeof sub) == 0) {
    daemon_operators_group(RUN_DIR);
    return 0;
  }
  if (in_dir(dir, out)) {
    parent_of(out, parent);
    if (daemon_private_dir(parent, false, false, sub, sizeof sub) == 0) return 0;
    snprintf(tried, sizeof tried, "%.250s; ", sub);
  } else {
    snprintf(tried, sizeof tried, "%s/control.sock is longer than %d bytes; ", dir, SUN_PATH_MAX);
  }
  char xdg_dir[4200];
  if (in_xdg(dir, out, xdg_dir)) {
    int rc = daemon_private_dir(xdg_dir, true, false, sub, sizeof sub);
    if (rc == 0) {
      daemon_operators_group(xdg_dir);
      return 0;
    }
    snprintf(why, why_cap, "%sno private directory for the socket: %s", tried, sub);
    return rc;
  }
  snprintf(why, why_cap, "%sno private directory for the socket (" RUN_DIR " is not ours and XDG_RUNTIME_DIR is "
           "unset; pass --socket PATH)", tried);
  return -ENOENT;
}
