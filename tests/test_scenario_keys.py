"""Scenario files refuse what they do not know (simulator/scenario_keys.py): an unknown key
in any table, an unknown alert, metric, sim event or zone in [[expect]], each by name, with
the file, the table and the nearest valid name."""

import glob
import os

import pytest

from emtag.cli import main as cli
from emtag.simulator import scenario

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
HEAD = (
    'name = "x"\nstart = "2026-03-02T09:00:00Z"\nduration_s = 60\n'
    'route = "%s"\nzones = "%s"\n'
    % (
        os.path.join(EXAMPLES, "routes", "park-loop.geojson"),
        os.path.join(EXAMPLES, "zones", "victim-home.geojson"),
    )
)


def test_every_example_loads():
    paths = sorted(glob.glob(os.path.join(EXAMPLES, "*.toml")))
    assert len(paths) >= 10
    for path in paths:
        assert scenario.load(path).duration_s > 0


@pytest.mark.parametrize(
    "body, words",
    [
        ("[link]\nlatncy_ms = 200\n", "[link]: unknown key 'latncy_ms' (did you mean latency_ms?)"),
        ("sede = 3\n", "the top level: unknown key 'sede' (did you mean seed?)"),
        ("[gnss]\nenviroment = 'indoor'\n", "[gnss]: unknown key 'enviroment' (did you mean "
                                            "environment?)"),
        ("[gnss]\nttff_s = {cold = 30, wram = 20}\n", "[gnss] ttff_s: unknown key 'wram' (did "
                                                      "you mean warm?)"),
        ("[power]\nbattery_mha = 900\n", "[power]: unknown key 'battery_mha' (did you mean "
                                         "battery_mah?)"),
        ("[tag]\nconfig = {fix_intervl_s = 30}\n", "[tag] config: unknown key 'fix_intervl_s' "
                                                   "(did you mean fix_interval_s?)"),
        ("[rtc]\ndrift = 3\n", "[rtc]: unknown key 'drift' (did you mean drift_ppm?)"),
        ("[[link.outage]]\nstart_s = 1\nend = 9\n", "[[link.outage]] #1: unknown key 'end' "
                                                    "(did you mean end_s?)"),
        ("[[event]]\nat_s = 5\ntype = 'strap_cut'\nduraton_s = 9\n",
         "[[event]] #1 (strap_cut): unknown key 'duraton_s' (did you mean duration_s?)"),
        ("[[event]]\nat_s = 5\ntype = 'strap_snip'\n", "[[event]] #1: unknown type 'strap_snip'"),
        ("[[expect]]\nalert = 'exclusion_breach'\n[[expect]]\nalert = 'exclusion_breech'\n",
         "[[expect]] #2: unknown alert 'exclusion_breech' (did you mean exclusion_breach?)"),
        ("[[expect]]\nalert = 'strap_tamper'\nwithin = 60\n",
         "[[expect]] #1: unknown key 'within' (did you mean within_s?)"),
        ("[[expect]]\nmetric = 'days_per_chrage'\nmin = 1\n",
         "[[expect]] #1: unknown metric 'days_per_chrage' (did you mean days_per_charge?)"),
        ("[[expect]]\nalert = 'strap_tamper'\nafter = 'strap_cuts'\n",
         "unknown after (a sim event) 'strap_cuts' (did you mean strap_cut?)"),
        ("[[expect]]\nalert = 'exclusion_breach'\nzone = 'victim_home'\n",
         "[[expect]] #1: unknown zone 'victim_home' (did you mean victim-home?)"),
    ],
)
def test_unknown_names_are_refused_by_name(tmp_path, body, words):
    path = tmp_path / "bad.toml"
    path.write_text(HEAD + body)
    with pytest.raises(scenario.ScenarioError) as e:
        scenario.load(str(path))
    text = str(e.value)
    assert text.startswith(str(path) + ": ") and words in text, text


def test_the_command_line_says_it_and_runs_nothing(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(HEAD + "[link]\nlatncy_ms = 200\n")
    out = tmp_path / "out"
    assert cli.main(["sim", str(path), "--interpreter", "cpython", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "did you mean latency_ms?" in err and "Traceback" not in err
    assert not out.exists()
