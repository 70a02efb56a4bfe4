"""Time inside and outside an area from a trail of fixes, each with its accuracy.

A fix speaks for the time from it to the next fix, at most HOLD_S (the tag logs a fix a
minute while it has one); longer stretches count as unknown. A fix is surely inside when
its whole accuracy circle is, surely outside when none of it is, otherwise unsure (counted
apart, never as a breach)."""

from typing import NamedTuple

HOLD_S = 300


class Presence(NamedTuple):
    inside_s: float
    outside_s: float
    unsure_s: float
    unknown_s: float
    first_out: object  # Fix: the first surely-outside fix in the window, or None


def presence(fixes, signed_distance_m, t0, t1, hold_s=HOLD_S):
    """signed_distance_m(lat, lon) > 0 inside (host/zonefile.Zone's, or a circle's)."""
    inside = outside = unsure = 0.0
    first_out = None
    covered = 0.0
    for i, f in enumerate(fixes):
        ft = f.t + (f.t_ms or 0) / 1000.0
        nt = fixes[i + 1].t + (fixes[i + 1].t_ms or 0) / 1000.0 if i + 1 < len(fixes) else ft
        end = min(nt, ft + hold_s) if i + 1 < len(fixes) else ft + min(hold_s, 60)
        a, b = max(ft, t0), min(end, t1)
        if b <= a:
            continue
        d = signed_distance_m(f.lat_e7 / 1e7, f.lon_e7 / 1e7)
        acc = (f.acc_cm or 0) / 100.0
        if d > acc:
            inside += b - a
        elif d < -acc:
            outside += b - a
            if first_out is None:
                first_out = f
        else:
            unsure += b - a
        covered += b - a
    unknown = max(0.0, (t1 - t0) - covered)
    return Presence(inside, outside, unsure, unknown, first_out)


def circle(lat, lon, radius_m):
    """A signed distance function for a circle (an inferred home)."""
    from emtag.host import geo

    c = (round(lat * 1e7), round(lon * 1e7))

    def signed(la, lo):
        return radius_m - geo.distance_m(c[0], c[1], round(la * 1e7), round(lo * 1e7))

    return signed
