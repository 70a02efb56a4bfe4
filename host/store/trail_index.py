"""The trail index crime mapping searches (centre/crimes_*.py): for a scene and a time
window, every wearer who could have reached it, on both backends (SQLite: an R*Tree;
PostgreSQL: a GiST index on a box and a time range).

A wearer's valid positioned records (fixes, and alerts with a position) are summarised per
device and TILE_S time bucket in `trail_tiles`: the bounding box of its
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

The index is brought up to date by `trail_index_refresh()` from a queue (`trail_todo`: the
device and earliest time of each add_blocks call, written in the same transaction as the
blocks, so the order in which several bridges' transactions commit does not matter),
recomputing each queued device's tiles from the earliest bucket its new blocks touch.
"""

import contextlib
import math

TILE_S = 600  # time bucket of a trail tile
TIME_UNIT_S = 10  # time axis of the R*Tree
INDEX_SPEED_MPS = 150 / 3.6  # fastest movement the index covers (150 km/h)
INDEX_ACC_SCALE = 3  # accuracy radii it covers: up to 3x the tag's 2DRMS...
INDEX_EXTRA_M = 100  # ...plus this
REFRESH_LOCK = 0x7472616C  # pg_advisory_lock key of the index refresh: "tral"
NO_ACC_CM = 10000  # a record without an accuracy radius counts as +-100 m
M_PER_DEG_LAT = 110500.0  # a little under the true 110,574-111,694: boxes err large

# the refresh's queue (SQLite migration 9, PostgreSQL 7; %s: the id column's type): what
# add_blocks stored since the index was last brought up to date, the blocks not yet indexed
# when it is made
QUEUE_MIGRATION = """
CREATE TABLE trail_todo (
    id %s PRIMARY KEY,
    dev INTEGER NOT NULL,
    t_lo BIGINT NOT NULL              -- its earliest new record (UTC s)
);
INSERT INTO trail_todo(dev, t_lo) SELECT dev, MIN(t_lo) FROM blocks
    WHERE t_lo > 0 AND arrival > COALESCE(
        (SELECT v FROM trail_index_state WHERE k = 'block_arrival'), 0)
    GROUP BY dev;
DELETE FROM trail_index_state WHERE k = 'block_arrival';
"""

# a proven record with a position: fixes, and alerts that carry one (no time is 0 there).
# Queries bound t from below themselves (t >= 1 says t > 0) rather than add "t > 0": given
# two lower bounds SQLite may scan from the weaker one, the day's start.
HAS_POSITION = "type IN (1, 2) AND lat_e7 IS NOT NULL AND lon_e7 IS NOT NULL"
POSITIONED = HAS_POSITION + " AND t > 0"


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


class TrailIndex:
    """Mixed into both backends' Store (with host/store/crimes.py's CrimeTables), written
    once over the hooks a backend provides: _x(sql, args) (a statement in the current
    transaction, '?' placeholders), _tx() (a transaction), _tiles_insert(rows) and
    _tiles_delete(where, args) (the tiles and their spatial index), _tiles_query(box, t0,
    t1, where, args) (a search of that index, more conditions on trail_tiles tt),
    _pieces_source(rows) (a list of trail pieces as SQL)."""

    def _state(self, key):
        row = self._x("SELECT v FROM trail_index_state WHERE k=?", (key,)).fetchone()
        return row[0] if row else 0

    def _set_state(self, key, value):
        self._x(
            "INSERT INTO trail_index_state(k, v) VALUES (?, ?) "
            "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            (key, value),
        )

    def trail_index_refresh(self, progress=None):
        """Index the devices queued in trail_todo (a row per add_blocks call, written in the
        blocks' transaction, so a block committed late by another bridge is never passed
        over). Returns the number of tiles written. progress(done, total) is called per
        batch of devices."""
        with self._refresh_lock():
            return self._refresh(progress)

    def _refresh_lock(self):
        """One refresh at a time across processes (SQLite serialises writers itself)."""
        return contextlib.nullcontext()

    def _refresh(self, progress):
        self._forget_deleted()
        queued: dict = {}
        for tid, device, t_lo in self._x(
            "SELECT q.id, d.device, q.t_lo FROM trail_todo q JOIN device_ids d ON d.dev = q.dev"
        ).fetchall():
            ids, t = queued.get(device, ([], t_lo))
            ids.append(tid)
            queued[device] = (ids, min(t, t_lo))
        todo = sorted((device, t) for device, (_, t) in queued.items())
        written = 0
        batch = 500
        for i in range(0, len(todo), batch):
            part = todo[i : i + batch]
            done = [tid for device, _ in part for tid in queued[device][0]]
            with self._tx():
                written += self._index_devices(part)
                for j in range(0, len(done), 500):
                    chunk = done[j : j + 500]
                    self._x(
                        "DELETE FROM trail_todo WHERE id IN (%s)" % ",".join("?" * len(chunk)),
                        chunk,
                    )
            if progress:
                progress(min(i + batch, len(todo)), len(todo))
        return written

    def _forget_deleted(self):
        """After a retention run (delete_before), drop the tiles of the records it deleted."""
        (cutoff,) = self._x("SELECT MAX(cutoff_t) FROM retention_log").fetchone()
        if cutoff is None or cutoff <= self._state("retention_cutoff"):
            return
        with self._tx():
            self._tiles_delete("t_hi < ?", (cutoff,))
            self._x("DELETE FROM trail_extents")
            self._x(
                "INSERT INTO trail_extents(device, first_t, last_t) "
                "SELECT device, MIN(t_lo), MAX(t_hi) FROM trail_tiles GROUP BY device"
            )
            self._set_state("retention_cutoff", cutoff)

    def _index_devices(self, todo):
        """Recompute the tiles of these (device, earliest new t) from that t's bucket on."""
        import numpy as np

        acc = "COALESCE(acc_cm, %d)" % NO_ACC_CM
        tiles = []
        for device, t_new in todo:
            b = t_new // TILE_S
            dev = self._dev(device)
            self._tiles_delete("device = ? AND bucket >= ?", (device, b))
            # from the record before the bucket (its segment into the bucket counts) on
            prev = self._x(
                "SELECT t FROM proven WHERE dev=? AND t < ? AND %s ORDER BY t DESC LIMIT 1"
                % POSITIONED,
                (dev, b * TILE_S),
            ).fetchone()
            rows = self._x(
                "SELECT t, lat_e7, lon_e7, %s FROM proven WHERE dev=? AND t >= ? AND %s "
                "ORDER BY t, seq" % (acc, HAS_POSITION),
                (dev, max(1, prev[0] if prev else b * TILE_S)),
            ).fetchall()
            for tile in _tiles(np.array(rows, dtype=np.int64), b) if rows else ():
                box = _deg_box(tile[5], tile[6], tile[7], tile[8], _expansion_m(tile[4], tile[3]))
                tiles.append((device, *tile, box))
        self._tiles_insert(tiles)
        for device, _ in todo:
            self._x(
                "INSERT INTO trail_extents(device, first_t, last_t) SELECT device, MIN(t_lo), "
                "MAX(t_hi) FROM trail_tiles WHERE device=? GROUP BY device "
                "ON CONFLICT (device) DO UPDATE SET first_t = excluded.first_t, "
                "last_t = excluded.last_t",
                (device,),
            )
        return len(tiles)

    def trail_tiles_near(self, lat, lon, radius_m, t0, t1, within=None):
        """Every tile whose reach box (see the module docstring) comes within radius_m of
        (lat, lon) and whose span meets [t0, t1]: (device, t_lo, t_hi, max_gap_s,
        max_acc_cm, lat_lo, lat_hi, lon_lo, lon_hi), the box of its records in degrees x 1e7.
        within=(m, m_per_acc_cm, m_per_gap_s): of those, only the tiles whose records' box
        comes within radius_m, or within m + m_per_acc_cm * max_acc_cm + m_per_gap_s *
        max_gap_s, of the point (the test errs large: a few more, never fewer)."""
        e7_lat, e7_lon = int(lat * 1e7), int(lon * 1e7)
        box = _deg_box(e7_lat, e7_lat, e7_lon, e7_lon, radius_m)
        if within is None:
            return self._tiles_query(box, t0, t1, "", ())
        return self._tiles_query(box, t0, t1, *_within_sql(lat, lon, radius_m, within))

    def trail_extents(self):
        """{device: (first t, last t)} of the indexed records."""
        rows = self._x("SELECT device, first_t, last_t FROM trail_extents").fetchall()
        return {d: (a, b) for d, a, b in rows}

    def trail(self, device, t0, t1):
        """(seq, t, t_ms, lat_e7, lon_e7, acc_cm or None) of a device's valid positioned
        records with t0 <= t <= t1, and the one just before and just after, in time order.
        One piece per query; crime matching reads many at once through trails()."""
        dev = self._dev(device)
        if dev is None:
            return []
        q = "SELECT seq, t, t_ms, lat_e7, lon_e7, acc_cm FROM proven WHERE dev=? AND %s AND " % (
            HAS_POSITION
        )
        rows = self._x(
            "SELECT * FROM (%s t < ? AND t > 0 ORDER BY t DESC, seq DESC LIMIT 1) AS b "
            "UNION ALL SELECT * FROM (%s t >= ? AND t <= ?) AS m UNION ALL "
            "SELECT * FROM (%s t > ? ORDER BY t, seq LIMIT 1) AS a" % (q, q, q),
            (dev, t0, dev, max(t0, 1), t1, dev, max(t1, 0)),
        ).fetchall()
        return sorted((tuple(r) for r in rows), key=lambda r: (r[1], r[0]))

    TRAILS_PER_QUERY = 2000

    def trails(self, pieces):
        """{(device, t0, t1): trail(device, t0, t1)} for many pieces (t0 <= t1), a query
        per TRAILS_PER_QUERY of them: crime matching's reads, one round trip for many.

        A piece's rows are the records with lo <= t <= hi, lo the time of the record just
        before t0 (else t0) and hi that of the one just after t1 (else t1); of the records
        sharing lo < t0 only the last (by seq) is the one before, of those sharing hi > t1
        only the first the one after."""
        pieces = list(dict.fromkeys((d, int(a), int(b)) for d, a, b in pieces))
        out = {pc: [] for pc in pieces}
        for pc in pieces:
            if pc[1] > pc[2]:
                out[pc] = self.trail(*pc)  # not a window: as trail() has it
        pieces = [pc for pc in pieces if pc[1] <= pc[2]]
        for i in range(0, len(pieces), self.TRAILS_PER_QUERY):
            chunk = pieces[i : i + self.TRAILS_PER_QUERY]
            # only records with t > 0 have a position: bounds that say so
            bounds = [(max(a, 1), max(b, 0)) for _, a, b in chunk]
            source, args = self._pieces_source(
                [(k, pc[0], *bounds[k]) for k, pc in enumerate(chunk)]
            )
            rows = self._x(
                "WITH p(k, device, t0, t1) AS (%s), q AS (SELECT p.k, d.dev, "
                "COALESCE((SELECT b.t FROM proven b WHERE b.dev = d.dev AND b.t < p.t0 "
                "AND b.t > 0 AND %s ORDER BY b.t DESC LIMIT 1), p.t0) AS lo, "
                "COALESCE((SELECT a.t FROM proven a WHERE a.dev = d.dev AND a.t > p.t1 "
                "AND %s ORDER BY a.t LIMIT 1), p.t1) AS hi "
                "FROM p JOIN device_ids d ON d.device = p.device) "
                "SELECT q.k, r.seq, r.t, r.t_ms, r.lat_e7, r.lon_e7, r.acc_cm "
                "FROM q JOIN proven r ON r.dev = q.dev AND r.t >= q.lo AND r.t <= q.hi "
                "WHERE %s ORDER BY q.k, r.t, r.seq"
                % (
                    source,
                    _prefixed(HAS_POSITION, "b"),
                    _prefixed(HAS_POSITION, "a"),
                    _prefixed(HAS_POSITION, "r"),
                ),
                args,
            ).fetchall()
            for row in rows:
                got = out[chunk[row[0]]]
                rec = tuple(row[1:])
                t = rec[1]
                if got and got[-1][1] == t:
                    t0, t1 = bounds[row[0]]
                    if t < t0:
                        got[-1] = rec  # a later record at the time before t0
                        continue
                    if t > t1:
                        continue  # after t1 the first at its time is the one
                got.append(rec)
        return out

    def _pieces_source(self, rows):
        """SQL yielding rows (k, device, t0, t1), and its arguments."""
        return "VALUES " + ",".join(["(?,?,?,?)"] * len(rows)), [x for r in rows for x in r]


WITHIN_CAP_M = 100000  # tiles that may reach farther are kept without a test


def _within_sql(lat, lon, radius_m, within):
    """SQL (' AND ...' on trail_tiles tt) keeping the tiles whose records' box comes within
    max(radius_m, m + a * max_acc_cm + g * max_gap_s) of (lat, lon), and its arguments. The
    test is a box around the point, its half-sides that many metres at 1 % + 10 m more and
    110,500 m a degree of latitude (the true figure is larger everywhere), a degree of
    longitude shrunk to the cosine of the highest latitude within WITHIN_CAP_M; tiles that
    may reach farther than that are kept."""
    m, a, g = within
    m, a, g = 1.01 * m + 10, 1.01 * a, 1.01 * g
    r = 1.01 * radius_m + 10
    reach = "(CASE WHEN tt.max_acc_cm * ? + tt.max_gap_s * ? + ? > ? "
    reach += "THEN tt.max_acc_cm * ? + tt.max_gap_s * ? + ? ELSE ? END)"
    reach_args = (a, g, m, r, a, g, m, r)
    k_lat = 1e7 / M_PER_DEG_LAT  # degrees x 1e7 a metre
    band = min(89.9, abs(lat) + WITHIN_CAP_M / M_PER_DEG_LAT + 0.01)
    k_lon = k_lat / max(0.001, math.cos(math.radians(band)))
    e7_lat, e7_lon = lat * 1e7, lon * 1e7
    sql = (
        " AND (tt.max_acc_cm * ? + tt.max_gap_s * ? + ? > ? OR ("
        "tt.lat_lo <= ? + {r} * ? AND tt.lat_hi >= ? - {r} * ? AND "
        "tt.lon_lo <= ? + {r} * ? AND tt.lon_hi >= ? - {r} * ?))"
    ).format(r=reach)
    args = [a, g, m, WITHIN_CAP_M]
    for centre, k in ((e7_lat, k_lat), (e7_lat, k_lat), (e7_lon, k_lon), (e7_lon, k_lon)):
        args += [centre, *reach_args, k]
    return sql, [float(x) for x in args]  # one statement (PostgreSQL: prepared) for all


def _prefixed(condition, alias):
    """HAS_POSITION's columns as alias.column."""
    for col in ("type", "lat_e7", "lon_e7"):
        condition = condition.replace(col, alias + "." + col)
    return condition


TILE_COLS = "device, bucket, t_lo, t_hi, max_gap_s, max_acc_cm, lat_lo, lat_hi, lon_lo, lon_hi, n"
NEAR_COLS = (
    "tt.device, tt.t_lo, tt.t_hi, tt.max_gap_s, tt.max_acc_cm, tt.lat_lo, tt.lat_hi, "
    "tt.lon_lo, tt.lon_hi"
)


class SqliteTrailIndex(TrailIndex):
    """The hooks on SQLite (self.db): the reach boxes in an R*Tree."""

    def _tiles_delete(self, where, args):
        old = "SELECT id FROM trail_tiles WHERE " + where
        self.db.execute("DELETE FROM trail_rtree WHERE id IN (%s)" % old, args)
        self.db.execute("DELETE FROM trail_tiles WHERE " + where, args)

    def _tiles_insert(self, tiles):
        (next_id,) = self.db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM trail_tiles").fetchone()
        ids = range(next_id, next_id + len(tiles))
        self.db.executemany(
            "INSERT INTO trail_tiles(id, %s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)" % TILE_COLS,
            [(i, *t[:11]) for i, t in zip(ids, tiles, strict=True)],
        )
        self.db.executemany(
            "INSERT INTO trail_rtree VALUES (?,?,?,?,?,?,?)",
            [
                (i, *t[11], t[2] // TIME_UNIT_S, -(-t[3] // TIME_UNIT_S))
                for i, t in zip(ids, tiles, strict=True)
            ],
        )

    def _tiles_query(self, box, t0, t1, where, args):
        lon_lo, lon_hi, lat_lo, lat_hi = box
        return self.db.execute(
            "SELECT %s FROM trail_rtree r JOIN trail_tiles tt ON tt.id = r.id "
            "WHERE r.lon_hi >= ? AND r.lon_lo <= ? AND r.lat_hi >= ? AND r.lat_lo <= ? "
            "AND r.t_hi >= ? AND r.t_lo <= ?%s" % (NEAR_COLS, where),
            (lon_lo, lon_hi, lat_lo, lat_hi, t0 // TIME_UNIT_S, -(-t1 // TIME_UNIT_S), *args),
        ).fetchall()


class PostgresTrailIndex(TrailIndex):
    """The hooks on PostgreSQL (self.conn, autocommit outside transactions): the reach boxes
    in a GiST index on (box, int8range)."""

    @contextlib.contextmanager
    def _refresh_lock(self):
        # two requests rebuilding one device's tiles at once would collide on its buckets
        self.conn.execute("SELECT pg_advisory_lock(%s)", (REFRESH_LOCK,))
        try:
            yield
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (REFRESH_LOCK,))

    def _tiles_delete(self, where, args):
        self._x("DELETE FROM trail_tiles WHERE " + where, args)

    def _tiles_insert(self, tiles):
        with self.conn.cursor() as cur:
            with cur.copy("COPY trail_tiles (%s, reach, span) FROM STDIN" % TILE_COLS) as copy:
                for t in tiles:
                    lon_lo, lon_hi, lat_lo, lat_hi = t[11]
                    copy.write_row(
                        (
                            *t[:11],
                            "(%r,%r),(%r,%r)"
                            % (lon_lo / 1e5, lat_lo / 1e5, lon_hi / 1e5, lat_hi / 1e5),
                            "[%d,%d]" % (t[2], t[3]),
                        )
                    )

    def _pieces_source(self, rows):
        # arrays: one statement text whatever the count, prepared once
        k, device, t0, t1 = (list(c) for c in zip(*rows, strict=True))
        return "SELECT * FROM unnest(?::int[], ?::text[], ?::bigint[], ?::bigint[])", [
            k, device, t0, t1]  # fmt: skip

    def _tiles_query(self, box, t0, t1, where, args):
        lon_lo, lon_hi, lat_lo, lat_hi = box
        return self._x(
            "SELECT %s FROM trail_tiles tt WHERE reach && box(point(?, ?), point(?, ?)) "
            "AND span && int8range(?, ?, '[]')%s" % (NEAR_COLS, where),
            (lon_lo / 1e5, lat_lo / 1e5, lon_hi / 1e5, lat_hi / 1e5, t0, t1, *args),
        ).fetchall()
