"""test_disk_full — a full disk never stops the panel (docs/operations.md "Disk pressure").

A size-limited tmpfs (mounted here; if mount is refused, the test runs itself again inside
`unshare -rm`; if both fail it FAILS saying so — never skipped) holds the data dir; the simulated
daemon runs on it (--speed max) with a 2 MB reserve. While it runs, a filler file takes every
free block of the filesystem (write until ENOSPC). Then branches 1..4 are switched through the
CLI. Checks, against the journal and the filesystem themselves: the daemon never exits; each
switch was answered "confirmed"; each request has its request, command and sense-back records
(no critical record lost); a `disk_pressure` fault was journaled; metering windows were dropped
while full (the `windows_dropped` fault once the filler is gone, its count > 0); the daemon
stops cleanly (exit 0); `hems verify --dir` and `hems replay --check` pass. The filler writes
on in 4 KiB steps after its first ENOSPC, so it may also take the reserve file the daemon gives
back: the blocks preallocated past the end of data.mdb are what the journal then writes into.
Prints how full the filesystem got and how many windows went."""
import errno, json, os, signal, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bridge_testlib import HEMS, ok, hems, start, stop, cleanup, wait_for, records
import bridge_testlib

FS_MB = 24


def mount_tmpfs(mnt):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % FS_MB, "tmpfs", mnt], capture_output=True, text=True)
    return r.returncode == 0, r.stderr.strip()


def fill(path):
    """Takes every free block: big writes, then 4 KiB ones, each until ENOSPC."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (1 << 20, 4096):
            buf = b"\xa5" * chunk
            while True:
                try:
                    os.write(fd, buf)
                except OSError as e:
                    ok(e.errno == errno.ENOSPC, "filler stops at ENOSPC (%s)" % e)
                    break
    finally:
        os.close(fd)


def fs_use(mnt):
    st = os.statvfs(mnt)
    return 1.0 - st.f_bavail / st.f_blocks, st.f_bavail * st.f_frsize


def main():
    tmp = tempfile.mkdtemp(prefix="hems-test-diskfull-")
    os.chmod(tmp, 0o755)
    mnt = os.path.join(tmp, "m")
    os.mkdir(mnt)
    mounted = False
    daemon = None
    try:
        mounted, why = mount_tmpfs(mnt)
        if not mounted:
            if os.environ.get("HEMS_DISKFULL_NS"):
                ok(False, "cannot mount a %d MiB tmpfs, not even inside unshare -rm: %s" % (FS_MB, why))
            # again in a user + mount namespace of our own, where mounting a tmpfs is allowed
            env = dict(os.environ, HEMS_DISKFULL_NS="1")
            r = subprocess.run(["unshare", "-rm", sys.executable, os.path.abspath(__file__)], env=env)
            if r.returncode != 0 and r.returncode != 1:
                print("FAIL: neither mount -t tmpfs (%s) nor unshare -rm works here (exit %d)" % (why, r.returncode))
                raise SystemExit(1)
            raise SystemExit(r.returncode)
        d = os.path.join(mnt, "d")
        ok(hems("init", "--dir", d).returncode == 0, "hems init on the tmpfs")
        cfg = json.load(open(os.path.join(d, "config.json")))
        cfg["retention"] = {"reserve": "2MB", "high_water": "90%"}
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
        log = os.path.join(tmp, "daemon.err")
        daemon = start([HEMS, "run", "--dir", d, "--sim", "default", "--speed", "max"], log)
        wait_for(lambda: '"source":"daemon"' in hems("status", "--dir", d, "--format", "json").stdout.replace(" ", ""),
                 "the daemon's socket")
        ok(os.path.getsize(os.path.join(d, "reserve")) == 2000000 // 4096 * 4096, "the reserve file is made (2 MB)")

        sent = []

        def switch(n):
            b = 1 + n % 4
            want = "off" if (n // 4) % 2 == 0 else "on"
            rid = "full-%d" % n
            r = hems("switch", "--dir", d, str(b), want, "--request-id", rid)
            ok(daemon.poll() is None, "the daemon runs (switch %s)" % rid)
            ok(r.returncode == 0 and "confirmed" in r.stdout, "switch %s branch %d %s confirmed: %s %s" % (rid, b, want, r.stdout, r.stderr))
            sent.append((rid, b, want))
            time.sleep(0.3)

        for n in range(4):
            switch(n)
        # the filesystem to the brim, while the daemon writes
        fill(os.path.join(mnt, "filler"))
        use_full, free_full = fs_use(mnt)
        print("filesystem after the filler: %.2f %% used, %d bytes free" % (use_full * 100, free_full))
        for n in range(4, 20):
            switch(n)
        use_during, _ = fs_use(mnt)
        ok(daemon.poll() is None, "the daemon still runs with the filesystem full")
        disk = bridge_testlib.status(d).get("disk", {})
        ok(disk.get("shedding") is True and disk.get("reserve_held") is False, "status: shedding, reserve in use (%s)" % disk)
        faults = records(d, "fault")
        ok(any(f["body"]["code"] == "disk_pressure" for f in faults), "a disk_pressure fault was journaled")
        # room back: the filler goes; the reserve is made again and the dropped windows counted
        os.unlink(os.path.join(mnt, "filler"))
        wait_for(lambda: any(f["body"]["code"] == "windows_dropped" for f in records(d, "fault")), "the windows_dropped fault")
        dropped = [f["body"]["value"] for f in records(d, "fault") if f["body"]["code"] == "windows_dropped"]
        ok(dropped and dropped[0] > 0, "metering windows were dropped while full (%s)" % dropped)
        wait_for(lambda: bridge_testlib.status(d).get("disk", {}).get("reserve_held") is True, "the reserve made again")
        ok(os.path.getsize(os.path.join(d, "reserve")) == 2000000 // 4096 * 4096, "the reserve file is back (2 MB)")
        for n in range(20, 24):
            switch(n)
        stop(daemon)
        ok(daemon.returncode == 0, "the daemon stops cleanly (exit %s): %s" % (daemon.returncode, open(log).read()[-600:]))

        # no lost critical record: each request, its command and the command's sense-back, in the
        # journal or in an archive bundle the early cut wrote (each verified with the dir's key)
        pub = os.path.join(d, "keys", "signing.pub")
        srcs = [d] + [os.path.join(d, "archive", n) for n in sorted(os.listdir(os.path.join(d, "archive")))] \
            if os.path.isdir(os.path.join(d, "archive")) else [d]
        for src in srcs[1:]:
            r = hems("verify", src, "--pubkey", pub)
            ok(r.returncode == 0, "archive %s verifies: %s %s" % (src, r.stdout, r.stderr))

        def every(t):
            out = []
            for src in srcs:
                args = ["timeline", "--dir", src] if src == d else ["timeline", src]
                r = hems(*args, "--type", t, "--format", "jsonl")
                ok(r.returncode == 0, "hems timeline %s: %s" % (src, r.stderr))
                out += [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
            return out

        reqs = {r["body"]["request_id"]: r for r in every("request")}
        cmds = {c["body"]["request_id"]: c for c in every("command")}
        sbs = {s["body"]["command_seq"]: s for s in every("sense_back")}
        # the early cut: archived, or (the filler took the released reserve file too) not tried
        # for lack of room for its archive, said in a fault — never a cut without an archive
        skipped = [f for f in records(d, "fault") if f["body"]["code"] == "retention_failed" and "early cut" in f["body"]["detail"]]
        ok(len(srcs) > 1 or skipped, "the early cut archived the oldest records (%d bundles) or said why not" % (len(srcs) - 1))
        early = "archived %d bundle(s)" % (len(srcs) - 1) if len(srcs) > 1 else "skipped: " + skipped[0]["body"]["detail"]
        for rid, b, want in sent:
            ok(rid in reqs, "request %s journaled" % rid)
            c = cmds.get(rid)
            ok(c is not None and c["body"]["target"] == b and c["body"]["desired"] == want and c["body"]["cause_seq"] == reqs[rid]["seq"],
               "command for %s (branch %d %s) journaled" % (rid, b, want))
            s = sbs.get(c["seq"])
            ok(s is not None and s["seq"] > c["seq"] and s["body"]["verdict"] == "confirmed" and s["body"]["sensed"] == want,
               "sense-back of %s's command journaled, confirmed %s" % (rid, want))
        r = hems("verify", "--dir", d)
        ok(r.returncode == 0, "hems verify --dir: %s %s" % (r.stdout, r.stderr))
        r = hems("replay", "--dir", d, "--check")
        ok(r.returncode == 0 and " 0 divergence" in r.stdout, "hems replay --check: %s %s" % (r.stdout, r.stderr))
        print("filesystem %d MiB: %.2f %% used after the filler, %.2f %% while switching; %d windows dropped; %d switches, "
              "all with command and sense-back; early cut %s" % (FS_MB, use_full * 100, use_during * 100, dropped[0], len(sent), early))
        print("test_disk_full: %d checks passed" % bridge_testlib.passed)
    finally:
        if daemon is not None and daemon.poll() is None:
            stop(daemon)
        for p in bridge_testlib.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if mounted:
            subprocess.run(["umount", mnt])
        cleanup(tmp)


main()
