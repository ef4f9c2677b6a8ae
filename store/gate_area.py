"""Milestones, validation reports, gate decisions, conditions, and pausing the swarm: the part of the store
both backends share. Each write is a rule of store/domain/gates.py run over the backend's unit of one
transaction; each read is one statement written in SQLite's terms that the backend's ``Sql``
(store/sql_dialect.py) turns into its own. A backend gives its unit, its dialect, and the unit-of-work reads
of a milestone and a report (store/sqlite/gates.py, store/postgres/gates.py)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from . import identity, plans, signing
from .domain import gates as domain_gates
from .errors import InvalidArgument
from .limits import MAX_NAME, MAX_TEXT, check_fields, check_texts
from .models import (
    Condition,
    CriterionEvidence,
    Decision,
    GateDecision,
    GateStatus,
    Milestone,
    PlanState,
    SwarmState,
    ValidationReport,
)
from .rows import (
    condition_from_row,
    decision_from_row,
    evidence_from_row,
    milestone_from_row,
    resumption_from_row,
)
from .sql_dialect import DECISION_SELECT, Sql

if TYPE_CHECKING:
    from collections.abc import Callable

    from .domain.uow import Unit


class Gates:
    """Milestones, reports and gates: the reads, and each decision, closure and resume as a rule of
    store/domain/gates.py run over the backend's unit of one transaction. A decision releases tasks
    through the unit of work, so this part needs the database and the signatures, not the tasks part."""

    __slots__ = ("_milestone_reads", "_q", "_report_reads", "_signatures", "_unit", "db")

    def __init__(self, db: Any, signatures: Any, *, unit: Callable[[Any, Any], Unit], sql: Sql,
                 milestone_reads: Callable[[int | str], Any], report_reads: Callable[[int, int | None], Any]) -> None:
        self.db = db
        self._signatures = signatures
        self._unit = unit
        self._q = sql.q
        self._milestone_reads = milestone_reads
        self._report_reads = report_reads

    # -- milestones --------------------------------------------------------------------------

    async def add_milestone(
        self,
        name: str,
        *,
        objective: str = "",
        planned_weeks: str | None = None,
        hour_budget: float | None = None,
        deliverables: Sequence[str] = (),
        acceptance_criteria: Sequence[str] = (),
        required_approvals: int = 1,
        review_within_seconds: float | None = None,
        after: Sequence[int | str] | None = None,
        starts_on: str | date | None = None,
        money_budget: float | None = None,
        hour_rate: float | None = None,
        actor: str = "human",
    ) -> Milestone:
        """Append a milestone. It opens at once if every earlier gate has passed, else it is locked.
        ``review_within_seconds``: how long a submitted report may wait for a decision before the
        gate is overdue (attention escalates it; nothing is decided because of it).
        ``after``: the milestones it depends on (it opens when all their gates passed; default: the
        one before it); ``starts_on``, ``money_budget`` and ``hour_rate``: its schedule and money."""
        after, starts_on = plans.check_plan(after=after, starts_on=starts_on, money_budget=money_budget,
                                            hour_rate=hour_rate)
        check_fields(name=(name, MAX_NAME), objective=(objective, MAX_TEXT), planned_weeks=(planned_weeks, MAX_NAME),
                     actor=(actor, MAX_NAME))
        check_texts("deliverables", deliverables, MAX_TEXT)
        check_texts("acceptance_criteria", acceptance_criteria, MAX_TEXT)
        if not name or not name.strip():
            raise InvalidArgument("a milestone needs a name")
        if hour_budget is not None and not (isinstance(hour_budget, (int, float)) and hour_budget >= 0):
            raise InvalidArgument("hour_budget must be a non-negative number of hours")
        if isinstance(required_approvals, bool) or not isinstance(required_approvals, int) or required_approvals < 1:
            raise InvalidArgument("required_approvals must be a whole number of at least 1")
        if review_within_seconds is not None and (
                isinstance(review_within_seconds, bool) or not isinstance(review_within_seconds, (int, float))
                or not math.isfinite(review_within_seconds) or review_within_seconds <= 0):
            raise InvalidArgument("review_within_seconds must be a positive number of seconds")
        for what, items in (("deliverables", deliverables), ("acceptance_criteria", acceptance_criteria)):
            if isinstance(items, str) or not all(isinstance(i, str) for i in items):
                raise InvalidArgument(f"{what} must be a list of strings")
        return await self.db._write(actor, lambda tx: domain_gates.add_milestone(
            self._unit(tx, self._signatures), name, objective=objective, planned_weeks=planned_weeks, hour_budget=hour_budget,
            deliverables=deliverables, acceptance_criteria=acceptance_criteria,
            required_approvals=required_approvals, review_within_seconds=review_within_seconds,
            after=after, starts_on=starts_on, money_budget=money_budget, hour_rate=hour_rate))

    async def replan_milestone(self, milestone: int | str, *, state: PlanState | str, by: str, reason: str,
                               dry_run: bool = False) -> Milestone:
        """Cut, defer or reinstate (``Store.replan_milestone``; the rule: domain/gates.py's ``replan``)."""
        state, who, why = plans.check_replan(state, by, reason)
        return await self.db._write(who, lambda tx: domain_gates.replan(
            self._unit(tx, self._signatures), milestone, state=state, who=who, reason=why, dry_run=dry_run))

    async def list_milestones(self) -> list[Milestone]:
        return [milestone_from_row(r) for r in await self.db._all("SELECT * FROM milestones ORDER BY position")]

    async def get_milestone(self, ref: int | str) -> Milestone:
        """The milestone ``ref`` names: its id, name, label (``M3``) or the start of its name
        (store/milestone_refs.py); NotFound if none, InvalidArgument if it could be several."""
        return await self.db._read(self._milestone_reads(ref))

    # -- reports ------------------------------------------------------------------------------

    async def submit_report(
        self,
        milestone: int | str,
        *,
        submitted_by: str,
        summary: str = "",
        criteria: Iterable[Any] = (),
        metrics: Iterable[Any] = (),
        issues: Iterable[Any] = (),
        recommendations: Iterable[str] = (),
        proposed_decision: Decision | str | None = None,
        next_milestone_context: str = "",
    ) -> ValidationReport:
        """Submit a new version of the milestone's validation report; the gate goes to review.

        Reports are an agent's work: ``submitted_by`` must be a registered agent (never a reviewer,
        which would also lock that reviewer out of deciding it)."""
        check_fields(submitted_by=(submitted_by, MAX_NAME), summary=(summary, MAX_TEXT))
        if not identity.has_content(submitted_by):
            raise InvalidArgument("a report needs a submitter (submitted_by)")
        submitted_by = identity.canonical(submitted_by, "the submitter name")
        if not isinstance(summary, str):
            raise InvalidArgument("the report summary must be text")
        from .inputs import ReportInput  # pydantic loads only when a report is submitted

        parsed = ReportInput.parse(
            summary=summary, criteria=criteria, metrics=metrics, issues=issues,
            recommendations=recommendations, proposed_decision=proposed_decision,
            next_milestone_context=next_milestone_context,
        )
        crit, mets, iss, recs, proposed = parsed.parts()
        return await self.db._write(submitted_by, lambda tx: domain_gates.submit_report(
            self._unit(tx, self._signatures), milestone, submitted_by=submitted_by, summary=summary, criteria=crit,
            metrics=mets, issues=iss, recommendations=recs, proposed=proposed,
            next_context=parsed.next_milestone_context))

    async def get_report(self, milestone: int | str, version: int | None = None) -> ValidationReport | None:
        """A report version of the milestone (the latest by default); None if none was submitted."""
        ms = await self.get_milestone(milestone)
        return await self.db._read(self._report_reads(ms.id, version))

    # -- decisions -----------------------------------------------------------------------------

    async def decide_gate(
        self,
        milestone: int | str,
        *,
        decision: Decision | str,
        rationale: str,
        reviewer: str,
        conditions: Sequence[str] = (),
        report_hash: str | None = None,
        signature: bytes | None = None,
        dry_run: bool = False,
        accept_unmet: Sequence[str] = (),
    ) -> GateDecision | None:
        """Record a human's decision on the milestone's current report and apply its effect.

        ``report_hash`` (optional) is the hash of the version the reviewer read; if a newer
        version arrived since, the decision is refused rather than applied to unread text.
        ``signature``: the reviewer's, over ``signing.decision_message`` of this decision of the
        current report; checked here against their registered key, and recorded with it.
        ``dry_run`` makes every check but the signature's and records nothing (None): a seat asks
        (and unlocks the reviewer's key) before it confirms.
        ``accept_unmet``: an approval that leaves acceptance criteria not reported, not met or unknown
        (``GateStatus.criteria.unsettled``) must name exactly those, by their text; recorded with the
        decision and covered by its signature (``signing.decision_message(accept_unmet=...)``).
        """
        try:
            decision = Decision(str(decision).upper())
        except ValueError:
            raise InvalidArgument(
                f"decision must be one of {', '.join(d.value for d in Decision)}, not {decision!r}"
            ) from None
        if isinstance(conditions, str):
            raise InvalidArgument("conditions must be a list of strings")
        check_fields(rationale=(rationale, MAX_TEXT), reviewer=(reviewer, MAX_NAME))
        conditions = list(conditions)
        check_texts("conditions", conditions, MAX_TEXT)
        conditions = signing.clean_conditions(conditions)
        if isinstance(accept_unmet, str) or not all(isinstance(a, str) for a in accept_unmet):
            raise InvalidArgument("accept_unmet must be a list of acceptance criteria (their text)",
                                  field="accept_unmet")
        accept_unmet = list(accept_unmet)
        who = identity.key(reviewer) or reviewer
        return await self.db._write(who, lambda tx: domain_gates.decide(
            self._unit(tx, self._signatures), milestone, decision=decision, rationale=rationale, reviewer=reviewer, who=who,
            conditions=conditions, report_hash=report_hash, signature=signature, dry_run=dry_run,
            accept_unmet=accept_unmet))

    async def add_evidence(self, milestone: int | str, *, criterion: int, command: str, exit_code: int,
                           output_sha256: str, recorded_by: str, ran_at: Any = None) -> CriterionEvidence:
        """A registered agent attaches a command it ran as evidence for one of the milestone's acceptance
        criteria (by number, from 1): its exit code, its output's SHA-256 and when it ran (default now).
        The output itself is not kept: it is an agent's claim, shown as its digest."""
        from .inputs import evidence_input

        who, given = evidence_input(recorded_by, criterion=criterion, command=command, exit_code=exit_code,
                                    output_sha256=output_sha256, ran_at=ran_at)
        return await self.db._write(who, lambda tx: domain_gates.add_evidence(
            self._unit(tx, self._signatures), milestone, recorded_by=who, **given))

    async def close_condition(self, condition_id: int, *, closed_by: str, note: str | None = None,
                              signature: bytes | None = None, dry_run: bool = False) -> Condition:
        """A reviewer closes one condition of a CONDITIONAL decision, saying how it was met; the last
        one closed makes the gate APPROVED. Never an agent, nor the report's submitter.

        ``signature``: the reviewer's, over ``signing.close_message`` of this closure.
        ``dry_run`` makes the checks (the note's only if one is given; never the signature's) and
        returns the condition as it is: a seat shows what is being closed before it asks for the
        note, a confirmation and the key."""
        check_fields(closed_by=(closed_by, MAX_NAME), note=(note, MAX_TEXT))
        if not identity.has_content(closed_by):
            raise InvalidArgument("say who closes the condition (closed_by)")
        who = identity.canonical(closed_by, "the name of who closes the condition")
        if not (dry_run and note is None):
            note = identity.require_content(note, "a note on closing the condition")
        return await self.db._write(who, lambda tx: domain_gates.close_condition(
            self._unit(tx, self._signatures), condition_id, who=who, note=note, signature=signature,
            dry_run=dry_run))

    # -- the swarm ------------------------------------------------------------------------------

    async def swarm_state(self) -> SwarmState:
        """Paused by its flag, or by a verified escalation no verified resume lifted, whichever says so:
        clearing the flag around swarmdeck lifts nothing."""
        row = await self.db._one("SELECT * FROM swarm_state WHERE id = 1")
        guard = await self.db._read(self._signatures.gate_guard())
        return domain_gates.swarm_state(bool(row["paused"]), row["reason"], row["paused_by"], row["paused_at"],
                                        guard.escalation)

    async def resume_swarm(self, *, by: str, note: str | None = None, signature: bytes | None = None,
                           dry_run: bool = False) -> SwarmState:
        """A reviewer lifts an escalation, saying why (``note``): claims are accepted again, escalated
        gates go back to review, and each of them records who resumed it, when and why.

        ``signature``: the reviewer's, over ``signing.resume_message`` with the escalation this lifts
        (``SwarmState.escalation_id``), so it can never lift a later one. ``dry_run`` makes the
        checks (the reason's only if one is given; never the signature's) and changes nothing."""
        check_fields(by=(by, MAX_NAME), note=(note, MAX_TEXT))
        if not identity.has_content(by):
            raise InvalidArgument("say who resumes the swarm (by)")
        who = identity.canonical(by, "the name of who resumes the swarm")
        reason = note
        if not (dry_run and note is None):
            reason = identity.require_content(note, "the reason for resuming")
        await self.db._write(who, lambda tx: domain_gates.resume(
            self._unit(tx, self._signatures), who=who, reason=reason, signature=signature, dry_run=dry_run))
        return await self.swarm_state()

    # -- what the gate screen shows --------------------------------------------------------------

    async def gate_status(self, milestone: int | str) -> GateStatus:
        """The gate as every seat shows it: each decision, closure and resume verified or flagged, and
        approvals counting verified ones only."""
        ms = await self.get_milestone(milestone)
        report = await self.db._read(self._report_reads(ms.id, None))
        keys = await self.db._read(self._signatures.reviewer_keys())
        q = self._q
        rows = await self.db._all(q(f"{DECISION_SELECT} WHERE g.milestone_id = ? ORDER BY g.id"), (ms.id,))
        verdicts = await self.db._read(self._signatures.verified_decisions(rows, keys))
        decisions = tuple(decision_from_row(r, ok) for r, ok in zip(rows, verdicts))
        conditions = tuple(
            condition_from_row(r, self._signatures.closure_verified(r, keys))
            for r in await self.db._all(q("SELECT * FROM gate_conditions WHERE milestone_id = ? ORDER BY id"), (ms.id,))
        )
        resumptions = tuple(
            resumption_from_row(r, self._signatures.resumption_verified(r, keys))
            for r in await self.db._all(q("SELECT * FROM gate_resumptions WHERE milestone_id = ? ORDER BY id"), (ms.id,))
        )
        approvals = tuple(sorted({
            identity.key(d.reviewer) or d.reviewer for d in decisions
            if d.verified and report and d.report_id == report.id
            and d.decision in (Decision.APPROVE, Decision.CONDITIONAL)
        }))
        guard = await self.db._read(self._signatures.gate_guard())
        near = plans.neighbours(ms, [milestone_from_row(r) for r in await self.db._all(
            "SELECT * FROM milestones ORDER BY position")])
        unblocks = next_tasks = 0
        for nxt in near.opens:
            unblocks += (await self.db._one(q(
                """SELECT count(*) FROM tasks t WHERE t.milestone_id = ? AND t.status = 'blocked'
                   AND NOT EXISTS (SELECT 1 FROM task_dependencies d JOIN tasks p ON p.id = d.prerequisite_id
                                   WHERE d.task_id = t.id AND p.status != 'completed')"""),
                (nxt.id,),
            ))[0]
            # milestone_progress's count, of the tasks still to do
            next_tasks += sum(n for status, n in await self.db._all(
                q("SELECT status, count(*) FROM tasks WHERE milestone_id = ? GROUP BY status"), (nxt.id,))
                if status not in ("completed", "cancelled"))
        return GateStatus(ms, report, decisions, conditions, approvals, unblocks, plans.names(near.opens),
                          resumptions,
                          verified_passed=ms.id in guard.passed, claims_open=ms.id not in guard.locked,
                          next_tasks=next_tasks, following=plans.names(near.following),
                          waits_for=tuple(m.name for m in near.waits_for),
                          evidence=tuple(evidence_from_row(r) for r in await self.db._all(
                              q("SELECT * FROM criterion_evidence WHERE milestone_id = ? ORDER BY id"),
                              (ms.id,))))

    async def milestone_progress(self) -> dict[int, dict[str, int]]:
        """Task counts per status for every milestone (one index range per milestone)."""
        progress: dict[int, dict[str, int]] = {}
        for ms in await self.db._all("SELECT id FROM milestones ORDER BY position"):
            rows = await self.db._all(
                self._q("SELECT status, count(*) FROM tasks WHERE milestone_id = ? GROUP BY status"), (ms[0],)
            )
            progress[ms[0]] = {r[0]: r[1] for r in rows}
        return progress

    async def gates_awaiting_review(self) -> int:
        return (await self.db._one("SELECT count(*) FROM milestones WHERE status = 'review'"))[0]

    async def latest_decision(self, milestone: int | str, *, after_id: int = 0) -> GateDecision | None:
        """The newest decision on the milestone with id greater than ``after_id`` (verified or not: see
        its ``verified``)."""
        ms = await self.get_milestone(milestone)
        row = await self.db._one(
            self._q(f"{DECISION_SELECT} WHERE g.milestone_id = ? AND g.id > ? ORDER BY g.id DESC LIMIT 1"),
            (ms.id, after_id),
        )
        if row is None:
            return None
        [ok] = await self.db._read(self._signatures.verified_decisions([row]))
        return decision_from_row(row, ok)

