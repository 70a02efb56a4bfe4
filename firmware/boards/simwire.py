"""The lockstep wire between the `sim` board and the CPython simulator.

Each request is op (1 byte) + length (4 bytes LE) + body; each reply is length + body.
Shared by firmware/boards/sim.py (tag side) and emtag.simulator.runner (host side).
Virtual time only moves inside SLEEP, so a run is reproducible whatever the host's speed.
"""

SLEEP = 1  # body: deadline ms (8 LE). reply: now ms (8) + flags (1) + chunks
WRITE = 2  # body: channel (1) + data. reply: empty
READ_BLOCK = 3  # body: block (4) + offset (4) + length (4). reply: data
PROG_BLOCK = 4  # body: block (4) + offset (4) + data. reply: empty
ERASE_BLOCK = 5  # body: block (4). reply: empty
RANDOM = 6  # body: n (4). reply: n bytes from the scenario's seeded generator
INFO = 7  # body: empty. reply: now (8) + block size (4) + block count (4) + serial (rest)
SENSE = 8  # body: sensor (1). reply: value (4 LE), NO_VALUE when the sim has none
GNSS_INFO = 9  # body: empty. reply: UART baud (4) + receiver output delay, ms (4)

# channels for WRITE and for the chunks in a SLEEP reply: chunk = channel (1) + len (4) + data
GNSS = 1  # UART to and from the GNSS module
LINK = 2  # serial uplink to the host bridge
EVENT = 3  # tag -> sim: one JSON event object for events.jsonl
GNSS_POWER = 4  # tag -> sim: b"\x01" on, b"\x00" off
SENSOR = 5  # sim -> tag: interrupt pins; data: the sensor ids below that fired
VIBRATE = 6  # tag -> sim: run the vibration motor for n ms (4 LE)
CONSOLE = 7  # both ways: the USB serial console (fitting, protocol/console.cddl)
LED = 8  # tag -> sim: b"\x01" on, b"\x00" off

# sensors for SENSE
STRAP = 1  # 1: strap circuit closed, 0: open (also an interrupt, SENSOR)
BATTERY_MV = 2  # battery voltage, mV
CASE = 3  # 1: case switch closed, 0: case opened (also an interrupt)
BATTERY_PCT = 4  # fuel gauge: state of charge, %
CHARGER = 5  # 1: charger plugged in (also an interrupt)
MOTION = 6  # accelerometer: 1 if it moved since the last read (interrupt: motion began
# after the accelerometer's inactivity time, ADXL362 linked mode)
RSSI = 7  # cellular signal, -dBm (85 = -85 dBm); NO_VALUE: no service
CHARGE_FULL = 8  # 1: the charger finished (full)
AWAKE = 9  # accelerometer: 1 while it has seen motion within its inactivity time, 0 when
# it has seen none that long (its activity interrupt, MOTION, is then armed)
LINK_UP = 10  # 1: the uplink carries bytes (a modem registered, a serial carrier line); an
#               interrupt when it changes
NO_VALUE = 0xFFFFFFFF

FLAG_STOP = 1  # the scenario is over: the firmware should shut down


def u32(b, i):
    return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)


def u64(b, i):
    return u32(b, i) | (u32(b, i + 4) << 32)


def pack_u32(n):
    return n.to_bytes(4, "little")


def pack_u64(n):
    return n.to_bytes(8, "little")


def request(op, body):
    return bytes([op]) + pack_u32(len(body)) + body


def split_chunks(body, start):
    """Yield (channel, data) chunks from a SLEEP reply body."""
    i, n = start, len(body)
    while i + 5 <= n:
        ch, size = body[i], u32(body, i + 1)
        yield ch, body[i + 5 : i + 5 + size]
        i += 5 + size
