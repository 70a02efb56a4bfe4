"""The SQLite backend of the store (host/store/base.py): the embedded default, one file.

WAL mode so readers never block the bridge; the schema version lives in PRAGMA
user_version and MIGRATIONS brings any older store up to date on open. A file that is a
database but not emtag's (tables, and no emtag schema version) is refused untouched.
Valid records: host/store/compact.py (migration 8); this module keeps the rest.
"""

import contextlib
import os
import sqlite3

from emtag.host.store import base, crimes, trail_index
from emtag.host.store.base import RECORD_COLUMNS, Device
from emtag.host.store.compact import CompactStore

MIGRATIONS = [
    # 1: walking skeleton
    """
    CREATE TABLE devices (
        device TEXT PRIMARY KEY,          -- hex of the 8-byte key id
        public_key BLOB NOT NULL,         -- 65-byte SEC1 uncompressed P-256 point
        firmware TEXT,
        first_seen TEXT NOT NULL
    );
    CREATE TABLE records (
        id INTEGER PRIMARY KEY,
        device TEXT NOT NULL,
        seq INTEGER,                      -- NULL when the record could not be decoded
        type INTEGER,                     -- protocol/records.py: 1 fix, 2 alert, 3 restart
        t INTEGER,                        -- UTC seconds
        t_ms INTEGER,
        lat_e7 INTEGER,
        lon_e7 INTEGER,
        acc_cm INTEGER,
        alert TEXT,
        zone TEXT,
        status TEXT NOT NULL,             -- 'valid' or 'rejected'
        reason TEXT,                      -- why a record was rejected
        received TEXT NOT NULL,           -- bridge time, ISO 8601 UTC
        cose BLOB NOT NULL                -- the record exactly as received
    );
    CREATE UNIQUE INDEX records_valid_seq ON records(device, seq) WHERE status = 'valid';
    CREATE INDEX records_device_time ON records(device, t);
    """,
    # 2: evidence chain (protocol/records.cddl). `cose` now holds the wire item as received:
    # a COSE_Sign1 for signed records (alerts, checkpoints), the plain record for fixes, which
    # are 'valid' only once the signed record that seals them has arrived and verified.
    """
    ALTER TABLE records ADD COLUMN hash BLOB;          -- SHA-256 of the payload: next prev
    ALTER TABLE records ADD COLUMN sealed_by INTEGER;  -- seq of the signed record proving it
    """,
    # 3: forwarding (host/forward.py). Every fix and alert that becomes valid, and every
    # early alert (status 'early': sent ahead of the backlog, its signature checked, its
    # chain not yet), gets one outbox row in the same transaction, by trigger; the forwarder
    # publishes the backlog (alerts first, then in id order) and sets `forwarded` on the
    # broker's PUBACK, so neither a broker outage nor a bridge restart loses anything.
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        device TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,               -- 'fix' or 'alert': MQTT topic emtag/<device>/<kind>
        record_id INTEGER NOT NULL,       -- records.id of the copy it is made from
        forwarded TEXT                    -- bridge time of the PUBACK; NULL: not yet
    );
    CREATE UNIQUE INDEX outbox_once ON outbox(device, seq, kind);
    CREATE INDEX outbox_backlog ON outbox(kind, id) WHERE forwarded IS NULL;
    CREATE TRIGGER outbox_on_insert AFTER INSERT ON records
    WHEN NEW.status IN ('valid', 'early') AND NEW.type IN (1, 2) AND NEW.seq IS NOT NULL
    BEGIN
        INSERT OR IGNORE INTO outbox(device, seq, kind, record_id) VALUES
        (NEW.device, NEW.seq, CASE NEW.type WHEN 2 THEN 'alert' ELSE 'fix' END, NEW.id);
    END;
    CREATE TRIGGER outbox_on_valid AFTER UPDATE OF status ON records
    WHEN NEW.status = 'valid' AND OLD.status != 'valid' AND NEW.type IN (1, 2)
    BEGIN
        INSERT OR IGNORE INTO outbox(device, seq, kind, record_id) VALUES
        (NEW.device, NEW.seq, CASE NEW.type WHEN 2 THEN 'alert' ELSE 'fix' END, NEW.id);
    END;
    """,
    # 4: the monitoring centre (host/store/base.py): who acknowledged which alert, the
    # retention runs, and an index for the alert queue.
    """
    CREATE TABLE alert_acks (
        device TEXT NOT NULL,
        seq INTEGER NOT NULL,
        acked_by TEXT NOT NULL,
        acked_at TEXT NOT NULL,           -- ISO 8601 UTC
        note TEXT,
        PRIMARY KEY (device, seq)
    );
    CREATE TABLE retention_log (
        id INTEGER PRIMARY KEY,
        run_at TEXT NOT NULL,
        cutoff_t INTEGER NOT NULL,        -- records with t before this were deleted
        policy TEXT NOT NULL,
        records INTEGER NOT NULL,
        outbox INTEGER NOT NULL,
        acks INTEGER NOT NULL
    );
    CREATE INDEX records_alerts ON records(type, device, seq) WHERE type = 2;
    """,
    # 5: the centre's web app (host/store/centre_tables.py): users and their tags, the audit
    # log, notes and escalations, the alerts the centre raises, victims' phones
    """
    CREATE TABLE centre_users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,               -- 'officer' or 'admin'
        password_hash TEXT NOT NULL,      -- argon2id, as argon2-cffi writes it
        created TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE centre_assignments (
        user_name TEXT NOT NULL,
        device TEXT NOT NULL,
        since TEXT NOT NULL,
        PRIMARY KEY (user_name, device)
    );
    CREATE TABLE centre_audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user_name TEXT NOT NULL,
        action TEXT NOT NULL,
        device TEXT,
        detail TEXT NOT NULL,
        client TEXT
    );
    CREATE INDEX centre_audit_device ON centre_audit(device, id);
    CREATE INDEX centre_audit_user ON centre_audit(user_name, id);
    CREATE TABLE centre_alert_notes (
        id INTEGER PRIMARY KEY,
        ref TEXT NOT NULL,                -- DEVICE/SEQ (a tag's alert) or centre/ID
        at TEXT NOT NULL,
        by_user TEXT NOT NULL,
        note TEXT NOT NULL
    );
    CREATE INDEX centre_alert_notes_ref ON centre_alert_notes(ref);
    CREATE TABLE centre_escalations (
        ref TEXT PRIMARY KEY,
        at TEXT NOT NULL,
        by_user TEXT NOT NULL,            -- a user, or 'centre' (unacknowledged too long)
        reason TEXT NOT NULL
    );
    CREATE TABLE centre_alerts (
        id INTEGER PRIMARY KEY,
        device TEXT NOT NULL,
        kind TEXT NOT NULL,               -- victim_proximity, victim_proximity_clear
        t INTEGER NOT NULL,
        lat_e7 INTEGER,
        lon_e7 INTEGER,
        acc_cm INTEGER,
        detail TEXT NOT NULL,             -- JSON
        raised TEXT NOT NULL,
        acked_by TEXT,
        acked_at TEXT,
        note TEXT
    );
    CREATE INDEX centre_alerts_device ON centre_alerts(device, t);
    CREATE TABLE centre_victims (
        name TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,  -- SHA-256 hex of the phone's token
        distance_m REAL,
        created TEXT NOT NULL
    );
    CREATE TABLE centre_victim_wearers (
        victim TEXT NOT NULL,
        device TEXT NOT NULL,
        PRIMARY KEY (victim, device)
    );
    CREATE TABLE centre_victim_positions (
        id INTEGER PRIMARY KEY,
        victim TEXT NOT NULL,
        t INTEGER NOT NULL,
        lat_e7 INTEGER NOT NULL,
        lon_e7 INTEGER NOT NULL,
        acc_cm INTEGER NOT NULL,
        received TEXT NOT NULL
    );
    CREATE INDEX centre_victim_positions_t ON centre_victim_positions(victim, t);
    CREATE TABLE centre_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 6: rejected input apart from the evidence, bounded (host/bridge.py). What a connection
    # sent that is not its tag's record (altered on the way, spliced, malformed) is kept here
    # for diagnosis, never under records, so it reaches no bundle or query of the evidence.
    """
    CREATE TABLE rejected (
        id INTEGER PRIMARY KEY,
        device TEXT NOT NULL,             -- the device the connection proved it is
        seq INTEGER,                      -- the seq the item claims (NULL: unreadable)
        reason TEXT NOT NULL,
        received TEXT NOT NULL,
        peer TEXT,                        -- where it came from (port or address)
        wire BLOB NOT NULL                -- the item as received (at most 2048 bytes)
    );
    CREATE INDEX rejected_device ON rejected(device, id);
    INSERT INTO rejected(device, seq, reason, received, wire)
        SELECT device, seq, COALESCE(reason, 'rejected'), received, substr(cose, 1, 2048)
        FROM records WHERE status = 'rejected';
    DELETE FROM records WHERE status = 'rejected';
    """,
    # 7: crime mapping (host/store/crimes.py): eligibility flags, audit log, trail index
    crimes.SQLITE_MIGRATION,
    # 8: compact evidence (host/store/compact.py). Valid records move to `blocks` (the
    # exact bytes each proven block was signed as) and `proven` (query columns, no bytes);
    # `records` keeps rejected records and early alerts. A record already stored becomes a
    # block of its own. Fixes leave the outbox for a per-tag mark (fwd_marks, fwd_done).
    """
    CREATE TABLE device_ids (
        dev INTEGER PRIMARY KEY,          -- a device in the compact tables
        device TEXT NOT NULL UNIQUE
    );
    INSERT INTO device_ids(device) SELECT device FROM devices
        UNION SELECT device FROM records ORDER BY 1;
    CREATE TABLE blocks (
        dev INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,        -- the record proving the block (a checkpoint)
        arrival INTEGER NOT NULL,         -- when it was stored, in feed_counter's order
        first_seq INTEGER NOT NULL,
        t_lo INTEGER, t_hi INTEGER,       -- its records' times (UTC s), to find their rows
        fixes INTEGER NOT NULL,           -- how many of them are fixes
        received TEXT NOT NULL,           -- bridge time, ISO 8601 UTC
        wire BLOB NOT NULL,               -- records first_seq..last_seq exactly as signed
        PRIMARY KEY (dev, last_seq)
    ) WITHOUT ROWID;
    CREATE TABLE proven (
        dev INTEGER NOT NULL,
        t INTEGER NOT NULL,               -- UTC seconds
        seq INTEGER NOT NULL,
        type INTEGER NOT NULL,            -- 1 fix, 2 alert, 3 restart, 4 checkpoint
        t_ms INTEGER, lat_e7 INTEGER, lon_e7 INTEGER, acc_cm INTEGER, alert TEXT, zone TEXT,
        PRIMARY KEY (dev, t, seq)
    ) WITHOUT ROWID;
    CREATE INDEX proven_alerts ON proven(dev, seq) WHERE type = 2;
    CREATE INDEX blocks_arrival ON blocks(arrival);
    -- the centre's feed (host/store/compact.py feed): one counter orders blocks and early
    -- records as they are stored; a record's feed id is arrival * 128 + its place in its block
    ALTER TABLE records ADD COLUMN arrival INTEGER;
    UPDATE records SET arrival = id;
    CREATE TABLE feed_counter (n INTEGER NOT NULL);
    INSERT INTO feed_counter SELECT COALESCE(MAX(id), 0) FROM records;
    UPDATE centre_state SET value = CAST(CAST(value AS INTEGER) * 128 + 127 AS TEXT)
        WHERE key = 'feed_cursor';
    CREATE TABLE fwd_marks (dev INTEGER PRIMARY KEY, upto INTEGER NOT NULL);
    CREATE TABLE fwd_done (
        dev INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (dev, seq)
    ) WITHOUT ROWID;
    INSERT INTO blocks(dev, last_seq, arrival, first_seq, t_lo, t_hi, fixes, received, wire)
        SELECT d.dev, r.seq, r.id, r.seq, r.t, r.t, r.type = 1, r.received, r.cose
        FROM records r JOIN device_ids d ON d.device = r.device WHERE r.status = 'valid';
    INSERT INTO proven SELECT d.dev, COALESCE(r.t, 0), r.seq, r.type, r.t_ms, r.lat_e7,
        r.lon_e7, r.acc_cm, r.alert, r.zone
        FROM records r JOIN device_ids d ON d.device = r.device WHERE r.status = 'valid';
    INSERT INTO fwd_marks SELECT d.dev, COALESCE(
        (SELECT MIN(o.seq) - 1 FROM outbox o WHERE o.device = d.device AND o.kind = 'fix'
         AND o.forwarded IS NULL),
        (SELECT MAX(o.seq) FROM outbox o WHERE o.device = d.device AND o.kind = 'fix'), 0)
        FROM device_ids d;
    INSERT INTO fwd_done SELECT d.dev, o.seq FROM outbox o
        JOIN device_ids d ON d.device = o.device JOIN fwd_marks m ON m.dev = d.dev
        WHERE o.kind = 'fix' AND o.forwarded IS NOT NULL AND o.seq > m.upto;
    DROP TRIGGER outbox_on_insert;
    DROP TRIGGER outbox_on_valid;
    CREATE TABLE outbox_v5 (
        id INTEGER PRIMARY KEY,
        device TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,               -- 'alert' (fixes: fwd_marks)
        record_id INTEGER,                -- records.id of an early alert; NULL: proven
        forwarded TEXT
    );
    INSERT INTO outbox_v5 SELECT o.id, o.device, o.seq, o.kind,
        CASE WHEN r.status = 'valid' THEN NULL ELSE o.record_id END, o.forwarded
        FROM outbox o LEFT JOIN records r ON r.id = o.record_id WHERE o.kind = 'alert';
    DROP TABLE outbox;
    ALTER TABLE outbox_v5 RENAME TO outbox;
    CREATE UNIQUE INDEX outbox_once ON outbox(device, seq, kind);
    CREATE INDEX outbox_backlog ON outbox(kind, id) WHERE forwarded IS NULL;
    DELETE FROM records WHERE status = 'valid';
    CREATE TRIGGER outbox_on_early AFTER INSERT ON records
    WHEN NEW.status = 'early' AND NEW.type = 2 AND NEW.seq IS NOT NULL
    BEGIN
        INSERT OR IGNORE INTO outbox(device, seq, kind, record_id) VALUES
        (NEW.device, NEW.seq, 'alert', NEW.id);
    END;
    -- the trail index reads `proven` now, in block arrival order: built again on next use
    DROP INDEX records_trail;
    DELETE FROM trail_rtree;
    DELETE FROM trail_tiles;
    DELETE FROM trail_extents;
    DELETE FROM trail_index_state;
    """,
    # 9: the trail index's queue (host/store/trail_index.py): a row per add_blocks call, written
    # with the blocks, so the index never depends on the order transactions commit in
    trail_index.QUEUE_MIGRATION % "INTEGER",
]


class Store(crimes.SqliteCrimes, CompactStore):
    kind = "sqlite"

    def __init__(self, path, create=True):
        self.target = path
        self.db = None
        if not create and not os.path.isfile(path):
            raise base.StoreError("no store at %s" % path)
        try:
            self._grouped = False
            # the centre's web app hands a connection from thread to thread (one at a time)
            self.db = sqlite3.connect(path, timeout=30, check_same_thread=False)
            self._migrate()
        except (sqlite3.DatabaseError, base.StoreError) as e:
            if getattr(self, "db", None) is not None:
                self.db.close()
            raise base.StoreError("%s: %s" % (path, e)) from None

    def _migrate(self):
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise base.StoreError(
                "store schema %d is newer than this emtag (%d)" % (version, len(MIGRATIONS))
            )
        if version == 0 and self.db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
            raise base.StoreError("not an emtag store (a database with other tables)")
        # only now that it is ours (WAL mode is written into the file)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        for i in range(version, len(MIGRATIONS)):
            with self.db:
                self.db.executescript(MIGRATIONS[i])
                self.db.execute("PRAGMA user_version=%d" % (i + 1))

    # what host/store/compact.py runs its SQL through
    def _x(self, sql, args=()):
        return self.db.execute(sql, args)

    def _many(self, sql, rows):
        self.db.executemany(sql, rows)

    def _tx(self):
        """The transaction a write runs in: its own, or the open group's."""
        return contextlib.nullcontext() if self._grouped else self.db

    @contextlib.contextmanager
    def group(self):
        if self._grouped:
            raise RuntimeError("store groups do not nest")
        self._grouped = True
        try:
            with self.db:
                self.db.execute("BEGIN")  # so that savepoints nest inside, never commit
                yield self
        finally:
            self._grouped = False

    @contextlib.contextmanager
    def savepoint(self):
        self.db.execute("SAVEPOINT s")
        try:
            yield self
        except BaseException:
            self.db.execute("ROLLBACK TO s")
            self.db.execute("RELEASE s")
            raise
        self.db.execute("RELEASE s")

    def device(self, device):
        row = self.db.execute("SELECT public_key FROM devices WHERE device=?", (device,)).fetchone()
        return row[0] if row else None

    def add_device(self, device, public_key, firmware, when):
        with self._tx():
            self.db.execute(
                "INSERT INTO devices(device, public_key, firmware, first_seen) VALUES (?,?,?,?)",
                (device, public_key, firmware, when),
            )

    def _insert_records(self, rows):
        cols = RECORD_COLUMNS + ("arrival",)
        (a,) = self._next_arrivals(1)
        self.db.executemany(
            "INSERT INTO records(%s) VALUES (%s)" % (",".join(cols), ",".join("?" * len(cols))),
            [tuple(r.get(c) for c in RECORD_COLUMNS) + (a,) for r in rows],
        )

    def _next_arrivals(self, k):
        self.db.execute("UPDATE feed_counter SET n = n + ?", (k,))
        (n,) = self.db.execute("SELECT n FROM feed_counter").fetchone()
        return range(n - k + 1, n + 1)

    def add_rejected(self, device, rows, when, peer=None):
        with self._tx():
            self.db.executemany(
                "INSERT INTO rejected(device, seq, reason, received, peer, wire) "
                "VALUES (?,?,?,?,?,?)",
                [(device, seq, reason[:300], when, peer, bytes(wire[:2048]))
                 for seq, reason, wire in rows],
            )  # fmt: skip
            self.db.execute(
                "DELETE FROM rejected WHERE device=? AND id <= (SELECT id FROM rejected "
                "WHERE device=? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (device, device, base.REJECTED_PER_DEVICE),
            )
            self.db.execute(
                "DELETE FROM rejected WHERE id <= (SELECT MAX(id) FROM rejected) - ?",
                (base.REJECTED_TOTAL,),
            )

    def rejected(self, device):
        return self.db.execute(
            "SELECT seq, reason, wire FROM rejected WHERE device=? ORDER BY id", (device,)
        ).fetchall()

    def devices(self):
        rows = self.db.execute(
            "SELECT device, public_key, firmware, first_seen FROM devices ORDER BY device"
        )
        return [Device(*r) for r in rows]

    # the centre's tables (centre_tables.py)
    def _cq(self, sql, args=()):
        return self.db.execute(sql, args).fetchall()

    def _cw(self, sql, args=()):
        with self.db:
            cur = self.db.execute(sql, args)
            rows = cur.fetchall()
            return cur.rowcount, rows

    def close(self):
        self.db.close()
