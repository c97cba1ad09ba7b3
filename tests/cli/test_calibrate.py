#!/usr/bin/python3
"""test_calibrate — `hems calibrate` against a running daemon on tests/data/scenarios/calibrate.json.

The scenario's grid is clean (no harmonics) at the nominal 230 V and every load is resistive,
so each draws its rated power_w (the simulator's resistive load is power_w at nominal voltage).
Branch 2's simulated CT reads 5 % low (`ct_error_pct: -5`). Expected, from that definition alone:
  - before: branch 2's windows read 2000 W × 0.95 = 1900 W (within 0.5 %), branch 1 its 400 W;
  - `hems calibrate --branch heater --reference-w 2000` (the load's power_w): exit 0; the gain it
    journals is 1 / 0.95 within 0.5 %; a note naming the measurement and a `config` record whose
    JSON holds that gain in branch 2's "calibration", config version + 1; DIR/config.json too;
  - the register it reports read back from phase B of AFE 1 (BIGAIN, 0x000 + 0x20 per the
    ADE9000 facts) equals round((gain − 1)·2^27), computed here from the journaled gain; BPHCAL0
    and BVGAIN stay 0;
  - after: the next 10 windows of branch 2 read 2000 W within 0.5 %; branch 1 is untouched;
  - a second calibration against the same load finds a factor of 1 within 0.3 %;
  - a gain of 1.1 written by hand into DIR/config.json for branch 1 is journaled at SIGHUP and
    its windows then read 400 W × 1.1;
  - the mains AFE's calibration in the scenario's panel (VA gain 1.01, IB gain 1.02, IC phase
    2°) shows in its waveform-path windows: VA 230 V × 1.01, IB = 2000 W / 230 V × 1.02, P_A =
    400 W × 1.01, phase C's P and Q = 1000 W × (cos 2°, sin 2°);
  - a branch switched off (no load) is refused with exit 1 and no record;
  - bad input: an unknown branch, a reference of 0, −5 or text, 0 windows, no --branch: exit 2
    with one error line; no daemon: exit 3; `replay --check` clean at the end.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import json, math, os, re, signal, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, hems, wait_for, start, stop

SCEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "scenarios", "calibrate.json")
TOL = 0.005  # measured power vs the physical reference after calibration


def mean_power(d, branch, after_seq, n):
    """Mean p of the first n windows holding branch after after_seq (waits for them), the first
    one left out: it may have been metering when the change took effect (it straddles it)."""
    def got():
        ws = [w for w in lib.records(d, "window") if w["seq"] > after_seq]
        ps = [p["p_mw"] / 1000 for w in ws for p in w["body"]["powers"] if p.get("branch") == branch][1:]
        return ps[:n] if len(ps) >= n else None
    ps = wait_for(got, "%d windows of branch %d after seq %d" % (n, branch, after_seq), timeout=120)
    return sum(ps) / len(ps)


def config_records(d):
    return [x for x in lib.records(d, "config")]


def main():
    tmp = tempfile.mkdtemp(prefix="hems-calibrate-")
    try:
        d = os.path.join(tmp, "d")
        ok(hems("init", "--dir", d).returncode == 0, "init")
        e = hems("calibrate", "--dir", d, "--branch", "heater", "--reference-w", "2000")
        ok(e.returncode == 3 and "no daemon" in e.stderr, "no daemon: exit 3: %r" % e.stderr)
        scen = json.load(open(SCEN))
        loads = {l["branch"]: l for l in scen["loads"]}
        ref_w = loads[2]["power_w"]
        err = loads[2]["ct_error_pct"] / 100.0
        daemon = start([HEMS, "run", "--dir", d, "--sim", SCEN, "--speed", "max"], os.path.join(tmp, "run.log"))
        wait_for(lambda: '"uptime_s"' in hems("status", "--dir", d, "--format", "json").stdout, "daemon up")

        for args, what in (((["--branch", "no-such", "--reference-w", "2000"]), "heater"),
                           ((["--branch", "heater", "--reference-w", "0"]), "--reference-w 0"),
                           ((["--branch", "heater", "--reference-w", "-5"]), "--reference-w -5"),
                           ((["--branch", "heater", "--reference-w", "2kW"]), "--reference-w 2kW"),
                           ((["--branch", "heater", "--reference-w", "2000", "--windows", "0"]), "--windows 0"),
                           ((["--reference-w", "2000"]), "--branch")):
            e = hems("calibrate", "--dir", d, *args)
            lines = e.stderr.strip().splitlines()
            ok(e.returncode == 2 and len(lines) == 1 and what in lines[0], "bad input %s: exit 2, one line: %r" % (args, e.stderr))

        head = lib.status(d)["head_seq"]
        before = mean_power(d, 2, head, 10)
        ok(abs(before - ref_w * (1 + err)) <= TOL * ref_w, "before: branch 2 reads %.1f W, want %.1f" % (before, ref_w * (1 + err)))
        other = mean_power(d, 1, head, 5)
        ok(abs(other - loads[1]["power_w"]) <= TOL * loads[1]["power_w"], "before: branch 1 reads %.1f W" % other)
        n_cfg = len(config_records(d))

        # the waveform path (the mains AFE, 8 kSPS samples taken before the chip's gain registers)
        # applies the mains AFE's calibration itself: VA × 1.01, IB × 1.02, IC delayed 2°
        cal = scen["panel"]["afes"][0]["calibration"]
        mains = [w for w in lib.records(d, "window") if w["body"]["afe"] == 1 and w["seq"] > head][-1]["body"]
        ch = {(c["kind"], c["phase"]): c["rms_m"] / 1000 for c in mains["channels"]}
        pw = {p["phase"]: p for p in mains["powers"]}
        true_w = {"A": loads[1]["power_w"], "B": loads[2]["power_w"], "C": loads[3]["power_w"]}  # branches 1..3 on L1..L3
        ok(abs(ch[("voltage", "A")] - 230 * cal["v_gain"][0]) <= 0.002 * 230, "mains VA %.2f V, want 230 × %g" % (ch[("voltage", "A")], cal["v_gain"][0]))
        ok(abs(ch[("voltage", "B")] - 230) <= 0.002 * 230, "mains VB %.2f V" % ch[("voltage", "B")])
        ok(abs(ch[("current", "B")] - true_w["B"] / 230 * cal["i_gain"][1]) <= 0.003 * true_w["B"] / 230, "mains IB %.3f A" % ch[("current", "B")])
        ok(abs(pw["A"]["p_mw"] / 1000 - true_w["A"] * cal["v_gain"][0]) <= TOL * true_w["A"], "mains P_A %.1f W" % (pw["A"]["p_mw"] / 1000))
        phi = math.radians(cal["i_phase_deg"][2])
        ok(abs(pw["C"]["p_mw"] / 1000 - true_w["C"] * math.cos(phi)) <= 0.002 * true_w["C"] and
           abs(pw["C"]["q_mvar"] / 1000 - true_w["C"] * math.sin(phi)) <= 0.002 * true_w["C"],
           "mains phase C turned by %g°: P %.1f W, Q %.1f var" % (cal["i_phase_deg"][2], pw["C"]["p_mw"] / 1000, pw["C"]["q_mvar"] / 1000))

        r = hems("calibrate", "--dir", d, "--branch", "heater", "--reference-w", str(ref_w), "--windows", "10")
        ok(r.returncode == 0, "calibrate: exit %d %s" % (r.returncode, r.stderr))
        m = re.search(r"AFE (\d+): BIGAIN \(0x(\w+)\) = (-?\d+), BPHCAL0 \(0x(\w+)\) = (-?\d+), BVGAIN \(0x(\w+)\) = (-?\d+)", r.stdout)
        ok(m, "the registers are printed: %r" % r.stdout)
        ok("measured" in r.stdout and "gain 1 -> " in r.stdout, "prints what it derived: %r" % r.stdout)
        cfgs = config_records(d)
        ok(len(cfgs) == n_cfg + 1, "one config record journaled (%d -> %d)" % (n_cfg, len(cfgs)))
        rec = cfgs[-1]
        ok(rec["body"]["config_version"] == cfgs[-2]["body"]["config_version"] + 1, "config version + 1")
        panel = json.loads(rec["body"]["json"])
        br = {b["number"]: b for b in panel["branches"]}
        gain = br[2]["calibration"]["gain"]
        ok(abs(gain - 1 / (1 + err)) <= TOL / (1 + err), "gain %.6f, want 1/%.2f = %.6f" % (gain, 1 + err, 1 / (1 + err)))
        ok("calibration" not in br[1] and "calibration" not in br[3], "other branches keep no calibration")
        notes = [x for x in lib.records(d, "note") if x["body"]["text"].startswith("calibrate branch 2 ")]
        ok(len(notes) == 1 and notes[0]["seq"] < rec["seq"] and "reference 2000.000 W" in notes[0]["body"]["text"],
           "a note says who and from what: %s" % [x["body"] for x in notes])
        on_disk = json.load(open(os.path.join(d, "config.json")))
        ok([b for b in on_disk["branches"] if b["number"] == 2][0]["calibration"]["gain"] == gain, "DIR/config.json follows")
        # the chip's registers (read back by the daemon) against the conversion done here
        afe, ig_addr, ig, ph_addr, ph, vg_addr, vg = m.groups()
        ok(int(afe) == br[2]["afe"] and int(ig_addr, 16) == 0x000 + 0x20 and int(ph_addr, 16) == 0x006 + 0x20 and
           int(vg_addr, 16) == 0x00B + 0x20, "phase B's registers of the branch's AFE: %s" % (m.groups(),))
        ok(int(ig) == round((gain - 1) * 2 ** 27), "BIGAIN %s == round((%r - 1) * 2^27) = %d" % (ig, gain, round((gain - 1) * 2 ** 27)))
        ok(int(ph) == 0 and int(vg) == 0, "phase and voltage registers unchanged: %s %s" % (ph, vg))

        after = mean_power(d, 2, rec["seq"], 10)
        ok(abs(after - ref_w) <= TOL * ref_w, "after: branch 2 reads %.2f W, reference %.0f W (tolerance %.1f %%)" % (after, ref_w, TOL * 100))
        other = mean_power(d, 1, rec["seq"], 5)
        ok(abs(other - loads[1]["power_w"]) <= TOL * loads[1]["power_w"], "after: branch 1 still reads %.1f W" % other)

        r = hems("calibrate", "--dir", d, "--branch", "2", "--reference-w", str(ref_w), "--windows", "5")
        f = re.search(r"factor (\d+\.\d+)", r.stdout)
        ok(r.returncode == 0 and f and abs(float(f.group(1)) - 1) <= 0.003, "again: factor ~1: %r" % r.stdout)

        # no load: a branch switched off reads nothing, and nothing changes
        ok(hems("switch", "--dir", d, "3", "off").returncode == 0, "switch 3 off")
        n_cfg = len(config_records(d))
        e = hems("calibrate", "--dir", d, "--branch", "3", "--reference-w", "1000", "--windows", "3")
        lines = e.stderr.strip().splitlines()
        ok(e.returncode == 1 and len(lines) == 1 and "put the known load on" in lines[0], "no load: exit 1, one line: %r" % e.stderr)
        ok(len(config_records(d)) == n_cfg, "no load: no config record")
        ok(hems("switch", "--dir", d, "3", "on").returncode == 0, "switch 3 on")

        # a gain edited by hand in DIR/config.json takes effect at SIGHUP (and is journaled)
        path = os.path.join(d, "config.json")
        cfg = json.load(open(path))
        for b in cfg["branches"]:
            if b["number"] == 1:
                b["calibration"] = {"gain": 1.1, "phase_deg": 0}
        json.dump(cfg, open(path, "w"))
        n_cfg = len(config_records(d))
        daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: len(config_records(d)) == n_cfg + 1, "the reloaded config journaled")
        rec = config_records(d)[-1]
        got = [b for b in json.loads(rec["body"]["json"])["branches"] if b["number"] == 1][0]
        ok(got.get("calibration", {}).get("gain") == 1.1, "the config record holds the edited gain: %s" % got.get("calibration"))
        other = mean_power(d, 1, rec["seq"], 5)
        want = loads[1]["power_w"] * 1.1
        ok(abs(other - want) <= TOL * want, "after SIGHUP: branch 1 reads %.1f W, want %.1f" % (other, want))

        stop(daemon)
        chk = hems("replay", "--dir", d, "--check")
        ok(chk.returncode == 0 and " 0 divergence(s)" in chk.stdout, "replay --check: " + chk.stdout[-200:])
    finally:
        lib.cleanup(tmp)
    print("%d passed, 0 failed" % lib.passed)


if __name__ == "__main__":
    main()
