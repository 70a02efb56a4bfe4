"""The host bridge: receives frames from a tag, verifies every record, stores, acknowledges.

One Session per serial connection. A record is acknowledged only after it is committed to
the store; records that fail verification are stored as rejected (never silently
dropped) and answered with a NACK.

Verification is host/verify.py's, over the new batch plus the records of this session still
waiting for their seal, anchored at the newest valid record in the store. The tag uploads
only sealed ranges that fit its window: a signed record (alert, restart, checkpoint) is
valid at once, and the unsigned fixes before it are held in this session (not stored, not
acknowledged) until it arrives, normally a batch or two later. So the ACK only ever covers
records proven by the tag's signature: a record altered on the way is refused and the tag,
which keeps everything unacknowledged, sends it again. Records after a gap, or whose chain
is broken, are not stored; the tag resends from the acknowledged seq.
"""

import hashlib

import cbor2

from emtag.host import cose as host_cose
from emtag.host import verify
from emtag.host.store.base import StoredRecord
from emtag.protocol import frame, records
from emtag.protocol import messages as m

# A real tag has at most evidence.SEAL_RECORDS (60) records in a block and uploads only
# sealed blocks; more than this waiting in one session is not a tag.
MAX_UNSEALED = 128
_OWN = (verify.VALID, verify.UNSEALED, verify.UNVERIFIABLE)


def _record_columns(rec):
    """The store's columns read from a decoded record (None where the record has no field)."""
    return {
        "t": rec.get(records.K_TIME),
        "t_ms": rec.get(records.K_TIME_MS),
        "lat_e7": rec.get(records.K_LAT),
        "lon_e7": rec.get(records.K_LON),
        "acc_cm": rec.get(records.K_ACC),
        "alert": rec.get(records.K_ALERT),
        "zone": rec.get(records.K_ZONE),
    }


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def fitting_register(keystore):
    """An admission policy for Session: a tag new to the store is taken only if the
    fitting register (host/keys.py, written by `emtag fit provision`) holds its key."""

    def admit(device, pub):
        rec = keystore.tag(bytes.fromhex(device))
        if rec is None:
            return "not in the fitting register"
        if rec.get("pubkey") != pub.hex():
            return "public key differs from the fitting register"
        return None

    return admit


class Session:
    def __init__(self, store, emit, now_iso, register=True):
        self.store = store
        # a tag new to the store: True takes its key on first use, False refuses it, a
        # callable admit(device hex, public key) returns None to take it or why not
        self.register = register
        self.emit = emit  # emit(type, **fields): the bridge's event stream
        self.now_iso = now_iso  # () -> ISO 8601 UTC, the bridge's clock
        self.deframer = frame.Deframer()
        self.device = None
        self.key = None
        self.last_seq = 0  # the last checkpoint of the blocks stored
        self.unsealed = []  # wire items after it, in seq order, waiting for their checkpoint

    def receive(self, data):
        """Bytes from the tag in, bytes for the tag out."""
        out = bytearray()
        for raw in self.deframer.feed(data):
            try:
                msg = cbor2.loads(bytes(raw))
            except Exception as e:  # cbor2 raises several types on malformed input
                self.emit("bad_message", error=str(e)[:200])
                continue
            for reply in self._handle(msg):
                out += frame.encode(cbor2.dumps(reply, canonical=True))
        return bytes(out)

    def _handle(self, msg):
        if not (isinstance(msg, list) and msg and _is_int(msg[0])):
            self.emit("bad_message", error="not a [type, ...] array")
            return []
        if msg[0] == m.HELLO and len(msg) == 2 and isinstance(msg[1], dict):
            return self._hello(msg[1])
        if (
            msg[0] == m.RECORDS
            and len(msg) == 3
            and _is_int(msg[1])
            and msg[1] >= 1
            and isinstance(msg[2], bytes)
        ):
            if self.device is None:
                return [[m.NACK, 0, "hello first"]]
            return self._records(msg[1], msg[2])
        if msg[0] == m.ALERT and len(msg) == 2 and isinstance(msg[1], bytes):
            if self.device is None:
                return [[m.NACK, 0, "hello first"]]
            return self._early_alert(msg[1])
        if msg[0] == m.COMMAND_REPLY and len(msg) == 2 and isinstance(msg[1], bytes):
            self.emit("command_reply", device=self.device, reply=msg[1].hex()[:400])
            return []
        self.emit("bad_message", error="unknown message type %r" % (msg[0],))
        return []

    def _hello(self, body):
        dev, pub = body.get(m.H_DEVICE), body.get(m.H_PUBKEY)
        if not (isinstance(dev, bytes) and isinstance(pub, bytes) and len(pub) == 65):
            self.emit("bad_message", error="malformed hello")
            return []
        if hashlib.sha256(pub).digest()[:8] != dev:
            self.emit("hello_rejected", reason="device id does not match public key")
            return [[m.NACK, 0, "device id does not match public key"]]
        device = dev.hex()
        known = self.store.device(device)
        if known is None:
            if callable(self.register):
                why = self.register(device, pub)
            else:
                why = None if self.register else "unknown tag (not registered)"
            if why:
                self.emit("hello_rejected", device=device, reason=why)
                return [[m.NACK, 0, "unknown tag"]]
            self.store.add_device(device, pub, str(body.get(m.H_FIRMWARE)), self.now_iso())
            self.emit("device_registered", device=device)
        elif known != pub:
            self.emit(
                "hello_rejected", device=device, reason="public key differs from the one on record"
            )
            return [[m.NACK, 0, "unknown tag"]]
        self.device = device
        self.key = host_cose.load_public_key(pub)
        seq, _ = self.store.last_valid(device)
        # the stream continues after the newest block proven and stored
        self.last_seq = seq
        self.unsealed = []
        self.emit("hello", device=device, firmware=body.get(m.H_FIRMWARE), stored_upto=seq)
        return [[m.ACK, self.last_seq]]

    def _early_alert(self, wire):
        """An alert sent ahead of the backlog (uplink ALERT message): its signature proves
        it, the chain check comes when it arrives in order with the rest. Stored as 'early'
        (forwarded from there), answered with ALERT_ACK; a bad one is stored as rejected."""
        it = verify.parse_item(0, wire, self.key, bytes.fromhex(self.device))
        seq = it.seq or 0
        rec = it.record or {}
        row = {
            "device": self.device,
            "cose": bytes(wire),
            "received": self.now_iso(),
            "status": "early",
            "seq": it.seq,
            "type": it.type,
            **_record_columns(rec),
            "hash": it.digest,
        }
        if it.problem is not None or it.type != records.ALERT:
            why = "early alert: %s" % (it.problem[1] if it.problem else "not an alert record")
            row.update(status="rejected", reason=why)
            self.store.add_records([row])
            self.emit("alert_rejected", device=self.device, seq=seq, reason=why)
            return [[m.NACK, seq, why]]
        if seq > self.last_seq and not self.store.has_record(self.device, seq, "early"):
            self.store.add_records([row])  # committed before ALERT_ACK
            self.emit(
                "alert_early",
                alert=row["alert"],
                zone=row["zone"],
                device=self.device,
                seq=seq,
                event_t=row["t"],
                lat=row["lat_e7"],
                lon=row["lon_e7"],
            )
        return [[m.ALERT_ACK, seq]]

    def _records(self, first, data):
        """A RECORDS batch: wire items from seq `first` on (protocol/uplink.cddl)."""
        try:
            wires = verify.split_stream(data)
        except ValueError as e:
            return [[m.NACK, 0, "records: %s" % e]]
        expect = self.last_seq + 1 + len(self.unsealed)
        if first > expect:
            # records after a gap: not taken; the missing ones come again (the tag resends
            # from our ACK), and what waits here stays
            return [[m.ACK, self.last_seq]]
        replies = []
        if first <= self.last_seq:  # a resend of stored records: the same bytes, or refused
            replies = self._resent(first, wires[: self.last_seq - first + 1])
        if first < expect:  # ...and of what waits here
            skip = expect - first
            if skip >= len(wires):
                return replies + [[m.ACK, self.last_seq]]
            wires = wires[skip:]
        stream = self.unsealed + wires
        report = verify.verify(
            stream,
            self.key,
            anchor=(self.last_seq, None),
            check_order=False,
        )
        # Stored: whole proven blocks, in order from the anchor, nothing after a gap or a
        # record that is not the tag's (the tag resends from our ACK). Records that are not
        # the tag's are refused (stored as rejected, NACKed) wherever they are.
        verdicts = report.verdicts
        block = min([g.before for g in report.gaps], default=len(stream))
        for v in verdicts:
            if v.index < block and v.kind == verify.MODIFIED:
                block = v.index
        # the tag's own records before that, by seq (another tag's, or copies, left out)
        mine = sorted(
            (v for v in verdicts[:block] if v.kind in _OWN and v.seq is not None),
            key=lambda v: v.seq,
        )
        blocks, cur, proven = [], [], []
        upto = self.last_seq
        for v in mine:
            if v.kind != verify.VALID or v.seq != upto + len(cur) + 1:
                break
            cur.append(
                StoredRecord(v.seq, v.type, wire=stream[v.index], **_record_columns(v.record or {}))
            )
            if v.sealed_by == v.seq and v.type == records.CHECKPOINT:
                blocks.append(cur)
                proven += cur
                upto, cur = v.seq, []
        waiting = []
        for v in mine:
            if v.seq == upto + len(waiting) + 1:
                waiting.append(stream[v.index])
        rejected = []
        for v in verdicts:
            if v.kind in (verify.MODIFIED, verify.SPLICED):
                rejected.append(self._row(v, stream[v.index], "rejected"))
                if not replies:
                    replies.append([m.NACK, v.seq or 0, rejected[-1]["reason"]])
        if len(waiting) > MAX_UNSEALED:
            replies.append([m.NACK, 0, "too many records without a checkpoint"])
            waiting = []
        self.unsealed = waiting
        if blocks or rejected:
            self.store.add_blocks(self.device, blocks, self.now_iso(), rejected)
            self.last_seq = upto
            self.emit(
                "records_stored",
                device=self.device,
                valid=sum(len(b) for b in blocks),
                rejected=len(rejected),
                upto=self.last_seq,
            )
        for r in proven:
            if r.type == records.ALERT:
                self.emit("alert", alert=r.alert, zone=r.zone, device=self.device, seq=r.seq,
                          event_t=r.t, lat=r.lat_e7, lon=r.lon_e7)  # fmt: skip
        return replies + [[m.ACK, self.last_seq]]

    def _resent(self, first, wires):
        """NACKs (with rejected rows) for resent items that differ from the stored ones."""
        held = {
            q: bytes(w)
            for q, _, _, w in self.store.valid_rows(self.device, first, first + len(wires) - 1)
        }
        bad = []
        for k, wire in enumerate(wires):
            seq = first + k
            if seq in held and held[seq] != wire:
                v = verify.Verdict(
                    0, verify.MODIFIED, "differs from the seq %d already held" % seq, seq
                )
                bad.append(self._row(v, wire, "rejected"))
        if not bad:
            return []
        self.store.add_records(bad)
        self.emit(
            "records_stored", device=self.device, valid=0, rejected=len(bad), upto=self.last_seq
        )
        return [[m.NACK, bad[0]["seq"], bad[0]["reason"]]]

    def _row(self, v, wire, status):
        """The store row for a wire item and its verdict (host/verify.py)."""
        rec = v.record or {}
        return {
            "device": self.device,
            "cose": wire,
            "received": self.now_iso(),
            "status": status,
            "reason": None if status != "rejected" else "%s: %s" % (v.kind, v.reason),
            "seq": v.seq,
            "type": v.type,
            **_record_columns(rec),
            "hash": v.digest,
            "sealed_by": v.sealed_by,
        }
