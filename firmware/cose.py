"""COSE_Sign1 (RFC 9052 section 4.2) with ES256 only, for signing on the tag.

    sign1(signer, payload, kid=None, external_aad=b"") -> bytes   tag 18 message
    verify1(public_key65, message, external_aad=b"") -> payload   or raises CoseError

Messages we make carry alg in the protected bucket ({1: -7}) and the kid, if any, in the
unprotected one ({4: kid}). verify1 accepts what RFC 9052 allows that cannot weaken ES256:
the message untagged, alg in either bucket, other non-critical header parameters. The
decoder is the project's strict one, so only deterministically encoded messages pass.
"""

import hashlib

from emtag.firmware import p256
from emtag.protocol import cbor

TAG_SIGN1 = 18
ALG_ES256 = -7
HDR_ALG = 1
HDR_CRIT = 2
HDR_KID = 4
_PROTECTED = b"\xa1\x01\x26"  # {1: -7}, deterministic encoding


class CoseError(ValueError):
    pass


def _sig_structure(protected, external_aad, payload):
    return cbor.dumps(["Signature1", protected, external_aad, payload])


def sign1(signer, payload, kid=None, external_aad=b"", extra=None):
    """A tagged COSE_Sign1 over payload (bytes) made by signer (see firmware/signer.py).
    extra: more unprotected header parameters (not covered by the signature)."""
    if not isinstance(payload, bytes) or not isinstance(external_aad, bytes):
        raise TypeError("payload and external_aad must be bytes")
    if kid is not None and not isinstance(kid, bytes):
        raise TypeError("kid must be bytes")
    sig = signer.sign(_sig_structure(_PROTECTED, external_aad, payload))
    unprotected = {} if kid is None else {HDR_KID: kid}
    if extra:
        unprotected.update(extra)
    return cbor.dumps(cbor.Tag(TAG_SIGN1, [_PROTECTED, unprotected, payload, sig]))


def verify1(public_key, message, external_aad=b""):
    """Verify a COSE_Sign1 ES256 message against a 65-byte SEC1 (or 64-byte raw) P-256 key and
    return its payload. Raises CoseError saying what is wrong."""
    if not isinstance(external_aad, bytes):
        raise TypeError("external_aad must be bytes")
    try:
        pub = p256.decode_point(public_key)
    except ValueError as e:
        raise CoseError("bad public key: %s" % e) from None
    try:
        obj = cbor.loads(message)
    except cbor.CBORError as e:
        raise CoseError("not a valid CBOR item: %s" % e) from None
    if isinstance(obj, cbor.Tag):
        if obj.tag != TAG_SIGN1:
            raise CoseError("CBOR tag %d is not COSE_Sign1 (18)" % obj.tag)
        obj = obj.value
    if not isinstance(obj, list) or len(obj) != 4:
        raise CoseError("COSE_Sign1 must be an array of 4 items")
    protected, unprotected, payload, sig = obj
    if not isinstance(protected, bytes):
        raise CoseError("protected header must be a byte string")
    if not isinstance(unprotected, dict):
        raise CoseError("unprotected header must be a map")
    if payload is None:
        raise CoseError("detached payload is not supported")
    if not isinstance(payload, bytes):
        raise CoseError("payload must be a byte string")
    if not isinstance(sig, bytes):
        raise CoseError("signature must be a byte string")
    prot = {}
    if protected:
        try:
            prot = cbor.loads(protected)
        except cbor.CBORError as e:
            raise CoseError("protected header is not valid CBOR: %s" % e) from None
        if not isinstance(prot, dict):
            raise CoseError("protected header must encode a map")
    for label in prot:
        if label in unprotected:
            raise CoseError("header label %r in both buckets" % (label,))
    if HDR_CRIT in prot or HDR_CRIT in unprotected:
        raise CoseError("critical header parameters are not supported")
    alg = prot[HDR_ALG] if HDR_ALG in prot else unprotected.get(HDR_ALG)
    if alg is None:
        raise CoseError("no alg header parameter")
    if type(alg) is not int or alg != ALG_ES256:
        raise CoseError("alg %r is not ES256 (-7)" % (alg,))
    if len(sig) != 64:
        raise CoseError("ES256 signature must be 64 bytes, got %d" % len(sig))
    r, s = p256.decode_signature(sig)
    # RFC 9052 s3: an empty map, even if sent as h'a0', is signed as a zero-length bstr.
    if not prot:
        protected = b""
    digest = hashlib.sha256(_sig_structure(protected, external_aad, payload)).digest()
    if not p256.verify_digest(pub, digest, r, s):
        raise CoseError("signature does not verify")
    return payload
