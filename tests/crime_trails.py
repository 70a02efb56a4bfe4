"""Hand-made trails for crime-mapping tests: real signed records (the firmware's evidence
chain and SoftwareSigner) at chosen times, places and accuracies, stored through the
bridge as a tag would upload them."""

import math

import cbor2
from evidence_streams import signer

from emtag.firmware import evidence
from emtag.host import bridge
from emtag.protocol import frame, records
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
    out = []
    for i, (t, lat, lon, acc) in enumerate(points):
        chain.add(records.fix_record(chain.next_seq(), chain.head, Fix(t, lat, lon, acc)), i,
                  lambda seq, w: out.append(w))  # fmt: skip
        if chain.seal_due(i):
            chain.checkpoint(i, int(t), 0, lambda seq, w: out.append(w))
    chain.checkpoint(len(points), int(points[-1][0]), 0, lambda seq, w: out.append(w))
    return sg, out


def upload(st, sg, items):
    """Store a tag's items through a bridge session; returns the device id (hex)."""
    s = bridge.Session(st, lambda *a, **k: None, lambda: "2026-03-02T10:00:00.000Z")
    body = {m.H_DEVICE: sg.key_id(), m.H_PUBKEY: sg.public_key(), m.H_FIRMWARE: "t"}
    s.receive(frame.encode(cbor2.dumps([m.HELLO, body])))
    for i in range(0, len(items), 8):
        s.receive(frame.encode(cbor2.dumps([m.RECORDS, items[i : i + 8]])))
    return sg.key_id().hex()
