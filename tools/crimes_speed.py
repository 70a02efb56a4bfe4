"""Crime-mapping speed: a day of N tags at a fix a minute (12,000 tags: 17 million fixes)
written straight into a store, then 1,000 incidents matched on one core, against the naive
matcher (any fix within 100 m during the window) through the same store and index, and
against a plain SQL query per incident without the trail index (timed on a few).

The trails are synthetic (built for volume, not realism; the quality benchmark uses the
simulator): each wearer has a home in a 40 x 40 km city (about Greater London's size, so
12,000 tags is a dense worst case), a day of 0-3 trips on foot or by car to a place they
stay 30-180 min, GNSS noise of a few metres outdoors and 15 m indoors, the accuracy radius
the tag would report, and a block of 15 fixes sealed by a signed checkpoint as the tag
writes them. A block's signed bytes are a placeholder of its compact size (WIRE_FIX_B a fix,
WIRE_CHECKPOINT_B its checkpoint): nothing here verifies them. The rows go straight into
the compact tables (host/store/compact.py), the indexes made after the load.
"""

import math
import os
import random
import time

import numpy as np

CENTRE = (51.5072, -0.1276)
CITY_M = 40000
M_PER_DEG = 111195.0
DAY0 = 1773014400  # 2026-03-09T00:00:00Z
WIRE_FIX_B, WIRE_CHECKPOINT_B = 11, 110
BLOCK_FIXES = 15


def _trail(rng, nprng):
    """(t, lat_e7, lon_e7, acc_cm) arrays of one wearer's day, a fix a minute."""
    h = CITY_M / 2
    home = np.array([rng.uniform(-h, h), rng.uniform(-h, h)])
    knots_t, knots_p, moving = [0.0], [home], []
    t = rng.uniform(6, 10) * 3600
    for _ in range(rng.randint(0, 3)):
        drive = rng.random() < 0.4
        speed = 10.0 if drive else 1.4
        dist = rng.uniform(2000, 15000) if drive else rng.uniform(500, 2000)
        th = rng.uniform(0, 2 * math.pi)
        dest = np.clip(home + dist * np.array([math.cos(th), math.sin(th)]), -h, h)
        go = float(np.linalg.norm(dest - home)) / speed
        stay = rng.uniform(30, 180) * 60
        if t + 2 * go + stay > 86000:
            break
        knots_t += [t, t + go, t + go + stay, t + 2 * go + stay]
        knots_p += [home, dest, dest, home]
        moving += [(t, t + go), (t + go + stay, t + 2 * go + stay)]
        t += 2 * go + stay + rng.uniform(0.5, 4) * 3600
    knots_t.append(86400.0)
    knots_p.append(home)
    ts = np.arange(30.0, 86400.0, 60.0) + nprng.uniform(-2, 2, 1440)
    kt, kp = np.array(knots_t), np.array(knots_p)
    x = np.interp(ts, kt, kp[:, 0])
    y = np.interp(ts, kt, kp[:, 1])
    inside = np.ones(ts.size, bool)  # at home or at a destination: indoors
    for a, b in moving:
        inside &= (ts < a) | (ts > b)
    sigma = np.where(inside, 15.0, 4.0)
    x = x + nprng.normal(0, 1, ts.size) * sigma
    y = y + nprng.normal(0, 1, ts.size) * sigma
    acc = (2.83 * sigma * nprng.uniform(0.8, 1.3, ts.size) * 100).astype(int)
    lat = CENTRE[0] + y / M_PER_DEG
    lon = CENTRE[1] + x / (M_PER_DEG * math.cos(math.radians(CENTRE[0])))
    return DAY0 + ts, (lat * 1e7).astype(int), (lon * 1e7).astype(int), acc


RECEIVED = "2026-03-10T00:00:00.000Z"
PROVEN_COLS = "dev, t, seq, type, t_ms, lat_e7, lon_e7, acc_cm"
BLOCK_COLS = "dev, last_seq, arrival, first_seq, t_lo, t_hi, fixes, received, wire"
# the crime trail index's queue (host/store/trail_index.py), as add_blocks fills it
QUEUE_ALL = "INSERT INTO trail_todo(dev, t_lo) SELECT dev, MIN(t_lo) FROM blocks GROUP BY dev"


def _days(tags, seed):
    """(device, proven rows, block rows) of each tag's day, its number in the store (dev)
    its place in the day: fixes in blocks of BLOCK_FIXES, each sealed by a checkpoint."""
    rng, nprng = random.Random(seed), np.random.default_rng(seed)
    arrival = 0
    for dev in range(1, tags + 1):
        device = "%016x" % rng.getrandbits(64)
        ts, lat, lon, acc = _trail(rng, nprng)
        ms = ((ts % 1) * 1000).astype(int).tolist()
        ts, lat, lon, acc = ts.astype(int).tolist(), lat.tolist(), lon.tolist(), acc.tolist()
        proven, blocks, seq = [], [], 0
        for i in range(0, len(ts), BLOCK_FIXES):
            ks = range(i, min(i + BLOCK_FIXES, len(ts)))
            first = seq + 1
            for k in ks:
                seq += 1
                proven.append((dev, ts[k], seq, 1, ms[k], lat[k], lon[k], acc[k]))
            seq += 1
            t_hi = ts[ks[-1]]
            proven.append((dev, t_hi, seq, 4, 0, None, None, None))
            arrival += 1
            wire = bytes(WIRE_FIX_B * len(ks) + WIRE_CHECKPOINT_B)
            blocks.append((dev, seq, arrival, first, ts[ks[0]], t_hi, len(ks), RECEIVED, wire))
        yield dev, device, proven, blocks


def build(target, tags, seed=1, progress=None):
    """A store (SQLite path or PostgreSQL URL, new) with a day of `tags` wearers, the
    records' indexes made after the load; returns (fixes, seconds)."""
    from emtag.host.store import open_store

    if "://" not in target:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(target + suffix):
                os.remove(target + suffix)
    started = time.monotonic()
    st = open_store(target)
    load = _load_postgres if st.kind == "postgresql" else _load_sqlite
    try:
        fixes = load(st, _days(tags, seed), tags, progress)
    finally:
        st.close()
    return fixes, time.monotonic() - started


def _load_sqlite(st, days, tags, progress):
    db = st.db
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-1000000")
    fixes = arrival = 0
    for dev, device, proven, blocks in days:
        fixes += sum(b[6] for b in blocks)
        arrival = blocks[-1][2]
        with db:
            db.execute(
                "INSERT INTO devices(device, public_key, firmware, first_seen) VALUES (?,?,?,?)",
                (device, bytes(65), "bench", RECEIVED),
            )
            db.execute("INSERT INTO device_ids(dev, device) VALUES (?, ?)", (dev, device))
            db.executemany("INSERT INTO proven(%s) VALUES (?,?,?,?,?,?,?,?)" % PROVEN_COLS, proven)
            db.executemany("INSERT INTO blocks(%s) VALUES (?,?,?,?,?,?,?,?,?)" % BLOCK_COLS, blocks)
        if progress and dev % 500 == 0:
            progress(dev, tags)
    with db:
        db.execute("UPDATE feed_counter SET n = ?", (arrival,))
        db.execute(QUEUE_ALL)  # what the bridge's add_blocks calls would have queued
    return fixes


def _load_postgres(st, days, tags, progress):
    conn = st.conn
    fixes = arrival = 0
    for dev, device, proven, blocks in days:
        fixes += sum(b[6] for b in blocks)
        arrival = blocks[-1][2]
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "INSERT INTO devices(device, public_key, firmware, first_seen) "
                "VALUES (%s,%s,%s,%s)",
                (device, bytes(65), "bench", RECEIVED),
            )
            cur.execute("INSERT INTO device_ids(dev, device) VALUES (%s, %s)", (dev, device))
            for table, rows in (("proven", proven), ("blocks", blocks)):
                cols = PROVEN_COLS if table == "proven" else BLOCK_COLS
                with cur.copy("COPY %s (%s) FROM STDIN" % (table, cols)) as copy:
                    for r in rows:
                        copy.write_row(r)
        if progress and dev % 500 == 0:
            progress(dev, tags)
    conn.execute("SELECT setval('device_ids_dev_seq', %s)", (tags,))
    conn.execute("SELECT setval('feed_seq', %s)", (arrival + 1,))
    conn.execute(QUEUE_ALL)
    conn.execute("ANALYZE")
    return fixes


def incidents(n, seed=2):
    """CSV bytes of n incidents anywhere in the city during the day: windows of 10 min to
    12 h (log-uniform), uncertainty 5-100 m."""
    rng = random.Random(seed)
    lines = ["id,crime_type,latitude,longitude,uncertainty_m,time_from,time_to"]
    h = CITY_M / 2
    import datetime

    def iso(t):
        return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    for i in range(n):
        x, y = rng.uniform(-h, h), rng.uniform(-h, h)
        lat = CENTRE[0] + y / M_PER_DEG
        lon = CENTRE[1] + x / (M_PER_DEG * math.cos(math.radians(CENTRE[0])))
        length = math.exp(rng.uniform(math.log(600), math.log(12 * 3600)))
        t0 = DAY0 + rng.uniform(0, 86400 - length)
        u = rng.choice((5, 10, 25, 50, 100))
        lines.append(
            "s%d,burglary,%.7f,%.7f,%d,%s,%s" % (i, lat, lon, u, iso(t0), iso(t0 + length))
        )
    return ("\n".join(lines) + "\n").encode()


def naive_match(store, data, policy, buffer_m=100.0):
    """The naive matcher through the same store and trail index: every eligible wearer with
    a fix within buffer_m of the reported point during the window, reading only the tiles
    whose box comes that close (an incident's pieces in one store read, as emtag's are).
    Returns (pairs, seconds)."""
    from emtag.centre import crimes_eligibility, crimes_incidents
    from emtag.centre import crimes_match as M
    from emtag.centre.crimes_tiles import box_distance

    started = time.monotonic()
    incs, _, _ = crimes_incidents.read(data, policy.timezone)
    wearers, _ = crimes_eligibility.eligible(
        store, store.known_devices(), time.time(), policy.flag_max_age_s
    )
    pairs = 0
    for inc in incs:
        w0, w1 = math.floor(inc.t_from), math.ceil(inc.t_to)
        near = {}
        for d, t_lo, t_hi, _, _, la0, la1, lo0, lo1 in store.trail_tiles_near(
            inc.lat, inc.lon, buffer_m, w0, w1
        ):
            if d in wearers and t_hi >= w0 and t_lo <= w1:
                if box_distance(inc.lat, inc.lon, la0 / 1e7, la1 / 1e7, lo0 / 1e7, lo1 / 1e7) <= (
                    buffer_m + 1
                ):
                    near.setdefault(d, []).append((max(t_lo, w0), min(t_hi, w1)))
        got = store.trails([(d, a, b) for d, spans in near.items() for a, b in spans])
        for d, spans in near.items():
            if any(
                inc.t_from <= t + t_ms / 1000 <= inc.t_to
                and M.distance_m(inc.lat, inc.lon, la / 1e7, lo / 1e7) <= buffer_m
                for a, b in spans
                for _, t, t_ms, la, lo, _ in got[(d, a, b)]
            ):
                pairs += 1
    return pairs, time.monotonic() - started


def plain_sql(store, data, n, buffer_m=100.0):
    """The naive matcher for the first n incidents through the store's own cross-device
    query (fixes_near: a time range and a box on the records table, no spatial index):
    what the store offers without the trail index. Returns the pairs matched."""
    from emtag.centre import crimes_incidents

    incs, _, _ = crimes_incidents.read(data)
    pairs = 0
    for inc in incs[:n]:
        near = store.fixes_near(round(inc.lat * 1e7), round(inc.lon * 1e7), buffer_m,
                                math.floor(inc.t_from), math.ceil(inc.t_to))  # fmt: skip
        pairs += len({d for d, f in near if inc.t_from <= f.t + (f.t_ms or 0) / 1000 <= inc.t_to})
    return pairs
