"""The task queue on PostgreSQL: the public methods of store/sqlite/tasks.py, each write the same rule
of store/domain/tasks.py (or liveness.py) run over a ``PgUnit`` of one transaction, each read the same
query in PostgreSQL's terms, rows mapped by store/rows.py. The checks of the arguments are the
domain's and the limits', as SQLite's.

The claim is one statement (uow.py's ``_CLAIM``): ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP
LOCKED LIMIT 1) RETURNING *``, so concurrent claims from many stores never wait on each other's row
and never hand one task out twice. What else keeps concurrent stores to SQLite's outcomes (where one
write runs at a time) is said where it is done: the row locks of uow.py's docstring,
``DEPENDENCY_LOCK`` below, and the gates' lock a claim holds shared (uow.py's ``share_gates``), so no
escalation commits between the claim's look at the guard and its commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from .. import graph, identity, plans
from ..domain import liveness, tasks
from ..domain.liveness import Housekeeping
from ..errors import InvalidArgument, NotFound
from ..limits import MAX_NAME, MAX_TEXT, check_fields, check_json, check_text
from ..models import (
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
from ..priority import BASE_PRIORITY_MAX, BASE_PRIORITY_MIN
from ..rows import tasks_of
from .base import Database, Tx
from .signatures import Signatures
from .uow import PREREQUISITES_OF, PRIORITY_INPUTS, TASK_SELECT, UNFINISHED_SQL, PgUnit, priority_inputs_of


#: Advisory lock key (64-bit, "SWKD" then a purpose, as schema.py's): adding a dependency. Two
#: dependencies added at once, each fine alone, can close a cycle together, which neither one's check
#: would see (on SQLite one write runs at a time); so they are added one at a time, the lock taken
#: before anything is read.
DEPENDENCY_LOCK = 0x53574B44_00000101


def _one_dependency_at_a_time(tx: Tx) -> None:
    tx.run("SELECT pg_advisory_xact_lock(%s)", (DEPENDENCY_LOCK,))


class Tasks:
    """The task queue's public methods on PostgreSQL. ``_signatures``: the store's verdicts and gate
    guard, shared with the gates; ``_chores``: when this store last reaped and refreshed urgency (one
    per store object, as on SQLite)."""

    __slots__ = ("db", "_signatures", "_chores")

    def __init__(self, db: Database, signatures: Signatures) -> None:
        self.db = db
        self._signatures = signatures  # the gates' guard a claim hands tasks out by (signatures.py)
        self._chores = Housekeeping()

    async def _hydrate(self, rows: list[Any]) -> list[Task]:
        """Attach prerequisites, and say why each blocked task is blocked."""
        if not rows:
            return []
        return tasks_of(rows, await self.db._all(PREREQUISITES_OF, ([r["id"] for r in rows],)))

    # -- reads -----------------------------------------------------------------------------

    async def get_task(self, task_id: int) -> Task:
        rows = await self.db._all(f"{TASK_SELECT} WHERE t.id = %s", (task_id,))
        if not rows:
            raise NotFound(f"task {task_id} does not exist", entity="task", key=task_id)
        return (await self._hydrate(rows))[0]

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
        both."""
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
        if archived is not None:
            clauses.append(f"t.archived_at IS {'NOT ' if archived else ''}NULL")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "t.priority DESC, t.id" if statuses else "t.id DESC"
        rows = await self.db._all(f"{TASK_SELECT} {where} ORDER BY {order} LIMIT %s", (*params, limit))
        return await self._hydrate(rows)

    async def tasks_by_ids(self, task_ids: Iterable[int]) -> list[Task]:
        """The tasks with these ids that exist, in id order (for screens applying changes)."""
        rows = await self.db._all(f"{TASK_SELECT} WHERE t.id = ANY(%s) ORDER BY t.id", (_ids(task_ids),))
        return await self._hydrate(rows)

    async def dependents(self, task_id: int) -> list[int]:
        rows = await self.db._all(
            "SELECT task_id FROM task_dependencies WHERE prerequisite_id = %s ORDER BY task_id", (task_id,))
        return [r[0] for r in rows]

    async def priority_breakdown(self, task_id: int) -> PriorityBreakdown:
        """The five factors of a task's priority as of now."""
        row = await self.db._one(f"{PRIORITY_INPUTS} WHERE t.id = %s", (task_id,))
        if row is None:
            raise NotFound(f"task {task_id} does not exist", entity="task", key=task_id)
        return tasks.priority_of(priority_inputs_of(row, row["n"]), self.db.clock())

    async def queue_status(self) -> QueueStatus:
        rows = await self.db._all("SELECT * FROM task_counts")
        counts = {r["status"]: (r["n"], r["priority_sum"]) for r in rows}
        unfinished = [counts[s.value] for s in UNFINISHED]
        n_unfinished = sum(n for n, _ in unfinished)
        row = await self.db._one(
            "SELECT min(created_at) FROM tasks WHERE status IN ('pending', 'blocked', 'ready')")
        oldest = row[0]
        paused = await self.db._one("SELECT paused FROM swarm_state WHERE id = 1")
        # Paused by its flag, or by a verified escalation no verified resume lifted (as claims are).
        escalation = (await self.db._read(self._signatures.gate_guard())).escalation
        held = await self.db._one(
            f"SELECT count(*) FROM tasks WHERE held_by IS NOT NULL AND status IN {UNFINISHED_SQL}")
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
        facts = {r[0]: (r[1], r[2]) for r in await self.db._all(
            "SELECT id, milestone_id, estimated_duration_seconds FROM tasks WHERE id = ANY(%s)",
            (_ids(ids),))}
        missing = [i for i in ids if i not in facts]
        if missing:
            raise NotFound(f"no such task: {', '.join(map(str, missing))}")
        edges: dict[int, set[int]] = defaultdict(set)
        for row in await self.db._all(
            "SELECT task_id, prerequisite_id FROM task_dependencies WHERE task_id = ANY(%s)", (_ids(ids),)
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
        return await self.db._write(actor, lambda tx: tasks.enqueue(PgUnit(tx), new))

    async def add_dependency(self, task_id: int, prerequisite_id: int, *, actor: str = "human") -> Task:
        """Make ``task_id`` wait for ``prerequisite_id``; refuse anything that would form a cycle."""
        check_text("actor", actor, MAX_NAME)
        def in_tx(tx: Tx) -> Task:
            _one_dependency_at_a_time(tx)
            return tasks.add_dependency(PgUnit(tx), task_id, prerequisite_id)

        return await self.db._write(actor, in_tx)

    # -- priority --------------------------------------------------------------------------

    async def refresh_priorities(self, *, actor: str = "system") -> list[int]:
        """Bring deadline urgency up to date for every waiting task that has a deadline."""
        check_text("actor", actor, MAX_NAME)
        return await self.db._write(actor, lambda tx: tasks.refresh_urgency(PgUnit(tx), self._chores))

    async def set_base_priority(self, task_id: int, base_priority: int, *, actor: str = "human") -> Task:
        check_text("actor", actor, MAX_NAME)
        tasks.check_int("base_priority", base_priority, BASE_PRIORITY_MIN, BASE_PRIORITY_MAX)
        return await self.db._write(
            actor, lambda tx: tasks.set_base_priority(PgUnit(tx), task_id, base_priority))

    # -- the claim loop --------------------------------------------------------------------

    async def claim_task(self, *, agent: str, agent_type: str | None = None) -> Task | None:
        """Atomically give the highest-priority ready task to ``agent``; None when there is none.
        Under any contention each ready task goes to exactly one agent (the module docstring)."""
        check_fields(agent=(agent, MAX_NAME), agent_type=(agent_type, MAX_NAME))
        agent = identity.key(agent) or agent

        def in_tx(tx: Tx) -> Task | None:
            u = PgUnit(tx, self._signatures)
            u.share_gates()  # no gate write under way while it reads the guard and hands out a task
            return tasks.claim(u, agent, agent_type, self._chores)

        return await self.db._write(agent, in_tx, quick=True)

    async def complete_task(
        self, task_id: int, *, agent: str | None = None, result: Any = None, actor: str | None = None,
        hours: float | None = None,
    ) -> Task:
        """Mark a running task completed and release whatever was waiting only for it."""
        check_fields(agent=(agent, MAX_NAME), actor=(actor, MAX_NAME))
        check_json("result", result)
        tasks.check_hours(hours)
        result_json = tasks.to_json(result, "result")
        return await self.db._write(
            actor or agent or "unknown",
            lambda tx: tasks.complete(PgUnit(tx), task_id, agent, result_json, hours), quick=True)

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
            lambda tx: tasks.fail(PgUnit(tx), task_id, agent, error, retry), quick=True)

    async def escalate_task(self, task_id: int, *, note: str, to_type: str = tasks.DEBUGGING_TYPE,
                            agent: str | None = None, actor: str | None = None) -> Escalation:
        """Hand a running task off to a new debugging task of ``to_type`` (``note``: the context it needs);
        the task waits on it and is ready again once it completes (domain ``tasks.escalate``)."""
        new = tasks.escalation_task(task_id, note=note, to_type=to_type, agent=agent, actor=actor)
        return await self.db._write(
            actor or agent or "unknown", lambda tx: tasks.escalate(PgUnit(tx), task_id, agent, new, note))

    async def retry_task(self, task_id: int, *, actor: str = "human") -> Task:
        """Put a failed task back in the queue (ready, or blocked if something holds it); given a task
        held by failures upstream, retry every one of those instead."""
        check_text("actor", actor, MAX_NAME)
        return await self.db._write(actor, lambda tx: tasks.retry(PgUnit(tx), task_id))

    async def cancel_task(
        self, task_id: int, *, dry_run: bool = False, reason: str | None = None, actor: str = "human"
    ) -> CancelResult:
        """Cancel a task and every unfinished task that transitively waits on it (never a completed
        one). With ``dry_run`` nothing changes: the result is the preview."""
        check_fields(reason=(reason, MAX_TEXT), actor=(actor, MAX_NAME))
        return await self.db._write(actor, lambda tx: tasks.cancel(PgUnit(tx), task_id, reason, dry_run))

    # -- liveness ----------------------------------------------------------------------------

    async def reap_timeouts(self, *, actor: str = "system") -> list[Task]:
        """Retry (or fail, once retries run out) every running task past its timeout, or whose agent
        has been stale for longer than its ``requeue_after_seconds``."""
        check_text("actor", actor, MAX_NAME)

        def in_tx(tx: Tx) -> list[Task]:
            u = PgUnit(tx)
            return [u.task(i) for i in liveness.reap(u, self._chores)]

        return await self.db._write(actor, in_tx)


def _ids(task_ids: Iterable[Any]) -> list[int]:
    """Ids as one array parameter (``= ANY(%s)``); a value that is no id matches nothing, as SQLite's
    ``json_each`` comparison does."""
    out = []
    for i in task_ids:
        if isinstance(i, int) and not isinstance(i, bool) and -2**63 <= i < 2**63:
            out.append(i)
    return out
