"""Hand-made trails for crime-mapping tests: real signed records (the firmware's evidence
chain and SoftwareSigner) at chosen times, places and accuracies, stored through the
bridge as a tag would upload them."""

import math

import cbor2
from evidence_streams import Sink, signer
from greet import greet

from emtag.firmware import evidence
from emtag.host import bridge
from emtag.protocol import frame
from emtag.protocol import messages as m

T0 = 1772442000  # 2026-03-02T09:00:00Z
LAT0, LON0 = 53.4808, -2.2453
M_PER_DEG = 111195.0  # R_EARTH * pi / 180: the matcher's own scale


def at(east_m, north_m, lat0=LAT0, lon0=LON0):
    """(lat, lon) east_m / north_m metres from (lat0, lon0)."""
    lat = lat0 + north_m / M_PER_DEG
    lon = lon0 + east_m / (M_PER_DEG * math.cos(math.radians((lat + lat0) / 2)))
    return lat, lon


class Fix:
    def __init__(self, t, lat, lon, acc_m):
        self.t, self.t_ms = int(t), int(round((t - int(t)) * 1000))
        self.lat, self.lon = int(round(lat * 1e7)), int(round(lon * 1e7))
        self.acc_cm = int(round(acc_m * 100))
        self.fix, self.sats, self.hdop = 3, 9, 90
        self.speed_mmps, self.course_cdeg, self.alt_cm = 0, 0, 5000


def stream(tag_seed, points, every=8):
    """Signer and wire items for fixes at points [(t, lat, lon, acc_m)], sealed."""
    sg = signer(tag_seed)
    chain = evidence.Chain(sg, max_records=every, max_ms=10**12)
    sink = Sink()
    for i, (t, lat, lon, acc) in enumerate(points):
        chain.add_fix(Fix(t, lat, lon, acc), i, sink)
        if chain.seal_due(i, delivering=False):
            chain.checkpoint(i, int(t), sink)
    chain.checkpoint(len(points), int(points[-1][0]), sink)
    return sg, sink.items


def upload(st, sg, items):
    """Store a tag's items through a bridge session; returns the device id (hex)."""
    s = bridge.Session(st, lambda *a, **k: None, lambda: "2026-03-02T10:00:00.000Z")
    greet(s, sg)  # the handshake, with the tag's proof of its key
    for i in range(0, len(items), 8):
        s.receive(frame.encode(cbor2.dumps([m.RECORDS, i + 1, b"".join(items[i : i + 8])])))
    return sg.key_id().hex()


def walk(rng, n, every=60.0):
    """A wearer's trail: dwells, walks, drives and gaps, as (t, east, north, acc)."""
    t, x, y = T0 + rng.uniform(0, 600), rng.uniform(-3000, 3000), rng.uniform(-3000, 3000)
    out = []
    while len(out) < n:
        kind = rng.choice(("dwell", "walk", "drive", "gap"))
        steps = rng.randint(3, 40)
        speed = {"dwell": 0.0, "walk": 1.4, "drive": 12.0, "gap": 0.0}[kind]
        th = rng.uniform(0, 2 * math.pi)
        for _ in range(steps):
            dt = every * rng.uniform(0.9, 1.1) * (rng.uniform(5, 60) if kind == "gap" else 1)
            t += dt
            x += speed * dt * math.cos(th) + rng.gauss(0, 5)
            y += speed * dt * math.sin(th) + rng.gauss(0, 5)
            out.append((t, x, y, rng.choice((5, 9, 15, 30, 45, 70))))
    return out[:n]


def insert(st, device, points, first_seq=1):
    rows = []
    for i, (t, x, y, acc) in enumerate(points):
        lat, lon = at(x, y)
        rows.append(
            {
                "device": device,
                "seq": first_seq + i,
                "type": 1,
                "t": int(t),
                "t_ms": int((t % 1) * 1000),
                "lat_e7": round(lat * 1e7),
                "lon_e7": round(lon * 1e7),
                "acc_cm": acc * 100,
                "status": "valid",
                "received": "x",
                "cose": b"x",
            }
        )
    st.add_records(rows)
