"""The host bridge: receives frames from a tag, verifies every record, stores, acknowledges.

One Session per serial connection. A record is acknowledged only after it is committed to
the store; records that fail verification are stored as rejected (never silently
dropped) and answered with a NACK.
"""

import hashlib

import cbor2

from emtag.host import cose as host_cose
from emtag.protocol import frame, records
from emtag.protocol import messages as m


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class Session:
    def __init__(self, store, emit, now_iso):
        self.store = store
        self.emit = emit  # emit(type, **fields): the bridge's event stream
        self.now_iso = now_iso  # () -> ISO 8601 UTC, the bridge's clock
        self.deframer = frame.Deframer()
        self.device = None
        self.key = None
        self.last_seq = 0
        self.last_hash = records.GENESIS

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
            # Trust on first use until fitting-time provisioning lands (see README).
            self.store.add_device(device, pub, str(body.get(m.H_FIRMWARE)), self.now_iso())
            self.emit("device_registered", device=device)
        elif known != pub:
            self.emit(
                "hello_rejected", device=device, reason="public key differs from the one on record"
            )
            return [[m.NACK, 0, "unknown tag"]]
        self.device = device
        self.key = host_cose.load_public_key(pub)
        seq, cose = self.store.last_valid(device)
        self.last_seq = seq
        # the chain continues from the payload of the newest record we hold
        self.last_hash = (
            hashlib.sha256(cbor2.loads(cose).value[2]).digest() if cose else records.GENESIS
        )
        self.emit("hello", device=device, firmware=body.get(m.H_FIRMWARE), stored_upto=seq)
        return [[m.ACK, self.last_seq]]

    def _records(self, items):
        rows, replies, alerts = [], [], []
        for rec in items:
            if not isinstance(rec, bytes):
                continue
            row, status = self._check(rec)
            if status == "duplicate":
                continue
            if status == "gap":
                break  # the tag resends from our ACK
            rows.append(row)
            if row["status"] == "rejected":
                replies.append([m.NACK, row.get("seq") or 0, row["reason"]])
                break
            if row["type"] == records.ALERT:
                alerts.append(row)
        if rows:
            self.store.add_records(rows)  # committed before the ACK below goes out
            valid = sum(1 for r in rows if r["status"] == "valid")
            self.emit(
                "records_stored",
                device=self.device,
                valid=valid,
                rejected=len(rows) - valid,
                upto=self.last_seq,
            )
        for a in alerts:
            self.emit(
                "alert",
                alert=a["alert"],
                zone=a["zone"],
                device=self.device,
                seq=a["seq"],
                event_t=a["t"],
                lat=a["lat_e7"],
                lon=a["lon_e7"],
            )
        return replies + [[m.ACK, self.last_seq]]

    def _check(self, rec):
        """(row, status) with status 'valid', 'rejected', 'duplicate' or 'gap'."""
        row = {"device": self.device, "cose": rec, "received": self.now_iso(), "status": "rejected"}
        try:
            payload = host_cose.verify_sign1(rec, self.key)
        except host_cose.VerificationError as e:
            row["reason"] = "signature: %s" % e
            return row, "rejected"
        try:
            body = cbor2.loads(payload)
        except Exception:  # cbor2 raises several types on malformed input
            body = None
        seq = body.get(records.K_SEQ) if isinstance(body, dict) else None
        prev = body.get(records.K_PREV) if isinstance(body, dict) else None
        if not (_is_int(seq) and isinstance(prev, bytes)):
            row["reason"] = "payload is not a record"
            return row, "rejected"
        row.update(
            seq=seq,
            type=body.get(records.K_TYPE),
            t=body.get(records.K_TIME),
            t_ms=body.get(records.K_TIME_MS),
            lat_e7=body.get(records.K_LAT),
            lon_e7=body.get(records.K_LON),
            acc_cm=body.get(records.K_ACC),
            alert=body.get(records.K_ALERT),
            zone=body.get(records.K_ZONE),
        )
        if seq <= self.last_seq:
            return row, "duplicate"
        if seq > self.last_seq + 1:
            return row, "gap"
        if prev != self.last_hash:
            row["reason"] = "hash chain broken at seq %d" % seq
            return row, "rejected"
        row["status"] = "valid"
        self.last_seq, self.last_hash = seq, hashlib.sha256(payload).digest()
        return row, "valid"
