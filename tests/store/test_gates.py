"""Milestones and their gates in the store, on both backends: reports, decisions, conditions, escalation."""

from __future__ import annotations

import pytest

from swarmdeck.app.cli._base import message as cli_message
from swarmdeck.store import Decision, MilestoneStatus, TaskStatus
from swarmdeck.store.errors import (
    Conflict,
    InvalidArgument,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    SwarmPaused,
)
from swarmdeck.store.models import ConditionStatus

from store_support import DATABASE_ERRORS, claim, people, raw, row_counts, state, submit
from signing_support import close, decide, resume

STORE_BACKENDS = ("sqlite", "postgres")


# -- milestones and gates ------------------------------------------------------------------------


class TestMilestones:
    async def test_first_opens_later_ones_locked(self, gated):
        store = gated
        assert [(m.name, m.position, m.status) for m in await store.list_milestones()] == [
            ("M1", 1, MilestoneStatus.OPEN), ("M2", 2, MilestoneStatus.LOCKED),
        ]
        m3 = await store.add_milestone("M3", deliverables=["api"], acceptance_criteria=["p95 < 100 ms"])
        assert m3.status is MilestoneStatus.LOCKED
        assert (m3.deliverables, m3.acceptance_criteria) == (("api",), ("p95 < 100 ms",))
        assert (await store.get_milestone("M3")) == m3 == (await store.get_milestone(m3.id))
        with pytest.raises(InvalidArgument, match="'M1' already exists"):
            await store.add_milestone("M1")
        with pytest.raises(InvalidArgument, match="required_approvals"):
            await store.add_milestone("M4", required_approvals=0)
        with pytest.raises(NotFound, match="milestone 'M9' does not exist"):
            await store.get_milestone("M9")

    async def test_a_milestone_added_after_every_gate_passed_opens(self, gated):
        store = gated
        await submit(store, "M1")
        await decide(store, "M1", decision="APPROVE", rationale="ok", reviewer="alice")
        await submit(store, "M2")
        await decide(store, "M2", decision="APPROVE", rationale="ok", reviewer="alice")
        assert (await store.add_milestone("M3")).status is MilestoneStatus.OPEN

    async def test_locked_milestone_tasks_wait_for_the_gate(self, gated):
        store = gated
        prep = await store.enqueue_task(description="prep", milestone="M1")
        assert prep.status is TaskStatus.READY and prep.milestone_id == (await store.get_milestone("M1")).id
        x = await store.enqueue_task(description="x", milestone="M2")
        y = await store.enqueue_task(description="y", milestone="M2")
        z = await store.enqueue_task(description="z", milestone="M2", prerequisites=[prep.id])
        assert x.status is TaskStatus.BLOCKED
        assert x.blocked_reason == "milestone 'M2' is not open yet: it opens when the gate before it passes"
        assert z.blocked_reason == (
            f"waiting for task {prep.id} (ready); milestone 'M2' is not open yet: it opens when the gate before it passes"
        )
        # Only M1's task can be claimed.
        await claim(store, "a1", prep.id)
        assert await store.claim_task(agent="a2") is None

        await submit(store, "M1")
        gate = await store.gate_status("M1")
        assert (gate.unblocks, gate.next_milestone) == (2, "M2")  # z still waits on prep
        await decide(store, "M1", decision="APPROVE", rationale="solid", reviewer="alice")
        assert (await store.get_milestone("M1")).status is MilestoneStatus.APPROVED
        assert (await store.get_milestone("M2")).status is MilestoneStatus.OPEN
        assert [t.status for t in await store.tasks_by_ids([x.id, y.id, z.id])] == [
            TaskStatus.READY, TaskStatus.READY, TaskStatus.BLOCKED,
        ]
        await store.complete_task(prep.id, agent="a1")
        assert (await store.get_task(z.id)).status is TaskStatus.READY

    async def test_hours_spent(self, gated, clock):
        store = gated
        t = await store.enqueue_task(description="t", milestone="M1")
        await claim(store, "a1", t.id)
        clock.advance(1800)
        await store.complete_task(t.id, agent="a1")
        assert (await store.get_milestone("M1")).hours_spent == pytest.approx(0.5)


class TestGates:
    async def test_progress_counts_each_milestones_tasks_by_status(self, gated, where):
        store = gated
        assert await store.milestone_progress() == {1: {}, 2: {}}
        with raw(where) as conn:  # tasks written directly: the count is the gates' read, on every backend
            for status, milestone in (("ready", 1), ("ready", 1), ("completed", 1), ("blocked", 2)):
                conn.execute("INSERT INTO tasks (description, source, status, milestone_id, created_at, "
                             "updated_at) VALUES ('t', 'human', ?, ?, 0, 0)", (status, milestone))
        assert await store.milestone_progress() == {1: {"ready": 2, "completed": 1}, 2: {"blocked": 1}}

    async def test_report_round_trip(self, gated):
        store = gated
        assert await store.get_report("M1") is None
        report = await submit(store, "M1")
        assert (report.version, report.submitted_by, report.summary) == (1, "bot", "all green")
        assert report.criteria[0].evidence == "CI run 12" and report.metrics[0].met
        assert report.proposed_decision is Decision.APPROVE
        assert await store.get_report("M1") == report == await store.get_report("M1", version=1)
        assert (await store.get_milestone("M1")).status is MilestoneStatus.REVIEW
        assert await store.gates_awaiting_review() == 1
        with pytest.raises(InvalidTransition, match="'M2' is locked; reports can be submitted only"):
            await submit(store, "M2")
        with pytest.raises(NotFound):
            await store.get_report("M1", version=7)

    async def test_a_decision_needs_a_report(self, gated):
        with pytest.raises(InvalidTransition, match="milestone 'M1' has no validation report to decide"):
            await gated.decide_gate("M1", decision="APPROVE", rationale="ok", reviewer="alice")

    async def test_the_submitter_cannot_decide(self, gated, where):
        store = gated
        await submit(store, "M1", by="bot")
        before, counts = await state(store), row_counts(where)
        with pytest.raises(PermissionDenied, match="bot submitted this report and cannot decide it"):
            await decide(store, "M1", decision="APPROVE", rationale="looks good to me", reviewer="bot")
        assert await state(store) == before and row_counts(where) == counts
        assert (await store.get_milestone("M1")).status is MilestoneStatus.REVIEW

    @pytest.mark.parametrize("rationale", ["", "   "])
    async def test_a_rationale_is_required(self, gated, where, rationale):
        store = gated
        await submit(store, "M1")
        counts = row_counts(where)
        with pytest.raises(InvalidArgument, match="a rationale is required"):
            await decide(store, "M1", decision="APPROVE", rationale=rationale, reviewer="alice")
        assert row_counts(where) == counts

    async def test_approve_records_who_what_when_and_which_version(self, gated, clock):
        store = gated
        report = await submit(store, "M1")
        clock.advance(60)
        decision = await decide(store, "M1", decision="approve", rationale="  solid  ", reviewer="alice",
                                           report_hash=report.content_hash)
        assert decision.decision is Decision.APPROVE
        assert (decision.reviewer, decision.rationale) == ("alice", "solid")
        assert (decision.report_id, decision.report_version, decision.report_hash) == (
            report.id, 1, report.content_hash,
        )
        assert decision.decided_at.timestamp() == clock.now
        assert await store.latest_decision("M1") == decision
        assert await store.latest_decision("M1", after_id=decision.id) is None
        gate = await store.gate_status("M1")
        assert gate.decisions == (decision,) and gate.approvals == ("alice",)

    async def test_conditional_until_the_last_condition_closes(self, gated):
        store = gated
        await submit(store, "M1")
        with pytest.raises(InvalidArgument, match="CONDITIONAL decision needs at least one condition"):
            await decide(store, "M1", decision="CONDITIONAL", rationale="mostly", reviewer="alice")
        await decide(store, "M1", decision="CONDITIONAL", rationale="mostly", reviewer="alice",
                                conditions=["add docs", "fix flake", "  "])
        assert (await store.get_milestone("M1")).status is MilestoneStatus.CONDITIONAL
        assert (await store.get_milestone("M2")).status is MilestoneStatus.OPEN  # it proceeds
        first, second = (await store.gate_status("M1")).conditions
        assert (first.text, second.text) == ("add docs", "fix flake")
        assert first.status is ConditionStatus.OPEN

        closed = await close(store, first.id, closed_by="carol", note="docs merged")
        assert (closed.status, closed.closed_by, closed.note) == (
            ConditionStatus.CLOSED, "carol", "docs merged",
        )
        assert (await store.get_milestone("M1")).status is MilestoneStatus.CONDITIONAL
        with pytest.raises(InvalidTransition, match=f"condition {first.id} is already closed"):
            await close(store, first.id, closed_by="carol", note="again")
        await close(store, second.id, closed_by="carol", note="flake fixed")
        assert (await store.get_milestone("M1")).status is MilestoneStatus.APPROVED
        with pytest.raises(NotFound):
            await close(store, 999, closed_by="carol", note="none")

    async def test_revise_returns_the_milestone_to_work(self, gated):
        store = gated
        v1 = await submit(store, "M1")
        await decide(store, "M1", decision="REVISE", rationale="coverage too low", reviewer="alice")
        assert (await store.get_milestone("M1")).status is MilestoneStatus.OPEN
        assert (await store.get_milestone("M2")).status is MilestoneStatus.LOCKED
        with pytest.raises(InvalidTransition, match="'M1' is open; only a milestone in review"):
            await decide(store, "M1", decision="APPROVE", rationale="ok", reviewer="alice")
        v2 = await submit(store, "M1", summary="coverage fixed")
        assert v2.version == 2 and v2.content_hash != v1.content_hash
        assert (await store.get_milestone("M1")).status is MilestoneStatus.REVIEW
        assert await store.get_report("M1", version=1) == v1
        decision = await decide(store, "M1", decision="APPROVE", rationale="better", reviewer="alice")
        assert decision.report_version == 2
        assert (await store.get_milestone("M2")).status is MilestoneStatus.OPEN

    async def test_escalate_pauses_the_swarm_until_resumed(self, gated):
        store = gated
        t = await store.enqueue_task(description="t", milestone="M1")
        await submit(store, "M1")
        await decide(store, "M1", decision="ESCALATE", rationale="security review needed",
                                reviewer="alice")
        assert (await store.get_milestone("M1")).status is MilestoneStatus.ESCALATED
        swarm = await store.swarm_state()
        assert swarm.paused and swarm.paused_by == "alice"
        assert swarm.reason == "milestone 'M1' was escalated by alice: security review needed"

        assert (await store.queue_status()).paused
        before = await state(store)
        with pytest.raises(SwarmPaused) as info:
            await store.claim_task(agent="a1")
        assert str(info.value) == ("the swarm is paused (milestone 'M1' was escalated by alice: "
                                   "security review needed)")
        assert info.value.reason == "milestone 'M1' was escalated by alice: security review needed"
        assert cli_message(info.value) == (
            "the swarm is paused (milestone 'M1' was escalated by alice: security review needed); "
            "claims resume when a human runs `swarmdeck gate resume`"
        )
        assert await state(store) == before

        with pytest.raises(InvalidArgument, match="say who resumes"):
            await resume(store, by=" ")
        resumed = await resume(store, by="lead", note="reviewed")
        assert not resumed.paused and resumed.reason is None
        assert (await store.get_milestone("M1")).status is MilestoneStatus.REVIEW
        [resumption] = (await store.gate_status("M1")).resumptions
        assert resumption.verified and resumption.resumed_by == "lead"
        await claim(store, "a1", t.id)
        with pytest.raises(InvalidTransition, match="the swarm is not paused"):
            await resume(store, by="lead", note="again")
        await decide(store, "M1", decision="APPROVE", rationale="cleared", reviewer="alice")
        assert (await store.get_milestone("M2")).status is MilestoneStatus.OPEN

    async def test_two_approvals_from_two_reviewers(self, agents):
        store = agents
        await people(store)
        await store.add_milestone("M1", required_approvals=2)
        await store.add_milestone("M2")
        await submit(store, "M1")
        await decide(store, "M1", decision="APPROVE", rationale="good", reviewer="alice")
        gate = await store.gate_status("M1")
        assert gate.milestone.status is MilestoneStatus.REVIEW and gate.approvals == ("alice",)
        assert (await store.get_milestone("M2")).status is MilestoneStatus.LOCKED

        mark = await store.latest_event_id()
        with pytest.raises(PermissionDenied, match="alice has already approved this report version"):
            await decide(store, "M1", decision="APPROVE", rationale="really good", reviewer="alice")
        assert await store.latest_event_id() == mark

        await decide(store, "M1", decision="APPROVE", rationale="agreed", reviewer="bob")
        gate = await store.gate_status("M1")
        assert gate.milestone.status is MilestoneStatus.APPROVED and gate.approvals == ("alice", "bob")
        assert (await store.get_milestone("M2")).status is MilestoneStatus.OPEN

    async def test_a_stale_report_hash_is_a_conflict(self, gated, where):
        store = gated
        v1 = await submit(store, "M1")
        v2 = await submit(store, "M1", summary="one more fix")
        counts = row_counts(where)
        with pytest.raises(Conflict, match=r"milestone 'M1' changed since it was read \(now version 2\)"):
            await decide(store, "M1", decision="APPROVE", rationale="ok", reviewer="alice",
                                    report_hash=v1.content_hash)
        assert row_counts(where) == counts
        decision = await decide(store, "M1", decision="APPROVE", rationale="ok", reviewer="alice",
                                           report_hash=v2.content_hash)
        assert decision.report_hash == v2.content_hash

    async def test_decisions_are_append_only_in_the_database(self, gated, where):
        store = gated
        await submit(store, "M1")
        decision = await decide(store, "M1", decision="APPROVE", rationale="ok", reviewer="alice")
        with raw(where) as conn:
            with pytest.raises(DATABASE_ERRORS, match="append-only: they cannot be changed"):
                conn.execute("UPDATE gate_decisions SET decision = 'REVISE' WHERE id = ?", (decision.id,))
            with pytest.raises(DATABASE_ERRORS, match="append-only: they cannot be deleted"):
                conn.execute("DELETE FROM gate_decisions WHERE id = ?", (decision.id,))
            row = conn.execute(
                "SELECT decision, reviewer FROM gate_decisions WHERE id = ?", (decision.id,)
            ).fetchone()
            assert tuple(row) == ("APPROVE", "alice")
        assert await store.latest_decision("M1") == decision

    async def test_bad_decisions_and_reports(self, gated):
        store = gated
        with pytest.raises(InvalidArgument, match="criterion status must be one of"):
            await submit(store, "M1", criteria=[{"name": "x", "status": "done"}])
        assert await store.get_report("M1") is None
        await submit(store, "M1")
        with pytest.raises(InvalidArgument, match="decision must be one of APPROVE"):
            await decide(store, "M1", decision="SHIP", rationale="ok", reviewer="alice")
        with pytest.raises(InvalidArgument, match="only be attached to a CONDITIONAL"):
            await decide(store, "M1", decision="APPROVE", rationale="ok", reviewer="alice",
                                    conditions=["x"])
