"""The event log's hash chain: how an event is hashed, and how a run of events is checked.

Each event's ``hash`` is SHA-256 over the previous event's hash and a canonical encoding of the event's
own content, so an event edited, removed or inserted after the fact no longer fits the events around
it. Pure (no database): the store hashes each event as it writes it and streams rows through
``ChainCheck`` to verify them; the migration that introduced the chain hashed the events before it.

What a chain cannot show by itself: someone who can write the file can rewrite every event from the
one they change to the end, consistently. A head (id and hash) recorded somewhere else catches that.

``Audit`` is the store's ``audit_head`` and ``verify_events`` over the few reads a backend answers in
its own SQL (``AuditReads``: store/sqlite/audit.py and store/postgres/audit.py).
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any, Protocol

from .errors import InvalidArgument, NotFound

#: The hash the first event is chained to.
GENESIS = hashlib.sha256(b"swarmdeck audit trail v1").hexdigest()

#: The columns of an event row that ``ChainCheck`` reads, in this order (content first, then its hash).
COLUMNS = "id, ts, actor, kind, entity, entity_id, payload, hash"

#: Events read per query while verifying: big enough that a million take a hundred queries, small
#: enough that a dashboard's other reads on the same connection wait a few milliseconds at most.
VERIFY_CHUNK = 10_000
#: Chunks at least this big are hashed on a thread of their own, so the event loop keeps answering.
_THREAD_AT = 500

_sha256 = hashlib.sha256
_float = float.__repr__  # the shortest text that reads back as the same double; TypeError for anything else
_text = encode_basestring_ascii  # a JSON string, ASCII only: any text encodes, the same way everywhere


def canonical(id: int, ts: float, actor: str, kind: str, entity: str, entity_id: str | None,
              payload: str) -> str:
    """An event's content as one JSON array ``[id,ts,actor,kind,entity,entity_id,payload]``: no spaces,
    strings escaped to ASCII, ``ts`` as the shortest repr of its double. Types count: a ``ts`` stored as
    text, or a blob where text was, raises TypeError instead of encoding like the original."""
    return (f"[{int(id)},{_float(ts)},{_text(actor)},{_text(kind)},{_text(entity)},"
            f"{'null' if entity_id is None else _text(entity_id)},{_text(payload)}]")


def event_hash(prev: str, id: int, ts: float, actor: str, kind: str, entity: str, entity_id: str | None,
               payload: str) -> str:
    """SHA-256 (hex) of the previous event's hash followed by this event's canonical content."""
    return _sha256((prev + canonical(id, ts, actor, kind, entity, entity_id, payload)).encode()).hexdigest()


class AuditProblem(enum.StrEnum):
    CONTENT_CHANGED = "content_changed"  # the event no longer matches the hash it was written with
    LINK_BROKEN = "link_broken"  # its hash does not follow from the event before it
    ROWS_MISSING = "rows_missing"  # events were removed
    UNHASHED = "unhashed"  # written around swarmdeck, without a hash
    REWRITTEN = "rewritten"  # an event has another hash than the one recorded or verified earlier


@dataclass(frozen=True, slots=True)
class AuditHead:
    """The newest event and its hash: record it outside the database to catch a rewrite later."""

    id: int
    hash: str

    @property
    def text(self) -> str:
        return f"{self.id}:{self.hash}"


@dataclass(frozen=True, slots=True)
class AuditResult:
    """What a verification found. ``last_id``/``last_hash``: the newest event that verified (where the
    next verification resumes); ``broken_at``: the first bad event id."""

    ok: bool
    checked: int
    last_id: int
    last_hash: str
    broken_at: int | None = None
    problem: AuditProblem | None = None
    detail: str = ""

    @property
    def message(self) -> str:
        """One line for a person (the CLI's output, the dashboard's toast)."""
        if self.ok:
            noun = "event" if self.checked == 1 else "events"
            return f"audit trail intact: {self.checked} {noun} verified, head {self.last_id}:{self.last_hash}"
        return f"AUDIT TRAIL BROKEN at event {self.broken_at}: {self.detail}"

    @property
    def flag(self) -> str:
        """The short form the dashboard's status bar shows while the trail is broken."""
        return "" if self.ok else f"AUDIT TRAIL BROKEN at event {self.broken_at}"


def parse_head(text: str) -> tuple[int, str]:
    """``ID:HASH`` as ``audit head`` prints it; ValueError if it is not that."""
    ident, sep, digest = text.strip().partition(":")
    digest = digest.lower()
    hexadecimal = len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
    if not sep or not ident.isdigit() or not hexadecimal:
        raise ValueError(f"{text!r} is not a head: expected ID:HASH, the form an audit head is written in")
    return int(ident), digest


def _missing(first: int, last: int, why: str) -> str:
    span = f"event {first} is missing" if first == last else f"events {first}-{last} are missing"
    return f"{span} ({why})"


_CONTENT = "content changed (the event no longer matches the hash it was written with)"
_LINK = ("link broken (its hash does not follow from the event before it: this event or the one before "
         "was rewritten)")


class ChainCheck:
    """Streams event rows (``COLUMNS``, in id order) and stops at the first one that does not fit.

    Feed it chunks with ``feed`` until it returns False (broken) or the rows run out; ``result()``
    then says what it found. An event whose hash does not match is judged by the event after it: if
    that one still chains to the stored hash, the stored hash is the original and the content changed.
    """

    def __init__(self, after_id: int = 0, after_hash: str = GENESIS,
                 head: tuple[int, str] | None = None) -> None:
        self.last_id = after_id
        self.last_hash = after_hash
        self.checked = 0
        self.head = head if head is not None and head[0] > after_id else None
        self._suspect: Sequence[Any] | None = None
        self._broken: tuple[int, AuditProblem, str] | None = None

    def feed(self, rows: Iterable[Sequence[Any]]) -> bool:
        """Check the next rows; False once the chain is broken (feed no more)."""
        if self._broken is not None:
            return False
        last_id, last_hash, checked = self.last_id, self.last_hash, 0
        head_id, head_hash = self.head if self.head is not None else (-1, "")
        try:
            for row in rows:
                if self._suspect is not None:
                    self._judge(row)
                    return False
                ident, stored = row[0], row[7]
                if head_id != -1 and ident > head_id > last_id:
                    self._broken = (last_id + 1, AuditProblem.ROWS_MISSING,
                                    _missing(last_id + 1, head_id, f"the recorded head was event {head_id}"))
                    return False
                if stored is None:
                    self._broken = (ident, AuditProblem.UNHASHED,
                                    "no hash (written around swarmdeck, not through it)")
                    return False
                try:
                    computed = _sha256((last_hash + canonical(*row[:7])).encode()).hexdigest()
                except (TypeError, ValueError):  # a column turned into another type (a blob, text for a time)
                    computed = None
                if computed != stored:
                    if ident != last_id + 1:
                        self._broken = (last_id + 1, AuditProblem.ROWS_MISSING,
                                        _missing(last_id + 1, ident - 1, f"cut after event {last_id}"))
                        return False
                    self._suspect = row
                    continue
                if ident == head_id and stored != head_hash:
                    self._broken = (ident, AuditProblem.REWRITTEN,
                                    "its hash is not the recorded head's (rewritten up to here)")
                    return False
                last_id, last_hash = ident, stored
                checked += 1
        finally:
            self.last_id, self.last_hash = last_id, last_hash
            self.checked += checked
        return True

    def _judge(self, following: Sequence[Any]) -> None:
        suspect = self._suspect
        assert suspect is not None
        try:
            continues = following[7] == event_hash(suspect[7], *following[:7])
        except (TypeError, ValueError):
            continues = False
        self._broken = (suspect[0], AuditProblem.CONTENT_CHANGED if continues else AuditProblem.LINK_BROKEN,
                        _CONTENT if continues else _LINK)

    def result(self) -> AuditResult:
        """What the rows fed so far show (call once they have run out, or ``feed`` said stop)."""
        if self._broken is None and self._suspect is not None:
            # The last event: nothing after it to tell an edited content from a replaced hash.
            self._broken = (self._suspect[0], AuditProblem.CONTENT_CHANGED, _CONTENT)
        if self._broken is None and self.head is not None and self.last_id < self.head[0]:
            head_id = self.head[0]
            self._broken = (self.last_id + 1, AuditProblem.ROWS_MISSING,
                            _missing(self.last_id + 1, head_id, f"the recorded head was event {head_id}"))
        if self._broken is None:
            return AuditResult(True, self.checked, self.last_id, self.last_hash)
        at, problem, detail = self._broken
        return AuditResult(False, self.checked, self.last_id, self.last_hash, at, problem, detail)


class AuditReads(Protocol):
    """What a backend reads for the audit (store/sqlite/audit.py, store/postgres/audit.py)."""

    async def prepare(self) -> None:
        """Before an audit reads anything (PostgreSQL seals what is committed)."""

    async def head(self) -> Sequence[Any] | None:
        """The newest event's (id, hash), or None while the log is empty."""

    async def hash_of(self, event_id: int) -> Sequence[Any] | None:
        """An event's stored hash: a row whose first column is it, or None when there is no such event."""

    async def rows(self, after_id: int, limit: int) -> Sequence[Sequence[Any]]:
        """Up to ``limit`` event rows (``COLUMNS``) after an id, in chain order."""


class Audit:
    """The store's part ``audit``: ``audit_head`` and ``verify_events`` over a backend's reads
    (``AuditReads``). ``db``: the backend's database object."""

    __slots__ = ("db", "reads")

    def __init__(self, db: Any, reads: AuditReads) -> None:
        self.db = db
        self.reads = reads

    async def audit_head(self) -> AuditHead:
        """The newest event's id and hash (id 0 and the genesis hash while the log is empty)."""
        await self.reads.prepare()
        row = await self.reads.head()
        return AuditHead(0, GENESIS) if row is None else AuditHead(row[0], row[1] or "")

    async def verify_events(self, *, after_id: int = 0, after_hash: str | None = None,
                            head: tuple[int, str] | None = None, chunk: int = VERIFY_CHUNK) -> AuditResult:
        """Walk the chain from ``after_id`` to the newest event, stopping at the first that does not fit.

        ``after_hash`` is the hash event ``after_id`` had when it was last verified (a dashboard keeps
        it and verifies only what came since); without it the stored one is trusted. ``head`` is an
        (id, hash) recorded earlier, outside the database: that event must still exist with that hash,
        which is what catches a cut at the end or a rewrite of everything after some event.
        """
        if chunk < 1:
            raise InvalidArgument("chunk must be at least 1")
        await self.reads.prepare()
        if after_id == 0:
            after_hash = after_hash or GENESIS
        else:
            row = await self.reads.hash_of(after_id)
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
        # The next chunk is read while this one is hashed.
        reading: asyncio.Future[Sequence[Sequence[Any]]] | None = asyncio.ensure_future(
            self.reads.rows(after_id, chunk))
        while reading is not None:
            rows = await reading
            reading = None
            if len(rows) == chunk:
                reading = asyncio.ensure_future(self.reads.rows(rows[-1][0], chunk))
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
