/*
 * cmd_control.c — commands that ask the running daemon to act: `hems switch` (and the helper
 * the service / demand-response commands share). The daemon journals the request, the fold
 * decides (command or refusal), and for a command the answer waits for the sense-back.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cli.h"
#include "daemon.h"

int cli_daemon_request(const char *dir, json_t *req_owned, int timeout_ms, json_t **out)
{
  char *line = json_dumps(req_owned, JSON_COMPACT), *resp = NULL;
  json_decref(req_owned);
  if (!line) return CLI_ENV;
  int rc = daemon_call(dir, NULL, line, &resp, timeout_ms);
  free(line);
  if (rc) {
    if (rc == -ENOENT || rc == -ECONNREFUSED)
      cli_err("%s: no daemon answers on its control socket (start it with 'hems run --dir %s')", dir, dir);
    else if (rc == -EACCES)
      cli_err("%s: control socket: permission denied (needs the socket's group)", dir);
    else
      cli_err("%s: control socket: %s", dir, strerror(-rc));
    return CLI_ENV;
  }
  json_error_t je;
  *out = json_loads(resp, 0, &je);
  free(resp);
  if (!*out) { cli_err("%s: malformed answer from the daemon", dir); return CLI_ENV; }
  return 0;
}

int cli_cmd_switch(int argc, char **argv)
{
  enum { O_DIR = 1000, O_RID, O_REASON, O_COUNTER, O_ACCEPT };
  static const struct option lo[] = { { "dir", required_argument, NULL, O_DIR }, { "request-id", required_argument, NULL, O_RID },
                                      { "reason", required_argument, NULL, O_REASON }, { "counter", required_argument, NULL, O_COUNTER },
                                      { "accept-rollback", no_argument, NULL, O_ACCEPT }, { 0 } };
  const char *dir = cli_default_dir(), *rid = NULL, *reason = NULL;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    if (opt == O_DIR) dir = optarg;
    else if (opt == O_RID) rid = optarg;
    else if (opt == O_REASON) reason = optarg;
    else if (opt == O_COUNTER || opt == O_ACCEPT) continue; /* the daemon owns the journal */
    else return cli_usage(cli_find("switch"), false);
  }
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
