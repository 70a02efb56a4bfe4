"""Writes the routes (and the zone file) of the hardware examples in examples/.

    python -m emtag.tools.example_routes [EXAMPLES_DIR]

The routes are GeoJSON LineStrings with per-leg speeds, dwells and environments
(simulator/route.py); they are generated here so the typical week stays readable as a
schedule and can be changed and written again. Output is deterministic.
"""

import json
import math
import os
import sys

HOME = (-2.24530, 53.48080)  # the approved address (as in routes/at-home.geojson)
WORK = (-2.21200, 53.47050)
VICTIM = (-2.2913, 53.4631)  # as in zones/victim-home.geojson


def off(p, east, north):
    lon, lat = p
    return (
        round(lon + east / (111320 * math.cos(math.radians(lat))), 6),
        round(lat + north / 110540, 6),
    )


def dist(a, b):
    dx = (b[0] - a[0]) * 111320 * math.cos(math.radians(a[1]))
    dy = (b[1] - a[1]) * 110540
    return math.hypot(dx, dy)


def feature(name, coords, speed, dwell=None, envs=None):
    props = {"name": name, "speed_mps": speed}
    if dwell:
        props["dwell_s"] = dwell
    if envs:
        props["environments"] = envs
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "LineString", "coordinates": [list(c) for c in coords]},
    }


def simple_routes():
    door = off(HOME, 6, 4)
    walk = [HOME, door, off(HOME, 120, 60), off(HOME, 420, 90), off(HOME, 700, 250),
            off(HOME, 1000, 300)]  # fmt: skip
    p0 = off(HOME, 0, -800)
    loop = [p0, off(p0, 300, 0), off(p0, 600, 150), off(p0, 600, 500), off(p0, 250, 650),
            off(p0, -100, 400), p0]  # fmt: skip
    v = VICTIM  # an afternoon out west of the victim's home, then through their street
    cafe = off(v, -1000, 1100)
    afternoon = [off(v, -1800, 400), off(v, -1500, 900), cafe, off(cafe, 8, 6), cafe,
                 off(v, -700, 700), off(v, -900, 300), off(v, -800, 0), v,
                 off(v, 600, 0)]  # fmt: skip
    car = off(HOME, 15, 0)
    far1, far2 = off(HOME, 30000, 20000), off(HOME, 90000, 60000)
    return {
        "home-then-walk": feature(
            "At home (indoors) for 20 minutes, then a walk east along the street",
            walk, 1.4, [[0, 1200], [5, 600]], [[0, "indoor"], [1, "suburban"]],
        ),
        "park-loop": feature(
            "A walk round a suburban park, with a sit on a bench halfway",
            loop, 1.3, [[3, 900]], [[0, "suburban"], [2, "open_sky"], [5, "suburban"]],
        ),
        "afternoon-walk": feature(
            "From the bus stop to a cafe, a sit in the park, then through the victim's "
            "street, stopping outside the house",
            afternoon, 1.3, [[3, 1200], [5, 2400], [8, 120]],
            [[0, "suburban"], [3, "indoor"], [4, "suburban"], [5, "open_sky"], [6, "suburban"]],
        ),
        "long-drive": feature(
            "Home, a long drive out and back by car, home again",
            [HOME, car, far1, far2, far1, car, HOME], [1.2, 22.0, 27.0, 27.0, 22.0, 1.2],
            [[0, 900], [3, 1800]], [[0, "indoor"], [1, "open_sky"], [6, "indoor"]],
        ),
    }  # fmt: skip


class Week:
    """A route written as a schedule: go somewhere, stay until a time."""

    def __init__(self):
        self.coords, self.speeds, self.dwell = [HOME], [], {}
        self.envs = [[0, "indoor"]]
        self.t = 0.0

    def stay_until(self, hours):
        target = hours * 3600
        k = len(self.coords) - 1
        self.dwell[k] = self.dwell.get(k, 0) + max(0, target - self.t)
        self.t = max(self.t, target)

    def go(self, points, speed, env):
        if self.envs[-1][1] != env:
            self.envs.append([len(self.coords), env])  # from the arrival at the first point
        for p in points:
            self.t += dist(self.coords[-1], p) / speed
            self.coords.append(p)
            self.speeds.append(speed)

    def weekday(self, day, late=False):
        base = day * 24
        stop, door = off(HOME, 250, -200), off(WORK, -40, 10)
        self.stay_until(base + 7.5)
        self.go([off(HOME, 8, 3), off(HOME, 120, -90), stop], 1.3, "suburban")
        self.stay_until(base + 7.5 + 8 / 60)  # waiting for the bus
        self.go([off(stop, 1500, -300), off(WORK, -300, 0), door], 6.5, "urban_canyon")
        self.go([WORK], 1.2, "indoor")
        self.stay_until(base + 12.5)
        lunch = [door, off(WORK, 200, 150), off(WORK, 450, 100), off(WORK, 300, -200), door]
        self.go(lunch, 1.3, "urban_canyon")
        self.go([WORK], 1.2, "indoor")
        self.stay_until(base + 17.0)
        self.go([door], 1.2, "urban_canyon")
        self.go([off(WORK, -300, 0), off(stop, 1500, -300), stop], 6.5, "urban_canyon")
        self.go([off(HOME, 120, -90), off(HOME, 8, 3)], 1.3, "suburban")
        self.go([HOME], 1.0, "indoor")
        self.stay_until(base + 18.0)
        shops = off(HOME, -500, 300)
        self.go([off(HOME, 8, 3), off(HOME, -250, 100), shops], 1.3, "suburban")
        self.stay_until(base + 18.3 + (3.7 if late else 0))  # out with friends: home at 22:00
        self.go([off(HOME, -250, 100), off(HOME, 8, 3)], 1.3, "suburban")
        self.go([HOME], 1.0, "indoor")

    def saturday(self, day):
        self.stay_until(day * 24 + 10.0)
        park = off(HOME, 900, 700)
        self.go([off(HOME, 8, 3), off(HOME, 400, 300), park, off(park, 300, 200),
                 off(park, 0, 400), park, off(HOME, 400, 300), off(HOME, 8, 3)], 1.2,
                "open_sky")  # fmt: skip
        self.go([HOME], 1.0, "indoor")

    def sunday(self, day):
        self.stay_until(day * 24 + 15.0)
        friend = off(HOME, 1200, -600)
        self.go([off(HOME, 8, 3), off(HOME, 600, -300), friend], 1.3, "suburban")
        self.go([off(friend, 5, 5)], 1.0, "indoor")
        self.stay_until(day * 24 + 17.5)
        self.go([friend, off(HOME, 600, -300), off(HOME, 8, 3)], 1.3, "suburban")
        self.go([HOME], 1.0, "indoor")


def typical_week():
    w = Week()
    for d in range(5):
        w.weekday(d, late=(d == 0))  # Monday night: a curfew breach
    w.saturday(5)
    w.sunday(6)
    w.stay_until(7 * 24)
    return feature(
        "A typical week: bus to work on weekdays, lunch walk downtown, shops in the evening, "
        "out late on Monday, the park on Saturday, a friend on Sunday",
        w.coords, w.speeds, [[k, round(v)] for k, v in sorted(w.dwell.items()) if v > 0],
        w.envs,
    )  # fmt: skip


def week_zones():
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "id": "victim-home",
                    "kind": "exclusion",
                    "radius_m": 150,
                    "approach_m": 250,
                },  # fmt: skip
                "geometry": {"type": "Point", "coordinates": list(VICTIM)},
            },
            {
                "type": "Feature",
                "properties": {
                    "id": "approved-address",
                    "kind": "inclusion",
                    "radius_m": 80,
                    "schedule": [{"days": "daily", "start": "21:00", "end": "07:00"}],
                    "tz": "GMT0BST,M3.5.0/1,M10.5.0",
                },
                "geometry": {"type": "Point", "coordinates": list(HOME)},
            },
        ],
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    root = argv[0] if argv else os.path.join(os.path.dirname(__file__), "..", "examples")
    for name, feat in simple_routes().items():
        with open(os.path.join(root, "routes", name + ".geojson"), "w") as f:
            f.write(json.dumps(feat, indent=1) + "\n")
    with open(os.path.join(root, "routes", "typical-week.geojson"), "w") as f:
        json.dump(typical_week(), f, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(root, "zones", "typical-week.geojson"), "w") as f:
        json.dump(week_zones(), f, indent=1)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
