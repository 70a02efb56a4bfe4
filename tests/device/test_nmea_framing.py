# Framing, checksums and health counters of the streaming NMEA parser, and proof on
# MicroPython that feeding allocates nothing.
# Some sentences quote gpsd's regression captures (BSD-2-Clause, Copyright the GPSD project;
# terms in ../shared/corpus/gpsd/COPYING).
from emtag.firmware.nmea import MAXLEN, NmeaParser


def nmea(body, end="\r\n"):
    """A sentence with its checksum, computed here independently of the parser."""
    x = 0
    for c in body:
        x ^= ord(c)
    return ("$%s*%02X%s" % (body, x, end)).encode()


RMC = "GPRMC,235724.02,A,4808.9978,N,01135.0800,E,000.0,000.0,060419,003.0,E,A"
GGA = "GPGGA,235724.02,4808.9978,N,01135.0800,E,1,04,01.4,00464.4,M,0046.2,M,,"
RMC2 = "GPRMC,235725.02,A,4808.9977,N,01135.0800,E,000.0,000.0,060419,003.0,E,A"


class Sink:
    def __init__(self, **kw):
        self.fixes = []
        self.p = NmeaParser(self.on_fix, **kw)

    def on_fix(self, fix):
        self.fixes.append(fix.copy())

    def feed(self, data):
        self.p.feed(data)
        self.p.flush()
        return self

    def counts(self):
        p = self.p
        return (p.good, p.bad_checksum, p.overlong, p.unknown, p.garbage)


def test_good_sentences_make_one_fix():
    s = Sink().feed(nmea(RMC) + nmea(GGA))
    assert s.counts() == (2, 0, 0, 0, 0)
    assert len(s.fixes) == 1
    assert s.fixes[0].lat == 481499633  # 48 + 8.9978 / 60


def test_checksum_forms():
    good = nmea(RMC)
    lower = good.replace(b"*3E", b"*3e")
    assert lower != good
    assert Sink().feed(lower).counts() == (1, 0, 0, 0, 0)
    bad = good.replace(b"*3E", b"*3F")
    assert Sink().feed(bad).counts() == (0, 1, 0, 0, 0)
    truncated = good.replace(b"*3E", b"*3")
    assert Sink().feed(truncated).counts() == (0, 1, 0, 0, 0)
    trailing = good.replace(b"*3E", b"*3E ")
    assert Sink().feed(trailing).counts() == (0, 1, 0, 0, 0)
    notahex = good.replace(b"*3E", b"*3G")
    assert Sink().feed(notahex).counts() == (0, 1, 0, 0, 0)
    bare = ("$" + RMC + "\r\n").encode()
    assert Sink().feed(bare).counts() == (0, 1, 0, 0, 0)


def test_receiver_profile_without_checksum():
    bare = ("$" + RMC + "\r\n").encode()
    s = Sink(require_checksum=False).feed(bare)
    assert s.counts() == (1, 0, 0, 0, 0)
    assert s.fixes[0].lat == 481499633
    # a checksum that is present must still be right
    bad = nmea(RMC).replace(b"*3E", b"*3F")
    assert Sink(require_checksum=False).feed(bad).counts() == (0, 1, 0, 0, 0)


def test_every_dollar_starts_a_sentence():
    spliced = b"$GPGGA,030130" + nmea(RMC)  # triton400.log: a GGA cut off by the next line
    assert Sink().feed(spliced).counts() == (1, 0, 0, 0, 1)
    doubled = b"$" + nmea(RMC)  # `$$` before every sentence (st-teseo-liv4f.log)
    assert Sink().feed(doubled).counts() == (1, 0, 0, 0, 0)
    # a packet injected in the middle of another (isync.log): the head is cut short by
    # the injected `$`, the injected one is good, the tail has no `$` and is garbage
    outer = nmea(RMC)
    injected = outer[:30] + nmea(GGA) + outer[30:]
    s = Sink().feed(injected)
    assert s.counts() == (1, 0, 0, 0, 2)
    assert s.fixes[0].alt_cm == 46440


def test_line_endings():
    for end in ("\r\n", "\n", "\r", "\n\r", "\r\r\n\n"):
        s = Sink().feed(nmea(RMC, end) + nmea(GGA, end) + nmea(RMC2, end))
        assert s.counts() == (3, 0, 0, 0, 0), end
        assert len(s.fixes) == 2
    # no line end: a sentence is complete only at CR or LF, so the next `$` cuts it short
    assert Sink().feed(nmea(RMC, "") + nmea(GGA)).counts() == (1, 0, 0, 0, 1)
    assert Sink().feed(nmea(RMC, "")).counts() == (0, 0, 0, 0, 0)  # still pending


def test_overlong_lines_are_dropped():
    long = "GPTXT,01,01,02," + "x" * MAXLEN
    s = Sink().feed(nmea(long) + nmea(RMC))
    assert s.counts() == (1, 0, 1, 0, 0)
    exact = "GPTXT,01,01,02," + "y" * (MAXLEN - 18)  # 3 more bytes for *hh: exactly MAXLEN
    assert len(nmea(exact)) == MAXLEN + 3
    assert Sink().feed(nmea(exact)).counts() == (1, 0, 0, 0, 0)
    over = "GPTXT,01,01,02," + "y" * (MAXLEN - 17)
    assert Sink().feed(nmea(over)).counts() == (0, 0, 1, 0, 0)


def test_garbage_and_noise():
    noise = b"\x00\xff\xfe junk \x80\x81"
    s = Sink().feed(noise + nmea(RMC) + b"\xb5b\x01\x07" + nmea(GGA) + b"\r\n\r\n")
    assert s.counts() == (2, 0, 0, 0, 2)
    # non-ASCII bytes inside a sentence break its checksum
    hurt = nmea(RMC)
    hurt = hurt[:20] + b"\xe9" + hurt[21:]
    assert Sink().feed(hurt).counts() == (0, 1, 0, 0, 0)
    assert Sink().feed(b"").counts() == (0, 0, 0, 0, 0)
    assert Sink().feed(b"$").counts() == (0, 0, 0, 0, 0)
    assert Sink().feed(b"$\r\n").counts() == (0, 1, 0, 0, 0)


def test_unknown_sentences():
    s = Sink().feed(
        nmea("PGRME,9.1,M,15.0,M,12.0,M")  # proprietary
        + nmea("IIHDG,98.3,0.0,E,12.6,W")  # talker not a GNSS
        + nmea("GPXTE,A,A,0.67,L,N")  # type not covered
        + nmea("GPRMCX,1,2")  # address of 6 letters
        + nmea("GP")  # address too short
        + nmea(RMC)
    )
    assert s.counts() == (1, 0, 0, 5, 0)


def stream():
    """A capture with every kind of damage, several epochs."""
    parts = [
        b"\xff\x00",
        nmea(RMC),
        nmea(GGA),
        b"$GPGGA,2357",
        nmea("GPGSV,1,1,01,20,78,050,41"),
        nmea("GPTXT,01,01,02," + "z" * MAXLEN),
        b"\n\r",
        nmea(RMC2)[:-1],
        b"$",
        nmea(RMC2, "\n"),
        nmea("PUBX,00,1,2,3"),
        nmea(GGA.replace("235724.02", "235726.02")),
        b"tail",
    ]
    return b"".join(parts)


def run(chunks):
    s = Sink()
    for c in chunks:
        s.p.feed(c)
    s.p.flush()
    return s


def summary(s):
    return [s.counts()] + [(f.t, f.t_ms, f.lat, f.lon, f.sats, f.alt_cm) for f in s.fixes]


def test_any_chunking_gives_the_same_result():
    data = stream()
    whole = summary(run([data]))
    assert whole[0] == (6, 0, 1, 1, 3)
    assert len(whole) == 1 + 3
    assert summary(run([data[i : i + 1] for i in range(len(data))])) == whole
    seed = 7
    for _ in range(5):
        chunks, i = [], 0
        while i < len(data):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            n = seed % 90
            chunks.append(data[i : i + n])
            i += n
        assert summary(run(chunks)) == whole
        assert summary(run([bytearray(c) for c in chunks])) == whole
        assert summary(run([memoryview(c) for c in chunks])) == whole
    assert summary(run([memoryview(data)])) == whole  # bigger than the staging buffer


def test_fix_is_reused_and_copy_is_independent():
    seen = []
    p = NmeaParser(seen.append)
    p.feed(nmea(RMC) + nmea(RMC2))
    p.flush()
    assert len(seen) == 2 and seen[0] is seen[1]
    c = seen[1].copy()
    c.sv_view[0] = 99
    c.lat = 1
    assert seen[1].sv_view[0] != 99 and seen[1].lat != 1


def test_feeding_allocates_nothing():
    try:
        import micropython
    except ImportError:
        return  # CPython allocates everywhere; the tag's guarantee is tested on MicroPython
    import gc

    data = stream() * 3
    ba = bytearray(data)
    small = memoryview(ba)[:200]
    big = memoryview(ba)
    one = bytearray(1)
    count = [0]

    def on_fix(fix):
        count[0] += 1

    p = NmeaParser(on_fix)
    p.feed(data)  # warm up: first use of every code path
    p.flush()
    gc.collect()
    before = gc.mem_alloc()
    micropython.heap_lock()
    try:
        for _ in range(20):
            p.feed(data)
            p.feed(ba)
            p.feed(small)
            p.feed(big)
            for c in data:  # every sentence split across chunks
                one[0] = c
                p.feed(one)
            p.flush()
    finally:
        micropython.heap_unlock()
    assert gc.mem_alloc() == before
    assert count[0] > 100
