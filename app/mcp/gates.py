"""Milestone and gate tools: list milestones, submit a validation report, read a gate. Deciding is
not a tool: only a human decides a gate."""

from __future__ import annotations

from typing import Any

from swarmdeck.app.output import jsonable
from swarmdeck.store import rules
from swarmdeck.store.inputs import ReportInput

from .params import AgentName, MilestoneRef, field_of
from .server import READ, WRITE, Tools


def report(name: str) -> Any:
    """A ReportInput field as gate_submit_report's parameter: its entries are the store's models."""
    return field_of(ReportInput, name)


def register(t: Tools) -> None:
    store, tool = t.store, t.tool

    @tool(READ)
    async def milestone_list() -> dict[str, Any]:
        """Every milestone in order with its gate state (locked, open, review, approved, conditional,
        escalated), budget, hours spent and task counts per status; project_complete is true once every
        milestone's gate has passed (the project is done: no more work will open)."""
        progress = await store.milestone_progress()
        milestones = [{**jsonable(m), "task_counts": progress.get(m.id, {})}
                      for m in await store.list_milestones()]
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
    ) -> dict[str, Any]:
        """Submit a new version of a milestone's validation report; its gate goes to review.

        A human (never the submitter) then decides APPROVE, CONDITIONAL, REVISE or ESCALATE; poll
        gate_status for the decision. Returns the report with its version and content_hash.
        """
        report = await store.submit_report(
            milestone, submitted_by=submitted_by, summary=summary, criteria=criteria, metrics=metrics,
            issues=issues, recommendations=recommendations, proposed_decision=proposed_decision,
        )
        return jsonable(report)

    @tool(READ)
    async def gate_status(milestone: MilestoneRef) -> dict[str, Any]:
        """A milestone's gate: its status, the latest report, every decision (append-only), open
        conditions, approvals so far, and how many tasks approving it would unblock.
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
