"""Alerts in the report: each kind its own symbol and colour, a severity, and the alerts
table (position, accuracy, when raised, began, cleared and stored); routine events are
counted, not listed.

Severities (the vocabulary is protocol/records.py ALERTS):
- critical: a rule broken or the tag attacked: exclusion, inclusion and curfew breaches,
  strap and case tamper. Red, filled, large; listed one by one.
- warning: the tag cannot do its job, or soon may not: zone_approach, no_fix, shielding
  and jamming suspected, battery_critical, storage_full, zones_unusable. Orange and
  purple, filled; listed.
- routine: expected in a normal day and closed without anyone acting: charging started
  and stopped, battery_low (a nudge to charge; battery_critical follows if ignored), the
  *_clear of a breach (shown as "cleared" on its breach's row), device_restart. Grey and
  green, small, hollow; counted.
A kind this page does not know (a newer tag's) gets the generic symbol, severity "unknown",
and is listed, never dropped.
"""

import html

from emtag.host import human
from emtag.simulator import report_data as rd

CRITICAL, WARNING, ROUTINE, UNKNOWN = "critical", "warning", "routine", "unknown"
ORDER = (CRITICAL, WARNING, UNKNOWN, ROUTINE)

# kind -> (severity, shape, colour)
STYLES = {
    "exclusion_breach": (CRITICAL, "triangle", "#d93025"),
    "inclusion_breach": (CRITICAL, "square", "#b3261e"),
    "curfew_breach": (CRITICAL, "pentagon", "#a50e0e"),
    "strap_tamper": (CRITICAL, "cross", "#c2185b"),
    "case_tamper": (CRITICAL, "star", "#880e4f"),
    "zone_approach": (WARNING, "chevron", "#f29900"),
    "no_fix": (WARNING, "ring", "#e37400"),
    "shielding_suspected": (WARNING, "diamond", "#8e24aa"),
    "jamming_suspected": (WARNING, "bolt", "#e65100"),
    "battery_critical": (WARNING, "battery", "#d56e0c"),
    "storage_full": (WARNING, "hexagon", "#795548"),
    "zones_unusable": (WARNING, "octagon", "#6a1b9a"),
    "charging_started": (ROUTINE, "plus", "#0a7a2f"),
    "charging_stopped": (ROUTINE, "minus", "#0a7a2f"),
    "battery_low": (ROUTINE, "battery", "#80868b"),
    "exclusion_clear": (ROUTINE, "tick", "#188038"),
    "inclusion_clear": (ROUTINE, "tick", "#1967d2"),
    "curfew_clear": (ROUTINE, "tick", "#00897b"),
    "device_restart": (ROUTINE, "restart", "#5f6368"),
}
GENERIC = (UNKNOWN, "query", "#3c4043")
CLEARS = {"exclusion_clear": "exclusion_breach", "inclusion_clear": "inclusion_breach",
          "curfew_clear": "curfew_breach"}


def style(kind):
    """(severity, shape, colour) of an alert kind; the generic one for a kind unknown here."""
    return STYLES.get(kind, GENERIC)


def _poly(x, y, r, n, start=-90.0, inner=None):
    import math

    pts = []
    for i in range(n * (2 if inner else 1)):
        a = math.radians(start + i * 360.0 / (n * (2 if inner else 1)))
        rr = inner * r if inner and i % 2 else r
        pts.append("%.1f,%.1f" % (x + rr * math.cos(a), y + rr * math.sin(a)))
    return "M" + " L".join(pts) + " Z"


_PLUS = ((-0.3, -1), (0.3, -1), (0.3, -0.3), (1, -0.3), (1, 0.3), (0.3, 0.3), (0.3, 1),
         (-0.3, 1), (-0.3, 0.3), (-1, 0.3), (-1, -0.3), (-0.3, -0.3))


def _points(pts, x, y, r, turn=0):
    import math

    c, s = math.cos(math.radians(turn)), math.sin(math.radians(turn))
    return "M" + " L".join(
        "%.1f,%.1f" % (x + r * (px * c - py * s), y + r * (px * s + py * c)) for px, py in pts
    ) + " Z"


def _path(shape, x, y, r):
    """SVG path data of a symbol centred on (x, y), about 2r across."""
    if shape == "triangle":
        return _poly(x, y, r * 1.15, 3)
    if shape == "square":
        return _poly(x, y, r * 1.2, 4, 45)
    if shape == "pentagon":
        return _poly(x, y, r * 1.1, 5)
    if shape == "star":
        return _poly(x, y, r * 1.3, 5, inner=0.45)
    if shape == "hexagon":
        return _poly(x, y, r, 6)
    if shape == "octagon":
        return _poly(x, y, r, 8, -67.5)
    if shape == "diamond":
        return _poly(x, y, r * 1.2, 4)
    if shape in ("cross", "plus"):
        return _points(_PLUS, x, y, r, 45 if shape == "cross" else 0)
    if shape == "chevron":
        return "M%.1f,%.1f L%.1f,%.1f L%.1f,%.1f L%.1f,%.1f L%.1f,%.1f L%.1f,%.1f Z" % (
            x - r, y + r * 0.6, x, y - r * 0.9, x + r, y + r * 0.6, x + r * 0.6, y + r * 0.9,
            x, y - r * 0.15, x - r * 0.6, y + r * 0.9)
    if shape == "bolt":
        return "M%.1f,%.1f L%.1f,%.1f L%.1f,%.1f L%.1f,%.1f L%.1f,%.1f L%.1f,%.1f Z" % (
            x + r * 0.3, y - r * 1.2, x - r * 0.7, y + r * 0.1, x - r * 0.05, y + r * 0.1,
            x - r * 0.3, y + r * 1.2, x + r * 0.7, y - r * 0.1, x + r * 0.05, y - r * 0.1)
    if shape == "battery":
        return "M%.1f,%.1f h%.1f v%.1f h%.1f v%.1f h%.1f v%.1f h%.1f Z" % (
            x - r, y - r * 0.55, r * 1.75, r * 0.3, r * 0.25, r * 0.5, -r * 0.25, r * 0.3,
            -r * 1.75)
    if shape == "minus":
        return "M%.1f,%.1f h%.1f v%.1f h%.1f Z" % (x - r, y - r * 0.3, 2 * r, r * 0.6, -2 * r)
    if shape == "tick":
        return "M%.1f,%.1f L%.1f,%.1f L%.1f,%.1f L%.1f,%.1f L%.1f,%.1f L%.1f,%.1f Z" % (
            x - r, y, x - r * 0.6, y - r * 0.4, x - r * 0.2, y, x + r * 0.7, y - r * 0.9,
            x + r, y - r * 0.5, x - r * 0.2, y + r * 0.8)
    if shape == "restart":  # a circular arrow: 300 degrees of ring, a head at its end
        return ("M%.1f,%.1f A%.1f,%.1f 0 1 1 %.1f,%.1f M%.1f,%.1f L%.1f,%.1f L%.1f,%.1f Z"
                % (x + r, y, r, r, x + r * 0.5, y - r * 0.87, x + r * 0.05, y - r * 1.3,
                   x + r * 0.95, y - r * 1.2, x + r * 0.6, y - r * 0.4))
    if shape == "ring":
        return "M%.1f,%.1f a%.1f,%.1f 0 1 0 %.1f,0 a%.1f,%.1f 0 1 0 %.1f,0 Z" % (
            x - r, y, r, r, 2 * r, r, r, -2 * r)
    # query: the generic symbol, a circle with a dot (a kind this page does not know)
    return "M%.1f,%.1f a%.1f,%.1f 0 1 0 %.1f,0 a%.1f,%.1f 0 1 0 %.1f,0 Z" % (
        x - r, y, r, r, 2 * r, r, r, -2 * r)


def marker(kind, x, y, size=7.0, title=""):
    """The kind's symbol as an SVG element at (x, y), with a tooltip."""
    severity, shape, colour = style(kind)
    r = size * (1.0 if severity == CRITICAL else 0.85 if severity != ROUTINE else 0.7)
    hollow = severity == ROUTINE and shape not in ("plus", "minus", "tick")
    fill = "#fff" if hollow or shape in ("ring", "query") else colour
    if shape == "restart":
        fill = "none"
    extra = ""
    if shape == "query":
        extra = '<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"/>' % (x, y, r * 0.35, colour)
    return (
        '<g class="alert-%s" data-kind="%s"><path d="%s" fill="%s" stroke="%s" '
        'stroke-width="1.5" stroke-linejoin="round"/>%s<title>%s</title></g>'
        % (severity, html.escape(kind), _path(shape, x, y, r), fill, colour, extra,
           html.escape(title or kind))
    )


def icon(kind, size=16):
    """The symbol as a small inline SVG, for tables and the legend."""
    c = size / 2.0
    return '<svg class="icon" width="%d" height="%d" viewBox="0 0 %d %d">%s</svg>' % (
        size, size, size, size, marker(kind, c, c, size * 0.36))


def legend(kinds):
    """The symbols of the kinds in this run, most severe first."""
    order = sorted(set(kinds), key=lambda k: (ORDER.index(style(k)[0]), k))
    return '<p class="legend">%s</p>' % "".join(
        "<span>%s %s <small>(%s)</small></span>" % (icon(k), html.escape(k), style(k)[0])
        for k in order
    )


def _cleared(alerts):
    """For each breach (index into alerts), the time its clear began, or None."""
    out, open_ = {}, {}
    for i, (t, ev) in enumerate(alerts):
        kind, zone = ev["alert"], ev.get("zone")
        at = ev["event_t"] * 1000 if ev.get("event_t") is not None else t
        if kind in CLEARS.values():
            open_[(kind, zone)] = i
            out[i] = None
        elif kind in CLEARS and (CLEARS[kind], zone) in open_:
            out[open_.pop((CLEARS[kind], zone))] = at
    return out


def section(d, clock):
    """The alerts table (critical, warning and unknown kinds, one row each) and the routine
    events counted by kind."""

    stored = {}
    for t, ev in d["stored_alerts"]:
        stored.setdefault((ev["alert"], ev.get("zone"), ev.get("event_t")), t)
    cleared = _cleared(d["tag_alerts"])
    rows, routine = [], {}
    for i, (t, ev) in enumerate(d["tag_alerts"]):
        kind = ev["alert"]
        severity = style(kind)[0]
        st = stored.get((kind, ev.get("zone"), ev.get("event_t")))
        if severity == ROUTINE:
            n, ok = routine.get(kind, (0, 0))
            routine[kind] = (n + 1, ok + (1 if st else 0))
            continue
        where = "-"
        if ev.get("lat") is not None and ev.get("lon") is not None:
            where = "%s, %s" % (human.degrees(ev["lat"]), human.degrees(ev["lon"]))
        acc = human.metres(ev["acc_cm"]) if ev.get("acc_cm") is not None else "-"
        began = ev["event_t"] * 1000 if ev.get("event_t") is not None else None
        end = cleared.get(i, "n/a")
        rows.append((
            severity,
            "%s %s" % (icon(kind), html.escape(kind)),
            '<span class="sev-%s">%s</span>' % (severity, severity),
            html.escape(ev.get("zone") or ""),
            _when(t, clock),
            _when(began, clock, t) if began else "",
            where,
            acc,
            "" if end == "n/a" else ("still open at the end" if end is None else
                                     _when(end, clock, t)),
            _stored(st, t),
        ))
    rows.sort(key=lambda r: ORDER.index(r[0]))
    head = ("alert", "severity", "zone", "raised", "began", "position (lat, lon)",
            "accuracy", "cleared", "stored")
    parts = ["<h2>Alerts</h2>"]
    kinds = [ev["alert"] for _, ev in d["tag_alerts"]]
    if kinds:
        parts.append(legend(kinds))
    parts.append('<div class="alerts">%s</div>' % rd.table(head, [r[1:] for r in rows]) if rows
                 else "<p>No critical or warning alerts.</p>")
    if routine:
        parts.append(
            "<h3>Routine events (counted, not listed)</h3>"
            + rd.table(("event", "count", "in the store"),
                     [("%s %s" % (icon(k), html.escape(k)), str(n), str(ok))
                      for k, (n, ok) in sorted(routine.items())])
        )
    return "".join(parts)


def _stored(st, raised):
    if st is None:
        return '<span class="bad">not stored</span>'
    return "%s UTC<br><small>%s after</small>" % (rd.utc_text(st)[11:],
                                                   rd.dur_text((st - raised) / 1000))


def _when(ms, clock, day_of=None):
    """UTC, and the tag's local time under it (curfews are in local time); the date only
    when it differs from that of `day_of` (ms)."""
    loc, name = clock.local(ms // 1000)
    utc = rd.utc_text(ms)
    if day_of is not None and rd.utc_text(day_of)[:10] == utc[:10]:
        utc = utc[11:]
    return "%s UTC<br><small>%s %s</small>" % (utc, loc.strftime("%H:%M:%S"), name)
