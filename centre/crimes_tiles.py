"""The match of one incident against one wearer, reading only the parts of the trail that
can change the answer (the same answer as crimes_match.judge over the whole window).

The trail index (host/store/trail_index.py) hands over, per tile of the wearer's trail, the box
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

import numpy as np

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


def screen(inc, rows, p):
    """{device: [Tile]} from trail_tiles_near rows (device, t_lo, t_hi, max_gap_s,
    max_acc_cm, lat_lo, lat_hi, lon_lo, lon_hi, ordered by device): the tiles meeting the
    window that leave an answer open (a record of it could place the wearer, a gap in it
    reach the scene at the top speed, or a record be within report_within_m), of each
    device that has one; the rest are never read by judging() (its passes stop before
    them), and devices without one were nowhere near. Bounds err on the near side:
    distances to the boxes are taken 0.2 % + 1 m short of the haversine's."""
    if not rows:
        return {}
    a = np.array([r[1:] for r in rows], dtype=np.float64)
    t_lo, t_hi, gap, acc = a[:, 0], a[:, 1], a[:, 2], a[:, 3] / 100.0
    k = math.pi / 180
    lat = np.clip(inc.lat, a[:, 4] / 1e7, a[:, 5] / 1e7) * k
    lon = np.clip(inc.lon, a[:, 6] / 1e7, a[:, 7] / 1e7) * k
    h = (
        np.sin((lat - inc.lat * k) / 2) ** 2
        + math.cos(inc.lat * k) * np.cos(lat) * np.sin((lon - inc.lon * k) / 2) ** 2
    )
    d = np.maximum(0.0, 2 * M.R_EARTH * np.arcsin(np.minimum(1.0, np.sqrt(h))) * 0.998 - 1.0)
    u = inc.uncertainty_m
    e = np.maximum(0.0, d - u - (p.excl_scale * acc + p.excl_extra_m))
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(e == 0, 0.0, np.where(gap > 0, 2 * e / gap, np.inf))
    a_place = np.minimum(np.minimum(acc, p.max_place_acc_m), max(p.place_acc_floor_m, u))
    place = d <= np.hypot(u, p.place_scale * a_place)
    meets = (t_hi >= inc.t_from) & (t_lo <= inc.t_to)
    open_ = meets & (place | (v <= p.top_speed * (1 + 1e-9)) | (d - u <= p.report_within_m))
    out = {}
    keep = np.flatnonzero(open_)
    cols = zip(*(c[keep].tolist() for c in (t_lo, t_hi, gap, acc, d, e, v)), strict=True)
    for i, (lo, hi, g, ac, dm, em, vm) in zip(keep.tolist(), cols, strict=True):
        out.setdefault(rows[i][0], []).append(Tile(int(lo), int(hi), int(g), ac, dm, em, vm))
    return out


def box_distance(lat, lon, lat_lo, lat_hi, lon_lo, lon_hi):
    """Metres from (lat, lon) to a box (degrees)."""
    return M.distance_m(lat, lon, min(max(lat, lat_lo), lat_hi), min(max(lon, lon_lo), lon_hi))


def can_place(tl, inc, p):
    a = min(tl.max_acc_m, p.max_place_acc_m, max(p.place_acc_floor_m, inc.uncertainty_m))
    return tl.d_min <= math.hypot(inc.uncertainty_m, p.place_scale * a)


def judging(inc, tiles, p, first_t=None, last_t=None):
    """The answer (crimes_match.Answer) or None, from the wearer's tiles (screen()), as a
    generator: it yields the pieces [(t0, t1)] of the trail it needs next, is sent
    {(t0, t1): the wearer's store rows in [t0, t1] and the one before and after}
    (host/store/trail_index.py trail()), and returns the answer. judge_all() runs many at once."""
    w0, w1 = math.floor(inc.t_from), math.ceil(inc.t_to)
    if (first_t is not None and first_t > w0) or (last_t is not None and last_t < w1):
        got = yield [(w0, w1)]  # monitored for part of it: judged over the whole window
        return M.judge(inc, got[(w0, w1)], p, first_t, last_t)
    if not tiles:
        return None
    rows, recs = {}, {}  # tile -> its store rows; -> its records, made when first used
    asks = 0

    def load(want, ahead=()):
        """Read the tiles `want` not read yet; each later call of a pass reads twice as
        many of the tiles that pass may need next (`ahead`) with them, so a wearer with
        many tiles to go through needs few rounds, and one with few reads no more."""
        nonlocal asks
        need = [i for i in want if i not in rows]
        if need:
            need += [i for i in ahead if i not in rows and i not in need][: 2**asks - 1]
            asks += 1
            got = yield [(tiles[i].t_lo, tiles[i].t_hi) for i in need]
            for i in need:
                rows[i] = got[(tiles[i].t_lo, tiles[i].t_hi)]

    def records(i):
        if i not in recs:
            recs[i] = M.records(inc, rows[i], p)
        return recs[i]

    top = p.top_speed * (1 + 1e-9)
    order = sorted(range(len(tiles)), key=lambda i: tiles[i].v_min)
    reach = sum(1 for i in order if tiles[i].v_min <= top)  # order[:reach]: the speed pass's
    can = [i for i, tl in enumerate(tiles) if can_place(tl, inc, p)]
    if can:  # with the speed pass's first tile: few are placed
        yield from load(dict.fromkeys(can + order[:1]))
    found = {}
    for i in can:
        for r in M.placing(inc, records(i), p, first_t, last_t):
            found[r.seq] = r
    if found:
        return M.placed_answer(sorted(found.values(), key=lambda r: r.t))
    best = {}  # tile -> its option needing the least speed
    for speed in (0.0, *p.speeds.values()):  # 0: a record that leaves it open as it stands
        for k, i in enumerate(order):
            if tiles[i].v_min > speed * (1 + 1e-9):
                break
            if i not in best:
                yield from load([i], order[k + 1 : reach])
                best[i] = M.best_option(inc, records(i), p)
            if best[i] is not None and best[i][0] <= speed * (1 + 1e-9):
                return M.could_answer(best[i], p)
    # out of reach: a row only if a record in the window came within report_within_m
    u = inc.uncertainty_m
    near = sorted(range(len(tiles)), key=lambda i: tiles[i].d_min)
    within = sum(1 for i in near if tiles[i].d_min - u <= p.report_within_m)
    for k, i in enumerate(near[:within]):
        yield from load([i], near[k + 1 : within])
        if any(r.d_m - u <= p.report_within_m for r in records(i)):
            got = yield [(w0, w1)]
            return M.judge(inc, got[(w0, w1)], p, first_t, last_t)  # it decides exactly
    return None  # nowhere near


def judge_all(jobs, read):
    """Run judging() generators side by side, reading the pieces all of them wait for at
    once each round. jobs: {key: generator}; read([(key, t0, t1)]) -> {(key, t0, t1):
    rows}. Returns {key: answer or None} and the number of rounds."""
    answers, waiting, rounds = {}, {}, 0

    def step(key, got):
        try:
            waiting[key] = jobs[key].send(got)
        except StopIteration as done:
            answers[key] = done.value
            waiting.pop(key, None)

    for key in jobs:
        step(key, None)
    while waiting:
        rounds += 1
        got = read([(key, a, b) for key, need in waiting.items() for a, b in need])
        for key, need in list(waiting.items()):
            step(key, {(a, b): got[(key, a, b)] for a, b in need})
    return answers, rounds


def judge_tiles(inc, tiles, fetch, p, first_t=None, last_t=None):
    """judging() for one wearer, fetch(t0, t1) reading a piece of the trail."""
    answers, _ = judge_all(
        {0: judging(inc, tiles, p, first_t, last_t)},
        lambda pieces: {pc: fetch(pc[1], pc[2]) for pc in pieces},
    )
    return answers[0]
