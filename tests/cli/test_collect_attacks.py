#!/usr/bin/python3
"""test_collect_attacks — the fleet head-end (`hems collect`) against what a broker-level attacker
or a key rotation brings it, with peers this test starts itself: a PostgreSQL cluster (initdb in
the scratch dir, test_collect.Postgres), a mosquitto broker on a free loopback port, one simulated
panel (`hems run`) shipping with `hems ship`, one collector, and a paho-mqtt client that watches
hems/# and publishes what an attacker would.

Checked:
  - a key rotation (`hems key rotate` with the daemon stopped, the daemon started again, ship
    running throughout): no quarantine, the device's key in force at the head-end becomes the
    new key, and every stored checkpoint note is a C2SP signed note whose signature line names
    the key that signed it (key hash = SHA-256(name || "\\n" || 0x01 || pk)[:4], checked with
    python3-cryptography's Ed25519): the rotation group's seal under the old key, the seals after
    under the new one; `hems verify --db` passes;
  - retention at the head-end (rows deleted, docs/fleet.md "Retention"), then a captured batch
    over them published again: taken as redelivered (no database error, no quarantine, the
    deleted rows stay deleted);
  - batches ahead of the device's head that no seal of the device proves: a backfill is asked
    for at most 2000 records, not the range the message names; a flood of them holds at most 16
    of the device's messages, and the device's own batches go on being stored;
  - a checkpoint note on hems/ID/checkpoint signed by the device with the stored checkpoint's
    size and root but another extension line (its last): a fork, the device quarantined with both
    notes as evidence (the unchanged note first: no quarantine).
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import base64, hashlib, json, os, signal, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, wait_for, start, stop, hems, status, show
import cbor2
import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from test_collect import peers, Watch, SEAL, unpack, pack, teardown


def pubkey(path):
    kind, b64 = open(path).read().split()
    ok(kind == "ed25519", "%s is an ed25519 public key" % path)
    return base64.b64decode(b64)


def note_signer(note, keys):
    """The key of keys (name → 32 bytes) whose C2SP signed-note signature line verifies the note's
    body, or None. The body is the note up to its blank line."""
    body, _, sigs = note.partition("\n\n")
    body += "\n"
    for line in sigs.splitlines():
        if not line.startswith("\u2014 "):
            continue
        name, b64 = line[2:].rsplit(" ", 1)
        sig = base64.b64decode(b64)
        for kname, pk in keys.items():
            if hashlib.sha256(name.encode() + b"\n" + b"\x01" + pk).digest()[:4] != sig[:4]:
                continue
            try:
                Ed25519PublicKey.from_public_bytes(pk).verify(sig[4:], body.encode())
                return kname
            except Exception:
                return "bad signature by " + kname
    return None


def main():
    tmp = pg = watch = None
    try:
        tmp, pg, broker = peers("collect-attacks")
        burl = "mqtt://127.0.0.1:%d" % broker.port
        ptmp, d, daemon = lib.panel_with_daemon("collect-attacks", {})
        dev = status(d)["device_id"]
        old_pk = pubkey(os.path.join(d, "keys", "signing.pub"))
        r = hems("collect", "--db", pg.url, "--register", dev, "--pubkey", os.path.join(d, "keys", "signing.pub"))
        ok(r.returncode == 0, "register: " + r.stderr)
        watch = Watch(broker.port)
        clog = os.path.join(tmp, "collect.log")
        coll = start([HEMS, "collect", "--broker", burl, "--db", pg.url, "--group", "g", "--client-id", "c1"], clog)
        wait_for(lambda: "subscribed" in open(clog).read(), "the collector subscribed")
        ship = start([HEMS, "ship", "--dir", d, "--broker", burl, "--state", os.path.join(tmp, "ship.state")],
                     os.path.join(tmp, "ship.log"))

        def head():
            return int(pg.q("SELECT head_seq FROM devices WHERE device_id = '%s'" % dev))

        def quarantined():
            return pg.q("SELECT count(*) FROM quarantine WHERE device_id = '%s'" % dev)
        wait_for(lambda: head() >= 60, "the panel's records stored past seq 60", 90)

        # ---- a key rotation, with ship running throughout
        stop(daemon)
        ok(daemon.returncode == 0, "the daemon stopped")
        r = hems("key", "rotate", "--dir", d)
        ok(r.returncode == 0, "hems key rotate: %s" % r.stderr)
        new_pk = pubkey(os.path.join(d, "keys", "signing.pub"))
        ok(new_pk != old_pk, "the panel signs with a new key")
        daemon = start([HEMS, "run", "--dir", d], d + ".err")
        wait_for(lambda: status(d)["durable_seq"] > 0, "the daemon runs again")
        h = status(d)["durable_seq"] + 30
        wait_for(lambda: status(d)["durable_seq"] >= h, "30 records journaled after the rotation", 60)
        wait_for(lambda: head() >= h, "stored past the rotation (up to %d)" % h, 90)
        ok(quarantined() == "0", "no quarantine across the rotation")
        ok(bytes.fromhex(pg.q("SELECT encode(key_current, 'hex') FROM devices WHERE device_id = '%s'" % dev)) == new_pk,
           "the device's key in force at the head-end is the new key")
        signers = {}
        sizes = [int(s) for s in pg.q("SELECT size FROM checkpoints WHERE device_id = '%s' ORDER BY size" % dev).split()]
        ok(len(sizes) >= 4, "%d checkpoints stored" % len(sizes))
        for s in sizes:
            note = pg.q("SELECT note FROM checkpoints WHERE device_id = '%s' AND size = %d" % (dev, s)) + "\n"
            signers[s] = note_signer(note, {"old": old_pk, "new": new_pk})
        bad = {s: k for s, k in signers.items() if k not in ("old", "new")}
        ok(not bad, "every stored checkpoint note verifies with the key its signature line names (not: %s)" % bad)
        order = [signers[s] for s in sizes]
        ok("old" in order and "new" in order and order == sorted(order, key=lambda k: k == "new"),
           "the notes before and of the rotation group are the old key's, the ones after the new key's")
        r = hems("verify", "--db", pg.url, "--device", dev)
        ok(r.returncode == 0 and r.stdout.startswith("ok:"), "hems verify --db after the rotation: %s %s" % (r.stdout, r.stderr))

        # ---- head-end retention, then a captured batch over the deleted rows again
        with watch.lock:
            first = [b for b in watch.batches.get(dev, []) if unpack(b)[0][2] == 1]
        ok(first, "the batch from seq 1 was captured")
        env, recs = unpack(first[0])
        ok(len(recs) >= 4, "it holds %d records" % len(recs))
        pg.q("DELETE FROM records WHERE device_id = '%s' AND seq BETWEEN 2 AND %d" % (dev, len(recs) - 1))
        rows = pg.q("SELECT count(*) FROM records WHERE device_id = '%s'" % dev)
        watch.publish("hems/%s/records" % dev, first[0])
        time.sleep(3)
        log = open(clog).read()
        ok("store was changed" not in log and "database" not in log, "the batch over deleted rows is no database error")
        ok(quarantined() == "0", "nor a fork")
        ok(pg.q("SELECT count(*) FROM records WHERE device_id = '%s' AND seq BETWEEN 2 AND %d" % (dev, len(recs) - 1)) == "0",
           "the deleted rows stay deleted")

        # ---- batches ahead of the head that no seal of the device proves
        hd = head()
        forged = pack({0: 1, 1: bytes.fromhex(dev), 2: hd + 50000, 3: 1, 4: 0, 5: b""}, [b"\x01" * 40])
        watch.publish("hems/%s/records" % dev, forged)
        wait_for(lambda: "does not end at a seal its key signs" in open(clog).read(), "the forged ahead batch found unproven", 30)
        wait_for(lambda: any(q["to"] >= hd + 1000 for q in watch.backfill.get(dev, [])), "a backfill asked for", 30)
        with watch.lock:
            asked = [q for q in watch.backfill.get(dev, []) if q["to"] >= hd + 1000]
        ok(all(q["to"] - q["from"] + 1 <= 2000 for q in asked),
           "the backfill asked for on its word covers at most 2000 records, not up to seq %d: %s" % (hd + 50000, asked))
        for i in range(40):
            watch.publish("hems/%s/records" % dev,
                          pack({0: 1, 1: bytes.fromhex(dev), 2: hd + 60000 + i, 3: 1, 4: 0, 5: b""}, [b"\x02" * 40]))
        wait_for(lambda: "16 messages held" in open(clog).read(), "the device's held messages bounded at 16", 30)
        h = status(d)["durable_seq"] + 20
        wait_for(lambda: head() >= h, "the device's own batches still stored (up to %d)" % h, 90)
        ok(quarantined() == "0", "no quarantine for batches no one signed ahead of the head")

        # ---- the held queue full of other devices' unproven batches: the device's own gap still
        # gets its backfill. 16 registered decoys publish 16 ahead batches each, again and again
        # (256 messages: the queue's size); meanwhile the panel's ship loses records (its cursor
        # moved past a seal, as test_collect does), so its batches are ahead too
        decoys = []
        for i in range(16):
            did = os.urandom(16).hex()
            kf = os.path.join(tmp, "decoy%d.pub" % i)
            open(kf, "w").write("ed25519 %s\n" % base64.b64encode(os.urandom(32)).decode())
            r = hems("collect", "--db", pg.url, "--register", did, "--pubkey", kf)
            ok(r.returncode == 0, "decoy %d registered: %s" % (i, r.stderr))
            decoys.append(did)
        flooding, flood_err = [True], []
        fc = mqtt.Client(client_id="decoys-%d" % os.getpid(), protocol=mqtt.MQTTv311)  # publishes only
        fc.connect("127.0.0.1", broker.port, 30)
        fc.loop_start()

        def flood():
            k = 0
            try:
                while flooding[0]:
                    did = decoys[k % 16]
                    m = fc.publish("hems/%s/records" % did, pack({0: 1, 1: bytes.fromhex(did), 2: 1000 + k, 3: 1, 4: 0, 5: b""},
                                                                [b"\x03" * 40]), qos=1)
                    k += 1
                    if k % 16 == 0:
                        m.wait_for_publish(10)
                        time.sleep(0.05)
            except Exception as e:
                flood_err.append(repr(e))
        flooder = threading.Thread(target=flood, daemon=True)
        flooder.start()
        wait_for(lambda: open(clog).read().count("messages held") >= 2, "the queue full of decoys' batches", 60)
        stop(ship, signal.SIGKILL)
        st = json.load(open(os.path.join(tmp, "ship.state")))
        lost_from = st["cursor"] + 1
        wait_for(lambda: status(d)["durable_seq"] >= lost_from + 80, "80 more records on the panel", 90)
        seals = [x for x in range(lost_from + 40, lost_from + 80) if cbor2.loads(show(d, x))[3] == SEAL]
        ok(seals, "a seal between %d and %d" % (lost_from + 40, lost_from + 80))
        st["cursor"] = seals[0]
        json.dump(st, open(os.path.join(tmp, "ship.state"), "w"))
        before = open(clog).read().count("device %s: records" % dev)
        ship = start([HEMS, "ship", "--dir", d, "--broker", burl, "--state", os.path.join(tmp, "ship.state")],
                     os.path.join(tmp, "ship.log"))
        wait_for(lambda: open(clog).read().count("device %s: records" % dev) > before,
                 "the panel's backfill asked for beside a full queue of decoys", 60)
        h = status(d)["durable_seq"]
        wait_for(lambda: head() >= h, "the panel's lost records %d..%d filled by backfill (up to %d)" % (lost_from, seals[0], h), 90)
        flooding[0] = False
        flooder.join()
        fc.loop_stop()
        fc.disconnect()
        ok(not flood_err, "the decoys' messages all published: %s" % flood_err)
        ok(quarantined() == "0", "no quarantine for the panel")

        # ---- a checkpoint with the stored one's size and root but another signed body
        size = int(pg.q("SELECT max(size) FROM checkpoints WHERE device_id = '%s'" % dev))
        note = pg.q("SELECT note FROM checkpoints WHERE device_id = '%s' AND size = %d" % (dev, size)) + "\n"
        ok(note_signer(note, {"new": new_pk}) == "new", "the newest stored checkpoint is signed by the new key")
        watch.publish("hems/%s/checkpoint" % dev, note.encode())
        time.sleep(2)
        ok(quarantined() == "0", "the stored checkpoint published again: no fork")
        body, _, sigs = note.partition("\n\n")
        lines = body.split("\n")
        ok(len(lines) > 3 and lines[1] == str(size), "a checkpoint body: origin, size, root, extension lines")
        last = lines[-1]
        ok(last[-1] in "0123456789abcdef", "its last line ends in a hex digit: %s" % last)
        lines[-1] = last[:-1] + "%x" % ((int(last[-1], 16) + 1) % 16)
        body2 = "\n".join(lines) + "\n"
        seed = base64.b64decode(open(os.path.join(d, "keys", "signing.key")).read().split()[1])
        name, b64 = sigs.splitlines()[0][2:].rsplit(" ", 1)
        sig = base64.b64decode(b64)[:4] + Ed25519PrivateKey.from_private_bytes(seed).sign(body2.encode())
        forged_note = body2 + "\n\u2014 %s %s\n" % (name, base64.b64encode(sig).decode())
        ok(note_signer(forged_note, {"new": new_pk}) == "new", "the changed checkpoint is signed by the device's key")
        watch.publish("hems/%s/checkpoint" % dev, forged_note.encode())
        wait_for(lambda: quarantined() == "1", "the device quarantined for a second signed checkpoint at size %d" % size, 30)
        q = pg.q("SELECT reason, seq FROM quarantine WHERE device_id = '%s'" % dev).split("|")
        ok("fork" in q[0] and q[1] == str(size), "the reason names the fork at size %d: %s" % (size, q))
        ev = pg.q("SELECT evidence FROM quarantine WHERE device_id = '%s'" % dev)
        ok(body in ev and body2.rstrip("\n") in ev, "the evidence holds both signed bodies")

        stop(ship)
        stop(coll)
        ok(coll.returncode == 0, "the collector stops on SIGTERM with exit 0")
        summary = [l for l in open(clog).read().splitlines() if "collect: stopped" in l]
        ok(summary and int(summary[-1].split(" redelivered")[0].split()[-1]) >= 1,
           "the batch over the deleted rows counted as redelivered: %s" % summary)
        stop(daemon)
        print("%d passed, 0 failed" % lib.passed)
    finally:
        if watch:
            watch.close()
        teardown(pg, tmp, locals().get("ptmp"))

if __name__ == "__main__":
    main()
