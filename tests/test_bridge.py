"""The bridge session: verification, chain, acknowledgement and rejection, from raw frames."""

import hashlib
import random

import cbor2
import pytest
from greet import greet, send

from emtag.firmware import cose
from emtag.firmware.signer import SoftwareSigner
from emtag.host import bridge, store
from emtag.protocol import frame, records
from emtag.protocol import messages as m


class FakeFix:
    def __init__(self, i):
        self.t, self.t_ms = 1772442000 + 60 * i, 0
        self.lat, self.lon, self.acc_cm, self.fix = 534631000 + i, -22913000, 500, 3
        self.sats = self.hdop = self.speed_mmps = self.course_cdeg = self.alt_cm = None


def make_tag(seed=1):
    rng = random.Random(seed)
    return SoftwareSigner.generate(rng.randbytes)


def signed_records(signer, n, start_prev=None, first_seq=1):
    """Every record signed (as alerts are; fixes travel unsigned: tests/test_evidence_bridge.py)."""
    out, prev = [], start_prev or records.genesis(signer.key_id())
    for seq in range(first_seq, first_seq + n):
        payload = cbor2.dumps(records.fix_record(seq, prev, FakeFix(seq)), canonical=True)
        out.append(cose.sign1(signer, payload, kid=signer.key_id()))
        prev = hashlib.sha256(payload).digest()
    return out


def batch(recs):
    return frame.encode(cbor2.dumps([m.RECORDS, recs]))


def replies(data):
    return [cbor2.loads(bytes(x)) for x in frame.Deframer().feed(data)]


@pytest.fixture
def session(tmp_path):
    events = []
    st = store.Store(str(tmp_path / "s.sqlite"))
    s = bridge.Session(st, lambda kind, **f: events.append((kind, f)), lambda: "T")
    s.events = events
    yield s
    st.close()


def test_records_are_verified_stored_and_acknowledged(session):
    tag = make_tag()
    assert greet(session, tag) == [[m.ACK, 0]]
    recs = signed_records(tag, 5)
    assert replies(session.receive(batch(recs))) == [[m.ACK, 5]]
    rows = session.store.records(tag.key_id().hex())
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    # duplicates are harmless: acknowledged again, stored once
    assert replies(session.receive(batch(recs[2:]))) == [[m.ACK, 5]]
    assert len(session.store.records(tag.key_id().hex())) == 5


def test_reconnect_resumes_after_what_is_stored(session, tmp_path):
    tag = make_tag()
    greet(session, tag)
    session.receive(batch(signed_records(tag, 3)))
    again = bridge.Session(session.store, lambda *a, **k: None, lambda: "T")
    assert greet(again, tag) == [[m.ACK, 3]]


def test_gap_is_not_stored(session):
    tag = make_tag()
    greet(session, tag)
    recs = signed_records(tag, 4)
    assert replies(session.receive(batch([recs[0], recs[2], recs[3]]))) == [[m.ACK, 1]]
    assert [r[0] for r in session.store.records(tag.key_id().hex())] == [1]


def test_bad_signature_is_kept_as_rejected_input(session):
    tag = make_tag()
    greet(session, tag)
    recs = signed_records(tag, 2)
    bad = bytearray(recs[1])
    bad[-3] ^= 0x10
    out = replies(session.receive(batch([recs[0], bytes(bad)])))
    assert out[0][0] == m.NACK and out[0][1] == 2 and "signature" in out[0][2]
    assert out[-1] == [m.ACK, 1]
    rejected = session.store.rejected(tag.key_id().hex())
    assert len(rejected) == 1 and rejected[0][-1] == bytes(bad)
    assert session.store.records(tag.key_id().hex(), "rejected") == []  # apart from evidence


def test_record_signed_by_another_tag_is_rejected(session):
    tag, other = make_tag(1), make_tag(2)
    greet(session, tag)
    spliced = signed_records(other, 1)
    out = replies(session.receive(batch(spliced)))
    assert out[0][0] == m.NACK
    assert session.store.records(tag.key_id().hex()) == []


def test_broken_chain_is_rejected(session):
    tag = make_tag()
    greet(session, tag)
    session.receive(batch(signed_records(tag, 2)))
    forged = signed_records(tag, 1, start_prev=b"\x01" * 32, first_seq=3)
    out = replies(session.receive(batch(forged)))
    assert out[0][0] == m.NACK and "hash chain" in out[0][2]


def test_hello_with_a_different_key_for_a_known_device_is_refused(session):
    tag = make_tag()
    greet(session, tag)
    impostor = make_tag(3)
    body = {m.H_DEVICE: tag.key_id(), m.H_PUBKEY: impostor.public_key(), m.H_FIRMWARE: "t"}
    assert send(session, [m.HELLO, body]) == [[m.NACK, 0, "device id does not match public key"]]


def test_records_before_hello_are_refused(session):
    tag = make_tag()
    out = replies(session.receive(batch(signed_records(tag, 1))))
    assert out == [[m.NACK, 0, "hello first"]]


def test_garbage_never_raises(session):
    rng = random.Random(5)
    greet(session, make_tag())
    for _ in range(300):
        junk = rng.randbytes(rng.randrange(1, 200))
        session.receive(junk + b"\x00")
        msg = rng.choice([[m.RECORDS, [junk]], [m.HELLO, {0: junk}], [77], {"a": 1}, junk])
        session.receive(frame.encode(cbor2.dumps(msg)))
    assert any(kind == "bad_message" for kind, _ in session.events)
    # a peer that keeps sending garbage is shut out (its connection closed), not served
    assert session.closed in (
        "too many messages before the handshake",  # a junk HELLO restarts the handshake
        "too many malformed messages",
    ) or session.closed.startswith("too many bad frames")
    assert session.receive(frame.encode(cbor2.dumps([m.HELLO, {}]))) == b""
