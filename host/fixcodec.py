"""The host's own reader of compact fix records (format: protocol/fixcodec.py).

Written apart from the tag's encoder so that a bug on one side cannot hide in both: the
tests hold the two to each other. decode_block() turns a block's fix bodies into records
(maps with protocol/records.py keys); encode_block() is the inverse, used to insist on the
one encoding of each value (a verifier rejects any other).
"""

from __future__ import annotations

from emtag.protocol import records as R

# head bits 0-5, then EXT bits 0-1 (protocol/fixcodec.py)
_OPT = (R.K_ACC, R.K_SATS, R.K_HDOP, R.K_SPEED, R.K_COURSE, R.K_ALT)
_KEY, _EXT = 0x80, 0x40


class FixFormatError(ValueError):
    pass


def _zz(v: int) -> int:
    return v * 2 if v >= 0 else -v * 2 - 1


def _unzz(v: int) -> int:
    return v >> 1 if not v & 1 else -((v + 1) >> 1)


def _varint(body: bytes, i: int) -> tuple[int, int]:
    if i < len(body) and body[i] < 0x80:  # most values of a fix: one byte
        return body[i], i + 1
    v = shift = 0
    start = i
    while True:
        if i >= len(body):
            raise FixFormatError("ends inside a number")
        c = body[i]
        v |= (c & 0x7F) << shift
        i += 1
        if not c & 0x80:
            if i - start > 1 and c == 0:
                raise FixFormatError("number not in its shortest form")
            return v, i
        shift += 7
        if shift > 70:
            raise FixFormatError("number too long")


def _put(out: bytearray, v: int) -> None:
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _changed(old: int | None, code: int) -> int | None:
    if code == 0:
        return None
    return _unzz(code - 1) if old is None else old + _unzz(code)


def _code(old: int | None, new: int | None) -> int:
    if new is None:
        return 0
    return _zz(new) + 1 if old is None else _zz(new - old)


def decode_block(bodies: list[bytes]) -> list[dict]:
    """Records for a block's fix bodies in seq order (the first one a key fix).
    FixFormatError on anything the tag would not have written: a value in a longer form
    than it needs, a field marked changed that did not, an empty extension byte, trailing
    bytes. So what decodes is in its one encoding (encode_block gives the bodies back;
    tests/test_fixcodec.py holds the two to that)."""
    out: list[dict] = []
    prev: dict | None = None
    dt = 0
    for n, body in enumerate(bodies):
        if not body:
            raise FixFormatError("empty fix record")
        head = body[0]
        if bool(head & _KEY) != (n == 0):
            raise FixFormatError("a block starts with a key fix and has no other")
        i, ext = 1, 0
        if head & _EXT:
            if len(body) < 2:
                raise FixFormatError("ends inside its header")
            ext = body[1]
            if ext == 0 or ext & ~3:
                raise FixFormatError("bad extension byte %#x" % ext)
            i = 2
        rec: dict = {R.K_TYPE: R.FIX}
        if prev is None:
            rec[R.K_TIME], i = _varint(body, i)
            v, i = _varint(body, i)
            rec[R.K_LAT] = _unzz(v)
            v, i = _varint(body, i)
            rec[R.K_LON] = _unzz(v)
            rec[R.K_TIME_MS] = 0
            if ext & 1:
                rec[R.K_TIME_MS], i = _varint(body, i)
                if rec[R.K_TIME_MS] == 0:
                    raise FixFormatError("milliseconds of 0 written out (they are left out)")
            if ext & 2:
                rec[R.K_FIXTYPE], i = _varint(body, i)
            for k, key in enumerate(_OPT):
                if head & (1 << k):
                    v, i = _varint(body, i)
                    rec[key] = _unzz(v) if key == R.K_ALT else v
            dt = 0
        else:
            v, i = _varint(body, i)
            dt += _unzz(v)
            rec[R.K_TIME] = prev[R.K_TIME] + dt
            v, i = _varint(body, i)
            rec[R.K_LAT] = prev[R.K_LAT] + _unzz(v)
            v, i = _varint(body, i)
            rec[R.K_LON] = prev[R.K_LON] + _unzz(v)
            rec[R.K_TIME_MS] = prev[R.K_TIME_MS]
            if ext & 1:
                v, i = _varint(body, i)
                rec[R.K_TIME_MS] = _changed(prev[R.K_TIME_MS], v)
            fixtype = prev.get(R.K_FIXTYPE)
            if ext & 2:
                v, i = _varint(body, i)
                fixtype = _changed(fixtype, v)
                if fixtype is None and prev.get(R.K_FIXTYPE) is None:
                    raise FixFormatError("fix type marked changed, and it did not")
            if fixtype is not None:
                rec[R.K_FIXTYPE] = fixtype
            for k, key in enumerate(_OPT):
                v_new = prev.get(key)
                if head & (1 << k):
                    v, i = _varint(body, i)
                    if v == 0 and v_new is None:  # the one code that would change nothing
                        raise FixFormatError("field %d marked changed, and it did not" % key)
                    v_new = _changed(v_new, v)
                if v_new is not None:
                    rec[key] = v_new
        if i != len(body):
            raise FixFormatError("%d bytes after the fix" % (len(body) - i))
        if rec.get(R.K_TIME_MS) is None:
            raise FixFormatError("time without milliseconds")
        out.append(rec)
        prev = rec
    return out


def encode_block(recs: list[dict]) -> list[bytes]:
    """The bodies the tag writes for these fix records (the inverse of decode_block)."""
    out = []
    prev: dict | None = None
    dt = 0
    for rec in recs:
        body = bytearray()
        head = ext = 0
        vals: list[int] = []
        if prev is None:
            head = _KEY
            if rec.get(R.K_TIME_MS):
                ext |= 1
            if rec.get(R.K_FIXTYPE) is not None:
                ext |= 2
            vals = [rec[R.K_TIME], _zz(rec[R.K_LAT]), _zz(rec[R.K_LON])]
            if ext & 1:
                vals.append(rec[R.K_TIME_MS])
            if ext & 2:
                vals.append(rec[R.K_FIXTYPE])
            for k, key in enumerate(_OPT):
                if rec.get(key) is not None:
                    head |= 1 << k
                    vals.append(_zz(rec[key]) if key == R.K_ALT else rec[key])
            dt = 0
        else:
            step = rec[R.K_TIME] - prev[R.K_TIME]
            vals = [
                _zz(step - dt),
                _zz(rec[R.K_LAT] - prev[R.K_LAT]),
                _zz(rec[R.K_LON] - prev[R.K_LON]),
            ]
            dt = step
            for bit, key in ((1, R.K_TIME_MS), (2, R.K_FIXTYPE)):
                if rec.get(key) != prev.get(key):
                    ext |= bit
                    vals.append(_code(prev.get(key), rec.get(key)))
            for k, key in enumerate(_OPT):
                if rec.get(key) != prev.get(key):
                    head |= 1 << k
                    vals.append(_code(prev.get(key), rec.get(key)))
        if ext:
            head |= _EXT
        body.append(head)
        if ext:
            body.append(ext)
        for v in vals:
            _put(body, v)
        out.append(bytes(body))
        prev = rec
    return out
