"""PostgreSQL connections as the store uses them: psycopg 3, rows indexed by name or position, JSON
columns read as their text, and the writer's own thread.

Rows. ``store/rows.py`` reads ``row["name"]`` and some SQL code reads ``row[0]``, as ``sqlean.Row``
allows both: ``Row`` is a tuple that also takes a column name, one small class per column list (made
once, kept). JSON. ``jsonb``/``json`` columns are read as their text (psycopg would parse them), so
the shared row code decodes them exactly as it decodes SQLite's JSON text, with the same depth limits
(``limits.decode_stored``).

The writer's thread (``OwnedThread``): every write transaction runs whole on it, synchronously, one at
a time, in the order submitted: nothing returns to the event loop between BEGIN and COMMIT.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Sequence
from queue import SimpleQueue
from typing import Any, TypeVar

import psycopg
from psycopg.types.string import TextLoader

T = TypeVar("T")

#: The writer thread's name prefix (a leaked one is found by it).
THREAD_PREFIX = "swarmdeck-pg"

_STOP = object()


class Row(tuple):
    """A result row: ``row[0]`` or ``row["id"]``."""

    __slots__ = ()
    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if type(key) is str:
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


_ROW_CLASSES: dict[tuple[str, ...], type[Row]] = {}


def row_factory(cursor: Any) -> Callable[[Sequence[Any]], Any]:
    """psycopg's row factory: each row a ``Row`` of the cursor's columns."""
    description = cursor.description
    if description is None:
        return tuple
    names = tuple(column.name for column in description)
    cls = _ROW_CLASSES.get(names)
    if cls is None:
        cls = _ROW_CLASSES[names] = type("Row", (Row,), {"__slots__": (), "_index": {
            name: i for i, name in enumerate(names)}})
    return cls


def configure(conn: Any) -> None:
    """Rows by name or position; JSON columns as text (a sync or async connection)."""
    conn.row_factory = row_factory
    conn.adapters.register_loader("jsonb", TextLoader)
    conn.adapters.register_loader("json", TextLoader)


def connect(url: str, *, read_only: bool = False, application_name: str = "swarmdeck") -> psycopg.Connection:
    """A synchronous connection in autocommit mode (transactions are ``conn.transaction()`` blocks)."""
    options = "-c default_transaction_read_only=on" if read_only else ""
    conn = psycopg.connect(url, autocommit=True, application_name=application_name, options=options)
    # Said by BEGIN itself (PostgreSQL's default level, whatever the server's default is set to):
    # FOR UPDATE SKIP LOCKED claims and the seal's read after its lock are written for it.
    conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
    configure(conn)
    return conn


async def connect_async(url: str, *, read_only: bool = False,
                        application_name: str = "swarmdeck-reader") -> psycopg.AsyncConnection:
    options = "-c default_transaction_read_only=on" if read_only else ""
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True, application_name=application_name,
                                                 options=options)
    configure(conn)
    return conn


class OwnedThread:
    """A connection plus one dedicated daemon thread: ``open`` connects there, ``call`` runs a function
    there and awaits it, ``post`` queues one that hands its outcome back itself, ``close`` closes the
    connection and ends the thread. A daemon: a process that raises with its store open exits."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.raw: Any = None
        self._queue: SimpleQueue[Any] = SimpleQueue()
        self._ended: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._worker = threading.Thread(target=self._serve, name=f"{THREAD_PREFIX}-{role}", daemon=True)
        self._worker.start()
        self._stopped = False

    def _serve(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                future, fn, args = item
                if future is None:
                    fn(*args)
                    continue
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    result = fn(*args)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            self._ended.set_result(None)

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        if self._stopped:
            raise RuntimeError(f"the {self.role} connection is closed")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((future, fn, args))
        return future

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._stopped:
            raise RuntimeError(f"the {self.role} connection is closed")
        self._queue.put((None, fn, args))

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self.submit(fn, *args))

    async def open(self, connector: Callable[[], Any]) -> None:
        try:
            self.raw = await self.call(connector)
        except BaseException:
            await self.close()
            raise

    def _close_raw(self) -> None:
        raw, self.raw = self.raw, None
        if raw is not None:
            raw.close()

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._queue.put((concurrent.futures.Future(), self._close_raw, ()))
            self._queue.put(_STOP)

    async def close(self) -> None:
        self.stop()
        if self._worker.is_alive() and threading.get_ident() != self._worker.ident:
            await asyncio.shield(asyncio.wrap_future(self._ended))
            self._worker.join()
