"""The performance charts' reads on PostgreSQL: the store's part is store/charts.py's ``ChartQueries``,
given these reads (``PgChartReads``), as SQLite's is given its own: the same charts from the same rows.

Each bucket is a row of ``generate_series`` with its edges computed as SQLite computes them (start +
i * width, in doubles), and what falls in it is counted by a LATERAL subquery over that range of an
index: ``tasks_finished`` (finish time, then the filters' columns) for finished work,
``tasks_milestone_created`` for a milestone's new tasks, ``queue_samples``' primary key for the
queue. Per-agent figures hop from agent to agent through ``tasks_agent`` (a recursive CTE, one probe
each) and read each agent's window as one range. Failed attempts come from ``events_failures``
(``payload::jsonb ->> 'agent'``, the expression of the index). Names are ordered as SQLite orders
them (code points: ``COLLATE "C"``), not by the database's locale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..charts import QUEUE_SLOT, ChartQueries, Window, task_filters
from .base import Database

__all__ = ["ChartQueries", "PgChartReads"]  # the part's class, and what it is given here

_UNFINISHED = "('pending', 'blocked', 'ready', 'running')"
#: The window's buckets: i, and its range [lo, hi) (parameters: ``_bucket_params``).
_BUCKETS = ("(SELECT i, %s + i * %s AS lo, %s + (i + 1) * %s AS hi "
            "FROM generate_series(0, %s) AS i) AS b")
#: An agent's completed tasks in [%s, %s), through tasks_agent.
_DONE_BY_AGENT = ("FROM tasks WHERE finished_at >= %s AND finished_at < %s AND status = 'completed' "
                  "AND started_at IS NOT NULL")
#: Completed tasks with an estimate in [%s, %s), through tasks_finished.
_ESTIMATED = ("FROM tasks WHERE finished_at >= %s AND finished_at < %s AND status = 'completed' "
              "AND estimated_duration_seconds IS NOT NULL AND started_at IS NOT NULL")
#: The agent of a failure event, as events_failures indexes it.
_FAILED_AGENT = "((payload::jsonb) ->> 'agent')"


def _bucket_params(window: Window) -> tuple[Any, ...]:
    return (window.start, window.width, window.start, window.width, window.count - 1)


def _filters(milestone_id: int | None, agent_type: str | None) -> tuple[str, list[Any]]:
    """SQL for the milestone and agent-type filters, and their parameters."""
    given = task_filters(milestone_id, agent_type)
    return "".join(f" AND {column} = %s" for column, _ in given), [v for _, v in given]


class PgChartReads:
    """The charts' reads (``store.charts.ChartReads``), on the database's reader."""

    __slots__ = ("db",)

    PARAM = "%s"

    def __init__(self, db: Database) -> None:
        self.db = db

    async def agent_types(self) -> Sequence[str]:
        # Distinct agent types by hopping through tasks_type (a loose index scan): one probe per type,
        # not a pass over tasks; sorted as SQLite sorts them.
        types = await self.db._all(
            """WITH RECURSIVE t(v) AS (
                   (SELECT agent_type FROM tasks ORDER BY agent_type LIMIT 1)
                   UNION ALL
                   SELECT n.agent_type FROM t CROSS JOIN LATERAL (
                       SELECT agent_type FROM tasks WHERE agent_type > t.v ORDER BY agent_type LIMIT 1) AS n)
               SELECT v FROM t LIMIT 200"""
        )
        return sorted(r[0] for r in types)

    async def first_event_ts(self) -> float | None:
        first = await self.db._one("SELECT ts FROM events WHERE seq IS NOT NULL ORDER BY seq LIMIT 1")
        return None if first is None else first[0]

    async def finished(self, window: Window, milestone_id: int | None,
                       agent_type: str | None) -> Mapping[int, Sequence[int]]:
        where, params = _filters(milestone_id, agent_type)
        rows = await self.db._all(
            f"""SELECT b.i, c.completed, c.failed FROM {_BUCKETS}
                CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE status = 'completed') AS completed,
                                           count(*) FILTER (WHERE status = 'failed') AS failed FROM tasks
                                    WHERE finished_at >= b.lo AND finished_at < b.hi{where}) AS c""",
            (*_bucket_params(window), *params),
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    async def queue_samples(self, window: Window) -> Sequence[Sequence[int | None]]:
        # One primary-key probe per bucket: the last sample before its end.
        return await self.db._all(
            f"""SELECT s.blocked, s.ready, s.running FROM {_BUCKETS}
                LEFT JOIN queue_samples s ON s.slot = (
                    SELECT max(slot) FROM queue_samples WHERE slot < trunc(b.hi / {QUEUE_SLOT})::bigint)
                ORDER BY b.i""",
            _bucket_params(window),
        )

    async def queue_now(self) -> Mapping[str, int]:
        return {r[0]: r[1] for r in await self.db._all(
            "SELECT status, n FROM task_counts WHERE status IN ('blocked', 'ready', 'running')"
        )}

    async def agent_means(self, window: Window, milestone_id: int | None,
                          agent_type: str | None) -> Sequence[tuple[str, int, float | None]]:
        where, params = _filters(milestone_id, agent_type)
        # Every agent that ever finished a task, one probe each into tasks_agent, then that agent's
        # window as one index range: no sort of the whole window to group it.
        rows = await self.db._all(
            f"""WITH RECURSIVE a(name) AS (
                    SELECT (SELECT min(assigned_agent) FROM tasks
                            WHERE assigned_agent IS NOT NULL AND finished_at IS NOT NULL)
                    UNION ALL
                    SELECT (SELECT min(assigned_agent) FROM tasks
                            WHERE assigned_agent > a.name AND finished_at IS NOT NULL)
                    FROM a WHERE a.name IS NOT NULL)
                SELECT a.name, s.n, s.mean FROM a
                CROSS JOIN LATERAL (SELECT count(*) AS n, avg(finished_at - started_at) AS mean
                                    {_DONE_BY_AGENT} AND assigned_agent = a.name{where}) AS s
                WHERE a.name IS NOT NULL""",
            (window.start, window.end, *params),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def agent_quantiles(self, window: Window, agents: list[str], milestone_id: int | None,
                              agent_type: str | None) -> Mapping[str, tuple[float, float]]:
        # cume_dist is rank/n over the durations in order: the first value reaching p is the
        # nearest-rank percentile (see store.charts.percentile).
        where, params = _filters(milestone_id, agent_type)
        return {r[0]: (r[1], r[2]) for r in await self.db._all(
            f"""SELECT agent, min(d) FILTER (WHERE cd >= 0.5), min(d) FILTER (WHERE cd >= 0.95) FROM (
                    SELECT assigned_agent AS agent, finished_at - started_at AS d,
                           cume_dist() OVER (PARTITION BY assigned_agent
                                             ORDER BY finished_at - started_at) AS cd
                    {_DONE_BY_AGENT} AND assigned_agent = ANY(%s){where}) AS q
                GROUP BY agent""",
            (window.start, window.end, agents, *params),
        )}

    async def type_spreads(self, window: Window, milestone_id: int | None,
                           agent_type: str | None) -> Sequence[Sequence[Any]]:
        # One range of tasks_finished, the same cume_dist reading as the per-agent percentiles.
        where, params = _filters(milestone_id, agent_type)
        return await self.db._all(
            f"""SELECT agent_type, count(*), min(d) FILTER (WHERE cd >= 0.5),
                       min(d) FILTER (WHERE cd >= 0.95), max(d) FROM (
                    SELECT agent_type, finished_at - started_at AS d,
                           cume_dist() OVER (PARTITION BY agent_type ORDER BY finished_at - started_at) AS cd
                    FROM tasks WHERE finished_at >= %s AND finished_at < %s AND status = 'completed'
                      AND started_at IS NOT NULL{where}) AS q
                GROUP BY agent_type ORDER BY agent_type COLLATE "C"
            """,
            (window.start, window.end, *params),
        )

    async def failed_attempts(self, window: Window, agents: list[str], milestone_id: int | None,
                              agent_type: str | None) -> Mapping[str, int]:
        task_filter, params = "", []
        if milestone_id is not None or agent_type is not None:
            where, params = _filters(milestone_id, agent_type)
            # An entity_id that is not a number matches no task (SQLite's CAST reads it as 0), not an error.
            task_id = "CASE WHEN e.entity_id ~ '^[0-9]{1,18}$' THEN e.entity_id::bigint END"
            task_filter = f" AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = {task_id}{where})"
        rows = await self.db._all(
            f"""SELECT {_FAILED_AGENT}, count(*) FROM events e
                WHERE kind IN ('task.failed', 'task.retried') AND {_FAILED_AGENT} = ANY(%s)
                  AND ts >= %s AND ts < %s{task_filter}
                GROUP BY 1""",
            (agents, window.start, window.end, *params),
        )
        return {r[0]: r[1] for r in rows}

    async def estimates(self, window: Window, milestone_id: int | None, agent_type: str | None,
                        points: int, since: float, until: float,
                        ) -> tuple[Sequence[Sequence[float]], float | None, int]:
        # One round trip: the window's most recent points (as an array of pairs) beside the factor.
        where, params = _filters(milestone_id, agent_type)
        row = await self.db._one(
            f"""WITH recent AS (SELECT estimated_duration_seconds AS estimate,
                                       finished_at - started_at AS took, finished_at
                                {_ESTIMATED}{where} ORDER BY finished_at DESC LIMIT %s)
                SELECT (SELECT array_agg(ARRAY[estimate::float8, took] ORDER BY finished_at DESC)
                        FROM recent),
                       avg((finished_at - started_at) / estimated_duration_seconds), count(*)
                {_ESTIMATED}{where}""",
            (window.start, window.end, *params, points, since, until, *params),
        )
        return row[0] or [], row[1], row[2]

    async def unfinished(self, ids: list[int], agent_type: str | None) -> Mapping[int, int]:
        type_sql, type_params = ("", []) if agent_type is None else (" AND agent_type = %s", [agent_type])
        return {r[0]: r[1] for r in await self.db._all(
            f"""SELECT milestone_id, count(*) FROM tasks
                WHERE milestone_id = ANY(%s) AND status IN {_UNFINISHED}{type_sql}
                GROUP BY milestone_id""",
            (ids, *type_params),
        )}

    async def finished_by_milestone(self, window: Window, ids: list[int],
                                    agent_type: str | None) -> Mapping[int, list[int]]:
        # One count per milestone in each bucket: one pass over the window's finished tasks.
        slots = ", ".join(f"count(*) FILTER (WHERE milestone_id = %s) AS m{k}" for k in range(len(ids)))
        type_sql, type_params = ("", []) if agent_type is None else (" AND agent_type = %s", [agent_type])
        rows = await self.db._all(
            f"""SELECT b.i, c.* FROM {_BUCKETS}
                CROSS JOIN LATERAL (SELECT {slots} FROM tasks
                                    WHERE finished_at >= b.lo AND finished_at < b.hi{type_sql}) AS c""",
            (*_bucket_params(window), *ids, *type_params),
        )
        finished = {mid: [0] * window.count for mid in ids}
        for r in rows:
            for mid, n in zip(ids, r[1:]):
                finished[mid][r[0]] = n
        return finished

    async def created(self, window: Window, milestone_id: int, agent_type: str | None) -> list[int]:
        type_sql, type_params = ("", []) if agent_type is None else (" AND agent_type = %s", [agent_type])
        rows = await self.db._all(
            f"""SELECT b.i, c.n FROM {_BUCKETS}
                CROSS JOIN LATERAL (SELECT count(*) AS n FROM tasks WHERE milestone_id = %s
                                      AND created_at >= b.lo AND created_at < b.hi{type_sql}) AS c""",
            (*_bucket_params(window), milestone_id, *type_params),
        )
        created = [0] * window.count
        for r in rows:
            created[r[0]] = r[1]
        return created
