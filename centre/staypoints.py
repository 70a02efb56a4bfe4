"""Stay points: where the wearer stopped, from when to when.

The sliding-window method of Li et al. (2008) as trackintel implements it
(`generate_staypoints(method="sliding")`), so trackintel serves as the test oracle
(tests/test_centre_staypoints.py) without being a run-time dependency (it pulls in
geopandas): walking through the fixes in time order, a stay is open from an anchor fix
until the first fix at least dist_m from the anchor; if that took at least time_s, the
fixes from the anchor up to (not including) that one are a stay point ending at that
fix's time. A gap longer than gap_s between fixes drops the open candidate. The stay's
position is the centroid of its distinct positions (mean latitude, circular mean of
longitude), distances are haversine on trackintel's 6,371,000 m sphere.
"""

import math
from typing import NamedTuple

R_SPHERE = 6371000.0  # trackintel's Earth radius, so the two agree to the millimetre


class StayPoint(NamedTuple):
    t_start: float  # UTC seconds
    t_end: float
    lat: float  # degrees
    lon: float
    n: int  # fixes in it
    first_seq: int
    last_seq: int
    radius_m: float  # furthest of its fixes from its centre


def _hav(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R_SPHERE * math.asin(math.sqrt(a))


def staypoints(fixes, dist_m=150.0, time_s=600.0, gap_s=1800.0, include_last=True):
    """Stay points of a time-ordered list of Fix (host/store/base.py)."""
    pts, seen = [], set()
    for f in fixes:
        key = (f.t, f.t_ms, f.lat_e7, f.lon_e7)
        if key not in seen:  # exact duplicates (trackintel drops them too)
            seen.add(key)
            pts.append((f.t + (f.t_ms or 0) / 1000.0, f.lat_e7 / 1e7, f.lon_e7 / 1e7, f.seq))
    pts.sort(key=lambda p: p[0])
    out = []
    start = curr = 0
    for curr in range(1, len(pts)):
        if pts[curr][0] - pts[curr - 1][0] > gap_s:
            start = curr
            continue
        s = pts[start]
        if _hav(s[1], s[2], pts[curr][1], pts[curr][2]) >= dist_m:
            if pts[curr][0] - s[0] >= time_s:
                out.append(_stay(pts, start, curr, curr))
            start = curr
    if include_last and pts and pts[curr][0] - pts[start][0] >= time_s:
        out.append(_stay(pts, start, len(pts), curr))
    return out


def _stay(pts, start, end, finish):
    group = pts[start:end]
    distinct = sorted({(p[1], p[2]) for p in group})
    lat = sum(p[0] for p in distinct) / len(distinct)
    sx = sum(math.sin(math.radians(p[1])) for p in distinct) / len(distinct)
    cx = sum(math.cos(math.radians(p[1])) for p in distinct) / len(distinct)
    lon = math.degrees(math.atan2(sx, cx))
    radius = max(_hav(lat, lon, p[1], p[2]) for p in group)
    return StayPoint(
        group[0][0], pts[finish][0], lat, lon, len(group), group[0][3], group[-1][3], radius
    )
