"""Crime mapping, measured: quality against ground truth and speed, each against the naive
matcher (any fix within 100 m of the reported location during the window, as vendors
appear to match) measured in the same run.

Quality: a simulated town (tools/crimes_world.py: wearers with days of their own, run
through the simulator as tags) and incidents on trails (the wearer was there), near them
(50-300 m beyond the scene's uncertainty, never closer: not there) and at random
(tools/crimes_quality.py); every incident against every wearer, scored against the routes.
Speed: a day of 12,000 tags at a fix a minute (17 million fixes) written straight into a
store, 1,000 incidents matched on one core (tools/crimes_speed.py).

    emtag bench crimes                      # both, seeds 1-3 (about 15 min on 2 cores)
    emtag bench crimes --quality --seeds 4,5,6
    emtag bench crimes --speed --speed-tags 1000
    emtag bench crimes --speed --dir DIR    # both speed stores kept in DIR for the next run
"""

import json
import os
import sys
import tempfile
import time

HELP = "crime mapping: placed/could/could not vs truth, and speed, against a naive matcher"


def add_arguments(p):
    p.add_argument("--quality", action="store_true", help="only the quality benchmark")
    p.add_argument("--speed", action="store_true", help="only the speed benchmark")
    p.add_argument("--seeds", default="1,2,3", help="towns to simulate (1,2,3)")
    p.add_argument("--tags", type=int, default=12, help="wearers per town (12)")
    p.add_argument("--hours", type=float, default=16, help="hours simulated per town (16)")
    p.add_argument(
        "--per-class", type=int, default=300, help="incidents of each class per town (300)"
    )
    p.add_argument("--speed-tags", type=int, default=12000, help="tags in the speed run (12000)")
    p.add_argument(
        "--backend",
        choices=("both", "sqlite", "postgresql"),
        default="both",
        help="store(s) for the speed run (both)",
    )
    p.add_argument("--incidents", type=int, default=1000, help="incidents in the speed run")
    p.add_argument("--policy", metavar="POLICY.toml", help="policy to measure (default: built in)")
    p.add_argument(
        "--dir",
        metavar="DIR",
        help="keep towns and the speed stores (a SQLite file, a PostgreSQL cluster) here, "
        "reused when the settings match",
    )
    p.add_argument("--jobs", type=int, help="simulator processes (default: one per CPU)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


def _say(text):
    print(text, file=sys.stderr, flush=True)


def run(args):
    from emtag.centre import crimes_policy
    from emtag.host.errors import CommandError

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise CommandError("--seeds: numbers separated by commas") from None
    if not (1 <= args.tags <= 200 and 1 <= args.hours <= 72 and 1 <= args.per_class <= 100000):
        raise CommandError("--tags 1..200, --hours 1..72, --per-class 1..100000")
    if not (1 <= args.speed_tags <= 100000 and 1 <= args.incidents <= 100000):
        raise CommandError("--speed-tags and --incidents: 1..100000")
    try:
        policy = crimes_policy.load(args.policy)
        on_foot = crimes_policy.Policy(
            dict(policy.raw, speeds=dict(policy.raw["speeds"], assume="running"))
        )
    except crimes_policy.PolicyError as e:
        raise CommandError(str(e)) from None
    both = not (args.quality or args.speed)
    work = args.dir or tempfile.mkdtemp(prefix="emtag-bench-crimes-")
    os.makedirs(work, exist_ok=True)
    out = {}
    try:
        if args.quality or both:
            out["quality"] = quality(args, seeds, {"policy": policy, "on foot": on_foot}, work)
        if args.speed or both:
            out["speed"] = speed(args, policy, work)
    finally:
        if not args.dir:  # the stores are gigabytes at full scale: never left behind
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(out, indent=1, sort_keys=True))
    return 0


def quality(args, seeds, policies, work):
    from emtag.tools import crimes_quality as Q

    results = []
    for seed in seeds:
        started = time.monotonic()
        _say(
            "emtag bench crimes: town %d: simulating %d wearers x %g h..."
            % (seed, args.tags, args.hours)
        )
        r = Q.run_seed(
            os.path.join(work, "town-%d" % seed),
            seed,
            args.tags,
            args.hours,
            args.per_class,
            policies,
            args.jobs,
        )
        _say(
            "  %d fixes, %d incidents, %.0f s"
            % (r["fixes"], r["incidents"], time.monotonic() - started)
        )
        results.append(r)
    report = {"seeds": seeds, "tags": args.tags, "hours": args.hours, "per_class": args.per_class}
    for label in policies:
        total = Q.merge(results, label)
        report[label] = {"figures": Q.figures(total), "classes": total}
    if not args.json:
        print_quality(report, policies)
    return report


def print_quality(report, policies):
    from emtag.tools import crimes_quality as Q

    f = report["policy"]["figures"]
    print(
        "Crime mapping quality: %d towns (seeds %s) of %d simulated wearers x %g h; %d "
        "incidents, each against every wearer"
        % (
            len(report["seeds"]),
            ",".join(map(str, report["seeds"])),
            report["tags"],
            report["hours"],
            f["incidents"],
        )
    )
    print()
    print(Q.table(report["policy"]["classes"]))
    print()
    t = max(1, f["true_pairs"])
    print("wearer truly at the scene (%d pairs):" % f["true_pairs"])
    print(
        "  emtag  placed %d (%.0f %%), could have been there %d, missed %d (goal: 0)"
        % (f["placed_true"], 100 * f["placed_true"] / t, f["could_true"], f["missed"])
    )
    print(
        "  naive  matched %d (%.0f %%), missed %d"
        % (f["naive_hits"], 100 * f["naive_hits"] / t, f["naive_missed"])
    )
    n = max(1, f["incidents"])
    print(
        "wearer not there (%d pairs: 50 m or more beyond the scene's uncertainty):"
        % f["not_there_pairs"]
    )
    print(
        "  emtag  placed at the scene %d times, in %d incidents: %.2f per 1,000 incidents "
        "(goal: <= 1)"
        % (
            f["false_placed"],
            f["incidents_with_false_placement"],
            1000 * f["incidents_with_false_placement"] / n,
        )
    )
    if f["false_placed"]:
        fewer = "%.1fx fewer false matches with emtag" % (
            f["naive_false_matches"] / f["false_placed"]
        )
    else:
        fewer = "%d false matches against emtag's 0" % f["naive_false_matches"]
    print(
        "  naive  matched %d times: %.1f per 1,000 incidents; %s (goal: >= 5x fewer)"
        % (f["naive_false_matches"], 1000 * f["naive_false_matches"] / n, fewer)
    )
    for label in policies:
        g = report[label]["figures"]
        top = policies[label].params
        print(
            "could not have been there, assuming at most %.0f km/h (%s): %d answers, %d correct"
            % (top.top_speed * 3.6, label, g["could_not"], g["could_not"] - g["could_not_wrong"])
        )


def speed(args, policy, work):
    from emtag.host.errors import CommandError
    from emtag.tools.pgserver import PgServer, PgUnavailable

    out = {}
    if args.backend in ("both", "sqlite"):
        out["sqlite"] = _speed_on(
            os.path.join(work, "speed-%d.sqlite" % args.speed_tags), args, policy
        )
    if args.backend in ("both", "postgresql"):
        # with --dir the cluster and its store stay there for the next run
        keep = os.path.join(work, "speed-pg") if args.dir else None
        try:
            pg = PgServer(shared_buffers="1GB", keep=keep).start()
        except PgUnavailable as e:
            raise CommandError("PostgreSQL for the speed run: %s" % e) from None
        try:
            name = "crimes_%d" % args.speed_tags
            made = os.path.join(work, "speed-%d.postgresql.json" % args.speed_tags)
            if keep and os.path.exists(made) and pg.has_database(name):
                target = pg.url(name)
            else:
                target = pg.new_database(name)
            out["postgresql"] = _speed_on(target, args, policy, made)
        finally:
            pg.stop()
    if not args.json:
        for backend, info in out.items():
            print_speed(backend, info, args.incidents)
    return out


def _speed_on(target, args, policy, made=None):
    """Build (or, for a store made before with the same tags, reuse) the store, index it,
    then time the matchers. made: the file that says the store was made (a SQLite file's
    own: target + .json)."""
    from emtag.centre import crimes_run
    from emtag.host.store import open_store
    from emtag.tools import crimes_speed as S

    if "://" not in target:
        made = target + ".json"
    info = None
    if made and os.path.exists(made) and ("://" in target or os.path.exists(target)):
        with open(made) as f:
            info = json.load(f)
    if not info or info.get("tags") != args.speed_tags:
        if made and os.path.exists(made):
            os.remove(made)  # until this build is complete
        _say("emtag bench crimes: writing a day of %d tags into %s..." % (args.speed_tags, target))
        c = time.process_time()
        fixes, wall = S.build(
            target, args.speed_tags, progress=lambda i, n: _say("  %d/%d tags" % (i, n))
        )
        info = {
            "tags": args.speed_tags,
            "fixes": fixes,
            "load_s": wall,
            "load_cpu_s": time.process_time() - c,
        }
        st = open_store(target)
        try:
            _say("emtag bench crimes: indexing the trails...")
            t, c = time.monotonic(), time.process_time()
            info["tiles"] = st.trail_index_refresh()
            info.update(index_s=time.monotonic() - t, index_cpu_s=time.process_time() - c)
            with st._tx():  # every tag eligible: the worst case
                for d in st.known_devices():
                    st._x(
                        "INSERT INTO crime_flags(device, eligible, reason, set_by, set_at, "
                        "source) VALUES (?, 1, 'benchmark', 'bench', ?, 'centre')",
                        (d, int(time.time())),
                    )
        finally:
            st.close()
        if made:
            with open(made, "w") as f:
                json.dump(info, f)
    data = S.incidents(args.incidents)
    st = open_store(target)
    try:
        _say("emtag bench crimes: matching %d incidents on %s..." % (args.incidents, st.kind))
        t, c = time.monotonic(), time.process_time()
        res = crimes_run.match(st, data, policy)
        info.update(
            match_s=time.monotonic() - t,
            match_cpu_s=time.process_time() - c,
            answers=res.counts()["answers"],
        )
        t, c = time.monotonic(), time.process_time()
        pairs, _ = S.naive_match(st, data, policy)
        info.update(
            naive_s=time.monotonic() - t, naive_cpu_s=time.process_time() - c, naive_pairs=pairs
        )
        few = max(1, min(3, args.incidents))
        t = time.monotonic()
        S.plain_sql(st, data, few)
        info.update(plain_incidents=few, plain_s=time.monotonic() - t)
    finally:
        st.close()
    return info


def print_speed(backend, i, n):
    print()
    print(
        "Crime mapping speed on %s: %d tags x 24 h at a fix a minute = %d fixes, one core"
        % (backend, i["tags"], i["fixes"])
    )
    print(
        "  written in %.0f s (%.0f s CPU here); trail index: %d tiles in %.0f s (%.0f s CPU here)"
        % (i["load_s"], i["load_cpu_s"], i["tiles"], i["index_s"], i["index_cpu_s"])
    )
    answers = ", ".join("%d %s" % (v, k) for k, v in i["answers"].items())
    print(
        "  emtag  %d incidents in %.1f s (%.1f s CPU here; goal <= 60 s): %s"
        % (n, i["match_s"], i["match_cpu_s"], answers)
    )
    print(
        "  naive  %d incidents in %.1f s (%.1f s CPU here), same store and index: %d matches"
        % (n, i["naive_s"], i["naive_cpu_s"], i["naive_pairs"])
    )
    print("  emtag / naive: %.1fx the time" % (i["match_s"] / max(1e-9, i["naive_s"])))
    per = i["plain_s"] / i["plain_incidents"]
    print(
        "  naive through the store's fixes_near, no trail index: %.1f s per incident (%d "
        "timed): about %.0f s for %d" % (per, i["plain_incidents"], per * n, n)
    )
