"""Port names, spelled the same way for every command that opens or serves a serial port
(`emtag fit`, `emtag bridge`, `emtag flash`, `emtag sim --serve`).

    /dev/ttyACM0, /dev/pts/3, COM5      a serial device or a pty
    tcp:7000, tcp:HOST:7000             TCP (host 127.0.0.1 unless given)
    tcp://HOST:7000, socket://HOST:7000 the same, as URLs (pyserial's socket://)
    rfc2217://HOST:PORT, loop://, ...   any other pyserial URL, as it is
    pty                                 `emtag sim --serve` only: a new pty

    p = parse("tcp:7000")      # Port(kind="tcp", url="socket://127.0.0.1:7000", ...)
    p.url                      # what pyserial (and mpremote) open
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SPELLINGS = "/dev/ttyACM0, COM5, tcp:PORT, tcp:HOST:PORT, socket://HOST:PORT, rfc2217://HOST:PORT"
# pyserial's URL handlers (serial/urlhandler/protocol_*.py); socket and tcp are TCP here
PYSERIAL_SCHEMES = ("rfc2217", "loop", "spy", "hwgrep", "alt", "cp2110")
_COM = re.compile(r"^(\\\\\.\\)?COM[0-9]{1,3}$", re.IGNORECASE)
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$|^\[[0-9A-Fa-f:.]+\]$")


class PortNameError(ValueError):
    """A port name none of the spellings above matches; the message lists them."""


@dataclass(frozen=True)
class Port:
    text: str  # as the user wrote it
    kind: str  # "device", "tcp", "url" (another pyserial URL) or "pty"
    url: str  # what pyserial opens ("" for pty)
    host: str | None = None  # tcp only
    port: int | None = None  # tcp only

    def __str__(self):
        return self.text


def _tcp(text, host, port):
    try:
        n = int(port)
    except ValueError:
        n = -1
    if not 0 <= n <= 65535 or not port.isdigit():
        raise PortNameError("%r: the TCP port must be a number 0..65535" % text)
    host = host or "127.0.0.1"
    if not _HOST.match(host):
        raise PortNameError("%r: %r is not a host name or address" % (text, host))
    bare = host.strip("[]")
    shown = "[%s]" % bare if ":" in bare else bare
    return Port(text, "tcp", "socket://%s:%d" % (shown, n), bare, n)


def parse(text: str, pty: bool = False) -> Port:
    """The Port a name means; PortNameError if it is none of the spellings. `pty` allows
    "pty" (a new pseudo-terminal: only a simulated tag can serve one)."""
    text = (text or "").strip()
    if not text:
        raise PortNameError("no port given (%s)" % SPELLINGS)
    if text == "pty":
        if not pty:
            raise PortNameError("'pty' is for emtag sim --serve; here give the pty's path")
        return Port(text, "pty", "")
    low = text.lower()
    if low.startswith(("tcp://", "socket://")):
        rest = text.split("://", 1)[1].rstrip("/")
        host, sep, port = rest.rpartition(":")
        if not sep or not host:
            raise PortNameError("%r: want %s://HOST:PORT" % (text, low.split(":")[0]))
        if "?" in port:  # pyserial's socket:// options (?logging=debug): keep them
            p = _tcp(text, host, port.split("?", 1)[0])
            return Port(text, "tcp", p.url + "?" + port.split("?", 1)[1], p.host, p.port)
        return _tcp(text, host, port)
    if low.startswith("tcp:"):
        rest = text[4:]
        host, _, port = rest.rpartition(":")
        return _tcp(text, host, port)
    if "://" in text:
        scheme = low.split("://", 1)[0]
        if scheme not in PYSERIAL_SCHEMES:
            raise PortNameError(
                "%r: unknown URL scheme %r (pyserial knows socket, %s)"
                % (text, scheme, ", ".join(PYSERIAL_SCHEMES))
            )
        return Port(text, "url", text)
    if _COM.match(text) or text.startswith("/") or text.startswith("."):
        return Port(text, "device", text)
    raise PortNameError("%r is not a port name: give one of %s" % (text, SPELLINGS))


def serial_url(text: str) -> str:
    """The pyserial URL for a port name (an argparse type: its error names the spellings)."""
    return parse(text).url


def open_error(url: str, e: Exception) -> str:
    """pyserial's error opening `url`, said once and plainly."""
    text = str(e)
    prefix = "could not open port %s: " % url
    if text.lower().startswith(prefix.lower()):
        text = text[len(prefix):]
    if "Errno 111" in text or "Connection refused" in text:
        text = "connection refused: nothing listens there (emtag sim --serve not running?)"
    elif "Errno 2" in text or "No such file" in text:
        text = "no such port (unplugged? `ls /dev/tty*` lists them)"
    elif "Errno 13" in text or "Permission denied" in text:
        text = "permission denied (on Linux: add yourself to the dialout group)"
    return "cannot open %s: %s" % (url, text)
