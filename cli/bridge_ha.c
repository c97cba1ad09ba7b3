/*
 * bridge_ha.c — what the bridge knows of the panel (struct bridge_panel, folded from the
 * daemon's status answers and followed records) and what it says to Home Assistant: retained
 * discovery configs under <prefix>/<component>/<node id>/<object id>/config, all of one device,
 * and the state topics under hems/<node id>/ (docs/home-assistant.md lists them).
 *
 * Energy comes only from the status answer's folded totals (import_wh, export_wh: the reducers'
 * never-decreasing sums over the whole journal), floored to whole Wh and published as kWh with
 * three decimals, so the published value never dips — not across a daemon restart, a kill -9
 * or a bridge restart. A switch's state comes only from sense-backs (the proof loop's verdict
 * of what the contact did) and the status's sensed state, never from the command sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "bridge.h"

#include "reduce.h"

/* every alarm for the panel; a branch's own for a branch */
#define PANEL_ALARMS ((1u << REPLAY_ALARMS) - 1)

static const char *const tap_kinds[] = { "rcd", "mcb", "afci", "leakage", "temperature", "tamper", "power_fail" };
static const char *const pq_kinds[] = { "dip", "swell", "interruption", "rvc", "freq" };
static const char *const pq_categories[] = { "instantaneous", "momentary", "temporary", "sustained", "none" };
static const char *const service_states[] = { "disconnected", "connected", "ready_for_reconnection" };

struct bridge_branch *bridge_panel_branch(struct bridge_panel *p, unsigned number)
{
  for (unsigned i = 0; i < p->n; i++)
    if (p->br[i].number == number) return &p->br[i];
  return NULL;
}

/* "welded,ct_polarity" into bits. */
static uint32_t alarm_bits(const char *names)
{
  uint32_t bits = 0;
  for (unsigned k = 0; names && k < REPLAY_ALARMS; k++) {
    const char *an = replay_alarm_name(k);
    size_t n = strlen(an);
    for (const char *s = names; (s = strstr(s, an)); s += n)
      if ((s == names || s[-1] == ',') && (s[n] == 0 || s[n] == ',')) { bits |= 1u << k; break; }
  }
  return bits;
}

static int sensed_of(const char *s)
{
  return s && !strcmp(s, "on") ? 1 : s && !strcmp(s, "off") ? 0 : -1;
}

/* Whole Wh of a status energy (a JSON number of Wh), floored. */
static uint64_t whole_wh(const json_t *v)
{
  double wh = json_number_value(v);
  return wh > 0 ? (uint64_t)wh : 0;
}

int bridge_panel_status(struct bridge_panel *p, const json_t *st)
{
  const json_t *brs = json_object_get(st, "branches");
  if (!json_is_array(brs)) return -1;
  const char *id = json_string_value(json_object_get(st, "device_id"));
  const char *model = json_string_value(json_object_get(st, "panel"));
  if (!model) model = json_string_value(json_object_get(st, "scenario"));
  if (id && strcmp(p->device_id, id)) { snprintf(p->device_id, sizeof p->device_id, "%s", id); p->layout_changed = true; }
  if (model && strcmp(p->model, model)) { snprintf(p->model, sizeof p->model, "%s", model); p->layout_changed = true; }
  size_t n = json_array_size(brs);
  if (n > BRIDGE_BRANCHES_MAX) n = BRIDGE_BRANCHES_MAX;
  if (n != p->n) p->layout_changed = true;
  for (size_t i = 0; i < n; i++) {
    const json_t *b = json_array_get(brs, i);
    struct bridge_branch *x = &p->br[i];
    unsigned number = (unsigned)json_integer_value(json_object_get(b, "branch"));
    const char *name = json_string_value(json_object_get(b, "name"));
    bool critical = json_is_true(json_object_get(b, "critical"));
    if (x->number != number || strcmp(x->name, name ? name : "") || x->critical != critical || i >= p->n) {
      memset(x, 0, sizeof *x);
      x->number = (uint16_t)number;
      snprintf(x->name, sizeof x->name, "%s", name ? name : "");
      x->critical = critical;
      x->sensed = -1;
      x->switch_dirty = x->alarms_dirty = true; /* not yet published */
      p->layout_changed = true;
    }
    x->have_status = true;
    x->power_w = json_integer_value(json_object_get(b, "power_w"));
    /* the totals as of the newest durable seal: the live fold runs ahead of what a crash keeps */
    const json_t *imp = json_object_get(b, "durable_import_wh"), *exp = json_object_get(b, "durable_export_wh");
    x->have_energy = json_is_number(imp) && json_is_number(exp);
    x->import_wh = whole_wh(imp);
    x->export_wh = whole_wh(exp);
    int sensed = sensed_of(json_string_value(json_object_get(b, "sensed")));
    if (sensed != x->sensed) { x->sensed = sensed; x->switch_dirty = true; }
    uint32_t al = alarm_bits(json_string_value(json_object_get(b, "alarms")));
    if (al != x->alarms) { x->alarms = al; x->alarms_dirty = true; }
  }
  p->n = (unsigned)n;
  const char *svc = json_string_value(json_object_get(json_object_get(st, "policy"), "service"));
  if (svc && strcmp(svc, p->service)) { snprintf(p->service, sizeof p->service, "%s", svc); p->service_dirty = true; }
  uint32_t al = alarm_bits(json_string_value(json_object_get(st, "alarms")));
  if (al != p->alarms) { p->alarms = al; p->alarms_dirty = true; }
  return 0;
}

static void fold_window(struct bridge_panel *p, const struct journal_window *w)
{
  for (unsigned c = 0; c < w->nch && c < JOURNAL_WINDOW_CHANNELS; c++) {
    const struct journal_window_channel *ch = &w->ch[c];
    struct bridge_branch *x = ch->kind == JOURNAL_CH_CURRENT && ch->branch ? bridge_panel_branch(p, ch->branch) : NULL;
    if (x) { x->current_ma = ch->rms_m; x->have_current = true; }
    if (ch->kind == JOURNAL_CH_VOLTAGE && ch->phase < 3) { p->v_mv[ch->phase] = ch->rms_m; p->have_v[ch->phase] = true; }
  }
  for (unsigned k = 0; k < w->npow && k < JOURNAL_WINDOW_CHANNELS; k++) {
    struct bridge_branch *x = w->pow[k].branch ? bridge_panel_branch(p, w->pow[k].branch) : NULL;
    if (x) { x->pf_mpct = w->pow[k].pf_mpct; x->have_pf = true; }
  }
  if (w->freq_mhz) { p->freq_mhz = w->freq_mhz; p->have_freq = true; }
}

static json_t *trip_event(const struct journal_record *r, char *topic, size_t cap)
{
  const struct journal_trip_tap *t = &r->body.trip_tap;
  if (t->of_seq || t->edge != JOURNAL_EDGE_RISING || t->kind >= sizeof tap_kinds / sizeof tap_kinds[0]) return NULL;
  if (t->branch) snprintf(topic, cap, "branch/%u/trip", t->branch);
  else snprintf(topic, cap, "panel/trip");
  char when[40];
  journal_format_time(r->wall_ns, when);
  return json_pack("{s:s, s:I, s:s, s:f, s:f}", "event_type", tap_kinds[t->kind], "seq", (json_int_t)r->seq, "time", when,
                   "rms_a", t->rms_ma / 1000.0, "peak_a", t->peak_ma / 1000.0);
}

static json_t *pq_event(const struct journal_record *r, char *topic, size_t cap)
{
  const struct journal_pq_event *e = &r->body.pq_event;
  if (e->kind >= sizeof pq_kinds / sizeof pq_kinds[0] || e->category >= sizeof pq_categories / sizeof pq_categories[0])
    return NULL;
  snprintf(topic, cap, "panel/pq");
  char when[40];
  journal_format_time(e->start_ns, when);
  json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:f, s:f, s:f}", "event_type", pq_kinds[e->kind], "seq", (json_int_t)r->seq,
                        "start", when, "phases", e->phases, "category", pq_categories[e->category], "duration_ms",
                        e->duration_us / 1000.0, "extreme_v", e->extreme_mv / 1000.0, "extreme_pct", e->extreme_mpct / 1000.0);
  if (o && e->kind == JOURNAL_PQ_RVC) {
    json_object_set_new(o, "delta_umax_pct", json_real(e->delta_umax_mpct / 1000.0));
    json_object_set_new(o, "delta_uss_pct", json_real(e->delta_uss_mpct / 1000.0));
  } else if (o && e->kind == JOURNAL_PQ_FREQ) {
    json_object_set_new(o, "freq_hz", json_real(e->freq_mhz / 1000.0));
  }
  return o;
}

bool bridge_panel_record(struct bridge_panel *p, const uint8_t *b, size_t len, json_t **event, char *topic, size_t cap)
{
  struct journal_record r;
  *event = NULL;
  if (journal_record_decode(b, len, &r)) {
    cli_err("bridge: follow: a record the bridge cannot decode (a newer schema?): ignored");
    return false;
  }
  switch (r.type) {
  case JOURNAL_T_WINDOW: fold_window(p, &r.body.window); return false;
  case JOURNAL_T_SENSE_BACK: {
    /* a DER command's proof (actuator sunspec, permit) says nothing of the branch's switch */
    struct bridge_branch *x = r.body.sense_back.target && r.body.sense_back.actuator != JOURNAL_ACTR_SUNSPEC &&
                                r.body.sense_back.actuator != JOURNAL_ACTR_PERMIT
                                ? bridge_panel_branch(p, r.body.sense_back.target) : NULL;
    int s = r.body.sense_back.sensed == JOURNAL_SENSED_ON ? 1 : r.body.sense_back.sensed == JOURNAL_SENSED_OFF ? 0 : -1;
    if (x && x->sensed != s) { x->sensed = s; x->switch_dirty = true; }
    return true;
  }
  case JOURNAL_T_SEAL: p->checkpoint_size = r.body.seal.sealed_seq; return false;
  case JOURNAL_T_TRIP_TAP: *event = trip_event(&r, topic, cap); return true;
  case JOURNAL_T_PQ_EVENT: *event = pq_event(&r, topic, cap); return false;
  case JOURNAL_T_FAULT: case JOURNAL_T_COMMAND: case JOURNAL_T_REFUSAL: case JOURNAL_T_REQUEST: case JOURNAL_T_DER:
    return true;
  default: return false;
  }
}

/* ---- payloads */

static void pub_json(bridge_publish_fn pub, void *ctx, const char *topic, json_t *o, bool retain, int qos)
{
  char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
  json_decref(o);
  if (s) pub(ctx, topic, s, retain, qos);
}

static void pub_text(bridge_publish_fn pub, void *ctx, const char *topic, const char *text, bool retain, int qos)
{
  char *s = strdup(text);
  if (s) pub(ctx, topic, s, retain, qos);
}

/* One entity's config: o gets the keys every entity shares, then is published retained. */
static void config(const struct bridge_panel *p, const struct bridge_names *nm, bridge_publish_fn pub, void *ctx,
                   const char *component, const char *object_id, json_t *o)
{
  char topic[BRIDGE_TOPIC_MAX], uid[160], avail[BRIDGE_TOPIC_MAX], ident[96], name[128];
  snprintf(topic, sizeof topic, "%s/%s/%s/%s/config", nm->prefix, component, nm->node, object_id);
  snprintf(uid, sizeof uid, "%s_%s", nm->node, object_id);
  snprintf(avail, sizeof avail, "%s/availability", nm->base);
  snprintf(ident, sizeof ident, "hems_%s", p->device_id);
  snprintf(name, sizeof name, "hems panel %s", p->model);
  json_object_set_new(o, "unique_id", json_string(uid));
  json_object_set_new(o, "availability_topic", json_string(avail));
  json_object_set_new(o, "payload_available", json_string("online"));
  json_object_set_new(o, "payload_not_available", json_string("offline"));
  json_object_set_new(o, "device", json_pack("{s:[s], s:s, s:s, s:s, s:s}", "identifiers", ident, "name", name,
                                             "manufacturer", "hems", "model", p->model, "sw_version", HEMS_VERSION_STRING));
  json_object_set_new(o, "origin", json_pack("{s:s, s:s}", "name", "hems bridge mqtt", "sw_version", HEMS_VERSION_STRING));
  pub_json(pub, ctx, topic, o, true, 1);
}

/* A numeric sensor reading key of the JSON state on topic part state. */
static void sensor(const struct bridge_panel *p, const struct bridge_names *nm, bridge_publish_fn pub, void *ctx,
                   const char *object_id, const char *name, const char *state, const char *key, const char *device_class,
                   const char *state_class, const char *unit)
{
  char st[BRIDGE_TOPIC_MAX], tpl[96];
  snprintf(st, sizeof st, "%s/%s", nm->base, state);
  snprintf(tpl, sizeof tpl, "{{ value_json.%s }}", key);
  json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "state_topic", st, "value_template", tpl, "device_class",
                        device_class);
  if (state_class) json_object_set_new(o, "state_class", json_string(state_class));
  if (unit) json_object_set_new(o, "unit_of_measurement", json_string(unit));
  config(p, nm, pub, ctx, "sensor", object_id, o);
}

static void alarm_sensor(const struct bridge_panel *p, const struct bridge_names *nm, bridge_publish_fn pub, void *ctx,
                         const char *object_id, const char *name, const char *state, int k)
{
  char st[BRIDGE_TOPIC_MAX], tpl[96];
  snprintf(st, sizeof st, "%s/%s", nm->base, state);
  snprintf(tpl, sizeof tpl, "{{ value_json.%s }}", replay_alarm_name((unsigned)k));
  config(p, nm, pub, ctx, "binary_sensor", object_id,
         json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", name, "state_topic", st, "value_template", tpl, "device_class",
                   "problem", "payload_on", "ON", "payload_off", "OFF"));
}

static void event_entity(const struct bridge_panel *p, const struct bridge_names *nm, bridge_publish_fn pub, void *ctx,
                         const char *object_id, const char *name, const char *state, const char *const *types, size_t n)
{
  char st[BRIDGE_TOPIC_MAX];
  snprintf(st, sizeof st, "%s/%s", nm->base, state);
  json_t *t = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(t, json_string(types[i]));
  config(p, nm, pub, ctx, "event", object_id, json_pack("{s:s, s:s, s:o}", "name", name, "state_topic", st, "event_types", t));
}

static void branch_discovery(const struct bridge_panel *p, const struct bridge_branch *x, const struct bridge_names *nm,
                             bridge_publish_fn pub, void *ctx)
{
  char id[64], name[160], st[48], sw[BRIDGE_TOPIC_MAX], cmd[BRIDGE_TOPIC_MAX];
  unsigned n = x->number;
  const char *bn = x->name[0] ? x->name : "branch";
  snprintf(st, sizeof st, "branch/%u/state", n);
  static const struct { const char *id, *label, *key, *dc, *sc, *unit; } s[] = {
    { "power", "power", "power", "power", "measurement", "W" },
    { "energy_import", "energy import", "import", "energy", "total_increasing", "kWh" },
    { "energy_export", "energy export", "export", "energy", "total_increasing", "kWh" },
    { "current", "current", "current", "current", "measurement", "A" },
    { "power_factor", "power factor", "power_factor", "power_factor", "measurement", "%" },
  };
  for (size_t k = 0; k < sizeof s / sizeof s[0]; k++) {
    snprintf(id, sizeof id, "branch%u_%s", n, s[k].id);
    snprintf(name, sizeof name, "%u %s %s", n, bn, s[k].label);
    sensor(p, nm, pub, ctx, id, name, st, s[k].key, s[k].dc, s[k].sc, s[k].unit);
  }
  snprintf(sw, sizeof sw, "%s/branch/%u/switch", nm->base, n);
  snprintf(cmd, sizeof cmd, "%s/branch/%u/switch/set", nm->base, n);
  snprintf(name, sizeof name, "%u %s", n, bn);
  snprintf(id, sizeof id, "branch%u_switch", n);
  if (!x->critical) /* the automation role may not switch a critical branch: show, do not offer */
    config(p, nm, pub, ctx, "switch", id, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "name", name, "state_topic", sw,
                                                    "command_topic", cmd, "payload_on", "ON", "payload_off", "OFF", "optimistic", 0));
  else
    config(p, nm, pub, ctx, "binary_sensor", id, json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "state_topic", sw,
                                                           "device_class", "power", "payload_on", "ON", "payload_off", "OFF"));
  snprintf(st, sizeof st, "branch/%u/alarms", n);
  for (int k = 0; k < REPLAY_ALARMS; k++) {
    if (!(REPLAY_ALARMS_BRANCH & (1u << k))) continue;
    snprintf(id, sizeof id, "branch%u_alarm_%s", n, replay_alarm_name((unsigned)k));
    snprintf(name, sizeof name, "%u %s alarm %s", n, bn, replay_alarm_name((unsigned)k));
    alarm_sensor(p, nm, pub, ctx, id, name, st, k);
  }
  snprintf(id, sizeof id, "branch%u_trip", n);
  snprintf(name, sizeof name, "%u %s trip", n, bn);
  snprintf(st, sizeof st, "branch/%u/trip", n);
  event_entity(p, nm, pub, ctx, id, name, st, tap_kinds, sizeof tap_kinds / sizeof tap_kinds[0]);
}

void bridge_ha_discovery(const struct bridge_panel *p, const struct bridge_names *nm, bridge_publish_fn pub, void *ctx)
{
  for (unsigned i = 0; i < p->n; i++) branch_discovery(p, &p->br[i], nm, pub, ctx);
  static const char *const ph[3] = { "a", "b", "c" };
  char id[64], name[64], key[32];
  for (int k = 0; k < 3; k++) {
    snprintf(id, sizeof id, "voltage_%s", ph[k]);
    snprintf(name, sizeof name, "phase %c voltage", 'A' + k);
    snprintf(key, sizeof key, "voltage_%s", ph[k]);
    sensor(p, nm, pub, ctx, id, name, "panel/state", key, "voltage", "measurement", "V");
  }
  sensor(p, nm, pub, ctx, "frequency", "frequency", "panel/state", "frequency", "frequency", "measurement", "Hz");
  char st[BRIDGE_TOPIC_MAX];
  snprintf(st, sizeof st, "%s/panel/service", nm->base);
  json_t *opts = json_array();
  for (size_t i = 0; i < sizeof service_states / sizeof service_states[0]; i++)
    json_array_append_new(opts, json_string(service_states[i]));
  config(p, nm, pub, ctx, "sensor", "service_disconnect",
         json_pack("{s:s, s:s, s:s, s:o}", "name", "service disconnect", "state_topic", st, "device_class", "enum", "options", opts));
  for (int k = 0; k < REPLAY_ALARMS; k++) {
    snprintf(id, sizeof id, "panel_alarm_%s", replay_alarm_name((unsigned)k));
    snprintf(name, sizeof name, "panel alarm %s", replay_alarm_name((unsigned)k));
    alarm_sensor(p, nm, pub, ctx, id, name, "panel/alarms", k);
  }
  event_entity(p, nm, pub, ctx, "pq_event", "power quality event", "panel/pq", pq_kinds, sizeof pq_kinds / sizeof pq_kinds[0]);
  event_entity(p, nm, pub, ctx, "panel_trip", "panel trip", "panel/trip", tap_kinds, sizeof tap_kinds / sizeof tap_kinds[0]);
}

static json_t *alarms_json(uint32_t bits, uint32_t which)
{
  json_t *o = json_object();
  for (unsigned k = 0; k < REPLAY_ALARMS; k++)
    if (which & (1u << k)) json_object_set_new(o, replay_alarm_name(k), json_string(bits & (1u << k) ? "ON" : "OFF"));
  return o;
}

/* kWh with three decimals of whole Wh, as an exact JSON number. */
static json_t *kwh(uint64_t wh)
{
  char s[48];
  snprintf(s, sizeof s, "%llu.%03llu", (unsigned long long)(wh / 1000), (unsigned long long)(wh % 1000));
  return json_real(strtod(s, NULL));
}

void bridge_ha_exceptions(struct bridge_panel *p, const struct bridge_names *nm, bridge_publish_fn pub, void *ctx)
{
  char t[BRIDGE_TOPIC_MAX];
  for (unsigned i = 0; i < p->n; i++) {
    struct bridge_branch *x = &p->br[i];
    if (x->switch_dirty) {
      snprintf(t, sizeof t, "%s/branch/%u/switch", nm->base, x->number);
      pub_text(pub, ctx, t, x->sensed == 1 ? "ON" : x->sensed == 0 ? "OFF" : "None", true, 1);
      x->switch_dirty = false;
    }
    if (x->alarms_dirty) {
      snprintf(t, sizeof t, "%s/branch/%u/alarms", nm->base, x->number);
      pub_json(pub, ctx, t, alarms_json(x->alarms, REPLAY_ALARMS_BRANCH), true, 1);
      x->alarms_dirty = false;
    }
  }
  if (p->service_dirty && p->service[0]) {
    snprintf(t, sizeof t, "%s/panel/service", nm->base);
    pub_text(pub, ctx, t, p->service, true, 1);
    p->service_dirty = false;
  }
  if (p->alarms_dirty) {
    snprintf(t, sizeof t, "%s/panel/alarms", nm->base);
    pub_json(pub, ctx, t, alarms_json(p->alarms, PANEL_ALARMS), true, 1);
    p->alarms_dirty = false;
  }
}

void bridge_ha_states(struct bridge_panel *p, const struct bridge_names *nm, bool all, bridge_publish_fn pub, void *ctx)
{
  char t[BRIDGE_TOPIC_MAX];
  for (unsigned i = 0; i < p->n; i++) {
    struct bridge_branch *x = &p->br[i];
    if (!x->have_status) continue;
    json_t *o = json_pack("{s:I}", "power", (json_int_t)x->power_w);
    if (x->have_energy) {
      json_object_set_new(o, "import", kwh(x->import_wh));
      json_object_set_new(o, "export", kwh(x->export_wh));
    }
    if (x->have_current) json_object_set_new(o, "current", json_real(x->current_ma / 1000.0));
    if (x->have_pf) json_object_set_new(o, "power_factor", json_real(x->pf_mpct / 1000.0));
    snprintf(t, sizeof t, "%s/branch/%u/state", nm->base, x->number);
    pub_json(pub, ctx, t, o, true, 0);
    if (all) x->switch_dirty = x->alarms_dirty = true;
  }
  json_t *o = json_object();
  static const char *const ph[3] = { "voltage_a", "voltage_b", "voltage_c" };
  for (int k = 0; k < 3; k++)
    if (p->have_v[k]) json_object_set_new(o, ph[k], json_real(p->v_mv[k] / 1000.0));
  if (p->have_freq) json_object_set_new(o, "frequency", json_real(p->freq_mhz / 1000.0));
  snprintf(t, sizeof t, "%s/panel/state", nm->base);
  pub_json(pub, ctx, t, o, true, 0);
  if (all) p->service_dirty = p->alarms_dirty = true;
  bridge_ha_exceptions(p, nm, pub, ctx);
}
