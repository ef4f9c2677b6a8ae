"""The payload of every event kind (``store/events.py`` names the kinds): frozen dataclasses, one per
kind, read from the stored JSON by ``payload_of``. Apart from ``events.py`` because building some fifty
dataclasses costs about 14 ms at import, which every write would otherwise pay for the kinds' names;
``events.py`` gives these names lazily, so readers import them from there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from .events import EventKind
from .models import AgentStatus, Decision, MilestoneStatus, TaskSource, TaskStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .models import Event


# -- payloads ------------------------------------------------------------------------------------------

#: Field metadata: the emitter writes this key only sometimes (the contract test requires the others).
SOMETIMES = {"sometimes": True}


def _sometimes(default: Any = None) -> Any:
    """A field whose key the emitter writes only sometimes."""
    return field(default=default, metadata=SOMETIMES)


def _key(key: str, default: Any = None) -> Any:
    """A sometimes-written field stored under another key (``for`` is a Python keyword)."""
    return field(default=default, metadata={**SOMETIMES, "key": key})


def _enum(kind: type[enum.Enum]) -> Callable[[Any], Any]:
    """Read a stored value as ``kind``; an unknown value stays as it was (old or foreign rows still show)."""

    def convert(value: Any) -> Any:
        try:
            return kind(value)
        except (ValueError, TypeError):
            return value

    return convert


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True, slots=True)
class Payload:
    """What an event says. Subclasses declare their keys as fields, each with a default."""

    #: Per field that needs one: a function from the stored JSON value to the field's type.
    CONVERT: ClassVar[Mapping[str, Callable[[Any], Any]]] = {}

    @classmethod
    def declared_keys(cls) -> tuple[str, ...]:
        """The payload keys this class reads."""
        return tuple(key for _name, key, _convert, _always in _spec(cls))

    @classmethod
    def always_keys(cls) -> tuple[str, ...]:
        """The payload keys every event of this class carries."""
        return tuple(key for _name, key, _convert, always in _spec(cls) if always)

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Payload:
        """Build from stored JSON: keys it does not declare are ignored; keys missing take defaults."""
        values = {}
        for name, key, convert, _always in _spec(cls):
            if key in raw:
                value = raw[key]
                values[name] = value if convert is None or value is None else convert(value)
        return cls(**values)


_SPECS: dict[type, tuple[tuple[str, str, Any, bool], ...]] = {}


def _spec(cls: type[Payload]) -> tuple[tuple[str, str, Any, bool], ...]:
    spec = _SPECS.get(cls)
    if spec is None:
        spec = _SPECS[cls] = tuple(
            (f.name, f.metadata.get("key", f.name), cls.CONVERT.get(f.name), not f.metadata.get("sometimes"))
            for f in fields(cls)
        )
    return spec


@dataclass(frozen=True, slots=True)
class NoDetail(Payload):
    """A change of state that the kind says all of (``task.ready``, ``session.paused``...)."""


@dataclass(frozen=True, slots=True)
class UnknownPayload(Payload):
    """The payload of a kind this version does not declare (a newer writer, or a row written around
    swarmdeck): kept whole, as stored."""

    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Payload:
        return cls(dict(raw))


# tasks


@dataclass(frozen=True, slots=True)
class TaskEnqueued(Payload):
    CONVERT: ClassVar = {"status": _enum(TaskStatus), "source": _enum(TaskSource), "prerequisites": _tuple}
    status: TaskStatus | None = None
    priority: float | None = None
    agent_type: str | None = None
    prerequisites: tuple[int, ...] = ()
    milestone_id: int | None = None
    source: TaskSource | None = None


@dataclass(frozen=True, slots=True)
class TaskEscalated(Payload):
    """``task.escalated``: who handed the task off, the debugging task it now waits on, and the note."""

    agent: str | None = None
    debug_task: int | None = None
    agent_type: str | None = None
    note: str | None = None
    #: The agent itself handed it off (a heartbeat too; absent: someone else did).
    heard: bool = _sometimes(False)


@dataclass(frozen=True, slots=True)
class TaskDependencyAdded(Payload):
    prerequisite_id: int | None = None


@dataclass(frozen=True, slots=True)
class TaskReprioritised(Payload):
    priority: float | None = None
    was: float | None = None


@dataclass(frozen=True, slots=True)
class TaskBasePrioritySet(Payload):
    base_priority: int | None = None
    was: int | None = None


@dataclass(frozen=True, slots=True)
class TaskClaimed(Payload):
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class TaskCompleted(Payload):
    agent: str | None = None
    duration_s: float | None = None
    estimated_s: float | None = None
    milestone_id: int | None = None
    #: The hours booked to the milestone when the agent gave them (absent: the time the task ran).
    hours: float | None = _sometimes()
    #: The agent itself reported it (a heartbeat too; absent: a person or the reaper did).
    heard: bool = _sometimes(False)


@dataclass(frozen=True, slots=True)
class TaskFailed(Payload):
    agent: str | None = None
    error: str | None = None
    duration_s: float | None = None
    milestone_id: int | None = None
    #: The agent itself reported it (a heartbeat too; absent: the reaper did).
    heard: bool = _sometimes(False)


@dataclass(frozen=True, slots=True)
class TaskRetried(Payload):
    """Back in the queue: after the agent's failure (the failure's keys, and ``max_retries``), or by a
    person (``manual``; ``for_task`` when retried to release the task it held)."""

    retry: int | None = None
    agent: str | None = _sometimes()
    error: str | None = _sometimes()
    duration_s: float | None = _sometimes()
    milestone_id: int | None = _sometimes()
    max_retries: int | None = _sometimes()
    manual: bool = _sometimes(False)
    for_task: int | None = _key("for")
    #: The agent itself reported the failure (a heartbeat too).
    heard: bool = _sometimes(False)


@dataclass(frozen=True, slots=True)
class TaskCancelled(Payload):
    reason: str | None = None
    #: The task whose cancel took this one with it (absent for the task cancelled itself).
    cascade_from: int | None = _sometimes()
    #: The agent that was running it, now idle again (absent for a task that was not running).
    agent: str | None = _sometimes()


@dataclass(frozen=True, slots=True)
class TaskHold(Payload):
    """``task.held`` / ``task.unheld``: the failed task upstream that holds (or no longer holds) it."""

    failed_task: int | None = None


# agents


@dataclass(frozen=True, slots=True)
class AgentRegistered(Payload):
    agent_type: str | None = None
    colour: str | None = None
    model: str | None = None


class _NotGiven:
    """A field an update left alone (None is a value an update may set: a cleared task)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN: Any = _NotGiven()


@dataclass(frozen=True, slots=True)
class AgentChange(Payload):
    """``agent.heartbeat`` / ``agent.updated``: the fields the agent changed, each NOT_GIVEN if left alone."""

    CONVERT: ClassVar = {"status": _enum(AgentStatus)}
    status: AgentStatus | Any = _sometimes(NOT_GIVEN)
    current_task_id: int | None | Any = _sometimes(NOT_GIVEN)
    completion: float | Any = _sometimes(NOT_GIVEN)
    blockers: list[str] | Any = _sometimes(NOT_GIVEN)
    next_milestone: str | None | Any = _sometimes(NOT_GIVEN)
    #: What the agent said it is doing: the in_progress item of its todo list (seed 001's activeForm).
    activity: str | Any = _sometimes(NOT_GIVEN)

    def changes(self) -> dict[str, Any]:
        """The fields given, in declaration order, as stored."""
        return {name: getattr(self, name) for name, *_ in _spec(type(self))
                if getattr(self, name) is not NOT_GIVEN}


@dataclass(frozen=True, slots=True)
class AgentAction(Payload):
    phase: str | None = None
    action: str | None = None
    duration_ms: float | None = None
    success: bool = True
    error_message: str | None = None


# reviewers


@dataclass(frozen=True, slots=True)
class ReviewerChange(Payload):
    """``reviewer.added`` / ``reviewer.key`` (with the key's fingerprint) / ``reviewer.removed``."""

    name: str | None = None
    by: str | None = None
    key: str | None = _sometimes()


# milestones and gates


@dataclass(frozen=True, slots=True)
class MilestoneAdded(Payload):
    CONVERT: ClassVar = {"status": _enum(MilestoneStatus)}
    name: str | None = None
    status: MilestoneStatus | None = None


@dataclass(frozen=True, slots=True)
class MilestoneOpened(Payload):
    name: str | None = None
    #: The milestone whose gate opened it.
    after: str | None = None


@dataclass(frozen=True, slots=True)
class MilestoneApproved(Payload):
    name: str | None = None
    conditions_closed: bool = False


@dataclass(frozen=True, slots=True)
class MilestoneReview(Payload):
    name: str | None = None
    resumed_by: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class MilestoneReplanned(Payload):
    """A person cut, deferred or reinstated a milestone: who, why, and how many tasks it held back
    (cut, deferred) or released (reinstated)."""

    name: str | None = None
    by: str | None = None
    reason: str | None = None
    tasks: int = 0


@dataclass(frozen=True, slots=True)
class ReportSubmitted(Payload):
    CONVERT: ClassVar = {"proposed_decision": _enum(Decision)}
    name: str | None = None
    version: int | None = None
    hash: str | None = None
    proposed_decision: Decision | None = None


@dataclass(frozen=True, slots=True)
class GateDecided(Payload):
    CONVERT: ClassVar = {"decision": _enum(Decision), "status": _enum(MilestoneStatus)}
    name: str | None = None
    decision: Decision | None = None
    reviewer: str | None = None
    report_version: int | None = None
    report_hash: str | None = None
    approvals: int | None = None
    required: int | None = None
    #: The milestone's status after the decision.
    status: MilestoneStatus | None = None
    #: The acceptance criteria the reviewer accepted unreported or unmet (absent: none).
    accepted_unmet: list[str] | None = _sometimes()


@dataclass(frozen=True, slots=True)
class ConditionClosed(Payload):
    condition_id: int | None = None
    text: str | None = None
    closed_by: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class EvidenceAdded(Payload):
    name: str | None = None
    criterion: int | None = None
    exit_code: int | None = None
    output_sha256: str | None = None


# the swarm


@dataclass(frozen=True, slots=True)
class SwarmPaused(Payload):
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SwarmResumed(Payload):
    by: str | None = None
    note: str | None = None


# sessions, memory, records, documents


@dataclass(frozen=True, slots=True)
class SessionCreated(Payload):
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class SessionEventAppended(Payload):
    #: The session event's own kind (what the agent called it).
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class SessionStateSet(Payload):
    CONVERT: ClassVar = {"keys": _tuple}
    #: The state keys set.
    keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MemoryVersion(Payload):
    """``memory.added`` / ``memory.updated``: the entry and the version now current."""

    namespace: str | None = None
    key: str | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True)
class MemoryKey(Payload):
    """``memory.deleted`` / ``memory.restored``."""

    namespace: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class RecordLogged(Payload):
    kind: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class RecordsArchived(Payload):
    """A prune (store/retention.py): how many records of each kind it archived, and how many finished tasks."""

    counts: dict[str, int] | None = None
    tasks: int | None = None


@dataclass(frozen=True, slots=True)
class DocumentIndexed(Payload):
    path: str | None = None
    chunks: int | None = None


# the search index


@dataclass(frozen=True, slots=True)
class IndexEmbedded(Payload):
    CONVERT: ClassVar = {"items": _tuple}
    count: int | None = None
    items: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class IndexFailed(Payload):
    error: str | None = None


@dataclass(frozen=True, slots=True)
class IndexForgotten(Payload):
    CONVERT: ClassVar = {"items": _tuple}
    items: tuple[int, ...] = ()


#: The payload class of every kind.
PAYLOADS: dict[EventKind, type[Payload]] = {
    EventKind.TASK_ENQUEUED: TaskEnqueued,
    EventKind.TASK_DEPENDENCY_ADDED: TaskDependencyAdded,
    EventKind.TASK_REPRIORITISED: TaskReprioritised,
    EventKind.TASK_BASE_PRIORITY_SET: TaskBasePrioritySet,
    EventKind.TASK_BLOCKED: NoDetail,
    EventKind.TASK_READY: NoDetail,
    EventKind.TASK_CLAIMED: TaskClaimed,
    EventKind.TASK_COMPLETED: TaskCompleted,
    EventKind.TASK_FAILED: TaskFailed,
    EventKind.TASK_RETRIED: TaskRetried,
    EventKind.TASK_CANCELLED: TaskCancelled,
    EventKind.TASK_HELD: TaskHold,
    EventKind.TASK_UNHELD: TaskHold,
    EventKind.TASK_ESCALATED: TaskEscalated,
    EventKind.AGENT_REGISTERED: AgentRegistered,
    EventKind.AGENT_HEARTBEAT: AgentChange,
    EventKind.AGENT_UPDATED: AgentChange,
    EventKind.AGENT_ACTION: AgentAction,
    EventKind.REVIEWER_ADDED: ReviewerChange,
    EventKind.REVIEWER_KEY: ReviewerChange,
    EventKind.REVIEWER_REMOVED: ReviewerChange,
    EventKind.MILESTONE_ADDED: MilestoneAdded,
    EventKind.MILESTONE_OPENED: MilestoneOpened,
    EventKind.MILESTONE_APPROVED: MilestoneApproved,
    EventKind.MILESTONE_REVIEW: MilestoneReview,
    EventKind.MILESTONE_CUT: MilestoneReplanned,
    EventKind.MILESTONE_DEFERRED: MilestoneReplanned,
    EventKind.MILESTONE_REINSTATED: MilestoneReplanned,
    EventKind.GATE_REPORT_SUBMITTED: ReportSubmitted,
    EventKind.GATE_DECIDED: GateDecided,
    EventKind.GATE_CONDITION_CLOSED: ConditionClosed,
    EventKind.GATE_EVIDENCE_ADDED: EvidenceAdded,
    EventKind.SWARM_PAUSED: SwarmPaused,
    EventKind.SWARM_RESUMED: SwarmResumed,
    EventKind.SESSION_CREATED: SessionCreated,
    EventKind.SESSION_ACTIVE: NoDetail,
    EventKind.SESSION_PAUSED: NoDetail,
    EventKind.SESSION_TERMINATED: NoDetail,
    EventKind.SESSION_ARCHIVED: NoDetail,
    EventKind.SESSION_EVENT: SessionEventAppended,
    EventKind.SESSION_STATE_SET: SessionStateSet,
    EventKind.MEMORY_ADDED: MemoryVersion,
    EventKind.MEMORY_UPDATED: MemoryVersion,
    EventKind.MEMORY_DELETED: MemoryKey,
    EventKind.MEMORY_RESTORED: MemoryKey,
    EventKind.RECORD_LOGGED: RecordLogged,
    EventKind.RECORDS_ARCHIVED: RecordsArchived,
    EventKind.DOCUMENT_INDEXED: DocumentIndexed,
    EventKind.INDEX_EMBEDDED: IndexEmbedded,
    EventKind.INDEX_FAILED: IndexFailed,
    EventKind.INDEX_FORGOTTEN: IndexForgotten,
}


def payload_of(event: Event) -> Payload:
    """The event's payload as its kind's class (``UnknownPayload`` for a kind not declared here)."""
    kind = EventKind.of(event.kind)
    return (UnknownPayload if kind is None else PAYLOADS[kind]).parse(event.payload or {})
