"""Routes: where the wearer truly is at each moment of a scenario.

A route is a GeoJSON LineString (a Feature or FeatureCollection holding one). Properties:
`speed_mps` (walking pace by default; a number, or a list with one speed per leg) and
optional `dwell_s`, a list of [vertex index, seconds] pairs: the wearer stops at that
vertex for that long; optional `environments`, a list of [vertex index, environment]
pairs: from that vertex on, the GNSS environment (open_sky, suburban, urban_canyon,
indoor) is this one. A GPX track (.gpx) works too (simulator/gpx.py): speeds and dwells
come from its timestamps. simulator/routefile.py reads either kind of file.
"""

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
