/*
 * retention_policy.c — one retention pass (retention.h) and the archives it counts: the main
 * log is cut by age and by quota (archive first), then the oldest archive bundles go while
 * journal + archives exceed the quota. The policy itself is read in retention_config.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"
#include "retention.h"

int retention_policy_load(const char *dir, struct retention_policy *p, char *err, size_t cap)
{
  char path[4200];
  snprintf(path, sizeof path, "%s/config.json", dir);
  json_t *root = cli_load_json_file(path);
  int rc = retention_policy_from_json(root ? json_object_get(root, "retention") : NULL, path, p, err, cap);
  json_decref(root);
  return rc;
}

/* ------------------------------------------------------------------ archives */

struct bundle { char name[96]; uint64_t bytes; };

static int by_name(const void *a, const void *b) { return strcmp(((const struct bundle *)a)->name, ((const struct bundle *)b)->name); }

/* DIR/archive/ *.hems, oldest first: the names start with the first seq, zero-padded. */
static struct bundle *list_archives(const char *dir, size_t *n)
{
  char p[4200];
  snprintf(p, sizeof p, "%s/archive", dir);
  *n = 0;
  DIR *d = opendir(p);
  if (!d) return NULL;
  struct bundle *v = NULL;
  size_t cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l < 6 || l >= sizeof v->name || strcmp(e->d_name + l - 5, ".hems")) continue;
    char f[4500];
    struct stat st;
    snprintf(f, sizeof f, "%s/%s", p, e->d_name);
    if (stat(f, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (*n == cap) {
      size_t nc = cap ? cap * 2 : 16;
      struct bundle *q = realloc(v, nc * sizeof *q);
      if (!q) break;
      v = q;
      cap = nc;
    }
    memcpy(v[*n].name, e->d_name, l + 1);
    v[*n].bytes = (uint64_t)st.st_size;
    (*n)++;
  }
  closedir(d);
  if (*n) qsort(v, *n, sizeof *v, by_name);
  return v;
}

uint64_t retention_archive_bytes(const char *dir, unsigned *count)
{
  size_t n;
  struct bundle *v = list_archives(dir, &n);
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) sum += v[i].bytes;
  free(v);
  if (count) *count = (unsigned)n;
  return sum;
}

/* Removes the oldest bundles while journal_used + archives > quota; the directory is synced. */
static void prune_archives(const char *dir, uint64_t quota, uint64_t journal_used, struct retention_result *res)
{
  size_t n;
  struct bundle *v = list_archives(dir, &n);
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) sum += v[i].bytes;
  char adir[4200];
  snprintf(adir, sizeof adir, "%s/archive", dir);
  for (size_t i = 0; i < n && journal_used + sum > quota; i++) {
    char f[4400];
    snprintf(f, sizeof f, "%s/%s", adir, v[i].name);
    if (unlink(f) != 0) continue;
    sum -= v[i].bytes;
    res->pruned++;
    res->pruned_bytes += v[i].bytes;
  }
  if (res->pruned) {
    int fd = open(adir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) { fsync(fd); close(fd); }
  }
  res->archive_bytes = sum;
  free(v);
}

/* ------------------------------------------------------------------ the pass */

int retention_pass(struct journal *j, struct journal_history *hist, const char *dir, const struct retention_policy *pol,
                   bool early, journal_retention_cb appender, void *ctx, struct retention_result *res)
{
  memset(res, 0, sizeof *res);
  /* the long-horizon log is what outlives the rest: the quota holds it first (but the main log
   * keeps at least a quarter of the quota) */
  struct retention_policy q = *pol, *p = &q;
  res->history_bytes = retention_history_bytes(hist, dir);
  if (q.quota) q.quota = res->history_bytes < q.quota / 4 * 3 ? q.quota - res->history_bytes : q.quota / 4;
  struct journal_space sp;
  int rc = journal_space_get(j, &sp);
  if (rc) return rc;
  /* the position cut: the share of the records held that brings the pages in use to the goal.
   * Records are taken as of one size, and pages that are not records (indexes, checkpoints)
   * shrink less: a quota's cut goes again, up to 4 times, while the journal alone is over. */
  for (int pass = 0; pass < 4 && !rc; pass++) {
    uint64_t goal = 0;
    if (early && pass == 0) goal = sp.used_bytes / 2;
    if (p->quota && sp.used_bytes > p->quota && (!goal || p->quota / 4 * 3 < goal)) goal = p->quota / 4 * 3;
    uint64_t min_seq = 0;
    if (goal && sp.used_bytes > goal && sp.first_seq && sp.last_seq >= sp.first_seq) {
      long double held = (long double)(sp.last_seq - sp.first_seq + 1);
      uint64_t n = (uint64_t)ceill(held * (long double)(sp.used_bytes - goal) / (long double)sp.used_bytes);
      if (n) min_seq = sp.first_seq + n - 1;
    }
    if (pass && !min_seq) break;
    uint64_t cut = 0;
    if (p->windows_ns > 0 || min_seq) rc = journal_retention_cut(j, pass ? 0 : p->windows_ns, min_seq, appender, ctx, &cut);
    if (cut) res->cut_seq = cut;
    if (!cut || rc || (rc = journal_space_get(j, &sp))) break;
  }
  int src = journal_space_get(j, &sp);
  if (!rc && src) rc = src;
  res->journal_used = sp.used_bytes;
  if (p->quota && !src) prune_archives(dir, p->quota, sp.used_bytes, res);
  else res->archive_bytes = retention_archive_bytes(dir, NULL);
  return rc;
}
