/*
 * harness.c — drives the proof loop on the simulated panel without the daemon: command record
 * → durable → actuation → simulator advanced in virtual time → sense_back record, with taps and
 * DER records appended as they happen.
 *
 * Invariants:
 * - The journal's clock is the simulator's virtual clock, so record times, latencies and seals
 *   are a pure function of scenario, seed and commands.
 * - actuator_execute is only reached with the seq returned by journal_append and the journal's
 *   own durable seq after journal_sync: the harness cannot actuate ahead of durability.
 * - Metering comes from the simulated CT samples (the AFE input, per-cycle integer RMS through
 *   struct actuator_rms), never from the simulator's contact ground truth.
 */
#include "actuators.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void sim_clock(void *ctx, uint64_t *mono_ns, int64_t *wall_ns, uint8_t *tq)
{
  struct actuator_harness *h = ctx;
  *mono_ns = hw_sim_now_ns(h->sim);
  *wall_ns = (int64_t)hw_sim_wall_ns(h->sim);
  *tq = JOURNAL_TQ_SYNCED;
}

/* Per-sample hook: CT current of each branch (configured polarity applied) → per-cycle RMS. */
static void frame_hook(void *user, const struct hw_sim_frame *f)
{
  struct actuator_harness *h = user;
  const struct hw_panel *p = h->set.panel;
  for (unsigned k = 0; k < p->num_branches; k++) {
    const struct hw_panel_branch *b = &p->branch[k];
    if (b->afe >= f->num_afes || b->channel > 2) continue;
    double a = f->i_a[b->afe][b->channel] * (double)b->polarity;
    double ma = a * 1000.0;
    if (ma > 2e9) ma = 2e9;
    if (ma < -2e9) ma = -2e9;
    if (actuator_rms_push(&h->rms, k, (int32_t)lrint(ma))) {
      h->last_sample_ma[k] = h->rms.rms_ma[k];
      (void)actuator_feed_current(&h->set, b->number, f->t_ns, h->rms.rms_ma[k], h->rms.peak_ma[k], 0);
    }
  }
}

static bool signature(void *ctx, unsigned branch, uint64_t t_ns, int32_t *rms_ma, int32_t *peak_ma)
{
  struct actuator_harness *h = ctx;
  const struct hw_panel *p = h->set.panel;
  for (unsigned k = 0; k < p->num_branches; k++)
    if (p->branch[k].number == branch) {
      *rms_ma = h->rms.rms_ma[k];
      *peak_ma = h->rms.peak_ma[k];
      return true;
    }
  return false;
}

static int append(struct actuator_harness *h, uint16_t type, const struct journal_source *src,
                  const void *body, size_t body_len, uint64_t *out_seq)
{
  struct journal_record r;
  memset(&r, 0, sizeof r);
  r.type = type;
  r.source = *src;
  memcpy(&r.body, body, body_len);
  uint64_t seq = 0;
  int rc = journal_append(h->journal, &r, &seq);
  if (rc < 0) return rc;
  h->records++;
  if (out_seq) *out_seq = seq;
  return 0;
}

static void note_latency(struct actuator_harness *h, const struct journal_sense_back *b)
{
  unsigned ty = b->actuator < ACTUATOR_TYPES ? b->actuator : 0;
  if (h->lat_n[ty] < ACTUATOR_HARNESS_LAT_MAX) h->lat_us[ty][h->lat_n[ty]++] = b->elapsed_us;
}

/* Polls taps and the set once at the simulator's now; appends what they return. A sense-back for
 * `want_target` (if >= 0) is copied to *got instead of only being appended. */
static int poll_once(struct actuator_harness *h, int want_target, struct actuator_harness_step *got, bool *done)
{
  uint64_t now = hw_sim_now_ns(h->sim);
  struct actuator_tap_record tr[16];
  unsigned n;
  int rc;
  do {
    if ((rc = actuator_taps_poll(&h->taps, now, tr, 16, &n)) < 0) return rc;
    for (unsigned i = 0; i < n; i++) {
      if ((rc = append(h, tr[i].type, &tr[i].source, &tr[i].body, sizeof tr[i].body, NULL)) < 0) return rc;
      h->tap_records++;
    }
  } while (n == 16);
  struct actuator_sense_result sr[8];
  do {
    if ((rc = actuator_poll(&h->set, now, sr, 8, &n)) < 0) return rc;
    for (unsigned i = 0; i < n; i++) {
      uint64_t seq = 0;
      if ((rc = append(h, JOURNAL_T_SENSE_BACK, &sr[i].source, &sr[i].body, sizeof sr[i].body, &seq)) < 0) return rc;
      note_latency(h, &sr[i].body);
      if (want_target >= 0 && sr[i].body.target == want_target && got) {
        got->sense_back_seq = seq;
        got->sense_back = sr[i].body;
        got->sense_back.request_id.ptr = (const uint8_t *)got->request_id;
        if (done) *done = true;
      }
    }
  } while (n == 8);
  return 0;
}

int actuator_harness_init(struct actuator_harness *h, const struct actuator_harness_options *o)
{
  if (!h || !o || !o->scenario || !o->dir) return ACTUATOR_EINVAL;
  memset(h, 0, sizeof *h);
  h->step_ns = 1000000;
  char err[256];
  int rc = hw_sim_create(&h->sim, o->scenario, o->seed, err, sizeof err);
  if (rc < 0) return rc;
  const struct hw_panel *p = hw_sim_panel(h->sim);
  h->chip = hw_sim_gpio_chip(h->sim);
  if (o->wrap_chip) h->chip = o->wrap_chip(o->wrap_ctx, h->chip);

  struct journal_options jo;
  memset(&jo, 0, sizeof jo);
  jo.dir = o->dir;
  jo.virtual_clock = true;
  jo.clock.now = sim_clock;
  jo.clock.ctx = h;
  for (int i = 0; i < JOURNAL_BOOTID_BYTES; i++) jo.boot_id[i] = (uint8_t)(o->seed >> (8 * (i % 8))) ^ (uint8_t)(0xa5 + i);
  char path[4200];
  struct stat st;
  snprintf(path, sizeof path, "%s/journal/data.mdb", o->dir);
  if (stat(path, &st) != 0) {
    static char json[65536];
    size_t len = 0;
    if ((rc = hw_panel_canonical_json(p, json, sizeof json, &len)) < 0) goto fail;
    if ((rc = journal_create(&jo, json, len, "hems-actuators-harness")) < 0) goto fail;
  }
  struct journal_open_info info;
  int pid = 0;
  if ((rc = journal_open(&h->journal, &jo, &info, &pid)) < 0) goto fail;

  struct actuator_initial init;
  memset(&init, 0, sizeof init);
  if (o->initial) init = *o->initial;
  else {
    for (unsigned k = 0; k < p->num_branches; k++) init.branch_on[k] = o->scenario->load[k].closed;
    init.service_connected = true;
  }
  uint64_t now = hw_sim_now_ns(h->sim);
  if ((rc = actuator_set_init(&h->set, h->chip, p, &init, o->th, now)) < 0) goto fail;
  if ((rc = actuator_taps_init(&h->taps, h->chip, p, signature, h, now)) < 0) goto fail;
  actuator_rms_init(&h->rms, (unsigned)lrint(8000.0 / p->freq_hz));
  hw_sim_set_frame_hook(h->sim, frame_hook, h);
  return 0;
fail:
  actuator_harness_deinit(h);
  return rc;
}

void actuator_harness_deinit(struct actuator_harness *h)
{
  if (!h) return;
  actuator_taps_deinit(&h->taps);
  actuator_set_deinit(&h->set);
  if (h->journal) journal_close(h->journal);
  h->journal = NULL;
  if (h->sim) hw_sim_destroy(h->sim);
  h->sim = NULL;
}

static int advance(struct actuator_harness *h, uint64_t ns, int want_target, struct actuator_harness_step *got,
                   bool *done)
{
  while (ns > 0 && !(done && *done)) {
    uint64_t step = ns < h->step_ns ? ns : h->step_ns;
    if (hw_sim_advance(h->sim, step) < 0) return ACTUATOR_EHARNESS;
    ns -= step;
    int rc = poll_once(h, want_target, got, done);
    if (rc < 0) return rc;
  }
  return 0;
}

int actuator_harness_run(struct actuator_harness *h, uint64_t ns)
{
  return advance(h, ns, -1, NULL, NULL);
}

int actuator_harness_command(struct actuator_harness *h, uint16_t target, bool on, const char *request_id,
                             uint8_t reason, uint64_t cause_seq, struct actuator_harness_step *out)
{
  struct actuator_harness_step local;
  struct actuator_harness_step *st = out ? out : &local;
  memset(st, 0, sizeof *st);
  if (request_id) snprintf(st->request_id, sizeof st->request_id, "%s", request_id);

  struct journal_source src;
  memset(&src, 0, sizeof src);
  if (target == JOURNAL_TARGET_SERVICE) src.kind = JOURNAL_SRC_PANEL;
  else { src.kind = JOURNAL_SRC_BRANCH; src.index = target; }

  /* 1. the decided command, write-ahead; it is critical, so it ends its group */
  struct journal_command cmd;
  memset(&cmd, 0, sizeof cmd);
  cmd.target = target;
  cmd.desired = on ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF;
  cmd.reason = reason;
  cmd.cause_seq = cause_seq;
  cmd.request_id.ptr = (const uint8_t *)st->request_id;
  cmd.request_id.len = (uint32_t)strlen(st->request_id);
  int rc = append(h, JOURNAL_T_COMMAND, &src, &cmd, sizeof cmd, &st->command_seq);
  if (rc < 0) return rc;
  if ((rc = journal_sync(h->journal)) < 0) return rc;

  /* 2. actuate, only with the journal's own durable seq */
  struct actuator_command ac = { .target = target, .on = on, .request_id = st->request_id };
  rc = actuator_execute_journaled(&h->set, h->journal, &ac, st->command_seq, hw_sim_now_ns(h->sim), &st->actuation);
  if (rc < 0) return rc;
  if ((rc = append(h, JOURNAL_T_ACTUATION, &src, &st->actuation, sizeof st->actuation, &st->actuation_seq)) < 0)
    return rc;
  st->actuation.request_id.ptr = (const uint8_t *)st->request_id;

  /* 3. run the simulator until this actuator's sense-back (bounded by its deadline + slack) */
  bool done = false;
  uint64_t bound = 0;
  for (int t = 0; t < ACTUATOR_TYPES; t++)
    if (h->set.th.deadline_ms[t] > bound) bound = h->set.th.deadline_ms[t];
  bound = (bound + h->set.th.pulse_ms + 100) * 1000000ull;
  if ((rc = advance(h, bound, target, st, &done)) < 0) return rc;
  if (!done) return ACTUATOR_EHARNESS;
  return journal_sync(h->journal);
}
