"""Where was the wearer at time T, and how sure is that?

The answer rests on the two positions around T (the newest at or before it, the oldest
after it). Between them the wearer is somewhere both could have reached: within
acc_before + v * (T - t_before) of the one and acc_after + v * (t_after - T) of the other,
v being the speed the wearer could have moved at. The reported point is the straight-line
interpolation (or the one fix when T falls on it), and the radius is the smallest circle
about that point sure to hold both reachable discs' intersection:
    min(r_before + |point - before|, r_after + |point - after|).
v is the larger of the assumed speed (default walking, 1.5 m/s) and the average speed the
two fixes themselves imply. With a fix on one side only, the radius grows from it alone.
Past max_gap_s from the nearest fix there is no answer, only the reason (gaps.py).
"""

from typing import NamedTuple

from emtag.centre import gaps
from emtag.host import geo

WALKING_MPS = 1.5
MAX_GAP_S = 3600
NOTABLE_GAP_S = 300  # a gap this long gets its reason even when there is a position


class Answer(NamedTuple):
    device: str
    t: int
    found: bool
    lat_e7: int | None
    lon_e7: int | None
    radius_m: float | None  # the uncertainty: the wearer was within this of the point
    method: str  # "fix", "interpolated", "last fix", "next fix", "no data"
    before: object  # Fix or None
    after: object  # Fix or None
    gap_s: int | None  # t_after - t_before
    speed_mps: float  # the speed the radius assumes
    implied_mps: float | None  # average speed between the two fixes
    reason: object  # gaps.Gap when there is a gap with no answer, else None
    seqs: tuple  # the records the answer rests on (positions, the reason's records)
    sealed_by: tuple  # the signed records that prove them (for the evidence bundle)
    window: tuple  # (t_from, t_to) an `emtag export` of which backs the answer


def _secs(f):
    return f.t + (f.t_ms or 0) / 1000.0


def _acc_m(f):
    return (f.acc_cm or 0) / 100.0


def where(store, device, t, speed_mps=WALKING_MPS, max_gap_s=MAX_GAP_S):
    before = store.fix_before(device, t, 0)
    after = store.fix_after(device, t, 0)
    gap = (after.t - before.t) if before and after else None
    implied = None
    if before and after and _secs(after) > _secs(before):
        d = geo.distance_m(before.lat_e7, before.lon_e7, after.lat_e7, after.lon_e7)
        implied = d / (_secs(after) - _secs(before))
    v = max(speed_mps, implied or 0.0)
    dt_b = t - _secs(before) if before else None
    dt_a = _secs(after) - t if after else None
    reason = None
    lat = lon = radius = None
    if before and dt_b == 0:
        method, lat, lon, radius = "fix", before.lat_e7, before.lon_e7, _acc_m(before)
    elif before and after and max(dt_b, dt_a) <= max_gap_s:
        f = dt_b / (dt_b + dt_a)
        lat = round(before.lat_e7 + f * (after.lat_e7 - before.lat_e7))
        lon = round(before.lon_e7 + f * (after.lon_e7 - before.lon_e7))
        to_b = geo.distance_m(lat, lon, before.lat_e7, before.lon_e7)
        to_a = geo.distance_m(lat, lon, after.lat_e7, after.lon_e7)
        radius = min(_acc_m(before) + v * dt_b + to_b, _acc_m(after) + v * dt_a + to_a)
        method = "interpolated"
    elif before and dt_b <= max_gap_s and (after is None or dt_a > max_gap_s):
        method, lat, lon = "last fix", before.lat_e7, before.lon_e7
        radius = _acc_m(before) + v * dt_b
    elif after and dt_a <= max_gap_s and (before is None or dt_b > max_gap_s):
        method, lat, lon = "next fix", after.lat_e7, after.lon_e7
        radius = _acc_m(after) + v * dt_a
    else:
        method = "no data"
    notable = gap is None or gap > NOTABLE_GAP_S
    if method != "fix" and notable:
        t_b = before.t if before else 0
        reason = gaps.explain(store, device, t_b, after.t if after else None, at=t)
    seqs = tuple(f.seq for f in (before, after) if f is not None)
    if reason is not None:
        seqs += tuple(s for s in reason.seqs if s not in seqs)
    lo = before.t if before else t
    hi = after.t if after else t
    span = store.valid_span(device, lo, hi)
    sealed = (span[2],) if span else ()
    return Answer(
        device, t, method != "no data", lat, lon, radius, method, before, after, gap,
        v, implied, reason, tuple(sorted(seqs)), sealed, (lo, hi),
    )  # fmt: skip
