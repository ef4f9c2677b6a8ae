"""Decisions a person signed: every decision, resume and condition closure carries its reviewer's
signature, every read verifies it, and only verified acts open a milestone or lift an escalation, so
a row written around swarmdeck (raw SQL on a file every agent can write) is flagged and opens nothing."""

from __future__ import annotations

import re

import pytest

from swarmdeck.app.cli._base import message as cli_message
from swarmdeck.store import MilestoneStatus, open_store, signing
from swarmdeck.store.errors import InvalidArgument, InvalidTransition, NotFound, PermissionDenied, SwarmPaused

from signing_support import close, decide, key, resume, signer
from store_support import (
    INTEGRITY_ERRORS,
    claim,
    drop_trigger,
    raw,
    row_counts,
    state,
    submit,
)

STORE_BACKENDS = ("sqlite", "postgres")


@pytest.fixture
async def two_gates(gated):
    """M1 in review (its report by the agent bot), M2 locked with one task (a1 may claim it), M3 locked."""
    store = gated
    await store.add_milestone("M3")
    await store.enqueue_task(description="M2 work", milestone="M2")
    await submit(store, "M1")
    return store


def forge_decision(where, *, milestone=1, decision="APPROVE", reviewer="alice", signature=b"\x00" * 64,
                   report_id=None, report_hash=None, rationale="looks good to me") -> int:
    """An agent writes a decision straight into the database, with whatever columns it likes."""
    with raw(where) as conn:
        report = conn.execute("SELECT id, content_hash FROM validation_reports WHERE milestone_id = ? "
                              "ORDER BY version DESC LIMIT 1", (milestone,)).fetchone()
        cur = conn.execute(
            "INSERT INTO gate_decisions (milestone_id, report_id, report_hash, decision, rationale, reviewer, "
            "decided_at, signature) VALUES (?, ?, ?, ?, ?, ?, 0, ?) RETURNING id",
            (milestone, report_id or report[0], report_hash or report[1], decision, rationale, reviewer, signature))
        return cur.fetchone()[0]


def force_open(where) -> None:
    """And then makes the status columns say what a real approval would have made them say."""
    with raw(where) as conn:
        conn.execute("UPDATE milestones SET status = 'approved' WHERE name = 'M1'")
        conn.execute("UPDATE milestones SET status = 'open' WHERE name IN ('M2', 'M3')")
        conn.execute("UPDATE tasks SET status = 'ready' WHERE milestone_id IN (2, 3)")


# -- a forged approval -------------------------------------------------------------------------------


class TestForgedApproval:
    async def test_is_flagged_and_opens_nothing(self, two_gates, where):
        store = two_gates
        forged = forge_decision(where)
        force_open(where)
        gate = await store.gate_status("M1")
        [decision] = gate.decisions
        assert decision.id == forged and not decision.verified
        assert decision.warning == "UNVERIFIED: not signed by alice's key — written around swarmdeck?"
        assert gate.approvals == () and not gate.verified_passed
        assert not (await store.gate_status("M2")).claims_open
        # The status columns say M2 is open and its task ready; no agent gets it, in this process or another.
        assert (await store.get_milestone("M2")).status is MilestoneStatus.OPEN
        assert await store.claim_task(agent="a1") is None
        other = await open_store(where)
        try:
            assert await other.claim_task(agent="a2") is None
        finally:
            await other.close()
        # A task of the milestone the gate did open (M1) is still handed out past the ready M2 task.
        m1 = await store.enqueue_task(description="M1 work", milestone="M1", base_priority=0)
        await claim(store, "a1", m1.id)

    async def test_a_real_signature_copied_onto_another_act_is_flagged(self, two_gates, where):
        """Bob's signed REVISE of v1, replayed as an APPROVE, or onto version 2 of the report."""
        store = two_gates
        revised = await decide(store, "M1", decision="REVISE", rationale="docs missing", reviewer="bob")
        assert revised.verified
        await submit(store, "M1", summary="v2")
        with raw(where) as conn:
            sig = conn.execute("SELECT signature FROM gate_decisions WHERE id = ?", (revised.id,)).fetchone()[0]
            v1 = conn.execute("SELECT id, content_hash FROM validation_reports WHERE version = 1").fetchone()
        forge_decision(where, decision="APPROVE", reviewer="bob", signature=sig, rationale="docs missing",
                       report_id=v1[0], report_hash=v1[1])
        forge_decision(where, decision="REVISE", reviewer="bob", signature=sig, rationale="docs missing")
        # The same act, pointed at version 2 while it names version 1's hash.
        with raw(where) as conn:
            v2 = conn.execute("SELECT id FROM validation_reports WHERE version = 2").fetchone()[0]
        forge_decision(where, decision="REVISE", reviewer="bob", signature=sig, rationale="docs missing",
                       report_id=v2, report_hash=v1[1])
        gate = await store.gate_status("M1")
        assert [d.verified for d in gate.decisions] == [True, False, False, False]
        force_open(where)
        assert not (await store.gate_status("M2")).claims_open
        assert await store.claim_task(agent="a1") is None

    async def test_a_forged_approval_neither_counts_nor_stands_in_a_reviewers_way(self, store, where):
        """On a 2-of-2 gate, alice's forged approval is no approval, and alice can still approve."""
        from store_support import people

        await store.register_agent("a1", agent_type="coder")
        await people(store)
        await store.add_milestone("M1", required_approvals=2)
        await store.add_milestone("M2")
        await submit(store, "M1")
        forge_decision(where, reviewer="alice")
        first = await decide(store, "M1", decision="APPROVE", rationale="fine", reviewer="bob")
        assert first.verified and (await store.get_milestone("M1")).status is MilestoneStatus.REVIEW
        assert (await store.gate_status("M1")).approvals == ("bob",)
        await decide(store, "M1", decision="APPROVE", rationale="agreed", reviewer="alice")
        gate = await store.gate_status("M1")
        assert gate.approvals == ("alice", "bob") and gate.verified_passed
        assert gate.milestone.status is MilestoneStatus.APPROVED

    async def test_real_approvals_open_the_next_milestone_to_claims(self, two_gates, where):
        store = two_gates
        assert not (await store.gate_status("M2")).claims_open
        assert await store.claim_task(agent="a1") is None  # M2 is locked
        decided = await decide(store, "M1", decision="APPROVE", rationale="all met", reviewer="alice")
        assert decided.verified and decided.signature is not None
        gate = await store.gate_status("M1")
        assert gate.approvals == ("alice",) and gate.verified_passed and gate.decisions[0].warning is None
        assert (await store.gate_status("M2")).claims_open and not (await store.gate_status("M3")).claims_open
        await claim(store, "a1", 1)

    async def test_a_decision_rewritten_in_place_is_checked_again(self, two_gates, where):
        """Verdicts are remembered with what they covered: a row changed under the cache is not trusted."""
        store = two_gates
        await decide(store, "M1", decision="REVISE", rationale="docs missing", reviewer="alice")
        assert (await store.gate_status("M1")).decisions[0].verified
        with raw(where) as conn:
            conn.execute(drop_trigger(where, "gate_decisions_no_update", "gate_decisions"))
            conn.execute("UPDATE gate_decisions SET rationale = 'ship it'")
        assert not (await store.gate_status("M1")).decisions[0].verified

    async def test_a_gate_passed_without_verified_approvals_is_decided_again(self, two_gates, where):
        """Decided before decisions were signed (or its status forged): a reviewer decides it again,
        signed, and only then does it open the next milestone."""
        store = two_gates
        forge_decision(where, signature=None)  # as an older swarmdeck recorded it: no signature at all
        force_open(where)
        assert not (await store.gate_status("M2")).claims_open
        assert await store.claim_task(agent="a1") is None
        again = await decide(store, "M1", decision="APPROVE", rationale="re-signed", reviewer="alice")
        assert again.verified and (await store.gate_status("M1")).verified_passed
        assert (await store.get_milestone("M1")).status is MilestoneStatus.APPROVED
        assert (await store.gate_status("M2")).claims_open
        await claim(store, "a1", 1)
        with pytest.raises(InvalidTransition, match="only a milestone in review can be decided"):
            await decide(store, "M1", decision="APPROVE", rationale="once more", reviewer="bob")

    async def test_another_process_sees_a_real_approval_at_once(self, two_gates, where):
        """The claim path caches what verified decisions allow; a decision elsewhere renews it."""
        store = two_gates
        assert not (await store.gate_status("M2")).claims_open
        assert await store.claim_task(agent="a1") is None
        other = await open_store(where)
        try:
            await decide(other, "M1", decision="APPROVE", rationale="all met", reviewer="alice")
        finally:
            await other.close()
        assert (await store.gate_status("M2")).claims_open
        await claim(store, "a1", 1)


# -- a forged resume -----------------------------------------------------------------------------------


class TestForgedResume:
    async def escalated(self, store):
        await store.enqueue_task(description="M1 work", milestone="M1")
        return await decide(store, "M1", decision="ESCALATE", rationale="security review", reviewer="alice")

    async def test_clearing_the_pause_flag_lifts_nothing(self, two_gates, where):
        store = two_gates
        escalation = await self.escalated(store)
        with raw(where) as conn:
            conn.execute("UPDATE swarm_state SET paused = 0, reason = NULL")
            conn.execute("UPDATE milestones SET status = 'review' WHERE name = 'M1'")
        swarm = await store.swarm_state()
        assert swarm.paused and swarm.escalation_id == escalation.id
        assert "no signed resume has lifted it" in swarm.reason
        with pytest.raises(SwarmPaused, match="escalated by alice: security review"):
            await store.claim_task(agent="a1")
        assert (await store.queue_status()).paused

    async def test_a_forged_resumption_lifts_nothing(self, two_gates, where):
        store = two_gates
        escalation = await self.escalated(store)
        with raw(where) as conn:
            conn.execute("INSERT INTO gate_resumptions (milestone_id, decision_id, resumed_by, reason, resumed_at, "
                         "escalation_id, signature) VALUES (1, ?, 'bob', 'all clear', 0, ?, ?)",
                         (escalation.id, escalation.id, b"\x01" * 64))
            conn.execute("UPDATE swarm_state SET paused = 0")
        swarm = await store.swarm_state()
        assert swarm.paused and swarm.escalation_id == escalation.id
        with pytest.raises(SwarmPaused):
            await store.claim_task(agent="a1")
        [resumption] = (await store.gate_status("M1")).resumptions
        assert not resumption.verified and "not signed by bob's key" in resumption.warning

    async def test_a_real_resume_cannot_be_replayed_on_a_later_escalation(self, two_gates, where):
        store = two_gates
        await self.escalated(store)
        lifted = await resume(store, by="bob", note="host booked")
        assert not lifted.paused
        [first] = (await store.gate_status("M1")).resumptions
        assert first.verified
        await claim(store, "a1", 2)
        second = await decide(store, "M1", decision="ESCALATE", rationale="again", reviewer="carol")
        with raw(where) as conn:  # bob's signature, on a row for the new escalation
            conn.execute("INSERT INTO gate_resumptions (milestone_id, decision_id, resumed_by, reason, resumed_at, "
                         "escalation_id, signature) VALUES (1, ?, 'bob', 'host booked', 0, ?, ?)",
                         (second.id, second.id, first.signature))
            conn.execute("UPDATE swarm_state SET paused = 0")
        swarm = await store.swarm_state()
        assert swarm.paused and swarm.escalation_id == second.id and "again" in swarm.reason
        with pytest.raises(SwarmPaused, match="again"):
            await store.claim_task(agent="a2")
        # Signed over the escalation it lifts, the real resume refuses a signature for the earlier one.
        stale = signer("bob").sign(signing.resume_message(escalation_id=first.escalation_id, note="x", reviewer="bob"))
        with pytest.raises(PermissionDenied, match="the signature is not bob's"):
            await store.resume_swarm(by="bob", note="x", signature=stale)
        await resume(store, by="bob", note="fixed for good")
        assert not (await store.swarm_state()).paused

    async def test_a_forged_escalation_pauses_nothing_a_flag_would_not(self, two_gates, where):
        store = two_gates
        forge_decision(where, decision="ESCALATE", reviewer="alice")
        assert not (await store.swarm_state()).paused
        await store.enqueue_task(description="free work")
        await claim(store, "a1", 2)


# -- what the store refuses -------------------------------------------------------------------------


class TestSignaturesTheStoreRefuses:
    async def unchanged(self, store, where, action, match):
        before, counts = await state(store), row_counts(where)
        with pytest.raises(PermissionDenied) as info:  # as the CLI says it: the store's message, its hint
            await action
        assert re.search(match, cli_message(info.value)), cli_message(info.value)
        assert await state(store) == before and row_counts(where) == counts

    async def test_a_signature_for_another_report_or_decision_is_refused(self, two_gates, where):
        store = two_gates
        v1 = (await store.gate_status("M1")).report.content_hash
        await submit(store, "M1", summary="swapped")
        current = (await store.gate_status("M1")).report.content_hash
        approve = dict(decision="APPROVE", rationale="all met", reviewer="alice")

        def sig(report_hash, who="alice", **change):
            fields = dict(milestone_id=1, report_hash=report_hash, conditions=(), **approve)
            fields.update(change)
            return signer(who).sign(signing.decision_message(**fields))

        for signature in (sig(v1),                               # version 1, not the current one
                          sig(current, decision="REVISE"),       # another decision
                          sig(current, rationale="all met!"),    # another rationale
                          sig(current, milestone_id=2),          # another gate
                          sig(current, who="bob"),               # another reviewer's key
                          b"\x00" * 64, b"short"):
            await self.unchanged(store, where, store.decide_gate("M1", signature=signature, **approve),
                                 "the signature is not alice's over this act, so cannot decide a gate")
        await self.unchanged(store, where, store.decide_gate("M1", **approve),
                             "to decide a gate, alice signs it with their key")
        ok = await store.decide_gate("M1", signature=sig(current), **approve)
        assert ok.verified and ok.report_version == 2

    async def test_closures_and_resumes_are_signed_too(self, two_gates, where):
        store = two_gates
        await decide(store, "M1", decision="CONDITIONAL", rationale="ok", reviewer="alice", conditions=["docs"])
        [condition] = (await store.gate_status("M1")).conditions
        assert condition.warning is None and not condition.verified  # open: nothing to verify yet
        wrong = signer("bob").sign(signing.close_message(condition_id=condition.id, note="other", reviewer="bob"))
        await self.unchanged(store, where, store.close_condition(condition.id, closed_by="bob", note="done",
                                                                   signature=wrong),
                             "the signature is not bob's over this act, so cannot close a condition")
        await self.unchanged(store, where, store.close_condition(condition.id, closed_by="bob", note="done"),
                             "to close a condition, bob signs it")
        closed = await close(store, condition.id, closed_by="bob", note="done")
        assert closed.verified and (await store.gate_status("M1")).conditions[0].verified
        with raw(where) as conn, pytest.raises(INTEGRITY_ERRORS, match="closed condition cannot be changed"):
            conn.execute("UPDATE gate_conditions SET closed_by = 'carol'")

        await submit(store, "M2")  # CONDITIONAL opened M2
        escalation = await decide(store, "M2", decision="ESCALATE", rationale="stop", reviewer="alice")
        await self.unchanged(store, where, store.resume_swarm(by="bob", note="go"),
                             "to resume the swarm, bob signs it")
        assert (await store.swarm_state()).escalation_id == escalation.id
        await resume(store, by="bob", note="go")
        assert (await store.gate_status("M2")).resumptions[0].verified

    async def test_a_reviewer_without_a_key_is_told_how_to_get_one(self, two_gates, where):
        store = two_gates
        await store.add_reviewer("dave", by="alice")
        for action, act in ((decide(store, "M1", decision="APPROVE", rationale="ok", reviewer="dave"), "decide a gate"),
                            (store.check_reviewer("dave", act="resume the swarm"), "resume the swarm")):
            await self.unchanged(store, where, action,
                                 f"dave has no signing key yet, so cannot {act}.*"
                                 "dave makes one at their own terminal with `swarmdeck reviewer key dave`")
        # A dry run (a seat asking before it unlocks the key) is refused the same way.
        await self.unchanged(store, where, store.decide_gate("M1", decision="APPROVE", rationale="ok",
                                                               reviewer="dave", dry_run=True), "no signing key")


# -- reviewers' keys ----------------------------------------------------------------------------------


class TestReviewerKeys:
    async def test_a_key_is_registered_once_and_never_changes(self, gated, where):
        store = gated
        dave = await store.add_reviewer("Dave", by="alice")
        assert dave.public_key is None
        done = await store.set_reviewer_key("dave", public_key=key("dave"))
        assert done.public_key == key("dave")
        assert await store.set_reviewer_key("DAVE", public_key=key("dave")) == done  # the same key: nothing to do
        with pytest.raises(PermissionDenied, match="dave already has a signing key .*never changes"):
            await store.set_reviewer_key("dave", public_key=key("erin"))
        with pytest.raises(InvalidArgument, match="32 raw bytes"):
            await store.set_reviewer_key("alice", public_key=b"short")
        with pytest.raises(NotFound, match="'zed' is not a registered reviewer"):
            await store.set_reviewer_key("zed", public_key=key("zed"))
        events = [(e.kind, e.payload["key"]) for e in await store.events(entity="reviewer", entity_id="dave")]
        assert events == [("reviewer.key", signing.fingerprint(key("dave"))), ("reviewer.added", None)]
        # Registered again after removal, a reviewer keeps their key, and cannot bring another.
        await store.remove_reviewer("dave", by="alice")
        with pytest.raises(PermissionDenied, match="registered with another signing key"):
            await store.add_reviewer("dave", by="alice", public_key=key("erin"))
        assert (await store.add_reviewer("dave", by="alice")).public_key == key("dave")

    async def test_what_signatures_rest_on_is_fixed(self, gated, where):
        with raw(where) as conn:
            with pytest.raises(INTEGRITY_ERRORS, match="approvals its gate needs are fixed"):
                conn.execute("UPDATE milestones SET required_approvals = 5 WHERE name = 'M1'")
            with pytest.raises(INTEGRITY_ERRORS, match="fixed"):
                conn.execute("UPDATE milestones SET position = 9 WHERE name = 'M2'")
