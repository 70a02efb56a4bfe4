#!/usr/bin/env bash
# Sets up an environment from scratch: .venv with emtag (demo.sh), and with --test also its
# test tools and the system parts the tests use (mosquitto, chromium, PostgreSQL; test.sh).
# Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
TEST=0
[ "${1:-}" = "--test" ] && TEST=1

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
if [ "$TEST" = 1 ]; then
    # mosquitto: the real MQTT broker the bridge's forwarding tests run against
    if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "setup: installing mosquitto (apt-get)" >&2
            (apt-get update -qq && apt-get install -y -qq mosquitto >/dev/null) ||
                echo "setup: could not install mosquitto; the MQTT tests will be skipped" >&2
        else
            echo "setup: mosquitto not found; the MQTT tests will be skipped. Install it with:" \
                "sudo apt-get install mosquitto (Debian/Ubuntu), brew install mosquitto (macOS)" >&2
        fi
    fi
    # chromium: the headless browser the simulator's HTML report test renders the report in
    if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 &&
        ! command -v google-chrome >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "setup: installing chromium (apt-get; the report test renders in it)" >&2
            (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) ||
                echo "setup: could not install chromium; the report test will be skipped" >&2
        else
            echo "setup: chromium not found; the report test will be skipped. Install it with:" \
                "sudo apt-get install chromium (Debian), chromium-browser (Ubuntu)," \
                "brew install --cask chromium (macOS)" >&2
        fi
    fi
    # PostgreSQL: the store's second backend (no PostGIS: no query needs it, see the README); the tests start their own throwaway
    # server from these binaries (emtag.tools.pgserver), so no cluster is created or started here
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "setup: installing postgresql (apt-get)" >&2
            mkdir -p /etc/postgresql-common
            [ -f /etc/postgresql-common/createcluster.conf ] ||
                echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
            (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends postgresql >/dev/null) ||
                echo "setup: could not install postgresql; the PostgreSQL store tests will be skipped" >&2
        else
            echo "setup: PostgreSQL not found; its store tests will be skipped. Install it with:" \
                "sudo apt-get install postgresql (Debian/Ubuntu)," \
                "brew install postgresql (macOS)" >&2
        fi
    fi
fi
if [ "$TEST" = 1 ]; then
    stamp=.venv/.emtag-installed-test what="emtag and its test tools" spec='.[test]'
else
    stamp=.venv/.emtag-installed what="emtag" spec='.'
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing $what into .venv (first run takes a few minutes)" >&2
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e "$spec"
    touch "$stamp"
fi
