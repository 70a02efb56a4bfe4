"""A store written by emtag before compact evidence (SQLite schema 7, PostgreSQL 5: every
record a row of `records`, the outbox filled by triggers) opened by this emtag: the upgrade
keeps every valid record with its exact bytes, the early alert and the rejected input
where they were, what was forwarded as forwarded and what was not still to go, the crime
trail index queued, and the store goes on taking blocks."""

import sqlite3

import pytest
from test_store_backends import D1, T0, row

from emtag.host.store import open_store, postgres_schema
from emtag.host.store import sqlite as sqlite_backend
from emtag.host.store.base import StoredRecord

COLS = ("device", "seq", "type", "t", "t_ms", "lat_e7", "lon_e7", "acc_cm", "alert", "zone",
        "status", "received", "cose", "sealed_by")  # fmt: skip


def old_rows():
    rows = [row(D1, i + 1, T0 + 60 * i, lat=534631000 + 100 * i) for i in range(20)]
    rows[4] = row(D1, 5, T0 + 240, kind=2, alert="exclusion_breach", zone="victim-home")
    rows[9] = row(D1, 10, T0 + 540, kind=4)
    rows[19] = row(D1, 20, T0 + 1140, kind=4)
    rows.append(row(D1, 23, T0 + 1320, kind=2, alert="strap_tamper", status="early"))
    rows.append(row(D1, 21, T0 + 1200, status="rejected"))
    return rows


INSERT = "INSERT INTO records(%s) VALUES (%s)" % (",".join(COLS), ",".join(["?"] * len(COLS)))
DEVICE = "INSERT INTO devices VALUES (?, ?, 'fw', '2026-03-02T08:00:00.000Z')"
# the forwarder had sent the first 12 fixes and alerts
SENT = "UPDATE outbox SET forwarded = 'then' WHERE seq <= 12 AND kind IN ('fix', 'alert')"


def old_sqlite(path):
    """SQLite schema 7 with one tag's records written as that emtag wrote them."""
    db = sqlite3.connect(path)
    for i, sql in enumerate(sqlite_backend.MIGRATIONS[:7]):
        db.executescript(sql)
        db.execute("PRAGMA user_version=%d" % (i + 1))
    db.execute(DEVICE, (D1, b"\x04" + b"1" * 64))
    for r in old_rows():
        db.execute(INSERT, tuple(r.get(c) for c in COLS))
    db.execute(SENT)
    db.commit()
    db.close()
    return path


def old_postgres(url):
    """PostgreSQL schema 5 (SQLite 7's twin), the same records."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE emtag_schema (version INTEGER NOT NULL)")
        c.execute("INSERT INTO emtag_schema VALUES (5)")
        for sql in postgres_schema.MIGRATIONS[:5]:
            c.execute(sql)
        c.execute(DEVICE.replace("?", "%s"), (D1, b"\x04" + b"1" * 64))
        for r in old_rows():
            c.execute(INSERT.replace("?", "%s"), tuple(r.get(c) for c in COLS))
        c.execute(SENT)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def old_store(request, tmp_path):
    if request.param == "sqlite":
        return old_sqlite(str(tmp_path / "old.sqlite"))
    return old_postgres(request.getfixturevalue("pg_server").new_database())


def test_a_store_from_before_compact_evidence_keeps_everything(old_store):
    valid = [r for r in old_rows() if r["status"] == "valid"]
    with open_store(old_store) as st:
        got = st.records(D1)
        assert [r[0] for r in got] == [r["seq"] for r in valid]
        assert all(g[-1] == r["cose"] for g, r in zip(got, valid, strict=True))  # exact bytes
        assert st.valid_wire(D1, 7) == valid[6]["cose"]
        assert [f.seq for f in st.fixes(D1, T0, T0 + 3600)] == [
            r["seq"] for r in valid if r["lat_e7"] is not None
        ]
        alerts = {(a.seq, a.status) for a in st.alerts(device=D1)}
        assert alerts == {(5, "valid"), (23, "early")}
        assert [r[0] for r in st.records(D1, "rejected")] == [21]
        assert st.last_valid(D1)[0] == 20
        # not yet forwarded: the fixes and alerts after seq 12, and the early alert
        pending = st.outbox_pending(100)
        assert sorted(p[2] for p in pending) == [13, 14, 15, 16, 17, 18, 19, 23]
        assert st.trail_index_refresh() > 0 and D1 in st.trail_extents()
        # and it goes on: the next block
        blk = [StoredRecord(21 + i, 1, T0 + 1200 + 60 * i, 0, 534633000, -22913000, 500, None,
                            None, b"\x4a" + bytes(10)) for i in range(2)]  # fmt: skip
        blk.append(StoredRecord(23, 4, T0 + 1320, 0, None, None, None, None, None, b"\x41\x00"))
        st.add_blocks(D1, [blk], "2026-03-02T10:00:00.000Z")
        assert st.last_valid(D1)[0] == 23
        assert [a.status for a in st.alerts(device=D1) if a.seq == 23] == ["early"]
