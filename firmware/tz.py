"""Local time on the tag from a POSIX TZ rule (POSIX.1-2017 section 8.3, RFC 8536 3.3.1).

    uk = Rule("GMT0BST,M3.5.0/1,M10.5.0")
    uk.offset(t)          # seconds east of UTC at UTC time t (seconds since 1970)
    uk.local(t)           # t + offset(t): local wall-clock seconds since 1970
    minute_of_week(loc)   # 0 = Monday 00:00 local .. 10079

A rule is `std offset [dst [offset] [,start[/time],end[/time]]]`:
- names are 3+ letters or <quoted> (`<+10>`, `<-03>`);
- offsets are [+-]hh[:mm[:ss]] *west* of UTC (GMT0, EST5, AEST-10); the DST offset
  defaults to one hour ahead of standard time;
- dates are Jn (1..365, 29 February never counted), n (0..365, counted) or Mm.w.d (day d,
  0 = Sunday, of week w, 5 = last, of month m); times default to 02:00 and may be negative
  or beyond 24 h (-167..167 h, the RFC 8536 extension tzdata uses, e.g. M3.5.0/-1);
- the start of DST is in local standard time, the end in local daylight time;
- DST that runs over the new year (southern hemisphere: start later in the year than the
  end) works as expected; a rule with DST but no dates uses the US rules, as glibc does.

Pure integer code: transitions are computed once per year and cached, so offset() costs a
few comparisons per call and allocates nothing once the year is cached. The parser lives in
tzparse.py, which the zone engine drops from RAM once the zone table is loaded.
"""

from emtag.firmware.gnss_time import days_from_civil  # noqa: F401  (one calendar, shared)

DEFAULT_RULE = "GMT0BST,M3.5.0/1,M10.5.0"
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def year_of_days(z):
    """The proleptic Gregorian year of day z since 1970-01-01."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    return yoe + era * 400 + (1 if doy >= 306 else 0)  # doy counts from 1 March


def is_leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def minute_of_week(local_s):
    """Minutes since Monday 00:00 of the local time local_s (1970-01-01 was a Thursday)."""
    days = local_s // 86400
    return ((days + 3) % 7) * 1440 + (local_s - days * 86400) // 60


class Rule:
    """One POSIX TZ rule. `std_east`/`dst_east`: offsets in seconds east of UTC."""

    def __init__(self, text=DEFAULT_RULE):
        from emtag.firmware.tzparse import parse  # the parser is needed only here

        self.text = text
        self.std_name, self.std_east, self.dst_name, self.dst_east, self.start, self.end = parse(
            text
        )
        self._year = None
        self._s = self._e = 0

    @staticmethod
    def _day(rule, y):
        """Days since 1970 of the date a rule names in year y."""
        kind, a, b, c = rule[0], rule[1], rule[2], rule[3]
        jan1 = days_from_civil(y, 1, 1)
        if kind == 0:  # Jn: 1..365, February 29 never counted
            return jan1 + a - 1 + (1 if is_leap(y) and a >= 60 else 0)
        if kind == 1:  # n: 0..365 counting February 29
            return jan1 + a
        first = days_from_civil(y, a, 1)
        wd = (first + 4) % 7  # weekday of the 1st, 0 = Sunday
        day = 1 + (c - wd) % 7 + 7 * (b - 1)
        mlen = 29 if a == 2 and is_leap(y) else _MONTH_DAYS[a - 1]
        while day > mlen:
            day -= 7
        return first + day - 1

    def transitions(self, y):
        """(DST start, DST end) of year y in UTC seconds."""
        s = self._day(self.start, y) * 86400 + self.start[4] - self.std_east
        e = self._day(self.end, y) * 86400 + self.end[4] - self.dst_east
        return s, e

    def is_dst(self, t):
        if self.start is None:
            return False
        y = year_of_days((t + self.std_east) // 86400)
        if y != self._year:
            self._s, self._e = self.transitions(y)
            self._year = y
        if self._s < self._e:
            return self._s <= t < self._e
        return not (self._e <= t < self._s)  # DST over the new year

    def offset(self, t):
        """Seconds east of UTC in force at UTC time t."""
        return self.dst_east if self.is_dst(t) else self.std_east

    def local(self, t):
        return t + self.offset(t)

    def utc(self, local):
        """The UTC instant the wall clock first shows `local` (local seconds since 1970):
        in the hour that repeats when clocks go back, its first pass; in the hour skipped
        when they go forward, the instant of the change."""
        a = local - self.dst_east
        b = local - self.std_east
        if self.start is None or a == b:
            return b
        ok_a = self.offset(a) == self.dst_east
        ok_b = self.offset(b) == self.std_east
        if ok_a and ok_b:
            return a if a < b else b
        if ok_a:
            return a
        if ok_b:
            return b
        lo = a if a < b else b  # skipped: the change lies between the two readings
        s, e = self.transitions(year_of_days((lo + self.std_east) // 86400))
        return s if lo < s <= lo + 7200 else e
