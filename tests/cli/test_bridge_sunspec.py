#!/usr/bin/python3
"""test_bridge_sunspec — `hems bridge sunspec` against SunSpec devices this test simulates itself.

Peers: the `hems run` daemon on the simulated default panel (der.pv on branch 8, der.ess on
branch 9), two pymodbus (Debian python3-pymodbus) Modbus TCP servers on free loopback ports, each
holding a register image this test builds from the SunSpec model definitions (sunspec/models
json/model_<id>.json: point offsets, types, not-implemented values), and the bridge as uid 65534,
gid 0, which DIR/config.json makes `automation` and lists in `der_bridge` (the uids whose DER
observations the daemon takes).
  pv:  "SunS" at 40000; model 1 (common, 66), model 103 (three-phase inverter, 50): W, W_SF,
       Hz, Hz_SF, St; everything else not implemented.
  ess: "SunS" at 0 (nothing at 40000: the bridge must fall back); model 1, model 124 (storage,
       24) with ChaSt but ChaState not implemented, model 802 (battery, 62) with SoC and SoC_SF
       but W not implemented.
Checked against what the test wrote into the devices (values computed here from the raw
register and its scale factor), never against the bridge's own output:
  - the bridge says it found SunS at 40000 for pv and at 0 for ess, with the models and lengths
    the images hold;
  - a `der` record via sunspec per source with the state SunSpec's St / ChaSt names (MPPT:
    producing, CHARGING: charging), w = W × 10^W_SF, soc_mpct = SoC × 10^SoC_SF × 1000, the
    branch of the panel config, fresh, from uid 65534's reports only;
  - not-implemented values are absent: ess has no "w" (802 W is 0x8000), pv has no "soc_mpct";
    setting pv's W_SF to 0x8000 (not implemented) makes the next record carry no "w";
  - a value change in a simulator (W and SoC) becomes a record with the new scaled values;
  - a simulator stopped becomes exactly one stale record (fresh false, reason stale) for its
    source, not one per poll; the other source goes on fresh; restarted, it is fresh again;
  - the daemon refuses a der_observe from a uid not in der_bridge (uid 65533, viewer).
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import json, os, signal, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, free_port, wait_for, start, stop, hems, records

# SunSpec point layouts (offsets from the register after ID and L), from the model definitions.
# type: (size in registers, not-implemented raw value)
TYPES = {"uint16": (1, 0xFFFF), "int16": (1, 0x8000), "sunssf": (1, 0x8000), "enum16": (1, 0xFFFF),
         "bitfield16": (1, 0xFFFF), "acc32": (2, 0), "uint32": (2, 0xFFFFFFFF), "bitfield32": (2, 0xFFFFFFFF),
         "string": (None, 0)}
MODELS = {
    1: [("Mn", "string", 16), ("Md", "string", 16), ("Opt", "string", 8), ("Vr", "string", 8), ("SN", "string", 16),
        ("DA", "uint16", 1), ("Pad", "uint16", 1)],
    103: [("A", "uint16"), ("AphA", "uint16"), ("AphB", "uint16"), ("AphC", "uint16"), ("A_SF", "sunssf"),
          ("PPVphAB", "uint16"), ("PPVphBC", "uint16"), ("PPVphCA", "uint16"), ("PhVphA", "uint16"), ("PhVphB", "uint16"),
          ("PhVphC", "uint16"), ("V_SF", "sunssf"), ("W", "int16"), ("W_SF", "sunssf"), ("Hz", "uint16"), ("Hz_SF", "sunssf"),
          ("VA", "int16"), ("VA_SF", "sunssf"), ("VAr", "int16"), ("VAr_SF", "sunssf"), ("PF", "int16"), ("PF_SF", "sunssf"),
          ("WH", "acc32"), ("WH_SF", "sunssf"), ("DCA", "uint16"), ("DCA_SF", "sunssf"), ("DCV", "uint16"),
          ("DCV_SF", "sunssf"), ("DCW", "int16"), ("DCW_SF", "sunssf"), ("TmpCab", "int16"), ("TmpSnk", "int16"),
          ("TmpTrns", "int16"), ("TmpOt", "int16"), ("Tmp_SF", "sunssf"), ("St", "enum16"), ("StVnd", "enum16"),
          ("Evt1", "bitfield32"), ("Evt2", "bitfield32"), ("EvtVnd1", "bitfield32"), ("EvtVnd2", "bitfield32"),
          ("EvtVnd3", "bitfield32"), ("EvtVnd4", "bitfield32")],
    124: [("WChaMax", "uint16"), ("WChaGra", "uint16"), ("WDisChaGra", "uint16"), ("StorCtl_Mod", "bitfield16"),
          ("VAChaMax", "uint16"), ("MinRsvPct", "uint16"), ("ChaState", "uint16"), ("StorAval", "uint16"),
          ("InBatV", "uint16"), ("ChaSt", "enum16"), ("OutWRte", "int16"), ("InWRte", "int16"),
          ("InOutWRte_WinTms", "uint16"), ("InOutWRte_RvrtTms", "uint16"), ("InOutWRte_RmpTms", "uint16"),
          ("ChaGriSet", "enum16"), ("WChaMax_SF", "sunssf"), ("WChaDisChaGra_SF", "sunssf"), ("VAChaMax_SF", "sunssf"),
          ("MinRsvPct_SF", "sunssf"), ("ChaState_SF", "sunssf"), ("StorAval_SF", "sunssf"), ("InBatV_SF", "sunssf"),
          ("InOutWRte_SF", "sunssf")],
    802: [("AHRtg", "uint16"), ("WHRtg", "uint16"), ("WChaRteMax", "uint16"), ("WDisChaRteMax", "uint16"),
          ("DisChaRte", "uint16"), ("SoCMax", "uint16"), ("SoCMin", "uint16"), ("SoCRsvMax", "uint16"),
          ("SoCRsvMin", "uint16"), ("SoC", "uint16"), ("DoD", "uint16"), ("SoH", "uint16"), ("NCyc", "uint32"),
          ("ChaSt", "enum16"), ("LocRemCtl", "enum16"), ("Hb", "uint16"), ("CtrlHb", "uint16"), ("AlmRst", "uint16"),
          ("Typ", "enum16"), ("State", "enum16"), ("StateVnd", "enum16"), ("WarrDt", "uint32"), ("Evt1", "bitfield32"),
          ("Evt2", "bitfield32"), ("EvtVnd1", "bitfield32"), ("EvtVnd2", "bitfield32"), ("V", "uint16"),
          ("VMax", "uint16"), ("VMin", "uint16"), ("CellVMax", "uint16"), ("CellVMaxStr", "uint16"),
          ("CellVMaxMod", "uint16"), ("CellVMin", "uint16"), ("CellVMinStr", "uint16"), ("CellVMinMod", "uint16"),
          ("CellVAvg", "uint16"), ("A", "int16"), ("AChaMax", "uint16"), ("ADisChaMax", "uint16"), ("W", "int16"),
          ("ReqInvState", "enum16"), ("ReqW", "int16"), ("SetOp", "enum16"), ("SetInvState", "enum16"),
          ("AHRtg_SF", "sunssf"), ("WHRtg_SF", "sunssf"), ("WChaDisChaMax_SF", "sunssf"), ("DisChaRte_SF", "sunssf"),
          ("SoC_SF", "sunssf"), ("DoD_SF", "sunssf"), ("SoH_SF", "sunssf"), ("V_SF", "sunssf"), ("CellV_SF", "sunssf"),
          ("A_SF", "sunssf"), ("AMax_SF", "sunssf"), ("W_SF", "sunssf")],
}
LENGTHS = {1: 66, 103: 50, 124: 24, 802: 62}
ST_103 = {1: "off", 2: "sleeping", 3: "starting", 4: "producing", 5: "throttled", 6: "shutting_down", 7: "fault", 8: "standby"}
CHAST = {1: "off", 2: "idle", 3: "discharging", 4: "charging", 5: "idle", 6: "idle", 7: "idle"}


def model_regs(mid, values):
    """A model's registers (without ID and L): every point not implemented unless values names it."""
    out = []
    for p in MODELS[mid]:
        name, typ = p[0], p[1]
        size, ni = TYPES[typ]
        if typ == "string":
            s = values.get(name, "").encode().ljust(2 * p[2], b"\0")
            out += [s[i] << 8 | s[i + 1] for i in range(0, 2 * p[2], 2)]
            continue
        v = values.get(name, ni)
        if typ in ("int16", "sunssf") and v < 0:
            v += 0x10000
        out += [v] if size == 1 else [v >> 16 & 0xFFFF, v & 0xFFFF]
    if len(out) != LENGTHS[mid]:
        ok(False, "model %d: %d registers, the definition says %d" % (mid, len(out), LENGTHS[mid]))
    return out


def image(models):
    """'SunS', then each (id, values) as ID, L, points, then the end model."""
    regs = [0x5375, 0x6E53]
    for mid, values in models:
        regs += [mid, LENGTHS[mid]] + model_regs(mid, values)
    return regs + [0xFFFF, 0]


SIM = r'''
import asyncio, json, os, sys
from pymodbus.server import StartAsyncTcpServer
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSlaveContext, ModbusServerContext
port, path = int(sys.argv[1]), sys.argv[2]
img = json.load(open(path))
block = ModbusSequentialDataBlock(img["base"], img["regs"])
ctx = ModbusServerContext(slaves=ModbusSlaveContext(hr=block, zero_mode=True), single=True)

async def watch():
    seen = os.stat(path).st_mtime_ns
    while True:
        await asyncio.sleep(0.1)
        m = os.stat(path).st_mtime_ns
        if m != seen:
            seen = m
            new = json.load(open(path))
            block.setValues(new["base"], new["regs"])

async def main():
    server = await StartAsyncTcpServer(context=ctx, address=("127.0.0.1", port), defer_start=True)
    asyncio.ensure_future(watch())
    await server.serve_forever()
asyncio.run(main())
'''


class Device:
    def __init__(self, tmp, name, base, models):
        self.path = os.path.join(tmp, name + ".json")
        self.log = os.path.join(tmp, name + ".log")
        self.port, self.base, self.models, self.p = free_port(), base, models, None
        self.write()

    def write(self):
        tmp = self.path + ".tmp"
        json.dump({"base": self.base, "regs": image(self.models)}, open(tmp, "w"))
        os.replace(tmp, self.path)

    def set(self, mid, **values):
        for m, v in self.models:
            if m == mid:
                v.update(values)
        self.write()

    def start(self, script):
        self.p = start(["/usr/bin/python3", script, str(self.port), self.path], self.log)
        wait_for(lambda: self.p.poll() is None and port_open(self.port), "simulator on port %d" % self.port, 30)


def port_open(port):
    import socket
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def name_devices(d, daemon, pv, ess):
    """DIR/config.json's der.pv and der.ess name the two devices (unit 1); SIGHUP makes the
    daemon journal it: the config, once its config record is there."""
    cfgp = os.path.join(d, "config.json")
    cfg = json.load(open(cfgp))
    ok("pv" in cfg["der"] and "ess" in cfg["der"], "the default panel has der.pv and der.ess")
    cfg["der"]["pv"].update({"sunspec": "tcp://127.0.0.1:%d" % pv.port, "unit": 1})
    cfg["der"]["ess"].update({"sunspec": "tcp://127.0.0.1:%d" % ess.port, "unit": 1})
    json.dump(cfg, open(cfgp, "w"))
    os.chmod(cfgp, 0o640)
    configs = len(records(d, "config"))
    daemon.send_signal(signal.SIGHUP)
    wait_for(lambda: len(records(d, "config")) > configs, "a config record after SIGHUP")
    return cfg


def ders(d, source):
    return [r for r in records(d, "der") if r["source"] == "der:" + source and r["body"].get("via") == "sunspec"]


def last_der(d, source, pred, what, timeout=30):
    def f():
        rs = [r for r in ders(d, source) if pred(r["body"])]
        return rs[-1] if rs else None
    return wait_for(f, what, timeout)


def main():
    tmp = None
    try:
        tmp, d, daemon = lib.panel_with_daemon("bridge-sunspec", {"automation": [65534], "der_bridge": [65534]})
        script = os.path.join(tmp, "sim.py")
        open(script, "w").write(SIM)
        common = lambda md: {"Mn": "hems-test", "Md": md, "Vr": "1.0", "SN": "SIM-" + md, "DA": 1}
        pv = Device(tmp, "pv", 40000, [(1, common("inv103")), (103, {"W": 345, "W_SF": 1, "Hz": 5001, "Hz_SF": -2, "St": 4})])
        ess = Device(tmp, "ess", 0, [(1, common("bat802")), (124, {"ChaSt": 4, "ChaState_SF": -1}),
                                     (802, {"SoC": 523, "SoC_SF": -1, "W_SF": 0, "State": 3})])
        pv.start(script)
        ess.start(script)
        cfg = name_devices(d, daemon, pv, ess)
        last_cfg = json.loads(records(d, "config")[-1]["body"]["json"])
        ok(last_cfg["der"]["pv"]["sunspec"] == "tcp://127.0.0.1:%d" % pv.port and last_cfg["der"]["ess"]["unit"] == 1,
           "the journaled config carries der.pv.sunspec and der.ess.unit")

        blog = os.path.join(tmp, "bridge.log")
        bridge = start([HEMS, "bridge", "sunspec", "--dir", d, "--interval", "500ms", "--stale-after", "2s"], blog,
                       user=65534, group=0, extra_groups=[])
        # discovery: the marker at 40000 for pv, at 0 for ess (after an exception at 40000)
        wait_for(lambda: "SunS at 0;" in open(blog).read() and "SunS at 40000;" in open(blog).read(), "discovery in the log")
        log = open(blog).read()
        ok("pv (tcp://127.0.0.1:%d unit 1): SunS at 40000; models 1 (66), 103 (50)\n" % pv.port in log, "pv: SunS at 40000, 1 and 103")
        ok("ess (tcp://127.0.0.1:%d unit 1): SunS at 0; models 1 (66), 124 (24), 802 (62)\n" % ess.port in log,
           "ess: SunS at 0, 1, 124 and 802")

        # first values: scaled here from the raw registers
        r = last_der(d, "pv", lambda b: b.get("w") == 345 * 10, "pv der with w 3450")
        b = r["body"]
        ok(b["state"] == ST_103[4] and b["fresh"] and b["branch"] == cfg["der"]["pv"]["branch"] and "soc_mpct" not in b,
           "pv: producing (St 4, MPPT), fresh, branch %d, no soc: %s" % (cfg["der"]["pv"]["branch"], b))
        r = last_der(d, "ess", lambda b: b.get("soc_mpct") == 523 * 100, "ess der with soc 52.3 %")
        b = r["body"]
        ok(b["state"] == CHAST[4] and b["fresh"] and b["branch"] == cfg["der"]["ess"]["branch"], "ess: charging (ChaSt 4): %s" % b)
        ok("w" not in b, "ess: 802 W not implemented (0x8000): no w: %s" % b)
        reqs = [x for x in records(d, "request") if x["body"].get("uid") == 65534]
        ok(not reqs, "observations are not switch requests")

        # a value change in the simulators becomes a der record with the new scaled values
        pv.set(103, W=412, St=5)
        ess.set(802, SoC=561)
        r = last_der(d, "pv", lambda b: b.get("w") == 4120, "pv der with w 4120")
        ok(r["body"]["state"] == ST_103[5], "pv: throttled (St 5): %s" % r["body"])
        last_der(d, "ess", lambda b: b.get("soc_mpct") == 56100, "ess der with soc 56.1 %")
        # a negative scale factor: W 4567 × 10^-1 = 456.7 W, rounded to 457
        pv.set(103, W=4567, W_SF=-1)
        last_der(d, "pv", lambda b: b.get("w") == 457, "pv der with w 457 (4567 × 10^-1)")
        # W_SF not implemented: the power is absent, not a number
        n0 = len(ders(d, "pv"))
        pv.set(103, W_SF=0x8000 - 0x10000)
        r = wait_for(lambda: (lambda rs: rs[-1] if len(rs) > n0 and "w" not in rs[-1]["body"] else None)(ders(d, "pv")),
                     "pv der without w")
        ok(r["body"]["fresh"] and r["body"]["state"] == "throttled", "pv: W_SF 0x8000: w absent, state kept: %s" % r["body"])

        # a role that may not report
        b2log = os.path.join(tmp, "bridge2.log")
        bridge2 = start([HEMS, "bridge", "sunspec", "--dir", d, "--interval", "500ms"], b2log, user=65533, group=0,
                        extra_groups=[])
        wait_for(lambda: "the daemon says: refused: role viewer may not report DER observations" in open(b2log).read(),
                 "uid 65533 (viewer) refused by the daemon")
        stop(bridge2)
        # the pv simulator stops answering: one stale record, not one per poll
        stop(pv.p, signal.SIGKILL)
        r = last_der(d, "pv", lambda b: not b["fresh"], "a stale pv record")
        ok(r["body"]["reason"] == "stale" and "w" not in r["body"] and r["body"]["state"] == "throttled",
           "stale: reason stale, the last state, no values: %s" % r["body"])
        time.sleep(4)  # 8 polls at 500 ms, all failing
        stale = [x for x in ders(d, "pv") if not x["body"]["fresh"]]
        ok(len(stale) == 1, "one stale pv record, not one per poll: %d" % len(stale))
        ok([x for x in ders(d, "pv")][-1]["seq"] == stale[0]["seq"], "nothing for pv after the stale record")
        e0 = ders(d, "ess")[-1]["seq"]
        wait_for(lambda: ders(d, "ess")[-1]["seq"] > e0, "ess goes on (heartbeat)", 20)
        ok(all(x["body"]["fresh"] for x in ders(d, "ess")), "ess stays fresh")
        # answering again: fresh again
        pv.set(103, W_SF=1)
        pv.start(script)
        last_der(d, "pv", lambda b: b["fresh"] and b.get("w") == 45670, "pv fresh again with w 45670")
        ok("answering again" in open(blog).read(), "the bridge says pv answers again")
        stop(bridge)
        ok(bridge.returncode == 0, "bridge exits 0 on SIGTERM")
        stop(pv.p)
        stop(ess.p)
        stop(daemon)
        print("%d passed, 0 failed" % lib.passed)
    finally:
        lib.cleanup(tmp)


if __name__ == "__main__":
    main()
