"""Field access for one NMEA sentence on CPython: same interface and results as
nmea_fields.Fields, built on C-level bytes methods (split, isdigit, int) because a
per-byte Python loop costs CPython more than the whole parse.

It allocates freely, so the tag never uses it; nmea.py picks it only off MicroPython.
Tests run the corpus and fuzzed input through both backends and require identical fixes.
"""

from emtag.firmware.nmea_fields import MAXDIGITS, MAXFIELDS, _degrees, _hms

_P10 = tuple(10**k for k in range(24))


def xor8(buf, a, b):
    """NMEA checksum of buf[a:b]: fold the bytes as one integer (lines are < 128 bytes)."""
    x = int.from_bytes(buf[a:b], "little")
    s = 1024
    if b - a > 128:
        while s < (b - a) * 8:
            s <<= 1
    while s > 8:
        s >>= 1
        x ^= x >> s
    return x & 255


def _num(s, scale):
    d = s.find(b".")
    if d < 0:
        return int(s) * _P10[scale] if s.isdigit() and len(s) <= MAXDIGITS else None
    digits = s[:d] + s[d + 1 :]
    if not digits.isdigit() or len(digits) > MAXDIGITS:
        return None
    nd = len(s) - d - 1
    if nd <= scale:
        return int(digits) * _P10[scale - nd]
    keep = len(digits) - (nd - scale)
    v = int(digits[:keep]) if keep else 0
    return v + 1 if digits[keep] >= 53 else v  # first dropped digit >= '5'


class Fields:
    def __init__(self):
        self.fl = []
        self.n = 0

    def load(self, buf, a, e):
        fl = buf[a:e].split(b",", MAXFIELDS)
        if len(fl) > MAXFIELDS:
            fl.pop()
        self.fl = fl
        self.n = len(fl)

    def empty(self, i):
        return i >= self.n or not self.fl[i]

    def width(self, i):
        return len(self.fl[i]) if i < self.n else 0

    def chat(self, i, k):
        if i >= self.n:
            return 0
        s = self.fl[i]
        return s[k] if k < len(s) else 0

    def ch(self, i):
        if i >= self.n:
            return 0
        s = self.fl[i]
        return s[0] if s else 0

    def num(self, i, scale):
        if i >= self.n:
            return None
        s = self.fl[i]
        return _num(s, scale) if s else None

    def snum(self, i, scale):
        if i >= self.n:
            return None
        s = self.fl[i]
        if not s:
            return None
        c = s[0]
        if c == 45:
            v = _num(s[1:], scale)
            return None if v is None else -v
        if c == 43:
            s = s[1:]
        return _num(s, scale)

    def int_(self, i):
        if i >= self.n:
            return None
        s = self.fl[i]
        return int(s) if s.isdigit() and len(s) <= MAXDIGITS else None

    def ints(self, i, step, out):
        fl = self.fl[i : i + step * len(out) : step]
        vals = [int(s) if s.isdigit() and len(s) <= MAXDIGITS else None for s in fl]
        out[: len(vals)] = vals
        return len(vals)

    def tod(self, i):
        if i >= self.n:
            return None
        s = self.fl[i]
        if len(s) < 6:
            return None
        hms = s[:6]
        if not hms.isdigit():
            return None
        ms = 0
        if len(s) > 6:
            if s[6] != 46:
                return None
            f = s[7:10]
            if f:
                if not s[7:].isdigit():
                    return None
                ms = int(f) * _P10[3 - len(f)]
        return _hms(int(hms), ms)

    def deg(self, i, maxdeg):
        if i + 1 >= self.n:
            return None
        s = self.fl[i]
        t = self.fl[i + 1]
        return _degrees(_num(s, 9) if s else None, t[0] if t else 0, maxdeg)
