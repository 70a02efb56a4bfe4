from emtag.firmware import uplink
from emtag.protocol import cbor
from emtag.protocol import messages as m


class FakeLog:
    """The record log's interface, in RAM."""

    def __init__(self, n):
        self.records = [(i, b"rec%d" % i) for i in range(1, n + 1)]
        self.last_seq = n
        self.acked = 0

    def add(self, n=1):
        for _ in range(n):
            self.last_seq += 1
            self.records.append((self.last_seq, b"rec%d" % self.last_seq))

    def read_from(self, seq, limit):
        return [r for r in self.records if r[0] >= seq][:limit]

    def ack(self, seq):
        self.acked = max(self.acked, min(seq, self.last_seq))


def _sent_seqs(msgs):
    seqs = []
    for raw in msgs:
        msg = cbor.loads(raw)
        assert msg[0] == m.RECORDS
        assert len(msg[1]) <= uplink.BATCH
        seqs.extend(int(r[3:]) for r in msg[1])
    return seqs


def _greeted(log, acked=0):
    up = uplink.Uplink(log, {})
    up.poll(0)
    assert up.receive([m.ACK, acked], 0) == "ack"
    return up


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
    up = _greeted(log)
    assert _sent_seqs(up.poll(0)) == list(range(1, uplink.WINDOW + 1))
    assert up.poll(1) == []
    up.receive([m.ACK, 4], 2)
    assert _sent_seqs(up.poll(3)) == list(range(uplink.WINDOW + 1, uplink.WINDOW + 5))


def test_batches_respect_the_byte_budget():
    log = FakeLog(0)
    for i in range(1, 7):
        log.records.append((i, b"x" * 900))
    log.last_seq = 6
    up = _greeted(log)
    msgs = [cbor.loads(x) for x in up.poll(0)]
    assert [len(msg[1]) for msg in msgs] == [2, 2, 2]  # 1800 bytes each, under BATCH_BYTES


def test_missing_ack_resends_everything_unacknowledged_with_backoff():
    log = FakeLog(5)
    up = _greeted(log)
    assert _sent_seqs(up.poll(0)) == [1, 2, 3, 4, 5]
    up.receive([m.ACK, 2], 100)
    assert up.poll(200) == []
    deadline = up.next_deadline()
    assert deadline is not None and deadline > 200
    assert _sent_seqs(up.poll(deadline)) == [3, 4, 5]
    # no answer again: the wait doubles, up to MAX_TIMEOUT_MS
    d2 = up.next_deadline()
    assert d2 - deadline == uplink.TIMEOUT_MS * 2
    t = d2
    for _ in range(12):
        assert _sent_seqs(up.poll(t)) == [3, 4, 5]
        t = up.next_deadline()
    assert up.timeout == uplink.MAX_TIMEOUT_MS
    # progress resets the timeout
    up.receive([m.ACK, 4], t)
    assert up.timeout == uplink.TIMEOUT_MS


def test_resume_after_a_break_from_the_last_acknowledged_record():
    log = FakeLog(40)
    up = _greeted(log)
    up.poll(0)
    up.receive([m.ACK, 12], 10)
    # the bridge restarted: it no longer knows this session
    assert up.receive([m.NACK, 0, "hello first"], 20) == "nack"
    assert [cbor.loads(x)[0] for x in up.poll(20)] == [m.HELLO]
    up.receive([m.ACK, 12], 30)
    assert _sent_seqs(up.poll(30))[:3] == [13, 14, 15]


def test_a_refused_hello_is_retried_with_backoff_not_at_once():
    up = uplink.Uplink(FakeLog(3), {})
    up.poll(0)
    assert up.receive([m.NACK, 0, "unknown tag"], 10) == "nack"
    assert up.poll(20) == []
    assert not up.greeted


def test_alerts_go_first_and_stop_once_acknowledged():
    log = FakeLog(200)  # a backlog
    up = _greeted(log)
    up.poll(0)
    log.add()
    up.send_first(log.last_seq, b"rec201")
    up.send_first(log.last_seq, b"rec201")  # told twice: sent once
    out = [cbor.loads(x) for x in up.poll(10)]
    assert out[0] == [m.ALERT, b"rec201"]
    assert [msg[0] for msg in out].count(m.ALERT) == 1
    assert up.next_deadline() <= 10 + uplink.TIMEOUT_MS
    # not acknowledged: sent again after the timeout
    again = [cbor.loads(x) for x in up.poll(10 + uplink.TIMEOUT_MS)]
    assert [m.ALERT, b"rec201"] in again
    assert up.receive([m.ALERT_ACK, 201], 20 + uplink.TIMEOUT_MS) == "alert_ack"
    later = [cbor.loads(x) for x in up.poll(30 + 2 * uplink.TIMEOUT_MS)]
    assert all(msg[0] != m.ALERT for msg in later)


def test_an_alert_with_no_backlog_before_it_just_goes_in_order():
    log = FakeLog(3)
    up = _greeted(log)
    assert _sent_seqs(up.poll(0)) == [1, 2, 3]
    log.add()
    up.send_first(4, b"rec4")
    assert _sent_seqs(up.poll(1)) == [4]  # no ALERT copy: it is not behind anything
    assert up.urgent == []


def test_an_alert_already_acknowledged_in_order_is_not_sent_early():
    log = FakeLog(3)
    up = _greeted(log)
    up.send_first(3, b"rec3")
    up.receive([m.ACK, 3], 1)
    assert all(cbor.loads(x)[0] != m.ALERT for x in up.poll(2))


def test_commands_are_answered_by_the_handler_or_refused():
    log = FakeLog(0)
    up = _greeted(log)
    assert up.receive([m.COMMAND, b"\x82\x01\x07"], 5) == "command"
    assert up.next_deadline() == 0
    assert [cbor.loads(x) for x in up.poll(5)] == [[m.COMMAND_REPLY, b""]]
    seen = []
    up.on_command = lambda raw: seen.append(raw) or b"reply"
    up.receive([m.COMMAND, b"req"], 6)
    assert [cbor.loads(x) for x in up.poll(6)] == [[m.COMMAND_REPLY, b"reply"]]
    assert seen == [b"req"]


def test_time_is_kept():
    up = _greeted(FakeLog(0))
    assert up.receive([m.TIME, 1772442000123], 1) == "time"
    assert up.host_time_ms == 1772442000123


def test_duplicate_and_stale_acks_change_nothing():
    log = FakeLog(20)
    up = _greeted(log)
    up.poll(0)
    up.receive([m.ACK, 10], 1)
    up.receive([m.ACK, 10], 2)
    up.receive([m.ACK, 3], 3)
    assert log.acked == 10


def test_garbage_messages_change_nothing():
    log = FakeLog(3)
    up = uplink.Uplink(log, {})
    for bad in (
        None,
        [],
        ["x"],
        [m.ACK],
        [m.ACK, "7"],
        [m.ACK, -1],
        [99, 1],
        {"a": 1},
        [m.TIME, b"1"],
        [m.ALERT_ACK],
        [m.COMMAND, 5],
    ):
        assert up.receive(bad, 0) == "bad_message"
    assert log.acked == 0 and not up.greeted


def _prover():
    from emtag.firmware.signer import SoftwareSigner

    signer = SoftwareSigner(0x1234567890ABCDEF)
    return signer, uplink.prover(signer)


def test_a_challenge_after_hello_is_signed_once():
    from emtag.firmware import cose

    signer, prove = _prover()
    up = uplink.Uplink(FakeLog(3), {}, prove=prove)
    assert up.receive([m.CHALLENGE, b"n" * 16], 0) == "challenge_ignored"  # no HELLO yet
    assert [cbor.loads(x)[0] for x in up.poll(0)] == [m.HELLO]
    nonce = bytes(range(16, 48))
    assert up.receive([m.CHALLENGE, nonce], 1) == "challenge"
    out = up.poll(2)
    assert [cbor.loads(x)[0] for x in out] == [m.PROOF]
    proof = cbor.loads(out[0])[1]
    payload = cose.verify1(signer.public_key(), proof)
    assert payload == m.proof_payload(signer.key_id(), nonce)
    assert cbor.loads(payload) == [m.PROOF_LABEL, signer.key_id(), nonce]
    # a second challenge for the same HELLO is not signed: the link cannot make the tag sign
    assert up.receive([m.CHALLENGE, b"x" * 16], 3) == "challenge_ignored"
    assert up.poll(4) == []
    # the HELLO is sent again (no answer in time): one more challenge may be signed
    assert [cbor.loads(x)[0] for x in up.poll(uplink.TIMEOUT_MS)] == [m.HELLO]
    assert up.receive([m.CHALLENGE, b"y" * 16], uplink.TIMEOUT_MS) == "challenge"


def test_bad_challenges_are_refused_and_a_greeted_tag_signs_none():
    _, prove = _prover()
    up = uplink.Uplink(FakeLog(3), {}, prove=prove)
    up.poll(0)
    for bad in ([m.CHALLENGE, b"short"], [m.CHALLENGE, b"z" * 33], [m.CHALLENGE, 7]):
        assert up.receive(bad, 0) == "bad_message"
    assert up.receive([m.ACK, 0], 0) == "ack"
    assert up.receive([m.CHALLENGE, b"n" * 16], 1) == "challenge_ignored"
    assert not [x for x in up.poll(2) if cbor.loads(x)[0] == m.PROOF]
