"""Host-side COSE_Sign1 ES256 verification with cbor2 and cryptography.

Deliberately independent of the firmware's CBOR codec and P-256 code, so that each side
checks the other in tests and a bug in one cannot hide in both.

    load_public_key(data) -> EllipticCurvePublicKey   PEM, DER, raw SEC1 or COSE_Key
    verify_sign1(message, public_key, external_aad=b"") -> payload bytes
    iter_sign1(data) -> iterator of bytes               split concatenated tagged messages
    parse_sign1(message) -> Sign1                       structure only, nothing verified
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

TAG_SIGN1 = 18
ALG_ES256 = -7
HDR_ALG, HDR_CRIT, HDR_KID = 1, 2, 4
MAX_DEPTH = 16


class VerificationError(ValueError):
    """The message is malformed, not ES256, or its signature does not verify."""


class Sign1(NamedTuple):
    protected_bytes: bytes  # as carried in the message
    protected: Mapping[Any, Any]
    unprotected: Mapping[Any, Any]
    payload: bytes
    signature: bytes

    @property
    def kid(self) -> bytes | None:
        """Key id from either bucket (it is normally unprotected, so not authenticated)."""
        kid = self.protected.get(HDR_KID, self.unprotected.get(HDR_KID))
        return kid if isinstance(kid, bytes) else None


def _decoder(fp: io.BytesIO) -> cbor2.CBORDecoder:
    # read_size=1: the stream position must end exactly after the item (iter_sign1 slices
    # on it). Duplicate map labels make a COSE message malformed (RFC 9052 section 3).
    return cbor2.CBORDecoder(fp, read_size=1, max_depth=MAX_DEPTH, allow_duplicate_keys=False)


_DECODE_ERRORS = (cbor2.CBORDecodeError, ValueError, TypeError)


def _decode(data: bytes) -> Any:
    # cbor2.loads ignores trailing bytes; the decoder on a stream lets us refuse them.
    fp = io.BytesIO(data)
    obj = _decoder(fp).decode()
    if fp.tell() != len(data):
        raise VerificationError("%d trailing bytes after the CBOR item" % (len(data) - fp.tell()))
    return obj


def parse_sign1(message: bytes) -> Sign1:
    """Check the COSE_Sign1 structure (tagged 18 or untagged) and split it; no crypto."""
    try:
        obj = _decode(bytes(message))
    except _DECODE_ERRORS as e:
        raise VerificationError("not a valid CBOR item: %s" % e) from None
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != TAG_SIGN1:
            raise VerificationError("CBOR tag %d is not COSE_Sign1 (18)" % obj.tag)
        obj = obj.value  # cbor2 gives a tuple inside a tag, a list outside
    if not isinstance(obj, (list, tuple)) or len(obj) != 4:
        raise VerificationError("COSE_Sign1 must be an array of 4 items")
    protected_bytes, unprotected, payload, signature = obj
    if not isinstance(protected_bytes, bytes):
        raise VerificationError("protected header must be a byte string")
    if not isinstance(unprotected, Mapping):
        raise VerificationError("unprotected header must be a map")
    if payload is None:
        raise VerificationError("detached payload is not supported")
    if not isinstance(payload, bytes):
        raise VerificationError("payload must be a byte string")
    if not isinstance(signature, bytes):
        raise VerificationError("signature must be a byte string")
    protected: Any = {}
    if protected_bytes:
        try:
            protected = _decode(protected_bytes)
        except _DECODE_ERRORS as e:
            raise VerificationError("protected header is not valid CBOR: %s" % e) from None
        if not isinstance(protected, Mapping):
            raise VerificationError("protected header must encode a map")
    both = set(protected) & set(unprotected)
    if both:
        raise VerificationError("header labels %s in both buckets" % sorted(both, key=repr))
    return Sign1(protected_bytes, protected, unprotected, payload, signature)


def _sig_structure(protected_bytes: bytes, external_aad: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected_bytes, external_aad, payload])


def verify_sign1(
    message: bytes, public_key: ec.EllipticCurvePublicKey, external_aad: bytes = b""
) -> bytes:
    """Verify an ES256 COSE_Sign1 and return its payload; VerificationError says why not."""
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise VerificationError("public key is not a P-256 key")
    msg = parse_sign1(message)
    if HDR_CRIT in msg.protected or HDR_CRIT in msg.unprotected:
        raise VerificationError("critical header parameters are not supported")
    alg = msg.protected.get(HDR_ALG, msg.unprotected.get(HDR_ALG))
    if alg is None:
        raise VerificationError("no alg header parameter")
    if type(alg) is not int or alg != ALG_ES256:
        raise VerificationError("alg %r is not ES256 (-7)" % (alg,))
    if len(msg.signature) != 64:
        raise VerificationError("ES256 signature must be 64 bytes, got %d" % len(msg.signature))
    r = int.from_bytes(msg.signature[:32], "big")
    s = int.from_bytes(msg.signature[32:], "big")
    # RFC 9052 section 3: an empty protected map, even if sent as h'a0', is signed as h''.
    protected_bytes = msg.protected_bytes if msg.protected else b""
    tbs = _sig_structure(protected_bytes, bytes(external_aad), msg.payload)
    try:
        public_key.verify(encode_dss_signature(r, s), tbs, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise VerificationError("signature does not verify") from None
    return msg.payload


def load_public_key(data: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from PEM, DER SubjectPublicKeyInfo, 65-byte SEC1 uncompressed, or a
    COSE_Key map (kty EC2, crv P-256). Raises ValueError for anything else."""
    data = bytes(data)
    if data.lstrip().startswith(b"-----BEGIN"):
        key: Any = serialization.load_pem_public_key(data)
    elif len(data) == 65 and data[0] == 4:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), data)
    elif data[:1] == b"\x30":  # DER SEQUENCE; a CBOR map starts with 0xa0..0xbf
        key = serialization.load_der_public_key(data)
    elif data[:1] and 0xA0 <= data[0] <= 0xBF:
        key = _cose_key(data)
    else:
        raise ValueError("unrecognised public key format (PEM, DER, SEC1 or COSE_Key)")
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not a P-256 public key")
    return key


def _cose_key(data: bytes) -> ec.EllipticCurvePublicKey:
    try:
        m = _decode(data)
    except _DECODE_ERRORS as e:
        raise ValueError("COSE_Key is not valid CBOR: %s" % e) from None
    if not isinstance(m, Mapping):
        raise ValueError("COSE_Key must be a map")
    if m.get(1) != 2:  # kty
        raise ValueError("COSE_Key kty must be EC2 (2)")
    if m.get(-1) != 1:  # crv
        raise ValueError("COSE_Key crv must be P-256 (1)")
    if m.get(3, ALG_ES256) != ALG_ES256:
        raise ValueError("COSE_Key alg is not ES256")
    x, y = m.get(-2), m.get(-3)
    if not (isinstance(x, bytes) and isinstance(y, bytes) and len(x) == len(y) == 32):
        raise ValueError("COSE_Key needs 32-byte x (-2) and y (-3); compressed y unsupported")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)


def iter_sign1(data: bytes) -> Iterator[bytes]:
    """Yield each message of a concatenation of tagged COSE_Sign1 messages, as bytes.
    Raises VerificationError at the first item that is not one (or is truncated)."""
    fp = io.BytesIO(bytes(data))
    end = len(data)
    while fp.tell() < end:
        start = fp.tell()
        try:
            obj = _decoder(fp).decode()
        except _DECODE_ERRORS as e:
            raise VerificationError("bad CBOR at byte %d: %s" % (start, e)) from None
        if not (isinstance(obj, cbor2.CBORTag) and obj.tag == TAG_SIGN1):
            raise VerificationError("item at byte %d is not a tagged COSE_Sign1" % start)
        yield bytes(data[start : fp.tell()])
