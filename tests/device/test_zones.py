# The zone engine on the tag (firmware/zones.py, zonetable.py, plausibility.py): decisions,
# confirmation, schedules across DST, sparse fixes, plausibility, fix rate, table checks.
# Plain functions and asserts: runs on CPython and on the MicroPython unix port.
import math
import struct

from emtag.firmware import zones, zonetable
from emtag.protocol import cbor

LAT0 = 534631000  # Manchester, degrees x 1e7
LON0 = -22913000
T0 = 1767600000  # Monday 2026-01-05 08:00 UTC
UK = "GMT0BST,M3.5.0/1,M10.5.0"
M_PER_E7 = 0.0111319  # metres per 1e-7 degree of latitude, near enough for test positions
COS0 = math.cos(math.radians(LAT0 / 1e7))


def pos(north_m, east_m):
    return (LAT0 + round(north_m / M_PER_E7), LON0 + round(east_m / (M_PER_E7 * COS0)))


class F:
    """A fix as the NMEA parser gives it."""

    def __init__(self, t, north_m, east_m, acc_cm=850, speed_mmps=0, sats=9, hdop=100, fix=3):
        self.t, self.t_ms = t, 0
        self.lat, self.lon = pos(north_m, east_m)
        self.acc_cm, self.speed_mmps, self.sats, self.hdop, self.fix = (
            acc_cm,
            speed_mmps,
            sats,
            hdop,
            fix,
        )
        self.course_cdeg = 0
        self.alt_cm = 4500


def circle(zid, radius_m, kind=0, approach_m=0, sched=(), tzi=0, north_m=0, east_m=0):
    lat, lon = pos(north_m, east_m)
    return [
        zid,
        kind,
        approach_m * 100,
        tzi,
        [list(w) for w in sched],
        [0, lat, lon, radius_m * 100],
    ]


def ring(points):
    out = b""
    for n, e in points:
        out += struct.pack("<ii", *pos(n, e))
    return out


def still(t0, seconds, north_m, east_m=0, step=1, **kw):
    """Fixes at one spot (generators: the MicroPython heap is the tag's)."""
    for k in range(0, seconds, step):
        yield F(t0 + k, north_m, east_m, **kw)


def walk(t0, seconds, north0, speed, east_m=0, **kw):
    """Fixes walking north (speed < 0: south) from north0 at speed m/s."""
    for k in range(seconds):
        yield F(t0 + k, north0 + speed * k, east_m, speed_mmps=int(abs(speed) * 1000), **kw)


def chain(*parts):
    for p in parts:
        yield from p


def square(half_m, north_m=0, east_m=0, ccw=True):
    pts = [(-half_m, -half_m), (-half_m, half_m), (half_m, half_m), (half_m, -half_m)]
    pts = [(north_m + n, east_m + e) for n, e in pts]  # (north, east): counter-clockwise
    return ring(pts if ccw else pts[::-1])


def polygon(zid, polys, kind=0, approach_m=0):
    return [zid, kind, approach_m * 100, 0, [], [1, polys]]


def table(rows, settings=None, tzs=()):
    items = [[1, settings or {}, list(tzs), len(rows)]] + list(rows)
    return b"".join(cbor.dumps(cbor.dumps(item)) for item in items)


def engine(rows, settings=None, tzs=()):
    return zonetable.engine(table(rows, settings, tzs))


def run(eng, fixes):
    """[(fix time, kind, zone, alert time)] for everything raised."""
    out = []
    for f in fixes:
        for i in range(eng.update(f)):
            kind, zid, snap = eng.events[i]
            out.append((f.t, kind, zid, snap.t))
    return out


def raises(fn, *args):
    try:
        fn(*args)
    except zones.ZoneTableError:
        return True
    return False


def test_signed_distance_circle_and_square():
    eng = engine([circle("c", 100), polygon("p", [[square(50, east_m=500)]])])
    c, p = eng.zones
    for d in (0, 50, 99, 101, 150, 1000):
        lat, lon = pos(d, 0)
        assert abs(c.signed_distance_dm(lat, lon) - (1000 - 10 * d)) <= 3, d
    for e, want in ((500, 50), (530, 20), (560, -10), (650, -100)):
        lat, lon = pos(0, e)
        assert abs(p.signed_distance_dm(lat, lon) - 10 * want) <= 3, e
    assert c.contains(*pos(0, 0)) and not c.contains(*pos(0, 200))
    assert p.contains(*pos(10, 510)) and not p.contains(*pos(0, 0))


def test_polygon_with_hole_and_two_parts():
    eng = engine([polygon("m", [[square(300), square(150, ccw=False)], [square(50, east_m=1000)]])])
    z = eng.zones[0]
    for (n, e), want in (((0, 0), -150), ((0, 225), 75), ((0, 400), -100), ((0, 1000), 50)):
        lat, lon = pos(n, e)
        assert abs(z.signed_distance_dm(lat, lon) - 10 * want) <= 3, (n, e)


def test_breach_needs_dwell_and_fixes_and_carries_the_first_sure_fix():
    eng = engine([circle("home", 100)], {"confirm_s": 10, "confirm_fixes": 3})
    # walking in from 300 m at 1.4 m/s; acc 8.5 m: sure inside from about 6 m in
    got = run(eng, walk(T0, 240, 300, -1.4))
    breaches = [g for g in got if g[1] == "exclusion_breach"]
    assert len(breaches) == 1
    t, _, zid, began = breaches[0]
    assert zid == "home"
    entered = T0 + math.ceil(200 / 1.4)  # the true entry
    assert entered < began <= entered + 8  # margin about 6 m at this accuracy
    assert t - began >= 10  # confirmed by dwell
    assert t - entered <= 20


def test_a_few_fixes_inside_do_not_alert():
    eng = engine([circle("home", 100)])
    # 5 s deep inside, then back
    fixes = chain(still(T0, 30, 130), still(T0 + 30, 5, 60), still(T0 + 35, 60, 130))
    assert [g[1] for g in run(eng, fixes)] == []


def test_uncertain_fixes_change_nothing():
    eng = engine([circle("home", 100)])
    # on the boundary with a 40 m accuracy radius for ten minutes: never sure either way
    fixes = (F(T0 + k, 95 + (k % 3) * 5, 0, acc_cm=4000) for k in range(600))
    assert run(eng, fixes) == []
    assert eng.zones[0].state == zones.UNKNOWN


def test_clear_after_leaving():
    eng = engine([circle("home", 100)], {"clear_s": 20})
    # boot inside (a breach), walk out at 2 m/s: outside from T0 + 110, sure from about + 113
    got = run(eng, chain(still(T0, 60, 0), walk(T0 + 60, 150, 0, 2.0)))
    assert [g[1] for g in got] == ["exclusion_breach", "exclusion_clear"]
    assert got[1][0] - got[1][3] >= 20  # the clear waited for clear_s
    assert T0 + 110 < got[1][3] <= T0 + 116  # and carries the first sure fix outside


def test_inclusion_zone_breach_and_clear():
    eng = engine([circle("town", 500, kind=1)])
    fixes = chain(walk(T0, 400, 0, 2.0), walk(T0 + 400, 400, 800, -2.0))
    kinds = [g[1] for g in run(eng, fixes)]
    assert kinds == ["inclusion_breach", "inclusion_clear"]


NIGHTLY = [(d * 1440 + 19 * 60, 12 * 60) for d in range(7)]  # 19:00-07:00 every night


def test_curfew_across_the_uk_autumn_change():
    # clocks go back at 01:00 UTC on Sunday 25 October 2026 (02:00 BST -> 01:00 GMT); the
    # wearer is home through the change and walks out at 06:30 UTC, which is 06:30 GMT:
    # half an hour before the curfew ends (it would be 07:30 were BST still in force)
    change = 1792890000
    eng = engine([circle("home", 50, kind=1, sched=NIGHTLY)], tzs=[UK])
    out = change + 5 * 3600 + 1800
    fixes = chain(still(change - 1800, out - change + 1800, 0, step=5), walk(out, 2400, 0, 1.4))
    got = run(eng, fixes)
    assert [g[1] for g in got] == ["curfew_breach", "curfew_clear"]
    assert out + 50 / 1.4 <= got[0][3] <= out + 60 / 1.4  # sure outside ~8 m past the edge
    assert got[1][0] == change + 6 * 3600  # 07:00 GMT: the curfew is over, so is the breach


def test_curfew_across_the_uk_spring_change():
    # clocks go forward at 01:00 UTC on Sunday 29 March 2026 (01:00 GMT -> 02:00 BST); out
    # at 06:15 UTC = 07:15 BST, after the curfew (06:15 in GMT would be during it)
    change = 1774746000
    eng = engine([circle("home", 50, kind=1, sched=NIGHTLY)], tzs=[UK])
    out = change + 5 * 3600 + 900
    fixes = chain(still(change - 1800, out - change + 1800, 0, step=5), walk(out, 1800, 0, 1.4))
    assert run(eng, fixes) == []


def test_windows_in_the_hours_the_clocks_skip_or_repeat():
    sun = 6 * 1440
    # Sunday 01:00-01:45 local: on the autumn night it opens at the first 01:00 (00:00 UTC),
    # closes at the first 01:45, and does not open again when 01:00 comes round twice
    z = engine([circle("z", 50, sched=[(sun + 60, 45)])], tzs=[UK]).zones[0]
    autumn = 1792890000  # 01:00 UTC
    assert not z.active(autumn - 3601)
    assert z.active(autumn - 3600) and z.active(autumn - 901)
    assert not z.active(autumn - 900) and not z.active(autumn + 600)
    # Sunday 01:30-03:00 local: 01:30 never happens on the spring night; it opens when the
    # clocks jump (01:00 UTC, 02:00 BST) and closes at 03:00 BST (02:00 UTC)
    z = engine([circle("z", 50, sched=[(sun + 90, 90)])], tzs=[UK]).zones[0]
    spring = 1774746000
    assert not z.active(spring - 1) and z.active(spring)
    assert z.active(spring + 3599) and not z.active(spring + 3600)
    # an ordinary Sunday: 01:30-03:00 GMT
    z.active(spring - 7 * 86400 + 1800)
    assert z.active(spring - 7 * 86400 + 1800) and not z.active(spring - 7 * 86400 + 1799)


def test_curfew_breach_when_the_window_opens_with_the_wearer_out():
    # Monday 09:00-09:10 UTC (GMT in January); wearer away from 08:50
    eng = engine([circle("home", 50, kind=1, sched=[(9 * 60, 10)])], tzs=[UK])
    got = run(eng, still(T0 + 3000, 1500, 500, step=2))
    assert [g[1] for g in got] == ["curfew_breach", "curfew_clear"]
    assert T0 + 3600 <= got[0][3] <= T0 + 3604  # from the window's first fix
    assert got[1][0] == T0 + 4200


def test_crossing_between_sparse_fixes_is_caught():
    eng = engine([circle("home", 100)])
    # a fix a minute (duty-cycled receiver) driving straight through at 10 m/s
    fixes = [F(T0 + 60 * k, -900 + 600 * k, 0, speed_mmps=10000) for k in range(4)]
    got = run(eng, fixes)
    assert [g[1] for g in got] == ["exclusion_breach", "exclusion_clear"]
    assert got[0][0] == T0 + 120  # raised by the first fix past the zone


def test_sparse_fixes_passing_by_do_not_alert():
    eng = engine([circle("home", 100)])
    fixes = [F(T0 + 60 * k, -900 + 600 * k, 150, speed_mmps=10000) for k in range(4)]
    assert run(eng, fixes) == []


def test_implausible_fixes_are_set_aside_and_counted():
    eng = engine([circle("home", 100)])
    good = F(T0, 500, 0)
    assert eng.update(good) == 0 and eng.accepted
    bad = [
        F(T0 + 1, 500, 0, fix=0),
        F(T0 + 2, 500, 0, sats=3),
        F(T0 + 3, 500, 0, hdop=900),
        F(T0 + 4, 500, 0, speed_mmps=120000),
        F(T0 + 5, 0, 0),  # 500 m in 5 s
        F(T0, 500, 0),  # not after the last accepted fix
    ]
    nul = F(T0 + 6, 0, 0)
    nul.lat = nul.lon = 0
    bad.append(nul)
    for f in bad:
        assert eng.update(f) == 0 and not eng.accepted
    s = eng.stats()
    assert s["accepted"] == 1
    for reason in ("invalid", "few_sats", "high_hdop", "time", "null_island"):
        assert s[reason] == 1, reason
    assert s["speed"] == 2


def test_a_new_position_is_believed_after_repeated_impossible_moves():
    eng = engine([circle("home", 100)])
    eng.update(F(T0, 5000, 0))
    for k in range(1, 7):
        eng.update(F(T0 + k, 0, 0))
    assert eng.accepted and eng.stats()["speed"] == 5


def test_multipath_jump_next_to_the_zone_stays_uncertain():
    eng = engine([circle("home", 100)])
    # standing 40 m outside; receiver reports 34 m (urban canyon) throughout; multipath
    # moves the fixes 70 m toward the zone within 2 s, for 40 s, then back
    fixes = chain(
        still(T0, 60, 140, acc_cm=3390),
        [F(T0 + 60, 105, 0, acc_cm=3390), F(T0 + 61, 80, 0, acc_cm=3390)],
        still(T0 + 62, 40, 70, acc_cm=3390),
        still(T0 + 102, 60, 140, acc_cm=3390),
    )
    assert [g[1] for g in run(eng, fixes)] == []


def test_walking_in_through_the_same_noise_alerts():
    eng = engine([circle("home", 100)])
    got = run(eng, walk(T0, 120, 200, -1.4, acc_cm=3390))
    assert [g[1] for g in got] == ["exclusion_breach"]
    assert got[0][0] - (T0 + 72) <= 30  # true entry 72 s in


def test_fix_rate_rises_near_a_zone_and_falls_back():
    eng = engine([circle("home", 100)], {"fast_interval_s": 10, "near_m": 100})
    eng.update(F(T0, 3000, 0))
    assert eng.interval_ms() == 60000 and not eng.near
    eng.update(F(T0 + 100, 190, 0, speed_mmps=40000))  # 90 m from the boundary
    assert eng.near and eng.interval_ms() == 10000
    eng.update(F(T0 + 130, 1500, 0, speed_mmps=40000))
    assert not eng.near and eng.interval_ms() == 10000  # still, for fast_hold_s (60 s)
    eng.update(F(T0 + 200, 3000, 0, speed_mmps=40000))
    assert eng.interval_ms() == 60000


def test_zone_approach_once_per_visit():
    eng = engine([circle("home", 100, approach_m=200)], {"approach_fixes": 3})
    got = run(eng, chain(walk(T0, 120, 400, -2.0), still(T0 + 120, 120, 160)))  # to 160 m
    assert [g[1] for g in got] == ["zone_approach"]
    assert got[0][0] == got[0][3]
    # inside the buffer from 300 m: the third fix there raises it
    assert T0 + 50 <= got[0][0] <= T0 + 54


def test_table_checks():
    ok = table([circle("a", 100)])
    assert len(zonetable.load_table(ok)[0]) == 1
    assert raises(zonetable.engine, b"")
    assert raises(zonetable.engine, ok[:-3])  # cut short
    assert raises(zonetable.engine, ok + cbor.dumps(cbor.dumps(1)))
    assert raises(zonetable.engine, cbor.dumps([1, {}, [], 0]))  # not wrapped
    bad_rows = [
        ["a", 2, 0, 0, [], [0, LAT0, LON0, 10000]],  # kind
        ["", 0, 0, 0, [], [0, LAT0, LON0, 10000]],  # id
        ["a", 0, 0, 0, [], [0, LAT0, LON0, 0]],  # radius
        ["a", 0, 0, 0, [[0, 0]], [0, LAT0, LON0, 10000]],  # window length
        ["a", 0, 0, 3, [[0, 60]], [0, LAT0, LON0, 10000]],  # tz index
        ["a", 0, 0, 0, [], [1, [[b"\x00" * 20]]]],  # ring size
        ["a", 0, 0, 0, [], [0, 900000000, LON0, 10000]],  # latitude
        ["a", 0, 0, 0, [], [2, LAT0, LON0, 10000]],  # shape
    ]
    for row in bad_rows:
        assert raises(zonetable.engine, table([row])), row
    assert raises(zonetable.engine, table([circle("a", 1), circle("a", 2)]))
    assert raises(zonetable.engine, table([circle("a", 1)], {"confirm_s": -1}))
    assert raises(zonetable.engine, table([circle("a", 1)], {"nonsense": 1}))
    assert raises(zonetable.engine, table([circle("a", 1)], tzs=["GMT"]))
    eng = zonetable.engine()
    assert eng.update(F(T0, 0, 0)) == 0 and eng.accepted


def test_sparse_fixes_round_the_zone_are_not_a_crossing():
    eng = engine([circle("home", 100)])
    # driving at 15 m/s, a fix a minute: north of the zone, then south of it, but 900 m of
    # road each minute while the straight line is 400 m: it went round, not through
    fixes = [
        F(T0, 200, 0, speed_mmps=15000),
        F(T0 + 60, -200, 0, speed_mmps=15000),
        F(T0 + 120, -200, 900, speed_mmps=15000),
    ]
    assert run(eng, fixes) == []
    # the same two fixes walking: no inference for walkers (their fixes come near a zone)
    eng = engine([circle("home", 100)])
    assert run(eng, [F(T0, 200, 0, speed_mmps=1400), F(T0 + 290, -200, 0, speed_mmps=1400)]) == []


def test_a_restored_breach_is_not_raised_again_and_clears():
    # the tag restarted during a breach of "home" (its flash said so); "shop" was fine
    rows = [circle("home", 100), circle("shop", 100, north_m=2000)]
    eng = engine(rows, {"clear_s": 20})
    eng.restore(["home", "gone"])  # an id the table no longer has changes nothing
    assert eng.breaches() == ["home"]
    got = run(eng, chain(still(T0, 60, 0), walk(T0 + 60, 150, 0, 2.0)))
    assert [g[1] for g in got] == ["exclusion_clear"]
    assert eng.breaches() == []
    # without the restore the same fixes raise the breach first
    fresh = run(engine(rows, {"clear_s": 20}), chain(still(T0, 60, 0), walk(T0 + 60, 150, 0, 2.0)))
    assert [g[1] for g in fresh] == ["exclusion_breach", "exclusion_clear"]


def test_a_restored_curfew_breach_clears_when_its_window_has_closed():
    # in breach of Monday 09:00-09:10 UTC before the restart; back after the window
    eng = engine([circle("home", 50, kind=1, sched=[(9 * 60, 10)])], tzs=[UK])
    eng.restore(["home"])
    got = run(eng, still(T0 + 4300, 30, 500, step=2))
    assert [g[1] for g in got] == ["curfew_clear"]
