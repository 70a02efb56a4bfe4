# A fresh littlefs filesystem in RAM for device tests, on either interpreter:
# vfs.VfsLfs2 on MicroPython, littlefs-python (the simulator's adapter) on CPython.


class RamBlockDevice:
    def __init__(self, block_size=512, block_count=256):
        self.block_size = block_size
        self.block_count = block_count
        self.data = bytearray(b"\xff" * (block_size * block_count))

    def readblocks(self, block, buf, offset=0):
        a = block * self.block_size + offset
        buf[:] = self.data[a : a + len(buf)]

    def writeblocks(self, block, buf, offset=None):
        if offset is None:
            self.ioctl(6, block)
            offset = 0
        a = block * self.block_size + offset
        self.data[a : a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.block_count
        if op == 5:
            return self.block_size
        if op == 6:
            a = arg * self.block_size
            self.data[a : a + self.block_size] = b"\xff" * self.block_size
        return 0


def new_fs(block_count=256):
    """(fs, remount) where remount() mounts the same flash again, as after a reboot."""
    bdev = RamBlockDevice(block_count=block_count)
    try:
        import vfs
    except ImportError:
        from emtag.simulator import littlefs_host

        class _Flash:  # littlefs_host formats a Flash-like object; adapt the RAM device
            block_size, block_count = bdev.block_size, bdev.block_count

            def read(self, b, o, n):
                buf = bytearray(n)
                bdev.readblocks(b, buf, o)
                return bytes(buf)

            def program(self, b, o, d):
                bdev.writeblocks(b, d, o)

            def erase(self, b):
                bdev.ioctl(6, b)

        littlefs_host.format_and_provision(_Flash(), {})
        return littlefs_host.mount(bdev), lambda: littlefs_host.mount(bdev)
    vfs.VfsLfs2.mkfs(bdev)
    return vfs.VfsLfs2(bdev, mtime=False), lambda: vfs.VfsLfs2(bdev, mtime=False)
