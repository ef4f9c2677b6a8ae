"""Verifying the event log's hash chain (store/audit.py says what the chain is)."""

from __future__ import annotations

import asyncio

from ..audit import COLUMNS, GENESIS, AuditHead, AuditProblem, AuditResult, ChainCheck
from ..errors import InvalidArgument, NotFound
from .base import Database

#: Events read per query while verifying: big enough that a million take a hundred queries, small
#: enough that a dashboard's other reads on the same connection wait a few milliseconds at most.
VERIFY_CHUNK = 10_000
#: Chunks at least this big are hashed on a thread of their own, so the event loop keeps answering.
_THREAD_AT = 500


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
        """Walk the chain from ``after_id`` to the newest event, stopping at the first that does not fit.

        ``after_hash`` is the hash event ``after_id`` had when it was last verified (a dashboard keeps
        it and verifies only what came since); without it the stored one is trusted. ``head`` is an
        (id, hash) recorded earlier, outside the database: that event must still exist with that hash,
        which is what catches a cut at the end or a rewrite of everything after some event.
        """
        if chunk < 1:
            raise InvalidArgument("chunk must be at least 1")
        if after_id == 0:
            after_hash = after_hash or GENESIS
        else:
            row = await self.db._one("SELECT hash FROM events WHERE id = ?", (after_id,))
            if after_hash is None:
                if row is None:
                    raise NotFound(f"event {after_id} does not exist", entity="event", key=after_id)
                if row[0] is None:
                    raise InvalidArgument(f"event {after_id} has no hash to verify from")
                after_hash = row[0]
            elif row is None or row[0] != after_hash:
                # Changed since it was verified: whatever follows would be checked against a rewrite.
                problem = AuditProblem.ROWS_MISSING if row is None else AuditProblem.REWRITTEN
                detail = (f"event {after_id} is missing (it was there when verified)" if row is None
                          else "its hash changed since it was verified (rewritten up to here)")
                return AuditResult(False, 0, after_id, after_hash, after_id, problem, detail)
        check = ChainCheck(after_id, after_hash, head)
        # The next chunk is read while this one is hashed (SQLite steps without the GIL).
        reading: asyncio.Future[list[tuple]] | None = asyncio.ensure_future(self._event_rows(after_id, chunk))
        while reading is not None:
            rows = await reading
            reading = None
            if len(rows) == chunk:
                reading = asyncio.ensure_future(self._event_rows(rows[-1][0], chunk))
            try:
                big = len(rows) >= _THREAD_AT
                going = await asyncio.to_thread(check.feed, rows) if big else check.feed(rows)
            except BaseException:
                if reading is not None:
                    await asyncio.wait([reading])  # never leave a read running on the connection
                raise
            if not going and reading is not None:
                await reading
                reading = None
        return check.result()

    async def _event_rows(self, after_id: int, limit: int) -> list[tuple]:
        async with self.db._read_conn.execute(
            f"SELECT {COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        ) as cur:
            cur.row_factory = None  # plain tuples: a Row per event would cost more than its hash
            return list(await cur.fetchall())
