"""The simulated world around one tag: virtual clock, hardware models, link and bridge.

The firmware drives it through the sim board's requests (firmware/boards/simwire.py);
`handle` answers each one. Time advances only in SLEEP, by running queued world events
(GNSS epochs, bytes arriving) in time order until the tag has input or its deadline comes.
"""

import heapq
import json
import os
import random

from emtag.firmware.boards import simwire as w
from emtag.host import bridge as host_bridge
from emtag.host import store as host_store
from emtag.host import zonefile
from emtag.simulator import geo, gnss, littlefs_host, route
from emtag.simulator.events import EventLog, iso
from emtag.simulator.flash import Flash

EPOCH_DELAY_MS = 150  # NMEA for an epoch reaches the tag this long after the epoch
FLASH_BLOCK = 4096
FLASH_BLOCKS = 512  # 2 MiB


class World:
    def __init__(self, scenario, out_dir, timeline=None):
        self.sc = scenario
        self.now = scenario.start_ms
        self.end = scenario.start_ms + int(scenario.duration_s * 1000)
        self.rng = random.Random(scenario.seed)
        self.tag_rng = random.Random(scenario.seed * 7919 + 1)  # tag entropy: its own stream
        self.queue = []
        self._qseq = 0
        self.rx = []  # (channel, bytes) waiting for the tag's next wake
        self.route = route.load(scenario.route)
        self.receiver = gnss.Receiver(self.rng, scenario.environment)
        self.gnss_on = False
        self.zones = zonefile.load(scenario.zones) if scenario.zones else []
        self.inside = {z["id"]: False for z in self.zones}
        self.flash = Flash(FLASH_BLOCK, FLASH_BLOCKS)
        files = {"zones.cbor": zonefile.compile_table(self.zones)} if self.zones else {}
        littlefs_host.format_and_provision(self.flash, files)
        os.makedirs(out_dir, exist_ok=True)
        self.events = EventLog(os.path.join(out_dir, "events.jsonl"), timeline)
        store_path = os.path.join(out_dir, "store.sqlite")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(store_path + suffix):
                os.remove(store_path + suffix)
        self.store = host_store.Store(store_path)
        self.bridge = host_bridge.Session(self.store, self._bridge_event, lambda: iso(self.now))
        self.serial = "SIM%05d" % scenario.seed
        self.events.add(
            self.now,
            "sim",
            "start",
            scenario=scenario.name,
            seed=scenario.seed,
            duration_s=scenario.duration_s,
        )

    # world events
    def at(self, t, fn, *args):
        self._qseq += 1
        heapq.heappush(self.queue, (t, self._qseq, fn, args))

    def _bridge_event(self, kind, **fields):
        self.events.add(self.now, "bridge", kind, **fields)

    def _gnss_epoch(self, epoch_ms):
        if not self.gnss_on:
            return
        t = (epoch_ms - self.sc.start_ms) / 1000.0
        lat, lon, speed, course = self.route.at(t)
        self._truth(lat, lon)
        self.rx.append((w.GNSS, self.receiver.epoch(epoch_ms / 1000.0, lat, lon, speed, course)))
        self.at(epoch_ms + 1000 + EPOCH_DELAY_MS, self._gnss_epoch, epoch_ms + 1000)

    def _truth(self, lat, lon):
        """Ground truth for expectations: when the wearer really enters or leaves a zone."""
        for z in self.zones:
            inside = geo.distance_m(lat, lon, z["lat"], z["lon"]) < z["radius_m"]
            if inside != self.inside[z["id"]]:
                self.inside[z["id"]] = inside
                self.events.add(
                    self.now, "sim", "truth_enter" if inside else "truth_leave", zone=z["id"]
                )

    def _to_bridge(self, data):
        reply = self.bridge.receive(data)
        if reply:
            self.at(self.now + self.sc.link_latency_ms, self._to_tag, w.LINK, reply)

    def _to_tag(self, channel, data):
        self.rx.append((channel, data))

    # the board's requests
    def handle(self, op, body):
        if op == w.SLEEP:
            return self._sleep(w.u64(body, 0))
        if op == w.WRITE:
            return self._write(body[0], bytes(body[1:]))
        if op == w.READ_BLOCK:
            return self.flash.read(w.u32(body, 0), w.u32(body, 4), w.u32(body, 8))
        if op == w.PROG_BLOCK:
            self.flash.program(w.u32(body, 0), w.u32(body, 4), bytes(body[8:]))
            return b""
        if op == w.ERASE_BLOCK:
            self.flash.erase(w.u32(body, 0))
            return b""
        if op == w.RANDOM:
            return self.tag_rng.randbytes(w.u32(body, 0))
        if op == w.INFO:
            return (
                w.pack_u64(self.now)
                + w.pack_u32(FLASH_BLOCK)
                + w.pack_u32(FLASH_BLOCKS)
                + self.serial.encode()
            )
        raise ValueError("unknown sim request %d" % op)

    def _write(self, channel, data):
        if channel == w.LINK:
            self.at(self.now + self.sc.link_latency_ms, self._to_bridge, data)
        elif channel == w.EVENT:
            try:
                ev = json.loads(data)
                kind = ev.pop("type")
            except (ValueError, KeyError, AttributeError):
                self.events.add(self.now, "sim", "bad_tag_event", raw=data[:200].decode("latin-1"))
            else:
                self.events.add(self.now, "tag", kind, **ev)
        elif channel == w.GNSS_POWER:
            on = data == b"\x01"
            if on and not self.gnss_on:
                first = (self.now // 1000 + 1) * 1000
                self.at(first + EPOCH_DELAY_MS, self._gnss_epoch, first)
            self.gnss_on = on
        return b""

    def _sleep(self, deadline):
        while not self.rx and self.queue and self.queue[0][0] <= min(deadline, self.end):
            t, _, fn, args = heapq.heappop(self.queue)
            self.now = max(self.now, t)
            fn(*args)
        if not self.rx:
            self.now = max(self.now, min(deadline, self.end))
        flags = w.FLAG_STOP if self.now >= self.end and not self.rx else 0
        out = bytearray(w.pack_u64(self.now))
        out.append(flags)
        for ch, data in self.rx:
            out.append(ch)
            out += w.pack_u32(len(data))
            out += data
        self.rx = []
        return bytes(out)

    def close(self):
        self.store.close()
        self.events.close()
