/*
 * run_mains.c — the waveform path of metering: the mains AFE's waveform buffer drained
 * every tick into the ingest engine, whose aggregated windows become `window` records, whose
 * events and Class A intervals become `pq_event` and `pq_aggregate` records (run_pq.c,
 * run_pq_agg.c) and whose captures become blobs (a trip tap waiting for one is run_taps.c's).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "run.h"

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
  /* a full disk: metering gives way (run_disk.c) */
  if (!run_disk_drop(d) && run_append(d, &r) == 0) d->windows++;
}

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
    if (c->reason) run_taps_capture_done(d, c->id, s->hash);
  }
  free(buf);
}

int run_mains_init(struct daemon *d)
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
  c->pq.dip_pct = p->pq.dip_pct; /* the panel config's "pq" (defaults: IEC 61000-4-30's 90/110/2/10) */
  c->pq.swell_pct = p->pq.swell_pct;
  c->pq.hysteresis_pct = p->pq.hysteresis_pct;
  c->pq.interruption_pct = p->pq.interruption_pct;
  c->t0_ns = d->wall_base_ns;
  c->nch = 6;
  static const char *const ph[3] = { "A", "B", "C" };
  for (unsigned k = 0; k < 3; k++) {
    struct ingest_channel_cfg *v = &c->ch[k], *i = &c->ch[3 + k];
    snprintf(v->name, sizeof v->name, "V%s", ph[k]);
    snprintf(v->phase, sizeof v->phase, "%s", ph[k]);
    v->kind = INGEST_KIND_VOLTAGE;
    /* calibration (docs/operations.md): the fixed-rate samples are taken before the chip's
     * gain and phase registers, so this path applies the panel's own */
    const struct hw_panel_afe *ma = &p->afe[d->mains];
    v->scale = hw_ade9000_wfb_volts_per_code(&d->afe[d->mains], k) * (ma->v_gain[k] > 0 ? ma->v_gain[k] : 1.0);
    v->offset = -ma->v_offset_v[k];
    v->voltage_ch = -1;
    snprintf(i->name, sizeof i->name, "I%s", ph[k]);
    snprintf(i->phase, sizeof i->phase, "%s", ph[k]);
    i->kind = INGEST_KIND_CURRENT;
    i->scale = hw_ade9000_wfb_amps_per_code(&d->afe[d->mains], k) * (ma->i_gain[k] > 0 ? ma->i_gain[k] : 1.0);
    i->phase_rad = ma->i_phase_deg[k] * M_PI / 180.0;
    i->voltage_ch = (int16_t)k;
  }
  c->ref_ch = 0;
  c->rvc_pct = p->pq.rvc_pct; /* Class A: flicker and unbalance on (the defaults) */
  c->rvc_hysteresis_pct = p->pq.rvc_hysteresis_pct;
  c->freq_band_pct = p->pq.freq_band_pct;
  struct ingest_sink sink = { d, eng_window, run_pq_mains, eng_capture };
  int rc = ingest_engine_init(&d->eng, c, &sink);
  if (rc) return rc;
  struct ingest_sink_class_a sa = { run_pq_mains, run_pq_aggregate };
  ingest_engine_set_class_a(&d->eng, &sa);
  d->eng_ok = true;
  return ingest_aggregator_init(&d->agg, d->o.window_ms);
}

void run_mains_drain(struct daemon *d)
{
  if (d->mains < 0 || !d->eng_ok) return;
  for (int guard = 0; guard < 4; guard++) {
    int rc = hw_ade9000_wfb_poll(&d->afe[d->mains], &d->half);
    if (rc) break;
    if (d->half.overruns) {
      char detail[96];
      snprintf(detail, sizeof detail, "mains afe: %u waveform buffer halves lost", d->half.overruns);
      run_fault(d, "late_window", d->half.overruns, 0, detail);
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

/* The mains AFE's IRQ0 (STATUS0.PAGE_FULL under MASK0, active low) requested as an input whose
 * assertions wake the loop through uv_poll (run_loop.c), so a filled half is drained when it
 * fills rather than at the next tick. Live runs only: at --speed max the ticks drain back to back
 * and the record stream stays a function of the seed. The tick drains too, so a line that cannot
 * be requested costs latency, not data: it is journaled as a gpio_request fault. */
void run_mains_irq_open(struct daemon *d, struct hw_gpio_chip *chip)
{
  if (d->mains < 0 || !d->eng_ok || (!d->hw && d->o.speed == 0)) return;
  struct hw_gpio_request_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.consumer = "hems-afe-irq";
  cfg.num_lines = 1;
  cfg.lines[0].offset = d->panel->afe[d->mains].line_irq;
  cfg.lines[0].active_low = true;
  cfg.lines[0].edges = HW_GPIO_EDGE_RISING; /* logical rising = the line pulled low = asserted */
  int rc = hw_gpio_request(chip, &cfg, &d->irq);
  d->irq_ok = rc == 0;
  if (rc) {
    char detail[128];
    snprintf(detail, sizeof detail, "mains afe irq line %u: %s", (unsigned)cfg.lines[0].offset, hw_strerror(rc));
    run_fault(d, "gpio_request", rc, 0, detail);
  }
}

void run_mains_irq(struct daemon *d)
{
  if (!d->irq_ok) return;
  struct hw_gpio_event ev[16];
  unsigned n = 0;
  do {
    if (hw_gpio_read_events(&d->irq, ev, 16, &n) != 0) break;
    for (unsigned i = 0; i < n; i++) d->irq_edges += ev[i].rising;
  } while (n == 16);
  d->irq_drains++;
  run_mains_drain(d);
}

void run_mains_irq_close(struct daemon *d)
{
  if (d->irq_ok) hw_gpio_release(&d->irq);
  d->irq_ok = false;
}
