/*
 * reduce_names.c — names of the fold's enums and alarm bits, as the CLI and JSON print them (reduce_internal.h says how the fold is split).
 */
#include "reduce_internal.h"

static const char *const verdict_names[] = { "none", "confirmed", "welded", "stuck_open", "leakage",
                                             "no_feedback", "chatter" };

/* ------------------------------------------------------------------ names */

const char *replay_onoff_name(unsigned v)
{
  return v == REPLAY_ON ? "on" : v == REPLAY_OFF ? "off" : "unknown";
}
const char *replay_verdict_name(unsigned v)
{
  return v < sizeof verdict_names / sizeof verdict_names[0] ? verdict_names[v] : "?";
}
const char *replay_command_reason_name(unsigned v)
{
  static const char *const n[] = { "operator", "load_shed", "restore", "demand_response", "interlock", "fail_safe", "remote",
                                   "protect", "backup" };
  return v < sizeof n / sizeof n[0] ? n[v] : "?";
}
const char *replay_refusal_reason_name(unsigned v)
{
  static const char *const n[] = { "backfeed", "breaker_open", "rcd_tripped", "rate_limit", "role", "conflict",
                                   "expired", "unknown_target", "invalid", "interlock", "mode", "mandatory",
                                   "superseded", "unknown_event", "alarm_active", "alarm_not_raised", "stale", "deferred",
                                   "signature", "audience", "replayed", "sequence", "unknown_issuer",
                                   "awaiting_second", "not_yet_valid", "malformed" };
  return v < sizeof n / sizeof n[0] ? n[v] : "?";
}
const char *replay_defer_reason_name(unsigned v)
{
  static const char *const n[] = { "accepted", "overridden", "supply_low", "armed" };
  return v < sizeof n / sizeof n[0] ? n[v] : "?";
}
const char *replay_service_state_name(unsigned v)
{
  static const char *const n[] = { "disconnected", "connected", "ready_for_reconnection" };
  return v < sizeof n / sizeof n[0] ? n[v] : "?";
}
const char *replay_dr_status_name(unsigned v)
{
  static const char *const n[] = { "free", "scheduled", "active", "completed", "cancelled", "opted_out" };
  return v < sizeof n / sizeof n[0] ? n[v] : "?";
}

static const char *const alarm_names[REPLAY_ALARMS] = { "welded", "ct_polarity", "phase_map", "unexplained_trip",
                                                         "stale_der", "backfeed_risk", "der_mismatch", "leakage_high",
                                                         "over_temperature", "temperature_rise" };

const char *replay_alarm_name(unsigned bit)
{
  return bit < REPLAY_ALARMS ? alarm_names[bit] : NULL;
}

const char *replay_alarm_names(uint32_t bits, char *buf, size_t cap)
{
  const char *const *n = alarm_names;
  size_t len = 0;
  if (cap) buf[0] = 0;
  for (unsigned i = 0; i < REPLAY_ALARMS; i++) {
    if (!(bits & (1u << i))) continue;
    size_t w = cstr_len(n[i]) + (len ? 1 : 0);
    if (len + w + 1 > cap) break;
    if (len) buf[len++] = ',';
    memcpy(buf + len, n[i], cstr_len(n[i]));
    len += cstr_len(n[i]);
    buf[len] = 0;
  }
  return buf;
}
