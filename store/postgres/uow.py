"""The PostgreSQL unit of work: the domain's data operations (store/domain/uow.py) as SQL over one
``Tx`` of store/postgres/base.py. The rules themselves are store/domain/'s, unchanged; rows become
models through store/rows.py, as SQLite's do.

So far the operations the agents area needs (agents, the reviewer check of a registration, whether a
task exists, events), and the gates' and reviewers' (the swarm's pause and the gates' guard, reviewers,
milestones, reports, decisions, conditions, resumptions, and the two task operations a passed gate
uses to release the next milestone's tasks); each further area adds the operations its rules call,
next to SQLite's (store/sqlite/uow.py), statement for statement.
"""

from __future__ import annotations

import functools
from typing import Any

from collections.abc import Sequence

from ..domain.gates import GateGuard
from ..domain.uow import ConditionRow, EscalatedGate, Pause
from ..errors import NotFound
from ..events import EventKind
from ..models import (
    Agent,
    Comparator,
    Condition,
    Criterion,
    CriterionStatus,
    Decision,
    GateDecision,
    Metric,
    Milestone,
    ReportIssue,
    Reviewer,
    Severity,
    TaskStatus,
    ValidationReport,
    from_ts,
)
from .. import milestone_refs
from ..rows import (
    agent_from_row,
    condition_from_row,
    decision_from_row,
    dumps,
    milestone_from_row,
    reviewer_from_row,
)
from .base import All, One, Reads, Tx
from .schema import GATES_LOCK
from .signatures import DECISION_SELECT, GUARD_MARK, Signatures

#: The agent columns ``update_agent`` may set: the Agent fields' own names (never text from a caller);
#: the JSON ones (``jsonb``) are given as JSON text and cast.
_AGENT_COLUMNS = frozenset({"status", "current_task_id", "completion", "blockers", "next_milestone",
                            "last_heartbeat", "blockers_since"})
_JSON_COLUMNS = frozenset({"blockers", "blockers_since"})


#: The milestone after ``position`` that is still locked: the one a passed gate opens.
NEXT_LOCKED = "SELECT * FROM milestones WHERE position > %s AND status = 'locked' ORDER BY position LIMIT 1"

#: The pause flag and the marks that say whether the cached guard still holds: one statement.
_PAUSE_AND_MARK = f"SELECT paused, reason, {GUARD_MARK} FROM swarm_state WHERE id = 1"


def milestone_reads(ref: int | str) -> Reads[Milestone]:
    """The milestone ``ref`` names (store/milestone_refs.py's rules), or its NotFound / InvalidArgument.
    An id that exists costs one probe; any other reference reads the names (milestones are few)."""
    number = milestone_refs.as_id(ref)
    if number is not None and number < 2**63:  # beyond bigint no row can match
        row = yield One("SELECT * FROM milestones WHERE id = %s", (number,))
        if row is not None:
            return milestone_from_row(row)
    names = yield All("SELECT id, name FROM milestones ORDER BY position")
    found = milestone_refs.resolve(ref, [(r[0], r[1]) for r in names])
    row = yield One("SELECT * FROM milestones WHERE id = %s", (found,))
    return milestone_from_row(row)


def report_reads(milestone_id: int, version: int | None) -> Reads[ValidationReport | None]:
    """A version of the milestone's validation report (the latest by default); None if none was
    submitted, NotFound if the version asked for was not."""
    if version is None:
        row = yield One(
            "SELECT * FROM validation_reports WHERE milestone_id = %s ORDER BY version DESC LIMIT 1",
            (milestone_id,),
        )
    else:
        row = yield One(
            "SELECT * FROM validation_reports WHERE milestone_id = %s AND version = %s",
            (milestone_id, version)
        )
    if row is None:
        if version is not None:
            raise NotFound(f"milestone {milestone_id} has no report version {version}")
        return None
    rid = row["id"]
    crit = yield All("SELECT * FROM report_criteria WHERE report_id = %s ORDER BY position", (rid,))
    mets = yield All("SELECT * FROM report_metrics WHERE report_id = %s ORDER BY position", (rid,))
    iss = yield All("SELECT * FROM report_issues WHERE report_id = %s ORDER BY position", (rid,))
    recs = yield All("SELECT * FROM report_recommendations WHERE report_id = %s ORDER BY position", (rid,))
    return ValidationReport(
        id=rid,
        milestone_id=row["milestone_id"],
        version=row["version"],
        submitted_by=row["submitted_by"],
        submitted_at=from_ts(row["submitted_at"]),
        summary=row["summary"],
        proposed_decision=row["proposed_decision"] and Decision(row["proposed_decision"]),
        criteria=tuple(Criterion(c["name"], CriterionStatus(c["status"]), c["evidence"]) for c in crit),
        metrics=tuple(
            Metric(m["name"], m["value"], m["target"], Comparator(m["comparator"]), m["unit"]) for m in mets
        ),
        issues=tuple(ReportIssue(Severity(i["severity"]), i["description"]) for i in iss),
        recommendations=tuple(r["text"] for r in recs),
        content_hash=row["content_hash"],
    )


@functools.lru_cache(maxsize=64)
def _agent_update_sql(columns: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{c} = %s::jsonb" if c in _JSON_COLUMNS else f"{c} = %s" for c in columns)
    return f"UPDATE agents SET {assignments} WHERE name = %s"


def gate_unit(tx: Tx, signatures: Signatures | None = None) -> PgUnit:
    """The unit of a write of the gates or reviewers (a milestone or report added, a decision, a
    closure, a resume, a reviewer added, keyed or removed). It first waits for any other such write to
    end (the advisory lock ``GATES_LOCK``, held to commit), so these run one at a time, as every write
    does on SQLite: each one's reads (statements at READ COMMITTED) see every one committed before it.
    Without it, two approvals of a 2-approval gate made at once would each count one, and neither
    would pass the gate; a decision would race its report's next version or its reviewer's removal.
    They are people's acts, a few a day: waiting costs nothing that matters."""
    u = PgUnit(tx, signatures)
    u.lock_gates()
    return u


class PgUnit:
    """One write transaction of the PostgreSQL store, seen by the rules (``domain.uow.Unit``)."""

    __slots__ = ("tx", "now", "actor", "_signatures", "_mark")

    def __init__(self, tx: Tx, signatures: Signatures | None = None) -> None:
        self.tx = tx
        self.now = tx.now
        self.actor = tx.actor
        self._signatures = signatures  # the store's verdicts and gate guard (the gates' writes need them)
        self._mark: tuple[Any, ...] | None = None  # the guard's mark, read with the pause flag

    def event(self, kind: EventKind, entity: str, entity_id: Any = None,
              payload: dict[str, Any] | None = None) -> None:
        self.tx.event(kind, entity, entity_id, payload)

    # -- agents -----------------------------------------------------------------------------------

    def agent_exists(self, name: str) -> bool:
        return self.tx.one("SELECT 1 FROM agents WHERE name = %s", (name,)) is not None

    def set_agent_working(self, name: str, task_id: int) -> None:
        self.tx.run("UPDATE agents SET status = 'working', current_task_id = %s, completion = 0 "
                    "WHERE name = %s", (task_id, name))

    def release_agent(self, name: str, task_id: int) -> None:
        self.tx.run("UPDATE agents SET status = 'idle', current_task_id = NULL "
                    "WHERE name = %s AND current_task_id = %s", (name, task_id))

    def reviewer(self, name: str) -> Reviewer | None:
        row = self.tx.one("SELECT * FROM reviewers WHERE name = %s", (name,))
        return None if row is None else reviewer_from_row(row)

    def agent(self, name: str) -> Agent:
        row = self.tx.one("SELECT * FROM agents WHERE name = %s", (name,))
        if row is None:
            raise NotFound(f"agent {name!r} is not registered")
        return agent_from_row(row, self.now)

    def upsert_agent(self, name: str, *, agent_type: str, colour: str | None, model: str | None,
                     stale_after_seconds: float, requeue_after_seconds: float) -> None:
        self.tx.run(
            """INSERT INTO agents (name, agent_type, colour, model, stale_after_seconds,
                                   requeue_after_seconds, registered_at, last_heartbeat)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (name) DO UPDATE SET agent_type = excluded.agent_type,
                   colour = coalesce(excluded.colour, agents.colour),
                   model = coalesce(excluded.model, agents.model),
                   stale_after_seconds = excluded.stale_after_seconds,
                   requeue_after_seconds = excluded.requeue_after_seconds,
                   last_heartbeat = excluded.last_heartbeat,
                   status = CASE agents.status WHEN 'offline' THEN 'idle' ELSE agents.status END""",
            (name, agent_type, colour, model, stale_after_seconds, requeue_after_seconds, self.now, self.now),
        )

    def update_agent(self, name: str, fields: dict[str, Any]) -> bool:
        if not _AGENT_COLUMNS.issuperset(fields):
            raise ValueError(f"not an agent field to update: {sorted(set(fields) - _AGENT_COLUMNS)}")
        values = [dumps(v) if k in _JSON_COLUMNS else v for k, v in fields.items()]
        return bool(self.tx.run(_agent_update_sql(tuple(fields)), (*values, name)))

    # -- tasks: reads -----------------------------------------------------------------------------

    def task_exists(self, task_id: int) -> bool:
        return self.tx.one("SELECT 1 FROM tasks WHERE id = %s", (task_id,)) is not None

    # -- tasks: what a passed gate needs to release the next milestone's tasks ---------------------
    # (the tasks area's operations, statement for statement with SQLite's; only these two so far)

    def ready_to_release(self, *, dependents_of: int | None = None, task_id: int | None = None,
                         milestone_id: int | None = None) -> list[int]:
        if dependents_of is not None:
            where, params = ("t.id IN (SELECT task_id FROM task_dependencies WHERE prerequisite_id = %s)",
                             (dependents_of,))
        elif task_id is not None:
            where, params = "t.id = %s", (task_id,)
        else:
            where, params = "t.milestone_id = %s AND t.status = 'blocked'", (milestone_id,)
        rows = self.tx.all(
            f"""SELECT t.id FROM tasks t LEFT JOIN milestones m ON m.id = t.milestone_id
                WHERE {where} AND t.status = 'blocked'
                  AND (m.status IS NULL OR m.status != 'locked')
                  AND NOT EXISTS (SELECT 1 FROM task_dependencies d JOIN tasks p ON p.id = d.prerequisite_id
                                  WHERE d.task_id = t.id AND p.status != 'completed')""",
            params,
        )
        return [r[0] for r in rows]

    def set_task_status(self, task_id: int, status: TaskStatus) -> None:
        self.tx.run("UPDATE tasks SET status = %s, updated_at = %s WHERE id = %s",
                    (status.value, self.now, task_id))

    # -- the swarm and the gates' guard ------------------------------------------------------------

    def lock_gates(self) -> None:
        """Wait for any other write of the gates or reviewers to end (``gate_unit``)."""
        self.tx.one("SELECT pg_advisory_xact_lock(%s)", (GATES_LOCK,))

    def swarm_pause(self, agent: str | None = None) -> Pause:
        row = self.tx.one(_PAUSE_AND_MARK)
        self._mark = tuple(row[2:])
        return Pause(bool(row[0]), row[1])

    def gate_guard(self) -> GateGuard:
        mark, self._mark = self._mark, None
        kept = None if mark is None else self._signatures.cached_guard(mark)
        return kept if kept is not None else self.tx.read(self._signatures.gate_guard(mark))

    def pause_swarm(self, reason: str, by: str) -> None:
        self.tx.run(
            "UPDATE swarm_state SET paused = 1, reason = %s, paused_by = %s, paused_at = %s WHERE id = 1",
            (reason, by, self.now),
        )

    def unpause_swarm(self) -> None:
        self.tx.run("UPDATE swarm_state SET paused = 0, reason = NULL, paused_by = NULL, paused_at = NULL")

    # -- reviewers ----------------------------------------------------------------------------------

    def any_active_reviewer(self) -> bool:
        return self.tx.one("SELECT 1 FROM reviewers WHERE removed_at IS NULL LIMIT 1") is not None

    def insert_reviewer(self, name: str, *, public_key: bytes | None, by: str) -> None:
        self.tx.run("INSERT INTO reviewers (name, public_key, added_at, added_by) VALUES (%s, %s, %s, %s)",
                    (name, public_key, self.now, by))

    def readmit_reviewer(self, name: str, *, public_key: bytes | None, by: str) -> None:
        self.tx.run("UPDATE reviewers SET added_at = %s, added_by = %s, removed_at = NULL, "
                    "removed_by = NULL, public_key = coalesce(public_key, %s) WHERE name = %s",
                    (self.now, by, public_key, name))

    def set_reviewer_key(self, name: str, public_key: bytes) -> None:
        self.tx.run("UPDATE reviewers SET public_key = %s WHERE name = %s", (public_key, name))

    def remove_reviewer(self, name: str, *, by: str) -> None:
        self.tx.run("UPDATE reviewers SET removed_at = %s, removed_by = %s WHERE name = %s",
                    (self.now, by, name))

    # -- milestones and gates ---------------------------------------------------------------------

    def milestone(self, ref: int | str) -> Milestone:
        return self.tx.read(milestone_reads(ref))

    def next_locked_milestone(self, position: int) -> Milestone | None:
        row = self.tx.one(NEXT_LOCKED, (position,))
        return None if row is None else milestone_from_row(row)

    def set_milestone_status(self, milestone_id: int, status: str) -> None:
        self.tx.run("UPDATE milestones SET status = %s WHERE id = %s", (status, milestone_id))

    def milestone_named(self, name: str) -> bool:
        return self.tx.one("SELECT 1 FROM milestones WHERE name = %s", (name,)) is not None

    def milestone_tail(self) -> tuple[int, int]:
        row = self.tx.one(
            "SELECT coalesce(max(position), 0), "
            "count(*) FILTER (WHERE status NOT IN ('approved', 'conditional')) FROM milestones"
        )
        return row[0], row[1]

    def insert_milestone(self, *, name: str, position: int, objective: str, planned_weeks: str | None,
                         hour_budget: float | None, deliverables: list[str], acceptance_criteria: list[str],
                         status: str, required_approvals: int,
                         review_within_seconds: float | None = None) -> int:
        return self.tx.one(
            """INSERT INTO milestones (name, position, objective, planned_weeks, hour_budget, deliverables,
                   acceptance_criteria, status, required_approvals, created_at, review_within_seconds)
               VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s) RETURNING id""",
            (name, position, objective, planned_weeks, hour_budget, dumps(deliverables),
             dumps(acceptance_criteria), status, required_approvals, self.now, review_within_seconds),
        )[0]

    def report(self, milestone_id: int, version: int | None) -> ValidationReport | None:
        return self.tx.read(report_reads(milestone_id, version))

    def latest_report_version(self, milestone_id: int) -> int:
        return self.tx.one(
            "SELECT coalesce(max(version), 0) FROM validation_reports WHERE milestone_id = %s",
            (milestone_id,)
        )[0]

    def insert_report(self, *, milestone_id: int, version: int, submitted_by: str, summary: str,
                      criteria: Sequence[Criterion], metrics: Sequence[Metric], issues: Sequence[ReportIssue],
                      recommendations: Sequence[str], proposed: Decision | None, content_hash: str) -> int:
        tx = self.tx
        report_id = tx.one(
            """INSERT INTO validation_reports (milestone_id, version, submitted_by, submitted_at, summary,
                   proposed_decision, content_hash) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (milestone_id, version, submitted_by, self.now, summary, proposed and proposed.value,
             content_hash),
        )[0]
        tx.many(
            "INSERT INTO report_criteria VALUES (%s, %s, %s, %s, %s)",
            [(report_id, i, c.name, c.status.value, c.evidence) for i, c in enumerate(criteria)],
        )
        tx.many(
            "INSERT INTO report_metrics VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(report_id, i, m.name, m.value, m.target, m.comparator.value, m.unit)
             for i, m in enumerate(metrics)],
        )
        tx.many(
            "INSERT INTO report_issues VALUES (%s, %s, %s, %s)",
            [(report_id, i, x.severity.value, x.description) for i, x in enumerate(issues)],
        )
        tx.many(
            "INSERT INTO report_recommendations VALUES (%s, %s, %s)",
            [(report_id, i, r) for i, r in enumerate(recommendations)],
        )
        return report_id

    def verified_approvers(self, report_id: int) -> set[str]:
        # Only verified approvals count: a row written around swarmdeck neither adds an approval nor
        # stands in the way of the reviewer it names.
        approvals = self.tx.all(
            f"{DECISION_SELECT} WHERE g.report_id = %s AND g.decision IN ('APPROVE', 'CONDITIONAL')",
            (report_id,),
        )
        verdicts = self.tx.read(self._signatures.verified_decisions(approvals))
        return {r["reviewer"] for r, ok in zip(approvals, verdicts) if ok}

    def insert_decision(self, *, milestone_id: int, report: ValidationReport, decision: str, rationale: str,
                        reviewer: str, signature: bytes, conditions: Sequence[str]) -> int:
        decision_id = self.tx.one(
            """INSERT INTO gate_decisions (milestone_id, report_id, report_hash, decision, rationale,
                   reviewer, decided_at, signature) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (milestone_id, report.id, report.content_hash, decision, rationale, reviewer, self.now,
             signature),
        )[0]
        self.tx.many(
            "INSERT INTO gate_conditions (milestone_id, decision_id, text) VALUES (%s, %s, %s)",
            [(milestone_id, decision_id, c) for c in conditions],
        )
        return decision_id

    def decision(self, decision_id: int) -> GateDecision:
        row = self.tx.one(f"{DECISION_SELECT} WHERE g.id = %s", (decision_id,))
        return decision_from_row(row, verified=True)  # its signature was checked just now

    def open_conditions(self, milestone_id: int) -> int:
        return self.tx.one(
            "SELECT count(*) FROM gate_conditions WHERE milestone_id = %s AND status = 'open'",
            (milestone_id,)
        )[0]

    def condition(self, condition_id: int) -> ConditionRow | None:
        row = self.tx.one(
            "SELECT c.*, r.submitted_by FROM gate_conditions c JOIN gate_decisions d ON d.id = c.decision_id "
            "JOIN validation_reports r ON r.id = d.report_id WHERE c.id = %s",
            (condition_id,),
        )
        if row is None:
            return None
        return ConditionRow(row["id"], row["milestone_id"], row["text"], row["status"], row["submitted_by"],
                            condition_from_row(row))

    def close_condition(self, condition_id: int, *, by: str, note: str, signature: bytes) -> None:
        self.tx.run(
            "UPDATE gate_conditions SET status = 'closed', closed_by = %s, closed_at = %s, note = %s, "
            "close_signature = %s WHERE id = %s",
            (by, self.now, note, signature, condition_id),
        )

    def closed_condition(self, condition_id: int) -> Condition:
        return condition_from_row(self.tx.one("SELECT * FROM gate_conditions WHERE id = %s", (condition_id,)),
                                  verified=True)

    def escalated_gates(self, escalation_milestone: int | None) -> list[EscalatedGate]:
        rows = self.tx.all(
            """SELECT m.id, m.name, m.status,
                      (SELECT max(d.id) FROM gate_decisions d
                       WHERE d.milestone_id = m.id AND d.decision = 'ESCALATE') AS escalation,
                      (SELECT r.submitted_by FROM validation_reports r
                       WHERE r.milestone_id = m.id ORDER BY r.version DESC LIMIT 1) AS submitted_by
               FROM milestones m WHERE m.status = 'escalated' OR m.id = %s ORDER BY m.position""",
            (escalation_milestone,),
        )
        return [EscalatedGate(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def record_resumption(self, gate: EscalatedGate, *, by: str, reason: str, escalation_id: int,
                          signature: bytes) -> None:
        self.tx.run(
            """INSERT INTO gate_resumptions (milestone_id, decision_id, resumed_by, reason, resumed_at,
                   escalation_id, signature) VALUES (%s, %s, %s, %s, %s, %s, %s)""",
            (gate.id, gate.escalation, by, reason, self.now, escalation_id, signature),
        )
