"""Look after the bridge's store (SQLite file or PostgreSQL database).

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

HELP = "store upkeep: retention (delete records older than a policy period, logged)"

UNITS = {"d": 86400, "w": 7 * 86400, "h": 3600}
MAX_DAYS = 100 * 365


def add_arguments(p):
    sub = p.add_subparsers(dest="store_command", metavar="COMMAND", required=True)
    r = sub.add_parser("retention", help="delete records older than a policy period")
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
