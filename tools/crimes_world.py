"""A simulated town for the crime-mapping benchmark: wearers with days of their own (home,
bus or car to work or the shops, walks, indoors and out, urban canyons), each run through
the simulator as a tag (firmware, GNSS receiver model, flash, bridge: simulator/fleet.py),
and their stores merged into one centre store. The routes are the ground truth: where
each wearer really was at every moment (simulator/route.py).

    town = build(out_dir, tags=12, seed=1, hours=16)
    town.store_path, town.devices, town.routes       # device -> Route, start (UTC s)
    town.min_distance(device, lat, lon, t0, t1)      # true closest approach, metres
"""

import json
import math
import os
import random
import sqlite3
from dataclasses import dataclass, field

from emtag.simulator import fleet, routefile

TOWN = (53.4808, -2.2453)  # centre of the simulated town (the examples' approved address)
TOWN_M = 6000  # the town's width and height
START = 1773036000  # 2026-03-09T06:00:00Z, a Monday
M_PER_DEG = 111195.0


def off(lat, lon, east, north):
    lat2 = lat + north / M_PER_DEG
    return lat2, lon + east / (M_PER_DEG * math.cos(math.radians(lat)))


def local(lat, lon, lat0, lon0):
    """(east, north) metres of (lat, lon) from (lat0, lon0), flat at lat0."""
    return (lon - lon0) * M_PER_DEG * math.cos(math.radians(lat0)), (lat - lat0) * M_PER_DEG


class Day:
    """A wearer's day as a route: go somewhere, stay until a time (cf. example_routes.py)."""

    def __init__(self, home):
        self.coords, self.speeds, self.dwell = [home], [], {}
        self.envs = [[0, "indoor"]]
        self.t = 0.0

    def here(self):
        return self.coords[-1]

    def stay_until(self, hours):
        k = len(self.coords) - 1
        self.dwell[k] = self.dwell.get(k, 0) + max(0, hours * 3600 - self.t)
        self.t = max(self.t, hours * 3600)

    def go(self, points, speed, env):
        if self.envs[-1][1] != env:
            self.envs.append([len(self.coords), env])
        for p in points:
            (lat0, lon0), (lat1, lon1) = self.coords[-1], p
            e, n = local(lat1, lon1, lat0, lon0)
            self.t += max(1.0, math.hypot(e, n)) / speed
            self.coords.append(p)
            self.speeds.append(speed)

    def geojson(self, name):
        return {
            "type": "Feature",
            "properties": {
                "name": name,
                "speed_mps": self.speeds,
                "dwell_s": [[k, round(v)] for k, v in sorted(self.dwell.items()) if v > 0],
                "environments": self.envs,
            },
            "geometry": {
                "type": "LineString",
                "coordinates": [[round(lon, 7), round(lat, 7)] for lat, lon in self.coords],
            },
        }


def _wander(rng, p, legs, step):
    """A few street-like legs (east-west or north-south) from p."""
    out = []
    lat, lon = p
    for i in range(legs):
        d = rng.uniform(0.4, 1.0) * step * rng.choice((-1, 1))
        lat, lon = off(lat, lon, d, 0) if i % 2 == 0 else off(lat, lon, 0, d)
        out.append((lat, lon))
    return out


def _in_town(rng, margin=500):
    h = TOWN_M / 2 - margin
    return off(*TOWN, rng.uniform(-h, h), rng.uniform(-h, h))


def wearer_day(rng, hours):
    """A random day: mostly a bus to work or a centre with a walk there, the shops, a
    friend; some wearers drive. Times in hours after 06:00."""
    home = _in_town(rng)
    d = Day(home)
    door = off(*home, rng.uniform(-10, 10), rng.uniform(-10, 10))
    t = rng.uniform(0.5, 2.5)
    while t < hours - 1.5:
        d.stay_until(t)
        kind = rng.choice(("bus", "bus", "walk", "walk", "drive"))
        dest = _in_town(rng)
        if kind == "bus":
            stop = off(*home, rng.uniform(-300, 300), rng.uniform(-300, 300))
            d.go([door, stop], rng.uniform(1.1, 1.5), "suburban")
            d.stay_until(d.t / 3600 + rng.uniform(2, 12) / 60)
            d.go(_wander(rng, stop, 2, 1500) + [dest], rng.uniform(5, 8), "urban_canyon")
        elif kind == "drive":
            d.go([door], 1.2, "suburban")
            d.go(_wander(rng, door, 3, 2000) + [dest], rng.uniform(9, 16), "open_sky")
        else:
            d.go([door] + _wander(rng, door, 3, 700) + [dest], rng.uniform(1.1, 1.6), "suburban")
        d.stay_until(d.t / 3600 + rng.uniform(0.3, 3.0))  # there: indoors
        d.go(
            _wander(rng, dest, rng.randint(2, 5), 400),
            rng.uniform(1.1, 1.5),
            rng.choice(("urban_canyon", "suburban", "open_sky")),
        )
        back = rng.uniform(1.1, 1.5) if kind == "walk" else rng.uniform(5, 12)
        d.go([door], back, "suburban" if kind == "walk" else "urban_canyon")
        d.go([home], 1.0, "indoor")
        t = d.t / 3600 + rng.uniform(0.2, 2.0)
    if len(d.coords) == 1:  # a day at home: to the door and back
        d.go([door, home], 1.0, "indoor")
    d.stay_until(hours)
    return d


SCENARIO = """name = "crime-mapping bench wearer {i}"
seed = {seed}
start = "{start}"
duration_s = {duration}
board = "sim"
route = "route.geojson"

[gnss]
environment = "indoor"

[tag]
armed = true
"""


@dataclass
class Town:
    store_path: str
    start: int
    hours: float
    routes: dict = field(default_factory=dict)  # device -> Route
    results: list = field(default_factory=list)

    @property
    def devices(self):
        return sorted(self.routes)

    def min_distance(self, device, lat, lon, t0, t1):
        """The wearer's true closest approach (metres) to (lat, lon) during [t0, t1]."""
        r = self.routes[device]
        a, b = t0 - self.start, t1 - self.start
        best = math.inf
        for s0, s1, lat0, lon0, lat1, lon1 in r.legs:
            if s1 < a or s0 > b:
                continue
            best = min(best, _seg_distance(lat, lon, (s0, s1, lat0, lon0, lat1, lon1), a, b))
        if b > r.duration_s:  # after the route ends the wearer stays at its end
            _, _, _, _, lat1, lon1 = r.legs[-1]
            e, n = local(lat1, lon1, lat, lon)
            best = min(best, math.hypot(e, n))
        return best


def _seg_distance(lat, lon, leg, a, b):
    """Closest approach to (lat, lon) along a leg moving linearly from s0 to s1, clipped to
    the times [a, b]."""
    s0, s1, lat0, lon0, lat1, lon1 = leg
    f0 = 0.0 if s1 == s0 else max(0.0, (a - s0) / (s1 - s0))
    f1 = 1.0 if s1 == s0 else min(1.0, (b - s0) / (s1 - s0))
    x0, y0 = local(lat0 + (lat1 - lat0) * f0, lon0 + (lon1 - lon0) * f0, lat, lon)
    x1, y1 = local(lat0 + (lat1 - lat0) * f1, lon0 + (lon1 - lon0) * f1, lat, lon)
    dx, dy = x1 - x0, y1 - y0
    L = dx * dx + dy * dy
    k = 0.0 if L == 0 else min(1.0, max(0.0, -(x0 * dx + y0 * dy) / L))
    return math.hypot(x0 + k * dx, y0 + k * dy)


def _merge_tag_store(db):
    """Copy the attached store `tag` (one simulated tag's) into db's compact tables, its
    device renumbered and its arrivals after db's (host/store/compact.py)."""
    (offset,) = db.execute("SELECT n FROM feed_counter").fetchone()
    db.execute("INSERT INTO devices SELECT * FROM tag.devices")
    db.execute("INSERT INTO device_ids(device) SELECT device FROM tag.device_ids")
    remap = (
        "FROM tag.%s x JOIN tag.device_ids td ON td.dev = x.dev "
        "JOIN main.device_ids m ON m.device = td.device"
    )
    db.execute(
        "INSERT INTO blocks SELECT m.dev, x.last_seq, x.arrival + ?, x.first_seq, x.t_lo, "
        "x.t_hi, x.fixes, x.received, x.wire " + remap % "blocks",
        (offset,),
    )
    db.execute(
        "INSERT INTO proven SELECT m.dev, x.t, x.seq, x.type, x.t_ms, x.lat_e7, x.lon_e7, "
        "x.acc_cm, x.alert, x.zone " + remap % "proven"
    )
    db.execute("INSERT INTO fwd_marks SELECT m.dev, x.upto " + remap % "fwd_marks")
    db.execute(
        "UPDATE feed_counter SET n = n + (SELECT COALESCE(MAX(arrival), 0) FROM tag.blocks)"
    )
    db.execute(  # the crime trail index's queue, as the bridge's add_blocks fills it
        "INSERT INTO trail_todo(dev, t_lo) SELECT m.dev, MIN(x.t_lo) "
        + remap % "blocks"
        + " WHERE x.t_lo > 0 GROUP BY m.dev"
    )


def build(out_dir, tags=12, seed=1, hours=16.0, jobs=None, interpreter="cpython", on_done=None):
    """Simulate `tags` wearers for `hours` from START and merge their stores. A town already
    built in out_dir with the same settings is loaded instead (runs are deterministic)."""
    import datetime

    settings = {"tags": tags, "seed": seed, "hours": hours, "interpreter": interpreter}
    made = os.path.join(out_dir, "town.json")
    if os.path.exists(made):
        with open(made) as f:
            done = json.load(f)
        if done["settings"] == settings:
            town = Town(
                os.path.join(out_dir, "centre.sqlite"), START, hours, results=done["results"]
            )
            for dev, path in done["routes"].items():
                town.routes[dev] = routefile.load(path)
            return town
    rng = random.Random(seed)
    start_iso = datetime.datetime.fromtimestamp(START, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    work = []
    for i in range(tags):
        d = os.path.join(out_dir, "tag-%03d" % (i + 1))
        os.makedirs(d, exist_ok=True)
        day = wearer_day(rng, hours)
        with open(os.path.join(d, "route.geojson"), "w") as f:
            json.dump(day.geojson("wearer %d" % (i + 1)), f)
        path = os.path.join(d, "scenario.toml")
        tag_seed = seed * 1000 + i
        with open(path, "w") as f:
            f.write(
                SCENARIO.format(i=i + 1, seed=tag_seed, start=start_iso, duration=int(hours * 3600))
            )
        work.append((path, tag_seed, os.path.join(d, "run"), interpreter, {}))
    results = fleet._run_all(work, jobs, on_done)
    store_path = os.path.join(out_dir, "centre.sqlite")
    town = Town(store_path, START, hours, results=results)
    from emtag.host.store import Store

    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(store_path + suffix):
            os.remove(store_path + suffix)
    st = Store(store_path)
    st.close()
    db = sqlite3.connect(store_path)
    for (path, _, run_dir, _, _), r in zip(work, results, strict=True):
        if not r["device"]:
            continue
        db.execute("ATTACH DATABASE ? AS tag", (os.path.join(run_dir, "store.sqlite"),))
        with db:
            _merge_tag_store(db)
        db.execute("DETACH DATABASE tag")
        town.routes[r["device"]] = routefile.load(
            os.path.join(os.path.dirname(path), "route.geojson")
        )
    db.close()
    keep = {"fix_records", "device", "wall_s", "seed"}
    with open(made, "w") as f:
        json.dump(
            {
                "settings": settings,
                "results": [{k: v for k, v in r.items() if k in keep} for r in results],
                "routes": {
                    r["device"]: os.path.join(os.path.dirname(w[0]), "route.geojson")
                    for w, r in zip(work, results, strict=True)
                    if r["device"]
                },
            },
            f,
        )
    return town
