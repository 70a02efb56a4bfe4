"""Hostile peers against a real `emtag bridge` process, one attack class at a time.

After each attack: the bridge is alive, an honest tag (tests/sftag.py: the firmware's own
log, chain and uplink) is still served, and the store holds its records once each, in one
chain. Attackers connect from other loopback addresses (127.0.0.2...) than the honest tag
(127.0.0.1), as they would from other hosts. Long load runs are `emtag bench ingest`.
"""

import contextlib
import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from bridgeproc import BridgeProc
from sftag import T0, PeerLink, SocketLink, Tag, free_port

from emtag.firmware import cose
from emtag.firmware.signer import SoftwareSigner
from emtag.host.store import open_store
from emtag.protocol import cbor, frame, records
from emtag.protocol import messages as m

HANDSHAKE_S = 2
PER_ADDRESS = 8
SERVED_S = 10  # the honest tag's round must end within this (the 2 s figure: the benchmark)


class Bridge:
    """A bridge process on a TCP port and a pty, with tight limits so attacks end fast."""

    def __init__(self, tmp, store=None):
        self.tmp = tmp
        self.store = store or str(tmp / "store.sqlite")
        self.port = free_port()
        self.master, slave = os.openpty()
        self.pty = os.ttyname(slave)
        os.close(slave)
        self.start()

    def start(self):
        self.proc = BridgeProc(
            "--listen", "tcp://127.0.0.1:%d" % self.port, "--port", self.pty,
            "--store", self.store, "--handshake-timeout", str(HANDSHAKE_S),
            "--per-address", str(PER_ADDRESS),
        )  # fmt: skip
        self.proc.wait_for("listening")
        self.proc.wait_for("port_open")

    def alive(self):
        return self.proc.proc.poll() is None

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.proc.pid) as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))

    def connect(self, source="127.0.0.2"):
        return socket.create_connection(
            ("127.0.0.1", self.port), timeout=5, source_address=(source, 0)
        )

    def close(self):
        self.proc.stop()
        os.close(self.master)


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    b = Bridge(tmp_path_factory.mktemp("hostile"))
    yield b
    b.close()


@pytest.fixture(scope="module")
def honest():
    return Tag(seed=100)


def serve_honest(bridge, tag, n=12):
    """The honest tag logs n more fixes and uploads them: seconds it took (asserts it was
    served, and the bridge is alive)."""
    tag.add(n)
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as s:
        done = tag.pump(SocketLink(s), lambda: tag.log.acked == tag.last_seq, SERVED_S)
    took = time.monotonic() - t0
    assert done, "the honest tag was not served:\n" + "\n".join(bridge.proc.lines[-30:])
    assert bridge.alive()
    return took


def stored(bridge, device):
    with open_store(bridge.store, create=False) as st:
        return [r[0] for r in st.records(device)]


def own_tag(seed):
    """An attacker's own tag: a key it holds (a bridge without --fitted takes it)."""
    return Tag(seed=seed)


def test_a_hello_without_the_key_proves_nothing(bridge, honest):
    serve_honest(bridge, honest)
    thief = SoftwareSigner(0xBADC0DE)
    with bridge.connect() as s:
        link = PeerLink(s)
        # the honest tag's public key, which travels in clear: a challenge, and no more
        link.send([m.HELLO, honest.hello])
        ch = link.wait(lambda r: r[0] == m.CHALLENGE)
        forged = cose.sign1(thief, m.proof_payload(bytes.fromhex(honest.device), ch[1]),
                            kid=bytes.fromhex(honest.device))  # fmt: skip
        link.send([m.PROOF, forged])
        assert link.wait(lambda r: r[0] == m.NACK and r[2] != "hello first")[2] == "proof failed"
        # records and a proof without a challenge get nowhere either
        items = [w for _, w in honest.log.read_from(1, 8)]
        link.send([m.RECORDS, 1, b"".join(items)])
        link.send([m.PROOF, forged])
        link.wait(lambda r: r[0] == m.NACK and r[2] == "hello first", start=3)
    line = bridge.proc.wait_for("proof of possession failed")
    assert honest.device in line
    assert "superseded" not in bridge.proc.output()
    serve_honest(bridge, honest)
    assert stored(bridge, honest.device) == list(range(1, honest.last_seq + 1))


def test_a_key_off_the_curve_is_refused_before_anything_is_stored(bridge, honest):
    pub = b"\x04" + b"\x01" * 64  # not a point on P-256
    dev = hashlib.sha256(pub).digest()[:8]
    with bridge.connect() as s:
        link = PeerLink(s)
        link.send([m.HELLO, {m.H_DEVICE: dev, m.H_PUBKEY: pub, m.H_FIRMWARE: "x"}])
        assert link.wait(lambda r: r[0] == m.NACK and r[2] != "hello first")[2] == "bad public key"
    bridge.proc.wait_for("public key is not a P-256 point")
    db = sqlite3.connect(bridge.store)
    n = db.execute("SELECT COUNT(*) FROM devices WHERE device=?", (dev.hex(),)).fetchone()
    assert n == (0,)
    db.close()
    serve_honest(bridge, honest)


def test_records_with_fields_out_of_range_are_refused(bridge, honest):
    tag = own_tag(201)
    rec = records.alert_record(1, None, "no_fix", 2**64, 0)  # past any store's integer
    wire = cose.sign1(tag.signer, cbor.dumps(rec), kid=tag.signer.key_id())
    with bridge.connect() as s:
        link = PeerLink(s)
        assert link.handshake(tag.signer) == [m.ACK, 0]
        link.send([m.RECORDS, 1, wire])
        # unreadable as a record: refused where it stands in the batch (seq 1)
        nack = link.wait(lambda r: r[0] == m.NACK and "bad time" in r[2])
    assert nack[1] == 1 and "modified" in nack[2]
    assert stored(bridge, tag.device) == []
    serve_honest(bridge, honest)


def test_a_second_connection_of_a_tag_takes_over_and_the_stale_one_is_closed(bridge, honest):
    honest.add(24)
    items = [w for _, w in honest.log.read_from(honest.log.acked + 1, 100)]
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as stale:
        old = PeerLink(stale)
        assert old.handshake(honest.signer)[0] == m.ACK
        with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as fresh:
            new = PeerLink(fresh)
            assert new.handshake(honest.signer)[0] == m.ACK
            bridge.proc.wait_for("superseded")
            # the stale connection delivers late data: it reaches nothing
            for i in range(0, len(items), 8):
                try:
                    old.send([m.RECORDS, honest.log.acked + 1 + i, b"".join(items[i : i + 8])])
                except OSError:
                    break
        with pytest.raises((ConnectionError, OSError)):  # closed by the bridge
            old.wait(lambda r: False)
    serve_honest(bridge, honest, n=1)
    assert stored(bridge, honest.device) == list(range(1, honest.last_seq + 1))


def test_connection_floods_and_slow_peers_are_bounded_and_timed_out(bridge, honest):
    socks = []
    try:
        for _ in range(PER_ADDRESS + 6):
            try:
                socks.append(bridge.connect("127.0.0.3"))
            except OSError:
                pass
        # a slowloris: a frame that never ends, a byte at a time
        slow = bridge.connect("127.0.0.4")
        socks.append(slow)
        took = serve_honest(bridge, honest)
        deadline = time.monotonic() + HANDSHAKE_S + 4
        while time.monotonic() < deadline:
            slow.send(b"\x05")
            time.sleep(0.2)
            if "no proven key within" in bridge.proc.output():
                break
        refused = bridge.proc.wait_for("refused")
        assert "127.0.0.3" in refused and "too many connections from" in refused
        bridge.proc.wait_for("no proven key within")
        # every flooding socket is closed by the bridge by now
        for s in socks:
            s.settimeout(HANDSHAKE_S + 3)
            try:
                while s.recv(4096):
                    pass
            except (ConnectionResetError, BrokenPipeError):
                pass
    finally:
        for s in socks:
            s.close()
    assert took < SERVED_S
    serve_honest(bridge, honest)


def test_a_flood_to_the_total_limit_makes_room_for_a_tag(tmp_path):
    """Past --max-connections the oldest connection that has proved no key for a second
    gives way to a new one; younger ones are left alone (a tag mid-handshake is young)."""
    b = Bridge.__new__(Bridge)
    b.store, b.port = str(tmp_path / "store.sqlite"), free_port()
    b.proc = BridgeProc("--listen", "tcp://127.0.0.1:%d" % b.port, "--store", b.store,
                        "--max-connections", "12", "--per-address", "8")  # fmt: skip
    b.proc.wait_for("listening")
    socks = []
    try:
        for source in ("127.0.0.3", "127.0.0.4"):
            for _ in range(8):
                socks.append(b.connect(source))
        with b.connect("127.0.0.5") as late:  # at once: every flooder is under a second old
            late.settimeout(5)
            got = b""
            with contextlib.suppress(ConnectionResetError):
                while data := late.recv(4096):
                    got += data
        assert got == b""  # refused: not even the bridge's greeting
        line = b.proc.wait_for("peer=127.0.0.5")
        assert "too many connections (12)" in line
        assert "evicted" not in b.proc.output()
        time.sleep(1.0)
        tag = Tag(seed=206)
        serve_honest(b, tag)
        line = b.proc.wait_for("evicted")
        assert "127.0.0.3" in line  # the oldest first
        assert stored(b, tag.device) == list(range(1, tag.last_seq + 1))
    finally:
        for s in socks:
            s.close()
        b.proc.stop()


def _spam_without_reading(sock, seconds):
    msg = frame.encode(cbor.dumps([m.RECORDS, []]))
    end = time.monotonic() + seconds
    sock.setblocking(False)
    while time.monotonic() < end:
        try:
            sock.send(msg * 64)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            return  # closed by the bridge


def test_peers_that_never_read_delay_nobody(bridge, honest):
    tag = own_tag(202)
    with bridge.connect("127.0.0.5") as s:
        assert PeerLink(s).handshake(tag.signer) == [m.ACK, 0]
        t = threading.Thread(target=_spam_without_reading, args=(s, 4))
        t.start()
        # the serial port's peer too: it says HELLO, proves, then never reads
        serial = Tag(seed=203)
        os.write(bridge.master, frame.encode(cbor.dumps([m.HELLO, serial.hello])))
        try:
            took = serve_honest(bridge, honest)
            took = max(took, serve_honest(bridge, honest))
        finally:
            t.join()
    spam = frame.encode(cbor.dumps([m.RECORDS, []])) * 512
    os.set_blocking(bridge.master, False)
    try:
        for _ in range(40):
            try:
                os.write(bridge.master, spam)
            except BlockingIOError:
                time.sleep(0.02)
        took = max(took, serve_honest(bridge, honest))
    finally:
        os.set_blocking(bridge.master, True)
    assert took < SERVED_S
    _drain(bridge.master)


def _drain(fd):
    os.set_blocking(fd, False)
    try:
        while os.read(fd, 65536):
            pass
    except (BlockingIOError, OSError):
        pass
    finally:
        os.set_blocking(fd, True)


def _chatter(bridge, source, seconds, kind):
    end = time.monotonic() + seconds
    junk = os.urandom(3000)
    sg = SoftwareSigner(0xC0FFEE)
    body = {m.H_DEVICE: sg.key_id(), m.H_PUBKEY: sg.public_key(), m.H_FIRMWARE: "x"}
    hello = frame.encode(cbor.dumps([m.HELLO, body]))
    while time.monotonic() < end:
        try:
            with bridge.connect(source) as s:
                s.setblocking(False)
                while time.monotonic() < end:
                    try:
                        s.send(junk if kind == "junk" else hello * 40)
                        s.recv(65536)
                    except BlockingIOError:
                        time.sleep(0.001)
        except OSError:
            time.sleep(0.05)  # closed or refused: connect again, as a flood does


def test_a_hundred_chatty_peers_do_not_starve_an_honest_tag(bridge, honest):
    threads = [
        threading.Thread(
            target=_chatter, args=(bridge, "127.0.1.%d" % (i % 20 + 1), 4, ("junk", "hello")[i % 2])
        )
        for i in range(100)
    ]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        took = serve_honest(bridge, honest)
    finally:
        for t in threads:
            t.join()
    assert took < SERVED_S
    assert bridge.rss_kb() < 200 * 1024


def test_forged_records_are_bounded_kept_apart_and_never_in_a_bundle(bridge, honest, tmp_path):
    from emtag.host import bridge as host_bridge

    tag = own_tag(204)
    tag.add(8, alert_every=4)
    signed = [w for q, w in tag.log.read_from(1, 20) if q in tag.alerts]
    forged = []
    for i in range(400):  # each one the tag's alert (signed alone) with other bytes
        bad = bytearray(signed[0])
        bad[-70 - i % 40] ^= 1 + i // 40
        forged.append(bytes(bad))
    with bridge.connect("127.0.0.6") as s:
        link = PeerLink(s)
        assert link.handshake(tag.signer) == [m.ACK, 0]
        try:
            for i in range(0, len(forged), 8):
                link.send([m.RECORDS, 1, b"".join(forged[i : i + 8])])
            link.wait(lambda r: False)
        except (ConnectionError, OSError):
            pass  # closed: too many rejected records
    bridge.proc.wait_for("too many rejected records")
    db = sqlite3.connect(bridge.store)
    kept = db.execute("SELECT COUNT(*) FROM rejected WHERE device=?", (tag.device,)).fetchone()[0]
    assert 0 < kept <= host_bridge.MAX_REJECTED + host_bridge.REJECTED_KEPT_PER_BATCH
    assert db.execute("SELECT COUNT(*) FROM records WHERE status='rejected'").fetchone() == (0,)
    db.close()
    serve_honest(bridge, honest)


def test_what_a_peer_says_cannot_forge_a_line_of_the_log(bridge, honest):
    tag = own_tag(205)
    hello = dict(tag.hello)
    hello[m.H_FIRMWARE] = "1.0\n2030-01-01T00:00:00.000Z  alert  device=x\r"
    with bridge.connect("127.0.0.7") as s:
        assert PeerLink(s).handshake(tag.signer, hello) == [m.ACK, 0]
    line = bridge.proc.wait_for("firmware=1.0")
    assert "\\n2030-01-01" in line
    assert not [x for x in bridge.proc.lines if x.startswith("2030-01-01")]
    serve_honest(bridge, honest)


def test_kill_9_mid_upload_loses_and_duplicates_nothing(bridge, honest):
    honest.add(400, alert_every=90)
    with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as s:
        halfway = honest.log.acked + 150
        honest.pump(SocketLink(s), lambda: honest.log.acked >= halfway, SERVED_S)
        bridge.proc.kill()
    assert honest.log.acked < honest.last_seq
    bridge.start()
    serve_honest(bridge, honest, n=1)
    assert stored(bridge, honest.device) == list(range(1, honest.last_seq + 1))  # each once


def test_the_store_is_one_verified_chain_after_every_attack(bridge, honest, tmp_path):
    bundle = tmp_path / "honest.zip"
    r = subprocess.run(
        [sys.executable, "-m", "emtag.cli.main", "export", "--store", bridge.store,
         "--device", honest.device, "--from", str(T0), "--to", str(T0 + 10**7), "-o",
         str(bundle)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    pem = tmp_path / "tag.pub"
    pem.write_bytes(honest.signer.public_key())  # 65-byte SEC1
    r = subprocess.run(
        [sys.executable, "-m", "emtag.cli.main", "verify", "--key", str(pem), str(bundle)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0 and "PASS" in r.stdout, r.stdout[-2000:]
    assert bridge.alive()
