"""Compile the firmware with mpy-cross (the version the firmware targets: host/firmware_build.py),
deploy it to a board with mpremote, copying only files whose SHA-256 differs from the
manifest on the board, then write the new manifest and check it (and the firmware version)
on the board. Or build a littlefs image of the app for production flashing.

  emtag flash --port /dev/ttyACM0 --board esp32 --dry-run   # the plan, nothing written
  emtag flash --port /dev/ttyACM0 --board esp32             # deploy
  emtag flash --board esp32 --image app.img                 # then esptool / picotool

The board must give up its USB console to the REPL: a factory-fresh (unprovisioned) tag
does on the console's REPL escape, which this command sends first; a provisioned tag only
after `emtag fit devmode on` signed with the monitoring centre's key.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from emtag.cli import options, outfile
from emtag.host.errors import CommandError

HELP = "compile the firmware and deploy it with mpremote, or build a littlefs image"


def add_arguments(p):
    p.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the examples' layout
    options.add_port(p, "the board's serial port")
    p.add_argument("--board", choices=("esp32", "rp2"), default="esp32")
    p.add_argument("--arch", help="mpy-cross -march override (e.g. armv7emsp for RP2350)")
    p.add_argument("--dry-run", action="store_true", help="print the plan; write nothing")
    p.add_argument("--image", metavar="FILE", help="build a littlefs image instead of deploying")
    p.add_argument(
        "--blocks", type=_blocks, help="image size in 4096-byte blocks (board default)"
    )
    p.add_argument("--build", metavar="DIR", help="build directory (default: a temporary one)")
    p.add_argument(
        "--against",
        metavar="MANIFEST",
        help="with --dry-run: compare with this manifest file instead of the board's",
    )
    p.add_argument("--no-reset", action="store_true", help="leave the board at the REPL")


def _blocks(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 2 <= n <= 1 << 20:
        raise argparse.ArgumentTypeError("--blocks wants a number of blocks, 2..1048576")
    return n


def run(args):
    from emtag.host import firmware_build as build

    if args.image:
        outfile.check(args.image, "--image")  # before the build: no traceback after it
    tmp = None
    root = args.build
    if root is None:
        tmp = tempfile.TemporaryDirectory(prefix="emtag-build-")
        root = tmp.name
    try:
        try:
            b = build.build(os.path.join(root, args.board), args.board, args.arch)
        except build.BuildError as e:
            raise CommandError(str(e)) from None
        m = b.manifest
        print(
            "built firmware %s for %s (%s): %d files, MicroPython %s, mpy v%s"
            % (m["firmware"], args.board, m["arch"], len(m["files"]), m["micropython"], m["mpy"])
        )
        if args.image:
            return _image(b, args)
        if args.dry_run:
            return _dry_run(b, args)
        if not args.port:
            raise CommandError("give --port (or --dry-run, or --image FILE)")
        return _deploy(b, args)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _image(b, args):
    from littlefs import LittleFSError

    from emtag.host import firmware_build as build

    try:
        size = build.image(b, args.image, args.blocks)
    except OSError as e:
        raise CommandError("cannot write %s: %s" % (args.image, e.strerror or e)) from None
    except LittleFSError as e:  # the files do not fit: --blocks too small
        raise CommandError(
            "the firmware does not fit in %d blocks of 4096 bytes (%s): give more --blocks "
            "(the %s default is %d)"
            % (args.blocks, e, args.board, build.BOARDS[args.board]["blocks"])
        ) from None
    off = build.BOARDS[args.board]["offset"]
    print("wrote %s: littlefs, %d blocks of %d bytes" % (args.image, size // 4096, 4096))
    if args.board == "esp32":
        print(
            "flash it over the vfs partition (offset 0x%x on the generic 4 MiB build):\n"
            "  esptool --port PORT write_flash 0x%x %s" % (off, off, args.image)
        )
    else:
        print(
            "flash it over the filesystem (0x%x on a Pico):\n"
            "  picotool load -o 0x%x %s" % (off, off, args.image)
        )
    return 0


def _print_plan(p):
    for f in p["copy"]:
        print("  copy    %s" % f)
    for f in p["remove"]:
        print("  remove  %s" % f)
    print(
        "%d to copy, %d unchanged (skipped), %d to remove"
        % (len(p["copy"]), len(p["skip"]), len(p["remove"]))
    )


def _dry_run(b, args):
    from emtag.host import firmware_build as build

    if args.against:
        try:
            with open(args.against) as f:
                device = json.load(f)
        except (OSError, ValueError) as e:
            raise CommandError("cannot read manifest %s: %s" % (args.against, e)) from None
        where = args.against
    elif args.port:
        device = _device_manifest(args.port)
        where = "the board on %s" % args.port
    else:
        device, where = None, "an empty board (no --port)"
    if device:
        print(
            "against %s: firmware %s, mpy v%s"
            % (where, device.get("firmware", "?"), device.get("mpy", "?"))
        )
    else:
        print("against %s: no manifest, everything is copied" % where)
    _print_plan(build.plan(b.manifest, device))
    print("dry run: nothing written")
    return 0


LOCKED_HINT = (
    "\nno MicroPython REPL on %s: a provisioned tag keeps its console to itself; unlock it "
    "with `emtag fit devmode on` (the centre's key) or decommission it"
)


def _mpremote(port, *cmd, check=True, timeout=120):
    argv = [sys.executable, "-m", "mpremote", "connect", port, *cmd]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        msg = "mpremote got no answer within %d s" % timeout
        raise CommandError(msg + LOCKED_HINT % port) from None
    if check and p.returncode != 0:
        msg = "mpremote failed (%s): %s" % (
            " ".join(cmd[:2]),
            (p.stderr or p.stdout).strip()[-500:],
        )
        raise CommandError(msg + LOCKED_HINT % port)
    return p


def _release_console(port):
    """The console's REPL escape: a delimiter, then \\r\\x03 (firmware/console.py)."""
    from emtag.host import fitting

    try:
        ser = fitting.open_port(port)
    except fitting.ConsoleError as e:
        raise CommandError(str(e)) from None
    try:
        ser.write(b"\x00\r\x03\x03")
        ser.flush()
        time.sleep(0.3)
    finally:
        ser.close()


def _device_manifest(port):
    """The manifest on the board; None if it has none (a board never flashed by us)."""
    _release_console(port)
    p = _mpremote(port, "fs", "cat", ":" + _manifest_path(), check=False, timeout=30)
    if p.returncode != 0:
        text = p.stderr + p.stdout
        if "ENOENT" in text or "No such file" in text:
            return None
        raise CommandError("mpremote: %s" % text.strip()[-500:] + LOCKED_HINT % port)
    try:
        return json.loads(p.stdout)
    except ValueError:
        return None


def _manifest_path():
    from emtag.host import firmware_build as build

    return build.MANIFEST


def _deploy(b, args):
    from emtag.host import firmware_build as build

    device = _device_manifest(args.port)
    p = build.plan(b.manifest, device)
    _print_plan(p)
    dirs = sorted({os.path.dirname(f) for f in p["copy"] + [build.MANIFEST] if os.path.dirname(f)})
    mkdirs = (
        "import os\nfor d in %r:\n p = ''\n for part in d.split('/'):\n"
        "  p = p + '/' + part\n  try:\n   os.mkdir(p)\n  except OSError:\n   pass\n" % dirs
    )
    cmd = ["exec", mkdirs]
    for f in p["remove"]:
        cmd += ["+", "fs", "rm", ":" + f]
    for f in p["copy"]:
        cmd += ["+", "fs", "cp", os.path.join(b.root, f), ":" + f]
    cmd += ["+", "fs", "cp", os.path.join(b.root, build.MANIFEST), ":" + build.MANIFEST]
    _mpremote(args.port, *cmd, timeout=600)
    back = _device_manifest(args.port)
    if back != b.manifest:
        raise CommandError("the manifest read back from the board differs from the build")
    probe = "from emtag.firmware import tag\nprint(tag.FIRMWARE_VERSION)"
    out = _mpremote(args.port, "exec", probe).stdout.strip()
    if out != b.manifest["firmware"]:
        raise CommandError("the board runs firmware %r, not %r" % (out, b.manifest["firmware"]))
    print("board on %s: firmware %s, manifest checked" % (args.port, out))
    if not args.no_reset:
        _mpremote(args.port, "reset", check=False)
    return 0
