"""What the vector search of both backends shares (store/sqlite/vectors.py, store/postgres/search_index.py):
the filters of a k-nearest search, the exact search over the ``embeddings`` table (numpy over the stored
float32 bytes: right at any size, the reference the indexes are measured against), and dropping an item's
vectors. Every statement here is SQLite's SQL as store/sql_dialect.py says: the caller's ``Sql`` turns it into
its backend's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .events import EventKind
from .search import namespace_scope, namespace_sql

if TYPE_CHECKING:
    import numpy as np

#: The name of a model's vector table starts with it, on both backends (``table_for``).
TABLE_PREFIX = "vec_"


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
    return TABLE_PREFIX + hashlib.sha1(model.encode()).hexdigest()[:12]



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



def exact_sql(filters: VectorFilters, only: Sequence[int] | None) -> tuple[str, list[object]]:
    where, params = filters.item_sql()
    if only is not None:
        where += " AND si.id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(sorted(only)))
    return ("SELECT e.item_id, e.vector FROM search_items si JOIN embeddings e ON e.item_id = si.id "
            f"AND e.model = ? WHERE TRUE{where}"), params


def exact_from_rows(rows: Sequence[Sequence[Any]], query: np.ndarray, k: int) -> list[tuple[int, float]]:
    import numpy as np
    if not rows:
        return []
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    mat = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
    return top_k(ids, unit_rows(mat) @ unit(query), k)


def registered(tx: Any, model: str, dim: int) -> Any:
    row = tx.one("SELECT dim, table_name FROM vector_indexes WHERE model = ?", (model,))
    if row is not None and row[0] != dim:
        raise ValueError(f"model {model} was indexed with {row[0]} dimensions, not {dim}")
    return row


def forget(tx: Any, item_ids: Sequence[int], tables: Iterable[str] | None = None) -> None:
    """Drop every vector of these items, in every model's index (their text changed or went): the
    ``embeddings`` rows and those of ``tables`` (by default the vector tables named by ``table_for``
    that ``vector_indexes`` lists: SQLite's sqlite-vec tables; a vss0 index catches up from the feed).

    The change feed says which (``index.forgotten``), so that caches and derived indexes follow."""
    if not item_ids:
        return
    ids = list(item_ids)
    marks = ",".join("?" * len(ids))
    if tables is None:
        tables = [name for (name,) in tx.all("SELECT table_name FROM vector_indexes")
                  if name.startswith(TABLE_PREFIX)]
    for name in tables:
        tx.run(f"DELETE FROM {name} WHERE item_id IN ({marks})", ids)
    gone = tx.all(f"DELETE FROM embeddings WHERE item_id IN ({marks}) RETURNING item_id", ids)
    tx.run(f"DELETE FROM embedding_failures WHERE item_id IN ({marks})", ids)
    if gone:
        tx.event(EventKind.INDEX_FORGOTTEN, "index", None, {"items": sorted({r[0] for r in gone})})
