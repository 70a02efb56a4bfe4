"""Host side of the tag's console (protocol/console.cddl) over a serial port, with pyserial.

    con = Connection("/dev/ttyACM0")              # or "socket://127.0.0.1:7000", a pty path
    info = con.info()                              # public identity and status, unsigned
    result = con.call("selftest", {}, signer, cert)  # signed, counter and device bound,
                                                     # the tag's receipt verified

`call` reads the tag's counter with `info`, signs [counter + 1, device id, name, args] with
the given key (COSE_Sign1 ES256, firmware/cose.py over a cryptography key), sends it, and
checks the tag's receipt: signed by the tag's key (the one recorded at provisioning when the
caller gives it), for this counter and this command.
"""

from __future__ import annotations

import hashlib
import random
import time

import serial

from emtag.firmware import cose as fw_cose
from emtag.host import cose as host_cose
from emtag.host import ports
from emtag.protocol import cbor, frame

REQ_INFO = 1
REQ_SIGNED = 2
ZONE_CHUNK = 1024  # bytes of zone table per zones_put (the tag takes requests of 2 KiB)


class ConsoleError(Exception):
    """The tag did not answer, or answered something that is not a valid reply."""


class TagError(Exception):
    """The tag refused a request: `code` (protocol/console.cddl error-code) and its text."""

    def __init__(self, code: str, text: str):
        super().__init__("%s: %s" % (code, text))
        self.code = code
        self.text = text


def open_port(port: str, baud: int = 115200):
    """pyserial for a device path, a pty, or any pyserial URL (socket://host:port, ...)."""
    try:
        return serial.serial_for_url(port, baudrate=baud, timeout=0.05, write_timeout=5)
    except (serial.SerialException, ValueError, OSError) as e:
        raise ConsoleError(ports.open_error(port, e)) from None


class Connection:
    def __init__(self, port, baud=115200, timeout=10.0, ser=None):
        self.port = port
        self.timeout = timeout
        self.ser = ser if ser is not None else open_port(port, baud)
        self.deframer = frame.Deframer()
        self._id = random.randrange(1, 1 << 24)
        self.tag_key: bytes | None = None  # set after info(), or by the caller from a record
        self.sent: list[bytes] = []  # every message sent (tests replay them)
        self.ser.write(b"\x00")  # end any half frame on the line

    def close(self):
        self.ser.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, message: bytes) -> list:
        """Send one message (CBOR bytes) and return the decoded reply with its id."""
        req = cbor.loads(message)
        rid = req[1] if isinstance(req, list) and len(req) > 1 else 0
        self.sent.append(message)
        self.ser.write(b"\x00" + frame.encode(message))  # a delimiter first: resync after noise
        self.ser.flush()
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            data = self.ser.read(4096)
            if not data:
                continue
            for raw in self.deframer.feed(data):
                try:
                    reply = cbor.loads(raw)
                except ValueError as e:
                    raise ConsoleError("undecodable reply from the tag: %s" % e) from None
                if isinstance(reply, list) and len(reply) >= 3 and reply[0] in (rid, 0):
                    return reply
        raise ConsoleError("no reply from the tag on %s within %.0f s" % (self.port, self.timeout))

    def _next_id(self) -> int:
        self._id = (self._id + 1) & 0xFFFFFFFF
        return self._id

    def info(self) -> dict:
        reply = self.send(cbor.dumps([REQ_INFO, self._next_id()]))
        if reply[1] != 0:
            raise TagError(reply[2], reply[3])
        info = reply[2]
        if (
            not isinstance(info, dict)
            or hashlib.sha256(info["pubkey"]).digest()[:8] != info["device"]
        ):
            raise ConsoleError("the tag's device id is not the hash of its public key")
        if self.tag_key is None:
            self.tag_key = info["pubkey"]
        elif self.tag_key != info["pubkey"]:
            raise ConsoleError(
                "the tag's public key is not the one recorded for it: another tag, or a "
                "decommissioned one"
            )
        return info

    def signed_request(self, name, args, signer, cert=None, counter=None, device=None) -> bytes:
        """The request message for a signed command (bytes), without sending it."""
        if counter is None or device is None:
            info = self.info()
            counter = info["counter"] + 1 if counter is None else counter
            device = info["device"] if device is None else device
        payload = cbor.dumps([counter, device, name, args])
        command = fw_cose.sign1(signer, payload, kid=signer.key_id())
        req = [REQ_SIGNED, self._next_id(), command]
        if cert is not None:
            req.append(cert)
        return cbor.dumps(req)

    def call(self, name: str, args: dict, signer, cert=None) -> dict:
        """Run a signed command and return its result, checked against the tag's receipt."""
        info = self.info()
        counter = info["counter"] + 1
        message = self.signed_request(name, args, signer, cert, counter, info["device"])
        return self.receipt(self.send(message), name, counter)

    def receipt(self, reply, name, counter) -> dict:
        if reply[1] != 0:
            raise TagError(reply[2], reply[3])
        try:
            key = host_cose.load_public_key(self.tag_key)
            body = cbor.loads(host_cose.verify_sign1(reply[2], key))
        except (ValueError, TypeError) as e:
            raise ConsoleError("the tag's receipt does not verify: %s" % e) from None
        if not (isinstance(body, list) and len(body) == 3 and body[:2] == [counter, name]):
            raise ConsoleError("the tag's receipt is for another command")
        return body[2]

    def push_zones(self, table: bytes, signer, cert=None, chunk=ZONE_CHUNK, progress=None):
        """Send a compiled zone table in signed chunks; returns the last result."""
        digest = hashlib.sha256(table).digest()
        result = {}
        for off in range(0, len(table), chunk):
            part = table[off : off + chunk]
            args = {"total": len(table), "sha256": digest, "offset": off, "data": part}
            result = self.call("zones_put", args, signer, cert)
            if progress is not None:
                progress(off + len(part), len(table))
        return result
