#!/usr/bin/python3
"""test_commission — `hems commission` against a running daemon on tests/data/scenarios/commission.json.

The scenario puts a resistive load on every branch, mounts branch 4's CT backwards
(`reversed_ct`) and wires branch 5's current to L3 though the config says L2 (`phase_swap`);
branch 6 is critical. Expected, from that definition alone:
  - 1, 2, 3: ok (following their configured phase); 4: ct_reversed, following L1; 5: phase_map,
    following L3; 6: skipped (critical), checked only with --include-critical (then ok);
  - each checked branch's load change equals its resistive load: |ΔP| = power_w (cos 0° or
    180°), and for branch 5 ΔP = power_w·cos 120° = −power_w/2, ΔQ = power_w·sin 120°; |ΔI| =
    power_w / 230 V; within 2 %;
  - the evidence windows are window records of the branch's AFE that hold the branch, after the
    sense-backs of the on and off commands the run journaled (request ids commission-…);
  - every branch is left as it was found (status before and after); the findings are journaled
    as one note; exit 1 (a branch is not ok); `replay --check` stays clean;
  - errors: an unknown --branch is exit 2 naming the panel's branches; no daemon is exit 3.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import json, math, os, signal, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, hems, wait_for, start, stop

SCEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "scenarios", "commission.json")


def main():
    tmp = tempfile.mkdtemp(prefix="hems-commission-")
    try:
        d = os.path.join(tmp, "d")
        ok(hems("init", "--dir", d).returncode == 0, "init")
        e = hems("commission", "--dir", d)
        ok(e.returncode == 3 and "no daemon" in e.stderr, "no daemon: exit 3: %r" % e.stderr)
        scen = json.load(open(SCEN))
        loads = {l["branch"]: l["power_w"] for l in scen["loads"]}
        cfg = {b["number"]: b for b in scen["panel"]["branches"]}
        daemon = start([HEMS, "run", "--dir", d, "--sim", SCEN, "--speed", "20"], os.path.join(tmp, "run.log"))
        wait_for(lambda: '"uptime_s"' in hems("status", "--dir", d, "--format", "json").stdout, "daemon up")
        before = {b["branch"]: b["commanded"] for b in lib.status(d)["branches"]}

        e = hems("commission", "--dir", d, "--branch", "no-such")
        ok(e.returncode == 2 and "kettle-circuit" in e.stderr, "unknown branch: %r" % e.stderr)

        r = hems("commission", "--dir", d, "--format", "json")
        ok(r.returncode == 1, "exit 1 with a problem found: %d %s" % (r.returncode, r.stderr))
        res = {x["branch"]: x for x in (json.loads(l) for l in r.stdout.splitlines() if l.strip())}
        ok(sorted(res) == sorted(cfg), "one result per branch: %s" % sorted(res))
        want = {1: ("ok", "L1"), 2: ("ok", "L2"), 3: ("ok", "L3"), 4: ("ct_reversed", "L1"), 5: ("phase_map", "L3")}
        for n, (verdict, follows) in want.items():
            x = res[n]
            ok(x["verdict"] == verdict and x.get("follows") == follows, "branch %d: %s %s, want %s %s" %
               (n, x["verdict"], x.get("follows"), verdict, follows))
            w = loads[n]
            k = {"L1": 0, "L2": 1, "L3": 2}
            shift = (k[follows] - k[cfg[n]["phase"]]) % 3 * 120 + (180 if verdict == "ct_reversed" else 0)
            want_p, want_q = w * math.cos(math.radians(shift)), w * math.sin(math.radians(shift))
            ok(abs(x["delta_p_mw"] / 1000 - want_p) <= 0.02 * w, "branch %d ΔP %.1f W, want %.1f" % (n, x["delta_p_mw"] / 1000, want_p))
            ok(abs(x["delta_q_mvar"] / 1000 - want_q) <= 0.02 * w, "branch %d ΔQ %.1f var, want %.1f" % (n, x["delta_q_mvar"] / 1000, want_q))
            ok(abs(x["delta_i_ma"] / 1000 - w / 230.0) <= 0.02 * w / 230.0, "branch %d ΔI" % n)
        ok(res[6]["verdict"] == "skipped" and "critical" in res[6]["summary"], "critical branch skipped")

        # the evidence: windows of the branch's AFE after the commissioning commands' sense-backs
        recs = lib.records(d, "window,command,sense_back,note")
        by_seq = {x["seq"]: x for x in recs}
        for n in want:
            on_seq, off_seq = res[n]["evidence"]
            cmds = [x for x in recs if x["type"] == "command" and x["body"].get("request_id", "").startswith("commission-")
                    and x["body"]["target"] == n]
            ok(len(cmds) >= 2, "branch %d: the commissioning commands are journaled" % n)
            for seq in (on_seq, off_seq):
                w = by_seq.get(seq)
                ok(w and w["type"] == "window" and w["body"]["afe"] == cfg[n]["afe"] + 1 and
                   any(p.get("branch") == n for p in w["body"]["powers"]), "branch %d evidence %s is its AFE's window" % (n, seq))
                ok(seq > cmds[0]["seq"], "evidence after the command")
        notes = [x for x in recs if x["type"] == "note" and x["body"]["text"].startswith("commission ")]
        ok(len(notes) == 1 and "4 ct_reversed" in notes[0]["body"]["text"] and "5 phase_map follows L3" in notes[0]["body"]["text"],
           "the findings journaled: %s" % [x["body"]["text"] for x in notes])
        after = {b["branch"]: b["commanded"] for b in lib.status(d)["branches"]}
        ok(after == before, "every branch left as found: %s -> %s" % (before, after))

        r = hems("commission", "--dir", d, "--branch", "office", "--include-critical", "--format", "json")
        ok(r.returncode == 0 and json.loads(r.stdout)["verdict"] == "ok", "critical branch with --include-critical: %s" % r.stdout)
        stop(daemon)
        chk = hems("replay", "--dir", d, "--check")
        ok(chk.returncode == 0 and " 0 divergence(s)" in chk.stdout, "replay --check: " + chk.stdout[-200:])
    finally:
        lib.cleanup(tmp)
    print("%d passed, 0 failed" % lib.passed)


if __name__ == "__main__":
    main()
