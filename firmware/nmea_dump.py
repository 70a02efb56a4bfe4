"""Feed stdin to the tag's NMEA parser and print each fix as one line of integers.

    micropython -m emtag.firmware.nmea_dump [--no-checksum] [--not-before DAYS] < capture

Used by `emtag nmea --interpreter micropython`, which formats the lines as JSON. A line
is `F` and the FIELDS values (`-` for None); the last line is `C` and the counters.
"""

import sys

from emtag.firmware.gnss_fix import NCONS
from emtag.firmware.gnss_time import NOT_BEFORE_DAYS
from emtag.firmware.nmea import NmeaParser

FIELDS = (
    "t",
    "t_ms",
    "lat",
    "lon",
    "fix",
    "sats",
    "hdop",
    "pdop",
    "vdop",
    "alt_cm",
    "speed_mmps",
    "course_cdeg",
    "acc_cm",
    "cn0_mask",
)
ARRAYS = ("sv_view", "sv_cn0", "cn0_max", "cn0_mean", "sv_used")
COUNTERS = ("good", "bad_checksum", "overlong", "unknown", "garbage")


def _emit(fix):
    out = ["F"]
    for name in FIELDS:
        v = getattr(fix, name)
        out.append("-" if v is None else str(v))
    for name in ARRAYS:
        a = getattr(fix, name)
        for c in range(NCONS):
            out.append(str(a[c]))
    print(" ".join(out))


def main(argv):
    require_checksum = "--no-checksum" not in argv
    not_before = NOT_BEFORE_DAYS
    if "--not-before" in argv:
        not_before = int(argv[argv.index("--not-before") + 1])
    p = NmeaParser(_emit, require_checksum, not_before)
    buf = bytearray(512)
    stdin = sys.stdin.buffer
    while True:
        n = stdin.readinto(buf)
        if not n:
            break
        p.feed(buf if n == len(buf) else memoryview(buf)[:n])
    p.flush()
    print("C " + " ".join(str(getattr(p, name)) for name in COUNTERS))


if __name__ == "__main__":
    main(sys.argv[1:])
