"""The bridge under attack: how long an honest tag waits for its ACK, and how much memory
the bridge holds, while each attack class of issue 13 runs against it; then kill -9.

A real `emtag bridge` process (TCP, a fresh SQLite store, the default limits, admission on
first contact so attackers can hold proven keys of their own) and one honest tag: the
firmware's record log, evidence chain and uplink (tools/sftag.py) on 127.0.0.1. The tag
logs a block of fixes every few seconds (--every), seals it with a checkpoint and uploads
it over the connection it holds, connecting afresh for one block in --reconnect-every (a
tag's link drops now and then; the old connection is left open, as after a silent drop,
and the bridge closes it when the new one proves the key). Each block's latency: from the
moment it is sealed and sendable (before connecting, on a fresh connection) to the ACK that
covers it.

The peer: the same tag against the same bridge with no attack, measured first in the same
run. Then each attack class (tools/hostile_peers.py; --list shows them) runs in a child
process from other loopback addresses for --seconds while the tag uploads. The bridge's
resident memory (VmRSS) is sampled every 0.1 s.

Then, under the forged-record flood, the tag uploads a backlog (--backlog fixes) and the
bridge is killed (SIGKILL) when half of it is acknowledged, restarted on the same store,
and the tag carries on. Last, the store must hold the tag's records 1..N, each once.

Targets (issue 13): every block acknowledged within 2 s under every attack; memory bounded
(RSS at most 256 MB, and no class's second half more than 16 MB above its first: growth
with time, not load); nothing acknowledged lost, nothing duplicated (kill -9 included).
Exit status 1 if any is missed. The attackers run on the same machine and compete with the
bridge for its cores: on a small shared machine the figures vary from run to run.

    emtag bench hostile                       # every class, 25 s each (about 5 min)
    emtag bench hostile --classes flood,chatty --seconds 10
    emtag bench hostile --json > hostile.json
"""

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

from emtag.tools import hostile_peers
from emtag.tools.hostile_report import (
    DRIFT_MB,
    RSS_BOUND_MB,
    TARGET_S,
    print_report,
    secs,
    verdicts,
)

ROUND_TIMEOUT_S = 30.0  # a block not acknowledged by then counts as never
WARMUP_S = 1.0  # the attack runs this long before the tag's first block
SETTLE_S = 1.0  # between classes: the attack's connections close
HONEST_SEED = 100

HELP = "the bridge under attack: an honest tag's ACK latency and the bridge's memory per attack"


def add_arguments(p):
    p.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the examples' layout
    p.add_argument(
        "--seconds",
        type=float,
        default=25.0,
        help="how long each attack class runs while the tag uploads (default: %(default)s)",
    )
    p.add_argument(
        "--every",
        type=float,
        default=2.0,
        help="seconds between the tag's blocks (default: %(default)s)",
    )
    p.add_argument(
        "--fixes", type=int, default=10, help="fixes in each block (default: %(default)s)"
    )
    p.add_argument(
        "--reconnect-every",
        type=int,
        default=5,
        metavar="N",
        help="the tag connects afresh for one block in N (default: %(default)s)",
    )
    p.add_argument(
        "--classes",
        metavar="A,B,...",
        help="attack classes to run (default: all; --list names them)",
    )
    p.add_argument("--list", action="store_true", help="list the attack classes and exit")
    p.add_argument(
        "--backlog",
        type=int,
        default=3000,
        help="fixes the tag uploads across the kill -9 (default: %(default)s)",
    )
    p.add_argument("--no-kill", action="store_true", help="skip the kill -9 and restart")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")


def _say(text):
    print(text, file=sys.stderr, flush=True)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values, q):
    """The q-quantile by nearest rank (None: a block never acknowledged, counted as inf)."""
    xs = sorted(float("inf") if v is None else v for v in values)
    if not xs:
        return None
    return xs[min(len(xs) - 1, max(0, int(round(q * len(xs) + 0.5)) - 1))]


# ------------------------------------------------------------------------ the bridge


class Bridge:
    """`emtag bridge` on a fixed port and store, its memory sampled and its event lines
    counted per phase. Its output goes to a file, as a bridge's log would: a pipe that this
    process read while it measured would compete with the tag for this process, and could
    hold the bridge up when it fell behind."""

    def __init__(self, store, port, log):
        self.store, self.port, self.log = store, port, log
        self.phase = "start"
        self.events = {}  # phase -> {event or "closed: reason": count}
        self.faults = []  # session_error / store_error lines: each one a bug
        self.rss = {}  # phase -> [kB, ...]
        self.proc = None
        self._read = 0  # bytes of the log counted
        self._sampling = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def start(self):
        with open(self.log, "ab") as out:
            since = out.tell()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "emtag.cli.main", "bridge", "--listen",
                 "tcp://127.0.0.1:%d" % self.port, "--store", self.store],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        end = time.monotonic() + 60
        while not self._logged("listening", since):
            if self.proc.poll() is not None or time.monotonic() > end:
                with open(self.log, errors="replace") as f:
                    raise RuntimeError("emtag bridge did not start:\n" + f.read()[-2000:])
            time.sleep(0.05)
        if not self._sampler.is_alive():
            self._sampling.set()
            self._sampler.start()

    def _logged(self, text, since):
        with open(self.log, "rb") as f:
            f.seek(since)
            return text.encode() in f.read()

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)

    def stop(self):
        self._sampling.clear()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.count()

    def alive(self):
        return self.proc.poll() is None

    def begin(self, phase):
        """What the bridge logged so far belongs to the phase before this one."""
        self.count()
        self.phase = phase

    def count(self):
        """Count the event lines logged since the last count into the current phase."""
        with open(self.log, "rb") as f:
            f.seek(self._read)
            data = f.read()
        done = data.rfind(b"\n") + 1  # whole lines only
        self._read += done
        counts = self.events.setdefault(self.phase, {})
        for line in data[:done].decode("utf-8", "replace").splitlines():
            self._line(line, counts)
        return counts

    def _line(self, line, counts):
        parts = line.split(None, 2)
        if len(parts) < 2:
            return
        kind = parts[1]
        if kind in ("session_error", "store_error") and len(self.faults) < 20:
            self.faults.append(line)
        if kind == "closed" and "reason=" in line:
            reason = line.split("reason=", 1)[1]
            kind = "closed: " + re.split(r"[(:\d]", reason, maxsplit=1)[0].strip()
        elif kind == "refused":
            n = re.search(r"connections=(\d+)", line)
            counts["refused"] = counts.get("refused", 0) + (int(n.group(1)) if n else 1)
            return
        counts[kind] = counts.get(kind, 0) + 1

    def _sample(self):
        while self._sampling.is_set():
            try:
                with open("/proc/%d/status" % self.proc.pid) as f:
                    kb = next(int(x.split()[1]) for x in f if x.startswith("VmRSS"))
                self.rss.setdefault(self.phase, []).append(kb)
            except (OSError, StopIteration, ValueError):
                pass  # between a kill and the restart
            time.sleep(0.1)


# ------------------------------------------------------------------------ the honest tag


class Honest:
    """The honest tag: one connection at a time, blocks timed from sealed to acknowledged."""

    def __init__(self, port, fixes):
        from emtag.tools.sftag import Tag

        self.port, self.fixes = port, fixes
        self.tag = Tag(seed=HONEST_SEED, blocks=2048)
        self.up = True
        self.tag.uplink.carrier = lambda: self.up  # the link's state, as a modem reports it
        self.sock = None
        self.link = None
        self.sent = []  # RECORDS frames sent on this connection (late data, for "stale")
        self.lost = 0  # connections of this tag the bridge closed or refused

    def what_an_attacker_knows(self):
        """Its HELLO (in clear) and a PROOF it sent before (on the wire), to replay."""
        from emtag.firmware import uplink

        return {
            "device": self.tag.signer.key_id().hex(),
            "pubkey": self.tag.signer.public_key().hex(),
            "firmware": "test",
            "proof": bytes(uplink.prover(self.tag.signer)(os.urandom(16))).hex(),
        }

    def connect(self, keep_old=False):
        """A fresh connection (the uplink says HELLO on it); the old one is closed, or with
        keep_old returned open (with the frames it carried) for the caller."""
        from emtag.protocol import frame
        from emtag.tools.sftag import SocketLink

        old = (self.sock, self.sent) if keep_old else None
        if self.sock is not None and not keep_old:
            self.sock.close()
        self.sock = self.link = None
        self.up = False
        self.tag.uplink.poll(int(time.monotonic() * 1000))  # the carrier dropped: probe anew
        self.up = True
        self.tag.deframer = frame.Deframer()
        self.sent = []
        while self.sock is None:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            except OSError:
                self.lost += 1
                time.sleep(0.05)
        self.link = SocketLink(self.sock)
        return old

    def _pump(self, target, end):
        """Run the uplink until the ACK covers target: None, or "timeout" / "lost"."""
        from emtag.protocol import cbor, frame
        from emtag.protocol import messages as m

        tag = self.tag
        while tag.log.acked < target:
            now = time.monotonic()
            if now > end:
                return "timeout"
            for msg in tag.uplink.poll(int(now * 1000)):
                data = frame.encode(msg)
                if cbor.loads(msg)[0] == m.RECORDS:
                    self.sent.append(data)  # what a stale connection may deliver late
                self.link.send(data)
            data = self.link.recv(0.02)
            if data is None:
                return "lost"
            for raw in tag.deframer.feed(data):
                tag.uplink.receive(cbor.loads(raw), int(time.monotonic() * 1000))
        return None

    def block(self, fresh, alert_every=0, stale=False, n=None):
        """Log and seal a block, upload it: (seconds to its ACK or None, fresh)."""
        self.tag.add(n or self.fixes, alert_every=alert_every)
        target = self.tag.last_seq
        t0 = time.monotonic()
        end = t0 + ROUND_TIMEOUT_S
        old = None
        if fresh or self.sock is None:
            # the link dropped without a word: the bridge still holds the old connection
            # (until the new one proves the key), and its slot
            old = self.connect(keep_old=True)
            if stale and old[0] is not None:  # ...which delivers late data meanwhile
                threading.Thread(target=_late_data, args=old, daemon=True).start()
                old = None
        while True:
            why = self._pump(target, end)
            if why != "lost":
                break
            self.lost += 1
            self.connect()
        took = time.monotonic() - t0
        if old and old[0] is not None:
            old[0].close()
        return (None if why else took), fresh

    def close(self):
        if self.sock is not None:
            self.sock.close()


def _late_data(sock, sent):
    """A stale connection of the tag delivering what it carried once more, late, for a
    second while the tag's new connection takes over."""
    end = time.monotonic() + 1.0
    sock.settimeout(0.5)
    try:
        while time.monotonic() < end and sent:
            for data in sent:
                sock.sendall(data)
            time.sleep(0.1)
    except OSError:
        pass  # closed by the bridge: superseded
    finally:
        sock.close()


def honest_rounds(honest, seconds, every, reconnect_every, stale=False):
    """Blocks every `every` seconds for `seconds`: [(latency or None, fresh), ...]."""
    out = []
    start = time.monotonic()
    i = 0
    while True:
        due = start + i * every
        if i > 0 and max(due, time.monotonic()) - start >= seconds:
            break
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        fresh = stale or (reconnect_every > 0 and i % reconnect_every == reconnect_every - 1)
        out.append(honest.block(fresh, alert_every=50, stale=stale))
        i += 1
    return out


# ------------------------------------------------------------------------ one class


class Attack:
    """An attack class in a child process (tools/hostile_peers.py)."""

    def __init__(self, kind, port, known):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emtag.tools.hostile_peers", kind, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.proc.stdin.write(json.dumps(known) + "\n")
        self.proc.stdin.flush()
        ready = self.proc.stdout.readline().strip()
        if ready != "started":
            self.proc.kill()
            raise RuntimeError("attack %s did not start: %r" % (kind, ready))

    def stop(self):
        """Its counters, once it has stopped."""
        try:
            out, _ = self.proc.communicate(timeout=60)  # closes its stdin: stop
            return json.loads(out.strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            self.proc.kill()
            self.proc.wait(10)
            return {"error": "no report"}


def measure(kind, bridge, honest, args, honest_info):
    """One phase: the attack (None: the peer) while the tag uploads; its figures."""
    bridge.begin(kind or "none")
    attack = None
    if kind not in (None, "stale"):
        attack = Attack(kind, bridge.port, honest_info)
        time.sleep(WARMUP_S)
    lost_before = honest.lost
    rounds = honest_rounds(
        honest, args.seconds, args.every, args.reconnect_every, stale=kind == "stale"
    )
    counters = attack.stop() if attack else {}
    rss = bridge.rss.get(bridge.phase, [])
    lat = [r[0] for r in rounds]
    fresh = [r[0] for r in rounds if r[1]]
    half = len(rss) // 2
    out = {
        "blocks": len(rounds),
        "never_acked": sum(1 for x in lat if x is None),
        "median_s": _pct(lat, 0.5),
        "p99_s": _pct(lat, 0.99),
        "max_s": _pct(lat, 1.0),
        "fresh_max_s": _pct(fresh, 1.0),
        "honest_connections_lost": honest.lost - lost_before,
        "rss_max_mb": max(rss, default=0) / 1024,
        "rss_first_half_mb": max(rss[:half], default=0) / 1024,
        "rss_second_half_mb": max(rss[half:], default=0) / 1024,
        "bridge_alive": bridge.alive(),
        "attack": counters,
        "bridge_events": dict(bridge.count()),
    }
    time.sleep(SETTLE_S)
    return out


def kill_9(bridge, honest, args, honest_info):
    """A backlog uploading, the forged-record flood on: SIGKILL at half, restart, finish."""
    bridge.begin("kill9")
    attack = Attack("forged", bridge.port, honest_info)
    time.sleep(WARMUP_S)
    tag = honest.tag
    tag.add(args.backlog, alert_every=90)  # a tag back from hours out of reach
    target = tag.last_seq
    halfway = tag.log.acked + (target - tag.log.acked) // 2
    honest.connect()
    honest._pump(halfway, time.monotonic() + ROUND_TIMEOUT_S)
    bridge.kill()
    acked_at_kill = tag.log.acked
    bridge.start()
    t0 = time.monotonic()
    honest.connect()
    why = None
    while tag.log.acked < target and time.monotonic() - t0 < ROUND_TIMEOUT_S:
        why = honest._pump(target, t0 + ROUND_TIMEOUT_S)
        if why == "lost":
            honest.lost += 1
            honest.connect()
    recovered = time.monotonic() - t0 if tag.log.acked >= target else None
    counters = attack.stop()
    stored = _stored(bridge.store, tag.device)
    return {
        "records": target,
        "acked_at_kill": acked_at_kill,
        "recovered_s": recovered,
        "stored": len(stored),
        "contiguous": stored == list(range(1, target + 1)),
        "acked_kept": stored[:acked_at_kill] == list(range(1, acked_at_kill + 1)),
        "attack": counters,
    }


def _stored(store, device):
    from emtag.host.store import open_store

    with open_store(store, create=False) as st:
        return [r[0] for r in st.records(device)]


# ------------------------------------------------------------------------ the run


def run(args):
    from emtag.host.errors import CommandError

    if args.list:
        for name, what in hostile_peers.ATTACKS.items():
            print("%-12s %s" % (name, what))
        return 0
    classes = list(hostile_peers.ATTACKS)
    if args.classes:
        classes = [c.strip() for c in args.classes.split(",") if c.strip()]
        unknown = [c for c in classes if c not in hostile_peers.ATTACKS]
        if unknown:
            raise CommandError("unknown attack class %s; --list names them" % ", ".join(unknown))
    if not (0.5 <= args.seconds <= 3600 and 0.1 <= args.every <= 60 and 1 <= args.fixes <= 58):
        raise CommandError("--seconds 0.5..3600, --every 0.1..60, --fixes 1..58")
    if not 100 <= args.backlog <= 20000:
        raise CommandError("--backlog 100..20000")
    if not sys.platform.startswith("linux"):
        raise CommandError("emtag bench hostile reads the bridge's memory from /proc (Linux)")
    with tempfile.TemporaryDirectory(prefix="emtag-bench-hostile-") as tmp:
        report = _run(args, classes, tmp)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_report(report)
    return 0 if all(v["pass"] for v in report["verdicts"].values()) else 1


def _run(args, classes, tmp):
    port = _free_port()
    bridge = Bridge(os.path.join(tmp, "store.sqlite"), port, os.path.join(tmp, "bridge.log"))
    bridge.start()
    honest = Honest(port, args.fixes)
    info = honest.what_an_attacker_knows()
    phases = {}
    kill = None
    try:
        honest.block(True)  # not measured: the tag's first contact registers it
        order = [None] + classes
        for k, kind in enumerate(order):
            name = kind or "none"
            _say(
                "emtag bench hostile: %s (%d/%d), %g s..." % (name, k + 1, len(order), args.seconds)
            )
            phases[name] = r = measure(kind, bridge, honest, args, info)
            _say(
                "  %s: %d blocks, max %s, RSS max %.1f MB"
                % (name, r["blocks"], secs(r["max_s"]), r["rss_max_mb"])
            )
        if not args.no_kill:
            _say("emtag bench hostile: kill -9 mid-upload under the forged-record flood...")
            kill = kill_9(bridge, honest, args, info)
        # the store, as the tag knows it: every record it logged, once each
        honest.block(True)
        stored = _stored(bridge.store, honest.tag.device)
        last = honest.tag.last_seq
        alive = bridge.alive()
    finally:
        honest.close()
        bridge.stop()
    report = {
        "settings": {
            "seconds": args.seconds,
            "every_s": args.every,
            "fixes": args.fixes,
            "reconnect_every": args.reconnect_every,
            "target_s": TARGET_S,
            "rss_bound_mb": RSS_BOUND_MB,
            "drift_mb": DRIFT_MB,
        },
        "peer": phases.pop("none"),
        "classes": phases,
        "kill9": kill,
        "store": {
            "last_seq": last,
            "stored": len(stored),
            "once_each": stored == list(range(1, last + 1)),
        },
        "bridge_faults": bridge.faults,
        "bridge_alive": alive,
    }
    report["verdicts"] = verdicts(report)
    return report


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    add_arguments(p)
    sys.exit(run(p.parse_args()))
