"""The bridge's SQLite store: devices, every record received (valid or rejected), alerts.

WAL mode so readers never block the bridge; the schema version lives in PRAGMA
user_version and MIGRATIONS brings any older store up to date on open.
"""

import sqlite3

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
]


class Store:
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

    def close(self):
        self.db.close()
