#!/usr/bin/env bash
# Sets up a development environment from scratch: .venv with emtag and its test tools.
# Safe to run again; it only installs what is missing. Used by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "emtag needs Python 3.11 or newer (found: $("$PY" --version 2>&1))" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv" >&2
    "$PY" -m venv .venv || {
        echo "setup: python3 -m venv failed; on Debian install python3-venv (apt-get install python3-venv)" >&2
        exit 1
    }
fi
stamp=.venv/.emtag-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing emtag and its test tools into .venv (first run takes a few minutes)" >&2
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test]'
    touch "$stamp"
fi
