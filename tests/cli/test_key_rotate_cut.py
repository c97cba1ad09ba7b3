#!/usr/bin/python3
"""test_key_rotate_cut — `hems key rotate` on a journal cut by retention, then the daemon again.

A daemon authenticates a replay checkpoint only by a seal of its own key with a state hash
(replay/checkpoint_auth.c). Once retention has cut the prefix there is no fold from seq 1 to
fall back on, so after a rotation the new key must have sealed a state the daemon can start
from. The expected facts come from the keys and the records, not from hems's summaries:
fingerprints are BLAKE2b-256 of the public keys (first 16 bytes, computed here), which key
signed a seal is read from its key_id, and seqs from the key and retention records.
  - 40 min of panel time, then retention "20m": the hourly pass at 1 min cuts the prefix;
  - rotate: a key record for the new key certified by the old; the seal after the rotation's
    note is the new key's and carries a state hash;
  - the daemon starts again (it used to refuse: "no checkpoint at the cut is proven by a signed
    seal") and seals with the new key;
  - a cut by quota whose checkpoint lands before the rotation (folded from the old key's
    checkpoints on to the new key's first seal), then the daemon again; verify and replay
    --check pass over it all.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import json, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, hems, records
import test_key_rotate


def fp(path):
    return test_key_rotate.fp(test_key_rotate.pub(path))


def run(d, secs):
    return subprocess.run([HEMS, "run", "--dir", d, "--sim", "default", "--for", secs, "--speed", "max"],
                          capture_output=True, text=True, timeout=540)  # under CTest's 600


# the sanitizer build (about 12x slower) runs 25 panel-minutes and keeps 10 (the same cut)
FIRST, KEEP = ("25m", "10m") if os.environ.get("HEMS_SANITIZE") == "1" else ("40m", "20m")


def main():
    tmp = tempfile.mkdtemp(prefix="hems-keycut-")
    try:
        d = os.path.join(tmp, "panel")
        ok(hems("init", "--dir", d).returncode == 0, "init")
        k1 = fp(os.path.join(d, "keys", "signing.pub"))
        r = run(d, FIRST)
        ok(r.returncode == 0, FIRST + ": " + r.stderr)
        p = os.path.join(d, "config.json")
        with open(p) as f:
            c = json.load(f)
        c["retention"] = {"windows": KEEP}
        with open(p, "w") as f:
            json.dump(c, f)
        r = run(d, "2m")
        ok(r.returncode == 0, "2 minutes with retention: " + r.stderr)
        cuts = records(d, "retention")
        ok(len(cuts) == 1 and cuts[0]["body"]["cut_seq"] > 1, "the prefix is cut: %s" % cuts)

        r = hems("key", "rotate", "--dir", d)
        ok(r.returncode == 0, "rotate: " + r.stdout + r.stderr)
        k2 = fp(os.path.join(d, "keys", "signing.pub"))
        ok(k2 != k1 and fp(os.path.join(d, "keys", "root.pub")) == k1, "a new key; root.pub the first")
        key = records(d, "key")[-1]
        ok(key["body"]["key_id"] == k2 and key["body"]["prev_key_id"] == k1, "the new key certified by the old")
        rot = key["seq"]
        note = [n for n in records(d, "note") if n["seq"] > rot]
        ok(len(note) == 1 and k2 in note[0]["body"]["text"], "the rotation's note: %s" % note)
        seals = records(d, "seal")
        first = [s for s in seals if s["seq"] > note[0]["seq"]]
        ok(first and first[0]["body"]["key_id"] == k2 and first[0]["body"]["sealed_seq"] == note[0]["seq"],
           "the note sealed by the new key: %s" % first[:1])
        ok(first[0]["body"]["state_hash"].strip("0"), "with a state hash")
        ok(all(s["body"]["key_id"] == k1 for s in seals if s["seq"] < rot), "earlier seals by the first key")

        r = run(d, "2m")
        ok(r.returncode == 0, "the daemon starts after the rotation on the cut journal: " + r.stderr)
        after = [s for s in records(d, "seal") if s["seq"] > first[0]["seq"]]
        ok(len(after) > 10 and all(s["body"]["key_id"] == k2 for s in after), "it seals with the new key (%d)" % len(after))

        # a cut whose checkpoint lies before the rotation: journal bytes over a quota of 60 %
        r = hems("stats", "--dir", d, "--format", "json")
        ok(r.returncode == 0, "stats: " + r.stderr)
        quota = json.loads(r.stdout)["journal_bytes"] * 6 // 10
        before = [x["body"]["cut_seq"] for x in records(d, "retention")]
        r = hems("retention", "--dir", d, "--run", "--quota", str(quota))
        ok(r.returncode == 0, "a cut by quota after the rotation: " + r.stdout + r.stderr)
        cuts = [x["body"]["cut_seq"] for x in records(d, "retention")]
        ok(len(cuts) > len(before) and max(before) < cuts[-1] < rot,
           "the new cut lands before the rotation: %s < %d" % (cuts, rot))
        r = run(d, "1m")
        ok(r.returncode == 0, "the daemon after the second cut: " + r.stderr)
        ok(not [f for f in records(d, "fault") if f["body"].get("code") == "checkpoint_rejected"],
           "no checkpoint rejected on the way")
        r = hems("verify", "--dir", d)
        ok(r.returncode == 0, "verify: " + r.stdout + r.stderr)
        r = hems("replay", "--dir", d, "--check")
        ok(r.returncode == 0, "replay --check: " + r.stderr)
        print("%d passed, 0 failed" % lib.passed)
    finally:
        lib.cleanup(tmp)


if __name__ == "__main__":
    main()
