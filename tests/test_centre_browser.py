"""The centre's web app in a real browser (Playwright driving the system's Chromium): sign
in, the alert queue receiving a live alert from a tag (a real `emtag bridge` fed by a test
tag over TCP, forwarding over a real mosquitto to `emtag centre serve --mqtt`, whose store
reading is slowed to once a minute so only MQTT can make it live), acknowledgement, the
tag's page with its trail, and the weekly overview. Screenshots go to the test's folder
(EMTAG_SCREENSHOTS=DIR keeps them)."""

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
from bridgeproc import BridgeProc
from centreapp import PASSWORDS, add_users
from sftag import SocketLink, Tag, free_port
from test_store_forward import Mosquitto

from emtag.host.store import open_store

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) or importlib.util.find_spec("playwright") is None,
    reason="needs the system's Chromium and Playwright (tools/setup.sh)",
)


class Centre:
    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emtag.cli.main", "centre", "serve", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text, timeout=20):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(text in line for line in self.lines):
                return
            assert self.proc.poll() is None, "\n".join(self.lines)
            time.sleep(0.05)
        raise AssertionError("centre never said %r:\n%s" % (text, "\n".join(self.lines)))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(15)


def _pump(tag, port, until):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        assert tag.pump(SocketLink(s), until, timeout=30)
    finally:
        s.close()


def test_sign_in_live_alert_acknowledge_tag_page_and_weekly_report(tmp_path):
    shots = os.environ.get("EMTAG_SCREENSHOTS") or str(tmp_path / "shots")
    os.makedirs(shots, exist_ok=True)
    db = str(tmp_path / "centre.sqlite")
    tag = Tag(seed=11)
    add_users(db, devices_for_olly=[tag.device])
    broker = Mosquitto(tmp_path).start()
    tag_port, web_port = free_port(), free_port()
    bridge = BridgeProc("--listen", "tcp://127.0.0.1:%d" % tag_port, "--store", db,
                        "--mqtt", broker.url, "--quiet")  # fmt: skip
    centre = None
    try:
        bridge.wait_for("listening")
        tag.add(30)  # half an hour of fixes, no alert yet
        _pump(tag, tag_port, lambda: tag.log.acked == tag.last_seq)
        centre = Centre("--store", db, "--mqtt", broker.url, "--poll", "60",
                        "--listen", "127.0.0.1:%d" % web_port)  # fmt: skip
        centre.wait_for("serving on")
        centre.wait_for("mqtt connected")
        base = "http://127.0.0.1:%d" % web_port
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))

            # sign in (a wrong password first: a clear message, no session)
            page.goto(base + "/queue")
            assert page.url.startswith(base + "/login")
            page.fill("input[name=name]", "olly")
            page.fill("input[name=password]", "not the password")
            page.click("button[type=submit]")
            assert "Wrong user name or password" in page.inner_text("#error")
            page.screenshot(path=os.path.join(shots, "01-login-failed.png"))
            errors.clear()  # the failed sign-in's 401, logged by the browser
            page.fill("input[name=password]", PASSWORDS["olly"])
            page.click("button[type=submit]")
            page.wait_for_url(base + "/queue")
            page.wait_for_selector("#live.on", timeout=10000)
            assert "Nothing waiting" in page.inner_text("#queue")

            # the tag raises a strap alert: the bridge stores and forwards it, the page
            # shows it without a reload
            tag.add(5, alert_every=5)
            _pump(tag, tag_port, lambda: tag.log.acked == tag.last_seq)
            row = page.wait_for_selector("#open-alerts tr:has-text('strap_tamper')", timeout=15000)
            assert tag.device in row.inner_text()
            page.screenshot(path=os.path.join(shots, "02-queue-live-alert.png"), full_page=True)

            # acknowledge it with a note
            row.query_selector("input[name=text]").fill("wearer called, strap checked")
            row.query_selector("button.ack").click()
            page.wait_for_selector("#done-alerts tr:has-text('wearer called')")
            assert "Nothing waiting" in page.inner_text("#queue")
            page.screenshot(path=os.path.join(shots, "03-acknowledged.png"), full_page=True)

            # the tag's page: status, last position, the trail on the map (offline grid)
            page.click("#done-alerts a:has-text('%s')" % tag.device)
            page.wait_for_selector("#trail-info[data-count]")
            # every fix, and the position the alert carries
            assert page.get_attribute("#trail-info", "data-count") == str(tag.fixes + 1)
            assert "53.46" in page.inner_text("#last-fix")
            assert page.query_selector("#map canvas")  # the trail drawn (Leaflet on canvas)
            page.wait_for_selector("#map[data-cells]")
            assert int(page.get_attribute("#map", "data-cells")) >= 1  # the heatmap's cells
            page.screenshot(path=os.path.join(shots, "04-tag-page.png"), full_page=True)

            # the weekly overview
            page.click("#weekly-link")
            page.wait_for_load_state()
            assert "Weekly overview 2026-W10" in page.title()
            assert "strap_tamper" in page.inner_text("body")
            page.screenshot(path=os.path.join(shots, "05-weekly.png"), full_page=True)
            browser.close()
        assert errors == [], errors
        with open_store(db) as st:
            (a,) = st.alerts(device=tag.device)
            assert (a.alert, a.acked_by, a.note) == ("strap_tamper", "olly",
                                                     "wearer called, strap checked")
            actions = {e.action for e in st.audit_log(user="olly")}
            assert {"login_failed", "login", "ack", "view_tag", "view_trail", "view_heatmap",
                    "view_weekly"} <= actions  # fmt: skip
        for name in ("01-login-failed", "02-queue-live-alert", "03-acknowledged", "04-tag-page"):
            assert os.path.getsize(os.path.join(shots, name + ".png")) > 5000
    finally:
        if centre is not None:
            centre.stop()
        bridge.stop()
        broker.stop()
        if not os.environ.get("EMTAG_SCREENSHOTS"):
            shutil.rmtree(shots, ignore_errors=True)
