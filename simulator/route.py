"""Routes: where the wearer truly is at each moment of a scenario.

A route is a GeoJSON LineString (a Feature or FeatureCollection holding one). Properties:
`speed_mps` (walking pace by default; a number, or a list with one speed per leg) and
optional `dwell_s`, a list of [vertex index, seconds] pairs: the wearer stops at that
vertex for that long; optional `environments`, a list of [vertex index, environment]
pairs: from that vertex on, the GNSS environment (open_sky, suburban, urban_canyon,
indoor) is this one. A GPX track (.gpx) works too (simulator/gpx.py): speeds and dwells
come from its timestamps.
"""

import json

from emtag.simulator import geo

WALKING_MPS = 1.4


class RouteError(ValueError):
    pass


class Route:
    def __init__(self, coords, speed_mps=WALKING_MPS, dwell=None, environments=None):
        if len(coords) < 2:
            raise RouteError("a route needs at least two points")
        speeds = speed_mps if isinstance(speed_mps, list) else [speed_mps] * (len(coords) - 1)
        if len(speeds) != len(coords) - 1 or not all(v > 0 for v in speeds):
            raise RouteError("speed_mps must be positive (one number, or one per leg)")
        self.legs = []  # (t0, t1, lat0, lon0, lat1, lon1)
        self.vertex_t = []  # when the wearer reaches each vertex, s from the start
        self.environments = list(environments or [])  # [(vertex index, environment)]
        dwell = dict(dwell or {})
        t = 0.0
        for i in range(len(coords) - 1):
            (lon0, lat0), (lon1, lat1) = coords[i][:2], coords[i + 1][:2]
            self.vertex_t.append(t)
            if dwell.get(i):
                self.legs.append((t, t + dwell[i], lat0, lon0, lat0, lon0))
                t += dwell[i]
            d = geo.distance_m(lat0, lon0, lat1, lon1)
            self.legs.append((t, t + d / speeds[i], lat0, lon0, lat1, lon1))
            t += d / speeds[i]
        self.vertex_t.append(t)
        for v, _ in self.environments:
            if not 0 <= v < len(coords):
                raise RouteError("environments: vertex %d is not on the route" % v)
        last = len(coords) - 1
        if dwell.get(last):
            lon1, lat1 = coords[last][:2]
            self.legs.append((t, t + dwell[last], lat1, lon1, lat1, lon1))
            t += dwell[last]
        self.duration_s = t

    def at(self, t):
        """(lat, lon, speed m/s, course deg) at t seconds from the start; holds at the end."""
        for t0, t1, lat0, lon0, lat1, lon1 in self.legs:
            if t < t1:
                f = 0.0 if t1 == t0 else max(0.0, (t - t0) / (t1 - t0))
                lat, lon = lat0 + (lat1 - lat0) * f, lon0 + (lon1 - lon0) * f
                if (lat0, lon0) == (lat1, lon1):
                    return lat, lon, 0.0, 0.0
                speed = geo.distance_m(lat0, lon0, lat1, lon1) / (t1 - t0)
                return lat, lon, speed, geo.bearing_deg(lat0, lon0, lat1, lon1)
        _, _, _, _, lat1, lon1 = self.legs[-1]
        return lat1, lon1, 0.0, 0.0


def load(path):
    if path.lower().endswith(".gpx"):
        from emtag.simulator import gpx

        return gpx.load(path)
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise RouteError("cannot read route %s: %s" % (path, e)) from None
    if doc.get("type") == "FeatureCollection":
        lines = [
            f for f in doc.get("features", []) if f.get("geometry", {}).get("type") == "LineString"
        ]
        if len(lines) != 1:
            raise RouteError("%s: expected exactly one LineString feature" % path)
        doc = lines[0]
    props = doc.get("properties") or {}
    geom = doc.get("geometry") if doc.get("type") == "Feature" else doc
    if not geom or geom.get("type") != "LineString":
        raise RouteError("%s: route must be a GeoJSON LineString" % path)
    dwell = {}
    for item in props.get("dwell_s", []):
        if not (isinstance(item, list) and len(item) == 2):
            raise RouteError("%s: dwell_s items are [vertex index, seconds]" % path)
        dwell[int(item[0])] = float(item[1])
    speed = props.get("speed_mps", WALKING_MPS)
    speed = [float(v) for v in speed] if isinstance(speed, list) else float(speed)
    envs = []
    for item in props.get("environments", []):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[1], str)):
            raise RouteError("%s: environments items are [vertex index, environment]" % path)
        envs.append((int(item[0]), item[1]))
    return Route(geom["coordinates"], speed, dwell, envs)
