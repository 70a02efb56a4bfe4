"""End to end: the demo scenario on both interpreters, checked from its outputs alone."""

import json
import os
import sqlite3

import cbor2
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from emtag.simulator import runner, scenario, simulate
from emtag.tools import unixport

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
    assert (
        stored and stored[0]["alert"] == "exclusion_breach" and stored[0]["zone"] == "victim-home"
    )
    assert stored[0]["t"] >= enter["t"]
    db = sqlite3.connect(os.path.join(out, "store.sqlite"))
    rows = db.execute("SELECT alert, zone FROM records WHERE type=2 AND status='valid'").fetchall()
    assert ("exclusion_breach", "victim-home") in rows
    assert all(c["ok"] for c in result["checks"]), result["checks"]


def test_every_stored_record_verifies_against_the_tags_key(demo_run):
    _, out, _ = demo_run
    db = sqlite3.connect(os.path.join(out, "store.sqlite"))
    ((device, pub),) = db.execute("SELECT device, public_key FROM devices").fetchall()
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    rows = db.execute("SELECT seq, cose FROM records WHERE status='valid' ORDER BY seq").fetchall()
    fixes = 0
    for seq, cose in rows:
        payload = verify_cose_sign1(cose, key)
        assert payload[1] == seq
        fixes += payload[0] == 1
    assert fixes >= 15  # a fix a minute, faster near the zone, over 18 minutes
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))  # complete and in order
    # a flipped byte in the signature must fail: the check above can fail
    bad = bytearray(rows[0][1])
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
