/*
 * fuzz_bridge_cmd.c — fuzz target for the MQTT messages `hems bridge mqtt` takes
 * (cli/bridge_cmd.c): the input is split at its first NUL byte into a topic and a payload
 * (no NUL: all topic, empty payload), and checked with base "hems/panel" and prefix
 * "homeassistant".
 * Properties: no crash or sanitizer report; an accepted message is exactly one of the three
 * forms — "<base>/branch/<N>/switch/set" with N the canonical decimal of a branch 1..65535 and
 * payload exactly ON or OFF, or "<prefix>/status" with payload exactly online or offline; a
 * refused one gets one line starting "bad message on topic '" that holds no control byte, no
 * newline and no raw non-ASCII byte (a topic cannot forge log lines).
 * The corpus (tests/fuzz/corpus/bridge_cmd/) holds one message per file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bridge_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const uint8_t *nul = memchr(data, 0, size);
  size_t tlen = nul ? (size_t)(nul - data) : size;
  const uint8_t *payload = nul ? nul + 1 : data + size;
  size_t plen = nul ? size - tlen - 1 : 0;
  struct bridge_cmd c;
  char msg[700];
  memset(msg, 0x55, sizeof msg);
  if (bridge_cmd_parse("hems/panel", "homeassistant", (const char *)data, tlen, payload, plen, &c, msg, sizeof msg)) {
    check(!strncmp(msg, "bad message on topic '", 22));
    size_t n = strnlen(msg, sizeof msg);
    check(n < sizeof msg);
    for (size_t i = 0; i < n; i++) check((unsigned char)msg[i] >= 0x20 && (unsigned char)msg[i] < 0x7f);
    return 0;
  }
  char want[64];
  if (c.kind == BRIDGE_CMD_SWITCH) {
    check(c.branch >= 1);
    int w = snprintf(want, sizeof want, "hems/panel/branch/%u/switch/set", c.branch);
    check((size_t)w == tlen && !memcmp(want, data, tlen));
    check(plen == (c.on ? 2u : 3u) && !memcmp(payload, c.on ? "ON" : "OFF", plen));
  } else {
    check(c.kind == BRIDGE_CMD_HA_ONLINE || c.kind == BRIDGE_CMD_HA_OFFLINE);
    check(tlen == 20 && !memcmp(data, "homeassistant/status", 20));
    const char *p = c.kind == BRIDGE_CMD_HA_ONLINE ? "online" : "offline";
    check(plen == strlen(p) && !memcmp(payload, p, plen));
  }
  return 0;
}
