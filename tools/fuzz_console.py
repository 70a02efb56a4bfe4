"""Fuzz the tag's console with hypothesis: bytes, frames, CBOR, COSE and near-valid signed
commands into the firmware's own modules (firmware/console.py, commands.py, config.py), run
in-process on CPython over a littlefs RAM flash, exactly as the tag runs them.

    python -m emtag.tools.fuzz_console --examples 100000 [--seed N]

After every example it asserts that:
  - no exception escaped Console.feed (the tag would have crashed);
  - every reply is a valid frame holding either an error or the public `info` answer:
    nothing was authorised, so no signed receipt;
  - the flash is byte-for-byte what it was, and so are the authority's counter, anchor,
    config, armed and dev state: nothing changed without valid authorisation;
  - no reply holds the private key, and a locked tag never gave up its console.

The inputs never include a validly signed fresh command (the fuzzer holds no trusted key
with a fresh counter): they are random bytes and frames, random CBOR, COSE_Sign1 messages
signed by an untrusted key, anchor-signed commands that are stale or for another tag,
certificates from the wrong issuer or for another tag, and bit flips, truncations and
splices of all of those. Two tags are fuzzed: a provisioned, armed one with zones and a
changed config, and a factory-fresh one (whose only way in, a provision signed by the
anchor it installs, random input cannot produce).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from emtag.firmware import commands, config, console, cose
from emtag.firmware.signer import SoftwareSigner
from emtag.protocol import cbor, frame
from emtag.simulator import littlefs_host
from emtag.simulator.flash import Flash

TAG_D = 0x5EC12E7D0D5A11C0FFEE0123456789ABCDEF0123456789ABCDEF0123456789A
CENTRE_D = 0x0C3E7AE5C0DE0000111122223333444455556666777788889999AAAABBBBCCCC
OTHER_D = 0x07E4E2000000000000000000000000000000000000000000000000000000000D
FITTER_D = 0x0F177E2000000000000000000000000000000000000000000000000000000042
COUNTER = 20  # the provisioned tag has accepted this many commands

TAG = SoftwareSigner(TAG_D)
CENTRE = SoftwareSigner(CENTRE_D)
OTHER = SoftwareSigner(OTHER_D)
FITTER = SoftwareSigner(FITTER_D)
SECRET = TAG_D.to_bytes(32, "big")


class Device(commands.Device):
    def __init__(self):
        self.events = 0
        self.repl = 0
        self.wiped = False

    def event(self, kind, **fields):
        self.events += 1

    def strap_closed(self):
        return True

    def check_zones(self, fs, path):
        pass  # the zone format is not what is fuzzed here

    def zones_changed(self):
        return 1

    def pending(self):
        return 0

    def wipe(self):
        self.wiped = True
        self.halted = True

    def enter_repl(self):
        self.repl += 1


class Bench:
    """One tag's flash, authority and console; `state()` is everything that must not move."""

    def __init__(self, provisioned=True):
        self.flash = Flash(512, 64)
        littlefs_host.format_and_provision(self.flash, {})
        self.fs = littlefs_host.mount(littlefs_host.FlashBlockDevice(self.flash))
        self.device = Device()
        self.cmds = commands.Commands(self.fs, TAG, self.device)
        self.id = TAG.key_id()
        self.clock = 0
        if provisioned:
            self._setup()
        self.before = self.state()

    def _signed(self, counter, name, args, key=CENTRE, device=None, cert=None):
        payload = cbor.dumps([counter, device or self.id, name, args])
        req = [2, counter, cose.sign1(key, payload, kid=key.key_id())]
        if cert is not None:
            req.append(cert)
        return cbor.dumps(req)

    def _setup(self):
        con = self.console()
        steps = [
            ("provision", {"anchor": CENTRE.public_key()}),
            ("config_set", {"set": {"fix_interval_s": 30, "tz": "CET-1CEST,M3.5.0,M10.5.0/3"}}),
            ("zones_put", zone_args(b"\x84\x01\xa0\x80\x00")),
            ("arm", {}),
        ]
        for i, (name, args) in enumerate(steps):
            reply = decode_replies(
                con.feed(b"\x00" + frame.encode(self._signed(i + 1, name, args)))
            )
            assert reply[0][1] == 0, reply
        # spend the counter up to COUNTER, so stale commands below it exist
        for c in range(len(steps) + 1, COUNTER + 1):
            con.feed(b"\x00" + frame.encode(self._signed(c, "status", {})))
        assert self.cmds.counter == COUNTER

    def console(self):
        return console.Console(
            self.fs, lambda: self.cmds, self.device.enter_repl, self.device.event
        )

    def state(self):
        c = self.cmds
        return (
            hashlib.sha256(bytes(self.flash.data)).hexdigest(),
            c.counter,
            c.anchor,
            c.provisioned,
            c.dev,
            c.armed,
            sorted(c.config.values.items()),
            c.damaged,
        )


def zone_args(table):
    return {
        "total": len(table),
        "sha256": hashlib.sha256(table).digest(),
        "offset": 0,
        "data": table,
    }


def decode_replies(frames):
    out = []
    d = frame.Deframer()
    for f in frames:
        msgs = d.feed(f)
        assert len(msgs) == 1, "a reply is one whole frame"
        out.append(cbor.loads(msgs[0]))
    return out


# ---------------------------------------------------------------- strategies


def _cbor_values():
    scalars = st.one_of(
        st.integers(min_value=-(2**64), max_value=2**64 - 1),
        st.binary(max_size=80),
        st.text(max_size=40),
        st.booleans(),
        st.none(),
        st.sampled_from(list(commands.COMMANDS) + ["info", "anchor", "set", "force", "on"]),
    )
    keys = st.one_of(
        st.integers(-5, 30),
        st.text(max_size=12),
        st.sampled_from(
            ["anchor", "set", "total", "sha256", "offset", "data", "utc_ms", "n", "force", "on"]
        ),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=6), st.dictionaries(keys, children, max_size=5)
        ),
        max_leaves=20,
    )


CBOR_VALUES = _cbor_values()
ARGS = st.dictionaries(
    st.sampled_from(
        ["anchor", "set", "total", "sha256", "offset", "data", "utc_ms", "n", "force", "on", "x"]
    ),
    CBOR_VALUES,
    max_size=4,
)
COUNTERS = st.one_of(st.integers(1, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(21, 40))
NAMES = st.one_of(
    st.sampled_from(commands.COMMANDS),
    st.sampled_from(commands.COMMANDS),
    st.sampled_from(commands.COMMANDS),
    st.text(max_size=12),
)
_INT = st.one_of(st.integers(-5, 70000), st.integers(-(2**64), 2**64 - 1))


def plausible_args(name):
    """Arguments of the right shape for the command (so the fuzz reaches the checks behind
    the signature), or now and then anything at all."""
    if name == "config_set":
        good = st.fixed_dictionaries(
            {
                "set": st.dictionaries(
                    st.one_of(st.sampled_from(sorted(config.FIELDS)), st.text(max_size=8)),
                    st.one_of(_INT, st.text(max_size=30)),
                    max_size=4,
                )
            }
        )
    elif name == "zones_put":
        good = st.fixed_dictionaries(
            {
                "total": _INT,
                "sha256": st.binary(min_size=32, max_size=32),
                "offset": _INT,
                "data": st.binary(max_size=64),
            }
        )
    elif name == "provision":
        good = st.fixed_dictionaries(
            {
                "anchor": st.one_of(
                    st.just(CENTRE.public_key()),
                    st.just(OTHER.public_key()),
                    st.binary(min_size=65, max_size=65),
                )
            }
        )
    elif name in ("time_sync", "logs", "decommission", "devmode"):
        key = {"time_sync": "utc_ms", "logs": "n", "decommission": "force", "devmode": "on"}
        good = st.fixed_dictionaries({key[name]: st.one_of(_INT, st.booleans())})
    else:
        good = st.just({})
    return st.one_of(good, good, good, ARGS)


@st.composite
def unauthorised_commands(draw, bench_id):
    """A signed request that must not be authorised, by construction."""
    name = draw(NAMES)
    args = draw(plausible_args(name))
    kind = draw(st.sampled_from(["untrusted", "stale", "other_tag", "bad_cert", "cert_other"]))
    other_id = OTHER.key_id()
    cert = None
    if kind == "untrusted":  # any counter, right tag, signed by a key the tag does not trust
        key, counter, device = OTHER, draw(COUNTERS), bench_id
        if name == "provision" and draw(st.booleans()):
            args = dict(args, anchor=CENTRE.public_key())  # claims the real anchor
    elif kind == "stale":  # the trusted key, but a counter already spent
        key, counter, device = CENTRE, draw(st.integers(0, COUNTER)), bench_id
    elif kind == "other_tag":  # the trusted key, a fresh counter, another tag
        key, counter, device = CENTRE, draw(st.integers(COUNTER + 1, 2**32 - 1)), other_id
    elif kind == "bad_cert":  # a delegate certified by the wrong key
        key, device = FITTER, bench_id
        counter = draw(st.integers(COUNTER + 1, 2**32 - 1))
        allowed = draw(st.lists(NAMES, max_size=4))
        cert = cose.sign1(
            OTHER, cbor.dumps(["emtag-delegation", 1, FITTER.public_key(), None, allowed])
        )
    else:  # a delegate certified by the anchor, but for another tag only
        key, device = FITTER, bench_id
        counter = draw(st.integers(COUNTER + 1, 2**32 - 1))
        cert = cose.sign1(
            CENTRE,
            cbor.dumps(
                ["emtag-delegation", 1, FITTER.public_key(), other_id, list(commands.COMMANDS)]
            ),
        )
    # A provision whose anchor is the key behind its signature (directly, or as the issuer
    # of its certificate) is the valid bootstrap of a factory-fresh tag: never make one.
    issuer = {"untrusted": OTHER, "bad_cert": OTHER}.get(kind, CENTRE)
    if (
        name == "provision"
        and isinstance(args, dict)
        and args.get("anchor") == (issuer.public_key())
    ):
        args = dict(args, anchor=(CENTRE if issuer is OTHER else OTHER).public_key())
    payload = cbor.dumps([counter, device, name, args])
    msg = cose.sign1(key, payload, kid=key.key_id())
    req = [2, draw(st.integers(0, 2**32 - 1)), msg]
    if cert is not None or draw(st.booleans()):
        req.append(cert)
    return cbor.dumps(req)


@st.composite
def mutated(draw, base):
    """Bit flips, truncation, splices and insertions of a message."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "splice", "byte"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte":
            data[i] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            j = draw(st.integers(i, len(data)))
            data[i:j] = draw(st.binary(max_size=16))
    return bytes(data)


def messages(bench_id):
    signed = unauthorised_commands(bench_id)
    info = st.builds(lambda i: cbor.dumps([1, i]), st.integers(0, 2**32 - 1))
    junk = st.builds(lambda v: cbor.dumps(v), CBOR_VALUES)
    shaped = st.builds(
        lambda k, i, v: cbor.dumps([k, i, v]),
        st.integers(-2, 5),
        st.integers(0, 2**32 - 1),
        CBOR_VALUES,
    )
    return st.one_of(
        signed,
        signed,
        signed,
        signed,
        mutated(signed),
        mutated(signed),
        info,
        junk,
        shaped,
        mutated(shaped),
        st.binary(max_size=300),
    )


def streams(bench_id):
    """What arrives on the port: frames of messages, raw noise, or both, in any chunks."""
    framed = st.builds(frame.encode, messages(bench_id))
    noise = st.binary(max_size=200)
    escape = st.sampled_from([b"\r\x03", b"\x03\x03", b"\x00\r\x03", b"\x03"])
    parts = st.lists(st.one_of(framed, framed, framed, noise, escape), min_size=1, max_size=4)
    return st.tuples(parts, st.lists(st.integers(1, 64), max_size=6))


# ---------------------------------------------------------------- the property


def check(bench, parts, cuts):
    stream = b"\x00" + b"".join(parts)
    chunks, i = [], 0
    for c in cuts:
        chunks.append(stream[i : i + c])
        i += c
    chunks.append(stream[i:])
    con = bench.console()
    out = []
    for ch in chunks:
        if ch:
            # a minute between reads: any signature back-off is over, so every example
            # reaches the signature check (the back-off itself is tested elsewhere)
            bench.clock += commands.MAX_BACKOFF_MS
            out.extend(con.poll(ch, bench.clock))  # an exception here fails the example
    for r in decode_replies(out):
        assert isinstance(r, list) and len(r) in (3, 4) and r[1] in (0, 1), r
        if r[1] == 0:
            assert isinstance(r[2], dict), "a signed command was authorised: %r" % (r,)
    for f in out:
        assert f.find(SECRET[:16]) < 0 and f.find(SECRET[16:]) < 0
    assert bench.state() == bench.before, "persisted state changed"
    assert not bench.device.wiped
    if not bench.cmds.dev:
        assert bench.device.repl == 0, "a locked tag gave up its console"


def fuzz(examples, seed_value=None, provisioned=True, report=None, after_setup=None, shrink=True):
    """Run `examples` hypothesis examples against one bench; raises on the first failure
    (shrunk to a small example unless shrink=False). after_setup(bench) runs once the bench
    is ready (tests use it to plant a bug)."""
    bench = Bench(provisioned)
    if after_setup is not None:
        after_setup(bench)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=list(Phase) if shrink else [Phase.explicit, Phase.generate],
    )
    @given(streams(bench.id))
    def prop(args):
        parts, cuts = args
        check(bench, parts, cuts)
        counts[0] += 1

    counts = [0]
    if seed_value is not None:
        prop = seed(seed_value)(prop)
    t0 = time.monotonic()
    prop()
    if report:
        report(
            "%s tag: %d examples in %.0f s, %d events logged, no crash, nothing changed"
            % (
                "provisioned" if provisioned else "factory-fresh",
                counts[0],
                time.monotonic() - t0,
                bench.device.events,
            )
        )
    return counts[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--examples", type=int, default=10000, help="in all: 3/4 provisioned tag, 1/4 fresh"
    )
    ap.add_argument("--seed", type=int)
    args = ap.parse_args(argv)
    n = args.examples * 3 // 4
    total = fuzz(n, args.seed, True, report=print)
    total += fuzz(args.examples - n, args.seed, False, report=print)
    print("fuzz_console: %d examples, all passed" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
