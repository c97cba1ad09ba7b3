#!/usr/bin/python3
"""test_ship_withhold — `hems ship --withhold window` (the owner's privacy policy: rollups,
events and commands leave the house, no 1 s windows), checked by a head-end stand-in written
from docs/fleet.md and the RFC 9162 / C2SP specifications, not from hems's output.

Peers: the `hems run` daemon on the simulated default panel (real time), a Debian `mosquitto`
on a free loopback port (conf in the scratch dir), a paho-mqtt subscriber.

Checked:
  - no window record leaves: every byte-string item of every batch decodes (cbor2) to a record
    whose type is not 4; each withheld item is an array of one 32-byte string, at exactly the
    seqs `hems timeline --type window` lists, and only there; a batch holding one says version 2;
  - the records that do leave are the journal's exact bytes (anchors equal `hems show --format
    cbor`), and two shipped neighbours chain (prev = BLAKE2b-256("hems.record.v1\\0" || bytes));
  - still verifiable: the RFC 9162 Merkle tree hash (hashlib SHA-256; leaf = SHA-256(0x00 ||
    record) for a shipped record, the given hash for a withheld one) over seqs 1..size equals
    the root of the retained checkpoint, whose C2SP signed-note signature verifies with PyNaCl
    against the journal's public key file (key hash = SHA-256(name || "\\n" || 0x01 || key)[:4]);
    a withheld hash altered by one bit makes that root differ (the check can fail);
  - a backfill of 1..N withholds the same records;
  - the refusals: --withhold seal / key / boot / config / retention and an unknown type, exit 2;
    --pubkey of a missing file, exit 3 (ship runs here with --pubkey, as the installed unit does);
  - --encrypt-to: every envelope has key 6 = the recipient key id and key 5 a sealed box that
    PyNaCl's SealedBox opens with the head-end's secret key, holding exactly the items the plain
    run shipped; a secret key file given as --encrypt-to is refused.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import base64, hashlib, io, json, os, signal, subprocess, sys, threading
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, Broker, ok, wait_for, start, stop, hems, status
import cbor2
import paho.mqtt.client as mqtt
import zstandard
from nacl.signing import VerifyKey
from nacl.public import PrivateKey, SealedBox

WINDOW, SEAL = 4, 14


SEALED_TO = {}  # device topic id -> the PyNaCl PrivateKey its batches are sealed to


def decode(payload, sk=None):
    e = cbor2.loads(payload)
    if sk is None:
        ok(sorted(e) == [0, 1, 2, 3, 4, 5] and e[0] in (1, 2), "envelope keys 0..5, version 1 or 2")
        frame = e[5]
    else:
        ok(sorted(e) == [0, 1, 2, 3, 4, 5, 6] and e[0] in (1, 2), "sealed envelope keys 0..6")
        ok(e[6] == hashlib.sha256(bytes(sk.public_key)).digest()[:8], "key 6 is the recipient key id")
        ok(b"\x28\xb5\x2f\xfd" not in e[5][:64], "no zstd frame in the clear")
        frame = SealedBox(sk).decrypt(e[5])  # raises if it does not open
    raw = zstandard.ZstdDecompressor().decompress(frame)
    f, items = io.BytesIO(raw), []
    while f.tell() < len(raw):
        items.append(cbor2.load(f))
    ok(len(items) == e[3], "count %d items" % e[3])
    withheld = 0
    for it in items:
        if isinstance(it, list):
            ok(len(it) == 1 and isinstance(it[0], bytes) and len(it[0]) == 32, "a withheld item is [h'32 bytes']")
            withheld += 1
        else:
            ok(isinstance(it, bytes), "an item is a record's bytes or [leaf hash]")
    ok(e[0] == (2 if withheld else 1), "version %d with %d withheld" % (e[0], withheld))
    return {"first": e[2], "count": e[3], "kind": e[4], "items": items}


class HeadEnd:
    def __init__(self, port, dev, sk=None):
        self.dev, self.sk, self.lock = dev, sk, threading.Lock()
        self.batches, self.replies, self.ckpt = [], [], None
        self.c = mqtt.Client(client_id="withhold-%d" % os.getpid())
        self.c.on_message = self.on_message
        self.c.on_connect = lambda c, u, f, rc: c.subscribe("hems/%s/#" % dev, qos=1)
        self.c.connect("127.0.0.1", port, 30)
        self.c.loop_start()

    def on_message(self, c, u, m):
        base = "hems/%s/" % self.dev
        with self.lock:
            if m.topic == base + "records":
                self.batches.append(decode(m.payload, self.sk))
            elif m.topic == base + "checkpoint":
                self.ckpt = m.payload.decode()
            elif m.topic == base + "backfill/reply":
                self.replies.append(json.loads(m.payload))


def leaf(rec):
    return hashlib.sha256(b"\0" + rec).digest()


def mth(leaves):
    """RFC 9162 §2.1.1 Merkle Tree Hash of a list of leaf hashes."""
    n = len(leaves)
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\1" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def open_note(note, name, pk):
    """C2SP signed-note: the body verified with the Ed25519 key named `name`; (size, root)."""
    body, sep, sigs = note.partition("\n\n")
    ok(sep, "a signed note has a blank line")
    body += "\n"
    kh = hashlib.sha256(name.encode() + b"\n\x01" + pk).digest()[:4]
    good = False
    for line in sigs.splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "\u2014" and parts[1] == name:
            raw = base64.b64decode(parts[2])
            if raw[:4] == kh:
                VerifyKey(pk).verify(body.encode(), raw[4:])  # raises on a bad signature
                good = True
    ok(good, "the checkpoint carries a verifying signature of " + name)
    lines = body.split("\n")
    ok(lines[0] == name, "origin " + name)
    return int(lines[1]), base64.b64decode(lines[2])


def rec_hash(b):
    return hashlib.blake2b(b"hems.record.v1\0" + b, digest_size=32).digest()


def cursor(state):
    try:
        return json.load(open(state))["cursor"]
    except (OSError, ValueError):
        return 0


def main():
    tmp = None
    try:
        tmp, d, daemon = lib.panel_with_daemon("withhold", {})
        dev = status(d)["device_id"]
        broker = Broker(tmp, "broker")
        broker.start()
        url = "mqtt://127.0.0.1:%d" % broker.port
        for t in ("seal", "key", "boot", "config", "retention", "windows", ""):
            r = hems("ship", "--dir", d, "--broker", url, "--withhold", t)
            ok(r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--withhold" in r.stderr,
               "--withhold %r refused with one line: %s" % (t, r.stderr))
        he = HeadEnd(broker.port, dev)
        state, slog = os.path.join(tmp, "ship.state"), os.path.join(tmp, "ship.log")
        # the public key as the installed unit gives it (a copy outside the data dir)
        pub = os.path.join(tmp, "journal.pub")
        with open(os.path.join(d, "keys", "signing.pub")) as f, open(pub, "w") as g:
            g.write(f.read())
        r = hems("ship", "--dir", d, "--broker", url, "--pubkey", os.path.join(tmp, "none.pub"))
        ok(r.returncode == 3 and "none.pub" in r.stderr, "--pubkey of a missing file: exit 3 naming it: " + r.stderr)
        ship = start([HEMS, "ship", "--dir", d, "--broker", url, "--state", state, "--withhold", "window", "--pubkey", pub], slog)
        wait_for(lambda: cursor(state) >= 150, "ship's cursor past 150", 90)
        wait_for(lambda: "taking backfill requests" in open(slog).read(), "ship takes backfill requests")
        upto = cursor(state)
        he.c.publish("hems/%s/backfill" % dev, json.dumps({"from": 1, "to": upto}), qos=1)
        wait_for(lambda: he.replies, "the backfill reply")
        ok(he.replies[0].get("ok") is True, "backfill ok: %s" % he.replies[0])
        stop(ship)
        ok(ship.returncode == 0, "ship stops on SIGTERM")

        windows = {w["seq"] for w in lib.records(d, "window")}
        with he.lock:
            batches, note = list(he.batches), he.ckpt
        byseq = {}
        for kind in (0, 1):
            got = {}
            for b in (x for x in batches if x["kind"] == kind):
                for i, it in enumerate(b["items"]):
                    got.setdefault(b["first"] + i, it)
            ok(all(s in got for s in range(1, upto + 1)), "kind %d: every seq 1..%d arrived" % (kind, upto))
            for s in range(1, upto + 1):
                it = got[s]
                if isinstance(it, list):
                    ok(s in windows, "seq %d withheld, and it is a window" % s)
                else:
                    m = cbor2.loads(it)
                    ok(m[1] == s and m[3] != WINDOW and s not in windows, "seq %d shipped, and it is no window" % s)
                if kind == 0:
                    byseq[s] = it
                else:
                    ok(it == byseq[s], "the backfill of seq %d is what the live batch held" % s)
            if kind == 0:  # ship went on past upto until it stopped: what arrived without a gap
                arrived = upto
                while arrived + 1 in got:
                    arrived += 1
                    byseq[arrived] = got[arrived]
        nwin = sum(1 for s in range(1, upto + 1) if isinstance(byseq[s], list))
        ok(nwin > 0 and nwin < upto, "windows withheld (%d of %d records), the rest shipped" % (nwin, upto))
        for s in range(2, upto + 1):
            if isinstance(byseq[s], bytes) and isinstance(byseq[s - 1], bytes):
                ok(cbor2.loads(byseq[s])[0] == rec_hash(byseq[s - 1]), "shipped seq %d chains to seq %d" % (s, s - 1))
        for s in (1, upto):
            if isinstance(byseq[s], bytes):
                r = subprocess.run([HEMS, "show", "--dir", d, "--format", "cbor", str(s)], capture_output=True, timeout=60)
                ok(r.returncode == 0 and r.stdout == byseq[s], "seq %d: the bytes hems show prints" % s)

        with open(os.path.join(d, "keys", "signing.pub")) as f:
            alg, b64 = f.read().split()
        ok(alg == "ed25519", "the journal's public key file")
        ok(note is not None, "a retained checkpoint arrived")
        size, root = open_note(note, "hems/" + dev, base64.b64decode(b64))
        # its records arrived before it (one connection, in order), the ones after upto included
        ok(1 <= size <= arrived, "the checkpoint's size %d within what arrived (%d)" % (size, arrived))
        leaves = [leaf(byseq[s]) if isinstance(byseq[s], bytes) else byseq[s][0] for s in range(1, size + 1)]
        ok(mth(leaves) == root, "the Merkle root over shipped records and withheld hashes is the signed root")
        wi = next(i for i in range(size) if isinstance(byseq[i + 1], list))
        bad = list(leaves)
        bad[wi] = bytes([bad[wi][0] ^ 1]) + bad[wi][1:]
        ok(mth(bad) != root, "one withheld hash altered: the root differs")

        # the same policy, the batches sealed to the head-end's key: PyNaCl opens them, and they
        # hold exactly what the plain run shipped
        rk = os.path.join(tmp, "headend.key")
        ok(hems("key", "recipient", "--out", rk).returncode == 0, "hems key recipient")
        with open(rk) as f:
            sk = PrivateKey(base64.b64decode(f.read().split()[1]))
        r = hems("ship", "--dir", d, "--broker", url, "--encrypt-to", rk)
        ok(r.returncode == 1 and "not an X25519 public key file" in r.stderr, "--encrypt-to a secret key file: " + r.stderr)
        he2 = HeadEnd(broker.port, "sealed", sk)
        st2 = os.path.join(tmp, "ship2.state")
        ship = start([HEMS, "ship", "--dir", d, "--broker", url, "--state", st2, "--device-id", "sealed",
                      "--withhold", "window", "--encrypt-to", rk + ".pub"], os.path.join(tmp, "ship2.log"))
        wait_for(lambda: cursor(st2) >= upto, "the sealed ship's cursor past %d" % upto, 90)
        stop(ship)
        with he2.lock:
            sealed = list(he2.batches)
        got = {}
        for b in sealed:
            for i, it in enumerate(b["items"]):
                got.setdefault(b["first"] + i, it)
        ok(all(got.get(s) == byseq[s] for s in range(1, upto + 1)), "the sealed batches hold what the plain ones did, 1..%d" % upto)
        for h in (he, he2):
            h.c.loop_stop()
            h.c.disconnect()
        broker.stop()
        stop(daemon)
    finally:
        lib.cleanup(tmp)
    print("%d passed, 0 failed" % lib.passed)


main()
