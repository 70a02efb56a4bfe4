"""What leaves the store's compact layout (host/store/compact.py): MQTT forwarding, the
centre's feed, retention. A mixin of CompactStore, over its SQL helpers.

Forwarding: an alert gets an `outbox` row; a fix does not. Each tag's fixes are a stream in
seq order: `fwd_marks.upto` says every fix up to it was forwarded, `fwd_done` holds the
ones forwarded above it (out of order), which the mark absorbs as it advances. A fix's
outbox id is negative: -(dev << 32 | seq).

The feed: one arrival counter orders blocks and early records as they are stored; a proven
record's feed id is its block's arrival * FEED_SPAN + its place in the block.
"""

from emtag.host.store import base
from emtag.host.store.blockrows import _BLOCK_COLS, _ID_SHIFT, FEED_SPAN, FIX_COLS, Block, fix_id
from emtag.host.store.centre_tables import FeedRow
from emtag.protocol import records as R


class Outflow:
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

    # --- the centre's feed (centre/feed.py): what arrived, in the order it was stored
    def feed(self, after_id, limit=1000):
        """Valid and early fixes and alerts stored after feed id after_id, in id order. A
        proven record's id is its block's arrival * FEED_SPAN + its place in the block; an
        early alert's is its own arrival * FEED_SPAN."""
        a0 = after_id // FEED_SPAN
        names = self._device_names()
        out = []
        blocks = self._x(
            "SELECT arrival, %s FROM blocks WHERE arrival >= ? ORDER BY arrival LIMIT ?"
            % _BLOCK_COLS,
            (a0, int(limit)),
        ).fetchall()
        for row in blocks:
            arrival, blk = row[0], Block(row[1:])
            for seq, kind, t, t_ms, lat, lon, acc, alert, zone in self._rows_of(
                blk,
                "seq, type, t, t_ms, lat_e7, lon_e7, acc_cm, alert, zone",
                " AND type IN (1, 2)",
            ):
                fid = arrival * FEED_SPAN + seq - blk.first
                if fid > after_id:
                    out.append(FeedRow(fid, names[blk.dev], seq, kind, t, t_ms, lat, lon, acc,
                                       alert, zone, base.VALID))  # fmt: skip
        for r in self._x(
            "SELECT arrival, device, seq, type, t, t_ms, lat_e7, lon_e7, acc_cm, alert, zone, "
            "status FROM records WHERE arrival >= ? AND type IN (1, 2) AND status IN "
            "('valid', 'early') AND seq IS NOT NULL ORDER BY arrival LIMIT ?",
            (a0, int(limit)),
        ).fetchall():
            fid = r[0] * FEED_SPAN
            if fid > after_id:
                out.append(FeedRow(fid, *r[1:]))
        out.sort(key=lambda f: f.id)
        return out[: int(limit)]

    def feed_head(self):
        """The highest feed id stored so far (0 for none)."""
        (a,) = self._x(
            "SELECT MAX(a) FROM (SELECT MAX(arrival) AS a FROM blocks "
            "UNION ALL SELECT MAX(arrival) AS a FROM records) q"
        ).fetchone()
        return a * FEED_SPAN + FEED_SPAN - 1 if a else 0

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
