"""Uplink state machine (pure): which records to send, when to resend, what acks mean.

The tag speaks first with HELLO; the bridge answers with an ACK carrying the last sequence
number it holds, so after any break the tag resumes from there. Records go out oldest
first in batches, at most WINDOW unacknowledged at once; with no ACK within the timeout
everything unacknowledged is sent again, with the timeout doubling up to MAX_TIMEOUT_MS.
Duplicates are harmless: the bridge acknowledges records it already holds.
"""

from emtag.protocol import cbor
from emtag.protocol import messages as m

WINDOW = 16
BATCH = 4
TIMEOUT_MS = 5000
MAX_TIMEOUT_MS = 300000


class Uplink:
    def __init__(self, log, hello_body):
        self.log = log
        self.hello_body = hello_body
        self.greeted = False  # the bridge answered our HELLO
        self.sent_upto = log.acked  # highest seq sent since the last (re)send
        self.deadline = 0  # when to send HELLO again or resend records
        self.timeout = TIMEOUT_MS
        self.host_time_ms = None

    def poll(self, now):
        """Messages (bytes) to send now."""
        out = []
        if not self.greeted:
            if now >= self.deadline:
                out.append(cbor.dumps([m.HELLO, self.hello_body]))
                self._backoff(now)
            return out
        if now >= self.deadline and self.sent_upto > self.log.acked:
            self.sent_upto = self.log.acked  # no ack in time: send again from the first unacked
            self._backoff(now)
        while self.sent_upto < self.log.last_seq and self.sent_upto - self.log.acked < WINDOW:
            batch = self.log.read_from(self.sent_upto + 1, BATCH)
            if not batch:
                break
            out.append(cbor.dumps([m.RECORDS, [rec for _, rec in batch]]))
            self.sent_upto = batch[-1][0]
            if len(out) == 1:
                self.deadline = now + self.timeout
        return out

    def _backoff(self, now):
        self.deadline = now + self.timeout
        self.timeout = min(self.timeout * 2, MAX_TIMEOUT_MS)

    def receive(self, msg, now):
        """Handle one decoded message from the bridge; returns an event name or None."""
        if not isinstance(msg, list) or not msg or not isinstance(msg[0], int):
            return "bad_message"
        kind = msg[0]
        if kind == m.ACK and len(msg) == 2 and isinstance(msg[1], int):
            self.greeted = True
            self.timeout = TIMEOUT_MS
            self.log.ack(msg[1])
            if self.sent_upto < self.log.acked:
                self.sent_upto = self.log.acked
            self.deadline = now + self.timeout
            return "ack"
        if kind == m.NACK:
            return "nack"
        if kind == m.TIME and len(msg) == 2 and isinstance(msg[1], int):
            self.host_time_ms = msg[1]
            return "time"
        return "bad_message"

    def next_deadline(self):
        if not self.greeted or self.sent_upto > self.log.acked:
            return self.deadline
        return None
