"""Look after the bridge's store (SQLite file or PostgreSQL database).

  emtag store devices --store DB                         # the tags it holds, and their state
  emtag store retention --store DB --older-than 400d     # delete records older than that

Retention deletes records whose time (the tag's; the bridge's for records without one) is
older than the policy period, with their MQTT outbox rows and alert acknowledgements, in
one transaction, and writes the run to the store's retention log (shown with
--show-log). Each tag's newest valid record stays whatever its age: the bridge continues
the tag's evidence chain from it. Export evidence bundles you must keep before deleting."""

import datetime
import re
import time

from emtag.cli.storeargs import add_store_argument, open_reading
from emtag.host.errors import CommandError

HELP = "the bridge's store: the tags it holds; retention (delete old records, logged)"

UNITS = {"d": 86400, "w": 7 * 86400, "h": 3600}
MAX_DAYS = 100 * 365


def add_arguments(p):
    sub = p.add_subparsers(dest="store_command", metavar="COMMAND", required=True)
    d = sub.add_parser("devices", help="list the tags in the store: last record, position, "
                       "battery, open breaches, unacknowledged alerts")
    add_store_argument(d)
    d.add_argument("--json", action="store_true", help="one JSON object per tag, raw units")
    d.set_defaults(_action=_devices)
    r = sub.add_parser("retention", help="delete records older than a policy period")
    r.set_defaults(_action=_retention)
    add_store_argument(r)
    r.add_argument(
        "--older-than", required=True, metavar="PERIOD",
        help="policy period: N followed by d (days), w (weeks) or h (hours), e.g. 400d",
    )  # fmt: skip
    r.add_argument("--now", metavar="T", help="reference time (ISO 8601 or Unix s; default now)")
    r.add_argument("--show-log", action="store_true", help="then list every retention run")


def parse_period(text):
    m = re.fullmatch(r"\s*(\d{1,6})\s*([dwh])\s*", text or "")
    if not m:
        raise CommandError("--older-than %r: give N followed by d, w or h (e.g. 400d)" % text)
    seconds = int(m.group(1)) * UNITS[m.group(2)]
    if seconds <= 0 or seconds > MAX_DAYS * 86400:
        raise CommandError("--older-than %r: between 1 hour and 100 years" % text)
    return seconds


def run(args):
    return args._action(args)


def _devices(args):
    import json

    store = open_reading(args.store)
    try:
        tags = store.device_status()
    finally:
        store.close()
    if args.json:
        for s in tags:
            d = s._asdict()
            d["last_fix"] = s.last_fix._asdict() if s.last_fix else None
            print(json.dumps(d))
        return 0
    if not tags:
        print("%s: no tags yet" % args.store)
    for s in tags:
        f = s.last_fix
        where = (
            "%s (within %s)" % (_degrees(f.lat_e7, f.lon_e7), _metres(f.acc_cm))
            if f else "no fix yet"
        )
        print("%s  firmware %s, first seen %s" % (s.device, s.firmware or "?", s.first_seen))
        print("    last record   %s (tag time), received %s"
              % (_iso(s.last_t) if s.last_t else "-", s.last_received or "-"))
        print("    last position %s%s" % (where, " at " + _iso(f.t) if f else ""))
        print("    battery       %s" % (s.battery or "no battery alert").replace("_", " "))
        breaches = ", ".join("%s in %s since %s" % (a.replace("_", " "), z, _iso(t))
                             for a, z, _seq, t in s.open_breaches)
        print("    open breaches %s" % (breaches or "none"))
        print("    alerts not acknowledged: %d" % s.unacked_alerts)
    return 0


def _degrees(lat_e7, lon_e7):
    lat, lon = lat_e7 / 1e7, lon_e7 / 1e7
    return "%.6f %s %.6f %s" % (abs(lat), "N" if lat >= 0 else "S", abs(lon),
                                "E" if lon >= 0 else "W")


def _metres(cm):
    return "? m" if cm is None else "%.0f m" % (cm / 100)


def _retention(args):
    from emtag.cli.export import parse_time

    period = parse_period(args.older_than)
    now = parse_time(args.now, "--now") if args.now else int(time.time())
    cutoff = now - period
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    store = open_reading(args.store)
    try:
        done = store.delete_before(cutoff, "older than " + args.older_than.strip(), when)
        print(
            "emtag store retention: deleted %d records (%d outbox rows, %d acknowledgements) "
            "older than %s from %s"
            % (done.records, done.outbox, done.acks, _iso(cutoff), store.target)
        )
        if args.show_log:
            for r in store.retention_runs():
                print(
                    "%s  cutoff %s  %-22s records %d  outbox %d  acks %d"
                    % (r.run_at, _iso(r.cutoff_t), r.policy, r.records, r.outbox, r.acks)
                )
    finally:
        store.close()
    return 0


def _iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
