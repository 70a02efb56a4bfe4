"""The crime-mapping match on hand-made trails whose answer is known geometrically
(centre/crimes_match.py): placed, could have been there (and at which speed), could not
have been there (and by how much), nowhere near."""

import math

import pytest
from crime_trails import at
from hypothesis import given, settings
from hypothesis import strategies as st

from emtag.centre import crimes_match as M
from emtag.centre import crimes_policy
from emtag.centre.crimes_incidents import Incident
from emtag.simulator import geo

T = 1772442000
KMH = 1 / 3.6


def params(assume="driving", **kw):
    p = crimes_policy.Policy({"speeds": {"assume": assume}}).params
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def incident(east=0.0, north=0.0, u=20.0, t0=T, t1=T + 3600):
    lat, lon = at(east, north)
    return Incident(2, "i1", "burglary", lat, lon, u, t0, t1)


def rows(points):
    """Store rows for [(t, east_m, north_m, acc_m)], seq from 1."""
    out = []
    for i, (t, e, n, acc) in enumerate(points):
        lat, lon = at(e, n)
        out.append(
            (
                i + 1,
                int(t),
                int(round((t % 1) * 1000)),
                round(lat * 1e7),
                round(lon * 1e7),
                None if acc is None else round(acc * 100),
            )
        )
    return out


def test_a_fix_at_the_scene_during_the_window_places_the_wearer():
    trail = rows([(T + 60 * i, 1000 - 84 * i, 0, 8) for i in range(25)])  # walks west through
    a = M.judge(incident(t0=T + 600, t1=T + 900), trail, params())
    assert a.answer == M.PLACED
    # fixes 11, 12, 13 (east 160, 76, -8 m) are within 20 + 8 m of the scene: 12 and 13
    assert a.rests_on == [13]  # -8 m: the only fix within 28 m
    assert a.record.seq == 13 and a.record.d_m == pytest.approx(8, abs=0.5)


def test_the_combined_uncertainty_is_the_root_sum_square_of_scene_and_fix():
    p = params()
    for d, placed in ((math.hypot(20, 9.9) - 0.2, True), (math.hypot(20, 9.9) + 0.2, False)):
        a = M.judge(incident(), rows([(T + 60, d, 0, 9.9)]), p)
        assert (a.answer == M.PLACED) is placed, d
    # fixes at the scene before and after the window place nobody in it; they leave it open
    a = M.judge(incident(t0=T + 120, t1=T + 200), rows([(T + 60, 0, 0, 5), (T + 300, 0, 0, 5)]), p)
    assert a.answer == M.COULD and a.gap == "gap" and a.mode == "none"


def test_a_fix_must_resolve_the_scene_to_place_anyone_there():
    # +-40 m cannot tell a house (+-5 m) from the next, but can a street corner (+-50 m)
    p = params()
    assert M.judge(incident(u=5), rows([(T + 60, 10, 0, 40)]), p).answer == M.COULD
    assert M.judge(incident(u=50), rows([(T + 60, 10, 0, 40)]), p).answer == M.PLACED
    assert M.judge(incident(u=5), rows([(T + 60, 10, 0, 20)]), p).answer == M.PLACED


def test_one_reflected_fix_among_its_neighbours_places_no_one():
    # a wearer indoors 120 m from the scene; one fix, reflected, lands on it
    points = [(T + 60 * i, 120, 0, 20) for i in range(10)]
    points[5] = (T + 300, 3, 0, 20)
    a = M.judge(incident(u=10), rows(points), params())
    assert a.answer == M.COULD and a.record.seq == 6  # not ruled out, not placed
    # two minutes alone at the scene (no neighbour within corroborate_s) still count
    points = [(T, 120, 0, 20), (T + 300, 3, 0, 20), (T + 600, 120, 0, 20)]
    assert M.judge(incident(u=10), rows(points), params()).answer == M.PLACED


def test_a_fix_too_vague_to_place_anyone_neither_places_nor_rules_out():
    p = params()
    a = M.judge(incident(), rows([(T + 60, 40, 0, 80)]), p)  # +-80 m: over max_place_acc_m
    assert a.answer == M.COULD and a.gap == "vague fix" and a.mode == "none"
    assert a.speed_mps == 0


def test_a_gap_that_allows_driving_but_not_walking_there():
    # two fixes 10 min apart, 3 km either side of the scene: 6 km in 10 min is 36 km/h
    trail = rows([(T, -3000, 0, 5), (T + 600, 3000, 0, 5)])
    inc = incident(u=20)
    r = 2 * 5 + 50  # the conservative radius of a +-5 m fix (excl_scale, excl_extra_m)
    need = 2 * (3000 - 20 - r) / 600  # m/s
    a = M.judge(inc, trail, params("driving"))
    assert a.answer == M.COULD and a.mode == "driving" and a.gap == "gap"
    assert a.speed_mps == pytest.approx(need, rel=1e-4)
    assert a.rests_on == [1, 2]
    # a policy that assumes nobody runs faster than 25 km/h: could not, and by how much
    a = M.judge(inc, trail, params("running", report_within_m=5000))
    assert a.answer == M.COULD_NOT
    assert a.margin_m == pytest.approx((2 * (3000 - 20 - r) - 25 * KMH * 600) / 2, abs=0.05)
    a = M.judge(inc, trail, params("walking", report_within_m=5000))
    assert a.answer == M.COULD_NOT
    assert a.margin_m == pytest.approx((2 * (3000 - 20 - r) - 7 * KMH * 600) / 2, abs=0.05)


def test_the_slowest_mode_that_allows_it_is_named():
    p = params()
    for half_gap_m, mode in ((150, "walking"), (1500, "running"), (4000, "driving")):
        trail = rows([(T, -half_gap_m, 0, 5), (T + 600, half_gap_m, 0, 5)])
        a = M.judge(incident(u=0), trail, p)
        need = 2 * (half_gap_m - 60) / 600
        assert a.answer == M.COULD and a.mode == mode, (half_gap_m, a)
        assert a.speed_mps == pytest.approx(need, rel=1e-4)


def test_only_the_part_of_a_gap_inside_the_window_counts():
    # 1 km away at T, at the scene at T + 600; the window ends at T + 60: the wearer must
    # cover the kilometre in the first minute (60 km/h), not in ten (6 km/h)
    trail = rows([(T, 1000, 0, 5), (T + 600, 0, 0, 5)])
    a = M.judge(incident(u=0, t0=T, t1=T + 60), trail, params())
    assert a.answer == M.COULD and a.mode == "driving"
    assert a.speed_mps == pytest.approx((1000 - 60) / 60, rel=1e-4)


def test_far_away_all_window_could_not_have_been_there_and_says_how_far_short():
    trail = rows([(T + 60 * i, 0, 1500, 5) for i in range(61)])  # 1.5 km north, a fix a minute
    a = M.judge(incident(u=20), trail, params(report_within_m=2000))
    assert a.answer == M.COULD_NOT
    e = 1500 - 20 - 60
    assert a.margin_m == pytest.approx(e - 130 * KMH * 30, abs=0.5)  # half a gap each way
    assert a.rests_on == list(range(1, 62)) and a.in_window == (61, 1, 61)
    # on foot, or with fixes closer together, the margin grows
    assert M.judge(incident(u=20), trail, params("walking", report_within_m=2000)).margin_m == (
        pytest.approx(e - 7 * KMH * 30, abs=0.5)
    )
    # farther than report_within_m from the scene: nowhere near, no row
    assert M.judge(incident(u=20), trail, params(report_within_m=1400)) is None


def test_before_the_first_and_after_the_last_record_the_wearer_is_unmonitored():
    p = params()
    trail = rows([(T + 1800, 2000, 0, 5)])  # the tag's first record, 2 km away, 30 min in
    a = M.judge(incident(u=0, t0=T, t1=T + 600), trail, p, first_t=T + 1800, last_t=T + 9000)
    assert a.answer == M.COULD and a.gap == "before first"
    assert a.speed_mps == pytest.approx((2000 - 60) / 1800, rel=1e-4)
    trail = rows([(T, 2000, 0, 5)])  # its last record
    a = M.judge(incident(u=0, t0=T + 600, t1=T + 1200), trail, p, first_t=T - 99, last_t=T)
    assert a.answer == M.COULD and a.gap == "after last"
    assert a.speed_mps == pytest.approx((2000 - 60) / 1200, rel=1e-4)


def test_a_record_without_an_accuracy_counts_as_100_m():
    a = M.judge(incident(u=0), rows([(T + 60, 90, 0, None)]), params())
    assert a.answer == M.COULD and a.gap == "vague fix" and a.record.acc_m == 100


@settings(max_examples=300, deadline=None)
@given(
    e1=st.integers(0, 5_000_000).map(lambda mm: mm / 1000),
    e2=st.integers(0, 5_000_000).map(lambda mm: mm / 1000),
    g=st.floats(1, 7200),
    a=st.integers(0, 1000).map(lambda x: x / 1000),
    b=st.integers(0, 1000).map(lambda x: x / 1000),
)
def test_the_least_speed_is_exactly_where_the_shortfall_reaches_zero(e1, e2, g, a, b):
    lo, hi = sorted((a * g, b * g))
    v = M.min_speed(e1, e2, g, lo, hi)
    if math.isinf(v) or v == 0:
        return
    assert M.shortfall(e1, e2, g, lo, hi, v) == pytest.approx(0, abs=1e-6 * (1 + e1 + e2))
    assert M.shortfall(e1, e2, g, lo, hi, v * 0.99) > 0
    assert M.shortfall(e1, e2, g, lo, hi, v * 1.01) <= 1e-9


@settings(max_examples=200, deadline=None)
@given(
    lat=st.floats(-80, 80),
    lon=st.floats(-179, 179),
    east=st.floats(-20000, 20000),
    north=st.floats(-20000, 20000),
)
def test_distances_agree_with_the_haversine_within_a_thousandth(lat, lon, east, north):
    lat2, lon2 = geo.offset(lat, lon, east, north)
    ref = geo.distance_m(lat, lon, lat2, lon2)
    assert M.distance_m(lat, lon, lat2, lon2) == pytest.approx(ref, rel=1e-3, abs=0.01)
