"""Replay: the swarm as it was at one event of its history, for a person to look at and step through.

The event log records every change; a replay finds the state at any event among every version of every
row, kept with the events between which it held (``store/replay/engine.py``, which says why), and shows it
through a read-only ``Store``
(every write refused) whose clock stands at that event, so ages and staleness read as they did then.

This module is the contract between the engine and the faces (the dashboard's replay mode, the CLI).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from .. import Store


class Step(enum.StrEnum):
    """How far a step moves: one event, or to the next (or previous) event of a class a person looks for."""

    EVENT = "event"
    DECISION = "decision"  # a human decision on a gate
    FAILURE = "failure"  # a task failed
    STALE = "stale"  # an agent's heartbeat went stale (the first event after its heartbeat aged past the limit)
    REPORT = "report"  # a gate report submitted


@dataclass(frozen=True, slots=True)
class ReplayPoint:
    """Where a replay stands: the last event applied, when it happened, and the range one can move in."""

    event_id: int
    ts: datetime
    kind: str
    first_id: int
    last_id: int


class Replay(Protocol):
    """A swarm's history opened at one point. ``store`` shows the state at ``point`` and refuses writes
    (``PermissionDenied``); its ``latest_event_id()`` is ``point.event_id``; its clock reads ``point.ts``."""

    @property
    def point(self) -> ReplayPoint: ...

    @property
    def store(self) -> Store: ...

    async def seek(self, to: int | datetime) -> ReplayPoint:
        """Move to an event id, or to the last event at or before a time; clamped to the range."""
        ...

    async def step(self, by: Step = Step.EVENT, *, forward: bool = True) -> ReplayPoint:
        """Move to the next (or previous) event of ``by``; stays where it is if there is none."""
        ...

    async def close(self) -> None: ...


async def open_replay(source: str | Path, *, at: int | datetime | None = None,
                      clock: Callable[[], float] = time.time, read_only: bool = False) -> Replay:
    """The history of ``source`` (a swarm database: SQLite path or postgresql:// URL, or a replay file
    written by ``swarmdeck export replay``) opened at ``at`` (an event id, or the last event at or
    before a time; None: the newest event); ``read_only``: for a read-only seat, which leaves nothing
    beside the database. The engine: store/replay/engine.py."""
    from .engine import open_replay as engine_open

    return await engine_open(source, at=at, clock=clock, read_only=read_only)
