"""Building and flashing the firmware (host/firmware_build.py, emtag flash): every module compiles
with the mpy-cross the firmware targets, the littlefs image mounts back with its manifest,
the dry-run plan, and the compiled firmware running on the unix port at the tag's heap."""

import json
import os

import pytest

from emtag.cli import main as cli
from emtag.host import firmware_build as build
from emtag.host import unixport

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCH_CODES = {"x64": 2, "armv6m": 4, "xtensawin": 10}  # MicroPython's MP_NATIVE_ARCH_*


@pytest.fixture(scope="module")
def esp32_build(tmp_path_factory):
    return build.build(str(tmp_path_factory.mktemp("esp32")), "esp32")


def test_the_installed_mpy_cross_is_the_targeted_one():
    version, mpy = build.mpy_cross_version()
    assert mpy == build.MPY_VERSION
    assert version.startswith(build.MICROPYTHON + ".")
    assert build.check_mpy_cross() == version


def test_a_different_mpy_cross_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(build, "mpy_cross_version", lambda exe=None: ("1.22.2", (6, 2)))
    with pytest.raises(build.BuildError, match=r"emits mpy v6\.2.*targets MicroPython 1\.29"):
        build.build(str(tmp_path), "esp32")


@pytest.mark.parametrize("board", ["esp32", "rp2", "unix"])
def test_every_firmware_module_compiles(board, tmp_path, esp32_build):
    b = esp32_build if board == "esp32" else build.build(str(tmp_path), board)
    files = b.manifest["files"]
    sources = build.sources(board)
    # every module of firmware/ and protocol/ (boards: only this board's), each a .mpy
    want = {dest + ".mpy" for _, dest in sources}
    assert {f for f in files if f.endswith(".mpy")} == want
    for pkg in ("firmware", "protocol"):
        for fn in os.listdir(os.path.join(REPO, pkg)):
            if fn.endswith(".py"):
                built = "lib/emtag/%s/%s.mpy" % (pkg, fn[:-3]) in files
                # CPython's twins of device code stay out of every build
                assert built == (fn[:-3] not in build.CPYTHON_ONLY or pkg != "firmware"), fn
    boards = sorted(f.split("/")[-1] for f in files if "/boards/" in f)
    expect = {"esp32": ["esp32", "mcu"], "rp2": ["mcu", "rp2"], "unix": ["sim", "simwire"]}
    assert boards == sorted(["__init__.mpy"] + [m + ".mpy" for m in expect[board]])
    arch = ARCH_CODES[build.BOARDS[board]["arch"]]
    native = 0
    for f, digest in files.items():
        path = os.path.join(b.root, f)
        if f.endswith(".mpy"):
            major, minor, code = build.mpy_header(path)
            assert major == build.MPY_VERSION[0], f
            if code:  # native code (@micropython.native): sub-version and architecture
                native += 1
                assert (minor, code) == (build.MPY_VERSION[1], arch), f
        assert build._sha256(path) == digest
    assert native >= 1  # the NMEA parser's byte loops
    m = b.manifest
    assert m["mpy"] == "%d.%d" % build.MPY_VERSION and m["micropython"] == build.MICROPYTHON
    assert m["firmware"] == build.firmware_version() and m["board"] == board
    if board != "unix":
        with open(os.path.join(b.root, "main.py")) as f:
            assert "boards import %s" % board in f.read()
    with open(os.path.join(b.root, build.MANIFEST)) as f:
        assert json.load(f) == m


def test_the_image_mounts_back_with_its_manifest(esp32_build, tmp_path):
    img = str(tmp_path / "app.img")
    size = build.image(esp32_build, img)
    assert size == os.path.getsize(img) == build.BOARDS["esp32"]["blocks"] * build.BLOCK_SIZE
    files = build.read_image(img)
    manifest = json.loads(files.pop(build.MANIFEST))
    assert manifest == esp32_build.manifest
    assert sorted(files) == sorted(manifest["files"])
    for path, data in files.items():
        with open(os.path.join(esp32_build.root, path), "rb") as f:
            assert f.read() == data


def test_flash_image_command(tmp_path, capsys):
    img = str(tmp_path / "rp2.img")
    assert cli.main(["flash", "--board", "rp2", "--image", img, "--build", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "picotool load" in out and os.path.getsize(img) == 352 * 4096
    assert json.loads(build.read_image(img)[build.MANIFEST])["board"] == "rp2"


def test_an_image_into_a_missing_folder_or_too_few_blocks_is_a_clear_error(tmp_path, capsys):
    img = tmp_path / "no" / "such" / "app.img"
    assert cli.main(["flash", "--image", str(img), "--build", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "--image %s: the folder %s does not exist" % (img, img.parent) in err
    assert not (tmp_path / "b").exists()  # said before building anything
    img = tmp_path / "app.img"
    assert cli.main(["flash", "--image", str(img), "--blocks", "4", "--build", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "does not fit in 4 blocks" in err and "Traceback" not in err


def test_dry_run_plan(esp32_build, tmp_path, capsys):
    m = json.loads(json.dumps(esp32_build.manifest))
    files = sorted(m["files"])
    m["files"][files[0]] = "0" * 64  # changed on the board
    del m["files"][files[1]]  # missing on the board
    m["files"]["lib/emtag/firmware/old_module.mpy"] = "1" * 64  # left from an older build
    m["firmware"] = "0.0.9"
    device = str(tmp_path / "device.json")
    with open(device, "w") as f:
        json.dump(m, f)
    p = build.plan(esp32_build.manifest, m)
    assert p["copy"] == sorted(files[:2]) and p["remove"] == ["lib/emtag/firmware/old_module.mpy"]
    assert len(p["skip"]) == len(files) - 2
    argv = ["flash", "--board", "esp32", "--dry-run", "--against", device]
    assert cli.main(argv + ["--build", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "against %s: firmware 0.0.9" % device in out
    assert "  copy    %s" % files[0] in out and "  remove  lib/emtag/firmware/old_module.mpy" in out
    assert "2 to copy, %d unchanged (skipped), 1 to remove" % (len(files) - 2) in out
    assert "dry run: nothing written" in out
    # no board at all: everything is copied
    assert cli.main(["flash", "--dry-run", "--build", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "%d to copy, 0 unchanged" % len(files) in out


def test_flash_needs_a_port(tmp_path, capsys):
    assert cli.main(["flash", "--build", str(tmp_path)]) == 2
    assert "give --port" in capsys.readouterr().err


PROBE = """
import gc, os, sys
from emtag.firmware import commands, console, cose
from emtag.firmware.signer import SoftwareSigner
from emtag.protocol import cbor, frame
names = []
def walk(d, pkg):  # every .mpy under lib/emtag, as a module name
    for e in os.ilistdir(d):
        if e[1] == 0x4000:
            walk(d + "/" + e[0], pkg + "." + e[0])
        elif e[0].endswith(".mpy"):
            names.append(pkg if e[0] == "__init__.mpy" else pkg + "." + e[0][:-4])
walk(sys.argv[1] + "/emtag", "emtag")
for n in names:
    __import__(n)
gc.collect()
class Fs:  # a dict is flash enough for a console exchange
    files = {}
    def open(self, p, mode="rb"):
        if "w" in mode:
            return W(self.files, p)
        if p not in self.files:
            raise OSError(2)
        import io
        return io.BytesIO(self.files[p])
    def rename(self, a, b):
        self.files[b] = self.files.pop(a)
class W:
    def __init__(self, files, p):
        self.files, self.p, self.data = files, p, b""
    def write(self, d):
        self.data += d
        return len(d)
    def close(self):
        self.files[self.p] = self.data
fs = Fs()
tag, centre = SoftwareSigner(12345), SoftwareSigner(67890)
con = console.Console(fs, lambda: commands.Commands(fs, tag))
def ask(msg):
    return cbor.loads(frame.Deframer().feed(con.poll(b"\\x00" + frame.encode(msg), 1)[0])[0])
cmd = cose.sign1(centre, cbor.dumps([1, tag.key_id(), "provision",
                                     {"anchor": centre.public_key()}]))
r = ask(cbor.dumps([2, 7, cmd]))
assert r[1] == 0, r
assert ask(cbor.dumps([1, 8]))[2]["provisioned"] is True
print("OK", len(names), sys.implementation._mpy & 0xFF, (sys.implementation._mpy >> 8) & 3)
"""


@pytest.mark.skipif(unixport.binary() is None, reason="no MicroPython unix port")
def test_the_compiled_modules_run_on_the_unix_port(tmp_path):
    """Every module of the unix build imports from its .mpy (v6.3, the port's own format)
    with no source on the path, and the console answers. (All of them at once, bytecode in
    the heap: 1M. The tag's 192 KiB is the simulator's business: it runs this build from
    a ROMFS image, bytecode in place, host/unixport.py.)"""
    b = build.build(str(tmp_path), "unix")
    names = [
        f[len("lib/") : -len(".mpy")].replace("/", ".").replace(".__init__", "")
        for f in sorted(b.manifest["files"])
        if f.endswith(".mpy")
    ]
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    lib = os.path.join(b.root, "lib")
    env = dict(os.environ, MICROPYPATH=lib)  # the .mpy tree only: no source to fall back on
    import subprocess

    p = subprocess.run(
        unixport.command([str(script), os.path.join(b.root, "lib")], heapsize="1M"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    ok, n, major, minor = p.stdout.split()
    assert ok == "OK" and int(n) == len(names) >= 30
    assert (int(major), int(minor)) == build.MPY_VERSION
