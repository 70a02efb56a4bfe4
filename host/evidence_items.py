"""One wire item of a tag's evidence stream, parsed on its own (no chain yet).

A fix item is a CBOR byte string (its fields decode only with the rest of its block,
host/evidence_blocks.py). An alert or restart is a COSE_Sign1 checked here against the
tag's key. A checkpoint is a COSE_Sign1 whose signature binds its block (the AAD), so it is
checked once the block is assembled; here only its form. Formats: protocol/records.py.
"""

from __future__ import annotations

import binascii
import copy
import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec

from emtag.host import cose as host_cose
from emtag.protocol import records as R

MODIFIED = "modified"
SPLICED = "spliced"

MAX_ITEM = 2048  # the tag's log refuses longer records (firmware/recordlog.py)
MAX_SEQ = 0xFFFFFFFF
MAX_U32 = 0xFFFFFFFF  # every integer field is bounded (records.cddl): the store's are 64-bit
_PROTECTED = b"\xa1\x01\x26"
_SIGN1 = 0xD2


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def crc16(data: bytes) -> int:
    """A record's tag (protocol/fixcodec.py crc16, computed independently)."""
    return binascii.crc_hqx(data, 0xFFFF)


def decode_exact(data: bytes) -> Any:
    fp = io.BytesIO(data)
    obj = cbor2.CBORDecoder(fp, max_depth=8, allow_duplicate_keys=False).decode()
    if fp.tell() != len(data):
        raise ValueError("%d trailing bytes" % (len(data) - fp.tell()))
    return obj


_DECODE_ERRORS = (cbor2.CBORDecodeError, ValueError, TypeError, EOFError)

_COMMON = {R.K_TYPE, R.K_SEQ, R.K_TIME, R.K_TIME_MS}
_POSITION = {R.K_LAT, R.K_LON, R.K_ACC, R.K_FIXTYPE, R.K_SATS, R.K_HDOP, R.K_SPEED}
_POSITION |= {R.K_COURSE, R.K_ALT}
_ALLOWED = {
    R.ALERT: _COMMON | _POSITION | {R.K_ALERT, R.K_ZONE},
    R.RESTART: _COMMON | {R.K_REASON},
    R.CHECKPOINT: {R.K_TYPE, R.K_SEQ, R.K_TIME, R.K_COUNT},
}
_UINT_FIELDS = (R.K_ACC, R.K_SATS, R.K_HDOP, R.K_SPEED)


def check_position(rec: dict) -> str | None:
    """Why the position fields of a record (alert or decoded fix) are out of range."""
    lat, lon = rec.get(R.K_LAT), rec.get(R.K_LON)
    if rec.get(R.K_TYPE) == R.FIX or lat is not None or lon is not None:
        if not (is_int(lat) and -900000000 <= lat <= 900000000):
            return "bad latitude"
        if not (is_int(lon) and -1800000000 <= lon <= 1800000000):
            return "bad longitude"
    t, t_ms = rec.get(R.K_TIME), rec.get(R.K_TIME_MS)
    if not (is_int(t) and 0 <= t <= MAX_U32):
        return "bad time"
    if not (t_ms is None or (is_int(t_ms) and 0 <= t_ms <= 999)):
        return "bad time"
    for k in _UINT_FIELDS:
        if k in rec and not (is_int(rec[k]) and 0 <= rec[k] <= MAX_U32):
            return "bad field %d" % k
    if R.K_FIXTYPE in rec and rec[R.K_FIXTYPE] not in (2, 3):
        return "bad fix type"
    if R.K_COURSE in rec and not (is_int(rec[R.K_COURSE]) and 0 <= rec[R.K_COURSE] < 36000):
        return "bad course"
    if R.K_ALT in rec and not (is_int(rec[R.K_ALT]) and -(2**31) <= rec[R.K_ALT] < 2**31):
        return "bad altitude"
    return None


def check_record(rec: Any) -> str | None:
    """Why a signed record's map is not well formed (protocol/records.cddl), or None."""
    if not isinstance(rec, dict):
        return "not a map"
    kind = rec.get(R.K_TYPE)
    if not is_int(kind) or kind not in _ALLOWED:
        return "unknown signed record type %r" % (kind,)
    extra = [k for k in rec if k not in _ALLOWED[kind]]
    if extra:
        return "unknown field %r for a %s" % (extra[0], R.TYPE_NAMES[kind])
    seq = rec.get(R.K_SEQ)
    if not (is_int(seq) and 1 <= seq <= MAX_SEQ):
        return "bad seq %r" % (seq,)
    if kind == R.CHECKPOINT:
        n, t = rec.get(R.K_COUNT), rec.get(R.K_TIME)
        if not (is_int(t) and 0 <= t <= MAX_U32):
            return "bad time"
        if not (is_int(n) and 1 <= n < seq):
            return "checkpoint seals %r records before seq %d" % (n, seq)
        return None
    if not is_int(rec.get(R.K_TIME_MS)):
        return "bad time"
    why = check_position(rec)
    if why:
        return why
    if kind == R.ALERT:
        if rec.get(R.K_ALERT) not in R.ALERTS:
            return "unknown alert kind %r" % (rec.get(R.K_ALERT),)
        if R.K_ZONE in rec and not isinstance(rec[R.K_ZONE], str):
            return "bad zone"
    if kind == R.RESTART and not (
        isinstance(rec.get(R.K_REASON), str)
        or (is_int(rec.get(R.K_REASON)) and 0 <= rec[R.K_REASON] <= MAX_U32)
    ):
        return "bad restart reason"
    return None


@dataclass
class Item:
    """One wire item. `problem` is (kind, reason) when the item alone shows it is not the
    tag's; `seq` is known for signed items here and for fixes once placed in a block."""

    index: int
    wire: bytes
    signed: bool = False
    body: bytes | None = None  # a fix's body
    record: dict | None = None  # a signed item's map; a fix's once its block is decoded
    seq: int | None = None
    kid: bytes | None = None
    problem: tuple[str, str] | None = None
    tag: int = 0  # CRC-16 of the wire item
    tags: list[int] | None = field(default=None, repr=False)  # a checkpoint's list
    altered: tuple[str, str] | None = None  # a checkpoint's envelope, not what it signs
    sign1: Any = field(default=None, repr=False)

    def at(self, index: int) -> Item:
        """The same parsed item at another position of a stream (a shallow copy: verify()
        sets its seq and record, never those of the one it was parsed as)."""
        other = copy.copy(self)
        other.index = index
        return other

    @property
    def type(self) -> int | None:
        if self.record is not None:
            return self.record.get(R.K_TYPE)
        return R.FIX if self.body is not None else None

    @property
    def is_checkpoint(self) -> bool:
        return self.signed and self.problem is None and self.type == R.CHECKPOINT

    @property
    def digest(self) -> bytes:
        return hashlib.sha256(self.wire).digest()


def parse_item(index: int, wire: bytes, key: ec.EllipticCurvePublicKey, device_id: bytes) -> Item:
    wire = bytes(wire)
    it = Item(index, wire, tag=crc16(wire))
    if not wire:
        it.problem = (MODIFIED, "empty item")
        return it
    if len(wire) > MAX_ITEM:
        it.problem = (MODIFIED, "item of %d bytes is longer than any record" % len(wire))
        return it
    if 0x40 <= wire[0] <= 0x58:
        try:
            body = decode_exact(wire)
        except _DECODE_ERRORS as e:
            it.problem = (MODIFIED, "not a valid fix record: %s" % e)
            return it
        if not isinstance(body, bytes) or not body or cbor2.dumps(body) != wire:
            it.problem = (MODIFIED, "not a fix record in deterministic encoding")
            return it
        it.body = body
        return it
    if wire[0] != _SIGN1:
        it.problem = (MODIFIED, "not a record (first byte %#04x)" % wire[0])
        return it
    it.signed = True
    try:
        msg = host_cose.parse_sign1(wire)
    except host_cose.VerificationError as e:
        it.problem = (MODIFIED, "not a valid COSE_Sign1: %s" % e)
        return it
    it.sign1 = msg
    it.kid = msg.kid
    try:
        rec = decode_exact(msg.payload)
    except _DECODE_ERRORS as e:
        rec, why = None, "not CBOR (%s)" % e
    else:
        why = check_record(rec)
    if why is None and cbor2.dumps(rec, canonical=True) != msg.payload:
        why = "not in deterministic encoding"
    if why is None:
        it.record, it.seq = rec, rec[R.K_SEQ]
    checkpoint = why is None and rec[R.K_TYPE] == R.CHECKPOINT
    if not checkpoint:
        try:
            host_cose.verify_sign1(wire, key)
        except host_cose.VerificationError as e:
            if it.kid is not None and it.kid != device_id:
                it.problem = (SPLICED, "signed by another key (kid %s)" % it.kid.hex())
            else:
                it.problem = (MODIFIED, "signature: %s" % e)
            return it
    want = {4: device_id}
    problem_count = None
    if checkpoint:
        tags = msg.unprotected.get(R.H_TAGS)
        if isinstance(tags, bytes) and len(tags) % 2 == 0:
            it.tags = [tags[i] << 8 | tags[i + 1] for i in range(0, len(tags), 2)]
        want[R.H_TAGS] = tags  # a damaged list only blinds the search for its records
        if it.tags is not None and len(it.tags) != rec[R.K_COUNT]:
            # the tag lists every record it seals: the count or the list was changed
            why = "its count (%d) is not the length of its list (%d)"
            why = why % (rec[R.K_COUNT], len(it.tags))
            problem_count = (MODIFIED, why)
    problem = None
    # exact keys: a CBOR simple value 4 compares equal to the integer 4 in Python
    odd_keys = any(type(k) is not int for k in msg.unprotected)
    if msg.protected_bytes != _PROTECTED or dict(msg.unprotected) != want or odd_keys:
        problem = (MODIFIED, "COSE header altered (kid %s)" % _hex(it.kid))
        if checkpoint and it.kid != device_id:
            problem = (SPLICED, "a checkpoint with another key's id (kid %s)" % _hex(it.kid))
    elif _reencode(msg) != wire:
        problem = (MODIFIED, "COSE_Sign1 not in deterministic encoding")
    elif why is not None:
        problem = (MODIFIED, "signed payload is not a valid record: %s" % why)
    elif checkpoint and problem_count is not None:
        problem = problem_count
    if checkpoint and problem is not None and msg.protected_bytes == _PROTECTED:
        # the signature may still prove its block: host/evidence_blocks.py decides
        it.altered = problem
    else:
        it.problem = problem
    return it


def verify_checkpoint(it: Item, key: ec.EllipticCurvePublicKey, aad: bytes) -> bool:
    try:
        host_cose.verify_sign1(it.wire, key, aad)
    except host_cose.VerificationError:
        return False
    return True


def _reencode(msg: host_cose.Sign1) -> bytes:
    body = [msg.protected_bytes, dict(msg.unprotected), msg.payload, msg.signature]
    return cbor2.dumps(cbor2.CBORTag(18, body), canonical=True)


def _hex(b: Any) -> str:
    return b.hex() if isinstance(b, bytes) else repr(b)
