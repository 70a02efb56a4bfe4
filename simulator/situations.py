"""Situations where a duty-cycled receiver used to miss breaches: the whole tag, end to end.

    results = run(kinds, per_kind, seed, workers)     # one dict per situation
    summary = summarise(results); print(report(summary))

Unlike simulator/alertbench.py (the zone engine on 1 Hz fixes), each situation here is a
short scenario run by the simulator: the unmodified firmware (on CPython in-process) duty-
cycling its receiver (firmware/duty.py), the receiver model with its TTFF and noise, the
accelerometer, the link and the bridge's store. A breach counts when its alert reached the
store; latency is from the true entry (a curfew: from its start) to the store.

Kinds (each situation drawn from its own seed: place between 50 S and 60 N, zone, speeds,
environment, and the fitting's rest_fix_interval_s: 60 s, 5 or 10 minutes):
- from_rest: a car parked 100-400 m from an exclusion circle (radius 100-300 m), still
  long enough for the tag to rest its receiver, moves off 1-20 s after a fix taken at rest
  (the fix times come from a first run of the rest alone) and drives through the circle
  (within a third of its radius of the middle) at 8-15 m/s;
- red_light: driving at 10-15 m/s toward such a circle from 3 km out, a stop of 30-60 s
  150-350 m before its edge, then through it;
- curfew_still: indoors (or in a suburb) and still 0.3-3 km from the approved address (a
  60-100 m circle) when a 21:00 curfew starts;
- timed_exclusion: still, indoors, within 10 m of the middle of an exclusion circle (100-
  300 m) whose window opens at 21:00 (a school, a victim's workplace by day);
- run_entry / drive_entry: running at 2.5-5 m/s from 1.5 km out, or driving at 8-25 m/s
  from 3 km out, to a point 30-100 m inside, 60-300 s there, then away;
and, where no breach may come (false alerts):
- near_miss_drive: driving past 30-100 m outside at 8-15 m/s, with a 30-60 s stop at a
  light beside the zone;
- curfew_home: at home and still when the curfew starts.
"""

import json
import math
import os
import random
import tempfile
import time

from emtag.simulator import geo

KINDS = (
    "from_rest",
    "red_light",
    "curfew_still",
    "timed_exclusion",
    "run_entry",
    "drive_entry",
    "near_miss_drive",
    "curfew_home",
)
BREACH = {"from_rest", "red_light", "curfew_still", "timed_exclusion", "run_entry",
          "drive_entry"}  # fmt: skip
START = "2026-01-12T20:30:00Z"  # a Monday, GMT: the curfew starts 30 minutes in
CURFEW_START_S = 1800
REST_S = 600  # still before a from_rest departure: the receiver rests (fixes at rest)
REST_FIX_S = (60, 60, 300, 600)  # rest_fix_interval_s, drawn per situation
STORED_WITHIN_S = 240  # NIJ Standard-1004.00: a zone alert delivered within 4 minutes


class Plan:
    """One situation: a route (east/north metres from the zone's middle, speeds, dwells)."""

    def __init__(self, kind, index, seed, fixed=None):
        """fixed: values to use instead of drawing them (by the names _u and _pick take)."""
        self.kind = kind
        self.index = index
        self.rng = random.Random("%s/%d/%d" % (kind, seed, index))
        self.fixed = fixed or {}
        r = self.rng
        self.seed = r.randrange(1, 1 << 30)
        self.lat = r.uniform(-50, 60)
        self.lon = r.uniform(-179, 179)
        self.env = self._pick("env", ("open_sky", "suburban", "suburban"))
        self.rest_s = self._pick("rest_s", REST_FIX_S)  # the fitting's rest_fix_interval_s
        self.points = []  # (east, north)
        self.speeds = []
        self.dwell = []  # [vertex, seconds]
        self.duration_s = 0
        self.zone = None  # GeoJSON properties
        self.depart_after_fix_s = None
        getattr(self, "_" + kind)()

    def _u(self, name, lo, hi):
        v = self.rng.uniform(lo, hi)  # drawn anyway: the other draws stay the same
        return self.fixed.get(name, v)

    def _pick(self, name, choices):
        v = self.rng.choice(choices)
        return self.fixed.get(name, v)

    def _line(self, points, speeds, dwell, radius, kind="exclusion"):
        self.points, self.speeds, self.dwell = points, speeds, dwell
        self.zone = {"id": "zone", "kind": kind, "radius_m": round(radius)}
        length = sum(
            math.hypot(b[0] - a[0], b[1] - a[1]) / v
            for a, b, v in zip(points, points[1:], speeds, strict=False)
        )
        self.duration_s = int(length + sum(s for _, s in dwell) + 120)

    def _through(self, radius, before, after):
        """x where a chord within a third of the radius enters (-) and leaves (+)."""
        y = self._u("offset", -radius / 3, radius / 3)
        half = math.sqrt(radius * radius - y * y)
        return y, -half - before, half + after

    def _from_rest(self):
        radius = self._u("radius", 100, 300)
        y, x0, x1 = self._through(radius, self._u("gap", 100, 400), 600)
        self.depart_after_fix_s = self._pick("depart", range(1, 21))
        self._line([(x0, y), (x1, y)], [self._u("speed", 8, 15)], [[0, REST_S]], radius)

    def _red_light(self):
        radius = self._u("radius", 100, 300)
        y, x_light, x1 = self._through(radius, self._u("gap", 150, 350), 600)
        v = self._u("speed", 10, 15)
        pts = [(-3000, y), (x_light, y), (x1, y)]
        self._line(pts, [v, v], [[0, 300], [1, self._u("stop", 30, 60)]], radius)

    def _curfew(self, at_home, kind="inclusion"):
        radius = self._u("radius", 60, 100) if kind == "inclusion" else self._u("radius", 100, 300)
        d = self._u("away", 0, 10) if at_home else self._u("away", 300, 3000)
        a = self._u("bearing", 0, 2 * math.pi)
        p = (d * math.cos(a), d * math.sin(a))
        self.env = "indoor" if at_home else self._pick("env", ("indoor", "suburban"))
        self._line([p, (p[0] + 3, p[1] + 3)], [1.0], [[0, 2400]], radius, kind)
        self.zone["schedule"] = [{"days": "daily", "start": "21:00", "end": "07:00"}]
        self.zone["tz"] = "GMT0BST,M3.5.0/1,M10.5.0"
        self.duration_s = 2400

    def _curfew_still(self):
        self._curfew(False)

    def _curfew_home(self):
        self._curfew(True)

    def _timed_exclusion(self):
        self._curfew(True, "exclusion")

    def _entry(self, v, start):
        radius = self._u("radius", 130, 300)
        a = self._u("bearing", 0, 2 * math.pi)
        b = a + self._u("turn", -1.5, 1.5)
        depth = self._u("depth", 30, 100)
        c, s = math.cos(a), math.sin(a)
        inside = ((radius - depth) * c, (radius - depth) * s)
        far_in = ((radius + start) * c, (radius + start) * s)
        far_out = ((radius + 600) * math.cos(b), (radius + 600) * math.sin(b))
        stay = self._u("stay", 60, 300)
        self._line([far_in, inside, far_out], [v, v], [[0, 300], [1, stay]], radius)

    def _run_entry(self):
        self._entry(self._u("speed", 2.5, 5), 1500)

    def _drive_entry(self):
        self._entry(self._u("speed", 8, 25), 3000)

    def _near_miss_drive(self):
        radius = self._u("radius", 100, 300)
        y = radius + self._u("gap", 30, 100)
        v = self._u("speed", 8, 15)
        pts = [(-3000, y), (0, y), (1500, y)]
        self._line(pts, [v, v], [[0, 300], [1, self._u("stop", 30, 60)]], radius)

    # files and the scenario
    def write(self, d, rest_only=False):
        coords = []
        for e, n in self.points:
            la, lo = geo.offset(self.lat, self.lon, e, n)
            coords.append([round(lo, 7), round(la, 7)])
        route = {
            "type": "Feature",
            "properties": {"speed_mps": self.speeds, "dwell_s": self.dwell},
            "geometry": {"type": "LineString", "coordinates": coords},
        }
        zones = {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": self.zone,
                    "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]},
                }
            ],
        }
        for name, doc in (("route.geojson", route), ("zones.geojson", zones)):
            with open(os.path.join(d, name), "w") as f:
                json.dump(doc, f)
        data = {
            "name": "%s %d" % (self.kind, self.index),
            "seed": self.seed,
            "start": START,
            "duration_s": REST_S - 20 if rest_only else self.duration_s,
            "route": "route.geojson",
            "zones": "zones.geojson",
            "gnss": {"environment": self.env},
            "tag": {"config": {"rest_fix_interval_s": self.rest_s}},
        }
        from emtag.simulator import scenario

        return scenario.Scenario(os.path.join(d, "situation.toml"), data)


def _events(d):
    with open(os.path.join(d, "events.jsonl")) as f:
        return [json.loads(line) for line in f]


def _t(ev):
    import datetime

    return datetime.datetime.fromisoformat(ev["t"].replace("Z", "+00:00")).timestamp()


def run_one(job):
    """Run one situation, job = (kind, index, seed[, fixed]); its outcome as a dict."""
    kind, index, seed = job[:3]
    from emtag.simulator import simulate

    plan = Plan(kind, index, seed, job[3] if len(job) > 3 else None)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="emtag-situation-") as d:
        if plan.depart_after_fix_s is not None:
            # the rest alone first: when the tag logs its fixes there (identical in the
            # full run up to the departure, every draw being seeded)
            simulate.simulate(plan.write(d, rest_only=True), d, "cpython")
            start = _t(_events(d)[0])
            fixes = [_t(e) - start for e in _events(d) if e["type"] == "fix"]
            last = max([t for t in fixes if t < REST_S - 60], default=REST_S - 60)
            plan.dwell[0][1] = last + plan.depart_after_fix_s
            plan.duration_s += int(plan.dwell[0][1]) - REST_S
        r = simulate.simulate(plan.write(d), d, "cpython")
        evs = _events(d)
    start = _t(evs[0])
    if "schedule" in plan.zone:
        truth = start + CURFEW_START_S if kind in BREACH else None
    else:
        enter = [e for e in evs if e["type"] == "truth_enter"]
        truth = _t(enter[0]) if enter else None
    stored = [
        e for e in evs if e["source"] == "bridge" and e["type"] == "alert" and e.get("zone")
    ]
    breaches = [_t(e) for e in stored if e["alert"].endswith("_breach")]
    return {
        "kind": kind,
        "index": index,
        "expected": kind in BREACH and truth is not None,
        "latency_s": breaches[0] - truth if breaches and truth is not None else None,
        "breaches": len(breaches),
        "possible": sum(1 for e in stored if e["alert"] == "crossing_possible"),
        "gnss_on_share": r["hardware"]["gnss_on_share"],
        "sim_s": plan.duration_s,
        "wall_s": time.monotonic() - t0,
    }


def run(kinds=KINDS, per_kind=24, seed=1, workers=None, progress=None):
    jobs = [(k, i, seed) for k in kinds for i in range(per_kind)]
    workers = workers or min(os.cpu_count() or 1, 8)
    if workers == 1:
        out = []
        for j in jobs:
            out.append(run_one(j))
            if progress:
                progress(len(out), len(jobs))
        return out
    from concurrent.futures import ProcessPoolExecutor

    out = []
    with ProcessPoolExecutor(workers) as pool:
        for res in pool.map(run_one, jobs):
            out.append(res)
            if progress:
                progress(len(out), len(jobs))
    return out


def summarise(results):
    by = {}
    for r in results:
        s = by.setdefault(
            r["kind"],
            {"runs": 0, "missed": 0, "late": 0, "false": 0, "possible": 0, "lat": [], "on": 0.0,
             "sim_s": 0},
        )  # fmt: skip
        s["runs"] += 1
        s["possible"] += r["possible"]
        s["on"] += r["gnss_on_share"]
        s["sim_s"] += r["sim_s"]
        if r["expected"]:
            if r["latency_s"] is None:
                s["missed"] += 1
            else:
                s["lat"].append(r["latency_s"])
                if r["latency_s"] > STORED_WITHIN_S:
                    s["late"] += 1
            s["false"] += max(0, r["breaches"] - 1)
        else:
            s["false"] += r["breaches"]
    return by


def report(by, wall_s=None):
    lines = [
        "situations (the whole tag in the simulator, receiver duty-cycled): breach stored "
        "within %d s of entry (curfew: of its start)" % STORED_WITHIN_S,
        "",
        "%-16s %5s %7s %7s %16s %6s %9s %8s"
        % ("situation", "runs", "missed", "> %ds" % STORED_WITHIN_S, "stored median/max",
           "false", "possible", "GNSS on"),
    ]  # fmt: skip
    tot = {"runs": 0, "missed": 0, "late": 0, "false": 0, "possible": 0, "sim_s": 0}
    for kind in KINDS:
        s = by.get(kind)
        if not s:
            continue
        lat = sorted(s["lat"])
        med = "%.0f / %.0f s" % (lat[len(lat) // 2], lat[-1]) if lat else "-"
        lines.append(
            "%-16s %5d %7s %7s %16s %6d %9d %7.0f%%"
            % (kind, s["runs"], s["missed"] if kind in BREACH else "-",
               s["late"] if kind in BREACH else "-", med, s["false"], s["possible"],
               100 * s["on"] / s["runs"])
        )  # fmt: skip
        for k in tot:
            tot[k] += s[k]
    days = tot["sim_s"] / 86400
    lines.append("")
    lines.append(
        "all: %d runs, %d missed, %d stored later than %d s; false breaches %d in %.2f "
        "simulated tag-days; crossing_possible %d"
        % (tot["runs"], tot["missed"], tot["late"], STORED_WITHIN_S, tot["false"], days,
           tot["possible"])
    )  # fmt: skip
    if wall_s is not None:
        lines.append("wall time %.1f s" % wall_s)
    return "\n".join(lines)
