"""Crime-mapping quality against ground truth: emtag's match and a naive matcher (any fix
within a fixed buffer of the reported location during the window, as vendors appear to
match) on the same simulated town (tools/crimes_world.py) and the same incidents.

Incidents, each with a window of 10 min to 12 h (log-uniform) and a location uncertainty u
(5-100 m):
- on trail: where a wearer truly was at a moment inside the window, the reported point
  moved at random within u of it (the wearer was at the scene);
- near: 50-300 m beyond the scene's uncertainty from where a wearer was, and never closer
  during the window (that wearer was not there);
- random: anywhere in the town.
Every incident is judged against every wearer, and each pair scored against the truth
from the routes: there (the wearer's true track came within u of the reported point during
the window), not there (it stayed at least 50 m beyond u), or borderline (in between:
counted apart, neither right nor wrong).
"""

import csv
import datetime
import io
import math
import random
import sqlite3

from emtag.centre import crimes_match as M
from emtag.centre import crimes_run
from emtag.host.store import Store
from emtag.tools import crimes_world as W

CLASSES = ("on trail", "near", "random")
UNCERTAINTIES = (5, 10, 25, 50, 100)
MIN_WINDOW_S, MAX_WINDOW_S = 600, 12 * 3600
NOT_THERE_M = 50  # beyond u by at least this: truly not there
NAIVE_BUFFER_M = 100


def _iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _window(rng, t, day0, day1):
    """A window of log-uniform length holding t, inside the day."""
    length = math.exp(rng.uniform(math.log(MIN_WINDOW_S), math.log(MAX_WINDOW_S)))
    length = min(length, day1 - day0)
    a = t - rng.uniform(0, length)
    a = min(max(a, day0), day1 - length)
    return a, a + length


def _disk(rng, lat, lon, r):
    d, th = r * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    return W.off(lat, lon, d * math.cos(th), d * math.sin(th))


def incidents(town, rng, per_class):
    """[(class, id, lat, lon, u, t0, t1)]."""
    day0, day1 = town.start, town.start + town.hours * 3600
    devices = town.devices
    out = []
    for cls in CLASSES:
        n = 0
        while n < per_class:
            u = rng.choice(UNCERTAINTIES)
            dev = rng.choice(devices)
            t = rng.uniform(day0, day1)
            t0, t1 = _window(rng, t, day0, day1)
            lat, lon, _, _ = town.routes[dev].at(t - town.start)
            if cls == "on trail":
                lat, lon = _disk(rng, lat, lon, u)
            elif cls == "near":
                d, th = u + rng.uniform(NOT_THERE_M, 300), rng.uniform(0, 2 * math.pi)
                lat, lon = W.off(lat, lon, d * math.cos(th), d * math.sin(th))
                if town.min_distance(dev, lat, lon, t0, t1) < u + NOT_THERE_M:
                    continue  # the wearer came closer at another time: draw again
            else:
                h = W.TOWN_M / 2
                lat, lon = W.off(*W.TOWN, rng.uniform(-h, h), rng.uniform(-h, h))
            n += 1
            out.append((cls, "%s-%d" % (cls.replace(" ", "-"), n), lat, lon, u, t0, t1))
    return out


def incidents_csv(incs):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        ("id", "crime_type", "latitude", "longitude", "uncertainty_m", "time_from", "time_to")
    )
    for _, iid, lat, lon, u, t0, t1 in incs:
        w.writerow((iid, "burglary", "%.7f" % lat, "%.7f" % lon, u, _iso(t0), _iso(t1)))
    return buf.getvalue().encode()


def naive(db, inc, buffer_m=NAIVE_BUFFER_M):
    """Devices with any valid fix (a proven record with a position) within buffer_m of the
    reported point during the window."""
    _, _, lat, lon, _, t0, t1 = inc
    dlat = buffer_m / W.M_PER_DEG
    dlon = dlat / math.cos(math.radians(lat))
    hits = set()
    for dev, la, lo in db.execute(
        "SELECT d.device, p.lat_e7, p.lon_e7 FROM proven p JOIN device_ids d ON d.dev = p.dev "
        "WHERE p.type IN (1, 2) AND p.t > 0 AND p.t + COALESCE(p.t_ms, 0) / 1000.0 "
        "BETWEEN ? AND ? AND p.lat_e7 BETWEEN ? AND ? AND p.lon_e7 BETWEEN ? AND ?",
        (
            t0,
            t1,
            int((lat - dlat) * 1e7),
            int((lat + dlat) * 1e7) + 1,
            int((lon - dlon) * 1e7),
            int((lon + dlon) * 1e7) + 1,
        ),
    ):
        if dev not in hits and M.distance_m(lat, lon, la / 1e7, lo / 1e7) <= buffer_m:
            hits.add(dev)
    return hits


def truth(town, dev, inc):
    """'there', 'not there' or 'borderline' for a wearer and an incident."""
    _, _, lat, lon, u, t0, t1 = inc
    d = town.min_distance(dev, lat, lon, t0, t1) - u
    return "there" if d <= 0 else ("not there" if d >= NOT_THERE_M else "borderline")


def score(town, incs, result, naive_hits):
    """Per class: counts of "truth|answer" over every incident-wearer pair (answers: ours,
    and "naive match" / "naive no match"), and the incidents with a false placement."""
    ours = {(row.incident.id, row.device): row.answer.answer for row in result.rows}
    out = {}
    for inc in incs:
        cls, iid = inc[0], inc[1]
        c = out.setdefault(cls, {"incidents": 0, "pairs": {}, "false_placed_incidents": 0})
        c["incidents"] += 1
        false_here = False
        for dev in town.devices:
            tr = truth(town, dev, inc)
            mine = ours.get((iid, dev), "none")
            nv = "naive match" if dev in naive_hits[iid] else "naive no match"
            for ans in (mine, nv):
                c["pairs"][tr + "|" + ans] = c["pairs"].get(tr + "|" + ans, 0) + 1
            false_here |= tr == "not there" and mine == M.PLACED
        c["false_placed_incidents"] += false_here
    return out


def run_seed(out_dir, seed, tags, hours, per_class, policies, jobs=None, on_done=None):
    """Simulate a town, place incidents, match them under each policy ({label: Policy}) and
    with the naive matcher; the scores per policy."""
    town = W.build(out_dir, tags=tags, seed=seed, hours=hours, jobs=jobs, on_done=on_done)
    rng = random.Random(seed * 7 + 3)
    incs = incidents(town, rng, per_class)
    db = sqlite3.connect(town.store_path)
    try:
        naive_hits = {inc[1]: naive(db, inc) for inc in incs}
    finally:
        db.close()
    st = Store(town.store_path)
    scores = {}
    try:
        for dev in town.devices:
            st.crime_flag_set(dev, True, "benchmark", "bench", town.start - 86400)
        for label, policy in policies.items():
            result = crimes_run.match(st, incidents_csv(incs), policy, now=town.start + 86400)
            scores[label] = score(town, incs, result, naive_hits)
    finally:
        st.close()
    fixes = sum(r["fix_records"] for r in town.results)
    return {"seed": seed, "fixes": fixes, "incidents": len(incs), "scores": scores}


def merge(seed_results, label):
    total = {}
    for sr in seed_results:
        for cls, c in sr["scores"][label].items():
            t = total.setdefault(cls, {"incidents": 0, "pairs": {}, "false_placed_incidents": 0})
            t["incidents"] += c["incidents"]
            t["false_placed_incidents"] += c["false_placed_incidents"]
            for k, n in c["pairs"].items():
                t["pairs"][k] = t["pairs"].get(k, 0) + n
    return total


def figures(total):
    """The headline figures over all classes."""

    def n(tr, ans):
        return sum(c["pairs"].get(tr + "|" + ans, 0) for c in total.values())

    could_not = sum(n(t, M.COULD_NOT) for t in ("there", "not there", "borderline"))
    return {
        "incidents": sum(c["incidents"] for c in total.values()),
        "true_pairs": sum(n("there", a) for a in (M.PLACED, M.COULD, M.COULD_NOT, "none")),
        "placed_true": n("there", M.PLACED),
        "could_true": n("there", M.COULD),
        "missed": n("there", M.COULD_NOT) + n("there", "none"),
        "not_there_pairs": n("not there", "naive match") + n("not there", "naive no match"),
        "false_placed": n("not there", M.PLACED),
        "incidents_with_false_placement": sum(c["false_placed_incidents"] for c in total.values()),
        "naive_hits": n("there", "naive match"),
        "naive_missed": n("there", "naive no match"),
        "naive_false_matches": n("not there", "naive match"),
        "could_not": could_not,
        "could_not_wrong": n("there", M.COULD_NOT),
    }


ANSWERS = (M.PLACED, M.COULD, M.COULD_NOT, "none")


def table(total):
    lines = [
        "%-15s %-10s %6s | %-33s | %s"
        % (
            "incidents",
            "truth",
            "pairs",
            "emtag: placed/could/could not/-",
            "naive %d m: match/no match" % NAIVE_BUFFER_M,
        )
    ]
    for cls in CLASSES:
        c = total.get(cls)
        label = "%s (%d)" % (cls, c["incidents"]) if c else ""
        for tr in ("there", "not there", "borderline") if c else ():
            k = c["pairs"]
            pairs = sum(k.get(tr + "|" + a, 0) for a in ANSWERS)
            if pairs:
                mine = " / ".join(str(k.get(tr + "|" + a, 0)) for a in ANSWERS)
                nv = "%d / %d" % (k.get(tr + "|naive match", 0), k.get(tr + "|naive no match", 0))
                lines.append("%-15s %-10s %6d | %-33s | %s" % (label, tr, pairs, mine, nv))
                label = ""
    return "\n".join(lines)
