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
from emtag.protocol import frame, records
from emtag.protocol import messages as m

# A real tag has at most evidence.CHECKPOINT_RECORDS (15) records unsealed at once and
# uploads only sealed ranges; more than this waiting in one session is not a tag.
MAX_UNSEALED = 64


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
        self.last_seq = 0  # newest valid (proven) record stored
        self.last_hash = None  # its payload digest: the chain continues from it
        self.unsealed = []  # wire items of this session waiting for their seal

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
        if msg[0] == m.RECORDS and len(msg) == 2 and isinstance(msg[1], list):
            if self.device is None:
                return [[m.NACK, 0, "hello first"]]
            return self._records(msg[1])
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
        seq, wire = self.store.last_valid(device)
        # the chain continues from the newest record proven and stored
        self.last_seq, self.last_hash = seq, verify.digest_of(wire) if wire else None
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
        if not it.seal or it.type != records.ALERT:
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

    def _records(self, items):
        wires = [bytes(x) for x in items if isinstance(x, (bytes, bytearray))]
        wires.sort(key=lambda w: verify.peek_seq(w) or 1 << 62)  # arrival order is no evidence
        stream = self.unsealed + wires
        anchor = (self.last_seq, self.last_hash) if self.last_hash is not None else None
        report = verify.verify(
            stream,
            self.key,
            first_seq=None if anchor else 1,
            anchor=anchor,
            held=self._held_digest,
            check_order=False,
        )
        # Valid rows stay one unbroken chain: nothing after a gap or an altered record is
        # stored (the tag resends from our ACK), and a fix is stored only together with the
        # signed record that proves it; until then it waits in this session. Records that are
        # not the tag's are refused (stored as rejected, NACKed) wherever they are.
        block = min([g.before for g in report.gaps], default=len(stream))
        for v in report.verdicts:
            if v.index >= block:
                break
            if v.kind not in (
                verify.VALID,
                verify.UNSEALED,
                verify.UNVERIFIABLE,
                verify.DUPLICATE,
                verify.SPLICED,
            ):
                block = v.index
        seals = {
            v.seq
            for v in report.verdicts
            if v.index < block and v.kind == verify.VALID and v.sealed_by == v.seq
        }
        rows, replies, proven, waiting = [], [], [], []
        for v in report.verdicts:
            if v.kind in (verify.MODIFIED, verify.SPLICED):
                row = self._row(v, stream[v.index], "rejected")
                rows.append(row)
                if not replies:
                    replies.append([m.NACK, v.seq or 0, row["reason"]])
            elif v.index >= block or v.kind == verify.DUPLICATE:
                continue
            elif v.kind == verify.VALID and v.sealed_by in seals:
                rows.append(self._row(v, stream[v.index], "valid"))
                proven.append(v)
            else:  # its proof is still on the way (or a record before it is)
                waiting.append(stream[v.index])
        if len(waiting) > MAX_UNSEALED:
            replies.append([m.NACK, 0, "too many records without a checkpoint"])
            waiting = []
        self.unsealed = waiting
        if rows:
            self.store.add_records(rows)  # committed before the ACK below goes out
            for v in proven:  # the newest proven record anchors the next batch
                if v.seq > self.last_seq:
                    self.last_seq, self.last_hash = v.seq, v.digest
            self.emit(
                "records_stored",
                device=self.device,
                valid=len(proven),
                rejected=len(rows) - len(proven),
                upto=self.last_seq,
            )
        for v in proven:
            if v.type == records.ALERT:
                rec = v.record
                self.emit(
                    "alert",
                    alert=rec.get(records.K_ALERT),
                    zone=rec.get(records.K_ZONE),
                    device=self.device,
                    seq=v.seq,
                    event_t=rec.get(records.K_TIME),
                    lat=rec.get(records.K_LAT),
                    lon=rec.get(records.K_LON),
                )
        return replies + [[m.ACK, self.last_seq]]

    def _held_digest(self, seq):
        wire = self.store.valid_wire(self.device, seq)
        return verify.digest_of(wire) if wire is not None else None

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
