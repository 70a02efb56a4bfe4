"""What is new in the store, as it arrives: alerts for the pages, positions for the victim
proximity check.

The store is the one source: the reader takes the fixes and alerts stored since its cursor
(kept in the store, so a restart misses nothing; a first start begins at the newest
record). It reads every poll_s, and at once when the bridge's MQTT forwarding announces a
record (`--mqtt`: a message on emtag/+/fix or emtag/+/alert wakes it; the bridge commits
before it forwards, so the record is there). A message lost or repeated therefore changes
nothing. Several bridges writing into one PostgreSQL store may commit record ids out of
order, so each read looks LOOKBACK ids behind the cursor and skips what it has seen.
"""

import collections
import threading
import urllib.parse

from emtag.centre.proximity import Position

CURSOR_KEY = "feed_cursor"
LOOKBACK = 256
BATCH = 2000
SEEN = 20000


class Feed:
    def __init__(self, pool, hub, proximity, poll_s=2.0, mqtt=None, log=print):
        self.pool = pool
        self.hub = hub
        self.proximity = proximity
        self.poll_s = poll_s
        self.mqtt_url = mqtt
        self.log = log
        self.cursor = None
        self._seen: collections.OrderedDict = collections.OrderedDict()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._mqtt = None
        self.reads = 0
        self.woken = 0  # reads started by an MQTT message

    def start(self):
        with self.pool.get() as st:
            saved = st.centre_get(CURSOR_KEY)
            self.cursor = int(saved) if saved is not None else st.feed_head()
        if self.mqtt_url:
            self._start_mqtt()
        self._thread = threading.Thread(target=self._run, name="centre-feed", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._mqtt is not None:
            self._mqtt.disconnect()
            self._mqtt.loop_stop()

    def wake(self):
        self._wake.set()

    def _start_mqtt(self):
        import paho.mqtt.client as mqtt

        u = urllib.parse.urlsplit(self.mqtt_url)
        c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, clean_session=True)
        c.reconnect_delay_set(1, 10)

        def on_connect(client, userdata, flags, reason_code, properties):
            if reason_code.is_failure:
                self.log("mqtt refused: %s" % reason_code)
                return
            client.subscribe([("emtag/+/alert", 1), ("emtag/+/fix", 1)])
            self.log("mqtt connected to %s" % self.mqtt_url)
            self._wake.set()  # whatever came while we were away

        def on_message(client, userdata, msg):
            self.woken += 1
            self._wake.set()

        c.on_connect = on_connect
        c.on_message = on_message
        c.connect_async(u.hostname, u.port or 1883, keepalive=30)
        c.loop_start()
        self._mqtt = c

    def _run(self):
        while not self._stop.is_set():
            try:
                while self.read_once() == BATCH:
                    pass
            except Exception as e:  # the store away a moment: try again next time
                self.log("feed: %s" % str(e).strip().splitlines()[0][:200])
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def read_once(self):
        """Handle what is new since the cursor; how many rows were read."""
        with self.pool.get() as st:
            rows = st.feed(max(0, self.cursor - LOOKBACK), BATCH)
            self.reads += 1
            for r in rows:
                key = (r.device, r.seq, r.status)
                if key in self._seen:
                    continue
                self._seen[key] = True
                if len(self._seen) > SEEN:
                    self._seen.popitem(last=False)
                self._handle(st, r)
            if rows and rows[-1].id > self.cursor:
                self.cursor = rows[-1].id
                st.centre_set(CURSOR_KEY, str(self.cursor))
        return len(rows)

    def _handle(self, st, r):
        if r.type == 2:
            self.hub.publish(
                {"kind": "alert", "source": "tag", "device": r.device, "seq": r.seq,
                 "alert": r.alert}
            )  # fmt: skip
        if r.lat_e7 is not None and r.t is not None:  # an early alert's position is signed too
            pos = Position(r.t, r.lat_e7, r.lon_e7, r.acc_cm, r.seq)
            for event in self.proximity.on_wearer(st, r.device, pos):
                self.hub.publish(event)
