"""A SQLite connection the store owns, with the one thread of its own that uses it.

The store's writes (and its checkpoints) do not go through aiosqlite: a sqlean connection and a
thread are all they need, and owning both means no private API of any library is touched. Calls run
on the thread one at a time, in the order they were submitted; the event loop awaits them through
``asyncio.wrap_future``. The store may also use ``raw`` on the event loop's own thread (the quick
write path) while it knows the thread is idle: it serialises every use of the writer itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

import sqlean

T = TypeVar("T")

#: Every owned connection's thread is named with this prefix (tests look for leaked ones by it).
THREAD_PREFIX = "swarmdeck-sqlite"

_STOP = object()


class OwnedConnection:
    """A sqlean connection plus one dedicated thread. ``open`` connects on that thread; ``call``
    runs a function there and awaits it; ``close`` closes the connection and ends the thread.

    The thread is not a daemon, like aiosqlite's: a store left open keeps the process from exiting,
    which makes a missing ``close()`` visible instead of losing what the thread was doing. Except
    with ``daemon``: the writer's thread may wait in ``flock(2)`` for a frozen process (see
    ``HostWriteLock``), which must not keep this one alive; the store's reader still does."""

    def __init__(self, role: str, *, daemon: bool = False) -> None:
        self.role = role
        self.raw: sqlean.Connection | None = None
        self._queue: SimpleQueue[Any] = SimpleQueue()
        self._ended: concurrent.futures.Future[None] = concurrent.futures.Future()  # its loop is left
        self._worker = threading.Thread(target=self._serve, name=f"{THREAD_PREFIX}-{role}", daemon=daemon)
        self._worker.start()
        self._stopped = False

    @property
    def ident(self) -> int | None:
        """The thread's identifier: what ``threading.get_ident()`` returns on it."""
        return self._worker.ident

    @property
    def in_transaction(self) -> bool:
        return self.raw is not None and self.raw.in_transaction

    def _serve(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                future, fn, args = item
                if future is None:  # posted: it hands its outcome back itself
                    fn(*args)
                    continue
                if not future.set_running_or_notify_cancel():
                    continue  # cancelled before it started: it never runs
                try:
                    result = fn(*args)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            self._ended.set_result(None)

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Queue ``fn(*args)`` on the thread; a future of its result."""
        if self._stopped:
            raise RuntimeError(f"the {self.role} connection is closed")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((future, fn, args))
        return future

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` on the thread, with no future: ``fn`` hands its outcome back itself and
        lets no exception escape (the store's writes: one ``call_soon_threadsafe`` back to the loop)."""
        if self._stopped:
            raise RuntimeError(f"the {self.role} connection is closed")
        self._queue.put((None, fn, args))

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the thread and await its result. Cancelled before it started, it
        never runs; once started it runs to its end there (the caller stops waiting)."""
        return await asyncio.wrap_future(self.submit(fn, *args))

    async def open(self, connector: Callable[[], sqlean.Connection]) -> None:
        """Connect on the thread. On failure the thread has ended when this raises."""
        try:
            self.raw = await self.call(connector)
        except BaseException:
            await self.close()
            raise

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

    def _close_raw(self) -> None:
        raw, self.raw = self.raw, None
        if raw is not None:
            raw.close()

    def stop(self) -> None:
        """Close the connection and end the thread once what is queued has run; waits for nothing."""
        if not self._stopped:
            self._stopped = True
            self._queue.put((concurrent.futures.Future(), self._close_raw, ()))
            self._queue.put(_STOP)

    async def close(self) -> None:
        """Close the connection on its thread and wait for the thread to end: the loop awaits the thread
        leaving its loop, then joins it (at once), so no executor thread is started (nor joined by
        ``asyncio.run`` as it ends) to wait on it."""
        self.stop()
        if self._worker.is_alive() and threading.get_ident() != self._worker.ident:
            await asyncio.shield(asyncio.wrap_future(self._ended))  # a cancelled caller cancels not it
            self._worker.join()
