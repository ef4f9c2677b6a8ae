"""The event log's hash chain: how an event is hashed, and how a run of events is checked.

Each event's ``hash`` is SHA-256 over the previous event's hash and a canonical encoding of the event's
own content, so an event edited, removed or inserted after the fact no longer fits the events around
it. Pure (no database): the store hashes each event as it writes it and streams rows through
``ChainCheck`` to verify them; the migration that introduced the chain hashed the events before it.

What a chain cannot show by itself: someone who can write the file can rewrite every event from the
one they change to the end, consistently. A head (id and hash) recorded somewhere else catches that.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

#: The hash the first event is chained to.
GENESIS = hashlib.sha256(b"swarmdeck audit trail v1").hexdigest()

#: The columns of an event row that ``ChainCheck`` reads, in this order (content first, then its hash).
COLUMNS = "id, ts, actor, kind, entity, entity_id, payload, hash"

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
