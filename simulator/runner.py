"""Runs the unmodified firmware against a World: on the MicroPython unix port (default,
with the tag's heap budget) over two pipes, or in-process on CPython.

A power cut (simulator/world.py) ends a firmware run where it stands: on MicroPython the
process is killed, on CPython the exception unwinds the firmware and its modules are
forgotten, so the next run imports them afresh. The world then goes on without the tag
until power returns, and the firmware boots again against the same World, flash included.
"""

import os
import subprocess
import sys
import tempfile
import time

from emtag.firmware.boards import simwire as w
from emtag.host import unixport
from emtag.simulator.flash import PowerCut

# The boot stub: mount the firmware's ROMFS image (see unixport.romfs_image), then run the
# unmodified firmware from it. ROM_BYTES lets the board report heap use without the image.
ROMFS_BOOT = """
import gc, sys, vfs
gc.collect()
_a = gc.mem_alloc()
_f = open(%r, "rb")
_img = _f.read()
_f.close()
vfs.mount(vfs.VfsRom(_img), "/rom")
sys.path.insert(0, "/rom")
gc.collect()
from emtag.firmware.boards import sim
sim.ROM_BYTES = gc.mem_alloc() - _a
"""
FIRMWARE_ENTRY = "from emtag.firmware import main; main.sim()"


class FirmwareCrashed(RuntimeError):
    pass


def default_interpreter():
    return "micropython" if unixport.binary() else "cpython"


def run(world, interpreter=None, heapsize=unixport.HEAPSIZE):
    """Run the firmware until the scenario ends; returns wall-clock seconds."""
    interpreter = interpreter or default_interpreter()
    t0 = time.monotonic()
    if interpreter == "micropython":
        _run_micropython(world, heapsize)
    elif interpreter == "cpython":
        _run_cpython(world)
    else:
        raise ValueError("interpreter must be micropython or cpython")
    return time.monotonic() - t0


class DirectTransport:
    """The sim board's requests, straight to the World (in-process on CPython). After a
    power cut it is dead: whatever the unwinding firmware still asks (a file closed in a
    `finally`, a finaliser run later by the garbage collector) raises PowerCut again and
    never reaches the World."""

    def __init__(self, world):
        self.world = world
        self.cut = False

    def call(self, op, body):
        if self.cut:
            raise PowerCut()
        try:
            return self.world.handle(op, body)
        except PowerCut:
            self.cut = True
            raise


def _firmware_module(name):
    return name.startswith(("emtag.firmware", "emtag.protocol"))


def _forget_firmware():
    """Drop the tag's modules (firmware and protocol) from sys.modules, so that the next
    boot imports them afresh: nothing of the last run's RAM, module state included,
    survives. Returns what was dropped."""
    gone = {k: v for k, v in sys.modules.items() if _firmware_module(k)}
    for k in gone:
        del sys.modules[k]
    for k in gone:  # `from package import module` takes a package's attribute first
        parent, _, leaf = k.rpartition(".")
        pkg = sys.modules.get(parent)
        if pkg is not None and getattr(pkg, leaf, None) is gone[k]:
            delattr(pkg, leaf)
    return gone


def _put_back(saved):
    """The host process as it was before the run: the modules the simulator and its caller
    had imported, not the copies the rebooted firmware loaded."""
    _forget_firmware()
    sys.modules.update(saved)
    for k, mod in saved.items():
        parent, _, leaf = k.rpartition(".")
        pkg = sys.modules.get(parent)
        if pkg is not None:
            setattr(pkg, leaf, mod)


def _boot_cpython(world):
    """One firmware run, from boot to the end of the scenario or a power cut (True)."""
    from emtag.firmware import main
    from emtag.firmware.boards import sim as sim_board
    from emtag.simulator import littlefs_host

    transport = DirectTransport(world)
    try:
        main.run(sim_board.Board(transport, host_fs=littlefs_host))
    except BaseException:
        # after a cut the firmware may see a failed flash write (littlefs-python turns the
        # exception in its callback into an error code) before PowerCut itself
        if not transport.cut:
            raise
    return transport.cut


def _run_cpython(world):
    saved = None
    try:
        while _boot_cpython(world):
            dropped = _forget_firmware()
            if saved is None:
                saved = dropped  # the host's own copies
            if not world.power_restore():
                break
    finally:
        if saved is not None:
            _put_back(saved)


def _read_exact(fd, n):
    chunks, got = [], 0
    while got < n:
        b = os.read(fd, n - got)
        if not b:
            return None
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def _run_micropython(world, heapsize):
    image, size = unixport.romfs_image()
    env = unixport.env(stage=unixport.compiled_stage_dir())  # .mpy, as flashed to a board
    # the tag's heap for data, plus room for the image that a board keeps in flash
    heapsize = str(unixport.heap_bytes(heapsize) + size + 1024)
    while _boot_micropython(world, image, env, heapsize):
        if not world.power_restore():
            break


def _boot_micropython(world, image, env, heapsize):
    """One firmware process, from boot to the end of the scenario or a power cut (True)."""
    to_tag_r, to_tag_w = os.pipe()
    from_tag_r, from_tag_w = os.pipe()
    env = dict(env, EMTAG_SIM_FDS="%d,%d" % (to_tag_r, from_tag_w))
    cut = False
    # a file, not a pipe, for the firmware's own output: a chatty crash cannot deadlock us
    with tempfile.TemporaryFile() as console:
        proc = subprocess.Popen(
            unixport.command(["-c", ROMFS_BOOT % image + FIRMWARE_ENTRY], heapsize),
            env=env,
            pass_fds=(to_tag_r, from_tag_w),
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
        )
        os.close(to_tag_r)
        os.close(from_tag_w)
        try:
            _serve(world, from_tag_r, to_tag_w)
        except PowerCut:
            cut = True
            proc.kill()  # no power: the firmware stops where it stands, mid-request
        finally:
            os.close(to_tag_w)
            os.close(from_tag_r)
            code = proc.wait()
        console.seek(0)
        out = console.read().decode(errors="replace")
    if code != 0 and not cut:
        raise FirmwareCrashed("firmware exited with status %d:\n%s" % (code, out[-3000:]))
    return cut


def _serve(world, rd, wr):
    """Answer the board's requests until the firmware closes its end."""
    while True:
        hdr = _read_exact(rd, 5)
        if hdr is None:
            return
        n = w.u32(hdr, 1)
        body = _read_exact(rd, n) if n else b""
        if body is None:
            return
        reply = world.handle(hdr[0], body)
        os.write(wr, w.pack_u32(len(reply)) + reply)
