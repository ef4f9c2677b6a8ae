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

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg.types.string import TextLoader

from ..write_path import ConnectionThread

#: The writer thread's name prefix (a leaked one is found by it).
THREAD_PREFIX = "swarmdeck-pg"


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


#: One ``Row`` class per column list, keyed by the names as the server sent them.
_ROW_CLASSES: dict[tuple[bytes, ...], type[Row]] = {}


def row_factory(cursor: Any) -> Callable[[Sequence[Any]], Any]:
    """psycopg's row factory: each row a ``Row`` of the cursor's columns. It runs once per statement, so
    it reads the column names off the result itself (``cursor.description`` would build a ``Column``
    object per column each time: a fifth of a write's client time, measured)."""
    result = cursor.pgresult
    if result is None or not result.nfields:
        return tuple
    key = tuple(result.fname(i) for i in range(result.nfields))
    cls = _ROW_CLASSES.get(key)
    if cls is None:
        cls = _ROW_CLASSES[key] = type("Row", (Row,), {"__slots__": (), "_index": {
            name.decode(): i for i, name in enumerate(key)}})
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


class OwnedThread(ConnectionThread):
    """A connection plus one dedicated daemon thread (store/write_path.py's ``ConnectionThread``):
    ``open`` connects there, ``call`` runs a function there and awaits it, ``post`` queues one that
    hands its outcome back itself, ``close`` closes the connection and ends the thread. A daemon: a
    process that raises with its store open exits."""

    def __init__(self, role: str) -> None:
        super().__init__(role, prefix=THREAD_PREFIX, daemon=True)
