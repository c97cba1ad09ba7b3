/*
 * emul.h — private to hw/: the ADE9000 emulator and the simulated gpiochip as the simulator
 * drives them. Not part of the public API (hw.h is); tests include it to inject faults and to
 * feed known signals into one emulated chip.
 */
#ifndef HEMS_HW_SIM_EMUL_H
#define HEMS_HW_SIM_EMUL_H

#include "hw.h"

/* ---- ADE9000 emulator ---- */
struct ade_emul {
  struct hw_spi spi;          /* transport; ctx = this */
  uint32_t reg[0x500];        /* register file 0x000..0x4FF */
  int32_t wfb[2048];          /* waveform buffer 0x800..0xFFF */
  unsigned wfb_pos;           /* next word to fill */
  /* block (10/12 cycles) accumulators */
  unsigned blk_n, blk_len;
  double s_vv[3], s_ii[4], s_vi[3], s_vqi[3];
  double vdelay[3][64], idelay[3][64]; /* quarter-cycle delay lines (reactive power, phase calibration) */
  /* calibration as decoded from xIGAIN, xVGAIN, xPHCAL0 (re-decoded when a register changes) */
  uint32_t cal_reg[3][3];
  bool cal_hz60, cal_valid;
  double cal_gi[3], cal_gv[3], cal_cos[3], cal_sin[3];
  unsigned vd_pos, vd_len;
  /* zero crossings per phase within the block */
  double prev_v[3], zc_first[3], zc_last[3];
  unsigned zc_count[3];
  uint64_t sample_no;
  /* one-cycle rms (xVRMSONE/xIRMSONE), refreshed every half cycle; dip/swell every cycle */
  unsigned cyc_n, cyc_acc;
  double c_vv[3];
  double c_ii[3];   /* this half cycle's sum of i^2 (IRMSONE) */
  double h_vv[3], h_ii[3]; /* the previous half cycle's sums */
  unsigned h_n;     /* its samples (0 before the first half cycle ended) */
  bool half_odd;    /* the next half-cycle end completes a cycle (dip/swell compare) */
  unsigned dip_run[3], swell_run[3];
  int64_t dip_min[3], swell_max[3];
  /* energy */
  int64_t egy_acc[3];
  unsigned egy_n;
  /* triggered capture (WFB_CFG WF_MODE 1/2 stop, 3 saves the event address) */
  bool wfb_stopped;           /* filling stopped (mode 0 full, modes 1/2 after a trigger) */
  bool wfb_triggered;         /* mode 2: trigger seen, post-trigger fill running */
  unsigned wfb_post_left;     /* mode 2: sets still to fill after the trigger */
  /* CRC_SPI of the last waveform burst, computed lazily from the buffer when needed */
  bool burst_crc_pending;
  unsigned burst_w0, burst_nbytes;
  /* injected faults */
  unsigned burst_corrupt;     /* flip one MISO data bit in each of the next N buffer bursts */
  unsigned crc_burst;         /* corrupt CRC of the next N reads */
  uint8_t stuck_miso;         /* OR'ed into every MISO byte (stuck-at-1 bits) */
  bool missing;               /* MISO floats high: every byte 0xFF */
  bool wrong_part;            /* PART_ID of another part */
  uint64_t reads, writes;
};

void ade_emul_init(struct ade_emul *e);
void ade_emul_power_cycle(struct ade_emul *e); /* registers back to their reset values (the bus fields stay) */
/* One 8 kSPS sample: pin voltages (V) of VA,VB,VC and IA,IB,IC,IN. */
void ade_emul_push(struct ade_emul *e, const double v_pin[3], const double i_pin[4]);
bool ade_emul_irq0(const struct ade_emul *e); /* true = asserted (pin driven low) */
uint16_t ade_emul_crc(const uint8_t *d, size_t n);
#endif
