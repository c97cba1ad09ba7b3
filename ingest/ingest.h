/*
 * ingest.h — samples and AFE registers to windows, power-quality events and captures.
 *
 * This is the only public header of ingest/. It has five parts:
 *
 *  1. The engine (waveform path). A caller-owned `struct ingest_engine` is initialised from a
 *     `struct ingest_config` (sample rate, channels, declared voltage, thresholds, capture
 *     lengths); every buffer is sized there and nothing is allocated afterwards. The caller
 *     pushes interleaved integer sample codes (physical = scale·code + offset) and the engine
 *     calls back, synchronously and from inside ingest_engine_push(), with:
 *       - one `struct ingest_window` per basic window (10 cycles at 50 Hz, 12 at 60 Hz, bounded
 *         by positive-going zero crossings of the reference voltage);
 *       - one `struct ingest_pq_event` per polyphase dip / swell / interruption (IEC 61000-4-30
 *         rules on Urms(1/2)), emitted when it has ended and its capture is complete;
 *       - one `struct ingest_capture_view` per waveform capture (≥ 10 cycles before the
 *         trigger, a configurable time after, every channel).
 *     Pointers handed to callbacks are borrowed: valid only until the callback returns.
 *     The IEC 61000-4-30 Class A additions (flicker, unbalance, rapid voltage changes,
 *     frequency deviation events, 150/180-cycle / 10 s / 10 min / 2 h aggregation) come
 *     through a second sink, ingest_engine_set_class_a().
 *  2. Records: the integer fixed-point bodies of the `window` and `pq_event` journal records
 *     (schemas/ingest.cddl) and the functions that fill them (aggregation into 200 ms / 1 s /
 *     10 s records, energy with the remainder carried so totals never drift).
 *  3. Capture blobs: the byte format the journal hashes and compresses, and its inverse.
 *  4. Pre-trigger signature rings (rms, peak, crest of the last N cycles before T per branch).
 *  5. COMTRADE (IEEE C37.111-1999/-2013): reader (.cfg + .dat in ASCII, BINARY, BINARY32,
 *     FLOAT32, several sampling rates, and .cff), writer (2013 BINARY), and `hems analyze`.
 *
 * Errors: functions that can fail return 0 (or a documented non-negative value) or a negative
 * errno / INGEST_E* code; ingest_strerror() names either. Nothing here prints or logs; where a
 * human-readable detail exists (COMTRADE file, line, field) it is written into a caller buffer.
 * Threading: no global mutable state; distinct objects may be used from distinct threads.
 */
#ifndef HEMS_INGEST_H
#define HEMS_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */

/* X(name, value, message). Values sit far from errno values. */
#define INGEST_ERRORS(X)                                                          \
  X(INGEST_ESYNTAX, -4001, "malformed input")                                     \
  X(INGEST_ETRUNC, -4002, "truncated data")                                       \
  X(INGEST_EUNSUPPORTED, -4003, "unsupported format feature")                     \
  X(INGEST_ELIMIT, -4004, "exceeds a configured or built-in limit")               \
  X(INGEST_ENOSIGNAL, -4005, "no usable voltage or current signal")               \
  X(INGEST_EBLOB, -4006, "corrupt capture blob")                                  \
  X(INGEST_ECONFIG, -4007, "invalid ingest configuration")

enum ingest_error {
#define INGEST__ENUM(n, v, s) n = v,
  INGEST_ERRORS(INGEST__ENUM)
#undef INGEST__ENUM
};

/* Message for an INGEST_E* code or a negative errno. Never NULL; static storage. */
const char *ingest_strerror(int err);

/* ------------------------------------------------------------------------------------------ */
/* Limits                                                                                      */

#define INGEST_CHANNELS_MAX 64   /* channels per engine (one AFE group / one COMTRADE file) */
#define INGEST_HARMONICS_MAX 50  /* harmonic groups computed: 0 (DC) … 50 */
#define INGEST_NAME_MAX 64       /* channel name incl. NUL (COMTRADE ch_id is ≤ 64) */
#define INGEST_PHASE_MAX 8       /* phase label incl. NUL ("A", "B", "C", "N", "AB"…) */
#define INGEST_UNIT_MAX 8
#define INGEST_FFT_N 2048        /* samples per synchronised basic window after resampling */

/* ------------------------------------------------------------------------------------------ */
/* 1. Engine                                                                                   */

enum ingest_kind { INGEST_KIND_VOLTAGE = 0, INGEST_KIND_CURRENT = 1 };

struct ingest_channel_cfg {
  char name[INGEST_NAME_MAX];  /* e.g. COMTRADE ch_id, "VA", "I7" */
  char phase[INGEST_PHASE_MAX]; /* "A" | "B" | "C" | … ; pairs currents with voltages */
  uint8_t kind;                 /* enum ingest_kind */
  double scale;                 /* volts or amperes per code; CT ratio and polarity sign folded in */
  double offset;                /* volts or amperes added after scaling */
  int16_t voltage_ch;           /* current channels: index of the voltage channel it is paired
                                   with for P/Q/S, or -1 (ingest_config_pair_by_phase fills it) */
  uint16_t branch;              /* branch number (1-based) for records, 0 = none */
  double phase_rad;             /* current channels: phase calibration, the current is taken as
                                   delayed by this angle at the fundamental (P and Q are rotated
                                   by it); 0 = none */
};

struct ingest_pq_cfg {
  double declared_v;        /* declared (nominal) phase voltage, V rms; > 0 */
  double dip_pct;           /* default 90 */
  double swell_pct;         /* default 110 */
  double interruption_pct;  /* default 10 */
  double hysteresis_pct;    /* default 2 (percent of declared voltage) */
};

struct ingest_config {
  double sample_rate_hz;      /* e.g. 8000; 1000 … 200000 */
  double nominal_hz;          /* 50 or 60: selects 10 or 12 cycles per basic window */
  unsigned nch;               /* 1 … INGEST_CHANNELS_MAX */
  struct ingest_channel_cfg ch[INGEST_CHANNELS_MAX];
  int ref_ch;                 /* channel whose zero crossings bound the windows; -1 = first
                                 voltage channel (or channel 0 if there is none) */
  struct ingest_pq_cfg pq;
  unsigned capture_pre_cycles;   /* cycles kept before a trigger; ≥ 10 (default 12) */
  unsigned capture_post_ms;      /* time kept after a trigger (default 500); 0 = no captures */
  unsigned signature_cycles;     /* per-branch signature ring depth in cycles (default 64) */
  /* Class A additions (IEC 61000-4-30 Ed. 3); see docs/ingest.md */
  bool flicker;                  /* IEC 61000-4-15 flickermeter per voltage channel (default on) */
  int lamp;                      /* enum ingest_lamp, or -1 (default): 120 V lamp when the
                                    declared voltage is below 170 V, else 230 V */
  bool unbalance;                /* u0, u2 per basic window (default on) */
  double rvc_pct;                /* rapid voltage change threshold, % of declared (default 5;
                                    0 = off) */
  double rvc_hysteresis_pct;     /* default 2.5 (half the threshold) */
  double freq_band_pct;          /* frequency deviation events when a 10-s frequency leaves
                                    nominal ± this % (default 1; 0 = off) */
  int64_t t0_ns;                 /* time of sample 0 (any clock; results are on that clock) */
};

/* Fill defaults (no channels; 8 kSPS, 50 Hz, 230 V, 90/110/10/2 %, 12 pre cycles, 500 ms post,
 * 64 signature cycles, ref_ch -1). */
void ingest_config_defaults(struct ingest_config *cfg);

/* For every current channel whose voltage_ch is -1, pair it with the first voltage channel of
 * the same phase label (case-insensitive), or leave -1. */
void ingest_config_pair_by_phase(struct ingest_config *cfg);

/* Metrics of one channel over one basic window. Units: V or A. */
struct ingest_channel_metrics {
  double rms;         /* true rms over the synchronised window (DC and harmonics included) */
  double min, max;    /* extreme instantaneous samples in the window */
  double dc;          /* mean */
  double thd_pct;     /* IEC 61000-4-7 group THD, harmonics 2..40, percent of group 1 */
  double thd50_pct;   /* same, 2..50 (IEC 61557-12) */
  double h1_rms;      /* harmonic group 1 rms */
  double h1_phase_rad;/* phase of the fundamental bin, relative to the window start */
  float group_rms[INGEST_HARMONICS_MAX + 1]; /* harmonic groups G0 (DC) … G50, rms */
  /* IEC 61000-4-7, rms: harmonic subgroups (h·C ± 1 bins), interharmonic groups and centred
   * subgroups between h and h+1 (index h, 0 … 50; C = cycles per window, 5 Hz bins) */
  float subgroup_rms[INGEST_HARMONICS_MAX + 1];
  float ih_group_rms[INGEST_HARMONICS_MAX + 1];
  float ih_subgroup_rms[INGEST_HARMONICS_MAX + 1];
  double h1_re, h1_im;         /* fundamental bin as an rms phasor (window start = phase 0) */
  /* Smallest and largest half-cycle rms in the window: IEC 61000-4-30 Urms(1/2) (Irms(1/2) for
   * currents), the rms over one cycle commencing at a zero crossing of the reference, refreshed
   * every half cycle — the 2·cycles − 1 values whose cycle lies inside the window. */
  double hrms_min, hrms_max;
};

/* Power of one current channel against its paired voltage over one basic window. */
struct ingest_power_metrics {
  int ich, vch;       /* channel indices */
  double p_w;         /* active power, mean(v·i) over the window */
  double q_var;       /* reactive power of the fundamental, Im(V1·conj(I1)); > 0 inductive */
  double s_va;        /* apparent power Urms·Irms */
  double pf;          /* P / S, in [-1, 1]; negative only when power flows backwards */
  double energy_j;    /* p_w × duration */
};

#define INGEST_WF_EVENT 0x1u      /* a dip/swell/interruption touched this window (flagged) */
#define INGEST_WF_UNSYNC 0x2u     /* a window bound was synthesised (no zero crossing found) */

struct ingest_window {
  uint64_t seq;              /* basic window number since init, from 0 */
  double start_sample;       /* fractional sample index of the starting zero crossing */
  double length_samples;     /* fractional number of samples */
  int64_t start_ns, end_ns;  /* on the clock of cfg.t0_ns */
  double duration_s;
  double freq_hz;            /* cycles / duration */
  unsigned cycles;           /* 10 or 12 */
  uint32_t flags;            /* INGEST_WF_* */
  bool has_unbalance;        /* three voltage phases found and cfg.unbalance */
  double u2_pct, u0_pct;     /* negative / zero sequence over positive sequence, % */
  unsigned nch;
  struct ingest_channel_metrics ch[INGEST_CHANNELS_MAX];
  unsigned npow;
  struct ingest_power_metrics pow[INGEST_CHANNELS_MAX];
};

enum ingest_pq_kind { INGEST_PQ_DIP = 1, INGEST_PQ_SWELL = 2, INGEST_PQ_INTERRUPTION = 3,
                     /* delivered only through ingest_sink.pq_event_ext (the journal's
                        pq_event record does not carry these kinds yet) */
                     INGEST_PQ_RVC = 4, INGEST_PQ_FREQ = 5 };

/* IEEE 1159 category of an event (duration × magnitude). */
enum ingest_ieee1159 {
  INGEST_1159_NONE = 0,
  INGEST_1159_INSTANTANEOUS_SAG, INGEST_1159_MOMENTARY_SAG, INGEST_1159_TEMPORARY_SAG,
  INGEST_1159_UNDERVOLTAGE,
  INGEST_1159_INSTANTANEOUS_SWELL, INGEST_1159_MOMENTARY_SWELL, INGEST_1159_TEMPORARY_SWELL,
  INGEST_1159_OVERVOLTAGE,
  INGEST_1159_MOMENTARY_INTERRUPTION, INGEST_1159_TEMPORARY_INTERRUPTION,
  INGEST_1159_SUSTAINED_INTERRUPTION,
};
/* "instantaneous_sag", … ; "none" for NONE or unknown values. */
const char *ingest_ieee1159_name(int category);
/* The duration class alone: "instantaneous" | "momentary" | "temporary" | "sustained" (the
 * record's `category` field; kind + class name the full IEEE 1159 category). */
const char *ingest_ieee1159_class(int category);
/* Category from kind, duration and magnitude (per unit of declared voltage). */
int ingest_ieee1159_classify(int kind, double duration_s, double magnitude_pu, double nominal_hz);

#define INGEST_PQF_AT_START 0x1u   /* already in progress when the run started */
#define INGEST_PQF_AT_END 0x2u     /* still in progress when the run ended (duration so far) */
#define INGEST_PQF_NO_CAPTURE 0x4u /* no capture: capture buffer busy or captures disabled */

#define INGEST_VPHASES_MAX 8       /* voltage channels taking part in PQ detection */

struct ingest_pq_event {
  uint64_t id;               /* event number since init, from 1 */
  int kind;                  /* enum ingest_pq_kind */
  uint32_t phase_mask;       /* bit k = k-th voltage channel (see vch[]) took part */
  char phases[INGEST_VPHASES_MAX * 2 + 1]; /* phase labels concatenated: "A", "ABC" */
  double start_sample, end_sample;
  int64_t start_ns, end_ns;
  double duration_s;
  double extreme_v;          /* residual (dip, interruption) or peak (swell) Urms(1/2) */
  double extreme_pct;        /* extreme_v in percent of the declared voltage */
  double declared_v;
  double delta_umax_pct, delta_uss_pct; /* RVC: of the declared voltage */
  double freq_extreme_hz;    /* frequency deviation: the 10-s value furthest from nominal */
  int category;              /* enum ingest_ieee1159 */
  uint32_t flags;            /* INGEST_PQF_* */
  uint64_t capture_id;       /* 0 = none; else the id passed to the capture callback */
  unsigned nv;               /* voltage channels: their indices and per-channel extremes */
  int vch[INGEST_VPHASES_MAX];
  double vmin_v[INGEST_VPHASES_MAX], vmax_v[INGEST_VPHASES_MAX];
};

/* A finished capture. codes are channel-major: codes[c * nframes + n]. Borrowed. */
struct ingest_capture_view {
  uint64_t id;
  double sample_rate_hz;
  double nominal_hz;
  int64_t t0_ns;             /* time of frame 0 */
  uint32_t nframes;
  uint32_t trigger_frame;    /* frame index of the trigger */
  uint32_t reason;           /* 0 = pq event, else the caller's tag (trip taps) */
  unsigned nch;
  const struct ingest_channel_cfg *ch;  /* nch entries */
  const int32_t *codes;
};

/* An aggregated interval (IEC 61000-4-30 §4.5). 150/180 cycles: 15 basic windows, restarted
 * at every 10-minute tick; 10 s: frequency only; 10 min and 2 h: clock aligned, `start` is the
 * tick that opens the interval. Values are sqrt(mean of squares) of the basic windows' (2 h:
 * of the 10-minute) values; frequency = cycles / their duration. `flagged`: a dip, swell or
 * interruption touched the interval (marked, not dropped). `partial`: the run did not cover
 * the whole interval (start or end of input); Pst only for a complete 10 minutes, Plt only for
 * twelve complete Pst. */
enum ingest_agg_kind { INGEST_AGG_CYC150 = 1, INGEST_AGG_10S = 2, INGEST_AGG_10MIN = 3, INGEST_AGG_2H = 4 };
struct ingest_pq_aggregate {
  int kind;                  /* enum ingest_agg_kind */
  int64_t start_ns, end_ns;  /* nominal interval (CYC150: first window start, last end) */
  double covered_s;          /* time of the windows inside */
  uint32_t nwin;             /* basic windows (2 h: 10-minute intervals) */
  bool partial, flagged;
  double freq_hz;
  unsigned nch;
  double rms[INGEST_CHANNELS_MAX], thd_pct[INGEST_CHANNELS_MAX];
  float group_rms[INGEST_CHANNELS_MAX][INGEST_HARMONICS_MAX + 1];
  float subgroup_rms[INGEST_CHANNELS_MAX][INGEST_HARMONICS_MAX + 1];
  float ih_group_rms[INGEST_CHANNELS_MAX][INGEST_HARMONICS_MAX + 1];
  float ih_subgroup_rms[INGEST_CHANNELS_MAX][INGEST_HARMONICS_MAX + 1];
  bool has_unbalance;
  double u2_pct, u0_pct;
  unsigned nv;               /* voltage channels (engine order, as pq_event vch[]) */
  int vch[INGEST_VPHASES_MAX];
  bool has_pst, has_plt;
  double pst[INGEST_VPHASES_MAX], plt[INGEST_VPHASES_MAX];
};

struct ingest_sink {
  void *ctx;
  void (*window)(void *ctx, const struct ingest_window *w);
  void (*pq_event)(void *ctx, const struct ingest_pq_event *e);
  void (*capture)(void *ctx, const struct ingest_capture_view *c);
};
/* Class A additions, called with the sink's ctx; NULL = not delivered. A separate struct so
 * existing sink initialisers stay complete. */
struct ingest_sink_class_a {
  void (*pq_event_ext)(void *ctx, const struct ingest_pq_event *e);  /* RVC, frequency */
  void (*aggregate)(void *ctx, const struct ingest_pq_aggregate *a);
};

struct ingest__engine;
struct ingest_engine { struct ingest__engine *p; };

/* Validate cfg and allocate every buffer (rings, capture buffer, FFT plans). The sink (copied)
 * may have NULL callbacks. Returns 0, -ENOMEM or INGEST_ECONFIG. On error nothing is held. */
int ingest_engine_init(struct ingest_engine *e, const struct ingest_config *cfg,
                       const struct ingest_sink *sink);
/* Set (copied) the Class A callbacks; call before the first push. */
void ingest_engine_set_class_a(struct ingest_engine *e, const struct ingest_sink_class_a *s);
/* Push nframes interleaved frames (codes[n * nch + c]). Calls the sink synchronously. No
 * allocation. Returns 0. */
int ingest_engine_push(struct ingest_engine *e, const int32_t *codes, size_t nframes);
/* End of input: close events still in progress (INGEST_PQF_AT_END), cut a running capture
 * short and deliver it, emit pending events. The engine accepts no more samples. */
int ingest_engine_finish(struct ingest_engine *e);
/* Start a capture now (e.g. a trip tap). reason must be nonzero. Returns the capture id (> 0)
 * or -EBUSY while another capture is filling or captures are disabled (-ENOTSUP). */
int64_t ingest_engine_trigger(struct ingest_engine *e, uint32_t reason);
/* Samples pushed so far. */
uint64_t ingest_engine_samples(const struct ingest_engine *e);
/* Bytes held by the sample rings and the capture buffer (the "capture rings"). */
size_t ingest_engine_capture_bytes(const struct ingest_engine *e);
/* Total bytes allocated by init. */
size_t ingest_engine_memory_bytes(const struct ingest_engine *e);
/* Accepts a zeroed struct. */
void ingest_engine_deinit(struct ingest_engine *e);

/* ------------------------------------------------------------------------------------------ */
/* 4. Pre-trigger signature (trip_tap records)                                                 */

struct ingest_signature {
  double rms;        /* over the cycles found */
  double peak;       /* max |x| */
  double crest;      /* peak / rms (0 when rms is 0) */
  unsigned cycles;   /* cycles actually used (≤ requested; fewer if the ring is younger) */
  int64_t from_ns, to_ns;
};

/* The engine keeps one ring of per-cycle summaries per current channel. Answer "the last N
 * cycles ending at or before t_ns" for channel ch. -ENOENT if no cycle ended before t_ns,
 * -EINVAL for a bad channel. */
int ingest_engine_signature(const struct ingest_engine *e, unsigned ch, int64_t t_ns,
                            unsigned ncycles, struct ingest_signature *out);

/* The same ring, standalone (register path: feed it per-cycle values the AFE gives). */
struct ingest_sigring_cycle { int64_t end_ns; double sum_sq; double duration_s; float peak; };
struct ingest_sigring {
  struct ingest_sigring_cycle *cyc; /* caller-provided storage of cap entries */
  unsigned cap, head, count;
};
void ingest_sigring_init(struct ingest_sigring *r, struct ingest_sigring_cycle *storage,
                         unsigned cap);
/* sum_sq = Σ x²·dt over the cycle (units²·s), so rms = sqrt(sum_sq / duration_s). */
void ingest_sigring_push(struct ingest_sigring *r, int64_t end_ns, double sum_sq,
                         double duration_s, double peak);
int ingest_sigring_query(const struct ingest_sigring *r, int64_t t_ns, unsigned ncycles,
                         struct ingest_signature *out);

/* ------------------------------------------------------------------------------------------ */
/* Flicker (IEC 61000-4-15), one voltage channel; flicker.c. Caller-owned, no allocation.      */

enum ingest_lamp { INGEST_LAMP_230V = 0, INGEST_LAMP_120V = 1 }; /* 230 V/50 Hz, 120 V/60 Hz */
#define INGEST_FLICKER_CLASSES 2048
struct ingest_flicker {
  double fs, gain;
  int lamp;
  double ms;                  /* mean square of the input (block 1 reference) */
  double ms_a;
  unsigned ms_n, ms_need;
  bool ready;
  double q[7][7];             /* HP, 3 × LP, 2 × weighting, 300 ms smoothing: b0 b1 b2 a1 a2 z1 z2 */
  double pinst, pinst_max;    /* latest Pinst; maximum since the last reset_stats */
  uint64_t n, settle;          /* blocks 2–4 steps run; steps not classified at the start */
  unsigned D, acc_n;           /* input samples averaged per step of blocks 2–4 */
  double acc;
  unsigned dec, dec_n;
  uint64_t nclass;
  uint32_t hist[INGEST_FLICKER_CLASSES];
};
/* fs ≥ 400 Hz; nominal_hz sets the first-cycle length of the input adaptor. INGEST_ECONFIG. */
int ingest_flicker_init(struct ingest_flicker *f, double fs, double nominal_hz, int lamp);
/* One sample (volts, any scale); returns Pinst. */
double ingest_flicker_step(struct ingest_flicker *f, double x);
/* Pst of the samples classified since init or the last reset (NAN when none). */
double ingest_flicker_pst(const struct ingest_flicker *f);
void ingest_flicker_reset_stats(struct ingest_flicker *f);
/* Plt = cube root of the mean of Pst³ (n = 12 for 2 hours); NAN when n is 0. */
double ingest_flicker_plt(const double *pst, unsigned n);
/* Block 4 gain: peak Pinst 1.0 for 8.8 Hz sinusoidal ΔV/V = 0.25 % (230 V lamp). */
double ingest_flicker_gain(void);

/* ------------------------------------------------------------------------------------------ */
/* 2. Records (integer fixed point; schemas/ingest.cddl)                                       */

/* Energy of one direction pair, in µWh with the sub-µWh remainder carried in nJ.
 * Invariant: total_uwh·3 600 000 + rem_nj == Σ of every window energy added (nJ), exactly. */
struct ingest_energy {
  int64_t import_uwh, export_uwh;   /* running totals */
  int64_t import_rem_nj, export_rem_nj; /* 0 ≤ rem < 3 600 000 */
};
#define INGEST_NJ_PER_UWH 3600000LL
void ingest_energy_init(struct ingest_energy *en);
/* Window energy in nJ (ingest_energy_nj()); positive = import, negative = export. Outputs the
 * whole µWh that this window completes (added to the running totals as well). */
void ingest_energy_add(struct ingest_energy *en, int64_t energy_nj, int64_t *out_import_uwh,
                       int64_t *out_export_uwh);
/* The window energy p_w × duration_s rounded to nJ — the one float→integer step. */
int64_t ingest_energy_nj(double p_w, double duration_s);

#define INGEST_RWF_EVENT 0x1u     /* some basic window was flagged INGEST_WF_EVENT */
#define INGEST_RWF_UNSYNC 0x2u
#define INGEST_RWF_REGISTER 0x4u  /* fields come from AFE DSP registers, not samples */

struct ingest_rec_channel {
  uint8_t ch;            /* channel index */
  uint8_t kind;          /* enum ingest_kind: values below are mV (voltage) or mA (current) */
  char phase[INGEST_PHASE_MAX];
  uint16_t branch;       /* from the channel config; 0 = none */
  int32_t rms_m;         /* rms, mV | mA */
  int32_t min_m, max_m;  /* instantaneous extremes, mV | mA */
  int32_t thd_mpct;      /* THD 2..40, milli-percent */
  int32_t hrms_min_m, hrms_max_m; /* extremes of the half-cycle rms (Urms(1/2)), mV | mA */
  bool event;            /* voltage channel of a window a dip/swell/interruption flagged */
};
struct ingest_rec_power {
  uint8_t ich, vch;
  char phase[INGEST_PHASE_MAX]; /* of the current channel */
  uint16_t branch;
  int64_t p_mw;          /* mean active power */
  int64_t q_mvar;        /* mean fundamental reactive power */
  int64_t s_mva;         /* mean apparent power */
  int32_t pf_mpct;       /* P/S in milli-percent: -100000 … 100000 */
  int64_t import_uwh;    /* energy completed in this record, µWh (remainder carried) */
  int64_t export_uwh;
};
struct ingest_rec_window {
  int64_t start_ns;
  uint32_t duration_us;
  uint32_t freq_mhz;
  uint16_t basic_windows;
  uint16_t flags;        /* INGEST_RWF_* */
  uint8_t nch, npow;
  struct ingest_rec_channel ch[INGEST_CHANNELS_MAX];
  struct ingest_rec_power pow[INGEST_CHANNELS_MAX];
};

/* Aggregates basic windows into window records of period_ms (200, 1000 or 10000 typical).
 * Rms and THD aggregate as sqrt(mean of squares), powers as time-weighted means, min/max as
 * extremes, energy through one struct ingest_energy per power pair (so the energy of every
 * record sums exactly to the running totals). Caller-owned; no allocation. */
struct ingest_aggregator {
  uint32_t period_ms;
  bool open;
  int64_t start_ns, boundary_ns;
  double dur_s, cycles;
  uint16_t nwin;
  uint32_t flags;
  unsigned nch, npow;
  double ch_sq[INGEST_CHANNELS_MAX], ch_min[INGEST_CHANNELS_MAX], ch_max[INGEST_CHANNELS_MAX];
  double ch_h1sq[INGEST_CHANNELS_MAX], ch_dsq[INGEST_CHANNELS_MAX];
  double ch_hmin[INGEST_CHANNELS_MAX], ch_hmax[INGEST_CHANNELS_MAX];
  uint8_t ch_kind[INGEST_CHANNELS_MAX];
  double p_ws[INGEST_CHANNELS_MAX], q_ws[INGEST_CHANNELS_MAX], s_ws[INGEST_CHANNELS_MAX];
  int64_t imp_uwh[INGEST_CHANNELS_MAX], exp_uwh[INGEST_CHANNELS_MAX];
  struct ingest_energy energy[INGEST_CHANNELS_MAX]; /* per power pair, running */
  uint8_t pow_ich[INGEST_CHANNELS_MAX], pow_vch[INGEST_CHANNELS_MAX];
  uint16_t pow_branch[INGEST_CHANNELS_MAX], ch_branch[INGEST_CHANNELS_MAX];
  char ch_phase[INGEST_CHANNELS_MAX][INGEST_PHASE_MAX];
};
/* period_ms in 1 … 3 600 000. */
int ingest_aggregator_init(struct ingest_aggregator *a, uint32_t period_ms);
/* Add one basic window; returns 1 and fills *out when a record is complete, else 0.
 * cfg supplies branch numbers. */
int ingest_aggregator_add(struct ingest_aggregator *a, const struct ingest_config *cfg,
                          const struct ingest_window *w, struct ingest_rec_window *out);
/* Close a partial record (end of run); returns 1 and fills *out if one was open. */
int ingest_aggregator_flush(struct ingest_aggregator *a, struct ingest_rec_window *out);

struct ingest_rec_pq_phase { uint8_t ch; int32_t min_mv, max_mv; };
struct ingest_rec_pq_event {
  uint8_t kind;           /* enum ingest_pq_kind */
  uint8_t category;       /* enum ingest_ieee1159 */
  uint8_t flags;          /* INGEST_PQF_* */
  char phases[INGEST_VPHASES_MAX * 2 + 1];
  int64_t start_ns;
  uint64_t duration_us;
  int32_t extreme_mv;     /* residual or peak Urms(1/2) */
  int32_t extreme_mpct;   /* of declared voltage */
  int32_t declared_mv;
  uint8_t nph;
  struct ingest_rec_pq_phase ph[INGEST_VPHASES_MAX];
  bool has_capture;
  uint8_t capture[32];    /* BLAKE2b-256 of the uncompressed capture blob (filled by the caller) */
};
void ingest_rec_pq_event_fill(const struct ingest_pq_event *e, struct ingest_rec_pq_event *out);

/* Installation checks per branch from its window powers (polarity.c): a reversed CT on a
 * load-only branch, and a current mapped to the wrong phase. Caller-owned, one per branch. */
#define INGEST_POLARITY_MIN_VA 20.0  /* below this apparent power nothing is judged */
enum ingest_polarity_verdict { INGEST_POL_NONE = 0, INGEST_POL_REVERSED = 1, INGEST_POL_PHASE_MAP = 2 };
struct ingest_polarity {
  unsigned reversed_run, swap_run;     /* consecutive windows with the evidence */
  bool reported_reversed, reported_swap;
  double last_angle_deg, last_pf;      /* evidence of the last window (for the fault record) */
};
void ingest_polarity_init(struct ingest_polarity *st);
/* Feed one window's P, Q (fundamental) and S of the branch, after the configured polarity is
 * applied. Returns INGEST_POL_REVERSED or INGEST_POL_PHASE_MAP once, on the window the evidence
 * has held for windows_needed (0 → 5) consecutive windows; else INGEST_POL_NONE. */
int ingest_polarity_update(struct ingest_polarity *st, bool load_only, double p_w, double q_var,
                           double s_va, unsigned windows_needed);

/* ------------------------------------------------------------------------------------------ */
/* 3. Capture blobs                                                                            */

/* Blob = header + per-channel metadata + per channel the second differences of the codes,
 * zigzag + LEB128 varint coded (format at the top of ingest/capture_blob.c). Deterministic:
 * the same capture gives the same bytes. Upper bound of the encoded size: */
size_t ingest_capture_blob_bound(unsigned nch, uint32_t nframes);
/* Encode into buf[cap]; *out_len = bytes written. -ENOSPC if cap is too small. */
int ingest_capture_encode(const struct ingest_capture_view *c, uint8_t *buf, size_t cap,
                          size_t *out_len);

/* A decoded blob. ch and codes point into caller storage given to ingest_capture_decode. */
struct ingest_capture {
  struct ingest_capture_view v;            /* v.ch = chan, v.codes = codes */
  struct ingest_channel_cfg chan[INGEST_CHANNELS_MAX];
};
/* Read only the header: number of channels and frames (to size the codes buffer). Counts the
 * blob cannot hold (each sample takes at least one byte) are INGEST_EBLOB. */
int ingest_capture_peek(const uint8_t *blob, size_t len, unsigned *out_nch,
                        uint32_t *out_nframes);
/* Decode; codes_cap in int32 units must be ≥ nch·nframes. INGEST_EBLOB on any inconsistency. */
int ingest_capture_decode(const uint8_t *blob, size_t len, struct ingest_capture *out,
                          int32_t *codes, size_t codes_cap);

/* ------------------------------------------------------------------------------------------ */
/* 5. COMTRADE                                                                                 */

enum ingest_ct_ft { INGEST_CT_ASCII = 0, INGEST_CT_BINARY, INGEST_CT_BINARY32, INGEST_CT_FLOAT32 };

#define INGEST_CT_RATES_MAX 32
#define INGEST_CT_ANALOG_MAX 256
#define INGEST_CT_DIGITAL_MAX 1024

struct ingest_ct_analog {
  unsigned index;              /* An */
  char id[INGEST_NAME_MAX], ph[INGEST_PHASE_MAX], ccbm[INGEST_NAME_MAX], uu[INGEST_UNIT_MAX];
  double a, b, skew_us, min, max, primary, secondary;
  char ps;                     /* 'P' or 'S' */
};
struct ingest_ct_digital {
  unsigned index;
  char id[INGEST_NAME_MAX], ph[INGEST_PHASE_MAX], ccbm[INGEST_NAME_MAX];
  int y;
};
struct ingest_ct_time { int year, month, day, hour, minute; int64_t sec_ns; /* ns of minute */ };

struct ingest_ct_cfg {
  char station[INGEST_NAME_MAX], device[INGEST_NAME_MAX];
  int rev_year;                /* 1991, 1999 or 2013 */
  unsigned na, nd;
  struct ingest_ct_analog *an; /* na entries (allocated by the reader; freed by ..._free) */
  struct ingest_ct_digital *dg;
  double lf;
  unsigned nrates;
  double samp[INGEST_CT_RATES_MAX];
  uint64_t endsamp[INGEST_CT_RATES_MAX];
  uint64_t total_samples;      /* last endsamp (or the nrates = 0 count) */
  struct ingest_ct_time start, trigger;
  bool ns_timebase;            /* 9 fractional digits in the time stamps */
  int ft;                      /* enum ingest_ct_ft */
  double timemult;
  char time_code[8], local_code[8]; /* 2013; "" when absent */
  int utc_offset_min;          /* from time_code; 0 when absent */
  char tmq_code[4];
  int leapsec;
  int64_t dat_bytes;           /* .cff: declared size of a binary DAT section, else -1 */
};

/* Parse .cfg text (length len, need not be NUL-terminated). name is used in messages
 * ("x.cfg:7: field 2 (time): missing fractional seconds", written to msg[msg_cap]).
 * Returns 0, INGEST_ESYNTAX, INGEST_ELIMIT or -ENOMEM. On error *out is freed. */
int ingest_ct_cfg_parse(const char *text, size_t len, const char *name,
                        struct ingest_ct_cfg *out, char *msg, size_t msg_cap);
void ingest_ct_cfg_free(struct ingest_ct_cfg *cfg);

/* Decoded samples: values (physical, a·raw + b, primary or secondary as the file states)
 * channel-major: value[c * nsamples + n]; raw integer values kept when the file type is
 * integer (BINARY/BINARY32/ASCII with integer fields) for lossless re-coding. */
struct ingest_ct_data {
  uint64_t nsamples;
  double *value;               /* na × nsamples */
  int32_t *raw;                /* na × nsamples, or NULL for FLOAT32 / fractional ASCII */
  int64_t *t_us;               /* per sample time from start, µs (from rates when nrates ≠ 0,
                                  else timestamp × timemult) */
  uint8_t *missing;            /* na × nsamples: 1 where the file marks the sample missing */
  uint16_t *digital;           /* ceil(nd/16) words per sample, or NULL when nd = 0 */
};
/* Parse .dat bytes against cfg. Errors name "name:line: field N (what): …" (ASCII) or
 * "name: sample N: …" (binary). */
int ingest_ct_dat_parse(const struct ingest_ct_cfg *cfg, const uint8_t *dat, size_t len,
                        const char *name, struct ingest_ct_data *out, char *msg, size_t msg_cap);
void ingest_ct_data_free(struct ingest_ct_data *d);

/* Streaming: a reader hands out the samples block by block (frame-major, storage owned by the
 * reader, valid until the next call), so memory does not grow with the file. */
#define INGEST_CT_BLOCK 4096
struct ingest_ct_block {
  uint64_t first;              /* index of the block's first sample */
  size_t n;                    /* samples in the block */
  const int32_t *raw;          /* n × na: raw integers (meaningful while the reader is integral) */
  const double *value;         /* n × na: a·raw + b */
  const uint8_t *missing;      /* n × na */
  const int64_t *t_us;         /* n: time from the start, µs */
  const uint16_t *digital;     /* n × ceil(nd/16), or NULL */
};
struct ingest_ct_reader;
/* Over dat[len] (borrowed; mapped = it is a file mapping whose consumed pages may be released).
 * Checks the sample count (binary: byte length; ASCII: non-blank lines) before anything else.
 * cfg is borrowed for the reader's life. */
int ingest_ct_reader_open(const struct ingest_ct_cfg *cfg, const uint8_t *dat, size_t len,
                          const char *name, bool mapped, struct ingest_ct_reader **out, char *msg,
                          size_t msg_cap);
/* Next block: returns its sample count, 0 at the end, or a negative error (msg says where). */
int ingest_ct_reader_next(struct ingest_ct_reader *r, struct ingest_ct_block *b, char *msg,
                          size_t msg_cap);
void ingest_ct_reader_rewind(struct ingest_ct_reader *r);
/* Every analog value read so far was an integer (BINARY, BINARY32, integer ASCII). */
bool ingest_ct_reader_integral(const struct ingest_ct_reader *r);
void ingest_ct_reader_close(struct ingest_ct_reader *r);

/* A COMTRADE file opened for streaming: FILE.cfg (+ FILE.dat) or FILE.cff, the data mapped
 * read-only. */
struct ingest_ct_file {
  struct ingest_ct_cfg cfg;
  struct ingest_ct_reader *rd;
  void *map;
  size_t map_len;
};
int ingest_ct_file_open(const char *path, struct ingest_ct_file *f, char *msg, size_t msg_cap);
void ingest_ct_file_close(struct ingest_ct_file *f);

/* Read FILE.cfg (+ FILE.dat next to it, any case of the extension) or FILE.cff. */
int ingest_ct_read(const char *path, struct ingest_ct_cfg *cfg, struct ingest_ct_data *data,
                   char *msg, size_t msg_cap);

/* Write a capture as COMTRADE 2013: OUT.cfg + OUT.dat, ft BINARY (int16; codes are rescaled
 * by a power of two if they do not fit, recorded in the channel's a factor) or BINARY32.
 * base is the path without extension. station/device may be NULL. */
int ingest_ct_write(const char *base, const struct ingest_capture_view *c, int ft,
                    const char *station, const char *device, char *msg, size_t msg_cap);

/* A synthetic recording for measuring `hems analyze` (ingest/comtrade_synth.c): BASE.cfg +
 * BASE.dat, VA VB VC 230 V rms (0.5 % 5th harmonic), IA IB IC 10 A rms at PF 0.9, 2013,
 * BINARY or BINARY32. Zero fields take the defaults (8 kSPS, 50 Hz, start 04/12/2026
 * 12:00:00, PS 'P', ratings 1:1, no outage). Returns 0 or negative errno with msg set. */
struct ingest_ct_synth_spec {
  double seconds, fs, lf;
  bool binary32;
  const char *start;           /* dd/mm/yyyy,hh:mm:ss.ssssss */
  char ps;                     /* 'P' or 'S' on the voltage lines */
  double primary, secondary;   /* VT rating written on the voltage lines */
  double outage_s;             /* zero voltage for the first outage_s seconds */
};
int ingest_ct_synth(const char *base, const struct ingest_ct_synth_spec *s, char *msg, size_t msg_cap);

/* ------------------------------------------------------------------------------------------ */
/* `hems analyze` and `hems bench ingest`                                                      */

/* Stream a COMTRADE file through the engine and print one JSON object per line per basic
 * window, per pq_event (also rvc and frequency) and per 10-minute aggregate (CLI.md "hems
 * analyze objects" and "Power quality (Class A additions)"). declared_v 0 = auto: from the
 * .cfg's transformer rating, else the standard nominal voltage nearest the median one-cycle RMS
 * of the energised cycles; then msg says which (the CLI prints it on stderr). On error msg holds the reason (file, line, field). Returns 0,
 * INGEST_E*, or negative errno (-ENOENT: file missing…). */
int ingest_analyze_file(const char *cfg_path, double declared_v, FILE *out, char *msg,
                        size_t msg_cap);

/* As ingest_analyze_file, with the analysis options `hems analyze` exposes. */
struct ingest_analyze_opts {
  double declared_v;           /* 0 = auto, as above */
  double freq_band_pct;        /* frequency deviation events outside nominal ± this % of the
                                  10-s frequency; 0 = off, < 0 = the default (1 %) */
};
int ingest_analyze_file_opts(const char *cfg_path, const struct ingest_analyze_opts *o, FILE *out,
                             char *msg, size_t msg_cap);

/* The standard nominal voltage (V rms) nearest v. */
double ingest_nominal_voltage(double v);

struct ingest_bench_result {
  double realtime_factor;   /* simulated seconds / thread CPU seconds */
  double realtime_factor_class_a_off; /* same run, same signal: flicker, unbalance, RVC and
                                         frequency events off (the aggregation stays) */
  double seconds_simulated;
  double cpu_s;
  unsigned channels;        /* 51 */
  double sample_rate_hz;
  size_t capture_ring_bytes;
  size_t engine_bytes;
  size_t engine_bytes_class_a_off;
  uint64_t windows, events, captures;
  size_t blob_bytes_raw;    /* int32 codes of the captures */
  size_t blob_bytes;        /* encoded blobs (uncompressed) */
};
/* 48 current + 3 voltage channels at 8 kSPS, 60 Hz, through the whole engine (windows,
 * harmonics, Urms(1/2), PQ, capture rings, signature rings) for `seconds` of signal, one
 * core (the calling thread). A dip every 10 s exercises captures. A second engine with the
 * switchable Class A additions off runs the same seconds in turn: its figure is the same-run
 * baseline. Returns 0 or -ENOMEM. */
int ingest_bench(double seconds, struct ingest_bench_result *out);

#ifdef __cplusplus
}
#endif
#endif
