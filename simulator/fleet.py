"""Many runs of a scenario in parallel processes: a fleet of tags, or a run and its baseline.

    results = fleet(path, n, out_dir, interpreter, jobs)     # tags with seeds seed..seed+n-1
    adaptive, baseline = with_baseline(path, out_dir, interpreter)

Each run is a separate process (the firmware of each tag runs in its own MicroPython
process below it), with its own output directory: DIR/tag-001/..., or DIR and
DIR/baseline-1hz/. Each tag has its own seed, so its own key, serial number, noise and
timeline draws; the scenario is otherwise the same. Results come back as the summary dicts
of simulate.simulate (plus "out" and "seed").
"""

import concurrent.futures
import multiprocessing
import os

from emtag.simulator import scenario as scenario_mod
from emtag.simulator import summary

_SHARED = None  # in a worker process: the parent's array of each run's share done


def _init(shared):
    global _SHARED
    _SHARED = shared


def _run(job):
    path, seed, out, interpreter, overrides, index = job
    from emtag.simulator import simulate

    progress = None
    if _SHARED is not None:

        def progress(frac, now_ms):  # one writer per slot: no lock needed
            _SHARED[index] = frac

    sc = scenario_mod.load(path)
    sc.seed = seed
    for k, v in overrides.items():
        setattr(sc.hardware, k, v)
    if overrides.get("always_on_gnss"):
        sc.hardware.config["gnss_always_on"] = 1
        sc.name += " (1 Hz always-on GNSS baseline)"
    result = simulate.simulate(sc, out, interpreter, progress=progress)
    result["out"] = out
    result["seed"] = seed
    return result


def _pool(jobs, n, shared):
    jobs = jobs or os.cpu_count() or 1
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=max(1, min(jobs, n)), initializer=_init, initargs=(shared,)
    )


def fleet(path, n, out_dir, interpreter=None, jobs=None, seed=None, on_done=None,
          on_progress=None):
    sc = scenario_mod.load(path)
    first = sc.seed if seed is None else seed
    work = [
        (path, first + i, os.path.join(out_dir, "tag-%03d" % (i + 1)), interpreter, {})
        for i in range(n)
    ]
    return _run_all(work, jobs, on_done, on_progress)


def with_baseline(path, out_dir, interpreter=None, seed=None, jobs=None, on_done=None,
                  on_progress=None):
    """The scenario as written and its 1 Hz always-on GNSS baseline, side by side."""
    sc = scenario_mod.load(path)
    s = sc.seed if seed is None else seed
    work = [
        (path, s, out_dir, interpreter, {}),
        (path, s, os.path.join(out_dir, "baseline-1hz"), interpreter, {"always_on_gnss": True}),
    ]
    return _run_all(work, jobs, on_done, on_progress)


def _run_all(work, jobs, on_done, on_progress=None):
    """Results of the runs in `work`, in its order; on_done(i, result) as each finishes,
    on_progress([share done of each run]) about twice a second."""
    results = [None] * len(work)
    shared = multiprocessing.RawArray("d", len(work))
    with _pool(jobs, len(work), shared) as pool:
        futs = {pool.submit(_run, job + (i,)): i for i, job in enumerate(work)}
        waiting = set(futs)
        while waiting:
            done, waiting = concurrent.futures.wait(
                waiting, timeout=0.5, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for f in done:
                i = futs[f]
                results[i] = f.result()
                shared[i] = 1.0
                if on_done is not None:
                    on_done(i, results[i])
            if on_progress is not None:
                on_progress(list(shared))
    return results


def _days(r):
    d = (r.get("hardware") or {}).get("days_per_charge")
    return "%.2f" % d if d else "-"


def fleet_table(results):
    head = ("tag", "seed", "device", "fixes", "alerts in the store", "checks", "days/charge")
    rows = []
    for i, r in enumerate(results):
        checks = r["checks"]
        ok = sum(1 for c in checks if c["ok"])
        rows.append(
            (
                "%03d" % (i + 1),
                str(r["seed"]),
                r["device"] or "-",
                str(r["fix_records"]),
                ", ".join(a["alert"] for a in r["stored_alerts"]) or "none",
                "%d/%d" % (ok, len(checks)) if checks else "-",
                _days(r),
            )
        )
    return _format(head, rows)


def baseline_table(adaptive, baseline):
    head = (
        "GNSS policy",
        "GNSS on",
        "average current",
        "days per charge",
        "fix records",
        "accuracy (median, p90)",
    )
    rows = []
    for label, r in (("adaptive duty cycling", adaptive), ("1 Hz always on", baseline)):
        hw = r["hardware"]
        acc = hw.get("fix_acc_median_m"), hw.get("fix_acc_p90_m")
        rows.append(
            (
                label,
                "%.1f%%" % (100 * hw["gnss_on_share"]),
                "%.2f mA" % hw["avg_ma"],
                _days(r),
                str(r["fix_records"]),
                "%.0f m, %.0f m" % acc if None not in acc else "-",
            )
        )
    a = adaptive["hardware"].get("days_per_charge")
    b = baseline["hardware"].get("days_per_charge")
    tail = "\nadaptive / baseline: %.1fx the days per charge" % (a / b) if a and b else ""
    return _format(head, rows) + tail


def _format(head, rows):
    w = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=False)]
    line = "  ".join("%-*s" % (w[i], h) for i, h in enumerate(head))
    out = [line, "  ".join("-" * n for n in w)]
    for r in rows:
        out.append("  ".join("%-*s" % (w[i], c) for i, c in enumerate(r)))
    return "\n".join(out)


def main(args, sc, out, interpreter):
    """`emtag sim --tags N` and `--baseline`: parallel runs, one summary table; progress of
    the runs on stderr while they go."""
    import sys

    from emtag.simulator.progress import RunsBar

    path = args.scenario
    if args.tags is not None:
        n = args.tags
        if not 1 <= n <= 1000:
            raise ValueError("--tags: 1..1000")
        print(
            "emtag sim: a fleet of %d tags, %s (seeds %d-%d) on %s, output in %s/tag-NNN"
            % (n, sc.name, sc.seed, sc.seed + n - 1, interpreter, out),
            flush=True,
        )

        bar = RunsBar(sys.stderr, "emtag sim", ["tag %03d" % (i + 1) for i in range(n)])

        def done(i, r):
            bad = sum(1 for c in r["checks"] if not c["ok"])
            bar.clear()
            print(
                "tag %03d (seed %d): %s, %.0f s%s"
                % (
                    i + 1,
                    r["seed"],
                    r["device"],
                    r["wall_s"],
                    ", %d checks FAILED" % bad if bad else "",
                ),
                flush=True,
            )

        results = fleet(path, n, out, interpreter, args.jobs, sc.seed, done, bar.update)
        print()
        print(fleet_table(results))
        failed = sum(1 for r in results for c in r["checks"] if not c["ok"])
        print("\n%d tags, %d checks failed" % (n, failed))
        return 1 if failed else 0
    print(
        "emtag sim: %s (seed %d) on %s, with its 1 Hz always-on GNSS baseline in parallel; "
        "output in %s and %s/baseline-1hz" % (sc.name, sc.seed, interpreter, out, out),
        flush=True,
    )

    bar = RunsBar(sys.stderr, "emtag sim", ["adaptive", "baseline"])

    def said(i, r):
        bar.clear()
        print("%s run done (%.0f s)" % (("adaptive", "baseline")[i], r["wall_s"]), flush=True)

    adaptive, baseline = with_baseline(
        path, out, interpreter, sc.seed, args.jobs, said, bar.update
    )
    print()
    print(summary.summary_table(adaptive))
    print()
    print(baseline_table(adaptive, baseline))
    failed = [c for c in adaptive["checks"] if not c["ok"]]
    for c in adaptive["checks"]:
        print("%s  %s" % ("PASS" if c["ok"] else "FAIL", c["text"]))
    return 1 if failed else 0
