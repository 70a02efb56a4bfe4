"""Run a scenario: the unmodified firmware on the simulated tag, its uploads verified and
stored by the bridge. Writes DIR/events.jsonl (every event, simulated time) and
DIR/store.sqlite (the bridge's store), prints a timeline and a summary, and checks the
scenario's [[expect]] entries (exit status 1 when one fails)."""

import os
import sys

from emtag.host.cli import CommandError

HELP = "run a simulated tag through a scenario, end to end"


def add_arguments(p):
    p.add_argument("scenario", help="scenario file (TOML), e.g. examples/exclusion-breach.toml")
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


def run(args):
    from emtag.simulator import runner, scenario, simulate

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
    print("emtag sim: %s (seed %d) on %s, output in %s" % (sc.name, sc.seed, interpreter, out))
    try:
        result = simulate.simulate(
            sc,
            out,
            interpreter,
            heapsize=args.heapsize,
            timeline=None if args.quiet else sys.stdout,
        )
    except (ValueError, OSError, runner.FirmwareCrashed) as e:
        raise CommandError(str(e)) from None
    print()
    print(simulate.summary_table(result))
    failed = [c for c in result["checks"] if not c["ok"]]
    for c in result["checks"]:
        print("%s  %s" % ("PASS" if c["ok"] else "FAIL", c["text"]))
    return 1 if failed else 0
