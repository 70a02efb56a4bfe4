"""The monitoring centre's store and analytics at scale, on both backends in the same run
(SQLite against PostgreSQL, each the other's peer; trackintel for stay points):

- a year of one tag at a fix a minute (525,600 fixes) and a day of --tags tags (default
  12,000: 17 million fixes) written through the store interface the bridge writes with
  (store.add_blocks: blocks of 15 fixes and their checkpoint, a transaction per 20,000
  fixes as the bridge commits a turn of its loop; PostgreSQL: a durable throwaway server,
  fsync on; SQLite: synchronous=FULL);
- `where` at random times (target <= 50 ms), the weekly report of one week of the year tag
  (<= 5 s), a month's heatmap (<= 1 s), one tag's day out of the fleet day, and every
  tag's fixes within 200 m of a point over an hour of the fleet day;
- PostgreSQL bulk ingest in fixes/s (target >= 20,000).

Synthetic trails (home and work, a few metres of noise: a month covers few heatmap cells;
the heatmap's time goes per fix, not per cell); the blocks' bytes are placeholders of the
compact format's sizes."""

import os
import random
import statistics
import tempfile
import time

HELP = "centre scale: a year of one tag and a day of 12,000 tags in SQLite and PostgreSQL"
T0 = 1767225600  # 2026-01-01T00:00:00Z
BATCH = 20000


def add_arguments(p):
    p.add_argument("--tags", type=int, default=12000, help="tags in the fleet day (%(default)s)")
    p.add_argument("--year-fixes", type=int, default=525600, help="fixes of the year tag")
    p.add_argument("--backend", choices=("both", "sqlite", "postgresql"), default="both")
    p.add_argument("--queries", type=int, default=50, help="where queries (%(default)s)")


# a block's wire items: placeholders of the compact format's sizes (CBOR byte strings of a
# fix item's ~11 bytes and a checkpoint's ~110; nothing here reads or verifies them)
FIX_WIRE, CHECKPOINT_WIRE = b"\x4a" + bytes(10), b"\x58\x6c" + bytes(108)
BLOCK_FIXES = 15  # a block is sealed 15 minutes after its first fix while the link is up
RECEIVED = "2026-01-01T00:00:00.000Z"


def _blocks(n, first_seq, t0, step, rnd, home):
    """n fixes from t0 every step s, at home or (9-17 h) at work, in blocks of BLOCK_FIXES
    each sealed by a checkpoint, as the bridge hands them to store.add_blocks."""
    from emtag.host.store.base import StoredRecord

    lat0, lon0 = home
    out, blk, seq = [], [], first_seq - 1
    for i in range(n):
        t = t0 + i * step
        away = 9 <= (t % 86400) // 3600 < 17
        lat = lat0 + (-103000 if away else 0) + int(rnd.gauss(0, 200))
        lon = lon0 + (330000 if away else 0) + int(rnd.gauss(0, 300))
        acc = 500 + int(rnd.random() * 3000)
        seq += 1
        blk.append(StoredRecord(seq, 1, t, 0, lat, lon, acc, None, None, FIX_WIRE))
        if len(blk) == BLOCK_FIXES or i == n - 1:
            seq += 1
            blk.append(StoredRecord(seq, 4, t, 0, None, None, None, None, None, CHECKPOINT_WIRE))
            out.append(blk)
            blk = []
    return out, seq


def _load(store, batches, total, label):
    """Write batches ([(device, blocks)], fixes in them), each in one transaction as a
    bridge's turn of its loop does (store.group()); returns fixes/s."""
    import sys

    from emtag.simulator.progress import Bar

    bar = Bar(sys.stderr, "  " + label, long_job=True)
    t = time.perf_counter()
    done = 0
    for batch, fixes in batches:
        with store.group():
            for device, blocks in batch:
                store.add_blocks(device, blocks, RECEIVED)
        done += fixes
        rate = done / (time.perf_counter() - t)
        bar.show(done / total, "%d/%d fixes, %.0f/s" % (done, total, rate))
    return done / (time.perf_counter() - t)


def _bench(store, args, rnd, out):
    from emtag.centre import heatmap, report
    from emtag.centre.where import where

    year_dev = "ee" * 8
    store.add_device(year_dev, b"\x04" + b"y" * 64, "bench", "2026-01-01T00:00:00Z")
    home = (534808000, -22453000)

    def year_batches():
        seq = 0
        for a in range(0, args.year_fixes, BATCH):
            n = min(BATCH, args.year_fixes - a)
            blocks, seq = _blocks(n, seq + 1, T0 + 60 * a, 60, rnd, home)
            yield [(year_dev, blocks)], n

    out["ingest year fixes/s"] = _load(store, year_batches(), args.year_fixes, "year of one tag")
    devs = ["%016x" % (0xF000000000000000 + i) for i in range(args.tags)]
    for d in devs:
        store.add_device(d, b"\x04" + b"f" * 64, "bench", "2026-01-01T00:00:00Z")
    day0 = T0 + 86400 * 180

    def fleet_batches():
        batch, fixes = [], 0
        for i, d in enumerate(devs):
            h = (534808000 + (i % 100) * 5000, -22453000 + (i // 100) * 5000)
            batch.append((d, _blocks(1440, 1, day0, 60, rnd, h)[0]))
            fixes += 1440
            if fixes >= BATCH:
                yield batch, fixes
                batch, fixes = [], 0
        if batch:
            yield batch, fixes

    out["ingest fleet fixes/s"] = _load(store, fleet_batches(), 1440 * args.tags, "fleet day")
    if store.kind == "postgresql":  # what autovacuum does after a bulk load, done now
        store.conn.execute("ANALYZE")
    span = args.year_fixes * 60
    times = []
    for _ in range(args.queries):
        t = T0 + rnd.randrange(span)
        a = time.perf_counter()
        where(store, year_dev, t)
        times.append(time.perf_counter() - a)
    out["where median ms"] = statistics.median(times) * 1000
    out["where max ms"] = max(times) * 1000
    week_t = T0 + 86400 * 7 * min(20, span // (86400 * 7) - 1)
    import datetime

    wk = datetime.datetime.fromtimestamp(week_t, datetime.UTC).isocalendar()
    a = time.perf_counter()
    report.build(store, year_dev, "%d-W%02d" % (wk[0], wk[1]), [], "", "bench")
    out["weekly report s"] = time.perf_counter() - a
    a = time.perf_counter()
    fx = store.fixes(year_dev, T0 + 86400 * 31, T0 + 86400 * 61)
    cells = heatmap.cells(fx, T0 + 86400 * 31, T0 + 86400 * 61)
    out["month heatmap s"] = time.perf_counter() - a
    out["month fixes"] = len(fx)
    out["month cells"] = len(cells)
    a = time.perf_counter()
    n = len(store.fixes(devs[len(devs) // 2], day0, day0 + 86400))
    out["one tag's day of the fleet ms"] = (time.perf_counter() - a) * 1000
    out["one tag's day fixes"] = n
    a = time.perf_counter()
    near = store.fixes_near(home[0], home[1], 200.0, day0 + 3600 * 20, day0 + 3600 * 21)
    out["fixes within 200 m over an hour, all tags ms"] = (time.perf_counter() - a) * 1000
    out["fixes near"] = len(near)


def run(args):
    from emtag.host.store import open_store
    from emtag.tools.pgserver import PgServer

    results = {}
    if args.backend in ("both", "sqlite"):
        print("SQLite")
        with tempfile.TemporaryDirectory(prefix="emtag-bench-") as tmp:
            s = open_store(os.path.join(tmp, "bench.sqlite"))
            results["sqlite"] = {}
            try:
                _bench(s, args, random.Random(1), results["sqlite"])
            finally:
                s.close()
    if args.backend in ("both", "postgresql"):
        print("PostgreSQL")
        with PgServer(durable=True, shared_buffers="512MB") as pg:
            s = open_store(pg.new_database("bench"))
            results["postgresql"] = {}
            try:
                _bench(s, args, random.Random(1), results["postgresql"])
            finally:
                s.close()
    keys = list(next(iter(results.values())).keys())
    print("\n%-46s %s" % ("figure", "  ".join("%14s" % b for b in results)))
    for k in keys:
        print("%-46s %s" % (k, "  ".join("%14.1f" % results[b][k] for b in results)))
    targets = [("where max ms", 50, "<="), ("weekly report s", 5, "<="),
               ("month heatmap s", 1, "<=")]  # fmt: skip
    ok = True
    for b, r in results.items():
        for k, lim, _ in targets:
            good = r[k] <= lim
            ok &= good
            print("%s  %s %s: %.3g (target <= %g)" % ("PASS" if good else "FAIL", b, k, r[k], lim))
    if "postgresql" in results:
        v = results["postgresql"]["ingest fleet fixes/s"]
        print("%s  postgresql bulk ingest: %.0f fixes/s (target >= 20,000)"
              % ("PASS" if v >= 20000 else "FAIL", v))  # fmt: skip
        ok &= v >= 20000
    return 0 if ok else 1
