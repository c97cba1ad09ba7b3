/*
 * test_ade9000_capture.c — triggered waveform captures on the ADE9000: byte-exact frames of the
 * arm / trigger / status / burst sequence from a scripted transport with its own CRC, then the
 * driver against the independent emulator: a dip-triggered capture (nominal before, dip after,
 * the trigger sample where the emulator declared the dip), a software-triggered capture, a
 * corrupted burst (bounded retry, then a fault) and the misuse errors.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hw.h"
#include "sim/emul.h"

static uint16_t test_crc(const uint8_t *d, size_t n) /* CRC-16/CCITT-FALSE, bit by bit */
{
  uint32_t reg = 0xFFFF;
  for (size_t i = 0; i < n; i++)
    for (int b = 7; b >= 0; b--) {
      uint32_t in = (d[i] >> b) & 1, top = (reg >> 15) & 1;
      reg = (reg << 1) & 0xFFFF;
      if (in ^ top) reg ^= 0x1021;
    }
  return (uint16_t)reg;
}

/* ---- scripted transport ---- */
#define MAXM 64
struct script {
  unsigned n;
  uint8_t tx[MAXM][8];
  unsigned nx[MAXM];
  uint32_t len[MAXM][2];
  bool tx_null[MAXM][2], rx_null[MAXM][2];
  uint32_t reg[0x1000];       /* echo of writes (read-back verify) */
  uint32_t status0, trg_stat; /* scripted answers */
  uint16_t last_crc;          /* CRC of the last read's MISO data, answered for CRC_SPI */
};
static int sc_configure(void *ctx, const struct hw_spi_config *cfg) { (void)ctx; (void)cfg; return 0; }
static int sc_transfer(void *ctx, const struct hw_spi_xfer *x, unsigned n)
{
  struct script *s = ctx;
  unsigned m = s->n < MAXM ? s->n : MAXM - 1;
  s->n++;
  s->nx[m] = n;
  memset(s->tx[m], 0, 8);
  for (unsigned t = 0; t < n && t < 2; t++) {
    s->len[m][t] = x[t].len;
    s->tx_null[m][t] = x[t].tx == NULL;
    s->rx_null[m][t] = x[t].rx == NULL;
  }
  for (unsigned k = 0; k < x[0].len && k < 8; k++) s->tx[m][k] = x[0].tx ? x[0].tx[k] : 0;
  uint16_t h = (uint16_t)(x[0].tx[0] << 8 | x[0].tx[1]);
  unsigned addr = h >> 4;
  bool rd = h & 8;
  if (!rd) {
    unsigned w = x[0].len - 2;
    uint32_t v = 0;
    for (unsigned i = 0; i < w; i++) v = v << 8 | x[0].tx[2 + i];
    s->reg[addr] = v;
    return 0;
  }
  if (addr >= 0x800) { /* burst: word at buffer index w is w * 16 */
    uint8_t *rx = x[1].rx;
    for (unsigned k = 0; k < x[1].len / 4; k++) {
      uint32_t v = (uint32_t)((addr - 0x800 + k) & 2047) * 16;
      rx[4 * k] = (uint8_t)(v >> 24); rx[4 * k + 1] = (uint8_t)(v >> 16);
      rx[4 * k + 2] = (uint8_t)(v >> 8); rx[4 * k + 3] = (uint8_t)v;
    }
    s->last_crc = test_crc(rx, x[1].len);
    return 0;
  }
  unsigned w = x[0].len - 4;
  uint32_t v = addr == 0x402 ? s->status0 : addr == 0x4A3 ? s->trg_stat :
               addr == 0x4A9 ? s->last_crc : s->reg[addr];
  uint8_t *rx = x[0].rx;
  memset(rx, 0, x[0].len);
  for (unsigned i = 0; i < w; i++) rx[2 + i] = (uint8_t)(v >> (8 * (w - 1 - i)));
  uint16_t c = test_crc(rx + 2, w);
  rx[2 + w] = (uint8_t)(c >> 8);
  rx[3 + w] = (uint8_t)c;
  s->last_crc = c;
  return 0;
}
static const struct hw_spi_ops sc_ops = { sc_configure, sc_transfer };

static void expect_frame(const struct script *s, unsigned m, const uint8_t *f, unsigned len)
{
  assert_int_equal(s->nx[m], 1);
  assert_int_equal(s->len[m][0], len);
  assert_memory_equal(s->tx[m], f, len < 8 ? len : 8);
}
static void expect_burst(const struct script *s, unsigned m, uint8_t h0, uint8_t h1, uint32_t bytes)
{
  const uint8_t hdr[2] = { h0, h1 };
  assert_int_equal(s->nx[m], 2);
  assert_int_equal(s->len[m][0], 2);
  assert_memory_equal(s->tx[m], hdr, 2);
  assert_true(s->rx_null[m][0]);  /* header transfer is TX only */
  assert_true(s->tx_null[m][1]);  /* data transfer is RX only */
  assert_int_equal(s->len[m][1], bytes);
  assert_true(bytes <= 4096);     /* fits spidev's default bufsiz */
  const uint8_t crc_spi[] = { 0x4A, 0x98, 0, 0, 0, 0 };
  expect_frame(s, m + 1, crc_spi, 6); /* then CRC_SPI */
}

static void frames_byte_exact(void **st)
{
  (void)st;
  struct script *s = calloc(1, sizeof *s);
  struct hw_spi spi = { &sc_ops, s, 0, 0 };
  struct hw_ade9000 dev = { .spi = &spi };
  struct hw_ade9000_capture_config cc = { .triggers = HW_ADE9000_TRIG_DIP, .pre_sets = 127 };
  assert_int_equal(hw_ade9000_capture_arm(&dev, &cc), 0);
  /* WFB_CFG stop (fixed rate, WF_MODE 2, WF_SRC 8 kSPS, all channels) + read-back */
  const uint8_t a0[] = { 0x4A, 0x00, 0x02, 0xA0 }, a0r[] = { 0x4A, 0x08, 0, 0, 0, 0 };
  const uint8_t a1[] = { 0x4A, 0x20, 0x00, 0x01 }, a1r[] = { 0x4A, 0x28, 0, 0, 0, 0 }; /* TRG_CFG DIP */
  const uint8_t a2[] = { 0x4A, 0x10, 0x80, 0x00 }, a2r[] = { 0x4A, 0x18, 0, 0, 0, 0 }; /* page 15 */
  const uint8_t a3[] = { 0x40, 0x20, 0x00, 0x03, 0x00, 0x00 };  /* clear WFB_TRIG_IRQ|PAGE_FULL */
  const uint8_t a4[] = { 0x4A, 0x00, 0x02, 0xB0 };               /* WF_CAP_EN 0 -> 1 */
  expect_frame(s, 0, a0, 4); expect_frame(s, 1, a0r, 6);
  expect_frame(s, 2, a1, 4); expect_frame(s, 3, a1r, 6);
  expect_frame(s, 4, a2, 4); expect_frame(s, 5, a2r, 6);
  expect_frame(s, 6, a3, 6);
  expect_frame(s, 7, a4, 4); expect_frame(s, 8, a0r, 6);
  assert_int_equal(s->n, 9);
  /* software trigger: TRIG_FORCE | DIP */
  assert_int_equal(hw_ade9000_capture_trigger(&dev), 0);
  const uint8_t t0[] = { 0x4A, 0x20, 0x04, 0x01 };
  expect_frame(s, 9, t0, 4);
  /* poll: not stopped yet */
  s->status0 = 0;
  assert_int_equal(hw_ade9000_capture_poll(&dev), HW_ENOTREADY);
  const uint8_t p0[] = { 0x40, 0x28, 0, 0, 0, 0, 0, 0 };
  expect_frame(s, 10, p0, 8);
  struct hw_ade9000_capture out = { .code = calloc(300, sizeof *out.code), .cap = 300 };
  assert_int_equal(hw_ade9000_capture_read(&dev, &out), HW_ENOTREADY);
  assert_int_equal(s->n, 11);    /* nothing sent */
  /* stopped (the buffer had wrapped): trigger address 0x407 = last word of set 128 */
  s->status0 = 0x00030000;
  s->trg_stat = 0x0407;
  assert_int_equal(hw_ade9000_capture_poll(&dev), 0);
  const uint8_t p1[] = { 0x4A, 0x38, 0, 0, 0, 0 }, p2[] = { 0x40, 0x20, 0x00, 0x03, 0x00, 0x00 };
  expect_frame(s, 11, p0, 8); expect_frame(s, 12, p1, 6); expect_frame(s, 13, p2, 6);
  /* read: sets 1..255 then 0 (stop = set 0), bursts from the oldest word, <= 1024 words each */
  assert_int_equal(hw_ade9000_capture_read(&dev, &out), 0);
  expect_burst(s, 14, 0x80, 0x88, 4096);       /* word 8 (set 1): 128 sets */
  expect_burst(s, 16, 0xC0, 0x88, 127 * 32);   /* word 1032 (set 129) to the end */
  expect_burst(s, 18, 0x80, 0x08, 32);         /* set 0 */
  const uint8_t d0[] = { 0x4A, 0x00, 0x02, 0xA0 }, d1[] = { 0x4A, 0x20, 0, 0 }, d2[] = { 0x4A, 0x10, 0, 0 };
  expect_frame(s, 20, d0, 4); expect_frame(s, 21, d1, 4); expect_frame(s, 22, d2, 4); /* disarm */
  assert_int_equal(s->n, 23);
  assert_int_equal(out.n, 256);
  assert_int_equal(out.trigger_index, 127);
  assert_int_equal(out.trigger_addr, 0x407);
  assert_int_equal(out.code[0][0], 8 * 16);                 /* oldest: set 1, IA */
  assert_int_equal(out.code[127][1], (128 * 8 + 1) * 16);   /* trigger set 128, VA */
  assert_int_equal(out.code[255][6], 6 * 16);               /* newest: set 0, IN */
  assert_int_equal(dev.count.crc_errors, 0);
  free(out.code);
  free(s);
}

/* ---- against the emulator ---- */
static const double FS8K = 74518668.0; /* decimated 8 kSPS full-scale code, facts/ade9000.md */

static struct hw_ade9000_config base_cfg(void)
{
  struct hw_ade9000_config c = { .nominal_v = 230 };
  for (int i = 0; i < 3; i++) c.v_ratio[i] = 1001;
  for (int i = 0; i < 4; i++) c.i_a_per_v[i] = 200;
  return c;
}

/* Sample k: 230 V 50 Hz three-phase (times dip from k_dip on), IA a ramp that names the sample. */
static void sample(uint64_t k, uint64_t k_dip, double v[3], double i[4])
{
  double f = k >= k_dip ? 0.5 : 1.0;
  for (int p = 0; p < 3; p++) v[p] = f * 230 * sqrt(2) * sin(2 * M_PI * 50 * (double)k / 8000 - p * 2 * M_PI / 3) / 1001.0;
  i[0] = (double)(k % 4000) * 1e-4;
  i[1] = i[2] = i[3] = 0;
}
static uint64_t sample_of(int32_t ia_code) { return (uint64_t)llround(ia_code / (1e-4 * FS8K)); }

static void dip_capture(void **st)
{
  (void)st;
  struct ade_emul *e = calloc(1, sizeof *e);
  ade_emul_init(e);
  struct hw_ade9000 dev;
  struct hw_ade9000_config c = base_cfg();
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  enum { PRE = 1600 }; /* 10 cycles at 50 Hz */
  struct hw_ade9000_capture_config cc = { .triggers = HW_ADE9000_TRIG_DIP, .pre_sets = PRE,
                                          .ring = calloc(PRE + 256, sizeof *cc.ring), .ring_sets = PRE + 256 };
  assert_int_equal(hw_ade9000_capture_arm(&dev, &cc), 0);
  /* The emulator closes a one-cycle rms every 160 samples (after k = 159, 319, ...). The dip
   * starts at a cycle boundary, so the dip is declared after the first dipped cycle: k = 3359. */
  const uint64_t k_dip = 3200, k_trig = 3359;
  uint64_t k = 0;
  int r = HW_ENOTREADY;
  for (; k < 8000 && r == HW_ENOTREADY; k++) {
    double v[3], i[4];
    sample(k, k_dip, v, i);
    ade_emul_push(e, v, i);
    if (k % 32 == 31) r = hw_ade9000_capture_poll(&dev);
  }
  assert_int_equal(r, 0);
  assert_true(k > k_trig + 128 && k <= k_trig + 128 + 32); /* completed after the post fill */
  struct hw_ade9000_capture out = { .code = calloc(PRE + 200, sizeof *out.code), .cap = PRE + 200 };
  assert_int_equal(hw_ade9000_capture_read(&dev, &out), 0);
  assert_int_equal(out.n, PRE + 1 + 128);
  assert_int_equal(out.trigger_index, PRE);
  assert_int_equal(sample_of(out.code[out.trigger_index][0]), k_trig % 4000);
  double vpc = hw_ade9000_wfb_volts_per_code(&dev, 0), pre_max = 0, dip_max = 0;
  for (unsigned j = 0; j < out.n; j++) {
    uint64_t kk = k_trig - PRE + j;
    assert_int_equal(sample_of(out.code[j][0]), kk % 4000); /* in order, no gap, no repeat */
    double v[3], i[4];
    sample(kk, k_dip, v, i);
    assert_true(fabs(out.code[j][1] * vpc - v[0] * 1001) < 0.05);
    double a = fabs(out.code[j][1] * vpc);
    if (kk < k_dip) { if (a > pre_max) pre_max = a; } else if (j > out.trigger_index && a > dip_max) dip_max = a;
  }
  assert_true(fabs(pre_max - 230 * sqrt(2)) < 2);       /* nominal before */
  assert_true(fabs(dip_max - 115 * sqrt(2)) < 2);       /* the dip after the trigger */
  assert_true(out.trigger_index - (k_trig - k_dip) >= 10 * 160 - 160); /* >= 9 nominal cycles */
  assert_int_equal(dev.count.crc_errors, 0);
  /* disarmed by the read: a second read is a clear error */
  assert_int_equal(hw_ade9000_capture_read(&dev, &out), HW_ENOTARMED);
  free(out.code);
  free(cc.ring);
  free(e);
}

/* Pushes n samples from *k, polling every 32; returns the last poll result. */
static int run(struct ade_emul *e, struct hw_ade9000 *dev, uint64_t *k, unsigned n, bool poll)
{
  int r = HW_ENOTREADY;
  for (unsigned s = 0; s < n; s++, (*k)++) {
    double v[3], i[4];
    sample(*k, UINT64_MAX, v, i);
    ade_emul_push(e, v, i);
    if (poll && *k % 32 == 31 && (r = hw_ade9000_capture_poll(dev)) != HW_ENOTREADY) { (*k)++; break; }
  }
  return r;
}

static void software_trigger_capture(void **st)
{
  (void)st;
  struct ade_emul *e = calloc(1, sizeof *e);
  ade_emul_init(e);
  struct hw_ade9000 dev;
  struct hw_ade9000_config c = base_cfg();
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  struct hw_ade9000_capture_config cc = { .pre_sets = 100 }; /* trip tap: software only */
  assert_int_equal(hw_ade9000_capture_arm(&dev, &cc), 0);
  uint64_t k = 0;
  assert_int_equal(run(e, &dev, &k, 700, true), HW_ENOTREADY); /* no chip trigger enabled */
  assert_int_equal(hw_ade9000_capture_trigger(&dev), 0);       /* after sample 699 */
  struct hw_ade9000_capture out = { .code = calloc(300, sizeof *out.code), .cap = 300 };
  assert_int_equal(run(e, &dev, &k, 127, false), HW_ENOTREADY);
  assert_int_equal(hw_ade9000_capture_poll(&dev), HW_ENOTREADY); /* 127 of 128 post sets */
  assert_int_equal(hw_ade9000_capture_read(&dev, &out), HW_ENOTREADY);
  assert_int_equal(run(e, &dev, &k, 1, false), HW_ENOTREADY);
  assert_int_equal(hw_ade9000_capture_poll(&dev), 0);
  int32_t before[2048];
  memcpy(before, e->wfb, sizeof before);
  run(e, &dev, &k, 500, false);                                  /* the chip stopped filling */
  assert_memory_equal(before, e->wfb, sizeof before);
  assert_int_equal(hw_ade9000_capture_read(&dev, &out), 0);
  assert_int_equal(out.n, 100 + 1 + 128);
  assert_int_equal(out.trigger_index, 100);
  for (unsigned j = 0; j < out.n; j++) assert_int_equal(sample_of(out.code[j][0]), 599 + j);
  /* armed too shortly before the trigger: fewer pre-trigger sets, said by trigger_index */
  assert_int_equal(hw_ade9000_capture_arm(&dev, &cc), 0);
  run(e, &dev, &k, 40, false);
  assert_int_equal(hw_ade9000_capture_trigger(&dev), 0);
  run(e, &dev, &k, 128, false);
  assert_int_equal(hw_ade9000_capture_poll(&dev), 0);
  assert_int_equal(hw_ade9000_capture_read(&dev, &out), 0);
  assert_int_equal(out.trigger_index, 39);
  assert_int_equal(out.n, 40 + 128);
  assert_int_equal(sample_of(out.code[0][0]), (k - 168) % 4000);
  free(out.code);
  free(e);
}

static void burst_crc_retry_then_fault(void **st)
{
  (void)st;
  struct ade_emul *e = calloc(1, sizeof *e);
  ade_emul_init(e);
  struct hw_ade9000 dev;
  struct hw_ade9000_config c = base_cfg();
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  struct hw_ade9000_capture_config cc = { .pre_sets = 127 };
  struct hw_ade9000_capture out = { .code = calloc(300, sizeof *out.code), .cap = 300 };
  uint64_t k = 0;
  /* one corrupted burst: repeated once, the data is right */
  assert_int_equal(hw_ade9000_capture_arm(&dev, &cc), 0);
  run(e, &dev, &k, 400, true);
  assert_int_equal(hw_ade9000_capture_trigger(&dev), 0);
  assert_int_equal(run(e, &dev, &k, 160, true), 0);
  e->burst_corrupt = 1;
  struct hw_ade9000_counters c0 = dev.count;
  assert_int_equal(hw_ade9000_capture_read(&dev, &out), 0);
  assert_int_equal(dev.count.crc_errors - c0.crc_errors, 1);
  assert_int_equal(dev.count.crc_retries - c0.crc_retries, 1);
  assert_int_equal(dev.count.crc_faults, c0.crc_faults);
  assert_int_equal(out.n, 256);
  for (unsigned j = 1; j < out.n; j++)
    assert_int_equal(sample_of(out.code[j][0]), (sample_of(out.code[j - 1][0]) + 1) % 4000);
  /* a persistent fault: bounded (3 attempts of burst + CRC_SPI), then HW_ECRC */
  assert_int_equal(hw_ade9000_capture_arm(&dev, &cc), 0);
  run(e, &dev, &k, 400, true);
  assert_int_equal(hw_ade9000_capture_trigger(&dev), 0);
  assert_int_equal(run(e, &dev, &k, 160, true), 0);
  e->burst_corrupt = 100;
  c0 = dev.count;
  uint64_t reads0 = e->reads;
  assert_int_equal(hw_ade9000_capture_read(&dev, &out), HW_ECRC);
  assert_int_equal(e->reads - reads0, 6);
  assert_int_equal(dev.count.crc_faults - c0.crc_faults, 1);
  assert_int_equal(dev.count.crc_errors - c0.crc_errors, 3);
  assert_int_equal(dev.count.crc_retries - c0.crc_retries, 2);
  /* a corrupted CRC_SPI answer (its own CRC wrong) also repeats the burst */
  e->burst_corrupt = 0;
  e->crc_burst = 1;
  c0 = dev.count;
  assert_int_equal(hw_ade9000_capture_read(&dev, &out), 0); /* still complete: read again */
  assert_int_equal(dev.count.crc_retries - c0.crc_retries, 1);
  free(out.code);
  free(e);
}

static void misuse_errors(void **st)
{
  (void)st;
  struct ade_emul *e = calloc(1, sizeof *e);
  ade_emul_init(e);
  struct hw_ade9000 dev;
  struct hw_ade9000_config c = base_cfg();
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  struct hw_ade9000_capture out = { .code = calloc(300, sizeof *out.code), .cap = 300 };
  struct hw_ade9000_capture_config cc = { .triggers = HW_ADE9000_TRIG_SWELL, .pre_sets = 50 };
  assert_int_equal(hw_ade9000_capture_trigger(&dev), HW_ENOTARMED);
  assert_int_equal(hw_ade9000_capture_poll(&dev), HW_ENOTARMED);
  assert_int_equal(hw_ade9000_capture_read(&dev, &out), HW_ENOTARMED);
  assert_int_equal(hw_ade9000_capture_disarm(&dev), 0);
  struct hw_ade9000_capture_config big = { .pre_sets = 1600 }; /* no ring */
  assert_int_equal(hw_ade9000_capture_arm(&dev, &big), HW_ERANGE);
  struct hw_ade9000_capture_config bad = { .triggers = 1u << 9 };
  assert_int_equal(hw_ade9000_capture_arm(&dev, &bad), HW_ERANGE);
  assert_int_equal(hw_ade9000_capture_arm(&dev, &cc), 0);
  assert_int_equal(e->reg[0x4A2], 0x0002);                    /* SWELL enabled on the chip */
  assert_int_equal(hw_ade9000_capture_arm(&dev, &cc), HW_EBUSY); /* twice */
  assert_int_equal(hw_ade9000_capture_read(&dev, &out), HW_ENOTREADY);
  assert_string_not_equal(hw_strerror(HW_EBUSY), hw_strerror(HW_ENOTARMED));
  assert_non_null(strstr(hw_strerror(HW_EBUSY), "armed"));
  /* disarm stops the fill; arming again works */
  assert_int_equal(hw_ade9000_capture_disarm(&dev), 0);
  assert_int_equal(e->reg[0x4A0] & 0x10, 0);
  assert_int_equal(hw_ade9000_capture_arm(&dev, &cc), 0);
  /* output too small: HW_ETRUNC, n says how much */
  uint64_t k = 0;
  run(e, &dev, &k, 300, true);
  assert_int_equal(hw_ade9000_capture_trigger(&dev), 0);
  assert_int_equal(run(e, &dev, &k, 160, true), 0);
  out.cap = 10;
  assert_int_equal(hw_ade9000_capture_read(&dev, &out), HW_ETRUNC);
  assert_int_equal(out.n, 50 + 1 + 128);
  /* a draining capture whose poll comes too late loses a half: HW_EOVERRUN, disarmed */
  assert_int_equal(hw_ade9000_capture_disarm(&dev), 0);
  struct hw_ade9000_capture_config dr = { .pre_sets = 300, .ring = calloc(556, sizeof *dr.ring), .ring_sets = 555 };
  assert_int_equal(hw_ade9000_capture_arm(&dev, &dr), HW_ERANGE); /* ring < pre_sets + 256 */
  dr.ring_sets = 556;
  assert_int_equal(hw_ade9000_capture_arm(&dev, &dr), 0);
  run(e, &dev, &k, 300, false);
  assert_int_equal(hw_ade9000_capture_poll(&dev), HW_EOVERRUN);
  assert_int_equal(hw_ade9000_capture_poll(&dev), HW_ENOTARMED);
  /* a streaming AFE cannot also capture */
  c.waveform = true;
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  assert_int_equal(hw_ade9000_capture_arm(&dev, &cc), HW_EBUSY);
  free(dr.ring);
  free(out.code);
  free(e);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(frames_byte_exact),
    cmocka_unit_test(dip_capture),
    cmocka_unit_test(software_trigger_capture),
    cmocka_unit_test(burst_crc_retry_then_fault),
    cmocka_unit_test(misuse_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
