"""One device over one period: everything the centre's overview shows, computed once.

    ov = overview(store, device, t_from, t_to, zones)    # zones: host/zonefile.ZoneSet or []

Stay points (staypoints.py), frequent places (places.py), curfew nights (curfew.py), time
away from home per night, zone approaches and breaches (the tag's alerts, and the closest
approach the fixes show), data gaps with their reasons (gaps.py), the alerts, a day-by-day
timeline and heatmaps (heatmap.py). The weekly report draws exactly these figures.
"""

import datetime
from typing import NamedTuple

from emtag.centre import curfew, gaps, heatmap, localtime, places, presence, staypoints

GAP_S = 900  # no fix for this long is a data gap
ZONE_ALERTS = (
    "zone_approach", "exclusion_breach", "exclusion_clear", "inclusion_breach",
    "inclusion_clear", "curfew_breach", "curfew_clear",
)  # fmt: skip
HOME_RADIUS_M = 150.0  # an inferred home (no approved address in the zone table)


class Segment(NamedTuple):
    t_start: float
    t_end: float
    kind: str  # "stay", "moving", "gap"
    label: str  # the place's label, or the gap's reason


class AwayNight(NamedTuple):
    date: datetime.date
    t_start: int
    t_end: int
    away_s: float
    unsure_s: float
    unknown_s: float


class Overview(NamedTuple):
    device: str
    t_from: int
    t_to: int
    tz: str
    fixes: list
    stays: list
    places: list
    stay_place: list  # place id of each stay
    nights: list  # curfew.Night
    away: list  # AwayNight
    home: object  # places.Place or None
    alerts: list  # store Alerts in the period, oldest first
    zone_alerts: list
    approaches: list  # (date, zone id, closest distance outside m, Fix)
    gaps: list  # gaps.Gap
    timeline: list  # Segment
    heat_week: dict  # h3 cell -> seconds over the whole period
    heat_days: dict  # local date -> {cell: seconds}


def overview(store, device, t_from, t_to, zones=(), tz=None):
    zones = list(zones)
    tz = tz or next((z.tz for z in zones if z.curfew), localtime.DEFAULT_TZ)
    fixes = store.fixes(device, t_from, t_to)
    before = store.fix_before(device, t_from)  # for the first gap's start
    alerts = sorted(store.alerts(device, t_from, t_to), key=lambda a: (a.t, a.seq))
    stays = staypoints.staypoints(fixes)
    pl = places.places(stays, zones, tz)
    stay_place = [0] * len(stays)
    for p in pl:
        for i in p.stays:
            stay_place[i] = p.id
    nights = curfew.nights(zones, fixes, alerts, t_from, t_to)
    home = next((p for p in pl if p.label == "home"), None)
    away = _away(fixes, zones, home, t_from, t_to, tz)
    gap_list = _gaps(store, device, fixes, before, t_from, t_to)
    return Overview(
        device, t_from, t_to, tz, fixes, stays, pl, stay_place, nights, away, home, alerts,
        [a for a in alerts if a.alert in ZONE_ALERTS],
        _approaches(fixes, zones, tz), gap_list,
        _timeline(stays, stay_place, pl, gap_list, fixes, t_from, t_to),
        heatmap.cells(fixes, t_from, t_to), _heat_days(fixes, t_from, t_to, tz),
    )  # fmt: skip


def days(t_from, t_to, tz):
    d, last, out = localtime.day_of(t_from, tz), localtime.day_of(t_to - 1, tz), []
    while d <= last:
        out.append(d)
        d += datetime.timedelta(days=1)
    return out


def _heat_days(fixes, t_from, t_to, tz):
    out = {}
    for d in days(t_from, t_to, tz):
        a = max(t_from, localtime.day_start(d, tz))
        b = min(t_to, localtime.day_start(d + datetime.timedelta(days=1), tz))
        out[d] = heatmap.cells(fixes, a, b)
    return out


def _away(fixes, zones, home, t_from, t_to, tz):
    """Per night, time surely away from home: in the curfew windows where the zone table
    has an approved address, else 22:00-06:00 local round the inferred home."""
    cz = next((z for z in zones if z.curfew), None)
    if cz is not None:
        spans = [(a, b, d, cz.signed_distance_m) for a, b, d in curfew.windows(cz, t_from, t_to)]
    elif home is not None:
        signed = presence.circle(home.lat, home.lon, HOME_RADIUS_M)
        spans = []
        for d in days(t_from, t_to, tz):
            a = localtime.day_start(d, tz) + 22 * 3600
            spans.append((a, a + 8 * 3600, d, signed))
    else:
        return []
    out = []
    for a, b, d, signed in spans:
        p = presence.presence([f for f in fixes if a - 600 <= f.t <= b], signed, a, b)
        out.append(AwayNight(d, a, b, p.outside_s, p.unsure_s, p.unknown_s))
    return out


def _approaches(fixes, zones, tz):
    """The closest each day came to each exclusion zone (m outside its boundary; negative:
    inside), with the fix that shows it."""
    best: dict = {}
    excl = [z for z in zones if z.kind == "exclusion"]
    for f in fixes:
        for z in excl:
            d = -z.signed_distance_m(f.lat_e7 / 1e7, f.lon_e7 / 1e7)
            key = (localtime.day_of(f.t, tz), z.id)
            if key not in best or d < best[key][0]:
                best[key] = (d, f)
    return [(k[0], k[1], v[0], v[1]) for k, v in sorted(best.items())]


def _gaps(store, device, fixes, before, t_from, t_to):
    out = []
    prev_t = before.t if before is not None else None
    edges = [(prev_t, f.t) for f in fixes[:1]]
    edges += [(a.t, b.t) for a, b in zip(fixes, fixes[1:], strict=False)]
    last = fixes[-1].t if fixes else prev_t
    for a, b in edges:
        start = t_from if a is None else a
        if b - start > GAP_S:
            g = gaps.explain(store, device, start, b)
            out.append(g._replace(t_from=max(start, t_from), t_to=b))
    end = t_to
    if (last is None or end - last > GAP_S) and end > (last or t_from):
        g = gaps.explain(store, device, last or t_from, None, at=end)
        out.append(g._replace(t_from=max(last or t_from, t_from), t_to=end))
    return out


def _timeline(stays, stay_place, pl, gap_list, fixes, t_from, t_to):
    label = {p.id: p.label for p in pl}
    segs = [Segment(s.t_start, s.t_end, "stay", label[stay_place[i]]) for i, s in enumerate(stays)]
    segs += [Segment(g.t_from, g.t_to, "gap", g.reason) for g in gap_list]
    segs.sort()
    out, t = [], float(t_from)
    for s in segs:
        a = max(s.t_start, t)
        if a > t and fixes:
            out.append(Segment(t, a, "moving", ""))
        if s.t_end > a:
            out.append(s._replace(t_start=a))
            t = s.t_end
    if t < t_to and fixes:
        out.append(Segment(t, t_to, "moving", ""))
    return out
