"""Files the commands write (--out, -o, --image): a clear error, never a traceback, when
the folder is missing or the file cannot be written; checked before any long work."""

import os

from emtag.host.errors import CommandError


def check(path, flag="--out"):
    """CommandError unless `path` can be created: its folder exists and is a folder."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CommandError("%s %s is a folder: give a file name in it" % (flag, path))
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise CommandError(
            "%s %s: the folder %s %s (make it first: mkdir -p %s)"
            % (flag, path, folder, what, folder)
        )


def write(path, data, flag="--out"):
    """Write bytes to `path`; CommandError with the reason if that cannot be done."""
    check(path, flag)
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as e:
        raise CommandError("cannot write %s: %s" % (path, e.strerror or e)) from None
