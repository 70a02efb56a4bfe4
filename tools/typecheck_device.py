"""Type-check the device code (firmware/ and protocol/) against MicroPython's stubs.

Installs micropython-stdlib-stubs and micropython-unix-stubs into .stubs/ (once) and runs
mypy with them as the standard library, so a CPython-only API in device code is an error.
Usage: python -m emtag.tools.typecheck_device
"""

import os
import subprocess
import sys

from emtag.host import unixport

STUBS = ["micropython-stdlib-stubs==1.29.*", "micropython-unix-stubs==1.29.*"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ensure_stubs(target):
    if not os.path.exists(os.path.join(target, "stdlib", "VERSIONS")):
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", target] + STUBS,
            check=True,
        )


def main(argv=None):
    target = os.path.join(REPO, ".stubs")
    ensure_stubs(target)
    stage = unixport.stage_dir()
    config = os.path.join(target, "mypy.ini")
    with open(config, "w") as f:
        # The stubs have errors of their own; report only ours.
        f.write("[mypy]\nignore_errors = True\n[mypy-emtag.*]\nignore_errors = False\n")
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        config,
        "--custom-typeshed-dir",
        target,
        "--explicit-package-bases",
        "--namespace-packages",
        "--check-untyped-defs",
        "--no-error-summary",
        "--python-version",
        "3.10",
        "--cache-dir",
        os.path.join(target, ".mypy_cache"),
        os.path.join("emtag", "firmware"),
        os.path.join("emtag", "protocol"),
    ]
    env = dict(os.environ, MYPYPATH=target)
    proc = subprocess.run(cmd, cwd=stage, env=env)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
