"""End to end: the demo scenario on both interpreters, checked from its outputs alone."""

import hashlib
import json
import os

import cbor2
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from emtag.host import unixport
from emtag.host.store import open_store
from emtag.simulator import runner, scenario, simulate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(REPO, "examples", "exclusion-breach.toml")
INTERPRETERS = [
    "cpython",
    pytest.param(
        "micropython",
        marks=pytest.mark.skipif(unixport.binary() is None, reason="no MicroPython unix port"),
    ),
]


def verify_cose_sign1(msg, public_key, aad=b""):
    """Independent ES256 COSE_Sign1 check with cbor2 + cryptography (RFC 9052 section 4.4)."""
    tagged = cbor2.loads(msg)
    assert tagged.tag == 18
    protected, _unprotected, payload, sig = tagged.value
    assert cbor2.loads(protected) == {1: -7}
    to_sign = cbor2.dumps(["Signature1", protected, aad, payload])
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    public_key.verify(encode_dss_signature(r, s), to_sign, ec.ECDSA(hashes.SHA256()))
    return cbor2.loads(payload)


@pytest.fixture(scope="module", params=INTERPRETERS)
def demo_run(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-" + request.param)
    result = simulate.simulate(scenario.load(DEMO), str(out), request.param)
    return request.param, out, result


def events(out):
    with open(os.path.join(out, "events.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_breach_alert_reaches_the_store(demo_run):
    _, out, result = demo_run
    evs = events(out)
    for ev in evs:
        assert {"t", "source", "type"} <= set(ev)
        assert ev["source"] in ("tag", "bridge", "sim")
        assert ev["t"].endswith("Z")
    enter = next(e for e in evs if e["type"] == "truth_enter")
    stored = [e for e in evs if e["source"] == "bridge" and e["type"] == "alert"]
    stored = [e for e in stored if e["alert"] != "zone_approach"]  # the 200 m warning comes first
    assert (
        stored and stored[0]["alert"] == "exclusion_breach" and stored[0]["zone"] == "victim-home"
    )
    assert stored[0]["t"] >= enter["t"]
    with open_store(os.path.join(out, "store.sqlite"), create=False) as st:
        device = st.devices()[0].device
        rows = [(a.alert, a.zone) for a in st.alerts(device) if a.status == "valid"]
    assert ("exclusion_breach", "victim-home") in rows
    assert all(c["ok"] for c in result["checks"]), result["checks"]


def verify_blocks(rows, public_key, device_id):
    """Independent check of the blocks (protocol/records.cddl) with cbor2, hashlib and
    cryptography: every checkpoint's signature verifies over the SHA-256 of the records of
    its block (its external AAD), alerts' own signatures verify, and no record is left
    after the last checkpoint. Returns [(seq, type, seq of the checkpoint that proves it)]."""
    proven, block = [], []
    for seq, wire in rows:
        signed = wire[0] == 0xD2  # CBOR tag 18: COSE_Sign1
        rec = cbor2.loads(cbor2.loads(wire).value[2]) if signed else None
        if rec is not None and rec[0] == 4:  # a checkpoint
            first = seq - rec[42]
            assert [s for s, _ in block] == list(range(first, seq)), "block broken at %d" % seq
            h = hashlib.sha256()  # a fix as its length, body and zeros to 65 bytes
            for _, w in block:
                body = cbor2.loads(w) if w[0] != 0xD2 else None
                h.update(w if body is None else bytes([len(body)]) + body + bytes(64 - len(body)))
            digest = h.digest()
            aad = cbor2.dumps(["emtag block v2", device_id, first, digest])
            verify_cose_sign1(wire, public_key, aad)
            proven += [(s, t, seq) for s, t in [(s, _kind(w)) for s, w in block]]
            proven.append((seq, 4, seq))
            block = []
            continue
        if signed:
            verify_cose_sign1(wire, public_key)  # an alert or restart: signed at once too
        else:
            assert isinstance(cbor2.loads(wire), bytes)  # a fix: a compact byte string
        block.append((seq, wire))
    assert not block, "stored as valid, but no checkpoint follows seq %d" % block[0][0]
    return proven


def _kind(wire):
    return cbor2.loads(cbor2.loads(wire).value[2])[0] if wire[0] == 0xD2 else 1


def test_every_stored_record_verifies_against_the_tags_key(demo_run):
    _, out, _ = demo_run
    with open_store(os.path.join(out, "store.sqlite"), create=False) as st:
        ((device, pub, _, _),) = st.devices()
        rows = [(r[0], bytes(r[-1])) for r in st.records(device)]
        others = st.records(device, "early") + st.records(device, "rejected")
        rejected = st.records(device, "rejected")
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    # a record verifies when the checkpoint of its block is signed by the tag's key
    proven = verify_blocks(rows, key, bytes.fromhex(device))
    fixes = sum(1 for _, kind, _ in proven if kind == 1)
    assert fixes >= 15  # a fix a minute, faster near the zone, over 18 minutes
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))  # complete and in order
    # the tag uploads only sealed blocks: nothing waits on the host for its proof, nothing
    # was refused, and any other copy (an alert sent early) also arrived in its block
    assert rejected == []
    assert {r[0] for r in others} <= {r[0] for r in rows}
    # the checks above can fail: a flipped byte in a fix breaks its block's signature, and
    # one in an alert's signature fails it
    fix_at = next(i for i, (_, w) in enumerate(rows) if w[0] != 0xD2)
    bad = list(rows)
    bad[fix_at] = (rows[fix_at][0], rows[fix_at][1][:-1] + bytes([rows[fix_at][1][-1] ^ 1]))
    with pytest.raises(InvalidSignature):
        verify_blocks(bad, key, bytes.fromhex(device))
    signed_at = next(i for i, (_, w) in enumerate(rows) if w[0] == 0xD2)
    bad = bytearray(rows[signed_at][1])
    bad[-5] ^= 1
    with pytest.raises(InvalidSignature):
        verify_cose_sign1(bytes(bad), key)


def test_firmware_kept_within_heap_budget(demo_run):
    interpreter, _, result = demo_run
    if interpreter != "micropython":
        pytest.skip("heap figures come from the MicroPython run")
    assert 0 < result["heap_live_peak"] < result["heap_peak"] <= 192 * 1024


def test_same_seed_gives_identical_event_log(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    sc = scenario.load(DEMO)
    sc.duration_s = 300
    simulate.simulate(sc, str(a), "cpython")
    simulate.simulate(sc, str(b), "cpython")
    assert (a / "events.jsonl").read_bytes() == (b / "events.jsonl").read_bytes()


def test_firmware_crash_is_reported(tmp_path, monkeypatch):
    if unixport.binary() is None:
        pytest.skip("no MicroPython unix port")
    monkeypatch.setattr(runner, "FIRMWARE_ENTRY", "raise ValueError('boom')")
    with pytest.raises(runner.FirmwareCrashed, match="boom"):
        simulate.simulate(scenario.load(DEMO), str(tmp_path), "micropython")
