/*
 * test_ade9000.c — the ADE9000 driver against golden vectors that neither the driver nor the
 * emulator computed (header 0x4FE8, CRC 0x29B1, full-scale RMS code, byte-exact frames from a
 * recording transport with its own CRC), then the driver against the independent emulator:
 * init/reset/identification, injected CRC bursts, a missing or wrong chip, and the round trip
 * of a known resistive load through the register path and the waveform path.
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

/* A third CRC implementation, straight from the CRC-16/CCITT-FALSE definition. */
static uint16_t test_crc(const uint8_t *d, size_t n)
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

static void golden_vectors(void **st)
{
  const uint8_t s[] = "123456789";
  assert_int_equal(test_crc(s, 9), 0x29B1);
  assert_int_equal(hw_ade9000_crc16(s, 9), 0x29B1);
  assert_int_equal(ade_emul_crc(s, 9), 0x29B1);
  assert_int_equal(hw_ade9000_cmd_header(0x4FE, true), 0x4FE8);
  assert_int_equal(hw_ade9000_cmd_header(0x480, false), 0x4800);
  /* full-scale RMS code = full-scale input: 1 V peak = 0.707 V rms at the pin */
  assert_true(fabs(hw_ade9000_rms_code_to_pin_v(52702092) - 0.707) < 1e-12);
  assert_true(fabs(hw_ade9000_rms_code_to_pin_v(26351046) - 0.3535) < 1e-12);
}

/* ---- recording transport ---- */
struct rec {
  uint8_t tx[8][16];
  uint32_t len[8][4];
  const void *txp[8][4], *rxp[8][4];
  unsigned nx[8], n;
  uint32_t value;        /* register value answered */
  int bad_crc;           /* answer this many reads with a wrong CRC */
  bool floating;         /* MISO all ones */
  unsigned messages;
};
static int rec_configure(void *ctx, const struct hw_spi_config *cfg) { return 0; }
static int rec_transfer(void *ctx, const struct hw_spi_xfer *x, unsigned n)
{
  struct rec *r = ctx;
  unsigned m = r->n++ % 8;
  r->messages++;
  r->nx[m] = n;
  unsigned pos = 0;
  for (unsigned t = 0; t < n; t++) {
    r->len[m][t] = x[t].len;
    r->txp[m][t] = x[t].tx;
    r->rxp[m][t] = x[t].rx;
    for (unsigned k = 0; k < x[t].len && pos + k < 16; k++)
      r->tx[m][pos + k] = x[t].tx ? x[t].tx[k] : 0;
    pos += x[t].len;
  }
  /* answer single-transfer reads: data then CRC */
  if (n == 1 && x[0].rx && (x[0].tx[1] & 0x08)) {
    unsigned w = x[0].len - 4;
    uint8_t *rx = x[0].rx;
    memset(rx, 0, x[0].len);
    for (unsigned i = 0; i < w; i++) rx[2 + i] = (uint8_t)(r->value >> (8 * (w - 1 - i)));
    uint16_t c = test_crc(rx + 2, w);
    if (r->bad_crc) { c ^= 1; r->bad_crc--; }
    rx[2 + w] = (uint8_t)(c >> 8);
    rx[3 + w] = (uint8_t)c;
    if (r->floating) memset(rx, 0xFF, x[0].len);
  }
  if (n == 2 && x[1].rx) /* burst: word k = k * 16 - 32 */
    for (unsigned k = 0; k < x[1].len / 4; k++) {
      uint32_t v = (uint32_t)((int32_t)k * 16 - 32);
      x[1].rx[4 * k] = (uint8_t)(v >> 24); x[1].rx[4 * k + 1] = (uint8_t)(v >> 16);
      x[1].rx[4 * k + 2] = (uint8_t)(v >> 8); x[1].rx[4 * k + 3] = (uint8_t)v;
    }
  return 0;
}
static const struct hw_spi_ops rec_ops = { rec_configure, rec_transfer };

static void frames_byte_exact(void **st)
{
  struct rec r = { .value = 0x1234 };
  struct hw_spi spi = { &rec_ops, &r, 0, 0 };
  struct hw_ade9000 dev = { .spi = &spi };
  uint32_t v;
  /* 16-bit read: VERSION */
  assert_int_equal(hw_ade9000_read(&dev, 0x4FE, &v), 0);
  assert_int_equal(v, 0x1234);
  const uint8_t f1[] = { 0x4F, 0xE8, 0, 0, 0, 0 };
  assert_int_equal(r.len[0][0], 6);
  assert_memory_equal(r.tx[0], f1, 6);
  /* 32-bit read: AIRMS */
  r.value = 0xDEADBEEF;
  assert_int_equal(hw_ade9000_read(&dev, 0x20C, &v), 0);
  assert_int_equal(v, 0xDEADBEEF);
  const uint8_t f2[] = { 0x20, 0xC8, 0, 0, 0, 0, 0, 0 };
  assert_int_equal(r.len[1][0], 8);
  assert_memory_equal(r.tx[1], f2, 8);
  /* 16-bit write: RUN = 1 */
  assert_int_equal(hw_ade9000_write(&dev, 0x480, 1), 0);
  const uint8_t f3[] = { 0x48, 0x00, 0x00, 0x01 };
  assert_int_equal(r.len[2][0], 4);
  assert_memory_equal(r.tx[2], f3, 4);
  /* 32-bit write: VLEVEL */
  assert_int_equal(hw_ade9000_write(&dev, 0x40F, 0x0022EA28), 0);
  const uint8_t f4[] = { 0x40, 0xF0, 0x00, 0x22, 0xEA, 0x28 };
  assert_int_equal(r.len[3][0], 6);
  assert_memory_equal(r.tx[3], f4, 6);
  /* waveform burst: STATUS0 (PAGE_FULL), WFB_TRG_STAT (last page 15), clear, burst of half 1 */
  r.n = 0;
  r.value = 1u << 17;
  struct hw_ade9000_wfb_half *h = calloc(1, sizeof *h);
  dev.last_half = -1;
  /* STATUS0 and WFB_TRG_STAT both answer r.value: make TRG_STAT say page 15 too */
  r.value = (1u << 17) | (15u << 12);
  assert_int_equal(hw_ade9000_wfb_poll(&dev, h), 0);
  const uint8_t s0[] = { 0x40, 0x28 }, trg[] = { 0x4A, 0x38 }, clr[] = { 0x40, 0x20, 0x00, 0x02, 0x00, 0x00 };
  assert_memory_equal(r.tx[0], s0, 2);
  assert_memory_equal(r.tx[1], trg, 2);
  assert_memory_equal(r.tx[2], clr, 6);
  assert_int_equal(r.nx[3], 2);
  const uint8_t burst[] = { 0xC0, 0x08 }; /* 0xC00: the second half */
  assert_int_equal(r.len[3][0], 2);
  assert_memory_equal(r.tx[3], burst, 2);
  assert_null(r.rxp[3][0]);  /* header transfer is TX only */
  assert_null(r.txp[3][1]);  /* data transfer is RX only */
  assert_int_equal(r.len[3][1], 4096);
  assert_int_equal(h->half, 1);
  assert_int_equal(h->code[0][0], -32);   /* word 0 */
  assert_int_equal(h->code[1][0], 8 * 16 - 32); /* word 8: sets are 8 words */
  assert_int_equal(h->code[2][6], (2 * 8 + 6) * 16 - 32);
  free(h);
}

static void crc_retry_then_fault(void **st)
{
  struct rec r = { .value = 0xABCD, .bad_crc = 1 };
  struct hw_spi spi = { &rec_ops, &r, 0, 0 };
  struct hw_ade9000 dev = { .spi = &spi };
  uint32_t v = 0;
  assert_int_equal(hw_ade9000_read(&dev, 0x4FE, &v), 0); /* one bad CRC, then good */
  assert_int_equal(v, 0xABCD);
  assert_int_equal(r.messages, 2);
  assert_int_equal(dev.count.crc_errors, 1);
  assert_int_equal(dev.count.crc_retries, 1);
  assert_int_equal(dev.count.crc_faults, 0);
  r.bad_crc = 100;
  r.messages = 0;
  assert_int_equal(hw_ade9000_read(&dev, 0x4FE, &v), HW_ECRC);
  assert_int_equal(r.messages, 3);       /* bounded: 1 + 2 retries */
  assert_int_equal(dev.count.crc_faults, 1);
  assert_int_equal(dev.count.crc_errors, 4);
  r.bad_crc = 0;
  r.floating = true;
  assert_int_equal(hw_ade9000_read(&dev, 0x472, &v), HW_ENOCHIP);
}

/* ---- against the emulator ---- */
static struct hw_ade9000_config base_cfg(bool waveform)
{
  struct hw_ade9000_config c = { .waveform = waveform, .nominal_v = 230 };
  for (int i = 0; i < 3; i++) c.v_ratio[i] = 1001;
  for (int i = 0; i < 4; i++) c.i_a_per_v[i] = 200; /* 2000:1 CT, 10 ohm burden */
  return c;
}

static void init_and_identify(void **st)
{
  struct ade_emul *e = calloc(1, sizeof *e);
  ade_emul_init(e);
  struct hw_ade9000 dev;
  struct hw_ade9000_config c = base_cfg(false);
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  assert_true(dev.part_id & (1u << 20));
  assert_int_equal(dev.count.crc_errors, 0);
  assert_int_equal(e->reg[0x480], 1);         /* RUN */
  assert_int_equal(e->reg[0x4B2], 7999);      /* EGY_TIME */
  assert_int_equal(e->reg[0x4B0], 0x11);      /* EP_CFG */
  assert_int_equal(e->reg[0x40F], 0x0022EA28);
  /* CRC burst during init: absorbed by the bounded retry, visible in counters */
  ade_emul_init(e);
  e->crc_burst = 2;
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  assert_int_equal(dev.count.crc_errors, 2);
  assert_int_equal(dev.count.crc_faults, 0);
  /* a burst longer than the retry budget: reported fault */
  ade_emul_init(e);
  e->crc_burst = 3;
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), HW_ECRC);
  assert_int_equal(dev.count.crc_faults, 1);
  /* missing chip, wrong chip, stuck MISO bit */
  ade_emul_init(e);
  e->missing = true;
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), HW_ENOCHIP);
  ade_emul_init(e);
  e->wrong_part = true; /* the emulator's fault, not a register poke */
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), HW_EWRONGCHIP);
  e->wrong_part = false;
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  ade_emul_init(e);
  e->stuck_miso = 0x04;
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), HW_ECRC);
  free(e);
}

/* Pushes seconds of a resistive (or lagging) load into the emulator. */
static void push_load(struct ade_emul *e, double seconds, double vrms, double irms, double lag_rad,
                      double freq, double dip_factor)
{
  unsigned n = (unsigned)(seconds * 8000);
  for (unsigned k = 0; k < n; k++) {
    double t = k / 8000.0, v[3], i[4];
    for (int p = 0; p < 3; p++) {
      double ph = 2 * M_PI * freq * t - p * 2 * M_PI / 3;
      v[p] = vrms * sqrt(2) * sin(ph) * dip_factor / 1001.0;
      i[p] = irms * (p + 1) * sqrt(2) * sin(ph - lag_rad) / 200.0;
    }
    i[3] = 0;
    ade_emul_push(e, v, i);
  }
}

static void roundtrip_register_path(void **st)
{
  struct ade_emul *e = calloc(1, sizeof *e);
  ade_emul_init(e);
  struct hw_ade9000 dev;
  struct hw_ade9000_config c = base_cfg(false);
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  push_load(e, 1.0, 230, 10, 0, 50, 1);
  struct hw_ade9000_metrics m;
  assert_int_equal(hw_ade9000_read_metrics(&dev, &m), 0);
  assert_true(m.energy_ready);
  for (int p = 0; p < 3; p++) {
    double i = 10.0 * (p + 1), pw = 230 * i;
    assert_true(fabs(m.ph[p].vrms_v - 230) / 230 < 0.001);
    assert_true(fabs(m.ph[p].irms_a - i) / i < 0.001);
    assert_true(fabs(m.ph[p].p_w - pw) / pw < 0.001);               /* P = V I */
    assert_true(fabs(m.ph[p].p_w - m.ph[p].vrms_v * m.ph[p].irms_a) / pw < 0.001);
    assert_true(fabs(m.ph[p].pf - 1.0) < 0.001);                     /* PF = 1 */
    assert_true(fabs(m.ph[p].s_va - pw) / pw < 0.001);
    assert_true(fabs(m.ph[p].q_var) / pw < 0.001);
    assert_true(fabs(m.ph[p].freq_hz - 50) < 0.01);
    assert_true(fabs(m.ph[p].energy_j - pw * 1.0) / pw < 0.001);     /* 1 s of energy */
    assert_false(m.ph[p].dip);
  }
  /* a second read without a new energy period adds nothing */
  assert_int_equal(hw_ade9000_read_metrics(&dev, &m), 0);
  assert_false(m.energy_ready);
  assert_true(fabs(m.ph[0].energy_j - 2300) / 2300 < 0.001);
  /* lagging load, PF 0.8: Q positive = 0.6 S */
  push_load(e, 1.0, 230, 10, acos(0.8), 50, 1);
  assert_int_equal(hw_ade9000_read_metrics(&dev, &m), 0);
  assert_true(fabs(m.ph[0].pf - 0.8) < 0.002);
  assert_true(fabs(m.ph[0].q_var - 0.6 * 2300) / 2300 < 0.002);
  assert_true(fabs(m.ph[0].energy_j - 2300 * 1.8) / 2300 < 0.002);
  /* 60 Hz */
  c.mains_60hz = true;
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  push_load(e, 1.0, 230, 10, 0, 60, 1);
  assert_int_equal(hw_ade9000_read_metrics(&dev, &m), 0);
  assert_true(fabs(m.ph[1].freq_hz - 60) < 0.01);
  assert_true(fabs(m.ph[1].p_w - 4600) / 4600 < 0.001);
  free(e);
}

/* The one-cycle RMS registers follow a switch within a cycle, where the 200 ms block results
 * still average the current from before: the sense-back's fast path. */
static void rms_one_follows_within_a_cycle(void **st)
{
  (void)st;
  struct ade_emul *e = calloc(1, sizeof *e);
  ade_emul_init(e);
  struct hw_ade9000 dev;
  struct hw_ade9000_config c = base_cfg(false);
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  push_load(e, 0.5, 230, 10, 0, 50, 1);
  double i[3], v[3];
  assert_int_equal(hw_ade9000_read_rms_one(&dev, i, v), 0);
  for (int p = 0; p < 3; p++) {
    assert_true(fabs(v[p] - 230) / 230 < 0.002);
    assert_true(fabs(i[p] - 10.0 * (p + 1)) / (10.0 * (p + 1)) < 0.002);
  }
  /* the load drops to zero; two cycles later the one-cycle value says so */
  push_load(e, 0.04, 230, 0, 0, 50, 1);
  assert_int_equal(hw_ade9000_read_rms_one(&dev, i, v), 0);
  for (int p = 0; p < 3; p++) assert_true(i[p] < 0.05);
  free(e);
}

/* xVRMSONE is the rms over one line cycle refreshed every half cycle (IEC 61000-4-30 Urms(1/2)):
 * after a steady 230 V, one half cycle at 50 % reads sqrt((230² + 115²) / 2) = 181.8 V (the last
 * full cycle: one half at each level), a second one 115 V, then one half back at 230 V 181.8 V. */
static void rms_one_refreshed_every_half_cycle(void **st)
{
  (void)st;
  struct ade_emul *e = calloc(1, sizeof *e);
  ade_emul_init(e);
  struct hw_ade9000 dev;
  struct hw_ade9000_config c = base_cfg(false);
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  const double half = 0.01, mixed = sqrt((230.0 * 230.0 + 115.0 * 115.0) / 2);
  const double seq_v[] = { 230, mixed, 115, mixed, 230 }, seq_f[] = { 1, 0.5, 0.5, 1, 1 };
  double i[3], v[3];
  push_load(e, 0.5, 230, 10, 0, 50, 1); /* 50 whole half cycles of 80 samples */
  for (unsigned s = 0; s < 5; s++) {
    if (s) push_load(e, half, 230, 10, 0, 50, seq_f[s]);
    assert_int_equal(hw_ade9000_read_rms_one(&dev, i, v), 0);
    for (int p = 0; p < 3; p++) assert_true(fabs(v[p] - seq_v[s]) / seq_v[s] < 0.002);
  }
  free(e);
}

static void dip_detected(void **st)
{
  struct ade_emul *e = calloc(1, sizeof *e);
  ade_emul_init(e);
  struct hw_ade9000 dev;
  struct hw_ade9000_config c = base_cfg(false);
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  push_load(e, 0.2, 230, 1, 0, 50, 1);
  push_load(e, 0.1, 230, 1, 0, 50, 0.5);
  push_load(e, 0.2, 230, 1, 0, 50, 1);
  struct hw_ade9000_metrics m;
  assert_int_equal(hw_ade9000_read_metrics(&dev, &m), 0);
  assert_true(m.ph[0].dip);
  assert_false(m.ph[0].swell);
  assert_true(fabs(m.ph[0].dip_v - 115) < 2);
  assert_int_equal(hw_ade9000_read_metrics(&dev, &m), 0);
  assert_false(m.ph[0].dip); /* cleared after being reported */
  free(e);
}

/* The datasheet's scaling, written here a third time as plain numbers (facts/ade9000.md; the
 * driver and the emulator each have their own copy): a ±1 V peak (0.707 V rms) pin input reads
 * 52,702,092 in xVRMS/xIRMS and ±74,518,668 as a decimated 8 kSPS waveform sample; full-scale V
 * and I in phase read 20,694,066 in xWATT; DIP_LVL = the one-cycle rms code of the threshold
 * × 2⁻⁵. The emulator's registers are checked against these numbers, and the driver's DIP_LVL
 * write; the round trips then tie the driver's reading of every register to the same numbers. */
static void datasheet_scaling(void **st)
{
  (void)st;
  const double rms_fs = 52702092, watt_fs = 20694066, wfb_fs = 74518668, pin_fs_rms = 0.707;
  struct ade_emul *e = calloc(1, sizeof *e);
  ade_emul_init(e);
  struct hw_ade9000 dev;
  struct hw_ade9000_config c = base_cfg(true); /* 230 V nominal through a 1001:1 divider; dip 90 % */
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  double dip_lvl = 230.0 / 1001 / pin_fs_rms * rms_fs * 0.90 / 32;
  assert_true(fabs((double)e->reg[0x410] - dip_lvl) <= 1.0);
  /* half-scale voltage, quarter-scale current, in phase, 50 Hz, for two 10-cycle blocks */
  for (unsigned k = 0; k < 3200; k++) {
    double ph = 2 * M_PI * 50 * k / 8000.0, v[3], i[4] = { 0, 0, 0, 0 };
    for (int p = 0; p < 3; p++) v[p] = 0.5 * sin(ph - p * 2 * M_PI / 3);
    i[0] = 0.25 * sin(ph);
    ade_emul_push(e, v, i);
  }
  assert_true(fabs((double)e->reg[0x20D] - 0.5 * rms_fs) / (0.5 * rms_fs) < 1e-3);    /* AVRMS */
  assert_true(fabs((double)e->reg[0x20C] - 0.25 * rms_fs) / (0.25 * rms_fs) < 1e-3);  /* AIRMS */
  double watt = (double)(int32_t)e->reg[0x210];                                        /* AWATT */
  assert_true(fabs(watt - 0.5 * 0.25 * watt_fs) / (0.125 * watt_fs) < 1e-3);
  int32_t va_max = 0;
  for (unsigned w = 1; w < 2048; w += 8) if (e->wfb[w] > va_max) va_max = e->wfb[w]; /* VA words */
  assert_true(fabs(va_max - 0.5 * wfb_fs) / (0.5 * wfb_fs) < 1e-3);
  free(e);
}

static void roundtrip_waveform_path(void **st)
{
  struct ade_emul *e = calloc(1, sizeof *e);
  ade_emul_init(e);
  struct hw_ade9000 dev;
  struct hw_ade9000_config c = base_cfg(true);
  assert_int_equal(hw_ade9000_init(&dev, &e->spi, &c), 0);
  struct hw_ade9000_wfb_half *h = calloc(1, sizeof *h);
  double svv = 0, sii = 0, svi = 0;
  unsigned n = 0, halves = 0;
  assert_int_equal(hw_ade9000_wfb_poll(&dev, h), HW_ENOTREADY);
  assert_false(ade_emul_irq0(e));
  for (unsigned k = 0; k < 16000; k++) { /* 2 s = 125 halves = 100 whole cycles */
    double t = k / 8000.0, v[3], i[4] = { 0 };
    for (int p = 0; p < 3; p++) {
      v[p] = 230 * sqrt(2) * sin(2 * M_PI * 50 * t - p * 2 * M_PI / 3) / 1001.0;
      i[p] = 10 * sqrt(2) * sin(2 * M_PI * 50 * t - p * 2 * M_PI / 3) / 200.0;
    }
    ade_emul_push(e, v, i);
    if ((k + 1) % 128 == 0) {
      assert_true(ade_emul_irq0(e)); /* IRQ0 asserted on page full (data ready) */
      assert_int_equal(hw_ade9000_wfb_poll(&dev, h), 0);
      assert_false(ade_emul_irq0(e));
      assert_int_equal(h->half, (int)(halves % 2));
      assert_int_equal(h->overruns, 0);
      halves++;
      for (unsigned s = 0; s < 128; s++) {
        double vv = h->code[s][1] * hw_ade9000_wfb_volts_per_code(&dev, 0);
        double ii = h->code[s][0] * hw_ade9000_wfb_amps_per_code(&dev, 0);
        svv += vv * vv, sii += ii * ii, svi += vv * ii, n++;
      }
    }
  }
  assert_int_equal(n, 16000);
  double vr = sqrt(svv / n), ir = sqrt(sii / n), p = svi / n;
  struct hw_ade9000_metrics m;
  assert_int_equal(hw_ade9000_read_metrics(&dev, &m), 0);
  /* waveform path and register path agree */
  assert_true(fabs(vr - m.ph[0].vrms_v) / m.ph[0].vrms_v < 0.001);
  assert_true(fabs(ir - m.ph[0].irms_a) / m.ph[0].irms_a < 0.001);
  assert_true(fabs(p - m.ph[0].p_w) / m.ph[0].p_w < 0.001);
  assert_true(fabs(p - 2300) / 2300 < 0.001);
  /* skipping a half is reported as an overrun */
  for (unsigned k = 0; k < 256; k++) {
    double v[3] = { 0.1, 0.1, 0.1 }, i[4] = { 0 };
    ade_emul_push(e, v, i);
  }
  assert_int_equal(hw_ade9000_wfb_poll(&dev, h), 0);
  assert_int_equal(h->overruns, 1);
  assert_int_equal(dev.count.wfb_overruns, 1);
  free(h);
  free(e);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(golden_vectors),
    cmocka_unit_test(frames_byte_exact),
    cmocka_unit_test(crc_retry_then_fault),
    cmocka_unit_test(init_and_identify),
    cmocka_unit_test(roundtrip_register_path),
    cmocka_unit_test(rms_one_follows_within_a_cycle),
    cmocka_unit_test(rms_one_refreshed_every_half_cycle),
    cmocka_unit_test(dip_detected),
    cmocka_unit_test(datasheet_scaling),
    cmocka_unit_test(roundtrip_waveform_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
