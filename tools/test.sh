#!/usr/bin/env bash
# The whole test suite: static checks (ruff; mypy of device code against MicroPython's
# stubs), then pytest, which runs every device test on CPython and on MicroPython.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh --test
echo "== ruff" >&2
.venv/bin/ruff check .
echo "== mypy (device code against MicroPython stubs)" >&2
.venv/bin/python -m emtag.tools.typecheck_device
echo "== pytest" >&2
# one worker per core; a test file stays on one worker (its MicroPython run is shared)
exec .venv/bin/python -m pytest -n "${EMTAG_TEST_JOBS:-auto}" --dist loadfile "$@"
