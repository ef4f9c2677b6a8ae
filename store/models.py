"""Frozen dataclasses the store returns. Never rows."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .criteria import CriteriaReview
    from .events import EventKind, Payload


def unverified(who: str | None) -> str:
    """store/signing.py's wording of a signed act whose signature does not check out (imported on use:
    reading a model loads no hashing)."""
    from .signing import unverified

    return unverified(who)


def from_ts(value: float | None) -> datetime | None:
    """Epoch seconds (how the database keeps time) to an aware UTC datetime."""
    return None if value is None else datetime.fromtimestamp(value, tz=timezone.utc)


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: "Leave this field as it is" — distinct from None, which clears a field (every backend takes it).
UNSET: Any = _Unset()


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    BLOCKED = "blocked"
    READY = "ready"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)

    @classmethod
    def _missing_(cls, value: object) -> TaskStatus | None:
        # Seed 001's todo vocabulary, where agents send a task's status: in_progress is running.
        return cls.RUNNING if value == "in_progress" else None


UNFINISHED = (TaskStatus.PENDING, TaskStatus.BLOCKED, TaskStatus.READY, TaskStatus.RUNNING)


class TaskSource(enum.StrEnum):
    HUMAN = "human"
    AGENT_REQUIREMENTS = "agent_requirements"
    AGENT_PLANNER = "agent_planner"
    AGENT_IMPLEMENTATION = "agent_implementation"


class AgentStatus(enum.StrEnum):
    IDLE = "idle"
    WORKING = "working"
    BLOCKED = "blocked"
    FAILED = "failed"
    OFFLINE = "offline"

    @classmethod
    def _missing_(cls, value: object) -> AgentStatus | None:
        # Seed 001's todo vocabulary, where agents send their status (STATUS_ALIASES).
        return {"in_progress": cls.WORKING, "pending": cls.IDLE, "completed": cls.IDLE}.get(value)  # type: ignore[call-overload]


#: The other words a status is accepted as (seed 001's todo vocabulary: pending, in_progress, completed),
#: for the faces that list a status's accepted values (the enums' ``_missing_`` maps them).
STATUS_ALIASES: dict[type, tuple[str, ...]] = {TaskStatus: ("in_progress",),
                                                AgentStatus: ("in_progress", "pending", "completed")}


class MilestoneStatus(enum.StrEnum):
    LOCKED = "locked"  # an earlier gate has not opened it yet: its tasks are blocked
    OPEN = "open"  # work in progress
    REVIEW = "review"  # a validation report awaits a decision
    APPROVED = "approved"
    CONDITIONAL = "conditional"  # approved with conditions still open
    ESCALATED = "escalated"  # the swarm is paused until a human resumes

    @property
    def passed(self) -> bool:
        return self in (MilestoneStatus.APPROVED, MilestoneStatus.CONDITIONAL)


class PlanState(enum.StrEnum):
    """Whether a milestone is in the plan: a person may cut or defer it (seed 004's risk cut order),
    and reinstate it. A cut or deferred milestone's tasks are not handed out and nothing that depends
    on it opens."""

    ACTIVE = "active"
    DEFERRED = "deferred"
    CUT = "cut"


class Decision(enum.StrEnum):
    APPROVE = "APPROVE"
    CONDITIONAL = "CONDITIONAL"
    REVISE = "REVISE"
    ESCALATE = "ESCALATE"


class CriterionStatus(enum.StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Comparator(enum.StrEnum):
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "=="

    def holds(self, value: float, target: float) -> bool:
        return {
            "<": value < target,
            "<=": value <= target,
            ">": value > target,
            ">=": value >= target,
            "==": value == target,
        }[self.value]


class ConditionStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class PriorityBreakdown:
    """abathur's five factors, each 0-100, and the weighted total."""

    base: float
    depth: float
    urgency: float
    blocking: float
    source: float
    total: float


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    description: str
    summary: str | None
    source: TaskSource
    agent_type: str
    base_priority: int
    status: TaskStatus
    priority: float
    dependency_depth: int
    prerequisites: tuple[int, ...]
    milestone_id: int | None
    parent_task_id: int | None
    session_id: str | None
    deadline: datetime | None
    estimated_duration_seconds: int | None
    input_data: Any
    result_data: Any
    error_message: str | None
    assigned_agent: str | None
    retry_count: int
    max_retries: int
    timeout_seconds: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    #: Why a blocked task is blocked, e.g. "waiting for 3, 4" or "milestone 'M2' is not open".
    blocked_reason: str | None = None
    #: A task upstream that failed for good and so holds this one until it is retried or cancelled.
    held_by: int | None = None
    #: When the retention policy archived it (store/retention.py): finished long ago, nothing live
    #: depending on it; left out of the listings by default. None while it is live.
    archived_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Agent:
    id: int
    name: str
    agent_type: str
    colour: str | None
    model: str | None
    status: AgentStatus
    current_task_id: int | None
    completion: float
    blockers: tuple[str, ...]
    next_milestone: str | None
    last_heartbeat: datetime | None
    stale_after_seconds: float
    registered_at: datetime
    heartbeat_age_seconds: float | None
    stale: bool
    #: Once stale for this long, the tasks it claimed go back to the queue (before their leases end).
    requeue_after_seconds: float = 300.0
    #: When each of ``blockers`` was first reported, in the same order (None where unknown).
    blockers_since: tuple[datetime | None, ...] = ()

    @staticmethod
    def stale_rule(status: AgentStatus, heartbeat_age: float | None, stale_after_seconds: float) -> bool:
        """The stale rule: an agent not offline whose last heartbeat (if any) is older than it promised."""
        if status is AgentStatus.OFFLINE:
            return False
        return heartbeat_age is None or heartbeat_age > stale_after_seconds

    def heartbeat_age(self, now: float | datetime) -> float | None:
        """Seconds since the last heartbeat as of ``now`` (epoch seconds or a datetime); None if never."""
        if self.last_heartbeat is None:
            return None
        now = now.timestamp() if isinstance(now, datetime) else now
        return max(0.0, now - self.last_heartbeat.timestamp())

    def is_stale(self, now: float | datetime) -> bool:
        """Whether the agent is stale as of ``now`` (``stale`` says the same as of when it was read)."""
        return Agent.stale_rule(self.status, self.heartbeat_age(now), self.stale_after_seconds)


@dataclass(frozen=True, slots=True)
class Milestone:
    id: int
    name: str
    position: int
    objective: str
    planned_weeks: str | None
    hour_budget: float | None
    hours_spent: float
    deliverables: tuple[str, ...]
    acceptance_criteria: tuple[str, ...]
    status: MilestoneStatus
    required_approvals: int
    created_at: datetime
    #: Seconds a submitted report may wait for a decision before the gate is overdue (None: no deadline).
    review_within_seconds: float | None = None
    #: Ids of the milestones whose gates must pass before this one opens; None: the one before it.
    prerequisites: tuple[int, ...] | None = None
    #: The planned start (ISO date, e.g. 2026-12-01): with ``planned_weeks``, the schedule.
    starts_on: str | None = None
    #: Money budget and the rate an hour costs (seed 000's $76,336): cost spent = hours x rate.
    money_budget: float | None = None
    hour_rate: float | None = None
    plan_state: PlanState = PlanState.ACTIVE

    @property
    def cost_spent(self) -> float | None:
        """Money spent: the hours burnt at the hour rate (None without a rate)."""
        return None if self.hour_rate is None else self.hours_spent * self.hour_rate

    @property
    def in_plan(self) -> bool:
        return self.plan_state is PlanState.ACTIVE


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    status: CriterionStatus
    evidence: str = ""


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    value: float
    target: float
    comparator: Comparator
    unit: str = ""

    @property
    def met(self) -> bool:
        return self.comparator.holds(self.value, self.target)


@dataclass(frozen=True, slots=True)
class ReportIssue:
    severity: Severity
    description: str


@dataclass(frozen=True, slots=True)
class ValidationReport:
    id: int
    milestone_id: int
    version: int
    submitted_by: str
    submitted_at: datetime
    summary: str
    proposed_decision: Decision | None
    criteria: tuple[Criterion, ...]
    metrics: tuple[Metric, ...]
    issues: tuple[ReportIssue, ...]
    recommendations: tuple[str, ...]
    content_hash: str
    #: Seed 001's "Next Milestone Context": refined context and instructions for the next phase's agents.
    next_milestone_context: str = ""


@dataclass(frozen=True, slots=True)
class CriterionEvidence:
    """A command run as evidence for one acceptance criterion, and what it gave (an agent's claim:
    the output itself is not kept, only its SHA-256, so a seat shows the digest and the exit code)."""

    id: int
    milestone_id: int
    #: The acceptance criterion's number (1-based, in the milestone's order).
    criterion: int
    command: str
    exit_code: int
    output_sha256: str
    ran_at: datetime
    recorded_by: str
    recorded_at: datetime

    @property
    def passed(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True, slots=True)
class GateDecision:
    id: int
    milestone_id: int
    report_id: int
    report_version: int
    report_hash: str
    decision: Decision
    rationale: str
    reviewer: str
    decided_at: datetime
    #: The reviewer's ed25519 signature over the decision (store/signing.py), as recorded.
    signature: bytes | None = None
    #: Whether that signature is the reviewer's registered key's over exactly this decision of exactly
    #: this report version. Only verified approvals open a milestone.
    verified: bool = False
    #: The acceptance criteria the reviewer approved while they were not reported, not met or unknown,
    #: confirmed by name (part of what the signature covers).
    accepted_unmet: tuple[str, ...] = ()

    @property
    def warning(self) -> str | None:
        """What every seat shows, loudly, for a decision that is not verified."""
        return None if self.verified else unverified(self.reviewer)


@dataclass(frozen=True, slots=True)
class Condition:
    id: int
    milestone_id: int
    decision_id: int
    text: str
    status: ConditionStatus
    closed_by: str | None
    closed_at: datetime | None
    note: str | None
    #: The closing reviewer's signature over the closure (None while the condition is open).
    close_signature: bytes | None = None
    #: Whether the closure is signed by the registered key of who closed it (False while open).
    verified: bool = False

    @property
    def warning(self) -> str | None:
        """Said of a closure that is not verified; None for an open condition."""
        closed = self.status is ConditionStatus.CLOSED
        return unverified(self.closed_by) if closed and not self.verified else None


@dataclass(frozen=True, slots=True)
class Reviewer:
    """A registered person who may decide gates. Removing one keeps the row (and its history)."""

    id: int
    name: str  # canonical form (store/identity.py)
    added_at: datetime
    added_by: str
    removed_at: datetime | None
    removed_by: str | None
    #: The reviewer's ed25519 public key (32 raw bytes), once they have one.
    public_key: bytes | None = None

    @property
    def active(self) -> bool:
        return self.removed_at is None


@dataclass(frozen=True, slots=True)
class Resumption:
    """A reviewer lifted an escalation of this gate: the swarm accepted claims again."""

    id: int
    milestone_id: int
    decision_id: int | None  # the ESCALATE decision it lifted
    resumed_by: str
    reason: str
    resumed_at: datetime
    #: The newest signed escalation this resume lifted: what its signature covers (0: none was).
    escalation_id: int | None = None
    signature: bytes | None = None
    #: Whether the signature is the registered key's of who resumed, over exactly this resume.
    verified: bool = False

    @property
    def warning(self) -> str | None:
        return None if self.verified else unverified(self.resumed_by)


@dataclass(frozen=True, slots=True)
class GateStatus:
    milestone: Milestone
    report: ValidationReport | None
    decisions: tuple[GateDecision, ...]
    conditions: tuple[Condition, ...]
    #: Distinct reviewers who approved the current report version.
    approvals: tuple[str, ...]
    #: Tasks that approving this gate would unblock (tasks of the locked milestones it opens).
    unblocks: int
    #: The locked milestones passing this gate opens ("P3, P4"), None if none.
    next_milestone: str | None
    #: Escalations of this gate that a reviewer lifted, oldest first.
    resumptions: tuple[Resumption, ...] = ()
    #: Whether this gate passed by verified approvals of its current report (what opens the next one).
    verified_passed: bool = False
    #: Whether the store hands out this milestone's tasks: it is the first, or every earlier gate
    #: passed by verified approvals (whatever the milestone's status column says).
    claims_open: bool = True
    #: Unfinished tasks of ``next_milestone``: all that approving opens (``unblocks`` of them ready now).
    next_tasks: int = 0
    #: The milestones that depend on this one, whatever their status: what a passed gate opened.
    following: str | None = None
    #: The gates this milestone still waits for (names): what must pass before it opens.
    waits_for: tuple[str, ...] = ()
    #: Commands run as evidence for the milestone's acceptance criteria, oldest first.
    evidence: tuple[CriterionEvidence, ...] = ()

    @property
    def criteria(self) -> CriteriaReview:
        """The milestone's acceptance criteria against the current report (store/criteria.py)."""
        from .criteria import review

        return review(self.milestone.acceptance_criteria, self.report.criteria if self.report else (),
                      self.evidence)

    @property
    def unverified_pass(self) -> bool:
        """The status says the gate passed, but verified approvals of its report do not back it."""
        return self.milestone.status.passed and not self.verified_passed

    @property
    def decidable(self) -> bool:
        """Whether a report awaits a decision: the gate is in review, or it passed unverified (the store
        takes such a gate as in review, to be decided again, signed)."""
        in_review = self.milestone.status is MilestoneStatus.REVIEW
        return self.report is not None and (in_review or self.unverified_pass)


@dataclass(frozen=True, slots=True)
class SwarmState:
    paused: bool
    reason: str | None
    paused_by: str | None
    paused_at: datetime | None
    #: The newest verified ESCALATE that no verified resume has lifted: the one a resume lifts, and
    #: signs (None when there is none; the swarm may still be paused by its flag alone).
    escalation_id: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    ts: datetime
    actor: str
    kind: str
    entity: str
    entity_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def kind_enum(self) -> EventKind | None:
        """The kind as a member of the change feed's contract (store/events.py); None if not one."""
        from .events import EventKind  # imported when first read: a CLI call never pays for the contract

        return EventKind.of(self.kind)

    def typed(self) -> Payload:
        """The payload as its kind's typed class (store/events.py)."""
        from .events import payload_of

        return payload_of(self)


#: Seconds per queue sample slot (the queue_samples table): chart bucket widths are multiples of it.
QUEUE_SLOT = 10


@dataclass(frozen=True, slots=True)
class QueueStatus:
    counts: dict[str, int]
    total: int
    average_priority: float | None  # over unfinished tasks
    oldest_pending: datetime | None  # oldest unfinished, not yet running task
    paused: bool
    held_by_failure: int = 0  # blocked tasks that wait on a task that failed for good


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    batches: tuple[tuple[int, ...], ...]
    total_batches: int
    max_parallelism: int
    #: The longest chain by estimate, first to last (seed 002's critical path), and its total seconds.
    critical_path: tuple[int, ...] = ()
    critical_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Escalation:
    """A task handed off to a debugging task: ``task`` waits (blocked) until ``debug_task`` completes,
    then is ready again for its agent type."""

    task: Task
    debug_task: Task


@dataclass(frozen=True, slots=True)
class CancelResult:
    cancelled_task_id: int
    cascaded_task_ids: tuple[int, ...]
    dry_run: bool

    @property
    def total_cancelled(self) -> int:
        return 1 + len(self.cascaded_task_ids)


# -- memory -----------------------------------------------------------------------------------------


class SessionStatus(enum.StrEnum):
    CREATED = "created"
    ACTIVE = "active"
    PAUSED = "paused"
    TERMINATED = "terminated"
    ARCHIVED = "archived"


class MemoryType(enum.StrEnum):
    SEMANTIC = "semantic"
    EPISODIC = "episodic"
    PROCEDURAL = "procedural"


class SearchMode(enum.StrEnum):
    HYBRID = "hybrid"
    KEYWORD = "keyword"
    SEMANTIC = "semantic"


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    agent_name: str | None
    status: SessionStatus
    state: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SessionEvent:
    id: int
    session_id: str
    ts: datetime
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class MemoryEntry:
    id: int
    namespace: str
    key: str
    version: int
    value: Any  # text, or the decoded JSON value
    is_json: bool
    memory_type: MemoryType
    created_by: str
    session_id: str | None
    task_id: int | None
    metadata: dict[str, Any]
    created_at: datetime
    is_current: bool
    deleted_at: datetime | None
    deleted_by: str | None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True, slots=True)
class LearningRecord:
    id: int
    kind: str
    namespace: str
    title: str
    fields: dict[str, Any]
    agent: str | None
    task_id: int | None
    milestone_id: int | None
    session_id: str | None
    created_at: datetime
    #: When the retention policy archived it (store/retention.py); None while it is searchable.
    archived_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Document:
    id: int
    namespace: str
    path: str
    content_hash: str
    chunk_count: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked result. ``snippet`` is plain text; ``highlights`` are (start, end) spans in it."""

    item_id: int
    kind: str  # memory, document, failure, decision, retrospective, spike, pattern, estimate
    ref_id: int
    namespace: str
    title: str
    snippet: str
    highlights: tuple[tuple[int, int], ...]
    score: float
    keyword_rank: int | None
    semantic_rank: int | None
    memory_type: str | None
    agent: str | None
    task_id: int | None
    milestone_id: int | None
    created_at: datetime
    #: Cosine similarity to the question (None: no embedder took part, or the entry has no vector yet).
    similarity: float | None = None
    #: 0-1, what a person reads (store/search.py ``relevance``); None for the newest entries.
    relevance: float | None = None


@dataclass(frozen=True, slots=True)
class IndexStatus:
    entries: int
    embedded: int
    pending: int
    failed: int
    model: str | None
    dim: int | None
    last_error: str | None = None

