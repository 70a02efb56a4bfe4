"""Evidence size: bytes per fix on the tag's flash, on the wire and in the SQLite store, for
today's compact records against the format before them (tools/legacy_records.py), the same
records measured in the same run.

Each case is a simulated tag (the real firmware, in-process on CPython) for --hours:

    1/min          a typical weekday from 06:00 (examples/typical-week.toml's Monday):
                   home, the bus, work indoors, a lunch walk
    15 s walking   the fast interval (15 s, the zone engine's near a zone) on an afternoon
                   walk (1.8 h)
    15 s driving   ...and on a long drive (3.1 h): the largest steps between fixes
    at rest        a day at home (examples/routes/at-home): a fix a minute, not moving

each with the link up all along, and with it down from the 10th minute to 15 minutes before
the end (an outage: only the count of records seals a block). Per fix:

    flash   the record log's entries (a fix: its body + 3 bytes; a signed record: + 4) with
            their share of checkpoints; littlefs' own metadata is not counted
    wire    every byte on the link both ways, framed: records, ACKs, HELLO probes
    store   the store after VACUUM, less an empty store: the bytes its pages hold (SQLite's
            dbstat), per fix

Targets (issue 14): flash <= 24, wire <= 30, store <= 64 bytes a fix. The 30-day line says
whether a month of fixes a minute during an outage (the worst of the link-down 1/min cases)
fits the 2 MB flash (W25Q16JV) before the record log starts thinning, with room for alerts.

    emtag bench records                 # 24 simulated hours per case (a few minutes)
    emtag bench records --hours 6       # quicker
"""

import os
import sqlite3
import sys
import tempfile

HELP = (
    "evidence size: bytes per fix on flash, wire and store vs the format before (targets 24/30/64)"
)
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(HERE, "examples")
TARGETS = {"flash": 24, "wire": 30, "store": 64}
FLASH_2MB = 2 * 1024 * 1024

FAST = "fast"  # a zone table whose intervals are both 15 s, its one zone far away
CASES = (
    # name, route, zones, [gnss], [tag] config, most hours the route moves (None: any)
    ("1/min", "routes/typical-week.geojson", "zones/typical-week.geojson",
     'environment = "indoor"', "", None),
    ("15 s walking", "routes/afternoon-walk.geojson", FAST, 'environment = "suburban"', "", 1.8),
    ("15 s driving", "routes/long-drive.geojson", FAST, 'environment = "open_sky"', "", 3.1),
    ("at rest", "routes/at-home.geojson", None, 'environment = "suburban"', "", None),
)  # fmt: skip


def add_arguments(p):
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours per case (24)")
    p.add_argument(
        "--cases", default=",".join(c[0] for c in CASES), help="which cases, comma-separated (all)"
    )


def _fast_zones(folder):
    import json

    path = os.path.join(folder, "fast.geojson")
    zone = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-2.40, 53.40]},
            "properties": {"id": "far-away", "kind": "exclusion", "radius_m": 50}}  # fmt: skip
    doc = {"type": "FeatureCollection", "features": [zone],
           "settings": {"fast_interval_s": 15, "slow_interval_s": 15}}  # fmt: skip
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def scenario_text(path, route, zones, gnss, config, hours, down):
    dur = int(hours * 3600)
    text = 'name = "bench records"\nseed = 5\nstart = "2026-03-09T06:00:00Z"\n'
    text += 'duration_s = %d\nroute = "%s"\n' % (dur, os.path.join(EXAMPLES, route))
    if zones == FAST:
        text += 'zones = "%s"\n' % _fast_zones(os.path.dirname(os.path.abspath(path)))
    elif zones:
        text += 'zones = "%s"\n' % os.path.join(EXAMPLES, zones)
    text += "[gnss]\n%s\n[tag]\narmed = true\n" % gnss
    if config:
        text += "config = {%s}\n" % config
    text += "[link]\nlatency_ms = 80\nbaud = 115200\n"
    if down:
        text += "[[link.outage]]\nstart_s = 600\nend_s = %d\n" % (dur - 900)
    return text


def measure(case, hours, down, tmp):
    """Bytes per fix (flash, wire, store) of today's format and of the old one."""
    from emtag.host.store import open_store
    from emtag.simulator import scenario, simulate
    from emtag.tools import legacy_records as legacy

    name, route, zones, gnss, config, moving_h = case
    hours = min(hours, moving_h or hours)
    path = os.path.join(tmp, "case.toml")
    with open(path, "w") as f:
        f.write(scenario_text(path, route, zones, gnss, config, hours, down))
    out = os.path.join(tmp, "out")
    r = simulate.simulate(scenario.load(path), out, "cpython")
    hw = r["hardware"]
    with open_store(os.path.join(out, "store.sqlite"), create=False) as st:
        rows = st.records(r["device"])
    fixes = sum(1 for row in rows if row[1] == 1)
    flash = sum(_entry(bytes(row[-1])) for row in rows)
    new = {
        "flash": flash / fixes,
        "wire": (hw["link_bytes_tag"] + hw["link_bytes_bridge"]) / fixes,
        "store": _store_bytes(os.path.join(out, "store.sqlite"), tmp) / fixes,
    }
    device_id = bytes.fromhex(r["device"])
    items = legacy.stream(legacy.decode([(q, k, bytes(w)) for q, k, *_, w in rows]), device_id,
                          not down)  # fmt: skip
    old_fixes = sum(1 for w, _ in items if w[0] != 0xD2)
    old = {
        "flash": legacy.flash_bytes(items) / old_fixes,
        "wire": legacy.wire_bytes(items, not down) / old_fixes,
        "store": legacy.store_bytes(items, device_id, tmp) / old_fixes,
    }
    return fixes, new, old


def _entry(wire):
    """Bytes a record takes in the tag's log (firmware/recordlog.py)."""
    if wire[0] == 0xD2:
        return len(wire) + 4
    return len(wire) - (1 if wire[0] < 0x58 else 2) + 3


def _store_bytes(path, tmp):
    """The store after VACUUM, less a store with the same schema and no records."""
    from emtag.host.store import open_store

    copy = os.path.join(tmp, "vacuumed.sqlite")
    src = sqlite3.connect(path)
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    full = _vacuumed(dst)
    dst.close()
    os.remove(copy)
    empty_path = os.path.join(tmp, "empty.sqlite")
    open_store(empty_path).close()
    db = sqlite3.connect(empty_path)
    empty = _vacuumed(db)
    db.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(empty_path + suffix):
            os.remove(empty_path + suffix)
    return full - empty


def _vacuumed(db):
    """Bytes the database's pages hold after VACUUM (page size less unused space, from
    SQLite's dbstat): what a store grows by per record, without the page granularity of
    a short run's file size."""
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("VACUUM")
    (used,) = db.execute("SELECT SUM(pgsize - unused) FROM dbstat").fetchone()
    return used


def thirty_days(per_fix):
    """(bytes of a month of fixes a minute, where thinning starts on a 2 MB flash)."""
    from emtag.firmware import recordlog

    budget = min(recordlog.DEFAULT_MAX_BYTES, FLASH_2MB * 3 // 4)
    return 30 * 1440 * per_fix, budget * 7 // 8


def run(args):
    from emtag.host.errors import CommandError

    if not 0.5 <= args.hours <= 72:
        raise CommandError("--hours must be between 0.5 and 72")
    wanted = [c.strip() for c in args.cases.split(",")]
    cases = [c for c in CASES if c[0] in wanted]
    if not cases:
        raise CommandError("--cases: choose from %s" % ", ".join(c[0] for c in CASES))
    results = []
    with tempfile.TemporaryDirectory(prefix="emtag-bench-records-") as tmp:
        for case in cases:
            for down in (False, True):
                label = "%s, link %s" % (case[0], "down" if down else "up")
                print("simulating: %s..." % label, file=sys.stderr, flush=True)
                results.append((label, down) + measure(case, args.hours, down, tmp))
    print("bytes per fix: compact (issue 14) vs the format before it, same records")
    print("%-22s %6s  %-18s %-18s %-18s" % ("case", "fixes", "flash", "wire", "store"))
    ok = True
    for label, _, fixes, new, old in results:
        cells = []
        for k in ("flash", "wire", "store"):
            good = new[k] <= TARGETS[k]
            ok = ok and good
            cells.append("%5.1f / %5.1f %s" % (new[k], old[k], "ok" if good else "OVER"))
        print("%-22s %6d  %-18s %-18s %-18s" % (label, fixes, *cells))
    print("(new / old; targets: flash <= 24, wire <= 30, store <= 64 bytes a fix)")
    down = [new["flash"] for label, d, _, new, _ in results if d and label.startswith(("1/", "at"))]
    if down:
        month, thin_at = thirty_days(max(down))
        fits = month + 30 * 2 * 200 < thin_at
        ok = ok and fits
        print(
            "30 days at a fix a minute during an outage: %.0f kB (%.1f B/fix, the worst above) "
            "of the %.0f kB the log fills on a 2 MB flash before it thins: %s"
            % (month / 1000, max(down), thin_at / 1000, "fits" if fits else "DOES NOT FIT")
        )
    return 0 if ok else 1
