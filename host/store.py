"""The bridge's SQLite store: devices, every record received (valid or rejected), alerts.

WAL mode so readers never block the bridge; the schema version lives in PRAGMA
user_version and MIGRATIONS brings any older store up to date on open.
"""

import sqlite3

from emtag.host import store_crimes

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
    # 4: crime mapping (host/store_crimes.py): eligibility flags, audit log, trail index
    store_crimes.MIGRATION,
]


class Store(store_crimes.CrimeStore):
    def __init__(self, path):
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self._migrate()

    def _migrate(self):
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise RuntimeError(
                "store schema %d is newer than this emtag (%d)" % (version, len(MIGRATIONS))
            )
        for i in range(version, len(MIGRATIONS)):
            with self.db:
                self.db.executescript(MIGRATIONS[i])
                self.db.execute("PRAGMA user_version=%d" % (i + 1))

    def device(self, device):
        row = self.db.execute("SELECT public_key FROM devices WHERE device=?", (device,)).fetchone()
        return row[0] if row else None

    def add_device(self, device, public_key, firmware, when):
        with self.db:
            self.db.execute(
                "INSERT INTO devices(device, public_key, firmware, first_seen) VALUES (?,?,?,?)",
                (device, public_key, firmware, when),
            )

    def last_valid(self, device):
        """(seq, signed record) of the newest valid record, or (0, None)."""
        row = self.db.execute(
            "SELECT seq, cose FROM records WHERE device=? AND status='valid' "
            "ORDER BY seq DESC LIMIT 1",
            (device,),
        ).fetchone()
        return (row[0], row[1]) if row else (0, None)

    def add_records(self, rows):
        """Insert rows (dicts) in one transaction: committed before anything is acknowledged."""
        cols = (
            "device",
            "seq",
            "type",
            "t",
            "t_ms",
            "lat_e7",
            "lon_e7",
            "acc_cm",
            "alert",
            "zone",
            "status",
            "reason",
            "received",
            "cose",
            "hash",
            "sealed_by",
        )
        with self.db:
            self.db.executemany(
                "INSERT INTO records(%s) VALUES (%s)" % (",".join(cols), ",".join("?" * len(cols))),
                [tuple(r.get(c) for c in cols) for r in rows],
            )

    def records(self, device, status="valid"):
        cur = self.db.execute(
            "SELECT seq, type, t, lat_e7, lon_e7, acc_cm, alert, zone, cose FROM records "
            "WHERE device=? AND status=? ORDER BY seq",
            (device, status),
        )
        return cur.fetchall()

    # the evidence chain (host/bridge.py, host/bundle.py)
    def has_record(self, device, seq, status):
        """Whether a record with this seq and status is stored (early alerts, host/bridge.py)."""
        return (
            self.db.execute(
                "SELECT 1 FROM records WHERE device=? AND seq=? AND status=? LIMIT 1",
                (device, seq, status),
            ).fetchone()
            is not None
        )

    def valid_wire(self, device, seq):
        row = self.db.execute(
            "SELECT cose FROM records WHERE device=? AND seq=? AND status='valid'", (device, seq)
        ).fetchone()
        return row[0] if row else None

    def valid_span(self, device, t_from, t_to):
        """(first seq, last seq) of the valid fixes, alerts and restarts with t_from <= t <=
        t_to, and the seq of the signed record that seals the last of them; None if none."""
        lo, hi = self.db.execute(
            "SELECT MIN(seq), MAX(seq) FROM records WHERE device=? AND status='valid' "
            "AND type IN (1, 2, 3) AND t BETWEEN ? AND ?",
            (device, t_from, t_to),
        ).fetchone()
        if lo is None:
            return None
        (seal,) = self.db.execute(
            "SELECT COALESCE(sealed_by, seq) FROM records WHERE device=? AND status='valid' "
            "AND seq=?",
            (device, hi),
        ).fetchone()
        return lo, hi, seal

    def valid_rows(self, device, first_seq, last_seq):
        """(seq, type, t, cose) of valid records first_seq..last_seq, in seq order."""
        return self.db.execute(
            "SELECT seq, type, t, cose FROM records WHERE device=? AND status='valid' "
            "AND seq BETWEEN ? AND ? ORDER BY seq",
            (device, first_seq, last_seq),
        ).fetchall()

    def close(self):
        self.db.close()
