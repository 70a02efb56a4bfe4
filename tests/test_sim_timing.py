"""Alert times on the tag's UTC: a strap cut stamped at the instant it happened, whatever
the receiver's UART speed. The tag ties GNSS UTC to its board clock by when the receiver
began sending an epoch (firmware/tag.py), not by when the epoch had all arrived and the
line gone quiet, which made every alert the tag timed itself 0.56 s early (0.76 s at
9600 baud)."""

import os
import sqlite3

import pytest

from emtag.simulator import scenario, simulate

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


@pytest.mark.parametrize("profile", ["ublox-m8", "gps-only"])
def test_a_strap_cut_is_stamped_when_it_happened(profile, tmp_path):
    sc = scenario.load(os.path.join(EXAMPLES, "strap-cut.toml"))
    sc.duration_s = 1000
    sc.environment = "suburban"  # fixes from the start: the tag knows UTC before the cut
    from emtag.simulator import receiver

    sc.hardware.gnss = receiver.profile(profile)
    sc.hardware.events[0].t_ms += 437  # off the whole second
    cut_ms = sc.hardware.events[0].t_ms
    simulate.simulate(sc, str(tmp_path), "cpython")
    db = sqlite3.connect(tmp_path / "store.sqlite")
    try:
        t, t_ms = db.execute("SELECT t, t_ms FROM records WHERE alert='strap_tamper'").fetchone()
    finally:
        db.close()
    assert abs(t * 1000 + t_ms - cut_ms) <= 5, (t * 1000 + t_ms - cut_ms, profile)
