/*
 * comtrade_write.c — writes a capture as COMTRADE 2013 (IEEE C37.111-2013): OUT.cfg (ASCII,
 * CR/LF) + OUT.dat in BINARY (int16) or BINARY32 (int32).
 *
 * Choices made for standard readers (python-comtrade among them): line 1 has exactly three
 * fields; counts carry their A/D suffix; every analog line has 13 fields; one sampling rate;
 * time stamps always carry 6 fractional digits (µs time base), timemult 1; sample numbers
 * start at 1 and the .dat timestamps are n·10⁶/fs µs (also valid when a reader ignores them).
 * Values are a·code + b with the channel's own scale/offset. For BINARY, codes that do not
 * fit int16 are divided by a power of two (rounded) and a is multiplied by it — the file says
 * exactly what it holds; the missing-value code −32768 is never written. The time of frame 0
 * is t0_ns read as nanoseconds since the Unix epoch, written as UTC (time_code 0).
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void civil(int64_t days, int *y, int *m, int *d)
{
  /* days since 1970-01-01 → y/m/d (H. Hinnant's algorithm) */
  days += 719468;
  int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  int64_t doe = days - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t yy = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t dd = doy - (153 * mp + 2) / 5 + 1;
  int64_t mm = mp < 10 ? mp + 3 : mp - 9;
  *y = (int)(yy + (mm <= 2));
  *m = (int)mm;
  *d = (int)dd;
}

static void fmt_time(int64_t ns, char *out, size_t cap)
{
  int64_t s = ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
  int64_t frac_ns = ns - s * 1000000000;
  int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
  int64_t sod = s - days * 86400;
  int y, m, d;
  civil(days, &y, &m, &d);
  snprintf(out, cap, "%02d/%02d/%04d,%02d:%02d:%02d.%06lld", d, m, y, (int)(sod / 3600),
           (int)(sod / 60 % 60), (int)(sod % 60), (long long)(frac_ns / 1000));
}

static void clean(char *dst, size_t cap, const char *src)
{
  /* no commas or line breaks inside fields */
  size_t k = 0;
  for (; src[k] && k + 1 < cap; k++)
    dst[k] = (src[k] == ',' || src[k] == '\r' || src[k] == '\n') ? '_' : src[k];
  dst[k] = 0;
}

int ingest_ct_write(const char *base, const struct ingest_capture_view *c, int ft,
                    const char *station, const char *device, char *msg, size_t msg_cap)
{
  if (ft != INGEST_CT_BINARY && ft != INGEST_CT_BINARY32) return -EINVAL;
  if (c->nch == 0 || c->nch > INGEST_CHANNELS_MAX || !(c->sample_rate_hz > 0)) return -EINVAL;
  size_t bl = strlen(base);
  char *path = malloc(bl + 5);
  if (!path) return -ENOMEM;
  int shift[INGEST_CHANNELS_MAX];
  for (unsigned ch = 0; ch < c->nch; ch++) {
    shift[ch] = 0;
    if (ft != INGEST_CT_BINARY) continue;
    int64_t mx = 0;
    const int32_t *x = c->codes + (size_t)ch * c->nframes;
    for (uint32_t n = 0; n < c->nframes; n++) {
      int64_t a = x[n] < 0 ? -(int64_t)x[n] : x[n];
      if (a > mx) mx = a;
    }
    while ((mx + (1ll << shift[ch]) / 2) >> shift[ch] > 32767) shift[ch]++;
  }
  /* .cfg */
  memcpy(path, base, bl);
  strcpy(path + bl, ".cfg");
  FILE *f = fopen(path, "wb");
  if (!f) {
    int e = errno;
    ingest__msg(msg, msg_cap, "%s: %s", path, strerror(e));
    free(path);
    return -e;
  }
  char s1[INGEST_NAME_MAX], s2[INGEST_NAME_MAX];
  clean(s1, sizeof s1, station ? station : "hems");
  clean(s2, sizeof s2, device ? device : "hems");
  fprintf(f, "%s,%s,2013\r\n", s1, s2);
  fprintf(f, "%u,%uA,0D\r\n", c->nch, c->nch);
  for (unsigned ch = 0; ch < c->nch; ch++) {
    const struct ingest_channel_cfg *cc = &c->ch[ch];
    char id[INGEST_NAME_MAX], ph[INGEST_PHASE_MAX];
    clean(id, sizeof id, cc->name);
    clean(ph, sizeof ph, cc->phase);
    double a = cc->scale * ldexp(1.0, shift[ch]);
    long long lim = ft == INGEST_CT_BINARY ? 32767 : 2147483647;
    fprintf(f, "%u,%s,%s,,%s,%.17g,%.17g,0,%lld,%lld,1,1,P\r\n", ch + 1, id, ph,
            cc->kind == INGEST_KIND_VOLTAGE ? "V" : "A", a, cc->offset, -lim, lim);
  }
  fprintf(f, "%.6g\r\n", c->nominal_hz > 0 ? c->nominal_hz : 50.0);
  fprintf(f, "1\r\n%.17g,%u\r\n", c->sample_rate_hz, c->nframes);
  char t0[64], tt[64];
  fmt_time(c->t0_ns, t0, sizeof t0);
  fmt_time(c->t0_ns + (int64_t)llround(c->trigger_frame * 1e9 / c->sample_rate_hz), tt, sizeof tt);
  fprintf(f, "%s\r\n%s\r\n", t0, tt);
  fprintf(f, "%s\r\n1\r\n0,0\r\n0,0\r\n", ft == INGEST_CT_BINARY ? "BINARY" : "BINARY32");
  int werr = ferror(f);
  if (fclose(f) != 0 || werr) {
    ingest__msg(msg, msg_cap, "%s: write error", path);
    free(path);
    return -EIO;
  }
  /* .dat */
  strcpy(path + bl, ".dat");
  f = fopen(path, "wb");
  if (!f) {
    int e = errno;
    ingest__msg(msg, msg_cap, "%s: %s", path, strerror(e));
    free(path);
    return -e;
  }
  size_t vs = ft == INGEST_CT_BINARY ? 2 : 4;
  size_t rec = 8 + vs * c->nch;
  uint8_t r[8 + 4 * INGEST_CHANNELS_MAX];
  for (uint32_t n = 0; n < c->nframes; n++) {
    uint32_t sn = n + 1;
    uint32_t ts = (uint32_t)llround(n * 1e6 / c->sample_rate_hz);
    for (int k = 0; k < 4; k++) { r[k] = (uint8_t)(sn >> (8 * k)); r[4 + k] = (uint8_t)(ts >> (8 * k)); }
    for (unsigned ch = 0; ch < c->nch; ch++) {
      int64_t x = c->codes[(size_t)ch * c->nframes + n];
      uint8_t *p = r + 8 + vs * ch;
      if (ft == INGEST_CT_BINARY) {
        int64_t q = shift[ch] ? (x + ((int64_t)1 << (shift[ch] - 1))) >> shift[ch] : x;
        if (q > 32767) q = 32767;
        if (q < -32767) q = -32767;
        uint16_t u = (uint16_t)(int16_t)q;
        p[0] = (uint8_t)u;
        p[1] = (uint8_t)(u >> 8);
      } else {
        if (x == INT32_MIN) x = INT32_MIN + 1;
        uint32_t u = (uint32_t)(int32_t)x;
        for (int k = 0; k < 4; k++) p[k] = (uint8_t)(u >> (8 * k));
      }
    }
    if (fwrite(r, 1, rec, f) != rec) break;
  }
  int werr2 = ferror(f);
  if (fclose(f) != 0 || werr2) {
    ingest__msg(msg, msg_cap, "%s: write error", path);
    free(path);
    return -EIO;
  }
  free(path);
  return 0;
}
