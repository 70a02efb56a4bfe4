"""The simulator's hardware models on their own: GNSS receiver, UART, battery, power meter,
sensors, timeline parsing, GPX routes."""

import math
import random

import pynmea2
import pytest

from emtag.firmware import nmea
from emtag.simulator import battery, power, receiver, route, routefile, sensors, timeline, uart

T0 = 1772442000000  # 2026-03-02 09:00 UTC
LAT, LON = 53.47, -2.25


def run_receiver(
    env="suburban", prof="ublox-m8", secs=1800, seed=1, start="cold", parse=True, **over
):
    """(receiver, [(the tag's fix, true error m, bytes)]) for a receiver on at one spot."""
    rx = receiver.Receiver(random.Random(seed), receiver.profile(prof, **over), env, start)
    fixes = []
    parser = nmea.NmeaParser(lambda f: fixes.append(f.copy()))
    out = []
    rx.power(True, T0)
    t = T0
    step = rx.period_ms
    for _ in range(secs * 1000 // step):
        t += step
        data = rx.epoch(t, LAT, LON, 1.0, 90.0)
        if parse:
            parser.feed(data)
            parser.flush()
        err = rx.true_error_m
        out.append((fixes[-1] if fixes else None, err, data))
    return rx, out


@pytest.mark.parametrize("prof", sorted(receiver.PROFILES))
def test_every_profile_speaks_nmea_that_the_tag_and_pynmea2_read(prof):
    rx, out = run_receiver(prof=prof, secs=120)
    for line in out[-1][2].decode().split("\r\n")[:-1]:
        pynmea2.parse(line, check=True)  # an independent parser accepts every sentence
    fix = out[-1][0]
    assert fix.fix == 3 and fix.sats >= 4 and fix.acc_cm
    assert fix.cn0_mask  # GSV: a C/N0 summary per constellation
    talkers = receiver.PROFILES[prof]["constellations"]
    assert bin(fix.cn0_mask).count("1") == len(talkers)


def test_nmea_versions_and_rates():
    for ver in receiver.NMEA_VERSIONS:
        cons = ["GP", "GL"] if ver == "2.3" else ["GP", "GA", "GB"]
        _, out = run_receiver(nmea=ver, constellations=cons, secs=60)
        assert out[-1][0].fix == 3, ver
    rx, out = run_receiver(rate_hz=10, secs=60, baud=115200)
    assert rx.epochs == 600 and out[-1][0].t_ms % 100 == 0
    with pytest.raises(receiver.ProfileError):
        receiver.profile(rate_hz=20)
    with pytest.raises(receiver.ProfileError):
        receiver.profile(nmea="2.3", constellations=["GP", "GA"])
    with pytest.raises(receiver.ProfileError):
        receiver.profile(sentences=["GSV"])


def test_time_to_first_fix_cold_warm_hot():
    ttff = {}
    for start in ("cold", "warm", "hot"):
        rx, _ = run_receiver(env="open_sky", secs=60, start=start)
        ttff[start] = rx.ttff_ms[0] / 1000
    assert 20 <= ttff["cold"] <= 33 and 19 <= ttff["warm"] <= 32 and ttff["hot"] <= 3


def test_hot_start_after_a_short_sleep_warm_after_ephemerides_expire():
    rx = receiver.Receiver(random.Random(3), receiver.profile(), "open_sky", "cold")
    t = T0
    rx.power(True, t)
    for _ in range(60):  # tracked 30 s and more: ephemerides decoded
        t += 1000
        rx.epoch(t, LAT, LON, 0, 0)
    rx.power(False, t)
    for gap_s, kind in ((60, "hot"), (3 * 3600, "warm")):
        t += gap_s * 1000
        rx.power(True, t)
        assert rx.start_kind == kind
        for _ in range(5):
            t += 1000
            rx.epoch(t, LAT, LON, 0, 0)
        rx.power(False, t)


@pytest.mark.parametrize("env", ["open_sky", "suburban", "indoor"])
def test_reported_accuracy_covers_the_true_error(env):
    _, out = run_receiver(env=env, secs=1500)
    pairs = [(f.acc_cm / 100, e) for f, e, _ in out if f is not None and e is not None and f.acc_cm]
    assert len(pairs) > 1400
    inside = sum(1 for acc, err in pairs if err <= acc) / len(pairs)
    assert inside >= 0.9, inside  # 2DRMS: ~95 % for Gaussian errors, less in excursions
    # and not absurdly pessimistic either: the median error is a fair share of the radius
    ratio = sorted(e / a for a, e in pairs)[len(pairs) // 2]
    assert 0.1 < ratio < 0.8, ratio


def test_urban_canyon_has_multipath_excursions_beyond_the_noise():
    _, out = run_receiver(env="urban_canyon", secs=3600, parse=False)
    errs = [e for _, e, _ in out if e is not None]
    sigma = receiver.ENVIRONMENTS["urban_canyon"][0]
    assert max(errs) > 4 * sigma  # tens of metres: reflections, not noise
    # correlated: consecutive errors move little compared with the error itself
    steps = [abs(a - b) for a, b in zip(errs, errs[1:], strict=False)]
    assert sum(steps) / len(steps) < 0.2 * sum(errs) / len(errs)


def test_indoors_the_sky_is_weaker_and_foil_or_a_jammer_collapses_it():
    def best_cn0(rx):
        return max((s.cn0 or 0) for s in rx.sats)

    rx, _ = run_receiver(env="open_sky", secs=30)
    open_best = best_cn0(rx)
    rx, out = run_receiver(env="indoor", secs=30)
    indoor_best = best_cn0(rx)
    assert open_best >= 44 and 25 <= indoor_best <= open_best - 8
    assert sum(1 for s in rx.sats if s.tracked) < 0.8 * len([s for s in rx.sats if s.el > 0])
    for attr in ("shield_db", "jam_db"):
        rx, _ = run_receiver(env="suburban", secs=30)
        setattr(rx, attr, 30.0)
        t = T0 + 31000
        for _ in range(20):
            t += 1000
            rx.epoch(t, LAT, LON, 0, 0)
        assert best_cn0(rx) < 20 and rx.true_error_m is None  # no fix


def test_uart_delivers_at_the_line_rate_and_drops_what_does_not_fit():
    u = uart.Uart(random.Random(1), baud=9600, tx_buffer=1000)
    data = b"$GPGGA,1*00\r\n" * 60  # 780 bytes
    out = u.send(0, data)
    assert out[-1][0] == pytest.approx(780 * 10000 / 9600, abs=1)
    assert b"".join(c for _, c in out) == data
    out = u.send(100, data)  # the line is still busy: only whole sentences that fit
    sent = b"".join(c for _, c in out)
    assert u.dropped_bytes > 0 and sent.endswith(b"\r\n") and len(sent) + u.dropped_bytes == 780


def test_uart_noise_is_seen_by_the_tags_checksums():
    u = uart.Uart(random.Random(2), baud=115200, loss=0.001, corrupt=0.001)
    rx = receiver.Receiver(random.Random(1), receiver.profile(), "suburban")
    parser = nmea.NmeaParser(lambda f: None)
    rx.power(True, T0)
    for i in range(600):
        for _, chunk in u.send(T0 + i * 1000, rx.epoch(T0 + i * 1000, LAT, LON, 0, 0)):
            parser.feed(chunk)
    assert u.lost_bytes > 100 and u.corrupted_bytes > 100
    assert parser.bad_checksum > 100 and parser.good > 5000


def test_battery_capacity_and_brownout():
    b = battery.Battery(1000, 1.0)
    hours = 0
    while not b.empty:
        b.step(3600, 50.0)
        hours += 1
    assert 18 <= hours <= 21  # 1000 mAh at 50 mA, less what is left at brown-out
    assert b.usable_mah(50) == pytest.approx(b.drawn_mah, rel=0.06)
    assert battery.ocv_mv(0.5) < battery.ocv_mv(0.9) < 4200


def test_charger_constant_current_then_constant_voltage():
    b = battery.Battery(1000, 0.05)
    t, taper = 0, None
    while not b.full and t < 6 * 3600:
        i = b.charge_current(500)
        if b.cv and taper is None:
            taper = (t, b.soc)
        b.step(60, 0, 500)
        t += 60
    assert b.full and b.soc > 0.97
    assert taper and 0.75 < taper[1] < 0.95  # CV from ~85 %
    assert 1.7 * 3600 < t < 3.5 * 3600
    assert i < 500


def test_power_meter_integrates_parts_and_bursts():
    b = battery.Battery(1000, 1.0)
    m = power.PowerMeter(power.profile(), b, 0)
    base = m.current_ma()
    assert base < 0.5  # everything asleep: well under a milliamp
    m.set("gnss", "gnss_tracking", 0)
    m.advance(3600 * 1000)
    assert m.by_part["gnss"] / 3600 == pytest.approx(29.0)
    m.spend("vibrate", 1000)
    m.modem_upload(1000, 3600 * 1000)
    m.advance(3600 * 1000 + 1)
    assert m.by_part["vibrate"] == pytest.approx(75.0)
    assert m.by_part["modem"] > 30  # setup + transfer + tail
    assert b.drawn_mah == pytest.approx(m.discharge_mas / 3600, rel=1e-6)


def test_accelerometer_interrupts_and_latch():
    r = route.Route([(0, 0), (0, 0.001)], 1.0, {0: 100, 1: 3600})
    acc = sensors.Accelerometer(r, random.Random(1), 0, 4000 * 1000, fidget_per_hour=0)
    assert acc.interrupts() == [100 * 1000]
    assert not acc.read(50 * 1000)
    assert acc.read(150 * 1000)  # walking from 100 s to ~211 s
    assert acc.read(250 * 1000)  # moved since the last read
    assert not acc.read(300 * 1000)  # the latch cleared, and still since
    walk_end = (100 + r.legs[1][1] - r.legs[1][0]) * 1000
    assert not acc.moved(walk_end + 1, walk_end + 60000)


def test_rtc_drift_and_its_inverse():
    rtc = sensors.Rtc(T0, drift_ppm=20, offset_ms=-1500)
    day = T0 + 86400000
    assert rtc.tag_ms(day) - day == pytest.approx(-1500 + 1728, abs=1)
    for t in (T0, T0 + 12345, day):
        assert rtc.tag_ms(rtc.true_ms(rtc.tag_ms(t))) == rtc.tag_ms(t)


def test_timeline_events_repeat_and_errors_are_clear():
    start = T0
    hw = timeline.Hardware(
        {
            "event": [
                {"at_s": 60, "type": "strap_cut"},
                {
                    "at": "2026-03-02T19:00:00Z",
                    "type": "charge",
                    "duration_s": 7200,
                    "repeat_s": 86400,
                    "count": 3,
                },
                {"at_s": 10, "type": "foil", "duration_s": 30, "attenuation_db": 35},
            ]
        },
        start,
        3 * 86400,
    )
    kinds = [e.kind for e in hw.events]
    assert kinds == ["foil", "strap_cut", "charge", "charge", "charge"]
    assert hw.events[0].params == {"attenuation_db": 35}
    bad = [
        ({"event": [{"at_s": 1, "type": "melt"}]}, "melt"),
        ({"event": [{"type": "strap_cut"}]}, "needs at"),
        ({"event": [{"at_s": 1, "type": "strap_cut", "duration_s": 5}]}, "no duration"),
        ({"event": [{"at_s": 1, "type": "environment", "environment": "moon"}]}, "environment"),
        ({"gnss": {"rate_hz": 50}}, "rate_hz"),
        ({"tag": {"config": {"battery_low_pct": 99}}}, "battery_low_pct"),
        ({"power": {"volts": 3.7, "watts": 1}}, "watts"),
    ]
    for data, words in bad:
        with pytest.raises(timeline.TimelineError, match=words):
            timeline.Hardware(data, start, 3600)


GPX = """<?xml version="1.0"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>
<trkpt lat="53.4700" lon="-2.2500"><time>2026-03-02T09:00:00Z</time></trkpt>
<trkpt lat="53.4709" lon="-2.2500"><time>2026-03-02T09:01:40Z</time></trkpt>
<trkpt lat="53.4709" lon="-2.2500"><time>2026-03-02T09:06:40Z</time></trkpt>
<trkpt lat="53.4709" lon="-2.2485"><time>2026-03-02T09:06:50Z</time></trkpt>
</trkseg></trk></gpx>"""


def test_gpx_routes_replay_their_own_timing(tmp_path):
    p = tmp_path / "walk.gpx"
    p.write_text(GPX)
    r = routefile.load(str(p))
    assert r.duration_s == pytest.approx(410, abs=2)
    _, _, v, _ = r.at(50)
    assert v == pytest.approx(1.0, rel=0.02)  # 100 m in 100 s
    assert r.at(200)[2] == 0.0  # the five-minute stop
    assert r.at(405)[2] == pytest.approx(10.0, rel=0.05)  # 100 m in 10 s: on a bike
    lat, lon, _, _ = r.at(1000)
    assert math.isclose(lon, -2.2485)


def test_route_environments_and_speeds_per_leg(tmp_path):
    p = tmp_path / "r.geojson"
    p.write_text(
        '{"type": "Feature", "properties": {"speed_mps": [1, 10], "dwell_s": [[1, 30]], '
        '"environments": [[0, "indoor"], [1, "urban_canyon"]]}, "geometry": {"type": '
        '"LineString", "coordinates": [[0, 0], [0, 0.0009], [0, 0.0018]]}}'
    )
    r = routefile.load(str(p))
    assert r.environments == [(0, "indoor"), (1, "urban_canyon")]
    assert r.vertex_t[1] == pytest.approx(100, rel=0.01)
    assert r.duration_s == pytest.approx(100 + 30 + 10, rel=0.01)
