"""What the performance charts show, and the pure arithmetic behind them (no database here).

The store aggregates in SQL, one bucket per row (``CAST((ts - start) / width AS INTEGER)``); what
comes back is sparse, so ``fill`` lays it out over every bucket of the window. Windows are aligned
to multiples of their bucket width, so the same bucket keeps the same edges from one refresh to
the next (a chart does not shimmer as the clock moves), and the last bucket holds "now".

``ChartQueries`` is every chart as the store shows it (the checks of its arguments, the bundle, and
what is made of the rows), over the few reads a backend answers in its own SQL (``ChartReads``:
store/sqlite/charts.py, store/postgres/charts.py): the same charts from the same rows on both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import InvalidArgument

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
#: Burn-down points per bucket on the charts screen: the line is drawn finer than the bars around it
#: (a milestone of small tasks can be created and finished within one bucket).
BURNDOWN_RESOLUTION = 6


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



# -- the charts over a backend's reads ----------------------------------------------------------


def task_filters(milestone_id: int | None, agent_type: str | None) -> list[tuple[str, Any]]:
    """The filters a chart narrows tasks by, as (column of tasks, value): those given."""
    return [(column, value) for column, value in (("milestone_id", milestone_id), ("agent_type", agent_type))
            if value is not None]


def check_window(window: Window) -> None:
    if not (isinstance(window, Window) and window.count >= 1 and window.width > 0):
        raise InvalidArgument("a chart window needs at least one bucket of positive width")


class ChartReads(Protocol):
    """What a backend reads for the charts (store/sqlite/charts.py, store/postgres/charts.py): each one
    query or a few, aggregated in SQL; everything made of their rows is ``ChartQueries``'."""

    #: The backend's placeholder for a parameter, in the statements that read the same on both.
    PARAM: str

    async def agent_types(self) -> Sequence[str]:
        """The distinct agent types of tasks, in code-point order (at most 200)."""
        ...

    async def first_event_ts(self) -> float | None:
        """When the first event shown was written (None while there is none)."""
        ...

    async def finished(self, window: Window, milestone_id: int | None,
                       agent_type: str | None) -> Mapping[int, Sequence[int]]:
        """Bucket -> (completed, failed) tasks finished in it."""
        ...

    async def queue_samples(self, window: Window) -> Sequence[Sequence[int | None]]:
        """(blocked, ready, running) of the last sample before each bucket's end, in bucket order."""
        ...

    async def queue_now(self) -> Mapping[str, int]:
        """Blocked, ready and running tasks now, by status."""
        ...

    async def agent_means(self, window: Window, milestone_id: int | None,
                          agent_type: str | None) -> Sequence[tuple[str, int, float | None]]:
        """(agent, completed tasks, mean seconds) of every agent that ever finished a task."""
        ...

    async def type_spreads(self, window: Window, milestone_id: int | None,
                           agent_type: str | None) -> Sequence[Sequence[Any]]:
        """(agent type, count, median, p95, max) of the window's completed tasks, by type name."""
        ...

    async def agent_quantiles(self, window: Window, agents: list[str], milestone_id: int | None,
                              agent_type: str | None) -> Mapping[str, tuple[float, float]]:
        """Agent -> (median, p95) seconds of its completed tasks in the window."""
        ...

    async def failed_attempts(self, window: Window, agents: list[str], milestone_id: int | None,
                              agent_type: str | None) -> Mapping[str, int]:
        """Failed attempts (retried or final) per agent in the window, from the event log."""
        ...

    async def estimates(self, window: Window, milestone_id: int | None, agent_type: str | None,
                        points: int, since: float, until: float,
                        ) -> tuple[Sequence[Sequence[float]], float | None, int]:
        """(estimate, actual seconds) of the window's most recent completed tasks, newest first; and
        the mean actual/estimate of the tasks completed in [since, until), and how many."""
        ...

    async def unfinished(self, ids: list[int], agent_type: str | None) -> Mapping[int, int]:
        """Milestone -> its tasks not finished now (of ``agent_type`` if given)."""
        ...

    async def finished_by_milestone(self, window: Window, ids: list[int],
                                    agent_type: str | None) -> Mapping[int, list[int]]:
        """Milestone -> tasks finished per bucket."""
        ...

    async def created(self, window: Window, milestone_id: int, agent_type: str | None) -> list[int]:
        """Tasks of a milestone created per bucket."""
        ...


class ChartQueries:
    """The charts screen's aggregates: the store's part ``chart_queries``, over a backend's reads
    (``ChartReads``). ``db`` is the backend's database object (its clock, its queue sample)."""

    __slots__ = ("db", "reads")

    def __init__(self, db: Any, reads: ChartReads) -> None:
        self.db = db
        self.reads = reads

    # -- the statements that read the same on both backends --------------------------------------

    async def _milestones(self) -> Sequence[Any]:
        """Every milestone (id, name, hour_budget, hours_spent, status) in plan order (the same statement
        on both backends)."""
        return await self.db._all(
            "SELECT id, name, hour_budget, hours_spent, status FROM milestones ORDER BY position"
        )

    async def _decided(self, window: Window, milestone_id: int | None) -> Sequence[Sequence[Any]]:
        """(milestone, version, reviewer, decision, seconds) of the window's decisions, in order (by
        gate_decisions_decided). The same statement on both backends."""
        p = self.reads.PARAM
        ms_sql, ms_params = ("", []) if milestone_id is None else (f" AND g.milestone_id = {p}",
                                                                    [milestone_id])
        return await self.db._all(
            f"""SELECT m.name, r.version, g.reviewer, g.decision, g.decided_at - r.submitted_at
                FROM gate_decisions g JOIN validation_reports r ON r.id = g.report_id
                JOIN milestones m ON m.id = g.milestone_id
                WHERE g.decided_at >= {p} AND g.decided_at < {p}{ms_sql} ORDER BY g.decided_at, g.id""",
            (window.start, window.end, *ms_params),
        )

    async def _awaiting(self, now: float, milestone_id: int | None) -> Sequence[Sequence[Any]]:
        """(milestone, version, seconds waited) of the reports in review now, in plan order. The same
        statement on both backends."""
        p = self.reads.PARAM
        ms_sql, ms_params = ("", []) if milestone_id is None else (f" AND m.id = {p}", [milestone_id])
        return await self.db._all(
            f"""SELECT m.name, r.version, {p} - r.submitted_at FROM milestones m
                JOIN validation_reports r ON r.milestone_id = m.id
                  AND r.version = (SELECT max(version) FROM validation_reports WHERE milestone_id = m.id)
                WHERE m.status = 'review'{ms_sql} ORDER BY m.position""",
            (float(now), *ms_params),
        )

    # -- what the charts can show --------------------------------------------------------------

    async def chart_filters(self) -> ChartFilters:
        """The milestones (in order) and the agent types tasks were enqueued for, to filter by."""
        milestones = tuple((r["id"], r["name"]) for r in await self._milestones())
        return ChartFilters(milestones, tuple(await self.reads.agent_types()))

    async def chart_window(self, range_key: str, *, now: float | None = None) -> Window:
        """The bucketed window of a range ("15m", "1h", "24h", "7d", "all") ending now."""
        now = self.db.clock() if now is None else now
        first = await self.reads.first_event_ts() if range_key == "all" else None
        try:
            return window_for(range_key, now, first)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None

    async def charts(self, range_key: str, *, milestone_id: int | None = None, agent_type: str | None = None,
                     now: float | None = None) -> Charts:
        """Every chart of the charts screen, for one range and one set of filters."""
        now = self.db.clock() if now is None else now
        window = await self.chart_window(range_key, now=now)
        kw = {"milestone_id": milestone_id, "agent_type": agent_type}
        return Charts(
            range_key=range_key,
            window=window,
            milestone_id=milestone_id,
            agent_type=agent_type,
            throughput=await self.chart_throughput(window, **kw),
            queue=await self.chart_queue_depth(window, now=now),
            durations=await self.chart_durations(window, **kw),
            estimates=await self.chart_estimates(window, now=now, **kw),
            burndown=await self.chart_burndown(window, resolution=BURNDOWN_RESOLUTION, **kw),
            gates=await self.chart_gate_latency(window, milestone_id=milestone_id, now=now),
        )

    # -- 1. throughput -----------------------------------------------------------------------------

    async def chart_throughput(self, window: Window, *, milestone_id: int | None = None,
                               agent_type: str | None = None) -> Throughput:
        """Tasks that finished completed or failed in each bucket (by finish time)."""
        check_window(window)
        counts = await self.reads.finished(window, milestone_id, agent_type)
        return Throughput(
            window,
            tuple(counts.get(i, (0, 0))[0] for i in range(window.count)),
            tuple(counts.get(i, (0, 0))[1] for i in range(window.count)),
        )

    # -- 2. queue depth ----------------------------------------------------------------------------

    async def chart_queue_depth(self, window: Window, *, now: float | None = None) -> QueueDepth:
        """Blocked, ready and running tasks at the end of each bucket, swarm-wide: the counts as of the
        last change in each 10 s slot (``queue_samples``); the bucket holding ``now`` shows the counts now.
        """
        check_window(window)
        if self.db._samples.due:
            await self.db._flush_queue_sample()  # this store's own changes of the last second
        now = self.db.clock() if now is None else now
        series: dict[str, list[int | None]] = {"blocked": [], "ready": [], "running": []}
        for sample in await self.reads.queue_samples(window):
            for key, n in zip(series, sample):
                series[key].append(n)
        if window.start <= now < window.end:
            current = await self.reads.queue_now()
            last = int((now - window.start) // window.width)
            for key in series:
                series[key][last] = current.get(key, 0)
        return QueueDepth(window, tuple(series["blocked"]), tuple(series["ready"]), tuple(series["running"]))

    # -- 3. per-agent durations --------------------------------------------------------------------

    async def chart_durations(self, window: Window, *, milestone_id: int | None = None,
                              agent_type: str | None = None, limit: int = 10) -> Durations:
        """The slowest agents of the window: the seed's "find slow agents" (mean duration, slowest
        first), with each one's median and p95 duration and success rate over its attempts."""
        check_window(window)
        if not 1 <= limit <= 100:
            raise InvalidArgument("limit must be between 1 and 100")
        stats = await self.reads.agent_means(window, milestone_id, agent_type)
        ranked = sorted(((name, n, mean) for name, n, mean in stats if n), key=lambda r: (-r[2], r[0]))
        if not ranked:
            return Durations((), 0)
        by_type = tuple(Spread(*r) for r in await self.reads.type_spreads(window, milestone_id, agent_type))
        top = [r[0] for r in ranked[:limit]]
        quantiles = await self.reads.agent_quantiles(window, top, milestone_id, agent_type)
        failed = await self.reads.failed_attempts(window, top, milestone_id, agent_type)
        agents = tuple(
            AgentDuration(r[0], r[1], *quantiles.get(r[0], (None, None)), failed.get(r[0], 0))
            for r in ranked[:limit]
        )
        return Durations(agents, len(ranked), by_type)

    # -- 4. estimate accuracy ------------------------------------------------------------------------

    async def chart_estimates(self, window: Window, *, milestone_id: int | None = None,
                              agent_type: str | None = None, points: int = 300,
                              now: float | None = None) -> EstimateAccuracy:
        """Estimated vs actual seconds of the window's most recent completed tasks (at most
        ``points``), and the seed's correction factor: mean actual/estimate over the last 90 days."""
        check_window(window)
        if not 1 <= points <= 10_000:
            raise InvalidArgument("points must be between 1 and 10000")
        now = self.db.clock() if now is None else now
        rows, factor, tasks = await self.reads.estimates(window, milestone_id, agent_type, points,
                                                         now - FACTOR_DAYS * 86400, now + 1)
        return EstimateAccuracy(
            tuple((float(r[0]), float(r[1])) for r in reversed(rows)),
            None if tasks == 0 else float(factor),
            int(tasks),
        )

    # -- 5. milestone burn-down ----------------------------------------------------------------------

    async def chart_burndown(self, window: Window, *, milestone_id: int | None = None,
                             agent_type: str | None = None, lines: int = 4, resolution: int = 1) -> Burndown:
        """Hours spent against budget, and unfinished tasks at the end of each bucket, for the
        filtered milestone, or else the (at most ``lines``) milestones with work in the window.
        ``resolution`` splits each bucket into that many points (the returned window is the finer one).

        Walks back from the unfinished count now: a bucket's end had everything created after it
        not yet, and everything finished after it still to do (``burn_down``).
        """
        check_window(window)
        if not (isinstance(resolution, int) and 1 <= resolution <= 10):
            raise InvalidArgument("resolution must be a whole number from 1 to 10")
        window = Window(window.start, window.width / resolution, window.count * resolution)
        rows = await self._milestones()
        if milestone_id is not None:
            rows = [r for r in rows if r["id"] == milestone_id]
        if not rows:
            return Burndown(window, ())
        ids = [r["id"] for r in rows]
        unfinished = await self.reads.unfinished(ids, agent_type)
        finished = await self.reads.finished_by_milestone(window, ids, agent_type)
        out = []
        for r in rows:
            mid = r["id"]
            created = await self.reads.created(window, mid, agent_type)
            remaining = burn_down(unfinished.get(mid, 0), created, finished[mid])
            active = any(remaining) or any(finished[mid]) or any(created)
            if milestone_id is not None or active:
                out.append(MilestoneBurn(mid, r["name"], r["hour_budget"], r["hours_spent"], remaining))
        if milestone_id is None and len(out) > lines:
            # The milestones with the most still to do (ties: the earliest in the plan).
            keep = sorted(out, key=lambda m: -max(m.remaining))[:lines]
            out = [m for m in out if m in keep]
        return Burndown(window, tuple(out))

    # -- 6. gate review latency -----------------------------------------------------------------------

    async def chart_gate_latency(self, window: Window, *, milestone_id: int | None = None,
                                 now: float | None = None) -> GateLatency:
        """Report submitted -> decision for every decision in the window (per gate and reviewer),
        and the reports awaiting a decision now with how long they have waited."""
        check_window(window)
        now = self.db.clock() if now is None else now
        decided = await self._decided(window, milestone_id)
        awaiting = await self._awaiting(now, milestone_id)
        return GateLatency(
            tuple(GateWait(r[0], r[1], r[2], r[3], max(0.0, r[4])) for r in decided),
            tuple(GateWait(r[0], r[1], None, None, max(0.0, r[2])) for r in awaiting),
        )
