"""The store interface on both backends (SQLite and a real PostgreSQL): the bridge's writes
from a real tag's upload, every query the centre makes, alert acknowledgement, retention,
and the refusals (not emtag's store, an empty database, a missing file) that change
nothing. The same data loaded into both must give the same answers."""

import os
import socket
import sqlite3

import cbor2
import pytest
from bridgeproc import BridgeProc
from greet import greet
from sftag import T0, SocketLink, Tag, free_port

from emtag.cli.main import main as cli_main
from emtag.host import bridge, geo
from emtag.host.store import StoreError, open_store
from emtag.protocol import frame
from emtag.protocol import messages as m

D1, D2 = "a1" * 8, "b2" * 8


def row(device, seq, t, kind=1, lat=534631000, lon=-22913000, acc=500, alert=None, zone=None,
        status="valid", t_ms=0, received=None):  # fmt: skip
    has_pos = kind in (1, 2) and lat is not None
    return {
        "device": device, "seq": seq, "type": kind, "t": t, "t_ms": t_ms,
        "lat_e7": lat if has_pos else None, "lon_e7": lon if has_pos else None,
        "acc_cm": acc if has_pos else None, "alert": alert, "zone": zone, "status": status,
        "received": received or "2026-03-02T09:00:00.000Z", "cose": bytes([seq % 256, 1, 2]),
        "hash": None, "sealed_by": seq,
    }  # fmt: skip


def load_sample(s):
    """Two tags: D1 a fix a minute for an hour with alerts, a restart and a checkpoint; D2 a
    few fixes near D1's."""
    s.add_device(D1, b"\x04" + b"1" * 64, "fw1", "2026-03-02T08:00:00.000Z")
    s.add_device(D2, b"\x04" + b"2" * 64, "fw2", "2026-03-02T08:30:00.000Z")
    rows = [row(D1, i + 1, T0 + 60 * i, lat=534631000 + 100 * i) for i in range(60)]
    rows[10] = row(D1, 11, T0 + 600, kind=2, alert="exclusion_breach", zone="victim-home")
    rows[20] = row(D1, 21, T0 + 1200, kind=2, alert="exclusion_clear", zone="victim-home")
    rows[30] = row(D1, 31, T0 + 1800, kind=2, alert="curfew_breach", zone="approved-address")
    rows[40] = row(D1, 41, T0 + 2400, kind=2, alert="battery_low", lat=None)
    rows[45] = row(D1, 46, T0 + 2700, kind=3)
    rows[50] = row(D1, 51, T0 + 3000, kind=4)
    s.add_records(rows)
    s.add_records([row(D2, i + 1, T0 + 120 * i, lat=534631500, t_ms=250 * i) for i in range(5)])


def test_a_real_tags_upload_through_the_bridge_session(st):
    """The bridge's Session on each backend: verified, stored, the outbox filled, and the
    chain resumed from what is stored by a second session."""
    tag = Tag(seed=3)
    tag.add(40, alert_every=25)
    events = []
    s = bridge.Session(st, lambda k, **f: events.append(k), lambda: "2026-03-02T10:00:00.000Z")

    def send(sess, msg):
        out = sess.receive(frame.encode(cbor2.dumps(msg)))
        return [cbor2.loads(x) for x in frame.Deframer().feed(out)]

    assert greet(s, tag.signer, tag.hello) == [[m.ACK, 0]]
    items = [w for _, w in tag.log.read_from(1, 200)]
    for i in range(0, len(items), 8):
        send(s, [m.RECORDS, items[i : i + 8]])
    assert [r[0] for r in st.records(tag.device)] == list(range(1, tag.last_seq + 1))
    assert [bytes(r[-1]) for r in st.records(tag.device)] == items
    assert st.device(tag.device) == tag.hello[m.H_PUBKEY]
    assert st.last_valid(tag.device) == (tag.last_seq, items[-1])
    fixes = st.fixes(tag.device, 0, 2**40)
    assert len(fixes) == 40 + len(tag.alerts)  # every fix, and the fix each alert carries
    assert [a.seq for a in st.alerts(tag.device)] == sorted(tag.alerts, reverse=True)
    pending = st.outbox_pending(1000)
    assert pending[0][3] == "alert" and len(pending) == 40 + len(tag.alerts)
    st.mark_forwarded([p[0] for p in pending[:5]], "2026-03-02T10:00:01.000Z")
    assert st.outbox_backlog() == len(pending) - 5
    again = bridge.Session(st, lambda k, **f: None, lambda: "T")
    assert greet(again, tag.signer, tag.hello) == [[m.ACK, tag.last_seq]]


def test_window_queries(st):
    load_sample(st)
    fixes = st.fixes(D1, T0 + 60, T0 + 300)
    assert [f.seq for f in fixes] == [2, 3, 4, 5, 6]
    assert fixes[0].lat_e7 == 534631100 and fixes[0].acc_cm == 500
    # positions include the fix an alert carries, never an alert without one
    seqs = [f.seq for f in st.fixes(D1, 0, 2**40)]
    assert 11 in seqs and 41 not in seqs and 46 not in seqs and 51 not in seqs and 70 not in seqs
    assert st.fix_before(D1, T0 + 90).seq == 2
    assert st.fix_after(D1, T0 + 90).seq == 3
    assert st.fix_before(D1, T0 + 120, 0).seq == 3  # at exactly t
    assert st.fix_after(D1, T0 + 120, 0).seq == 4  # strictly after
    assert st.fix_before(D1, T0 - 1) is None and st.fix_after(D1, T0 + 99999) is None
    # milliseconds count: D2 has fixes at T0+120*i + 250*i ms
    assert st.fix_before(D2, T0 + 240, 400).seq == 2 and st.fix_before(D2, T0 + 240, 500).seq == 3
    kinds = [(r.seq, r.type) for r in st.records_between(D1, T0, T0 + 3600)]
    assert kinds == [(11, 2), (21, 2), (31, 2), (41, 2), (46, 3), (51, 4)]
    assert st.newest_record(D1).seq == 60
    assert st.valid_span(D1, T0 + 60, T0 + 120) == (2, 3, 3)
    assert [r[0] for r in st.valid_rows(D1, 5, 8)] == [5, 6, 7, 8]
    # rejected input: apart from the evidence (no query above sees seq 70), bounded
    assert st.records(D1, "rejected") == []
    assert st.rejected(D1) == []
    st.add_rejected(D1, [(70, "modified: signature", b"\xd2xx"), (None, "bad", b"")], "T", "p")
    assert st.rejected(D1) == [(70, "modified: signature", b"\xd2xx"), (None, "bad", b"")]


def test_devices_alert_queue_and_status(st):
    load_sample(st)
    assert [d.device for d in st.devices()] == [D1, D2]
    assert st.resolve_device("A1A1") == D1
    for bad in ("", "zz", "c3", "a1b"):
        with pytest.raises(StoreError):
            st.resolve_device(bad)
    queue = st.alerts()
    assert [a.seq for a in queue] == [41, 31, 21, 11]
    assert all(a.acked_at is None for a in queue)
    assert st.acknowledge_alert(D1, 31, "officer-7", "2026-03-02T11:00:00Z", "called him")
    assert not st.acknowledge_alert(D1, 31, "officer-8", "2026-03-02T11:05:00Z")  # once
    assert not st.acknowledge_alert(D1, 12, "officer-7", "2026-03-02T11:00:00Z")  # not an alert
    assert [a.seq for a in st.alerts(unacked_only=True)] == [41, 21, 11]
    acked = [a for a in st.alerts(D1) if a.seq == 31][0]
    assert (acked.acked_by, acked.note) == ("officer-7", "called him")
    assert [a.seq for a in st.alerts(D1, t_from=T0 + 1000, t_to=T0 + 2000)] == [31, 21]
    assert len(st.alerts(limit=2)) == 2
    status = {s.device: s for s in st.device_status()}
    s1 = status[D1]
    assert s1.last_fix.seq == 60 and s1.battery == "battery_low"
    # the exclusion breach was cleared, the curfew breach was not
    assert [(b[0], b[1]) for b in s1.open_breaches] == [("curfew_breach", "approved-address")]
    assert s1.unacked_alerts == 3 and s1.last_t == T0 + 3540
    assert status[D2].last_fix.seq == 5 and status[D2].open_breaches == ()


def test_an_early_alert_counts_once(st):
    st.add_device(D1, b"\x04" + b"1" * 64, "fw", "x")
    st.add_records([row(D1, 5, T0, kind=2, alert="strap_tamper", status="early")])
    assert [(a.seq, a.status) for a in st.alerts()] == [(5, "early")]
    st.add_records([row(D1, i, T0 - 10 + i, kind=2 if i == 5 else 1, alert="strap_tamper"
                        if i == 5 else None) for i in range(1, 7)])  # fmt: skip
    assert [(a.seq, a.status) for a in st.alerts()] == [(5, "valid")]
    assert st.device_status()[0].unacked_alerts == 1


def test_fixes_near_is_a_great_circle_radius(st):
    load_sample(st)
    lat, lon = 534631500, -22913000
    got = st.fixes_near(lat, lon, 60.0, T0, T0 + 600)
    assert {d for d, _ in got} == {D1, D2}
    for _, f in got:
        assert geo.distance_m(lat, lon, f.lat_e7, f.lon_e7) <= 60.0
    every = [(D1, f) for f in st.fixes(D1, T0, T0 + 600)] + [
        (D2, f) for f in st.fixes(D2, T0, T0 + 600)
    ]
    want = {(d, f.seq) for d, f in every if geo.distance_m(lat, lon, f.lat_e7, f.lon_e7) <= 60}
    assert {(d, f.seq) for d, f in got} == want


def test_retention_deletes_old_records_keeps_the_chain_anchor_and_logs(st):
    load_sample(st)
    st.acknowledge_alert(D1, 11, "o", "2026-03-03T00:00:00Z")
    st.acknowledge_alert(D1, 31, "o", "2026-03-03T00:00:00Z")
    before = st.outbox_backlog()
    # D2's newest record (T0+480) is older than the cutoff too: it stays, the anchor
    run = st.delete_before(T0 + 1500, "P30D", "2026-04-01T00:00:00Z")
    assert run.records == 25 + 4  # D1 seq 1..25, D2 seq 1..4
    assert run.acks == 1 and run.outbox > 0
    assert st.outbox_backlog() == before - run.outbox
    assert [f.seq for f in st.fixes(D1, 0, 2**40)][0] == 26
    assert st.last_valid(D2)[0] == 5 and [f.seq for f in st.fixes(D2, 0, 2**40)] == [5]
    assert [a.seq for a in st.alerts(D1)] == [41, 31]
    assert st.retention_runs() == [run]
    assert st.delete_before(T0 + 1500, "P30D", "2026-04-02T00:00:00Z").records == 0


def test_both_backends_answer_alike(tmp_path, pg_server):
    """The same records in SQLite and PostgreSQL give identical answers to every read."""
    stores = [open_store(str(tmp_path / "a.sqlite")), open_store(pg_server.new_database())]
    answers = []
    for s in stores:
        load_sample(s)
        s.acknowledge_alert(D1, 21, "o", "2026-03-03T00:00:00Z", "n")
        answers.append(
            [
                s.devices(),
                s.fixes(D1, T0, T0 + 3600),
                s.fixes(D2, T0, T0 + 3600),
                s.fix_before(D1, T0 + 1000),
                s.fix_after(D2, T0 + 100, 10),
                s.records_between(D1, T0, T0 + 3600),
                s.records(D1),
                s.records(D1, "rejected"),
                s.alerts(),
                s.device_status(),
                sorted(s.latest_alerts()),
                s.fixes_near(534632000, -22913000, 100.0, T0, T0 + 3600),
                [p[1:] for p in s.outbox_pending(500)],
                s.valid_span(D1, T0, T0 + 700),
            ]
        )
        s.close()
    for a, b in zip(answers[0], answers[1], strict=True):
        assert a == b


def test_what_is_not_an_emtag_store_is_refused_and_left_alone(tmp_path, pg_server):
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE people(name TEXT)")
    db.commit()
    db.close()
    before = other.read_bytes()
    with pytest.raises(StoreError, match="not an emtag store"):
        open_store(str(other))
    assert other.read_bytes() == before and not os.path.exists(str(other) + "-wal")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 100)
    with pytest.raises(StoreError, match="not a database"):
        open_store(str(text))
    assert text.read_text() == "hello\n" * 100
    with pytest.raises(StoreError, match="no store at"):
        open_store(str(tmp_path / "missing.sqlite"), create=False)
    assert not (tmp_path / "missing.sqlite").exists()
    with pytest.raises(StoreError, match="postgresql://"):
        open_store("mysql://x/y")
    import psycopg

    url = pg_server.new_database()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE people(name TEXT)")
    with pytest.raises(StoreError, match="not an emtag store"):
        open_store(url)
    with psycopg.connect(url, autocommit=True) as c:
        tables = c.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
        ).fetchall()
    assert tables == [("people",)]
    with pytest.raises(StoreError, match="empty database"):
        open_store(pg_server.new_database(), create=False)
    with pytest.raises(StoreError, match="cannot connect"):
        open_store("postgresql://postgres@127.0.0.1:%d/x" % free_port())


def test_a_newer_schema_is_refused(tmp_path, pg_server):
    path = str(tmp_path / "s.sqlite")
    open_store(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer than this emtag"):
        open_store(path)
    import psycopg

    url = pg_server.new_database()
    open_store(url).close()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("UPDATE emtag_schema SET version = 99")
    with pytest.raises(StoreError, match="newer than this emtag"):
        open_store(url)


def test_the_bridge_and_export_on_postgresql(tmp_path, pg_server, capsys):
    """`emtag bridge --store postgresql://...` (two bridges into one database) and
    `emtag export` from it: the bundle verifies."""
    url = pg_server.new_database()
    ports = [free_port(), free_port()]
    procs = [BridgeProc("--listen", "tcp://127.0.0.1:%d" % p, "--store", url) for p in ports]
    tags = [Tag(seed=21), Tag(seed=22)]
    try:
        for br in procs:
            br.wait_for("listening")
        for tag, port in zip(tags, ports, strict=True):
            tag.add(30, alert_every=20)
            with socket.create_connection(("127.0.0.1", port)) as s:
                assert tag.pump(SocketLink(s), lambda t=tag: t.log.acked == t.last_seq, 20)
    finally:
        for br in procs:
            br.stop()
    with open_store(url, create=False) as s:
        for tag in tags:
            assert [r[0] for r in s.records(tag.device)] == list(range(1, tag.last_seq + 1))
    out = tmp_path / "b.zip"
    argv = ["export", "--store", url, "--device", tags[0].device[:6], "--from", str(T0),
            "--to", str(T0 + 3600), "-o", str(out)]  # fmt: skip
    assert cli_main(argv) == 0, capsys.readouterr().err
    assert cli_main(["verify", str(out)]) == 0
    capsys.readouterr()
    bad = ["export", "--store", pg_server.url("nosuchdb"), "--device", "aa", "--from", "0",
           "--to", "1", "-o", str(tmp_path / "x.zip")]  # fmt: skip
    assert cli_main(bad) == 2
    assert "cannot connect" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()


def test_the_retention_command(store_url, capsys):
    with open_store(store_url) as s:
        load_sample(s)
    now = str(T0 + 1500 + 86400)
    assert cli_main(["store", "retention", "--store", store_url, "--older-than", "1d",
                     "--now", now, "--show-log"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "deleted 29 records" in out and "older than 1d" in out
    with open_store(store_url) as s:
        assert s.fixes(D1, 0, 2**40)[0].seq == 26 and len(s.retention_runs()) == 1
    for bad in ("1y", "0d", "-3d", "d"):
        argv = ["store", "retention", "--store", store_url, "--older-than=" + bad]
        assert cli_main(argv) == 2
        assert "--older-than" in capsys.readouterr().err
    with open_store(store_url) as s:
        assert len(s.retention_runs()) == 1  # bad input changed nothing


def test_rejected_input_is_bounded_per_device_and_in_all(st, monkeypatch):
    from emtag.host.store import base

    monkeypatch.setattr(base, "REJECTED_PER_DEVICE", 5)
    monkeypatch.setattr(base, "REJECTED_TOTAL", 8)
    for i in range(12):
        st.add_rejected(D1, [(i, "r%d" % i, b"x")], "T", None)
    assert [r[0] for r in st.rejected(D1)] == [7, 8, 9, 10, 11]  # the newest five
    for i in range(6):
        st.add_rejected(D2, [(i, "r", b"y")], "T", None)
    assert len(st.rejected(D1)) + len(st.rejected(D2)) <= 8


def test_a_group_commits_once_and_a_savepoint_undoes_one_session(st):
    st.add_device(D1, b"\x04" + b"1" * 64, "fw1", "2026-03-02T08:00:00.000Z")
    with st.group():
        st.add_records([row(D1, 1, T0)])
        with pytest.raises(RuntimeError):
            with st.savepoint():
                st.add_records([row(D1, 2, T0 + 60)])
                raise RuntimeError("a session fails")
        with st.savepoint():
            st.add_records([row(D1, 3, T0 + 120)])
    assert [r[0] for r in st.records(D1)] == [1, 3]
    with pytest.raises(ValueError):
        with st.group():
            st.add_records([row(D1, 4, T0 + 180)])
            raise ValueError("the whole turn fails")
    assert [r[0] for r in st.records(D1)] == [1, 3]
