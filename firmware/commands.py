"""Console commands on the tag: who may do what (the authority), and what each command does.

Schema: protocol/console.cddl. The USB port is hostile input, so:

- `info` (public identity, firmware, status) is the only thing answered without a signature.
- Every other command is a COSE_Sign1 over [counter, device id, name, args]. It runs only if
  (checked cheapest first, so junk costs the tag no signature check):
    1. it is well formed and names a known command with a dict of args;
    2. the tag is provisioned (or, for `provision` alone, is not);
    3. the device id is this tag's;
    4. the counter is above the last accepted one;
    5. it is signed by the trust anchor, or by the subject of a delegation certificate that
       the anchor signed, that covers this command and this tag (or any tag);
  then the counter is written to flash *before* the command takes effect, so neither a
  replay nor a power cut can run a command twice.
- Every rejection raises Reject(code, text); the console turns it into an error reply and a
  tag event. Rejections write nothing to flash.
- No command returns the private key; replies to signed commands are receipts signed by
  the tag's key (COSE_Sign1 over [counter, name, result]).

`provision` is the one bootstrap: an unprovisioned tag accepts a provision whose signature
verifies against the anchor it carries (directly, or through a certificate the anchor
signed), and installs that anchor. Once provisioned it never accepts another provision; only
`decommission` (which wipes keys and data) returns it to the factory state.

State on flash (each file replaced atomically via .tmp and rename):
    trust.cbor   [1, anchor public key (65 bytes), dev (bool)]   absent: not provisioned
    counter      last accepted counter: u32 LE | crc32 LE
    state.cbor   {"armed": bool}
    config.cbor  firmware/config.py
    zones.cbor   the zone table (protocol/zones.cddl); zones.new while a push is staged
Pure logic apart from the filesystem object: the rest of the tag is reached through a
Device; TagDevice (firmware/tagdevice.py) is the one over the Tag. firmware/console.py
loads both on demand, when a console session starts, and drops them when it ends.
"""

import binascii
import hashlib

from emtag.firmware import config as fw_config
from emtag.firmware import cose, files, p256
from emtag.protocol import cbor, frame

TRUST_PATH = "trust.cbor"
COUNTER_PATH = "counter"
STATE_PATH = "state.cbor"
ZONES_PATH = "zones.cbor"
ZONES_STAGING = "zones.new"

REQ_INFO = 1  # request kinds and reply status (protocol/console.cddl)
REQ_SIGNED = 2
OK = 0
ERR = 1
CERT_LABEL = "emtag-delegation"
CERT_VERSION = 1
MAX_COUNTER = 0xFFFFFFFF
MAX_ZONES_BYTES = 65536
MIN_UTC_MS = 1577836800000  # 2020-01-01
MAX_UTC_MS = 4102444800000  # 2100-01-01
MAX_LOG_EVENTS = 32
MAX_LOG_BYTES = 1500  # of event text in a logs reply
# After a signature that does not verify, the tag checks no signature for BACKOFF_MS,
# doubling with each further failure up to MAX_BACKOFF_MS (a success resets it): a wearer
# flooding the port with forgeries cannot keep the CPU busy with P-256 verifications.
BACKOFF_MS = 1000
MAX_BACKOFF_MS = 60000

COMMANDS = (
    "provision",
    "config_get",
    "config_set",
    "zones_put",
    "time_sync",
    "selftest",
    "arm",
    "status",
    "logs",
    "decommission",
    "devmode",
)
ANCHOR_ONLY = ("devmode",)  # never delegated; decommission with force is anchor-only too
# args each command accepts (name -> allowed keys); anything else is bad_args
ARGS = {
    "provision": ("anchor",),
    "config_get": (),
    "config_set": ("set",),
    "zones_put": ("total", "sha256", "offset", "data"),
    "time_sync": ("utc_ms",),
    "selftest": (),
    "arm": (),
    "status": (),
    "logs": ("n",),
    "decommission": ("force",),
    "devmode": ("on",),
}


class Reject(Exception):
    """A command refused: code (protocol/console.cddl error-code) and a clear text."""

    def __init__(self, code, text):
        super().__init__(code, text)
        self.code = code
        self.text = text


class Device:
    """What the commands need from the rest of the tag. firmware/tagdevice.py's TagDevice
    implements it over the Tag; these defaults describe a tag with no sensors (tests)."""

    firmware = "0"
    board_name = "none"
    serial = ""
    halted = False  # set by wipe(): the console drops whatever else is queued

    def event(self, kind, **fields):
        pass

    def status(self):
        return {}

    def selftest(self):
        return {"ok": True}

    def strap_closed(self):
        return None

    def check_zones(self, fs, path):
        """Raise ValueError unless the tag's zone loader accepts the table in this file."""
        from emtag.firmware import zonetable

        f = fs.open(path, "rb")
        try:
            zonetable.engine(f)  # a zone at a time, as at boot
        finally:
            f.close()

    def zones_changed(self):
        """A new zones.cbor is in place; returns how many zones it holds."""
        return 0

    def config_changed(self, cfg):
        pass

    def armed_changed(self, armed):
        pass

    def set_utc(self, utc_ms):
        """Set the tag's clock; returns its error (tag - utc, ms) before, or None."""
        return None

    def pending(self):
        """Records not yet acknowledged by the bridge."""
        return 0

    def request_upload(self):
        pass

    def recent_events(self, n):
        return []

    def wipe(self):
        """Erase keys and data; the tag restarts as from the factory."""

    def enter_repl(self):
        pass


def hexlify(b):
    return binascii.hexlify(b).decode()


def key_id(public_key):
    return hashlib.sha256(public_key).digest()[:8]


def _counter_bytes(n):
    b = n.to_bytes(4, "little")
    return b + (binascii.crc32(b) & 0xFFFFFFFF).to_bytes(4, "little")


def _is_uint(v, hi=MAX_COUNTER):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= hi


def _check_point(pub, what):
    if not isinstance(pub, bytes) or len(pub) != 65:
        raise Reject("bad_args", "%s must be a 65-byte SEC1 P-256 public key" % what)
    try:
        p256.decode_point(pub)
    except ValueError:
        raise Reject("bad_args", "%s is not a point on P-256" % what) from None


def _sign1_payload(message, what):
    """The payload of a COSE_Sign1, structure checked, signature not yet (that comes last)."""
    if not isinstance(message, bytes):
        raise Reject("malformed", "%s must be a byte string holding a COSE_Sign1" % what)
    try:
        obj = cbor.loads(message, max_depth=4, max_items=32, max_len=frame.MAX_FRAME)
    except ValueError as e:
        raise Reject("malformed", "%s is not CBOR: %s" % (what, e)) from None
    if isinstance(obj, cbor.Tag) and obj.tag == cose.TAG_SIGN1:
        obj = obj.value
    if not isinstance(obj, list) or len(obj) != 4 or not isinstance(obj[2], bytes):
        raise Reject("malformed", "%s is not a COSE_Sign1 with a payload" % what)
    try:
        return cbor.loads(obj[2], max_depth=4, max_items=64, max_len=frame.MAX_FRAME)
    except ValueError as e:
        raise Reject("malformed", "%s payload is not CBOR: %s" % (what, e)) from None


class Commands:
    """The authority and the command table over one filesystem, signer and Device."""

    def __init__(self, fs, signer, device=None):
        self.fs = fs
        self.signer = signer
        self.device_id = signer.key_id()
        self.device = device if device is not None else Device()
        self.anchor = None  # 65-byte public key once provisioned
        self.provisioned = False
        self.dev = True  # factory state: unlocked for development until provisioned
        self.counter = 0
        self.damaged = None  # text when the security state on flash cannot be read
        self.armed = False
        self._cert = None  # (cert, anchor, subject, device scope, commands): last verified
        self._staging = None  # [total, sha256, staged bytes] of a zone push in progress
        self._after = None  # run once the receipt is signed (decommission's wipe)
        self.now = 0  # the board's clock (ms), set by the console before each request
        self._backoff = 0
        self._quiet_until = 0
        self._load()
        try:
            self.config = fw_config.Config.load(fs)
        except fw_config.ConfigError as e:
            self.config = fw_config.Config()
            self.device.event("config_invalid", error=str(e))

    # state on flash
    def _load(self):
        data = files.read_file(self.fs, TRUST_PATH, 256)
        if data is not None:
            self.provisioned = True  # whatever the file says, never back to factory state
            self.dev = False
            try:
                obj = cbor.loads(data, max_depth=2, max_items=8, max_len=256)
                if not (isinstance(obj, list) and len(obj) == 3 and obj[0] == 1):
                    raise ValueError("not a version 1 trust record")
                p256.decode_point(obj[1])
                if not isinstance(obj[2], bool):
                    raise ValueError("bad dev flag")
            except ValueError as e:
                self.damaged = "trust record unreadable: %s" % e
            else:
                self.anchor = obj[1]
                self.dev = obj[2]
        data = files.read_file(self.fs, COUNTER_PATH, 8)
        if data is not None:
            if len(data) == 8 and _counter_bytes(int.from_bytes(data[:4], "little")) == data:
                self.counter = int.from_bytes(data[:4], "little")
            else:
                self.damaged = "command counter unreadable"
        elif self.provisioned:
            self.damaged = "command counter missing"
        data = files.read_file(self.fs, STATE_PATH, 64)
        if data is not None:
            try:
                obj = cbor.loads(data, max_depth=1, max_items=4, max_len=64)
                self.armed = isinstance(obj, dict) and obj.get("armed") is True
            except ValueError:
                self.armed = False
        if self.damaged:
            self.device.event("security_state_damaged", error=self.damaged)

    def _save_trust(self, anchor, dev):
        files.write_atomic(self.fs, TRUST_PATH, cbor.dumps([1, anchor, dev]))

    def reply(self, raw):
        """One request frame's message in, its reply frame out. Nothing raises: a bug or an
        exhausted heap is an `internal` error reply and a `console_error` event."""
        rid = 0
        name = None
        try:
            try:
                msg = cbor.loads(raw, max_depth=3, max_items=8, max_len=frame.MAX_FRAME)
            except ValueError as e:
                raise Reject("malformed", "not a CBOR request: %s" % e) from None
            if not (isinstance(msg, list) and len(msg) >= 2 and _is_uint(msg[1])):
                raise Reject("malformed", "a request is [kind, id, ...]")
            rid = msg[1]
            if msg[0] == REQ_INFO and len(msg) == 2:
                name = "info"
                body = self.info()
            elif msg[0] == REQ_SIGNED and len(msg) in (3, 4):
                name = "signed"
                body = self.run_signed(msg[2], msg[3] if len(msg) == 4 else None)
            else:
                raise Reject("malformed", "unknown request; unsigned, only info is answered")
            return frame.encode(cbor.dumps([rid, OK, body]))
        except Reject as r:
            self.device.event("console_rejected", code=r.code, reason=r.text, request=name)
            return frame.encode(cbor.dumps([rid, ERR, r.code, r.text]))
        except Exception as e:  # the port must never stop the tag
            text = ("%s: %s" % (type(e).__name__, e))[:200]
            self.device.event("console_error", error=text)
            return frame.encode(cbor.dumps([rid, ERR, "internal", text]))

    # the unauthenticated view
    def info(self):
        d = self.device
        return {
            "device": self.device_id,
            "pubkey": self.signer.public_key(),
            "firmware": d.firmware,
            "board": d.board_name,
            "serial": d.serial,
            "provisioned": self.provisioned,
            "anchor": key_id(self.anchor) if self.anchor else None,
            "counter": self.counter,
            "dev": self.dev,
            "armed": self.armed,
            "status": d.status(),
        }

    # signed commands
    def run_signed(self, command, cert=None):
        """Authorise and run one signed command; returns the receipt (bytes). Raises Reject."""
        body = _sign1_payload(command, "command")
        if not (isinstance(body, list) and len(body) == 4):
            raise Reject("malformed", "a command is [counter, device, name, args]")
        counter, device, name, args = body
        if not _is_uint(counter) or counter == 0:
            raise Reject("malformed", "counter must be an integer 1..2**32-1")
        if not isinstance(device, bytes) or len(device) != 8:
            raise Reject("malformed", "device must be the tag's 8-byte device id")
        if not isinstance(name, str) or not isinstance(args, dict):
            raise Reject("malformed", "name must be text and args a map")
        if name not in ARGS:
            raise Reject("unknown_command", "no command %r" % (name[:32],))
        if self.damaged:
            raise Reject("damaged", self.damaged + "; the tag must be reflashed at the factory")
        if name == "provision":
            if self.provisioned:
                raise Reject(
                    "provisioned",
                    "already provisioned: a provisioned tag never takes a new trust anchor "
                    "(decommission it first)",
                )
            anchor = args.get("anchor")
            _check_point(anchor, "anchor")
        else:
            if not self.provisioned:
                raise Reject("not_provisioned", "the tag has no trust anchor: provision it first")
            anchor = self.anchor
        if device != self.device_id:
            raise Reject(
                "wrong_device",
                "command is for tag %s, this is %s" % (hexlify(device), hexlify(self.device_id)),
            )
        if counter <= self.counter:
            raise Reject(
                "replayed",
                "counter %d is not above %d, the last accepted (replay or stale command)"
                % (counter, self.counter),
            )
        if self.now < self._quiet_until:
            raise Reject(
                "busy",
                "bad signatures: none checked for another %d ms" % (self._quiet_until - self.now),
            )
        if cert is None:
            key, allowed, who = anchor, None, "anchor"
        else:
            key, allowed = self._delegate(cert, anchor)
            who = "delegate"
        try:
            cose.verify1(key, command)
        except ValueError as e:
            self._penalise()
            raise Reject("bad_signature", "command signature: %s" % e) from None
        self._backoff = 0
        if allowed is not None:
            if name in ANCHOR_ONLY or name not in allowed:
                raise Reject("forbidden", "the signing key is not allowed to run %s" % name)
            if name == "decommission" and args.get("force"):
                raise Reject("forbidden", "only the trust anchor may force a decommission")
        for k in args:
            if k not in ARGS[name]:
                raise Reject("bad_args", "%s takes no argument %r" % (name, k))
        # authorised: the counter is spent now, before anything takes effect
        try:
            files.write_atomic(self.fs, COUNTER_PATH, _counter_bytes(counter))
        except OSError as e:
            raise Reject("internal", "cannot store the counter: %s" % e) from None
        self.counter = counter
        self.device.event("console_command", command=name, counter=counter, signer=who)
        result = getattr(self, "_c_" + name)(args, allowed is None)
        receipt = cose.sign1(self.signer, cbor.dumps([counter, name, result]), kid=self.device_id)
        after, self._after = self._after, None
        if after is not None:
            after()
        return receipt

    def _penalise(self):
        self._backoff = b = min(max(self._backoff * 2, BACKOFF_MS), MAX_BACKOFF_MS)
        self._quiet_until = self.now + b

    def _delegate(self, cert, anchor):
        """(subject key, allowed commands) from a certificate the anchor signed."""
        c = self._cert
        if c is not None and c[0] == cert and c[1] == anchor:
            subject, scope, allowed = c[2], c[3], c[4]
        else:
            body = _sign1_payload(cert, "certificate")
            if not (
                isinstance(body, list)
                and len(body) == 5
                and body[0] == CERT_LABEL
                and body[1] == CERT_VERSION
                and isinstance(body[4], list)
            ):
                raise Reject("malformed", "certificate is not an emtag delegation, version 1")
            _, _, subject, scope, allowed = body
            if not isinstance(subject, bytes) or len(subject) != 65:
                raise Reject("malformed", "certificate subject must be a 65-byte public key")
            if scope is not None and (not isinstance(scope, bytes) or len(scope) != 8):
                raise Reject("malformed", "certificate device must be 8 bytes or null")
            for a in allowed:
                if not isinstance(a, str):
                    raise Reject("malformed", "certificate commands must be text")
            try:
                cose.verify1(anchor, cert)
            except ValueError as e:
                self._penalise()
                raise Reject("untrusted", "certificate not signed by the anchor: %s" % e) from None
            self._cert = (cert, anchor, subject, scope, allowed)
        if scope is not None and scope != self.device_id:
            raise Reject("wrong_device", "certificate is for tag %s" % hexlify(scope))
        return subject, allowed

    # the command table: _c_<name>(args, by_anchor) -> result map
    def _c_provision(self, args, by_anchor):
        anchor = args["anchor"]
        self._save_trust(anchor, False)
        self.anchor = anchor
        self.provisioned = True
        self.dev = False
        self._cert = None
        self.device.event("provisioned", anchor=hexlify(key_id(anchor)))
        return {
            "device": self.device_id,
            "pubkey": self.signer.public_key(),
            "anchor": key_id(anchor),
        }

    def _c_config_get(self, args, by_anchor):
        return {"config": dict(self.config.values)}

    def _c_config_set(self, args, by_anchor):
        changes = args.get("set")
        cfg = fw_config.Config(self.config.values)
        try:
            cfg.update(changes)
        except fw_config.ConfigError as e:
            raise Reject("bad_args", str(e)) from None
        cfg.save(self.fs)
        self.config = cfg
        self.device.config_changed(cfg)
        self.device.event("config_changed", changed=",".join(sorted(changes)))
        return {"config": dict(cfg.values)}

    def _c_zones_put(self, args, by_anchor):
        total, digest = args.get("total"), args.get("sha256")
        offset, data = args.get("offset"), args.get("data")
        if not _is_uint(total, MAX_ZONES_BYTES) or total == 0:
            raise Reject("bad_args", "total must be 1..%d bytes" % MAX_ZONES_BYTES)
        if not isinstance(digest, bytes) or len(digest) != 32:
            raise Reject("bad_args", "sha256 must be 32 bytes")
        if not _is_uint(offset) or not isinstance(data, bytes) or not data:
            raise Reject("bad_args", "offset must be an integer and data non-empty bytes")
        if offset + len(data) > total:
            raise Reject("bad_args", "chunk runs past the total")
        st = self._staging
        if offset == 0:
            st = self._staging = [total, digest, 0]
            mode = "wb"
        elif st is None or st[0] != total or st[1] != digest or st[2] != offset:
            self._staging = None
            raise Reject("bad_args", "chunk out of order: start the push again from offset 0")
        else:
            mode = "ab"
        f = self.fs.open(ZONES_STAGING, mode)
        try:
            f.write(data)
        finally:
            f.close()
        st[2] = offset + len(data)
        if st[2] < total:
            return {"staged": st[2]}
        self._staging = None
        try:
            return self._install_zones(total, digest)
        finally:
            try:
                self.fs.remove(ZONES_STAGING)
            except OSError:
                pass  # renamed into place

    def _install_zones(self, total, digest):
        h = hashlib.sha256()
        n = 0
        f = self.fs.open(ZONES_STAGING, "rb")
        try:
            while True:
                chunk = f.read(512)
                if not chunk:
                    break
                h.update(chunk)
                n += len(chunk)
        finally:
            f.close()
        if n != total or h.digest() != digest:
            raise Reject("bad_args", "zone table does not match its SHA-256: push it again")
        try:
            self.device.check_zones(self.fs, ZONES_STAGING)
        except ValueError as e:
            raise Reject("bad_args", "zone table refused: %s" % e) from None
        self.fs.rename(ZONES_STAGING, ZONES_PATH)
        n = self.device.zones_changed()
        self.device.event("zones_installed", zones=n, sha256=hexlify(digest))
        return {"installed": True, "zones": n, "sha256": digest}

    def _c_time_sync(self, args, by_anchor):
        t = args.get("utc_ms")
        if not _is_uint(t, MAX_UTC_MS) or t < MIN_UTC_MS:
            raise Reject("bad_args", "utc_ms must be a time between 2020 and 2100")
        err = self.device.set_utc(t)
        self.device.event("time_synced", error_ms=err)
        return {"error_ms": err}

    def _c_selftest(self, args, by_anchor):
        r = self.device.selftest()
        self.device.event("selftest", ok=bool(r.get("ok")))
        return r

    def _c_arm(self, args, by_anchor):
        if self.device.strap_closed() is not True:
            raise Reject("refused", "the strap is not closed: fit and close it, then arm")
        self._set_armed(True)
        return {"armed": True}

    def _set_armed(self, armed):
        files.write_atomic(self.fs, STATE_PATH, cbor.dumps({"armed": armed}))
        self.armed = armed
        self.device.armed_changed(armed)
        self.device.event("armed" if armed else "disarmed")

    def _c_status(self, args, by_anchor):
        return {
            "armed": self.armed,
            "counter": self.counter,
            "dev": self.dev,
            "status": self.device.status(),
        }

    def _c_logs(self, args, by_anchor):
        n = args.get("n", MAX_LOG_EVENTS)
        if not _is_uint(n, MAX_LOG_EVENTS):
            raise Reject("bad_args", "n must be 0..%d" % MAX_LOG_EVENTS)
        events = list(self.device.recent_events(n))
        while events and sum(len(e) for e in events) > MAX_LOG_BYTES:
            events.pop(0)
        return {"events": events}

    def _c_decommission(self, args, by_anchor):
        force = args.get("force", False)
        if not isinstance(force, bool):
            raise Reject("bad_args", "force must be true or false")
        pending = self.device.pending()
        if pending and not force:
            self.device.request_upload()
            return {"wiped": False, "pending": pending}
        self._after = self.device.wipe
        self.device.event("decommissioning", pending=pending, forced=force)
        return {"wiped": True, "pending": pending}

    def _c_devmode(self, args, by_anchor):
        on = args.get("on")
        if not isinstance(on, bool):
            raise Reject("bad_args", "on must be true or false")
        self._save_trust(self.anchor, on)
        self.dev = on
        self.device.event("devmode", on=on)
        return {"dev": on}
