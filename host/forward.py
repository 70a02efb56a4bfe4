"""MQTT forwarding of stored fixes and alerts (paho-mqtt, QoS 1).

Topics: emtag/<device>/fix and emtag/<device>/alert. The backlog is the store's `outbox`
table (host/store.py migration 3), filled by trigger in the same transaction that makes a
record valid (or stores an early alert), so nothing that was acknowledged to a tag can miss
MQTT. The forwarder publishes unforwarded rows, alerts first, then oldest first, with at
most INFLIGHT waiting for the broker's PUBACK; a PUBACK marks the row forwarded. While the
broker is away, records keep being stored and the backlog waits; when it returns (paho
reconnects with backoff), the backlog goes out. Delivery is at least once (MQTT QoS 1): a
message whose PUBACK was lost to a disconnect is published again; every payload carries
`device` and `seq`, so subscribers can drop repeats.

Payload (JSON, UTF-8):
    {"device": "efe8c7c2928c2f76", "seq": 42, "type": "fix" | "alert",
     "t": "2026-03-02T09:07:49.000Z",      # when the fix was taken / the alert began (UTC)
     "lat": 53.4631113, "lon": -2.293453,   # degrees (also lat_e7/lon_e7, exact)
     "lat_e7": 534631113, "lon_e7": -22934530, "acc_m": 8.48,
     "alert": "exclusion_breach", "zone": "victim-home",        # alerts only
     "proof": "chain" | "signature",        # chain-verified, or an early alert checked by
                                             # its own signature only (the chain follows)
     "received": "2026-03-02T09:07:59.530Z",  # when the bridge stored it
     "record": "<base64 of the record exactly as the tag sent it>"}

The forwarder runs in its own thread with its own store connection (SQLite in WAL mode or
PostgreSQL: it never blocks the bridge) and is woken by the bridge after each commit
(wake()). Several bridges on one PostgreSQL store each forward the whole outbox: still at
least once.
"""

import base64
import datetime
import json
import queue
import threading
import urllib.parse

INFLIGHT = 50
POLL_S = 1.0  # look at the outbox at least this often, even without a wake()


def parse_url(url):
    """(host, port) of mqtt://HOST[:PORT]; ValueError if it is not one."""
    u = urllib.parse.urlsplit(url)
    if u.scheme != "mqtt" or not u.hostname:
        raise ValueError("MQTT broker must be mqtt://HOST[:PORT], not %r" % url)
    try:
        port = u.port or 1883
    except ValueError:
        raise ValueError("bad port in %r" % url) from None
    return u.hostname, port


def _iso(t, t_ms):
    if t is None:
        return None
    dt = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t_ms or 0)


def payload(row):
    """The JSON message for an outbox row joined with its record (see the module docstring)."""
    device, seq, kind, t, t_ms, lat, lon, acc, alert, zone, status, received, wire = row
    msg = {"device": device, "seq": seq, "type": kind, "t": _iso(t, t_ms)}
    if lat is not None and lon is not None:
        msg.update(lat=lat / 1e7, lon=lon / 1e7, lat_e7=lat, lon_e7=lon)
    if acc is not None:
        msg["acc_m"] = acc / 100
    if kind == "alert":
        msg.update(alert=alert, zone=zone)
    msg["proof"] = "signature" if status == "early" else "chain"
    msg["received"] = received
    msg["record"] = base64.b64encode(wire).decode()
    return json.dumps(msg, separators=(",", ":"), sort_keys=True).encode()


class Forwarder:
    def __init__(
        self, store_path, url, emit=None, client_id=None, now_iso=None, reconnect_max_s=10
    ):
        import paho.mqtt.client as mqtt

        self.host, self.port = parse_url(url)
        self.url = url
        self.store_path = store_path
        self.emit = emit or (lambda kind, **f: None)
        self.now_iso = now_iso or (
            lambda: datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._acks = queue.Queue()  # mids the broker acknowledged (from paho's thread)
        self._lock = threading.RLock()  # paho may call back from inside publish()
        self._inflight = {}  # mid -> outbox id
        self._sent = set()  # outbox ids in flight
        self.connected = False
        self.forwarded = 0
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or "emtag-bridge",
            clean_session=True,
        )
        self.client.max_inflight_messages_set(INFLIGHT)
        self.client.reconnect_delay_set(
            min_delay=min(1, reconnect_max_s), max_delay=reconnect_max_s
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self._thread = None

    # paho's network thread
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.emit("mqtt_refused", broker=self.url, reason=str(reason_code))
            return
        with self._lock:
            self.connected = True
        self.emit("mqtt_connected", broker=self.url)
        self._wake.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        with self._lock:
            was = self.connected
            self.connected = False
            # whatever waited for a PUBACK is published again after reconnecting
            self._inflight.clear()
            self._sent.clear()
        if was:
            self.emit("mqtt_disconnected", broker=self.url, reason=str(reason_code))

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        self._acks.put(mid)
        self._wake.set()

    # the forwarder's thread
    def start(self):
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="emtag-forward", daemon=True)
        self._thread.start()

    def wake(self):
        self._wake.set()

    def stop(self, timeout=5):
        """Stop publishing; what waits for a PUBACK stays in the backlog (sent again next
        time: at least once)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.client.disconnect()
        self.client.loop_stop()

    def drained(self, timeout=10.0):
        """Wait until the outbox is empty (everything PUBACKed); True if it is."""
        import time

        from emtag.host.store import open_store

        end = time.monotonic() + timeout
        db = open_store(self.store_path)
        try:
            while True:
                if db.outbox_backlog() == 0:
                    return True
                if time.monotonic() > end:
                    return False
                time.sleep(0.05)
        finally:
            db.close()

    def _run(self):
        from emtag.host.store import open_store

        db = open_store(self.store_path)
        try:
            while not self._stop.is_set():
                self._wake.wait(POLL_S)
                self._wake.clear()
                self._mark(db)
                self._publish(db)
            self._mark(db)  # PUBACKs that came in meanwhile
        finally:
            db.close()

    def _mark(self, db):
        done = []
        while True:
            try:
                mid = self._acks.get_nowait()
            except queue.Empty:
                break
            with self._lock:
                oid = self._inflight.pop(mid, None)
                if oid is not None:
                    self._sent.discard(oid)
            if oid is not None:
                done.append(oid)
        if done:
            db.mark_forwarded(done, self.now_iso())
            self.forwarded += len(done)
            self.emit("forwarded", count=len(done), total=self.forwarded)

    def _publish(self, db):
        with self._lock:
            if not self.connected:
                return
            room = INFLIGHT - len(self._inflight)
            skip = set(self._sent)
        if room <= 0:
            return
        rows = db.outbox_pending(room + len(skip))
        for row in rows:
            oid = row[0]
            if oid in skip:
                continue
            topic = "emtag/%s/%s" % (row[1], row[3])
            with self._lock:
                if not self.connected:
                    return
                info = self.client.publish(topic, payload(row[1:]), qos=1)
                if info.rc != 0:
                    return  # not connected after all: the row stays in the backlog
                self._inflight[info.mid] = oid
                self._sent.add(oid)
            room -= 1
            if room <= 0:
                return
