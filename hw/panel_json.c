/*
 * panel_json.c — a struct hw_panel back to JSON: the canonical text (sorted keys, every field
 * explicit) whose bytes identify the config.
 */
#include "hw.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "panel_internal.h"

static json_t *line_json(uint32_t l) { return l == HW_LINE_NONE ? json_null() : json_integer(l); }

json_t *hw__panel_to_json(const struct hw_panel *p)
{
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(p->name));
  json_object_set_new(o, "mains", json_string(p->mains == HW_MAINS_3PH_230_50 ? "3ph-230-50" : "split-120-240-60"));
  json_object_set_new(o, "service_limit_a", json_integer(p->service_limit_a));
  json_object_set_new(o, "gpiochip", json_string(p->gpiochip));
  hw__rails_to_json(p, o);
  if (p->holdoff_s != HW_DEFAULT_HOLDOFF_S || p->der_holdoff_s != HW_DEFAULT_DER_HOLDOFF_S)
    json_object_set_new(o, "restore", json_pack("{s:i, s:i}", "holdoff_s", (int)p->holdoff_s, "der_holdoff_s",
                                                (int)p->der_holdoff_s));
  /* "restore" and "pq" only when they differ from the defaults, so a config that never named them
   * keeps its bytes */
  const struct hw_panel_pq *q = &p->pq;
  bool class_a = q->rvc_pct != HW_PQ_DEFAULT_RVC_PCT || q->rvc_hysteresis_pct != q->rvc_pct / 2 ||
                 q->freq_band_pct != HW_PQ_DEFAULT_FREQ_BAND_PCT;
  if (q->dip_pct != HW_PQ_DEFAULT_DIP_PCT || q->swell_pct != HW_PQ_DEFAULT_SWELL_PCT ||
      q->hysteresis_pct != HW_PQ_DEFAULT_HYSTERESIS_PCT || q->interruption_pct != HW_PQ_DEFAULT_INTERRUPTION_PCT ||
      q->protect_after_s != HW_PQ_DEFAULT_PROTECT_AFTER_S || class_a) {
    json_t *pq = json_pack("{s:f, s:f, s:f, s:f, s:i}", "dip_pct", q->dip_pct, "swell_pct", q->swell_pct,
                           "hysteresis_pct", q->hysteresis_pct, "interruption_pct", q->interruption_pct,
                           "protect_after_s", (int)q->protect_after_s);
    /* the Class A keys only when set, so a config from before them keeps its bytes */
    if (class_a) {
      json_object_set_new(pq, "rvc_pct", json_real(q->rvc_pct));
      json_object_set_new(pq, "rvc_hysteresis_pct", json_real(q->rvc_hysteresis_pct));
      json_object_set_new(pq, "freq_band_pct", json_real(q->freq_band_pct));
    }
    json_object_set_new(o, "pq", pq);
  }
  json_t *afes = json_array();
  for (unsigned i = 0; i < p->num_afes; i++) {
    const struct hw_panel_afe *a = &p->afe[i];
    json_t *j = json_object(), *vp = json_array();
    for (int k = 0; k < 3; k++) json_array_append_new(vp, json_string(hw__phases[a->v_phase[k]]));
    json_object_set_new(j, "index", json_integer(i));
    json_object_set_new(j, "spidev", json_string(a->spidev));
    json_object_set_new(j, "spi_speed_hz", json_integer(a->spi_speed_hz));
    json_object_set_new(j, "v_ratio", json_real(a->v_ratio));
    json_object_set_new(j, "burden_ohm", json_real(a->burden_ohm));
    json_object_set_new(j, "v_phases", vp);
    json_object_set_new(j, "mains", json_boolean(a->mains));
    json_object_set_new(j, "mains_ct_ratio", json_real(a->mains_ct_ratio));
    json_object_set_new(j, "irq_line", line_json(a->line_irq));
    hw__afe_calib_to_json(a, j);
    json_array_append_new(afes, j);
  }
  json_object_set_new(o, "afes", afes);
  json_t *br = json_array();
  for (unsigned i = 0; i < p->num_branches; i++) {
    const struct hw_panel_branch *b = &p->branch[i];
    json_t *j = json_object(), *l = json_object();
    char ch[2] = { (char)('A' + b->channel), 0 };
    json_object_set_new(j, "number", json_integer(b->number));
    json_object_set_new(j, "name", json_string(b->name));
    json_object_set_new(j, "phase", json_string(hw__phases[b->phase]));
    json_object_set_new(j, "afe", json_integer(b->afe));
    json_object_set_new(j, "channel", json_string(ch));
    json_object_set_new(j, "ct_ratio", json_real(b->ct_ratio));
    json_object_set_new(j, "polarity", json_integer(b->polarity));
    json_object_set_new(j, "breaker_a", json_integer(b->breaker_a));
    json_object_set_new(j, "actuator", json_string(hw__actuators[b->actuator]));
    json_object_set_new(j, "priority", json_integer(b->priority));
    json_object_set_new(j, "critical", json_boolean(b->critical));
    json_object_set_new(j, "fail_safe", json_string(hw__fail_safes[b->fail_safe]));
    json_object_set_new(j, "load_only", json_boolean(b->load_only));
    if (b->sensitive) json_object_set_new(j, "sensitive", json_true()); /* left out when false: older configs stay byte-equal */
    json_object_set_new(j, "coil_active_low", json_boolean(b->coil_active_low));
    json_object_set_new(l, "coil", line_json(b->line_coil));
    json_object_set_new(l, "coil_reset", line_json(b->line_coil_reset));
    json_object_set_new(l, "aux", line_json(b->line_aux));
    json_object_set_new(l, "sense", line_json(b->line_sense));
    json_object_set_new(j, "lines", l);
    hw__branch_calib_to_json(b, j);
    json_array_append_new(br, j);
  }
  json_object_set_new(o, "branches", br);
  json_t *taps = json_array();
  for (unsigned i = 0; i < p->num_taps; i++) {
    const struct hw_panel_tap *t = &p->tap[i];
    json_t *j = json_object();
    json_object_set_new(j, "name", json_string(t->name));
    json_object_set_new(j, "kind", json_string(hw__tap_kinds[t->kind]));
    json_object_set_new(j, "branch", json_integer(t->branch));
    json_object_set_new(j, "line", line_json(t->line));
    json_object_set_new(j, "active_low", json_boolean(t->active_low));
    json_object_set_new(j, "debounce_us", json_integer(t->debounce_us));
    hw__tap_analog_to_json(t, j);
    json_array_append_new(taps, j);
  }
  json_object_set_new(o, "taps", taps);
  const struct hw_panel_der *d = &p->der;
  json_t *der = json_object(), *dl = json_object();
  if (d->pv) json_object_set_new(der, "pv", json_pack("{s:i,s:f}", "branch", (int)d->pv_branch, "peak_w", d->pv_peak_w));
  if (d->ess) json_object_set_new(der, "ess", json_pack("{s:i,s:f,s:f}", "branch", (int)d->ess_branch,
                                  "capacity_wh", d->ess_capacity_wh, "max_w", d->ess_max_w));
  /* left out when not configured: older configs stay byte-equal */
  json_t *pvj = json_object_get(der, "pv"), *essj = json_object_get(der, "ess");
  if (pvj && d->pv_sunspec[0]) {
    json_object_set_new(pvj, "sunspec", json_string(d->pv_sunspec));
    json_object_set_new(pvj, "unit", json_integer(d->pv_unit));
  }
  if (essj && d->ess_sunspec[0]) {
    json_object_set_new(essj, "sunspec", json_string(d->ess_sunspec));
    json_object_set_new(essj, "unit", json_integer(d->ess_unit));
  }
  json_object_set_new(der, "ats", json_boolean(d->ats));
  json_object_set_new(dl, "pv_grid_tied", line_json(d->line_pv_grid_tied));
  json_object_set_new(dl, "pv_fault", line_json(d->line_pv_fault));
  json_object_set_new(dl, "ess_charging", line_json(d->line_ess_charging));
  json_object_set_new(dl, "ess_discharging", line_json(d->line_ess_discharging));
  json_object_set_new(dl, "ess_alarm", line_json(d->line_ess_alarm));
  json_object_set_new(dl, "ess_permit", line_json(d->line_ess_permit));
  json_object_set_new(dl, "ats_grid_present", line_json(d->line_ats_grid_present));
  json_object_set_new(dl, "ats_on_backup", line_json(d->line_ats_on_backup));
  json_object_set_new(dl, "ats_interlock_ok", line_json(d->line_ats_interlock_ok));
  json_object_set_new(der, "lines", dl);
  json_object_set_new(o, "der", der);
  json_object_set_new(o, "service", json_pack("{s:{s:o,s:o}}", "lines", "coil", line_json(p->line_service_coil),
                                              "aux", line_json(p->line_service_aux)));
  if (p->roles_json[0]) {
    json_t *r = json_loads(p->roles_json, 0, NULL);
    if (r) json_object_set_new(o, "roles", r);
  }
  if (p->remote_json[0]) {
    json_t *r = json_loads(p->remote_json, 0, NULL);
    if (r) json_object_set_new(o, "remote", r);
  }
  return o;
}

int hw_panel_canonical_json(const struct hw_panel *p, char *buf, size_t cap, size_t *out_len)
{
  json_t *o = hw__panel_to_json(p);
  if (!o) return -ENOMEM;
  char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(17));
  json_decref(o);
  if (!s) return -ENOMEM;
  size_t n = strlen(s);
  *out_len = n;
  if (n + 1 > cap) { free(s); return HW_ETRUNC; }
  memcpy(buf, s, n + 1);
  free(s);
  return 0;
}
