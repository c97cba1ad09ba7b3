/*
 * run.c — `hems run`: the panel controller daemon on one libuv loop.
 *
 * Per tick (16 ms of panel time, one half of the ADE9000 waveform buffer):
 *   1. read hardware: advance the simulated panel (or, on hardware, wake on the AFE's IRQ
 *      line), drain the mains AFE's waveform buffer into the ingest engine, drain GPIO edges;
 *   2. build records: every window period the branch AFEs' DSP registers (register path) and the
 *      mains engine's aggregated windows become `window` records; finished power-quality events
 *      become `pq_event` records with their capture blob; scenario stimuli become `note` /
 *      `request` records;
 *   3. append them (the journal seals groups; the state hash of each seal comes from the fold);
 *   4. fold them and execute effects (the proof loop lives in actuators/).
 * Time: under simulation every record time, the boot id and all randomness come from the
 * virtual clock and the seed. --speed max runs ticks back to back (virtual time stops while an
 * append awaits durability); --speed X paces ticks against the real clock.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include <jansson.h>
#include <sodium.h>
#include <uv.h>
#include "cli.h"
#include "daemon.h"
#include "daemon_notify.h"
#include "actuators.h"
#include "hw.h"
#include "ingest.h"
#include "replay.h"

#define TICK_NS (HW_SIM_WFB_HALF_NS)          /* 16 ms */
#define FLUSH_IDLE_NS 1000000000ull           /* the flush timer: 1 s with no new record */

struct run_opts {
  struct cli_common c;
  const char *sim;       /* scenario name or path */
  const char *hw;        /* panel config for real hardware */
  const char *socket;
  int64_t for_ns;        /* 0 = until stopped */
  double speed;          /* 0 = max */
  uint64_t seed;
  uint32_t window_ms;
};

struct capture_slot { uint64_t id; uint8_t hash[32]; };

/* One AFE's one-cycle rms readings: this tick's (fresh) and the extremes of the n since its
 * last window, V | A per channel A, B, C. */
struct rms_one_track { bool fresh; unsigned n; double i[3], v[3], imin[3], imax[3], vmin[3], vmax[3]; };

/* A trip tap waiting for its waveform capture (≤ the capture's post-trigger time). */
struct pending_tap { bool used; uint64_t capture_id; uint64_t deadline_ns; struct actuator_tap_record rec; };
#define PENDING_TAPS 8

/* A decided command waiting for its record to be durable (write-ahead) and its actuator free. */
struct pending_cmd { uint64_t seq; uint16_t target; bool on; char request_id[65]; };
#define PENDING_MAX 128

/* A socket client waiting for the outcome of its switch request. */
struct waiter { struct daemon_client *c; unsigned gen; uint64_t request_seq, command_seq; bool used; };
#define WAITERS_MAX 32

struct daemon {
  struct run_opts o;
  uint64_t io_write_bytes0; /* the process's write_bytes at start: reaped children of whoever exec'd us are in it */
  struct hw_scenario *sc;
  struct hw_sim *sim;
  const struct hw_panel *panel;
  struct journal *j;
  struct journal_open_info info;
  uint8_t boot_id[16];
  int64_t wall_base_ns;      /* wall time of virtual t = 0 */
  uint64_t sim_wall0;        /* hw_sim_wall_ns at t = 0 (so injected clock steps show) */
  /* real hardware (--hw): spidev per AFE, one gpiochip, real clocks */
  bool hw;
  struct hw_panel hwpanel;
  struct hw_spidev spidev[HW_MAX_AFES];
  struct hw_gpiochip gpiochip;
  uint64_t hw_t0_boottime;
  const char *name;          /* scenario or panel name */
  char device_id[33];        /* meta device_id (checkpoint origins, fleet topics); "" if unread */

  /* AFEs */
  struct hw_ade9000 afe[HW_MAX_AFES];
  bool afe_ok[HW_MAX_AFES];
  int64_t energy_prev_nj[HW_MAX_AFES][3];
  struct ingest_energy energy[HW_MAX_BRANCHES + 1];
  struct ingest_polarity polarity[HW_MAX_BRANCHES + 1];
  /* register-path power quality (panels without a streaming mains AFE): the reference AFE's
   * latched dip/swell registers, window by window */
  int pq_afe;
  struct { bool active; int kind; unsigned phases; int64_t start_ns; double extreme_v; double min_v[3], max_v[3]; } rpq;
  int mains;                 /* AFE index streaming the waveform path, or -1 */
  struct ingest_config icfg;
  struct ingest_engine eng;
  bool eng_ok;
  struct ingest_aggregator agg;
  struct hw_ade9000_wfb_half half;
  int32_t frames[HW_ADE9000_WFB_SETS_PER_HALF * 6];
  struct capture_slot caps[8];
  unsigned ncaps;
  uint64_t next_window_ns;

  /* what the status shows (derived from the records this run made) */
  int64_t phase_p_mw[4];
  int64_t branch_p_mw[HW_MAX_BRANCHES + 1];
  bool branch_tapped[HW_MAX_BRANCHES + 1]; /* a trip tap since the branch's last window (its `event`) */
  uint64_t windows, pq_events, notes, requests, faults, stimuli;
  uint64_t last_append_mono;
  uint64_t afe_crc_faults_seen[HW_MAX_AFES];
  /* register path: each branch AFE's one-cycle rms (xIRMSONE/xVRMSONE) read once per tick —
   * the last reading (for sense-backs) and its min/max since the window started (hrms_*_m) */
  struct rms_one_track rms1[HW_MAX_AFES];

  /* the fold and the proof loop */
  struct replay_harness h;
  struct actuator_set act;
  bool act_ok;
  struct actuator_taps taps;
  bool taps_ok;
  struct pending_tap ptaps[PENDING_TAPS];
  struct pending_cmd pending[PENDING_MAX];
  unsigned npending;
  struct waiter waiters[WAITERS_MAX];
  uint64_t gpio_overflow_seen;
  uint64_t commands, refusals, sense_backs, taps_seen, der_seen, actuations;

  /* loop */
  uv_loop_t loop;
  uv_signal_t sig_int, sig_term, sig_hup;
  uv_timer_t tick_timer, status_timer;
  uv_idle_t idle;
  struct daemon_socket sock;
  bool stopping;
  int exit_code;
  bool tty;
  double t_start_real;
  int append_err;
  json_t *roles;
  struct daemon_limit limit; /* per-peer rate limit of the control socket */
  double last_watchdog_s;
  uint8_t cfg_hash[32];
  uint32_t cfg_version;
  bool watchdog;             /* live only: off under --sim (DESIGN.md) */
  bool reload;               /* SIGHUP seen; handled between ticks */
  int64_t retention_keep_ns; /* DIR/config.json "retention": {"keep": "30d"}; 0 = off */
  uint64_t next_retention_ns;
  struct daemon_notify notify; /* systemd's notify socket (daemon_notify.c) */
};

static double real_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t boottime_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Panel time since start: virtual under simulation, CLOCK_BOOTTIME on hardware. */
static uint64_t now_ns(const struct daemon *d)
{
  return d->hw ? boottime_ns() - d->hw_t0_boottime : hw_sim_now_ns(d->sim);
}

/* Wall time of "now" on the records' clock. */
static int64_t wall_now_ns(const struct daemon *d)
{
  if (d->hw) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
  }
  return d->wall_base_ns + (int64_t)(hw_sim_wall_ns(d->sim) - d->sim_wall0);
}

/* ------------------------------------------------------------------ clock and appends */

static void sim_clock(void *ctx, uint64_t *mono, int64_t *wall, uint8_t *tq)
{
  struct daemon *d = ctx;
  *mono = hw_sim_now_ns(d->sim);
  *wall = wall_now_ns(d);
  *tq = JOURNAL_TQ_SYNCED;
}

static void wake_waiters(struct daemon *d, uint64_t request_seq, uint64_t command_seq, const char *json_line);

/* Every record goes through the replay harness: appended, folded (so each seal carries the
 * live state hash), and each decision it asks for is appended too (command / refusal). A
 * command is queued here and actuated only once its record is durable. */
static int append_fx(struct daemon *d, struct journal_record *r, uint64_t *out_seq, struct replay_effects *out_fx,
                     uint64_t fx_seqs[REPLAY_EFFECTS_MAX])
{
  if (d->append_err) return d->append_err;
  struct replay_effects fx;
  uint64_t seqs[REPLAY_EFFECTS_MAX] = { 0 }, seq = 0;
  int rc = replay_harness_append(&d->h, r, &seq, &fx, seqs);
  if (rc) {
    d->append_err = rc;
    cli_err("run: append failed: %s; stopping", journal_strerror(rc));
    d->stopping = true;
    d->exit_code = CLI_ENV;
    return rc;
  }
  d->last_append_mono = now_ns(d);
  for (uint32_t i = 0; i < fx.n; i++) {
    const struct replay_effect *e = &fx.e[i];
    if (e->kind == REPLAY_EFFECT_COMMAND) {
      d->commands++;
      if (d->npending < PENDING_MAX) {
        struct pending_cmd *p = &d->pending[d->npending++];
        p->seq = seqs[i];
        p->target = e->target;
        p->on = e->desired == JOURNAL_DESIRED_ON;
        size_t n = e->request_id_len < 64 ? e->request_id_len : 64;
        memcpy(p->request_id, e->request_id, n);
        p->request_id[n] = 0;
      } else {
        char detail[96];
        snprintf(detail, sizeof detail, "command seq %llu not executed: pending queue full", (unsigned long long)seqs[i]);
        struct journal_record f;
        memset(&f, 0, sizeof f);
        f.type = JOURNAL_T_FAULT;
        f.body.fault.code = (struct journal_slice){ (const uint8_t *)"command_overflow", 16 };
        f.body.fault.detail = (struct journal_slice){ (const uint8_t *)detail, (uint32_t)strlen(detail) };
        replay_harness_append(&d->h, &f, NULL, NULL, NULL);
      }
    } else if (e->kind == REPLAY_EFFECT_REFUSAL) {
      d->refusals++;
      char line[256];
      snprintf(line, sizeof line, "{\"ok\":true,\"outcome\":\"refusal\",\"reason\":\"%s\",\"request_seq\":%llu,\"refusal_seq\":%llu}",
               replay_refusal_reason_name(e->reason), (unsigned long long)seq, (unsigned long long)seqs[i]);
      wake_waiters(d, seq, 0, line);
    } else if (e->kind == REPLAY_EFFECT_DEFERRED ||
               (e->kind == REPLAY_EFFECT_REPLY && e->stored_kind == REPLAY_EFFECT_DEFERRED)) {
      /* Accepted without a command now (policy: DR scheduled, reconnect armed, overridden,
       * supply low): a later record's command cites the request. */
      char line[256];
      snprintf(line, sizeof line, "{\"ok\":true,\"outcome\":\"accepted\",\"held\":\"%s\",\"request_seq\":%llu%s}",
               replay_defer_reason_name(e->reason), (unsigned long long)seq,
               e->kind == REPLAY_EFFECT_REPLY ? ",\"repeat\":true" : "");
      wake_waiters(d, seq, 0, line);
    } else if (e->kind == REPLAY_EFFECT_REPLY) {
      /* A repeated request id: the stored outcome, nothing new happens. */
      char line[320];
      if (e->stored_kind == REPLAY_EFFECT_REFUSAL)
        snprintf(line, sizeof line, "{\"ok\":true,\"outcome\":\"refusal\",\"reason\":\"%s\",\"repeat\":true,\"request_seq\":%llu,\"original_request_seq\":%llu}",
                 replay_refusal_reason_name(e->reason), (unsigned long long)seq, (unsigned long long)e->stored_seq);
      else
        snprintf(line, sizeof line, "{\"ok\":true,\"outcome\":\"command\",\"repeat\":true,\"verdict\":\"%s\",\"request_seq\":%llu,\"original_request_seq\":%llu,\"command_seq\":%llu}",
                 e->target && e->target <= REPLAY_BRANCHES_MAX && d->h.state.br[e->target - 1].proven ? "confirmed"
                   : replay_verdict_name(e->target && e->target <= REPLAY_BRANCHES_MAX ? d->h.state.br[e->target - 1].fault : 0),
                 (unsigned long long)seq, (unsigned long long)e->stored_seq, (unsigned long long)e->stored_outcome_seq);
      wake_waiters(d, seq, 0, line);
    }
  }
  if (out_seq) *out_seq = seq;
  if (out_fx) *out_fx = fx;
  if (fx_seqs) memcpy(fx_seqs, seqs, sizeof seqs);
  return 0;
}

static int append(struct daemon *d, struct journal_record *r)
{
  return append_fx(d, r, NULL, NULL, NULL);
}

static void append_fault(struct daemon *d, const char *code, int64_t value, uint16_t branch, const char *detail)
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_FAULT;
  r.source.kind = JOURNAL_SRC_PANEL;
  r.body.fault.code = (struct journal_slice){ (const uint8_t *)code, (uint32_t)strlen(code) };
  r.body.fault.detail = (struct journal_slice){ (const uint8_t *)detail, (uint32_t)strlen(detail) };
  r.body.fault.value = value;
  r.body.fault.branch = branch;
  if (append(d, &r) == 0) d->faults++;
}

static uint8_t journal_phase_of(enum hw_phase p)
{
  switch (p) {
  case HW_PHASE_L2: return JOURNAL_PHASE_B;
  case HW_PHASE_L3: return JOURNAL_PHASE_C;
  default: return JOURNAL_PHASE_A;
  }
}

/* ------------------------------------------------------------------ register path */

static void emit_register_pq(struct daemon *d, int64_t end_ns)
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_PQ_EVENT;
  r.source.kind = JOURNAL_SRC_AFE;
  r.source.index = (uint16_t)(d->pq_afe + 1);
  struct journal_pq_event *pq = &r.body.pq_event;
  pq->afe = (uint16_t)(d->pq_afe + 1);
  pq->kind = d->rpq.kind == INGEST_PQ_SWELL ? JOURNAL_PQ_SWELL : JOURNAL_PQ_DIP;
  pq->flags = 8; /* register path: latched AFE dip/swell registers, window resolution, no capture */
  int n = 0;
  static const char names[3] = { 'A', 'B', 'C' };
  for (int k = 0; k < 3; k++) {
    if (!(d->rpq.phases & (1u << k))) continue;
    pq->phases[n++] = names[k];
    struct journal_pq_phase *ph = &pq->ph[pq->nph++];
    ph->ch = (uint8_t)(4 + k);
    ph->phase = (uint8_t)k;
    ph->min_mv = (int32_t)llround(d->rpq.min_v[k] * 1000.0);
    ph->max_mv = (int32_t)llround(d->rpq.max_v[k] * 1000.0);
  }
  pq->phases[n] = 0;
  pq->start_ns = d->rpq.start_ns;
  double dur_s = (double)(end_ns - d->rpq.start_ns) / 1e9;
  pq->duration_us = (uint64_t)llround(dur_s * 1e6);
  pq->declared_mv = (int32_t)llround(d->panel->nominal_v * 1000.0);
  pq->extreme_mv = (int32_t)llround(d->rpq.extreme_v * 1000.0);
  pq->extreme_mpct = (int32_t)llround(d->rpq.extreme_v / d->panel->nominal_v * 100000.0);
  int cat = ingest_ieee1159_classify(d->rpq.kind, dur_s, d->rpq.extreme_v / d->panel->nominal_v, d->panel->freq_hz);
  const char *cls = ingest_ieee1159_class(cat);
  pq->category = !strcmp(cls, "momentary") ? JOURNAL_IEEE1159_MOMENTARY : !strcmp(cls, "temporary") ? JOURNAL_IEEE1159_TEMPORARY
               : !strcmp(cls, "sustained") ? JOURNAL_IEEE1159_SUSTAINED : JOURNAL_IEEE1159_INSTANTANEOUS;
  if (append(d, &r) == 0) d->pq_events++;
}

/* One event per polyphase disturbance from the AFE's own dip/swell detection (DIP_LVL /
 * SWELL_LVL on the one-cycle RMS): it starts at the first window whose read shows a latched
 * flag on any phase and ends at the first window with none. */
static void register_pq(struct daemon *d, const struct hw_ade9000_metrics *m, int64_t window_end_ns)
{
  unsigned dips = 0, swells = 0;
  for (int k = 0; k < 3; k++) {
    if (m->ph[k].dip) dips |= 1u << k;
    if (m->ph[k].swell) swells |= 1u << k;
  }
  unsigned any = dips | swells;
  if (!d->rpq.active) {
    if (!any) return;
    d->rpq.active = true;
    d->rpq.kind = dips ? INGEST_PQ_DIP : INGEST_PQ_SWELL;
    d->rpq.phases = 0;
    d->rpq.start_ns = window_end_ns - (int64_t)d->o.window_ms * 1000000;
    d->rpq.extreme_v = d->rpq.kind == INGEST_PQ_DIP ? 1e9 : 0;
    for (int k = 0; k < 3; k++) { d->rpq.min_v[k] = 1e9; d->rpq.max_v[k] = 0; }
  }
  if (any) {
    for (int k = 0; k < 3; k++) {
      if (d->rpq.kind == INGEST_PQ_DIP && (dips & (1u << k))) {
        d->rpq.phases |= 1u << k;
        if (m->ph[k].dip_v < d->rpq.min_v[k]) d->rpq.min_v[k] = m->ph[k].dip_v;
        if (m->ph[k].dip_v < d->rpq.extreme_v) d->rpq.extreme_v = m->ph[k].dip_v;
        if (m->ph[k].vrms_v > d->rpq.max_v[k]) d->rpq.max_v[k] = m->ph[k].vrms_v;
      } else if (d->rpq.kind == INGEST_PQ_SWELL && (swells & (1u << k))) {
        d->rpq.phases |= 1u << k;
        if (m->ph[k].swell_v > d->rpq.max_v[k]) d->rpq.max_v[k] = m->ph[k].swell_v;
        if (m->ph[k].swell_v > d->rpq.extreme_v) d->rpq.extreme_v = m->ph[k].swell_v;
        if (m->ph[k].vrms_v < d->rpq.min_v[k]) d->rpq.min_v[k] = m->ph[k].vrms_v;
      }
    }
    return;
  }
  emit_register_pq(d, window_end_ns - (int64_t)d->o.window_ms * 1000000);
  d->rpq.active = false;
}

/* One `window` record per branch AFE from its DSP registers: rms, powers, PF, frequency, and
 * energy from the AFE's own accumulators (integer µWh with the remainder carried). */
static void register_window(struct daemon *d, unsigned a)
{
  const struct hw_panel *p = d->panel;
  struct hw_ade9000_metrics m;
  struct { uint16_t branch; int verdict; int64_t p_mw; double angle, pf; unsigned channel; } pending_pol[3];
  unsigned npol = 0;
  int rc = hw_ade9000_read_metrics(&d->afe[a], &m);
  if (d->afe[a].count.crc_faults != d->afe_crc_faults_seen[a]) {
    char detail[96];
    snprintf(detail, sizeof detail, "afe %u: SPI CRC errors persisted after retries", a);
    append_fault(d, "spi_crc", (int64_t)(d->afe[a].count.crc_faults - d->afe_crc_faults_seen[a]), 0, detail);
    d->afe_crc_faults_seen[a] = d->afe[a].count.crc_faults;
  }
  if (rc) return;
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_WINDOW;
  r.source.kind = JOURNAL_SRC_AFE;
  r.source.index = (uint16_t)(a + 1);
  struct journal_window *w = &r.body.window;
  w->afe = (uint16_t)(a + 1);
  w->start_ns = wall_now_ns(d) - (int64_t)d->o.window_ms * 1000000;
  w->duration_us = d->o.window_ms * 1000;
  w->freq_mhz = (uint32_t)llround(m.ph[0].freq_hz * 1000.0);
  w->basic_windows = (uint16_t)(d->o.window_ms / 200 ? d->o.window_ms / 200 : 1);
  w->flags = 4; /* register path */
  for (unsigned k = 0; k < 3; k++) {
    struct journal_window_channel *c = &w->ch[w->nch++];
    c->ch = (uint8_t)(4 + k);
    c->kind = JOURNAL_CH_VOLTAGE;
    c->phase = journal_phase_of(p->afe[a].v_phase[k]);
    c->rms_m = (int32_t)llround(m.ph[k].vrms_v * 1000.0);
    c->event = m.ph[k].dip || m.ph[k].swell; /* the AFE's own dip/swell detector, latched */
    if (d->rms1[a].n) {
      c->hrms_min_m = (int32_t)llround(d->rms1[a].vmin[k] * 1000.0);
      c->hrms_max_m = (int32_t)llround(d->rms1[a].vmax[k] * 1000.0);
    }
  }
  for (unsigned b = 0; b < p->num_branches; b++) {
    const struct hw_panel_branch *br = &p->branch[b];
    if (br->afe != a || br->channel > 2) continue;
    unsigned k = br->channel;
    const struct hw_ade9000_phase *ph = &m.ph[k];
    double sign = br->polarity < 0 ? -1.0 : 1.0;
    struct journal_window_channel *c = &w->ch[w->nch++];
    c->ch = (uint8_t)k;
    c->kind = JOURNAL_CH_CURRENT;
    c->phase = journal_phase_of(br->phase);
    c->branch = (uint16_t)br->number;
    c->rms_m = (int32_t)llround(ph->irms_a * 1000.0);
    if (d->rms1[a].n) {
      c->hrms_min_m = (int32_t)llround(d->rms1[a].imin[k] * 1000.0);
      c->hrms_max_m = (int32_t)llround(d->rms1[a].imax[k] * 1000.0);
    }
    c->event = d->branch_tapped[br->number];
    d->branch_tapped[br->number] = false;
    struct journal_window_power *pw = &w->pow[w->npow++];
    pw->ich = (uint8_t)k;
    pw->vch = (uint8_t)(4 + k);
    pw->phase = c->phase;
    pw->branch = (uint16_t)br->number;
    pw->p_mw = llround(sign * ph->p_w * 1000.0);
    pw->q_mvar = llround(sign * ph->q_var * 1000.0);
    pw->s_mva = llround(ph->s_va * 1000.0);
    pw->pf_mpct = (int32_t)llround(sign * ph->pf * 100000.0);
    int64_t cum_nj = llround(sign * ph->energy_j * 1e9);
    int64_t delta = cum_nj - d->energy_prev_nj[a][k];
    d->energy_prev_nj[a][k] = cum_nj;
    int64_t imp = 0, exp = 0;
    ingest_energy_add(&d->energy[br->number], delta, &imp, &exp);
    pw->import_uwh = imp;
    pw->export_uwh = exp;
    w->branches[w->nbranches++] = (uint16_t)br->number;
    d->branch_p_mw[br->number] = pw->p_mw;
    int pol = ingest_polarity_update(&d->polarity[br->number], br->load_only, sign * ph->p_w, sign * ph->q_var, ph->s_va, 5);
    if (pol != INGEST_POL_NONE) {
      pending_pol[npol].branch = (uint16_t)br->number;
      pending_pol[npol].verdict = pol;
      pending_pol[npol].p_mw = pw->p_mw;
      pending_pol[npol].angle = d->polarity[br->number].last_angle_deg;
      pending_pol[npol].pf = d->polarity[br->number].last_pf;
      pending_pol[npol].channel = k;
      npol++;
    }
    d->phase_p_mw[pw->phase] += pw->p_mw;
  }
  d->rms1[a].n = 0; /* the next window's half-cycle extremes start now */
  if (append(d, &r) == 0) d->windows++;
  if ((int)a == d->pq_afe) register_pq(d, &m, w->start_ns + (int64_t)w->duration_us * 1000);
  /* Installation faults after the window that completed their evidence. */
  for (unsigned i = 0; i < npol; i++) {
    char detail[200];
    static const char *const ph[] = { "A", "B", "C" };
    if (pending_pol[i].verdict == INGEST_POL_REVERSED) {
      snprintf(detail, sizeof detail, "load-only branch %u reads %.0f W for 5 windows: sign follows afe %u channel I%s, PF magnitude normal (%.2f, angle %.0f deg)",
               pending_pol[i].branch, pending_pol[i].p_mw / 1000.0, a + 1, ph[pending_pol[i].channel], pending_pol[i].pf, pending_pol[i].angle);
      append_fault(d, "suspected_ct_polarity", pending_pol[i].p_mw, pending_pol[i].branch, detail);
    } else {
      snprintf(detail, sizeof detail, "branch %u current sits %.0f deg from its configured voltage (PF %.2f) for 5 windows: it correlates with another phase",
               pending_pol[i].branch, pending_pol[i].angle, pending_pol[i].pf);
      append_fault(d, "phase_map_mismatch", (int64_t)llround(pending_pol[i].angle), pending_pol[i].branch, detail);
    }
  }
}

/* ------------------------------------------------------------------ waveform path (mains) */

static void eng_window(void *ctx, const struct ingest_window *iw)
{
  struct daemon *d = ctx;
  struct ingest_rec_window rw;
  if (ingest_aggregator_add(&d->agg, &d->icfg, iw, &rw) != 1) return;
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_WINDOW;
  r.source.kind = JOURNAL_SRC_AFE;
  r.source.index = (uint16_t)(d->mains + 1);
  struct journal_window *w = &r.body.window;
  w->afe = (uint16_t)(d->mains + 1);
  w->start_ns = rw.start_ns;
  w->duration_us = rw.duration_us;
  w->freq_mhz = rw.freq_mhz;
  w->basic_windows = rw.basic_windows;
  w->flags = rw.flags & 3;
  for (unsigned i = 0; i < rw.nch && w->nch < JOURNAL_WINDOW_CHANNELS; i++) {
    struct journal_window_channel *c = &w->ch[w->nch++];
    const struct ingest_channel_cfg *cc = &d->icfg.ch[rw.ch[i].ch];
    c->ch = rw.ch[i].ch;
    c->kind = rw.ch[i].kind == INGEST_KIND_VOLTAGE ? JOURNAL_CH_VOLTAGE : JOURNAL_CH_CURRENT;
    c->phase = cc->phase[0] == 'B' ? JOURNAL_PHASE_B : cc->phase[0] == 'C' ? JOURNAL_PHASE_C : JOURNAL_PHASE_A;
    c->rms_m = rw.ch[i].rms_m;
    c->min_m = rw.ch[i].min_m;
    c->max_m = rw.ch[i].max_m;
    c->thd_mpct = rw.ch[i].thd_mpct;
    c->hrms_min_m = rw.ch[i].hrms_min_m;
    c->hrms_max_m = rw.ch[i].hrms_max_m;
    c->event = rw.ch[i].event;
    if (cc->branch && cc->branch <= HW_MAX_BRANCHES && d->branch_tapped[cc->branch]) {
      c->event = true;
      d->branch_tapped[cc->branch] = false;
    }
  }
  for (unsigned i = 0; i < rw.npow && w->npow < JOURNAL_WINDOW_CHANNELS; i++) {
    struct journal_window_power *pw = &w->pow[w->npow++];
    pw->ich = rw.pow[i].ich;
    pw->vch = rw.pow[i].vch;
    const struct ingest_channel_cfg *cc = &d->icfg.ch[rw.pow[i].ich];
    pw->phase = cc->phase[0] == 'B' ? JOURNAL_PHASE_B : cc->phase[0] == 'C' ? JOURNAL_PHASE_C : JOURNAL_PHASE_A;
    pw->p_mw = rw.pow[i].p_mw;
    pw->q_mvar = rw.pow[i].q_mvar;
    pw->s_mva = rw.pow[i].s_mva;
    pw->pf_mpct = rw.pow[i].pf_mpct;
    pw->import_uwh = rw.pow[i].import_uwh;
    pw->export_uwh = rw.pow[i].export_uwh;
  }
  if (append(d, &r) == 0) d->windows++;
}

static void tap_capture_done(struct daemon *d, uint64_t id, const uint8_t hash[32]);

static void eng_capture(void *ctx, const struct ingest_capture_view *c)
{
  struct daemon *d = ctx;
  size_t cap = ingest_capture_blob_bound(c->nch, c->nframes);
  uint8_t *buf = malloc(cap);
  size_t len;
  if (!buf) return;
  if (ingest_capture_encode(c, buf, cap, &len) == 0) {
    struct capture_slot *s = &d->caps[d->ncaps++ % 8];
    s->id = c->id;
    if (journal_put_blob(d->j, buf, len, s->hash)) memset(s->hash, 0, 32);
    if (c->reason) tap_capture_done(d, c->id, s->hash);
  }
  free(buf);
}

static void eng_pq(void *ctx, const struct ingest_pq_event *e)
{
  struct daemon *d = ctx;
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_PQ_EVENT;
  r.source.kind = JOURNAL_SRC_AFE;
  r.source.index = (uint16_t)(d->mains + 1);
  struct journal_pq_event *pq = &r.body.pq_event;
  pq->afe = (uint16_t)(d->mains + 1);
  pq->kind = e->kind == INGEST_PQ_SWELL ? JOURNAL_PQ_SWELL : e->kind == INGEST_PQ_INTERRUPTION ? JOURNAL_PQ_INTERRUPTION : JOURNAL_PQ_DIP;
  const char *cls = ingest_ieee1159_class(e->category);
  pq->category = !strcmp(cls, "momentary") ? JOURNAL_IEEE1159_MOMENTARY : !strcmp(cls, "temporary") ? JOURNAL_IEEE1159_TEMPORARY
               : !strcmp(cls, "sustained") ? JOURNAL_IEEE1159_SUSTAINED : JOURNAL_IEEE1159_INSTANTANEOUS;
  pq->flags = (uint8_t)(e->flags & 0xff);
  size_t pl = strnlen(e->phases, sizeof pq->phases - 1);
  memcpy(pq->phases, e->phases, pl);
  pq->phases[pl] = 0;
  pq->start_ns = e->start_ns;
  pq->duration_us = (uint64_t)llround(e->duration_s * 1e6);
  pq->extreme_mv = (int32_t)llround(e->extreme_v * 1000.0);
  pq->extreme_mpct = (int32_t)llround(e->extreme_pct * 1000.0);
  pq->declared_mv = (int32_t)llround(e->declared_v * 1000.0);
  for (unsigned i = 0; i < e->nv && pq->nph < 4; i++) {
    struct journal_pq_phase *ph = &pq->ph[pq->nph++];
    ph->ch = (uint8_t)e->vch[i];
    const char *lab = d->icfg.ch[e->vch[i]].phase;
    ph->phase = lab[0] == 'B' ? JOURNAL_PHASE_B : lab[0] == 'C' ? JOURNAL_PHASE_C : JOURNAL_PHASE_A;
    ph->min_mv = (int32_t)llround(e->vmin_v[i] * 1000.0);
    ph->max_mv = (int32_t)llround(e->vmax_v[i] * 1000.0);
  }
  for (unsigned i = 0; i < 8 && e->capture_id; i++)
    if (d->caps[i].id == e->capture_id) memcpy(pq->capture, d->caps[i].hash, 32);
  if (append(d, &r) == 0) d->pq_events++;
}

static int mains_init(struct daemon *d)
{
  const struct hw_panel *p = d->panel;
  d->mains = -1;
  for (unsigned a = 0; a < p->num_afes; a++)
    if (p->afe[a].mains && d->afe_ok[a]) { d->mains = (int)a; break; }
  if (d->mains < 0) return 0;
  struct ingest_config *c = &d->icfg;
  ingest_config_defaults(c);
  c->sample_rate_hz = 8000;
  c->nominal_hz = p->freq_hz;
  c->pq.declared_v = p->nominal_v;
  c->t0_ns = d->wall_base_ns;
  c->nch = 6;
  static const char *const ph[3] = { "A", "B", "C" };
  for (unsigned k = 0; k < 3; k++) {
    struct ingest_channel_cfg *v = &c->ch[k], *i = &c->ch[3 + k];
    snprintf(v->name, sizeof v->name, "V%s", ph[k]);
    snprintf(v->phase, sizeof v->phase, "%s", ph[k]);
    v->kind = INGEST_KIND_VOLTAGE;
    v->scale = hw_ade9000_wfb_volts_per_code(&d->afe[d->mains], k);
    v->voltage_ch = -1;
    snprintf(i->name, sizeof i->name, "I%s", ph[k]);
    snprintf(i->phase, sizeof i->phase, "%s", ph[k]);
    i->kind = INGEST_KIND_CURRENT;
    i->scale = hw_ade9000_wfb_amps_per_code(&d->afe[d->mains], k);
    i->voltage_ch = (int16_t)k;
  }
  c->ref_ch = 0;
  struct ingest_sink sink = { d, eng_window, eng_pq, eng_capture };
  int rc = ingest_engine_init(&d->eng, c, &sink);
  if (rc) return rc;
  d->eng_ok = true;
  return ingest_aggregator_init(&d->agg, d->o.window_ms);
}

static void drain_waveform(struct daemon *d)
{
  if (d->mains < 0 || !d->eng_ok) return;
  for (int guard = 0; guard < 4; guard++) {
    int rc = hw_ade9000_wfb_poll(&d->afe[d->mains], &d->half);
    if (rc) break;
    if (d->half.overruns) {
      char detail[96];
      snprintf(detail, sizeof detail, "mains afe: %u waveform buffer halves lost", d->half.overruns);
      append_fault(d, "late_window", d->half.overruns, 0, detail);
    }
    /* WFB order IA VA IB VB IC VC IN → engine order VA VB VC IA IB IC */
    for (unsigned n = 0; n < HW_ADE9000_WFB_SETS_PER_HALF; n++) {
      int32_t *f = &d->frames[n * 6];
      const int32_t *c = d->half.code[n];
      f[0] = c[1]; f[1] = c[3]; f[2] = c[5];
      f[3] = c[0]; f[4] = c[2]; f[5] = c[4];
    }
    ingest_engine_push(&d->eng, d->frames, HW_ADE9000_WFB_SETS_PER_HALF);
  }
}

/* ------------------------------------------------------------------ the proof loop */

static void wake_waiters(struct daemon *d, uint64_t request_seq, uint64_t command_seq, const char *json_line)
{
  for (int i = 0; i < WAITERS_MAX; i++) {
    struct waiter *w = &d->waiters[i];
    if (!w->used) continue;
    bool hit = (request_seq && w->request_seq == request_seq) || (command_seq && w->command_seq == command_seq);
    if (!hit) continue;
    if (w->c->in_use && w->c->gen == w->gen) daemon_client_send(w->c, strdup(json_line));
    w->used = false;
  }
}

/* A command decided for a waiting client: wait on its sense-back instead of the request. */
static void waiter_follow_command(struct daemon *d, uint64_t request_seq, uint64_t command_seq)
{
  for (int i = 0; i < WAITERS_MAX; i++)
    if (d->waiters[i].used && d->waiters[i].request_seq == request_seq) {
      d->waiters[i].request_seq = 0;
      d->waiters[i].command_seq = command_seq;
    }
}

static void source_for_target(struct journal_source *src, uint16_t target)
{
  memset(src, 0, sizeof *src);
  if (target == JOURNAL_TARGET_SERVICE) src->kind = JOURNAL_SRC_PANEL;
  else { src->kind = JOURNAL_SRC_BRANCH; src->index = target; }
}

/* Write-ahead: a command is actuated only when its record is durable; then its `actuation`. */
static void execute_pending(struct daemon *d)
{
  if (!d->act_ok || d->npending == 0) return;
  uint64_t durable = journal_durable_seq(d->j);
  unsigned keep = 0;
  for (unsigned i = 0; i < d->npending; i++) {
    struct pending_cmd *p = &d->pending[i];
    if (p->seq > durable) { d->pending[keep++] = *p; continue; }
    struct actuator_command cmd = { p->target, p->on, p->request_id };
    struct journal_record r;
    memset(&r, 0, sizeof r);
    int rc = actuator_execute(&d->act, &cmd, p->seq, durable, now_ns(d), &r.body.actuation);
    if (rc == ACTUATOR_EBUSY) { d->pending[keep++] = *p; continue; }
    if (rc == ACTUATOR_ESTALE) continue; /* already executed (never twice) */
    if (rc) {
      char detail[160];
      snprintf(detail, sizeof detail, "command seq %llu (target %u): %s", (unsigned long long)p->seq, p->target, actuator_strerror(rc));
      append_fault(d, "actuation_refused", rc, p->target, detail);
      continue;
    }
    r.type = JOURNAL_T_ACTUATION;
    source_for_target(&r.source, p->target);
    if (append(d, &r) == 0) d->actuations++;
  }
  d->npending = keep;
}

/* Register path, every tick: each branch AFE's one-cycle rms registers, read once (one SPI read
 * per register per tick, shared with the sense-backs below). The chip refreshes them every half
 * cycle (10 ms at 50 Hz, 8.3 ms at 60 Hz) but the tick is 16 ms, so the window's hrms_min_m /
 * hrms_max_m are the extremes of one Urms(1/2) sample per tick, not of every half cycle: a
 * sustained dip or swell (≥ one tick plus a cycle) shows, a single disturbed half cycle may not. */
static void poll_rms_one(struct daemon *d)
{
  for (unsigned a = 0; a < d->panel->num_afes && a < HW_MAX_AFES; a++) {
    d->rms1[a].fresh = false;
    if (!d->afe_ok[a] || (int)a == d->mains) continue;
    double i[3], v[3];
    if (hw_ade9000_read_rms_one(&d->afe[a], i, v)) continue;
    struct rms_one_track *q = &d->rms1[a];
    q->fresh = true;
    for (unsigned k = 0; k < 3; k++) {
      q->i[k] = i[k];
      q->v[k] = v[k];
      if (!q->n || i[k] < q->imin[k]) q->imin[k] = i[k];
      if (!q->n || i[k] > q->imax[k]) q->imax[k] = i[k];
      if (!q->n || v[k] < q->vmin[k]) q->vmin[k] = v[k];
      if (!q->n || v[k] > q->vmax[k]) q->vmax[k] = v[k];
    }
    q->n++;
  }
}

/* Current evidence for open sense windows: this tick's one-cycle rms of those branches' AFEs. */
static void feed_sense_currents(struct daemon *d)
{
  if (!d->act_ok) return;
  bool read[HW_MAX_AFES] = { false };
  for (unsigned b = 0; b < d->panel->num_branches; b++) {
    const struct hw_panel_branch *br = &d->panel->branch[b];
    struct actuator_status st;
    if (actuator_status(&d->act, (uint16_t)br->number, &st) || !st.window_open) continue;
    if (br->afe >= HW_MAX_AFES || !d->afe_ok[br->afe] || (int)br->afe == d->mains || read[br->afe]) continue;
    read[br->afe] = true;
    if (!d->rms1[br->afe].fresh) continue;
    const double *irms = d->rms1[br->afe].i, *vrms = d->rms1[br->afe].v;
    for (unsigned k = 0; k < d->panel->num_branches; k++) {
      const struct hw_panel_branch *o = &d->panel->branch[k];
      if (o->afe != br->afe || o->channel > 2) continue;
      int32_t rms = (int32_t)llround(irms[o->channel] * 1000.0);
      actuator_feed_current(&d->act, o->number, now_ns(d), rms, (int32_t)llround(irms[o->channel] * 1414.2),
                            (int32_t)llround(vrms[o->channel] * 1000.0));
    }
  }
}

static void poll_actuators(struct daemon *d)
{
  if (!d->act_ok) return;
  struct actuator_sense_result res[8];
  unsigned n;
  do {
    n = 0;
    if (actuator_poll(&d->act, now_ns(d), res, 8, &n)) break;
    for (unsigned i = 0; i < n; i++) {
      struct journal_record r;
      memset(&r, 0, sizeof r);
      r.type = JOURNAL_T_SENSE_BACK;
      r.source = res[i].source;
      r.body.sense_back = res[i].body;
      uint64_t seq = 0;
      if (append_fx(d, &r, &seq, NULL, NULL) != 0) return;
      d->sense_backs++;
      static const char *const verdicts[] = { "confirmed", "welded", "stuck_open", "leakage", "no_feedback", "chatter" };
      const struct journal_sense_back *sb = &res[i].body;
      char line[256];
      snprintf(line, sizeof line, "{\"ok\":true,\"outcome\":\"command\",\"command_seq\":%llu,\"sense_back_seq\":%llu,\"verdict\":\"%s\",\"target\":%u}",
               (unsigned long long)sb->command_seq, (unsigned long long)seq, sb->verdict < 6 ? verdicts[sb->verdict] : "unknown", sb->target);
      wake_waiters(d, 0, sb->command_seq, line);
    }
  } while (n == 8);
}

static void append_pending_tap(struct daemon *d, struct pending_tap *p, const uint8_t *hash)
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_TRIP_TAP;
  r.source = p->rec.source;
  r.body.trip_tap = p->rec.body.trip_tap;
  if (hash) memcpy(r.body.trip_tap.capture, hash, 32);
  p->used = false;
  append(d, &r);
}

static void tap_capture_done(struct daemon *d, uint64_t id, const uint8_t hash[32])
{
  for (int k = 0; k < PENDING_TAPS; k++)
    if (d->ptaps[k].used && d->ptaps[k].capture_id == id) append_pending_tap(d, &d->ptaps[k], hash);
}

/* Taps whose capture never came (engine stopped): journaled without one. */
static void flush_pending_taps(struct daemon *d, bool all)
{
  for (int k = 0; k < PENDING_TAPS; k++)
    if (d->ptaps[k].used && (all || now_ns(d) >= d->ptaps[k].deadline_ns)) append_pending_tap(d, &d->ptaps[k], NULL);
}

static void poll_taps(struct daemon *d)
{
  if (!d->taps_ok) return;
  struct actuator_tap_record tr[8];
  unsigned n;
  do {
    n = 0;
    if (actuator_taps_poll(&d->taps, now_ns(d), tr, 8, &n)) break;
    for (unsigned i = 0; i < n; i++) {
      struct journal_record r;
      memset(&r, 0, sizeof r);
      r.type = tr[i].type;
      r.source = tr[i].source;
      if (tr[i].type == JOURNAL_T_TRIP_TAP) {
        d->taps_seen++;
        if (tr[i].body.trip_tap.branch && tr[i].body.trip_tap.branch <= HW_MAX_BRANCHES)
          d->branch_tapped[tr[i].body.trip_tap.branch] = true;
        /* A waveform capture around the edge (the ingest hook): the record waits for it, at
         * most its post-trigger time, and then names the blob. */
        int64_t cid = d->eng_ok ? ingest_engine_trigger(&d->eng, 1u + tr[i].body.trip_tap.tap) : -1;
        int slot = -1;
        for (int k = 0; k < PENDING_TAPS && cid > 0; k++) if (!d->ptaps[k].used) { slot = k; break; }
        if (slot >= 0) {
          d->ptaps[slot].used = true;
          d->ptaps[slot].capture_id = (uint64_t)cid;
          d->ptaps[slot].deadline_ns = now_ns(d) + 2000000000ull;
          d->ptaps[slot].rec = tr[i];
          continue;
        }
        r.body.trip_tap = tr[i].body.trip_tap;
      } else {
        r.body.der = tr[i].body.der;
        d->der_seen++;
      }
      append(d, &r);
    }
  } while (n == 8);
  uint64_t ov = d->taps.gpio_overflow + (d->act_ok ? d->act.gpio_overflow : 0);
  if (ov != d->gpio_overflow_seen) {
    char detail[96];
    snprintf(detail, sizeof detail, "%llu GPIO events lost (kernel buffer overflow); inputs resynced",
             (unsigned long long)(ov - d->gpio_overflow_seen));
    append_fault(d, "gpio_overflow", (int64_t)(ov - d->gpio_overflow_seen), 0, detail);
    d->gpio_overflow_seen = ov;
  }
}

/* Pre-trigger signature for a trip tap: the branch's last window current (register path). */
static bool tap_signature(void *ctx, unsigned branch, uint64_t t_ns, int32_t *rms_ma, int32_t *peak_ma)
{
  struct daemon *d = ctx;
  (void)t_ns;
  if (branch == 0 || branch > REPLAY_BRANCHES_MAX) return false;
  int32_t rms = d->h.state.br[branch - 1].irms_ma;
  if (rms <= 0) return false;
  *rms_ma = rms;
  *peak_ma = (int32_t)((int64_t)rms * 1414 / 1000);
  return true;
}

/* A request's free-text reason is kept to its first REASON_MAX bytes (whole characters): a
 * client's text must never make a record the journal refuses (the daemon stops on a failed append). */
#define REASON_MAX 256

/* A switch request (socket or scenario) as a `request` record; the fold decides. */
static int request_switch(struct daemon *d, uint16_t target, bool on, const char *request_id, const char *reason,
                          uint8_t role, uint8_t origin, uint32_t uid, uint32_t gid, uint64_t *out_seq,
                          struct replay_effects *fx, uint64_t fx_seqs[])
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_REQUEST;
  r.source.kind = JOURNAL_SRC_OPERATOR;
  struct journal_request *q = &r.body.request;
  q->target = target;
  q->desired = on ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF;
  q->role = role;
  q->origin = origin;
  q->uid = uid;
  q->gid = gid;
  q->request_id = (struct journal_slice){ (const uint8_t *)request_id, (uint32_t)strlen(request_id) };
  if (reason) q->reason = (struct journal_slice){ (const uint8_t *)reason, (uint32_t)cli_utf8_prefix(reason, REASON_MAX) };
  d->requests++;
  return append_fx(d, &r, out_seq, fx, fx_seqs);
}

/* A policy request (service disconnect, demand response) as a `request` record; the fold
 * decides. A DR start's randomised start is drawn here from the seed (BLAKE2b of seed, event,
 * modification and the request's seq) and written into the record, so the fold stays pure. */
static int request_policy(struct daemon *d, struct journal_request *q, uint64_t *out_seq, struct replay_effects *fx,
                          uint64_t fx_seqs[])
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_REQUEST;
  r.source.kind = JOURNAL_SRC_OPERATOR;
  if (q->kind == JOURNAL_REQ_DR_START) {
    if (!q->dtstart_ns) q->dtstart_ns = wall_now_ns(d);
    uint64_t draw = 0;
    if (q->randomize_ns) {
      uint8_t in[8 + 64 + 4 + 8], h[8];
      uint64_t next = journal_head_seq(d->j) + 1;
      size_t el = q->event.len < 64 ? q->event.len : 64;
      memset(in, 0, sizeof in);
      for (int i = 0; i < 8; i++) { in[i] = (uint8_t)(d->o.seed >> (8 * i)); in[76 + i] = (uint8_t)(next >> (8 * i)); }
      memcpy(in + 8, q->event.ptr, el);
      for (int i = 0; i < 4; i++) in[72 + i] = (uint8_t)(q->modification >> (8 * i));
      crypto_generichash(h, sizeof h, in, sizeof in, NULL, 0);
      for (int i = 0; i < 8; i++) draw |= (uint64_t)h[i] << (8 * i);
      draw %= q->randomize_ns + 1;
    }
    q->start_ns = q->dtstart_ns + (int64_t)draw;
  }
  r.body.request = *q;
  d->requests++;
  return append_fx(d, &r, out_seq, fx, fx_seqs);
}

/* ------------------------------------------------------------------ stimuli */

static void do_stimuli(struct daemon *d)
{
  struct hw_stimulus st[16];
  unsigned n;
  static uint64_t supply_low_until; /* one daemon per process */
  if (d->hw) return; /* scripted stimuli exist only in scenarios */
  if (supply_low_until && now_ns(d) >= supply_low_until) {
    supply_low_until = 0;
    append_fault(d, "supply_restored", 0, 0, "actuator supply back in range");
  }
  do {
    n = hw_sim_poll_stimuli(d->sim, st, 16);
    for (unsigned i = 0; i < n; i++) {
      const struct hw_scenario_event *e = &st[i].ev;
      d->stimuli++;
      if (e->kind == HW_EV_NOTE) {
        struct journal_record r;
        memset(&r, 0, sizeof r);
        r.type = JOURNAL_T_NOTE;
        r.source.kind = JOURNAL_SRC_OPERATOR;
        /* the daemon appends it: its own uid/gid; the scenario's name for the author is a claim */
        r.body.note.uid = (uint32_t)getuid();
        r.body.note.gid = (uint32_t)getgid();
        r.body.note.who = (struct journal_slice){ (const uint8_t *)"scenario", 8 };
        r.body.note.claimed_who = (struct journal_slice){ (const uint8_t *)e->who, (uint32_t)strlen(e->who) };
        r.body.note.text = (struct journal_slice){ (const uint8_t *)e->text, (uint32_t)strlen(e->text) };
        if (append(d, &r) == 0) d->notes++;
      } else if (e->kind == HW_EV_SWITCH) {
        char rid[72];
        if (e->id[0]) snprintf(rid, sizeof rid, "%s", e->id);
        else snprintf(rid, sizeof rid, "scenario-%llu", (unsigned long long)st[i].t_ns);
        request_switch(d, (uint16_t)e->branch, e->on, rid, e->text[0] ? e->text : "scenario", JOURNAL_ROLE_OPERATOR,
                       JOURNAL_ORIGIN_OPERATOR, 0, 0, NULL, NULL, NULL);
      } else if (e->kind == HW_EV_DR_START || e->kind == HW_EV_DR_CANCEL || e->kind == HW_EV_DR_OPT_OUT) {
        /* the utility's head-end (start, cancel) or the homeowner (opt-out) */
        struct journal_request q;
        memset(&q, 0, sizeof q);
        char rid[96];
        static const char *const verb[] = { "start", "cancel", "opt-out" };
        unsigned k = e->kind == HW_EV_DR_START ? 0 : e->kind == HW_EV_DR_CANCEL ? 1 : 2;
        snprintf(rid, sizeof rid, "dr-%.60s-%s-%d", e->id, verb[k], (int)e->modification);
        q.kind = k == 0 ? JOURNAL_REQ_DR_START : k == 1 ? JOURNAL_REQ_DR_CANCEL : JOURNAL_REQ_DR_OPT_OUT;
        q.role = k == 2 ? JOURNAL_ROLE_OPERATOR : JOURNAL_ROLE_UTILITY;
        q.origin = k == 2 ? JOURNAL_ORIGIN_OPERATOR : JOURNAL_ORIGIN_DEMAND_RESPONSE;
        q.request_id = (struct journal_slice){ (const uint8_t *)rid, (uint32_t)strlen(rid) };
        q.event = (struct journal_slice){ (const uint8_t *)e->id, (uint32_t)strlen(e->id) };
        q.modification = e->modification > 0 ? (uint32_t)e->modification : 0;
        q.duration_ns = e->duration_ns;
        q.reduce_w = (uint32_t)llround(e->reduce_kw * 1000.0);
        q.branch_mask = e->branches_mask;
        q.mandatory = e->mandatory;
        q.reason = (struct journal_slice){ (const uint8_t *)"scenario", 8 };
        request_policy(d, &q, NULL, NULL, NULL);
      } else if (e->kind == HW_EV_SERVICE) {
        /* disconnect / reconnect: the utility, remotely; confirm: the panel's local button */
        struct journal_request q;
        memset(&q, 0, sizeof q);
        char rid[72];
        if (e->id[0]) snprintf(rid, sizeof rid, "%s", e->id);
        else snprintf(rid, sizeof rid, "service-%llu", (unsigned long long)st[i].t_ns);
        q.kind = JOURNAL_REQ_SERVICE;
        q.action = e->sub == HW_SERVICE_DISCONNECT ? JOURNAL_SVC_DISCONNECT
                 : e->sub == HW_SERVICE_RECONNECT ? JOURNAL_SVC_RECONNECT : JOURNAL_SVC_CONFIRM;
        bool local = e->sub == HW_SERVICE_CONFIRM;
        q.desired = local || e->sub == HW_SERVICE_RECONNECT ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF;
        q.role = local ? JOURNAL_ROLE_OPERATOR : JOURNAL_ROLE_UTILITY;
        q.origin = local ? JOURNAL_ORIGIN_OPERATOR : JOURNAL_ORIGIN_REMOTE;
        q.request_id = (struct journal_slice){ (const uint8_t *)rid, (uint32_t)strlen(rid) };
        q.reason = (struct journal_slice){ (const uint8_t *)(local ? "local button" : "scenario"), local ? 12 : 8 };
        request_policy(d, &q, NULL, NULL, NULL);
      } else if (e->kind == HW_EV_SUPPLY_LOW) {
        /* actuation impossible: the fold holds commands until the supply_restored record */
        char detail[96];
        snprintf(detail, sizeof detail, "actuator supply too low for %.1f s", (double)e->duration_ns / 1e9);
        append_fault(d, "supply_low", (int64_t)(e->duration_ns / 1000000u), 0, detail);
        supply_low_until = st[i].t_ns + e->duration_ns;
      }
    }
  } while (n == 16);
}

/* ------------------------------------------------------------------ retention timer */

/* The retention record (with a checkpoint of the state at the cut) goes through the fold like
 * every other record. */
static int retention_append(void *ctx, struct journal *j, const struct journal_record *rec)
{
  struct daemon *d = ctx;
  int rc = replay_checkpoint_at(j, rec->body.retention.cut_seq);
  if (rc) return rc;
  struct journal_record r = *rec;
  return append(d, &r);
}

/* Hourly: archive and cut what is older than the configured keep, so each pass is small. */
static void run_retention(struct daemon *d)
{
  d->next_retention_ns = now_ns(d) + 3600ull * 1000000000ull;
  uint64_t cut = 0;
  int rc = journal_retention_run(d->j, d->retention_keep_ns, retention_append, d, &cut);
  if (rc) {
    char detail[160];
    snprintf(detail, sizeof detail, "retention: %s (records kept)", journal_strerror(rc));
    append_fault(d, "retention_failed", rc, 0, detail);
  }
}

/* ------------------------------------------------------------------ the tick */

static void tick(struct daemon *d)
{
  if (d->stopping) return;
  int rc = d->hw ? 0 : hw_sim_advance(d->sim, TICK_NS);
  if (rc) {
    cli_err("run: simulated panel: %s", hw_strerror(rc));
    d->stopping = true;
    d->exit_code = CLI_ENV;
    return;
  }
  uint64_t now = now_ns(d);
  drain_waveform(d);
  poll_taps(d);
  flush_pending_taps(d, false);
  do_stimuli(d);
  execute_pending(d);
  poll_rms_one(d);
  feed_sense_currents(d);
  poll_actuators(d);
  if (now >= d->next_window_ns) {
    memset(d->phase_p_mw, 0, sizeof d->phase_p_mw);
    for (unsigned a = 0; a < d->panel->num_afes; a++)
      if (d->afe_ok[a] && (int)a != d->mains) register_window(d, a);
    d->next_window_ns += (uint64_t)d->o.window_ms * 1000000ull;
  }
  if (now - d->last_append_mono >= FLUSH_IDLE_NS) {
    journal_flush(d->j);
    d->last_append_mono = now;
  }
  if (d->retention_keep_ns && now >= d->next_retention_ns) run_retention(d);
  if (d->o.for_ns && now >= (uint64_t)d->o.for_ns) d->stopping = true;
}

/* ------------------------------------------------------------------ status */

static json_t *status_json(struct daemon *d)
{
  const struct replay_state *st = &d->h.state;
  json_t *o = json_object();
  uint8_t h[32], sh[32];
  char hex[65], buf[128];
  journal_head_hash(d->j, h);
  journal_hex(h, 32, hex);
  json_object_set_new(o, "head_seq", json_integer((json_int_t)journal_head_seq(d->j)));
  json_object_set_new(o, "head_hash", json_string(hex));
  replay_state_hash(st, sh);
  journal_hex(sh, 32, hex);
  json_object_set_new(o, "state_hash", json_string(hex));
  json_object_set_new(o, "reducer_version", json_integer(st->reducer_version));
  json_object_set_new(o, "durable_seq", json_integer((json_int_t)journal_durable_seq(d->j)));
  json_object_set_new(o, "source", json_string("daemon"));
  if (d->device_id[0]) json_object_set_new(o, "device_id", json_string(d->device_id));
  json_object_set_new(o, d->hw ? "panel" : "scenario", json_string(d->name));
  json_object_set_new(o, "uptime_s", json_real((double)now_ns(d) / 1e9));
  uint64_t wnow = cli_proc_write_bytes(); /* the daemon's own storage writes so far (hems stats) */
  json_object_set_new(o, "storage_write_bytes", json_integer((json_int_t)(wnow > d->io_write_bytes0 ? wnow - d->io_write_bytes0 : 0)));
  json_t *ph = json_object();
  static const char *const names[] = { "A", "B", "C" };
  for (int k = 0; k < 3; k++) json_object_set_new(ph, names[k], json_integer(d->phase_p_mw[k] / 1000));
  json_object_set_new(o, "phase_power_w", ph);
  json_object_set_new(o, "alarms", json_string(replay_alarm_names(st->alarms, buf, sizeof buf)));
  /* the policy: service disconnect, limiter, supply, outage, demand response */
  const struct replay_policy *pol = &st->pol;
  json_t *pj = json_object();
  json_object_set_new(pj, "service", json_string(replay_service_state_name(pol->svc_state)));
  json_object_set_new(pj, "service_mode", json_integer(pol->svc_mode));
  json_object_set_new(pj, "service_limit_a", json_integer(pol->service_limit_a));
  json_object_set_new(pj, "load_permille", json_integer(pol->load_permille));
  json_object_set_new(pj, "shedding", json_boolean(pol->shedding));
  json_object_set_new(pj, "sheds", json_integer((json_int_t)pol->sheds));
  json_object_set_new(pj, "restores", json_integer((json_int_t)pol->restores));
  json_object_set_new(pj, "supply_low", json_boolean(pol->supply_low));
  json_object_set_new(pj, "outage", json_boolean(pol->outage));
  json_t *dr = json_array();
  for (unsigned i = 0; i < REPLAY_DR_EVENTS; i++) {
    const struct replay_dr_event *e = &pol->dr[i];
    if (!e->request_seq) continue;
    char start[32], end[32];
    journal_format_time(e->start_ns, start);
    journal_format_time(e->end_ns, end);
    json_array_append_new(dr, json_pack("{s:s, s:I, s:s, s:s, s:b, s:I}", "status", replay_dr_status_name(e->status),
                                        "modification", (json_int_t)e->modification, "start", start, "end", end,
                                        "mandatory", e->mandatory, "request_seq", (json_int_t)e->request_seq));
  }
  json_object_set_new(pj, "dr_events", dr);
  json_object_set_new(o, "policy", pj);
  json_t *br = json_array();
  for (unsigned b = 0; b < d->panel->num_branches; b++) {
    const struct hw_panel_branch *pb = &d->panel->branch[b];
    if (pb->number == 0 || pb->number > REPLAY_BRANCHES_MAX) continue;
    const struct replay_branch *rb = &st->br[pb->number - 1];
    json_t *x = json_object();
    json_object_set_new(x, "branch", json_integer(pb->number));
    json_object_set_new(x, "name", json_string(pb->name));
    json_object_set_new(x, "commanded", json_string(replay_onoff_name(rb->commanded)));
    json_object_set_new(x, "sensed", json_string(replay_onoff_name(rb->sensed)));
    json_object_set_new(x, "proven", json_boolean(rb->proven));
    json_object_set_new(x, "fault", json_string(replay_verdict_name(rb->fault)));
    json_object_set_new(x, "power_w", json_integer(rb->p_mw / 1000));
    json_object_set_new(x, "import_wh", json_real((double)rb->import_uwh / 1e6));
    json_object_set_new(x, "export_wh", json_real((double)rb->export_uwh / 1e6));
    json_object_set_new(x, "alarms", json_string(replay_alarm_names(rb->alarms, buf, sizeof buf)));
    json_t *layers = json_array();
    if (rb->layers & REPLAY_LAYER_FAIL_SAFE) json_array_append_new(layers, json_string("fail_safe"));
    if (rb->layers & REPLAY_LAYER_DR) json_array_append_new(layers, json_string("demand_response"));
    if (rb->layers & REPLAY_LAYER_SHED) json_array_append_new(layers, json_string("load_shed"));
    json_object_set_new(x, "held_off_by", layers);
    json_array_append_new(br, x);
  }
  json_object_set_new(o, "branches", br);
  json_t *cnt = json_object();
  json_object_set_new(cnt, "windows", json_integer((json_int_t)d->windows));
  json_object_set_new(cnt, "pq_events", json_integer((json_int_t)d->pq_events));
  json_object_set_new(cnt, "requests", json_integer((json_int_t)d->requests));
  json_object_set_new(cnt, "commands", json_integer((json_int_t)d->commands));
  json_object_set_new(cnt, "refusals", json_integer((json_int_t)d->refusals));
  json_object_set_new(cnt, "sense_backs", json_integer((json_int_t)d->sense_backs));
  json_object_set_new(cnt, "trip_taps", json_integer((json_int_t)d->taps_seen));
  json_object_set_new(cnt, "der", json_integer((json_int_t)d->der_seen));
  json_object_set_new(cnt, "notes", json_integer((json_int_t)d->notes));
  json_object_set_new(cnt, "faults", json_integer((json_int_t)d->faults));
  json_object_set_new(o, "counts", cnt);
  return o;
}

static void status_line(struct daemon *d)
{
  if (!d->tty) return;
  double vs = (double)now_ns(d) / 1e9;
  double rs = real_s() - d->t_start_real;
  fprintf(stderr, "\r\033[K%s t=%02d:%02d:%02d x%.0f  A %.1f kW  B %.1f kW  C %.1f kW  seq %llu  pq %llu  faults %llu",
          d->name, (int)vs / 3600, (int)vs / 60 % 60, (int)vs % 60, rs > 0 ? vs / rs : 0,
          d->phase_p_mw[0] / 1e6, d->phase_p_mw[1] / 1e6, d->phase_p_mw[2] / 1e6,
          (unsigned long long)journal_head_seq(d->j), (unsigned long long)d->pq_events, (unsigned long long)d->faults);
}

/* ------------------------------------------------------------------ requests on the socket */

/* The roles section: DIR/config.json's, else the panel config's. */
static void load_roles(struct daemon *d)
{
  char path[4200];
  snprintf(path, sizeof path, "%s/config.json", d->o.c.dir);
  json_t *root = cli_load_json_file(path);
  json_t *r = root ? json_object_get(root, "roles") : NULL;
  json_decref(d->roles);
  d->roles = NULL;
  if (json_is_object(r)) d->roles = json_incref(r);
  else if (d->panel->roles_json[0]) d->roles = json_loads(d->panel->roles_json, 0, NULL);
  /* "retention": {"keep": "30d"} — the daemon archives and cuts hourly (docs/operations.md) */
  const char *keep = json_string_value(json_object_get(json_object_get(root, "retention"), "keep"));
  int64_t kn = 0;
  if (keep && (cli_parse_duration_ns(keep, &kn) || kn <= 0)) {
    char detail[4400];
    snprintf(detail, sizeof detail, "%.4000s: retention.keep \"%.*s\": not a duration (e.g. 30d); retention stays off", path,
             (int)cli_utf8_prefix(keep, 64), keep);
    append_fault(d, "config_invalid", 0, 0, detail);
    kn = 0;
  }
  d->retention_keep_ns = kn;
  json_decref(root);
}

static bool branch_is_critical(struct daemon *d, unsigned number)
{
  for (unsigned b = 0; b < d->panel->num_branches; b++)
    if (d->panel->branch[b].number == number) return d->panel->branch[b].critical;
  return false;
}

static char *reply_error(const char *msg)
{
  json_t *o = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return s;
}

/* service / dr ops: journal the request with a waiter on it; the fold's answer (refusal,
 * accepted, reply) wakes it at once, a service command at its sense-back. */
static char *policy_op(struct daemon *d, struct daemon_client *c, struct journal_request *q)
{
  int wi = -1;
  for (int i = 0; i < WAITERS_MAX; i++) if (!d->waiters[i].used) { wi = i; break; }
  if (wi < 0) return reply_error("busy: too many requests waiting");
  struct waiter *w = &d->waiters[wi];
  w->used = true;
  w->c = c;
  w->gen = c->gen;
  w->request_seq = journal_head_seq(d->j) + 1;
  w->command_seq = 0;
  uint64_t seq = 0, fxs[REPLAY_EFFECTS_MAX] = { 0 };
  struct replay_effects fx;
  int rc = request_policy(d, q, &seq, &fx, fxs);
  if (rc) { w->used = false; return reply_error(journal_strerror(rc)); }
  for (uint32_t i = 0; i < fx.n; i++)
    if (fx.e[i].kind == REPLAY_EFFECT_COMMAND && fx.e[i].target == JOURNAL_TARGET_SERVICE && fx.e[i].cause_seq == seq)
      waiter_follow_command(d, seq, fxs[i]);
  if (w->used && w->request_seq == seq && w->command_seq == 0) {
    w->used = false;
    return reply_error("no decision for this request");
  }
  return NULL;
}

/* The per-peer rate limit (daemon.h): true when this request may be journaled. */
static bool peer_may_append(struct daemon *d, struct daemon_client *c, uint16_t target, bool on, const char *rid)
{
  return daemon_limit_take(&d->limit, c->uid, uv_now(&d->loop), target, on ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF, rid);
}

static char *reply_rate_limited(void)
{
  char msg[160];
  snprintf(msg, sizeof msg, "refused: rate limit (%d requests per second per uid, bursts of %d; the excess is journaled "
           "as one refusal with a count)", DAEMON_PEER_RATE_PER_S, DAEMON_PEER_BURST);
  return reply_error(msg);
}

/* Journals the coalesced rate-limit refusals that are due (all of them when force). */
static void flush_rate_limited(struct daemon *d, bool force)
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_REFUSAL;
  r.source.kind = JOURNAL_SRC_OPERATOR;
  while (!d->append_err && daemon_limit_due(&d->limit, uv_now(&d->loop), force, &r.body.refusal)) {
    d->refusals++;
    append(d, &r);
  }
}

/* A note over the socket: the author is the peer's uid/gid; a name the client gives is kept
 * apart as claimed_who. */
static char *note_op(struct daemon *d, struct daemon_client *c, int role, json_t *req)
{
  const char *text = json_string_value(json_object_get(req, "text"));
  const char *claimed = json_string_value(json_object_get(req, "who"));
  if (role < ROLE_OPERATOR) {
    char msg[96];
    snprintf(msg, sizeof msg, "refused: role %s may not append notes", daemon_role_name(role));
    return reply_error(msg);
  }
  if (!text || !*text || strlen(text) > 4096) return reply_error("malformed request: note needs \"text\" (1..4096 bytes)");
  if (!peer_may_append(d, c, JOURNAL_TARGET_SERVICE, false, "")) return reply_rate_limited();
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_NOTE;
  r.source.kind = JOURNAL_SRC_OPERATOR;
  char who[64];
  struct passwd *pw = getpwuid(c->uid);
  if (pw) snprintf(who, sizeof who, "%s", pw->pw_name);
  else snprintf(who, sizeof who, "uid:%u", (unsigned)c->uid);
  r.body.note.uid = c->uid;
  r.body.note.gid = c->gid;
  r.body.note.who = (struct journal_slice){ (const uint8_t *)who, (uint32_t)strlen(who) };
  r.body.note.text = (struct journal_slice){ (const uint8_t *)text, (uint32_t)strlen(text) };
  if (claimed) r.body.note.claimed_who = (struct journal_slice){ (const uint8_t *)claimed, (uint32_t)cli_utf8_prefix(claimed, 63) };
  uint64_t seq = 0;
  int rc = append_fx(d, &r, &seq, NULL, NULL);
  if (rc == 0) rc = journal_sync(d->j);
  if (rc) return reply_error(journal_strerror(rc));
  d->notes++;
  json_t *o = json_pack("{s:b, s:I}", "ok", 1, "seq", (json_int_t)seq);
  char *out = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return out;
}

char *daemon_handle_request(struct daemon *d, struct daemon_client *c, const char *line, size_t len)
{
  json_error_t je;
  /* each key once: two "target"s could be read differently by different parts of the code */
  json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
  if (!req || !json_is_object(req)) {
    char msg[300];
    if (req) snprintf(msg, sizeof msg, "malformed request: expected one JSON object per line");
    else snprintf(msg, sizeof msg, "malformed request: %s (one JSON object per line, each key once)", je.text);
    json_decref(req);
    return reply_error(msg);
  }
  flush_rate_limited(d, false);
  const char *op = json_string_value(json_object_get(req, "op"));
  char *out = NULL;
  int role = daemon_role_of(d->roles, c->have_cred, c->uid, c->gid);
  if (!op) {
    out = reply_error("malformed request: missing \"op\"");
  } else if (!strcmp(op, "status")) {
    json_t *o = status_json(d);
    json_object_set_new(o, "ok", json_true());
    out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
  } else if (!strcmp(op, "note")) {
    out = note_op(d, c, role, req);
  } else if (!strcmp(op, "switch")) {
    json_t *jb = json_object_get(req, "branch");
    const char *desired = json_string_value(json_object_get(req, "desired"));
    const char *rid = json_string_value(json_object_get(req, "request_id"));
    const char *reason = json_string_value(json_object_get(req, "reason"));
    unsigned target = 0;
    if (json_is_integer(jb) && json_integer_value(jb) > 0 && json_integer_value(jb) <= 65535) target = (unsigned)json_integer_value(jb);
    else if (json_is_string(jb)) {
      for (unsigned b = 0; b < d->panel->num_branches; b++)
        if (!strcmp(d->panel->branch[b].name, json_string_value(jb))) target = d->panel->branch[b].number;
    }
    char ridbuf[48];
    if (!rid) { snprintf(ridbuf, sizeof ridbuf, "sock-%llu", (unsigned long long)journal_head_seq(d->j) + 1); rid = ridbuf; }
    if (!target) out = reply_error("malformed request: \"branch\" must be a branch number or a configured name");
    else if (!desired || (strcmp(desired, "on") && strcmp(desired, "off"))) out = reply_error("malformed request: \"desired\" must be \"on\" or \"off\"");
    else if (strlen(rid) > 64) out = reply_error("malformed request: request_id longer than 64 bytes");
    else if (role == ROLE_UTILITY) out = reply_error("refused: role utility may not switch branches");
    else if (role == ROLE_AUTOMATION && branch_is_critical(d, target))
      out = reply_error("refused: role automation may not switch a critical branch");
    else if (!peer_may_append(d, c, (uint16_t)target, !strcmp(desired, "on"), rid)) out = reply_rate_limited();
    else {
      /* The request is journaled whatever the role: the fold refuses a viewer (`role`). */
      uint8_t jrole = daemon_role_journal(role);
      uint8_t origin = role == ROLE_AUTOMATION ? JOURNAL_ORIGIN_AUTOMATION : JOURNAL_ORIGIN_OPERATOR;
      int wi = -1;
      for (int i = 0; i < WAITERS_MAX; i++) if (!d->waiters[i].used) { wi = i; break; }
      if (wi < 0) out = reply_error("busy: too many switch requests waiting");
      else {
        struct waiter *w = &d->waiters[wi];
        w->used = true;
        w->c = c;
        w->gen = c->gen;
        w->request_seq = journal_head_seq(d->j) + 1; /* the request's own seq, answered by the fold */
        w->command_seq = 0;
        uint64_t seq = 0, fxs[REPLAY_EFFECTS_MAX] = { 0 };
        struct replay_effects fx;
        int rc = request_switch(d, (uint16_t)target, !strcmp(desired, "on"), rid, reason, jrole, origin, c->uid, c->gid,
                                &seq, &fx, fxs);
        if (rc) { w->used = false; out = reply_error(journal_strerror(rc)); }
        else {
          for (uint32_t i = 0; i < fx.n; i++)
            if (fx.e[i].kind == REPLAY_EFFECT_COMMAND) waiter_follow_command(d, seq, fxs[i]);
          /* refusal / reply already answered through wake_waiters; a command answers at its sense-back */
          if (w->used && w->request_seq == seq && w->command_seq == 0) {
            w->used = false;
            out = reply_error("no decision for this request");
          }
        }
      }
    }
  } else if (!strcmp(op, "service") || !strcmp(op, "dr")) {
    bool svc = !strcmp(op, "service");
    const char *action = json_string_value(json_object_get(req, "action"));
    const char *rid = json_string_value(json_object_get(req, "request_id"));
    const char *reason = json_string_value(json_object_get(req, "reason"));
    const char *event = json_string_value(json_object_get(req, "event"));
    char ridbuf[48];
    if (!rid) { snprintf(ridbuf, sizeof ridbuf, "sock-%llu", (unsigned long long)journal_head_seq(d->j) + 1); rid = ridbuf; }
    struct journal_request q;
    memset(&q, 0, sizeof q);
    /* roles: admin acts as the utility head-end (remote); an operator presses confirm and opts out */
    q.role = daemon_role_journal(role);
    q.origin = JOURNAL_ORIGIN_OPERATOR;
    q.uid = c->uid;
    q.gid = c->gid;
    q.request_id = (struct journal_slice){ (const uint8_t *)rid, (uint32_t)strlen(rid) };
    if (reason) q.reason = (struct journal_slice){ (const uint8_t *)reason, (uint32_t)cli_utf8_prefix(reason, REASON_MAX) };
    const char *bad = NULL;
    if (!action) bad = "malformed request: missing \"action\"";
    else if (strlen(rid) > 64) bad = "malformed request: request_id longer than 64 bytes";
    else if (svc) {
      q.kind = JOURNAL_REQ_SERVICE;
      if (!strcmp(action, "disconnect")) { q.action = JOURNAL_SVC_DISCONNECT; q.origin = JOURNAL_ORIGIN_REMOTE; }
      else if (!strcmp(action, "reconnect")) { q.action = JOURNAL_SVC_RECONNECT; q.desired = JOURNAL_DESIRED_ON; q.origin = JOURNAL_ORIGIN_REMOTE; }
      else if (!strcmp(action, "confirm")) { q.action = JOURNAL_SVC_CONFIRM; q.desired = JOURNAL_DESIRED_ON; }
      else if (!strcmp(action, "set-mode")) {
        json_t *m = json_object_get(req, "mode");
        q.action = JOURNAL_SVC_SET_MODE;
        q.origin = JOURNAL_ORIGIN_REMOTE;
        if (!json_is_integer(m) || json_integer_value(m) < 0 || json_integer_value(m) > 6) bad = "malformed request: \"mode\" must be 0..6";
        else q.control_mode = (uint8_t)json_integer_value(m);
      } else bad = "malformed request: service action must be disconnect, reconnect, confirm or set-mode";
    } else {
      if (!strcmp(action, "start")) q.kind = JOURNAL_REQ_DR_START;
      else if (!strcmp(action, "cancel")) q.kind = JOURNAL_REQ_DR_CANCEL;
      else if (!strcmp(action, "opt-out")) q.kind = JOURNAL_REQ_DR_OPT_OUT;
      else bad = "malformed request: dr action must be start, cancel or opt-out";
      if (q.kind != JOURNAL_REQ_DR_OPT_OUT) q.origin = JOURNAL_ORIGIN_DEMAND_RESPONSE;
      if (!event || !*event || strlen(event) > 64) bad = bad ? bad : "malformed request: \"event\" must be 1..64 bytes";
      else q.event = (struct journal_slice){ (const uint8_t *)event, (uint32_t)strlen(event) };
      json_t *v;
      if ((v = json_object_get(req, "modification")) && json_is_integer(v) && json_integer_value(v) >= 0) {
        if (json_integer_value(v) > UINT32_MAX) bad = bad ? bad : "malformed request: \"modification\" must be 0..4294967295";
        else q.modification = (uint32_t)json_integer_value(v);
      }
      if ((v = json_object_get(req, "start_ns")) && json_is_integer(v)) q.dtstart_ns = (int64_t)json_integer_value(v);
      if ((v = json_object_get(req, "start_in_ns")) && json_is_integer(v) &&
          __builtin_add_overflow(wall_now_ns(d), (int64_t)json_integer_value(v), &q.dtstart_ns))
        bad = bad ? bad : "malformed request: \"start_in_ns\" out of range";
      if ((v = json_object_get(req, "duration_ns")) && json_is_integer(v) && json_integer_value(v) > 0) q.duration_ns = (uint64_t)json_integer_value(v);
      if ((v = json_object_get(req, "randomize_ns")) && json_is_integer(v) && json_integer_value(v) > 0) q.randomize_ns = (uint64_t)json_integer_value(v);
      if ((v = json_object_get(req, "reduce_w")) && json_is_integer(v) && json_integer_value(v) > 0) {
        if (json_integer_value(v) > UINT32_MAX) bad = bad ? bad : "malformed request: \"reduce_w\" must be 1..4294967295";
        else q.reduce_w = (uint32_t)json_integer_value(v);
      }
      q.mandatory = json_is_true(json_object_get(req, "mandatory"));
      /* the event's latest end must be a time: no overflow in the start drawn or the end folded */
      int64_t end = q.dtstart_ns ? q.dtstart_ns : wall_now_ns(d);
      if (__builtin_add_overflow(end, (int64_t)q.randomize_ns, &end) || __builtin_add_overflow(end, (int64_t)q.duration_ns, &end))
        bad = bad ? bad : "malformed request: start, randomize_ns and duration_ns end after the last representable time";
      json_t *br = json_object_get(req, "branches");
      for (size_t k = 0; json_is_array(br) && k < json_array_size(br); k++) {
        json_t *x = json_array_get(br, k);
        unsigned n = 0;
        if (json_is_integer(x)) n = (unsigned)json_integer_value(x);
        else if (json_is_string(x))
          for (unsigned b = 0; b < d->panel->num_branches; b++)
            if (!strcmp(d->panel->branch[b].name, json_string_value(x))) n = d->panel->branch[b].number;
        if (n < 1 || n > 64) { bad = "malformed request: \"branches\" holds an unknown branch"; break; }
        q.branch_mask |= 1ull << (n - 1);
      }
    }
    if (!bad && role == ROLE_AUTOMATION && q.kind != JOURNAL_REQ_DR_OPT_OUT)
      bad = "refused: role automation may only opt out of demand response";
    if (role == ROLE_AUTOMATION) q.origin = JOURNAL_ORIGIN_AUTOMATION;
    if (bad) out = reply_error(bad);
    else if (!peer_may_append(d, c, JOURNAL_TARGET_SERVICE, q.desired == JOURNAL_DESIRED_ON, rid)) out = reply_rate_limited();
    else out = policy_op(d, c, &q);
  } else {
    out = reply_error("unknown op");
  }
  json_decref(req);
  return out;
}

/* ------------------------------------------------------------------ loop glue */

static void stop_loop(struct daemon *d)
{
  d->stopping = true;
}

static void on_signal(uv_signal_t *h, int signum)
{
  struct daemon *d = h->data;
  if (signum == SIGHUP) { d->reload = true; return; }
  stop_loop(d);
}

/* SIGHUP: re-read DIR/config.json. Valid and different → a `config` record (the simulated
 * hardware keeps its wiring; the journal says what the operator configured). Invalid → keep
 * the old one and journal a fault naming the file, field and why. */
static void reload_config(struct daemon *d)
{
  d->reload = false;
  char path[4200], err[320];
  snprintf(path, sizeof path, "%s/config.json", d->o.c.dir);
  static struct hw_panel np;
  if (hw_panel_load_file(&np, path, err, sizeof err)) {
    append_fault(d, "config_invalid", 0, 0, err);
    fprintf(stderr, "hems: run: SIGHUP: %s (keeping the current config)\n", err);
    return;
  }
  static char cj[256 * 1024];
  size_t cl;
  if (hw_panel_canonical_json(&np, cj, sizeof cj, &cl)) return;
  uint8_t h[32];
  crypto_generichash(h, 32, (const uint8_t *)cj, cl, NULL, 0);
  load_roles(d);
  if (!memcmp(h, d->cfg_hash, 32)) return;
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_CONFIG;
  r.source.kind = JOURNAL_SRC_PANEL;
  r.body.config.config_version = d->cfg_version + 1;
  memcpy(r.body.config.config_hash, h, 32);
  r.body.config.json = (struct journal_slice){ (const uint8_t *)cj, (uint32_t)cl };
  if (append(d, &r) == 0) {
    d->cfg_version++;
    memcpy(d->cfg_hash, h, 32);
  }
}

/* A loop turn for systemd: the watchdog ping (while on cadence) and now and then a summary. */
static void notify_turn(struct daemon *d, double lag_s)
{
  if (daemon_notify_turn(&d->notify, lag_s))
    daemon_notify_status(&d->notify, "running: %s, head seq %llu, %llu windows, %llu commands, %llu faults", d->name,
                         (unsigned long long)journal_head_seq(d->j), (unsigned long long)d->windows,
                         (unsigned long long)d->commands, (unsigned long long)d->faults);
}

static void on_tick_timer(uv_timer_t *t)
{
  struct daemon *d = t->data;
  /* Pace virtual time against the real clock: run the ticks that are due. */
  if (d->reload) reload_config(d);
  flush_rate_limited(d, false);
  double now_real = real_s();
  double target_ns = (now_real - d->t_start_real) * d->o.speed * 1e9;
  int budget = 64;
  if (d->hw) {
    tick(d); /* hardware: one pass per timer period; time passes by itself */
    notify_turn(d, 0);
    if (d->stopping) uv_stop(&d->loop);
    return;
  }
  while (!d->stopping && (double)hw_sim_now_ns(d->sim) + TICK_NS <= target_ns && budget-- > 0) tick(d);
  /* Watchdog (live only): the loop fell behind the panel's clock by more than half a second. */
  double lag_ms = (target_ns - (double)now_ns(d)) / 1e6 / d->o.speed;
  if (d->watchdog && lag_ms > 500 && now_real - d->last_watchdog_s > 10) {
    char detail[96];
    snprintf(detail, sizeof detail, "loop %.0f ms behind the sample cadence", lag_ms);
    append_fault(d, "late_window", (int64_t)lag_ms, 0, detail);
    d->last_watchdog_s = now_real;
  }
  notify_turn(d, lag_ms / 1e3);
  if (d->stopping) uv_stop(&d->loop);
}

static void on_idle(uv_idle_t *h)
{
  struct daemon *d = h->data;
  if (d->reload) reload_config(d);
  flush_rate_limited(d, false);
  for (int i = 0; i < 8 && !d->stopping; i++) tick(d);
  notify_turn(d, 0);
  if (d->stopping) uv_stop(&d->loop);
}

static void on_status_timer(uv_timer_t *t)
{
  status_line(t->data);
}

static void close_walk(uv_handle_t *h, void *arg)
{
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* ------------------------------------------------------------------ setup */

static void sleep_ns(void *user, uint64_t ns)
{
  (void)user;
  struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void seed_boot_id(struct daemon *d, uint64_t head)
{
  uint8_t in[16];
  for (int i = 0; i < 8; i++) { in[i] = (uint8_t)(d->o.seed >> (8 * i)); in[8 + i] = (uint8_t)(head >> (8 * i)); }
  crypto_generichash(d->boot_id, 16, in, sizeof in, (const uint8_t *)"hems.boot", 9);
}

/* Wall time and config of the journal's head region, for a deterministic virtual epoch and the
 * "config differs" check. */
static int journal_tail_facts(struct daemon *d, uint64_t *head, int64_t *last_wall, uint8_t cfg_hash[32],
                              uint32_t *cfg_version, bool *have_cfg)
{
  struct journal_reader *r;
  /* Read before the writer opens (LMDB: one env per process at a time); the writer's own
   * rollback check follows. */
  int rc = journal_reader_open(&r, d->o.c.dir, d->o.c.counter, true);
  if (rc) return rc;
  /* The device id too, here and not after the writer opened: a second LMDB env on the same
   * journal in this process, closed while the writer's is open, drops the writer's lock on
   * lock.mdb (POSIX record locks are per process), and every later reader then takes the lock
   * region as its first user and resets it under the live writer. */
  if (journal_reader_device_id(r, d->device_id)) d->device_id[0] = 0;
  struct journal_iter *it;
  if ((rc = journal_iter_begin(r, 1, &it))) { journal_reader_close(r); return rc; }
  uint64_t first, last;
  journal_reader_bounds(r, &first, &last);
  *head = last;
  const uint8_t *b;
  size_t len;
  struct journal_record rec;
  *last_wall = 0;
  if (last && journal_iter_get(it, last, &b, &len) == 0 && journal_record_decode(b, len, &rec) == 0) *last_wall = rec.wall_ns;
  *have_cfg = false;
  uint64_t groups[4096];
  int n = journal_index_blocks(it, JOURNAL_IDX_TYPE, JOURNAL_T_CONFIG, 1, groups, 4096);
  if (n > 0) {
    uint64_t gf, gl;
    if (journal_index_block_range(it, groups[n - 1], &gf, &gl) == 0) {
      for (uint64_t s = gf; s <= gl; s++) {
        if (journal_iter_get(it, s, &b, &len) || journal_record_decode(b, len, &rec)) continue;
        if (rec.type != JOURNAL_T_CONFIG) continue;
        memcpy(cfg_hash, rec.body.config.config_hash, 32);
        *cfg_version = rec.body.config.config_version;
        *have_cfg = true;
      }
    }
  }
  journal_iter_end(it);
  journal_reader_close(r);
  return 0;
}

static int parse_opts(int argc, char **argv, struct run_opts *o)
{
  enum { O_DIR = 1000, O_COUNTER, O_ACCEPT, O_SIM, O_HW, O_FOR, O_SPEED, O_SEED, O_SOCKET, O_WINDOW };
  static const struct option lo[] = {
    { "dir", required_argument, NULL, O_DIR }, { "counter", required_argument, NULL, O_COUNTER },
    { "accept-rollback", no_argument, NULL, O_ACCEPT }, { "sim", required_argument, NULL, O_SIM },
    { "hw", required_argument, NULL, O_HW }, { "for", required_argument, NULL, O_FOR },
    { "speed", required_argument, NULL, O_SPEED }, { "seed", required_argument, NULL, O_SEED },
    { "socket", required_argument, NULL, O_SOCKET }, { "window", required_argument, NULL, O_WINDOW }, { 0 } };
  memset(o, 0, sizeof *o);
  o->c.dir = cli_default_dir();
  o->speed = 1.0;
  o->seed = 1;
  o->window_ms = 1000;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (opt) {
    case O_DIR: o->c.dir = optarg; break;
    case O_COUNTER: o->c.counter = optarg; break;
    case O_ACCEPT: o->c.accept_rollback = true; break;
    case O_SIM: o->sim = optarg; break;
    case O_HW: o->hw = optarg; break;
    case O_SOCKET: o->socket = optarg; break;
    case O_FOR:
      if (cli_parse_duration_ns(optarg, &o->for_ns) || o->for_ns <= 0) { cli_err("run: --for %s: not a duration (e.g. 5m, 30s, 2h)", optarg); return CLI_USAGE; }
      break;
    case O_SPEED:
      if (!strcmp(optarg, "max")) o->speed = 0;
      else {
        char *e;
        o->speed = strtod(optarg, &e);
        if (*e || !(o->speed > 0) || o->speed > 1e6) { cli_err("run: --speed %s: a factor > 0 or 'max'", optarg); return CLI_USAGE; }
      }
      break;
    case O_SEED:
      if (cli_parse_u64(optarg, &o->seed)) { cli_err("run: --seed %s: not a number", optarg); return CLI_USAGE; }
      break;
    case O_WINDOW: {
      uint64_t v;
      if (cli_parse_u64(optarg, &v) || (v != 200 && v != 1000 && v != 10000)) { cli_err("run: --window takes 200, 1000 or 10000 (ms)"); return CLI_USAGE; }
      o->window_ms = (uint32_t)v;
      break;
    }
    default: return cli_usage(cli_find("run"), false);
    }
  }
  if (optind != argc) return cli_usage(cli_find("run"), false);
  if (o->sim && o->hw) { cli_err("run: give --sim or --hw, not both"); return CLI_USAGE; }
  return 0;
}

int cli_cmd_run(int argc, char **argv)
{
  static struct daemon dd;
  struct daemon *d = &dd;
  memset(d, 0, sizeof *d);
  d->io_write_bytes0 = cli_proc_write_bytes();
  int rc = parse_opts(argc, argv, &d->o);
  if (rc) return rc;
  if (sodium_init() < 0) return CLI_ENV;
  daemon_notify_init(&d->notify);
  char err[512];
  if (d->o.hw) {
    /* Real hardware: the panel config names the spidev nodes and the gpiochip. */
    if (hw_panel_load_file(&d->hwpanel, d->o.hw, err, sizeof err)) { cli_err("%s", err); return CLI_USAGE; }
    if (d->o.speed != 1.0) { cli_err("run: --speed applies to simulation only; hardware runs in real time"); return CLI_USAGE; }
    d->hw = true;
    d->panel = &d->hwpanel;
    d->name = d->hwpanel.name;
    for (unsigned a = 0; a < d->panel->num_afes; a++) {
      rc = hw_spidev_open(&d->spidev[a], d->panel->afe[a].spidev, NULL);
      if (rc) {
        cli_err("run: afe %u: %s: %s", a + 1, d->panel->afe[a].spidev, hw_strerror(rc));
        for (unsigned k = 0; k < a; k++) hw_spidev_close(&d->spidev[k]);
        return CLI_ENV;
      }
    }
    if (d->panel->gpiochip[0] && (rc = hw_gpiochip_open(&d->gpiochip, d->panel->gpiochip, NULL))) {
      cli_err("run: %s: %s", d->panel->gpiochip, hw_strerror(rc));
      for (unsigned k = 0; k < d->panel->num_afes; k++) hw_spidev_close(&d->spidev[k]);
      return CLI_ENV;
    }
    d->hw_t0_boottime = boottime_ns();
  } else {
    d->sc = calloc(1, sizeof *d->sc);
    if (!d->sc) return CLI_ENV;
    const char *scen = d->o.sim ? d->o.sim : "default";
    if ((rc = hw_scenario_load(d->sc, scen, err, sizeof err))) {
      if (rc == HW_ENOSCENARIO) {
        char names[512] = "";
        for (const char *const *n = hw_scenario_names(); *n; n++) { strcat(names, " "); strcat(names, *n); }
        cli_err("run: --sim %s: no such shipped scenario or file (shipped:%s)", scen, names);
      } else {
        cli_err("%s", err);
      }
      free(d->sc);
      return CLI_USAGE;
    }
    if ((rc = hw_sim_create(&d->sim, d->sc, d->o.seed, err, sizeof err))) {
      cli_err("run: %s", err);
      free(d->sc);
      return CLI_USAGE;
    }
    d->panel = hw_sim_panel(d->sim);
    d->name = d->sc->name;
    d->sim_wall0 = hw_sim_wall_ns(d->sim);
  }

  /* Facts from the journal's tail fix the virtual epoch and the boot id before anything is
   * appended (deterministic for a given dir, scenario and seed). */
  int64_t last_wall = 0;
  uint8_t cfg_hash[32];
  uint32_t cfg_version = 0;
  bool have_cfg = false;
  uint64_t head = 0;
  if ((rc = journal_tail_facts(d, &head, &last_wall, cfg_hash, &cfg_version, &have_cfg))) {
    hw_sim_destroy(d->sim);
    free(d->sc);
    return cli_open_error(d->o.c.dir, d->o.c.counter, rc, 0);
  }
  if (d->o.speed == 0) {
    d->wall_base_ns = last_wall + 1000000000ll; /* one second after the newest record */
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    d->wall_base_ns = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
    if (d->wall_base_ns <= last_wall) d->wall_base_ns = last_wall + 1;
  }
  seed_boot_id(d, head);

  struct journal_options jo;
  memset(&jo, 0, sizeof jo);
  jo.dir = d->o.c.dir;
  jo.counter_path = d->o.c.counter;
  jo.accept_rollback = d->o.c.accept_rollback;
  if (!d->hw) {
    /* Under simulation every envelope time and the boot id come from the virtual clock and
     * the seed; on hardware the journal reads the real clocks and the kernel's boot id. */
    jo.clock.now = sim_clock;
    jo.clock.ctx = d;
    jo.virtual_clock = d->o.speed == 0;
    memcpy(jo.boot_id, d->boot_id, sizeof jo.boot_id);
  }
  /* The fold: every record is folded as it is appended and each seal carries its state hash;
   * checkpoints every 100 000 records or hour of record time. */
  /* Flash wear: metering groups share a commit every 15 s of panel time; a critical record
   * (request, command, sense-back, trip tap, boot, config, note…) commits at once with them. */
  jo.commit_hold_ns = 15000000000ull;
  struct replay_harness_options ho = { 100000, 3600ll * 1000000000ll, false };
  replay_harness_init(&d->h, &ho, &jo);
  int pid = 0;
  daemon_notify_status(&d->notify, "opening the journal in %s", d->o.c.dir);
  rc = journal_open(&d->j, &jo, &d->info, &pid);
  if (rc) {
    hw_sim_destroy(d->sim);
    free(d->sc);
    return cli_open_error(d->o.c.dir, d->o.c.counter, rc, pid);
  }
  if ((rc = replay_harness_attach(&d->h, d->j))) {
    if (rc == JOURNAL_EUNSEALED) cli_err("run: rebuilding state from the journal: %s", d->h.attach_why);
    else cli_err("run: rebuilding state from the journal: %s", journal_strerror(rc));
    journal_close(d->j);
    hw_sim_destroy(d->sim);
    free(d->sc);
    return rc == JOURNAL_EUNSEALED ? CLI_FAIL : CLI_ENV;
  }

  /* boot, then config if the scenario's panel differs from the journal's */
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = JOURNAL_T_BOOT;
  r.source.kind = JOURNAL_SRC_PANEL;
  memcpy(r.body.boot.boot_id, d->boot_id, 16);
  const char *reason = d->hw ? "power_on" : "sim";
  r.body.boot.reset_reason = (struct journal_slice){ (const uint8_t *)reason, (uint32_t)strlen(reason) };
  r.body.boot.previous_shutdown = d->info.last_shutdown_clean ? JOURNAL_SHUTDOWN_CLEAN : JOURNAL_SHUTDOWN_UNCLEAN;
  const char *fw = HEMS_FIRMWARE_VERSION;
  r.body.boot.firmware_version = (struct journal_slice){ (const uint8_t *)fw, (uint32_t)strlen(fw) };
  r.body.boot.rail_status = (struct journal_slice){ (const uint8_t *)"ok", 2 };
  static char cjson[256 * 1024];
  size_t clen = 0;
  uint8_t new_hash[32];
  bool cfg_differs = false;
  if (hw_panel_canonical_json(d->panel, cjson, sizeof cjson, &clen) == 0) {
    crypto_generichash(new_hash, 32, (const uint8_t *)cjson, clen, NULL, 0);
    cfg_differs = !have_cfg || memcmp(new_hash, cfg_hash, 32) != 0;
  }
  r.body.boot.config_version = cfg_differs ? cfg_version + 1 : cfg_version;
  d->cfg_version = r.body.boot.config_version;
  memcpy(d->cfg_hash, cfg_differs ? new_hash : cfg_hash, 32);
  rc = append(d, &r);
  if (!rc && cfg_differs) {
    memset(&r, 0, sizeof r);
    r.type = JOURNAL_T_CONFIG;
    r.source.kind = JOURNAL_SRC_PANEL;
    r.body.config.config_version = cfg_version + 1;
    memcpy(r.body.config.config_hash, new_hash, 32);
    r.body.config.json = (struct journal_slice){ (const uint8_t *)cjson, (uint32_t)clen };
    rc = append(d, &r);
    /* DIR/config.json follows the panel now in use; the dir's own local settings (roles,
     * retention) are kept, and held nowhere else: written to a temporary file, synced, renamed. */
    char path[4200], tmpp[4300];
    snprintf(path, sizeof path, "%s/config.json", d->o.c.dir);
    snprintf(tmpp, sizeof tmpp, "%s.tmp", path);
    json_t *old = cli_load_json_file(path), *neu = json_loadb(cjson, clen, 0, NULL);
    if (neu) {
      static const char *const keep[] = { "roles", "retention" };
      for (int i = 0; i < 2; i++) {
        json_t *v = old ? json_object_get(old, keep[i]) : NULL;
        if (v) json_object_set(neu, keep[i], v);
      }
      if (json_dump_file(neu, tmpp, JSON_SORT_KEYS | JSON_INDENT(1)) == 0) cli_replace_durably(tmpp, path, d->o.c.dir);
    }
    json_decref(old);
    json_decref(neu);
  }

  if (!rc && d->h.attach_rejected) {
    /* a checkpoint not proven by a signed seal was not used: say so in the journal */
    char detail[200];
    snprintf(detail, sizeof detail, "replay checkpoint at seq %llu rejected: %.150s", (unsigned long long)d->h.attach_rejected_seq,
             d->h.attach_why);
    append_fault(d, "checkpoint_rejected", (int64_t)d->h.attach_rejected_seq, 0, detail);
  }

  /* AFEs through the real driver over the (emulated) SPI transport */
  for (unsigned a = 0; a < d->panel->num_afes && !rc; a++) {
    struct hw_ade9000_config ac;
    hw_panel_ade9000_config(d->panel, a, &ac);
    if (d->hw) ac.delay_ns = sleep_ns;
    int arc = hw_ade9000_init(&d->afe[a], d->hw ? &d->spidev[a].spi : hw_sim_afe_spi(d->sim, a), &ac);
    d->afe_ok[a] = arc == 0;
    if (arc) {
      char detail[128];
      snprintf(detail, sizeof detail, "afe %u: %s", a + 1, hw_strerror(arc));
      append_fault(d, arc == HW_ECRC ? "spi_crc" : "afe_missing", arc, 0, detail);
    }
  }
  if (!rc && (rc = mains_init(d)) != 0) cli_err("run: mains ingest: %s", ingest_strerror(rc));

  /* Outputs come up in the state rebuilt from the journal (they revert when a line fd closes,
   * so a restarted daemon must never request them blind); unknown → the branch's fail-safe. */
  struct hw_gpio_chip *chip = d->hw ? (d->panel->gpiochip[0] ? &d->gpiochip.chip : NULL) : hw_sim_gpio_chip(d->sim);
  if (!rc && chip) {
    struct actuator_initial init;
    memset(&init, 0, sizeof init);
    /* A branch the journal knows nothing of (first boot, or added by a config change) comes
     * up at its fail-safe state — by a durable `command` (reason fail_safe) that is then
     * executed like any other, so its actuation and sense-back are journaled too. */
    struct pending_cmd boot_cmd[HW_MAX_BRANCHES + 1];
    unsigned nboot = 0;
    for (unsigned b = 0; b < d->panel->num_branches; b++) {
      const struct hw_panel_branch *pb = &d->panel->branch[b];
      const struct replay_branch *rb = pb->number <= REPLAY_BRANCHES_MAX ? &d->h.state.br[pb->number - 1] : NULL;
      uint8_t known = rb ? (rb->commanded ? rb->commanded : rb->sensed) : REPLAY_UNKNOWN;
      if (pb->fail_safe == HW_FAILSAFE_LAST_PROVEN && rb && rb->sensed) known = rb->sensed;
      if (known == REPLAY_ON) init.branch_on[b] = true;
      else if (known == REPLAY_OFF) init.branch_on[b] = false;
      else {
        init.branch_on[b] = pb->fail_safe != HW_FAILSAFE_OPEN;
        if (rb) boot_cmd[nboot++] = (struct pending_cmd){ .target = (uint16_t)pb->number, .on = init.branch_on[b] };
      }
    }
    init.service_connected = d->h.state.service_commanded != REPLAY_OFF;
    if (d->panel->line_service_coil != HW_LINE_NONE && d->h.state.service_commanded == REPLAY_UNKNOWN)
      boot_cmd[nboot++] = (struct pending_cmd){ .target = JOURNAL_TARGET_SERVICE, .on = true };
    for (unsigned i = 0; i < nboot && !rc; i++) {
      struct journal_record cr;
      memset(&cr, 0, sizeof cr);
      cr.type = JOURNAL_T_COMMAND;
      source_for_target(&cr.source, boot_cmd[i].target);
      cr.body.command.target = boot_cmd[i].target;
      cr.body.command.desired = boot_cmd[i].on ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF;
      cr.body.command.reason = JOURNAL_CMD_FAIL_SAFE;
      if ((rc = append_fx(d, &cr, &boot_cmd[i].seq, NULL, NULL)) == 0) d->commands++;
    }
    if (!rc && nboot && (rc = journal_sync(d->j)) != 0) cli_err("run: journal sync: %s", journal_strerror(rc));
    int arc = actuator_set_init(&d->act, chip, d->panel, &init, NULL, now_ns(d));
    d->act_ok = arc == 0;
    if (arc) {
      char detail[128];
      snprintf(detail, sizeof detail, "actuator outputs: %s", actuator_strerror(arc));
      append_fault(d, "gpio_request", arc, 0, detail);
    }
    arc = actuator_taps_init(&d->taps, chip, d->panel, tap_signature, d, now_ns(d));
    d->taps_ok = arc == 0;
    if (arc) {
      char detail[128];
      snprintf(detail, sizeof detail, "tap inputs: %s", actuator_strerror(arc));
      append_fault(d, "gpio_request", arc, 0, detail);
    }
    for (unsigned i = 0; i < nboot && d->act_ok && d->npending < PENDING_MAX; i++) d->pending[d->npending++] = boot_cmd[i];
    /* A command journaled but not proven before the last stop is re-driven now (it is durable). */
    for (unsigned n = 1; d->act_ok && n <= REPLAY_BRANCHES_MAX; n++) {
      uint64_t cs = d->h.state.br[n - 1].pending_seq;
      if (!cs || d->npending >= PENDING_MAX) continue;
      struct journal_reader *rd;
      struct journal_iter *it;
      if (journal_reader_attach(&rd, d->j)) continue;
      if (journal_iter_begin(rd, cs, &it) == 0) {
        const uint8_t *b;
        size_t len;
        struct journal_record cr;
        if (journal_iter_get(it, cs, &b, &len) == 0 && journal_record_decode(b, len, &cr) == 0 && cr.type == JOURNAL_T_COMMAND) {
          struct pending_cmd *p = &d->pending[d->npending++];
          p->seq = cs;
          p->target = cr.body.command.target;
          p->on = cr.body.command.desired == JOURNAL_DESIRED_ON;
          size_t rl = cr.body.command.request_id.len < 64 ? cr.body.command.request_id.len : 64;
          memcpy(p->request_id, cr.body.command.request_id.ptr, rl);
          p->request_id[rl] = 0;
        }
        journal_iter_end(it);
      }
      journal_reader_close(rd);
    }
  }
  d->next_window_ns = (uint64_t)d->o.window_ms * 1000000ull;
  /* Without a streaming mains AFE, power quality comes from the first working AFE's own
   * dip/swell registers (register path). */
  d->pq_afe = -1;
  for (unsigned a = 0; d->mains < 0 && a < d->panel->num_afes; a++)
    if (d->afe_ok[a]) { d->pq_afe = (int)a; break; }

  load_roles(d);
  d->next_retention_ns = 60ull * 1000000000ull; /* first pass a minute after start */

  /* loop */
  uv_loop_init(&d->loop);
  d->loop.data = d;
  char spath[4200], why[600];
  if (daemon_socket_choose(d->o.c.dir, d->o.socket, spath, why, sizeof why) != 0) {
    cli_err("run: control socket: %s (continuing without it)", why);
  } else {
    int src = daemon_socket_listen(&d->loop, &d->sock, spath);
    if (src) cli_err("run: control socket %s: %s (continuing without it)", spath, uv_strerror(src));
  }
  uv_signal_init(&d->loop, &d->sig_int);
  uv_signal_init(&d->loop, &d->sig_term);
  uv_signal_init(&d->loop, &d->sig_hup);
  d->sig_int.data = d->sig_term.data = d->sig_hup.data = d;
  uv_signal_start(&d->sig_int, on_signal, SIGINT);
  uv_signal_start(&d->sig_term, on_signal, SIGTERM);
  uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
  d->tty = isatty(STDERR_FILENO);
  d->watchdog = !d->o.sim && d->o.speed != 0;
  d->t_start_real = real_s();
  if (d->tty) {
    uv_timer_init(&d->loop, &d->status_timer);
    d->status_timer.data = d;
    uv_timer_start(&d->status_timer, on_status_timer, 250, 500);
  }
  if (d->o.speed == 0) {
    uv_idle_init(&d->loop, &d->idle);
    d->idle.data = d;
    uv_idle_start(&d->idle, on_idle);
  } else {
    uv_timer_init(&d->loop, &d->tick_timer);
    d->tick_timer.data = d;
    uv_timer_start(&d->tick_timer, on_tick_timer, 0, d->hw ? 16 : 4);
  }
  /* systemd hears READY=1 only now: the boot record durable, outputs requested, socket up */
  if (!rc && (rc = journal_sync(d->j)) != 0) cli_err("run: journal sync: %s", journal_strerror(rc));
  if (!rc) {
    daemon_notify_ready(&d->notify, "running: %s, head seq %llu", d->name, (unsigned long long)journal_head_seq(d->j));
    while (!d->stopping) uv_run(&d->loop, UV_RUN_DEFAULT);
  } else {
    d->exit_code = CLI_ENV;
  }
  daemon_notify_stopping(&d->notify, "stopping: sealing the journal");
  if (d->tty) { status_line(d); fputc('\n', stderr); }

  /* shutdown: stop accepting work, flush, seal, exit */
  flush_pending_taps(d, true);
  daemon_socket_stop(&d->sock);
  flush_rate_limited(d, true);
  uv_walk(&d->loop, close_walk, NULL);
  uv_run(&d->loop, UV_RUN_DEFAULT);
  uv_loop_close(&d->loop);
  if (d->eng_ok) ingest_engine_deinit(&d->eng);
  if (d->taps_ok) actuator_taps_deinit(&d->taps);
  if (d->act_ok) actuator_set_deinit(&d->act);
  uint64_t final_head = journal_head_seq(d->j);
  int crc = journal_close(d->j);
  if (crc && !d->exit_code) { cli_err("run: closing the journal: %s", journal_strerror(crc)); d->exit_code = CLI_ENV; }
  for (unsigned a = 0; a < d->panel->num_afes; a++) if (d->afe_ok[a]) hw_ade9000_deinit(&d->afe[a]);
  /* Our own storage writes only: /proc/self/io also counts the I/O of children reaped by
   * whoever exec'd this process (e.g. a build run by the shell that then exec'd hems). */
  uint64_t wnow = cli_proc_write_bytes();
  unsigned long long wbytes = wnow > d->io_write_bytes0 ? (unsigned long long)(wnow - d->io_write_bytes0) : 0;
  fprintf(stderr, "hems: run: %s: %.1f s of panel time, %llu windows, %llu pq events, %llu requests, %llu commands, "
          "%llu refusals, %llu faults; head seq %llu; storage_write_bytes %llu\n",
          d->name, (double)now_ns(d) / 1e9, (unsigned long long)d->windows, (unsigned long long)d->pq_events,
          (unsigned long long)d->requests, (unsigned long long)d->commands, (unsigned long long)d->refusals,
          (unsigned long long)d->faults, (unsigned long long)final_head, wbytes);
  hw_sim_destroy(d->sim);
  for (unsigned a = 0; d->hw && a < d->panel->num_afes; a++) hw_spidev_close(&d->spidev[a]);
  if (d->hw && d->panel->gpiochip[0]) hw_gpiochip_close(&d->gpiochip);
  json_decref(d->roles);
  free(d->sc);
  return d->exit_code;
}
