/*
 * comtrade_dat.c — COMTRADE data files (.dat, ASCII / BINARY / BINARY32 / FLOAT32) and the
 * file-level reader (.cfg + .dat pair, or a 2013 .cff single file).
 *
 * ASCII: one line per sample, "n,timestamp,A1..Ak,D1..Dm"; the timestamp may be empty when
 * nrates ≠ 0; 99999 marks a missing analog value. Binary (little-endian): u32 sample number,
 * u32 timestamp, A × (int16 | int32 | float32), ceil(D/16) × u16 status words; missing analog
 * 0x8000 / 0x80000000, missing timestamp 0xFFFFFFFF. The sample count must equal the .cfg's
 * last endsamp; a short or overlong file is an error naming the sample (binary) or line
 * (ASCII). Values are a·raw + b in the file's own (primary or secondary) units. Sample times:
 * from the rates when nrates ≠ 0 (the .dat timestamps are then ignored, as python-comtrade
 * does), else timestamp × time base × timemult.
 * Limits: at most 2^31 values in total (na × samples) and 1 GiB per file.
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

static void rate_times(const struct ingest_ct_cfg *cfg, struct ingest_ct_data *d)
{
  double t = 0.0;
  uint64_t k = 0;
  for (unsigned r = 0; r < cfg->nrates && k < d->nsamples; r++) {
    uint64_t end = cfg->endsamp[r] < d->nsamples ? cfg->endsamp[r] : d->nsamples;
    uint64_t first = k;
    double t_first = t;
    for (; k < end; k++) d->t_us[k] = (int64_t)llround((t_first + (double)(k - first) * 1e6 / cfg->samp[r]));
    t = t_first + (double)(end - first) * 1e6 / cfg->samp[r];
  }
}

static double ts_to_us(const struct ingest_ct_cfg *cfg, double ts)
{
  double base = cfg->ns_timebase ? 1e-3 : 1.0;
  return ts * base * cfg->timemult;
}

static bool is_int_text(const char *s)
{
  if (*s == '-' || *s == '+') s++;
  if (!*s) return false;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return false;
  return true;
}

static int parse_ascii(const struct ingest_ct_cfg *cfg, const char *p, size_t len,
                       const char *name, struct ingest_ct_data *d, char *msg, size_t cap)
{
  const char *end = p + len;
  /* count non-empty lines first to size the arrays */
  uint64_t nl = 0;
  for (const char *q = p; q < end;) {
    const char *e = memchr(q, '\n', (size_t)(end - q));
    const char *le = e ? e : end;
    bool blank = true;
    for (const char *c = q; c < le; c++)
      if (!isspace((unsigned char)*c)) { blank = false; break; }
    if (!blank) nl++;
    q = e ? e + 1 : end;
  }
  if (nl != cfg->total_samples) {
    ingest__msg(msg, cap, "%s: %llu samples, but the .cfg declares %llu (endsamp)", name,
                (unsigned long long)nl, (unsigned long long)cfg->total_samples);
    return nl < cfg->total_samples ? INGEST_ETRUNC : INGEST_ESYNTAX;
  }
  if ((uint64_t)cfg->na * nl > DAT_VALUES_MAX) {
    ingest__msg(msg, cap, "%s: too many values", name);
    return INGEST_ELIMIT;
  }
  int rc = alloc_data(cfg, nl, true, d);
  if (rc) { ingest__msg(msg, cap, "%s: out of memory", name); return rc; }
  bool all_int = true;
  const unsigned nf_want = 2 + cfg->na + cfg->nd;
  const size_t nw = (cfg->nd + 15) / 16;
  char *line = NULL;
  size_t line_cap = 0;
  unsigned lineno = 0;
  uint64_t k = 0;
  int result = 0;
  for (const char *q = p; q < end && k < nl;) {
    const char *e = memchr(q, '\n', (size_t)(end - q));
    const char *le = e ? e : end;
    size_t n = (size_t)(le - q);
    lineno++;
    const char *next_q = e ? e + 1 : end;
    bool blank = true;
    for (const char *c = q; c < le; c++)
      if (!isspace((unsigned char)*c)) { blank = false; break; }
    if (blank) { q = next_q; continue; }
    if (n + 1 > line_cap) {
      char *nlp = realloc(line, n + 1);
      if (!nlp) { result = -ENOMEM; ingest__msg(msg, cap, "%s: out of memory", name); break; }
      line = nlp;
      line_cap = n + 1;
    }
    memcpy(line, q, n);
    line[n] = 0;
    if (memchr(line, 0, n)) {
      ingest__msg(msg, cap, "%s:%u: NUL byte in line", name, lineno);
      result = INGEST_ESYNTAX;
      break;
    }
    unsigned fi = 0;
    char *s = line;
    for (;;) {
      char *c = strchr(s, ',');
      if (c) *c = 0;
      char *f = s;
      while (*f == ' ' || *f == '\t') f++;
      size_t fl = strlen(f);
      while (fl && (f[fl - 1] == ' ' || f[fl - 1] == '\t' || f[fl - 1] == '\r')) f[--fl] = 0;
      if (fi >= nf_want) {
        ingest__msg(msg, cap, "%s:%u: %u fields, expected %u", name, lineno, fi + 1, nf_want);
        result = INGEST_ESYNTAX;
        break;
      }
      char *ep;
      if (fi == 0) {
        if (!*f || !is_int_text(f)) {
          ingest__msg(msg, cap, "%s:%u: field 1 (n): not a sample number", name, lineno);
          result = INGEST_ESYNTAX;
          break;
        }
      } else if (fi == 1) {
        if (*f) {
          errno = 0;
          double ts = strtod(f, &ep);
          if (*ep || errno == ERANGE || !isfinite(ts)) {
            ingest__msg(msg, cap, "%s:%u: field 2 (timestamp): not a number", name, lineno);
            result = INGEST_ESYNTAX;
            break;
          }
          d->t_us[k] = (int64_t)llround(ts_to_us(cfg, ts));
        } else if (cfg->nrates == 0) {
          ingest__msg(msg, cap, "%s:%u: field 2 (timestamp): missing (nrates is 0)", name, lineno);
          result = INGEST_ESYNTAX;
          break;
        }
      } else if (fi < 2 + cfg->na) {
        unsigned a = fi - 2;
        size_t idx = (size_t)a * nl + k;
        errno = 0;
        double raw = *f ? strtod(f, &ep) : NAN;
        if (!*f || *ep || errno == ERANGE || !isfinite(raw)) {
          ingest__msg(msg, cap, "%s:%u: field %u (analog %u '%s'): not a number", name, lineno,
                      fi + 1, a + 1, cfg->an[a].id);
          result = INGEST_ESYNTAX;
          break;
        }
        if (raw == 99999.0) {
          d->missing[idx] = 1;
          d->raw[idx] = 0;
          d->value[idx] = 0.0;
        } else {
          if (!is_int_text(f) || fabs(raw) > 2147483647.0) all_int = false;
          else d->raw[idx] = (int32_t)raw;
          d->value[idx] = cfg->an[a].a * raw + cfg->an[a].b;
        }
      } else {
        unsigned g = fi - 2 - cfg->na;
        if (strcmp(f, "0") != 0 && strcmp(f, "1") != 0) {
          ingest__msg(msg, cap, "%s:%u: field %u (status %u '%s'): expected 0 or 1", name,
                      lineno, fi + 1, g + 1, cfg->dg[g].id);
          result = INGEST_ESYNTAX;
          break;
        }
        if (f[0] == '1') d->digital[k * nw + g / 16] |= (uint16_t)(1u << (g % 16));
      }
      fi++;
      if (!c) break;
      s = c + 1;
    }
    if (result) break;
    if (fi != nf_want) {
      ingest__msg(msg, cap, "%s:%u: %u fields, expected %u", name, lineno, fi, nf_want);
      result = INGEST_ESYNTAX;
      break;
    }
    k++;
    q = next_q;
  }
  free(line);
  if (result) { ingest_ct_data_free(d); return result; }
  if (!all_int) { free(d->raw); d->raw = NULL; }
  if (cfg->nrates) rate_times(cfg, d);
  return 0;
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static int parse_binary(const struct ingest_ct_cfg *cfg, const uint8_t *p, size_t len,
                        const char *name, struct ingest_ct_data *d, char *msg, size_t cap)
{
  const size_t vs = cfg->ft == INGEST_CT_BINARY ? 2 : 4;
  const size_t nw = (cfg->nd + 15) / 16;
  const size_t rec = 8 + vs * cfg->na + 2 * nw;
  uint64_t want = cfg->total_samples;
  uint64_t have = len / rec;
  if (len % rec != 0 || have < want) {
    ingest__msg(msg, cap, "%s: sample %llu: truncated (%zu bytes; %llu records of %zu bytes expected)",
                name, (unsigned long long)(have + 1), len, (unsigned long long)want, rec);
    return INGEST_ETRUNC;
  }
  if (have > want) {
    ingest__msg(msg, cap, "%s: %llu samples, but the .cfg declares %llu (endsamp)", name,
                (unsigned long long)have, (unsigned long long)want);
    return INGEST_ESYNTAX;
  }
  if ((uint64_t)cfg->na * want > DAT_VALUES_MAX) {
    ingest__msg(msg, cap, "%s: too many values", name);
    return INGEST_ELIMIT;
  }
  int rc = alloc_data(cfg, want, cfg->ft != INGEST_CT_FLOAT32, d);
  if (rc) { ingest__msg(msg, cap, "%s: out of memory", name); return rc; }
  for (uint64_t k = 0; k < want; k++) {
    const uint8_t *r = p + k * rec;
    uint32_t ts = rd32(r + 4);
    if (cfg->nrates == 0) {
      if (ts == 0xFFFFFFFFu) {
        ingest__msg(msg, cap, "%s: sample %llu: missing timestamp (nrates is 0)", name,
                    (unsigned long long)(k + 1));
        ingest_ct_data_free(d);
        return INGEST_ESYNTAX;
      }
      d->t_us[k] = (int64_t)llround(ts_to_us(cfg, (double)ts));
    }
    for (unsigned a = 0; a < cfg->na; a++) {
      const uint8_t *v = r + 8 + vs * a;
      size_t idx = (size_t)a * want + k;
      double raw;
      bool miss = false;
      if (cfg->ft == INGEST_CT_BINARY) {
        int16_t x = (int16_t)rd16(v);
        miss = x == INT16_MIN;
        d->raw[idx] = x;
        raw = x;
      } else if (cfg->ft == INGEST_CT_BINARY32) {
        int32_t x = (int32_t)rd32(v);
        miss = x == INT32_MIN;
        d->raw[idx] = x;
        raw = x;
      } else {
        uint32_t u = rd32(v);
        float x;
        memcpy(&x, &u, sizeof x);
        raw = x;
        if (!isfinite(raw)) miss = true;
      }
      if (miss) {
        d->missing[idx] = 1;
        d->value[idx] = 0.0;
        if (d->raw) d->raw[idx] = 0;
      } else {
        d->value[idx] = cfg->an[a].a * raw + cfg->an[a].b;
      }
    }
    for (size_t w = 0; w < nw; w++) d->digital[k * nw + w] = rd16(r + 8 + vs * cfg->na + 2 * w);
  }
  if (cfg->nrates) rate_times(cfg, d);
  return 0;
}

int ingest_ct_dat_parse(const struct ingest_ct_cfg *cfg, const uint8_t *dat, size_t len,
                        const char *name, struct ingest_ct_data *out, char *msg, size_t msg_cap)
{
  memset(out, 0, sizeof *out);
  if (!name) name = "dat";
  if (cfg->ft == INGEST_CT_ASCII) return parse_ascii(cfg, (const char *)dat, len, name, out, msg, msg_cap);
  return parse_binary(cfg, dat, len, name, out, msg, msg_cap);
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

int ingest_ct_read(const char *path, struct ingest_ct_cfg *cfg, struct ingest_ct_data *data,
                   char *msg, size_t msg_cap)
{
  memset(cfg, 0, sizeof *cfg);
  memset(data, 0, sizeof *data);
  if (msg && msg_cap) msg[0] = 0;
  size_t pl = strlen(path);
  bool cff = pl > 4 && strcasecmp(path + pl - 4, ".cff") == 0;
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc = slurp(path, &buf, &len, msg, msg_cap);
  if (rc) return rc;
  const char *bn = base_name(path);
  if (!cff) {
    rc = ingest_ct_cfg_parse((const char *)buf, len, bn, cfg, msg, msg_cap);
    free(buf);
    if (rc) return rc;
    char *dp = malloc(pl + 5);
    if (!dp) { ingest_ct_cfg_free(cfg); return -ENOMEM; }
    memcpy(dp, path, pl + 1);
    char *dot = strrchr(dp, '.');
    if (!dot || strchr(dot, '/')) { dot = dp + pl; }
    static const char *ext[] = {".dat", ".DAT", ".Dat"};
    uint8_t *dbuf = NULL;
    size_t dlen = 0;
    rc = -ENOENT;
    for (unsigned k = 0; k < 3 && rc == -ENOENT; k++) {
      strcpy(dot, ext[k]);
      rc = slurp(dp, &dbuf, &dlen, msg, msg_cap);
    }
    if (rc) { free(dp); ingest_ct_cfg_free(cfg); return rc; }
    rc = ingest_ct_dat_parse(cfg, dbuf, dlen, base_name(dp), data, msg, msg_cap);
    free(dbuf);
    free(dp);
    if (rc) ingest_ct_cfg_free(cfg);
    return rc;
  }
  char hdr[200];
  size_t clen = 0, dlen = 0;
  const uint8_t *c = cff_section(buf, len, "CFG", &clen, hdr, sizeof hdr);
  if (!c) {
    free(buf);
    ingest__msg(msg, msg_cap, "%s: no '--- file type: CFG ---' section", bn);
    return INGEST_ESYNTAX;
  }
  char cname[300];
  snprintf(cname, sizeof cname, "%s[CFG]", bn);
  rc = ingest_ct_cfg_parse((const char *)c, clen, cname, cfg, msg, msg_cap);
  if (rc) { free(buf); return rc; }
  const uint8_t *d = cff_section(buf, len, "DAT", &dlen, hdr, sizeof hdr);
  if (!d) {
    free(buf);
    ingest_ct_cfg_free(cfg);
    ingest__msg(msg, msg_cap, "%s: no '--- file type: DAT ... ---' section", bn);
    return INGEST_ESYNTAX;
  }
  if (cfg->ft != INGEST_CT_ASCII) {
    /* "--- file type: DAT BINARY: <bytes> ---": the byte count is authoritative */
    const char *colon = strrchr(hdr, ':');
    char *e = NULL;
    long long nb = colon ? strtoll(colon + 1, &e, 10) : -1;
    if (!colon || nb < 0 || e == colon + 1) {
      free(buf);
      ingest_ct_cfg_free(cfg);
      ingest__msg(msg, msg_cap, "%s: DAT section header without a byte count", bn);
      return INGEST_ESYNTAX;
    }
    cfg->dat_bytes = nb;
    size_t avail = (size_t)((buf + len) - d);
    if ((unsigned long long)nb > avail) {
      free(buf);
      ingest_ct_cfg_free(cfg);
      ingest__msg(msg, msg_cap, "%s: DAT section truncated (%zu of %lld bytes)", bn, avail, nb);
      return INGEST_ETRUNC;
    }
    dlen = (size_t)nb;
  }
  snprintf(cname, sizeof cname, "%s[DAT]", bn);
  rc = ingest_ct_dat_parse(cfg, d, dlen, cname, data, msg, msg_cap);
  free(buf);
  if (rc) ingest_ct_cfg_free(cfg);
  return rc;
}
