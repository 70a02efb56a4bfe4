"""The SQLite backend of the store (host/store/base.py): the embedded default, one file.

WAL mode so readers never block the bridge; the schema version lives in PRAGMA
user_version and MIGRATIONS brings any older store up to date on open. A file that is a
database but not emtag's (tables, and no emtag schema version) is refused untouched.
"""

import contextlib
import os
import sqlite3

from emtag.host.store import base, crimes
from emtag.host.store.base import RECORD_COLUMNS, Alert, Device, Fix, Record, RetentionRun

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
]


# each device's newest valid record: the bridge continues the chain from it, so it stays
KEEP_NEWEST = (
    "SELECT r.id FROM records r JOIN (SELECT device, MAX(seq) AS seq FROM records "
    "WHERE status='valid' GROUP BY device) m ON r.device = m.device AND r.seq = m.seq "
    "AND r.status = 'valid'"
)


class Store(crimes.SqliteCrimes, base.Store):
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

    def last_valid(self, device):
        row = self.db.execute(
            "SELECT seq, cose FROM records WHERE device=? AND status='valid' "
            "ORDER BY seq DESC LIMIT 1",
            (device,),
        ).fetchone()
        return (row[0], row[1]) if row else (0, None)

    def add_records(self, rows):
        cols = RECORD_COLUMNS
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

    # the evidence chain (host/bridge.py, host/bundle.py)
    def has_record(self, device, seq, status):
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
        return self.db.execute(
            "SELECT seq, type, t, cose FROM records WHERE device=? AND status='valid' "
            "AND seq BETWEEN ? AND ? ORDER BY seq",
            (device, first_seq, last_seq),
        ).fetchall()

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

    # MQTT forwarding (host/forward.py)
    def outbox_pending(self, limit):
        return self.db.execute(
            "SELECT o.id, o.device, o.seq, o.kind, r.t, r.t_ms, r.lat_e7, r.lon_e7, r.acc_cm, "
            "r.alert, r.zone, r.status, r.received, r.cose FROM outbox o "
            "JOIN records r ON r.id = o.record_id WHERE o.forwarded IS NULL "
            "ORDER BY o.kind = 'alert' DESC, o.id LIMIT ?",
            (limit,),
        ).fetchall()

    def mark_forwarded(self, ids, when):
        with self.db:
            rows = [(when, i) for i in ids]
            self.db.executemany("UPDATE outbox SET forwarded=? WHERE id=?", rows)

    def outbox_backlog(self):
        return self.db.execute("SELECT COUNT(*) FROM outbox WHERE forwarded IS NULL").fetchone()[0]

    # the centre
    def devices(self):
        rows = self.db.execute(
            "SELECT device, public_key, firmware, first_seen FROM devices ORDER BY device"
        )
        return [Device(*r) for r in rows]

    def fixes(self, device, t_from, t_to):
        rows = self.db.execute(
            "SELECT seq, t, t_ms, lat_e7, lon_e7, acc_cm FROM records WHERE device=? "
            "AND t BETWEEN ? AND ? AND status='valid' AND lat_e7 IS NOT NULL "
            "ORDER BY t, t_ms, seq",
            (device, t_from, t_to),
        )
        return [Fix._make(r) for r in rows]

    def fix_before(self, device, t, t_ms=999):
        row = self.db.execute(
            "SELECT seq, t, t_ms, lat_e7, lon_e7, acc_cm FROM records WHERE device=? "
            "AND t <= ? AND status='valid' AND lat_e7 IS NOT NULL "
            "AND (t < ? OR COALESCE(t_ms, 0) <= ?) ORDER BY t DESC, t_ms DESC, seq DESC LIMIT 1",
            (device, t, t, t_ms),
        ).fetchone()
        return Fix._make(row) if row else None

    def fix_after(self, device, t, t_ms=0):
        row = self.db.execute(
            "SELECT seq, t, t_ms, lat_e7, lon_e7, acc_cm FROM records WHERE device=? "
            "AND t >= ? AND status='valid' AND lat_e7 IS NOT NULL "
            "AND (t > ? OR COALESCE(t_ms, 0) > ?) ORDER BY t, t_ms, seq LIMIT 1",
            (device, t, t, t_ms),
        ).fetchone()
        return Fix._make(row) if row else None

    def records_between(self, device, t_from, t_to, types=(2, 3, 4)):
        rows = self.db.execute(
            "SELECT seq, type, t, t_ms, lat_e7, lon_e7, acc_cm, alert, zone, status, received, "
            "cose FROM records WHERE device=? AND t BETWEEN ? AND ? AND status='valid' "
            "AND type IN (%s) ORDER BY seq" % ",".join("%d" % int(x) for x in types),
            (device, t_from, t_to),
        )
        return [Record._make(r) for r in rows]

    def newest_record(self, device):
        row = self.db.execute(
            "SELECT seq, type, t, t_ms, lat_e7, lon_e7, acc_cm, alert, zone, status, received, "
            "cose FROM records WHERE device=? AND status='valid' ORDER BY seq DESC LIMIT 1",
            (device,),
        ).fetchone()
        return Record._make(row) if row else None

    def alerts(self, device=None, t_from=None, t_to=None, unacked_only=False, limit=None):
        where, args = ["r.type = 2", "r.status IN ('valid', 'early')"], []
        # an early alert whose chain copy has arrived is the same alert: keep one
        where.append(
            "NOT (r.status = 'early' AND EXISTS (SELECT 1 FROM records v WHERE "
            "v.device = r.device AND v.seq = r.seq AND v.status = 'valid'))"
        )
        if device is not None:
            where.append("r.device = ?")
            args.append(device)
        if t_from is not None:
            where.append("r.t >= ?")
            args.append(t_from)
        if t_to is not None:
            where.append("r.t <= ?")
            args.append(t_to)
        if unacked_only:
            where.append("a.acked_at IS NULL")
        sql = (
            "SELECT r.device, r.seq, r.t, r.t_ms, r.alert, r.zone, r.lat_e7, r.lon_e7, "
            "r.acc_cm, r.status, r.received, a.acked_by, a.acked_at, a.note FROM records r "
            "LEFT JOIN alert_acks a ON a.device = r.device AND a.seq = r.seq WHERE "
            + " AND ".join(where)
            + " ORDER BY r.t DESC, r.device, r.seq DESC"
        )
        if limit is not None:
            sql += " LIMIT %d" % int(limit)
        return [Alert._make(r) for r in self.db.execute(sql, args)]

    def acknowledge_alert(self, device, seq, by, when, note=""):
        with self.db:
            if not self.db.execute(
                "SELECT 1 FROM records WHERE device=? AND seq=? AND type=2 "
                "AND status IN ('valid', 'early') LIMIT 1",
                (device, seq),
            ).fetchone():
                return False
            cur = self.db.execute(
                "INSERT OR IGNORE INTO alert_acks(device, seq, acked_by, acked_at, note) "
                "VALUES (?,?,?,?,?)",
                (device, seq, by, when, note),
            )
            return cur.rowcount == 1

    def latest_alerts(self):
        return self.db.execute(
            "SELECT device, alert, zone, MAX(seq), t FROM records WHERE type = 2 "
            "AND status IN ('valid', 'early') GROUP BY device, alert, zone"
        ).fetchall()

    # one index probe per device, as PostgreSQL's LATERAL join does
    def last_fixes(self):
        out = {}
        for d in self.devices():
            f = self.fix_before(d.device, 1 << 62)
            if f is not None:
                out[d.device] = f
        return out

    def last_records(self):
        out = {}
        for d in self.devices():
            row = self.db.execute(
                "SELECT t, received FROM records WHERE device=? AND status='valid' "
                "ORDER BY seq DESC LIMIT 1",
                (d.device,),
            ).fetchone()
            if row:
                out[d.device] = tuple(row)
        return out

    def unacked_counts(self):
        return {
            a: n
            for a, n in self.db.execute(
                "SELECT r.device, COUNT(DISTINCT r.seq) FROM records r LEFT JOIN alert_acks a "
                "ON a.device = r.device AND a.seq = r.seq WHERE r.type = 2 "
                "AND r.status IN ('valid', 'early') AND a.acked_at IS NULL GROUP BY r.device"
            )
        }

    def _fixes_in_box(self, t_from, t_to, lo_lat, hi_lat, lo_lon, hi_lon):
        rows = self.db.execute(
            "SELECT device, seq, t, t_ms, lat_e7, lon_e7, acc_cm FROM records "
            "WHERE t BETWEEN ? AND ? AND status='valid' AND lat_e7 BETWEEN ? AND ? "
            "AND lon_e7 BETWEEN ? AND ? ORDER BY t, t_ms, device",
            (t_from, t_to, lo_lat, hi_lat, lo_lon, hi_lon),
        )
        return [(r[0], Fix._make(r[1:])) for r in rows]

    # retention
    def delete_before(self, cutoff_t, policy, when):
        cutoff_iso = base.iso_utc(cutoff_t)
        old = "COALESCE(t < ?, received < ?) AND id NOT IN (%s)" % KEEP_NEWEST
        with self.db:
            self.db.execute(
                "CREATE TEMP TABLE IF NOT EXISTS doomed(id INTEGER PRIMARY KEY, device TEXT, "
                "seq INTEGER)"
            )
            self.db.execute("DELETE FROM doomed")
            self.db.execute(
                "INSERT INTO doomed SELECT id, device, seq FROM records WHERE " + old,
                (cutoff_t, cutoff_iso),
            )
            n_out = self.db.execute(
                "DELETE FROM outbox WHERE record_id IN (SELECT id FROM doomed)"
            ).rowcount
            n_rec = self.db.execute(
                "DELETE FROM records WHERE id IN (SELECT id FROM doomed)"
            ).rowcount
            n_ack = self.db.execute(
                "DELETE FROM alert_acks WHERE NOT EXISTS (SELECT 1 FROM records r WHERE "
                "r.device = alert_acks.device AND r.seq = alert_acks.seq AND r.type = 2)"
            ).rowcount
            self.db.execute("DELETE FROM doomed")
            run = RetentionRun(when, cutoff_t, policy, n_rec, n_out, n_ack)
            self.db.execute(
                "INSERT INTO retention_log(run_at, cutoff_t, policy, records, outbox, acks) "
                "VALUES (?,?,?,?,?,?)",
                run,
            )
        return run

    def retention_runs(self):
        rows = self.db.execute(
            "SELECT run_at, cutoff_t, policy, records, outbox, acks FROM retention_log ORDER BY id"
        )
        return [RetentionRun._make(r) for r in rows]

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
