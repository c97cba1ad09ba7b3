#!/usr/bin/python3
"""test_bridge_modbus — `hems bridge modbus` against real peers this test starts itself.

Peers: the `hems run` daemon on the simulated default panel, the bridge on a free loopback port
(as uid 65534, gid 0, which DIR/config.json makes `automation`; a second one as uid 65533, which
has no role that may switch), Debian's pymodbus (ModbusTcpClient) and `mbpoll` as clients.

Checked, each against what the peers say, not against the bridge's own output:
  - the map walks as SunSpec: "SunS" at 40000, blocks by their lengths from 40002 (the common
    block, model 1, length 66), ending in 0xFFFF 0; mbpoll reads the same registers as pymodbus;
  - the map's values equal the daemon's status at the same time: branch numbers, critical flags
    and sensed states, power (one of the status answers within the bridge's interval), energy
    between the durable totals before and after (whole Wh), head and durable seq between status
    before and after, the service state; voltage and frequency are those of one of the journal's
    latest windows; the checkpoint size is the sealed_seq of a seal in the journal;
  - exception 2 below 40000 and past the end block, exception 3 for 126 registers and for 0,
    exception 1 for function 4; 125 registers in one read;
  - a write of the command block becomes a request modbus-<n> from uid 65534 with origin
    automation, a command, a confirmed sense-back in the journal, and the result register says
    confirmed, the branch's state register off; a critical branch gets exception 4 and nothing
    is journaled; uid 65533's write is refused by the daemon (refusal register);
  - clients that disconnect mid-frame, or right after a whole request, append nothing, and the
    bridge goes on answering; a half frame left open stalls nobody longer than 2 s.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import os, signal, socket, struct, subprocess, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, free_port, wait_for, start, hems, status, records
from pymodbus.client import ModbusTcpClient

BASE = 40000


def read(c, addr, count):
    r = c.read_holding_registers(addr, count, slave=1)
    ok(not r.isError(), "read %d+%d: %s" % (addr, count, r))
    return r.registers


def exception_of(r):
    return getattr(r, "exception_code", None) if r.isError() else None


def blocks_head(c):
    """The panel block's head seq registers (the daemon's head as the bridge last polled it)."""
    return read(c, 40070 + 2 + 10, 4)


def read_map(c):
    """The whole map, read in chunks of at most 125 registers, walked as SunSpec: {id: (addr, regs)}."""
    head = read(c, BASE, 4)
    ok(head[0] == 0x5375 and head[1] == 0x6E53, "SunS at 40000: %s" % head[:2])
    blocks, a = {}, BASE + 2
    while True:
        id_, n = read(c, a, 2)
        if id_ == 0xFFFF:
            ok(n == 0, "end block 0xFFFF 0")
            return blocks, a + 2
        regs = []
        while len(regs) < n:
            regs += read(c, a + 2 + len(regs), min(125, n - len(regs)))
        blocks[id_] = (a, regs)
        a += 2 + n


def s16(v):
    return v - 65536 if v >= 32768 else v


def s32(hi, lo):
    v = hi << 16 | lo
    return v - (1 << 32) if v >= 1 << 31 else v


def u64(r):
    return r[0] << 48 | r[1] << 32 | r[2] << 16 | r[3]


def branches_of(blocks):
    a, r = blocks[64201]
    out = {}
    for i in range(2, len(r), 10):
        x = r[i:i + 10]
        out[x[0]] = {"flags": x[1], "w": s32(x[2], x[3]), "imp": x[4] << 16 | x[5], "exp": x[6] << 16 | x[7], "alarms": x[8]}
    return out


class Sampler(threading.Thread):
    """The daemon's status, over and over, with the time of each answer."""
    def __init__(self, d):
        super().__init__(daemon=True)
        self.d, self.samples, self.run_ = d, [], True
        self.lock = threading.Lock()

    def run(self):
        while self.run_:
            t0 = time.time()
            st = status(self.d)
            with self.lock:
                self.samples.append((t0, time.time(), st))

    def between(self, a, b):
        with self.lock:
            return [st for (t0, t1, st) in self.samples if t1 >= a and t0 <= b]


def check_map_equals_status(c, d, interval):
    sampler = Sampler(d)
    sampler.start()
    time.sleep(interval + 1.0)
    st0 = status(d)
    time.sleep(interval + 0.5)  # the bridge's status after st0
    t_read = time.time()
    blocks, end = read_map(c)
    t_done = time.time()
    st1 = status(d)
    sampler.run_ = False
    sampler.join()
    ok(blocks[1][1][:4] == [ord("h") << 8 | ord("e"), ord("m") << 8 | ord("s"), 0, 0] and len(blocks[1][1]) == 66,
       "common block: model 1, length 66, Mn hems")
    ok(blocks[1][0] == 40002 and blocks[64200][0] == 40070, "blocks at 40002 and 40070")
    sn = b"".join(struct.pack(">H", v) for v in blocks[1][1][48:64]).rstrip(b"\0").decode()
    ok(sn == st1["device_id"][:32], "SN is the device id: %s" % sn)
    p = blocks[64200][1]
    ok(p[8] == {"disconnected": 0, "connected": 1, "ready_for_reconnection": 2}[st1["policy"]["service"]], "service state")
    ok(p[9] == len(st1["branches"]), "branch count %d" % p[9])
    head, durable, ckpt = u64(p[10:14]), u64(p[14:18]), u64(p[18:22])
    ok(st0["durable_seq"] <= head <= st1["head_seq"], "head seq %d between %d and %d" % (head, st0["durable_seq"], st1["head_seq"]))
    ok(st0["durable_seq"] <= durable <= st1["durable_seq"], "durable seq %d between %d and %d" % (durable, st0["durable_seq"], st1["durable_seq"]))
    seals = {s["body"]["sealed_seq"]: s["seq"] for s in records(d, "seal")}
    ok(ckpt in seals and seals[ckpt] <= st1["durable_seq"] and seals[ckpt] > st0["durable_seq"] - 60,
       "checkpoint size %d is a recent seal's sealed_seq" % ckpt)
    ok(s16(p[4]) == -1 and s16(p[5]) == -2, "V_SF -1, Hz_SF -2")
    wins = records(d, "window")[-40:]
    vs = {tuple((ch["rms_m"] + 50) // 100 for ch in w["body"]["channels"] if ch["kind"] == "voltage") for w in wins}
    ok(tuple(p[0:3]) in vs, "voltages %s are one window's (0.1 V)" % (p[0:3],))
    fs = {(w["body"]["freq_mhz"] + 5) // 10 for w in wins if w["body"].get("freq_mhz")}
    ok(p[3] in fs and 4900 <= p[3] <= 5100, "frequency %.2f Hz is one window's" % (p[3] / 100))
    bs = branches_of(blocks)
    recent = sampler.between(t_read - interval - 1.0, t_done)
    ok(len(recent) >= 2, "status samples around the read")
    for b0, b1 in zip(st0["branches"], st1["branches"]):
        n = b0["branch"]
        m = bs.get(n)
        ok(m is not None, "branch %d in the map" % n)
        ok(bool(m["flags"] & 1) == b1["critical"], "branch %d critical flag" % n)
        ok(m["w"] in {next(x for x in s["branches"] if x["branch"] == n)["power_w"] for s in recent},
           "branch %d power %d W is the daemon's at the time" % (n, m["w"]))
        for key, v in (("durable_import_wh", m["imp"]), ("durable_export_wh", m["exp"])):
            ok(int(b0[key]) <= v <= int(b1[key]), "branch %d %s %d Wh between %d and %d" % (n, key, v, int(b0[key]), int(b1[key])))
        sensed = {"on": 6, "off": 2}.get(b1["sensed"], 0)
        ok(m["flags"] & 6 == sensed, "branch %d sensed %s" % (n, b1["sensed"]))
    return blocks, end


def main():
    tmp = None
    try:
        tmp, d, daemon = lib.panel_with_daemon("bridge-modbus", {"automation": [65534]})
        port = free_port()
        blog = os.path.join(tmp, "bridge.log")
        st0_head = status(d)["head_seq"]  # before the bridge: every head it sees is at least this
        bridge = start([HEMS, "bridge", "modbus", "--dir", d, "--listen", "127.0.0.1:%d" % port, "--interval", "500ms"], blog,
                       user=65534, group=0, extra_groups=[])
        c = ModbusTcpClient("127.0.0.1", port=port, timeout=5)
        wait_for(lambda: c.connect(), "the bridge's port")
        wait_for(lambda: (lambda r: not r.isError() and r.registers[0] > 0)(c.read_holding_registers(40070 + 11, 1, slave=1)),
                 "branches in the map")
        # voltage and frequency come from windows on the follow stream, once they are durable
        wait_for(lambda: 0xFFFF not in read(c, 40072, 4), "voltages and frequency in the map")
        blocks, end = check_map_equals_status(c, d, 0.5)
        # exceptions and the read limit
        ok(exception_of(c.read_holding_registers(39999, 2, slave=1)) == 2, "exception 2 below 40000")
        ok(exception_of(c.read_holding_registers(end - 1, 2, slave=1)) == 2, "exception 2 past the end block")
        ok(exception_of(c.read_holding_registers(0, 1, slave=1)) == 2, "exception 2 at 0")
        ok(exception_of(c.read_holding_registers(BASE, 126, slave=1)) == 3, "exception 3 for 126 registers")
        ok(exception_of(c.read_input_registers(BASE, 2, slave=1)) == 1, "exception 1 for function 4")
        ok(len(read(c, BASE, 125)) == 125, "125 registers in one read")
        ok(exception_of(c.write_register(BASE, 1, slave=1)) == 2, "exception 2 for a single-register write")
        # a switch from the command block
        cmd = blocks[64202][0]
        st = status(d)
        target = next(b for b in st["branches"] if not b["critical"] and b["sensed"] == "on")
        crit = next(b for b in st["branches"] if b["critical"])
        n = target["branch"]
        intent = len(records(d, "request,command,refusal"))
        ok(exception_of(c.write_registers(cmd + 2, [crit["branch"], 0], slave=1)) == 4, "exception 4 for a critical branch")
        ok(exception_of(c.write_registers(cmd + 2, [999, 0], slave=1)) == 3, "exception 3 for a branch the panel lacks")
        ok(exception_of(c.write_registers(cmd + 2, [n, 7], slave=1)) == 3, "exception 3 for desired 7")
        ok(exception_of(c.write_registers(BASE + 10, [n, 0], slave=1)) == 2, "exception 2 for a write outside the command block")
        # the request number is above the daemon's head as the bridge last polled it (its map's
        # head seq, read just before the write; the bridge may poll again before it, never back)
        seen_head = u64(blocks_head(c))
        r = c.write_registers(cmd + 2, [n, 0], slave=1)
        ok(not r.isError(), "switch write accepted: %s" % r)
        res = wait_for(lambda: (lambda x: x if x[7] == 2 else None)(read(c, cmd + 2, 8)), "result register confirmed")
        rid = "modbus-%d" % u64(res[2:6])
        ok(res[6] == n and u64(res[2:6]) > seen_head >= st0_head,
           "request number %d above the head the bridge saw (%d), and the branch, in the command block" % (u64(res[2:6]), seen_head))
        ok(len([q for q in records(d, "request") if q["body"].get("request_id") == rid]) == 1, "request id %s new to the journal" % rid)
        head = status(d)["head_seq"]  # the records of the answer, served once durable
        wait_for(lambda: status(d)["durable_seq"] >= head, "seq %d durable" % head, 30)
        reqs = [q for q in records(d, "request") if q["body"].get("request_id") == rid]
        ok(len(reqs) == 1 and reqs[0]["body"]["uid"] == 65534 and reqs[0]["body"]["origin"] == "automation"
           and reqs[0]["body"]["target"] == n and reqs[0]["body"]["desired"] == "off", "request %s from uid 65534, automation" % rid)
        cmds = [x for x in records(d, "command") if x["body"].get("request_id") == rid]
        ok(len(cmds) == 1 and cmds[0]["body"]["desired"] == "off", "one command for " + rid)
        sb = [s for s in records(d, "sense_back") if s["body"].get("command_seq") == cmds[0]["seq"]]
        ok(len(sb) == 1 and sb[0]["body"]["verdict"] == "confirmed" and sb[0]["body"]["sensed"] == "off",
           "confirmed sense-back for " + rid)
        ok(len(records(d, "request,command,refusal")) == intent + 2, "the refused writes journaled nothing")
        wait_for(lambda: branches_of(read_map(c)[0])[n]["flags"] & 6 == 2, "branch %d off in the map" % n)
        # mbpoll reads the same registers (its references are 1-based: 40001 is address 40000)
        mb = subprocess.run(["mbpoll", "-m", "tcp", "-p", str(port), "-a", "1", "-r", "40001", "-c", "4", "-t", "4:hex", "-1",
                             "127.0.0.1"], capture_output=True, text=True, timeout=30)
        ok(mb.returncode == 0, "mbpoll: " + mb.stderr)
        got = [int(l.split(":")[1], 16) for l in mb.stdout.splitlines() if l.startswith("[4000")]
        ok(got == [0x5375, 0x6E53, 1, 66], "mbpoll reads SunS, model 1, length 66: %s" % got)
        mb = subprocess.run(["mbpoll", "-m", "tcp", "-p", str(port), "-a", "1", "-r", "40001", "-c", "125", "-t", "4", "-1",
                             "127.0.0.1"], capture_output=True, text=True, timeout=30)
        ok(mb.returncode == 0 and len([l for l in mb.stdout.splitlines() if l.startswith("[")]) == 125, "mbpoll reads 125 registers")
        mb = subprocess.run(["mbpoll", "-m", "tcp", "-p", str(port), "-a", "1", "-r", "40001", "-c", "126", "-t", "4", "-1",
                             "127.0.0.1"], capture_output=True, text=True, timeout=30)
        ok(mb.returncode != 0, "mbpoll refuses 126 registers itself or gets an exception")
        # clients gone mid-frame change nothing
        intent = len(records(d, "request,command,refusal"))
        frame = struct.pack(">HHHBBHHBHH", 7, 0, 11, 1, 16, cmd + 2, 2, 4, n, 1)  # a whole switch-on request
        for cut in (3, 7, 9, 12):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(frame[:cut])
            s.close()
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(struct.pack(">HHHBBHH", 9, 0, 6, 1, 3, BASE, 125)[:10])
        s.close()
        half = socket.create_connection(("127.0.0.1", port))
        half.sendall(struct.pack(">HHHBBHH", 9, 0, 6, 1, 3, BASE, 2)[:9])  # left open, never finished
        t0 = time.time()
        c2 = ModbusTcpClient("127.0.0.1", port=port, timeout=5)
        ok(c2.connect() and read(c2, BASE, 2) == [0x5375, 0x6E53], "another client is answered while a frame hangs")
        ok(time.time() - t0 < 4, "a half frame stalls others at most ~2 s (%.1f s)" % (time.time() - t0))
        half.close()
        c2.close()
        time.sleep(1.5)
        ok(bridge.poll() is None, "the bridge survives clients gone mid-frame")
        ok(len(records(d, "request,command,refusal")) == intent, "clients gone mid-frame journal nothing")
        ok(branches_of(read_map(c)[0])[n]["flags"] & 6 == 2, "branch %d still off" % n)
        # a bridge whose uid may not switch: the daemon refuses, the refusal register says so
        port2 = free_port()
        bridge2 = start([HEMS, "bridge", "modbus", "--dir", d, "--listen", "127.0.0.1:%d" % port2], os.path.join(tmp, "bridge2.log"),
                        user=65533, group=0, extra_groups=[])
        c3 = ModbusTcpClient("127.0.0.1", port=port2, timeout=5)
        wait_for(lambda: c3.connect(), "the second bridge's port")
        wait_for(lambda: (lambda r: not r.isError() and r.registers[0] > 0)(c3.read_holding_registers(40070 + 11, 1, slave=1)),
                 "branches in the second map")
        ok(not c3.write_registers(cmd + 2, [n, 1], slave=1).isError(), "the unauthorised write is sent to the daemon")
        res = wait_for(lambda: (lambda x: x if x[7] in (2, 3, 4, 5) else None)(read(c3, cmd + 2, 8)), "a result")
        ok(res[7] == 4, "refusal register for uid 65533's switch: %s" % res)
        rid2 = "modbus-%d" % u64(res[2:6])
        # the daemon answers once it decided; the refusal record is served once durable
        ref = wait_for(lambda: [x for x in records(d, "refusal") if x["body"].get("request_id") == rid2], "the refusal record", 30)
        ok(rid2 != rid and len(ref) == 1 and ref[0]["body"]["reason"] == "role", "a refusal (role) for %s in the journal" % rid2)
        ok(branches_of(read_map(c)[0])[n]["flags"] & 6 == 2, "branch %d still off after the refusal" % n)
        c3.close()
        bridge2.send_signal(signal.SIGTERM)
        ok(bridge2.wait(30) == 0, "the second bridge stops on SIGTERM with exit 0")
        c.close()
        bridge.send_signal(signal.SIGTERM)
        ok(bridge.wait(30) == 0, "the bridge stops on SIGTERM with exit 0")
        r = subprocess.run([HEMS, "bridge", "modbus", "--listen", "127.0.0.1:0"], capture_output=True, text=True)
        ok(r.returncode == 2 and r.stderr.count("\n") == 1 and "--listen" in r.stderr, "port 0 refused in one line")
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        ok(hems("verify", "--dir", d).returncode == 0, "the journal verifies")
    finally:
        lib.cleanup(tmp)
    print("%d passed, 0 failed" % lib.passed)


if __name__ == "__main__":
    main()
