"""report.html: one self-contained page about a run, readable offline in any browser.

    path = write(world, result, out_dir)           # after a run (simulate.py)
    html = render(events, zones, title, result)    # from events.jsonl and the zone file

What it shows: the summary and checks; a map (local metres) with the tag's fixes and
their accuracy circles, the true track (the simulator knows it), the zones (exclusion red,
inclusion and curfew blue, approach rings dashed), alerts, gaps in the data (dashed red)
and a heatmap of the time spent; a timeline strip of what happened to the hardware (GNSS
environment, foil, jamming, charging, link outages, tamper); curfew compliance per night
(minutes in breach by the tag's alerts, and minutes truly outside); the battery curve with
charging and battery alerts; alerts and gaps as tables. Everything is inline SVG, CSS and
a few lines of script (layer switches); nothing is fetched. The page records script errors
in #errors and sets data-ready on <body> when its script has run (the test checks both in
headless Chromium).
"""

import datetime
import html
import math
import os

from emtag.firmware import tz as fw_tz
from emtag.simulator import summary

MAP_W, MAP_H = 960, 600
CHART_W, CHART_H = 960, 220
GAP_MIN_S = 300  # fixes further apart than this (and 3 fix intervals) are a gap
MAX_CIRCLES = 4000
HEAT_CELLS = 64


def _ms(ev):
    return int(datetime.datetime.fromisoformat(ev["t"].replace("Z", "+00:00")).timestamp() * 1000)


def _hm(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S"
    )


def _dur(s):
    s = int(round(s))
    if s >= 86400:
        return "%dd %02dh%02dm" % (s // 86400, s % 86400 // 3600, s % 3600 // 60)
    if s >= 3600:
        return "%dh%02dm" % (s // 3600, s % 3600 // 60)
    if s >= 60:
        return "%dm%02ds" % (s // 60, s % 60)
    return "%ds" % s


def _e(x):
    return html.escape(str(x), quote=True)


class Projection:
    def __init__(self, pts, w, h, pad=30):
        lats = [p[0] for p in pts] or [0.0]
        lons = [p[1] for p in pts] or [0.0]
        self.lat0 = (min(lats) + max(lats)) / 2
        self.lon0 = (min(lons) + max(lons)) / 2
        self.kx = 111320.0 * math.cos(math.radians(self.lat0))
        self.ky = 110540.0
        xs = [(lo - self.lon0) * self.kx for lo in lons]
        ys = [(la - self.lat0) * self.ky for la in lats]
        span_x = max(max(xs) - min(xs), 50.0)
        span_y = max(max(ys) - min(ys), 50.0)
        self.scale = min((w - 2 * pad) / span_x, (h - 2 * pad) / span_y)  # px per metre
        self.cx, self.cy = w / 2, h / 2
        self.mx = (max(xs) + min(xs)) / 2
        self.my = (max(ys) + min(ys)) / 2

    def xy(self, lat, lon):
        x = (lon - self.lon0) * self.kx - self.mx
        y = (lat - self.lat0) * self.ky - self.my
        return self.cx + x * self.scale, self.cy - y * self.scale

    def metres(self, m):
        return m * self.scale


def _zone_shapes(z):
    """[(lat, lon) ring, ...] in degrees, or ("circle", lat, lon, radius_m)."""
    sh = z.shape
    if sh[0] == "circle":
        return ("circle", sh[1] / 1e7, sh[2] / 1e7, sh[3] / 100.0)
    return [[(la / 1e7, lo / 1e7) for la, lo in ring] for poly in sh[1] for ring in poly]


def _collect(events):
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
            d["fixes"].append((_ms(ev), ev["lat"] / 1e7, ev["lon"] / 1e7, ev.get("acc_cm")))
        elif src == "sim" and kind == "truth":
            d["truth"].append((_ms(ev), ev["lat"] / 1e7, ev["lon"] / 1e7, ev.get("env")))
        elif src == "tag" and kind == "alert":
            d["tag_alerts"].append((_ms(ev), ev))
        elif src == "bridge" and kind == "alert":
            d["stored_alerts"].append((_ms(ev), ev))
        elif src == "sim" and kind == "battery":
            d["battery"].append((_ms(ev), ev["pct"], ev.get("charging")))
        elif src == "sim" and kind == "start":
            d["start"] = _ms(ev)
        elif src == "sim" and kind == "end":
            d["end"] = _ms(ev)
        if src == "sim":
            d["sim"].append((_ms(ev), kind, ev))
    if d["start"] is None:
        d["start"] = _ms(events[0]) if events else 0
    if d["end"] is None:
        d["end"] = _ms(events[-1]) if events else d["start"]
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


def _windows(sim, kinds_on, kinds_off, start, end):
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


def _gap_cause(a, b, d):
    why = []
    sim = d["sim"]
    for label, on, off in (
        ("foil (shielded)", {"foil_on"}, {"foil_off"}),
        ("jamming", {"jam_on"}, {"jam_off"}),
        ("link outage", {"link_down"}, {"link_up"}),
        ("power cut", {"power_cut"}, {"power_restore"}),
    ):
        for x, y in _windows(sim, on, off, d["start"], d["end"]):
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


# rendering
CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:14px 24px}
header h1{font-size:20px;margin:0}
header p{margin:4px 0 0;color:#c8cdd8}
main{padding:12px 24px 40px;max-width:1000px}
h2{font-size:16px;margin:22px 0 8px;border-bottom:1px solid #d5d9e0;padding-bottom:4px}
table{border-collapse:collapse;background:#fff;font-size:13px}
td,th{border:1px solid #d5d9e0;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef0f4}
.ok{color:#0a7a2f;font-weight:600}.bad{color:#b3261e;font-weight:600}
svg{background:#fff;border:1px solid #d5d9e0;display:block}
.layers label{margin-right:14px;font-size:13px}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.sw{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px}
#errors{color:#b3261e}
"""

SCRIPT = """
window.__errors = [];
window.onerror = function (msg, src, line) {
  window.__errors.push(msg + ' (' + line + ')');
  document.getElementById('errors').textContent = 'Script error: ' + window.__errors.join('; ');
};
(function () {
  var boxes = document.querySelectorAll('input[data-layer]');
  for (var i = 0; i < boxes.length; i++) {
    boxes[i].addEventListener('change', function (ev) {
      var g = document.getElementById(ev.target.getAttribute('data-layer'));
      if (g) { g.style.display = ev.target.checked ? '' : 'none'; }
    });
  }
  var n = document.querySelectorAll('#fixes circle').length;
  document.getElementById('fixcount').textContent = String(n);
  document.body.setAttribute('data-ready', '1');
})();
"""


def _map(d, zones):
    pts = [(la, lo) for _, la, lo, _ in d["fixes"]] + [(la, lo) for _, la, lo, _ in d["truth"]]
    shapes = []
    for z in zones:
        sh = _zone_shapes(z)
        shapes.append((z, sh))
        if sh[0] == "circle":
            _, la, lo, r = sh
            dla = (r + z.approach_m) / 110540.0
            dlo = dla / max(0.1, math.cos(math.radians(la)))
            pts += [(la - dla, lo - dlo), (la + dla, lo + dlo)]
        else:
            for ring in sh:
                pts += ring
    if not pts:
        return "<p>No positions in this run.</p>"
    pj = Projection(pts, MAP_W, MAP_H)
    out = [
        '<svg id="map" viewBox="0 0 %d %d" width="%d" height="%d" role="img">'
        % (MAP_W, MAP_H, MAP_W, MAP_H)
    ]
    # heatmap of time spent, from the tag's fixes (each weighs until the next, capped)
    fx = d["fixes"]
    if fx:
        cell = max(10.0, max(MAP_W, MAP_H) / pj.scale / HEAT_CELLS)
        heat = {}
        for i, (t, la, lo, _) in enumerate(fx):
            nxt = fx[i + 1][0] if i + 1 < len(fx) else d["end"]
            w = min(nxt - t, 600000) / 60000.0
            x, y = pj.xy(la, lo)
            k = (int(x / pj.metres(cell)), int(y / pj.metres(cell)))
            heat[k] = heat.get(k, 0.0) + w
        top = max(heat.values()) if heat else 1.0
        out.append('<g id="heat">')
        cpx = pj.metres(cell)
        for (i, j), v in sorted(heat.items()):
            a = 0.15 + 0.75 * math.log1p(v) / math.log1p(top)
            out.append(
                '<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#f08c00" '
                'fill-opacity="%.2f"><title>%.0f min here</title></rect>'
                % (i * cpx, j * cpx, cpx, cpx, a, v)
            )
        out.append("</g>")
    # zones
    out.append('<g id="zones">')
    for z, sh in shapes:
        col = "#d93025" if z.kind == "exclusion" else "#1a73e8"
        label = "%s (%s%s)" % (
            z.id,
            "curfew" if z.curfew else z.kind,
            ", approach %d m" % z.approach_m if z.approach_m else "",
        )
        if sh[0] == "circle":
            _, la, lo, r = sh
            x, y = pj.xy(la, lo)
            out.append(
                '<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s" fill-opacity="0.12" '
                'stroke="%s" stroke-width="2"><title>%s</title></circle>'
                % (x, y, pj.metres(r), col, col, _e(label))
            )
            if z.approach_m:
                out.append(
                    '<circle cx="%.1f" cy="%.1f" r="%.1f" fill="none" stroke="%s" '
                    'stroke-dasharray="6 4" stroke-width="1"/>'
                    % (x, y, pj.metres(r + z.approach_m), col)
                )
            tx, ty = x, y - pj.metres(r) - 4
        else:
            for ring in sh:
                p = " ".join("%.1f,%.1f" % pj.xy(la, lo) for la, lo in ring)
                out.append(
                    '<polygon points="%s" fill="%s" fill-opacity="0.12" stroke="%s" '
                    'stroke-width="2"><title>%s</title></polygon>' % (p, col, col, _e(label))
                )
            tx, ty = pj.xy(*sh[0][0])
        out.append(
            '<text x="%.1f" y="%.1f" font-size="12" fill="%s" text-anchor="middle">%s'
            "</text>" % (tx, ty, col, _e(z.id))
        )
    out.append("</g>")
    # the true track
    if d["truth"]:
        p = " ".join("%.1f,%.1f" % pj.xy(la, lo) for _, la, lo, _ in d["truth"])
        out.append(
            '<g id="truth"><polyline points="%s" fill="none" stroke="#6b7280" '
            'stroke-width="1.5" stroke-dasharray="2 3"/></g>' % p
        )
    # accuracy circles
    out.append('<g id="accuracy">')
    step = max(1, len(fx) // MAX_CIRCLES)
    for _, la, lo, acc in fx[::step]:
        if acc:
            x, y = pj.xy(la, lo)
            out.append(
                '<circle cx="%.1f" cy="%.1f" r="%.1f" fill="#1a73e8" fill-opacity="0.06" '
                'stroke="#1a73e8" stroke-opacity="0.25" stroke-width="0.5"/>'
                % (x, y, max(0.5, pj.metres(acc / 100.0)))
            )
    out.append("</g>")
    # the tag's track, with gaps dashed
    gp = gaps(fx, d["start"], d["end"])
    gap_ends = {(a, b) for a, b in gp}
    out.append('<g id="track">')
    seg = []
    for i, (t, la, lo, _) in enumerate(fx):
        if i and any(a == fx[i - 1][0] and b == t for a, b in gap_ends):
            if len(seg) > 1:
                out.append(
                    '<polyline points="%s" fill="none" stroke="#0b57d0" stroke-width="1.8"/>'
                    % " ".join(seg)
                )
            x0, y0 = pj.xy(fx[i - 1][1], fx[i - 1][2])
            x1, y1 = pj.xy(la, lo)
            out.append(
                '<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d93025" '
                'stroke-width="2" stroke-dasharray="5 4"><title>gap %s</title></line>'
                % (x0, y0, x1, y1, _dur((t - fx[i - 1][0]) / 1000))
            )
            seg = []
        seg.append("%.1f,%.1f" % pj.xy(la, lo))
    if len(seg) > 1:
        out.append(
            '<polyline points="%s" fill="none" stroke="#0b57d0" stroke-width="1.8"/>'
            % " ".join(seg)
        )
    out.append("</g>")
    out.append('<g id="fixes">')
    for t, la, lo, acc in fx[::step]:
        x, y = pj.xy(la, lo)
        out.append(
            '<circle cx="%.1f" cy="%.1f" r="2" fill="#0b57d0"><title>%s UTC, '
            "accuracy %s m</title></circle>"
            % (x, y, _hm(t), "?" if acc is None else "%.1f" % (acc / 100))
        )
    out.append("</g>")
    # alerts
    out.append('<g id="alerts">')
    for t, ev in d["tag_alerts"]:
        if ev.get("lat") is None:
            continue
        x, y = pj.xy(ev["lat"] / 1e7, ev["lon"] / 1e7)
        out.append(
            '<g><path d="M%.1f %.1f l7 -14 l-14 0 z" fill="#b3261e"/><title>%s %s at %s'
            "</title></g>" % (x, y, _e(ev["alert"]), _e(ev.get("zone") or ""), _hm(t))
        )
    out.append("</g>")
    # scale bar
    target = 1000.0 / pj.scale * 0.15
    mag = 10 ** math.floor(math.log10(max(target, 1e-9)))
    bar = max(m * mag for m in (1, 2, 5) if m * mag <= target * 1.5) if target > 0 else 1
    px = pj.metres(bar)
    out.append(
        '<g><line x1="20" y1="%d" x2="%.1f" y2="%d" stroke="#1d2330" stroke-width="3"/>'
        '<text x="20" y="%d" font-size="12">%s m</text></g>'
        % (MAP_H - 20, 20 + px, MAP_H - 20, MAP_H - 26, ("%g" % bar))
    )
    out.append("</svg>")
    layers = (
        ("heat", "time spent"),
        ("zones", "zones"),
        ("truth", "true track"),
        ("accuracy", "accuracy circles"),
        ("track", "tag track and gaps"),
        ("fixes", "fixes"),
        ("alerts", "alerts"),
    )
    boxes = "".join(
        '<label><input type="checkbox" data-layer="%s" checked> %s</label>' % lv for lv in layers
    )
    return '<div class="layers">%s</div>%s' % (boxes, "".join(out))


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


def _battery_chart(d):
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
    for a, c in _windows(
        d["sim"], {"charger_plugged"}, {"charger_unplugged"}, d["start"], d["end"]
    ):
        x, wd = ax.span(a, c)
        out.append(
            '<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#0a7a2f" '
            'fill-opacity="0.12"><title>charging %s</title></rect>'
            % (x, pad, wd, h - 2 * pad, _dur((c - a) / 1000))
        )
    pts = " ".join("%.1f,%.1f" % (ax.x(t), y(p)) for t, p, _ in b)
    out.append('<polyline points="%s" fill="none" stroke="#0b57d0" stroke-width="2"/>' % pts)
    for t, ev in d["tag_alerts"]:
        if ev["alert"].startswith(("battery", "charging")):
            x = ax.x(t)
            out.append(
                '<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#b3261e" '
                'stroke-dasharray="3 3"><title>%s %s</title></line>'
                % (x, pad, x, h - pad, _e(ev["alert"]), _hm(t))
            )
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


def _strip(d):
    w, pad, row = CHART_W, 16, 18
    n = len(STRIP) + 2
    h = n * row + 2 * pad + 8
    ax = Axis(d, 150, w - pad)
    out = ['<svg id="timeline" viewBox="0 0 %d %d" width="%d" height="%d">' % (w, h, w, h)]
    out += ax.ticks(pad, pad + n * row)

    def label(i, text, col):
        out.append(
            '<text x="8" y="%d" font-size="11" fill="%s">%s</text>'
            % (pad + i * row + 11, col, _e(text))
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
            spans = _windows(d["sim"], kinds[0], kinds[1], d["start"], d["end"])
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
            "<title>no fix for %s</title></rect>" % (x, pad + i * row, wd, _dur((b - a) / 1000))
        )
    i += 1
    label(i, "alerts", "#1d2330")
    for t, ev in d["tag_alerts"]:
        out.append(
            '<path d="M%.1f %d l5 10 l-10 0 z" fill="#b3261e"><title>%s %s</title></path>'
            % (ax.x(t), pad + i * row + 1, _e(ev["alert"]), _hm(t))
        )
    out.append("</svg>")
    return "".join(out)


def _table(head, rows):
    h = "".join("<th>%s</th>" % _e(x) for x in head)
    body = "".join("<tr>%s</tr>" % "".join("<td>%s</td>" % c for c in r) for r in rows)
    return "<table><tr>%s</tr>%s</table>" % (h, body)


def render(events, zones, title, result=None):
    d = _collect(events)
    zones = list(zones or [])
    parts = []
    r = result or {}
    if r:
        rows = [
            (k, v)
            for k, v in (line.split("  ", 1) for line in summary.summary_table(r).splitlines())
            if k
        ]
        parts.append(
            "<h2>Summary</h2>" + _table(("", ""), [(_e(k.strip()), _e(v.strip())) for k, v in rows])
        )
        if r.get("checks"):
            parts.append(
                "<h2>Expectations</h2>"
                + _table(
                    ("", "check"),
                    [
                        (
                            '<span class="%s">%s</span>'
                            % ("ok" if c["ok"] else "bad", "PASS" if c["ok"] else "FAIL"),
                            _e(c["text"]),
                        )
                        for c in r["checks"]
                    ],
                )
            )
    parts.append('<h2>Map <small>(<span id="fixcount">?</span> fixes drawn)</small></h2>')
    parts.append(_map(d, zones))
    parts.append(
        '<p class="legend"><span><i class="sw" style="background:#0b57d0"></i>tag '
        'fixes</span><span><i class="sw" style="background:#6b7280"></i>true track'
        '</span><span><i class="sw" style="background:#f08c00"></i>time spent</span>'
        '<span><i class="sw" style="background:#d93025"></i>exclusion zone, gap</span>'
        '<span><i class="sw" style="background:#1a73e8"></i>inclusion / curfew zone'
        "</span></p>"
    )
    parts.append("<h2>Timeline</h2>" + _strip(d))
    alerts = []
    stored = {}
    for t, ev in d["stored_alerts"]:
        stored.setdefault((ev["alert"], ev.get("zone"), ev.get("event_t")), t)
    for t, ev in d["tag_alerts"]:
        st = stored.get((ev["alert"], ev.get("zone"), ev.get("event_t")))
        alerts.append(
            (
                _hm(t),
                _e(ev["alert"]),
                _e(ev.get("zone") or ""),
                _hm(ev["event_t"] * 1000) if ev.get("event_t") is not None else "",
                _hm(st) if st else "not stored",
                _dur((st - t) / 1000) if st else "",
            )
        )
    parts.append(
        "<h2>Alerts</h2>"
        + (
            _table(("raised (UTC)", "alert", "zone", "began", "stored", "delivery"), alerts)
            if alerts
            else "<p>None.</p>"
        )
    )
    nights = curfew_nights(zones, d)
    if nights:
        parts.append(
            "<h2>Curfew compliance per night</h2>"
            + _table(
                (
                    "zone",
                    "night (local)",
                    "curfew (local)",
                    "UTC offset",
                    "minutes in breach (tag)",
                    "minutes truly outside",
                    "compliant",
                ),
                [
                    (
                        _e(n["zone"]),
                        n["night"],
                        n["window"],
                        "%+.0f h" % n["utc_offset_h"],
                        "%.0f" % n["breach_min"],
                        "%.0f" % n["outside_min"],
                        '<span class="%s">%s</span>'
                        % (("ok", "yes") if n["breach_min"] < 1 else ("bad", "no")),
                    )
                    for n in nights
                ],
            )
        )
    gp = gaps(d["fixes"], d["start"], d["end"])
    parts.append(
        "<h2>Gaps in data</h2>"
        + (
            _table(
                ("from (UTC)", "to", "length", "why (simulation)"),
                [(_hm(a), _hm(b), _dur((b - a) / 1000), _e(_gap_cause(a, b, d))) for a, b in gp],
            )
            if gp
            else "<p>None: a fix record at least every %s.</p>" % _dur(GAP_MIN_S)
        )
    )
    parts.append("<h2>Battery</h2>" + _battery_chart(d))
    hw = r.get("hardware") or {}
    if hw.get("breakdown_mah"):
        tot = sum(hw["breakdown_mah"].values()) or 1.0
        parts.append(
            "<h2>Energy by part</h2>"
            + _table(
                ("part", "mAh", "share"),
                [
                    (_e(k), "%.2f" % v, "%.1f%%" % (100 * v / tot))
                    for k, v in sorted(hw["breakdown_mah"].items(), key=lambda kv: -kv[1])
                ],
            )
        )
    span = "%s to %s UTC" % (_hm(d["start"]), _hm(d["end"]))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>%s</title><style>%s</style></head><body>"
        '<header><h1>%s</h1><p>%s</p></header><main><p id="errors"></p>%s</main>'
        "<script>%s</script></body></html>"
        % (_e(title), CSS, _e(title), _e(span), "".join(parts), SCRIPT)
    )


def write(world, result, out_dir):
    sc = world.sc
    title = "emtag sim: %s (seed %d)" % (sc.name, sc.seed)
    page = render(world.events.events, world.zones, title, result)
    path = os.path.join(out_dir, "report.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
