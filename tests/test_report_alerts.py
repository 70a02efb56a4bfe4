"""The report's alerts (simulator/report_alerts.py): every kind of protocol/records.py its
own symbol, colour and severity; critical and warning alerts listed with position and
accuracy, routine ones counted; a kind the report does not know rendered, not dropped."""

import re

from emtag.protocol import records
from emtag.simulator import report, report_alerts
from emtag.simulator.events import iso

T0 = 1772442000000  # 2026-03-02 09:00:00 UTC


def alert(i, kind, zone=None, lat=534631263, lon=-22934825, acc_cm=870, t=None):
    t = T0 + (i + 1) * 60000 if t is None else t
    return {"t": iso(t), "source": "tag", "type": "alert", "alert": kind, "zone": zone,
            "lat": lat, "lon": lon, "acc_cm": acc_cm, "event_t": t // 1000 - 5}


def page(evs):
    evs = [{"t": iso(T0), "source": "sim", "type": "start"}] + evs
    evs.append({"t": iso(T0 + 3600000), "source": "sim", "type": "end"})
    return report.render(evs, [], "t", tz="GMT0BST,M3.5.0/1,M10.5.0")


def test_every_alert_kind_has_its_own_symbol_colour_and_a_severity():
    assert set(report_alerts.STYLES) == set(records.ALERTS)
    looks = {(shape, colour) for _, shape, colour in report_alerts.STYLES.values()}
    assert len(looks) == len(records.ALERTS)
    sev = {k: v[0] for k, v in report_alerts.STYLES.items()}
    for k in ("exclusion_breach", "inclusion_breach", "curfew_breach", "strap_tamper",
              "case_tamper"):
        assert sev[k] == "critical", k
    for k in ("charging_started", "charging_stopped", "exclusion_clear", "curfew_clear",
              "device_restart", "battery_low"):
        assert sev[k] == "routine", k
    assert sev["no_fix"] == sev["jamming_suspected"] == sev["zones_unusable"] == "warning"
    # the symbols differ in the page too, not only in the table above
    paths = {report_alerts.marker(k, 10, 10) for k in records.ALERTS}
    assert len({re.search(r' d="([^"]+)"', p).group(1) + re.search(r'fill="([^"]+)"', p)
                .group(1) + re.search(r'stroke="([^"]+)"', p).group(1) for p in paths}) == len(
        records.ALERTS)


def test_alerts_table_has_position_accuracy_and_routine_events_are_counted():
    evs = [alert(0, "charging_started"), alert(1, "exclusion_breach", "home"),
           alert(2, "charging_stopped"), alert(3, "charging_started"),
           alert(4, "exclusion_clear", "home"), alert(5, "no_fix", acc_cm=12345)]
    html = page(evs)
    table = html.split("<h2>Alerts</h2>", 1)[1].split("<h3>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table)[1:]
    assert len(rows) == 2  # the breach and no_fix; charging and the clear are not rows
    assert "exclusion_breach" in rows[0] and "critical" in rows[0]
    assert "53.463126, -2.293483" in rows[0] and "8.7 m" in rows[0]
    assert "09:04:55 UTC" in rows[0]  # cleared: when its clear began (alert 4, 5 s before)
    assert "no_fix" in rows[1] and "warning" in rows[1] and "123 m" in rows[1]
    routine = html.split("Routine events (counted, not listed)", 1)[1].split("</table>", 1)[0]
    counts = dict(re.findall(r"</svg> (\w+)</td><td>(\d+)</td>", routine))
    assert counts == {"charging_started": "2", "charging_stopped": "1", "exclusion_clear": "1"}
    # on the map, routine events sit in a layer of their own that starts hidden
    routine_layer, alerts_layer = html.split('<g id="routine" style="display:none">', 1)[1].split(
        '<g id="alerts">', 1)
    alerts_layer = alerts_layer.split("</svg>", 1)[0]
    assert routine_layer.count('data-kind="charging_started"') == 2
    assert 'data-kind="exclusion_clear"' in routine_layer
    assert 'data-kind="exclusion_breach"' in alerts_layer and 'data-kind="no_fix"' in alerts_layer
    assert "charging" not in alerts_layer and "_clear" not in alerts_layer


def test_a_kind_the_report_does_not_know_gets_the_generic_symbol():
    html = page([alert(0, "tamper_magnet_suspected")])
    assert "tamper_magnet_suspected" in html and "unknown" in html
    severity, shape, _ = report_alerts.style("tamper_magnet_suspected")
    assert (severity, shape) == ("unknown", "query")
    row = html.split("<h2>Alerts</h2>", 1)[1].split("</table>", 1)[0]
    assert "tamper_magnet_suspected" in row and "53.463126" in row


def test_report_modules_stay_small():
    import os

    import emtag.simulator as sim

    folder = os.path.dirname(sim.__file__)
    for name in os.listdir(folder):
        if name.startswith("report"):
            with open(os.path.join(folder, name)) as f:
                assert len(f.read().splitlines()) <= 400, name
