"""The bridge under the checkpoint scheme: unsigned fixes wait, unacknowledged, for the signed
record that seals them; only proven records are stored as valid and acknowledged."""

import cbor2
import pytest
from evidence_streams import FakeFix, make_stream, signer
from greet import greet

from emtag.firmware import evidence, uplink
from emtag.host import bridge, store
from emtag.protocol import cbor, frame, records
from emtag.protocol import messages as m


def batch(items):
    return frame.encode(cbor2.dumps([m.RECORDS, list(items)]))


def replies(data):
    return [cbor2.loads(bytes(x)) for x in frame.Deframer().feed(data)]


@pytest.fixture
def st(tmp_path):
    s = store.Store(str(tmp_path / "s.sqlite"))
    yield s
    s.close()


def session(st):
    events = []
    s = bridge.Session(st, lambda kind, **f: events.append((kind, f)), lambda: "T")
    s.events = events
    return s


def valid_seqs(st, sg):
    return [r[0] for r in st.records(sg.key_id().hex())]


def test_fixes_wait_unacknowledged_until_their_checkpoint(st):
    sg, items = make_stream(1, 10, 5)  # f1..f5 cp6 f7..f11 cp12
    s = session(st)
    assert greet(s, sg) == [[m.ACK, 0]]
    assert replies(s.receive(batch(items[0:4]))) == [[m.ACK, 0]]
    assert valid_seqs(st, sg) == []  # nothing is stored or acknowledged before its proof
    assert replies(s.receive(batch(items[4:8]))) == [[m.ACK, 6]]
    assert valid_seqs(st, sg) == [1, 2, 3, 4, 5, 6]
    rows = st.db.execute("SELECT seq, sealed_by, hash FROM records ORDER BY seq").fetchall()
    assert [r[1] for r in rows] == [6] * 6
    assert all(len(r[2]) == 32 for r in rows)
    assert replies(s.receive(batch(items[8:12]))) == [[m.ACK, 12]]
    assert valid_seqs(st, sg) == list(range(1, 13))
    stored = [e for e in s.events if e[0] == "records_stored"]
    assert [(e[1]["valid"], e[1]["upto"]) for e in stored] == [(6, 6), (6, 12)]


def test_an_alert_is_stored_and_reported_at_once(st):
    sg, items = make_stream(1, 4, 100, alerts=(2,), seal_end=False)  # f1 f2 f3 A4 f5
    s = session(st)
    greet(s, sg)
    assert replies(s.receive(batch(items[:4]))) == [[m.ACK, 4]]
    alerts = [f for kind, f in s.events if kind == "alert"]
    assert len(alerts) == 1 and alerts[0]["seq"] == 4
    assert valid_seqs(st, sg) == [1, 2, 3, 4]


def test_a_record_altered_on_the_way_is_refused_and_the_tag_sends_it_again(st):
    sg, items = make_stream(1, 5, 5)  # f1..f5 cp6
    bad = bytearray(items[1])
    bad[-1] ^= 1
    s = session(st)
    greet(s, sg)
    assert replies(s.receive(batch([items[0], bytes(bad), *items[2:4]]))) == [[m.ACK, 0]]
    out = replies(s.receive(batch(items[4:6])))
    assert out[0][0] == m.NACK and out[0][1] == 2 and "modified" in out[0][2]
    assert out[-1] == [m.ACK, 0]  # the tag keeps everything and resends from seq 1
    rejected = st.rejected(sg.key_id().hex())
    assert [r[0] for r in rejected] == [2] and rejected[0][-1] == bytes(bad)
    assert valid_seqs(st, sg) == []
    assert replies(s.receive(batch(items))) == [[m.ACK, 6]]
    assert valid_seqs(st, sg) == [1, 2, 3, 4, 5, 6]


def test_a_gap_waits_for_the_missing_record(st):
    sg, items = make_stream(1, 5, 5)
    s = session(st)
    greet(s, sg)
    s.receive(batch(items[:3]))
    assert replies(s.receive(batch(items[4:6]))) == [[m.ACK, 0]]  # seq 4 lost on the way
    assert replies(s.receive(batch(items[3:6]))) == [[m.ACK, 6]]
    assert valid_seqs(st, sg) == [1, 2, 3, 4, 5, 6]


def test_after_a_reconnect_the_tag_resends_what_was_not_proven(st):
    sg, items = make_stream(1, 10, 5)
    s = session(st)
    greet(s, sg)
    s.receive(batch(items[:8]))  # proven up to 6; 7 and 8 wait in the session
    again = session(st)
    assert greet(again, sg) == [[m.ACK, 6]]
    assert replies(again.receive(batch(items[4:12]))) == [[m.ACK, 12]]  # 5, 6: resent, held
    assert valid_seqs(st, sg) == list(range(1, 13))


def test_records_from_another_tag_are_refused(st):
    sg, items = make_stream(1, 5, 5)
    _, foreign = make_stream(2, 5, 5)
    s = session(st)
    greet(s, sg)
    out = replies(s.receive(batch(items[:3] + foreign[5:6])))  # another tag's checkpoint
    assert out[0][0] == m.NACK and "spliced" in out[0][2]
    out = replies(s.receive(batch(items[3:4] + foreign[3:4] + items[4:6])))
    assert out[0][0] == m.NACK and "spliced" in out[0][2]
    assert out[-1] == [m.ACK, 6]  # the tag's own records are proven all the same
    assert valid_seqs(st, sg) == [1, 2, 3, 4, 5, 6]
    assert len(st.rejected(sg.key_id().hex())) == 2


def test_records_that_conflict_with_stored_ones_are_refused(st):
    sg, items = make_stream(1, 5, 5)
    s = session(st)
    greet(s, sg)
    s.receive(batch(items))
    rec = cbor2.loads(items[2])
    rec[records.K_LAT] += 1
    out = replies(s.receive(batch([cbor2.dumps(rec, canonical=True)])))
    assert out[0][0] == m.NACK and "already held" in out[0][2]
    assert replies(s.receive(batch(items[2:4]))) == [[m.ACK, 6]]  # a plain resend is fine


def test_too_many_unsealed_records_are_refused(st):
    sg, items = make_stream(1, bridge.MAX_UNSEALED + 8, 10**6, seal_end=False, max_ms=10**12)
    s = session(st)
    greet(s, sg)
    nacks = []
    for i in range(0, len(items), 4):
        nacks += [r for r in replies(s.receive(batch(items[i : i + 4]))) if r[0] == m.NACK]
    assert nacks and "without a checkpoint" in nacks[0][2]
    assert s.unsealed == [] or len(s.unsealed) <= bridge.MAX_UNSEALED


class ListLog:
    """The record log's interface in RAM, for the tag side of an in-process link."""

    def __init__(self):
        self.items = []
        self.acked = 0

    @property
    def last_seq(self):
        return len(self.items)

    def append(self, seq, wire):
        assert seq == len(self.items) + 1
        self.items.append(wire)

    def read_from(self, seq, limit):
        return [(s, self.items[s - 1]) for s in range(seq, len(self.items) + 1)][:limit]

    def ack(self, seq):
        self.acked = max(self.acked, min(seq, self.last_seq))

    def pending(self):
        return self.last_seq - self.acked


def test_the_firmware_uplink_and_the_bridge_agree_on_every_record(st):
    """The tag's evidence chain, SealedView and uplink against the bridge, in lockstep: every
    record is proven before it is acknowledged, and all of them end up valid."""
    sg = signer(3)
    log, chain = ListLog(), evidence.Chain(sg)
    up = uplink.Uplink(evidence.SealedView(log, chain), {})
    s = session(st)
    greet(s, sg)
    up.receive([m.ACK, 0], 0)
    now = 0
    for i in range(120):
        now += 15000
        chain.add(records.fix_record(chain.next_seq(), chain.head, FakeFix(i)), now, log.append)
        if i % 37 == 36:
            f = FakeFix(i)
            rec = records.alert_record(chain.next_seq(), chain.head, "no_fix", f.t, f.t_ms)
            chain.add(rec, now, log.append)
        if chain.seal_due(now):
            chain.checkpoint(now, 1772442000 + now // 1000, 0, log.append)
        for _ in range(10):  # let the link settle
            sent = up.poll(now)
            if not sent:
                break
            for raw in sent:
                for reply in replies(s.receive(frame.encode(raw))):
                    up.receive(cbor.loads(cbor.dumps(reply)), now)
                    assert log.acked <= chain.sealed_seq
                    assert valid_seqs(st, sg) == list(range(1, log.acked + 1))
    assert log.acked == chain.sealed_seq > 100
    assert chain.unsealed() <= evidence.CHECKPOINT_RECORDS
    assert evidence.CHECKPOINT_RECORDS < uplink.WINDOW  # a sealed range fits the window


def test_restarting_the_bridge_keeps_the_chain(st, tmp_path):
    sg, items = make_stream(1, 10, 5)
    s = session(st)
    greet(s, sg)
    s.receive(batch(items[:6]))
    st.close()
    st2 = store.Store(str(tmp_path / "s.sqlite"))
    try:
        again = session(st2)
        assert greet(again, sg) == [[m.ACK, 6]]
        assert replies(again.receive(batch(items[6:12]))) == [[m.ACK, 12]]
    finally:
        st2.close()
