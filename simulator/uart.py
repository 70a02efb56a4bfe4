"""UART model: bytes take time on the line, a full transmit buffer drops, noise corrupts.

    u = Uart(rng, baud=38400, tx_buffer=4096, loss=0.0, corrupt=0.0)
    for arrival_ms, chunk in u.send(t_ms, data):   # when each chunk has fully arrived
        ...

8N1 framing: ten bit times per byte, so `baud / 10` bytes a second at most. A sender
(the GNSS module) queues its output in a transmit buffer; what does not fit is dropped
whole sentences at a time, as u-blox receivers do when the port is too slow for the
messages configured (counted in `dropped_bytes`). Data is delivered in chunks of at most
CHUNK bytes, each when its last byte has arrived. `loss` and `corrupt` are per-byte
probabilities of a lost byte and of one flipped bit (line noise, a marginal level
shifter); positions are drawn from geometric gaps, so clean lines cost nothing.
"""

import math

CHUNK = 1024


class Uart:
    def __init__(self, rng, baud=38400, tx_buffer=4096, loss=0.0, corrupt=0.0):
        if not baud > 0:
            raise ValueError("baud must be positive")
        if not (0 <= loss < 1 and 0 <= corrupt < 1):
            raise ValueError("loss and corrupt are probabilities per byte, 0 <= p < 1")
        self.rng = rng
        self.baud = baud
        self.tx_buffer = tx_buffer
        self.loss = loss
        self.corrupt = corrupt
        self.busy_until = 0.0  # ms: when the line has sent everything queued
        self.sent_bytes = 0
        self.dropped_bytes = 0
        self.lost_bytes = 0
        self.corrupted_bytes = 0
        self._next_loss = self._gap(loss)
        self._next_corrupt = self._gap(corrupt)

    def byte_ms(self):
        return 10000.0 / self.baud

    def _gap(self, p):
        if p <= 0:
            return math.inf
        u = self.rng.random()
        return int(math.log(1.0 - u) / math.log(1.0 - p))

    def send(self, t_ms, data):
        """Queue data at t_ms; returns [(arrival_ms, bytes)] in order."""
        bms = self.byte_ms()
        start = max(float(t_ms), self.busy_until)
        room = self.tx_buffer - int((start - t_ms) / bms)
        if len(data) > room:
            keep = data.rfind(b"\n", 0, max(room, 0)) + 1 if room > 0 else 0
            self.dropped_bytes += len(data) - keep
            data = data[:keep]
        if not data:
            return []
        data = self._noise(data)
        out = []
        t = start
        for i in range(0, len(data), CHUNK):
            part = data[i : i + CHUNK]
            t += len(part) * bms
            out.append((int(math.ceil(t)), part))
        self.busy_until = t
        self.sent_bytes += len(data)
        return out

    def _noise(self, data):
        if self._next_loss >= len(data) and self._next_corrupt >= len(data):
            self._next_loss -= len(data)
            self._next_corrupt -= len(data)
            return data
        buf = bytearray(data)
        i = self._next_corrupt
        while i < len(buf):
            buf[i] ^= 1 << self.rng.randrange(8)
            self.corrupted_bytes += 1
            i += 1 + self._gap(self.corrupt)
        self._next_corrupt = i - len(buf)
        drop = []
        i = self._next_loss
        while i < len(buf):
            drop.append(i)
            i += 1 + self._gap(self.loss)
        self._next_loss = i - len(buf)
        for j in reversed(drop):
            del buf[j]
        self.lost_bytes += len(drop)
        return bytes(buf)
