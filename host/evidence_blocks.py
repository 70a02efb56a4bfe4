"""Place a stream's items into the tag's blocks and prove each block by its checkpoint.

A checkpoint signs the SHA-256 of its block's wire items (records.block_aad) and lists
each one's CRC-16. The normal case is positional: the items between the previous
checkpoint and this one are the block, their CRCs match the list, the signature verifies.
Otherwise (something moved, went missing, was added or changed) the list finds each
record wherever it is in the stream; a block whose records are all found in seq order
and whose signature then verifies is proven whatever the order they arrived in. What the
lists cannot place is matched with the seqs still missing around it: standing in for a
sealed record it is `modified`, in a range no checkpoint covers it is the chain's own
(unverifiable, or unsealed at the end), and with no seq left for it it was `spliced` in.

Output: per item a Placement (seq, kind, reason, sealed_by, record), for host/verify.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from emtag.host import fixcodec
from emtag.host.evidence_items import MODIFIED, SPLICED, Item, verify_checkpoint
from emtag.protocol import records as R

VALID = "valid"
UNSEALED = "unsealed"
UNVERIFIABLE = "unverifiable"
MAX_RETRIES = 16  # other candidates tried for a block whose first choice does not verify


@dataclass
class Placement:
    seq: int | None
    kind: str
    reason: str
    sealed_by: int | None = None
    record: dict | None = None


def _aad(device_id: bytes, first: int, items: list[Item]) -> bytes:
    import cbor2

    h = hashlib.sha256()
    for it in items:  # protocol/records.py: a fix as hashed_fix(body), the rest as they are
        h.update(it.wire if it.body is None else R.hashed_fix(it.body))
    digest = h.digest()
    return cbor2.dumps([R.BLOCK_LABEL, device_id, first, digest])


def _own(it: Item) -> bool:
    """A record of this tag that a block can hold: a fix, or a verified alert/restart."""
    return it.problem is None and not it.is_checkpoint and (it.body is not None or it.signed)


class Placer:
    def __init__(self, items: list[Item], key, device_id: bytes, start_seq: int):
        self.items = items
        self.key = key
        self.dev = device_id
        self.start = start_seq  # the seq before the stream's first record
        self.out: dict[int, Placement] = {}  # item index -> placement
        self.seq_of: dict[int, int] = {}  # item index -> seq, for placed records
        self.covered: set[int] = set()  # seqs some checkpoint of the stream seals
        self.top = start_seq  # highest checkpoint seq seen
        self.done: set[int] = set()  # items settled without a seq (another tag's block)
        self.seals_at: set[int] = set()  # seqs that end a block before a proven one
        self.proving: set[int] = set()  # checkpoints whose signature proved their block

    def run(self) -> dict[int, Placement]:
        cps = [it for it in self.items if it.is_checkpoint]
        seen: dict[bytes, Item] = {}
        copies: list[tuple[Item, Item]] = []
        done: list[tuple[Item, list[Item] | None]] = []
        prev_index = -1
        prev_seq: int | None = None
        for cp in cps:
            n = cp.record[R.K_COUNT]
            first = cp.seq - n
            if not (cp.altered and cp.altered[0] == SPLICED):  # what it claims may be so
                self.covered.update(range(first, cp.seq))
                self.top = max(self.top, cp.seq)
            if cp.wire in seen:  # a copy: the ordering step calls it a duplicate
                copies.append((cp, seen[cp.wire]))
                prev_index = cp.index
                continue
            seen[cp.wire] = cp
            between = self.items[prev_index + 1 : cp.index]
            done.append((cp, self._positional(cp, between, prev_seq)))
            prev_index, prev_seq = cp.index, cp.seq
        for cp, block in done:
            if block is None:
                self._by_tags(cp)
        for copy, cp in copies:
            self._copy(copy, cp)
        for cp in cps:
            p = self.out.get(cp.index)
            if (
                cp.altered and p is not None and cp.index not in self.done
            ):  # its envelope was changed
                if cp.index in self.proving:  # its signature proved its block: ours
                    why = cp.altered[1]
                    if cp.altered[0] == SPLICED:
                        why = "its key id was altered (kid %s)" % bytes(cp.kid or b"").hex()
                    why += "; its signature is this tag's"
                    self.out[cp.index] = Placement(p.seq, MODIFIED, why)
                else:
                    self.out[cp.index] = Placement(p.seq, cp.altered[0], cp.altered[1])
        self._leftovers()
        return self.out

    def _copy(self, it: Item, of: Item) -> None:
        p = self.out[of.index]
        self.seq_of[it.index] = p.seq
        self.out[it.index] = Placement(p.seq, p.kind, p.reason, p.sealed_by, p.record)

    # the normal layout
    def _positional(self, cp: Item, between: list[Item], prev_seq: int | None):
        # a checkpoint naming another key: the tag's own with a changed kid if its signature
        # still proves the block, else another tag's (with its block, where its list fits)
        foreign = cp.altered is not None and cp.altered[0] == SPLICED
        found = [it.tag for it in between]
        if not between or not all(_own(it) for it in between):
            if foreign:  # its block may hold alerts signed by its own key
                return self._foreign(cp, between if cp.tags == found else [])
            return None
        n = cp.record[R.K_COUNT]
        if len(between) == n and verify_checkpoint(
            cp, self.key, _aad(self.dev, cp.seq - n, between)
        ):
            self._proven(cp, between)
            if cp.tags != found:
                self.out[cp.index] = Placement(
                    cp.seq, MODIFIED, "its list of record CRCs was altered (its block verifies)"
                )
            return between
        if foreign:
            return self._foreign(cp, between if cp.tags == found else [])
        if cp.tags != found:
            return None
        # every record is where the list says and unchanged: the checkpoint was altered
        first = (prev_seq if prev_seq is not None else self.start) + 1
        for j, it in enumerate(between):
            self._place(it, first + j, UNVERIFIABLE, "its checkpoint (#%d) was altered" % cp.index)
        self.seq_of[cp.index] = first + len(between)
        self.out[cp.index] = Placement(
            first + len(between), MODIFIED, "checkpoint signature does not verify"
        )
        return between

    def _foreign(self, cp: Item, block: list[Item]) -> list[Item]:
        why = cp.altered[1] if cp.altered else "another tag's checkpoint"
        self.out[cp.index] = Placement(None, SPLICED, why)
        self.done.add(cp.index)
        for it in block:
            self.out[it.index] = Placement(
                None, SPLICED, "in the block of #%d: %s" % (cp.index, why)
            )
            self.done.add(it.index)
        return block

    # anything else: find each record by its CRC
    def _by_tags(self, cp: Item) -> None:
        n = cp.record[R.K_COUNT]
        first = cp.seq - n
        tags = cp.tags if cp.tags is not None and len(cp.tags) == n else []
        cands: list[list[Item]] = [[] for _ in range(n)]
        for it in self.items:
            if not _own(it) or it.index in self.seq_of:
                continue
            if it.signed:
                j = it.seq - first
                if 0 <= j < n:
                    cands[j].append(it)
                continue
            for j, tag in enumerate(tags):
                if tag == it.tag:
                    cands[j].append(it)
        # the k-th record with a CRC goes to the k-th place listing it, in stream order
        # (identical fixes are common: a tag at rest repeats its deltas)
        pick: list[Item | None] = []
        used: set[int] = set()
        last = -1
        for c in cands:
            free = [it for it in c if it.index not in used]
            p = next((it for it in free if it.index > last), free[0] if free else None)
            pick.append(p)
            if p is not None:
                used.add(p.index)
                last = p.index
        if all(p is not None for p in pick):
            tries = 0
            block = list(pick)
            if self._verifies(cp, first, block):
                self._proven(cp, block)
                return
            for j, c in enumerate(cands):
                for alt in c[1:]:
                    if tries >= MAX_RETRIES:
                        break
                    tries += 1
                    trial = block[:j] + [alt] + block[j + 1 :]
                    if self._verifies(cp, first, trial):
                        self._proven(cp, trial)
                        return
            if tries == 0 and len({p.index for p in pick}) == n:
                for j, it in enumerate(pick):
                    self._place(
                        it, first + j, UNVERIFIABLE, "its checkpoint (#%d) was altered" % cp.index
                    )
                self.out[cp.index] = Placement(
                    cp.seq, MODIFIED, "checkpoint signature does not verify"
                )
                self.seq_of[cp.index] = cp.seq
                return
        # an incomplete block: what was found is the tag's, but nothing proves it
        used: set[int] = set()
        for j, c in enumerate(cands):
            for it in c:
                if it.index not in used and it.index not in self.seq_of:
                    used.add(it.index)
                    self._place(
                        it, first + j, UNVERIFIABLE, "the block sealed by seq %d is broken" % cp.seq
                    )
                    break
        self.out[cp.index] = Placement(
            cp.seq, UNVERIFIABLE, "a record of its block is missing or altered"
        )
        self.seq_of[cp.index] = cp.seq

    def _verifies(self, cp: Item, first: int, block: list[Item]) -> bool:
        if len({it.index for it in block}) != len(block):
            return False
        return verify_checkpoint(cp, self.key, _aad(self.dev, first, block))

    def _proven(self, cp: Item, block: list[Item]) -> None:
        first = cp.seq - len(block)
        if first - 1 > self.start:
            self.seals_at.add(first - 1)  # a block begins after a checkpoint
        self.seq_of[cp.index] = cp.seq
        self.proving.add(cp.index)
        self.out[cp.index] = Placement(cp.seq, VALID, "signature verifies", cp.seq, cp.record)
        fixes = [it for it in block if not it.signed]
        try:
            recs = fixcodec.decode_block([it.body for it in fixes])  # in its one encoding
        except fixcodec.FixFormatError as e:
            for j, it in enumerate(block):
                self._place(it, first + j, MODIFIED, "signed, but not a valid fix record: %s" % e)
            return
        decoded = dict(zip((it.index for it in fixes), recs, strict=True))
        for j, it in enumerate(block):
            rec = it.record if it.signed else decoded[it.index]
            if not it.signed:
                rec[R.K_SEQ] = first + j
            why = None if it.signed else _check_fix(rec)
            if why:
                self._place(it, first + j, MODIFIED, "signed, but %s" % why)
            else:
                reason = "sealed by the checkpoint seq %d" % cp.seq
                self._place(it, first + j, VALID, reason, cp.seq, rec)

    def _place(self, it, seq, kind, reason, sealed_by=None, rec=None):
        if it.signed and it.problem is None and kind == UNVERIFIABLE:
            kind, reason, sealed_by = VALID, "signature verifies", it.seq
        self.seq_of[it.index] = seq
        if rec is None and it.signed:
            rec = it.record
        self.out[it.index] = Placement(seq, kind, reason, sealed_by, rec)

    # what no checkpoint placed
    def _leftovers(self) -> None:
        items = self.items
        run: list[Item] = []
        last_seq = self.start
        self.by_wire = {self.items[i].wire: self.items[i] for i in self.out if i in self.seq_of}
        self.by_seq = {s: self.items[i] for i, s in self.seq_of.items()}
        self.keyed = False  # a key fix seen since the last checkpoint (a block is open)
        for it in items + [None]:
            known = None
            if it is not None and it.index in self.done:
                continue
            if it is not None:
                if it.index in self.seq_of:
                    known = self.seq_of[it.index]
                elif it.signed and it.problem is None and it.seq is not None:
                    known = it.seq
                    held = self.by_seq.get(it.seq)
                    if held is not None and held.wire == it.wire:
                        self._copy(it, held)
                    elif held is not None:  # the tag's key, but not what its block sealed
                        self.seq_of[it.index] = it.seq
                        self.out[it.index] = Placement(
                            it.seq, MODIFIED, "not the record the tag sealed as seq %d" % it.seq
                        )
                    else:
                        self._place(it, it.seq, VALID, "signature verifies", it.seq)
            if it is None or known is not None:
                self._fill(run, last_seq, known)
                run = []
                if known is not None and known > last_seq:
                    last_seq = known
                if it is not None and it.is_checkpoint:
                    self.keyed = False
                elif it is not None and it.body is not None and it.body[0] & 0x80:
                    self.keyed = True
            elif it.problem is None or it.problem[0] == MODIFIED:
                run.append(it)
            else:
                self.out[it.index] = Placement(it.seq, it.problem[0], it.problem[1])

    def _copies(self, run: list[Item], extra: int | None) -> list[Item]:
        """Take copies of placed records out of a run: up to `extra` of them (None: in an
        open tail, where the tag's own fixes follow a checkpoint as a block does, a key fix
        first, so a delta fix before any key fix, or a repeated key fix, is a copy)."""
        keep = []
        for it in run:
            own_fix = it.problem is None and it.body is not None
            key = own_fix and bool(it.body[0] & 0x80)
            copy = _own(it) and it.wire in self.by_wire
            if copy and extra is None:
                copy = it.signed or key or not self.keyed
            elif copy:
                copy = extra > 0
                extra -= copy
            if copy:
                self._copy(it, self.by_wire[it.wire])
                continue
            self.keyed = self.keyed or key
            keep.append(it)
        return keep

    def _fill(self, run: list[Item], after: int, before: int | None) -> None:
        if not run:
            return
        placed = set(self.seq_of.values())
        keyed = self.keyed
        if before is None:
            run = self._copies(run, None)
            free = [after + 1 + k for k in range(len(run) + len(placed) + 1)]
            free = [s for s in free if s not in placed][: len(run)]
        else:
            free = [s for s in range(after + 1, before) if s not in placed]
            if len(run) > len(free):  # more than the missing seqs: copies are the extra
                run = self._copies(run, len(run) - len(free))
        # the tag starts a block with a key fix and never makes another in it
        second_key = set()
        for it in run:
            if it.problem is None and it.body is not None and it.body[0] & 0x80:
                if keyed:
                    second_key.add(it.index)
                keyed = True
        self.keyed = keyed
        bodies: list[Item] = []
        for k, it in enumerate(run):
            if k >= len(free):
                if it.problem:
                    self.out[it.index] = Placement(None, MODIFIED, it.problem[1])
                else:
                    self.out[it.index] = Placement(None, SPLICED, "not in this tag's chain")
                continue
            s = free[k]
            self.seq_of[it.index] = s
            if it.problem:
                self.out[it.index] = Placement(
                    s, MODIFIED, it.problem[1] + " (in place of seq %d)" % s
                )
            elif it.index in second_key:
                why = "a second key fix in one block: not the tag's record as seq %d" % s
                self.out[it.index] = Placement(s, MODIFIED, why)
            elif s in self.seals_at:
                why = "not the checkpoint that ends the tag's block at seq %d" % s
                self.out[it.index] = Placement(s, MODIFIED, why)
            elif s in self.covered:
                self.out[it.index] = Placement(
                    s, MODIFIED, "not the record the tag sealed as seq %d" % s
                )
            elif s < self.top:
                self.out[it.index] = Placement(
                    s, UNVERIFIABLE, "nothing signed covers it (its checkpoint is missing)"
                )
                bodies.append(it)
            else:
                self.out[it.index] = Placement(s, UNSEALED, "no checkpoint follows it")
                bodies.append(it)
        _decode_unproven(bodies, self.out)


_MAX_U32 = 0xFFFFFFFF
_FIX_UINTS = (R.K_ACC, R.K_SATS, R.K_HDOP, R.K_SPEED)


def _check_fix(rec: dict) -> str | None:
    """evidence_items.check_position for a decoded fix, whose values are ints by
    construction: the ranges alone."""
    if not -900000000 <= rec[R.K_LAT] <= 900000000:
        return "bad latitude"
    if not -1800000000 <= rec[R.K_LON] <= 1800000000:
        return "bad longitude"
    if not (0 <= rec[R.K_TIME] <= _MAX_U32 and 0 <= rec[R.K_TIME_MS] <= 999):
        return "bad time"
    for k in _FIX_UINTS:
        if k in rec and not 0 <= rec[k] <= _MAX_U32:
            return "bad field %d" % k
    if R.K_FIXTYPE in rec and rec[R.K_FIXTYPE] not in (2, 3):
        return "bad fix type"
    if R.K_COURSE in rec and not 0 <= rec[R.K_COURSE] < 36000:
        return "bad course"
    if R.K_ALT in rec and not -(2**31) <= rec[R.K_ALT] < 2**31:
        return "bad altitude"
    return None


def _decode_unproven(items: list[Item], out: dict[int, Placement]) -> None:
    """Fields of records nothing proves, best effort (a run from a key fix)."""
    fixes = [it for it in items if not it.signed]
    if not fixes or not fixes[0].body or not fixes[0].body[0] & 0x80:
        return
    try:
        recs = fixcodec.decode_block([it.body for it in fixes])
    except fixcodec.FixFormatError:
        return
    for it, rec in zip(fixes, recs, strict=True):
        rec[R.K_SEQ] = out[it.index].seq
        out[it.index].record = rec
