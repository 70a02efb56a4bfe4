"""A tag for host-side store-and-forward tests and benchmarks, built from the real firmware
pieces: the record log on littlefs (littlefs-python over the simulator's NOR flash model),
the evidence chain (checkpoints, signed alerts), the sealed view and the uplink state
machine. It runs on wall-clock milliseconds and talks to a real bridge over any byte
transport (tests import it as `sftag`)."""

import random
import select
import socket
import time

from emtag.firmware import evidence, recordlog, uplink
from emtag.firmware.signer import SoftwareSigner
from emtag.protocol import cbor, frame, records
from emtag.protocol import messages as m
from emtag.simulator import littlefs_host
from emtag.simulator.flash import Flash

T0 = 1772442000  # 2026-03-02T09:00:00Z


class Fix:
    def __init__(self, i):
        self.t, self.t_ms = T0 + 60 * i, 0
        self.lat, self.lon, self.acc_cm, self.fix = 534631000 + i, -22913000 - i, 500, 3
        self.sats, self.hdop, self.speed_mmps, self.course_cdeg, self.alt_cm = 9, 100, 0, 0, 4500


class Tag:
    def __init__(self, seed=1, blocks=512):
        self.flash = Flash(4096, blocks)
        littlefs_host.format_and_provision(self.flash, {})
        self.fs = littlefs_host.mount(littlefs_host.FlashBlockDevice(self.flash))
        self.signer = SoftwareSigner.generate(random.Random(seed).randbytes)
        self.device = self.signer.key_id().hex()
        self.log = recordlog.RecordLog(self.fs)
        self.chain = evidence.Chain(self.signer)
        self.hello = {
            m.H_DEVICE: self.signer.key_id(),
            m.H_PUBKEY: self.signer.public_key(),
            m.H_FIRMWARE: "test",
            m.H_NEXT_SEQ: 1,
        }
        self.uplink = uplink.Uplink(
            evidence.SealedView(self.log, self.chain), self.hello, prove=uplink.prover(self.signer)
        )
        self.deframer = frame.Deframer()
        self.alerts = []  # seqs of alert records
        self.fixes = 0

    def add(self, n, alert_every=0):
        """Log n fixes (and an alert every alert_every fixes), sealing as the firmware does."""
        for _ in range(n):
            self.fixes += 1
            i = self.fixes
            now = i * 60000
            self.chain.add_fix(Fix(i), now, self.log)
            if alert_every and i % alert_every == 0:
                f = Fix(i)
                rec = records.alert_record(self.chain.next_seq(), None, "strap_tamper", f.t, 0, f)
                self.chain.add(rec, now, self.log)
                self.alerts.append(self.log.last_seq)
                self.uplink.send_first(self.log.last_seq, self.log.last_record)
            if self.chain.seal_due(now):
                self.chain.checkpoint(now, T0 + now // 1000, self.log)
        self.seal()

    def seal(self):
        now = self.fixes * 60000
        self.chain.checkpoint(now, T0 + now // 1000, self.log)

    @property
    def last_seq(self):
        return self.log.last_seq

    def pump(self, link, until, timeout=30.0, on_sent=None):
        """Run the uplink over `link` (send(bytes), recv(timeout) -> bytes or None when the
        link is gone) until until() is true; returns False on timeout or a lost link."""
        end = time.monotonic() + timeout
        while not until():
            if time.monotonic() > end:
                return False
            now = int(time.monotonic() * 1000)
            out = self.uplink.poll(now)
            for msg in out:
                link.send(frame.encode(msg))
            if out and on_sent is not None and on_sent(out):
                return True
            data = link.recv(0.02)
            if data is None:
                return False
            for raw in self.deframer.feed(data):
                self.uplink.receive(cbor.loads(raw), int(time.monotonic() * 1000))
        return True


class SocketLink:
    def __init__(self, sock):
        self.sock = sock

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            pass  # the bridge is gone: what was sent is sent again later

    def recv(self, timeout):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return b""
        try:
            data = self.sock.recv(65536)
        except OSError:
            return None
        return data or None


class FdLink:
    """The master side of a pty."""

    def __init__(self, fd):
        self.fd = fd

    def send(self, data):
        import os

        os.write(self.fd, data)

    def recv(self, timeout):
        import os

        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return b""
        try:
            return os.read(self.fd, 65536)
        except OSError:
            return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PeerLink:
    """A hand-driven peer on a socket: send messages, wait for replies, do the handshake."""

    def __init__(self, sock, timeout=10.0):
        self.sock = sock
        self.timeout = timeout
        self.deframer = frame.Deframer()
        self.replies = []

    def send(self, msg):
        self.sock.sendall(frame.encode(cbor.dumps(msg)))

    def wait(self, pred, start=0):
        """The first reply (from index start of the session's replies) that pred() accepts."""
        end = time.monotonic() + self.timeout
        seen = start
        while True:
            for r in self.replies[seen:]:
                if pred(r):
                    return r
            seen = len(self.replies)
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("no such reply; got %r" % (self.replies,))
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the bridge; got %r" % (self.replies,))
            self.replies += [cbor.loads(x) for x in self.deframer.feed(data)]

    def handshake(self, signer, hello=None):
        """HELLO, then PROOF for the CHALLENGE: the bridge's final answer (ACK or NACK)."""
        body = hello or {
            m.H_DEVICE: signer.key_id(),
            m.H_PUBKEY: signer.public_key(),
            m.H_FIRMWARE: "test",
            m.H_NEXT_SEQ: 1,
        }
        start = len(self.replies)
        self.send([m.HELLO, body])
        final = lambda r: r[0] == m.NACK and r[2] != "hello first"  # noqa: E731
        ch = self.wait(lambda r: r[0] == m.CHALLENGE or final(r), start)
        if ch[0] != m.CHALLENGE:
            return ch
        start = len(self.replies)
        self.send([m.PROOF, uplink.prover(signer)(ch[1])])
        return self.wait(lambda r: r[0] == m.ACK or final(r), start)
