"""The vector index behind semantic search: one small interface, two SQLite backends, one in-memory fast path.

* ``SqliteVecBackend`` (default): a sqlite-vec ``vec0`` table per embedding model, written in the same
  transaction as the vector. Filters (namespace prefix, kind, memory type, agent, time range) are
  metadata columns of the table, so they constrain the k-nearest-neighbour search itself.
* ``SqliteVssBackend`` (vss.py, ``vector_backend="sqlite-vss"``): a sqlite-vss ``vss0`` table per model, for
  users who ask for it. See its docstring for the bugs it works around.
* ``MatrixCache`` (matrix.py): the model's vectors as one float32 numpy matrix per process, loaded on first use
  (in the background) from the ``embeddings`` table and kept in step through the change feed. Exact
  (a brute-force dot product), ~10x faster than vec0's KNN at 100k x 384; either backend answers
  while it loads, when it is switched off, or past its memory budget.

Whatever answers, filters are applied before the limit, never after, and results are the exact k
nearest by cosine distance, ties broken by item id. The ``embeddings`` table is the source of truth
and every change to it is announced on the change feed (``index.embedded`` and ``index.forgotten``
events carry the item ids), which is how caches and the sqlite-vss index catch up.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..vectors import (  # noqa: F401  (shared with PostgreSQL: store/vectors.py; named here as before)
    TABLE_PREFIX,
    VectorFilters,
    as_blob,
    exact_from_rows,
    exact_sql,
    forget,
    merge,
    registered,
    table_for,
    top_k,
    unit,
    unit_rows,
)
# The options are checked in vector_options.py (imported at open, without this module); named here too.
from .vector_options import BACKENDS, DEFAULT_CACHE_MB, ENV_BACKEND, ENV_CACHE_MB, choose  # noqa: F401

if TYPE_CHECKING:
    import aiosqlite
    import numpy as np

    from .base import Tx
    from .matrix import MatrixCache
    from .vss import SqliteVssBackend

log = logging.getLogger(__name__)


#: A vec0 TEXT metadata column cannot hold NULL: absent values are stored as ''.
NONE = ""

BUSY_TIMEOUT_MS = 10_000

#: The newest index event, and the index events in a range: one probe / one range of events_entity_recent.
LATEST_INDEX_EVENT = "SELECT max(id) FROM events WHERE entity = 'index'"
INDEX_EVENTS = "SELECT kind, entity_id, payload FROM events WHERE entity = 'index' AND id > ? AND id <= ?"


def vss_table_for(model: str) -> str:
    return "vss_" + hashlib.sha1(model.encode()).hexdigest()[:12]


def touched(rows: Sequence[Sequence[Any]], model: str) -> set[int] | None:
    """Item ids whose vector for ``model`` may have changed, from index events ``(kind, entity_id,
    payload)``; None when an event does not say which (a database written before they did)."""
    ids: set[int] = set()
    for kind, entity_id, payload in rows:
        if kind == "index.embedded" and entity_id != model:
            continue
        if kind in ("index.embedded", "index.forgotten"):
            items = json.loads(payload).get("items")
            if items is None:
                return None
            ids.update(int(i) for i in items)
    return ids


async def exact_knn(read: aiosqlite.Connection, model: str, vector: np.ndarray, k: int, filters: VectorFilters,
                    only: Sequence[int] | None = None) -> list[tuple[int, float]]:
    """The exact k nearest, scoring every vector that passes the filters (slow at scale; always right)."""
    sql, params = exact_sql(filters, only)
    rows = await read.execute_fetchall(sql, (model, *params))
    return await asyncio.to_thread(exact_from_rows, list(rows), vector, k)


class VectorBackend(Protocol):
    """Where a model's vectors are indexed inside the database, and how the k nearest are found."""

    name: str
    #: Table names of this backend start with it (``vector_indexes.table_name`` says whose a table is).
    prefix: str

    def ensure_index(self, tx: Tx, model: str, dim: int) -> str:
        """The model's index table (created, or rebuilt from ``embeddings`` if another backend made it)."""
        ...

    def put(self, tx: Tx, table: str, item_id: int, vector: np.ndarray, meta: Mapping[str, Any]) -> None:
        """Index one vector (``meta``: the item's kind, namespace, memory_type, agent, created_at)."""
        ...

    def forget(self, tx: Tx, item_ids: Sequence[int]) -> None: ...

    async def knn(self, read: aiosqlite.Connection, model: str, table: str, vector: np.ndarray, k: int,
                  filters: VectorFilters) -> list[tuple[int, float]]:
        """The exact ``k`` nearest passing ``filters`` as ``(item_id, cosine distance)``, nearest first."""
        ...

    async def flush(self, model: str) -> None:
        """After a transaction that stored vectors committed."""
        ...

    async def close(self) -> None: ...


# -- sqlite-vec ----------------------------------------------------------------------------------------


class SqliteVecBackend:
    """sqlite-vec ``vec0`` tables: metadata columns make every filter part of the KNN itself."""

    name = "sqlite-vec"
    prefix = TABLE_PREFIX

    def ensure_index(self, tx: Tx, model: str, dim: int) -> str:
        row = registered(tx, model, dim)
        if row is not None and row[1].startswith(self.prefix):
            return row[1]
        name = table_for(model)
        tx.run(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING vec0("
            f"item_id INTEGER PRIMARY KEY, embedding float[{int(dim)}] distance_metric=cosine, "
            "kind TEXT, namespace TEXT, memory_type TEXT, agent TEXT, created_at FLOAT)"
        )
        if row is None:
            tx.run(
                "INSERT INTO vector_indexes (model, dim, table_name, created_at) VALUES (?, ?, ?, ?)",
                (model, dim, name, tx.now),
            )
            return name
        # Indexed by sqlite-vss until now: rebuild from the vectors themselves. The vss0 tables stay
        # (dropping a virtual table needs its module, which this backend does not load).
        log.warning("rebuilding the %s index of %s with sqlite-vec; %s is left unused", row[1], model, row[1])
        tx.run(f"DELETE FROM {name}")
        tx.run(
            f"INSERT INTO {name} (item_id, embedding, kind, namespace, memory_type, agent, created_at) "
            "SELECT e.item_id, e.vector, si.kind, si.namespace, coalesce(si.memory_type, ''), "
            "coalesce(si.agent, ''), si.created_at FROM embeddings e JOIN search_items si ON si.id = e.item_id "
            "WHERE e.model = ?", (model,))
        tx.run("UPDATE vector_indexes SET table_name = ? WHERE model = ?", (name, model))
        return name

    def put(self, tx: Tx, table: str, item_id: int, vector: np.ndarray, meta: Mapping[str, Any]) -> None:
        tx.run(f"DELETE FROM {table} WHERE item_id = ?", (item_id,))
        tx.run(
            f"INSERT INTO {table} (item_id, embedding, kind, namespace, memory_type, agent, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (item_id, as_blob(vector), meta["kind"], meta["namespace"], meta["memory_type"] or NONE,
             meta["agent"] or NONE, meta["created_at"]),
        )

    def forget(self, tx: Tx, item_ids: Sequence[int]) -> None:
        forget(tx, item_ids)

    async def knn(self, read: aiosqlite.Connection, model: str, table: str, vector: np.ndarray, k: int,
                  filters: VectorFilters) -> list[tuple[int, float]]:
        rows: list[tuple[int, float]] = []
        for where, params in filters.sql():
            rows += [(r[0], r[1]) for r in await read.execute_fetchall(
                f"SELECT item_id, distance FROM {table} WHERE embedding MATCH ? AND k = ?{where} "
                "ORDER BY distance", (as_blob(vector), k, *params),
            )]
        return merge(rows, k=k)

    async def flush(self, model: str) -> None:
        return None

    async def close(self) -> None:
        return None


# -- sqlite-vss -------------------------------------------------------------------------------------------

#: Shared libraries sqlite-vss (Faiss) needs from the OS, and the Debian/Ubuntu packages that ship them.
class VectorIndex:
    """The store's vector index: its backend for writes, the fast path (if on) then the backend for reads."""

    def __init__(self, backend: SqliteVecBackend | SqliteVssBackend, cache: MatrixCache | None) -> None:
        self.backend = backend
        self.cache = cache
        self._vec = backend if isinstance(backend, SqliteVecBackend) else SqliteVecBackend()

    def ensure_index(self, tx: Tx, model: str, dim: int) -> str:
        return self.backend.ensure_index(tx, model, dim)

    def put(self, tx: Tx, table: str, item_id: int, vector: np.ndarray, meta: Mapping[str, Any]) -> None:
        self.backend.put(tx, table, item_id, vector, meta)

    def forget(self, tx: Tx, item_ids: Sequence[int]) -> None:
        self.backend.forget(tx, item_ids)

    async def flush(self, model: str) -> None:
        await self.backend.flush(model)

    async def knn(self, read: aiosqlite.Connection, model: str, table: str, vector: np.ndarray, k: int,
                  filters: VectorFilters) -> list[tuple[int, float]]:
        return await (await self.prepare(read, model, table, k, filters))(vector)

    async def prepare(self, read: aiosqlite.Connection, model: str, table: str, k: int,
                      filters: VectorFilters) -> Callable[[np.ndarray], Awaitable[list[tuple[int, float]]]]:
        """The k-nearest search, for a query vector that may still be being made.

        What the in-memory path must read (its catch-up with the change feed) is read now, so that once the
        vector is there it answers without SQL: nothing it needs waits behind a query queued meanwhile on
        ``read`` (the keyword ranking, in a hybrid search). The backends read when they search.
        """
        if self.cache is not None:
            matrix = await self.cache.ready(read, model)
            if matrix is not None:
                cache = self.cache
                return lambda vector: cache.search(matrix, vector, k, filters)
        return lambda vector: self._backend_knn(read, model, table, vector, k, filters)

    async def _backend_knn(self, read: aiosqlite.Connection, model: str, table: str, vector: np.ndarray, k: int,
                           filters: VectorFilters) -> list[tuple[int, float]]:
        if table.startswith(self.backend.prefix):
            return await self.backend.knn(read, model, table, vector, k, filters)
        if table.startswith(SqliteVecBackend.prefix):  # not switched yet: sqlite-vec is always loaded
            return await self._vec.knn(read, model, table, vector, k, filters)
        # another backend's table that this seat cannot open (sqlite-vss not loaded): score exactly
        return await exact_knn(read, model, vector, k, filters)

    async def close(self) -> None:
        await self.backend.close()


def open_index(backend: str | None, path: Path, *, read_only: bool = False,
               cache_mb: int | None = None, eager: bool = False) -> VectorIndex:
    """The vector index for a store on ``path``: ``backend`` (or $SWARMDECK_VECTOR_BACKEND, else
    sqlite-vec) with the in-memory fast path within ``cache_mb`` (or $SWARMDECK_VECTOR_CACHE_MB)."""
    name, cache_mb = choose(backend, cache_mb)
    from .matrix import MatrixCache  # numpy itself is imported only once vectors are used

    if name == "sqlite-vss":
        from .vss import SqliteVssBackend  # imported only for a store that asks for it

        chosen: SqliteVecBackend | SqliteVssBackend = SqliteVssBackend(path, read_only=read_only)
    else:
        chosen = SqliteVecBackend()
    return VectorIndex(chosen, MatrixCache(path, cache_mb, eager=eager) if cache_mb else None)
