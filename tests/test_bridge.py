"""The bridge session: verification, chain, acknowledgement and rejection, from raw frames."""

import random

import cbor2
import pytest
from evidence_streams import make_stream
from greet import greet, send

from emtag.firmware.signer import SoftwareSigner
from emtag.host import bridge, store
from emtag.protocol import frame
from emtag.protocol import messages as m


def make_tag(seed=1):
    rng = random.Random(seed)
    return SoftwareSigner.generate(rng.randbytes)


def stream(seed=1, n_fixes=8, every=5, alerts=()):
    """(signer, wire items) of a real tag: fixes in blocks of `every`, each sealed by a
    checkpoint (tests/evidence_streams.py)."""
    return make_stream(seed, n_fixes, every, alerts)


def batch(first, items):
    return frame.encode(cbor2.dumps([m.RECORDS, first, b"".join(items)]))


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
    tag, items = stream()
    assert len(items) == 10  # 5 fixes + checkpoint (seq 6), 3 fixes + checkpoint (seq 10)
    assert greet(session, tag) == [[m.ACK, 0]]
    assert replies(session.receive(batch(1, items))) == [[m.ACK, 10]]
    rows = session.store.records(tag.key_id().hex())
    assert [r[0] for r in rows] == list(range(1, 11)) and [r[-1] for r in rows] == items
    # resent records are harmless: acknowledged again, stored once
    assert replies(session.receive(batch(3, items[2:]))) == [[m.ACK, 10]]
    assert len(session.store.records(tag.key_id().hex())) == 10


def test_fixes_wait_for_their_checkpoint_across_batches(session):
    tag, items = stream()
    greet(session, tag)
    assert replies(session.receive(batch(1, items[:3]))) == [[m.ACK, 0]]  # nothing proven yet
    assert session.store.records(tag.key_id().hex()) == []
    assert replies(session.receive(batch(4, items[3:7]))) == [[m.ACK, 6]]  # block 1 sealed
    assert replies(session.receive(batch(8, items[7:]))) == [[m.ACK, 10]]


def test_reconnect_resumes_after_what_is_stored(session, tmp_path):
    tag, items = stream()
    greet(session, tag)
    session.receive(batch(1, items[:7]))
    again = bridge.Session(session.store, lambda *a, **k: None, lambda: "T")
    assert greet(again, tag) == [[m.ACK, 6]]


def test_a_gap_is_not_stored(session):
    tag, items = stream()
    greet(session, tag)
    assert replies(session.receive(batch(1, items[:6]))) == [[m.ACK, 6]]
    # seq 7 never arrives: what follows waits for the tag to send again from the ACK
    assert replies(session.receive(batch(8, items[7:]))) == [[m.ACK, 6]]
    assert [r[0] for r in session.store.records(tag.key_id().hex())] == list(range(1, 7))


def test_bad_signature_is_kept_as_rejected_input(session):
    tag, items = stream(alerts=(6,))
    greet(session, tag)
    alert_at = 8  # seq 9: the alert after the 7th fix, in the second block
    bad = bytearray(items[alert_at])
    bad[-3] ^= 0x10
    sent = items[:alert_at] + [bytes(bad)] + items[alert_at + 1 :]
    out = replies(session.receive(batch(1, sent)))
    assert out[0][0] == m.NACK and out[0][1] == alert_at + 1 and "signature" in out[0][2]
    assert out[-1] == [m.ACK, 6]  # the block before it is stored, nothing after
    rejected = session.store.rejected(tag.key_id().hex())
    assert len(rejected) == 1 and rejected[0][-1] == bytes(bad)
    assert session.store.records(tag.key_id().hex(), "rejected") == []  # apart from evidence


def test_records_of_another_tag_are_rejected(session):
    tag, other = make_tag(1), stream(seed=2)[1]
    greet(session, tag)
    out = replies(session.receive(batch(1, other)))
    assert out[0][0] == m.NACK
    assert session.store.records(tag.key_id().hex()) == []


def test_an_altered_fix_breaks_its_block(session):
    tag, items = stream()
    greet(session, tag)
    session.receive(batch(1, items[:6]))
    bad = bytearray(items[7])
    bad[-1] ^= 0x01  # a changed position
    out = replies(session.receive(batch(7, items[6:7] + [bytes(bad)] + items[8:])))
    assert out[0][0] == m.NACK and out[0][1] == 8 and "modified" in out[0][2]
    assert out[-1] == [m.ACK, 6]
    assert [r[0] for r in session.store.records(tag.key_id().hex())] == list(range(1, 7))


def test_hello_with_a_different_key_for_a_known_device_is_refused(session):
    tag = make_tag()
    greet(session, tag)
    impostor = make_tag(3)
    body = {m.H_DEVICE: tag.key_id(), m.H_PUBKEY: impostor.public_key(), m.H_FIRMWARE: "t"}
    assert send(session, [m.HELLO, body]) == [[m.NACK, 0, "device id does not match public key"]]


def test_records_before_hello_are_refused(session):
    _, items = stream()
    out = replies(session.receive(batch(1, items)))
    assert out == [[m.NACK, 0, "hello first"]]


def test_garbage_never_raises(session):
    rng = random.Random(5)
    greet(session, make_tag())
    for _ in range(300):
        junk = rng.randbytes(rng.randrange(1, 200))
        session.receive(junk + b"\x00")
        msg = rng.choice(
            [[m.RECORDS, 1, junk], [m.RECORDS, [junk]], [m.HELLO, {0: junk}], [77], {"a": 1}, junk]
        )
        session.receive(frame.encode(cbor2.dumps(msg)))
    assert any(kind == "bad_message" for kind, _ in session.events)
    # a peer that keeps sending garbage is shut out (its connection closed), not served
    assert session.closed in (
        "too many messages before the handshake",  # a junk HELLO restarts the handshake
        "too many malformed messages",
    ) or session.closed.startswith("too many bad frames")
    assert session.receive(frame.encode(cbor2.dumps([m.HELLO, {}]))) == b""
