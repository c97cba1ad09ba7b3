/*
 * pl_image.c — the disk model of the power-loss simulator (model described in pl_image.h).
 *
 * State kept while advancing through the log: per inode the durable bytes (all writes up to its
 * last sync) and the indexes of its pending writes; the durable namespace (path -> inode or
 * directory) and the pending namespace operations. Materialising copies that state, applies
 * the pending parts a power cut may have let through, and writes the result as a directory.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pl_image.h"

#define SECTOR 512u

struct inode {
  uint64_t ino;
  uint8_t *buf;
  size_t size, cap;
  size_t *pend, npend, pcap; /* record indexes of pending WRITE/TRUNC */
};

struct name {
  char *path;
  int dir;
  uint64_t ino;
};

struct names {
  struct name *v;
  size_t n, cap;
};

struct pl_model {
  const struct pl_rec **rec;
  size_t nrec, pos;
  struct inode *in;
  size_t nin, incap;
  struct names ns;          /* durable namespace */
  size_t *meta, nmeta, mcap; /* pending namespace operations */
  uint64_t ack, mark;
};

uint64_t pl_rand(uint64_t *s)
{
  /* splitmix64: small, seedable, good enough to pick cuts and sectors */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
  if (need <= *cap) return p;
  size_t c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  void *q = realloc(p, c * elem);
  if (!q) abort();
  *cap = c;
  return q;
}

static const char *rec_path(const struct pl_rec *r) { return r->plen ? (const char *)(r + 1) : ""; }
static const uint8_t *rec_data(const struct pl_rec *r) { return (const uint8_t *)(r + 1) + r->plen; }

int pl_model_init(struct pl_model **out, const uint8_t *log, size_t len, char *why, size_t why_cap)
{
  struct pl_model *m = calloc(1, sizeof *m);
  size_t cap = 0;
  if (!m) abort();
  for (size_t off = 0; off < len;) {
    const struct pl_rec *r = (const struct pl_rec *)(log + off);
    if (len - off < sizeof *r || r->magic != PL_MAGIC || r->plen > len - off - sizeof *r ||
        r->len > len - off - sizeof *r - r->plen || len - off < PL_ALIGN(sizeof *r + r->plen + r->len) ||
        (r->plen && ((const char *)(r + 1))[r->plen - 1] != 0)) {
      snprintf(why, why_cap, "malformed record at byte %zu", off);
      pl_model_free(m);
      return -1;
    }
    if (r->op == PL_UNSUP) {
      snprintf(why, why_cap, "the log holds an operation the model cannot represent: %s", rec_path(r));
      pl_model_free(m);
      return -1;
    }
    m->rec = grow(m->rec, &cap, m->nrec + 1, sizeof *m->rec);
    m->rec[m->nrec++] = r;
    off += PL_ALIGN(sizeof *r + r->plen + r->len);
  }
  *out = m;
  return 0;
}

void pl_model_free(struct pl_model *m)
{
  if (!m) return;
  for (size_t i = 0; i < m->nin; i++) { free(m->in[i].buf); free(m->in[i].pend); }
  for (size_t i = 0; i < m->ns.n; i++) free(m->ns.v[i].path);
  free(m->ns.v);
  free(m->in);
  free(m->meta);
  free(m->rec);
  free(m);
}

size_t pl_model_records(const struct pl_model *m) { return m->nrec; }
const struct pl_rec *pl_model_rec(const struct pl_model *m, size_t i) { return m->rec[i]; }

static struct inode *inode_get(struct pl_model *m, uint64_t ino)
{
  for (size_t i = 0; i < m->nin; i++)
    if (m->in[i].ino == ino) return &m->in[i];
  m->in = grow(m->in, &m->incap, m->nin + 1, sizeof *m->in);
  struct inode *n = &m->in[m->nin++];
  memset(n, 0, sizeof *n);
  n->ino = ino;
  return n;
}

/* Bytes [off, off+len) of data into a growable file image. */
static void put(uint8_t **buf, size_t *size, size_t *cap, uint64_t off, const uint8_t *data, uint64_t len)
{
  size_t end = (size_t)(off + len);
  *buf = grow(*buf, cap, end + 1, 1);
  if (off > *size) memset(*buf + *size, 0, (size_t)off - *size);
  memcpy(*buf + off, data, (size_t)len);
  if (end > *size) *size = end;
}

static void set_size(uint8_t **buf, size_t *size, size_t *cap, uint64_t len)
{
  *buf = grow(*buf, cap, (size_t)len + 1, 1);
  if (len > *size) memset(*buf + *size, 0, (size_t)len - *size);
  *size = (size_t)len;
}

/* keep: 0 drop, 1 whole, 2 torn (each 512-byte sector of the file kept or not at random). */
static void apply(uint8_t **buf, size_t *size, size_t *cap, const struct pl_rec *r, int keep, uint64_t *rng)
{
  if (keep == 0) return;
  if (r->op == PL_TRUNC) { set_size(buf, size, cap, r->off); return; }
  const uint8_t *d = rec_data(r);
  if (keep == 1) { put(buf, size, cap, r->off, d, r->len); return; }
  for (uint64_t o = r->off; o < r->off + r->len;) {
    uint64_t end = (o / SECTOR + 1) * SECTOR;
    if (end > r->off + r->len) end = r->off + r->len;
    if (pl_rand(rng) & 1) put(buf, size, cap, o, d + (o - r->off), end - o);
    o = end;
  }
}

static void inode_sync(struct pl_model *m, struct inode *n)
{
  for (size_t i = 0; i < n->npend; i++) apply(&n->buf, &n->size, &n->cap, m->rec[n->pend[i]], 1, NULL);
  n->npend = 0;
}

static struct name *ns_find(struct names *ns, const char *path)
{
  for (size_t i = 0; i < ns->n; i++)
    if (!strcmp(ns->v[i].path, path)) return &ns->v[i];
  return NULL;
}

static void ns_set(struct names *ns, const char *path, int dir, uint64_t ino)
{
  struct name *e = ns_find(ns, path);
  if (!e) {
    ns->v = grow(ns->v, &ns->cap, ns->n + 1, sizeof *ns->v);
    e = &ns->v[ns->n++];
    e->path = strdup(path);
    if (!e->path) abort();
  }
  e->dir = dir;
  e->ino = ino;
}

static void ns_del(struct names *ns, const char *path)
{
  struct name *e = ns_find(ns, path);
  if (!e) return;
  free(e->path);
  *e = ns->v[--ns->n];
}

static void ns_apply(struct names *ns, const struct pl_rec *r)
{
  switch (r->op) {
  case PL_CREATE: ns_set(ns, rec_path(r), 0, r->ino); break;
  case PL_MKDIR: ns_set(ns, rec_path(r), 1, 0); break;
  case PL_UNLINK: ns_del(ns, rec_path(r)); break;
  case PL_RENAME: {
    struct name *o = ns_find(ns, rec_path(r));
    if (!o) break;
    int dir = o->dir;
    uint64_t ino = o->ino;
    ns_del(ns, rec_path(r));
    ns_set(ns, (const char *)rec_data(r), dir, ino);
    if (dir) { /* a directory renamed: every name under it moves with it */
      size_t ol = strlen(rec_path(r));
      for (size_t i = 0; i < ns->n; i++) {
        char *p = ns->v[i].path;
        if (strncmp(p, rec_path(r), ol) != 0 || p[ol] != '/') continue;
        size_t nl = strlen((const char *)rec_data(r)), rl = strlen(p + ol);
        char *q = malloc(nl + rl + 1);
        if (!q) abort();
        memcpy(q, rec_data(r), nl);
        memcpy(q + nl, p + ol, rl + 1);
        free(p);
        ns->v[i].path = q;
      }
    }
    break;
  }
  default: break;
  }
}

static void meta_commit(struct pl_model *m)
{
  for (size_t i = 0; i < m->nmeta; i++) ns_apply(&m->ns, m->rec[m->meta[i]]);
  m->nmeta = 0;
}

void pl_model_advance(struct pl_model *m, size_t c, uint64_t *out_ack, uint64_t *out_mark)
{
  for (; m->pos < c && m->pos < m->nrec; m->pos++) {
    const struct pl_rec *r = m->rec[m->pos];
    struct inode *n;
    switch (r->op) {
    case PL_INIT:
      n = inode_get(m, r->ino);
      put(&n->buf, &n->size, &n->cap, 0, rec_data(r), r->len);
      ns_set(&m->ns, rec_path(r), 0, r->ino);
      break;
    case PL_INITDIR: ns_set(&m->ns, rec_path(r), 1, 0); break;
    case PL_WRITE:
    case PL_TRUNC:
      n = inode_get(m, r->ino);
      n->pend = grow(n->pend, &n->pcap, n->npend + 1, sizeof *n->pend);
      n->pend[n->npend++] = m->pos;
      break;
    case PL_SYNC: inode_sync(m, inode_get(m, r->ino)); break;
    case PL_SYNCALL:
      for (size_t i = 0; i < m->nin; i++) inode_sync(m, &m->in[i]);
      meta_commit(m);
      break;
    case PL_DIRSYNC: meta_commit(m); break;
    case PL_CREATE:
      inode_get(m, r->ino); /* a new file starts empty */
      /* fall through */
    case PL_RENAME:
    case PL_UNLINK:
    case PL_MKDIR:
      m->meta = grow(m->meta, &m->mcap, m->nmeta + 1, sizeof *m->meta);
      m->meta[m->nmeta++] = m->pos;
      break;
    case PL_ACK:
      if (r->off > m->ack) m->ack = r->off;
      break;
    case PL_MARK: m->mark = r->off; break;
    default: break;
    }
  }
  *out_ack = m->ack;
  *out_mark = m->mark;
}

static int mkdirs(char *path)
{
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    int rc = mkdir(path, 0700);
    *p = '/';
    if (rc != 0 && errno != EEXIST) return -errno;
  }
  if (mkdir(path, 0700) != 0 && errno != EEXIST) return -errno;
  return 0;
}

static int write_file(const char *path, const uint8_t *b, size_t n)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, b + done, n - done);
    if (w <= 0) { close(fd); return -EIO; }
    done += (size_t)w;
  }
  return close(fd) == 0 ? 0 : -errno;
}

/* The keep decision of every pending write, in log order across files (index = position in
 * the merged order). */
static void choose(int *keep, size_t n, enum pl_data_policy pol, uint64_t *rng)
{
  size_t k = n ? (size_t)(pl_rand(rng) % (n + 1)) : 0;
  for (size_t i = 0; i < n; i++) {
    switch (pol) {
    case PL_KEEP_NONE: keep[i] = 0; break;
    case PL_KEEP_ALL: keep[i] = 1; break;
    case PL_KEEP_PREFIX: keep[i] = i < k ? 1 : i == k ? 2 : 0; break;
    default: keep[i] = (int)(pl_rand(rng) % 3); break;
    }
  }
}

int pl_model_materialise(struct pl_model *m, const char *dir, enum pl_data_policy pol, uint64_t *rng,
                         unsigned *out_pending)
{
  /* Namespace: the durable one plus a prefix of the pending operations. */
  struct names ns = { 0 };
  for (size_t i = 0; i < m->ns.n; i++) ns_set(&ns, m->ns.v[i].path, m->ns.v[i].dir, m->ns.v[i].ino);
  size_t k = pol == PL_KEEP_NONE ? 0 : pol == PL_KEEP_ALL ? m->nmeta : (size_t)(pl_rand(rng) % (m->nmeta + 1));
  for (size_t i = 0; i < k; i++) ns_apply(&ns, m->rec[m->meta[i]]);

  /* Pending data writes, merged in log order, each with its fate. */
  size_t total = 0;
  for (size_t i = 0; i < m->nin; i++) total += m->in[i].npend;
  int *keep = calloc(total + 1, sizeof *keep);
  size_t *order = calloc(total + 1, sizeof *order);
  if (!keep || !order) abort();
  size_t t = 0;
  for (size_t i = 0; i < m->nin; i++)
    for (size_t j = 0; j < m->in[i].npend; j++) order[t++] = m->in[i].pend[j];
  /* sort indexes ascending (insertion sort: pending sets are small) */
  for (size_t i = 1; i < total; i++)
    for (size_t j = i; j > 0 && order[j - 1] > order[j]; j--) { size_t x = order[j]; order[j] = order[j - 1]; order[j - 1] = x; }
  choose(keep, total, pol, rng);
  *out_pending = (unsigned)total;

  char path[8192];
  snprintf(path, sizeof path, "%s", dir);
  int rc = mkdirs(path);
  for (size_t i = 0; !rc && i < ns.n; i++) {
    struct name *e = &ns.v[i];
    snprintf(path, sizeof path, "%s/%s", dir, e->path);
    if (e->dir) { rc = mkdirs(path); continue; }
    struct inode *n = inode_get(m, e->ino);
    uint8_t *buf = NULL;
    size_t size = 0, cap = 0;
    set_size(&buf, &size, &cap, 0);
    put(&buf, &size, &cap, 0, n->buf ? n->buf : (const uint8_t *)"", n->size);
    for (size_t j = 0; j < total; j++) {
      const struct pl_rec *r = m->rec[order[j]];
      if (r->ino == e->ino) apply(&buf, &size, &cap, r, keep[j], rng);
    }
    char *slash = strrchr(path, '/');
    *slash = 0;
    rc = mkdirs(path);
    *slash = '/';
    if (!rc) rc = write_file(path, buf, size);
    free(buf);
  }
  for (size_t i = 0; i < ns.n; i++) free(ns.v[i].path);
  free(ns.v);
  free(keep);
  free(order);
  return rc;
}
