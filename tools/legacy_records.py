"""The evidence format before issue 14, re-created for `emtag bench records` to measure
against: the same records, as the firmware and store of then would have held them.

Then (git history before the compact format): every record a CBOR map holding its seq and
`prev`, the SHA-256 of the record before (32 bytes); fixes unsigned, alerts and restarts
signed at once, a checkpoint (its own map with the device id, first and last seq, signed)
when 15 records waited or the oldest had waited 10 minutes. On flash an entry was
seq (4) | length (2) | record | CRC-32 (4). On the wire RECORDS [2, [item, ...]] of at most
8 records and 2048 bytes, framed (protocol/frame.py), each answered by an ACK. In the store
one row per record with its bytes, hash and an MQTT outbox row (migrations 1-4 of
host/store/sqlite.py, still the first four of today's).
"""

import hashlib
import os
import sqlite3

import cbor2

from emtag.host import fixcodec
from emtag.host.store import sqlite as store_sqlite
from emtag.protocol import frame
from emtag.protocol import records as R

SEAL_RECORDS = 15
SEAL_S = 600
BATCH, BATCH_BYTES = 8, 2048
_PROTECTED = b"\xa1\x01\x26"
_SIG = b"\x00" * 64  # a signature's size is all that matters here


def _signed(rec, device_id):
    payload = cbor2.dumps(rec, canonical=True)
    return cbor2.dumps(cbor2.CBORTag(18, [_PROTECTED, {4: device_id}, payload, _SIG]))


def decode(rows):
    """Today's stored (seq, type, wire) rows as record maps, checkpoints left out (the old
    format made its own)."""
    out, bodies = [], []
    for seq, kind, wire in rows:
        if kind == R.FIX:
            bodies.append((seq, cbor2.loads(wire)))
            continue
        if kind == R.CHECKPOINT:
            for (s, _), rec in zip(bodies, fixcodec.decode_block([b for _, b in bodies]),
                                   strict=True):  # fmt: skip
                rec[R.K_SEQ] = s
                out.append(rec)
            bodies = []
            continue
        out.append(cbor2.loads(cbor2.loads(wire).value[2]))
    return sorted(out, key=lambda r: r[R.K_SEQ])


def stream(recs, device_id, delivering):
    """The old wire items for these records, checkpoints added by the old policy. Returns
    [(item, is_checkpoint)]."""
    prev = hashlib.sha256(cbor2.dumps(["emtag genesis v1", device_id])).digest()
    out, seq, first, oldest = [], 0, None, None

    def add(rec, signed):
        nonlocal prev, seq
        seq += 1
        rec = dict(rec)
        rec[R.K_SEQ], rec[4] = seq, prev
        payload = cbor2.dumps(rec, canonical=True)
        item = _signed(rec, device_id) if signed else payload
        prev = hashlib.sha256(payload).digest()
        out.append((item, rec[R.K_TYPE] == R.CHECKPOINT))
        return seq

    for rec in recs:
        t = rec.get(R.K_TIME, 0)
        if first is not None and (seq - first + 1 >= SEAL_RECORDS or t - oldest >= SEAL_S):
            add({0: R.CHECKPOINT, 2: t, 3: 0, 40: device_id, 41: first, 42: seq}, True)
            first = None
        signed = rec[R.K_TYPE] != R.FIX
        s = add({k: v for k, v in rec.items() if k != R.K_SEQ}, signed)
        if signed:
            first = None  # a signed record sealed everything before it
        elif first is None:
            first, oldest = s, t
    if first is not None:
        add({0: R.CHECKPOINT, 2: 0, 3: 0, 40: device_id, 41: first, 42: seq}, True)
    return out


def flash_bytes(items):
    return sum(len(w) + 10 for w, _ in items)


def wire_bytes(items, delivering):
    """Framed RECORDS batches and their ACKs: sealed ranges go as they are sealed while the
    link is up (delivering), one backlog in full batches after an outage."""
    groups, cur = [], []
    for w, is_cp in items:
        cur.append(w)
        if is_cp or (delivering and w[0] == 0xD2):
            groups.append(cur)
            cur = []
    if cur:
        groups.append(cur)
    if not delivering:
        groups = [[w for g in groups for w in g]]
    total, seq = 0, 0
    for g in groups:
        i = 0
        while i < len(g):
            batch, size = [], 0
            while (
                i < len(g) and len(batch) < BATCH and (not batch or size + len(g[i]) <= BATCH_BYTES)
            ):
                batch.append(g[i])
                size += len(g[i])
                i += 1
            seq += len(batch)
            total += len(frame.encode(cbor2.dumps([2, batch])))
            total += len(frame.encode(cbor2.dumps([3, seq])))
    return total


def store_bytes(items, device_id, tmp):
    """Bytes the old store took for these records after VACUUM, less an empty store's."""
    path = os.path.join(tmp, "legacy.sqlite")
    db = sqlite3.connect(path)
    for script in store_sqlite.MIGRATIONS[:4]:
        db.executescript(script)
    empty = _size(db)
    device = device_id.hex()
    rows = []
    for n, (w, _) in enumerate(items, 1):
        rec = cbor2.loads(cbor2.loads(w).value[2]) if w[0] == 0xD2 else cbor2.loads(w)
        rows.append((device, n, rec[0], rec.get(2), rec.get(3), rec.get(10), rec.get(11),
                     rec.get(12), rec.get(20), rec.get(21), "valid", "2026-03-02T10:00:00.000Z",
                     w, hashlib.sha256(w).digest(), n))  # fmt: skip
    db.executemany(
        "INSERT INTO records(device, seq, type, t, t_ms, lat_e7, lon_e7, acc_cm, alert, zone, "
        "status, received, cose, hash, sealed_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    db.commit()
    full = _size(db)
    db.close()
    os.remove(path)
    return full - empty


def _size(db):
    """Bytes the database's pages hold after VACUUM (page size less unused space, from
    SQLite's dbstat): what a store grows by per record, without the page granularity of
    a short run's file size."""
    db.commit()
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("VACUUM")
    (used,) = db.execute("SELECT SUM(pgsize - unused) FROM dbstat").fetchone()
    return used
