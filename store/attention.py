"""What waits on a person: the attention items of a swarm as it is now.

Built from the store's public reads only, so every backend has the same inbox. An item names its
cause by a stable ``key``: the same cause gives the same key as long as it lasts (a watcher notifies
once per key), and the item is gone from the list once its cause is gone (the gate decided, the agent
back or released, the failed task retried or cancelled). Nothing here decides anything.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING

from .domain.liveness import span
from .errors import NotFound
from .models import MemoryEntry, MilestoneStatus, TaskStatus

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
    SWARM_ISSUE = "swarm_issue"  # a coordination_status.json lists it under critical_issues
    QUALITY_GATE = "quality_gate"  # a coordination_status.json reports one of its quality gates failing

    @property
    def label(self) -> str:
        """A few words for a count of this kind ("2 gates to review")."""
        return _LABELS[self]


_LABELS = {AttentionKind.GATE_REVIEW: "to review", AttentionKind.SWARM_PAUSED: "paused",
           AttentionKind.STALE_AGENT: "stale", AttentionKind.OLD_BLOCKER: "blocked >24h",
           AttentionKind.TASK_FAILED: "failed", AttentionKind.SWARM_ISSUE: "critical",
           AttentionKind.QUALITY_GATE: "checks failing"}


@dataclass(frozen=True, slots=True)
class AttentionItem:
    key: str
    kind: AttentionKind
    urgency: Urgency
    #: Since when the cause has stood (None if unknown).
    since: datetime | None
    #: One line for a person; may hold agent-written text: always shown as plain text.
    title: str
    #: What Enter opens: "milestone", "task", "agent", "swarm" or "memory" (its "namespace/key"), and
    #: its id or name.
    entity: str
    entity_id: int | str | None

    def age(self, now: float) -> float | None:
        return None if self.since is None else max(0.0, now - self.since.timestamp())


#: At most this many failed tasks are listed (newest first); a swarm with more has bigger news.
MAX_FAILED = 50

#: Where a bridged coordination_status.json keeps its swarm's state (app/status_bridge.py): under this
#: namespace prefix, the keys below.
BRIDGE_NAMESPACES = "bridge:"
CRITICAL_ISSUES, QUALITY_GATES = "critical_issues", "quality_gates"

#: Quality-gate states that mean failing (case-insensitive); ``false`` too. Anything else (pending,
#: in_progress, passed...) needs nobody yet.
FAILING = frozenset({"fail", "failed", "failing", "failure", "error", "errored", "broken", "red", "blocked"})

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

    items += await _swarm_reports(store)

    items.sort(key=lambda i: (-i.urgency, -(i.since.timestamp() if i.since else time.time())))
    return items


#: Kinds that have a place of their own on every screen (the gates awaiting review, the paused swarm).
_SHOWN_APART = (AttentionKind.GATE_REVIEW, AttentionKind.SWARM_PAUSED)


def counts(items: list[AttentionItem]) -> tuple[tuple[tuple[str, int, int], ...], int]:
    """For a one-line summary: (words, count, highest urgency) for each other kind present, the most
    urgent kinds first, and how many gates are overdue for review."""
    by_kind: dict[AttentionKind, list[AttentionItem]] = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item)
    rows = [(kind.label, len(group), int(max(i.urgency for i in group)))
            for kind, group in by_kind.items() if kind not in _SHOWN_APART]
    rows.sort(key=lambda row: (-row[2], list(_LABELS.values()).index(row[0])))
    overdue = sum(1 for i in by_kind.get(AttentionKind.GATE_REVIEW, ()) if i.urgency is Urgency.CRITICAL)
    return tuple(rows), overdue


async def _swarm_reports(store: Store) -> list[AttentionItem]:
    """The critical issues and failing quality gates a bridged coordination_status.json reports. Each
    stands from the first version of the entry that (in an unbroken run of versions) reported it: that
    is its age, and part of its key, so one that goes away and comes back is news again."""
    items: list[AttentionItem] = []
    for entry in await store.list_memories(namespace_prefix=BRIDGE_NAMESPACES, limit=200):
        if entry.key not in (CRITICAL_ISSUES, QUALITY_GATES):
            continue
        reported = _issues(entry.value) if entry.key == CRITICAL_ISSUES else _failing(entry.value)
        if not reported:
            continue
        try:
            history = await store.memory_history(entry.namespace, entry.key)
        except NotFound:  # deleted meanwhile
            continue
        where = f"{entry.namespace}/{entry.key}"
        for name, text in reported.items():
            first = _first_reported(history, entry, name)
            digest = hashlib.sha256(name.encode()).hexdigest()[:12]
            if entry.key == CRITICAL_ISSUES:
                items.append(AttentionItem(
                    f"issue:{entry.namespace}:{digest}:v{first.version}", AttentionKind.SWARM_ISSUE,
                    Urgency.CRITICAL, first.created_at,
                    f"critical issue reported by {entry.created_by}: {_first_line(text)}", "memory", where))
            else:
                items.append(AttentionItem(
                    f"quality:{entry.namespace}:{digest}:v{first.version}", AttentionKind.QUALITY_GATE,
                    Urgency.HIGH, first.created_at,
                    f"quality gate {_first_line(name, 60)} is {_first_line(text, 40)} "
                    f"(reported by {entry.created_by})", "memory", where))
    return items


def _issues(value: object) -> dict[str, str]:
    """critical_issues as {identity: text}: a list of strings or of objects (their title, summary,
    issue, description or message, else their JSON)."""
    if not isinstance(value, list):
        value = [value] if value else []
    out: dict[str, str] = {}
    for issue in value:
        if isinstance(issue, dict):
            text = next((str(issue[k]) for k in ("title", "summary", "issue", "description", "message")
                         if issue.get(k)), None) or json.dumps(issue, sort_keys=True, ensure_ascii=False)
        else:
            text = issue if isinstance(issue, str) else json.dumps(issue, ensure_ascii=False)
        if text.strip():
            out[text] = text
    return out


def _failing(value: object) -> dict[str, str]:
    """quality_gates as {name: state} for the failing ones."""
    return {name: state for name, state in gate_states(value).items() if is_failing(state)}


def gate_states(value: object) -> dict[str, str]:
    """Every quality gate ({name: state, or {"status": state, ...}}) as {name: state}, in the file's order."""
    if not isinstance(value, dict):
        return {}
    out: dict[str, str] = {}
    for name, state in value.items():
        if isinstance(state, dict):
            state = state.get("status", state.get("state"))
        out[str(name)] = "failing" if state is False else "passed" if state is True else (
            state.strip() if isinstance(state, str) else json.dumps(state, ensure_ascii=False))
    return out


def is_failing(state: str) -> bool:
    """Whether a quality gate's state (as ``gate_states`` gives it) means failing."""
    return state.strip().lower() in FAILING


def issue_texts(value: object) -> list[str]:
    """critical_issues as one text each (see ``_issues``)."""
    return list(_issues(value).values())


def _first_reported(history: list[MemoryEntry], current: MemoryEntry, name: str) -> MemoryEntry:
    """The oldest version, in the unbroken run of versions up to ``current``, that reported ``name``."""
    pick = _issues if current.key == CRITICAL_ISSUES else _failing
    first = current
    for version in sorted((v for v in history if v.version < current.version), key=lambda v: -v.version):
        if version.deleted or name not in pick(version.value):
            break
        first = version
    return first


__all__ = ["AttentionItem", "AttentionKind", "BLOCKER_AGE_S", "BRIDGE_NAMESPACES", "FAILING", "MAX_FAILED", "Urgency",
           "attention", "counts", "gate_states", "is_failing", "issue_texts"]
