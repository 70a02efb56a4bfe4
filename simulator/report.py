"""report.html: one self-contained page about a run, readable offline in any browser.

    path = write(world, result, out_dir)                # after a run (simulate.py)
    html = render(events, zones, title, result, tz)     # from events.jsonl and the zone file

What it shows: the summary and checks; a map (local metres) with the tag's fixes and
their accuracy circles, the true track (the simulator knows it), the zones (exclusion red,
inclusion and curfew blue, approach rings dashed), alerts, gaps in the data (dashed red)
and a heatmap of the time spent; a timeline strip of what happened to the hardware (GNSS
environment, foil, jamming, charging, link outages, tamper); the alerts, each kind with its
own symbol, colour and severity, critical and warning ones listed with position and
accuracy, routine ones counted; curfew compliance per night (minutes in breach by the
tag's alerts, and minutes truly outside); the battery curve with charging and battery
alerts. Everything is inline SVG, CSS and a few lines of script (layer switches); nothing
is fetched. The page records script errors in #errors and sets data-ready on <body> when
its script has run (the test checks both in headless Chromium).

The parts: report_data.py (what happened, from the events), report_map.py,
report_charts.py (battery, timeline strip), report_alerts.py (symbols, severities, the
alerts table); this module puts the page together.
"""

import os

from emtag.firmware import tz as fw_tz
from emtag.host import human
from emtag.simulator import report_alerts, report_charts, report_map, summary
from emtag.simulator.report_data import (
    GAP_MIN_S,
    collect,
    curfew_nights,
    dur_text,
    esc,
    gap_cause,
    gaps,
    table,
    utc_text,
)

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
h3{font-size:14px;margin:14px 0 6px}
svg.icon{display:inline-block;border:0;background:none;vertical-align:-3px}
.legend svg.icon{margin-right:3px}
.sev-critical{color:#b3261e;font-weight:700}.sev-warning{color:#b06000;font-weight:600}
.sev-unknown{color:#3c4043;font-style:italic}
.alerts{overflow-x:auto}.alerts table{font-size:12px}.alerts td{white-space:nowrap}
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



def _summary(r):
    rows = [
        (k, v)
        for k, v in (line.split("  ", 1) for line in summary.summary_table(r).splitlines())
        if k
    ]
    out = "<h2>Summary</h2>" + table(("", ""), [(esc(k.strip()), esc(v.strip())) for k, v in rows])
    if r.get("checks"):
        out += "<h2>Expectations</h2>" + table(
            ("", "check"),
            [
                (
                    '<span class="%s">%s</span>'
                    % ("ok" if c["ok"] else "bad", "PASS" if c["ok"] else "FAIL"),
                    esc(c["text"]),
                )
                for c in r["checks"]
            ],
        )
    return out


MAP_LEGEND = (
    '<p class="legend"><span><i class="sw" style="background:#0b57d0"></i>tag '
    'fixes</span><span><i class="sw" style="background:#6b7280"></i>true track'
    '</span><span><i class="sw" style="background:#f08c00"></i>time spent</span>'
    '<span><i class="sw" style="background:#d93025"></i>exclusion zone, gap</span>'
    '<span><i class="sw" style="background:#1a73e8"></i>inclusion / curfew zone'
    "</span></p>"
)


def _curfews(zones, d):
    nights = curfew_nights(zones, d)
    if not nights:
        return ""
    head = ("zone", "night (local)", "curfew (local)", "UTC offset", "minutes in breach (tag)",
            "minutes truly outside", "compliant")
    return "<h2>Curfew compliance per night</h2>" + table(
        head,
        [
            (
                esc(n["zone"]),
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


def _gaps(d):
    gp = gaps(d["fixes"], d["start"], d["end"])
    if not gp:
        return "<h2>Gaps in data</h2><p>None: a fix record at least every %s.</p>" % dur_text(
            GAP_MIN_S)
    return "<h2>Gaps in data</h2>" + table(
        ("from (UTC)", "to", "length", "why (simulation)"),
        [(utc_text(a), utc_text(b), dur_text((b - a) / 1000), esc(gap_cause(a, b, d)))
         for a, b in gp],
    )


def _energy(hw):
    if not hw.get("breakdown_mah"):
        return ""
    tot = sum(hw["breakdown_mah"].values()) or 1.0
    return "<h2>Energy by part</h2>" + table(
        ("part", "mAh", "share"),
        [
            (esc(k), "%.2f" % v, "%.1f%%" % (100 * v / tot))
            for k, v in sorted(hw["breakdown_mah"].items(), key=lambda kv: -kv[1])
        ],
    )


def render(events, zones, title, result=None, tz=None):
    """The page; tz: the tag's POSIX TZ rule, for local times (default: UK time)."""
    d = collect(events)
    zones = list(zones or [])
    r = result or {}
    clock = human.Clock(tz or fw_tz.DEFAULT_RULE)
    parts = [_summary(r) if r else ""]
    parts.append('<h2>Map <small>(<span id="fixcount">?</span> fixes drawn)</small></h2>')
    parts.append(report_map.map_svg(d, zones) + MAP_LEGEND)
    parts.append("<h2>Timeline</h2>" + report_charts.strip(d))
    parts.append(report_alerts.section(d, clock))
    parts.append(_curfews(zones, d))
    parts.append(_gaps(d))
    parts.append("<h2>Battery</h2>" + report_charts.battery_chart(d))
    parts.append(_energy(r.get("hardware") or {}))
    span = "%s to %s UTC" % (utc_text(d["start"]), utc_text(d["end"]))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>%s</title><style>%s</style></head><body>"
        '<header><h1>%s</h1><p>%s</p></header><main><p id="errors"></p>%s</main>'
        "<script>%s</script></body></html>"
        % (esc(title), CSS, esc(title), esc(span), "".join(parts), SCRIPT)
    )


def write(world, result, out_dir):
    sc = world.sc
    title = "emtag sim: %s (seed %d)" % (sc.name, sc.seed)
    page = render(world.events.events, world.zones, title, result, sc.hardware.config.get("tz"))
    path = os.path.join(out_dir, "report.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
