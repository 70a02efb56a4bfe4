"""Streaming NMEA 0183 parser for the tag's GNSS receiver: bytes in, one Fix per epoch out.

    from emtag.firmware.nmea import NmeaParser, Fix
    p = NmeaParser(on_fix, require_checksum=True)
    p.feed(data)    # bytes, bytearray or memoryview; any chunking, any garbage
    p.flush()       # close the pending epoch now (the board calls it when the UART idles)

Pure logic: no machine, no time, no I/O, and no allocation per byte or per sentence on
MicroPython (preallocated buffers; sentences are decoded in place with bytes.find; the
byte loops compile to machine code with @micropython.native, about twice as fast). On
CPython, framing and field reading default to a twin built on C-level bytes methods
(nmea_cpython.py, same fixes and counters); portable=True runs the tag's own code.

Framing. A sentence starts at every `$` (a `$` inside a sentence abandons it: spliced
or injected output) and ends at CR or LF, alone or paired. Lines longer than MAXLEN are
dropped. The checksum `*hh` is required and must be exactly two hex digits before the
line end; `require_checksum=False` (receiver profile for units that send none) accepts
lines without `*`, but a `*` with a wrong checksum is still rejected.

Coverage. RMC GGA GSA GSV VTG GLL GNS ZDA GST TXT from talkers GP GN GL GA GB BD GQ GI,
NMEA 2.x to 4.11, fields read by position (nmea_sentences.py).

Epochs. A sentence with a UTC time different from the pending epoch's closes it and
calls on_fix(fix); sentences without time (GSA, GSV, VTG, TXT) join the pending epoch.
Dates come from RMC or ZDA, repaired for GPS week rollover against `not_before` (days
since 1970, gnss_time.NOT_BEFORE_DAYS by default). The Fix passed to on_fix is reused:
keep fix.copy(). Field meanings and the C/N0 summary: gnss_fix.py.

Health counters (ints): good (decoded), bad_checksum (missing, malformed or wrong),
overlong, unknown (valid checksum, type or talker not covered, proprietary), garbage
(bytes outside sentences, sentences cut short by `$`; one count per gap; the `$$` some
receivers send before every sentence is not counted).
"""

import sys

from emtag.firmware.gnss_fix import (
    BEIDOU,
    GALILEO,
    GLONASS,
    GPS,
    NAVIC,
    QZSS,
    Epoch,
    Fix,
)
from emtag.firmware.gnss_time import NOT_BEFORE_DAYS
from emtag.firmware.nmea_fields import Fields, xor8
from emtag.firmware.nmea_sentences import DECODERS, MIXED, TIME_FIELD

try:
    import micropython
except ImportError:  # CPython: @micropython.native leaves functions as they are
    from emtag.firmware.nmea_native import micropython  # type: ignore[no-redef]

__all__ = ["NmeaParser", "Fix", "MAXLEN"]

MAXLEN = 120  # bytes between `$` and the line end; NMEA allows 80, 4.11 receivers exceed it
RXSIZE = 256  # staging for memoryview input, which has no find()

_IDLE = 0  # between sentences
_PARTIAL = 1  # a sentence started in an earlier chunk is in _lb
_SKIP = 2  # dropping the rest of an overlong line


def _code(s):
    c = 0
    for ch in s:
        c = (c << 8) | ord(ch)
    return c


TALKERS = {
    "GP": GPS, "GN": MIXED, "GL": GLONASS, "GA": GALILEO,
    "GB": BEIDOU, "BD": BEIDOU, "GQ": QZSS, "GI": NAVIC,
}
_TALKERS = {}
for _k in TALKERS:
    _TALKERS[_code(_k)] = TALKERS[_k]
_DECODERS = {}
_TIMEF = {}
for _k in DECODERS:
    _DECODERS[_code(_k)] = DECODERS[_k]
    _TIMEF[_code(_k)] = TIME_FIELD.get(_k, 0)


# hex digit value by byte, 255 for anything else
_HEX = bytes(
    c - 48 if 48 <= c <= 57 else c - 55 if 65 <= c <= 70 else c - 87 if 97 <= c <= 102 else 255
    for c in range(256)
)


def _cpython_path(portable):
    """The nmea_cpython module (framing and field readers on C-level bytes methods), or
    None for the tag's own code."""
    if portable or sys.implementation.name == "micropython":
        return None
    from emtag.firmware import nmea_cpython

    return nmea_cpython


class NmeaParser:
    def __init__(self, on_fix, require_checksum=True, not_before=NOT_BEFORE_DAYS,
                 portable=False):
        """portable=True uses the tag's allocation-free field backend on CPython too."""
        self.on_fix = on_fix
        self.require_checksum = require_checksum
        self.good = 0
        self.bad_checksum = 0
        self.overlong = 0
        self.unknown = 0
        self.garbage = 0
        fast = _cpython_path(portable)
        if fast is None:
            self._f = Fields()
        else:  # its own framing and field readers: nmea_cpython.py
            self._f = fast.Fields()
            framer = fast.Framer(self, MAXLEN, TALKERS, DECODERS, TIME_FIELD)
            self.feed = framer.feed  # type: ignore[method-assign]
        self._ep = Epoch(not_before)
        self._fix = Fix()
        self._lb = bytearray(MAXLEN)
        self._rx = bytearray(RXSIZE)
        self._n = 0
        self._st = _IDLE
        self._junked = False  # the current gap between sentences was counted as garbage

    def feed(self, data):  # bytecode: native code would allocate a slice object for _rx
        if isinstance(data, memoryview):
            n = len(data)
            if n > RXSIZE:
                self._feed_view(data)
                return
            self._rx[0:n] = data  # same length: a copy, no allocation
            data = self._rx
        else:
            n = len(data)
        self._scan(data, 0, n)

    def health(self):
        """The counters, for the tag's status and shutdown report."""
        return {
            "good": self.good,
            "bad_checksum": self.bad_checksum,
            "overlong": self.overlong,
            "unknown": self.unknown,
            "garbage": self.garbage,
        }

    def flush(self):
        if self._ep.nsent:
            self._close()

    @micropython.native
    def _feed_view(self, data):
        rx = self._rx
        k = 0
        for c in data:
            rx[k] = c
            k += 1
            if k == RXSIZE:
                self._scan(rx, 0, k)
                k = 0
        self._scan(rx, 0, k)

    def _close(self):
        self._ep.close(self._fix)
        self.on_fix(self._fix)

    @micropython.native
    def _scan(self, data, i, end):
        while i < end:
            st = self._st
            if st == _IDLE:
                j = data.find(b"$", i, end)
                if j < 0:
                    j = end
                if j > i:
                    self._junk(data, i, j)
                if j >= end:
                    return
                self._junked = False
                a = j + 1
                lim = a + MAXLEN + 1
                w = lim if lim < end else end
                stop = self._stop(data, a, w)
                if stop >= 0:
                    if data[stop] == 36:  # `$`: cut short by the next sentence
                        if stop > a:  # `$$` is a receiver quirk, not noise
                            self.garbage += 1
                        i = stop
                    else:
                        self._line(data, a, stop)
                        i = stop + 1
                        if i < end and data[i] == 10:  # the LF of CR LF
                            i += 1
                elif w == end and end < lim:
                    lb = self._lb  # the sentence continues in the next chunk
                    for q in range(a, end):
                        lb[q - a] = data[q]
                    self._n = end - a
                    self._st = _PARTIAL
                    return
                else:
                    self.overlong += 1
                    self._st = _SKIP
                    i = w
            elif st == _PARTIAL:
                n = self._n
                lim = i + MAXLEN - n + 1
                w = lim if lim < end else end
                stop = self._stop(data, i, w)
                if stop < 0 and lim <= end:
                    self.overlong += 1
                    self._st = _SKIP
                    i = w
                    continue
                k = (stop if stop >= 0 else end) - i
                lb = self._lb
                for q in range(k):
                    lb[n + q] = data[i + q]
                n += k
                self._n = n
                if stop < 0:
                    return
                self._st = _IDLE
                if data[stop] == 36:
                    if n:
                        self.garbage += 1
                    i = stop
                else:
                    self._line(lb, 0, n)
                    i = stop + 1
            else:
                stop = self._stop(data, i, end)
                if stop < 0:
                    return
                self._st = _IDLE
                i = stop if data[stop] == 36 else stop + 1

    @staticmethod
    @micropython.native
    def _stop(data, a, w):
        """Index of the first CR, LF or `$` in data[a:w], or -1."""
        t = data.find(b"\r", a, w)
        if t >= 0:
            w = t
        u = data.find(b"\n", a, w)
        if u >= 0:
            t = w = u
        d = data.find(b"$", a, w)
        return d if d >= 0 else t

    @micropython.native
    def _junk(self, data, i, j):
        """Count bytes between sentences, other than line ends, once per gap."""
        if self._junked:
            return
        for q in range(i, j):
            c = data[q]
            if c != 10 and c != 13:
                self.garbage += 1
                self._junked = True
                return

    @micropython.native
    def _line(self, buf, a, b):
        star = buf.find(b"*", a, b)
        if star >= 0:
            if b - star != 3:
                self.bad_checksum += 1
                return
            h = _HEX[buf[star + 1]]
            lo = _HEX[buf[star + 2]]
            if h > 15 or lo > 15 or (h << 4 | lo) != xor8(buf, a, star):
                self.bad_checksum += 1
                return
            e = star
        elif self.require_checksum:
            self.bad_checksum += 1
            return
        else:
            e = b
        if e - a < 5 or (e > a + 5 and buf[a + 5] != 44):
            self.unknown += 1
            return
        cons = _TALKERS.get(buf[a] << 8 | buf[a + 1])
        code = buf[a + 2] << 16 | buf[a + 3] << 8 | buf[a + 4]
        dec = _DECODERS.get(code)
        if cons is None or dec is None:
            self.unknown += 1
            return
        self.good += 1
        f = self._f
        f.load(buf, a, e)
        tf = _TIMEF[code]
        self._sentence(f.tod(tf) if tf else None, dec, cons)

    @micropython.native
    def _sentence(self, tod, dec, cons):
        """A sentence with a valid checksum and a covered type, its fields loaded in
        self._f: a new UTC time closes the pending epoch; then the sentence joins it."""
        ep = self._ep
        if tod is not None and tod != ep.tod:
            if ep.tod is not None:
                self._close()
            ep.tod = tod
        ep.nsent += 1
        dec(self._f, ep, cons)
