"""Fitting and monitoring-centre keys on the host, and the register of provisioned tags.

A key store is a directory (default $EMTAG_KEYS, else ~/.config/emtag/keys, mode 700):

    NAME.key.pem     P-256 private key, PKCS#8 PEM, mode 600 (absent for an imported key)
    NAME.pub.pem     its public key, SubjectPublicKeyInfo PEM
    NAME.json        {"role": "centre" | "fitter", "kid": hex, "created": ISO 8601}
    NAME.cert        fitter only: delegation certificate, a COSE_Sign1 by the centre's key
                     over ["emtag-delegation", 1, public key, device id or null, [commands]]
                     (protocol/console.cddl)
    tags/DEVICE.json a provisioned tag: device id, public key, serial, anchor, when

Roles. The monitoring centre's key is the trust anchor a tag stores at provisioning; it may
run every command. A fitting engineer's key is trusted by a tag only through a certificate
the centre's key signed, listing the commands it may run (never `devmode`, never a forced
decommission). In production the centre's private key stays at the centre (`emtag keys
certify` runs there) and a fitter's laptop holds its own key, its certificate and the
centre's public key (`emtag keys import`).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from emtag.firmware import commands as fw_commands
from emtag.firmware import cose as fw_cose
from emtag.host import cose as host_cose
from emtag.protocol import cbor

ROLES = ("centre", "fitter")
FITTER_COMMANDS = tuple(c for c in fw_commands.COMMANDS if c not in fw_commands.ANCHOR_ONLY)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class KeysError(ValueError):
    """A key store problem the user can act on."""


def default_dir() -> Path:
    env = os.environ.get("EMTAG_KEYS")
    if env:
        return Path(env)
    return Path.home() / ".config" / "emtag" / "keys"


def sec1(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def kid_of(pub65: bytes) -> bytes:
    return fw_commands.key_id(pub65)


class HostSigner:
    """The firmware's signer interface (firmware/signer.py) over a cryptography key, so the
    host makes COSE_Sign1 messages with the same code as the tag (firmware/cose.py)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey):
        self._key = private_key
        self._pub = sec1(private_key.public_key())

    def public_key(self) -> bytes:
        return self._pub

    def key_id(self) -> bytes:
        return kid_of(self._pub)

    def sign(self, message: bytes) -> bytes:
        r, s = decode_dss_signature(self._key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def make_cert(centre: HostSigner, subject_pub: bytes, device: bytes | None, allowed) -> bytes:
    """A delegation certificate: centre lets subject sign `allowed` on `device` (or any)."""
    allowed = list(allowed)
    for c in allowed:
        if c not in FITTER_COMMANDS:
            raise KeysError(
                "a fitter cannot be allowed %r (allowed: %s)" % (c, ", ".join(FITTER_COMMANDS))
            )
    if len(subject_pub) != 65:
        raise KeysError("subject must be a 65-byte SEC1 public key")
    if device is not None and len(device) != 8:
        raise KeysError("device id must be 8 bytes (16 hex digits)")
    body = [fw_commands.CERT_LABEL, fw_commands.CERT_VERSION, subject_pub, device, allowed]
    return fw_cose.sign1(centre, cbor.dumps(body), kid=centre.key_id())


def read_cert(cert: bytes, centre_pub: bytes | None = None) -> dict:
    """A certificate's contents; verified against centre_pub when given (KeysError if not)."""
    try:
        if centre_pub is not None:
            payload = host_cose.verify_sign1(cert, host_cose.load_public_key(centre_pub))
        else:
            payload = host_cose.parse_sign1(cert).payload
        body = cbor.loads(payload)
        label, version, subject, device, allowed = body
    except (ValueError, TypeError) as e:
        raise KeysError("not a valid delegation certificate: %s" % e) from None
    if label != fw_commands.CERT_LABEL or version != fw_commands.CERT_VERSION:
        raise KeysError("not an emtag delegation certificate, version 1")
    issuer = host_cose.parse_sign1(cert).kid
    return {"subject": subject, "device": device, "commands": allowed, "issuer": issuer}


@dataclass
class Entry:
    name: str
    role: str
    public: bytes  # 65-byte SEC1
    private_path: Path | None
    cert: bytes | None
    created: str

    @property
    def kid(self) -> bytes:
        return kid_of(self.public)

    def signer(self) -> HostSigner:
        if self.private_path is None:
            raise KeysError("key %r has no private half here (imported public key)" % self.name)
        try:
            key = serialization.load_pem_private_key(self.private_path.read_bytes(), None)
        except (OSError, ValueError) as e:
            raise KeysError("cannot read %s: %s" % (self.private_path, e)) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeysError("%s is not an EC private key" % self.private_path)
        return HostSigner(key)

    def loose_permissions(self) -> bool:
        if self.private_path is None:
            return False
        return bool(self.private_path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class KeyStore:
    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_dir()

    def _ensure(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _check_name(self, name: str) -> None:
        if not _NAME.match(name):
            raise KeysError("key names are 1-64 of letters, digits, '.', '_' and '-'")
        if (self.path / (name + ".json")).exists():
            raise KeysError("key %r exists already in %s" % (name, self.path))

    def _save(self, name, role, public, private_pem=None, cert=None) -> Entry:
        self._ensure()
        if private_pem is not None:
            _write_private(self.path / (name + ".key.pem"), private_pem)
        pub = host_cose.load_public_key(public)
        (self.path / (name + ".pub.pem")).write_bytes(
            pub.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        if cert is not None:
            (self.path / (name + ".cert")).write_bytes(cert)
        meta = {"role": role, "kid": kid_of(public).hex(), "created": _now()}
        (self.path / (name + ".json")).write_text(json.dumps(meta, indent=1) + "\n")
        return self.get(name)

    def new(self, name, role, centre=None, device=None, allowed=FITTER_COMMANDS) -> Entry:
        """A new key pair. A fitter's key is certified at once by the centre key `centre`
        if this store holds it; without `centre` it waits for a certificate (add_cert)."""
        if role not in ROLES:
            raise KeysError("role must be one of %s" % ", ".join(ROLES))
        self._check_name(name)
        if centre is not None and role != "fitter":
            raise KeysError("only a fitter key is certified by a centre key")
        key = ec.generate_private_key(ec.SECP256R1())
        signer = HostSigner(key)
        cert = None
        if centre is not None:
            cert = make_cert(
                self.get(centre, role="centre").signer(), signer.public_key(), device, allowed
            )
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return self._save(name, role, signer.public_key(), pem, cert)

    def certify(self, centre, subject_pub: bytes, device=None, allowed=FITTER_COMMANDS) -> bytes:
        return make_cert(self.get(centre, role="centre").signer(), subject_pub, device, allowed)

    def import_key(self, name, public_data: bytes, cert: bytes | None = None) -> Entry:
        """A public key from elsewhere: the centre's (anchor for provisioning), or with a
        certificate (then it is a fitter's key whose private half lives elsewhere)."""
        self._check_name(name)
        try:
            pub = sec1(host_cose.load_public_key(public_data))
        except ValueError as e:
            raise KeysError("cannot read the public key: %s" % e) from None
        if cert is not None and read_cert(cert)["subject"] != pub:
            raise KeysError("the certificate is for another key")
        return self._save(name, "fitter" if cert else "centre", pub, None, cert)

    def add_cert(self, name, cert: bytes) -> Entry:
        """Install the certificate the centre issued for our own key `name`."""
        e = self.get(name)
        if read_cert(cert)["subject"] != e.public:
            raise KeysError("the certificate is for another key")
        (self.path / (name + ".cert")).write_bytes(cert)
        meta = json.loads((self.path / (name + ".json")).read_text())
        meta["role"] = "fitter"
        (self.path / (name + ".json")).write_text(json.dumps(meta, indent=1) + "\n")
        return self.get(name)

    def get(self, name, role=None) -> Entry:
        meta_path = self.path / (name + ".json")
        try:
            meta = json.loads(meta_path.read_text())
            pub = sec1(host_cose.load_public_key((self.path / (name + ".pub.pem")).read_bytes()))
        except FileNotFoundError:
            raise KeysError("no key %r in %s (emtag keys list)" % (name, self.path)) from None
        except ValueError as e:
            raise KeysError("key %r is damaged: %s" % (name, e)) from None
        priv = self.path / (name + ".key.pem")
        cert_path = self.path / (name + ".cert")
        e = Entry(
            name,
            meta.get("role", "?"),
            pub,
            priv if priv.exists() else None,
            cert_path.read_bytes() if cert_path.exists() else None,
            meta.get("created", ""),
        )
        if role is not None and e.role != role:
            raise KeysError("key %r is a %s key, not a %s key" % (name, e.role, role))
        return e

    def list(self) -> list[Entry]:
        if not self.path.is_dir():
            return []
        return [self.get(p.name[:-5]) for p in sorted(self.path.glob("*.json"))]

    def find(self, role=None, private=None) -> list[Entry]:
        return [
            e
            for e in self.list()
            if (role is None or e.role == role)
            and (private is None or (e.private_path is not None) == private)
        ]

    def by_kid(self, kid: bytes) -> Entry | None:
        for e in self.list():
            if e.kid == kid:
                return e
        return None

    # the register of provisioned tags
    def record_tag(self, device: bytes, pubkey: bytes, **fields) -> Path:
        d = self.path / "tags"
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        rec = {"device": device.hex(), "pubkey": pubkey.hex(), "recorded": _now(), **fields}
        path = d / (device.hex() + ".json")
        path.write_text(json.dumps(rec, indent=1, sort_keys=True) + "\n")
        return path

    def tag(self, device: bytes) -> dict | None:
        path = self.path / "tags" / (device.hex() + ".json")
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
