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
