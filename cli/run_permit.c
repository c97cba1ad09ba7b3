/*
 * run_permit.c — the battery's permit-to-run line (reducer v 11; docs/policy.md "The battery on
 * backup").
 *
 * The fold decides the permit (replay/reduce/reduce_ess.c) as a DER command for the ess with
 * reason backup, interlock or restore; it is executed here, on the panel config's
 * der.lines.ess_permit output, once its record is durable (write-ahead), and journaled as an
 * `actuation` (actuator permit). Its `sense_back` (actuator permit) comes from the battery
 * itself, not from the line: the battery runs when its state lines say charging or discharging
 * or its branch carries at least RUN_PERMIT_RUNNING_MA; an on is confirmed once it runs, an off
 * once it has not run for RUN_PERMIT_SETTLE_NS after the line changed (a window of its branch has
 * come since). Nothing within RUN_PERMIT_PROOF_NS: no_feedback — a battery idle on a present
 * grid cannot prove an on, and says so. A newer permit command ends one not yet proven
 * (no_feedback). The line is requested only once the fold has spoken (until then the battery runs
 * under its own control); a daemon that starts with a permit in the folded state requests it at
 * that level, and a permit command the folded state holds unproven is proven afresh (run_der_cmd.c
 * leaves it alone: run_permit_owns).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "run.h"

#define RUN_PERMIT_PROOF_NS (10ll * 1000000000ll)
#define RUN_PERMIT_SETTLE_NS (2ll * 1000000000ll)
#define RUN_PERMIT_RUNNING_MA 250 /* the sense-back's current_on default (actuators.h) */

static bool has_line(const struct daemon *d)
{
  return d->panel->der.ess && d->panel->der.line_ess_permit != HW_LINE_NONE;
}

/* Drives the line to on; requests it first if need be. 0 or a hw error. */
static int drive(struct daemon *d, bool on)
{
  if (d->permit_lines) return hw_gpio_set(&d->permit_req, 1, on ? 1 : 0);
  struct hw_gpio_chip *chip = run_gpio_chip(d);
  if (!chip) return -ENODEV;
  struct hw_gpio_request_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.consumer = "hems-ess-permit";
  cfg.num_lines = 1;
  cfg.lines[0].offset = d->panel->der.line_ess_permit;
  cfg.lines[0].output = true;
  cfg.lines[0].initial_value = on;
  int r = hw_gpio_request(chip, &cfg, &d->permit_req);
  if (r == 0) d->permit_lines = true;
  return r;
}

/* r cleared to a record of type about the battery */
static void ess_record(struct journal_record *r, uint16_t type)
{
  memset(r, 0, sizeof *r);
  r->type = type;
  r->source.kind = JOURNAL_SRC_DER;
  r->source.sub = JOURNAL_DER_ESS;
}

/* The command the daemon now executes and proves. */
static void take(struct daemon *d, bool on, uint64_t seq, uint16_t branch)
{
  struct permit_cmd *k = &d->permit;
  memset(k, 0, sizeof *k);
  k->live = true;
  k->on = on;
  k->seq = seq;
  k->branch = branch;
  k->at_ns = run_now_ns(d);
}

static bool is_permit_reason(uint8_t reason)
{
  return reason == JOURNAL_CMD_BACKUP || reason == JOURNAL_CMD_INTERLOCK || reason == JOURNAL_CMD_RESTORE;
}

bool run_permit_is_cmd(const struct replay_effect *e)
{
  return e->der == JOURNAL_DERT_ESS && is_permit_reason(e->reason);
}

void run_permit_open(struct daemon *d)
{
  const struct replay_state *s = &d->h.state;
  uint8_t p = s->pol.permit;
  if (!has_line(d) || s->reducer_version < 11 || p == REPLAY_UNKNOWN) return;
  int r = drive(d, p == REPLAY_ON); /* the level the journal last decided, as the relays are */
  if (r < 0) {
    char detail[128];
    snprintf(detail, sizeof detail, "battery permit line %u: %s", d->panel->der.line_ess_permit, hw_strerror(r));
    run_fault(d, "gpio_request", r, s->pol.ess_branch, detail);
    return;
  }
  /* a permit command not proven before the stop: the line holds it again now, so it is proven
   * afresh (its actuation was journaled, or it is journaled now) */
  const struct replay_der *e = &s->der[JOURNAL_DER_ESS];
  struct run_command_rec c;
  if (e->cmd_state != REPLAY_DERCMD_PENDING || !e->cmd_seq || run_read_command(d, e->cmd_seq, &c) ||
      c.der != JOURNAL_DERT_ESS || !is_permit_reason(c.reason) || c.on != (p == REPLAY_ON))
    return;
  take(d, c.on, e->cmd_seq, c.target);
}

bool run_permit_owns(const struct daemon *d, uint64_t command_seq)
{
  return d->permit.live && d->permit.seq == command_seq;
}

void run_permit_close(struct daemon *d)
{
  if (d->permit_lines) hw_gpio_release(&d->permit_req);
  d->permit_lines = false;
}

static void sense_back(struct daemon *d, struct permit_cmd *k, bool running, bool confirmed);

void run_permit_queue(struct daemon *d, const struct replay_effect *e, uint64_t seq)
{
  struct permit_cmd *k = &d->permit;
  if (k->live) sense_back(d, k, false, false); /* superseded before it was proven: ended, not left open */
  take(d, e->desired == JOURNAL_DESIRED_ON, seq, e->target);
}

static void sense_back(struct daemon *d, struct permit_cmd *k, bool running, bool confirmed)
{
  struct journal_record r;
  ess_record(&r, JOURNAL_T_SENSE_BACK);
  struct journal_sense_back *sb = &r.body.sense_back;
  uint64_t now = run_now_ns(d);
  sb->target = k->branch;
  sb->actuator = JOURNAL_ACTR_PERMIT;
  sb->commanded = k->on ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF;
  sb->sensed = !k->driven ? JOURNAL_SENSED_UNKNOWN : running ? JOURNAL_SENSED_ON : JOURNAL_SENSED_OFF;
  sb->verdict = confirmed ? JOURNAL_VERDICT_CONFIRMED : JOURNAL_VERDICT_NO_FEEDBACK;
  sb->aux = JOURNAL_AUX_NOT_WIRED;
  sb->load_v = JOURNAL_LOADV_NOT_WIRED;
  uint64_t from = k->driven ? k->driven_ns : k->at_ns, us = now > from ? (now - from) / 1000u : 0;
  sb->elapsed_us = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
  sb->t_ns = now;
  sb->command_seq = k->seq;
  sb->current_ma = k->branch && k->branch <= REPLAY_BRANCHES_MAX ? d->h.state.br[k->branch - 1].irms_ma : 0;
  sb->metered = k->branch != 0;
  k->live = false;
  if (run_append(d, &r) == 0) d->sense_backs++;
}

/* Does the battery run, as it says (state lines) and as its branch measures? */
static bool battery_runs(const struct daemon *d, uint16_t branch)
{
  const struct replay_der *e = &d->h.state.der[JOURNAL_DER_ESS];
  if (e->seen && (e->state_code == JOURNAL_DERST_CHARGING || e->state_code == JOURNAL_DERST_DISCHARGING)) return true;
  return branch && branch <= REPLAY_BRANCHES_MAX && d->h.state.br[branch - 1].irms_ma >= RUN_PERMIT_RUNNING_MA;
}

void run_permit_tick(struct daemon *d)
{
  struct permit_cmd *k = &d->permit;
  if (!k->live) return;
  uint64_t now = run_now_ns(d);
  if (!k->driven) {
    if (k->seq > journal_durable_seq(d->j)) return; /* write-ahead */
    struct journal_record r;
    ess_record(&r, JOURNAL_T_ACTUATION);
    struct journal_actuation *a = &r.body.actuation;
    a->target = k->branch;
    a->actuator = JOURNAL_ACTR_PERMIT;
    a->desired = k->on ? JOURNAL_DESIRED_ON : JOURNAL_DESIRED_OFF;
    a->line = d->panel->der.line_ess_permit;
    a->command_seq = k->seq;
    int rc = has_line(d) ? drive(d, k->on) : -ENODEV;
    a->t_ns = run_now_ns(d);
    a->action = rc ? JOURNAL_ACTION_NONE : k->on ? JOURNAL_ACTION_ENABLE_ON : JOURNAL_ACTION_ENABLE_OFF;
    a->result = rc ? JOURNAL_ACTRES_FAILED : JOURNAL_ACTRES_OK;
    a->error = rc;
    if (run_append(d, &r) == 0) d->actuations++;
    if (rc) { sense_back(d, k, false, false); return; }
    k->driven = true;
    k->driven_ns = a->t_ns;
    return;
  }
  bool runs = battery_runs(d, k->branch);
  uint64_t since = now > k->driven_ns ? now - k->driven_ns : 0;
  if (k->on && runs) sense_back(d, k, true, true);
  else if (!k->on && !runs && since >= (uint64_t)RUN_PERMIT_SETTLE_NS) sense_back(d, k, false, true);
  else if (since >= (uint64_t)RUN_PERMIT_PROOF_NS) sense_back(d, k, runs, false);
}
