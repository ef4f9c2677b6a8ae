"""The vector index behind semantic search: one small interface, two SQLite backends, one in-memory fast path.

* ``SqliteVecBackend`` (default): a sqlite-vec ``vec0`` table per embedding model, written in the same
  transaction as the vector. Filters (namespace prefix, kind, memory type, agent, time range) are
  metadata columns of the table, so they constrain the k-nearest-neighbour search itself.
* ``SqliteVssBackend`` (``vector_backend="sqlite-vss"``): a sqlite-vss ``vss0`` table per model, for
  users who ask for it. See its docstring for the bugs it works around.
* ``MatrixCache``: the model's vectors as one float32 numpy matrix per process, loaded on first use
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
import math
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import sqlean

from ..errors import InvalidArgument, StoreError
from ..search import namespace_matches, namespace_scope, namespace_sql

if TYPE_CHECKING:
    import aiosqlite

    from .base import Tx

log = logging.getLogger(__name__)

#: Environment variables read when open_store is not told: the backend, and the fast path's budget.
ENV_BACKEND = "SWARMDECK_VECTOR_BACKEND"
ENV_CACHE_MB = "SWARMDECK_VECTOR_CACHE_MB"
BACKENDS = ("sqlite-vec", "sqlite-vss")
#: Per model and process; 0 switches the in-memory matrix off. 1 GiB holds ~700k 384-d vectors.
DEFAULT_CACHE_MB = 1024
#: A matrix up to this size (~10k x 384) loads before the first query answers; a larger one in the background.
EAGER_BYTES = 16 * 1024 * 1024

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
    return np.asarray(vector, dtype="<f4").tobytes()


def _unit(vector: Sequence[float] | np.ndarray) -> np.ndarray:
    v = np.asarray(vector, dtype="<f4")
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def _unit_rows(mat: np.ndarray) -> np.ndarray:
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
    if len(sims) == 0:
        return []
    if k < len(sims):
        kth = np.partition(sims, len(sims) - k)[len(sims) - k]
        keep = np.flatnonzero(sims >= kth)  # every tie at the boundary, so the id breaks it
        ids, sims = ids[keep], sims[keep]
    dist = (1.0 - sims).astype(np.float32)
    order = np.lexsort((ids, dist))[:k]
    return [(int(ids[i]), float(dist[i])) for i in order]


def _merge(*parts: list[tuple[int, float]], k: int) -> list[tuple[int, float]]:
    return sorted((hit for part in parts for hit in part), key=lambda h: (h[1], h[0]))[:k]


# -- exact brute force over the embeddings table (any backend, any connection) ------------------------


def _exact_sql(filters: VectorFilters, only: Sequence[int] | None) -> tuple[str, list[object]]:
    where, params = filters.item_sql()
    if only is not None:
        where += " AND si.id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(sorted(only)))
    return ("SELECT e.item_id, e.vector FROM search_items si JOIN embeddings e ON e.item_id = si.id "
            f"AND e.model = ? WHERE 1{where}"), params


def _exact_from_rows(rows: Sequence[Sequence[Any]], query: np.ndarray, k: int) -> list[tuple[int, float]]:
    if not rows:
        return []
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    mat = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
    return top_k(ids, _unit_rows(mat) @ _unit(query), k)


async def exact_knn(read: aiosqlite.Connection, model: str, vector: np.ndarray, k: int, filters: VectorFilters,
                    only: Sequence[int] | None = None) -> list[tuple[int, float]]:
    """The exact k nearest, scoring every vector that passes the filters (slow at scale; always right)."""
    sql, params = _exact_sql(filters, only)
    rows = await read.execute_fetchall(sql, (model, *params))
    return await asyncio.to_thread(_exact_from_rows, list(rows), vector, k)


# -- what every backend shares -------------------------------------------------------------------------


async def _registered(tx: Tx, model: str, dim: int) -> Any:
    row = await tx.one("SELECT dim, table_name FROM vector_indexes WHERE model = ?", (model,))
    if row is not None and row[0] != dim:
        raise ValueError(f"model {model} was indexed with {row[0]} dimensions, not {dim}")
    return row


async def forget(tx: Tx, item_ids: Sequence[int]) -> None:
    """Drop every vector of these items, in every model's index (their text changed or went).

    The change feed says which (``index.forgotten``), so that caches and derived indexes follow."""
    if not item_ids:
        return
    ids = list(item_ids)
    marks = ",".join("?" * len(ids))
    for (name,) in await tx.all("SELECT table_name FROM vector_indexes"):
        if name.startswith(SqliteVecBackend.prefix):  # a vss0 index catches up from the feed instead
            await tx.run(f"DELETE FROM {name} WHERE item_id IN ({marks})", ids)
    gone = await tx.all(f"DELETE FROM embeddings WHERE item_id IN ({marks}) RETURNING item_id", ids)
    await tx.run(f"DELETE FROM embedding_failures WHERE item_id IN ({marks})", ids)
    if gone:
        await tx.event("index.forgotten", "index", None, {"items": sorted({r[0] for r in gone})})


class VectorBackend(Protocol):
    """Where a model's vectors are indexed inside the database, and how the k nearest are found."""

    name: str
    #: Table names of this backend start with it (``vector_indexes.table_name`` says whose a table is).
    prefix: str

    async def ensure_index(self, tx: Tx, model: str, dim: int) -> str:
        """The model's index table (created, or rebuilt from ``embeddings`` if another backend made it)."""
        ...

    async def put(self, tx: Tx, table: str, item_id: int, vector: np.ndarray, meta: Mapping[str, Any]) -> None:
        """Index one vector (``meta``: the item's kind, namespace, memory_type, agent, created_at)."""
        ...

    async def forget(self, tx: Tx, item_ids: Sequence[int]) -> None: ...

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

    async def ensure_index(self, tx: Tx, model: str, dim: int) -> str:
        row = await _registered(tx, model, dim)
        if row is not None and row[1].startswith(self.prefix):
            return row[1]
        name = table_for(model)
        await tx.run(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING vec0("
            f"item_id INTEGER PRIMARY KEY, embedding float[{int(dim)}] distance_metric=cosine, "
            "kind TEXT, namespace TEXT, memory_type TEXT, agent TEXT, created_at FLOAT)"
        )
        if row is None:
            await tx.run(
                "INSERT INTO vector_indexes (model, dim, table_name, created_at) VALUES (?, ?, ?, ?)",
                (model, dim, name, tx.now),
            )
            return name
        # Indexed by sqlite-vss until now: rebuild from the vectors themselves. The vss0 tables stay
        # (dropping a virtual table needs its module, which this backend does not load).
        log.warning("rebuilding the %s index of %s with sqlite-vec; %s is left unused", row[1], model, row[1])
        await tx.run(f"DELETE FROM {name}")
        await tx.run(
            f"INSERT INTO {name} (item_id, embedding, kind, namespace, memory_type, agent, created_at) "
            "SELECT e.item_id, e.vector, si.kind, si.namespace, coalesce(si.memory_type, ''), "
            "coalesce(si.agent, ''), si.created_at FROM embeddings e JOIN search_items si ON si.id = e.item_id "
            "WHERE e.model = ?", (model,))
        await tx.run("UPDATE vector_indexes SET table_name = ? WHERE model = ?", (name, model))
        return name

    async def put(self, tx: Tx, table: str, item_id: int, vector: np.ndarray, meta: Mapping[str, Any]) -> None:
        await tx.run(f"DELETE FROM {table} WHERE item_id = ?", (item_id,))
        await tx.run(
            f"INSERT INTO {table} (item_id, embedding, kind, namespace, memory_type, agent, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (item_id, as_blob(vector), meta["kind"], meta["namespace"], meta["memory_type"] or NONE,
             meta["agent"] or NONE, meta["created_at"]),
        )

    async def forget(self, tx: Tx, item_ids: Sequence[int]) -> None:
        await forget(tx, item_ids)

    async def knn(self, read: aiosqlite.Connection, model: str, table: str, vector: np.ndarray, k: int,
                  filters: VectorFilters) -> list[tuple[int, float]]:
        rows: list[tuple[int, float]] = []
        for where, params in filters.sql():
            rows += [(r[0], r[1]) for r in await read.execute_fetchall(
                f"SELECT item_id, distance FROM {table} WHERE embedding MATCH ? AND k = ?{where} "
                "ORDER BY distance", (as_blob(vector), k, *params),
            )]
        return _merge(rows, k=k)

    async def flush(self, model: str) -> None:
        return None

    async def close(self) -> None:
        return None


# -- sqlite-vss -------------------------------------------------------------------------------------------

#: Shared libraries sqlite-vss (Faiss) needs from the OS, and the Debian/Ubuntu packages that ship them.
_VSS_OS_PACKAGES = {"libblas.so.3": "libblas3", "liblapack.so.3": "liblapack3", "libgomp.so.1": "libgomp1",
                    "libgfortran.so.5": "libgfortran5"}


def load_vss(conn: sqlean.Connection) -> None:
    """Load sqlite-vss (vector0 + vss0) into ``conn``, or say what is missing to make it load."""
    try:
        import sqlite_vss
    except ImportError:
        raise StoreError("the sqlite-vss vector backend needs the sqlite-vss package: "
                         "pip install 'swarmdeck[vss]' (or choose vector_backend sqlite-vec)") from None
    conn.enable_load_extension(True)
    try:
        sqlite_vss.load(conn)
    except sqlean.OperationalError as exc:
        missing = [pkg for lib, pkg in _VSS_OS_PACKAGES.items() if lib in str(exc)] or ["libblas3", "liblapack3"]
        raise StoreError(
            f"sqlite-vss could not be loaded ({exc}): it needs the OS packages {' and '.join(missing)} "
            f"(Debian/Ubuntu: apt-get install libblas3 liblapack3); or choose vector_backend sqlite-vec"
        ) from exc
    finally:
        conn.enable_load_extension(False)


class SqliteVssBackend:
    """sqlite-vss ``vss0`` tables (Faiss ``Flat,IDMap2``: exhaustive, so exact), behind the same interface.

    sqlite-vss is no longer developed. Its bugs (v0.1.2; all but the BLOB one reproduced here, see
    tests/store/test_vector_backends.py), and what this backend does about each:

    * Each connection deserialises the whole Faiss index when it first touches the table and never
      sees another connection's commits; worse, a connection that writes serialises its own stale copy
      over theirs, so two writers lose each other's vectors. So the index is *derived*: the main
      transaction writes only ``embeddings`` (the source of truth) and the change feed, and a sync
      brings the vss0 table up to the feed in a connection opened for that sync, under the write lock.
      The table's watermark (the last index event applied) sits beside it in ``<table>_synced``.
    * Every commit that touches the table rewrites the whole serialised index (~1.6 s at 100k x 384),
      and inserts pending in one transaction cost quadratically (8k: 17 s; 16k: over 5 min). So syncs
      are batched (after a commit that stored vectors, only once ``SYNC_BATCH`` items are behind) and
      insert ``INSERT_CHUNK`` vectors per transaction; reads overlay what the vss0 table does not have
      yet (below), so they stay exact.
    * Raw float32 BLOBs inserted in one large transaction were stored as garbage: vectors go in
      through ``vector_from_raw(?)``.
    * Searching a connection's empty in-memory index aborts the whole process (a Faiss assertion):
      an empty or never-built table is never searched.
    * vss0 has no metadata columns, so nothing can filter inside the search. Filters become a
      candidate set in SQL first. At most ``RESCORE_MAX`` candidates are scored exactly from their
      stored vectors (no vss0 query at all); more, and vss0 is asked for the k' nearest with k' grown
      (x4) until k of them pass the filters or k' covers the table. A Flat index is exhaustive, so
      both give the exact filtered top k: the filter is applied before the limit, never after.

    Reads: the vss0 table answers for the items untouched since its watermark; items the feed says
    changed since are removed from its answer and scored exactly from ``embeddings`` (the overlay).
    The read connection is reopened whenever the watermark moved (its Faiss copy would be stale).
    Distances: vectors go in unit-length, and Faiss's squared L2 over two is the cosine distance.
    """

    name = "sqlite-vss"
    prefix = "vss_"
    RESCORE_MAX = 2_000  # at 100k: ~30 us per candidate scored from its row; a vss0 round is ~7 ms
    SYNC_BATCH = 1_000
    INSERT_CHUNK = 2_000
    #: A sync claimed longer ago than this was abandoned (its process died): another may take over.
    CLAIM_SECONDS = 600.0

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        probe = sqlean.connect(":memory:")
        try:
            load_vss(probe)
        finally:
            probe.close()
        self._lock = threading.Lock()  # the read connection is used by one thread at a time
        self._reader: sqlean.Connection | None = None
        self._reader_marks: dict[str, int] = {}  # per table: the watermark its Faiss copy was loaded at

    def _connect(self) -> sqlean.Connection:
        conn = sqlean.connect(str(self.path), isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        load_vss(conn)
        return conn

    async def ensure_index(self, tx: Tx, model: str, dim: int) -> str:
        row = await _registered(tx, model, dim)
        name = vss_table_for(model)
        if row is not None and row[1] == name:
            return name
        await tx.run(f"CREATE TABLE IF NOT EXISTS {name}_synced (id INTEGER PRIMARY KEY CHECK (id = 1), "
                     "event_id INTEGER NOT NULL, dim INTEGER NOT NULL, count INTEGER NOT NULL, syncing REAL)")
        # watermark 0: not built; the first sync builds it from embeddings, reads score exactly until then
        await tx.run(f"INSERT OR REPLACE INTO {name}_synced (id, event_id, dim, count) VALUES (1, 0, ?, 0)", (dim,))
        if row is None:
            await tx.run("INSERT INTO vector_indexes (model, dim, table_name, created_at) VALUES (?, ?, ?, ?)",
                         (model, dim, name, tx.now))
        else:  # indexed by sqlite-vec until now (always loaded, so its table can go)
            await tx.run(f"DROP TABLE IF EXISTS {row[1]}")
            await tx.run("UPDATE vector_indexes SET table_name = ? WHERE model = ?", (name, model))
        return name

    async def put(self, tx: Tx, table: str, item_id: int, vector: np.ndarray, meta: Mapping[str, Any]) -> None:
        """Nothing here: the embeddings row and the ``index.embedded`` event are what the sync applies."""

    async def forget(self, tx: Tx, item_ids: Sequence[int]) -> None:
        await forget(tx, item_ids)

    async def flush(self, model: str) -> None:
        if not self.read_only:
            await asyncio.to_thread(self.sync, model, self.SYNC_BATCH)

    def sync(self, model: str, min_behind: int = 1) -> int:
        """Bring the model's vss0 table up to the change feed if at least ``min_behind`` items changed
        (a full rebuild when it was never built, or when most of it changed). Returns items applied.

        Inserts go in ``INSERT_CHUNK`` per transaction: vss0's pending inserts cost quadratically within
        one transaction (8k took 17 s, 16k over 5 min), while each commit rewrites the whole index. The
        first transaction claims the sync (``syncing``), deletes what changed and, for a rebuild, sets
        the watermark to 0 (reads then score exactly); the last one moves the watermark. In between,
        readers stay exact: every id that changed since the watermark is left out of vss0's answers."""
        conn = self._connect()  # fresh: its Faiss copy is loaded inside the write lock, so it is current
        try:
            if min_behind > 1:  # a look first, without taking the write lock from the other writers
                conn.execute("BEGIN")
                try:
                    behind = self._behind(conn, model)
                finally:
                    conn.execute("ROLLBACK")
                if behind is not None and behind < min_behind:
                    return 0
            plan = self._in_transaction(conn, lambda: self._sync_start(conn, model, min_behind))
            if plan is None:
                return 0
            name, rows, latest, count, applied = plan
            try:
                for start in range(0, len(rows), self.INSERT_CHUNK):
                    chunk = rows[start:start + self.INSERT_CHUNK]
                    self._in_transaction(conn, lambda: conn.executemany(
                        f"INSERT INTO {name} (rowid, embedding) VALUES (?, vector_from_raw(?))",
                        [(i, _unit(np.frombuffer(blob, dtype="<f4")).tobytes()) for i, blob in chunk]))
                self._in_transaction(conn, lambda: conn.execute(
                    f"UPDATE {name}_synced SET event_id = ?, count = ?, syncing = NULL", (latest, count)))
            except BaseException:  # the watermark stays where it was: the next sync redoes this one
                self._in_transaction(conn, lambda: conn.execute(f"UPDATE {name}_synced SET syncing = NULL"))
                raise
            return applied
        finally:
            conn.close()

    @staticmethod
    def _in_transaction(conn: sqlean.Connection, work: Any) -> Any:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    @staticmethod
    def _behind(conn: sqlean.Connection, model: str) -> int | None:
        """Items the model's vss0 table lacks (None: it needs building)."""
        reg = conn.execute("SELECT table_name FROM vector_indexes WHERE model = ?", (model,)).fetchone()
        if reg is None or not reg[0].startswith(SqliteVssBackend.prefix):
            return 0
        mark = conn.execute(f"SELECT event_id FROM {reg[0]}_synced").fetchone()[0]
        if not mark:
            return None
        latest = conn.execute(LATEST_INDEX_EVENT).fetchone()[0] or 0
        changed = touched(conn.execute(INDEX_EVENTS, (mark, latest)).fetchall(), model)
        return None if changed is None else len(changed)

    def _sync_start(self, conn: sqlean.Connection, model: str, min_behind: int) -> tuple | None:
        """Claim the sync, delete what changed (or start a rebuild); the rows to insert, or None."""
        reg = conn.execute("SELECT table_name, dim FROM vector_indexes WHERE model = ?", (model,)).fetchone()
        if reg is None or not reg[0].startswith(self.prefix):
            return None
        name, dim = reg
        mark, built, syncing = conn.execute(f"SELECT event_id, count, syncing FROM {name}_synced").fetchone()
        now = time.time()
        if syncing is not None and syncing > now - self.CLAIM_SECONDS:
            return None  # another connection is syncing it
        latest = conn.execute(LATEST_INDEX_EVENT).fetchone()[0] or 0
        if mark and latest <= mark:
            return None
        changed = touched(conn.execute(INDEX_EVENTS, (mark, latest)).fetchall(), model) if mark else None
        if changed is not None and len(changed) < min_behind:
            return None
        if changed is None or len(changed) * 2 > built:  # rebuilding is cheaper than that many deletes
            conn.execute(f"DROP TABLE IF EXISTS {name}")
            conn.execute(f"CREATE VIRTUAL TABLE {name} USING vss0(embedding({int(dim)}))")
            rows = conn.execute("SELECT item_id, vector FROM embeddings WHERE model = ?", (model,)).fetchall()
            conn.execute(f"UPDATE {name}_synced SET event_id = 0, count = 0, syncing = ?", (now,))
        else:
            ids = json.dumps(sorted(changed))
            # a vss0 delete costs a pass over the whole index (~13 ms at 100k): only the ids it holds (its
            # _data shadow table has a row per vector); most changes are new items it does not hold
            present = conn.execute(f"SELECT rowid FROM {name}_data WHERE rowid IN (SELECT value FROM json_each(?))",
                                   (ids,)).fetchall()
            conn.executemany(f"DELETE FROM {name} WHERE rowid = ?", present)
            rows = conn.execute("SELECT item_id, vector FROM embeddings WHERE model = ? AND item_id IN "
                                "(SELECT value FROM json_each(?))", (model, ids)).fetchall()
            # count: what the index surely holds meanwhile (never searched when 0: an empty index aborts)
            conn.execute(f"UPDATE {name}_synced SET count = ?, syncing = ?", (built - len(present), now))
        count = conn.execute("SELECT count(*) FROM embeddings WHERE model = ?", (model,)).fetchone()[0]
        return name, rows, latest, count, max(len(rows) if changed is None else len(changed), 1)

    async def knn(self, read: aiosqlite.Connection, model: str, table: str, vector: np.ndarray, k: int,
                  filters: VectorFilters) -> list[tuple[int, float]]:
        return await asyncio.to_thread(self._knn, model, table, _unit(vector), k, filters)

    def _knn(self, model: str, table: str, q: np.ndarray, k: int, filters: VectorFilters) -> list[tuple[int, float]]:
        with self._lock:
            conn = self._reader or self._connect()
            self._reader = conn
            conn.execute("BEGIN")  # one snapshot for the watermark, the feed, the candidates and the vectors
            try:
                mark, count = conn.execute(f"SELECT event_id, count FROM {table}_synced").fetchone()
                if mark and self._reader_marks.get(table) != mark:
                    conn.execute("ROLLBACK")
                    conn.close()  # its Faiss copy predates the last sync: a new connection loads the new one
                    self._reader = conn = self._connect()
                    self._reader_marks.clear()
                    conn.execute("BEGIN")
                    mark, count = conn.execute(f"SELECT event_id, count FROM {table}_synced").fetchone()
                    if count:
                        conn.execute(f"SELECT rowid FROM {table} LIMIT 1").fetchall()  # load it, in this snapshot
                    self._reader_marks[table] = mark
                return self._knn_in(conn, model, table, mark, count, q, k, filters)
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    def _knn_in(self, conn: sqlean.Connection, model: str, table: str, mark: int, count: int, q: np.ndarray,
                k: int, filters: VectorFilters) -> list[tuple[int, float]]:
        def exact(only: Sequence[int] | None) -> list[tuple[int, float]]:
            sql, params = _exact_sql(filters, only)
            return _exact_from_rows(conn.execute(sql, (model, *params)).fetchall(), q, k)

        if not mark:
            return exact(None)  # never built: every vector is scored
        latest = conn.execute(LATEST_INDEX_EVENT).fetchone()[0] or 0
        changed = touched(conn.execute(INDEX_EVENTS, (mark, latest)).fetchall(), model)
        if changed is None:
            return exact(None)
        candidates: set[int] | None = None
        if filters:
            where, params = filters.item_sql()
            candidates = {r[0] for r in conn.execute(f"SELECT si.id FROM search_items si WHERE 1{where}", params)}
            if len(candidates) <= self.RESCORE_MAX:
                return exact(candidates)
        hits: list[tuple[int, float]] = []
        if count:  # a lower bound of what the index holds (a sync may be adding to it): 0 means do not search
            want = k + len(changed)
            ask = want if candidates is None else max(want, math.ceil(want * count / max(len(candidates), 1) * 1.2))
            while True:
                rows = conn.execute(
                    f"SELECT rowid, distance FROM {table} WHERE vss_search(embedding, "
                    "vss_search_params(vector_from_raw(?), ?))", (q.tobytes(), ask)).fetchall()
                hits = [(r[0], r[1] / 2.0) for r in rows
                        if r[0] not in changed and (candidates is None or r[0] in candidates)]
                if len(hits) >= k or len(rows) < ask:  # enough, or the whole index was returned
                    break
                ask *= 4
        return _merge(hits[:k], exact(changed) if changed else [], k=k)

    async def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None


# -- the in-memory fast path ------------------------------------------------------------------------------


class _Codes:
    """Strings as small integer codes, so a filter on them is one vectorised comparison."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.index: dict[str, int] = {}

    def code(self, name: str | None) -> int:
        name = name or NONE
        found = self.index.get(name)
        if found is None:
            found = self.index[name] = len(self.names)
            self.names.append(name)
        return found


_LOAD_SQL = ("SELECT e.item_id, e.vector, si.kind, si.namespace, si.memory_type, si.agent, si.created_at "
             "FROM embeddings e JOIN search_items si ON si.id = e.item_id WHERE e.model = ?")


class _Matrix:
    """One model's vectors (unit rows) and filter columns, with the feed position they are current at."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.mark = 0
        self.n = 0
        self.dim = 0
        self.ids = np.empty(0, np.int64)
        self.mat = np.empty((0, 0), np.float32)
        self.alive = np.empty(0, bool)
        self.kind = np.empty(0, np.int32)
        self.ns = np.empty(0, np.int32)
        self.mtype = np.empty(0, np.int32)
        self.agent = np.empty(0, np.int32)
        self.created = np.empty(0, np.float64)
        self.row: dict[int, int] = {}
        self.codes = {c: _Codes() for c in ("kind", "ns", "mtype", "agent")}
        self.loaded = False
        self.loading: threading.Thread | None = None
        self.failed: BaseException | None = None
        self.lock = asyncio.Lock()

    @property
    def nbytes(self) -> int:
        return self.mat.nbytes

    def _grow(self, need: int) -> None:
        live = self.n - int((~self.alive[:self.n]).sum())
        if live + need <= len(self.ids) and self.n + need > len(self.ids):
            self._compact()
        if self.n + need <= len(self.ids):
            return
        cap = max(1024, (self.n + need) * 5 // 4)  # the first load fills it; growth after that is slow
        for attr in ("ids", "alive", "kind", "ns", "mtype", "agent", "created"):
            old = getattr(self, attr)
            new = np.zeros(cap, old.dtype)
            new[:self.n] = old[:self.n]
            setattr(self, attr, new)
        mat = np.zeros((cap, self.dim), np.float32)
        mat[:self.n] = self.mat[:self.n]
        self.mat = mat

    def _compact(self) -> None:
        keep = np.flatnonzero(self.alive[:self.n])
        for attr in ("ids", "alive", "kind", "ns", "mtype", "agent", "created", "mat"):
            arr = getattr(self, attr)
            arr[:len(keep)] = arr[keep]
        self.n = len(keep)
        self.row = {int(i): r for r, i in enumerate(self.ids[:self.n])}

    def remove(self, item_ids: set[int]) -> None:
        for item in item_ids:
            r = self.row.pop(item, None)
            if r is not None:
                self.alive[r] = False

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
        if not self.dim:
            self.dim = vecs.shape[1]
            self.mat = np.empty((0, self.dim), np.float32)
        self._grow(len(rows))
        start, end = self.n, self.n + len(rows)
        self.mat[start:end] = _unit_rows(vecs)
        self.ids[start:end] = [r[0] for r in rows]
        self.alive[start:end] = True
        for attr, column in (("kind", 2), ("ns", 3), ("mtype", 4), ("agent", 5)):
            getattr(self, attr)[start:end] = [self.codes[attr].code(r[column]) for r in rows]
        self.created[start:end] = [r[6] for r in rows]
        for offset, r in enumerate(rows):
            self.row[int(r[0])] = start + offset
        self.n = end

    def load(self, path: Path) -> None:
        """Everything, from one snapshot (runs on a thread, with its own connection)."""
        conn = sqlean.connect(str(path), isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("BEGIN")
            mark = conn.execute(LATEST_INDEX_EVENT).fetchone()[0] or 0
            rows = conn.execute(_LOAD_SQL, (self.model,)).fetchall()
            conn.execute("COMMIT")
        finally:
            conn.close()
        fresh = _Matrix(self.model)
        fresh.add(rows)
        fresh.mark = mark
        for attr in ("mark", "n", "dim", "ids", "mat", "alive", "kind", "ns", "mtype", "agent", "created", "row",
                     "codes"):
            setattr(self, attr, getattr(fresh, attr))
        self.loaded = True

    def _one_of(self, column: str, values: Sequence[str]) -> np.ndarray:
        """Rows whose ``column`` is one of ``values``: a table of the codes, indexed by each row's code
        (np.isin took 1.2 ms at 100k rows, sorting them; this takes ~0.1)."""
        codes = self.codes[column]
        wanted = np.zeros(len(codes.names), bool)
        wanted[[codes.index[v] for v in values if v in codes.index]] = True
        return wanted[getattr(self, column)[:self.n]]

    def mask(self, f: VectorFilters) -> np.ndarray:
        n = self.n
        mask = self.alive[:n].copy()
        if f.kinds:
            mask &= self._one_of("kind", f.kinds)
        if f.memory_type:
            mask &= self._one_of("mtype", [f.memory_type])
        if f.agent:
            mask &= self._one_of("agent", [f.agent])
        if f.since is not None:
            mask &= self.created[:n] >= f.since
        if f.until is not None:
            mask &= self.created[:n] < f.until
        if f.namespace_prefix:
            names = self.codes["ns"].names
            inside = np.fromiter((bool(name) and namespace_matches(f.namespace_prefix, name) for name in names),
                                 dtype=bool, count=len(names))
            mask &= inside[self.ns[:n]]
        return mask

    def search(self, q: np.ndarray, k: int, f: VectorFilters) -> list[tuple[int, float]]:
        if not self.n:
            return []
        pick = np.flatnonzero(self.mask(f))
        # einsum, not BLAS: at 100k x 384 numpy's own single-threaded loop took 6 ms where OpenBLAS's gemv
        # took 14 (its threads also kept spinning into the next query's embedding, doubling that)
        # Gathering the candidates' rows costs ~5x a pass per row (measured at 100k x 384: 3.6 ms for 10% of
        # them, 7.6 for 20%, a whole pass 6.5): past a sixth, one pass over the matrix, then the mask.
        if len(pick) * 6 < self.n:  # selective: score only the candidates
            sims = np.einsum("ij,j->i", self.mat[pick], q)
        else:  # one pass over the matrix, then the mask
            sims = np.einsum("ij,j->i", self.mat[:self.n], q)[pick]
        return top_k(self.ids[pick], sims, k)


class MatrixCache:
    """The exact fast path: per model, all its vectors in memory, caught up with the change feed on every
    query (one index probe when nothing changed; the changed items only, otherwise).

    The first query of a model loads it; past ``EAGER_BYTES`` (unless ``eager``) on a background thread,
    returning None (the backend answers) until it is there. A model whose matrix would pass
    ``budget_mb`` is left to the backend. Its results are the backend's up to float32 rounding:
    vec0 and BLAS sum in different orders, so two distances within ~1e-6 of each other may swap.
    """

    def __init__(self, path: Path, budget_mb: int, *, eager: bool = False) -> None:
        self.path = path
        self.budget = budget_mb * 1024 * 1024
        self.eager = eager
        self._models: dict[str, _Matrix] = {}

    def _start(self, m: _Matrix) -> None:
        def run() -> None:
            try:
                m.load(self.path)
            except BaseException as exc:  # reported through knn (logged once), never lost on a thread
                m.failed = exc

        m.loading = threading.Thread(target=run, name=f"swarmdeck-vectors-{m.model}", daemon=True)
        m.loading.start()

    async def _size(self, read: aiosqlite.Connection, model: str) -> int | None:
        """Bytes the model's matrix would take (None: no such index)."""
        dim = await read.execute_fetchall("SELECT dim FROM vector_indexes WHERE model = ?", (model,))
        count = await read.execute_fetchall("SELECT count(*) FROM embeddings WHERE model = ?", (model,))
        return count[0][0] * dim[0][0] * 4 if dim else None

    async def ready(self, read: aiosqlite.Connection, model: str) -> _Matrix | None:
        """``model``'s matrix, caught up with the change feed; None when the backend must answer."""
        m = self._models.get(model)
        if m is None:
            size = await self._size(read, model)
            if size is None or size > self.budget:
                return None
            m = self._models[model] = _Matrix(model)
            if self.eager or size <= EAGER_BYTES:  # small: loading takes less than one SQL KNN would
                await asyncio.to_thread(m.load, self.path)
            else:
                self._start(m)
        if not m.loaded:
            if m.failed is not None:
                log.warning("could not load the vectors of %s into memory: %s", model, m.failed)
                del self._models[model]
            return None
        async with m.lock:
            if not await self._catch_up(read, m):
                return None
        return m

    async def search(self, m: _Matrix, vector: np.ndarray, k: int, filters: VectorFilters) -> list[tuple[int, float]]:
        """The k nearest in ``m`` as it is (no SQL: a catch-up waits for the lock, not the other way round)."""
        async with m.lock:
            return await asyncio.to_thread(m.search, _unit(vector), k, filters)

    async def _catch_up(self, read: aiosqlite.Connection, m: _Matrix) -> bool:
        latest = (await read.execute_fetchall(LATEST_INDEX_EVENT))[0][0] or 0
        if latest <= m.mark:
            return True
        changed = touched(list(await read.execute_fetchall(INDEX_EVENTS, (m.mark, latest))), m.model)
        if changed is None:
            await asyncio.to_thread(m.load, self.path)
            return True
        if changed:
            rows = list(await read.execute_fetchall(
                _LOAD_SQL + " AND e.item_id IN (SELECT value FROM json_each(?))", (m.model, json.dumps(sorted(changed)))))
            m.remove(changed)
            m.add(rows)
            if m.nbytes > self.budget:
                self._models.pop(m.model, None)  # grew past its budget: the backend answers from now on
                return False
        m.mark = latest
        return True

    async def load(self, model: str) -> None:
        """Load (or reload) ``model`` now."""
        m = self._models.setdefault(model, _Matrix(model))
        await asyncio.to_thread(m.load, self.path)


# -- what the store holds -----------------------------------------------------------------------------------


class VectorIndex:
    """The store's vector index: its backend for writes, the fast path (if on) then the backend for reads."""

    def __init__(self, backend: SqliteVecBackend | SqliteVssBackend, cache: MatrixCache | None) -> None:
        self.backend = backend
        self.cache = cache
        self._vec = backend if isinstance(backend, SqliteVecBackend) else SqliteVecBackend()

    async def ensure_index(self, tx: Tx, model: str, dim: int) -> str:
        return await self.backend.ensure_index(tx, model, dim)

    async def put(self, tx: Tx, table: str, item_id: int, vector: np.ndarray, meta: Mapping[str, Any]) -> None:
        await self.backend.put(tx, table, item_id, vector, meta)

    async def forget(self, tx: Tx, item_ids: Sequence[int]) -> None:
        await self.backend.forget(tx, item_ids)

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
    chosen = SqliteVssBackend(path, read_only=read_only) if name == "sqlite-vss" else SqliteVecBackend()
    return VectorIndex(chosen, MatrixCache(path, cache_mb, eager=eager) if cache_mb else None)
