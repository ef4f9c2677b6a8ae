"""Verifying the event log's hash chain on PostgreSQL: the store's part is store/audit.py's ``Audit``
(which says what the chain is, and walks it), given these reads (store/postgres/schema.py says how the
chain is sealed after commit).

An event's id here is its ``seq``, its place in the sealed chain: heads are ``seq:hash`` and the walk
reads ``ORDER BY seq``. An event not sealed yet is in no chain, so it is not shown: before it reads,
the audit seals what is committed (``sealing.seal_events``, on the writer's thread, waiting for
another sealer if one is at work), so a verification covers every event committed before it began,
whichever store wrote it. A read-only seat cannot seal; it verifies what the writers have sealed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from ..audit import Audit
from . import sealing
from .base import NOTIFY_CHANNEL, Database

__all__ = ["Audit", "PgAuditReads"]  # the part's class, and what it is given here


class PgAuditReads:
    """The audit's reads (``store.audit.AuditReads``), on the database's reader."""

    __slots__ = ("db",)

    def __init__(self, db: Database) -> None:
        self.db = db

    async def prepare(self) -> None:
        """Seal what is committed and unsealed (the module docstring). A seal that fails (a lost
        connection, a lock wait past the deadline) leaves the audit to what is sealed."""
        db = self.db
        await db._sealed()
        writer = db._writer
        if db.read_only or writer is None or db._closed:
            return
        try:
            await writer.call(_seal_on_thread, writer)
        except (psycopg.Error, RuntimeError):
            pass

    async def head(self) -> Sequence[Any] | None:
        return await self.db._one(
            "SELECT seq, hash FROM events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1")

    async def hash_of(self, event_id: int) -> Sequence[Any] | None:
        return await self.db._one("SELECT hash FROM events WHERE seq = %s", (event_id,))

    async def rows(self, after_id: int, limit: int) -> Sequence[Sequence[Any]]:
        return await self.db._all(sealing.CHAIN_ROWS, (after_id, limit))


def _seal_on_thread(writer: Any) -> None:
    raw = writer.raw
    if raw is not None and not raw.closed and not raw.broken:
        sealing.seal_events(raw, wait=True, notify=NOTIFY_CHANNEL)
