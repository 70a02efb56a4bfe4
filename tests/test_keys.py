"""Keys for fitting (host/keys.py, emtag keys): files and modes, roles, certificates."""

import os
import stat

import pytest

from emtag.cli import main as cli
from emtag.firmware import commands, cose
from emtag.host import cose as host_cose
from emtag.host import keys
from emtag.protocol import cbor


def run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_new_keys_are_private_files(tmp_path, capsys):
    store = str(tmp_path / "keys")
    assert run(capsys, "keys", "--keys", store, "new", "centre", "--role", "centre")[0] == 0
    code, out, _ = run(
        capsys, "keys", "--keys", store, "new", "alice", "--role", "fitter", "--centre", "centre"
    )
    assert code == 0 and "certified by centre" in out
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(store) == 0o700
    for name in ("centre", "alice"):
        assert mode(os.path.join(store, name + ".key.pem")) == 0o600
        pem = open(os.path.join(store, name + ".key.pem")).read()
        assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    code, out, err = run(capsys, "keys", "--keys", store, "list")
    assert code == 0 and not err
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["NAME", "ROLE", "KID", "PRIVATE"]
    alice = next(line for line in lines if line.startswith("alice"))
    assert "fitter" in alice and "by centre" in alice and "devmode" not in alice


def test_names_and_roles_are_checked(tmp_path, capsys):
    store = str(tmp_path)
    run(capsys, "keys", "--keys", store, "new", "centre", "--role", "centre")
    for argv, msg in (
        (("new", "centre", "--role", "centre"), "exists already"),
        (("new", "bob", "--role", "fitter"), "needs --centre"),
        (("new", "../x", "--role", "centre"), "key names"),
        (("new", "bob", "--role", "fitter", "--centre", "nobody"), "no key 'nobody'"),
        (
            ("new", "bob", "--role", "fitter", "--centre", "centre", "--commands", "devmode"),
            "cannot be allowed",
        ),
        (("add-cert", "centre", "/nonexistent"), "cannot read"),
    ):
        code, _, err = run(capsys, "keys", "--keys", store, *argv)
        assert code == 2 and msg in err, (argv, err)


def test_certificate_is_signed_by_the_centre_and_scoped(tmp_path):
    store = keys.KeyStore(tmp_path)
    centre = store.new("centre", "centre")
    device = bytes(range(8))
    alice = store.new("alice", "fitter", centre="centre", device=device, allowed=["status"])
    payload = host_cose.verify_sign1(alice.cert, host_cose.load_public_key(centre.public))
    assert cbor.loads(payload) == ["emtag-delegation", 1, alice.public, device, ["status"]]
    info = keys.read_cert(alice.cert, centre.public)
    assert info["issuer"] == centre.kid and info["commands"] == ["status"]
    other = store.new("other", "centre")
    with pytest.raises(keys.KeysError):
        keys.read_cert(alice.cert, other.public)
    # the tag's own verifier accepts what the host signed (same COSE code both ways)
    assert cose.verify1(centre.public, alice.cert) == payload
    assert keys.FITTER_COMMANDS == tuple(
        c for c in commands.COMMANDS if c not in commands.ANCHOR_ONLY
    )


def test_a_fitter_laptop_imports_the_centre_key_and_its_certificate(tmp_path, capsys):
    centre_store = str(tmp_path / "centre")
    laptop = str(tmp_path / "laptop")
    run(capsys, "keys", "--keys", centre_store, "new", "centre", "--role", "centre")
    # the fitter makes a key pair on the laptop (no certificate yet: a centre-role key)
    run(capsys, "keys", "--keys", laptop, "new", "alice", "--role", "centre")
    pub = os.path.join(laptop, "alice.pub.pem")
    cert = str(tmp_path / "alice.cert")
    code, out, _ = run(
        capsys,
        "keys",
        "--keys",
        centre_store,
        "certify",
        pub,
        "--centre",
        "centre",
        "--out",
        cert,
    )
    assert code == 0 and os.path.exists(cert)
    assert run(capsys, "keys", "--keys", laptop, "add-cert", "alice", cert)[0] == 0
    centre_pub = os.path.join(centre_store, "centre.pub.pem")
    assert run(capsys, "keys", "--keys", laptop, "import", "centre", centre_pub)[0] == 0
    store = keys.KeyStore(laptop)
    alice, centre = store.get("alice"), store.get("centre")
    assert alice.role == "fitter" and alice.private_path is not None
    assert centre.role == "centre" and centre.private_path is None
    assert keys.read_cert(alice.cert, centre.public)["subject"] == alice.public
    with pytest.raises(keys.KeysError, match="no private half"):
        centre.signer()


def test_loose_permissions_are_flagged(tmp_path, capsys):
    store = str(tmp_path)
    run(capsys, "keys", "--keys", store, "new", "centre", "--role", "centre")
    os.chmod(os.path.join(store, "centre.key.pem"), 0o644)
    code, out, err = run(capsys, "keys", "--keys", store, "list")
    assert "UNSAFE" in out and "chmod 600" in err


def test_host_signer_matches_the_tag_verifier(tmp_path):
    e = keys.KeyStore(tmp_path).new("centre", "centre")
    s = e.signer()
    msg = cose.sign1(s, b"payload", kid=s.key_id())
    assert cose.verify1(e.public, msg) == b"payload"
    assert host_cose.verify_sign1(msg, host_cose.load_public_key(e.public)) == b"payload"
