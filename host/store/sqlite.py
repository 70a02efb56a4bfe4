"""The SQLite backend of the store (host/store/base.py): the embedded default, one file.

WAL mode so readers never block the bridge; the schema version lives in PRAGMA
user_version and MIGRATIONS brings any older store up to date on open. A file that is a
database but not emtag's (tables, and no emtag schema version) is refused untouched.
Valid records: host/store/compact.py (migration 5); this module keeps the rest.
"""

import contextlib
import os
import sqlite3

from emtag.host.store import base
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
    # 5: compact evidence (host/store/compact.py). Valid records move to `blocks` (the
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
    CREATE TABLE fwd_marks (dev INTEGER PRIMARY KEY, upto INTEGER NOT NULL);
    CREATE TABLE fwd_done (
        dev INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (dev, seq)
    ) WITHOUT ROWID;
    INSERT INTO blocks SELECT d.dev, r.seq, r.seq, r.t, r.t, r.type = 1, r.received, r.cose
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
    """,
]


class Store(CompactStore):
    kind = "sqlite"

    def __init__(self, path, create=True):
        self.target = path
        self.db = None
        self._devs = {}
        if not create and not os.path.isfile(path):
            raise base.StoreError("no store at %s" % path)
        try:
            self.db = sqlite3.connect(path, timeout=30)
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

    @contextlib.contextmanager
    def _tx(self):
        try:
            with self.db:
                yield
        except BaseException:
            self._devs.clear()  # ids made in a transaction that did not commit
            raise

    def device(self, device):
        row = self.db.execute("SELECT public_key FROM devices WHERE device=?", (device,)).fetchone()
        return row[0] if row else None

    def add_device(self, device, public_key, firmware, when):
        with self.db:
            self.db.execute(
                "INSERT INTO devices(device, public_key, firmware, first_seen) VALUES (?,?,?,?)",
                (device, public_key, firmware, when),
            )

    def _insert_records(self, rows):
        cols = RECORD_COLUMNS
        self.db.executemany(
            "INSERT INTO records(%s) VALUES (%s)" % (",".join(cols), ",".join("?" * len(cols))),
            [tuple(r.get(c) for c in cols) for r in rows],
        )

    def devices(self):
        rows = self.db.execute(
            "SELECT device, public_key, firmware, first_seen FROM devices ORDER BY device"
        )
        return [Device(*r) for r in rows]

    def close(self):
        self.db.close()
