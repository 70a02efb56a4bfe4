"""Run the tag's NMEA parser (emtag.firmware.nmea) over capture files and print one JSON
object per epoch: time (ISO 8601 UTC), lat, lon (degrees, 7 decimals), fix (none, 2d,
3d), sats, hdop, accuracy_m, speed_mps, course_deg, alt_m; null where unknown.

Lines starting with `#` are comments (gpsd's capture format) and are dropped. Each file
is decoded by a fresh parser; its health counters go to stderr. Corrupt input is counted,
never fatal: the exit status is non-zero only when a file cannot be read.

Dates before --not-before are treated as GPS week rollovers (moved 1024 weeks on). The
default is the tag's (2025-01-01); give the capture date when replaying older logs.
"""

import argparse
import os
import sys

from emtag.firmware.gnss_time import NOT_BEFORE_DAYS, days_from_civil, valid_date
from emtag.host.errors import CommandError
from emtag.host.nmeacapture import (
    decode_cpython,
    decode_micropython,
    dumps,
    strip_comments,
    to_json_dict,
)

HELP = "decode NMEA captures with the tag's parser: one JSON fix per epoch"

def add_arguments(parser):
    parser.add_argument("paths", nargs="+", metavar="PATH", help="NMEA capture file")
    parser.add_argument(
        "--interpreter", choices=("cpython", "micropython"), default="cpython",
        help="run the parser here (cpython) or in the MicroPython unix port, as on the tag",
    )
    parser.add_argument(
        "--no-checksum", action="store_true",
        help="receiver profile: accept sentences that carry no checksum",
    )
    parser.add_argument(
        "--not-before", metavar="YYYY-MM-DD", type=parse_date,
        help="earliest plausible date (default: the tag's, 2025-01-01)",
    )
    parser.add_argument(
        "--full", action="store_true",
        help="also print pdop, vdop and the per-constellation C/N0 summary",
    )


def parse_date(text):
    """YYYY-MM-DD as days since 1970 (an argparse type)."""
    try:
        y, m, d = (int(x) for x in text.split("-"))
        if not valid_date(y, m, d):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError("want YYYY-MM-DD, not %r" % text) from None
    return days_from_civil(y, m, d)


def read_capture(path):
    try:
        with open(path, "rb") as f:
            return strip_comments(f.read())
    except OSError as e:
        raise CommandError("cannot read %s: %s" % (path, e.strerror or e)) from None


def run(args):
    datas = [read_capture(path) for path in args.paths]  # all readable before any output
    decode = decode_micropython if args.interpreter == "micropython" else decode_cpython
    not_before = NOT_BEFORE_DAYS if args.not_before is None else args.not_before
    for path, data in zip(args.paths, datas, strict=True):
        fixes, counters = decode(data, not args.no_checksum, not_before)
        try:
            for fix in fixes:
                sys.stdout.write(dumps(to_json_dict(fix, args.full)) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # `| head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        print("emtag nmea: %s: epochs=%d %s" % (
            os.path.basename(path), len(fixes),
            " ".join("%s=%d" % kv for kv in counters.items())), file=sys.stderr)
    return 0
