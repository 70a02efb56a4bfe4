"""The bridge under the block scheme: records wait, unacknowledged, for the checkpoint that
seals their block; only proven blocks are stored as valid and acknowledged."""

import cbor2
import pytest
from evidence_streams import FakeFix, Sink, make_stream, signer
from greet import greet

from emtag.firmware import evidence, uplink
from emtag.host import bridge, store
from emtag.protocol import cbor, frame, records
from emtag.protocol import messages as m


def batch(first, items):
    return frame.encode(cbor2.dumps([m.RECORDS, first, b"".join(items)]))


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
    assert replies(s.receive(batch(1, items[0:4]))) == [[m.ACK, 0]]
    assert valid_seqs(st, sg) == []  # nothing is stored or acknowledged before its proof
    assert replies(s.receive(batch(5, items[4:8]))) == [[m.ACK, 6]]
    assert valid_seqs(st, sg) == [1, 2, 3, 4, 5, 6]
    assert st.block_of(sg.key_id().hex(), 3) == (1, 6)  # stored as the block it was signed
    assert replies(s.receive(batch(9, items[8:12]))) == [[m.ACK, 12]]
    assert valid_seqs(st, sg) == list(range(1, 13))
    stored = [e for e in s.events if e[0] == "records_stored"]
    assert [(e[1]["valid"], e[1]["upto"]) for e in stored] == [(6, 6), (6, 12)]


def test_an_alert_is_reported_once_its_block_is_stored(st):
    sg, items = make_stream(1, 4, 4, alerts=(2,))  # f1 f2 f3 A4 cp5 f6 cp7
    s = session(st)
    greet(s, sg)
    assert replies(s.receive(batch(1, items[:4]))) == [[m.ACK, 0]]
    assert not [f for kind, f in s.events if kind == "alert"]
    assert replies(s.receive(batch(5, items[4:5]))) == [[m.ACK, 5]]
    alerts = [f for kind, f in s.events if kind == "alert"]
    assert len(alerts) == 1 and alerts[0]["seq"] == 4
    assert valid_seqs(st, sg) == [1, 2, 3, 4, 5]


def test_a_record_altered_on_the_way_is_refused_and_the_tag_sends_it_again(st):
    sg, items = make_stream(1, 5, 5)  # f1..f5 cp6
    bad = bytearray(items[1])
    bad[-1] ^= 1
    s = session(st)
    greet(s, sg)
    assert replies(s.receive(batch(1, [items[0], bytes(bad), *items[2:4]]))) == [[m.ACK, 0]]
    out = replies(s.receive(batch(5, items[4:6])))
    assert out[0][0] == m.NACK and out[0][1] == 2 and "modified" in out[0][2]
    assert out[-1] == [m.ACK, 0]  # the tag keeps everything and resends from seq 1
    rejected = st.rejected(sg.key_id().hex())
    assert [r[0] for r in rejected] == [2] and rejected[0][-1] == bytes(bad)
    assert valid_seqs(st, sg) == []
    assert replies(s.receive(batch(1, items))) == [[m.ACK, 6]]
    assert valid_seqs(st, sg) == [1, 2, 3, 4, 5, 6]


def test_a_gap_waits_for_the_missing_record(st):
    sg, items = make_stream(1, 5, 5)
    s = session(st)
    greet(s, sg)
    s.receive(batch(1, items[:3]))
    assert replies(s.receive(batch(5, items[4:6]))) == [[m.ACK, 0]]  # seq 4 lost on the way
    assert replies(s.receive(batch(4, items[3:6]))) == [[m.ACK, 6]]
    assert valid_seqs(st, sg) == [1, 2, 3, 4, 5, 6]


def test_after_a_reconnect_the_tag_resends_what_was_not_proven(st):
    sg, items = make_stream(1, 10, 5)
    s = session(st)
    greet(s, sg)
    s.receive(batch(1, items[:8]))  # proven up to 6; 7 and 8 wait in the session
    again = session(st)
    assert greet(again, sg) == [[m.ACK, 6]]
    assert replies(again.receive(batch(5, items[4:12]))) == [[m.ACK, 12]]  # 5, 6: resent
    assert valid_seqs(st, sg) == list(range(1, 13))


def test_records_from_another_tag_are_refused(st):
    sg, items = make_stream(1, 5, 5)
    _, foreign = make_stream(2, 5, 5)
    s = session(st)
    greet(s, sg)
    out = replies(s.receive(batch(1, items[:3] + foreign[5:6])))  # another tag's checkpoint
    assert out[0][0] == m.NACK and "spliced" in out[0][2]
    out = replies(s.receive(batch(4, items[3:4] + foreign[3:4] + items[4:6])))
    assert out[0][0] == m.NACK and "spliced" in out[0][2]
    assert out[-1] == [m.ACK, 6]  # the tag's own records are proven all the same
    assert valid_seqs(st, sg) == [1, 2, 3, 4, 5, 6]
    assert len(st.rejected(sg.key_id().hex())) == 2


def test_records_that_conflict_with_stored_ones_are_refused(st):
    sg, items = make_stream(1, 5, 5)
    s = session(st)
    greet(s, sg)
    s.receive(batch(1, items))
    changed = bytearray(items[2])
    changed[-1] ^= 1
    out = replies(s.receive(batch(3, [bytes(changed)])))
    assert out[0][0] == m.NACK and out[0][1] == 3 and "already held" in out[0][2]
    assert out[-1] == [m.ACK, 6]
    assert [r[-1] for r in st.rejected(sg.key_id().hex())] == [bytes(changed)]
    assert replies(s.receive(batch(3, items[2:4]))) == [[m.ACK, 6]]  # a plain resend is fine
    assert valid_seqs(st, sg) == [1, 2, 3, 4, 5, 6]


def test_too_many_unsealed_records_are_refused(st):
    sg, items = make_stream(1, bridge.MAX_UNSEALED + 8, 10**6, seal_end=False, max_ms=10**12)
    s = session(st)
    greet(s, sg)
    nacks = []
    for i in range(0, len(items), 4):
        nacks += [r for r in replies(s.receive(batch(i + 1, items[i : i + 4]))) if r[0] == m.NACK]
    assert nacks and "without a checkpoint" in nacks[0][2]
    assert s.unsealed == [] or len(s.unsealed) <= bridge.MAX_UNSEALED


class ListLog(Sink):
    """The record log's interface in RAM, for the tag side of an in-process link."""

    def __init__(self):
        super().__init__()
        self.acked = 0

    @property
    def last_seq(self):
        return len(self.items)

    def read_from(self, seq, limit, max_bytes=None):
        out, size = [], 0
        for q in range(seq, len(self.items) + 1):
            w = self.items[q - 1]
            if len(out) >= limit or (out and max_bytes is not None and size + len(w) > max_bytes):
                break
            out.append((q, w))
            size += len(w)
        return out

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
    for i in range(240):
        now += 15000
        chain.add_fix(FakeFix(i), now, log)
        if i % 37 == 36:
            f = FakeFix(i)
            rec = records.alert_record(chain.next_seq(), None, "no_fix", f.t, f.t_ms)
            chain.add(rec, now, log)
        if chain.seal_due(now, up.delivering):
            chain.checkpoint(now, 1772442000 + now // 1000, log)
        for _ in range(10):  # let the link settle
            sent = up.poll(now)
            if not sent:
                break
            for raw in sent:
                for reply in replies(s.receive(frame.encode(raw))):
                    up.receive(cbor.loads(cbor.dumps(reply)), now)
                    assert log.acked <= chain.sealed_seq
                    assert valid_seqs(st, sg) == list(range(1, log.acked + 1))
    assert log.acked == chain.sealed_seq > 200
    assert chain.unsealed() <= evidence.SEAL_RECORDS
    assert evidence.SEAL_RECORDS < uplink.WINDOW  # a block fits the window


def test_restarting_the_bridge_keeps_the_chain(st, tmp_path):
    sg, items = make_stream(1, 10, 5)
    s = session(st)
    greet(s, sg)
    s.receive(batch(1, items[:6]))
    st.close()
    st2 = store.Store(str(tmp_path / "s.sqlite"))
    try:
        again = session(st2)
        assert greet(again, sg) == [[m.ACK, 6]]
        assert replies(again.receive(batch(7, items[6:12]))) == [[m.ACK, 12]]
    finally:
        st2.close()
