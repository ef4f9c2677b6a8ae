"""A SQLite connection the store owns, with the one thread of its own that uses it.

The store's writes (and its checkpoints) do not go through aiosqlite: a sqlean connection and a
thread are all they need, and owning both means no private API of any library is touched. Calls run
on the thread one at a time, in the order they were submitted; the event loop awaits them through
``asyncio.wrap_future`` (store/write_path.py's ``ConnectionThread``, which PostgreSQL's writer
shares). The store may also use ``raw`` on the event loop's own thread (the quick write path) while it
knows the thread is idle: it serialises every use of the writer itself.

Also here: the making of aiosqlite's reader connection on a daemon thread (``made_on_a_daemon_thread``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import sqlean

from ..write_path import ConnectionThread

T = TypeVar("T")

#: Every owned connection's thread is named with this prefix (tests look for leaked ones by it).
THREAD_PREFIX = "swarmdeck-sqlite"


class OwnedConnection(ConnectionThread):
    """A sqlean connection plus one dedicated thread. ``open`` connects on that thread; ``call``
    runs a function there and awaits it; ``close`` closes the connection and ends the thread.

    The thread is not a daemon, like aiosqlite's: a store left open keeps the process from exiting,
    which makes a missing ``close()`` visible instead of losing what the thread was doing. Except
    with ``daemon``: the writer's thread may wait in ``flock(2)`` for a frozen process (see
    ``HostWriteLock``), which must not keep this one alive, and the WAL's checkpoint loses nothing
    when cut short."""

    raw: sqlean.Connection | None

    def __init__(self, role: str, *, daemon: bool = False) -> None:
        super().__init__(role, prefix=THREAD_PREFIX, daemon=daemon)

    @property
    def in_transaction(self) -> bool:
        return self.raw is not None and self.raw.in_transaction

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """One statement on the thread, read to its end (no statement left open)."""
        return await self.call(self._fetchall, sql, params)

    async def set_trace_callback(self, callback: Callable[[str], object] | None) -> None:
        """``sqlite3.Connection.set_trace_callback``, set on the thread (statement tracing in tests)."""
        assert self.raw is not None
        await self.call(self.raw.set_trace_callback, callback)

    def _fetchall(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        assert self.raw is not None
        cur = self.raw.execute(sql, params)
        try:
            return cur.fetchall()
        finally:
            cur.close()


def made_on_a_daemon_thread(make: Callable[[], T]) -> T:
    """``make()`` called on a short-lived daemon thread, so that a thread it creates is a daemon too (a
    thread's daemon flag is inherited from the thread that creates it). aiosqlite's connection thread
    made this way never keeps the process alive: a script that raises with its store open (an agent
    that crashed) exits with its error instead of hanging at shutdown, Python waiting for a thread
    only close() ends. A reader holds no lock worth a goodbye; the writer's thread is a daemon too."""
    made: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            made.append(make())
        except BaseException as exc:  # handed to the caller
            errors.append(exc)

    thread = threading.Thread(target=run, name="swarmdeck-daemon-maker", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return made[0]
