"""The vector index: sqlite-vec `vec0` tables inside the same database, one per embedding model.

Filters (namespace prefix, kind, memory type, agent, time range) are metadata columns of the
vec0 table, so they constrain the k-nearest-neighbour search itself: never applied after LIMIT.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..search import namespace_scope
from .base import Tx

#: A vec0 TEXT metadata column cannot hold NULL: absent values are stored as ''.
NONE = ""


@dataclass(frozen=True, slots=True)
class VectorFilters:
    namespace_prefix: str | None = None
    kinds: tuple[str, ...] = ()
    memory_type: str | None = None
    agent: str | None = None
    since: float | None = None
    until: float | None = None

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


def table_for(model: str) -> str:
    return "vec_" + hashlib.sha1(model.encode()).hexdigest()[:12]


def as_blob(vector: Sequence[float] | np.ndarray) -> bytes:
    # sqlite-vec reads little-endian float32; an explicit dtype keeps garbage out.
    return np.asarray(vector, dtype="<f4").tobytes()


async def ensure_index(tx: Tx, model: str, dim: int) -> str:
    """The vec0 table for ``model``, created on its first vector."""
    row = await tx.one("SELECT dim, table_name FROM vector_indexes WHERE model = ?", (model,))
    if row is not None:
        if row[0] != dim:
            raise ValueError(f"model {model} was indexed with {row[0]} dimensions, not {dim}")
        return row[1]
    name = table_for(model)
    await tx.conn.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING vec0("
        f"item_id INTEGER PRIMARY KEY, embedding float[{int(dim)}] distance_metric=cosine, "
        "kind TEXT, namespace TEXT, memory_type TEXT, agent TEXT, created_at FLOAT)"
    )
    await tx.run(
        "INSERT INTO vector_indexes (model, dim, table_name, created_at) VALUES (?, ?, ?, ?)",
        (model, dim, name, tx.now),
    )
    return name


async def forget(tx: Tx, item_ids: Sequence[int]) -> None:
    """Drop every vector of these items, in every model's index (their text changed or went)."""
    if not item_ids:
        return
    ids = list(item_ids)
    marks = ",".join("?" * len(ids))
    for (name,) in await tx.all("SELECT table_name FROM vector_indexes"):
        await tx.run(f"DELETE FROM {name} WHERE item_id IN ({marks})", ids)
    await tx.run(f"DELETE FROM embeddings WHERE item_id IN ({marks})", ids)
    await tx.run(f"DELETE FROM embedding_failures WHERE item_id IN ({marks})", ids)
