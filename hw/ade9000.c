/*
 * ade9000.c — driver for the Analog Devices ADE9000 polyphase metering AFE over an hw_spi
 * transport (spidev on hardware, the emulator under simulation; the driver cannot tell).
 *
 * Frames (facts/ade9000.md): a 16-bit command header, MSB first, address in bits [15:4], bit 3
 * set for a read. Reads clock out the register (16 bits for 0x480..0x4FE, else 32) and then
 * CRC_SPI, the CRC-16/CCITT-FALSE of the MISO data bytes; a mismatch is retried a bounded
 * number of times and then reported (HW_ECRC) and counted. Writes carry no CRC, so
 * configuration writes are read back. The waveform buffer is read as a burst: the header as a
 * TX-only transfer, then one 4096-byte RX transfer of a half buffer (fits spidev's default
 * bufsiz), CS held across both.
 *
 * The register addresses and scale constants below are this file's own; the emulator
 * (sim/ade9000_emul.c) has an independent copy so a wrong constant cannot pass both.
 */
#include "hw.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* Registers (phase B/C results at +0x20/+0x40; energy registers at +0x3C/+0x78). */
enum {
  R_AIRMS = 0x20C, R_AVRMS = 0x20D, R_AWATT = 0x210, R_AVAR = 0x211, R_AVA = 0x212,
  R_APF = 0x216, R_AIRMSONE = 0x219, R_AVRMSONE = 0x21A, R_NIRMS = 0x266, R_AWATTHR_HI = 0x2E7,
  R_STATUS0 = 0x402, R_STATUS1 = 0x403, R_MASK0 = 0x405, R_MASK1 = 0x406, R_EVENT_MASK = 0x407,
  R_VLEVEL = 0x40F, R_DIP_LVL = 0x410, R_DIPA = 0x411, R_SWELL_LVL = 0x414, R_SWELLA = 0x415,
  R_APERIOD = 0x418, R_PART_ID = 0x472, R_DICOEFF = 0x072, R_CONFIG0 = 0x060,
  R_RUN = 0x480, R_CONFIG1 = 0x481, R_DIP_CYC = 0x48B, R_SWELL_CYC = 0x48C, R_ACCMODE = 0x492,
  R_CONFIG3 = 0x493, R_ZX_LP_SEL = 0x49A, R_WFB_CFG = 0x4A0, R_WFB_PG_IRQEN = 0x4A1,
  R_WFB_TRG_STAT = 0x4A3, R_CONFIG2 = 0x4AF, R_EP_CFG = 0x4B0, R_EGY_TIME = 0x4B2,
  R_PGA_GAIN = 0x4B9, R_VERSION = 0x4FE, R_WFB_BASE = 0x800,
};
enum {
  PHASE_STRIDE = 0x20, ENERGY_STRIDE = 0x3C,
  ST0_EGYRDY = 1u << 0, ST0_PAGE_FULL = 1u << 17,
  ST1_RSTDONE = 1u << 16, ST1_SWELL0 = 20, ST1_DIP0 = 23,
  PART_ID_ADE9000 = 1u << 20,
  CONFIG1_SWRST = 1u << 0, ACCMODE_SELFREQ = 1u << 8,
  EP_CFG_1S = 0x0011, EGY_TIME_1S = 7999,
  /* BURST_CHAN 0 (all), WF_CAP_EN, WF_CAP_SEL fixed rate, WF_MODE 3 continuous, WF_SRC 2 (8k) */
  WFB_CFG_STREAM = (1u << 4) | (1u << 5) | (3u << 6) | (2u << 8),
  WFB_PG_PINGPONG = (1u << 7) | (1u << 15),
  VLEVEL_DEFAULT = 0x0022EA28,
};
/* Full-scale codes for a ±1 V peak (0.707 V rms) input at PGA gain 1. */
static const double RMS_FS_CODE = 52702092.0;
static const double POWER_FS_CODE = 20694066.0;
static const double WFB_FS_CODE = 74518668.0; /* decimated 8 kSPS */
static const double PIN_FS_RMS_V = 0.707;

static bool is_16bit(uint16_t addr) { return addr >= 0x480 && addr <= 0x4FE; }

uint16_t hw_ade9000_cmd_header(uint16_t addr, bool read)
{
  return (uint16_t)(((addr & 0xFFF) << 4) | (read ? 0x8 : 0));
}

uint16_t hw_ade9000_crc16(const uint8_t *d, size_t n)
{
  uint16_t crc = 0xFFFF; /* CRC-16/CCITT-FALSE: poly 0x1021, no reflection, xorout 0 */
  for (size_t i = 0; i < n; i++) {
    crc ^= (uint16_t)(d[i] << 8);
    for (int b = 0; b < 8; b++) crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
  }
  return crc;
}

double hw_ade9000_rms_code_to_pin_v(int32_t code) { return code * PIN_FS_RMS_V / RMS_FS_CODE; }

static bool all_same(const uint8_t *b, size_t n, uint8_t v)
{
  for (size_t i = 0; i < n; i++) if (b[i] != v) return false;
  return true;
}

int hw_ade9000_read(struct hw_ade9000 *dev, uint16_t addr, uint32_t *out)
{
  unsigned w = is_16bit(addr) ? 2 : 4;
  uint8_t tx[8] = { 0 }, rx[8];
  uint16_t h = hw_ade9000_cmd_header(addr, true);
  tx[0] = (uint8_t)(h >> 8);
  tx[1] = (uint8_t)h;
  unsigned attempts = 1 + (dev->cfg.crc_retries ? dev->cfg.crc_retries : 2);
  bool stuck = true;
  for (unsigned a = 0; a < attempts; a++) {
    memset(rx, 0, sizeof rx);
    struct hw_spi_xfer x = { tx, rx, 2 + w + 2 };
    int r = hw_spi_transfer(dev->spi, &x, 1);
    if (r < 0) return r;
    dev->count.reads++;
    uint16_t crc = (uint16_t)(rx[2 + w] << 8 | rx[3 + w]);
    if (crc == hw_ade9000_crc16(rx + 2, w)) {
      uint32_t v = 0;
      for (unsigned i = 0; i < w; i++) v = v << 8 | rx[2 + i];
      *out = v;
      return 0;
    }
    dev->count.crc_errors++;
    if (a + 1 < attempts) dev->count.crc_retries++;
    if (!all_same(rx + 2, w + 2, 0xFF) && !all_same(rx + 2, w + 2, 0x00)) stuck = false;
  }
  dev->count.crc_faults++;
  return stuck ? HW_ENOCHIP : HW_ECRC;
}

int hw_ade9000_write(struct hw_ade9000 *dev, uint16_t addr, uint32_t v)
{
  unsigned w = is_16bit(addr) ? 2 : 4;
  uint8_t tx[6];
  uint16_t h = hw_ade9000_cmd_header(addr, false);
  tx[0] = (uint8_t)(h >> 8);
  tx[1] = (uint8_t)h;
  for (unsigned i = 0; i < w; i++) tx[2 + i] = (uint8_t)(v >> (8 * (w - 1 - i)));
  struct hw_spi_xfer x = { tx, NULL, 2 + w };
  int r = hw_spi_transfer(dev->spi, &x, 1);
  if (r == 0) dev->count.writes++;
  return r;
}

int hw_ade9000_write_verify(struct hw_ade9000 *dev, uint16_t addr, uint32_t v)
{
  int r = hw_ade9000_write(dev, addr, v);
  if (r < 0) return r;
  uint32_t back;
  if ((r = hw_ade9000_read(dev, addr, &back)) < 0) return r;
  uint32_t mask = is_16bit(addr) ? 0xFFFF : 0xFFFFFFFF;
  return (back & mask) == (v & mask) ? 0 : HW_EVERIFY;
}

static double v_pin_nominal(const struct hw_ade9000 *dev)
{
  double ratio = dev->cfg.v_ratio[0] > 0 ? dev->cfg.v_ratio[0] : 1;
  return (dev->cfg.nominal_v > 0 ? dev->cfg.nominal_v : 230) / ratio;
}

int hw_ade9000_init(struct hw_ade9000 *dev, struct hw_spi *spi, const struct hw_ade9000_config *cfg)
{
  memset(dev, 0, sizeof *dev);
  dev->spi = spi;
  dev->cfg = *cfg;
  dev->last_half = -1;
  int r;
  struct hw_spi_config sc = { .mode = 0, .bits_per_word = 8, .speed_hz = 20000000 };
  if ((r = hw_spi_configure(spi, &sc)) < 0) return r;
  /* Identify first: a missing chip must not be mistaken for a slow reset. */
  if ((r = hw_ade9000_read(dev, R_PART_ID, &dev->part_id)) < 0) return r;
  if (!(dev->part_id & PART_ID_ADE9000)) return HW_EWRONGCHIP;
  if ((r = hw_ade9000_write(dev, R_CONFIG1, CONFIG1_SWRST)) < 0) return r;
  if (cfg->delay_ns) cfg->delay_ns(cfg->delay_user, 50000000ull);
  uint32_t st1 = 0;
  for (int i = 0; i < 20; i++) {
    if ((r = hw_ade9000_read(dev, R_STATUS1, &st1)) < 0) return r;
    if (st1 & ST1_RSTDONE) break;
    if (cfg->delay_ns) cfg->delay_ns(cfg->delay_user, 1000000ull);
  }
  if (!(st1 & ST1_RSTDONE)) return -ETIMEDOUT;
  uint32_t ver;
  if ((r = hw_ade9000_read(dev, R_VERSION, &ver)) < 0) return r;
  if (ver == 0 || ver == 0xFFFF) return HW_EWRONGCHIP;
  dev->version = (uint16_t)ver;

  double dip = cfg->dip_pct > 0 ? cfg->dip_pct : 90, swell = cfg->swell_pct > 0 ? cfg->swell_pct : 110;
  double one_code = v_pin_nominal(dev) / PIN_FS_RMS_V * RMS_FS_CODE;
  struct { uint16_t a; uint32_t v; } seq[] = {
    { R_PGA_GAIN, 0 }, { R_CONFIG0, 0 }, { R_CONFIG2, 0 }, { R_CONFIG3, 0 },
    { R_ACCMODE, cfg->mains_60hz ? ACCMODE_SELFREQ : 0 }, { R_ZX_LP_SEL, 0 },
    { R_MASK0, cfg->waveform ? ST0_PAGE_FULL : ST0_EGYRDY },
    { R_MASK1, (7u << ST1_SWELL0) | (7u << ST1_DIP0) }, { R_EVENT_MASK, 0 },
    { R_VLEVEL, VLEVEL_DEFAULT }, { R_DICOEFF, 0 },
    { R_DIP_LVL, (uint32_t)(one_code * dip / 100.0 / 32.0) },
    { R_SWELL_LVL, (uint32_t)(one_code * swell / 100.0 / 32.0) },
    { R_DIP_CYC, 1 }, { R_SWELL_CYC, 1 },
    { R_EGY_TIME, EGY_TIME_1S }, { R_EP_CFG, EP_CFG_1S },
    { R_WFB_CFG, cfg->waveform ? WFB_CFG_STREAM : 0 },
    { R_WFB_PG_IRQEN, cfg->waveform ? WFB_PG_PINGPONG : 0 },
  };
  for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++)
    if ((r = hw_ade9000_write_verify(dev, seq[i].a, seq[i].v)) < 0) return r;
  if ((r = hw_ade9000_write(dev, R_STATUS0, 0xFFFFFFFF)) < 0) return r;
  if ((r = hw_ade9000_write(dev, R_STATUS1, 0xFFFFFFFF)) < 0) return r;
  return hw_ade9000_write_verify(dev, R_RUN, 1);
}

void hw_ade9000_deinit(struct hw_ade9000 *dev)
{
  if (dev->spi) (void)hw_ade9000_write(dev, R_RUN, 0);
  memset(dev, 0, sizeof *dev);
}

static double v_scale(const struct hw_ade9000 *d, unsigned ph) { return d->cfg.v_ratio[ph] > 0 ? d->cfg.v_ratio[ph] : 1; }
static double i_scale(const struct hw_ade9000 *d, unsigned ch) { return d->cfg.i_a_per_v[ch] > 0 ? d->cfg.i_a_per_v[ch] : 1; }

static int rd_s32(struct hw_ade9000 *dev, uint16_t a, int32_t *out)
{
  uint32_t v = 0;
  int r = hw_ade9000_read(dev, a, &v);
  *out = (int32_t)v;
  return r;
}

int hw_ade9000_read_metrics(struct hw_ade9000 *dev, struct hw_ade9000_metrics *out)
{
  memset(out, 0, sizeof *out);
  int r;
  uint32_t st0, st1;
  if ((r = hw_ade9000_read(dev, R_STATUS0, &st0)) < 0) return r;
  if ((r = hw_ade9000_read(dev, R_STATUS1, &st1)) < 0) return r;
  if (st0 & ST0_EGYRDY) {
    for (unsigned ph = 0; ph < 3; ph++) {
      int32_t hi;
      if ((r = rd_s32(dev, (uint16_t)(R_AWATTHR_HI + ph * ENERGY_STRIDE), &hi)) < 0) return r;
      dev->energy_wh_acc[ph] += hi;
    }
    if ((r = hw_ade9000_write(dev, R_STATUS0, ST0_EGYRDY)) < 0) return r;
    out->energy_ready = true;
  }
  for (unsigned ph = 0; ph < 3; ph++) {
    struct hw_ade9000_phase *p = &out->ph[ph];
    uint16_t o = (uint16_t)(ph * PHASE_STRIDE);
    int32_t irms, vrms, watt, var, va, pf, period;
    if ((r = rd_s32(dev, R_AIRMS + o, &irms)) < 0 || (r = rd_s32(dev, R_AVRMS + o, &vrms)) < 0 ||
        (r = rd_s32(dev, R_AWATT + o, &watt)) < 0 || (r = rd_s32(dev, R_AVAR + o, &var)) < 0 ||
        (r = rd_s32(dev, R_AVA + o, &va)) < 0 || (r = rd_s32(dev, R_APF + o, &pf)) < 0 ||
        (r = rd_s32(dev, (uint16_t)(R_APERIOD + ph), &period)) < 0)
      return r;
    double vs = v_scale(dev, ph), is = i_scale(dev, ph);
    double w_per_code = PIN_FS_RMS_V * vs * PIN_FS_RMS_V * is / POWER_FS_CODE;
    p->vrms_v = vrms * PIN_FS_RMS_V / RMS_FS_CODE * vs;
    p->irms_a = irms * PIN_FS_RMS_V / RMS_FS_CODE * is;
    p->p_w = watt * w_per_code;
    p->q_var = var * w_per_code;
    p->s_va = va * w_per_code;
    p->pf = pf / 134217728.0; /* 2^27 */
    p->freq_hz = period > 0 ? 8000.0 * 65536.0 / ((double)(uint32_t)period + 1.0) : 0;
    /* xWATTHR_HI = sum(AWATT) / 2^13 over 8 kSPS samples */
    p->energy_j = (double)dev->energy_wh_acc[ph] * 8192.0 / 8000.0 * w_per_code;
    if (st1 & (1u << (ST1_DIP0 + ph))) {
      int32_t d;
      if ((r = rd_s32(dev, (uint16_t)(R_DIPA + ph), &d)) < 0) return r;
      p->dip = true;
      p->dip_v = d * 32.0 * PIN_FS_RMS_V / RMS_FS_CODE * vs;
    }
    if (st1 & (1u << (ST1_SWELL0 + ph))) {
      int32_t s;
      if ((r = rd_s32(dev, (uint16_t)(R_SWELLA + ph), &s)) < 0) return r;
      p->swell = true;
      p->swell_v = s * 32.0 * PIN_FS_RMS_V / RMS_FS_CODE * vs;
    }
  }
  int32_t nirms;
  if ((r = rd_s32(dev, R_NIRMS, &nirms)) < 0) return r;
  out->in_rms_a = nirms * PIN_FS_RMS_V / RMS_FS_CODE * i_scale(dev, 3);
  uint32_t clr = st1 & ((7u << ST1_SWELL0) | (7u << ST1_DIP0));
  if (clr && (r = hw_ade9000_write(dev, R_STATUS1, clr)) < 0) return r;
  return 0;
}

int hw_ade9000_read_rms_one(struct hw_ade9000 *dev, double irms_a[3], double vrms_v[3])
{
  int r;
  for (unsigned ph = 0; ph < 3; ph++) {
    uint16_t o = (uint16_t)(ph * PHASE_STRIDE);
    int32_t ione, vone;
    if ((r = rd_s32(dev, R_AIRMSONE + o, &ione)) < 0 || (r = rd_s32(dev, R_AVRMSONE + o, &vone)) < 0) return r;
    irms_a[ph] = ione * PIN_FS_RMS_V / RMS_FS_CODE * i_scale(dev, ph);
    vrms_v[ph] = vone * PIN_FS_RMS_V / RMS_FS_CODE * v_scale(dev, ph);
  }
  return 0;
}

int hw_ade9000_wfb_poll(struct hw_ade9000 *dev, struct hw_ade9000_wfb_half *out)
{
  int r;
  uint32_t st0, trg;
  if ((r = hw_ade9000_read(dev, R_STATUS0, &st0)) < 0) return r;
  if (!(st0 & ST0_PAGE_FULL)) return HW_ENOTREADY;
  if ((r = hw_ade9000_read(dev, R_WFB_TRG_STAT, &trg)) < 0) return r;
  if ((r = hw_ade9000_write(dev, R_STATUS0, ST0_PAGE_FULL)) < 0) return r;
  unsigned last_page = (trg >> 12) & 0xF;
  int half = last_page < 8 ? 0 : 1;
  out->overruns = 0;
  if (dev->last_half == half) { out->overruns = 1; dev->count.wfb_overruns++; }
  dev->last_half = half;
  out->half = half;
  uint16_t h = hw_ade9000_cmd_header((uint16_t)(R_WFB_BASE + half * 0x400), true);
  uint8_t hdr[2] = { (uint8_t)(h >> 8), (uint8_t)h };
  uint8_t *buf = out->raw;
  struct hw_spi_xfer x[2] = { { hdr, NULL, 2 }, { NULL, buf, sizeof out->raw } };
  if ((r = hw_spi_transfer(dev->spi, x, 2)) < 0) return r;
  for (unsigned s = 0; s < HW_ADE9000_WFB_SETS_PER_HALF; s++) {
    const uint8_t *p = buf + s * 32;
    for (unsigned k = 0; k < 7; k++, p += 4)
      out->code[s][k] = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
  }
  dev->count.wfb_halves++;
  return 0;
}

double hw_ade9000_wfb_volts_per_code(const struct hw_ade9000 *dev, unsigned ph)
{
  return v_scale(dev, ph) / WFB_FS_CODE; /* ±1 V peak at the pin = ±WFB_FS_CODE */
}

double hw_ade9000_wfb_amps_per_code(const struct hw_ade9000 *dev, unsigned ch)
{
  return i_scale(dev, ch) / WFB_FS_CODE;
}
