"""Property tests: valid sentences of every covered type, from every covered talker, decoded
by emtag and by pynmea2 (the oracle) must say the same thing.

pynmea2 keeps fields as text and converts on access; the test turns its values into
emtag's units with floats (emtag uses integers), so agreement is to the unit's rounding.
"""

import datetime
import math

import pynmea2
from hypothesis import given, settings
from hypothesis import strategies as st

from emtag.firmware.gnss_fix import CONSTELLATIONS
from emtag.firmware.gnss_time import days_from_civil
from emtag.firmware.nmea import NmeaParser

TALKERS = ["GP", "GN", "GL", "GA", "GB", "BD", "GQ", "GI"]
SLOT = {"GP": 0, "GL": 1, "GA": 2, "GB": 3, "BD": 3, "GQ": 4, "GI": 5}
EXAMPLES = settings(max_examples=80, deadline=None)


def sentence(body):
    x = 0
    for c in body:
        x ^= ord(c)
    return "$%s*%02X" % (body, x)


def decode(*lines):
    """Fixes from the CPython field backend, checked equal to the tag's backend."""
    out = []
    for portable in (False, True):
        fixes = []
        p = NmeaParser(
            lambda f, fixes=fixes: fixes.append(f.copy()), not_before=0, portable=portable
        )
        for line in lines:
            p.feed((line + "\r\n").encode())
        p.flush()
        assert p.bad_checksum == p.overlong == p.unknown == p.garbage == 0
        assert p.good == len(lines)
        out.append(fixes)
    assert [vars(f) for f in out[0]] == [vars(f) for f in out[1]]
    return out[0]


def oracle(line):
    return pynmea2.parse(line, check=True)


@st.composite
def number(draw, lo, hi, decimals=3, width=0, least=0):
    """Text of a decimal in [lo, hi] with least..decimals places, zero-padded to width."""
    d = draw(st.integers(least, decimals))
    v = draw(st.integers(lo * 10**d, hi * 10**d))
    text = str(v // 10**d).zfill(width)
    return text + ("." + str(v % 10**d).zfill(d) if d else draw(st.sampled_from(["", "."])))


@st.composite
def angle(draw, degwidth):
    deg = draw(st.integers(0, 89 if degwidth == 2 else 179))
    minutes = draw(number(0, 59, 8, 2, least=1))  # NMEA always has the point here
    if minutes.startswith("59."):
        minutes = "59.0"  # keep below 60.0 after any rounding
    hemi = draw(st.sampled_from("NS" if degwidth == 2 else "EW"))
    return str(deg).zfill(degwidth) + minutes, hemi


@st.composite
def utc(draw):
    h, m, s = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    d = draw(st.integers(0, 3))
    frac = str(draw(st.integers(0, 10**d - 1))).zfill(d) if d else ""
    return "%02d%02d%02d" % (h, m, s) + ("." + frac if d else "")


@st.composite
def extras(draw):
    """Fields a later NMEA version appends: read by position, so they must not matter."""
    more = draw(st.lists(st.sampled_from(["", "A", "1", "V"]), max_size=3))
    return "".join("," + x for x in more)


def seconds(date, time):
    return days_from_civil(date.year, date.month, date.day) * 86400 + (
        time.hour * 3600 + time.minute * 60 + time.second
    )


def deg7(pydeg):
    return pydeg * 1e7


def close(a, b, tol):
    return a is not None and abs(a - b) <= tol


@EXAMPLES
@given(
    st.sampled_from(TALKERS),
    utc(),
    angle(2),
    angle(3),
    number(0, 999, 3),
    number(0, 359, 2),
    st.dates(datetime.date(1980, 1, 1), datetime.date(2068, 12, 31)),
    st.sampled_from(["", ",A", ",D", ",N", ",E", ",A,V"]),
    st.sampled_from("AV"),
)
def test_rmc(talker, t, lat, lon, knots, course, date, mode, status):
    line = sentence(
        "%sRMC,%s,%s,%s,%s,%s,%s,%s,%s,%s,,%s"
        % (
            talker,
            t,
            status,
            lat[0],
            lat[1],
            lon[0],
            lon[1],
            knots,
            course,
            date.strftime("%d%m%y"),
            mode,
        )
    )
    m = oracle(line)
    f = decode(line)[0]
    assert f.t == seconds(m.datestamp, m.timestamp)
    assert f.t_ms == m.timestamp.microsecond // 1000
    measured = m.status == "A" and getattr(m, "mode_indicator", "") in ("", "A", "D", None)
    if measured:
        assert close(f.lat, deg7(m.latitude), 0.51) and close(f.lon, deg7(m.longitude), 0.51)
        assert f.fix == 2
        assert close(f.speed_mmps, float(m.spd_over_grnd) * 1852000 / 3600, 0.51)
        assert f.course_cdeg == round(float(m.true_course) * 100) % 36000
    else:
        assert f.fix == 0 and f.lat is None and f.speed_mmps is None


@EXAMPLES
@given(
    st.sampled_from(TALKERS),
    utc(),
    angle(2),
    angle(3),
    st.integers(0, 8),
    st.integers(0, 40),
    number(0, 99, 2),
    number(-400, 9000, 2),
    extras(),
)
def test_gga(talker, t, lat, lon, quality, sats, hdop, alt, more):
    line = sentence(
        "%sGGA,%s,%s,%s,%s,%s,%d,%02d,%s,%s,M,-21.3,M,,0000%s"
        % (talker, t, lat[0], lat[1], lon[0], lon[1], quality, sats, hdop, alt, more)
    )
    m = oracle(line)
    f = decode(line)[0]
    assert f.t is None  # GGA carries no date
    assert f.sats == int(m.num_sats)
    assert f.hdop == round(float(m.horizontal_dil) * 100 + 1e-9)
    if 1 <= int(m.gps_qual) <= 5:
        assert close(f.lat, deg7(m.latitude), 0.51) and close(f.lon, deg7(m.longitude), 0.51)
        assert f.alt_cm == round(float(m.altitude) * 100)
        assert f.fix == 3
        assert f.acc_cm == f.hdop * 10  # 2 * HDOP * 5 m
    else:
        assert f.fix == 0 and f.lat is None and f.alt_cm is None


@EXAMPLES
@given(
    st.sampled_from(TALKERS),
    angle(2),
    angle(3),
    utc(),
    st.sampled_from("AV"),
    st.sampled_from(["", ",A", ",D", ",N"]),
)
def test_gll(talker, lat, lon, t, status, mode):
    line = sentence(
        "%sGLL,%s,%s,%s,%s,%s,%s%s" % (talker, lat[0], lat[1], lon[0], lon[1], t, status, mode)
    )
    m = oracle(line)
    f = decode(line)[0]
    if m.status == "A" and mode != ",N":
        assert close(f.lat, deg7(m.latitude), 0.51) and close(f.lon, deg7(m.longitude), 0.51)
    else:
        assert f.lat is None and f.fix == 0


@EXAMPLES
@given(
    st.sampled_from(TALKERS),
    utc(),
    angle(2),
    angle(3),
    st.text("NADE", min_size=1, max_size=4),
    st.integers(0, 40),
    number(0, 99, 1),
    number(0, 900, 2),
)
def test_gns(talker, t, lat, lon, mode, sats, hdop, alt):
    line = sentence(
        "%sGNS,%s,%s,%s,%s,%s,%s,%02d,%s,%s,47.1,,"
        % (talker, t, lat[0], lat[1], lon[0], lon[1], mode, sats, hdop, alt)
    )
    m = oracle(line)
    f = decode(line)[0]
    assert f.sats == int(m.num_sats) and f.hdop == round(float(m.hdop) * 100)
    if any(c in "AD" for c in m.mode_indicator):
        assert close(f.lat, deg7(m.latitude), 0.51) and close(f.lon, deg7(m.longitude), 0.51)
        assert f.alt_cm == round(float(m.altitude) * 100)
    else:
        assert f.lat is None


@EXAMPLES
@given(st.sampled_from(TALKERS), utc(), st.dates(datetime.date(1980, 1, 1)))
def test_zda(talker, t, date):
    line = sentence("%sZDA,%s,%02d,%02d,%04d,00,00" % (talker, t, date.day, date.month, date.year))
    m = oracle(line)
    f = decode(line)[0]
    assert f.t == seconds(datetime.date(int(m.year), int(m.month), int(m.day)), m.timestamp)


@EXAMPLES
@given(
    st.sampled_from(TALKERS),
    utc(),
    number(0, 99, 3),
    number(0, 99, 3),
    number(0, 99, 3),
    number(0, 99, 3),
)
def test_gst(talker, t, major, minor, sdlat, sdlon):
    gga = sentence("GPGGA,%s,5000.0000,N,00500.0000,E,1,08,1.3,10.0,M,,M,," % t)
    line = sentence("%sGST,%s,1.0,%s,%s,45.0,%s,%s,2.0" % (talker, t, major, minor, sdlat, sdlon))
    m = oracle(line)
    f = decode(gga, line)[0]
    a = round(m.std_dev_latitude * 100 + 1e-9)  # emtag keeps centimetres
    b = round(m.std_dev_longitude * 100 + 1e-9)
    assert f.acc_cm == math.isqrt(4 * (a * a + b * b))


@EXAMPLES
@given(
    st.sampled_from(TALKERS),
    st.sampled_from("123"),
    st.lists(st.integers(1, 32), min_size=0, max_size=12),
    number(0, 50, 2),
    number(0, 50, 2),
    number(0, 50, 2),
    st.sampled_from(["", ",1", ",4"]),
)
def test_gsa(talker, mode, prns, pdop, hdop, vdop, sysid):
    rmc = sentence("GPRMC,120000,A,4808.9978,N,01135.0800,E,1.0,90.0,010120,,,A")
    slots = ["%02d" % p for p in prns] + [""] * (12 - len(prns))
    line = sentence(
        "%sGSA,A,%s,%s,%s,%s,%s%s" % (talker, mode, ",".join(slots), pdop, hdop, vdop, sysid)
    )
    m = oracle(line)
    f = decode(rmc, line)[0]
    ids = [getattr(m, "sv_id%02d" % i) for i in range(1, 13)]
    listed = {int(x) for x in ids if x}
    assert f.sats == (len(listed) if listed else None)
    dops = (m.pdop, m.hdop, m.vdop)
    assert (f.pdop, f.hdop, f.vdop) == tuple(round(float(x) * 100) for x in dops)
    assert f.fix == (int(m.mode_fix_type) if m.mode_fix_type in ("2", "3") else 2)


@st.composite
def gsv_group(draw):
    prn = draw(st.integers(1, 32))
    snr = draw(st.sampled_from(["", "00"] + ["%02d" % v for v in range(10, 56)]))
    return "%02d,%02d,%03d,%s" % (prn, draw(st.integers(0, 90)), draw(st.integers(0, 359)), snr)


@EXAMPLES
@given(
    st.sampled_from([t for t in TALKERS if t != "GN"]),
    st.lists(gsv_group(), max_size=4),
    st.sampled_from(["", ",1"]),
)
def test_gsv(talker, groups, signal):
    line = sentence(
        "%sGSV,1,1,%02d%s%s%s"
        % (talker, len(groups), "," if groups else "", ",".join(groups), signal)
    )
    m = oracle(line)
    f = decode(line)[0]
    c = SLOT[talker]
    n = len(groups)
    snrs = [int(getattr(m, "snr_%d" % i)) for i in range(1, n + 1) if getattr(m, "snr_%d" % i)]
    tracked = [s for s in snrs if s > 0]
    assert f.cn0_mask == 1 << c, CONSTELLATIONS[c]
    assert f.sv_view[c] == len([i for i in range(1, n + 1) if getattr(m, "sv_prn_num_%d" % i)])
    assert f.sv_cn0[c] == len(tracked)
    assert f.cn0_max[c] == max(tracked, default=0)
    assert f.cn0_mean[c] == (math.floor(sum(tracked) / len(tracked) + 0.5) if tracked else 0)


@EXAMPLES
@given(
    st.sampled_from(TALKERS),
    number(0, 359, 2),
    number(0, 999, 3),
    number(0, 999, 3),
    st.booleans(),
    st.sampled_from(["", ",A", ",D", ",N"]),
)
def test_vtg(talker, course, knots, kmh, with_knots, mode):
    gga = sentence("GPGGA,120000,5000.0000,N,00500.0000,E,1,08,1.3,10.0,M,,M,,")
    line = sentence(
        "%sVTG,%s,T,,M,%s,N,%s,K%s" % (talker, course, knots if with_knots else "", kmh, mode)
    )
    m = oracle(line)
    f = decode(gga, line)[0]
    if mode == ",N":
        assert f.speed_mmps is None and f.course_cdeg is None
        return
    assert f.course_cdeg == round(float(m.true_track) * 100) % 36000
    if with_knots:
        assert close(f.speed_mmps, float(m.spd_over_grnd_kts) * 1852000 / 3600, 0.51)
    else:
        assert close(f.speed_mmps, float(m.spd_over_grnd_kmph) * 1000000 / 3600, 0.51)


@EXAMPLES
@given(
    st.sampled_from(TALKERS),
    st.text(
        st.characters(min_codepoint=32, max_codepoint=126, blacklist_characters="$*,!\\^~"),
        max_size=60,
    ),
)
def test_txt(talker, text):
    line = sentence("%sTXT,01,01,02,%s" % (talker, text))
    m = oracle(line)
    assert m.text == text
    f = decode(line)[0]  # counted good; a TXT says nothing about the fix
    assert f.fix == 0 and f.lat is None and f.t is None
