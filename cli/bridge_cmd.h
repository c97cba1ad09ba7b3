/*
 * bridge_cmd.h — private to cli/: the MQTT messages `hems bridge mqtt` receives, checked
 * without a broker or a daemon (cli/bridge_cmd.c; fuzz target tests/fuzz/fuzz_bridge_cmd.c).
 *
 * Everything that arrives from the broker is outside input: any client the broker lets publish
 * can send any topic and any bytes. Two kinds are taken, exactly:
 *   <base>/branch/<N>/switch/set   payload "ON" or "OFF" (Home Assistant's switch defaults);
 *                                  N decimal 1..65535, no sign, no leading zero
 *   <prefix>/status               payload "online" or "offline" (Home Assistant's birth and
 *                                  last-will messages: on "online" the bridge publishes its
 *                                  discovery configs and states again)
 * Anything else is refused with one line naming the topic (printable, cut) and why. Whether
 * branch N exists and may be switched by the bridge's role is for the caller, who knows the
 * panel. Nothing here allocates, logs or keeps state.
 */
#ifndef HEMS_CLI_BRIDGE_CMD_H
#define HEMS_CLI_BRIDGE_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BRIDGE_TOPIC_MAX 512 /* bytes of a topic the bridge builds or takes */

enum bridge_cmd_kind { BRIDGE_CMD_SWITCH = 1, BRIDGE_CMD_HA_ONLINE, BRIDGE_CMD_HA_OFFLINE };

struct bridge_cmd {
  enum bridge_cmd_kind kind;
  uint16_t branch; /* switch: 1..65535 */
  bool on;         /* switch: desired state */
};

/* Checks one message: topic (topic_len bytes, not NUL-terminated; libmosquitto hands a C
 * string, the fuzz target any bytes), payload (len bytes). base: "hems/<node id>", prefix: the
 * discovery prefix. 0 and *out; or -1 and one line in msg ("bad message on topic '…': why"). */
int bridge_cmd_parse(const char *base, const char *prefix, const char *topic, size_t topic_len, const void *payload,
                     size_t len, struct bridge_cmd *out, char *msg, size_t msg_cap);

/* A node id as Home Assistant takes it in discovery topics: 1..64 of [A-Za-z0-9_-]. */
bool bridge_node_id_ok(const char *s);
/* A discovery prefix or topic part the bridge will publish under: 1..128 bytes, printable ASCII,
 * no wildcard (+ #), no empty level, no leading or trailing '/'. */
bool bridge_prefix_ok(const char *s);
/* Splits buf, "HOST[:PORT]" or "[V6][:PORT]", in place: *host points into buf (maybe empty),
 * *port keeps its default without ":PORT". 0, or -1 (a bare v6 address, a bad bracket, a port
 * not 1..65535). */
int bridge_host_port(char *buf, const char **host, int *port);

#endif
