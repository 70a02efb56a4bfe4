"""Our P-256 / COSE code against the ecosystem's: `cryptography` (OpenSSL) and cbor2.

The firmware side (emtag.firmware.p256 / cose) and the host side (emtag.host.cose, built on
cbor2 + cryptography) must each accept exactly what the other produces.
"""

import binascii
import hashlib
import json
import os

import cbor2
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emtag.firmware import cose as fcose
from emtag.firmware import p256
from emtag.firmware.signer import SoftwareSigner
from emtag.host import cose as hcose
from emtag.host import unixport

VECTORS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "vectors", "cose")

scalars = st.integers(min_value=1, max_value=p256.N - 1)
messages = st.binary(max_size=300)
SLOW = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=100, deadline=None)


def _crypto_key(d):
    return ec.derive_private_key(d, ec.SECP256R1())


def _raw_pub(key):
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


# --- ECDSA --------------------------------------------------------------------------------


@SLOW
@given(scalars)
def test_public_point_matches_cryptography(d):
    nums = _crypto_key(d).public_key().public_numbers()
    assert p256.public_point(d) == (nums.x, nums.y)
    assert SoftwareSigner(d).public_key() == _raw_pub(_crypto_key(d))


@SLOW
@given(scalars, messages)
def test_our_signatures_verify_with_cryptography(d, msg):
    sig = p256.sign(d, msg)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    pub = _crypto_key(d).public_key()
    pub.verify(encode_dss_signature(r, s), msg, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        pub.verify(encode_dss_signature(r, s), msg + b"!", ec.ECDSA(hashes.SHA256()))


@SLOW
@given(scalars, messages)
def test_our_nonces_equal_openssl_rfc6979(d, msg):
    # OpenSSL's own RFC 6979 implementation is an independent oracle for our k derivation.
    theirs = _crypto_key(d).sign(msg, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(theirs)
    assert p256.sign(d, msg) == r.to_bytes(32, "big") + s.to_bytes(32, "big")


@SLOW
@given(scalars, messages)
def test_cryptography_signatures_verify_with_ours(d, msg):
    key = _crypto_key(d)
    r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(hashes.SHA256())))  # random k
    pub = p256.decode_point(_raw_pub(key))
    digest = hashlib.sha256(msg).digest()
    assert p256.verify_digest(pub, digest, r, s)
    assert p256.verify_digest(pub, digest, r, p256.N - s)  # ECDSA malleability, as OpenSSL
    assert not p256.verify_digest(pub, hashlib.sha256(msg + b"!").digest(), r, s)
    assert not p256.verify_digest(pub, digest, s, r)


@FAST
@given(st.binary(min_size=64, max_size=65))
def test_decode_point_agrees_with_cryptography(data):
    blob = data if len(data) == 65 else b"\x04" + data
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), blob)
        theirs = True
    except ValueError:
        theirs = False
    try:
        p256.decode_point(data)
        ours = True
    except ValueError:
        ours = False
    assert ours == theirs


# --- COSE_Sign1 -----------------------------------------------------------------------------


@SLOW
@given(scalars, messages, st.none() | st.binary(max_size=16), st.binary(max_size=40))
def test_firmware_sign1_verifies_on_host(d, payload, kid, aad):
    signer = SoftwareSigner(d)
    msg = fcose.sign1(signer, payload, kid=kid, external_aad=aad)
    key = hcose.load_public_key(signer.public_key())
    assert hcose.verify_sign1(msg, key, aad) == payload
    parsed = hcose.parse_sign1(msg)
    assert parsed.kid == kid and parsed.protected == {1: -7}
    with pytest.raises(hcose.VerificationError, match="signature"):
        hcose.verify_sign1(msg, key, aad + b"x")


def _host_sign1(key, payload, kid, aad, protected=None, unprotected=None):
    # Built only with cbor2 + cryptography, as an independent producer.
    # RFC 9052 section 3: no protected parameters is a zero-length bstr, not h'a0'
    prot = cbor2.dumps({1: -7} if protected is None else protected) if protected != {} else b""
    tbs = cbor2.dumps(["Signature1", prot, aad, payload])
    r, s = decode_dss_signature(key.sign(tbs, ec.ECDSA(hashes.SHA256())))
    unprot = ({4: kid} if kid is not None else {}) if unprotected is None else unprotected
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return cbor2.dumps(cbor2.CBORTag(18, [prot, unprot, payload, sig]))


@SLOW
@given(scalars, messages, st.none() | st.binary(max_size=16), st.binary(max_size=40))
def test_host_sign1_verifies_on_firmware(d, payload, kid, aad):
    key = _crypto_key(d)
    msg = _host_sign1(key, payload, kid, aad)
    assert fcose.verify1(_raw_pub(key), msg, aad) == payload
    assert hcose.verify_sign1(msg, key.public_key(), aad) == payload
    with pytest.raises(fcose.CoseError, match="signature"):
        fcose.verify1(_raw_pub(key), msg, aad + b"x")


def _unprotected_span(msg):
    # Byte range of the unprotected map: after tag, array head and protected bstr.
    assert msg[:2] == b"\xd2\x84"
    plen = msg[2] - 0x40
    assert 0 <= plen < 24
    start = 3 + plen
    end = start + len(cbor2.dumps(cbor2.loads(msg[start:], allow_duplicate_keys=False)))
    return start, end


@settings(max_examples=20, deadline=None)
@given(scalars, st.binary(max_size=40), st.none() | st.binary(min_size=1, max_size=8))
def test_host_detects_tampering_of_any_signed_byte(d, payload, kid):
    signer = SoftwareSigner(d)
    msg = fcose.sign1(signer, payload, kid=kid)
    key = hcose.load_public_key(signer.public_key())
    lo, hi = _unprotected_span(msg)
    for pos in range(len(msg)):
        for flip in (0x01, 0x80):
            bad = bytearray(msg)
            bad[pos] ^= flip
            try:
                hcose.verify_sign1(bytes(bad), key)
            except hcose.VerificationError:
                continue
            # Only the unprotected header (kid) is outside the signature, per RFC 9052.
            assert lo <= pos < hi and kid is not None, (pos, flip)
    with pytest.raises(hcose.VerificationError):
        hcose.verify_sign1(msg[:-1], key)
    with pytest.raises(hcose.VerificationError, match="trailing"):
        hcose.verify_sign1(msg + b"\x00", key)


def test_host_verify_reasons():
    key = _crypto_key(7)
    pub = key.public_key()
    good = _host_sign1(key, b"p", b"k", b"")
    assert hcose.verify_sign1(good, pub) == b"p"
    cases = [
        (_host_sign1(key, b"p", None, b"", protected={1: -35}), "not ES256"),
        (_host_sign1(key, b"p", None, b"", protected={1: "ES256"}), "not ES256"),
        (_host_sign1(key, b"p", None, b"", protected={}), "no alg"),
        (_host_sign1(key, b"p", None, b"", protected={1: -7, 2: [3]}), "critical"),
        (_host_sign1(key, b"p", None, b"", unprotected={1: -7}), "both buckets"),
        (cbor2.dumps(cbor2.CBORTag(98, [b"", {}, b"p", []])), "tag 98"),
        (cbor2.dumps([b"", {}, b"p"]), "array of 4"),
        (cbor2.dumps(cbor2.CBORTag(18, [b"", {}, None, b""])), "detached"),
        (good[:-66] + b"\x58\x3f" + good[-63:], "64 bytes"),
        # protected {1: -7, 1: -7}: duplicate labels are malformed
        (b"\xd2\x84\x45\xa2\x01\x26\x01\x26" + good[6:], "protected header"),
        (b"\xff", "CBOR"),
    ]
    for msg, why in cases:
        with pytest.raises(hcose.VerificationError, match=why):
            hcose.verify_sign1(msg, pub)
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(hcose.VerificationError, match="P-256"):
        hcose.verify_sign1(good, other)
    # alg in the unprotected bucket is allowed by RFC 9052 and cannot change the algorithm
    alt = _host_sign1(key, b"p", None, b"", protected={}, unprotected={1: -7})
    assert hcose.verify_sign1(alt, pub) == b"p"
    assert fcose.verify1(_raw_pub(key), alt) == b"p"


def test_load_public_key_formats():
    key = _crypto_key(123456789)
    pub = key.public_key()
    raw = _raw_pub(key)
    nums = pub.public_numbers()
    der = pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pem = pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cose_key = cbor2.dumps({1: 2, -1: 1, -2: raw[1:33], -3: raw[33:], 3: -7, 2: b"kid"})
    for blob in (raw, der, pem, cose_key, bytearray(raw)):
        assert hcose.load_public_key(blob).public_numbers() == nums
    bad = [
        b"",
        raw[:-1],
        b"\x04" + raw[1:-1] + bytes([raw[-1] ^ 1]),  # off the curve
        cbor2.dumps({1: 2, -1: 2, -2: raw[1:33], -3: raw[33:]}),  # crv P-384
        cbor2.dumps({1: 1, -1: 1, -2: raw[1:33]}),  # OKP
        cbor2.dumps({1: 2, -1: 1, -2: raw[1:33], -3: True}),  # compressed
        cbor2.dumps({1: 2, -1: 1, -2: raw[1:33], -3: raw[33:], 3: -35}),
        cbor2.dumps({1: 2, -1: 1, -2: raw[1:33], -3: raw[33:]}) + b"\x00",
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        b"hello",
    ]
    for blob in bad:
        with pytest.raises(ValueError):
            hcose.load_public_key(blob)


@settings(max_examples=20, deadline=None)
@given(st.lists(messages, min_size=0, max_size=6))
def test_iter_sign1_splits_a_stream(payloads):
    signer = SoftwareSigner(99)
    msgs = [fcose.sign1(signer, p, kid=signer.key_id()) for p in payloads]
    stream = b"".join(msgs)
    assert list(hcose.iter_sign1(stream)) == msgs
    key = hcose.load_public_key(signer.public_key())
    assert [hcose.verify_sign1(m, key) for m in hcose.iter_sign1(stream)] == payloads
    if msgs:
        with pytest.raises(hcose.VerificationError, match="bad CBOR"):
            list(hcose.iter_sign1(stream[:-1]))
    with pytest.raises(hcose.VerificationError, match="not a tagged COSE_Sign1"):
        list(hcose.iter_sign1(stream + cbor2.dumps([1, 2])))


# --- COSE WG vectors on the host verifier -----------------------------------------------------


def _b64url(s):
    return binascii.a2b_base64(s.replace("-", "+").replace("_", "/") + "=" * (-len(s) % 4))


def _sign1_vectors():
    for sub in ("sign1-tests", "ecdsa-examples"):
        for name in sorted(os.listdir(os.path.join(VECTORS, sub))):
            with open(os.path.join(VECTORS, sub, name)) as f:
                v = json.load(f)
            if "sign0" in v["input"]:
                yield sub + "/" + name, v


def _vector_id(x):
    return x if isinstance(x, str) else ""


@pytest.mark.parametrize("name,v", list(_sign1_vectors()), ids=_vector_id)
def test_cose_wg_sign1_vectors_on_host(name, v):
    sign0 = v["input"]["sign0"]
    jwk = sign0["key"]
    if jwk["crv"] != "P-256":
        pytest.skip("%s: %s is out of scope (ES256 only)" % (name, jwk["crv"]))
    key = hcose.load_public_key(b"\x04" + _b64url(jwk["x"]) + _b64url(jwk["y"]))
    message = binascii.unhexlify(v["output"]["cbor"])
    aad = binascii.unhexlify(sign0.get("external", ""))
    if sign0["alg"] != "ES256":
        with pytest.raises(hcose.VerificationError, match="not ES256"):
            hcose.verify_sign1(message, key, aad)
    elif v.get("fail"):
        with pytest.raises(hcose.VerificationError):
            hcose.verify_sign1(message, key, aad)
    else:
        assert hcose.verify_sign1(message, key, aad) == v["input"]["plaintext"].encode()


# --- signing on the MicroPython unix port ---------------------------------------------------

MPY_SIGN = """
from emtag.firmware.signer import SoftwareSigner
from emtag.firmware import cose
import os
s = SoftwareSigner.generate(os.urandom)
print(s.public_key().hex())
for i in range(3):
    m = b"fix %d" % i
    print(m.hex(), s.sign(m).hex(), cose.sign1(s, m, kid=s.key_id(), external_aad=b"aad").hex())
"""


def test_micropython_signatures_verify_with_cryptography():
    if unixport.binary() is None:
        pytest.skip("MicroPython unix port not installed")
    proc = unixport.run(["-c", MPY_SIGN], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.split()
    raw = bytes.fromhex(lines[0])
    pub = hcose.load_public_key(raw)
    rows = [lines[i : i + 3] for i in range(1, len(lines), 3)]
    assert len(rows) == 3
    for m_hex, sig_hex, cose_hex in rows:
        msg, sig = bytes.fromhex(m_hex), bytes.fromhex(sig_hex)
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        pub.verify(encode_dss_signature(r, s), msg, ec.ECDSA(hashes.SHA256()))
        assert hcose.verify_sign1(bytes.fromhex(cose_hex), pub, b"aad") == msg
        assert hcose.parse_sign1(bytes.fromhex(cose_hex)).kid == hashlib.sha256(raw).digest()[:8]
