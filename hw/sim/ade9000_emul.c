/*
 * ade9000_emul.c — an emulated ADE9000 behind the hw_spi transport (the Zephyr "emul" idea):
 * it decodes the command frames the driver really sends, keeps a register file and a waveform
 * buffer, answers reads with data + CRC_SPI, and computes its result registers from the pin
 * signals the simulator pushes at 8 kSPS.
 *
 * Independence: every address, scale and the CRC below were written from the ADE9000 facts,
 * separately from the driver (ade9000.c, bitwise CRC there, table CRC here); nothing is shared
 * but the transport interface, so a wrong constant cannot pass both. Model limits (documented
 * in docs/hardware.md): PGA gain 1 only; results are block averages over 1600 samples (10
 * cycles at 50 Hz, 12 at 60 Hz) rather than the chip's low-pass filters; the waveform buffer is
 * always filled with all channels (BURST_CHAN 0) at the fixed 8 kSPS rate; reset is immediate.
 * Waveform modes: 0 stops when full, 1 stops at a trigger, 2 fills 1024 more words (128 sets)
 * after it and stops (STATUS0.WFB_TRIG_IRQ), 3 keeps filling and saves the event address;
 * triggers are DIP/SWELL (WFB_TRG_CFG bits 0/1, at the cycle the event is declared) and
 * TRIG_FORCE (bit 10). CRC_SPI after a burst covers the burst's MISO data.
 *
 * Calibration: xIGAIN (0x000) and xVGAIN (0x00B) scale the current and voltage by 1 + REG/2^27
 * and xPHCAL0 (0x006) delays the current by φ, decoded from ADI's formula REG/2^27 =
 * (sin(φ − ω) + sin ω) / sin(2ω − φ), ω = 2π·f/8000, solved here in closed form (the driver
 * computes the forward direction). They act on every result register (rms, one-cycle rms and the
 * dip/swell compare, powers, PF, energy); the fixed-rate waveform samples are taken before them
 * (WF_SRC 2), so the waveform buffer stays raw. The delay is a quarter-cycle mix of the current
 * (exact at the fundamental, approximate for harmonics).
 *
 * Faults: crc_burst corrupts the CRC of the next N reads; burst_corrupt flips a data bit of the
 * next N buffer bursts; stuck_miso ORs bits into every MISO
 * byte; missing makes MISO read 0xFF and ignores writes; wrong_part (settable any time) makes
 * PART_ID read as another part's.
 */
#include "emul.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* addresses */
#define A_RESULTS_PHASE_STEP 0x20
#define A_IRMS 0x20C
#define A_VRMS 0x20D
#define A_WATT 0x210
#define A_VAR 0x211
#define A_VA 0x212
#define A_PF 0x216
#define A_IRMSONE 0x219
#define A_VRMSONE 0x21A
#define A_NIRMS 0x266
#define A_WATTHR_LO 0x2E6
#define A_ENERGY_PHASE_STEP 0x3C
#define A_STATUS0 0x402
#define A_STATUS1 0x403
#define A_MASK0 0x405
#define A_DIP_LVL 0x410
#define A_DIP_A 0x411
#define A_SWELL_LVL 0x414
#define A_SWELL_A 0x415
#define A_PERIOD_A 0x418
#define A_PART_ID 0x472
#define PART_ID_ADE9000 0x00100000u /* bit 20 */
#define PART_ID_OTHER 0x00040000u   /* an ADE73xx-like part: bit 20 clear */
#define A_CONFIG1 0x481
#define A_DIP_CYC 0x48B
#define A_SWELL_CYC 0x48C
#define A_ACCMODE 0x492
#define A_WFB_CFG 0x4A0
#define A_WFB_PG_IRQEN 0x4A1
#define A_WFB_TRG_CFG 0x4A2
#define A_WFB_TRG_STAT 0x4A3
#define A_CRC_SPI 0x4A9
#define A_LAST_CMD 0x4AE
#define A_EP_CFG 0x4B0
#define A_EGY_TIME 0x4B2
#define A_RUN 0x480
#define A_VERSION 0x4FE
#define A_WFB_FIRST 0x800
#define A_IGAIN 0x000
#define A_PHCAL0 0x006
#define A_VGAIN 0x00B
#define CAL_ONE 134217728.0 /* 2^27 */

/* WFB_CFG fields, WFB_TRG_CFG events, STATUS0 bits (facts/ade9000.md; written separately) */
#define WFCFG_CAP_EN 0x0010u
#define WFCFG_MODE(v) (((v) >> 6) & 3u)
#define TRGCFG_DIP 0x0001u
#define TRGCFG_SWELL 0x0002u
#define TRGCFG_FORCE 0x0400u
#define S0_WFB_TRIG_IRQ (1u << 16)
#define S0_PAGE_FULL (1u << 17)
#define WFB_POST_TRIGGER_WORDS 1024 /* mode 2: half the buffer after the trigger */

/* scaling: ±1 V peak at a pin is full scale */
#define FS_PIN_RMS 0.707
#define FS_RMS 52702092.0
#define FS_POWER 20694066.0
#define FS_SAMPLE_8K 74518668.0

static uint16_t crc_table[256];
static void crc_table_init(void)
{
  if (crc_table[1]) return;
  for (unsigned n = 0; n < 256; n++) {
    uint16_t r = (uint16_t)(n << 8);
    for (int k = 0; k < 8; k++) r = (uint16_t)((r << 1) ^ ((r & 0x8000) ? 0x1021 : 0));
    crc_table[n] = r;
  }
}

uint16_t ade_emul_crc(const uint8_t *d, size_t n)
{
  crc_table_init();
  uint16_t c = 0xFFFF;
  while (n--) c = (uint16_t)((c << 8) ^ crc_table[((c >> 8) ^ *d++) & 0xFF]);
  return c;
}

static unsigned reg_bytes(unsigned a) { return (a >= 0x480 && a < 0x4FF) ? 2 : 4; }

static bool writable(unsigned a)
{
  if (a < 0x200) return true;
  if (a == A_STATUS0 || a == A_STATUS1) return true; /* write-1-to-clear */
  if (a >= 0x405 && a <= 0x410) return true;
  if (a == A_SWELL_LVL) return true;
  if (a >= 0x480 && a < 0x4FE)
    return a != A_WFB_TRG_STAT && a != A_CRC_SPI && a != A_LAST_CMD && a != 0x4A8;
  return false;
}

static void reset_regs(struct ade_emul *e)
{
  memset(e->reg, 0, sizeof e->reg);
  e->reg[A_VERSION] = 0x0040;
  e->reg[A_STATUS1] = 1u << 16; /* RSTDONE */
  memset(e->wfb, 0, sizeof e->wfb);
  e->wfb_pos = 0;
  e->wfb_stopped = e->wfb_triggered = false;
  e->wfb_post_left = 0;
  e->burst_crc_pending = false;
  e->blk_n = e->cyc_n = e->egy_n = 0;
  memset(e->s_vv, 0, sizeof e->s_vv); memset(e->s_ii, 0, sizeof e->s_ii);
  memset(e->s_vi, 0, sizeof e->s_vi); memset(e->s_vqi, 0, sizeof e->s_vqi);
  memset(e->c_vv, 0, sizeof e->c_vv); memset(e->c_ii, 0, sizeof e->c_ii); memset(e->egy_acc, 0, sizeof e->egy_acc);
  memset(e->h_vv, 0, sizeof e->h_vv); memset(e->h_ii, 0, sizeof e->h_ii);
  e->h_n = 0;
  e->half_odd = false;
  for (int p = 0; p < 3; p++) {
    e->zc_count[p] = 0; e->dip_run[p] = e->swell_run[p] = 0;
    e->dip_min[p] = INT64_MAX; e->swell_max[p] = INT64_MIN;
  }
}

/* Word index of the last word put into the buffer. */
static unsigned wfb_last_word(const struct ade_emul *e) { return (e->wfb_pos + 2047) & 2047; }

static void wfb_stop(struct ade_emul *e)
{
  e->wfb_stopped = true;
  e->wfb_triggered = false;
  unsigned last = wfb_last_word(e);
  e->reg[A_WFB_TRG_STAT] = (e->reg[A_WFB_TRG_STAT] & 0x07FF) | ((last / 128) << 12);
  e->reg[A_STATUS0] |= S0_WFB_TRIG_IRQ;
}

/* An enabled trigger event (chip event or TRIG_FORCE) at the current fill position. */
static void wfb_trigger(struct ade_emul *e)
{
  uint32_t cfg = e->reg[A_WFB_CFG];
  if (!(cfg & WFCFG_CAP_EN) || e->wfb_stopped || e->wfb_triggered) return;
  unsigned mode = WFCFG_MODE(cfg);
  if (mode == 0) return;
  /* WFB_TRIG_ADDR: the last sample put into the buffer when the event occurred */
  e->reg[A_WFB_TRG_STAT] = (e->reg[A_WFB_TRG_STAT] & 0xF000) | wfb_last_word(e);
  if (mode == 1) wfb_stop(e);
  else if (mode == 2) { e->wfb_triggered = true; e->wfb_post_left = WFB_POST_TRIGGER_WORDS / 8; }
  /* mode 3 keeps filling: only the event address is saved */
}

static void burst_crc_resolve(struct ade_emul *e)
{
  if (!e->burst_crc_pending) return;
  crc_table_init();
  uint16_t c = 0xFFFF;
  for (unsigned b = 0; b < e->burst_nbytes; b++) {
    uint32_t v = (uint32_t)e->wfb[(e->burst_w0 + b / 4) & 2047];
    uint8_t byte = (uint8_t)(v >> (8 * (3 - b % 4)));
    c = (uint16_t)((c << 8) ^ crc_table[((c >> 8) ^ byte) & 0xFF]);
  }
  e->reg[A_CRC_SPI] = c;
  e->burst_crc_pending = false;
}

static void do_write(struct ade_emul *e, unsigned a, uint32_t v)
{
  e->writes++;
  if (!writable(a)) return;
  if (reg_bytes(a) == 2) v &= 0xFFFF;
  if (a == A_STATUS0 || a == A_STATUS1) { e->reg[a] &= ~v; return; }
  if (a == A_CONFIG1 && (v & 1)) { reset_regs(e); e->reg[A_CONFIG1] = v & ~1u; return; }
  if (a == A_WFB_CFG && !(e->reg[a] & WFCFG_CAP_EN) && (v & WFCFG_CAP_EN)) {
    /* WF_CAP_EN 0 -> 1: the fill (re)starts at 0x800 */
    e->wfb_pos = 0;
    e->wfb_stopped = e->wfb_triggered = false;
    e->wfb_post_left = 0;
  }
  if (a == A_WFB_TRG_CFG) {
    e->reg[a] = v & ~TRGCFG_FORCE; /* TRIG_FORCE acts once */
    if (v & TRGCFG_FORCE) wfb_trigger(e);
    return;
  }
  e->reg[a] = v;
}

static uint32_t read_value(struct ade_emul *e, unsigned a)
{
  if (a == A_CRC_SPI) burst_crc_resolve(e);
  if (a == A_PART_ID) return e->wrong_part ? PART_ID_OTHER : PART_ID_ADE9000; /* read-only: the part itself */
  if (a < 0x500) return e->reg[a];
  return 0;
}

static inline uint8_t miso(const struct ade_emul *e, uint8_t b)
{
  return e->missing ? 0xFF : (uint8_t)(b | e->stuck_miso);
}

static int emul_configure(void *ctx, const struct hw_spi_config *cfg)
{
  return cfg->mode == 0 || cfg->mode == 3 ? 0 : -EINVAL; /* the chip samples on rising edges */
}

static int emul_transfer(void *ctx, const struct hw_spi_xfer *x, unsigned n)
{
  struct ade_emul *e = ctx;
  unsigned pos = 0, addr = 0, width = 0;
  bool rd = false;
  uint16_t hdr = 0;
  uint8_t resp[6] = { 0 }, wbuf[4] = { 0 };
  unsigned wn = 0;
  bool corrupt = false;
  for (unsigned t = 0; t < n; t++) {
    const uint8_t *tx = x[t].tx;
    uint8_t *rx = x[t].rx;
    uint32_t len = x[t].len, k = 0;
    while (k < len) {
      if (pos < 2) {
        hdr = (uint16_t)(hdr << 8 | (tx ? tx[k] : 0));
        if (rx) rx[k] = miso(e, 0);
        pos++, k++;
        if (pos == 2) {
          addr = hdr >> 4;
          rd = (hdr >> 3) & 1;
          width = reg_bytes(addr);
          if (rd && addr >= A_WFB_FIRST && e->burst_corrupt) { corrupt = true; e->burst_corrupt--; }
          if (rd && addr < A_WFB_FIRST) {
            uint32_t v = read_value(e, addr);
            for (unsigned i = 0; i < width; i++) resp[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
            uint16_t c = ade_emul_crc(resp, width);
            if (e->crc_burst) { c ^= 0x0100; e->crc_burst--; }
            resp[width] = (uint8_t)(c >> 8);
            resp[width + 1] = (uint8_t)c;
          }
        }
        continue;
      }
      unsigned off = pos - 2;
      if (!rd) {
        if (wn < 4) wbuf[wn++] = tx ? tx[k] : 0;
        if (rx) rx[k] = miso(e, 0);
        pos++, k++;
        continue;
      }
      if (addr >= A_WFB_FIRST) {
        /* burst through the waveform buffer; the address auto-increments per word */
        if (off % 4 == 0 && !e->missing && !e->stuck_miso && rx) {
          while (len - k >= 4) {
            unsigned w = ((addr - A_WFB_FIRST) + off / 4) & 2047;
            uint32_t v = (uint32_t)e->wfb[w];
            rx[k] = (uint8_t)(v >> 24); rx[k + 1] = (uint8_t)(v >> 16);
            rx[k + 2] = (uint8_t)(v >> 8); rx[k + 3] = (uint8_t)v;
            if (off == 0 && corrupt) rx[k] ^= 0x01;
            k += 4, pos += 4, off += 4;
          }
          if (k == len) continue;
        }
        unsigned w = ((addr - A_WFB_FIRST) + off / 4) & 2047;
        uint32_t v = (uint32_t)e->wfb[w];
        if (rx) rx[k] = miso(e, (uint8_t)((v >> (8 * (3 - off % 4))) ^ (off == 0 && corrupt ? 1u : 0u)));
        pos++, k++;
        continue;
      }
      uint8_t b = off < width + 2 ? resp[off] : 0;
      if (rx) rx[k] = miso(e, b);
      pos++, k++;
    }
  }
  if (e->missing || pos < 2) return 0;
  if (rd) {
    e->reads++;
    if (addr < A_WFB_FIRST && pos >= 2 + width) {
      e->burst_crc_pending = false;
      e->reg[A_CRC_SPI] = ade_emul_crc(resp, width);
      e->reg[A_LAST_CMD] = hdr;
    } else if (addr >= A_WFB_FIRST) {
      /* CRC_SPI covers the MISO data of the burst (as the chip sent it, before line faults) */
      e->burst_crc_pending = true;
      e->burst_w0 = addr - A_WFB_FIRST;
      e->burst_nbytes = pos - 2;
      e->reg[A_LAST_CMD] = hdr;
    }
  } else if (wn >= width) {
    uint32_t v = 0;
    for (unsigned i = 0; i < width; i++) v = v << 8 | wbuf[i];
    do_write(e, addr, v);
    e->reg[A_LAST_CMD] = hdr;
  }
  return 0;
}

static const struct hw_spi_ops emul_ops = { emul_configure, emul_transfer };

void ade_emul_init(struct ade_emul *e)
{
  memset(e, 0, sizeof *e);
  e->spi.ops = &emul_ops;
  e->spi.ctx = e;
  crc_table_init();
  reset_regs(e);
}

void ade_emul_power_cycle(struct ade_emul *e)
{
  reset_regs(e);
}

bool ade_emul_irq0(const struct ade_emul *e)
{
  return !e->missing && (e->reg[A_STATUS0] & e->reg[A_MASK0]) != 0;
}

static int32_t to_code(double pin_v, double fs)
{
  double c = pin_v * fs;
  if (c > 134217727.0) c = 134217727.0;
  if (c < -134217728.0) c = -134217728.0;
  return (int32_t)(c >= 0 ? c + 0.5 : c - 0.5); /* round half away; inline, no libm call */
}

static void end_block(struct ade_emul *e)
{
  double n = e->blk_n;
  for (int p = 0; p < 3; p++) {
    unsigned o = (unsigned)p * A_RESULTS_PHASE_STEP;
    double vr = sqrt(e->s_vv[p] / n), ir = sqrt(e->s_ii[p] / n);
    double pw = e->s_vi[p] / n, q = e->s_vqi[p] / n, s = vr * ir;
    const double pfs = FS_POWER / (FS_PIN_RMS * FS_PIN_RMS);
    e->reg[A_VRMS + o] = (uint32_t)lrint(vr / FS_PIN_RMS * FS_RMS);
    e->reg[A_IRMS + o] = (uint32_t)lrint(ir / FS_PIN_RMS * FS_RMS);
    e->reg[A_WATT + o] = (uint32_t)(int32_t)lrint(pw * pfs);
    e->reg[A_VAR + o] = (uint32_t)(int32_t)lrint(q * pfs);
    e->reg[A_VA + o] = (uint32_t)(int32_t)lrint(s * pfs);
    e->reg[A_PF + o] = s > 0 ? (uint32_t)(int32_t)lrint(pw / s * 134217728.0) : 0;
    if (e->zc_count[p] >= 2) {
      double per = (e->zc_last[p] - e->zc_first[p]) / (e->zc_count[p] - 1);
      e->reg[A_PERIOD_A + p] = (uint32_t)lrint(per * 65536.0) - 1;
    }
    e->s_vv[p] = e->s_ii[p] = e->s_vi[p] = e->s_vqi[p] = 0;
    e->zc_count[p] = 0;
  }
  e->reg[A_NIRMS] = (uint32_t)lrint(sqrt(e->s_ii[3] / n) / FS_PIN_RMS * FS_RMS);
  e->s_ii[3] = 0;
  e->blk_n = 0;
}

/* End of a half line cycle: xVRMSONE/xIRMSONE = rms over the last full cycle (this half and
 * the one before; IEC 61000-4-30 Urms(1/2)), refreshed every half cycle as on the chip. The
 * dip/swell compare runs on every second refresh (one decision per cycle, DIP_CYC/SWELL_CYC in
 * cycles), where the value covers exactly that cycle. */
static void end_half(struct ade_emul *e)
{
  unsigned dip_cyc = e->reg[A_DIP_CYC] ? e->reg[A_DIP_CYC] : 1;
  unsigned swell_cyc = e->reg[A_SWELL_CYC] ? e->reg[A_SWELL_CYC] : 1;
  bool cycle_end = e->half_odd;
  e->half_odd = !e->half_odd;
  double n = (double)(e->cyc_n + e->h_n);
  for (int p = 0; p < 3; p++) {
    double one = sqrt((e->c_vv[p] + e->h_vv[p]) / n) / FS_PIN_RMS * FS_RMS;
    int64_t code = (int64_t)lrint(one);
    e->reg[A_VRMSONE + (unsigned)p * A_RESULTS_PHASE_STEP] = (uint32_t)code;
    e->reg[A_IRMSONE + (unsigned)p * A_RESULTS_PHASE_STEP] =
        (uint32_t)lrint(sqrt((e->c_ii[p] + e->h_ii[p]) / n) / FS_PIN_RMS * FS_RMS);
    e->h_vv[p] = e->c_vv[p];
    e->h_ii[p] = e->c_ii[p];
    e->c_vv[p] = 0;
    e->c_ii[p] = 0;
    if (!cycle_end) continue;
    int64_t cmp = code >> 5;
    uint32_t dl = e->reg[A_DIP_LVL], sl = e->reg[A_SWELL_LVL];
    if (dl && cmp < dl) {
      if (cmp < e->dip_min[p]) e->dip_min[p] = cmp;
      if (++e->dip_run[p] == dip_cyc && (e->reg[A_WFB_TRG_CFG] & TRGCFG_DIP)) wfb_trigger(e);
      if (e->dip_run[p] >= dip_cyc) {
        e->reg[A_STATUS1] |= 1u << (23 + p);
        e->reg[A_DIP_A + p] = (uint32_t)e->dip_min[p];
      }
    } else {
      e->dip_run[p] = 0;
      e->dip_min[p] = INT64_MAX;
    }
    if (sl && cmp > sl) {
      if (cmp > e->swell_max[p]) e->swell_max[p] = cmp;
      if (++e->swell_run[p] == swell_cyc && (e->reg[A_WFB_TRG_CFG] & TRGCFG_SWELL)) wfb_trigger(e);
      if (e->swell_run[p] >= swell_cyc) {
        e->reg[A_STATUS1] |= 1u << (20 + p);
        e->reg[A_SWELL_A + p] = (uint32_t)e->swell_max[p];
      }
    } else {
      e->swell_run[p] = 0;
      e->swell_max[p] = INT64_MIN;
    }
  }
  e->h_n = e->cyc_n;
  e->cyc_n = 0;
}

/* The calibration registers as factors (see the top of this file). */
static void cal_update(struct ade_emul *e, bool hz60)
{
  for (int p = 0; p < 3; p++) {
    unsigned o = (unsigned)p * A_RESULTS_PHASE_STEP;
    uint32_t ig = e->reg[A_IGAIN + o], pc = e->reg[A_PHCAL0 + o], vg = e->reg[A_VGAIN + o];
    if (e->cal_valid && e->cal_hz60 == hz60 && e->cal_reg[p][0] == ig && e->cal_reg[p][1] == pc && e->cal_reg[p][2] == vg)
      continue;
    e->cal_reg[p][0] = ig, e->cal_reg[p][1] = pc, e->cal_reg[p][2] = vg;
    e->cal_gi[p] = 1.0 + (double)(int32_t)ig / CAL_ONE;
    e->cal_gv[p] = 1.0 + (double)(int32_t)vg / CAL_ONE;
    /* x·sin(2ω − φ) = sin(φ − ω) + sin ω  ⇔  A·cos φ − B·sin φ = sin ω, A = x·sin 2ω + sin ω,
     * B = x·cos 2ω + cos ω: φ = acos(sin ω / |(A, B)|) − atan2(B, A) (the root through 0) */
    double x = (double)(int32_t)pc / CAL_ONE, w = 2.0 * M_PI * (hz60 ? 60.0 : 50.0) / 8000.0;
    double a = x * sin(2 * w) + sin(w), b = x * cos(2 * w) + cos(w), c = sin(w) / sqrt(a * a + b * b);
    double phi = pc ? acos(c > 1 ? 1 : c < -1 ? -1 : c) - atan2(b, a) : 0.0; /* 0 exactly: an uncalibrated chip's results keep their bits */
    e->cal_cos[p] = cos(phi);
    e->cal_sin[p] = sin(phi);
  }
  e->cal_hz60 = hz60;
  e->cal_valid = true;
}

void ade_emul_push(struct ade_emul *e, const double v_raw[3], const double i_raw[4])
{
  if (e->missing || !(e->reg[A_RUN] & 1)) return;
  bool hz60 = (e->reg[A_ACCMODE] >> 8) & 1;
  const double *v = v_raw, *i = i_raw;
  e->sample_no++;
  /* waveform buffer: fixed-rate sets IA VA IB VB IC VC IN spare; 4 LSBs of each code dropped */
  uint32_t wcfg = e->reg[A_WFB_CFG];
  if ((wcfg & WFCFG_CAP_EN) && !e->wfb_stopped) {
    if (e->burst_crc_pending && e->wfb_pos < e->burst_w0 + (e->burst_nbytes + 3) / 4 &&
        e->burst_w0 < e->wfb_pos + 8)
      burst_crc_resolve(e); /* the words of the last burst are about to change */
    int32_t *s = &e->wfb[e->wfb_pos];
    int32_t c;
    c = to_code(i[0], FS_SAMPLE_8K); s[0] = c - (c & 15);
    c = to_code(v[0], FS_SAMPLE_8K); s[1] = c - (c & 15);
    c = to_code(i[1], FS_SAMPLE_8K); s[2] = c - (c & 15);
    c = to_code(v[1], FS_SAMPLE_8K); s[3] = c - (c & 15);
    c = to_code(i[2], FS_SAMPLE_8K); s[4] = c - (c & 15);
    c = to_code(v[2], FS_SAMPLE_8K); s[5] = c - (c & 15);
    c = to_code(i[3], FS_SAMPLE_8K); s[6] = c - (c & 15);
    s[7] = 0;
    e->wfb_pos += 8;
    if (e->wfb_pos % 128 == 0) {
      unsigned page = e->wfb_pos / 128 - 1;
      if ((e->reg[A_WFB_PG_IRQEN] >> page) & 1) {
        e->reg[A_STATUS0] |= S0_PAGE_FULL;
        /* last page in [15:12]; [10:0] keeps the trigger address */
        e->reg[A_WFB_TRG_STAT] = (e->reg[A_WFB_TRG_STAT] & 0x07FF) | (page << 12);
      }
      if (e->wfb_pos == 2048) {
        e->wfb_pos = 0;
        if (WFCFG_MODE(wcfg) == 0) { e->wfb_stopped = true; } /* stop when full */
      }
    }
    if (e->wfb_triggered && --e->wfb_post_left == 0) wfb_stop(e);
  }
  /* quarter-cycle delayed voltage for reactive power (linear interpolation at 60 Hz) */
  double dq = hz60 ? 8000.0 / 240.0 : 8000.0 / 200.0;
  unsigned d0 = (unsigned)dq;
  double fr = dq - d0;
  /* the metering datapath after the waveform buffer: calibrated signals */
  cal_update(e, hz60);
  double vc[3], ic[4];
  for (int p = 0; p < 3; p++) {
    double iq = e->idelay[p][(e->vd_pos - d0) & 63] * (1 - fr) + e->idelay[p][(e->vd_pos - d0 - 1) & 63] * fr;
    e->idelay[p][e->vd_pos & 63] = i_raw[p];
    vc[p] = v_raw[p] * e->cal_gv[p];
    ic[p] = e->cal_gi[p] * (i_raw[p] * e->cal_cos[p] + iq * e->cal_sin[p]); /* i(t − φ/ω) */
  }
  ic[3] = i_raw[3];
  v = vc;
  i = ic;
  for (int p = 0; p < 3; p++) {
    double vq = e->vdelay[p][(e->vd_pos - d0) & 63] * (1 - fr) +
                e->vdelay[p][(e->vd_pos - d0 - 1) & 63] * fr;
    e->s_vv[p] += v[p] * v[p];
    e->s_ii[p] += i[p] * i[p];
    e->s_vi[p] += v[p] * i[p];
    e->s_vqi[p] += vq * i[p];
    e->c_vv[p] += v[p] * v[p];
    e->c_ii[p] += i[p] * i[p];
    e->vdelay[p][e->vd_pos & 63] = v[p];
    if (e->prev_v[p] < 0 && v[p] >= 0) { /* positive-going zero crossing, interpolated */
      double t = (double)e->sample_no - 1 + (-e->prev_v[p]) / (v[p] - e->prev_v[p]);
      if (e->zc_count[p] == 0) e->zc_first[p] = t;
      e->zc_last[p] = t;
      e->zc_count[p]++;
    }
    e->prev_v[p] = v[p];
  }
  e->s_ii[3] += i[3] * i[3];
  e->vd_pos = (e->vd_pos + 1) & 63;
  /* energy: AWATT summed at 8 kSPS, 2^-13 into xWATTHR_HI at each EGY_TIME+1 samples */
  if (e->reg[A_EP_CFG] & 1) {
    const double pfs = FS_POWER / (FS_PIN_RMS * FS_PIN_RMS);
    for (int p = 0; p < 3; p++) {
      double x = v[p] * i[p] * pfs;
      e->egy_acc[p] += (int64_t)(x >= 0 ? x + 0.5 : x - 0.5);
    }
    if (++e->egy_n >= e->reg[A_EGY_TIME] + 1) {
      for (int p = 0; p < 3; p++) {
        unsigned a = A_WATTHR_LO + (unsigned)p * A_ENERGY_PHASE_STEP;
        int64_t acc = e->egy_acc[p];
        e->reg[a] = (uint32_t)((acc & 0x1FFF) << 19);
        e->reg[a + 1] = (uint32_t)(int32_t)(acc >> 13);
        e->egy_acc[p] = 0;
      }
      e->egy_n = 0;
      e->reg[A_STATUS0] |= 1u; /* EGYRDY */
    }
  }
  if (++e->blk_n >= 1600) end_block(e);
  e->cyc_n++;
  e->cyc_acc += hz60 ? 120 : 100; /* half cycles */
  if (e->cyc_acc >= 8000) { e->cyc_acc -= 8000; end_half(e); }
}
