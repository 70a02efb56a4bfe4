"""Uplink state machine (pure): which records to send, when to resend, what acks mean.

Messages: protocol/uplink.cddl. The tag speaks first with HELLO; the bridge answers with an
ACK carrying the last sequence number it holds, so after any break the tag resumes from
there. Then:

- Alerts first: an alert logged while a backlog waits before it (a link outage, a long
  upload) is also sent at once, on its own, as an ALERT message, and again each timeout
  until ALERT_ACK; the bridge stores it as an early alert and forwards it. It still goes in
  order with the backlog later (stored once as valid; duplicates are harmless). An alert
  with nothing unsent before it just goes in order, in the same pass.
- Records go oldest first in RECORDS batches (at most BATCH records and BATCH_BYTES), with
  at most WINDOW unacknowledged at once.
- No ACK within the timeout: everything unacknowledged is sent again, the timeout doubling
  up to MAX_TIMEOUT_MS; any ACK that moves forward resets it.
- NACK of seq 0 is the bridge not knowing this session ("hello first": it restarted, or
  it invites a HELLO as a new session starts): say HELLO again at once (when a HELLO is
  already unanswered, the backoff stands). NACK of a record: it was stored as rejected;
  what happens next is the ACK's call.
- COMMAND carries a signed command (protocol/console.cddl request) from the monitoring
  centre; `on_command(request bytes) -> reply bytes` answers it in COMMAND_REPLY (no
  handler: an empty reply, "not supported").
- TIME: the host's clock, kept in host_time_ms for the tag.
- CHALLENGE: the bridge's answer to HELLO. `prove(nonce) -> COSE_Sign1 bytes` signs it
  (messages.proof_payload; prover(signer) makes one) and the PROOF goes out at the next
  poll. At most one challenge is signed per HELLO sent, so nobody on the link can make the
  tag sign at will; others are ignored.

`log` is the record log as the uplink may see it (firmware/evidence.py SealedView: it ends
at the last sealed record): last_seq, acked, read_from(seq, n), ack(seq).
"""

from emtag.protocol import cbor
from emtag.protocol import messages as m

WINDOW = 32  # records sent and not yet acknowledged
BATCH = 8  # records per RECORDS message...
BATCH_BYTES = 2048  # ...and bytes of records (a frame holds frame.MAX_FRAME)
TIMEOUT_MS = 5000
MAX_TIMEOUT_MS = 300000
URGENT_MAX = 8  # alerts waiting to go ahead of the backlog; older ones simply go in order


def prover(signer):
    """prove(nonce) for Uplink: the tag's signature over messages.proof_payload."""
    from emtag.firmware import cose

    kid = signer.key_id()

    def prove(nonce):
        return cose.sign1(signer, m.proof_payload(kid, nonce), kid=kid)

    return prove


class Uplink:
    def __init__(self, log, hello_body, on_command=None, prove=None):
        self.log = log
        self.hello_body = hello_body
        self.on_command = on_command
        self.prove = prove
        self.may_prove = False  # a HELLO went out and no challenge was signed since
        self.greeted = False  # the bridge answered our HELLO
        self.sent_upto = log.acked  # highest seq sent since the last (re)send
        self.deadline = 0  # when to send HELLO again or resend records
        self.timeout = TIMEOUT_MS
        self.host_time_ms = None
        self.urgent = []  # [seq, wire] of alerts to send ahead of the backlog
        self.urgent_due = 0
        self.replies = []  # messages owed to the bridge (command replies)
        self.resends = 0  # timeouts that sent records again (for the tag's statistics)

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

    def poll(self, now):
        """Messages (bytes) to send now."""
        out = self.replies
        self.replies = []
        if not self.greeted:
            if now >= self.deadline:
                out.append(cbor.dumps([m.HELLO, self.hello_body]))
                self.may_prove = True
                self._backoff(now)
            return out
        log = self.log
        acked = log.acked
        if now >= self.deadline and self.sent_upto > acked:
            self.sent_upto = acked  # no ack in time: send again from the first unacked
            self.resends += 1
            self.timeout = min(self.timeout * 2, MAX_TIMEOUT_MS)
            self.deadline = now + self.timeout
        first = True
        last = log.last_seq
        alerts_at = len(out)  # early alerts go ahead of these records
        while self.sent_upto < last and self.sent_upto - acked < WINDOW:
            n = min(BATCH, WINDOW - (self.sent_upto - acked))
            batch = log.read_from(self.sent_upto + 1, n)
            if not batch:
                break
            recs: list = []
            size = 0
            for seq, wire in batch:
                if recs and size + len(wire) > BATCH_BYTES:
                    break
                recs.append(wire)
                size += len(wire)
                self.sent_upto = seq
            out.append(cbor.dumps([m.RECORDS, recs]))
            if first:
                first = False
                if self.deadline <= now:
                    self.deadline = now + self.timeout
        if self.urgent:
            # an alert within what was just sent in order needs no early copy; one behind
            # a backlog goes now, ahead of it, and again each timeout until ALERT_ACK
            self.urgent = [u for u in self.urgent if u[0] > self.sent_upto]
            if self.urgent and now >= self.urgent_due:
                early = [cbor.dumps([m.ALERT, u[1]]) for u in self.urgent]
                out[alerts_at:alerts_at] = early
                self.urgent_due = now + self.timeout
        return out

    def _backoff(self, now):
        self.deadline = now + self.timeout
        self.timeout = min(self.timeout * 2, MAX_TIMEOUT_MS)

    def receive(self, msg, now):
        """Handle one decoded message from the bridge; returns an event name or None."""
        if not isinstance(msg, list) or not msg or not isinstance(msg[0], int):
            return "bad_message"
        kind = msg[0]
        if kind == m.ACK and len(msg) == 2 and isinstance(msg[1], int) and msg[1] >= 0:
            log = self.log
            before = log.acked
            if not self.greeted:
                # the answer to HELLO: resume right after what the bridge holds
                self.greeted = True
                log.ack(msg[1])
                self.sent_upto = log.acked
                self.timeout = TIMEOUT_MS
                self.deadline = now
                self.urgent_due = now
                return "ack"
            log.ack(msg[1])
            if self.sent_upto < log.acked:
                self.sent_upto = log.acked
            if log.acked > before:
                self.timeout = TIMEOUT_MS
                self.deadline = now + self.timeout
            return "ack"
        if kind == m.NACK and len(msg) >= 2 and isinstance(msg[1], int):
            if msg[1] == 0 and self.greeted:
                # the bridge does not know this session (it restarted): greet it again
                self.greeted = False
                self.timeout = TIMEOUT_MS
                self.deadline = now
            return "nack"
        if kind == m.CHALLENGE and len(msg) == 2 and isinstance(msg[1], bytes):
            nonce = msg[1]
            if not (m.NONCE_MIN <= len(nonce) <= m.NONCE_MAX):
                return "bad_message"
            if self.greeted or not self.may_prove or self.prove is None:
                return "challenge_ignored"
            self.may_prove = False
            self.replies.append(cbor.dumps([m.PROOF, self.prove(nonce)]))
            return "challenge"
        if kind == m.ALERT_ACK and len(msg) == 2 and isinstance(msg[1], int):
            self.urgent = [u for u in self.urgent if u[0] != msg[1]]
            return "alert_ack"
        if kind == m.TIME and len(msg) == 2 and isinstance(msg[1], int):
            self.host_time_ms = msg[1]
            return "time"
        if kind == m.COMMAND and len(msg) == 2 and isinstance(msg[1], bytes):
            reply = b"" if self.on_command is None else self.on_command(msg[1])
            self.replies.append(cbor.dumps([m.COMMAND_REPLY, reply]))
            return "command"
        return "bad_message"

    def next_deadline(self):
        d = None
        if self.replies:
            return 0
        if not self.greeted or self.sent_upto > self.log.acked:
            d = self.deadline
        if self.greeted and self.urgent:
            d = self.urgent_due if d is None else min(d, self.urgent_due)
        return d
