"""The monitoring centre's store and analytics at scale, on both backends in the same run
(SQLite against PostgreSQL, each the other's peer; trackintel for stay points):

- a year of one tag at a fix a minute (525,600 fixes) and a day of --tags tags (default
  12,000: 17 million fixes) bulk-loaded through the store interface the bridge writes with
  (PostgreSQL: a durable throwaway server, fsync on; SQLite: synchronous=FULL);
- `where` at random times (target <= 50 ms), the weekly report of one week of the year tag
  (<= 5 s), a month's heatmap (<= 1 s), one tag's day out of the fleet day, and every
  tag's fixes within 200 m of a point over an hour of the fleet day;
- PostgreSQL bulk ingest in fixes/s (target >= 20,000).

Synthetic trails (home, work, noise); the `cose` column holds a real CBOR fix record."""

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


def _rows(device, n, t0, step, rnd, home):
    import cbor2

    lat0, lon0 = home
    out = []
    for i in range(n):
        t = t0 + i * step
        away = 9 <= (t % 86400) // 3600 < 17
        lat = lat0 + (-103000 if away else 0) + int(rnd.gauss(0, 200))
        lon = lon0 + (330000 if away else 0) + int(rnd.gauss(0, 300))
        acc = 500 + int(rnd.random() * 3000)
        wire = cbor2.dumps({0: 1, 1: i + 1, 2: t, 3: 0, 4: b"\0" * 32, 10: lat, 11: lon, 12: acc})
        out.append({"device": device, "seq": i + 1, "type": 1, "t": t, "t_ms": 0,
                    "lat_e7": lat, "lon_e7": lon, "acc_cm": acc, "status": "valid",
                    "received": "2026-01-01T00:00:00.000Z", "cose": wire,
                    "sealed_by": i + 1})  # fmt: skip
    return out


def _load(store, rows_iter, total, label):
    import sys

    from emtag.simulator.progress import Bar

    bar = Bar(sys.stderr, "  " + label, long_job=True)
    t = time.perf_counter()
    done = 0
    for rows in rows_iter:
        store.add_records(rows)
        done += len(rows)
        rate = done / (time.perf_counter() - t)
        bar.show(done / total, "%d/%d fixes, %.0f/s" % (done, total, rate))
    return done / (time.perf_counter() - t)


def _bench(store, args, rnd, out):
    from emtag.centre import heatmap, report
    from emtag.centre.where import where

    year_dev = "ee" * 8
    store.add_device(year_dev, b"\x04" + b"y" * 64, "bench", "2026-01-01T00:00:00Z")
    home = (534808000, -22453000)

    def fix_seq(rows, a):
        for i, r in enumerate(rows):
            r["seq"] = r["sealed_by"] = a + i + 1
        return rows

    def year_rows():
        for a in range(0, args.year_fixes, BATCH):
            n = min(BATCH, args.year_fixes - a)
            yield fix_seq(_rows(year_dev, n, T0 + 60 * a, 60, rnd, home), a)

    out["ingest year fixes/s"] = _load(store, year_rows(), args.year_fixes, "year of one tag")
    devs = ["%016x" % (0xF000000000000000 + i) for i in range(args.tags)]
    for d in devs:
        store.add_device(d, b"\x04" + b"f" * 64, "bench", "2026-01-01T00:00:00Z")
    day0 = T0 + 86400 * 180

    def fleet_rows():
        buf = []
        for i, d in enumerate(devs):
            h = (534808000 + (i % 100) * 5000, -22453000 + (i // 100) * 5000)
            buf += _rows(d, 1440, day0, 60, rnd, h)
            if len(buf) >= BATCH:
                yield buf
                buf = []
        if buf:
            yield buf

    out["ingest fleet fixes/s"] = _load(store, fleet_rows(), 1440 * args.tags, "fleet day")
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
    tmp = tempfile.mkdtemp(prefix="emtag-bench-")
    if args.backend in ("both", "sqlite"):
        print("SQLite")
        s = open_store(os.path.join(tmp, "bench.sqlite"))
        results["sqlite"] = {}
        try:
            _bench(s, args, random.Random(1), results["sqlite"])
        finally:
            s.close()
            os.remove(os.path.join(tmp, "bench.sqlite"))
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
