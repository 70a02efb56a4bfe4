"""Simulator speed: one tag's day (the Monday of examples/typical-week.toml: bus to work,
indoors, a lunch walk in the urban canyon, out past curfew, charging) with the firmware on
the MicroPython unix port at its 192 KiB heap, against the same firmware and scenario run
in-process on CPython. Prints simulated and wall time, times real time for each, and the
ratio; the target is 500x real time on MicroPython (24 h in under 3 minutes).

    emtag bench sim                     # 24 simulated hours on each interpreter
    emtag bench sim --hours 2           # a shorter sample
"""

import os
import sys
import tempfile

HELP = "simulator speed: a tag's day on MicroPython vs in-process CPython (target 500x)"
EXAMPLE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "typical-week.toml"
)
TARGET = 500


def add_arguments(p):
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours (24)")
    p.add_argument("--scenario", default=EXAMPLE, help="scenario (default: typical-week.toml)")
    p.add_argument(
        "--no-cpython", action="store_true", help="skip the in-process CPython peer"
    )


def measure(path, hours, interpreter, out):
    """(simulated s, wall s, fix records) of the scenario's first `hours` on `interpreter`."""
    from emtag.simulator import scenario, simulate

    sc = scenario.load(path)
    sc.duration_s = min(sc.duration_s, hours * 3600)
    sc.expect = []  # a speed run: the scenario's checks are for the whole week
    progress, _ = simulate.progress_bar(sys.stderr, sc, label="emtag bench sim: " + interpreter)
    r = simulate.simulate(sc, out, interpreter, progress=progress)
    return r["sim_s"], r["wall_s"], r["fix_records"]


def run(args):
    from emtag.host import unixport
    from emtag.host.errors import CommandError
    from emtag.simulator import runner, scenario

    if not 0 < args.hours <= 24 * 7:
        raise CommandError("--hours must be above 0 and at most 168")
    if unixport.binary() is None:
        raise CommandError("the MicroPython unix port is not installed (bash tools/setup.sh)")
    runs = ["micropython"] + ([] if args.no_cpython else ["cpython"])
    got = {}
    with tempfile.TemporaryDirectory(prefix="emtag-bench-sim-") as tmp:
        for interpreter in runs:
            print("running %g simulated hours on %s..." % (args.hours, interpreter), flush=True)
            try:
                got[interpreter] = measure(
                    args.scenario, args.hours, interpreter, os.path.join(tmp, interpreter)
                )
            except (scenario.ScenarioError, runner.FirmwareCrashed, OSError) as e:
                raise CommandError(str(e)) from None
    print("scenario: %s, first %g h" % (os.path.basename(args.scenario), args.hours))
    for interpreter, (sim_s, wall_s, fixes) in got.items():
        print(
            "%-12s %8.0f s simulated in %7.1f s wall: %6.0fx real time (%d fix records)"
            % (interpreter, sim_s, wall_s, sim_s / wall_s, fixes)
        )
    mp_sim, mp_wall, _ = got["micropython"]
    if "cpython" in got:
        print("MicroPython / CPython in-process: %.2f (wall time ratio)"
              % (got["cpython"][1] / mp_wall))
    speed = mp_sim / mp_wall
    print("target: %dx real time on MicroPython: %s (%.0fx)"
          % (TARGET, "met" if speed >= TARGET else "NOT met", speed))
    return 0
