"""Runs the unmodified firmware against a World: on the MicroPython unix port (default,
with the tag's heap budget) over two pipes, or in-process on CPython."""

import os
import subprocess
import tempfile
import time

from emtag.firmware.boards import simwire as w
from emtag.tools import unixport

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
    def __init__(self, world):
        self.world = world

    def call(self, op, body):
        return self.world.handle(op, body)


def _run_cpython(world):
    from emtag.firmware import main
    from emtag.firmware.boards import sim as sim_board
    from emtag.simulator import littlefs_host

    main.run(sim_board.Board(DirectTransport(world), fs_factory=littlefs_host.mount))


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
    to_tag_r, to_tag_w = os.pipe()
    from_tag_r, from_tag_w = os.pipe()
    image, size = unixport.romfs_image()
    env = unixport.env(stage=unixport.compiled_stage_dir())  # .mpy, as flashed to a board
    # the tag's heap for data, plus room for the image that a board keeps in flash
    heapsize = str(unixport.heap_bytes(heapsize) + size + 1024)
    env["EMTAG_SIM_FDS"] = "%d,%d" % (to_tag_r, from_tag_w)
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
        finally:
            os.close(to_tag_w)
            os.close(from_tag_r)
            code = proc.wait()
        console.seek(0)
        out = console.read().decode(errors="replace")
    if code != 0:
        raise FirmwareCrashed("firmware exited with status %d:\n%s" % (code, out[-3000:]))


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
