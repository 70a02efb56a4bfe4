"""firmware/duty.py: when the GNSS receiver may be off."""

from emtag.firmware import duty

LONG = 1 << 30  # no zone within reach


def test_a_still_wearer_sleeps_until_the_rest_fix_whatever_the_zones():
    d = duty.Duty()
    d.rest_ms = 300000
    d.power(True, 0)
    assert d.deadline() == duty.ACQ_MS  # searching
    # still: the activity interrupt is armed, so even 0 ms of safety is enough
    assert d.after_fix(5000, 19500, False, True, 0)
    assert d.next_on == 5000 + 300000 - duty.LEAD_MS
    d.power(False, 5000)
    assert d.deadline() == d.next_on
    d.off_until(9000)  # the accelerometer: the wearer moves
    assert d.next_on == 9000


def test_a_moving_wearer_sleeps_only_while_no_zone_is_within_reach():
    d = duty.Duty()
    d.power(True, 0)
    # far from every zone: off until just before the next fix
    assert d.after_fix(1000, 60500, False, False, LONG)
    assert d.next_on == 60500 - duty.LEAD_MS
    # a zone 1.6 km away at 40 m/s: 40 s; off until 5 s before that
    d.power(True, 60000)
    assert d.after_fix(61000, 120500, False, False, 40000)
    assert d.next_on == 61000 + 40000 - duty.LEAD_MS
    # a zone 800 m away: 20 s is not worth a hot start: stays on
    d.power(True, 100000)
    assert not d.after_fix(101000, 160500, False, False, 20000)
    assert not d.after_fix(102000, 117500, False, False, LONG)  # 15 s apart: not worth it


def test_held_on_while_a_breach_or_a_signal_alert_is_decided_and_for_the_baseline():
    d = duty.Duty()
    d.power(True, 0)
    assert not d.after_fix(1000, 61000, True, True, LONG)  # held, even still
    assert not d.search_over(duty.ACQ_MS, True)
    b = duty.Duty(always_on=True)
    b.power(True, 0)
    assert not b.after_fix(1000, 61000, False, True, LONG)
    assert not b.search_over(10**9, False)
    assert b.deadline() is None


def test_a_hopeless_search_is_given_up_and_retried():
    d = duty.Duty()
    d.power(True, 0)
    assert not d.search_over(duty.ACQ_MS - 1, False)
    assert d.search_over(duty.ACQ_MS, False)
    assert d.next_on == duty.ACQ_MS + duty.RETRY_MS
    d.power(False, duty.ACQ_MS)
    d.off_until(duty.ACQ_MS + 50000)  # a curfew starts sooner: wake for it
    assert d.deadline() == duty.ACQ_MS + 50000
    d.off_until(duty.ACQ_MS + 900000)  # later than planned: changes nothing
    assert d.deadline() == duty.ACQ_MS + 50000
