/*
 * comtrade_dat.c — the file level of the COMTRADE reader: FILE.cfg + FILE.dat (any case of the
 * extension) or a 2013 .cff single file, the data mapped read-only and decoded by the block
 * reader (comtrade_stream.c, which documents the .dat formats and their checks); and the
 * whole-file form, ingest_ct_dat_parse() / ingest_ct_read(), which collects every block into
 * channel-major arrays (tests, fuzzing, small files). Values are a·raw + b in the file's own
 * (primary or secondary) units. Sample times: from the rates when nrates ≠ 0 (the .dat
 * timestamps are then ignored, as python-comtrade does), else timestamp × time base × timemult.
 * Limits: the whole-file form holds at most 2^31 values (na × samples); the .cfg at most 1 GiB;
 * streaming has no length limit. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAT_VALUES_MAX (1ull << 31)

void ingest_ct_data_free(struct ingest_ct_data *d)
{
  if (!d) return;
  free(d->value);
  free(d->raw);
  free(d->t_us);
  free(d->missing);
  free(d->digital);
  memset(d, 0, sizeof *d);
}

static int alloc_data(const struct ingest_ct_cfg *cfg, uint64_t ns, bool with_raw,
                      struct ingest_ct_data *d)
{
  memset(d, 0, sizeof *d);
  d->nsamples = ns;
  size_t nv = (size_t)cfg->na * (size_t)ns;
  size_t nw = (cfg->nd + 15) / 16;
  d->value = malloc(sizeof(double) * (nv ? nv : 1));
  d->raw = with_raw ? malloc(sizeof(int32_t) * (nv ? nv : 1)) : NULL;
  d->t_us = malloc(sizeof(int64_t) * (ns ? ns : 1));
  d->missing = calloc(nv ? nv : 1, 1);
  d->digital = nw ? calloc(nw * (ns ? ns : 1), sizeof(uint16_t)) : NULL;
  if (!d->value || (with_raw && !d->raw) || !d->t_us || !d->missing || (nw && !d->digital)) {
    ingest_ct_data_free(d);
    return -ENOMEM;
  }
  return 0;
}

/* Decode every block of r into d (channel-major arrays sized from the .cfg). */
static int fill_data(const struct ingest_ct_cfg *cfg, struct ingest_ct_reader *r, const char *name,
                     struct ingest_ct_data *d, char *msg, size_t cap)
{
  uint64_t ns = cfg->total_samples;
  if ((uint64_t)cfg->na * ns > DAT_VALUES_MAX) {
    ingest__msg(msg, cap, "%s: too many values", name);
    return INGEST_ELIMIT;
  }
  int rc = alloc_data(cfg, ns, true, d);
  if (rc) { ingest__msg(msg, cap, "%s: out of memory", name); return rc; }
  const size_t nw = (cfg->nd + 15) / 16;
  struct ingest_ct_block b;
  while ((rc = ingest_ct_reader_next(r, &b, msg, cap)) > 0) {
    for (size_t f = 0; f < b.n; f++) {
      uint64_t k = b.first + f;
      d->t_us[k] = b.t_us[f];
      for (unsigned a = 0; a < cfg->na; a++) {
        size_t idx = (size_t)a * ns + k, src = f * cfg->na + a;
        d->value[idx] = b.value[src];
        d->raw[idx] = b.raw[src];
        d->missing[idx] = b.missing[src];
      }
      for (size_t w = 0; w < nw; w++) d->digital[k * nw + w] = b.digital[f * nw + w];
    }
  }
  if (rc < 0) { ingest_ct_data_free(d); return rc; }
  if (!ingest_ct_reader_integral(r)) { free(d->raw); d->raw = NULL; }
  return 0;
}

int ingest_ct_dat_parse(const struct ingest_ct_cfg *cfg, const uint8_t *dat, size_t len,
                        const char *name, struct ingest_ct_data *out, char *msg, size_t msg_cap)
{
  memset(out, 0, sizeof *out);
  if (!name) name = "dat";
  struct ingest_ct_reader *r;
  int rc = ingest_ct_reader_open(cfg, dat, len, name, false, &r, msg, msg_cap);
  if (rc) return rc;
  rc = fill_data(cfg, r, name, out, msg, msg_cap);
  ingest_ct_reader_close(r);
  return rc;
}

/* ---- files ---- */

#define FILE_MAX (1ull << 30)

static int slurp(const char *path, uint8_t **out, size_t *out_len, char *msg, size_t cap)
{
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    ingest__msg(msg, cap, "%s: %s", path, strerror(e));
    return -e;
  }
  uint8_t *buf = NULL;
  size_t len = 0, bcap = 0;
  for (;;) {
    if (len == bcap) {
      size_t nc = bcap ? bcap * 2 : 65536;
      if (nc > FILE_MAX + 1) nc = FILE_MAX + 1;
      if (nc == bcap) {
        free(buf);
        fclose(f);
        ingest__msg(msg, cap, "%s: larger than 1 GiB", path);
        return INGEST_ELIMIT;
      }
      uint8_t *nb = realloc(buf, nc);
      if (!nb) { free(buf); fclose(f); ingest__msg(msg, cap, "%s: out of memory", path); return -ENOMEM; }
      buf = nb;
      bcap = nc;
    }
    size_t r = fread(buf + len, 1, bcap - len, f);
    len += r;
    if (r == 0) break;
  }
  int e = ferror(f) ? EIO : 0;
  fclose(f);
  if (e) { free(buf); ingest__msg(msg, cap, "%s: read error", path); return -e; }
  *out = buf;
  *out_len = len;
  return 0;
}

static const char *base_name(const char *p)
{
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

/* .cff: find "--- file type: X ---" sections */
static const uint8_t *cff_section(const uint8_t *buf, size_t len, const char *type,
                                  size_t *out_len, char *hdr, size_t hdr_cap)
{
  const uint8_t *p = buf, *end = buf + len;
  while (p < end) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    const uint8_t *le = nl ? nl : end;
    size_t n = (size_t)(le - p);
    if (n > 14 && n < 200 && memcmp(p, "---", 3) == 0) {
      char line[200];
      memcpy(line, p, n);
      line[n] = 0;
      if (n && line[n - 1] == '\r') line[n - 1] = 0;
      char *ft = strcasestr(line, "file type:");
      if (ft && strncasecmp(ft + 10 + strspn(ft + 10, " "), type, strlen(type)) == 0) {
        snprintf(hdr, hdr_cap, "%s", line);
        const uint8_t *start = nl ? nl + 1 : end;
        /* section ends at the next "--- file type:" line at a line start (text sections) */
        const uint8_t *q = start;
        while (q < end) {
          if ((size_t)(end - q) > 14 && memcmp(q, "--- file type:", 14) == 0) break;
          const uint8_t *nn = memchr(q, '\n', (size_t)(end - q));
          q = nn ? nn + 1 : end;
        }
        *out_len = (size_t)(q - start);
        return start;
      }
    }
    p = nl ? nl + 1 : end;
  }
  return NULL;
}

/* Map path read-only (an empty file maps to an empty range). */
static int map_file(const char *path, void **out, size_t *out_len, char *msg, size_t cap)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    ingest__msg(msg, cap, "%s: %s", path, strerror(e));
    return -e;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int e = errno ? errno : EINVAL;
    close(fd);
    ingest__msg(msg, cap, "%s: not a regular file", path);
    return -e;
  }
  if ((uint64_t)st.st_size > (uint64_t)(SIZE_MAX / 2)) { /* 32-bit boards: beyond the address space */
    close(fd);
    ingest__msg(msg, cap, "%s: too large to map on this machine", path);
    return INGEST_ELIMIT;
  }
  *out = NULL;
  *out_len = (size_t)st.st_size;
  if (st.st_size > 0) {
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      int e = errno;
      close(fd);
      ingest__msg(msg, cap, "%s: %s", path, strerror(e));
      return -e;
    }
    madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
    *out = m;
  }
  close(fd);
  return 0;
}

void ingest_ct_file_close(struct ingest_ct_file *f)
{
  if (!f) return;
  ingest_ct_reader_close(f->rd);
  if (f->map) munmap(f->map, f->map_len);
  ingest_ct_cfg_free(&f->cfg);
  memset(f, 0, sizeof *f);
}

static int open_cff(const char *path, struct ingest_ct_file *f, char *msg, size_t msg_cap)
{
  const char *bn = base_name(path);
  int rc = map_file(path, &f->map, &f->map_len, msg, msg_cap);
  if (rc) return rc;
  const uint8_t *buf = f->map ? f->map : (const uint8_t *)"";
  size_t len = f->map_len;
  char hdr[200];
  size_t clen = 0, dlen = 0;
  const uint8_t *c = cff_section(buf, len, "CFG", &clen, hdr, sizeof hdr);
  if (!c) {
    ingest__msg(msg, msg_cap, "%s: no '--- file type: CFG ---' section", bn);
    return INGEST_ESYNTAX;
  }
  char cname[300];
  snprintf(cname, sizeof cname, "%s[CFG]", bn);
  rc = ingest_ct_cfg_parse((const char *)c, clen, cname, &f->cfg, msg, msg_cap);
  if (rc) return rc;
  const uint8_t *d = cff_section(buf, len, "DAT", &dlen, hdr, sizeof hdr);
  if (!d) {
    ingest__msg(msg, msg_cap, "%s: no '--- file type: DAT ... ---' section", bn);
    return INGEST_ESYNTAX;
  }
  if (f->cfg.ft != INGEST_CT_ASCII) {
    /* "--- file type: DAT BINARY: <bytes> ---": the byte count is authoritative */
    const char *colon = strrchr(hdr, ':');
    char *e = NULL;
    long long nb = colon ? strtoll(colon + 1, &e, 10) : -1;
    if (!colon || nb < 0 || e == colon + 1) {
      ingest__msg(msg, msg_cap, "%s: DAT section header without a byte count", bn);
      return INGEST_ESYNTAX;
    }
    f->cfg.dat_bytes = nb;
    size_t avail = (size_t)((buf + len) - d);
    if ((unsigned long long)nb > avail) {
      ingest__msg(msg, msg_cap, "%s: DAT section truncated (%zu of %lld bytes)", bn, avail, nb);
      return INGEST_ETRUNC;
    }
    dlen = (size_t)nb;
  }
  snprintf(cname, sizeof cname, "%s[DAT]", bn);
  return ingest_ct_reader_open(&f->cfg, d, dlen, cname, f->map != NULL, &f->rd, msg, msg_cap);
}

static int open_pair(const char *path, struct ingest_ct_file *f, char *msg, size_t msg_cap)
{
  uint8_t *buf = NULL;
  size_t len = 0, pl = strlen(path);
  int rc = slurp(path, &buf, &len, msg, msg_cap);
  if (rc) return rc;
  rc = ingest_ct_cfg_parse((const char *)buf, len, base_name(path), &f->cfg, msg, msg_cap);
  free(buf);
  if (rc) return rc;
  char *dp = malloc(pl + 5);
  if (!dp) return -ENOMEM;
  memcpy(dp, path, pl + 1);
  char *dot = strrchr(dp, '.');
  if (!dot || strchr(dot, '/')) dot = dp + pl;
  static const char *ext[] = {".dat", ".DAT", ".Dat"};
  rc = -ENOENT;
  for (unsigned k = 0; k < 3 && rc == -ENOENT; k++) {
    strcpy(dot, ext[k]);
    rc = map_file(dp, &f->map, &f->map_len, msg, msg_cap);
  }
  if (!rc)
    rc = ingest_ct_reader_open(&f->cfg, f->map ? f->map : (const uint8_t *)"", f->map_len,
                               base_name(dp), f->map != NULL, &f->rd, msg, msg_cap);
  free(dp);
  return rc;
}

int ingest_ct_file_open(const char *path, struct ingest_ct_file *f, char *msg, size_t msg_cap)
{
  memset(f, 0, sizeof *f);
  if (msg && msg_cap) msg[0] = 0;
  size_t pl = strlen(path);
  bool cff = pl > 4 && strcasecmp(path + pl - 4, ".cff") == 0;
  int rc = cff ? open_cff(path, f, msg, msg_cap) : open_pair(path, f, msg, msg_cap);
  if (rc) ingest_ct_file_close(f);
  return rc;
}

int ingest_ct_read(const char *path, struct ingest_ct_cfg *cfg, struct ingest_ct_data *data,
                   char *msg, size_t msg_cap)
{
  memset(cfg, 0, sizeof *cfg);
  memset(data, 0, sizeof *data);
  struct ingest_ct_file f;
  int rc = ingest_ct_file_open(path, &f, msg, msg_cap);
  if (rc) return rc;
  rc = fill_data(&f.cfg, f.rd, base_name(path), data, msg, msg_cap);
  if (rc == 0) {
    *cfg = f.cfg;                 /* ownership of the channel arrays moves to the caller */
    memset(&f.cfg, 0, sizeof f.cfg);
  }
  ingest_ct_file_close(&f);
  return rc;
}
