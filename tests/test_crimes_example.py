"""The crime-mapping walk-through of the README on a real simulated run: the
exclusion-breach tag (firmware, receiver model, bridge) and examples/crimes/."""

import csv
import os
import sqlite3

from emtag.cli.main import main

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def test_the_example_incidents_against_the_exclusion_breach_walk(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["sim", os.path.join(EXAMPLES, "exclusion-breach.toml"), "--out", out,
                 "--interpreter", "cpython"]) == 0  # fmt: skip
    db = os.path.join(out, "store.sqlite")
    (device,) = sqlite3.connect(db).execute("SELECT device FROM devices").fetchone()
    assert main(["crimes", "eligible", device, "--store", db, "--by", "alice",
                 "--reason", "risk assessment"]) == 0  # fmt: skip
    hits = str(tmp_path / "hits.csv")
    code = main(["crimes", "match", "--store", db, "--operator", "bob", "-o", hits,
                 "--incidents", os.path.join(EXAMPLES, "crimes", "incidents.csv"),
                 "--policy", os.path.join(EXAMPLES, "crimes", "london-pilot.toml"),
                 "--bundles", str(tmp_path / "ev")])  # fmt: skip
    capsys.readouterr()
    assert code == 0
    with open(hits) as f:
        rows = {r["incident_id"]: r for r in csv.DictReader(f)}
    # at the victim's door while the wearer stood there; 250 m off the street a minute
    # before (only by running); 2 km away (nowhere near: no row); two refused
    assert rows["EX-1"]["answer"] == "placed" and int(rows["EX-1"]["placing_records"]) >= 3
    assert rows["EX-2"]["answer"] == "could_have_been_there" and rows["EX-2"]["mode"] == "running"
    assert "EX-3" not in rows
    assert rows["EX-4"]["answer"] == rows["EX-5"]["answer"] == "refused"
    for key in ("EX-1", "EX-2"):
        bundle = os.path.join(tmp_path, "ev", rows[key]["bundle"])
        assert main(["verify", bundle]) == 0
