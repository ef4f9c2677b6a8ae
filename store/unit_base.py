"""The unit-of-work operations (store/domain/uow.py) that are the same statement on both backends, and the
task queue's SQL they share: the base of SqliteUnit (store/sqlite/uow.py) and PgUnit (store/postgres/uow.py).

The statements are written in SQLite's SQL and run through the backend's dialect (store/sql_dialect.py):
``?`` placeholders, ``Sql.ids`` for a column among a list of ids, ``Sql.unindexed`` for SQLite's ``+column``
index hints, ``Sql.insert`` for a new row's id. A backend's unit gives its dialect and overrides only what
truly differs: PostgreSQL's row locks (its module docstring says which and why), SQLite's claim and release
with their index hints and the completion that chains the events, and the recursive walks each planner
wants written its own way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from .domain.uow import PriorityInputs
from .models import Task, TaskStatus
from .rows import task_from_row
from .sql_dialect import Sql

#: The statuses of a task that is not finished, as SQL.
UNFINISHED_SQL = "('pending', 'blocked', 'ready', 'running')"

#: A task with its milestone's name and status (for the blocked reason).
TASK_SELECT = """
SELECT t.*, m.status AS milestone_status, m.plan_state AS milestone_plan,
       m.name AS milestone_name
FROM tasks t LEFT JOIN milestones m ON m.id = t.milestone_id
"""

#: Tasks with the count of their unfinished dependents (``n``): their priority's inputs.
PRIORITY_INPUTS = f"""SELECT t.*, (SELECT count(*) FROM task_dependencies d JOIN tasks c ON c.id = d.task_id
    WHERE d.prerequisite_id = t.id AND c.status IN {UNFINISHED_SQL}) AS n FROM tasks t"""

_INSERT_TASK = """INSERT INTO tasks (description, summary, source, agent_type, base_priority, status,
                   priority, dependency_depth, milestone_id, parent_task_id, session_id, deadline,
                   estimated_duration_seconds, input_data, max_retries, timeout_seconds,
                   created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {json}, ?, ?, ?, ?)"""


def priority_inputs_of(row: Any, unfinished_dependents: int) -> PriorityInputs:
    """A task row's priority factors."""
    return PriorityInputs(row["id"], row["priority"], row["base_priority"], row["dependency_depth"],
                          row["deadline"], row["estimated_duration_seconds"], row["source"],
                          unfinished_dependents)


class UnitBase:
    """What ``domain.uow.Unit`` is the same on both backends, over one write transaction ``tx``.
    ``signatures``: the store's verdicts and gate guard, which outlive the transaction."""

    __slots__ = ("tx", "now", "actor", "_signatures", "_mark", "_sql_tx")

    #: The backend's SQL (store/sql_dialect.py).
    sql: ClassVar[Sql]
    #: A JSON text parameter as the backend's JSON columns take it.
    json_param: ClassVar[str] = "?"

    def __init__(self, tx: Any, signatures: Any = None) -> None:
        self.tx = tx
        self.now = tx.now
        self.actor = tx.actor
        self._signatures = signatures
        self._mark: tuple[Any, ...] | None = None  # the guard's mark, read with the pause flag
        self._sql_tx = self.sql.tx(tx)  # ``tx`` taking the statements below as written

    # -- the task queue: reads ----------------------------------------------------------------------

    def task_exists(self, task_id: int) -> bool:
        return self._sql_tx.one("SELECT 1 FROM tasks WHERE id = ?", (task_id,)) is not None

    def dependents_of(self, task_id: int) -> list[int]:
        rows = self._sql_tx.all("SELECT task_id FROM task_dependencies WHERE prerequisite_id = ?", (task_id,))
        return [r[0] for r in rows]

    def unfinished_prerequisites_of(self, task_ids: Sequence[int]) -> list[int]:
        # `+p.status` on SQLite: start from the given tasks' edges, not from every unfinished task.
        among, ids = self.sql.ids("d.task_id", task_ids)
        rows = self._sql_tx.all(
            "SELECT DISTINCT d.prerequisite_id FROM task_dependencies d "
            "JOIN tasks p ON p.id = d.prerequisite_id "
            f"WHERE {among} AND {self.sql.unindexed('p.status')} IN {UNFINISHED_SQL}",
            (ids,),
        )
        return [r[0] for r in rows]

    def depth_edges(self, task_ids: Sequence[int]) -> list[tuple[int, int, int]]:
        among, ids = self.sql.ids("d.task_id", task_ids)
        rows = self._sql_tx.all(
            "SELECT d.task_id, d.prerequisite_id, p.dependency_depth FROM task_dependencies d "
            f"JOIN tasks p ON p.id = d.prerequisite_id WHERE {among}",
            (ids,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def priority_inputs(self, task_ids: Sequence[int]) -> list[PriorityInputs]:
        among, ids = self.sql.ids("t.id", task_ids)
        return [priority_inputs_of(row, row["n"])
                for row in self._sql_tx.all(f"{PRIORITY_INPUTS} WHERE {among}", (ids,))]

    def waiting_with_deadline(self) -> list[int]:
        rows = self._sql_tx.all(
            "SELECT id FROM tasks WHERE deadline IS NOT NULL AND status IN ('pending', 'blocked', 'ready')"
        )
        return [r[0] for r in rows]

    # -- the task queue: writes ---------------------------------------------------------------------

    def insert_task(self, *, description: str, summary: str | None, source: str, agent_type: str,
                    base_priority: int, status: str, priority: float, dependency_depth: int,
                    milestone_id: int | None, parent_task_id: int | None, session_id: str | None,
                    deadline: float | None, estimated_duration_seconds: int | None, input_json: str | None,
                    max_retries: int, timeout_seconds: int) -> int:
        return self.sql.insert(
            self._sql_tx, _INSERT_TASK.format(json=self.json_param),
            (description, summary, source, agent_type, base_priority, status, priority,
             dependency_depth, milestone_id, parent_task_id, session_id, deadline,
             estimated_duration_seconds, input_json, max_retries, timeout_seconds, self.now, self.now),
        )

    def add_dependencies(self, task_id: int, prerequisite_ids: Iterable[int]) -> None:
        self._sql_tx.many(
            "INSERT INTO task_dependencies (task_id, prerequisite_id) VALUES (?, ?)",
            [(task_id, p) for p in prerequisite_ids],
        )

    def _returned(self, row: Any) -> Task:
        """A running or finished task from the row its UPDATE returned: its prerequisites are read
        only if it has any (a depth of 0 says it has none); it has no blocked reason to give."""
        if not row["dependency_depth"]:
            return task_from_row(row)
        prerequisites = self._sql_tx.all(
            "SELECT prerequisite_id FROM task_dependencies WHERE task_id = ? ORDER BY prerequisite_id",
            (row["id"],),
        )
        return task_from_row(row, tuple(r[0] for r in prerequisites))

    def set_task_status(self, task_id: int, status: TaskStatus) -> None:
        self._sql_tx.run("UPDATE tasks SET status = ?, updated_at = ? WHERE id = ?",
                         (status.value, self.now, task_id))

    def park_task(self, task_id: int) -> None:
        self._sql_tx.run("UPDATE tasks SET status = 'blocked', assigned_agent = NULL, started_at = NULL, "
                         "lease_expires_at = NULL, updated_at = ? WHERE id = ?", (self.now, task_id))

    def retry_later(self, task_id: int, error: str) -> None:
        self._sql_tx.run(
            "UPDATE tasks SET status = 'ready', retry_count = retry_count + 1, error_message = ?, "
            "assigned_agent = NULL, started_at = NULL, lease_expires_at = NULL, updated_at = ? "
            "WHERE id = ?",
            (error, self.now, task_id),
        )

    def mark_failed(self, task_id: int, error: str) -> None:
        self._sql_tx.run(
            "UPDATE tasks SET status = 'failed', error_message = ?, finished_at = ?, "
            "lease_expires_at = NULL, updated_at = ? WHERE id = ?",
            (error, self.now, self.now, task_id),
        )

    def requeue_failed(self, task_id: int) -> None:
        self._sql_tx.run(
            "UPDATE tasks SET status = 'blocked', retry_count = retry_count + 1, finished_at = NULL, "
            "archived_at = NULL, assigned_agent = NULL, started_at = NULL, updated_at = ? WHERE id = ?",
            (self.now, task_id),
        )

    def mark_cancelled(self, task_id: int, reason: str | None) -> None:
        self._sql_tx.run(
            "UPDATE tasks SET status = 'cancelled', finished_at = ?, lease_expires_at = NULL, "
            "held_by = NULL, updated_at = ?, error_message = coalesce(?, error_message) WHERE id = ?",
            (self.now, self.now, reason, task_id),
        )

    def set_priority(self, task_id: int, priority: float) -> None:
        self._sql_tx.run("UPDATE tasks SET priority = ? WHERE id = ?", (priority, task_id))

    def set_base_priority(self, task_id: int, base_priority: int) -> None:
        self._sql_tx.run("UPDATE tasks SET base_priority = ?, updated_at = ? WHERE id = ?",
                         (base_priority, self.now, task_id))

    def set_depth(self, task_id: int, depth: int) -> None:
        self._sql_tx.run("UPDATE tasks SET dependency_depth = ? WHERE id = ?", (depth, task_id))

    def add_milestone_hours(self, milestone_id: int, hours: float) -> None:
        self._sql_tx.run("UPDATE milestones SET hours_spent = hours_spent + ? WHERE id = ?",
                         (hours, milestone_id))

    def set_held_by(self, task_id: int, failed_id: int | None) -> None:
        self._sql_tx.run("UPDATE tasks SET held_by = ? WHERE id = ?", (failed_id, task_id))
