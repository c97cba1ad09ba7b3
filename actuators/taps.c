/*
 * taps.c — trip taps (RCD, MCB, AFCI, leakage, temperature, tamper, power fail) and DER status
 * lines (PV, ESS, ATS) from GPIO edge events to `trip_tap` and `der` record bodies.
 *
 * Invariants:
 * - Event bursts are outside input: any offset, order, timestamp or seqno is accepted without
 *   crashing; unknown lines are counted and ignored; timestamps that run backwards are clamped
 *   per line; lost events (seqno gaps) are counted in gpio_overflow and force a resync of the
 *   line levels and a der record with reason "resync".
 * - A tap edge becomes one trip_tap record once its level has been stable for the tap's
 *   debounce period; its kernel_ns is the timestamp of the edge that started the stable level.
 * - Output is bounded by the caller's array: events are consumed only while room for their
 *   worst-case output remains, so nothing is dropped for lack of space.
 */
#include "actuators.h"

#include <errno.h>
#include <string.h>

enum { DL_PV_GRID_TIED = 0, DL_PV_FAULT, DL_ESS_CHARGING, DL_ESS_DISCHARGING, DL_ESS_ALARM,
       DL_ATS_GRID_PRESENT, DL_ATS_ON_BACKUP, DL_ATS_INTERLOCK_OK };

#define ROOM_PER_EVENT 4 /* one trip_tap + up to three der records */

/* Timestamps are outside input: a huge one must not wrap a deadline into the past. */
static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

static bool line_level(const struct actuator_taps *t, int i)
{
  return t->der_line[i] != HW_LINE_NONE && t->der_level[i];
}

static bool source_present(const struct actuator_taps *t, int src)
{
  const struct hw_panel_der *d = &t->panel->der;
  return src == JOURNAL_DER_PV ? d->pv : src == JOURNAL_DER_ESS ? d->ess : d->ats;
}

static void der_body(const struct actuator_taps *t, int src, struct journal_der *b)
{
  const struct hw_panel_der *d = &t->panel->der;
  memset(b, 0, sizeof *b);
  b->source = (uint8_t)src;
  if (src == JOURNAL_DER_PV) {
    b->state = line_level(t, DL_PV_FAULT) ? JOURNAL_DERST_FAULT
             : line_level(t, DL_PV_GRID_TIED) ? JOURNAL_DERST_GRID_TIED : JOURNAL_DERST_OFF;
    b->branch = (uint16_t)d->pv_branch;
  } else if (src == JOURNAL_DER_ESS) {
    b->state = line_level(t, DL_ESS_ALARM) ? JOURNAL_DERST_ALARM
             : line_level(t, DL_ESS_CHARGING) ? JOURNAL_DERST_CHARGING
             : line_level(t, DL_ESS_DISCHARGING) ? JOURNAL_DERST_DISCHARGING : JOURNAL_DERST_IDLE;
    b->branch = (uint16_t)d->ess_branch;
  } else {
    b->state = line_level(t, DL_ATS_ON_BACKUP) ? JOURNAL_DERST_ON_BACKUP
             : line_level(t, DL_ATS_GRID_PRESENT) ? JOURNAL_DERST_ON_GRID : JOURNAL_DERST_NO_SUPPLY;
  }
  if (d->ats) {
    b->transfer = line_level(t, DL_ATS_ON_BACKUP) ? JOURNAL_XFER_BACKUP : JOURNAL_XFER_GRID;
    b->grid_present = line_level(t, DL_ATS_GRID_PRESENT);
    b->interlock_ok = line_level(t, DL_ATS_INTERLOCK_OK);
  } else {
    b->transfer = JOURNAL_XFER_NONE;
    b->grid_present = 1; /* no ATS: nothing senses otherwise; the mains AFE reports outages */
    b->interlock_ok = 1;
  }
  b->fresh = t->der_fresh[src];
  b->reason = b->fresh ? t->der_reason : JOURNAL_DERR_STALE;
  b->kernel_ns = t->der_ns;
}

/* Emits a der record for each source whose sensed tuple changed (all of them on initial or
 * resync). Needs up to 3 slots. */
static void der_flush(struct actuator_taps *t, struct actuator_tap_record *out, unsigned max, unsigned *n)
{
  if (!t->der_dirty || max - *n < 3) return;
  for (int src = 0; src < 3; src++) {
    if (!source_present(t, src)) continue;
    struct journal_der b;
    der_body(t, src, &b);
    uint8_t key = (uint8_t)(b.state | b.interlock_ok << 4 | b.grid_present << 5 | (b.transfer == JOURNAL_XFER_BACKUP) << 6);
    if (t->der_reason == JOURNAL_DERR_EDGE && t->der_last_state[src] == key) continue;
    t->der_last_state[src] = key;
    struct actuator_tap_record *r = &out[(*n)++];
    memset(r, 0, sizeof *r);
    r->type = JOURNAL_T_DER;
    r->source.kind = JOURNAL_SRC_DER;
    r->source.sub = (uint8_t)src;
    r->body.der = b;
  }
  t->der_dirty = false;
  t->der_reason = JOURNAL_DERR_EDGE;
}

/* Settles a tap at time now: emits a trip_tap when its raw level has been stable long enough.
 * Needs one slot; without one the edge stays pending (raw_since is kept). */
static void tap_settle(struct actuator_taps *t, unsigned i, uint64_t now, struct actuator_tap_record *out,
                       unsigned max, unsigned *n)
{
  struct actuator__tap *tp = &t->tap[i];
  if (!tp->pending || tp->raw == tp->level) { tp->pending = false; return; }
  if (now < sat_add(tp->raw_since_ns, tp->debounce_ns) || *n >= max) return;
  tp->level = tp->raw;
  tp->pending = false;
  const struct hw_panel_tap *cfg = &t->panel->tap[i];
  struct actuator_tap_record *r = &out[(*n)++];
  memset(r, 0, sizeof *r);
  r->type = JOURNAL_T_TRIP_TAP;
  r->source.kind = JOURNAL_SRC_TAP;
  r->source.sub = (uint8_t)cfg->kind;
  r->source.index = (uint16_t)cfg->branch;
  struct journal_trip_tap *b = &r->body.trip_tap;
  b->kind = (uint8_t)cfg->kind;
  b->edge = tp->level ? JOURNAL_EDGE_RISING : JOURNAL_EDGE_FALLING;
  b->tap = (uint16_t)i;
  b->branch = (uint16_t)cfg->branch;
  b->line = tp->line;
  b->kernel_ns = tp->raw_since_ns;
  b->line_seqno = tp->line_seqno;
  b->dropped = tp->dropped;
  tp->dropped = 0;
  int32_t rms = 0, peak = 0;
  if (cfg->branch && t->signature && t->signature(t->signature_ctx, cfg->branch, b->kernel_ns, &rms, &peak)) {
    b->rms_ma = rms < 0 ? 0 : rms;
    b->peak_ma = peak < 0 ? 0 : peak;
    if (b->rms_ma > 0) b->crest_milli = (uint32_t)((uint64_t)b->peak_ma * 1000u / (uint32_t)b->rms_ma);
  }
}

static void tap_edge(struct actuator_taps *t, unsigned i, uint64_t ts, bool level, uint32_t line_seqno,
                     struct actuator_tap_record *out, unsigned max, unsigned *n)
{
  struct actuator__tap *tp = &t->tap[i];
  if (ts < tp->raw_since_ns) ts = tp->raw_since_ns;
  tap_settle(t, i, ts, out, max, n);
  tp->line_seqno = line_seqno;
  if (level == tp->raw) return;
  tp->raw = level;
  tp->raw_since_ns = ts;
  tp->pending = tp->raw != tp->level;
}

int actuator_taps_feed(struct actuator_taps *t, const struct hw_gpio_event *ev, unsigned n,
                       uint64_t now_ns, struct actuator_tap_record *out, unsigned max, unsigned *out_n)
{
  unsigned produced = 0, used = 0;
  for (; used < n && max - produced >= ROOM_PER_EVENT; used++) {
    const struct hw_gpio_event *e = &ev[used];
    t->events++;
    if (e->dropped_before) {
      t->gpio_overflow += e->dropped_before;
      t->pending_dropped += e->dropped_before;
      t->der_dirty = true;
      t->der_reason = JOURNAL_DERR_RESYNC;
    }
    bool known = false;
    for (unsigned i = 0; i < t->num_taps; i++)
      if (t->tap[i].line == e->offset) {
        if (t->pending_dropped) { t->tap[i].dropped += t->pending_dropped; }
        tap_edge(t, i, e->timestamp_ns, e->rising, e->line_seqno, out, max, &produced);
        known = true;
        break;
      }
    for (int i = 0; !known && i < ACTUATOR__DER_LINES; i++)
      if (t->der_line[i] == e->offset) {
        if (t->der_level[i] != e->rising) {
          t->der_level[i] = e->rising;
          t->der_dirty = true;
          if (e->timestamp_ns > t->der_ns) t->der_ns = e->timestamp_ns;
        }
        known = true;
      }
    if (known) t->pending_dropped = 0;
    else t->unknown_events++;
  }
  for (unsigned i = 0; i < t->num_taps; i++) tap_settle(t, i, now_ns, out, max, &produced);
  der_flush(t, out, max, &produced);
  *out_n = produced;
  return (int)used;
}

uint64_t actuator_taps_next_due_ns(const struct actuator_taps *t)
{
  const struct hw_panel_der *d = &t->panel->der;
  uint64_t due = d->pv || d->ess || d->ats ? t->der_check_ns : UINT64_MAX;
  for (unsigned i = 0; i < t->num_taps; i++)
    if (t->tap[i].pending && sat_add(t->tap[i].raw_since_ns, t->tap[i].debounce_ns) < due)
      due = sat_add(t->tap[i].raw_since_ns, t->tap[i].debounce_ns);
  return due;
}

/* The DER check: each present source's lines read on their own (a source whose lines do not
 * answer is stale, the others stay fresh); every source is reported (reason resync). */
static void der_check(struct actuator_taps *t, uint64_t now_ns)
{
  static const int first[3] = { DL_PV_GRID_TIED, DL_ESS_CHARGING, DL_ATS_GRID_PRESENT };
  static const int count[3] = { 2, 3, 3 };
  struct hw_gpio_lines *l = &t->req[0];
  /* on a 5 s grid from the start (a late poll does not shift the ones after it) */
  t->der_check_ns = sat_add(t->der_check_ns, ACTUATOR_DER_CHECK_NS);
  if (t->der_check_ns <= now_ns) t->der_check_ns = sat_add(now_ns, ACTUATOR_DER_CHECK_NS);
  if (!t->num_req) return;
  for (int src = 0; src < 3; src++) {
    if (!source_present(t, src)) continue;
    uint64_t mask = 0;
    for (int i = first[src]; i < first[src] + count[src]; i++)
      for (unsigned k = 0; k < l->num_lines && k < 64; k++)
        if (t->der_line[i] != HW_LINE_NONE && l->offsets[k] == t->der_line[i]) mask |= 1ull << k;
    uint64_t bits = 0;
    t->der_fresh[src] = mask == 0 || hw_gpio_get(l, mask, &bits) == 0;
    if (!t->der_fresh[src] || !mask) continue;
    for (int i = first[src]; i < first[src] + count[src]; i++)
      for (unsigned k = 0; k < l->num_lines && k < 64; k++)
        if ((mask >> k) & 1 && l->offsets[k] == t->der_line[i]) t->der_level[i] = (bits >> k) & 1;
  }
  t->der_ns = now_ns;
  t->der_dirty = true;
  t->der_reason = JOURNAL_DERR_RESYNC;
}

static int read_levels(struct actuator_taps *t, unsigned q, uint64_t now_ns, bool initial)
{
  struct hw_gpio_lines *l = &t->req[q];
  uint64_t bits = 0, mask = l->num_lines >= 64 ? UINT64_MAX : (1ull << l->num_lines) - 1;
  int r = hw_gpio_get(l, mask, &bits);
  if (r < 0) return r;
  for (unsigned k = 0; k < l->num_lines; k++) {
    bool v = (bits >> k) & 1;
    for (unsigned i = 0; i < t->num_taps; i++)
      if (t->tap[i].line == l->offsets[k]) {
        if (initial) { t->tap[i].raw = t->tap[i].level = v; t->tap[i].raw_since_ns = now_ns; }
        else if (v != t->tap[i].raw) { t->tap[i].raw = v; t->tap[i].raw_since_ns = now_ns; t->tap[i].pending = v != t->tap[i].level; }
      }
    for (int i = 0; i < ACTUATOR__DER_LINES; i++)
      if (t->der_line[i] == l->offsets[k]) t->der_level[i] = v;
  }
  t->der_ns = now_ns;
  return 0;
}

int actuator_taps_init(struct actuator_taps *t, struct hw_gpio_chip *chip, const struct hw_panel *panel,
                       actuator_signature_fn signature, void *signature_ctx, uint64_t now_ns)
{
  if (!t || !chip || !panel || panel->num_taps > HW_MAX_TAPS) return ACTUATOR_EINVAL;
  memset(t, 0, sizeof *t);
  for (unsigned q = 0; q < 2; q++) t->req[q].fd = -1;
  t->panel = panel;
  t->signature = signature;
  t->signature_ctx = signature_ctx;
  t->num_taps = panel->num_taps;
  struct hw_gpio_request_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.consumer = "hems-taps";
  for (unsigned i = 0; i < panel->num_taps; i++) {
    const struct hw_panel_tap *tp = &panel->tap[i];
    t->tap[i].line = tp->line;
    t->tap[i].debounce_ns = tp->debounce_us * 1000u;
    if (tp->line == HW_LINE_NONE) continue;
    struct hw_gpio_line_config *lc = &cfg.lines[cfg.num_lines++];
    lc->offset = tp->line;
    lc->active_low = tp->active_low;
    lc->edges = HW_GPIO_EDGE_BOTH;
  }
  const struct hw_panel_der *d = &panel->der;
  const uint32_t lines[ACTUATOR__DER_LINES] = {
    d->pv ? d->line_pv_grid_tied : HW_LINE_NONE, d->pv ? d->line_pv_fault : HW_LINE_NONE,
    d->ess ? d->line_ess_charging : HW_LINE_NONE, d->ess ? d->line_ess_discharging : HW_LINE_NONE,
    d->ess ? d->line_ess_alarm : HW_LINE_NONE, d->ats ? d->line_ats_grid_present : HW_LINE_NONE,
    d->ats ? d->line_ats_on_backup : HW_LINE_NONE, d->ats ? d->line_ats_interlock_ok : HW_LINE_NONE };
  for (int i = 0; i < ACTUATOR__DER_LINES; i++) {
    t->der_line[i] = lines[i];
    if (lines[i] == HW_LINE_NONE) continue;
    struct hw_gpio_line_config *lc = &cfg.lines[cfg.num_lines++];
    lc->offset = lines[i];
    lc->edges = HW_GPIO_EDGE_BOTH;
  }
  memset(t->der_last_state, 0xff, sizeof t->der_last_state);
  for (int src = 0; src < 3; src++) t->der_fresh[src] = true;
  t->der_check_ns = sat_add(now_ns, ACTUATOR_DER_CHECK_NS);
  t->der_dirty = d->pv || d->ess || d->ats;
  t->der_reason = JOURNAL_DERR_INITIAL;
  if (cfg.num_lines == 0) return 0;
  int r = hw_gpio_request(chip, &cfg, &t->req[0]);
  if (r < 0) return r;
  t->num_req = 1;
  if ((r = read_levels(t, 0, now_ns, true)) < 0) { actuator_taps_deinit(t); return r; }
  return 0;
}

void actuator_taps_deinit(struct actuator_taps *t)
{
  if (!t) return;
  for (unsigned q = 0; q < 2; q++)
    if (t->req[q].ops) hw_gpio_release(&t->req[q]);
  t->num_req = 0;
}

int actuator_taps_poll(struct actuator_taps *t, uint64_t now_ns, struct actuator_tap_record *out,
                       unsigned max, unsigned *out_n)
{
  *out_n = 0;
  unsigned n = 0;
  struct hw_gpio_event ev[32];
  for (unsigned q = 0; q < t->num_req; q++) {
    for (;;) {
      unsigned room = (max - n) / ROOM_PER_EVENT;
      if (room == 0) break;
      if (room > 32) room = 32;
      unsigned got = 0;
      int r = hw_gpio_read_events(&t->req[q], ev, room, &got);
      if (r < 0) return r;
      unsigned produced = 0;
      bool lost = false;
      for (unsigned k = 0; k < got; k++) lost |= ev[k].dropped_before != 0;
      r = actuator_taps_feed(t, ev, got, now_ns, out + n, max - n, &produced);
      if (r < 0) return r;
      n += produced;
      if (lost && read_levels(t, q, now_ns, false) == 0) { /* the levels are the truth after a gap */
        t->der_dirty = true;
        t->der_reason = JOURNAL_DERR_RESYNC;
      }
      if (got < room) break;
    }
  }
  /* settle debounced taps and flush DER state even when no event arrived (first poll, timers) */
  for (unsigned i = 0; i < t->num_taps; i++) tap_settle(t, i, now_ns, out, max, &n);
  if ((t->panel->der.pv || t->panel->der.ess || t->panel->der.ats) && now_ns >= t->der_check_ns && max - n >= 3)
    der_check(t, now_ns);
  der_flush(t, out, max, &n);
  *out_n = n;
  return 0;
}
