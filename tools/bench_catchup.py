"""Catch-up after an outage: how long the tag takes, once the link is back, to get everything
it logged meanwhile into the store, against the floor a 115,200-baud link sets (the bytes of
those records / 11,520 bytes a second). Target: at most 1.5x the floor, for every seed.

Runs examples/link-outage-3d.toml and link-outage-7d.toml (their [link] is the bridge's
serial cable: 115,200 baud, 80 ms latency, 2 ms per message; simulator/timeline.py) with
seeds 1-7 each, the firmware in-process on CPython (the same code as on the tag; the link
and the clock are the simulator's). Per run:

    backlog    bytes of the records logged before the link came back and not yet stored
    floor      backlog / 11,520 B/s
    catch-up   from the link's return to the store holding all of them (simulator/simulate.py)
    dead link  bytes the tag sent into the link while it was down (target: none)

    emtag bench catchup                       # 2 outages x 7 seeds (a few minutes)
    emtag bench catchup --seeds 1-3 --only 3d
"""

import json
import os
import sys
import tempfile

HELP = "catch-up after 3- and 7-day outages at 115,200 baud vs the link's floor (target 1.5x)"
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
OUTAGES = {"3d": "link-outage-3d.toml", "7d": "link-outage-7d.toml"}
BYTES_PER_S = 11520
TARGET = 1.5


def add_arguments(p):
    p.add_argument("--seeds", default="1-7", help="seeds, as 1-7 or 1,4,9 (1-7)")
    p.add_argument("--only", choices=sorted(OUTAGES), help="one outage only")
    p.add_argument(
        "--interpreter", choices=["cpython", "micropython"], default="cpython",
        help="run the firmware in-process on CPython (default) or on the MicroPython unix port",
    )  # fmt: skip


def parse_seeds(text):
    out = []
    for part in text.split(","):
        a, _, b = part.strip().partition("-")
        lo, hi = int(a), int(b or a)
        if not 1 <= lo <= hi <= 10000:
            raise ValueError(part)
        out += range(lo, hi + 1)
    return out


def measure(path, seed, interpreter, out):
    """(catch-up s, backlog bytes, bytes sent into the dead link) of one run."""
    from emtag.host.store import open_store
    from emtag.simulator import scenario, simulate

    sc = scenario.load(path)
    sc.seed = seed
    sc.expect = []  # the example's own checks are for its own seed
    r = simulate.simulate(sc, out, interpreter)
    with open(os.path.join(out, "events.jsonl")) as f:
        evs = [json.loads(line) for line in f]
    up = [e for e in evs if e["source"] == "sim" and e["type"] == "link_up"][-1]["t"]
    down = [e for e in evs if e["source"] == "sim" and e["type"] == "link_down"][-1]["t"]
    stored_before = max(
        [e["upto"] for e in evs if e["source"] == "bridge" and e["type"] == "records_stored"
         and e["t"] < down] or [0]
    )  # fmt: skip
    logged = max(seq for t, seq, *_ in simulate.told(evs) if t < up)
    with open_store(os.path.join(out, "store.sqlite"), create=False) as st:
        rows = st.valid_rows(r["device"], stored_before + 1, logged)
        # the block the tag sealed on the link's return is part of what had to go
        end = st.block_of(r["device"], logged)
        if end:
            rows = st.valid_rows(r["device"], stored_before + 1, end[1])
    backlog = sum(len(row[3]) for row in rows)
    return r["catch_up_s"], backlog, r["hardware"]["link_bytes_down"]


def run(args):
    from emtag.host.errors import CommandError

    try:
        seeds = parse_seeds(args.seeds)
    except ValueError:
        raise CommandError("--seeds: give numbers like 1-7 or 1,4,9") from None
    names = [args.only] if args.only else sorted(OUTAGES)
    rows, ok = [], True
    with tempfile.TemporaryDirectory(prefix="emtag-bench-catchup-") as tmp:
        for name in names:
            for seed in seeds:
                print("%s outage, seed %d..." % (name, seed), file=sys.stderr, flush=True)
                out = os.path.join(tmp, "%s-%d" % (name, seed))
                catch, backlog, dead = measure(
                    os.path.join(EXAMPLES, OUTAGES[name]), seed, args.interpreter, out
                )
                floor = backlog / BYTES_PER_S
                ratio = catch / floor if catch is not None and floor else None
                good = ratio is not None and ratio <= TARGET and dead == 0
                ok = ok and good
                rows.append((name, seed, backlog, floor, catch, ratio, dead, good))
    print("catch-up at 115,200 baud (floor: backlog / 11,520 B/s), %s" % args.interpreter)
    print("%-7s %4s %9s %8s %9s %6s %10s" % ("outage", "seed", "backlog", "floor", "catch-up",
                                            "ratio", "dead link"))  # fmt: skip
    for name, seed, backlog, floor, catch, ratio, dead, good in rows:
        print(
            "%-7s %4d %8.1fk %7.2fs %8s %6s %9dB %s"
            % (name, seed, backlog / 1000, floor, "%.2fs" % catch if catch is not None else "never",
               "%.2f" % ratio if ratio else "-", dead, "ok" if good else "MISSED")
        )  # fmt: skip
    ratios = [r[5] for r in rows if r[5]]
    if ratios:
        print("worst %.2fx, median %.2fx the floor (target <= %.1fx)"
              % (max(ratios), sorted(ratios)[len(ratios) // 2], TARGET))  # fmt: skip
    return 0 if ok else 1
