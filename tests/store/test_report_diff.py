"""What a gate says about itself (gates.standing, gates.opening) and what changed between report
versions (report_diff.report_changes): pure rules every seat shows the same way."""

from __future__ import annotations

from swarmdeck.store import Decision, gates
from swarmdeck.store.report_diff import ChangeKind, ReportChange, report_changes

from signing_support import decide
from store_support import submit

STORE_BACKENDS = ("sqlite", "postgres")


async def test_report_changes_lists_what_was_added_removed_and_changed(gated):
    store = gated
    old = await submit(store, "M1")
    await decide(store, "M1", decision="REVISE", rationale="not yet", reviewer="alice")
    new = await submit(store, "M1", summary="greener", criteria=[
        {"name": "tests pass", "status": "met", "evidence": "CI run 13"},
        {"name": "docs", "status": "not_met", "evidence": ""},
    ], metrics=[{"name": "p95 ms", "value": 120, "target": 100, "comparator": "<="}],
        issues=[{"severity": "high", "description": "a typo"}, {"severity": "low", "description": "lint"}],
        recommendations=["ship it", "write docs"], proposed_decision="CONDITIONAL")
    assert (old.version, new.version) == (1, 2)
    C, A, R = ChangeKind.CHANGED, ChangeKind.ADDED, ChangeKind.REMOVED
    assert report_changes(old, new) == [
        ReportChange("summary", C, "summary", "all green", "greener"),
        ReportChange("criterion", C, "tests pass", "met: CI run 12", "met: CI run 13"),
        ReportChange("criterion", A, "docs", after="not_met"),
        ReportChange("metric", C, "p95 ms", "80 (target <= 100, met)", "120 (target <= 100, missed)"),
        ReportChange("issue", C, "a typo", "low", "high"),
        ReportChange("issue", A, "lint", after="low"),
        ReportChange("recommendation", A, "write docs", after=""),
        ReportChange("proposed decision", C, "proposed decision", "APPROVE", "CONDITIONAL"),
    ]
    assert report_changes(new, new) == []
    removed = report_changes(new, old)
    assert ReportChange("criterion", R, "docs", before="not_met") in removed
    assert ReportChange("recommendation", R, "write docs", before="") in removed


async def test_standing_says_what_was_decided_or_what_approving_opens(gated):
    store = gated
    await store.enqueue_task(description="a", agent_type="x", milestone="M2")
    await store.enqueue_task(description="b", agent_type="x", milestone="M2", prerequisites=[
        (await store.enqueue_task(description="c", agent_type="x", milestone="M2")).id])
    m1 = await store.gate_status("M1")
    assert gates.standing(m1) == ("In work: no report awaits a decision yet; approving one opens M2: "
                                  "3 tasks, 2 ready now.")
    assert gates.opening(m1) == "M2 opens: 3 tasks, 2 ready now"
    assert gates.standing(await store.gate_status("M2")) == "Locked: it opens when the gate before it passes."
    await submit(store, "M1")
    assert gates.standing(await store.gate_status("M1")) == "Approving opens M2: 3 tasks, 2 ready now."
    await decide(store, "M1", decision="REVISE", rationale="again", reviewer="alice")
    assert gates.standing(await store.gate_status("M1")) == (
        "Returned for revision by alice on v1: agents revise and submit a new report version.")
    await submit(store, "M1")
    await decide(store, "M1", decision="ESCALATE", rationale="stop", reviewer="bob")
    assert gates.standing(await store.gate_status("M1")) == (
        "Escalated by bob on v2: the swarm is paused until a reviewer resumes it.")


async def test_a_passed_gate_names_who_approved_and_what_opened(gated):
    store = gated
    await submit(store, "M1")
    await decide(store, "M1", decision=Decision.CONDITIONAL, rationale="ok", reviewer="alice",
                 conditions=["fix a", "fix b"])
    gate = await store.gate_status("M1")
    assert gates.standing(gate) == "Approved with conditions by alice: M2 opened; 2 conditions still open."
    await submit(store, "M2")
    await decide(store, "M2", decision="APPROVE", rationale="ok", reviewer="bob")
    last = await store.gate_status("M2")
    assert last.following is None and last.next_milestone is None
    assert gates.standing(last) == "Approved by bob: the last milestone is complete."
    assert gates.opening(last) == "nothing opens: it is the last milestone"
