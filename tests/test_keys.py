"""Keys for fitting (host/keys.py, emtag keys): files and modes, roles, certificates."""

import json
import os
import re
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
        (("new", "bob", "--role", "centre", "--centre", "centre"), "only a fitter key"),
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


def readme_keys_steps():
    """The README's "1. Keys" section as [(side, command line)], in order; the side is
    the comment heading each block ("at the monitoring centre", "on the ... laptop")."""
    readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")).read()
    section = readme.split("### 1. Keys", 1)[1].split("\n### ", 1)[0]
    steps, side = [], None
    for line in section.splitlines():
        if not line.startswith("    "):
            continue
        text = line.strip()
        if text.startswith("#"):
            side = "centre" if "centre" in text else "laptop" if "laptop" in text else None
        elif text.startswith("emtag "):
            steps.append((side, text.split("#", 1)[0].strip()))
    return steps


def test_the_readme_key_flow_works_as_written(tmp_path, capsys, monkeypatch):
    """Centre and laptop each with its own key store; files pass between them by hand."""
    import shlex
    import shutil

    steps = readme_keys_steps()
    assert [s for s, _ in steps].count("centre") >= 3 and ("laptop", "emtag keys list") in steps
    stores = {"centre": tmp_path / "centre-keys", "laptop": tmp_path / "laptop-keys"}
    dirs = {"centre": tmp_path / "centre", "laptop": tmp_path / "laptop"}
    for d in dirs.values():
        d.mkdir()
    said = {}
    for side, line in steps:
        assert side in stores, line
        # what the other side wrote reaches this side (e-mail, a USB stick)
        other = dirs["laptop" if side == "centre" else "centre"]
        for f in other.iterdir():
            if not (dirs[side] / f.name).exists():
                shutil.copy(f, dirs[side] / f.name)
        monkeypatch.chdir(dirs[side])
        monkeypatch.setenv("EMTAG_KEYS", str(stores[side]))
        code, out, err = run(capsys, *shlex.split(line)[1:])
        assert code == 0, (side, line, err)
        said[line] = out
    # no private key crossed over: the laptop holds the centre's public half only
    assert not (stores["laptop"] / "centre.key.pem").exists()
    assert not (stores["centre"] / "alice.key.pem").exists()
    laptop = keys.KeyStore(stores["laptop"])
    alice, centre = laptop.get("alice"), laptop.get("centre")
    assert alice.role == "fitter" and alice.private_path and centre.private_path is None
    assert keys.read_cert(alice.cert, centre.public)["subject"] == alice.public
    assert centre.kid == keys.KeyStore(stores["centre"]).get("centre").kid
    # the fitter was told the next steps; the certificate was described in words
    new = next(out for line, out in said.items() if line.startswith("emtag keys new alice"))
    assert "not certified yet" in new and "emtag keys export alice" in new
    assert "emtag keys certify" in new and "emtag keys add-cert alice" in new
    certify = next(out for line, out in said.items() if " certify " in line)
    assert "any tag" in certify and "arm" in certify and "alice.cert" in certify
    listing = said["emtag keys list"]
    assert re.search(r"alice +fitter +[0-9a-f]{16} +yes +by centre", listing), listing
    assert re.search(r"centre +centre +[0-9a-f]{16} +no", listing), listing


def test_certify_says_what_it_did_in_words_and_json(tmp_path, capsys):
    store = str(tmp_path / "k")
    run(capsys, "keys", "new", "centre", "--role", "centre", "--keys", store)
    run(capsys, "keys", "new", "bob", "--role", "fitter", "--keys", store)
    code, out, _ = run(
        capsys, "keys", "certify", "bob", "--centre", "centre", "--tag", "00112233445566ff",
        "--commands", "status,arm", "--out", str(tmp_path / "bob.cert"), "--keys", store,
    )
    assert code == 0
    assert "certified key bob" in out and "tag 00112233445566ff only: status, arm" in out
    assert "wrote the certificate to %s" % (tmp_path / "bob.cert") in out
    assert "('" not in out and "')" not in out  # not a Python tuple
    code, out, _ = run(
        capsys, "keys", "--keys", store, "--json", "certify", "bob", "--centre", "centre",
        "--out", str(tmp_path / "bob2.cert"),
    )
    d = json.loads(out)
    assert d["tag"] is None and d["issuer"] == "centre" and d["certificate"].endswith("bob2.cert")
    assert d["commands"] == list(keys.FITTER_COMMANDS) and len(d["subject_kid"]) == 16


def test_writing_into_a_missing_folder_is_a_clear_error(tmp_path, capsys):
    store = str(tmp_path / "k")
    run(capsys, "keys", "new", "centre", "--role", "centre", "--keys", store)
    missing = tmp_path / "no" / "such" / "alice.cert"
    for argv in (
        ("certify", "centre", "--centre", "centre", "--out", str(missing)),
        ("export", "centre", "-o", str(missing)),
    ):
        code, out, err = run(capsys, "keys", "--keys", store, *argv)
        assert code == 2 and "Traceback" not in err, err
        assert "does not exist" in err and "mkdir -p %s" % missing.parent in err
        assert not missing.parent.exists()


def test_options_go_before_or_after_the_action(tmp_path, capsys):
    store = str(tmp_path / "k")
    assert run(capsys, "keys", "new", "centre", "--role", "centre", "--keys", store)[0] == 0
    a = run(capsys, "keys", "list", "--keys", store)
    b = run(capsys, "keys", "--keys", store, "list")
    assert a == b and "centre" in a[1]
    code, out, _ = run(capsys, "keys", "list", "--keys", store, "--json")
    assert code == 0 and json.loads(out)["keys"][0]["name"] == "centre"
