#!/usr/bin/python3
"""test_bridge_der — DER commands end to end: `hems der` → the daemon's fold → a durable command
→ `hems bridge sunspec` writes it to a SunSpec device this test simulates (pymodbus) → the poll
that shows it → the daemon's sense_back.

Peers: the `hems run` daemon on the simulated default panel (der.pv on branch 8, der.ess on
branch 9), two pymodbus Modbus TCP servers holding register images built from the SunSpec model
definitions (test_bridge_sunspec.py's MODELS, plus model 123 immediate controls here), the bridge
as uid 65534 (automation, in roles.der_bridge), and the CLI as root (admin) and as uid 65533
(viewer).
  pv:  models 1, 103 (W, St), 123 (Conn 1, WMaxLimPct 100 with WMaxLimPct_SF 0, WMaxLim_Ena 0).
       Its simulator acts as an inverter on Conn: 0 → St OFF and W 0; 1 → St MPPT again.
  ess: models 1, 124 (ChaSt, StorCtl_Mod 0, InWRte / OutWRte with InOutWRte_SF -1), 802; no
       model 123, so it cannot be connected or disconnected.
Checked against the devices' registers read by this test's own Modbus client and against the
SunSpec scaling (percent = raw × 10^SF), never against the bridge's output:
  - before the bridge has reported a source, a command to it is refused unknown_target;
  - `hems der pv limit 40`: exit 0, "sense-back confirmed"; the journal holds the request (kind der,
    der packed as 1 + 4 × 3 + 64 × 400), the command (der pv, der_action limit, der_permille 400, target 8, cause_seq
    the request), an actuation and a sense_back (actuator sunspec, command_seq the command,
    result ok, verdict confirmed), in that order; the device reads WMaxLimPct 40, WMaxLim_Ena 1;
  - disconnect: Conn reads 0, and a der record with state off comes before the sense_back;
    connect: Conn 1, producing again;
  - `hems der ess charge_limit 25.5`: InWRte reads 255 (25.5 % at SF -1), StorCtl_Mod bit 0 set;
  - `hems der ess connect`: the device has no model 123: actuation failed, sense_back
    no_feedback, exit 1;
  - a second pv command within 10 s of the last: rate_limit;
  - a viewer's command is refused role; a malformed one (charge_limit on pv) exits 2 and
    journals nothing;
  - with no bridge running, a command ends after 30 s in no_feedback and a
    fault{der_command_unexecuted}; meanwhile an automation peer outside roles.der_bridge (uid
    65532) can neither take nor report it, a der_bridge peer (65531) that did not take it cannot
    report it, and once 65531 takes it the bridge's uid is not handed it;
  - no relay of the DER branches moved for any of them (their actuations are the 5 sunspec ones), and
    `hems replay --check` is clean afterwards.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import json, os, signal, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, wait_for, start, stop, hems, records
import test_bridge_sunspec as ss

ss.MODELS[123] = [("Conn_WinTms", "uint16"), ("Conn_RvrtTms", "uint16"), ("Conn", "enum16"), ("WMaxLimPct", "uint16"),
                  ("WMaxLimPct_WinTms", "uint16"), ("WMaxLimPct_RvrtTms", "uint16"), ("WMaxLimPct_RmpTms", "uint16"),
                  ("WMaxLim_Ena", "enum16"), ("OutPFSet", "int16"), ("OutPFSet_WinTms", "uint16"),
                  ("OutPFSet_RvrtTms", "uint16"), ("OutPFSet_RmpTms", "uint16"), ("OutPFSet_Ena", "enum16"),
                  ("VArWMaxPct", "int16"), ("VArMaxPct", "int16"), ("VArAvalPct", "int16"), ("VArPct_WinTms", "uint16"),
                  ("VArPct_RvrtTms", "uint16"), ("VArPct_RmpTms", "uint16"), ("VArPct_Mod", "enum16"),
                  ("VArPct_Ena", "enum16"), ("WMaxLimPct_SF", "sunssf"), ("OutPFSet_SF", "sunssf"), ("VArPct_SF", "sunssf")]
ss.LENGTHS[123] = 24

# The simulator: test_bridge_sunspec's, plus an inverter's answer to Conn (addresses passed in).
SIM = r'''
import asyncio, json, os, sys
from pymodbus.server import StartAsyncTcpServer
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSlaveContext, ModbusServerContext
port, path = int(sys.argv[1]), sys.argv[2]
conn_at, st_at, w_at = (int(x) for x in sys.argv[3:6]) if len(sys.argv) > 5 else (0, 0, 0)
img = json.load(open(path))
block = ModbusSequentialDataBlock(img["base"], img["regs"])
ctx = ModbusServerContext(slaves=ModbusSlaveContext(hr=block, zero_mode=True), single=True)

async def physics():
    w_on = block.getValues(w_at, 1)[0] if w_at else 0
    while conn_at:
        await asyncio.sleep(0.1)
        conn, st = block.getValues(conn_at, 1)[0], block.getValues(st_at, 1)[0]
        if conn == 0 and st != 1:
            block.setValues(st_at, [1]); block.setValues(w_at, [0])
        elif conn == 1 and st == 1:
            block.setValues(st_at, [4]); block.setValues(w_at, [w_on])

async def main():
    server = await StartAsyncTcpServer(context=ctx, address=("127.0.0.1", port), defer_start=True)
    asyncio.ensure_future(physics())
    await server.serve_forever()
asyncio.run(main())
'''


def addr_of(dev, mid, point):
    """The register address of a point: base + SunS (2) + each model's ID, L and points before."""
    a = dev.base + 2
    for m, _ in dev.models:
        if m == mid:
            off = 0
            for p in ss.MODELS[m]:
                if p[0] == point:
                    return a + 2 + off
                size = ss.TYPES[p[1]][0]
                off += size if size else p[2]
        a += 2 + ss.LENGTHS[m]
    raise KeyError(point)


def read_reg(dev, addr):
    """One holding register read by this test's own client (pymodbus), not the bridge."""
    code = ("from pymodbus.client import ModbusTcpClient\n"
            "c = ModbusTcpClient('127.0.0.1', port=%d); c.connect()\n"
            "r = c.read_holding_registers(%d, 1)\n"
            "print(r.registers[0]); c.close()\n" % (dev.port, addr))
    out = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True, timeout=30)
    ok(out.returncode == 0, "reading register %d: %s" % (addr, out.stderr[-300:]))
    return int(out.stdout.split()[-1])


LAST = {}


def der_cmd(*args, user=None, pace=True):
    """hems der …; paced: a source's commands at least 10.5 s apart (the fold refuses one within
    10 s of the last, rate_limit)."""
    src = args[2] if len(args) > 2 else None
    if pace and src in LAST:
        time.sleep(max(0.0, 10.5 - (time.time() - LAST[src])))
    kw = {"user": user} if user is not None else {}
    r = subprocess.run([HEMS, "der", *args], capture_output=True, text=True, timeout=150, **kw)
    if "command seq" in r.stdout:
        LAST[src] = time.time()
    return r


def packed(target, action, permille=0):
    """A der request's `der` (schemas/replay.cddl): target + 4 × action + 64 × permille."""
    return {"pv": 1, "ess": 2}[target] + 4 * ACTIONS[action] + 64 * permille


ACTIONS = {"connect": 1, "disconnect": 2, "limit": 3, "charge_limit": 4, "discharge_limit": 5}


def sock_line(d, uid, req):
    """One request line on the daemon's socket from a process running as uid: the answer."""
    code = ("import json, socket, sys\n"
            "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode() + b'\\n')\n"
            "b = b''\n"
            "while not b.endswith(b'\\n'):\n"
            "    x = s.recv(4096)\n"
            "    if not x: break\n"
            "    b += x\n"
            "print(b.decode())\n")
    r = subprocess.run(["/usr/bin/python3", "-c", code, os.path.join(d, "control.sock"), json.dumps(req)],
                       capture_output=True, text=True, timeout=30, user=uid, group=0, extra_groups=[])
    ok(r.returncode == 0, "socket client as uid %d: %s" % (uid, r.stderr[-300:]))
    return json.loads(r.stdout)


def by_seq(d, types, seq):
    rs = [r for r in records(d, types) if r["seq"] == seq]
    return rs[0] if rs else None


def check_chain(d, req_body, cmd_fields, verdict, result):
    """The newest der request, its command, actuation and sense_back: fields and order (the
    answer may come before the group holding the sense_back is durable: waited for)."""
    wait_for(lambda: (lambda q: q and any(c["body"].get("cause_seq") == q[-1]["seq"] and
                                          [x for x in records(d, "sense_back") if x["body"].get("command_seq") == c["seq"]]
                                          for c in records(d, "command")))(
                 [r for r in records(d, "request") if r["body"].get("kind") == "der"]), "the sense_back durable", 20)
    reqs = [r for r in records(d, "request") if r["body"].get("kind") == "der"]
    q = reqs[-1]
    for k, v in req_body.items():
        ok(q["body"].get(k) == v, "request %s = %r: %s" % (k, v, q["body"]))
    cmds = [r for r in records(d, "command") if r["body"].get("cause_seq") == q["seq"]]
    ok(len(cmds) == 1, "one command for request seq %d" % q["seq"])
    c = cmds[0]
    for k, v in cmd_fields.items():
        ok(c["body"].get(k) == v, "command %s = %r: %s" % (k, v, c["body"]))
    acts = [r for r in records(d, "actuation") if r["body"].get("command_seq") == c["seq"]]
    ok(len(acts) == 1 and acts[0]["body"]["actuator"] == "sunspec" and acts[0]["body"]["result"] == result,
       "one sunspec actuation (%s) for command seq %d: %s" % (result, c["seq"], acts))
    sbs = [r for r in records(d, "sense_back") if r["body"].get("command_seq") == c["seq"]]
    ok(len(sbs) == 1 and sbs[0]["body"]["actuator"] == "sunspec" and sbs[0]["body"]["verdict"] == verdict,
       "one sunspec sense_back (%s) for command seq %d: %s" % (verdict, c["seq"], sbs))
    ok(q["seq"] < c["seq"] < acts[0]["seq"] < sbs[0]["seq"], "request < command < actuation < sense_back")
    return c, sbs[0]


def main():
    tmp = None
    try:
        tmp, d, daemon = lib.panel_with_daemon("bridge-der", {"automation": [65534, 65532, 65531], "viewer": [65533],
                                                               "der_bridge": [65534, 65531]})
        script = os.path.join(tmp, "sim.py")
        open(script, "w").write(SIM)
        common = lambda md: {"Mn": "hems-test", "Md": md, "Vr": "1.0", "SN": "SIM-" + md, "DA": 1}
        pv = ss.Device(tmp, "pv", 40000, [(1, common("inv103")), (103, {"W": 345, "W_SF": 1, "Hz": 5001, "Hz_SF": -2, "St": 4}),
                                          (123, {"Conn": 1, "WMaxLimPct": 100, "WMaxLimPct_SF": 0, "WMaxLim_Ena": 0})])
        ess = ss.Device(tmp, "ess", 40000, [(1, common("bat802")),
                                            (124, {"ChaSt": 4, "ChaState_SF": -1, "StorCtl_Mod": 0, "InWRte": 1000,
                                                   "OutWRte": 1000, "InOutWRte_SF": -1}),
                                            (802, {"SoC": 523, "SoC_SF": -1, "W_SF": 0, "State": 3})])
        conn, st, w = addr_of(pv, 123, "Conn"), addr_of(pv, 103, "St"), addr_of(pv, 103, "W")
        pv.p = start(["/usr/bin/python3", script, str(pv.port), pv.path, str(conn), str(st), str(w)], pv.log)
        wait_for(lambda: ss.port_open(pv.port), "pv simulator", 30)
        ess.start(script)
        ss.name_devices(d, daemon, pv, ess)

        # before any der record via SunSpec: nothing could execute it
        r = der_cmd("--dir", d, "pv", "disconnect")
        ok(r.returncode == 1 and "refused: unknown_target" in r.stdout, "before the bridge: unknown_target: %s %s" % (r.stdout, r.stderr))

        blog = os.path.join(tmp, "bridge.log")
        bridge = start([HEMS, "bridge", "sunspec", "--dir", d, "--interval", "300ms", "--stale-after", "5s"], blog,
                       user=65534, group=0, extra_groups=[])
        wait_for(lambda: ss.ders(d, "pv") and ss.ders(d, "ess"), "der records via sunspec for pv and ess")

        # curtailment: 40 % of WMax at WMaxLimPct_SF 0 is the raw 40
        r = der_cmd("--dir", d, "pv", "limit", "40", "--request-id", "cur-1")
        ok(r.returncode == 0 and "sense-back confirmed" in r.stdout, "pv limit 40: confirmed: %s %s" % (r.stdout, r.stderr))
        check_chain(d, {"der": packed("pv", "limit", 400), "request_id": "cur-1"},
                    {"der": "pv", "der_action": "limit", "der_permille": 400, "target": 8, "request_id": "cur-1"},
                    "confirmed", "ok")
        ok(read_reg(pv, addr_of(pv, 123, "WMaxLimPct")) == 40 and read_reg(pv, addr_of(pv, 123, "WMaxLim_Ena")) == 1,
           "the device reads WMaxLimPct 40 and WMaxLim_Ena 1")

        # disconnect: Conn 0; the inverter goes off, and that poll's der record precedes the proof
        r = der_cmd("--dir", d, "pv", "disconnect")
        ok(r.returncode == 0 and "sense-back confirmed" in r.stdout, "pv disconnect: confirmed: %s %s" % (r.stdout, r.stderr))
        c, sb = check_chain(d, {"der": packed("pv", "disconnect")}, {"der": "pv", "der_action": "disconnect", "desired": "off"},
                            "confirmed", "ok")
        ok(read_reg(pv, conn) == 0 and read_reg(pv, st) == 1, "the device reads Conn 0 and St OFF")
        offs = [x for x in ss.ders(d, "pv") if c["seq"] < x["seq"] < sb["seq"] and x["body"]["state"] == "off"]
        ok(offs, "a der record with state off between the command and its sense_back")
        r = der_cmd("--dir", d, "pv", "connect")
        t_connect = time.time()
        ok(r.returncode == 0 and "sense-back confirmed" in r.stdout, "pv connect: confirmed: %s %s" % (r.stdout, r.stderr))
        # within 10 s of that command: rate_limit (no toggling faster than the proof loop)
        r = der_cmd("--dir", d, "pv", "disconnect", pace=False)
        ok(r.returncode == 1 and "refused: rate_limit" in r.stdout, "pv disconnect right after: rate_limit: %s %s" % (r.stdout, r.stderr))
        ok(read_reg(pv, conn) == 1 and read_reg(pv, st) == 4, "the device reads Conn 1 and St MPPT")

        # storage: 25.5 % at InOutWRte_SF -1 is the raw 255; StorCtl_Mod bit 0 enables it
        r = der_cmd("--dir", d, "ess", "charge_limit", "25.5")
        ok(r.returncode == 0 and "sense-back confirmed" in r.stdout, "ess charge_limit 25.5: confirmed: %s %s" % (r.stdout, r.stderr))
        check_chain(d, {"der": packed("ess", "charge_limit", 255)},
                    {"der": "ess", "der_action": "charge_limit", "der_permille": 255, "target": 9}, "confirmed", "ok")
        ok(read_reg(ess, addr_of(ess, 124, "InWRte")) == 255 and read_reg(ess, addr_of(ess, 124, "StorCtl_Mod")) & 1 == 1,
           "the device reads InWRte 255 and StorCtl_Mod bit 0")

        # a device without model 123 cannot be connected: the write fails, no_feedback
        r = der_cmd("--dir", d, "ess", "connect")
        ok(r.returncode == 1 and "sense-back no_feedback" in r.stdout, "ess connect: no_feedback: %s %s" % (r.stdout, r.stderr))
        check_chain(d, {"der": packed("ess", "connect")}, {"der": "ess", "der_action": "connect"}, "no_feedback", "failed")
        ok("no model 123" in open(blog).read(), "the bridge says why")

        # roles and malformed requests
        n_req = len(records(d, "request"))
        r = der_cmd("--dir", d, "pv", "charge_limit", "10")
        ok(r.returncode == 2 and len(records(d, "request")) == n_req, "charge_limit on pv: usage, nothing journaled: %s" % r.stderr)
        r = der_cmd("--dir", d, "pv", "limit", "101")
        ok(r.returncode == 2, "limit 101 %%: usage: %s" % r.stderr)
        r = der_cmd("--dir", d, "pv", "connect", user=65533, pace=False)
        ok(r.returncode == 1 and "refused: role" in r.stdout, "a viewer is refused role: %s %s" % (r.stdout, r.stderr))

        # no bridge: the command is durable, unexecuted, and ends in no_feedback after 30 s
        stop(bridge)
        time.sleep(max(0.0, 10.5 - (time.time() - t_connect)))  # past the rate limit
        # pv reported fresh once more (by a der_bridge uid), so the fold takes the command
        a = sock_line(d, 65531, {"op": "der_observe", "source": "pv", "state": "producing", "w": 3450, "age_ms": 0})
        ok(a.get("ok") is True, "der_observe from uid 65531 (der_bridge): %s" % a)
        t0 = time.time()
        pend = subprocess.Popen([HEMS, "der", "--dir", d, "pv", "limit", "50"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        c = wait_for(lambda: ([x for x in records(d, "command") if x["body"].get("der_permille") == 500] or [None])[-1],
                     "the limit 50 command journaled")
        # an automation peer outside der_bridge can neither take nor report it; a der_bridge peer
        # that did not take it cannot report it
        for op in ({"op": "der_command", "source": "pv"},
                   {"op": "der_report", "source": "pv", "command_seq": c["seq"], "stage": "written"}):
            a = sock_line(d, 65532, op)
            ok(a.get("ok") is False and "not in roles.der_bridge" in a.get("error", ""), "uid 65532 (automation) refused: %s" % a)
        a = sock_line(d, 65531, {"op": "der_report", "source": "pv", "command_seq": c["seq"], "stage": "written"})
        ok(a.get("ok") is False and "another peer" in a.get("error", ""), "a der_bridge peer that did not take it: %s" % a)
        a = sock_line(d, 65531, {"op": "der_command", "source": "pv"})
        ok(a.get("ok") is True and a["command"]["seq"] == c["seq"], "uid 65531 (der_bridge) takes it: %s" % a)
        a = sock_line(d, 65534, {"op": "der_command", "source": "pv"})
        ok(a.get("ok") is True and a["command"] is None, "once taken, not handed to another peer: %s" % a)
        out, err = pend.communicate(timeout=150)
        ok(pend.returncode == 1 and "no_feedback" in out and time.time() - t0 >= 29, "no bridge: no_feedback after 30 s: %s %s" % (out, err))
        f = wait_for(lambda: [x for x in records(d, "fault") if x["body"]["code"] == "der_command_unexecuted"],
                     "the fault durable", 20)
        ok(len(f) == 1 and f[0]["body"]["value"] == c["seq"], "fault der_command_unexecuted naming seq %d: %s" % (c["seq"], f))
        ok(not [x for x in records(d, "actuation") if x["body"].get("command_seq") == c["seq"]], "no actuation for it")

        first = [r for r in records(d, "request") if r["body"].get("kind") == "der"][0]["seq"]
        dercmds = {x["seq"] for x in records(d, "command") if x["body"].get("der")}
        acts = [x for x in records(d, "actuation") if x["seq"] > first]
        mine = [x for x in acts if x["body"]["command_seq"] in dercmds]
        ok(len(mine) == 5 and all(x["body"]["actuator"] == "sunspec" for x in mine), "5 sunspec actuations for DER commands")
        ok(all(x["body"]["command_seq"] in dercmds for x in acts if x["body"]["actuator"] == "sunspec"),
           "every sunspec actuation names a DER command")
        ok(not [x for x in acts if x["body"]["target"] in (8, 9) and x["body"]["actuator"] != "sunspec"],
           "no relay of branch 8 or 9 moved for them")
        stop(pv.p)
        stop(ess.p)
        stop(daemon)
        r = hems("replay", "--dir", d, "--check")
        ok(r.returncode == 0, "replay --check clean: %s %s" % (r.stdout[-400:], r.stderr[-400:]))
        print("%d passed, 0 failed" % lib.passed)
    finally:
        lib.cleanup(tmp)


if __name__ == "__main__":
    main()
