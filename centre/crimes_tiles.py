"""The match of one incident against one wearer, reading only the parts of the trail that
can change the answer (the same answer as crimes_match.judge over the whole window).

The trail index (host/store/crimes.py) hands over, per tile of the wearer's trail, the box
of its records, its longest gap and worst accuracy. From these, without reading a record:
- no record of the tile can place the wearer when the box is farther from the scene than
  sqrt(u^2 + a^2) for the worst accuracy a a placing record may have;
- every record of the tile stays at least e = (box distance - u - R(worst accuracy)) from
  the scene, so every gap in it needs at least 2e / (longest gap) to reach it, and at the
  top speed v falls at least e - v * (longest gap) / 2 short.
Tiles are read in order of that bound: those that could place the wearer; then, mode by
mode (standing, walking, running, driving), those whose bound allows that mode, until one gap or
record does. So the mode is exact; the gap named is one that allows it (for the speed it
needs). Only when nothing allows even the top speed, and the wearer came within
report_within_m, is the whole window read to state the margin.
"""

import math
from dataclasses import dataclass

from emtag.centre import crimes_match as M


@dataclass
class Tile:
    t_lo: int
    t_hi: int
    max_gap_s: int
    max_acc_m: float
    d_min: float  # metres from the reported point to the tile's box
    e_min: float = 0.0  # excess every record of it has at least
    v_min: float = 0.0  # speed every gap of it needs at least


def box_distance(lat, lon, lat_lo, lat_hi, lon_lo, lon_hi):
    """Metres from (lat, lon) to a box (degrees)."""
    return M.distance_m(lat, lon, min(max(lat, lat_lo), lat_hi), min(max(lon, lon_lo), lon_hi))


def tiles_of(inc, rows, p):
    """Tiles meeting the window from trail_tiles_near rows (t_lo, t_hi, max_gap_s,
    max_acc_cm, lat_lo, lat_hi, lon_lo, lon_hi), with their bounds."""
    out = []
    u = inc.uncertainty_m
    for t_lo, t_hi, gap, acc_cm, la0, la1, lo0, lo1 in rows:
        if t_hi < inc.t_from or t_lo > inc.t_to:
            continue
        acc = acc_cm / 100.0
        tl = Tile(
            t_lo,
            t_hi,
            gap,
            acc,
            box_distance(inc.lat, inc.lon, la0 / 1e7, la1 / 1e7, lo0 / 1e7, lo1 / 1e7),
        )
        tl.e_min = max(0.0, tl.d_min - u - (p.excl_scale * acc + p.excl_extra_m))
        tl.v_min = 0.0 if tl.e_min == 0 else (2 * tl.e_min / gap if gap > 0 else math.inf)
        out.append(tl)
    return out


def can_place(tl, inc, p):
    a = min(tl.max_acc_m, p.max_place_acc_m, max(p.place_acc_floor_m, inc.uncertainty_m))
    return tl.d_min <= math.hypot(inc.uncertainty_m, p.place_scale * a)


def judge_tiles(inc, tile_rows, fetch, p, first_t=None, last_t=None):
    """The answer (crimes_match.Answer) or None. fetch(t0, t1): the wearer's store rows in
    [t0, t1] and the one before and after (host/store/crimes.py trail())."""
    w0, w1 = math.floor(inc.t_from), math.ceil(inc.t_to)
    if (first_t is not None and first_t > w0) or (last_t is not None and last_t < w1):
        return M.judge(inc, fetch(w0, w1), p, first_t, last_t)  # monitored for part of it
    tiles = tiles_of(inc, tile_rows, p)
    if not tiles:
        return None
    read = {}

    def recs(i):
        if i not in read:
            read[i] = M.records(inc, fetch(tiles[i].t_lo, tiles[i].t_hi), p)
        return read[i]

    found = {}
    for i, tl in enumerate(tiles):
        if can_place(tl, inc, p):
            for r in M.placing(inc, recs(i), p, first_t, last_t):
                found[r.seq] = r
    if found:
        return M.placed_answer(sorted(found.values(), key=lambda r: r.t))
    order = sorted(range(len(tiles)), key=lambda i: tiles[i].v_min)
    best = {}  # tile -> its option needing the least speed
    for speed in (0.0, *p.speeds.values()):  # 0: a record that leaves it open as it stands
        for i in order:
            if tiles[i].v_min > speed * (1 + 1e-9):
                break
            if i not in best:
                opts = M.options(inc, recs(i), p)
                best[i] = min(opts, key=lambda o: (o[0], o[1])) if opts else None
            if best[i] is not None and best[i][0] <= speed * (1 + 1e-9):
                return M.could_answer(best[i], p)
    if min(tl.d_min for tl in tiles) - inc.uncertainty_m > p.report_within_m:
        return None  # nowhere near
    return M.judge(inc, fetch(w0, w1), p, first_t, last_t)
