/*
 * fuzz_comtrade_dat.c — fuzz target of the COMTRADE .dat parser (ingest_ct_dat_parse).
 * The first input byte picks one of eight fixed configurations (ft ASCII / BINARY / BINARY32 /
 * FLOAT32 × one rate or nrates 0, with analog and status channels); the rest is the .dat.
 * Sample counts of the configurations are small so the fuzzer reaches complete files.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1) return 0;
  static const char *fts[] = {"ASCII", "BINARY", "BINARY32", "FLOAT32"};
  unsigned sel = data[0] & 7;
  char text[1024];
  snprintf(text, sizeof text,
           "F,D,2013\r\n4,2A,2D\r\n"
           "1,VA,A,,V,0.5,1,0,-32767,32767,1,1,P\r\n2,IA,A,,A,0.01,0,0,-32767,32767,1,1,S\r\n"
           "1,T1,,,0\r\n2,T2,,,1\r\n50\r\n%s\r\n"
           "01/01/2026,00:00:00.000000\r\n01/01/2026,00:00:00.000000\r\n%s\r\n1\r\n0,0\r\n0,0\r\n",
           (sel & 4) ? "0\r\n0,3" : "1\r\n1000,3", fts[sel & 3]);
  struct ingest_ct_cfg cfg;
  char msg[256];
  if (ingest_ct_cfg_parse(text, strlen(text), "fuzz.cfg", &cfg, msg, sizeof msg) != 0) abort();
  struct ingest_ct_data d;
  int rc = ingest_ct_dat_parse(&cfg, data + 1, size - 1, "fuzz.dat", &d, msg, sizeof msg);
  if (memchr(msg, 0, sizeof msg) == NULL) abort();
  if (rc == 0) {
    if (d.nsamples != 3) abort();
    volatile double s = 0;
    for (size_t k = 0; k < 2 * d.nsamples; k++) s += d.value[k];
    (void)s;
    ingest_ct_data_free(&d);
  } else if (rc > 0) {
    abort();
  }
  ingest_ct_cfg_free(&cfg);
  return 0;
}
