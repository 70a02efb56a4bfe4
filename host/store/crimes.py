"""What crime mapping (centre/crimes_*.py) needs from the store: eligibility flags, the
audit log of matching requests (here), and the trail index (host/store/trail_index.py).

These are the only store methods crime mapping calls; both backends provide them. The
tables of both are made by the migrations below (SQLite 7, PostgreSQL 5) and the trail
index's queue (trail_index.QUEUE_MIGRATION: SQLite 9, PostgreSQL 7).
"""

import json

from emtag.host.store.trail_index import PostgresTrailIndex, SqliteTrailIndex

SQLITE_MIGRATION = """
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

POSTGRES_MIGRATION = """
CREATE TABLE crime_flags (
    id BIGSERIAL PRIMARY KEY,
    device TEXT NOT NULL,
    eligible SMALLINT NOT NULL,
    reason TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at BIGINT NOT NULL,
    until BIGINT,
    source TEXT NOT NULL
);
CREATE INDEX crime_flags_device ON crime_flags(device, id);
CREATE TABLE crime_audit (
    id BIGSERIAL PRIMARY KEY,
    entry TEXT NOT NULL,
    prev_sha256 TEXT NOT NULL,
    sha256 TEXT NOT NULL
);
CREATE TABLE trail_tiles (
    id BIGSERIAL PRIMARY KEY,
    device TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    t_lo BIGINT NOT NULL,
    t_hi BIGINT NOT NULL,
    n INTEGER NOT NULL,
    max_gap_s BIGINT NOT NULL,
    max_acc_cm INTEGER NOT NULL,
    lat_lo INTEGER NOT NULL, lat_hi INTEGER NOT NULL,
    lon_lo INTEGER NOT NULL, lon_hi INTEGER NOT NULL,
    reach BOX NOT NULL,               -- the reach box (degrees), as SQLite's trail_rtree
    span INT8RANGE NOT NULL           -- [t_lo, t_hi]
);
CREATE UNIQUE INDEX trail_tiles_bucket ON trail_tiles(device, bucket);
CREATE INDEX trail_tiles_reach ON trail_tiles USING gist (reach, span);
CREATE TABLE trail_extents (
    device TEXT PRIMARY KEY,
    first_t BIGINT NOT NULL,
    last_t BIGINT NOT NULL
);
CREATE TABLE trail_index_state (k TEXT PRIMARY KEY, v BIGINT NOT NULL);
CREATE INDEX records_trail ON records(device, t, seq) INCLUDE (lat_e7, lon_e7, acc_cm, t_ms)
    WHERE status='valid' AND type IN (1, 2) AND lat_e7 IS NOT NULL AND lon_e7 IS NOT NULL
    AND t IS NOT NULL;
"""


class CrimeTables:
    """Mixed into both backends' Store, written once over _x(sql, args) (a statement in
    the current transaction, '?' placeholders) and _tx() (a transaction)."""

    # ------------------------------------------------------------------ eligibility
    def crime_flag_set(self, device, eligible, reason, set_by, set_at, until=None, source="centre"):
        with self._tx():
            self._x(
                "INSERT INTO crime_flags(device, eligible, reason, set_by, set_at, until, source)"
                " VALUES (?,?,?,?,?,?,?)",
                (device, 1 if eligible else 0, reason, set_by, int(set_at), until, source),
            )

    def crime_flags(self, history=False):
        """Flag changes as dicts, oldest first: every change (history) or each device's
        latest."""
        where = "" if history else "WHERE id IN (SELECT MAX(id) FROM crime_flags GROUP BY device)"
        rows = self._x(
            "SELECT device, eligible, reason, set_by, set_at, until, source FROM crime_flags "
            + where
            + " ORDER BY id"
        ).fetchall()
        keys = ("device", "eligible", "reason", "set_by", "set_at", "until", "source")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def known_devices(self):
        return [r[0] for r in self._x("SELECT device FROM devices ORDER BY device").fetchall()]

    # ------------------------------------------------------------------ audit
    def crime_audit_append(self, entry: dict):
        """Append an audit entry (JSON-able dict), chained to the one before; returns its
        row id and hash."""
        import hashlib

        body = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        with self._tx():
            self._audit_lock()
            row = self._x("SELECT sha256 FROM crime_audit ORDER BY id DESC LIMIT 1").fetchone()
            prev = row[0] if row else "0" * 64
            digest = hashlib.sha256((prev + body).encode()).hexdigest()
            (rid,) = self._x(
                "INSERT INTO crime_audit(entry, prev_sha256, sha256) VALUES (?,?,?) RETURNING id",
                (body, prev, digest),
            ).fetchone()
        return rid, digest

    def _audit_lock(self):
        """Hold off other writers of the audit log until the transaction ends."""

    def crime_audit_rows(self):
        """(id, entry JSON text, prev_sha256, sha256) in order."""
        return [
            tuple(r)
            for r in self._x(
                "SELECT id, entry, prev_sha256, sha256 FROM crime_audit ORDER BY id"
            ).fetchall()
        ]


class SqliteCrimes(CrimeTables, SqliteTrailIndex):
    """Crime mapping's tables on SQLite."""


class PostgresCrimes(CrimeTables, PostgresTrailIndex):
    """Crime mapping's tables on PostgreSQL (self.conn)."""

    def _audit_lock(self):
        self.conn.execute("LOCK TABLE crime_audit IN EXCLUSIVE MODE")
