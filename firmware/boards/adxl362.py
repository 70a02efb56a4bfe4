"""ADXL362 accelerometer on SPI, in loop mode: the wearer's motion for the real boards.

    acc = Adxl362(spi, cs, int1)   # cs: an output Pin; int1: an input Pin (or None)
    acc.present                    # False: no part answered (the board works without it)
    acc.awake()                    # motion within the inactivity time (STATUS.AWAKE)
    acc.fired()                    # the activity interrupt fired since the last call

Loop mode (ADXL362 data sheet, Rev. F, "Linked mode" and "Loop mode"): the part looks for
activity only after it has seen inactivity, and for inactivity only after activity, with
no host acknowledgement. So INT1, mapped to activity, rises exactly when the wearer moves
after INACTIVE_S of stillness: the tag switches its GNSS receiver on at once
(firmware/monitor.py, duty.py). Thresholds: activity above ACT_MG for one sample,
inactivity under INACT_MG for INACTIVE_S, referenced (to gravity at the start), at
12.5 Hz in wake-up mode (1.8 uA). Not tested on hardware: the register sequence is the data
sheet's, exercised against a register model (tests/device/test_console_boards.py).
"""

INACTIVE_S = 30  # as the simulator's model (simulator/sensors.py)
ACT_MG = 250
INACT_MG = 150
ODR_HZ = 12.5

WRITE = 0x0A
READ = 0x0B
DEVID_AD = 0x00  # reads 0xAD
STATUS = 0x0B
AWAKE = 0x40
THRESH_ACT_L = 0x20
THRESH_INACT_L = 0x23
TIME_INACT_L = 0x25
ACT_INACT_CTL = 0x27
INTMAP1 = 0x2A
FILTER_CTL = 0x2C
RATE_12_5 = 0x10  # +-2 g (1 mg per LSB), half bandwidth, 12.5 Hz
POWER_CTL = 0x2D
LOOP = 0x30  # LINKLOOP = 11
REFERENCED = 0x0A  # INACT_REF | ACT_REF
ENABLED = 0x05  # INACT_EN | ACT_EN
INT_ACT = 0x10
MEASURE_AUTOSLEEP = 0x06  # measurement mode, wake-up mode while inactive
RISING = 1  # machine.Pin.IRQ_RISING on both ports


class Adxl362:
    def __init__(self, spi, cs, int1=None):
        self.spi = spi
        self.cs = cs
        self._tx = bytearray(3)
        self._rx = bytearray(1)
        self._fired = False
        cs.value(1)
        self.present = self._read(DEVID_AD) == 0xAD
        if not self.present:
            return
        n = int(INACTIVE_S * ODR_HZ)
        for reg, val in (
            (THRESH_ACT_L, ACT_MG & 0xFF),
            (THRESH_ACT_L + 1, ACT_MG >> 8),
            (THRESH_INACT_L, INACT_MG & 0xFF),
            (THRESH_INACT_L + 1, INACT_MG >> 8),
            (TIME_INACT_L, n & 0xFF),
            (TIME_INACT_L + 1, n >> 8),
            (ACT_INACT_CTL, LOOP | REFERENCED | ENABLED),
            (FILTER_CTL, RATE_12_5),
            (INTMAP1, INT_ACT),
            (POWER_CTL, MEASURE_AUTOSLEEP),
        ):
            self._write(reg, val)
        if int1 is not None:
            int1.irq(trigger=getattr(type(int1), "IRQ_RISING", RISING), handler=self._irq)

    def _irq(self, pin):
        self._fired = True  # an interrupt handler: set a flag, nothing more

    def _write(self, reg, val):
        t = self._tx
        t[0] = WRITE
        t[1] = reg
        t[2] = val
        self.cs.value(0)
        self.spi.write(t)
        self.cs.value(1)

    def _read(self, reg):
        t = self._tx
        t[0] = READ
        t[1] = reg
        self.cs.value(0)
        self.spi.write(memoryview(t)[:2])
        self.spi.readinto(self._rx)
        self.cs.value(1)
        return self._rx[0]

    def awake(self):
        """True while the part has seen motion within INACTIVE_S, None without a part."""
        if not self.present:
            return None
        return bool(self._read(STATUS) & AWAKE)

    def fired(self):
        """The activity interrupt fired since the last call."""
        f = self._fired
        self._fired = False
        return f
