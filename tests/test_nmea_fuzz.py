"""Fuzzed byte streams: the parser never raises, gives the same answer however the bytes
are chunked and with either field backend, and on MicroPython allocates nothing at all
while it runs (heap locked: any allocation would raise MemoryError)."""

import glob
import os
import random
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from emtag.firmware.nmea import NmeaParser
from emtag.host import unixport
from emtag.host.nmeacapture import strip_comments

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(REPO, "..", "shared", "corpus", "gpsd")


def _seed_lines():
    lines = []
    for path in sorted(glob.glob(os.path.join(CORPUS, "*.log")))[::3]:
        with open(path, "rb") as f:
            lines += strip_comments(f.read()).splitlines(True)[:40]
    # without the corpus, a few sentences of our own
    return lines or [
        b"$GPRMC,235724.02,A,4808.9978,N,01135.0800,E,000.0,000.0,060419,003.0,E,A*3E\r\n",
        b"$GPGSV,1,1,01,20,78,050,41*45\r\n",
    ]


SEEDS = _seed_lines()
NOISE = [b"$", b"*", b",", b"\r", b"\n", b"\x00", b"\xff", b"$$", b"*00", b"9", b".", b"-"]


def mutate(rng, line):
    k = rng.randrange(6)
    i = rng.randrange(len(line) + 1)
    if k == 0:  # drop a span: truncated sentence or checksum
        return line[:i] + line[i + rng.randrange(1, 8) :]
    if k == 1:  # inject noise mid-sentence
        return line[:i] + rng.choice(NOISE) + line[i:]
    if k == 2:  # splice with another sentence
        other = rng.choice(SEEDS)
        return line[:i] + other[rng.randrange(len(other)) :]
    if k == 3:  # flip a byte
        if not line:
            return line
        i = min(i, len(line) - 1)
        return line[:i] + bytes([line[i] ^ (1 << rng.randrange(8))]) + line[i + 1 :]
    if k == 4:  # lose the line end, or double it
        return line.rstrip(b"\r\n") if rng.random() < 0.5 else line + b"\r\n"
    return line


def fuzz_stream(seed, n=60):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        line = rng.choice(SEEDS)
        while rng.random() < 0.5:
            line = mutate(rng, line)
        out.append(line)
        if rng.random() < 0.05:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(200))))
    return b"".join(out)


def run(data, chunks=None, portable=False):
    fixes = []
    p = NmeaParser(lambda f: fixes.append(vars(f.copy())), not_before=0, portable=portable)
    if chunks is None:
        p.feed(data)
    else:
        i = 0
        for n in chunks:
            p.feed(memoryview(data)[i : i + n] if n % 2 else data[i : i + n])
            i += n
        p.feed(data[i:])
    p.flush()
    return fixes, (p.good, p.bad_checksum, p.overlong, p.unknown, p.garbage)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32), st.lists(st.integers(1, 97), max_size=40))
def test_mutated_corpus_never_raises_and_ignores_chunking(seed, chunks):
    data = fuzz_stream(seed)
    whole = run(data)
    assert run(data, chunks) == whole
    assert run(data, portable=True) == whole
    good, bad, overlong, unknown, _ = whole[1]
    assert good + bad + overlong + unknown <= data.count(b"$")
    for fix in whole[0]:
        assert fix["fix"] in (0, 2, 3)
        assert fix["lat"] is None or -900000000 <= fix["lat"] <= 900000000
        assert fix["lon"] is None or -1800000000 <= fix["lon"] <= 1800000000
        assert fix["t_ms"] is None or 0 <= fix["t_ms"] <= 999


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(1, 50), max_size=20))
def test_random_bytes_never_raise(data, chunks):
    whole = run(data)
    assert run(data, chunks) == whole
    assert run(data, portable=True) == whole


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(SEEDS + NOISE + [b"\r\n", b"$GP", b"RMC,", b"*"]), max_size=80))
def test_sentence_soup_never_raises(parts):
    data = b"".join(parts)
    assert run(data, [1] * len(data)) == run(data) == run(data, portable=True)


MP_FUZZ = r"""
import sys, gc, micropython
from emtag.firmware.nmea import NmeaParser
count = [0]
def on_fix(fix):
    count[0] += 1
f = open(sys.argv[1], 'rb')
blobs = f.read().split(b'\n#EMTAG#\n')
f.close()
parsers = [NmeaParser(on_fix, not_before=0) for b in blobs]
one = bytearray(1)
for p, b in zip(parsers, blobs):  # warm up the code paths, then start afresh
    p.feed(b)
parsers = [NmeaParser(on_fix, not_before=0) for b in blobs]
count[0] = 0
gc.collect()
before = gc.mem_alloc()
micropython.heap_lock()
for i in range(len(blobs)):
    p = parsers[i]
    b = blobs[i]
    if i % 2:
        for c in b:
            one[0] = c
            p.feed(one)
    else:
        p.feed(b)
    p.flush()
micropython.heap_unlock()
grew = gc.mem_alloc() - before
for p in parsers:
    print(p.good, p.bad_checksum, p.overlong, p.unknown, p.garbage)
print('fixes', count[0], 'grew', grew)
"""


def test_micropython_fuzz_allocates_nothing():
    if unixport.binary() is None:
        import pytest

        pytest.skip("MicroPython unix port not installed")
    blobs = [fuzz_stream(seed, 40) for seed in range(60)]
    blobs += [bytes(random.Random(s).randrange(256) for _ in range(500)) for s in range(10)]
    sep = b"\n#EMTAG#\n"
    assert not any(sep in b for b in blobs)
    with tempfile.NamedTemporaryFile(suffix=".bin", delete=False) as f:
        f.write(sep.join(blobs))
    try:
        proc = unixport.run(["-c", MP_FUZZ, f.name], heapsize="2m", capture_output=True,
                            text=True, timeout=300)  # room for the test data only
    finally:
        os.unlink(f.name)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.split("\n")
    fixes = 0
    for blob, line in zip(blobs, lines[: len(blobs)], strict=True):
        fx, counts = run(blob)
        fixes += len(fx)
        assert line == "%d %d %d %d %d" % counts
    assert lines[len(blobs)] == "fixes %d grew 0" % fixes
