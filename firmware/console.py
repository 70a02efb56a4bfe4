"""The tag's console on its USB serial port: bytes in, reply frames out (protocol/console.cddl).

    con = Console(fs, load)                 # load() -> commands.Commands, imported on demand
    for out in con.poll(port_bytes, now):   # every main-loop pass; port_bytes may be None
        port.write(out)

Framing is the uplink's (protocol/frame.py: COBS, 0x00 delimiter, version, CRC32), so a
0x03 (Ctrl-C) byte inside a frame is just data. On real boards the port is shared with the
MicroPython REPL; the board turns the keyboard interrupt off while the firmware runs
(micropython.kbd_intr(-1), boards/esp32.py), and this module decides when the REPL may have
the port:

  REPL escape: 0x03 as the second byte after a delimiter (or after boot). In a frame that
  byte is always the version byte 0x01, so no frame can contain the escape, while
  `\\r\\x03` (what mpremote and pyboard.py send first) and `\\x03\\x03` both are one (send
  a 0x00 first if the line may hold half a frame). Unlocked for development
  (unprovisioned, or `devmode` on) the console calls enter_repl() (boards raise
  KeyboardInterrupt there); locked, it logs `console_repl_refused` and carries on.

Memory. This module is all that stays resident: the command layer (commands.py, config.py:
about 27 KB of heap when their bytecode is loaded from .mpy files into RAM, far less when it
runs in place from ROMFS or frozen modules; the simulator measures ~14 KB) and the 2 KB frame
buffer are loaded with the first frame of a session and dropped after IDLE_MS without input,
so a tag that is not being fitted pays nothing for them. With less than LOAD_FREE bytes of
heap free they are not loaded and every request is answered `busy`.
Pure logic: no machine, no time, no I/O beyond reading one small file at boot.
"""

import sys

from emtag.protocol import cbor, frame

TRUST_PATH = "trust.cbor"  # commands.TRUST_PATH: [1, anchor, dev]
STATE_PATH = "state.cbor"  # commands.STATE_PATH: {"armed": bool}
IDLE_MS = 120000
MAX_REQUEST = 2048  # bytes of request message: a 1 KiB zone chunk, its signature and a cert
# Free heap (after a collection) needed to load the command layer: its cost (above), and
# enough left over that the rest of the tag keeps running while it is loaded. With less, requests
# are answered `busy` and nothing is loaded: a wearer filling the port cannot starve the
# tag's own work of memory.
LOAD_FREE = 50000
_BUSY = b"\x84\x00\x01\x64busy\x78\x1fnot enough memory for a session"
_LAZY = ("emtag.firmware.commands", "emtag.firmware.tagdevice", "emtag.firmware.config")


def _room():
    """Is there heap enough to load the command layer? (Always, on CPython.)"""
    import gc

    free = getattr(gc, "mem_free", None)
    if free is None:
        return True
    gc.collect()
    return free() >= LOAD_FREE


def read_small(fs, path):
    """A small CBOR file: the item, None if there is no file, ValueError if it is damaged."""
    try:
        f = fs.open(path, "rb")
    except OSError:
        return None
    try:
        data = f.read(257)
    finally:
        f.close()
    return cbor.loads(data, max_depth=2, max_items=8, max_len=256)


def read_dev(fs):
    """Unlocked for development? True only with no trust record (factory state) or with
    the record's dev flag set; a damaged record locks."""
    try:
        obj = read_small(fs, TRUST_PATH)
    except ValueError:
        return False
    return obj is None or (isinstance(obj, list) and len(obj) == 3 and obj[2] is True)


def read_armed(fs):
    """Tamper armed at fitting (`arm`; commands.STATE_PATH)?"""
    try:
        obj = read_small(fs, STATE_PATH)
    except ValueError:
        return False
    return isinstance(obj, dict) and obj.get("armed") is True


class Console:
    def __init__(self, fs, load, enter_repl=None, event=None):
        self.fs = fs
        self._load = load
        self._enter_repl = enter_repl
        self._event = event
        self.dev = read_dev(fs)
        self.cmds = None  # the command layer, while a session is active
        self.deframer = None
        self._pos = 0  # bytes since the last delimiter (as if one came just before boot)
        self.last_ms = 0
        self.busy = False

    def poll(self, data, now):
        """Reply frames for the bytes read from the port this pass (None: nothing came)."""
        if data:
            self.last_ms = now
            return self.feed(data)
        if self.deframer is not None and now - self.last_ms >= IDLE_MS:
            self.unload()
        return ()

    def feed(self, data):
        if data.find(b"\x03") >= 0:
            self._escape_scan(data)
        else:
            i = data.rfind(b"\x00")
            self._pos = len(data) - i - 1 if i >= 0 else self._pos + len(data)
        if self.deframer is None:
            self.deframer = frame.Deframer(MAX_REQUEST)
        out = []
        for raw in self.deframer.feed(data):
            cmds = self.cmds
            if cmds is None:
                if not _room():
                    if not self.busy:
                        self.busy = True  # logged once per burst, not per frame
                        self._log("console_busy", reason="not enough free memory")
                    out.append(frame.encode(_BUSY))
                    continue
                self.busy = False
                try:
                    cmds = self.cmds = self._load()
                except MemoryError:
                    self.unload()
                    out.append(frame.encode(_BUSY))
                    continue
            if cmds.device.halted:
                break  # wiped: nothing more runs on this boot
            cmds.now = self.last_ms
            out.append(cmds.reply(raw))
            self.dev = cmds.dev
        return out

    def unload(self):
        """Drop the command layer and the frame buffer until the next session."""
        self.cmds = None
        self.deframer = None
        pkg = sys.modules.get("emtag.firmware")
        for name in _LAZY:
            if name in sys.modules:
                del sys.modules[name]
            if pkg is not None and hasattr(pkg, name[15:]):
                delattr(pkg, name[15:])

    def _escape_scan(self, data):
        pos = self._pos
        escape = False
        for b in data:
            if b == 0:
                pos = 0
                continue
            if b == 3 and pos == 1:
                escape = True
            pos += 1
        self._pos = pos
        if not escape:
            return
        if self.dev:
            self._log("console_repl")
            if self._enter_repl is not None:
                self._enter_repl()
        else:
            self._log("console_repl_refused", reason="tag is locked")

    def _log(self, kind, **fields):
        if self._event is not None:
            self._event(kind, **fields)


def attach(tag):
    """The console for a booted Tag (firmware/tag.py)."""

    def load():
        from emtag.firmware import commands, tagdevice

        return commands.Commands(tag.fs, tag.signer, tagdevice.TagDevice(tag))

    tag.armed = read_armed(tag.fs)
    return Console(tag.fs, load, getattr(tag.board, "enter_repl", None), tag.event)
