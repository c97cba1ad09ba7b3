/*
 * ship_commands.c — `hems ship`'s side of signed remote commands (docs/fleet.md "Remote
 * commands"): each message on hems/<device id>/commands is a COSE_Sign1 handed as it is to the
 * daemon's control socket (op "remote"), where the daemon decides; ship checks nothing but the
 * size and logs the daemon's answer. The call blocks the loop at most 10 s (a service command is
 * answered at its sense-back).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <mosquitto.h>
#include "cli.h"
#include "daemon.h"
#include "remote.h"
#include "ship.h"

void ship_commands_topic(struct ship *s, const char *topic_id)
{
  snprintf(s->t_cmd, sizeof s->t_cmd, "hems/%s/commands", topic_id);
}

void ship_commands_subscribe(struct ship *s, struct mosquitto *m)
{
  s->cmd_mid = -1;
  mosquitto_subscribe(m, &s->cmd_mid, s->t_cmd, 1);
}

bool ship_commands_subscribed(struct ship *s, int mid, int n, const int *granted)
{
  if (mid != s->cmd_mid) return false;
  if (n == 1 && granted[0] <= 2) cli_err("ship: taking remote commands on %s", s->t_cmd);
  else cli_err("ship: the broker refused the subscription to %s: no remote commands", s->t_cmd);
  return true;
}

bool ship_commands_message(struct ship *s, const struct mosquitto_message *msg)
{
  if (strcmp(msg->topic, s->t_cmd)) return false;
  size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
  if (len == 0 || len > REMOTE_MSG_MAX) {
    cli_err("ship: %s: a message of %zu bytes is not a remote command (1..%d bytes): dropped", s->t_cmd, len, REMOTE_MSG_MAX);
    return true;
  }
  static char b64[((REMOTE_MSG_MAX + 2) / 3) * 4 + 1];
  sodium_bin2base64(b64, sizeof b64, msg->payload, len, sodium_base64_VARIANT_ORIGINAL);
  json_t *req = json_pack("{s:s, s:s}", "op", "remote", "cose", b64);
  char *line = json_dumps(req, JSON_COMPACT), *out = NULL;
  json_decref(req);
  int rc = line ? daemon_call(s->live.dir, s->live.socket, line, &out, 10000) : -ENOMEM;
  free(line);
  if (rc) {
    cli_err("ship: %s: the daemon did not take the command (%s)", s->t_cmd, strerror(rc < 0 ? -rc : rc));
    return true;
  }
  json_t *o = json_loads(out, 0, NULL);
  const char *outcome = json_string_value(json_object_get(o, "outcome")), *why = json_string_value(json_object_get(o, "reason")),
             *err = json_string_value(json_object_get(o, "error"));
  if (err) cli_err("ship: %s: %s", s->t_cmd, err);
  else cli_err("ship: %s: remote command %s%s%s", s->t_cmd, outcome ? outcome : "decided", why ? ": " : "", why ? why : "");
  json_decref(o);
  free(out);
  return true;
}
