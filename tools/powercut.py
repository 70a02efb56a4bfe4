"""Power-cut test of the tag's record log on MicroPython's littlefs (vfs.VfsLfs2).

    python -m emtag.tools.powercut [--cuts 1000] [--per-run 50] [--seed 1] [--jobs N]

Each run is one MicroPython unix-port process (tools/powercut_device.py): a fresh littlefs on
a RAM block device, a seeded workload of appends, acknowledgements and reclaims reaching
the thinning bands, and a power cut at each of `per-run` block writes chosen here (seeded):
that write is left undone or half done (torn), the same bytes are mounted again by a fresh
VfsLfs2 and RecordLog, and the log is checked against what it had reported durable: every
such record present and intact, no corrupt record returned, acknowledgements never lost or
invented, the hash chain continuing through a restart record, logging resuming. Cut
points are chosen per phase: evenly over all block writes, or aimed at appending,
acknowledging, reclaiming or booting (mount, recovery, the restart record); see AIMS.

Prints one line per phase (where the cuts fell) and every failure; exit status 1 if any.
tests/test_powercut.py runs a smaller sample in CI.
"""

import argparse
import collections
import concurrent.futures
import os
import random
import re
import sys
import time

from emtag.host import unixport

DEVICE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "powercut_device.py")
HEAPSIZE = "2M"  # the RAM flash (128 KiB) and the checker's model live on the test heap
_CUT = re.compile(r"^CUT (\d+) phase=(\w+) torn=(\d) (ok|FAIL)(.*)$")


# where cuts are aimed: (share, phase letter, highest count) - see tools/powercut_device.py
AIMS = (
    (0.40, "a", 600),  # any block write of the workload, evenly
    (0.15, "p", 60),  # appending
    (0.15, "k", 12),  # writing the acknowledged mark
    (0.15, "r", 8),  # deleting acknowledged segments
    (0.15, "b", 8),  # booting: mount, recovery, the restart record
)


def plan(seed, run, cuts):
    """(cut points, torn flags) for one run: the block write after each boot at which power
    fails, as a phase letter and a count (tools/powercut_device.py)."""
    rng = random.Random(seed * 100003 + run)
    points, torns = [], []
    for _ in range(cuts):
        x = rng.random()
        aim = AIMS[-1]
        for aim in AIMS:
            if x < aim[0]:
                break
            x -= aim[0]
        points.append("%s%d" % (aim[1], rng.randint(1, aim[2])))
        torns.append(rng.randint(0, 1))
    return points, torns


def run_one(seed, run, cuts):
    points, torns = plan(seed, run, cuts)
    proc = unixport.run(
        [
            DEVICE_SCRIPT,
            str(seed * 1000 + run),
            ",".join(points),
            ",".join(map(str, torns)),
        ],
        heapsize=HEAPSIZE,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return parse(run, proc.stdout, proc.stderr, proc.returncode)


def parse(run, stdout, stderr="", returncode=0):
    result = {"run": run, "cuts": [], "failures": [], "done": None}
    for line in stdout.splitlines():
        m = _CUT.match(line)
        if m:
            n, phase, torn, verdict, rest = m.groups()
            result["cuts"].append((int(n), phase, int(torn)))
            if verdict == "FAIL":
                result["failures"].append("run %d cut %s (%s): %s" % (run, n, phase, rest.strip()))
        elif line.startswith("DONE"):
            result["done"] = line
        elif "FAIL" in line:
            result["failures"].append("run %d: %s" % (run, line))
    if result["done"] is None and not result["failures"]:
        tail = (stdout[-1500:] + stderr[-1500:]).strip()
        result["failures"].append("run %d ended early (status %d):\n%s" % (run, returncode, tail))
    return result


def powercut(cuts=1000, per_run=50, seed=1, jobs=None):
    """Run the campaign; returns a summary dict (cuts, by_phase, torn, failures, wall_s)."""
    if unixport.binary() is None:
        raise unixport.NoMicroPython("the power-cut test needs the MicroPython unix port")
    runs = []
    left, r = cuts, 0
    while left > 0:
        runs.append((r, min(per_run, left)))
        left -= per_run
        r += 1
    t0 = time.monotonic()
    jobs = jobs or min(len(runs), os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        results = list(ex.map(lambda rc: run_one(seed, rc[0], rc[1]), runs))
    by_phase = collections.Counter()
    torn = 0
    failures = []
    done = 0
    for res in results:
        for _, phase, t in res["cuts"]:
            by_phase[phase] += 1
            torn += t
        failures.extend(res["failures"])
        done += res["done"] is not None
    return {
        "cuts": sum(by_phase.values()),
        "runs": len(runs),
        "runs_done": done,
        "by_phase": dict(by_phase),
        "torn": torn,
        "failures": failures,
        "wall_s": time.monotonic() - t0,
    }


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m emtag.tools.powercut", description=__doc__)
    p.add_argument("--cuts", type=int, default=1000, help="power cuts in all (default 1000)")
    p.add_argument("--per-run", type=int, default=50, help="cuts per fresh filesystem")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", type=int, default=None, help="parallel runs (default: CPUs)")
    args = p.parse_args(argv)
    s = powercut(args.cuts, args.per_run, args.seed, args.jobs)
    print(
        "power cuts: %d checked in %d runs (%d torn writes), %.1f s"
        % (s["cuts"], s["runs"], s["torn"], s["wall_s"])
    )
    for phase in ("mount", "open", "restart", "idle", "append", "ack", "reclaim", "repair"):
        if phase in s["by_phase"]:
            print("  %-8s %5d" % (phase, s["by_phase"][phase]))
    for f in s["failures"]:
        print("FAIL " + f)
    print("failures: %d" % len(s["failures"]))
    return 1 if s["failures"] or s["cuts"] < args.cuts else 0


if __name__ == "__main__":
    sys.exit(main())
