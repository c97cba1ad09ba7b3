# hrms_check.py SCENARIO.json < `hems timeline --type window --format jsonl`
# Register-path windows (flags 4) must carry the half-cycle rms extremes: the scenario's grid
# sag/swell (level, time, duration, phases and the nominal voltage all read from the scenario
# file, not from our output) shows in hrms_min_m of every sagged phase's voltage channel in the
# window holding it, hrms_max_m stays at nominal there, and away from any stimulus
# hrms_min ≈ hrms_max ≈ rms. Prints "ok N_DIP N_QUIET" or the first failure.
import json, re, sys

sc = json.load(open(sys.argv[1]))
nom_mv = float(re.match(r"\dph-(\d+)-", sc["panel"]["mains"]).group(1)) * 1000.0

def secs(t):
    m = re.fullmatch(r"([\d.]+)(ms|s|m)", t)
    return float(m.group(1)) * {"ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(2)]

sags = [(secs(e["at"]), secs(e["at"]) + secs(e["duration"]), e["level_pct"] / 100.0, e.get("phases", "ABC"))
        for e in sc["timeline"] if e["do"] == "grid" and e["kind"] == "sag"]
stim = sorted(secs(e["at"]) for e in sc["timeline"])
assert sags, "scenario has no sag"
tol = 0.005 * nom_mv  # 0.5 %: the simulated grid's noise and the 24-bit codes
ndip = nquiet = 0
for line in sys.stdin:
    r = json.loads(line)
    b = r["body"]
    if b.get("flags") != 4:
        continue
    t1 = r["mono_ns"] / 1e9
    t0 = t1 - b["duration_us"] / 1e6
    for s0, s1, lvl, phases in sags:
        if t0 < s1 and s0 < t1:  # the window holds (part of) the sag
            for c in b["channels"]:
                if c["kind"] != "voltage" or c["phase"] not in phases:
                    continue
                ndip += 1
                assert c.get("hrms_min_m", 0) <= lvl * nom_mv + 2 * tol, ("dip not seen", r["seq"], c)
                assert c.get("hrms_min_m", 0) >= lvl * nom_mv - 2 * tol, ("dip too deep", r["seq"], c)
                assert abs(c.get("hrms_max_m", 0) - nom_mv) <= tol, ("max not nominal", r["seq"], c)
    if t1 < stim[0] - 0.1:  # before the first stimulus: steady loads and grid
        for c in b["channels"]:
            nquiet += 1
            t = tol if c["kind"] == "voltage" else 0.01 * c["rms_m"] + 20
            lo, hi = c.get("hrms_min_m", 0), c.get("hrms_max_m", 0)
            assert abs(lo - c["rms_m"]) <= t and abs(hi - c["rms_m"]) <= t and lo <= hi, ("quiet", r["seq"], c)
assert ndip > 0 and nquiet > 0, (ndip, nquiet)
print("ok", ndip, nquiet)
