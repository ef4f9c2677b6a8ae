"""Milestone gate rules. Pure: who may decide, and what a decision does.

A report's parts are validated by ``store.inputs.ReportInput`` (its limits and wording included)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from . import identity
from .errors import InvalidArgument, InvalidTransition, PermissionDenied
from .models import Criterion, Decision, Metric, MilestoneStatus, ReportIssue

#: Exit codes of `swarmdeck gate wait`, one per decision.
WAIT_EXIT_CODES = {
    Decision.APPROVE: 0,
    Decision.CONDITIONAL: 10,
    Decision.REVISE: 11,
    Decision.ESCALATE: 12,
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a recorded decision does to the milestone and the swarm."""

    milestone_status: MilestoneStatus
    opens_next: bool
    pauses_swarm: bool


def check_decision(
    *,
    milestone: str,
    status: MilestoneStatus,
    decision: Decision,
    rationale: str,
    reviewer: str,
    submitted_by: str,
    conditions: list[str],
    already_approved_by: set[str],
) -> None:
    """Refuse a decision the rules do not allow, saying why.

    Names are compared in their canonical form (store/identity.py): a submitter is not a new
    reviewer under another spelling, nor is an approver a second one."""
    if status is not MilestoneStatus.REVIEW:
        raise InvalidTransition(
            f"milestone '{milestone}' is {status}; only a milestone in review can be decided"
        )
    if not identity.has_content(reviewer):
        raise InvalidArgument("a reviewer name is required")
    who = identity.canonical(reviewer, "the reviewer name")
    if not identity.has_content(rationale):
        raise InvalidArgument("a rationale is required for every gate decision")
    check_not_submitter(who, submitted_by)
    if decision is Decision.CONDITIONAL and not [c for c in conditions if identity.has_content(c)]:
        raise InvalidArgument("a CONDITIONAL decision needs at least one condition")
    if decision is not Decision.CONDITIONAL and conditions:
        raise InvalidArgument("conditions can only be attached to a CONDITIONAL decision")
    if decision in (Decision.APPROVE, Decision.CONDITIONAL) and who in {identity.key(r) for r in already_approved_by}:
        raise PermissionDenied(f"{who} has already approved this report version")


#: What a submitter may not do on its own report's gate, by the reviewer's act.
SUBMITTER_BARRED = {"decide a gate": "decide it", "close a condition": "close its conditions",
                    "resume the swarm": "lift its escalation"}


def check_not_submitter(who: str, submitted_by: str, act: str = "decide a gate") -> None:
    """The one who submitted a report never decides it, nor acts on its gate as a reviewer."""
    if identity.same(who, submitted_by):
        barred = SUBMITTER_BARRED.get(act, act)
        raise PermissionDenied(f"{identity.key(who)} submitted this report and cannot {barred}; "
                               "another reviewer must")


def outcome(decision: Decision, approvals: int, required: int, open_conditions: int) -> Outcome:
    """The effect of a decision, given the approvals and open conditions including this one's."""
    if decision is Decision.REVISE:
        return Outcome(MilestoneStatus.OPEN, opens_next=False, pauses_swarm=False)
    if decision is Decision.ESCALATE:
        return Outcome(MilestoneStatus.ESCALATED, opens_next=False, pauses_swarm=True)
    if approvals < required:
        return Outcome(MilestoneStatus.REVIEW, opens_next=False, pauses_swarm=False)
    status = MilestoneStatus.CONDITIONAL if open_conditions else MilestoneStatus.APPROVED
    return Outcome(status, opens_next=True, pauses_swarm=False)


def report_hash(
    *,
    milestone: str,
    version: int,
    submitted_by: str,
    summary: str,
    criteria: tuple[Criterion, ...],
    metrics: tuple[Metric, ...],
    issues: tuple[ReportIssue, ...],
    recommendations: tuple[str, ...],
    proposed_decision: Decision | None,
) -> str:
    """SHA-256 of the report's canonical JSON: a decision records exactly what was reviewed."""
    body = {
        "milestone": milestone,
        "version": version,
        "submitted_by": submitted_by,
        "summary": summary,
        "criteria": [asdict(c) for c in criteria],
        "metrics": [asdict(m) for m in metrics],
        "issues": [asdict(i) for i in issues],
        "recommendations": list(recommendations),
        "proposed_decision": proposed_decision,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
