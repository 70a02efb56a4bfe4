"""The tag's evidence chain: sequence numbers, the SHA-256 hash chain, and when to sign.

Pure: no I/O and no clock of its own. The tag hands in record maps (protocol/records.py),
the board's clock value and a `store(seq, wire)` callable (the record log's append); this
module numbers and links each record, signs the ones that must be signed, and says when a
checkpoint is due. Formats: protocol/records.cddl.

    chain = Chain(signer)                 signer: firmware/signer.py interface
    chain.resume(entries)                 after boot: the log's last (seq, wire) entries
    chain.add(rec, now_ms, store) -> wire
    chain.seal_due(now_ms) -> bool        time for a checkpoint?
    chain.checkpoint(now_ms, t, t_ms, store) -> wire or None

Policy. A signed record (alert, restart, checkpoint) seals the chain up to itself: its
signature covers its `prev`, which covers the record before, and so on. Fixes are not
signed; a checkpoint seals them when `max_records` records are unsealed or the oldest
unsealed one is `max_ms` old, and at once after a reboot that left the log unsealed. The
uplink sends only sealed records (SealedView), so every upload carries its own proof, the
bridge acknowledges only what it has verified, and a tag that dies leaves at most
`max_records` records (`max_ms` of fixes) without a signature in its flash.
"""

import hashlib

from emtag.firmware import cose
from emtag.protocol import cbor, records

# At most this many records wait for a signature, and none longer than CHECKPOINT_MS. The
# issue asks for at least every 60 records; 15 makes a sealed range (its records and their
# checkpoint) fit the uplink's window (uplink.WINDOW = 16), so the bridge can acknowledge
# nothing before its proof and the tag keeps every record until it has been verified.
CHECKPOINT_RECORDS = 15
CHECKPOINT_MS = 600000  # 10 minutes

_TAG_SIGN1 = 0xD2  # first byte of a tagged COSE_Sign1 (tag 18)


def is_signed(wire):
    """True if a logged/wire item is a COSE_Sign1, False if it is a plain record."""
    return len(wire) > 0 and wire[0] == _TAG_SIGN1


def payload_of(wire):
    """The encoded record inside a wire item (what the chain hashes)."""
    if is_signed(wire):
        return cbor.loads(wire).value[2]
    return wire


class Chain:
    def __init__(self, signer, max_records=CHECKPOINT_RECORDS, max_ms=CHECKPOINT_MS):
        self.signer = signer
        self.device_id = signer.key_id()
        self.max_records = max_records
        self.max_ms = max_ms
        self.seq = 0  # last record made
        self.head = records.genesis(self.device_id)  # SHA-256 of its payload
        self.sealed_seq = 0  # last record covered by a signature (signed or before one)
        self.deadline = None  # clock value by which a checkpoint is due; None: all sealed

    def next_seq(self):
        return self.seq + 1

    def unsealed(self):
        return self.seq - self.sealed_seq

    def resume(self, entries):
        """Continue after a reboot from the tail of the log: (seq, wire) pairs, oldest first,
        at least the last CHECKPOINT_RECORDS + 1 of them when there are that many."""
        first = 0
        for seq, wire in entries:
            if not first:
                first = seq
            self.seq = seq
            if is_signed(wire):
                self.sealed_seq = seq
            self.head = hashlib.sha256(payload_of(wire)).digest()
        if not first:
            return
        if self.sealed_seq < first - 1:  # no signature in the tail we were shown
            self.sealed_seq = first - 1
        if self.seq > self.sealed_seq:
            self.deadline = 0  # whatever the clock says: seal what the last run left open

    def add(self, rec, now_ms, store):
        """Link, encode and (for alert, restart, checkpoint) sign rec, hand it to
        store(seq, wire) and only then advance. rec's seq and prev must be next_seq() and
        head. Returns the wire item."""
        seq = self.seq + 1
        if rec.get(records.K_SEQ) != seq or rec.get(records.K_PREV) != self.head:
            raise ValueError("record does not continue the chain")
        payload = cbor.dumps(rec)
        signed = rec[records.K_TYPE] in records.SIGNED_TYPES
        wire = cose.sign1(self.signer, payload, kid=self.device_id) if signed else payload
        store(seq, wire)
        self.seq = seq
        self.head = hashlib.sha256(payload).digest()
        if signed:
            self.sealed_seq = seq
            self.deadline = None
        elif self.deadline is None:
            self.deadline = now_ms + self.max_ms
        return wire

    def seal_due(self, now_ms):
        if self.seq == self.sealed_seq:
            return False
        return self.unsealed() >= self.max_records or (
            self.deadline is not None and now_ms >= self.deadline
        )

    def checkpoint(self, now_ms, t, t_ms, store):
        """Sign a checkpoint over the unsealed records; None when there are none.
        t, t_ms: the time the checkpoint states (UTC seconds and milliseconds)."""
        if self.seq == self.sealed_seq:
            return None
        rec = records.checkpoint_record(
            self.seq + 1, self.head, t, t_ms, self.device_id, self.sealed_seq + 1
        )
        return self.add(rec, now_ms, store)


class SealedView:
    """The record log as the uplink sees it: it ends at the last sealed record, so nothing
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

    def read_from(self, seq, limit):
        limit = min(limit, self.last_seq - seq + 1)
        return self.log.read_from(seq, limit) if limit > 0 else []

    def ack(self, seq):
        self.log.ack(seq)

    def pending(self):
        return self.log.pending()
