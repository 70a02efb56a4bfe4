"""Escalations leave the centre on MQTT (centre/notify.py), through a real mosquitto: an
officer's escalation and the automatic one each published once, with the alert they are
about; one made while the broker is down goes out when it is back; a restarted centre
repeats none."""

import json
import time

import pytest
from centreapp import Running, add_users
from test_store_backends import D1, load_sample
from test_store_forward import Mosquitto

from emtag.centre import alertqueue
from emtag.host.store import open_store


class Watcher:
    """A subscriber to the escalation topics."""

    def __init__(self, broker):
        import paho.mqtt.client as mqtt

        self.got = []
        # a gateway's session outlives a broker restart, as a real one's would
        c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                        client_id="pager-gateway", clean_session=False)  # fmt: skip
        c.reconnect_delay_set(0.1, 0.5)
        ready = []
        c.on_connect = lambda c, u, f, rc, p: c.subscribe("emtag/centre/escalation/#", qos=1)
        c.on_subscribe = lambda *a: ready.append(1)
        c.on_message = lambda c, u, msg: self.got.append((msg.topic, json.loads(msg.payload)))
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        self.c = c
        assert self.wait_for(lambda: ready)

    @staticmethod
    def wait_for(cond, timeout=15):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return True
            time.sleep(0.05)
        return False

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def escalate(store_url, ref, reason):
    with open_store(store_url) as st:
        assert alertqueue.escalate(st, alertqueue.find(st, ref), "olly", reason)


@pytest.fixture
def broker(tmp_path):
    b = Mosquitto(tmp_path).start()
    yield b
    b.stop()


def test_each_escalation_is_published_once_even_across_broker_and_centre_restarts(
    tmp_path, broker
):
    store_url = str(tmp_path / "centre.sqlite")
    with open_store(store_url) as st:
        load_sample(st)
        st.acknowledge_alert(D1, 31, "boss", "2026-03-02T09:30:00Z")  # the curfew breach
    add_users(store_url)
    watcher = Watcher(broker)
    run = Running(store_url, escalate_after_s=1, mqtt=broker.url)
    try:
        # the exclusion breach D1/11 escalates by itself after a second
        assert watcher.wait_for(lambda: watcher.got), run.log
        topic, body = watcher.got[0]
        assert topic == "emtag/centre/escalation/" + D1
        assert body["ref"] == "%s/11" % D1 and body["alert"] == "exclusion_breach"
        assert body["by"] == "centre" and body["zone"] == "victim-home"
        assert body["device"] == D1 and "unacknowledged for" in body["reason"]

        # an officer's escalation while the broker is down goes out once it is back
        broker.stop()
        escalate(store_url, "%s/31" % D1, "no answer at the approved address")
        run.app.escalated()
        time.sleep(1.5)
        broker.start()
        assert watcher.wait_for(lambda: len(watcher.got) >= 2, timeout=30), run.log
        assert watcher.got[1][1]["ref"] == "%s/31" % D1
        assert watcher.got[1][1]["by"] == "olly"
    finally:
        run.stop()
    # a restarted centre sends nothing again, and the next escalation once
    run = Running(store_url, escalate_after_s=1, mqtt=broker.url)
    try:
        escalate(store_url, "%s/41" % D1, "battery warning ignored twice")
        run.app.escalated()
        assert watcher.wait_for(lambda: len(watcher.got) >= 3), run.log
        time.sleep(1.5)
    finally:
        run.stop()
        watcher.close()
    refs = [b["ref"] for _, b in watcher.got]
    assert refs == ["%s/11" % D1, "%s/31" % D1, "%s/41" % D1]


def test_a_centre_notifying_for_the_first_time_starts_after_the_newest_escalation(
    tmp_path, broker
):
    store_url = str(tmp_path / "centre.sqlite")
    with open_store(store_url) as st:
        load_sample(st)
    add_users(store_url)
    escalate(store_url, "%s/11" % D1, "made before the centre notified")
    watcher = Watcher(broker)
    run = Running(store_url, escalate_after_s=3600, mqtt=broker.url)
    try:
        escalate(store_url, "%s/31" % D1, "after")
        run.app.escalated()
        assert watcher.wait_for(lambda: watcher.got), run.log
        time.sleep(1.0)
    finally:
        run.stop()
        watcher.close()
    assert [b["ref"] for _, b in watcher.got] == ["%s/31" % D1]
