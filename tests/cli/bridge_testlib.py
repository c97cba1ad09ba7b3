"""bridge_testlib — what the bridge tests (test_bridge_mqtt.py, test_bridge_modbus.py, test_ship.py)
share: checks that stop at the first failure and count the passed ones, free loopback ports,
waiting, processes started by the test (and killed at its end), a mosquitto broker, and the hems
CLI (status, timeline)."""
import json, os, random, shutil, signal, socket, subprocess, sys, tempfile, time

HEMS = os.environ.get("HEMS_BIN") or sys.exit("HEMS_BIN not set")
passed = 0
procs = []


def ok(cond, what):
    global passed
    if not cond:
        print("FAIL:", what, flush=True)
        raise SystemExit(1)
    passed += 1


def free_port():
    """A loopback port free now, below the kernel's ephemeral range: a port bind(0) gave is one
    any outgoing connection (a client of another test, run alongside) may take before the peer
    started on it binds it; below the range only another listener can."""
    try:
        low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    for _ in range(200):
        p = rng.randrange(10000, max(low, 10001))
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            pass
        finally:
            s.close()
    ok(False, "no free loopback port in 10000..%d" % (low - 1))


def wait_for(pred, what, timeout=60.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    ok(False, "timed out waiting for " + what)


def settled_value(fn, quiet=3.0):
    """fn() once it stopped changing: the same value twice, quiet seconds apart."""
    v = fn()
    while True:
        time.sleep(quiet)
        w = fn()
        if w == v:
            return v
        v = w


def start(args, log, **kw):
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(log, "ab"), **kw)
    procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Broker:
    """A Debian mosquitto on a free loopback port, its conf (and, with persist, its database) in
    tmp: never a system service. extra: more conf lines (anonymous clients are allowed unless
    they name a password_file)."""
    def __init__(self, tmp, name, extra="", persist=False):
        self.port = free_port()
        self.conf = os.path.join(tmp, name + ".conf")
        self.log = os.path.join(tmp, name + ".log")
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\n" % self.port)
            if persist:  # mosquitto started as root drops to its own user: it writes its db in tmp
                os.chmod(tmp, 0o777)
                f.write("persistence true\npersistence_location %s/\nmax_queued_messages 100000\n" % tmp)
            else:
                f.write("persistence false\n")
            f.write(extra)
            if "password_file" not in extra:
                f.write("allow_anonymous true\n")
        self.p = None

    def start(self):
        self.p = start(["/usr/sbin/mosquitto", "-c", self.conf], self.log)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        wait_for(up, "mosquitto on port %d" % self.port)

    def stop(self):
        stop(self.p)


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    ok(r.returncode == 0, "openssl %s: %s" % (args[0], r.stderr))


def tls_certs(tmp):
    """tmp/tls with a test CA (ca.pem, ca.key), a server certificate for localhost and 127.0.0.1
    (server.pem, server.key) and a client certificate (client.pem, client.key): the dir."""
    t = os.path.join(tmp, "tls")
    os.makedirs(t)
    os.chmod(t, 0o755)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=hems test ca", cwd=t)
    for name, cn in (("server", "localhost"), ("client", "bridge")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=t)
        with open(os.path.join(t, name + ".ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n" if name == "server" else "basicConstraints=CA:FALSE\n")
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
                name + ".pem", "-days", "2", "-extfile", name + ".ext", cwd=t)
    # mosquitto started as root drops to its own user: it must read its key
    os.chmod(os.path.join(t, "server.key"), 0o644)
    return t


def cleanup(tmp):
    """Kills what the test started and removes tmp (kept with HEMS_KEEP_TMP set)."""
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    if tmp and os.environ.get("HEMS_KEEP_TMP"):
        print("kept", tmp)
    elif tmp:
        shutil.rmtree(tmp, ignore_errors=True)


def hems(*args):
    return subprocess.run([HEMS, *args], capture_output=True, text=True, timeout=120)


def status(d):
    r = hems("status", "--dir", d, "--format", "json")
    ok(r.returncode == 0, "hems status: " + r.stderr)
    return json.loads(r.stdout)


def records(d, types):
    r = hems("timeline", "--dir", d, "--type", types, "--format", "jsonl")
    ok(r.returncode == 0, "hems timeline: " + r.stderr)
    return [json.loads(x) for x in r.stdout.splitlines() if x.strip()]


def panel_with_daemon(name, roles):
    """A scratch dir, a journal with DIR/config.json "roles" set, its daemon started and
    answering: (tmp, d, daemon). The dir 0750 root:root, so bridges run as gid 0."""
    tmp = tempfile.mkdtemp(prefix="hems-test-%s-" % name)
    os.chmod(tmp, 0o755)
    d = os.path.join(tmp, "d")
    ok(hems("init", "--dir", d).returncode == 0, "hems init")
    cfg = json.load(open(os.path.join(d, "config.json")))
    cfg["roles"] = roles
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    os.chmod(d, 0o750)
    daemon = start([HEMS, "run", "--dir", d], d + ".err")
    wait_for(lambda: '"source":"daemon"' in hems("status", "--dir", d, "--format", "json").stdout.replace(" ", ""),
             "the daemon's socket")
    return tmp, d, daemon


def show(d, seq):
    """hems show SEQ --format cbor: the record's exact bytes."""
    r = subprocess.run([HEMS, "show", "--dir", d, "--format", "cbor", str(seq)], capture_output=True, timeout=60)
    ok(r.returncode == 0, "hems show %d" % seq)
    return r.stdout


def cursor(state):
    """hems ship's cursor in its state file (0 before there is one)."""
    try:
        return json.load(open(state))["cursor"]
    except (OSError, ValueError):
        return 0
