"""Per-fix cost of the tag's zone engine on the MicroPython unix port, with CPython (the
same code) as the peer. A zone table of 20 polygons of 200 vertices each, spread over a
7 km square of a city, and a 15-minute drive through it that passes each zone's
boundary; every fix goes through ZoneEngine.update (plausibility filter, jump check,
schedules, bounding boxes, projection, point-in-polygon and signed distance for every zone
within reach). Also the worst case: 20 zones piled on one spot, so that every fix measures
all 4,000 edges. Allocation is measured per fix with gc.mem_alloc() (collector off), and
every fix that raises no alert is run again under micropython.heap_lock().

    emtag bench zones
"""

import json
import math
import os
import random
import struct
import tempfile
import time

REPEAT = 5  # runs of the track; per fix the fastest counts (scheduler noise out)
HELP = "zone engine: per-fix time and allocation on MicroPython (20 zones x 200 vertices)"

# The fixes as the NMEA parser gives them, from 32-byte records: one decoder for both
# interpreters.
FIX_DECODER = r"""
import struct

class F:
    pass

def decode(data):
    out = []
    for i in range(0, len(data), 32):
        f = F()
        t, lat, lon, acc, spd, sats, hdop, fx = struct.unpack_from("<iiiiiiii", data, i)
        f.t, f.t_ms, f.lat, f.lon, f.acc_cm, f.speed_mmps = t, 0, lat, lon, acc, spd
        f.sats, f.hdop, f.fix, f.course_cdeg, f.alt_cm = sats, hdop, fx, 0, 0
        out.append(f)
    return out
"""

MP_SCRIPT = FIX_DECODER + r"""
import gc, sys, time, micropython
from array import array
from emtag.firmware import zones, zonetable

def load(path):
    with open(path, "rb") as f:
        return decode(f.read())

def run(table_path, fix_path, repeat):
    gc.collect()
    base = gc.mem_alloc()
    with open(table_path, "rb") as f:
        eng = zonetable.engine(f)
    gc.collect()
    ram = gc.mem_alloc() - base
    fixes = load(fix_path)
    n = len(fixes)
    us = array("i", [1 << 30] * n)
    alloc = array("i", bytes(4 * n))
    events = bytearray(n)
    for r in range(repeat):  # per fix, the fastest of the runs: the machine's own noise out
        if r:
            with open(table_path, "rb") as f:
                eng = zonetable.engine(f)
        gc.collect()
        gc.disable()
        for i in range(n):
            f = fixes[i]
            a0 = gc.mem_alloc()
            t0 = time.ticks_us()
            ne = eng.update(f)
            t1 = time.ticks_us()
            if not r:
                alloc[i] = gc.mem_alloc() - a0
                events[i] = ne
            dt = time.ticks_diff(t1, t0)
            if dt < us[i]:
                us[i] = dt
        gc.enable()
    # again, fresh engine, heap locked for every fix that raised no alert
    with open(table_path, "rb") as f:
        eng = zonetable.engine(f)
    locked = failed = 0
    for i in range(n):
        if events[i] or not i:  # the first fix sets up the filter (a cosine: a float)
            eng.update(fixes[i])
            continue
        micropython.heap_lock()
        try:
            eng.update(fixes[i])
            locked += 1
        except MemoryError:
            failed += 1
        finally:
            micropython.heap_unlock()
    print(json.dumps({"ram": ram, "us": list(us), "alloc": list(alloc),
                      "events": list(events), "locked": locked, "lock_failed": failed}))

import json
run(sys.argv[1], sys.argv[2], int(sys.argv[3]))
"""


def make_case(worst=False, seed=3):
    """(zone table bytes, fix records bytes, fix count)."""
    from emtag.host import zonefile

    rng = random.Random(seed)
    plane = zonefile.LocalPlane(53.4631, -2.2913)
    features, centres = [], []
    for k in range(20):
        if worst:
            cx, cy, size = 0.0, 0.0, 150 + 12 * k
        else:
            while True:
                cx, cy = rng.uniform(-3500, 3500), rng.uniform(-3500, 3500)
                if all(math.hypot(cx - a, cy - b) > 1000 for a, b in centres):
                    break
            size = rng.uniform(150, 400)
        centres.append((cx, cy))
        ring = []
        for i in range(200):
            a = 2 * math.pi * (i + 0.5 + rng.uniform(-0.3, 0.3)) / 200 - math.pi
            r = size * rng.uniform(0.85, 1.0)
            la, lo = plane.latlon(cx + r * math.cos(a), cy + r * math.sin(a))
            ring.append([lo, la])
        ring.append(list(ring[0]))
        features.append(
            {
                "type": "Feature",
                "properties": {"id": "zone-%02d" % k, "kind": "exclusion"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    zs = zonefile.parse({"type": "FeatureCollection", "features": features})
    table = zonefile.compile_table(zs)
    # a drive through the area: to a point 40 m outside each zone in turn
    pts = []
    x, y = -4000.0, -4000.0
    order = sorted(range(20), key=lambda k: (centres[k][1] // 2000, centres[k][0]))
    for k in order:
        cx, cy = centres[k]
        tx, ty = cx + 440, cy  # the polygons reach at most 400 m from their centres
        d = math.hypot(tx - x, ty - y)
        steps = max(1, int(d / 12))
        for s in range(steps):
            pts.append((x + (tx - x) * s / steps, y + (ty - y) * s / steps, 12.0))
        x, y = tx, ty
    pts = pts[:900]
    fixes = bytearray()
    t0 = 1767600000
    for i, (px, py, v) in enumerate(pts):
        la, lo = plane.latlon(px + rng.gauss(0, 3), py + rng.gauss(0, 3))
        fixes += struct.pack(
            "<iiiiiiii", t0 + i, round(la * 1e7), round(lo * 1e7), 850, int(v * 1000), 9, 100, 3
        )
    return table, bytes(fixes), len(pts)


def _stats(us, alloc, events):
    quiet = [i for i in range(len(us)) if not events[i]]
    s = sorted(us)
    return {
        "fixes": len(us),
        "mean_us": sum(us) / len(us),
        "median_us": s[len(s) // 2],
        "p99_us": s[min(len(s) - 1, int(0.99 * len(s)))],
        "max_us": s[-1],
        "alerts": sum(events),
        "alloc_quiet_bytes": sum(alloc[i] for i in quiet),
        "alloc_total_bytes": sum(alloc),
    }


def run_micropython(table, fixes):
    from emtag.host import unixport

    with tempfile.TemporaryDirectory() as d:
        tp, fp, sp = (os.path.join(d, n) for n in ("zones.cbor", "fixes.bin", "bench.py"))
        for path, data in ((tp, table), (fp, fixes)):
            with open(path, "wb") as f:
                f.write(data)
        with open(sp, "w") as f:
            f.write(MP_SCRIPT)
        proc = unixport.run(
            [sp, tp, fp, str(REPEAT)], heapsize="2M", capture_output=True, text=True, timeout=600
        )
    if proc.returncode != 0:
        raise RuntimeError("MicroPython run failed:\n" + proc.stdout[-2000:] + proc.stderr[-2000:])
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    out = _stats(r["us"], r["alloc"], r["events"])
    out.update(ram_bytes=r["ram"], heap_locked_ok=r["locked"], heap_locked_failed=r["lock_failed"])
    return out


def run_cpython(table, fixes):
    from emtag.firmware import zonetable

    ns: dict = {}
    exec(FIX_DECODER, ns)
    objs = ns["decode"](fixes)
    us, events = [1e9] * len(objs), [0] * len(objs)
    for _ in range(REPEAT):
        eng = zonetable.engine(table)
        for i, f in enumerate(objs):
            t0 = time.perf_counter()
            ne = eng.update(f)
            us[i] = min(us[i], (time.perf_counter() - t0) * 1e6)
            events[i] = ne
    return _stats(us, [0] * len(us), events)


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args):
    from emtag.host import unixport
    from emtag.host.errors import CommandError

    if unixport.binary() is None:
        raise CommandError("the MicroPython unix port is not installed")
    out = {}
    for case, worst in (
        ("drive through 20 zones", False),
        ("worst case: 20 zones on one spot", True),
    ):
        table, fixes, _ = make_case(worst)
        out[case] = {
            "table_bytes": len(table),
            "micropython": run_micropython(table, fixes),
            "cpython": run_cpython(table, fixes),
        }
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print("emtag bench zones: ZoneEngine.update per fix, 20 zones x 200 vertices")
    for case, r in out.items():
        mp, cp = r["micropython"], r["cpython"]
        print()
        print(
            "%s (%d fixes, %d alerts; table %d bytes, %d bytes of RAM on MicroPython)"
            % (case, mp["fixes"], mp["alerts"], r["table_bytes"], mp["ram_bytes"])
        )
        print("  %-22s %10s %10s" % ("", "MicroPython", "CPython"))
        for key, label in (
            ("mean_us", "mean (us)"),
            ("median_us", "median (us)"),
            ("p99_us", "p99 (us)"),
            ("max_us", "max (us)"),
        ):
            print("  %-22s %10.0f %10.0f" % (label, mp[key], cp[key]))
        print("  MicroPython / CPython: %.1fx" % (mp["mean_us"] / max(cp["mean_us"], 1e-9)))
        print(
            "  allocation: %d bytes over %d fixes without alerts (%d with); heap_lock: %d "
            "fixes ok, %d failed (the first fix, and fixes with alerts, run unlocked)"
            % (
                mp["alloc_quiet_bytes"],
                mp["fixes"] - mp["alerts"],
                mp["alloc_total_bytes"],
                mp["heap_locked_ok"],
                mp["heap_locked_failed"],
            )
        )
    return 0
