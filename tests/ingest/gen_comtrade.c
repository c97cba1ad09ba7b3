/*
 * gen_comtrade.c — writes a synthetic three-phase COMTRADE 2013 recording for measuring
 * `hems analyze` (speed, memory) and for the analyze tests: VA VB VC (230 V, 0.5 % 5th
 * harmonic) and IA IB IC (10 A, PF 0.9), 8 kSPS by default, ft BINARY (int16, 2 V or 0.002 A
 * per code... scaled to the range) or BINARY32; written in blocks, so any length is fine.
 *   gen_comtrade OUT SECONDS [FS] [LF] [binary|binary32] [START dd/mm/yyyy,hh:mm:ss.ssssss]
 *                [PS] [PRIMARY] [SECONDARY] [OUTAGE_S]
 * PS P|S with the VT primary and secondary ratings written on the voltage lines; OUTAGE_S
 * seconds of zero voltage at the start (a grid outage recovering).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
  if (argc < 3) { fprintf(stderr, "usage: gen_comtrade OUT SECONDS [FS] [LF] [binary|binary32] [START] [PS PRIMARY SECONDARY] [OUTAGE_S]\n"); return 2; }
  const char *out = argv[1];
  double secs = atof(argv[2]), fs = argc > 3 ? atof(argv[3]) : 8000, lf = argc > 4 ? atof(argv[4]) : 50;
  int b32 = argc > 5 && strcmp(argv[5], "binary32") == 0;
  const char *start = argc > 6 ? argv[6] : "04/12/2026,12:00:00.000000";
  const char *ps = argc > 7 ? argv[7] : "P";
  double prim = argc > 8 ? atof(argv[8]) : 1, sec = argc > 9 ? atof(argv[9]) : 1;
  double outage = argc > 10 ? atof(argv[10]) : 0;
  uint64_t ns = (uint64_t)llround(secs * fs);
  char p[4096];
  snprintf(p, sizeof p, "%s.cfg", out);
  FILE *c = fopen(p, "wb");
  if (!c) { perror(p); return 3; }
  double va = b32 ? 1e-4 : 0.02, ia = b32 ? 1e-6 : 0.001;
  fprintf(c, "gen,hems-test,2013\r\n6,6A,0D\r\n");
  for (int k = 0; k < 3; k++)
    fprintf(c, "%d,V%c,%c,,V,%.9g,0,0,-32767,32767,%g,%g,%s\r\n", k + 1, 'A' + k, 'A' + k, va, prim, sec, ps);
  for (int k = 0; k < 3; k++)
    fprintf(c, "%d,I%c,%c,,A,%.9g,0,0,-32767,32767,1,1,P\r\n", k + 4, 'A' + k, 'A' + k, ia);
  fprintf(c, "%g\r\n1\r\n%g,%llu\r\n%s\r\n%s\r\n%s\r\n1\r\n0,0\r\n0,0\r\n", lf, fs, (unsigned long long)ns, start, start,
          b32 ? "BINARY32" : "BINARY");
  fclose(c);
  snprintf(p, sizeof p, "%s.dat", out);
  FILE *d = fopen(p, "wb");
  if (!d) { perror(p); return 3; }
  const size_t rec = 8 + 6 * (b32 ? 4 : 2);
  unsigned char *buf = malloc(rec * 4096);
  for (uint64_t n0 = 0; n0 < ns; n0 += 4096) {
    size_t nb = ns - n0 < 4096 ? (size_t)(ns - n0) : 4096;
    for (size_t f = 0; f < nb; f++) {
      uint64_t n = n0 + f;
      double t = (double)n / fs, w = 2 * M_PI * lf * t;
      unsigned char *r = buf + f * rec;
      uint32_t sn = (uint32_t)(n + 1), ts = (uint32_t)llround(t * 1e6);
      memcpy(r, &sn, 4);
      memcpy(r + 4, &ts, 4);
      double env = t < outage ? 0.0 : 1.0;
      for (int k = 0; k < 6; k++) {
        double th = w - 2 * M_PI / 3 * (k % 3), x;
        if (k < 3) x = env * 230 * M_SQRT2 * (sin(th) + 0.005 * sin(5 * th)) / va;
        else x = env * 10 * M_SQRT2 * sin(th - acos(0.9)) / ia;
        if (b32) { int32_t v = (int32_t)lrint(x); memcpy(r + 8 + 4 * k, &v, 4); }
        else { int16_t v = (int16_t)lrint(x); memcpy(r + 8 + 2 * k, &v, 2); }
      }
    }
    if (fwrite(buf, rec, nb, d) != nb) { perror(p); return 3; }
  }
  free(buf);
  return fclose(d) ? 3 : 0;
}
