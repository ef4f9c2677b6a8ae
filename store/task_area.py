"""Tasks: enqueue, claim, complete, fail, retry, cancel, dependencies, plans, queue status, the same on both
backends: each write a rule of store/domain/tasks.py (or liveness.py) run over the backend's unit of one
transaction, each read one statement in SQLite's terms that the backend's ``Sql`` (store/sql_dialect.py) turns
into its own, rows mapped by store/rows.py. The checks of the arguments are the domain's and the limits'.

A backend gives its unit, its dialect, and what really differs (store/sqlite/tasks.py,
store/postgres/tasks.py build the part): the unit a claim and a new dependency run over (on PostgreSQL they
take the locks that keep concurrent stores to SQLite's outcomes, where one write runs at a time), its
unit-of-work's task statement, prerequisites and priority inputs, and the ids its statements can take.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import identity, plans
from .domain import liveness, tasks
from .errors import InvalidArgument, NotFound
from .limits import MAX_NAME, MAX_TEXT, check_fields, check_json, check_text
from .models import (
    UNFINISHED,
    CancelResult,
    Escalation,
    ExecutionPlan,
    PriorityBreakdown,
    QueueStatus,
    Task,
    TaskSource,
    TaskStatus,
    from_ts,
)
from .priority import BASE_PRIORITY_MAX, BASE_PRIORITY_MIN
from .unit_base import PRIORITY_INPUTS, TASK_SELECT, UNFINISHED_SQL, priority_inputs_of

if TYPE_CHECKING:
    from .domain.liveness import Housekeeping
    from .domain.uow import Unit
    from .sql_dialect import Sql

#: A task's row with the count of its unfinished dependents (``n``): its priority's inputs.
_PRIORITY_INPUTS = f"{PRIORITY_INPUTS} WHERE t.id = ?"

#: A write's unit, given the transaction and the store's signature verdicts and gate guard.
UnitOf = Callable[[Any, Any], "Unit"]


class Tasks:
    """The task queue's public methods: the reads, and each write as a rule of store/domain/tasks.py run
    over the backend's unit of one transaction.

    It is given what its writes share with the other parts: the database, the signature verdicts and gate
    guard the store caches (``signatures``, shared with the gates: a claim hands tasks out by the guard) and
    when it last reaped and refreshed urgency (``chores``, one per store object). The backend gives
    ``unit``, ``claim_unit`` and ``dependency_unit`` (the unit of most writes, of a claim and of a new
    dependency), ``sql``, ``hydrate`` (a ``Reads`` attaching the rows' prerequisites) and ``id_values``
    (the ids given, as its statements take them).
    """

    __slots__ = ("_chores", "_claim_unit", "_dependency_unit", "_hydrate", "_id_values", "_signatures", "_sql",
                 "_unit", "db")

    def __init__(
        self, db: Any, signatures: Any, chores: Housekeeping, *, unit: UnitOf, claim_unit: UnitOf,
        dependency_unit: UnitOf, sql: Sql, hydrate: Callable[[list[Any]], Any],
        id_values: Callable[[Iterable[Any]], list[Any]],
    ) -> None:
        self.db = db
        self._signatures = signatures
        self._chores = chores
        self._unit = unit
        self._claim_unit = claim_unit
        self._dependency_unit = dependency_unit
        self._sql = sql
        self._hydrate = hydrate
        self._id_values = id_values

    def _in(self, column: str, ids: Iterable[Any]) -> tuple[str, Any]:
        """``column`` is one of the ids given: the condition and its one parameter."""
        return self._sql.ids(column, self._id_values(ids))

    # -- reads -----------------------------------------------------------------------------

    async def get_task(self, task_id: int) -> Task:
        rows = await self.db._all(self._sql.q(f"{TASK_SELECT} WHERE t.id = ?"), (task_id,))
        if not rows:
            raise NotFound(f"task {task_id} does not exist", entity="task", key=task_id)
        return (await self.db._read(self._hydrate(rows)))[0]

    async def list_tasks(
        self,
        *,
        status: TaskStatus | str | Sequence[TaskStatus | str] | None = None,
        source: TaskSource | str | None = None,
        agent_type: str | None = None,
        milestone_id: int | None = None,
        assigned_agent: str | None = None,
        held_by_failure: bool = False,
        archived: bool | None = False,
        limit: int = 100,
    ) -> list[Task]:
        """Tasks matching every filter given: by priority when filtered by status, else newest first.
        ``held_by_failure``: only the tasks waiting on a task that failed for good. ``archived``: False (the
        default) leaves out the finished tasks the retention policy archived, True lists only those, None
        both.

        Filters are applied in SQL before the limit; each is served by an index.
        """
        if not 1 <= limit <= 100_000:
            raise InvalidArgument("limit must be between 1 and 100000")
        statuses = tasks.check_statuses(status)
        clauses: list[str] = []
        params: list[Any] = []
        if statuses:
            clauses.append(f"t.status IN ({','.join('?' * len(statuses))})")
            params += statuses
        equal = {
            "t.source": None if source is None else TaskSource(source).value,
            "t.agent_type": agent_type,
            "t.milestone_id": milestone_id,
            "t.assigned_agent": (None if assigned_agent is None
                                 else identity.key(assigned_agent) or assigned_agent),
        }
        for column, value in equal.items():
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if held_by_failure:
            clauses.append("t.held_by IS NOT NULL")
        if archived is not None:
            clauses.append(f"t.archived_at IS {'NOT ' if archived else ''}NULL")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "t.priority DESC, t.id" if statuses else "t.id DESC"
        if statuses and assigned_agent is not None:
            # SQLite's `+`: let tasks_agent find the agent's few tasks and sort them, rather than walk
            # every task of the status in priority order looking for them.
            order = self._sql.unindexed(order)
        elif held_by_failure and not statuses:
            # SQLite's `+`: read the few held tasks from tasks_held and sort them, rather than walk every
            # task newest first looking for them (there may be none).
            order = self._sql.unindexed(order)
        select = TASK_SELECT
        if clauses == ["t.archived_at IS NULL"]:
            # The default listing, newest first: walk the live tasks' index, never past the archived ones
            # (SQLite, seeing few archived, would walk the table and skip them one by one).
            live = self._sql.indexed_by("tasks t", "tasks_live")
            select = select.replace("FROM tasks t ", f"FROM {live} ", 1)
        rows = await self.db._all(self._sql.q(f"{select} {where} ORDER BY {order} LIMIT ?"), (*params, limit))
        return await self.db._read(self._hydrate(rows))

    async def tasks_by_ids(self, task_ids: Iterable[int]) -> list[Task]:
        """The tasks with these ids that exist, in id order (for screens applying changes)."""
        among, ids = self._in("t.id", task_ids)
        rows = await self.db._all(self._sql.q(f"{TASK_SELECT} WHERE {among} ORDER BY t.id"), (ids,))
        return await self.db._read(self._hydrate(rows))

    async def dependents(self, task_id: int) -> list[int]:
        rows = await self.db._all(
            self._sql.q("SELECT task_id FROM task_dependencies WHERE prerequisite_id = ? ORDER BY task_id"),
            (task_id,),
        )
        return [r[0] for r in rows]

    async def priority_breakdown(self, task_id: int) -> PriorityBreakdown:
        """The five factors of a task's priority as of now."""
        row = await self.db._one(self._sql.q(_PRIORITY_INPUTS), (task_id,))
        if row is None:
            raise NotFound(f"task {task_id} does not exist", entity="task", key=task_id)
        return tasks.priority_of(priority_inputs_of(row, row["n"]), self.db.clock())

    async def queue_status(self) -> QueueStatus:
        rows = await self.db._all("SELECT * FROM task_counts")
        counts = {r["status"]: (r["n"], r["priority_sum"]) for r in rows}
        unfinished = [counts[s.value] for s in UNFINISHED]
        n_unfinished = sum(n for n, _ in unfinished)
        oldest = None
        # One status at a time, each the first entry of its range of the waiting tasks' partial index
        # (tasks_waiting); the status written out, so that PostgreSQL's generic plan can use that index too.
        for status in (TaskStatus.PENDING, TaskStatus.BLOCKED, TaskStatus.READY):
            row = await self.db._one(f"SELECT min(created_at) FROM tasks WHERE status = '{status.value}'")
            if row[0] is not None:
                oldest = row[0] if oldest is None else min(oldest, row[0])
        paused = await self.db._one("SELECT paused FROM swarm_state WHERE id = 1")
        # Paused by its flag, or by a verified escalation no verified resume lifted (as claims are).
        escalation = (await self.db._read(self._signatures.gate_guard())).escalation
        held = await self.db._one(
            # SQLite's `+status`: count from the small tasks_held index, not from every unfinished task.
            f"SELECT count(*) FROM tasks WHERE held_by IS NOT NULL AND {self._sql.unindexed('status')} "
            f"IN {UNFINISHED_SQL}"
        )
        return QueueStatus(
            counts={s.value: counts[s.value][0] for s in TaskStatus},
            total=sum(n for n, _ in counts.values()),
            average_priority=(
                round(sum(p for _, p in unfinished) / n_unfinished, 2) if n_unfinished else None
            ),
            oldest_pending=from_ts(oldest),
            paused=bool(paused[0]) or escalation is not None,
            held_by_failure=held[0],
        )

    async def execution_plan(self, task_ids: Iterable[int]) -> ExecutionPlan:
        """Topological batches of the given tasks (a milestone's after those of the milestones its gate
        waits for) and the critical path by estimate; prerequisites outside the set count as met."""
        ids = sorted(set(task_ids))
        if not ids:
            raise InvalidArgument("give at least one task id to plan")
        among, listed = self._in("id", ids)
        facts = {r[0]: (r[1], r[2]) for r in await self.db._all(
            self._sql.q(f"SELECT id, milestone_id, estimated_duration_seconds FROM tasks WHERE {among}"),
            (listed,))}
        missing = [i for i in ids if i not in facts]
        if missing:
            raise NotFound(f"no such task: {', '.join(map(str, missing))}")
        edges: dict[int, set[int]] = defaultdict(set)
        among, listed = self._in("task_id", ids)
        for row in await self.db._all(
            self._sql.q(f"SELECT task_id, prerequisite_id FROM task_dependencies WHERE {among}"), (listed,)
        ):
            edges[row[0]].add(row[1])
        return await plans.execution_plan(self.db, ids, edges, facts)

    # -- enqueue and dependencies ---------------------------------------------------------

    async def enqueue_task(
        self,
        *,
        description: str,
        source: TaskSource | str = TaskSource.HUMAN,
        agent_type: str = "general",
        base_priority: int = 5,
        prerequisites: Iterable[int] = (),
        deadline: datetime | float | None = None,
        estimated_duration_seconds: int | None = None,
        milestone: int | str | None = None,
        parent_task_id: int | None = None,
        session_id: str | None = None,
        input_data: Any = None,
        summary: str | None = None,
        max_retries: int = 3,
        timeout_seconds: int = 3600,
        actor: str = "human",
    ) -> Task:
        """Add a task: ready if nothing holds it back, else blocked until its prerequisites complete."""
        new = tasks.new_task(
            description=description, source=source, agent_type=agent_type, base_priority=base_priority,
            prerequisites=prerequisites, deadline=deadline,
            estimated_duration_seconds=estimated_duration_seconds,
            milestone=milestone, parent_task_id=parent_task_id, session_id=session_id, input_data=input_data,
            summary=summary, max_retries=max_retries, timeout_seconds=timeout_seconds, actor=actor,
        )
        return await self.db._write(actor, lambda tx: tasks.enqueue(self._unit(tx, self._signatures), new))

    async def add_dependency(self, task_id: int, prerequisite_id: int, *, actor: str = "human") -> Task:
        """Make ``task_id`` wait for ``prerequisite_id``; refuse anything that would form a cycle."""
        check_text("actor", actor, MAX_NAME)
        return await self.db._write(actor, lambda tx: tasks.add_dependency(
            self._dependency_unit(tx, self._signatures), task_id, prerequisite_id))

    # -- priority --------------------------------------------------------------------------

    async def refresh_priorities(self, *, actor: str = "system") -> list[int]:
        """Bring deadline urgency up to date for every waiting task that has a deadline."""
        check_text("actor", actor, MAX_NAME)
        return await self.db._write(
            actor, lambda tx: tasks.refresh_urgency(self._unit(tx, self._signatures), self._chores))

    async def set_base_priority(self, task_id: int, base_priority: int, *, actor: str = "human") -> Task:
        check_text("actor", actor, MAX_NAME)
        tasks.check_int("base_priority", base_priority, BASE_PRIORITY_MIN, BASE_PRIORITY_MAX)
        return await self.db._write(actor, lambda tx: tasks.set_base_priority(
            self._unit(tx, self._signatures), task_id, base_priority))

    # -- the claim loop --------------------------------------------------------------------

    async def claim_task(self, *, agent: str, agent_type: str | None = None) -> Task | None:
        """Atomically give the highest-priority ready task to ``agent``; None when there is none.

        Under any contention each ready task goes to exactly one agent: the choice and the update are one
        statement, inside one transaction (SQLite's BEGIN IMMEDIATE; on PostgreSQL a row lock that
        skips the rows other claims hold: store/postgres/tasks.py).

        Only what verified decisions allow is handed out, whatever the status columns say: no task
        of a milestone that an earlier gate did not open by verified approvals, and nothing while a
        verified escalation stands that no verified resume lifted.
        """
        check_fields(agent=(agent, MAX_NAME), agent_type=(agent_type, MAX_NAME))
        agent = identity.key(agent) or agent
        return await self.db._write(agent, lambda tx: tasks.claim(
            self._claim_unit(tx, self._signatures), agent, agent_type, self._chores), quick=True)

    async def complete_task(
        self, task_id: int, *, agent: str | None = None, result: Any = None, actor: str | None = None,
        hours: float | None = None,
    ) -> Task:
        """Mark a running task completed and release whatever was waiting only for it.

        ``hours`` is the effort to book against the task's milestone; by default the time the
        task ran (agents that track effort themselves report it).
        """
        check_fields(agent=(agent, MAX_NAME), actor=(actor, MAX_NAME))
        check_json("result", result)
        tasks.check_hours(hours)
        result_json = tasks.to_json(result, "result")
        return await self.db._write(
            actor or agent or "unknown",
            lambda tx: tasks.complete(self._unit(tx, self._signatures), task_id, agent, result_json, hours),
            quick=True)

    async def fail_task(
        self, task_id: int, *, error: str, agent: str | None = None, retry: bool = True,
        actor: str | None = None,
    ) -> Task:
        """A running task failed: retried while retries remain (unless ``retry`` is False), else failed."""
        check_fields(error=(error, MAX_TEXT), agent=(agent, MAX_NAME), actor=(actor, MAX_NAME))
        if not error or not error.strip():
            raise InvalidArgument("say why the task failed (error must not be empty)")
        return await self.db._write(
            actor or agent or "unknown",
            lambda tx: tasks.fail(self._unit(tx, self._signatures), task_id, agent, error, retry), quick=True)

    async def escalate_task(self, task_id: int, *, note: str, to_type: str = tasks.DEBUGGING_TYPE,
                            agent: str | None = None, actor: str | None = None) -> Escalation:
        """Hand a running task off to a new debugging task of ``to_type`` (``note``: the context it needs);
        the task waits on it and is ready again once it completes (domain ``tasks.escalate``)."""
        new = tasks.escalation_task(task_id, note=note, to_type=to_type, agent=agent, actor=actor)
        return await self.db._write(actor or agent or "unknown", lambda tx: tasks.escalate(
            self._unit(tx, self._signatures), task_id, agent, new, note))

    async def retry_task(self, task_id: int, *, actor: str = "human") -> Task:
        """Put a failed task back in the queue (ready, or blocked if something holds it).

        Given a task held by failures upstream, retry every one of those instead: one step for the
        operator who finds a task stuck behind them.
        """
        check_text("actor", actor, MAX_NAME)
        return await self.db._write(actor, lambda tx: tasks.retry(self._unit(tx, self._signatures), task_id))

    async def cancel_task(
        self, task_id: int, *, dry_run: bool = False, reason: str | None = None, actor: str = "human"
    ) -> CancelResult:
        """Cancel a task and every unfinished task that transitively waits on it.

        Completed tasks are never touched. With ``dry_run`` nothing changes: the result is the
        preview of what would be cancelled (the empty transaction commits harmlessly).
        """
        check_fields(reason=(reason, MAX_TEXT), actor=(actor, MAX_NAME))
        return await self.db._write(
            actor, lambda tx: tasks.cancel(self._unit(tx, self._signatures), task_id, reason, dry_run))

    # -- liveness ----------------------------------------------------------------------------

    async def reap_timeouts(self, *, actor: str = "system") -> list[Task]:
        """Retry (or fail, once retries run out) every running task past its timeout, or whose agent
        has been stale for longer than its ``requeue_after_seconds``."""
        check_text("actor", actor, MAX_NAME)

        def in_tx(tx: Any) -> list[Task]:
            u = self._unit(tx, self._signatures)
            return [u.task(i) for i in liveness.reap(u, self._chores)]

        return await self.db._write(actor, in_tx)
