"""Verifying the event log's hash chain on SQLite: the store's part is store/audit.py's ``Audit`` (which
says what the chain is, and walks it), given these reads. The next chunk is read while one is hashed:
SQLite steps without the GIL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..audit import COLUMNS, Audit
from .base import Database

__all__ = ["Audit", "SqliteAuditReads"]  # the part's class, and what it is given here


class SqliteAuditReads:
    """The audit's reads (``store.audit.AuditReads``), on the database's reader."""

    __slots__ = ("db",)

    def __init__(self, db: Database) -> None:
        self.db = db

    async def prepare(self) -> None:
        """Every event is hashed as it is written: nothing to do first."""

    async def head(self) -> Sequence[Any] | None:
        return await self.db._one("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1")

    async def hash_of(self, event_id: int) -> Sequence[Any] | None:
        return await self.db._one("SELECT hash FROM events WHERE id = ?", (event_id,))

    async def rows(self, after_id: int, limit: int) -> list[tuple]:
        async with self.db._read_conn.execute(
            f"SELECT {COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        ) as cur:
            cur.row_factory = None  # plain tuples: a Row per event would cost more than its hash
            return list(await cur.fetchall())
