"""Alert-quality benchmark: the tag's zone engine against naive geofencing on noisy tracks.

Each simulated tag-day has one exclusion zone (a circle or a star-shaped polygon of 6-64
vertices with concave parts, 100-400 m from its middle to its edge, with a 200 m warning
buffer, somewhere between 55 S and 60 N) and the wearer's episodes near it, 1 Hz fixes
throughout:

- near misses: passing by on a straight street (walking, cycling or in a vehicle) whose
  closest point is 30-100 m outside the boundary, or walking to a spot 30-100 m outside
  and lingering there 1-20 minutes (a bus stop, a shop) before walking off;
- true entries (on 40 % of days): walking, cycling or driving to a point at least 30 m
  inside (the mirror of the closest near miss; half go to the protected address at the
  centre), staying 1-10 minutes, and leaving. Each stays at least 60 s inside.
Time away from the zone (more than 600 m off) is not simulated: no rule can fire there.

GNSS errors, all in an urban canyon (simulator/gnss.py's urban_canyon: 12 m per axis,
first-order Gauss-Markov with 30 s correlation, reported in GST), plus:
- multipath/NLOS excursions, on average one every 3 minutes: 15-100 m, lasting 5-60 s,
  ramping in and out over 1-4 s, across the street when moving (toward or away from the
  zone) and in any direction when standing. The receiver's accuracy estimate sees a
  random 0-50 % of the excursion (0 %: it reports its usual 34 m);
- Doppler speed with 0.15 m/s noise, biased by up to 0.5 m/s during an excursion;
- satellites in use wandering between 3 and 10 (HDOP from them), and fix outages
  (about one every 10 minutes, 2-20 s).

Both engines see the same fixes. emtag: the tag's own ZoneEngine (firmware/zones.py),
default settings. Naive: an alert on every fix inside the zone after one outside, as
server-side geofencing does with the points it receives. An alert within 30 s before a
true entry to 60 s after the exit counts as that entry's detection (latency from the first
truly-inside second to the fix that raised the alert); any other breach alert is false;
more breach alerts for the same entry are repeats. A true entry without an alert is missed.
"""

import bisect
import math
import os
import random
import statistics
import time

from emtag.host import zonefile
from emtag.simulator import gnss

SIGMA_M, HDOP, SATS = gnss.ENVIRONMENTS["urban_canyon"]
TAU_S = gnss.CORRELATION_S
MODES = (("walk", 1.4, 0.55), ("cycle", 5.0, 0.15), ("vehicle", 11.0, 0.30))
DAY0 = 1767600000  # 2026-01-05 08:00 UTC
EXCURSION_EVERY_S = 180
OUTAGE_EVERY_S = 600
ENTRY_DAY_SHARE = 0.4
MIN_DEPTH_M = 30.0
MATCH_BEFORE_S = 30
MATCH_AFTER_S = 60
# the GNSS model's knobs, for sensitivity runs: the most of an excursion the receiver's
# accuracy estimate may show (seen), and whether it reports Doppler speed
MODEL = {"seen": 0.5, "doppler": True}
PIECE_DAYS = 10  # benchmark(): tag-days per share of the work (progress after each)


class Shape:
    """The zone in its own plane (metres east/north of the centre): a circle or a polygon
    star-shaped around the centre, so "inside?" is one bisection and one cross product."""

    def __init__(self, radius=None, vertices=None):
        self.radius = radius
        self.v = vertices
        if vertices:
            self.ang = [math.atan2(y, x) for x, y in vertices]  # increasing, -pi..pi

    def inside(self, x, y):
        if self.radius is not None:
            return x * x + y * y < self.radius * self.radius
        v = self.v
        k = bisect.bisect_right(self.ang, math.atan2(y, x)) - 1  # -1 wraps to the last
        (ax, ay), (bx, by) = v[k], v[(k + 1) % len(v)]
        return (bx - ax) * (y - ay) - (by - ay) * (x - ax) > 0  # left of a CCW edge

    def sd(self, x, y):
        """Signed distance to the boundary (m, positive inside), exactly."""
        if self.radius is not None:
            return self.radius - math.hypot(x, y)
        best = math.inf
        v = self.v
        for k in range(len(v)):
            (ax, ay), (bx, by) = v[k - 1], v[k]
            dx, dy = bx - ax, by - ay
            t = min(1.0, max(0.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
            best = min(best, math.hypot(x - ax - t * dx, y - ay - t * dy))
        return best if self.inside(x, y) else -best

    def support(self, nx, ny):
        """max over the zone of p . n"""
        if self.radius is not None:
            return self.radius
        return max(x * nx + y * ny for x, y in self.v)

    def feature(self, plane, zid):
        if self.radius is not None:
            geom = {"type": "Point", "coordinates": [plane.lon0, plane.lat0]}
            props = {"id": zid, "kind": "exclusion", "radius_m": self.radius, "approach_m": 200}
        else:
            ring = [list(reversed(plane.latlon(x, y))) for x, y in self.v]
            geom = {"type": "Polygon", "coordinates": [ring + [list(ring[0])]]}
            props = {"id": zid, "kind": "exclusion", "approach_m": 200}
        return {"type": "Feature", "properties": props, "geometry": geom}


def make_shape(rng, vertices=None):
    size = rng.uniform(100, 400)
    if vertices is None and rng.random() < 0.4:
        return Shape(radius=size)
    n = vertices or rng.choice((6, 8, 12, 16, 24, 32, 48, 64))
    pts = []
    for k in range(n):
        a = 2 * math.pi * (k + 0.5 + rng.uniform(-0.3, 0.3)) / n - math.pi  # in (-pi, pi)
        r = size * rng.uniform(0.6, 1.0)
        pts.append((r * math.cos(a), r * math.sin(a)))
    return Shape(vertices=pts)


class Track:
    """True positions, one per second: x, y (m), speed (m/s), heading (rad, from east)."""

    def __init__(self):
        self.x, self.y, self.v, self.h = [], [], [], []

    def go(self, x0, y0, x1, y1, speed):
        d = math.hypot(x1 - x0, y1 - y0)
        n = max(1, int(d / speed))
        h = math.atan2(y1 - y0, x1 - x0)
        for k in range(n):
            f = k / n
            self.x.append(x0 + (x1 - x0) * f)
            self.y.append(y0 + (y1 - y0) * f)
            self.v.append(speed)
            self.h.append(h)

    def stay(self, x, y, seconds, rng):
        for _ in range(int(seconds)):
            self.x.append(x + rng.gauss(0, 0.3))  # shuffling about on the spot
            self.y.append(y + rng.gauss(0, 0.3))
            self.v.append(0.0)
            self.h.append(0.0)


def _mode(rng):
    r = rng.random()
    for name, speed, w in MODES:
        if r < w:
            return name, speed * rng.uniform(0.8, 1.2)
        r -= w
    return MODES[-1][0], MODES[-1][1]


def _ray_point(shape, angle, depth):
    """The point on a ray from the centre at signed distance `depth` (bisection)."""
    c, s = math.cos(angle), math.sin(angle)
    lo, hi = 0.0, 2000.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if shape.sd(mid * c, mid * s) > depth:
            lo = mid
        else:
            hi = mid
    return lo * c, lo * s


def _clear_of(shape, track, start, dist):
    return all(shape.sd(track.x[k], track.y[k]) <= -dist for k in range(start, len(track.x), 5))


def episode_pass(shape, rng, track):
    d = rng.uniform(30, 100)
    mode, speed = _mode(rng)
    a = rng.uniform(0, 2 * math.pi)
    nx, ny = math.cos(a), math.sin(a)
    c = shape.support(nx, ny) + d
    ux, uy = -ny, nx
    track.go(c * nx - 700 * ux, c * ny - 700 * uy, c * nx + 700 * ux, c * ny + 700 * uy, speed)
    return "pass", mode, d


def episode_linger(shape, rng, track):
    d = rng.uniform(30, 100)
    for _ in range(100):
        start = len(track.x)
        a = rng.uniform(0, 2 * math.pi)
        x, y = _ray_point(shape, a, -d)
        b1 = a + rng.uniform(-1.0, 1.0)
        b2 = a + rng.uniform(-1.0, 1.0)
        speed = MODES[0][1] * rng.uniform(0.8, 1.2)
        track.go(x + 600 * math.cos(b1), y + 600 * math.sin(b1), x, y, speed)
        track.stay(x, y, rng.uniform(60, 1200), rng)
        track.go(x, y, x + 600 * math.cos(b2), y + 600 * math.sin(b2), speed)
        if _clear_of(shape, track, start, d - 2.0):
            return "linger", "walk", d
        for lst in (track.x, track.y, track.v, track.h):
            del lst[start:]
    raise RuntimeError("no lingering spot found")


def episode_entry(shape, rng, track):
    mode, speed = _mode(rng)
    a = rng.uniform(0, 2 * math.pi)
    centre_depth = shape.sd(0.0, 0.0)
    if rng.random() < 0.5 or centre_depth < MIN_DEPTH_M + 5:
        x, y = 0.0, 0.0
    else:
        x, y = _ray_point(shape, a, rng.uniform(MIN_DEPTH_M, min(150.0, centre_depth)))
    b = a + rng.uniform(-1.5, 1.5)
    r0 = 600 + shape.support(math.cos(a), math.sin(a))
    r1 = 600 + shape.support(math.cos(b), math.sin(b))
    track.go(r0 * math.cos(a), r0 * math.sin(a), x, y, speed)
    track.stay(x, y, rng.uniform(60, 600), rng)
    track.go(x, y, r1 * math.cos(b), r1 * math.sin(b), speed)
    return "entry", mode, shape.sd(x, y)


class BenchFix:
    """What the NMEA parser hands the engine (emtag.firmware.gnss_fix.Fix attributes)."""

    def __init__(self):
        self.t = self.t_ms = self.lat = self.lon = self.fix = self.sats = None
        self.hdop = self.pdop = self.vdop = self.alt_cm = self.speed_mmps = None
        self.course_cdeg = self.acc_cm = None


class Day:
    def __init__(self, index, seed, vertices=None, model=None):
        self.model = dict(MODEL, **(model or {}))
        self.index = index
        rng = random.Random("%d/%d" % (seed, index))
        self.shape = make_shape(rng, vertices)
        self.plane = zonefile.LocalPlane(rng.uniform(-55, 60), rng.uniform(-179, 179))
        self.feature = self.shape.feature(self.plane, "zone-%d" % index)
        self.episodes = []  # (kind, mode, distance m, first second, last second)
        self.t, self.fixes, self.truth, self.naive_in = [], [], [], []
        t = DAY0 + 86400 * index
        kinds = ["pass"] * rng.randint(1, 5) + ["linger"] * rng.randint(1, 3)
        if rng.random() < ENTRY_DAY_SHARE:
            kinds.append("entry")
        rng.shuffle(kinds)
        build = {"pass": episode_pass, "linger": episode_linger, "entry": episode_entry}
        for kind in kinds:
            track = Track()
            what = build[kind](self.shape, rng, track)
            self.episodes.append(what + (t, t + len(track.x) - 1))
            self._observe(track, t, rng)
            t += len(track.x) + rng.randint(1800, 7200)

    def _observe(self, track, t0, rng):
        """GNSS fixes of a track: correlated noise, excursions, outages, satellites."""
        a = math.exp(-1.0 / TAU_S)
        k = SIGMA_M * math.sqrt(1 - a * a)
        ex, ey = rng.gauss(0, SIGMA_M), rng.gauss(0, SIGMA_M)
        sats_err = 0.0
        exc_left = 0  # seconds of the current excursion left
        exc = None
        outage = 0
        plane, shape = self.plane, self.shape
        for i in range(len(track.x)):
            x, y, v, h = track.x[i], track.y[i], track.v[i], track.h[i]
            ex = a * ex + k * rng.gauss(0, 1)
            ey = a * ey + k * rng.gauss(0, 1)
            sats_err = 0.95 * sats_err + 0.4 * rng.gauss(0, 1)
            if exc_left <= 0 and rng.random() < 1.0 / EXCURSION_EVERY_S:
                mag = rng.uniform(15, 100)
                dur = rng.randint(5, 60)
                d = h + rng.choice((-1, 1)) * math.pi / 2 if v > 0.5 else rng.uniform(0, 6.3)
                exc = (
                    mag,
                    dur,
                    rng.uniform(1, 4),
                    rng.uniform(1, 4),
                    d,
                    rng.uniform(0, self.model["seen"]),
                    rng.uniform(-0.5, 0.5),
                )
                exc_left = dur
            ox = oy = seen = dop = 0.0
            if exc_left > 0:
                mag, dur, rin, rout, d, frac, bias = exc
                age = dur - exc_left
                ramp = min(1.0, (age + 1) / rin, exc_left / rout)
                ox, oy = mag * ramp * math.cos(d), mag * ramp * math.sin(d)
                seen = frac * mag * ramp
                dop = bias
                exc_left -= 1
            if outage <= 0 and rng.random() < 1.0 / OUTAGE_EVERY_S:
                outage = rng.randint(2, 20)
            f = BenchFix()
            f.t, f.t_ms = t0 + i, 0
            mx, my = x + ex + ox, y + ey + oy
            inside = shape.inside(x, y)
            if outage > 0:
                outage -= 1
                f.fix = 0
                mx = my = None
            else:
                lat, lon = plane.latlon(mx, my)
                sats = max(3, min(10, round(SATS + sats_err)))
                sigma = math.hypot(SIGMA_M, seen)
                f.lat, f.lon = round(lat * 1e7), round(lon * 1e7)
                f.fix = 3 if sats >= 4 else 2
                f.sats = sats
                f.hdop = round(HDOP * 100 * SATS / sats)
                f.acc_cm = round(200 * math.sqrt(2) * sigma)
                f.speed_mmps = max(0, round(1000 * (v + rng.gauss(0, 0.15) + dop)))
                if not self.model["doppler"]:
                    f.speed_mmps = None
                f.course_cdeg = round(math.degrees(math.pi / 2 - h) % 360 * 100)
                f.alt_cm = 4500
            self.t.append(t0 + i)
            self.fixes.append(f)
            self.truth.append(inside)
            self.naive_in.append(None if mx is None else shape.inside(mx, my))

    def visits(self):
        """True entries: (first second inside, last second inside, seconds inside)."""
        out, start = [], None
        for i, inside in enumerate(self.truth):
            contiguous = i > 0 and self.t[i] == self.t[i - 1] + 1
            if inside and (start is None or not contiguous):
                if start is not None:
                    out.append((self.t[start], self.t[i - 1], i - start))
                start = i
            elif not inside and start is not None:
                out.append((self.t[start], self.t[i - 1], i - start))
                start = None
        if start is not None:
            out.append((self.t[start], self.t[-1], len(self.truth) - start))
        return out


def run_emtag(day, settings=None):
    """Breach alert times, other alerts by kind, and the filter's counts."""
    fc = {"type": "FeatureCollection", "features": [day.feature]}
    if settings:
        fc["settings"] = settings
    engine = zonefile.engine(zonefile.parse(fc))
    breaches, other = [], {}
    for f in day.fixes:
        for i in range(engine.update(f)):
            kind = engine.events[i][0]
            if kind == "exclusion_breach":
                breaches.append(f.t)
            else:
                other[kind] = other.get(kind, 0) + 1
    return breaches, other, engine.stats()


def run_naive(day):
    breaches, was_in = [], False
    for t, inside in zip(day.t, day.naive_in, strict=True):
        if inside is None:
            continue
        if inside and not was_in:
            breaches.append(t)
        was_in = inside
    return breaches


def score(breaches, visits):
    """(false, repeats, latencies, matched visit indices)."""
    false = repeats = 0
    latency = {}
    for t in breaches:
        hit = None
        for k, (t0, t1, _) in enumerate(visits):
            if t0 - MATCH_BEFORE_S <= t <= t1 + MATCH_AFTER_S:
                hit = k
                break
        if hit is None:
            false += 1
        elif hit in latency:
            repeats += 1
        else:
            latency[hit] = t - visits[hit][0]
    return false, repeats, latency


def run_days(indices, seed, settings=None, vertices=None, model=None):
    """Results for some tag-days (a worker's share)."""
    out = []
    for i in indices:
        day = Day(i, seed, vertices, model)
        visits = day.visits()
        e_breach, e_other, e_stats = run_emtag(day, settings)
        n_breach = run_naive(day)
        entry_modes = [ep[1] for ep in day.episodes if ep[0] == "entry"]
        out.append(
            {
                "fixes": len(day.fixes),
                "episodes": [ep[:3] for ep in day.episodes],
                "visits": [(v[2], entry_modes[0] if entry_modes else "?") for v in visits],
                "emtag": score(e_breach, visits),
                "naive": score(n_breach, visits),
                "emtag_other": e_other,
                "emtag_filter": e_stats,
                "false_emtag_days": [i] if score(e_breach, visits)[0] else [],
            }
        )
    return out


def benchmark(days=1000, seed=1, workers=None, settings=None, vertices=None, model=None,
              progress=None):
    """Run `days` tag-days; returns the summary dict (see `report`). progress(done, days),
    if given, as each share of the days (PIECE_DAYS or so) is done."""
    t0 = time.monotonic()
    workers = workers or min(os.cpu_count() or 1, 8)
    n = max(1, min(days, max(workers, days // PIECE_DAYS)))  # shares: progress as they end
    chunks = [list(range(k, days, n)) for k in range(n)]
    pool = None
    if workers > 1 and days >= 2 * workers:
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(workers)
    parts = []
    try:
        for part in (pool.map if pool else map)(
            run_days, chunks, [seed] * n, [settings] * n, [vertices] * n, [model] * n
        ):
            parts.append(part)
            if progress is not None:
                progress(sum(len(p) for p in parts), days)
    finally:
        if pool is not None:
            pool.shutdown()
    results = [r for part in parts for r in part]
    summary = summarise(results, days, seed)
    summary["wall_s"] = time.monotonic() - t0
    return summary


def _pct(values, q):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(math.ceil(q * len(s))) - 1)]


def summarise(results, days, seed):
    s = {"days": days, "seed": seed, "fixes": sum(r["fixes"] for r in results)}
    eps = [e for r in results for e in r["episodes"]]
    s["near_misses"] = sum(1 for e in eps if e[0] != "entry")
    s["passes"] = sum(1 for e in eps if e[0] == "pass")
    s["lingers"] = sum(1 for e in eps if e[0] == "linger")
    visits = [v for r in results for v in r["visits"]]
    s["entries"] = len(visits)
    long_idx = []
    for name in ("emtag", "naive"):
        false = sum(r[name][0] for r in results)
        repeats = sum(r[name][1] for r in results)
        lat, missed, by_mode = [], 0, {}
        for r in results:
            for k, (dur, mode) in enumerate(r["visits"]):
                if k in r[name][2]:
                    lat.append(r[name][2][k])
                    by_mode.setdefault(mode, []).append(r[name][2][k])
                elif dur >= 60:
                    missed += 1
        s[name] = {
            "false_per_day": false / days,
            "false": false,
            "repeats_per_day": repeats / days,
            "missed": missed,
            "detected": len(lat),
            "latency_median": statistics.median(lat) if lat else None,
            "latency_p95": _pct(lat, 0.95),
            "latency_max": max(lat) if lat else None,
            "latency_by_mode": {
                m: (statistics.median(v), _pct(v, 0.95), len(v)) for m, v in sorted(by_mode.items())
            },
        }
    long_idx = sum(1 for dur, _ in visits if dur >= 60)
    s["entries_60s"] = long_idx
    other = {}
    flt = {}
    for r in results:
        for k, v in r["emtag_other"].items():
            other[k] = other.get(k, 0) + v
        for k, v in r["emtag_filter"].items():
            flt[k] = flt.get(k, 0) + v
    s["emtag_other"] = other
    s["emtag_filter"] = flt
    s["false_days"] = [d for r in results for d in r["false_emtag_days"]]
    return s


def report(s):
    """The benchmark table, as printed by `emtag bench alerts`."""
    e, n = s["emtag"], s["naive"]

    def f(v, fmt="%.0f"):
        return "-" if v is None else fmt % v

    rows = [
        ("false alerts per tag-day", "%.3f" % e["false_per_day"], "%.3f" % n["false_per_day"]),
        ("false alerts (all days)", str(e["false"]), str(n["false"])),
        ("repeat alerts per tag-day", "%.3f" % e["repeats_per_day"], "%.3f" % n["repeats_per_day"]),
        (
            "missed breaches (>= 60 s inside)",
            "%d of %d" % (e["missed"], s["entries_60s"]),
            "%d of %d" % (n["missed"], s["entries_60s"]),
        ),
        ("detection latency median (s)", f(e["latency_median"]), f(n["latency_median"])),
        ("detection latency p95 (s)", f(e["latency_p95"]), f(n["latency_p95"])),
        ("detection latency max (s)", f(e["latency_max"]), f(n["latency_max"])),
    ]
    for mode in ("walk", "cycle", "vehicle"):
        em = e["latency_by_mode"].get(mode)
        nm = n["latency_by_mode"].get(mode)
        rows.append(
            (
                "  latency median / p95, %s (s)" % mode,
                "%s / %s" % (f(em and em[0]), f(em and em[1])),
                "%s / %s" % (f(nm and nm[0]), f(nm and nm[1])),
            )
        )
    w0 = max(len(r[0]) for r in rows)
    head = "%-*s  %16s  %22s" % (w0, "", "emtag", "naive (first fix in)")
    lines = [
        "emtag bench alerts: %d tag-days (seed %d), %d fixes at 1 Hz, urban canyon"
        % (s["days"], s["seed"], s["fixes"]),
        "near misses 30-100 m outside: %d (%d passing, %d lingering); true entries: %d "
        "(%d of them >= 60 s inside)"
        % (s["near_misses"], s["passes"], s["lingers"], s["entries"], s["entries_60s"]),
    ]
    model = s.get("model") or MODEL
    if model != MODEL:
        lines.append(
            "sensitivity run: receiver accuracy shows up to %d %% of an excursion, Doppler %s"
            % (100 * model["seen"], "reported" if model["doppler"] else "not reported")
        )
    lines += ["", head]
    for name, a, b in rows:
        lines.append("%-*s  %16s  %22s" % (w0, name, a, b))
    other = s["emtag_other"]
    flt = s["emtag_filter"]
    total = sum(flt.values())
    aside = total - flt.get("accepted", 0)
    lines.append("")
    lines.append(
        "emtag also: zone_approach %.2f per tag-day, exclusion_clear %d; fixes set aside %d "
        "of %d (%s)"
        % (
            other.get("zone_approach", 0) / s["days"],
            other.get("exclusion_clear", 0),
            aside,
            total,
            ", ".join("%s %d" % (k, v) for k, v in sorted(flt.items()) if k != "accepted" and v),
        )
    )
    if s["false_days"]:
        lines.append("days with an emtag false alert: %s" % s["false_days"][:20])
    lines.append("wall time %.1f s" % s.get("wall_s", 0))
    return "\n".join(lines)
