#!/usr/bin/python3
"""test_human — output for people and spreadsheets: units, branch names, CSV columns, errors.

A journal written by `hems run --sim sag-and-inrush --for 60s --speed max` (a 50 % sag of
200 ms on all phases at 20 s; branch names in the scenario file). Expected values come from the
records' raw integers read as JSON (`--format jsonl`, the contract) and from the scenario file,
computed here, never from the text being checked:
  - `show` of a sense-back prints the verdict first, the supply in V with two decimals, the
    current in A, the elapsed time in ms, the branch's configured name; a window's channels
    show rms in V for voltage channels and A for current channels;
  - `timeline --format table` (not a terminal: lines are not cut) has the verdict of every
    sense-back and names beside branch sources;
  - `timeline --type window --format csv`: one row per metered power, exact values in the
    header's units (V, A, W, Wh) equal to the JSON integers scaled, the power factor, names from
    the scenario; the window that holds the sag shows its half-cycle minimum near 50 % of
    nominal on every phase while the 1 s RMS stays far above it;
  - `timeline --format csv` of other types: columns are the union of the types' fields, units in
    the header, a text cell that a spreadsheet would take for a formula is defused;
  - `--branch NAME` lists exactly what `--branch N` lists; an unknown name or number is exit 2
    listing the panel's names; an inverted range is exit 2; an unknown --type lists the types;
  - `replay --incident` of the sag labels the mains AFE's powers by phase with each its own
    current (the record's channel of that power), the branches by number and name, and shows
    the half-cycle minimum of the sag;
  - the --format words: timeline json is one array equal to the jsonl lines, show jsonl one
    line, status and replay take table and jsonl; status takes a bundle in place of --dir;
  - records explain themselves: on `service-overload` (oven, EV charger and sauna on L1 under
    a 40 A service) each load-shed command carries the measured L1 current — the sum, computed
    here, of the latest window current of every L1 branch at its cause — the scenario's limit,
    the allowance level that load is over (110/125/150/200 %, docs/policy.md) and its allowance,
    the branch's priority from the scenario and its rank in the order (lowest priority first);
    `replay --check` compares them with what the reducers decide;
  - a mistyped command suggests the nearest; a bundle given as --dir says to pass it without;
    verify of a bundle without a pinned key says so on stdout too.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import csv, io, json, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, hems

SCEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "hw", "sim", "scenarios", "sag-and-inrush.json")


def jsonl(d, *args):
    r = hems("timeline", "--dir", d, "--format", "jsonl", *args)
    ok(r.returncode == 0, "timeline %s: %s" % (args, r.stderr))
    return [json.loads(x) for x in r.stdout.splitlines() if x.strip()]


def scaled(raw, exp, dp):
    """raw / 10^exp rounded half away from zero to dp decimals, as text."""
    q = abs(raw) * 10 ** dp
    step = 10 ** exp
    n = (q + step // 2) // step
    s = "%d.%0*d" % (n // 10 ** dp, dp, n % 10 ** dp) if dp else "%d" % n
    return ("-" if raw < 0 and n else "") + s


def exact(raw, exp):
    return scaled(raw, exp, exp)


def main():
    tmp = tempfile.mkdtemp(prefix="hems-human-")
    try:
        d = os.path.join(tmp, "d")
        ok(hems("init", "--dir", d).returncode == 0, "init")
        r = subprocess.run([HEMS, "run", "--dir", d, "--sim", "sag-and-inrush", "--for", "60s", "--speed", "max"],
                           capture_output=True, text=True, timeout=300)
        ok(r.returncode == 0, "run: " + r.stderr)
        names = {b["number"]: b["name"] for b in json.load(open(SCEN))["panel"]["branches"]}

        # ---- show: a sense-back and a window
        sb = jsonl(d, "--type", "sense_back")
        ok(len(sb) >= 3, "sense-backs recorded")
        s = next(x for x in sb if x["source"].startswith("branch:"))
        out = hems("show", "--dir", d, str(s["seq"]))
        ok(out.returncode == 0, "show sense_back: " + out.stderr)
        lines = out.stdout.splitlines()
        b = s["body"]
        ok(lines[1] == "  verdict: " + b["verdict"], "verdict first: %r" % lines[1:3])
        tgt = b["target"]
        ok("  target: %d %s" % (tgt, names[tgt]) in lines, "target with name in %s" % lines)
        ok("  supply: %s V" % scaled(b["supply_mv"], 3, 2) in lines, "supply in V in %s" % lines)
        want_a = scaled(b["current_ma"], 3, 3 if abs(b["current_ma"]) < 1000 else 2)
        ok("  current: %s A" % want_a in lines, "current %s A in %s" % (want_a, lines))
        ok("  elapsed: %s ms" % scaled(b["elapsed_us"], 3, 1) in lines, "elapsed in ms in %s" % lines)
        ok(out.stdout.splitlines()[0].endswith("branch:%d %s" % (tgt, names[tgt])), "source named: " + lines[0])

        win = jsonl(d, "--type", "window")
        w = next(x for x in win if any(p.get("branch") for p in x["body"]["powers"]))
        out = hems("show", "--dir", d, str(w["seq"])).stdout
        for c in w["body"]["channels"]:
            unit, exp, dp = ("V", 3, 2) if c["kind"] == "voltage" else ("A", 3, 3 if c["rms_m"] < 1000 else 2)
            ok("rms %s %s" % (scaled(c["rms_m"], 3, dp), unit) in out, "channel %s rms in %s in:\n%s" % (c, unit, out))

        # ---- table: verdicts and names, nothing cut when not a terminal
        t = hems("timeline", "--dir", d, "--format", "table", "--limit", "0").stdout
        for x in sb:
            line = next((l for l in t.splitlines() if l.split()[:1] == [str(x["seq"])]), "")
            ok("verdict=" + x["body"]["verdict"] in line, "table line of %d has its verdict: %r" % (x["seq"], line))
            src = x["source"]
            if src.startswith("branch:"):
                n = int(src.split(":")[1])
                ok("%s %s" % (src, names[n]) in line, "table names the branch: %r" % line)

        # ---- CSV of windows: one row per power, exact values in the header's units
        r = hems("timeline", "--dir", d, "--type", "window", "--format", "csv")
        ok(r.returncode == 0, "csv windows: " + r.stderr)
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        ok(len(rows) == sum(len(x["body"]["powers"]) for x in win), "one row per power: %d" % len(rows))
        for col in ("V [V]", "V min half-cycle [V]", "I [A]", "P [W]", "PF", "energy in [Wh]", "energy out [Wh]", "name"):
            ok(col in rows[0], "column %s" % col)
        i = 0
        for x in win:
            body = x["body"]
            ch = {c["ch"]: c for c in body["channels"]}
            for p in body["powers"]:
                row = rows[i]
                i += 1
                ok(int(row["seq"]) == x["seq"], "row order")
                br = p.get("branch", 0)
                ok(row["name"] == (names[br] if br else "mains"), "name of %s: %s" % (br, row["name"]))
                ok(row["P [W]"] == exact(p["p_mw"], 3), "P %s vs %d mW" % (row["P [W]"], p["p_mw"]))
                ok(row["energy in [Wh]"] == exact(p.get("import_uwh", 0), 6), "Wh in %s vs %d uWh" % (row["energy in [Wh]"], p.get("import_uwh", 0)))
                ok(row["energy out [Wh]"] == exact(p.get("export_uwh", 0), 6), "Wh out")
                pf = p.get("pf_mpct", 0)
                ok(abs(float(row["PF"]) * 100000 - pf) < 0.5, "PF %s vs %d m%%" % (row["PF"], pf))
                if "vch" in p:
                    ok(row["V [V]"] == exact(ch[p["vch"]]["rms_m"], 3), "V exact")
                if "ich" in p:
                    ok(row["I [A]"] == exact(ch[p["ich"]]["rms_m"], 3), "I exact")
        # the sag: 50 % of 230 V for 200 ms at 20 s. A half-cycle RMS (one cycle, refreshed each
        # half cycle) wholly inside it is 115 V; one that only overlaps its edge lies between
        # 115 and 230 V; none is deeper than the sag.
        sag_rows = [r_ for r_ in rows if r_["V min half-cycle [V]"] and float(r_["V min half-cycle [V]"]) < 0.9 * 230]
        for r_ in sag_rows:
            ok(float(r_["V min half-cycle [V]"]) > 115.0 * 0.97, "no deeper than the sag: %s V" % r_["V min half-cycle [V]"])
        full = [r_ for r_ in sag_rows if abs(float(r_["V min half-cycle [V]"]) - 115.0) < 115.0 * 0.03]
        ok(len(full) >= 3, "the sag's depth shows in the half-cycle minimum: %d rows" % len(full))
        for r_ in full:
            ok(float(r_["V [V]"]) > 0.85 * 230, "the 1 s RMS %s V stays high: only the half-cycle minimum shows it" % r_["V [V]"])
        ok(any(r_["name"] != "mains" for r_ in full), "a branch row shows the sag")
        for r_ in sag_rows:
            ok(r_["event"] == "true", "a row the sag touched is flagged: %s %s" % (r_["seq"], r_["name"]))

        # ---- CSV of other types: union of fields, units, formula defused
        ok(hems("note", "--dir", d, "=HYPERLINK(\"http://x\")").returncode == 0, "note")
        r = hems("timeline", "--dir", d, "--type", "sense_back,note", "--format", "csv")
        ok(r.returncode == 0, "csv mixed: " + r.stderr)
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        hdr = rows[0].keys()
        for col in ("seq", "time", "type", "source", "name", "verdict", "supply [V]", "current [A]", "elapsed [s]", "text"):
            ok(col in hdr, "column %s in %s" % (col, list(hdr)))
        notes = [x for x in rows if x["type"] == "note"]
        ok(notes and notes[-1]["text"].startswith("'="), "formula defused: %r" % (notes[-1]["text"] if notes else None))
        sbr = [x for x in rows if x["type"] == "sense_back"]
        ok(len(sbr) == len(sb), "every sense-back has a row")
        for x, row in zip(sb, sbr):
            ok(row["supply [V]"] == exact(x["body"]["supply_mv"], 3), "supply exact")
            ok(row["elapsed [s]"] == exact(x["body"]["elapsed_us"], 6), "elapsed exact in s")

        # ---- --branch NAME, errors
        for n, name in names.items():
            a = hems("timeline", "--dir", d, "--format", "jsonl", "--branch", str(n))
            b_ = hems("timeline", "--dir", d, "--format", "jsonl", "--branch", name)
            ok(a.returncode == 0 and b_.returncode == 0 and a.stdout == b_.stdout and a.stdout, "--branch %s = --branch %d" % (name, n))
        for bad in ("no-such-branch", "99"):
            e = hems("timeline", "--dir", d, "--branch", bad)
            ok(e.returncode == 2 and "well-pump" in e.stderr and e.stderr.count("\n") == 1, "unknown branch %s: %r" % (bad, e.stderr))
        month = jsonl(d)[-1]["time"][:7]
        st1 = hems("statement", "--dir", d, "--month", month, "--branch", "2", "--out", os.path.join(tmp, "s1"))
        st2 = hems("statement", "--dir", d, "--month", month, "--branch", names[2], "--out", os.path.join(tmp, "s2"))
        ok(st1.returncode == 0 and st2.returncode == 0, "statement --branch: " + st1.stderr + st2.stderr)
        ok(open(os.path.join(tmp, "s1"), "rb").read() == open(os.path.join(tmp, "s2"), "rb").read(), "statement --branch NAME = N")
        e = hems("statement", "--dir", d, "--branch", names[2])
        ok(e.returncode == 2 and "--month" in e.stderr and "--out" in e.stderr, "statement names what is missing: %r" % e.stderr)
        e = hems("timeline", "--dir", d, "--since", "50", "--until", "40")
        ok(e.returncode == 2 and "empty" in e.stderr, "inverted range: %r" % e.stderr)
        e = hems("timeline", "--dir", d, "--type", "windw")
        ok(e.returncode == 2 and "sense_back" in e.stderr, "unknown type lists types: %r" % e.stderr)
        # ---- replay --incident of the sag
        pq = jsonl(d, "--type", "pq_event")
        ok(pq and pq[0]["body"]["kind"] == "dip", "the sag recorded")
        r = hems("replay", "--dir", d, "--incident", str(pq[0]["seq"]))
        ok(r.returncode == 0, "replay --incident: " + r.stderr)
        mains = [x for x in win if not any(p.get("branch") for p in x["body"]["powers"])]
        seen = 0
        for x in mains:
            line = next((l for l in r.stdout.splitlines() if " seq %-8d " % x["seq"] in l), None)
            if line is None:
                continue
            seen += 1
            ch = {c.get("ch", 0): c for c in x["body"]["channels"]}
            for p in x["body"]["powers"]:
                amps = scaled(ch[p.get("ich", 0)]["rms_m"], 3, 2)
                ok("mains %s: %s W, %s A" % (p["phase"], scaled(p["p_mw"], 3, 1), amps) in line,
                   "mains %s with its own current %s A in %r" % (p["phase"], amps, line))
        ok(seen >= 2, "mains windows in the incident timeline: %d" % seen)
        ok("V min half-cycle 11" in r.stdout, "the sag's half-cycle minimum in the incident timeline")
        ok("1 lights: " in r.stdout, "branches by number and name in the incident timeline")

        # ---- --format words, status of a bundle
        arr = hems("timeline", "--dir", d, "--format", "json")
        ok(arr.returncode == 0 and json.loads(arr.stdout) == jsonl(d), "timeline json = jsonl lines")
        one = hems("show", "--dir", d, "3", "--format", "jsonl")
        ok(one.returncode == 0 and one.stdout.count("\n") == 1 and json.loads(one.stdout)["seq"] == 3, "show jsonl")
        for fmt in ("table", "jsonl"):
            ok(hems("status", "--dir", d, "--format", fmt).returncode == 0, "status --format " + fmt)
            ok(hems("replay", "--dir", d, "--format", fmt).returncode == 0, "replay --format " + fmt)
        bundle = os.path.join(tmp, "b.hems")
        ok(hems("export", "--dir", d, "--out", bundle).returncode == 0, "export")
        st = hems("status", bundle, "--format", "jsonl")
        ok(st.returncode == 0 and st.stdout.count("\n") == 1, "status of a bundle, one line: " + st.stderr)
        sd = json.loads(hems("status", "--dir", d, "--format", "json").stdout)
        sb_ = json.loads(st.stdout)
        # nothing was appended since the export: the bundle's head and state are the journal's
        ok((sb_["head_seq"], sb_["head_hash"], sb_["state_hash"]) == (sd["head_seq"], sd["head_hash"], sd["state_hash"]),
           "the bundle's status is the journal's at export: %s vs %s" % (sb_["head_seq"], sd["head_seq"]))
        v = hems("verify", bundle)
        ok(v.returncode == 0 and "warning: key not pinned" in v.stdout, "unpinned verify says so on stdout: %r" % v.stdout)

        # ---- records that explain themselves
        so = os.path.join(tmp, "so")
        ok(hems("init", "--dir", so).returncode == 0, "init so")
        r = subprocess.run([HEMS, "run", "--dir", so, "--sim", "service-overload", "--for", "150s", "--speed", "max"],
                           capture_output=True, text=True, timeout=300)
        ok(r.returncode == 0, "run service-overload: " + r.stderr)
        scen = json.load(open(SCEN.replace("sag-and-inrush", "service-overload")))
        limit_a = scen["panel"]["service_limit_a"]
        br = {b["number"]: b for b in scen["panel"]["branches"]}
        recs = jsonl(so)
        sheds = [x for x in recs if x["type"] == "command" and x["body"]["reason"] == "load_shed"]
        ok(len(sheds) >= 1, "load shed on service-overload")
        levels = [(1100, 300000), (1250, 60000), (1500, 10000), (2000, 2000)]
        for i, c in enumerate(sheds):
            b = c["body"]
            cause = b["cause_seq"]
            phase = br[b["target"]]["phase"]
            latest = {}
            for x in recs:
                if x["seq"] > cause or x["type"] != "window":
                    continue
                for ch in x["body"]["channels"]:
                    if ch["kind"] == "current" and ch.get("branch"):
                        latest[ch["branch"]] = ch["rms_m"]
            want = sum(ma for n, ma in latest.items() if br[n]["phase"] == phase and ma > 0)
            ok(b.get("phase_ma") == want, "shed %d: phase current %s mA, the windows say %d" % (c["seq"], b.get("phase_ma"), want))
            ok(b.get("limit_ma") == limit_a * 1000, "shed limit")
            over = [lv for lv in levels if want * 1000 >= lv[0] * limit_a * 1000]
            ok(over and (b.get("level_permille"), b.get("allowance_ms")) == over[-1], "shed level %s vs %s" % (b.get("level_permille"), over))
            ok(b.get("priority", 0) == br[b["target"]]["priority"], "shed priority")
            same = [y for y in sheds if y["body"]["cause_seq"] == cause]
            ok(b.get("rank") == same.index(c) + 1, "shed rank")
            ok([br[y["body"]["target"]]["priority"] for y in same] == sorted(br[y["body"]["target"]]["priority"] for y in same),
               "lowest priority first")
        chk = hems("replay", "--dir", so, "--check")
        ok(chk.returncode == 0 and " 0 divergence(s)" in chk.stdout, "replay --check compares the why: " + chk.stdout[-200:])

        # ---- errors that help
        e = hems("timelin", "--dir", d)
        ok(e.returncode == 2 and "did you mean 'timeline'" in e.stderr, "nearest command: %r" % e.stderr)
        e = hems("timeline", "--dir", bundle)
        ok(e.returncode == 2 and "without --dir" in e.stderr and e.stderr.count(bundle) == 1, "bundle as --dir: %r" % e.stderr)
    finally:
        lib.cleanup(tmp)
    print("%d passed, 0 failed" % lib.passed)


if __name__ == "__main__":
    main()
