"""The embedded SQLite implementation of the Store protocol."""

from __future__ import annotations

import time
from pathlib import Path

from .agents import UNSET, AgentOps
from .base import Clock
from .charts import ChartOps
from .gates import GateOps
from .memory import MemoryOps


class SQLiteStore(GateOps, AgentOps, MemoryOps, ChartOps):
    """One swarmdeck database file: WAL, BEGIN IMMEDIATE writes, a reader beside the writer."""

    @classmethod
    async def open(
        cls, path: str | Path, *, create: bool = False, clock: Clock = time.time, read_only: bool = False
    ) -> SQLiteStore:
        store = cls(Path(path), clock=clock, read_only=read_only)
        await store._open(create=create)
        return store


__all__ = ["SQLiteStore", "UNSET"]
