/*
 * comtrade_synth.c — a synthetic three-phase COMTRADE 2013 recording of any length, for
 * measuring `hems analyze` (`hems bench analyze`, tests/ingest/gen_comtrade): VA VB VC at
 * 230 V rms with a 0.5 % 5th harmonic and IA IB IC at 10 A rms, PF 0.9 lagging, ft BINARY
 * (int16; 0.02 V and 0.001 A per code) or BINARY32 (1e-4 V, 1e-6 A per code). Written in
 * blocks of 4096 samples, so memory does not grow with the length. The samples are the
 * analytic waveform rounded to the code, so any reader's RMS can be checked against 230 V.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ingest_ct_synth(const char *base, const struct ingest_ct_synth_spec *s, char *msg, size_t cap)
{
  const double fs = s->fs > 0 ? s->fs : 8000, lf = s->lf > 0 ? s->lf : 50;
  const bool b32 = s->binary32;
  const uint64_t ns = (uint64_t)llround(s->seconds * fs);
  const char *start = s->start ? s->start : "04/12/2026,12:00:00.000000";
  const char ps = s->ps ? s->ps : 'P';
  const double prim = s->primary > 0 ? s->primary : 1, sec = s->secondary > 0 ? s->secondary : 1;
  char p[4096];
  snprintf(p, sizeof p, "%s.cfg", base);
  FILE *c = fopen(p, "wb");
  if (!c) { ingest__msg(msg, cap, "%s: %s", p, strerror(errno)); return -errno; }
  const double va = b32 ? 1e-4 : 0.02, ia = b32 ? 1e-6 : 0.001;
  fprintf(c, "gen,hems-test,2013\r\n6,6A,0D\r\n");
  for (int k = 0; k < 3; k++)
    fprintf(c, "%d,V%c,%c,,V,%.9g,0,0,-32767,32767,%g,%g,%c\r\n", k + 1, 'A' + k, 'A' + k, va, prim, sec, ps);
  for (int k = 0; k < 3; k++)
    fprintf(c, "%d,I%c,%c,,A,%.9g,0,0,-32767,32767,1,1,P\r\n", k + 4, 'A' + k, 'A' + k, ia);
  fprintf(c, "%g\r\n1\r\n%g,%llu\r\n%s\r\n%s\r\n%s\r\n1\r\n0,0\r\n0,0\r\n", lf, fs, (unsigned long long)ns,
          start, start, b32 ? "BINARY32" : "BINARY");
  if (fclose(c)) { ingest__msg(msg, cap, "%s: write failed", p); return -EIO; }
  snprintf(p, sizeof p, "%s.dat", base);
  FILE *d = fopen(p, "wb");
  if (!d) { ingest__msg(msg, cap, "%s: %s", p, strerror(errno)); return -errno; }
  const size_t rec = 8 + 6 * (b32 ? 4 : 2);
  unsigned char *buf = malloc(rec * 4096);
  if (!buf) { fclose(d); ingest__msg(msg, cap, "out of memory"); return -ENOMEM; }
  int rc = 0;
  for (uint64_t n0 = 0; n0 < ns && !rc; n0 += 4096) {
    size_t nb = ns - n0 < 4096 ? (size_t)(ns - n0) : 4096;
    for (size_t f = 0; f < nb; f++) {
      uint64_t n = n0 + f;
      double t = (double)n / fs, w = 2 * M_PI * lf * t;
      unsigned char *r = buf + f * rec;
      uint32_t sn = (uint32_t)(n + 1), ts = (uint32_t)llround(t * 1e6);
      memcpy(r, &sn, 4);
      memcpy(r + 4, &ts, 4);
      double env = t < s->outage_s ? 0.0 : 1.0;
      for (int k = 0; k < 6; k++) {
        double th = w - 2 * M_PI / 3 * (k % 3), x;
        if (k < 3) x = env * 230 * M_SQRT2 * (sin(th) + 0.005 * sin(5 * th)) / va;
        else x = env * 10 * M_SQRT2 * sin(th - acos(0.9)) / ia;
        if (b32) { int32_t v = (int32_t)lrint(x); memcpy(r + 8 + 4 * k, &v, 4); }
        else { int16_t v = (int16_t)lrint(x); memcpy(r + 8 + 2 * k, &v, 2); }
      }
    }
    if (fwrite(buf, rec, nb, d) != nb) rc = -EIO;
  }
  free(buf);
  if (fclose(d) || rc) { ingest__msg(msg, cap, "%s: write failed", p); return -EIO; }
  return 0;
}
