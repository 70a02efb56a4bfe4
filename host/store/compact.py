"""Valid records in the compact layout: the SQL both backends share (host/store/base.py).

A proven block is stored once, as the exact bytes the tag signed (`blocks.wire`: its wire
items concatenated, the record proving them last), with one row of query columns per
record in `proven` (no bytes: a record's item is cut from its block when asked for).
Devices are small integers there (`device_ids`). In SQLite both tables are WITHOUT ROWID,
keyed (dev, last_seq) and (dev, t, seq): a fix costs its wire bytes and a row of about
30 bytes (`emtag bench records`). Records that are not proven (rejected, early alerts) keep
one row each in `records`, as before.

Forwarding: an alert gets an `outbox` row; a fix does not. Each tag's fixes are a stream in
seq order: `fwd_marks.upto` says every fix up to it was forwarded, `fwd_done` holds the
ones forwarded above it (out of order), which the mark absorbs as it advances. A fix's
outbox id is negative: -(dev << 32 | seq).

SQL here uses `?` placeholders and only what SQLite and PostgreSQL both understand; a
backend provides _x(sql, args) -> cursor, _many(sql, rows) and _tx() (a transaction).
"""

from emtag.host.store import base
from emtag.host.store.base import Alert, Fix, Record, StoredRecord
from emtag.protocol import records as R

FIX_COLS = "seq, t, t_ms, lat_e7, lon_e7, acc_cm"
PROVEN_COLS = "dev, t, seq, type, t_ms, lat_e7, lon_e7, acc_cm, alert, zone"
_ID_SHIFT = 32


def split_items(wire):
    """The wire items (CBOR data items) of a stored block, by their headers alone."""
    wire = bytes(wire)
    out, i = [], 0
    while i < len(wire):
        j = _skip(wire, i, 0)
        out.append(wire[i:j])
        i = j
    return out


def _skip(b, i, depth):
    if depth > 16 or i >= len(b):
        raise ValueError("stored block is not a CBOR sequence")
    ib = b[i]
    major, ai = ib >> 5, ib & 31
    i += 1
    if ai < 24:
        val = ai
    elif ai <= 27:
        n = 1 << (ai - 24)
        val = int.from_bytes(b[i : i + n], "big")
        i += n
    else:
        raise ValueError("stored block is not a CBOR sequence")
    if major in (2, 3):
        i += val
    elif major == 4:
        for _ in range(val):
            i = _skip(b, i, depth + 1)
    elif major == 5:
        for _ in range(2 * val):
            i = _skip(b, i, depth + 1)
    elif major == 6:
        i = _skip(b, i, depth + 1)
    if i > len(b):
        raise ValueError("stored block ends inside an item")
    return i


def fix_id(dev, seq):
    return -((dev << _ID_SHIFT) | seq)


def _one_item(wire):
    try:
        return _skip(bytes(wire), 0, 0) == len(wire)
    except (ValueError, IndexError):
        return False


def runs(rows):
    """Valid rows (dicts) as runs of consecutive seqs per device and bridge time, each
    ending at a row that seals itself (sealed_by None or its own seq). A row whose bytes are
    not one CBOR item is a run of its own (so the bytes come back as they went in)."""
    out, cur = [], []
    for r in sorted(rows, key=lambda r: (r["device"], r["seq"])):
        if cur:
            p = cur[-1]
            sealed = p.get("sealed_by") is None or p["sealed_by"] <= p["seq"]
            sealed = sealed or not _one_item(p["cose"]) or not _one_item(r["cose"])
            if (
                sealed
                or r["device"] != p["device"]
                or r["seq"] != p["seq"] + 1
                or r["received"] != p["received"]
            ):
                out.append(cur)
                cur = []
        cur.append(r)
    if cur:
        out.append(cur)
    return out


def stored_record(r):
    return StoredRecord(
        r["seq"], r["type"], r.get("t"), r.get("t_ms"), r.get("lat_e7"), r.get("lon_e7"),
        r.get("acc_cm"), r.get("alert"), r.get("zone"), bytes(r["cose"]),
    )  # fmt: skip


class Block:
    """A stored block row."""

    __slots__ = ("dev", "last", "first", "t_lo", "t_hi", "fixes", "received", "wire")

    def __init__(self, row):
        self.dev, self.last, self.first, self.t_lo, self.t_hi, self.fixes = row[:6]
        self.received = row[6]
        self.wire = bytes(row[7]) if len(row) > 7 and row[7] is not None else None

    def items(self):
        """Its records' wire items (a block of one is its bytes, whatever they are)."""
        return [self.wire] if self.first == self.last else split_items(self.wire)

    def item(self, seq):
        return self.items()[seq - self.first]


_BLOCK_COLS = "dev, last_seq, first_seq, t_lo, t_hi, fixes, received"


class CompactStore(base.Store):
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
        dev = self._dev(device, create=True)
        for blk in blocks:
            ts = [r.t for r in blk if r.t is not None]
            cur = self._x(
                "INSERT INTO blocks(dev, last_seq, first_seq, t_lo, t_hi, fixes, received, wire) "
                "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                (dev, blk[-1].seq, blk[0].seq, min(ts, default=None), max(ts, default=None),
                 sum(1 for r in blk if r.type == R.FIX), received,
                 b"".join(bytes(r.wire) for r in blk)),
            )  # fmt: skip
            if cur.rowcount == 0:
                continue  # stored already (a resend, or another bridge)
            self._many(
                "INSERT INTO proven(%s) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING"
                % PROVEN_COLS,
                [(dev, r.t if r.t is not None else 0, r.seq, r.type, r.t_ms, r.lat_e7, r.lon_e7,
                  r.acc_cm, r.alert, r.zone) for r in blk],
            )  # fmt: skip
            alerts = [(device, r.seq) for r in blk if r.type == R.ALERT]
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

    # --- MQTT forwarding
    def outbox_pending(self, limit):
        out = []
        for oid, device, seq, kind, record_id in self._x(
            "SELECT id, device, seq, kind, record_id FROM outbox WHERE forwarded IS NULL "
            "ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall():
            if record_id is not None:
                row = self._other_row(record_id)
            else:
                rec = self._proven_record(device, seq)
                row = rec and tuple(rec[2:10]) + (rec.received, rec.wire)
            if row:
                out.append((oid, device, seq, kind) + tuple(row))
        if len(out) < limit:
            out += self._pending_fixes(limit - len(out))
        return out

    def _marks(self):
        return dict(self._x("SELECT dev, upto FROM fwd_marks").fetchall())

    def _pending_fixes(self, limit):
        out = []
        names = self._device_names()
        for dev, upto in sorted(self._marks().items()):
            done = {
                s for (s,) in self._x("SELECT seq FROM fwd_done WHERE dev=?", (dev,)).fetchall()
            }
            while len(out) < limit:
                rows = self._x(
                    "SELECT %s, wire FROM blocks WHERE dev=? AND last_seq>? AND fixes>0 "
                    "ORDER BY last_seq LIMIT 8" % _BLOCK_COLS,
                    (dev, upto),
                ).fetchall()
                if not rows:
                    break
                for blk in map(Block, rows):
                    items = blk.items()
                    for seq, t, t_ms, lat, lon, acc in self._rows_of(blk, FIX_COLS, " AND type=1"):
                        if seq > upto and seq not in done and len(out) < limit:
                            out.append((fix_id(dev, seq), names[dev], seq, "fix", t, t_ms, lat,
                                        lon, acc, None, None, base.VALID, blk.received,
                                        items[seq - blk.first]))  # fmt: skip
                    upto = blk.last
        return out

    def mark_forwarded(self, ids, when):
        alerts = [(when, i) for i in ids if i >= 0]
        fixes = [((-i) >> _ID_SHIFT, (-i) & ((1 << _ID_SHIFT) - 1)) for i in ids if i < 0]
        with self._tx():
            if alerts:
                self._many("UPDATE outbox SET forwarded=? WHERE id=?", alerts)
            if fixes:
                self._many(
                    "INSERT INTO fwd_done(dev, seq) VALUES (?,?) ON CONFLICT DO NOTHING", fixes
                )
                for dev in sorted({d for d, _ in fixes}):
                    self._advance_mark(dev)

    def _advance_mark(self, dev):
        """Move the device's mark over the fixes forwarded in a row above it."""
        (upto,) = self._x("SELECT upto FROM fwd_marks WHERE dev=?", (dev,)).fetchone()
        done = {s for (s,) in self._x("SELECT seq FROM fwd_done WHERE dev=?", (dev,)).fetchall()}
        top, new = max(done, default=0), upto
        while new < top:
            blk = self._block(dev, new + 1, wire=False)
            if blk is None:
                break
            fixes = [s for (s,) in self._rows_of(blk, "seq", " AND type=1") if s > new]
            stop = next((s for s in fixes if s not in done), None)
            if stop is not None:
                new = stop - 1
                break
            new = blk.last
        if new > upto:
            self._x("UPDATE fwd_marks SET upto=? WHERE dev=?", (new, dev))
            self._x("DELETE FROM fwd_done WHERE dev=? AND seq<=?", (dev, new))

    def outbox_backlog(self):
        (n,) = self._x("SELECT COUNT(*) FROM outbox WHERE forwarded IS NULL").fetchone()
        for dev, upto in self._marks().items():
            (whole,) = self._x(
                "SELECT COALESCE(SUM(fixes), 0) FROM blocks WHERE dev=? AND first_seq>?",
                (dev, upto),
            ).fetchone()
            n += whole
            blk = self._block(dev, upto, wire=False) if upto else None
            if blk is not None and blk.last > upto:
                n += sum(1 for (s,) in self._rows_of(blk, "seq", " AND type=1") if s > upto)
        (done,) = self._x("SELECT COUNT(*) FROM fwd_done").fetchone()
        return n - done

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

    # --- retention
    def delete_before(self, cutoff_t, policy, when):
        cutoff_iso = base.iso_utc(cutoff_t)
        with self._tx():
            n_rec = n_out = 0
            names = self._device_names()
            marks = self._marks()
            for dev, device in names.items():
                newest = self._newest_block(dev, wire=False)
                doomed = [
                    Block(r)
                    for r in self._x(
                        "SELECT %s FROM blocks WHERE dev=? AND last_seq<? "
                        "AND COALESCE(t_hi < ?, received < ?) ORDER BY last_seq" % _BLOCK_COLS,
                        (dev, newest.last if newest else 0, cutoff_t, cutoff_iso),
                    ).fetchall()
                ]
                upto = marks.get(dev, 0)
                done = {
                    s for (s,) in self._x("SELECT seq FROM fwd_done WHERE dev=?", (dev,)).fetchall()
                }
                for blk in doomed:
                    rows = self._rows_of(blk, "seq, type")
                    n_rec += len(rows)
                    n_out += sum(1 for s, ty in rows if ty == R.FIX and s > upto and s not in done)
                    alerts = [(device, s) for s, ty in rows if ty == R.ALERT]
                    if alerts:
                        (before,) = self._x(
                            "SELECT COUNT(*) FROM outbox WHERE device=? AND record_id IS NULL "
                            "AND seq BETWEEN ? AND ?",
                            (device, blk.first, blk.last),
                        ).fetchone()
                        self._x(
                            "DELETE FROM outbox WHERE device=? AND record_id IS NULL "
                            "AND seq BETWEEN ? AND ?",
                            (device, blk.first, blk.last),
                        )
                        n_out += before
                    within = "" if blk.t_lo is None else " AND t BETWEEN %d AND %d" % (
                        blk.t_lo, blk.t_hi)  # fmt: skip
                    self._x(
                        "DELETE FROM proven WHERE dev=? AND seq BETWEEN ? AND ?" + within,
                        (dev, blk.first, blk.last),
                    )
                    self._x("DELETE FROM blocks WHERE dev=? AND last_seq=?", (dev, blk.last))
                if doomed:
                    # the mark moves over what is gone, up to the first block that stays
                    row = self._x(
                        "SELECT MIN(first_seq) FROM blocks WHERE dev=? AND last_seq>?", (dev, upto)
                    ).fetchone()
                    new = max(upto, (row[0] - 1) if row and row[0] else doomed[-1].last)
                    if new > upto:
                        self._x("UPDATE fwd_marks SET upto=? WHERE dev=?", (new, dev))
                        self._x("DELETE FROM fwd_done WHERE dev=? AND seq<=?", (dev, new))
            o_rec, o_out = self._delete_other_before(cutoff_t, cutoff_iso)
            n_rec += o_rec
            n_out += o_out
            alive = {(a.device, a.seq) for a in self.alerts()}
            gone = [k for k in self._acks() if k not in alive]
            self._many("DELETE FROM alert_acks WHERE device=? AND seq=?", gone)
            run = base.RetentionRun(when, cutoff_t, policy, n_rec, n_out, len(gone))
            self._x(
                "INSERT INTO retention_log(run_at, cutoff_t, policy, records, outbox, acks) "
                "VALUES (?,?,?,?,?,?)",
                tuple(run),
            )
        return run

    def retention_runs(self):
        rows = self._x(
            "SELECT run_at, cutoff_t, policy, records, outbox, acks FROM retention_log ORDER BY id"
        )
        return [base.RetentionRun._make(r) for r in rows]

    # --- the `records` table: rejected records and early alerts
    def _insert_records(self, rows):
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
