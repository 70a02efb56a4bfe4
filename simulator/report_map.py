"""The report's map (inline SVG, local metres): time-spent heatmap, zones with their
approach rings, the true track, accuracy circles, the tag's track with gaps dashed, its
fixes, and the alerts each with its own symbol (routine ones in a layer of their own,
off at first). Layers switch with the check boxes above it."""

import math

from emtag.simulator import report_alerts as ra
from emtag.simulator.report_data import dur_text, esc, gaps, utc_text, zone_shapes

MAP_W, MAP_H = 960, 600
MAX_CIRCLES = 4000
HEAT_CELLS = 64


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


def map_svg(d, zones):
    pts = [(la, lo) for _, la, lo, _ in d["fixes"]] + [(la, lo) for _, la, lo, _ in d["truth"]]
    pts += [(ev["lat"] / 1e7, ev["lon"] / 1e7) for _, ev in d["tag_alerts"]
            if ev.get("lat") is not None and ev.get("lon") is not None]
    shapes = []
    for z in zones:
        sh = zone_shapes(z)
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
                % (x, y, pj.metres(r), col, col, esc(label))
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
                    'stroke-width="2"><title>%s</title></polygon>' % (p, col, col, esc(label))
                )
            tx, ty = pj.xy(*sh[0][0])
        out.append(
            '<text x="%.1f" y="%.1f" font-size="12" fill="%s" text-anchor="middle">%s'
            "</text>" % (tx, ty, col, esc(z.id))
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
                % (x0, y0, x1, y1, dur_text((t - fx[i - 1][0]) / 1000))
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
            % (x, y, utc_text(t), "?" if acc is None else "%.1f" % (acc / 100))
        )
    out.append("</g>")
    # alerts: critical and warning ones (and kinds unknown here) in one layer, routine ones
    # (charging, clears, restarts) in another, off at first
    layer = {"routine": [], "alerts": []}
    for t, ev in d["tag_alerts"]:
        if ev.get("lat") is None:
            continue
        x, y = pj.xy(ev["lat"] / 1e7, ev["lon"] / 1e7)
        title = "%s%s at %s UTC, accuracy %s m" % (
            ev["alert"],
            " in " + ev["zone"] if ev.get("zone") else "",
            utc_text(t),
            "?" if ev.get("acc_cm") is None else "%.1f" % (ev["acc_cm"] / 100),
        )
        severity = ra.style(ev["alert"])[0]
        layer["routine" if severity == ra.ROUTINE else "alerts"].append(
            (ra.ORDER.index(severity), ra.marker(ev["alert"], x, y, 8, title))
        )
    out.append('<g id="routine" style="display:none">')
    out += [m for _, m in sorted(layer["routine"], key=lambda v: -v[0])]
    out.append('</g><g id="alerts">')
    out += [m for _, m in sorted(layer["alerts"], key=lambda v: -v[0])]  # critical on top
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
        ("routine", "routine events"),
    )
    boxes = "".join(
        '<label><input type="checkbox" data-layer="%s"%s> %s</label>'
        % (layer_id, "" if layer_id == "routine" else " checked", text)
        for layer_id, text in layers
    )
    return '<div class="layers">%s</div>%s' % (boxes, "".join(out))
