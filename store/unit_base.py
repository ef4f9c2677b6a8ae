"""The unit-of-work operations (store/domain/uow.py) that are the same statement on both backends, and the
task queue's SQL they share: the base of SqliteUnit (store/sqlite/uow.py) and PgUnit (store/postgres/uow.py).

The statements are written in SQLite's SQL and run through the backend's dialect (store/sql_dialect.py):
``?`` placeholders, ``Sql.ids`` for a column among a list of ids, ``Sql.unindexed`` for SQLite's ``+column``
index hints, ``Sql.insert`` for a new row's id, ``Sql.greatest``; a unit's ``json_param`` and ``id_param``
say how a JSON and a walk's first id are given, and ``_reaped`` what a reaper's read ends with. A backend's
unit overrides only what truly differs: PostgreSQL's row locks and the gates' lock (its module docstring
says which and why), SQLite's claim, release and completion with their index hints and the event chain,
each one's read of the pause flag, of a task and of the tasks a failure holds.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from . import milestone_refs
from .domain.gates import GateGuard
from .domain.uow import ConditionRow, EscalatedGate, Lease, Pause, PriorityInputs, Silent
from .errors import NotFound
from .models import (
    Agent,
    Condition,
    Criterion,
    Decision,
    GateDecision,
    Metric,
    Milestone,
    ReportIssue,
    Reviewer,
    Task,
    TaskStatus,
    ValidationReport,
)
from .reads import All, One, Reads
from .rows import (
    agent_from_row,
    condition_from_row,
    decision_from_row,
    dumps,
    milestone_from_row,
    report_from_rows,
    reviewer_from_row,
    task_from_row,
)
from .sql_dialect import DECISION_SELECT, Sql

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

#: Every unfinished task that waits on the task, transitively (the task itself left out). ``{id}``: the
#: unit's ``id_param``. `IN (SELECT id FROM down)`, not a join: a join let SQLite scan every task in id
#: order to meet `down`.
CASCADE = """WITH RECURSIVE down(id) AS (SELECT {id} UNION
                 SELECT d.task_id FROM task_dependencies d JOIN down ON d.prerequisite_id = down.id)
             SELECT t.id FROM tasks t
             WHERE t.id IN (SELECT id FROM down) AND t.id != ? AND t.status NOT IN ('completed', 'cancelled')
             ORDER BY t.id"""

#: The edges among the task and everything it waits on, transitively. `IN (SELECT id FROM up)` (not a
#: join) keeps SQLite from scanning all of task_dependencies to meet `up`.
_UPSTREAM_EDGES = """WITH RECURSIVE up(id) AS (SELECT {id} UNION
                         SELECT d.prerequisite_id FROM task_dependencies d JOIN up ON d.task_id = up.id)
                     SELECT d.task_id, d.prerequisite_id FROM task_dependencies d
                     WHERE d.task_id IN (SELECT id FROM up)"""

#: The task and everything that waits on it, transitively.
_DOWNSTREAM = """WITH RECURSIVE down(id) AS (SELECT {id} UNION
                     SELECT d.task_id FROM task_dependencies d JOIN down ON d.prerequisite_id = down.id)
                 SELECT id FROM down"""

#: The failed tasks the task waits on, through unfinished ones.
_FAILED_UPSTREAM = f"""WITH RECURSIVE up(id) AS (SELECT {{id}} UNION
                           SELECT d.prerequisite_id FROM task_dependencies d JOIN up ON d.task_id = up.id
                           JOIN tasks p ON p.id = d.prerequisite_id WHERE p.status IN {UNFINISHED_SQL})
                       SELECT DISTINCT d.prerequisite_id FROM task_dependencies d
                       JOIN tasks p ON p.id = d.prerequisite_id
                       WHERE d.task_id IN (SELECT id FROM up) AND p.status = 'failed' ORDER BY 1"""

_INSERT_TASK = """INSERT INTO tasks (description, summary, source, agent_type, base_priority, status,
                   priority, dependency_depth, milestone_id, parent_task_id, session_id, deadline,
                   estimated_duration_seconds, input_data, max_retries, timeout_seconds,
                   created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {json}, ?, ?, ?, ?)"""


#: The milestone after ``position`` that is still locked: the one a passed gate opens.
NEXT_LOCKED = "SELECT * FROM milestones WHERE position > ? AND status = 'locked' ORDER BY position LIMIT 1"

#: The agent fields an update may set, which are also their columns' names; the JSON ones are given as
#: JSON text.
_AGENT_COLUMNS = frozenset({"status", "current_task_id", "completion", "blockers", "next_milestone",
                            "last_heartbeat", "blockers_since"})
_JSON_AGENT_COLUMNS = frozenset({"blockers", "blockers_since"})

#: The agent is idle if it was on the task, and heard from now either way (every SET reads the old row).
_RELEASE_HEARD = ("UPDATE agents SET last_heartbeat = ?, "
                  "status = CASE WHEN current_task_id = ? THEN 'idle' ELSE status END, "
                  "current_task_id = CASE WHEN current_task_id = ? THEN NULL ELSE current_task_id END "
                  "WHERE name = ?")


@functools.lru_cache(maxsize=64)
def _agent_update_sql(columns: tuple[str, ...], json_param: str) -> str:
    """The UPDATE of these agent columns (checked against ``_AGENT_COLUMNS`` first), built once per set."""
    assignments = ", ".join(f"{c} = {json_param if c in _JSON_AGENT_COLUMNS else '?'}" for c in columns)
    return f"UPDATE agents SET {assignments} WHERE name = ? RETURNING *"


def priority_inputs_of(row: Any, unfinished_dependents: int) -> PriorityInputs:
    """A task row's priority factors."""
    return PriorityInputs(row["id"], row["priority"], row["base_priority"], row["dependency_depth"],
                          row["deadline"], row["estimated_duration_seconds"], row["source"],
                          unfinished_dependents)


class MilestoneReads:
    """The milestone and report lookups the units and the gates' reads share: ``Reads`` generators
    (store/reads.py) in a backend's SQL."""

    __slots__ = ("_q",)

    def __init__(self, sql: Sql) -> None:
        self._q = sql.q

    def milestone(self, ref: int | str) -> Reads[Milestone]:
        """The milestone ``ref`` names (store/milestone_refs.py's rules), or its NotFound / InvalidArgument.
        An id that exists costs one probe; any other reference reads the names (milestones are few)."""
        by_id = self._q("SELECT * FROM milestones WHERE id = ?")
        number = milestone_refs.as_id(ref)
        if number is not None and number < 2**63:  # beyond 64-bit integers no row can match
            row = yield One(by_id, (number,))
            if row is not None:
                return milestone_from_row(row)
        names = yield All("SELECT id, name FROM milestones ORDER BY position", ())
        found = milestone_refs.resolve(ref, [(r[0], r[1]) for r in names])
        row = yield One(by_id, (found,))
        return milestone_from_row(row)

    def report(self, milestone_id: int, version: int | None) -> Reads[ValidationReport | None]:
        """A version of the milestone's validation report (the latest by default); None if none was
        submitted, NotFound if the version asked for was not."""
        q = self._q
        if version is None:
            row = yield One(
                q("SELECT * FROM validation_reports WHERE milestone_id = ? ORDER BY version DESC LIMIT 1"),
                (milestone_id,),
            )
        else:
            row = yield One(
                q("SELECT * FROM validation_reports WHERE milestone_id = ? AND version = ?"),
                (milestone_id, version),
            )
        if row is None:
            if version is not None:
                raise NotFound(f"milestone {milestone_id} has no report version {version}")
            return None
        rid = (row["id"],)
        lines = "SELECT * FROM {} WHERE report_id = ? ORDER BY position"  # a report's lines, in order
        crit = yield All(q(lines.format("report_criteria")), rid)
        mets = yield All(q(lines.format("report_metrics")), rid)
        iss = yield All(q(lines.format("report_issues")), rid)
        recs = yield All(q(lines.format("report_recommendations")), rid)
        return report_from_rows(row, crit, mets, iss, recs)


class UnitBase:
    """What ``domain.uow.Unit`` is the same on both backends, over one write transaction ``tx``.
    ``signatures``: the store's verdicts and gate guard, which outlive the transaction."""

    __slots__ = ("tx", "now", "actor", "_signatures", "_mark", "_sql_tx", "_agents")

    #: The backend's SQL (store/sql_dialect.py).
    sql: ClassVar[Sql]
    #: A JSON text parameter as the backend's JSON columns take it.
    json_param: ClassVar[str] = "?"
    #: A task id parameter as a recursive walk's first row takes it.
    id_param: ClassVar[str] = "?"
    #: The milestone and report lookups, in the backend's SQL.
    reads: ClassVar[MilestoneReads]
    #: The pause flag and reason, what the backend reads along with them (``_read_with_pause``) and
    #: the guard's mark, in one statement (backend SQL); and the same ending in whether the agent
    #: named by its one parameter is registered.
    pause_sql: ClassVar[str]
    pause_and_agent_sql: ClassVar[str]

    def __init__(self, tx: Any, signatures: Any = None) -> None:
        self.tx = tx
        self.now = tx.now
        self.actor = tx.actor
        self._signatures = signatures
        self._mark: tuple[Any, ...] | None = None  # the guard's mark, read with the pause flag
        self._sql_tx = self.sql.tx(tx)  # ``tx`` taking the statements below as written
        #: Whether an agent is registered, read with the pause flag (``swarm_pause(agent)``): a claim's
        #: next question, answered without a statement of its own.
        self._agents: dict[str, bool] = {}

    # -- the swarm and the gates' guard ----------------------------------------------------------

    def swarm_pause(self, agent: str | None = None) -> Pause:
        if agent is None:
            row = self.tx.one(self.pause_sql)
        else:  # and whether the agent is registered, for the claim's next question
            row = self.tx.one(self.pause_and_agent_sql, (agent,))
            self._agents[agent] = bool(row[-1])
            row = row[:-1]
        self._mark = self._read_with_pause(row[2:])
        return Pause(bool(row[0]), row[1])

    def _read_with_pause(self, rest: Sequence[Any]) -> tuple[Any, ...]:
        """The columns after the pause flag and reason: the guard's mark (a backend may read more first)."""
        return tuple(rest)

    def gate_guard(self) -> GateGuard:
        mark, self._mark = self._mark, None
        kept = None if mark is None else self._signatures.cached_guard(mark)
        return kept if kept is not None else self.tx.read(self._signatures.gate_guard(mark))

    def pause_swarm(self, reason: str, by: str) -> None:
        self._sql_tx.run(
            "UPDATE swarm_state SET paused = 1, reason = ?, paused_by = ?, paused_at = ? WHERE id = 1",
            (reason, by, self.now),
        )

    def unpause_swarm(self) -> None:
        self._sql_tx.run(
            "UPDATE swarm_state SET paused = 0, reason = NULL, paused_by = NULL, paused_at = NULL")


    # -- agents ----------------------------------------------------------------------------------

    def agent_exists(self, name: str) -> bool:
        known = self._agents.pop(name, None)  # read along with the pause flag, just before
        if known is not None:
            return known
        return self._sql_tx.one("SELECT 1 FROM agents WHERE name = ?", (name,)) is not None

    def set_agent_working(self, name: str, task_id: int, *, seen_at: float) -> None:
        self._sql_tx.run(
            "UPDATE agents SET status = 'working', current_task_id = ?, completion = 0, last_heartbeat = ? "
            "WHERE name = ?",
            (task_id, seen_at, name),
        )

    def touch_agent(self, name: str, *, seen_at: float) -> bool:
        return bool(self._sql_tx.run("UPDATE agents SET last_heartbeat = ? WHERE name = ?", (seen_at, name)))

    def release_agent(self, name: str, task_id: int, *, seen_at: float | None = None) -> None:
        if seen_at is not None:
            self._sql_tx.run(_RELEASE_HEARD, (seen_at, task_id, task_id, name))
            return
        self._sql_tx.run(
            "UPDATE agents SET status = 'idle', current_task_id = NULL "
            "WHERE name = ? AND current_task_id = ?",
            (name, task_id),
        )

    def agent(self, name: str) -> Agent:
        row = self._sql_tx.one("SELECT * FROM agents WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"agent {name!r} is not registered")
        return agent_from_row(row, self.now)

    def upsert_agent(self, name: str, *, agent_type: str, colour: str | None, model: str | None,
                     stale_after_seconds: float, requeue_after_seconds: float) -> None:
        self._sql_tx.run(
            """INSERT INTO agents (name, agent_type, colour, model, stale_after_seconds,
                                   requeue_after_seconds, registered_at, last_heartbeat)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (name) DO UPDATE SET agent_type = excluded.agent_type,
                   colour = coalesce(excluded.colour, agents.colour),
                   model = coalesce(excluded.model, agents.model),
                   stale_after_seconds = excluded.stale_after_seconds,
                   requeue_after_seconds = excluded.requeue_after_seconds,
                   last_heartbeat = excluded.last_heartbeat,
                   status = CASE agents.status WHEN 'offline' THEN 'idle' ELSE agents.status END""",
            (name, agent_type, colour, model, stale_after_seconds, requeue_after_seconds, self.now, self.now),
        )

    def update_agent(self, name: str, fields: dict[str, Any]) -> Agent | None:
        # The columns are the Agent fields' own names, from a fixed set: never text from a caller.
        if not _AGENT_COLUMNS.issuperset(fields):
            raise ValueError(f"not an agent field to update: {sorted(set(fields) - _AGENT_COLUMNS)}")
        values = [dumps(v) if k in _JSON_AGENT_COLUMNS else v for k, v in fields.items()]  # stored as JSON
        row = self._sql_tx.one(_agent_update_sql(tuple(fields), self.json_param), (*values, name))
        return None if row is None else agent_from_row(row, self.now)


    # -- reviewers -------------------------------------------------------------------------------

    def reviewer(self, name: str) -> Reviewer | None:
        row = self._sql_tx.one("SELECT * FROM reviewers WHERE name = ?", (name,))
        return None if row is None else reviewer_from_row(row)

    def any_active_reviewer(self) -> bool:
        return self._sql_tx.one("SELECT 1 FROM reviewers WHERE removed_at IS NULL LIMIT 1") is not None

    def insert_reviewer(self, name: str, *, public_key: bytes | None, by: str) -> None:
        self._sql_tx.run("INSERT INTO reviewers (name, public_key, added_at, added_by) VALUES (?, ?, ?, ?)",
                         (name, public_key, self.now, by))

    def readmit_reviewer(self, name: str, *, public_key: bytes | None, by: str) -> None:
        self._sql_tx.run("UPDATE reviewers SET added_at = ?, added_by = ?, removed_at = NULL, "
                         "removed_by = NULL, public_key = coalesce(public_key, ?) WHERE name = ?",
                         (self.now, by, public_key, name))

    def set_reviewer_key(self, name: str, public_key: bytes) -> None:
        self._sql_tx.run("UPDATE reviewers SET public_key = ? WHERE name = ?", (public_key, name))

    def remove_reviewer(self, name: str, *, by: str) -> None:
        self._sql_tx.run("UPDATE reviewers SET removed_at = ?, removed_by = ? WHERE name = ?",
                         (self.now, by, name))


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

    def cascade_of(self, task_id: int) -> list[int]:
        return [r[0] for r in self._sql_tx.all(CASCADE.format(id=self.id_param), (task_id, task_id))]

    def upstream_edges(self, task_id: int) -> list[tuple[int, int]]:
        rows = self._sql_tx.all(_UPSTREAM_EDGES.format(id=self.id_param), (task_id,))
        return [(r[0], r[1]) for r in rows]

    def downstream_of(self, task_id: int) -> list[int]:
        return [r[0] for r in self._sql_tx.all(_DOWNSTREAM.format(id=self.id_param), (task_id,))]

    def failed_upstream(self, task_id: int) -> list[int]:
        return [r[0] for r in self._sql_tx.all(_FAILED_UPSTREAM.format(id=self.id_param), (task_id,))]

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

    # -- the task queue: liveness -------------------------------------------------------------------

    def held_by(self, failed_id: int) -> list[int]:
        rows = self._sql_tx.all("SELECT id FROM tasks WHERE held_by = ? ORDER BY id", (failed_id,))
        return [r[0] for r in rows]

    def _reaped(self, table: str) -> str:
        """What a reaper's read of ``table``'s running tasks ends with: nothing here (PostgreSQL's unit
        locks them)."""
        return ""

    def expired_leases(self) -> list[Lease]:
        rows = self._sql_tx.all(
            "SELECT id, assigned_agent, timeout_seconds FROM tasks "
            f"WHERE status = 'running' AND lease_expires_at < ?{self._reaped('tasks')}",
            (self.now,),
        )
        return [Lease(r[0], r[1], r[2]) for r in rows]

    def silent_agents_tasks(self) -> list[Silent]:
        seen = self.sql.greatest("coalesce(a.last_heartbeat, 0)", "t.started_at")
        rows = self._sql_tx.all(
            f"""SELECT t.id, a.name, {seen} AS seen, a.stale_after_seconds AS stale,
                       a.requeue_after_seconds AS grace
                FROM agents a JOIN tasks t ON t.assigned_agent = a.name AND t.status = 'running'
                WHERE coalesce(a.last_heartbeat, 0) + a.stale_after_seconds + a.requeue_after_seconds < ?
                  AND t.started_at + a.stale_after_seconds + a.requeue_after_seconds < ?{self._reaped("t")}""",
            (self.now, self.now),
        )
        return [Silent(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    # -- milestones and gates --------------------------------------------------------------------

    def milestone(self, ref: int | str) -> Milestone:
        return self.tx.read(self.reads.milestone(ref))

    def next_locked_milestone(self, position: int) -> Milestone | None:
        row = self._sql_tx.one(NEXT_LOCKED, (position,))
        return None if row is None else milestone_from_row(row)

    def set_milestone_status(self, milestone_id: int, status: str) -> None:
        self._sql_tx.run("UPDATE milestones SET status = ? WHERE id = ?", (status, milestone_id))

    def milestone_names(self) -> list[str]:
        return [r[0] for r in self._sql_tx.all("SELECT name FROM milestones")]

    def milestone_tail(self) -> tuple[int, int]:
        row = self._sql_tx.one(
            "SELECT coalesce(max(position), 0), "
            "count(*) FILTER (WHERE status NOT IN ('approved', 'conditional')) FROM milestones"
        )
        return row[0], row[1]

    def insert_milestone(self, *, name: str, position: int, objective: str, planned_weeks: str | None,
                         hour_budget: float | None, deliverables: list[str], acceptance_criteria: list[str],
                         status: str, required_approvals: int, review_within_seconds: float | None = None,
                         prerequisites: list[int] | None = None, starts_on: str | None = None,
                         money_budget: float | None = None, hour_rate: float | None = None) -> int:
        j = self.json_param
        return self.sql.insert(
            self._sql_tx,
            f"""INSERT INTO milestones (name, position, objective, planned_weeks, hour_budget, deliverables,
                   acceptance_criteria, status, required_approvals, created_at, review_within_seconds,
                   prerequisites, starts_on, money_budget, hour_rate)
               VALUES (?, ?, ?, ?, ?, {j}, {j}, ?, ?, ?, ?, {j}, ?, ?, ?)""",
            (name, position, objective, planned_weeks, hour_budget, dumps(deliverables),
             dumps(acceptance_criteria), status, required_approvals, self.now, review_within_seconds,
             dumps(prerequisites), starts_on, money_budget, hour_rate),
        )

    def milestones(self) -> list[Milestone]:
        return [milestone_from_row(r) for r in self._sql_tx.all("SELECT * FROM milestones ORDER BY position")]

    def set_plan_state(self, milestone_id: int, state: str) -> None:
        self._sql_tx.run("UPDATE milestones SET plan_state = ?, plan_version = plan_version + 1 WHERE id = ?",
                         (state, milestone_id))

    def report(self, milestone_id: int, version: int | None) -> ValidationReport | None:
        return self.tx.read(self.reads.report(milestone_id, version))

    def latest_report_version(self, milestone_id: int) -> int:
        return self._sql_tx.one(
            "SELECT coalesce(max(version), 0) FROM validation_reports WHERE milestone_id = ?", (milestone_id,)
        )[0]

    def insert_report(self, *, milestone_id: int, version: int, submitted_by: str, summary: str,
                      criteria: Sequence[Criterion], metrics: Sequence[Metric], issues: Sequence[ReportIssue],
                      recommendations: Sequence[str], proposed: Decision | None, content_hash: str,
                      next_context: str = "") -> int:
        tx = self._sql_tx
        report_id = self.sql.insert(
            tx,
            """INSERT INTO validation_reports (milestone_id, version, submitted_by, submitted_at, summary,
                   proposed_decision, content_hash, next_context) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (milestone_id, version, submitted_by, self.now, summary, proposed and proposed.value,
             content_hash, next_context),
        )
        tx.many(
            "INSERT INTO report_criteria VALUES (?, ?, ?, ?, ?)",
            [(report_id, i, c.name, c.status.value, c.evidence) for i, c in enumerate(criteria)],
        )
        tx.many(
            "INSERT INTO report_metrics VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(report_id, i, m.name, m.value, m.target, m.comparator.value, m.unit)
             for i, m in enumerate(metrics)],
        )
        tx.many(
            "INSERT INTO report_issues VALUES (?, ?, ?, ?)",
            [(report_id, i, x.severity.value, x.description) for i, x in enumerate(issues)],
        )
        tx.many(
            "INSERT INTO report_recommendations VALUES (?, ?, ?)",
            [(report_id, i, r) for i, r in enumerate(recommendations)],
        )
        return report_id

    def verified_approvers(self, report_id: int) -> set[str]:
        # Only verified approvals count: a row written around swarmdeck neither adds an approval nor
        # stands in the way of the reviewer it names.
        approvals = self._sql_tx.all(
            f"{DECISION_SELECT} WHERE g.report_id = ? AND g.decision IN ('APPROVE', 'CONDITIONAL')",
            (report_id,),
        )
        verdicts = self.tx.read(self._signatures.verified_decisions(approvals))
        return {r["reviewer"] for r, ok in zip(approvals, verdicts) if ok}

    def insert_decision(self, *, milestone_id: int, report: ValidationReport, decision: str, rationale: str,
                        reviewer: str, signature: bytes, conditions: Sequence[str],
                        accepted_unmet: Sequence[str] = ()) -> int:
        decision_id = self.sql.insert(
            self._sql_tx,
            """INSERT INTO gate_decisions (milestone_id, report_id, report_hash, decision, rationale,
                   reviewer, decided_at, signature, accepted_unmet)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (milestone_id, report.id, report.content_hash, decision, rationale, reviewer, self.now, signature,
             dumps(list(accepted_unmet)) if accepted_unmet else None),
        )
        self._sql_tx.many(
            "INSERT INTO gate_conditions (milestone_id, decision_id, text) VALUES (?, ?, ?)",
            [(milestone_id, decision_id, c) for c in conditions],
        )
        return decision_id

    def decision(self, decision_id: int) -> GateDecision:
        row = self._sql_tx.one(f"{DECISION_SELECT} WHERE g.id = ?", (decision_id,))
        return decision_from_row(row, verified=True)  # its signature was checked just now

    def open_conditions(self, milestone_id: int) -> int:
        return self._sql_tx.one(
            "SELECT count(*) FROM gate_conditions WHERE milestone_id = ? AND status = 'open'", (milestone_id,)
        )[0]

    def condition(self, condition_id: int) -> ConditionRow | None:
        row = self._sql_tx.one(
            "SELECT c.*, r.submitted_by FROM gate_conditions c JOIN gate_decisions d ON d.id = c.decision_id "
            "JOIN validation_reports r ON r.id = d.report_id WHERE c.id = ?",
            (condition_id,),
        )
        if row is None:
            return None
        return ConditionRow(row["id"], row["milestone_id"], row["text"], row["status"], row["submitted_by"],
                            condition_from_row(row))

    def close_condition(self, condition_id: int, *, by: str, note: str, signature: bytes) -> None:
        self._sql_tx.run(
            "UPDATE gate_conditions SET status = 'closed', closed_by = ?, closed_at = ?, note = ?, "
            "close_signature = ? WHERE id = ?",
            (by, self.now, note, signature, condition_id),
        )

    def closed_condition(self, condition_id: int) -> Condition:
        row = self._sql_tx.one("SELECT * FROM gate_conditions WHERE id = ?", (condition_id,))
        return condition_from_row(row, verified=True)

    def escalated_gates(self, escalation_milestone: int | None) -> list[EscalatedGate]:
        rows = self._sql_tx.all(
            """SELECT m.id, m.name, m.status,
                      (SELECT max(d.id) FROM gate_decisions d
                       WHERE d.milestone_id = m.id AND d.decision = 'ESCALATE') AS escalation,
                      (SELECT r.submitted_by FROM validation_reports r
                       WHERE r.milestone_id = m.id ORDER BY r.version DESC LIMIT 1) AS submitted_by
               FROM milestones m WHERE m.status = 'escalated' OR m.id = ? ORDER BY m.position""",
            (escalation_milestone,),
        )
        return [EscalatedGate(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def record_resumption(self, gate: EscalatedGate, *, by: str, reason: str, escalation_id: int,
                          signature: bytes) -> None:
        self._sql_tx.run(
            """INSERT INTO gate_resumptions (milestone_id, decision_id, resumed_by, reason, resumed_at,
                   escalation_id, signature) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (gate.id, gate.escalation, by, reason, self.now, escalation_id, signature),
        )
