"""The `emtag` command: one console script, one module per subcommand.

Each subcommand lives in emtag.host.cli_<name> with HELP (one line), add_arguments(parser)
and run(args) -> exit code. Modules are imported only when their command runs, except to
build --help.
"""

import argparse
import importlib
import sys

from emtag.host.errors import CommandError  # noqa: F401  (subcommands import it from here)

VERSION = "0.1.0"

# name -> module; the order is the order in --help
COMMANDS = {
    "sim": "emtag.host.cli_sim",
    "bridge": "emtag.host.cli_bridge",
    "nmea": "emtag.host.cli_nmea",
    "verify": "emtag.host.cli_verify",
    "export": "emtag.host.cli_export",
    "fit": "emtag.host.cli_fit",
    "keys": "emtag.host.cli_keys",
    "flash": "emtag.host.cli_flash",
    "zones": "emtag.host.cli_zones",
    "crimes": "emtag.host.cli_crimes",
    "bench": "emtag.host.cli_bench",
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="emtag",
        description="Firmware, simulator and host tools for emtag GPS ankle tags.",
    )
    parser.add_argument("--version", action="version", version="emtag " + VERSION)
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


if __name__ == "__main__":
    sys.exit(main())
