"""Real encoded records and uplink messages against the CDDL in protocol/ (cddl-verifier, a
pure-Python RFC 8610 validator that also checks `.cbor`-embedded payloads)."""

import os

import cbor2
import cddl_verifier
import pytest
from evidence_streams import make_stream, signer

import emtag.protocol
from emtag.firmware import evidence
from emtag.protocol import cbor, records
from emtag.protocol import messages as m

PROTOCOL = list(emtag.protocol.__path__)[0]


def schema(*names):
    text = ""
    for name in names:
        with open(os.path.join(PROTOCOL, name)) as f:
            text += f.read() + "\n"
    return text


RECORDS = schema("records.cddl")
UPLINK = schema("uplink.cddl", "records.cddl")


def validate(text, data, root):
    result = cddl_verifier.validate(text, data, root_type=root)
    return result.valid, [str(d) for d in result.diagnostics]


def kinds(items):
    out = {}
    for w in items:
        kind = records.FIX if not evidence.is_signed(w) else cbor2.loads(evidence.payload_of(w))[0]
        out.setdefault(kind, w)
    return out


def resigned(wire, change):
    """A signed item with its map (payload) or header changed by change(body list)."""
    tagged = cbor2.loads(wire)
    body = list(tagged.value)
    change(body)
    return cbor2.dumps(cbor2.CBORTag(18, body))


def test_every_record_the_firmware_makes_matches_records_cddl():
    _, items = make_stream(1, 40, 6, alerts=(3, 11, 30))
    assert set(kinds(items)) == {records.FIX, records.ALERT, records.CHECKPOINT}
    for w in items:
        ok, why = validate(RECORDS, w, "wire-item")
        assert ok, why
    for kind, w in kinds(items).items():
        root = {1: "fix-record", 2: "signed-record", 4: "signed-record"}[kind]
        assert validate(RECORDS, w, root)[0]
    sg = signer(1)
    first = 1 + next(i for i, w in enumerate(items) if evidence.is_signed(w) and
                     cbor2.loads(evidence.payload_of(w))[0] == records.CHECKPOINT)  # fmt: skip
    aad = records.block_aad(sg.key_id(), first, b"\x11" * 32)
    assert validate(RECORDS, aad, "block-aad")[0]
    assert not validate(RECORDS, records.block_aad(sg.key_id(), 0, b"\x11" * 32), "block-aad")[0]


def test_restart_records_match_too():
    sg = signer(1)
    chain = evidence.Chain(sg)

    class Log:
        out = []

        def append(self, seq, wire):
            self.out.append(wire)

    log = Log()
    chain.add(records.restart_record(1, None, 1772442000, 0, "brownout"), 0, log)
    assert validate(RECORDS, log.out[0], "signed-record")[0]
    assert validate(RECORDS, log.out[0], "wire-item")[0]


def test_the_schema_refuses_what_the_verifier_refuses():
    _, items = make_stream(1, 6, 5, alerts=(2,))
    by_kind = kinds(items)
    # a fix is a short byte string, nothing else
    for bad in (cbor2.dumps("fix"), cbor2.dumps(b""), cbor2.dumps(b"\x80" * 65),
                cbor2.dumps({10: 1, 11: 2})):  # fmt: skip
        assert not validate(RECORDS, bad, "wire-item")[0], bad
    cp = by_kind[records.CHECKPOINT]

    def payload(change):
        def edit(body):
            rec = cbor2.loads(body[2])
            change(rec)
            body[2] = cbor2.dumps(rec)

        return edit

    assert validate(RECORDS, resigned(cp, payload(lambda r: None)), "signed-record")[0]
    for change in (
        lambda r: r.pop(records.K_COUNT),
        lambda r: r.update({records.K_COUNT: 0}),
        lambda r: r.update({records.K_COUNT: 61}),
        lambda r: r.update({40: b"12345678"}),  # the old format's device field
        lambda r: r.update({records.K_SEQ: 0}),
    ):
        assert not validate(RECORDS, resigned(cp, payload(change)), "signed-record")[0]
    # its header must carry the list of CRCs, and nothing else
    no_list = resigned(cp, lambda b: b.__setitem__(1, {4: b[1][4]}))
    assert not validate(RECORDS, no_list, "signed-record")[0]
    alert = by_kind[records.ALERT]
    for change in (
        lambda r: r.update({records.K_ALERT: "made_up"}),
        lambda r: r.update({4: b"\x00" * 32}),  # the old format's prev hash
        lambda r: r.update({records.K_LAT: 900000001}),
        lambda r: r.update({records.K_TIME_MS: 1000}),
    ):
        assert not validate(RECORDS, resigned(alert, payload(change)), "wire-item")[0]


@pytest.mark.parametrize(
    "msg",
    [
        [m.HELLO, {0: b"12345678", 1: b"\x04" + b"\x01" * 64, 2: "0.1.0", 3: 17}],
        [m.ACK, 12],
        [m.NACK, 3, "modified: signature does not verify"],
        [m.TIME, 1772442000123],
        [m.CHALLENGE, bytes(range(16))],
    ],
    ids=["hello", "ack", "nack", "time", "challenge"],
)
def test_uplink_messages_match_uplink_cddl(msg):
    ok, why = validate(UPLINK, cbor.dumps(msg), "uplink-message")
    assert ok, why


def test_the_tags_proof_matches_uplink_cddl():
    from emtag.firmware import uplink

    sg = signer(3)
    log = type("Log", (), {"acked": 0, "last_seq": 0})()
    up = uplink.Uplink(log, {}, prove=uplink.prover(sg))
    up.poll(0)  # HELLO
    assert up.receive([m.CHALLENGE, bytes(range(32))], 0) == "challenge"
    (proof,) = up.poll(1)
    assert validate(UPLINK, proof, "uplink-message")[0]
    msg = cbor2.loads(proof)
    payload = cbor2.loads(msg[1]).value[2]
    assert validate(UPLINK, payload, "proof-payload")[0]
    assert not validate(UPLINK, cbor.dumps([m.CHALLENGE, b"short"]), "uplink-message")[0]


def test_records_messages_as_the_uplink_sends_them_match_uplink_cddl():
    from emtag.firmware import uplink

    class Log:
        def __init__(self, items):
            self.items = items
            self.last_seq = len(items)
            self.acked = 0

        def read_from(self, seq, limit, max_bytes=None):
            return [(s, self.items[s - 1]) for s in range(seq, self.last_seq + 1)][:limit]

        def ack(self, seq):
            self.acked = seq

    _, items = make_stream(1, 10, 5, alerts=(4,))
    up = uplink.Uplink(Log(items), {})
    up.receive([m.ACK, 0], 0)
    sent = up.poll(0)
    assert sent
    for raw in sent:
        ok, why = validate(UPLINK, raw, "uplink-message")
        assert ok, why
    assert any(cbor2.loads(raw)[0] == m.RECORDS for raw in sent)
    bad = cbor.dumps([m.RECORDS, 1, b"\xa1\x00\x01"])  # a map that is no record
    assert not validate(UPLINK, bad, "uplink-message")[0]
    old = cbor.dumps([m.RECORDS, [items[0]]])  # the old format's list of items
    assert not validate(UPLINK, old, "uplink-message")[0]
    assert not validate(UPLINK, cbor.dumps([m.ACK, -1]), "uplink-message")[0]
