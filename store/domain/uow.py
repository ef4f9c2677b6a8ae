"""The unit of work: what one write transaction needs from a backend, named by meaning.

A backend implements ``Unit`` over its transaction (store/sqlite/uow.py: SQLite's ``Tx``); the rules
(tasks.py, liveness.py, gates.py) call nothing else. Every method is synchronous and runs inside the
transaction: its reads see its own writes, and nothing is committed until the rule returns. Ids are
the backend's integers; statuses are written as ``TaskStatus``/``MilestoneStatus`` values.
Methods that change a row say nothing about the change feed: the rules append events (``event``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Protocol

from ..events import EventKind
from ..models import (
    Agent,
    Condition,
    Criterion,
    CriterionEvidence,
    Decision,
    GateDecision,
    Metric,
    Milestone,
    ReportIssue,
    Reviewer,
    Task,
    TaskStatus,
    ValidationReport,
)


class Pause(NamedTuple):
    """The swarm's pause flag, as last written."""

    paused: bool
    reason: str | None


class Guard(Protocol):
    """What verified gate decisions allow, whatever the status columns say (a backend computes it
    from signed rows: store/sqlite/signatures.py)."""

    #: Milestones whose tasks are not handed out: some earlier gate did not pass by verified approvals.
    locked: frozenset[int]
    #: Gates that passed by verified approvals of their current report.
    passed: frozenset[int]
    #: The newest verified ESCALATE no verified resume lifted: (decision id, milestone id, reason).
    escalation: tuple[int, int, str] | None


class PrerequisiteState(NamedTuple):
    status: str
    depth: int
    #: The failed task holding it back: itself if it failed, else what holds it (or None).
    held_by: int | None


class PriorityInputs(NamedTuple):
    """What a task's priority is computed from (store/priority.py), with the priority stored now."""

    id: int
    priority: float
    base_priority: int
    dependency_depth: int
    deadline: float | None
    estimate: int | None
    source: str
    unfinished_dependents: int


class Lease(NamedTuple):
    """A running task whose lease ran out."""

    task_id: int
    agent: str | None
    timeout_seconds: int


class Silent(NamedTuple):
    """A running task of an agent silent past its stale time and requeue grace."""

    task_id: int
    agent: str
    seen: float
    stale_after: float
    grace: float


class EscalatedGate(NamedTuple):
    """A milestone an escalation lifted by a resume concerns (escalated, or the escalation's own)."""

    id: int
    name: str
    status: str
    escalation: int | None
    submitted_by: str | None


class ConditionRow(NamedTuple):
    """One condition of a CONDITIONAL decision, with the submitter of the report it was set on."""

    id: int
    milestone_id: int
    text: str
    status: str
    submitted_by: str
    #: The condition as the public API shows it (unverified).
    record: Condition


class Unit(Protocol):
    """One write transaction of a backend, seen by the rules."""

    #: The transaction's clock reading (epoch seconds) and who acts (canonical).
    now: float
    actor: str

    def event(self, kind: EventKind, entity: str, entity_id: Any = None,
              payload: dict[str, Any] | None = None) -> None:
        """Append to the change feed, inside this transaction."""

    # -- the swarm and the gates' guard ------------------------------------------------------------

    def swarm_pause(self, agent: str | None = None) -> Pause:
        """The pause flag (a backend may read what ``gate_guard`` and ``agent_exists(agent)`` need
        along with it)."""
    def gate_guard(self) -> Guard:
        """Computed from the gate tables as they are now: call it before the transaction writes them."""
    def pause_swarm(self, reason: str, by: str) -> None: ...
    def unpause_swarm(self) -> None: ...

    # -- agents -----------------------------------------------------------------------------------

    def agent_exists(self, name: str) -> bool: ...
    def set_agent_working(self, name: str, task_id: int, *, seen_at: float) -> None:
        """The agent works on ``task_id`` now; it was heard from at ``seen_at`` (its last heartbeat)."""
    def touch_agent(self, name: str, *, seen_at: float) -> bool:
        """The agent was heard from at ``seen_at`` (its last heartbeat); False if there is no such agent."""
    def release_agent(self, name: str, task_id: int, *, seen_at: float | None = None) -> None:
        """The agent is idle again, if ``task_id`` is still its current task; with ``seen_at``, it was
        heard from then (its last heartbeat), whatever it works on. One statement."""
    def reviewer(self, name: str) -> Reviewer | None:
        """The reviewer registered under ``name`` (canonical), removed or not; None if nobody is."""
    def any_active_reviewer(self) -> bool:
        """Whether the swarm has a reviewer who was not removed."""
    def insert_reviewer(self, name: str, *, public_key: bytes | None, by: str) -> None: ...
    def readmit_reviewer(self, name: str, *, public_key: bytes | None, by: str) -> None:
        """A removed reviewer registered again: active, added now by ``by``, keeping a key they had."""
    def set_reviewer_key(self, name: str, public_key: bytes) -> None: ...
    def remove_reviewer(self, name: str, *, by: str) -> None:
        """Removed now by ``by``; the row stays."""
    def agent(self, name: str) -> Agent: ...
    def upsert_agent(self, name: str, *, agent_type: str, colour: str | None, model: str | None,
                     stale_after_seconds: float, requeue_after_seconds: float) -> None:
        """Register, or update the registration (keeping a colour and model not given); it has just
        heartbeated, and an offline agent is idle again."""
    def update_agent(self, name: str, fields: dict[str, Any]) -> Agent | None:
        """Set these ``Agent`` fields (``blockers`` a list): the agent as updated, None if there is no
        such agent."""

    # -- tasks: reads -----------------------------------------------------------------------------

    def task(self, task_id: int) -> Task:
        """The task with its prerequisites and blocked reason; NotFound if there is none."""
    def task_exists(self, task_id: int) -> bool: ...
    def prerequisite_states(self, task_ids: Sequence[int]) -> dict[int, PrerequisiteState]: ...
    def dependents_of(self, task_id: int) -> list[int]:
        """The tasks that wait directly on ``task_id``."""
    def cascade_of(self, task_id: int) -> list[int]:
        """Every unfinished task that waits on ``task_id``, transitively, in id order (not itself)."""
    def unfinished_prerequisites_of(self, task_ids: Sequence[int]) -> list[int]: ...
    def upstream_edges(self, task_id: int) -> list[tuple[int, int]]:
        """(task, prerequisite) for ``task_id`` and everything it waits on, transitively."""
    def downstream_of(self, task_id: int) -> list[int]:
        """``task_id`` and everything that waits on it, transitively."""
    def depth_edges(self, task_ids: Sequence[int]) -> list[tuple[int, int, int]]:
        """(task, prerequisite, the prerequisite's depth) of the tasks given."""
    def priority_inputs(self, task_ids: Sequence[int]) -> list[PriorityInputs]: ...
    def waiting_with_deadline(self) -> list[int]:
        """Waiting tasks (pending, blocked, ready) that have a deadline."""
    def ready_to_release(self, *, dependents_of: int | None = None, task_id: int | None = None,
                         milestone_id: int | None = None) -> list[int]:
        """Blocked tasks (the dependents of a task, one task, or a milestone's) whose prerequisites
        have all completed and whose milestone is not locked."""

    # -- tasks: writes ----------------------------------------------------------------------------

    def insert_task(self, *, description: str, summary: str | None, source: str, agent_type: str,
                    base_priority: int, status: str, priority: float, dependency_depth: int,
                    milestone_id: int | None, parent_task_id: int | None, session_id: str | None,
                    deadline: float | None, estimated_duration_seconds: int | None, input_json: str | None,
                    max_retries: int, timeout_seconds: int) -> int: ...
    def add_dependencies(self, task_id: int, prerequisite_ids: Iterable[int]) -> None: ...
    def claim_next(self, agent: str, agent_type: str | None, locked: frozenset[int] | None) -> Task | None:
        """Mark the best ready task (of ``agent_type``, outside the ``locked`` milestones) running for
        ``agent``, leased for its timeout; the task as it now is, or None. One step: under any
        contention each ready task goes to exactly one agent."""
    def set_task_status(self, task_id: int, status: TaskStatus) -> None: ...
    def mark_completed(self, task_id: int, result_json: str | None) -> Task | None:
        """Mark the task completed if it is running; the task as it now is, or None (nothing changed)
        if it is not running or does not exist."""
    def park_task(self, task_id: int) -> None:
        """Blocked and unassigned, its lease ended: a running task that waits on a new prerequisite."""
    def retry_later(self, task_id: int, error: str) -> None:
        """Back to ready with one retry more, unassigned: a failure with retries left."""
    def mark_failed(self, task_id: int, error: str) -> None: ...
    def requeue_failed(self, task_id: int) -> None:
        """A manual retry: blocked (until released) with one retry more, unassigned and unfinished."""
    def mark_cancelled(self, task_id: int, reason: str | None) -> None: ...
    def set_priority(self, task_id: int, priority: float) -> None: ...
    def set_base_priority(self, task_id: int, base_priority: int) -> None: ...
    def set_depth(self, task_id: int, depth: int) -> None: ...
    def add_milestone_hours(self, milestone_id: int, hours: float) -> None: ...

    # -- liveness ---------------------------------------------------------------------------------

    def expired_leases(self) -> list[Lease]: ...
    def silent_agents_tasks(self) -> list[Silent]: ...
    def hold(self, task_ids: Sequence[int], failed_id: int) -> list[int]:
        """Mark these tasks and every unfinished task waiting on them held by ``failed_id``, unless
        already held; the ids newly held."""
    def held_by(self, failed_id: int) -> list[int]: ...
    def set_held_by(self, task_id: int, failed_id: int | None) -> None: ...
    def failed_upstream(self, task_id: int) -> list[int]:
        """The failed tasks ``task_id`` waits on, through unfinished tasks, in id order."""

    # -- milestones and gates ---------------------------------------------------------------------

    def milestone(self, ref: int | str) -> Milestone:
        """The milestone ``ref`` names by store/milestone_refs.py's rules (id, name, label, start of
        the name); NotFound if none, InvalidArgument if it could be several."""
    def milestone_names(self) -> list[str]: ...
    def milestone_tail(self) -> tuple[int, int]:
        """The last milestone's position (0 with none), and how many milestones have not passed."""
    def insert_milestone(self, *, name: str, position: int, objective: str, planned_weeks: str | None,
                         hour_budget: float | None, deliverables: list[str], acceptance_criteria: list[str],
                         status: str, required_approvals: int, review_within_seconds: float | None = None,
                         prerequisites: list[int] | None = None, starts_on: str | None = None,
                         money_budget: float | None = None, hour_rate: float | None = None) -> int: ...
    def milestones(self) -> list[Milestone]:
        """Every milestone, in order."""
    def set_plan_state(self, milestone_id: int, state: str) -> None:
        """Cut, defer or reinstate (``PlanState``); each act changes what the gate guard's mark reads."""
    def hold_milestone_tasks(self, milestone_id: int) -> list[int]:
        """The milestone's pending and ready tasks become blocked (running ones run on); their ids."""
    def next_locked_milestone(self, position: int) -> Milestone | None: ...
    def set_milestone_status(self, milestone_id: int, status: str) -> None: ...
    def report(self, milestone_id: int, version: int | None) -> ValidationReport | None:
        """A version of the milestone's report (None: the latest); None if none was submitted."""
    def latest_report_version(self, milestone_id: int) -> int:
        """0 if none was submitted."""
    def insert_report(self, *, milestone_id: int, version: int, submitted_by: str, summary: str,
                      criteria: Sequence[Criterion], metrics: Sequence[Metric], issues: Sequence[ReportIssue],
                      recommendations: Sequence[str], proposed: Decision | None, content_hash: str,
                      next_context: str = "") -> int: ...
    def verified_approvers(self, report_id: int) -> set[str]:
        """Reviewers whose APPROVE or CONDITIONAL decision on the report is verified (signed)."""
    def insert_decision(self, *, milestone_id: int, report: ValidationReport, decision: str, rationale: str,
                        reviewer: str, signature: bytes, conditions: Sequence[str],
                        accepted_unmet: Sequence[str] = ()) -> int: ...
    def insert_evidence(self, *, milestone_id: int, criterion: int, command: str, exit_code: int,
                        output_sha256: str, ran_at: float, recorded_by: str) -> CriterionEvidence:
        """Record a command run as evidence for one acceptance criterion (number 1-based)."""
    def decision(self, decision_id: int) -> GateDecision:
        """The recorded decision, verified: it was signed just now."""
    def open_conditions(self, milestone_id: int) -> int: ...
    def condition(self, condition_id: int) -> ConditionRow | None: ...
    def close_condition(self, condition_id: int, *, by: str, note: str, signature: bytes) -> None: ...
    def closed_condition(self, condition_id: int) -> Condition:
        """The condition just closed, verified: it was signed just now."""
    def escalated_gates(self, escalation_milestone: int | None) -> list[EscalatedGate]: ...
    def record_resumption(self, gate: EscalatedGate, *, by: str, reason: str, escalation_id: int,
                          signature: bytes) -> None: ...
