"""Whole small files on the tag's flash: written so that a power cut leaves the old or the
new one, read with a bound. Used by the key, settings, trust, counter and open-state files.
"""


def write_atomic(fs, path, data):
    """Write data to path + ".tmp", then rename it over path (atomic in littlefs). On a
    filesystem that cannot rename over a file the old one is removed first; a reader that
    finds no path then looks for the .tmp (firmware/signer.py does, for the key)."""
    tmp = path + ".tmp"
    f = fs.open(tmp, "wb")
    try:
        n = f.write(data)
    finally:
        f.close()
    if n is not None and n != len(data):
        raise OSError("short write of " + path)
    try:
        fs.rename(tmp, path)
    except OSError:
        fs.remove(path)
        fs.rename(tmp, path)


def read_file(fs, path, limit):
    """Bytes of a file (at most limit + 1, so an oversized file shows), or None if absent."""
    try:
        f = fs.open(path, "rb")
    except OSError:
        return None
    try:
        return f.read(limit + 1)
    finally:
        f.close()


def remove_tree(fs, path):
    """Remove every file and directory under path ("" for the root)."""
    for entry in list(fs.ilistdir(path or "/")):
        full = path + "/" + entry[0] if path else entry[0]
        if entry[1] == 0x4000:
            remove_tree(fs, full)
        fs.remove(full)
