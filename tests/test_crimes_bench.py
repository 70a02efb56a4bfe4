"""`emtag bench crimes` at a size the suite can afford: the same code as the recorded runs
(simulated wearers through the real firmware and bridge, incidents against the routes'
truth, the naive matcher; a synthetic store for speed), and the goals the README records:
no true incident missed, no false placement."""

import json
import os
import pathlib
import tempfile

from emtag.cli.main import main


def test_a_small_quality_and_speed_run(tmp_path, capsys):
    code = main(["bench", "crimes", "--seeds", "7", "--tags", "3", "--hours", "3",
                 "--per-class", "15", "--speed-tags", "60", "--incidents", "40",
                 "--backend", "sqlite", "--dir", str(tmp_path), "--json"])  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    f = out["quality"]["policy"]["figures"]
    assert f["incidents"] == 45 and f["true_pairs"] > 0
    assert f["missed"] == 0 and f["false_placed"] == 0
    assert f["placed_true"] + f["could_true"] == f["true_pairs"]
    assert f["naive_hits"] > 0  # the peer reads the store's fixes (it once read none)
    s = out["speed"]["sqlite"]
    assert s["fixes"] == 60 * 1440 and s["tiles"] == 60 * 144
    assert sum(s["answers"].values()) > 0 and s["match_s"] > 0 and s["naive_s"] > 0


def test_the_postgresql_speed_store_is_kept_for_the_next_run(capsys, pg_server):
    """With --dir the PostgreSQL cluster stays there with its store, which the next run
    reuses instead of writing the day again (pg_server: skipped where PostgreSQL is not)."""
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)  # (as root the server runs as another user, who must get in)
        _run_twice(capsys, pathlib.Path(d))


def _run_twice(capsys, tmp_path):
    run = ["bench", "crimes", "--speed", "--backend", "postgresql", "--speed-tags", "20",
           "--incidents", "20", "--dir", str(tmp_path), "--json"]  # fmt: skip
    assert main(run) == 0
    first = json.loads(capsys.readouterr().out)["speed"]["postgresql"]
    assert main(run) == 0
    again = json.loads(capsys.readouterr().out)["speed"]["postgresql"]
    assert first["fixes"] == 20 * 1440 and first["answers"] == again["answers"]
    assert again["load_s"] == first["load_s"]  # made once: the second run read its record
    assert (tmp_path / "speed-pg" / "data" / "PG_VERSION").exists()
