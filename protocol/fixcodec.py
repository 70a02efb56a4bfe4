"""Compact fix records: a fix in about 10 bytes, delta-encoded within a block.

A fix record travels as a CBOR byte string whose content is the fix's fields packed as
LEB128 varints (schema: protocol/records.cddl `fix-record`). The first fix of a block (the
records after a checkpoint) is a key fix with absolute values; every later one holds what
changed since the fix before it in the same block. So a block decodes on its own, and a
fix costs what changed: at rest a position jitter of a few metres is two bytes a
coordinate.

Why not CBOR integers: the deltas of a fix a minute are mostly 24..16383, which CBOR spends
2-3 bytes on and a varint 1-2; over the nine fields that is 17 bytes against 10. The
outside stays CBOR (a byte string, one encoding per value: the varints are minimal and
unchanged fields are left out), so a record stream is still a CBOR sequence.

Body layout (zz = zigzag: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ...):

    head      bit 7: KEY; bits 0-5: acc, sats, hdop, speed, course, alt; bit 6: EXT
    [ext]     present when EXT: bit 0: t_ms, bit 1: fix type
    key:      t (uint), zz(lat), zz(lon), then each field whose bit is set, absolute:
              t_ms, fix, acc, sats, hdop, speed, course (uint), alt (zz)
    delta:    zz(dt - previous dt), zz(dlat), zz(dlon), then each field whose bit is set
              (it changed): zz(new - old); 0 if it became unknown; zz(new) + 1 if it was
              unknown before

The encoder here runs on the tag with no allocation per fix (preallocated buffer and
state); host/fixcodec.py decodes independently of it.
"""

KEY = 0x80
EXT = 0x40
# optional fields in head-bit order, then the two EXT fields
FIELDS = ("acc_cm", "sats", "hdop", "speed_mmps", "course_cdeg", "alt_cm")
EXT_FIELDS = ("t_ms", "fix")
SIGNED_FIELDS = ("alt_cm",)  # may be negative: zigzag in key fixes too
MAX_BODY = 64  # a key fix with every field at its largest is 52 bytes

# state slots (ints; None for unknown): the last fix of the block
S_T, S_DT, S_LAT, S_LON = 0, 1, 2, 3
S_EXT = 4  # t_ms, fix
S_OPT = 6  # acc .. alt
NSTATE = 12


def put_uvarint(buf, i, v):
    while v >= 0x80:
        buf[i] = (v & 0x7F) | 0x80
        v >>= 7
        i += 1
    buf[i] = v
    return i + 1


def zz(v):
    return v * 2 if v >= 0 else -v * 2 - 1


def _code(old, new):
    """What a delta fix stores for a changed field (see the module docstring)."""
    if new is None:
        return 0
    if old is None:
        return zz(new) + 1
    return zz(new - old)


class FixEncoder:
    """Encodes fixes of one block into `buf` (at least MAX_BODY bytes) from offset 0."""

    def __init__(self):
        self.state: list = [None] * NSTATE  # ints; None for a field not known
        self.count = 0  # fixes encoded in this block

    def reset(self):
        """A new block: the next fix is a key fix."""
        self.count = 0

    def encode(self, fix, buf):
        """Write the body for `fix` (t, t_ms, lat, lon and FIELDS attributes) into buf and
        return its length; commit() once it is stored. Only ints, no allocation."""
        st = self.state
        key = self.count == 0
        head = KEY if key else 0
        ext = 0
        if key:
            if fix.t_ms:
                ext |= 1
            if fix.fix is not None:
                ext |= 2
            for k in range(6):
                if getattr(fix, FIELDS[k]) is not None:
                    head |= 1 << k
        else:
            if fix.t_ms != st[S_EXT]:
                ext |= 1
            if fix.fix != st[S_EXT + 1]:
                ext |= 2
            for k in range(6):
                if getattr(fix, FIELDS[k]) != st[S_OPT + k]:
                    head |= 1 << k
        i = 1
        if ext:
            head |= EXT
            buf[1] = ext
            i = 2
        buf[0] = head
        if key:
            i = put_uvarint(buf, i, fix.t)
            i = put_uvarint(buf, i, zz(fix.lat))
            i = put_uvarint(buf, i, zz(fix.lon))
            if ext & 1:
                i = put_uvarint(buf, i, fix.t_ms)
            if ext & 2:
                i = put_uvarint(buf, i, fix.fix)
            for k in range(6):
                v = getattr(fix, FIELDS[k])
                if v is not None:
                    i = put_uvarint(buf, i, zz(v) if k == 5 else v)
            return i
        i = put_uvarint(buf, i, zz(fix.t - st[S_T] - st[S_DT]))
        i = put_uvarint(buf, i, zz(fix.lat - st[S_LAT]))
        i = put_uvarint(buf, i, zz(fix.lon - st[S_LON]))
        if ext & 1:
            i = put_uvarint(buf, i, _code(st[S_EXT], fix.t_ms))
        if ext & 2:
            i = put_uvarint(buf, i, _code(st[S_EXT + 1], fix.fix))
        for k in range(6):
            if head & (1 << k):
                i = put_uvarint(buf, i, _code(st[S_OPT + k], getattr(fix, FIELDS[k])))
        return i

    def commit(self, fix):
        """The fix last encoded is stored: it is the reference for the next one."""
        st = self.state
        st[S_DT] = 0 if self.count == 0 else fix.t - st[S_T]
        st[S_T] = fix.t
        st[S_LAT] = fix.lat
        st[S_LON] = fix.lon
        st[S_EXT] = fix.t_ms
        st[S_EXT + 1] = fix.fix
        for k in range(6):
            st[S_OPT + k] = getattr(fix, FIELDS[k])
        self.count += 1

    def resume(self, bodies):
        """Continue a block after a reboot: decode its fix bodies, oldest first."""
        self.reset()
        for body in bodies:
            decode_into(body, self.state, self.count == 0)
            self.count += 1


def _uvarint(b, i):
    v = 0
    shift = 0
    while True:
        if i >= len(b):
            raise ValueError("fix record ends inside a number")
        c = b[i]
        v |= (c & 0x7F) << shift
        i += 1
        if not c & 0x80:
            return v, i
        shift += 7
        if shift > 63:
            raise ValueError("number too long")


def _unzz(v):
    return v >> 1 if not v & 1 else -((v + 1) >> 1)


def _apply(old, code):
    if code == 0:
        return None
    if old is None:
        return _unzz(code - 1)
    return old + _unzz(code)


def decode_into(body, st, key):
    """Decode one body into the state list (the firmware's resume; the host has its own
    decoder). key: whether this is the block's first fix."""
    head = body[0]
    if bool(head & KEY) != key:
        raise ValueError("key fix expected" if key else "delta fix expected")
    i = 1
    ext = 0
    if head & EXT:
        ext = body[1]
        i = 2
    if key:
        st[S_T], i = _uvarint(body, i)
        v, i = _uvarint(body, i)
        st[S_LAT] = _unzz(v)
        v, i = _uvarint(body, i)
        st[S_LON] = _unzz(v)
        st[S_EXT], st[S_EXT + 1] = 0, None
        if ext & 1:
            st[S_EXT], i = _uvarint(body, i)
        if ext & 2:
            st[S_EXT + 1], i = _uvarint(body, i)
        for k in range(6):
            st[S_OPT + k] = None
            if head & (1 << k):
                v, i = _uvarint(body, i)
                st[S_OPT + k] = _unzz(v) if k == 5 else v
        st[S_DT] = 0
    else:
        v, i = _uvarint(body, i)
        dt = st[S_DT] + _unzz(v)
        st[S_T] += dt
        st[S_DT] = dt
        v, i = _uvarint(body, i)
        st[S_LAT] += _unzz(v)
        v, i = _uvarint(body, i)
        st[S_LON] += _unzz(v)
        if ext & 1:
            v, i = _uvarint(body, i)
            st[S_EXT] = _apply(st[S_EXT], v)
        if ext & 2:
            v, i = _uvarint(body, i)
            st[S_EXT + 1] = _apply(st[S_EXT + 1], v)
        for k in range(6):
            if head & (1 << k):
                v, i = _uvarint(body, i)
                st[S_OPT + k] = _apply(st[S_OPT + k], v)
    if i != len(body):
        raise ValueError("%d bytes after the fix" % (len(body) - i))


# CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): each record's tag in a checkpoint, and the
# check on each flash log entry. A nibble table (16 entries, not 256: 2 KB less of the tag's
# heap): two lookups a byte, no allocation.
_CRC4 = (
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50A5, 0x60C6, 0x70E7,
    0x8108, 0x9129, 0xA14A, 0xB16B, 0xC18C, 0xD1AD, 0xE1CE, 0xF1EF,
)  # fmt: skip


def crc16(data, n=-1, crc=0xFFFF):
    """CRC of data[:n] (all of it when n < 0), continuing from crc."""
    tab = _CRC4
    if n < 0:
        n = len(data)
    for i in range(n):
        b = data[i]
        crc = ((crc << 4) & 0xFFFF) ^ tab[(crc >> 12) ^ (b >> 4)]
        crc = ((crc << 4) & 0xFFFF) ^ tab[(crc >> 12) ^ (b & 0x0F)]
    return crc
