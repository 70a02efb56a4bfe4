"""firmware/health.py: tamper, battery, charging and GNSS-signal alerts."""

from emtag.firmware import health


def kinds(h):
    return [k for k, _ in h.take()]


def test_switch_settles_only_after_its_debounce():
    sw = health.Switch(200, True)
    assert sw.update(False, 1000) is None  # opened: a candidate
    assert sw.due() == 1200
    assert sw.update(True, 1100) is None  # bounced back: nothing
    assert sw.due() is None
    assert sw.update(False, 1300) is None
    assert sw.update(False, 1500) is False  # open 200 ms: settled
    assert sw.state is False and sw.due() is None
    assert sw.update(None, 1600) is None  # no reading changes nothing


def test_strap_cut_raises_strap_tamper_with_the_time_it_opened():
    h = health.Health()
    h.switches(1000, True, True, False)
    h.switches(5000, False, True, False)  # the interrupt: strap open
    assert kinds(h) == []
    assert h.deadline == 5200
    h.switches(5200, False, True, False)
    h2 = h.alerts[:]
    assert h2 == [("strap_tamper", 5000)]
    h.take()
    h.switches(9000, False, True, False)  # still open: once per opening
    assert kinds(h) == []
    h.switches(10000, True, True, False)
    h.switches(10200, True, True, False)  # closed again, settled
    h.switches(20000, False, True, False)
    h.switches(20300, False, True, False)
    assert kinds(h) == ["strap_tamper"]


def test_tamper_is_silent_until_armed_and_debounce_comes_from_settings():
    h = health.Health({"strap_debounce_ms": 1000})
    h.switches(0, False, False, None, armed=False)
    h.switches(2000, False, False, None, armed=False)
    assert kinds(h) == []
    h = health.Health({"strap_debounce_ms": 1000})
    h.switches(0, False, True, None)
    h.switches(500, False, True, None)
    assert kinds(h) == []
    h.switches(1000, False, True, None)
    assert kinds(h) == ["strap_tamper"]


def test_case_opened():
    h = health.Health()
    h.switches(0, True, False, None)
    h.switches(health.CASE_MS, True, False, None)
    assert h.alerts == [("case_tamper", 0)]


def test_charging_started_and_stopped_but_not_at_boot():
    h = health.Health()
    h.switches(0, True, True, True)  # plugged in at boot: the baseline, no alert
    h.switches(5000, True, True, True)
    assert kinds(h) == []
    h.switches(6000, True, True, False)
    h.switches(6000 + health.CHARGER_MS, True, True, False)
    assert h.alerts == [("charging_stopped", 6000)]
    h.take()
    h.switches(9000, True, True, True)
    h.switches(9000 + health.CHARGER_MS, True, True, True)
    assert kinds(h) == ["charging_started"]


def test_battery_low_then_critical_once_each_until_charged():
    h = health.Health({"battery_low_pct": 20, "battery_critical_pct": 5})
    for pct in (40, 30, 21):
        h.battery(0, pct, False)
    assert kinds(h) == []
    h.battery(1, 20, False)
    h.battery(2, 19, False)
    assert kinds(h) == ["battery_low"]
    h.battery(3, 5, False)
    h.battery(4, 4, False)
    assert kinds(h) == ["battery_critical"]
    h.battery(5, 4, True)  # charging re-arms both
    h.battery(6, 22, False)  # unplugged early
    h.battery(7, 20, False)
    assert kinds(h) == ["battery_low"]


def test_a_jump_straight_to_critical_raises_only_critical():
    h = health.Health()
    h.battery(0, 50, False)
    h.battery(1, 3, False)
    assert kinds(h) == ["battery_critical"]
    h.battery(2, 2, False)
    assert kinds(h) == []
    h.battery(3, None, False)  # no fuel gauge reading
    assert kinds(h) == []


def rssi_of(v):
    return lambda: v


def test_no_fix_after_the_configured_time_with_the_receiver_on():
    h = health.Health({"no_fix_alert_s": 900})
    h.gnss_power(0, True)
    h.epoch(1000, True, 45, rssi_of(-80))
    t = 1000
    while t < 900000:
        t += 1000
        h.epoch(t, False, 44, rssi_of(-80))
    assert kinds(h) == []
    h.epoch(t + 1000, False, 44, rssi_of(-80))
    assert kinds(h) == ["no_fix"]
    h.epoch(t + 2000, False, 44, rssi_of(-80))
    assert kinds(h) == []  # once, until a fix
    h.epoch(t + 3000, True, 44, rssi_of(-80))
    assert h.no_fix_armed


def test_weak_fixes_under_foil_do_not_end_a_no_fix_episode():
    h = health.Health({"no_fix_alert_s": 900, "shielding_cn0_dbhz": 20})
    h.gnss_power(0, True)
    h.epoch(1000, True, 45, rssi_of(-80))  # a good fix
    t = 1000
    while t < 901000:
        t += 1000
        # foil: now and then a poor fix from satellites at 18 dB-Hz, mostly none
        h.epoch(t, t % 120000 == 0, 18 if t % 120000 == 0 else 0, rssi_of(-112))
    assert "no_fix" in kinds(h)
    h.epoch(t + 1000, True, 44, rssi_of(-80))  # the foil is off: a trusted fix re-arms it
    assert h.no_fix_armed


def test_a_collapse_is_measured_from_the_first_epoch_with_satellites_tracked():
    # a hot start under foil: a weak fix at once, then the receiver is held on (duty.py)
    h = health.Health()
    h.gnss_power(0, True)
    h.epoch(1000, True, 17, rssi_of(None))
    assert h.signal_pending() and h.collapse == 1000
    for s in range(2, 33):
        h.epoch(s * 1000, s % 2 == 0, 17, rssi_of(None))
    alerts = h.take()
    assert [k for k, _ in alerts] == ["shielding_suspected"] and alerts[0][1] == 1000
    # nothing tracked in the first seconds is still acquiring, not a collapse
    h = health.Health()
    h.gnss_power(0, True)
    for s in range(1, 9):
        h.epoch(s * 1000, False, 0, rssi_of(None))
    assert not h.signal_pending()


def test_the_cellular_baseline_follows_the_wearer_indoors():
    h = health.Health()
    h.gnss_power(0, True)
    for s in range(20):
        h.epoch(s * 1000, True, 46, rssi_of(-75))  # outdoors, open sky
    t = 20000 + health.RSSI_REFRESH_MS
    for s in range(20):
        h.epoch(t + s * 1000, True, 33, rssi_of(-97))  # indoors: a good sky, weak cellular
    assert h.rssi_base == -97
    collapse(h, t + 60000, rssi_of(-96))  # a jammer indoors: cellular as it was there
    assert kinds(h) == ["jamming_suspected"]


def collapse(h, t0, rssi, cn0=8, secs=60):
    h.gnss_power(t0, True)
    for s in range(secs):
        h.epoch(t0 + s * 1000, False, cn0, rssi)


def test_c_n0_collapse_with_the_cellular_signal_gone_is_shielding():
    h = health.Health()
    h.gnss_power(0, True)
    for s in range(20):
        h.epoch(s * 1000, True, 46, rssi_of(-85))  # a good sky sets the cellular baseline
    assert h.rssi_base == -85
    h.gnss_power(30000, False)
    collapse(h, 60000, rssi_of(-113))
    alerts = h.take()
    assert [k for k, _ in alerts] == ["shielding_suspected"]
    assert alerts[0][1] == 60000  # when the collapse was first measured (8 dB-Hz tracked)


def test_c_n0_collapse_with_the_cellular_signal_as_before_is_jamming():
    h = health.Health()
    h.gnss_power(0, True)
    for s in range(20):
        h.epoch(s * 1000, True, 46, rssi_of(-85))
    collapse(h, 60000, rssi_of(-87))
    assert kinds(h) == ["jamming_suspected"]


def test_no_cellular_service_or_no_baseline():
    h = health.Health()
    collapse(h, 0, rssi_of(None))
    assert kinds(h) == ["shielding_suspected"]
    h = health.Health()
    collapse(h, 0, rssi_of(-80))  # no baseline, a good signal: not shielded
    assert kinds(h) == ["jamming_suspected"]


def test_signal_alerts_need_the_collapse_to_last_and_rearm_after_a_good_sky():
    h = health.Health()
    h.gnss_power(0, True)
    for s in range(10, 10 + health.COLLAPSE_MS // 1000):
        h.epoch(s * 1000, False, 10, rssi_of(None))
    assert kinds(h) == []  # 29 s of collapse: not yet
    assert h.signal_pending()
    h.epoch(40000, False, 10, rssi_of(None))
    assert kinds(h) == ["shielding_suspected"]
    assert not h.signal_pending()
    h.epoch(41000, False, 10, rssi_of(None))
    assert kinds(h) == []
    h.epoch(42000, True, 40, rssi_of(-80))  # the sky is back
    for s in range(43, 80):
        h.epoch(s * 1000, False, 10, rssi_of(None))
    assert kinds(h) == ["shielding_suspected"]


def test_indoor_signals_and_settling_raise_nothing():
    h = health.Health()
    h.gnss_power(0, True)
    for s in range(120):
        h.epoch(s * 1000, False, 27, rssi_of(-97))  # indoors: weak but not collapsed
    h.gnss_power(200000, False)
    h.gnss_power(300000, True)
    for s in range(9):  # a fresh start: nothing tracked yet for a few seconds
        h.epoch(300000 + s * 1000, False, 0, rssi_of(-97))
    h.epoch(309000, False, None, rssi_of(-97))  # no GSV at all: C/N0 unknown
    assert kinds(h) == []


def test_a_strap_reported_open_before_a_restart_is_not_reported_again():
    h = health.Health()
    h.restore(True, False)  # the last run reported the strap open
    h.switches(1000, False, True, False)
    h.switches(2000, False, True, False)
    assert kinds(h) == []
    h.switches(3000, True, True, False)  # refitted...
    h.switches(4000, True, True, False)
    h.switches(5000, False, True, False)  # ...and cut again: a new opening
    h.switches(6000, False, True, False)
    assert kinds(h) == ["strap_tamper"]
    fresh = health.Health()  # nothing recorded: open at boot is news
    fresh.switches(1000, False, True, False)
    fresh.switches(2000, False, True, False)
    assert kinds(fresh) == ["strap_tamper"]
