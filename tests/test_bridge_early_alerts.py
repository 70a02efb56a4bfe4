"""The bridge session's store-and-forward parts: alerts sent ahead of the backlog, the MQTT
outbox filled in the same transaction as the records, unknown tags, and the new uplink
messages against protocol/uplink.cddl."""

import base64
import json
import os

import cbor2
import cddl_verifier
import pytest
from greet import greet
from sftag import Tag

import emtag.protocol
from emtag.host import bridge, forward, store
from emtag.protocol import cbor, frame
from emtag.protocol import messages as m


@pytest.fixture
def st(tmp_path):
    s = store.Store(str(tmp_path / "s.sqlite"))
    yield s
    s.close()


def session(st, events=None, register=True):
    log = events if events is not None else []
    return bridge.Session(st, lambda kind, **f: log.append((kind, f)), lambda: "T", register)


def send(s, msg):
    out = s.receive(frame.encode(cbor2.dumps(msg)))
    return [cbor2.loads(x) for x in frame.Deframer().feed(out)]


def outbox(st):
    return st.db.execute("SELECT device, seq, kind, forwarded FROM outbox ORDER BY id").fetchall()


def test_an_early_alert_is_stored_forwarded_once_and_acknowledged(st):
    tag = Tag(seed=1)
    tag.add(30, alert_every=20)
    (alert_seq,) = tag.alerts
    alert_wire = dict(tag.log.read_from(1, 100))[alert_seq]
    events = []
    s = session(st, events)
    assert send(s, [m.ALERT, alert_wire]) == [[m.NACK, 0, "hello first"]]
    assert greet(s, tag.signer, tag.hello) == [[m.ACK, 0]]
    assert send(s, [m.ALERT, alert_wire]) == [[m.ALERT_ACK, alert_seq]]
    assert send(s, [m.ALERT, alert_wire]) == [[m.ALERT_ACK, alert_seq]]  # duplicate: harmless
    early = st.db.execute("SELECT seq, alert FROM records WHERE status='early'").fetchall()
    assert early == [(alert_seq, "strap_tamper")]
    assert [k for k, _ in events].count("alert_early") == 1
    assert outbox(st) == [(tag.device, alert_seq, "alert", None)]
    # then the backlog, in order: the same alert becomes valid, the outbox stays at one row
    items = [w for _, w in tag.log.read_from(1, 100)]
    for i in range(0, len(items), 8):
        send(s, [m.RECORDS, items[i : i + 8]])
    valid = [r[0] for r in st.db.execute("SELECT seq FROM records WHERE status='valid'")]
    assert valid == list(range(1, tag.last_seq + 1))
    rows = outbox(st)
    assert [r for r in rows if r[2] == "alert"] == [(tag.device, alert_seq, "alert", None)]
    fixes = [r[1] for r in rows if r[2] == "fix"]
    assert fixes == [s for s, w in tag.log.read_from(1, 100) if w[0] != 0xD2]
    # once in order, an early copy is no longer needed: acknowledged, not stored again
    assert send(s, [m.ALERT, alert_wire]) == [[m.ALERT_ACK, alert_seq]]
    assert len(st.db.execute("SELECT 1 FROM records WHERE status='early'").fetchall()) == 1


def test_a_forged_early_alert_is_kept_as_rejected_input_not_evidence(st):
    tag = Tag(seed=2)
    tag.add(5, alert_every=5)
    wire = bytearray(dict(tag.log.read_from(1, 100))[tag.alerts[0]])
    wire[-1] ^= 1
    events = []
    s = session(st, events)
    greet(s, tag.signer, tag.hello)
    out = send(s, [m.ALERT, bytes(wire)])
    assert out[0][0] == m.NACK and out[0][1] == tag.alerts[0] and "signature" in out[0][2]
    assert st.db.execute("SELECT status, cose FROM records").fetchall() == []
    assert [(r[0], r[2]) for r in st.rejected(tag.device)] == [(tag.alerts[0], bytes(wire))]
    assert outbox(st) == []
    assert any(k == "alert_rejected" for k, _ in events)


def test_a_fix_is_not_an_alert(st):
    tag = Tag(seed=3)
    tag.add(3)
    s = session(st)
    greet(s, tag.signer, tag.hello)
    out = send(s, [m.ALERT, tag.log.read_from(1, 1)[0][1]])
    assert out[0][0] == m.NACK
    assert st.db.execute("SELECT status FROM records").fetchall() == []
    assert [r[0] for r in st.rejected(tag.device)] == [1]


def test_known_only_refuses_an_unknown_tag_and_accepts_a_registered_one(st):
    tag = Tag(seed=4)
    events = []
    s = session(st, events, register=False)
    assert greet(s, tag.signer, tag.hello) == [[m.NACK, 0, "unknown tag"]]
    assert ("hello_rejected", {"device": tag.device, "reason": "unknown tag (not registered)"}) in (
        events
    )
    assert st.device(tag.device) is None
    greet(session(st), tag.signer, tag.hello)  # registered
    assert greet(session(st, register=False), tag.signer, tag.hello) == [[m.ACK, 0]]


def test_fitting_register_admits_only_provisioned_keys(st, tmp_path):
    from emtag.host import keys

    fitted, stranger, impostor = Tag(seed=6), Tag(seed=7), Tag(seed=8)
    register = keys.KeyStore(tmp_path / "keys")
    register.record_tag(bytes.fromhex(fitted.device), fitted.hello[m.H_PUBKEY])
    # the register lists this device id with another key than the one the tag presents
    register.record_tag(bytes.fromhex(impostor.device), fitted.hello[m.H_PUBKEY])
    events = []
    admit = bridge.fitting_register(register)
    refused = [[m.NACK, 0, "unknown tag"]]
    assert greet(session(st, events, admit), fitted.signer, fitted.hello) == [[m.ACK, 0]]
    assert greet(session(st, events, admit), stranger.signer, stranger.hello) == refused
    assert greet(session(st, events, admit), impostor.signer, impostor.hello) == refused
    reasons = [f["reason"] for kind, f in events if kind == "hello_rejected"]
    assert reasons == [
        "not in the fitting register",
        "public key differs from the fitting register",
    ]
    assert st.device(fitted.device) is not None
    assert st.device(stranger.device) is None and st.device(impostor.device) is None


def test_command_replies_are_reported_from_a_proven_tag_only(st):
    events = []
    s = session(st, events)
    reply = [m.COMMAND_REPLY, b"\x83\x01\x00\xa0"]
    assert send(s, reply) == [[m.NACK, 0, "hello first"]]
    tag = Tag(seed=9)
    greet(s, tag.signer, tag.hello)
    send(s, reply)
    assert ("command_reply", {"device": tag.device, "reply": "830100a0"}) in events
    assert [k for k, _ in events].count("command_reply") == 1


def test_mqtt_payloads_carry_what_a_subscriber_needs(st):
    tag = Tag(seed=5)
    tag.add(20, alert_every=20)
    s = session(st)
    greet(s, tag.signer, tag.hello)
    send(s, [m.RECORDS, [w for _, w in tag.log.read_from(1, 8)]])
    send(s, [m.RECORDS, [w for _, w in tag.log.read_from(9, 100)]])
    rows = st.db.execute(
        "SELECT o.device, o.seq, o.kind, r.t, r.t_ms, r.lat_e7, r.lon_e7, r.acc_cm, r.alert, "
        "r.zone, r.status, r.received, r.cose FROM outbox o JOIN records r ON r.id = o.record_id "
        "ORDER BY o.id"
    ).fetchall()
    msgs = [json.loads(forward.payload(r)) for r in rows]
    fix = msgs[0]
    assert fix["type"] == "fix" and fix["device"] == tag.device and fix["seq"] == 1
    assert fix["lat_e7"] == 534631001 and abs(fix["lat"] - 53.4631001) < 1e-9
    assert fix["acc_m"] == 5.0 and fix["t"] == "2026-03-02T09:01:00.000Z"
    alert = next(x for x in msgs if x["type"] == "alert")
    assert alert["alert"] == "strap_tamper" and alert["proof"] == "chain"
    assert cbor2.loads(base64.b64decode(alert["record"])).tag == 18


def test_broker_urls_are_checked():
    assert forward.parse_url("mqtt://127.0.0.1:1884") == ("127.0.0.1", 1884)
    assert forward.parse_url("mqtt://broker.example") == ("broker.example", 1883)
    for bad in ("tcp://x:1", "mqtt://", "x"):
        with pytest.raises(ValueError):
            forward.parse_url(bad)


UPLINK = ""
for _name in ("uplink.cddl", "records.cddl"):
    with open(os.path.join(list(emtag.protocol.__path__)[0], _name)) as _f:
        UPLINK += _f.read() + "\n"


def test_the_store_and_forward_messages_match_uplink_cddl():
    tag = Tag(seed=6)
    tag.add(3, alert_every=3)
    alert = dict(tag.log.read_from(1, 10))[tag.alerts[0]]
    for msg in (
        [m.ALERT, alert],
        [m.ALERT_ACK, tag.alerts[0]],
        [m.COMMAND, b"\x84\x02\x01\x41\x00\xf6"],
        [m.COMMAND_REPLY, b""],
        [m.NACK, 0, "hello first"],
    ):
        result = cddl_verifier.validate(UPLINK, cbor.dumps(msg), root_type="uplink-message")
        assert result.valid, [str(d) for d in result.diagnostics]
    bad = cddl_verifier.validate(UPLINK, cbor.dumps([m.ALERT_ACK, "x"]), root_type="uplink-message")
    assert not bad.valid
