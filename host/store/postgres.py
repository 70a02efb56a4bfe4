"""The PostgreSQL backend of the store (host/store/base.py): one database that several
bridges write into and every centre command reads (psycopg 3).

The schema means what the SQLite one means (host/store/sqlite.py); SQL and migrations are
this module's own (postgres_schema.py). Records are indexed by (device, t), so a year of one
tag or a day of every tag is an index range scan. The connection runs in autocommit for
reads; each write is one transaction, so a record is committed before it is acknowledged.
Bulk inserts go through COPY; the MQTT outbox is filled by statement-level triggers over the
inserted rows (a transition table), in the same transaction.
"""

from emtag.host.store import base, crimes
from emtag.host.store.base import RECORD_COLUMNS, Alert, Device, Fix, Record, RetentionRun
from emtag.host.store.postgres_schema import MIGRATIONS

MIGRATION_LOCK = 0x656D746167  # pg_advisory_xact_lock key: "emtag"
FIX_COLS = "seq, t, t_ms, lat_e7, lon_e7, acc_cm"
RECORD_COLS = "seq, type, t, t_ms, lat_e7, lon_e7, acc_cm, alert, zone, status, received, cose"
KEEP_NEWEST = (
    "SELECT r.id FROM records r JOIN (SELECT device, MAX(seq) AS seq FROM records "
    "WHERE status='valid' GROUP BY device) m ON r.device = m.device AND r.seq = m.seq "
    "AND r.status = 'valid'"
)


class PostgresStore(crimes.PostgresCrimes, base.Store):
    kind = "postgresql"

    def __init__(self, url, create=True):
        import psycopg

        self.target = base.describe(url)
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as e:
            raise base.StoreError(
                "cannot connect to %s: %s" % (self.target, str(e).strip().splitlines()[0])
            ) from None
        try:
            self._migrate(create)
        except psycopg.Error as e:
            self.conn.close()
            raise base.StoreError("%s: %s" % (self.target, str(e).strip())) from None
        except base.StoreError as e:
            self.conn.close()
            raise base.StoreError("%s: %s" % (self.target, e)) from None

    def _q(self, sql, args=None):
        return self.conn.execute(sql, args)

    def _migrate(self, create):
        with self.conn.transaction():
            self._q("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            tables = {
                r[0]
                for r in self._q(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = current_schema()"
                )
            }
            if "emtag_schema" in tables:
                version = self._q("SELECT version FROM emtag_schema").fetchone()[0]
            elif tables:
                raise base.StoreError("not an emtag store (a database with other tables)")
            elif not create:
                raise base.StoreError("no emtag store here (an empty database)")
            else:
                self._q("CREATE TABLE emtag_schema (version INTEGER NOT NULL)")
                self._q("INSERT INTO emtag_schema VALUES (0)")
                version = 0
            if version > len(MIGRATIONS):
                raise base.StoreError(
                    "store schema %d is newer than this emtag (%d)" % (version, len(MIGRATIONS))
                )
            for i in range(version, len(MIGRATIONS)):
                self._q(MIGRATIONS[i])
                self._q("UPDATE emtag_schema SET version = %s", (i + 1,))

    # the bridge
    def device(self, device):
        row = self._q("SELECT public_key FROM devices WHERE device=%s", (device,)).fetchone()
        return bytes(row[0]) if row else None

    def add_device(self, device, public_key, firmware, when):
        self._q(
            "INSERT INTO devices(device, public_key, firmware, first_seen) VALUES (%s,%s,%s,%s)",
            (device, public_key, firmware, when),
        )

    def last_valid(self, device):
        row = self._q(
            "SELECT seq, cose FROM records WHERE device=%s AND status='valid' "
            "ORDER BY seq DESC LIMIT 1",
            (device,),
        ).fetchone()
        return (row[0], bytes(row[1])) if row else (0, None)

    def add_records(self, rows):
        cols = RECORD_COLUMNS
        with self.conn.transaction(), self.conn.cursor() as cur:
            with cur.copy("COPY records (%s) FROM STDIN" % ",".join(cols)) as copy:
                for r in rows:
                    copy.write_row(tuple(r.get(c) for c in cols))

    def records(self, device, status="valid"):
        return self._q(
            "SELECT seq, type, t, lat_e7, lon_e7, acc_cm, alert, zone, cose FROM records "
            "WHERE device=%s AND status=%s ORDER BY seq",
            (device, status),
        ).fetchall()

    def has_record(self, device, seq, status):
        return (
            self._q(
                "SELECT 1 FROM records WHERE device=%s AND seq=%s AND status=%s LIMIT 1",
                (device, seq, status),
            ).fetchone()
            is not None
        )

    def valid_wire(self, device, seq):
        row = self._q(
            "SELECT cose FROM records WHERE device=%s AND seq=%s AND status='valid'",
            (device, seq),
        ).fetchone()
        return bytes(row[0]) if row else None

    # evidence
    def valid_span(self, device, t_from, t_to):
        lo, hi = self._q(
            "SELECT MIN(seq), MAX(seq) FROM records WHERE device=%s AND status='valid' "
            "AND type IN (1, 2, 3) AND t BETWEEN %s AND %s",
            (device, t_from, t_to),
        ).fetchone()
        if lo is None:
            return None
        (seal,) = self._q(
            "SELECT COALESCE(sealed_by, seq) FROM records WHERE device=%s AND status='valid' "
            "AND seq=%s",
            (device, hi),
        ).fetchone()
        return lo, hi, seal

    def valid_rows(self, device, first_seq, last_seq):
        return [
            (s, ty, t, bytes(w))
            for s, ty, t, w in self._q(
                "SELECT seq, type, t, cose FROM records WHERE device=%s AND status='valid' "
                "AND seq BETWEEN %s AND %s ORDER BY seq",
                (device, first_seq, last_seq),
            )
        ]

    def group(self):
        # psycopg: a transaction() inside another is a savepoint, so every write method's
        # own transaction() nests in this one and commits with it
        return self.conn.transaction()

    def savepoint(self):
        return self.conn.transaction()

    def add_rejected(self, device, rows, when, peer=None):
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO rejected(device, seq, reason, received, peer, wire) "
                "VALUES (%s,%s,%s,%s,%s,%s)",
                [(device, seq, reason[:300], when, peer, bytes(wire[:2048]))
                 for seq, reason, wire in rows],
            )  # fmt: skip
            cur.execute(
                "DELETE FROM rejected WHERE device=%s AND id <= (SELECT id FROM rejected "
                "WHERE device=%s ORDER BY id DESC LIMIT 1 OFFSET %s)",
                (device, device, base.REJECTED_PER_DEVICE),
            )
            cur.execute(
                "DELETE FROM rejected WHERE id <= (SELECT MAX(id) FROM rejected) - %s",
                (base.REJECTED_TOTAL,),
            )

    def rejected(self, device):
        return [
            (seq, reason, bytes(wire))
            for seq, reason, wire in self._q(
                "SELECT seq, reason, wire FROM rejected WHERE device=%s ORDER BY id", (device,)
            )
        ]

    # MQTT forwarding
    def outbox_pending(self, limit):
        return self._q(
            "SELECT o.id, o.device, o.seq, o.kind, r.t, r.t_ms, r.lat_e7, r.lon_e7, r.acc_cm, "
            "r.alert, r.zone, r.status, r.received, r.cose FROM outbox o "
            "JOIN records r ON r.id = o.record_id WHERE o.forwarded IS NULL "
            "ORDER BY o.kind = 'alert' DESC, o.id LIMIT %s",
            (limit,),
        ).fetchall()

    def mark_forwarded(self, ids, when):
        self._q("UPDATE outbox SET forwarded=%s WHERE id = ANY(%s)", (when, list(ids)))

    def outbox_backlog(self):
        return self._q("SELECT COUNT(*) FROM outbox WHERE forwarded IS NULL").fetchone()[0]

    # the centre
    def devices(self):
        rows = self._q(
            "SELECT device, public_key, firmware, first_seen FROM devices ORDER BY device"
        )
        return [Device(d, bytes(k), f, s) for d, k, f, s in rows]

    def fixes(self, device, t_from, t_to):
        rows = self._q(
            "SELECT %s FROM records WHERE device=%%s AND t BETWEEN %%s AND %%s "
            "AND status='valid' AND lat_e7 IS NOT NULL ORDER BY t, t_ms, seq" % FIX_COLS,
            (device, t_from, t_to),
        )
        return [Fix._make(r) for r in rows]

    def fix_before(self, device, t, t_ms=999):
        row = self._q(
            "SELECT %s FROM records WHERE device=%%s AND t <= %%s AND status='valid' "
            "AND lat_e7 IS NOT NULL AND (t < %%s OR COALESCE(t_ms, 0) <= %%s) "
            "ORDER BY t DESC, t_ms DESC, seq DESC LIMIT 1" % FIX_COLS,
            (device, t, t, t_ms),
        ).fetchone()
        return Fix._make(row) if row else None

    def fix_after(self, device, t, t_ms=0):
        row = self._q(
            "SELECT %s FROM records WHERE device=%%s AND t >= %%s AND status='valid' "
            "AND lat_e7 IS NOT NULL AND (t > %%s OR COALESCE(t_ms, 0) > %%s) "
            "ORDER BY t, t_ms, seq LIMIT 1" % FIX_COLS,
            (device, t, t, t_ms),
        ).fetchone()
        return Fix._make(row) if row else None

    def _record(self, row):
        return Record._make(row[:-1] + (bytes(row[-1]),))

    def records_between(self, device, t_from, t_to, types=(2, 3, 4)):
        rows = self._q(
            "SELECT %s FROM records WHERE device=%%s AND t BETWEEN %%s AND %%s "
            "AND status='valid' AND type = ANY(%%s) ORDER BY seq" % RECORD_COLS,
            (device, t_from, t_to, [int(x) for x in types]),
        )
        return [self._record(r) for r in rows]

    def newest_record(self, device):
        row = self._q(
            "SELECT %s FROM records WHERE device=%%s AND status='valid' "
            "ORDER BY seq DESC LIMIT 1" % RECORD_COLS,
            (device,),
        ).fetchone()
        return self._record(row) if row else None

    def alerts(self, device=None, t_from=None, t_to=None, unacked_only=False, limit=None):
        where = [
            "r.type = 2",
            "r.status IN ('valid', 'early')",
            "NOT (r.status = 'early' AND EXISTS (SELECT 1 FROM records v WHERE "
            "v.device = r.device AND v.seq = r.seq AND v.status = 'valid'))",
        ]
        args: list = []
        for cond, value in (("r.device = %s", device), ("r.t >= %s", t_from), ("r.t <= %s", t_to)):
            if value is not None:
                where.append(cond)
                args.append(value)
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
        return [Alert._make(r) for r in self._q(sql, args)]

    def acknowledge_alert(self, device, seq, by, when, note=""):
        with self.conn.transaction():
            if not self._q(
                "SELECT 1 FROM records WHERE device=%s AND seq=%s AND type=2 "
                "AND status IN ('valid', 'early') LIMIT 1",
                (device, seq),
            ).fetchone():
                return False
            cur = self._q(
                "INSERT INTO alert_acks(device, seq, acked_by, acked_at, note) "
                "VALUES (%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                (device, seq, by, when, note),
            )
            return cur.rowcount == 1

    def latest_alerts(self):
        return self._q(
            "SELECT DISTINCT ON (device, alert, zone) device, alert, zone, seq, t FROM records "
            "WHERE type = 2 AND status IN ('valid', 'early') ORDER BY device, alert, zone, seq DESC"
        ).fetchall()

    def last_fixes(self):
        rows = self._q(
            "SELECT d.device, f.* FROM devices d CROSS JOIN LATERAL (SELECT %s FROM records "
            "WHERE device = d.device AND status='valid' AND lat_e7 IS NOT NULL "
            "ORDER BY t DESC, t_ms DESC, seq DESC LIMIT 1) f" % FIX_COLS
        )
        return {r[0]: Fix._make(r[1:]) for r in rows}

    def last_records(self):
        rows = self._q(
            "SELECT d.device, f.t, f.received FROM devices d CROSS JOIN LATERAL (SELECT t, "
            "received FROM records WHERE device = d.device AND status='valid' "
            "ORDER BY seq DESC LIMIT 1) f"
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def unacked_counts(self):
        return dict(
            self._q(
                "SELECT r.device, COUNT(DISTINCT r.seq) FROM records r LEFT JOIN alert_acks a "
                "ON a.device = r.device AND a.seq = r.seq WHERE r.type = 2 "
                "AND r.status IN ('valid', 'early') AND a.acked_at IS NULL GROUP BY r.device"
            ).fetchall()
        )

    def _fixes_in_box(self, t_from, t_to, lo_lat, hi_lat, lo_lon, hi_lon):
        rows = self._q(
            "SELECT device, %s FROM records WHERE t BETWEEN %%s AND %%s AND status='valid' "
            "AND lat_e7 BETWEEN %%s AND %%s AND lon_e7 BETWEEN %%s AND %%s "
            "ORDER BY t, t_ms, device" % FIX_COLS,
            (t_from, t_to, lo_lat, hi_lat, lo_lon, hi_lon),
        )
        return [(r[0], Fix._make(r[1:])) for r in rows]

    # retention
    def delete_before(self, cutoff_t, policy, when):
        cutoff_iso = base.iso_utc(cutoff_t)
        with self.conn.transaction():
            self._q(
                "CREATE TEMP TABLE doomed ON COMMIT DROP AS SELECT id FROM records WHERE "
                "COALESCE(t < %%s, received < %%s) AND id NOT IN (%s)" % KEEP_NEWEST,
                (cutoff_t, cutoff_iso),
            )
            n_out = self._q(
                "DELETE FROM outbox WHERE record_id IN (SELECT id FROM doomed)"
            ).rowcount
            n_rec = self._q("DELETE FROM records WHERE id IN (SELECT id FROM doomed)").rowcount
            n_ack = self._q(
                "DELETE FROM alert_acks a WHERE NOT EXISTS (SELECT 1 FROM records r WHERE "
                "r.device = a.device AND r.seq = a.seq AND r.type = 2)"
            ).rowcount
            run = RetentionRun(when, cutoff_t, policy, n_rec, n_out, n_ack)
            self._q(
                "INSERT INTO retention_log(run_at, cutoff_t, policy, records, outbox, acks) "
                "VALUES (%s,%s,%s,%s,%s,%s)",
                run,
            )
        return run

    def retention_runs(self):
        rows = self._q(
            "SELECT run_at, cutoff_t, policy, records, outbox, acks FROM retention_log ORDER BY id"
        )
        return [RetentionRun._make(r) for r in rows]

    # the centre's tables (centre_tables.py): the same SQL, PostgreSQL's placeholders
    def _cq(self, sql, args=()):
        return self._q(sql.replace("?", "%s"), args).fetchall()

    def _cw(self, sql, args=()):
        with self.conn.transaction():
            cur = self._q(sql.replace("?", "%s"), args)
            rows = cur.fetchall() if cur.description else []
            return cur.rowcount, rows

    def close(self):
        self.conn.close()
