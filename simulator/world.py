"""The simulated world around one tag: virtual clock, hardware models, link and bridge.

The firmware drives it through the sim board's requests (firmware/boards/simwire.py);
`handle` answers each one. Time advances only in SLEEP, by running queued world events
(GNSS epochs, bytes arriving) in time order until the tag has input or its deadline comes.

Power cuts (`power_cut` in the timeline, simulator/timeline.py): `handle` applies the torn
flash write, records the cut and raises flash.PowerCut; the runner (simulator/runner.py)
ends that firmware run, calls `power_restore` (the world goes on without the tag for the
off time) and boots the firmware again.
"""

import heapq
import json
import os
import random

from emtag.firmware.boards import simwire as w
from emtag.host import bridge as host_bridge
from emtag.host import store as host_store
from emtag.host import zonefile
from emtag.simulator import hardware, littlefs_host, routefile
from emtag.simulator.events import EventLog, iso
from emtag.simulator.flash import Flash, PowerCut

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
        self.route = routefile.load(scenario.route)
        self.zones = zonefile.load(scenario.zones) if scenario.zones else []
        self.inside = {z.id: False for z in self.zones}
        self.flash = Flash(FLASH_BLOCK, FLASH_BLOCKS)
        files = {"zones.cbor": zonefile.compile_table(self.zones)} if self.zones else {}
        files.update(hardware.provisioned(scenario))  # config.cbor, state.cbor, as fitted
        littlefs_host.format_and_provision(self.flash, files)
        os.makedirs(out_dir, exist_ok=True)
        self.events = EventLog(
            os.path.join(out_dir, "events.jsonl"), timeline, scenario.hardware.config.get("tz")
        )
        store_path = os.path.join(out_dir, "store.sqlite")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(store_path + suffix):
                os.remove(store_path + suffix)
        self.store = host_store.Store(store_path)
        # WAL without an fsync per commit: a simulated bridge need not survive an OS crash,
        # and long runs commit thousands of batches
        self.store.db.execute("PRAGMA synchronous=NORMAL")
        self._nonces = random.Random(scenario.seed * 7919 + 2)  # the bridge's challenges
        self.bridge = self._new_session()
        self.serial = "SIM%05d" % scenario.seed
        self.strap_closed = True  # the strap; other sensors: self.hw (simulator/hardware.py)
        self.console_out = []  # what the tag wrote to its USB console, when no port is attached
        self.console_port = None  # simulator/serve.py: a pty or TCP socket (write(bytes))
        self.pacer = None  # simulator/serve.py: ties virtual time to the wall clock
        self.cut_at_write = None  # a power_cut waiting for the tag's flash writes
        self.cut_writes = 0  # ...and how many more writes it lets through
        self.restore_at = None  # while the tag has no power: when it comes back
        self.events.add(
            self.now,
            "sim",
            "start",
            scenario=scenario.name,
            seed=scenario.seed,
            duration_s=scenario.duration_s,
        )
        for a, b in scenario.link_outages:
            self.at(scenario.start_ms + a, self._link_event, "link_down")
            self.at(scenario.start_ms + b, self._link_event, "link_up")
        # GNSS module, UART, battery and power, sensors, RTC, the timeline (hardware.py)
        self.hw = hardware.Hardware(self)

    # world events
    def at(self, t, fn, *args):
        self._qseq += 1
        heapq.heappush(self.queue, (t, self._qseq, fn, args))

    def _new_session(self):
        return host_bridge.Session(
            self.store,
            self._bridge_event,
            lambda: iso(self.now),
            nonce=lambda: self._nonces.randbytes(16),
        )

    def _bridge_event(self, kind, **fields):
        self.events.add(self.now, "bridge", kind, **fields)

    def _truth(self, lat, lon):
        """Ground truth for expectations: when the wearer really enters or leaves a zone."""
        for z in self.zones:
            inside = z.contains(lat, lon)
            if inside != self.inside[z.id]:
                self.inside[z.id] = inside
                self.events.add(
                    self.now, "sim", "truth_enter" if inside else "truth_leave", zone=z.id
                )

    def link_up(self):
        """False during a scenario's [[link.outage]]: bytes either way are lost."""
        t = self.now - self.sc.start_ms
        return not any(a <= t < b for a, b in self.sc.link_outages)

    def _link_event(self, kind):
        self.events.add(self.now, "sim", kind)

    def _to_bridge(self, data):
        if not self.link_up():
            return
        data = self.hw.link_pass(data)  # [link] loss and corruption (simulator/hardware.py)
        if data is None:
            return
        if isinstance(self.bridge, host_bridge.Session) and self.bridge.closed:
            # the bridge ended the session: the port starts a new one, as emtag bridge's does
            self._bridge_event("closed", reason=self.bridge.closed)
            self.bridge = self._new_session()
        reply = self.bridge.receive(data)
        if reply:
            self.at(self.hw.link_arrival(1), self._to_tag, w.LINK, reply)

    def _to_tag(self, channel, data):
        if channel == w.LINK and not self.link_up():
            return
        if channel == w.LINK:
            data = self.hw.link_pass(data)
            if data is None:
                return
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
            block, offset, data = w.u32(body, 0), w.u32(body, 4), bytes(body[8:])
            if self.cut_at_write is not None and self._cut_now():
                landed = self.flash.tear_program(block, offset, data, self.hw.cut_rng)
                self._power_cut(
                    op="program", block=block, offset=offset, landed=landed, of=len(data)
                )
            self.flash.program(block, offset, data)
            return b""
        if op == w.ERASE_BLOCK:
            block = w.u32(body, 0)
            if self.cut_at_write is not None and self._cut_now():
                landed = self.flash.tear_erase(block, self.hw.cut_rng)
                self._power_cut(op="erase", block=block, landed=landed, of=FLASH_BLOCK)
            self.flash.erase(block)
            return b""
        if op == w.RANDOM:
            return self.tag_rng.randbytes(w.u32(body, 0))
        if op == w.SENSE:
            return w.pack_u32(self._sense(body[0]))
        if op == w.INFO:
            return (
                w.pack_u64(self.hw.tag_ms(self.now))
                + w.pack_u32(FLASH_BLOCK)
                + w.pack_u32(FLASH_BLOCKS)
                + self.serial.encode()
            )
        raise ValueError("unknown sim request %d" % op)

    def _write(self, channel, data):
        if channel == w.LINK:
            self.at(self.hw.link_arrival(0), self._to_bridge, data)  # latency and jitter
        elif channel == w.EVENT:
            try:
                ev = json.loads(data)
                kind = ev.pop("type")
            except (ValueError, KeyError, AttributeError):
                self.events.add(self.now, "sim", "bad_tag_event", raw=data[:200].decode("latin-1"))
            else:
                self.events.add(self.now, "tag", kind, **ev)
                self.hw.tag_event(kind)  # records and signatures cost MCU time
        elif channel == w.CONSOLE:
            if self.console_port is not None:
                self.console_port.write(data)
            else:
                self.console_out.append(data)
        elif channel == w.VIBRATE:
            self.events.add(self.now, "sim", "vibrate", ms=w.u32(data, 0))
        elif channel == w.GNSS_POWER:
            # the GNSS module's epochs, TTFF and power: simulator/hardware.py, receiver.py
            self.hw.gnss_power(data == b"\x01")
        self.hw.wrote(channel, data)  # power for uplink bytes, vibration, LED
        return b""

    def _sense(self, sensor):
        return self.hw.sense(sensor)  # strap (self.strap_closed), battery, case, motion...

    def console_in(self, data):
        """Bytes typed into the tag's USB console (reach it at its next wake)."""
        self.at(self.now, self._to_tag, w.CONSOLE, bytes(data))

    def _sleep(self, deadline):
        self.hw.on_wake()  # what that wake cost in power; brown-out ends the run
        deadline = self.hw.true_ms(deadline)  # the tag's clock drifts (simulator/sensors.py)
        pace = self.pacer
        while not self.rx and self.queue and self.queue[0][0] <= min(deadline, self.end):
            if pace is not None and pace.wait(self, self.queue[0][0]):
                break  # console input came first
            t, _, fn, args = heapq.heappop(self.queue)
            self.now = max(self.now, t)
            fn(*args)
        if not self.rx:
            target = min(deadline, self.end)
            if pace is not None:
                pace.wait(self, target)
            if not self.rx:
                self.now = max(self.now, target)
        flags = w.FLAG_STOP if self.now >= self.end and not self.rx else 0
        out = bytearray(w.pack_u64(self.hw.tag_ms(self.now)))
        out.append(flags)
        for ch, data in self.rx:
            out.append(ch)
            out += w.pack_u32(len(data))
            out += data
        self.rx = []
        return bytes(out)

    # power cuts
    def power_cut_due(self, params):
        """A power_cut event's time has come: cut in the tag's n-th flash write from now
        (at_write = n), or now (0). While the tag is off already, at_write = n counts from
        when it is back (the cut lands while it boots), and a cut now is no news."""
        if params["at_write"]:
            self.cut_at_write = params
            self.cut_writes = params["at_write"] - 1
        elif self.restore_at is None:
            self._power_cut(params)

    def _cut_now(self):
        if self.cut_writes:
            self.cut_writes -= 1
            return False
        return True

    def _power_cut(self, params=None, **torn):
        """The tag loses power now (in the middle of the flash write described by `torn`)."""
        params = params or self.cut_at_write
        self.cut_at_write = None
        self.restore_at = self.now + params["off_ms"]
        self.rx = []
        self.hw.power_off()
        if torn:
            self.hw.torn_writes += 1
        self.events.add(self.now, "sim", "power_cut", off_s=params["off_ms"] / 1000, **torn)
        raise PowerCut()

    def power_restore(self):
        """After a cut: the world goes on without the tag until its power returns (what
        reaches the tag meanwhile is lost). True if it returns before the scenario ends."""
        until = min(self.restore_at, self.end)
        while self.queue and self.queue[0][0] <= until:
            t, _, fn, args = heapq.heappop(self.queue)
            self.now = max(self.now, t)
            fn(*args)
            self.rx = []
        self.now = max(self.now, until)
        self.restore_at = None
        if self.now >= self.end:
            return False
        self.hw.power_on()
        self.events.add(self.now, "sim", "power_restore")
        return True

    def close(self):
        self.store.close()
        self.events.close()
