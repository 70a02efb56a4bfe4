from emtag.firmware import uplink
from emtag.protocol import cbor
from emtag.protocol import messages as m

# the fake log keeps hundreds of records in RAM, where a tag reads them from flash
MICROPYTHON_HEAPSIZE = "512k"


def _item(seq, size=None):
    """A wire item: a CBOR byte string (what a fix is), naming its seq."""
    body = b"rec%d" % seq
    if size is not None:
        body = body + b"x" * (size - len(body))
    return cbor.dumps(body)


class FakeLog:
    """The record log's interface, in RAM."""

    def __init__(self, n, size=None):
        self.size = size
        self.records = [(i, _item(i, size)) for i in range(1, n + 1)]
        self.last_seq = n
        self.acked = 0

    def add(self, n=1):
        for _ in range(n):
            self.last_seq += 1
            self.records.append((self.last_seq, _item(self.last_seq, self.size)))

    def read_from(self, seq, limit, max_bytes=None):
        out, size = [], 0
        for r in self.records:
            if r[0] < seq:
                continue
            if len(out) >= limit or (
                out and max_bytes is not None and size + len(r[1]) > max_bytes
            ):
                break
            out.append(r)
            size += len(r[1])
        return out

    def ack(self, seq):
        self.acked = max(self.acked, min(seq, self.last_seq))


def _split(data):
    """The items of a RECORDS message (short byte strings: a 1- to 3-byte head)."""
    out, i = [], 0
    while i < len(data):
        h = data[i]
        if h < 0x58:
            n, i = h - 0x40, i + 1
        elif h == 0x58:
            n, i = data[i + 1], i + 2
        else:
            n, i = data[i + 1] << 8 | data[i + 2], i + 3
        out.append(bytes(data[i : i + n]))
        i += n
    return out


def _sent_seqs(msgs):
    seqs = []
    for raw in msgs:
        msg = cbor.loads(raw)
        assert msg[0] == m.RECORDS and len(msg) == 3
        items = _split(msg[2])
        assert sum(len(cbor.dumps(x)) for x in items) <= uplink.BATCH_BYTES
        got = [int(x[3:].split(b"x")[0]) for x in items]
        assert got == list(range(msg[1], msg[1] + len(items)))  # the first seq, then in order
        seqs.extend(got)
    return seqs


def _kinds(msgs):
    return [cbor.loads(x)[0] for x in msgs]


def _greeted(log, acked=0):
    up = uplink.Uplink(log, {})
    up.poll(0)
    assert up.receive([m.ACK, acked], 0) == "greeted"
    return up


def test_hello_first_then_probe_with_a_bounded_backoff():
    up = uplink.Uplink(FakeLog(3), {m.H_DEVICE: b"12345678"})
    assert _kinds(up.poll(0)) == [m.HELLO]
    assert up.poll(1000) == []  # waiting for the answer
    assert _kinds(up.poll(uplink.PROBE_MS)) == [m.HELLO]  # no answer: hello again
    assert up.next_deadline() == 3 * uplink.PROBE_MS  # the wait doubled...
    t, waits = 3 * uplink.PROBE_MS, []
    for _ in range(8):
        assert _kinds(up.poll(t)) == [m.HELLO]
        waits.append(up.next_deadline() - t)
        t = up.next_deadline()
    assert max(waits) == uplink.PROBE_MAX_MS  # ...up to a minute, never more
    assert not up.greeted and not up.delivering


def test_ack_resumes_from_what_the_host_holds():
    log = FakeLog(10)
    up = uplink.Uplink(log, {})
    up.poll(0)
    assert up.receive([m.ACK, 6], 10) == "greeted"
    assert log.acked == 6 and up.delivering
    assert _sent_seqs(up.poll(20)) == [7, 8, 9, 10]


def test_the_window_limits_records_and_bytes_in_flight():
    log = FakeLog(uplink.WINDOW + 20)
    up = _greeted(log)
    assert _sent_seqs(up.poll(0)) == list(range(1, uplink.WINDOW + 1))
    assert up.poll(1) == []
    up.receive([m.ACK, 4], 2)
    assert _sent_seqs(up.poll(3)) == list(range(uplink.WINDOW + 1, uplink.WINDOW + 5))
    big = FakeLog(30, size=900)
    up = _greeted(big)
    sent = _sent_seqs(up.poll(0))
    # full to within one record (a batch takes at least one)
    assert (len(sent) - 1) * 903 < uplink.WINDOW_BYTES <= len(sent) * 903


def test_batches_respect_the_byte_budget():
    log = FakeLog(6, size=900)
    up = _greeted(log)
    msgs = [cbor.loads(x) for x in up.poll(0)]
    assert [len(_split(msg[2])) for msg in msgs] == [2, 2, 2]  # 1806 bytes each
    assert [msg[1] for msg in msgs] == [1, 3, 5]


def test_a_missing_ack_stops_sending_and_probes_instead():
    log = FakeLog(5)
    up = _greeted(log)
    assert _sent_seqs(up.poll(0)) == [1, 2, 3, 4, 5]
    up.receive([m.ACK, 2], 100)
    assert up.poll(200) == []
    deadline = up.next_deadline()
    assert deadline is not None and 200 < deadline <= 100 + uplink.ACK_TIMEOUT_MS + 100
    # no ACK in time: the link (or the bridge) is gone; nothing is resent into it blindly
    assert _kinds(up.poll(deadline)) == [m.HELLO]
    assert up.resends == 1 and not up.delivering
    assert up.poll(deadline + 1) == []
    assert up.next_deadline() == deadline + uplink.PROBE_MS
    # the bridge answers: resume from what it holds
    assert up.receive([m.ACK, 2], deadline + 50) == "greeted"
    assert _sent_seqs(up.poll(deadline + 50)) == [3, 4, 5]


def test_a_slow_link_is_given_time_for_what_is_in_flight():
    log = FakeLog(30, size=900)
    up = _greeted(log)
    up.poll(0)
    assert up.next_deadline() >= uplink.ACK_TIMEOUT_MS + up.inflight


def test_nothing_goes_while_the_carrier_is_down_and_a_probe_at_once_when_it_returns():
    carrier = [True]
    log = FakeLog(5)
    up = uplink.Uplink(log, {}, carrier=lambda: carrier[0])
    assert _kinds(up.poll(0)) == [m.HELLO]
    up.receive([m.ACK, 0], 1)
    assert _sent_seqs(up.poll(2)) == [1, 2, 3, 4, 5]
    carrier[0] = False
    log.add(3)
    up.send_first(8, log.records[-1][1])
    for t in (10, 10**5, 10**7):
        assert up.poll(t) == []  # not a record, not an alert, not a probe
    assert up.next_deadline() is None  # the carrier's return wakes the tag
    assert not up.delivering
    carrier[0] = True
    assert _kinds(up.poll(10**7 + 1)) == [m.HELLO]
    assert up.receive([m.ACK, 5], 10**7 + 2) == "greeted"
    out = up.poll(10**7 + 3)
    assert _kinds(out) == [m.ALERT, m.RECORDS]  # the alert first, ahead of 6 and 7
    assert _sent_seqs(out[1:]) == [6, 7, 8]


def test_resume_after_a_break_from_the_last_acknowledged_record():
    log = FakeLog(40)
    up = _greeted(log)
    up.poll(0)
    up.receive([m.ACK, 12], 10)
    # the bridge restarted: it no longer knows this session
    assert up.receive([m.NACK, 0, "hello first"], 20) == "nack"
    assert _kinds(up.poll(20)) == [m.HELLO]
    up.receive([m.ACK, 12], 30)
    assert _sent_seqs(up.poll(30))[:3] == [13, 14, 15]


def test_a_refused_hello_is_retried_with_backoff_not_at_once():
    up = uplink.Uplink(FakeLog(3), {})
    up.poll(0)
    assert up.receive([m.NACK, 0, "unknown tag"], 10) == "nack"
    assert up.poll(20) == []
    assert not up.greeted


def test_alerts_go_first_and_stop_once_acknowledged():
    log = FakeLog(uplink.WINDOW + 100)  # a backlog
    up = _greeted(log)
    up.poll(0)
    log.add()
    alert = log.records[-1][1]
    up.send_first(log.last_seq, alert)
    up.send_first(log.last_seq, alert)  # told twice: sent once
    out = [cbor.loads(x) for x in up.poll(10)]
    assert out[0] == [m.ALERT, alert]
    assert [msg[0] for msg in out].count(m.ALERT) == 1
    assert up.next_deadline() <= 10 + uplink.PROBE_MS
    up.receive([m.ACK, 100], 11)  # the link is alive, the backlog moving
    # not acknowledged: sent again after a while
    again = [cbor.loads(x) for x in up.poll(10 + uplink.PROBE_MS)]
    assert [m.ALERT, alert] in again
    assert up.receive([m.ALERT_ACK, log.last_seq], 20 + uplink.PROBE_MS) == "alert_ack"
    up.receive([m.ACK, 200], 21 + uplink.PROBE_MS)
    later = [cbor.loads(x) for x in up.poll(30 + 2 * uplink.PROBE_MS)]
    assert all(msg[0] != m.ALERT for msg in later)


def test_an_alert_with_no_backlog_before_it_just_goes_in_order():
    log = FakeLog(3)
    up = _greeted(log)
    assert _sent_seqs(up.poll(0)) == [1, 2, 3]
    log.add()
    up.send_first(4, log.records[-1][1])
    assert _sent_seqs(up.poll(1)) == [4]  # no ALERT copy: it is not behind anything
    assert up.urgent == []


def test_an_alert_already_acknowledged_in_order_is_not_sent_early():
    log = FakeLog(3)
    up = _greeted(log)
    up.send_first(3, log.records[-1][1])
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


def test_the_bytes_handed_to_the_link_are_counted():
    log = FakeLog(10)
    up = uplink.Uplink(log, {})
    sent = up.poll(0)
    up.receive([m.ACK, 0], 1)
    sent += up.poll(2)
    assert up.sent_bytes == sum(len(x) for x in sent)


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
    assert [cbor.loads(x)[0] for x in up.poll(uplink.PROBE_MS)] == [m.HELLO]
    assert up.receive([m.CHALLENGE, b"y" * 16], uplink.PROBE_MS) == "challenge"


def test_bad_challenges_are_refused_and_a_greeted_tag_signs_none():
    _, prove = _prover()
    up = uplink.Uplink(FakeLog(3), {}, prove=prove)
    up.poll(0)
    for bad in ([m.CHALLENGE, b"short"], [m.CHALLENGE, b"z" * 33], [m.CHALLENGE, 7]):
        assert up.receive(bad, 0) == "bad_message"
    assert up.receive([m.ACK, 0], 0) == "greeted"
    assert up.receive([m.CHALLENGE, b"n" * 16], 1) == "challenge_ignored"
    assert not [x for x in up.poll(2) if cbor.loads(x)[0] == m.PROOF]
