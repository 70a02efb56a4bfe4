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
