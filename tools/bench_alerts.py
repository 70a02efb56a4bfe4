"""Zone alert quality, in two parts.

1. The tag's zone engine against naive geofencing (an alert on the first fix inside, as
   server-side geofencing does) on the same simulated tag-days of noisy urban-canyon tracks
   near exclusion zones, 1 Hz fixes: near misses 30-100 m outside with 15-100 m multipath
   excursions, and true entries of 60 s or more. False alerts per tag-day, missed breaches
   and detection latency for both (emtag.simulator.alertbench).
2. Situations where a duty-cycled receiver used to miss breaches, the whole tag end to end
   in the simulator: crossings from rest 1-20 s after a fix, stops at red lights before
   zones, curfews starting (and exclusion windows opening) while the wearer is still,
   entries running and driving, and near-miss drives and curfews at home where nothing may
   come. Missed breaches, breaches stored later than 240 s after the entry (NIJ 1004),
   false breaches and crossing_possible records (emtag.simulator.situations).

    emtag bench alerts                        # 1,000 tag-days + 24 runs of each situation
    emtag bench alerts --days 50 --situations 0   # the engine sample the test suite runs
    emtag bench alerts --days 0 --situations 24   # only the situations (about 2 CPU-minutes)
"""

import json
import sys

HELP = "zone alert quality: vs naive geofencing; duty-cycling situations end to end"


def add_arguments(p):
    p.add_argument(
        "--days", type=int, default=1000, help="engine tag-days to simulate (1000; 0: none)"
    )
    p.add_argument(
        "--situations",
        type=int,
        default=24,
        metavar="N",
        help="runs of each duty-cycling situation, the whole tag (24; 0: none)",
    )
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

    if not 0 <= args.days <= 100000:
        raise CommandError("--days must be 0..100000")
    if not 0 <= args.situations <= 1000:
        raise CommandError("--situations must be 0..1000")
    if not args.days and not args.situations:
        raise CommandError("nothing to run: --days and --situations are both 0")
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
    out = {}
    if args.days:
        bar = Bar(sys.stderr, "emtag bench alerts")
        summary = alertbench.benchmark(
            days=args.days,
            seed=args.seed,
            workers=args.workers,
            settings=settings or None,
            model=model or None,
            progress=lambda done, days: bar.show(done / days, "%d of %d tag-days" % (done, days)),
        )
        bar.clear()
        summary["model"] = dict(alertbench.MODEL, **model)
        out["engine"] = summary
        if not args.json:
            print(alertbench.report(summary), flush=True)
    if args.situations:
        if settings or model:
            raise CommandError("--setting, --blind-receiver and --no-doppler apply to --days")
        out["situations"] = _situations(args)
    if args.json:
        print(json.dumps(out, indent=1, sort_keys=True, default=str))
    return 0


def _situations(args):
    import time

    from emtag.simulator import situations
    from emtag.simulator.progress import Bar

    bar = Bar(sys.stderr, "emtag bench alerts")
    t0 = time.monotonic()
    results = situations.run(
        per_kind=args.situations,
        seed=args.seed,
        workers=args.workers,
        progress=lambda done, n: bar.show(done / n, "%d of %d situations" % (done, n)),
    )
    bar.clear()
    by = situations.summarise(results)
    if not args.json:
        if args.days:
            print()
        print(situations.report(by, time.monotonic() - t0))
    return {k: {kk: vv for kk, vv in v.items() if kk != "lat"} for k, v in by.items()}
