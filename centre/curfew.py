"""Curfew nights: each window of a scheduled inclusion zone (the approved address) that
opens in a period, with the minutes in breach two ways: by the tag's own signed alerts
(curfew_breach until curfew_clear, clipped to the window: the evidence), and by the fixes
(surely outside, unsure, unknown: presence.py)."""

import datetime
from typing import NamedTuple

from emtag.centre import localtime
from emtag.centre.presence import presence

WEEK_S = 7 * 86400


class Night(NamedTuple):
    zone: str
    date: datetime.date  # the local date the window opens
    t_start: int
    t_end: int
    alert_breach_s: float  # by the tag's curfew_breach/curfew_clear alerts
    outside_s: float  # by the fixes: surely outside
    unsure_s: float
    unknown_s: float
    alerts: tuple  # seqs of the curfew alerts in the window
    compliant: bool  # no alert time in breach and no fix surely outside
    verdict: str  # "breach"; "no data" (fixes for under half the window); else "kept"


def windows(zone, t_from, t_to):
    """(t_start, t_end, local date) of the zone's schedule windows opening in [t_from, t_to)."""
    out = []
    d = localtime.day_of(t_from, zone.tz) - datetime.timedelta(days=7)
    d -= datetime.timedelta(days=d.weekday())  # a local Monday
    while localtime.day_start(d, zone.tz) < t_to:
        monday_local = (d - datetime.date(1970, 1, 1)).days * 86400
        for start_mow, minutes in zone.windows:
            a_local = monday_local + start_mow * 60
            a = localtime.utc_of_local(a_local, zone.tz)
            b = localtime.utc_of_local(a_local + minutes * 60, zone.tz)
            if t_from <= a < t_to:
                date = datetime.date(1970, 1, 1) + datetime.timedelta(days=a_local // 86400)
                out.append((a, b, date))
        d += datetime.timedelta(days=7)
    return sorted(out)


def nights(zones, fixes, alerts, t_from, t_to):
    """Every curfew night opening in [t_from, t_to) for every curfew zone. `alerts` are the
    store's Alert rows (any order)."""
    out = []
    for z in zones:
        if not z.curfew:
            continue
        mine = sorted(
            (a for a in alerts if a.zone == z.id and a.alert in ("curfew_breach", "curfew_clear")),
            key=lambda a: (a.t, a.seq),
        )
        for a, b, date in windows(z, t_from, t_to):
            breach_s, open_at, seqs = 0.0, None, []
            for al in mine:
                if al.t < a - 86400 or al.t > b:
                    continue
                if a <= al.t <= b:
                    seqs.append(al.seq)
                if al.alert == "curfew_breach":
                    open_at = al.t if open_at is None else open_at
                elif open_at is not None:
                    breach_s += max(0, min(al.t, b) - max(open_at, a))
                    open_at = None
            if open_at is not None:  # never cleared in the window
                breach_s += max(0, b - max(open_at, a))
            inside = [f for f in fixes if a - 600 <= f.t <= b]
            p = presence(inside, z.signed_distance_m, a, b)
            ok = breach_s == 0 and p.outside_s == 0
            verdict = "breach" if not ok else "no data" if p.unknown_s > (b - a) / 2 else "kept"
            out.append(
                Night(z.id, date, a, b, breach_s, p.outside_s, p.unsure_s, p.unknown_s,
                      tuple(seqs), ok, verdict)
            )  # fmt: skip
    return sorted(out, key=lambda n: n.t_start)
