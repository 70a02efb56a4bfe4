"""`emtag bench crimes` at a size the suite can afford: the same code as the recorded runs
(simulated wearers through the real firmware and bridge, incidents against the routes'
truth, the naive matcher; a synthetic store for speed), and the goals the README records:
no true incident missed, no false placement."""

import json

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
    s = out["speed"]["sqlite"]
    assert s["fixes"] == 60 * 1440 and s["tiles"] == 60 * 144
    assert sum(s["answers"].values()) > 0 and s["match_s"] > 0 and s["naive_s"] > 0
