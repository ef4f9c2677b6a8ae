"""What the performance charts show, and the pure arithmetic behind them (no database here).

The store aggregates in SQL, one bucket per row (``CAST((ts - start) / width AS INTEGER)``); what
comes back is sparse, so ``fill`` lays it out over every bucket of the window. Windows are aligned
to multiples of their bucket width, so the same bucket keeps the same edges from one refresh to
the next (a chart does not shimmer as the clock moves), and the last bucket holds "now".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .models import QUEUE_SLOT as QUEUE_SLOT  # defined with the queue's model: a write samples the queue

#: The time ranges a chart can show: key -> (label, seconds covered, bucket width in seconds).
RANGES: dict[str, tuple[str, float | None, int]] = {
    "15m": ("last 15 min", 15 * 60, 30),
    "1h": ("last hour", 3600, 120),
    "24h": ("last 24 h", 86400, 3600),
    "7d": ("last 7 days", 7 * 86400, 6 * 3600),
    "all": ("all history", None, 0),
}
RANGE_KEYS = tuple(RANGES)
#: Bucket widths "all" picks from: the smallest that keeps the history within MAX_BUCKETS.
NICE_WIDTHS = (30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400,
               2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400, 91 * 86400, 364 * 86400)
MAX_BUCKETS = 40
#: The estimate correction factor is the seed's: over the last 90 days, whatever range is shown.
FACTOR_DAYS = 90


@dataclass(frozen=True, slots=True)
class Window:
    """``count`` buckets of ``width`` seconds from ``start`` (epoch seconds); the last one holds now."""

    start: float
    width: float
    count: int

    @property
    def end(self) -> float:
        return self.start + self.width * self.count

    def edges(self) -> tuple[float, ...]:
        """The start of every bucket."""
        return tuple(self.start + i * self.width for i in range(self.count))

    def bucket(self, ts: float) -> int | None:
        """The bucket holding ``ts`` (the same arithmetic as the SQL), or None outside the window."""
        if not self.start <= ts < self.end:
            return None
        return min(self.count - 1, int((ts - self.start) / self.width))


def window_for(range_key: str, now: float, first: float | None = None) -> Window:
    """The window of a range ending now. ``first`` is the oldest event, for "all"."""
    if range_key not in RANGES:
        raise ValueError(f"unknown range {range_key!r}: one of {', '.join(RANGE_KEYS)}")
    _, seconds, width = RANGES[range_key]
    if seconds is None:
        first = now if first is None else min(first, now)
        span = now - first
        width = next((w for w in NICE_WIDTHS if span / w < MAX_BUCKETS), NICE_WIDTHS[-1])
        start = math.floor(first / width) * width
        count = math.floor(now / width) - math.floor(first / width) + 1
        return Window(float(start), float(width), int(count))
    count = int(seconds // width)
    last = math.floor(now / width) * width
    return Window(float(last - (count - 1) * width), float(width), count)


def fill(window: Window, counts: Iterable[tuple[int, int]]) -> tuple[int, ...]:
    """Sparse (bucket, count) rows from SQL as one count per bucket, zero where nothing happened."""
    out = [0] * window.count
    for bucket, n in counts:
        if 0 <= bucket < window.count:
            out[bucket] += n
    return tuple(out)


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of values sorted ascending: the smallest value with at least p% of
    the values at or below it. ``percentile([1, 2, 3, 4], 50)`` is 2; None when there are none."""
    if not ordered:
        return None
    if not 0 < p <= 100:
        raise ValueError("p must be in (0, 100]")
    rank = math.ceil(p / 100 * len(ordered) - 1e-9)
    return ordered[max(1, rank) - 1]


def burn_down(now_remaining: int, created: Sequence[int], finished: Sequence[int]) -> tuple[int, ...]:
    """Unfinished tasks at the end of each bucket, walking back from the count now: a bucket's
    end saw everything created after it not yet there, and everything finished after it not yet done."""
    out = [0] * len(created)
    remaining = now_remaining
    for i in range(len(created) - 1, -1, -1):
        out[i] = remaining
        remaining += finished[i] - created[i]
    return tuple(max(0, n) for n in out)


# -- what the store returns ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChartFilters:
    """What the charts can be narrowed to: milestones (id, name) and the agent types of tasks."""

    milestones: tuple[tuple[int, str], ...]
    agent_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Throughput:
    """Tasks that finished completed or failed, per bucket (by finish time)."""

    window: Window
    completed: tuple[int, ...]
    failed: tuple[int, ...]

    @property
    def empty(self) -> bool:
        return not any(self.completed) and not any(self.failed)


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """Blocked, ready and running tasks at the end of each bucket (None before the first sample)."""

    window: Window
    blocked: tuple[int | None, ...]
    ready: tuple[int | None, ...]
    running: tuple[int | None, ...]

    @property
    def empty(self) -> bool:
        return all(v is None or v == 0 for series in (self.blocked, self.ready, self.running) for v in series)


@dataclass(frozen=True, slots=True)
class AgentDuration:
    """One agent's completed tasks in the window: how many, median and p95 seconds, and its
    success rate over every attempt that ended (completed, or failed whether retried or not)."""

    agent: str
    completed: int
    median_s: float | None
    p95_s: float | None
    failed_attempts: int

    @property
    def success_rate(self) -> float | None:
        attempts = self.completed + self.failed_attempts
        return None if not attempts else self.completed / attempts


@dataclass(frozen=True, slots=True)
class Spread:
    """How long a group of things took: how many, and the median, p95 and longest, in seconds
    (None when there are none)."""

    name: str
    count: int
    median_s: float | None
    p95_s: float | None
    max_s: float | None


def spread(name: str, seconds: Iterable[float]) -> Spread:
    """The count, nearest-rank median and p95, and maximum of some durations."""
    ordered = sorted(seconds)
    return Spread(name, len(ordered), percentile(ordered, 50), percentile(ordered, 95),
                  ordered[-1] if ordered else None)


@dataclass(frozen=True, slots=True)
class Durations:
    """The slowest agents first (by mean), at most the limit asked for; and every task type's
    completed tasks in the window (by type name), the same tasks grouped the other way."""

    agents: tuple[AgentDuration, ...]
    total_agents: int
    by_type: tuple[Spread, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.agents


@dataclass(frozen=True, slots=True)
class EstimateAccuracy:
    """Estimated vs actual seconds of the most recent completed tasks in the window, and the seed's
    correction factor (mean actual/estimate) over the last ``factor_days`` days."""

    points: tuple[tuple[float, float], ...]
    correction_factor: float | None
    factor_tasks: int
    factor_days: int = FACTOR_DAYS

    @property
    def empty(self) -> bool:
        return not self.points and self.correction_factor is None


@dataclass(frozen=True, slots=True)
class MilestoneBurn:
    """One milestone: hours spent against its budget, and its unfinished tasks per bucket."""

    milestone_id: int
    name: str
    hour_budget: float | None
    hours_spent: float
    remaining: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Burndown:
    window: Window
    milestones: tuple[MilestoneBurn, ...]

    @property
    def empty(self) -> bool:
        return not self.milestones


@dataclass(frozen=True, slots=True)
class GateWait:
    """One gate review: report submitted -> decision (or, still awaiting, -> now)."""

    milestone: str
    version: int
    reviewer: str | None  # None while the report awaits a decision
    decision: str | None
    seconds: float


@dataclass(frozen=True, slots=True)
class MilestoneGates:
    """One milestone's gate reviews: the decisions of the window, and the report awaiting one now."""

    milestone: str
    decided: Spread
    waiting_s: float | None  # how long the report in review has waited; None when none is


@dataclass(frozen=True, slots=True)
class GateLatency:
    decided: tuple[GateWait, ...]  # decided within the window, oldest first
    awaiting: tuple[GateWait, ...]  # reports in review now, however old

    @property
    def empty(self) -> bool:
        return not self.decided and not self.awaiting

    def by_reviewer(self) -> dict[str, float]:
        """Median seconds to decide, per reviewer."""
        out: dict[str, list[float]] = {}
        for d in self.decided:
            out.setdefault(d.reviewer or "?", []).append(d.seconds)
        return {r: percentile(sorted(v), 50) for r, v in sorted(out.items())}

    def by_milestone(self) -> tuple[MilestoneGates, ...]:
        """Per milestone (by name): how long its decisions took, and how long its report waits now."""
        decided: dict[str, list[float]] = {}
        waiting: dict[str, float] = {}
        for d in self.decided:
            decided.setdefault(d.milestone, []).append(d.seconds)
        for w in self.awaiting:
            waiting[w.milestone] = max(w.seconds, waiting.get(w.milestone, 0.0))
        return tuple(MilestoneGates(name, spread(name, decided.get(name, ())), waiting.get(name))
                     for name in sorted(decided.keys() | waiting.keys()))


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """Recent write transactions of this process (ms, oldest first) and the app's poll ticks (ms)."""

    write_ms: tuple[float, ...]
    poll_ms: tuple[float, ...]

    @property
    def empty(self) -> bool:
        return not self.write_ms and not self.poll_ms


@dataclass(frozen=True, slots=True)
class Charts:
    """Everything the charts screen draws, computed for one window and one set of filters."""

    range_key: str
    window: Window
    milestone_id: int | None
    agent_type: str | None
    throughput: Throughput
    queue: QueueDepth
    durations: Durations
    estimates: EstimateAccuracy
    burndown: Burndown
    gates: GateLatency

