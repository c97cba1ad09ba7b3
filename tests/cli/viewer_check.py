"""viewer_check.py — an independent client of the daemon's read API (docs/cli.md, "Reading
through the daemon"), for tests/cli/test_viewer.c. Python's socket, json, base64, hashlib
(BLAKE2b) and cbor2 check what the daemon streams against the record format and against `hems
show` / `hems timeline` reading the journal directly.

  viewer_check.py follow SOCK HEMS DIR   follow from seq 1 past the durable seq at the start
  viewer_check.py show SOCK HEMS DIR     show over the socket == hems show (json and cbor)
  viewer_check.py timeline SOCK HEMS DIR timeline pages over the socket == hems timeline
  viewer_check.py slow SOCK PID          a follower that does not read stalls nothing
  viewer_check.py export SOCK HEMS DIR FP  export over the socket == hems export, verifies
  viewer_check.py bad SOCK               each malformed request: one error line
  viewer_check.py big SOCK HEMS DIR      timeline pages of large records: at most 1 MiB of base64
                                         each, every record exactly once
  viewer_check.py cut SOCK HEMS DIR      follow across a retention cut: one gap line, then the
                                         first kept record on (with and without until)
Prints "ok ..." and exits 0, or fails with an assertion.
"""
import base64
import hashlib
import json
import socket
import subprocess
import sys
import time

import cbor2


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    return s, s.makefile("rb")


def ask(path, req):
    s, f = connect(path)
    s.sendall(json.dumps(req).encode() + b"\n")
    line = f.readline()
    s.close()
    return json.loads(line)


def show_cbor(hems, d, seq):
    return subprocess.run([hems, "show", "--dir", d, str(seq), "--format", "cbor"], check=True,
                          capture_output=True).stdout


def chain(records, prev):
    """Each record's key 0 (prev) is BLAKE2b-256("hems.record.v1\\0" || the bytes before it) and
    key 1 its seq; returns the hash of the last."""
    for seq, b in records:
        r = cbor2.loads(b)
        assert r[1] == seq, (seq, r[1])
        assert r[0] == prev, seq
        prev = hashlib.blake2b(b"hems.record.v1\x00" + b, digest_size=32).digest()
    return prev


def follow(sock, hems, d):
    s, f = connect(sock)
    s.sendall(b'{"op":"follow","from":1}\n')
    head = json.loads(f.readline())
    assert head["ok"] is True and head["from"] == 1, head
    start_durable = head["durable_seq"]
    want = start_durable + 20  # records that become durable while we follow
    recs = []
    while len(recs) < want:
        o = json.loads(f.readline())
        assert set(o) == {"seq", "cbor"}, o
        assert o["seq"] == len(recs) + 1, (o["seq"], len(recs))
        recs.append((o["seq"], base64.b64decode(o["cbor"], validate=True)))
    s.close()
    chain(recs, bytes(32))
    # the exact bytes `hems show --format cbor` writes: a sample across the journal and the live tail
    sample = [1, 2] + list(range(100, len(recs), max(1, len(recs) // 25))) + list(range(len(recs) - 25, len(recs) + 1))
    for seq in sorted(set(sample)):
        assert recs[seq - 1][1] == show_cbor(hems, d, seq), seq
    print(f"ok followed {len(recs)} records (durable at the start {start_durable}), {len(set(sample))} compared")


def show(sock, hems, d):
    for seq in (1, 2, 3, 50):
        o = ask(sock, {"op": "show", "seq": seq})
        assert o["ok"] is True and o["seq"] == seq, o
        direct = json.loads(subprocess.run([hems, "show", "--dir", d, str(seq), "--format", "json"], check=True,
                                           capture_output=True).stdout)
        assert o["record"] == direct, (o["record"], direct)
        assert base64.b64decode(o["cbor"]) == show_cbor(hems, d, seq), seq
    o = ask(sock, {"op": "show", "seq": 10**12})
    assert o["ok"] is False and o["error"].startswith("no record with seq 1000000000000 (the journal holds 1.."), o
    print("ok show")


def timeline(sock, hems, d):
    until = ask(sock, {"op": "status"})["durable_seq"]
    direct = subprocess.run([hems, "timeline", "--dir", d, "--type", "window,boot", "--until", str(until), "--format",
                             "jsonl"], check=True, capture_output=True, text=True).stdout.splitlines()
    want = [json.loads(x)["seq"] for x in direct]
    got, frm, pages = [], 1, 0
    while True:
        o = ask(sock, {"op": "timeline", "types": ["window", "boot"], "until_seq": until, "from": frm, "limit": 100})
        assert o["ok"] is True, o
        assert len(o["records"]) <= 100
        for r in o["records"]:
            b = base64.b64decode(r["cbor"])
            assert cbor2.loads(b)[1] == r["seq"]
            got.append(r["seq"])
        pages += 1
        if o["next"] is None:
            break
        assert o["next"] > frm
        frm = o["next"]
    assert got == want, (len(got), len(want))
    assert len(want) > 100 and pages > 1, (len(want), pages)
    print(f"ok timeline {len(got)} records in {pages} replies")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(x for x in f if x.startswith("VmRSS:")).split()[1])


def slow(sock, pid, rss_allow_kb=3 * 1024):
    s, f = connect(sock)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b'{"op":"follow","from":1}\n')  # and read nothing for now
    time.sleep(1)
    rss0, d0 = rss_kb(pid), ask(sock, {"op": "status"})["durable_seq"]
    worst, d1, t0 = 0.0, d0, time.monotonic()
    while d1 <= d0 + 40 and time.monotonic() - t0 < 60:  # the daemon commits in groups: wait for some
        time.sleep(0.25)
        t = time.monotonic()
        d1 = ask(sock, {"op": "status"})["durable_seq"]
        worst = max(worst, time.monotonic() - t)
    rss1 = rss_kb(pid)
    assert d1 > d0 + 40, (d0, d1)  # records keep being appended and made durable
    assert worst < 2.0, worst
    assert rss1 - rss0 < rss_allow_kb, (rss0, rss1, rss_allow_kb)  # the daemon queues a bounded amount for us
    # reading now: every record from 1 comes, in order, served from the journal
    n = 0
    while n < d1:
        o = json.loads(f.readline())
        if "ok" in o:
            assert o["ok"] is True
            continue
        n += 1
        assert o["seq"] == n, (o["seq"], n)
    s.close()
    print(f"ok slow follower: durable {d0}->{d1} while it did not read, rss +{rss1 - rss0} kB, "
          f"status answered within {worst * 1000:.0f} ms")


def export_sock(sock, req):
    """The bundle the export op streams: its bytes, checked against the end line's length and
    BLAKE2b-256 (hashlib), each chunk line bounded."""
    s, f = connect(sock)
    s.sendall(json.dumps(req).encode() + b"\n")
    head = json.loads(f.readline())
    assert head["ok"] is True, head
    data = b""
    while True:
        line = f.readline()
        assert len(line) <= 17 * 1024, len(line)  # 12 KiB chunks: 16 KiB of base64
        o = json.loads(line)
        if "chunk" not in o:
            break
        data += base64.b64decode(o["chunk"], validate=True)
    s.close()
    assert o == {"ok": True, "end": True, "bytes": len(data),
                 "blake2b": hashlib.blake2b(data, digest_size=32).hexdigest()}, o
    assert head["bytes"] == len(data), head
    return data


def export(sock, hems, d, fp):
    """The same range through the socket and by `hems export` reading the journal: the same
    bytes. The head the bundle carries (the newest seal) moves while the daemon runs, so the
    socket's bundle is taken between two direct exports that agree."""
    tmp = d + ".x.hems"
    for since, until in (("2000", "5000"), ("1", None)):
        req = {"op": "export", "since": int(since)}
        args = [hems, "export", "--dir", d, "--out", tmp, "--since", since]
        if until:
            req["until"] = int(until)
            args += ["--until", until]
        for attempt in range(20):
            subprocess.run(args, check=True, capture_output=True)
            a = open(tmp, "rb").read()
            got = export_sock(sock, req)
            subprocess.run(args, check=True, capture_output=True)
            b = open(tmp, "rb").read()
            if a == b:
                break
        assert a == b, "the head kept moving"
        assert got == a, (since, until, len(got), len(a))
        open(tmp, "wb").write(got)
        v = subprocess.run([hems, "verify", tmp, "--fingerprint", fp], capture_output=True, text=True)
        assert v.returncode == 0 and v.stdout.startswith("ok: seq "), v.stdout + v.stderr
        print(f"ok export since {since} until {until}: {len(got)} bytes == hems export, verified "
              f"({attempt + 1} tries)")


def bad(sock):
    s, f = connect(sock)
    reqs = [b'{"op":"follow"}', b'{"op":"follow","from":0}', b'{"op":"follow","from":"1"}',
            b'{"op":"follow","from":-3}', b'{"op":"follow","from":5,"until":2}', b'{"op":"show"}',
            b'{"op":"timeline","types":["nosuch"]}', b'{"op":"timeline","limit":100000}',
            b'{"op":"export","since":0}', b'{"op":"export","until":[1]}', b'{"op":"export","since":""}',
            b'{"op":"export","since":"yesterday"}']
    for r in reqs:
        s.sendall(r + b"\n")
        o = json.loads(f.readline())
        assert o["ok"] is False and o["error"].startswith("malformed request"), (r, o)
    s.sendall(b'{"op":"export","since":999999999}\n')
    o = json.loads(f.readline())
    assert o == {"ok": False, "error": "no records in that range"}, o
    s.sendall(b'{"op":"status"}\n')  # the next line is the status answer: one line per error
    o = json.loads(f.readline())
    assert o["ok"] is True and "head_seq" in o, o
    s.close()
    print(f"ok {len(reqs)} malformed requests, one error line each")


def big(sock, hems, d):
    """Notes of 4096 bytes (the most a note holds) are ~5.6 KiB of base64 each: 256 of them, the
    record limit of one reply, would be ~1.4 MiB. Paged with "next", each reply holds at most
    1 MiB (2**20 bytes) of base64, and the pages hold every note `hems timeline` reads directly,
    each once, in order."""
    # the daemon serves the main log (a direct read adds the long-horizon log's copies of what
    # retention cut: not what this checks)
    held = subprocess.run([hems, "retention", "--dir", d], check=True, capture_output=True, text=True).stdout
    first = held.split("holds seq ")[1].split("..")[0]
    out = subprocess.run([hems, "timeline", "--dir", d, "--type", "note", "--since", first, "--format", "jsonl"],
                         check=True, capture_output=True, text=True).stdout
    want = [json.loads(l)["seq"] for l in out.splitlines() if l.strip()]
    assert len(want) >= 200, len(want)
    got, replies, capped, cursor = [], 0, 0, want[0]
    while cursor is not None:
        o = ask(sock, {"op": "timeline", "types": ["note"], "from": cursor})
        assert o["ok"] is True, o
        b64 = sum(len(r["cbor"]) for r in o["records"])
        assert o["records"], o  # at least one record, so the cursor advances
        assert b64 <= 2 ** 20 or len(o["records"]) == 1, (len(o["records"]), b64)
        capped += o["next"] is not None and len(o["records"]) < 256 and b64 > 2 ** 20 - 6000
        got += [r["seq"] for r in o["records"]]
        for r in o["records"][:1]:
            assert base64.b64decode(r["cbor"], validate=True) == show_cbor(hems, d, r["seq"]), r["seq"]
        cursor, replies = o["next"], replies + 1
    assert got == want, (len(got), len(want))
    assert capped >= 1, "no reply reached the byte cap"
    print(f"ok {len(got)} notes of 4096 bytes in {replies} timeline replies, {capped} capped at 1 MiB")


def follow_lines(sock, req, n):
    """The answer to a follow request and the next n stream lines (fewer if it ends)."""
    s, f = connect(sock)
    s.sendall(json.dumps(req).encode() + b"\n")
    head = json.loads(f.readline())
    assert head["ok"] is True and head["from"] == req["from"], head
    lines = []
    while len(lines) < n:
        o = json.loads(f.readline())
        lines.append(o)
        if o.get("ok") is True and "end" in o:
            break
    s.close()
    return lines


def cut(sock, hems, d):
    # the cut as `hems retention` journaled it, read directly: seqs 1..cut_seq are gone
    out = subprocess.run([hems, "timeline", "--dir", d, "--type", "retention", "--format", "jsonl"],
                         check=True, capture_output=True, text=True).stdout
    cuts = [json.loads(l) for l in out.splitlines() if l.strip()]
    assert len(cuts) == 1, out
    first = cuts[0]["body"]["cut_seq"] + 1
    assert first > 10, first
    subprocess.run([hems, "show", "--dir", d, str(first)], check=True, capture_output=True)
    assert subprocess.run([hems, "show", "--dir", d, str(first - 1)], capture_output=True).returncode != 0
    mid = first // 2
    for start in (1, mid, first - 1):
        lines = follow_lines(sock, {"op": "follow", "from": start}, 21)
        assert lines[0] == {"gap": {"from": start, "to": first - 1}}, (start, lines[0])
        seqs = [o["seq"] for o in lines[1:]]
        assert seqs == list(range(first, first + 20)), (start, seqs)
        for o in lines[1:3]:
            assert base64.b64decode(o["cbor"], validate=True) == show_cbor(hems, d, o["seq"]), o["seq"]
    # from the first kept seq on: no gap line
    lines = follow_lines(sock, {"op": "follow", "from": first}, 3)
    assert [o["seq"] for o in lines] == [first, first + 1, first + 2], lines
    # until inside the cut: the gap up to until, then the end (before, nothing came and no end)
    lines = follow_lines(sock, {"op": "follow", "from": 1, "until": mid}, 5)
    assert lines == [{"gap": {"from": 1, "to": mid}}, {"ok": True, "end": mid}], lines
    # until past the cut: the gap, the kept records up to until, the end
    lines = follow_lines(sock, {"op": "follow", "from": mid, "until": first + 4}, 10)
    assert lines[0] == {"gap": {"from": mid, "to": first - 1}}, lines[0]
    assert [o["seq"] for o in lines[1:-1]] == list(range(first, first + 5)), lines
    assert lines[-1] == {"ok": True, "end": first + 4}, lines[-1]
    print(f"ok follow across a cut at {first - 1}: from 1, {mid}, {first - 1}, {first}, with and without until")


if __name__ == "__main__":
    op = sys.argv[1]
    if op == "follow":
        follow(*sys.argv[2:5])
    elif op == "show":
        show(*sys.argv[2:5])
    elif op == "timeline":
        timeline(*sys.argv[2:5])
    elif op == "slow":
        slow(sys.argv[2], int(sys.argv[3]), *(int(a) for a in sys.argv[4:5]))
    elif op == "export":
        export(*sys.argv[2:6])
    elif op == "big":
        big(*sys.argv[2:5])
    elif op == "cut":
        cut(*sys.argv[2:5])
    elif op == "bad":
        bad(sys.argv[2])
    else:
        sys.exit("unknown check " + op)
