"""The console commands' view of the running Tag (firmware/tag.py): its board, log, zones
and GNSS, as commands.Device. Loaded with the command layer (firmware/console.py)."""

from emtag.firmware import cose, files
from emtag.firmware.commands import Device, key_id

GNSS_FRESH_MS = 120000  # selftest: a fix this recent counts (the receiver is duty-cycled)
BATTERY_OK_MV = 3600


class TagDevice(Device):
    """Device over the running Tag (firmware/tag.py): its board, log, zones and GNSS."""

    def __init__(self, tag):
        self.tag = tag
        self.board = tag.board
        self.firmware = tag.firmware
        self.board_name = getattr(tag.board, "name", "?")
        self.serial = getattr(tag.board, "serial", "")

    def event(self, kind, **fields):
        self.tag.event(kind, **fields)

    def _sensor(self, name):
        fn = getattr(self.board, name, None)
        return fn() if fn is not None else None

    def strap_closed(self):
        return self._sensor("strap_closed")

    def gnss(self):
        """The last epoch (fix type, satellites, best C/N0) and the last fix (accuracy, age);
        receiver_on: whether the duty cycle has the receiver on now."""
        t = self.tag
        now = self.board.now_ms()
        seen = t.gnss_seen_ms
        fix_ms = getattr(t, "gnss_fix_ms", None)
        duty = getattr(getattr(t, "monitor", None), "duty", None)
        if seen is None:
            return {"fix": 0, "age_ms": None, "fix_age_ms": None}
        return {
            "fix": t.gnss_fix,
            "sats": t.gnss_sats,
            "cn0_max": t.gnss_cn0_max,
            "age_ms": now - seen,
            "acc_cm": getattr(t, "gnss_acc_cm", None),
            "fix_age_ms": None if fix_ms is None else now - fix_ms,
            "receiver_on": None if duty is None else duty.on,
        }

    def status(self):
        t = self.tag
        return {
            "records": t.log.last_seq,
            "pending": t.log.pending(),
            "zones": len(t.zone_engine.zones),
            "gnss": self.gnss(),
            "nmea": t.parser.health(),  # what the GNSS UART carried: good, bad, noise
            "strap": self.strap_closed(),
            "battery_mv": self._sensor("battery_mv"),
        }

    def selftest(self):
        g = self.gnss()
        g["ok"] = g["fix_age_ms"] is not None and g["fix_age_ms"] < GNSS_FRESH_MS
        strap = self.strap_closed()
        mv = self._sensor("battery_mv")
        r = {
            "gnss": g,
            "strap": {"ok": strap is True, "closed": strap},
            "battery": {"ok": mv is not None and mv >= BATTERY_OK_MV, "mv": mv},
            "flash": self._flash_test(),
            "signer": self._signer_test(),
        }
        ok = True
        for k in r:
            ok = ok and r[k]["ok"]
        r["ok"] = ok
        return r

    def _flash_test(self):
        fs = self.tag.fs
        data = bytes(self.board.random_bytes(64))
        try:
            f = fs.open("selftest.tmp", "wb")
            try:
                f.write(data)
            finally:
                f.close()
            f = fs.open("selftest.tmp", "rb")
            try:
                back = f.read(128)
            finally:
                f.close()
            fs.remove("selftest.tmp")
        except OSError as e:
            return {"ok": False, "error": str(e)}
        return {"ok": back == data}

    def _signer_test(self):
        s = self.tag.signer
        try:
            cose.verify1(s.public_key(), cose.sign1(s, bytes(self.board.random_bytes(32))))
        except ValueError as e:
            return {"ok": False, "error": str(e)}
        return {"ok": key_id(s.public_key()) == self.tag.device_id}

    def zones_changed(self):
        t = self.tag
        t.zone_engine = t._load_zones()  # a fresh engine: every zone starts undecided
        t.save_open()  # ...and no breach of the old table carries over
        t._zones_unusable()
        return len(t.zone_engine.zones)

    def config_changed(self, cfg):
        self.tag.config = cfg

    def armed_changed(self, armed):
        self.tag.armed = armed

    def set_utc(self, utc_ms):
        # the tag's UTC is its board clock plus utc_offset_ms (every GNSS fix sets it too)
        t, b = self.tag, self.board
        now = b.now_ms()
        off = getattr(t, "utc_offset_ms", None)
        err = None if off is None else now + off - utc_ms
        t.utc_offset_ms = utc_ms - now
        fn = getattr(b, "set_utc_ms", None)
        if fn is not None:
            fn(utc_ms)
        return err

    def pending(self):
        return self.tag.log.pending()

    def request_upload(self):
        t = self.tag
        chain = getattr(t, "chain", None)
        if chain is not None and chain.unsealed():
            chain.deadline = 0  # a checkpoint at the next poll seals what is open...
        t.uplink.deadline = 0  # ...and the uplink sends (or greets) at once

    def recent_events(self, n):
        r = self.tag.recent
        return r[len(r) - n :] if n else []

    def wipe(self):
        fn = getattr(self.board, "wipe_flash", None)
        if fn is not None:
            fn()  # erase every block and make a fresh filesystem
        else:
            files.remove_tree(self.tag.fs, "")
        self.halted = True
        self.tag.reboot = True  # main.run boots a factory-fresh Tag: new key, unprovisioned
