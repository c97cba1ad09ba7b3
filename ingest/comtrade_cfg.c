/*
 * comtrade_cfg.c — parser of COMTRADE configuration files (IEEE C37.111-1991/-1999/-2013).
 *
 * Layout (one item per line, comma-separated; CR/LF or LF line ends):
 *   station_name,rec_dev_id[,rev_year]        rev_year absent ⇒ 1991
 *   TT,##A,##D                                TT = A + D
 *   An,ch_id,ph,ccbm,uu,a,b,skew,min,max[,primary,secondary,PS]   × A (10 fields in 1991)
 *   Dn,ch_id,ph,ccbm,y  (or Dn,ch_id,y in 1991)                    × D
 *   lf
 *   nrates ; then max(nrates,1) lines samp,endsamp
 *   dd/mm/yyyy,hh:mm:ss.ssssss   first sample (1991: mm/dd/yy); 9 fractional digits ⇒ ns base
 *   dd/mm/yyyy,hh:mm:ss.ssssss   trigger
 *   ft                          ASCII | BINARY | BINARY32 | FLOAT32
 *   timemult                    (1999/2013)
 *   time_code,local_code        (2013)
 *   tmq_code,leapsec            (2013)
 * Every error names the file, the 1-based line, the field (1-based, with its meaning) and the
 * reason: "x.cfg:7: field 2 (time): missing fractional seconds". Bounded: at most
 * INGEST_CT_ANALOG_MAX analog, INGEST_CT_DIGITAL_MAX status channels, INGEST_CT_RATES_MAX rates.
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAXF 16

struct lines {
  const char *p, *end;
  unsigned lineno;
  char buf[1024];
  char *f[MAXF];
  unsigned nf;
  const char *name;
  char *msg;
  size_t cap;
};

static int err(struct lines *L, unsigned field, const char *what, const char *why)
{
  if (field)
    ingest__msg(L->msg, L->cap, "%s:%u: field %u (%s): %s", L->name, L->lineno, field, what, why);
  else
    ingest__msg(L->msg, L->cap, "%s:%u: %s", L->name, L->lineno, why);
  return INGEST_ESYNTAX;
}

static char *trim(char *s)
{
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
  return s;
}

/* Next line split into fields; returns 0, or INGEST_ESYNTAX at end of text / too long. */
static int next(struct lines *L, const char *what)
{
  if (L->p >= L->end) {
    L->lineno++;
    return err(L, 0, what, "unexpected end of file");
  }
  const char *nl = memchr(L->p, '\n', (size_t)(L->end - L->p));
  size_t n = nl ? (size_t)(nl - L->p) : (size_t)(L->end - L->p);
  L->lineno++;
  if (n >= sizeof L->buf) return err(L, 0, what, "line too long");
  memcpy(L->buf, L->p, n);
  L->buf[n] = 0;
  if (memchr(L->buf, 0, n)) return err(L, 0, what, "NUL byte in line");
  L->p = nl ? nl + 1 : L->end;
  L->nf = 0;
  char *s = L->buf;
  for (;;) {
    char *c = strchr(s, ',');
    if (L->nf == MAXF) return err(L, 0, what, "too many fields");
    if (c) *c = 0;
    L->f[L->nf++] = trim(s);
    if (!c) break;
    s = c + 1;
  }
  return 0;
}

static int num(struct lines *L, unsigned i, const char *what, double *out)
{
  const char *s = L->f[i];
  if (!*s) return err(L, i + 1, what, "missing number");
  char *e;
  errno = 0;
  double v = strtod(s, &e);
  if (*e || errno == ERANGE || !isfinite(v)) return err(L, i + 1, what, "not a number");
  *out = v;
  return 0;
}

static int uint_field(struct lines *L, unsigned i, const char *what, uint64_t maxv,
                      uint64_t *out)
{
  const char *s = L->f[i];
  if (!*s) return err(L, i + 1, what, "missing number");
  for (const char *q = s; *q; q++)
    if (!isdigit((unsigned char)*q)) return err(L, i + 1, what, "not a non-negative integer");
  errno = 0;
  unsigned long long v = strtoull(s, NULL, 10);
  if (errno == ERANGE || v > maxv) return err(L, i + 1, what, "out of range");
  *out = v;
  return 0;
}

static int copy_text(struct lines *L, unsigned i, const char *what, char *dst, size_t cap)
{
  size_t n = strlen(L->f[i]);
  if (n >= cap) return err(L, i + 1, what, "too long");
  memcpy(dst, L->f[i], n + 1);
  return 0;
}

/* "nnX" count with a trailing letter (A or D) */
static int count_field(struct lines *L, unsigned i, char letter, const char *what, unsigned *out)
{
  char *s = L->f[i];
  size_t n = strlen(s);
  if (n < 2 || toupper((unsigned char)s[n - 1]) != letter)
    return err(L, i + 1, what, letter == 'A' ? "expected a count ending in A" :
                                               "expected a count ending in D");
  char tmp[32];
  if (n - 1 >= sizeof tmp) return err(L, i + 1, what, "too long");
  memcpy(tmp, s, n - 1);
  tmp[n - 1] = 0;
  char *save = L->f[i];
  L->f[i] = trim(tmp);
  uint64_t v;
  int rc = uint_field(L, i, what, 1000000, &v);
  L->f[i] = save;
  if (rc) return rc;
  *out = (unsigned)v;
  return 0;
}

static bool leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int date_time(struct lines *L, int rev, struct ingest_ct_time *t, bool *ns, const char *what)
{
  if (L->nf != 2) return err(L, 0, what, "expected 2 fields: date,time");
  int a, b, c;
  char x;
  const char *d = L->f[0];
  if (sscanf(d, "%d/%d/%d%c", &a, &b, &c, &x) != 3) return err(L, 1, "date", "expected dd/mm/yyyy");
  int day = a, mon = b, yr = c;
  if (rev == 1991) { mon = a; day = b; }
  if (yr < 100 && strlen(strrchr(d, '/') + 1) <= 2) yr += yr < 70 ? 2000 : 1900;
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mon < 1 || mon > 12) return err(L, 1, "date", "month out of range");
  int md = mdays[mon - 1] + (mon == 2 && leap(yr));
  if (day < 1 || day > md) return err(L, 1, "date", "day out of range");
  if (yr < 1900 || yr > 9999) return err(L, 1, "date", "year out of range");
  const char *s = L->f[1];
  int hh, mm, consumed = 0;
  if (sscanf(s, "%d:%d:%n", &hh, &mm, &consumed) != 2 || consumed == 0)
    return err(L, 2, "time", "expected hh:mm:ss.ssssss");
  if (hh < 0 || hh > 23 || mm < 0 || mm > 59) return err(L, 2, "time", "hour or minute out of range");
  const char *sec = s + consumed;
  const char *dot = strchr(sec, '.');
  if (!dot) return err(L, 2, "time", "missing fractional seconds");
  for (const char *q = sec; q < dot; q++)
    if (!isdigit((unsigned char)*q)) return err(L, 2, "time", "seconds not a number");
  if (dot == sec || dot - sec > 2) return err(L, 2, "time", "seconds not a number");
  int ss = atoi(sec);
  if (ss > 60) return err(L, 2, "time", "seconds out of range");
  const char *fr = dot + 1;
  size_t nfr = strlen(fr);
  if (nfr == 0) return err(L, 2, "time", "missing fractional seconds");
  if (nfr > 9) return err(L, 2, "time", "more than 9 fractional digits");
  int64_t frac = 0;
  for (size_t k = 0; k < 9; k++) {
    int dgt = 0;
    if (k < nfr) {
      if (!isdigit((unsigned char)fr[k])) return err(L, 2, "time", "fraction not a number");
      dgt = fr[k] - '0';
    }
    frac = frac * 10 + dgt;
  }
  t->year = yr; t->month = mon; t->day = day; t->hour = hh; t->minute = mm;
  t->sec_ns = (int64_t)ss * 1000000000 + frac;
  if (nfr > 6) *ns = true;
  return 0;
}

void ingest_ct_cfg_free(struct ingest_ct_cfg *cfg)
{
  if (!cfg) return;
  free(cfg->an);
  free(cfg->dg);
  cfg->an = NULL;
  cfg->dg = NULL;
}

int ingest_ct_cfg_parse(const char *text, size_t len, const char *name,
                        struct ingest_ct_cfg *out, char *msg, size_t msg_cap)
{
  memset(out, 0, sizeof *out);
  out->dat_bytes = -1;
  if (msg && msg_cap) msg[0] = 0;
  struct lines L = {.p = text, .end = text + len, .name = name ? name : "cfg", .msg = msg,
                    .cap = msg_cap};
  int rc;
  uint64_t u;
  double d;
  if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
      (unsigned char)text[2] == 0xBF)
    L.p += 3; /* UTF-8 BOM (2013 allows UTF-8) */
#define TRY(x) do { if ((rc = (x)) != 0) goto fail; } while (0)
  /* 1 */
  TRY(next(&L, "station"));
  if (L.nf < 2 || L.nf > 3) { rc = err(&L, 0, "", "expected station_name,rec_dev_id,rev_year"); goto fail; }
  TRY(copy_text(&L, 0, "station_name", out->station, sizeof out->station));
  TRY(copy_text(&L, 1, "rec_dev_id", out->device, sizeof out->device));
  out->rev_year = 1991;
  if (L.nf == 3 && L.f[2][0]) {
    TRY(uint_field(&L, 2, "rev_year", 9999, &u));
    if (u != 1991 && u != 1999 && u != 2013) { rc = err(&L, 3, "rev_year", "not 1991, 1999 or 2013"); goto fail; }
    out->rev_year = (int)u;
  }
  /* 2 */
  TRY(next(&L, "counts"));
  if (L.nf != 3) { rc = err(&L, 0, "", "expected TT,##A,##D"); goto fail; }
  TRY(uint_field(&L, 0, "TT", 1000000, &u));
  TRY(count_field(&L, 1, 'A', "##A", &out->na));
  TRY(count_field(&L, 2, 'D', "##D", &out->nd));
  if (u != (uint64_t)out->na + out->nd) { rc = err(&L, 1, "TT", "total is not the sum of analog and status counts"); goto fail; }
  if (out->na > INGEST_CT_ANALOG_MAX) { rc = err(&L, 2, "##A", "too many analog channels"); rc = INGEST_ELIMIT; goto fail; }
  if (out->nd > INGEST_CT_DIGITAL_MAX) { rc = err(&L, 3, "##D", "too many status channels"); rc = INGEST_ELIMIT; goto fail; }
  out->an = calloc(out->na ? out->na : 1, sizeof *out->an);
  out->dg = calloc(out->nd ? out->nd : 1, sizeof *out->dg);
  if (!out->an || !out->dg) { rc = -ENOMEM; ingest__msg(msg, msg_cap, "%s: out of memory", L.name); goto fail; }
  /* 3 analog */
  for (unsigned k = 0; k < out->na; k++) {
    struct ingest_ct_analog *a = &out->an[k];
    TRY(next(&L, "analog channel"));
    if (L.nf != 10 && L.nf != 13) { rc = err(&L, 0, "", "analog channel needs 10 or 13 fields"); goto fail; }
    TRY(uint_field(&L, 0, "An", 1000000, &u));
    if (u != k + 1) { rc = err(&L, 1, "An", "channel index out of sequence"); goto fail; }
    a->index = (unsigned)u;
    TRY(copy_text(&L, 1, "ch_id", a->id, sizeof a->id));
    TRY(copy_text(&L, 2, "ph", a->ph, sizeof a->ph));
    TRY(copy_text(&L, 3, "ccbm", a->ccbm, sizeof a->ccbm));
    TRY(copy_text(&L, 4, "uu", a->uu, sizeof a->uu));
    TRY(num(&L, 5, "a", &a->a));
    TRY(num(&L, 6, "b", &a->b));
    if (L.f[7][0]) TRY(num(&L, 7, "skew", &a->skew_us));
    TRY(num(&L, 8, "min", &a->min));
    TRY(num(&L, 9, "max", &a->max));
    a->primary = a->secondary = 1.0;
    a->ps = 'P';
    if (L.nf == 13) {
      TRY(num(&L, 10, "primary", &a->primary));
      TRY(num(&L, 11, "secondary", &a->secondary));
      char ps = (char)toupper((unsigned char)L.f[12][0]);
      if ((ps != 'P' && ps != 'S') || L.f[12][1]) { rc = err(&L, 13, "PS", "expected P or S"); goto fail; }
      a->ps = ps;
    }
  }
  /* 4 status */
  for (unsigned k = 0; k < out->nd; k++) {
    struct ingest_ct_digital *g = &out->dg[k];
    TRY(next(&L, "status channel"));
    if (L.nf != 5 && L.nf != 3) { rc = err(&L, 0, "", "status channel needs 5 (or 3) fields"); goto fail; }
    TRY(uint_field(&L, 0, "Dn", 1000000, &u));
    if (u != k + 1) { rc = err(&L, 1, "Dn", "channel index out of sequence"); goto fail; }
    g->index = (unsigned)u;
    TRY(copy_text(&L, 1, "ch_id", g->id, sizeof g->id));
    unsigned yi = L.nf == 5 ? 4 : 2;
    if (L.nf == 5) {
      TRY(copy_text(&L, 2, "ph", g->ph, sizeof g->ph));
      TRY(copy_text(&L, 3, "ccbm", g->ccbm, sizeof g->ccbm));
    }
    TRY(uint_field(&L, yi, "y", 1, &u));
    g->y = (int)u;
  }
  /* 5 lf */
  TRY(next(&L, "lf"));
  if (L.nf != 1) { rc = err(&L, 0, "", "expected the line frequency"); goto fail; }
  TRY(num(&L, 0, "lf", &out->lf));
  if (out->lf < 0) { rc = err(&L, 1, "lf", "negative"); goto fail; }
  /* 6 rates */
  TRY(next(&L, "nrates"));
  if (L.nf != 1) { rc = err(&L, 0, "", "expected nrates"); goto fail; }
  TRY(uint_field(&L, 0, "nrates", 1000000, &u));
  if (u > INGEST_CT_RATES_MAX) { rc = err(&L, 1, "nrates", "too many sampling rates"); rc = INGEST_ELIMIT; goto fail; }
  out->nrates = (unsigned)u;
  unsigned nr = out->nrates ? out->nrates : 1;
  uint64_t prev_end = 0;
  for (unsigned k = 0; k < nr; k++) {
    TRY(next(&L, "samp,endsamp"));
    if (L.nf != 2) { rc = err(&L, 0, "", "expected samp,endsamp"); goto fail; }
    TRY(num(&L, 0, "samp", &d));
    TRY(uint_field(&L, 1, "endsamp", 1000000000000ull, &u));
    if (out->nrates) {
      if (!(d > 0)) { rc = err(&L, 1, "samp", "sampling rate must be positive"); goto fail; }
      if (u <= prev_end) { rc = err(&L, 2, "endsamp", "not increasing"); goto fail; }
    }
    out->samp[k] = d;
    out->endsamp[k] = u;
    prev_end = u;
  }
  out->total_samples = out->endsamp[nr - 1];
  /* 7, 8 */
  TRY(next(&L, "start time"));
  TRY(date_time(&L, out->rev_year, &out->start, &out->ns_timebase, "start time"));
  bool ns2 = false;
  TRY(next(&L, "trigger time"));
  TRY(date_time(&L, out->rev_year, &out->trigger, &ns2, "trigger time"));
  out->ns_timebase = out->ns_timebase || ns2;
  /* 9 */
  TRY(next(&L, "ft"));
  if (L.nf != 1) { rc = err(&L, 0, "", "expected the file type"); goto fail; }
  if (!strcasecmp(L.f[0], "ASCII")) out->ft = INGEST_CT_ASCII;
  else if (!strcasecmp(L.f[0], "BINARY")) out->ft = INGEST_CT_BINARY;
  else if (!strcasecmp(L.f[0], "BINARY32")) out->ft = INGEST_CT_BINARY32;
  else if (!strcasecmp(L.f[0], "FLOAT32")) out->ft = INGEST_CT_FLOAT32;
  else { rc = err(&L, 1, "ft", "expected ASCII, BINARY, BINARY32 or FLOAT32"); goto fail; }
  if (out->rev_year < 2013 && out->ft > INGEST_CT_BINARY) {
    rc = err(&L, 1, "ft", "BINARY32/FLOAT32 need rev_year 2013"); goto fail;
  }
  /* 10: timemult (absent in 1991) */
  out->timemult = 1.0;
  bool blank = L.p >= L.end;
  if (!blank) {
    TRY(next(&L, "timemult"));
    if (L.nf == 1 && L.f[0][0]) {
      TRY(num(&L, 0, "timemult", &out->timemult));
      if (!(out->timemult > 0)) { rc = err(&L, 1, "timemult", "must be positive"); goto fail; }
    } else if (!(L.nf == 1 && !L.f[0][0])) {
      rc = err(&L, 0, "", "expected timemult"); goto fail;
    }
  } else if (out->rev_year >= 1999) {
    L.lineno++;
    rc = err(&L, 0, "", "missing timemult line"); goto fail;
  }
  /* 11, 12: 2013 */
  if (out->rev_year == 2013 && L.p < L.end) {
    TRY(next(&L, "time_code,local_code"));
    if (L.nf == 2) {
      TRY(copy_text(&L, 0, "time_code", out->time_code, sizeof out->time_code));
      TRY(copy_text(&L, 1, "local_code", out->local_code, sizeof out->local_code));
      /* [+|-]h[hmm] or x|xhmm: "+1", "-5h30", "0" */
      const char *s = out->time_code;
      int sign = 1, h = 0, m = 0;
      if (*s == '+' || *s == '-') { sign = *s == '-' ? -1 : 1; s++; }
      if (!strcasecmp(s, "x") || !*s) { h = 0; }
      else {
        char *e;
        long hv = strtol(s, &e, 10);
        if (e == s || hv > 14) { rc = err(&L, 1, "time_code", "expected an offset like +1 or -5h30"); goto fail; }
        h = (int)hv;
        if (*e == 'h' || *e == 'H') {
          long mv = strtol(e + 1, &e, 10);
          if (mv < 0 || mv > 59) { rc = err(&L, 1, "time_code", "minutes out of range"); goto fail; }
          m = (int)mv;
        }
        if (*e) { rc = err(&L, 1, "time_code", "expected an offset like +1 or -5h30"); goto fail; }
      }
      out->utc_offset_min = sign * (h * 60 + m);
    } else if (!(L.nf == 1 && !L.f[0][0])) {
      rc = err(&L, 0, "", "expected time_code,local_code"); goto fail;
    }
    if (L.p < L.end) {
      TRY(next(&L, "tmq_code,leapsec"));
      if (L.nf == 2) {
        TRY(copy_text(&L, 0, "tmq_code", out->tmq_code, sizeof out->tmq_code));
        if (L.f[1][0]) {
          TRY(uint_field(&L, 1, "leapsec", 3, &u));
          out->leapsec = (int)u;
        }
      } else if (!(L.nf == 1 && !L.f[0][0])) {
        rc = err(&L, 0, "", "expected tmq_code,leapsec"); goto fail;
      }
    }
  }
  return 0;
#undef TRY
fail:
  ingest_ct_cfg_free(out);
  return rc;
}
