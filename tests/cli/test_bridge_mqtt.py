#!/usr/bin/python3
"""test_bridge_mqtt — `hems bridge mqtt` against real peers this test starts itself.

Peers: a Debian `mosquitto` broker on a free loopback port (its own conf in the scratch dir,
never a system service), the `hems run` daemon on the simulated default panel, and a Python
paho-mqtt client standing in for Home Assistant. The bridge runs as uid 65534 (gid 0, so it may
connect to the root daemon's socket) and DIR/config.json makes that uid `automation`.

Checked, each against what the peers say, not against the bridge's own output:
  - every retained discovery config has the keys Home Assistant's MQTT discovery requires for
    its component (sensor/binary_sensor: state_topic; switch: command_topic; event:
    state_topic and event_types; one device with identifiers, model, sw_version; energy
    sensors device_class energy, state_class total_increasing, unit Wh/kWh), unique_ids are
    unique, every value_template key is in the state payload on its topic, every branch of
    the daemon's status has its entities, critical branches get no switch;
  - published energy lies between the daemon's durable folded totals (status durable_*_wh, as of
    the newest durable seal) read before and after it, and never decreases: not across a daemon
    restart (SIGTERM) nor a kill -9 (it did, by up to 15 s of metering, while the bridge published
    the live fold, which runs ahead of the commit);
  - a switch command round-trips: a request mqtt-<uuid> from uid 65534 with origin automation,
    a command for it, a sense-back confirming it in the journal, and then the switch state on
    MQTT; bad payloads, a leading-zero branch and a critical branch append nothing;
  - Home Assistant's "online" on <prefix>/status republishes every config, once per 5 s;
  - a broker restart appends no request, command or refusal, and the bridge republishes;
  - the bridge's last will marks it offline when it is killed;
  - TLS with a CA file, a client certificate and a username/password file (second broker).
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import json, os, signal, socket, subprocess, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, Broker, ok, free_port, wait_for, start, stop, hems, status, records
import paho.mqtt.client as mqtt

NODE = "testpanel"
BASE = "hems/" + NODE
PREFIX = "homeassistant"
ENERGY_UNITS = {"Wh", "kWh"}
UNITS = {"power": {"W"}, "current": {"A"}, "voltage": {"V"}, "frequency": {"Hz"}, "power_factor": {"%", None},
         "energy": ENERGY_UNITS}


class HA:
    """Home Assistant's side: every message, the latest per topic, retained flags."""
    def __init__(self, port, **tls):
        self.msgs, self.last, self.lock = [], {}, threading.Lock()
        HA.n = getattr(HA, "n", 0) + 1
        self.c = mqtt.Client(client_id="ha-test-%d-%d" % (os.getpid(), HA.n))
        self.c.on_message = self.on_message
        self.c.on_connect = lambda c, u, f, rc: c.subscribe("#", qos=1)
        self.c.connect("127.0.0.1", port, 30)
        self.c.loop_start()

    def on_message(self, c, u, m):
        with self.lock:
            self.msgs.append((time.time(), m.topic, m.payload, m.retain))
            self.last[m.topic] = (m.payload, m.retain)

    def get(self, topic):
        with self.lock:
            v = self.last.get(topic)
        return v[0].decode() if v else None

    def since(self, t0, topic):
        with self.lock:
            return [p.decode() for (t, tp, p, r) in self.msgs if t >= t0 and tp == topic]

    def configs(self):
        with self.lock:
            return {t: (json.loads(p), r) for t, (p, r) in self.last.items()
                    if t.startswith(PREFIX + "/") and t.endswith("/config") and "/%s/" % NODE in t and p}

    def publish(self, topic, payload):
        self.c.publish(topic, payload, qos=1).wait_for_publish()

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def check_discovery(ha, st, port):
    # a client that subscribes now gets the configs as retained messages (the live copies are not)
    fresh = HA(port)
    wait_for(lambda: len(fresh.configs()) >= len(ha.configs()) > 0, "retained discovery configs")
    cfgs = fresh.configs()
    fresh.close()
    uids = set()
    per_branch = {}
    for topic, (c, retained) in cfgs.items():
        parts = topic.split("/")
        ok(len(parts) == 5 and parts[2] == NODE, "discovery topic <prefix>/<component>/<node>/<object>/config: " + topic)
        comp, obj = parts[1], parts[3]
        ok(retained, "discovery config retained: " + topic)
        ok(obj.replace("_", "").replace("-", "").isalnum(), "object id [A-Za-z0-9_-]: " + obj)
        ok("unique_id" in c and c["unique_id"] not in uids, "unique unique_id: " + topic)
        uids.add(c["unique_id"])
        dev = c.get("device") or {}
        ok(isinstance(dev.get("identifiers"), list) and dev["identifiers"] and dev.get("model") and dev.get("sw_version"),
           "device with identifiers, model, sw_version: " + topic)
        ok(dev["identifiers"] == ["hems_" + st["device_id"]], "one device, the panel's device id: " + topic)
        ok(c.get("availability_topic") == BASE + "/availability", "availability topic: " + topic)
        if comp in ("sensor", "binary_sensor", "event"):
            ok(c.get("state_topic", "").startswith(BASE + "/"), "state_topic: " + topic)
        if comp == "switch":
            ok(c.get("command_topic", "").startswith(BASE + "/") and c.get("state_topic") and c.get("optimistic") is False,
               "switch command_topic, state_topic, not optimistic: " + topic)
        if comp == "event":
            ok(isinstance(c.get("event_types"), list) and c["event_types"], "event_types: " + topic)
        if comp == "sensor":
            dc = c.get("device_class")
            if dc == "enum":
                ok(isinstance(c.get("options"), list) and "unit_of_measurement" not in c and "state_class" not in c,
                   "enum sensor: options, no unit or state_class: " + topic)
            else:
                ok(c.get("unit_of_measurement") in UNITS[dc], "unit for %s: %s" % (dc, topic))
                want = "total_increasing" if dc == "energy" else "measurement"
                ok(c.get("state_class") == want, "state_class %s for %s: %s" % (want, dc, topic))
        if obj.startswith("branch"):
            n = int(obj[6:].split("_")[0])
            per_branch.setdefault(n, set()).add((comp, obj.split("_", 1)[1]))
    for b in st["branches"]:
        have = per_branch.get(b["branch"], set())
        want = {("sensor", "power"), ("sensor", "energy_import"), ("sensor", "energy_export"), ("sensor", "current"),
                ("sensor", "power_factor"), ("event", "trip"), ("binary_sensor", "alarm_welded"),
                ("binary_sensor", "alarm_der_mismatch")}
        want.add(("binary_sensor" if b["critical"] else "switch", "switch"))
        ok(want <= have, "branch %d entities %s" % (b["branch"], sorted(want - have)))
        if b["critical"]:
            ok(("switch", "switch") not in have, "no switch for critical branch %d" % b["branch"])
    # every alarm the reducers name (the status text lists them) has its panel entity
    for alarm in ("welded", "ct_polarity", "phase_map", "unexplained_trip", "stale_der", "backfeed_risk", "der_mismatch"):
        ok(any(t.split("/")[3] == "panel_alarm_" + alarm for t in cfgs), "panel alarm entity " + alarm)
    for obj in ("voltage_a", "voltage_b", "voltage_c", "frequency", "service_disconnect", "pq_event"):
        ok(any(t.split("/")[3] == obj for t in cfgs), "panel entity " + obj)
    # every template key is in the state on its topic
    for topic, (c, _) in cfgs.items():
        tpl = c.get("value_template")
        if not tpl:
            continue
        key = tpl.strip("{} ").split(".")[1]
        state = wait_for(lambda: ha.get(c["state_topic"]), "state on " + c["state_topic"])
        wait_for(lambda: key in json.loads(ha.get(c["state_topic"])), "%s in %s" % (key, c["state_topic"]), 10)
    return cfgs


def energies(ha, st):
    out = {}
    for b in st["branches"]:
        s = ha.get("%s/branch/%d/state" % (BASE, b["branch"]))
        if s:
            j = json.loads(s)
            out[b["branch"]] = (j["import"], j["export"])
    return out


def energy_series(ha, t0):
    series = {}
    with ha.lock:
        for (t, tp, p, r) in ha.msgs:
            if t >= t0 and tp.startswith(BASE + "/branch/") and tp.endswith("/state"):
                j = json.loads(p)
                series.setdefault(tp, []).append((j["import"], j["export"]))
    return series


def main():
    tmp = None
    try:
        tmp, d, daemon = lib.panel_with_daemon("bridge-mqtt", {"automation": [65534]})
        broker = Broker(tmp, "broker")
        # first a peer that takes the TCP connection and never answers the CONNECT (a wedged
        # broker): the bridge drops it after 10 s and tries again, then finds the real broker
        silent = socket.socket()
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        silent.bind(("127.0.0.1", broker.port))
        silent.listen(8)
        blog = os.path.join(tmp, "bridge.log")
        as_nobody = dict(user=65534, group=0, extra_groups=[])
        bridge = start([HEMS, "bridge", "mqtt", "--dir", d, "--broker", "mqtt://127.0.0.1:%d" % broker.port,
                        "--node-id", NODE, "--interval", "1s"], blog, **as_nobody)
        wait_for(lambda: "no CONNACK within 10 s" in open(blog).read(), "the unanswered connection dropped", 40)
        ok(bridge.poll() is None, "the bridge runs on after a broker that never acknowledged")
        silent.close()
        broker.start()
        # retained configs left from before: one of this node's for a branch the panel no longer
        # has (removed while the bridge was away), and another node's
        ghost = "%s/sensor/%s/branch_99_power/config" % (PREFIX, NODE)
        other = "%s/sensor/other_node/branch_1_power/config" % PREFIX
        old = HA(broker.port)
        old.c.publish(ghost, '{"name": "gone"}', qos=1, retain=True).wait_for_publish()
        old.c.publish(other, '{"name": "theirs"}', qos=1, retain=True).wait_for_publish()
        ha = HA(broker.port)
        wait_for(lambda: ha.get(BASE + "/availability") == "online", "availability online", 60)
        wait_for(lambda: old.get(ghost) == "", "the stale config removed (an empty retained payload)")
        old.close()
        late = HA(broker.port)  # a fresh subscriber: what the broker still retains
        time.sleep(1.5)
        ok(late.get(ghost) is None and late.get(other) == '{"name": "theirs"}',
           "the broker retains no config for branch 99, and still another node's")
        ok("branch_99_power/config: no such entity any more" in open(blog).read(), "the removal is logged")
        late.close()
        t_start = time.time()
        st0 = status(d)
        time.sleep(2.5)
        cfgs = check_discovery(ha, st0, broker.port)
        n_cfgs = len(cfgs)
        # energy published lies between the daemon's totals before and after
        e = energies(ha, st0)
        st1 = status(d)
        for b0, b1 in zip(st0["branches"], st1["branches"]):
            n = b0["branch"]
            ok(b1["durable_import_wh"] <= b1["import_wh"] and b1["durable_export_wh"] <= b1["export_wh"],
               "branch %d: durable totals never ahead of the fold" % n)
            for k, key in ((0, "durable_import_wh"), (1, "durable_export_wh")):
                v = e[n][k]
                ok(int(b0[key]) / 1000 - 1e-9 <= v <= int(b1[key]) / 1000 + 1e-9,
                   "branch %d %s %.3f kWh between the daemon's %.4f and %.4f" % (n, key, v, b0[key] / 1000, b1[key] / 1000))
        # a switch command round-trips to a confirmed sense-back
        target = next(b for b in st1["branches"] if not b["critical"] and b["sensed"] == "on")
        n = target["branch"]
        crit = next(b for b in st1["branches"] if b["critical"])
        before = len(records(d, "request"))
        ha.publish("%s/branch/%d/switch/set" % (BASE, n), "off ")
        ha.publish("%s/branch/0%d/switch/set" % (BASE, n), "OFF")
        ha.publish("%s/branch/%d/switch/set" % (BASE, crit["branch"]), "OFF")
        t_cmd = time.time()
        ha.publish("%s/branch/%d/switch/set" % (BASE, n), "OFF")
        wait_for(lambda: "OFF" in ha.since(t_cmd, "%s/branch/%d/switch" % (BASE, n)), "switch state OFF on MQTT")
        reqs = records(d, "request")
        ok(len(reqs) == before + 1, "exactly one request journaled for four messages (%d)" % (len(reqs) - before))
        rq = reqs[-1]
        rid = rq["body"]["request_id"]
        ok(rid.startswith("mqtt-") and len(rid) == 41, "request id mqtt-<uuid>: " + rid)
        ok(rq["body"]["uid"] == 65534 and rq["body"]["origin"] == "automation" and rq["body"]["target"] == n
           and rq["body"]["desired"] == "off", "request from the bridge's uid, origin automation: %s" % rq["body"])
        cmd = [c for c in records(d, "command") if c["body"].get("request_id") == rid]
        ok(len(cmd) == 1 and cmd[0]["body"]["desired"] == "off", "one command for " + rid)
        sb = [s for s in records(d, "sense_back") if s["body"].get("command_seq") == cmd[0]["seq"]]
        ok(len(sb) == 1 and sb[0]["body"]["verdict"] == "confirmed" and sb[0]["body"]["sensed"] == "off",
           "confirmed sense-back for command seq %d" % cmd[0]["seq"])
        ok(sb[0]["seq"] > cmd[0]["seq"] > rq["seq"], "request < command < sense-back")
        log = open(blog).read()
        ok('payload must be exactly "ON" or "OFF"' in log and "leading zero" in log and "critical" in log,
           "one log line for each refused message")
        t_on = time.time()
        ha.publish("%s/branch/%d/switch/set" % (BASE, n), "ON")
        wait_for(lambda: "ON" in ha.since(t_on, "%s/branch/%d/switch" % (BASE, n)), "switch state ON on MQTT")
        # Home Assistant's birth message: every config again (at most every 5 s), nothing journaled
        t_ha = time.time()
        cfg_topic = next(iter(cfgs))
        ha.publish(PREFIX + "/status", "online")
        ha.publish(PREFIX + "/status", "online")
        wait_for(lambda: ha.since(t_ha, cfg_topic), "discovery again after homeassistant/status online", 15)
        time.sleep(1)
        ok(len(ha.since(t_ha, cfg_topic)) == 1, "two online messages within 5 s: one republish")
        # a broker restart changes nothing in the journal
        intent = len(records(d, "request,command,refusal"))
        ha.close()
        broker.stop()
        time.sleep(3)
        ok(bridge.poll() is None, "the bridge survives the broker's restart")
        broker.start()
        ha = HA(broker.port)
        wait_for(lambda: len(ha.configs()) == n_cfgs, "discovery republished after the broker restart")
        wait_for(lambda: ha.get(BASE + "/availability") == "online", "online after the broker restart")
        ok(len(records(d, "request,command,refusal")) == intent, "no request, command or refusal from a broker restart")
        # energy never decreases across a daemon restart and a kill -9
        t_e = time.time()
        time.sleep(3)
        stop(daemon)
        wait_for(lambda: ha.get(BASE + "/availability") == "offline", "offline while the daemon is down")
        daemon = start([HEMS, "run", "--dir", d], d + ".err")
        wait_for(lambda: ha.get(BASE + "/availability") == "online", "online after the daemon restart", 90)
        time.sleep(4)
        stop(daemon, signal.SIGKILL)
        wait_for(lambda: ha.get(BASE + "/availability") == "offline", "offline after kill -9")
        daemon = start([HEMS, "run", "--dir", d], d + ".err")
        wait_for(lambda: ha.get(BASE + "/availability") == "online", "online after kill -9 and restart", 90)
        time.sleep(4)
        series = energy_series(ha, t_e)
        grew = 0
        for tp, vals in series.items():
            ok(len(vals) >= 6, "states published on %s across the restarts (%d)" % (tp, len(vals)))
            for (a, b) in zip(vals, vals[1:]):
                ok(b[0] >= a[0] and b[1] >= a[1], "energy never decreases on %s: %s then %s" % (tp, a, b))
            grew += vals[-1][0] > vals[0][0]
        ok(grew >= 3, "energy grew on at least three branches across the restarts (%d)" % grew)
        # the bridge's last will
        stop(bridge, signal.SIGKILL)
        wait_for(lambda: ha.get(BASE + "/availability") == "offline", "the last will says offline", 90)
        ha.close()
        broker.stop()
        tls_phase(tmp, d)
        stop(daemon)
        ok(hems("verify", "--dir", d).returncode == 0, "the journal verifies")
    finally:
        lib.cleanup(tmp)
    print("%d passed, 0 failed" % lib.passed)


def tls_phase(tmp, d):
    """A TLS broker that wants a client certificate and a password: the bridge connects with
    --cafile, --cert/--key and --username/--password-file and publishes its discovery."""
    t = lib.tls_certs(tmp)
    pw = os.path.join(t, "passwd")
    open(pw, "w").close()
    r = subprocess.run(["/usr/bin/mosquitto_passwd", "-b", pw, "bridge", "s3cret"], capture_output=True, text=True)
    ok(r.returncode == 0, "mosquitto_passwd: " + r.stderr)
    pwfile = os.path.join(t, "bridge.pw")
    with open(pwfile, "w") as f:
        f.write("s3cret\n")
    os.chown(pwfile, 65534, 0)
    os.chmod(pwfile, 0o604)
    for f in ("client.key", "client.pem", "ca.pem"):
        os.chown(os.path.join(t, f), 65534, 0)
    os.chmod(pw, 0o644)  # mosquitto started as root drops to its own user: it must read it
    extra = ("cafile %s/ca.pem\ncertfile %s/server.pem\nkeyfile %s/server.key\nrequire_certificate true\n"
             "password_file %s\nallow_anonymous false\n" % (t, t, t, pw))
    broker = Broker(tmp, "tls-broker", extra)
    broker.start()
    args = [HEMS, "bridge", "mqtt", "--dir", d, "--broker", "mqtts://localhost:%d" % broker.port, "--node-id", NODE,
            "--cafile", t + "/ca.pem", "--cert", t + "/client.pem", "--key", t + "/client.key", "--username", "bridge",
            "--password-file", pwfile]
    blog = os.path.join(tmp, "bridge-tls.log")
    r = subprocess.run(args, capture_output=True, text=True, user=65534, group=0, extra_groups=[], timeout=30)
    ok(r.returncode == 3 and "readable by others" in r.stderr, "a password file readable by others is refused: " + r.stderr)
    os.chmod(pwfile, 0o600)
    bridge = start(args, blog, user=65534, group=0, extra_groups=[])
    c = mqtt.Client(client_id="ha-tls")
    c.tls_set(ca_certs=t + "/ca.pem", certfile=t + "/server.pem", keyfile=t + "/server.key")
    c.username_pw_set("bridge", "s3cret")
    got = {}
    c.on_message = lambda cl, u, m: got.__setitem__(m.topic, m.payload)
    c.on_connect = lambda cl, u, f, rc: cl.subscribe("#", qos=1)
    c.connect("localhost", broker.port, 30)
    c.loop_start()
    wait_for(lambda: got.get(BASE + "/availability") == b"online", "online over TLS with a client certificate and password")
    ok(any(k.startswith(PREFIX + "/switch/") for k in got), "discovery over TLS")
    c.loop_stop()
    c.disconnect()
    stop(bridge)
    ok(bridge.returncode == 0, "the bridge stops on SIGTERM with exit 0")
    broker.stop()


if __name__ == "__main__":
    main()
