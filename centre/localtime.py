"""Local wall-clock time for the centre's day, night and week boundaries, with the tag's
own POSIX TZ rules (firmware/tz.py), so a curfew night here is the night the tag kept."""

import datetime

from emtag.firmware import tz as fw_tz

DEFAULT_TZ = fw_tz.DEFAULT_RULE
_RULES: dict = {}


def rule(tz):
    r = _RULES.get(tz)
    if r is None:
        r = _RULES[tz] = fw_tz.Rule(tz)
    return r


def local(t, tz=DEFAULT_TZ):
    return rule(tz).local(int(t))


def utc_of_local(local_s, tz=DEFAULT_TZ):
    return rule(tz).utc(int(local_s))


def day_of(t, tz=DEFAULT_TZ):
    """The local date (datetime.date) of UTC time t."""
    return datetime.date(1970, 1, 1) + datetime.timedelta(days=local(t, tz) // 86400)


def day_start(d, tz=DEFAULT_TZ):
    """UTC time of local midnight starting date d."""
    return utc_of_local((d - datetime.date(1970, 1, 1)).days * 86400, tz)


def iso_week(text):
    """(monday date, label) of an ISO week such as 2026-W48; ValueError if malformed."""
    import re

    m = re.fullmatch(r"(\d{4})-W(\d{2})", (text or "").strip())
    if not m:
        raise ValueError("week %r: give it as YYYY-Www, e.g. 2026-W48" % text)
    monday = datetime.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    return monday, "%s-W%s" % (m.group(1), m.group(2))


def overlap_hours(t0, t1, h0, h1, tz=DEFAULT_TZ, weekdays_only=False):
    """Seconds of [t0, t1) falling between local hours h0 and h1 of any day."""
    total = 0.0
    d = day_of(t0, tz)
    last = day_of(t1, tz)
    while d <= last:
        if not (weekdays_only and d.weekday() >= 5):
            base = day_start(d, tz)
            a, b = base + h0 * 3600, base + h1 * 3600
            total += max(0.0, min(t1, b) - max(t0, a))
        d += datetime.timedelta(days=1)
    return total
