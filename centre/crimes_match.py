"""The match of one incident against one wearer's trail: placed at the scene, could have
been there, or could not have been there (pure: no store, no I/O).

The scene is a disk: the reported point and its uncertainty u. Each record of the trail
(a fix, or an alert with a position) is a point, a time and the tag's accuracy radius a
(2DRMS, about 95 %).

- placed: a record during the window lies within sqrt(u^2 + (place_scale * a)^2) of the
  point (the combined uncertainty of two independent errors), its radius a resolves the
  scene (a <= max(place_acc_floor_m, u), and a <= max_place_acc_m: a +-50 m fix cannot tell
  one house from the next), and its neighbours do not contradict it: when the records just
  before and after it are within corroborate_s, the median of the three positions (east and
  north apart) is within that distance too. A single reflected fix, as receivers give in
  urban canyons and indoors, then places no one; a wearer walking past keeps the fix.
- could have been there: nothing places the wearer, but the trail does not rule it out at
  the speeds the policy allows: a record in the window whose conservative radius
  R = excl_scale * a + excl_extra_m reaches the scene, or a gap between two records (or
  before the first / after the last record of the tag) long enough to get there and
  back: with e1, e2 the distances from the two records' disks of radius R to the scene's,
  the wearer is at the scene at some time tau in the window only if e1 <= v (tau - t1)
  and e2 <= v (t2 - tau). The answer names the slowest mode (walking, running,
  driving) that allows it and the speed it needs.
- could not have been there: not even at the policy's assumed top speed. The margin is
  how much farther the scene is than the wearer could have got, at best, in the window:
  min over gaps and tau of max(e1 - v (tau - t1), e2 - v (t2 - tau)), a lower bound on
  the distance from the scene to anywhere the wearer could have been.

R is wider than the tag's own radius on purpose: receivers under-report multipath (15-100
m in urban canyons), and an exculpatory answer must survive that.
"""

import math
from dataclasses import dataclass, field

PLACED = "placed"
COULD = "could_have_been_there"
COULD_NOT = "could_not_have_been_there"

R_EARTH = 6371008.8


@dataclass
class Params:
    """What the policy (centre/crimes_policy.py) decides about a match."""

    speeds: dict  # mode -> m/s, slowest first, e.g. {"walking": 1.94, ...}
    assume: str  # the fastest mode an answer allows ("driving")
    place_scale: float = 1.0
    place_acc_floor_m: float = 25.0
    max_place_acc_m: float = 50.0
    corroborate_s: float = 200.0
    excl_scale: float = 2.0
    excl_extra_m: float = 50.0
    report_within_m: float = 1000.0
    no_acc_m: float = 100.0  # a record without an accuracy radius

    @property
    def top_speed(self):
        return self.speeds[self.assume]


@dataclass(slots=True)
class Record:
    seq: int
    t: float  # UTC seconds (with ms)
    lat: float
    lon: float
    acc_m: float
    d_m: float = 0.0  # distance to the scene's point


@dataclass
class Answer:
    answer: str
    record: Record  # the record the answer turns on (closest placing one, or a gap's end)
    other: Record | None = None  # the gap's other end (None: not a gap)
    placing: int = 0  # records that place the wearer
    placing_span: tuple = ()  # (first t, last t) of them
    speed_mps: float | None = None  # speed the answer needs (could have been there)
    mode: str | None = None  # slowest mode allowing it; "none": no movement needed
    gap: str = ""  # "gap" (between records), "before first", "after last", "vague fix"
    margin_m: float | None = None  # could not have been there: how far short
    closest: Record | None = None  # closest record in or around the window
    in_window: tuple = ()  # (n records, first seq, last seq) inside the window
    rests_on: list = field(default_factory=list)  # seqs of the records it rests on


def distance_m(lat1, lon1, lat2, lon2):
    """Metres between two points: flat earth at the mean latitude below 10 km, haversine
    beyond (both within 0.1 % of the ellipsoid's distance there)."""
    k = math.pi / 180
    x = (lon2 - lon1) * k * math.cos((lat1 + lat2) * k / 2)
    y = (lat2 - lat1) * k
    d = R_EARTH * math.hypot(x, y)
    if d < 10000:
        return d
    p1, p2 = lat1 * k, lat2 * k
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin((lon2 - lon1) * k / 2) ** 2
    )
    return 2 * R_EARTH * math.asin(min(1.0, math.sqrt(a)))


def min_speed(e1, e2, g, lo, hi):
    """Least speed that takes someone e1 from where they were at time 0 and e2 from where
    they are at time g to the scene at some tau in [lo, hi] (0 <= lo <= hi <= g)."""
    if e1 <= 0 and e2 <= 0:
        return 0.0
    tau = g * e1 / (e1 + e2)
    tau = min(max(tau, lo), hi)
    return max(_rate(e1, tau), _rate(e2, g - tau))


def _rate(e, dt):
    if e <= 0:
        return 0.0
    return e / dt if dt > 0 else math.inf


def shortfall(e1, e2, g, lo, hi, v):
    """min over tau in [lo, hi] of max(e1 - v tau, e2 - v (g - tau)): how far short of the
    scene the wearer stays at best (negative: reachable). e1 or e2 may be None (no record
    on that side: unconstrained)."""
    if e1 is None:
        return e2 - v * (g - lo)
    if e2 is None:
        return e1 - v * hi
    tau = (e1 - e2 + v * g) / (2 * v)
    tau = min(max(tau, lo), hi)
    return max(e1 - v * tau, e2 - v * (g - tau))


def _places(recs, i, inc, p, first_t=None, last_t=None):
    r, u = recs[i], inc.uncertainty_m
    if r.acc_m > min(p.max_place_acc_m, max(p.place_acc_floor_m, u)):
        return False
    reach = math.hypot(u, p.place_scale * r.acc_m)
    if r.d_m > reach:
        return False
    if i == 0 or i == len(recs) - 1:
        # a list's end: alone if it is the tag's first or last record; otherwise its
        # neighbour was not fetched here and it is judged where it was
        if i == 0 and first_t is not None and r.t >= first_t + 1:
            return False
        return not (i == len(recs) - 1 and last_t is not None and r.t < last_t)
    a, b = recs[i - 1], recs[i + 1]
    if r.t - a.t > p.corroborate_s or b.t - r.t > p.corroborate_s:
        return True  # too far apart in time to say anything about it
    east = sorted(_east_north(x, inc)[0] for x in (a, r, b))[1]
    north = sorted(_east_north(x, inc)[1] for x in (a, r, b))[1]
    return math.hypot(east, north) <= reach


def _east_north(r, inc):
    k = math.pi / 180 * R_EARTH
    return (r.lon - inc.lon) * k * math.cos((r.lat + inc.lat) * math.pi / 360), (
        r.lat - inc.lat
    ) * k


def records(inc, rows, p):
    """Records of store rows ((seq, t, t_ms, lat_e7, lon_e7, acc_cm), host/store/trail_index.py
    trail()), with their distance to the incident's reported point (distance_m's sums,
    written out here: the match's most frequent)."""
    out = []
    k = math.pi / 180
    lat1, lon1 = inc.lat, inc.lon
    for seq, t, t_ms, lat7, lon7, acc_cm in rows:
        lat, lon = lat7 / 1e7, lon7 / 1e7
        acc = acc_cm / 100.0 if acc_cm is not None else p.no_acc_m
        d = R_EARTH * math.hypot(
            (lon - lon1) * k * math.cos((lat1 + lat) * k / 2), (lat - lat1) * k
        )
        if d >= 10000:
            d = distance_m(lat1, lon1, lat, lon)
        out.append(Record(seq, t + (t_ms or 0) / 1000.0, lat, lon, acc, d))
    return out


def placing(inc, recs, p, first_t=None, last_t=None):
    """The records in the window that place the wearer at the scene (first_t, last_t: the
    tag's first and last record: see _places)."""
    w0, w1 = inc.t_from, inc.t_to
    return [
        r
        for i, r in enumerate(recs)
        if w0 <= r.t <= w1 and _places(recs, i, inc, p, first_t, last_t)
    ]


def options(inc, recs, p, first_t=None, last_t=None):
    """Every way the trail leaves the scene open: (speed needed, shortfall at the top speed,
    kind, record, other record) for each record in the window and each gap that meets it,
    and before the tag's first / after its last record."""
    u, w0, w1 = inc.uncertainty_m, inc.t_from, inc.t_to
    v_top = p.top_speed

    def excess(r):  # how far the record's conservative disk stays from the scene's
        return max(0.0, r.d_m - u - (p.excl_scale * r.acc_m + p.excl_extra_m))

    out = []
    for r in recs:
        if w0 <= r.t <= w1:
            e = excess(r)
            out.append((0.0 if e == 0 else math.inf, e, "vague fix", r, None))
    for a, b in zip(recs, recs[1:], strict=False):
        g = b.t - a.t
        if g <= 0 or b.t < w0 or a.t > w1:
            continue
        lo, hi = max(w0, a.t) - a.t, min(w1, b.t) - a.t
        ea, eb = excess(a), excess(b)
        out.append((min_speed(ea, eb, g, lo, hi), shortfall(ea, eb, g, lo, hi, v_top), "gap", a, b))
    if not recs:
        return out
    head, tail = recs[0], recs[-1]
    if first_t is not None and head.t <= first_t + 1 and head.t > w0:
        e = excess(head)  # unmonitored before its first record: only that record constrains
        dt = head.t - w0
        out.append((_rate(e, dt), e - v_top * dt, "before first", head, None))
    if last_t is not None and tail.t >= last_t and tail.t < w1:
        e = excess(tail)
        dt = w1 - tail.t
        out.append((_rate(e, dt), e - v_top * dt, "after last", tail, None))
    return out


def best_option(inc, recs, p):
    """min(options(inc, recs, p), key=lambda o: (o[0], o[1])), or None when there is none:
    the same option, with the shortfall worked out only for those needing the least speed
    (and each record's excess once)."""
    u, w0, w1 = inc.uncertainty_m, inc.t_from, inc.t_to
    ex = [max(0.0, r.d_m - u - (p.excl_scale * r.acc_m + p.excl_extra_m)) for r in recs]
    found = [(0.0 if ex[i] == 0 else math.inf, i) for i, r in enumerate(recs) if w0 <= r.t <= w1]
    gaps = []
    for i in range(len(recs) - 1):
        a, b = recs[i], recs[i + 1]
        g = b.t - a.t
        if g <= 0 or b.t < w0 or a.t > w1:
            continue
        lo, hi = max(w0, a.t) - a.t, min(w1, b.t) - a.t
        gaps.append((min_speed(ex[i], ex[i + 1], g, lo, hi), i, g, lo, hi))
    if not found and not gaps:
        return None
    v = min(o[0] for o in found + gaps)
    best = None
    for o in found:  # options() lists the records in the window first, then the gaps
        if o[0] == v and (best is None or ex[o[1]] < best[1]):
            best = (o[0], ex[o[1]], "vague fix", recs[o[1]], None)
    for speed, i, g, lo, hi in gaps:
        if speed == v:
            short = shortfall(ex[i], ex[i + 1], g, lo, hi, p.top_speed)
            if best is None or short < best[1]:
                best = (speed, short, "gap", recs[i], recs[i + 1])
    return best


def mode_of(v, p):
    """The slowest mode moving at no more than v allows; None: not even the top speed."""
    if v == 0:
        return "none"
    return next((m for m, s in p.speeds.items() if v <= s * (1 + 1e-9)), None)


def placed_answer(found, closest=None, in_window=()):
    best = min(found, key=lambda r: r.d_m)
    return Answer(
        PLACED,
        best,
        placing=len(found),
        placing_span=(found[0].t, found[-1].t),
        closest=closest or best,
        in_window=in_window,
        rests_on=[r.seq for r in found],
    )


def could_answer(option, p, closest=None, in_window=()):
    v, _, kind, a, b = option
    return Answer(
        COULD,
        a,
        other=b,
        speed_mps=v,
        mode=mode_of(v, p),
        gap=kind,
        closest=closest,
        in_window=in_window,
        rests_on=[r.seq for r in (a, b) if r is not None],
    )


def judge(inc, rows, p, first_t=None, last_t=None):
    """The answer for incident `inc` (centre/crimes_incidents.py Incident) and one wearer's
    trail `rows` (the records of the window and the one before and after it,
    host/store/trail_index.py trail()), or None when the wearer was nowhere near. first_t/last_t:
    the tag's first and last record ever (the wearer is unmonitored before and after them).
    A could-have-been-there answer names the gap that needs the least speed."""
    recs = records(inc, rows, p)
    if not recs:
        return None
    inside = [r for r in recs if inc.t_from <= r.t <= inc.t_to]
    closest = min(inside or recs, key=lambda r: r.d_m)
    in_window = (len(inside), inside[0].seq, inside[-1].seq) if inside else (0, None, None)
    found = placing(inc, recs, p, first_t, last_t)
    if found:
        return placed_answer(found, closest, in_window)
    opts = options(inc, recs, p, first_t, last_t)
    if not opts:
        return None
    best = min(opts, key=lambda o: (o[0], o[1]))
    if mode_of(best[0], p) is not None:
        return could_answer(best, p, closest, in_window)
    if closest.d_m - inc.uncertainty_m > p.report_within_m:
        return None
    _, margin, kind, a, b = min(opts, key=lambda o: o[1])
    return Answer(
        COULD_NOT,
        a,
        other=b,
        gap=kind,
        margin_m=margin,
        closest=closest,
        in_window=in_window,
        rests_on=[r.seq for r in recs],
    )
