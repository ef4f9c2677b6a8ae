"""Milestone gate rules. Pure: who may decide, and what a decision does.

A report's parts are validated by ``store.inputs.ReportInput`` (its limits and wording included)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from . import identity
from .errors import InvalidArgument, InvalidTransition, PermissionDenied, StoreError
from .criteria import CriterionCheck
from .models import ConditionStatus, Criterion, Decision, GateStatus, Metric, MilestoneStatus, ReportIssue

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
    unsettled: Sequence[CriterionCheck] = (),
    accept_unmet: Sequence[str] = (),
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
        raise InvalidArgument("a rationale is required for every gate decision", field="rationale")
    check_not_submitter(who, submitted_by)
    if decision is Decision.CONDITIONAL and not [c for c in conditions if identity.has_content(c)]:
        raise InvalidArgument("a CONDITIONAL decision needs at least one condition", field="conditions")
    if decision is not Decision.CONDITIONAL and conditions:
        raise InvalidArgument("conditions can only be attached to a CONDITIONAL decision", field="conditions")
    if decision in (Decision.APPROVE, Decision.CONDITIONAL) and who in {identity.key(r) for r in already_approved_by}:
        raise PermissionDenied(f"{who} has already approved this report version")
    check_accepted(decision, unsettled, accept_unmet)


def unsettled_words(unsettled: Sequence[CriterionCheck]) -> str:
    """The criteria an approval leaves not met, for a refusal or a confirmation: "2 'X' (not reported)".
    Agent text: a seat shows it plainly."""
    return "; ".join(f"{c.index} {c.text!r} ({c.words})" for c in unsettled)


def criteria_count(n: int) -> str:
    return "1 acceptance criterion" if n == 1 else f"{n} acceptance criteria"


def check_accepted(decision: Decision, unsettled: Sequence[CriterionCheck],
                   accept_unmet: Sequence[str]) -> None:
    """An approval (APPROVE or CONDITIONAL) that leaves acceptance criteria not reported, not met or
    unknown must accept exactly those, by their text (store/criteria.py): never silently."""
    given = list(accept_unmet)
    if not given and not (unsettled and decision in (Decision.APPROVE, Decision.CONDITIONAL)):
        return
    if decision not in (Decision.APPROVE, Decision.CONDITIONAL):
        raise InvalidArgument(
            f"only an approval (APPROVE or CONDITIONAL) accepts unmet criteria, not {decision}",
            field="accept_unmet")
    texts = [c.text for c in unsettled]
    stray = [g for g in given if g not in texts]
    if stray:
        raise InvalidArgument("accept_unmet names criteria that are not unreported or unmet: "
                              + "; ".join(repr(g) for g in stray), field="accept_unmet")
    missing = [c for c in unsettled if c.text not in given]
    if missing:
        raise InvalidArgument(
            f"approving leaves {criteria_count(len(missing))} not met: {unsettled_words(missing)}; "
            "confirm you accept them (accept_unmet), or decide REVISE", field="accept_unmet")


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


@dataclass(frozen=True, slots=True)
class DecisionPreview:
    """What a decision would do, and what (if anything) refuses it, before it is recorded."""

    decision: Decision
    outcome: Outcome
    #: Approvals of the current report version counting this one, and how many the gate needs.
    approvals: int
    required: int
    #: Open conditions once it is recorded (this decision's included).
    open_conditions: int
    #: Why the rules refuse it as it stands (check_decision), or None.
    refusal: StoreError | None
    #: What it does, in a sentence derived from ``outcome`` (milestone names are agent text: show it plainly).
    sentence: str


#: What every face calls the state in which the last gate has passed.
PROJECT_COMPLETE = "PROJECT COMPLETE"


def project_complete(gates: Sequence[GateStatus]) -> bool:
    """Whether the project is done: it has milestones and every one's gate passed by verified
    approvals (a status written around swarmdeck completes nothing)."""
    return bool(gates) and all(g.verified_passed for g in gates)


def deciding_status(status: MilestoneStatus, verified_passed: bool) -> MilestoneStatus:
    """The status a decision is checked against: a gate whose status says it passed without verified
    approvals to show for it (decided before decisions were signed, or written around swarmdeck) is
    decided again, signed, as if in review."""
    return MilestoneStatus.REVIEW if status.passed and not verified_passed else status


def preview(gate: GateStatus, decision: Decision, *, reviewer: str, rationale: str = "",
            conditions: Sequence[str] = (), accept_unmet: Sequence[str] = ()) -> DecisionPreview:
    """What recording ``decision`` on ``gate`` would do (from `outcome`) and what refuses it (from
    `check_decision`), for a seat to show before a person confirms: one rule, never re-described."""
    m = gate.milestone
    given = [c for c in conditions if identity.has_content(c)]
    refusal: StoreError | None = None
    if gate.report is None:
        refusal = InvalidTransition(f"milestone '{m.name}' has no validation report to decide")
    else:
        try:
            check_decision(milestone=m.name, status=deciding_status(m.status, gate.verified_passed),
                           decision=decision, rationale=rationale, reviewer=reviewer,
                           submitted_by=gate.report.submitted_by, conditions=list(conditions),
                           already_approved_by=set(gate.approvals), unsettled=gate.criteria.unsettled,
                           accept_unmet=accept_unmet)
        except StoreError as exc:
            refusal = exc
    approving = decision in (Decision.APPROVE, Decision.CONDITIONAL)
    approvals = len(gate.approvals) + (1 if approving else 0)
    still_open = sum(1 for c in gate.conditions if c.status is ConditionStatus.OPEN)
    open_conditions = still_open + (len(given) if decision is Decision.CONDITIONAL else 0)
    effect = outcome(decision, approvals, m.required_approvals, open_conditions)
    return DecisionPreview(decision, effect, approvals, m.required_approvals, open_conditions, refusal,
                           _sentence(gate, decision, effect, approvals, open_conditions))


def _sentence(gate: GateStatus, decision: Decision, effect: Outcome, approvals: int,
              open_conditions: int) -> str:
    m = gate.milestone
    if effect.pauses_swarm:
        return "The whole swarm pauses: every claim is refused until a human resumes it."
    if effect.milestone_status is MilestoneStatus.REVIEW:
        return (f"Records approval {approvals} of {m.required_approvals}; "
                "the gate stays in review until the rest approve.")
    if not effect.opens_next:
        return f"{m.name} returns to work: agents revise and submit a new report version."
    opens = f"and {opening(gate)}" if gate.next_milestone else "and the last milestone is complete"
    if effect.milestone_status is MilestoneStatus.CONDITIONAL or decision is Decision.CONDITIONAL:
        return f"{m.name} proceeds, {opens}; {open_conditions} condition(s) stay tracked until closed."
    return f"{m.name} is approved, {opens}."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def opening(gate: GateStatus) -> str:
    """What passing ``gate`` opens, e.g. "M2 opens: 9 tasks, 1 ready now" (names are agent text)."""
    if not gate.next_milestone:
        return "nothing opens: it is the last milestone"
    return f"{gate.next_milestone} opens: {_opened_tasks(gate)}"


def _opened_tasks(gate: GateStatus) -> str:
    return f"{_count(gate.next_tasks, 'task')}, {gate.unblocks} ready now"


def standing(gate: GateStatus) -> str:
    """Where the gate stands, in a sentence: what was decided on it, or what approving it would do.

    A decided gate says what was decided (never what approving "would" open); one in review says what
    approving opens. Every seat shows this sentence; milestone and reviewer names are agent text."""
    m = gate.milestone
    last = gate.decisions[-1] if gate.decisions else None
    by = f" by {last.reviewer} on v{last.report_version}" if last else ""
    after = gate.following or "the next milestone"
    if m.status.passed and gate.verified_passed:
        who = ", ".join(gate.approvals) or (last.reviewer if last else "?")
        opened = f"{after} opened" if gate.following else "the last milestone is complete"
        if m.status is MilestoneStatus.CONDITIONAL:
            still = sum(1 for c in gate.conditions if c.status is ConditionStatus.OPEN)
            return f"Approved with conditions by {who}: {opened}; {_count(still, 'condition')} still open."
        return f"Approved by {who}: {opened}."
    if m.status is MilestoneStatus.ESCALATED:
        return f"Escalated{by}: the swarm is paused until a reviewer resumes it."
    if not m.in_plan:
        return (f"{m.plan_state.value.capitalize()} by a person: its tasks are held and nothing that depends "
                "on it opens, until it is reinstated.")
    if m.status is MilestoneStatus.LOCKED:
        if m.prerequisites is not None and gate.waits_for:
            waits = gate.waits_for
            gate_words = (f"the gate of {waits[0]} passes" if len(waits) == 1
                          else f"the gates of {', '.join(waits)} pass")
            return f"Locked: it opens when {gate_words}."
        return "Locked: it opens when the gate before it passes."
    if m.status is MilestoneStatus.OPEN:
        if last is not None and last.decision is Decision.REVISE:
            return f"Returned for revision{by}: agents revise and submit a new report version."
        if not gate.next_milestone:
            return "In work: no report awaits a decision yet."
        return f"In work: no report awaits a decision yet; approving one opens {gate.next_milestone}: {_opened_tasks(gate)}."
    # In review (or passed without verified approvals, which is decided again).
    if not gate.next_milestone:
        return "Approving completes the last milestone."
    return f"Approving opens {gate.next_milestone}: {_opened_tasks(gate)}."


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
    next_milestone_context: str = "",
) -> str:
    """SHA-256 of the report's canonical JSON: a decision records exactly what was reviewed. (The next
    milestone's context is hashed only when given: a report without one hashes as it always did.)"""
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
    if next_milestone_context:
        body["next_milestone_context"] = next_milestone_context
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
