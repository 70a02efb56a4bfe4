"""Human output (host/human.py, cli/fit_show.py, the sim timeline): degrees, metres,
seconds, words and local + UTC times instead of raw units and Python reprs."""

import io
import json
import re

from emtag.cli import fit_show
from emtag.host import human
from emtag.simulator.events import EventLog

UK = "GMT0BST,M3.5.0/1,M10.5.0"
WINTER = 1772442330  # 2026-03-02 09:05:30 UTC
SUMMER = 1783000000  # 2026-07-02 13:46:40 UTC, BST


def test_units():
    assert human.degrees(534630993) == "53.463099" and human.degrees(-22963687) == "-2.296369"
    assert human.position(534630993, -22963687, 876) == "53.463099,-2.296369 \u00b18.8 m"
    assert human.metres(876) == "8.8 m" and human.metres(25000) == "250 m"
    assert human.metres(2_500_000) == "25.0 km"
    assert human.duration(45) == "45 s" and human.duration(270) == "4 min 30 s"
    assert human.duration(3600 * 2 + 300) == "2 h 05 min" and human.duration(-60) == "-1 min"
    assert human.duration(23949938.471) == "277 d 04 h" and human.seconds(800) == "0.8 s"
    assert human.counts({"invalid": 34, "jump": 2}) == "34 invalid, 2 jump"
    assert human.volts(4189) == "4.19 V" and human.yes_no(False) == "no"


def test_clock_shows_utc_and_the_rules_local_time():
    uk = human.Clock(UK)
    assert uk.stamp(WINTER) == "2026-03-02 09:05:30 UTC (09:05:30 GMT)"
    assert uk.stamp(SUMMER) == "2026-07-02 13:46:40 UTC (14:46:40 BST)"
    assert human.Clock("EST5EDT,M3.2.0,M11.1.0").stamp(1772420000) == (
        "2026-03-02 02:53:20 UTC (2026-03-01 21:53:20 EST)"  # the local date when it differs
    )
    assert uk.short(SUMMER) == "13:46:40 UTC 14:46:40 BST"


def test_event_fields_in_words():
    ev = {
        "alert": "exclusion_breach", "zone": "victim-home", "acc_cm": 509, "lat": 534631263,
        "lon": -22934825, "event_t": WINTER, "fixes_set_aside": {"invalid": 34},
        "forced": False, "strap_debounce_ms": 200, "battery_mv": 3900,
    }
    text = human.fields(ev, human.Clock(UK))
    assert text == (
        "exclusion_breach in victim-home, at 53.463126,-2.293483 \u00b15.1 m, "
        "began 09:05:30 UTC (09:05:30 GMT), fixes set aside 34 invalid, forced no, "
        "strap debounce 0.2 s, battery 3.90 V"
    )


def test_the_sim_timeline_is_in_words_and_times(tmp_path):
    out = io.StringIO()
    log = EventLog(str(tmp_path / "events.jsonl"), out, UK)
    log.add(SUMMER * 1000, "tag", "alert", alert="curfew_breach", zone="home", lat=534631263,
            lon=-22934825, acc_cm=1234, event_t=SUMMER - 5)
    log.add((SUMMER + 86400) * 1000, "tag", "shutdown", fixes_set_aside={"invalid": 3})
    log.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("-- 2026-07-02")
    assert re.match(r"13:46:40 UTC 14:46:40 BST  tag +ALERT +curfew_breach in home, "
                    r"at 53\.463126,-2\.293483 \u00b112\.3 m, began 13:46:35 UTC", lines[1])
    assert lines[2].startswith("-- 2026-07-03") and "fixes set aside 3 invalid" in lines[3]
    assert "{" not in out.getvalue() and "_cm" not in out.getvalue()
    # the file keeps the raw fields
    raw = [json.loads(line) for line in open(tmp_path / "events.jsonl")]
    assert raw[0]["lat"] == 534631263 and raw[0]["acc_cm"] == 1234
    assert raw[1]["fixes_set_aside"] == {"invalid": 3}


STATUS = {
    "armed": False,
    "counter": 4,
    "dev": True,
    "status": {
        "battery_mv": 4189, "pending": 1, "records": 2, "strap": True, "zones": 0,
        "gnss": {"acc_cm": 905, "age_ms": 19400, "cn0_max": 47, "fix": 3,
                 "fix_age_ms": 19400, "receiver_on": False, "sats": 19},
        "nmea": {"bad_checksum": 1, "garbage": 2, "good": 348, "overlong": 0, "unknown": 5},
    },
}


def test_fit_status_in_words():
    text = "\n".join(fit_show.status_reply_lines(STATUS))
    assert "last epoch 19 s ago: 3D fix, 19 satellites, strongest signal 47 dB-Hz" in text
    assert "receiver off between fixes (duty cycling)" in text
    assert "last fix 19 s ago, accuracy 9.1 m" in text
    assert re.search(r"strap +closed", text) and re.search(r"battery +4\.19 V", text)
    assert re.search(r"records +2 logged, 1 not yet uploaded", text)
    assert re.search(r"nmea +348 good sentences, 3 bad", text)
    assert re.search(r"armed +no: tamper detection off", text)
    assert re.search(r"dev mode +on: the REPL is reachable", text)
    for raw in ("True", "False", "None", "_ms", "_cm", "_mv", "{"):
        assert raw not in text, raw


def test_fit_config_selftest_time_and_logs_in_words():
    cfg = fit_show.config_lines({"fix_interval_s": 60, "strap_debounce_ms": 200,
                                 "gnss_always_on": 0, "battery_low_pct": 20, "tz": UK})
    assert re.match(r"battery_low_pct +20 +20 %$", cfg[0])
    assert re.match(r"fix_interval_s +60 +1 min$", cfg[1])
    assert re.match(r"strap_debounce_ms +200 +0\.2 s$", cfg[3])
    assert re.match(r"gnss_always_on +0 +no \(duty cycling\)$", cfg[2])
    assert re.search(r"tz +GMT0BST.* local time now \d{4}-", cfg[4])
    st = fit_show.selftest_lines({
        "ok": False, "gnss": {"ok": False, "fix": 0, "age_ms": None, "fix_age_ms": None},
        "strap": {"ok": False, "closed": False}, "battery": {"ok": True, "mv": 3700},
        "flash": {"ok": False, "error": "[Errno 28] ENOSPC"}, "signer": {"ok": True},
    })
    assert re.match(r"gnss +FAIL +no GNSS data yet", st[0])
    assert re.match(r"strap +FAIL +OPEN", st[1]) and re.match(r"battery +ok +3\.70 V", st[2])
    assert "ENOSPC" in st[3] and st[-1] == "selftest FAILED"
    assert fit_show.time_lines(WINTER * 1000, -23949938471)[1] == "it was 277 d 04 h behind"
    logs = fit_show.log_lines([
        json.dumps({"type": "armed", "utc": WINTER}),
        json.dumps({"type": "decommissioning", "pending": 0, "forced": False}),
    ])
    assert re.match(r"2026-03-02 09:05:30 UTC \(.*\)  armed", logs[0])
    assert logs[1].startswith("time unknown (no fix yet)") and "pending 0, forced no" in logs[1]


def test_zones_show_in_degrees_and_metres(tmp_path, capsys):
    from emtag.cli import main as cli

    src = tmp_path / "z.geojson"
    src.write_text(json.dumps({
        "type": "FeatureCollection", "settings": {"confirm_s": 10, "near_m": 150},
        "features": [
            {"type": "Feature", "properties": {"id": "park", "kind": "exclusion",
                                               "approach_m": 50},
             "geometry": {"type": "Polygon", "coordinates": [[[-2.30, 53.46], [-2.29, 53.46],
                                                              [-2.29, 53.47], [-2.30, 53.46]]]}},
            {"type": "Feature", "properties": {"id": "home", "kind": "exclusion",
                                               "radius_m": 80, "approach_m": 0},
             "geometry": {"type": "Point", "coordinates": [-2.2453, 53.4808]}},
        ]}))
    table = str(tmp_path / "z.cbor")
    assert cli.main(["zones", "compile", str(src), "-o", table]) == 0
    capsys.readouterr()
    assert cli.main(["zones", "show", table]) == 0
    out = capsys.readouterr().out
    assert "engine settings: confirm 10 s, near 150 m" in out
    assert "within 53.460000,-2.300000 to 53.470000,-2.290000; approach alert 50.0 m outside" in out
    assert "centre 53.480800,-2.245300, radius 80.0 m; no approach alert" in out
    assert "{" not in out
    assert cli.main(["zones", "show", table, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    home = d["zones"][1]
    assert (home["lat"], home["lon"], home["radius_dm"]) == (534808000, -22453000, 800)
    assert d["settings"]["confirm_s"] == 10 and d["zones"][0]["approach_dm"] == 500
