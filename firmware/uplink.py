"""Uplink state machine (pure): which records to send, when to probe, what acks mean.

Messages: protocol/uplink.cddl. The tag speaks first with HELLO; the bridge answers with an
ACK carrying the last sequence number it holds, so after any break the tag resumes from
there. Then:

- Records go oldest first in RECORDS batches ([2, first seq, the wire items concatenated],
  at most BATCH_BYTES of items), with at most WINDOW_BYTES (and WINDOW records) sent and
  not acknowledged: enough to keep a 115,200-baud or cellular link busy while the ACKs
  come back.
- The link is believed down when an ACK that should have come has not (ack_timeout: 5 s
  plus 1 ms per byte in flight, so a slow link is not mistaken for a dead one), when a
  HELLO goes unanswered, or when the link says so (`carrier()`, a modem's registration or a
  serial carrier line: True, False, or None where the hardware cannot tell). Then the tag
  sends nothing but a HELLO, the probe: at once when the carrier comes back, else after
  PROBE_MS doubling to PROBE_MAX_MS; nothing at all while the carrier says down. The
  HELLO's ACK says where to resume, so nothing is resent blindly into a dead link.
- Alerts first: an alert with records before it still unsent is also sent at once, on its
  own, as an ALERT message ahead of them, and again each probe interval until ALERT_ACK or
  until it has gone in order; it still goes in order with the backlog (stored once;
  duplicates are harmless).
- NACK of seq 0 is the bridge not knowing this session ("hello first"): HELLO again at
  once (when one is already unanswered, the backoff stands). NACK of a record: it was
  stored as rejected; what happens next is the ACK's call.
- COMMAND carries a signed command (protocol/console.cddl request) from the monitoring
  centre; `on_command(request bytes) -> reply bytes` answers it in COMMAND_REPLY (no
  handler: an empty reply, "not supported").
- TIME: the host's clock, kept in host_time_ms for the tag.
- CHALLENGE: the bridge's answer to HELLO. `prove(nonce) -> COSE_Sign1 bytes` signs it
  (messages.proof_payload; prover(signer) makes one) and the PROOF goes out at the next
  poll. At most one challenge is signed per HELLO sent, so nobody on the link can make the
  tag sign at will; others are ignored.

`log` is the record log as the uplink may see it (firmware/evidence.py SealedView: it ends
at the last sealed record): last_seq, acked, read_from(seq, n, max_bytes), ack(seq).
"""

from emtag.protocol import cbor
from emtag.protocol import messages as m

WINDOW = 512  # records sent and not yet acknowledged...
WINDOW_BYTES = 8192  # ...and their bytes
BATCH_BYTES = 2048  # bytes of records in one RECORDS message (a frame holds frame.MAX_FRAME)
ACK_TIMEOUT_MS = 5000  # no ACK this long after sending (plus 1 ms a byte in flight): down
PROBE_MS = 5000  # HELLO again after this, doubling...
PROBE_MAX_MS = 60000  # ...up to this: the link's return is noticed within a minute
URGENT_MAX = 8  # alerts waiting to go ahead of the backlog; older ones simply go in order


def prover(signer):
    """prove(nonce) for Uplink: the tag's signature over messages.proof_payload."""
    from emtag.firmware import cose

    kid = signer.key_id()

    def prove(nonce):
        return cose.sign1(signer, m.proof_payload(kid, nonce), kid=kid)

    return prove


class Uplink:
    def __init__(self, log, hello_body, on_command=None, carrier=None, prove=None):
        self.log = log
        self.hello_body = hello_body
        self.on_command = on_command
        self.prove = prove
        self.may_prove = False  # a HELLO went out and no challenge was signed since
        self.carrier = carrier  # () -> True / False / None (unknown); None: no such line
        self.link = None  # the carrier as last read
        self.greeted = False  # the bridge answered our HELLO: records may go
        self.sent_upto = log.acked  # highest seq sent since the last (re)start
        self.inflight = 0  # bytes of records sent and not acknowledged...
        self.batches = []  # ...as [last seq, bytes] of each RECORDS message in flight
        self.deadline = 0  # probe again / give up waiting for an ACK
        self.probe = PROBE_MS
        self.host_time_ms = None
        self.urgent = []  # [seq, wire] of alerts to send ahead of the backlog
        self.urgent_due = 0
        self.replies = []  # messages owed to the bridge (command replies)
        self.resends = 0  # times an ACK did not come and the tag went back to probing
        self.sent_bytes = 0  # bytes of messages handed to the link (before framing)

    @property
    def delivering(self):
        """The bridge is there: what is sealed now goes out soon."""
        return self.greeted

    def send_first(self, seq, wire):
        """An alert just logged (seq, its wire bytes): send it ahead of the backlog. The tag
        calls this for every alert it logs (firmware/tag.py _append); a repeat is ignored."""
        for u in self.urgent:
            if u[0] == seq:
                return
        if len(self.urgent) >= URGENT_MAX:
            self.urgent.pop(0)  # still in the backlog, in order
        self.urgent.append([seq, wire])
        self.urgent_due = 0

    def _read_carrier(self, now):
        if self.carrier is None:
            return
        up = self.carrier()
        if up is False and self.link is not False:
            self._lost()
        elif up and self.link is False:
            self.probe = PROBE_MS
            self.deadline = now  # back: probe at once
        self.link = up

    def _lost(self):
        """The link is down, or the bridge gone: probe, send nothing else."""
        self.greeted = False
        self.sent_upto = self.log.acked
        self.inflight = 0
        self.batches = []

    def poll(self, now):
        """Messages (bytes) to send now."""
        out = self.replies
        self.replies = []
        self._read_carrier(now)
        if self.link is False:
            return out  # known down: not even a probe
        if not self.greeted:
            if now >= self.deadline:
                out.append(self._msg([m.HELLO, self.hello_body]))
                self.may_prove = True
                self.deadline = now + self.probe
                self.probe = min(self.probe * 2, PROBE_MAX_MS)
            return out
        log = self.log
        acked = log.acked
        if self.sent_upto > acked and now >= self.deadline:
            self.resends += 1  # no ACK in time: the link or the bridge is gone
            self._lost()
            self.probe = PROBE_MS
            out.append(self._msg([m.HELLO, self.hello_body]))
            self.may_prove = True
            self.deadline = now + self.probe
            return out
        if self.urgent and now >= self.urgent_due:
            # an alert with unsent records before it goes now, ahead of them, and again
            # each probe interval until ALERT_ACK; one next in line just goes in order
            early = [u for u in self.urgent if u[0] > self.sent_upto + 1]
            for u in early:
                out.append(self._msg([m.ALERT, u[1]]))
            if early:
                self.urgent_due = now + PROBE_MS
        last = log.last_seq
        idle = self.sent_upto == acked  # nothing in flight: the ACK clock starts now
        while (
            self.sent_upto < last
            and self.sent_upto - acked < WINDOW
            and self.inflight < WINDOW_BYTES
        ):
            room = min(BATCH_BYTES, WINDOW_BYTES - self.inflight)
            batch = log.read_from(self.sent_upto + 1, WINDOW - (self.sent_upto - acked), room)
            if not batch:
                break
            size = 0
            for _, wire in batch:
                size += len(wire)
            out.append(self._msg([m.RECORDS, batch[0][0], b"".join(w for _, w in batch)]))
            self.sent_upto = batch[-1][0]
            self.inflight += size
            self.batches.append([self.sent_upto, size])
        if idle and self.sent_upto > acked:
            self.deadline = now + ACK_TIMEOUT_MS + self.inflight
        if self.urgent:  # sent in order now: no more early copies
            self.urgent = [u for u in self.urgent if u[0] > self.sent_upto]
        return out

    def _msg(self, obj):
        raw = cbor.dumps(obj)
        self.sent_bytes += len(raw)
        return raw

    def receive(self, msg, now):
        """Handle one decoded message from the bridge; returns an event name or None:
        "greeted" for the answer to HELLO (the tag then seals what is open), "ack", ..."""
        if not isinstance(msg, list) or not msg or not isinstance(msg[0], int):
            return "bad_message"
        kind = msg[0]
        if kind == m.ACK and len(msg) == 2 and isinstance(msg[1], int) and msg[1] >= 0:
            log = self.log
            before = log.acked
            if not self.greeted:
                # the answer to HELLO: resume right after what the bridge holds
                self.greeted = True
                self.link = True if self.carrier is not None else None
                log.ack(msg[1])
                self.sent_upto = log.acked
                self.inflight = 0
                self.batches = []
                self.probe = PROBE_MS
                self.deadline = now
                self.urgent_due = now
                return "greeted"
            log.ack(msg[1])
            if self.sent_upto < log.acked:
                self.sent_upto = log.acked
            if log.acked > before:
                while self.batches and self.batches[0][0] <= log.acked:
                    self.inflight -= self.batches.pop(0)[1]
                self.deadline = now + ACK_TIMEOUT_MS + self.inflight
            return "ack"
        if kind == m.NACK and len(msg) >= 2 and isinstance(msg[1], int):
            if msg[1] == 0 and self.greeted:
                # the bridge does not know this session (it restarted): greet it again
                self._lost()
                self.probe = PROBE_MS
                self.deadline = now
            return "nack"
        if kind == m.CHALLENGE and len(msg) == 2 and isinstance(msg[1], bytes):
            nonce = msg[1]
            if not (m.NONCE_MIN <= len(nonce) <= m.NONCE_MAX):
                return "bad_message"
            if self.greeted or not self.may_prove or self.prove is None:
                return "challenge_ignored"
            self.may_prove = False
            self.replies.append(self._msg([m.PROOF, self.prove(nonce)]))
            return "challenge"
        if kind == m.ALERT_ACK and len(msg) == 2 and isinstance(msg[1], int):
            self.urgent = [u for u in self.urgent if u[0] != msg[1]]
            return "alert_ack"
        if kind == m.TIME and len(msg) == 2 and isinstance(msg[1], int):
            self.host_time_ms = msg[1]
            return "time"
        if kind == m.COMMAND and len(msg) == 2 and isinstance(msg[1], bytes):
            reply = b"" if self.on_command is None else self.on_command(msg[1])
            self.replies.append(self._msg([m.COMMAND_REPLY, reply]))
            return "command"
        return "bad_message"

    def next_deadline(self):
        if self.replies:
            return 0
        if self.link is False:
            return None  # the carrier's return wakes the tag
        d = None
        if not self.greeted or self.sent_upto > self.log.acked:
            d = self.deadline
        if self.greeted and self.urgent:
            d = self.urgent_due if d is None else min(d, self.urgent_due)
        return d
