#!/usr/bin/python3
"""test_collect_windows — `hems collect --decode-windows`: the windows' power entries decoded into
window_powers, and the view branch_energy_hourly, against real peers this test starts itself.

Peers: a Debian PostgreSQL cluster and a Debian mosquitto broker in a scratch dir (test_collect's
Postgres, bridge_testlib's Broker), one simulated panel (`hems run`, real time) shipping with
`hems ship`, and `hems collect --decode-windows`.

Expected values come from the record bytes decoded here with python3-cbor2 following
schemas/hems-v3.cddl (format 3: integer keys; the window's "powers" a map of RFC 8746 typed-array
columns, a missing optional column all zeros), not from hems' own decoder. Checked:
  - for a sample of window records, `hems show SEQ --format cbor` equals the stored bytes, and its
    window_powers rows are exactly its power entries (count, index, afe, start, duration, branch,
    phase, p, q, s, pf, import, export);
  - every stored window record (decoded from its stored bytes) has one row per power entry, and no
    row belongs to a record that is not a window;
  - branch_energy_hourly equals the sums computed here from the decoded records (windows, import,
    export, mean power per device, branch and UTC hour);
  - a collector without --decode-windows stores the records after it but no window_powers rows;
  - deleting a record deletes its rows (ON DELETE CASCADE);
  - --decode-windows with --register: exit 2.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import collections, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, wait_for, start, stop, hems, status, show
from test_collect import peers, teardown
import cbor2

WINDOW = 4
V3 = 3
PHASES = "ABCN"
# schemas/hems-v3.cddl: RFC 8746 typed arrays, big-endian: tag -> (bytes per element, signed)
TYPED = {64: (1, False), 65: (2, False), 66: (4, False), 67: (8, False),
         72: (1, True), 73: (2, True), 74: (4, True), 75: (8, True)}
# v3.window.* and v3.window.powers.* of schemas/hems-v3.cddl
W_AFE, W_POWERS, W_START_NS, W_DURATION_US = 0, 2, 6, 7
POWER_KEYS = {"ich": 0, "vch": 1, "p_mw": 2, "phase": 3, "s_mva": 4, "branch": 5, "q_mvar": 6, "pf_mpct": 7,
              "export_uwh": 8, "import_uwh": 9}
OPTIONAL = ("q_mvar", "export_uwh", "import_uwh")
HOUR_NS = 3600 * 10**9


def typed(v):
    ok(isinstance(v, cbor2.CBORTag) and v.tag in TYPED, "a typed array (RFC 8746): %r" % (v,))
    w, signed = TYPED[v.tag]
    ok(len(v.value) % w == 0, "a typed array's length is a multiple of its element size")
    return [int.from_bytes(v.value[i:i + w], "big", signed=signed) for i in range(0, len(v.value), w)]


def window_entries(raw):
    """A window record's power entries as dicts (column name -> value), with afe/start/duration."""
    rec = cbor2.loads(raw)
    ok(rec[3] == WINDOW and rec[2] == V3, "a v 3 window record")
    body = rec[9]
    powers = body[W_POWERS]
    cols = {}
    for name, key in POWER_KEYS.items():
        if key in powers:
            cols[name] = typed(powers[key])
        else:
            ok(name in OPTIONAL, "window %d: the required powers column %s" % (rec[1], name))
    n = len(cols["p_mw"])
    ok(all(len(c) == n for c in cols.values()), "window %d: every powers column has %d values" % (rec[1], n))
    out = []
    for i in range(n):
        e = {k: (cols[k][i] if k in cols else 0) for k in POWER_KEYS}
        e.update(idx=i, afe=body.get(W_AFE, 0), start_ns=body.get(W_START_NS, 0),
                 duration_us=body.get(W_DURATION_US, 0), phase=PHASES[e["phase"]])
        out.append(e)
    return rec[1], out


COLS = ("idx", "afe", "start_ns", "duration_us", "branch", "phase", "p_mw", "q_mvar", "s_mva", "pf_mpct", "import_uwh",
        "export_uwh")


def main():
    tmp = pg = None
    panel_tmp = None
    try:
        tmp, pg, broker = peers("collect-windows", persist=False)
        db, burl = pg.url, "mqtt://127.0.0.1:%d" % broker.port
        panel_tmp, d, _daemon = lib.panel_with_daemon("collect-windows", {})
        dev = status(d)["device_id"]
        pub = os.path.join(d, "keys", "signing.pub")
        r = hems("collect", "--db", db, "--register", dev, "--pubkey", pub, "--decode-windows")
        ok(r.returncode == 2, "--decode-windows with --register is a usage error")
        r = hems("collect", "--db", db, "--register", dev, "--pubkey", pub)
        ok(r.returncode == 0, "register: " + r.stderr)
        clog = os.path.join(tmp, "collect.log")
        cargs = [HEMS, "collect", "--broker", burl, "--db", db, "--group", "w", "--client-id", "w1"]
        coll = start(cargs + ["--decode-windows"], clog)
        wait_for(lambda: "subscribed" in open(clog).read(), "the collector subscribed")
        ship = start([HEMS, "ship", "--dir", d, "--broker", burl, "--state", os.path.join(tmp, "ship.state")],
                     os.path.join(tmp, "ship.log"))

        def head():
            return int(pg.q("SELECT head_seq FROM devices WHERE device_id = '%s'" % dev))
        wait_for(lambda: int(pg.q("SELECT count(*) FROM records WHERE type = %d" % WINDOW)) >= 40, "40 window records stored", 90)
        ok(int(pg.q("SELECT count(*) FROM window_powers")) > 0, "window_powers rows written with --decode-windows")
        h = status(d)["durable_seq"]
        wait_for(lambda: head() >= h, "the panel's records stored up to its durable seq %d" % h, 90)
        stop(coll)
        ok(coll.returncode == 0, "the collector stops on SIGTERM with exit 0")
        h = head()

        # every stored record, decoded here from its stored bytes
        rows = pg.q("SELECT seq, type, encode(bytes, 'hex') FROM records WHERE device_id = '%s' AND seq <= %d ORDER BY seq"
                    % (dev, h)).splitlines()
        ok(len(rows) == h, "records 1..%d stored" % h)
        stored, expect = {}, {}
        for line in rows:
            seq, typ, hx = line.split("|")
            stored[int(seq)] = bytes.fromhex(hx)
            if int(typ) == WINDOW:
                s, entries = window_entries(stored[int(seq)])
                ok(s == int(seq), "the stored record at %s is seq %s" % (seq, s))
                expect[s] = entries
        ok(len(expect) >= 40, "at least 40 window records among %d (%d)" % (h, len(expect)))
        ok(sum(len(v) for v in expect.values()) >= len(expect), "the windows carry power entries")

        got = collections.defaultdict(list)
        q = "SELECT seq, %s FROM window_powers WHERE device_id = '%s' ORDER BY seq, idx" % (", ".join(COLS), dev)
        for line in pg.q(q).splitlines():
            f = line.split("|")
            got[int(f[0])].append({c: (f[i + 1] if c == "phase" else int(f[i + 1])) for i, c in enumerate(COLS)})

        # a sample: the panel's own bytes (hems show) equal the stored ones, the rows its entries
        wins = sorted(expect)
        sample = sorted(set(wins[:3] + wins[-3:] + wins[::max(1, len(wins) // 8)]))
        for s in sample:
            raw = show(d, s)
            ok(raw == stored[s], "hems show %d --format cbor equals the stored bytes" % s)
            _, entries = window_entries(raw)
            ok(len(got[s]) == len(entries), "window %d: %d rows for its %d power entries" % (s, len(got[s]), len(entries)))
            for e, g in zip(entries, got[s]):
                for c in COLS:
                    ok(g[c] == e[c], "window %d entry %d: %s is %r, the record says %r" % (s, e["idx"], c, g[c], e[c]))
        # all: one row per entry of every window record, nothing for the others
        for s, entries in expect.items():
            ok([(g["idx"], g["p_mw"], g["import_uwh"]) for g in got[s]] == [(e["idx"], e["p_mw"], e["import_uwh"]) for e in entries],
               "window %d: its rows are its %d power entries" % (s, len(entries)))
        ok(set(got) <= set(expect), "no window_powers row for a record that is not a window (%s)" % sorted(set(got) - set(expect))[:5])

        # branch_energy_hourly, from the decoded records
        agg = {}
        for s, entries in expect.items():
            for e in entries:
                k = (e["branch"], e["start_ns"] // HOUR_NS * 3600)
                a = agg.setdefault(k, {"seqs": set(), "imp": 0, "exp": 0, "p": 0})
                a["seqs"].add(s)
                a["imp"] += e["import_uwh"]
                a["exp"] += e["export_uwh"]
                a["p"] += e["p_mw"]
        view = pg.q("SELECT branch, extract(epoch FROM hour)::bigint, windows, import_uwh, export_uwh, mean_p_mw "
                    "FROM branch_energy_hourly WHERE device_id = '%s' ORDER BY 1, 2" % dev).splitlines()
        ok(len(view) == len(agg), "branch_energy_hourly: %d rows, one per branch and hour (%d)" % (len(view), len(agg)))
        for line in view:
            b, hr, n, imp, exp, mean = line.split("|")
            a = agg.get((int(b), int(hr)))
            ok(a is not None, "branch_energy_hourly: branch %s hour %s among the decoded windows'" % (b, hr))
            ok(int(n) == len(a["seqs"]) and int(imp) == a["imp"] and int(exp) == a["exp"],
               "branch %s hour %s: windows %s import %s export %s, decoded %d %d %d" % (b, hr, n, imp, exp, len(a["seqs"]),
                                                                                     a["imp"], a["exp"]))
            ok(abs(float(mean) - a["p"] / len(a["seqs"])) <= 0.0005,
               "branch %s hour %s: mean power %s mW, decoded %.3f" % (b, hr, mean, a["p"] / len(a["seqs"])))
        ok(any(a["imp"] or a["exp"] for a in agg.values()), "some energy in the windows")

        # a collector without --decode-windows: records stored, no rows
        nrows = pg.q("SELECT count(*) FROM window_powers")
        coll = start(cargs, clog)
        wait_for(lambda: head() >= h + 30, "30 records after %d stored without --decode-windows" % h, 90)
        later = int(pg.q("SELECT count(*) FROM records WHERE device_id = '%s' AND seq > %d AND type = %d" % (dev, h, WINDOW)))
        ok(later > 0, "window records after seq %d stored (%d)" % (h, later))
        ok(pg.q("SELECT count(*) FROM window_powers WHERE seq > %d" % h) == "0" and pg.q("SELECT count(*) FROM window_powers") == nrows,
           "without --decode-windows no window_powers row is written")
        stop(coll)
        stop(ship)

        # ON DELETE CASCADE
        s = wins[0]
        pg.q("DELETE FROM records WHERE device_id = '%s' AND seq >= %d" % (dev, s))
        ok(pg.q("SELECT count(*) FROM window_powers WHERE device_id = '%s' AND seq >= %d" % (dev, s)) == "0",
           "deleting the records deletes their window_powers rows")
        print("%d passed, 0 failed" % lib.passed)
    finally:
        teardown(pg, tmp, panel_tmp)

if __name__ == "__main__":
    main()
