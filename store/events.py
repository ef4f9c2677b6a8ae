"""The change feed as a written contract: every kind of event the store writes, and what each one says.

Every write appends events to one feed (``Store.changes_since``); the dashboard, the charts and anyone
following the feed read it. This module names each kind (``EventKind``, a ``StrEnum``: its members
compare equal to the strings stored in the ``kind`` column) and declares its payload as a typed class
(``PAYLOADS``, in store/payloads.py, given from here lazily); ``payload_of(event)`` reads an event's payload JSON into that class. Readers match on
``EventKind`` members and payload attributes, never on string prefixes or guessed dictionary keys.
``tests/store/test_events.py`` runs the store through every operation and checks both ways that the
emitters and this contract agree: each kind written is declared here with the keys declared, and each
kind declared here is written.

Why frozen dataclasses, and not pydantic models or TypedDicts:

- Parsing must be cheap. The dashboard reads up to thousands of events per poll and each screen
  reads their payloads again; a dataclass built from the keys it declares is a dictionary walk, with no
  validation pass. The payloads are the store's own JSON, written from values the store has already
  checked, so validating them again on every read would only cost time; and a payload that turns out
  odd (a row written around swarmdeck) must still be shown, not refused.
- Old rows must read: every field has a default, so an event written before a key existed parses,
  and a key this module does not know is ignored. A TypedDict has no defaults and no attributes to
  match on (``case TaskFailed(error=...)``).
- The store's models (``store/models.py``) are frozen dataclasses too: one idiom for what the store
  hands out.

No SQL and no UI here: any backend writes these kinds, any face reads them.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from .models import MilestoneStatus, SessionStatus, TaskStatus

if TYPE_CHECKING:
    from .models import Event


class Entity(enum.StrEnum):
    """What an event is about: its ``entity`` column (``entity_id`` says which one)."""

    TASK = "task"
    AGENT = "agent"
    REVIEWER = "reviewer"
    MILESTONE = "milestone"
    SWARM = "swarm"
    SESSION = "session"
    MEMORY = "memory"
    RECORD = "record"
    DOCUMENT = "document"
    INDEX = "index"


class EventKind(enum.StrEnum):
    """Every kind of event the store writes. Each member equals the string in the ``kind`` column."""

    # tasks (entity: task; entity_id: the task id)
    TASK_ENQUEUED = "task.enqueued"
    TASK_DEPENDENCY_ADDED = "task.dependency_added"
    TASK_REPRIORITISED = "task.reprioritised"
    TASK_BASE_PRIORITY_SET = "task.base_priority_set"
    TASK_BLOCKED = "task.blocked"  # its prerequisites (or its milestone) no longer let it run
    TASK_READY = "task.ready"  # released: everything it waits on is done
    TASK_CLAIMED = "task.claimed"
    TASK_COMPLETED = "task.completed"
    TASK_FAILED = "task.failed"  # for good: no retries left, or not to be retried
    TASK_RETRIED = "task.retried"  # back in the queue after a failure (its own retry, or a person's)
    TASK_CANCELLED = "task.cancelled"
    TASK_HELD = "task.held"  # a task upstream failed for good: this one waits on it
    TASK_UNHELD = "task.unheld"
    TASK_ESCALATED = "task.escalated"  # its agent handed it off: it waits on a new debugging task
    # agents (entity: agent; entity_id: its name)
    AGENT_REGISTERED = "agent.registered"
    AGENT_HEARTBEAT = "agent.heartbeat"
    AGENT_UPDATED = "agent.updated"
    AGENT_ACTION = "agent.action"
    # reviewers (entity: reviewer; entity_id: their name)
    REVIEWER_ADDED = "reviewer.added"
    REVIEWER_KEY = "reviewer.key"
    REVIEWER_REMOVED = "reviewer.removed"
    # milestones and their gates (entity: milestone; entity_id: the milestone id)
    MILESTONE_ADDED = "milestone.added"
    MILESTONE_OPENED = "milestone.opened"
    MILESTONE_APPROVED = "milestone.approved"  # its last open condition closed
    MILESTONE_REVIEW = "milestone.review"  # back to review after a resume lifted its escalation
    MILESTONE_CUT = "milestone.cut"  # a person cut it from the plan, with its tasks
    MILESTONE_DEFERRED = "milestone.deferred"  # a person deferred it, with its tasks
    MILESTONE_REINSTATED = "milestone.reinstated"  # a person put a cut or deferred one back in the plan
    GATE_REPORT_SUBMITTED = "gate.report_submitted"
    GATE_DECIDED = "gate.decided"
    GATE_CONDITION_CLOSED = "gate.condition_closed"
    GATE_EVIDENCE_ADDED = "gate.evidence_added"  # a command run as evidence for an acceptance criterion
    # the swarm (entity: swarm; no entity_id)
    SWARM_PAUSED = "swarm.paused"
    SWARM_RESUMED = "swarm.resumed"
    # sessions (entity: session; entity_id: the session id)
    SESSION_CREATED = "session.created"
    SESSION_ACTIVE = "session.active"
    SESSION_PAUSED = "session.paused"
    SESSION_TERMINATED = "session.terminated"
    SESSION_ARCHIVED = "session.archived"
    SESSION_EVENT = "session.event"
    SESSION_STATE_SET = "session.state_set"
    # memory, learning records, documents (entity_id: the row id)
    MEMORY_ADDED = "memory.added"
    MEMORY_UPDATED = "memory.updated"
    MEMORY_DELETED = "memory.deleted"
    MEMORY_RESTORED = "memory.restored"
    RECORD_LOGGED = "record.logged"
    RECORDS_ARCHIVED = "record.archived"
    DOCUMENT_INDEXED = "document.indexed"
    # the search index (entity: index; entity_id: the model, if any)
    INDEX_EMBEDDED = "index.embedded"
    INDEX_FAILED = "index.failed"
    INDEX_FORGOTTEN = "index.forgotten"

    @property
    def entity(self) -> Entity:
        """The entity every event of this kind is about (a gate's events are its milestone's)."""
        return _ENTITY[self]

    @property
    def action(self) -> str:
        """What happened, without the entity: ``claimed`` for ``task.claimed``."""
        return self.value.split(".", 1)[1]

    @property
    def status(self) -> TaskStatus | MilestoneStatus | SessionStatus | None:
        """For a kind named after the status it leaves its entity in (``task.ready``), that status."""
        return _STATUS.get(self)

    @classmethod
    def of(cls, kind: str) -> EventKind | None:
        """The member for a stored kind, or None for a kind this version does not know."""
        return cls._value2member_map_.get(kind)  # type: ignore[return-value]


_ENTITY = {
    kind: Entity.MILESTONE if kind.value.startswith("gate.") else Entity(kind.value.split(".", 1)[0])
    for kind in EventKind
}

_STATUS: dict[EventKind, TaskStatus | MilestoneStatus | SessionStatus] = {
    EventKind.TASK_BLOCKED: TaskStatus.BLOCKED,
    EventKind.TASK_ESCALATED: TaskStatus.BLOCKED,
    EventKind.TASK_READY: TaskStatus.READY,
    EventKind.TASK_COMPLETED: TaskStatus.COMPLETED,
    EventKind.TASK_FAILED: TaskStatus.FAILED,
    EventKind.TASK_CANCELLED: TaskStatus.CANCELLED,
    EventKind.MILESTONE_APPROVED: MilestoneStatus.APPROVED,
    EventKind.MILESTONE_REVIEW: MilestoneStatus.REVIEW,
    EventKind.SESSION_ACTIVE: SessionStatus.ACTIVE,
    EventKind.SESSION_PAUSED: SessionStatus.PAUSED,
    EventKind.SESSION_TERMINATED: SessionStatus.TERMINATED,
    EventKind.SESSION_ARCHIVED: SessionStatus.ARCHIVED,
}


# -- payloads, given lazily --------------------------------------------------------------------------------
# The payload classes live in store/payloads.py, imported on first use: writers name kinds on every write,
# and only readers need the classes.


def payload_of(event: Event) -> Any:
    """The event's payload as its kind's class (``UnknownPayload`` for a kind not declared here)."""
    from .payloads import payload_of as parse

    return parse(event)


def __getattr__(name: str) -> Any:
    if name.startswith("__"):  # the import system asks for __path__ and the like: no payloads for that
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import payloads

    try:
        return getattr(payloads, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


# -- sets of kinds the faces ask about -------------------------------------------------------------------

#: Kinds after which the count of tasks held by failed tasks may have changed.
HOLDING = frozenset({EventKind.TASK_HELD, EventKind.TASK_UNHELD, EventKind.TASK_CANCELLED})
#: Kinds that can move a chart: the queue's and the gates' (not heartbeats, not memory writes).
CHARTED = frozenset(k for k in EventKind if k.entity in (Entity.TASK, Entity.MILESTONE))
