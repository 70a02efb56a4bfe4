# The tag's console and its authority (firmware/console.py, firmware/commands.py), on
# CPython and on the MicroPython unix port at the tag's heap: provisioning, signed commands,
# replays, tampering, commands for another tag, delegation certificates, the REPL escape,
# and that nothing unauthorised changes what is on flash or reveals the private key.
import sys

import ramfs

from emtag.firmware import commands, console, cose
from emtag.firmware.signer import SoftwareSigner
from emtag.protocol import cbor, frame

# Here the firmware modules and this test module are compiled from source into the heap,
# with host-side helpers (signers, a deframer, RAM flash). The console on the tag itself,
# at its 192k budget, is checked with the whole firmware in tests/test_fit.py.
MICROPYTHON_HEAPSIZE = "256k"

TAG_D = 0x5EC12E7D0D5A11C0FFEE0123456789ABCDEF0123456789ABCDEF0123456789A
CENTRE_D = 0x0C3E7AE5C0DE0000111122223333444455556666777788889999AAAABBBBCCCC
FITTER_D = 0x0F177E2000000000000000000000000000000000000000000000000000000042
OTHER_D = 0x07E4E2000000000000000000000000000000000000000000000000000000000D

_signers = {}

try:
    import vfs
except ImportError:  # CPython: littlefs-python, as the simulator uses
    vfs = None


class _Ram(ramfs.RamBlockDevice):
    def __init__(self, block_count):
        self.block_size = 512
        self.block_count = block_count
        self.data = bytearray(512 * block_count)  # one allocation, made once


_bdev = [None]


def new_fs():
    """A fresh littlefs; on MicroPython on one RAM block device reused by every test, so a
    heap fragmented by compiling this module need not find room for another."""
    if vfs is None:
        return ramfs.new_fs(28)
    if _bdev[0] is None:
        _bdev[0] = _Ram(28)
    bd = _bdev[0]
    vfs.VfsLfs2.mkfs(bd)
    return vfs.VfsLfs2(bd, mtime=False), lambda: vfs.VfsLfs2(bd, mtime=False)


new_fs()  # claim the RAM now, while the heap still has it in one piece


def signer(d):
    if d not in _signers:
        _signers[d] = SoftwareSigner(d)
    return _signers[d]


class Device(commands.Device):
    """The rest of the tag, as far as the commands can tell: recorded calls, settable."""

    def __init__(self):
        self.events = []
        self.strap = True
        self.pending_records = 0
        self.wiped = False
        self.repl = 0
        self.uploads = 0
        self.zone_check = None  # None: accept any table

    def event(self, kind, **fields):
        self.events.append((kind, fields))

    def strap_closed(self):
        return self.strap

    def check_zones(self, fs, path):
        if self.zone_check is not None:
            raise ValueError(self.zone_check)

    def zones_changed(self):
        return 1

    def pending(self):
        return self.pending_records

    def request_upload(self):
        self.uploads += 1

    def recent_events(self, n):
        return ['{"type": "%s"}' % k for k, _ in self.events[-n:]] if n else []

    def wipe(self):
        self.wiped = True
        self.halted = True

    def enter_repl(self):
        self.repl += 1


class Bench:
    """A tag's console on a RAM flash, and a host that talks to it in frames."""

    def __init__(self, provision=True):
        self.fs, self.remount = new_fs()
        self.dev = Device()
        self.tag = signer(TAG_D)
        self.cmds = commands.Commands(self.fs, self.tag, self.dev)
        self.con = console.Console(self.fs, lambda: self.cmds, self.dev.enter_repl, self.dev.event)
        self.deframer = frame.Deframer()
        self.id = self.tag.key_id()
        self.counter = 0
        self.clock = 0
        if provision:
            self.ok(self.signed("provision", {"anchor": signer(CENTRE_D).public_key()}))

    def raw(self, data, wait=commands.MAX_BACKOFF_MS):
        self.clock += wait  # by default long enough apart for any signature back-off to end
        out = b"".join(self.con.poll(data, self.clock))
        return [cbor.loads(m) for m in self.deframer.feed(out)]

    def send(self, message, wait=commands.MAX_BACKOFF_MS):
        replies = self.raw(b"\x00" + frame.encode(message), wait)
        assert len(replies) == 1, replies
        return replies[0]

    def request(self, msg):
        return self.send(cbor.dumps(msg))

    def signed(self, name, args, key=CENTRE_D, cert=None, counter=None, device=None):
        """The request message (bytes) for a signed command; counter: next one by default."""
        if counter is None:
            self.counter += 1
            counter = self.counter
        payload = cbor.dumps([counter, device or self.id, name, args])
        cmd = cose.sign1(signer(key), payload, kid=signer(key).key_id())
        req = [2, 77, cmd] if cert is None else [2, 77, cmd, cert]
        return cbor.dumps(req)

    def ok(self, message, wait=commands.MAX_BACKOFF_MS):
        r = self.send(message, wait)
        assert r[1] == 0, r
        body = cbor.loads(cose.verify1(self.tag.public_key(), r[2]))
        return body[2]

    def err(self, message, wait=commands.MAX_BACKOFF_MS):
        r = self.send(message, wait)
        assert r[1] == 1, r
        return r[2]

    def files(self):
        return snapshot(self.fs, "")


def snapshot(fs, path):
    out = {}
    for entry in fs.ilistdir(path or "/"):
        full = path + "/" + entry[0] if path else entry[0]
        if entry[1] == 0x4000:
            out.update(snapshot(fs, full))
        else:
            f = fs.open(full, "rb")
            out[full] = f.read()
            f.close()
    return out


def cert_for(subject, device=None, allowed=None, issuer=CENTRE_D):
    if allowed is None:
        allowed = [c for c in commands.COMMANDS if c not in commands.ANCHOR_ONLY]
    body = ["emtag-delegation", 1, signer(subject).public_key(), device, allowed]
    return cose.sign1(signer(issuer), cbor.dumps(body), kid=signer(issuer).key_id())


def last_event(b):
    return b.dev.events[-1]


def test_info_is_public_and_reveals_no_secret():
    b = Bench(provision=False)
    r = b.request([1, 5])
    assert r[0] == 5 and r[1] == 0
    info = r[2]
    assert info["device"] == b.id
    assert info["pubkey"] == b.tag.public_key()
    assert info["provisioned"] is False and info["dev"] is True and info["counter"] == 0
    assert info["anchor"] is None
    b.ok(b.signed("provision", {"anchor": signer(CENTRE_D).public_key()}))
    info = b.request([1, 6])[2]
    assert info["provisioned"] is True and info["dev"] is False and info["counter"] == 1
    assert info["anchor"] == signer(CENTRE_D).key_id()


def test_unsigned_requests_are_refused_and_change_nothing():
    b = Bench()
    before = b.files()
    cfg = {"set": {"fix_interval_s": 30}}
    bad = [
        cbor.dumps([0, 1, "config_set", cfg]),  # unknown kind
        cbor.dumps([1, 2, "config_set", cfg]),  # info takes nothing more
        cbor.dumps([2, 3, cbor.dumps([9, b.id, "config_set", cfg])]),  # no COSE around it
        cbor.dumps([2, 4, b"\xd2\x84"]),  # truncated COSE
        cbor.dumps([2, 5]),
        cbor.dumps({"cmd": "config_set"}),
        b"\xff\xff",  # not CBOR
        cbor.dumps([2, 2**40, b""]),  # id out of range
    ]
    for m in bad:
        code = b.err(m)
        assert code == "malformed", (m, code)
        assert last_event(b)[0] == "console_rejected"
    # without a trusted key: neither zones nor config, whoever signs
    import hashlib

    table = b"\x84\x01\xa0\x80\x00"
    zones = {"total": 5, "sha256": hashlib.sha256(table).digest(), "offset": 0, "data": table}
    for key in (OTHER_D, FITTER_D, TAG_D):
        assert b.err(b.signed("zones_put", zones, key=key)) == "bad_signature"
        assert b.err(b.signed("config_set", cfg, key=key)) == "bad_signature"
    assert b.files() == before and "zones.cbor" not in before
    assert b.cmds.config.get("fix_interval_s") == 60


def test_provision_is_accepted_once():
    b = Bench()
    before = b.files()
    code = b.err(b.signed("provision", {"anchor": signer(OTHER_D).public_key()}, key=OTHER_D))
    assert code == "provisioned"
    assert b.files() == before
    assert b.cmds.anchor == signer(CENTRE_D).public_key()


def test_provision_needs_the_anchors_signature():
    b = Bench(provision=False)
    before = b.files()
    # anchor A claimed, signed by B: a wearer cannot make the tag trust a key they hold...
    m = b.signed("provision", {"anchor": signer(CENTRE_D).public_key()}, key=OTHER_D)
    assert b.err(m) == "bad_signature"
    # ...nor install an anchor through a certificate that anchor never signed
    cert = cert_for(FITTER_D, issuer=OTHER_D)
    m = b.signed("provision", {"anchor": signer(CENTRE_D).public_key()}, FITTER_D, cert)
    assert b.err(m) == "untrusted"
    assert b.err(b.signed("provision", {"anchor": b"\x04" + b"\x01" * 64})) == "bad_args"
    assert b.files() == before and not b.cmds.provisioned


def test_provision_by_a_fitter_with_a_certificate():
    b = Bench(provision=False)
    cert = cert_for(FITTER_D)
    r = b.ok(b.signed("provision", {"anchor": signer(CENTRE_D).public_key()}, FITTER_D, cert))
    assert r["device"] == b.id and r["pubkey"] == b.tag.public_key()
    assert r["anchor"] == signer(CENTRE_D).key_id()
    assert ("console_command", {"command": "provision", "counter": 1, "signer": "delegate"}) in (
        b.dev.events
    )


def test_commands_before_provisioning_are_refused():
    b = Bench(provision=False)
    before = b.files()
    assert b.err(b.signed("config_set", {"set": {"fix_interval_s": 30}})) == "not_provisioned"
    assert b.files() == before


def test_replayed_command_is_rejected_and_logged():
    b = Bench()
    m = b.signed("config_set", {"set": {"fix_interval_s": 30}})
    b.ok(m)
    before = b.files()
    assert b.err(m) == "replayed"
    kind, fields = last_event(b)
    assert kind == "console_rejected" and fields["code"] == "replayed"
    assert "not above" in fields["reason"]
    # an old command never sent is stale too: counters only go up
    stale = b.signed("config_set", {"set": {"fix_interval_s": 40}}, counter=1)
    assert b.err(stale) == "replayed"
    assert b.files() == before
    assert b.cmds.config.get("fix_interval_s") == 30


def test_tampered_command_is_rejected():
    b = Bench()
    before = b.files()
    m = bytearray(b.signed("config_set", {"set": {"fix_interval_s": 30}}))
    i = bytes(m).find(b"fix_interval_s")
    m[i + 20] ^= 0x01  # inside the payload's value (30 -> 31)
    assert b.err(bytes(m)) == "bad_signature"
    sig = bytearray(b.signed("config_set", {"set": {"fix_interval_s": 30}}))
    sig[-5] ^= 0x80  # inside the signature
    assert b.err(bytes(sig)) == "bad_signature"
    assert last_event(b)[1]["code"] == "bad_signature"
    assert b.files() == before


def test_command_for_another_tag_is_rejected():
    b = Bench()
    before = b.files()
    other = signer(OTHER_D).key_id()
    m = b.signed("config_set", {"set": {"fix_interval_s": 30}}, device=other)
    assert b.err(m) == "wrong_device"
    assert other.hex() in last_event(b)[1]["reason"]
    cert = cert_for(FITTER_D, device=other)
    assert b.err(b.signed("status", {}, FITTER_D, cert)) == "wrong_device"
    assert b.files() == before


def test_delegation_limits():
    b = Bench()
    cert = cert_for(FITTER_D, allowed=["status", "selftest"])
    assert "armed" in b.ok(b.signed("status", {}, FITTER_D, cert))
    before = b.files()
    assert b.err(b.signed("config_set", {"set": {"tz": "UTC0"}}, FITTER_D, cert)) == "forbidden"
    full = cert_for(FITTER_D)
    assert b.err(b.signed("devmode", {"on": True}, FITTER_D, full)) == "forbidden"
    assert b.err(b.signed("decommission", {"force": True}, FITTER_D, full)) == "forbidden"
    # a fitter key without its certificate is just an unknown key
    assert b.err(b.signed("status", {}, FITTER_D)) == "bad_signature"
    # a certificate issued by someone else
    assert b.err(b.signed("status", {}, FITTER_D, cert_for(FITTER_D, issuer=OTHER_D))) == (
        "untrusted"
    )
    assert b.files() == before


def test_counter_is_spent_before_the_command_takes_effect():
    b = Bench()
    assert b.err(b.signed("config_set", {"set": {"fix_interval_s": 5}})) == "bad_args"
    assert b.cmds.counter == 2
    again = commands.Commands(b.remount(), b.tag, Device())
    assert again.counter == 2 and again.provisioned and again.anchor == b.cmds.anchor
    assert again.config.get("fix_interval_s") == 60  # nothing else changed


def test_config_set_is_all_or_nothing_and_persists():
    b = Bench()
    bad = {"fix_interval_s": 30, "battery_low_pct": 99}
    assert b.err(b.signed("config_set", {"set": bad})) == "bad_args"
    assert b.cmds.config.get("fix_interval_s") == 60
    good = {"fix_interval_s": 30, "tz": "CET-1CEST,M3.5.0,M10.5.0/3"}
    r = b.ok(b.signed("config_set", {"set": good}))
    assert r["config"]["fix_interval_s"] == 30
    assert b.ok(b.signed("config_get", {}))["config"]["tz"] == "CET-1CEST,M3.5.0,M10.5.0/3"
    again = commands.Commands(b.remount(), b.tag, Device())
    assert again.config.get("fix_interval_s") == 30
    assert b.err(b.signed("config_set", {"set": {"bogus": 1}})) == "bad_args"
    assert b.err(b.signed("config_get", {"x": 1})) == "bad_args"


def test_zones_arrive_in_chunks_and_are_checked():
    import hashlib

    b = Bench()
    table = bytes(range(256)) * 3
    digest = hashlib.sha256(table).digest()

    def put(off, n, d=digest):
        args = {"total": len(table), "sha256": d, "offset": off, "data": table[off : off + n]}
        return b.signed("zones_put", args)

    assert b.ok(put(0, 300)) == {"staged": 300}
    assert b.err(put(400, 100)) == "bad_args"  # a gap: start again
    assert b.ok(put(0, 500)) == {"staged": 500}
    r = b.ok(put(500, 268))
    assert r["installed"] is True and r["sha256"] == digest
    assert b.files()["zones.cbor"] == table
    assert "zones.new" not in b.files()
    # a table the zone loader refuses, or with another hash, leaves the old one in place
    b.dev.zone_check = "not a version 1 zone table"
    assert b.err(put(0, 768)) == "bad_args"
    b.dev.zone_check = None
    assert b.err(put(0, 768, d=b"\x00" * 32)) == "bad_args"
    assert b.files()["zones.cbor"] == table


def test_arm_needs_the_strap_closed():
    b = Bench()
    b.dev.strap = False
    assert b.err(b.signed("arm", {})) == "refused"
    assert "strap" in last_event(b)[1]["reason"]
    assert not b.cmds.armed
    b.dev.strap = True
    assert b.ok(b.signed("arm", {})) == {"armed": True}
    assert console.read_armed(b.remount())


def test_time_sync_logs_and_selftest():
    b = Bench()
    assert b.err(b.signed("time_sync", {"utc_ms": 5})) == "bad_args"
    assert b.ok(b.signed("time_sync", {"utc_ms": 1772442000000})) == {"error_ms": None}
    assert b.ok(b.signed("selftest", {}))["ok"] is True
    logs = b.ok(b.signed("logs", {"n": 3}))["events"]
    assert len(logs) == 3 and logs[1] == '{"type": "selftest"}'  # then logs' own command


def test_decommission_waits_for_the_upload():
    b = Bench()
    b.dev.pending_records = 4
    r = b.ok(b.signed("decommission", {}))
    assert r == {"wiped": False, "pending": 4} and b.dev.uploads == 1 and not b.dev.wiped
    b.dev.pending_records = 0
    r = b.ok(b.signed("decommission", {}))
    assert r == {"wiped": True, "pending": 0} and b.dev.wiped
    # halted: whatever else was queued is dropped
    assert b.raw(b"\x00" + frame.encode(cbor.dumps([1, 1]))) == []


def test_forced_decommission_by_the_anchor():
    b = Bench()
    b.dev.pending_records = 4
    r = b.ok(b.signed("decommission", {"force": True}))
    assert r == {"wiped": True, "pending": 4} and b.dev.wiped


def test_devmode_and_the_repl_escape():
    b = Bench()
    # locked: the escape is refused and logged
    assert b.raw(b"\x00\r\x03") == []
    assert b.dev.repl == 0 and last_event(b)[0] == "console_repl_refused"
    b.ok(b.signed("devmode", {"on": True}))
    assert console.read_dev(b.remount())
    b.raw(b"\x00\x03\x03")
    assert b.dev.repl == 1
    b.ok(b.signed("devmode", {"on": False}))
    b.raw(b"\x00\r\x03")
    assert b.dev.repl == 1


def test_ctrl_c_inside_frames_is_data():
    b = Bench(provision=False)  # unlocked: an escape would enter the REPL
    frames = frame.encode(cbor.dumps([1, 3])) + frame.encode(cbor.dumps([1, 0x0303]))
    assert frames.find(b"\x03") > 0
    replies = b.raw(b"\x00" + frames)
    assert [r[0] for r in replies] == [3, 0x0303]
    # a frame cut in two between reads, with 0x03 in both halves
    f = frame.encode(cbor.dumps([1, 0x030303]))
    assert b.raw(f[:3]) == [] and b.raw(f[3:])[0][0] == 0x030303
    assert b.dev.repl == 0


def test_no_reply_ever_holds_the_private_key():
    b = Bench()
    secret = TAG_D.to_bytes(32, "big")
    key_file = b.files()["device.key"] if "device.key" in b.files() else b""
    cert = cert_for(FITTER_D)
    seen = 0

    def check(message):
        for reply in b.con.feed(b"\x00" + frame.encode(message)):
            for part in (secret, secret[:16], secret[16:], key_file or secret):
                assert reply.find(part) < 0
            # and COBS cannot hide it: look inside the decoded frame too
            for m in b.deframer.feed(reply):
                assert m.find(secret[:16]) < 0 and m.find(secret[16:]) < 0
            return len(reply)
        raise AssertionError("no reply")

    b.dev.pending_records = 1  # decommission answers but does not wipe (and halt)
    for name in commands.COMMANDS:
        args = {"set": {"tz": "UTC0"}} if name == "config_set" else {}
        if name == "devmode":
            args = {"on": False}
        seen += check(b.signed(name, args))
        seen += check(b.signed(name, args, FITTER_D, cert))
    seen += check(cbor.dumps([1, 1]))
    assert seen > 2000


def test_damaged_security_state_refuses_everything():
    b = Bench()
    f = b.fs.open("counter", "wb")
    f.write(b"\x01\x02")
    f.close()
    d = Device()
    cmds = commands.Commands(b.fs, b.tag, d)
    assert cmds.damaged and d.events[0][0] == "security_state_damaged"
    b.cmds = cmds
    b.con = console.Console(b.fs, lambda: cmds)
    b.counter = 0
    assert b.err(b.signed("status", {}, counter=99)) == "damaged"
    assert b.request([1, 1])[1] == 0  # info still answers


def test_console_unloads_its_command_layer_when_idle():
    fs, _ = new_fs()
    tag = signer(TAG_D)
    loads = []

    def load():
        from emtag.firmware import commands as c

        loads.append(1)
        return c.Commands(fs, tag, Device())

    con = console.Console(fs, load)
    assert con.poll(None, 0) == ()
    assert len(con.poll(b"\x00" + frame.encode(cbor.dumps([1, 1])), 1000)) == 1
    assert con.cmds is not None and loads == [1]
    con.poll(None, 1000 + console.IDLE_MS)
    assert con.cmds is None and con.deframer is None
    assert "emtag.firmware.commands" not in sys.modules
    assert len(con.poll(b"\x00" + frame.encode(cbor.dumps([1, 2])), 2000000)) == 1
    assert loads == [1, 1]


def test_forgeries_pause_signature_checks():
    b = Bench()
    forged = b.signed("status", {}, key=OTHER_D)
    assert b.err(forged) == "bad_signature"
    good = b.signed("status", {})
    assert b.err(good, wait=500) == "busy"  # within 1 s of a forgery: not even checked
    assert b.err(b.signed("status", {}, key=OTHER_D), wait=600) == "bad_signature"
    assert b.err(b.signed("status", {}), wait=1500) == "busy"  # now 2 s
    assert "armed" in b.ok(b.signed("status", {}))  # a minute later; success resets it
    assert b.err(b.signed("status", {}, key=OTHER_D)) == "bad_signature"
    assert "armed" in b.ok(b.signed("status", {}), wait=1001)  # back to 1 s


def test_a_full_heap_answers_busy_and_loads_nothing():
    fs, _ = new_fs()
    loads, events = [], []
    saved = console._room, console.LOAD_FREE
    try:
        console.LOAD_FREE = 1 << 40
        if sys.implementation.name == "micropython":
            assert console._room() is False  # the real check: gc.mem_free() after a collection
        else:
            assert console._room() is True  # CPython has no heap to run out of
            console._room = lambda: False
        con = console.Console(fs, lambda: loads.append(1), None, lambda k, **f: events.append(k))
        frames = frame.encode(cbor.dumps([1, 1])) + frame.encode(cbor.dumps([1, 2]))
        out = b"".join(con.poll(b"\x00" + frames, 1))
        replies = [cbor.loads(m) for m in frame.Deframer(256).feed(out)]
        assert [r[2] for r in replies] == ["busy", "busy"]
        assert loads == [] and events == ["console_busy"]  # logged once, nothing loaded
    finally:
        console._room, console.LOAD_FREE = saved
