"""The report's time charts (inline SVG): the battery curve with charging and battery
alerts, and the timeline strip of what happened to the hardware, gaps in the fixes and
the alerts, each with its own symbol."""

import datetime

from emtag.simulator import report_alerts as ra
from emtag.simulator.report_data import dur_text, esc, gaps, utc_text, windows

CHART_W, CHART_H = 960, 220


class Axis:
    """Simulated time onto x pixels x0..x1."""

    def __init__(self, d, x0, x1):
        self.t0, self.t1 = d["start"], max(d["end"], d["start"] + 1)
        self.x0, self.x1 = x0, x1

    def x(self, t):
        return self.x0 + (t - self.t0) * (self.x1 - self.x0) / (self.t1 - self.t0)

    def span(self, a, b, least=1.5):
        return self.x(a), max(least, self.x(b) - self.x(a))

    def ticks(self, top, bottom):
        span = self.t1 - self.t0
        steps = (
            (86400000, "%a %d"),
            (6 * 3600000, "%H:%M"),
            (3600000, "%H:%M"),
            (600000, "%H:%M"),
            (60000, "%H:%M"),
        )
        step, fmt = next((st for st in steps if span / st[0] >= 4), steps[-1])
        out = []
        t = self.t0 - self.t0 % step + step
        while t < self.t1:
            x = self.x(t)
            lab = datetime.datetime.fromtimestamp(t / 1000, datetime.timezone.utc).strftime(fmt)
            out.append(
                '<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e3e6eb"/>'
                '<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%s</text>'
                % (x, top, x, bottom, x, bottom + 12, lab)
            )
            t += step
        return out


def battery_chart(d):
    b = d["battery"]
    if not b:
        return "<p>No battery samples.</p>"
    w, h, pad = CHART_W, CHART_H, 24
    ax = Axis(d, 40, w - pad)
    out = ['<svg id="battery" viewBox="0 0 %d %d" width="%d" height="%d">' % (w, h, w, h)]
    out += ax.ticks(pad, h - pad)

    def y(pct):
        return h - pad - pct * (h - 2 * pad) / 100.0

    for pct in (0, 25, 50, 75, 100):
        out.append(
            '<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eef0f4"/>'
            '<text x="6" y="%.1f" font-size="10">%d%%</text>'
            % (ax.x0, y(pct), ax.x1, y(pct), y(pct) + 3, pct)
        )
    for a, c in windows(
        d["sim"], {"charger_plugged"}, {"charger_unplugged"}, d["start"], d["end"]
    ):
        x, wd = ax.span(a, c)
        out.append(
            '<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#0a7a2f" '
            'fill-opacity="0.12"><title>charging %s</title></rect>'
            % (x, pad, wd, h - 2 * pad, dur_text((c - a) / 1000))
        )
    pts = " ".join("%.1f,%.1f" % (ax.x(t), y(p)) for t, p, _ in b)
    out.append('<polyline points="%s" fill="none" stroke="#0b57d0" stroke-width="2"/>' % pts)
    for t, ev in d["tag_alerts"]:
        if ev["alert"].startswith(("battery", "charging")):
            x = ax.x(t)
            colour = ra.style(ev["alert"])[2]
            out.append(
                '<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" '
                'stroke-dasharray="3 3"><title>%s %s</title></line>'
                % (x, pad, x, h - pad, colour, esc(ev["alert"]), utc_text(t))
            )
            out.append(ra.marker(ev["alert"], x, pad - 8, 5, "%s %s" % (ev["alert"], utc_text(t))))
    out.append("</svg>")
    return "".join(out)


STRIP = (
    ("indoors / urban canyon", None, "#9aa0a6"),
    ("foil", ({"foil_on"}, {"foil_off"}), "#8e24aa"),
    ("jamming", ({"jam_on"}, {"jam_off"}), "#e37400"),
    ("charging", ({"charger_plugged"}, {"charger_unplugged"}), "#0a7a2f"),
    ("link down", ({"link_down"}, {"link_up"}), "#b3261e"),
    ("power off", ({"power_cut"}, {"power_restore"}), "#202124"),
    ("strap / case open", ({"strap_cut", "case_open"}, {"strap_restore", "case_close"}), "#5f6368"),
)


def strip(d):
    w, pad, row = CHART_W, 16, 18
    n = len(STRIP) + 2
    h = n * row + 2 * pad + 8
    ax = Axis(d, 150, w - pad)
    out = ['<svg id="timeline" viewBox="0 0 %d %d" width="%d" height="%d">' % (w, h, w, h)]
    out += ax.ticks(pad, pad + n * row)

    def label(i, text, col):
        out.append(
            '<text x="8" y="%d" font-size="11" fill="%s">%s</text>'
            % (pad + i * row + 11, col, esc(text))
        )

    for i, (text, kinds, col) in enumerate(STRIP):
        label(i, text, col)
        if kinds is None:
            spans, cur = [], None
            for t, _, _, env in d["truth"]:
                bad = env in ("indoor", "urban_canyon")
                if bad and cur is None:
                    cur = t
                elif not bad and cur is not None:
                    spans.append((cur, t))
                    cur = None
            if cur is not None:
                spans.append((cur, d["end"]))
        else:
            spans = windows(d["sim"], kinds[0], kinds[1], d["start"], d["end"])
        for a, b in spans:
            x, wd = ax.span(a, b)
            out.append(
                '<rect x="%.1f" y="%d" width="%.1f" height="12" fill="%s"/>'
                % (x, pad + i * row, wd, col)
            )
    i = len(STRIP)
    label(i, "gaps in fixes", "#b3261e")
    for a, b in gaps(d["fixes"], d["start"], d["end"]):
        x, wd = ax.span(a, b)
        out.append(
            '<rect x="%.1f" y="%d" width="%.1f" height="12" fill="#b3261e" fill-opacity="0.5">'
            "<title>no fix for %s</title></rect>" % (x, pad + i * row, wd, dur_text((b - a) / 1000))
        )
    i += 1
    label(i, "alerts", "#1d2330")
    for t, ev in sorted(d["tag_alerts"], key=lambda a: -ra.ORDER.index(ra.style(a[1]["alert"])[0])):
        out.append(
            ra.marker(ev["alert"], ax.x(t), pad + i * row + 6, 5.5,
                      "%s %s UTC" % (ev["alert"], utc_text(t)))
        )
    out.append("</svg>")
    return "".join(out)
