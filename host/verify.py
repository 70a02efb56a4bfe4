"""Verify a tag's evidence stream: signatures, sequence numbers and the hash chain.

Pure (no I/O), with cbor2 and cryptography only: independent of the firmware's CBOR codec
and P-256 code, so a bug on one side cannot hide in both. Formats: protocol/records.cddl.

    verify(items, public_key, ...) -> Report    per-item verdicts and the gaps
    split_stream(data) -> list of wire items    a file of concatenated wire items
    genesis(device_id), device_id_of(key), payload_of(wire), digest_of(wire)

How a record is proven. A signed record (alert, restart, checkpoint) whose ES256 signature
verifies under the tag's key proves its own payload, and so its `prev`: the hash of the
record before it. That record is proven if it hashes to that value, and then its own prev
proves the one before, back along the chain. A record is VALID when it is signed or a
valid signed record reaches it this way ("sealed by" that record).

Verdicts, one per item, with a reason that names positions (#index, 0-based) and seqs:

    valid         proven by the tag's signature (its own, or a later one through the chain)
    unsealed      in the chain, but no signed record follows it yet (the tail of an upload
                  still waiting for its checkpoint; in a finished file: not proven)
    unverifiable  in the chain, but the chain from it to the next signed record is broken by
                  tampering elsewhere (a deleted or modified record after it)
    modified      not what the tag made: the signature does not verify, the record does not
                  hash to what the chain commits to, a field or the encoding was changed, an
                  alert lost its signature, or the bytes do not decode as a record
    reordered     proven, but arrives after a record that follows it in the chain
    duplicate     a second copy of a record already in the stream (or already stored)
    spliced       not from this tag: signed by another key, or a record that is not in this
                  tag's chain where the tag's own record for that seq is present

and gaps: seqs missing from the stream (deleted or truncated), with the position they are
missing before. A stream is ok when every item is valid and nothing is missing.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emtag.host import cose as host_cose
from emtag.protocol import records as R

VALID = "valid"
UNSEALED = "unsealed"
UNVERIFIABLE = "unverifiable"
MODIFIED = "modified"
REORDERED = "reordered"
DUPLICATE = "duplicate"
SPLICED = "spliced"
DELETED = "deleted"  # the kind of a Gap
KINDS = (VALID, UNSEALED, UNVERIFIABLE, MODIFIED, REORDERED, DUPLICATE, SPLICED)
TAMPER_KINDS = (MODIFIED, REORDERED, DUPLICATE, SPLICED)

MAX_ITEM = 2048  # the tag's log refuses longer records (firmware/recordlog.py)
_SIGN1_FIRST_BYTE = 0xD2
_PROTECTED = b"\xa1\x01\x26"
_MAX_SEQ = 0xFFFFFFFF
_MAX_U32 = 0xFFFFFFFF  # every integer field is bounded (records.cddl): the store's are 64-bit


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def genesis(device_id: bytes) -> bytes:
    """prev of a tag's seq 1: SHA-256 of CBOR ["emtag genesis v1", device id]."""
    return hashlib.sha256(cbor2.dumps([R.GENESIS_LABEL, bytes(device_id)])).digest()


def public_key_sec1(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def device_id_of(key: ec.EllipticCurvePublicKey | bytes) -> bytes:
    """The tag's device id: the first 8 bytes of SHA-256 of its SEC1 public key."""
    if not isinstance(key, ec.EllipticCurvePublicKey):
        key = host_cose.load_public_key(key)
    return hashlib.sha256(public_key_sec1(key)).digest()[:8]


def _decode_exact(data: bytes) -> Any:
    fp = io.BytesIO(data)
    obj = cbor2.CBORDecoder(fp, max_depth=8, allow_duplicate_keys=False).decode()
    if fp.tell() != len(data):
        raise ValueError("%d trailing bytes" % (len(data) - fp.tell()))
    return obj


def payload_of(wire: bytes) -> bytes | None:
    """The encoded record inside a wire item (None if it is not a well-formed item)."""
    wire = bytes(wire)
    if wire[:1] == bytes([_SIGN1_FIRST_BYTE]):
        try:
            return host_cose.parse_sign1(wire).payload
        except host_cose.VerificationError:
            return None
    return wire


def digest_of(wire: bytes) -> bytes | None:
    """SHA-256 of the record payload inside a wire item: the value the next record's prev
    must hold."""
    p = payload_of(wire)
    return None if p is None else hashlib.sha256(p).digest()


def peek_seq(wire: bytes) -> int | None:
    """The seq a wire item claims, unverified (None if it has none)."""
    try:
        rec = cbor2.loads(payload_of(wire) or b"")
    except Exception:  # cbor2 raises several types on malformed input
        return None
    seq = rec.get(R.K_SEQ) if isinstance(rec, dict) else None
    return seq if _is_int(seq) else None


def split_stream(data: bytes, keep_rest: bool = False) -> list[bytes]:
    """Split a file of concatenated wire items (tagged COSE_Sign1 messages and record maps)
    into items. At the first byte that does not start a CBOR item: ValueError, or with
    keep_rest the rest of the file as one last item (which then verifies as modified)."""
    data = bytes(data)
    fp = io.BytesIO(data)
    out = []
    while fp.tell() < len(data):
        start = fp.tell()
        try:
            cbor2.CBORDecoder(fp, read_size=1, max_depth=8).decode()
        except (cbor2.CBORDecodeError, ValueError, TypeError, EOFError) as e:
            if keep_rest:
                out.append(data[start:])
                break
            raise ValueError("bad CBOR at byte %d: %s" % (start, e)) from None
        out.append(data[start : fp.tell()])
    return out


# ------------------------------------------------------------------------------ records

_COMMON = {R.K_TYPE, R.K_SEQ, R.K_TIME, R.K_TIME_MS, R.K_PREV}
_POSITION = {R.K_LAT, R.K_LON, R.K_ACC, R.K_FIXTYPE, R.K_SATS, R.K_HDOP, R.K_SPEED}
_POSITION |= {R.K_COURSE, R.K_ALT}
_ALLOWED = {
    R.FIX: _COMMON | _POSITION,
    R.ALERT: _COMMON | _POSITION | {R.K_ALERT, R.K_ZONE},
    R.RESTART: _COMMON | {R.K_REASON},
    R.CHECKPOINT: _COMMON | {R.K_DEVICE, R.K_FIRST, R.K_LAST},
}
_UINT_FIELDS = (R.K_ACC, R.K_SATS, R.K_HDOP, R.K_SPEED)


def check_record(rec: Any, device_id: bytes) -> str | None:
    """Why rec is not a well-formed record map (protocol/records.cddl), or None."""
    if not isinstance(rec, dict):
        return "not a map"
    kind = rec.get(R.K_TYPE)
    if not _is_int(kind) or kind not in _ALLOWED:
        return "unknown record type %r" % (kind,)
    extra = [k for k in rec if k not in _ALLOWED[kind]]
    if extra:
        return "unknown field %r for a %s" % (extra[0], R.TYPE_NAMES[kind])
    seq, prev, t, t_ms = (
        rec.get(R.K_SEQ),
        rec.get(R.K_PREV),
        rec.get(R.K_TIME),
        rec.get(R.K_TIME_MS),
    )
    if not (_is_int(seq) and 1 <= seq <= _MAX_SEQ):
        return "bad seq %r" % (seq,)
    if not (isinstance(prev, bytes) and len(prev) == 32):
        return "bad prev"
    if not (_is_int(t) and 0 <= t <= _MAX_U32 and _is_int(t_ms) and 0 <= t_ms <= 999):
        return "bad time"
    lat, lon = rec.get(R.K_LAT), rec.get(R.K_LON)
    if kind == R.FIX or lat is not None or lon is not None:
        if not (_is_int(lat) and -900000000 <= lat <= 900000000):
            return "bad latitude"
        if not (_is_int(lon) and -1800000000 <= lon <= 1800000000):
            return "bad longitude"
    for k in _UINT_FIELDS:
        if k in rec and not (_is_int(rec[k]) and 0 <= rec[k] <= _MAX_U32):
            return "bad field %d" % k
    if R.K_FIXTYPE in rec and rec[R.K_FIXTYPE] not in (2, 3):
        return "bad fix type"
    if R.K_COURSE in rec and not (_is_int(rec[R.K_COURSE]) and 0 <= rec[R.K_COURSE] < 36000):
        return "bad course"
    if R.K_ALT in rec and not (_is_int(rec[R.K_ALT]) and -(2**31) <= rec[R.K_ALT] < 2**31):
        return "bad altitude"
    if kind == R.ALERT:
        if rec.get(R.K_ALERT) not in R.ALERTS:
            return "unknown alert kind %r" % (rec.get(R.K_ALERT),)
        if R.K_ZONE in rec and not isinstance(rec[R.K_ZONE], str):
            return "bad zone"
    if kind == R.RESTART and not (
        isinstance(rec.get(R.K_REASON), str)
        or (_is_int(rec.get(R.K_REASON)) and 0 <= rec[R.K_REASON] <= _MAX_U32)
    ):
        return "bad restart reason"
    if kind == R.CHECKPOINT:
        if rec.get(R.K_DEVICE) != device_id:
            return "checkpoint names device %s" % _hex(rec.get(R.K_DEVICE))
        first, last = rec.get(R.K_FIRST), rec.get(R.K_LAST)
        if not (_is_int(first) and _is_int(last) and last == seq - 1 and 1 <= first <= last):
            return "checkpoint range %r..%r does not end at seq %d" % (first, last, seq - 1)
    return None


def _hex(b: Any) -> str:
    return b.hex() if isinstance(b, bytes) else repr(b)


# ------------------------------------------------------------------------------ items


@dataclass
class Item:
    """One wire item, parsed. `problem` is (kind, reason) when the item alone shows it is
    not the tag's (bad signature, malformed, another key)."""

    index: int
    wire: bytes
    signed: bool = False
    payload: bytes | None = None
    digest: bytes | None = None
    record: dict | None = None
    kid: bytes | None = None
    problem: tuple[str, str] | None = None

    def at(self, index: int) -> Item:
        """The same parsed item at another position of a stream."""
        return Item(index, self.wire, self.signed, self.payload, self.digest, self.record,
                    self.kid, self.problem)  # fmt: skip

    @property
    def seq(self) -> int | None:
        return self.record[R.K_SEQ] if self.record is not None else None

    @property
    def prev(self) -> bytes | None:
        return self.record[R.K_PREV] if self.record is not None else None

    @property
    def type(self) -> int | None:
        return self.record[R.K_TYPE] if self.record is not None else None

    @property
    def seal(self) -> bool:
        """A signed record of this tag whose signature verifies."""
        return self.signed and self.problem is None


def _decode_record(payload: bytes, device_id: bytes) -> tuple[dict | None, str | None]:
    try:
        rec = _decode_exact(payload)
    except (cbor2.CBORDecodeError, ValueError, TypeError, EOFError) as e:
        return None, "not CBOR (%s)" % e
    why = check_record(rec, device_id)
    if why:
        return None, why
    if cbor2.dumps(rec, canonical=True) != payload:
        return None, "not in deterministic encoding"
    return rec, None


def parse_item(index: int, wire: bytes, key: ec.EllipticCurvePublicKey, device_id: bytes) -> Item:
    wire = bytes(wire)
    it = Item(index, wire)
    if not wire:
        it.problem = (MODIFIED, "empty item")
        return it
    if len(wire) > MAX_ITEM:
        it.problem = (MODIFIED, "item of %d bytes is longer than any record" % len(wire))
        return it
    if wire[0] != _SIGN1_FIRST_BYTE:
        it.payload = wire
        it.digest = hashlib.sha256(wire).digest()
        rec, why = _decode_record(wire, device_id)
        if rec is None:
            it.problem = (MODIFIED, "not a valid record: %s" % why)
            return it
        it.record = rec
        if rec[R.K_TYPE] in R.SIGNED_TYPES:
            it.problem = (
                MODIFIED,
                "a %s must be signed; this one is not" % R.TYPE_NAMES[rec[R.K_TYPE]],
            )
        return it
    it.signed = True
    try:
        msg = host_cose.parse_sign1(wire)
    except host_cose.VerificationError as e:
        it.problem = (MODIFIED, "not a valid COSE_Sign1: %s" % e)
        return it
    it.kid = msg.kid
    it.payload = msg.payload
    it.digest = hashlib.sha256(msg.payload).digest()
    rec, why = _decode_record(msg.payload, device_id)
    it.record = rec
    try:
        host_cose.verify_sign1(wire, key)
        sig_error = None
    except host_cose.VerificationError as e:
        sig_error = str(e)
    if sig_error is not None:
        if it.kid is not None and it.kid != device_id:
            it.problem = (SPLICED, "signed by another key (kid %s)" % it.kid.hex())
        else:
            it.problem = (MODIFIED, "signature: %s" % sig_error)
        return it
    # The signature is the tag's: what it covers is authentic. The rest of the envelope must
    # be exactly what the tag writes.
    if msg.protected_bytes != _PROTECTED or dict(msg.unprotected) != {4: device_id}:
        it.problem = (MODIFIED, "COSE header altered (kid %s)" % _hex(it.kid))
    elif _reencode(msg) != wire:
        it.problem = (MODIFIED, "COSE_Sign1 not in deterministic encoding")
    elif rec is None:
        it.problem = (MODIFIED, "signed payload is not a valid record: %s" % why)
    return it


def _reencode(msg: host_cose.Sign1) -> bytes:
    body = [msg.protected_bytes, dict(msg.unprotected), msg.payload, msg.signature]
    return cbor2.dumps(cbor2.CBORTag(18, body), canonical=True)


# ------------------------------------------------------------------------------ report


@dataclass
class Verdict:
    index: int
    kind: str
    reason: str
    seq: int | None = None
    type: int | None = None
    record: dict | None = None
    digest: bytes | None = None
    sealed_by: int | None = None  # seq of the signed record proving a valid item

    @property
    def type_name(self) -> str:
        return R.TYPE_NAMES.get(self.type, "?") if self.type is not None else "?"


@dataclass
class Gap:
    first: int
    last: int
    before: int  # index of the item they are missing before (len(items): at the end)
    kind: str = DELETED

    @property
    def reason(self) -> str:
        what = (
            "seq %d" % self.first
            if self.first == self.last
            else "seqs %d..%d" % (self.first, self.last)
        )
        return "%s missing (deleted or never delivered)" % what


@dataclass
class Report:
    device_id: bytes
    verdicts: list[Verdict]
    gaps: list[Gap]
    first_seq: int | None = None  # the range the stream was checked against
    last_seq: int | None = None
    counts: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.gaps and all(v.kind == VALID for v in self.verdicts)

    def summary(self) -> str:
        parts = ["%d %s" % (n, k) for k, n in self.counts.items() if n]
        if self.gaps:
            missing = sum(g.last - g.first + 1 for g in self.gaps)
            parts.append(
                "%d deleted (%d gap%s)" % (missing, len(self.gaps), "s" * (len(self.gaps) > 1))
            )
        return ", ".join(parts) or "empty"


def _lis(seqs: list[int], scores: list[int]) -> set[int]:
    """Positions (into seqs) of a longest strictly increasing subsequence; among the longest,
    one with the highest total score, then the earliest items. O(n log n) (Fenwick tree)."""
    rank = {s: r for r, s in enumerate(sorted(set(seqs)), 1)}
    size = len(rank)
    tree = [(0, 0, 1)] * (size + 1)  # prefix maxima of (length, score, -position)
    back = [-1] * len(seqs)
    best = (0, 0, 1)
    for i, s in enumerate(seqs):
        j, top = rank[s] - 1, (0, 0, 1)
        while j > 0:
            top = max(top, tree[j])
            j -= j & -j
        back[i] = -top[2]
        cur = (top[0] + 1, top[1] + scores[i], -i)
        best = max(best, cur)
        j = rank[s]
        while j <= size:
            if cur > tree[j]:
                tree[j] = cur
            j += j & -j
    keep = set()
    i = -best[2]
    while i >= 0:
        keep.add(i)
        i = back[i]
    return keep


def _not_sealed(s):
    return "is not the seq %d the tag sealed (seq %d commits to another hash)" % (s, s + 1)


def verify(
    items: Iterable[bytes],
    public_key: ec.EllipticCurvePublicKey | bytes,
    *,
    first_seq: int | None = None,
    last_seq: int | None = None,
    anchor: tuple[int, bytes] | None = None,
    held: Callable[[int], bytes | None] | None = None,
    check_order: bool = True,
    parsed: Mapping[bytes, Item] | None = None,
) -> Report:
    """Check one tag's wire items, in the order given, against its public key.

    first_seq / last_seq: the range the stream claims to hold (an evidence bundle declares
    it); records of that range that are absent are reported as gaps. Without them the range
    is what the stream holds, from seq 1 if it holds seq 1.
    anchor: (seq, digest) of the last record already verified and stored (the bridge): the
    stream continues from there. held(seq) -> digest of a stored record at or below the
    anchor, so that resent records are duplicates rather than conflicts.
    check_order=False: arrival order is not evidence (the bridge stores by seq); no item is
    called reordered.
    parsed: wire -> Item already parsed under this key (the bridge's records waiting for
    their seal are parsed once, not again with every batch).
    """
    key = (
        public_key
        if isinstance(public_key, ec.EllipticCurvePublicKey)
        else host_cose.load_public_key(public_key)
    )
    dev = device_id_of(key)
    done = parsed or {}
    parsed = [
        done[w].at(i) if w in done else parse_item(i, w, key, dev)
        for i, w in enumerate(items)
    ]
    n = len(parsed)
    out: list[Verdict | None] = [None] * n

    def put(
        it: Item, kind: str, reason: str, sealed_by: int | None = None, seq: int | None = None
    ) -> None:
        out[it.index] = Verdict(
            it.index,
            kind,
            reason,
            it.seq if seq is None else seq,
            it.type,
            it.record,
            it.digest,
            sealed_by,
        )

    # roots: digests the chain may start from, with the seq they stand for
    roots = {genesis(dev): 0}
    anchor_seq = 0
    if anchor is not None:
        anchor_seq = anchor[0]
        roots[anchor[1]] = anchor_seq

    # Records that already sit at or below the anchor: resends or conflicts.
    nodes: list[Item] = []
    for it in parsed:
        if it.record is None:
            put(it, *it.problem)
            continue
        if anchor is not None and it.seq <= anchor_seq:
            if it.problem is None and held is not None and held(it.seq) == it.digest:
                put(it, DUPLICATE, "seq %d is already held" % it.seq)
            elif it.problem is not None:
                put(it, *it.problem)
            elif it.prev in roots or (held is not None and held(it.seq - 1) == it.prev):
                put(it, MODIFIED, "differs from the seq %d already held" % it.seq)
            else:
                put(it, SPLICED, "not this tag's seq %d, which is already held" % it.seq)
            continue
        nodes.append(it)

    # The chain graph: one node per distinct payload, the first copy in stream order.
    by_digest: dict[bytes, Item] = {}
    copies: dict[bytes, list[Item]] = {}
    for it in nodes:
        by_digest.setdefault(it.digest, it)
        copies.setdefault(it.digest, []).append(it)
    uniq = list(by_digest.values())

    # 1. Authenticate: walk back from every signed record whose signature verifies.
    seals = sorted((it for it in uniq if it.seal), key=lambda it: it.seq)
    sealed_by: dict[bytes, Item] = {}
    for s in seals:
        sealed_by.setdefault(s.digest, s)
        cur = s
        for _ in range(len(uniq)):
            p = by_digest.get(cur.prev)
            if p is None or p.digest in sealed_by:
                break
            sealed_by[p.digest] = s
            cur = p
    auth_by_seq = {it.seq: it for it in uniq if it.digest in sealed_by}
    # the digest the tag committed to for each seq, where a proven record says so
    committed: dict[int, bytes] = {}
    for it in auth_by_seq.values():
        committed[it.seq] = it.digest
        if it.seq - 1 > anchor_seq:
            committed.setdefault(it.seq - 1, it.prev)
    top = max((s.seq for s in seals), default=0)
    top_pos = max((s.index for s in seals if s.seq == top), default=-1)
    # A proven record whose prev is not the hash of the proven record (or root) before it:
    # the tag's own chain forks, which no outsider can cause (a firmware fault, a reset log,
    # or a stolen key). Its signature holds, but the chain does not.
    root_at = {seq: d for d, seq in roots.items()}
    forks = set()
    for it in auth_by_seq.values():
        before = auth_by_seq.get(it.seq - 1)
        want = before.digest if before is not None else root_at.get(it.seq - 1)
        if want is not None and it.prev != want:
            forks.add(it.digest)

    # 2. Linked: reachable forward from a root or a proven record through prev links.
    children: dict[bytes, list[Item]] = {}
    for it in uniq:
        children.setdefault(it.prev, []).append(it)
    slot: dict[bytes, int] = {}
    frontier = [(d, s) for d, s in roots.items()]
    frontier += [(it.digest, it.seq) for it in auth_by_seq.values()]
    while frontier:
        d, s = frontier.pop()
        for c in children.get(d, ()):
            if c.digest not in slot and c.digest not in sealed_by:
                slot[c.digest] = s + 1
                frontier.append((c.digest, s + 1))
    linked_seqs = {it.seq for it in uniq if it.digest in slot}

    # Chains that end in another key's signature: spliced along with it.
    foreign: dict[bytes, bytes] = {}
    for it in uniq:
        if it.problem and it.problem[0] == SPLICED and it.kid:
            cur = it
            for _ in range(len(uniq)):
                p = by_digest.get(cur.prev)
                if p is None or p.digest in foreign or p.digest in sealed_by or p.digest in slot:
                    break
                foreign[p.digest] = it.kid
                cur = p

    # 3. Classify each distinct record.
    kind_of: dict[bytes, tuple[str, str, int | None]] = {}  # digest -> kind, reason, sealed_by
    for it in uniq:
        d, s = it.digest, it.seq
        if d in forks:
            kind_of[d] = (
                MODIFIED,
                "hash chain broken: prev is not the hash of seq %d" % (s - 1)
                if s > 1
                else "hash chain broken: seq 1 does not start from this device's genesis",
                None,
            )
        elif d in sealed_by:
            seal = sealed_by[d]
            if it.problem:
                kind_of[d] = (
                    it.problem[0],
                    it.problem[1] + " (its payload is proven by seq %d)" % seal.seq,
                    None,
                )
            elif seal is it:
                kind_of[d] = (VALID, "signature verifies", s)
            else:
                kind_of[d] = (
                    VALID,
                    "sealed by the signed %s seq %d" % (R.TYPE_NAMES[seal.type], seal.seq),
                    seal.seq,
                )
        elif it.problem:
            kind_of[d] = (it.problem[0], it.problem[1], None)
        elif d in slot:
            at = slot[d]
            if s != at:
                kind_of[d] = (MODIFIED, "says seq %d but follows seq %d" % (s, at - 1), None)
            elif at in committed and committed[at] != d:
                if at in auth_by_seq:
                    kind_of[d] = (SPLICED, "a second seq %d that the tag did not seal" % s, None)
                else:
                    kind_of[d] = (MODIFIED, _not_sealed(s), None)
            elif at < top:
                kind_of[d] = (
                    UNVERIFIABLE,
                    "the chain from it to the signed seq %d is broken" % _next_seal(seals, at),
                    None,
                )
            else:
                kind_of[d] = (UNSEALED, "no signed record follows it", None)
        elif d in foreign:
            kind_of[d] = (
                SPLICED,
                "in a chain signed by another key (kid %s)" % foreign[d].hex(),
                None,
            )
        elif s in committed:
            if s in auth_by_seq or s in linked_seqs:
                kind_of[d] = (
                    SPLICED,
                    "not in this tag's chain; its own seq %d is present" % s,
                    None,
                )
            else:
                kind_of[d] = (MODIFIED, _not_sealed(s), None)
        elif s in linked_seqs or it.index < top_pos:
            kind_of[d] = (SPLICED, "does not belong to this tag's chain", None)
        else:
            kind_of[d] = (
                UNVERIFIABLE,
                "does not link to this tag's chain and nothing signed covers it",
                None,
            )

    # 4. Order and copies: among the tag's records, the longest run in seq order stays; a
    # second copy is a duplicate, anything else out of that run was reordered.
    chain_kinds = (VALID, UNSEALED, UNVERIFIABLE)
    ordered = [it for it in nodes if kind_of[it.digest][0] in chain_kinds]
    if check_order:
        # among equally long runs, keep the records that sit where the stream's usual offset
        # between position and seq puts them (so a swap blames the two swapped records)
        offsets = [it.seq - it.index for it in ordered]
        expected = anchor_seq + 1 if anchor is not None else (first_seq or 1)
        tally = Counter(offsets)
        usual = max(tally, key=lambda o: (tally[o], o == expected)) if offsets else 0
        keep_pos = _lis([it.seq for it in ordered], [int(o == usual) for o in offsets])
        kept = [ordered[i] for i in sorted(keep_pos)]
        # prefer the first copy of a record where it fits the run just as well
        for k, it in enumerate(kept):
            lo = kept[k - 1].index if k else -1
            for c in copies[it.digest]:
                if lo < c.index < it.index:
                    kept[k] = c
                    break
    else:
        kept = [it for it in ordered if copies[it.digest][0] is it]
    kept_ids = {id(it) for it in kept}
    kept_digest = {it.digest: it for it in kept}
    max_before = 0
    for it in nodes:
        kind, reason, sb = kind_of[it.digest]
        if kind not in chain_kinds:
            first = copies[it.digest][0]
            if first is it:
                put(it, kind, reason, sb)
            else:
                put(it, DUPLICATE, "copy of #%d" % first.index)
            continue
        if id(it) in kept_ids:
            put(it, kind, reason, sb)
        elif it.digest in kept_digest:
            put(it, DUPLICATE, "copy of #%d (seq %d)" % (kept_digest[it.digest].index, it.seq))
        elif copies[it.digest][0] is not it:
            put(it, DUPLICATE, "copy of #%d (seq %d)" % (copies[it.digest][0].index, it.seq))
        else:
            put(it, REORDERED, "seq %d arrives after seq %d" % (it.seq, max_before), sb)
        max_before = max(max_before, it.seq)

    # 5. Gaps: seqs of the tag's chain that no item holds.
    present: dict[int, int] = {}  # seq -> stream index where it sits
    stand_ins: dict[int, int] = {}  # modified records fill their place, within the range
    for v in out:
        assert v is not None
        if v.seq is None:
            continue
        if v.kind in chain_kinds + (REORDERED,):
            present.setdefault(v.seq, v.index)
        elif v.kind == MODIFIED and v.digest is not None and v.digest not in foreign:
            # a record whose seq field was changed still fills the place it links to
            stand_ins.setdefault(slot.get(v.digest, v.seq), v.index)
    lo_seq = anchor_seq + 1 if anchor is not None else first_seq
    if lo_seq is None:
        lo_seq = min(present, default=1)
    hi_seq = max(max(present, default=0), last_seq or 0)
    for s, i in stand_ins.items():
        if lo_seq <= s <= hi_seq:
            present.setdefault(s, i)
    gaps: list[Gap] = []
    unread = [it.index for it in parsed if it.record is None]
    prev_s = lo_seq - 1
    for s in sorted([x for x in present if x >= lo_seq]) + [hi_seq + 1]:
        if s > prev_s + 1:
            before = present.get(s, n)
            after = present.get(prev_s, -1)
            # unreadable items standing where the missing records belong explain them
            standing = [i for i in unread if after < i < before]
            if len(standing) < s - 1 - prev_s:
                gaps.append(Gap(prev_s + 1, s - 1, before))
            else:
                for i in standing:
                    v = out[i]
                    assert v is not None
                    v.reason += (
                        " (in place of seq %d)" % (prev_s + 1) if s - 1 == prev_s + 1 else ""
                    )
        prev_s = max(prev_s, s)

    verdicts = [v for v in out if v is not None]
    counts = {k: 0 for k in KINDS}
    for v in verdicts:
        counts[v.kind] += 1
    return Report(dev, verdicts, gaps, lo_seq, hi_seq, counts)


def _next_seal(seals: list[Item], seq: int) -> int:
    return min((s.seq for s in seals if s.seq > seq), default=0)


def decode_record_fields(rec: Mapping | None) -> dict:
    """Named fields of a record map, for tables and the store."""
    if rec is None:
        return {}
    names = {
        R.K_TYPE: "type", R.K_SEQ: "seq", R.K_TIME: "t", R.K_TIME_MS: "t_ms",
        R.K_LAT: "lat_e7", R.K_LON: "lon_e7", R.K_ACC: "acc_cm", R.K_FIXTYPE: "fix",
        R.K_SATS: "sats", R.K_HDOP: "hdop_x100", R.K_SPEED: "speed_mmps",
        R.K_COURSE: "course_cdeg", R.K_ALT: "alt_cm", R.K_ALERT: "alert", R.K_ZONE: "zone",
        R.K_REASON: "reason", R.K_FIRST: "first", R.K_LAST: "last",
    }  # fmt: skip
    return {names[k]: v for k, v in rec.items() if k in names}
