"""What waits on a person: the attention items of a swarm as it is now.

Built from the store's public reads only, so every backend has the same inbox. An item names its
cause by a stable ``key``: the same cause gives the same key as long as it lasts (a watcher notifies
once per key), and the item is gone from the list once its cause is gone (the gate decided, the agent
back or released, the failed task retried or cancelled). Nothing here decides anything.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING

from .domain.liveness import span
from .models import MilestoneStatus, TaskStatus

if TYPE_CHECKING:
    from . import Store


class Urgency(IntEnum):
    """How soon a person is needed; the inbox lists the most urgent first."""

    NOTICE = 1
    HIGH = 2
    CRITICAL = 3

    def __str__(self) -> str:
        return self.name.lower()


class AttentionKind(StrEnum):
    GATE_REVIEW = "gate_review"  # a report awaits a reviewer's decision
    SWARM_PAUSED = "swarm_paused"  # no claims until a person resumes
    STALE_AGENT = "stale_agent"  # silent while it holds a task
    OLD_BLOCKER = "old_blocker"  # an agent has reported the same blocker for longer than a day
    TASK_FAILED = "task_failed"  # failed for good (and what waits behind it)


@dataclass(frozen=True, slots=True)
class AttentionItem:
    key: str
    kind: AttentionKind
    urgency: Urgency
    #: Since when the cause has stood (None if unknown).
    since: datetime | None
    #: One line for a person; may hold agent-written text: always shown as plain text.
    title: str
    #: What Enter opens: "milestone", "task", "agent" or "swarm", and its id or name.
    entity: str
    entity_id: int | str | None

    def age(self, now: float) -> float | None:
        return None if self.since is None else max(0.0, now - self.since.timestamp())


#: At most this many failed tasks are listed (newest first); a swarm with more has bigger news.
MAX_FAILED = 50

#: A blocker reported for longer than this needs a person (seed 002: "no critical blockers > 24 hours").
BLOCKER_AGE_S = 24 * 3600.0


def _first_line(text: str | None, limit: int = 120) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


async def attention(store: Store, *, now: float | None = None) -> list[AttentionItem]:
    """Every item waiting on a person, most urgent first, then newest first."""
    now = store.clock() if now is None else now
    items: list[AttentionItem] = []

    state = await store.swarm_state()
    if state.paused:
        cause = state.reason or "no reason given"
        key = f"paused:{state.escalation_id or (state.paused_at.timestamp() if state.paused_at else 0)}"
        items.append(AttentionItem(key, AttentionKind.SWARM_PAUSED, Urgency.CRITICAL, state.paused_at,
                                   f"swarm paused: {_first_line(cause)}; no task is handed out until a "
                                   "reviewer resumes it", "swarm", None))

    for milestone in await store.list_milestones():
        # In review, or passed without verified approvals (the store takes that as still in review).
        if milestone.status is not MilestoneStatus.REVIEW and not milestone.status.passed:
            continue
        gate = await store.gate_status(milestone.id)
        if not gate.decidable or gate.report is None:
            continue
        report = gate.report
        title = (f"{milestone.name}: report v{report.version} by {report.submitted_by} awaits review "
                 f"({len(gate.approvals)}/{milestone.required_approvals} approvals)")
        key, urgency = f"gate:{milestone.id}:v{report.version}", Urgency.HIGH
        within = milestone.review_within_seconds
        overdue = None if within is None else now - (report.submitted_at.timestamp() + within)
        if overdue is not None and overdue > 0:
            # A new key: the escalation is news of its own (a watcher sends it once more).
            key, urgency = f"{key}:overdue", Urgency.CRITICAL
            title += f"; OVERDUE by {span(overdue)} (review within {span(within)})"
        items.append(AttentionItem(key, AttentionKind.GATE_REVIEW, urgency, report.submitted_at, title,
                                   "milestone", milestone.id))

    for agent in await store.list_agents():
        for blocker, since in zip(agent.blockers, agent.blockers_since):
            if since is not None and now - since.timestamp() > BLOCKER_AGE_S:
                digest = hashlib.sha256(blocker.encode()).hexdigest()[:12]
                items.append(AttentionItem(
                    f"blocker:{agent.name}:{digest}", AttentionKind.OLD_BLOCKER, Urgency.HIGH, since,
                    f"agent {agent.name} has been blocked for {span(now - since.timestamp())}: "
                    f"{_first_line(blocker)}", "agent", agent.name))
        if agent.current_task_id is not None and agent.is_stale(now):
            items.append(AttentionItem(
                f"stale:{agent.name}:{agent.current_task_id}", AttentionKind.STALE_AGENT, Urgency.HIGH,
                agent.last_heartbeat,
                f"agent {agent.name} is silent while it holds task {agent.current_task_id}",
                "agent", agent.name))

    held = Counter(t.held_by for t in await store.list_tasks(held_by_failure=True, limit=100_000))
    for task in await store.list_tasks(status=TaskStatus.FAILED, limit=MAX_FAILED):
        waiting = held.get(task.id, 0)
        behind = f"; {waiting} task(s) wait behind it" if waiting else ""
        items.append(AttentionItem(
            f"failed:{task.id}:{task.retry_count}", AttentionKind.TASK_FAILED,
            Urgency.CRITICAL if waiting else Urgency.HIGH, task.finished_at,
            f"task {task.id} failed for good: {_first_line(task.error_message) or 'no error given'}{behind}",
            "task", task.id))

    items.sort(key=lambda i: (-i.urgency, -(i.since.timestamp() if i.since else time.time())))
    return items


__all__ = ["AttentionItem", "AttentionKind", "BLOCKER_AGE_S", "MAX_FAILED", "Urgency", "attention"]
