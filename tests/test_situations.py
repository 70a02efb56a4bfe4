"""Situations where a duty-cycled receiver used to miss breaches, the whole tag end to end
(simulator/situations.py, also run by `emtag bench alerts`): each with the hard values of
the class fixed, so the test is about the policy, not a lucky draw."""

import pytest

from emtag.simulator import situations

CASES = [
    # the car parked 300 m from a 200 m circle moves off 2 s after a fix taken at rest
    ("from_rest", {"radius": 200, "gap": 300, "speed": 13, "offset": 0, "depart": 2,
                   "rest_s": 60, "env": "suburban"}),
    # ... with a fitting's ten-minute rest interval, and off-centre
    ("from_rest", {"radius": 150, "gap": 120, "speed": 15, "offset": 40, "depart": 15,
                   "rest_s": 600, "env": "open_sky"}),
    # a 45 s red light 250 m before the zone
    ("red_light", {"radius": 200, "gap": 250, "speed": 13, "offset": 0, "stop": 45,
                   "env": "suburban"}),
    # still indoors 1.5 km from home when the curfew starts, fixes ten minutes apart at rest
    ("curfew_still", {"radius": 60, "away": 1500, "rest_s": 600, "env": "indoor"}),
    # still inside an exclusion zone when its window opens
    ("timed_exclusion", {"radius": 150, "away": 5, "rest_s": 600}),
    ("run_entry", {"radius": 150, "speed": 5, "depth": 30, "stay": 60, "env": "suburban"}),
    ("drive_entry", {"radius": 130, "speed": 25, "depth": 30, "stay": 60, "env": "suburban"}),
]  # fmt: skip
QUIET = [
    ("near_miss_drive", {"radius": 150, "gap": 30, "speed": 13, "stop": 45, "env": "suburban"}),
    ("curfew_home", {"radius": 60, "away": 5, "rest_s": 600}),
]


@pytest.mark.parametrize("kind,fixed", CASES, ids=[c[0] for c in CASES])
def test_the_breach_is_stored_within_four_minutes(kind, fixed):
    r = situations.run_one((kind, 0, 1, fixed))
    assert r["expected"]
    assert r["latency_s"] is not None, "missed: %r" % r
    assert 0 <= r["latency_s"] <= situations.STORED_WITHIN_S
    assert r["breaches"] == 1 and r["possible"] == 0


@pytest.mark.parametrize("kind,fixed", QUIET, ids=[c[0] for c in QUIET])
def test_nothing_is_raised_where_nothing_happened(kind, fixed):
    r = situations.run_one((kind, 0, 1, fixed))
    assert r["breaches"] == 0 and r["possible"] == 0


def test_the_summary_counts_misses_lateness_and_false_breaches():
    results = [
        {"kind": "from_rest", "expected": True, "latency_s": 6.0, "breaches": 1,
         "possible": 0, "gnss_on_share": 0.3, "sim_s": 900},
        {"kind": "from_rest", "expected": True, "latency_s": None, "breaches": 0,
         "possible": 1, "gnss_on_share": 0.3, "sim_s": 900},
        {"kind": "from_rest", "expected": True, "latency_s": 300.0, "breaches": 2,
         "possible": 0, "gnss_on_share": 0.3, "sim_s": 900},
        {"kind": "curfew_home", "expected": False, "latency_s": None, "breaches": 1,
         "possible": 0, "gnss_on_share": 0.1, "sim_s": 2400},
    ]  # fmt: skip
    by = situations.summarise(results)
    fr = by["from_rest"]
    assert (fr["runs"], fr["missed"], fr["late"], fr["false"], fr["possible"]) == (3, 1, 1, 1, 1)
    assert by["curfew_home"]["false"] == 1
    text = situations.report(by)
    assert "3 runs" not in text and "4 runs, 1 missed, 1 stored later than 240 s" in text
