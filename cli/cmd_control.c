/*
 * cmd_control.c — commands that ask the running daemon to act: `hems switch`, `hems service`
 * and `hems dr` (docs/policy.md). The daemon journals the request, the fold
 * decides (command or refusal), and for a command the answer waits for the sense-back.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "cli.h"
#include "daemon.h"

int cli_daemon_unreachable(const char *dir, int rc)
{
  if (rc == -EPERM)
    ; /* an impostor answers: daemon_call said so */
  else if (rc == -ENOENT || rc == -ECONNREFUSED)
    cli_err("%s: no daemon answers on its control socket (start it with 'hems run --dir %s')", dir, dir);
  else if (rc == -EACCES)
    cli_err("%s: control socket: permission denied (needs the group " DAEMON_OPERATORS_GROUP " or the daemon's)", dir);
  else
    cli_err("%s: control socket: %s", dir, strerror(-rc));
  return CLI_ENV;
}

int cli_daemon_request(const char *dir, json_t *req_owned, int timeout_ms, json_t **out)
{
  char *line = json_dumps(req_owned, JSON_COMPACT), *resp = NULL;
  json_decref(req_owned);
  if (!line) return CLI_ENV;
  int rc = daemon_call(dir, NULL, line, &resp, timeout_ms);
  free(line);
  if (rc) return cli_daemon_unreachable(dir, rc);
  json_error_t je;
  *out = json_loads(resp, JSON_REJECT_DUPLICATES, &je);
  free(resp);
  if (!*out) { cli_err("%s: malformed answer from the daemon", dir); return CLI_ENV; }
  return 0;
}

/* T in the CLI's time grammar as a request field: +DURATION counts from now on the panel's
 * clock (sent as rel, ns), anything else is RFC 3339, @UNIX or -DURATION read here (sent as abs,
 * ns since the Unix epoch, positive). -1 when T is none of these. */
static int put_time(json_t *req, const char *abs, const char *rel, const char *t)
{
  int64_t v;
  if (t[0] == '+') {
    if (cli_parse_duration_ns(t + 1, &v)) return -1;
    json_object_set_new(req, rel, json_integer(v));
    return 0;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (cli_parse_time(t, (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec, &v) || v <= 0) return -1;
  json_object_set_new(req, abs, json_integer(v));
  return 0;
}

/* --expires T on req; a usage error line (what names the command) when T is not a time. */
static int put_expiry(json_t *req, const char *what, const char *t)
{
  if (!t || put_time(req, "expires", "expires_in_ns", t) == 0) return 0;
  cli_err("%s: --expires: '%s' is not a time (RFC 3339, @UNIX, +DURATION from now on the panel clock, or -DURATION)", what, t);
  return -1;
}

/* The options of a request command (switch, alarm): --dir, --request-id, --reason, --expires;
 * --counter and --accept-rollback are taken and ignored (the daemon owns the journal). 0, or
 * the usage exit code after printing the command's usage. */
struct req_opts { const char *dir, *rid, *reason, *expires; };
static int req_opts_parse(int argc, char **argv, const char *cmd, struct req_opts *o)
{
  enum { O_DIR = 1000, O_RID, O_REASON, O_EXPIRES, O_COUNTER, O_ACCEPT };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "request-id", required_argument, NULL, O_RID },
                                      { "reason", required_argument, NULL, O_REASON }, { "expires", required_argument, NULL, O_EXPIRES },
                                      { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT }, { 0 } };
  *o = (struct req_opts){ cli_default_dir(), NULL, NULL, NULL };
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) o->dir = optarg;
    else if (opt == O_RID) o->rid = optarg;
    else if (opt == O_REASON) o->reason = optarg;
    else if (opt == O_EXPIRES) o->expires = optarg;
    else if (opt == O_COUNTER || opt == O_ACCEPT) continue;
    else return cli_usage(cli_find(cmd), false);
  }
  return 0;
}

int cli_cmd_switch(int argc, char **argv)
{
  struct req_opts ro;
  int urc = req_opts_parse(argc, argv, "switch", &ro);
  if (urc) return urc;
  const char *dir = ro.dir, *rid = ro.rid, *reason = ro.reason, *expires = ro.expires;
  if (argc - optind != 2) return cli_usage(cli_find("switch"), false);
  const char *branch = argv[optind], *state = argv[optind + 1];
  if (strcmp(state, "on") && strcmp(state, "off")) { cli_err("switch: state must be on or off, not '%s'", state); return CLI_USAGE; }
  if (rid && (!*rid || strlen(rid) > 64)) { cli_err("switch: --request-id must be 1..64 bytes"); return CLI_USAGE; }
  json_t *req = json_pack("{s:s, s:s}", "op", "switch", "desired", state);
  uint64_t num;
  if (cli_parse_u64(branch, &num) == 0) {
    if (num == 0 || num > 65535) { json_decref(req); cli_err("switch: branch %s: not a branch number", branch); return CLI_USAGE; }
    json_object_set_new(req, "branch", json_integer((json_int_t)num));
  } else {
    json_object_set_new(req, "branch", json_string(branch));
  }
  if (rid) json_object_set_new(req, "request_id", json_string(rid));
  if (reason) json_object_set_new(req, "reason", json_string(reason));
  if (put_expiry(req, "switch", expires)) { json_decref(req); return CLI_USAGE; }
  json_t *o;
  int rc = cli_daemon_request(dir, req, 30000, &o);
  if (rc) return rc;
  int code = CLI_FAIL;
  if (!json_is_true(json_object_get(o, "ok"))) {
    const char *e = json_string_value(json_object_get(o, "error"));
    cli_err("switch: %s", e ? e : "failed");
    code = e && !strncmp(e, "malformed", 9) ? CLI_USAGE : CLI_FAIL;
  } else {
    const char *outcome = json_string_value(json_object_get(o, "outcome"));
    bool repeat = json_is_true(json_object_get(o, "repeat"));
    if (outcome && !strcmp(outcome, "refusal")) {
      const char *why = json_string_value(json_object_get(o, "reason"));
      printf("refused: %s%s (request seq %lld)\n", why ? why : "?", repeat ? ", repeated request id" : "",
             (long long)json_integer_value(json_object_get(o, "request_seq")));
      cli_err("switch %s %s: refused: %s", branch, state, why ? why : "?");
    } else {
      const char *verdict = json_string_value(json_object_get(o, "verdict"));
      printf("command seq %lld: sense-back %s%s\n", (long long)json_integer_value(json_object_get(o, "command_seq")),
             verdict ? verdict : "?", repeat ? " (repeated request id: stored outcome, no new actuation)" : "");
      if (verdict && !strcmp(verdict, "confirmed")) code = CLI_OK;
      else cli_err("switch %s %s: sense-back %s", branch, state, verdict ? verdict : "unknown");
    }
  }
  json_decref(o);
  return code;
}

/* Prints a policy outcome (refusal / accepted / command + sense-back); returns the exit code. */
int cli_policy_outcome(const char *what, json_t *o)
{
  int code = CLI_FAIL;
  if (!json_is_true(json_object_get(o, "ok"))) {
    const char *e = json_string_value(json_object_get(o, "error"));
    cli_err("%s: %s", what, e ? e : "failed");
    return e && !strncmp(e, "malformed", 9) ? CLI_USAGE : CLI_FAIL;
  }
  const char *outcome = json_string_value(json_object_get(o, "outcome"));
  bool repeat = json_is_true(json_object_get(o, "repeat"));
  long long rseq = (long long)json_integer_value(json_object_get(o, "request_seq"));
  if (outcome && !strcmp(outcome, "refusal")) {
    const char *why = json_string_value(json_object_get(o, "reason"));
    printf("refused: %s%s (request seq %lld)\n", why ? why : "?", repeat ? ", repeated request id" : "", rseq);
    cli_err("%s: refused: %s", what, why ? why : "?");
  } else if (outcome && !strcmp(outcome, "accepted")) {
    const char *held = json_string_value(json_object_get(o, "held"));
    if (held && strcmp(held, "accepted")) printf("accepted (%s) request seq %lld%s\n", held, rseq, repeat ? " (repeated: stored reply)" : "");
    else printf("accepted request seq %lld%s\n", rseq, repeat ? " (repeated: stored reply)" : "");
    code = CLI_OK;
  } else {
    const char *verdict = json_string_value(json_object_get(o, "verdict"));
    printf("command seq %lld: sense-back %s%s\n", (long long)json_integer_value(json_object_get(o, "command_seq")),
           verdict ? verdict : "?", repeat ? " (repeated request id: stored outcome, no new actuation)" : "");
    if (verdict && !strcmp(verdict, "confirmed")) code = CLI_OK;
    else cli_err("%s: sense-back %s", what, verdict ? verdict : "unknown");
  }
  return code;
}

int cli_cmd_service(int argc, char **argv)
{
  enum { O_DIR = 1000, O_RID, O_REASON, O_MODE, O_EXPIRES, O_COUNTER, O_ACCEPT };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "request-id", required_argument, NULL, O_RID },
                                      { "reason", required_argument, NULL, O_REASON }, { "mode", required_argument, NULL, O_MODE },
                                      { "expires", required_argument, NULL, O_EXPIRES }, { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT }, { 0 } };
  const char *dir = cli_default_dir(), *rid = NULL, *reason = NULL, *expires = NULL;
  uint64_t mode = 0;
  bool have_mode = false;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) dir = optarg;
    else if (opt == O_RID) rid = optarg;
    else if (opt == O_REASON) reason = optarg;
    else if (opt == O_EXPIRES) expires = optarg;
    else if (opt == O_MODE) {
      if (cli_parse_u64(optarg, &mode) || mode > 6) { cli_err("service: --mode must be 0..6"); return CLI_USAGE; }
      have_mode = true;
    } else if (opt == O_COUNTER || opt == O_ACCEPT) continue;
    else return cli_usage(cli_find("service"), false);
  }
  if (argc - optind != 1) return cli_usage(cli_find("service"), false);
  const char *action = argv[optind];
  if (strcmp(action, "disconnect") && strcmp(action, "reconnect") && strcmp(action, "confirm") && strcmp(action, "set-mode")) {
    cli_err("service: action must be disconnect, reconnect, confirm or set-mode, not '%s'", action);
    return CLI_USAGE;
  }
  if (!strcmp(action, "set-mode") && !have_mode) { cli_err("service: set-mode needs --mode N"); return CLI_USAGE; }
  if (rid && (!*rid || strlen(rid) > 64)) { cli_err("service: --request-id must be 1..64 bytes"); return CLI_USAGE; }
  json_t *req = json_pack("{s:s, s:s}", "op", "service", "action", action);
  if (rid) json_object_set_new(req, "request_id", json_string(rid));
  if (reason) json_object_set_new(req, "reason", json_string(reason));
  if (have_mode) json_object_set_new(req, "mode", json_integer((json_int_t)mode));
  if (put_expiry(req, "service", expires)) { json_decref(req); return CLI_USAGE; }
  json_t *o;
  int rc = cli_daemon_request(dir, req, 30000, &o);
  if (rc) return rc;
  char what[48];
  snprintf(what, sizeof what, "service %s", action);
  int code = cli_policy_outcome(what, o);
  json_decref(o);
  return code;
}

int cli_cmd_dr(int argc, char **argv)
{
  enum { O_DIR = 1000, O_RID, O_EVENT, O_MOD, O_START, O_DUR, O_RAND, O_KW, O_BRANCHES, O_MAND, O_EXPIRES, O_COUNTER, O_ACCEPT };
  static const struct option lo[] = {
    { "dir", required_argument, NULL, O_DIR }, { "request-id", required_argument, NULL, O_RID },
    { "event", required_argument, NULL, O_EVENT }, { "modification", required_argument, NULL, O_MOD },
    { "start", required_argument, NULL, O_START }, { "duration", required_argument, NULL, O_DUR },
    { "randomize", required_argument, NULL, O_RAND }, { "reduce-kw", required_argument, NULL, O_KW },
    { "branches", required_argument, NULL, O_BRANCHES }, { "mandatory", no_argument, NULL, O_MAND },
    { "expires", required_argument, NULL, O_EXPIRES }, { "counter", required_argument, NULL, O_COUNTER }, { "accept-rollback", no_argument, NULL, O_ACCEPT }, { 0 } };
  const char *dir = cli_default_dir(), *rid = NULL, *event = NULL, *start = NULL, *branches = NULL, *expires = NULL;
  uint64_t mod = 0;
  int64_t dur = 0, rnd = 0;
  double kw = 0;
  bool mandatory = false;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (opt) {
    case O_DIR: dir = optarg; break;
    case O_RID: rid = optarg; break;
    case O_EVENT: event = optarg; break;
    case O_MOD: if (cli_parse_u64(optarg, &mod) || mod > UINT32_MAX) { cli_err("dr: --modification must be 0..4294967295"); return CLI_USAGE; } break;
    case O_START: start = optarg; break;
    case O_DUR: if (cli_parse_duration_ns(optarg, &dur) || dur <= 0) { cli_err("dr: --duration: '%s' is not a duration", optarg); return CLI_USAGE; } break;
    case O_RAND: if (cli_parse_duration_ns(optarg, &rnd) || rnd < 0) { cli_err("dr: --randomize: '%s' is not a duration", optarg); return CLI_USAGE; } break;
    case O_KW: {
      char *end;
      kw = strtod(optarg, &end);
      if (*end || !(kw > 0) || kw > 1e6) { cli_err("dr: --reduce-kw must be a positive number"); return CLI_USAGE; }
      break;
    }
    case O_BRANCHES: branches = optarg; break;
    case O_MAND: mandatory = true; break;
    case O_EXPIRES: expires = optarg; break;
    case O_COUNTER: case O_ACCEPT: break;
    default: return cli_usage(cli_find("dr"), false);
    }
  }
  if (argc - optind != 1) return cli_usage(cli_find("dr"), false);
  const char *action = argv[optind];
  if (strcmp(action, "start") && strcmp(action, "cancel") && strcmp(action, "opt-out")) {
    cli_err("dr: action must be start, cancel or opt-out, not '%s'", action);
    return CLI_USAGE;
  }
  if (!event || !*event || strlen(event) > 64) { cli_err("dr: --event ID (1..64 bytes) is required"); return CLI_USAGE; }
  bool is_start = !strcmp(action, "start");
  if (is_start && !dur) { cli_err("dr start: --duration is required"); return CLI_USAGE; }
  if (is_start && (kw > 0) == (branches != NULL)) { cli_err("dr start: give exactly one of --reduce-kw or --branches"); return CLI_USAGE; }
  if (rid && (!*rid || strlen(rid) > 64)) { cli_err("dr: --request-id must be 1..64 bytes"); return CLI_USAGE; }
  json_t *req = json_pack("{s:s, s:s, s:s}", "op", "dr", "action", action, "event", event);
  if (rid) json_object_set_new(req, "request_id", json_string(rid));
  if (is_start) {
    json_object_set_new(req, "modification", json_integer((json_int_t)mod));
    json_object_set_new(req, "duration_ns", json_integer(dur));
    if (rnd) json_object_set_new(req, "randomize_ns", json_integer(rnd));
    if (kw > 0) json_object_set_new(req, "reduce_w", json_integer((json_int_t)(kw * 1000.0 + 0.5)));
    if (mandatory) json_object_set_new(req, "mandatory", json_true());
    /* relative times are relative to the panel's clock: passed as an offset */
    if (start && put_time(req, "start_ns", "start_in_ns", start)) {
      json_decref(req);
      cli_err("dr: --start: '%s' is not a time (RFC 3339, @UNIX, or +DURATION from now on the panel clock)", start);
      return CLI_USAGE;
    }
    if (branches) {
      json_t *arr = json_array();
      char buf[512];
      snprintf(buf, sizeof buf, "%s", branches);
      for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        uint64_t n;
        if (cli_parse_u64(tok, &n) == 0) json_array_append_new(arr, json_integer((json_int_t)n));
        else json_array_append_new(arr, json_string(tok));
      }
      json_object_set_new(req, "branches", arr);
    }
  }
  if (put_expiry(req, "dr", expires)) { json_decref(req); return CLI_USAGE; }
  json_t *o;
  int rc = cli_daemon_request(dir, req, 30000, &o);
  if (rc) return rc;
  char what[48];
  snprintf(what, sizeof what, "dr %s", action);
  int code = cli_policy_outcome(what, o);
  json_decref(o);
  return code;
}

/* hems alarm ack BRANCH|panel ALARM: a journaled request; the fold clears the alarm only when
 * its condition no longer holds (docs/policy.md "Alarms"), else refuses it naming why. */
int cli_cmd_alarm(int argc, char **argv)
{
  struct req_opts ro;
  int urc = req_opts_parse(argc, argv, "alarm", &ro);
  if (urc) return urc;
  const char *dir = ro.dir, *rid = ro.rid, *reason = ro.reason, *expires = ro.expires;
  if (argc - optind != 3 || strcmp(argv[optind], "ack")) {
    if (argc - optind >= 1 && strcmp(argv[optind], "ack")) cli_err("alarm: unknown action '%s' (the only one is ack)", argv[optind]);
    return cli_usage(cli_find("alarm"), false);
  }
  const char *target = argv[optind + 1], *alarm = argv[optind + 2];
  if (rid && (!*rid || strlen(rid) > 64)) { cli_err("alarm ack: --request-id must be 1..64 bytes"); return CLI_USAGE; }
  uint64_t n;
  json_t *req = json_pack("{s:s, s:s}", "op", "alarm_ack", "alarm", alarm);
  if (!cli_parse_u64(target, &n)) {
    if (n < 1 || n > 65535) { json_decref(req); cli_err("alarm ack: branch must be 1..65535 or a name, not '%s'", target); return CLI_USAGE; }
    json_object_set_new(req, "target", json_integer((json_int_t)n));
  } else json_object_set_new(req, "target", json_string(target)); /* "panel" or a branch name */
  if (rid) json_object_set_new(req, "request_id", json_string(rid));
  if (reason) json_object_set_new(req, "reason", json_string(reason));
  if (put_expiry(req, "alarm ack", expires)) { json_decref(req); return CLI_USAGE; }
  json_t *o;
  int rc = cli_daemon_request(dir, req, 30000, &o);
  if (rc) return rc;
  char what[96];
  snprintf(what, sizeof what, "alarm ack %s %s", target, alarm);
  int code = cli_policy_outcome(what, o);
  json_decref(o);
  return code;
}

/* hems der pv|ess ACTION [PERCENT]: a journaled request; the fold decides it, the SunSpec bridge
 * executes the command and the daemon answers at its sense-back (docs/policy.md "DER commands"). */
int cli_cmd_der(int argc, char **argv)
{
  struct req_opts ro;
  int urc = req_opts_parse(argc, argv, "der", &ro);
  if (urc) return urc;
  int n = argc - optind;
  if (n < 2 || n > 3) return cli_usage(cli_find("der"), false);
  const char *source = argv[optind], *action = argv[optind + 1], *pct = n == 3 ? argv[optind + 2] : NULL;
  if (strcmp(source, "pv") && strcmp(source, "ess")) { cli_err("der: source must be pv or ess, not '%s'", source); return CLI_USAGE; }
  int a = journal_der_action_from_name(action);
  if (a < 0) {
    cli_err("der: action must be connect, disconnect, limit, charge_limit or discharge_limit, not '%s'", action);
    return CLI_USAGE;
  }
  bool limit = a >= JOURNAL_DERA_LIMIT;
  if (limit != (pct != NULL)) {
    cli_err(limit ? "der %s: give the limit in percent of the device's rating (0..100, one decimal)"
                  : "der %s: takes no value", action);
    return CLI_USAGE;
  }
  json_t *req = json_pack("{s:s, s:s, s:s}", "op", "der", "source", source, "action", action);
  if (pct) {
    char *end = NULL;
    double v = strtod(pct, &end);
    if (end && *end == '%') end++;
    if (end == pct || !end || *end || !(v >= 0 && v <= 100)) {
      json_decref(req);
      cli_err("der %s: '%s' is not a percentage 0..100", action, pct);
      return CLI_USAGE;
    }
    json_object_set_new(req, "permille", json_integer((json_int_t)(v * 10 + 0.5)));
  }
  if (ro.rid && (!*ro.rid || strlen(ro.rid) > 64)) { json_decref(req); cli_err("der: --request-id must be 1..64 bytes"); return CLI_USAGE; }
  if (ro.rid) json_object_set_new(req, "request_id", json_string(ro.rid));
  if (ro.reason) json_object_set_new(req, "reason", json_string(ro.reason));
  if (put_expiry(req, "der", ro.expires)) { json_decref(req); return CLI_USAGE; }
  json_t *o;
  /* the answer comes at the sense-back: the bridge's write and the poll that shows it, or the
   * daemon's timeouts (30 s unwritten, 60 s unshown, panel time) */
  int rc = cli_daemon_request(ro.dir, req, 120000, &o);
  if (rc) return rc;
  char what[96];
  snprintf(what, sizeof what, "der %s %s", source, action);
  int code = cli_policy_outcome(what, o);
  json_decref(o);
  return code;
}
