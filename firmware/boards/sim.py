"""The `sim` board: the tag's hardware as modelled by the CPython simulator.

Runs on the MicroPython unix port (talking over two pipe fds given in EMTAG_SIM_FDS) or
in-process on CPython (a transport object handed in by the runner). The firmware cannot
tell either from a real board: it sees the same methods as boards/esp32.py.
"""

import gc

from emtag.firmware.boards import simwire as w


class PipeTransport:
    """Requests out on one fd, replies in on the other (MicroPython unix port)."""

    def __init__(self, fds):
        rd, wr = fds.split(",")
        self._r = open("/dev/fd/" + rd, "rb")
        self._w = open("/dev/fd/" + wr, "wb")
        self._hdr = bytearray(4)

    def _read_exact(self, n):
        buf = bytearray(n)
        mv = memoryview(buf)
        got = 0
        while got < n:
            k = self._r.readinto(mv[got:])
            if not k:
                raise OSError("simulator closed the pipe")
            got += k
        return buf

    def call(self, op, body):
        self._w.write(w.request(op, body))
        n = w.u32(self._read_exact(4), 0)
        return self._read_exact(n) if n else b""


class BlockDevice:
    """littlefs block device (the extended interface with offsets) backed by sim flash."""

    def __init__(self, transport, block_size, block_count):
        self._t = transport
        self.block_size = block_size
        self.block_count = block_count

    def readblocks(self, block, buf, offset=0):
        data = self._t.call(
            w.READ_BLOCK, w.pack_u32(block) + w.pack_u32(offset) + w.pack_u32(len(buf))
        )
        buf[:] = data

    def writeblocks(self, block, buf, offset=None):
        if offset is None:  # simple interface: erase, then program the whole block
            self.ioctl(6, block)
            offset = 0
        self._t.call(w.PROG_BLOCK, w.pack_u32(block) + w.pack_u32(offset) + bytes(buf))

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.block_count
        if op == 5:  # block size
            return self.block_size
        if op == 6:  # erase
            self._t.call(w.ERASE_BLOCK, w.pack_u32(arg))
        return 0


# The console's receive buffer holds this much, as a UART's (or USB CDC's) ring buffer
# does; bytes arriving while it is full are dropped (counted in console_overruns), so a
# flood on the port cannot fill the tag's heap.
CONSOLE_RXBUF = 1024
HEAP = hasattr(gc, "mem_alloc")  # False on CPython: no MicroPython heap to watch
# Heap bytes holding the firmware's ROMFS image: on the unix port the simulator loads the
# image into the heap (a board keeps it in flash), so heap figures leave it out.
ROM_BYTES = 0


class HeapWatch:
    """Samples gc.mem_alloc() at every request to the simulator: the high-water mark of the
    heap in use, garbage included (it reaches the heap size whenever the GC steps in)."""

    def __init__(self, transport):
        self._t = transport
        self.peak = 0

    def call(self, op, body):
        used = gc.mem_alloc() - ROM_BYTES if HEAP else 0
        if used > self.peak:
            self.peak = used
        return self._t.call(op, body)


class Board:
    name = "sim"

    def __init__(self, transport=None, host_fs=None):
        if transport is None:
            import os

            transport = PipeTransport(os.getenv("EMTAG_SIM_FDS"))
        self._t = transport = HeapWatch(transport)
        # on CPython: the simulator's littlefs (mount(bdev), mkfs(bdev)); None: vfs.VfsLfs2
        self._host_fs = host_fs
        info = transport.call(w.INFO, b"")
        self._now = w.u64(info, 0)
        self.bdev = BlockDevice(transport, w.u32(info, 8), w.u32(info, 12))
        self.serial = bytes(info[16:]).decode()
        self._rx: dict = {w.GNSS: [], w.LINK: [], w.SENSOR: [], w.CONSOLE: []}
        self._console_held = 0  # bytes in the console's receive buffer
        self.console_overruns = 0  # bytes dropped because it was full
        self.stopped = False

    @property
    def rom_bytes(self):
        return ROM_BYTES

    def heap_peak(self):
        """High-water mark of gc.mem_alloc() in bytes, or None on CPython."""
        return self._t.peak if HEAP else None

    # time: virtual, advanced only by sleep_until
    def now_ms(self):
        return self._now

    def sleep_until(self, deadline_ms):
        """Sleep until the deadline or the next input, whichever comes first."""
        reply = self._t.call(w.SLEEP, w.pack_u64(max(deadline_ms, self._now)))
        self._now = w.u64(reply, 0)
        if reply[8] & w.FLAG_STOP:
            self.stopped = True
        for ch, data in w.split_chunks(reply, 9):
            q = self._rx.get(ch)
            if q is None:
                continue
            if ch == w.CONSOLE:
                room = CONSOLE_RXBUF - self._console_held
                if len(data) > room:
                    self.console_overruns += len(data) - max(room, 0)
                    data = data[: max(room, 0)]
                if not data:
                    continue
                self._console_held += len(data)
            q.append(bytes(data))

    def _take(self, ch):
        q = self._rx[ch]
        if not q:
            return None
        data = q[0] if len(q) == 1 else b"".join(q)
        q.clear()
        return data

    # GNSS module on a UART
    def gnss_read(self):
        return self._take(w.GNSS)

    def gnss_write(self, data):
        self._t.call(w.WRITE, bytes([w.GNSS]) + data)

    def gnss_power(self, on):
        self._t.call(w.WRITE, bytes([w.GNSS_POWER, 1 if on else 0]))

    # serial uplink to the bridge
    def link_read(self):
        return self._take(w.LINK)

    def link_write(self, data):
        self._t.call(w.WRITE, bytes([w.LINK]) + data)

    # the wearer's vibration motor (zone approach, low battery)
    def vibrate(self, ms):
        self._t.call(w.WRITE, bytes([w.VIBRATE]) + w.pack_u32(ms))

    # USB serial console (fitting); on this board it has no REPL behind it
    def console_read(self):
        self._console_held = 0
        return self._take(w.CONSOLE)

    def console_write(self, data):
        self._t.call(w.WRITE, bytes([w.CONSOLE]) + data)

    # sensors, read on demand
    def _sense(self, sensor):
        v = w.u32(self._t.call(w.SENSE, bytes([sensor])), 0)
        return None if v == w.NO_VALUE else v

    def strap_closed(self):
        v = self._sense(w.STRAP)
        return None if v is None else v == 1

    def battery_mv(self):
        return self._sense(w.BATTERY_MV)

    def battery_pct(self):
        """Fuel gauge: state of charge in %, or None."""
        return self._sense(w.BATTERY_PCT)

    def case_closed(self):
        v = self._sense(w.CASE)
        return None if v is None else v == 1

    def charger_present(self):
        v = self._sense(w.CHARGER)
        return None if v is None else v == 1

    def charge_full(self):
        v = self._sense(w.CHARGE_FULL)
        return None if v is None else v == 1

    def motion(self):
        """Accelerometer: moved since the last call (a latched flag)."""
        v = self._sense(w.MOTION)
        return None if v is None else v == 1

    def link_rssi(self):
        """Cellular signal in dBm, or None without service."""
        v = self._sense(w.RSSI)
        return None if v is None else -v

    def sensor_events(self):
        """Interrupt pins that fired since the last call: bytes of simwire sensor ids."""
        return self._take(w.SENSOR)

    def led(self, on):
        self._t.call(w.WRITE, bytes([w.LED, 1 if on else 0]))

    def wipe_flash(self):
        """Decommission: erase every block, then a fresh filesystem (as from the factory)."""
        bd = self.bdev
        for block in range(bd.block_count):
            bd.ioctl(6, block)
        if self._host_fs is None:
            import vfs

            vfs.VfsLfs2.mkfs(bd)  # type: ignore[arg-type]
        else:
            self._host_fs.mkfs(bd)

    # storage and entropy
    def mount(self):
        """The littlefs filesystem on the tag's flash (formatted at manufacture)."""
        if self._host_fs is not None:
            return self._host_fs.mount(self.bdev)
        import vfs

        # the stub declares VfsLfs2 abstract and wants its own block-device base class
        return vfs.VfsLfs2(self.bdev, mtime=False)  # type: ignore[abstract, arg-type]

    def random_bytes(self, n):
        return self._t.call(w.RANDOM, w.pack_u32(n))

    # observability: one event for the simulator's events.jsonl
    def event(self, text):
        self._t.call(w.WRITE, bytes([w.EVENT]) + text.encode())
