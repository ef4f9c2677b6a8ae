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
import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import InvalidArgument
from ..search import namespace_scope, namespace_sql

if TYPE_CHECKING:
    import aiosqlite
    import numpy as np

    from .base import Tx
    from .matrix import MatrixCache
    from .vss import SqliteVssBackend

log = logging.getLogger(__name__)

#: Environment variables read when open_store is not told (the Python API's fallback, listed in
#: store/__init__.py; swarmdeck's faces pass the settings' values): the backend, the fast path's budget.
ENV_BACKEND = "SWARMDECK_VECTOR_BACKEND"
ENV_CACHE_MB = "SWARMDECK_VECTOR_CACHE_MB"
BACKENDS = ("sqlite-vec", "sqlite-vss")
#: Per model and process; 0 switches the in-memory matrix off. 1 GiB holds ~700k 384-d vectors.
DEFAULT_CACHE_MB = 1024

#: A vec0 TEXT metadata column cannot hold NULL: absent values are stored as ''.
NONE = ""

BUSY_TIMEOUT_MS = 10_000

#: The newest index event, and the index events in a range: one probe / one range of events_entity_recent.
LATEST_INDEX_EVENT = "SELECT max(id) FROM events WHERE entity = 'index'"
INDEX_EVENTS = "SELECT kind, entity_id, payload FROM events WHERE entity = 'index' AND id > ? AND id <= ?"


@dataclass(frozen=True, slots=True)
class VectorFilters:
    namespace_prefix: str | None = None
    kinds: tuple[str, ...] = ()
    memory_type: str | None = None
    agent: str | None = None
    since: float | None = None
    until: float | None = None

    def __bool__(self) -> bool:
        return bool(self.namespace_prefix or self.kinds or self.memory_type or self.agent
                    or self.since is not None or self.until is not None)

    def sql(self) -> list[tuple[str, list[object]]]:
        """Constraints on the vec0 metadata columns, for the KNN query itself: one set per query.

        vec0 cannot take an OR into its search (SQLite would apply it after the k nearest were
        chosen), so a prefix selecting a namespace and what lies under it takes two KNN queries,
        whose results the caller merges by distance.
        """
        clauses: list[str] = []
        params: list[object] = []
        if self.kinds:
            clauses.append(f"kind IN ({','.join('?' * len(self.kinds))})")
            params += list(self.kinds)
        if self.memory_type:
            clauses.append("memory_type = ?")
            params.append(self.memory_type)
        if self.agent:
            clauses.append("agent = ?")
            params.append(self.agent)
        if self.since is not None:
            clauses.append("created_at >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("created_at < ?")
            params.append(self.until)
        variants: list[tuple[list[str], list[object]]] = [([], [])]
        if self.namespace_prefix:
            exact, low, high = namespace_scope(self.namespace_prefix)
            variants = [(["namespace >= ? AND namespace < ?"], [low, high])]
            if exact is not None:
                variants.append((["namespace = ?"], [exact]))
        return [("".join(f" AND {c}" for c in ns_clauses + clauses), ns_params + params)
                for ns_clauses, ns_params in variants]

    def item_sql(self) -> tuple[str, list[object]]:
        """The same constraints on ``search_items si`` (for backends that filter by candidate set)."""
        clauses: list[str] = []
        params: list[object] = []
        if self.namespace_prefix:
            clause, scope = namespace_sql("si.namespace", self.namespace_prefix)
            clauses.append(clause)
            params += scope
        if self.kinds:
            clauses.append(f"si.kind IN ({','.join('?' * len(self.kinds))})")
            params += list(self.kinds)
        if self.memory_type:
            clauses.append("si.memory_type = ?")
            params.append(self.memory_type)
        if self.agent:
            clauses.append("si.agent = ?")
            params.append(self.agent)
        if self.since is not None:
            clauses.append("si.created_at >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("si.created_at < ?")
            params.append(self.until)
        return "".join(f" AND {c}" for c in clauses), params


def table_for(model: str) -> str:
    return "vec_" + hashlib.sha1(model.encode()).hexdigest()[:12]


def vss_table_for(model: str) -> str:
    return "vss_" + hashlib.sha1(model.encode()).hexdigest()[:12]


def as_blob(vector: Sequence[float] | np.ndarray) -> bytes:
    # sqlite-vec reads little-endian float32; an explicit dtype keeps garbage out.
    import numpy as np
    return np.asarray(vector, dtype="<f4").tobytes()


def unit(vector: Sequence[float] | np.ndarray) -> np.ndarray:
    import numpy as np
    v = np.asarray(vector, dtype="<f4")
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def unit_rows(mat: np.ndarray) -> np.ndarray:
    import numpy as np
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (mat / norms).astype(np.float32, copy=False)


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


def top_k(ids: np.ndarray, sims: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` most similar as ``(item_id, cosine distance)``, nearest first, ties by item id."""
    import numpy as np
    if len(sims) == 0:
        return []
    if k < len(sims):
        kth = np.partition(sims, len(sims) - k)[len(sims) - k]
        keep = np.flatnonzero(sims >= kth)  # every tie at the boundary, so the id breaks it
        ids, sims = ids[keep], sims[keep]
    dist = (1.0 - sims).astype(np.float32)
    order = np.lexsort((ids, dist))[:k]
    return [(int(ids[i]), float(dist[i])) for i in order]


def merge(*parts: list[tuple[int, float]], k: int) -> list[tuple[int, float]]:
    return sorted((hit for part in parts for hit in part), key=lambda h: (h[1], h[0]))[:k]


# -- exact brute force over the embeddings table (any backend, any connection) ------------------------


def exact_sql(filters: VectorFilters, only: Sequence[int] | None) -> tuple[str, list[object]]:
    where, params = filters.item_sql()
    if only is not None:
        where += " AND si.id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(sorted(only)))
    return ("SELECT e.item_id, e.vector FROM search_items si JOIN embeddings e ON e.item_id = si.id "
            f"AND e.model = ? WHERE 1{where}"), params


def exact_from_rows(rows: Sequence[Sequence[Any]], query: np.ndarray, k: int) -> list[tuple[int, float]]:
    import numpy as np
    if not rows:
        return []
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    mat = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
    return top_k(ids, unit_rows(mat) @ unit(query), k)


async def exact_knn(read: aiosqlite.Connection, model: str, vector: np.ndarray, k: int, filters: VectorFilters,
                    only: Sequence[int] | None = None) -> list[tuple[int, float]]:
    """The exact k nearest, scoring every vector that passes the filters (slow at scale; always right)."""
    sql, params = exact_sql(filters, only)
    rows = await read.execute_fetchall(sql, (model, *params))
    return await asyncio.to_thread(exact_from_rows, list(rows), vector, k)


# -- what every backend shares -------------------------------------------------------------------------


def registered(tx: Tx, model: str, dim: int) -> Any:
    row = tx.one("SELECT dim, table_name FROM vector_indexes WHERE model = ?", (model,))
    if row is not None and row[0] != dim:
        raise ValueError(f"model {model} was indexed with {row[0]} dimensions, not {dim}")
    return row


def forget(tx: Tx, item_ids: Sequence[int]) -> None:
    """Drop every vector of these items, in every model's index (their text changed or went).

    The change feed says which (``index.forgotten``), so that caches and derived indexes follow."""
    if not item_ids:
        return
    ids = list(item_ids)
    marks = ",".join("?" * len(ids))
    for (name,) in tx.all("SELECT table_name FROM vector_indexes"):
        if name.startswith(SqliteVecBackend.prefix):  # a vss0 index catches up from the feed instead
            tx.run(f"DELETE FROM {name} WHERE item_id IN ({marks})", ids)
    gone = tx.all(f"DELETE FROM embeddings WHERE item_id IN ({marks}) RETURNING item_id", ids)
    tx.run(f"DELETE FROM embedding_failures WHERE item_id IN ({marks})", ids)
    if gone:
        tx.event("index.forgotten", "index", None, {"items": sorted({r[0] for r in gone})})


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
    prefix = "vec_"

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
    name = (backend or os.environ.get(ENV_BACKEND) or "sqlite-vec").strip().lower()
    if name not in BACKENDS:
        raise InvalidArgument(f"vector backend must be one of {', '.join(BACKENDS)}, not {name!r}")
    if cache_mb is None:
        raw = os.environ.get(ENV_CACHE_MB, "").strip()
        if raw and not re.fullmatch(r"\d+", raw):
            raise InvalidArgument(f"{ENV_CACHE_MB} must be a whole number of megabytes, not {raw!r}")
        cache_mb = int(raw) if raw else DEFAULT_CACHE_MB
    if cache_mb < 0:
        raise InvalidArgument("vector_cache_mb must be 0 (off) or a positive number of megabytes")
    from .matrix import MatrixCache  # numpy itself is imported only once vectors are used

    if name == "sqlite-vss":
        from .vss import SqliteVssBackend  # imported only for a store that asks for it

        chosen: SqliteVecBackend | SqliteVssBackend = SqliteVssBackend(path, read_only=read_only)
    else:
        chosen = SqliteVecBackend()
    return VectorIndex(chosen, MatrixCache(path, cache_mb, eager=eager) if cache_mb else None)
