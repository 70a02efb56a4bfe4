"""Zone alert quality: the tag's zone engine against naive geofencing (an alert on the
first fix inside, as server-side geofencing does) on the same simulated tag-days of
noisy urban-canyon tracks near exclusion zones: near misses 30-100 m outside with 15-100 m
multipath excursions, and true entries of 60 s or more. Prints false alerts per tag-day,
missed breaches and detection latency for both. The model: emtag.simulator.alertbench.

    emtag bench alerts                  # 1,000 tag-days (a few minutes per CPU)
    emtag bench alerts --days 50        # the sample the test suite runs
"""

import json
import sys

HELP = "zone alert quality: false alerts, missed breaches, latency vs naive geofencing"


def add_arguments(p):
    p.add_argument("--days", type=int, default=1000, help="tag-days to simulate (1000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the simulated days (1)")
    p.add_argument("--workers", type=int, help="processes (default: one per CPU, up to 8)")
    p.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="engine setting for this run (as in a zone file's settings), repeatable",
    )
    p.add_argument(
        "--blind-receiver",
        action="store_true",
        help="sensitivity: the receiver's accuracy estimate never shows multipath",
    )
    p.add_argument(
        "--no-doppler", action="store_true", help="sensitivity: the receiver reports no speed"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args):
    from emtag.firmware import zonetable
    from emtag.host.errors import CommandError
    from emtag.simulator import alertbench
    from emtag.simulator.progress import Bar

    if not 1 <= args.days <= 100000:
        raise CommandError("--days must be 1..100000")
    settings = {}
    for item in args.setting:
        name, _, value = item.partition("=")
        if name not in zonetable.SETTINGS or not value.lstrip("-").isdigit():
            raise CommandError(
                "--setting %r: NAME=INTEGER, NAME one of %s" % (item, ", ".join(zonetable.SETTINGS))
            )
        settings[name] = int(value)
    model = {}
    if args.blind_receiver:
        model["seen"] = 0.0
    if args.no_doppler:
        model["doppler"] = False
    bar = Bar(sys.stderr, "emtag bench alerts")
    summary = alertbench.benchmark(
        days=args.days,
        seed=args.seed,
        workers=args.workers,
        settings=settings or None,
        model=model or None,
        progress=lambda done, days: bar.show(done / days, "%d of %d tag-days" % (done, days)),
    )
    summary["model"] = dict(alertbench.MODEL, **model)
    if args.json:
        print(json.dumps(summary, indent=1, sort_keys=True, default=str))
    else:
        print(alertbench.report(summary))
    return 0
