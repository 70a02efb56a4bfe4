"""Decoders for the sentence types the tag understands, one function each.

A decoder reads fields by position (index 0 is the address, e.g. GPRMC) from a Fields
backend and writes what they say into the current Epoch (gnss_fix.py). Fields that an
older NMEA version lacks read as None; fields a newer version appends are ignored.

Only measured fixes count: a position is taken from RMC/GLL with status A, GGA with
quality 1-5 (GPS, DGPS, PPS, RTK, float RTK) and GNS with such a mode. Dead reckoning
(E, quality 6), manual input (M, 7) and simulator output (S, 8) are not evidence of
where the tag was, so they read as no fix.
"""

from emtag.firmware.gnss_fix import cons_of_prn
from emtag.firmware.gnss_time import days_from_civil, repair_rollover, valid_date

try:
    import micropython
except ImportError:  # CPython: @micropython.native leaves functions as they are
    from emtag.firmware.nmea_native import micropython  # type: ignore[no-redef]

MIXED = -1  # talker GN: constellation per satellite


@micropython.native
def _measured(mode):
    """NMEA 2.3+ mode indicator: A, D, P, R, F are measured; 0 = field absent (older)."""
    return mode == 0 or mode == 65 or mode == 68 or mode == 80 or mode == 82 or mode == 70


@micropython.native
def _date(ep, y, m, d):
    if ep.days is None and valid_date(y, m, d):
        ep.days = repair_rollover(days_from_civil(y, m, d), ep.not_before)


@micropython.native
def _knots(v):  # knots x 1e4 -> mm/s
    return None if v is None else (v * 926 + 9000) // 18000


@micropython.native
def _kmh(v):  # km/h x 1e4 -> mm/s
    return None if v is None else (v + 18) // 36


@micropython.native
def _course(v):  # degrees x 100, 360.00 -> 0
    return None if v is None else v % 36000


@micropython.native
def rmc(f, ep, cons):
    d = f.int_(9)
    if d is not None:
        yy = d % 100
        _date(ep, yy + (2000 if yy < 80 else 1900), d // 100 % 100, d // 10000)
    if f.ch(2) == 65 and _measured(f.ch(12)):
        ep.position(f.deg(3, 90), f.deg(5, 180), f.width(3))
        if ep.speed is None:
            ep.speed = _knots(f.num(7, 4))
        if ep.course is None:
            ep.course = _course(f.num(8, 2))


@micropython.native
def gga(f, ep, cons):
    q = f.int_(6)
    _fix_fields(f, ep, q is not None and 1 <= q <= 5)


@micropython.native
def _fix_fields(f, ep, measured):
    """GGA and GNS share their layout from field 2 on: position, sats, HDOP, altitude."""
    if measured:
        ep.position(f.deg(2, 90), f.deg(4, 180), f.width(2))
        if ep.alt_cm is None:
            ep.alt_cm = f.snum(9, 2)
    if ep.sats_n is None:
        ep.sats_n = f.int_(7)
    if ep.hdop2 is None:
        ep.hdop2 = f.num(8, 2)


@micropython.native
def gll(f, ep, cons):
    if f.ch(6) == 65 and _measured(f.ch(7)):
        ep.position(f.deg(1, 90), f.deg(3, 180), f.width(1))


@micropython.native
def gns(f, ep, cons):
    ok = False
    for k in range(f.width(6)):
        c = f.chat(6, k)
        if c != 0 and _measured(c):
            ok = True
    _fix_fields(f, ep, ok)


@micropython.native
def zda(f, ep, cons):
    y = f.int_(4)
    m = f.int_(3)
    d = f.int_(2)
    if y is not None and m is not None and d is not None:
        _date(ep, y, m, d)


@micropython.native
def gst(f, ep, cons):
    if ep.sd_lat is None:
        ep.sd_lat = f.num(6, 2)
        ep.sd_lon = f.num(7, 2)
    if ep.sd_maj is None:
        ep.sd_maj = f.num(3, 2)
        ep.sd_min = f.num(4, 2)


_PRN = [None] * 12  # scratch lists, reused: decoding allocates nothing
_SV = [None] * 4  # GSV: four satellites per sentence
_CN0 = [None] * 4


@micropython.native
def gsa(f, ep, cons):
    m = f.int_(2)
    if m is not None and 1 <= m <= 3 and (ep.gsa_fix is None or m > ep.gsa_fix):
        ep.gsa_fix = m
    sysid = f.int_(18)  # NMEA 4.10; beidou-bd.log puts a float here, which reads as None
    if sysid is not None and 1 <= sysid <= 6:
        cons = sysid - 1
    ep.use(cons, _PRN, f.ints(3, 1, _PRN))
    if ep.pdop is None:
        ep.pdop = f.num(15, 2)
    if ep.hdop is None:
        ep.hdop = f.num(16, 2)
    if ep.vdop is None:
        ep.vdop = f.num(17, 2)


@micropython.native
def gsv(f, ep, cons):
    n = f.n
    sig = f.ch(n - 1) if (n - 4) % 4 == 1 else 0  # NMEA 4.10 signal id after the groups
    prns = _SV
    cn0s = _CN0
    m = f.ints(4, 4, prns)
    if m > (n - 4) // 4:
        m = (n - 4) // 4  # a last group without its C/N0 field
    f.ints(7, 4, cn0s)
    view = trk = mx = sm = 0
    for k in range(m):
        prn = prns[k]
        if not prn:
            continue
        cn0 = cn0s[k]
        if cn0 is not None and not 0 < cn0 < 100:
            cn0 = None  # 0 is "not tracked" on Garmin
        if cons < 0:  # GN: constellation per satellite
            c = cons_of_prn(prn)
            if c is not None:
                ep.sky(c, sig, 1, 0 if cn0 is None else 1, cn0 or 0, cn0 or 0)
            continue
        view += 1
        if cn0 is not None:
            trk += 1
            sm += cn0
            if cn0 > mx:
                mx = cn0
    if cons >= 0:  # also when none are in view: that is news for shielding detection
        ep.sky(cons, sig, view, trk, mx, sm)


@micropython.native
def vtg(f, ep, cons):
    if f.n >= 9 or f.ch(2) == 84:  # NMEA 2.x+: value/unit pairs, mode in field 9
        if not _measured(f.ch(9)):
            return
        if ep.course2 is None:
            ep.course2 = _course(f.num(1, 2))
        if ep.speed2 is None:
            v = _knots(f.num(5, 4))
            ep.speed2 = v if v is not None else _kmh(f.num(7, 4))
    else:  # NMEA 1.5: course true, course magnetic, knots, km/h
        if ep.course2 is None:
            ep.course2 = _course(f.num(1, 2))
        if ep.speed2 is None:
            v = _knots(f.num(3, 4))
            ep.speed2 = v if v is not None else _kmh(f.num(4, 4))


def txt(f, ep, cons):
    pass  # counted as good; nothing for the fix


# Index of the UTC time field, or 0 for sentences without one.
TIME_FIELD = {"RMC": 1, "GGA": 1, "GLL": 5, "GNS": 1, "ZDA": 1, "GST": 1}
DECODERS = {
    "RMC": rmc,
    "GGA": gga,
    "GLL": gll,
    "GNS": gns,
    "ZDA": zda,
    "GST": gst,
    "GSA": gsa,
    "GSV": gsv,
    "VTG": vtg,
    "TXT": txt,
}
