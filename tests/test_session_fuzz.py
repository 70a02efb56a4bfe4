"""hypothesis against the bridge session: any message with any field values, before and after
the handshake, never raises, never stores what its tag did not sign, and leaves the store
one valid chain the honest tag can continue."""

import hashlib

import cbor2
import pytest
from evidence_streams import make_stream, signer
from greet import greet, send
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emtag.host import bridge, store
from emtag.protocol import frame, records
from emtag.protocol import messages as m

SG, ITEMS = make_stream(7, 12, 5)  # f1..f5 cp6 f7..f11 cp12 ...
OTHER = signer(8)

ints = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, -1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64, -(2**63) - 1]),
)
leaf = st.one_of(
    ints,
    st.binary(max_size=80),
    st.text(max_size=40),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True),
)
values = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(ints, st.text(max_size=4)), inner, max_size=4),
    ),
    max_leaves=12,
)


def _record_with(field_values):
    """The tag's first record with fields replaced by arbitrary values, signed by another
    key under the tag's kid (the bridge decodes and checks the fields before the signature)."""
    from emtag.firmware import cose

    rec = cbor2.loads(ITEMS[0])
    rec.update(field_values)
    payload = cbor2.dumps(rec, canonical=True)
    return cose.sign1(OTHER, payload, kid=SG.key_id())


FIELDS = st.sampled_from(
    [records.K_TYPE, records.K_SEQ, records.K_TIME, records.K_TIME_MS, records.K_LAT,
     records.K_LON, records.K_ACC, records.K_SATS, records.K_HDOP, records.K_SPEED,
     records.K_COURSE, records.K_ALT]
)  # fmt: skip
messages = st.one_of(
    st.tuples(st.sampled_from([m.HELLO, m.RECORDS, m.ALERT, m.PROOF, m.COMMAND_REPLY]), values),
    st.builds(lambda body: [m.HELLO, body], st.dictionaries(st.integers(0, 4), values)),
    st.builds(lambda f: [m.RECORDS, [_record_with(f)]], st.dictionaries(FIELDS, ints, max_size=3)),
    st.builds(lambda f: [m.ALERT, _record_with(f)], st.dictionaries(st.integers(0, 45), values)),
    st.builds(lambda x: [m.RECORDS, x], st.lists(st.binary(max_size=120), max_size=10)),
    values,
).map(lambda msg: list(msg) if isinstance(msg, tuple) else msg)


@pytest.fixture
def st_(tmp_path):
    s = store.Store(str(tmp_path / "s.sqlite"))
    yield s
    s.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(messages, max_size=6), st.booleans())
def test_any_messages_never_raise_and_store_only_proven_records(st_, msgs, greeted_first):
    st_.db.execute("DELETE FROM records")
    st_.db.execute("DELETE FROM devices")
    st_.db.commit()
    s = bridge.Session(st_, lambda *a, **k: None, lambda: "T")
    if greeted_first:
        assert greet(s, SG) == [[m.ACK, 0]]
    for msg in msgs:
        try:
            data = frame.encode(cbor2.dumps(msg))
        except (ValueError, TypeError, OverflowError):
            continue  # not encodable, or larger than a frame
        out = s.receive(data)
        for raw in frame.Deframer().feed(out):
            assert isinstance(cbor2.loads(raw), list)
    # whatever came before, the honest tag continues its one chain from what was stored
    s2 = bridge.Session(st_, lambda *a, **k: None, lambda: "T")
    ack = greet(s2, SG)
    assert ack[0][0] == m.ACK
    send(s2, [m.RECORDS, ITEMS[:8]])
    send(s2, [m.RECORDS, ITEMS[8:12]])
    rows = st_.db.execute(
        "SELECT seq, cose FROM records WHERE status='valid' ORDER BY seq"
    ).fetchall()
    assert [r[0] for r in rows] == list(range(1, 13))
    assert [bytes(r[1]) for r in rows] == ITEMS[:12]


def test_an_unreadable_device_row_is_refused_not_fatal(tmp_path):
    """A store written before keys were checked may hold a key that is no P-256 point."""
    st = store.Store(str(tmp_path / "s.sqlite"))
    pub = b"\x04" + b"\x02" * 64
    dev = hashlib.sha256(pub).digest()[:8]
    st.add_device(dev.hex(), pub, "old", "T")
    events = []
    s = bridge.Session(st, lambda kind, **f: events.append((kind, f)), lambda: "T")
    hello = {m.H_DEVICE: dev, m.H_PUBKEY: pub, m.H_FIRMWARE: "x"}
    assert send(s, [m.HELLO, hello]) == [[m.NACK, 0, "bad public key"]]
    assert greet(s, signer(9)) == [[m.ACK, 0]]  # the session still serves a real tag
    st.close()
