"""`emtag verify` on what an adversary hands it: each case once said PASS or a traceback.
Now each is a clear FAIL (exit 1) or a usage error (exit 2), never a traceback, in bounded
memory."""

import hashlib
import io
import json
import struct
import subprocess
import sys
import zipfile

import pytest
from evidence_streams import make_stream
from test_verify_cli import fill_store, write_keys

from emtag.cli import main as cli


def verify(*args, capsys=None):
    """In a subprocess: (exit status, output, peak RSS in MB)."""
    code = (  # VmHWM: this program's own peak (getrusage would count the forking parent's)
        "import sys\n"
        "from emtag.cli import main as cli\n"
        "rc = cli.main(sys.argv[1:])\n"
        "sys.stdout.flush()\n"
        "hwm = [x for x in open('/proc/self/status') if x.startswith('VmHWM')][0].split()[1]\n"
        "print('peak_rss_mb=%.1f' % (int(hwm) / 1024), file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, "verify", *args], capture_output=True, text=True, timeout=120
    )
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    rss = float(r.stderr.rsplit("peak_rss_mb=", 1)[1]) if "peak_rss_mb=" in r.stderr else 0.0
    return r.returncode, r.stdout + r.stderr, rss


@pytest.fixture(scope="module")
def tag():
    return make_stream(1, 20, 6, alerts=(4, 13))


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tag):
    """A good bundle signed by a centre key, the tag's key and the centre's public key."""
    from emtag.host import keys

    sg, items = tag
    d = tmp_path_factory.mktemp("bundle")
    db = str(d / "store.sqlite")
    fill_store(db, sg, items)
    ks = keys.KeyStore(d / "keys")
    ks.new("centre", "centre")
    path = d / "good.zip"
    assert cli.main(["export", "--store", db, "--device", sg.key_id().hex(), "--from", "0",
                     "--to", "9999999999", "-o", str(path), "--sign", "centre",
                     "--keys", str(ks.path)]) == 0  # fmt: skip
    return {
        "bundle": path,
        "key": write_keys(d, sg)["pem"],
        "centre": str(ks.path / "centre.pub.pem"),
        "ks": ks,
    }


def members(path):
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def write_zip(path, body, compress=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compress) as z:
        for n, b in body.items():
            z.writestr(n, b)
    return str(path)


def sign_manifest(ks, manifest_bytes):
    from emtag.firmware import cose

    signer = ks.get("centre", role="centre").signer()
    return cose.sign1(signer, manifest_bytes, kid=signer.key_id())


def test_an_empty_stream_is_not_a_pass(tmp_path, exported):
    empty = tmp_path / "empty.cbor"
    empty.write_bytes(b"")
    code, out, _ = verify("--key", exported["key"], str(empty))
    assert code == 1 and "no records" in out and "PASS" not in out


def test_records_that_differ_from_a_centre_signed_manifest_fail(tmp_path, exported):
    body = members(exported["bundle"])  # the same records, a manifest naming other bytes
    m = json.loads(body["manifest.json"])
    m["records"]["sha256"] = hashlib.sha256(b"other").hexdigest()
    body["manifest.json"] = (json.dumps(m, indent=2) + "\n").encode()
    body["manifest.sig"] = sign_manifest(exported["ks"], body["manifest.json"])
    bad = write_zip(tmp_path / "sha.zip", body)
    code, out, _ = verify("--key", exported["key"], "--centre", exported["centre"], bad)
    assert code == 1 and "differs from the SHA-256" in out
    code, out, _ = verify("--key", exported["key"], bad)  # and without --centre too
    assert code == 1 and "differs from the SHA-256" in out


def test_the_manifests_device_must_be_the_keys(tmp_path, exported):
    body = members(exported["bundle"])
    m = json.loads(body["manifest.json"])
    m["device"] = "00" * 8
    body["manifest.json"] = (json.dumps(m) + "\n").encode()
    body["manifest.sig"] = sign_manifest(exported["ks"], body["manifest.json"])
    bad = write_zip(tmp_path / "dev.zip", body)
    code, out, _ = verify("--key", exported["key"], "--centre", exported["centre"], bad)
    assert code == 1 and "names device 0000000000000000" in out


@pytest.mark.parametrize(
    "change, text",
    [
        (lambda m: m.update(first_seq=m["last_seq"] + 1), "is after last_seq"),
        (lambda m: m.update(first_seq="1"), "bad first_seq"),
        (lambda m: m.update(last_seq=2**70), "bad last_seq"),
        (lambda m: m.update(records=[1, 2]), "bad records"),
        (lambda m: m["records"].update(count=-1), "bad records"),
        (lambda m: m.update(device=5), "bad device"),
        (lambda m: m.update(window="x"), "bad window"),
    ],
    ids=["first>last", "str seq", "huge seq", "records list", "negative count", "int device",
         "str window"],  # fmt: skip
)
def test_a_manifest_of_the_wrong_shape_fails_clearly(tmp_path, exported, change, text):
    body = members(exported["bundle"])
    m = json.loads(body["manifest.json"])
    change(m)
    body["manifest.json"] = json.dumps(m).encode()
    code, out, _ = verify("--key", exported["key"], write_zip(tmp_path / "m.zip", body))
    assert code == 1 and text in out


def test_deep_nesting_and_huge_numbers_in_the_manifest_fail_clearly(tmp_path, exported):
    body = members(exported["bundle"])
    for name, data in (
        ("deep", b"[" * 100000 + b"]" * 100000),
        ("digits", b'{"format": 1' + b"0" * 5000 + b"}"),
        ("not utf-8", b"\xff\xfe{"),
    ):
        body["manifest.json"] = data
        code, out, _ = verify("--key", exported["key"], write_zip(tmp_path / "n.zip", body))
        assert code == 1 and "manifest.json" in out, name


def _patch_both_headers(data, name, offset, value):
    """Set a 2-byte field in the member's local header and central directory entry."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        info = z.getinfo(name)
    struct.pack_into("<H", out, info.header_offset + offset, value)
    cd = data.find(b"PK\x01\x02")
    while cd != -1:
        n = struct.unpack_from("<H", out, cd + 28)[0]
        if bytes(out[cd + 46 : cd + 46 + n]) == name.encode():
            struct.pack_into("<H", out, cd + offset + 2, value)  # CD fields sit 2 bytes later
            break
        cd = data.find(b"PK\x01\x02", cd + 4)
    return bytes(out)


def test_damaged_archives_fail_clearly(tmp_path, exported):
    good = exported["bundle"].read_bytes()
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        info = z.getinfo("records.cbor")
    cases = {}
    bad = bytearray(good)  # corrupt deflate data inside records.cbor
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 5, start + 25):
        bad[i] ^= 0x55
    cases["corrupt deflate"] = bytes(bad)
    cases["unknown compression"] = _patch_both_headers(good, "records.cbor", 8, 99)
    cases["encrypted"] = _patch_both_headers(good, "records.cbor", 6, 0x0001)
    cases["truncated"] = good[: len(good) // 2]
    body = members(exported["bundle"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_BZIP2) as z:
        for n, b in body.items():
            z.writestr(n, b)
    cases["bzip2"] = buf.getvalue()
    for name, data in cases.items():
        p = tmp_path / "damaged.zip"
        p.write_bytes(data)
        code, out, _ = verify("--key", exported["key"], str(p))
        assert code == 1 and "FAIL" in out, (name, out)


def test_a_zip_bomb_is_read_in_bounded_memory(tmp_path, exported):
    body = members(exported["bundle"])
    p = tmp_path / "bomb.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        for n, b in body.items():
            if n != "records.cbor":
                z.writestr(n, b)
        with z.open("records.cbor", "w") as f:
            chunk = body["records.cbor"] + b"\x00" * (1 << 20)
            for _ in range(400):  # 400 MB of records and zeros, ~0.4 MB compressed
                f.write(chunk)
    assert p.stat().st_size < 4 << 20
    code, out, rss = verify("--key", exported["key"], str(p))
    assert code == 1 and "FAIL" in out
    assert rss < 150, rss  # the member is never held whole


def test_a_big_stream_is_verified_in_bounded_memory(tmp_path):
    """Ten times the records, about the same memory (verify() over a whole stream at once
    holds ~3 KB a record: 50 MB more here)."""
    sg, items = make_stream(3, 20000, 15)
    key = write_keys(tmp_path, sg)["pem"]
    peaks = []
    for part in (items[:2000], items):
        f = tmp_path / "big.cbor"
        f.write_bytes(b"".join(part))
        code, out, rss = verify("--key", key, str(f))
        assert code == 0 and out.count(" valid: ") == len(part)
        peaks.append(rss)
    assert peaks[1] - peaks[0] < 20, peaks


def test_export_times_are_bounded_not_a_traceback(exported, tmp_path):
    from emtag.cli import export as cli_export
    from emtag.host.errors import CommandError

    assert cli_export.parse_time("1e20", "--to") == cli_export.MAX_TIME
    assert cli_export.parse_time("2026-03-02T09:00:00Z", "--from") == 1772442000
    for bad in ("nan", "inf", "-1", "-inf", "soon"):
        with pytest.raises(CommandError):
            cli_export.parse_time(bad, "--to")
