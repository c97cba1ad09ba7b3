#!/usr/bin/python3
"""test_diagnose — `hems diagnose` on every shipped scenario and on a panel built to fail.

Each scenario runs under `hems run --sim NAME --speed max`; the findings expected follow from
what the scenario file injects (its timeline, loads and panel), not from diagnose's output:
  default               an AFCI tap on branch 15 with no overload, no close before it
                        → unexplained_trip on 15, and nothing on branches 1–14 and 16–24
  sag-and-inrush        an AFCI tap on branch 5 (no overload); the pump's close has no trip
                        after it; no branch drops load in the sag → unexplained_trip on 5 only
  welded-relay          branch 2 welds, then is asked to open → welded on 2
  grid-outage-transfer  one outage, one transfer each way, a refused backfeed (correct) → none
  reversed-ct           branch 4's CT reversed → ct_polarity on 4
  service-overload      oven, EV and sauna on L1 over a 40 A service → load_shed on 7 (priority
                        0) and 4 (priority 1), lowest priority first
  full-panel            a sag, a switch → none
tests/data/scenarios/diagnose-faults.json (the default panel with faults): phase_swap on 16
→ phase_map; a 4.2 kW load on 13's 16 A breaker and its MCB tap → overcurrent_trip; 15 closed
onto a motor with its AFCI tap 150 ms later → inrush_trip; PV no_comm → stale_der; PV stuck
and its branch opened → der_mismatch; four transfers in 15 s → transfer_chatter; a 50 % sag
with the oven switching off in it → pq_load_drop on 7; SPI CRC bursts right after switching
→ comms_on_switching; AFE 4's voltage front end reading 1.5 % high (`afe_drift`) → afe_drift
on that AFE, its median deviation from the mains AFE the injected 1.5 %; and nothing on the
branches left alone. A daemon killed with -9 and
started again → log_gap naming the boot. Every evidence seq is a record of the kind the
finding rests on; --branch, --since, a bundle in place of the dir, text output.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import json, os, signal, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, hems, wait_for, start

HERE = os.path.dirname(os.path.abspath(__file__))
FAULTS = os.path.join(HERE, "..", "data", "scenarios", "diagnose-faults.json")

# the evidence a finding rests on: at least one of its seqs is a record of these types
RESTS_ON = {
    "ct_polarity": {"fault", "window"}, "phase_map": {"fault", "window"}, "welded": {"sense_back"},
    "inrush_trip": {"trip_tap"}, "overcurrent_trip": {"trip_tap"}, "unexplained_trip": {"trip_tap"},
    "leakage_trip": {"trip_tap"}, "load_shed": {"command"}, "transfer_chatter": {"der"}, "stale_der": {"der"},
    "der_mismatch": {"fault"}, "pq_load_drop": {"pq_event"}, "comms_on_switching": {"fault"}, "log_gap": {"boot"},
    "afe_drift": {"window"},
}


def run(tmp, name, scenario, for_s):
    d = os.path.join(tmp, name)
    ok(hems("init", "--dir", d).returncode == 0, "init " + name)
    r = subprocess.run([HEMS, "run", "--dir", d, "--sim", scenario, "--for", for_s, "--speed", "max"],
                       capture_output=True, text=True, timeout=600)
    ok(r.returncode == 0, "run %s: %s" % (name, r.stderr[-300:]))
    return d


def findings(*args):
    r = hems("diagnose", *args, "--format", "json")
    ok(r.returncode == 0, "diagnose %s: %s" % (args, r.stderr))
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def check_evidence(d, fs):
    types = {x["seq"]: x["type"] for x in lib.records(d, "fault,trip_tap,sense_back,command,der,pq_event,boot,window")}
    for f in fs:
        ok(f["evidence"] and all(isinstance(s, int) for s in f["evidence"]), "evidence seqs: %s" % f)
        ok(any(types.get(s) in RESTS_ON[f["finding"]] for s in f["evidence"]),
           "%s on %s rests on %s: %s" % (f["finding"], f["branch"], RESTS_ON[f["finding"]], [types.get(s) for s in f["evidence"]]))
        ok(f["summary"] and f["first_fix"], "summary and first fix: %s" % f)


def main():
    tmp = tempfile.mkdtemp(prefix="hems-diagnose-")
    try:
        want = {
            "default": ({("unexplained_trip", 15)}, "240s"),
            "sag-and-inrush": ({("unexplained_trip", 5)}, "240s"),
            "welded-relay": ({("welded", 2)}, "150s"),
            "grid-outage-transfer": (set(), "200s"),
            "reversed-ct": ({("ct_polarity", 4)}, "90s"),
            "service-overload": ({("load_shed", 7), ("load_shed", 4)}, "150s"),
            "full-panel": (set(), "70s"),
        }
        for name, (expect, for_s) in want.items():
            d = run(tmp, name, name, for_s)
            fs = findings("--dir", d)
            got = {(f["finding"], f["branch"]) for f in fs}
            ok(got == expect, "%s: findings %s, want %s" % (name, sorted(got), sorted(expect)))
            check_evidence(d, fs)
            if not expect:
                t = hems("diagnose", "--dir", d)
                ok(t.returncode == 0 and t.stdout.strip() == "no findings", "%s: text says no findings: %r" % (name, t.stdout))
            if name == "service-overload":
                order = [f["branch"] for f in fs if f["finding"] == "load_shed"]
                ok(order == [7, 4], "lowest priority first: %s" % order)
                ok(all(f["measured"]["limit_ma"] == 40000 for f in fs), "the 40 A service limit")

        d = run(tmp, "faults", FAULTS, "240s")
        fs = findings("--dir", d)
        got = {(f["finding"], f["branch"]) for f in fs}
        expect = {("phase_map", 16), ("overcurrent_trip", 13), ("inrush_trip", 15), ("stale_der", 8), ("der_mismatch", 8),
                  ("transfer_chatter", 0), ("pq_load_drop", 7), ("comms_on_switching", 0), ("afe_drift", 0)}
        ok(got == expect, "faults: findings %s, want %s (extra %s, missing %s)" % (sorted(got), sorted(expect),
                                                                                   sorted(got - expect), sorted(expect - got)))
        check_evidence(d, fs)
        scen = json.load(open(FAULTS))
        br = {b["number"]: b for b in scen["panel"]["branches"]}
        oc = next(f for f in fs if f["finding"] == "overcurrent_trip")
        ok(oc["measured"]["breaker_ma"] == br[13]["breaker_a"] * 1000 and oc["measured"]["rms_ma"] > oc["measured"]["breaker_ma"],
           "overcurrent: above the breaker: %s" % oc["measured"])
        ir = next(f for f in fs if f["finding"] == "inrush_trip")
        ok(ir["measured"]["close_inrush_ma"] > br[15]["breaker_a"] * 1000, "inrush above the breaker: %s" % ir["measured"])
        dr = next(f for f in fs if f["finding"] == "afe_drift")
        inj = next(e for e in scen["timeline"] if e.get("kind") == "afe_drift")
        ok(dr["measured"]["afe"] == inj["afe"] + 1 and abs(dr["measured"]["median_deviation_pct"] - inj["pct"]) < 0.25,
           "the drift injected on AFE %d (%.1f %%): %s" % (inj["afe"], inj["pct"], dr["measured"]))
        drop = next(f for f in fs if f["finding"] == "pq_load_drop")
        ok(drop["measured"]["p_before_mw"] > 2500000 and drop["measured"]["p_after_mw"] < 100000, "the oven's 3 kW fell: %s" % drop)

        # --branch (number or name), --since after everything: nothing
        only = findings("--dir", d, "--branch", "dishwasher")
        ok({(f["finding"], f["branch"]) for f in only} == {("overcurrent_trip", 13)}, "--branch NAME: %s" % only)
        ok(findings("--dir", d, "--branch", "13") == only, "--branch N = NAME")
        late = findings("--dir", d, "--since", lib.records(d, "seal")[-1]["time"])
        ok(not any(f["finding"] in ("overcurrent_trip", "inrush_trip") for f in late), "--since leaves earlier trips out: %s" % late)
        e = hems("diagnose", "--dir", d, "--branch", "no-such")
        ok(e.returncode == 2 and "dishwasher" in e.stderr, "unknown branch: %r" % e.stderr)

        # a bundle: the same findings, read through the seals
        b = os.path.join(tmp, "faults.hems")
        ok(hems("export", "--dir", d, "--out", b).returncode == 0, "export")
        ok({(f["finding"], f["branch"]) for f in findings(b)} == expect, "the bundle gives the same findings")

        # an unclean stop: kill -9, start again
        k = os.path.join(tmp, "kill")
        ok(hems("init", "--dir", k).returncode == 0, "init kill")
        p = start([HEMS, "run", "--dir", k, "--sim", "default"], os.path.join(tmp, "kill.log"))
        wait_for(lambda: len(lib.records(k, "window")) > 5, "windows before the kill")
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        r = subprocess.run([HEMS, "run", "--dir", k, "--sim", "default", "--for", "5s", "--speed", "max"], capture_output=True, text=True, timeout=120)
        ok(r.returncode == 0, "restart: " + r.stderr)
        fs = findings("--dir", k)
        gaps = [f for f in fs if f["finding"] == "log_gap"]
        boots = [x for x in lib.records(k, "boot") if x["body"]["previous_shutdown"] == "unclean"]
        ok(len(boots) == 1 and len(gaps) == 1 and boots[0]["seq"] in gaps[0]["evidence"], "log_gap names the unclean boot: %s" % gaps)
        check_evidence(k, gaps)
    finally:
        lib.cleanup(tmp)
    print("%d passed, 0 failed" % lib.passed)


if __name__ == "__main__":
    main()
