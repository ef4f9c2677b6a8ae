"""The sqlite-vss backend of the vector index (see vectors.py): a vss0 table per model, for users who ask for it."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlean

from ..errors import StoreError
from .vectors import (
    BUSY_TIMEOUT_MS,
    INDEX_EVENTS,
    LATEST_INDEX_EVENT,
    VectorFilters,
    exact_from_rows,
    exact_sql,
    forget,
    merge,
    registered,
    touched,
    unit,
    vss_table_for,
)

if TYPE_CHECKING:
    import aiosqlite

    from .base import Tx


log = logging.getLogger(__name__)

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

    def ensure_index(self, tx: Tx, model: str, dim: int) -> str:
        row = registered(tx, model, dim)
        name = vss_table_for(model)
        if row is not None and row[1] == name:
            return name
        tx.run(f"CREATE TABLE IF NOT EXISTS {name}_synced (id INTEGER PRIMARY KEY CHECK (id = 1), "
               "event_id INTEGER NOT NULL, dim INTEGER NOT NULL, count INTEGER NOT NULL, syncing REAL)")
        # watermark 0: not built; the first sync builds it from embeddings, reads score exactly until then
        tx.run(f"INSERT OR REPLACE INTO {name}_synced (id, event_id, dim, count) VALUES (1, 0, ?, 0)", (dim,))
        if row is None:
            tx.run("INSERT INTO vector_indexes (model, dim, table_name, created_at) VALUES (?, ?, ?, ?)",
                   (model, dim, name, tx.now))
        else:  # indexed by sqlite-vec until now (always loaded, so its table can go)
            tx.run(f"DROP TABLE IF EXISTS {row[1]}")
            tx.run("UPDATE vector_indexes SET table_name = ? WHERE model = ?", (name, model))
        return name

    def put(self, tx: Tx, table: str, item_id: int, vector: np.ndarray, meta: Mapping[str, Any]) -> None:
        """Nothing here: the embeddings row and the ``index.embedded`` event are what the sync applies."""

    def forget(self, tx: Tx, item_ids: Sequence[int]) -> None:
        forget(tx, item_ids)

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
                        [(i, unit(np.frombuffer(blob, dtype="<f4")).tobytes()) for i, blob in chunk]))
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
        return await asyncio.to_thread(self._knn, model, table, unit(vector), k, filters)

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
            sql, params = exact_sql(filters, only)
            return exact_from_rows(conn.execute(sql, (model, *params)).fetchall(), q, k)

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
        return merge(hits[:k], exact(changed) if changed else [], k=k)

    async def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None


# -- the in-memory fast path ------------------------------------------------------------------------------
