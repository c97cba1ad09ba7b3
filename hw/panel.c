/*
 * panel.c — the panel config: JSON → struct hw_panel with precise errors (the field helpers
 * are in json_fields.c, the canonical JSON text back in panel_json.c), loading it from a file.
 *
 * Invariants after a successful parse: branch numbers are unique, 1..48, and sorted; every
 * (AFE, channel) pair is used once; a branch's phase equals the voltage its AFE channel is wired
 * to (else the AFE's power would be computed against the wrong phase); phases exist for the
 * mains kind; every GPIO line offset is used once. Unknown keys are errors (a typo must not
 * silently become a default). Errors read "<what>: <field>: <why>".
 */
#include "hw.h"

#include <fcntl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "panel_internal.h"

const char *const hw__phases[4] = { "L1", "L2", "L3", "L12" };
const char *const hw__actuators[5] = { "monostable", "latching", "contactor", "ssr", "efuse" };
const char *const hw__fail_safes[3] = { "open", "closed", "last_proven" };
const char *const hw__tap_kinds[7] = { "rcd", "mcb", "afci", "leakage", "temperature", "tamper", "power_fail" };

const char *hw_phase_name(enum hw_phase p) { return (unsigned)p < 4 ? hw__phases[p] : "?"; }
const char *hw_actuator_name(enum hw_actuator_type t) { return (unsigned)t < 5 ? hw__actuators[t] : "?"; }
const char *hw_fail_safe_name(enum hw_fail_safe f) { return (unsigned)f < 3 ? hw__fail_safes[f] : "?"; }
const char *hw_tap_kind_name(enum hw_tap_kind k) { return (unsigned)k < 7 ? hw__tap_kinds[k] : "?"; }

static int get_line(struct hw__ctx *c, json_t *o, const char *path, const char *key, uint32_t *out)
{
  json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v)) return 0; /* keep default */
  unsigned u;
  int r = hw__get_uint(c, o, path, key, true, 0, 1023, 0, &u);
  if (r < 0) return r;
  *out = u;
  return 0;
}

/* The simulator's default gpiochip layout (docs/hardware.md). */
static void default_lines(struct hw_panel *p)
{
  for (unsigned i = 0; i < p->num_branches; i++) {
    struct hw_panel_branch *b = &p->branch[i];
    uint32_t base = (b->number - 1) * 4;
    b->line_coil = base;
    b->line_coil_reset = b->actuator == HW_ACT_LATCHING ? base + 1 : HW_LINE_NONE;
    b->line_aux = b->actuator == HW_ACT_SSR ? HW_LINE_NONE : base + 2;
    b->line_sense = base + 3;
  }
  for (unsigned i = 0; i < HW_MAX_AFES; i++) p->afe[i].line_irq = 192 + i;
  for (unsigned i = 0; i < HW_MAX_TAPS; i++) p->tap[i].line = 208 + i;
  struct hw_panel_der *d = &p->der;
  d->line_pv_grid_tied = 240; d->line_pv_fault = 241; d->line_ess_charging = 242;
  d->line_ess_discharging = 243; d->line_ess_alarm = 244; d->line_ess_permit = 245;
  d->line_ats_grid_present = 246; d->line_ats_on_backup = 247; d->line_ats_interlock_ok = 248;
  p->line_service_coil = 249;
  p->line_service_aux = 250;
}

static int parse_afe(struct hw__ctx *c, struct hw_panel *p, json_t *a, unsigned i)
{
  static const char *const keys[] = { "index", "spidev", "spi_speed_hz", "v_ratio", "burden_ohm",
                                      "v_phases", "mains", "mains_ct_ratio", "irq_line", "calibration", NULL };
  char path[64];
  snprintf(path, sizeof path, "afes[%u]", i);
  int r;
  if ((r = hw__check_keys(c, a, path, keys)) < 0) return r;
  unsigned idx;
  if ((r = hw__get_uint(c, a, path, "index", false, 0, HW_MAX_AFES - 1, i, &idx)) < 0) return r;
  if (idx != i) return hw__fail(c, path, "index %u must equal its position %u", idx, i);
  struct hw_panel_afe *f = &p->afe[i];
  f->index = i;
  unsigned hz;
  double d;
  if ((r = hw__get_str(c, a, path, "spidev", false, "", f->spidev, sizeof f->spidev)) < 0) return r;
  if ((r = hw__get_uint(c, a, path, "spi_speed_hz", false, 100000, 20000000, 10000000, &hz)) < 0) return r;
  f->spi_speed_hz = hz;
  if ((r = hw__get_num(c, a, path, "v_ratio", false, 1, 1e6, 1001, &d)) < 0) return r;
  f->v_ratio = d;
  if ((r = hw__get_num(c, a, path, "burden_ohm", false, 0.01, 1e4, 10, &d)) < 0) return r;
  f->burden_ohm = d;
  if ((r = hw__get_bool(c, a, path, "mains", false, &f->mains)) < 0) return r;
  if ((r = hw__get_num(c, a, path, "mains_ct_ratio", false, 1, 1e6, 4000, &d)) < 0) return r;
  f->mains_ct_ratio = d;
  if ((r = hw__parse_afe_calib(c, f, a, path)) < 0) return r;
  bool split = p->mains == HW_MAINS_SPLIT_120_240_60;
  for (int k = 0; k < 3; k++)
    f->v_phase[k] = split ? (k == 0 ? HW_PHASE_L1 : k == 1 ? HW_PHASE_L2 : HW_PHASE_L12) : (enum hw_phase)k;
  json_t *vp = json_object_get(a, "v_phases");
  if (vp) {
    char fp[80];
    snprintf(fp, sizeof fp, "%s.v_phases", path);
    if (!json_is_array(vp) || json_array_size(vp) != 3) return hw__fail(c, fp, "expected an array of 3 phases");
    for (unsigned k = 0; k < 3; k++) {
      json_t *e = json_array_get(vp, k);
      unsigned ph = 4;
      if (json_is_string(e))
        for (unsigned q = 0; q < 4; q++) if (!strcmp(json_string_value(e), hw__phases[q])) ph = q;
      if (ph == 4) return hw__fail(c, fp, "element %u is not one of L1, L2, L3, L12", k);
      if (split ? ph == HW_PHASE_L3 : ph == HW_PHASE_L12)
        return hw__fail(c, fp, "%s does not exist on %s mains", hw__phases[ph], split ? "split-phase" : "3-phase");
      f->v_phase[k] = (enum hw_phase)ph;
    }
  }
  return get_line(c, a, path, "irq_line", &f->line_irq);
}

/* "pq": {"dip_pct", "swell_pct", "hysteresis_pct", "interruption_pct", "protect_after_s"} */
static int parse_pq(struct hw__ctx *c, struct hw_panel *p, json_t *o)
{
  static const char *const keys[] = { "dip_pct", "swell_pct", "hysteresis_pct", "interruption_pct", "protect_after_s",
                                      "rvc_pct", "rvc_hysteresis_pct", "freq_band_pct", NULL };
  struct hw_panel_pq *q = &p->pq;
  *q = (struct hw_panel_pq){ HW_PQ_DEFAULT_DIP_PCT, HW_PQ_DEFAULT_SWELL_PCT, HW_PQ_DEFAULT_HYSTERESIS_PCT,
                             HW_PQ_DEFAULT_INTERRUPTION_PCT, HW_PQ_DEFAULT_PROTECT_AFTER_S,
                             HW_PQ_DEFAULT_RVC_PCT, HW_PQ_DEFAULT_RVC_PCT / 2, HW_PQ_DEFAULT_FREQ_BAND_PCT };
  if (!o) return 0;
  if (!json_is_object(o)) return hw__fail(c, "pq", "expected an object");
  int r;
  if ((r = hw__check_keys(c, o, "pq", keys)) < 0) return r;
  if ((r = hw__get_num(c, o, "pq", "dip_pct", false, 50, 99, HW_PQ_DEFAULT_DIP_PCT, &q->dip_pct)) < 0) return r;
  if ((r = hw__get_num(c, o, "pq", "swell_pct", false, 101, 200, HW_PQ_DEFAULT_SWELL_PCT, &q->swell_pct)) < 0) return r;
  if ((r = hw__get_num(c, o, "pq", "hysteresis_pct", false, 0, 10, HW_PQ_DEFAULT_HYSTERESIS_PCT, &q->hysteresis_pct)) < 0) return r;
  if ((r = hw__get_num(c, o, "pq", "interruption_pct", false, 1, 49, HW_PQ_DEFAULT_INTERRUPTION_PCT, &q->interruption_pct)) < 0)
    return r;
  /* at least 10 s (IEEE 1159's "temporary" band starts at 3 s): a config cannot make the
   * protective action chatter a relay */
  if ((r = hw__get_uint(c, o, "pq", "protect_after_s", false, 10, 3600, HW_PQ_DEFAULT_PROTECT_AFTER_S, &q->protect_after_s)) < 0)
    return r;
  /* tenths of a percent, as the fold reads them (reduce_config.c), so both use the same band */
  q->dip_pct = round(q->dip_pct * 10) / 10;
  q->swell_pct = round(q->swell_pct * 10) / 10;
  q->hysteresis_pct = round(q->hysteresis_pct * 10) / 10;
  q->interruption_pct = round(q->interruption_pct * 10) / 10;
  /* Class A additions: rapid voltage changes (0 = off) and frequency deviation events (0 = off) */
  if ((r = hw__get_num(c, o, "pq", "rvc_pct", false, 0, 20, HW_PQ_DEFAULT_RVC_PCT, &q->rvc_pct)) < 0) return r;
  if ((r = hw__get_num(c, o, "pq", "rvc_hysteresis_pct", false, 0.1, 10, q->rvc_pct / 2, &q->rvc_hysteresis_pct)) < 0)
    return r;
  if (!json_object_get(o, "rvc_hysteresis_pct")) q->rvc_hysteresis_pct = q->rvc_pct / 2;
  if ((r = hw__get_num(c, o, "pq", "freq_band_pct", false, 0, 10, HW_PQ_DEFAULT_FREQ_BAND_PCT, &q->freq_band_pct)) < 0)
    return r;
  if (q->rvc_pct > 0 && q->rvc_hysteresis_pct >= q->rvc_pct)
    return hw__fail(c, "pq.rvc_hysteresis_pct", "must be below rvc_pct (%g)", q->rvc_pct);
  if (q->interruption_pct >= q->dip_pct) return hw__fail(c, "pq.interruption_pct", "must be below dip_pct (%g)", q->dip_pct);
  if (q->dip_pct + q->hysteresis_pct >= 100 || q->swell_pct - q->hysteresis_pct <= 100)
    return hw__fail(c, "pq.hysteresis_pct", "leaves no band between the dip and swell thresholds");
  return 0;
}

static int parse_branch(struct hw__ctx *c, struct hw_panel *p, json_t *o, unsigned i)
{
  static const char *const keys[] = { "number", "name", "phase", "afe", "channel", "ct_ratio",
    "polarity", "breaker_a", "actuator", "priority", "critical", "fail_safe", "load_only",
    "sensitive", "coil_active_low", "lines", "calibration", NULL };
  char path[64];
  snprintf(path, sizeof path, "branches[%u]", i);
  int r;
  if ((r = hw__check_keys(c, o, path, keys)) < 0) return r;
  struct hw_panel_branch *b = &p->branch[i];
  unsigned u;
  double d;
  if ((r = hw__get_uint(c, o, path, "number", true, 1, HW_MAX_BRANCHES, 0, &b->number)) < 0) return r;
  char defname[HW_NAME_MAX];
  snprintf(defname, sizeof defname, "branch-%u", b->number);
  if ((r = hw__get_str(c, o, path, "name", false, defname, b->name, sizeof b->name)) < 0) return r;
  if ((r = hw__get_enum(c, o, path, "phase", true, hw__phases, 4, 0, &u)) < 0) return r;
  b->phase = (enum hw_phase)u;
  bool split = p->mains == HW_MAINS_SPLIT_120_240_60;
  char f[80];
  snprintf(f, sizeof f, "%s.phase", path);
  if (split ? b->phase == HW_PHASE_L3 : b->phase == HW_PHASE_L12)
    return hw__fail(c, f, "%s does not exist on %s mains", hw__phases[b->phase], split ? "split-phase" : "3-phase");
  if ((r = hw__get_uint(c, o, path, "afe", true, 0, HW_MAX_AFES - 1, 0, &b->afe)) < 0) return r;
  snprintf(f, sizeof f, "%s.afe", path);
  if (b->afe >= p->num_afes) return hw__fail(c, f, "AFE %u is not defined in afes[]", b->afe);
  if (p->afe[b->afe].mains) return hw__fail(c, f, "AFE %u is the mains AFE", b->afe);
  snprintf(f, sizeof f, "%s.channel", path);
  json_t *ch = json_object_get(o, "channel");
  if (!ch) return hw__fail(c, f, "missing");
  if (json_is_string(ch) && strlen(json_string_value(ch)) == 1 &&
      json_string_value(ch)[0] >= 'A' && json_string_value(ch)[0] <= 'C')
    b->channel = (unsigned)(json_string_value(ch)[0] - 'A');
  else
    return hw__fail(c, f, "expected \"A\", \"B\" or \"C\"");
  if (p->afe[b->afe].v_phase[b->channel] != b->phase)
    return hw__fail(c, f, "branch on %s but AFE %u channel %c voltage is wired to %s", hw__phases[b->phase],
                    b->afe, 'A' + b->channel, hw__phases[p->afe[b->afe].v_phase[b->channel]]);
  if ((r = hw__get_num(c, o, path, "ct_ratio", false, 1, 1e5, 2000, &d)) < 0) return r;
  b->ct_ratio = d;
  json_t *pol = json_object_get(o, "polarity");
  b->polarity = 1;
  if (pol) {
    snprintf(f, sizeof f, "%s.polarity", path);
    if (!json_is_integer(pol) || (json_integer_value(pol) != 1 && json_integer_value(pol) != -1))
      return hw__fail(c, f, "expected 1 or -1");
    b->polarity = (int)json_integer_value(pol);
  }
  if ((r = hw__get_uint(c, o, path, "breaker_a", true, 1, 400, 0, &b->breaker_a)) < 0) return r;
  if ((r = hw__get_enum(c, o, path, "actuator", true, hw__actuators, 5, 0, &u)) < 0) return r;
  b->actuator = (enum hw_actuator_type)u;
  if ((r = hw__get_uint(c, o, path, "priority", false, 0, 255, 5, &b->priority)) < 0) return r;
  if ((r = hw__get_bool(c, o, path, "critical", false, &b->critical)) < 0) return r;
  if ((r = hw__get_enum(c, o, path, "fail_safe", false, hw__fail_safes, 3, 0, &u)) < 0) return r;
  b->fail_safe = (enum hw_fail_safe)u;
  if ((r = hw__get_bool(c, o, path, "load_only", true, &b->load_only)) < 0) return r;
  if ((r = hw__get_bool(c, o, path, "sensitive", false, &b->sensitive)) < 0) return r;
  if ((r = hw__get_bool(c, o, path, "coil_active_low", false, &b->coil_active_low)) < 0) return r;
  return hw__parse_branch_calib(c, b, o, path);
}

static int parse_branch_lines(struct hw__ctx *c, struct hw_panel_branch *b, json_t *o, unsigned i)
{
  json_t *l = json_object_get(o, "lines");
  if (!l) return 0;
  static const char *const keys[] = { "coil", "coil_reset", "aux", "sense", NULL };
  char path[64];
  snprintf(path, sizeof path, "branches[%u].lines", i);
  int r;
  if ((r = hw__check_keys(c, l, path, keys)) < 0) return r;
  if ((r = get_line(c, l, path, "coil", &b->line_coil)) < 0) return r;
  if ((r = get_line(c, l, path, "coil_reset", &b->line_coil_reset)) < 0) return r;
  if ((r = get_line(c, l, path, "aux", &b->line_aux)) < 0) return r;
  return get_line(c, l, path, "sense", &b->line_sense);
}

static int parse_tap(struct hw__ctx *c, struct hw_panel *p, json_t *o, unsigned i)
{
  static const char *const keys[] = { "name", "kind", "branch", "line", "active_low", "debounce_us", "analog", NULL };
  char path[64];
  snprintf(path, sizeof path, "taps[%u]", i);
  int r;
  if ((r = hw__check_keys(c, o, path, keys)) < 0) return r;
  struct hw_panel_tap *t = &p->tap[i];
  unsigned u;
  if ((r = hw__get_enum(c, o, path, "kind", true, hw__tap_kinds, 7, 0, &u)) < 0) return r;
  t->kind = (enum hw_tap_kind)u;
  char def[HW_NAME_MAX];
  if ((r = hw__get_uint(c, o, path, "branch", false, 0, HW_MAX_BRANCHES, 0, &t->branch)) < 0) return r;
  snprintf(def, sizeof def, "%s-%u", hw__tap_kinds[t->kind], t->branch);
  if ((r = hw__get_str(c, o, path, "name", false, def, t->name, sizeof t->name)) < 0) return r;
  if (t->branch && !hw_panel_branch_by_number(p, t->branch)) {
    char f[80];
    snprintf(f, sizeof f, "%s.branch", path);
    return hw__fail(c, f, "branch %u is not defined", t->branch);
  }
  if ((r = hw__get_bool(c, o, path, "active_low", false, &t->active_low)) < 0) return r;
  if ((r = hw__get_uint(c, o, path, "debounce_us", false, 0, 1000000, 5000, &u)) < 0) return r;
  t->debounce_us = u;
  for (unsigned j = 0; j < i; j++)
    if (!strcmp(p->tap[j].name, t->name)) {
      char f[80];
      snprintf(f, sizeof f, "%s.name", path);
      return hw__fail(c, f, "\"%s\" is used twice", t->name);
    }
  if ((r = hw__parse_tap_analog(c, t, o, path)) < 0) return r;
  return get_line(c, o, path, "line", &t->line);
}

/* A DER source's SunSpec device: "sunspec" ("tcp://HOST:PORT", optional) and "unit" (1..247). */
static int get_sunspec(struct hw__ctx *c, json_t *o, const char *path, char *url, size_t cap, unsigned *unit)
{
  int r;
  if ((r = hw__get_str(c, o, path, "sunspec", false, "", url, cap)) < 0) return r;
  if ((r = hw__get_uint(c, o, path, "unit", false, 1, 247, 1, unit)) < 0) return r;
  if (url[0] && (strncmp(url, "tcp://", 6) || !url[6] || !strrchr(url + 6, ':'))) {
    char f[40];
    snprintf(f, sizeof f, "%s.sunspec", path);
    return hw__fail(c, f, "\"%s\": expected tcp://HOST:PORT", url);
  }
  return 0;
}

static int parse_der(struct hw__ctx *c, struct hw_panel *p, json_t *o)
{
  static const char *const keys[] = { "pv", "ess", "ats", "lines", NULL };
  int r;
  if ((r = hw__check_keys(c, o, "der", keys)) < 0) return r;
  struct hw_panel_der *d = &p->der;
  json_t *pv = json_object_get(o, "pv"), *ess = json_object_get(o, "ess");
  if (pv) {
    static const char *const k[] = { "branch", "peak_w", "sunspec", "unit", NULL };
    if ((r = hw__check_keys(c, pv, "der.pv", k)) < 0) return r;
    d->pv = true;
    if ((r = get_sunspec(c, pv, "der.pv", d->pv_sunspec, sizeof d->pv_sunspec, &d->pv_unit)) < 0) return r;
    if ((r = hw__get_uint(c, pv, "der.pv", "branch", true, 1, HW_MAX_BRANCHES, 0, &d->pv_branch)) < 0) return r;
    if ((r = hw__get_num(c, pv, "der.pv", "peak_w", true, 1, 1e6, 0, &d->pv_peak_w)) < 0) return r;
    const struct hw_panel_branch *b = hw_panel_branch_by_number(p, d->pv_branch);
    if (!b) return hw__fail(c, "der.pv.branch", "branch %u is not defined", d->pv_branch);
    if (b->load_only) return hw__fail(c, "der.pv.branch", "branch %u is load_only", d->pv_branch);
  }
  if (ess) {
    static const char *const k[] = { "branch", "capacity_wh", "max_w", "sunspec", "unit", NULL };
    if ((r = hw__check_keys(c, ess, "der.ess", k)) < 0) return r;
    d->ess = true;
    if ((r = get_sunspec(c, ess, "der.ess", d->ess_sunspec, sizeof d->ess_sunspec, &d->ess_unit)) < 0) return r;
    if ((r = hw__get_uint(c, ess, "der.ess", "branch", true, 1, HW_MAX_BRANCHES, 0, &d->ess_branch)) < 0) return r;
    if ((r = hw__get_num(c, ess, "der.ess", "capacity_wh", true, 1, 1e7, 0, &d->ess_capacity_wh)) < 0) return r;
    if ((r = hw__get_num(c, ess, "der.ess", "max_w", true, 1, 1e6, 0, &d->ess_max_w)) < 0) return r;
    const struct hw_panel_branch *b = hw_panel_branch_by_number(p, d->ess_branch);
    if (!b) return hw__fail(c, "der.ess.branch", "branch %u is not defined", d->ess_branch);
    if (b->load_only) return hw__fail(c, "der.ess.branch", "branch %u is load_only", d->ess_branch);
    if (d->pv && d->pv_branch == d->ess_branch) return hw__fail(c, "der.ess.branch", "same branch as der.pv");
  }
  if ((r = hw__get_bool(c, o, "der", "ats", false, &d->ats)) < 0) return r;
  json_t *l = json_object_get(o, "lines");
  if (l) {
    static const char *const k[] = { "pv_grid_tied", "pv_fault", "ess_charging", "ess_discharging",
      "ess_alarm", "ess_permit", "ats_grid_present", "ats_on_backup", "ats_interlock_ok", NULL };
    if ((r = hw__check_keys(c, l, "der.lines", k)) < 0) return r;
    uint32_t *dst[] = { &d->line_pv_grid_tied, &d->line_pv_fault, &d->line_ess_charging,
      &d->line_ess_discharging, &d->line_ess_alarm, &d->line_ess_permit,
      &d->line_ats_grid_present, &d->line_ats_on_backup, &d->line_ats_interlock_ok };
    for (unsigned i = 0; k[i]; i++) if ((r = get_line(c, l, "der.lines", k[i], dst[i])) < 0) return r;
  }
  return 0;
}

const struct hw_panel_branch *hw_panel_branch_by_number(const struct hw_panel *p, unsigned n)
{
  for (unsigned i = 0; i < p->num_branches; i++) if (p->branch[i].number == n) return &p->branch[i];
  return NULL;
}

static int check_lines_unique(struct hw__ctx *c, const struct hw_panel *p)
{
  struct { uint32_t line; char who[48]; } used[HW_MAX_BRANCHES * 4 + HW_MAX_AFES + HW_MAX_TAPS + 11 + HW_MAX_RAILS];
  unsigned n = 0;
#define USE(l, ...) do { if ((l) != HW_LINE_NONE) { \
    snprintf(used[n].who, sizeof used[n].who, __VA_ARGS__); used[n++].line = (l); } } while (0)
  for (unsigned i = 0; i < p->num_branches; i++) {
    const struct hw_panel_branch *b = &p->branch[i];
    USE(b->line_coil, "branches[%u].lines.coil", i);
    USE(b->line_coil_reset, "branches[%u].lines.coil_reset", i);
    USE(b->line_aux, "branches[%u].lines.aux", i);
    USE(b->line_sense, "branches[%u].lines.sense", i);
  }
  for (unsigned i = 0; i < p->num_afes; i++) USE(p->afe[i].line_irq, "afes[%u].irq_line", i);
  for (unsigned i = 0; i < p->num_taps; i++) USE(p->tap[i].line, "taps[%u].line", i);
  const struct hw_panel_der *d = &p->der;
  USE(d->line_pv_grid_tied, "der.lines.pv_grid_tied"); USE(d->line_pv_fault, "der.lines.pv_fault");
  USE(d->line_ess_charging, "der.lines.ess_charging"); USE(d->line_ess_discharging, "der.lines.ess_discharging");
  USE(d->line_ess_alarm, "der.lines.ess_alarm"); USE(d->line_ess_permit, "der.lines.ess_permit");
  USE(d->line_ats_grid_present, "der.lines.ats_grid_present"); USE(d->line_ats_on_backup, "der.lines.ats_on_backup");
  USE(d->line_ats_interlock_ok, "der.lines.ats_interlock_ok");
  USE(p->line_service_coil, "service.lines.coil"); USE(p->line_service_aux, "service.lines.aux");
  for (unsigned i = 0; i < p->num_rails; i++)
    USE(p->rail[i].line, "rails[%u].line", i);
#undef USE
  for (unsigned i = 0; i < n; i++)
    for (unsigned j = 0; j < i; j++)
      if (used[i].line == used[j].line)
        return hw__fail(c, used[i].who, "line %u is already used by %s", used[i].line, used[j].who);
  return 0;
}

/* An optional object section kept as its canonical JSON text in buf ("" when absent). */
static int raw_object(struct hw__ctx *c, json_t *root, const char *key, char *buf, size_t cap)
{
  json_t *o = json_object_get(root, key);
  buf[0] = 0;
  if (!o) return 0;
  if (!json_is_object(o)) return hw__fail(c, key, "expected an object");
  char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
  if (!s) return hw__fail(c, key, "cannot be serialised");
  if (strlen(s) >= cap) { free(s); return hw__fail(c, key, "longer than %zu bytes", cap - 1); }
  memcpy(buf, s, strlen(s) + 1);
  free(s);
  return 0;
}

int hw__panel_from_json(struct hw__ctx *c, struct hw_panel *p, json_t *root)
{
  /* "retention" and "time" are DIR/config.json's local settings (cli/run_config.c), not the
   * panel's: accepted here and left out of the canonical config */
  static const char *const keys[] = { "name", "mains", "service_limit_a", "gpiochip", "afes",
                                      "branches", "taps", "der", "service", "roles", "remote", "pq", "restore", "rails",
                                      "watchdog_bootstatus", "retention", "time", NULL };
  static const char *const MAINS[] = { "3ph-230-50", "split-120-240-60" };
  memset(p, 0, sizeof *p);
  int r;
  if ((r = hw__check_keys(c, root, "", keys)) < 0) return r;
  unsigned u;
  if ((r = hw__get_str(c, root, "", "name", false, "panel", p->name, sizeof p->name)) < 0) return r;
  if ((r = hw__get_enum(c, root, "", "mains", true, MAINS, 2, 0, &u)) < 0) return r;
  p->mains = (enum hw_mains_kind)u;
  p->nominal_v = p->mains == HW_MAINS_3PH_230_50 ? 230 : 120;
  p->freq_hz = p->mains == HW_MAINS_3PH_230_50 ? 50 : 60;
  if ((r = hw__get_uint(c, root, "", "service_limit_a", true, 1, 1000, 0, &p->service_limit_a)) < 0) return r;
  if ((r = parse_pq(c, p, json_object_get(root, "pq"))) < 0) return r;
  p->holdoff_s = HW_DEFAULT_HOLDOFF_S;
  p->der_holdoff_s = HW_DEFAULT_DER_HOLDOFF_S;
  json_t *rs = json_object_get(root, "restore");
  if (rs) {
    static const char *const k[] = { "holdoff_s", "der_holdoff_s", NULL };
    if (!json_is_object(rs)) return hw__fail(c, "restore", "expected an object");
    if ((r = hw__check_keys(c, rs, "restore", k)) < 0) return r;
    if ((r = hw__get_uint(c, rs, "restore", "holdoff_s", false, 5, 3600, HW_DEFAULT_HOLDOFF_S, &p->holdoff_s)) < 0) return r;
    if ((r = hw__get_uint(c, rs, "restore", "der_holdoff_s", false, 5, 3600, HW_DEFAULT_DER_HOLDOFF_S, &p->der_holdoff_s)) < 0)
      return r;
  }
  if ((r = hw__get_str(c, root, "", "gpiochip", false, "", p->gpiochip, sizeof p->gpiochip)) < 0) return r;
  json_t *afes = json_object_get(root, "afes"), *br = json_object_get(root, "branches");
  if (!afes) return hw__fail(c, "afes", "missing");
  if (!json_is_array(afes) || json_array_size(afes) == 0 || json_array_size(afes) > HW_MAX_AFES)
    return hw__fail(c, "afes", "expected an array of 1..%d AFEs", HW_MAX_AFES);
  if (!br) return hw__fail(c, "branches", "missing");
  if (!json_is_array(br) || json_array_size(br) == 0 || json_array_size(br) > HW_MAX_BRANCHES)
    return hw__fail(c, "branches", "expected an array of 1..%d branches", HW_MAX_BRANCHES);
  p->num_afes = (unsigned)json_array_size(afes);
  p->num_branches = (unsigned)json_array_size(br);
  /* parse enums first so defaults of lines can be laid out, then explicit lines override */
  for (unsigned i = 0; i < p->num_afes; i++) {
    p->afe[i].line_irq = 192 + i;
    if ((r = parse_afe(c, p, json_array_get(afes, i), i)) < 0) return r;
  }
  unsigned mains_afes = 0;
  for (unsigned i = 0; i < p->num_afes; i++) mains_afes += p->afe[i].mains;
  if (mains_afes > 1) return hw__fail(c, "afes", "%u AFEs are marked mains; at most one", mains_afes);
  for (unsigned i = 0; i < p->num_branches; i++) {
    if ((r = parse_branch(c, p, json_array_get(br, i), i)) < 0) return r;
    for (unsigned j = 0; j < i; j++) {
      char f[64];
      if (p->branch[j].number == p->branch[i].number) {
        snprintf(f, sizeof f, "branches[%u].number", i);
        return hw__fail(c, f, "branch %u is defined twice", p->branch[i].number);
      }
      if (p->branch[j].afe == p->branch[i].afe && p->branch[j].channel == p->branch[i].channel) {
        snprintf(f, sizeof f, "branches[%u].channel", i);
        return hw__fail(c, f, "AFE %u channel %c is already used by branch %u", p->branch[i].afe,
                        'A' + p->branch[i].channel, p->branch[j].number);
      }
    }
  }
  json_t *taps = json_object_get(root, "taps");
  if (taps) {
    if (!json_is_array(taps) || json_array_size(taps) > HW_MAX_TAPS)
      return hw__fail(c, "taps", "expected an array of at most %d taps", HW_MAX_TAPS);
    p->num_taps = (unsigned)json_array_size(taps);
  }
  /* default layout first, then explicit line offsets */
  struct hw_panel_afe afe_copy[HW_MAX_AFES];
  memcpy(afe_copy, p->afe, sizeof afe_copy);
  default_lines(p);
  for (unsigned i = 0; i < p->num_afes; i++) p->afe[i].line_irq = 192 + i;
  for (unsigned i = 0; i < p->num_afes; i++) {
    json_t *a = json_array_get(afes, i);
    if ((r = get_line(c, a, "afes", "irq_line", &p->afe[i].line_irq)) < 0) return r;
  }
  (void)afe_copy;
  for (unsigned i = 0; i < p->num_branches; i++)
    if ((r = parse_branch_lines(c, &p->branch[i], json_array_get(br, i), i)) < 0) return r;
  /* sort by number (stable, small n) */
  for (unsigned i = 1; i < p->num_branches; i++)
    for (unsigned j = i; j > 0 && p->branch[j - 1].number > p->branch[j].number; j--) {
      struct hw_panel_branch t = p->branch[j];
      p->branch[j] = p->branch[j - 1];
      p->branch[j - 1] = t;
    }
  for (unsigned i = 0; i < p->num_taps; i++)
    if ((r = parse_tap(c, p, json_array_get(taps, i), i)) < 0) return r;
  json_t *der = json_object_get(root, "der");
  if (der && (r = parse_der(c, p, der)) < 0) return r;
  json_t *svc = json_object_get(root, "service");
  if (svc) {
    static const char *const k[] = { "lines", NULL }, *const kl[] = { "coil", "aux", NULL };
    if ((r = hw__check_keys(c, svc, "service", k)) < 0) return r;
    json_t *l = json_object_get(svc, "lines");
    if (l) {
      if ((r = hw__check_keys(c, l, "service.lines", kl)) < 0) return r;
      if ((r = get_line(c, l, "service.lines", "coil", &p->line_service_coil)) < 0) return r;
      if ((r = get_line(c, l, "service.lines", "aux", &p->line_service_aux)) < 0) return r;
    }
  }
  /* kept as canonical JSON, checked by their users (cli/daemon_roles.c, cli/remote_config.c) */
  if ((r = raw_object(c, root, "roles", p->roles_json, sizeof p->roles_json)) < 0) return r;
  if ((r = raw_object(c, root, "remote", p->remote_json, sizeof p->remote_json)) < 0) return r;
  if ((r = hw__parse_rails(c, p, root)) < 0) return r;
  return check_lines_unique(c, p);
}

int hw_panel_parse(struct hw_panel *out, const char *text, size_t len, const char *what,
                   char *err, size_t err_len)
{
  struct hw__ctx c = { what ? what : "panel", err, err_len, HW_ECONFIG };
  if (err && err_len) err[0] = 0;
  json_t *root;
  int r = hw__parse_text(&c, text, len, &root);
  if (r < 0) return r;
  r = hw__panel_from_json(&c, out, root);
  json_decref(root);
  return r;
}

int hw_read_file(const char *path, char **out, size_t *out_len)
{
  /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0) { int e = -errno; close(fd); return e; }
  if (!S_ISREG(st.st_mode)) { close(fd); return HW_ENOTREG; }
  if (st.st_size > (off_t)(16u << 20)) { close(fd); return -EFBIG; }
  size_t cap = (size_t)st.st_size + 1, n = 0;
  char *buf = malloc(cap + 1);
  if (!buf) { close(fd); return -ENOMEM; }
  for (;;) { /* the file may grow while read: up to the cap, one byte past it tells */
    ssize_t k = read(fd, buf + n, cap - n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) { int e = -errno; free(buf); close(fd); return e; }
    if (k == 0) break;
    n += (size_t)k;
    if (n == cap) {
      if (cap > (16u << 20)) { free(buf); close(fd); return -EFBIG; }
      char *nb = realloc(buf, cap * 2 + 1);
      if (!nb) { free(buf); close(fd); return -ENOMEM; }
      buf = nb, cap *= 2;
    }
  }
  close(fd);
  buf[n] = 0;
  *out = buf;
  *out_len = n;
  return 0;
}

int hw_panel_load_file(struct hw_panel *out, const char *path, char *err, size_t err_len)
{
  char *text;
  size_t len;
  int r = hw_read_file(path, &text, &len);
  if (r < 0) {
    if (err && err_len) snprintf(err, err_len, "%s: %s", path, hw_strerror(r));
    return r;
  }
  r = hw_panel_parse(out, text, len, path, err, err_len);
  free(text);
  return r;
}
