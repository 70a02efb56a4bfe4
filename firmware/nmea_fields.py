"""Field access for one NMEA sentence, without allocating: the tag's backend.

`Fields.load(buf, a, e)` indexes the sentence body buf[a:e] (between `$` and `*`) by
recording where each comma-separated field starts; the readers below turn field i into an
int in place. Every reader returns None for an empty, missing or malformed field, so a
sentence from an older NMEA version (fewer fields) or with extra trailing fields decodes
by position without special cases.

Numbers are fixed point: num(i, 2) of "1.005" is 101 (rounded half away from zero on the
first dropped digit). More than MAXDIGITS digits make a field malformed: no receiver
sends them, and longer ones would need big integers (heap) on the tag.

A CPython backend with the same interface and results lives in nmea_cpython.py;
tests hold the two to identical output.
"""

try:
    import micropython
except ImportError:  # CPython: @micropython.native leaves functions as they are
    from emtag.firmware.nmea_native import micropython  # type: ignore[no-redef]

MAXFIELDS = 40  # GSV with signal id has 21; later fields are ignored
MAXDIGITS = 18

_P10 = (1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000)


@micropython.native
def xor8(buf, a, b):
    """NMEA checksum of buf[a:b]."""
    x = 0
    for i in range(a, b):
        x ^= buf[i]
    return x


class Fields:
    def __init__(self):
        self.buf = b""
        self.n = 0
        # st[k] is where field k starts; st[n] sits one past the end so field k ends at
        # st[k + 1] - 1 for every k < n.
        self.st = [0] * (MAXFIELDS + 1)

    @micropython.native
    def load(self, buf, a, e):
        self.buf = buf
        st = self.st
        st[0] = a
        k = 1
        p = buf.find(b",", a, e)
        while p >= 0 and k < MAXFIELDS:
            st[k] = p + 1
            k += 1
            p = buf.find(b",", p + 1, e)
        st[k] = (p if p >= 0 else e) + 1
        self.n = k

    @micropython.native
    def empty(self, i):
        return i >= self.n or self.st[i + 1] - 1 == self.st[i]

    @micropython.native
    def width(self, i):
        """Length of field i in bytes (0 when missing)."""
        return self.st[i + 1] - 1 - self.st[i] if i < self.n else 0

    @micropython.native
    def chat(self, i, k):
        """Byte k of field i, 0 past its end."""
        if i >= self.n:
            return 0
        a = self.st[i] + k
        return self.buf[a] if a < self.st[i + 1] - 1 else 0

    @micropython.native
    def ch(self, i):
        """First byte of field i, 0 when empty."""
        if i >= self.n:
            return 0
        a = self.st[i]
        return self.buf[a] if self.st[i + 1] - 1 > a else 0

    @micropython.native
    def num(self, i, scale):
        """Unsigned decimal field times 10**scale, rounded half up."""
        if i >= self.n:
            return None
        return _fixed(self.buf, self.st[i], self.st[i + 1] - 1, scale)

    @micropython.native
    def snum(self, i, scale):
        """Signed decimal field times 10**scale, rounded half away from zero."""
        if i >= self.n:
            return None
        a = self.st[i]
        b = self.st[i + 1] - 1
        if a < b and self.buf[a] == 45:  # '-'
            v = _fixed(self.buf, a + 1, b, scale)
            return None if v is None else -v
        if a < b and self.buf[a] == 43:  # '+'
            a += 1
        return _fixed(self.buf, a, b, scale)

    @micropython.native
    def int_(self, i):
        """Unsigned integer field; a decimal point makes it malformed."""
        if i >= self.n:
            return None
        buf = self.buf
        a = self.st[i]
        b = self.st[i + 1] - 1
        if a >= b or b - a > MAXDIGITS:
            return None
        v = 0
        for q in range(a, b):
            c = buf[q] - 48
            if c < 0 or c > 9:
                return None
            v = v * 10 + c
        return v

    @micropython.native
    def ints(self, i, step, out):
        """int_ of fields i, i + step, ... into out (a preallocated list; None for empty or
        malformed) while they exist and out has room; returns how many were read."""
        k = 0
        m = len(out)
        while i < self.n and k < m:
            out[k] = self.int_(i)
            i += step
            k += 1
        return k

    @micropython.native
    def tod(self, i):
        """hhmmss[.sss] as milliseconds of the day; extra decimals are truncated."""
        if i >= self.n:
            return None
        buf = self.buf
        a = self.st[i]
        b = self.st[i + 1] - 1
        if b - a < 6:
            return None
        v = 0
        for q in range(a, a + 6):
            c = buf[q] - 48
            if c < 0 or c > 9:
                return None
            v = v * 10 + c
        ms = 0
        if b > a + 6:
            if buf[a + 6] != 46:
                return None
            w = 0
            for q in range(a + 7, b):
                c = buf[q] - 48
                if c < 0 or c > 9:
                    return None
                if w < 3:
                    ms = ms * 10 + c
                    w += 1
            while w < 3:
                ms *= 10
                w += 1
        return _hms(v, ms)

    @micropython.native
    def deg(self, i, maxdeg):
        """Field i as [d]ddmm.mmmm with hemisphere in field i+1: degrees x 1e7."""
        if i + 1 >= self.n:
            return None
        v = _fixed(self.buf, self.st[i], self.st[i + 1] - 1, 9)
        return _degrees(v, self.ch(i + 1), maxdeg)


@micropython.native
def _fixed(buf, a, b, scale):
    if a >= b:
        return None
    v = 0
    dec = -1  # digits after the point so far; -1 before the point
    up = 0
    nd = 0
    for q in range(a, b):
        c = buf[q] - 48
        if 0 <= c <= 9:
            nd += 1
            if nd > MAXDIGITS:
                return None
            if dec < 0:
                v = v * 10 + c
            elif dec < scale:
                v = v * 10 + c
                dec += 1
            elif dec == scale:
                up = 1 if c >= 5 else 0
                dec += 1
        elif c == -2 and dec < 0:  # '.'
            dec = 0
        else:
            return None
    if nd == 0:
        return None
    if dec < 0:
        dec = 0
    elif dec > scale:
        dec = scale
    return v * _P10[scale - dec] + up


@micropython.native
def _hms(v, ms):
    hh = v // 10000
    mm = v // 100 % 100
    ss = v % 100
    if hh > 23 or mm > 59 or ss > 60:  # 60: leap second
        return None
    return ((hh * 60 + mm) * 60 + ss) * 1000 + ms


@micropython.native
def _degrees(v, hemi, maxdeg):
    """ddmm.mmmmmmmmm x 1e9 and a hemisphere letter to signed degrees x 1e7."""
    if v is None:
        return None
    d = v // 100000000000
    m = v - d * 100000000000  # minutes x 1e9
    if d > maxdeg or m >= 60000000000:
        return None
    r = d * 10000000 + (m + 3000) // 6000  # 1e9 minutes / 60 / 1e2 -> 1e7 degrees
    if r > maxdeg * 10000000:
        return None
    if hemi == 78 or hemi == 69:  # N, E
        return r
    if hemi == 83 or hemi == 87:  # S, W
        return -r
    return None
