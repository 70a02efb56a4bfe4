"""Power cuts under MicroPython's littlefs: a CI-sized sample of `python -m emtag.tools.powercut`
(the full 1,000 cuts run in about 10 s: `python -m emtag.tools.powercut --cuts 1000`)."""

import os
import subprocess

import pytest

import emtag.firmware
import emtag.protocol
from emtag.host import unixport
from emtag.tools import powercut

pytestmark = pytest.mark.skipif(unixport.binary() is None, reason="no MicroPython unix port")


def test_record_log_survives_power_cuts_in_every_phase():
    s = powercut.powercut(cuts=300, per_run=50, seed=11)
    assert s["failures"] == []
    assert s["cuts"] == 300 and s["runs_done"] == s["runs"]
    for phase in ("append", "ack", "reclaim", "restart"):
        assert s["by_phase"].get(phase, 0) >= 15, s["by_phase"]
    assert s["torn"] > 100


def _mutant_stage(tmp_path, old, new):
    """A MicroPython path where emtag.firmware.recordlog has `old` replaced by `new`."""
    src_dir = list(emtag.firmware.__path__)[0]
    fw = tmp_path / "emtag" / "firmware"
    fw.mkdir(parents=True)
    for name in os.listdir(src_dir):
        if name.endswith(".py") and name != "recordlog.py":
            os.symlink(os.path.join(src_dir, name), fw / name)
    (fw / "boards").symlink_to(os.path.join(src_dir, "boards"))
    src = open(os.path.join(src_dir, "recordlog.py")).read()
    assert old in src
    (fw / "recordlog.py").write_text(src.replace(old, new))
    os.symlink(list(emtag.protocol.__path__)[0], tmp_path / "emtag" / "protocol")
    return str(tmp_path)


def test_the_check_catches_a_log_that_mishandles_an_interrupted_append(tmp_path):
    # a power cut between creating a new segment and committing its first entry leaves an
    # empty newest segment; a log that stops looking there loses its place in the sequence
    stage = _mutant_stage(
        tmp_path,
        "            if last is None:\n                # created",
        "            if last is None:\n                return\n                # created",
    )
    failed = []
    for run in range(3):
        points, torns = powercut.plan(11, run, 50)
        proc = subprocess.run(
            unixport.command(
                [powercut.DEVICE_SCRIPT, str(run), ",".join(points), ",".join(map(str, torns))],
                powercut.HEAPSIZE,
            ),
            env=dict(os.environ, MICROPYPATH=stage + os.pathsep + ".frozen"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        failed += powercut.parse(run, proc.stdout, proc.stderr, proc.returncode)["failures"]
    assert any("last_seq" in f for f in failed), failed
