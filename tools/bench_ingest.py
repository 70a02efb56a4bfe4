"""Bridge ingest: fixes verified and durably committed per second, one core.

Three measurements over the same uploads (TAGS tags, each FIXES fixes sealed by a checkpoint
every 15 records, sent as the tag's uplink sends them: RECORDS of 8, a window of 32):

- in process: bridge.Session over the SQLite store (synchronous=FULL), served as the bridge's
  loop serves them: one turn takes a batch from every tag, each in a savepoint, and the turn
  commits once before any ACK; and the same with one synced commit per batch (as before);
- the peer, the floor any bridge must pay, measured in this run: the same items through the
  libraries alone (cbor2 decode, SHA-256, cryptography's ES256 verify of every signed item,
  sqlite3 executemany of the same rows, one commit per turn), with none of emtag's checks;
- over TCP: a real `emtag bridge` process and TAGS tags connected at once (this process runs
  them on asyncio: handshake with its proof, then uploads with the uplink's window).

Targets (issue 13): >= 20,000 fixes/s in process and >= 15,000 over TCP with 100 tags.
"""

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time

import cbor2

from emtag.tools import benchstreams

TARGET_IN_PROCESS = 20000
TARGET_TCP = 15000
BATCH = 8
WINDOW = 4  # batches in flight per tag (the uplink's 32 records)

HELP = "bridge ingest: fixes verified and committed per second (in process and over TCP)"


def add_arguments(p):
    p.add_argument("--tags", type=int, default=100, help="tags at once (default: %(default)s)")
    p.add_argument("--fixes", type=int, default=300, help="fixes per tag (default: %(default)s)")
    p.add_argument("--no-tcp", action="store_true", help="skip the run through emtag bridge")


def _frames(items):
    from emtag.host import frames
    from emtag.protocol import messages as m

    wires = [w for _, w in items]
    return [
        frames.encode(cbor2.dumps([m.RECORDS, wires[i : i + BATCH]]))
        for i in range(0, len(wires), BATCH)
    ]


def _greet(session, signer):
    from emtag.firmware import uplink
    from emtag.host import frames
    from emtag.protocol import messages as m

    body = {m.H_DEVICE: signer.key_id(), m.H_PUBKEY: signer.public_key(), m.H_FIRMWARE: "b"}
    out = session.receive(frames.encode(cbor2.dumps([m.HELLO, body])))
    (raw,) = frames.Deframer().feed(out)
    nonce = cbor2.loads(raw)[1]
    proof = uplink.prover(signer)(nonce)
    session.receive(frames.encode(cbor2.dumps([m.PROOF, proof])))


def in_process(tags, grouped, tmp):
    from emtag.host import bridge
    from emtag.host.store import open_store

    path = os.path.join(tmp, "ingest-%s.sqlite" % ("group" if grouped else "batch"))
    store = open_store(path)
    owners = bridge.Owners()
    sessions = []
    for signer, items in tags:
        s = bridge.Session(store, lambda *a, **k: None, lambda: "T", owners=owners)
        _greet(s, signer)
        sessions.append((s, _frames(items)))
    t0 = time.perf_counter()
    turn = 0
    while True:
        live = [(s, f[turn]) for s, f in sessions if turn < len(f)]
        if not live:
            break
        if grouped:
            with store.group():
                for s, frame in live:
                    with store.savepoint():
                        s.receive(frame)
        else:
            for s, frame in live:
                s.receive(frame)
        turn += 1
    took = time.perf_counter() - t0
    stored = sum(store.last_valid(s.device)[0] for s, _ in sessions)
    store.close()
    return took, stored


def floor(tags, tmp):
    """The libraries alone: decode, hash, verify every signature, insert, commit per turn."""
    import hashlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    db = sqlite3.connect(os.path.join(tmp, "floor.sqlite"))
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE r (device TEXT, seq INTEGER, t INTEGER, lat INTEGER, lon INTEGER, "
        "wire BLOB, hash BLOB)"
    )
    keys = [
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), s.public_key())
        for s, _ in tags
    ]
    batches = [[items[i : i + BATCH] for i in range(0, len(items), BATCH)] for _, items in tags]
    ecdsa = ec.ECDSA(hashes.SHA256())
    t0 = time.perf_counter()
    turn = 0
    while True:
        rows = []
        for k, (key, bs) in enumerate(zip(keys, batches, strict=True)):
            if turn >= len(bs):
                continue
            for seq, wire in bs[turn]:
                if wire[0] == 0xD2:
                    prot, _, payload, sig = cbor2.loads(wire).value
                    tbs = cbor2.dumps(["Signature1", prot, b"", payload])
                    key.verify(
                        encode_dss_signature(int.from_bytes(sig[:32]), int.from_bytes(sig[32:])),
                        tbs,
                        ecdsa,
                    )
                else:
                    payload = wire
                rec = cbor2.loads(payload)
                rows.append((str(k), seq, rec.get(2), rec.get(10), rec.get(11), wire,
                             hashlib.sha256(payload).digest()))  # fmt: skip
        if not rows:
            break
        with db:
            db.executemany("INSERT INTO r VALUES (?,?,?,?,?,?,?)", rows)
        turn += 1
    took = time.perf_counter() - t0
    db.close()
    return took


# ------------------------------------------------------------------------------ TCP


async def _tag(port, signer, frames_, done):
    from emtag.firmware import uplink
    from emtag.host import frames
    from emtag.protocol import messages as m

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    dec = frames.Deframer()
    replies: asyncio.Queue = asyncio.Queue()

    async def pump():
        while data := await reader.read(65536):
            for raw in dec.feed(data):
                await replies.put(cbor2.loads(raw))
        await replies.put(None)

    reader_task = asyncio.create_task(pump())

    async def until(pred):
        while True:
            r = await replies.get()
            if r is None:
                raise ConnectionError("closed by the bridge")
            if pred(r):
                return r

    body = {m.H_DEVICE: signer.key_id(), m.H_PUBKEY: signer.public_key(), m.H_FIRMWARE: "b"}
    writer.write(frames.encode(cbor2.dumps([m.HELLO, body])))
    ch = await until(lambda r: r[0] == m.CHALLENGE)
    writer.write(frames.encode(cbor2.dumps([m.PROOF, uplink.prover(signer)(ch[1])])))
    await until(lambda r: r[0] == m.ACK)
    await done["start"].wait()
    # upload with the uplink's window: up to WINDOW batches unacknowledged
    last_seq = frames_[-1][0]
    sent = acked = 0
    while acked < last_seq:
        while sent < len(frames_) and frames_[sent][0] - acked <= WINDOW * BATCH + BATCH:
            writer.write(frames_[sent][1])
            sent += 1
        r = await until(lambda r: r[0] in (m.ACK, m.NACK))
        if r[0] == m.ACK:
            acked = max(acked, r[1])
    done["acked"] += last_seq
    writer.close()
    reader_task.cancel()


async def _tcp(port, tags):
    done = {"start": asyncio.Event(), "acked": 0}
    plan = []
    for signer, items in tags:
        fr = _frames(items)
        ends = [items[min(i + BATCH, len(items)) - 1][0] for i in range(0, len(items), BATCH)]
        plan.append((signer, list(zip(ends, fr, strict=True))))
    tasks = [asyncio.create_task(_tag(port, s, f, done)) for s, f in plan]
    await asyncio.sleep(1.0)  # every tag connected and proven its key
    t0 = time.perf_counter()
    done["start"].set()
    await asyncio.gather(*tasks)
    return time.perf_counter() - t0


def over_tcp(tags, tmp):
    store = os.path.join(tmp, "tcp.sqlite")
    proc = subprocess.Popen(
        [sys.executable, "-m", "emtag.cli.main", "bridge", "--listen", "tcp://127.0.0.1:0",
         "--store", store, "--quiet", "--rate", "100000000", "--per-address", "10000",
         "--max-connections", "10000"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        port = None
        for line in proc.stdout:
            found = re.search(r"listening +address=tcp://[\d.]+:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        if port is None:
            raise RuntimeError("emtag bridge did not start")
        return asyncio.run(_tcp(port, tags))
    finally:
        proc.terminate()
        proc.wait(30)


def run(args):
    t0 = time.perf_counter()
    tags = [benchstreams.stream(1000 + i, args.fixes) for i in range(args.tags)]
    n_fix = sum(benchstreams.fixes_in(items) for _, items in tags)
    n_rec = sum(len(items) for _, items in tags)
    print(
        "%d tags x %d fixes: %d fixes, %d records with checkpoints (made in %.1f s)"
        % (args.tags, args.fixes, n_fix, n_rec, time.perf_counter() - t0)
    )
    with tempfile.TemporaryDirectory() as tmp:
        group, stored = in_process(tags, True, tmp)
        assert stored == n_rec, (stored, n_rec)
        batch, _ = in_process(tags, False, tmp)
        peer = floor(tags, tmp)
        print("in process, one commit per turn      %8.0f fixes/s" % (n_fix / group))
        print("in process, one commit per batch     %8.0f fixes/s" % (n_fix / batch))
        print("peer: libraries alone (floor)        %8.0f fixes/s" % (n_fix / peer))
        print("ratio emtag/floor, time (in process) %8.2f" % (group / peer))
        ok = n_fix / group >= TARGET_IN_PROCESS
        print("target %d fixes/s in process: %s" % (TARGET_IN_PROCESS, "met" if ok else "NOT met"))
        if not args.no_tcp:
            took = over_tcp(tags, tmp)
            rate = n_fix / took
            print("over TCP, %d tags at once            %8.0f fixes/s" % (args.tags, rate))
            print("ratio TCP/in process                 %8.2f" % (rate / (n_fix / group)))
            ok = rate >= TARGET_TCP
            print("target %d fixes/s over TCP: %s" % (TARGET_TCP, "met" if ok else "NOT met"))
    return 0


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    add_arguments(p)
    sys.exit(run(p.parse_args()))
