"""The tag: wires GNSS parsing, zone checks, signed records, flash log and uplink.

Everything here is driven by `poll()` and `next_deadline()` from firmware/main.py; the
board is the only source of time and I/O, so the same code runs on hardware, on the
MicroPython unix port inside the simulator, and in-process on CPython.
"""

import hashlib
import json

from emtag.firmware import cose, nmea, recordlog, uplink, zones
from emtag.firmware.signer import SoftwareSigner
from emtag.protocol import cbor, frame, records
from emtag.protocol import messages as m

FIRMWARE_VERSION = "0.1.0"
KEY_PATH = "device.key"
ZONES_PATH = "zones.cbor"
GNSS_IDLE_MS = 300  # a quiet UART this long ends the GNSS epoch
FIX_INTERVAL_MS = 60000  # a fix record a minute is the norm (DESIGN.md)
FAST_FIX_INTERVAL_MS = 15000  # near a zone


class Tag:
    def __init__(self, board):
        """Boot: mount flash, load or make the key, load zones, reopen the log."""
        self.board = b = board
        self.parser = nmea.NmeaParser(self._on_fix)
        self.deframer = frame.Deframer()
        self.last_gnss_rx = None
        self.next_fix_due = 0
        self.prev_hash = records.GENESIS
        self.heap_live_peak = 0
        self.fs = b.mount()
        try:
            self.signer = SoftwareSigner.load(self.fs, KEY_PATH)
        except OSError:
            # first boot: the key pair is made here and the private half never leaves
            self.signer = SoftwareSigner.generate(b.random_bytes)
            self.signer.save(self.fs, KEY_PATH)
            self.event("key_generated")
        self.device_id = self.signer.key_id()
        self.zone_engine = zones.ZoneEngine(self._load_zones())
        self.log = recordlog.RecordLog(self.fs)
        if self.log.last_record is not None:
            # the chain continues from the payload inside the last signed record
            last = cbor.loads(self.log.last_record)
            self.prev_hash = hashlib.sha256(last.value[2]).digest()
        hello = {
            m.H_DEVICE: self.device_id,
            m.H_PUBKEY: self.signer.public_key(),
            m.H_FIRMWARE: FIRMWARE_VERSION,
            m.H_NEXT_SEQ: self.log.last_seq + 1,
        }
        self.uplink = uplink.Uplink(self.log, hello)
        self.event(
            "boot",
            device=hexlify(self.device_id),
            firmware=FIRMWARE_VERSION,
            zones=len(self.zone_engine.zones),
            next_seq=self.log.last_seq + 1,
        )
        b.gnss_power(True)

    def _load_zones(self):
        try:
            with self.fs.open(ZONES_PATH, "rb") as f:
                data = f.read()
        except OSError:
            return []
        try:
            return zones.load_table(cbor.loads(data))
        except ValueError as e:
            self.event("zones_invalid", error=str(e))
            return []

    # the main loop's two calls
    def poll(self):
        b = self.board
        now = b.now_ms()
        data = b.gnss_read()
        if data:
            self.parser.feed(data)
            self.last_gnss_rx = now
        elif self.last_gnss_rx is not None and now - self.last_gnss_rx >= GNSS_IDLE_MS:
            self.parser.flush()
            self.last_gnss_rx = None
        data = b.link_read()
        if data:
            for raw in self.deframer.feed(data):
                self._on_message(raw, now)
        for msg in self.uplink.poll(now):
            b.link_write(frame.encode(msg))

    def next_deadline(self):
        d = self.board.now_ms() + 3600000
        if self.last_gnss_rx is not None:
            d = min(d, self.last_gnss_rx + GNSS_IDLE_MS)
        up = self.uplink.next_deadline()
        if up is not None:
            d = min(d, up)
        return d

    # inputs
    def _on_message(self, raw, now):
        try:
            msg = cbor.loads(raw, max_depth=4, max_items=64)
        except ValueError:
            self.event("bad_message")
            return
        what = self.uplink.receive(msg, now)
        if what == "ack":
            self.event("uplink_ack", acked=self.log.acked, pending=self.log.pending())
        elif what == "bad_message":
            self.event("bad_message")

    def _on_fix(self, fix):
        if fix.fix < 2 or fix.lat is None or fix.lon is None or fix.t is None:
            return
        for kind, zone_id in self.zone_engine.update(fix):
            self._append(
                records.alert_record(
                    self._seq(), self.prev_hash, kind, fix.t, fix.t_ms, fix, zone_id
                )
            )
            self.event(
                "alert", alert=kind, zone=zone_id, lat=fix.lat, lon=fix.lon, acc_cm=fix.acc_cm
            )
        now = self.board.now_ms()
        if now >= self.next_fix_due:
            rec = records.fix_record(self._seq(), self.prev_hash, fix)
            self._append(rec)
            self.event("fix", seq=rec[records.K_SEQ], lat=fix.lat, lon=fix.lon, acc_cm=fix.acc_cm)
            near = self.zone_engine.near
            self.next_fix_due = now + (FAST_FIX_INTERVAL_MS if near else FIX_INTERVAL_MS) - 500

    # records
    def _seq(self):
        return self.log.last_seq + 1

    def _append(self, rec):
        payload = cbor.dumps(rec)
        signed = cose.sign1(self.signer, payload, kid=self.device_id)
        self.log.append(rec[records.K_SEQ], signed)
        self.prev_hash = hashlib.sha256(payload).digest()

    def event(self, kind, **fields):
        fields["type"] = kind
        self.board.event(json.dumps(fields))

    def shutdown(self):
        stats = {
            "nmea_good": self.parser.good,
            "nmea_bad_checksum": self.parser.bad_checksum,
            "records": self.log.last_seq,
            "acked": self.log.acked,
        }
        if self.heap_live_peak:
            stats["heap_live_peak"] = self.heap_live_peak  # right after a collection
        peak = self.board.heap_peak() if hasattr(self.board, "heap_peak") else None
        if peak:
            stats["heap_peak"] = peak  # garbage included
        self.event("shutdown", **stats)


def hexlify(b):
    return "".join("%02x" % x for x in b)
