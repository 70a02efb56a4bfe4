"""Every example's expectations over many seeds: an example that passes at the seed in its
file only is tuned, not robust. Runs each example at each seed (the firmware in-process on
CPython, in parallel processes) and prints, per example, how many seeds passed, the worst
value of each timed expectation over all seeds against its limit, and the failing seeds
with their failed checks. The fast examples are held to this in the test suite
(tests/test_example_seeds.py); this covers the slow ones too.

    emtag bench seeds                                  # every example, seeds 1-20
    emtag bench seeds --examples power-cuts link-outage-3d --seeds 1-5
    emtag bench seeds --no-week                        # all but typical-week (the slowest)
"""

import os
import re
import sys
import time

HELP = "every example's expectations at seeds 1-20 (robustness, not one lucky seed)"
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
SLOW = "typical-week"


def add_arguments(p):
    p.add_argument("--examples", nargs="+", metavar="NAME", help="examples (default: all)")
    p.add_argument("--seeds", default="1-20", help="seeds, e.g. 1-20 or 3,7,9 (1-20)")
    p.add_argument("--no-week", action="store_true", help="leave out %s.toml" % SLOW)
    p.add_argument("--workers", type=int, help="processes (default: one per CPU)")


def _seeds(text):
    out = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+))?\s*", part)
        if not m:
            return None
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 0 <= a <= b <= 100000:
            return None
        out.extend(range(a, b + 1))
    return out


def _one(job):
    path, seed = job
    import tempfile

    from emtag.simulator import scenario, simulate

    sc = scenario.load(path)
    sc.seed = seed  # (the week's 1 Hz baseline is emtag sim's business, not run here)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="emtag-seeds-") as d:
        r = simulate.simulate(sc, d, "cpython")
    return os.path.basename(path), seed, r["checks"], time.monotonic() - t0


def _margin(text):
    """(name, value, limit) from a check's text: '... 57.6 s after foil_on (limit 150 s)'."""
    m = re.match(r"(.*?) ([-\d.]+) (?:s )?.*\(limit ([-\d.]+) s\)", text)
    if m:
        return m.group(1), float(m.group(2)), float(m.group(3))
    return None


def run(args):
    from concurrent.futures import ProcessPoolExecutor

    from emtag.host.errors import CommandError

    seeds = _seeds(args.seeds)
    if not seeds:
        raise CommandError("--seeds: numbers or ranges, e.g. 1-20 or 3,7,9")
    names = args.examples or sorted(
        f[:-5] for f in os.listdir(EXAMPLES) if f.endswith(".toml") and f != "fitting-bench.toml"
    )
    if args.no_week:
        names = [n for n in names if n != SLOW]
    paths = []
    for n in names:
        p = os.path.join(EXAMPLES, n if n.endswith(".toml") else n + ".toml")
        if not os.path.exists(p):
            raise CommandError("no example %r in %s" % (n, EXAMPLES))
        paths.append(p)
    jobs = [(p, s) for p in paths for s in seeds]
    t0 = time.monotonic()
    done = {}
    tty = sys.stderr.isatty()
    with ProcessPoolExecutor(args.workers or os.cpu_count() or 1) as pool:
        for i, (name, seed, checks, wall) in enumerate(pool.map(_one, jobs), 1):
            done.setdefault(name, []).append((seed, checks, wall))
            if tty:
                sys.stderr.write("\r%d of %d runs" % (i, len(jobs)))
                sys.stderr.flush()
    if tty:
        sys.stderr.write("\n")
    bad_total = 0
    for name in sorted(done):
        runs = done[name]
        bad = [(s, [c["text"] for c in ch if not c["ok"]]) for s, ch, _ in runs]
        bad = [(s, f) for s, f in bad if f]
        bad_total += len(bad)
        print(
            "%-26s %2d of %d seeds pass (%.0f s per run)"
            % (name, len(runs) - len(bad), len(runs), sum(w for _, _, w in runs) / len(runs))
        )
        worst = {}
        for _, checks, _ in runs:
            for c in checks:
                m = _margin(c["text"])
                if m and (m[0] not in worst or m[1] > worst[m[0]][0]):
                    worst[m[0]] = (m[1], m[2])
        for what, (v, lim) in sorted(worst.items()):
            print("    worst %s %.1f s (limit %.0f s)" % (what, v, lim))
        for s, f in bad:
            print("    seed %d: %s" % (s, "; ".join(f)))
    print(
        "%d runs, %d failed, %.0f s wall" % (len(jobs), bad_total, time.monotonic() - t0)
    )
    return 1 if bad_total else 0
