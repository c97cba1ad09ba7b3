#!/usr/bin/python3
"""test_rollup_daemon — the daemon journals a `rollup` record per clock-aligned 15 minutes (reducer v 9).

The `default` panel runs 40 panel-minutes under `hems run --speed max`. Every closed rollup is
then recomputed here, in Python, from the journal's other records (this file's own arithmetic,
not the reducer's code): per branch the sums of the windows' import/export deltas (negative ones
count 0) whose start_ns falls in the interval, the min/max/mean (truncated toward zero) of their
power, the windows counted and those whose channel of the branch an event touched; per phase the
min/max of the voltage source's half-cycle extremes (rms when not measured) and the mean of its
rms; the command records that target the branch and the rising rcd/mcb/afci trip taps of the
branch by record time. The rollup names its seq range: every window it counts lies in
first_seq..last_seq, and last_hash is the hash of record last_seq. `replay --check` compares
every rollup, `verify` passes, `timeline --type rollup --branch N` finds them by branch, and the
JSON body carries the names CLI.md gives.
The sanitizer build (about 12x slower) runs 20 panel-minutes: at least one interval closes.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import json, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, hems, records

NS = 1000000000
SPAN = 900 * NS
BOUNDED = os.environ.get("HEMS_SANITIZE") == "1"
RUN_FOR, AT_LEAST = ("20m", 1) if BOUNDED else ("40m", 2)


def tdiv(a, b):
    """Integer division truncated toward zero (C's /)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def mains_afe(d):
    cfg = records(d, "config")
    afe = 1
    for c in cfg:
        j = json.loads(c["body"]["json"])
        for i, a in enumerate(j.get("afes", []) or []):
            if isinstance(a, dict) and a.get("mains") is True:
                afe = i + 1
    return afe


def main():
    tmp = tempfile.mkdtemp(prefix="hems-rollup-")
    try:
        d = os.path.join(tmp, "p")
        ok(hems("init", "--dir", d).returncode == 0, "init")
        r = subprocess.run([HEMS, "run", "--dir", d, "--sim", "default", "--for", RUN_FOR, "--speed", "max"],
                           capture_output=True, text=True, timeout=1800)
        ok(r.returncode == 0, "run: " + r.stderr[-300:])
        rollups = records(d, "rollup")
        windows = records(d, "window")
        commands = records(d, "command")
        taps = records(d, "trip_tap")
        ok(len(rollups) >= AT_LEAST, "%s close at least %d 15-minute interval(s) (%d rollups)" % (RUN_FOR, AT_LEAST, len(rollups)))
        vsrc = mains_afe(d)
        keys = {"start", "duration_s", "first_seq", "last_seq", "last_hash", "branches", "phases"}
        bkeys = {"branch", "import_uwh", "export_uwh", "p_min_mw", "p_mean_mw", "p_max_mw", "events", "trips",
                 "commands"}
        pkeys = {"phase", "v_min_mv", "v_mean_mv", "v_max_mv"}
        prev_start = None
        energy_seen = 0
        for ru in rollups:
            b = ru["body"]
            ok(keys <= set(b), "rollup %d carries %s" % (ru["seq"], sorted(keys - set(b))))
            start, end = b["start"], b["start"] + SPAN
            ok(b["duration_s"] == 900 and start % SPAN == 0, "rollup %d: clock-aligned 900 s" % ru["seq"])
            ok(prev_start is None or start > prev_start, "rollups in interval order")
            prev_start = start
            mine = [w for w in windows if start <= w["body"]["start_ns"] < end]
            ok(mine, "rollup %d: windows in its interval" % ru["seq"])
            ok(all(b["first_seq"] <= w["seq"] <= b["last_seq"] for w in mine),
               "rollup %d: its windows lie in %d..%d" % (ru["seq"], b["first_seq"], b["last_seq"]))
            ok(b["last_seq"] < ru["seq"], "rollup %d: summarises records before it" % ru["seq"])
            last = json.loads(hems("show", "--dir", d, str(b["last_seq"]), "--format", "json").stdout)
            ok(last["hash"] == b["last_hash"], "rollup %d: last_hash is record %d's hash" % (ru["seq"], b["last_seq"]))
            # per branch, from the windows
            want = {}
            for w in mine:
                for p in w["body"].get("powers", []):
                    br = p.get("branch", 0)
                    if not br:
                        continue
                    x = want.setdefault(br, {"n": 0, "imp": 0, "exp": 0, "min": None, "max": None, "sum": 0,
                                             "events": 0, "trips": 0, "commands": 0})
                    x["n"] += 1
                    x["imp"] += max(p.get("import_uwh", 0), 0)
                    x["exp"] += max(p.get("export_uwh", 0), 0)
                    pw = p["p_mw"]
                    x["min"] = pw if x["min"] is None else min(x["min"], pw)
                    x["max"] = pw if x["max"] is None else max(x["max"], pw)
                    x["sum"] += pw
                for c in w["body"]["channels"]:
                    if c["kind"] == "current" and c.get("branch") and c.get("event"):
                        want[c["branch"]]["events"] += 1
            for c in commands:
                t = c["body"].get("target")
                if isinstance(t, int) and t in want and start <= lib_time_ns(c) < end:
                    want[t]["commands"] += 1
            for t in taps:
                tb = t["body"]
                if (tb.get("kind") in ("rcd", "mcb", "afci") and tb.get("edge") == "rising" and not tb.get("of_seq")
                        and tb.get("branch") in want and start <= lib_time_ns(t) < end):
                    want[tb["branch"]]["trips"] += 1
            got = {x["branch"]: x for x in b["branches"]}
            ok(set(got) == set(want), "rollup %d: branches %s, windows say %s" % (ru["seq"], sorted(got), sorted(want)))
            for br, x in want.items():
                g = got[br]
                ok(bkeys <= set(g), "branch object keys")
                exp = {"windows": x["n"], "import_uwh": x["imp"], "export_uwh": x["exp"], "p_min_mw": x["min"],
                       "p_max_mw": x["max"], "p_mean_mw": tdiv(x["sum"], x["n"]), "events": x["events"],
                       "trips": x["trips"], "commands": x["commands"]}
                for k, v in exp.items():
                    ok(g[k] == v, "rollup %d branch %d %s: %s, the windows say %s" % (ru["seq"], br, k, g[k], v))
                energy_seen += x["imp"]
            # per phase, from the voltage source's windows
            vw = {}
            for w in mine:
                if w["body"]["afe"] != vsrc:
                    continue
                for c in w["body"]["channels"]:
                    if c["kind"] != "voltage" or c["phase"] not in "ABC":
                        continue
                    rms = c["rms_m"]
                    hi = c.get("hrms_max_m", 0)
                    lo, hi = (c.get("hrms_min_m", 0), hi) if hi > 0 else (rms, rms)
                    x = vw.setdefault(c["phase"], {"n": 0, "min": lo, "max": hi, "sum": 0})
                    x["n"] += 1
                    x["min"] = min(x["min"], lo)
                    x["max"] = max(x["max"], hi)
                    x["sum"] += rms
            gph = {x["phase"]: x for x in b["phases"]}
            ok(set(gph) == set(vw), "rollup %d: phases %s, the windows say %s" % (ru["seq"], sorted(gph), sorted(vw)))
            for ph, x in vw.items():
                g = gph[ph]
                ok(pkeys <= set(g), "phase object keys")
                for k, v in {"windows": x["n"], "v_min_mv": x["min"], "v_max_mv": x["max"],
                             "v_mean_mv": tdiv(x["sum"], x["n"])}.items():
                    ok(g[k] == v, "rollup %d phase %s %s: %s, the windows say %s" % (ru["seq"], ph, k, g[k], v))
        ok(energy_seen > 0, "energy was summarised")
        # the daemon's rollups are the fold's: replay --check compares each one
        r = hems("replay", "--dir", d, "--check", "--format", "json")
        ok(r.returncode == 0, "replay --check: " + r.stdout[-400:] + r.stderr[-400:])
        chk = json.loads(r.stdout)["check"]
        ok(chk["rollups_checked"] == len(rollups) and not chk["divergences"],
           "replay --check compared %s rollups of %d" % (chk["rollups_checked"], len(rollups)))
        ok(hems("verify", "--dir", d).returncode == 0, "verify")
        # by branch through the index
        br = rollups[0]["body"]["branches"][0]["branch"]
        r = hems("timeline", "--dir", d, "--type", "rollup", "--branch", str(br), "--format", "jsonl")
        got = [json.loads(l)["seq"] for l in r.stdout.splitlines()]
        ok(got == [x["seq"] for x in rollups if any(y["branch"] == br for y in x["body"]["branches"])],
           "timeline --type rollup --branch %d: %s" % (br, got))
        ok(len(got) == len(rollups), "branch %d is in every rollup (metered throughout)" % br)
    finally:
        lib.cleanup(tmp)
    print("%d passed, 0 failed" % lib.passed)


def lib_time_ns(rec):
    """A record's wall time (RFC 3339 with milliseconds in JSON; wall_ns when present)."""
    if "wall_ns" in rec:
        return rec["wall_ns"]
    import datetime
    t = datetime.datetime.fromisoformat(rec["time"].replace("Z", "+00:00"))
    return int(t.timestamp()) * NS + t.microsecond * 1000


if __name__ == "__main__":
    main()
