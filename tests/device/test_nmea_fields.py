# Field readers of the NMEA parser: every backend available on this interpreter (the
# tag's allocation-free one everywhere, the CPython one off MicroPython) must agree with
# values worked out by hand.
# Some sentences quote gpsd's regression captures (BSD-2-Clause, Copyright the GPSD project;
# terms in ../shared/corpus/gpsd/COPYING).
import sys

from emtag.firmware import nmea_fields

BACKENDS = [(nmea_fields.Fields, nmea_fields.xor8)]
if sys.implementation.name != "micropython":
    from emtag.firmware import nmea_cpython

    BACKENDS.append((nmea_cpython.Fields, nmea_cpython.xor8))


def loaded(body):
    """One loaded Fields per backend for the sentence body (between $ and *)."""
    out = []
    for cls, _ in BACKENDS:
        f = cls()
        buf = b"xx" + body + b"yy"  # decoding happens in place inside a bigger buffer
        f.load(buf, 2, 2 + len(body))
        out.append(f)
    return out


def test_split_positions():
    for f in loaded(b"GPGSA,A,3,,07,,,1.5"):
        assert f.n == 8
        assert f.empty(2) is False and f.empty(3) is True and f.empty(9) is True
        assert f.ch(1) == ord("A") and f.ch(3) == 0 and f.ch(50) == 0
        assert f.width(7) == 3 and f.width(3) == 0 and f.width(8) == 0
        assert f.chat(7, 1) == ord(".") and f.chat(7, 3) == 0


def test_trailing_empty_field_and_many_fields():
    for f in loaded(b"GPVTG,1,"):
        assert f.n == 3 and f.empty(2)
    body = b"GPXXX" + b",1" * 60
    for f in loaded(body):
        assert f.n == nmea_fields.MAXFIELDS  # later fields ignored, not an error
        assert f.int_(nmea_fields.MAXFIELDS - 1) == 1


def test_fixed_point_rounding():
    cases = [
        (b"1.005", 2, 101),
        (b"1.004", 2, 100),
        (b"0.117", 4, 1170),
        (b"12", 2, 1200),
        (b".5", 0, 1),
        (b"5.", 1, 50),
        (b"0.0049999", 2, 0),
        (b"99.995", 2, 10000),
        (b"007", 0, 7),
        (b"1.23456789012345", 9, 1234567890),
    ]
    for text, scale, want in cases:
        for f in loaded(b"X," + text):
            assert f.num(1, scale) == want, (text, scale, f.num(1, scale))


def test_digits_are_bounded():
    for f in loaded(b"X,123456789012345678,1234567890123456789,12345678.1234567890,1" + b"0" * 30):
        assert f.int_(1) == 123456789012345678 and f.num(1, 0) == 123456789012345678
        assert f.int_(2) is None and f.num(2, 0) is None  # 19 digits: no receiver sends it
        assert f.num(3, 2) == 1234567812 and f.num(3, 9) == 12345678123456789
        assert f.num(4, 0) is None and f.snum(4, 0) is None and f.int_(4) is None
    for f in loaded(b"X,123456789012.1234567"):
        assert f.num(1, 2) is None


def test_malformed_numbers_are_unknown():
    for text in (b"", b".", b"1.2.3", b"-1", b"+1", b"1e3", b" 1", b"1_0", b"0x1", b"\xb91"):
        for f in loaded(b"X," + text):
            assert f.num(1, 2) is None, text
            assert f.int_(1) is None, text
    for f in loaded(b"X,1.5"):
        assert f.int_(1) is None  # a point makes an integer field malformed


def test_signed():
    for f in loaded(b"X,-21.3,+4,-,-.5,--1,-0"):
        assert f.snum(1, 2) == -2130
        assert f.snum(2, 0) == 4
        assert f.snum(3, 0) is None
        assert f.snum(4, 0) == -1  # half away from zero
        assert f.snum(5, 0) is None
        assert f.snum(6, 0) == 0


def test_time_of_day():
    cases = [
        (b"171926.00", 62366000),
        (b"235959.999", 86399999),
        (b"000000", 0),
        (b"120824.758", 43704758),
        (b"132820.6", 48500600),
        (b"101010.12345", 36610123),
        (b"235960", 86400000),  # leap second
        (b"240000", None),
        (b"126000", None),
        (b"1719", None),
        (b"171926:5", None),
        (b"17192a", None),
        (b"171926.x", None),
        (b"171926.", 62366000),
    ]
    for text, want in cases:
        for f in loaded(b"X," + text):
            assert f.tod(1) == want, (text, f.tod(1))


def test_degrees():
    cases = [
        (b"4404.14063,N", 90, 440690105),  # 44 + 4.14063 / 60
        (b"12118.85478,W", 180, -1213142463),  # 121 + 18.85478 / 60 = 121.3142463
        (b"4134.49821229,N", 90, 415749702),  # 41.574970204833
        (b"0000.0000,S", 90, 0),
        (b"3854.5087,S", 90, -389084783),  # 38.908478333
        (b"00000.000001,E", 180, 0),  # 1.7e-8 degrees rounds to 0
        (b"00000.000003,E", 180, 1),  # 5e-8 rounds up
        (b"9000.0000,N", 90, 900000000),
        (b"9000.0001,N", 90, None),
        (b"8960.0000,N", 90, None),
        (b"18100.0,E", 180, None),
        (b"4404.14063,X", 90, None),
        (b"4404.14063,", 90, None),
        (b",N", 90, None),
    ]
    for text, maxdeg, want in cases:
        for f in loaded(b"X," + text):
            assert f.deg(1, maxdeg) == want, (text, f.deg(1, maxdeg))
    for f in loaded(b"X,4404.14063"):
        assert f.deg(1, 90) is None  # no hemisphere field at all


def test_ints_bulk():
    for f in loaded(b"GPGSV,3,1,11,01,78,221,47,03,,042,00,,05,242,,06"):
        out = [0] * 4
        assert f.ints(4, 4, out) == 4
        assert out == [1, 3, None, 6]
        out = [0] * 4
        assert f.ints(7, 4, out) == 3
        assert out[:3] == [47, 0, None]
        out = [0] * 2
        assert f.ints(1, 1, out) == 2 and out == [3, 1]


def test_checksum():
    # *hh of the corpus sentences (gpsd neo-m8n.log)
    cases = (
        (b"GNVTG,,T,,M,0.117,N,0.216,K,A", 0x3F),
        (b"GLGSV,3,3,10,83,27,309,29,84,01,353,", 0x63),
    )
    for body, want in cases:
        for _, xor8 in BACKENDS:
            buf = b"$" + body + b"*"
            assert xor8(buf, 1, len(buf) - 1) == want
            assert xor8(buf, 1, 1) == 0
    long = bytes(range(32, 127)) + bytes(range(32, 127))  # longer than a line
    x = 0
    for c in long:
        x ^= c
    for _, xor8 in BACKENDS:
        assert xor8(long, 0, len(long)) == x
