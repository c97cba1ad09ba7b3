/*
 * replay_state.c — the derived state `hems replay` and `hems status` print: per branch
 * (commanded, sensed, proven, fault, energy, power, alarms), service and interlock, DER
 * inputs, counters; as a JSON object or as text.
 */
#include <stdio.h>
#include <jansson.h>
#include "replay.h"
#include "replay_internal.h"

json_t *cli_replay_state_json(const struct replay_state *s)
{
  char ab[128];
  json_t *o = json_object();
  json_t *brs = json_array();
  for (unsigned i = 0; i < s->nbranches && i < REPLAY_BRANCHES_MAX; i++) {
    const struct replay_branch *b = &s->br[i];
    json_t *x = json_object();
    json_object_set_new(x, "branch", json_integer(i + 1));
    json_object_set_new(x, "commanded", json_string(replay_onoff_name(b->commanded)));
    json_object_set_new(x, "sensed", json_string(replay_onoff_name(b->sensed)));
    json_object_set_new(x, "proven", json_boolean(b->proven));
    json_object_set_new(x, "fault", json_string(b->fault ? replay_verdict_name(b->fault) : "none"));
    json_object_set_new(x, "breaker_open", json_boolean(b->breaker_open));
    json_object_set_new(x, "rcd_tripped", json_boolean(b->rcd_tripped));
    json_object_set_new(x, "pending_seq", json_integer((json_int_t)b->pending_seq));
    json_object_set_new(x, "phase", b->phase ? json_string((const char *[]){ "A", "B", "C", "N" }[b->phase - 1]) : json_null());
    json_object_set_new(x, "p_mw", json_integer(b->p_mw));
    json_object_set_new(x, "import_uwh", json_integer(b->import_uwh));
    json_object_set_new(x, "export_uwh", json_integer(b->export_uwh));
    json_object_set_new(x, "trips", json_integer(b->trips));
    json_object_set_new(x, "alarms", json_string(replay_alarm_names(b->alarms, ab, sizeof ab)));
    json_array_append_new(brs, x);
  }
  json_object_set_new(o, "branches", brs);
  json_t *ph = json_array();
  for (int i = 0; i < REPLAY_PHASES; i++) {
    json_t *x = json_object();
    json_object_set_new(x, "phase", json_string((const char *[]){ "A", "B", "C", "N" }[i]));
    json_object_set_new(x, "import_uwh", json_integer(s->phase_import_uwh[i]));
    json_object_set_new(x, "export_uwh", json_integer(s->phase_export_uwh[i]));
    json_array_append_new(ph, x);
  }
  json_object_set_new(o, "phases", ph);
  json_object_set_new(o, "service", json_string(replay_onoff_name(s->service_commanded)));
  uint32_t all = s->alarms;
  for (unsigned i = 0; i < REPLAY_BRANCHES_MAX; i++) all |= s->br[i].alarms;
  json_object_set_new(o, "alarms", json_string(replay_alarm_names(all, ab, sizeof ab)));
  json_t *il = json_object();
  json_object_set_new(il, "grid_present", s->grid_present ? json_boolean(s->grid_present == 2) : json_null());
  json_object_set_new(il, "backfeed_risk", json_boolean(s->backfeed_risk));
  json_object_set_new(il, "transfer_state", json_integer(s->transfer_state));
  json_object_set_new(o, "interlock", il);
  json_t *der = json_array();
  static const char *const dn[] = { "pv", "ess", "ats" };
  for (int i = 0; i < REPLAY_DER_SOURCES; i++) {
    if (!s->der[i].seen) continue;
    json_t *x = json_object();
    json_object_set_new(x, "source", json_string(dn[i]));
    json_object_set_new(x, "fresh", json_boolean(!s->der[i].stale));
    json_object_set_new(x, "interlock_ok", json_boolean(s->der[i].interlock_ok));
    json_object_set_new(x, "last_seq", json_integer((json_int_t)s->der[i].last_seq));
    if (s->der[i].cmd_seq) { /* v 10: the last DER command and its proof */
      static const char *const cs[] = { "none", "pending", "confirmed", "not_confirmed" };
      json_t *k = json_object();
      json_object_set_new(k, "seq", json_integer((json_int_t)s->der[i].cmd_seq));
      json_object_set_new(k, "action", json_string(journal_der_action_name(s->der[i].cmd_action) ?: "?"));
      if (s->der[i].cmd_action >= JOURNAL_DERA_LIMIT) json_object_set_new(k, "permille", json_integer(s->der[i].cmd_permille));
      json_object_set_new(k, "state", json_string(s->der[i].cmd_state < 4 ? cs[s->der[i].cmd_state] : "?"));
      json_object_set_new(x, "command", k);
    }
    if (i == JOURNAL_DER_ESS && s->pol.ess_permit_line) /* v 11: the permit the fold last decided */
      json_object_set_new(x, "permit", json_string(replay_onoff_name(s->pol.permit)));
    json_array_append_new(der, x);
  }
  json_object_set_new(o, "der", der);
  json_t *rw = json_object();
  json_object_set_new(rw, "ids", json_integer(s->req_count));
  json_object_set_new(rw, "limit_ids", json_integer(REPLAY_REQ_WINDOW_IDS));
  json_object_set_new(rw, "limit_s", json_integer(REPLAY_REQ_WINDOW_NS / 1000000000ll));
  json_object_set_new(o, "request_window", rw);
  json_t *c = json_object();
  json_object_set_new(c, "records", json_integer((json_int_t)s->records));
  json_object_set_new(c, "windows", json_integer((json_int_t)s->windows));
  json_object_set_new(c, "requests", json_integer((json_int_t)s->requests));
  json_object_set_new(c, "commands", json_integer((json_int_t)s->commands));
  json_object_set_new(c, "refusals", json_integer((json_int_t)s->refusals));
  json_object_set_new(c, "faults", json_integer((json_int_t)s->faults));
  json_object_set_new(o, "counts", c);
  return o;
}

void cli_replay_state_print(const struct replay_state *s, const struct cli_names *names)
{
  char ab[128];
  printf("service %s; interlock: grid %s, backfeed risk %s\n", replay_onoff_name(s->service_commanded),
         s->grid_present == 2 ? "present" : s->grid_present == 1 ? "absent" : "unknown", s->backfeed_risk ? "yes" : "no");
  if (s->nbranches) printf("%-6s %-16s %-9s %-7s %-6s %-11s %12s %12s %10s  %s\n", "branch", "name", "commanded", "sensed", "proven",
                           "fault", "import Wh", "export Wh", "P W", "alarms");
  for (unsigned i = 0; i < s->nbranches && i < REPLAY_BRANCHES_MAX; i++) {
    const struct replay_branch *b = &s->br[i];
    const char *name = cli_branch_name(names, i + 1);
    printf("%-6u %-16.16s %-9s %-7s %-6s %-11s %12.3f %12.3f %10.1f  %s%s%s\n", i + 1, name ? name : "-", replay_onoff_name(b->commanded),
           replay_onoff_name(b->sensed), b->proven ? "yes" : "no", b->fault ? replay_verdict_name(b->fault) : "none",
           (double)b->import_uwh / 1e6, (double)b->export_uwh / 1e6, (double)b->p_mw / 1e3,
           replay_alarm_names(b->alarms, ab, sizeof ab), b->breaker_open ? " breaker_open" : "", b->rcd_tripped ? " rcd_tripped" : "");
  }
  static const char *const dn[] = { "pv", "ess", "ats" };
  for (int i = 0; i < REPLAY_DER_SOURCES; i++)
    if (s->der[i].seen)
      printf("der %s: %s, interlock %s (seq %llu)\n", dn[i], s->der[i].stale ? "STALE" : "fresh",
             s->der[i].interlock_ok ? "ok" : "NOT ok", (unsigned long long)s->der[i].last_seq);
  uint32_t all = s->alarms;
  for (unsigned i = 0; i < REPLAY_BRANCHES_MAX; i++) all |= s->br[i].alarms;
  printf("alarms: %s\n", all ? replay_alarm_names(all, ab, sizeof ab) : "none");
  printf("records %llu (windows %llu, requests %llu, commands %llu, refusals %llu); request-id window %u/%u ids, %lld h\n",
         (unsigned long long)s->records, (unsigned long long)s->windows, (unsigned long long)s->requests,
         (unsigned long long)s->commands, (unsigned long long)s->refusals, s->req_count, REPLAY_REQ_WINDOW_IDS,
         (long long)(REPLAY_REQ_WINDOW_NS / 3600000000000ll));
}
