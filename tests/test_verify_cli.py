"""`emtag verify` and `emtag export`: key formats, one line per message, --json, exit status,
and bundles checked without the store."""

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from evidence_streams import make_stream
from greet import greet

from emtag.cli import main as cli
from emtag.host import bridge, store
from emtag.host import cose as host_cose
from emtag.protocol import frame
from emtag.protocol import messages as m


def emtag(*args):
    """The real command line, in a subprocess: exit status and output as a user sees them."""
    return subprocess.run(
        [sys.executable, "-m", "emtag.cli.main", *args], capture_output=True, text=True, timeout=120
    )


def run(capsys, *args):
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def tag():
    sg, items = make_stream(1, 20, 6, alerts=(4, 13))
    return sg, items


def write_keys(tmp_path, sg):
    key = host_cose.load_public_key(sg.public_key())
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pub = sg.public_key()
    cose_key = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:]})
    paths = {}
    for name, data in (("pem", pem), ("der", der), ("cose", cose_key), ("sec1", pub)):
        p = tmp_path / ("key." + name)
        p.write_bytes(data)
        paths[name] = str(p)
    return paths


def test_a_clean_stream_passes_with_every_key_format(tmp_path, tag, capsys):
    sg, items = tag
    f = tmp_path / "records.cbor"
    f.write_bytes(b"".join(items))
    for fmt, path in write_keys(tmp_path, sg).items():
        code, out, _ = run(capsys, "verify", "--key", path, str(f))
        lines = out.splitlines()
        assert code == 0, (fmt, out)
        assert len(lines) == len(items) + 1  # one line per message and a summary
        assert all(" valid: " in line for line in lines[:-1])
        assert "PASS" in lines[-1] and sg.key_id().hex() in lines[-1]


def test_tampering_fails_and_names_the_record(tmp_path, tag, capsys):
    sg, items = tag
    keys = write_keys(tmp_path, sg)
    bad = list(items)
    del bad[7]  # a deleted record
    flipped = bytearray(bad[2])
    flipped[-1] ^= 4
    bad[2] = bytes(flipped)  # and a modified one
    f = tmp_path / "bad.cbor"
    f.write_bytes(b"".join(bad))
    code, out, _ = run(capsys, "verify", "--key", keys["pem"], str(f))
    assert code == 1
    assert "#2 " in out and "modified:" in out
    assert "seq 8 missing" in out and "deleted" in out.splitlines()[-1]
    assert "FAIL" in out.splitlines()[-1]
    code, out, _ = run(capsys, "verify", "--json", "--key", keys["pem"], str(f))
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False
    (res,) = doc["files"]
    assert res["messages"][2]["verdict"] == "modified"
    assert res["gaps"] == [{"first": 8, "last": 8, "before": 7, "verdict": "deleted"}]
    assert res["counts"]["deleted"] == 1


def test_another_tags_key_proves_nothing_and_is_called_a_wrong_key(tmp_path, tag, capsys):
    _, items = tag
    other, _ = make_stream(2, 1, 5)
    f = tmp_path / "records.cbor"
    f.write_bytes(b"".join(items))
    code, out, _ = run(capsys, "verify", "--key", write_keys(tmp_path, other)["pem"], str(f))
    assert code == 1 and " valid: " not in out
    assert "another tag's key" in out


def test_a_file_of_cose_sign1_messages_alone_verifies(tmp_path, tag, capsys):
    """What a simple COSE tool would produce: only the signed records."""
    sg, items = tag
    signed = [w for w in items if w[0] == 0xD2]
    f = tmp_path / "signed.cbor"
    f.write_bytes(b"".join(signed))
    code, out, _ = run(capsys, "verify", "--json", "--key", write_keys(tmp_path, sg)["pem"], str(f))
    res = json.loads(out)["files"][0]
    alerts = [x["verdict"] for x in res["messages"] if x["type"] == "alert"]
    checkpoints = [x["verdict"] for x in res["messages"] if x["type"] == "checkpoint"]
    assert alerts == ["valid", "valid"]  # signed on their own
    assert checkpoints and set(checkpoints) == {"unverifiable"}  # they sign their blocks
    assert code == 1 and res["gaps"]  # the fixes between them are missing, and said so


def test_usage_errors_are_one_line_and_exit_2(tmp_path, tag):
    sg, items = tag
    f = tmp_path / "records.cbor"
    f.write_bytes(b"".join(items))
    junk = tmp_path / "junk.key"
    junk.write_bytes(b"not a key")
    for args, text in (
        (("verify", str(f)), "--key is required"),
        (("verify", "--key", str(junk), str(f)), "unrecognised public key format"),
        (("verify", "--key", str(tmp_path / "none.pem"), str(f)), "cannot read"),
        (("verify", "--key", write_keys(tmp_path, sg)["pem"], str(tmp_path / "no.cbor")),
         "cannot read"),
        (("export", "--store", str(tmp_path / "none.db"), "--device", "ab", "--from", "0",
          "--to", "1", "-o", str(tmp_path / "x.zip")), "no store"),
    ):  # fmt: skip
        r = emtag(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert text in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def fill_store(path, sg, items):
    st = store.Store(path)
    s = bridge.Session(st, lambda *a, **k: None, lambda: "2026-03-02T10:00:00.000Z")
    assert greet(s, sg) == [[m.ACK, 0]]
    for i in range(0, len(items), 4):
        s.receive(frame.encode(cbor2.dumps([m.RECORDS, i + 1, b"".join(items[i : i + 4])])))
    st.close()


def test_export_writes_a_bundle_that_verifies_without_the_store(tmp_path, tag, capsys):
    sg, items = tag
    db = str(tmp_path / "store.sqlite")
    fill_store(db, sg, items)
    out_zip = str(tmp_path / "evidence.zip")
    # the window 09:01:00..09:02:00 (fixes every 15 s from 09:00:00): seq of fixes 4..8
    window = ("--from", "2026-03-02T09:01:00Z", "--to", "2026-03-02T09:02:00")
    code, out, _ = run(
        capsys, "export", "--store", db, "--device", sg.key_id().hex()[:6], *window, "-o", out_zip
    )
    assert code == 0, out
    assert "PASS" in out
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    with zipfile.ZipFile(out_zip) as z:
        assert sorted(z.namelist()) == sorted(
            ["SUMMARY.txt", "manifest.json", "records.cbor", "public_key.pem"]
        )
        manifest = json.loads(z.read("manifest.json"))
        summary = z.read("SUMMARY.txt").decode()
        records_cbor = z.read("records.cbor")
    assert manifest["device"] == sg.key_id().hex()
    assert manifest["public_key"] == sg.public_key().hex()
    first, last = manifest["first_seq"], manifest["last_seq"]
    assert items[first - 1 : last] == [bytes(x) for x in _split(records_cbor)]
    # whole blocks: from the first record after a checkpoint to the checkpoint that seals
    # the window's last record
    assert _is_checkpoint(items[last - 1]) and (first == 1 or _is_checkpoint(items[first - 2]))
    assert "PASS" in summary and sg.key_id().hex() in summary
    assert len([ln for ln in summary.splitlines() if ln.startswith("  #")]) == last - first + 1
    # checked with the bundle's own key (said so), with --key, and with a wrong key
    code, out, _ = run(capsys, "verify", out_zip)
    assert code == 0 and "key taken from the bundle" in out
    keys = write_keys(tmp_path, sg)
    code, out, _ = run(capsys, "verify", "--key", keys["cose"], out_zip)
    assert code == 0 and "key taken from the bundle" not in out
    other, _ = make_stream(2, 1, 5)
    code, out, _ = run(
        capsys, "verify", "--key", write_keys(tmp_path / "..", other)["pem"], out_zip
    )
    assert code == 1 and "not the --key given" in out


def _is_checkpoint(wire):
    return wire[0] == 0xD2 and cbor2.loads(cbor2.loads(wire).value[2])[0] == 4


def _split(data):
    from emtag.host import verify

    return verify.split_stream(data)


def rewrite(zip_path, new_path, **members):
    with zipfile.ZipFile(zip_path) as z:
        body = {n: z.read(n) for n in z.namelist()}
    body.update(members)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, b in body.items():
            z.writestr(n, b)
    with open(new_path, "wb") as f:
        f.write(buf.getvalue())


def test_a_tampered_bundle_fails(tmp_path, tag, capsys):
    sg, items = tag
    db = str(tmp_path / "store.sqlite")
    fill_store(db, sg, items)
    good = str(tmp_path / "good.zip")
    code, _, _ = run(capsys, "export", "--store", db, "--device", sg.key_id().hex(),
                     "--from", "0", "--to", "9999999999", "-o", good)  # fmt: skip
    assert code == 0
    with zipfile.ZipFile(good) as z:
        recs = _split(z.read("records.cbor"))
    key = write_keys(tmp_path, sg)["pem"]
    cases = {
        "deleted at the end": b"".join(recs[:-1]),  # the declared range catches it
        "deleted at the start": b"".join(recs[1:]),
        "reordered": b"".join([recs[1], recs[0], *recs[2:]]),
        "duplicated": b"".join([*recs, recs[3]]),
        "garbage appended": b"".join(recs) + b"\xff\x00",
    }
    for name, data in cases.items():
        bad = str(tmp_path / "bad.zip")
        rewrite(good, bad, **{"records.cbor": data})
        code, out, _ = run(capsys, "verify", "--key", key, bad)
        assert code == 1, (name, out)
        assert "FAIL" in out.splitlines()[-1], name
    rewrite(good, str(tmp_path / "extra.zip"), **{"notes.txt": b"x"})
    code, out, _ = run(capsys, "verify", "--key", key, str(tmp_path / "extra.zip"))
    assert code == 1 and "exactly" in out


def test_a_signed_manifest_catches_a_bundle_cut_short_at_an_earlier_checkpoint(
    tmp_path, tag, capsys
):
    from emtag.host import keys

    sg, items = tag
    db = str(tmp_path / "store.sqlite")
    fill_store(db, sg, items)
    ks = keys.KeyStore(tmp_path / "keys")
    centre = ks.new("centre", "centre")
    ks.new("rogue", "centre")
    signed = str(tmp_path / "signed.zip")
    code, out, _ = run(capsys, "export", "--store", db, "--device", sg.key_id().hex(),
                       "--from", "0", "--to", "9999999999", "-o", signed,
                       "--sign", "centre", "--keys", str(ks.path))  # fmt: skip
    assert code == 0, out
    with zipfile.ZipFile(signed) as z:
        manifest = json.loads(z.read("manifest.json"))
        recs = _split(z.read("records.cbor"))
        assert "signed by the centre key %s" % centre.kid.hex() in z.read("SUMMARY.txt").decode()
    tag_key = write_keys(tmp_path, sg)["pem"]
    centre_pem = str(ks.path / "centre.pub.pem")
    code, out, _ = run(capsys, "verify", "--key", tag_key, "--centre", centre_pem, signed)
    assert code == 0 and "manifest signed by the centre key" in out
    code, out, _ = run(capsys, "verify", "--key", tag_key, signed)
    assert code == 0 and "manifest.sig not checked" in out
    # cut the records at an earlier signed record and make the manifest agree: the tag's
    # signatures still hold, so only the centre's signature can tell
    cut = max(i for i, r in enumerate(recs[:-1]) if r[0] == 0xD2) + 1
    short = dict(manifest, last_seq=manifest["first_seq"] + cut - 1)
    short["records"] = dict(manifest["records"], count=cut, sha256=hashlib.sha256(
        b"".join(recs[:cut])).hexdigest())  # fmt: skip
    short_bytes = (json.dumps(short, indent=2) + "\n").encode()
    forged = str(tmp_path / "forged.zip")
    rewrite(signed, forged, **{"records.cbor": b"".join(recs[:cut]), "manifest.json": short_bytes})
    code, out, _ = run(capsys, "verify", "--key", tag_key, forged)
    assert code == 0  # without the centre's key the shorter bundle looks whole
    code, out, _ = run(capsys, "verify", "--key", tag_key, "--centre", centre_pem, forged)
    assert code == 1 and "signs another manifest" in out
    # a manifest re-signed by a key that is not the centre's, and no signature at all
    code, out, _ = run(capsys, "verify", "--key", tag_key, "--centre",
                       str(ks.path / "rogue.pub.pem"), signed)  # fmt: skip
    assert code == 1 and "does not verify with the centre key" in out
    unsigned = str(tmp_path / "unsigned.zip")
    code, _, _ = run(capsys, "export", "--store", db, "--device", sg.key_id().hex(),
                     "--from", "0", "--to", "9999999999", "-o", unsigned)  # fmt: skip
    code, out, _ = run(capsys, "verify", "--key", tag_key, "--centre", centre_pem, unsigned)
    assert code == 1 and "not signed" in out
    r = emtag("export", "--store", db, "--device", sg.key_id().hex(), "--from", "0",
              "--to", "1", "-o", unsigned, "--sign", "nobody", "--keys", str(ks.path))  # fmt: skip
    assert r.returncode == 2 and "--sign nobody" in r.stderr


def test_export_refuses_what_it_cannot_do(tmp_path, tag):
    sg, items = tag
    db = str(tmp_path / "store.sqlite")
    fill_store(db, sg, items)
    out = str(tmp_path / "x.zip")
    dev = sg.key_id().hex()
    for args, text in (
        (("--device", "ffff", "--from", "0", "--to", "1"), "device ffff: not in"),
        (("--device", dev, "--from", "2020-01-01", "--to", "2020-01-02"), "no valid records"),
        (("--device", dev, "--from", "yesterday", "--to", "1"), "--from"),
        (("--device", dev, "--from", "10", "--to", "1"), "--to is before --from"),
    ):
        r = emtag("export", "--store", db, "-o", out, *args)
        assert r.returncode == 2 and text in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert not os.path.exists(out)


@pytest.mark.parametrize(
    "name, data, says",
    [
        ("README.md", b"# emtag\n\nOpen firmware...\n", "neither an evidence bundle"),
        ("map.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "neither an evidence bundle"),
        ("store.sqlite", b"SQLite format 3\x00" + bytes(84), "SQLite database"),
    ],
)
def test_a_file_that_is_no_evidence_is_named_for_what_it_is(tmp_path, name, data, says):
    f = tmp_path / name
    f.write_bytes(data)
    r = emtag("verify", str(f))
    assert r.returncode == 2 and says in r.stderr and "--key is required" not in r.stderr


def test_keys_by_register_record_device_id_and_key_name(tmp_path, tag, capsys):
    """--key takes the fitting register's record or the tag's device id in it; --centre a
    key name from the key store, as `emtag export --sign` does."""
    from emtag.host import keys

    sg, items = tag
    ks = keys.KeyStore(tmp_path / "keys")
    record = ks.record_tag(sg.key_id(), sg.public_key())
    f = tmp_path / "records.cbor"
    f.write_bytes(b"".join(items))
    for key in (str(record), sg.key_id().hex()):
        code, out, err = run(capsys, "verify", "--keys", str(ks.path), "--key", key, str(f))
        assert code == 0, out + err
    db = str(tmp_path / "store.sqlite")
    fill_store(db, sg, items)
    ks.new("centre", "centre")
    signed = str(tmp_path / "signed.zip")
    assert run(capsys, "export", "--store", db, "--from", "0", "--to", "9999999999", "-o",
               signed, "--sign", "centre", "--keys", str(ks.path))[0] == 0  # fmt: skip
    code, out, _ = run(capsys, "verify", "--keys", str(ks.path), "--centre", "centre", signed)
    assert code == 0 and "manifest signed by the centre key" in out
    code, _, err = run(capsys, "verify", "--keys", str(ks.path), "--centre", "nobody", signed)
    assert code == 2 and "no key of that name" in err
