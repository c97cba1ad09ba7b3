/*
 * record_types.c — record type names, sources, and the field tables of record bodies.
 *
 * Each table lists a body struct's fields in canonical CBOR key order (shorter names first,
 * then bytewise); field names are the CDDL names of schemas/hems.cddl and the JSON names that
 * `hems timeline` prints. Types without a table keep their body as raw CBOR until the
 * subsystem that produces them adds one.
 */
#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include "codec_internal.h"
#include "record_fields.h"

static const char *const type_names[JOURNAL_T__MAX] = {
  NULL, "boot", "config", "note", "window", "pq_event", "request", "command", "refusal",
  "actuation", "sense_back", "trip_tap", "der", "fault", "seal", "key", "retention", "witness",
  "pq_aggregate", "rollup", "copy",
};

const char *journal_type_name(unsigned type)
{
  return type < JOURNAL_T__MAX ? type_names[type] : NULL;
}

unsigned journal_type_from_name(const char *name)
{
  for (unsigned t = 1; t < JOURNAL_T__MAX; t++)
    if (strcmp(type_names[t], name) == 0) return t;
  return 0;
}

bool journal_type_is_critical(unsigned type)
{
  switch (type) {
  case JOURNAL_T_REQUEST: case JOURNAL_T_COMMAND: case JOURNAL_T_REFUSAL:
  case JOURNAL_T_SENSE_BACK: case JOURNAL_T_TRIP_TAP: case JOURNAL_T_BOOT:
  case JOURNAL_T_CONFIG: case JOURNAL_T_KEY: case JOURNAL_T_NOTE: case JOURNAL_T_WITNESS:
    return true;
  default:
    return false;
  }
}

/* ------------------------------------------------------------------ sources */

static const char *const der_names[] = { "pv", "ess", "ats", NULL };
static const char *const tap_names[] = { "rcd", "mcb", "afci", "leakage", "temperature", "tamper", "power_fail", NULL };

/* "word:index" without printf: this runs once per appended record. */
static int fmt_indexed(char *buf, size_t cap, const char *word, size_t wl, unsigned index)
{
  char digits[8];
  int nd = 0;
  do { digits[nd++] = (char)('0' + index % 10); index /= 10; } while (index);
  size_t n = wl + 1 + (size_t)nd;
  if (n >= cap) return -ENOSPC;
  memcpy(buf, word, wl);
  buf[wl] = ':';
  for (int i = 0; i < nd; i++) buf[wl + 1 + i] = digits[nd - 1 - i];
  buf[n] = 0;
  return (int)n;
}

int journal_source_format(const struct journal_source *s, char *buf, size_t cap)
{
  int n;
  switch (s->kind) {
  case JOURNAL_SRC_PANEL: n = snprintf(buf, cap, "panel"); break;
  case JOURNAL_SRC_BRANCH: return fmt_indexed(buf, cap, "branch", 6, s->index);
  case JOURNAL_SRC_AFE: return fmt_indexed(buf, cap, "afe", 3, s->index);
  case JOURNAL_SRC_DER:
    if (s->sub > JOURNAL_DER_ATS) return JOURNAL_EBADREC;
    n = snprintf(buf, cap, "der:%s", der_names[s->sub]);
    break;
  case JOURNAL_SRC_TAP:
    if (s->sub > JOURNAL_TAP_POWER_FAIL) return JOURNAL_EBADREC;
    n = s->index ? snprintf(buf, cap, "tap:%s:%u", tap_names[s->sub], s->index)
                 : snprintf(buf, cap, "tap:%s", tap_names[s->sub]);
    break;
  case JOURNAL_SRC_OPERATOR: n = snprintf(buf, cap, "operator"); break;
  case JOURNAL_SRC_REMOTE:
    if (!s->name[0] || memchr(s->name, '\0', sizeof s->name) == NULL) return JOURNAL_EBADREC;
    n = snprintf(buf, cap, "remote:%s", s->name);
    break;
  default: return JOURNAL_EBADREC;
  }
  if (n < 0 || (size_t)n >= cap) return -ENOSPC;
  return n;
}

/* Parses a decimal 1..65535 that fills [p, e) exactly, without leading zeros. */
static int parse_index(const char *p, const char *e, uint16_t *out)
{
  if (p >= e || e - p > 5 || (*p == '0')) return JOURNAL_EBADREC;
  unsigned v = 0;
  for (; p < e; p++) {
    if (*p < '0' || *p > '9') return JOURNAL_EBADREC;
    v = v * 10 + (unsigned)(*p - '0');
  }
  if (v == 0 || v > 65535) return JOURNAL_EBADREC;
  *out = (uint16_t)v;
  return 0;
}

static int match_name(const char *const *names, const char *p, size_t n)
{
  for (int i = 0; names[i]; i++)
    if (strlen(names[i]) == n && memcmp(names[i], p, n) == 0) return i;
  return -1;
}

int journal_source_parse(const char *text, size_t len, struct journal_source *out)
{
  memset(out, 0, sizeof *out);
  const char *e = text + len;
  const char *colon = memchr(text, ':', len);
  size_t head = colon ? (size_t)(colon - text) : len;
  if (memchr(text, '\0', len)) return JOURNAL_EBADREC;
#define IS(word) (head == sizeof(word) - 1 && memcmp(text, word, head) == 0)
  if (IS("panel") && !colon) { out->kind = JOURNAL_SRC_PANEL; return 0; }
  if (IS("operator") && !colon) { out->kind = JOURNAL_SRC_OPERATOR; return 0; }
  if (!colon) return JOURNAL_EBADREC;
  const char *rest = colon + 1;
  if (IS("branch")) { out->kind = JOURNAL_SRC_BRANCH; return parse_index(rest, e, &out->index); }
  if (IS("afe")) { out->kind = JOURNAL_SRC_AFE; return parse_index(rest, e, &out->index); }
  if (IS("der")) {
    int i = match_name(der_names, rest, (size_t)(e - rest));
    if (i < 0) return JOURNAL_EBADREC;
    out->kind = JOURNAL_SRC_DER;
    out->sub = (uint8_t)i;
    return 0;
  }
  if (IS("tap")) {
    const char *c2 = memchr(rest, ':', (size_t)(e - rest));
    int i = match_name(tap_names, rest, (size_t)((c2 ? c2 : e) - rest));
    if (i < 0) return JOURNAL_EBADREC;
    out->kind = JOURNAL_SRC_TAP;
    out->sub = (uint8_t)i;
    return c2 ? parse_index(c2 + 1, e, &out->index) : 0;
  }
  if (IS("remote")) {
    size_t n = (size_t)(e - rest);
    if (n == 0 || n >= sizeof out->name) return JOURNAL_EBADREC;
    out->kind = JOURNAL_SRC_REMOTE;
    memcpy(out->name, rest, n);
    return 0;
  }
#undef IS
  return JOURNAL_EBADREC;
}

/* ------------------------------------------------------------------ body tables */

/* The FLD… macros are in record_fields.h. */

static const char *const shutdown_names[] = { "clean", "unclean", "first", NULL };

static const struct jfield boot_fields[] = {
  FLD(struct journal_boot, "boot_id", JF_FIXED, boot_id, 0),
  FLD(struct journal_boot, "rail_status", JF_TEXT, rail_status, 1),
  FLD(struct journal_boot, "reset_reason", JF_TEXT, reset_reason, 2),
  FLD(struct journal_boot, "config_version", JF_U32, config_version, 3),
  FLDZ3(struct journal_boot, "sync_offset_ns", JF_I64, sync_offset_ns, 7),
  FLDZ(struct journal_boot, "reducer_version", JF_U32, reducer_version, 6),
  FLD(struct journal_boot, "firmware_version", JF_TEXT, firmware_version, 4),
  ENUMF(struct journal_boot, "previous_shutdown", previous_shutdown, shutdown_names, 5),
};

static const struct jfield config_fields[] = {
  FLD(struct journal_config, "json", JF_TEXT, json, 0),
  FLD(struct journal_config, "config_hash", JF_FIXED, config_hash, 1),
  FLD(struct journal_config, "config_version", JF_U32, config_version, 2),
};

static const struct jfield note_fields[] = {
  FLD(struct journal_note, "gid", JF_U32, gid, 0),
  FLD(struct journal_note, "uid", JF_U32, uid, 1),
  FLD(struct journal_note, "who", JF_TEXT, who, 2),
  FLD(struct journal_note, "text", JF_TEXT, text, 3),
  FLDZ(struct journal_note, "claimed_who", JF_TEXT, claimed_who, 4),
};

static const struct jfield fault_fields[] = {
  FLD(struct journal_fault, "code", JF_TEXT, code, 0),
  FLD(struct journal_fault, "value", JF_I64, value, 1),
  FLD(struct journal_fault, "branch", JF_U16, branch, 2),
  FLD(struct journal_fault, "detail", JF_TEXT, detail, 3),
  FLDZ3(struct journal_fault, "rails_low", JF_U8, rails_low, 4),
};

static const struct jfield seal_fields[] = {
  FLD(struct journal_seal, "sig", JF_FIXED, sig, 0),
  FLD(struct journal_seal, "key_id", JF_FIXED, key_id, 1),
  FLDZ3(struct journal_seal, "hw_count", JF_U64, hw_count, 7),
  FLD(struct journal_seal, "head_hash", JF_FIXED, head_hash, 2),
  FLDZ(struct journal_seal, "tree_root", JF_FIXED, tree_root, 6),
  FLD(struct journal_seal, "sealed_seq", JF_U64, sealed_seq, 3),
  FLD(struct journal_seal, "state_hash", JF_FIXED, state_hash, 4),
  FLD(struct journal_seal, "group_records", JF_U32, group_records, 5),
};

static const struct jfield key_fields[] = {
  FLD(struct journal_key, "cert", JF_FIXED, cert, 0),
  FLD(struct journal_key, "key_id", JF_FIXED, key_id, 1),
  FLD(struct journal_key, "pubkey", JF_FIXED, pubkey, 2),
  FLDZ(struct journal_key, "reason", JF_TEXT, reason, 5),
  FLDZ(struct journal_key, "revoked", JF_BOOL, revoked, 6),
  FLD(struct journal_key, "algorithm", JF_TEXT, algorithm, 3),
  FLD(struct journal_key, "prev_key_id", JF_FIXED, prev_key_id, 4),
};

static const struct jfield retention_fields[] = {
  FLD(struct journal_retention, "archive", JF_TEXT, archive, 0),
  FLD(struct journal_retention, "cut_seq", JF_U64, cut_seq, 1),
  FLD(struct journal_retention, "cut_hash", JF_FIXED, cut_hash, 2),
  FLDZ(struct journal_retention, "history_seq", JF_U64, history_seq, 4),
  FLD(struct journal_retention, "archive_hash", JF_FIXED, archive_hash, 3),
  FLDZ(struct journal_retention, "history_hash", JF_FIXED, history_hash, 5),
};

static const struct jfield witness_fields[] = {
  FLD(struct journal_witness, "sig", JF_FIXED, sig, 0),
  FLD(struct journal_witness, "name", JF_TEXT, name, 1),
  FLD(struct journal_witness, "pubkey", JF_FIXED, pubkey, 2),
  FLD(struct journal_witness, "timestamp", JF_U64, timestamp, 3),
  FLD(struct journal_witness, "tree_size", JF_U64, tree_size, 4),
};

/* actuation / sense_back / trip_tap / der (actuators issue; schemas/actuators.cddl). */
static const char *const act_onoff_names[] = { "off", "on", NULL };
static const char *const actuator_names[] = { "monostable", "latching", "contactor", "ssr", "efuse", "service", "sunspec", "permit", NULL };
static const char *const act_action_names[] = { "none", "coil_on", "coil_off", "pulse_set", "pulse_reset",
                                                "gate_on", "gate_off", "enable_on", "enable_off", NULL };
static const char *const act_result_names[] = { "ok", "no_op", "failed", NULL };
static const char *const verdict_names[] = { "confirmed", "welded", "stuck_open", "leakage", "no_feedback",
                                             "chatter", NULL };
static const char *const sensed_names[] = { "off", "on", "unknown", NULL };
static const char *const aux_names[] = { "open", "closed", "not_wired", NULL };
static const char *const load_v_names[] = { "absent", "present", "not_wired", NULL };
static const char *const edge_names[] = { "rising", "falling", NULL };
static const char *const der_state_names[] = { "off", "grid_tied", "fault", "idle", "charging", "discharging",
                                               "alarm", "on_grid", "on_backup", "no_supply", "sleeping",
                                               "starting", "producing", "throttled", "shutting_down", "standby",
                                               NULL };
static const char *const der_via_names[] = { "lines", "sunspec", NULL };

const char *journal_der_state_name(unsigned state)
{
  return state < sizeof der_state_names / sizeof der_state_names[0] - 1 ? der_state_names[state] : NULL;
}

int journal_der_state_from_name(const char *name)
{
  for (int i = 0; name && der_state_names[i]; i++)
    if (!strcmp(der_state_names[i], name)) return i;
  return -1;
}
static const char *const der_reason_names[] = { "initial", "edge", "resync", "stale", NULL };
static const char *const transfer_names[] = { "grid", "backup", "none", NULL };

static const struct jfield actuation_fields[] = {
  FLD(struct journal_actuation, "line", JF_U32, line, 0),
  FLD(struct journal_actuation, "t_ns", JF_U64, t_ns, 1),
  FLD(struct journal_actuation, "error", JF_I32, error, 2),
  ENUMF(struct journal_actuation, "action", action, act_action_names, 3),
  ENUMF(struct journal_actuation, "result", result, act_result_names, 4),
  FLD(struct journal_actuation, "target", JF_TARGET, target, 5),
  ENUMF(struct journal_actuation, "desired", desired, act_onoff_names, 6),
  ENUMF(struct journal_actuation, "actuator", actuator, actuator_names, 7),
  FLD(struct journal_actuation, "pulse_us", JF_U32, pulse_us, 8),
  FLD(struct journal_actuation, "request_id", JF_TEXT, request_id, 9),
  FLD(struct journal_actuation, "command_seq", JF_U64, command_seq, 10),
};

static const struct jfield sense_back_fields[] = {
  ENUMF(struct journal_sense_back, "aux", aux, aux_names, 0),
  FLD(struct journal_sense_back, "t_ns", JF_U64, t_ns, 1),
  FLD(struct journal_sense_back, "moved", JF_BOOL, moved, 2),
  ENUMF(struct journal_sense_back, "load_v", load_v, load_v_names, 3),
  ENUMF(struct journal_sense_back, "sensed", sensed, sensed_names, 4),
  FLD(struct journal_sense_back, "target", JF_TARGET, target, 5),
  FLD(struct journal_sense_back, "metered", JF_BOOL, metered, 6),
  ENUMF(struct journal_sense_back, "verdict", verdict, verdict_names, 7),
  ENUMF(struct journal_sense_back, "actuator", actuator, actuator_names, 8),
  FLD(struct journal_sense_back, "aux_edges", JF_U16, aux_edges, 9),
  ENUMF(struct journal_sense_back, "commanded", commanded, act_onoff_names, 10),
  FLDZ3(struct journal_sense_back, "rails_low", JF_U8, rails_low, 18),
  FLD(struct journal_sense_back, "supply_mv", JF_I32, supply_mv, 11),
  FLD(struct journal_sense_back, "current_ma", JF_I32, current_ma, 12),
  FLD(struct journal_sense_back, "elapsed_us", JF_U32, elapsed_us, 13),
  FLD(struct journal_sense_back, "request_id", JF_TEXT, request_id, 14),
  FLD(struct journal_sense_back, "command_seq", JF_U64, command_seq, 15),
  FLD(struct journal_sense_back, "crest_milli", JF_U32, crest_milli, 16),
  FLD(struct journal_sense_back, "inrush_peak_ma", JF_I32, inrush_peak_ma, 17),
};

static const struct jfield trip_tap_fields[] = {
  FLD(struct journal_trip_tap, "tap", JF_U16, tap, 0),
  ENUMF(struct journal_trip_tap, "edge", edge, edge_names, 1),
  ENUMF(struct journal_trip_tap, "kind", kind, tap_names, 2),
  FLD(struct journal_trip_tap, "line", JF_U32, line, 3),
  FLD(struct journal_trip_tap, "branch", JF_U16, branch, 4),
  FLDZ3(struct journal_trip_tap, "of_seq", JF_U64, of_seq, 12),
  FLD(struct journal_trip_tap, "rms_ma", JF_I32, rms_ma, 5),
  FLD(struct journal_trip_tap, "capture", JF_FIXED, capture, 6),
  FLD(struct journal_trip_tap, "dropped", JF_U32, dropped, 7),
  FLD(struct journal_trip_tap, "peak_ma", JF_I32, peak_ma, 8),
  FLD(struct journal_trip_tap, "kernel_ns", JF_U64, kernel_ns, 9),
  FLDZ3(struct journal_trip_tap, "rails_low", JF_U8, rails_low, 13),
  FLD(struct journal_trip_tap, "line_seqno", JF_U32, line_seqno, 10),
  FLD(struct journal_trip_tap, "crest_milli", JF_U32, crest_milli, 11),
  FLDP(struct journal_trip_tap, "value_milli", JF_I32, value_milli, have_value, 14),
};

static const struct jfield der_fields[] = {
  FLDP(struct journal_der, "w", JF_I32, w, have_w, 10),
  ENUMZ(struct journal_der, "via", via, der_via_names, 11),
  FLD(struct journal_der, "fresh", JF_BOOL, fresh, 0),
  ENUMF(struct journal_der, "state", state, der_state_names, 1),
  FLD(struct journal_der, "branch", JF_U16, branch, 2),
  ENUMF(struct journal_der, "reason", reason, der_reason_names, 3),
  ENUMF(struct journal_der, "source", source, der_names, 4),
  FLDP(struct journal_der, "soc_mpct", JF_I32, soc_mpct, have_soc, 12),
  ENUMF(struct journal_der, "transfer", transfer, transfer_names, 5),
  FLD(struct journal_der, "kernel_ns", JF_U64, kernel_ns, 6),
  FLDZ3(struct journal_der, "rails_low", JF_U8, rails_low, 9),
  FLD(struct journal_der, "grid_present", JF_BOOL, grid_present, 7),
  FLD(struct journal_der, "interlock_ok", JF_BOOL, interlock_ok, 8),
};
static const struct jdesc actuation_desc = DESC(actuation_fields);
static const struct jdesc sense_back_desc = DESC(sense_back_fields);
static const struct jdesc trip_tap_desc = DESC(trip_tap_fields);
static const struct jdesc der_desc = DESC(der_fields);


const char *const journal__chkind_names[] = { "voltage", "current", "neutral", NULL };
const char *const journal__phase_names[] = { "A", "B", "C", "N", NULL };

static const struct jfield window_channel_fields[] = {
  FLD(struct journal_window_channel, "ch", JF_U8, ch, 0),
  ENUMF(struct journal_window_channel, "kind", kind, journal__chkind_names, 1),
  FLDZ3(struct journal_window_channel, "event", JF_BOOL, event, 10),
  FLDZ(struct journal_window_channel, "max_m", JF_I32, max_m, 2),
  FLDZ(struct journal_window_channel, "min_m", JF_I32, min_m, 3),
  ENUMF(struct journal_window_channel, "phase", phase, journal__phase_names, 4),
  FLD(struct journal_window_channel, "rms_m", JF_I32, rms_m, 5),
  FLDZ(struct journal_window_channel, "branch", JF_U16, branch, 6),
  FLDZ(struct journal_window_channel, "thd_mpct", JF_I32, thd_mpct, 7),
  FLDZ3(struct journal_window_channel, "hrms_max_m", JF_I32, hrms_max_m, 9),
  FLDZ3(struct journal_window_channel, "hrms_min_m", JF_I32, hrms_min_m, 8),
};
static const struct jdesc window_channel_desc = DESC(window_channel_fields);

static const struct jfield window_power_fields[] = {
  FLD(struct journal_window_power, "ich", JF_U8, ich, 0),
  FLD(struct journal_window_power, "vch", JF_U8, vch, 1),
  FLD(struct journal_window_power, "p_mw", JF_I64, p_mw, 2),
  ENUMF(struct journal_window_power, "phase", phase, journal__phase_names, 3),
  FLD(struct journal_window_power, "s_mva", JF_I64, s_mva, 4),
  FLD(struct journal_window_power, "branch", JF_U16, branch, 5),
  FLDZ(struct journal_window_power, "q_mvar", JF_I64, q_mvar, 6),
  FLD(struct journal_window_power, "pf_mpct", JF_I32, pf_mpct, 7),
  FLDZ(struct journal_window_power, "export_uwh", JF_I64, export_uwh, 8),
  FLDZ(struct journal_window_power, "import_uwh", JF_I64, import_uwh, 9),
};
static const struct jdesc window_power_desc = DESC(window_power_fields);

static const struct jfield window_fields[] = {
  FLD(struct journal_window, "afe", JF_U16, afe, 0),
  FLD(struct journal_window, "flags", JF_U16, flags, 1),
  ARRF(struct journal_window, "powers", pow, npow, struct journal_window_power, window_power_desc, 2, JF3_COLUMNS),
  U16ARRF(struct journal_window, "branches", branches, nbranches, 3),
  ARRF(struct journal_window, "channels", ch, nch, struct journal_window_channel, window_channel_desc, 4, JF3_COLUMNS),
  FLD(struct journal_window, "freq_mhz", JF_U32, freq_mhz, 5),
  FLD(struct journal_window, "start_ns", JF_I64, start_ns, 6),
  FLD(struct journal_window, "duration_us", JF_U32, duration_us, 7),
  FLD(struct journal_window, "basic_windows", JF_U16, basic_windows, 8),
};


/* request / command / refusal (replay issue; schemas/replay.cddl). */
static const char *const desired_names[] = { "off", "on", NULL };
static const char *const role_names[] = { "viewer", "operator", "admin", "utility", NULL };
static const char *const origin_names[] = { "operator", "remote", "demand_response", "automation", NULL };
static const char *const command_reason_names[] = { "operator", "load_shed", "restore", "demand_response",
                                                    "interlock", "fail_safe", "remote", "protect", "backup", NULL };
static const char *const refusal_reason_names[] = { "backfeed", "breaker_open", "rcd_tripped", "rate_limit", "role",
                                                    "conflict", "expired", "unknown_target", "invalid",
                                                    "interlock", "mode", "mandatory", "superseded",
                                                    "unknown_event", "alarm_active", "alarm_not_raised", "stale", "deferred",
                                                    "signature", "audience", "replayed", "sequence", "unknown_issuer",
                                                    "awaiting_second", "not_yet_valid", "malformed", NULL };

static const char *const request_kind_names[] = { "switch", "service", "dr_start", "dr_cancel", "dr_opt_out",
                                                  "alarm_ack", "der", NULL };
static const char *const alarm_names[] = { "none", "welded", "ct_polarity", "phase_map", "unexplained_trip",
                                           "stale_der", "backfeed_risk", "der_mismatch", "leakage_high",
                                           "over_temperature", "temperature_rise", NULL };
static const char *const der_target_names[] = { "none", "pv", "ess", NULL };
static const char *const der_action_names[] = { "none", "connect", "disconnect", "limit", "charge_limit", "discharge_limit", NULL };
const char *journal_der_action_name(unsigned action)
{
  return action && action <= JOURNAL_DERA_MAX ? der_action_names[action] : NULL;
}
int journal_der_action_from_name(const char *name)
{
  for (int i = 1; name && der_action_names[i]; i++)
    if (!strcmp(name, der_action_names[i])) return i;
  return -1;
}
static const char *const service_action_names[] = { "none", "disconnect", "reconnect", "confirm", "set_mode", NULL };
static const struct jfield request_fields[] = {
  FLDZ(struct journal_request, "cti", JF_BYTES, cti, 25),
  FLDZ(struct journal_request, "der", JF_U32, der, 23),
  FLD(struct journal_request, "gid", JF_U32, gid, 0),
  FLD(struct journal_request, "uid", JF_U32, uid, 1),
  ENUMF(struct journal_request, "kind", kind, request_kind_names, 2),
  ENUMF(struct journal_request, "role", role, role_names, 3),
  ENUMZ(struct journal_request, "alarm", alarm, alarm_names, 22),
  FLD(struct journal_request, "event", JF_TEXT, event, 4),
  ENUMF(struct journal_request, "action", action, service_action_names, 5),
  FLD(struct journal_request, "issuer", JF_TEXT, issuer, 6),
  ENUMF(struct journal_request, "origin", origin, origin_names, 7),
  FLD(struct journal_request, "reason", JF_TEXT, reason, 8),
  FLD(struct journal_request, "target", JF_TARGET, target, 9),
  ENUMF(struct journal_request, "desired", desired, desired_names, 10),
  FLD(struct journal_request, "reduce_w", JF_U32, reduce_w, 11),
  FLD(struct journal_request, "start_ns", JF_I64, start_ns, 12),
  FLD(struct journal_request, "expiry_ns", JF_I64, expiry_ns, 13),
  FLD(struct journal_request, "mandatory", JF_BOOL, mandatory, 14),
  FLD(struct journal_request, "dtstart_ns", JF_I64, dtstart_ns, 15),
  FLDZ(struct journal_request, "remote_seq", JF_U64, remote_seq, 24),
  FLD(struct journal_request, "request_id", JF_TEXT, request_id, 16),
  FLD(struct journal_request, "branch_mask", JF_U64, branch_mask, 17),
  FLD(struct journal_request, "duration_ns", JF_U64, duration_ns, 18),
  FLD(struct journal_request, "control_mode", JF_U8, control_mode, 19),
  FLD(struct journal_request, "modification", JF_U32, modification, 20),
  FLD(struct journal_request, "randomize_ns", JF_U64, randomize_ns, 21),
};

static const struct jfield command_fields[] = {
  ENUMZ(struct journal_command, "der", der, der_target_names, 13),
  FLDZ(struct journal_command, "rank", JF_U8, rank, 5),
  ENUMF(struct journal_command, "reason", reason, command_reason_names, 0),
  FLD(struct journal_command, "target", JF_TARGET, target, 1),
  ENUMF(struct journal_command, "desired", desired, desired_names, 2),
  FLDZ(struct journal_command, "limit_ma", JF_I64, limit_ma, 6),
  FLDZ(struct journal_command, "phase_ma", JF_I64, phase_ma, 7),
  FLDZ(struct journal_command, "priority", JF_U8, priority, 8),
  FLD(struct journal_command, "cause_seq", JF_U64, cause_seq, 3),
  ENUMZ(struct journal_command, "der_action", der_action, der_action_names, 14),
  FLDZ(struct journal_command, "holdoff_ms", JF_U32, holdoff_ms, 9),
  FLD(struct journal_command, "request_id", JF_TEXT, request_id, 4),
  FLDZ(struct journal_command, "stagger_ms", JF_U32, stagger_ms, 10),
  FLDZ(struct journal_command, "allowance_ms", JF_U32, allowance_ms, 11),
  FLDZ(struct journal_command, "der_permille", JF_U16, der_permille, 15),
  FLDZ(struct journal_command, "level_permille", JF_U32, level_permille, 12),
};

static const struct jfield refusal_fields[] = {
  FLDZ(struct journal_refusal, "cti", JF_BYTES, cti, 10),
  FLDZ(struct journal_refusal, "ops", JF_U32, ops, 7),
  FLDZ(struct journal_refusal, "uid", JF_U32, uid, 0),
  FLDZ(struct journal_refusal, "count", JF_U32, count, 1),
  ENUMF(struct journal_refusal, "reason", reason, refusal_reason_names, 2),
  FLD(struct journal_refusal, "target", JF_TARGET, target, 3),
  ENUMF(struct journal_refusal, "desired", desired, desired_names, 4),
  FLD(struct journal_refusal, "cause_seq", JF_U64, cause_seq, 5),
  FLDZ(struct journal_refusal, "ops_limit", JF_U32, ops_limit, 8),
  FLDZ(struct journal_refusal, "remote_seq", JF_U64, remote_seq, 9),
  FLD(struct journal_refusal, "request_id", JF_TEXT, request_id, 6),
};

static const struct jdesc request_desc = DESC(request_fields);
static const struct jdesc command_desc = DESC(command_fields);
static const struct jdesc refusal_desc = DESC(refusal_fields);
static const struct jdesc window_desc = DESC(window_fields);
static const struct jdesc boot_desc = DESC(boot_fields);
static const struct jdesc config_desc = DESC(config_fields);
static const struct jdesc note_desc = DESC(note_fields);
static const struct jdesc fault_desc = DESC(fault_fields);
static const struct jdesc seal_desc = DESC(seal_fields);
static const struct jdesc key_desc = DESC(key_fields);
static const struct jdesc retention_desc = DESC(retention_fields);
static const struct jdesc witness_desc = DESC(witness_fields);

static const struct jfield copy_fields[] = {
  FLDZ(struct journal_copy, "record", JF_BYTES, record, 0),
  FLD(struct journal_copy, "main_seq", JF_U64, main_seq, 1),
  FLD(struct journal_copy, "main_hash", JF_FIXED, main_hash, 2),
};
static const struct jdesc copy_desc = DESC(copy_fields);

const struct jdesc *journal__body_desc(unsigned type)
{
  switch (type) {
  case JOURNAL_T_BOOT: return &boot_desc;
  case JOURNAL_T_CONFIG: return &config_desc;
  case JOURNAL_T_NOTE: return &note_desc;
  case JOURNAL_T_FAULT: return &fault_desc;
  case JOURNAL_T_SEAL: return &seal_desc;
  case JOURNAL_T_KEY: return &key_desc;
  case JOURNAL_T_RETENTION: return &retention_desc;
  case JOURNAL_T_WITNESS: return &witness_desc;
  case JOURNAL_T_ACTUATION: return &actuation_desc;
  case JOURNAL_T_SENSE_BACK: return &sense_back_desc;
  case JOURNAL_T_TRIP_TAP: return &trip_tap_desc;
  case JOURNAL_T_DER: return &der_desc;
  case JOURNAL_T_WINDOW: return &window_desc;
  case JOURNAL_T_PQ_EVENT: return &journal__pq_event_desc;
  case JOURNAL_T_PQ_AGGREGATE: return &journal__pq_aggregate_desc;
  case JOURNAL_T_ROLLUP: return &journal__rollup_desc;
  case JOURNAL_T_COPY: return &copy_desc;
  case JOURNAL_T_REQUEST: return &request_desc;
  case JOURNAL_T_COMMAND: return &command_desc;
  case JOURNAL_T_REFUSAL: return &refusal_desc;
  default: return NULL;
  }
}

int journal__all_descs_deep(const struct jdesc **out, int cap)
{
  int n = 0;
  for (unsigned t = 1; t < JOURNAL_T__MAX; t++) {
    const struct jdesc *d = journal__body_desc(t);
    if (!d) continue;
    if (n < cap) out[n] = d;
    n++;
    for (unsigned i = 0; i < d->n; i++)
      if (d->fields[i].kind == JF_ARRAY) {
        if (n < cap) out[n] = d->fields[i].sub;
        n++;
      }
  }
  return n;
}

int journal__all_descs(const struct jdesc **out, const char **names, int cap)
{
  int n = 0;
  for (unsigned t = 1; t < JOURNAL_T__MAX; t++) {
    const struct jdesc *d = journal__body_desc(t);
    if (!d) continue;
    if (n < cap) { out[n] = d; names[n] = type_names[t]; }
    n++;
  }
  return n;
}

/* ------------------------------------------------------------------ v 3 key lookups */

/* Fills every table's by_key and order once at load: ikeys are checked unique and < 24 by
 * tests/journal/test_codec3.c; a table that breaks that here keeps the first field per key. */
__attribute__((constructor)) static void v3_tables_init(void)
{
  const struct jdesc *all[64];
  int n = journal__all_descs_deep(all, 64);
  for (int i = 0; i < n && i < 64; i++) {
    struct jv3 *v = all[i]->v3;
    memset(v, 0, sizeof *v);
    unsigned m = 0;
    for (unsigned k = 0; k < JF3_NKEYS; k++)
      for (unsigned f = 0; f < all[i]->n; f++)
        if (all[i]->fields[f].ikey == k && !v->by_key[k]) {
          v->by_key[k] = (uint8_t)(f + 1);
          v->order[m++] = (uint8_t)f;
        }
  }
}

const char *journal_body_field(unsigned type, unsigned i, bool *is_list)
{
  const struct jdesc *d = type < JOURNAL_T__MAX ? journal__body_desc(type) : NULL;
  if (!d || i >= d->n) return NULL;
  if (is_list) *is_list = d->fields[i].kind == JF_ARRAY || d->fields[i].kind == JF_U16ARR;
  return d->fields[i].name;
}
