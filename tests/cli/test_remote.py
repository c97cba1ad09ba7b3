#!/usr/bin/python3
"""test_remote — signed remote commands (docs/fleet.md "Remote commands") against real peers the
test starts itself: the `hems run` daemon on the simulated default panel (real time), and for the
MQTT path a Debian `mosquitto` on a free loopback port with `hems ship` forwarding from
hems/<device id>/commands.

The COSE bytes are checked independently of hems: decoded with cbor2 and the Ed25519 signature
verified with PyNaCl (libsodium's Python binding, not hems' code) over the Sig_structure built by
cbor2 from RFC 9052 §4.4; and a command built and signed entirely in Python (cbor2 + PyNaCl, from
the key file's seed) is accepted by the daemon.

Checked, each outcome from the journal (`hems timeline --format jsonl`):
  - a DR start signed by a utility issuer: a request of source remote:utility-a with its seq,
    cti and issuer, the fold's demand_response command opening the branch, its sense_back
    confirmed; `hems verify` passes at the end;
  - a request_id given is journaled as remote-<issuer>-<id> (the issuer's own namespace);
  - refused and journaled with the reason: a forged signature (signature), an unregistered key
    (unknown_issuer), bytes that are no COSE_Sign1 (malformed), another device's aud (audience),
    an expired one (expired), the same bytes again (replayed), a lower seq with a new cti
    (sequence), a DR start signed by an installer (role); none of them adds a request;
  - two-person rule: a service disconnect with one signature is refused awaiting_second and the
    service stays connected; the same issuer again does not complete it; a second issuer's
    disconnect within the window is executed (command service off, sense-back confirmed, the
    service disconnected), its request naming the first signature;
  - the battery's disconnect and discharge limit, asked by a utility or an installer: role;
  - unauthenticated refusals are rate limited: of 40 more malformed messages at most the burst
    is journaled, one record counting the ones left out; authenticated ones per issuer: after 25
    replays of utility-a's message, utility-b's refusal is still journaled;
  - after a restart, a lower seq is still refused `sequence` (the last seq recovered from the
    journal);
  - a battery output limit (ess limit) asked remotely: role; a set-mode 0 while the service is
    disconnected: role, the service stays disconnected;
  - SIGHUP with a remote section the issuers' parse refuses: a config_invalid fault, no config
    record, the issuers in force still accepted; with an issuer removed from DIR/config.json: the
    config record lists the others and the removed one is refused unknown_issuer; with the
    "remote" section removed, the config record has none and every issuer is refused;
  - a renamed issuer after a restart: its message accepted under the old name is refused
    replayed (the cti read back from the journal); after a retention cut of that record, refused
    sequence (issued before the oldest record kept);
  - over MQTT: a DR cancel published on hems/<id>/commands is journaled as a request of source
    remote:utility-a (ship forwards it), ship logging the daemon's answer.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import base64, hashlib, json, os, signal, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, Broker, ok, wait_for, start, stop, hems, status
import cbor2
import nacl.signing
import paho.mqtt.client as mqtt


def keygen(tmp, name):
    path = os.path.join(tmp, name + ".key")
    r = hems("remote", "keygen", "--key", path)
    ok(r.returncode == 0, "remote keygen %s: %s" % (name, r.stderr))
    k = json.loads(r.stdout)
    pk = base64.b64decode(k["pubkey"])
    ok(len(pk) == 32, "a 32-byte Ed25519 public key")
    ok(bytes.fromhex(k["kid"]) == hashlib.blake2b(pk, digest_size=32).digest()[:16],
       "kid = the first 16 bytes of BLAKE2b-256 of the public key")
    seed_line = open(path).read().splitlines()[0].split()
    ok(seed_line[0] == "ed25519-seed", "the key file's seed line")
    sk = nacl.signing.SigningKey(base64.b64decode(seed_line[1]))
    ok(bytes(sk.verify_key) == pk, "the seed's public key is the one keygen printed")
    return {"path": path, "pk": pk, "kid": bytes.fromhex(k["kid"]), "sk": sk, "b64": k["pubkey"]}


def sign(tmp, key, aud, seq, request, *extra):
    r = subprocess.run([HEMS, "remote", "sign", "--key", key["path"], "--aud", aud, "--seq", str(seq), "--request",
                        json.dumps(request), *extra], capture_output=True, timeout=60)
    ok(r.returncode == 0, "remote sign: %s" % r.stderr)
    return r.stdout


def apply(tmp, d, b, name):
    path = os.path.join(tmp, name + ".cose")
    open(path, "wb").write(b)
    return hems("remote", "apply", "--dir", d, path)


def check_cose(b, key, aud, seq, request):
    """Decodes the bytes with cbor2 and verifies the signature with PyNaCl."""
    t = cbor2.loads(b)
    ok(isinstance(t, cbor2.CBORTag) and t.tag == 18 and len(t.value) == 4, "COSE_Sign1: tag 18, an array of 4")
    prot, unprot, payload, sig = t.value
    ok(cbor2.loads(prot) == {1: -8, 4: key["kid"]}, "protected header {1: -8 (EdDSA), 4: kid}")
    ok(unprot == {}, "empty unprotected header")
    c = cbor2.loads(payload)
    ok(sorted(c) == sorted([1, 3, 4, 6, 7, -65537, -65538]), "claims iss aud exp iat cti seq request: %s" % sorted(c))
    ok(c[3] == aud and c[-65537] == seq and json.loads(c[-65538]) == request, "aud, seq and request as signed")
    ok(c[4] - c[6] == 300 and abs(c[6] - time.time()) < 120 and len(c[7]) == 16, "exp = iat + 300 s, iat now, 16-byte cti")
    ok(cbor2.dumps(c, canonical=True) == payload, "the payload is deterministic CBOR")
    to_be_signed = cbor2.dumps(["Signature1", prot, b"", payload])
    nacl.signing.VerifyKey(key["pk"]).verify(to_be_signed, sig)  # raises BadSignatureError
    ok(True, "the Ed25519 signature verifies over the Sig_structure (PyNaCl)")
    return c


def python_cose(key, aud, seq, request, iat=None):
    """A COSE_Sign1 built and signed without hems."""
    iat = int(time.time()) if iat is None else iat
    prot = cbor2.dumps({1: -8, 4: key["kid"]}, canonical=True)
    claims = {1: "py", 3: aud, 4: iat + 120, 6: iat, 7: os.urandom(16), -65537: seq, -65538: json.dumps(request)}
    payload = cbor2.dumps(claims, canonical=True)
    sig = key["sk"].sign(cbor2.dumps(["Signature1", prot, b"", payload])).signature
    return cbor2.dumps(cbor2.CBORTag(18, [prot, {}, payload, sig]))


def timeline(d, types="request,refusal,command,sense_back"):
    return lib.records(d, types)


def after(d, seq0, types="request,refusal,command,sense_back"):
    return [r for r in timeline(d, types) if r["seq"] > seq0]


def head(d):
    return status(d)["head_seq"]


def settled(d, seq0, types="request,refusal,command,sense_back"):
    """The records after seq0 once everything appended so far is durable (timeline reads those)."""
    h = head(d)
    wait_for(lambda: status(d)["durable_seq"] >= h, "durable through %d" % h)
    return after(d, seq0, types)


def refused(tmp, d, b, name, reason, issuer):
    h0 = head(d)
    r = apply(tmp, d, b, name)
    ok(r.returncode == 1 and "refused: %s" % reason in r.stdout, "%s: exit 1, refused %s: %s %s" % (name, reason, r.stdout, r.stderr))
    recs = settled(d, h0, "request,refusal")
    # the default scenario's own switch and DR requests (source operator) go on meanwhile
    mine = [x for x in recs if x["type"] == "request" and x["source"].startswith("remote:")]
    ok(not mine, "%s: no remote request journaled: %s" % (name, mine))
    mine = [x for x in recs if x["type"] == "refusal" and x["source"] == "remote:" + issuer]
    ok(len(mine) == 1 and mine[0]["body"]["reason"] == reason and mine[0]["body"]["cause_seq"] == 0,
       "%s: one refusal of source remote:%s, reason %s: %s" % (name, issuer, reason, recs))
    return mine[0]


def start_daemon(d):
    p = start([HEMS, "run", "--dir", d], d + ".err")
    wait_for(lambda: '"source":"daemon"' in hems("status", "--dir", d, "--format", "json").stdout.replace(" ", ""),
             "the daemon's socket")
    return p


def main():
    tmp = None
    try:
        tmp = tempfile.mkdtemp(prefix="hems-test-remote-")
        os.chmod(tmp, 0o755)
        d = os.path.join(tmp, "d")
        ok(hems("init", "--dir", d).returncode == 0, "hems init")
        ua, ub, inst, stranger = (keygen(tmp, n) for n in ("ua", "ub", "inst", "stranger"))
        cfg = json.load(open(os.path.join(d, "config.json")))
        cfg["remote"] = {"issuers": [{"name": "utility-a", "pubkey": ua["b64"], "role": "utility"},
                                     {"name": "utility-b", "pubkey": ub["pk"].hex(), "role": "utility"},
                                     {"name": "installer-1", "pubkey": inst["b64"], "role": "installer"}],
                         "two_person": {"service_disconnect": True, "window_s": 600}}
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
        daemon = start_daemon(d)
        dev = status(d)["device_id"]
        ok(len(dev) == 32, "device id")
        cfgs = lib.records(d, "config")
        rj = json.loads(cfgs[-1]["body"]["json"]).get("remote") if cfgs else None
        ok(rj and sorted(i["pubkey"] for i in rj["issuers"]) == sorted([ua["b64"], ub["pk"].hex(), inst["b64"]])
           and rj["two_person"]["service_disconnect"] is True,
           "the boot's config record journals the trusted issuers' keys and the two-person rule: %s" % rj)
        # usage and I/O errors: one line, the documented exit codes
        for args, what in ((["--seq", "0", "--request", "{}"], "seq 0"), (["--seq", "1", "--request", "[1]"], "a request not an object"),
                           (["--seq", "1", "--request", "{}", "--ttl", "2d"], "a ttl over a day")):
            r = hems("remote", "sign", "--key", ua["path"], "--aud", dev, *args)
            ok(r.returncode == 2 and r.stderr.count("\n") == 1 and not r.stdout, "remote sign, %s: exit 2, one line: %s" % (what, r.stderr))
        r = hems("remote", "apply", "--dir", d, os.path.join(tmp, "missing.cose"))
        ok(r.returncode == 3 and "missing.cose" in r.stderr, "remote apply of a missing file: exit 3: %s" % r.stderr)
        r = hems("remote", "sign", "--key", os.path.join(tmp, "nokey"), "--aud", dev, "--seq", "1", "--request", "{}")
        ok(r.returncode == 3 and "nokey" in r.stderr, "remote sign with a missing key file: exit 3: %s" % r.stderr)

        # a DR event from a utility issuer: checked independently, executed, proven
        dr = {"op": "dr", "action": "start", "event": "remote-e1", "branches": [3], "duration_ns": 600 * 10**9}
        b1 = sign(tmp, ua, dev, 1, dr)
        c1 = check_cose(b1, ua, dev, 1, dr)
        h0 = head(d)
        r = apply(tmp, d, b1, "dr1")
        ok(r.returncode == 0 and "accepted" in r.stdout, "DR start accepted: %s %s" % (r.stdout, r.stderr))
        reqs = [x for x in settled(d, h0, "request") if x["source"] == "remote:utility-a"]
        ok(len(reqs) == 1, "one request of source remote:utility-a")
        q = reqs[0]
        ok(q["body"]["kind"] == "dr_start" and q["body"]["remote_seq"] == 1 and q["body"]["cti"] == c1[7].hex() and
           q["body"]["issuer"] == "utility-a" and q["body"]["role"] == "utility" and q["body"]["event"] == "remote-e1",
           "the request carries kind, seq, cti, issuer, role: %s" % q["body"])
        cmd = wait_for(lambda: [x for x in after(d, q["seq"], "command") if x["body"]["cause_seq"] == q["seq"]],
                       "the DR command")[0]
        ok(cmd["body"]["reason"] == "demand_response" and cmd["body"]["target"] == 3 and cmd["body"]["desired"] == "off",
           "the fold's DR command opens branch 3: %s" % cmd["body"])
        sb = wait_for(lambda: [x for x in after(d, cmd["seq"], "sense_back") if x["body"].get("command_seq") == cmd["seq"]],
                      "the DR command's sense-back")[0]
        ok(sb["body"]["verdict"] == "confirmed", "branch 3 shed, sense-back confirmed")

        # a command signed by Python alone is accepted
        h0 = head(d)
        r = apply(tmp, d, python_cose(ua, dev, 2, {"op": "dr", "action": "cancel", "event": "remote-e1", "request_id": "sock-99999"}), "py")
        ok(r.returncode == 0, "a COSE_Sign1 made by cbor2 + PyNaCl is accepted: %s %s" % (r.stdout, r.stderr))
        q2 = [x for x in settled(d, h0, "request") if x["body"].get("remote_seq") == 2]
        ok(q2, "its request journaled with seq 2")
        ok(q2[0]["body"]["request_id"] == "remote-utility-a-sock-99999",
           "the id it gives is in the issuer's namespace (a socket peer's sock-N stays free): %s" % q2[0]["body"]["request_id"])

        # refusals, each journaled with its reason
        forged = bytearray(sign(tmp, ua, dev, 3, dr))
        forged[-1] ^= 1
        refused(tmp, d, bytes(forged), "forged", "signature", "utility-a")
        refused(tmp, d, sign(tmp, stranger, dev, 1, dr), "stranger", "unknown_issuer", "kid-" + stranger["kid"][:12].hex())
        refused(tmp, d, b"\xd2\x84garbage", "garbage", "malformed", "?")
        refused(tmp, d, sign(tmp, ua, "0" * 32, 3, dr), "audience", "audience", "utility-a")
        refused(tmp, d, sign(tmp, ua, dev, 3, dr, "--iat", str(int(time.time()) - 1000)), "expired", "expired", "utility-a")
        rr = refused(tmp, d, b1, "replay", "replayed", "utility-a")
        ok(rr["body"]["cti"] == c1[7].hex() and rr["body"]["remote_seq"] == 1, "the replay's refusal names its cti and seq")
        refused(tmp, d, sign(tmp, ua, dev, 1, dr), "lower-seq", "sequence", "utility-a")
        refused(tmp, d, sign(tmp, inst, dev, 1, dr), "installer-dr", "role", "installer-1")
        # the battery is never disconnected (nor its discharge limited) from afar, by any role
        for key, who in ((ua, "utility-a"), (inst, "installer-1")):
            for act in ({"action": "disconnect"}, {"action": "discharge_limit", "permille": 0}, {"action": "limit", "permille": 0}):
                refused(tmp, d, sign(tmp, key, dev, 3, dict({"op": "der", "source": "ess"}, **act)),
                        "%s-ess-%s" % (who, act["action"]), "role", who)

        # two-person rule for the service disconnect
        sd = {"op": "service", "action": "disconnect"}
        first = refused(tmp, d, sign(tmp, ua, dev, 4, sd), "disconnect-1", "awaiting_second", "utility-a")
        time.sleep(1)
        ok(status(d)["policy"]["service"] == "connected", "one signature: the service stays connected")
        refused(tmp, d, sign(tmp, ua, dev, 5, sd), "disconnect-1-again", "awaiting_second", "utility-a")
        h0 = head(d)
        b_second = sign(tmp, ub, dev, 1, sd, "--ttl", "1h")
        r = apply(tmp, d, b_second, "disconnect-2")
        ok(r.returncode == 0 and "confirmed" in r.stdout, "two signatures: the disconnect executed: %s %s" % (r.stdout, r.stderr))
        recs = settled(d, h0)
        q = [x for x in recs if x["type"] == "request" and x["source"] == "remote:utility-b"]
        ok(len(q) == 1 and q[0]["body"]["kind"] == "service" and q[0]["body"]["action"] == "disconnect" and
           q[0]["body"]["origin"] == "remote" and "utility-a" in q[0]["body"]["reason"],
           "the second signature's request names the first: %s" % q)
        cmd = [x for x in recs if x["type"] == "command" and x["body"]["cause_seq"] == q[0]["seq"]]
        ok(len(cmd) == 1 and cmd[0]["body"]["target"] == "service" and cmd[0]["body"]["desired"] == "off", "service off command")
        ok(status(d)["policy"]["service"] != "connected", "the service disconnected")
        ok(first["body"]["remote_seq"] == 4, "the first signature's refusal carries its seq")
        # set-mode 0 (always connected) would close the disconnected service without the button
        refused(tmp, d, sign(tmp, ua, dev, 6, {"op": "service", "action": "set-mode", "mode": 0}), "set-mode-0", "role", "utility-a")
        ok(status(d)["policy"]["service"] != "connected", "a remote set-mode 0 leaves the service disconnected")

        # unauthenticated refusals: at most the burst journaled, the rest counted
        h0 = head(d)
        for i in range(40):
            apply(tmp, d, b"\xd2garbage%d" % i, "flood")
            time.sleep(0.12)  # under the control socket's per-peer rate
        fl = [x for x in settled(d, h0, "refusal") if x["body"]["reason"] == "malformed"]
        ok(0 < len(fl) < 40, "of 40 malformed messages %d refusals journaled" % len(fl))
        ok(any(x["body"].get("count", 0) > 1 for x in fl) or len(fl) <= 20, "the ones left out are counted")
        # authenticated refusals: a bucket per issuer — a replay flood of utility-a's message
        # leaves utility-b's refusals journaled one by one
        h0 = head(d)
        for i in range(25):
            apply(tmp, d, b1, "replay-flood")
            time.sleep(0.12)
        fa = [x for x in settled(d, h0, "refusal") if x["source"] == "remote:utility-a"]
        ok(0 < len(fa) <= 21, "of 25 replays of utility-a's message %d refusals journaled" % len(fa))
        refused(tmp, d, sign(tmp, ub, "0" * 32, 2, dr), "ub-after-flood", "audience", "utility-b")

        # restart: the last seq per issuer comes back from the journal
        stop(daemon)
        daemon = start_daemon(d)
        refused(tmp, d, sign(tmp, ua, dev, 5, dr), "after-restart", "sequence", "utility-a")

        # over MQTT: hems ship forwards hems/<id>/commands to the daemon
        broker = Broker(tmp, "broker")
        broker.start()
        slog = os.path.join(tmp, "ship.log")
        ship = start([HEMS, "ship", "--dir", d, "--broker", "mqtt://127.0.0.1:%d" % broker.port,
                      "--state", os.path.join(tmp, "ship.state")], slog)
        wait_for(lambda: "taking remote commands" in open(slog).read(), "ship subscribed to the commands topic")
        h0 = head(d)
        cl = mqtt.Client(client_id="headend-%d" % os.getpid())
        cl.connect("127.0.0.1", broker.port, 30)
        cl.loop_start()
        cl.publish("hems/%s/commands" % dev, sign(tmp, ua, dev, 6, {"op": "dr", "action": "cancel", "event": "remote-e1"}),
                   qos=1).wait_for_publish()
        q = wait_for(lambda: [x for x in after(d, h0, "request") if x["body"].get("remote_seq") == 6], "the request from MQTT")
        ok(q[0]["source"] == "remote:utility-a" and q[0]["body"]["kind"] == "dr_cancel", "journaled from MQTT: %s" % q[0])
        wait_for(lambda: "remote command" in open(slog).read(), "ship logs the daemon's answer")
        cl.loop_stop()
        cl.disconnect()
        stop(ship)
        broker.stop()

        # SIGHUP: the issuers trusted are those the new config record journals — one left out is
        # refused, and with no "remote" section at all none is trusted (not the ones of the start);
        # a section the issuers' parse refuses fails the whole reload (no config record)
        path = os.path.join(d, "config.json")

        def edit(f):
            cfg = json.load(open(path))
            f(cfg)
            json.dump(cfg, open(path, "w"))

        def reload(f):
            edit(f)
            n0 = len(lib.records(d, "config"))
            daemon.send_signal(signal.SIGHUP)
            c = wait_for(lambda: lib.records(d, "config")[n0:], "a config record after SIGHUP")
            return json.loads(c[-1]["body"]["json"]).get("remote")

        def drop_ua(c):
            c["remote"]["issuers"] = [i for i in c["remote"]["issuers"] if i["name"] != "utility-a"]
        n0, f0 = len(lib.records(d, "config")), len(lib.records(d, "fault"))
        edit(lambda c: (drop_ua(c), c["remote"]["two_person"].update(window_s=5)))
        daemon.send_signal(signal.SIGHUP)
        bad = wait_for(lambda: [x for x in lib.records(d, "fault")[f0:] if "two_person" in json.dumps(x["body"])], "the config_invalid fault")
        ok(bad[0]["body"]["code"] == "config_invalid", "a bad remote section on SIGHUP: a config_invalid fault: %s" % bad[0]["body"])
        ok(len(lib.records(d, "config")) == n0, "and no config record: the issuers in force stay the journaled ones")
        h0 = head(d)
        r = apply(tmp, d, sign(tmp, ua, dev, 7, {"op": "dr", "action": "cancel", "event": "remote-e1"}), "ua-still")
        ok(r.returncode == 0 and [x for x in settled(d, h0, "request") if x["source"] == "remote:utility-a"],
           "utility-a, still in force, is accepted: %s %s" % (r.stdout, r.stderr))
        rj = reload(lambda c: (drop_ua(c), c["remote"]["two_person"].update(window_s=600)))
        ok(rj and sorted(i["name"] for i in rj["issuers"]) == ["installer-1", "utility-b"], "the reload journals the issuers left: %s" % rj)
        refused(tmp, d, sign(tmp, ua, dev, 8, dr), "ua-removed", "unknown_issuer", "kid-" + ua["kid"][:12].hex())

        # a renamed issuer (same key), after a restart: its message accepted under the old name is
        # refused by its cti read back from the journal (its seq starts afresh with the name)
        stop(daemon)
        edit(lambda c: [i.update(name="utility-bee") for i in c["remote"]["issuers"] if i["name"] == "utility-b"])
        daemon = start_daemon(d)
        refused(tmp, d, b_second, "renamed-replay", "replayed", "utility-bee")

        # retention cut the records that said so: a message issued before the oldest record kept
        # cannot be checked, and is refused
        stop(daemon)
        r = hems("retention", "--dir", d, "--keep", "1s", "--run")
        ok(r.returncode == 0, "hems retention --keep 1s --run: %s %s" % (r.stdout, r.stderr))
        daemon = start_daemon(d)
        refused(tmp, d, b_second, "cut-replay", "sequence", "utility-bee")

        ok(reload(lambda c: c.pop("remote")) is None, "the reload journals no remote section")
        refused(tmp, d, sign(tmp, ub, dev, 2, {"op": "dr", "action": "cancel", "event": "remote-e1"}), "none-trusted",
                "unknown_issuer", "kid-" + ub["kid"][:12].hex())
        stop(daemon)
        r = hems("verify", "--dir", d)
        ok(r.returncode == 0, "hems verify: %s %s" % (r.stdout, r.stderr))
        print("%d passed, 0 failed" % lib.passed)
    finally:
        lib.cleanup(tmp)


if __name__ == "__main__":
    main()
