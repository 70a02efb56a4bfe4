import hashlib
import sys

from emtag.firmware import p256
from emtag.firmware.signer import SoftwareSigner

# RFC 6979 appendix A.2.5: ECDSA, 256 bits (prime field), NIST P-256, SHA-256.
RFC_X = int("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721", 16)
RFC_UX = int("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6", 16)
RFC_UY = int("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299", 16)
RFC_SIGS = (
    (
        b"sample",
        "A6E3C57DD01ABE90086538398355DD4C3B17AA873382B0F24D6129493D8AAD60",
        "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
        "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
    ),
    (
        b"test",
        "D16B6AE827F17175E040871A1C7EC3500192C4C92677336EC2537ACAEE0008E0",
        "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367",
        "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083",
    ),
)

# SEC 2 v2 section 2.4.2 (secp256r1), independent of the constants in p256.py.
SEC2_G = bytes.fromhex(
    "046B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296"
    "4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5"
)
SEC2_N = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)


def _counter_rng(seed):
    # Deterministic stand-in for os.urandom so failures reproduce.
    state = [hashlib.sha256(seed).digest()]

    def random_bytes(n):
        out = b""
        while len(out) < n:
            state[0] = hashlib.sha256(state[0]).digest()
            out += state[0]
        return out[:n]

    return random_bytes


def _raises(fn, *args):
    try:
        fn(*args)
    except ValueError:
        return True
    return False


def test_curve_constants_match_sec2():
    assert p256.encode_point(p256.G) == SEC2_G
    assert p256.N == SEC2_N
    assert p256.is_on_curve(p256.G)


def test_rfc6979_public_key():
    assert p256.public_point(RFC_X) == (RFC_UX, RFC_UY)
    assert p256.public_point(1) == p256.G


def test_rfc6979_nonces():
    for msg, k, _, _ in RFC_SIGS:
        digest = hashlib.sha256(msg).digest()
        assert next(p256._nonces(RFC_X, digest)) == int(k, 16), msg


def test_rfc6979_signatures():
    pub = (RFC_UX, RFC_UY)
    for msg, _, r, s in RFC_SIGS:
        digest = hashlib.sha256(msg).digest()
        assert p256.sign_digest(RFC_X, digest) == (int(r, 16), int(s, 16)), msg
        assert p256.verify_digest(pub, digest, int(r, 16), int(s, 16))
        sig = bytes.fromhex(r + s)
        assert p256.sign(RFC_X, msg) == sig
        assert p256.verify(pub, msg, sig)
        assert not p256.verify(pub, msg + b".", sig)


def test_group_order_and_negation():
    # n*G is infinity and (n-1)*G = -G: exercises the edge cases of the comb and additions.
    assert p256._mul_g(p256.N)[2] == 0
    assert p256._mul(p256.N, p256.G)[2] == 0
    assert p256._to_affine(*p256._mul_g(p256.N - 1)) == (p256.GX, p256.P - p256.GY)
    assert p256._to_affine(*p256._mul(p256.N - 1, p256.G)) == (p256.GX, p256.P - p256.GY)
    two_g = p256._to_affine(*p256._dbl(p256.GX, p256.GY, 1))
    assert p256.public_point(2) == two_g
    assert p256._to_affine(*p256._mul(2, p256.G)) == two_g
    assert p256.public_point(p256.N - 2) == (two_g[0], p256.P - two_g[1])


def test_fixed_and_variable_base_agree():
    rng = _counter_rng(b"agree")
    for _ in range(6):
        k = p256.generate_private_key(rng)
        assert p256._to_affine(*p256._mul_g(k)) == p256._to_affine(*p256._mul(k, p256.G))


def test_sign_verify_round_trip_and_tamper():
    rng = _counter_rng(b"round trip")
    for i in range(4):
        d = p256.generate_private_key(rng)
        pub = p256.public_point(d)
        msg = b"fix %d" % i
        sig = p256.sign(d, msg)
        assert len(sig) == 64
        assert p256.verify(pub, msg, sig)
        assert p256.sign(d, msg) == sig  # deterministic
        assert not p256.verify(pub, msg + b"\x00", sig)
        assert not p256.verify(pub, msg, sig[:-1])
        for pos in (0, 31, 32, 63):
            bad = bytearray(sig)
            bad[pos] ^= 0x01
            assert not p256.verify(pub, msg, bytes(bad)), pos
        other = p256.public_point(d % (p256.N - 1) + 1)
        assert not p256.verify(other, msg, sig)


def test_verify_rejects_out_of_range_r_s():
    digest = hashlib.sha256(b"sample").digest()
    pub = (RFC_UX, RFC_UY)
    r, s = int(RFC_SIGS[0][2], 16), int(RFC_SIGS[0][3], 16)
    n = p256.N
    for rr, ss in ((0, s), (r, 0), (r + n, s), (r, s + n), (n, s), (r, n)):
        assert not p256.verify_digest(pub, digest, rr, ss)
    # ECDSA is malleable: (r, n - s) is valid too. Consumers must not use signatures as ids.
    assert p256.verify_digest(pub, digest, r, n - s)
    assert _raises(p256.verify_digest, pub, digest[:31], r, s)


def test_point_encoding_and_validation():
    pub = p256.public_point(RFC_X)
    enc = p256.encode_point(pub)
    raw = p256.encode_point_raw(pub)
    assert enc == b"\x04" + RFC_UX.to_bytes(32, "big") + RFC_UY.to_bytes(32, "big")
    assert raw == enc[1:]
    assert p256.decode_point(enc) == pub
    assert p256.decode_point(raw) == pub
    bad_y = bytearray(enc)
    bad_y[-1] ^= 1
    p = p256.P
    # x = P + small and y > P would be "on the curve" mod P but are not canonical encodings.
    x_over = (p256.GX + p).to_bytes(33, "big")
    for bad in (
        bytes(bad_y),  # off the curve
        b"\x00",  # SEC1 infinity
        bytes(65),  # zero prefix / (0, 0)
        bytes(64),  # (0, 0) raw
        b"\x02" + enc[1:33],  # compressed: not accepted
        b"\x05" + enc[1:],  # unknown prefix
        enc[:-1],
        enc + b"\x00",
        b"\x04" + p256.GX.to_bytes(32, "big") + (p256.GY + p).to_bytes(33, "big")[1:],
        b"\x04" + x_over[1:] + p256.GY.to_bytes(32, "big"),
    ):
        assert _raises(p256.decode_point, bad), bad
    assert not p256.is_on_curve((p256.GX, p256.GY + p))
    assert not p256.is_on_curve((p256.GX, p256.GY + 1))
    # a signature against an off-curve "key" is refused, not evaluated
    r, s = int(RFC_SIGS[0][2], 16), int(RFC_SIGS[0][3], 16)
    digest = hashlib.sha256(b"sample").digest()
    assert not p256.verify_digest((RFC_UX, RFC_UY ^ 1), digest, r, s)


def test_private_key_generation_rejection_sampling():
    n = p256.N
    draws = [bytes(32), n.to_bytes(32, "big"), b"\xff" * 32, (n - 1).to_bytes(32, "big")]

    def scripted(k):
        assert k == 32
        return draws.pop(0)

    assert p256.generate_private_key(scripted) == n - 1
    assert not draws
    assert _raises(p256.generate_private_key, lambda k: bytes(k))  # stuck RNG
    assert _raises(p256.generate_private_key, lambda k: b"\x01" * (k - 1))  # short read
    seen = set()
    rng = _counter_rng(b"keys")
    for _ in range(20):
        d = p256.generate_private_key(rng)
        assert 1 <= d < n
        seen.add(d)
    assert len(seen) == 20
    assert _raises(p256.public_point, 0)
    assert _raises(p256.public_point, n)
    assert _raises(p256.sign_digest, n, bytes(32))
    assert _raises(p256.sign_digest, 1, bytes(31))


def test_signature_encoding():
    r, s = 1, p256.N - 1
    sig = p256.encode_signature(r, s)
    assert sig == bytes(31) + b"\x01" + (p256.N - 1).to_bytes(32, "big")
    assert p256.decode_signature(sig) == (r, s)
    assert _raises(p256.decode_signature, sig[:63])


# --- SoftwareSigner -------------------------------------------------------------------------


def test_signer_identity_and_signatures():
    s = SoftwareSigner(RFC_X)
    pub = s.public_key()
    assert pub == b"\x04" + RFC_UX.to_bytes(32, "big") + RFC_UY.to_bytes(32, "big")
    assert s.key_id() == hashlib.sha256(pub).digest()[:8]
    assert s.sign(b"sample") == bytes.fromhex(RFC_SIGS[0][2] + RFC_SIGS[0][3])
    g = SoftwareSigner.generate(_counter_rng(b"signer"))
    assert g.public_key() != pub and len(g.public_key()) == 65
    assert p256.verify(p256.decode_point(g.public_key()), b"m", g.sign(b"m"))
    assert RFC_UX.to_bytes(32, "big").hex() not in repr(s)
    assert RFC_X.to_bytes(32, "big").hex() not in repr(s)


def test_signer_exposes_no_private_key():
    # The public surface is the signer contract plus persistence; nothing returns the scalar.
    public = sorted(n for n in dir(SoftwareSigner(RFC_X)) if not n.startswith("_"))
    assert public == ["generate", "key_id", "load", "public_key", "save", "sign"], public


class _RamBlockDevice:
    # The block-device protocol vfs.VfsLfs2 expects (MicroPython "extended interface").
    def __init__(self, block_size, blocks):
        self.block_size = block_size
        self.blocks = blocks
        self.data = bytearray(block_size * blocks)

    def readblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        buf[:] = self.data[start : start + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        start = block * self.block_size + (offset or 0)
        self.data[start : start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.blocks
        if op == 5:  # block size
            return self.block_size
        if op == 6:  # erase
            return 0
        return None


def _littlefs():
    if sys.implementation.name == "micropython":
        import vfs

        bdev = _RamBlockDevice(512, 64)
        vfs.VfsLfs2.mkfs(bdev)
        return vfs.VfsLfs2(bdev)
    from littlefs import LittleFS

    return LittleFS(block_size=512, block_count=64)


def _read(fs, path):
    f = fs.open(path, "rb")
    data = f.read()
    f.close()
    return data


def _write(fs, path, data):
    f = fs.open(path, "wb")
    f.write(data)
    f.close()


def _exists(fs, path):
    try:
        fs.open(path, "rb").close()
    except OSError:
        return False
    return True


def test_key_file_round_trip_on_littlefs():
    fs = _littlefs()
    a = SoftwareSigner.generate(_counter_rng(b"a"))
    a.save(fs, "key")
    assert not _exists(fs, "key.tmp")
    loaded = SoftwareSigner.load(fs, "key")
    assert loaded.public_key() == a.public_key()
    assert loaded.sign(b"x") == a.sign(b"x")
    # the file holds the scalar (its only serialised form) under a fixed header
    data = _read(fs, "key")
    assert len(data) == 42 and data[:6] == b"EMTK\x01\x01"
    assert data[-4:] == hashlib.sha256(data[:-4]).digest()[:4]
    # saving over an existing key replaces it
    b = SoftwareSigner.generate(_counter_rng(b"b"))
    b.save(fs, "key")
    assert SoftwareSigner.load(fs, "key").public_key() == b.public_key()


def test_key_file_damage_is_detected():
    fs = _littlefs()
    SoftwareSigner(RFC_X).save(fs, "key")
    good = _read(fs, "key")
    for bad in (good[:-1], good + b"\x00", b"EMTX" + good[4:], bytes(42)):
        _write(fs, "key", bad)
        assert _raises(SoftwareSigner.load, fs, "key"), bad
    for pos in range(len(good)):
        bad = bytearray(good)
        bad[pos] ^= 0x10
        _write(fs, "key", bytes(bad))
        assert _raises(SoftwareSigner.load, fs, "key"), pos
    # a well-formed file with scalar 0 is refused too
    body = good[:6] + bytes(32)
    _write(fs, "key", body + hashlib.sha256(body).digest()[:4])
    assert _raises(SoftwareSigner.load, fs, "key")
    try:
        SoftwareSigner.load(fs, "missing")
    except OSError:
        pass
    else:
        raise AssertionError("loaded a missing key")


class _NoReplaceFs:
    # A filesystem whose rename refuses an existing target, optionally losing power after
    # remove(): checks save()'s fallback and load()'s recovery from the .tmp file.
    def __init__(self, fs, cut_after_remove=False):
        self.fs = fs
        self.cut = cut_after_remove

    def open(self, path, mode):
        return self.fs.open(path, mode)

    def remove(self, path):
        self.fs.remove(path)
        if self.cut:
            raise RuntimeError("power cut")

    def rename(self, old, new):
        if _exists(self.fs, new):
            raise OSError(17)
        self.fs.rename(old, new)


def test_key_file_save_without_replacing_rename():
    fs = _littlefs()
    a = SoftwareSigner.generate(_counter_rng(b"a"))
    b = SoftwareSigner.generate(_counter_rng(b"b"))
    a.save(_NoReplaceFs(fs), "key")
    b.save(_NoReplaceFs(fs), "key")
    assert SoftwareSigner.load(fs, "key").public_key() == b.public_key()
    try:
        a.save(_NoReplaceFs(fs, cut_after_remove=True), "key")
    except RuntimeError:
        pass
    assert not _exists(fs, "key")
    assert SoftwareSigner.load(fs, "key").public_key() == a.public_key()
