"""Seed 003's named questions, answered from the learning records and the agents' logged actions:
the estimation correction factor, scope creep, stale documentation, slow agents, the complexity trend.

Each question is a pure function over records (or action samples) and a clock reading, tested without a
database, and an ``async`` reader that fetches what it needs through the ``Store`` protocol's public
reads (``list_records``, ``events``), so every backend gives the same answer. Nothing here writes.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .learning import DOCS_TTL_S

if TYPE_CHECKING:
    from . import Store
    from .models import Event, LearningRecord

#: At most this many records of one kind are read for a question (newest first).
READ_LIMIT = 100_000
#: Events are read in pages of this many.
EVENT_PAGE = 1_000
#: Seed 003's windows and thresholds.
CORRECTION_DAYS = 90.0
SCOPE_CREEP_RATIO = 1.5
COMPLEXITY_SNAPSHOTS = 5
COMPLEXITY_GROWTH = 1.5
DAY_S = 86400.0


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _when(record: LearningRecord, field: str) -> float:
    """The record's own time field (epoch seconds), else when it was logged."""
    value = _number(record.fields.get(field))
    return value if value is not None else record.created_at.timestamp()


def _in_order(records: Iterable[LearningRecord], field: str) -> list[LearningRecord]:
    """Oldest first, by the record's time field, then by id (the order they were logged)."""
    return sorted(records, key=lambda r: (_when(r, field), r.id))


# -- estimation correction factor ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Correction:
    """Seed 003's "multiply future estimates by": the mean of actual / estimated sessions over the
    estimates completed within the window (``completed_at``, else when the estimate was logged)."""

    factor: float | None  # None: no completed estimate in the window
    samples: int
    median: float | None
    overruns: int  # estimates whose actual sessions exceeded the estimate
    since: datetime
    days: float


def correction_factor(records: Iterable[LearningRecord], *, now: float,
                      days: float = CORRECTION_DAYS) -> Correction:
    since = now - days * DAY_S
    ratios = []
    for r in records:
        estimated, actual = _number(r.fields.get("estimated_sessions")), _number(r.fields.get("actual_sessions"))
        if estimated is None or actual is None or estimated <= 0 or _when(r, "completed_at") < since:
            continue
        ratios.append(actual / estimated)
    return Correction(
        factor=statistics.fmean(ratios) if ratios else None, samples=len(ratios),
        median=statistics.median(ratios) if ratios else None, overruns=sum(1 for x in ratios if x > 1),
        since=_utc(since), days=days)


# -- scope creep ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PipelineScope:
    """A pipeline's latest state: steps planned and steps done. Crept: done > planned x the ratio."""

    pipeline_id: str
    feature_request: str
    status: str
    planned: int | None
    actual: int | None
    ratio: float | None
    crept: bool
    record_id: int
    at: datetime


def _steps(record: LearningRecord) -> tuple[int | None, int | None]:
    """Planned and completed steps: the record's own fields, else the seed's pipeline state JSON
    (``decomposition.total_steps``, and ``completed_steps`` as a list or a count)."""
    fields = record.fields
    state = fields.get("state") if isinstance(fields.get("state"), dict) else {}
    planned = _number(fields.get("planned_steps"))
    if planned is None:
        decomposition = state.get("decomposition")
        planned = _number(decomposition.get("total_steps")) if isinstance(decomposition, dict) else None
    actual = _number(fields.get("completed_steps"))
    if actual is None:
        done = state.get("completed_steps")
        actual = float(len(done)) if isinstance(done, list) else _number(done)
    return (None if planned is None else int(planned)), (None if actual is None else int(actual))


def scope_creep(records: Iterable[LearningRecord], *, ratio: float = SCOPE_CREEP_RATIO) -> list[PipelineScope]:
    """Every pipeline's latest state (the last record logged for its id), the crept ones first (largest
    ratio first), then by pipeline id."""
    latest: dict[str, LearningRecord] = {}
    for r in sorted(records, key=lambda r: (r.created_at, r.id)):  # the order they were logged
        latest[str(r.fields.get("pipeline_id"))] = r
    out = []
    for pipeline_id, r in latest.items():
        planned, actual = _steps(r)
        share = actual / planned if planned and actual is not None else None
        out.append(PipelineScope(pipeline_id, str(r.fields.get("feature_request", "")),
                                 str(r.fields.get("status", "")), planned, actual, share,
                                 share is not None and share > ratio, r.id, r.created_at))
    out.sort(key=lambda p: (not p.crept, -(p.ratio or 0.0), p.pipeline_id))
    return out


# -- stale documentation ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CachedDoc:
    library: str
    version: str
    source_url: str | None
    fetched_at: datetime
    expires_at: datetime  # expires_at, else fetched (or logged) + seed 003's 7 days
    stale: bool
    record_id: int


def docs_cache(records: Iterable[LearningRecord], *, now: float) -> list[CachedDoc]:
    """The latest cache entry of each library version, oldest fetch first (the seed's ORDER BY
    fetched_at), each marked stale once past its expiry."""
    latest: dict[tuple[str, str], LearningRecord] = {}
    for r in _in_order(records, "fetched_at"):
        latest[(str(r.fields.get("library")), str(r.fields.get("version")))] = r
    out = []
    for (library, version), r in latest.items():
        fetched = _when(r, "fetched_at")
        expires = docs_expiry(r)
        out.append(CachedDoc(library, version, r.fields.get("source_url"), _utc(fetched), _utc(expires),
                             expires < now, r.id))
    out.sort(key=lambda d: (d.fetched_at, d.library, d.version))
    return out


def docs_expiry(record: LearningRecord) -> float:
    """When a docs cache entry expires (epoch seconds): its expires_at, else its fetch (or logging) time
    plus seed 003's 7 days. The stale-docs view and the retention policy (store/retention.py) read it."""
    expires = _number(record.fields.get("expires_at"))
    return _when(record, "fetched_at") + DOCS_TTL_S if expires is None else expires


def stale_docs(records: Iterable[LearningRecord], *, now: float) -> list[CachedDoc]:
    return [d for d in docs_cache(records, now=now) if d.stale]


# -- slow agents --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionSample:
    """One logged action: an ``agent.action`` event (``log_action``) or an ``agent_log`` record."""

    agent: str
    at: float
    duration_ms: float | None
    success: bool


@dataclass(frozen=True, slots=True)
class AgentSpeed:
    agent: str
    actions: int
    timed: int  # actions that carried a duration
    mean_ms: float | None
    median_ms: float | None
    max_ms: float | None
    failures: int


def slow_agents(samples: Iterable[ActionSample]) -> list[AgentSpeed]:
    """Per agent: the seed's AVG(duration_ms), slowest first (agents with no timed action last, by name)."""
    by_agent: dict[str, list[ActionSample]] = {}
    for s in samples:
        by_agent.setdefault(s.agent, []).append(s)
    out = []
    for agent, mine in by_agent.items():
        times = [s.duration_ms for s in mine if s.duration_ms is not None]
        out.append(AgentSpeed(agent, len(mine), len(times), statistics.fmean(times) if times else None,
                              statistics.median(times) if times else None, max(times) if times else None,
                              sum(1 for s in mine if not s.success)))
    out.sort(key=lambda a: (a.mean_ms is None, -(a.mean_ms or 0.0), a.agent))
    return out


def samples_from_events(events: Iterable[Event]) -> list[ActionSample]:
    out = []
    for e in events:
        p = e.payload or {}
        out.append(ActionSample(str(e.entity_id), e.ts.timestamp(), _number(p.get("duration_ms")),
                                p.get("success", True) is not False))
    return out


def samples_from_records(records: Iterable[LearningRecord]) -> list[ActionSample]:
    return [ActionSample(str(r.fields.get("agent_name")), _when(r, "timestamp"),
                         _number(r.fields.get("duration_ms")), r.fields.get("success", True) is not False)
            for r in records]


# -- complexity trend ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileTrend:
    """A file's last snapshots' complexity scores, oldest first; trend = newest / oldest of them."""

    file_path: str
    scores: tuple[float, ...]
    trend: float | None  # None: one snapshot, or an oldest score of 0
    growing: bool  # trend above seed 003's 1.5
    last_at: datetime


def complexity_trend(records: Iterable[LearningRecord], *, last: int = COMPLEXITY_SNAPSHOTS,
                     growth: float = COMPLEXITY_GROWTH) -> list[FileTrend]:
    """Every file with a scored snapshot, the fastest growing first, then by path."""
    by_file: dict[str, list[LearningRecord]] = {}
    for r in _in_order(records, "snapshot_at"):
        if _number(r.fields.get("complexity_score")) is not None:
            by_file.setdefault(str(r.fields.get("file_path")), []).append(r)
    out = []
    for path, mine in by_file.items():
        recent = mine[-last:]
        scores = tuple(float(r.fields["complexity_score"]) for r in recent)
        trend = scores[-1] / scores[0] if len(scores) > 1 and scores[0] > 0 else None
        out.append(FileTrend(path, scores, trend, trend is not None and trend > growth,
                             _utc(_when(recent[-1], "snapshot_at"))))
    out.sort(key=lambda f: (not f.growing, -(f.trend or 0.0), f.file_path))
    return out


# -- the readers: public reads only ----------------------------------------------------------------------------


async def records_of(store: Store, kind: str) -> list[LearningRecord]:
    """Every record of a kind (up to READ_LIMIT, the newest), oldest first."""
    return list(reversed(await store.list_records(kind=kind, limit=READ_LIMIT)))


async def events_since(store: Store, kind: str, *, since: float = 0.0, after_id: int = 0) -> list[Event]:
    """Every event of a kind at or after ``since`` and after ``after_id``, oldest first (paged, newest
    page first, until one reaches past either bound)."""
    found: list[Event] = []
    before: int | None = None
    while True:
        page = await store.events(kind=kind, before_id=before, limit=EVENT_PAGE)
        for e in page:
            if e.id <= after_id or e.ts.timestamp() < since:
                return list(reversed(found))
            found.append(e)
        if len(page) < EVENT_PAGE:
            return list(reversed(found))
        before = page[-1].id


async def read_correction(store: Store, *, now: float | None = None, days: float = CORRECTION_DAYS) -> Correction:
    now = store.clock() if now is None else now
    return correction_factor(await records_of(store, "estimate"), now=now, days=days)


async def read_scope_creep(store: Store, *, ratio: float = SCOPE_CREEP_RATIO) -> list[PipelineScope]:
    return scope_creep(await records_of(store, "pipeline_state"), ratio=ratio)


async def read_docs(store: Store, *, now: float | None = None, stale_only: bool = True) -> list[CachedDoc]:
    now = store.clock() if now is None else now
    docs = docs_cache(await records_of(store, "docs_cache"), now=now)
    return [d for d in docs if d.stale] if stale_only else docs


async def read_slow_agents(store: Store, *, now: float | None = None,
                           days: float | None = CORRECTION_DAYS) -> list[AgentSpeed]:
    """Actions logged within the last ``days`` (None: all of them), from both sources."""
    from .events import EventKind

    now = store.clock() if now is None else now
    since = 0.0 if days is None else now - days * DAY_S
    samples = samples_from_events(await events_since(store, EventKind.AGENT_ACTION.value, since=since))
    samples += [s for s in samples_from_records(await records_of(store, "agent_log")) if s.at >= since]
    return slow_agents(samples)


async def read_complexity(store: Store, *, last: int = COMPLEXITY_SNAPSHOTS,
                          growth: float = COMPLEXITY_GROWTH) -> list[FileTrend]:
    return complexity_trend(await records_of(store, "complexity_snapshot"), last=last, growth=growth)


__all__: Sequence[str] = [
    "ActionSample", "AgentSpeed", "CachedDoc", "Correction", "FileTrend", "PipelineScope", "complexity_trend",
    "correction_factor", "docs_cache", "events_since", "read_complexity", "read_correction", "read_docs",
    "read_scope_creep", "read_slow_agents", "records_of", "samples_from_events", "samples_from_records",
    "scope_creep", "slow_agents", "stale_docs",
]
