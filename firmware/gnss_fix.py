"""One GNSS fix per epoch, assembled from the NMEA sentences that share its UTC time.

Fix attributes are ints or None (None = unknown):

  t            UTC seconds since 1970-01-01 (None until a date is known)
  t_ms         milliseconds, 0..999
  lat, lon     degrees x 1e7 (None without a valid fix)
  fix          0 none, 2 two-dimensional, 3 three-dimensional
  sats         satellites used: union of the GSA lists of all constellations (a satellite
               listed twice counts once), else the GGA/GNS count
  hdop, pdop, vdop   x 100 (GSA; HDOP from GGA/GNS when no GSA carries it)
  alt_cm       altitude above mean sea level (GGA/GNS)
  speed_mmps   ground speed (RMC, else VTG); course_cdeg true course x 100 (RMC, else VTG)
  acc_cm       horizontal accuracy radius, 2DRMS (about 95 %): 2 * sqrt(sd_lat^2 + sd_lon^2)
               from GST when the receiver sends its own 1-sigma estimates, else
               2 * HDOP * UERE with UERE = 5 m (single-frequency, no corrections).
               RTK/DGPS receivers without GST are over-estimated, never under.

C/N0 summary from GSV, one slot per constellation in the order of CONSTELLATIONS:

  cn0_mask     bit c set when constellation c reported GSV this epoch (0: no GSV, the
               arrays below are then unknown, not zero)
  sv_view      satellites listed in view
  sv_cn0       of those, satellites with a C/N0 (tracked)
  cn0_max      highest C/N0, dB-Hz
  cn0_mean     mean C/N0 over tracked satellites, dB-Hz, rounded
  sv_used      satellites used, from GSA

With NMEA 4.11 a receiver lists a satellite once per signal (L1, L5, ...); only the
first signal reported for a constellation in an epoch is counted, normally the L1/E1/B1
one, so counts are satellites, not signals. Slots are bytearrays, so they are reused
like the Fix itself; copy() gives an independent Fix.

Fix type is 0 and position, altitude, speed, course and accuracy are None unless some
sentence of the epoch carries a position with a valid status (RMC A, GGA quality > 0,
GLL A, GNS mode not N). Positions from sentences flagged invalid are never used.
"""

from emtag.firmware.gnss_time import DAY_MS, NOT_BEFORE_DAYS

try:
    import micropython
except ImportError:  # CPython: @micropython.native leaves functions as they are
    from emtag.firmware.nmea_native import micropython  # type: ignore[no-redef]

GPS = 0
GLONASS = 1
GALILEO = 2
BEIDOU = 3
QZSS = 4
NAVIC = 5
CONSTELLATIONS = ("gps", "glonass", "galileo", "beidou", "qzss", "navic")
NCONS = 6

UERE_CM = 500
# A date is carried from an earlier epoch only across this gap (a GGA-only epoch).
CARRY_MS = 3600000
OTHER = NCONS  # satellites in use whose constellation is unknown still count in `sats`
_MAXPRN = 512
_ZEROS = bytes((NCONS + 1) * _MAXPRN // 8)


def cons_of_prn(prn):
    """Constellation of a PRN in a GN (mixed) sentence without system id: NMEA 2.x-4.0
    and u-blox extended numbering. SBAS counts with GPS (same band). None if unknown."""
    if prn <= 64 or 120 <= prn <= 158:
        return GPS
    if prn <= 96:
        return GLONASS
    if 193 <= prn <= 200:
        return QZSS
    if 201 <= prn <= 237 or 401 <= prn <= 437:
        return BEIDOU
    if 301 <= prn <= 336:
        return GALILEO
    return None


def isqrt(n):
    if n <= 0:
        return 0
    x = n
    y = (x + 1) // 2
    while y < x:
        x = y
        y = (x + n // x) // 2
    return x


class Fix:
    def __init__(self):
        self.sv_view = bytearray(NCONS)
        self.sv_cn0 = bytearray(NCONS)
        self.cn0_max = bytearray(NCONS)
        self.cn0_mean = bytearray(NCONS)
        self.sv_used = bytearray(NCONS)
        self.t = self.t_ms = self.lat = self.lon = self.fix = None
        self.sats = self.hdop = self.pdop = self.vdop = self.alt_cm = None
        self.speed_mmps = self.course_cdeg = self.acc_cm = None
        self.cn0_mask = 0

    def copy(self):
        c = Fix()
        c.t, c.t_ms, c.lat, c.lon, c.fix = self.t, self.t_ms, self.lat, self.lon, self.fix
        c.sats, c.hdop, c.pdop, c.vdop = self.sats, self.hdop, self.pdop, self.vdop
        c.alt_cm, c.speed_mmps = self.alt_cm, self.speed_mmps
        c.course_cdeg, c.acc_cm, c.cn0_mask = self.course_cdeg, self.acc_cm, self.cn0_mask
        c.sv_view[:] = self.sv_view
        c.sv_cn0[:] = self.sv_cn0
        c.cn0_max[:] = self.cn0_max
        c.cn0_mean[:] = self.cn0_mean
        c.sv_used[:] = self.sv_used
        return c


class Epoch:
    """What the sentences of the current epoch said so far. Sentence decoders write the
    fields directly; the first value of a kind wins, except for the position: a later one
    at least as precise (field as long) replaces it, as in gpsd."""

    def __init__(self, not_before=NOT_BEFORE_DAYS):
        self.not_before = not_before  # week rollover repair, see gnss_time
        self.used = bytearray(_ZEROS)  # bitmap of (constellation, PRN) in use
        self.nused = bytearray(NCONS + 1)
        self.anyused = False
        self.view = bytearray(NCONS)
        self.trk = bytearray(NCONS)
        self.mx = bytearray(NCONS)
        self.sig = bytearray(NCONS)
        self.sum = [0] * NCONS
        self.last_days = None  # date of the last dated epoch, for GGA-only epochs
        self.last_tod = 0
        self.reset()

    def reset(self):  # bytecode: native code would allocate a slice object for used[:]
        self.nsent = 0
        self.tod = self.days = None
        self.lat = self.lon = None
        self.pos_w = 0
        self.gsa_fix = self.alt_cm = self.sats_n = None
        self.hdop = self.pdop = self.vdop = self.hdop2 = None
        self.speed = self.speed2 = self.course = self.course2 = None
        self.sd_lat = self.sd_lon = self.sd_maj = self.sd_min = None
        if self.anyused:  # the bitmap is clean unless some GSA listed a satellite
            self.anyused = False
            for c in range(NCONS + 1):
                self.nused[c] = 0
            self.used[:] = _ZEROS
        self.gsv = 0
        for c in range(NCONS):
            self.view[c] = 0
            self.trk[c] = 0
            self.mx[c] = 0
            self.sig[c] = 255
            self.sum[c] = 0

    @micropython.native
    def position(self, lat, lon, width):
        if lat is not None and lon is not None and width >= self.pos_w:
            self.lat = lat
            self.lon = lon
            self.pos_w = width

    @micropython.native
    def use(self, cons, prns, n):
        """Satellites prns[:n] listed in one GSA (0 or None: an empty slot) of constellation
        cons, or of each PRN's own with cons < 0 (GN talker, no system id). A satellite
        listed again, in this or another GSA, changes nothing."""
        used = self.used
        for q in range(n):
            prn = prns[q]
            if not prn or prn >= _MAXPRN:
                continue
            c = cons
            if c < 0:
                c = cons_of_prn(prn)
                if c is None:
                    c = OTHER  # still one more satellite in use
            k = c * (_MAXPRN // 8) + (prn >> 3)
            bit = 1 << (prn & 7)
            if not used[k] & bit:
                used[k] |= bit
                if self.nused[c] < 255:  # a byte; only a hostile stream gets here
                    self.nused[c] += 1
                self.anyused = True

    @micropython.native
    def sky(self, cons, sig, view, trk, cn0max, cn0sum):
        """GSV satellites of one constellation: view listed, trk with a C/N0, their max and
        sum. Only the first signal id seen for the constellation this epoch counts."""
        s = self.sig[cons]
        if s == 255:
            self.sig[cons] = sig
        elif s != sig:
            return
        self.gsv |= 1 << cons
        self.view[cons] = min(255, self.view[cons] + view)
        t = self.trk[cons] + trk
        if t <= 255:  # counts are bytes: only a stream of GSV without a timed sentence
            self.trk[cons] = t  # gets further, and then the mean stays that of the first
            self.sum[cons] += cn0sum
        if cn0max > self.mx[cons]:
            self.mx[cons] = cn0max

    @micropython.native
    def close(self, fix):
        """Write the epoch into fix (reused) and reset for the next epoch."""
        tod = self.tod
        days = self.days
        if days is None and tod is not None and self.last_days is not None:
            gap = tod - self.last_tod
            if -DAY_MS < gap < 0:
                gap += DAY_MS
            if 0 <= gap < CARRY_MS:
                days = self.last_days + (1 if tod < self.last_tod else 0)
        if days is not None and tod is not None:
            fix.t = days * 86400 + tod // 1000
            fix.t_ms = tod % 1000
            self.last_days = days
            self.last_tod = tod
        else:
            fix.t = fix.t_ms = None

        valid = self.lat is not None
        g = self.gsa_fix
        if not valid:
            fix.fix = 0
        elif g == 2 or g == 3:
            fix.fix = g
        else:
            fix.fix = 3 if self.alt_cm is not None else 2
        fix.lat = self.lat
        fix.lon = self.lon
        fix.sats = sum(self.nused) if self.anyused else self.sats_n
        fix.hdop = self.hdop if self.hdop is not None else self.hdop2
        fix.pdop = self.pdop
        fix.vdop = self.vdop
        if valid:
            fix.alt_cm = self.alt_cm
            fix.speed_mmps = self.speed if self.speed is not None else self.speed2
            fix.course_cdeg = self.course if self.course is not None else self.course2
            fix.acc_cm = self._accuracy(fix.hdop)
        else:
            fix.alt_cm = fix.speed_mmps = fix.course_cdeg = fix.acc_cm = None

        fix.cn0_mask = self.gsv
        for c in range(NCONS):
            n = self.trk[c]
            fix.sv_view[c] = self.view[c]
            fix.sv_cn0[c] = n
            fix.cn0_max[c] = self.mx[c]
            fix.cn0_mean[c] = (2 * self.sum[c] + n) // (2 * n) if n else 0
            fix.sv_used[c] = self.nused[c]
        self.reset()

    @micropython.native
    def _accuracy(self, hdop):
        a = self.sd_lat
        b = self.sd_lon
        if a is None or b is None:
            a = self.sd_maj
            b = self.sd_min
        if a is not None and b is not None:
            return isqrt(4 * (a * a + b * b))
        if hdop is not None:
            return hdop * 2 * UERE_CM // 100
        return None
