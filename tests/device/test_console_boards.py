# The real boards (firmware/boards/esp32.py, rp2.py, mcu.py) without their hardware: they
# import and run against fake `machine`, `esp32`, `select` and `micropython` modules, on the
# MicroPython unix port and on CPython. This checks the code paths and the REPL lock, not
# pins, ADC scaling or USB behaviour, which need a board.
import sys
import time

# the board modules, the accelerometer driver and the console are compiled from source into
# the heap here (a board runs them from flash): the tag's 192 KiB are too tight for that
MICROPYTHON_HEAPSIZE = "256k"

ROOT = "/tmp/emtag-board-test"
_calls = []
_handlers = []  # pin interrupt handlers, as registered


class _Obj:
    def __init__(self, *a, **k):
        self.args = a
        self.kw = k
        self._value = k.get("value", 0)
        _calls.append((type(self).__name__, a))

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = v
        _calls.append(("value", (self.args[0] if self.args else None, v)))


class Pin(_Obj):
    IN = 0
    OUT = 1
    PULL_UP = 2
    IRQ_RISING = 4

    def irq(self, trigger=0, handler=None):
        _calls.append(("irq", trigger))
        _handlers.append(handler)


class SPI(_Obj):
    """An ADXL362 on the bus, as a register file: write [0x0A, reg, val], read [0x0B, reg]."""

    regs = {}

    def write(self, data):
        data = bytes(data)
        if data[0] == 0x0A:
            SPI.regs[data[1]] = data[2]
            _calls.append(("accel_write", (data[1], data[2])))
        self._reg = data[1]

    def readinto(self, buf):
        buf[0] = SPI.regs.get(self._reg, 0)


class UART(_Obj):
    def read(self):
        return b"$GPGGA"

    def write(self, data):
        _calls.append(("uart_write", data))


class ADC(_Obj):
    ATTN_11DB = 3

    def atten(self, a):
        pass

    def read_uv(self):
        return 1900000

    def read_u16(self):
        return 32768


class Timer(_Obj):
    ONE_SHOT = 0

    def init(self, mode=0, period=0, callback=None):
        _calls.append(("timer", period))
        callback(self)


class RTC(_Obj):
    def datetime(self, t):
        _calls.append(("rtc", t))


class _Machine:
    Pin = Pin
    SPI = SPI
    UART = UART
    ADC = ADC
    Timer = Timer
    RTC = RTC

    def unique_id(self):
        return b"\x01\x02\x03\x04"

    def reset(self):
        _calls.append(("reset", ()))


class _Poll:
    def register(self, obj, mask=1):
        pass

    def poll(self, timeout=-1):
        return []


class _Select:
    POLLIN = 1

    def poll(self):
        return _Poll()


class _Micropython:
    def kbd_intr(self, c):
        _calls.append(("kbd_intr", c))


class _Partition:
    TYPE_DATA = 1

    @staticmethod
    def find(kind, label=None):
        return []


class _Esp32:
    Partition = _Partition


_FAKES = {
    "machine": _Machine(),
    "esp32": _Esp32(),
    "select": _Select(),
    "micropython": _Micropython(),
}
_saved = {}
_clock = [0]


def _ticks_ms():
    return _clock[0]


def _ticks_diff(a, b):
    return a - b


def setup():
    _calls.clear()
    _clock[0] = 0
    for k, v in _FAKES.items():
        _saved[k] = sys.modules.get(k)
        sys.modules[k] = v
    for name in (
        "emtag.firmware.boards.mcu",
        "emtag.firmware.boards.esp32",
        "emtag.firmware.boards.rp2",
    ):
        sys.modules.pop(name, None)
    if not hasattr(time, "ticks_ms"):  # CPython: the MicroPython clock, faked
        time.ticks_ms = _ticks_ms
        time.ticks_diff = _ticks_diff
        _saved["time"] = True
    from emtag.firmware.boards import mcu

    mcu.DATA_DIR = ROOT
    return mcu


def teardown():
    for k in _FAKES:
        if _saved.get(k) is None:
            sys.modules.pop(k, None)
        else:
            sys.modules[k] = _saved[k]
    if _saved.pop("time", None):
        del time.ticks_ms
        del time.ticks_diff
    for name in (
        "emtag.firmware.boards.mcu",
        "emtag.firmware.boards.esp32",
        "emtag.firmware.boards.rp2",
    ):
        sys.modules.pop(name, None)
    _rmtree(ROOT)


def _rmtree(path):
    import os

    try:
        entries = (
            list(os.ilistdir(path))
            if hasattr(os, "ilistdir")
            else [
                (n, 0x4000 if os.path.isdir(path + "/" + n) else 0x8000) for n in os.listdir(path)
            ]
        )
    except OSError:
        return
    for e in entries:
        full = path + "/" + e[0]
        if e[1] == 0x4000:
            _rmtree(full)
        else:
            os.remove(full)
    os.rmdir(path)


def _check_board(mod, mv):
    SPI.regs = {0x00: 0xAD}  # DEVID_AD
    b = mod.Board()
    assert ("kbd_intr", -1) in _calls  # Ctrl-C is data while the firmware runs
    assert b.serial == "01020304"
    assert b.gnss_read() == b"$GPGGA"
    b.gnss_write(b"$PUBX")
    b.gnss_power(True)
    assert b.strap_closed() is True  # the loop pulls the pin to ground
    b.strap._value = 1
    assert b.strap_closed() is False
    assert b.battery_mv() == mv
    b.vibrate(800)
    assert ("timer", 800) in _calls
    b.set_utc_ms(1772442000000)
    assert [c for c in _calls if c[0] == "rtc"][-1][1][:3] == (2026, 3, 2)
    _clock[0] = 1500
    if _saved.get("time"):  # the faked clock (CPython)
        assert b.now_ms() == 1500
    else:
        assert 0 <= b.now_ms() < 60000
    b.sleep_until(1400)  # in the past: returns at once
    assert b.link_read() is None
    # the ADXL362 answered with its id and was set to loop mode, activity on INT1
    assert ("accel_write", (0x27, 0x3F)) in _calls and ("accel_write", (0x2A, 0x10)) in _calls
    assert ("accel_write", (0x25, 375 & 0xFF)) in _calls  # 30 s of 12.5 Hz samples
    assert ("irq", Pin.IRQ_RISING) in _calls
    SPI.regs[0x0B] = 0x40  # STATUS: AWAKE
    assert b.accel_awake() is True
    SPI.regs[0x0B] = 0x00
    assert b.accel_awake() is False
    assert b.sensor_events() is None
    _handlers[-1](None)  # INT1 rises: the wearer moves after rest
    assert b.sensor_events() == bytes([6]) and b.sensor_events() is None
    assert b.gnss_baud == 9600 and b.gnss_output_delay_ms > 0
    fs = b.mount()
    with fs.open("x", "wb") as f:
        f.write(b"abc")
    fs.mkdir("log")
    with fs.open("log/0001", "wb") as f:
        f.write(b"1")
    assert sorted(e[0] for e in fs.ilistdir("")) == ["log", "x"]
    assert b.unlocked() is True  # no trust record: factory state
    b.wipe_flash()
    assert list(fs.ilistdir("")) == []
    return b


def test_esp32_board_without_hardware():
    try:
        setup()
        from emtag.firmware.boards import esp32

        _check_board(esp32, 3800)
    finally:
        teardown()


def test_rp2_board_without_hardware():
    try:
        setup()
        from emtag.firmware.boards import rp2

        _check_board(rp2, 4950)
    finally:
        teardown()


class _FakeMain:
    def __init__(self, exc):
        self.exc = exc

    def run(self, board):
        raise self.exc


def test_locked_tag_resets_instead_of_reaching_the_repl():
    saved = sys.modules.get("emtag.firmware.main")
    try:
        mcu = setup()
        from emtag.firmware.boards import esp32

        b = esp32.Board()
        with b.mount().open("trust.cbor", "wb") as f:
            f.write(b"\x83\x01\x40\xf4")  # [1, h'', false]: provisioned, locked
        assert b.unlocked() is False
        fake = _FakeMain(ValueError("bug"))
        sys.modules["emtag.firmware.main"] = fake
        import emtag.firmware

        emtag.firmware.main = fake
        mcu.run(b)
        assert ("reset", ()) in _calls
        with b.mount().open("crash.txt", "r") as f:
            assert "bug" in f.read()
        # unlocked for development: the error reaches the REPL instead
        with b.mount().open("trust.cbor", "wb") as f:
            f.write(b"\x83\x01\x40\xf5")
        _calls.clear()
        try:
            mcu.run(b)
            raise AssertionError("should have raised")
        except ValueError:
            pass
        assert ("reset", ()) not in _calls
        # the console's REPL escape (only ever on an unlocked tag) is not caught
        try:
            b.enter_repl()
            raise AssertionError("should have raised")
        except KeyboardInterrupt:
            pass
        assert ("kbd_intr", 3) in _calls
    finally:
        import emtag.firmware

        if saved is None:
            sys.modules.pop("emtag.firmware.main", None)
            if hasattr(emtag.firmware, "main"):
                delattr(emtag.firmware, "main")
        else:
            sys.modules["emtag.firmware.main"] = saved
            emtag.firmware.main = saved
        teardown()
