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
  R_AIGAIN = 0x000, R_APHCAL0 = 0x006, R_AVGAIN = 0x00B, /* signed, 2^27 = 1 */
  R_AIRMS = 0x20C, R_AVRMS = 0x20D, R_AWATT = 0x210, R_AVAR = 0x211, R_AVA = 0x212,
  R_APF = 0x216, R_AIRMSONE = 0x219, R_AVRMSONE = 0x21A, R_NIRMS = 0x266, R_AWATTHR_HI = 0x2E7,
  R_STATUS0 = 0x402, R_STATUS1 = 0x403, R_MASK0 = 0x405, R_MASK1 = 0x406, R_EVENT_MASK = 0x407,
  R_VLEVEL = 0x40F, R_DIP_LVL = 0x410, R_DIPA = 0x411, R_SWELL_LVL = 0x414, R_SWELLA = 0x415,
  R_APERIOD = 0x418, R_PART_ID = 0x472, R_DICOEFF = 0x072, R_CONFIG0 = 0x060,
  R_RUN = 0x480, R_CONFIG1 = 0x481, R_DIP_CYC = 0x48B, R_SWELL_CYC = 0x48C, R_ACCMODE = 0x492,
  R_CONFIG3 = 0x493, R_ZX_LP_SEL = 0x49A, R_WFB_CFG = 0x4A0, R_WFB_PG_IRQEN = 0x4A1,
  R_WFB_TRG_CFG = 0x4A2, R_WFB_TRG_STAT = 0x4A3, R_CRC_SPI = 0x4A9, R_CONFIG2 = 0x4AF, R_EP_CFG = 0x4B0, R_EGY_TIME = 0x4B2,
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
  WFB_PG_PINGPONG = (1u << 7) | (1u << 15), WFB_PG_LAST = 1u << 15,
  /* Triggered capture: BURST_CHAN 0, WF_CAP_SEL fixed rate, WF_MODE 2 centre, WF_SRC 2 (8k);
   * WF_CAP_EN (bit 4) is set last, its 0 -> 1 edge restarts the fill at 0x800. */
  WFB_CFG_CAP_EN = 1u << 4, WFB_CFG_CAPTURE = (1u << 5) | (2u << 6) | (2u << 8),
  WFB_TRG_FORCE = 1u << 10, WFB_TRG_EVENTS = 0x3, /* DIP bit 0, SWELL bit 1 */
  ST0_WFB_TRIG_IRQ = 1u << 16,
  WFB_WORDS = 2048, WFB_SETS = 256, SET_WORDS = 8, HALF_SETS = 128, POST_SETS = 128,
  BURST_MAX_WORDS = 1024, /* 4096 bytes: spidev's default bufsiz */
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

/* One read transaction: 0, HW_ECRC (mismatch, counted; *stuck tells whether MISO looked stuck)
 * or a transport error. */
static int read_once(struct hw_ade9000 *dev, uint16_t addr, uint32_t *out, bool *stuck)
{
  unsigned w = is_16bit(addr) ? 2 : 4;
  uint8_t tx[8] = { 0 }, rx[8] = { 0 };
  uint16_t h = hw_ade9000_cmd_header(addr, true);
  tx[0] = (uint8_t)(h >> 8);
  tx[1] = (uint8_t)h;
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
  if (stuck) *stuck = all_same(rx + 2, w + 2, 0xFF) || all_same(rx + 2, w + 2, 0x00);
  return HW_ECRC;
}

static unsigned attempts_of(const struct hw_ade9000 *dev) { return 1 + (dev->cfg.crc_retries ? dev->cfg.crc_retries : 2); }

int hw_ade9000_read(struct hw_ade9000 *dev, uint16_t addr, uint32_t *out)
{
  unsigned attempts = attempts_of(dev);
  bool stuck_all = true;
  for (unsigned a = 0; a < attempts; a++) {
    bool stuck = false;
    int r = read_once(dev, addr, out, &stuck);
    if (r != HW_ECRC) return r;
    if (a + 1 < attempts) dev->count.crc_retries++;
    if (!stuck) stuck_all = false;
  }
  dev->count.crc_faults++;
  return stuck_all ? HW_ENOCHIP : HW_ECRC;
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

int hw_ade9000_probe(struct hw_ade9000 *dev)
{
  uint32_t part = 0;
  int r = hw_ade9000_read(dev, R_PART_ID, &part);
  if (r < 0) return r;
  return part & PART_ID_ADE9000 ? 0 : HW_EWRONGCHIP;
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
  for (unsigned ph = 0; ph < 3; ph++)
    if ((r = hw_ade9000_set_calibration(dev, ph, cfg->igain[ph], cfg->phcal[ph], cfg->vgain[ph])) < 0) return r;
  if ((r = hw_ade9000_write(dev, R_STATUS0, 0xFFFFFFFF)) < 0) return r;
  if ((r = hw_ade9000_write(dev, R_STATUS1, 0xFFFFFFFF)) < 0) return r;
  return hw_ade9000_write_verify(dev, R_RUN, 1);
}

int hw_ade9000_set_calibration(struct hw_ade9000 *dev, unsigned ph, int32_t igain, int32_t phcal, int32_t vgain)
{
  if (ph > 2) return -EINVAL;
  uint16_t o = (uint16_t)(ph * PHASE_STRIDE);
  int r;
  if ((r = hw_ade9000_write_verify(dev, (uint16_t)(R_AIGAIN + o), (uint32_t)igain)) < 0 ||
      (r = hw_ade9000_write_verify(dev, (uint16_t)(R_APHCAL0 + o), (uint32_t)phcal)) < 0 ||
      (r = hw_ade9000_write_verify(dev, (uint16_t)(R_AVGAIN + o), (uint32_t)vgain)) < 0)
    return r;
  dev->cfg.igain[ph] = igain;
  dev->cfg.phcal[ph] = phcal;
  dev->cfg.vgain[ph] = vgain;
  return 0;
}

int hw_ade9000_get_calibration(struct hw_ade9000 *dev, unsigned ph, int32_t out[3])
{
  if (ph > 2) return -EINVAL;
  uint16_t o = (uint16_t)(ph * PHASE_STRIDE);
  static const uint16_t regs[3] = { R_AIGAIN, R_APHCAL0, R_AVGAIN };
  for (int k = 0; k < 3; k++) {
    uint32_t v = 0;
    int r = hw_ade9000_read(dev, (uint16_t)(regs[k] + o), &v);
    if (r < 0) return r;
    out[k] = (int32_t)v;
  }
  return 0;
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

/* ---- triggered captures ---- */

/* One verified burst of nwords (<= BURST_MAX_WORDS, not crossing the end of the buffer) from
 * word index w0: header as a TX-only transfer, data RX-only, CS held; then CRC_SPI (the CRC of
 * the MISO data of that burst) is read once and compared. A mismatch repeats the whole burst
 * (re-reading CRC_SPI alone would return the CRC of the failed CRC_SPI read), up to the same
 * bounded number of attempts as register reads; then HW_ECRC and count.crc_faults. */
static int burst_verified(struct hw_ade9000 *dev, unsigned w0, unsigned nwords, uint8_t *buf)
{
  uint16_t h = hw_ade9000_cmd_header((uint16_t)(R_WFB_BASE + w0), true);
  uint8_t hdr[2] = { (uint8_t)(h >> 8), (uint8_t)h };
  unsigned attempts = attempts_of(dev);
  for (unsigned a = 0; a < attempts; a++) {
    struct hw_spi_xfer x[2] = { { hdr, NULL, 2 }, { NULL, buf, nwords * 4 } };
    int r = hw_spi_transfer(dev->spi, x, 2);
    if (r < 0) return r;
    uint32_t crc = 0;
    r = read_once(dev, R_CRC_SPI, &crc, NULL);
    if (r < 0 && r != HW_ECRC) return r;
    if (r == 0) {
      if ((uint16_t)crc == hw_ade9000_crc16(buf, (size_t)nwords * 4)) return 0;
      dev->count.crc_errors++; /* the burst itself was corrupted */
    }
    if (a + 1 < attempts) dev->count.crc_retries++;
  }
  dev->count.crc_faults++;
  return HW_ECRC;
}

static void decode_sets(const uint8_t *buf, unsigned nsets, int32_t (*dst)[7])
{
  for (unsigned s = 0; s < nsets; s++) {
    const uint8_t *p = buf + s * SET_WORDS * 4;
    for (unsigned k = 0; k < 7; k++, p += 4)
      dst[s][k] = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
  }
}

int hw_ade9000_capture_disarm(struct hw_ade9000 *dev)
{
  if (dev->capture.state == 0) return 0;
  memset(&dev->capture, 0, sizeof dev->capture);
  int r = hw_ade9000_write(dev, R_WFB_CFG, WFB_CFG_CAPTURE); /* WF_CAP_EN = 0: stop filling */
  if (r == 0) r = hw_ade9000_write(dev, R_WFB_TRG_CFG, 0);
  if (r == 0) r = hw_ade9000_write(dev, R_WFB_PG_IRQEN, 0);
  return r;
}

int hw_ade9000_capture_arm(struct hw_ade9000 *dev, const struct hw_ade9000_capture_config *cfg)
{
  if (dev->capture.state != 0 || dev->cfg.waveform) return HW_EBUSY;
  if (cfg->triggers & ~(uint32_t)WFB_TRG_EVENTS) return HW_ERANGE;
  bool drain = cfg->pre_sets > HW_ADE9000_CAPTURE_CHIP_PRE_SETS;
  /* the ring must reach back pre_sets before the trigger while up to two halves after it were
   * drained already */
  if (drain && (!cfg->ring || cfg->ring_sets < cfg->pre_sets + 2 * HALF_SETS)) return HW_ERANGE;
  int r;
  /* Stop any fill, then triggers, page interrupts, clear stale status, and start (0 -> 1). */
  if ((r = hw_ade9000_write_verify(dev, R_WFB_CFG, WFB_CFG_CAPTURE)) < 0) return r;
  if ((r = hw_ade9000_write_verify(dev, R_WFB_TRG_CFG, cfg->triggers)) < 0) return r;
  if ((r = hw_ade9000_write_verify(dev, R_WFB_PG_IRQEN, drain ? WFB_PG_PINGPONG : WFB_PG_LAST)) < 0) return r;
  if ((r = hw_ade9000_write(dev, R_STATUS0, ST0_WFB_TRIG_IRQ | ST0_PAGE_FULL)) < 0) return r;
  if ((r = hw_ade9000_write_verify(dev, R_WFB_CFG, WFB_CFG_CAPTURE | WFB_CFG_CAP_EN)) < 0) return r;
  memset(&dev->capture, 0, sizeof dev->capture);
  dev->capture.state = 1;
  dev->capture.cfg = *cfg;
  dev->capture.drain = drain;
  return 0;
}

int hw_ade9000_capture_trigger(struct hw_ade9000 *dev)
{
  if (dev->capture.state == 0) return HW_ENOTARMED;
  if (dev->capture.state == 2) return 0; /* already stopped: the capture stands */
  /* TRIG_FORCE; written without read-back (it acts, it is not configuration). */
  return hw_ade9000_write(dev, R_WFB_TRG_CFG, dev->capture.cfg.triggers | WFB_TRG_FORCE);
}

static int drain_half(struct hw_ade9000 *dev, int half)
{
  struct hw_ade9000_capture_state *c = &dev->capture;
  uint8_t buf[BURST_MAX_WORDS * 4];
  int r = burst_verified(dev, (unsigned)half * BURST_MAX_WORDS, BURST_MAX_WORDS, buf);
  if (r < 0) return r;
  int32_t set[HALF_SETS][7];
  decode_sets(buf, HALF_SETS, set);
  for (unsigned s = 0; s < HALF_SETS; s++)
    memcpy(c->cfg.ring[(c->drained_sets + s) % c->cfg.ring_sets], set[s], sizeof set[s]);
  c->drained_sets += HALF_SETS;
  c->next_half ^= 1;
  dev->count.wfb_halves++;
  return 0;
}

int hw_ade9000_capture_poll(struct hw_ade9000 *dev)
{
  struct hw_ade9000_capture_state *c = &dev->capture;
  if (c->state == 0) return HW_ENOTARMED;
  if (c->state == 2) return 0;
  int r;
  uint32_t st0, trg;
  if ((r = hw_ade9000_read(dev, R_STATUS0, &st0)) < 0) return r;
  if (st0 & ST0_WFB_TRIG_IRQ) {
    /* Stopped: the half in flight (if any) stays in the chip and is read with the rest. */
    if ((r = hw_ade9000_read(dev, R_WFB_TRG_STAT, &trg)) < 0) return r;
    if ((r = hw_ade9000_write(dev, R_STATUS0, ST0_WFB_TRIG_IRQ | ST0_PAGE_FULL)) < 0) return r;
    if (st0 & ST0_PAGE_FULL) c->wrapped = true;
    c->trigger_addr = (uint16_t)(trg & 0x7FF);
    c->state = 2;
    return 0;
  }
  if (!(st0 & ST0_PAGE_FULL)) return HW_ENOTREADY;
  if ((r = hw_ade9000_write(dev, R_STATUS0, ST0_PAGE_FULL)) < 0) return r;
  if (!c->drain) { c->wrapped = true; return HW_ENOTREADY; } /* the buffer has filled once */
  if ((r = hw_ade9000_read(dev, R_WFB_TRG_STAT, &trg)) < 0) return r;
  int half = ((trg >> 12) & 0xF) < 8 ? 0 : 1;
  if (half != c->next_half) { /* a half was overwritten unread: the history has a gap */
    dev->count.wfb_overruns++;
    (void)hw_ade9000_capture_disarm(dev);
    return HW_EOVERRUN;
  }
  if ((r = drain_half(dev, half)) < 0) return r;
  return HW_ENOTREADY;
}

int hw_ade9000_capture_read(struct hw_ade9000 *dev, struct hw_ade9000_capture *out)
{
  struct hw_ade9000_capture_state *c = &dev->capture;
  if (c->state == 0) return HW_ENOTARMED;
  if (c->state != 2) return HW_ENOTREADY;
  /* Absolute set numbers count from the arming (the fill restarted at word 0, so set a sits in
   * slot a % 256). The chip stopped POST_SETS after the trigger set; its buffer holds sets
   * end-255..end, the drained ring the ones before. */
  int64_t trig_slot = c->trigger_addr / SET_WORDS, stop_slot = (trig_slot + POST_SETS) % WFB_SETS;
  int64_t end, oldest;
  if (c->drain) {
    int64_t d = (int64_t)c->drained_sets; /* the chip wrote at least sets 0..d-1 */
    end = d - 1 + ((stop_slot - (d - 1)) % WFB_SETS + WFB_SETS) % WFB_SETS;
    int64_t ring_first = d - (int64_t)(d < c->cfg.ring_sets ? d : c->cfg.ring_sets);
    oldest = ring_first < end - (WFB_SETS - 1) ? ring_first : end - (WFB_SETS - 1);
  } else {
    end = c->wrapped ? WFB_SETS + stop_slot : stop_slot;
    oldest = end - (WFB_SETS - 1);
  }
  if (oldest < 0) oldest = 0;
  int64_t trig = end - POST_SETS;
  int64_t first = trig - (int64_t)c->cfg.pre_sets;
  if (first < oldest) first = oldest;
  unsigned n = (unsigned)(end - first + 1);
  if (!out->code || out->cap < n) { out->n = n; return HW_ETRUNC; }
  unsigned k = 0;
  /* history older than the chip buffer, from the ring */
  for (int64_t a = first; a <= end - WFB_SETS; a++, k++)
    memcpy(out->code[k], c->cfg.ring[a % c->cfg.ring_sets], sizeof out->code[k]);
  /* the chip part, in bursts of <= 1024 words that do not cross the end of the buffer */
  uint8_t buf[BURST_MAX_WORDS * 4];
  int64_t a = first > end - (WFB_SETS - 1) ? first : end - (WFB_SETS - 1);
  while (a <= end) {
    unsigned slot = (unsigned)(a % WFB_SETS);
    unsigned sets = (unsigned)(end - a + 1);
    if (sets > BURST_MAX_WORDS / SET_WORDS) sets = BURST_MAX_WORDS / SET_WORDS;
    if (sets > WFB_SETS - slot) sets = WFB_SETS - slot;
    int r = burst_verified(dev, slot * SET_WORDS, sets * SET_WORDS, buf);
    if (r < 0) return r; /* still complete: the caller may read again or disarm */
    decode_sets(buf, sets, out->code + k);
    k += sets;
    a += sets;
  }
  out->n = n;
  out->trigger_index = (unsigned)(trig - first);
  out->trigger_addr = c->trigger_addr;
  return hw_ade9000_capture_disarm(dev);
}
