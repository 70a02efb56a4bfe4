"""Run a scenario: the unmodified firmware on the simulated tag, its uploads verified and
stored by the bridge. Writes DIR/events.jsonl (every event, simulated time),
DIR/store.sqlite (the bridge's store) and DIR/report.html (one self-contained page: map,
timeline, alerts, curfew nights, gaps, battery), prints a timeline, progress and a summary,
and checks the scenario's [[expect]] entries (exit status 1 when one fails). --tags N runs
a fleet in parallel processes; --baseline runs the 1 Hz always-on GNSS baseline beside it.

With --serve, the simulated tag runs until Ctrl-C in (scaled) real time with its USB serial
console on a pty or a TCP port (printed at start), for `emtag fit --port` and any other
serial client; the scenario defaults to examples/fitting-bench.toml (a factory-fresh tag).
"""

import argparse
import os
import sys

from emtag.cli import options
from emtag.host.errors import CommandError

HELP = "run a simulated tag through a scenario, end to end"


def add_arguments(p):
    p.add_argument(
        "scenario",
        nargs="?",
        help="scenario file (TOML), e.g. examples/exclusion-breach.toml",
    )
    p.add_argument("--out", metavar="DIR", help="output directory (default: out/<scenario name>)")
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument(
        "--interpreter",
        choices=("micropython", "cpython"),
        help="run the firmware on the MicroPython unix port (default where installed) or "
        "in-process on CPython",
    )
    p.add_argument("--heapsize", default=None, help="MicroPython heap (default: the tag's 192k)")
    p.add_argument("--quiet", action="store_true", help="no timeline, only the summary")
    p.add_argument(
        "--tags",
        type=int,
        metavar="N",
        help="a fleet: N tags (seeds SEED..SEED+N-1) in parallel processes, DIR/tag-NNN each",
    )
    p.add_argument("--jobs", type=int, metavar="J", help="parallel processes (default: CPUs)")
    p.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run the 1 Hz always-on GNSS baseline (in DIR/baseline-1hz) and compare "
        "days per charge (default: the scenario's [power] baseline)",
    )
    p.add_argument(
        "--serve",
        action="store_true",
        help="run until Ctrl-C with the tag's USB console on --port (fitting, emtag fit)",
    )
    p.add_argument(
        "--port",
        default="pty",
        type=options.serve_port_argument,
        help="with --serve: pty (default; prints its path) or a TCP port to listen on: "
        "tcp:PORT, tcp:HOST:PORT, socket://HOST:PORT (port 0: any free port)",
    )
    p.add_argument(
        "--speed", type=float, default=1.0, help="with --serve: virtual seconds per real second"
    )
    p.add_argument(
        "--uplink",
        metavar="tcp:HOST:PORT",
        help="with --serve: upload to the `emtag bridge --listen` at this address instead of "
        "the simulator's own bridge",
    )
    p.add_argument(
        "--to-end",
        action="store_true",
        help="with --serve: stop at the scenario's end (its duration_s), not at Ctrl-C",
    )


def run(args):
    from emtag.simulator import runner, scenario, simulate, summary

    if args.serve:
        return _serve(args)
    if args.uplink:
        raise CommandError("--uplink works with --serve (a tag in real time)")
    if not args.scenario:
        raise CommandError("give a scenario file (or --serve for a tag on the fitting bench)")
    try:
        sc = scenario.load(args.scenario)
    except scenario.ScenarioError as e:
        raise CommandError(str(e)) from None
    if args.seed is not None:
        sc.seed = args.seed
    out = args.out or os.path.join("out", os.path.splitext(os.path.basename(args.scenario))[0])
    interpreter = args.interpreter or runner.default_interpreter()
    if interpreter == "micropython" and runner.unixport.binary() is None:
        raise CommandError("MicroPython unix port not installed; use --interpreter cpython")
    many = args.baseline if args.baseline is not None else sc.hardware.baseline
    if args.tags is not None or many:  # parallel runs: simulator/fleet.py
        from emtag.simulator import fleet

        try:
            return fleet.main(args, sc, out, interpreter)
        except (ValueError, OSError, runner.FirmwareCrashed) as e:
            raise CommandError(str(e)) from None
    print("emtag sim: %s (seed %d) on %s, output in %s" % (sc.name, sc.seed, interpreter, out))
    progress, timeline = simulate.progress_bar(sys.stderr, sc, None if args.quiet else sys.stdout)
    try:
        result = simulate.simulate(
            sc,
            out,
            interpreter,
            heapsize=args.heapsize,
            timeline=timeline,
            progress=progress,
        )
    except (ValueError, OSError, runner.FirmwareCrashed) as e:
        raise CommandError(str(e)) from None
    print()
    print(summary.summary_table(result))
    failed = [c for c in result["checks"] if not c["ok"]]
    for c in result["checks"]:
        print("%s  %s" % ("PASS" if c["ok"] else "FAIL", c["text"]))
    return 1 if failed else 0


def _serve(args):
    from emtag.simulator import runner, scenario, serve

    interpreter = args.interpreter or runner.default_interpreter()
    if interpreter == "micropython" and runner.unixport.binary() is None:
        raise CommandError("MicroPython unix port not installed; use --interpreter cpython")

    def announce(url):
        print("emtag sim: tag console on %s (Ctrl-C to stop)" % url, flush=True)

    try:
        serve.serve(
            args.scenario,
            args.port,
            args.out,
            interpreter,
            heapsize=args.heapsize,
            speed=args.speed,
            timeline=None if args.quiet else sys.stdout,
            announce=announce,
            uplink=args.uplink,
            to_end=args.to_end,
        )
    except (scenario.ScenarioError, serve.ServeError, runner.FirmwareCrashed, OSError) as e:
        raise CommandError(str(e)) from None
    print("emtag sim: stopped")
    return 0
