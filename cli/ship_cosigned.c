/*
 * ship_cosigned.c — `hems ship --witness WVKEY`: the head-end's cosignatures back into the
 * panel's journal (docs/fleet.md "Cosignatures"). ship subscribes to hems/ID/cosigned (retained:
 * the newest one arrives on every connect) and hands each cosigned checkpoint to the daemon's
 * "witness" op (run_witness.c), which journals a witness record only if the cosignature verifies
 * under WVKEY over exactly the checkpoint the journal signed at that size; anything else is
 * refused there and logged here. At most one cosignature is journaled every COSIGNED_EVERY_MS:
 * the witness record is itself shipped, sealed and cosigned again, so journaling every one would
 * loop (a record and a seal per cosignature, forever); a newer cosignature covers the older ones'
 * records anyway. One of a size already journaled is not sent again.
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <mosquitto.h>
#include "cli.h"
#include "daemon.h"
#include "ship.h"

static const char *wvkey;          /* NULL: no --witness, nothing subscribed */
static char topic[BRIDGE_TOPIC_MAX];
static int sub_mid = -1;
static uint64_t last_size;         /* the largest tree size journaled so far */
static int64_t last_ms;            /* when (bridge_now_ms), 0 never */
#define COSIGNED_EVERY_MS (5 * 60 * 1000)

int ship_cosigned_option(const char *vkey)
{
  struct journal_tlog_verifier v;
  if (journal_tlog_verifier_parse(vkey, strlen(vkey), &v) != 0 || v.type != JOURNAL_TLOG_COSIG_V1) {
    cli_err("ship: --witness %s: not a cosignature/v1 verifier key (hems witness vkey prints it)", vkey);
    return CLI_USAGE;
  }
  wvkey = vkey;
  return 0;
}

void ship_cosigned_subscribe(struct ship *s)
{
  if (!wvkey) return;
  /* hems/ID/backfill → hems/ID/cosigned */
  size_t n = strlen(s->t_bf) - strlen("/backfill");
  snprintf(topic, sizeof topic, "%.*s/cosigned", (int)n, s->t_bf);
  mosquitto_subscribe(s->k.m, &sub_mid, topic, 1);
}

bool ship_cosigned_suback(int mid)
{
  if (!wvkey || mid != sub_mid) return false;
  cli_err("ship: taking cosignatures on %s", topic);
  return true;
}

bool ship_cosigned_message(struct ship *s, const struct mosquitto_message *msg)
{
  if (!wvkey || strcmp(msg->topic, topic)) return false;
  if (msg->payloadlen <= 0 || msg->payloadlen > JOURNAL_TLOG_NOTE_MAX) return true;
  char note[JOURNAL_TLOG_NOTE_MAX + 1];
  memcpy(note, msg->payload, (size_t)msg->payloadlen);
  note[msg->payloadlen] = 0;
  if (strlen(note) != (size_t)msg->payloadlen) { cli_err("ship: %s: a payload with a NUL byte: ignored", topic); return true; }
  /* the size: the checkpoint's second line (the daemon checks all of it) */
  const char *nl = strchr(note, '\n');
  uint64_t size = nl ? strtoull(nl + 1, NULL, 10) : 0;
  if ((size && size <= last_size) || (last_ms && bridge_now_ms() - last_ms < COSIGNED_EVERY_MS)) return true;
  json_t *req = json_pack("{s:s, s:s, s:s}", "op", "witness", "witness", wvkey, "note", note);
  char *line = req ? json_dumps(req, JSON_COMPACT) : NULL, *out = NULL;
  json_decref(req);
  int rc = line ? daemon_call(s->dir, s->live.socket, line, &out, 10000) : -1;
  free(line);
  json_t *rep = rc == 0 && out ? json_loads(out, 0, NULL) : NULL;
  if (json_is_true(json_object_get(rep, "ok"))) {
    last_size = size;
    last_ms = bridge_now_ms();
    cli_err("ship: the head-end's cosignature of size %llu journaled at seq %lld", (unsigned long long)size,
            (long long)json_integer_value(json_object_get(rep, "seq")));
  } else {
    const char *e = json_string_value(json_object_get(rep, "error"));
    cli_err("ship: the head-end's cosignature of size %llu not journaled: %s", (unsigned long long)size,
            e ? e : rc ? "the daemon did not answer" : "no answer");
  }
  json_decref(rep);
  free(out);
  return true;
}
