# POSIX TZ rules on the tag (firmware/tz.py): both UK changes, southern-hemisphere rules,
# the RFC 8536 extensions tzdata uses, and schedule minutes across the changes.
# Runs on CPython and on the MicroPython unix port. Instants were checked with zoneinfo.
from emtag.firmware import tz, tzparse

UK_SPRING_2026 = 1774746000  # 2026-03-29 01:00 UTC: GMT -> BST
UK_AUTUMN_2026 = 1792890000  # 2026-10-25 01:00 UTC: BST -> GMT
SYD_END_2026 = 1775318400  # 2026-04-04 16:00 UTC (03:00 AEDT Sunday 5 April)
SYD_START_2026 = 1791043200  # 2026-10-03 16:00 UTC (02:00 AEST Sunday 4 October)
SCL_START_2026 = 1788667200  # 2026-09-06 04:00 UTC (Saturday 24:00 -04)
SCL_END_2026 = 1775358000  # 2026-04-05 03:00 UTC (Saturday 24:00 -03)


def raises(fn, *args):
    try:
        fn(*args)
    except tzparse.TZError:
        return True
    return False


def test_uk_spring_forward():
    uk = tz.Rule()  # the default is the UK rule
    assert uk.text == "GMT0BST,M3.5.0/1,M10.5.0"
    assert uk.offset(UK_SPRING_2026 - 1) == 0
    assert uk.offset(UK_SPRING_2026) == 3600
    # 00:59:59 GMT is followed by 02:00:00 BST: 01:xx local never happens
    assert uk.local(UK_SPRING_2026 - 1) % 86400 == 3599
    assert uk.local(UK_SPRING_2026) % 86400 == 7200


def test_uk_fall_back():
    uk = tz.Rule("GMT0BST,M3.5.0/1,M10.5.0")
    assert uk.offset(UK_AUTUMN_2026 - 1) == 3600
    assert uk.offset(UK_AUTUMN_2026) == 0
    # 01:59:59 BST is followed by 01:00:00 GMT: the hour 01:xx happens twice
    assert uk.local(UK_AUTUMN_2026 - 1) % 86400 == 7199
    assert uk.local(UK_AUTUMN_2026) % 86400 == 3600


def test_uk_whole_year():
    uk = tz.Rule()
    assert uk.offset(1767571200) == 0  # 2026-01-05
    assert uk.offset(1783000000) == 3600  # 2026-07-02
    assert uk.offset(1806195600 - 1) == 0  # 2027-03-28 00:59:59 UTC
    assert uk.offset(1806195600) == 3600
    assert uk.transitions(2026) == (UK_SPRING_2026, UK_AUTUMN_2026)


def test_sydney_dst_runs_over_the_new_year():
    syd = tz.Rule("AEST-10AEDT,M10.1.0,M4.1.0/3")
    assert syd.std_east == 36000 and syd.dst_east == 39600
    assert syd.offset(1767571200) == 39600  # January: summer, daylight time
    assert syd.offset(SYD_END_2026 - 1) == 39600
    assert syd.offset(SYD_END_2026) == 36000
    assert syd.offset(1783000000) == 36000  # July: winter
    assert syd.offset(SYD_START_2026 - 1) == 36000
    assert syd.offset(SYD_START_2026) == 39600
    assert syd.offset(1798000000) == 39600  # December 2026


def test_santiago_rule_with_24_hour_times():
    scl = tz.Rule("<-04>4<-03>,M9.1.6/24,M4.1.6/24")
    assert scl.std_name == "-04" and scl.dst_name == "-03"
    assert scl.offset(SCL_END_2026 - 1) == -10800
    assert scl.offset(SCL_END_2026) == -14400
    assert scl.offset(SCL_START_2026 - 1) == -14400
    assert scl.offset(SCL_START_2026) == -10800


def test_rules_without_dst_and_with_minutes():
    assert tz.Rule("UTC0").offset(UK_SPRING_2026) == 0
    ist = tz.Rule("IST-5:30")
    assert ist.offset(UK_SPRING_2026) == 19800 and not ist.is_dst(UK_SPRING_2026)
    nfl = tz.Rule("NST3:30NDT,M3.2.0,M11.1.0")
    assert nfl.offset(1783000000) == -9000  # July: NDT, UTC-2:30
    assert nfl.offset(1767571200) == -12600
    # DST name without dates: the US rules, as glibc
    assert tz.Rule("EST5EDT").offset(1783000000) == -14400


def test_julian_day_rules():
    # J60 is 1 March in every year; 59 (zero-based) is 29 February in a leap year
    r = tz.Rule("AAA0BBB,J60/0,J300/0")
    s, _ = r.transitions(2024)
    assert s == 1709251200  # 2024-03-01 00:00 UTC
    r = tz.Rule("AAA0BBB,59/0,300/0")
    s, _ = r.transitions(2024)
    assert s == 1709164800  # 2024-02-29
    s, _ = r.transitions(2025)
    assert s == 1740787200  # 2025-03-01


def test_bad_rules_are_refused():
    for bad in (
        "",
        "G0",
        "GMT",
        "GMT0BST,M3.5.0",
        "GMT0BST,M13.5.0,M10.5.0",
        "GMT0BST,M3.6.0,M10.5.0",
        "GMT0BST,M3.5.7,M10.5.0",
        "GMT25",
        "<+1>-1",
        "GMT0BST,M3.5.0/1,M10.5.0x",
        "GMT0BST,J0,J100",
    ):
        assert raises(tz.Rule, bad), bad


def test_minute_of_week():
    # 2026-01-05 was a Monday
    assert tz.minute_of_week(1767571200) == 0
    assert tz.minute_of_week(1767571200 + 86400 * 6 + 23 * 3600 + 59 * 60) == 10079
    assert tz.minute_of_week(1767571200 + 86400 * 7) == 0
    assert tz.minute_of_week(0) == 3 * 1440  # 1970-01-01 was a Thursday


def test_curfew_minutes_across_both_uk_changes():
    uk = tz.Rule()
    # 06:30 UTC on Sunday 29 March 2026 is 07:30 BST: Sunday 07:30 local
    assert tz.minute_of_week(uk.local(UK_SPRING_2026 + 5 * 3600 + 1800)) == 6 * 1440 + 450
    # 06:30 UTC on Sunday 25 October 2026 is 06:30 GMT
    assert tz.minute_of_week(uk.local(UK_AUTUMN_2026 + 5 * 3600 + 1800)) == 6 * 1440 + 390


def test_offset_allocates_nothing_once_the_year_is_cached():
    uk = tz.Rule()
    uk.offset(UK_SPRING_2026)
    try:
        import micropython  # type: ignore[import-not-found]
    except ImportError:
        return
    micropython.heap_lock()
    try:
        v = 0
        for k in range(100):
            v += uk.offset(UK_SPRING_2026 + k * 60)
            v += tz.minute_of_week(UK_SPRING_2026 + k)
    finally:
        micropython.heap_unlock()
    assert v > 0


def test_local_to_utc_across_the_changes():
    uk = tz.Rule()
    day = tz.days_from_civil
    # 01:30 on 25 October 2026 happens twice: first at 00:30 UTC (BST)
    assert uk.utc(day(2026, 10, 25) * 86400 + 5400) == UK_AUTUMN_2026 - 1800
    # 01:30 on 29 March 2026 never happens: the clocks jump at 01:00 UTC
    assert uk.utc(day(2026, 3, 29) * 86400 + 5400) == UK_SPRING_2026
    assert uk.utc(day(2026, 7, 1) * 86400 + 43200) == day(2026, 7, 1) * 86400 + 39600
    assert uk.utc(day(2026, 1, 5) * 86400) == day(2026, 1, 5) * 86400
    syd = tz.Rule("AEST-10AEDT,M10.1.0,M4.1.0/3")
    # 02:30 on 5 April 2026 happens twice (03:00 AEDT -> 02:00 AEST): first in AEDT
    assert syd.utc(day(2026, 4, 5) * 86400 + 9000) == SYD_END_2026 - 1800
    # 02:30 on 4 October 2026 never happens (02:00 AEST -> 03:00 AEDT)
    assert syd.utc(day(2026, 10, 4) * 86400 + 9000) == SYD_START_2026
    for t in (UK_SPRING_2026 - 7200, UK_SPRING_2026 + 7200, UK_AUTUMN_2026 + 3600):
        assert uk.utc(uk.local(t)) == t
