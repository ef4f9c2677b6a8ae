"""Milestone and gate tools: list milestones, submit a validation report, read a gate. Deciding is
not a tool: only a human decides a gate."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from swarmdeck.app.output import jsonable
from swarmdeck.store import plans, rules
from swarmdeck.store.inputs import EvidenceInput, ReportInput

from .params import AgentName, MilestoneRef, field_of
from .server import READ, WRITE, Tools


def report(name: str) -> Any:
    """A ReportInput field as gate_submit_report's parameter: its entries are the store's models."""
    return field_of(ReportInput, name)


def evidence(name: str) -> Any:
    """An EvidenceInput field as gate_evidence's parameter."""
    return field_of(EvidenceInput, name)


def register(t: Tools) -> None:
    store, tool = t.store, t.tool

    @tool(READ)
    async def milestone_list() -> dict[str, Any]:
        """Every milestone in order with its gate state (locked, open, review, approved, conditional,
        escalated), budget, hours spent and task counts per status, and its plan: plan_state (active,
        deferred, cut: a cut or deferred milestone's tasks are not handed out), the milestones whose gates
        open it (plan.after), its schedule (start, end, days ahead or behind) and money spent against
        its money budget; project_complete is true once every milestone's gate has passed (the project
        is done: no more work will open)."""
        progress = await store.milestone_progress()
        everything = await store.list_milestones()
        today = datetime.now(timezone.utc).date()
        milestones = [{**jsonable(m), "task_counts": progress.get(m.id, {}),
                       "plan": jsonable(plans.view(m, everything, progress.get(m.id), today))}
                      for m in everything]
        swarm = await store.swarm_state()
        return {"milestones": milestones, "swarm_paused": swarm.paused, "pause_reason": swarm.reason,
                "project_complete": await rules.project_complete(store)}

    @tool(WRITE)
    async def gate_submit_report(
        milestone: MilestoneRef,
        submitted_by: AgentName,
        summary: report("summary") = "",
        criteria: report("criteria") = [],
        metrics: report("metrics") = [],
        issues: report("issues") = [],
        recommendations: report("recommendations") = [],
        proposed_decision: report("proposed_decision") = None,
        next_milestone_context: report("next_milestone_context") = "",
    ) -> dict[str, Any]:
        """Submit a new version of a milestone's validation report; its gate goes to review.

        A human (never the submitter) then decides APPROVE, CONDITIONAL, REVISE or ESCALATE; poll
        gate_status for the decision. Returns the report with its version and content_hash.
        Each criterion is matched to the milestone's acceptance criteria by its text (case, spacing and
        punctuation aside), else by a leading number ("Criterion 2: ..."); gate_status lists any
        acceptance criterion no entry names as not_reported.
        """
        report = await store.submit_report(
            milestone, submitted_by=submitted_by, summary=summary, criteria=criteria, metrics=metrics,
            issues=issues, recommendations=recommendations, proposed_decision=proposed_decision,
            next_milestone_context=next_milestone_context,
        )
        return jsonable(report)

    @tool(WRITE)
    async def gate_evidence(
        milestone: MilestoneRef,
        recorded_by: AgentName,
        criterion: evidence("criterion"),
        command: evidence("command"),
        exit_code: evidence("exit_code"),
        output_sha256: evidence("output_sha256"),
        ran_at: evidence("ran_at") = None,
    ) -> dict[str, Any]:
        """Attach a command you ran as evidence for one of the milestone's acceptance criteria (by number,
        from 1, as milestone_list gives them): its exit code, the SHA-256 of its output and when it ran.
        The output itself is not kept. gate_status shows it under the criterion."""
        added = await store.add_evidence(milestone, criterion=criterion, command=command, exit_code=exit_code,
                                         output_sha256=output_sha256, ran_at=ran_at, recorded_by=recorded_by)
        return jsonable(added)

    @tool(READ)
    async def gate_status(milestone: MilestoneRef) -> dict[str, Any]:
        """A milestone's gate: its status, the latest report, every decision (append-only), open
        conditions, approvals so far, and how many tasks approving it would unblock. criteria lists the
        milestone's acceptance criteria each with what the report says (status: met, not_met, unknown or
        not_reported), its evidence, and the report entries that name none (unmatched).
        awaiting_decision is true while a human has yet to decide. Each decision, resume and closure
        says whether it is verified (signed by its reviewer's key); one that is not carries a warning,
        counts for nothing and opens nothing. latest_decision is the latest verified one. waiting_for
        says what a decision still waits for: "locked" (an earlier gate has not passed), "no_report"
        (none submitted yet), "decision" (a human's), or null once one stands; poll until it is null."""
        s = await store.gate_status(milestone)
        latest = rules.latest_decision(s)
        waits = rules.gate_waits_for(s)
        return {**jsonable(s), "awaiting_decision": s.milestone.status.value == "review",
                "latest_decision": jsonable(latest) if latest else None,
                "waiting_for": waits and waits.value}
