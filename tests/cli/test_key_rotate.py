#!/usr/bin/python3
"""test_key_rotate — `hems key rotate` and `hems key revoke`, and what verify makes of them.

The expected facts come from the keys themselves, not from hems's output: fingerprints are
BLAKE2b-256 of the public key (first 16 bytes, as Python's hashlib computes them), and which key
signed a seal is read back from the seal record's key_id.
  - rotate: a key record for the new key whose prev_key_id is the old key's id; every seal before
    it (and the one sealing it) by the old key, every seal after by the new key; keys/root.pub is
    the first key, signing.pub / signing.key the new one (0600); the old secret is gone;
  - verify --dir (trusting root.pub) and verify --pubkey FIRST pass; a full bundle verifies with
    the first key's fingerprint, its head checkpoint included;
  - the old key restored and used anyway (its counter refused, then --accept-rollback): verify
    names the first seal it made, "retired"; after a revocation of it, "revoked";
  - revoke: the key in force, an unknown key, a key already revoked and a malformed id are refused
    with one line; the daemon running makes rotate fail (exit 3, the lock), nothing appended;
  - an interrupted rotation (keys/next.key left over) is refused with one line naming it.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import base64, hashlib, json, os, shutil, signal, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, hems, records, start, stop, wait_for


def pub(path):
    with open(path) as f:
        alg, b64 = f.read().split()
    ok(alg == "ed25519", "public key file " + path)
    return base64.b64decode(b64)


def fp(pk):
    return hashlib.blake2b(pk, digest_size=32).digest()[:16].hex()


def run(d, secs, *extra):
    return subprocess.run([HEMS, "run", "--dir", d, "--for", secs, "--speed", "max", *extra],
                          capture_output=True, text=True, timeout=300)


def seal_keys(d):
    return [(s["seq"], s["body"]["key_id"]) for s in records(d, "seal")]


MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def token_rotation(tmp, d, k1):
    """A key file moved into a token (SoftHSM2, made by its own tools in tmp), then to a second
    token key; the new public keys read out of the token by pkcs11-tool (not by hems)."""
    ok(os.path.exists(MODULE) and shutil.which("softhsm2-util") and shutil.which("pkcs11-tool"),
       "softhsm2 and opensc present (bash .ci/setup deps installs them)")
    conf = os.path.join(tmp, "softhsm2.conf")
    os.mkdir(os.path.join(tmp, "tokens"))
    with open(conf, "w") as f:
        f.write("directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n" % tmp)
    os.environ["SOFTHSM2_CONF"] = conf
    supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "lsan-softhsm.supp")
    os.environ["LSAN_OPTIONS"] = (os.environ.get("LSAN_OPTIONS", "") + ":print_suppressions=0:suppressions=" + supp).lstrip(":")
    os.environ["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") + ":fast_unwind_on_malloc=0").lstrip(":")
    tool = ["pkcs11-tool", "--module", MODULE, "--token-label", "hems", "--login", "--pin", "123456"]
    ok(subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "hems", "--pin", "123456", "--so-pin", "654321"],
                      capture_output=True).returncode == 0, "token made")
    for label, kid in (("journal2", "02"), ("journal3", "03")):
        ok(subprocess.run(tool + ["--keypairgen", "--key-type", "EC:edwards25519", "--label", label, "--id", kid],
                          capture_output=True).returncode == 0, "key pair " + label)
    pin = os.path.join(tmp, "pin")
    with open(pin, "w") as f:
        f.write("123456\n")
    os.chmod(pin, 0o600)

    def token_pub(label):
        der = os.path.join(tmp, label + ".der")
        r = subprocess.run(tool + ["--read-object", "--type", "pubkey", "--label", label, "-o", der], capture_output=True)
        ok(r.returncode == 0, "read the public key of " + label)
        with open(der, "rb") as f:
            b = f.read()
        if b.startswith(b"-----"):  # PEM
            b = base64.b64decode(b"".join(b.split(b"\n")[1:-2]))
        ok(b[:12] == bytes.fromhex("302a300506032b6570032100"), "an Ed25519 SubjectPublicKeyInfo: " + b.hex())
        return b[12:44]

    def uri(label):
        return "pkcs11:token=hems;object=%s?module-path=%s&pin-source=file:%s" % (label, MODULE, pin)

    t2, t3 = token_pub("journal2"), token_pub("journal3")
    r = hems("key", "rotate", "--dir", d, "--to", uri("journal2"))
    ok(r.returncode == 0 and fp(t2) in r.stdout, "rotate a key file into the token: " + r.stdout + r.stderr)
    ok(pub(os.path.join(d, "keys", "signing.pub")) == t2, "signing.pub is the token's key")
    ok(not os.path.exists(os.path.join(d, "keys", "signing.key")), "no signing.key left: the key is in the token")
    r = run(d, "5s")
    ok(r.returncode != 0 and "pkcs11" in r.stderr, "without --signer the run says where the key is: " + r.stderr)
    r = run(d, "10s", "--signer", uri("journal2"))
    ok(r.returncode == 0, "run signed by the token: " + r.stderr)
    ok(seal_keys(d)[-1][1] == fp(t2), "the newest seal is the token key's")
    r = hems("key", "rotate", "--dir", d, "--to", uri("journal3"))
    ok(r.returncode != 0 and "pkcs11" in r.stderr, "rotate needs the key in force: " + r.stderr)
    r = hems("key", "rotate", "--dir", d, "--signer", uri("journal2"), "--to", uri("journal3"))
    ok(r.returncode == 0 and fp(t3) in r.stdout and "token" in r.stdout, "token to token: " + r.stdout + r.stderr)
    r = run(d, "10s", "--signer", uri("journal3"))
    ok(r.returncode == 0, "run signed by the second token key: " + r.stderr)
    r = run(d, "5s", "--signer", uri("journal2"))
    ok(r.returncode != 0, "the retired token key cannot open the journal: " + r.stderr)
    r = hems("verify", "--dir", d, "--pubkey", os.path.join(d, "keys", "root.pub"))
    ok(r.returncode == 0 and fp(k1) in r.stdout, "verify from the first key through four keys: " + r.stderr)
    ok(seal_keys(d)[-1][1] == fp(t3), "the newest seal is the second token key's")


def main():
    tmp = tempfile.mkdtemp(prefix="hems-key-")
    try:
        d = os.path.join(tmp, "panel")
        ok(hems("init", "--dir", d).returncode == 0, "init")
        k1 = pub(os.path.join(d, "keys", "signing.pub"))
        with open(os.path.join(d, "keys", "signing.key")) as f:
            k1_secret = f.read()
        shutil.copy(os.path.join(d, "keys", "signing.key"), os.path.join(tmp, "k1.key"))
        ok(run(d, "30s").returncode == 0, "run before the rotation")
        before = os.path.join(tmp, "before")
        shutil.copytree(d, before)  # an old backup: the first key and its counter

        r = hems("key", "rotate", "--dir", d)
        ok(r.returncode == 0, "rotate: " + r.stderr)
        k2 = pub(os.path.join(d, "keys", "signing.pub"))
        ok(k2 != k1, "a new key")
        ok(pub(os.path.join(d, "keys", "root.pub")) == k1, "root.pub is the first key")
        st = os.stat(os.path.join(d, "keys", "signing.key"))
        ok(st.st_mode & 0o777 == 0o600, "signing.key 0600")
        with open(os.path.join(d, "keys", "signing.key")) as f:
            ok(f.read() != k1_secret, "the old secret is gone from keys/")
        ok(not os.path.exists(os.path.join(d, "keys", "next.key")), "no next.key left")
        ok(fp(k2) in r.stdout and fp(k1) in r.stdout, "rotate names both keys: " + r.stdout)
        keys = records(d, "key")
        ok(len(keys) == 2, "two key records")
        kr = keys[1]["body"]
        ok(kr["key_id"] == fp(k2) and kr["prev_key_id"] == fp(k1), "the new key certified by the old")
        ok(run(d, "30s").returncode == 0, "run after the rotation: " + r.stderr)
        seals = seal_keys(d)
        rot = keys[1]["seq"]
        ok(all(k == fp(k1) for s, k in seals if s <= rot + 1), "seals up to the rotation's by the first key")
        after = [k for s, k in seals if s > rot + 1]
        ok(after and all(k == fp(k2) for k in after), "every later seal by the new key (%d)" % len(after))

        for args in (["--dir", d], ["--dir", d, "--pubkey", os.path.join(d, "keys", "root.pub")]):
            r = hems("verify", *args)
            ok(r.returncode == 0 and fp(k1) in r.stdout, "verify %s: %s" % (args[2:], r.stdout + r.stderr))
        b = os.path.join(tmp, "all.hems")
        r = hems("export", "--dir", d, "--out", b)
        ok(r.returncode == 0, "export: " + r.stderr)
        r = hems("verify", b, "--fingerprint", fp(k1))
        ok(r.returncode == 0 and "head:" in r.stdout, "the bundle verifies by the first key's fingerprint: " + r.stdout + r.stderr)
        r = hems("checkpoint", "--dir", d)
        ok(r.returncode == 0 and r.stdout.startswith("hems/"), "a checkpoint of a seal by the new key: " + r.stderr)

        # the old key, restored and used anyway: refused at the counter, then journaled under it
        stolen = os.path.join(tmp, "stolen")
        head = records(d, "seal")[-1]["seq"]
        shutil.copytree(d, stolen)
        for n in ("signing.key", "signing.pub"):
            shutil.copy(os.path.join(before, "keys", n), os.path.join(stolen, "keys", n))
        os.remove(os.path.join(stolen, "keys", "root.pub"))
        r = run(stolen, "5s")
        ok(r.returncode != 0 and "counter" in r.stderr, "the old key's files: the counter is refused (%s)" % r.stderr.strip())
        r = run(stolen, "5s", "--accept-rollback")
        ok(r.returncode == 1 and "not the journal's key in force" in r.stderr, "the daemon refuses a retired key: " + r.stderr)
        r = hems("verify", "--dir", stolen, "--pubkey", os.path.join(d, "keys", "root.pub"))
        ok(r.returncode == 1 and "first bad seq %d" % (head + 2) in r.stderr and "retired" in r.stderr,
           "what the retired key sealed is refused: " + r.stderr)

        # revocation
        r = hems("key", "revoke", "--dir", d, fp(k2), "--reason", "x")
        ok(r.returncode == 1 and "key in force" in r.stderr, "the key in force is not revoked: " + r.stderr)
        r = hems("key", "revoke", "--dir", d, "0" * 32, "--reason", "x")
        ok(r.returncode == 1 and "no key" in r.stderr, "an unknown key: " + r.stderr)
        r = hems("key", "revoke", "--dir", d, "xyz", "--reason", "x")
        ok(r.returncode == 2, "a malformed id: exit 2")
        r = hems("key", "revoke", "--dir", d, fp(k1))
        ok(r.returncode == 2 and "--reason" in r.stderr, "a reason is required")
        r = hems("key", "revoke", "--dir", d, fp(k1), "--reason", "backup card lost")
        ok(r.returncode == 0, "revoke the first key: " + r.stderr)
        rv = records(d, "key")[-1]["body"]
        ok(rv.get("revoked") is True and rv["key_id"] == fp(k1) and rv["prev_key_id"] == fp(k2) and rv["reason"] == "backup card lost",
           "the revocation record: %s" % rv)
        r = hems("key", "revoke", "--dir", d, fp(k1), "--reason", "again")
        ok(r.returncode == 1 and "already" in r.stderr, "revoked twice: " + r.stderr)
        r = hems("verify", "--dir", d)
        ok(r.returncode == 0, "verify after the revocation: " + r.stderr)
        # the stolen copy, given the revocation too: the old key's seal is now "revoked"
        stolen2 = os.path.join(tmp, "stolen2")
        head = records(d, "seal")[-1]["seq"]
        shutil.copytree(d, stolen2)
        for n in ("signing.key", "signing.pub"):
            shutil.copy(os.path.join(before, "keys", n), os.path.join(stolen2, "keys", n))
        os.remove(os.path.join(stolen2, "keys", "root.pub"))
        run(stolen2, "5s", "--accept-rollback")
        r = hems("verify", "--dir", stolen2, "--pubkey", os.path.join(d, "keys", "root.pub"))
        ok(r.returncode == 1 and "first bad seq %d" % (head + 2) in r.stderr and "revoked" in r.stderr,
           "a revoked key's seal is refused: " + r.stderr)

        # a running daemon holds the lock: rotate appends nothing
        log = os.path.join(tmp, "daemon.log")
        p = start([HEMS, "run", "--dir", d], log)
        # the daemon's own answer (an offline status folds the journal and says "source": "journal")
        wait_for(lambda: '"source":"daemon"' in hems("status", "--dir", d, "--format", "json").stdout.replace(" ", "")
                 or p.poll() is not None, "the daemon")
        ok(p.poll() is None, "the daemon runs")
        r = hems("key", "rotate", "--dir", d)
        ok(r.returncode == 3 and len(r.stderr.strip().splitlines()) == 1, "rotate with the daemon running: exit 3, one line: " + r.stderr)
        ok(not os.path.exists(os.path.join(d, "keys", "next.key")), "no next.key left behind")
        stop(p)
        ok(pub(os.path.join(d, "keys", "signing.pub")) == k2, "the key is unchanged")
        n_keys = len(records(d, "key"))
        ok(n_keys == 3, "no key record appended (%d)" % n_keys)

        # an interrupted rotation
        open(os.path.join(d, "keys", "next.key"), "w").close()
        r = hems("key", "rotate", "--dir", d)
        ok(r.returncode == 3 and "next.key" in r.stderr and "interrupted" in r.stderr, "an interrupted rotation: " + r.stderr)
        os.remove(os.path.join(d, "keys", "next.key"))
        r = hems("key", "rotate", "--dir", d)
        ok(r.returncode == 0, "a second rotation: " + r.stderr)
        k3 = pub(os.path.join(d, "keys", "signing.pub"))
        ok(pub(os.path.join(d, "keys", "root.pub")) == k1, "root.pub stays the first key")
        ok(run(d, "10s").returncode == 0, "run with the third key")
        r = hems("verify", "--dir", d)
        ok(r.returncode == 0, "verify over two rotations and a revocation: " + r.stderr)
        ok(seal_keys(d)[-1][1] == fp(k3), "the newest seal is the third key's")
        token_rotation(tmp, d, k1)
        print("%d passed, 0 failed" % lib.passed)
    finally:
        lib.cleanup(tmp)


if __name__ == "__main__":
    main()
