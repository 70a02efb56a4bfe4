"""What crime mapping (centre/crimes_*.py) needs from the store: eligibility flags, the
audit log of matching requests, and a trail index that finds, for a scene and a time
window, every wearer who could have reached it.

These are the only store methods crime mapping calls; a PostgreSQL backend provides the
same (the trail index becomes a GiST index on a box and a time range).

Trail index. A wearer's valid positioned records (fixes, and alerts with a position) are
summarised per device and TILE_S time bucket in `trail_tiles`: the bounding box of its
records *and the record just before the bucket* (so every segment between two consecutive
records lies in one tile), the time span from that earlier record to the bucket's last,
the longest gap and the worst accuracy. During a gap of g seconds a wearer moving no
faster than v, whose two records have accuracy radii R1 and R2, can only be within
max(R1, R2) + v*g/2 of one of them (the two disks around them must meet). So each tile's
box, widened by INDEX_ACC_SCALE * worst accuracy + INDEX_EXTRA_M + INDEX_SPEED_MPS * longest
gap / 2, holds every place the wearer could have been during its span at speeds up to
INDEX_SPEED_MPS. Those boxes go into an R*Tree (`trail_rtree`, integer coordinates:
1e-5 degrees and TIME_UNIT_S seconds, rounded outwards). A policy may assume any speed and
accuracy scaling up to these; crime matching refuses one that asks for more.

The index is brought up to date by `trail_index_refresh()` from records newer than the last
indexed id (the bridge appends valid records and never changes them), recomputing each
touched device's tiles from the earliest bucket it touched.
"""

import json
import math

TILE_S = 600  # time bucket of a trail tile
TIME_UNIT_S = 10  # time axis of the R*Tree
INDEX_SPEED_MPS = 150 / 3.6  # fastest movement the index covers (150 km/h)
INDEX_ACC_SCALE = 3  # accuracy radii it covers: up to 3x the tag's 2DRMS...
INDEX_EXTRA_M = 100  # ...plus this
NO_ACC_CM = 10000  # a record without an accuracy radius counts as +-100 m
M_PER_DEG_LAT = 110500.0  # a little under the true 110,574-111,694: boxes err large

MIGRATION = """
CREATE TABLE crime_flags (            -- eligibility for crime mapping, every change kept
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    eligible INTEGER NOT NULL,        -- 1: flag set, 0: cleared
    reason TEXT NOT NULL,
    set_by TEXT NOT NULL,             -- operator
    set_at INTEGER NOT NULL,          -- UTC seconds
    until INTEGER,                    -- the flag lapses then (NULL: until cleared)
    source TEXT NOT NULL              -- 'fitting' or 'centre'
);
CREATE INDEX crime_flags_device ON crime_flags(device, id);
CREATE TABLE crime_audit (            -- one row per matching request, hash-chained
    id INTEGER PRIMARY KEY,
    entry TEXT NOT NULL,              -- JSON: operator, times, file SHA-256, policy, counts
    prev_sha256 TEXT NOT NULL,        -- SHA-256 of the previous row's entry and prev
    sha256 TEXT NOT NULL              -- SHA-256 of prev_sha256 + entry
);
CREATE TABLE trail_tiles (
    id INTEGER PRIMARY KEY,           -- = trail_rtree.id
    device TEXT NOT NULL,
    bucket INTEGER NOT NULL,          -- t // TILE_S
    t_lo INTEGER NOT NULL,            -- the record before the bucket (or its first)
    t_hi INTEGER NOT NULL,            -- its last record
    n INTEGER NOT NULL,
    max_gap_s INTEGER NOT NULL,
    max_acc_cm INTEGER NOT NULL,
    lat_lo INTEGER NOT NULL, lat_hi INTEGER NOT NULL,  -- degrees x 1e7
    lon_lo INTEGER NOT NULL, lon_hi INTEGER NOT NULL
);
CREATE UNIQUE INDEX trail_tiles_bucket ON trail_tiles(device, bucket);
CREATE VIRTUAL TABLE trail_rtree USING rtree_i32(id, lon_lo, lon_hi, lat_lo, lat_hi, t_lo, t_hi);
CREATE TABLE trail_extents (          -- first and last indexed record of each device
    device TEXT PRIMARY KEY,
    first_t INTEGER NOT NULL,
    last_t INTEGER NOT NULL
);
CREATE TABLE trail_index_state (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
-- a wearer's trail in time order without touching the table (trail(), the index refresh)
CREATE INDEX records_trail ON records(device, t, seq, lat_e7, lon_e7, acc_cm, t_ms)
    WHERE status='valid' AND type IN (1, 2) AND lat_e7 IS NOT NULL AND lon_e7 IS NOT NULL
    AND t IS NOT NULL;
"""

# a valid record with a position: fixes, and alerts that carry one
POSITIONED = (
    "status='valid' AND type IN (1, 2) AND lat_e7 IS NOT NULL AND lon_e7 IS NOT NULL "
    "AND t IS NOT NULL"
)


def _expansion_m(max_acc_cm, max_gap_s):
    return INDEX_ACC_SCALE * max_acc_cm / 100.0 + INDEX_EXTRA_M + INDEX_SPEED_MPS * max_gap_s / 2


def _deg_box(lat_lo, lat_hi, lon_lo, lon_hi, metres):
    """A box in 1e-5 degree integers holding everything within `metres` of the e7 box,
    rounded outwards."""
    dlat = metres / M_PER_DEG_LAT
    lat_max = min(89.9, max(abs(lat_lo), abs(lat_hi)) / 1e7 + dlat)
    dlon = metres / (M_PER_DEG_LAT * max(0.001, math.cos(math.radians(lat_max))))
    return (
        math.floor(lon_lo / 100 - dlon * 1e5) - 1,
        math.ceil(lon_hi / 100 + dlon * 1e5) + 1,
        math.floor(lat_lo / 100 - dlat * 1e5) - 1,
        math.ceil(lat_hi / 100 + dlat * 1e5) + 1,
    )


def _tiles(a, b):
    """Tiles from bucket b on of one device's records a = [[t, lat_e7, lon_e7, acc_cm]] in time
    order (a[0] may be the record before bucket b): (bucket, t_lo, t_hi, max_gap_s,
    max_acc_cm, lat_lo, lat_hi, lon_lo, lon_hi, n) each, its box holding every segment that
    ends in it."""
    import numpy as np

    t, lat, lon, acc = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
    keep = np.flatnonzero(t // TILE_S >= b)
    if not len(keep):
        return []
    p = np.maximum(keep - 1, 0)  # each record's segment starts at the one before it...
    bucket = t[keep] // TILE_S  # ...except the first record fetched: none into it
    cuts = np.r_[0, np.flatnonzero(np.diff(bucket)) + 1]

    def red(f, x):
        return f.reduceat(x, cuts)

    lat2, lon2 = np.c_[lat[keep], lat[p]], np.c_[lon[keep], lon[p]]
    cols = (
        bucket[cuts],
        red(np.minimum, t[p]),
        red(np.maximum, t[keep]),
        red(np.maximum, t[keep] - t[p]),
        red(np.maximum, np.maximum(acc[keep], acc[p])),
        red(np.minimum, lat2.min(axis=1)),
        red(np.maximum, lat2.max(axis=1)),
        red(np.minimum, lon2.min(axis=1)),
        red(np.maximum, lon2.max(axis=1)),
        np.diff(np.r_[cuts, len(keep)]),
    )
    return list(zip(*(c.tolist() for c in cols), strict=True))


class CrimeStore:
    """Mixed into host/store.py Store (self.db: a sqlite3 connection)."""

    # ------------------------------------------------------------------ eligibility
    def crime_flag_set(self, device, eligible, reason, set_by, set_at, until=None, source="centre"):
        with self.db:
            self.db.execute(
                "INSERT INTO crime_flags(device, eligible, reason, set_by, set_at, until, source)"
                " VALUES (?,?,?,?,?,?,?)",
                (device, 1 if eligible else 0, reason, set_by, set_at, until, source),
            )

    def crime_flags(self, history=False):
        """Flag changes as dicts, newest last: every change (history) or each device's
        latest."""
        where = "" if history else (
            "WHERE id IN (SELECT MAX(id) FROM crime_flags GROUP BY device)"
        )  # fmt: skip
        cur = self.db.execute(
            "SELECT device, eligible, reason, set_by, set_at, until, source FROM crime_flags "
            + where
            + " ORDER BY id"
        )
        keys = ("device", "eligible", "reason", "set_by", "set_at", "until", "source")
        return [dict(zip(keys, row, strict=True)) for row in cur]

    def known_devices(self):
        return [r[0] for r in self.db.execute("SELECT device FROM devices ORDER BY device")]

    # ------------------------------------------------------------------ audit
    def crime_audit_append(self, entry: dict):
        """Append an audit entry (JSON-able dict); returns its row id and hash."""
        import hashlib

        body = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        with self.db:
            row = self.db.execute(
                "SELECT sha256 FROM crime_audit ORDER BY id DESC LIMIT 1"
            ).fetchone()
            prev = row[0] if row else "0" * 64
            digest = hashlib.sha256((prev + body).encode()).hexdigest()
            cur = self.db.execute(
                "INSERT INTO crime_audit(entry, prev_sha256, sha256) VALUES (?,?,?)",
                (body, prev, digest),
            )
        return cur.lastrowid, digest

    def crime_audit_rows(self):
        """(id, entry JSON text, prev_sha256, sha256) in order."""
        return self.db.execute(
            "SELECT id, entry, prev_sha256, sha256 FROM crime_audit ORDER BY id"
        ).fetchall()

    # ------------------------------------------------------------------ trail index
    def trail_index_refresh(self, progress=None):
        """Index valid positioned records stored since the last refresh. Returns the number
        of tiles written. progress(done, total) is called per batch of devices."""
        (hw,) = self.db.execute(
            "SELECT COALESCE((SELECT v FROM trail_index_state WHERE k='records_id'), 0)"
        ).fetchone()
        self._forget_deleted()
        (top,) = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM records").fetchone()
        if top <= hw:
            return 0
        todo = self.db.execute(
            "SELECT device, MIN(t) FROM records WHERE id > ? AND id <= ? AND "
            + POSITIONED
            + " GROUP BY device",
            (hw, top),
        ).fetchall()
        written = 0
        batch = 500
        for i in range(0, len(todo), batch):
            with self.db:
                written += self._index_devices(todo[i : i + batch])
            if progress:
                progress(min(i + batch, len(todo)), len(todo))
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO trail_index_state(k, v) VALUES ('records_id', ?)", (top,)
            )
        return written

    def _forget_deleted(self):
        """After a retention run (delete_before), drop the tiles of the records it deleted."""
        (cutoff,) = self.db.execute("SELECT MAX(cutoff_t) FROM retention_log").fetchone()
        (done,) = self.db.execute(
            "SELECT COALESCE((SELECT v FROM trail_index_state WHERE k='retention_cutoff'), 0)"
        ).fetchone()
        if cutoff is None or cutoff <= done:
            return
        with self.db:
            old = "SELECT id FROM trail_tiles WHERE t_hi < ?"
            self.db.execute("DELETE FROM trail_rtree WHERE id IN (%s)" % old, (cutoff,))
            self.db.execute("DELETE FROM trail_tiles WHERE t_hi < ?", (cutoff,))
            self.db.execute("DELETE FROM trail_extents")
            self.db.execute(
                "INSERT INTO trail_extents(device, first_t, last_t) "
                "SELECT device, MIN(t_lo), MAX(t_hi) FROM trail_tiles GROUP BY device"
            )
            self.db.execute(
                "INSERT OR REPLACE INTO trail_index_state(k, v) VALUES ('retention_cutoff', ?)",
                (cutoff,),
            )

    def _index_devices(self, todo):
        """Recompute the tiles of these (device, earliest new t) from that t's bucket on."""
        import numpy as np

        db = self.db
        acc = "COALESCE(acc_cm, %d)" % NO_ACC_CM
        (next_id,) = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM trail_tiles").fetchone()
        tiles, boxes = [], []
        for device, t_new in todo:
            b = t_new // TILE_S
            old = db.execute(
                "SELECT id FROM trail_tiles WHERE device=? AND bucket >= ?", (device, b)
            ).fetchall()
            db.executemany("DELETE FROM trail_rtree WHERE id=?", old)
            db.executemany("DELETE FROM trail_tiles WHERE id=?", old)
            # from the record before the bucket (its segment into the bucket counts) on
            prev = db.execute(
                "SELECT t FROM records WHERE device=? AND t < ? AND %s ORDER BY t DESC LIMIT 1"
                % POSITIONED,
                (device, b * TILE_S),
            ).fetchone()
            rows = db.execute(
                "SELECT t, lat_e7, lon_e7, %s FROM records WHERE device=? AND t >= ? AND %s "
                "ORDER BY t, seq" % (acc, POSITIONED),
                (device, prev[0] if prev else b * TILE_S),
            ).fetchall()
            if not rows:
                continue
            for tile in _tiles(np.array(rows, dtype=np.int64), b):
                tiles.append((next_id, device, *tile))
                box = _deg_box(tile[5], tile[6], tile[7], tile[8], _expansion_m(tile[4], tile[3]))
                boxes.append((next_id, *box, tile[1] // TIME_UNIT_S, -(-tile[2] // TIME_UNIT_S)))
                next_id += 1
        db.executemany(
            "INSERT INTO trail_tiles(id, device, bucket, t_lo, t_hi, max_gap_s, max_acc_cm, "
            "lat_lo, lat_hi, lon_lo, lon_hi, n) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            tiles,
        )
        db.executemany("INSERT INTO trail_rtree VALUES (?,?,?,?,?,?,?)", boxes)
        db.executemany(
            "INSERT OR REPLACE INTO trail_extents(device, first_t, last_t) "
            "SELECT device, MIN(t_lo), MAX(t_hi) FROM trail_tiles WHERE device=?",
            [(d,) for d, _ in todo],
        )
        return len(tiles)

    def trail_tiles_near(self, lat, lon, radius_m, t0, t1):
        """Every tile whose reach box (see the module docstring) comes within radius_m of
        (lat, lon) and whose span meets [t0, t1]: (device, t_lo, t_hi, max_gap_s,
        max_acc_cm, lat_lo, lat_hi, lon_lo, lon_hi), the box of its records in degrees x 1e7."""
        e7_lat, e7_lon = int(lat * 1e7), int(lon * 1e7)
        lon_lo, lon_hi, lat_lo, lat_hi = _deg_box(e7_lat, e7_lat, e7_lon, e7_lon, radius_m)
        return self.db.execute(
            "SELECT tt.device, tt.t_lo, tt.t_hi, tt.max_gap_s, tt.max_acc_cm, tt.lat_lo, "
            "tt.lat_hi, tt.lon_lo, tt.lon_hi FROM trail_rtree r JOIN trail_tiles tt "
            "ON tt.id = r.id WHERE r.lon_hi >= ? AND r.lon_lo <= ? AND r.lat_hi >= ? "
            "AND r.lat_lo <= ? AND r.t_hi >= ? AND r.t_lo <= ?",
            (lon_lo, lon_hi, lat_lo, lat_hi, t0 // TIME_UNIT_S, -(-t1 // TIME_UNIT_S)),
        ).fetchall()

    def trail_extents(self):
        """{device: (first t, last t)} of the indexed records."""
        return {d: (a, b) for d, a, b in self.db.execute("SELECT * FROM trail_extents")}

    def trail(self, device, t0, t1):
        """(seq, t, t_ms, lat_e7, lon_e7, acc_cm or None) of a device's valid positioned
        records with t0 <= t <= t1, and the one just before and just after, in time order."""
        cols = "seq, t, t_ms, lat_e7, lon_e7, acc_cm"
        q = "SELECT %s FROM records WHERE device=? AND %s AND " % (cols, POSITIONED)
        before = self.db.execute(
            q + "t < ? ORDER BY t DESC, seq DESC LIMIT 1", (device, t0)
        ).fetchall()
        mid = self.db.execute(q + "t BETWEEN ? AND ? ORDER BY t, seq", (device, t0, t1)).fetchall()
        after = self.db.execute(q + "t > ? ORDER BY t, seq LIMIT 1", (device, t1)).fetchall()
        return before + mid + after
