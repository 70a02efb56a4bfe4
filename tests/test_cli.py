import os
import subprocess
import sys
import tomllib

import pytest

from emtag.cli import main as cli


def emtag(*args):
    return subprocess.run(
        [sys.executable, "-m", "emtag.cli.main", *args], capture_output=True, text=True, timeout=120
    )


def test_version():
    """--version says the version pyproject.toml declares."""
    with open(os.path.join(os.path.dirname(__file__), "..", "pyproject.toml"), "rb") as f:
        declared = tomllib.load(f)["project"]["version"]
    r = emtag("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == "emtag " + declared


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_subcommand_has_help(command):
    r = emtag(command, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: emtag " + command)
    assert len(r.stdout.splitlines()) > 3


def test_no_command_prints_help_and_fails():
    r = emtag()
    assert r.returncode == 2
    assert "COMMAND" in r.stdout


def test_missing_scenario_is_a_clear_error():
    r = emtag("sim", "/nonexistent/scenario.toml", "--out", "/tmp/emtag-none")
    assert r.returncode == 2
    assert "cannot read scenario /nonexistent/scenario.toml" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("command", ["nmea", "verify"])
def test_a_closed_pipe_ends_output_quietly(command, tmp_path):
    """`emtag ... | head`: no BrokenPipe traceback, exit status 0 (cli/main.py)."""
    corpus = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus", "gpsd")
    if command == "nmea":
        if not os.path.isdir(corpus):
            pytest.skip("gpsd corpus not found at " + corpus)
        logs = sorted(f for f in os.listdir(corpus) if f.endswith(".log"))[:20]
        args = ["nmea"] + [os.path.join(corpus, f) for f in logs]
    else:
        from emtag.simulator import scenario, simulate  # a store, then a long listing

        out = tmp_path / "sim"
        sc = scenario.load(
            os.path.join(os.path.dirname(__file__), "..", "examples", "exclusion-breach.toml")
        )
        simulate.simulate(sc, str(out), "cpython")
        bundle = tmp_path / "b.zip"
        assert cli.main(["export", "--store", str(out / "store.sqlite"), "--from", "0",
                         "--to", "4000000000", "-o", str(bundle)]) == 0
        args = ["verify"] + [str(bundle)] * 200  # more than a pipe buffer holds
    p = subprocess.Popen([sys.executable, "-m", "emtag.cli.main", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()  # as `head -1` does
    err = p.stderr.read().decode()
    assert p.wait(120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
