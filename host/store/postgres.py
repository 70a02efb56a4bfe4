"""The PostgreSQL backend of the store (host/store/base.py): one database that several
bridges write into and every centre command reads (psycopg 3).

The schema means what the SQLite one means (host/store/sqlite.py); migrations are this
module's own (postgres_schema.py), the SQL over valid records is shared
(host/store/compact.py). Proven records are keyed by (device, t, seq), so a year of one tag
or a day of every tag is an index range scan. The connection runs in autocommit for reads;
each write is one transaction, so a record is committed before it is acknowledged. Early
alerts go in by COPY; their outbox row is made by a statement-level trigger over the
inserted rows (a transition table), in the same transaction.
"""

from emtag.host.store import base, crimes
from emtag.host.store.base import RECORD_COLUMNS, Device
from emtag.host.store.compact import CompactStore
from emtag.host.store.postgres_schema import MIGRATIONS

MIGRATION_LOCK = 0x656D746167  # pg_advisory_xact_lock key: "emtag"


class PostgresStore(crimes.PostgresCrimes, CompactStore):
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
            # the store's queries are index reads: compiling one (15-20 ms, when the
            # planner's cost estimate passes jit_above_cost, as a batch of crime-mapping
            # trail reads does) costs more than running it
            self.conn.execute("SET jit = off")
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

    # what host/store/compact.py runs its SQL through (`?` placeholders)
    def _x(self, sql, args=()):
        return self.conn.execute(sql.replace("?", "%s"), args)

    def _many(self, sql, rows):
        rows = list(rows)
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)

    def _tx(self):
        # psycopg: a transaction() inside another (a group) is a savepoint
        return self.conn.transaction()

    def device(self, device):
        row = self._q("SELECT public_key FROM devices WHERE device=%s", (device,)).fetchone()
        return bytes(row[0]) if row else None

    def add_device(self, device, public_key, firmware, when):
        self._q(
            "INSERT INTO devices(device, public_key, firmware, first_seen) VALUES (%s,%s,%s,%s)",
            (device, public_key, firmware, when),
        )

    def _insert_records(self, rows):
        cols = RECORD_COLUMNS + ("arrival",)
        (a,) = self._next_arrivals(1)
        with self.conn.cursor() as cur:
            with cur.copy("COPY records (%s) FROM STDIN" % ",".join(cols)) as copy:
                for r in rows:
                    copy.write_row(tuple(r.get(c) for c in RECORD_COLUMNS) + (a,))

    def _next_arrivals(self, k):
        rows = self._q("SELECT nextval('feed_seq') FROM generate_series(1, %s)", (k,)).fetchall()
        return [r[0] for r in rows]

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

    def devices(self):
        rows = self._q(
            "SELECT device, public_key, firmware, first_seen FROM devices ORDER BY device"
        )
        return [Device(d, bytes(k), f, s) for d, k, f, s in rows]

    def _cq(self, sql, args=()):
        return self._q(sql.replace("?", "%s"), args).fetchall()

    def _cw(self, sql, args=()):
        with self.conn.transaction():
            cur = self._q(sql.replace("?", "%s"), args)
            rows = cur.fetchall() if cur.description else []
            return cur.rowcount, rows

    def close(self):
        self.conn.close()
