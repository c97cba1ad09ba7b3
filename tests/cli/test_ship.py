#!/usr/bin/python3
"""test_ship — `hems ship` against real peers this test starts itself.

Peers: the `hems run` daemon on the simulated default panel (real time), a Debian `mosquitto`
broker on a free loopback port (its own conf and persistence file in the scratch dir, never a
system service), and a Python paho-mqtt subscriber standing in for the head-end, with a
persistent session (clean_session false) so the broker queues for it while it is away.

The envelope is decoded from its documentation (docs/fleet.md): a CBOR map {0: 1, 1: device id
(16 bytes), 2: first seq, 3: count, 4: 0 live | 1 backfill, 5: zstd frame of a CBOR sequence of
`count` byte strings}; records by docs/journal.md (a map whose key 0 is prev = BLAKE2b-256 of
"hems.record.v1\\0" || the previous record's bytes, key 1 seq, key 3 type, 14 = seal).

Checked:
  - every seq 1..cursor arrives, each copy of a seq with the same bytes; the records chain
    (each prev is the hash of the bytes received for seq-1), and the bytes of the first, the
    last and every batch's first record equal `hems show SEQ --format cbor` — the chain then
    carries the equality to every record between;
  - every live batch ends with a seal (no seal group split), holds `count` records with
    consecutive seqs from first seq, and names the device;
  - the retained checkpoint is exactly `hems checkpoint --at <the newest acknowledged seal>`
    (which verifies the seal's signature before printing it);
  - the broker stopped and restarted mid-stream: ship goes on after its cursor, no seq missing;
  - ship killed with SIGKILL and started again: its first batch starts right after the cursor in
    its state file; stopped with SIGTERM and started again: the same, and no seq arrives twice;
  - a backfill request {"from": A, "to": B}: batches marked backfill holding exactly A..B, and
    a reply {"ok": true, "records": B-A+1}; malformed requests (not JSON, a missing key, from >
    to, beyond the head, too many records, a float, an extra key) each get {"ok": false, "error"}
    on the reply topic, and no backfill batch, and ship's cursor goes on;
  - a backfill over a retention cut: the removed seqs named in the reply, the kept ones sent;
  - TLS: a broker that requires a client certificate refuses ship without one (nothing
    shipped), and takes its batches with --cafile and --cert/--key;
  - the bytes per record on the wire in the state file and ship's exit line.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import hashlib, io, json, os, signal, subprocess, sys, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, Broker, ok, wait_for, start, stop, hems, status, show, cursor
import cbor2
import paho.mqtt.client as mqtt
import zstandard

SEAL = 14


class HeadEnd:
    """The collector's side: every batch decoded, every backfill reply."""
    def __init__(self, port, dev):
        self.dev = dev
        self.lock = threading.Lock()
        self.batches, self.replies = [], []
        self.c = mqtt.Client(client_id="headend-%d" % os.getpid(), clean_session=False)
        self.c.on_message = self.on_message
        self.c.on_connect = lambda c, u, f, rc: c.subscribe("hems/%s/#" % dev, qos=1)
        self.c.reconnect_delay_set(0.2, 1)
        self.c.connect("127.0.0.1", port, 30)
        self.c.loop_start()

    def on_message(self, c, u, m):
        base = "hems/%s/" % self.dev
        with self.lock:
            if m.topic == base + "records":
                self.batches.append(decode(m.payload))
            elif m.topic == base + "backfill/reply":
                self.replies.append(json.loads(m.payload))

    def live(self):
        with self.lock:
            return [b for b in self.batches if b["kind"] == 0]

    def backfills(self):
        with self.lock:
            return [b for b in self.batches if b["kind"] == 1]

    def got_through(self, n):
        """Whether every seq 1..n has arrived in a live batch."""
        seen = set()
        for b in self.live():
            seen.update(range(b["first"], b["first"] + b["count"]))
        return all(s in seen for s in range(1, n + 1))

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def decode(payload):
    e = cbor2.loads(payload)
    ok(sorted(e) == [0, 1, 2, 3, 4, 5] and e[0] == 1, "envelope keys 0..5, version 1: %s" % sorted(e))
    raw = zstandard.ZstdDecompressor().decompress(e[5])
    f, recs = io.BytesIO(raw), []
    while f.tell() < len(raw):
        recs.append(cbor2.load(f))
    ok(all(isinstance(r, bytes) for r in recs) and len(recs) == e[3], "count %d records as byte strings" % e[3])
    return {"dev": e[1], "first": e[2], "count": e[3], "kind": e[4], "recs": recs, "wire": len(payload)}


def rec_hash(b):
    return hashlib.blake2b(b"hems.record.v1\0" + b, digest_size=32).digest()



def log_count(path, text):
    return open(path).read().count(text)


def check_stream(he, d, dev, upto):
    """Every seq 1..upto arrived; copies agree; the chain holds; anchors equal hems show."""
    byseq, copies = {}, 0
    for b in he.live():
        ok(b["dev"] == bytes.fromhex(dev), "batch device id")
        ok(cbor2.loads(b["recs"][-1])[3] == SEAL, "live batch %d+%d ends with a seal" % (b["first"], b["count"]))
        for i, r in enumerate(b["recs"]):
            m = cbor2.loads(r)
            ok(m[1] == b["first"] + i, "seq %d at place %d of batch %d" % (m[1], i, b["first"]))
            if m[1] in byseq:
                ok(byseq[m[1]] == r, "seq %d arrived twice with the same bytes" % m[1])
                copies += 1
            byseq[m[1]] = r
    for s in range(1, upto + 1):
        ok(s in byseq, "seq %d arrived" % s)
        if s > 1:
            ok(cbor2.loads(byseq[s])[0] == rec_hash(byseq[s - 1]), "seq %d chains to the bytes of seq %d" % (s, s - 1))
    anchors = {1, upto} | {b["first"] for b in he.live() if b["first"] <= upto}
    for s in sorted(anchors):
        ok(byseq[s] == show(d, s), "seq %d: the bytes hems show --format cbor prints" % s)
    return copies


def main():
    tmp = None
    try:
        tmp, d, daemon = lib.panel_with_daemon("ship", {})
        dev = status(d)["device_id"]
        ok(len(dev) == 32 and all(c in "0123456789abcdef" for c in dev), "device id: 32 lowercase hex")
        broker = Broker(tmp, "broker", persist=True)
        broker.start()
        he = HeadEnd(broker.port, dev)
        state = os.path.join(tmp, "ship.state")
        slog = os.path.join(tmp, "ship.log")
        args = [HEMS, "ship", "--dir", d, "--broker", "mqtt://127.0.0.1:%d" % broker.port, "--state", state]
        r = hems("ship", "--dir", d, "--broker", "http://x")
        ok(r.returncode == 2 and "expected mqtt://" in r.stderr, "a bad --broker is a usage error")
        ship = start(args, slog)
        wait_for(lambda: cursor(state) >= 100, "ship's cursor past 100", 60)
        # the broker goes away mid-stream and comes back: ship goes on after its cursor
        broker.stop()
        c0 = cursor(state)
        head = status(d)["durable_seq"]
        wait_for(lambda: status(d)["durable_seq"] >= head + 50, "50 records journaled while the broker is away")
        ok(ship.poll() is None and cursor(state) == c0, "ship waits, its cursor unmoved (%d) while the broker is away" % c0)
        broker.start()
        wait_for(lambda: log_count(slog, "connected to broker") == 2, "ship reconnected")
        h1 = status(d)["durable_seq"]
        wait_for(lambda: cursor(state) >= h1, "ship caught up to %d after the broker restart" % h1)
        wait_for(lambda: he.got_through(h1), "the head-end has 1..%d" % h1)
        # killed: the next run starts right after the cursor in its state file
        stop(ship, signal.SIGKILL)
        c1 = cursor(state)
        n_before = len(he.live())
        ship = start(args, slog)
        ok(wait_for(lambda: "from seq %d " % (c1 + 1) in open(slog).read(), "ship restarted"),
           "after SIGKILL ship reads on from cursor + 1 (%d)" % (c1 + 1))
        wait_for(lambda: any(b["first"] == c1 + 1 for b in he.live()[n_before:]),
                 "after SIGKILL a batch starting at cursor + 1 (%d)" % (c1 + 1))
        # stopped: the acknowledgements on their way are waited for; again right after the cursor
        wait_for(lambda: log_count(slog, "taking backfill requests") == 3, "ship subscribed again")
        stop(ship)
        ok(ship.returncode == 0, "ship stops on SIGTERM with exit 0")
        ok("bytes per record on the wire" in open(slog).read().splitlines()[-1], "the exit line reports bytes per record")
        c2 = cursor(state)
        n_before = len(he.live())
        ship = start(args, slog)
        wait_for(lambda: any(b["first"] == c2 + 1 for b in he.live()[n_before:]),
                 "after SIGTERM a batch starting at cursor + 1 (%d)" % (c2 + 1))
        wait_for(lambda: log_count(slog, "taking backfill requests") == 4, "ship takes backfill requests")
        # backfill: malformed ones are refused, each with one reply, and nothing is published
        head = status(d)["durable_seq"]
        bad = ['not json', '{"from": 5}', '{"from": 20, "to": 5}', '{"from": 1, "to": %d}' % (head + 10000),
               '{"from": 1, "to": 100001}', '{"from": 1.0, "to": 3}', '{"from": 1, "to": 3, "x": 1}', '[1, 3]',
               '{"from": 0, "to": 3}', '{"from": 1, "to": 3, "from": 2}']
        for p in bad:
            he.c.publish("hems/%s/backfill" % dev, p, qos=1).wait_for_publish()
        wait_for(lambda: len(he.replies) == len(bad), "a reply to each malformed backfill request")
        for p, rep in zip(bad, he.replies):
            ok(rep.get("ok") is False and rep.get("error", "").startswith("bad backfill request"),
               "refused %s: %s" % (p, rep))
        ok(not he.backfills(), "no backfill batch for a malformed request")
        # a good one: exactly the range asked, in batches marked backfill
        a, b = 7, 350
        he.c.publish("hems/%s/backfill" % dev, json.dumps({"from": a, "to": b}), qos=1).wait_for_publish()
        wait_for(lambda: len(he.replies) == len(bad) + 1, "the backfill reply")
        rep = he.replies[-1]
        ok(rep == {"ok": True, "from": a, "to": b, "records": b - a + 1, "batches": len(he.backfills())},
           "backfill reply: %s" % rep)
        got = [cbor2.loads(r)[1] for x in he.backfills() for r in x["recs"]]
        ok(got == list(range(a, b + 1)), "backfill holds exactly seqs %d..%d" % (a, b))
        for x in he.backfills()[:-1]:
            ok(cbor2.loads(x["recs"][-1])[3] == SEAL, "a backfill batch ends at a seal or at the range's end")
        ok(he.backfills()[0]["recs"][0] == show(d, a), "backfill bytes of seq %d are hems show's" % a)
        # the journal keeps growing; ship keeps up; then everything is checked
        h2 = status(d)["durable_seq"]
        wait_for(lambda: cursor(state) >= h2 and he.got_through(h2), "the head-end has 1..%d" % h2)
        stop(ship)
        ok(ship.returncode == 0, "ship stops on SIGTERM with exit 0")
        c3 = cursor(state)
        wait_for(lambda: he.got_through(c3), "the head-end has 1..%d" % c3)
        copies = check_stream(he, d, dev, c3)
        seqs = [s for x in he.live() for s in range(x["first"], x["first"] + x["count"])]
        after = [x for x in seqs if x > c2]
        ok(len(after) == len(set(after)), "no seq beyond the SIGTERM cursor %d twice" % c2)
        # the retained checkpoint: the newest acknowledged seal's, exactly hems checkpoint's
        stop(daemon)
        ok(hems("verify", "--dir", d).returncode == 0, "the journal verifies")
        fresh = mqtt.Client(client_id="late-%d" % os.getpid())
        got = {}
        fresh.on_message = lambda c, u, m: got.__setitem__(m.topic, (m.payload.decode(), m.retain))
        fresh.on_connect = lambda c, u, f, rc: c.subscribe("hems/%s/checkpoint" % dev, qos=1)
        fresh.connect("127.0.0.1", broker.port, 30)
        fresh.loop_start()
        wait_for(lambda: got, "the retained checkpoint")
        fresh.loop_stop()
        fresh.disconnect()
        note, retained = got["hems/%s/checkpoint" % dev]
        r = hems("checkpoint", "--dir", d, "--at", str(c3))
        ok(r.returncode == 0 and retained and note == r.stdout,
           "retained checkpoint == hems checkpoint --at %d (verified): %r" % (c3, note[:80]))
        st = json.load(open(state))
        bpr = st["wire_bytes"] / st["records"]
        ok(st["records"] >= c3 - c0 and 0 < st["wire_bytes"] < st["raw_bytes"], "state totals: %s" % st)
        print("bytes per record on the wire: %.1f (raw %.1f), %d records, %d re-sent after the kill"
              % (bpr, st["raw_bytes"] / st["records"], c3, copies))
        # records cut by retention: a backfill over the cut names the removed seqs, sends the rest
        r = hems("retention", "--dir", d, "--run", "--keep", "10s")
        ok(r.returncode == 0 and r.stdout.startswith("archived seq .."), "retention cut: " + r.stdout + r.stderr)
        cut = int(r.stdout.split("..")[1].split()[0])
        ok(cut > 10, "retention removed seqs 1..%d" % cut)
        daemon = start([HEMS, "run", "--dir", d], d + ".err")
        ship = start(args, slog)
        wait_for(lambda: log_count(slog, "taking backfill requests") == 5, "ship takes backfill requests again")
        n_bf, n_rep = len(he.backfills()), len(he.replies)
        he.c.publish("hems/%s/backfill" % dev, json.dumps({"from": cut - 4, "to": cut + 5}), qos=1).wait_for_publish()
        wait_for(lambda: len(he.replies) == n_rep + 1, "the reply to a backfill over the cut")
        rep = he.replies[-1]
        ok(rep.get("ok") is False and rep.get("removed") == [[cut - 4, cut]] and rep.get("records") == 5
           and "removed by retention" in rep.get("error", ""), "backfill over the cut: %s" % rep)
        got = [cbor2.loads(r)[1] for x in he.backfills()[n_bf:] for r in x["recs"]]
        ok(got == list(range(cut + 1, cut + 6)), "the kept part of the range is sent: %s" % got)
        stop(ship)
        he.close()
        broker.stop()
        tls_phase(tmp, d, dev, cut)
        stop(daemon)
    finally:
        lib.cleanup(tmp)
    print("%d passed, 0 failed" % lib.passed)


def tls_phase(tmp, d, dev, cut):
    """A TLS broker that wants a client certificate: ship connects with mqtts://, --cafile and
    --cert/--key, and a head-end over TLS gets its batches."""
    t = lib.tls_certs(tmp)
    extra = "cafile %s/ca.pem\ncertfile %s/server.pem\nkeyfile %s/server.key\nrequire_certificate true\n" % (t, t, t)
    broker = Broker(tmp, "tls-broker", extra)
    broker.start()
    got = []
    c = mqtt.Client(client_id="headend-tls")
    c.tls_set(ca_certs=t + "/ca.pem", certfile=t + "/client.pem", keyfile=t + "/client.key")
    c.on_message = lambda cl, u, m: got.append(decode(m.payload))
    c.on_connect = lambda cl, u, f, rc: cl.subscribe("hems/%s/records" % dev, qos=1)
    c.connect("localhost", broker.port, 30)
    c.loop_start()
    state = os.path.join(tmp, "ship-tls.state")
    log = os.path.join(tmp, "ship-tls.log")
    base = [HEMS, "ship", "--dir", d, "--broker", "mqtts://localhost:%d" % broker.port, "--state", state, "--cafile", t + "/ca.pem"]
    ship = start(base, log)  # no client certificate: the broker refuses it, ship retries
    wait_for(lambda: "broker localhost:%d: " % broker.port in open(log).read(), "a refused TLS connection")
    stop(ship)
    ok(cursor(state) == 0 and not got, "nothing shipped without a client certificate")
    ship = start(base + ["--cert", t + "/client.pem", "--key", t + "/client.key"], log)
    wait_for(lambda: got and cursor(state) >= got[0]["count"], "a batch over TLS with a client certificate, acknowledged")
    ok(got[0]["first"] == cut + 1 and got[0]["dev"] == bytes.fromhex(dev),
       "over TLS from the first seq retention kept (%d) of this device: %d" % (cut + 1, got[0]["first"]))
    stop(ship)
    ok(ship.returncode == 0, "ship over TLS stops on SIGTERM with exit 0")
    c.loop_stop()
    c.disconnect()
    broker.stop()


if __name__ == "__main__":
    main()
