"""Zone checks on the tag (walking-skeleton version: exclusion circles only).

Distances use integer maths on degrees x 1e7 with a per-zone flat-earth projection, good to
well under a metre within a few km of the centre. A decision uses the fix's accuracy
radius: a fix counts as inside only when its whole accuracy circle is inside, and as
outside only when its whole accuracy circle is outside; anything else is uncertain and
leaves the state as it was.
"""

import math

CM_PER_E7_DEG = 11132  # 1e-7 degree of latitude is 1.1132 cm (x 10^4 below)
EXCLUSION = 0
INCLUSION = 1
APPROACH_CM = 20000  # within 200 m of a boundary the fix rate goes up


class Zone:
    def __init__(self, zid, kind, lat, lon, radius_cm):
        self.id = zid
        self.kind = kind
        self.lat = lat
        self.lon = lon
        self.radius_cm = radius_cm
        self.cos_q16 = int(math.cos(math.radians(lat / 1e7)) * 65536)
        self.inside = False

    def dist2_cm(self, lat, lon):
        dy = (lat - self.lat) * CM_PER_E7_DEG // 10000
        dx = (lon - self.lon) * CM_PER_E7_DEG * self.cos_q16 // (10000 * 65536)
        return dx * dx + dy * dy


def load_table(rows):
    """Zones from the decoded table: [[id, kind, lat_e7, lon_e7, radius_cm], ...]."""
    zones = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 5:
            raise ValueError("zone table row must have 5 fields")
        zid, kind, lat, lon, r = row
        if kind not in (EXCLUSION, INCLUSION) or not (0 < r <= 10**8):
            raise ValueError("bad zone %r" % (zid,))
        if not (-900000000 <= lat <= 900000000 and -1800000000 <= lon <= 1800000000):
            raise ValueError("zone %r centre out of range" % (zid,))
        zones.append(Zone(zid, kind, lat, lon, r))
    return zones


class ZoneEngine:
    def __init__(self, zones):
        self.zones = zones
        self.near = False

    def update(self, fix):
        """Check one fix; returns a list of (alert kind, zone id) for state changes."""
        alerts = []
        acc = fix.acc_cm or 0
        near = False
        for z in self.zones:
            d2 = z.dist2_cm(fix.lat, fix.lon)
            r = z.radius_cm
            if d2 < (r + acc + APPROACH_CM) ** 2:
                near = True
            surely_in = acc < r and d2 < (r - acc) ** 2
            surely_out = d2 > (r + acc) ** 2
            if surely_in and not z.inside:
                z.inside = True
                alerts.append(
                    ("exclusion_breach" if z.kind == EXCLUSION else "inclusion_clear", z.id)
                )
            elif surely_out and z.inside:
                z.inside = False
                alerts.append(
                    ("exclusion_clear" if z.kind == EXCLUSION else "inclusion_breach", z.id)
                )
        self.near = near
        return alerts
