"""Fixtures that run a test on each store backend: SQLite in a temporary file, and a real
PostgreSQL server started by the tests themselves (emtag.tools.pgserver: initdb in a
temporary directory, run as a non-root user when the tests run as root), one fresh database
per test. Any test module can ask for them by name.

Without PostgreSQL's binaries the PostgreSQL cases are skipped, except under CI (CI=true),
where tools/setup.sh has installed them and a missing server is a failure."""

import os

import pytest

from emtag.host.store import open_store
from emtag.tools import pgserver

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_server():
    try:
        srv = pgserver.PgServer().start()
    except pgserver.PgUnavailable as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(e))
    yield srv
    srv.stop()


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    """A path or URL where a new store can be made, one per backend."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite")
    return request.getfixturevalue("pg_server").new_database()


@pytest.fixture
def st(store_url):
    s = open_store(store_url)
    yield s
    s.close()
