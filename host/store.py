"""The bridge's SQLite store: devices, the tags' records, alerts, and bounded rejected input.

WAL mode so readers never block the bridge; the schema version lives in PRAGMA
user_version and MIGRATIONS brings any older store up to date on open.

Writes commit at once, or, inside `with store.group():`, together at the end of the group
(one synced commit for many sessions' batches: the bridge's I/O loop, host/serial_bridge.py,
acknowledges nothing of a group before it is committed); `with store.savepoint():` inside a
group undoes one session's writes alone if it fails.
"""

import contextlib
import sqlite3

# Rejected input is kept for diagnosis, apart from the tags' evidence (never in a bundle),
# and bounded: the newest REJECTED_PER_DEVICE per device and REJECTED_TOTAL in all.
REJECTED_PER_DEVICE = 1000
REJECTED_TOTAL = 100000

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
    # 4: rejected input apart from the evidence, bounded (host/bridge.py). What a connection
    # sent that is not its tag's record (altered on the way, spliced, malformed) is kept here
    # for diagnosis, never under records, so it can reach no bundle or query of the evidence.
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
]


class Store:
    def __init__(self, path):
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self._grouped = False
        self._migrate()

    def _tx(self):
        """The transaction a write runs in: its own, or the open group's."""
        return contextlib.nullcontext() if self._grouped else self.db

    @contextlib.contextmanager
    def group(self):
        """Writes inside commit together, once, when the block ends (rolled back if it
        raises). Nothing written inside may be acknowledged before the block has ended."""
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
        """Inside a group: the writes of the block are undone alone if it raises."""
        self.db.execute("SAVEPOINT s")
        try:
            yield self
        except BaseException:
            self.db.execute("ROLLBACK TO s")
            self.db.execute("RELEASE s")
            raise
        self.db.execute("RELEASE s")

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
        with self._tx():
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
        with self._tx():
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

    def add_rejected(self, device, rows, when, peer=None):
        """Keep rejected items (seq, reason, wire) of a device for diagnosis, bounded."""
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
                (device, device, REJECTED_PER_DEVICE),
            )
            self.db.execute(
                "DELETE FROM rejected WHERE id <= (SELECT MAX(id) FROM rejected) - ?",
                (REJECTED_TOTAL,),
            )

    def rejected(self, device):
        """(seq, reason, wire) of the rejected items kept for a device, oldest first."""
        return self.db.execute(
            "SELECT seq, reason, wire FROM rejected WHERE device=? ORDER BY id", (device,)
        ).fetchall()

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
