"""The host bridge: receives frames from a tag, verifies every record, stores, acknowledges.

One Session per connection (serial port or TCP), I/O-free: bytes in, bytes out. A session
takes nothing from its peer before the peer proves it holds the key it names: HELLO (device
id and public key, checked to be a point on P-256 and admitted by the bridge's policy) is
answered with a fresh CHALLENGE; the tag's PROOF, an ES256 COSE_Sign1 over the nonce
(protocol/messages.py proof_payload), must verify under that key. Only then is a new tag
registered, the session made the device's one owner (Owners: an older session of the same
device is closed, so a stale connection cannot deliver late data into the chain), and
records accepted.

A record is acknowledged only after it is committed to the store; items that fail
verification are answered with a NACK and kept, bounded, in the store's rejected table for
diagnosis (never with the tag's evidence).

Verification is host/verify.py's, over the new batch plus the records of this session still
waiting for their seal, anchored at the newest valid record in the store. The tag uploads
only sealed ranges that fit its window: a signed record (alert, restart, checkpoint) is
valid at once, and the unsigned fixes before it are held in this session (not stored, not
acknowledged) until it arrives, normally a batch or two later. So the ACK only ever covers
records proven by the tag's signature: a record altered on the way is refused and the tag,
which keeps everything unacknowledged, sends it again. Records after a gap, or whose chain
is broken, are not stored; the tag resends from the acknowledged seq.

Nothing a peer sends makes receive() raise: every field is type- and range-checked, and
what a peer says is bounded before it is logged (the event printer escapes it).
"""

import hashlib
import io
import secrets

import cbor2

from emtag.host import cose as host_cose
from emtag.host import frames, verify
from emtag.host.store.base import StoredRecord
from emtag.protocol import messages as m
from emtag.protocol import records

# A real tag has at most evidence.SEAL_RECORDS (60) records in a block and uploads only
# sealed blocks; more than this waiting in one session is not a tag.
MAX_UNSEALED = 128
MAX_UNSEALED_BYTES = 32 * 1024  # ...and no more bytes than this
MAX_HELLOS = 8  # handshakes one connection may start without one succeeding
MAX_PROOF_FAILURES = 3  # failed proofs in a row before the connection is closed
MAX_REJECTED = 256  # rejected items one connection may send before it is closed
REJECTED_KEPT_PER_BATCH = 8  # of one batch's rejected items, the store keeps this many
MAX_FIRMWARE = 64  # characters of a HELLO's firmware version
MAX_BATCH = 1024  # items in one RECORDS message (the tag sends at most 2048 bytes of them)
MAX_BAD = 64  # malformed messages or frames one connection may send before it is closed
MAX_BEFORE_PROOF = 16  # messages a connection may send before it has proved its key
_OWN = (verify.VALID, verify.UNSEALED, verify.UNVERIFIABLE)  # the tag's, proven or not yet


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


def _loads(raw):
    """One CBOR message, strictly: nested at most 8 deep, nothing after it."""
    fp = io.BytesIO(raw)
    msg = cbor2.CBORDecoder(fp, max_depth=8).decode()
    if fp.tell() != len(raw):
        raise ValueError("%d bytes after the message" % (len(raw) - fp.tell()))
    return msg


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


class Owners:
    """Which session owns each device: one at a time. A session that proves a device takes
    it over, and the one before is closed (a tag's stale connection, still open after the
    tag reconnected, must not deliver late data into a chain another session continues)."""

    def __init__(self):
        self._by_device = {}

    def claim(self, device, session):
        old = self._by_device.get(device)
        self._by_device[device] = session
        if old is not None and old is not session:
            old.close("superseded: a newer connection of this device proved its key")

    def release(self, device, session):
        if self._by_device.get(device) is session:
            del self._by_device[device]

    def __len__(self):
        return len(self._by_device)


class Session:
    def __init__(self, store, emit, now_iso, register=True, owners=None, nonce=None, peer=None):
        self.store = store
        # a tag new to the store: True takes its key on first use, False refuses it, a
        # callable admit(device hex, public key) returns None to take it or why not
        self.register = register
        self.emit = emit  # emit(type, **fields): the bridge's event stream
        self.now_iso = now_iso  # () -> ISO 8601 UTC, the bridge's clock
        self.owners = owners  # Owners shared by the bridge's sessions (None: this one only)
        self.nonce = nonce or (lambda: secrets.token_bytes(m.NONCE_MIN))
        self.peer = peer  # the port or address, for the rejected table
        self.deframer = frames.Deframer()
        self.device = None  # set once the peer has proved its key
        self.key = None
        self.pending = None  # (device, public key, key, firmware, nonce) awaiting PROOF
        self.last_seq = 0  # the last checkpoint of the blocks stored
        self.unsealed = []  # wire items after it, in seq order, waiting for their checkpoint
        self._parsed = {}  # wire -> verify.Item of those (and of the batch being verified)
        self.hellos = 0
        self.messages = 0
        self.bad = 0
        self.proof_failures = 0
        self.rejected = 0
        self.closed = None  # why the session ended (the I/O layer closes its connection)
        self.on_close = None  # on_close(reason): set by the I/O layer

    def close(self, reason):
        """End the session (its input is ignored from now on) and tell the I/O layer."""
        if self.closed is None:
            self.closed = reason
            if self.owners is not None and self.device is not None:
                self.owners.release(self.device, self)
            if self.on_close is not None:
                self.on_close(reason)

    def receive(self, data):
        """Bytes from the tag in, bytes for the tag out."""
        out = bytearray()
        if self.closed is not None:
            return b""
        for raw in self.deframer.feed(data):
            if self.closed is not None:
                break
            self.messages += 1
            if self.device is None and self.messages > MAX_BEFORE_PROOF:
                self.close("too many messages before the handshake")
                break
            try:
                msg = _loads(raw)
            except Exception as e:  # cbor2 raises several types on malformed input
                self._bad(str(e)[:200])
                continue
            for reply in self._handle(msg):
                out += frames.encode(cbor2.dumps(reply, canonical=True))
        if self.deframer.errors > MAX_BAD and self.closed is None:
            self.close("too many bad frames (%d)" % self.deframer.errors)
        return bytes(out)

    def _bad(self, error):
        self.bad += 1
        if self.bad > MAX_BAD:
            self.close("too many malformed messages")
            return
        where = {"peer": self.peer} if self.peer else {}
        self.emit("bad_message", error=error, **where)

    def _handle(self, msg):
        if not (isinstance(msg, list) and msg and _is_int(msg[0])):
            self._bad("not a [type, ...] array")
            return []
        kind, n = msg[0], len(msg)
        if kind == m.HELLO and n == 2 and isinstance(msg[1], dict):
            return self._hello(msg[1])
        if kind == m.PROOF and n == 2 and isinstance(msg[1], bytes):
            return self._proof(msg[1])
        if kind in (m.RECORDS, m.ALERT, m.COMMAND_REPLY) and self.device is None:
            return [[m.NACK, 0, "hello first"]]
        if (
            kind == m.RECORDS
            and n == 3
            and _is_int(msg[1])
            and 1 <= msg[1] <= verify.MAX_SEQ
            and isinstance(msg[2], bytes)
        ):
            return self._records(msg[1], msg[2])
        if kind == m.ALERT and n == 2 and isinstance(msg[1], bytes):
            return self._early_alert(msg[1])
        if kind == m.COMMAND_REPLY and n == 2 and isinstance(msg[1], bytes):
            self.emit("command_reply", device=self.device, reply=msg[1].hex()[:400])
            return []
        self._bad("unknown or malformed message %r" % (kind,))
        return []

    def _refuse(self, reason, device=None, why=None):
        where = {"peer": self.peer} if self.peer else {}
        self.emit("hello_rejected", device=device, reason=reason, **where)
        return [[m.NACK, 0, why or reason]]

    def _hello(self, body):
        """Check what the HELLO claims and answer with a CHALLENGE; nothing is stored yet."""
        self.hellos += 1
        if self.hellos > MAX_HELLOS:
            self.close("too many HELLOs on one connection")
            return []
        if self.device is not None:  # a new handshake: this connection owns nothing until
            if self.owners is not None:  # it proves again
                self.owners.release(self.device, self)
            self.device = self.key = None
        self.pending = None
        dev, pub, fw = body.get(m.H_DEVICE), body.get(m.H_PUBKEY), body.get(m.H_FIRMWARE)
        if not (isinstance(dev, bytes) and len(dev) == 8 and isinstance(pub, bytes)):
            self._bad("malformed hello")
            return []
        if not (fw is None or (isinstance(fw, str) and len(fw) <= MAX_FIRMWARE)):
            self._bad("malformed hello (firmware)")
            return []
        device = dev.hex()
        try:  # a point on P-256, or the key is refused before anything else is done with it
            if len(pub) != 65:
                raise ValueError("not 65 bytes")
            key = host_cose.load_public_key(pub)
        except ValueError:
            return self._refuse("public key is not a P-256 point", device, "bad public key")
        if hashlib.sha256(pub).digest()[:8] != dev:
            return self._refuse("device id does not match public key", device)
        known = self.store.device(device)
        if known is None:
            if callable(self.register):
                why = self.register(device, pub)
            else:
                why = None if self.register else "unknown tag (not registered)"
            if why:
                return self._refuse(why, device, "unknown tag")
        elif bytes(known) != pub:
            return self._refuse("public key differs from the one on record", device, "unknown tag")
        nonce = self.nonce()
        self.pending = (device, pub, key, fw, nonce)
        return [[m.CHALLENGE, nonce]]

    def _proof(self, proof):
        """The tag's signature over our nonce: verified, the session is the device's."""
        if self.pending is None:
            return [[m.NACK, 0, "hello first"]]
        device, pub, key, fw, nonce = self.pending
        self.pending = None  # a nonce is good for one answer
        want = cbor2.dumps([m.PROOF_LABEL, bytes.fromhex(device), nonce])
        try:
            if host_cose.verify_sign1(proof, key) != want:
                raise host_cose.VerificationError("it signs something else than this challenge")
        except host_cose.VerificationError as e:
            self.proof_failures += 1
            if self.proof_failures >= MAX_PROOF_FAILURES:
                self.close("proof of possession failed %d times" % self.proof_failures)
            return self._refuse("proof of possession failed: %s" % e, device, "proof failed")
        if self.store.device(device) is None:  # registered only once its key is proven
            self.store.add_device(device, pub, fw, self.now_iso())
            self.emit("device_registered", device=device)
        if self.owners is not None:
            self.owners.claim(device, self)
        self.device, self.key = device, key
        self.hellos = self.proof_failures = 0  # bounds on failed handshakes, not on reboots
        seq, _ = self.store.last_valid(device)
        # the stream continues after the newest block proven and stored
        self.last_seq = seq
        self.unsealed, self._parsed = [], {}
        self.emit("hello", device=device, firmware=fw, stored_upto=seq)
        return [[m.ACK, self.last_seq]]

    def _reject(self, items):
        """Keep (seq, reason, wire) items the session refused, bounded; close a connection
        that sends too many (a tag resends what we refuse; it does not flood)."""
        self.rejected += len(items)
        self.store.add_rejected(
            self.device, items[:REJECTED_KEPT_PER_BATCH], self.now_iso(), self.peer
        )
        if self.rejected > MAX_REJECTED:
            self.close("too many rejected records (%d)" % self.rejected)

    def _early_alert(self, wire):
        """An alert sent ahead of the backlog (uplink ALERT message): its signature proves
        it, the chain check comes when it arrives in order with the rest. Stored as 'early'
        (forwarded from there), answered with ALERT_ACK; a bad one is kept as rejected input."""
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
            self._reject([(it.seq, why, wire)])
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
            self._bad("records: %s" % e)
            return [[m.NACK, 0, "records: %s" % e]]
        if len(wires) > MAX_BATCH:
            self._bad("records: %d items in one batch" % len(wires))
            return [[m.ACK, self.last_seq]]
        expect = self.last_seq + 1 + len(self.unsealed)
        if first > expect:
            # records after a gap: not taken; the missing ones come again (the tag resends
            # from our ACK), and what waits here stays
            return [[m.ACK, self.last_seq]]
        replies = []
        if first <= self.last_seq:  # a resend of stored records: the same bytes, or refused
            replies = self._resent(first, wires[: self.last_seq - first + 1])
        if first < expect:  # ...and of what waits here
            wires = wires[expect - first :]
        if not wires:  # nothing new: what waits here was verified when it came
            return replies + [[m.ACK, self.last_seq]]
        dev = bytes.fromhex(self.device)
        done = self._parsed
        for w in wires:
            if w not in done:  # parsed once while it waits (a fix's bytes say no seq)
                done[w] = verify.parse_item(0, w, self.key, dev)
        stream = self.unsealed + wires
        report = verify.verify(
            stream,
            self.key,
            anchor=(self.last_seq, None),
            check_order=False,
            parsed=done,
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
        refused = []
        for v in verdicts:
            if v.kind in (verify.MODIFIED, verify.SPLICED):
                why = "%s: %s" % (v.kind, v.reason)
                refused.append((v.seq, why, stream[v.index]))
                if not replies:
                    replies.append([m.NACK, v.seq or 0, why])
        if len(waiting) > MAX_UNSEALED or sum(map(len, waiting)) > MAX_UNSEALED_BYTES:
            replies.append([m.NACK, 0, "too many records without a checkpoint"])
            waiting = []
        self.unsealed = waiting
        self._parsed = {w: done[w] for w in waiting}  # parsed once, kept while they wait
        if blocks:
            self.store.add_blocks(self.device, blocks, self.now_iso())  # before the ACK
            self.last_seq = upto
        if blocks or refused:
            self.emit(
                "records_stored",
                device=self.device,
                valid=sum(len(b) for b in blocks),
                rejected=len(refused),
                upto=self.last_seq,
            )
        if refused:
            self._reject(refused)
        for r in proven:
            if r.type == records.ALERT:
                self.emit("alert", alert=r.alert, zone=r.zone, device=self.device, seq=r.seq,
                          event_t=r.t, lat=r.lat_e7, lon=r.lon_e7)  # fmt: skip
        return replies + [[m.ACK, self.last_seq]]

    def _resent(self, first, wires):
        """A NACK for resent items that differ from the stored ones (kept as rejected)."""
        held = {
            q: bytes(w)
            for q, _, _, w in self.store.valid_rows(self.device, first, first + len(wires) - 1)
        }
        bad = [
            (first + k, "modified: differs from the seq %d already held" % (first + k), wire)
            for k, wire in enumerate(wires)
            if first + k in held and held[first + k] != wire
        ]
        if not bad:
            return []
        self.emit("records_stored", device=self.device, valid=0, rejected=len(bad),
                  upto=self.last_seq)  # fmt: skip
        self._reject(bad)
        return [[m.NACK, bad[0][0], bad[0][1]]]
