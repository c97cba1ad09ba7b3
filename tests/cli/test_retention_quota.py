"""test_retention_quota — retention by quota (DIR/config.json "retention": {"quota": …}) and
`hems stats`' bytes of each log. A journal written by the simulated daemon, archived in steps
(`hems retention --keep --run`) until DIR/archive holds three bundles; then `hems retention --run`
with a quota. Expected values come from the files themselves: archive sizes from os.stat, the
journal's pages in use from lmdb-utils' mdb_stat (pages used − free pages, × page size) — never
from hems' own report. Also: bad retention values are one line naming the field, exit 2."""
import json, os, re, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bridge_testlib import HEMS, ok, hems, cleanup, records
import bridge_testlib


def mdb_used(d):
    """LMDB pages in use × page size, by mdb_stat (lmdb-utils), not by hems."""
    r = subprocess.run(["mdb_stat", "-ef", os.path.join(d, "journal")], capture_output=True, text=True, timeout=60)
    ok(r.returncode == 0, "mdb_stat: " + r.stderr)
    psize = int(re.search(r"Page size: (\d+)", r.stdout).group(1))
    used = int(re.search(r"Number of pages used: (\d+)", r.stdout).group(1))
    free = int(re.search(r"Free pages: (\d+)", r.stdout).group(1))
    return (used - free) * psize


def archives(d):
    a = os.path.join(d, "archive")
    names = sorted(n for n in os.listdir(a) if n.endswith(".hems")) if os.path.isdir(a) else []
    return [(n, os.stat(os.path.join(a, n)).st_size) for n in names]


def set_retention(d, ret):
    p = os.path.join(d, "config.json")
    cfg = json.load(open(p))
    if ret is None:
        cfg.pop("retention", None)
    else:
        cfg["retention"] = ret
    json.dump(cfg, open(p, "w"))


def verify_all(d, what):
    r = hems("verify", "--dir", d)
    ok(r.returncode == 0, "%s: hems verify --dir: %s %s" % (what, r.stdout, r.stderr))
    r = hems("replay", "--dir", d, "--check")
    ok(r.returncode == 0 and " 0 divergence" in r.stdout, "%s: hems replay --check: %s %s" % (what, r.stdout, r.stderr))
    pub = os.path.join(d, "keys", "signing.pub")
    for n, _ in archives(d):
        r = hems("verify", os.path.join(d, "archive", n), "--pubkey", pub)
        ok(r.returncode == 0, "%s: archive %s verifies: %s %s" % (what, n, r.stdout, r.stderr))


def history_bytes(d):
    """The long-horizon log's bytes: its LMDB pages in use (mdb_stat) and its archive bundles."""
    h = os.path.join(d, "history")
    return mdb_used(h) + sum(s for _, s in archives(h))


def main():
    tmp = tempfile.mkdtemp(prefix="hems-test-quota-")
    try:
        d = os.path.join(tmp, "d")
        ok(hems("init", "--dir", d).returncode == 0, "hems init")

        # bad values: `hems retention` and `hems stats` say one line naming the field, exit 2; the
        # daemon runs on (no cut) and journals a config_invalid fault naming it
        for ret, field in (({"quota": "8 parsecs"}, "retention.quota"), ({"windows": "soon"}, "retention.windows"),
                           ({"history": "-3y"}, "retention.history"), ({"high_water": "120%"}, "retention.high_water"),
                           ({"qouta": "8GB"}, "retention.qouta"), ({"keep": "1d", "windows": "2d"}, "retention.keep")):
            set_retention(d, ret)
            for args in (["retention", "--dir", d], ["stats", "--dir", d]):
                r = hems(*args)
                lines = r.stderr.strip().splitlines()
                ok(r.returncode == 2 and len(lines) == 1 and field in lines[0],
                   "%s with %s: exit 2 and one line naming %s (got %d: %r)" % (args[0], ret, field, r.returncode, r.stderr))
        r = hems("run", "--dir", d, "--sim", "default", "--speed", "max", "--for", "2s")
        ok(r.returncode == 0, "the daemon runs with a bad retention policy: " + r.stderr[-300:])
        faults = [f for f in records(d, "fault") if f["body"]["code"] == "config_invalid"]
        ok(any("retention.keep" in f["body"]["detail"] for f in faults), "a config_invalid fault names retention.keep: %s" % faults)
        set_retention(d, {"windows": "30d", "history": "3y", "quota": "8GB", "high_water": "85%", "reserve": "1MB"})
        r = hems("retention", "--dir", d)
        ok(r.returncode == 0 and "quota: 8000000000 bytes" in r.stdout, "a good policy is shown: " + r.stdout + r.stderr)
        set_retention(d, None)

        # three archive bundles: run, cut what is older than 2 minutes, again
        for i in range(6):
            r = hems("run", "--dir", d, "--sim", "default", "--speed", "max", "--for", "4m")
            ok(r.returncode == 0, "hems run: " + r.stderr[-400:])
            r = hems("retention", "--dir", d, "--keep", "2m", "--run")
            ok(r.returncode == 0, "hems retention --keep 2m --run: " + r.stdout + r.stderr)
            if len(archives(d)) >= 3:
                break
        arch = archives(d)
        ok(len(arch) >= 3, "three archive bundles made (%d)" % len(arch))
        verify_all(d, "after the age cuts")

        # hems stats: each log's bytes, against the files
        set_retention(d, {"quota": "1GB", "history": "3y"})
        r = hems("stats", "--dir", d, "--format", "json")
        ok(r.returncode == 0, "hems stats: " + r.stderr)
        st = json.loads(r.stdout)
        for k in ("records", "disk_bytes", "bytes_per_record", "by_type", "write_bytes_per_day", "horizon_days"):
            ok(k in st, "stats keeps " + k)
        ok(st["archive_bytes"] == sum(s for _, s in arch), "stats archive_bytes %s = the bundles' sizes %d" % (st["archive_bytes"], sum(s for _, s in arch)))
        ok(st["archives"] == len(arch), "stats archives = %d" % len(arch))
        ok(st["journal_bytes"] == mdb_used(d), "stats journal_bytes %s = mdb_stat's pages in use %d" % (st["journal_bytes"], mdb_used(d)))
        files = sum(os.stat(os.path.join(d, "journal", f)).st_size for f in os.listdir(os.path.join(d, "journal")))
        ok(st["disk_bytes"] == files, "stats disk_bytes = the journal's files (%d)" % files)
        hist = history_bytes(d)
        ok(hist > 0 and st["long_horizon_bytes"] == hist, "stats long_horizon_bytes %s = the long-horizon log's pages in use + archives %d"
           % (st["long_horizon_bytes"], hist))
        ok(st["quota"] == 10**9, "quota 1GB = 10^9 bytes")
        ok(st["horizon_days"] is not None and st["horizon_days"] > 0, "a horizon at the current rate")

        # quota above the journal: only the oldest archives go, until the long-horizon log (counted
        # first) + journal + archives fit
        j = mdb_used(d)
        sizes = [s for _, s in arch]
        quota = history_bytes(d) + j + sum(sizes[1:]) + sizes[0] // 2   # everything but half of the oldest bundle
        set_retention(d, {"quota": str(quota)})
        r = hems("retention", "--dir", d, "--run")
        ok(r.returncode == 0, "hems retention --run (quota %d): %s %s" % (quota, r.stdout, r.stderr))
        after = archives(d)
        ok([n for n, _ in after] == [n for n, _ in arch[1:]], "the oldest bundle alone removed: %s -> %s" % ([n for n, _ in arch], [n for n, _ in after]))
        ok(history_bytes(d) + mdb_used(d) + sum(s for _, s in after) <= quota, "history + journal + archives <= quota (%d + %d + %d <= %d)"
           % (history_bytes(d), mdb_used(d), sum(s for _, s in after), quota))
        verify_all(d, "after pruning archives")

        # quota below the journal: the journal is cut (archived first), then archives pruned oldest first
        j = mdb_used(d)
        first_before = int(re.search(r"seq (\d+)\.\.", hems("verify", "--dir", d).stdout).group(1))
        quota = history_bytes(d) + int(j * 0.85)   # the long-horizon log is counted first
        set_retention(d, {"quota": str(quota)})
        before = archives(d)
        r = hems("retention", "--dir", d, "--run")
        ok(r.returncode == 0 and "archived seq" in r.stdout, "hems retention --run cuts the journal (quota %d < %d): %s %s" % (quota, j, r.stdout, r.stderr))
        first_after = int(re.search(r"seq (\d+)\.\.", hems("verify", "--dir", d).stdout).group(1))
        ok(first_after > first_before, "the journal now starts later (%d > %d)" % (first_after, first_before))
        after = archives(d)
        used = mdb_used(d)
        ok(history_bytes(d) + used + sum(s for _, s in after) <= quota, "history + journal + archives <= quota (%d + %d + %d <= %d)"
           % (history_bytes(d), used, sum(s for _, s in after), quota))
        # what is left is the newest: every remaining bundle is newer than every removed one
        gone = [n for n, _ in before if n not in [m for m, _ in after]]
        ok(not gone or not after or max(gone) < min(n for n, _ in after), "oldest pruned first: gone %s, left %s" % (gone, [n for n, _ in after]))
        verify_all(d, "after the quota cut")
        print("test_retention_quota: %d checks passed" % bridge_testlib.passed)
    finally:
        cleanup(tmp)


main()
