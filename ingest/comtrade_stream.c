/*
 * comtrade_stream.c — the COMTRADE .dat decoder, block by block (the one decoder: the
 * whole-file ingest_ct_dat_parse() and `hems analyze` both run on it).
 *
 * A reader walks a byte range (a mapped file, a .cff section, or a caller's buffer) and hands
 * out blocks of up to INGEST_CT_BLOCK samples, frame-major, in storage it owns — so memory
 * stays flat whatever the file length. Binary records (8 + A·(2|4) + 2·ceil(D/16) bytes) are
 * decoded in one tight loop per block; ASCII lines are split in place. Validation is the same
 * as before streaming: the sample count must equal the .cfg's last endsamp — binary checks the
 * byte length up front; ASCII counts its non-blank lines when the reader opens, so a short or
 * overlong file is refused before any sample is delivered. Errors name the file and the line
 * (ASCII) or sample (binary). When the bytes are a file mapping, pages already decoded are
 * dropped (MADV_DONTNEED; clean file pages) so the resident set does not grow with the file.
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct ingest_ct_reader {
  const struct ingest_ct_cfg *cfg;
  const uint8_t *p;
  size_t len, pos;
  const uint8_t *map_base;     /* page-aligned start of a file mapping, or NULL */
  size_t dropped;              /* bytes of the mapping already released */
  char name[300];
  uint64_t k;                  /* next sample */
  unsigned lineno;
  size_t rec, nw;
  bool ints;                   /* every analog value so far was an integer (raw valid) */
  double t_first[INGEST_CT_RATES_MAX];
  int32_t *raw;
  double *value;
  uint8_t *missing;
  int64_t *t_us;
  uint16_t *digital;
  double ga[INGEST_CT_ANALOG_MAX], gb[INGEST_CT_ANALOG_MAX]; /* each channel's a and b */
};

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static double ts_to_us(const struct ingest_ct_cfg *cfg, double ts)
{
  return ts * (cfg->ns_timebase ? 1e-3 : 1.0) * cfg->timemult;
}

static bool blank_line(const uint8_t *q, const uint8_t *le)
{
  for (; q < le; q++)
    if (!isspace(*q)) return false;
  return true;
}

void ingest_ct_reader_close(struct ingest_ct_reader *r)
{
  if (!r) return;
  free(r->raw);
  free(r->value);
  free(r->missing);
  free(r->t_us);
  free(r->digital);
  free(r);
}

int ingest_ct_reader_open(const struct ingest_ct_cfg *cfg, const uint8_t *dat, size_t len,
                          const char *name, bool mapped, struct ingest_ct_reader **out, char *msg,
                          size_t cap)
{
  *out = NULL;
  struct ingest_ct_reader *r = calloc(1, sizeof *r);
  if (!r) return -ENOMEM;
  r->cfg = cfg;
  r->p = dat;
  r->len = len;
  snprintf(r->name, sizeof r->name, "%s", name ? name : "dat");
  if (mapped) {
    long pg = sysconf(_SC_PAGESIZE);
    r->map_base = (const uint8_t *)((uintptr_t)dat & ~(uintptr_t)(pg - 1));
  }
  r->nw = (cfg->nd + 15) / 16;
  for (unsigned a = 0; a < cfg->na; a++) {
    r->ga[a] = cfg->an[a].a;
    r->gb[a] = cfg->an[a].b;
  }
  r->ints = true;
  size_t nv = (size_t)INGEST_CT_BLOCK * (cfg->na ? cfg->na : 1);
  r->raw = malloc(sizeof(int32_t) * nv);
  r->value = malloc(sizeof(double) * nv);
  r->missing = malloc(nv);
  r->t_us = malloc(sizeof(int64_t) * INGEST_CT_BLOCK);
  r->digital = r->nw ? calloc(r->nw * INGEST_CT_BLOCK, sizeof(uint16_t)) : NULL;
  if (!r->raw || !r->value || !r->missing || !r->t_us || (r->nw && !r->digital)) {
    ingest_ct_reader_close(r);
    ingest__msg(msg, cap, "%s: out of memory", name);
    return -ENOMEM;
  }
  double t = 0.0;
  uint64_t first = 0;
  for (unsigned q = 0; q < cfg->nrates; q++) {
    r->t_first[q] = t;
    t += (double)(cfg->endsamp[q] - first) * 1e6 / cfg->samp[q];
    first = cfg->endsamp[q];
  }
  const uint64_t want = cfg->total_samples;
  if (cfg->ft == INGEST_CT_ASCII) {
    uint64_t nl = 0;
    for (const uint8_t *q = dat, *end = dat + len; q < end;) {
      const uint8_t *e = memchr(q, '\n', (size_t)(end - q));
      const uint8_t *le = e ? e : end;
      if (!blank_line(q, le)) nl++;
      q = e ? e + 1 : end;
    }
    if (nl != want) {
      ingest__msg(msg, cap, "%s: %llu samples, but the .cfg declares %llu (endsamp)", r->name,
                  (unsigned long long)nl, (unsigned long long)want);
      ingest_ct_reader_close(r);
      return nl < want ? INGEST_ETRUNC : INGEST_ESYNTAX;
    }
  } else {
    r->rec = 8 + (cfg->ft == INGEST_CT_BINARY ? 2 : 4) * (size_t)cfg->na + 2 * r->nw;
    uint64_t have = len / r->rec;
    if (len % r->rec != 0 || have < want) {
      ingest__msg(msg, cap, "%s: sample %llu: truncated (%zu bytes; %llu records of %zu bytes expected)",
                  r->name, (unsigned long long)(have + 1), len, (unsigned long long)want, r->rec);
      ingest_ct_reader_close(r);
      return INGEST_ETRUNC;
    }
    if (have > want) {
      ingest__msg(msg, cap, "%s: %llu samples, but the .cfg declares %llu (endsamp)", r->name,
                  (unsigned long long)have, (unsigned long long)want);
      ingest_ct_reader_close(r);
      return INGEST_ESYNTAX;
    }
  }
  *out = r;
  return 0;
}

void ingest_ct_reader_rewind(struct ingest_ct_reader *r)
{
  r->pos = 0;
  r->dropped = 0;
  r->k = 0;
  r->lineno = 0;
  r->ints = true;
}

bool ingest_ct_reader_integral(const struct ingest_ct_reader *r) { return r->ints; }

/* sample times from the rates (nrates ≠ 0): the .dat timestamps are ignored then */
static void rate_times(struct ingest_ct_reader *r, uint64_t k0, size_t n)
{
  const struct ingest_ct_cfg *cfg = r->cfg;
  unsigned q = 0;
  while (q + 1 < cfg->nrates && k0 >= cfg->endsamp[q]) q++;
  for (size_t f = 0; f < n;) {
    uint64_t k = k0 + f;
    while (q + 1 < cfg->nrates && k >= cfg->endsamp[q]) q++;
    uint64_t first = q ? cfg->endsamp[q - 1] : 0;
    size_t run = n - f;
    if (q + 1 < cfg->nrates && cfg->endsamp[q] - k < run) run = (size_t)(cfg->endsamp[q] - k);
    const double samp = cfg->samp[q], t0 = r->t_first[q];
    for (size_t i = 0; i < run; i++) /* times are ≥ 0: truncation is floor */
      r->t_us[f + i] = (int64_t)(t0 + (double)(k - first + i) * 1e6 / samp + 0.5);
    f += run;
  }
}

/* A block's analog values in one binary format: the format is fixed for the file, so each
 * block runs one of these loops, with no per-sample format test or call, the channels'
 * a and b from the reader's own arrays. */
#define DECODE_ANALOG(KIND, WIDTH, MISSING_TEST, RAW_OF)                                       \
  static void decode_##KIND(const struct ingest_ct_reader *r, const uint8_t *p, size_t n,      \
                            unsigned na)                                                       \
  {                                                                                            \
    int32_t *raw = r->raw;                                                                     \
    double *val = r->value;                                                                    \
    uint8_t *mis = r->missing;                                                                 \
    for (size_t f = 0; f < n; f++, p += r->rec, raw += na, val += na, mis += na) {             \
      const uint8_t *v = p + 8;                                                                \
      for (unsigned a = 0; a < na; a++, v += WIDTH) {                                          \
        MISSING_TEST;                                                                          \
        mis[a] = m;                                                                            \
        raw[a] = m ? 0 : RAW_OF;                                                               \
        val[a] = m ? 0.0 : r->ga[a] * (double)x + r->gb[a];                                    \
      }                                                                                        \
    }                                                                                          \
  }
DECODE_ANALOG(int16, 2, int16_t x = (int16_t)rd16(v); bool m = x == INT16_MIN, x)
DECODE_ANALOG(int32, 4, int32_t x = (int32_t)rd32(v); bool m = x == INT32_MIN, x)
DECODE_ANALOG(float32, 4, uint32_t u = rd32(v); float x; memcpy(&x, &u, sizeof x); bool m = !isfinite(x), 0)

static int next_binary(struct ingest_ct_reader *r, size_t n, char *msg, size_t cap)
{
  const struct ingest_ct_cfg *cfg = r->cfg;
  const unsigned na = cfg->na;
  const size_t rec = r->rec, nw = r->nw;
  const uint8_t *p = r->p + r->pos;
  const size_t width = cfg->ft == INGEST_CT_BINARY ? 2 : 4;
  if (cfg->ft == INGEST_CT_BINARY) decode_int16(r, p, n, na);
  else if (cfg->ft == INGEST_CT_BINARY32) decode_int32(r, p, n, na);
  else decode_float32(r, p, n, na);
  if (cfg->nrates == 0) {
    p = r->p + r->pos;
    for (size_t f = 0; f < n; f++, p += rec) {
      uint32_t ts = rd32(p + 4);
      if (ts == 0xFFFFFFFFu) {
        ingest__msg(msg, cap, "%s: sample %llu: missing timestamp (nrates is 0)", r->name,
                    (unsigned long long)(r->k + f + 1));
        return INGEST_ESYNTAX;
      }
      r->t_us[f] = (int64_t)llround(ts_to_us(cfg, (double)ts));
    }
  }
  if (nw) {
    p = r->p + r->pos + 8 + width * na;
    for (size_t f = 0; f < n; f++, p += rec)
      for (size_t w = 0; w < nw; w++) r->digital[f * nw + w] = rd16(p + 2 * w);
  }
  r->pos += n * rec;
  if (cfg->ft == INGEST_CT_FLOAT32) r->ints = false;
  return 0;
}

static bool is_int_text(const char *s)
{
  if (*s == '-' || *s == '+') s++;
  if (!*s) return false;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return false;
  return true;
}

/* One ASCII line (NUL-terminated copy in line) into frame f of the block. */
static int ascii_line(struct ingest_ct_reader *r, char *line, size_t f, char *msg, size_t cap)
{
  const struct ingest_ct_cfg *cfg = r->cfg;
  const unsigned nf_want = 2 + cfg->na + cfg->nd;
  const unsigned lineno = r->lineno;
  unsigned fi = 0;
  char *s = line;
  if (r->nw) memset(r->digital + f * r->nw, 0, r->nw * sizeof(uint16_t));
  for (;;) {
    char *c = strchr(s, ',');
    if (c) *c = 0;
    char *fl = s;
    while (*fl == ' ' || *fl == '\t') fl++;
    size_t n = strlen(fl);
    while (n && (fl[n - 1] == ' ' || fl[n - 1] == '\t' || fl[n - 1] == '\r')) fl[--n] = 0;
    if (fi >= nf_want) {
      ingest__msg(msg, cap, "%s:%u: %u fields, expected %u", r->name, lineno, fi + 1, nf_want);
      return INGEST_ESYNTAX;
    }
    char *ep;
    if (fi == 0) {
      if (!*fl || !is_int_text(fl)) {
        ingest__msg(msg, cap, "%s:%u: field 1 (n): not a sample number", r->name, lineno);
        return INGEST_ESYNTAX;
      }
    } else if (fi == 1) {
      if (*fl) {
        errno = 0;
        double ts = strtod(fl, &ep);
        if (*ep || errno == ERANGE || !isfinite(ts)) {
          ingest__msg(msg, cap, "%s:%u: field 2 (timestamp): not a number", r->name, lineno);
          return INGEST_ESYNTAX;
        }
        r->t_us[f] = (int64_t)llround(ts_to_us(cfg, ts));
      } else if (cfg->nrates == 0) {
        ingest__msg(msg, cap, "%s:%u: field 2 (timestamp): missing (nrates is 0)", r->name, lineno);
        return INGEST_ESYNTAX;
      }
    } else if (fi < 2 + cfg->na) {
      unsigned a = fi - 2;
      size_t idx = f * cfg->na + a;
      errno = 0;
      double raw = *fl ? strtod(fl, &ep) : NAN;
      if (!*fl || *ep || errno == ERANGE || !isfinite(raw)) {
        ingest__msg(msg, cap, "%s:%u: field %u (analog %u '%s'): not a number", r->name, lineno,
                    fi + 1, a + 1, cfg->an[a].id);
        return INGEST_ESYNTAX;
      }
      r->missing[idx] = raw == 99999.0;
      r->raw[idx] = 0;
      if (r->missing[idx]) {
        r->value[idx] = 0.0;
      } else {
        if (!is_int_text(fl) || fabs(raw) > 2147483647.0) r->ints = false;
        else r->raw[idx] = (int32_t)raw;
        r->value[idx] = cfg->an[a].a * raw + cfg->an[a].b;
      }
    } else {
      unsigned g = fi - 2 - cfg->na;
      if (strcmp(fl, "0") != 0 && strcmp(fl, "1") != 0) {
        ingest__msg(msg, cap, "%s:%u: field %u (status %u '%s'): expected 0 or 1", r->name,
                    lineno, fi + 1, g + 1, cfg->dg[g].id);
        return INGEST_ESYNTAX;
      }
      if (fl[0] == '1') r->digital[f * r->nw + g / 16] |= (uint16_t)(1u << (g % 16));
    }
    fi++;
    if (!c) break;
    s = c + 1;
  }
  if (fi != nf_want) {
    ingest__msg(msg, cap, "%s:%u: %u fields, expected %u", r->name, lineno, fi, nf_want);
    return INGEST_ESYNTAX;
  }
  return 0;
}

static int next_ascii(struct ingest_ct_reader *r, size_t n, char *msg, size_t cap)
{
  char stack[4096];
  char *line = stack;
  size_t line_cap = sizeof stack;
  int rc = 0;
  size_t f = 0;
  const uint8_t *end = r->p + r->len;
  while (f < n && r->pos < r->len) {
    const uint8_t *q = r->p + r->pos;
    const uint8_t *e = memchr(q, '\n', (size_t)(end - q));
    const uint8_t *le = e ? e : end;
    size_t len = (size_t)(le - q);
    r->lineno++;
    r->pos = e ? (size_t)(e + 1 - r->p) : r->len;
    if (blank_line(q, le)) continue;
    if (len + 1 > line_cap) {
      char *nl = malloc(len + 1);
      if (!nl) { ingest__msg(msg, cap, "%s: out of memory", r->name); rc = -ENOMEM; break; }
      if (line != stack) free(line);
      line = nl;
      line_cap = len + 1;
    }
    memcpy(line, q, len);
    line[len] = 0;
    if (memchr(line, 0, len)) {
      ingest__msg(msg, cap, "%s:%u: NUL byte in line", r->name, r->lineno);
      rc = INGEST_ESYNTAX;
      break;
    }
    if ((rc = ascii_line(r, line, f, msg, cap))) break;
    f++;
  }
  if (line != stack) free(line);
  return rc;
}

/* Release the mapped pages wholly before pos (clean file pages: re-read on demand). */
static void drop_consumed(struct ingest_ct_reader *r)
{
  if (!r->map_base) return;
  size_t done = (size_t)((r->p + r->pos) - r->map_base);
  const size_t chunk = (size_t)4 << 20;
  if (done < r->dropped + chunk) return;
  long pg = sysconf(_SC_PAGESIZE);
  size_t upto = done & ~(size_t)(pg - 1);
  if (upto > r->dropped) {
    madvise((void *)(uintptr_t)(r->map_base + r->dropped), upto - r->dropped, MADV_DONTNEED);
    r->dropped = upto;
  }
}

int ingest_ct_reader_next(struct ingest_ct_reader *r, struct ingest_ct_block *b, char *msg,
                          size_t cap)
{
  memset(b, 0, sizeof *b);
  uint64_t left = r->cfg->total_samples - r->k;
  size_t n = left < INGEST_CT_BLOCK ? (size_t)left : INGEST_CT_BLOCK;
  if (n == 0) return 0;
  int rc = r->cfg->ft == INGEST_CT_ASCII ? next_ascii(r, n, msg, cap) : next_binary(r, n, msg, cap);
  if (rc) return rc;
  if (r->cfg->nrates) rate_times(r, r->k, n);
  b->first = r->k;
  b->n = n;
  b->raw = r->raw;
  b->value = r->value;
  b->missing = r->missing;
  b->t_us = r->t_us;
  b->digital = r->nw ? r->digital : NULL;
  r->k += n;
  drop_consumed(r);
  return (int)n;
}
