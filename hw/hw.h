/*
 * hw.h — the hardware boundary of hems: SPI transport, GPIO lines, the ADE9000 metering AFE
 * driver, the panel config, and the simulated panel (emulated ADE9000s, a simulated gpiochip,
 * actuator/load/grid/DER models, scenarios). This is the only public header of hw/.
 *
 * Design overview
 * ---------------
 * - Transports are small structs of function pointers (struct hw_spi, struct hw_gpio_chip).
 *   The Linux backends (spidev, GPIO chardev v2) and the simulator both fill them, so the ADE9000
 *   driver and everything above hw/ run unchanged on silicon or on the simulated panel.
 * - Kernel calls of the Linux backends go through struct hw_sys (open/ioctl/read/poll/close) so
 *   tests can check exact ioctl arguments without hardware. hw_sys_linux is the real one.
 * - hw/ writes no records and never prints. Faults (SPI CRC bursts, dropped GPIO events, a
 *   missing chip) are returned as error codes and counted in caller-visible counters; the caller
 *   journals them.
 * - Errors: 0 on success, a negative errno, or one of the HW_E* codes below (hw_strerror).
 *   Functions that fail leave their outputs unspecified unless documented otherwise.
 * - Memory: caller-owned structs with init/deinit (deinit accepts a zeroed struct), except the
 *   simulator, which is opaque and allocated once by hw_sim_create. Nothing allocates in the
 *   per-sample path (hw_sim_advance, driver reads).
 * - Threading: no global mutable state; one object must not be used from two threads at once.
 * - Units are last in names: current_a, window_ms, t_ns.
 */
#ifndef HEMS_HW_H
#define HEMS_HW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pollfd;

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* X(name, value, message). Values are below -4095 so they never collide with -errno. */
#define HW_ERRORS(X)                                                                  \
  X(HW_ECRC,        -30001, "SPI CRC mismatch persisted after bounded retries")       \
  X(HW_ENOCHIP,     -30002, "no chip answers on the SPI bus (MISO stuck)")            \
  X(HW_EWRONGCHIP,  -30003, "unexpected chip: PART_ID/VERSION do not match ADE9000")  \
  X(HW_EVERIFY,     -30004, "register write did not read back")                       \
  X(HW_ECONFIG,     -30005, "invalid panel config")                                   \
  X(HW_ESCENARIO,   -30006, "invalid scenario")                                       \
  X(HW_ENOSCENARIO, -30007, "no such shipped scenario and no such file")              \
  X(HW_ERANGE,      -30008, "value out of range")                                     \
  X(HW_EOVERRUN,    -30009, "waveform buffer overrun: a half was overwritten unread") \
  X(HW_ENOTREADY,   -30010, "no data ready")                                          \
  X(HW_ETOOMANY,    -30011, "too many lines or attributes for one request")           \
  X(HW_ETRUNC,      -30012, "output buffer too small")                               \
  X(HW_EBUSY,       -30013, "a waveform capture is already armed (or the AFE streams)") \
  X(HW_ENOTARMED,   -30014, "no waveform capture is armed")                       \
  X(HW_ENOTREG,     -30015, "not a regular file (a FIFO, device or directory)")

enum hw_error {
#define HW__ENUM(n, v, m) n = v,
  HW_ERRORS(HW__ENUM)
#undef HW__ENUM
};

/* Message for 0, a negative errno or an HW_E* code. Never NULL; static storage. */
const char *hw_strerror(int err);

/* ------------------------------------------------------------------------------------------ */
/* Kernel seam                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* Every kernel call of the Linux backends goes through this. Each returns >= 0 or -errno. */
struct hw_sys {
  int (*open)(void *user, const char *path, int flags);
  int (*ioctl)(void *user, int fd, unsigned long request, void *arg);
  ssize_t (*read)(void *user, int fd, void *buf, size_t len);
  int (*poll)(void *user, struct pollfd *fds, unsigned nfds, int timeout_ms);
  int (*close)(void *user, int fd);
  void *user;
};
extern const struct hw_sys hw_sys_linux; /* the real syscalls */

/* ------------------------------------------------------------------------------------------ */
/* SPI transport                                                                               */
/* ------------------------------------------------------------------------------------------ */

struct hw_spi_config {
  uint8_t mode;          /* 0..3 (CPHA = bit 0, CPOL = bit 1) */
  uint8_t bits_per_word; /* 8 */
  uint32_t speed_hz;     /* max clock */
};

/* One transfer of a message. tx NULL shifts out zeros; rx NULL discards MISO. */
struct hw_spi_xfer {
  const uint8_t *tx;
  uint8_t *rx;
  uint32_t len;
};

struct hw_spi_ops {
  int (*configure)(void *ctx, const struct hw_spi_config *cfg);
  /* One message: chip select held low across all n transfers, raised at the end. */
  int (*transfer)(void *ctx, const struct hw_spi_xfer *xfers, unsigned n);
};

/* A transport handle; owned by whoever created it (spidev backend, simulator). */
struct hw_spi {
  const struct hw_spi_ops *ops;
  void *ctx;
  uint64_t messages;    /* counters kept by hw_spi_transfer */
  uint64_t bytes;
};

int hw_spi_configure(struct hw_spi *spi, const struct hw_spi_config *cfg);
/* Returns 0 or a negative error; the byte count is not returned. */
int hw_spi_transfer(struct hw_spi *spi, const struct hw_spi_xfer *xfers, unsigned n);

/* Linux spidev backend (/dev/spidevB.C). */
struct hw_spidev {
  struct hw_spi spi; /* the transport; valid between open and close */
  const struct hw_sys *sys;
  int fd;
  struct hw_spi_config cfg;
};
/* Opens path (O_RDWR|O_CLOEXEC) through sys (NULL = hw_sys_linux). */
int hw_spidev_open(struct hw_spidev *dev, const char *path, const struct hw_sys *sys);
void hw_spidev_close(struct hw_spidev *dev); /* accepts a zeroed or closed struct */

/* ------------------------------------------------------------------------------------------ */
/* GPIO lines                                                                                  */
/* ------------------------------------------------------------------------------------------ */

#define HW_GPIO_MAX_LINES 64 /* per request, as the kernel */

enum hw_gpio_edge { HW_GPIO_EDGE_NONE = 0, HW_GPIO_EDGE_RISING = 1, HW_GPIO_EDGE_FALLING = 2,
                    HW_GPIO_EDGE_BOTH = 3 };
enum hw_gpio_bias { HW_GPIO_BIAS_AS_IS = 0, HW_GPIO_BIAS_PULL_UP, HW_GPIO_BIAS_PULL_DOWN,
                    HW_GPIO_BIAS_DISABLED };

struct hw_gpio_line_config {
  uint32_t offset;      /* line offset on the chip */
  bool output;          /* false = input */
  bool active_low;      /* logical values are inverted */
  bool open_drain;      /* outputs only */
  uint8_t edges;        /* enum hw_gpio_edge, inputs only */
  uint8_t bias;         /* enum hw_gpio_bias */
  uint32_t debounce_us; /* inputs only; 0 = none */
  bool initial_value;   /* outputs: logical value driven from the moment of the request. The
                           kernel reverts outputs when the request fd closes, so a restarted
                           daemon must pass the state it rebuilt. */
};

struct hw_gpio_request_config {
  const char *consumer;        /* label, truncated to 31 chars */
  unsigned num_lines;          /* 1..HW_GPIO_MAX_LINES */
  struct hw_gpio_line_config lines[HW_GPIO_MAX_LINES];
  uint32_t event_buffer_size;  /* 0 = kernel default (16 per line) */
  bool event_clock_realtime;   /* timestamps from CLOCK_REALTIME instead of MONOTONIC */
};

struct hw_gpio_event {
  uint64_t timestamp_ns;
  uint32_t offset;      /* chip line offset */
  uint32_t index;       /* index of the line within its request */
  bool rising;          /* logical edge (after active_low) */
  uint32_t seqno;       /* per request, from 1 */
  uint32_t line_seqno;  /* per line, from 1 */
  uint32_t dropped_before; /* events lost (kernel buffer overflow) just before this one */
};

struct hw_gpio_lines;
struct hw_gpio_lines_ops {
  int (*get)(struct hw_gpio_lines *l, uint64_t mask, uint64_t *out_bits);
  int (*set)(struct hw_gpio_lines *l, uint64_t mask, uint64_t bits);
  /* Non-blocking: 0 events is not an error. */
  int (*read_events)(struct hw_gpio_lines *l, struct hw_gpio_event *ev, unsigned max,
                     unsigned *out_n);
  void (*release)(struct hw_gpio_lines *l);
};

/* A granted line request. Bit i of masks/values refers to lines[i] of the request config. */
struct hw_gpio_lines {
  const struct hw_gpio_lines_ops *ops;
  void *ctx;            /* backend */
  int fd;               /* pollable (POLLIN when events are pending); -1 if none */
  unsigned num_lines;
  uint32_t offsets[HW_GPIO_MAX_LINES];
  uint32_t expect_seqno;                        /* next expected seqno */
  uint32_t expect_line_seqno[HW_GPIO_MAX_LINES];
  uint64_t events_read;
  uint64_t events_dropped; /* seqno gaps seen so far: the caller journals gpio_overflow */
};

struct hw_gpio_chip_info {
  char name[32];
  char label[32];
  uint32_t num_lines;
};

struct hw_gpio_chip_ops {
  int (*info)(void *ctx, struct hw_gpio_chip_info *out);
  int (*request)(void *ctx, const struct hw_gpio_request_config *cfg, struct hw_gpio_lines *out);
};
struct hw_gpio_chip {
  const struct hw_gpio_chip_ops *ops;
  void *ctx;
};

int hw_gpio_chip_info(struct hw_gpio_chip *chip, struct hw_gpio_chip_info *out);
/* Requests lines; out is initialised on success. -EBUSY line in use, -EINVAL bad config,
 * HW_ETOOMANY more than 64 lines or more than 10 distinct attribute sets. */
int hw_gpio_request(struct hw_gpio_chip *chip, const struct hw_gpio_request_config *cfg,
                    struct hw_gpio_lines *out);
int hw_gpio_get(struct hw_gpio_lines *l, uint64_t mask, uint64_t *out_bits);
int hw_gpio_set(struct hw_gpio_lines *l, uint64_t mask, uint64_t bits); /* -EPERM on inputs */
/* Reads up to max pending events (non-blocking). Checks seqno/line_seqno continuity: a gap sets
 * ev->dropped_before and adds to l->events_dropped. */
int hw_gpio_read_events(struct hw_gpio_lines *l, struct hw_gpio_event *ev, unsigned max,
                        unsigned *out_n);
void hw_gpio_release(struct hw_gpio_lines *l); /* accepts a zeroed or released struct */

/* Linux GPIO character device backend (/dev/gpiochipN, v2 uAPI, Linux >= 5.10). */
struct hw_gpiochip {
  struct hw_gpio_chip chip; /* valid between open and close */
  const struct hw_sys *sys;
  int fd;
  struct hw_gpio_chip_info info;
};
int hw_gpiochip_open(struct hw_gpiochip *gc, const char *path, const struct hw_sys *sys);
void hw_gpiochip_close(struct hw_gpiochip *gc); /* requests stay valid; release them too */

/* ------------------------------------------------------------------------------------------ */
/* ADE9000 driver                                                                              */
/* ------------------------------------------------------------------------------------------ */

struct hw_ade9000_config {
  bool mains_60hz;          /* ACCMODE.SELFREQ */
  bool waveform;            /* stream the waveform buffer (ping-pong, 8 kSPS fixed rate) */
  /* Primary-side scaling: volts per volt at the V pin, amperes per volt at the I pin. */
  double v_ratio[3];        /* e.g. 1001 for a 1 MOhm : 1 kOhm divider */
  double i_a_per_v[4];      /* CT ratio / burden ohms; [3] is IN */
  double dip_pct;           /* dip threshold, % of nominal (0 = 90) */
  double swell_pct;         /* swell threshold, % of nominal (0 = 110) */
  double nominal_v;         /* primary nominal (230/120) */
  unsigned crc_retries;     /* extra attempts on CRC mismatch (0 = 2) */
  /* Calibration registers written at init (0 = none: gain 1, no phase correction): xIGAIN,
   * xPHCAL0 and xVGAIN of phases A..C (hw_ade9000_gain_reg, hw_ade9000_phcal_reg). They act on
   * the chip's results (register path), not on the fixed-rate waveform samples (WF_SRC 2), which
   * the waveform path corrects itself. */
  int32_t igain[3], phcal[3], vgain[3];
  /* Sleeps during reset (>= 50 ms after SWRST). NULL = no wait (emulator). */
  void (*delay_ns)(void *user, uint64_t ns);
  void *delay_user;
};

struct hw_ade9000_counters {
  uint64_t reads, writes, crc_errors, crc_retries, crc_faults, wfb_halves, wfb_overruns;
};

/* Triggered waveform captures (see hw_ade9000_capture_arm). */
#define HW_ADE9000_TRIG_DIP   0x1u /* chip event: one-cycle rms below DIP_LVL (any phase) */
#define HW_ADE9000_TRIG_SWELL 0x2u /* chip event: one-cycle rms above SWELL_LVL (any phase) */
#define HW_ADE9000_CAPTURE_POST_SETS 128     /* after the trigger set: half the buffer (chip) */
#define HW_ADE9000_CAPTURE_CHIP_PRE_SETS 127 /* before it, held by the chip buffer alone */

struct hw_ade9000_capture_config {
  uint32_t triggers;        /* HW_ADE9000_TRIG_* (0 = software trigger only) */
  unsigned pre_sets;        /* sample sets wanted before the trigger set (8 kSPS: 160 per cycle at
                               50 Hz, 133.3 at 60 Hz; 10 cycles = 1600 / 1334) */
  /* Needed when pre_sets > HW_ADE9000_CAPTURE_CHIP_PRE_SETS: a history ring of >= pre_sets sets
   * (>= pre_sets + 256) the driver fills while armed by draining each completed half (ping-pong), so the caller must
   * then call hw_ade9000_capture_poll at least every 16 ms (HW_SIM_WFB_HALF_NS). Owned by the
   * driver until the capture is read or disarmed. NULL/0 otherwise. */
  int32_t (*ring)[7];
  unsigned ring_sets;
};

struct hw_ade9000_capture_state {
  int state;                /* 0 idle, 1 armed, 2 complete (ready to read) */
  struct hw_ade9000_capture_config cfg;
  bool drain, wrapped;
  int next_half;
  uint64_t drained_sets;    /* sets drained into cfg.ring since arming */
  uint16_t trigger_addr;    /* WFB_TRIG_ADDR latched at completion */
};

struct hw_ade9000 {
  struct hw_spi *spi;       /* borrowed; must outlive the driver */
  struct hw_ade9000_config cfg;
  uint32_t part_id;
  uint16_t version;
  int last_half;            /* last waveform half read: -1 none, 0, 1 */
  int64_t energy_wh_acc[3]; /* raw xWATTHR accumulation, codes (see hw_ade9000_metrics) */
  struct hw_ade9000_counters count;
  struct hw_ade9000_capture_state capture;
};

struct hw_ade9000_phase {
  double vrms_v, irms_a;    /* primary units */
  double p_w, q_var, s_va, pf;
  double freq_hz;
  double energy_j;          /* cumulative active energy since init (signed) */
  bool dip, swell;          /* latched since the last read (then cleared) */
  double dip_v, swell_v;    /* extreme one-cycle rms during the dip/swell */
};
struct hw_ade9000_metrics {
  struct hw_ade9000_phase ph[3];
  double in_rms_a;
  bool energy_ready;        /* a 1 s energy period completed and was accumulated */
};

/* Reset (SWRST, wait, RSTDONE), PART_ID/VERSION checks, configuration, RUN = 1.
 * HW_ENOCHIP (MISO stuck), HW_EWRONGCHIP, HW_ECRC, HW_EVERIFY, or a transport error. */
int hw_ade9000_init(struct hw_ade9000 *dev, struct hw_spi *spi, const struct hw_ade9000_config *cfg);
void hw_ade9000_deinit(struct hw_ade9000 *dev);
/* One PART_ID read: 0 when an ADE9000 answers, HW_ENOCHIP (MISO stuck), HW_EWRONGCHIP, HW_ECRC
 * or a transport error. Changes nothing on the chip (a returned chip still needs init). */
int hw_ade9000_probe(struct hw_ade9000 *dev);

/* Raw register access. Reads verify CRC_SPI (clocked out after the data) with up to
 * cfg.crc_retries extra attempts; HW_ECRC after that (counted in count.crc_faults).
 * 0x480..0x4FE are 16-bit registers, everything else 32-bit. */
int hw_ade9000_read(struct hw_ade9000 *dev, uint16_t addr, uint32_t *out);
int hw_ade9000_write(struct hw_ade9000 *dev, uint16_t addr, uint32_t value);
/* Write then read back; HW_EVERIFY if different. */
int hw_ade9000_write_verify(struct hw_ade9000 *dev, uint16_t addr, uint32_t value);

/* Register path: RMS, powers, PF, frequency, dip/swell and (when a 1 s energy period completed)
 * energy, all scaled to primary units. Call once per window (>= every 1 s). */
int hw_ade9000_read_metrics(struct hw_ade9000 *dev, struct hw_ade9000_metrics *out);

/* Fast path: the one-cycle RMS registers (xIRMSONE 0x219, xVRMSONE 0x21A: rms over one line
 * cycle, refreshed every half cycle — Urms(1/2)), in primary units — what a sense-back needs within its deadline, where the 200 ms
 * block results of read_metrics would still show the current from before a switch moved. */
int hw_ade9000_read_rms_one(struct hw_ade9000 *dev, double irms_a[3], double vrms_v[3]);

/* Waveform path. One half of the buffer = 128 sample sets of 8 words
 * (IA, VA, IB, VB, IC, VC, IN, spare) = 16 ms at 8 kSPS. */
#define HW_ADE9000_WFB_SETS_PER_HALF 128
struct hw_ade9000_wfb_half {
  int half;            /* 0 or 1 */
  uint32_t overruns;   /* halves lost before this one */
  int32_t code[HW_ADE9000_WFB_SETS_PER_HALF][7]; /* IA VA IB VB IC VC IN, 8 kSPS codes */
  uint8_t raw[4096];   /* the burst as received (big-endian words) */
};
/* If STATUS0.PAGE_FULL is set: clears it, burst-reads the completed half (header as a TX-only
 * transfer, 4096 data bytes) and decodes it. HW_ENOTREADY if nothing new. */
int hw_ade9000_wfb_poll(struct hw_ade9000 *dev, struct hw_ade9000_wfb_half *out);
/* Scale factors for waveform codes: primary volts/amperes per code. ch 0..2 = A..C, 3 = IN. */
double hw_ade9000_wfb_volts_per_code(const struct hw_ade9000 *dev, unsigned phase);
double hw_ade9000_wfb_amps_per_code(const struct hw_ade9000 *dev, unsigned ch);

/* Triggered captures (waveform path, for AFEs that do not stream). The chip fills its buffer
 * continuously with fixed-rate 8 kSPS sets of all channels (WF_MODE 2, "centre on trigger");
 * a trigger — a chip event in cfg->triggers (WFB_TRG_CFG) or hw_ade9000_capture_trigger (the
 * TRIG_FORCE bit, for trip taps) — lets it fill HW_ADE9000_CAPTURE_POST_SETS more sets and stop
 * (STATUS0.WFB_TRIG_IRQ). The 2048-word buffer holds 256 sets = 32 ms; a longer pre-trigger
 * part (>= 10 cycles) comes from the history ring drained while armed (see the config).
 * Sequence: arm -> [trigger] -> poll until 0 -> read (which disarms). Errors: HW_EBUSY (armed
 * already, or the AFE streams: cfg.waveform), HW_ENOTARMED, HW_ENOTREADY (poll: not complete;
 * read: before completion), HW_EOVERRUN (a drained half was lost: the capture is disarmed),
 * HW_ERANGE (pre_sets > 127 needs a ring of >= pre_sets + 256 sets), HW_ECRC after the bounded retry (reads
 * and bursts: each burst is verified against CRC_SPI and repeated), HW_ETRUNC (out->cap). */
int hw_ade9000_capture_arm(struct hw_ade9000 *dev, const struct hw_ade9000_capture_config *cfg);
int hw_ade9000_capture_trigger(struct hw_ade9000 *dev);
/* 0 when the capture is complete, HW_ENOTREADY while waiting; drains halves when needed. */
int hw_ade9000_capture_poll(struct hw_ade9000 *dev);
struct hw_ade9000_capture {
  int32_t (*code)[7];       /* caller memory: IA VA IB VB IC VC IN codes per set, oldest first */
  unsigned cap;             /* sets code can hold (pre_sets + 1 + 128 suffices) */
  unsigned n;               /* sets written */
  unsigned trigger_index;   /* code[trigger_index] is the trigger set; fewer than pre_sets before
                               it only if the AFE was armed too shortly before the trigger */
  uint16_t trigger_addr;    /* WFB_TRIG_ADDR (word 0..2047) as read */
};
/* Reads the buffer around the trigger (burst reads of <= 1024 words, header TX-only), merges the
 * drained history and disarms. Scale with hw_ade9000_wfb_volts_per_code / _amps_per_code. */
int hw_ade9000_capture_read(struct hw_ade9000 *dev, struct hw_ade9000_capture *out);
/* Stops filling and forgets the capture (also after errors). Idle is not an error. */
int hw_ade9000_capture_disarm(struct hw_ade9000 *dev);

/* Calibration (docs/operations.md "Calibration"). Writes and reads back xIGAIN, xPHCAL0 and
 * xVGAIN of phase ph (0..2) and keeps them in dev->cfg (a re-init writes them again). */
int hw_ade9000_set_calibration(struct hw_ade9000 *dev, unsigned ph, int32_t igain, int32_t phcal, int32_t vgain);
/* The registers as the chip holds them (out: igain, phcal, vgain). */
int hw_ade9000_get_calibration(struct hw_ade9000 *dev, unsigned ph, int32_t out[3]);
/* Pure conversions: xIGAIN / xVGAIN = (gain − 1)·2^27 rounded (signed, saturating); xPHCAL0 =
 * (sin(φ − ω) + sin ω) / sin(2ω − φ)·2^27, φ = phase_deg in radians, ω = 2π·f_line/8000. */
int32_t hw_ade9000_gain_reg(double gain);
int32_t hw_ade9000_phcal_reg(double phase_deg, bool hz60);

/* Golden-vector helpers (pure, exposed for tests and ingest). */
uint16_t hw_ade9000_crc16(const uint8_t *data, size_t len);   /* CRC-16/CCITT-FALSE */
uint16_t hw_ade9000_cmd_header(uint16_t addr, bool read);
double hw_ade9000_rms_code_to_pin_v(int32_t code);             /* pin volts rms, gain 1 */

/* ------------------------------------------------------------------------------------------ */
/* Panel config                                                                                */
/* ------------------------------------------------------------------------------------------ */

#define HW_MAX_BRANCHES 48
#define HW_MAX_AFES 16
#define HW_MAX_TAPS 32
#define HW_NAME_MAX 32
#define HW_PATH_MAX 96

enum hw_mains_kind { HW_MAINS_3PH_230_50 = 0, HW_MAINS_SPLIT_120_240_60 = 1 };
/* Conductor a branch or a voltage input is on. L12 = line-to-line (split-phase 240 V). */
enum hw_phase { HW_PHASE_L1 = 0, HW_PHASE_L2 = 1, HW_PHASE_L3 = 2, HW_PHASE_L12 = 3 };
enum hw_actuator_type { HW_ACT_MONOSTABLE = 0, HW_ACT_LATCHING, HW_ACT_CONTACTOR, HW_ACT_SSR,
                        HW_ACT_EFUSE };
enum hw_fail_safe { HW_FAILSAFE_OPEN = 0, HW_FAILSAFE_CLOSED, HW_FAILSAFE_LAST_PROVEN };
enum hw_tap_kind { HW_TAP_RCD = 0, HW_TAP_MCB, HW_TAP_AFCI, HW_TAP_LEAKAGE, HW_TAP_TEMPERATURE,
                   HW_TAP_TAMPER, HW_TAP_POWER_FAIL };

#define HW_LINE_NONE UINT32_MAX

/* Calibration ranges (panel config): a CT or divider further off than this is a wiring fault */
#define HW_CAL_GAIN_MIN 0.5
#define HW_CAL_GAIN_MAX 2.0
#define HW_CAL_PHASE_MAX_DEG 10.0
#define HW_CAL_V_OFFSET_MAX 50.0

struct hw_panel_branch {
  unsigned number;            /* 1-based, unique */
  char name[HW_NAME_MAX];
  enum hw_phase phase;
  unsigned afe, channel;      /* AFE index, current channel 0..2 (A..C) */
  double ct_ratio;            /* e.g. 2000 (2000:1) */
  int polarity;               /* +1 or -1 (a CT mounted backwards is corrected by -1) */
  unsigned breaker_a;
  enum hw_actuator_type actuator;
  unsigned priority;          /* 0 = shed first */
  bool critical;
  enum hw_fail_safe fail_safe;
  bool load_only;             /* cannot export (no DER behind it) */
  bool sensitive;             /* opened by the protective action on a sustained over/under-voltage */
  bool coil_active_low;       /* NC relay: logical 1 still means "closed" */
  /* GPIO line offsets (HW_LINE_NONE if absent): coil/gate/enable output, reset coil (latching),
   * aux contact / power-good input, load-side voltage sense input. */
  uint32_t line_coil, line_coil_reset, line_aux, line_sense;
  /* "calibration" (panel_calib.c): the CT channel's gain (1 = none; 0 is read as 1) and phase
   * correction in degrees (the current is delayed by it) */
  double gain, phase_deg;
};

struct hw_panel_afe {
  unsigned index;
  char spidev[HW_PATH_MAX];   /* --hw only */
  uint32_t spi_speed_hz;
  double v_ratio;             /* V divider */
  double burden_ohm;
  enum hw_phase v_phase[3];   /* what VA/VB/VC are wired to */
  bool mains;                 /* streams the waveform path */
  double mains_ct_ratio;      /* CT ratio of the mains AFE current inputs */
  uint32_t line_irq;          /* IRQ0 (data ready / page full) input */
  /* "calibration" (panel_calib.c): voltage inputs A..C (gain, and a DC offset in primary volts
   * removed on the waveform path); the mains CTs' gain and phase (mains AFE only) */
  double v_gain[3], v_offset_v[3], i_gain[3], i_phase_deg[3];
};

/* The kernel ABI an analog channel is read through (rail_volt.c): a hwmon attribute holding the
 * value, or an IIO channel prefix ((…_raw + …_offset) × …_scale). */
enum hw_analog_abi { HW_ANALOG_NONE = 0, HW_ANALOG_HWMON, HW_ANALOG_IIO };

struct hw_panel_tap {
  char name[HW_NAME_MAX];
  enum hw_tap_kind kind;
  unsigned branch;            /* 0 = panel-wide */
  uint32_t line;
  bool active_low;
  uint32_t debounce_us;
  /* "analog" (panel_taps.c; leakage and temperature taps only): the tap's value measured
   * through hwmon (currN_input mA, tempN_input m°C) or IIO (in_currentN mA, in_tempN m°C);
   * thresholds in thousandths of the tap's unit (µA, m°C). alarm_milli: the value at or above
   * which fault{leakage_high} / fault{over_temperature} is journaled, ended below alarm_milli -
   * hysteresis_milli; rise_milli_per_min (temperature only, 0 = off): a rise over the last
   * minute at or above it is fault{temperature_rise}, ended below it - hysteresis_milli. */
  uint8_t analog;             /* enum hw_analog_abi (HW_ANALOG_NONE: a binary tap) */
  char analog_path[128];
  int32_t alarm_milli, hysteresis_milli, rise_milli_per_min;
};

struct hw_panel_der {
  bool pv, ess, ats;
  unsigned pv_branch, ess_branch; /* 0 = none */
  double pv_peak_w, ess_capacity_wh, ess_max_w;
  /* "sunspec": "tcp://HOST:PORT" and "unit" (1..247, default 1): `hems bridge sunspec` polls the
   * source there ("" none; the daemon itself opens no network socket) */
  char pv_sunspec[128], ess_sunspec[128];
  unsigned pv_unit, ess_unit;
  uint32_t line_pv_grid_tied, line_pv_fault, line_ess_charging, line_ess_discharging,
           line_ess_alarm, line_ess_permit /* output */, line_ats_grid_present,
           line_ats_on_backup, line_ats_interlock_ok;
};

/* Power-quality thresholds (percent of the nominal voltage; IEC 61000-4-30 defaults) and the
 * protective action: a swell or under-voltage outside [dip_pct, swell_pct] on any phase for
 * protect_after_s opens the branches marked sensitive (docs/policy.md "Protective action"). */
#define HW_PQ_DEFAULT_DIP_PCT 90.0
#define HW_PQ_DEFAULT_SWELL_PCT 110.0
#define HW_PQ_DEFAULT_HYSTERESIS_PCT 2.0
#define HW_PQ_DEFAULT_INTERRUPTION_PCT 10.0
#define HW_PQ_DEFAULT_PROTECT_AFTER_S 60u
#define HW_PQ_DEFAULT_RVC_PCT 5.0       /* rapid voltage change threshold, % of declared (0 = off) */
#define HW_PQ_DEFAULT_FREQ_BAND_PCT 1.0 /* frequency deviation events outside nominal ± this (0 = off) */
#define HW_DEFAULT_HOLDOFF_S 10u       /* docs/policy.md "Fail-safe and restore" */
#define HW_DEFAULT_DER_HOLDOFF_S 300u  /* IEEE 1547-2018's reconnection delay */
struct hw_panel_pq {
  double dip_pct, swell_pct, hysteresis_pct, interruption_pct;
  unsigned protect_after_s;
  double rvc_pct, rvc_hysteresis_pct; /* IEC 61000-4-30 §5.11 (hysteresis default: half the threshold) */
  double freq_band_pct;
};

/* Supply rails (issue 17 item 4): watched through a power-good input (a rail is low while its
 * line reads not-good; nominal_mv and min_pct say what the threshold means, and the simulator's
 * `rail` stimulus drops the line when its level is below min_pct) or measured through a voltage
 * file (hwmon inN_input in mV, or an IIO channel: (in_voltageN_raw + _offset) × _scale mV),
 * times `divider` (the resistor divider in front of the ADC): low below min_pct of nominal_mv,
 * good again at min_pct + hysteresis_pct (rail_volt.c; the simulator writes the file). */
#define HW_MAX_RAILS 4
enum hw_rail_volt { HW_RAIL_VOLT_NONE = HW_ANALOG_NONE, HW_RAIL_VOLT_HWMON = HW_ANALOG_HWMON, HW_RAIL_VOLT_IIO = HW_ANALOG_IIO };
struct hw_panel_rail {
  char name[16];
  uint32_t line;              /* default 251 + index; HW_LINE_NONE for a measured rail */
  bool active_low;
  unsigned nominal_mv, min_pct;
  uint8_t volt;               /* enum hw_rail_volt */
  char volt_path[128];        /* hwmon: the inN_input file; iio: the channel prefix (…/in_voltageN) */
  double divider;             /* >= 1 (1 when absent) */
  unsigned hysteresis_pct;    /* default 2 */
};

/* rail_volt.c: one sysfs attribute's text as a number (optional sign, digits with at most one
 * '.', optional trailing whitespace; nothing else; at most 2^53 - 1 as digits and 22 decimals):
 * 0 and the correctly rounded value, or HW_ERANGE. Fuzzed (tests/fuzz/fuzz_sysfs_num.c). */
int hw_sysfs_parse_num(const char *text, size_t len, double *out);
/* A measured rail's voltage at the rail (the file's value × divider), mV rounded: 0, a negative
 * errno (the file cannot be read) or HW_ERANGE (its text is not a number, or the value is not
 * finite or beyond ±1000 V). */
int hw_rail_read_mv(const struct hw_panel_rail *rl, int32_t *mv);
/* The simulator's side: writes what the ADC would read for mv at the rail (hwmon: mV / divider;
 * iio: _raw from the channel's _scale and _offset, a _scale of 1 written when it has none), by
 * a new file renamed over the old — never over a file whose content is not a number
 * (HW_ENOTREG). */
int hw_rail_write_mv(const struct hw_panel_rail *rl, int32_t mv);
/* An analog channel's value in its ABI's unit (hwmon: the attribute's number; IIO: (path_raw +
 * path_offset) × path_scale, an absent _offset 0): 0, a negative errno or HW_ERANGE (not a
 * number, or not finite). Only regular files are read, without blocking. */
int hw_analog_read(unsigned abi, const char *path, double *out);
/* The simulator's side: writes v (hwmon: rounded to an integer, as the ABI's attributes are;
 * IIO: _raw from _scale and _offset, a _scale of 1 written when it has none), as
 * hw_rail_write_mv does. */
int hw_analog_write(unsigned abi, const char *path, double v);
/* An analog tap's value in thousandths of its unit (leakage µA, temperature m°C), rounded: 0,
 * a negative errno, or HW_ERANGE (beyond ±10^9). */
int hw_tap_read_milli(const struct hw_panel_tap *t, int32_t *milli);
int hw_tap_write_milli(const struct hw_panel_tap *t, int32_t milli);

struct hw_panel {
  char name[HW_NAME_MAX];
  enum hw_mains_kind mains;
  double nominal_v, freq_hz;  /* derived from mains */
  unsigned service_limit_a;
  unsigned num_branches, num_afes, num_taps;
  struct hw_panel_branch branch[HW_MAX_BRANCHES]; /* sorted by number */
  struct hw_panel_afe afe[HW_MAX_AFES];          /* afe[i].index == i */
  struct hw_panel_tap tap[HW_MAX_TAPS];
  struct hw_panel_der der;
  char gpiochip[HW_PATH_MAX];                    /* --hw only */
  uint32_t line_service_coil, line_service_aux;  /* service disconnect contactor */
  char roles_json[512];       /* canonical JSON of the optional "roles" section, "" if none */
  char remote_json[8192];     /* canonical JSON of the optional "remote" section (signed remote
                                 commands' issuers, cli/remote_config.c checks it), "" if none */
  struct hw_panel_pq pq;      /* "pq": event thresholds and the protective action */
  unsigned holdoff_s, der_holdoff_s; /* "restore": closes wait this long after the supply returns
                                        (loads; branches with DER behind them) */
  unsigned num_rails;
  struct hw_panel_rail rail[HW_MAX_RAILS]; /* "rails" */
  char watchdog_bootstatus[HW_PATH_MAX];   /* the watchdog's bootstatus file ("" none; --hw default
                                              /sys/class/watchdog/watchdog0/bootstatus) */
};

/* Parses a panel config (JSON text; not NUL-terminated necessarily). what names the source in
 * errors (a file path). On error returns HW_ECONFIG and writes "<what>: <field>: <why>" to err.
 * Line offsets left out are assigned by the simulator's default layout (docs/hardware.md). */
int hw_panel_parse(struct hw_panel *out, const char *text, size_t len, const char *what,
                   char *err, size_t err_len);
int hw_panel_load_file(struct hw_panel *out, const char *path, char *err, size_t err_len);
/* Reads a whole small file (a config, a scenario) into *out (malloc'd, NUL-terminated; *out_len
 * excludes the NUL). Files in the data dir are untrusted: only a regular file is read (a FIFO
 * or device is refused without blocking: HW_ENOTREG), at most 16 MiB (-EFBIG). 0 or <0. */
int hw_read_file(const char *path, char **out, size_t *out_len);
/* Canonical JSON (sorted keys, every field explicit, compact, no trailing newline) into buf;
 * *out_len = length without NUL. HW_ETRUNC if cap is too small (*out_len says how much). Equal
 * configs give equal bytes, so its hash identifies the config. */
int hw_panel_canonical_json(const struct hw_panel *p, char *buf, size_t cap, size_t *out_len);
const struct hw_panel_branch *hw_panel_branch_by_number(const struct hw_panel *p, unsigned number);

const char *hw_phase_name(enum hw_phase p);
const char *hw_actuator_name(enum hw_actuator_type t);
const char *hw_fail_safe_name(enum hw_fail_safe f);
const char *hw_tap_kind_name(enum hw_tap_kind k);

/* ------------------------------------------------------------------------------------------ */
/* Scenarios                                                                                   */
/* ------------------------------------------------------------------------------------------ */

#define HW_SCENARIO_MAX_EVENTS 256
#define HW_TEXT_MAX 128

enum hw_load_kind { HW_LOAD_NONE = 0, HW_LOAD_RESISTIVE, HW_LOAD_MOTOR, HW_LOAD_SMPS, HW_LOAD_EV,
                    HW_LOAD_HEATPUMP, HW_LOAD_PHANTOM, HW_LOAD_PV, HW_LOAD_ESS };

struct hw_scenario_load {
  enum hw_load_kind kind;
  double power_w;      /* rated power (PV: peak) */
  double pf;           /* displacement power factor (motor/heatpump/smps) */
  double ramp_s;       /* EV ramp time */
  bool on;             /* appliance demand at t = 0 */
  bool closed;         /* initial contact position (latching relays; others follow coils) */
  double ct_error_pct; /* the branch CT reads this much high (+) or low (-): a gain error for
                          calibration to find (docs/scenarios.md) */
};

/* What a timeline entry does. The first group is hardware (applied inside the simulator);
 * the second group is delivered to the caller by hw_sim_poll_stimuli. */
enum hw_event_kind {
  HW_EV_LOAD = 0, HW_EV_GRID, HW_EV_TAP, HW_EV_DER, HW_EV_FAULT,
  HW_EV_SWITCH, HW_EV_NOTE, HW_EV_DR_START, HW_EV_DR_CANCEL, HW_EV_DR_OPT_OUT,
  HW_EV_SERVICE, HW_EV_SUPPLY_LOW, HW_EV_RAIL, HW_EV_LEAKAGE, HW_EV_TEMPERATURE
};
enum hw_grid_kind { HW_GRID_SAG = 0, HW_GRID_SWELL, HW_GRID_OUTAGE, HW_GRID_RESTORE,
                    HW_GRID_FREQ, HW_GRID_FLICKER };
enum hw_fault_kind { HW_FAULT_WELDED = 0, HW_FAULT_STUCK_OPEN, HW_FAULT_CHATTER,
                     HW_FAULT_SSR_LEAKAGE, HW_FAULT_REVERSED_CT, HW_FAULT_PHASE_SWAP,
                     HW_FAULT_SPI_CRC_BURST, HW_FAULT_GPIO_OVERFLOW, HW_FAULT_CLOCK_STEP,
                     HW_FAULT_MISSING_CHIP, HW_FAULT_CLEAR, HW_FAULT_CLOCK_SYNC,
                     HW_FAULT_CHIP_BACK, HW_FAULT_CLOCK_OFFSET, HW_FAULT_AFE_DRIFT };
enum hw_service_action { HW_SERVICE_DISCONNECT = 0, HW_SERVICE_RECONNECT, HW_SERVICE_CONFIRM };

struct hw_scenario_event {
  uint64_t t_ns;
  enum hw_event_kind kind;
  unsigned branch;                 /* LOAD, FAULT (branch faults), SWITCH */
  unsigned afe;                    /* FAULT (spi_crc_burst, missing_chip, chip_back) */
  unsigned tap;                    /* TAP, LEAKAGE, TEMPERATURE: index into panel.tap; RAIL: index
                                      into panel.rail */
  unsigned sub;                    /* GRID: hw_grid_kind; FAULT: hw_fault_kind;
                                      SERVICE: hw_service_action; DER: see docs */
  bool on;                         /* LOAD on/off, SWITCH desired, TAP active, DER flag */
  double value;                    /* LOAD power_w; GRID depth/level %, or Hz; DER value; LEAKAGE mA;
                                      TEMPERATURE °C;
                                      FAULT count (crc burst reads, overflow edges) or step s */
  uint8_t phases;                  /* GRID: bit0 L1, bit1 L2, bit2 L3 (0 = all) */
  uint64_t duration_ns;            /* GRID sag/swell, SUPPLY_LOW, DR_START, RAIL (0: until the next);
                                      LEAKAGE, TEMPERATURE: the ramp to value (0: a step) */
  char id[64];                     /* SWITCH request_id, DR event id */
  char text[HW_TEXT_MAX];          /* NOTE text, SWITCH reason */
  char who[HW_NAME_MAX];           /* NOTE author */
  double reduce_kw;                /* DR_START */
  uint64_t branches_mask;          /* DR_START: bit (n-1) for branch n */
  bool mandatory;                  /* DR_START */
  int32_t modification;            /* DR_START */
  double mod_hz;                   /* GRID flicker: modulation frequency (value: ΔV/V, % peak to peak) */
  bool sine;                       /* GRID flicker: sinusoidal modulation (else rectangular) */
};

struct hw_scenario {
  char name[HW_NAME_MAX];
  char description[HW_TEXT_MAX];
  struct hw_panel panel;
  struct hw_scenario_load load[HW_MAX_BRANCHES]; /* indexed like panel.branch[] */
  double v_harmonic_pct[8];        /* mains voltage harmonics 3,5,7,9,11,13,15,17 in % */
  double freq_drift_hz;            /* slow random walk bound around nominal */
  double noise_rel;                /* sample noise, relative to full scale */
  unsigned num_events;
  struct hw_scenario_event event[HW_SCENARIO_MAX_EVENTS]; /* sorted by t_ns (stable) */
};

/* NULL-terminated list of shipped scenario names. */
const char *const *hw_scenario_names(void);
/* Shipped JSON text of a scenario, or NULL. */
const char *hw_scenario_builtin_text(const char *name);
/* name_or_path: a shipped name, else a file path. HW_ENOSCENARIO, HW_ESCENARIO (message in err:
 * "<file>: <field>: <why>"), HW_ECONFIG for its panel section. out is large (~100 KB): put it
 * on the heap. */
int hw_scenario_load(struct hw_scenario *out, const char *name_or_path, char *err, size_t err_len);
int hw_scenario_parse(struct hw_scenario *out, const char *text, size_t len, const char *what,
                      char *err, size_t err_len);

/* ------------------------------------------------------------------------------------------ */
/* Simulated panel                                                                             */
/* ------------------------------------------------------------------------------------------ */

#define HW_SIM_SAMPLE_NS 125000ull           /* 8 kSPS */
#define HW_SIM_WFB_HALF_NS (128ull * 125000ull) /* 16 ms: poll the waveform path at least this often */

struct hw_sim;

/* Creates a simulated panel from a loaded scenario (copied; sc may be freed after) and a seed.
 * Virtual time starts at 0. Allocates once; HW_ESCENARIO with err filled on inconsistency. */
int hw_sim_create(struct hw_sim **out, const struct hw_scenario *sc, uint64_t seed,
                  char *err, size_t err_len);
void hw_sim_destroy(struct hw_sim *sim); /* NULL ok */

/* Advances virtual time by ns (rounded down to whole 125 us samples; the remainder carries
 * over). Applies scripted events, runs physics, emulators and the gpiochip. */
int hw_sim_advance(struct hw_sim *sim, uint64_t ns);
uint64_t hw_sim_now_ns(const struct hw_sim *sim);
/* Wall clock of the simulated board: a fixed epoch + virtual time + injected clock steps. */
uint64_t hw_sim_wall_ns(const struct hw_sim *sim);
bool hw_sim_clock_synced(const struct hw_sim *sim); /* false after a clock_step until a clock_sync */
int64_t hw_sim_clock_offset_ns(const struct hw_sim *sim); /* what the board's time source reports (clock_offset) */
const struct hw_panel *hw_sim_panel(const struct hw_sim *sim);

/* The emulated ADE9000 of AFE idx behind an SPI transport (valid until destroy). */
struct hw_spi *hw_sim_afe_spi(struct hw_sim *sim, unsigned afe);
/* The simulated gpiochip (line layout as in the panel config). Events carry virtual timestamps
 * and the request fd is an eventfd, readable while events are pending. */
struct hw_gpio_chip *hw_sim_gpio_chip(struct hw_sim *sim);

/* Non-hardware stimuli due at the current virtual time, in timeline order. Returns the number
 * copied (<= max); call again while it returns max. */
struct hw_stimulus {
  uint64_t t_ns;
  struct hw_scenario_event ev; /* kind is HW_EV_SWITCH, NOTE, DR_*, SERVICE or SUPPLY_LOW */
};
unsigned hw_sim_poll_stimuli(struct hw_sim *sim, struct hw_stimulus *out, unsigned max);

/* Raw 8 kSPS samples (primary units), for ingest and tests: called once per sample from
 * hw_sim_advance. v_v[a][k]: voltage at VA/VB/VC of AFE a; i_a[a][k]: IA/IB/IC/IN as the CT
 * sees it (before polarity correction). Pointers valid during the call only. */
struct hw_sim_frame {
  uint64_t t_ns;
  unsigned num_afes;
  const double (*v_v)[3];
  const double (*i_a)[4];
};
typedef void (*hw_sim_frame_fn)(void *user, const struct hw_sim_frame *f);
void hw_sim_set_frame_hook(struct hw_sim *sim, hw_sim_frame_fn fn, void *user);

/* Ground truth for tests and `hems sim` reports (not visible to a real controller). */
struct hw_sim_branch_truth {
  bool contact_closed, breaker_open, load_on;
  double current_rms_a;        /* over the last full cycle */
  double current_peak_a;       /* max |i| since the last call */
  double load_side_v;          /* rms over the last full cycle */
};
int hw_sim_branch_truth(struct hw_sim *sim, unsigned number, struct hw_sim_branch_truth *out);
struct hw_sim_der_status {
  bool grid_present, on_backup, interlock_ok, pv_grid_tied, pv_fault, ess_permit;
  double pv_w, ess_w /* + charging, - discharging */, ess_soc_pct;
};
void hw_sim_der_status(const struct hw_sim *sim, struct hw_sim_der_status *out);

/* Convenience for the daemon and tests: the ADE9000 driver config matching panel AFE idx. */
void hw_panel_ade9000_config(const struct hw_panel *p, unsigned afe, struct hw_ade9000_config *out);

/* ------------------------------------------------------------------------------------------ */
/* Benchmark                                                                                   */
/* ------------------------------------------------------------------------------------------ */

struct hw_bench_result {
  double realtime_factor;  /* virtual seconds per wall second */
  unsigned channels;       /* voltage + current channels streamed */
  double virtual_s, wall_s;
  uint64_t samples;        /* channel samples delivered through the driver */
};
/* Runs `full-panel` (48 branches, 16 AFEs) for virtual_s seconds on the calling thread with every
 * AFE streaming its waveform buffer through the emulated SPI and the real driver. */
int hw_bench_sim(double virtual_s, uint64_t seed, struct hw_bench_result *out);

/* ------------------------------------------------------------------------------------------ */
/* TPM 2.0 NV counter (hw/linux/tpm_counter.c, libtss2-esys)                                    */
/* ------------------------------------------------------------------------------------------ */

/* An 8-byte TPM2_NT_COUNTER NV index: the hardware half of the journal's anti-rollback counter.
 * Opaque (the TSS contexts it holds are allocated by libtss2). */
struct hw_tpm_counter;
/* Connects through the TCTI loader configuration tcti_conf (NULL: the loader's default, e.g.
 * $TPM2TOOLS_TCTI is not read here) and opens nv_index; define: create it under the owner
 * hierarchy (empty owner password) when absent. 0; -ENOENT (absent, not defining), -EINVAL
 * (not an 8-byte counter with its own auth), -EIO (the TPM or TCTI refused), -ENOMEM. */
int hw_tpm_counter_open(struct hw_tpm_counter **out, const char *tcti_conf, uint32_t nv_index, bool define);
/* The count (0 for a counter never incremented). */
int hw_tpm_counter_read(struct hw_tpm_counter *t, uint64_t *count);
/* TPM2_NV_Increment, then the count after it. */
int hw_tpm_counter_increment(struct hw_tpm_counter *t, uint64_t *count);
void hw_tpm_counter_close(struct hw_tpm_counter *t); /* accepts NULL */
/* The calling thread's text for the last failure of the functions above ("" when none). */
const char *hw_tpm_counter_error(void);

#endif
