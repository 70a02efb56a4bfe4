"""Heatmaps on hexagonal cells (Uber's H3): the time the wearer spent in each cell, each
fix counting for the time to the next (at most presence.HOLD_S), per day, week or month.
Resolution 9 cells are about 0.1 km2 (174 m edge): a street block, coarser than a fix's
accuracy in town."""

import h3

from emtag.centre.presence import HOLD_S

RESOLUTION = 9


def cells(fixes, t0, t1, resolution=RESOLUTION, hold_s=HOLD_S):
    """{h3 cell: seconds} over [t0, t1) for a time-ordered list of Fix."""
    out: dict[str, float] = {}
    latlng = h3.latlng_to_cell
    n = len(fixes)
    for i in range(n):
        f = fixes[i]
        ft = f.t
        if ft >= t1:
            break
        end = min(fixes[i + 1].t, ft + hold_s) if i + 1 < n else ft + 60
        a, b = max(ft, t0), min(end, t1)
        if b <= a:
            continue
        c = latlng(f.lat_e7 / 1e7, f.lon_e7 / 1e7, resolution)
        out[c] = out.get(c, 0.0) + (b - a)
    return out


def features(cellmap):
    """[{cell, seconds, boundary: [[lat, lon], ...]}] in descending time, for drawing."""
    rows = sorted(cellmap.items(), key=lambda kv: -kv[1])
    return [
        {"cell": c, "seconds": round(s), "boundary": [list(p) for p in h3.cell_to_boundary(c)]}
        for c, s in rows
    ]
