#!/usr/bin/python3
"""test_history_daemon — the long-horizon log written by the daemon, and energy answered from
rollups after retention cut the windows (issue 13's Must show).

The `default` panel runs under `hems run --speed max` without a retention policy; the energy per
branch of a clock-aligned period P is summed here, in Python, from the windows (this file's own
arithmetic: per branch the import_uwh/export_uwh of the windows whose start_ns falls in P, a
negative delta counting 0), and `hems plot --energy --format json` must say the same. Then
DIR/config.json gets "retention": {"windows": W} and the daemon runs again: its retention pass
cuts the windows of P (an archive, a retention record). After the cut:
  - P's energy per branch is still answered (from the rollups, at least one of them for an
    interval the main log no longer holds) and equals the sums computed before the cut;
  - `hems verify --dir` passes for both logs, with copies of records the main log no longer holds,
    the history anchored by the cut's retention record;
  - `hems replay --check` is clean;
  - copies still backed by the main log hold the main log's exact bytes (`hems show --format
    cbor`) and name their BLAKE2b-256 record hash (computed here);
  - `hems timeline` lists the cut rollups and commands, under their main seqs.
Then the projected sizes of 30 days of windows and 3 years of history are printed from the
measured bytes (hems stats), and with HEMS_HISTORY_FULL=1 checked to fit 8 GB.

Runs: HEMS_HISTORY_FULL=1 (.ci/run's long stage): 24 h, then 24 h with "windows": "1d" — 48
panel-hours, P = 23 h of the first day. Default: 1 h, then 3 min with "windows": "20m", P = 30 min.
The sanitizer build (HEMS_SANITIZE=1): 31 min, then 2 min with "windows": "10m", P = 15 min.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import hashlib, json, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, hems

NS = 1000000000
SPAN = 900 * NS
FULL = os.environ.get("HEMS_HISTORY_FULL") == "1"
BOUNDED = os.environ.get("HEMS_SANITIZE") == "1"
if FULL:
    RUN1, RUN2, KEEP, INTERVALS = "24h", "24h", "1d", 92
elif BOUNDED:
    RUN1, RUN2, KEEP, INTERVALS = "31m", "2m", "10m", 1
else:
    RUN1, RUN2, KEEP, INTERVALS = "1h", "3m", "20m", 2


def run(d, span):
    r = subprocess.run([HEMS, "run", "--dir", d, "--sim", "default", "--for", span, "--speed", "max"],
                       capture_output=True, text=True, timeout=3600)
    ok(r.returncode == 0, "run --for %s: %s" % (span, r.stderr[-300:]))


def stream(d, *args):
    """The records `hems timeline` lists, one at a time (a day of windows is large)."""
    p = subprocess.Popen([HEMS, "timeline", "--dir", d, "--format", "jsonl", *args], stdout=subprocess.PIPE, text=True)
    for line in p.stdout:
        if line.strip():
            yield json.loads(line)
    ok(p.wait() == 0, "timeline %s" % " ".join(args))


def plot_totals(d, since, until):
    r = hems("plot", "--dir", d, "--energy", "--since", "@%d.%09d" % divmod(since, NS), "--until",
             "@%d.%09d" % divmod(until, NS), "--format", "json")
    ok(r.returncode == 0, "plot --energy --format json: " + r.stderr)
    return {t["branch"]: (t["import_uwh"], t["export_uwh"]) for t in json.loads(r.stdout)}


def record_hash(b):
    return hashlib.blake2b(b"hems.record.v1\0" + b, digest_size=32).hexdigest()


def main():
    tmp = tempfile.mkdtemp(prefix="hems-history-")
    try:
        d = os.path.join(tmp, "p")
        ok(hems("init", "--dir", d).returncode == 0, "init")
        run(d, RUN1)
        first_window = next(stream(d, "--type", "window", "--limit", "1"))
        a = -(-first_window["body"]["start_ns"] // SPAN) * SPAN  # the first whole interval
        since, until = a, a + INTERVALS * SPAN - 1
        sums = {}
        for w in stream(d, "--type", "window", "--since", "@%d" % (since // NS - 60), "--until", "@%d" % (until // NS + 60)):
            if since <= w["body"]["start_ns"] <= until:
                for p in w["body"]["powers"]:
                    n = p.get("branch")
                    if n:
                        i, e = sums.get(n, (0, 0))
                        sums[n] = (i + max(0, p.get("import_uwh", 0)), e + max(0, p.get("export_uwh", 0)))
        ok(len(sums) >= 8 and any(v[0] > 0 for v in sums.values()), "the period's windows meter the branches (%d)" % len(sums))
        ok(plot_totals(d, since, until) == sums, "before the cut: plot --energy equals the windows' sums")
        st1 = json.loads(hems("stats", "--dir", d, "--format", "json").stdout)
        per_record = st1["journal_bytes"] / st1["records"]   # LMDB pages in use, before any cut
        recs_per_day = st1["records"] / max(1e-9, panel_days(d, 1))
        cfg_path = os.path.join(d, "config.json")
        cfg = json.load(open(cfg_path))
        cfg["retention"] = {"windows": KEEP, "history": "3y"}
        json.dump(cfg, open(cfg_path, "w"))

        run(d, RUN2)
        first = next(stream(d, "--limit", "1"))  # the history first, then the main log
        st = json.loads(hems("stats", "--dir", d, "--format", "json").stdout)
        main_first = int(hems("retention", "--dir", d).stdout.split("holds seq ")[1].split("..")[0])
        ok(main_first > 1, "retention cut the main log (it starts at seq %d)" % main_first)
        ok(first["seq"] == 1 and first["type"] == "boot", "timeline starts at seq 1 from the long-horizon log")
        rollups = [r for r in stream(d, "--type", "rollup") if since <= r["body"]["start"] <= until]
        ok(len(rollups) == INTERVALS, "timeline lists the period's %d rollups (%d)" % (INTERVALS, len(rollups)))
        cut = [r for r in rollups if r["body"]["first_seq"] < main_first]
        ok(cut, "at least one of them summarises windows the main log no longer holds")
        windows_left = sum(1 for w in stream(d, "--type", "window", "--until", "@%d" % (until // NS + 60))
                           if since <= w["body"]["start_ns"] <= until)
        print("after the cut: %d of %d rollups answer for cut windows; %d windows of the period left in the main log"
              % (len(cut), len(rollups), windows_left))
        ok(plot_totals(d, since, until) == sums, "after the cut: plot --energy (rollups) equals the windows' sums from before")

        v = hems("verify", "--dir", d)
        ok(v.returncode == 0, "verify --dir: " + v.stderr)
        ok("history: ok" in v.stdout, "verify checks the long-horizon log")
        ok("anchored by the retention record" in v.stdout and "warning" not in v.stdout,
           "the daemon's cut names the history's head (the anchor): " + v.stdout[-400:])
        hl = [l for l in v.stdout.splitlines() if l.startswith("history: ") and "copies" in l]
        ok(hl and int(hl[0].split(", ")[1].split()[0]) > 0, "copies of records the main log no longer holds: " + str(hl))
        rp = hems("replay", "--dir", d, "--check")
        ok(rp.returncode == 0 and " 0 divergence" in rp.stdout, "replay --check: " + rp.stdout[-300:] + rp.stderr[-300:])

        # the cross-reference, computed here for copies the main log still holds
        hdir = os.path.join(d, "history")
        copies = [c for c in stream(hdir, "--type", "copy") if c["body"]["main_seq"] >= main_first]
        ok(copies, "copies of records the main log holds")
        for c in copies[:: max(1, len(copies) // 15)]:
            b = subprocess.run([HEMS, "show", "--dir", d, str(c["body"]["main_seq"]), "--format", "cbor"],
                               capture_output=True, timeout=60).stdout
            ok(b.hex() == c["body"]["record"], "copy of %d holds the main log's bytes" % c["body"]["main_seq"])
            ok(record_hash(b) == c["body"]["main_hash"], "copy of %d names the record's hash" % c["body"]["main_seq"])

        # sizes: measured, then projected to 30 days of windows and 3 years of history
        lh = st["long_horizon"]
        ok(lh and lh["records"] > 0 and st["long_horizon_bytes"] > 0, "stats: the long-horizon log's size")
        main_30d = per_record * recs_per_day * 30
        hist_3y = lh["used_bytes"] / max(1e-9, lh["span_days"]) * 365 * 3
        print("measured: %.1f bytes per main-log record (LMDB pages in use), %.0f records per panel-day; long-horizon log "
              "%d records, %d bytes in use over %.2f days" % (per_record, recs_per_day, lh["records"], lh["used_bytes"], lh["span_days"]))
        print("projected: 30 days of windows %.2f GB + 3 years of history %.2f GB = %.2f GB (quota 8 GB)"
              % (main_30d / 1e9, hist_3y / 1e9, (main_30d + hist_3y) / 1e9))
        if FULL:
            ok(main_30d + hist_3y < 8e9, "30 days + 3 years fit 8 GB")
        print("%d passed, 0 failed" % lib.passed)
    finally:
        lib.cleanup(tmp)


def panel_days(d, main_first):
    """The wall-time span of the main log's records, in days."""
    from datetime import datetime
    n = json.loads(hems("stats", "--dir", d, "--format", "json").stdout)["records"]
    t = [datetime.fromisoformat(json.loads(hems("show", "--dir", d, str(q), "--format", "json").stdout)["time"])
         for q in (main_first, main_first + n - 1)]
    return (t[1] - t[0]).total_seconds() / 86400


if __name__ == "__main__":
    main()
