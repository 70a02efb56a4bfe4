"""`emtag bench sim` on a short sample (the README's figure is its full 24 h): both
interpreters run the same firmware on the same scenario, so they must log the same fixes."""

import subprocess
import sys

import pytest

from emtag.host import unixport
from emtag.tools import bench_sim


@pytest.mark.skipif(unixport.binary() is None, reason="MicroPython unix port not installed")
def test_micropython_and_cpython_agree_and_the_ratio_is_printed(tmp_path):
    mp = bench_sim.measure(bench_sim.EXAMPLE, 0.25, "micropython", str(tmp_path / "mp"))
    cp = bench_sim.measure(bench_sim.EXAMPLE, 0.25, "cpython", str(tmp_path / "cp"))
    assert mp[0] == cp[0] == 900 and mp[2] == cp[2] > 0
    r = subprocess.run(
        [sys.executable, "-m", "emtag.cli.main", "bench", "sim", "--hours", "0.1", "--no-cpython"],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "target: 500x real time on MicroPython" in r.stdout


def test_bad_hours_are_a_clear_error():
    r = subprocess.run(
        [sys.executable, "-m", "emtag.cli.main", "bench", "sim", "--hours", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 2 and "--hours must be above 0" in r.stderr
