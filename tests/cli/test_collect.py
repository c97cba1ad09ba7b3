#!/usr/bin/python3
"""test_collect — `hems collect` (the fleet head-end) against real peers this test starts itself.

Peers: a Debian PostgreSQL cluster (initdb in the scratch dir, run as the unprivileged user
nobody since initdb refuses root; pg_ctl on a free port with its unix socket in the scratch dir,
stopped at the end, also on failure), a Debian mosquitto broker (persistent, a free loopback
port), three simulated panels (`hems run`, real time) of which two ship with `hems ship`, and two
collectors in one shared-subscription group. A paho-mqtt client watches every topic (not a
shared subscription) to replay captured batches and to read the cosignatures.

Checked:
  - registration: a device registered twice with its key is fine, with another key exit 1;
  - two panels, two collectors: every seq 1..cursor of each panel's ship lands exactly once in
    `records` (count = max seq = the device's head = ship's cursor once it stopped), and the stored
    bytes equal `hems show SEQ --format cbor` (first, last and sampled seqs);
  - the broker stopped and started mid-stream, a collector SIGKILLed mid-stream and started
    again: nothing missing, nothing twice;
  - a panel's ship offline for a while, then back: the gap is filled by its resumed shipping;
    batches it lost (its cursor moved past records the head-end never got): the collector asks
    for a backfill and the gap is filled;
  - a captured batch published again: no row changes, no quarantine;
  - a tampered batch (one byte of a record changed, envelope rebuilt): rejected, the device
    quarantined with the offending seq and bytes, nothing inserted; its intact batch afterwards
    is not inserted either;
  - cosignatures: checkpoints cosigned by the collector's witness key, published retained on
    hems/ID/cosigned, equal to a stored one; the cosignature line checked from C2SP
    tlog-cosignature with python3-cryptography's Ed25519 (key hash, timestamp, signature over
    "cosignature/v1\ntime T\n" || the checkpoint body) against the verifier key `hems witness
    keygen` printed;
  - `hems ship --witness WVKEY`: the cosignatures journaled by the panel's daemon (witness
    records), and `hems verify --dir --witness WVKEY` passes on them;
  - a panel that rolls back to an older copy of its journal and rewrites history after a cosigned
    checkpoint: caught as a fork, quarantined with the verified (cosigned) and the received
    checkpoints as evidence, the stored records unchanged;
  - the decoded events table holds every non-window record, and a seal's decoded body names the
    seq before it (event_log view);
  - `hems verify --db` passes on both panels' stored records and fails (exit 1, naming the seq)
    after one stored byte is changed.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import base64, hashlib, io, json, os, pwd, shutil, signal, subprocess, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, Broker, ok, wait_for, start, stop, hems, status, show, cursor, free_port
import cbor2
import paho.mqtt.client as mqtt
import zstandard
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SEAL = 14
PGBIN = "/usr/lib/postgresql/15/bin"


class Postgres:
    """A PostgreSQL cluster in tmp/pg, run as nobody, socket in tmp/pgsock, a free port."""
    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "pg")
        self.sock = os.path.join(tmp, "pgsock")
        self.port = free_port()
        self.log = os.path.join(tmp, "pg.log")
        nobody = pwd.getpwnam("nobody")
        for p in (self.dir, self.sock):
            os.makedirs(p)
            os.chown(p, nobody.pw_uid, nobody.pw_gid)
            os.chmod(p, 0o700 if p == self.dir else 0o777)
        open(self.log, "w").close()
        os.chown(self.log, nobody.pw_uid, nobody.pw_gid)
        self.as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if os.getuid() == 0 else []
        r = subprocess.run(self.as_nobody + [PGBIN + "/initdb", "-D", self.dir, "-U", "hems", "-A", "trust", "--no-sync"],
                           capture_output=True, text=True, timeout=120)
        ok(r.returncode == 0, "initdb: " + r.stderr[-500:])
        self.url = "postgresql:///postgres?host=%s&port=%d&user=hems" % (self.sock, self.port)

    def start(self):
        r = subprocess.run(self.as_nobody + [PGBIN + "/pg_ctl", "-D", self.dir, "-l", self.log, "-w", "-o",
                            "-p %d -k %s -c listen_addresses='' -c fsync=off" % (self.port, self.sock), "start"],
                           capture_output=True, text=True, timeout=120)
        ok(r.returncode == 0, "pg_ctl start: " + r.stderr[-500:] + open(self.log).read()[-500:])

    def stop(self):
        subprocess.run(self.as_nobody + [PGBIN + "/pg_ctl", "-D", self.dir, "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)

    def q(self, sql):
        r = subprocess.run(["psql", "-X", "-q", "-At", "-h", self.sock, "-p", str(self.port), "-U", "hems", "-d", "postgres",
                            "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True, timeout=60)
        ok(r.returncode == 0, "psql %s: %s" % (sql, r.stderr))
        return r.stdout.strip()


def teardown(pg, *dirs):
    """The end of a collector test, also on failure: every process started stopped, the cluster
    stopped, the scratch dirs removed (kept with HEMS_KEEP_TMP)."""
    lib.cleanup(None)
    if pg:
        pg.stop()
    if not os.environ.get("HEMS_KEEP_TMP"):
        for t in dirs:
            if t:
                shutil.rmtree(t, ignore_errors=True)


def peers(name, persist=True):
    """A collector test's peers, started: a scratch dir (readable by nobody, the cluster's user),
    a PostgreSQL cluster and a mosquitto broker in it. What was started is stopped again, and
    the dir removed, when one of them fails to start. (tmp, pg, broker)."""
    tmp = __import__("tempfile").mkdtemp(prefix="hems-test-%s-" % name)
    os.chmod(tmp, 0o755)
    pg = Postgres(tmp)
    try:
        pg.start()
        broker = Broker(tmp, "broker", persist=persist)
        broker.start()
    except BaseException:
        teardown(pg, tmp)
        raise
    return tmp, pg, broker


class Watch:
    """Every message on hems/#: batches, cosignatures and backfill requests by device."""
    def __init__(self, port):
        self.lock = threading.Lock()
        self.batches, self.cosigned, self.backfill = {}, {}, {}
        self.c = mqtt.Client(client_id="watch-%d" % os.getpid(), protocol=mqtt.MQTTv311)
        self.c.on_message = self.on_message
        self.c.on_connect = lambda c, u, f, rc: c.subscribe("hems/#", qos=1)
        self.c.reconnect_delay_set(0.2, 1)
        self.c.connect("127.0.0.1", port, 30)
        self.c.loop_start()

    def on_message(self, c, u, m):
        parts = m.topic.split("/")
        with self.lock:
            if parts[-1] == "records":
                self.batches.setdefault(parts[1], []).append(bytes(m.payload))
            elif parts[-1] == "cosigned" and m.payload:
                self.cosigned[parts[1]] = m.payload.decode()
            elif parts[-1] == "backfill":
                self.backfill.setdefault(parts[1], []).append(json.loads(m.payload))

    def publish(self, topic, payload):
        self.c.publish(topic, payload, qos=1).wait_for_publish()

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def unpack(payload):
    e = cbor2.loads(payload)
    raw = zstandard.ZstdDecompressor().decompress(e[5])
    f, recs = io.BytesIO(raw), []
    while f.tell() < len(raw):
        recs.append(cbor2.load(f))
    return e, recs


def pack(e, recs):
    raw = b"".join(cbor2.dumps(r) for r in recs)
    e = dict(e)
    e[5] = zstandard.ZstdCompressor(level=6, write_content_size=True).compress(raw)
    return cbor2.dumps(e, canonical=True)



def check_cosig(note, vkey):
    """C2SP tlog-cosignature/v1: the line "— NAME base64(key hash 4 || time 8 || sig 64)", key hash =
    SHA-256(NAME || "\\n" || 0x04 || pk)[:4], signature over "cosignature/v1\\ntime T\\n" || body."""
    name, khash, key = vkey.split("+", 2)
    raw = base64.b64decode(key)
    ok(raw[0] == 4 and len(raw) == 33, "the witness verifier key is a cosignature/v1 key")
    pk = raw[1:]
    ok(hashlib.sha256(name.encode() + b"\n" + b"\x04" + pk).digest()[:4].hex() == khash, "verifier key hash")
    body = note[:note.index("\n\n") + 1]
    line = [l for l in note.splitlines() if l.startswith("— %s " % name)][0]
    sig = base64.b64decode(line.split(" ")[2])
    ok(len(sig) == 76 and sig[:4].hex() == khash, "the cosignature names the witness's key hash")
    ts = int.from_bytes(sig[4:12], "big")
    ok(abs(ts - time.time()) < 3600, "the cosignature's time is now")
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig[12:], b"cosignature/v1\ntime %d\n" % ts + body.encode())
    except Exception as e:
        ok(False, "the cosignature verifies: %s" % e)
    ok(True, "the cosignature verifies with the witness key")


def main():
    tmp = pg = None
    try:
        tmp, pg, broker = peers("collect")
        db = pg.url
        burl = "mqtt://127.0.0.1:%d" % broker.port
        panels = {}
        for name in ("a", "b", "c"):
            t, d, daemon = lib.panel_with_daemon("collect-" + name, {})
            panels[name] = {"tmp": t, "d": d, "daemon": daemon, "dev": status(d)["device_id"],
                            "pub": os.path.join(d, "keys", "signing.pub"), "state": os.path.join(t, "ship.state"),
                            "log": os.path.join(t, "ship.log")}
        A, B, C = panels["a"], panels["b"], panels["c"]

        # registration
        r = hems("collect", "--db", db, "--register", A["dev"])
        ok(r.returncode == 2, "--register without a key is a usage error")
        for p in panels.values():
            r = hems("collect", "--db", db, "--register", p["dev"], "--pubkey", p["pub"])
            ok(r.returncode == 0 and "registered" in r.stdout, "register %s: %s" % (p["dev"], r.stderr))
        migrations = sorted(f for f in os.listdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schemas", "fleet"))
                            if f.endswith(".sql"))
        ok(pg.q("SELECT string_agg(name, ',' ORDER BY version) FROM schema_version") == ",".join(migrations),
           "each migration of schemas/fleet recorded once, in order")
        r = hems("collect", "--db", db, "--register", A["dev"], "--pubkey", A["pub"])
        ok(r.returncode == 0, "registering again with the same key is fine")
        r = hems("collect", "--db", db, "--register", A["dev"], "--pubkey", B["pub"])
        ok(r.returncode == 1 and "another key" in r.stderr, "registering again with another key: exit 1")
        ok(pg.q("SELECT count(*) FROM devices") == "3", "three devices")

        wkey = os.path.join(tmp, "witness.key")
        r = hems("witness", "keygen", "--name", "collector.test", "--key", wkey)
        ok(r.returncode == 0, "witness keygen")
        wvkey = r.stdout.strip()
        watch = Watch(broker.port)
        clog = [os.path.join(tmp, "collect%d.log" % i) for i in (1, 2)]
        cargs = [[HEMS, "collect", "--broker", burl, "--db", db, "--group", "g", "--client-id", "c%d" % i,
                  "--witness-key", wkey] for i in (1, 2)]
        coll = [start(cargs[i], clog[i]) for i in (0, 1)]
        wait_for(lambda: all("subscribed" in open(l).read() for l in clog), "both collectors subscribed")

        def ship(p):
            extra = ["--witness", wvkey] if p is A else []
            return start([HEMS, "ship", "--dir", p["d"], "--broker", burl, "--state", p["state"]] + extra, p["log"])
        A["ship"], B["ship"] = ship(A), ship(B)

        def head(p):
            return int(pg.q("SELECT head_seq FROM devices WHERE device_id = '%s'" % p["dev"]))
        wait_for(lambda: head(A) >= 100 and head(B) >= 100, "both panels' records stored past seq 100", 90)
        ok(all(c.poll() is None for c in coll), "both collectors run")
        # the broker restarts mid-stream
        broker.stop()
        time.sleep(2)
        broker.start()
        h = status(A["d"])["durable_seq"]
        wait_for(lambda: head(A) >= h, "panel a stored up to %d after the broker restart" % h, 90)
        # a collector killed mid-stream, started again
        stop(coll[0], signal.SIGKILL)
        h = status(B["d"])["durable_seq"]
        wait_for(lambda: head(B) >= h, "panel b stored up to %d with one collector" % h, 90)
        coll[0] = start(cargs[0], clog[0])
        # panel b offline for a while, then back: its resumed shipping fills the gap
        stop(B["ship"])
        # what ship published before it stopped is still on its way: the batches the broker
        # acknowledged (ship's cursor) are stored, and then nothing more for 3 s
        wait_for(lambda: head(B) >= cursor(B["state"]), "panel b stored up to ship's cursor", 90)
        hb = lib.settled_value(lambda: head(B))
        wait_for(lambda: status(B["d"])["durable_seq"] >= hb + 60, "60 records journaled while panel b is offline", 90)
        ok(head(B) == hb, "nothing of panel b arrives while it is offline")
        B["ship"] = ship(B)
        h = status(B["d"])["durable_seq"]
        wait_for(lambda: head(B) >= h, "panel b's gap filled after it came back (%d)" % h, 90)
        # batches lost on the way (ship's cursor moved past records never delivered): backfill
        stop(B["ship"], signal.SIGKILL)
        st = json.load(open(B["state"]))
        lost_from = st["cursor"] + 1
        wait_for(lambda: status(B["d"])["durable_seq"] >= lost_from + 80, "80 more records on panel b", 90)
        # the cursor moves to a seal 40+ records on: the records between were "shipped" and lost
        seals = [s for s in range(lost_from + 40, lost_from + 80) if cbor2.loads(show(B["d"], s))[3] == SEAL]
        ok(seals, "a seal between %d and %d" % (lost_from + 40, lost_from + 80))
        st["cursor"] = seals[0]
        json.dump(st, open(B["state"], "w"))
        B["ship"] = ship(B)
        wait_for(lambda: "backfill asked for" in open(clog[0]).read() + open(clog[1]).read(), "a collector asks for a backfill")
        h = status(B["d"])["durable_seq"]
        wait_for(lambda: head(B) >= h, "panel b's lost records %d..%d filled by backfill" % (lost_from, seals[0]), 90)

        # a redelivered batch changes nothing
        with watch.lock:
            old = list(watch.batches[A["dev"]][:3])
        upto = max(unpack(p)[0][2] + unpack(p)[0][3] - 1 for p in old)
        ok(upto <= head(A), "the batches to publish again are stored already")
        snap_sql = "SELECT count(*), md5(string_agg(bytes::text || received_at::text, '' ORDER BY seq)) FROM records " \
                   "WHERE device_id = '%s' AND seq <= %d" % (A["dev"], upto)
        before = pg.q(snap_sql)
        for p in old:
            watch.c.publish("hems/%s/records" % A["dev"], p, qos=1).wait_for_publish()
        time.sleep(2)
        ok(pg.q(snap_sql) == before and before.startswith(str(upto) + "|"), "redelivered batches change no row (%s)" % before)
        ok(pg.q("SELECT count(*) FROM quarantine") == "0", "no quarantine after redelivered batches")

        # a tampered batch: panel c never shipped; its records up to its second seal, the last byte
        # of one in the middle changed (a signed field or a hash: the chain or a seal breaks)
        seals_c = []
        for s in range(1, status(C["d"])["durable_seq"] + 1):
            if cbor2.loads(show(C["d"], s))[3] == SEAL:
                seals_c.append(s)
            if len(seals_c) == 2:
                break
        ok(len(seals_c) == 2, "panel c has two seals")
        recs = [show(C["d"], s) for s in range(1, seals_c[1] + 1)]
        env = {0: 1, 1: bytes.fromhex(C["dev"]), 2: 1, 3: len(recs), 4: 0, 5: b""}
        bad = list(recs)
        i = seals_c[0] + (seals_c[1] - seals_c[0]) // 2 - 1
        ok(i < len(bad) - 1 and cbor2.loads(bad[i])[3] != SEAL, "a record inside a seal group")
        bad[i] = bad[i][:-1] + bytes([bad[i][-1] ^ 1])
        ok(bad[i] != recs[i], "the tampered record differs")
        watch.c.publish("hems/%s/records" % C["dev"], pack(env, bad), qos=1).wait_for_publish()
        wait_for(lambda: pg.q("SELECT count(*) FROM quarantine WHERE device_id = '%s'" % C["dev"]) == "1",
                 "panel c quarantined for the tampered batch")
        q = pg.q("SELECT reason, seq, encode(received, 'hex') FROM quarantine WHERE device_id = '%s'" % C["dev"]).split("|")
        ok("does not verify" in q[0], "the reason names the failed verification: %s" % q[0])
        # the first bad seq is the changed record (it no longer decodes or its seal fails) or the one
        # after it (whose prev is no longer the changed record's hash)
        ok(int(q[1]) in (i + 1, i + 2) and bytes.fromhex(q[2]) == bad[int(q[1]) - 1],
           "the evidence is the offending record (seq %s, the changed one %d)" % (q[1], i + 1))
        ok(pg.q("SELECT count(*) FROM records WHERE device_id = '%s'" % C["dev"]) == "0", "nothing of the tampered batch inserted")
        watch.c.publish("hems/%s/records" % C["dev"], pack(env, recs), qos=1).wait_for_publish()
        time.sleep(2)
        ok(pg.q("SELECT count(*) FROM records WHERE device_id = '%s'" % C["dev"]) == "0", "a quarantined device's batches are not inserted")

        # stop shipping: every seq up to ship's cursor stored exactly once, the bytes the panel's
        for p in (A, B):
            stop(p["ship"])
            cur = cursor(p["state"])
            wait_for(lambda: head(p) == cur, "stored head = ship's cursor %d" % cur, 60)
            n, mx, dist = pg.q("SELECT count(*), max(seq), count(DISTINCT seq) FROM records WHERE device_id = '%s'" % p["dev"]).split("|")
            ok(int(n) == cur and int(mx) == cur and int(dist) == cur, "%d rows for seqs 1..%d, none missing, none twice" % (int(n), cur))
            for s in sorted({1, 2, cur // 3, cur // 2, cur - 1, cur}):
                got = bytes.fromhex(pg.q("SELECT encode(bytes, 'hex') FROM records WHERE device_id = '%s' AND seq = %d" % (p["dev"], s)))
                ok(got == show(p["d"], s), "seq %d stored as hems show prints it" % s)
            r = hems("verify", "--db", db, "--device", p["dev"])
            ok(r.returncode == 0 and r.stdout.startswith("ok:"), "hems verify --db: %s %s" % (r.stdout, r.stderr))
            # the decoded events: every record but the windows, a seal's body names the seq before it
            n_ev, n_nonwin = pg.q("SELECT (SELECT count(*) FROM events WHERE device_id = '%s'), (SELECT count(*) FROM records "
                                  "WHERE device_id = '%s' AND type <> 4)" % (p["dev"], p["dev"])).split("|")
            ok(int(n_ev) == int(n_nonwin) > 0, "events hold every non-window record (%s)" % n_ev)
            seal = pg.q("SELECT seq, body ->> 'sealed_seq' FROM event_log WHERE device_id = '%s' AND type = 'seal' "
                        "ORDER BY seq DESC LIMIT 1" % p["dev"]).split("|")
            ok(int(seal[1]) == int(seal[0]) - 1 and cbor2.loads(show(p["d"], int(seal[0])))[3] == SEAL,
               "event_log: seal %s seals %s" % tuple(seal))
        ok(pg.q("SELECT count(*) FROM quarantine") == "1", "only the tampered device quarantined")

        # cosignatures: stored and published, under the witness's key name
        cs = pg.q("SELECT size, cosigned FROM checkpoints WHERE device_id = '%s' AND cosigned IS NOT NULL ORDER BY size DESC LIMIT 1"
                  % A["dev"])
        ok(cs, "panel a has cosigned checkpoints")
        size, note = cs.split("|", 1)
        ok(note.splitlines()[0] == "hems/" + A["dev"] and note.splitlines()[1] == size, "the cosigned note is the device's checkpoint")
        ok(sum(1 for l in note.splitlines() if l.startswith("— collector.test ")) == 1, "one cosignature line by collector.test")
        check_cosig(note, wvkey)
        wait_for(lambda: watch.cosigned.get(A["dev"], "").startswith("hems/"), "a cosignature published on hems/ID/cosigned")
        with watch.lock:
            pub = watch.cosigned[A["dev"]]
        ok(pg.q("SELECT count(*) FROM checkpoints WHERE device_id = '%s' AND cosigned = $q$%s$q$" % (A["dev"], pub)) == "1",
           "the published cosignature is a stored one")
        # panel a's ship (--witness) handed the cosignatures to its daemon, which journaled them
        ok("cosignature of size" in open(A["log"]).read() and "journaled at seq" in open(A["log"]).read(),
           "panel a's ship journaled the head-end's cosignatures")
        ok("not journaled" not in open(A["log"]).read(), "no cosignature refused by panel a's daemon")
        r = hems("verify", "--dir", A["d"], "--witness", wvkey)
        ok(r.returncode == 0 and "witness" in (r.stdout + r.stderr), "hems verify --witness on panel a: %s %s" % (r.stdout, r.stderr))

        # a panel rolls back and rewrites history after a cosigned checkpoint: a fork
        stop(B["daemon"])
        snap = os.path.join(B["tmp"], "snap")
        shutil.copytree(B["d"], snap, symlinks=True)
        snap_state = os.path.join(B["tmp"], "snap.state")
        shutil.copy(B["state"], snap_state)
        n1 = head(B)
        B["daemon"] = start([HEMS, "run", "--dir", B["d"]], B["d"] + ".err")
        wait_for(lambda: status(B["d"]).get("source") == "daemon", "panel b's daemon again")
        B["ship"] = ship(B)
        wait_for(lambda: int(pg.q("SELECT coalesce(max(size), 0) FROM checkpoints WHERE device_id = '%s' AND cosigned IS NOT NULL"
                                  % B["dev"])) > n1 + 20, "a cosigned checkpoint of panel b past %d" % (n1 + 20), 90)
        stop(B["ship"])
        stop(B["daemon"])
        stored_before = pg.q("SELECT count(*), md5(string_agg(bytes::text, '' ORDER BY seq)) FROM records WHERE device_id = '%s'" % B["dev"])
        fork_daemon = start([HEMS, "run", "--dir", snap], snap + ".err")
        wait_for(lambda: status(snap).get("source") == "daemon", "the rolled back copy's daemon")
        fork_ship = start([HEMS, "ship", "--dir", snap, "--broker", burl, "--state", snap_state], B["log"])
        wait_for(lambda: pg.q("SELECT count(*) FROM quarantine WHERE device_id = '%s'" % B["dev"]) == "1",
                 "the rewritten history caught as a fork", 90)
        reason, ev = pg.q("SELECT reason, evidence FROM quarantine WHERE device_id = '%s'" % B["dev"]).split("|", 1)
        ok(reason.startswith("fork"), "quarantined as a fork: %s" % reason)
        ok(ev.startswith("verified:\nhems/" + B["dev"]) and "— collector.test " in ev.split("received:")[0],
           "evidence: the cosigned checkpoint")
        ok("received:\nhems/" + B["dev"] in ev, "evidence: the rewritten log's checkpoint")
        time.sleep(2)
        ok(pg.q("SELECT count(*), md5(string_agg(bytes::text, '' ORDER BY seq)) FROM records WHERE device_id = '%s'" % B["dev"])
           == stored_before, "the stored records of panel b unchanged by the fork")
        stop(fork_ship)
        stop(fork_daemon)

        # a changed row fails hems verify --db
        pg.q("UPDATE records SET bytes = set_byte(bytes, 20, get_byte(bytes, 20) # 1) WHERE device_id = '%s' AND seq = 7" % A["dev"])
        r = hems("verify", "--db", db, "--device", A["dev"])
        ok(r.returncode == 1 and "seq 7" in r.stdout, "hems verify --db after a changed row: exit 1 naming seq 7: %s" % r.stdout)
        for c in coll:
            stop(c)
            ok(c.returncode == 0, "a collector stops on SIGTERM with exit 0")
        # hems bench fleet against the same peers
        n = int(os.environ.get("HEMS_BENCH_FLEET_RECORDS", "3000"))
        r = subprocess.run([HEMS, "bench", "fleet", "--db", db, "--broker", burl, "--records", str(n), "--format", "json",
                            "--dir", tmp], capture_output=True, text=True, timeout=900)
        ok(r.returncode == 0, "hems bench fleet: %s" % r.stderr[-800:])
        bench = json.loads(r.stdout)
        print("bench fleet:", r.stdout.strip(), flush=True)
        ok(bench["records"] > 0.9 * n and bench["batches"] >= 1, "bench fleet shipped about %d records" % n)
        ok(all(bench[k] > 0 for k in ("e2e_records_per_s", "collect_records_per_s", "copy_records_per_s", "collect_vs_copy")),
           "bench fleet: rates and the ratio")
        ok(20 < bench["wire_bytes_per_record"] < bench["raw_bytes_per_record"], "bench fleet: batches are compressed")
        ok(pg.q("SELECT count(*) FROM devices") == "3", "bench fleet removed its device")
        redelivered = 0
        for l in clog:
            last = [x for x in open(l).read().splitlines() if "collect: stopped:" in x][-1]
            redelivered += int(last.split(" redelivered")[0].split()[-1])
        ok(redelivered >= len(old), "the collectors counted the %d batches published again (%d)" % (len(old), redelivered))
        watch.close()
        print("%d passed, 0 failed" % lib.passed)
    finally:
        teardown(pg, tmp, *[p["tmp"] for p in (locals().get("panels") or {}).values()])


if __name__ == "__main__":
    main()
