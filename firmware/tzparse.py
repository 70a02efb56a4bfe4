"""Parser for POSIX TZ rules (see tz.py for the syntax): text in, the fields of a tz.Rule
out. Needed only while rules are read (zone table load), so kept apart from tz.py.
"""


class TZError(ValueError):
    pass


_US_RULES = ",M3.2.0,M11.1.0"


def parse(text):
    """(std name, std offset east s, dst name or None, dst offset east s, start, end) with
    start/end None or (kind, a, b, c, time s): kind 0 = Jn, 1 = n, 2 = Mm.w.d."""
    if not isinstance(text, str) or not text or len(text) > 64:
        raise TZError("TZ rule must be a string of 1-64 characters")
    r = _Reader(text)
    std_name = r.name()
    if r.peek() == "":
        r.fail("offset expected")
    std_east = -r.hms(24)
    dst_name = None
    dst_east = std_east
    start = end = None
    if r.peek() != "":
        dst_name = r.name()
        dst_east = std_east + 3600
        if r.peek() not in (",", ""):
            dst_east = -r.hms(24)
        if r.peek() == "":
            r = _Reader(_US_RULES)
        if r.peek() != ",":
            r.fail("',' expected")
        r.i += 1
        start = r.date()
        if r.peek() != ",":
            r.fail("',' expected")
        r.i += 1
        end = r.date()
        if r.peek() != "":
            r.fail("unexpected text")
    return std_name, std_east, dst_name, dst_east, start, end


class _Reader:
    def __init__(self, text):
        self.s = text
        self.i = 0

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def fail(self, what):
        raise TZError("TZ %r: %s at position %d" % (self.s, what, self.i))

    def name(self):
        s, i = self.s, self.i
        if self.peek() == "<":
            j = s.find(">", i)
            if j < 0 or j - i - 1 < 3:
                self.fail("bad quoted name")
            self.i = j + 1
            return s[i + 1 : j]
        j = i
        while j < len(s) and s[j].isalpha():
            j += 1
        if j - i < 3:
            self.fail("a zone name needs 3 or more letters")
        self.i = j
        return s[i:j]

    def number(self, lo, hi):
        s, j = self.s, self.i
        while j < len(s) and s[j].isdigit():
            j += 1
        if j == self.i:
            self.fail("number expected")
        v = int(s[self.i : j])
        if not lo <= v <= hi:
            self.fail("%d out of range %d..%d" % (v, lo, hi))
        self.i = j
        return v

    def hms(self, max_hours):
        """[+-]hh[:mm[:ss]] in seconds."""
        sign = 1
        if self.peek() in ("+", "-"):
            sign = -1 if self.peek() == "-" else 1
            self.i += 1
        v = self.number(0, max_hours) * 3600
        if self.peek() == ":":
            self.i += 1
            v += self.number(0, 59) * 60
            if self.peek() == ":":
                self.i += 1
                v += self.number(0, 59)
        return sign * v

    def date(self):
        """(kind, a, b, c, time s): kind 0 = Jn, 1 = n, 2 = Mm.w.d."""
        c = self.peek()
        if c == "J":
            self.i += 1
            rule = (0, self.number(1, 365), 0, 0)
        elif c == "M":
            self.i += 1
            m = self.number(1, 12)
            if self.peek() != ".":
                self.fail("'.' expected")
            self.i += 1
            w = self.number(1, 5)
            if self.peek() != ".":
                self.fail("'.' expected")
            self.i += 1
            rule = (2, m, w, self.number(0, 6))
        elif c.isdigit():
            rule = (1, self.number(0, 365), 0, 0)
        else:
            self.fail("date rule (Jn, n or Mm.w.d) expected")
        t = 7200
        if self.peek() == "/":
            self.i += 1
            t = self.hms(167)
        return rule + (t,)
