"""The uplink's frames on the host: protocol/frame.py's format, decoded with C COBS.

protocol/frame.py is the tag's implementation (MicroPython, one preallocated buffer, a loop
per byte). The bridge receives from thousands of tags, so here frames are split at the
0x00 delimiter with bytes methods and decoded by the `cobs` package's C extension; the
result is the same (tests/test_frames.py holds the two to each other). The same bounds
hold: a frame longer than MAX_FRAME is dropped without being buffered, and bad COBS, an
unknown version or a bad CRC drop the frame and count an error; nothing raises.
"""

import binascii

from cobs import cobs

from emtag.protocol.frame import MAX_FRAME, VERSION

_CAP = MAX_FRAME + MAX_FRAME // 254 + 8  # COBS overhead, version and CRC


def encode(message):
    """One complete frame (with trailing delimiter) for a message (bytes)."""
    if len(message) + 1 > MAX_FRAME:
        raise ValueError("message of %d bytes exceeds MAX_FRAME" % len(message))
    body = bytes([VERSION]) + bytes(message)
    body += (binascii.crc32(body) & 0xFFFFFFFF).to_bytes(4, "little")
    return cobs.encode(body) + b"\x00"


def decode(raw):
    """The message in one frame's bytes (without its delimiter), or None if it is bad."""
    try:
        body = cobs.decode(raw)
    except cobs.DecodeError:
        return None
    if len(body) < 5 or body[0] != VERSION:
        return None
    if binascii.crc32(body[:-4]) & 0xFFFFFFFF != int.from_bytes(body[-4:], "little"):
        return None
    return body[1:-4]


class Deframer:
    """Byte-fed frame receiver: feed() bytes, returns decoded messages (list of bytes)."""

    def __init__(self):
        self._partial = b""  # the frame begun and not yet ended (at most _CAP bytes)
        self._overflow = False  # the frame being received is already too long
        self.frames = 0
        self.errors = 0  # overlong, bad COBS, bad version or bad CRC

    def feed(self, data):
        parts = bytes(data).split(b"\x00")
        tail = parts.pop()  # after the last delimiter: the start of the next frame
        messages = []
        for i, raw in enumerate(parts):
            if i == 0 and (self._partial or self._overflow):
                overflow, self._overflow = self._overflow, False
                raw, self._partial = self._partial + raw, b""
                if overflow or len(raw) > _CAP:
                    self.errors += 1
                    continue
            if not raw:
                continue
            msg = decode(raw) if len(raw) <= _CAP else None
            if msg is None:
                self.errors += 1
            else:
                self.frames += 1
                messages.append(msg)
        if tail:
            if self._overflow or len(self._partial) + len(tail) > _CAP:
                self._partial, self._overflow = b"", True
            else:
                self._partial += tail
        return messages
