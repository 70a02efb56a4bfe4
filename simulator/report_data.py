"""What the report shows, read from a run's events: fixes, the true track, alerts, battery
samples and sim events (collect); gaps in the fixes and their likely causes; curfew
compliance per night; and the small time and HTML helpers the report's modules share.
Times are ms since 1970 (UTC) throughout."""

import datetime
import html

from emtag.firmware import tz as fw_tz

GAP_MIN_S = 300  # fixes further apart than this (and 3 fix intervals) are a gap


def esc(x):
    return html.escape(str(x), quote=True)


def table(head, rows):
    """An HTML table; head is text (escaped), rows are HTML cells."""
    h = "".join("<th>%s</th>" % esc(x) for x in head)
    body = "".join("<tr>%s</tr>" % "".join("<td>%s</td>" % c for c in r) for r in rows)
    return "<table><tr>%s</tr>%s</table>" % (h, body)


def ms_of(ev):
    return int(datetime.datetime.fromisoformat(ev["t"].replace("Z", "+00:00")).timestamp() * 1000)


def utc_text(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S"
    )


def dur_text(s):
    s = int(round(s))
    if s >= 86400:
        return "%dd %02dh%02dm" % (s // 86400, s % 86400 // 3600, s % 3600 // 60)
    if s >= 3600:
        return "%dh%02dm" % (s // 3600, s % 3600 // 60)
    if s >= 60:
        return "%dm%02ds" % (s // 60, s % 60)
    return "%ds" % s


def zone_shapes(z):
    """[(lat, lon) ring, ...] in degrees, or ("circle", lat, lon, radius_m)."""
    sh = z.shape
    if sh[0] == "circle":
        return ("circle", sh[1] / 1e7, sh[2] / 1e7, sh[3] / 100.0)
    return [[(la / 1e7, lo / 1e7) for la, lo in ring] for poly in sh[1] for ring in poly]


def collect(events):
    d = {
        "fixes": [],
        "truth": [],
        "tag_alerts": [],
        "stored_alerts": [],
        "battery": [],
        "sim": [],
        "start": None,
        "end": None,
    }
    for ev in events:
        src, kind = ev["source"], ev["type"]
        if src == "tag" and kind == "fix" and ev.get("lat") is not None:
            d["fixes"].append((ms_of(ev), ev["lat"] / 1e7, ev["lon"] / 1e7, ev.get("acc_cm")))
        elif src == "sim" and kind == "truth":
            d["truth"].append((ms_of(ev), ev["lat"] / 1e7, ev["lon"] / 1e7, ev.get("env")))
        elif src == "tag" and kind == "alert":
            d["tag_alerts"].append((ms_of(ev), ev))
        elif src == "bridge" and kind == "alert":
            d["stored_alerts"].append((ms_of(ev), ev))
        elif src == "sim" and kind == "battery":
            d["battery"].append((ms_of(ev), ev["pct"], ev.get("charging")))
        elif src == "sim" and kind == "start":
            d["start"] = ms_of(ev)
        elif src == "sim" and kind == "end":
            d["end"] = ms_of(ev)
        if src == "sim":
            d["sim"].append((ms_of(ev), kind, ev))
    if d["start"] is None:
        d["start"] = ms_of(events[0]) if events else 0
    if d["end"] is None:
        d["end"] = ms_of(events[-1]) if events else d["start"]
    return d


def gaps(fixes, start, end, min_s=GAP_MIN_S):
    """Stretches without a fix record longer than min_s (and 3 typical intervals)."""
    times = [f[0] for f in fixes]
    if len(times) > 2:
        steps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
        typical = steps[len(steps) // 2]
    else:
        typical = 60000
    limit = max(min_s * 1000, 3 * typical)
    out = []
    marks = [start] + times + [end]
    for a, b in zip(marks, marks[1:], strict=False):
        if b - a > limit:
            out.append((a, b))
    return out


def windows(sim, kinds_on, kinds_off, start, end):
    out, on = [], None
    for t, kind, _ in sim:
        if kind in kinds_on and on is None:
            on = t
        elif kind in kinds_off and on is not None:
            out.append((on, t))
            on = None
    if on is not None:
        out.append((on, end))
    return out


def gap_cause(a, b, d):
    why = []
    sim = d["sim"]
    for label, on, off in (
        ("foil (shielded)", {"foil_on"}, {"foil_off"}),
        ("jamming", {"jam_on"}, {"jam_off"}),
        ("link outage", {"link_down"}, {"link_up"}),
        ("power cut", {"power_cut"}, {"power_restore"}),
    ):
        for x, y in windows(sim, on, off, d["start"], d["end"]):
            if x < b and y > a:
                why.append(label)
                break
    envs = {e for t, _, _, e in d["truth"] if a <= t <= b}
    if "indoor" in envs:
        why.append("indoors")
    if any(k == "battery_empty" for t, k, _ in sim if a <= t <= b + 1):
        why.append("battery flat")
    moving = [ev.get("moving") for t, k, ev in sim if k == "truth" and a <= t <= b]
    if moving and not any(moving) and not why:
        why.append("wearer still: fixes skipped (duty cycling)")
    return ", ".join(why) or "no fix"


def curfew_nights(zones, d):
    """Per curfew zone and night: (zone, local date, local from-to, minutes the tag's alerts
    say in breach, minutes truly outside, window minutes)."""
    rows = []
    start, end = d["start"], d["end"]
    for z in zones:
        if not getattr(z, "curfew", False):
            continue
        breach = []  # (from, to) ms by the tag's alerts (event_t: when the breach began)
        on = None
        for t, ev in d["tag_alerts"]:
            if ev.get("zone") != z.id:
                continue
            at = ev.get("event_t")
            at = at * 1000 if at is not None else t
            if ev["alert"] == "curfew_breach" and on is None:
                on = at
            elif ev["alert"] == "curfew_clear" and on is not None:
                breach.append((on, at))
                on = None
        if on is not None:
            breach.append((on, end))
        inside, cur = [], None  # truth: when the wearer was really inside
        for t, kind, ev in d["sim"]:
            if ev.get("zone") != z.id:
                continue
            if kind == "truth_enter" and cur is None:
                cur = t
            elif kind == "truth_leave" and cur is not None:
                inside.append((cur, t))
                cur = None
        if cur is not None:
            inside.append((cur, end))
        rule = fw_tz.Rule(z.tz) if z.tz else None
        t = start - start % 60000
        win = None
        while t <= end:
            act = z.active(t // 1000)
            if act and win is None:
                win = t
            if (not act or t + 60000 > end) and win is not None:
                w1 = t if not act else min(t + 60000, end)
                rows.append(_night(z, rule, win, w1, breach, inside))
                win = None
            t += 60000
    return rows


def _overlap(spans, a, b):
    return sum(max(0, min(y, b) - max(x, a)) for x, y in spans) / 60000.0


def _night(z, rule, a, b, breach, inside):
    def local(ms):
        s = rule.local(ms // 1000) if rule else ms // 1000
        return datetime.datetime.fromtimestamp(s, datetime.timezone.utc)

    la, lb = local(a), local(b)
    return {
        "zone": z.id,
        "night": la.strftime("%a %Y-%m-%d"),
        "window": "%s-%s" % (la.strftime("%H:%M"), lb.strftime("%H:%M")),
        "utc_offset_h": (
            la.replace(tzinfo=None) - datetime.datetime.utcfromtimestamp(a / 1000)
        ).total_seconds()
        / 3600.0,
        "breach_min": _overlap(breach, a, b),
        "outside_min": (b - a) / 60000.0 - _overlap(inside, a, b),
        "window_min": (b - a) / 60000.0,
    }
