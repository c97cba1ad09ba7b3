/*
 * bridge_cmd.c — the MQTT messages the bridge takes, checked strictly (bridge_cmd.h): exact
 * topics, exact payloads, one error line otherwise that quotes the topic safely (printable
 * ASCII, the rest as \xNN, cut to 80 bytes) so a hostile topic cannot forge log lines.
 */
#include <stdio.h>
#include <string.h>
#include "bridge_cmd.h"

/* The topic as a log-safe quoted string into buf. */
static const char *quote(const char *t, size_t n, char *buf, size_t cap)
{
  size_t o = 0;
  for (size_t i = 0; i < n && o + 8 < cap; i++) {
    unsigned char c = (unsigned char)t[i];
    if (i == 80) { memcpy(buf + o, "...", 3); o += 3; break; }
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') buf[o++] = (char)c;
    else o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
  }
  buf[o] = 0;
  return buf;
}

static int bad(char *msg, size_t cap, const char *topic, size_t topic_len, const char *why)
{
  char q[400];
  snprintf(msg, cap, "bad message on topic '%s': %s", quote(topic, topic_len, q, sizeof q), why);
  return -1;
}

/* Whether t[0..n) starts with the text p; advances *at past it. */
static bool take(const char *t, size_t n, size_t *at, const char *p)
{
  size_t k = strlen(p);
  if (n - *at < k || memcmp(t + *at, p, k)) return false;
  *at += k;
  return true;
}

static bool payload_is(const void *p, size_t len, const char *want)
{
  return len == strlen(want) && !memcmp(p, want, len);
}

int bridge_cmd_parse(const char *base, const char *prefix, const char *topic, size_t topic_len, const void *payload,
                     size_t len, struct bridge_cmd *out, char *msg, size_t msg_cap)
{
  memset(out, 0, sizeof *out);
  size_t at = 0;
  if (topic_len > BRIDGE_TOPIC_MAX) return bad(msg, msg_cap, topic, topic_len, "topic too long");
  if (take(topic, topic_len, &at, prefix) && take(topic, topic_len, &at, "/status") && at == topic_len) {
    if (payload_is(payload, len, "online")) out->kind = BRIDGE_CMD_HA_ONLINE;
    else if (payload_is(payload, len, "offline")) out->kind = BRIDGE_CMD_HA_OFFLINE;
    else return bad(msg, msg_cap, topic, topic_len, "payload must be exactly \"online\" or \"offline\"");
    return 0;
  }
  at = 0;
  if (!take(topic, topic_len, &at, base) || !take(topic, topic_len, &at, "/branch/"))
    return bad(msg, msg_cap, topic, topic_len, "not a topic the bridge takes");
  uint32_t n = 0;
  size_t digits = 0;
  while (at < topic_len && topic[at] >= '0' && topic[at] <= '9' && digits < 6) {
    if (digits == 1 && n == 0) return bad(msg, msg_cap, topic, topic_len, "branch number with a leading zero");
    n = n * 10 + (uint32_t)(topic[at++] - '0');
    digits++;
  }
  if (!digits || n < 1 || n > 65535) return bad(msg, msg_cap, topic, topic_len, "branch must be a number 1..65535");
  if (!take(topic, topic_len, &at, "/switch/set") || at != topic_len)
    return bad(msg, msg_cap, topic, topic_len, "not a topic the bridge takes");
  if (payload_is(payload, len, "ON")) out->on = true;
  else if (!payload_is(payload, len, "OFF")) return bad(msg, msg_cap, topic, topic_len, "payload must be exactly \"ON\" or \"OFF\"");
  out->kind = BRIDGE_CMD_SWITCH;
  out->branch = (uint16_t)n;
  return 0;
}

bool bridge_node_id_ok(const char *s)
{
  size_t n = strlen(s);
  if (n < 1 || n > 64) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

bool bridge_prefix_ok(const char *s)
{
  size_t n = strlen(s);
  if (n < 1 || n > 128 || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//")) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '+' || s[i] == '#') return false;
  return true;
}

int bridge_host_port(char *buf, const char **host, int *port)
{
  char *h = buf, *colon;
  if (*h == '[') {
    char *end = strchr(h, ']');
    if (!end) return -1;
    *end = 0;
    h++;
    colon = end[1] == ':' ? end + 1 : NULL;
    if (!colon && end[1]) return -1;
  } else {
    colon = strrchr(h, ':');
    if (colon && strchr(h, ':') != colon) return -1; /* a bare v6 address wants brackets */
    if (colon) *colon = 0;
  }
  if (colon) {
    const char *d = colon + 1;
    uint32_t v = 0;
    size_t n = strlen(d);
    if (n < 1 || n > 5) return -1;
    for (size_t i = 0; i < n; i++) {
      if (d[i] < '0' || d[i] > '9') return -1;
      v = v * 10 + (uint32_t)(d[i] - '0');
    }
    if (v < 1 || v > 65535) return -1;
    *port = (int)v;
  }
  *host = h;
  return 0;
}
