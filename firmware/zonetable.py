"""Loading the zone table (protocol/zones.cddl) into the tag's zone engine: checks every
field, sets up each zone's plane, projects the vertices, and fills in default settings.

    engine = zonetable.engine(f)     # the ZoneEngine for a table; zonetable.engine(): none

engine() drops this module from RAM again once the table is loaded, so that its code does
not stay on the heap (on the unix port modules are compiled into RAM); firmware/tag.py
imports it at boot, while the heap is young and unfragmented.
"""

import math
import struct
from array import array

from emtag.firmware import zones

ZoneTableError = zones.ZoneTableError
WEEK_MIN = zones.WEEK_MIN
TABLE_VERSION = 1
MAX_ZONES = 32
MAX_ZONE_VERTICES = 1000
MAX_VERTICES = 4000  # per table: about 12 bytes of RAM each on the tag
MAX_RINGS = 64
MAX_WINDOWS = 64
MAX_EXTENT_DM = 200000  # 20 km: every vertex this close (east, north) to the zone's centre

# WGS84
_A_DM = 63781370.0
_E2 = 0.00669437999014
_RAD_PER_E7 = math.pi / 180.0 / 1e7

# Engine settings: name -> (default, min, max). Carried in the zone table (compile time).
SETTINGS = {
    "sure_z_x100": (200, 50, 600),  # standard deviations along the normal for "sure", x100
    "confirm_s": (5, 0, 600),  # a breach needs this long on the new side...
    "confirm_fixes": (3, 1, 60),  # ...and this many sure fixes there
    "clear_s": (30, 0, 3600),
    "clear_fixes": (3, 1, 60),
    "approach_fixes": (3, 1, 60),  # fixes within approach_m before zone_approach
    "approach_repeat_s": (600, 0, 86400),  # at most one zone_approach per zone this often
    "fast_interval_s": (15, 1, 600),  # fix-record interval near a zone or in breach
    "slow_interval_s": (60, 1, 3600),
    "fast_hold_s": (60, 0, 3600),  # stay fast this long after the last reason to
    "near_m": (100, 0, 5000),  # near a zone: this close to its boundary (or approach_m)
    "gap_s": (5, 2, 3600),  # fixes further apart than this: check the track between
    "max_gap_s": (300, 2, 86400),  # ...unless further apart than this (no track known)
    "min_sats": (4, 0, 64),  # plausibility filter, see plausibility.py
    "max_hdop_x100": (500, 50, 9999),
    "max_acc_m": (1000, 10, 1000),
    "max_speed_mps": (70, 1, 400),
    "jump_z_x100": (400, 100, 1000),
    "jump_hold_s": (60, 0, 3600),
    "jump_decay_cmps": (100, 1, 10000),
    "error_tau_s": (30, 1, 600),
}


def _plane(z, lat0, lon0):
    z.lat0, z.lon0 = lat0, lon0
    phi = lat0 * _RAD_PER_E7
    s, c = math.sin(phi), math.cos(phi)
    w = 1.0 - _E2 * s * s
    n = _A_DM / math.sqrt(w)  # prime vertical radius, dm
    m = _A_DM * (1.0 - _E2) / (w * math.sqrt(w))  # meridian radius, dm
    z.kx = int(n * c * _RAD_PER_E7 * 16777216.0 + 0.5)  # dm per unit << 24
    z.ky = int(m * _RAD_PER_E7 * 16777216.0 + 0.5)
    t40 = 1099511627776.0
    z.c1 = int(s / c / n * t40 + 0.5)  # x -= x*y*tan/N
    z.c2 = int(s / c / n / 2.0 * t40 + 0.5)  # y += x*x*tan/2N
    z.c3 = int(1.5 * _E2 * s * c / (w * m) * t40 + 0.5)  # y += y*y*M'/2M^2


def _box(z, lat_lo, lat_hi, lon_lo, lon_hi):
    """Bounding box (degrees x 1e7) and, for widening it by a distance, degrees x 1e7
    per dm << 16, rounded up (a degree of latitude is at least 110.5 km)."""
    z.lat_lo = lat_lo
    z.lat_hi = lat_hi
    z.lon_lo = lon_lo
    z.lon_hi = lon_hi
    z.klat = int(65536 * 0.1 / 0.01105) + 1
    cos_min = math.cos(min(max(abs(lat_lo), abs(lat_hi)) * _RAD_PER_E7 + 0.004, 1.5))
    z.klon = int(z.klat / cos_min) + 1


def set_circle(z, lat, lon, radius_dm):
    z.shape = zones.CIRCLE
    z.radius_dm = radius_dm
    _plane(z, lat, lon)
    _box(z, lat, lat, lon, lon)
    d = (radius_dm * z.klat >> 16) + 2
    dl = (radius_dm * z.klon >> 16) + 2
    _box(z, lat - d, lat + d, lon - dl, lon + dl)


def set_polygons(z, rings):
    """rings: ring byte strings (int32 LE lat, lon pairs, degrees x 1e7), checked."""
    lat_lo = lon_lo = 1 << 31
    lat_hi = lon_hi = -(1 << 31)
    total = 0
    for data in rings:
        for i in range(0, len(data), 8):
            lat, lon = struct.unpack_from("<ii", data, i)
            lat_lo = min(lat_lo, lat)
            lat_hi = max(lat_hi, lat)
            lon_lo = min(lon_lo, lon)
            lon_hi = max(lon_hi, lon)
        total += len(data) // 8
    z.shape = zones.POLYGONS
    _plane(z, (lat_lo + lat_hi) // 2, (lon_lo + lon_hi) // 2)
    _box(z, lat_lo, lat_hi, lon_lo, lon_hi)
    xs, ys = array("i", bytes(4 * total)), array("i", bytes(4 * total))
    starts = [0]
    k = 0
    for data in rings:
        for i in range(0, len(data), 8):
            lat, lon = struct.unpack_from("<ii", data, i)
            z.project(lat, lon)
            if abs(z.px) > MAX_EXTENT_DM or abs(z.py) > MAX_EXTENT_DM:
                raise ZoneTableError("zone %r is larger than 40 km across" % (z.id,))
            xs[k] = z.px
            ys[k] = z.py
            k += 1
        starts.append(k)
    nchunks = sum(
        (starts[r + 1] - starts[r] + zones.CHUNK - 1) // zones.CHUNK for r in range(len(rings))
    )
    ck = array("H", bytes(6 * nchunks))  # per chunk of edges: first, end, vertex before
    cb = array("i", bytes(16 * nchunks))  # per chunk: min x, max x, min y, max y
    c = 0
    for r in range(len(starts) - 1):
        i0, i1 = starts[r], starts[r + 1]
        for c0 in range(i0, i1, zones.CHUNK):
            c1 = min(c0 + zones.CHUNK, i1)
            j = c0 - 1 if c0 > i0 else i1 - 1
            x0 = x1 = xs[j]
            y0 = y1 = ys[j]
            for i in range(c0, c1):
                x0 = min(x0, xs[i])
                x1 = max(x1, xs[i])
                y0 = min(y0, ys[i])
                y1 = max(y1, ys[i])
            ck[3 * c] = c0
            ck[3 * c + 1] = c1
            ck[3 * c + 2] = j
            cb[4 * c] = x0
            cb[4 * c + 1] = x1
            cb[4 * c + 2] = y0
            cb[4 * c + 3] = y1
            c += 1
    z.xs = xs
    z.ys = ys
    z.ck = ck
    z.cb = cb


def _setting(settings, name):
    default, lo, hi = SETTINGS[name]
    v = settings.get(name, default) if settings else default
    if not isinstance(v, int) or not lo <= v <= hi:
        raise ZoneTableError("setting %s must be an integer %d..%d" % (name, lo, hi))
    return v


def _ring(data, zid):
    if not isinstance(data, bytes) or len(data) % 8 or not 24 <= len(data) <= 8 * 1000:
        raise ZoneTableError("zone %r: a ring is 3-1000 vertices of 8 bytes" % (zid,))
    for i in range(0, len(data), 8):
        lat, lon = struct.unpack_from("<ii", data, i)
        if not (-850000000 <= lat <= 850000000 and -1800000000 <= lon <= 1800000000):
            raise ZoneTableError("zone %r: vertex out of range" % (zid,))
    return data


def load_zone(row, rules):
    """One zone from its table entry: [id, kind, approach_cm, tz, schedule, shape]."""
    if not isinstance(row, list) or len(row) != 6:
        raise ZoneTableError("zone entry must have 6 fields")
    zid, kind, approach_cm, tzi, sched, shape = row
    if not isinstance(zid, str) or not 1 <= len(zid) <= 32:
        raise ZoneTableError("zone id must be text of 1-32 characters")
    if kind not in (zones.EXCLUSION, zones.INCLUSION):
        raise ZoneTableError("zone %r: bad kind" % (zid,))
    if not isinstance(approach_cm, int) or not 0 <= approach_cm <= 500000:
        raise ZoneTableError("zone %r: approach must be 0..5000 m" % (zid,))
    if not isinstance(tzi, int) or tzi < 0 or sched and tzi >= len(rules):
        raise ZoneTableError("zone %r: bad time zone index" % (zid,))
    if not isinstance(sched, list) or len(sched) > MAX_WINDOWS:
        raise ZoneTableError("zone %r: bad schedule" % (zid,))
    windows = None
    if sched:
        windows = array("H")
        for w in sched:
            if not (isinstance(w, list) and len(w) == 2 and isinstance(w[0], int)):
                raise ZoneTableError("zone %r: a schedule window is [start, minutes]" % (zid,))
            if not (isinstance(w[1], int) and 0 <= w[0] < WEEK_MIN and 0 < w[1] <= WEEK_MIN):
                raise ZoneTableError("zone %r: schedule window out of range" % (zid,))
            windows.append(w[0])
            windows.append(w[1])
    z = zones.Zone(zid, kind, approach_cm // 10, rules[tzi] if windows else None, windows)
    if not isinstance(shape, list) or not shape:
        raise ZoneTableError("zone %r: bad shape" % (zid,))
    if shape[0] == zones.CIRCLE and len(shape) == 4:
        _, lat, lon, r = shape
        if not (isinstance(lat, int) and isinstance(lon, int) and isinstance(r, int)):
            raise ZoneTableError("zone %r: bad circle" % (zid,))
        if not (-850000000 <= lat <= 850000000 and -1800000000 <= lon <= 1800000000):
            raise ZoneTableError("zone %r: centre out of range" % (zid,))
        if not 100 <= r <= 10000000:
            raise ZoneTableError("zone %r: radius must be 1 m..100 km" % (zid,))
        set_circle(z, lat, lon, (r + 5) // 10)
    elif shape[0] == zones.POLYGONS and len(shape) == 2 and isinstance(shape[1], list):
        rings = []
        for poly in shape[1]:
            if not isinstance(poly, list) or not poly:
                raise ZoneTableError("zone %r: bad polygon" % (zid,))
            for data in poly:
                rings.append(_ring(data, zid))
        if not rings or len(rings) > MAX_RINGS:
            raise ZoneTableError("zone %r: 1-%d rings" % (zid, MAX_RINGS))
        if sum(len(r) for r in rings) > 8 * MAX_ZONE_VERTICES:
            raise ZoneTableError("zone %r: more than %d vertices" % (zid, MAX_ZONE_VERTICES))
        set_polygons(z, rings)
    else:
        raise ZoneTableError("zone %r: unknown shape" % (zid,))
    return z


MAX_ITEM = 16384  # bytes of one encoded zone (1000 vertices take 8 kB)


class _Bytes:
    """read(n) over bytes in memory, like a file."""

    def __init__(self, data):
        self.mv = memoryview(data)
        self.i = 0

    def read(self, n):
        out = bytes(self.mv[self.i : self.i + n])
        self.i += len(out)
        return out


def _items(src):
    """The table's items, decoded one at a time (each a byte string holding CBOR), so the
    tag never holds more than one zone's encoding: src is a file open for reading, or
    bytes."""
    from emtag.protocol import cbor

    if isinstance(src, (bytes, bytearray)):
        src = _Bytes(src)
    while True:
        head = src.read(1)
        if not head:
            return
        b = head[0]
        n = b & 31
        if b >> 5 != 2 or n > 25:
            raise ZoneTableError("not a zone table: each item is a byte string")
        if n >= 24:
            ext = src.read(n - 23)
            if len(ext) != n - 23:
                raise ZoneTableError("zone table cut short")
            n = int.from_bytes(ext, "big")
        if n > MAX_ITEM:
            raise ZoneTableError("zone table item of %d bytes, at most %d" % (n, MAX_ITEM))
        data = src.read(n)
        if len(data) != n:
            raise ZoneTableError("zone table cut short")
        try:
            item = cbor.loads(data, max_depth=6, max_items=2 * MAX_RINGS + 4 * MAX_WINDOWS + 64)
        except ValueError as e:
            raise ZoneTableError("zone table item: %s" % e) from None
        data = None
        yield item


def load_table(src):
    """(zones, settings) from a zone table (protocol/zones.cddl): a file open for reading,
    or its bytes. Every setting is filled in (defaults where the table has none)."""
    items = _items(src)
    head = next(items, None)
    if not (isinstance(head, list) and len(head) == 4 and head[0] == TABLE_VERSION):
        raise ZoneTableError("not a version %d zone table" % TABLE_VERSION)
    _, settings, tzs, count = head
    if not isinstance(settings, dict) or not isinstance(tzs, list) or not isinstance(count, int):
        raise ZoneTableError("malformed zone table")
    for k in settings:
        if k not in SETTINGS:
            raise ZoneTableError("unknown setting %r" % (k,))
    if not 0 <= count <= MAX_ZONES or len(tzs) > MAX_ZONES:
        raise ZoneTableError("more than %d zones" % MAX_ZONES)
    rules = []
    if tzs:  # only schedules need local time: no rules, no tz module in RAM
        from emtag.firmware import tz, tzparse

        try:
            rules = [tz.Rule(s) for s in tzs]
        except tzparse.TZError as e:
            raise ZoneTableError(str(e)) from None
    out: list = []
    seen = set()
    total = 0
    for _ in range(count):
        row = next(items, None)
        if row is None:
            raise ZoneTableError("zone table cut short: %d zones of %d" % (len(out), count))
        z = load_zone(row, rules)
        row = None
        if z.id in seen:
            raise ZoneTableError("duplicate zone id %r" % (z.id,))
        seen.add(z.id)
        total += len(z.xs)
        if total > MAX_VERTICES:
            raise ZoneTableError("more than %d vertices in the table" % MAX_VERTICES)
        out.append(z)
    if next(items, None) is not None:
        raise ZoneTableError("zone table: more items than zones")
    full = {}
    for name in SETTINGS:
        full[name] = _setting(settings, name)
    return out, full


def defaults():
    """Every setting at its default."""
    return {name: v[0] for name, v in SETTINGS.items()}


def engine(src=None):
    """The zone engine for a zone table (a file open for reading, or its bytes); None: an
    engine with no zones and default settings. ZoneTableError when the tag cannot use it.
    Leaves RAM afterwards (on MicroPython; it is imported again should it be needed)."""
    try:
        if src is None:
            zs, settings = [], defaults()
        else:
            zs, settings = load_table(src)
    finally:
        _unload()
    return zones.ZoneEngine(zs, settings)


def _unload():
    import sys

    if sys.implementation.name == "micropython":
        _drop("emtag.firmware", "zonetable")
        _drop("emtag.firmware", "tzparse")


def _drop(package, name):
    """Forget a module: its code is garbage once nothing refers to it."""
    import sys

    sys.modules.pop(package + "." + name, None)
    pkg = sys.modules.get(package)
    if pkg is not None and hasattr(pkg, name):
        delattr(pkg, name)
