"""ECDSA over NIST P-256 with SHA-256, in pure Python for MicroPython and CPython.

Signing uses RFC 6979 deterministic nonces, so the tag never depends on its RNG at signing time
(a weak RNG there would leak the key); the RNG is needed only once, for key generation.

NOT CONSTANT-TIME. Python big-integer arithmetic, the comb lookups and the branches below all
take time that depends on secret values; nothing written in Python can avoid that. The threat is
an attacker with physical access timing or probing the tag while it signs. Boards with a secure
element (ATECC608 / SE050 class) must sign there instead, behind the same interface as
`signer.SoftwareSigner`; this module is the fallback and the reference.

Points are affine tuples (x, y); infinity never leaves this module. Internally points are
Jacobian (X, Y, Z) with x = X/Z^2, y = Y/Z^3 and Z == 0 for infinity.
"""

import hashlib

# Curve y^2 = x^3 - 3x + B over GF(P), base point G of prime order N (SEC 2 / FIPS 186-5).
P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
G = (GX, GY)

# Fixed-base comb for k*G: _TEETH bits of k are consumed per doubling. 5 teeth: 31 affine
# points (~10 KB of heap on the 64-bit unix port, ~4 KB on 32-bit boards), 52 doublings and
# <= 52 additions per multiplication. On the unix port 4..6 teeth sign equally fast (the two
# inversions and interpreter overhead dominate); 6 teeth would double the table.
_TEETH = 5
_COLS = (256 + _TEETH - 1) // _TEETH
_comb_table = None


def _inv(a, m):
    # Fermat inverse. Not pow(a, -1, m): MicroPython 1.29 returns 0 for it instead of raising.
    return pow(a, m - 2, m)


def _dbl(X1, Y1, Z1):
    # dbl-2001-b (a = -3), reduced only where the numbers would otherwise grow.
    p = P
    delta = Z1 * Z1 % p
    gamma = Y1 * Y1 % p
    beta = X1 * gamma % p
    alpha = 3 * (X1 - delta) * (X1 + delta) % p
    X3 = (alpha * alpha - 8 * beta) % p
    Z3 = (Y1 * Z1 << 1) % p
    Y3 = (alpha * (4 * beta - X3) - 8 * gamma * gamma) % p
    return X3, Y3, Z3


def _madd(X1, Y1, Z1, x2, y2):
    # Jacobian + affine. All inputs are reduced, so h == 0 exactly when x-coordinates match.
    if not Z1:
        return x2, y2, 1
    p = P
    z1z1 = Z1 * Z1 % p
    h = x2 * z1z1 % p - X1
    r = y2 * Z1 * z1z1 % p - Y1
    if not h:
        if not r:
            return _dbl(x2, y2, 1)
        return 1, 1, 0
    hh = h * h % p
    hhh = h * hh % p
    v = X1 * hh % p
    X3 = (r * r - hhh - 2 * v) % p
    return X3, (r * (v - X3) - Y1 * hhh) % p, Z1 * h % p


def _add(X1, Y1, Z1, X2, Y2, Z2):
    # Jacobian + Jacobian (add-1998-cmo-2 shape).
    if not Z1:
        return X2, Y2, Z2
    if not Z2:
        return X1, Y1, Z1
    p = P
    z1z1 = Z1 * Z1 % p
    z2z2 = Z2 * Z2 % p
    u1 = X1 * z2z2 % p
    s1 = Y1 * Z2 * z2z2 % p
    h = X2 * z1z1 % p - u1
    r = Y2 * Z1 * z1z1 % p - s1
    if not h:
        if not r:
            return _dbl(X1, Y1, Z1)
        return 1, 1, 0
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    X3 = (r * r - hhh - 2 * v) % p
    return X3, (r * (v - X3) - s1 * hhh) % p, Z1 * Z2 * h % p


def _to_affine(X, Y, Z):
    zi = _inv(Z, P)
    zi2 = zi * zi % P
    return X * zi2 % P, Y * zi2 * zi % P


def _comb():
    # Built on first use (~5 ms on the unix port): entry i is sum of 2^(j*_COLS) G over the
    # set bits j of i, converted to affine with one shared inversion (Montgomery's trick).
    global _comb_table
    if _comb_table is None:
        base = [(GX, GY, 1)]
        for _ in range(1, _TEETH):
            pt = base[-1]
            for _ in range(_COLS):
                pt = _dbl(*pt)
            base.append(pt)
        jac = [(0, 0, 0)]
        for i in range(1, 1 << _TEETH):
            low = i & -i
            j = 0
            while (1 << j) != low:
                j += 1
            jac.append(_add(*(jac[i - low] + base[j])))
        prefix = [1]
        for pt in jac[1:]:
            prefix.append(prefix[-1] * pt[2] % P)
        acc = _inv(prefix[-1], P)
        table: list = [None] * len(jac)
        for i in range(len(jac) - 1, 0, -1):
            zi = acc * prefix[i - 1] % P
            acc = acc * jac[i][2] % P
            zi2 = zi * zi % P
            table[i] = (jac[i][0] * zi2 % P, jac[i][1] * zi2 * zi % P)
        _comb_table = table
    return _comb_table


def _mul_g(k):
    """k*G in Jacobian coordinates, for 0 <= k < 2^256."""
    table = _comb()
    cols = _COLS
    mask = (1 << cols) - 1
    parts = [(k >> (j * cols)) & mask for j in range(_TEETH - 1, -1, -1)]
    X = Y = Z = 0
    for c in range(cols - 1, -1, -1):
        if Z:
            X, Y, Z = _dbl(X, Y, Z)
        idx = 0
        for part in parts:
            idx = (idx << 1) | ((part >> c) & 1)
        if idx:
            x2, y2 = table[idx]
            X, Y, Z = _madd(X, Y, Z, x2, y2)
    return X, Y, Z


def _mul(k, pt):
    """k*pt in Jacobian coordinates (fixed 4-bit window), for an affine point pt."""
    x, y = pt
    table = [(0, 0, 0), (x, y, 1), _dbl(x, y, 1)]
    for i in range(3, 16):
        table.append(_madd(*(table[i - 1] + (x, y))))
    X = Y = Z = 0
    for byte in k.to_bytes(32, "big"):
        for nib in (byte >> 4, byte & 15):
            if Z:
                X, Y, Z = _dbl(X, Y, Z)
                X, Y, Z = _dbl(X, Y, Z)
                X, Y, Z = _dbl(X, Y, Z)
                X, Y, Z = _dbl(X, Y, Z)
            if nib:
                X, Y, Z = _add(X, Y, Z, *table[nib])
    return X, Y, Z


def is_on_curve(pt):
    """True if pt = (x, y) is a point of P-256 (never the point at infinity)."""
    x, y = pt
    if not (0 <= x < P and 0 <= y < P):
        return False
    return (y * y - (x * x - 3) * x - B) % P == 0


def generate_private_key(random_bytes):
    """A private scalar in [1, N-1], by rejection sampling 32-byte draws of random_bytes(n)."""
    for _ in range(64):  # a working RNG is rejected with probability ~2^-32 per draw
        raw = random_bytes(32)
        if len(raw) != 32:
            raise ValueError("random_bytes(32) returned %d bytes" % len(raw))
        d = int.from_bytes(raw, "big")
        if 1 <= d < N:
            return d
    raise ValueError("random source keeps returning out-of-range values; refusing to make a key")


def public_point(d):
    """The public point d*G as an affine (x, y)."""
    if not 1 <= d < N:
        raise ValueError("private scalar out of range")
    return _to_affine(*_mul_g(d))


def encode_point(pt):
    """SEC1 uncompressed encoding, 65 bytes: 0x04 || x || y."""
    return b"\x04" + encode_point_raw(pt)


def encode_point_raw(pt):
    """Raw 64-byte x || y encoding."""
    return pt[0].to_bytes(32, "big") + pt[1].to_bytes(32, "big")


def decode_point(data):
    """Decode 65-byte SEC1 uncompressed or 64-byte raw x || y; the point must be on the curve."""
    if len(data) == 65:
        if data[0] != 4:
            raise ValueError("public key: only SEC1 uncompressed (0x04) points are accepted")
        data = data[1:]
    elif len(data) != 64:
        raise ValueError("public key: expected 64 or 65 bytes, got %d" % len(data))
    pt = (int.from_bytes(data[:32], "big"), int.from_bytes(data[32:], "big"))
    if not is_on_curve(pt):
        raise ValueError("public key: point is not on P-256")
    return pt


def _hmac(key, msg):
    # HMAC-SHA256 (RFC 2104); MicroPython has no hmac module. Keys here are always 32 bytes.
    k = key + bytes(32)
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in k))
    inner.update(msg)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in k))
    outer.update(inner.digest())
    return outer.digest()


def _nonces(d, digest):
    # RFC 6979 section 3.2 for qlen = hlen = 256, so bits2int is a plain conversion.
    x = d.to_bytes(32, "big")
    h = (int.from_bytes(digest, "big") % N).to_bytes(32, "big")
    v = b"\x01" * 32
    k = b"\x00" * 32
    k = _hmac(k, v + b"\x00" + x + h)
    v = _hmac(k, v)
    k = _hmac(k, v + b"\x01" + x + h)
    v = _hmac(k, v)
    while True:
        v = _hmac(k, v)
        cand = int.from_bytes(v, "big")
        if 1 <= cand < N:
            yield cand
        k = _hmac(k, v + b"\x00")
        v = _hmac(k, v)


def sign_digest(d, digest):
    """ECDSA signature (r, s) of a 32-byte SHA-256 digest with private scalar d (RFC 6979 k)."""
    if len(digest) != 32:
        raise ValueError("digest must be 32 bytes")
    if not 1 <= d < N:
        raise ValueError("private scalar out of range")
    e = int.from_bytes(digest, "big")
    for k in _nonces(d, digest):
        X, _, Z = _mul_g(k)
        zi = _inv(Z, P)
        r = X * zi * zi % P % N
        if not r:
            continue
        s = _inv(k, N) * (e + r * d) % N
        if s:
            return r, s
    raise AssertionError("unreachable")


def verify_digest(pub, digest, r, s):
    """True if (r, s) is a valid signature of the 32-byte digest under the affine point pub."""
    if len(digest) != 32:
        raise ValueError("digest must be 32 bytes")
    if not (0 < r < N and 0 < s < N) or not is_on_curve(pub):
        return False
    w = _inv(s, N)
    u1 = int.from_bytes(digest, "big") * w % N
    u2 = r * w % N
    X1, Y1, Z1 = _mul_g(u1)
    X, _, Z = _add(X1, Y1, Z1, *_mul(u2, pub))
    if not Z:
        return False
    # Compare x(R) mod N with r without an inversion: X == r * Z^2, or (r + N) * Z^2 if < P.
    zz = Z * Z % P
    if X == r * zz % P:
        return True
    return r + N < P and X == (r + N) * zz % P


def encode_signature(r, s):
    """Raw 64-byte r || s, as COSE and JOSE carry ECDSA signatures."""
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def decode_signature(sig):
    """(r, s) from 64-byte r || s. Range is checked by verify_digest, not here."""
    if len(sig) != 64:
        raise ValueError("signature must be 64 bytes, got %d" % len(sig))
    return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")


def sign(d, message):
    """64-byte r || s ECDSA-SHA256 signature of message."""
    return encode_signature(*sign_digest(d, hashlib.sha256(message).digest()))


def verify(pub, message, sig):
    """True if sig (64-byte r || s) is a valid ECDSA-SHA256 signature of message under pub."""
    if len(sig) != 64:
        return False
    r, s = decode_signature(sig)
    return verify_digest(pub, hashlib.sha256(message).digest(), r, s)
