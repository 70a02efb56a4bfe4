"""CBOR (RFC 8949) for the tag and the host: a core deterministic encoder and a strict,
bounded decoder. Runs unchanged on MicroPython and CPython.

    dumps(obj) -> bytes                     core deterministic encoding (RFC 8949 §4.2.1)
    dump_into(buf, obj) -> buf              the same, appended to a bytearray
    loads(data, ...) -> obj                 exactly one item, no trailing bytes
    decode_prefix(data, offset, ...) -> (obj, end)   one item of a concatenated stream

Decoding maps CBOR to Python as: unsigned/negative int and tags 2/3 -> int, bytes -> bytes,
text -> str, array -> list, map -> dict, false/true/null -> bool/None, undefined ->
UNDEFINED, other simple values -> Simple, floats -> float, any other tag -> Tag.

With strict_encoding=True (the default) the decoder accepts only the deterministic encoding
of a value, so dumps(loads(b)) == b for every accepted b (indefinite lengths aside, which
are opt-in). Signatures and the record hash chain rely on that: one value, one encoding.
"""

import struct
import sys
from math import copysign, frexp, isinf, ldexp

_MAX64 = 0xFFFFFFFFFFFFFFFF
_MIN64 = -0x10000000000000000  # constants: on MicroPython these are heap-allocated big ints
_F32_MAX = 3.4028234663852886e38
# Single-precision MicroPython ports (ESP32, RP2) cannot tell whether a float64 had a
# shorter exact form, so they skip that strictness check.
_FLOAT64 = 1.0 + 2.0**-40 != 1.0
# MicroPython's str() lets surrogates and overlong forms through; CPython's is strict.
_CHECK_UTF8 = sys.implementation.name == "micropython"


class CBORError(ValueError):
    """Malformed, non-deterministic or over-limit CBOR. `.offset` is the byte offset."""

    def __init__(self, msg, offset=None):
        if offset is not None:
            msg = "%s at byte %d" % (msg, offset)
        super().__init__(msg)
        self.offset = offset


class Tag:
    """A tagged item whose tag this codec gives no meaning to (all but 2 and 3)."""

    def __init__(self, tag, value):
        if not isinstance(tag, int) or isinstance(tag, bool) or not 0 <= tag <= _MAX64:
            raise ValueError("tag number must be an int in 0..2**64-1")
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tag) and self.tag == other.tag and self.value == other.value

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash((self.tag, self.value))

    def __repr__(self):
        return "Tag(%d, %r)" % (self.tag, self.value)


class Simple:
    """A simple value other than false/true/null: 0..19, 23 (undefined) or 32..255."""

    def __init__(self, value):
        if not isinstance(value, int) or not (0 <= value <= 19 or value == 23
                                              or 32 <= value <= 255):
            raise ValueError("simple value must be 0..19, 23 or 32..255")
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Simple) and self.value == other.value

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(("simple", self.value))

    def __repr__(self):
        return "undefined" if self.value == 23 else "simple(%d)" % self.value


UNDEFINED = Simple(23)


# ---------------------------------------------------------------------------- encoder

def dumps(obj):
    """Encode obj in core deterministic CBOR. TypeError for a type CBOR has no form for."""
    buf = bytearray()
    _enc(buf, obj)
    return bytes(buf)


def dump_into(buf, obj):
    """Append the encoding of obj to the bytearray buf (no intermediate copy); returns buf."""
    _enc(buf, obj)
    return buf


def _head(buf, major, n):
    # Preferred serialisation: the shortest argument that holds n (0 <= n < 2**64).
    mt = major << 5
    if n < 24:
        buf.append(mt | n)
    elif n < 0x100:
        buf.append(mt | 24)
        buf.append(n)
    elif n < 0x10000:
        buf.append(mt | 25)
        buf.append(n >> 8)
        buf.append(n & 0xFF)
    elif n < 0x100000000:
        buf.append(mt | 26)
        buf.append(n >> 24)
        buf.append((n >> 16) & 0xFF)
        buf.append((n >> 8) & 0xFF)
        buf.append(n & 0xFF)
    else:
        buf += struct.pack(">BQ", mt | 27, n)


def _enc(buf, obj):
    if type(obj) is int:  # the common case first; bool is a subclass on CPython
        if 0 <= obj <= _MAX64:
            _head(buf, 0, obj)
        elif _MIN64 <= obj < 0:
            _head(buf, 1, -1 - obj)
        else:
            _bignum(buf, obj)
    elif obj is None:
        buf.append(0xF6)
    elif obj is False:
        buf.append(0xF4)
    elif obj is True:
        buf.append(0xF5)
    elif isinstance(obj, int):  # int subclasses such as IntEnum
        _enc(buf, int(obj))
    elif isinstance(obj, str):
        b = obj.encode()
        _head(buf, 3, len(b))
        buf += b
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        if isinstance(obj, memoryview) and not hasattr(obj, "nbytes"):
            obj = bytes(obj)  # MicroPython: len() of a typed memoryview counts items
        n = obj.nbytes if isinstance(obj, memoryview) else len(obj)
        _head(buf, 2, n)
        buf += obj
    elif isinstance(obj, float):
        _float(buf, obj)
    elif isinstance(obj, (list, tuple)):
        _head(buf, 4, len(obj))
        for x in obj:
            _enc(buf, x)
    elif isinstance(obj, dict):
        _map(buf, obj)
    elif isinstance(obj, Tag):
        if obj.tag == 2 or obj.tag == 3:  # normalise to the preferred form of the integer
            if not isinstance(obj.value, (bytes, bytearray)):
                raise ValueError("bignum tag %d needs bytes content" % obj.tag)
            n = int.from_bytes(obj.value, "big")
            _enc(buf, n if obj.tag == 2 else -1 - n)
        else:
            _head(buf, 6, obj.tag)
            _enc(buf, obj.value)
    elif isinstance(obj, Simple):
        if obj.value < 24:
            buf.append(0xE0 | obj.value)
        else:
            buf.append(0xF8)
            buf.append(obj.value)
    else:
        raise TypeError("cannot encode type %s as CBOR" % type(obj).__name__)


def _bignum(buf, n):
    tag = 2
    if n < 0:
        tag, n = 3, -1 - n
    size = 9  # only called beyond 64 bits
    while n >> (8 * size):
        size += 1
    _head(buf, 6, tag)
    _head(buf, 2, size)
    buf += n.to_bytes(size, "big")


def _map(buf, obj):
    # Core deterministic order: bytewise lexicographic order of the encoded keys.
    keys = list(obj)
    for k in keys:
        if type(k) is not int or not _MIN64 <= k <= _MAX64:
            break
    else:
        # Only 64-bit ints, the common case (records, COSE labels): that order is
        # 0, 1, 2, ... then -1, -2, ..., so sort the ints and skip encoding keys twice.
        keys.sort()
        neg = 0
        while neg < len(keys) and keys[neg] < 0:
            neg += 1
        if neg:
            keys = keys[neg:] + keys[neg - 1::-1]
        _head(buf, 5, len(keys))
        for k in keys:
            _enc(buf, k)
            _enc(buf, obj[k])
        return
    items = []
    for k in keys:
        kb = bytearray()
        _enc(kb, k)
        items.append((kb, k))
    items.sort(key=_first)
    _head(buf, 5, len(items))
    prev = None
    for kb, k in items:
        if kb == prev:  # e.g. two distinct NaN objects as keys
            raise ValueError("two map keys have the same encoding %s" % bytes(kb).hex())
        buf += kb
        _enc(buf, obj[k])
        prev = kb


def _first(pair):
    return pair[0]


def _half_bits(x):
    """IEEE 754 binary16 bits of x if x (not NaN) is exactly representable, else None.
    By hand: MicroPython's struct '>e' turns out-of-range values into NaN."""
    if isinf(x):
        return 0x7C00 if x > 0 else 0xFC00
    sign = 0x8000 if copysign(1.0, x) < 0 else 0
    if x == 0:
        return sign
    m, e = frexp(abs(x))  # abs(x) = m * 2**e, 0.5 <= m < 1
    if e > 16:
        return None  # >= 65536
    if e >= -13:  # normal: 11 significant bits, biased exponent e + 14
        f = m * 2048
        if f != int(f):
            return None
        return sign | ((e + 14) << 10) | (int(f) - 1024)
    f = ldexp(abs(x), 24)  # subnormal: a multiple of 2**-24
    if f != int(f):
        return None
    return sign | int(f)


def _float(buf, x):
    # Shortest of 16/32/64 bits that keeps the value; one NaN.
    if x != x:
        buf += b"\xf9\x7e\x00"
        return
    h = _half_bits(x)
    if h is not None:
        buf += struct.pack(">BH", 0xF9, h)
    elif abs(x) <= _F32_MAX and struct.unpack(">f", struct.pack(">f", x))[0] == x:
        buf += struct.pack(">Bf", 0xFA, x)
    else:
        buf += struct.pack(">Bd", 0xFB, x)


def _float_size(x):
    """Bytes after the initial byte in the deterministic encoding of float x."""
    if x != x or _half_bits(x) is not None:
        return 2
    if abs(x) <= _F32_MAX and struct.unpack(">f", struct.pack(">f", x))[0] == x:
        return 4
    return 8


def _half_value(h):
    e = (h >> 10) & 0x1F
    f = h & 0x3FF
    if e == 0:
        v = ldexp(f, -24)
    elif e == 31:
        v = float("inf") if f == 0 else float("nan")
    else:
        v = ldexp(f + 1024, e - 25)
    return -v if h & 0x8000 else v


# ---------------------------------------------------------------------------- decoder

def loads(data, max_depth=16, max_items=4096, max_len=65536, allow_indefinite=False,
          strict_encoding=True):
    """Decode exactly one CBOR item from data (bytes, bytearray or memoryview).

    Raises CBORError on anything malformed, over a limit or, with strict_encoding, not in
    deterministic form: non-shortest arguments, floats or bignums, map keys out of order.
    max_depth bounds nesting of arrays, maps and tags; max_items the total number of items;
    max_len every string length and array/map count (also of indefinite-length items).
    Running out of memory is a CBORError too; on the tag, give input from the port a
    max_items that fits the heap: an item can cost up to ~70 bytes of objects on 64-bit
    MicroPython (a Tag), about half that on 32-bit boards.
    """
    d = _Decoder(data, 0, max_depth, max_items, max_len, allow_indefinite, strict_encoding)
    obj = d.top()
    if d.pos != d.end:
        raise CBORError("%d trailing bytes after the item" % (d.end - d.pos), d.pos)
    return obj


def decode_prefix(data, offset=0, max_depth=16, max_items=4096, max_len=65536,
                  allow_indefinite=False, strict_encoding=True):
    """Decode the item starting at data[offset]; returns (obj, offset just past it)."""
    d = _Decoder(data, offset, max_depth, max_items, max_len, allow_indefinite,
                 strict_encoding)
    obj = d.top()
    return obj, d.pos


class _Decoder:
    def __init__(self, data, offset, max_depth, max_items, max_len, allow_indefinite, strict):
        self.mv = memoryview(data)
        self.pos = offset
        self.end = len(self.mv)
        self.max_depth = max_depth
        self.max_items = max_items
        self.max_len = max_len
        self.indefinite = allow_indefinite
        self.strict = strict
        self.items = 0
        self.arg = None  # argument of the last head() read
        if not 0 <= offset <= self.end:
            raise CBORError("offset %d outside the input" % offset)

    def top(self):
        start = self.pos
        try:
            return self.item(0)
        except MemoryError:
            # Small inputs can still decode to many objects (4096 empty arrays take ~150 KB
            # on a 64-bit MicroPython); the partial result is garbage once we are here.
            raise CBORError("out of memory decoding the item", start) from None

    def need(self, n, what, at):
        # Before any allocation: a declared length must fit in what is left of the input.
        if n > self.end - self.pos:
            raise CBORError("truncated %s: needs %d bytes, %d left" % (
                what, n, self.end - self.pos), at)

    def head(self):
        """Read an initial byte and its argument. Returns the initial byte and leaves the
        argument in self.arg (None for indefinite length): no tuple per item."""
        start = self.pos
        if start >= self.end:
            raise CBORError("truncated: expected an item", start)
        mv = self.mv
        ib = mv[start]
        ai = ib & 31
        self.pos = start + 1
        if ai < 24:
            self.arg = ai
            return ib
        if ai == 31:
            self.arg = None
            return ib
        if ai > 27:
            raise CBORError("reserved additional information %d" % ai, start)
        n = 1 << (ai - 24)
        self.need(n, "argument", start)
        if n == 1:
            arg = mv[start + 1]
        elif n == 2:
            arg = mv[start + 1] << 8 | mv[start + 2]
        else:
            arg = struct.unpack_from(">I" if n == 4 else ">Q", mv, start + 1)[0]
        self.pos = start + 1 + n
        if ib == 0xF8 and arg < 32:
            raise CBORError("simple value %d in two bytes is not well-formed" % arg, start)
        # Floats (0xf9..0xfb) are checked by value in item().
        if self.strict and arg < (24 if n == 1 else 1 << (4 * n)) and ib < 0xF9:
            raise CBORError("argument %d not in its shortest form" % arg, start)
        self.arg = arg
        return ib

    def item(self, depth):
        start = self.pos
        self.items += 1
        if self.items > self.max_items:
            raise CBORError("more than %d items" % self.max_items, start)
        ib = self.head()
        arg = self.arg
        major = ib >> 5
        if major == 0:
            if arg is None:
                raise CBORError("indefinite length on an integer", start)
            return arg
        if major == 1:
            if arg is None:
                raise CBORError("indefinite length on an integer", start)
            return -1 - arg
        if major == 2 or major == 3:
            if arg is None:
                return self.chunks(major, start)
            return self.string(major, arg, start)
        if major == 4 or major == 5:
            if depth >= self.max_depth:
                raise CBORError("nesting deeper than %d" % self.max_depth, start)
            if arg is None:
                self.check_indefinite(start)
            elif arg > self.max_len:
                raise CBORError("count %d over the limit %d" % (arg, self.max_len), start)
            else:  # every item takes at least one byte
                self.need(arg if major == 4 else 2 * arg, "array" if major == 4 else "map",
                          start)
            if major == 4:
                return self.array(arg, depth + 1, start)
            return self.map(arg, depth + 1, start)
        if major == 6:
            if arg is None:
                raise CBORError("indefinite length on a tag", start)
            if depth >= self.max_depth:
                raise CBORError("nesting deeper than %d" % self.max_depth, start)
            value = self.item(depth + 1)
            if arg == 2 or arg == 3:
                return self.bignum(arg, value, start)
            return Tag(arg, value)
        # major 7
        ai = ib & 31
        if arg is None:
            raise CBORError("break outside an indefinite-length item", start)
        if ai >= 25:
            if ai == 25:
                x = _half_value(arg)
            else:
                x = struct.unpack_from(">f" if ai == 26 else ">d", self.mv, start + 1)[0]
            if self.strict and (x != x and (ai != 25 or arg != 0x7E00)
                                or _FLOAT64 and _float_size(x) != 1 << (ai - 24)):
                raise CBORError("float not in its shortest form", start)
            return x
        if arg == 20:
            return False
        if arg == 21:
            return True
        if arg == 22:
            return None
        if arg == 23:
            return UNDEFINED
        return Simple(arg)

    def check_indefinite(self, start):
        if not self.indefinite:
            raise CBORError("indefinite length not allowed", start)

    def string(self, major, n, start):
        if n > self.max_len:
            raise CBORError("string length %d over the limit %d" % (n, self.max_len), start)
        self.need(n, "string", start)
        a = self.pos
        self.pos = a + n
        if major == 2:
            return bytes(self.mv[a:a + n])
        try:
            s = str(self.mv[a:a + n], "utf-8")
        except UnicodeError:
            raise CBORError("invalid UTF-8 in text string", start) from None
        if _CHECK_UTF8 and len(s) != n and not _utf8_ok(self.mv, a, a + n):
            raise CBORError("invalid UTF-8 in text string", start)
        return s

    def chunks(self, major, start):
        # Indefinite-length string: definite chunks of the same major type up to a break.
        self.check_indefinite(start)
        parts = []
        total = 0
        while True:
            if self.pos < self.end and self.mv[self.pos] == 0xFF:
                self.pos += 1
                break
            at = self.pos
            self.items += 1
            if self.items > self.max_items:
                raise CBORError("more than %d items" % self.max_items, at)
            ib = self.head()
            n = self.arg
            if ib >> 5 != major or n is None:
                raise CBORError("bad chunk in an indefinite-length string", at)
            total += n
            if total > self.max_len:
                raise CBORError("string length over the limit %d" % self.max_len, at)
            parts.append(self.string(major, n, at))
        return (b"" if major == 2 else "").join(parts)

    def array(self, n, depth, start):
        out = []  # type: list
        if n is None:
            while not self.at_break():
                if len(out) >= self.max_len:
                    raise CBORError("count over the limit %d" % self.max_len, start)
                out.append(self.item(depth))
        else:
            for _ in range(n):
                out.append(self.item(depth))
        return out

    def map(self, n, depth, start):
        out = {}
        prev_at = prev_end = 0
        count = 0
        while True:
            if n is None:
                if self.at_break():
                    break
                if count >= self.max_len:
                    raise CBORError("count over the limit %d" % self.max_len, start)
            elif count == n:
                break
            count += 1
            at = self.pos
            key = self.item(depth)
            key_end = self.pos
            try:
                hash(key)  # explicitly: MicroPython skips hashing when the dict is empty
            except TypeError:
                raise CBORError("map key of unhashable type %s" % type(key).__name__,
                                at) from None
            if key in out:
                raise CBORError("duplicate map key %r" % (key,), at)
            if self.strict and count > 1 and not _less(self.mv, prev_at, prev_end,
                                                       at, key_end):
                raise CBORError("map keys not in deterministic (bytewise) order", at)
            prev_at, prev_end = at, key_end
            if self.pos < self.end and self.mv[self.pos] == 0xFF:
                raise CBORError("break between a map key and its value", self.pos)
            out[key] = self.item(depth)
        return out

    def at_break(self):
        if self.pos < self.end and self.mv[self.pos] == 0xFF:
            self.pos += 1
            return True
        return False

    def bignum(self, tag, value, start):
        if not isinstance(value, bytes):
            raise CBORError("bignum tag %d needs a byte string" % tag, start)
        if self.strict and (len(value) <= 8 or value[0] == 0):
            raise CBORError("bignum not in its shortest form", start)
        n = int.from_bytes(value, "big")
        return n if tag == 2 else -1 - n


def _less(mv, a, a_end, b, b_end):
    """Is mv[a:a_end] bytewise less than mv[b:b_end]? (No slices: nothing allocated.)"""
    while a < a_end and b < b_end:
        x = mv[a]
        y = mv[b]
        if x != y:
            return x < y
        a += 1
        b += 1
    return a == a_end and b < b_end


def _utf8_ok(mv, i, end):
    """Strict UTF-8 (RFC 3629): no overlong forms, surrogates or code points > U+10FFFF."""
    while i < end:
        c = mv[i]
        if c < 0x80:
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            n, lo, hi = 1, 0x80, 0xBF
        elif 0xE0 <= c <= 0xEF:
            n = 2
            lo = 0xA0 if c == 0xE0 else 0x80
            hi = 0x9F if c == 0xED else 0xBF
        elif 0xF0 <= c <= 0xF4:
            n = 3
            lo = 0x90 if c == 0xF0 else 0x80
            hi = 0x8F if c == 0xF4 else 0xBF
        else:
            return False
        if i + n >= end or not lo <= mv[i + 1] <= hi:
            return False
        for j in range(i + 2, i + n + 1):
            if mv[j] & 0xC0 != 0x80:
                return False
        i += n + 1
    return True
