"""Frequent places: stay points grouped by where they are, labelled by the role the zone
table gives the spot (the approved address of a curfew, another inclusion zone such as an
appointment site, an exclusion zone), else inferred from when the wearer is there (most
night hours: home; most weekday daytime hours on at least two days: work)."""

from typing import NamedTuple

from emtag.centre import localtime
from emtag.host import geo

JOIN_M = 200.0  # a stay this close to a place's centre is a visit to it
ZONE_MARGIN_M = 100.0  # a place this close to a zone's boundary takes the zone's role


class Place(NamedTuple):
    id: int
    lat: float
    lon: float
    label: str  # "home", "work", "appointment site", "exclusion zone", "place N"
    role: str  # how the label was found: "zone <id>", "inferred", ""
    visits: int
    days: int  # distinct local days with a visit
    dwell_s: float
    night_s: float  # of which 00:00-05:00 local
    day_s: float  # of which 10:00-16:00 local on weekdays
    stays: tuple  # indices into the stay point list


def _e7(x):
    return round(x * 1e7)


def places(stays, zones=(), tz=localtime.DEFAULT_TZ, min_visits=1):
    groups: list[dict] = []
    for i, s in enumerate(stays):
        best = None
        for g in groups:
            d = geo.distance_m(_e7(s.lat), _e7(s.lon), _e7(g["lat"]), _e7(g["lon"]))
            if d <= JOIN_M and (best is None or d < best[0]):
                best = (d, g)
        if best is None:
            groups.append({"lat": s.lat, "lon": s.lon, "stays": [i], "w": s.t_end - s.t_start})
            continue
        g = best[1]
        w, ws = g["w"], max(s.t_end - s.t_start, 1.0)
        g["lat"] = (g["lat"] * w + s.lat * ws) / (w + ws)  # dwell-weighted centre
        g["lon"] = (g["lon"] * w + s.lon * ws) / (w + ws)
        g["w"] = w + ws
        g["stays"].append(i)
    out = []
    for g in groups:
        mine = [stays[i] for i in g["stays"]]
        night = sum(localtime.overlap_hours(s.t_start, s.t_end, 0, 5, tz) for s in mine)
        day = sum(localtime.overlap_hours(s.t_start, s.t_end, 10, 16, tz, True) for s in mine)
        days = {localtime.day_of(s.t_start, tz) for s in mine}
        label, role = _zone_role(g["lat"], g["lon"], zones)
        out.append(
            Place(0, g["lat"], g["lon"], label, role, len(mine), len(days),
                  sum(s.t_end - s.t_start for s in mine), night, day, tuple(g["stays"]))
        )  # fmt: skip
    out.sort(key=lambda p: -p.dwell_s)
    out = [p for p in out if p.visits >= min_visits]
    have = {p.label for p in out}
    if "home" not in have:
        home = max(out, key=lambda p: p.night_s, default=None)
        if home is not None and home.night_s > 0 and not home.label:
            out[out.index(home)] = home._replace(label="home", role="inferred (most night hours)")
    work = max((p for p in out if not p.label), key=lambda p: p.day_s, default=None)
    if work is not None and work.day_s >= 2 * 3600 and "work" not in have:
        days = {localtime.day_of(stays[i].t_start, tz) for i in work.stays}
        if len(days) >= 2:
            out[out.index(work)] = work._replace(
                label="work", role="inferred (most weekday daytime hours)"
            )
    n = 0
    final = []
    for i, p in enumerate(out):
        if not p.label:
            n += 1
            p = p._replace(label="place %d" % n)
        final.append(p._replace(id=i + 1))
    return final


def _zone_role(lat, lon, zones):
    for z in zones:
        if z.signed_distance_m(lat, lon) < -ZONE_MARGIN_M:
            continue
        if z.kind == "inclusion" and z.curfew:
            return "home", "zone %s (approved address, curfew)" % z.id
        if z.kind == "inclusion":
            return "appointment site", "zone %s" % z.id
        return "exclusion zone", "zone %s" % z.id
    return "", ""
