"""Hostile peers for `emtag bench hostile`: each attack class the bridge must withstand
(issue 13), run from one process on asyncio against a bridge's TCP port until told to stop.

Attackers connect from loopback addresses other than the honest tag's 127.0.0.1
(127.0.2.x, 127.0.3.x, ...), as they would from other hosts, so the bridge's per-address
bounds apply to them and not to the tag. Those that need a tag of their own hold keys of
their own (a bridge without --fitted takes any key on first contact: the harsher case).
Every peer that is closed or refused connects again (at once, or after 0.1 s when its
connection lasted under a second): a flood does not give up.

    python -m emtag.tools.hostile_peers KIND PORT < what-is-known.json

reads what an attacker can know of the honest tag from stdin (JSON: its HELLO's device id
and public key, which travel in clear, and one PROOF it sent earlier, seen on the wire; all
hex), prints "started" once its peers run, attacks until stdin is closed, then prints its
counters as one JSON line.
"""

import asyncio
import contextlib
import json
import os
import random
import resource
import sys
import threading
import time

import cbor2

from emtag.firmware import cose, uplink
from emtag.firmware.signer import SoftwareSigner
from emtag.host import frames
from emtag.protocol import messages as m
from emtag.protocol import records
from emtag.tools.benchstreams import FastSigner

# the classes, in the bench's order, with what each one does
ATTACKS = {
    "flood": "connections from 70 addresses, 32 each (2,240: past the bridge's 2,048), "
    "held open without a word until closed, then again",
    "slowloris": "640 connections from 20 addresses sending a frame that never ends, a byte "
    "every 0.5 s; and 16 proven tags of their own doing the same after their handshake",
    "noread": "32 proven tags of their own from 4 addresses flooding messages that each earn "
    "a reply, never reading one",
    "chatty": "100 unthrottled peers from 20 addresses: random bytes, HELLO floods, and "
    "proven tags flooding empty RECORDS (reading the replies)",
    "forged": "20 proven tags of their own from 5 addresses flooding altered copies of their "
    "own signed alerts, connecting again when closed",
    "impersonate": "40 peers from 10 addresses saying the honest tag's HELLO, then a PROOF "
    "signed by another key or a replay of one the tag sent earlier",
    "stale": "the honest tag itself connects afresh for each block while its previous "
    "connection delivers late data (no attacker process)",
    "garbage": "40 peers from 10 addresses: overlong frames, random bytes, bad CRCs, deep "
    "CBOR nesting, huge declared lengths",
}


def _frame(obj):
    return frames.encode(cbor2.dumps(obj))


class Peer:
    """One connection with the counters every attack shares."""

    def __init__(self, port, source, counters, limit=65536):
        self.port, self.source, self.c = port, source, counters
        self.limit = limit  # bytes the reader buffers before it stops reading (2 x this)
        self.reader = self.writer = None
        self.deframer = frames.Deframer()
        self.replies = []

    async def connect(self):
        try:
            self.reader, self.writer = await asyncio.open_connection(
                "127.0.0.1", self.port, local_addr=(self.source, 0), limit=self.limit
            )
        except OSError:
            self.c["connect_failed"] += 1
            return False
        self.c["connections"] += 1
        self.deframer = frames.Deframer()
        self.replies = []
        return True

    def close(self):
        if self.writer is not None:
            self.writer.transport.abort()
            self.writer = None

    async def send(self, data):
        self.writer.write(data)
        self.c["bytes_sent"] += len(data)
        await self.writer.drain()

    async def reply(self, pred, timeout=5.0):
        """The next reply pred() accepts (ConnectionError when closed, TimeoutError)."""
        end = time.monotonic() + timeout
        while True:
            while self.replies:
                r = self.replies.pop(0)
                if pred(r):
                    return r
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError
            data = await asyncio.wait_for(self.reader.read(65536), left)
            if not data:
                raise ConnectionError("closed")
            for raw in self.deframer.feed(data):
                with contextlib.suppress(Exception):
                    self.replies.append(cbor2.loads(raw))

    async def handshake(self, signer):
        """HELLO and PROOF with a key of our own: True once the bridge ACKs it."""
        body = {
            m.H_DEVICE: signer.key_id(),
            m.H_PUBKEY: signer.public_key(),
            m.H_FIRMWARE: "x",
            m.H_NEXT_SEQ: 1,
        }
        await self.send(_frame([m.HELLO, body]))
        ch = await self.reply(lambda r: r[0] == m.CHALLENGE)
        await self.send(_frame([m.PROOF, uplink.prover(signer)(ch[1])]))
        await self.reply(lambda r: r[0] == m.ACK)
        self.c["handshakes"] += 1
        return True

    async def drain_until_closed(self):
        """Read and discard until the bridge closes the connection."""
        while await self.reader.read(65536):
            pass

    async def spray(self, make):
        """Send make() again and again as fast as the bridge takes it, discarding what it
        answers, until it closes the connection."""

        async def discard():
            with contextlib.suppress(OSError):
                await self.drain_until_closed()

        reading = asyncio.create_task(discard())
        try:
            while not reading.done():
                await self.send(make())
        finally:
            reading.cancel()


async def _forever(stop, peer, body):
    """Run body(peer) again and again (a fresh connection each time) until stop is set;
    after a connection the bridge refused or closed within a second, wait 0.1 s."""
    while not stop.is_set():
        began = time.monotonic()
        if await peer.connect():
            try:
                await body(peer)
            except (OSError, ConnectionError, TimeoutError, asyncio.IncompleteReadError):
                peer.c["closed"] += 1
            finally:
                peer.close()
        if time.monotonic() - began < 1.0:
            await asyncio.sleep(0.1)


def _sources(block, n):
    return ["127.0.%d.%d" % (block, i + 1) for i in range(n)]


# ------------------------------------------------------------------------- the attacks


def flood(port, c, honest):
    async def hold(p):
        await p.drain_until_closed()

    return [(Peer(port, a, c), hold) for a in _sources(2, 70) for _ in range(32)]


def slowloris(port, c, honest):
    async def dribble(p):
        while True:
            await p.send(b"\x05")  # COBS: a frame's start, never its end
            await asyncio.sleep(0.5)

    def proven(k):
        signer = FastSigner(7000 + k)

        async def body(p):
            await p.handshake(signer)
            await dribble(p)

        return body

    peers = [(Peer(port, a, c), dribble) for a in _sources(3, 20) for _ in range(32)]
    return peers + [(Peer(port, "127.0.4.%d" % (k % 4 + 1), c), proven(k)) for k in range(16)]


def noread(port, c, honest):
    msg = _frame([m.RECORDS, 1, b""]) * 256  # each earns an ACK

    def body_for(k):
        signer = FastSigner(8000 + k)

        async def body(p):
            await p.handshake(signer)
            while True:  # and never a read: the reader stops at 2 KiB (Peer.limit)
                await p.send(msg)

        return body

    return [(Peer(port, "127.0.5.%d" % (k % 4 + 1), c, limit=1024), body_for(k)) for k in range(32)]


def chatty(port, c, honest):
    junk = os.urandom(3000)
    sg = SoftwareSigner(0xC0FFEE)
    hello = (
        _frame([m.HELLO, {m.H_DEVICE: sg.key_id(), m.H_PUBKEY: sg.public_key(), m.H_FIRMWARE: "x"}])
        * 40
    )
    empty = _frame([m.RECORDS, 1, b""]) * 256

    async def junk_body(p):
        await p.spray(lambda: junk)

    async def hello_body(p):
        await p.spray(lambda: hello)

    def proven(k):
        signer = FastSigner(9000 + k)

        async def body(p):
            await p.handshake(signer)
            await p.spray(lambda: empty)

        return body

    peers = []
    for i in range(100):
        body = (junk_body, hello_body, proven(i))[i % 3]
        peers.append((Peer(port, "127.0.6.%d" % (i % 20 + 1), c), body))
    return peers


def forged(port, c, honest):
    def body_for(k):
        signer = FastSigner(10000 + k)
        rec = records.alert_record(1, None, "strap_tamper", 1772442000, 0)
        signed = cose.sign1(signer, cbor2.dumps(rec), kid=signer.key_id())
        rng = random.Random(k)

        def batch():
            out = []
            for _ in range(8):  # one byte of the signature or payload altered
                bad = bytearray(signed)
                bad[-1 - rng.randrange(80)] ^= 1 + rng.randrange(255)
                out.append(bytes(bad))
            return _frame([m.RECORDS, 1, b"".join(out)])

        async def body(p):
            await p.handshake(signer)
            await p.spray(batch)

        return body

    return [(Peer(port, "127.0.7.%d" % (k % 5 + 1), c), body_for(k)) for k in range(20)]


def impersonate(port, c, honest):
    hello_body, replayed = honest["hello"], honest["proof"]
    device = hello_body[m.H_DEVICE]
    thief = FastSigner(0xBAD)

    async def body(p):
        while True:
            await p.send(_frame([m.HELLO, hello_body]))
            ch = await p.reply(lambda r: r[0] == m.CHALLENGE)
            if c["connections"] % 2:
                proof = cose.sign1(thief, m.proof_payload(device, ch[1]), kid=device)
            else:
                proof = replayed
            await p.send(_frame([m.PROOF, proof]))
            r = await p.reply(lambda r: r[0] in (m.ACK, m.NACK) and r[2:3] != ["hello first"])
            if r[0] == m.ACK:
                c["impersonated"] += 1  # the bridge took a forged proof: must stay 0
            c["proofs_refused"] += 1

    return [(Peer(port, "127.0.8.%d" % (k % 10 + 1), c), body) for k in range(40)]


def garbage(port, c, honest):
    rng = random.Random(13)
    deep = b"\x81" * 2000 + b"\x00"  # arrays 2,000 deep
    shapes = [
        b"\x01" * 70000 + b"\x00",  # a frame far past MAX_FRAME
        bytes(rng.randrange(256) for _ in range(4000)),  # random bytes, zeros among them
        frames.encode(b"\x82\x02\x01")[:-3] + b"\xff\xff\x00",  # a bad CRC
        frames.encode(deep[:4000]),  # CBOR nested far past the bridge's 8
        frames.encode(b"\x82\x02\x5b" + (2**63).to_bytes(8, "big")),  # a 2^63-byte string
        frames.encode(b"\x9f" * 3000),  # indefinite arrays that never end
        frames.encode(cbor2.dumps([m.RECORDS, 2**70, b"x"])),  # out-of-range fields
    ]

    async def body(p):
        await p.spray(lambda: shapes[rng.randrange(len(shapes))])

    return [(Peer(port, "127.0.9.%d" % (k % 10 + 1), c), body) for k in range(40)]


MAKERS = {
    "flood": flood,
    "slowloris": slowloris,
    "noread": noread,
    "chatty": chatty,
    "forged": forged,
    "impersonate": impersonate,
    "garbage": garbage,
}


async def _run(kind, port, stop_flag, honest):
    counters = _Counters()
    stop = asyncio.Event()
    peers = MAKERS[kind](port, counters, honest)
    tasks = [asyncio.create_task(_forever(stop, p, body)) for p, body in peers]
    print("started", flush=True)
    while not stop_flag.is_set():
        await asyncio.sleep(0.1)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for p, _ in peers:
        p.close()
    return dict(counters)


class _Counters(dict):
    def __missing__(self, key):
        return 0


def main(argv):
    kind, port = argv[0], int(argv[1])
    known = json.loads(sys.stdin.readline())
    honest = {
        "hello": {
            m.H_DEVICE: bytes.fromhex(known["device"]),
            m.H_PUBKEY: bytes.fromhex(known["pubkey"]),
            m.H_FIRMWARE: known["firmware"],
            m.H_NEXT_SEQ: 1,
        },
        "proof": bytes.fromhex(known["proof"]),
    }
    stop_flag = threading.Event()

    def until_stdin_closes():
        sys.stdin.read()
        stop_flag.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        counters = asyncio.run(_run(kind, port, stop_flag, honest))
    except Exception as e:  # the bench reports it; a traceback in a child helps nobody
        counters = {"error": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps(counters), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
