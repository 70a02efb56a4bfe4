"""The tag's signing key, behind the interface a secure element implements too.

A signer provides:
    public_key() -> bytes   65-byte SEC1 uncompressed P-256 point (0x04 || x || y)
    key_id() -> bytes       first 8 bytes of SHA-256(public_key()): COSE kid and device id
    sign(message) -> bytes  64-byte r || s, ECDSA P-256 over SHA-256(message) (COSE ES256)

An ATECC608 / SE050 signer generates its key inside the chip and offers the same three
methods; nothing else in the firmware may depend on SoftwareSigner specifics.

The private scalar has no accessor. It lives in this object and in the key file written by
save() and nowhere else: the file format below is the only place it is ever serialised.
"""

import hashlib

from emtag.firmware import p256
from emtag.firmware.files import write_atomic

# Key file: magic "EMTK" | version 1 | curve 1 (P-256) | d (32 bytes, big-endian) |
# first 4 bytes of SHA-256 over everything before (catches a torn or corrupted file).
_HEADER = b"EMTK\x01\x01"
_FILE_LEN = len(_HEADER) + 32 + 4


def _read(fs, path):
    f = fs.open(path, "rb")
    try:
        return f.read(_FILE_LEN + 1)
    finally:
        f.close()


class SoftwareSigner:
    """ES256 signer holding its P-256 key in RAM (see the module docstring for the contract)."""

    def __init__(self, d):
        # d: private scalar in [1, N-1]. Use generate() or load(); this is for known-answer tests.
        self._pub = p256.encode_point(p256.public_point(d))
        self._d = d

    def __repr__(self):
        return "<SoftwareSigner kid=%s>" % self.key_id().hex()

    @classmethod
    def generate(cls, random_bytes):
        """A new key from random_bytes(n) -> n bytes (os.urandom or the board's TRNG)."""
        return cls(p256.generate_private_key(random_bytes))

    @classmethod
    def load(cls, fs, path):
        """Read a key written by save(). fs: an object with open(path, mode) (VfsLfs2 or an
        adapter). Raises OSError if no file, ValueError if the file is damaged."""
        try:
            data = _read(fs, path)
        except OSError:
            # Only save()'s remove-then-rename fallback can leave the key solely in the .tmp.
            data = _read(fs, path + ".tmp")
        if len(data) != _FILE_LEN or data[: len(_HEADER)] != _HEADER:
            raise ValueError("key file: wrong length or header")
        body = data[:-4]
        if hashlib.sha256(body).digest()[:4] != data[-4:]:
            raise ValueError("key file: checksum mismatch")
        d = int.from_bytes(body[len(_HEADER) :], "big")
        if not 1 <= d < p256.N:
            raise ValueError("key file: scalar out of range")
        return cls(d)

    def save(self, fs, path):
        """Write the key file atomically: path + ".tmp", then rename over path."""
        body = _HEADER + self._d.to_bytes(32, "big")
        write_atomic(fs, path, body + hashlib.sha256(body).digest()[:4])

    def public_key(self):
        return self._pub

    def key_id(self):
        return hashlib.sha256(self._pub).digest()[:8]

    def sign(self, message):
        return p256.sign(self._d, message)
