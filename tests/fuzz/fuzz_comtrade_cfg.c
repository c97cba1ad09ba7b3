/*
 * fuzz_comtrade_cfg.c — fuzz target of the COMTRADE .cfg parser (ingest_ct_cfg_parse).
 * Any input must give 0 or a negative code with a NUL-terminated message, never a crash or a
 * leak; a parsed configuration must be internally consistent (counts, rates).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct ingest_ct_cfg cfg;
  char msg[256];
  int rc = ingest_ct_cfg_parse((const char *)data, size, "fuzz.cfg", &cfg, msg, sizeof msg);
  if (memchr(msg, 0, sizeof msg) == NULL) abort();
  if (rc == 0) {
    if (cfg.na > INGEST_CT_ANALOG_MAX || cfg.nd > INGEST_CT_DIGITAL_MAX) abort();
    if (cfg.nrates > INGEST_CT_RATES_MAX) abort();
    if (cfg.ft < INGEST_CT_ASCII || cfg.ft > INGEST_CT_FLOAT32) abort();
    /* an empty .dat must be judged too */
    struct ingest_ct_data d;
    if (ingest_ct_dat_parse(&cfg, (const uint8_t *)"", 0, "fuzz.dat", &d, msg, sizeof msg) == 0)
      ingest_ct_data_free(&d);
    ingest_ct_cfg_free(&cfg);
  } else if (rc > 0) {
    abort();
  }
  return 0;
}
