"""End to end: the demo scenario on both interpreters, checked from its outputs alone."""

import hashlib
import json
import os
import sqlite3

import cbor2
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from emtag.host import unixport
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


def verify_cose_sign1(msg, public_key):
    """Independent ES256 COSE_Sign1 check with cbor2 + cryptography (RFC 9052 section 4.4)."""
    tagged = cbor2.loads(msg)
    assert tagged.tag == 18
    protected, _unprotected, payload, sig = tagged.value
    assert cbor2.loads(protected) == {1: -7}
    to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
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
    db = sqlite3.connect(os.path.join(out, "store.sqlite"))
    rows = db.execute("SELECT alert, zone FROM records WHERE type=2 AND status='valid'").fetchall()
    assert ("exclusion_breach", "victim-home") in rows
    assert all(c["ok"] for c in result["checks"]), result["checks"]


def verify_chain(rows, public_key, device_id):
    """Independent check of the evidence chain (protocol/records.cddl) with cbor2 and
    cryptography: signed records verify, every record's prev is the SHA-256 of the previous
    payload from the device's genesis, and a signed record follows every unsigned one.
    Returns [(seq, record, seq of the signed record that proves it)]."""
    prev = hashlib.sha256(cbor2.dumps(["emtag genesis v1", device_id])).digest()
    proven, waiting = [], []
    for seq, wire in rows:
        signed = wire[0] == 0xD2  # CBOR tag 18: COSE_Sign1
        payload = cbor2.loads(wire).value[2] if signed else wire
        rec = verify_cose_sign1(wire, public_key) if signed else cbor2.loads(payload)
        assert signed or rec[0] == 1  # only fixes travel unsigned
        assert rec[1] == seq
        assert rec[4] == prev, "hash chain broken at seq %d" % seq
        prev = hashlib.sha256(payload).digest()
        waiting.append((seq, rec))
        if signed:
            proven += [(s, r, seq) for s, r in waiting]
            waiting = []
    assert not waiting, "stored as valid, but no signed record follows seq %d" % waiting[0][0]
    return proven


def test_every_stored_record_verifies_against_the_tags_key(demo_run):
    _, out, _ = demo_run
    db = sqlite3.connect(os.path.join(out, "store.sqlite"))
    ((device, pub),) = db.execute("SELECT device, public_key FROM devices").fetchall()
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    rows = db.execute("SELECT seq, cose FROM records WHERE status='valid' ORDER BY seq").fetchall()
    # a fix verifies when the chain from it leads to a record signed by the tag's key
    proven = verify_chain(rows, key, bytes.fromhex(device))
    fixes = sum(1 for _, rec, _ in proven if rec[0] == 1)
    assert fixes >= 15  # a fix a minute, faster near the zone, over 18 minutes
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))  # complete and in order
    # the tag uploads only sealed ranges: nothing waits on the host for its proof, nothing
    # was refused, and any other copy (an alert sent early) also arrived in the chain
    assert db.execute("SELECT COUNT(*) FROM records WHERE status = 'rejected'").fetchone() == (0,)
    others = db.execute("SELECT seq FROM records WHERE status != 'valid'").fetchall()
    assert {s for (s,) in others} <= {r[0] for r in rows}
    # the checks above can fail: a flipped byte in a fix breaks the chain after it, and one
    # in a signature fails it
    fix_at = next(i for i, (_, w) in enumerate(rows) if w[0] != 0xD2)
    bad = list(rows)
    bad[fix_at] = (rows[fix_at][0], rows[fix_at][1][:-1] + bytes([rows[fix_at][1][-1] ^ 1]))
    with pytest.raises(AssertionError, match="hash chain broken"):
        verify_chain(bad, key, bytes.fromhex(device))
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
