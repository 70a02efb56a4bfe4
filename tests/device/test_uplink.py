from emtag.firmware import uplink
from emtag.protocol import cbor
from emtag.protocol import messages as m


class FakeLog:
    """The record log's interface, in RAM."""

    def __init__(self, n):
        self.records = [(i, b"rec%d" % i) for i in range(1, n + 1)]
        self.last_seq = n
        self.acked = 0

    def read_from(self, seq, limit):
        return [r for r in self.records if r[0] >= seq][:limit]

    def ack(self, seq):
        self.acked = max(self.acked, min(seq, self.last_seq))


def _sent_seqs(msgs):
    seqs = []
    for raw in msgs:
        msg = cbor.loads(raw)
        assert msg[0] == m.RECORDS
        seqs.extend(int(r[3:]) for r in msg[1])
    return seqs


def test_hello_first_then_resend_with_backoff():
    up = uplink.Uplink(FakeLog(3), {m.H_DEVICE: b"12345678"})
    first = up.poll(0)
    assert [cbor.loads(x)[0] for x in first] == [m.HELLO]
    assert up.poll(1000) == []  # waiting for the answer
    assert len(up.poll(uplink.TIMEOUT_MS)) == 1  # no answer: hello again
    assert up.poll(uplink.TIMEOUT_MS + uplink.TIMEOUT_MS) == []  # the timeout doubled


def test_ack_resumes_from_what_the_host_holds():
    log = FakeLog(10)
    up = uplink.Uplink(log, {})
    up.poll(0)
    assert up.receive([m.ACK, 6], 10) == "ack"
    assert log.acked == 6
    assert _sent_seqs(up.poll(20)) == [7, 8, 9, 10]


def test_window_limits_records_in_flight():
    log = FakeLog(100)
    up = uplink.Uplink(log, {})
    up.receive([m.ACK, 0], 0)
    assert _sent_seqs(up.poll(0)) == list(range(1, uplink.WINDOW + 1))
    assert up.poll(1) == []
    up.receive([m.ACK, 4], 2)
    assert _sent_seqs(up.poll(3)) == list(range(uplink.WINDOW + 1, uplink.WINDOW + 5))


def test_missing_ack_resends_everything_unacknowledged():
    log = FakeLog(5)
    up = uplink.Uplink(log, {})
    up.receive([m.ACK, 0], 0)
    assert _sent_seqs(up.poll(0)) == [1, 2, 3, 4, 5]
    up.receive([m.ACK, 2], 100)
    assert up.poll(200) == []
    deadline = up.next_deadline()
    assert deadline is not None and deadline > 200
    assert _sent_seqs(up.poll(deadline)) == [3, 4, 5]


def test_garbage_messages_change_nothing():
    log = FakeLog(3)
    up = uplink.Uplink(log, {})
    for bad in (None, [], ["x"], [m.ACK], [m.ACK, "7"], [99, 1], {"a": 1}, [m.TIME, b"1"]):
        assert up.receive(bad, 0) == "bad_message"
    assert log.acked == 0 and not up.greeted
