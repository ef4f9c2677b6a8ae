"""The gate decision and what follows from it: the checks, the outcome, opening the next milestone,
closing conditions, and resuming an escalated swarm. The pure rules of who may decide what, and
what a decision does, are store/gates.py's; this module applies them inside a transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .. import identity
from ..errors import Conflict, InvalidArgument, InvalidTransition, NotFound, PermissionDenied, Remedy
from ..events import EventKind
from ..models import (
    Condition,
    Criterion,
    CriterionEvidence,
    Decision,
    GateDecision,
    Metric,
    Milestone,
    MilestoneStatus,
    PlanState,
    ReportIssue,
    Reviewer,
    SwarmState,
    ValidationReport,
    from_ts,
)
from .reviewers import agent_refused, check_reviewer, require_signature
from .tasks import release_ready
from .uow import Unit


@dataclass(frozen=True, slots=True)
class GateGuard:
    """What verified decisions allow, whatever the status columns say (``uow.Guard``)."""

    #: Milestones whose tasks are not handed out: some earlier gate did not pass by verified approvals.
    locked: frozenset[int]
    #: Gates that passed by verified approvals of their current report.
    passed: frozenset[int]
    #: The newest verified ESCALATE no verified resume lifted: (decision id, milestone id, the reason
    #: the pause shows), or None.
    escalation: tuple[int, int, str] | None


def guard(milestones: Sequence[tuple[int, int] | tuple[int, int, Sequence[int] | None, str]],
          approvers: Mapping[int, set[str]], escalation: tuple[int, int, str] | None) -> GateGuard:
    """The guard, from the milestones in order as (id, approvals required, explicit prerequisites or
    None, plan state; the last two may be left out), the verified approvers of each one's current
    report (canonical names), and the escalation that stands, if any: a gate passed with enough
    approvals; a milestone is open once every gate it depends on passed and they are open too
    (without explicit prerequisites, it depends on the one before it); a cut or deferred one never
    is, nor anything that depends on it."""
    from .. import graph

    milestones = [(*m, None, PlanState.ACTIVE.value)[:4] for m in milestones]
    passed = frozenset(m for m, required, _, _ in milestones if len(approvers.get(m, ())) >= required)
    prerequisites = graph.milestone_prerequisites((m, explicit) for m, _, explicit, _ in milestones)
    out = [m for m, _, _, state in milestones if state != PlanState.ACTIVE.value]
    return GateGuard(graph.closed_milestones(prerequisites, passed, out), passed, escalation)


def swarm_state(paused: bool, reason: str | None, paused_by: str | None, paused_at: float | None,
                escalation: tuple[int, int, str] | None) -> SwarmState:
    """The pause flag's state, unless a verified escalation still stands (then paused, whatever the
    flag says: clearing it around swarmdeck lifts nothing)."""
    if escalation is not None and not paused:
        return SwarmState(True, f"{escalation[2]} (no signed resume has lifted it)", None, None, escalation[0])
    return SwarmState(paused, reason, paused_by, from_ts(paused_at), escalation and escalation[0])


def escalation_reason(milestone: str, reviewer: str, rationale: str) -> str:
    """Why the swarm is paused, as the escalating decision says it (one wording for every seat)."""
    return f"milestone '{milestone}' was escalated by {reviewer}: {rationale}"


def require_reviewer(u: Unit, who: str, act: str) -> Reviewer:
    """The active, keyed reviewer ``who`` (canonical), or PermissionDenied saying why they cannot ``act``."""
    if u.agent_exists(who):
        raise agent_refused(who, act)
    return check_reviewer(who, act, u.reviewer(who))


def milestone(u: Unit, ref: int | str) -> Milestone:
    """The milestone ``ref`` names (id, name, label or start of the name), or NotFound / InvalidArgument."""
    return u.milestone(ref)


def add_milestone(u: Unit, name: str, *, objective: str, planned_weeks: str | None, hour_budget: float | None,
                  deliverables: Sequence[str], acceptance_criteria: Sequence[str], required_approvals: int,
                  review_within_seconds: float | None = None, after: Sequence[int | str] | None = None,
                  starts_on: str | None = None, money_budget: float | None = None,
                  hour_rate: float | None = None) -> Milestone:
    """Append a milestone. Without ``after`` it follows the one before it and opens at once if every
    earlier gate has passed; with ``after`` (the milestones it depends on) it opens once all of those
    gates have passed. Else it is locked."""
    # A name that reads the same as one taken (another case, spacing, an invisible character) would
    # make the labels every screen shows ambiguous: refused like the very same name.
    taken = next((n for n in u.milestone_names() if n == name or identity.same(n, name)), None)
    if taken is not None:
        raise InvalidArgument(f"a milestone named {taken!r} already exists"
                              + ("" if taken == name else f" ({name!r} differs from it only in case, spacing "
                                 "or invisible characters)"))
    prerequisites: list[int] | None = None
    if after is not None:
        # Each must exist already, so a milestone can never close a cycle; the guard refuses one all the same.
        found = [milestone(u, ref) for ref in after]
        prerequisites = sorted({m.id for m in found})
    last, unpassed = u.milestone_tail()
    if prerequisites is None:
        shut = bool(unpassed)
    else:
        shut = any(not m.status.passed for m in found)
    status = MilestoneStatus.LOCKED if shut else MilestoneStatus.OPEN
    milestone_id = u.insert_milestone(
        name=name, position=last + 1, objective=objective, planned_weeks=planned_weeks, hour_budget=hour_budget,
        deliverables=list(deliverables), acceptance_criteria=list(acceptance_criteria), status=status.value,
        required_approvals=required_approvals, review_within_seconds=review_within_seconds,
        prerequisites=prerequisites, starts_on=starts_on, money_budget=money_budget, hour_rate=hour_rate)
    u.event(EventKind.MILESTONE_ADDED, "milestone", milestone_id, {"name": name, "status": status.value})
    return milestone(u, milestone_id)


def submit_report(u: Unit, ref: int | str, *, submitted_by: str, summary: str, criteria: Sequence[Criterion],
                  metrics: Sequence[Metric], issues: Sequence[ReportIssue], recommendations: Sequence[str],
                  proposed: Decision | None, next_context: str = "") -> ValidationReport:
    """A new version of the milestone's validation report, by a registered agent; the gate goes to review."""
    from .. import gates

    ms = milestone(u, ref)
    if not ms.in_plan:
        raise InvalidTransition(f"milestone '{ms.name}' is {ms.plan_state}: a person took it out of the plan; "
                                "reports can be submitted once it is reinstated")
    if ms.status not in (MilestoneStatus.OPEN, MilestoneStatus.REVIEW):
        raise InvalidTransition(
            f"milestone '{ms.name}' is {ms.status}; reports can be submitted only while it is "
            "open or in review"
        )
    require_agent(u, submitted_by, "submit a report")
    version = u.latest_report_version(ms.id) + 1
    digest = gates.report_hash(
        milestone=ms.name, version=version, submitted_by=submitted_by, summary=summary,
        criteria=criteria, metrics=metrics, issues=issues, recommendations=recommendations,
        proposed_decision=proposed, next_milestone_context=next_context,
    )
    u.insert_report(milestone_id=ms.id, version=version, submitted_by=submitted_by, summary=summary,
                    criteria=criteria, metrics=metrics, issues=issues, recommendations=recommendations,
                    proposed=proposed, content_hash=digest, next_context=next_context)
    if ms.status is MilestoneStatus.OPEN:
        u.set_milestone_status(ms.id, MilestoneStatus.REVIEW.value)
    u.event(EventKind.GATE_REPORT_SUBMITTED, "milestone", ms.id, {
        "name": ms.name, "version": version, "hash": digest, "proposed_decision": proposed,
    })
    return u.report(ms.id, version)


def require_agent(u: Unit, who: str, act: str) -> None:
    """PermissionDenied unless ``who`` (canonical) is a registered agent and no reviewer."""
    if u.reviewer(who) is not None:
        raise PermissionDenied(f"{who} is a reviewer; reports are submitted by agents, and reviewers decide them")
    if not u.agent_exists(who):
        raise PermissionDenied(f"{who} is not a registered agent, so cannot {act}",
                               remedy=Remedy.REGISTER_AGENT, who=who)


def decide(
    u: Unit, ref: int | str, *, decision: Decision, rationale: str, reviewer: str, who: str,
    conditions: Sequence[str], report_hash: str | None, signature: bytes | None, dry_run: bool,
    accept_unmet: Sequence[str] = (),
) -> GateDecision | None:
    """Record a reviewer's decision on the milestone's current report and apply its effect; with
    ``dry_run``, every check but the signature's and nothing recorded (None)."""
    from .. import criteria, gates, signing

    guard = u.gate_guard()  # before this transaction writes
    ms = milestone(u, ref)
    # A gate whose status says it passed without verified approvals to show for it (decided before
    # decisions were signed, or its status written around swarmdeck) is decided again, signed.
    status = MilestoneStatus.REVIEW if ms.status.passed and ms.id not in guard.passed else ms.status
    report = u.report(ms.id, None)
    if report is None:
        raise InvalidTransition(f"milestone '{ms.name}' has no validation report to decide")
    if report_hash is not None and report_hash != report.content_hash:
        raise Conflict(
            f"the report of milestone '{ms.name}' changed since it was read (now version "
            f"{report.version}); read it again before deciding"
        )
    approved_by = u.verified_approvers(report.id)
    unsettled = criteria.review(ms.acceptance_criteria, report.criteria).unsettled
    gates.check_decision(
        milestone=ms.name, status=status, decision=decision, rationale=rationale,
        reviewer=reviewer, submitted_by=report.submitted_by, conditions=list(conditions),
        already_approved_by=approved_by, unsettled=unsettled, accept_unmet=accept_unmet,
    )
    # As the milestone states them, in its order: who accepted what unmet, recorded and signed.
    accepted = [c.text for c in unsettled if c.text in accept_unmet]
    person = require_reviewer(u, who, "decide a gate")
    if dry_run:
        return None
    message = signing.decision_payload(
        milestone_id=ms.id, report_hash=report.content_hash, decision=decision.value,
        rationale=rationale.strip(), conditions=conditions, reviewer=who, accepted_unmet=accepted)
    require_signature(person, message, signature, "decide a gate")
    decision_id = u.insert_decision(milestone_id=ms.id, report=report, decision=decision.value,
                                    rationale=rationale.strip(), reviewer=who, signature=bytes(signature),
                                    conditions=conditions, accepted_unmet=accepted)
    open_conditions = u.open_conditions(ms.id)
    approved = {identity.key(r) or r for r in approved_by}
    approvals = len(approved | {who}) if decision in (Decision.APPROVE, Decision.CONDITIONAL) \
        else len(approved)
    effect = gates.outcome(decision, approvals, ms.required_approvals, open_conditions)
    u.event(EventKind.GATE_DECIDED, "milestone", ms.id, {
        "name": ms.name, "decision": decision.value, "reviewer": who,
        "report_version": report.version, "report_hash": report.content_hash,
        "approvals": approvals, "required": ms.required_approvals,
        "status": effect.milestone_status.value, **({"accepted_unmet": accepted} if accepted else {}),
    })
    if effect.milestone_status is not ms.status:
        u.set_milestone_status(ms.id, effect.milestone_status.value)
    if effect.opens_next:
        open_next(u, ms)
    if effect.pauses_swarm:
        reason = escalation_reason(ms.name, who, rationale.strip())
        u.pause_swarm(reason, who)
        u.event(EventKind.SWARM_PAUSED, "swarm", None, {"reason": reason})
    return u.decision(decision_id)


def add_evidence(u: Unit, ref: int | str, *, criterion: int, command: str, exit_code: int,
                 output_sha256: str, ran_at: float | None, recorded_by: str) -> CriterionEvidence:
    """A registered agent attaches a command it ran (its exit code, its output's digest, when) as
    evidence for one of the milestone's acceptance criteria, by number."""
    ms = milestone(u, ref)
    count = len(ms.acceptance_criteria)
    if not 1 <= criterion <= count:
        raise InvalidArgument(
            f"milestone '{ms.name}' has {count} acceptance criteria; there is no criterion {criterion}"
            if count else f"milestone '{ms.name}' has no acceptance criteria", field="criterion")
    require_agent(u, recorded_by, "attach evidence")
    evidence = u.insert_evidence(milestone_id=ms.id, criterion=criterion, command=command,
                                 exit_code=exit_code, output_sha256=output_sha256,
                                 ran_at=u.now if ran_at is None else ran_at, recorded_by=recorded_by)
    u.event(EventKind.GATE_EVIDENCE_ADDED, "milestone", ms.id, {
        "name": ms.name, "criterion": criterion, "exit_code": exit_code, "output_sha256": output_sha256})
    return evidence


def open_next(u: Unit, ms: Milestone) -> None:
    """Every locked milestone in the plan whose prerequisite gates have all passed opens (without
    explicit prerequisites: the one after ``ms``), and its tasks with nothing left to wait for are
    released."""
    open_ready(u, ms.name)


def ready_to_open(milestones: Sequence[Milestone]) -> list[Milestone]:
    """The locked milestones in the plan whose prerequisite gates (by status) have all passed."""
    from .. import graph

    prerequisites = graph.milestone_prerequisites((m.id, m.prerequisites) for m in milestones)
    by_id = {m.id: m for m in milestones}
    return [m for m in milestones
            if m.status is MilestoneStatus.LOCKED and m.in_plan
            and all(p in by_id and by_id[p].status.passed and by_id[p].in_plan for p in prerequisites[m.id])]


def open_ready(u: Unit, after: str | None) -> None:
    for nxt in ready_to_open(u.milestones()):
        u.set_milestone_status(nxt.id, MilestoneStatus.OPEN.value)
        u.event(EventKind.MILESTONE_OPENED, "milestone", nxt.id, {"name": nxt.name, "after": after})
        release_ready(u, u.ready_to_release(milestone_id=nxt.id))


_REPLAN_EVENTS = {
    PlanState.CUT: EventKind.MILESTONE_CUT,
    PlanState.DEFERRED: EventKind.MILESTONE_DEFERRED,
    PlanState.ACTIVE: EventKind.MILESTONE_REINSTATED,
}


def replan(u: Unit, ref: int | str, *, state: PlanState, who: str, reason: str, dry_run: bool) -> Milestone:
    """A person cuts, defers or reinstates a milestone, saying why. Cut or deferred, its waiting tasks
    are held (not handed out) and nothing that depends on it opens; reinstated, it is back under its
    gates' rules. Only a registered reviewer, never an agent: an act that only ever holds work back
    or hands it back to the gates cannot open a gate's way, but it is the plan's owner's to make."""
    ms = milestone(u, ref)
    if state is ms.plan_state:
        raise InvalidTransition(f"milestone '{ms.name}' is already {_plan_words(state)}")
    if state is not PlanState.ACTIVE and ms.status.passed:
        raise InvalidTransition(f"milestone '{ms.name}' has passed its gate ({ms.status}); there is nothing "
                                "left to cut or defer")
    if u.agent_exists(who):
        raise agent_refused(who, "cut, defer or reinstate a milestone")
    check_reviewer(who, "cut, defer or reinstate a milestone", u.reviewer(who), keyed=False)
    if dry_run:
        return ms
    u.set_plan_state(ms.id, state.value)
    if state is PlanState.ACTIVE:
        released = u.ready_to_release(milestone_id=ms.id)
        release_ready(u, released)
        tasks = len(released)
    else:
        held = u.hold_milestone_tasks(ms.id)
        for task_id in held:
            u.event(EventKind.TASK_BLOCKED, "task", task_id, {})
        tasks = len(held)
    u.event(_REPLAN_EVENTS[state], "milestone", ms.id, {"name": ms.name, "by": who, "reason": reason,
                                                        "tasks": tasks})
    if state is PlanState.ACTIVE:
        open_ready(u, None)
    return milestone(u, ms.id)


def _plan_words(state: PlanState) -> str:
    return "in the plan" if state is PlanState.ACTIVE else str(state)


def close_condition(u: Unit, condition_id: int, *, who: str, note: str | None, signature: bytes | None,
                    dry_run: bool) -> Condition:
    """A reviewer closes one condition of a CONDITIONAL decision; the last one closed makes the gate
    APPROVED. Never an agent, nor the report's submitter."""
    from .. import gates, signing

    row = u.condition(condition_id)
    if row is None:
        raise NotFound(f"condition {condition_id} does not exist",
                       entity="condition", key=condition_id)
    if row.status == "closed":
        raise InvalidTransition(f"condition {condition_id} is already closed")
    gates.check_not_submitter(who, row.submitted_by, "close a condition")
    person = require_reviewer(u, who, "close a condition")
    if dry_run:
        return row.record
    require_signature(person, signing.close_payload(condition_id=condition_id, note=note, reviewer=who),
                      signature, "close a condition")
    u.close_condition(condition_id, by=who, note=note, signature=bytes(signature))
    u.event(EventKind.GATE_CONDITION_CLOSED, "milestone", row.milestone_id, {
        "condition_id": condition_id, "text": row.text, "closed_by": who, "note": note,
    })
    remaining = u.open_conditions(row.milestone_id)
    ms = milestone(u, row.milestone_id)
    if not remaining and ms.status is MilestoneStatus.CONDITIONAL:
        u.set_milestone_status(ms.id, MilestoneStatus.APPROVED.value)
        u.event(EventKind.MILESTONE_APPROVED, "milestone", ms.id, {"name": ms.name, "conditions_closed": True})
    return u.closed_condition(condition_id)


def resume(u: Unit, *, who: str, reason: str | None, signature: bytes | None, dry_run: bool) -> None:
    """A reviewer lifts an escalation: claims are accepted again, escalated gates go back to review,
    and each of them records who resumed it, when and why."""
    from .. import gates, signing

    guard = u.gate_guard()  # before this transaction writes
    if not u.swarm_pause().paused and guard.escalation is None:
        raise InvalidTransition("the swarm is not paused")
    lifted, lifted_milestone = (guard.escalation or (0, None, ""))[:2]
    escalated = u.escalated_gates(lifted_milestone)
    for ms in escalated:
        if ms.submitted_by is not None:
            gates.check_not_submitter(who, ms.submitted_by, "resume the swarm")
    person = require_reviewer(u, who, "resume the swarm")
    if dry_run:
        return
    require_signature(person, signing.resume_payload(escalation_id=lifted, note=reason, reviewer=who),
                      signature, "resume the swarm")
    u.unpause_swarm()
    for ms in escalated:
        if ms.status == MilestoneStatus.ESCALATED:
            u.set_milestone_status(ms.id, MilestoneStatus.REVIEW.value)
        u.record_resumption(ms, by=who, reason=reason, escalation_id=lifted, signature=bytes(signature))
        u.event(EventKind.MILESTONE_REVIEW, "milestone", ms.id, {
            "name": ms.name, "resumed_by": who, "reason": reason,
        })
    u.event(EventKind.SWARM_RESUMED, "swarm", None, {"by": who, "note": reason})

