"""The tag: wires GNSS parsing, zone checks, signed records, flash log and uplink.

Everything here is driven by `poll()` and `next_deadline()` from firmware/main.py; the
board is the only source of time and I/O, so the same code runs on hardware, on the
MicroPython unix port inside the simulator, and in-process on CPython.
"""

import gc
import json

from emtag.firmware import evidence, nmea, recordlog, uplink
from emtag.firmware.files import read_file, write_atomic
from emtag.firmware.signer import SoftwareSigner
from emtag.protocol import cbor, frame, records
from emtag.protocol import messages as m

FIRMWARE_VERSION = "0.1.0"
KEY_PATH = "device.key"
ZONES_PATH = "zones.cbor"
OPEN_PATH = "open.cbor"  # zones in breach, strap and case open: kept across restarts
GNSS_IDLE_MS = 300  # a quiet UART this long ends the GNSS epoch
FIX_INTERVAL_MS = 60000  # a fix record a minute is the norm (docs/DESIGN.md); zone engine
# sets the interval (settings slow_interval_s / fast_interval_s in the zone table)
APPROACH_VIBRATE_MS = 800  # the wearer feels zone_approach
RECENT_EVENTS = 32  # kept in RAM for the console's `logs`
RESCAN = 2000  # records looked through at boot for unacknowledged alerts


def _zonetable():
    """The zone-table loader (it leaves RAM after each load: zonetable.engine)."""
    from emtag.firmware import zonetable

    return zonetable


# The loader comes in with the engine, while the heap is young and unfragmented (compiling
# it at boot, next to everything else, can fail), and leaves once the table is loaded.
_zonetable()


class Tag:
    def __init__(self, board):
        """Boot: mount flash, load or make the key, load zones, reopen the log."""
        self.board = b = board
        self.recent = []  # the last RECENT_EVENTS events (JSON text), for the console's logs
        self.reboot = False  # set by decommission: main.run boots a factory-fresh Tag
        self.gnss_seen_ms = None  # the last GNSS epoch, for status and selftest
        self.parser = nmea.NmeaParser(self._gnss_epoch)
        self.deframer = frame.Deframer()
        self.last_gnss_rx = None
        self.next_fix_due = 0
        self.last_fix_ms = -FIX_INTERVAL_MS
        self.utc_offset_ms = None  # GNSS UTC minus the board clock, from the last fix
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
        self.firmware = FIRMWARE_VERSION
        self.zone_engine = self._load_zones()
        self._read_open()
        self.log = recordlog.RecordLog(self.fs)
        # the hash chain continues from the log's tail; a tail left unsealed is sealed at once
        self.chain = evidence.Chain(self.signer)
        tail = max(1, self.log.last_seq - evidence.CHECKPOINT_RECORDS)
        self.chain.resume(self.log.read_from(tail, evidence.CHECKPOINT_RECORDS + 1))
        self._restart()
        self.storage_full = False  # storage_full raised for the log's current `full` episode
        hello = {
            m.H_DEVICE: self.device_id,
            m.H_PUBKEY: self.signer.public_key(),
            m.H_FIRMWARE: FIRMWARE_VERSION,
            m.H_NEXT_SEQ: self.log.last_seq + 1,
        }
        # the uplink sends only records a signature already covers
        self.uplink = uplink.Uplink(
            evidence.SealedView(self.log, self.chain), hello, prove=uplink.prover(self.signer)
        )
        self._alerts_first_again()
        self._zones_unusable()
        self.event(
            "boot",
            device=hexlify(self.device_id),
            firmware=FIRMWARE_VERSION,
            zones=len(self.zone_engine.zones),
            next_seq=self.log.last_seq + 1,
        )
        # sensors, hardware alerts and GNSS duty cycling (firmware/monitor.py, health.py);
        # it switches the receiver on
        from emtag.firmware import monitor

        self.monitor = monitor.Monitor(self)
        # the USB serial console: fitting and configuration (firmware/console.py)
        from emtag.firmware import console

        self.console = console.attach(self)

    def _load_zones(self):
        """The zone engine for the table on flash (protocol/zones.cddl); none: no zones.
        A table the tag cannot use leaves self.zones_error set, for _zones_unusable."""
        gc.collect()  # loading needs room: key generation may have left garbage behind
        self.zones_error = None
        try:
            f = self.fs.open(ZONES_PATH, "rb")
        except OSError:
            return _zonetable().engine()
        try:
            return _zonetable().engine(f)  # read a zone at a time
        except (ValueError, OSError, MemoryError) as e:
            self.zones_error = str(e) or type(e).__name__
            self.event("zones_invalid", error=self.zones_error)
            return _zonetable().engine()
        finally:
            f.close()

    def _alerts_first_again(self):
        """Alerts logged before a restart and not yet acknowledged go ahead of the backlog
        again: that order lived in RAM. Only the newest RESCAN records are looked at (the
        uplink keeps the newest URGENT_MAX alerts anyway); older ones go in order."""
        log = self.log
        seq = max(log.acked + 1, log.last_seq - RESCAN + 1)
        while seq <= log.last_seq:
            batch = log.read_from(seq, 16)
            if not batch:
                return
            for s, wire in batch:
                seq = s + 1
                if evidence.is_signed(wire):  # alerts, restarts and checkpoints
                    try:
                        rec = cbor.loads(evidence.payload_of(wire))
                    except ValueError:
                        continue  # the log's CRC passed: only a bug gets here
                    if rec.get(records.K_TYPE) == records.ALERT:
                        self.uplink.send_first(s, wire)

    def save_open(self):
        """Write what is open now: zones in breach, strap and case found open (rewritten,
        tmp file and rename, whenever one of them changes: rarely)."""
        h = self.monitor.health if hasattr(self, "monitor") else None
        state = {
            "zones": self.zone_engine.breaches(),
            "strap": 1 if h is not None and h.strap.state is False else 0,
            "case": 1 if h is not None and h.case.state is False else 0,
        }
        try:
            write_atomic(self.fs, OPEN_PATH, cbor.dumps(state))
        except OSError as e:
            self.event("flash_error", path=OPEN_PATH, error=str(e))
        self.open_saved = state

    def _read_open(self):
        """What was open before a power cut or reset ({} if nothing was recorded): breaches
        stay open (zones.ZoneEngine.restore), and a strap already reported open is not
        reported again (health.Health.restore)."""
        data = read_file(self.fs, OPEN_PATH, 1024)
        state = None
        if data:
            try:
                state = cbor.loads(data, max_depth=2, max_items=80)
            except ValueError:
                pass
            if not isinstance(state, dict) or not isinstance(state.get("zones", []), list):
                self.event("open_state_invalid")
                state = None
        self.open_saved = state or {}
        self.zone_engine.restore(self.open_saved.get("zones", []))

    def _zones_unusable(self):
        """Zones are on flash but not enforced: the centre must know at once (an alert,
        signed), not find out from a breach that never came."""
        if self.zones_error is not None:
            self._tag_alert("zones_unusable", self.board.now_ms(), error=self.zones_error)

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
        self.monitor.poll(now)
        data = b.link_read()
        if data:
            for raw in self.deframer.feed(data):
                self._on_message(raw, now)
        if self.log.full != self.storage_full:
            self._storage_full(now)
        if self.chain.seal_due(now):
            self._checkpoint(now)
        for msg in self.uplink.poll(now):
            b.link_write(frame.encode(msg))
        for out in self.console.poll(b.console_read(), now):
            b.console_write(out)

    def next_deadline(self):
        d = self.board.now_ms() + 3600000
        if self.last_gnss_rx is not None:
            d = min(d, self.last_gnss_rx + GNSS_IDLE_MS)
        up = self.uplink.next_deadline()
        if up is not None:
            d = min(d, up)
        if self.chain.deadline is not None:
            d = min(d, self.chain.deadline)
        return self.monitor.deadline(d)

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

    def _gnss_epoch(self, fix):
        # what status and selftest report (small ints: nothing allocated), then the fix
        now = self.gnss_seen_ms = self.board.now_ms()
        self.gnss_fix = fix.fix
        self.gnss_sats = fix.sats
        self.gnss_cn0_max = max(fix.cn0_max) if fix.cn0_mask else None
        if fix.fix >= 2:
            self.gnss_fix_ms = now  # the last epoch with a position, and its accuracy
            self.gnss_acc_cm = fix.acc_cm
        self.monitor.epoch(fix)
        self._on_fix(fix)

    def _on_fix(self, fix):
        # every fix goes to the zone engine, which sets implausible ones aside (counted)
        engine = self.zone_engine
        for i in range(engine.update(fix)):
            kind, zone_id, snap = engine.events[i]
            # the alert carries the time and fix that began the breach; logged (and so
            # signed) now, and the uplink sends it on this same pass
            self._append(
                records.alert_record(
                    self._seq(), self.prev_hash, kind, snap.t, snap.t_ms, snap, zone_id
                )
            )
            self.event(
                "alert",
                alert=kind,
                zone=zone_id,
                event_t=snap.t,
                lat=snap.lat,
                lon=snap.lon,
                acc_cm=snap.acc_cm,
            )
            if kind == "zone_approach":
                self._vibrate(APPROACH_VIBRATE_MS)
            else:  # a breach or a clear: after the record, so a cut between the two
                self.save_open()  # repeats an alert rather than losing one
        if not engine.accepted:
            return
        now = self.board.now_ms()
        # fix records every engine.interval_ms(): 60 s, 15 s near a zone or in breach
        if now >= min(self.next_fix_due, self.last_fix_ms + engine.interval_ms() - 500):
            if engine.interval_ms() >= engine.slow_ms and not self.log.admit_routine():
                # the log is nearly full of unsent data: this routine fix is thinned
                # (policy: firmware/recordlog.py); fixes near a zone never are
                self.last_fix_ms = now
                self.next_fix_due = now + engine.interval_ms() - 500
                return
            rec = records.fix_record(self._seq(), self.prev_hash, fix)
            self._append(rec)
            self.event("fix", seq=rec[records.K_SEQ], lat=fix.lat, lon=fix.lon, acc_cm=fix.acc_cm)
            self.last_fix_ms = now
            self.next_fix_due = now + engine.interval_ms() - 500
            self.monitor.fix_logged(now, fix)  # the receiver may sleep until the next one

    def _restart(self):
        """A restart record (signed) explains the gap a power cut or reset left, and seals
        whatever the last run left unsealed."""
        ms = self.board.now_ms()
        self._append(
            records.restart_record(self._seq(), self.prev_hash, ms // 1000, ms % 1000, "boot")
        )

    def _storage_full(self, now):
        """The log entered its thinning band (firmware/recordlog.py): storage_full, once per
        episode (and once per boot while it lasts); routine fixes are thinned meanwhile."""
        self.storage_full = self.log.full
        if self.storage_full:
            self._tag_alert("storage_full", now, used=self.log.used)

    def _tag_alert(self, kind, now, **fields):
        """An alert about the tag itself (no zone, no fix), time-stamped in UTC when the tag
        knows it, else by its own clock."""
        utc = now if self.utc_offset_ms is None else now + self.utc_offset_ms
        self._append(records.alert_record(self._seq(), self.prev_hash, kind, utc // 1000,
                                          utc % 1000))
        self.event("alert", alert=kind, zone=None, **fields)

    def _vibrate(self, ms):
        buzz = getattr(self.board, "vibrate", None)
        if buzz is not None:
            buzz(ms)

    # records
    def _seq(self):
        return self.chain.next_seq()

    @property
    def prev_hash(self):
        return self.chain.head

    def _append(self, rec):
        # numbered, linked, signed if not a fix (firmware/evidence.py), logged as sent
        now = self.board.now_ms()
        self.chain.add(rec, now, self.log.append)
        if rec[records.K_TYPE] == records.FIX:
            self.utc_offset_ms = rec[records.K_TIME] * 1000 + rec[records.K_TIME_MS] - now
        elif rec[records.K_TYPE] == records.ALERT:  # alerts go ahead of any backlog
            self.uplink.send_first(self.log.last_seq, self.log.last_record)
        if self.chain.seal_due(now):  # never more than evidence.CHECKPOINT_RECORDS unsealed
            self._checkpoint(now)

    def _checkpoint(self, now):
        """Sign the chain head: seals every record since the last signed one."""
        utc = now if self.utc_offset_ms is None else now + self.utc_offset_ms
        first = self.chain.sealed_seq + 1
        self.chain.checkpoint(now, utc // 1000, utc % 1000, self.log.append)
        self.event("checkpoint", seq=self.chain.seq, first=first, last=self.chain.seq - 1)

    def event(self, kind, **fields):
        fields["type"] = kind
        self.board.event(json.dumps(fields))
        off = getattr(self, "utc_offset_ms", None)
        if off is not None:  # the console's logs carry the tag's UTC (seconds) when it knows it
            fields["utc"] = (self.board.now_ms() + off) // 1000
        recent = self.recent
        if len(recent) >= RECENT_EVENTS:
            recent.pop(0)
        recent.append(json.dumps(fields))

    def shutdown(self):
        stats = {"nmea_" + k: v for k, v in self.parser.health().items()}
        stats.update({
            "records": self.log.last_seq,
            "acked": self.log.acked,
        })
        if self.heap_live_peak:
            stats["heap_live_peak"] = self.heap_live_peak  # right after a collection
        peak = self.board.heap_peak() if hasattr(self.board, "heap_peak") else None
        if peak:
            stats["heap_peak"] = peak  # garbage included
        aside = {k: v for k, v in self.zone_engine.stats().items() if v and k != "accepted"}
        if aside:
            stats["fixes_set_aside"] = aside  # by reason, see firmware/plausibility.py
        self.event("shutdown", **stats)


def hexlify(b):
    return "".join("%02x" % x for x in b)
