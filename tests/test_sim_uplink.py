"""A standalone `emtag bridge` fed by a simulated tag in real time (`emtag sim --serve
--uplink`): the README's way to try a bridge, its store and its forwarding without hardware."""

import os
import re
import subprocess
import sys

from bridgeproc import BridgeProc

from emtag.host.store import open_store

ROOT = os.path.join(os.path.dirname(__file__), "..")


def sim(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "emtag.cli.main", "sim", "--serve", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )


def test_a_simulated_tag_uploads_to_a_standalone_bridge(tmp_path):
    db = str(tmp_path / "store.sqlite")
    br = BridgeProc("--listen", "tcp://127.0.0.1:0", "--store", db)
    try:
        port = re.search(r"address=tcp://127\.0\.0\.1:(\d+)", br.wait_for("listening")).group(1)
        r = sim(
            "examples/exclusion-breach.toml", "--speed", "300", "--to-end", "--quiet",
            "--interpreter", "cpython", "--port", "tcp:0", "--uplink", "tcp:127.0.0.1:" + port,
            "--out", str(tmp_path / "sim"),
        )
        assert r.returncode == 0, r.stderr
        br.wait_for("alert=exclusion_breach")
        br.wait_for("alert=exclusion_clear")
    finally:
        br.stop()
    with open_store(db, create=False) as st:
        (dev,) = st.devices()
        kinds = [a.alert for a in st.alerts(dev.device)]
    assert "exclusion_breach" in kinds and "exclusion_clear" in kinds
    # the simulator's own bridge stored nothing: every record went to the standalone one
    with open_store(str(tmp_path / "sim" / "store.sqlite"), create=False) as own:
        assert own.devices() == []


def test_uplink_to_nowhere_is_a_clear_error(tmp_path):
    r = sim("--uplink", "tcp:127.0.0.1:1", "--port", "tcp:0", "--interpreter", "cpython",
            "--out", str(tmp_path / "sim"), timeout=60)
    assert r.returncode == 2
    assert "cannot reach a bridge at tcp:127.0.0.1:1" in r.stderr
    assert "Traceback" not in r.stderr


def test_uplink_needs_serve(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "emtag.cli.main", "sim", "examples/exclusion-breach.toml",
         "--uplink", "tcp:1"], capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert r.returncode == 2 and "--uplink works with --serve" in r.stderr
