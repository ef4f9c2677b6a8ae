"""Verifying the event log's hash chain on SQLite: the reads of store/audit.py's ``AuditReads`` (which
says what the chain is, and walks it). The next chunk is read while one is hashed: SQLite steps
without the GIL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..audit import COLUMNS, AuditReads


class Audit(AuditReads):
    """Verifying the change feed's hash chain, on the database's reader."""

    __slots__ = ()

    async def _read_head(self) -> Sequence[Any] | None:
        return await self.db._one("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1")

    async def _read_hash(self, event_id: int) -> Sequence[Any] | None:
        return await self.db._one("SELECT hash FROM events WHERE id = ?", (event_id,))

    async def _read_rows(self, after_id: int, limit: int) -> list[tuple]:
        async with self.db._read_conn.execute(
            f"SELECT {COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        ) as cur:
            cur.row_factory = None  # plain tuples: a Row per event would cost more than its hash
            return list(await cur.fetchall())
