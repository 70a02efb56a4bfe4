"""Receive what tags upload: verify every record, store it (SQLite or PostgreSQL),
acknowledge it only after the commit, and forward fixes and alerts to MQTT.

PORT is anything pyserial opens: a device (/dev/ttyACM0, COM3), a pty, socket://HOST:PORT,
loop://, rfc2217://. --listen accepts many tags (simulated ones) over TCP at once; give
--port, --listen or both. The store is a SQLite file (WAL) or a postgresql:// URL, which
several bridges can write into at once; it is created and migrated as needed (see the
README). With --mqtt, fixes go to emtag/<device>/fix and alerts to
emtag/<device>/alert (QoS 1, JSON); while the broker is away they wait in the store's
outbox and go out when it returns. Each event is printed as one line: time, type, fields.
Stop with Ctrl-C or SIGTERM; SIGKILL loses nothing either (the store commits before
acknowledging, and tags resend what was not acknowledged).

A tag new to the store is taken with --fitted only if the fitting register holds its key
(provisioned at fitting), with --known-only never, and otherwise on first contact (its
device id must still be the hash of its key; for development and simulation)."""

import argparse
import signal
import sys
import threading

from emtag.cli import options
from emtag.host.errors import CommandError
from emtag.host.links import Limits
from emtag.host.store import StoreError

HELP = "verify, store and forward what tags upload (serial port or TCP)"


def add_arguments(p):
    p.add_argument(
        "--port",
        action="append",
        default=[],
        metavar="PORT",
        type=options.port_argument,
        help="serial port (repeat for several): /dev/ttyACM0, COM5, tcp:HOST:PORT, "
        "socket://HOST:PORT, rfc2217://HOST:PORT or another pyserial URL",
    )
    p.add_argument(
        "--listen",
        action="append",
        default=[],
        metavar="tcp://HOST:PORT",
        help="accept tags over TCP, one session per connection (port 0: any free port)",
    )
    p.add_argument(
        "--store", default="store.sqlite", metavar="DB",
        help="SQLite file or postgresql://USER@HOST[:PORT]/DB (default: %(default)s)",
    )  # fmt: skip
    p.add_argument("--mqtt", metavar="mqtt://HOST:PORT", help="forward fixes and alerts here")
    p.add_argument("--baud", type=int, default=115200, help="serial speed (default: %(default)s)")
    admit = p.add_mutually_exclusive_group()
    admit.add_argument(
        "--fitted",
        metavar="KEYS_DIR",
        help="take a tag new to the store only if the fitting register in this key store "
        "(written by emtag fit provision) holds its key",
    )
    admit.add_argument(
        "--known-only",
        action="store_true",
        help="refuse tags not already in the store",
    )
    p.add_argument("--quiet", action="store_true", help="print only errors and alerts")
    lim = p.add_argument_group(
        "limits", "what one peer may cost the bridge (a peer past them is closed, with a reason)"
    )
    d = Limits()
    lim.add_argument("--max-connections", type=_positive(int), default=d.max_connections,
                     metavar="N", help="TCP connections at once (default: %(default)s, or "
                     "fewer if the open-file limit is lower)")
    lim.add_argument("--per-address", type=_positive(int), default=d.per_address, metavar="N",
                     help="TCP connections at once from one address (default: %(default)s)")
    lim.add_argument("--handshake-timeout", type=_positive(float), default=d.handshake_s,
                     metavar="S", help="seconds from connecting to a proven key "
                     "(default: %(default)s)")
    lim.add_argument("--idle-timeout", type=_positive(float), default=d.idle_s, metavar="S",
                     help="seconds without a complete message (default: %(default)s)")
    lim.add_argument("--rate", type=_positive(int), default=int(d.rate), metavar="BYTES",
                     help="bytes a second one connection may send (default: %(default)s)")


def _admission(args):
    """What the bridge does with a tag new to its store (host/bridge.py Session)."""
    if args.known_only:
        return False
    if args.fitted:
        from emtag.host import bridge, keys

        register = keys.KeyStore(args.fitted)
        if not (register.path / "tags").is_dir():
            raise CommandError("%s holds no fitting register (no tags/ in it)" % args.fitted)
        return bridge.fitting_register(register)
    print(
        "note: no --fitted register: a new tag's key is trusted on first contact", file=sys.stderr
    )
    return True


def _positive(kind):
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a number" % text) from None
        if not v > 0 or v != v or v == float("inf"):
            raise argparse.ArgumentTypeError("must be more than 0")
        return v

    parse.__name__ = kind.__name__
    return parse


def limits(args):
    """host/links.py Limits from the command line."""
    burst = max(Limits.burst, 2 * args.rate)
    return Limits(
        max_connections=args.max_connections,
        per_address=args.per_address,
        handshake_s=args.handshake_timeout,
        idle_s=args.idle_timeout,
        rate=args.rate,
        burst=burst,
    )


LOUD = {
    "alert",
    "alert_early",
    "alert_rejected",
    "hello_rejected",
    "port_lost",
    "mqtt_disconnected",
    "mqtt_refused",
    "listening",
    "session_error",
    "store_error",
}


def printable(value):
    """A field as one line of plain text: what peers send (a HELLO's firmware string, an
    error quoting their bytes) can neither start a forged line nor hide in control codes."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def printer(quiet, out=None):
    lock = threading.Lock()

    def emit(kind, **fields):
        if quiet and kind not in LOUD and "rejected" not in kind:
            return
        from emtag.host.serial_bridge import now_iso

        rest = " ".join("%s=%s" % (k, printable(fields[k])) for k in sorted(fields))
        line = "%s  %-16s %s" % (now_iso(), kind, rest)
        with lock:
            print(line, file=out or sys.stdout, flush=True)

    return emit


def run(args):
    from emtag.host import forward
    from emtag.host.serial_bridge import Bridge, PortError

    if not args.port and not args.listen:
        raise CommandError("give --port PORT (a serial port or pyserial URL) or --listen")
    emit = printer(args.quiet)
    fwd = None
    if args.mqtt:
        try:
            forward.parse_url(args.mqtt)
        except ValueError as e:
            raise CommandError(str(e)) from None
    admission = _admission(args)
    try:
        br = Bridge(
            args.store, emit, register=admission, baudrate=args.baud, limits=limits(args)
        )
    except StoreError as e:  # not a database, not emtag's, schema too new, unreachable
        raise CommandError(str(e)) from None
    except OSError as e:
        raise CommandError("store %s: %s" % (args.store, e)) from None
    try:
        for url in args.listen:
            br.listen(url)
        for url in args.port:
            br.add_port(url)
    except PortError as e:
        br.stop()
        br.run()  # closes what was opened
        raise CommandError(str(e)) from None
    if args.mqtt:
        fwd = forward.Forwarder(args.store, args.mqtt, emit)
        br.on_commit = fwd.wake
        fwd.start()
    signal.signal(signal.SIGTERM, lambda *a: br.stop())
    try:
        br.run()
    except KeyboardInterrupt:
        br.stop()
    finally:
        if fwd is not None:
            fwd.stop()
    return 0
