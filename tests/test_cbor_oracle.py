"""emtag.protocol.cbor against cbor2 as the oracle (hypothesis), and CPython against
MicroPython on a batch of generated inputs.

cbor2's canonical=True orders map keys length-first, then bytewise (RFC 7049 §3.9
"canonical"); RFC 8949 §4.2.1 core deterministic encoding, which we implement, orders them
bytewise only. The two differ when a shorter key sorts after a longer one, e.g. -1 (0x20)
and 100 (0x1864). So `oracle()` below uses cbor2 for every item but puts map entries in
bytewise order; values without maps are compared with cbor2.dumps(canonical=True) directly.
"""

import io
import json
import math
import os
import random
import tempfile
from collections.abc import Mapping

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emtag.host import unixport
from emtag.protocol.cbor import UNDEFINED, CBORError, Simple, Tag, decode_prefix, dumps, loads

SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
LAX = {"strict_encoding": False, "allow_indefinite": True}

# Tags cbor2 gives a meaning to (found by probing cbor2 6.3: 0..69999 and a few big ones).
# In the fuzz comparison cbor2 must return these raw, as we do; 2 and 3 (bignums) we share.
CBOR2_SEMANTIC_TAGS = [0, 1, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260,
                       261, 1004, 43000, 55799]
RAW = {t: (lambda value, immutable, t=t: cbor2.CBORTag(t, value)) for t in CBOR2_SEMANTIC_TAGS}


# ------------------------------------------------------------------------------ helpers

def to_cbor2(v):
    """Our value tree as cbor2 objects."""
    if isinstance(v, Tag):
        return cbor2.CBORTag(v.tag, to_cbor2(v.value))
    if isinstance(v, Simple):
        return cbor2.undefined if v.value == 23 else cbor2.CBORSimpleValue(v.value)
    if isinstance(v, list):
        return [to_cbor2(x) for x in v]
    if isinstance(v, dict):
        return {to_cbor2(k): to_cbor2(x) for k, x in v.items()}
    return v


def head(major, n):
    f = io.BytesIO()
    cbor2.CBOREncoder(f).encode_length(major, n)
    return f.getvalue()


def oracle(v):
    """cbor2's canonical encoding, but with map entries in bytewise order (RFC 8949)."""
    if isinstance(v, list):
        return head(4, len(v)) + b"".join(oracle(x) for x in v)
    if isinstance(v, dict):
        pairs = sorted((oracle(k), oracle(x)) for k, x in v.items())
        return head(5, len(v)) + b"".join(k + x for k, x in pairs)
    if isinstance(v, Tag):
        return head(6, v.tag) + oracle(v.value)
    return cbor2.dumps(to_cbor2(v), canonical=True)


def norm(x):
    """A comparable form of a value from us or from cbor2: types kept, NaN equal to NaN."""
    if x is None or isinstance(x, bool):
        return ("atom", repr(x))
    if isinstance(x, int):
        return ("int", x)
    if isinstance(x, float):
        return ("float", repr(x))
    if isinstance(x, (bytes, str)):
        return (type(x).__name__, x)
    if isinstance(x, (list, tuple)):
        return ("array", tuple(norm(i) for i in x))
    if isinstance(x, Mapping):
        return ("map", tuple(sorted(((norm(k), norm(i)) for k, i in x.items()), key=repr)))
    if isinstance(x, (Tag, cbor2.CBORTag)):
        return ("tag", x.tag, norm(x.value))
    if isinstance(x, Simple):
        return ("simple", x.value)
    if isinstance(x, cbor2.CBORSimpleValue):
        return ("simple", x.value)
    if x is cbor2.undefined:
        return ("simple", 23)
    raise AssertionError("unexpected %r" % (x,))


def has_map(v):
    if isinstance(v, dict):
        return True
    if isinstance(v, list):
        return any(has_map(x) for x in v)
    return isinstance(v, Tag) and has_map(v.value)


# ----------------------------------------------------------------------------- strategies

ints = st.one_of(
    st.integers(-30, 30), st.integers(-(2**64) - 2, 2**64 + 2),
    st.sampled_from([23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1, 2**64,
                     -24, -25, -(2**64), -(2**64) - 1]),
    st.integers(),
)
floats = st.one_of(st.floats(width=16), st.floats(width=32), st.floats())
simples = st.sampled_from([UNDEFINED, Simple(0), Simple(19), Simple(32), Simple(255)])
keys = st.one_of(ints, st.text(max_size=6), st.binary(max_size=6), st.booleans(), st.none(),
                 st.floats(allow_nan=False))
leaves = st.one_of(st.none(), st.booleans(), ints, floats, st.binary(max_size=40),
                   st.text(max_size=20), simples)
tag_numbers = st.one_of(st.integers(0, 30), st.integers(0, 2**64 - 1)).filter(
    lambda t: t not in (2, 3))


def containers(children):
    return st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(keys, children, max_size=6),
        st.builds(Tag, tag_numbers, children),
    )


values = st.recursive(leaves, containers, max_leaves=25)
values_without_maps = st.recursive(
    leaves, lambda c: st.one_of(st.lists(c, max_size=6), st.builds(Tag, tag_numbers, c)),
    max_leaves=25)


@st.composite
def mutated(draw):
    """A valid encoding with a few bytes flipped, inserted, deleted or cut off."""
    data = bytearray(oracle(draw(values)))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
        i = draw(st.integers(0, len(data)))
        b = draw(st.one_of(st.integers(0, 255), st.sampled_from([0x1F, 0x5F, 0x9F, 0xFF,
                                                                 0x1C, 0xF8, 0x18, 0x1B])))
        if op == "set" and i < len(data):
            data[i] = b
        elif op == "insert":
            data.insert(i, b)
        elif op == "delete" and i < len(data):
            del data[i]
        elif op == "truncate":
            del data[i:]
    return bytes(data)


inputs = st.one_of(st.binary(max_size=48), mutated())


# ---------------------------------------------------------------------- (1) encode/decode

@SETTINGS
@given(values_without_maps)
def test_dumps_equals_cbor2_canonical(v):
    assert dumps(v) == cbor2.dumps(to_cbor2(v), canonical=True)


@SETTINGS
@given(values)
def test_dumps_equals_oracle_and_roundtrips(v):
    enc = dumps(v)
    assert enc == oracle(v)
    assert norm(loads(enc)) == norm(v)
    # cbor2's length-first key order is not deterministic by RFC 8949, so strict decoding
    # may refuse it; lax decoding must read it.
    assert norm(loads(cbor2.dumps(to_cbor2(v), canonical=True), strict_encoding=False)) == \
        norm(v)
    assert norm(cbor2_loads(enc, False)) == norm(to_cbor2(v))


def test_key_order_differs_from_cbor2_canonical():
    assert dumps({100: 1, -1: 2}).hex() == "a2" "186401" "2002"  # bytewise: 0x18 < 0x20
    assert cbor2.dumps({100: 1, -1: 2}, canonical=True).hex() == "a2" "2002" "186401"
    with pytest.raises(CBORError, match="order"):
        loads(bytes.fromhex("a220021864" "01"))


@settings(SETTINGS, max_examples=150)
@given(st.lists(values, min_size=1, max_size=5))
def test_decode_prefix_on_concatenated_items(items):
    stream = b"".join(cbor2.dumps(to_cbor2(v), canonical=True) for v in items)
    pos, out = 0, []
    while pos < len(stream):
        v, pos = decode_prefix(stream, pos, strict_encoding=False)
        out.append(v)
    assert [norm(v) for v in out] == [norm(v) for v in items]


# ----------------------------------------------------------------------------- (2) fuzz

def cbor2_loads(data, allow_indefinite):
    return cbor2.loads(data, semantic_decoders=RAW, allow_duplicate_keys=False,
                       allow_indefinite=allow_indefinite)


@settings(SETTINGS, max_examples=1000)
@given(inputs)
def test_fuzz_against_cbor2(data):
    for opts in ({}, LAX):
        try:
            ours = loads(data, **opts)
        except CBORError:
            ours = CBORError  # anything else escaping loads fails the test
        try:
            theirs = cbor2_loads(data, bool(opts))
        except Exception as e:  # cbor2 raises more than CBORDecodeError on junk
            if "Duplicate map key: CBORSimpleValue" in str(e):
                # cbor2 quirk: CBORSimpleValue(n) == n, so it takes simple(0) and 0 for the
                # same key; RFC 8949 (and we) keep them apart.
                continue
            theirs = CBORError
        if theirs is CBORError:
            assert ours is CBORError, "cbor2 rejects %s, we accept %r" % (data.hex(), ours)
        if ours is not CBORError:
            assert norm(ours) == norm(theirs), data.hex()
            if not opts:  # strict: only the deterministic encoding of a value is accepted
                assert dumps(ours) == data


# --------------------------------------------------------------- (3) same on MicroPython

MP_SCRIPT = """
import sys
from binascii import hexlify, unhexlify
from emtag.protocol.cbor import CBORError, dumps, loads
out = []
for line in open(sys.argv[1]):
    data = unhexlify(line.strip())
    row = []
    for lax in (False, True):
        try:
            v = loads(data, strict_encoding=not lax, allow_indefinite=lax)
            row.append(hexlify(dumps(v)).decode())
        except CBORError as e:
            row.append("E%d" % e.offset)
    print(" ".join(row))
"""


def fingerprint(data):
    row = []
    for lax in (False, True):
        try:
            v = loads(data, strict_encoding=not lax, allow_indefinite=lax)
            row.append(dumps(v).hex())
        except CBORError as e:
            row.append("E%d" % e.offset)
    return " ".join(row)


def random_value(rng, depth=0):
    kind = rng.randrange(12 if depth < 3 else 8)
    if kind == 0:
        return rng.choice([None, True, False, UNDEFINED, Simple(rng.randrange(32, 256))])
    if kind in (1, 2):
        return rng.randrange(-(2 ** rng.choice([5, 8, 16, 32, 64, 80])), 2**64 + 5)
    if kind == 3:
        return rng.choice([0.0, -0.0, 1.5, 65504.0, 1e-7, 1.1, 1e300, math.inf, -math.inf,
                           math.nan, rng.uniform(-1e6, 1e6), float(rng.randrange(-99, 99))])
    if kind == 4:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
    if kind in (5, 6, 7):
        return "".join(rng.choice("aZ0 üé水𐅑\x00") for _ in range(rng.randrange(12)))
    if kind in (8, 9):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(6))]
    if kind == 10:
        return {random_value(rng, 3): random_value(rng, depth + 1) for _ in range(5)}
    return Tag(rng.choice([0, 1, 24, 32, 55799, 2**40]), random_value(rng, depth + 1))


def micropython_batch(n=400, seed=8949):
    rng = random.Random(seed)
    batch = []
    for i in range(n):
        data = bytearray(dumps(random_value(rng)))
        if i % 4 == 1:  # lax-only: a non-preferred form or an indefinite wrapper
            data = bytearray(b"\x9f") + data + b"\xff" if i % 8 == 1 else \
                bytearray(b"\xfb") + bytearray(8) if i % 8 == 5 else data + b"\x00"
        elif i % 4 == 2:
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif i % 4 == 3:
            data = bytearray(rng.randrange(256) for _ in range(rng.randrange(1, 24)))
        batch.append(bytes(data))
    return batch


@pytest.mark.skipif(unixport.binary() is None, reason="MicroPython unix port not installed")
def test_micropython_decodes_like_cpython():
    batch = micropython_batch()
    expected = [fingerprint(d) for d in batch]
    # Both interpreters see accepted, lax-only and rejected inputs.
    assert 100 < sum(e.split()[0][0] != "E" for e in expected) < 300
    assert sum(e.split()[0][0] == "E" and e.split()[1][0] != "E" for e in expected) > 40
    with tempfile.NamedTemporaryFile("w", suffix=".hex", delete=False) as f:
        f.write("\n".join(d.hex() for d in batch) + "\n")
    try:
        proc = unixport.run(["-c", MP_SCRIPT, f.name], capture_output=True, text=True,
                            timeout=120)
    finally:
        os.unlink(f.name)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = proc.stdout.splitlines()
    assert len(got) == len(batch), proc.stdout[-2000:] + proc.stderr[-2000:]
    diffs = [(d.hex(), e, g) for d, e, g in zip(batch, expected, got, strict=True) if e != g]
    assert not diffs, json.dumps(diffs[:5], indent=1)


def test_cbor_benchmark_runs_every_codec_on_the_same_record(capsys):
    from emtag.tools import bench_cbor

    assert bench_cbor.main(["-n", "50"]) == 0
    out = capsys.readouterr().out
    assert "fix record, " in out and "cbor2 (C), CPython" in out and "emtag, CPython" in out
    ns: dict = {}
    exec(bench_cbor.LOOP, ns)
    # canonical CBOR: both codecs make the same bytes of the benchmark's record
    assert ns["cbor"].dumps(ns["REC"]) == cbor2.dumps(ns["REC"], canonical=True)
