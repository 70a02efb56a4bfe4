# mypy: disable-error-code="attr-defined,call-arg,call-overload,abstract"
# (type-checked against the unix port's stubs, whose `machine` lacks this port's API)
"""ESP32 / ESP32-S3 tag board: GNSS module on UART1, strap loop, battery divider, motor.

    # main.py on the board (written by `emtag flash`)
    from emtag.firmware.boards import esp32
    esp32.main()

Wiring (PINS, change to match the PCB): GNSS TX/RX on GPIO 17/18 at 9600 baud with its
enable on GPIO 4; the strap's conductive loop between GPIO 5 (pull-up) and ground, so a
closed strap reads 0 and a cut one 1; the battery through a 1:1 divider on GPIO 1 (ADC,
11 dB attenuation); the vibration motor's driver on GPIO 6; an ADXL362 accelerometer on
SPI2 (SCK 12, MOSI 11, MISO 13, CS 10) with its INT1 on GPIO 9. The USB serial console is
stdin/stdout (USB-Serial/JTAG on the S3, the UART0 bridge on classic ESP32 boards).

Storage: a data partition labelled "emtagdata" in the partition table, if there is one,
holds the tag's files on its own littlefs, so decommissioning erases all of it; without it
they live in /data on the root filesystem (development boards).

Not tested on hardware (see boards/mcu.py): it imports and constructs on the unix port with
a fake `machine`. Production tags also need flash encryption and secure boot enabled: with
plain flash, `esptool read_flash` over the same USB port reads the device key.
"""

import machine

from emtag.firmware.boards import mcu

PINS = {
    "gnss_tx": 17,
    "gnss_rx": 18,
    "gnss_en": 4,
    "strap": 5,
    "battery": 1,
    "motor": 6,
    "accel_sck": 12,
    "accel_mosi": 11,
    "accel_miso": 13,
    "accel_cs": 10,
    "accel_int1": 9,
}
GNSS_UART = 1
GNSS_BAUD = 9600
ACCEL_SPI = 2  # the ADXL362 accelerometer (boards/adxl362.py), its INT1 on accel_int1
BATTERY_DIVIDER = 2
DATA_PARTITION = "emtagdata"


class Board(mcu.McuBoard):
    name = "esp32"

    def __init__(self, pins=None):
        super().__init__()
        p = dict(PINS)
        if pins:
            p.update(pins)
        self.uart = machine.UART(GNSS_UART, GNSS_BAUD, tx=p["gnss_tx"], rx=p["gnss_rx"])
        self._wait_poll.register(self.uart, 1)  # select.POLLIN
        self.gnss_en = machine.Pin(p["gnss_en"], machine.Pin.OUT, value=0)
        self.strap = machine.Pin(p["strap"], machine.Pin.IN, machine.Pin.PULL_UP)
        self.adc = machine.ADC(machine.Pin(p["battery"]))
        self.adc.atten(machine.ADC.ATTN_11DB)
        self.motor = machine.Pin(p["motor"], machine.Pin.OUT, value=0)
        self._motor_timer = machine.Timer(0)
        self.gnss_baud = GNSS_BAUD
        pin = machine.Pin
        spi = machine.SPI(
            ACCEL_SPI, 1000000, sck=pin(p["accel_sck"]), mosi=pin(p["accel_mosi"]),
            miso=pin(p["accel_miso"]),
        )  # fmt: skip
        self._accel(spi, pin(p["accel_cs"], pin.OUT, value=1), pin(p["accel_int1"], pin.IN))
        self.serial = "".join("%02x" % b for b in machine.unique_id())
        self._part = None

    # the battery, through its divider
    def battery_mv(self):
        return self.adc.read_uv() * BATTERY_DIVIDER // 1000

    # storage
    def _partition(self):
        try:
            import esp32  # type: ignore[import-not-found]
        except ImportError:
            return None
        found = esp32.Partition.find(esp32.Partition.TYPE_DATA, label=DATA_PARTITION)
        return found[0] if found else None

    def mount(self):
        if self._fs is None:
            part = self._part = self._partition()
            if part is None:
                return super().mount()
            import vfs

            try:
                self._fs = vfs.VfsLfs2(part)
            except OSError:  # blank partition: format it (first boot)
                vfs.VfsLfs2.mkfs(part)
                self._fs = vfs.VfsLfs2(part)
        return self._fs

    def wipe_flash(self):
        part = self._part
        if part is None:
            return super().wipe_flash()
        import vfs

        for block in range(part.ioctl(4, 0)):
            part.ioctl(6, block)  # erase: the old key is gone from the flash, not just unlinked
        vfs.VfsLfs2.mkfs(part)
        self._fs = None


def main(pins=None):
    mcu.run(Board(pins))
