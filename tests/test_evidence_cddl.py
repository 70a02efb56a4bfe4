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
        rec = cbor2.loads(evidence.payload_of(w))
        out.setdefault(rec[records.K_TYPE], w)
    return out


def test_every_record_the_firmware_makes_matches_records_cddl():
    _, items = make_stream(1, 40, 6, alerts=(3, 11, 30))
    assert set(kinds(items)) == {records.FIX, records.ALERT, records.CHECKPOINT}
    for w in items:
        ok, why = validate(RECORDS, w, "wire-item")
        assert ok, why
    for kind, w in kinds(items).items():
        root = {1: "fix-record", 2: "signed-record", 4: "signed-record"}[kind]
        assert validate(RECORDS, w, root)[0]


def test_restart_records_and_signed_fixes_match_too():
    sg = signer(1)
    chain = evidence.Chain(sg)
    out = []
    rec = records.restart_record(1, chain.head, 1772442000, 0, "brownout")
    chain.add(rec, 0, lambda seq, wire: out.append(wire))
    assert validate(RECORDS, out[0], "signed-record")[0]
    # older firmware signed every record: still a valid wire item
    from emtag.firmware import cose

    fix = cbor2.loads(make_stream(1, 1, 5)[1][0])
    assert validate(RECORDS, cose.sign1(sg, cbor.dumps(fix), kid=sg.key_id()), "wire-item")[0]


def test_the_schema_refuses_what_the_verifier_refuses():
    _, items = make_stream(1, 6, 5, alerts=(2,))
    fix = cbor2.loads(items[0])
    for key, bad in (
        (records.K_LAT, 900000001),
        (records.K_PREV, b"\x00" * 31),
        (records.K_TIME_MS, 1000),
        (records.K_SEQ, 0),
        (records.K_TYPE, 2),
    ):
        rec = dict(fix)
        rec[key] = bad
        assert not validate(RECORDS, cbor2.dumps(rec), "wire-item")[0], key
    rec = dict(fix)
    del rec[records.K_LON]
    assert not validate(RECORDS, cbor2.dumps(rec), "wire-item")[0]
    # a checkpoint's payload, checked inside the COSE_Sign1 (.cbor), must name its device
    cp = next(w for w in items if cbor2.loads(evidence.payload_of(w))[0] == records.CHECKPOINT)
    tagged = cbor2.loads(cp)
    payload = cbor2.loads(tagged.value[2])
    del payload[records.K_DEVICE]
    body = list(tagged.value)
    body[2] = cbor2.dumps(payload)
    assert validate(RECORDS, cp, "signed-record")[0]
    assert not validate(RECORDS, cbor2.dumps(cbor2.CBORTag(18, body)), "signed-record")[0]
    # an unknown alert kind
    alert = next(w for w in items if cbor2.loads(evidence.payload_of(w))[0] == records.ALERT)
    tagged = cbor2.loads(alert)
    payload = cbor2.loads(tagged.value[2])
    payload[records.K_ALERT] = "made_up"
    body = list(tagged.value)
    body[2] = cbor2.dumps(payload)
    assert not validate(RECORDS, cbor2.dumps(cbor2.CBORTag(18, body)), "wire-item")[0]


def test_genesis_input_matches_records_cddl():
    dev = signer(1).key_id()
    assert validate(RECORDS, cbor.dumps([records.GENESIS_LABEL, dev]), "genesis-input")[0]


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

        def read_from(self, seq, limit):
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
    bad = cbor.dumps([m.RECORDS, [b"\xa1\x00\x01"]])  # a map that is no record
    assert not validate(UPLINK, bad, "uplink-message")[0]
    assert not validate(UPLINK, cbor.dumps([m.ACK, -1]), "uplink-message")[0]
