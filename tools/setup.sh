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
# apt_install PACKAGE SKIPPED HINT [APT OPTIONS]: install a Debian package the tests use (as
# root, where apt-get exists); else say which tests will be skipped and how to install it
apt_install() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing $1 (apt-get)" >&2
        # shellcheck disable=SC2086  # the options are words
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${4:-} \
            "$1" >/dev/null) || echo "setup: could not install $1; $2 will be skipped" >&2
    else
        echo "setup: $1 not found; $2 will be skipped. Install it with: $3" >&2
    fi
}
if [ "$TEST" = 1 ]; then
    # mosquitto: the real MQTT broker the bridge's forwarding tests run against
    if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
        apt_install mosquitto "the MQTT tests" \
            "sudo apt-get install mosquitto (Debian/Ubuntu), brew install mosquitto (macOS)"
    fi
    # chromium: the headless browser the HTML report and web app tests render in
    if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 &&
        ! command -v google-chrome >/dev/null 2>&1; then
        apt_install chromium "the browser tests" \
            "sudo apt-get install chromium (Debian), chromium-browser (Ubuntu), brew install --cask chromium (macOS)"
    fi
    # PostgreSQL: the store's second backend (no PostGIS: no query needs it, see the README).
    # The tests start their own throwaway server from these binaries (emtag.tools.pgserver),
    # so no cluster is created or started here.
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ]; then
            mkdir -p /etc/postgresql-common
            [ -f /etc/postgresql-common/createcluster.conf ] ||
                echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
        fi
        apt_install postgresql "the PostgreSQL store tests" \
            "sudo apt-get install postgresql (Debian/Ubuntu), brew install postgresql (macOS)" \
            --no-install-recommends
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
