"""`emtag bridge` end to end: a real pty and TCP, a tag built from the firmware's own log,
evidence chain and uplink, and clear errors for what a user gets wrong."""

import os
import socket
import sqlite3
import subprocess
import sys
import threading

import pytest
from bridgeproc import BridgeProc
from sftag import FdLink, PeerLink, SocketLink, Tag, free_port

from emtag.protocol import messages as m


def bridge_cli(*args, timeout=20):
    return subprocess.run(
        [sys.executable, "-m", "emtag.cli.main", "bridge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def valid_seqs(db_path, device):
    db = sqlite3.connect(db_path)
    try:
        return [
            r[0]
            for r in db.execute(
                "SELECT seq FROM records WHERE device=? AND status='valid' ORDER BY seq", (device,)
            )
        ]
    finally:
        db.close()


@pytest.fixture
def pty_pair():
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)  # the bridge opens it by name, as it would a USB serial port
    yield master, path
    os.close(master)


def test_a_missing_port_is_a_clear_error(tmp_path):
    r = bridge_cli("--port", "/dev/ttyNOPE0", "--store", str(tmp_path / "s.sqlite"))
    assert r.returncode == 2
    assert "emtag bridge: error: no such port: /dev/ttyNOPE0" in r.stderr
    r = bridge_cli("--store", str(tmp_path / "s.sqlite"))
    assert r.returncode == 2 and "--port" in r.stderr
    r = bridge_cli("--listen", "udp://x", "--store", str(tmp_path / "s.sqlite"))
    assert r.returncode == 2 and "tcp://HOST:PORT" in r.stderr
    r = bridge_cli("--port", "loop://", "--mqtt", "http://x", "--store", str(tmp_path / "s.sqlite"))
    assert r.returncode == 2 and "mqtt://HOST[:PORT]" in r.stderr


def test_a_busy_port_is_a_clear_error(tmp_path, pty_pair):
    _, path = pty_pair
    first = BridgeProc("--port", path, "--store", str(tmp_path / "a.sqlite"))
    try:
        first.wait_for("port_open")
        r = bridge_cli("--port", path, "--store", str(tmp_path / "b.sqlite"))
        assert r.returncode == 2
        assert "port %s is busy: another program has it open" % path in r.stderr
    finally:
        assert first.stop() == 0


def test_a_tag_on_a_pty_uploads_everything_once_alerts_first(tmp_path, pty_pair):
    master, path = pty_pair
    db = str(tmp_path / "s.sqlite")
    tag = Tag(seed=4)
    tag.add(120, alert_every=50)
    br = BridgeProc("--port", path, "--store", db)
    try:
        br.wait_for("port_open")
        assert tag.pump(FdLink(master), lambda: tag.log.acked == tag.last_seq)
        br.wait_for("alert_early")
    finally:
        br.stop()
    assert valid_seqs(db, tag.device) == list(range(1, tag.last_seq + 1))
    out = br.output()
    # both alerts went ahead of the backlog, before the records that came before them
    first_stored = out.index("records_stored")
    assert out.index("alert_early") < first_stored
    assert out.count("alert_early") == len(tag.alerts) == 2
    rows = sqlite3.connect(db).execute("SELECT seq FROM records WHERE status='early'").fetchall()
    assert sorted(r[0] for r in rows) == tag.alerts


def test_an_unknown_tag_is_refused_with_a_clear_reason(tmp_path):
    port = free_port()
    db = str(tmp_path / "s.sqlite")
    br = BridgeProc("--listen", "tcp://127.0.0.1:%d" % port, "--store", db, "--known-only")
    try:
        br.wait_for("listening")
        tag = Tag(seed=5)
        tag.add(10)
        with socket.create_connection(("127.0.0.1", port)) as s:
            assert not tag.pump(SocketLink(s), lambda: tag.uplink.greeted, timeout=1.5)
        line = br.wait_for("hello_rejected")
        assert "reason=unknown tag" in line and tag.device in line
    finally:
        br.stop()
    assert valid_seqs(db, tag.device) == []


def test_fitted_takes_only_tags_in_the_fitting_register(tmp_path):
    from emtag.host import keys

    nokeys = str(tmp_path / "nokeys")
    r = bridge_cli("--listen", "tcp://127.0.0.1:0", "--fitted", nokeys, "--store", "x.sqlite")
    assert r.returncode == 2 and "holds no fitting register" in r.stderr
    fitted, stranger = Tag(seed=11), Tag(seed=12)
    register = keys.KeyStore(tmp_path / "keys")
    register.record_tag(bytes.fromhex(fitted.device), fitted.hello[m.H_PUBKEY])
    port = free_port()
    db = str(tmp_path / "s.sqlite")
    listen = "tcp://127.0.0.1:%d" % port
    br = BridgeProc("--listen", listen, "--store", db, "--fitted", str(register.path))
    try:
        br.wait_for("listening")
        for tag, timeout in ((fitted, 20), (stranger, 1.5)):
            tag.add(10)
            with socket.create_connection(("127.0.0.1", port)) as s:
                done = tag.pump(SocketLink(s), lambda t=tag: t.log.acked == t.last_seq, timeout)
            assert done == (tag is fitted)
        line = br.wait_for("hello_rejected")
        assert "reason=not in the fitting register" in line and stranger.device in line
    finally:
        br.stop()
    assert valid_seqs(db, fitted.device) == list(range(1, fitted.last_seq + 1))
    assert valid_seqs(db, stranger.device) == []


def test_a_bad_signature_is_refused_and_kept_as_rejected_input(tmp_path):
    port = free_port()
    db = str(tmp_path / "s.sqlite")
    tag = Tag(seed=6)
    tag.add(5)
    items = [w for _, w in tag.log.read_from(1, 100)]
    bad = bytearray(items[-1])  # the checkpoint: a signed record
    bad[-2] ^= 0x40
    br = BridgeProc("--listen", "tcp://127.0.0.1:%d" % port, "--store", db)
    try:
        br.wait_for("listening")
        with socket.create_connection(("127.0.0.1", port)) as s:
            link = PeerLink(s)
            assert link.handshake(tag.signer) == [m.ACK, 0]
            link.send([m.RECORDS, items[:-1] + [bytes(bad)]])
            nack = link.wait(lambda r: r[0] == m.NACK and r[1])
        assert nack[1] == len(items) and "signature" in nack[2]
        br.wait_for("rejected=1")
    finally:
        br.stop()
    db = sqlite3.connect(db)
    assert db.execute("SELECT wire FROM rejected").fetchall() == [(bytes(bad),)]
    assert db.execute("SELECT COUNT(*) FROM records").fetchone() == (0,)


def test_many_tags_at_once_over_tcp(tmp_path):
    port = free_port()
    db = str(tmp_path / "s.sqlite")
    tags = [Tag(seed=10 + i) for i in range(4)]
    for i, t in enumerate(tags):
        t.add(40 + 10 * i, alert_every=25)
    br = BridgeProc("--listen", "tcp://127.0.0.1:%d" % port, "--store", db, "--quiet")
    results = {}
    try:
        br.wait_for("listening")

        def run(t):
            with socket.create_connection(("127.0.0.1", port)) as s:
                results[t.device] = t.pump(SocketLink(s), lambda: t.log.acked == t.last_seq)

        threads = [threading.Thread(target=run, args=(t,)) for t in tags]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
    finally:
        assert br.stop() == 0
    for t in tags:
        assert results[t.device]
        assert valid_seqs(db, t.device) == list(range(1, t.last_seq + 1))
