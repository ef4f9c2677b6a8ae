"""Reads of the areas still to come that the agents area's tests need to see a refused write leave
everything as it was (``list_tasks``; ``list_milestones`` is the gates area's now): the same queries
as SQLite's, in PostgreSQL's terms. It moves into the tasks area's class (tasks.py) when that is built."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import identity
from ..domain import tasks
from ..errors import InvalidArgument
from ..models import Task, TaskSource, TaskStatus
from ..rows import tasks_of
from .base import Database

#: A task with its milestone's name and status (for the blocked reason), as SQLite's TASK_SELECT.
TASK_SELECT = """
SELECT t.*, m.status AS milestone_status, m.name AS milestone_name
FROM tasks t LEFT JOIN milestones m ON m.id = t.milestone_id
"""

#: The prerequisites (and their statuses) of the tasks whose ids are the array parameter.
PREREQUISITES_OF = (
    "SELECT d.task_id, d.prerequisite_id, p.status FROM task_dependencies d "
    "JOIN tasks p ON p.id = d.prerequisite_id "
    "WHERE d.task_id = ANY(%s) ORDER BY d.task_id, d.prerequisite_id"
)


async def hydrate(db: Database, rows: list[Any]) -> list[Task]:
    """Attach prerequisites, and say why each blocked task is blocked."""
    if not rows:
        return []
    return tasks_of(rows, await db._all(PREREQUISITES_OF, ([r["id"] for r in rows],)))


class Reads:
    __slots__ = ("db",)

    def __init__(self, db: Database) -> None:
        self.db = db

    async def list_tasks(
        self,
        *,
        status: TaskStatus | str | Sequence[TaskStatus | str] | None = None,
        source: TaskSource | str | None = None,
        agent_type: str | None = None,
        milestone_id: int | None = None,
        assigned_agent: str | None = None,
        held_by_failure: bool = False,
        limit: int = 100,
    ) -> list[Task]:
        """Tasks matching every filter given: by priority when filtered by status, else newest first."""
        if not 1 <= limit <= 100_000:
            raise InvalidArgument("limit must be between 1 and 100000")
        statuses = tasks.check_statuses(status)
        clauses: list[str] = []
        params: list[Any] = []
        if statuses:
            clauses.append("t.status = ANY(%s)")
            params.append(statuses)
        if source is not None:
            clauses.append("t.source = %s")
            params.append(TaskSource(source).value)
        if agent_type is not None:
            clauses.append("t.agent_type = %s")
            params.append(agent_type)
        if milestone_id is not None:
            clauses.append("t.milestone_id = %s")
            params.append(milestone_id)
        if assigned_agent is not None:
            clauses.append("t.assigned_agent = %s")
            params.append(identity.key(assigned_agent) or assigned_agent)
        if held_by_failure:
            clauses.append("t.held_by IS NOT NULL")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "t.priority DESC, t.id" if statuses else "t.id DESC"
        rows = await self.db._all(f"{TASK_SELECT} {where} ORDER BY {order} LIMIT %s", (*params, limit))
        return await hydrate(self.db, rows)

