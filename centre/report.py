"""The weekly overview for a probation officer (emtag report weekly): one ISO week of one
tag, as one self-contained HTML page (report_page.py, report_assets.py) and optionally a PDF
of the same page printed by headless Chromium (Playwright driving the system's browser)."""

import datetime
import json

from emtag.centre import analytics, gaps, localtime, summary
from emtag.centre import report_assets as A
from emtag.centre import report_page as P


def week_bounds(week, tz):
    """(t_from, t_to, label) of an ISO week (YYYY-Www) in local time; ValueError."""
    monday, label = localtime.iso_week(week)
    t0 = localtime.day_start(monday, tz)
    t1 = localtime.day_start(monday + datetime.timedelta(days=7), tz)
    return t0, t1, label


def build(store, device, week, zones=(), tiles=P.OSM_TILES, store_name="", now=None):
    """(html text, Overview, doc). With no record in the week the page says so."""
    zones = list(zones)
    tz = next((z.tz for z in zones if z.curfew), localtime.DEFAULT_TZ)
    t0, t1, label = week_bounds(week, tz)
    ov = analytics.overview(store, device, t0, t1, zones, tz)
    doc = summary.to_json(ov, with_fixes=True)
    now = now or datetime.datetime.now(datetime.UTC)
    empty = not ov.fixes and not ov.alerts
    reason = None
    if empty:
        before = store.fix_before(device, t0)
        g = gaps.explain(store, device, before.t if before else 0, None, at=t1)
        reason = "%s: %s" % (g.reason, g.detail)
    return page(ov, doc, label, zones, tiles, store_name, now, reason), ov, doc


def page(ov, doc, label, zones, tiles, store_name, now, empty_reason):
    tz = ov.tz
    title = "Weekly overview %s, tag %s" % (label, ov.device)
    nights = doc["curfew"]
    breached = [n for n in nights if not n["compliant"]]
    gap_min = sum(g["minutes"] for g in doc["gaps"])
    head = [
        "<h1>%s</h1>" % P.esc(title),
        '<p class="meta">%s to %s local time (%s); %d fixes; store %s; made %s UTC by emtag.</p>'
        % (P.esc(P._local(ov.t_from, tz)), P.esc(P._local(ov.t_to, tz)), P.esc(tz),
           len(ov.fixes), P.esc(store_name), now.strftime("%Y-%m-%d %H:%M")),
    ]  # fmt: skip
    if empty_reason:
        body = head + [
            '<section id="nodata"><h2>No data for this week</h2><p>The store holds no '
            "position and no alert of this tag between these times. %s</p></section>"
            % P.esc(empty_reason)
        ]
        return _wrap(title, body, {"empty": True}, with_maps=False)
    figures = [
        ("curfew nights breached",
         "%d of %d" % (len(breached), len(nights)) if nights else "no curfew"),
        ("alerts", str(len(doc["alerts"]))),
        ("frequent places", ", ".join(p["label"] for p in doc["places"][:4]) or "none"),
        ("stay points", str(len(doc["stays"]))),
        ("data gaps", "%d (%.0f min)" % (len(doc["gaps"]), gap_min)),
    ]  # fmt: skip
    body = head + [
        '<div id="figures">'
        + "".join(
            '<div class="fig"><b>%s</b><span>%s</span></div>' % (P.esc(v), P.esc(k))
            for k, v in figures
        )
        + "</div>",
        '<h2>Trail</h2><p class="note" id="basemap-note">%s</p><div id="map" class="map"></div>'
        % P.esc(
            "Basemap: %s (%s)."
            % (
                tiles,
                "OpenStreetMap's public tile server"
                if tiles == P.OSM_TILES
                else "set with --tiles",
            )
            if tiles
            else "No street basemap (--tiles none): blank map."
        ),  # fmt: skip
        '<p class="legend">Line: the trail; circles: each fix\'s accuracy radius; dots: frequent '
        "places; symbols: alerts (see the table); shaded: zones.</p>",
        "<h2>Heatmap</h2><p>Time spent per hexagonal cell (H3 resolution %d, about 0.1 km&sup2;)."
        ' <label>Show <select id="heatday"><option value="">the whole week</option>%s'
        '</select></label></p><div id="heat" class="map"></div>'
        % (
            doc["heatmap"]["resolution"],
            "".join(
                '<option value="%s">%s</option>'
                % (d, datetime.date.fromisoformat(d).strftime("%a %d %b"))
                for d in sorted(doc["heatmap"]["days"])
            ),
        ),  # fmt: skip
        "<h2>Frequent places</h2>" + _places(doc),
        "<h2>Day by day</h2>" + P._timeline_svg(ov, doc),
        "<h2>Curfew compliance per night</h2>" + _curfew(doc, tz, ov),
        "<h2>Time away from home per night</h2>" + _away(doc),
        "<h2>Alerts</h2>" + _alerts(doc, tz),
        "<h2>Exclusion zones: closest approach per day</h2>" + _approaches(doc),
        "<h2>Data gaps</h2>" + _gaps(doc, tz),
        '<h2>How to read this page</h2><p class="small">%s</p>' % A.METHOD_NOTE,
    ]
    data = {
        "trail": doc["trail"],
        "places": doc["places"],
        "alerts": [
            dict(a, symbol=P.ALERT_SYMBOLS.get(a["alert"], ("\u25cf", "#5f6368")))
            for a in doc["alerts"]
            if a["lat"] is not None
        ],  # fmt: skip
        "heat": doc["heatmap"],
        "zones": P._zones_json(zones),
        "tiles": tiles or "",
        "attribution": P.OSM_ATTRIBUTION if tiles == P.OSM_TILES else "",
    }
    return _wrap(title, body, data, with_maps=True)


def _wrap(title, body, data, with_maps):
    blob = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    scripts = ""
    if with_maps:
        scripts = "<script>%s</script><script>%s</script>" % (P._vendor("leaflet.js"), A.SCRIPT)
    else:
        scripts = "<script>%s</script>" % A.SCRIPT_NOMAP
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title>"
        "<style>%s</style><style>%s</style></head><body>%s"
        '<p id="errors"></p><script id="data" type="application/json">%s</script>%s'
        '<footer class="small">Leaflet 1.9.4 (BSD-2-Clause, &copy; Vladimir Agafonkin and '
        "CloudMade) is inlined in this page; its licence: <pre>%s</pre></footer></body></html>"
        % (P.esc(title), P._vendor("leaflet.css") if with_maps else "", A.CSS, "\n".join(body),
           blob, scripts, P.esc(P._vendor("LICENSE")))
    )  # fmt: skip


def _places(doc):
    rows = [
        [str(p["id"]), "<b>%s</b>" % P.esc(p["label"]), P.esc(p["role"] or "-"), str(p["visits"]),
         str(p["days"]), "%.1f" % p["hours"], "%.5f, %.5f" % (p["lat"], p["lon"])]
        for p in doc["places"]
    ]  # fmt: skip
    head = ["#", "place", "how it is known", "visits", "days", "hours", "position"]
    return P._table(head, rows, "places")


def _curfew(doc, tz, ov):
    rows = []
    for n, night in zip(doc["curfew"], ov.nights, strict=True):
        verdict = {"kept": '<b class="ok">kept</b>', "breach": '<b class="bad">BREACH</b>'}.get(
            n["verdict"], "no data"
        )
        rows.append([
            P.esc(datetime.date.fromisoformat(n["night"]).strftime("%a %d %b")), P.esc(n["zone"]),
            "%s-%s" % (P._hm(night.t_start, tz), P._hm(night.t_end, tz)),
            "%.1f" % n["breach_minutes_alerts"], "%.1f" % n["outside_minutes_fixes"],
            "%.1f" % n["unsure_minutes"], "%.1f" % n["unknown_minutes"], verdict,
        ])  # fmt: skip
    head = ["night", "zone", "window", "min in breach (tag's alerts)", "min surely out (fixes)",
            "min unsure", "min without fixes", "verdict"]  # fmt: skip
    return P._table(head, rows, "curfew")


def _away(doc):
    rows = [[P.esc(a["night"]), "%.1f" % a["away_minutes"], "%.1f" % a["unsure_minutes"],
             "%.1f" % a["unknown_minutes"]] for a in doc["away_from_home"]]  # fmt: skip
    return P._table(["night", "min surely away", "min unsure", "min without fixes"], rows)


def _alerts(doc, tz):
    rows = []
    for a in doc["alerts"]:
        t = datetime.datetime.fromisoformat(a["t"].replace("Z", "+00:00")).timestamp()
        pos = "-" if a["lat"] is None else "%.5f, %.5f" % (a["lat"], a["lon"])
        acc = "-" if a["acc_m"] is None else "%.0f m" % a["acc_m"]
        rows.append([P._symbol(a["alert"]), P.esc(P._local(t, tz)), P.esc(a["alert"]),
                     P.esc(a["zone"] or "-"), pos, acc, str(a["seq"])])  # fmt: skip
    return P._table(["", "time", "alert", "zone", "position", "accuracy", "seq"], rows, "alerts")


def _approaches(doc):
    rows = [[P.esc(a["day"]), P.esc(a["zone"]), "%.0f m" % a["closest_m"],
             "seq %d at %s" % (a["fix"]["seq"], a["fix"]["t"])]
            for a in doc["zone_approaches"]]  # fmt: skip
    return P._table(["day", "zone", "closest (outside the boundary)", "fix"], rows)


def _gaps(doc, tz):
    rows = []
    for g in doc["gaps"]:
        a = datetime.datetime.fromisoformat(g["from"].replace("Z", "+00:00")).timestamp()
        b = datetime.datetime.fromisoformat(g["to"].replace("Z", "+00:00")).timestamp()
        rows.append([P.esc(P._local(a, tz)), P.esc(P._local(b, tz)), "%.0f" % g["minutes"],
                     P.esc(g["reason"]), P.esc(g["detail"])])  # fmt: skip
    return P._table(["from", "to", "minutes", "reason", "what the records say"], rows, "gaps")
