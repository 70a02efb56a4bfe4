"""littlefs on CPython (littlefs-python), laid out exactly as MicroPython's vfs.VfsLfs2.

Used to format and provision a tag's flash before its first boot, and as the sim board's
filesystem when the firmware runs in-process on CPython. Both sides use the same
geometry, so either interpreter mounts what the other wrote.
"""

import littlefs

from emtag.simulator.flash import PowerCut

LFS_ERR_IO = -5
READ_SIZE = 32  # MicroPython's VfsLfs2 defaults (readsize, progsize, lookahead)
PROG_SIZE = 32
LOOKAHEAD = 32
CACHE_SIZE = 128  # VfsLfs2: min(block size, 4 * max(readsize, progsize)); it also sets the
# largest file kept inline in its directory, so both sides lay files out alike


class _BlockDeviceContext(littlefs.UserContext):
    """Routes littlefs-python's block I/O to a MicroPython-style block device.

    An exception cannot cross littlefs-python's C callbacks (it is printed and dropped), so
    a power cut (simulator/runner.py) becomes an I/O error here, quietly: the firmware sees
    a failed flash operation, and its board raises PowerCut at its next request."""

    def __init__(self, bdev):
        self.bdev = bdev

    def read(self, cfg, block, off, size):
        buf = bytearray(size)
        try:
            self.bdev.readblocks(block, buf, off)
        except PowerCut:
            pass  # zeros: littlefs finds nothing valid in them
        return buf

    def prog(self, cfg, block, off, data):
        try:
            self.bdev.writeblocks(block, data, off)
        except PowerCut:
            return LFS_ERR_IO
        return 0

    def erase(self, cfg, block):
        try:
            self.bdev.ioctl(6, block)
        except PowerCut:
            return LFS_ERR_IO
        return 0

    def sync(self, cfg):
        return 0


class FlashBlockDevice:
    """MicroPython block-device protocol over a simulator Flash object."""

    def __init__(self, flash):
        self.flash = flash

    def readblocks(self, block, buf, offset=0):
        buf[:] = self.flash.read(block, offset, len(buf))

    def writeblocks(self, block, buf, offset=0):
        self.flash.program(block, offset, bytes(buf))

    def ioctl(self, op, arg):
        if op == 4:
            return self.flash.block_count
        if op == 5:
            return self.flash.block_size
        if op == 6:
            self.flash.erase(arg)
        return 0


def _lfs(bdev, mount=True):
    return littlefs.LittleFS(
        context=_BlockDeviceContext(bdev),
        mount=mount,
        block_size=bdev.ioctl(5, 0),
        block_count=bdev.ioctl(4, 0),
        read_size=READ_SIZE,
        prog_size=PROG_SIZE,
        lookahead_size=LOOKAHEAD,
        cache_size=CACHE_SIZE,
    )


class VfsAdapter:
    """The subset of vfs.VfsLfs2's interface the firmware uses, over littlefs-python."""

    def __init__(self, fs):
        self._fs = fs

    def open(self, path, mode="r"):
        try:
            return self._fs.open(path, mode)
        except FileNotFoundError:
            if "a" not in mode:
                raise
        # littlefs-python's append mode does not create; MicroPython's does
        return self._fs.open(path, mode.replace("a", "w"))

    def ilistdir(self, path="/"):
        for name in self._fs.listdir(path):
            st = self._fs.stat(path.rstrip("/") + "/" + name)
            yield (name, 0x4000 if st.type == 2 else 0x8000, 0, st.size)

    def mkdir(self, path):
        _os_errors(self._fs.mkdir, path)

    def remove(self, path):
        _os_errors(self._fs.remove, path)

    def rename(self, old, new):
        _os_errors(self._fs.rename, old, new)

    def stat(self, path):
        return _os_errors(self._fs.stat, path)


def _os_errors(fn, *args):
    """Raise OSError as MicroPython's vfs does, not littlefs-python's own error."""
    try:
        return fn(*args)
    except littlefs.LittleFSError as e:
        raise OSError(e.code, str(e)) from None


def mount(bdev):
    return VfsAdapter(_lfs(bdev))


def format_and_provision(flash, files):
    """Format the flash and write provisioning files {path: bytes}, as at fitting."""
    bdev = FlashBlockDevice(flash)
    fs = _lfs(bdev, mount=False)
    fs.format()
    fs.mount()
    for path, data in files.items():
        with fs.open(path, "wb") as f:
            f.write(data)
    fs.unmount()


class _FlashView:
    """A MicroPython-style block device seen as the simulator's Flash."""

    def __init__(self, bdev):
        self.bdev = bdev
        self.block_size = bdev.block_size
        self.block_count = bdev.block_count

    def read(self, block, offset, n):
        buf = bytearray(n)
        self.bdev.readblocks(block, buf, offset)
        return bytes(buf)

    def program(self, block, offset, data):
        self.bdev.writeblocks(block, data, offset)

    def erase(self, block):
        self.bdev.ioctl(6, block)


def mkfs(bdev):
    """An empty filesystem on a MicroPython-style block device (vfs.VfsLfs2.mkfs)."""
    format_and_provision(_FlashView(bdev), {})
