"""What every command that reads the store shares: the --store argument, opening the store
without ever creating one, and finding a device by id or unique prefix, each failing with
a clear CommandError."""

from emtag.host.errors import CommandError

STORE_HELP = "the bridge's store: a SQLite file or postgresql://USER@HOST[:PORT]/DB"


def add_store_argument(p, required=True):
    p.add_argument("--store", required=required, metavar="DB", help=STORE_HELP)


def open_reading(target):
    """The store at target, migrated; CommandError if there is none or it is not emtag's."""
    from emtag.host.store import StoreError, open_store

    try:
        return open_store(target, create=False)
    except StoreError as e:
        raise CommandError(str(e)) from None


def device_of(store, text):
    """The device id for an id or unique prefix; None: the store's only tag."""
    from emtag.host.store import StoreError

    if text is None:
        ids = [d.device for d in store.devices()]
        if len(ids) == 1:
            return ids[0]
        raise CommandError(
            "give --device: the store holds %s" % (", ".join(ids) if ids else "no tags")
        )
    try:
        return store.resolve_device(text)
    except StoreError as e:
        raise CommandError(str(e)) from None


T_MIN, T_MAX = 946684800, 4102444800  # 2000-01-01 .. 2100-01-01 UTC


def parse_instant(text, what):
    """Unix seconds from ISO 8601 (no offset means UTC) or a number of seconds, within
    2000..2100; CommandError otherwise."""
    import datetime
    import math

    text = (text or "").strip()
    try:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError
        t = int(value)
    except ValueError:
        try:
            d = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise CommandError(
                "%s %r: not a time (ISO 8601 such as 2026-03-09T22:30:00Z, or Unix seconds)"
                % (what, text)
            ) from None
        if d.tzinfo is None:
            d = d.replace(tzinfo=datetime.UTC)
        t = int(d.timestamp())
    if not T_MIN <= t < T_MAX:
        raise CommandError("%s %r: outside 2000..2100" % (what, text))
    return t


def iso(t, t_ms=None):
    import datetime

    s = datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return s + (".%03dZ" % t_ms if t_ms else "Z")
