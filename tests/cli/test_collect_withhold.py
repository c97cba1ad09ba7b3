#!/usr/bin/python3
"""test_collect_withhold — `hems collect` takes withheld (envelope version 2) and sealed batches:
a panel with a rollups-only policy (`hems ship --withhold window --encrypt-to KEY.pub`) ships no
window record and still verifies at the head-end.

Peers: a Debian PostgreSQL cluster (initdb run as nobody when root) and a Debian mosquitto on
free ports, both started and stopped by this test (test_collect.Postgres, bridge_testlib.Broker);
two simulated panels (`hems run`, real time); three collectors, each in its own shared-
subscription group so each sees every batch: one with the recipient key, one with none, one with
another recipient key; a paho-mqtt client that watches every topic and publishes built batches.

Checked:
  - the collector with the key stores the panel's records: head_seq reaches the panel's durable
    seq (as status reported it at that time) and ship's cursor; every seq 1..head has one row;
    the window records (their type read from the panel's own journal, `hems show --format cbor`)
    have no bytes, no type, and a leaf equal to SHA-256(0x00 || bytes) computed here with
    hashlib; every other record is stored byte for byte as `hems show` prints it; at least one
    window was withheld; checkpoints were stored; no quarantine;
  - `hems verify --db` passes on the device (the tree roots against the stored checkpoints);
  - a collector without --recipient-key and one with another recipient key drop every sealed
    batch with one line naming the recipient key id and why, and store nothing ("0 records
    stored" when they stop);
  - a captured sealed batch with withheld records published again: no row changes, no quarantine;
  - a second panel's records up to the first seal after a window, windows withheld as their leaf hashes built
    here, one leaf hash altered by one bit, published as a plain version 2 batch: the device is
    quarantined (the batch does not verify), nothing inserted;
  - the first panel's captured batch, opened here with PyNaCl, one withheld leaf altered, sealed
    again to the recipient key and published: a fork at a stored seq, quarantined, the stored
    rows unchanged.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import base64, hashlib, io, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, wait_for, start, stop, hems, status, show, cursor
from test_collect import peers, Watch, teardown
import cbor2
import zstandard
from nacl.public import PrivateKey, SealedBox

WINDOW, SEAL = 4, 14


def leaf(rec):
    """RFC 9162 §2.1.1 leaf hash."""
    return hashlib.sha256(b"\x00" + rec).digest()


def items_of(frame):
    raw = zstandard.ZstdDecompressor().decompress(frame)
    f, out = io.BytesIO(raw), []
    while f.tell() < len(raw):
        out.append(cbor2.load(f))
    return out


def envelope(e, items, pk=None):
    """The envelope e with its records replaced by items (sealed to pk when given)."""
    frame = zstandard.ZstdCompressor(level=6, write_content_size=True).compress(b"".join(cbor2.dumps(i) for i in items))
    out = {k: e[k] for k in range(5)}
    out[3] = len(items)
    if pk is None:
        out[5] = frame
    else:
        out[5] = SealedBox(pk).encrypt(frame)
        out[6] = hashlib.sha256(bytes(pk)).digest()[:8]
    return cbor2.dumps(out)


def main():
    tmp = pg = None
    panels = []
    try:
        tmp, pg, broker = peers("collect-withhold")
        burl = "mqtt://127.0.0.1:%d" % broker.port
        db = pg.url
        for name in ("cw-a", "cw-c"):
            t, d, daemon = lib.panel_with_daemon(name, {})
            panels.append({"tmp": t, "d": d, "dev": status(d)["device_id"], "pub": os.path.join(d, "keys", "signing.pub")})
        A, C = panels
        for p in panels:
            r = hems("collect", "--db", db, "--register", p["dev"], "--pubkey", p["pub"])
            ok(r.returncode == 0, "register %s: %s" % (p["dev"], r.stderr))
        ok(pg.q("SELECT count(*) FROM schema_version WHERE name LIKE '003_%'") == "1", "migration 003 applied")

        rk, rk2 = os.path.join(tmp, "headend.key"), os.path.join(tmp, "other.key")
        for k in (rk, rk2):
            ok(hems("key", "recipient", "--out", k).returncode == 0, "hems key recipient --out " + k)
        with open(rk) as f:
            sk = PrivateKey(base64.b64decode(f.read().split()[1]))
        kid = hashlib.sha256(bytes(sk.public_key)).digest()[:8].hex()
        r = hems("collect", "--broker", burl, "--db", db, "--recipient-key", rk + ".pub")
        ok(r.returncode == 1 and "secret" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
           "--recipient-key of a public key file: exit 1, one line: " + r.stderr)

        watch = Watch(broker.port)
        logs = {g: os.path.join(tmp, "collect-%s.log" % g) for g in ("key", "nokey", "other")}
        extra = {"key": ["--recipient-key", rk], "nokey": [], "other": ["--recipient-key", rk2]}
        coll = {g: start([HEMS, "collect", "--broker", burl, "--db", db, "--group", g, "--client-id", "cw-" + g] + extra[g],
                         logs[g]) for g in logs}
        wait_for(lambda: all("subscribed" in open(l).read() for l in logs.values()), "three collectors subscribed")

        state, slog = os.path.join(tmp, "ship.state"), os.path.join(tmp, "ship.log")
        ship = start([HEMS, "ship", "--dir", A["d"], "--broker", burl, "--state", state, "--withhold", "window",
                      "--encrypt-to", rk + ".pub"], slog)

        def head(p):
            return int(pg.q("SELECT head_seq FROM devices WHERE device_id = '%s'" % p["dev"]))
        wait_for(lambda: head(A) >= 180, "panel a's records stored past seq 180 (windows among them)", 120)
        h = status(A["d"])["durable_seq"]
        wait_for(lambda: head(A) >= h, "head_seq reaches the panel's durable seq %d" % h, 90)
        stop(ship)
        cur = cursor(state)
        wait_for(lambda: head(A) == cur, "stored head = ship's cursor %d" % cur, 60)

        # what was stored, against the panel's own journal
        rows = {}
        for line in pg.q("SELECT seq, coalesce(encode(bytes, 'hex'), '-'), coalesce(encode(leaf, 'hex'), '-'), "
                         "coalesce(type::text, '-') FROM records WHERE device_id = '%s' ORDER BY seq" % A["dev"]).splitlines():
            s, b, lf, ty = line.split("|")
            rows[int(s)] = (b, lf, ty)
        ok(sorted(rows) == list(range(1, cur + 1)), "one row for each seq 1..%d" % cur)
        windows = bad = 0
        for s in range(1, cur + 1):
            rec = show(A["d"], s)
            b, lf, ty = rows[s]
            if cbor2.loads(rec)[3] == WINDOW:
                windows += 1
                if not (b == "-" and ty == "-" and bytes.fromhex(lf) == leaf(rec)):
                    bad += 1
                    ok(False, "window seq %d stored as its leaf hash only: %s" % (s, rows[s]))
            elif not (lf == "-" and bytes.fromhex(b) == rec and int(ty) == cbor2.loads(rec)[3]):
                bad += 1
                ok(False, "seq %d stored byte for byte" % s)
        ok(windows > 0 and bad == 0, "%d windows stored as SHA-256(0x00||bytes) only, %d other records byte-exact"
           % (windows, cur - windows))
        ok(int(pg.q("SELECT count(*) FROM checkpoints WHERE device_id = '%s'" % A["dev"])) > 0, "checkpoints stored")
        ok(pg.q("SELECT count(*) FROM quarantine") == "0", "no quarantine")
        r = hems("verify", "--db", db, "--device", A["dev"])
        ok(r.returncode == 0 and r.stdout.startswith("ok:") and "seq 1..%d" % cur in r.stdout,
           "hems verify --db on withheld rows: %s %s" % (r.stdout, r.stderr))

        # the collectors without the key: one line per sealed batch, nothing stored
        for g, why in (("nokey", "no --recipient-key to open it"), ("other", "sealed to another recipient key")):
            stop(coll[g])
            text = open(logs[g]).read()
            ok(("a batch sealed to recipient key %s: %s: dropped" % (kid, why)) in text, "%s: the dropped line (%s)" % (g, why))
            ok("0 records stored" in text and "quarantine" not in text.replace("0 quarantines", ""),
               "%s: nothing stored" % g)

        # a captured sealed batch again: nothing changes
        with watch.lock:
            caught = [p for p in watch.batches.get(A["dev"], []) if 6 in cbor2.loads(p) and cbor2.loads(p)[0] == 2]
        ok(caught, "sealed batches with withheld records (version 2) captured")
        e = cbor2.loads(caught[0])
        items = items_of(SealedBox(sk).decrypt(e[5]))
        snap = "SELECT md5(string_agg(coalesce(bytes, leaf)::text || received_at::text, '' ORDER BY seq)) FROM records " \
               "WHERE device_id = '%s'" % A["dev"]
        before = pg.q(snap)
        watch.c.publish("hems/%s/records" % A["dev"], caught[0], qos=1).wait_for_publish()
        time.sleep(2)
        ok(pg.q(snap) == before and pg.q("SELECT count(*) FROM quarantine") == "0", "a sealed batch again changes nothing")

        # panel c: a plain version 2 batch built here (its records up to the first seal after a
        # window, the windows as their leaf hashes), one withheld leaf altered: quarantined
        recs, win = [], None
        for s in range(1, status(C["d"])["durable_seq"] + 1):
            recs.append(show(C["d"], s))
            t = cbor2.loads(recs[-1])[3]
            if t == WINDOW and win is None:
                win = s - 1
            if t == SEAL and win is not None:
                break
        ok(win is not None and cbor2.loads(recs[-1])[3] == SEAL, "panel c has a window and a seal after it")
        built = [[leaf(x)] if cbor2.loads(x)[3] == WINDOW else x for x in recs]
        built[win] = [bytes([built[win][0][0] ^ 1]) + built[win][0][1:]]
        env = {0: 2, 1: bytes.fromhex(C["dev"]), 2: 1, 3: len(built), 4: 0}
        watch.c.publish("hems/%s/records" % C["dev"], envelope(env, built), qos=1).wait_for_publish()
        wait_for(lambda: pg.q("SELECT count(*) FROM quarantine WHERE device_id = '%s'" % C["dev"]) == "1",
                 "panel c quarantined for the altered leaf hash")
        reason = pg.q("SELECT reason FROM quarantine WHERE device_id = '%s'" % C["dev"])
        ok("does not verify" in reason and "tree_root" in reason, "the reason names the tree root: " + reason)
        ok(pg.q("SELECT count(*) FROM records WHERE device_id = '%s'" % C["dev"]) == "0", "nothing of it inserted")

        # panel a: its captured batch with a stored withheld leaf altered, sealed again: a fork
        wi = [i for i, x in enumerate(items) if isinstance(x, list)]
        ok(wi, "the captured batch holds a withheld record")
        items[wi[0]] = [bytes([items[wi[0]][0][0] ^ 1]) + items[wi[0]][0][1:]]
        watch.c.publish("hems/%s/records" % A["dev"], envelope(e, items, sk.public_key), qos=1).wait_for_publish()
        wait_for(lambda: pg.q("SELECT count(*) FROM quarantine WHERE device_id = '%s'" % A["dev"]) == "1",
                 "panel a quarantined for the altered stored leaf")
        reason, seq = pg.q("SELECT reason, seq FROM quarantine WHERE device_id = '%s'" % A["dev"]).split("|")
        ok(reason.startswith("fork") and int(seq) == e[2] + wi[0], "a fork at seq %s: %s" % (seq, reason))
        ok(pg.q(snap) == before, "the stored rows unchanged")
        stop(coll["key"])
        watch.close()
        print("%d passed, 0 failed" % lib.passed)
    finally:
        teardown(pg, tmp, *[p["tmp"] for p in panels])

if __name__ == "__main__":
    main()
