"""Milestone gate rules. Pure: who may decide, and what a decision does."""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from . import identity
from .errors import InvalidArgument, InvalidTransition, PermissionDenied, StoreError
from .limits import MAX_ITEMS, MAX_LINE, MAX_NAME, MAX_REPORT_BYTES, MAX_TEXT, check_json, check_text
from .models import (
    Comparator,
    ConditionStatus,
    Criterion,
    CriterionStatus,
    Decision,
    GateStatus,
    Metric,
    MilestoneStatus,
    ReportIssue,
    Severity,
)

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
        raise InvalidArgument("a rationale is required for every gate decision", field="rationale")
    check_not_submitter(who, submitted_by)
    if decision is Decision.CONDITIONAL and not [c for c in conditions if identity.has_content(c)]:
        raise InvalidArgument("a CONDITIONAL decision needs at least one condition", field="conditions")
    if decision is not Decision.CONDITIONAL and conditions:
        raise InvalidArgument("conditions can only be attached to a CONDITIONAL decision", field="conditions")
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


def deciding_status(status: MilestoneStatus, verified_passed: bool) -> MilestoneStatus:
    """The status a decision is checked against: a gate whose status says it passed without verified
    approvals to show for it (decided before decisions were signed, or written around swarmdeck) is
    decided again, signed, as if in review."""
    return MilestoneStatus.REVIEW if status.passed and not verified_passed else status


def preview(gate: GateStatus, decision: Decision, *, reviewer: str, rationale: str = "",
            conditions: Sequence[str] = ()) -> DecisionPreview:
    """What recording ``decision`` on ``gate`` would do (from `outcome`) and what refuses it (from
    `check_decision`), for a seat to show before a person confirms: one rule, never re-described."""
    m = gate.milestone
    given = [c for c in conditions if identity.has_content(c)]
    refusal: StoreError | None = None
    if gate.report is None:
        refusal = InvalidTransition(f"milestone '{m.name}' has no validation report to decide")
    else:
        try:
            check_decision(milestone=m.name, status=deciding_status(m.status, gate.verified_passed), decision=decision, rationale=rationale,
                           reviewer=reviewer, submitted_by=gate.report.submitted_by, conditions=list(conditions),
                           already_approved_by=set(gate.approvals))
        except StoreError as exc:
            refusal = exc
    approving = decision in (Decision.APPROVE, Decision.CONDITIONAL)
    approvals = len(gate.approvals) + (1 if approving else 0)
    still_open = sum(1 for c in gate.conditions if c.status is ConditionStatus.OPEN)
    open_conditions = still_open + (len(given) if decision is Decision.CONDITIONAL else 0)
    effect = outcome(decision, approvals, m.required_approvals, open_conditions)
    return DecisionPreview(decision, effect, approvals, m.required_approvals, open_conditions, refusal,
                           _sentence(gate, decision, effect, approvals, open_conditions))


def _sentence(gate: GateStatus, decision: Decision, effect: Outcome, approvals: int, open_conditions: int) -> str:
    m = gate.milestone
    if effect.pauses_swarm:
        return "The whole swarm pauses: every claim is refused until a human resumes it."
    if effect.milestone_status is MilestoneStatus.REVIEW:
        return (f"Records approval {approvals} of {m.required_approvals}; "
                "the gate stays in review until the rest approve.")
    if not effect.opens_next:
        return f"{m.name} returns to work: agents revise and submit a new report version."
    opens = (f"{gate.next_milestone} opens and {gate.unblocks} task(s) become ready"
             if gate.next_milestone else "the last milestone is complete")
    if effect.milestone_status is MilestoneStatus.CONDITIONAL or decision is Decision.CONDITIONAL:
        return f"{m.name} proceeds: {opens}; {open_conditions} condition(s) stay tracked until closed."
    return f"{m.name} is approved: {opens}."


def _pick(item: Any, key: str, default: Any = ...) -> Any:
    value = item.get(key, default) if isinstance(item, Mapping) else getattr(item, key, default)
    if value is ...:
        raise InvalidArgument(f"report entry {item!r} is missing {key!r}")
    return value


def _enum(kind: type[enum.Enum], value: Any, what: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(v.value) for v in kind)
        raise InvalidArgument(f"{what} must be one of {allowed}, not {value!r}") from None


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidArgument(f"{what} must be a finite number, not {value!r}")
    return float(value)


def parse_report(
    *,
    criteria: Iterable[Any],
    metrics: Iterable[Any],
    issues: Iterable[Any],
    recommendations: Iterable[str],
    proposed_decision: Any,
) -> tuple[tuple[Criterion, ...], tuple[Metric, ...], tuple[ReportIssue, ...], tuple[str, ...], Decision | None]:
    """Validate a validation report's parts (dicts or models) into models, or say what is wrong."""
    for what, part in (("criteria", criteria), ("metrics", metrics), ("issues", issues)):
        if isinstance(part, (str, bytes, Mapping)) or not isinstance(part, Iterable):
            raise InvalidArgument(f"{what} must be a list of entries, not {type(part).__name__}")
    crit = tuple(
        Criterion(
            name=_text(_pick(c, "name"), "criterion name"),
            status=_enum(CriterionStatus, _pick(c, "status"), "criterion status"),
            evidence=_plain(_pick(c, "evidence", ""), "criterion evidence"),
        )
        for c in criteria
    )
    mets = tuple(
        Metric(
            name=_text(_pick(m, "name"), "metric name"),
            value=_number(_pick(m, "value"), f"metric {_pick(m, 'name')!r} value"),
            target=_number(_pick(m, "target"), f"metric {_pick(m, 'name')!r} target"),
            comparator=_enum(Comparator, _pick(m, "comparator", "<="), "metric comparator"),
            unit=_plain(_pick(m, "unit", ""), "metric unit"),
        )
        for m in metrics
    )
    iss = tuple(
        ReportIssue(
            severity=_enum(Severity, _pick(i, "severity"), "issue severity"),
            description=_text(_pick(i, "description"), "issue description"),
        )
        for i in issues
    )
    if isinstance(recommendations, str):
        raise InvalidArgument("recommendations must be a list of strings")
    recs = tuple(_text(r, "recommendation") for r in recommendations)
    proposed = None if proposed_decision is None else _enum(Decision, proposed_decision, "proposed decision")
    return crit, mets, iss, recs, proposed


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"{what} must be non-empty text")
    return value


def _plain(value: Any, what: str) -> str:
    """Optional text; a number is taken as its text, anything else (an object, a list) is refused."""
    if value is None:
        return ""
    if isinstance(value, (str, int, float)):
        return str(value)
    raise InvalidArgument(f"{what} must be text, not {type(value).__name__}")


def check_report_size(summary: str, criteria: tuple[Criterion, ...], metrics: tuple[Metric, ...],
                      issues: tuple[ReportIssue, ...], recommendations: tuple[str, ...]) -> None:
    """Each part of a parsed report within its limit (store/limits.py), and the whole report too."""
    check_text("summary", summary, MAX_TEXT)
    for what, part in (("criteria", criteria), ("metrics", metrics), ("issues", issues),
                       ("recommendations", recommendations)):
        if len(part) > MAX_ITEMS:
            raise InvalidArgument(f"{what}: {len(part)} entries, limit {MAX_ITEMS}")
    for i, c in enumerate(criteria):
        check_text(f"criteria[{i}].name", c.name, MAX_TEXT)
        check_text(f"criteria[{i}].evidence", c.evidence, MAX_TEXT)
    for i, m in enumerate(metrics):
        check_text(f"metrics[{i}].name", m.name, MAX_LINE)
        check_text(f"metrics[{i}].unit", m.unit, MAX_NAME)
    for i, x in enumerate(issues):
        check_text(f"issues[{i}].description", x.description, MAX_TEXT)
    for i, r in enumerate(recommendations):
        check_text(f"recommendations[{i}]", r, MAX_TEXT)
    check_json("report", {"summary": summary, "criteria": [asdict(c) for c in criteria],
                          "metrics": [asdict(m) for m in metrics], "issues": [asdict(i) for i in issues],
                          "recommendations": list(recommendations)}, max_bytes=MAX_REPORT_BYTES)


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
