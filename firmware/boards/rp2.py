# mypy: disable-error-code="attr-defined,call-arg,call-overload,abstract"
# (type-checked against the unix port's stubs, whose `machine` lacks this port's API)
"""RP2040 / RP2350 tag board (Raspberry Pi Pico class): GNSS on UART0, strap, battery, motor.

    # main.py on the board (written by `emtag flash --board rp2`)
    from emtag.firmware.boards import rp2
    rp2.main()

Wiring (PINS, change to match the PCB): GNSS on UART0 GP0/GP1 at 9600 baud, enable GP2;
the strap loop between GP3 (pull-up) and ground; the battery through a 1:3 divider on GP29
(ADC3, as VSYS on a Pico); the motor's driver on GP4; an ADXL362 accelerometer on SPI0
(SCK GP18, MOSI GP19, MISO GP16, CS GP17) with its INT1 on GP20. The console is the USB CDC port
(stdin/stdout). The tag's files live in /data on the root littlefs (boards/mcu.py).

Not tested on hardware (see boards/mcu.py): it imports and constructs on the unix port with
a fake `machine`. With physical access, BOOTSEL mode lets anyone read the RP2040's flash,
device key included; production tags need the RP2350's secure boot and OTP-held keys, or a
secure element behind the signer interface (firmware/signer.py).
"""

import machine

from emtag.firmware.boards import mcu

PINS = {
    "gnss_tx": 0,
    "gnss_rx": 1,
    "gnss_en": 2,
    "strap": 3,
    "battery": 29,
    "motor": 4,
    "accel_sck": 18,
    "accel_mosi": 19,
    "accel_miso": 16,
    "accel_cs": 17,
    "accel_int1": 20,
}
GNSS_UART = 0
GNSS_BAUD = 9600
ACCEL_SPI = 0  # the ADXL362 accelerometer (boards/adxl362.py), its INT1 on accel_int1
BATTERY_DIVIDER = 3
ADC_REF_UV = 3300000


class Board(mcu.McuBoard):
    name = "rp2"

    def __init__(self, pins=None):
        super().__init__()
        p = dict(PINS)
        if pins:
            p.update(pins)
        self.uart = machine.UART(
            GNSS_UART, GNSS_BAUD, tx=machine.Pin(p["gnss_tx"]), rx=machine.Pin(p["gnss_rx"])
        )
        self._wait_poll.register(self.uart, 1)  # select.POLLIN
        self.gnss_en = machine.Pin(p["gnss_en"], machine.Pin.OUT, value=0)
        self.strap = machine.Pin(p["strap"], machine.Pin.IN, machine.Pin.PULL_UP)
        self.adc = machine.ADC(machine.Pin(p["battery"]))
        self.motor = machine.Pin(p["motor"], machine.Pin.OUT, value=0)
        self._motor_timer = machine.Timer()
        self.gnss_baud = GNSS_BAUD
        pin = machine.Pin
        spi = machine.SPI(
            ACCEL_SPI, 1000000, sck=pin(p["accel_sck"]), mosi=pin(p["accel_mosi"]),
            miso=pin(p["accel_miso"]),
        )  # fmt: skip
        self._accel(spi, pin(p["accel_cs"], pin.OUT, value=1), pin(p["accel_int1"], pin.IN))
        self.serial = "".join("%02x" % b for b in machine.unique_id())

    def battery_mv(self):
        return self.adc.read_u16() * ADC_REF_UV * BATTERY_DIVIDER // 65535 // 1000


def main(pins=None):
    mcu.run(Board(pins))
