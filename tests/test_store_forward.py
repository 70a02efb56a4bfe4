"""No loss between the tag and the monitoring centre: a week without a link, a bridge killed
with SIGKILL mid-batch, an MQTT broker that goes away and comes back."""

import datetime
import json
import os
import random
import shutil
import socket
import subprocess
import threading
import time

import pytest
from bridgeproc import BridgeProc
from sftag import SocketLink, Tag, free_port

from emtag.firmware import evidence
from emtag.host import forward
from emtag.host.serial_bridge import Bridge
from emtag.host.store import open_store
from emtag.protocol import cbor
from emtag.protocol import messages as m

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def store_rows(db_path, device):
    """(seq, status, type) of every record stored for the device."""
    with open_store(db_path, create=False) as st:
        return [(r[0], status, r[1]) for status in ("valid", "early", "rejected")
                for r in st.records(device, status)]  # fmt: skip


def assert_once_in_order(db_path, tag):
    rows = store_rows(db_path, tag.device)
    valid = [seq for seq, status, _ in rows if status == "valid"]
    assert sorted(valid) == list(range(1, tag.last_seq + 1)), "lost or duplicated"
    assert [r for r in rows if r[1] not in ("valid", "early")] == []
    early = [seq for seq, status, _ in rows if status == "early"]
    assert len(early) == len(set(early)) and set(early) <= set(tag.alerts)


# --- a week without a link ---------------------------------------------------------------


def _plus(iso, seconds):
    t = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (t + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_a_seven_day_outage_delivers_every_record_once_and_in_order(tmp_path):
    from emtag.simulator import scenario, simulate

    sc = scenario.load(os.path.join(REPO, "examples", "link-outage-7d.toml"))
    result = simulate.simulate(sc, str(tmp_path), "cpython")
    evs = [json.loads(line) for line in open(tmp_path / "events.jsonl")]
    device = result["device"]
    down = next(e["t"] for e in evs if e["type"] == "link_down")
    up = next(e["t"] for e in evs if e["type"] == "link_up")
    tag_fixes = [e for e in evs if e["source"] == "tag" and e["type"] == "fix"]
    during = [e for e in tag_fixes if down < e["t"] < up]
    assert len(during) > 7 * 24 * 10  # a week of fixes (at rest: one each 5 minutes)
    # nothing reached the bridge during the week, and nothing was thinned
    stored = [e for e in evs if e["source"] == "bridge" and e["type"] == "records_stored"]
    assert not [e for e in stored if down < e["t"] < up]
    assert not [e for e in evs if e["type"] == "alert" and e.get("alert") == "storage_full"]
    rows = store_rows(str(tmp_path / "store.sqlite"), device)
    seqs = [q for q, status, _ in rows if status == "valid"]
    assert seqs == list(range(1, len(seqs) + 1))  # once each, no gap
    assert {e["seq"] for e in during} <= set(seqs)  # every fix of the week arrived
    others = [(status, kind) for _, status, kind in rows if status != "valid"]
    assert others == [("early", 2)]  # the alert's early copy (below), nothing rejected
    shutdown = next(e for e in evs if e["source"] == "tag" and e["type"] == "shutdown")
    assert shutdown["acked"] == seqs[-1]
    # all but the last few minutes' fixes, which wait on the tag for their checkpoint
    unsent = [e for e in tag_fixes if e["seq"] > seqs[-1]]
    assert len(unsent) <= evidence.SEAL_RECORDS
    assert result["stored_failed"] == 0 and result["rejected"] == 0
    # alerts first: the strap alert of day 4 reached the centre as the link came back,
    # ahead of the week's backlog, and then again in order (stored once as valid)
    (raised,) = [e for e in evs if e["source"] == "tag" and e["type"] == "alert"]
    assert down < raised["t"] < up and raised["alert"] == "strap_tamper"
    (early,) = [e for e in evs if e["source"] == "bridge" and e["type"] == "alert_early"]
    assert early["alert"] == "strap_tamper" and early["t"] < _plus(up, 60)
    covering = next(e for e in stored if e["upto"] >= early["seq"])
    assert early["t"] < covering["t"]
    with open_store(str(tmp_path / "store.sqlite"), create=False) as st:
        assert [r.alert for r in st.records_between(device, 0, 2**40, (2,))] == ["strap_tamper"]


# --- SIGKILL mid-batch ---------------------------------------------------------------------


def test_a_bridge_killed_mid_batch_loses_and_duplicates_nothing(tmp_path):
    rng = random.Random(3)
    tag = Tag(seed=7)
    tag.add(2500, alert_every=600)  # batches of up to 2 KB: a few hundred records each
    db = str(tmp_path / "s.sqlite")
    port = free_port()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    srv.settimeout(20)
    kills = []
    try:
        for round_ in range(4):
            br = BridgeProc("--port", "socket://127.0.0.1:%d" % port, "--store", db, "--quiet")
            conn, _ = srv.accept()
            link = SocketLink(conn)
            if round_ < 3:
                target = tag.log.acked + rng.randint(300, 600)

                def mid_batch(out, target=target):
                    sent = [cbor.loads(x)[0] for x in out]
                    return tag.log.acked >= target and m.RECORDS in sent

                assert tag.pump(link, lambda: False, timeout=30, on_sent=mid_batch)
                time.sleep(rng.random() * 0.004)  # somewhere inside verify, commit, ACK
                br.kill()
                kills.append(tag.log.acked)
            else:
                assert tag.pump(link, lambda: tag.log.acked == tag.last_seq, timeout=60)
                assert br.stop() == 0
            conn.close()
    finally:
        srv.close()
    assert len(kills) == 3 and kills[-1] < tag.last_seq
    assert_once_in_order(db, tag)


# --- MQTT --------------------------------------------------------------------------------


def mosquitto_binary():
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
    )


class Mosquitto:
    """A real broker on a free loopback port, with persistence (sessions survive restarts)."""

    def __init__(self, tmp_path):
        exe = mosquitto_binary()
        if exe is None:
            pytest.skip(
                "mosquitto is not installed (tools/setup.sh installs it: apt-get install mosquitto)"
            )
        self.exe = exe
        self.port = free_port()
        self.dir = tmp_path / "mosquitto"
        self.dir.mkdir(exist_ok=True)
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            "listener %d 127.0.0.1\nallow_anonymous true\npersistence true\n"
            "persistence_location %s/\nlog_dest stdout\n" % (self.port, self.dir)
        )
        self.proc = None

    def start(self):
        self.log = open(self.dir / "log.txt", "a")
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.conf), "-v"], stdout=self.log, stderr=subprocess.STDOUT
        )
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto did not start: %s" % (self.dir / "log.txt").read_text())

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # saves its persistence file
            self.proc.wait(10)
            self.log.close()
        self.proc = None

    @property
    def url(self):
        return "mqtt://127.0.0.1:%d" % self.port


class Subscriber:
    """An MQTT client with a persistent session subscribed to emtag/# at QoS 1."""

    def __init__(self, broker):
        import paho.mqtt.client as mqtt

        self.got = []
        self.subscribed = threading.Event()
        self.c = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id="monitoring-centre",
            clean_session=False,
        )
        self.c.reconnect_delay_set(0.1, 0.5)
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe("emtag/#", qos=1)
        self.c.on_subscribe = lambda *a: self.subscribed.set()
        self.c.on_message = lambda c, u, msg: self.got.append((msg.topic, json.loads(msg.payload)))
        self.c.connect("127.0.0.1", broker.port)
        self.c.loop_start()
        assert self.subscribed.wait(10)

    def wait(self, n, timeout=30):
        end = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < end:
            time.sleep(0.05)
        return len(self.got) >= n

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


class InProcessBridge:
    """Bridge (TCP listener) and forwarder in threads of this process."""

    def __init__(self, db, mqtt_url, events):
        def emit(kind, **f):
            events.append((kind, f))

        self.br = Bridge(db, emit)
        self.br.listen("tcp://127.0.0.1:0")
        self.port = self.br.addresses[0][1]
        self.fwd = forward.Forwarder(db, mqtt_url, emit, reconnect_max_s=0.5)
        self.br.on_commit = self.fwd.wake
        self.fwd.start()
        self.t = threading.Thread(target=self.br.run, daemon=True)
        self.t.start()

    def upload(self, tag):
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            assert tag.pump(SocketLink(s), lambda: tag.log.acked == tag.last_seq)

    def stop(self):
        self.br.stop()
        self.t.join(10)
        self.fwd.stop()


def received(sub, tag):
    fixes = [p["seq"] for t, p in sub.got if t == "emtag/%s/fix" % tag.device]
    alerts = [p["seq"] for t, p in sub.got if t == "emtag/%s/alert" % tag.device]
    return fixes, alerts


def expected(tag):
    fixes = [s for s, w in tag.log.read_from(1, 10**6) if w[0] != 0xD2]  # plain: fixes
    return fixes, sorted(tag.alerts)


def test_fixes_and_alerts_are_forwarded_once_at_qos1(tmp_path):
    broker = Mosquitto(tmp_path).start()
    sub = Subscriber(broker)
    events = []
    tag = Tag(seed=8)
    tag.add(90, alert_every=40)
    b = InProcessBridge(str(tmp_path / "s.sqlite"), broker.url, events)
    try:
        b.upload(tag)
        want_fixes, want_alerts = expected(tag)
        assert sub.wait(len(want_fixes) + len(want_alerts))
        time.sleep(0.3)  # nothing more must come
        fixes, alerts = received(sub, tag)
        assert sorted(fixes) == want_fixes and len(fixes) == len(set(fixes))
        assert sorted(alerts) == want_alerts and len(alerts) == len(set(alerts))
        alert = next(p for t, p in sub.got if t.endswith("/alert"))
        assert alert["alert"] == "strap_tamper" and alert["device"] == tag.device
        assert alert["proof"] in ("signature", "chain") and alert["record"]
        fix = next(p for t, p in sub.got if t.endswith("/fix"))
        assert fix["proof"] == "chain"
        assert abs(fix["lat"] - fix["lat_e7"] / 1e7) < 1e-9 and fix["t"].endswith("Z")
        assert b.fwd.drained()
    finally:
        b.stop()
        sub.close()
        broker.stop()


def test_with_the_broker_down_the_bridge_stores_and_later_forwards_the_backlog(tmp_path):
    broker = Mosquitto(tmp_path).start()
    sub = Subscriber(broker)  # the monitoring centre's persistent session
    broker.stop()
    db = str(tmp_path / "s.sqlite")
    events = []
    tag = Tag(seed=9)
    tag.add(60, alert_every=25)
    first = InProcessBridge(db, broker.url, events)
    try:
        first.upload(tag)  # stored and acknowledged while the broker is away
    finally:
        first.stop()  # and the bridge restarts before the broker is back
    with open_store(db, create=False) as st:
        backlog = st.outbox_backlog()
    want_fixes, want_alerts = expected(tag)
    assert backlog == len(want_fixes) + len(want_alerts) and sub.got == []
    second = InProcessBridge(db, broker.url, events)
    try:
        time.sleep(0.3)
        broker.start()
        assert sub.wait(backlog, timeout=30), (len(sub.got), backlog)
        fixes, alerts = received(sub, tag)
        assert sorted(fixes) == want_fixes and sorted(alerts) == want_alerts
        assert len(fixes) == len(set(fixes)) and len(alerts) == len(set(alerts))
        assert sub.got[0][0].endswith("/alert")  # alerts go first in a backlog
        assert any(kind == "mqtt_connected" for kind, _ in events)
        assert second.fwd.drained()
    finally:
        second.stop()
        sub.close()
        broker.stop()
    with open_store(db, create=False) as st:
        assert st.outbox_backlog() == 0


def test_a_full_log_thins_routine_fixes_raises_storage_full_and_loses_nothing_logged(
    tmp_path, monkeypatch
):
    """The at-home scenario with a tiny record-log budget (512 bytes, some 30 fixes) and a
    3-hour outage."""
    from emtag.firmware import recordlog
    from emtag.simulator import scenario, simulate

    monkeypatch.setattr(recordlog, "DEFAULT_MAX_BYTES", 512)
    sc = scenario.load(os.path.join(REPO, "examples", "link-outage-7d.toml"))
    sc.duration_s = 5 * 3600
    sc.link_outages = [(1800 * 1000, 12600 * 1000)]  # 08:30 to 11:30
    sc.hardware.events = []  # no strap cut in these five hours
    sc.expect = []
    result = simulate.simulate(sc, str(tmp_path), "cpython")
    evs = [json.loads(line) for line in open(tmp_path / "events.jsonl")]
    down = next(e["t"] for e in evs if e["type"] == "link_down")
    up = next(e["t"] for e in evs if e["type"] == "link_up")
    full = [e for e in evs if e["source"] == "tag" and e.get("alert") == "storage_full"]
    assert len(full) == 1 and down < full[0]["t"] < up
    fixes = [e["t"] for e in evs if e["source"] == "tag" and e["type"] == "fix"]
    before = [t for t in fixes if down < t < full[0]["t"]]
    thinned = [t for t in fixes if full[0]["t"] < t < up]
    assert len(before) >= 10  # a fix each 5 minutes until the log filled up...
    assert len(thinned) <= 1  # ...then at most one in 15 (1 per 75 min), none past 15/16
    assert len([t for t in fixes if t > _plus(up, 600)]) >= 10  # normal again once acked
    with open_store(str(tmp_path / "store.sqlite"), create=False) as st:
        seqs = [r[0] for r in st.records(result["device"])]
        assert seqs == list(range(1, len(seqs) + 1))
        alerts = st.records_between(result["device"], 0, 2**40, (2,))
        assert "storage_full" in [r.alert for r in alerts]
    assert result["stored_failed"] == 0 and result["rejected"] == 0
