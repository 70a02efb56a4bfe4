"""The store: one interface (base.Store), two backends.

    store = open_store("store.sqlite")                          # SQLite file (the default)
    store = open_store("postgresql://user@host/emtag")           # PostgreSQL: several bridges
    store = open_store(target, create=False)   # a reading command: never make a new store

open_store raises StoreError with a message for a person when the target cannot be used (no
such file, not an emtag store, a schema newer than this emtag, server unreachable).
"""

from emtag.host.store.base import (  # noqa: F401  (the interface, re-exported)
    EARLY,
    REJECTED,
    VALID,
    Alert,
    Device,
    DeviceStatus,
    Fix,
    Record,
    RetentionRun,
    StoreError,
    describe,
    is_postgres,
)
from emtag.host.store.centre_tables import (  # noqa: F401  (the centre's tables)
    ROLES,
    AlertNote,
    AuditEntry,
    CentreAlert,
    Escalation,
    FeedRow,
    User,
    Victim,
    VictimPosition,
    centre_ref,
    tag_ref,
)
from emtag.host.store.sqlite import Store  # noqa: F401  (SQLite by path, as before)


def open_store(target: str, create: bool = True):
    """The store at a path (SQLite) or a postgresql:// URL, migrated to this emtag's schema.
    create=False: a missing file or an empty database is an error instead of a new store."""
    if is_postgres(target):
        from emtag.host.store.postgres import PostgresStore

        return PostgresStore(target, create=create)
    if "://" in str(target):
        raise StoreError(
            "store %r: give a SQLite file path or a postgresql://USER@HOST[:PORT]/DB URL" % target
        )
    return Store(str(target), create=create)
