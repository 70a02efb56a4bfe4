"""Options shared by the subcommands: where a user may write them, and port names.

    shared = Shared(p)                        # p: the parser of `emtag fit`
    shared.add("--port", type=port_argument)  # on p, and on every parser made with:
    info = sub.add_parser("info", parents=[shared.parent])

so `emtag fit --port X info` and `emtag fit info --port X` mean the same. The copy on the
sub-subcommand defaults to SUPPRESS: given there it wins, absent it leaves the value (or
default) from before the sub-subcommand as it was.
"""

import argparse
import os

from emtag.host import ports


class Shared:
    def __init__(self, parser):
        self.top = parser
        self.parent = argparse.ArgumentParser(add_help=False)

    def add(self, *flags, **kw):
        self.top.add_argument(*flags, **kw)
        kw["default"] = argparse.SUPPRESS
        self.parent.add_argument(*flags, **kw)


def port_argument(text):
    """argparse type: a port name (host/ports.py) as the pyserial URL it means."""
    try:
        return ports.serial_url(text)
    except ports.PortNameError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def serve_port_argument(text):
    """argparse type for `emtag sim --serve --port`: pty or a TCP address to listen on."""
    try:
        p = ports.parse(text, pty=True)
    except ports.PortNameError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if p.kind not in ("pty", "tcp"):
        raise argparse.ArgumentTypeError(
            "%r: a simulated tag serves its console on pty or a TCP port "
            "(tcp:PORT, tcp:HOST:PORT, socket://HOST:PORT; port 0: any free one)" % text
        )
    return p


def add_port(target, help_text):
    """--port (on a Shared or a parser) with $EMTAG_PORT as its default, checked like a
    given one."""
    add = target.add if isinstance(target, Shared) else target.add_argument
    add(
        "--port",
        default=os.environ.get("EMTAG_PORT"),
        type=port_argument,
        help=help_text + " (default $EMTAG_PORT): " + ports.SPELLINGS,
    )


def add_keys(shared):
    shared.add(
        "--keys", metavar="DIR", help="key store (default $EMTAG_KEYS, else ~/.config/emtag/keys)"
    )


def add_json(shared, what="the answer"):
    shared.add("--json", action="store_true", help="print %s as JSON (raw units)" % what)
