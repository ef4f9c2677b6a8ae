"""The task queue's rules: what enqueueing checks, what a claim hands out, what completing, failing,
retrying and cancelling a task do to it and to what waits on it, and how priorities move."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from .. import graph, identity, priority
from ..errors import CycleError, InvalidArgument, InvalidTransition, NotFound, PermissionDenied, SwarmPaused
from ..events import EventKind
from ..lifecycle import check_transition
from ..limits import MAX_NAME, check_fields
from ..models import (
    UNFINISHED,
    CancelResult,
    Escalation,
    MilestoneStatus,
    PriorityBreakdown,
    Task,
    TaskSource,
    TaskStatus,
)
from .liveness import (
    REAP_INTERVAL_SECONDS,
    URGENCY_REFRESH_SECONDS,
    Housekeeping,
    add_hours,
    duration,
    finish_failure,
    hold,
    reap,
    release_agent,
    unhold,
)
from .uow import PriorityInputs, Unit

#: Points out of 100: smaller drifts of deadline urgency are not worth an event.
REPRIORITISE_THRESHOLD = 0.5


# -- enqueue ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task to enqueue, checked: what the transaction needs, in the form it is stored in."""

    description: str
    summary: str | None
    source: TaskSource
    agent_type: str
    base_priority: int
    prerequisites: tuple[int, ...]  # sorted, distinct
    deadline: float | None
    estimated_duration_seconds: int | None
    milestone: int | str | None
    parent_task_id: int | None
    session_id: str | None
    input_json: str | None
    max_retries: int
    timeout_seconds: int


def new_task(
    *,
    description: str,
    source: TaskSource | str,
    agent_type: str,
    base_priority: int,
    prerequisites: Iterable[int],
    deadline: datetime | float | None,
    estimated_duration_seconds: int | None,
    milestone: int | str | None,
    parent_task_id: int | None,
    session_id: str | None,
    input_data: Any,
    summary: str | None,
    max_retries: int,
    timeout_seconds: int,
    actor: str,
) -> NewTask:
    """Check a task to enqueue (everything that needs no transaction) with ``TaskSpec``; InvalidArgument
    saying why not."""
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
        prereq_ids = tuple(sorted({_as_id(p) for p in prerequisites}))
    except (TypeError, ValueError):
        raise InvalidArgument(f"prerequisites must be task ids, not {prerequisites!r}") from None
    input_json = to_json(input_data, "input_data")
    return NewTask(description, summary, source, agent_type, base_priority, prereq_ids, deadline_ts,
                   estimated_duration_seconds, milestone, parent_task_id, session_id, input_json, max_retries,
                   timeout_seconds)


def enqueue(u: Unit, t: NewTask) -> Task:
    """Add a task: ready if nothing holds it back, else blocked until its prerequisites complete."""
    prereq_ids = list(t.prerequisites)
    statuses = u.prerequisite_states(prereq_ids)
    missing = [p for p in prereq_ids if p not in statuses]
    if missing:
        raise NotFound(f"prerequisite task {', '.join(map(str, missing))} does not exist")
    dead = [p for p in prereq_ids if statuses[p].status == TaskStatus.CANCELLED]
    if dead:
        raise InvalidArgument(
            f"prerequisite task {', '.join(map(str, dead))} is cancelled and will never complete"
        )
    if t.parent_task_id is not None and not u.task_exists(t.parent_task_id):
        raise NotFound(f"parent task {t.parent_task_id} does not exist",
                       entity="task", key=t.parent_task_id)
    milestone_id, locked = None, False
    if t.milestone is not None:
        ms = u.milestone(t.milestone)
        milestone_id, locked = ms.id, ms.status is MilestoneStatus.LOCKED or not ms.in_plan
    waiting = any(statuses[p].status != TaskStatus.COMPLETED for p in prereq_ids)
    status = TaskStatus.BLOCKED if waiting or locked else TaskStatus.READY
    depth = graph.dependency_depth(statuses[p].depth for p in prereq_ids)
    prio = priority.breakdown(
        base_priority=t.base_priority,
        dependency_depth=depth,
        deadline=t.deadline,
        estimate=t.estimated_duration_seconds,
        unfinished_dependents=0,
        source=t.source,
        now=u.now,
    ).total
    task_id = u.insert_task(
        description=t.description, summary=t.summary, source=t.source.value, agent_type=t.agent_type,
        base_priority=t.base_priority, status=status.value, priority=prio, dependency_depth=depth,
        milestone_id=milestone_id, parent_task_id=t.parent_task_id, session_id=t.session_id,
        deadline=t.deadline, estimated_duration_seconds=t.estimated_duration_seconds, input_json=t.input_json,
        max_retries=t.max_retries, timeout_seconds=t.timeout_seconds,
    )
    u.add_dependencies(task_id, prereq_ids)
    u.event(EventKind.TASK_ENQUEUED, "task", task_id, {
        "status": status.value, "priority": prio, "agent_type": t.agent_type,
        "prerequisites": prereq_ids, "milestone_id": milestone_id, "source": t.source.value,
    })
    held_by = min((statuses[p].held_by for p in prereq_ids if statuses[p].held_by is not None), default=None)
    if held_by is not None:
        hold(u, [task_id], held_by)
    reprioritise(u, [p for p in prereq_ids if statuses[p].status in UNFINISHED])
    return u.task(task_id)


def add_dependency(u: Unit, task_id: int, prerequisite_id: int) -> Task:
    """Make ``task_id`` wait for ``prerequisite_id``; refuse anything that would form a cycle."""
    task = u.task(task_id)
    prereq = u.task(prerequisite_id)
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
    for waiter, on in u.upstream_edges(prerequisite_id):
        edges[waiter].add(on)
    cycle = graph.cycle_if_added(edges, task_id, prerequisite_id)
    if cycle:
        raise CycleError(
            f"task {task_id} cannot wait for task {prerequisite_id}: that would form the cycle "
            + " -> ".join(map(str, cycle))
        )
    u.add_dependencies(task_id, [prerequisite_id])
    if task.status is TaskStatus.READY and prereq.status is not TaskStatus.COMPLETED:
        set_status(u, task_id, TaskStatus.READY, TaskStatus.BLOCKED)
    u.event(EventKind.TASK_DEPENDENCY_ADDED, "task", task_id, {"prerequisite_id": prerequisite_id})
    held_by = prerequisite_id if prereq.status is TaskStatus.FAILED else prereq.held_by
    if held_by is not None:
        hold(u, [task_id], held_by)
    refresh_depths(u, task_id)
    if prereq.status in UNFINISHED:
        reprioritise(u, [prerequisite_id])
    return u.task(task_id)


def refresh_depths(u: Unit, root: int) -> None:
    """Recompute dependency depth of ``root`` and everything that transitively waits on it."""
    affected = u.downstream_of(root)
    edges: dict[int, set[int]] = defaultdict(set)
    depths: dict[int, int] = {}
    for waiter, on, depth in u.depth_edges(affected):
        edges[waiter].add(on)
        depths[on] = depth
    changed = []
    for batch in graph.execution_plan(affected, edges):
        for t in batch:
            new = graph.dependency_depth(depths.get(p, 0) for p in edges.get(t, ()))
            if depths.get(t) != new:
                depths[t] = new
                changed.append(t)
                u.set_depth(t, new)
    reprioritise(u, changed)


# -- priority --------------------------------------------------------------------------------------


def priority_of(t: PriorityInputs, now: float) -> PriorityBreakdown:
    return priority.breakdown(
        base_priority=t.base_priority,
        dependency_depth=t.dependency_depth,
        deadline=t.deadline,
        estimate=t.estimate,
        unfinished_dependents=t.unfinished_dependents,
        source=t.source,
        now=now,
    )


def reprioritise(u: Unit, task_ids: Iterable[int], *, threshold: float = 1e-9) -> list[int]:
    """Recompute stored priorities; record the ones that moved by more than ``threshold``."""
    ids = list(task_ids)
    if not ids:
        return []
    changed = []
    for t in u.priority_inputs(ids):
        new = priority_of(t, u.now).total
        if abs(new - t.priority) > threshold:
            u.set_priority(t.id, new)
            u.event(EventKind.TASK_REPRIORITISED, "task", t.id, {"priority": new, "was": t.priority})
            changed.append(t.id)
    return changed


def refresh_urgency(u: Unit, chores: Housekeeping) -> list[int]:
    """Bring deadline urgency up to date for every waiting task that has a deadline."""
    ids = u.waiting_with_deadline()
    chores.last_urgency_refresh = u.now
    return reprioritise(u, ids, threshold=REPRIORITISE_THRESHOLD)


def set_base_priority(u: Unit, task_id: int, base_priority: int) -> Task:
    task = u.task(task_id)
    if task.status.finished:
        raise InvalidArgument(f"task {task_id} is {task.status}; its priority no longer matters")
    u.set_base_priority(task_id, base_priority)
    u.event(EventKind.TASK_BASE_PRIORITY_SET, "task", task_id, {
        "base_priority": base_priority, "was": task.base_priority,
    })
    reprioritise(u, [task_id])
    return u.task(task_id)


# -- the claim loop --------------------------------------------------------------------------------


def claim(u: Unit, agent: str, agent_type: str | None, chores: Housekeeping) -> Task | None:
    """Give the highest-priority ready task to ``agent`` (canonical); None when there is none.

    Only what verified decisions allow is handed out, whatever the status columns say: no task of a
    milestone that an earlier gate did not open by verified approvals, and nothing while a verified
    escalation stands that no verified resume lifted.
    """
    pause = u.swarm_pause(agent)
    guard = u.gate_guard()
    if pause.paused or guard.escalation is not None:
        reason = pause.reason if pause.paused else guard.escalation[2]  # type: ignore[index]
        raise SwarmPaused(reason=reason)
    if not u.agent_exists(agent):
        raise NotFound(entity="agent", key=agent)
    # Timed-out leases are reaped every few seconds rather than in every claim; a claim that finds
    # nothing ready reaps at once, so an idle agent never waits on a lease that ran out.
    reaped = u.now - chores.last_reap >= REAP_INTERVAL_SECONDS
    if reaped:
        reap(u, chores)
    if u.now - chores.last_urgency_refresh >= URGENCY_REFRESH_SECONDS:
        refresh_urgency(u, chores)
    locked = guard.locked or None
    task = u.claim_next(agent, agent_type, locked)
    if task is None and not reaped and reap(u, chores):
        task = u.claim_next(agent, agent_type, locked)
    if task is None:
        return None
    u.set_agent_working(agent, task.id, seen_at=u.now)  # a claim is a sign of life: it counts as a heartbeat
    u.event(EventKind.TASK_CLAIMED, "task", task.id, {"agent": agent})
    return task


def complete(u: Unit, task_id: int, agent: str | None, result_json: str | None, hours: float | None) -> Task:
    """Mark a running task completed and release whatever was waiting only for it."""
    task = u.mark_completed(task_id, result_json)
    if task is None:  # not running (or no such task): say why, nothing was changed
        current = u.task(task_id)
        check_transition(task_id, current.status, TaskStatus.COMPLETED)
        raise InvalidTransition(f"task {task_id} is {current.status}; only a running task can be completed")
    check_owner(task, agent)  # refused: the whole transaction, the update with it, rolls back
    release_agent(u, task, heard=agent is not None)  # its agent reports it done: that is a heartbeat
    add_hours(u, task, hours)
    u.event(EventKind.TASK_COMPLETED, "task", task_id, {
        "agent": task.assigned_agent,
        "duration_s": duration(task, u.now),
        "estimated_s": task.estimated_duration_seconds,
        "milestone_id": task.milestone_id,
        **({"hours": hours} if hours is not None else {}), **({"heard": True} if agent is not None else {}),
    })
    release_ready(u, u.ready_to_release(dependents_of=task_id))
    return task


def fail(u: Unit, task_id: int, agent: str | None, error: str, retry: bool) -> Task:
    """A running task failed: retried while retries remain (unless ``retry`` is False), else failed."""
    task = u.task(task_id)
    check_transition(task_id, task.status, TaskStatus.FAILED)
    check_owner(task, agent)
    # Its agent reporting the failure is a heartbeat too.
    finish_failure(u, task_id, task.assigned_agent, error, retry=retry, task=task, heard=agent is not None)
    return u.task(task_id)


#: Who a task is handed to when its agent escalates an error (seeds 000 and 001: "Invoke
#: @python-debugging-specialist when agents encounter errors").
DEBUGGING_TYPE = "python-debugging-specialist"


def escalation_task(task_id: int, *, note: str, to_type: str, agent: str | None, actor: str | None) -> NewTask:
    """The debugging task an escalation enqueues, checked before the transaction: the note is its
    description (the context the debugging agent needs; it reads the task it helps as its parent)."""
    check_fields(agent=(agent, MAX_NAME), actor=(actor, MAX_NAME))
    if not isinstance(note, str) or not note.strip():
        raise InvalidArgument("say what the debugging agent needs to know (the note must not be empty)")
    return new_task(description=note, source=TaskSource.AGENT_IMPLEMENTATION, agent_type=to_type,
                    base_priority=0, prerequisites=(), deadline=None, estimated_duration_seconds=None,
                    milestone=None, parent_task_id=None, session_id=None,
                    input_data={"escalated_from": task_id, "by": agent}, summary=f"escalated from task {task_id}",
                    max_retries=3, timeout_seconds=3600, actor=actor or agent or "unknown")


def escalate(u: Unit, task_id: int, agent: str | None, debug: NewTask, note: str) -> Escalation:
    """Hand a running task off (seed 000's error escalation): a new debugging task (``debug``, of the
    task's milestone, its child, at least its base priority) is enqueued, and the task waits on it,
    blocked and unassigned; when the debugging task completes it is ready again for its agent type."""
    task = u.task(task_id)
    if task.status is not TaskStatus.RUNNING:
        raise InvalidTransition(f"task {task_id} is {task.status}; only a running task can be escalated")
    check_owner(task, agent)
    debug = replace(debug, base_priority=max(debug.base_priority, task.base_priority),
                    milestone=task.milestone_id, parent_task_id=task_id)
    helper = enqueue(u, debug)
    check_transition(task_id, TaskStatus.RUNNING, TaskStatus.BLOCKED)
    release_agent(u, task, heard=agent is not None)  # its agent handing it off is a heartbeat too
    add_hours(u, task)
    u.park_task(task_id)
    u.add_dependencies(task_id, [helper.id])
    u.event(EventKind.TASK_ESCALATED, "task", task_id, {
        "agent": task.assigned_agent, "debug_task": helper.id, "agent_type": helper.agent_type, "note": note,
        **({"heard": True} if agent is not None else {}),
    })
    refresh_depths(u, task_id)
    reprioritise(u, [helper.id])  # a task now waits on it: it blocks one more
    return Escalation(u.task(task_id), u.task(helper.id))


def retry(u: Unit, task_id: int) -> Task:
    """Put a failed task back in the queue (ready, or blocked if something holds it); given a task
    held by failures upstream, retry every one of those instead."""
    task = u.task(task_id)
    if task.status is TaskStatus.FAILED:
        failed = [task]
    elif task.held_by is not None:
        failed = [u.task(i) for i in u.failed_upstream(task_id)]
    else:
        raise InvalidArgument(f"task {task_id} is {task.status}; only failed tasks, and tasks held by "
                              "failed ones, can be retried")
    for f in failed:
        u.requeue_failed(f.id)
        u.event(EventKind.TASK_RETRIED, "task", f.id, {
            "manual": True, "retry": f.retry_count + 1, **({"for": task_id} if f.id != task_id else {}),
        })
        if not release_ready(u, u.ready_to_release(task_id=f.id)):
            u.event(EventKind.TASK_BLOCKED, "task", f.id, {})
        unhold(u, f.id)
    return u.task(task_id)


def cancel(u: Unit, task_id: int, reason: str | None, dry_run: bool) -> CancelResult:
    """Cancel a task and every unfinished task that transitively waits on it; completed tasks are
    never touched. With ``dry_run`` nothing changes: the result is the preview."""
    task = u.task(task_id)
    check_transition(task_id, task.status, TaskStatus.CANCELLED)
    cascaded = tuple(u.cascade_of(task_id))
    result = CancelResult(task_id, cascaded, dry_run)
    if dry_run:
        return result  # nothing was written
    for tid in (task_id, *cascaded):
        current = u.task(tid)
        u.mark_cancelled(tid, reason)
        if current.status is TaskStatus.RUNNING:
            release_agent(u, current)
        u.event(EventKind.TASK_CANCELLED, "task", tid, {
            "reason": reason, **({"cascade_from": task_id} if tid != task_id else {}),
            **({"agent": current.assigned_agent} if current.status is TaskStatus.RUNNING else {}),
        })
    # Only unfinished prerequisites: a completed task is never touched by a cancel.
    reprioritise(u, u.unfinished_prerequisites_of((task_id, *cascaded)))
    return result


# -- shared steps ----------------------------------------------------------------------------------


def release_ready(u: Unit, task_ids: list[int]) -> list[int]:
    """These blocked tasks (whose prerequisites completed and whose milestone opened) become ready."""
    for task_id in task_ids:
        set_status(u, task_id, TaskStatus.BLOCKED, TaskStatus.READY)
    return task_ids


def set_status(u: Unit, task_id: int, current: TaskStatus, target: TaskStatus) -> None:
    check_transition(task_id, current, target)
    u.set_task_status(task_id, target)
    u.event(EventKind(f"task.{target.value}"), "task", task_id, {})


def check_owner(task: Task, agent: str | None) -> None:
    """Only the agent a task is assigned to (under any spelling of its name) finishes it."""
    if agent is None or task.assigned_agent is None:
        return
    owner = identity.key(task.assigned_agent) or task.assigned_agent
    who = identity.key(agent) or agent
    if owner != who:
        raise PermissionDenied(f"task {task.id} is assigned to {owner}, not {who}")


def blocked_reason(prereqs: list[tuple[int, str]], milestone: str | None, milestone_status: str | None,
                   held_by: int | None = None) -> str:
    """Why a blocked task is blocked, in one sentence: what holds it, waits and locks it."""
    parts = []
    if held_by is not None:
        parts.append(f"held by task {held_by}, which failed for good: retry or cancel it")
    waiting = [f"{p} ({s})" for p, s in prereqs if s != TaskStatus.COMPLETED]
    if waiting:
        parts.append("waiting for task " + ", ".join(waiting))
    if milestone_status == MilestoneStatus.LOCKED:
        parts.append(f"milestone '{milestone}' is not open yet: it opens when the gate before it passes")
    elif milestone_status in ("cut", "deferred"):
        parts.append(f"milestone '{milestone}' is {milestone_status}: a person took it out of the plan "
                     "(`swarmdeck milestone reinstate` puts it back)")
    return "; ".join(parts) or "blocked"


# -- checking what comes in ------------------------------------------------------------------------


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


def to_json(value: Any, what: str) -> str | None:
    """The JSON text a value is stored as (compact); InvalidArgument if JSON cannot hold it."""
    try:
        return None if value is None else json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{what} must be JSON-serialisable ({exc})") from None


def check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidArgument(f"{name} must be a whole number from {lo} to {hi}, not {value!r}")


def check_hours(hours: Any) -> None:
    if hours is not None and (isinstance(hours, bool) or not isinstance(hours, (int, float))
                              or not math.isfinite(hours) or hours < 0):
        raise InvalidArgument(f"hours must be a non-negative number, not {hours!r}")


def _as_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(value)
    return int(value)


def check_statuses(status: Any) -> list[str]:
    """A status filter (one status, several, or None) as status values; InvalidArgument if any is none."""
    if status is None:
        return []
    values = [status] if isinstance(status, str) else list(status)
    try:
        return [TaskStatus(s).value for s in values]
    except ValueError:
        allowed = ", ".join(s.value for s in TaskStatus)
        raise InvalidArgument(f"status must be one of {allowed}, not {status!r}") from None
