"""Verify a tag's evidence stream: signatures, sequence numbers and blocks.

Pure (no I/O), with cbor2 and cryptography only: independent of the firmware's CBOR codec,
fix encoder and P-256 code, so a bug on one side cannot hide in both. Formats:
protocol/records.py and records.cddl. Three parts, one job each:

    host/evidence_items.py    one wire item on its own: form, key, signature of an alert
    host/evidence_blocks.py   items into the tag's blocks, each proven by its checkpoint
    host/verify.py            this: order, copies, gaps and the report

    verify(items, public_key, ...) -> Report    per-item verdicts and the gaps
    split_stream(data) -> list of wire items    a file of concatenated wire items

How a record is proven. A checkpoint's ES256 signature covers the SHA-256 of the wire items
of its block (the records after the previous checkpoint), so one signature proves up to
60 records; alerts and restarts are also signed on their own. Cost per fix: a CRC-16, its
share of one SHA-256 and one signature check, and decoding its few bytes.

Verdicts, one per item, with a reason that names positions (#index, 0-based) and seqs:

    valid         proven by the tag's signature (its checkpoint's, or its own)
    unsealed      after the last checkpoint: no signature covers it yet
    unverifiable  the tag's record as far as can be told, but its block does not verify
                  (another record of the block was changed, removed or moved away), or
                  the checkpoint that sealed it is missing
    modified      not what the tag made: it does not match the record the checkpoint
                  sealed at its place, a signature does not verify, or it does not decode
    reordered     proven, but arrives after a record that follows it in the chain
    duplicate     a second copy of a record already in the stream (or already stored)
    spliced       not from this tag: signed by another key, or a record no block of this
                  tag has room for

and gaps: seqs missing from the stream (deleted or truncated), with the position they are
missing before. A stream is ok when every item is valid and nothing is missing. Tampering
with one record of a block leaves the rest of that block unverifiable (never valid); the
blocks around it still verify.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emtag.host import cose as host_cose
from emtag.host.evidence_blocks import UNSEALED, UNVERIFIABLE, VALID, Placer
from emtag.host.evidence_items import MAX_ITEM, MAX_SEQ, MODIFIED, SPLICED, Item, parse_item
from emtag.protocol import records as R

REORDERED = "reordered"
DUPLICATE = "duplicate"
DELETED = "deleted"  # the kind of a Gap
KINDS = (VALID, UNSEALED, UNVERIFIABLE, MODIFIED, REORDERED, DUPLICATE, SPLICED)
TAMPER_KINDS = (MODIFIED, REORDERED, DUPLICATE, SPLICED)
__all__ = [
    "MAX_ITEM",
    "MAX_SEQ",
    "parse_item",
    "verify",
    "split_stream",
    "Report",
    "Verdict",
    "Gap",
]


def public_key_sec1(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def device_id_of(key: ec.EllipticCurvePublicKey | bytes) -> bytes:
    """The tag's device id: the first 8 bytes of SHA-256 of its SEC1 public key."""
    if not isinstance(key, ec.EllipticCurvePublicKey):
        key = host_cose.load_public_key(key)
    return hashlib.sha256(public_key_sec1(key)).digest()[:8]


def digest_of(wire: bytes) -> bytes:
    """SHA-256 of a wire item: how the bridge recognises a record it already holds."""
    return hashlib.sha256(bytes(wire)).digest()


def peek_seq(wire: bytes) -> int | None:
    """The seq a signed item claims, unverified (None for a fix or a malformed item)."""
    try:
        msg = host_cose.parse_sign1(bytes(wire))
        rec = cbor2.loads(msg.payload)
    except Exception:  # cbor2 raises several types on malformed input
        return None
    seq = rec.get(R.K_SEQ) if isinstance(rec, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


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


def verify(
    items: Iterable[bytes],
    public_key: ec.EllipticCurvePublicKey | bytes,
    *,
    first_seq: int | None = None,
    last_seq: int | None = None,
    anchor: tuple[int, bytes | None] | None = None,
    held: Callable[[int], bytes | None] | None = None,
    check_order: bool = True,
    parsed: Mapping[bytes, Item] | None = None,
) -> Report:
    """Check one tag's wire items, in the order given, against its public key.

    first_seq / last_seq: the range the stream claims to hold (an evidence bundle declares
    it, and it starts at a block's first record); records of that range that are absent
    are reported as gaps. Without them the range is what the stream holds, from seq 1.
    anchor: (seq, digest) of the last record already verified and stored (the bridge): the
    stream continues from there. held(seq) -> digest (SHA-256 of the wire item) of a stored
    record at or below the anchor, so that resent records are duplicates, not conflicts.
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
        done[w].at(i) if w in done else parse_item(i, w, key, dev) for i, w in enumerate(items)
    ]
    n = len(parsed)
    anchor_seq = anchor[0] if anchor is not None else 0
    start = anchor_seq if anchor is not None else (first_seq or 1) - 1
    placed = Placer(parsed, key, dev, start).run()
    out: list[Verdict | None] = [None] * n

    def put(it: Item, kind: str, reason: str, sealed_by=None, seq=None, record=None) -> None:
        rec = record if record is not None else it.record
        typ = it.type if rec is None else rec.get(R.K_TYPE)
        out[it.index] = Verdict(
            it.index, kind, reason, it.seq if seq is None else seq, typ, rec, None, sealed_by
        )

    # Records at or below the anchor: resends (or conflicts with what is stored).
    nodes: list[Item] = []
    kind_of: dict[int, tuple[str, str, int | None]] = {}
    for it in parsed:
        p = placed[it.index]
        it.seq = p.seq
        if p.record is not None:
            it.record = p.record
        if anchor is not None and p.seq is not None and p.seq <= anchor_seq:
            if held is not None and held(p.seq) == hashlib.sha256(it.wire).digest():
                put(it, DUPLICATE, "seq %d is already held" % p.seq)
            elif p.kind == SPLICED:
                put(it, SPLICED, p.reason)
            else:
                put(it, MODIFIED, "differs from the seq %d already held" % p.seq)
            continue
        kind_of[it.index] = (p.kind, p.reason, p.sealed_by)
        nodes.append(it)
    # a record is its place and its bytes: identical fixes at two seqs are two records
    digest = {it.index: (it.seq, it.wire) for it in nodes}
    copies: dict[tuple, list[Item]] = {}
    for it in nodes:
        copies.setdefault(digest[it.index], []).append(it)

    # 4. Order and copies: among the tag's records, the longest run in seq order stays; a
    # second copy is a duplicate, anything else out of that run was reordered.
    chain_kinds = (VALID, UNSEALED, UNVERIFIABLE)
    ordered = [it for it in nodes if kind_of[it.index][0] in chain_kinds]
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
            for c in copies[digest[it.index]]:
                if lo < c.index < it.index:
                    kept[k] = c
                    break
    else:
        kept = [it for it in ordered if copies[digest[it.index]][0] is it]
    kept_ids = {id(it) for it in kept}
    kept_digest = {digest[it.index]: it for it in kept}
    max_before = 0
    for it in nodes:
        kind, reason, sb = kind_of[it.index]
        if kind not in chain_kinds:
            first = copies[digest[it.index]][0]
            if first is it or kind == MODIFIED:
                put(it, kind, reason, sb)
            else:
                put(it, DUPLICATE, "copy of #%d" % first.index)
            continue
        if id(it) in kept_ids:
            put(it, kind, reason, sb)
        elif digest[it.index] in kept_digest:
            put(
                it,
                DUPLICATE,
                "copy of #%d (seq %d)" % (kept_digest[digest[it.index]].index, it.seq),
            )
        elif copies[digest[it.index]][0] is not it:
            put(it, DUPLICATE, "copy of #%d (seq %d)" % (copies[digest[it.index]][0].index, it.seq))
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
        elif v.kind == MODIFIED:
            # a changed record still fills the place it stands in
            stand_ins.setdefault(v.seq, v.index)
    lo_seq = anchor_seq + 1 if anchor is not None else first_seq
    if lo_seq is None:
        lo_seq = min(present, default=1)
    hi_seq = max(max(present, default=0), last_seq or 0)
    for s, i in stand_ins.items():
        if lo_seq <= s <= hi_seq:
            present.setdefault(s, i)
    gaps: list[Gap] = []
    prev_s = lo_seq - 1
    for s in sorted([x for x in present if x >= lo_seq]) + [hi_seq + 1]:
        if s > prev_s + 1:
            gaps.append(Gap(prev_s + 1, s - 1, present.get(s, n)))
        prev_s = max(prev_s, s)

    verdicts = [v for v in out if v is not None]
    counts = {k: 0 for k in KINDS}
    for v in verdicts:
        counts[v.kind] += 1
    return Report(dev, verdicts, gaps, lo_seq, hi_seq, counts)


def decode_record_fields(rec: Mapping | None) -> dict:
    """Named fields of a record map, for tables and the store."""
    if rec is None:
        return {}
    names = {
        R.K_TYPE: "type", R.K_SEQ: "seq", R.K_TIME: "t", R.K_TIME_MS: "t_ms",
        R.K_LAT: "lat_e7", R.K_LON: "lon_e7", R.K_ACC: "acc_cm", R.K_FIXTYPE: "fix",
        R.K_SATS: "sats", R.K_HDOP: "hdop_x100", R.K_SPEED: "speed_mmps",
        R.K_COURSE: "course_cdeg", R.K_ALT: "alt_cm", R.K_ALERT: "alert", R.K_ZONE: "zone",
        R.K_REASON: "reason", R.K_COUNT: "count",
    }  # fmt: skip
    return {names[k]: v for k, v in rec.items() if k in names}
