"""Work never waits on the dead: running tasks whose lease ran out or whose agent went silent go back
to the queue (reaping), a failure with retries left is retried and one without fails for good, and
the tasks waiting on a task that failed for good are held by it (``Task.held_by``) until it is
retried or cancelled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..events import EventKind
from ..models import Task
from .uow import Unit

#: Claims reap timed-out leases at most this often (and at once when nothing is ready).
REAP_INTERVAL_SECONDS = 5.0
#: Claims bring deadline urgency up to date at most this often.
URGENCY_REFRESH_SECONDS = 10.0


@dataclass(slots=True)
class Housekeeping:
    """When this store last reaped and refreshed urgency: the claim's chores, done every few
    seconds rather than in every claim. Kept by the store (one per store object), not the database."""

    last_reap: float = float("-inf")
    last_urgency_refresh: float = float("-inf")


def reap(u: Unit, chores: Housekeeping) -> list[int]:
    """Retry (or fail, once retries run out) every running task past its timeout, or whose agent has
    been stale for longer than its requeue grace; the ids, in order."""
    chores.last_reap = u.now
    reaped: dict[int, tuple[str | None, str]] = {}
    for lease in u.expired_leases():
        reaped[lease.task_id] = (lease.agent, f"timed out after {lease.timeout_seconds} s with {lease.agent}")
    # An agent that stopped heartbeating (killed, say) loses its tasks once it has been stale for its
    # grace period, counted from its last heartbeat or from the claim, whichever came later.
    for s in u.silent_agents_tasks():
        if s.task_id not in reaped:
            reaped[s.task_id] = (s.agent, f"{s.agent} went silent: no heartbeat for {span(u.now - s.seen)} "
                                          f"(stale after {span(s.stale_after)}, its tasks released "
                                          f"{span(s.grace)} later)")
    for task_id, (agent, reason) in sorted(reaped.items()):
        finish_failure(u, task_id, agent, reason, retry=True)
    return sorted(reaped)


def finish_failure(u: Unit, task_id: int, agent: str | None, error: str, *, retry: bool,
                   task: Task | None = None, heard: bool = False) -> None:
    """A running task failed: back to ready while retries remain (and ``retry``), else failed for good,
    holding everything that waits on it. ``heard``: its agent said so (a heartbeat; release_agent)."""
    task = task or u.task(task_id)
    release_agent(u, task, heard=heard)
    add_hours(u, task)
    payload = {"agent": agent, "error": error, "duration_s": duration(task, u.now),
               "milestone_id": task.milestone_id, **({"heard": True} if heard else {})}
    if retry and task.retry_count < task.max_retries:
        u.retry_later(task_id, error)
        u.event(EventKind.TASK_RETRIED, "task", task_id, {**payload, "retry": task.retry_count + 1,
                                                  "max_retries": task.max_retries})
    else:
        u.mark_failed(task_id, error)
        u.event(EventKind.TASK_FAILED, "task", task_id, payload)
        hold(u, u.dependents_of(task_id), task_id)


def hold(u: Unit, task_ids: Sequence[int], failed_id: int) -> None:
    """These tasks, and every unfinished task that waits on them, are held by ``failed_id`` (unless
    another failure already holds them)."""
    if not task_ids:
        return
    for task_id in sorted(u.hold(task_ids, failed_id)):
        u.event(EventKind.TASK_HELD, "task", task_id, {"failed_task": failed_id})


def unhold(u: Unit, failed_id: int) -> None:
    """``failed_id`` is failed no more: what it held waits on its work again, or on another failure."""
    for task_id in u.held_by(failed_id):
        other = min(u.failed_upstream(task_id), default=None)
        u.set_held_by(task_id, other)
        if other is None:
            u.event(EventKind.TASK_UNHELD, "task", task_id, {"failed_task": failed_id})
        else:
            u.event(EventKind.TASK_HELD, "task", task_id, {"failed_task": other})


def release_agent(u: Unit, task: Task, *, heard: bool = False) -> None:
    """The task's agent is done with it. ``heard``: the agent itself reported it (a completion or a
    failure it sent), which counts as its heartbeat; a reaped lease or a person's act does not."""
    if task.assigned_agent:
        u.release_agent(task.assigned_agent, task.id, seen_at=u.now if heard else None)


def add_hours(u: Unit, task: Task, hours: float | None = None) -> None:
    """Book the effort (by default the time the task ran) against the task's milestone."""
    seconds = duration(task, u.now) if hours is None else hours * 3600.0
    if task.milestone_id is not None and seconds:
        u.add_milestone_hours(task.milestone_id, seconds / 3600.0)


def duration(task: Task, now: float) -> float | None:
    return None if task.started_at is None else round(now - task.started_at.timestamp(), 3)


def span(seconds: float) -> str:
    """12 s, 6 min, 2.5 h: a duration for a sentence."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
