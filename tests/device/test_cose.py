import binascii
import hashlib
import json
import os

from emtag.firmware import cose, p256
from emtag.firmware.signer import SoftwareSigner
from emtag.protocol import cbor


def _here():
    parts = __file__.replace("\\", "/").rsplit("/", 1)
    return parts[0] if len(parts) == 2 else "."


VECTORS = _here() + "/../../../shared/vectors/cose"

# Vector files not run as ES256 cases, and why. Every file must be either run or listed here.
SKIPPED = {
    "ecdsa-examples/ecdsa-02.json": "COSE_Sign with ES384 on P-384: only ES256 is in scope",
    "ecdsa-examples/ecdsa-03.json": "COSE_Sign with ES512 on P-521: only ES256 is in scope",
    "ecdsa-examples/ecdsa-04.json": "COSE_Sign with ES512 (SHA-512) on P-256: not ES256",
    "ecdsa-examples/ecdsa-sig-02.json": "COSE_Sign1 with ES384 on P-384: only ES256 is in scope",
    "ecdsa-examples/ecdsa-sig-03.json": "COSE_Sign1 with ES512 on P-521: only ES256 is in scope",
}
# Same key, a P-256 curve, but alg ES512: verify1 must refuse it (checked, not skipped).
WRONG_ALG = ("ecdsa-examples/ecdsa-sig-04.json",)

# Sig_structure of RFC 9052 for Sign1, protected {1: -7}, empty aad, payload b"hello",
# written out by hand: array(4), text(10) "Signature1", bstr(3) a10126, bstr(0), bstr(5).
HELLO_TBS = bytes.fromhex("846a5369676e61747572653143a101264045") + b"hello"

RFC6979_X = int("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721", 16)


def _b64url(s):
    s = s.replace("-", "+").replace("_", "/")
    return binascii.a2b_base64(s + "=" * (-len(s) % 4))


def _vector_files():
    out = []
    for sub in ("sign1-tests", "ecdsa-examples"):
        for name in sorted(os.listdir(VECTORS + "/" + sub)):
            if name.endswith(".json"):
                out.append(sub + "/" + name)
    return out


def _load(name):
    with open(VECTORS + "/" + name) as f:
        return json.load(f)


def _key(jwk):
    d = int.from_bytes(_b64url(jwk["d"]), "big")
    pub = b"\x04" + _b64url(jwk["x"]) + _b64url(jwk["y"])
    return d, pub


def _cose_error(fn, *args):
    try:
        fn(*args)
    except cose.CoseError as e:
        return str(e)
    raise AssertionError("no CoseError")


def test_sign1_structure_is_rfc9052():
    signer = SoftwareSigner(RFC6979_X)
    msg = cose.sign1(signer, b"hello", kid=b"\x01\x02")
    # tag 18 (0xd2), array(4), bstr a10126, map {4: h'0102'}, bstr "hello", bstr(64)
    head = bytes.fromhex("d28443a10126a104420102") + b"\x45hello\x58\x40"
    assert msg[: len(head)] == head and len(msg) == len(head) + 64
    assert p256.verify(p256.decode_point(signer.public_key()), HELLO_TBS, msg[-64:])
    assert cose.verify1(signer.public_key(), msg) == b"hello"
    bare = cose.sign1(signer, b"hello")
    assert bare[:6] == bytes.fromhex("d28443a10126a0")[:6] and bare[6] == 0xA0
    assert cose.verify1(signer.public_key(), bare) == b"hello"
    assert cose.sign1(signer, b"hello") == bare  # RFC 6979: deterministic


def test_sign1_external_aad_and_keys():
    a = SoftwareSigner(RFC6979_X)
    b = SoftwareSigner(RFC6979_X + 1)
    msg = cose.sign1(a, b"fix", kid=a.key_id(), external_aad=b"chain")
    assert cose.verify1(a.public_key(), msg, b"chain") == b"fix"
    assert "signature" in _cose_error(cose.verify1, a.public_key(), msg)
    assert "signature" in _cose_error(cose.verify1, a.public_key(), msg, b"chain!")
    assert "signature" in _cose_error(cose.verify1, b.public_key(), msg, b"chain")
    assert "public key" in _cose_error(cose.verify1, b"\x04" + bytes(64), msg, b"chain")
    empty = cose.sign1(a, b"")
    assert cose.verify1(a.public_key(), empty) == b""


def test_tampering_is_detected_outside_the_unprotected_header():
    signer = SoftwareSigner(RFC6979_X)
    kid = b"\x11\x22"
    msg = cose.sign1(signer, b"lat=515000000 lon=-1000000", kid=kid)
    # d2 84 43 a10126 | a1 04 42 1122 | ...: the unprotected map {4: kid} sits at 6..10 and,
    # as RFC 9052 intends, is not covered by the signature. Every other byte is.
    assert msg[6:11] == b"\xa1\x04\x42" + kid
    for pos in range(len(msg)):
        bad = bytearray(msg)
        bad[pos] ^= 0x04
        try:
            cose.verify1(signer.public_key(), bytes(bad))
            ok = True
        except cose.CoseError:
            ok = False
        assert not ok or 6 <= pos < 11, pos
        if pos in (9, 10):
            assert ok, pos  # a changed kid still verifies: pick keys by kid, then verify
    for cut in (0, 1, len(msg) - 1):
        _cose_error(cose.verify1, signer.public_key(), msg[:cut])
    _cose_error(cose.verify1, signer.public_key(), msg + b"\x00")


def test_verify1_reports_structure_problems():
    s = SoftwareSigner(RFC6979_X)
    pub = s.public_key()
    sig = bytes(64)
    prot = b"\xa1\x01\x26"
    cases = (
        (cbor.Tag(98, [prot, {}, b"x", sig]), "tag 98"),
        ([prot, {}, b"x"], "array of 4"),
        ({1: 2}, "array of 4"),
        ([b"\xa1\x01", {}, b"x", sig], "protected header is not valid"),
        ([b"\x80", {}, b"x", sig], "must encode a map"),
        (["\xa1\x01\x26", {}, b"x", sig], "protected header must be a byte string"),
        ([prot, [], b"x", sig], "unprotected header must be a map"),
        ([prot, {}, None, sig], "detached"),
        ([prot, {}, "x", sig], "payload must be a byte string"),
        ([prot, {}, b"x", sig[:63]], "64 bytes"),
        ([prot, {}, b"x", None], "signature must be a byte string"),
        ([prot, {1: -7}, b"x", sig], "both buckets"),
        ([b"\xa2\x01\x26\x02\x81\x01", {}, b"x", sig], "critical"),
        ([b"", {}, b"x", sig], "no alg"),
        ([b"\xa1\x01\x38\x22", {}, b"x", sig], "not ES256"),
        ([b"\xa1\x01\x63\x2d\x37\x00", {}, b"x", sig], "not ES256"),  # text "-7\0"
        ([b"", {1: -7}, b"x", sig], "signature does not verify"),
    )
    for obj, why in cases:
        err = _cose_error(cose.verify1, pub, cbor.dumps(obj))
        assert why in err, (why, err)
    assert "CBOR" in _cose_error(cose.verify1, pub, b"\xd2\x84\x43")
    assert "CBOR" in _cose_error(cose.verify1, pub, b"\xff")


def test_cose_wg_vectors_es256_sign1():
    files = _vector_files()
    assert len(files) >= 17, files
    ran = 0
    for name in files:
        if name in SKIPPED:
            print("skip", name, "-", SKIPPED[name])
            continue
        v = _load(name)
        if "sign0" not in v["input"]:
            continue  # COSE_Sign: test_cose_wg_vectors_es256_cose_sign
        sign0 = v["input"]["sign0"]
        d, pub = _key(sign0["key"])
        assert sign0["key"]["crv"] == "P-256", name
        assert p256.encode_point(p256.public_point(d)) == pub, name
        message = binascii.unhexlify(v["output"]["cbor"])
        aad = binascii.unhexlify(sign0.get("external", ""))
        if name in WRONG_ALG:
            assert sign0["alg"] != "ES256"
            assert "not ES256" in _cose_error(cose.verify1, pub, message, aad), name
            continue
        assert sign0["alg"] == "ES256", name
        if v.get("fail"):
            _cose_error(cose.verify1, pub, message, aad)
        else:
            plaintext = v["input"]["plaintext"].encode()
            assert cose.verify1(pub, message, aad) == plaintext, name
            # the WG's signature also verifies over the WG's own to-be-signed bytes
            tbs = binascii.unhexlify(v["intermediates"]["ToBeSign_hex"])
            assert p256.verify(p256.decode_point(pub), tbs, message[-64:]), name
        ran += 1
    assert ran == 10, ran


def test_sign1_matches_cose_wg_output():
    # For vectors with protected {alg: ES256} and unprotected {kid}, our message must equal
    # the WG's byte for byte except the signature (theirs used a random k).
    for name, tagged in (
        ("sign1-tests/sign-pass-02.json", True),
        ("sign1-tests/sign-pass-03.json", False),
    ):
        v = _load(name)
        sign0 = v["input"]["sign0"]
        d, pub = _key(sign0["key"])
        aad = binascii.unhexlify(sign0.get("external", ""))
        kid = sign0["unprotected"]["kid"].encode()
        ours = cose.sign1(SoftwareSigner(d), v["input"]["plaintext"].encode(), kid, aad)
        theirs = binascii.unhexlify(v["output"]["cbor"])
        if not tagged:
            theirs = b"\xd2" + theirs
        assert ours[:-64] == theirs[:-64], name
        assert cose.verify1(pub, ours, aad) == v["input"]["plaintext"].encode()
        tbs = binascii.unhexlify(v["intermediates"]["ToBeSign_hex"])
        assert cose._sig_structure(b"\xa1\x01\x26", aad, v["input"]["plaintext"].encode()) == tbs


def test_cose_wg_vectors_es256_cose_sign():
    # ecdsa-01 is a COSE_Sign (tag 98) with one ES256 signer: verify1 must refuse the type,
    # and the signer's signature must verify over the Sig_structure built from the message.
    v = _load("ecdsa-examples/ecdsa-01.json")
    signer = v["input"]["sign"]["signers"][0]
    assert signer["protected"]["alg"] == "ES256"
    d, pub = _key(signer["key"])
    message = binascii.unhexlify(v["output"]["cbor"])
    assert "tag 98" in _cose_error(cose.verify1, pub, message)
    obj = cbor.loads(message)
    assert obj.tag == 98
    body_protected, _, payload, signatures = obj.value
    sign_protected, _, sig = signatures[0]
    tbs = cbor.dumps(["Signature", body_protected, sign_protected, b"", payload])
    assert tbs == binascii.unhexlify(v["intermediates"]["signers"][0]["ToBeSign_hex"])
    assert p256.verify(p256.decode_point(pub), tbs, sig)
    assert not p256.verify(p256.decode_point(pub), tbs + b"\x00", sig)
    assert hashlib.sha256(tbs).digest() != hashlib.sha256(tbs + b"\x00").digest()
