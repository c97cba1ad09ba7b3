#!/usr/bin/python3
"""test_plot_report — `hems plot` and `hems report`, rendered by headless Chromium (Debian `chromium`).

The journal: sag-and-inrush (a 50 % dip of 200 ms on all phases at 20 s, captured) with a
branch renamed to HTML (`<img src=x onerror=…>`) and a switch whose request id is a script tag.
Checked against what the renderer and independent readers say, not against our own output:
  - the dip's picture renders in Chromium to a PNG that is not blank (pixels other than the
    background, decoded here); its DOM holds one waveform per analog channel of the same capture
    exported as COMTRADE (`hems capture`: the .cfg's channels, V and A counted), one half-cycle
    RMS trace per voltage channel, the two thresholds and the trigger;
  - the half-cycle RMS trace falls to about half of the panel's nominal (the dip's depth);
  - the energy picture has one pair of bars per branch of the scenario;
  - the HTML report says VERIFIED with the key's fingerprint (from `hems key`-less `verify`), its
    energy per branch equals the sums of the windows' import_uwh (from `timeline --format jsonl`,
    summed here), lists the commands with their sense-back verdicts, the dip, the AFCI trip's
    finding; the hostile name and request id arrive as text (Chromium's DOM has no <img> or
    <script> element from them); it renders to a non-blank PNG; the text report has the same
    sections;
  - a bundle with one byte changed: the report says NOT VERIFIED at its top and exit 1.
Prints "N passed, 0 failed" at the end; exits 1 on the first failure.
"""
import json, os, re, struct, subprocess, sys, tempfile, zlib
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bridge_testlib as lib
from bridge_testlib import HEMS, ok, hems

HERE = os.path.dirname(os.path.abspath(__file__))
SCEN = os.path.join(HERE, "..", "..", "hw", "sim", "scenarios", "sag-and-inrush.json")
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_RID = "<script>alert(2)</script>"


def chromium(args, timeout=120):
    r = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
                       capture_output=True, text=True, timeout=timeout)
    return r


def png_pixels(path):
    """Decodes an 8-bit RGB/RGBA PNG (Chromium's screenshots): (width, height, rows of bytes)."""
    data = open(path, "rb").read()
    ok(data[:8] == b"\x89PNG\r\n\x1a\n", "a PNG: " + path)
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", chunk[:10])
            ok(depth == 8 and ctype in (2, 6), "8-bit RGB(A) PNG")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def not_blank(path, minimum):
    w, h, bpp, rows = png_pixels(path)
    ink = sum(1 for r in rows for x in range(0, w * bpp, bpp) if r[x:x + 3] != b"\xff\xff\xff")
    ok(ink >= minimum, "%s: %d non-white pixels (want ≥ %d)" % (path, ink, minimum))
    return ink


def main():
    tmp = tempfile.mkdtemp(prefix="hems-plot-")
    try:
        scen = json.load(open(SCEN))
        scen["panel"]["branches"][0]["name"] = HOSTILE_NAME
        scen["timeline"].append({"at": "30s", "do": "switch", "branch": 2, "desired": "off", "request_id": HOSTILE_RID})
        sp = os.path.join(tmp, "scen.json")
        json.dump(scen, open(sp, "w"))
        d = os.path.join(tmp, "d")
        ok(hems("init", "--dir", d).returncode == 0, "init")
        r = subprocess.run([HEMS, "run", "--dir", d, "--sim", sp, "--for", "120s", "--speed", "max"], capture_output=True, text=True, timeout=300)
        ok(r.returncode == 0, "run: " + r.stderr)
        dip = next(x for x in lib.records(d, "pq_event") if x["body"]["kind"] == "dip")

        # ---- the dip's picture
        svg = os.path.join(tmp, "dip.svg")
        r = hems("plot", "--dir", d, str(dip["seq"]), "--out", svg)
        ok(r.returncode == 0, "plot: " + r.stderr)
        ct = os.path.join(tmp, "dip")
        ok(hems("capture", "--dir", d, str(dip["seq"]), "--comtrade", ct).returncode == 0, "capture as COMTRADE")
        cfg = open(ct + ".cfg").read().splitlines()
        nana = int(re.match(r"\d+,(\d+)A", cfg[1]).group(1))
        units = [l.split(",")[4] for l in cfg[2:2 + nana]]
        nv, ni = units.count("V"), units.count("A")
        ok(nv == 3 and nv + ni == nana, "the capture's channels: %s" % units)
        dom = chromium(["--dump-dom", "file://" + svg])
        ok(dom.returncode == 0, "chromium dump-dom")
        traces = re.findall(r'<polyline class="([^"]*)" points="([^"]*)"', dom.stdout)
        ok(sum(1 for c, _ in traces if c.startswith("wave v")) == nv, "one voltage trace per voltage channel")
        ok(sum(1 for c, _ in traces if c.startswith("wave i")) == ni, "one current trace per current channel")
        hr = [(c, p) for c, p in traces if c.startswith("hrms")]
        ok(len(hr) == nv, "one half-cycle RMS trace per voltage channel")
        ok(len(re.findall(r'class="threshold"', dom.stdout)) == 2 and 'class="trigger"' in dom.stdout, "thresholds and trigger")
        # the RMS axis: y=450 is the top (0 V at y=610); the dip's half-cycle RMS is half of 230 V
        top = 450.0
        vmax_label = float(re.search(r'<text x="64.0" y="460.0"[^>]*>(\d+)</text>', dom.stdout).group(1))
        for c, pts in hr:
            ys = [float(p.split(",")[1]) for p in pts.split()]
            lowest_v = (610.0 - max(ys)) / (610.0 - top) * vmax_label
            ok(abs(lowest_v - 0.5 * 230) < 0.05 * 230, "%s falls to %.1f V, half of 230 V" % (c, lowest_v))
        png = os.path.join(tmp, "dip.png")
        r = chromium(["--window-size=1100,760", "--screenshot=" + png, "file://" + svg])
        ok(os.path.exists(png), "screenshot: " + r.stderr[-200:])
        not_blank(png, 20000)

        # ---- energy bars
        esvg = os.path.join(tmp, "energy.svg")
        ok(hems("plot", "--dir", d, "--energy", "--out", esvg).returncode == 0, "plot --energy")
        edom = chromium(["--dump-dom", "file://" + esvg]).stdout
        ok(edom.count('class="bar-in"') == len(scen["panel"]["branches"]), "one import bar per branch")

        # ---- the report
        html = os.path.join(tmp, "r.html")
        r = hems("report", "--dir", d, "--out", html)
        ok(r.returncode == 0, "report: " + r.stderr)
        v = hems("verify", "--dir", d).stdout
        fp = re.search(r"key ([0-9a-f]{32})", v).group(1)
        rdom = chromium(["--dump-dom", "file://" + html]).stdout
        ok("VERIFIED: records 1.." in rdom and fp in rdom, "verified, with the fingerprint")
        # the covered range and the newest seal's checkpoint: the same note `hems checkpoint` prints
        recs = lib.records(d, "boot,seal,window,note,command")
        allr = [json.loads(l) for l in hems("timeline", "--dir", d, "--format", "jsonl").stdout.splitlines()]
        ok("Covered: seq 1..%d, %s to %s (UTC)." % (allr[-1]["seq"], allr[0]["time"], allr[-1]["time"]) in rdom, "covered range")
        cp = hems("checkpoint", "--dir", d).stdout
        ok(cp and cp.splitlines()[0] in rdom and cp.splitlines()[2] in rdom and cp.splitlines()[-1].split()[-1] in rdom,
           "the newest checkpoint, as hems checkpoint prints it")
        sums = {}
        for w in lib.records(d, "window"):
            for p in w["body"]["powers"]:
                if p.get("branch"):
                    sums[p["branch"]] = sums.get(p["branch"], 0) + p.get("import_uwh", 0)
        for n, uwh in sums.items():
            wh = "%d.%03d Wh" % (uwh // 1000000, (uwh % 1000000 + 500) // 1000) if (uwh % 1000000 + 500) // 1000 < 1000 else None
            if wh:
                ok(wh in rdom, "branch %d energy %s in the report" % (n, wh))
        for c in lib.records(d, "command"):
            ok(">%s<" % c["time"] in rdom, "command at %s listed" % c["time"])
        ok("confirmed (seq" in rdom and "dip on phases ABC" in rdom and "unexplained_trip" in rdom, "sense-backs, the dip, the finding")
        ok("<img" not in rdom and "&lt;img src=x onerror=alert(1)&gt;" in rdom, "the hostile branch name is text")
        ok("<script>alert" not in rdom and "&lt;script&gt;alert(2)&lt;/script&gt;" in rdom, "the hostile request id is text")
        png = os.path.join(tmp, "r.png")
        chromium(["--window-size=1200,3000", "--screenshot=" + png, "file://" + html])
        not_blank(png, 20000)
        txt = os.path.join(tmp, "r.txt")
        ok(hems("report", "--dir", d, "--out", txt).returncode == 0, "text report")
        t = open(txt).read()
        for sec in ("VERIFIED", "Energy per branch", "Commands and what the panel measured", "Refusals", "Faults", "Power-quality events",
                    "Alarms and acknowledgements"):
            ok(sec in t, "text report section " + sec)

        # ---- a bundle: its head at export, as `hems checkpoint BUNDLE` prints it
        b = os.path.join(tmp, "b.hems")
        ok(hems("export", "--dir", d, "--out", b).returncode == 0, "export")
        bh = os.path.join(tmp, "b.txt")
        r = hems("report", b, "--fingerprint", fp, "--out", bh)
        ok(r.returncode == 0, "report of the bundle: " + r.stderr)
        head = hems("checkpoint", b, "--fingerprint", fp).stdout
        bt = open(bh).read()
        ok("Head at export" in bt and head.strip().splitlines()[-1] in bt, "the bundle's head at export in the report")
        # ---- a changed byte: NOT VERIFIED, exit 1
        raw = bytearray(open(b, "rb").read())
        raw[len(raw) // 2] ^= 0x40
        open(b, "wb").write(raw)
        bad = os.path.join(tmp, "bad.html")
        r = hems("report", b, "--fingerprint", fp, "--out", bad)
        ok(r.returncode == 1, "a damaged bundle: exit 1 (%d: %s)" % (r.returncode, r.stderr))
        body = open(bad).read()
        ok("NOT VERIFIED" in body and body.index("NOT VERIFIED") < body.index("Panel (device id)"), "said at the top")
        ok("Energy per branch" not in body, "nothing from unverified records")
    finally:
        lib.cleanup(tmp)
    print("%d passed, 0 failed" % lib.passed)


if __name__ == "__main__":
    main()
