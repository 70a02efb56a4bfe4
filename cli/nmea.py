"""Run the tag's NMEA parser (emtag.firmware.nmea) over capture files and print one JSON
object per epoch: time (ISO 8601 UTC), lat, lon (degrees, 7 decimals), fix (none, 2d,
3d), sats, hdop, accuracy_m, speed_mps, course_deg, alt_m; null where unknown.

Lines starting with `#` are comments (gpsd's capture format) and are dropped. Each file
is decoded by a fresh parser; its health counters go to stderr. Corrupt input is counted,
never fatal: the exit status is non-zero only when a file cannot be read.

PATH `-` reads the capture from standard input (`gpspipe -R | emtag nmea -`).

Dates before --not-before are treated as GPS week rollovers (moved 1024 weeks on), and
stderr says so: which file, how many epochs, from which dates to which. The default is the
tag's (2025-01-01); give the capture's date when replaying older logs.
"""

import argparse
import os
import sys

from emtag.firmware.gnss_time import NOT_BEFORE_DAYS, days_from_civil, valid_date
from emtag.host.errors import CommandError
from emtag.host.nmeacapture import (
    date_repairs,
    decode_cpython,
    decode_micropython,
    dumps,
    iso_day,
    strip_comments,
    to_json_dict,
)

HELP = "decode NMEA captures with the tag's parser: one JSON fix per epoch"

def add_arguments(parser):
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="NMEA capture file, or - for standard input"
    )
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
    if path == "-":
        return strip_comments(sys.stdin.buffer.read())
    try:
        with open(path, "rb") as f:
            return strip_comments(f.read())
    except OSError as e:
        raise CommandError("cannot read %s: %s" % (path, e.strerror or e)) from None


def run(args):
    if args.paths.count("-") > 1:
        raise CommandError("standard input (-) can be read only once")
    datas = [read_capture(path) for path in args.paths]  # all readable before any output
    decode = decode_micropython if args.interpreter == "micropython" else decode_cpython
    not_before = NOT_BEFORE_DAYS if args.not_before is None else args.not_before
    for path, data in zip(args.paths, datas, strict=True):
        name = "<stdin>" if path == "-" else os.path.basename(path)
        fixes, counters = decode(data, not args.no_checksum, not_before)
        for fix in fixes:  # a closed pipe (`| head`) ends the command: cli/main.py
            sys.stdout.write(dumps(to_json_dict(fix, args.full)) + "\n")
        sys.stdout.flush()
        print("emtag nmea: %s: epochs=%d %s" % (
            name, len(fixes),
            " ".join("%s=%d" % kv for kv in counters.items())), file=sys.stderr)
        for line in _date_notes(name, date_repairs(data, not args.no_checksum, fixes),
                                not_before):
            print("emtag nmea: %s: %s" % (name, line), file=sys.stderr)
    return 0


def _date_notes(name, repairs, not_before):
    """What the parser did to the receiver's dates, in words (nothing when it did nothing)."""
    notes = []
    moved, dropped = repairs["moved"], repairs["dropped"]
    if moved:
        src = sorted(d for d, _ in moved)
        dst = sorted(d for _, d in moved)
        notes.append(
            "%d epoch%s dated %s moved 1024 weeks (19.6 years) on, to %s: dates before %s are "
            "taken as a GPS week-number rollover; if the capture really is from then, give "
            "--not-before %s (the earliest plausible date)"
            % (len(moved), "" if len(moved) == 1 else "s", _span(src), _span(dst),
               iso_day(not_before), iso_day(src[0])[:4] + "-01-01")
        )
    if dropped:
        days = sorted(dropped)
        notes.append(
            "%d epoch%s dated %s given no time: too early even as a week-number rollover "
            "(before %s); if the capture really is from then, give --not-before %s"
            % (len(days), "" if len(days) == 1 else "s", _span(days), iso_day(not_before),
               iso_day(days[0])[:4] + "-01-01")
        )
    return notes


def _span(days):
    a, b = iso_day(days[0]), iso_day(days[-1])
    return a if a == b else "%s to %s" % (a, b)
