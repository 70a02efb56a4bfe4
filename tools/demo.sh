#!/usr/bin/env bash
# The demo: a simulated tag walks into a victim's exclusion zone; the firmware runs on the
# MicroPython unix port, the bridge verifies and stores its signed uploads.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/emtag sim examples/exclusion-breach.toml --out out/demo "$@"
