"""The performance charts: bucketed aggregates over finished tasks, queue samples and gate reviews.

Every query reads one index range per window (or one probe per bucket) and aggregates in SQL; none
loads the rows of a window into Python. Finished work comes from ``tasks_finished``, a partial
covering index ordered by finish time, so a bucket is a range of index entries and the filters
(milestone, agent type) are tested inside the index before anything is counted; per-agent figures
come from ``tasks_agent``, an agent's tasks by status then finish time: one range per agent.
Per-bucket counts are correlated subqueries over a bucket's range rather than a GROUP BY over the
window: SQLite would sort every row of the window to group it, where a range count walks the entries
once, in order.
"""

from __future__ import annotations

import json
from typing import Any

from ..charts import (
    FACTOR_DAYS,
    QUEUE_SLOT,
    AgentDuration,
    Burndown,
    ChartFilters,
    Charts,
    Durations,
    EstimateAccuracy,
    GateLatency,
    GateWait,
    MilestoneBurn,
    QueueDepth,
    Spread,
    Throughput,
    Window,
    burn_down,
    window_for,
)
from ..errors import InvalidArgument
from .base import Database

_UNFINISHED = "('pending', 'blocked', 'ready', 'running')"
#: Burn-down points per bucket on the charts screen: the line is drawn finer than the bars around it
#: (a milestone of small tasks can be created and finished within one bucket).
BURNDOWN_RESOLUTION = 6
#: The buckets of a window, numbered 0..count-1 (?3 is the count in every query that uses it).
_BUCKETS = "WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i + 1 < ?3)"
#: A bucket's range in tasks_finished (?1 start, ?2 width).
_IN_BUCKET = "finished_at >= ?1 + b.i * ?2 AND finished_at < ?1 + (b.i + 1) * ?2"


def _filters(milestone_id: int | None, agent_type: str | None, first: int) -> tuple[str, list[Any]]:
    """SQL for the milestone and agent-type filters (numbered parameters from ``first``)."""
    sql, params = "", []
    if milestone_id is not None:
        sql += f" AND milestone_id = ?{first + len(params)}"
        params.append(milestone_id)
    if agent_type is not None:
        sql += f" AND agent_type = ?{first + len(params)}"
        params.append(agent_type)
    return sql, params


def _check_window(window: Window) -> None:
    if not (isinstance(window, Window) and window.count >= 1 and window.width > 0):
        raise InvalidArgument("a chart window needs at least one bucket of positive width")


class ChartQueries:
    """The charts screen's aggregates, read on the database's reader."""

    __slots__ = ("db",)

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- what the charts can show --------------------------------------------------------------

    async def chart_filters(self) -> ChartFilters:
        """The milestones (in order) and the agent types tasks were enqueued for, to filter by."""
        milestones = await self.db._all("SELECT id, name FROM milestones ORDER BY position")
        # Distinct agent types by hopping through tasks_type: one probe per type, not a pass over tasks.
        types = await self.db._all(
            """WITH RECURSIVE t(v) AS (
                   SELECT (SELECT min(agent_type) FROM tasks)
                   UNION ALL SELECT (SELECT min(agent_type) FROM tasks WHERE agent_type > t.v) FROM t
                   WHERE t.v IS NOT NULL)
               SELECT v FROM t WHERE v IS NOT NULL LIMIT 200"""
        )
        return ChartFilters(tuple((r[0], r[1]) for r in milestones), tuple(r[0] for r in types))

    async def chart_window(self, range_key: str, *, now: float | None = None) -> Window:
        """The bucketed window of a range ("15m", "1h", "24h", "7d", "all") ending now."""
        now = self.db.clock() if now is None else now
        first = None
        if range_key == "all":
            # Events are appended in time order: the first by id is the first in time (no index on ts).
            first = await self.db._one("SELECT ts FROM events WHERE id = (SELECT min(id) FROM events)")
            first = None if first is None else first[0]
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
        _check_window(window)
        where, params = _filters(milestone_id, agent_type, 4)
        rows = await self.db._all(
            f"""{_BUCKETS}
                SELECT b.i, (SELECT json_array(count(*) FILTER (WHERE status = 'completed'),
                                               count(*) FILTER (WHERE status = 'failed'))
                             FROM tasks INDEXED BY tasks_finished WHERE {_IN_BUCKET}{where})
                FROM b""",
            (window.start, window.width, window.count, *params),
        )
        counts = {r[0]: json.loads(r[1]) for r in rows}
        return Throughput(
            window,
            tuple(counts.get(i, (0, 0))[0] for i in range(window.count)),
            tuple(counts.get(i, (0, 0))[1] for i in range(window.count)),
        )

    # -- 2. queue depth ----------------------------------------------------------------------------

    async def chart_queue_depth(self, window: Window, *, now: float | None = None) -> QueueDepth:
        """Blocked, ready and running tasks at the end of each bucket, swarm-wide.

        One primary-key probe per bucket into queue_samples (the counts as of the last change in
        each 10 s slot); the bucket holding ``now`` shows the counts now.
        """
        _check_window(window)
        if self.db._sample_due:
            await self.db._flush_queue_sample()  # this store's own changes of the last second
        now = self.db.clock() if now is None else now
        rows = await self.db._all(
            f"""{_BUCKETS}
                SELECT b.i, s.blocked, s.ready, s.running FROM b
                LEFT JOIN queue_samples s ON s.slot = (
                    SELECT max(slot) FROM queue_samples
                    WHERE slot < CAST((?1 + (b.i + 1) * ?2) / {QUEUE_SLOT} AS INTEGER))""",
            (window.start, window.width, window.count),
        )
        series: dict[str, list[int | None]] = {"blocked": [], "ready": [], "running": []}
        for r in rows:
            for key in series:
                series[key].append(r[key])
        if window.start <= now < window.end:
            current = {r[0]: r[1] for r in await self.db._all(
                "SELECT status, n FROM task_counts WHERE status IN ('blocked', 'ready', 'running')"
            )}
            last = int((now - window.start) // window.width)
            for key in series:
                series[key][last] = current.get(key, 0)
        return QueueDepth(window, tuple(series["blocked"]), tuple(series["ready"]), tuple(series["running"]))

    # -- 3. per-agent durations --------------------------------------------------------------------

    async def chart_durations(self, window: Window, *, milestone_id: int | None = None,
                              agent_type: str | None = None, limit: int = 10) -> Durations:
        """The slowest agents of the window: the seed's "find slow agents" (mean duration, slowest
        first), with each one's median and p95 duration and success rate over its attempts."""
        _check_window(window)
        if not 1 <= limit <= 100:
            raise InvalidArgument("limit must be between 1 and 100")
        where, params = _filters(milestone_id, agent_type, 3)
        done = """FROM tasks INDEXED BY tasks_agent
                  WHERE finished_at >= ?1 AND finished_at < ?2 AND status = 'completed' AND started_at IS NOT NULL"""
        # Every agent that ever finished a task, one probe each (a skip-scan of tasks_agent),
        # then that agent's window as one index range: no sort of the whole window to group it.
        rows = await self.db._all(
            f"""WITH RECURSIVE a(name) AS (
                    SELECT (SELECT min(assigned_agent) FROM tasks INDEXED BY tasks_agent
                            WHERE assigned_agent IS NOT NULL AND finished_at IS NOT NULL)
                    UNION ALL
                    SELECT (SELECT min(assigned_agent) FROM tasks INDEXED BY tasks_agent
                            WHERE assigned_agent > a.name AND finished_at IS NOT NULL)
                    FROM a WHERE a.name IS NOT NULL)
                SELECT name, (SELECT json_array(count(*), avg(finished_at - started_at))
                              {done} AND assigned_agent = a.name{where})
                FROM a WHERE name IS NOT NULL""",
            (window.start, window.end, *params),
        )
        stats = [(r[0], *json.loads(r[1])) for r in rows]
        ranked = sorted(((name, n, mean) for name, n, mean in stats if n), key=lambda r: (-r[2], r[0]))
        if not ranked:
            return Durations((), 0)
        by_type = await self._durations_by_type(window, milestone_id, agent_type)
        top = [r[0] for r in ranked[:limit]]
        # cume_dist is rank/n over the durations in order: the first value reaching p is the
        # nearest-rank percentile (see store.charts.percentile).
        where_top, params_top = _filters(milestone_id, agent_type, 4)
        quantiles = {r[0]: (r[1], r[2]) for r in await self.db._all(
            f"""SELECT agent, min(d) FILTER (WHERE cd >= 0.5), min(d) FILTER (WHERE cd >= 0.95) FROM (
                    SELECT assigned_agent AS agent, finished_at - started_at AS d,
                           cume_dist() OVER (PARTITION BY assigned_agent ORDER BY finished_at - started_at) AS cd
                    {done} AND assigned_agent IN (SELECT value FROM json_each(?3)){where_top})
                GROUP BY agent""",
            (window.start, window.end, json.dumps(top), *params_top),
        )}
        failed = await self._failed_attempts(window, top, milestone_id, agent_type)
        agents = tuple(
            AgentDuration(r[0], r[1], *quantiles.get(r[0], (None, None)), failed.get(r[0], 0))
            for r in ranked[:limit]
        )
        return Durations(agents, len(ranked), by_type)

    async def _durations_by_type(self, window: Window, milestone_id: int | None,
                                 agent_type: str | None) -> tuple[Spread, ...]:
        """The window's completed tasks per agent type: count, nearest-rank median and p95, and max,
        in one range of tasks_finished (the same cume_dist reading as the per-agent percentiles)."""
        where, params = _filters(milestone_id, agent_type, 3)
        rows = await self.db._all(
            f"""SELECT agent_type, count(*), min(d) FILTER (WHERE cd >= 0.5), min(d) FILTER (WHERE cd >= 0.95),
                       max(d) FROM (
                    SELECT agent_type, finished_at - started_at AS d,
                           cume_dist() OVER (PARTITION BY agent_type ORDER BY finished_at - started_at) AS cd
                    FROM tasks INDEXED BY tasks_finished
                    WHERE finished_at >= ?1 AND finished_at < ?2 AND status = 'completed'
                      AND started_at IS NOT NULL{where})
                GROUP BY agent_type ORDER BY agent_type""",
            (window.start, window.end, *params),
        )
        return tuple(Spread(r[0], r[1], r[2], r[3], r[4]) for r in rows)

    async def _failed_attempts(self, window: Window, agents: list[str], milestone_id: int | None,
                               agent_type: str | None) -> dict[str, int]:
        """Failed attempts (retried or final) per agent in the window, from events_failures."""
        task_filter, params = "", []
        if milestone_id is not None or agent_type is not None:
            where, params = _filters(milestone_id, agent_type, 4)
            task_filter = f" AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = CAST(e.entity_id AS INTEGER){where})"
        rows = await self.db._all(
            f"""SELECT json_extract(payload, '$.agent'), count(*) FROM events e INDEXED BY events_failures
                WHERE kind IN ('task.failed', 'task.retried')
                  AND json_extract(payload, '$.agent') IN (SELECT value FROM json_each(?3))
                  AND ts >= ?1 AND ts < ?2{task_filter}
                GROUP BY 1""",
            (window.start, window.end, json.dumps(agents), *params),
        )
        return {r[0]: r[1] for r in rows}

    # -- 4. estimate accuracy ------------------------------------------------------------------------

    async def chart_estimates(self, window: Window, *, milestone_id: int | None = None,
                              agent_type: str | None = None, points: int = 300,
                              now: float | None = None) -> EstimateAccuracy:
        """Estimated vs actual seconds of the window's most recent completed tasks (at most
        ``points``), and the seed's correction factor: mean actual/estimate over the last 90 days."""
        _check_window(window)
        if not 1 <= points <= 10_000:
            raise InvalidArgument("points must be between 1 and 10000")
        now = self.db.clock() if now is None else now
        where, params = _filters(milestone_id, agent_type, 4)
        done = """FROM tasks INDEXED BY tasks_finished
                  WHERE finished_at >= ?1 AND finished_at < ?2 AND status = 'completed'
                    AND estimated_duration_seconds IS NOT NULL AND started_at IS NOT NULL"""
        rows = await self.db._all(
            f"""SELECT estimated_duration_seconds, finished_at - started_at {done}{where}
                ORDER BY finished_at DESC LIMIT ?3""",
            (window.start, window.end, points, *params),
        )
        where, params = _filters(milestone_id, agent_type, 3)
        factor = await self.db._one(
            f"SELECT avg((finished_at - started_at) / estimated_duration_seconds), count(*) {done}{where}",
            (now - FACTOR_DAYS * 86400, now + 1, *params),
        )
        return EstimateAccuracy(
            tuple((float(r[0]), float(r[1])) for r in reversed(rows)),
            None if factor[1] == 0 else float(factor[0]),
            int(factor[1]),
        )

    # -- 5. milestone burn-down ----------------------------------------------------------------------

    async def chart_burndown(self, window: Window, *, milestone_id: int | None = None,
                             agent_type: str | None = None, lines: int = 4, resolution: int = 1) -> Burndown:
        """Hours spent against budget, and unfinished tasks at the end of each bucket, for the
        filtered milestone, or else the (at most ``lines``) milestones with work in the window.
        ``resolution`` splits each bucket into that many points (the returned window is the finer one).

        Walks back from the unfinished count now: a bucket's end had everything created after it
        not yet, and everything finished after it still to do (store.charts.burn_down).
        """
        _check_window(window)
        if not (isinstance(resolution, int) and 1 <= resolution <= 10):
            raise InvalidArgument("resolution must be a whole number from 1 to 10")
        window = Window(window.start, window.width / resolution, window.count * resolution)
        rows = await self.db._all(
            "SELECT id, name, hour_budget, hours_spent, status FROM milestones ORDER BY position"
        )
        if milestone_id is not None:
            rows = [r for r in rows if r["id"] == milestone_id]
        if not rows:
            return Burndown(window, ())
        ids = [r["id"] for r in rows]
        type_sql, type_params = ("", []) if agent_type is None else (" AND agent_type = ?2", [agent_type])
        unfinished = {r[0]: r[1] for r in await self.db._all(
            f"""SELECT milestone_id, count(*) FROM tasks
                WHERE milestone_id IN (SELECT value FROM json_each(?1)) AND status IN {_UNFINISHED}{type_sql}
                GROUP BY milestone_id""",
            (json.dumps(ids), *type_params),
        )}
        # Finished per bucket, one count per milestone: one pass over the window's finished tasks.
        slots = ", ".join(f"count(*) FILTER (WHERE milestone_id = ?{5 + k})" for k in range(len(ids)))
        type_sql = "" if agent_type is None else " AND agent_type = ?4"
        finished_rows = await self.db._all(
            f"""{_BUCKETS}
                SELECT b.i, (SELECT json_array({slots}) FROM tasks INDEXED BY tasks_finished
                             WHERE {_IN_BUCKET}{type_sql}) FROM b""",
            (window.start, window.width, window.count, agent_type, *ids),
        )
        finished = {mid: [0] * window.count for mid in ids}
        for r in finished_rows:
            for mid, n in zip(ids, json.loads(r[1])):
                finished[mid][r[0]] = n
        out = []
        for r in rows:
            mid = r["id"]
            created = [0] * window.count
            for c in await self.db._all(
                f"""{_BUCKETS}
                    SELECT b.i, (SELECT count(*) FROM tasks INDEXED BY tasks_milestone_created
                                 WHERE milestone_id = ?4 AND created_at >= ?1 + b.i * ?2
                                   AND created_at < ?1 + (b.i + 1) * ?2{'' if agent_type is None else ' AND agent_type = ?5'})
                    FROM b""",
                (window.start, window.width, window.count, mid, *([agent_type] if agent_type else [])),
            ):
                created[c[0]] = c[1]
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
        _check_window(window)
        now = self.db.clock() if now is None else now
        ms_sql, ms_params = ("", []) if milestone_id is None else (" AND g.milestone_id = ?3", [milestone_id])
        decided = await self.db._all(
            f"""SELECT m.name, r.version, g.reviewer, g.decision, g.decided_at - r.submitted_at
                FROM gate_decisions g JOIN validation_reports r ON r.id = g.report_id
                JOIN milestones m ON m.id = g.milestone_id
                WHERE g.decided_at >= ?1 AND g.decided_at < ?2{ms_sql} ORDER BY g.decided_at, g.id""",
            (window.start, window.end, *ms_params),
        )
        ms_sql = "" if milestone_id is None else " AND m.id = ?2"
        awaiting = await self.db._all(
            f"""SELECT m.name, r.version, ?1 - r.submitted_at FROM milestones m
                JOIN validation_reports r ON r.milestone_id = m.id
                  AND r.version = (SELECT max(version) FROM validation_reports WHERE milestone_id = m.id)
                WHERE m.status = 'review'{ms_sql} ORDER BY m.position""",
            (now, *([milestone_id] if milestone_id is not None else [])),
        )
        return GateLatency(
            tuple(GateWait(r[0], r[1], r[2], r[3], max(0.0, r[4])) for r in decided),
            tuple(GateWait(r[0], r[1], None, None, max(0.0, r[2])) for r in awaiting),
        )
