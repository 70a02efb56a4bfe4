"""What the real boards (esp32.py, rp2.py) share: clock, USB console, storage, the REPL lock.

The USB serial port carries both the MicroPython REPL and the tag's console (frames,
protocol/console.cddl). While the firmware runs, `micropython.kbd_intr(-1)` makes 0x03 an
ordinary byte, so a Ctrl-C inside a frame, or typed by the wearer, interrupts nothing. The
console (firmware/console.py) recognises the REPL escape (`\\r\\x03` after a delimiter) and
calls enter_repl() only when the tag is unlocked for development; a locked tag never
returns to the REPL: main() resets the board on any error instead.

Storage. The firmware's files live under DATA_DIR on the filesystem MicroPython mounted at
/ (the code is in /lib on the same one), through PrefixFs; a board with a dedicated data
partition (esp32.py: label "emtagdata") mounts that instead, so decommissioning can erase
every block of it.

Not tested on hardware: this module and the boards import and construct on the unix port
with fake `machine` modules (tests/device/test_console_boards.py); pin maps, ADC scaling,
sleep currents and the USB stdio behaviour need a real board.
"""

import sys
import time

import machine
import micropython

DATA_DIR = "/data"
CONSOLE_CHUNK = 512  # most bytes taken from USB per pass


class PrefixFs:
    """The vfs calls the firmware makes, on a directory of the mounted root filesystem."""

    def __init__(self, root=None):
        import os

        self._os = os
        self.root = root = root or DATA_DIR
        try:
            os.mkdir(root)
        except OSError:
            pass  # exists

    def _p(self, path):
        return self.root + "/" + path if path and path != "/" else self.root

    def open(self, path, mode="r"):
        return open(self._p(path), mode)

    def ilistdir(self, path="/"):
        p = self._p(path)
        il = getattr(self._os, "ilistdir", None)
        if il is not None:
            return il(p)
        # CPython (tests): the same (name, type) tuples from listdir and stat
        return [(n, self._os.stat(p + "/" + n)[0] & 0xF000, 0) for n in self._os.listdir(p)]

    def mkdir(self, path):
        self._os.mkdir(self._p(path))

    def remove(self, path):
        p = self._p(path)
        try:
            self._os.remove(p)
        except OSError:
            self._os.rmdir(p)

    def rename(self, old, new):
        self._os.rename(self._p(old), self._p(new))

    def stat(self, path):
        return self._os.stat(self._p(path))

    def statvfs(self, path):
        return self._os.statvfs(self.root)


class McuBoard:
    """Base of the real boards: the parts that are the same on ESP32 and RP2. A board's
    __init__ sets its pins: uart (GNSS), gnss_en, strap, motor and _motor_timer."""

    name = "mcu"
    uart: "machine.UART"
    gnss_en: "machine.Pin"
    strap: "machine.Pin"
    motor: "machine.Pin"
    _motor_timer: "machine.Timer"

    def __init__(self):
        import select

        micropython.kbd_intr(-1)  # 0x03 on the USB console is data, never an interrupt
        self.stopped = False
        self._t = time.ticks_ms()
        self._ms = 0
        self._stdin = sys.stdin.buffer  # type: ignore[attr-defined]
        self._stdout = sys.stdout.buffer  # type: ignore[attr-defined]
        self._console_poll = select.poll()
        self._console_poll.register(sys.stdin, select.POLLIN)
        self._wait_poll = select.poll()  # console or GNSS input ends a sleep
        self._wait_poll.register(sys.stdin, select.POLLIN)
        self._fs = None

    # GNSS module (UART.write is a stream method its stub lacks)
    def gnss_read(self):
        return self.uart.read()

    def gnss_write(self, data):
        self.uart.write(data)  # type: ignore[attr-defined]

    def gnss_power(self, on):
        self.gnss_en.value(1 if on else 0)

    # the strap loop pulls its pin to ground while closed; the vibration motor
    def strap_closed(self):
        return self.strap.value() == 0

    def vibrate(self, ms):
        motor = self.motor
        motor.value(1)
        self._motor_timer.init(
            mode=machine.Timer.ONE_SHOT,  # type: ignore[attr-defined]
            period=ms,
            callback=lambda t: motor.value(0),
        )

    # time: milliseconds since boot, from the wrapping tick counter
    def now_ms(self):
        t = time.ticks_ms()
        self._ms += time.ticks_diff(t, self._t)
        self._t = t
        return self._ms

    def sleep_until(self, deadline_ms):
        """Idle until the deadline or input on the console or the GNSS UART. (lightsleep
        would cut the current further; the UART and USB must then be wake sources.)"""
        wait = deadline_ms - self.now_ms()
        if wait > 0:
            self._wait_poll.poll(min(wait, 1000))

    def set_utc_ms(self, utc_ms):
        """`time sync`: the RTC from UTC ms (ports count from 1970 or, older ones, 2000)."""
        import machine

        s = utc_ms // 1000 - (0 if time.gmtime(0)[0] == 1970 else 946684800)
        t = time.gmtime(s)
        rtc = machine.RTC()
        rtc.datetime((t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0))  # type: ignore[attr-defined]

    # USB serial console
    def console_read(self):
        out = None
        poll = self._console_poll.poll
        while poll(0):
            b = self._stdin.read(1)
            if not b:
                break
            out = bytearray(b) if out is None else out + b
            if len(out) >= CONSOLE_CHUNK:
                break
        return bytes(out) if out else None

    def console_write(self, data):
        self._stdout.write(data)

    def enter_repl(self):
        """The console's REPL escape, on an unlocked tag: give the port back to the REPL."""
        micropython.kbd_intr(3)
        raise KeyboardInterrupt

    # no uplink modem driver yet: records wait on flash (the bridge link is simulated only)
    def link_read(self):
        return None

    def link_write(self, data):
        pass

    # storage and entropy
    def mount(self):
        if self._fs is None:
            self._fs = PrefixFs()
        return self._fs

    def wipe_flash(self):
        """Decommission: remove every file of the firmware's (PrefixFs cannot erase blocks;
        a board with its own data partition erases all of it instead)."""
        from emtag.firmware import files

        files.remove_tree(self.mount(), "")

    def random_bytes(self, n):
        import os

        return os.urandom(n)

    # events: kept by the Tag for the console's `logs`; stdout is the console, so never
    # printed (text between frames would break the next frame on the host)
    def event(self, text):
        pass

    def unlocked(self):
        from emtag.firmware import console

        return console.read_dev(self.mount())


def run(board):
    """Run the tag; an unlocked tag drops to the REPL on an error, a locked one resets."""
    from emtag.firmware import main

    try:
        main.run(board)
    except KeyboardInterrupt:
        raise  # only the console's REPL escape raises it, and only on an unlocked tag
    except Exception as e:
        if board.unlocked():
            raise
        try:  # stdout is the console: the traceback goes to a file for the next fitting
            with board.mount().open("crash.txt", "w") as f:
                pe = getattr(sys, "print_exception", None)
                if pe is not None:
                    pe(e, f)
                else:
                    f.write(repr(e))
        except OSError:
            pass
        import machine

        machine.reset()  # type: ignore[attr-defined]
