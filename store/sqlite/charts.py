"""The performance charts' reads on SQLite: bucketed aggregates over finished tasks, queue samples
and gate reviews. The store's part is store/charts.py's ``ChartQueries``, given these reads
(``SqliteChartReads``).

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
from collections.abc import Mapping, Sequence
from typing import Any

from ..charts import QUEUE_SLOT, ChartQueries, Window, task_filters
from .base import Database

__all__ = ["ChartQueries", "SqliteChartReads"]  # the part's class, and what it is given here

_UNFINISHED = "('pending', 'blocked', 'ready', 'running')"
#: The buckets of a window, numbered 0..count-1 (?3 is the count in every query that uses it).
_BUCKETS = "WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i + 1 < ?3)"
#: A bucket's range in tasks_finished (?1 start, ?2 width).
_IN_BUCKET = "finished_at >= ?1 + b.i * ?2 AND finished_at < ?1 + (b.i + 1) * ?2"
#: An agent's completed tasks in [?1, ?2), through tasks_agent.
_DONE_BY_AGENT = """FROM tasks INDEXED BY tasks_agent
    WHERE finished_at >= ?1 AND finished_at < ?2 AND status = 'completed' AND started_at IS NOT NULL"""
#: Completed tasks with an estimate in [?1, ?2), through tasks_finished.
_ESTIMATED = """FROM tasks INDEXED BY tasks_finished
    WHERE finished_at >= ?1 AND finished_at < ?2 AND status = 'completed'
      AND estimated_duration_seconds IS NOT NULL AND started_at IS NOT NULL"""


def _filters(milestone_id: int | None, agent_type: str | None, first: int) -> tuple[str, list[Any]]:
    """SQL for the milestone and agent-type filters (numbered parameters from ``first``)."""
    given = task_filters(milestone_id, agent_type)
    sql = "".join(f" AND {column} = ?{first + k}" for k, (column, _) in enumerate(given))
    return sql, [v for _, v in given]


class SqliteChartReads:
    """The charts' reads (``store.charts.ChartReads``), on the database's reader."""

    __slots__ = ("db",)

    PARAM = "?"

    def __init__(self, db: Database) -> None:
        self.db = db

    async def agent_types(self) -> Sequence[str]:
        # Distinct agent types by hopping through tasks_type: one probe per type, not a pass over tasks.
        types = await self.db._all(
            """WITH RECURSIVE t(v) AS (
                   SELECT (SELECT min(agent_type) FROM tasks)
                   UNION ALL SELECT (SELECT min(agent_type) FROM tasks WHERE agent_type > t.v) FROM t
                   WHERE t.v IS NOT NULL)
               SELECT v FROM t WHERE v IS NOT NULL LIMIT 200"""
        )
        return [r[0] for r in types]

    async def first_event_ts(self) -> float | None:
        # Events are appended in time order: the first by id is the first in time (no index on ts).
        first = await self.db._one("SELECT ts FROM events WHERE id = (SELECT min(id) FROM events)")
        return None if first is None else first[0]

    async def finished(self, window: Window, milestone_id: int | None,
                       agent_type: str | None) -> Mapping[int, Sequence[int]]:
        where, params = _filters(milestone_id, agent_type, 4)
        rows = await self.db._all(
            f"""{_BUCKETS}
                SELECT b.i, (SELECT json_array(count(*) FILTER (WHERE status = 'completed'),
                                               count(*) FILTER (WHERE status = 'failed'))
                             FROM tasks INDEXED BY tasks_finished WHERE {_IN_BUCKET}{where})
                FROM b""",
            (window.start, window.width, window.count, *params),
        )
        return {r[0]: json.loads(r[1]) for r in rows}

    async def queue_samples(self, window: Window) -> Sequence[Sequence[int | None]]:
        # One primary-key probe per bucket into queue_samples.
        return await self.db._all(
            f"""{_BUCKETS}
                SELECT s.blocked, s.ready, s.running FROM b
                LEFT JOIN queue_samples s ON s.slot = (
                    SELECT max(slot) FROM queue_samples
                    WHERE slot < CAST((?1 + (b.i + 1) * ?2) / {QUEUE_SLOT} AS INTEGER))""",
            (window.start, window.width, window.count),
        )

    async def queue_now(self) -> Mapping[str, int]:
        return {r[0]: r[1] for r in await self.db._all(
            "SELECT status, n FROM task_counts WHERE status IN ('blocked', 'ready', 'running')"
        )}

    async def agent_means(self, window: Window, milestone_id: int | None,
                          agent_type: str | None) -> Sequence[tuple[str, int, float | None]]:
        where, params = _filters(milestone_id, agent_type, 3)
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
                              {_DONE_BY_AGENT} AND assigned_agent = a.name{where})
                FROM a WHERE name IS NOT NULL""",
            (window.start, window.end, *params),
        )
        return [(r[0], *json.loads(r[1])) for r in rows]

    async def agent_quantiles(self, window: Window, agents: list[str], milestone_id: int | None,
                              agent_type: str | None) -> Mapping[str, tuple[float, float]]:
        # cume_dist is rank/n over the durations in order: the first value reaching p is the
        # nearest-rank percentile (see store.charts.percentile).
        where, params = _filters(milestone_id, agent_type, 4)
        return {r[0]: (r[1], r[2]) for r in await self.db._all(
            f"""SELECT agent, min(d) FILTER (WHERE cd >= 0.5), min(d) FILTER (WHERE cd >= 0.95) FROM (
                    SELECT assigned_agent AS agent, finished_at - started_at AS d,
                           cume_dist() OVER (PARTITION BY assigned_agent ORDER BY finished_at - started_at) AS cd
                    {_DONE_BY_AGENT} AND assigned_agent IN (SELECT value FROM json_each(?3)){where})
                GROUP BY agent""",
            (window.start, window.end, json.dumps(agents), *params),
        )}

    async def type_spreads(self, window: Window, milestone_id: int | None,
                           agent_type: str | None) -> Sequence[Sequence[Any]]:
        # One range of tasks_finished, the same cume_dist reading as the per-agent percentiles.
        where, params = _filters(milestone_id, agent_type, 3)
        return await self.db._all(
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

    async def failed_attempts(self, window: Window, agents: list[str], milestone_id: int | None,
                              agent_type: str | None) -> Mapping[str, int]:
        # From events_failures.
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

    async def estimates(self, window: Window, milestone_id: int | None, agent_type: str | None,
                        points: int, since: float, until: float,
                        ) -> tuple[Sequence[Sequence[float]], float | None, int]:
        where, params = _filters(milestone_id, agent_type, 4)
        rows = await self.db._all(
            f"""SELECT estimated_duration_seconds, finished_at - started_at {_ESTIMATED}{where}
                ORDER BY finished_at DESC LIMIT ?3""",
            (window.start, window.end, points, *params),
        )
        where, params = _filters(milestone_id, agent_type, 3)
        factor = await self.db._one(
            f"SELECT avg((finished_at - started_at) / estimated_duration_seconds), count(*) {_ESTIMATED}{where}",
            (since, until, *params),
        )
        return rows, factor[0], factor[1]

    async def unfinished(self, ids: list[int], agent_type: str | None) -> Mapping[int, int]:
        type_sql, type_params = ("", []) if agent_type is None else (" AND agent_type = ?2", [agent_type])
        return {r[0]: r[1] for r in await self.db._all(
            f"""SELECT milestone_id, count(*) FROM tasks
                WHERE milestone_id IN (SELECT value FROM json_each(?1)) AND status IN {_UNFINISHED}{type_sql}
                GROUP BY milestone_id""",
            (json.dumps(ids), *type_params),
        )}

    async def finished_by_milestone(self, window: Window, ids: list[int],
                                    agent_type: str | None) -> Mapping[int, list[int]]:
        # One count per milestone in each bucket: one pass over the window's finished tasks.
        slots = ", ".join(f"count(*) FILTER (WHERE milestone_id = ?{5 + k})" for k in range(len(ids)))
        type_sql = "" if agent_type is None else " AND agent_type = ?4"
        rows = await self.db._all(
            f"""{_BUCKETS}
                SELECT b.i, (SELECT json_array({slots}) FROM tasks INDEXED BY tasks_finished
                             WHERE {_IN_BUCKET}{type_sql}) FROM b""",
            (window.start, window.width, window.count, agent_type, *ids),
        )
        finished = {mid: [0] * window.count for mid in ids}
        for r in rows:
            for mid, n in zip(ids, json.loads(r[1])):
                finished[mid][r[0]] = n
        return finished

    async def created(self, window: Window, milestone_id: int, agent_type: str | None) -> list[int]:
        created = [0] * window.count
        for c in await self.db._all(
            f"""{_BUCKETS}
                SELECT b.i, (SELECT count(*) FROM tasks INDEXED BY tasks_milestone_created
                             WHERE milestone_id = ?4 AND created_at >= ?1 + b.i * ?2
                               AND created_at < ?1 + (b.i + 1) * ?2{'' if agent_type is None else ' AND agent_type = ?5'})
                FROM b""",
            (window.start, window.width, window.count, milestone_id, *([agent_type] if agent_type is not None else [])),
        ):
            created[c[0]] = c[1]
        return created
