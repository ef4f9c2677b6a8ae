"""Shared fixtures: a real store file in tmp_path, a clock the test controls, and a check that no test
leaves a database connection open. The helpers behind them are in tests/support.py."""

from __future__ import annotations

import asyncio
import gc
import io
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from pathlib import Path

import aiosqlite
import pytest

from swarmdeck.store import open_store, signing
from swarmdeck.store.postgres.connection import THREAD_PREFIX as PG_THREAD_PREFIX
from swarmdeck.store.postgres.connection import OwnedThread
from swarmdeck.store.sqlite.connection import THREAD_PREFIX, OwnedConnection

from support import EPOCH, FakeClock, init_db  # noqa: F401 (EPOCH: for tests that import it from here)

#: `pg_url` and `pg_database`: a throwaway PostgreSQL server per session, a fresh database per test.
pytest_plugins = ["pg_support"]


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "smoke: the real `swarmdeck` console script in real processes")


@pytest.fixture(scope="session", autouse=True)
def signing_keys(tmp_path_factory):
    """Reviewers' private keys go to a folder of the test session's own (inherited by the CLI it runs),
    never to the real config folder; set before any fixture, module-scoped ones included. Keys are
    made on first use under one passphrase (tests/signing_support.py), so tests can share them."""
    folder = tmp_path_factory.mktemp("keys")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(signing.KEYS_ENV, str(folder))
        yield folder


@pytest.fixture(scope="session", autouse=True)
def user_cache(tmp_path_factory):
    """The user's cache folder (replay caches of read-only seats and of servers' databases) is one of the
    test session's own, never the real one."""
    folder = tmp_path_factory.mktemp("user-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder))
        yield folder


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "swarm.db"


@pytest.fixture
def db(request, store_backend, db_path) -> Path | str:
    """An empty swarm database, made through the store as `swarmdeck init` makes it: a SQLite file, or
    (in a module that opts in, below) a PostgreSQL database's URL."""
    if store_backend == "postgres":
        return request.getfixturevalue("pg_store_url")
    return init_db(db_path)


#: The store backends a test module runs its tests on: a module opts in to more than SQLite by naming
#: them, ``STORE_BACKENDS = ("sqlite", "postgres")``; every test that uses ``store`` (directly or through
#: a fixture built on it) or ``db`` then runs once per backend, ids ``[sqlite]`` and ``[postgres]``.
DEFAULT_BACKENDS = ("sqlite",)


def pytest_generate_tests(metafunc) -> None:
    backends = getattr(metafunc.module, "STORE_BACKENDS", DEFAULT_BACKENDS)
    if {"store", "db"} & set(metafunc.fixturenames) and tuple(backends) != DEFAULT_BACKENDS:
        metafunc.parametrize("store_backend", backends, indirect=True)


@pytest.fixture
def store_backend(request) -> str:
    """The backend of this test's ``store``: "sqlite" unless its module opted in to others."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
async def store(request, store_backend, db_path, clock):
    """An open store on a new database: a SQLite file in tmp_path, or a fresh PostgreSQL database
    holding the schema (tests/pg_support.py's ``pg_store_url``)."""
    if store_backend == "postgres":
        url = request.getfixturevalue("pg_store_url")
    else:
        url = db_path
    s = await open_store(url, create=True, clock=clock)
    try:
        yield s
    finally:
        await s.close()


# -- no connection left open ---------------------------------------------------------------------

#: How long a connection's thread may take to finish after its store closed (it ends right away).
_THREAD_GRACE_S = 5.0

#: Each database connection's thread (aiosqlite's readers, the store's own writer and checkpoint
#: connections), with a way to stop it and where it was started: what a leak report names.
_OPENED_BY: weakref.WeakKeyDictionary[threading.Thread, tuple[Callable[[], None], str]] = weakref.WeakKeyDictionary()
#: Connections made and not yet matched to the thread they start (aiosqlite starts it when awaited).
_UNSTARTED: list[weakref.ref] = []
_ROOT = str(Path(__file__).resolve().parents[1])
_VENV = str(Path(sys.prefix).resolve())
_thread_start = threading.Thread.start
_connection_init = aiosqlite.Connection.__init__


def _where() -> str:
    # The project's own frames (not the venv's, not asyncio's): who opened it, through which store call.
    frames = [f for f in traceback.extract_stack()[:-2]
              if f.filename.startswith(_ROOT) and not f.filename.startswith(_VENV)]
    return "".join(traceback.format_list(frames[-6:])) or "  (outside the project)\n"


def _recording_init(self, *args, **kwargs) -> None:
    _connection_init(self, *args, **kwargs)
    _UNSTARTED.append(weakref.ref(self))


def _recording_start(self) -> None:
    """Every connection thread, as it starts: aiosqlite's run ``_connection_worker_thread`` (Python
    names a thread after its target), the store's own are named with connection.THREAD_PREFIX."""
    if self.name.endswith("(_connection_worker_thread)") and _UNSTARTED:
        conn = _UNSTARTED.pop()  # awaited right after it was made: the newest unstarted one
        _OPENED_BY[self] = (lambda: (c := conn()) is not None and c.stop(), _where())
    _thread_start(self)


def _recording_owned_init(self, role: str, **options) -> None:
    _owned_init(self, role, **options)
    ref = weakref.ref(self)
    for t in threading.enumerate():
        if t.ident == self.ident:
            _OPENED_BY[t] = (lambda: (c := ref()) is not None and c.stop(), _where())


aiosqlite.Connection.__init__ = _recording_init
threading.Thread.start = _recording_start
_owned_init = OwnedConnection.__init__
OwnedConnection.__init__ = _recording_owned_init


def _recording_pg_init(self, role: str) -> None:
    """The PostgreSQL store's writer thread, recorded as the SQLite store's own are."""
    _pg_owned_init(self, role)
    ref = weakref.ref(self)
    _OPENED_BY[self._worker] = (lambda: (c := ref()) is not None and c.stop(), _where())


_pg_owned_init = OwnedThread.__init__
OwnedThread.__init__ = _recording_pg_init


def connection_threads() -> list[threading.Thread]:
    """Live threads of database connections: aiosqlite's (not daemons, so one left running keeps the
    interpreter from exiting) and the store's own (the writer's is a daemon, but a store left open
    is still a leak)."""
    return [t for t in threading.enumerate()
            if t.name.endswith("(_connection_worker_thread)")
            or t.name.startswith((THREAD_PREFIX, PG_THREAD_PREFIX))]


@pytest.fixture(autouse=True)
def no_connection_left_open(request):
    """Fail any test that leaves a database connection thread running (a store it never closed).

    Threads running before the test (those of broader-scoped fixtures, set up first) are not its own."""
    before = set(connection_threads())
    yield
    deadline = time.monotonic() + _THREAD_GRACE_S
    leaked = [t for t in connection_threads() if t not in before]
    for t in leaked:
        t.join(max(0.0, deadline - time.monotonic()))
    leaked = [t for t in leaked if t.is_alive()]
    if leaked:
        where = "\n".join(f"{t.name}, opened at:\n{_OPENED_BY.get(t, (None, '  (not recorded)'))[1]}"
                          for t in leaked)
        for t in leaked:  # end them, or the interpreter would wait for them at exit
            stop = _OPENED_BY.get(t, (lambda: None,))[0]
            try:
                stop()
            except Exception:
                pass
        pytest.fail(f"{request.node.nodeid} left {len(leaked)} database connection(s) open "
                    f"(a store never closed):\n{where}", pytrace=False)


# -- a test that hangs ---------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """When pytest-timeout stops a test (``timeout`` in pyproject.toml), add what each asyncio task was
    waiting on: the thread stacks it prints show only the event loop's ``select``."""
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is None or not str(call.excinfo.value).startswith("Timeout"):
        return
    lines = []
    for loop in [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and not o.is_closed()]:
        for task in asyncio.all_tasks(loop):
            stack = io.StringIO()
            task.print_stack(file=stack)
            lines.append(stack.getvalue())
    report.sections.append(("asyncio tasks at the timeout", "\n".join(lines) or "(none)"))
