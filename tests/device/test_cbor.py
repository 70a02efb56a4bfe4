# Device tests for emtag.protocol.cbor: run on CPython and on the MicroPython unix port.
import json
from binascii import hexlify, unhexlify

from emtag.protocol.cbor import (
    UNDEFINED,
    CBORError,
    Simple,
    Tag,
    _utf8_ok,
    decode_prefix,
    dump_into,
    dumps,
    loads,
)

# The vectors live beside the repo: ../../../shared from tests/device (no os.path on the tag).
_FILE = __file__.replace("\\", "/")
_HERE = _FILE.rsplit("/", 1)[0] if "/" in _FILE else "."
VECTORS = _HERE + "/../../../shared/vectors/cbor/appendix_a.json"

LAX = {"strict_encoding": False, "allow_indefinite": True}


def h(s):
    return unhexlify(s.replace(" ", ""))


def hexs(b):
    return hexlify(b).decode()


def raises(data, **kw):
    """The CBORError loads(data) raises (fails the test if it returns or raises otherwise)."""
    try:
        value = loads(data, **kw)
    except CBORError as e:
        assert " at byte " in str(e), str(e)
        return e
    raise AssertionError("accepted %s as %r" % (hexs(data), value))


def same(a, b):
    """Equal, and of the same types all the way down (1, 1.0 and True differ; NaN == NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(a[i], b[i]) for i in range(len(a)))
    if isinstance(a, dict):
        return len(a) == len(b) and all(k in b and same(v, b[k]) for k, v in a.items())
    if isinstance(a, Tag):
        return a.tag == b.tag and same(a.value, b.value)
    return a == b


def diag(x):
    """RFC 8949 §8 diagnostic notation, enough for the Appendix A vectors."""
    if x is None:
        return "null"
    if x is True or x is False:
        return "true" if x else "false"
    if isinstance(x, Simple):
        return repr(x)
    if isinstance(x, float):
        if x != x:
            return "NaN"
        if x in (float("inf"), float("-inf")):
            return "Infinity" if x > 0 else "-Infinity"
        return repr(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, bytes):
        return "h'%s'" % hexs(x)
    if isinstance(x, str):
        return '"%s"' % x
    if isinstance(x, list):
        return "[" + ", ".join(diag(v) for v in x) + "]"
    if isinstance(x, dict):
        # Deterministic key order: MicroPython's dict does not keep insertion order.
        items = sorted(x.items(), key=lambda kv: dumps(kv[0]))
        return "{" + ", ".join(diag(k) + ": " + diag(v) for k, v in items) + "}"
    assert isinstance(x, Tag)
    return "%d(%s)" % (x.tag, diag(x.value))


# Vectors that are not what RFC 8949 calls well-formed: Appendix A of RFC 7049 had simple(24)
# as f818; RFC 8949 §3.3 forbids two-byte simple values below 32 (its Appendix A drops it).
NOT_WELL_FORMED = ("f818",)
# The decoder joins the chunks of an indefinite-length string, so the diagnostic of the
# decoded value shows the whole string.
DIAG_JOINED = {"5f42010243030405ff": "h'0102030405'"}


def test_appendix_a_vectors():
    with open(VECTORS) as f:
        vectors = json.load(f)
    checked = 0
    for v in vectors:
        data = h(v["hex"])
        if v["hex"] in NOT_WELL_FORMED:
            raises(data)
            raises(data, **LAX)
            continue
        if v["roundtrip"]:
            value = loads(data)
            # Deterministic form: re-encodes to the same bytes.
            assert dumps(value) == data, (v["hex"], hexs(dumps(value)))
        else:
            # Indefinite lengths and floats wider than needed: not deterministic, so the
            # default (strict) decoder rejects them; a lax one reads them and dumps writes
            # the deterministic form, which decodes back to the same value.
            raises(data)
            value = loads(data, **LAX)
            again = dumps(value)
            assert again != data and len(again) <= len(data), v["hex"]
            assert same(loads(again), value), v["hex"]
        if "decoded" in v:
            assert same(value, v["decoded"]), (v["hex"], value, v["decoded"])
        else:
            assert diag(value) == DIAG_JOINED.get(v["hex"], v["diagnostic"]), (
                v["hex"],
                diag(value),
            )
        checked += 1
    assert checked == len(vectors) - len(NOT_WELL_FORMED) == 81


def test_encode_ints():
    cases = [
        (0, "00"),
        (23, "17"),
        (24, "1818"),
        (255, "18ff"),
        (256, "190100"),
        (65535, "19ffff"),
        (65536, "1a00010000"),
        (2**32 - 1, "1affffffff"),
        (2**32, "1b0000000100000000"),
        (2**64 - 1, "1bffffffffffffffff"),
        (2**64, "c249010000000000000000"),
        (-1, "20"),
        (-24, "37"),
        (-25, "3818"),
        (-(2**64), "3bffffffffffffffff"),
        (-(2**64) - 1, "c349010000000000000000"),
        (2**72, "c24a01000000000000000000"),
    ]
    for n, x in cases:
        assert hexs(dumps(n)) == x, (n, hexs(dumps(n)))
        assert same(loads(h(x)), n)


def test_encode_floats_shortest():
    cases = [
        (0.0, "f90000"),
        (-0.0, "f98000"),
        (1.0, "f93c00"),
        (65504.0, "f97bff"),
        (65520.0, "fa477ff000"),
        (100000.0, "fa47c35000"),
        (5.960464477539063e-08, "f90001"),
        (2.0**-25, "fa33000000"),
        (6.097555160522461e-05, "f903ff"),
        (1.00048828125, "fa3f801000"),
        (1.1, "fb3ff199999999999a"),
        (3.4028234663852886e38, "fa7f7fffff"),
        (1e300, "fb7e37e43c8800759c"),
        (float("inf"), "f97c00"),
        (float("-inf"), "f9fc00"),
        (float("nan"), "f97e00"),
        (-4.0, "f9c400"),
        (0.5, "f93800"),
        (1.401298464324817e-45, "fa00000001"),
    ]
    for x, enc in cases:
        assert hexs(dumps(x)) == enc, (x, hexs(dumps(x)))
        assert same(loads(h(enc)), x), enc


def test_encode_types():
    assert dumps(None) == b"\xf6" and dumps(True) == b"\xf5" and dumps(False) == b"\xf4"
    assert dumps(UNDEFINED) == b"\xf7" and dumps(Simple(16)) == b"\xf0"
    assert dumps(Simple(255)) == b"\xf8\xff"
    assert dumps(b"\x01\x02") == dumps(bytearray(b"\x01\x02")) == b"\x42\x01\x02"
    assert dumps(memoryview(b"\x00\x01\x02")[1:]) == b"\x42\x01\x02"
    assert dumps((1, [2])) == dumps([1, [2]]) == h("82 01 81 02")
    assert dumps("ü") == h("62 c3bc")
    assert dumps(Tag(1, 1363896240)) == h("c1 1a514b67b0")
    # Bignum tags are written in the preferred form of the integer they stand for.
    assert dumps(Tag(2, b"\x00\x05")) == b"\x05"
    assert dumps(Tag(3, b"\x01" + bytes(8))) == h("c3 49 01 0000000000000000")
    for bad in (set(), object(), 1j, dumps):
        try:
            dumps([bad])
        except TypeError as e:
            assert type(bad).__name__ in str(e), str(e)
        else:
            raise AssertionError("encoded %r" % (bad,))
    buf = bytearray(b"\xaa")
    assert dump_into(buf, [1, "a"]) is buf and buf == h("aa 82 01 6161")


def test_map_key_order():
    # Core deterministic: bytewise order of the encoded keys (not length-first as RFC 7049).
    m = {"b": 1, -1: 2, 100: 3, "aa": 4, 10: 5, b"": 6, False: 7, (1,): 8}
    assert hexs(dumps(m)) == ("a80a051864032002400661620162616104810108f407")
    assert dumps({1: {3: 0, 2: 0}}) == h("a1 01 a2 0200 0300")
    try:
        dumps({float("nan"): 1, -float("nan"): 2})
    except ValueError:
        pass
    else:
        raise AssertionError("two keys with the same encoding")


def test_tag_and_simple_objects():
    assert Tag(5, [1]) == Tag(5, [1]) and Tag(5, 1) != Tag(6, 1) and Tag(5, 1) != 1
    assert repr(Tag(5, "a")) == "Tag(5, 'a')"
    assert {Tag(5, 1): 0}[Tag(5, 1)] == 0
    assert Simple(23) == UNDEFINED and repr(UNDEFINED) == "undefined"
    assert repr(Simple(40)) == "simple(40)"
    for bad in (20, 24, 31, 256, -1):
        try:
            Simple(bad)
        except ValueError:
            pass
        else:
            raise AssertionError(bad)
    for bad in (-1, 2**64):
        try:
            Tag(bad, 0)
        except ValueError:
            pass
        else:
            raise AssertionError(bad)
    assert loads(h("f7")) is UNDEFINED
    assert loads(h("d9 d9f7 a1 01 f7")) == Tag(55799, {1: UNDEFINED})


def test_decode_types():
    assert type(loads(h("43 010203"))) is bytes
    assert loads(bytearray(h("82 01 02"))) == [1, 2]
    assert loads(memoryview(h("ff 82 01 02 ff"))[1:4]) == [1, 2]
    assert loads(h("c2 49 010000000000000000")) == 2**64
    assert loads(h("c2 41 05"), strict_encoding=False) == 5
    assert loads(h("c3 40"), strict_encoding=False) == -1
    assert loads(h("f8 20")) == Simple(32)
    assert loads(h("a1 f4 f5")) == {False: True}


def test_decode_prefix_stream():
    stream = dumps([1, 2]) + dumps({"k": b"v"}) + dumps(Tag(18, [h("a10126"), {}, None, b""]))
    out, pos = [], 0
    while pos < len(stream):
        value, pos = decode_prefix(stream, pos)
        out.append(value)
    assert out == [[1, 2], {"k": b"v"}, Tag(18, [h("a10126"), {}, None, b""])]
    assert pos == len(stream)
    assert decode_prefix(h("01 02"), 1) == (2, 2)
    assert decode_prefix(h("01 02")) == (1, 1)
    for bad in (2, 3):
        try:
            decode_prefix(h("01 02"), bad)
        except CBORError:
            pass
        else:
            raise AssertionError(bad)
    try:
        decode_prefix(h("01 9f ff"), 1)
    except CBORError as e:
        assert e.offset == 1, e.offset
    else:
        raise AssertionError("indefinite accepted")


# (hex, what) rejected by loads with its defaults.
MALFORMED = [
    ("", "empty"),
    ("18", "truncated argument"),
    ("19 01", "truncated argument"),
    ("1b 00000000000000", "truncated argument"),
    ("62 61", "truncated text"),
    ("43 0102", "truncated bytes"),
    ("82 01", "truncated array"),
    ("a1 01", "map key without value"),
    ("c2", "tag without content"),
    ("fa 0000", "truncated float"),
    ("00 00", "trailing byte"),
    ("80 ff", "trailing break"),
    ("1c", "reserved additional info 28"),
    ("3d", "reserved additional info 29"),
    ("fe", "reserved additional info 30"),
    ("1f", "indefinite int"),
    ("3f", "indefinite negative int"),
    ("df 00", "indefinite tag"),
    ("ff", "break outside"),
    ("82 01 ff", "break inside definite array"),
    ("5b ffffffffffffffff", "byte string longer than the input"),
    ("7a 7fffffff 00", "text string longer than the input"),
    ("9b ffffffffffffffff", "array count larger than the input"),
    ("ba 7fffffff 0000", "map count larger than the input"),
    ("5a 00010001" + "00" * 16, "byte string over max_len"),
    ("9a 00010001" + "00" * 16, "array count over max_len"),
    ("81" * 17 + "00", "depth bomb (arrays)"),
    ("a1 01" * 17 + "00", "depth bomb (maps)"),
    ("c1" * 17 + "00", "depth bomb (tags)"),
    ("a2 01 00 01 00", "duplicate key"),
    ("a2 6161 00 6161 01", "duplicate text key"),
    ("a1 80 00", "unhashable key (array)"),
    ("a1 a0 00", "unhashable key (map)"),
    ("a1 c1 80 00", "unhashable key (tagged array)"),
    ("62 c0 80", "overlong UTF-8"),
    ("61 ff", "invalid UTF-8 byte"),
    ("63 eda080", "UTF-8 surrogate"),
    ("64 f4908080", "UTF-8 above U+10FFFF"),
    ("62 e282", "truncated UTF-8 sequence"),
    ("61 80", "lone continuation byte"),
    ("18 17", "non-shortest int (1 byte)"),
    ("19 00ff", "non-shortest int (2 bytes)"),
    ("1a 0000ffff", "non-shortest int (4 bytes)"),
    ("1b 00000000ffffffff", "non-shortest int (8 bytes)"),
    ("38 00", "non-shortest negative int"),
    ("58 01 00", "non-shortest byte string length"),
    ("79 0001 61", "non-shortest text length"),
    ("98 00", "non-shortest array count"),
    ("b9 0000", "non-shortest map count"),
    ("d8 01 00", "non-shortest tag number"),
    ("fa 3f800000", "float 1.0 in 32 bits"),
    ("fb 3ff8000000000000", "float 1.5 in 64 bits"),
    ("f9 7e01", "NaN with payload"),
    ("f9 fe00", "negative NaN"),
    ("c2 48 0100000000000000", "bignum that fits in 64 bits"),
    ("c2 49 000100000000000000", "bignum with a leading zero"),
    ("c2 00", "bignum with int content"),
    ("c3 61 61", "bignum with text content"),
    ("a2 02 00 01 00", "map keys out of order"),
    ("a2 20 00 18 64 00", "map keys in length-first (RFC 7049) order"),
    ("5f ff", "indefinite bytes"),
    ("7f ff", "indefinite text"),
    ("9f ff", "indefinite array"),
    ("bf ff", "indefinite map"),
    ("f8 00", "two-byte simple value < 32"),
    ("f8 1f", "two-byte simple value 31"),
]


def test_malformed_rejected():
    for x, what in MALFORMED:
        e = raises(h(x))
        assert isinstance(e, ValueError), what
        assert e.offset is not None, what


# Rejected even with strict_encoding off and indefinite lengths allowed.
MALFORMED_LAX = [
    ("5f 41 00", "indefinite bytes without break"),
    ("5f 61 61 ff", "text chunk in a byte string"),
    ("7f 5f ff ff", "nested indefinite chunk"),
    ("5f 00 ff", "int chunk in a byte string"),
    ("7f 61 c3 61 bc ff", "UTF-8 split across chunks"),
    ("9f 01", "indefinite array without break"),
    ("bf 01 ff", "break between key and value"),
    ("bf 01", "indefinite map without break"),
    ("9f" * 17 + "ff" * 17, "indefinite depth bomb"),
    ("ff", "break outside"),
    ("a2 01 00 01 00", "duplicate key"),
    ("a2 01 00 f9 3c00 00", "duplicate key 1 and 1.0"),
    ("c2 00", "bignum with int content"),
    ("00 00", "trailing byte"),
    ("f8 18", "two-byte simple value < 32"),
]


def test_malformed_rejected_lax():
    for x, _what in MALFORMED_LAX:
        raises(h(x), **LAX)


def test_lax_accepts_non_preferred():
    assert loads(h("18 17"), strict_encoding=False) == 23
    assert loads(h("1b 0000000000000001"), strict_encoding=False) == 1
    assert loads(h("79 0001 61"), strict_encoding=False) == "a"
    assert same(loads(h("fb 3ff8000000000000"), strict_encoding=False), 1.5)
    assert loads(h("a2 02 00 01 00"), strict_encoding=False) == {1: 0, 2: 0}
    assert loads(h("c2 48 0100000000000000"), strict_encoding=False) == 2**56
    assert loads(h("9f 01 9f ff ff"), allow_indefinite=True) == [1, []]
    assert loads(h("bf 61 61 01 ff"), allow_indefinite=True) == {"a": 1}
    assert loads(h("7f 61 61 60 62 c3bc ff"), allow_indefinite=True) == "aü"


def test_error_offsets():
    cases = [
        ("83 01 02", 0),
        ("82 01 1c", 2),
        ("a2 01 00 01 00", 3),
        ("82 00 62 c080", 2),
        ("00 00", 1),
        ("81 81 18 05", 2),
        ("a2 02 00 01 00", 3),
    ]
    for x, offset in cases:
        e = raises(h(x))
        assert e.offset == offset, (x, e.offset, str(e))
        assert str(e).endswith("at byte %d" % offset), str(e)


def test_limits_at_the_boundary():
    deep = h("81" * 16 + "00")
    assert loads(deep) is not None
    raises(h("81" + hexs(deep)))
    assert loads(h("81" * 3 + "00"), max_depth=3) == [[[0]]]
    raises(h("81" * 4 + "00"), max_depth=3)
    assert loads(h("c1" * 16 + "00")) is not None
    assert loads(dumps(list(range(9))), max_items=10) == list(range(9))
    raises(dumps(list(range(10))), max_items=10)
    raises(dumps([[1, 2], [3, 4, [5, 6, 7]]]), max_items=9)
    raises(dumps({1: 2, 3: 4}), max_items=4)
    assert loads(dumps(bytes(8)), max_len=8) == bytes(8)
    raises(dumps(bytes(9)), max_len=8)
    raises(dumps("x" * 9), max_len=8)
    raises(dumps([0] * 9), max_len=8)
    raises(dumps(dict((i, 0) for i in range(9))), max_len=8)
    # Indefinite items are bounded the same way.
    raises(h("5f 45 0000000000 44 00000000 ff"), max_len=8, allow_indefinite=True)
    assert loads(h("5f 44 00000000 44 00000000 ff"), max_len=8, allow_indefinite=True)
    raises(h("9f" + "00" * 9 + "ff"), max_len=8, allow_indefinite=True)
    raises(
        h("bf" + "".join("%02x00" % i for i in range(9)) + "ff"), max_len=8, allow_indefinite=True
    )
    raises(h("9f" + "00" * 10 + "ff"), max_items=10, allow_indefinite=True)
    raises(h("5f" + "40" * 10 + "ff"), max_items=10, allow_indefinite=True)


def test_hostile_lengths_allocate_nothing_large():
    # Declared lengths up to the limits but beyond the input: rejected before allocating.
    for x in ("5a 0000ffff", "9a 0000ffff 00", "ba 00008000 00", "7a 00010000 61"):
        raises(h(x))
        raises(h(x), max_len=2**40, max_items=2**40)


def test_utf8_validator():
    good = [
        "",
        "a",
        "ü",
        "水",
        "𐅑",
        "\u07ff",
        "\u0800",
        "\ud7ff",
        "\ue000",
        "\uffff",
        "\U0010ffff",
        "a\x00b",
    ]
    for s in good:
        b = s.encode()
        assert _utf8_ok(memoryview(b), 0, len(b)), s
        assert loads(dumps(s)) == s
    bad = [
        "c0 80",
        "c1 bf",
        "e0 80 80",
        "e0 9f bf",
        "ed a0 80",
        "ed bf bf",
        "f0 80 80 80",
        "f0 8f bf bf",
        "f4 90 80 80",
        "f5 80 80 80",
        "ff",
        "80",
        "c2",
        "e2 82",
        "f0 90 80",
        "c2 41",
        "e2 28 a1",
        "f0 90 28 bc",
        "61 c3",
    ]
    for x in bad:
        b = h(x)
        assert not _utf8_ok(memoryview(b), 0, len(b)), x
        raises(bytes([0x60 + len(b)]) + b)


def test_roundtrip_mixed_record():
    rec = {
        0: 7,
        1: 1700000000,
        2: 515074000,
        3: -1278000,
        4: 12,
        5: 350,
        6: -40,
        7: 2**40,
        8: h("00" * 16 + "ff" * 16),
        9: [True, None, 1.5, "fix"],
        -1: Tag(24, b"\xa0"),
        "ext": {"k": [b"", -(2**70), 2**70, UNDEFINED, Simple(99)]},
    }
    enc = dumps(rec)
    assert same(loads(enc), rec)
    assert dumps(loads(enc)) == enc


def test_memory_bomb_is_a_cbor_error():
    # 4 KB of empty arrays within the default limits: ~150 KB of list objects on 64-bit
    # MicroPython, more than the 192k heap has free. Decoding it may fail, but only with
    # CBORError, and the heap is usable afterwards.
    bomb = b"\x99\x0f\xff" + b"\x80" * 4095
    try:
        value = loads(bomb)
    except CBORError as e:
        assert "memory" in str(e) and e.offset == 0, str(e)
    else:
        assert len(value) == 4095 and value[-1] == []
    value = None
    assert loads(dumps([[1], {2: b"x" * 100}])) == [[1], {2: b"x" * 100}]
