"""The weekly overview as one self-contained HTML page: everything inlined (Leaflet 1.9.4
from npm, with its licence, the data as JSON), so it opens without a network; the street
basemap alone comes from a tile server (--tiles), and without one the maps stay blank and
say so. Tables and the timeline are made here from the figures of analytics.py (through
summary.to_json); the maps are drawn in the browser from the same JSON."""

import datetime
import html
import os
import re

from emtag.centre import localtime

VENDOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor", "leaflet")
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = "&copy; OpenStreetMap contributors"

# one symbol and colour per alert kind (protocol/records.py ALERTS), on the map and in tables
ALERT_SYMBOLS = {
    "exclusion_breach": ("\u2716", "#c5221f"),
    "exclusion_clear": ("\u2714", "#c5221f"),
    "inclusion_breach": ("\u21e5", "#a142f4"),
    "inclusion_clear": ("\u21e4", "#a142f4"),
    "curfew_breach": ("\u263e", "#7b1fa2"),
    "curfew_clear": ("\u2600", "#7b1fa2"),
    "zone_approach": ("\u25b2", "#e37400"),
    "strap_tamper": ("\u2702", "#202124"),
    "case_tamper": ("\u25c6", "#202124"),
    "battery_low": ("\u25bc", "#b06000"),
    "battery_critical": ("\u2759", "#b06000"),
    "charging_started": ("\u21af", "#5f6368"),
    "charging_stopped": ("\u2193", "#5f6368"),
    "no_fix": ("\u2205", "#1967d2"),
    "shielding_suspected": ("\u25a3", "#1967d2"),
    "jamming_suspected": ("\u224b", "#1967d2"),
    "storage_full": ("\u25a0", "#5f6368"),
    "zones_unusable": ("\u2260", "#c5221f"),
    "device_restart": ("\u21bb", "#5f6368"),
}
SEGMENT_COLOURS = {"home": "#188038", "work": "#1967d2", "stay": "#12b5cb",
                   "moving": "#f9ab00", "gap": "#bdc1c6"}  # fmt: skip


def esc(x):
    return html.escape("" if x is None else str(x))


def _vendor(name):
    with open(os.path.join(VENDOR, name), encoding="utf-8") as f:
        text = f.read()
    # no source map, no icon images: the page must not reach for any file beside it (the
    # layers control is shown expanded, so it needs no icon; markers are drawn, not images)
    text = re.sub(r"url\(images/[^)]*\)", "none", text)
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith("//# sourceMappingURL"))


def _hm(t, tz):
    lt = localtime.local(t, tz)
    return "%02d:%02d" % (lt % 86400 // 3600, lt % 3600 // 60)


def _local(t, tz):
    lt = localtime.local(t, tz)
    d = datetime.datetime.fromtimestamp(lt, datetime.UTC)
    return d.strftime("%a %d %b %H:%M")


def _symbol(kind):
    sym, colour = ALERT_SYMBOLS.get(kind, ("\u25cf", "#5f6368"))
    return '<span class="sym" style="color:%s" title="%s">%s</span>' % (colour, esc(kind), sym)


def _table(head, rows, cls=""):
    out = ['<table class="%s"><thead><tr>' % cls]
    out += ["<th>%s</th>" % esc(h) for h in head]
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>" + "".join("<td>%s</td>" % c for c in r) + "</tr>")
    if not rows:
        out.append('<tr><td colspan="%d" class="none">none</td></tr>' % len(head))
    out.append("</tbody></table>")
    return "".join(out)


def _timeline_svg(ov, doc):
    """One row per local day, 24 h wide: stays (by place), moving, gaps, the curfew windows
    outlined and the alerts marked with their symbols."""
    tz = ov.tz
    days = sorted(doc["heatmap"]["days"])
    w, left, row = 960, 90, 34
    h = 30 + row * len(days)
    px = (w - left) / 86400.0
    out = [
        '<svg id="timeline" width="%d" height="%d" viewBox="0 0 %d %d" role="img">' % (w, h, w, h)
    ]
    for hh in range(0, 25, 3):
        x = left + hh * 3600 * px
        out.append('<line x1="%.1f" y1="18" x2="%.1f" y2="%d" class="grid"/>' % (x, x, h))
        out.append('<text x="%.1f" y="12" class="hour">%02d:00</text>' % (x - 14, hh % 24))
    for i, dname in enumerate(days):
        d = datetime.date.fromisoformat(dname)
        base = localtime.day_start(d, tz)
        end = localtime.day_start(d + datetime.timedelta(days=1), tz)
        y = 22 + i * row
        out.append('<text x="4" y="%d" class="day">%s</text>' % (y + 16, d.strftime("%a %d %b")))

        def bar(a, b, colour, title, y=y, base=base, end=end, cls="seg"):
            a, b = max(a, base), min(b, end)
            if b <= a:
                return
            out.append(
                '<rect x="%.1f" y="%d" width="%.1f" height="22" fill="%s" class="%s">'
                "<title>%s</title></rect>"
                % (left + (a - base) * px, y, max((b - a) * px, 0.5), colour, cls, esc(title))
            )

        for s in ov.timeline:
            if s.kind == "stay":
                colour = SEGMENT_COLOURS.get(s.label, SEGMENT_COLOURS["stay"])
                title = "%s %s-%s" % (s.label, _hm(s.t_start, tz), _hm(s.t_end, tz))
            else:
                colour = SEGMENT_COLOURS[s.kind]
                title = "%s%s %s-%s" % (s.kind, ": " + s.label if s.label else "",
                                        _hm(s.t_start, tz), _hm(s.t_end, tz))  # fmt: skip
            bar(s.t_start, s.t_end, colour, title)
        for n in ov.nights:
            a, b = max(n.t_start, base), min(n.t_end, end)
            if b > a:
                out.append(
                    '<rect x="%.1f" y="%d" width="%.1f" height="22" class="curfew%s">'
                    "<title>curfew %s-%s</title></rect>"
                    % (left + (a - base) * px, y - 1, (b - a) * px,
                       "" if n.compliant else " breach", _hm(n.t_start, tz), _hm(n.t_end, tz))
                )  # fmt: skip
        for a in ov.alerts:
            if a.t is not None and base <= a.t < end:
                sym, colour = ALERT_SYMBOLS.get(a.alert, ("\u25cf", "#5f6368"))
                out.append(
                    '<text x="%.1f" y="%d" class="alert" fill="%s"><title>%s %s</title>%s</text>'
                    % (left + (a.t - base) * px - 5, y + 16, colour, esc(a.alert),
                       _hm(a.t, tz), sym)
                )  # fmt: skip
    out.append("</svg>")
    legend = " ".join(
        '<span class="key" style="background:%s"></span>%s' % (c, esc(k))
        for k, c in SEGMENT_COLOURS.items()
    )
    return "".join(out) + '<p class="legend">%s <span class="key curfewkey"></span>curfew window' \
        ' (red: breached)</p>' % legend  # fmt: skip


def _zones_json(zones):
    out = []
    for z in zones:
        if z.shape[0] == "circle":
            geo = {"circle": [z.shape[1] / 1e7, z.shape[2] / 1e7, z.shape[3] / 100]}
        else:
            geo = {"polygons": [[[[la / 1e7, lo / 1e7] for la, lo in ring] for ring in poly]
                                for poly in z.shape[1]]}  # fmt: skip
        out.append({"id": z.id, "kind": z.kind, "curfew": z.curfew, **geo})
    return out
