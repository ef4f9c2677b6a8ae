"""Tasks: enqueue, claim, complete, fail, retry, cancel, dependencies, plans, queue status."""

from __future__ import annotations

import math
import sqlean
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from .. import graph, identity, priority
from ..errors import CycleError, InvalidArgument, NotFound, PermissionDenied, SwarmPaused
from ..lifecycle import check_transition
from ..limits import MAX_NAME, MAX_TEXT, check_fields, check_json, check_text
from ..models import (
    UNFINISHED,
    CancelResult,
    ExecutionPlan,
    MilestoneStatus,
    PriorityBreakdown,
    QueueStatus,
    Task,
    TaskSource,
    TaskStatus,
    from_ts,
)
from .base import All, Reads, Tx
from .rows import dumps, milestone_query, task_from_row
from .liveness import UNFINISHED_SQL, LivenessOps, ids_json
from .signatures import GUARD_MARK

_SELECT = """
SELECT t.*, m.status AS milestone_status, m.name AS milestone_name
FROM tasks t LEFT JOIN milestones m ON m.id = t.milestone_id
"""
_URGENCY_REFRESH_SECONDS = 10.0
_REAP_INTERVAL_SECONDS = 5.0  # claims reap timed-out leases at most this often (and when none is ready)
_REPRIORITISE_THRESHOLD = 0.5  # points out of 100: smaller drifts are not worth an event


def to_ts(value: datetime | float | int | None, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidArgument(f"{what} needs a timezone (e.g. 2026-01-31T17:00:00+00:00)")
        return value.timestamp()
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    raise InvalidArgument(f"{what} must be a datetime or epoch seconds, not {value!r}")


class TaskOps(LivenessOps):
    _last_urgency_refresh = float("-inf")

    # -- reads -----------------------------------------------------------------------------

    async def get_task(self, task_id: int) -> Task:
        rows = await self._all(f"{_SELECT} WHERE t.id = ?", (task_id,))
        if not rows:
            raise NotFound(f"task {task_id} does not exist", entity="task", key=task_id)
        return (await self._read(self._hydrate(rows)))[0]

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
        """Tasks matching every filter given: by priority when filtered by status, else newest first.
        ``held_by_failure``: only the tasks waiting on a task that failed for good.

        Filters are applied in SQL before the limit; each is served by an index.
        """
        if not 1 <= limit <= 100_000:
            raise InvalidArgument("limit must be between 1 and 100000")
        statuses = _statuses(status)
        clauses: list[str] = []
        params: list[Any] = []
        if statuses:
            clauses.append(f"t.status IN ({','.join('?' * len(statuses))})")
            params += statuses
        if source is not None:
            clauses.append("t.source = ?")
            params.append(TaskSource(source).value)
        if agent_type is not None:
            clauses.append("t.agent_type = ?")
            params.append(agent_type)
        if milestone_id is not None:
            clauses.append("t.milestone_id = ?")
            params.append(milestone_id)
        if assigned_agent is not None:
            clauses.append("t.assigned_agent = ?")
            params.append(identity.key(assigned_agent) or assigned_agent)
        if held_by_failure:
            clauses.append("t.held_by IS NOT NULL")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "t.priority DESC, t.id" if statuses else "t.id DESC"
        if statuses and assigned_agent is not None:
            # `+`: let tasks_agent find the agent's few tasks and sort them, rather than walk
            # every task of the status in priority order looking for them.
            order = "+" + order
        rows = await self._all(f"{_SELECT} {where} ORDER BY {order} LIMIT ?", (*params, limit))
        return await self._read(self._hydrate(rows))

    async def tasks_by_ids(self, task_ids: Iterable[int]) -> list[Task]:
        """The tasks with these ids that exist, in id order (for screens applying changes)."""
        rows = await self._all(
            f"{_SELECT} WHERE t.id IN (SELECT value FROM json_each(?)) ORDER BY t.id",
            (ids_json(task_ids),),
        )
        return await self._read(self._hydrate(rows))

    async def dependents(self, task_id: int) -> list[int]:
        rows = await self._all(
            "SELECT task_id FROM task_dependencies WHERE prerequisite_id = ? ORDER BY task_id",
            (task_id,),
        )
        return [r[0] for r in rows]

    async def priority_breakdown(self, task_id: int) -> PriorityBreakdown:
        """The five factors of a task's priority as of now."""
        row = await self._one(
            f"""SELECT t.*, (SELECT count(*) FROM task_dependencies d JOIN tasks c ON c.id = d.task_id
                    WHERE d.prerequisite_id = t.id AND c.status IN {UNFINISHED_SQL}) AS n
                FROM tasks t WHERE t.id = ?""",
            (task_id,),
        )
        if row is None:
            raise NotFound(f"task {task_id} does not exist", entity="task", key=task_id)
        return _breakdown(row, row["n"], self.clock())

    async def queue_status(self) -> QueueStatus:
        counts = {r["status"]: (r["n"], r["priority_sum"]) for r in await self._all("SELECT * FROM task_counts")}
        unfinished = [counts[s.value] for s in UNFINISHED]
        n_unfinished = sum(n for n, _ in unfinished)
        oldest = None
        for status in (TaskStatus.PENDING, TaskStatus.BLOCKED, TaskStatus.READY):
            row = await self._one("SELECT min(created_at) FROM tasks WHERE status = ?", (status.value,))
            if row[0] is not None:
                oldest = row[0] if oldest is None else min(oldest, row[0])
        paused = await self._one("SELECT paused FROM swarm_state WHERE id = 1")
        # Paused by its flag, or by a verified escalation no verified resume lifted (as claims are).
        escalation = (await self._read(self._gate_guard())).escalation
        held = await self._one(
            # `+status`: count from the small tasks_held index, not from every unfinished task.
            f"SELECT count(*) FROM tasks WHERE held_by IS NOT NULL AND +status IN {UNFINISHED_SQL}"
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
        """Topological batches of the given tasks; prerequisites outside the set count as met."""
        ids = sorted(set(task_ids))
        if not ids:
            raise InvalidArgument("give at least one task id to plan")
        found = {r[0] for r in await self._all(
            "SELECT id FROM tasks WHERE id IN (SELECT value FROM json_each(?))", (ids_json(ids),)
        )}
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound(f"no such task: {', '.join(map(str, missing))}")
        edges: dict[int, set[int]] = defaultdict(set)
        for row in await self._all(
            "SELECT task_id, prerequisite_id FROM task_dependencies "
            "WHERE task_id IN (SELECT value FROM json_each(?))",
            (ids_json(ids),),
        ):
            edges[row[0]].add(row[1])
        batches = graph.execution_plan(ids, edges)
        return ExecutionPlan(
            batches=tuple(tuple(b) for b in batches),
            total_batches=len(batches),
            max_parallelism=max(len(b) for b in batches),
        )

    @staticmethod
    def _hydrate(rows: list[sqlean.Row]) -> Reads[list[Task]]:
        """Attach prerequisites, and say why each blocked task is blocked."""
        if not rows:
            return []
        prereqs: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for r in (yield All(
            "SELECT d.task_id, d.prerequisite_id, p.status FROM task_dependencies d "
            "JOIN tasks p ON p.id = d.prerequisite_id "
            "WHERE d.task_id IN (SELECT value FROM json_each(?)) ORDER BY d.task_id, d.prerequisite_id",
            (ids_json(r["id"] for r in rows),),
        )):
            prereqs[r[0]].append((r[1], r[2]))
        tasks = []
        for row in rows:
            mine = prereqs.get(row["id"], [])
            reason = None
            if row["status"] == TaskStatus.BLOCKED:
                reason = _blocked_reason(mine, row["milestone_name"], row["milestone_status"], row["held_by"])
            tasks.append(task_from_row(row, tuple(p for p, _ in mine), reason))
        return tasks

    def _task_in(self, tx: Tx, task_id: int) -> Task:
        rows = tx.all(f"{_SELECT} WHERE t.id = ?", (task_id,))
        if not rows:
            raise NotFound(f"task {task_id} does not exist", entity="task", key=task_id)
        return tx.read(self._hydrate(rows))[0]

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
        from ..inputs import TaskSpec  # pydantic loads only when a task is enqueued

        check_fields(actor=(actor, MAX_NAME))
        spec = TaskSpec.parse(
            description=description, source=source, agent_type=agent_type, base_priority=base_priority,
            prerequisites=list(prerequisites), deadline=deadline, estimated_duration_seconds=estimated_duration_seconds,
            milestone=milestone, parent_task_id=parent_task_id, session_id=session_id, input_data=input_data,
            summary=summary, max_retries=max_retries, timeout_seconds=timeout_seconds,
        )
        source, prerequisites = spec.source, spec.prerequisites
        deadline_ts = to_ts(deadline, "deadline")
        try:
            prereq_ids = sorted({_as_id(p) for p in prerequisites})
        except (TypeError, ValueError):
            raise InvalidArgument(f"prerequisites must be task ids, not {prerequisites!r}") from None
        try:
            input_json = dumps(input_data)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"input_data must be JSON-serialisable ({exc})") from None

        def in_tx(tx: Tx):
            # id -> (status, depth, the failed task holding it: itself if it failed)
            statuses: dict[int, tuple[str, int, int | None]] = {
                r[0]: (r[1], r[2], r[0] if r[1] == TaskStatus.FAILED else r[3])
                for r in tx.all(
                    "SELECT id, status, dependency_depth, held_by FROM tasks "
                    "WHERE id IN (SELECT value FROM json_each(?))",
                    (ids_json(prereq_ids),),
                )
            }
            missing = [p for p in prereq_ids if p not in statuses]
            if missing:
                raise NotFound(f"prerequisite task {', '.join(map(str, missing))} does not exist")
            dead = [p for p in prereq_ids if statuses[p][0] == TaskStatus.CANCELLED]
            if dead:
                raise InvalidArgument(
                    f"prerequisite task {', '.join(map(str, dead))} is cancelled and will never complete"
                )
            if parent_task_id is not None and not tx.one(
                "SELECT 1 FROM tasks WHERE id = ?", (parent_task_id,)
            ):
                raise NotFound(f"parent task {parent_task_id} does not exist",
                               entity="task", key=parent_task_id)
            milestone_id, locked = self._resolve_milestone_for_task(tx, milestone)
            waiting = any(statuses[p][0] != TaskStatus.COMPLETED for p in prereq_ids)
            status = TaskStatus.BLOCKED if waiting or locked else TaskStatus.READY
            depth = graph.dependency_depth(statuses[p][1] for p in prereq_ids)
            prio = priority.breakdown(
                base_priority=base_priority,
                dependency_depth=depth,
                deadline=deadline_ts,
                estimate=estimated_duration_seconds,
                unfinished_dependents=0,
                source=source,
                now=tx.now,
            ).total
            task_id = tx.run(
                """INSERT INTO tasks (description, summary, source, agent_type, base_priority, status,
                       priority, dependency_depth, milestone_id, parent_task_id, session_id, deadline,
                       estimated_duration_seconds, input_data, max_retries, timeout_seconds,
                       created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (description, summary, source.value, agent_type, base_priority, status.value, prio,
                 depth, milestone_id, parent_task_id, session_id, deadline_ts,
                 estimated_duration_seconds, input_json, max_retries, timeout_seconds, tx.now, tx.now),
            )
            tx.many(
                "INSERT INTO task_dependencies (task_id, prerequisite_id) VALUES (?, ?)",
                [(task_id, p) for p in prereq_ids],
            )
            tx.event("task.enqueued", "task", task_id, {
                "status": status.value, "priority": prio, "agent_type": agent_type,
                "prerequisites": prereq_ids, "milestone_id": milestone_id, "source": source.value,
            })
            held_by = min((statuses[p][2] for p in prereq_ids if statuses[p][2] is not None), default=None)
            if held_by is not None:
                self._hold(tx, [task_id], held_by)
            self._reprioritise(tx, [p for p in prereq_ids if statuses[p][0] in UNFINISHED])
            return self._task_in(tx, task_id)

        return await self._write(actor, in_tx)

    def _resolve_milestone_for_task(self, tx: Tx, milestone: int | str | None) -> tuple[int | None, bool]:
        if milestone is None:
            return None, False
        row = tx.one(*milestone_query(milestone))
        if row is None:
            raise NotFound(f"milestone {milestone!r} does not exist", entity="milestone", key=milestone)
        return row["id"], row["status"] == MilestoneStatus.LOCKED

    async def add_dependency(self, task_id: int, prerequisite_id: int, *, actor: str = "human") -> Task:
        """Make ``task_id`` wait for ``prerequisite_id``; refuse anything that would form a cycle."""
        check_text("actor", actor, MAX_NAME)
        def in_tx(tx: Tx):
            task = self._task_in(tx, task_id)
            prereq = self._task_in(tx, prerequisite_id)
            if task.status not in (TaskStatus.PENDING, TaskStatus.BLOCKED, TaskStatus.READY):
                raise InvalidArgument(
                    f"task {task_id} is {task.status}; prerequisites can only be added before it runs"
                )
            if prereq.status is TaskStatus.CANCELLED:
                raise InvalidArgument(f"task {prerequisite_id} is cancelled and will never complete")
            if prerequisite_id in task.prerequisites:
                return task
            # Everything the prerequisite already waits on, transitively: a cycle closes if task is in it.
            edges: dict[int, set[int]] = defaultdict(set)
            for r in tx.all(
                # `IN up` (not a join) keeps SQLite from scanning all of task_dependencies to meet `up`.
                """WITH RECURSIVE up(id) AS (SELECT ? UNION
                       SELECT d.prerequisite_id FROM task_dependencies d JOIN up ON d.task_id = up.id)
                   SELECT d.task_id, d.prerequisite_id FROM task_dependencies d WHERE d.task_id IN up""",
                (prerequisite_id,),
            ):
                edges[r[0]].add(r[1])
            cycle = graph.cycle_if_added(edges, task_id, prerequisite_id)
            if cycle:
                raise CycleError(
                    f"task {task_id} cannot wait for task {prerequisite_id}: that would form the cycle "
                    + " -> ".join(map(str, cycle))
                )
            tx.run(
                "INSERT INTO task_dependencies (task_id, prerequisite_id) VALUES (?, ?)",
                (task_id, prerequisite_id),
            )
            if task.status is TaskStatus.READY and prereq.status is not TaskStatus.COMPLETED:
                self._set_status(tx, task_id, TaskStatus.READY, TaskStatus.BLOCKED)
            tx.event("task.dependency_added", "task", task_id, {"prerequisite_id": prerequisite_id})
            held_by = prerequisite_id if prereq.status is TaskStatus.FAILED else prereq.held_by
            if held_by is not None:
                self._hold(tx, [task_id], held_by)
            self._refresh_depths(tx, task_id)
            if prereq.status in UNFINISHED:
                self._reprioritise(tx, [prerequisite_id])
            return self._task_in(tx, task_id)

        return await self._write(actor, in_tx)

    def _refresh_depths(self, tx: Tx, root: int) -> None:
        """Recompute dependency depth of ``root`` and everything that transitively waits on it."""
        rows = tx.all(
            """WITH RECURSIVE down(id) AS (SELECT ? UNION
                   SELECT d.task_id FROM task_dependencies d JOIN down ON d.prerequisite_id = down.id)
               SELECT id FROM down""",
            (root,),
        )
        affected = [r[0] for r in rows]
        edges: dict[int, set[int]] = defaultdict(set)
        depths: dict[int, int] = {}
        for r in tx.all(
            "SELECT d.task_id, d.prerequisite_id, p.dependency_depth FROM task_dependencies d "
            "JOIN tasks p ON p.id = d.prerequisite_id WHERE d.task_id IN (SELECT value FROM json_each(?))",
            (ids_json(affected),),
        ):
            edges[r[0]].add(r[1])
            depths[r[1]] = r[2]
        changed = []
        for batch in graph.execution_plan(affected, edges):
            for t in batch:
                new = graph.dependency_depth(depths.get(p, 0) for p in edges.get(t, ()))
                if depths.get(t) != new:
                    depths[t] = new
                    changed.append(t)
                    tx.run("UPDATE tasks SET dependency_depth = ? WHERE id = ?", (new, t))
        self._reprioritise(tx, changed)

    # -- priority --------------------------------------------------------------------------

    def _reprioritise(self, tx: Tx, task_ids: Iterable[int], *, threshold: float = 1e-9) -> list[int]:
        """Recompute stored priorities; record the ones that moved by more than ``threshold``."""
        ids = list(task_ids)
        if not ids:
            return []
        changed = []
        for row in tx.all(
            f"""SELECT t.*, (SELECT count(*) FROM task_dependencies d JOIN tasks c ON c.id = d.task_id
                    WHERE d.prerequisite_id = t.id AND c.status IN {UNFINISHED_SQL}) AS n
                FROM tasks t WHERE t.id IN (SELECT value FROM json_each(?))""",
            (ids_json(ids),),
        ):
            new = _breakdown(row, row["n"], tx.now).total
            if abs(new - row["priority"]) > threshold:
                tx.run("UPDATE tasks SET priority = ? WHERE id = ?", (new, row["id"]))
                tx.event("task.reprioritised", "task", row["id"], {"priority": new, "was": row["priority"]})
                changed.append(row["id"])
        return changed

    async def refresh_priorities(self, *, actor: str = "system") -> list[int]:
        """Bring deadline urgency up to date for every waiting task that has a deadline."""
        check_text("actor", actor, MAX_NAME)
        def in_tx(tx: Tx):
            return self._refresh_urgency(tx)

        return await self._write(actor, in_tx)

    def _refresh_urgency(self, tx: Tx) -> list[int]:
        rows = tx.all(
            "SELECT id FROM tasks WHERE deadline IS NOT NULL AND status IN ('pending', 'blocked', 'ready')"
        )
        self._last_urgency_refresh = tx.now
        return self._reprioritise(tx, [r[0] for r in rows], threshold=_REPRIORITISE_THRESHOLD)

    async def set_base_priority(self, task_id: int, base_priority: int, *, actor: str = "human") -> Task:
        check_text("actor", actor, MAX_NAME)
        _check_int("base_priority", base_priority, 0, 10)
        def in_tx(tx: Tx):
            task = self._task_in(tx, task_id)
            if task.status.finished:
                raise InvalidArgument(f"task {task_id} is {task.status}; its priority no longer matters")
            tx.run(
                "UPDATE tasks SET base_priority = ?, updated_at = ? WHERE id = ?",
                (base_priority, tx.now, task_id),
            )
            tx.event("task.base_priority_set", "task", task_id, {
                "base_priority": base_priority, "was": task.base_priority,
            })
            self._reprioritise(tx, [task_id])
            return self._task_in(tx, task_id)

        return await self._write(actor, in_tx)

    # -- the claim loop --------------------------------------------------------------------

    async def claim_task(self, *, agent: str, agent_type: str | None = None) -> Task | None:
        """Atomically give the highest-priority ready task to ``agent``; None when there is none.

        Under any contention each ready task goes to exactly one agent: the choice and the
        update are one statement, inside one BEGIN IMMEDIATE transaction.

        Only what verified decisions allow is handed out, whatever the status columns say: no task
        of a milestone that an earlier gate did not open by verified approvals, and nothing while a
        verified escalation stands that no verified resume lifted.
        """
        check_fields(agent=(agent, MAX_NAME), agent_type=(agent_type, MAX_NAME))
        agent = identity.key(agent) or agent
        def in_tx(tx: Tx):
            # The pause flag, and the primary-key probes that say whether the cached guard still holds.
            paused = tx.one(f"SELECT paused, reason, {GUARD_MARK} FROM swarm_state WHERE id = 1")
            guard = tx.read(self._gate_guard(tuple(paused[2:])))
            if paused[0] or guard.escalation is not None:
                reason = paused[1] if paused[0] else guard.escalation[2]  # type: ignore[index]
                raise SwarmPaused(reason=reason)
            if not tx.one("SELECT 1 FROM agents WHERE name = ?", (agent,)):
                raise NotFound(entity="agent", key=agent)
            # Timed-out leases are reaped every few seconds rather than in every claim; a claim that
            # finds nothing ready reaps at once, so an idle agent never waits on a lease that ran out.
            reaped = tx.now - self._last_reap >= _REAP_INTERVAL_SECONDS
            if reaped:
                self._reap(tx)
            if tx.now - self._last_urgency_refresh >= _URGENCY_REFRESH_SECONDS:
                self._refresh_urgency(tx)
            locked = guard.locked_sql if guard.locked else None
            task_id = self._claim_next(tx, agent, agent_type, locked)
            if task_id is None and not reaped and self._reap(tx):
                task_id = self._claim_next(tx, agent, agent_type, locked)
            if task_id is None:
                return None
            tx.run(
                "UPDATE agents SET status = 'working', current_task_id = ?, completion = 0 WHERE name = ?",
                (task_id, agent),
            )
            tx.event("task.claimed", "task", task_id, {"agent": agent})
            return self._task_in(tx, task_id)

        return await self._write(agent, in_tx, quick=True)

    @staticmethod
    def _claim_next(tx: Tx, agent: str, agent_type: str | None, locked: str | None = None) -> int | None:
        """Mark the best ready task running for ``agent`` and return its id: one statement.
        ``locked``: the ids (comma-separated) of milestones whose tasks are not handed out."""
        of_type, params = ("", ()) if agent_type is None else (" AND agent_type = ?", (agent_type,))
        if locked is not None:
            # `+milestone_id`: still walk the claim index in priority order, skipping the few ready
            # tasks (if any: status set around swarmdeck) of a milestone no verified gate opened. The
            # ids are the guard's own integers, written into the statement (one text per locked set).
            of_type += f" AND coalesce(+milestone_id, 0) NOT IN ({locked})"
        row = tx.one(
            "UPDATE tasks SET status = 'running', assigned_agent = ?, started_at = ?, "
            "lease_expires_at = ? + timeout_seconds, updated_at = ? "
            f"WHERE id = (SELECT id FROM tasks WHERE status = 'ready'{of_type} "
            "ORDER BY priority DESC, id LIMIT 1) RETURNING id",
            (agent, tx.now, tx.now, tx.now, *params),
        )
        return None if row is None else row[0]

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
        _check_hours(hours)
        try:
            result_json = dumps(result)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"result must be JSON-serialisable ({exc})") from None
        def in_tx(tx: Tx):
            task = self._task_in(tx, task_id)
            check_transition(task_id, task.status, TaskStatus.COMPLETED)
            _check_owner(task, agent)
            tx.run(
                "UPDATE tasks SET status = 'completed', result_data = ?, finished_at = ?, "
                "lease_expires_at = NULL, updated_at = ? WHERE id = ?",
                (result_json, tx.now, tx.now, task_id),
            )
            self._release_agent(tx, task)
            self._add_hours(tx, task, tx.now, hours)
            tx.event("task.completed", "task", task_id, {
                "agent": task.assigned_agent,
                "duration_s": _duration(task, tx.now),
                "estimated_s": task.estimated_duration_seconds,
                "milestone_id": task.milestone_id,
            })
            self._release_ready(
                tx, "t.id IN (SELECT task_id FROM task_dependencies WHERE prerequisite_id = ?)", (task_id,)
            )
            return self._task_in(tx, task_id)

        return await self._write(actor or agent or "unknown", in_tx, quick=True)

    async def fail_task(
        self, task_id: int, *, error: str, agent: str | None = None, retry: bool = True,
        actor: str | None = None,
    ) -> Task:
        """A running task failed: retried while retries remain (unless ``retry`` is False), else failed."""
        check_fields(error=(error, MAX_TEXT), agent=(agent, MAX_NAME), actor=(actor, MAX_NAME))
        if not error or not error.strip():
            raise InvalidArgument("say why the task failed (error must not be empty)")
        def in_tx(tx: Tx):
            task = self._task_in(tx, task_id)
            check_transition(task_id, task.status, TaskStatus.FAILED)
            _check_owner(task, agent)
            self._finish_failure(tx, task_id, task.assigned_agent, error, retry=retry, task=task)
            return self._task_in(tx, task_id)

        return await self._write(actor or agent or "unknown", in_tx, quick=True)

    def _finish_failure(
        self, tx: Tx, task_id: int, agent: str | None, error: str, *, retry: bool, task: Task | None = None
    ) -> None:
        task = task or self._task_in(tx, task_id)
        self._release_agent(tx, task)
        self._add_hours(tx, task, tx.now)
        payload = {"agent": agent, "error": error, "duration_s": _duration(task, tx.now),
                   "milestone_id": task.milestone_id}
        if retry and task.retry_count < task.max_retries:
            tx.run(
                "UPDATE tasks SET status = 'ready', retry_count = retry_count + 1, error_message = ?, "
                "assigned_agent = NULL, started_at = NULL, lease_expires_at = NULL, updated_at = ? "
                "WHERE id = ?",
                (error, tx.now, task_id),
            )
            tx.event("task.retried", "task", task_id, {**payload, "retry": task.retry_count + 1,
                                                       "max_retries": task.max_retries})
        else:
            tx.run(
                "UPDATE tasks SET status = 'failed', error_message = ?, finished_at = ?, "
                "lease_expires_at = NULL, updated_at = ? WHERE id = ?",
                (error, tx.now, tx.now, task_id),
            )
            tx.event("task.failed", "task", task_id, payload)
            dependents = tx.all("SELECT task_id FROM task_dependencies WHERE prerequisite_id = ?", (task_id,))
            self._hold(tx, [r[0] for r in dependents], task_id)

    async def retry_task(self, task_id: int, *, actor: str = "human") -> Task:
        """Put a failed task back in the queue (ready, or blocked if something holds it).

        Given a task held by failures upstream, retry every one of those instead: one step for the
        operator who finds a task stuck behind them.
        """
        check_text("actor", actor, MAX_NAME)
        def in_tx(tx: Tx):
            task = self._task_in(tx, task_id)
            if task.status is TaskStatus.FAILED:
                failed = [task]
            elif task.held_by is not None:
                failed = [self._task_in(tx, i) for i in self._failed_upstream(tx, task_id)]
            else:
                raise InvalidArgument(f"task {task_id} is {task.status}; only failed tasks, and tasks held by "
                                      "failed ones, can be retried")
            for f in failed:
                tx.run(
                    "UPDATE tasks SET status = 'blocked', retry_count = retry_count + 1, finished_at = NULL, "
                    "assigned_agent = NULL, started_at = NULL, updated_at = ? WHERE id = ?",
                    (tx.now, f.id),
                )
                tx.event("task.retried", "task", f.id, {
                    "manual": True, "retry": f.retry_count + 1, **({"for": task_id} if f.id != task_id else {}),
                })
                if not self._release_ready(tx, "t.id = ?", (f.id,)):
                    tx.event("task.blocked", "task", f.id, {})
                self._unhold(tx, f.id)
            return self._task_in(tx, task_id)

        return await self._write(actor, in_tx)

    async def cancel_task(
        self, task_id: int, *, dry_run: bool = False, reason: str | None = None, actor: str = "human"
    ) -> CancelResult:
        """Cancel a task and every unfinished task that transitively waits on it.

        Completed tasks are never touched. With ``dry_run`` nothing changes: the result is the
        preview of what would be cancelled.
        """
        check_fields(reason=(reason, MAX_TEXT), actor=(actor, MAX_NAME))
        def in_tx(tx: Tx):
            task = self._task_in(tx, task_id)
            check_transition(task_id, task.status, TaskStatus.CANCELLED)
            # `t.id IN down` (not a join): a join let SQLite scan every task in id order to meet `down`.
            rows = tx.all(
                """WITH RECURSIVE down(id) AS (SELECT ? UNION
                       SELECT d.task_id FROM task_dependencies d JOIN down ON d.prerequisite_id = down.id)
                   SELECT t.id FROM tasks t
                   WHERE t.id IN down AND t.id != ? AND t.status NOT IN ('completed', 'cancelled')
                   ORDER BY t.id""",
                (task_id, task_id),
            )
            cascaded = tuple(r[0] for r in rows)
            result = CancelResult(task_id, cascaded, dry_run)
            if dry_run:
                return result  # nothing was written: the empty transaction commits harmlessly
            for tid in (task_id, *cascaded):
                current = self._task_in(tx, tid)
                tx.run(
                    "UPDATE tasks SET status = 'cancelled', finished_at = ?, lease_expires_at = NULL, "
                    "held_by = NULL, updated_at = ?, error_message = coalesce(?, error_message) WHERE id = ?",
                    (tx.now, tx.now, reason, tid),
                )
                if current.status is TaskStatus.RUNNING:
                    self._release_agent(tx, current)
                tx.event("task.cancelled", "task", tid, {
                    "reason": reason, **({"cascade_from": task_id} if tid != task_id else {}),
                })
            # Only unfinished prerequisites: a completed task's row is never touched by a cancel.
            # `+p.status`: start from the cancelled tasks' edges, not from every unfinished task.
            prereqs = tx.all(
                "SELECT DISTINCT d.prerequisite_id FROM task_dependencies d "
                "JOIN tasks p ON p.id = d.prerequisite_id "
                f"WHERE d.task_id IN (SELECT value FROM json_each(?)) AND +p.status IN {UNFINISHED_SQL}",
                (ids_json((task_id, *cascaded)),),
            )
            self._reprioritise(tx, [r[0] for r in prereqs])
            return result

        return await self._write(actor, in_tx)

    # -- shared steps -------------------------------------------------------------------------

    def _release_ready(self, tx: Tx, where: str, params: Sequence[Any]) -> list[int]:
        """Blocked tasks matching ``where`` whose prerequisites are all complete and whose
        milestone is open become ready."""
        # `+t.status`: never drive this from the status index (every blocked task); ``where`` narrows it.
        rows = tx.all(
            f"""SELECT t.id FROM tasks t LEFT JOIN milestones m ON m.id = t.milestone_id
                WHERE {where} AND +t.status = 'blocked'
                  AND (m.status IS NULL OR m.status != 'locked')
                  AND NOT EXISTS (SELECT 1 FROM task_dependencies d JOIN tasks p ON p.id = d.prerequisite_id
                                  WHERE d.task_id = t.id AND p.status != 'completed')""",
            tuple(params),
        )
        for r in rows:
            self._set_status(tx, r[0], TaskStatus.BLOCKED, TaskStatus.READY)
        return [r[0] for r in rows]

    def _set_status(self, tx: Tx, task_id: int, current: TaskStatus, target: TaskStatus) -> None:
        check_transition(task_id, current, target)
        tx.run("UPDATE tasks SET status = ?, updated_at = ? WHERE id = ?", (target.value, tx.now, task_id))
        tx.event(f"task.{target.value}", "task", task_id, {})

    def _release_agent(self, tx: Tx, task: Task) -> None:
        if task.assigned_agent:
            tx.run(
                "UPDATE agents SET status = 'idle', current_task_id = NULL "
                "WHERE name = ? AND current_task_id = ?",
                (task.assigned_agent, task.id),
            )

    def _add_hours(self, tx: Tx, task: Task, now: float, hours: float | None = None) -> None:
        duration = _duration(task, now) if hours is None else hours * 3600.0
        if task.milestone_id is not None and duration:
            tx.run(
                "UPDATE milestones SET hours_spent = hours_spent + ? WHERE id = ?",
                (duration / 3600.0, task.milestone_id),
            )


def _statuses(status: Any) -> list[str]:
    if status is None:
        return []
    values = [status] if isinstance(status, str) else list(status)
    try:
        return [TaskStatus(s).value for s in values]
    except ValueError:
        allowed = ", ".join(s.value for s in TaskStatus)
        raise InvalidArgument(f"status must be one of {allowed}, not {status!r}") from None


def _as_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(value)
    return int(value)


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidArgument(f"{name} must be a whole number from {lo} to {hi}, not {value!r}")


def _check_hours(hours: Any) -> None:
    if hours is not None and (isinstance(hours, bool) or not isinstance(hours, (int, float))
                              or not math.isfinite(hours) or hours < 0):
        raise InvalidArgument(f"hours must be a non-negative number, not {hours!r}")


def _check_owner(task: Task, agent: str | None) -> None:
    """Only the agent a task is assigned to (under any spelling of its name) finishes it."""
    if agent is None or task.assigned_agent is None:
        return
    owner = identity.key(task.assigned_agent) or task.assigned_agent
    who = identity.key(agent) or agent
    if owner != who:
        raise PermissionDenied(f"task {task.id} is assigned to {owner}, not {who}")


def _duration(task: Task, now: float) -> float | None:
    return None if task.started_at is None else round(now - task.started_at.timestamp(), 3)


def _breakdown(row: sqlean.Row, dependents: int, now: float) -> PriorityBreakdown:
    return priority.breakdown(
        base_priority=row["base_priority"],
        dependency_depth=row["dependency_depth"],
        deadline=row["deadline"],
        estimate=row["estimated_duration_seconds"],
        unfinished_dependents=dependents,
        source=row["source"],
        now=now,
    )


def _blocked_reason(prereqs: list[tuple[int, str]], milestone: str | None, milestone_status: str | None,
                    held_by: int | None = None) -> str:
    parts = []
    if held_by is not None:
        parts.append(f"held by task {held_by}, which failed for good: retry or cancel it")
    waiting = [f"{p} ({s})" for p, s in prereqs if s != TaskStatus.COMPLETED]
    if waiting:
        parts.append("waiting for task " + ", ".join(waiting))
    if milestone_status == MilestoneStatus.LOCKED:
        parts.append(f"milestone '{milestone}' is not open yet (its gate is closed)")
    return "; ".join(parts) or "blocked"
