"""The tag's evidence chain: sequence numbers, blocks, and when to seal them.

Pure: no I/O and no clock of its own. Formats: protocol/records.py and records.cddl.

    chain = Chain(signer)
    chain.resume(entries, sealed_upto)     after boot: the log's (seq, wire) tail
    chain.add_fix(fix, now_ms, log)        the per-fix path: no allocation (once warm)
    chain.add(rec, now_ms, log) -> wire    an alert or restart map: signed at once
    chain.seal_due(now_ms, delivering)     time for a checkpoint?
    chain.checkpoint(now_ms, t, log) -> wire or None

`log` is the record log (firmware/recordlog.py): append(seq, wire) for a signed item,
append_fix(seq, entry) for a fix, whose entry this module lays out for it at the start of
a preallocated buffer (longer than the entry: its first byte says how long):
length n (1) | body (n) | CRC-16 (2, big-endian), the CRC over the fix's wire item (the
body's CBOR byte-string head, then the body).

A block is the records after the last checkpoint. Each record adds itself to the block's
running SHA-256 (a signed item its wire bytes, a fix records.hashed_fix) and its CRC-16 to
the block's tag list; a checkpoint signs the
hash (as COSE external AAD, with the device id and the block's first seq) and carries the
tags. Policy: seal when `max_records` records are in the block; while the uplink is
delivering (`delivering`), also when the oldest is `max_ms` old and at once after an alert
or restart, or when the link has just come back. While the link is down, only the count
seals: a tag at rest for a week makes one checkpoint per `max_records` fixes, not one per
two. The uplink sends only sealed records (SealedView).
"""

import hashlib

from emtag.firmware import cose
from emtag.protocol import cbor, fixcodec, records

SEAL_RECORDS = 60  # records in a block at most (one signature per 60 fixes while offline)
SEAL_MS = 900000  # 15 minutes: the oldest routine fix waits no longer while the link is up
_TAG_SIGN1 = 0xD2  # first byte of a tagged COSE_Sign1 (tag 18)
_ENTRY = 1 + fixcodec.MAX_BODY + 2


def is_signed(wire):
    """True if a logged/wire item is a COSE_Sign1, False if it is a fix."""
    return len(wire) > 0 and wire[0] == _TAG_SIGN1


def payload_of(wire):
    """The encoded map inside a signed item."""
    return cbor.loads(wire).value[2]


def fix_body(wire):
    """A fix's body: its wire item without the CBOR byte-string head."""
    return wire[1:] if wire[0] < 0x58 else wire[2:]


class Chain:
    def __init__(self, signer, max_records=SEAL_RECORDS, max_ms=SEAL_MS):
        self.signer = signer
        self.device_id = signer.key_id()
        self.max_records = max_records
        self.max_ms = max_ms
        self.seq = 0  # last record made
        self.sealed_seq = 0  # last checkpoint
        self.tags = bytearray(2 * max_records)
        self.encoder = fixcodec.FixEncoder()
        self.entry = bytearray(_ENTRY)
        mv = memoryview(self.entry)
        self._body = mv[1:]  # where the encoder writes
        # a fix adds n | body | zeros (records.hashed_fix) to its block's hash: one fixed
        # view of the buffer, however long the fix (no view per length on the heap)
        self._hashed = mv[: records.HASHED_FIX]
        self._dirty = 1  # bytes of the buffer after this may be nonzero
        self.head = bytearray(2)  # a fix's CBOR byte-string head
        hv = memoryview(self.head)
        self._heads = (None, hv[:1], hv[:2])
        self._new_block()

    def _new_block(self):
        self.first = self.seq + 1
        self.n = 0
        self.hash = hashlib.sha256()
        self.encoder.reset()
        self.oldest_ms = None  # clock value when the block's first record was added
        self.urgent = False  # seal as soon as the link carries it
        self.now = False  # seal at the next check, whatever the link

    def next_seq(self):
        return self.seq + 1

    def unsealed(self):
        return self.seq - self.sealed_seq

    @property
    def deadline(self):
        """When the time rule seals the block (while delivering); None: nothing open."""
        if self.n == 0:
            return None
        return self.oldest_ms + self.max_ms

    def resume(self, entries, sealed_upto=0):
        """Continue after a reboot from the log's tail: (seq, wire) pairs, oldest first,
        reaching back to the last checkpoint (or to sealed_upto, the acknowledged seq,
        which always ends a block). The open block goes on where the last run left it."""
        start = None  # index of the open block's first entry
        for i, (seq, wire) in enumerate(entries):
            self.seq = seq
            if seq <= sealed_upto:
                start = i + 1
            elif is_signed(wire) and cbor.loads(payload_of(wire))[records.K_TYPE] == (
                records.CHECKPOINT
            ):
                start = i + 1
        if self.seq == 0:
            return
        if start is None:
            start = 0  # no checkpoint in the tail shown: the block starts where it starts
        self.sealed_seq = entries[start - 1][0] if start else entries[0][0] - 1
        self._new_block()
        self.first = self.sealed_seq + 1
        bodies = []
        for _, wire in entries[start:]:
            if is_signed(wire):
                self.hash.update(wire)
            else:
                bodies.append(fix_body(wire))
                self.hash.update(records.hashed_fix(bodies[-1]))
            self._link(wire, fixcodec.crc16(wire), 0)
        try:
            self.encoder.resume(bodies)
        except ValueError:
            # not the start of a block (a log older than this firmware): leave those
            # records to the bridge as they are and start afresh after them
            self.sealed_seq = self.seq
            self._new_block()
        if self.n:
            self.urgent = True  # what the last run left open goes out once the link is up

    def _link(self, wire, crc, now_ms):
        """wire (bytes or exact views) joins the open block."""
        k = 2 * self.n
        if k >= len(self.tags):  # past max_records before a checkpoint (not the tag's way)
            self.tags.extend(b"\0\0")
        self.tags[k] = crc >> 8
        self.tags[k + 1] = crc & 0xFF
        self.n += 1
        if self.oldest_ms is None:
            self.oldest_ms = now_ms

    def add_fix(self, fix, now_ms, log):
        """Encode, log and link one fix: the per-fix path, without allocation."""
        n = self.encoder.encode(fix, self._body)
        e = self.entry
        e[0] = n
        h = self.head
        if n < 24:
            h[0] = 0x40 | n
            head = self._heads[1]
        else:
            h[0] = 0x58
            h[1] = n
            head = self._heads[2]
        crc = fixcodec.crc16(self._body, n, fixcodec.crc16(head))
        e[n + 1] = crc >> 8
        e[n + 2] = crc & 0xFF
        log.append_fix(self.seq + 1, e)
        # stored: now it counts, and joins the block's hash as n | body | zeros
        self.seq += 1
        self.encoder.commit(fix)
        i, end = n + 1, max(self._dirty, n + 3)
        while i < end:
            e[i] = 0
            i += 1
        self._dirty = n + 1
        self.hash.update(self._hashed)
        self._link(None, crc, now_ms)

    def add(self, rec, now_ms, log):
        """Sign an alert or restart map (its seq must be next_seq()), log it, link it.
        Returns the wire item."""
        seq = self.seq + 1
        if rec.get(records.K_SEQ) != seq or rec.get(records.K_TYPE) not in (
            records.ALERT,
            records.RESTART,
        ):
            raise ValueError("not the next alert or restart record")
        wire = cose.sign1(self.signer, cbor.dumps(rec), kid=self.device_id)
        log.append(seq, wire)
        self.seq = seq
        self.hash.update(wire)
        self._link(wire, fixcodec.crc16(wire), now_ms)
        self.urgent = True
        return wire

    def seal_due(self, now_ms, delivering=True):
        if self.n == 0:
            return False
        if self.n >= self.max_records or self.now:
            return True
        if not delivering:
            return False
        return self.urgent or now_ms >= self.oldest_ms + self.max_ms

    def seal_now(self):
        """Seal the open block at the next check, link or not (an upload asked for)."""
        if self.n:
            self.now = True

    def link_back(self):
        """The uplink reached the bridge again: seal the open block at once."""
        if self.n:
            self.urgent = True

    def checkpoint(self, now_ms, t, log):
        """Sign a checkpoint over the open block; None when it is empty. t: the time it
        states (UTC seconds)."""
        if self.n == 0:
            return None
        seq = self.seq + 1
        rec = records.checkpoint_record(seq, t, self.n)
        aad = records.block_aad(self.device_id, self.first, self.hash.digest())
        wire = cose.sign1(
            self.signer,
            cbor.dumps(rec),
            kid=self.device_id,
            external_aad=aad,
            extra={records.H_TAGS: bytes(self.tags[: 2 * self.n])},
        )
        log.append(seq, wire)
        self.seq = seq
        self.sealed_seq = seq
        self._new_block()
        return wire


class SealedView:
    """The record log as the uplink sees it: it ends at the last checkpoint, so nothing
    leaves the tag before the signature that proves it."""

    def __init__(self, log, chain):
        self.log = log
        self.chain = chain

    @property
    def last_seq(self):
        return min(self.log.last_seq, self.chain.sealed_seq)

    @property
    def acked(self):
        return self.log.acked

    def read_from(self, seq, limit, max_bytes=None):
        limit = min(limit, self.last_seq - seq + 1)
        return self.log.read_from(seq, limit, max_bytes) if limit > 0 else []

    def ack(self, seq):
        self.log.ack(seq)

    def pending(self):
        return self.log.pending()
