#!/usr/bin/python3
"""bridge_mqtt_measure — CPU and RSS of `hems bridge mqtt` on the full panel (docs/home-assistant.md).

Not a CTest test (it runs for minutes): `HEMS_BIN=build/hems /usr/bin/python3
tests/cli/bridge_mqtt_measure.py [SECONDS]` (default 600). Starts a mosquitto broker on a free
loopback port, `hems run --sim full-panel` in real time (48 branches on 16 AFEs), the bridge
with its defaults (state every 10 s) and a paho-mqtt client subscribed to everything, as Home
Assistant would be. After a 20 s warm-up it reads the bridge's /proc/PID/stat (utime + stime)
and VmRSS/VmHWM from /proc/PID/status every 10 s for SECONDS, and the daemon's CPU the same way.
Prints one JSON object: CPU as a percent of one core over the window, RSS mean/max and the
peak (VmHWM), messages received by the client, records the daemon journaled.
"""
import json, os, signal, socket, subprocess, sys, tempfile, threading, time, shutil
import paho.mqtt.client as mqtt

HEMS = os.environ["HEMS_BIN"]
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 600.0
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def mem_kb(pid, key):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def main():
    tmp = tempfile.mkdtemp(prefix="hems-bridge-measure-")
    d = os.path.join(tmp, "d")
    procs = []
    try:
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        open(tmp + "/m.conf", "w").write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % port)
        procs.append(subprocess.Popen(["/usr/sbin/mosquitto", "-c", tmp + "/m.conf"], stderr=subprocess.DEVNULL))
        subprocess.run([HEMS, "init", "--dir", d], check=True, capture_output=True)
        daemon = subprocess.Popen([HEMS, "run", "--dir", d, "--sim", "full-panel"], stderr=open(tmp + "/run.err", "w"))
        procs.append(daemon)
        time.sleep(3)
        bridge = subprocess.Popen([HEMS, "bridge", "mqtt", "--dir", d, "--broker", "mqtt://127.0.0.1:%d" % port],
                                  stderr=open(tmp + "/bridge.err", "w"))
        procs.append(bridge)
        count = [0]
        c = mqtt.Client(client_id="measure")
        c.on_message = lambda cl, u, m: count.__setitem__(0, count[0] + 1)
        c.on_connect = lambda cl, u, f, rc: cl.subscribe("#")
        c.connect("127.0.0.1", port)
        c.loop_start()
        time.sleep(20)
        b0, d0, t0, m0 = cpu_s(bridge.pid), cpu_s(daemon.pid), time.time(), count[0]
        seq0 = json.loads(subprocess.run([HEMS, "status", "--dir", d, "--format", "json"], capture_output=True, text=True).stdout)["head_seq"]
        rss = []
        while time.time() - t0 < SECONDS:
            time.sleep(10)
            rss.append(mem_kb(bridge.pid, "VmRSS"))
        b1, d1, t1, m1 = cpu_s(bridge.pid), cpu_s(daemon.pid), time.time(), count[0]
        seq1 = json.loads(subprocess.run([HEMS, "status", "--dir", d, "--format", "json"], capture_output=True, text=True).stdout)["head_seq"]
        wall = t1 - t0
        print(json.dumps({
            "seconds": round(wall, 1),
            "bridge_cpu_pct": round(100 * (b1 - b0) / wall, 3),
            "bridge_cpu_s": round(b1 - b0, 2),
            "bridge_rss_kb_mean": round(sum(rss) / len(rss)),
            "bridge_rss_kb_max": max(rss),
            "bridge_vmhwm_kb": mem_kb(bridge.pid, "VmHWM"),
            "daemon_cpu_pct": round(100 * (d1 - d0) / wall, 2),
            "mqtt_messages": m1 - m0,
            "records_followed": seq1 - seq0,
        }))
        c.loop_stop()
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
