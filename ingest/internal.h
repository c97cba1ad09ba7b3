/*
 * internal.h — private declarations shared by the ingest/ translation units (not installed,
 * not included outside ingest/). The engine state lives here so each concern (zero crossings,
 * window DSP, PQ state machine, captures) can sit in its own file.
 *
 * Invariants: every array is allocated in ingest_engine_init() and sized from the config;
 * per-sample code paths never allocate. Sample indices are uint64 counts since init; times
 * inside a sample are fractional sample indices (double), exact to far below a ns for 30 days.
 */
#ifndef HEMS_INGEST_INTERNAL_H
#define HEMS_INGEST_INTERNAL_H

#include "ingest.h"

#include <kiss_fftr.h>

#define INGEST__RS_HALF 12      /* windowed-sinc half width (taps each side) */
#define INGEST__RS_PHASES 1024  /* fractional-delay phases in the table */
#define INGEST__RS_BETA 9.0     /* Kaiser beta: ≤ 0.007 % ripple up to 0.375·fs */
#define INGEST__BLOCK 256       /* frames stored before trackers run */

/* ---- resampler + spectrum (dsp.c) ---- */
struct ingest__dsp {
  float *table;            /* RS_PHASES+1 rows × 2·RS_HALF taps */
  kiss_fftr_cfg fft;
  float *seg;              /* scratch: one channel's raw window segment, physical units */
  size_t seg_cap;
  float *y[2];             /* resampled window (N) of the current channel and of its voltage */
  float *ybuf;             /* all channels' resampled windows: nch × N */
  kiss_fft_cpx *spec;      /* nch × (N/2+1) */
  int32_t *idx;            /* resampling plan of the current window: first tap index … */
  const float **taps;      /* … and tap row, per output point */
};
int ingest__dsp_init(struct ingest__dsp *d, unsigned nch, size_t seg_cap);
void ingest__dsp_deinit(struct ingest__dsp *d);
/* Band-limited interpolation of x[0..len) at positions t0 + k·step, k = 0..n-1: the plan
 * (first tap index and tap row per point) is the same for every channel of a window. The
 * caller guarantees RS_HALF samples of margin on both sides. */
void ingest__resample_plan(const struct ingest__dsp *d, size_t len, double t0, double step,
                           unsigned n, int32_t *idx, const float **taps);
void ingest__resample_run(const float *x, unsigned n, const int32_t *idx,
                          const float *const *taps, float *out);
/* Harmonic groups (IEC 61000-4-7) from a spectrum of a window holding `cycles` cycles. */
void ingest__groups(const kiss_fft_cpx *X, unsigned n, unsigned cycles, float *group_rms,
                    unsigned hmax);
/* IEC 61000-4-7 harmonic subgroups sg[h] (bins h·C−1 … h·C+1), interharmonic groups ig[h]
 * (bins between h·C and (h+1)·C) and centred subgroups isg[h] (without the bins next to the
 * harmonics), h = 0 … hmax, as rms. */
void ingest__subgroups(const kiss_fft_cpx *X, unsigned n, unsigned cycles, float *sg, float *ig,
                       float *isg, unsigned hmax);
/* Symmetrical components of three fundamental phasors (unbalance.c). */
int ingest__unbalance(const double re[3], const double im[3], double *out_u2_pct,
                      double *out_u0_pct);

/* ---- zero-crossing / half-cycle tracker (zc.c) ---- */
struct ingest__zc {
  int ch;
  double scale, offset;
  double h;               /* hysteresis, physical units */
  bool adaptive;          /* h follows 10 % of the tracked peak (non-voltage reference) */
  double peak;            /* tracked |x| peak (adaptive only) */
  bool arm_pos, arm_neg;
  double prev;            /* previous sample value */
  double last_b;          /* last boundary, fractional sample index */
  bool last_real;         /* last boundary was a real crossing */
  bool started;           /* a valid boundary exists (not just the start-of-run pseudo one) */
  int last_pol;           /* +1 positive-going, -1 negative-going */
  double half_est, half_nom;
  /* Urms(1/2): Σx² of the open half cycle and of the previous one */
  double seg_sum, prev_sum, prev_start;
  bool prev_valid, seg_valid;
};
struct ingest__zc_out {
  int n;                  /* boundaries found on this sample: 0 or 1 */
  double t;               /* boundary time */
  int pol;
  bool real;
  bool urms_valid;        /* a one-cycle rms ending at t is available */
  double urms, urms_start;
};
void ingest__zc_init(struct ingest__zc *z, int ch, double scale, double offset, double h,
                     bool adaptive, double half_nom);
void ingest__zc_step(struct ingest__zc *z, double x, uint64_t n, struct ingest__zc_out *o);

/* ---- PQ state machine (pq.c) ---- */
struct ingest__pq_kind_state {
  bool active;
  double start_t, start_ns_t;
  uint32_t mask;
  double extreme;
  double vmin[INGEST_VPHASES_MAX], vmax[INGEST_VPHASES_MAX];
  bool at_start;
  uint64_t capture_id;
  bool no_capture;
  /* interruption nested in a dip */
  bool had_intr;
  double intr_start, intr_end;
  double intr_extreme;
};
struct ingest__pq {
  unsigned nv;
  int vch[INGEST_VPHASES_MAX];
  char label[INGEST_VPHASES_MAX][INGEST_PHASE_MAX];
  double last[INGEST_VPHASES_MAX];   /* latest Urms(1/2), NaN before the first */
  bool seen[INGEST_VPHASES_MAX];
  double first_end[INGEST_VPHASES_MAX];
  double dip_thr, swell_thr, intr_thr, hyst, declared;
  struct ingest__pq_kind_state dip, swell;
  bool intr_active;
  double intr_start;
  double intr_min;
};
/* Engine callbacks used by the state machine. */
struct ingest__engine;
void ingest__pq_init(struct ingest__pq *pq, const struct ingest_config *cfg, const int *vch,
                     unsigned nv);
void ingest__pq_update(struct ingest__engine *E, unsigned v, double urms, double ta, double tb);
void ingest__pq_finish(struct ingest__engine *E, double t_end);

/* ---- rapid voltage change (rvc.c) ---- */
#define INGEST__RVC_N_MAX 120
struct ingest__rvc_ch { double v[INGEST__RVC_N_MAX], ta[INGEST__RVC_N_MAX], sum; unsigned head, count; };
struct ingest__rvc {
  bool on, active;
  unsigned N, nv;
  int vch[INGEST_VPHASES_MAX];
  double declared, thr, thr_end;
  struct ingest__rvc_ch ch[INGEST_VPHASES_MAX];
  double start_t, min_end, dmax, dmax_v;
  uint32_t mask;
  double pre_mean[INGEST_VPHASES_MAX], vmin[INGEST_VPHASES_MAX], vmax[INGEST_VPHASES_MAX];
};
void ingest__rvc_init(struct ingest__rvc *r, const struct ingest_config *cfg, const int *vch,
                      unsigned nv, unsigned cycles_per_window);
void ingest__rvc_update(struct ingest__engine *E, unsigned k, double urms, double ta, double tb);
void ingest__rvc_finish(struct ingest__engine *E, double t_end);
void ingest__phases_string(const struct ingest__pq *pq, uint32_t mask, char *out, size_t cap);

/* ---- aggregation (aggregate.c) ---- */
struct ingest__acc {
  bool open;
  int64_t start_ns, end_ns;     /* nominal interval */
  int64_t first_ns, last_ns;    /* first window start, last window end */
  uint32_t n;
  double dur, cycles;
  bool flagged, partial;
  double u2sq, u0sq;
  uint32_t nub;
  double *sq;                   /* nch × (1 + 4·51): rms², then the four group arrays' squares */
  double pst[INGEST_VPHASES_MAX][12];
  unsigned npst;                /* 2 h: complete Pst values collected */
};
struct ingest__agg {
  unsigned nch, nv;
  int vch[INGEST_VPHASES_MAX];
  double f0, band_hz;
  struct ingest__acc c150, s10, m10, h2;
  struct ingest_pq_aggregate *out;
  /* Pst of the 10 minutes that ended at pst_end_ns (engine, from the flickermeters) */
  bool pst_valid;
  int64_t pst_end_ns;
  double pst[INGEST_VPHASES_MAX];
  /* frequency deviation event */
  bool fev_active;
  int64_t fev_start_ns, fev_end_ns;
  double fev_extreme;
};
int ingest__agg_init(struct ingest__agg *a, const struct ingest_config *cfg, const int *vch,
                     unsigned nv, size_t *bytes);
void ingest__agg_deinit(struct ingest__agg *a);
void ingest__agg_window(struct ingest__engine *E, const struct ingest_window *w);
void ingest__agg_finish(struct ingest__engine *E);

/* ---- the engine ---- */
#define INGEST__PENDING_MAX 8
struct ingest__pending_window { double ta, tb; uint32_t flags; };

struct ingest__engine {
  struct ingest_config cfg;
  struct ingest_sink sink;
  struct ingest_sink_class_a sink_a;
  unsigned nch;
  uint32_t ring_len, ring_mask;
  int32_t *ring;               /* nch × ring_len, channel-major */
  uint64_t n;                  /* frames pushed */
  bool finished;
  size_t alloc_bytes;

  unsigned ntr;                /* trackers: voltage channels (PQ) + reference if not voltage */
  struct ingest__zc tr[INGEST_VPHASES_MAX + 1];
  int ref_tr;                  /* index into tr[] of the reference */
  unsigned nv;                 /* first nv trackers are the PQ voltage channels */

  /* basic window scheduling */
  unsigned cycles;             /* 10 or 12 */
  bool have_start;
  unsigned pos_count;
  double win_start;
  uint32_t win_flags;
  uint64_t win_seq;
  unsigned npend;
  struct ingest__pending_window pend[INGEST__PENDING_MAX];
  double max_window_samples;
  double last_pos_b;           /* last reference positive boundary (signature cycles) */
  bool have_pos_b;

  struct ingest__dsp dsp;
  struct ingest_window win;

  /* PQ */
  struct ingest__pq pq;
  uint64_t next_event_id;
  bool ev_active;
  double ev_active_start, ev_last_start, ev_last_end;
  unsigned nev;
  struct ingest_pq_event evq[INGEST__PENDING_MAX];

  /* capture */
  bool cap_enabled, cap_active;
  int32_t *cap_buf;            /* nch × cap_frames, channel-major */
  uint32_t cap_frames, pre_frames;
  uint64_t cap_start, cap_end, cap_filled; /* sample indices */
  uint64_t cap_trigger;
  uint64_t cap_id, next_cap_id;
  uint32_t cap_reason;

  /* Class A additions */
  struct ingest_flicker *fl;   /* one per PQ voltage channel (nv), or NULL */
  uint64_t tick_n;             /* first sample at or after the next 10-minute tick */
  int64_t tick_ns;
  struct ingest__rvc rvc;
  struct ingest__agg agg;
  bool ub_ok;                  /* unbalance: channels of phases A, B, C */
  int ub_ch[3];

  /* signature rings: one per channel (used for current channels) */
  struct ingest_sigring *sig;
  struct ingest_sigring_cycle *sig_store;
};

int64_t ingest__t_ns(const struct ingest__engine *E, double t);
/* Start a capture whose trigger is at fractional sample t; returns capture id or 0. */
uint64_t ingest__capture_start(struct ingest__engine *E, double t, uint32_t reason);
/* Queue a finished event; emitted once its capture has been delivered. */
void ingest__event_done(struct ingest__engine *E, const struct ingest_pq_event *ev);
void ingest__window_compute(struct ingest__engine *E, double ta, double tb, uint32_t flags);
void ingest__signature_cycle(struct ingest__engine *E, double ta, double tb);

/* ---- `hems analyze` output (analyze_json.c) ---- */
struct ingest__actx {
  FILE *out;
  const struct ingest_config *cfg;
  int offset_min;
  bool has_offset;
  int err;
};
void ingest__json_window(void *ctx, const struct ingest_window *w);
void ingest__json_event(void *ctx, const struct ingest_pq_event *e);
void ingest__json_aggregate(void *ctx, const struct ingest_pq_aggregate *g);

/* ---- small helpers ---- */
void ingest__msg(char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
