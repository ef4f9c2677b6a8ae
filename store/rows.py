"""Rows to models, for every backend: the only place that knows column names and storage encodings.

A row is anything indexed by column name (``sqlean.Row``, the PostgreSQL store's rows): the backends
keep the same columns and encodings (epoch seconds, JSON text, 0/1 flags), so one mapping serves both."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from .domain.tasks import blocked_reason
from .limits import decode_stored
from .models import (
    Agent,
    AgentStatus,
    Comparator,
    Condition,
    ConditionStatus,
    Criterion,
    CriterionEvidence,
    CriterionStatus,
    Event,
    GateDecision,
    Decision,
    Metric,
    Milestone,
    MilestoneStatus,
    PlanState,
    ReportIssue,
    Resumption,
    Reviewer,
    Severity,
    Task,
    TaskSource,
    TaskStatus,
    ValidationReport,
    from_ts,
)


#: A row: indexed by column name (``row["id"]``).
Row = Mapping[str, Any]


def loads(text: str | None, what: str = "value") -> Any:
    """A JSON column, decoded so that no stored row can break its readers (see limits.decode_stored)."""
    return decode_stored(text, what)


def dumps(value: Any) -> str | None:
    """JSON text for a column; anything JSON cannot hold raises TypeError rather than being stringified."""
    return None if value is None else json.dumps(value, separators=(",", ":"))


def task_from_row(
    row: Row, prerequisites: tuple[int, ...] = (), blocked_reason: str | None = None
) -> Task:
    return Task(
        id=row["id"],
        description=row["description"],
        summary=row["summary"],
        source=TaskSource(row["source"]),
        agent_type=row["agent_type"],
        base_priority=row["base_priority"],
        status=TaskStatus(row["status"]),
        priority=row["priority"],
        dependency_depth=row["dependency_depth"],
        prerequisites=prerequisites,
        milestone_id=row["milestone_id"],
        parent_task_id=row["parent_task_id"],
        session_id=row["session_id"],
        deadline=from_ts(row["deadline"]),
        estimated_duration_seconds=row["estimated_duration_seconds"],
        input_data=loads(row["input_data"], "input_data"),
        result_data=loads(row["result_data"], "result_data"),
        error_message=row["error_message"],
        assigned_agent=row["assigned_agent"],
        retry_count=row["retry_count"],
        max_retries=row["max_retries"],
        timeout_seconds=row["timeout_seconds"],
        created_at=from_ts(row["created_at"]),
        updated_at=from_ts(row["updated_at"]),
        started_at=from_ts(row["started_at"]),
        finished_at=from_ts(row["finished_at"]),
        blocked_reason=blocked_reason,
        held_by=row["held_by"],
        archived_at=from_ts(row["archived_at"]),
    )


def agent_from_row(row: Row, now: float) -> Agent:
    last = row["last_heartbeat"]
    age = None if last is None else max(0.0, now - last)
    status = AgentStatus(row["status"])
    stale = Agent.stale_rule(status, age, row["stale_after_seconds"])
    return Agent(
        id=row["id"],
        name=row["name"],
        agent_type=row["agent_type"],
        colour=row["colour"],
        model=row["model"],
        status=status,
        current_task_id=row["current_task_id"],
        completion=row["completion"],
        blockers=tuple(loads(row["blockers"]) or ()),
        next_milestone=row["next_milestone"],
        last_heartbeat=from_ts(last),
        stale_after_seconds=row["stale_after_seconds"],
        registered_at=from_ts(row["registered_at"]),
        heartbeat_age_seconds=age,
        stale=stale,
        requeue_after_seconds=row["requeue_after_seconds"],
        blockers_since=_blockers_since(row),
    )


def _blockers_since(row: Row) -> tuple[Any, ...]:
    blockers = loads(row["blockers"]) or ()
    since = loads(row["blockers_since"]) or {}
    since = since if isinstance(since, dict) else {}
    return tuple(from_ts(since.get(b)) if isinstance(since.get(b), (int, float)) else None for b in blockers)


def milestone_from_row(row: Row) -> Milestone:
    return Milestone(
        id=row["id"],
        name=row["name"],
        position=row["position"],
        objective=row["objective"],
        planned_weeks=row["planned_weeks"],
        hour_budget=row["hour_budget"],
        hours_spent=row["hours_spent"],
        deliverables=tuple(loads(row["deliverables"]) or ()),
        acceptance_criteria=tuple(loads(row["acceptance_criteria"]) or ()),
        status=MilestoneStatus(row["status"]),
        required_approvals=row["required_approvals"],
        created_at=from_ts(row["created_at"]),
        review_within_seconds=row["review_within_seconds"],
        prerequisites=prerequisite_ids(row["prerequisites"]),
        starts_on=row["starts_on"],
        money_budget=row["money_budget"],
        hour_rate=row["hour_rate"],
        plan_state=PlanState(row["plan_state"]),
    )


def prerequisite_ids(value: Any) -> tuple[int, ...] | None:
    """The prerequisites column: a JSON list of milestone ids, or None (the one before)."""
    if value is None:
        return None
    ids = value if isinstance(value, list) else loads(value, "prerequisites")
    return tuple(i for i in ids or () if isinstance(i, int) and not isinstance(i, bool))


def blob(value: Any) -> bytes | None:
    """A signature or key column: bytes, or None (a row written around swarmdeck may hold text)."""
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else None


def decision_from_row(row: Row, verified: bool = False) -> GateDecision:
    return GateDecision(
        id=row["id"],
        milestone_id=row["milestone_id"],
        report_id=row["report_id"],
        report_version=row["report_version"] or 0,  # 0: no such report (a row written around swarmdeck)
        report_hash=row["report_hash"],
        decision=Decision(row["decision"]),
        rationale=row["rationale"],
        reviewer=row["reviewer"],
        decided_at=from_ts(row["decided_at"]),
        signature=blob(row["signature"]),
        verified=verified,
        accepted_unmet=accepted_unmet(row["accepted_unmet"]),
    )


def accepted_unmet(text: Any) -> tuple[str, ...]:
    """A decision's accepted_unmet column (JSON list of texts) as recorded; anything else (a row written
    around swarmdeck) reads as none, and its signature then does not verify."""
    if not isinstance(text, str) or not text:
        return ()
    try:
        value = json.loads(text)
    except ValueError:
        return ()
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def evidence_from_row(row: Row) -> CriterionEvidence:
    return CriterionEvidence(
        id=row["id"], milestone_id=row["milestone_id"], criterion=row["criterion"], command=row["command"],
        exit_code=row["exit_code"], output_sha256=row["output_sha256"], ran_at=from_ts(row["ran_at"]),
        recorded_by=row["recorded_by"], recorded_at=from_ts(row["recorded_at"]))


def condition_from_row(row: Row, verified: bool = False) -> Condition:
    return Condition(
        id=row["id"],
        milestone_id=row["milestone_id"],
        decision_id=row["decision_id"],
        text=row["text"],
        status=ConditionStatus(row["status"]),
        closed_by=row["closed_by"],
        closed_at=from_ts(row["closed_at"]),
        note=row["note"],
        close_signature=blob(row["close_signature"]),
        verified=verified,
    )


def report_from_rows(row: Row, criteria: list[Row], metrics: list[Row], issues: list[Row],
                     recommendations: list[Row]) -> ValidationReport:
    """A validation report from its row and its lines' rows (each in position order)."""
    return ValidationReport(
        id=row["id"],
        milestone_id=row["milestone_id"],
        version=row["version"],
        submitted_by=row["submitted_by"],
        submitted_at=from_ts(row["submitted_at"]),
        summary=row["summary"],
        proposed_decision=row["proposed_decision"] and Decision(row["proposed_decision"]),
        criteria=tuple(Criterion(c["name"], CriterionStatus(c["status"]), c["evidence"]) for c in criteria),
        metrics=tuple(Metric(m["name"], m["value"], m["target"], Comparator(m["comparator"]), m["unit"])
                      for m in metrics),
        issues=tuple(ReportIssue(Severity(i["severity"]), i["description"]) for i in issues),
        recommendations=tuple(r["text"] for r in recommendations),
        content_hash=row["content_hash"],
        next_milestone_context=row["next_context"] or "",
    )


def reviewer_from_row(row: Row) -> Reviewer:
    return Reviewer(
        id=row["id"],
        name=row["name"],
        added_at=from_ts(row["added_at"]),
        added_by=row["added_by"],
        removed_at=from_ts(row["removed_at"]),
        removed_by=row["removed_by"],
        public_key=blob(row["public_key"]),
    )


def resumption_from_row(row: Row, verified: bool = False) -> Resumption:
    return Resumption(
        id=row["id"],
        milestone_id=row["milestone_id"],
        decision_id=row["decision_id"],
        resumed_by=row["resumed_by"],
        reason=row["reason"],
        resumed_at=from_ts(row["resumed_at"]),
        escalation_id=row["escalation_id"],
        signature=blob(row["signature"]),
        verified=verified,
    )


def event_from_row(row: Row) -> Event:
    return Event(
        id=row["id"],
        ts=from_ts(row["ts"]),
        actor=row["actor"],
        kind=row["kind"],
        entity=row["entity"],
        entity_id=row["entity_id"],
        payload=loads(row["payload"], "payload"),
    )


def tasks_of(rows: list[Row], prerequisite_rows: list[Row]) -> list[Task]:
    """``hydrate``'s tasks from the rows and their prerequisites' rows (``PREREQUISITES_OF``): what a
    transaction, which reads synchronously, builds without driving a ``Reads`` generator."""
    prereqs: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for r in prerequisite_rows:
        prereqs[r[0]].append((r[1], r[2]))
    tasks = []
    for row in rows:
        mine = prereqs.get(row["id"], [])
        reason = None
        if row["status"] == TaskStatus.BLOCKED:
            plan = row["milestone_plan"]
            status = plan if plan not in (None, PlanState.ACTIVE) else row["milestone_status"]
            reason = blocked_reason(mine, row["milestone_name"], status, row["held_by"])
        tasks.append(task_from_row(row, tuple(p for p, _ in mine), reason))
    return tasks


__all__ = [
    "Row", "agent_from_row", "blob", "condition_from_row", "decision_from_row", "dumps", "event_from_row",
    "loads", "milestone_from_row", "resumption_from_row", "reviewer_from_row", "task_from_row",
    "tasks_of",
]
