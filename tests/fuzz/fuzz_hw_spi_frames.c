/*
 * fuzz_hw_spi_frames.c — fuzz target for the ADE9000 driver's decoding of MISO bytes: a
 * transport answers every transfer with fuzz bytes; init, the register path and the waveform
 * path must return 0 or an error code (CRC, missing/wrong chip, verify), never crash or loop.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hw.h"

struct feed { const uint8_t *d; size_t n, pos; };

static int f_configure(void *ctx, const struct hw_spi_config *cfg) { return 0; }
static int f_transfer(void *ctx, const struct hw_spi_xfer *x, unsigned n)
{
  struct feed *f = ctx;
  for (unsigned t = 0; t < n; t++)
    for (uint32_t k = 0; k < x[t].len; k++) {
      uint8_t b = f->n ? f->d[f->pos++ % f->n] : 0xFF;
      if (x[t].rx) x[t].rx[k] = b;
    }
  return 0;
}
static const struct hw_spi_ops ops = { f_configure, f_transfer };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct feed f = { data, size, 0 };
  struct hw_spi spi = { &ops, &f, 0, 0 };
  struct hw_ade9000 dev;
  struct hw_ade9000_config cfg = { .waveform = size & 1, .nominal_v = 230 };
  int r = hw_ade9000_init(&dev, &spi, &cfg);
  (void)r;
  dev.spi = &spi;
  struct hw_ade9000_metrics m;
  (void)hw_ade9000_read_metrics(&dev, &m);
  static struct hw_ade9000_wfb_half h;
  (void)hw_ade9000_wfb_poll(&dev, &h);
  return 0;
}
