"""Raw figures as people read them, for human output only (`--json`, events.jsonl and the
store keep the raw values): degrees for 1e-7 degrees, metres for cm, seconds for ms, local
and UTC times for epoch seconds, words for flags and counters.

    clock = Clock("GMT0BST,M3.5.0/1,M10.5.0")   # local time by a POSIX TZ rule (the tag's)
    clock = Clock()                             # ... or by this computer's
    clock.stamp(1772442330)     # '2026-03-02 09:05:30 UTC (09:05:30 GMT)'
    fields({"alert": "zone_approach", "zone": "home", "acc_cm": 876, "lat": 534630993,
            "lon": -22963687, "event_t": 1772442330}, clock)
        # 'zone_approach in home, at 53.463099,-2.296369 ±8.8 m,
        #  began 09:05:30 UTC (09:05:30 GMT)'
"""

import datetime
import time

from emtag.firmware import tz as fw_tz


def degrees(e7):
    """Degrees x 1e7 as decimal degrees, 6 places (11 cm): what a map search box takes."""
    return "%.6f" % (e7 / 1e7)


def position(lat_e7, lon_e7, acc_cm=None):
    """'53.463099,-2.296369 ±8.8 m' (latitude,longitude as map search boxes take them)."""
    text = "%s,%s" % (degrees(lat_e7), degrees(lon_e7))
    if acc_cm is not None:
        text += " \u00b1" + metres(acc_cm)
    return text


def metres(cm):
    if cm is None:
        return "?"
    m = cm / 100.0
    if abs(m) >= 10000:
        return "%.1f km" % (m / 1000.0)
    return "%.0f m" % m if abs(m) >= 100 else "%.1f m" % m


def duration(s):
    """Seconds as '45 s', '4 min 30 s', '2 h 05 min', '3 d 04 h' (sign kept)."""
    if s is None:
        return "?"
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s < 10 and s != int(s):
        return "%s%.1f s" % (sign, s)
    s = int(round(s))
    if s < 60:
        return "%s%d s" % (sign, s)
    if s < 3600:
        return "%s%d min %02d s" % (sign, s // 60, s % 60) if s % 60 else "%s%d min" % (
            sign, s // 60)
    if s < 86400:
        return "%s%d h %02d min" % (sign, s // 3600, s % 3600 // 60)
    return "%s%d d %02d h" % (sign, s // 86400, s % 86400 // 3600)


def seconds(ms):
    return "?" if ms is None else duration(ms / 1000.0)


def ago(ms):
    return "never" if ms is None else duration(ms / 1000.0) + " ago"


def yes_no(v):
    return {True: "yes", False: "no", None: "?"}.get(v, str(v))


def volts(mv):
    return "?" if mv is None else "%.2f V" % (mv / 1000.0)


def counts(d):
    """{'invalid': 34, 'jump': 2} as '34 invalid, 2 jump'; {} as 'none'."""
    if not d:
        return "none"
    return ", ".join("%s %s" % (v, k.replace("_", " ")) for k, v in sorted(d.items()))


class Clock:
    """Epoch seconds as UTC and local time: local by a POSIX TZ rule, or this computer's."""

    def __init__(self, rule=None):
        self.rule = fw_tz.Rule(rule) if isinstance(rule, str) else rule

    def local(self, t):
        """(local datetime without tzinfo, zone abbreviation)."""
        if self.rule is not None:
            name = self.rule.dst_name if self.rule.is_dst(t) else self.rule.std_name
            return _utc(self.rule.local(t)), (name or "local").strip("<>")
        lt = time.localtime(t)
        return datetime.datetime(*lt[:6]), time.strftime("%Z", lt) or "local"

    def stamp(self, t, date=True):
        """'2026-03-02 09:05:30 UTC (10:05:30 BST)'; the local date too when it differs."""
        if t is None:
            return "?"
        t = int(t)
        u = _utc(t)
        loc, name = self.local(t)
        fmt = "%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S"
        local_fmt = "%Y-%m-%d %H:%M:%S" if loc.date() != u.date() else "%H:%M:%S"
        return "%s UTC (%s %s)" % (u.strftime(fmt), loc.strftime(local_fmt), name)

    def short(self, t):
        """'09:05:30 UTC 10:05:30 BST': a timeline's first column."""
        u = _utc(int(t))
        loc, name = self.local(int(t))
        return "%s UTC %s %s" % (u.strftime("%H:%M:%S"), loc.strftime("%H:%M:%S"), name)


def _utc(t):
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=t)


# event fields: how each raw name reads (the rest: `name value`, values by their suffix)
_TIMES = {"event_t": "began", "utc": "at", "utc_s": "at", "t_s": "at"}


def fields(ev, clock=None, skip=("t", "source", "type")):
    """An event's fields, raw units turned into words; lat/lon/acc_cm as one position."""
    clock = clock or Clock()
    out = []
    lat, lon = ev.get("lat"), ev.get("lon")
    done = set(skip)
    if "alert" in ev:  # the alert first, then where
        out.append(str(ev["alert"]) + (" in %s" % ev["zone"] if ev.get("zone") else ""))
        done |= {"alert", "zone"}
    if isinstance(lat, int) and isinstance(lon, int):
        out.append("at " + position(lat, lon, ev.get("acc_cm")))
        done |= {"lat", "lon", "acc_cm"}
    for k, v in ev.items():
        if k in done:
            continue
        out.append(field(k, v, clock))
    return ", ".join(out)


def field(k, v, clock=None):
    """One raw field as words: `acc_cm 876` -> 'acc 8.8 m', `forced False` -> 'forced no'."""
    if k in _TIMES and isinstance(v, (int, float)):
        return "%s %s" % (_TIMES[k], (clock or Clock()).stamp(v, date=False))
    name, text = named_value(k, v)
    return "%s %s" % (name.replace("_", " "), text)


# suffix -> (how the value reads); the name loses the suffix
_UNITS = {
    "_ms": seconds,
    "_s": duration,
    "_cm": metres,
    "_mv": volts,
    "_pct": lambda v: "%g %%" % v,
    "_dbhz": lambda v: "%g dB-Hz" % v,
}


def named_value(k, v):
    """(name, value in words) of a raw field, by its type and its name's unit suffix."""
    if isinstance(v, bool) or v is None:
        return k, yes_no(v) if v is not None else "none"
    if isinstance(v, dict):
        if all(isinstance(x, int) for x in v.values()):
            return k, counts(v)
        return k, ", ".join("%s %s" % (a, b) for a, b in sorted(v.items()))
    if isinstance(v, (list, tuple)):
        return k, ", ".join(str(x) for x in v) or "none"
    if isinstance(v, (int, float)):
        if k == "ms":
            return "for", seconds(v)
        for suffix, show in _UNITS.items():
            if k.endswith(suffix):
                return k[: -len(suffix)], show(v)
    return k, str(v)
