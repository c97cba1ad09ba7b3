/*
 * driver.c — actuator drivers (monostable, latching, contactor, SSR/triac, eFuse, service
 * disconnect) over GPIO line requests, and the sense-back classifier.
 *
 * Invariants:
 * - No output line changes except inside actuator_execute, after the durable-seq check, or when
 *   a latching pulse that execute started ends (actuator_poll). Init only *requests* outputs,
 *   with the caller's initial values.
 * - Every successful actuator_execute opens exactly one sense window; actuator_poll closes it
 *   exactly once (early confirmation or deadline), so each command yields one sense_back.
 * - Evidence never comes from the output line itself: aux/power-good and load-side voltage
 *   inputs (debounced here on event timestamps) and metering samples fed by the caller.
 * - Bounded: fixed arrays, no allocation, linear scans over at most 49 actuators.
 */
#include "actuators.h"

#include <errno.h>
#include <string.h>

#define NS_PER_MS 1000000ull

/* Event timestamps are outside input: never let a huge one wrap a deadline into the past. */
static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

void actuator_thresholds_default(struct actuator_thresholds *t)
{
  memset(t, 0, sizeof *t);
  t->current_on_ma = 250;
  t->current_zero_ma = 20;
  t->aux_debounce_us = 10000;
  t->chatter_edges = 2;
  t->settle_ms = 80;
  t->sample_max_age_ms = 250;
  t->pulse_ms = 50;
  t->deadline_ms[HW_ACT_MONOSTABLE] = 250;
  t->deadline_ms[HW_ACT_LATCHING] = 300;
  t->deadline_ms[HW_ACT_CONTACTOR] = 300;
  t->deadline_ms[HW_ACT_SSR] = 150;
  t->deadline_ms[HW_ACT_EFUSE] = 150;
  t->deadline_ms[ACTUATOR_TYPE_SERVICE] = 400;
}

/* ------------------------------------------------------------------ inputs */

static void input_init(struct actuator__input *in, uint32_t line)
{
  memset(in, 0, sizeof *in);
  in->line = line;
}

/* Accept the raw level once it has been stable for debounce_ns, as of time t. */
static void input_settle(struct actuator__input *in, uint64_t t, uint64_t debounce_ns)
{
  if (in->line == HW_LINE_NONE || in->raw == in->level) return;
  if (t >= sat_add(in->raw_since_ns, debounce_ns)) {
    in->level = in->raw;
    in->edges++;
    in->changed_ns = sat_add(in->raw_since_ns, debounce_ns);
  }
}

static void input_edge(struct actuator__input *in, uint64_t t, bool level, uint64_t debounce_ns)
{
  if (t < in->raw_since_ns) t = in->raw_since_ns; /* never let time run backwards */
  input_settle(in, t, debounce_ns);
  if (level == in->raw) return;
  in->raw = level;
  in->raw_since_ns = t;
}

/* ------------------------------------------------------------------ helpers */

static struct actuator__unit *unit_of(struct actuator_set *s, uint16_t target)
{
  for (unsigned i = 0; i < s->num_units; i++)
    if (s->unit[i].target == target) return &s->unit[i];
  return NULL;
}

static const struct actuator__unit *unit_of_c(const struct actuator_set *s, uint16_t target)
{
  for (unsigned i = 0; i < s->num_units; i++)
    if (s->unit[i].target == target) return &s->unit[i];
  return NULL;
}

static uint64_t debounce_ns(const struct actuator_set *s) { return (uint64_t)s->th.aux_debounce_us * 1000; }

static uint8_t cur_class(const struct actuator_set *s, int32_t rms_ma)
{
  uint32_t a = rms_ma < 0 ? (uint32_t)(-(int64_t)rms_ma) : (uint32_t)rms_ma;
  if (a >= s->th.current_on_ma) return 2;
  if (a > s->th.current_zero_ma) return 1;
  return 0;
}

static int set_bit(struct actuator_set *s, int req, int idx, bool v)
{
  if (req < 0 || idx < 0) return ACTUATOR_ENOLINE;
  uint64_t m = 1ull << idx;
  return hw_gpio_set(&s->out_req[req], m, v ? m : 0);
}

/* ------------------------------------------------------------------ init */

/* Appends a line to the last request config, opening a new one when fewer than `need` slots
 * remain (so both coils of a latching relay share one request). */
static int add_line(struct hw_gpio_request_config *cfgs, unsigned *nreq, unsigned maxreq, unsigned need,
                    const struct hw_gpio_line_config *lc, int *out_req, int *out_idx)
{
  if (*nreq == 0 || cfgs[*nreq - 1].num_lines + need > HW_GPIO_MAX_LINES) {
    if (*nreq == maxreq) return ACTUATOR_ETOOMANY;
    memset(&cfgs[*nreq], 0, sizeof cfgs[*nreq]);
    (*nreq)++;
  }
  struct hw_gpio_request_config *c = &cfgs[*nreq - 1];
  *out_req = (int)(*nreq - 1);
  *out_idx = (int)c->num_lines;
  c->lines[c->num_lines++] = *lc;
  return 0;
}

int actuator_set_init(struct actuator_set *s, struct hw_gpio_chip *chip, const struct hw_panel *panel,
                      const struct actuator_initial *init, const struct actuator_thresholds *th,
                      uint64_t now_ns)
{
  if (!s || !chip || !panel || panel->num_branches > HW_MAX_BRANCHES) return ACTUATOR_EINVAL;
  memset(s, 0, sizeof *s);
  for (unsigned i = 0; i < ACTUATOR__MAX_REQ; i++) { s->out_req[i].fd = -1; s->in_req[i].fd = -1; }
  s->panel = panel;
  if (th) s->th = *th;
  else actuator_thresholds_default(&s->th);

  for (unsigned k = 0; k < panel->num_branches; k++) {
    const struct hw_panel_branch *b = &panel->branch[k];
    struct actuator__unit *u = &s->unit[s->num_units++];
    u->target = (uint16_t)b->number;
    u->type = (uint8_t)b->actuator;
    u->active_low = b->coil_active_low;
    u->held = init ? init->branch_on[k] : false;
    u->line_out = b->line_coil;
    u->line_out2 = b->actuator == HW_ACT_LATCHING ? b->line_coil_reset : HW_LINE_NONE;
    input_init(&u->aux, b->line_aux);
    input_init(&u->sense, b->line_sense);
  }
  if (panel->line_service_coil != HW_LINE_NONE) {
    struct actuator__unit *u = &s->unit[s->num_units++];
    u->target = JOURNAL_TARGET_SERVICE;
    u->type = JOURNAL_ACTR_SERVICE;
    u->active_low = true; /* the coil is energised to disconnect: logical 1 = connected */
    u->held = init ? init->service_connected : true;
    u->line_out = panel->line_service_coil;
    u->line_out2 = HW_LINE_NONE;
    input_init(&u->aux, panel->line_service_aux);
    input_init(&u->sense, HW_LINE_NONE);
  }

  /* Build the requests: outputs with the initial values, inputs with both edges. The request
   * configs are large (64 lines each); keep them static-free by building one at a time. */
  struct hw_gpio_request_config cfg[ACTUATOR__MAX_REQ];
  unsigned nreq = 0;
  int r = 0;
  for (unsigned i = 0; i < s->num_units && r == 0; i++) {
    struct actuator__unit *u = &s->unit[i];
    u->out_req = u->out_idx = u->out2_idx = -1;
    u->pulse_line_idx = -1;
    unsigned need = (u->line_out != HW_LINE_NONE) + (u->line_out2 != HW_LINE_NONE);
    struct hw_gpio_line_config lc = { .output = true, .active_low = u->active_low };
    if (u->line_out != HW_LINE_NONE) {
      lc.offset = u->line_out;
      /* latching relays rest with the coil off; everything else holds its state on the line */
      lc.initial_value = u->type == JOURNAL_ACTR_LATCHING ? false : u->held;
      r = add_line(cfg, &nreq, ACTUATOR__MAX_REQ, need, &lc, &u->out_req, &u->out_idx);
    }
    if (r == 0 && u->line_out2 != HW_LINE_NONE && u->out_req >= 0) {
      lc.offset = u->line_out2;
      lc.initial_value = false;
      int rq = -1;
      r = add_line(cfg, &nreq, ACTUATOR__MAX_REQ, 1, &lc, &rq, &u->out2_idx);
    }
  }
  if (r < 0) return r;
  for (unsigned q = 0; q < nreq; q++) {
    if (cfg[q].num_lines == 0) continue;
    cfg[q].consumer = "hems-actuators";
    if ((r = hw_gpio_request(chip, &cfg[q], &s->out_req[q])) < 0) goto fail;
    s->num_out_req = q + 1;
  }

  unsigned nin = 0;
  for (unsigned i = 0; i < s->num_units; i++) {
    struct actuator__unit *u = &s->unit[i];
    struct actuator__input *ins[2] = { &u->aux, &u->sense };
    for (int w = 0; w < 2; w++) {
      if (ins[w]->line == HW_LINE_NONE) continue;
      struct hw_gpio_line_config lc = { .offset = ins[w]->line, .edges = HW_GPIO_EDGE_BOTH };
      int rq, idx;
      if ((r = add_line(cfg, &nin, ACTUATOR__MAX_REQ, 1, &lc, &rq, &idx)) < 0) goto fail;
    }
  }
  for (unsigned q = 0; q < nin; q++) {
    cfg[q].consumer = "hems-sense";
    if ((r = hw_gpio_request(chip, &cfg[q], &s->in_req[q])) < 0) goto fail;
    s->num_in_req = q + 1;
    uint64_t bits = 0, mask = cfg[q].num_lines >= 64 ? UINT64_MAX : (1ull << cfg[q].num_lines) - 1;
    if ((r = hw_gpio_get(&s->in_req[q], mask, &bits)) < 0) goto fail;
    for (unsigned l = 0; l < cfg[q].num_lines; l++)
      for (unsigned i = 0; i < s->num_units; i++) {
        struct actuator__input *ins[2] = { &s->unit[i].aux, &s->unit[i].sense };
        for (int w = 0; w < 2; w++)
          if (ins[w]->line == cfg[q].lines[l].offset) {
            ins[w]->raw = ins[w]->level = (bits >> l) & 1;
            ins[w]->raw_since_ns = ins[w]->changed_ns = now_ns;
          }
      }
  }
  return 0;
fail:
  actuator_set_deinit(s);
  return r;
}

void actuator_set_deinit(struct actuator_set *s)
{
  if (!s) return;
  for (unsigned q = 0; q < ACTUATOR__MAX_REQ; q++) {
    if (s->out_req[q].ops) hw_gpio_release(&s->out_req[q]);
    if (s->in_req[q].ops) hw_gpio_release(&s->in_req[q]);
  }
  s->num_out_req = s->num_in_req = 0;
}

/* ------------------------------------------------------------------ execute */

int actuator_execute(struct actuator_set *s, const struct actuator_command *cmd, uint64_t command_seq,
                     uint64_t durable_seq, uint64_t now_ns, struct journal_actuation *out)
{
  if (!s || !cmd || !out) return ACTUATOR_EINVAL;
  /* Invariant 7: the command record must be durable before anything moves. */
  if (command_seq == 0 || command_seq > durable_seq) return ACTUATOR_ENOTDURABLE;
  struct actuator__unit *u = unit_of(s, cmd->target);
  if (!u) return ACTUATOR_ENOTARGET;
  if (command_seq <= u->last_command_seq) return ACTUATOR_ESTALE;
  if (u->window) return ACTUATOR_EBUSY;
  if (u->out_req < 0) return ACTUATOR_ENOLINE;

  memset(out, 0, sizeof *out);
  size_t idl = 0;
  if (cmd->request_id) {
    idl = strnlen(cmd->request_id, sizeof u->request_id - 1);
    memcpy(u->request_id, cmd->request_id, idl);
  }
  u->request_id[idl] = 0;
  out->target = u->target;
  out->actuator = u->type;
  out->desired = cmd->on ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF;
  out->command_seq = command_seq;
  out->request_id.ptr = (const uint8_t *)u->request_id;
  out->request_id.len = (uint32_t)idl;
  out->t_ns = now_ns;
  out->line = u->line_out;
  out->action = JOURNAL_ACTION_NONE;
  out->result = JOURNAL_ACTRES_OK;

  bool moved = false;
  if (cmd->on == u->held) {
    out->result = JOURNAL_ACTRES_NO_OP; /* held: no coil energy, no pulse, no line write */
  } else {
    int r;
    switch (u->type) {
    case JOURNAL_ACTR_LATCHING: {
      int idx = cmd->on ? u->out_idx : u->out2_idx;
      out->line = cmd->on ? u->line_out : u->line_out2;
      out->action = cmd->on ? JOURNAL_ACTION_PULSE_SET : JOURNAL_ACTION_PULSE_RESET;
      out->pulse_us = s->th.pulse_ms * 1000u;
      r = set_bit(s, u->out_req, idx, true);
      if (r == 0) {
        u->pulse_line_idx = idx;
        u->pulse_end_ns = now_ns + (uint64_t)s->th.pulse_ms * NS_PER_MS;
      }
      break;
    }
    case JOURNAL_ACTR_SSR:
      out->action = cmd->on ? JOURNAL_ACTION_GATE_ON : JOURNAL_ACTION_GATE_OFF;
      r = set_bit(s, u->out_req, u->out_idx, cmd->on);
      break;
    case JOURNAL_ACTR_EFUSE:
      out->action = cmd->on ? JOURNAL_ACTION_ENABLE_ON : JOURNAL_ACTION_ENABLE_OFF;
      r = set_bit(s, u->out_req, u->out_idx, cmd->on);
      break;
    default: /* monostable, contactor, service: record what the coil physically does */
      out->action = (cmd->on ^ u->active_low) ? JOURNAL_ACTION_COIL_ON : JOURNAL_ACTION_COIL_OFF;
      r = set_bit(s, u->out_req, u->out_idx, cmd->on);
      break;
    }
    if (r < 0) {
      out->result = JOURNAL_ACTRES_FAILED;
      out->error = r;
    } else {
      moved = true;
    }
    u->held = cmd->on;
  }

  u->last_command_seq = command_seq;
  u->command_seq = command_seq;
  u->window = true;
  u->moved = moved;
  u->desired = out->desired;
  u->start_ns = now_ns;
  u->quiet_since_ns = now_ns;
  u->deadline_ns = now_ns + (uint64_t)s->th.deadline_ms[u->type < ACTUATOR_TYPES ? u->type : 0] * NS_PER_MS;
  u->aux.edges = 0;
  u->sense.edges = 0;
  u->inrush_peak_ma = 0;
  u->cur_class = u->have_sample ? cur_class(s, u->sample_rms_ma) : 0;
  return 0;
}

int actuator_execute_journaled(struct actuator_set *s, struct journal *j, const struct actuator_command *cmd,
                               uint64_t command_seq, uint64_t now_ns, struct journal_actuation *out)
{
  if (!j) return ACTUATOR_EINVAL;
  return actuator_execute(s, cmd, command_seq, journal_durable_seq(j), now_ns, out);
}

/* ------------------------------------------------------------------ metering */

int actuator_feed_current(struct actuator_set *s, unsigned branch, uint64_t t_ns, int32_t rms_ma,
                          int32_t peak_ma, int32_t supply_mv)
{
  if (branch == 0 || branch > 0xffff) return ACTUATOR_ENOTARGET;
  struct actuator__unit *u = unit_of(s, (uint16_t)branch);
  if (!u) return ACTUATOR_ENOTARGET;
  if (rms_ma < 0) rms_ma = rms_ma == INT32_MIN ? INT32_MAX : -rms_ma;
  if (peak_ma < 0) peak_ma = peak_ma == INT32_MIN ? INT32_MAX : -peak_ma;
  u->have_sample = true;
  u->sample_ns = t_ns;
  u->sample_rms_ma = rms_ma;
  u->sample_peak_ma = peak_ma;
  u->supply_mv = supply_mv;
  if (u->window && t_ns >= u->start_ns) {
    if (u->desired == JOURNAL_DESIRED_ON && peak_ma > u->inrush_peak_ma) u->inrush_peak_ma = peak_ma;
    uint8_t c = cur_class(s, rms_ma);
    if (c != u->cur_class) {
      u->cur_class = c;
      if (t_ns > u->quiet_since_ns) u->quiet_since_ns = t_ns;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------ sense-back */

struct evidence {
  bool aux_wired, aux_closed, sense_wired, sense_high, metered;
  int32_t cur_ma;
  uint8_t verdict, sensed;
};

static void classify(const struct actuator_set *s, const struct actuator__unit *u, uint64_t now,
                     struct evidence *e)
{
  memset(e, 0, sizeof *e);
  e->aux_wired = u->aux.line != HW_LINE_NONE;
  e->aux_closed = e->aux_wired && u->aux.level;
  e->sense_wired = u->sense.line != HW_LINE_NONE;
  e->sense_high = e->sense_wired && u->sense.level;
  uint64_t max_age = (uint64_t)s->th.sample_max_age_ms * NS_PER_MS;
  e->metered = u->have_sample && u->sample_ns >= u->start_ns && now <= u->sample_ns + max_age;
  e->cur_ma = u->have_sample ? u->sample_rms_ma : 0;
  bool flows = e->metered && (uint32_t)e->cur_ma >= s->th.current_on_ma;
  bool residual = e->metered && !flows && (uint32_t)e->cur_ma > s->th.current_zero_ma;
  bool any = e->aux_wired || e->sense_wired || e->metered;

  unsigned expected = u->moved ? 1 : 0;
  if (e->aux_wired && u->aux.edges >= expected + s->th.chatter_edges) {
    e->verdict = JOURNAL_VERDICT_CHATTER;
    e->sensed = JOURNAL_SENSED_UNKNOWN;
    return;
  }
  bool closed_ev = e->aux_closed || e->sense_high || flows;
  if (u->desired == JOURNAL_DESIRED_OFF) {
    if (closed_ev) { /* current flows, aux closed, or full voltage on the load side */
      e->verdict = JOURNAL_VERDICT_WELDED;
      e->sensed = JOURNAL_SENSED_ON;
    } else if (residual) { /* small current, no load-side voltage, aux open: off-state leakage */
      e->verdict = JOURNAL_VERDICT_LEAKAGE;
      e->sensed = JOURNAL_SENSED_OFF;
    } else if (!any) {
      e->verdict = JOURNAL_VERDICT_NO_FEEDBACK;
      e->sensed = JOURNAL_SENSED_UNKNOWN;
    } else {
      e->verdict = JOURNAL_VERDICT_CONFIRMED;
      e->sensed = JOURNAL_SENSED_OFF;
    }
    return;
  }
  if (closed_ev) {
    e->verdict = JOURNAL_VERDICT_CONFIRMED;
    e->sensed = JOURNAL_SENSED_ON;
  } else if ((e->aux_wired && !e->aux_closed) || (e->sense_wired && !e->sense_high)) {
    e->verdict = JOURNAL_VERDICT_STUCK_OPEN; /* no current and the contact reads open */
    e->sensed = JOURNAL_SENSED_OFF;
  } else { /* only metering, and it reads zero: a closed switch with no load looks the same */
    e->verdict = JOURNAL_VERDICT_NO_FEEDBACK;
    e->sensed = JOURNAL_SENSED_UNKNOWN;
  }
}

static uint64_t quiet_since(const struct actuator__unit *u)
{
  uint64_t q = u->quiet_since_ns;
  if (u->aux.line != HW_LINE_NONE && u->aux.edges && u->aux.changed_ns > q) q = u->aux.changed_ns;
  if (u->sense.line != HW_LINE_NONE && u->sense.edges && u->sense.changed_ns > q) q = u->sense.changed_ns;
  if (u->pulse_end_ns > q && u->pulse_end_ns > u->start_ns) q = u->pulse_end_ns;
  return q;
}

static bool can_confirm_early(const struct actuator_set *s, const struct actuator__unit *u, uint64_t now,
                              const struct evidence *e)
{
  if (e->verdict != JOURNAL_VERDICT_CONFIRMED || u->pulse_line_idx >= 0) return false;
  uint64_t settle = (uint64_t)s->th.settle_ms * NS_PER_MS;
  uint64_t q = quiet_since(u);
  if (now < sat_add(q, settle)) return false;
  /* debounce still pending on an input: not quiet */
  if (u->aux.line != HW_LINE_NONE && u->aux.raw != u->aux.level) return false;
  if (u->sense.line != HW_LINE_NONE && u->sense.raw != u->sense.level) return false;
  /* metering fed: want a sample taken well after the last change */
  if (u->have_sample && u->sample_ns < q + settle / 2) return false;
  return true;
}

static void close_window(struct actuator_set *s, struct actuator__unit *u, uint64_t now,
                         const struct evidence *e, struct actuator_sense_result *res)
{
  memset(res, 0, sizeof *res);
  if (u->target == JOURNAL_TARGET_SERVICE) res->source.kind = JOURNAL_SRC_PANEL;
  else { res->source.kind = JOURNAL_SRC_BRANCH; res->source.index = u->target; }
  struct journal_sense_back *b = &res->body;
  b->target = u->target;
  b->actuator = u->type;
  b->commanded = u->desired;
  b->sensed = e->sensed;
  b->verdict = e->verdict;
  b->aux = e->aux_wired ? (e->aux_closed ? JOURNAL_AUX_CLOSED : JOURNAL_AUX_OPEN) : JOURNAL_AUX_NOT_WIRED;
  b->aux_edges = u->aux.edges;
  b->load_v = e->sense_wired ? (e->sense_high ? JOURNAL_LOADV_PRESENT : JOURNAL_LOADV_ABSENT) : JOURNAL_LOADV_NOT_WIRED;
  b->metered = e->metered;
  b->moved = u->moved;
  b->current_ma = e->metered ? e->cur_ma : 0;
  b->supply_mv = e->metered ? u->supply_mv : 0;
  if (u->desired == JOURNAL_DESIRED_ON && e->metered) {
    b->inrush_peak_ma = u->inrush_peak_ma;
    if ((uint32_t)e->cur_ma > s->th.current_zero_ma)
      b->crest_milli = (uint32_t)((uint64_t)u->inrush_peak_ma * 1000u / (uint32_t)e->cur_ma);
  }
  uint64_t el = (now - u->start_ns) / 1000;
  b->elapsed_us = el > UINT32_MAX ? UINT32_MAX : (uint32_t)el;
  b->t_ns = now;
  b->command_seq = u->command_seq;
  b->request_id.ptr = (const uint8_t *)u->request_id;
  b->request_id.len = (uint32_t)strlen(u->request_id);
  u->window = false;
}

static void route_event(struct actuator_set *s, const struct hw_gpio_event *ev)
{
  for (unsigned i = 0; i < s->num_units; i++) {
    struct actuator__unit *u = &s->unit[i];
    if (u->aux.line == ev->offset) input_edge(&u->aux, ev->timestamp_ns, ev->rising, debounce_ns(s));
    if (u->sense.line == ev->offset) input_edge(&u->sense, ev->timestamp_ns, ev->rising, debounce_ns(s));
  }
}

/* After lost events the debounced view may be wrong: take the line levels as they are now. */
static void resync(struct actuator_set *s, struct hw_gpio_lines *l, uint64_t now)
{
  uint64_t bits = 0, mask = l->num_lines >= 64 ? UINT64_MAX : (1ull << l->num_lines) - 1;
  if (hw_gpio_get(l, mask, &bits) < 0) return;
  s->resyncs++;
  for (unsigned k = 0; k < l->num_lines; k++) {
    struct hw_gpio_event ev = { .timestamp_ns = now, .offset = l->offsets[k], .rising = (bits >> k) & 1 };
    route_event(s, &ev);
  }
}

int actuator_poll(struct actuator_set *s, uint64_t now_ns, struct actuator_sense_result *out,
                  unsigned max, unsigned *out_n)
{
  *out_n = 0;
  struct hw_gpio_event ev[32];
  for (unsigned q = 0; q < s->num_in_req; q++) {
    struct hw_gpio_lines *l = &s->in_req[q];
    for (;;) {
      unsigned n = 0;
      int r = hw_gpio_read_events(l, ev, 32, &n);
      if (r < 0) return r;
      bool lost = false;
      for (unsigned k = 0; k < n; k++) {
        if (ev[k].dropped_before) { s->gpio_overflow += ev[k].dropped_before; lost = true; }
        route_event(s, &ev[k]);
      }
      if (lost) resync(s, l, now_ns);
      if (n < 32) break;
    }
  }
  unsigned n = 0;
  for (unsigned i = 0; i < s->num_units; i++) {
    struct actuator__unit *u = &s->unit[i];
    input_settle(&u->aux, now_ns, debounce_ns(s));
    input_settle(&u->sense, now_ns, debounce_ns(s));
    if (!u->window) continue;
    if (u->pulse_line_idx >= 0 && now_ns >= u->pulse_end_ns) {
      int r = set_bit(s, u->out_req, u->pulse_line_idx, false);
      if (r < 0) return r; /* the coil stays energised: the caller must see this */
      u->pulse_line_idx = -1;
    }
    if (n == max) continue;
    struct evidence e;
    classify(s, u, now_ns, &e);
    if (now_ns >= u->deadline_ns && u->pulse_line_idx < 0) close_window(s, u, now_ns, &e, &out[n++]);
    else if (can_confirm_early(s, u, now_ns, &e)) close_window(s, u, now_ns, &e, &out[n++]);
  }
  *out_n = n;
  return 0;
}

uint64_t actuator_next_due_ns(const struct actuator_set *s)
{
  uint64_t due = UINT64_MAX;
  uint64_t db = debounce_ns(s);
#define MIN_DUE(t) do { uint64_t t_ = (t); if (t_ < due) due = t_; } while (0)
  for (unsigned i = 0; i < s->num_units; i++) {
    const struct actuator__unit *u = &s->unit[i];
    if (u->aux.line != HW_LINE_NONE && u->aux.raw != u->aux.level) MIN_DUE(sat_add(u->aux.raw_since_ns, db));
    if (u->sense.line != HW_LINE_NONE && u->sense.raw != u->sense.level) MIN_DUE(sat_add(u->sense.raw_since_ns, db));
    if (!u->window) continue;
    if (u->pulse_line_idx >= 0) MIN_DUE(u->pulse_end_ns);
    MIN_DUE(u->deadline_ns);
    MIN_DUE(sat_add(quiet_since(u), (uint64_t)s->th.settle_ms * NS_PER_MS));
  }
#undef MIN_DUE
  return due;
}

unsigned actuator_fds(const struct actuator_set *s, int *fds, unsigned cap)
{
  unsigned n = 0;
  for (unsigned q = 0; q < s->num_in_req && n < cap; q++)
    if (s->in_req[q].fd >= 0) fds[n++] = s->in_req[q].fd;
  return n;
}

int actuator_status(const struct actuator_set *s, uint16_t target, struct actuator_status *out)
{
  const struct actuator__unit *u = unit_of_c(s, target);
  if (!u) return ACTUATOR_ENOTARGET;
  memset(out, 0, sizeof *out);
  out->target = u->target;
  out->type = u->type;
  out->held = u->held;
  out->window_open = u->window;
  out->aux_wired = u->aux.line != HW_LINE_NONE;
  out->aux_closed = out->aux_wired && u->aux.level;
  out->sense_wired = u->sense.line != HW_LINE_NONE;
  out->sense_present = out->sense_wired && u->sense.level;
  return 0;
}

int actuator_output_get(struct actuator_set *s, uint16_t target, bool *out_main, bool *out_reset)
{
  struct actuator__unit *u = unit_of(s, target);
  if (!u) return ACTUATOR_ENOTARGET;
  if (u->out_req < 0) return ACTUATOR_ENOLINE;
  uint64_t bits = 0, mask = 1ull << u->out_idx;
  if (u->out2_idx >= 0) mask |= 1ull << u->out2_idx;
  int r = hw_gpio_get(&s->out_req[u->out_req], mask, &bits);
  if (r < 0) return r;
  if (out_main) *out_main = (bits >> u->out_idx) & 1;
  if (out_reset) *out_reset = u->out2_idx >= 0 && ((bits >> u->out2_idx) & 1);
  return 0;
}
