"""Verifying the event log's hash chain on SQLite (store/audit.py says what the chain is, and walks it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..audit import COLUMNS, GENESIS, VERIFY_CHUNK, AuditHead, AuditResult, verify
from .base import Database


class Audit:
    """Verifying the change feed's hash chain, on the database's reader."""

    __slots__ = ("db",)

    def __init__(self, db: Database) -> None:
        self.db = db

    async def audit_head(self) -> AuditHead:
        """The newest event's id and hash (id 0 and the genesis hash while the log is empty)."""
        row = await self.db._one("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1")
        return AuditHead(0, GENESIS) if row is None else AuditHead(row[0], row[1] or "")

    async def verify_events(
        self,
        *,
        after_id: int = 0,
        after_hash: str | None = None,
        head: tuple[int, str] | None = None,
        chunk: int = VERIFY_CHUNK,
    ) -> AuditResult:
        """Walk the chain from ``after_id`` to the newest event (``store.audit.verify``); the next chunk
        is read while this one is hashed (SQLite steps without the GIL)."""
        return await verify(self._hash_of, self._event_rows, after_id=after_id, after_hash=after_hash,
                            head=head, chunk=chunk)

    async def _hash_of(self, event_id: int) -> Sequence[Any] | None:
        return await self.db._one("SELECT hash FROM events WHERE id = ?", (event_id,))

    async def _event_rows(self, after_id: int, limit: int) -> list[tuple]:
        async with self.db._read_conn.execute(
            f"SELECT {COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        ) as cur:
            cur.row_factory = None  # plain tuples: a Row per event would cost more than its hash
            return list(await cur.fetchall())
