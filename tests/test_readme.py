"""The README's first walk through, run literally in a fresh copy of the repository, the
way a new user would: its own `.venv` made by the demo, `emtag` on the PATH by activating
it, every command in the order written, each expected to succeed."""

import os
import re
import shutil
import signal
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def walkthrough():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    section = text.split("## A first walk through", 1)[1]
    m = re.search(r"```sh\n(.*?)```", section, re.S)
    assert m, "no ```sh block under 'A first walk through'"
    return m.group(1)


def fresh_copy(dest):
    """The tracked files of this checkout as they are now (a clean clone in CI)."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for rel in filter(None, (f.decode() for f in files)):
        src = os.path.join(ROOT, rel)
        if os.path.isfile(src):
            os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, rel))


def test_the_walkthrough_names_the_commands_it_documents():
    block = walkthrough()
    assert block.startswith("bash tools/demo.sh")
    assert ". .venv/bin/activate" in block
    for cmd in ("store devices", "export", "verify", "zones compile", "bridge", "fit info"):
        assert "emtag " + cmd in block, cmd


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to list the files")
def test_the_walkthrough_runs_literally_in_a_fresh_clone(tmp_path):
    clone = tmp_path / "emtag"
    fresh_copy(str(clone))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMTAG_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    script = "set -euo pipefail -x\n" + walkthrough()
    proc = subprocess.Popen(
        ["bash", "-c", script], cwd=str(clone), env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=900)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # background bridge or tag left by a failure
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, out[-6000:]
    assert "PASS  exclusion_breach" in out  # the demo ran to its check
    assert "alert=exclusion_breach" in out and "alert=exclusion_clear" in out
    assert "installed 1 zone" in out
    assert os.path.exists(clone / "out" / "demo" / "evidence.zip")


def _documented_events():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    table = text.split("## Events (", 1)[1].split("\n## ", 1)[0]
    names = set()
    for line in table.splitlines():
        cells = line.split("|")
        if len(cells) > 3 and cells[1].strip() in ("sim", "tag", "bridge"):
            names |= set(re.findall(r"`([a-z_]+)`", cells[2]))
    return names


def _emitted_events():
    """Event types the code emits by name: event/emit/_log calls and events.add(...)."""
    found = {}
    call = re.compile(r"(?:\.event|\bemit|\b_log|\b_event)\(\s*([^,)]*)")
    add = re.compile(r"events\.add\(\s*[^,]+,\s*\"(?:sim|tag|bridge)\",\s*([^,)]*)", re.S)
    for folder in ("firmware", "host", "simulator"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for fn in files:
                if not fn.endswith(".py"):
                    continue
                path = os.path.join(dirpath, fn)
                with open(path) as f:
                    src = f.read()
                for m in list(call.finditer(src)) + list(add.finditer(src)):
                    for name in re.findall(r"\"([a-z_]+)\"", m.group(1)):
                        found.setdefault(name, os.path.relpath(path, ROOT))
    return found


def test_every_event_the_code_emits_is_in_the_readme():
    emitted = _emitted_events()
    assert {"checkpoint", "hello", "fix", "battery", "strap_cut"} <= set(emitted)  # the scan works
    missing = {n: where for n, where in emitted.items() if n not in _documented_events()}
    assert not missing, "events missing from the README's table: %s" % missing
