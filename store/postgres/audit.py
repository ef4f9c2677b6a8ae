"""Verifying the event log's hash chain on PostgreSQL (store/audit.py says what the chain is, and walks it;
store/postgres/schema.py says how it is sealed after commit).

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

from ..audit import GENESIS, VERIFY_CHUNK, AuditHead, AuditResult, verify
from . import sealing
from .base import NOTIFY_CHANNEL, Database

_HASH_OF = "SELECT hash FROM events WHERE seq = %s"


class Audit:
    """Verifying the change feed's hash chain, on the database's reader."""

    __slots__ = ("db",)

    def __init__(self, db: Database) -> None:
        self.db = db

    async def audit_head(self) -> AuditHead:
        """The newest event's id (``seq``) and hash (0 and the genesis hash while the log is empty)."""
        await self._seal()
        row = await self.db._one("SELECT seq, hash FROM events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1")
        return AuditHead(0, GENESIS) if row is None else AuditHead(row[0], row[1])

    async def verify_events(
        self,
        *,
        after_id: int = 0,
        after_hash: str | None = None,
        head: tuple[int, str] | None = None,
        chunk: int = VERIFY_CHUNK,
    ) -> AuditResult:
        """Walk the sealed chain from ``after_id`` (a ``seq``) to the newest event (``store.audit.verify``)."""
        await self._seal()
        return await verify(self._hash_of, self._event_rows, after_id=after_id, after_hash=after_hash,
                            head=head, chunk=chunk)

    async def _seal(self) -> None:
        """Seal what is committed and unsealed (the module docstring). A seal that fails (a lost
        connection, a lock wait past the deadline) leaves the verification to what is sealed."""
        db = self.db
        await db._sealed()
        writer = db._writer
        if db.read_only or writer is None or db._closed:
            return
        try:
            await writer.call(_seal_on_thread, writer)
        except (psycopg.Error, RuntimeError):
            pass

    async def _hash_of(self, event_id: int) -> Sequence[Any] | None:
        return await self.db._one(_HASH_OF, (event_id,))

    async def _event_rows(self, after_id: int, limit: int) -> Sequence[Sequence[Any]]:
        return await self.db._all(sealing.CHAIN_ROWS, (after_id, limit))


def _seal_on_thread(writer: Any) -> None:
    raw = writer.raw
    if raw is not None and not raw.closed and not raw.broken:
        sealing.seal_events(raw, wait=True, notify=NOTIFY_CHANNEL)
