"""Valid records in the compact layout: the SQL both backends share (host/store/base.py).

A proven block is stored once, as the exact bytes the tag signed (`blocks.wire`: its wire
items concatenated, the record proving them last), with one row of query columns per
record in `proven` (no bytes: a record's item is cut from its block when asked for).
Devices are small integers there (`device_ids`). In SQLite both tables are WITHOUT ROWID,
keyed (dev, last_seq) and (dev, t, seq): a fix costs its wire bytes and a row of about
30 bytes (`emtag bench records`). Records that are not proven (rejected, early alerts) keep
one row each in `records`, as before, refused input the `rejected` table. What leaves the
store (MQTT forwarding, the centre's feed, retention): host/store/outflow.py.

SQL here uses `?` placeholders and only what SQLite and PostgreSQL both understand; a
backend provides _x(sql, args) -> cursor, _many(sql, rows) and _tx() (a transaction).
"""

from emtag.host.store import base
from emtag.host.store.base import Alert, Fix, Record
from emtag.host.store.blockrows import (
    _BLOCK_COLS,
    FIX_COLS,
    PROVEN_COLS,
    Block,
    runs,
    stored_record,
)
from emtag.host.store.outflow import Outflow
from emtag.protocol import records as R


class CompactStore(Outflow, base.Store):
    """Every method that reads or writes valid records. The backend keeps the rest
    (devices, the `records` table of rejected and early records, acknowledgements)."""

    # --- devices as small integers (looked up each time: an id cached from a transaction
    # that was rolled back would point at another device later)
    def _dev(self, device, create=False):
        row = self._x("SELECT dev FROM device_ids WHERE device=?", (device,)).fetchone()
        if row is None and create:
            self._x("INSERT INTO device_ids(device) VALUES (?) ON CONFLICT DO NOTHING", (device,))
            row = self._x("SELECT dev FROM device_ids WHERE device=?", (device,)).fetchone()
            self._x(
                "INSERT INTO fwd_marks(dev, upto) VALUES (?, 0) ON CONFLICT DO NOTHING", (row[0],)
            )
        return row[0] if row else None

    def _device_names(self):
        return dict(self._x("SELECT dev, device FROM device_ids").fetchall())

    # --- writing
    def add_blocks(self, device, blocks, received):
        with self._tx():
            self._add_blocks(device, blocks, received)

    def _add_blocks(self, device, blocks, received):
        # a few statements for the whole call, not a few per block: on PostgreSQL each
        # statement is a round trip
        dev = self._dev(device, create=True)
        if not blocks:
            return
        lo, hi = min(b[-1].seq for b in blocks), max(b[-1].seq for b in blocks)
        have = {
            r[0]
            for r in self._x(
                "SELECT last_seq FROM blocks WHERE dev=? AND last_seq BETWEEN ? AND ?",
                (dev, lo, hi),
            ).fetchall()
        }
        new = []
        for blk in blocks:
            if blk[-1].seq not in have:  # else stored already (a resend, or another bridge)
                have.add(blk[-1].seq)
                new.append(blk)
        if not new:
            return
        rows = []
        for blk, arrival in zip(new, self._next_arrivals(len(new)), strict=True):
            ts = [r.t for r in blk if r.t is not None]
            rows.append((dev, blk[-1].seq, arrival, blk[0].seq, min(ts, default=None),
                         max(ts, default=None), sum(1 for r in blk if r.type == R.FIX),
                         received, b"".join(bytes(r.wire) for r in blk)))  # fmt: skip
        self._many(
            "INSERT INTO blocks(dev, last_seq, arrival, first_seq, t_lo, t_hi, fixes, "
            "received, wire) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
            rows,
        )
        self._many(
            "INSERT INTO proven(%s) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING"
            % PROVEN_COLS,
            [(dev, r.t if r.t is not None else 0, r.seq, r.type, r.t_ms, r.lat_e7, r.lon_e7,
              r.acc_cm, r.alert, r.zone) for blk in new for r in blk],
        )  # fmt: skip
        t_new = [row[4] for row in rows if row[4]]
        if t_new:  # the crime trail index's queue (host/store/trail_index.py)
            self._x("INSERT INTO trail_todo(dev, t_lo) VALUES (?, ?)", (dev, min(t_new)))
        alerts = [(device, r.seq) for blk in new for r in blk if r.type == R.ALERT]
        if alerts:
            self._many(
                "INSERT INTO outbox(device, seq, kind) VALUES (?, ?, 'alert') "
                "ON CONFLICT DO NOTHING",
                alerts,
            )

    def add_records(self, rows):
        valid = [r for r in rows if r.get("status") == base.VALID]
        other = [r for r in rows if r.get("status") != base.VALID]
        with self._tx():
            by_device: dict = {}
            for run in runs(valid):
                by_device.setdefault((run[0]["device"], run[0]["received"]), []).append(
                    [stored_record(r) for r in run]
                )
            for (device, received), blocks in by_device.items():
                self._add_blocks(device, blocks, received)
            if other:
                self._insert_records(other)

    # --- blocks
    def _block(self, dev, seq, wire=True):
        row = self._x(
            "SELECT %s%s FROM blocks WHERE dev=? AND last_seq>=? ORDER BY last_seq LIMIT 1"
            % (_BLOCK_COLS, ", wire" if wire else ""),
            (dev, seq),
        ).fetchone()
        if row is None or row[2] > seq:
            return None
        return Block(row)

    def _newest_block(self, dev, wire=True):
        row = self._x(
            "SELECT %s%s FROM blocks WHERE dev=? ORDER BY last_seq DESC LIMIT 1"
            % (_BLOCK_COLS, ", wire" if wire else ""),
            (dev,),
        ).fetchone()
        return Block(row) if row else None

    def _blocks(self, dev, first_seq, last_seq):
        rows = self._x(
            "SELECT %s, wire FROM blocks WHERE dev=? AND last_seq>=? AND first_seq<=? "
            "ORDER BY last_seq" % _BLOCK_COLS,
            (dev, first_seq, last_seq),
        ).fetchall()
        return [Block(r) for r in rows]

    def _rows_of(self, blk, cols=PROVEN_COLS, extra=""):
        """proven rows of a block, in seq order."""
        if blk.t_lo is None:
            where, args = "", ()
        else:
            where, args = " AND t BETWEEN ? AND ?", (blk.t_lo, blk.t_hi)
        return self._x(
            "SELECT %s FROM proven WHERE dev=?%s AND seq BETWEEN ? AND ?%s ORDER BY seq"
            % (cols, where, extra),
            (blk.dev,) + args + (blk.first, blk.last),
        ).fetchall()

    def block_of(self, device, seq):
        dev = self._dev(device)
        blk = self._block(dev, seq, wire=False) if dev is not None else None
        return (blk.first, blk.last) if blk else None

    def last_valid(self, device):
        dev = self._dev(device)
        blk = self._newest_block(dev) if dev is not None else None
        return (blk.last, blk.item(blk.last)) if blk else (0, None)

    def has_record(self, device, seq, status):
        if status != base.VALID:
            return self._has_other(device, seq, status)
        return self.block_of(device, seq) is not None

    def valid_wire(self, device, seq):
        dev = self._dev(device)
        blk = self._block(dev, seq) if dev is not None else None
        return blk.item(seq) if blk else None

    # --- evidence
    def records(self, device, status=base.VALID):
        if status != base.VALID:
            return self._other_records(device, status)
        dev = self._dev(device)
        if dev is None:
            return []
        rows = {
            r[0]: r
            for r in self._x(
                "SELECT seq, type, t, lat_e7, lon_e7, acc_cm, alert, zone FROM proven WHERE dev=?",
                (dev,),
            )
        }
        out = []
        for blk in self._blocks(dev, 1, 1 << 62):
            for k, item in enumerate(blk.items()):
                r = rows.get(blk.first + k)
                if r is not None:
                    out.append(tuple(r) + (item,))
        return out

    def valid_span(self, device, t_from, t_to):
        dev = self._dev(device)
        if dev is None:
            return None
        lo, hi = self._x(
            "SELECT MIN(seq), MAX(seq) FROM proven WHERE dev=? AND t BETWEEN ? AND ? "
            "AND type IN (1, 2, 3)",
            (dev, t_from, t_to),
        ).fetchone()
        if lo is None:
            return None
        blk = self._block(dev, hi, wire=False)
        return lo, hi, blk.last

    def valid_rows(self, device, first_seq, last_seq):
        dev = self._dev(device)
        if dev is None:
            return []
        out = []
        for blk in self._blocks(dev, first_seq, last_seq):
            meta = {r[0]: r for r in self._rows_of(blk, "seq, type, t")}
            for k, item in enumerate(blk.items()):
                seq = blk.first + k
                if first_seq <= seq <= last_seq and seq in meta:
                    out.append((seq, meta[seq][1], meta[seq][2], item))
        return out

    # --- the centre
    def fixes(self, device, t_from, t_to):
        dev = self._dev(device)
        if dev is None:
            return []
        rows = self._x(
            "SELECT %s FROM proven WHERE dev=? AND t BETWEEN ? AND ? AND lat_e7 IS NOT NULL "
            "ORDER BY t, t_ms, seq" % FIX_COLS,
            (dev, t_from, t_to),
        )
        return [Fix._make(r) for r in rows]

    def fix_before(self, device, t, t_ms=999):
        dev = self._dev(device)
        row = (
            dev is not None
            and self._x(
                "SELECT %s FROM proven WHERE dev=? AND t <= ? AND lat_e7 IS NOT NULL "
                "AND (t < ? OR COALESCE(t_ms, 0) <= ?) ORDER BY t DESC, t_ms DESC, seq DESC LIMIT 1"
                % FIX_COLS,
                (dev, t, t, t_ms),
            ).fetchone()
        )
        return Fix._make(row) if row else None

    def fix_after(self, device, t, t_ms=0):
        dev = self._dev(device)
        row = (
            dev is not None
            and self._x(
                "SELECT %s FROM proven WHERE dev=? AND t >= ? AND lat_e7 IS NOT NULL "
                "AND (t > ? OR COALESCE(t_ms, 0) > ?) ORDER BY t, t_ms, seq LIMIT 1" % FIX_COLS,
                (dev, t, t, t_ms),
            ).fetchone()
        )
        return Fix._make(row) if row else None

    def _records_of(self, dev, rows):
        """Record tuples for proven rows (seq, type, t, t_ms, lat, lon, acc, alert, zone) of
        one device, with their block's bridge time and their own wire item."""
        out, blk = [], None
        for r in rows:
            if blk is None or not blk.first <= r[0] <= blk.last:
                blk = self._block(dev, r[0])
                items = blk.items()
            out.append(Record(*r, base.VALID, blk.received, items[r[0] - blk.first]))
        return out

    def _proven_record(self, device, seq):
        dev = self._dev(device)
        blk = self._block(dev, seq, wire=False) if dev is not None else None
        if blk is None:
            return None
        rows = [r for r in self._rows_of(blk, "seq, type, t, t_ms, lat_e7, lon_e7, acc_cm, "
                                         "alert, zone") if r[0] == seq]  # fmt: skip
        return self._records_of(dev, rows)[0] if rows else None

    def records_between(self, device, t_from, t_to, types=(2, 3, 4)):
        dev = self._dev(device)
        if dev is None:
            return []
        rows = self._x(
            "SELECT seq, type, t, t_ms, lat_e7, lon_e7, acc_cm, alert, zone FROM proven "
            "WHERE dev=? AND t BETWEEN ? AND ? AND type IN (%s) ORDER BY seq"
            % ",".join("%d" % int(x) for x in types),
            (dev, t_from, t_to),
        ).fetchall()
        return self._records_of(dev, rows)

    def newest_record(self, device):
        dev = self._dev(device)
        blk = self._newest_block(dev, wire=False) if dev is not None else None
        return self._proven_record(device, blk.last) if blk else None

    def alerts(self, device=None, t_from=None, t_to=None, unacked_only=False, limit=None):
        # valid alerts (proven), then early ones whose chain copy has not arrived: the same
        # alert once either way
        conds, args = [], []
        for cond, value in (("device = ?", device), ("t >= ?", t_from), ("t <= ?", t_to)):
            if value is not None:
                conds.append(cond)
                args.append(value)
        if unacked_only:
            conds.append("acked_at IS NULL")
        tail = " ORDER BY t DESC, device, seq DESC"
        if limit is not None:
            tail += " LIMIT %d" % int(limit)
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        rows = self._x(
            "SELECT * FROM (SELECT d.device, p.seq, p.t, p.t_ms, p.alert, p.zone, p.lat_e7, "
            "p.lon_e7, p.acc_cm, 'valid' AS status, (SELECT b.received FROM blocks b "
            "WHERE b.dev = p.dev AND b.last_seq >= p.seq ORDER BY b.last_seq LIMIT 1) AS "
            "received, a.acked_by, a.acked_at, a.note FROM proven p "
            "JOIN device_ids d ON d.dev = p.dev "
            "LEFT JOIN alert_acks a ON a.device = d.device AND a.seq = p.seq WHERE p.type = 2 "
            "UNION ALL SELECT r.device, r.seq, r.t, r.t_ms, r.alert, r.zone, r.lat_e7, "
            "r.lon_e7, r.acc_cm, r.status, r.received, a.acked_by, a.acked_at, a.note "
            "FROM records r LEFT JOIN alert_acks a ON a.device = r.device AND a.seq = r.seq "
            "WHERE r.type = 2 AND r.status = 'early' AND NOT EXISTS (SELECT 1 FROM proven v "
            "JOIN device_ids e ON e.dev = v.dev WHERE e.device = r.device AND v.type = 2 "
            "AND v.seq = r.seq)) q" + where + tail,
            args,
        ).fetchall()
        return [Alert._make(r) for r in rows]

    def _is_alert(self, device, seq):
        dev = self._dev(device)
        if (
            dev is not None
            and self._x(
                "SELECT 1 FROM proven WHERE dev=? AND type=2 AND seq=?", (dev, seq)
            ).fetchone()
        ):
            return True
        return self._has_other(device, seq, base.EARLY, alert=True)

    def acknowledge_alert(self, device, seq, by, when, note=""):
        with self._tx():
            if not self._is_alert(device, seq):
                return False
            cur = self._x(
                "INSERT INTO alert_acks(device, seq, acked_by, acked_at, note) "
                "VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                (device, seq, by, when, note),
            )
            return cur.rowcount == 1

    def latest_alerts(self):
        newest: dict = {}
        for a in self.alerts():
            key = (a.device, a.alert, a.zone)
            if key not in newest or a.seq > newest[key][3]:
                newest[key] = (a.device, a.alert, a.zone, a.seq, a.t)
        return list(newest.values())

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
            r = self.newest_record(d.device)
            if r is not None:
                out[d.device] = (r.t, r.received)
        return out

    def unacked_counts(self):
        seqs: dict = {}
        for a in self.alerts(unacked_only=True):
            seqs.setdefault(a.device, set()).add(a.seq)
        return {d: len(s) for d, s in seqs.items()}

    def _fixes_in_box(self, t_from, t_to, lo_lat, hi_lat, lo_lon, hi_lon):
        names = self._device_names()
        rows = self._x(
            "SELECT dev, %s FROM proven WHERE t BETWEEN ? AND ? AND lat_e7 BETWEEN ? AND ? "
            "AND lon_e7 BETWEEN ? AND ?" % FIX_COLS,
            (t_from, t_to, lo_lat, hi_lat, lo_lon, hi_lon),
        ).fetchall()
        out = [(names[r[0]], Fix._make(r[1:])) for r in rows]
        out.sort(key=lambda x: (x[1].t, x[1].t_ms or 0, x[0], x[1].seq))
        return out

    # --- the `records` table: rejected records and early alerts
    def _insert_records(self, rows):
        raise NotImplementedError

    def _next_arrivals(self, k):
        """The next k values of the store's arrival counter, in order (in the open
        transaction)."""
        raise NotImplementedError

    def _other_records(self, device, status):
        return [
            tuple(r[:-1]) + (bytes(r[-1]),)
            for r in self._x(
                "SELECT seq, type, t, lat_e7, lon_e7, acc_cm, alert, zone, cose FROM records "
                "WHERE device=? AND status=? ORDER BY seq",
                (device, status),
            )
        ]

    def _has_other(self, device, seq, status, alert=False):
        return (
            self._x(
                "SELECT 1 FROM records WHERE device=? AND seq=? AND status=?%s LIMIT 1"
                % (" AND type=2" if alert else ""),
                (device, seq, status),
            ).fetchone()
            is not None
        )

    def _other_row(self, record_id):
        row = self._x(
            "SELECT t, t_ms, lat_e7, lon_e7, acc_cm, alert, zone, status, received, cose "
            "FROM records WHERE id=?",
            (record_id,),
        ).fetchone()
        return row and tuple(row[:-1]) + (bytes(row[-1]),)

    def _acks(self):
        return {
            (d, s): (by, at, note)
            for d, s, by, at, note in self._x(
                "SELECT device, seq, acked_by, acked_at, note FROM alert_acks"
            ).fetchall()
        }

    def rejected_count(self, device, t_from, t_to):
        return self._x(
            "SELECT COUNT(*) FROM records WHERE device=? AND status='rejected' "
            "AND t BETWEEN ? AND ?",
            (device, t_from, t_to),
        ).fetchone()[0]

    def _delete_other_before(self, cutoff_t, cutoff_iso):
        """Delete rejected and early rows older than the cutoff with their outbox rows:
        (records, outbox rows) deleted."""
        old = "COALESCE(t < ?, received < ?)"
        n_out = self._x(
            "DELETE FROM outbox WHERE record_id IN (SELECT id FROM records WHERE %s)" % old,
            (cutoff_t, cutoff_iso),
        ).rowcount
        n_rec = self._x("DELETE FROM records WHERE " + old, (cutoff_t, cutoff_iso)).rowcount
        return n_rec, n_out
