"""The embedded SQLite implementation of the Store protocol.

Writes are plain functions over ``base.Tx``, run whole on the writer connection the store owns: on
the event loop when the host's write lock is free and the write is quick, else on the writer's own
thread (connection.py). Reads go through aiosqlite's public API. See the package docstring of
``swarmdeck.store`` for why every backend shares this shape."""

from __future__ import annotations

import time
from pathlib import Path

from . import vectors
from ..models import UNSET
from .agents import AgentOps
from .audit import AuditOps
from .base import Clock
from .charts import ChartOps
from .gates import GateOps
from .memory import MemoryOps
from .reviewers import ReviewerOps


class SQLiteStore(GateOps, AgentOps, ReviewerOps, MemoryOps, ChartOps, AuditOps):
    """One swarmdeck database file: WAL, BEGIN IMMEDIATE writes, a reader beside the writer."""

    def __init__(self, path: Path, *, clock: Clock = time.time, read_only: bool = False,
                 vector_backend: str | None = None, vector_cache_mb: int | None = None) -> None:
        super().__init__(path, clock=clock, read_only=read_only)
        self._vectors = vectors.open_index(vector_backend, path, read_only=read_only, cache_mb=vector_cache_mb)

    @classmethod
    async def open(
        cls, path: str | Path, *, create: bool = False, clock: Clock = time.time, read_only: bool = False,
        vector_backend: str | None = None, vector_cache_mb: int | None = None,
    ) -> SQLiteStore:
        """``vector_backend``: "sqlite-vec" (default) or "sqlite-vss" (else $SWARMDECK_VECTOR_BACKEND);
        ``vector_cache_mb``: memory for the in-memory vector fast path per model, 0 for none (else
        $SWARMDECK_VECTOR_CACHE_MB, else 1024). See store/sqlite/vectors.py."""
        store = cls(Path(path), clock=clock, read_only=read_only, vector_backend=vector_backend,
                    vector_cache_mb=vector_cache_mb)
        await store._open(create=create)
        return store

    async def close(self) -> None:
        try:
            await self._vectors.close()
        finally:
            await super().close()


async def open_url(
    url: str | Path, *, create: bool = False, read_only: bool = False, clock: Clock = time.time,
    vector_backend: str | None = None, vector_cache_mb: int | None = None,
) -> SQLiteStore:
    """The ``sqlite`` entry of the store's backend registry (``swarmdeck.store.BACKENDS``)."""
    from .. import path_from_url

    return await SQLiteStore.open(path_from_url(url), create=create, read_only=read_only, clock=clock,
                                  vector_backend=vector_backend, vector_cache_mb=vector_cache_mb)


__all__ = ["SQLiteStore", "UNSET", "open_url"]
