"""Zones from GeoJSON (RFC 7946), checked, and compiled to the tag's zone table.

A zone is a Feature with properties
  id          text, 1-32 characters, unique
  kind        "exclusion" or "inclusion"
  radius_m    for a Point geometry: a circle (1 m .. 20 km)
  approach_m  warning buffer outside an exclusion zone (default 200) or inside an
              inclusion zone (default 0: none): zone_approach, and a vibration for the
              wearer, when they come this close to the boundary
  schedule    optional weekly windows in local time, when the zone applies:
              [{"days": "Mon-Fri", "start": "19:00", "end": "07:00"}, ...]
              days: "daily", "weekdays", "weekends", a day ("Sat"), a range ("Mon-Thu") or a
              list of those; a window whose end is not after its start runs into the next
              day. A scheduled inclusion zone is a curfew (curfew_breach / curfew_clear).
  tz          POSIX TZ rule for the schedule (default "GMT0BST,M3.5.0/1,M10.5.0")
and a Point (with radius_m), Polygon or MultiPolygon geometry; polygons may have holes.
A FeatureCollection may carry engine settings as a foreign member "settings" (names and
ranges: emtag.firmware.zonetable.SETTINGS).

Checks (errors name the zone): rings closed with at least 3 distinct vertices, no
self-intersection, holes inside their polygon and apart from each other, polygons of a
MultiPolygon apart, no zone across the antimeridian or beyond 85 degrees, at most
MAX_ZONE_VERTICES per zone, MAX_VERTICES per table and MAX_ZONES zones. Rings wound against
RFC 7946 (outer counter-clockwise, holes clockwise) are rewound, with a warning (an error
with strict=True). The compiled table is loaded back with the tag's own loader before it
is returned, so what compiles is what the tag accepts.

The table (CDDL: protocol/zones.cddl) is deterministic CBOR:
  [1, settings, [tz rule, ...], [[id, kind, approach_cm, tz index, [[start, minutes], ...],
   [0, lat e7, lon e7, radius cm] / [1, [[ring, ...], ...]]], ...]]
with each ring a byte string of int32 LE (lat e7, lon e7) pairs, not closed.
"""

import difflib
import io
import json
import math
import struct

import cbor2

from emtag.firmware import tz as fw_tz
from emtag.firmware import tzparse as fw_tzparse
from emtag.firmware import zones as fw_zones
from emtag.firmware import zonetable as fw_table
from emtag.host import zonearea

KINDS = {"exclusion": fw_zones.EXCLUSION, "inclusion": fw_zones.INCLUSION}
MAX_ZONES = fw_table.MAX_ZONES
MAX_ZONE_VERTICES = fw_table.MAX_ZONE_VERTICES
MAX_VERTICES = fw_table.MAX_VERTICES
MAX_RADIUS_M = 20000
# What the simulated 192 KiB tag loads beside the rest of its firmware (README, "Zone table
# size"): more compiles, but a tag may refuse the push, so the compiler warns.
TAG_VERTICES = 1600
DEFAULT_APPROACH_M = {"exclusion": 200, "inclusion": 0}
# every property a zone may have (docs/zones.md); name and description are for people only
PROPERTIES = ("id", "kind", "radius_m", "approach_m", "schedule", "tz", "name", "description")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_SETS = {"daily": range(7), "weekdays": range(5), "weekends": range(5, 7)}

# WGS84, for ground truth on the host (floats)
_A = 6378137.0
_E2 = 0.00669437999014


class ZoneFileError(ValueError):
    pass


class LocalPlane:
    """Metres east/north of (lat0, lon0) on WGS84, to second order (host-side, floats)."""

    def __init__(self, lat0, lon0):
        self.lat0, self.lon0 = lat0, lon0
        p = math.radians(lat0)
        s, c = math.sin(p), math.cos(p)
        w = 1 - _E2 * s * s
        self.n = _A / math.sqrt(w)
        self.m = _A * (1 - _E2) / w**1.5
        self.tan = s / c
        self.mp = 3 * _E2 * s * c / w * self.m  # dM/dphi
        self.nc = self.n * c

    def xy(self, lat, lon):
        a = math.radians(lat - self.lat0)
        b = math.radians(lon - self.lon0)
        x1, y1 = self.nc * b, self.m * a
        x = x1 - x1 * y1 * self.tan / self.n
        y = y1 + x1 * x1 * self.tan / (2 * self.n) + y1 * y1 * self.mp / (2 * self.m * self.m)
        return x, y

    def latlon(self, x, y):
        """Inverse of xy (a few fixed-point iterations)."""
        lat = self.lat0 + math.degrees(y / self.m)
        lon = self.lon0 + math.degrees(x / self.nc)
        for _ in range(2):  # each step gains about four orders of magnitude
            fx, fy = self.xy(lat, lon)
            lat += math.degrees((y - fy) / self.m)
            lon += math.degrees((x - fx) / self.nc)
        return lat, lon


class Zone:
    """One checked zone. Coordinates in degrees x 1e7 (ints), as the tag has them."""

    def __init__(self, zid, kind, approach_m, tz, windows, shape):
        self.id = zid
        self.kind = kind  # "exclusion" / "inclusion"
        self.approach_m = approach_m
        self.tz = tz
        self.windows = windows  # [[start minute of week, minutes], ...]
        self.shape = shape  # ("circle", lat, lon, radius_cm) / ("polygons", [[ring, ...]])
        if shape[0] == "circle":
            self.plane = LocalPlane(shape[1] / 1e7, shape[2] / 1e7)
        else:
            lats = [v[0] for poly in shape[1] for ring in poly for v in ring]
            lons = [v[1] for poly in shape[1] for ring in poly for v in ring]
            self.plane = LocalPlane(
                (min(lats) + max(lats)) // 2 / 1e7, (min(lons) + max(lons)) // 2 / 1e7
            )
            self._rings = [
                [self.plane.xy(la / 1e7, lo / 1e7) for la, lo in ring]
                for poly in shape[1]
                for ring in poly
            ]

    @property
    def curfew(self):
        return self.kind == "inclusion" and bool(self.windows)

    @property
    def vertices(self):
        if self.shape[0] == "circle":
            return 0
        return sum(len(r) for poly in self.shape[1] for r in poly)

    def signed_distance_m(self, lat, lon):
        """Signed distance (m, positive inside) of a point in degrees, floats: ground truth."""
        x, y = self.plane.xy(lat, lon)
        if self.shape[0] == "circle":
            return self.shape[3] / 100 - math.hypot(x, y)
        inside, best = False, math.inf
        for ring in self._rings:
            ax, ay = ring[-1]
            for bx, by in ring:
                if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
                    inside = not inside
                dx, dy = bx - ax, by - ay
                t = ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)
                t = min(1.0, max(0.0, t))
                best = min(best, math.hypot(x - ax - t * dx, y - ay - t * dy))
                ax, ay = bx, by
        return best if inside else -best

    def contains(self, lat, lon):
        return self.signed_distance_m(lat, lon) > 0

    def active(self, t):
        """Whether the zone applies at UTC time t (seconds), as the tag decides it."""
        if not self.windows:
            return True
        z = fw_zones.Zone(self.id, 0, 0, fw_tz.Rule(self.tz), [v for w in self.windows for v in w])
        return z.active(int(t))


class ZoneSet:
    def __init__(self, zones, settings, warnings, source, area=None):
        self.zones = zones
        self.settings = settings
        self.warnings = warnings
        self.source = source
        self.area = area  # the file's own "area" member (docs/zones.md), or None

    def check_area(self, area=None, max_spread_km=zonearea.MAX_SPREAD_KM, allow_outside=False):
        """Refuse (ZoneFileError) a zone outside the deployment area (host/zonearea.py):
        `area` (text) given, else $EMTAG_AREA, else the file's "area", else the region of
        the other zones. allow_outside: warn instead."""
        try:
            box, origin = zonearea.area_setting(area, self.area)
        except zonearea.AreaError as e:
            raise ZoneFileError("%s: %s" % (self.source, e)) from None
        centres = [(z.id, z.plane.lat0, z.plane.lon0) for z in self.zones]
        found = zonearea.problems(centres, box, origin, max_spread_km)
        if found and not allow_outside:
            raise ZoneFileError(
                "%s: %s (if it is meant, --allow-outside compiles it anyway)"
                % (self.source, "; ".join(found))
            )
        self.warnings.extend(found)
        return found

    def __iter__(self):
        return iter(self.zones)

    def __len__(self):
        return len(self.zones)


MAX_FILE = 16 << 20  # bytes of GeoJSON: MAX_VERTICES positions need well under 1 MB


def load(path, strict=False, area=None, max_spread_km=zonearea.MAX_SPREAD_KM,
         allow_outside=False):
    """The checked zones in a GeoJSON file, held to the deployment area (ZoneSet.check_area)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE + 1)
        if len(data) > MAX_FILE:
            raise ValueError("larger than %d MB" % (MAX_FILE >> 20))
        doc = json.loads(data)
    except (OSError, ValueError) as e:
        raise ZoneFileError("cannot read zones %s: %s" % (path, str(e)[:200])) from None
    except RecursionError:
        raise ZoneFileError("cannot read zones %s: nested too deeply" % path) from None
    zs = parse(doc, path, strict)
    zs.check_area(area, max_spread_km, allow_outside)
    return zs


def _count_positions(coords, depth, limit):
    """Positions in GeoJSON coordinates nested `depth` lists deep, counted without looking
    inside them, stopping past limit (a million-vertex polygon is refused at once)."""
    if depth == 0 or not isinstance(coords, list):
        return 1
    n = 0
    for c in coords:
        n += _count_positions(c, depth - 1, limit) if depth > 1 else 1
        if n > limit:
            break
    return n


def parse(doc, source="zones", strict=False):
    if not isinstance(doc, dict):
        raise ZoneFileError("%s: not a GeoJSON object" % source)
    if doc.get("type") == "FeatureCollection":
        features = doc.get("features")
    elif doc.get("type") == "Feature":
        features = [doc]
    else:
        raise ZoneFileError("%s: expected a GeoJSON FeatureCollection or Feature" % source)
    if not isinstance(features, list) or not features:
        raise ZoneFileError("%s: no zone features" % source)
    if len(features) > MAX_ZONES:
        raise ZoneFileError("%s: %d zones, at most %d" % (source, len(features), MAX_ZONES))
    settings = doc.get("settings", {})
    if not isinstance(settings, dict):
        raise ZoneFileError("%s: settings must be an object" % source)
    for k, v in settings.items():
        if k not in fw_table.SETTINGS:
            raise ZoneFileError(
                "%s: unknown setting %r (known: %s)" % (source, k, ", ".join(fw_table.SETTINGS))
            )
        _, lo, hi = fw_table.SETTINGS[k]
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise ZoneFileError("%s: setting %s must be an integer %d..%d" % (source, k, lo, hi))
    zones, seen, warnings, total = [], set(), [], 0
    for i, feat in enumerate(features):
        z = _zone(feat, i, source, warnings, strict)
        if z.id in seen:
            raise ZoneFileError("%s: duplicate zone id %r" % (source, z.id))
        seen.add(z.id)
        total += z.vertices
        if total > MAX_VERTICES:
            raise ZoneFileError(
                "%s: more than %d vertices in all (the tag's memory budget); simplify "
                "the polygons" % (source, MAX_VERTICES)
            )
        zones.append(z)
    if total > TAG_VERTICES:
        warnings.append(
            "%d vertices in all: a 192 KiB tag holds about %d beside the rest of its firmware "
            "and refuses a table it cannot load; simplify the polygons if the push fails"
            % (total, TAG_VERTICES)
        )
    return ZoneSet(zones, dict(settings), warnings, source, doc.get("area"))


def _zone(feat, i, source, warnings, strict):
    if not isinstance(feat, dict) or feat.get("type") != "Feature":
        raise ZoneFileError("%s: feature %d is not a GeoJSON Feature" % (source, i))
    props = feat.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise ZoneFileError("%s: feature %d: properties must be an object" % (source, i))
    zid = props.get("id")
    name = "zone %r" % zid if isinstance(zid, str) and zid else "feature %d" % i

    def fail(msg):
        raise ZoneFileError("%s: %s: %s" % (source, name, msg))

    for key in props:
        if key not in PROPERTIES:
            near = difflib.get_close_matches(str(key), PROPERTIES, 1)
            fail(
                "unknown property %r%s (known: %s)"
                % (key, "; did you mean %r?" % near[0] if near else "", ", ".join(PROPERTIES))
            )

    if not isinstance(zid, str) or not 1 <= len(zid) <= 32 or not zid.isprintable():
        fail("needs an id of 1-32 printable characters")
    kind = props.get("kind")
    if kind not in KINDS:
        fail("kind must be exclusion or inclusion")
    approach = props.get("approach_m", DEFAULT_APPROACH_M[kind])
    if not _number(approach) or not 0 <= approach <= 5000:
        fail("approach_m must be 0..5000")
    rule = props.get("tz", fw_tz.DEFAULT_RULE)
    try:
        fw_tz.Rule(rule)
    except fw_tzparse.TZError as e:
        fail(str(e))
    windows = _schedule(props.get("schedule"), fail)
    geom = feat.get("geometry")
    if not isinstance(geom, dict):
        fail("geometry must be an object")
    gtype = geom.get("type")
    coords = geom.get("coordinates")
    depth = {"Polygon": 2, "MultiPolygon": 3}.get(gtype)
    if depth and _count_positions(coords, depth, MAX_ZONE_VERTICES + 64) > MAX_ZONE_VERTICES + 64:
        fail("more than %d vertices" % MAX_ZONE_VERTICES)
    if gtype == "Point":
        if "radius_m" not in props:
            fail("a Point zone needs radius_m (a circle)")
        r = props["radius_m"]
        if not _number(r) or not 1 <= r <= MAX_RADIUS_M:
            fail("radius_m must be 1..%d" % MAX_RADIUS_M)
        lat, lon = _position(coords, fail)
        shape = ("circle", lat, lon, round(r * 100))
    elif gtype in ("Polygon", "MultiPolygon"):
        if "radius_m" in props:
            fail("radius_m is for Point zones only")
        polys = [coords] if gtype == "Polygon" else coords
        if not isinstance(polys, list) or not polys:
            fail("%s without coordinates" % gtype)
        out = []
        for pi, poly in enumerate(polys):
            where = "polygon %d" % pi if gtype == "MultiPolygon" else "polygon"
            out.append(_polygon(poly, where, fail, warnings, name, strict))
        _check_apart(out, fail)
        shape = ("polygons", out)
    else:
        fail("geometry must be Point (with radius_m), Polygon or MultiPolygon, not %r" % gtype)
    z = Zone(zid, kind, approach, rule, windows, shape)
    if z.vertices > MAX_ZONE_VERTICES:
        fail("%d vertices, at most %d" % (z.vertices, MAX_ZONE_VERTICES))
    _check_extent(z, fail)
    return z


def _number(v):
    """A finite JSON number of sane size (JSON integers have no bound; floats do)."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return -(10**15) <= v <= 10**15
    return isinstance(v, float) and math.isfinite(v)


def _position(p, fail):
    if not (isinstance(p, list) and len(p) in (2, 3) and all(_number(v) for v in p)):
        fail("a position is [longitude, latitude]")
    lon, lat = p[0], p[1]
    if not (-85 <= lat <= 85 and -180 <= lon <= 180):
        fail("position %r out of range (latitude within 85 degrees)" % (p[:2],))
    return round(lat * 1e7), round(lon * 1e7)


def _polygon(rings, where, fail, warnings, name, strict):
    if not isinstance(rings, list) or not rings:
        fail("%s has no rings" % where)
    if len(rings) > fw_table.MAX_RINGS:
        fail("%s has %d rings, at most %d" % (where, len(rings), fw_table.MAX_RINGS))
    out = []
    for ri, ring in enumerate(rings):
        label = "%s %s" % (where, "outer ring" if ri == 0 else "hole %d" % ri)
        if not isinstance(ring, list) or len(ring) < 4:
            fail("%s: a linear ring needs 4 or more positions" % label)
        pts = [_position(p, fail) for p in ring]
        if pts[0] != pts[-1]:
            fail("%s is not closed (first and last positions differ)" % label)
        pts = pts[:-1]
        dedup = [p for k, p in enumerate(pts) if p != pts[k - 1]]  # repeated vertices
        if len(dedup) < 3:
            fail("%s needs 3 or more distinct vertices" % label)
        crossing = _self_crossing(dedup)
        if crossing is not None:
            fail("%s intersects itself near %s" % (label, _where(crossing)))
        area = _area2(dedup)
        if area == 0:
            fail("%s has no area" % label)
        want_ccw = ri == 0
        if (area > 0) != want_ccw:
            msg = "%s: %s is wound %s; RFC 7946 wants %s" % (
                name,
                label,
                "clockwise" if area < 0 else "counter-clockwise",
                "counter-clockwise" if want_ccw else "clockwise",
            )
            if strict:
                fail(msg.split(": ", 1)[1])
            warnings.append(msg + " (rewound)")
            dedup.reverse()
        out.append(dedup)
    outer = out[0]
    for hi, hole in enumerate(out[1:], 1):
        for other_i, other in enumerate(out[:hi]):
            hit = _rings_cross(hole, other)
            if hit is not None:
                fail(
                    "%s hole %d crosses %s near %s" % (where, hi, _ring_name(other_i), _where(hit))
                )
        if not _inside_ring(hole[0], outer):
            fail("%s hole %d lies outside the outer ring" % (where, hi))
        for other_i in range(1, hi):
            if _inside_ring(hole[0], out[other_i]) or _inside_ring(out[other_i][0], hole):
                fail("%s holes %d and %d overlap" % (where, other_i, hi))
    return out


def _ring_name(i):
    return "the outer ring" if i == 0 else "hole %d" % i


def _where(p):
    return "[%.7f, %.7f]" % (p[1] / 1e7, p[0] / 1e7)


def _check_apart(polys, fail):
    for i in range(len(polys)):
        for j in range(i):
            hit = _rings_cross(polys[i][0], polys[j][0])
            if hit is not None:
                fail("polygons %d and %d cross near %s" % (j, i, _where(hit)))
            if _inside_ring(polys[i][0][0], polys[j][0]) or _inside_ring(
                polys[j][0][0], polys[i][0]
            ):
                # one inside the other is fine only inside a hole of it
                a, b = (i, j) if _inside_ring(polys[i][0][0], polys[j][0]) else (j, i)
                if not any(_inside_ring(polys[a][0][0], h) for h in polys[b][1:]):
                    fail("polygons %d and %d overlap" % (min(i, j), max(i, j)))


def _check_extent(z, fail):
    lim = fw_table.MAX_EXTENT_DM / 10
    if z.shape[0] == "circle":
        return
    lons = [v[1] for poly in z.shape[1] for r in poly for v in r]
    if max(lons) - min(lons) > 1800000000:
        fail("crosses the antimeridian; split it in two zones")
    for poly in z.shape[1]:
        for ring in poly:
            for la, lo in ring:
                x, y = z.plane.xy(la / 1e7, lo / 1e7)
                if abs(x) > lim or abs(y) > lim:
                    fail("larger than %d km across" % (2 * lim / 1000))


# exact integer geometry on (lat, lon) e7 pairs: lon is x, lat is y
def _area2(ring):
    a = 0
    for k in range(len(ring)):
        (y0, x0), (y1, x1) = ring[k - 1], ring[k]
        a += x0 * y1 - x1 * y0
    return a


def _orient(a, b, c):
    v = (b[1] - a[1]) * (c[0] - a[0]) - (b[0] - a[0]) * (c[1] - a[1])
    return (v > 0) - (v < 0)


def _on_segment(a, b, p):
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def _segments_meet(a, b, c, d):
    o1, o2, o3, o4 = _orient(a, b, c), _orient(a, b, d), _orient(c, d, a), _orient(c, d, b)
    if o1 != o2 and o3 != o4:
        return True
    return (
        (o1 == 0 and _on_segment(a, b, c))
        or (o2 == 0 and _on_segment(a, b, d))
        or (o3 == 0 and _on_segment(c, d, a))
        or (o4 == 0 and _on_segment(c, d, b))
    )


def _edges(ring):
    return [(ring[k - 1], ring[k]) for k in range(len(ring))]


def _box(e):
    (a, b) = e
    return min(a[0], b[0]), max(a[0], b[0]), min(a[1], b[1]), max(a[1], b[1])


def _self_crossing(ring):
    """A point where two edges of a ring meet other than at their shared vertex, or None."""
    edges = _edges(ring)
    boxes = [_box(e) for e in edges]
    order = sorted(range(len(edges)), key=lambda k: boxes[k][0])
    n = len(edges)
    for ii, i in enumerate(order):
        for j in order[ii + 1 :]:
            if boxes[j][0] > boxes[i][1]:
                break
            if boxes[j][3] < boxes[i][2] or boxes[j][2] > boxes[i][3]:
                continue
            (a, b), (c, d) = edges[i], edges[j]
            adjacent = (i - j) % n in (1, n - 1)
            if adjacent:
                # neighbours share one vertex; they must not fold back over each other
                shared = b if b == c else a
                other1 = a if shared == b else b
                other2 = d if shared == c else c
                if _orient(other1, shared, other2) == 0 and (
                    _on_segment(c, d, other1) or _on_segment(a, b, other2)
                ):
                    return shared
                continue
            if _segments_meet(a, b, c, d):
                return a if _orient(c, d, a) == 0 else c
    return None


def _rings_cross(r1, r2):
    for a, b in _edges(r1):
        bx = _box((a, b))
        for c, d in _edges(r2):
            by = _box((c, d))
            if by[0] > bx[1] or by[1] < bx[0] or by[2] > bx[3] or by[3] < bx[2]:
                continue
            if _segments_meet(a, b, c, d):
                return a
    return None


def _inside_ring(p, ring):
    y, x = p
    inside = False
    for (ay, ax), (by, bx) in _edges(ring):
        if (ay > y) != (by > y):
            # x < ax + (y - ay) * (bx - ax) / (by - ay), exactly
            lhs = (x - ax) * (by - ay)
            rhs = (y - ay) * (bx - ax)
            if (lhs < rhs) == (by > ay):
                inside = not inside
    return inside


def _schedule(sched, fail):
    if sched is None:
        return []
    if not isinstance(sched, list) or not sched:
        fail("schedule must be a non-empty list of windows")
    out = []
    for w in sched:
        if not isinstance(w, dict) or set(w) - {"days", "start", "end"}:
            fail('a schedule window is {"days": ..., "start": "HH:MM", "end": "HH:MM"}')
        days = _days(w.get("days", "daily"), fail)
        start, end = _hhmm(w.get("start"), fail), _hhmm(w.get("end"), fail)
        if start == 1440:
            fail("a window cannot start at 24:00")
        minutes = end - start if end > start else end + 1440 - start
        for d in days:
            out.append([d * 1440 + start, minutes])
    if len(out) > fw_table.MAX_WINDOWS:
        fail("more than %d schedule windows" % fw_table.MAX_WINDOWS)
    return sorted(out)


def _days(spec, fail):
    items = spec if isinstance(spec, list) else [spec]
    out = set()
    for item in items:
        if not isinstance(item, str):
            fail('schedule days must be text, e.g. "Mon-Fri"')
        s = item.strip().lower()
        if s in DAY_SETS:
            out.update(DAY_SETS[s])
            continue
        if "-" in s:
            a, b = (p.strip()[:3] for p in s.split("-", 1))
            if a not in DAYS or b not in DAYS:
                fail("unknown days %r" % item)
            i, j = DAYS.index(a), DAYS.index(b)
            k = i
            while True:
                out.add(k)
                if k == j:
                    break
                k = (k + 1) % 7
            continue
        if s[:3] not in DAYS:
            fail("unknown day %r" % item)
        out.add(DAYS.index(s[:3]))
    if not out:  # a window on no day would leave the zone with no schedule: always on
        fail('schedule days name no day (e.g. "Mon-Fri", "daily")')
    return sorted(out)


def _hhmm(v, fail):
    if isinstance(v, str) and len(v) == 5 and v[2] == ":" and (v[:2] + v[3:]).isdigit():
        h, m = int(v[:2]), int(v[3:])
        if h < 24 and m < 60 or (h, m) == (24, 0):
            return h * 60 + m
    fail('schedule times are "HH:MM" (00:00-24:00), not %r' % (v,))
    return 0


def table(zoneset):
    """The zone table as Python objects: (header, [zone, ...]) (protocol/zones.cddl)."""
    tzs, rows = [], []
    for z in zoneset:
        if z.windows and z.tz not in tzs:
            tzs.append(z.tz)
        if z.shape[0] == "circle":
            _, lat, lon, r = z.shape
            shape = [fw_zones.CIRCLE, lat, lon, r]
        else:
            polys = [
                [b"".join(struct.pack("<ii", la, lo) for la, lo in ring) for ring in poly]
                for poly in z.shape[1]
            ]
            shape = [fw_zones.POLYGONS, polys]
        rows.append(
            [
                z.id,
                KINDS[z.kind],
                round(z.approach_m * 100),
                tzs.index(z.tz) if z.windows else 0,
                [list(w) for w in z.windows],
                shape,
            ]
        )
    header = [fw_table.TABLE_VERSION, dict(zoneset.settings), tzs, len(rows)]
    return header, rows


def encode(header, rows):
    """The table's bytes: a CBOR sequence of byte strings, each one item in deterministic
    CBOR (the header, then one per zone), so the tag can read it a zone at a time."""
    return b"".join(
        cbor2.dumps(cbor2.dumps(item, canonical=True)) for item in [header] + list(rows)
    )


def decode(data):
    """(header, rows) from a table's bytes (host tools)."""
    items = []
    f = io.BytesIO(data)
    while True:
        try:
            item = cbor2.load(f)
        except cbor2.CBORDecodeEOF:
            break
        if not isinstance(item, bytes):
            raise ZoneFileError("not a zone table: items must be byte strings")
        items.append(cbor2.loads(item))
    if not items:
        raise ZoneFileError("empty zone table")
    return items[0], items[1:]


def compile_table(zoneset):
    """The zone table's bytes, checked with the tag's own loader."""
    data = encode(*table(zoneset))
    try:
        fw_table.load_table(data)
    except fw_zones.ZoneTableError as e:
        raise ZoneFileError(
            "%s: the tag would refuse this table: %s" % (zoneset.source, e)
        ) from None
    return data


def engine(zoneset):
    """The tag's zone engine for these zones, in process (simulations and benchmarks)."""
    return fw_table.engine(compile_table(zoneset))
