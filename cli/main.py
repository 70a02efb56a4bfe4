"""The `emtag` command: one console script, one module per subcommand.

Each subcommand lives in emtag.cli.<name> with HELP (one line), add_arguments(parser)
and run(args) -> exit code. Modules are imported only when their command runs, except to
build --help.
"""

import argparse
import importlib
import os
import sys
from importlib.metadata import version

from emtag.host.errors import CommandError  # noqa: F401  (subcommands import it from here)

# name -> module; the order is the order in --help
COMMANDS = {
    "sim": "emtag.cli.sim",
    "bridge": "emtag.cli.bridge",
    "nmea": "emtag.cli.nmea",
    "verify": "emtag.cli.verify",
    "export": "emtag.cli.export",
    "fit": "emtag.cli.fit",
    "keys": "emtag.cli.keys",
    "flash": "emtag.cli.flash",
    "zones": "emtag.cli.zones",
    "bench": "emtag.cli.bench",
    "store": "emtag.cli.store",
    "where": "emtag.cli.where",
    "trail": "emtag.cli.trail",
    "report": "emtag.cli.report",
    "centre": "emtag.cli.centre",
    "crimes": "emtag.cli.crimes",
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="emtag",
        description="Firmware, simulator and host tools for emtag GPS ankle tags.",
    )
    parser.add_argument("--version", action="version", version="emtag " + version("emtag"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, modname in COMMANDS.items():
        mod = importlib.import_module(modname)
        p = sub.add_parser(name, help=mod.HELP, description=mod.__doc__)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return args._run(args) or 0
    except CommandError as e:
        print("emtag %s: error: %s" % (args.command, e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("emtag: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `emtag ... | head`: the reader has what it wanted. Point stdout at /dev/null so
        # the interpreter's own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
