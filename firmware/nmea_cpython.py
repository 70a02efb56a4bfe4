"""The NMEA parser's fast path on CPython: framing, checksum and field readers built on
C-level bytes methods (split, find, int), because a per-byte Python loop costs CPython
more than the whole parse. Same results as the tag's code for any input and any chunking:
nmea.py uses this only off MicroPython and unless portable=True, and tests run the corpus
and fuzzed streams through both and require identical fixes and counters.

It allocates freely, so it is left out of firmware builds (host/firmware_build.py CPYTHON_ONLY).

Framing, as nmea._scan does it byte by byte: every `$` starts a sentence, which ends at
the first CR or LF (decoded), at the next `$` (abandoned: garbage if it had any bytes) or
after MAXLEN bytes without either (overlong: the rest up to CR, LF or `$` is dropped).
Bytes between a line end and the next `$` are a gap: garbage once if any is not CR/LF.
"""

from emtag.firmware.nmea_fields import MAXDIGITS, MAXFIELDS, _degrees, _hms

_P10 = tuple(10**k for k in range(24))
_CRLF = b"\r\n"
_HEX2 = {b"%02x" % i: i for i in range(256)}  # "hh" in any case -> value
_HEX2.update({k[:1].upper() + k[1:]: v for k, v in list(_HEX2.items())})
_HEX2.update({k[:1] + k[1:].upper(): v for k, v in list(_HEX2.items())})


def xor8(buf, a, b):
    """NMEA checksum of buf[a:b]: the bytes as one integer, folded in halves down to one
    byte (no masks needed: only the lowest byte is kept, and it gathers each byte once)."""
    x = int.from_bytes(buf[a:b], "little")
    if b - a > 128:  # longer than the framer passes on: the fold reaches 128 bytes only
        for k in range(a + 128, b, 128):
            x ^= int.from_bytes(buf[k : min(k + 128, b)], "little")
    x ^= x >> 512
    x ^= x >> 256
    x ^= x >> 128
    x ^= x >> 64
    x ^= x >> 32
    x ^= x >> 16
    x ^= x >> 8
    return x & 255


class Framer:
    """Cuts a byte stream into sentences and decodes each as nmea.NmeaParser._line does:
    checksum, type and talker, then the parser's _sentence. Counters go to the parser,
    which also hands over its tables (talkers, decoders, time field of each sentence)."""

    def __init__(self, parser, maxlen, talkers, decoders, time_field):
        self.p = parser
        self.fields = parser._f
        self.maxlen = maxlen
        self.talkers = {k.encode(): v for k, v in talkers.items()}
        self.types = {k.encode(): (dec, time_field.get(k, 0)) for k, dec in decoders.items()}
        self.carry = b""  # an unfinished sentence from `$` on, kept for the next chunk
        self.skip = False  # inside an overlong line: drop up to CR, LF or `$`
        self.junked = False  # the current gap was counted as garbage

    def feed(self, data):
        data = self.carry + bytes(data) if self.carry else bytes(data)
        self.carry = b""
        pieces = data.split(b"$")
        last = len(pieces) - 1
        head = pieces[0]
        if self.skip:
            e = _line_end(head)
            if e < 0:
                self.skip = last == 0  # a `$` ends the overlong line too
                head = b""
            else:
                self.skip = False
                head = head[e + 1 :]
        if head:
            self._gap(head)
        p = self.p
        maxlen = self.maxlen
        for k in range(1, last + 1):
            self.junked = False
            s = pieces[k]
            e = _line_end(s)
            if e < 0:
                if len(s) > maxlen:
                    p.overlong += 1
                    self.skip = k == last
                elif k < last:
                    if s:
                        p.garbage += 1  # cut short by the next `$`
                else:
                    self.carry = b"$" + s
                continue
            if e > maxlen:
                p.overlong += 1
            else:
                self.sentence(s[:e])
            rest = len(s) - e
            if rest > 2 or (rest == 2 and s[e + 1] not in _CRLF):
                self._gap(s[e + 1 :])

    def _gap(self, gap):
        if not self.junked and gap.strip(b"\r\n"):
            self.p.garbage += 1
            self.junked = True

    def sentence(self, body):
        p = self.p
        star = body.find(b"*")
        if star >= 0:
            if len(body) - star != 3 or _HEX2.get(body[star + 1 :]) != xor8(body, 0, star):
                p.bad_checksum += 1
                return
            body = body[:star]
        elif p.require_checksum:
            p.bad_checksum += 1
            return
        fl = body.split(b",", MAXFIELDS)
        head = fl[0]
        kind = self.types.get(head[2:]) if len(head) == 5 else None
        cons = self.talkers.get(head[:2])
        if kind is None or cons is None:
            p.unknown += 1
            return
        p.good += 1
        if len(fl) > MAXFIELDS:
            fl.pop()
        f = self.fields
        f.fl = fl
        f.n = len(fl)
        dec, tf = kind
        p._sentence(f.tod(tf) if tf else None, dec, cons)


def _line_end(s):
    """Index of the first CR or LF in s, or -1."""
    r = s.find(b"\r")
    n = s.find(b"\n", 0, r) if r >= 0 else s.find(b"\n")
    return n if n >= 0 else r


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


class _Ints(dict):
    """Field bytes -> int, or None when empty or malformed. Prefilled with the short
    numbers that make up most fields (PRNs, C/N0, elevations, counts): a lookup is cheaper
    than checking and converting each time."""

    def __missing__(self, s):
        return int(s) if s.isdigit() and len(s) <= MAXDIGITS else None


_INT = _Ints({b"": None})
for _w in (1, 2, 3):
    for _i in range(10**_w):
        _INT[b"%0*d" % (_w, _i)] = _i


class _Nums(dict):
    """Field bytes -> fixed point at one scale, as _num. Short fields repeat from epoch to
    epoch (DOPs, speeds, courses, C/N0), so they are kept, up to a bound."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def __missing__(self, s):
        v = _num(s, self.scale)
        if len(s) <= 6 and len(self) < 4096:
            self[s] = v
        return v


_NUMS = tuple(_Nums(scale) for scale in range(10))


class Fields:
    def __init__(self):
        self.fl = []
        self.n = 0

    def load(self, buf, a, e):
        self.split(buf[a:e])

    def split(self, body):
        fl = body.split(b",", MAXFIELDS)
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
        return _NUMS[scale][s] if s else None

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
        return _INT[self.fl[i]] if i < self.n else None

    def ints(self, i, step, out):
        vals = list(map(_INT.__getitem__, self.fl[i : i + step * len(out) : step]))
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
