#!/usr/bin/python3
"""test_pq_classa — the daemon journals IEC 61000-4-30 Class A results: 10-minute and 2-hour
`pq_aggregate` records, rapid voltage changes and frequency deviations as `pq_event` records.

The panel is tests/data/scenarios/pq-classa.json under `hems run --speed max` for 4 h 12 min of
panel time. Every expected value comes from the stimulus and the standards, not from our output:
  - flicker: IEC 61000-4-15 Ed. 2 Table 5, 230 V lamp / 50 Hz supply, 1620 rectangular changes
    per minute (13.5 Hz) at ΔV/V = 0.407 % gives Pst = 1.00 ± 5 % in every complete 10-minute
    interval of the 4 h 5 min it runs, and Plt = (Σ Pst³ / 12)^(1/3) = 1.00 ± 5 % in each
    complete 2-hour interval inside it (the clock's whole 2-hour intervals in the run: one, or
    two when the run starts just before an even hour of UTC);
  - unbalance: phase A at 97 %, B and C at 100 %, 120° apart: V1 = (0.97 + 2)/3 = 0.99,
    V2 = V0 = (0.97 − 1)/3 → u2 = u0 = 0.01 / 0.99 = 1.0101 %, ± 0.15 pp (IEC 61000-4-30 Class A);
  - harmonics: the grid's 1.5 / 1.0 / 0.5 % 3rd / 5th / 7th, ± 5 % of reading
    (IEC 61000-4-7 Class I, ≥ 1 % of nominal) or ± 0.05 % of nominal below;
  - rms: B and C 230 V · sqrt(1 + 0.015² + 0.01² + 0.005²) = 230.041 V, A 0.97 of that,
    ± 0.1 % of Udin (Class A); frequency 50.000 Hz ± 10 mHz;
  - a 20 s step to 93 % on all phases: two rvc events (down and back), ΔUss = ΔUmax = 7 % of
    declared ± 0.2 pp (Urms(1/2) Class A uncertainty), and no dip (93 % is above 90 %);
  - 50.7 Hz for 40 s: one freq event, 50.700 Hz ± 10 mHz, the 40 s ± one 10-s interval.
Then the panel config's "pq" keys: rvc_pct 8 makes the same 7 % step no event, and a
hysteresis at or above the threshold is refused with one line naming the field; replay --check
and verify pass over the new records.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import datetime, json, math, os, re, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, hems, records

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO = os.path.join(HERE, "..", "data", "scenarios", "pq-classa.json")
DECLARED = 230.0
HPCT = {3: 1.5, 5: 1.0, 7: 0.5}
RMS_BC = DECLARED * math.sqrt(1 + sum((p / 100) ** 2 for p in HPCT.values()))
U2 = 0.01 / 0.99 * 100
# The sanitizer build (about 12x slower) runs a bounded version: the same stimuli over 28.5 min
# (no complete 2-hour interval; the normal build's run covers it), said as a HEMS-SKIP line.
BOUNDED = os.environ.get("HEMS_SANITIZE") == "1"
FLICKER_END_S = 25 * 60 if BOUNDED else 4 * 3600 + 5 * 60
RUN_S = 28 * 60 + 30 if BOUNDED else 4 * 3600 + 12 * 60
RVC_AT_S = 26 * 60 if BOUNDED else 4 * 3600 + 8 * 60


def run(d, scenario, for_s):
    ok(hems("init", "--dir", d).returncode == 0, "init " + d)
    r = subprocess.run([HEMS, "run", "--dir", d, "--sim", scenario, "--for", for_s, "--speed", "max"],
                       capture_output=True, text=True, timeout=1800)
    return r


def main():
    tmp = tempfile.mkdtemp(prefix="hems-pq-")
    try:
        d = os.path.join(tmp, "pq")
        scenario = SCENARIO
        if BOUNDED:
            with open(SCENARIO) as f:
                sc = json.load(f)
            sc["timeline"] = [
                {"at": "0s", "do": "grid", "kind": "flicker", "level_pct": 0.407, "hz": 13.5, "duration": "25m"},
                {"at": "0s", "do": "grid", "kind": "sag", "level_pct": 97, "duration": "25m", "phases": "A"},
                {"at": "26m", "do": "grid", "kind": "sag", "level_pct": 93, "duration": "20s"},
                {"at": "27m", "do": "grid", "kind": "freq", "hz": 50.7},
                {"at": "27m40s", "do": "grid", "kind": "freq", "hz": 50.0}]
            scenario = os.path.join(tmp, "bounded.json")
            with open(scenario, "w") as f:
                json.dump(sc, f)
        r = run(d, scenario, "%ds" % RUN_S)
        ok(r.returncode == 0, "run: " + r.stderr[-300:])
        boot = records(d, "boot")  # init's and the run's
        ok(len(boot) == 2, "one run (%d boots)" % len(boot))
        aggs = records(d, "pq_aggregate")
        evs = records(d, "pq_event")
        # the panel's t = 0: the first window's start (windows of the first seconds only)
        t_boot = datetime.datetime.fromisoformat(boot[-1]["time"].replace("Z", "+00:00"))
        until = (t_boot + datetime.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        r = hems("timeline", "--dir", d, "--type", "window", "--until", until, "--format", "jsonl")
        ok(r.returncode == 0 and r.stdout.strip(), "the first windows: " + r.stderr)
        w0 = json.loads(r.stdout.splitlines()[0])["body"]["start_ns"]

        ten = [a for a in aggs if a["body"]["interval_s"] == 600]
        two = [a for a in aggs if a["body"]["interval_s"] == 7200]
        ok(all(a["source"] == "afe:1" for a in aggs), "aggregates come from the mains AFE")
        ok(ten and all(a["body"]["start_ns"] % (600 * 10**9) == 0 for a in ten), "10-minute intervals start on the clock's 10 minutes")
        ok(all(a["body"]["start_ns"] % (7200 * 10**9) == 0 for a in two), "2-hour intervals start on the clock's 2 hours")
        starts = [a["body"]["start_ns"] for a in ten]
        ok(all(b - a == 600 * 10**9 for a, b in zip(starts, starts[1:])), "10-minute intervals follow each other")
        ok(ten[0]["body"]["flags"] & 2 and ten[0]["body"]["start_ns"] < w0, "the first interval is partial (the run began inside it)")

        # complete 10-minute intervals wholly inside the flicker (and the phase-A sag)
        inside = [a for a in ten if not a["body"]["flags"] & 2
                  and a["body"]["start_ns"] + 600 * 10**9 <= w0 + FLICKER_END_S * 10**9]
        ok(len(inside) >= (1 if BOUNDED else 23), "complete 10-minute intervals under the stimulus (%d)" % len(inside))
        for a in inside:
            b = a["body"]
            ok(b["nwin"] == 3000, "3000 basic windows of 10 cycles in 10 minutes at 50 Hz (%d)" % b["nwin"])
            ok(abs(b["covered_ms"] - 600000) <= 20, "covered 600 s (%d ms)" % b["covered_ms"])
            ok(b["flags"] == 4, "not flagged, not partial, unbalance measured (%d)" % b["flags"])
            ok(abs(b["freq_mhz"] - 50000) <= 10, "frequency 50.000 Hz ± 10 mHz (%d mHz)" % b["freq_mhz"])
            ok(abs(b["u2_mpct"] / 1000 - U2) <= 0.15, "u2 %.3f %% vs %.4f %%" % (b["u2_mpct"] / 1000, U2))
            ok(abs(b["u0_mpct"] / 1000 - U2) <= 0.15, "u0 %.3f %% vs %.4f %%" % (b["u0_mpct"] / 1000, U2))
            volts = [c for c in b["channels"] if c["kind"] == "voltage"]
            ok([c["phase"] for c in volts] == ["A", "B", "C"], "three voltage channels")
            for c in volts:
                ok(abs(c["pst_milli"] - 1000) <= 50, "Pst %s %.3f within 1.00 ± 5 %%" % (c["phase"], c["pst_milli"] / 1000))
                ok("plt_milli" not in c, "no Plt in a 10-minute record")
                want = RMS_BC * (0.97 if c["phase"] == "A" else 1.0)
                ok(abs(c["rms_m"] / 1000 - want) <= 0.001 * DECLARED, "rms %s %.3f V vs %.3f V" % (c["phase"], c["rms_m"] / 1000, want))
                ok(abs(c["h1_m"] / 1000 - want / RMS_BC * DECLARED) <= 0.001 * DECLARED, "h1 %s" % c["phase"])
                for key in ("h_cpct", "hs_cpct", "ih_cpct", "ihs_cpct"):
                    ok(len(c[key]) == 51, "%s holds orders 0..50" % key)
                ok(c["h_cpct"][1] == 10000, "group 1 is 100 %")
                for n in HPCT:
                    got = c["h_cpct"][n] / 100
                    tol = 0.05 * HPCT[n] if HPCT[n] >= 1.0 else 0.05
                    ok(abs(got - HPCT[n]) <= tol + 0.005, "%s harmonic group %d: %.2f %% vs %.2f %%" % (c["phase"], n, got, HPCT[n]))
                # orders the grid does not inject: the flicker's sidebands (at 50 ± 13.5·k Hz)
                # leak a few hundredths of a percent into neighbouring groups, nothing more
                ok(all(c["h_cpct"][n] <= 10 for n in range(2, 51) if n not in HPCT), "no other harmonic above 0.1 %%: %s" % c["h_cpct"][:12])
                # the rectangular modulation's first sidebands, 36.5 and 63.5 Hz, each of
                # (4/π)·(ΔV/V)/4 = 0.130 % of the fundamental: interharmonic groups 0 and 1
                side = 4 / math.pi * 0.407 / 4
                ok(all(abs(c["ih_cpct"][n] / 100 - side) <= 0.04 for n in (0, 1)), "ih groups 0, 1 ≈ %.3f %%: %s" % (side, c["ih_cpct"][:4]))
                ok(all(x <= 5 for x in c["ih_cpct"][2:]), "no interharmonic group above 0.05 %% from order 2: %s" % c["ih_cpct"][:8])
                thd = math.sqrt(sum(p * p for p in HPCT.values()))
                ok(abs(c["thd_mpct"] / 1000 - thd) <= 0.05 * thd, "THD %.3f %% vs %.3f %%" % (c["thd_mpct"] / 1000, thd))
            ok(all("pst_milli" not in c for c in b["channels"] if c["kind"] == "current"), "no Pst on currents")

        full2 = [a for a in two if not a["body"]["flags"] & 2]
        if BOUNDED:
            print("HEMS-SKIP test_pq_classa/two-hour-asan: the sanitizer build runs 28.5 min of panel time, "
                  "not 4 h; the normal build checks the 2-hour record and Plt")
            ok(full2 == [], "no complete 2-hour interval in 28.5 min")
        else:
            two_hour_checks(d, full2, ten, w0)
        rvc_freq_config_checks(tmp, d, evs, w0)
        print("%d passed, 0 failed" % lib.passed)
    finally:
        lib.cleanup(tmp)


def two_hour_checks(d, full2, ten, w0):
    # the clock's 2-hour intervals that lie whole in the 4 h 12 min run: one, or two when the
    # run starts just before an even hour of UTC (which one depends on when the test runs)
    H = 7200 * 10**9
    first = -(-w0 // H) * H
    want = [first + k * H for k in range(3) if first + (k + 1) * H <= w0 + RUN_S * 10**9]
    got = [a["body"]["start_ns"] for a in full2]
    ok(got == want, "the complete 2-hour intervals are the clock's whole ones in the run: %s, want %s" % (got, want))
    inside = [a for a in full2 if a["body"]["start_ns"] + H <= w0 + FLICKER_END_S * 10**9]
    ok(len(inside) >= 1, "a complete 2-hour interval inside the stimulus (%d)" % len(inside))
    for a in inside:
        two_hour_one(d, a, ten)


def two_hour_one(d, rec, ten):
    b = rec["body"]
    ok(b["nwin"] == 12, "twelve 10-minute intervals in it (%d)" % b["nwin"])
    for c in b["channels"]:
        if c["kind"] == "voltage":
            ok(abs(c["plt_milli"] - 1000) <= 50, "Plt %s %.3f within 1.00 ± 5 %%" % (c["phase"], c["plt_milli"] / 1000))
    # Plt from the journaled Pst (the standard's cube mean) agrees with the journaled Plt
    for ph in "ABC":
        psts = [next(c["pst_milli"] for c in a["body"]["channels"] if c["kind"] == "voltage" and c["phase"] == ph) / 1000
                for a in ten if b["start_ns"] <= a["body"]["start_ns"] < b["start_ns"] + 7200 * 10**9]
        ok(len(psts) == 12, "twelve Pst in the 2 hours")
        plt = (sum(p ** 3 for p in psts) / 12) ** (1 / 3)
        got = next(c["plt_milli"] for c in b["channels"] if c["kind"] == "voltage" and c["phase"] == ph) / 1000
        ok(abs(plt - got) <= 0.0015, "Plt %s %.4f = cube mean of its Pst %.4f" % (ph, got, plt))
    r = hems("show", "--dir", d, str(rec["seq"]))
    ok(r.returncode == 0 and re.search(r"plt (1\.0|0\.9)\d", r.stdout), "show prints Plt as a number: " + r.stdout[:300])


def rvc_freq_config_checks(tmp, d, evs, w0):
    rvc = [e for e in evs if e["body"]["kind"] == "rvc"]
    freq = [e for e in evs if e["body"]["kind"] == "freq"]
    ok(len(evs) == len(rvc) + len(freq), "no dip, swell or interruption: %s" % [e["body"]["kind"] for e in evs])
    ok(len(rvc) == 2, "two rapid voltage changes, down and back (%d)" % len(rvc))
    for e, at in zip(rvc, (RVC_AT_S, RVC_AT_S + 20)):
        b = e["body"]
        ok(b["phases"] == "ABC" and b["category"] == "none", "rvc on ABC, no IEEE 1159 category")
        ok(abs(b["start_ns"] - (w0 + at * 10**9)) <= 10**9, "rvc starts at the step (%.3f s off)" % ((b["start_ns"] - w0) / 1e9 - at))
        ok(abs(b["delta_uss_mpct"] / 1000 - 7.0) <= 0.2, "ΔUss %.3f %% vs 7 %%" % (b["delta_uss_mpct"] / 1000))
        ok(abs(b["delta_umax_mpct"] / 1000 - 7.0) <= 0.2, "ΔUmax %.3f %% vs 7 %%" % (b["delta_umax_mpct"] / 1000))
        ok(b["delta_umax_mpct"] >= b["delta_uss_mpct"] - 5, "ΔUmax ≥ ΔUss")
    ok(len(freq) == 1, "one frequency deviation (%d)" % len(freq))
    b = freq[0]["body"]
    ok(abs(b["freq_mhz"] - 50700) <= 10, "its extreme 50.700 Hz ± 10 mHz (%d)" % b["freq_mhz"])
    ok(abs(b["duration_us"] / 1e6 - 40) <= 10, "lasting 40 s ± one 10-s interval (%.1f s)" % (b["duration_us"] / 1e6))
    ok(b["category"] == "none" and b["phases"] == "" and b["extreme_mv"] == 0, "no voltage fields on a freq event")

    r = hems("replay", "--dir", d, "--check")
    ok(r.returncode == 0, "replay --check over the new records: " + r.stderr[-300:])
    r = hems("verify", "--dir", d)
    ok(r.returncode == 0, "verify: " + r.stderr[-300:])

    # the config's pq keys
    with open(SCENARIO) as f:
        sc = json.load(f)
    sc["panel"]["pq"] = {"rvc_pct": 8}
    sc["timeline"] = [{"at": "30s", "do": "grid", "kind": "sag", "level_pct": 93, "duration": "20s"}]
    p8 = os.path.join(tmp, "rvc8.json")
    with open(p8, "w") as f:
        json.dump(sc, f)
    d8 = os.path.join(tmp, "rvc8")
    r = run(d8, p8, "2m")
    ok(r.returncode == 0, "run with rvc_pct 8: " + r.stderr[-300:])
    ok(records(d8, "pq_event") == [], "a 7 % step is no rvc under an 8 % threshold")
    cfg = json.loads(records(d8, "config")[-1]["body"]["json"])
    ok(cfg["pq"]["rvc_pct"] == 8 and cfg["pq"]["rvc_hysteresis_pct"] == 4, "the journaled config carries the threshold and its half as hysteresis")
    sc["panel"]["pq"] = {"rvc_pct": 4, "rvc_hysteresis_pct": 4}
    with open(p8, "w") as f:
        json.dump(sc, f)
    r = run(os.path.join(tmp, "bad"), p8, "1m")
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    ok(r.returncode == 2 and len(lines) == 1 and "pq.rvc_hysteresis_pct" in lines[0],
       "a hysteresis not below the threshold: exit 2, one line naming it (%d: %s)" % (r.returncode, r.stderr))


if __name__ == "__main__":
    main()
