"""Evidence streams for the ingest and verify benchmarks: what tags log and upload, made by
the firmware's own evidence chain (firmware/evidence.py), a fix every 15 s in blocks of 60
records sealed by a checkpoint (as while the link is down), signed with `cryptography` (the
same ES256 signatures as the tag's SoftwareSigner, made faster, so a benchmark's setup takes
seconds)."""

import hashlib
import random

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from emtag.firmware import evidence
from emtag.protocol import records

T0 = 1772442000  # 2026-03-02T09:00:00Z


class FastSigner:
    """firmware/signer.py's interface over a `cryptography` key."""

    def __init__(self, seed):
        d = random.Random(seed).randrange(1, 2**255)
        self.key = ec.derive_private_key(d, ec.SECP256R1())
        self._pub = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def public_key(self):
        return self._pub

    def key_id(self):
        return hashlib.sha256(self._pub).digest()[:8]

    def sign(self, message):
        r, s = decode_dss_signature(self.key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class RandomFix:
    """The i-th fix of a test stream (15 s apart), every field drawn from rng; positions
    within `spread` (degrees x 1e7) of a point in Manchester."""

    def __init__(self, i, rng, spread=50000):
        self.t, self.t_ms = T0 + 15 * i, rng.randrange(1000)
        self.lat = 534631000 + rng.randrange(-spread, spread)
        self.lon = -22913000 + rng.randrange(-spread, spread)
        self.acc_cm, self.fix, self.sats = rng.randrange(200, 3000), 3, rng.randrange(4, 14)
        self.hdop = rng.randrange(60, 400)
        self.speed_mmps = rng.randrange(0, 2000)
        self.course_cdeg = rng.randrange(36000)
        self.alt_cm = rng.randrange(-1000, 30000)


def stream(seed, n_fixes):
    """(signer, [(seq, wire), ...]) of one tag: n_fixes fixes, sealed every 60 records."""
    sg = FastSigner(seed)
    chain = evidence.Chain(sg)
    rng = random.Random(seed)
    out = []

    class Log:  # the record log's two appends, keeping the wire items it reads back
        def append(self, seq, wire):
            out.append((seq, bytes(wire)))

        def append_fix(self, seq, entry):
            n = entry[0]
            out.append((seq, records.fix_header(n) + bytes(entry[1 : 1 + n])))

    log = Log()
    now = 0
    for i in range(n_fixes):
        now += 15000
        chain.add_fix(RandomFix(i, rng), now, log)
        if chain.seal_due(now, False):
            chain.checkpoint(now, T0 + now // 1000, log)
    chain.checkpoint(now, T0 + now // 1000, log)
    return sg, out


def fixes_in(items):
    return sum(1 for _, w in items if w[0] != 0xD2)
