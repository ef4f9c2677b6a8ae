"""The in-memory fast path of the vector index (see vectors.py): each model's vectors as one float32 matrix."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlean

from ..search import namespace_matches
from .vectors import (
    BUSY_TIMEOUT_MS,
    INDEX_EVENTS,
    LATEST_INDEX_EVENT,
    NONE,
    VectorFilters,
    top_k,
    touched,
    unit,
    unit_rows,
)

if TYPE_CHECKING:
    import numpy as np
    import aiosqlite


log = logging.getLogger(__name__)

#: A matrix up to this size (~10k x 384) loads before the first query answers; a larger one in the background.
EAGER_BYTES = 16 * 1024 * 1024

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
        import numpy as np
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
        import numpy as np
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
        import numpy as np
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
        import numpy as np
        if not rows:
            return
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
        if not self.dim:
            self.dim = vecs.shape[1]
            self.mat = np.empty((0, self.dim), np.float32)
        self._grow(len(rows))
        start, end = self.n, self.n + len(rows)
        self.mat[start:end] = unit_rows(vecs)
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
        import numpy as np
        codes = self.codes[column]
        wanted = np.zeros(len(codes.names), bool)
        wanted[[codes.index[v] for v in values if v in codes.index]] = True
        return wanted[getattr(self, column)[:self.n]]

    def mask(self, f: VectorFilters) -> np.ndarray:
        import numpy as np
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
        import numpy as np
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
            return await asyncio.to_thread(m.search, unit(vector), k, filters)

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
