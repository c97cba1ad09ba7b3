/*
 * engine.c — the waveform-path engine: sample rings, zero-crossing trackers, basic-window
 * scheduling, Urms(1/2) to the PQ state machine, captures and their hand-off, event queue.
 *
 * Flow of ingest_engine_push(): frames are stored block by block (≤ INGEST__BLOCK frames) into
 * one int32 ring per channel; then each tracker (the PQ voltage channels and the reference)
 * steps through the block sample by sample, in time order across channels, so the polyphase
 * rules see Urms(1/2) values in the order they were completed. Every `cycles`-th positive
 * boundary of the reference closes a basic window, computed once the ring holds the
 * resampler's margin after its end. A running capture copies ring frames as they arrive.
 *
 * Invariants: ring_len is a power of two large enough for the longest window (at 0.8 × nominal
 * frequency) plus the resampler margin and two blocks, and for the pre-trigger span plus three
 * cycles and a block; so nothing still needed is overwritten. A pq_event is delivered only
 * after the capture it references (if any) has been delivered. No allocation after init.
 */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void ingest_config_defaults(struct ingest_config *cfg)
{
  memset(cfg, 0, sizeof *cfg);
  cfg->sample_rate_hz = 8000.0;
  cfg->nominal_hz = 50.0;
  cfg->ref_ch = -1;
  cfg->pq.declared_v = 230.0;
  cfg->pq.dip_pct = 90.0;
  cfg->pq.swell_pct = 110.0;
  cfg->pq.interruption_pct = 10.0;
  cfg->pq.hysteresis_pct = 2.0;
  cfg->capture_pre_cycles = 12;
  cfg->capture_post_ms = 500;
  cfg->signature_cycles = 64;
  cfg->flicker = true;
  cfg->lamp = -1;
  cfg->unbalance = true;
  cfg->rvc_pct = 5.0;
  cfg->rvc_hysteresis_pct = 2.5;
  cfg->freq_band_pct = 1.0;
}

void ingest_config_pair_by_phase(struct ingest_config *cfg)
{
  for (unsigned c = 0; c < cfg->nch && c < INGEST_CHANNELS_MAX; c++) {
    struct ingest_channel_cfg *ch = &cfg->ch[c];
    if (ch->kind != INGEST_KIND_CURRENT || ch->voltage_ch >= 0) continue;
    for (unsigned v = 0; v < cfg->nch; v++) {
      if (cfg->ch[v].kind == INGEST_KIND_VOLTAGE && ch->phase[0] &&
          strcasecmp(cfg->ch[v].phase, ch->phase) == 0) {
        ch->voltage_ch = (int16_t)v;
        break;
      }
    }
  }
}

int64_t ingest__t_ns(const struct ingest__engine *E, double t)
{
  return E->cfg.t0_ns + (int64_t)llround(t * 1e9 / E->cfg.sample_rate_hz);
}

static uint32_t pow2_at_least(double x)
{
  uint32_t r = 1;
  while ((double)r < x && r < (1u << 30)) r <<= 1;
  return r;
}

static int validate(const struct ingest_config *cfg)
{
  if (cfg->nch == 0 || cfg->nch > INGEST_CHANNELS_MAX) return INGEST_ECONFIG;
  if (!(cfg->sample_rate_hz >= 1000.0 && cfg->sample_rate_hz <= 200000.0)) return INGEST_ECONFIG;
  if (!(cfg->nominal_hz >= 10.0 && cfg->nominal_hz <= 1000.0)) return INGEST_ECONFIG;
  if (cfg->sample_rate_hz / cfg->nominal_hz < 16.0) return INGEST_ECONFIG;
  if (cfg->ref_ch >= (int)cfg->nch) return INGEST_ECONFIG;
  if (cfg->capture_post_ms > 0 && cfg->capture_pre_cycles < 10) return INGEST_ECONFIG;
  if (cfg->capture_pre_cycles > 600 || cfg->capture_post_ms > 60000) return INGEST_ECONFIG;
  if (cfg->signature_cycles > 100000) return INGEST_ECONFIG;
  if (cfg->lamp > INGEST_LAMP_120V || !(cfg->rvc_pct >= 0 && cfg->rvc_pct < 50) ||
      !(cfg->rvc_hysteresis_pct <= cfg->rvc_pct) || !(cfg->freq_band_pct >= 0 && cfg->freq_band_pct < 50))
    return INGEST_ECONFIG;
  if (!(cfg->pq.declared_v >= 0.0) || !(cfg->pq.hysteresis_pct >= 0.0)) return INGEST_ECONFIG;
  for (unsigned c = 0; c < cfg->nch; c++) {
    const struct ingest_channel_cfg *ch = &cfg->ch[c];
    if (ch->kind > INGEST_KIND_CURRENT || !isfinite(ch->scale) || ch->scale == 0.0 ||
        !isfinite(ch->offset))
      return INGEST_ECONFIG;
    if (ch->kind == INGEST_KIND_CURRENT && ch->voltage_ch >= (int)cfg->nch) return INGEST_ECONFIG;
  }
  return 0;
}

/* Phase A, B, C of the unbalance: labels A/B/C, L1/L2/L3, R/S/T or 1/2/3 (any case); else
 * the first three voltage channels in order. */
static void unbalance_channels(struct ingest__engine *E, const int *vch, unsigned nv)
{
  static const char *const names[4][3] = {{"A", "B", "C"}, {"L1", "L2", "L3"}, {"R", "S", "T"}, {"1", "2", "3"}};
  E->ub_ok = false;
  if (!E->cfg.unbalance || nv < 3) return;
  for (unsigned s = 0; s < 4 && !E->ub_ok; s++) {
    int found = 0;
    for (unsigned p = 0; p < 3; p++)
      for (unsigned i = 0; i < nv; i++)
        if (strcasecmp(E->cfg.ch[vch[i]].phase, names[s][p]) == 0) { E->ub_ch[p] = vch[i]; found++; break; }
    E->ub_ok = found == 3;
  }
  if (!E->ub_ok) {
    for (unsigned p = 0; p < 3; p++) E->ub_ch[p] = vch[p];
    E->ub_ok = true;
  }
}

static void next_tick(struct ingest__engine *E, uint64_t n)
{
  const int64_t P = 600000000000LL;
  int64_t t = ingest__t_ns(E, (double)n);
  int64_t k = t >= 0 ? t / P + 1 : -((-t) / P);
  E->tick_ns = k * P;
  double dn = (double)(E->tick_ns - E->cfg.t0_ns) * E->cfg.sample_rate_hz / 1e9;
  E->tick_n = (uint64_t)ceil(dn - 1e-9);
  if (E->tick_n <= n) E->tick_n = n + 1;
}

static int class_a_init(struct ingest__engine *E, const int *vch, unsigned nv)
{
  const struct ingest_config *cfg = &E->cfg;
  unbalance_channels(E, vch, nv);
  if (ingest__agg_init(&E->agg, cfg, vch, nv, &E->alloc_bytes)) return -ENOMEM;
  if (!cfg->flicker || nv == 0) return 0;
  E->fl = calloc(nv, sizeof *E->fl);
  if (!E->fl) return -ENOMEM;
  E->alloc_bytes += nv * sizeof *E->fl;
  int lamp = cfg->lamp >= 0 ? cfg->lamp : cfg->pq.declared_v > 0 && cfg->pq.declared_v < 170 ? INGEST_LAMP_120V : INGEST_LAMP_230V;
  for (unsigned i = 0; i < nv; i++)
    if (ingest_flicker_init(&E->fl[i], cfg->sample_rate_hz, cfg->nominal_hz, lamp)) return -ENOMEM;
  next_tick(E, 0);
  return 0;
}

/* A 10-minute tick passed before sample n: each flickermeter's Pst of the interval. */
static void flicker_tick(struct ingest__engine *E, uint64_t n)
{
  struct ingest__agg *a = &E->agg;
  a->pst_valid = true;
  a->pst_end_ns = E->tick_ns;
  for (unsigned i = 0; i < E->nv; i++) {
    a->pst[i] = ingest_flicker_pst(&E->fl[i]);
    if (isnan(a->pst[i])) a->pst_valid = false;
    ingest_flicker_reset_stats(&E->fl[i]);
  }
  next_tick(E, n);
}

int ingest_engine_init(struct ingest_engine *e, const struct ingest_config *cfg,
                       const struct ingest_sink *sink)
{
  e->p = NULL;
  int rc = validate(cfg);
  if (rc) return rc;
  struct ingest__engine *E = calloc(1, sizeof *E);
  if (!E) return -ENOMEM;
  E->cfg = *cfg;
  if (sink) E->sink = *sink;
  E->nch = cfg->nch;
  E->alloc_bytes = sizeof *E;
  const double fs = cfg->sample_rate_hz, f0 = cfg->nominal_hz;
  const double cyc = fs / f0;
  E->cycles = f0 < 55.0 ? 10 : 12;
  E->max_window_samples = E->cycles * fs / (0.8 * f0);
  E->pre_frames = (uint32_t)ceil(cfg->capture_pre_cycles * cyc);
  uint32_t post = (uint32_t)ceil(cfg->capture_post_ms * fs / 1000.0);
  E->cap_enabled = cfg->capture_post_ms > 0;
  E->cap_frames = E->cap_enabled ? E->pre_frames + post : 0;
  double need = E->max_window_samples + 2 * INGEST__RS_HALF + 4 + 2 * INGEST__BLOCK;
  double need2 = E->pre_frames + 3.0 * cyc / 0.8 + INGEST__BLOCK;
  E->ring_len = pow2_at_least(need > need2 ? need : need2);
  E->ring_mask = E->ring_len - 1;

  size_t ring_bytes = sizeof(int32_t) * (size_t)E->nch * E->ring_len;
  size_t cap_bytes = sizeof(int32_t) * (size_t)E->nch * E->cap_frames;
  E->ring = calloc(1, ring_bytes);
  E->cap_buf = E->cap_frames ? malloc(cap_bytes) : NULL;
  unsigned scyc = cfg->signature_cycles ? cfg->signature_cycles : 1;
  E->sig = calloc(E->nch, sizeof *E->sig);
  E->sig_store = calloc((size_t)E->nch * scyc, sizeof *E->sig_store);
  size_t seg_cap = (size_t)ceil(E->max_window_samples) + 2 * INGEST__RS_HALF + 8;
  rc = ingest__dsp_init(&E->dsp, E->nch, seg_cap);
  if (!E->ring || (E->cap_frames && !E->cap_buf) || !E->sig || !E->sig_store || rc) {
    struct ingest_engine tmp = {E};
    ingest_engine_deinit(&tmp);
    return -ENOMEM;
  }
  E->alloc_bytes += ring_bytes + cap_bytes + (size_t)E->nch * sizeof *E->sig +
                    (size_t)E->nch * scyc * sizeof *E->sig_store +
                    sizeof(float) * (size_t)(INGEST__RS_PHASES + 1) * 2 * INGEST__RS_HALF +
                    sizeof(float) * seg_cap + sizeof(float) * (size_t)E->nch * INGEST_FFT_N +
                    sizeof(kiss_fft_cpx) * (size_t)E->nch * (INGEST_FFT_N / 2 + 1);
  for (unsigned c = 0; c < E->nch; c++)
    ingest_sigring_init(&E->sig[c], E->sig_store + (size_t)c * scyc, scyc);

  /* trackers: PQ voltage channels first, then the reference if it is not one of them */
  int vch[INGEST_VPHASES_MAX];
  unsigned nv = 0;
  const double half = cyc / 2.0;
  const double hv = 0.1 * sqrt(2.0) * (cfg->pq.declared_v > 0 ? cfg->pq.declared_v : 0.0);
  for (unsigned c = 0; c < E->nch && nv < INGEST_VPHASES_MAX; c++) {
    if (cfg->ch[c].kind != INGEST_KIND_VOLTAGE) continue;
    vch[nv] = (int)c;
    ingest__zc_init(&E->tr[nv], (int)c, cfg->ch[c].scale, cfg->ch[c].offset, hv, hv <= 0.0,
                    half);
    nv++;
  }
  E->nv = nv;
  E->ntr = nv;
  int ref = cfg->ref_ch >= 0 ? cfg->ref_ch : (nv ? vch[0] : 0);
  E->ref_tr = -1;
  for (unsigned i = 0; i < nv; i++)
    if (vch[i] == ref) E->ref_tr = (int)i;
  if (E->ref_tr < 0) {
    E->ref_tr = (int)E->ntr;
    ingest__zc_init(&E->tr[E->ntr], ref, cfg->ch[ref].scale, cfg->ch[ref].offset, 0.0, true,
                    half);
    E->ntr++;
  }
  ingest__pq_init(&E->pq, cfg, vch, nv);
  ingest__rvc_init(&E->rvc, cfg, vch, nv, E->cycles);
  if (class_a_init(E, vch, nv)) {
    struct ingest_engine tmp = {E};
    ingest_engine_deinit(&tmp);
    return -ENOMEM;
  }
  e->p = E;
  return 0;
}

void ingest_engine_deinit(struct ingest_engine *e)
{
  if (!e || !e->p) return;
  struct ingest__engine *E = e->p;
  free(E->ring);
  free(E->cap_buf);
  free(E->sig);
  free(E->sig_store);
  ingest__dsp_deinit(&E->dsp);
  free(E->fl);
  ingest__agg_deinit(&E->agg);
  free(E);
  e->p = NULL;
}

void ingest_engine_set_class_a(struct ingest_engine *e, const struct ingest_sink_class_a *s)
{
  if (e->p && s) e->p->sink_a = *s;
}

uint64_t ingest_engine_samples(const struct ingest_engine *e) { return e->p ? e->p->n : 0; }

size_t ingest_engine_capture_bytes(const struct ingest_engine *e)
{
  const struct ingest__engine *E = e->p;
  if (!E) return 0;
  return sizeof(int32_t) * (size_t)E->nch * ((size_t)E->ring_len + E->cap_frames);
}

size_t ingest_engine_memory_bytes(const struct ingest_engine *e)
{
  return e->p ? e->p->alloc_bytes : 0;
}

/* ---- captures ---- */

static void capture_copy(struct ingest__engine *E, uint64_t upto)
{
  if (!E->cap_active) return;
  if (upto > E->cap_end) upto = E->cap_end;
  for (unsigned c = 0; c < E->nch; c++) {
    const int32_t *rc = E->ring + (size_t)c * E->ring_len;
    int32_t *dst = E->cap_buf + (size_t)c * E->cap_frames;
    for (uint64_t s = E->cap_filled; s < upto; s++)
      dst[s - E->cap_start] = rc[s & E->ring_mask];
  }
  if (upto > E->cap_filled) E->cap_filled = upto;
}

static void emit_events(struct ingest__engine *E, bool force);

static void capture_deliver(struct ingest__engine *E)
{
  uint32_t nf = (uint32_t)(E->cap_filled - E->cap_start);
  /* channel-major with stride cap_frames: compact to stride nf when cut short */
  if (nf < E->cap_frames)
    for (unsigned c = 1; c < E->nch; c++)
      memmove(E->cap_buf + (size_t)c * nf, E->cap_buf + (size_t)c * E->cap_frames,
              sizeof(int32_t) * nf);
  struct ingest_capture_view v;
  memset(&v, 0, sizeof v);
  v.id = E->cap_id;
  v.sample_rate_hz = E->cfg.sample_rate_hz;
  v.nominal_hz = E->cfg.nominal_hz;
  v.t0_ns = ingest__t_ns(E, (double)E->cap_start);
  v.nframes = nf;
  v.trigger_frame = (uint32_t)(E->cap_trigger - E->cap_start);
  v.reason = E->cap_reason;
  v.nch = E->nch;
  v.ch = E->cfg.ch;
  v.codes = E->cap_buf;
  E->cap_active = false;
  if (E->sink.capture) E->sink.capture(E->sink.ctx, &v);
  emit_events(E, false);
}

uint64_t ingest__capture_start(struct ingest__engine *E, double t, uint32_t reason)
{
  if (!E->cap_enabled) return 0;
  uint64_t trig = t <= 0.0 ? 0 : (uint64_t)floor(t);
  if (E->cap_active) {
    if (trig >= E->cap_start && trig < E->cap_end && reason == 0 && E->cap_reason == 0)
      return E->cap_id;
    return 0;
  }
  /* oldest frame still in the ring */
  uint64_t oldest = E->n > E->ring_len ? E->n - E->ring_len + INGEST__BLOCK : 0;
  if (trig > E->n) trig = E->n;
  uint64_t start = trig > E->pre_frames ? trig - E->pre_frames : 0;
  if (start < oldest) start = oldest;
  E->cap_active = true;
  E->cap_start = start;
  E->cap_trigger = trig;
  E->cap_end = start + E->cap_frames;
  E->cap_filled = start;
  E->cap_id = ++E->next_cap_id;
  E->cap_reason = reason;
  capture_copy(E, E->n);
  return E->cap_id;
}

int64_t ingest_engine_trigger(struct ingest_engine *e, uint32_t reason)
{
  struct ingest__engine *E = e->p;
  if (!E || reason == 0) return -EINVAL;
  if (!E->cap_enabled) return -ENOTSUP;
  if (E->cap_active || E->finished) return -EBUSY;
  return (int64_t)ingest__capture_start(E, (double)E->n, reason);
}

/* ---- events ---- */

static void emit_events(struct ingest__engine *E, bool force)
{
  unsigned k = 0;
  while (k < E->nev) {
    struct ingest_pq_event *ev = &E->evq[k];
    bool waiting = ev->capture_id != 0 && E->cap_active && ev->capture_id == E->cap_id;
    if (waiting && !force) break; /* keep order: later events wait too */
    if (E->sink.pq_event) E->sink.pq_event(E->sink.ctx, ev);
    k++;
  }
  if (k) {
    memmove(E->evq, E->evq + k, sizeof E->evq[0] * (E->nev - k));
    E->nev -= k;
  }
}

void ingest__event_done(struct ingest__engine *E, const struct ingest_pq_event *ev)
{
  if (E->nev == INGEST__PENDING_MAX) emit_events(E, true); /* bounded: never drop */
  E->evq[E->nev++] = *ev;
  emit_events(E, false);
}

/* ---- windows ---- */

static uint32_t event_flag(const struct ingest__engine *E, double ta, double tb)
{
  if (E->ev_active && E->ev_active_start < tb) return INGEST_WF_EVENT;
  if (E->ev_last_end > ta && E->ev_last_start < tb) return INGEST_WF_EVENT;
  return 0;
}

static void process_pending(struct ingest__engine *E)
{
  unsigned k = 0;
  while (k < E->npend) {
    struct ingest__pending_window *pw = &E->pend[k];
    if ((double)E->n <= ceil(pw->tb) + INGEST__RS_HALF + 1) break;
    ingest__window_compute(E, pw->ta, pw->tb, pw->flags | event_flag(E, pw->ta, pw->tb));
    k++;
  }
  if (k) {
    memmove(E->pend, E->pend + k, sizeof E->pend[0] * (E->npend - k));
    E->npend -= k;
  }
}

static void ref_boundary(struct ingest__engine *E, const struct ingest__zc_out *o)
{
  if (!o->real) E->win_flags |= INGEST_WF_UNSYNC;
  if (o->pol <= 0) return;
  if (E->have_pos_b) ingest__signature_cycle(E, E->last_pos_b, o->t);
  E->last_pos_b = o->t;
  E->have_pos_b = true;
  if (!E->have_start) {
    E->have_start = true;
    E->win_start = o->t;
    E->pos_count = 0;
    E->win_flags = o->real ? 0 : INGEST_WF_UNSYNC;
    return;
  }
  if (++E->pos_count < E->cycles) return;
  double ta = E->win_start, tb = o->t;
  if (tb - ta <= E->max_window_samples && E->npend < INGEST__PENDING_MAX) {
    E->pend[E->npend].ta = ta;
    E->pend[E->npend].tb = tb;
    E->pend[E->npend].flags = E->win_flags;
    E->npend++;
  }
  E->win_start = tb;
  E->pos_count = 0;
  E->win_flags = o->real ? 0 : INGEST_WF_UNSYNC;
}

int ingest_engine_push(struct ingest_engine *e, const int32_t *codes, size_t nframes)
{
  struct ingest__engine *E = e->p;
  if (!E || E->finished) return -EINVAL;
  const unsigned nch = E->nch;
  size_t done = 0;
  while (done < nframes) {
    size_t nb = nframes - done;
    if (nb > INGEST__BLOCK) nb = INGEST__BLOCK;
    const int32_t *in = codes + done * nch;
    const uint64_t base = E->n;
    for (unsigned c = 0; c < nch; c++) {
      int32_t *rc = E->ring + (size_t)c * E->ring_len;
      for (size_t f = 0; f < nb; f++) rc[(base + f) & E->ring_mask] = in[f * nch + c];
    }
    E->n = base + nb;
    for (size_t f = 0; f < nb; f++) {
      const uint64_t n = base + f;
      if (E->fl) {
        if (n == E->tick_n) flicker_tick(E, n);
        for (unsigned k = 0; k < E->nv; k++) {
          const struct ingest__zc *z = &E->tr[k];
          ingest_flicker_step(&E->fl[k], (double)in[f * nch + (unsigned)z->ch] * z->scale + z->offset);
        }
      }
      for (unsigned k = 0; k < E->ntr; k++) {
        struct ingest__zc *z = &E->tr[k];
        struct ingest__zc_out o;
        ingest__zc_step(z, (double)in[f * nch + (unsigned)z->ch], n, &o);
        if (!o.n) continue;
        if (k < E->nv && o.urms_valid) {
          ingest__pq_update(E, k, o.urms, o.urms_start, o.t);
          ingest__rvc_update(E, k, o.urms, o.urms_start, o.t);
        }
        if ((int)k == E->ref_tr) ref_boundary(E, &o);
      }
    }
    capture_copy(E, E->n);
    if (E->cap_active && E->cap_filled >= E->cap_end) capture_deliver(E);
    process_pending(E);
    done += nb;
  }
  return 0;
}

int ingest_engine_finish(struct ingest_engine *e)
{
  struct ingest__engine *E = e->p;
  if (!E) return -EINVAL;
  if (E->finished) return 0;
  process_pending(E);
  ingest__pq_finish(E, (double)E->n - 0.5);
  ingest__rvc_finish(E, (double)E->n - 0.5);
  if (E->fl && E->n == E->tick_n) flicker_tick(E, E->n);
  ingest__agg_finish(E);
  if (E->cap_active) {
    capture_copy(E, E->n);
    capture_deliver(E);
  }
  emit_events(E, true);
  E->finished = true;
  return 0;
}
