"""Serial framing shared by tag and host: COBS, 0x00 delimiter, version byte, CRC32.

    frame = COBS(version || message || crc32_le(version || message)) || 0x00

The 0x00 delimiter can never occur inside a COBS block, so a receiver resynchronises at
the next zero whatever garbage came before. The deframer keeps one preallocated buffer
and drops (and counts) frames that are too long, fail COBS decoding, carry an unknown
version or a bad CRC: nothing from outside can make it raise or grow.
"""

import binascii

VERSION = 1
MAX_FRAME = 4096  # bytes of decoded message; bounds the receive buffer on both sides


def cobs_encode(data):
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out.extend(block)
            block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255)
                out.extend(block)
                block = bytearray()
    out.append(len(block) + 1)
    out.extend(block)
    return bytes(out)


def cobs_decode(data):
    """Inverse of cobs_encode; raises ValueError on malformed input."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise ValueError("zero byte inside COBS data")
        end = i + code
        if end > n:
            raise ValueError("COBS block runs past the end")
        for j in range(i + 1, end):
            b = data[j]
            if b == 0:
                raise ValueError("zero byte inside COBS data")
            out.append(b)
        i = end
        if code != 255 and i < n:
            out.append(0)
    return bytes(out)


def _crc(data):
    return binascii.crc32(data) & 0xFFFFFFFF


def encode(message):
    """One complete frame (with trailing delimiter) for a message (bytes)."""
    if len(message) + 1 > MAX_FRAME:
        raise ValueError("message of %d bytes exceeds MAX_FRAME" % len(message))
    body = bytearray([VERSION])
    body.extend(message)
    body.extend(_crc(body).to_bytes(4, "little"))
    return cobs_encode(body) + b"\x00"


class Deframer:
    """Byte-fed frame receiver: feed() bytes, returns decoded messages (list of bytes)."""

    def __init__(self, max_frame=MAX_FRAME):
        # COBS adds one byte per 254 plus one; version and CRC add five
        self._cap = max_frame + max_frame // 254 + 8
        self._buf = bytearray(self._cap)
        self._len = 0
        self._overflow = False
        self.frames = 0
        self.errors = 0  # overlong, bad COBS, bad version or bad CRC

    def feed(self, data):
        messages = []
        buf, cap = self._buf, self._cap
        for b in data:
            if b != 0:
                if self._len < cap:
                    buf[self._len] = b
                    self._len += 1
                else:
                    self._overflow = True
                continue
            n, self._len = self._len, 0
            if self._overflow:
                self._overflow = False
                self.errors += 1
            elif n:
                msg = self._decode(memoryview(buf)[:n])
                if msg is None:
                    self.errors += 1
                else:
                    self.frames += 1
                    messages.append(msg)
        return messages

    @staticmethod
    def _decode(raw):
        try:
            body = cobs_decode(raw)
        except ValueError:
            return None
        if len(body) < 5 or body[0] != VERSION:
            return None
        if _crc(body[:-4]) != int.from_bytes(body[-4:], "little"):
            return None
        return body[1:-4]
