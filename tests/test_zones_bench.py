"""The alert-quality benchmark on a CI-sized sample (50 tag-days; the README's figures come
from `emtag bench alerts`, 1,000 tag-days): the tag's engine against naive geofencing."""

import subprocess
import sys

from emtag.simulator import alertbench


def test_fifty_tag_days():
    s = alertbench.benchmark(days=50, seed=1)
    e, n = s["emtag"], s["naive"]
    assert s["near_misses"] > 200 and s["entries_60s"] >= 10
    assert e["false_per_day"] <= 0.01  # at most one false alert per hundred tag-days
    assert e["missed"] == 0
    assert e["latency_median"] <= 20
    assert e["repeats_per_day"] == 0
    # the peer, on the same fixes: noisy, as the field reports say
    assert n["false_per_day"] > 0.5
    assert n["missed"] == 0 and n["latency_median"] <= e["latency_median"]


def test_days_are_reproducible():
    a = alertbench.run_days([3, 4], seed=9)
    b = alertbench.run_days([3, 4], seed=9)
    assert a == b


def test_truth_of_the_simulated_days():
    day = alertbench.Day(0, seed=1)
    assert day.episodes and len(day.fixes) == len(day.truth) == len(day.t)
    for kind, _mode, dist, t0, t1 in day.episodes:
        inside = [day.truth[k] for k in range(len(day.t)) if t0 <= day.t[k] <= t1]
        if kind == "entry":
            assert sum(inside) >= 60 and dist >= alertbench.MIN_DEPTH_M - 1
        else:
            assert not any(inside) and 30 <= dist <= 100


def test_command_prints_both_engines():
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "emtag.cli.main",
            "bench",
            "alerts",
            "--days",
            "4",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "false alerts per tag-day" in r.stdout and "naive (first fix in)" in r.stdout
