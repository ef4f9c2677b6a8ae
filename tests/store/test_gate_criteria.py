"""The gate checks what the milestone promised, on both backends: a report's criteria matched to the
milestone's acceptance criteria (store/criteria.py), approving with any not reported or not met only
when the reviewer accepts them by name (recorded and signed), the report's Next Milestone Context, and
commands attached as evidence for a criterion."""

from __future__ import annotations

import hashlib

import pytest

from swarmdeck.store import Decision, MilestoneStatus, gates, signing
from swarmdeck.store.criteria import NOT_REPORTED, named_number, normalise, review
from swarmdeck.store.errors import InvalidArgument, PermissionDenied
from swarmdeck.store.events import EventKind
from swarmdeck.store.models import Criterion, CriterionStatus

from signing_support import decide, signer
from store_support import drop_trigger, people, raw

STORE_BACKENDS = ("sqlite", "postgres")

PROMISED = ["All DDL scripts executed without errors", 'PRAGMA integrity_check returns "ok"',
            "All unit tests pass (90%+ coverage)"]
DIGEST = hashlib.sha256(b"3 passed").hexdigest()


def met(name: str, status: str = "met", evidence: str = "") -> dict:
    return {"name": name, "status": status, "evidence": evidence}


@pytest.fixture
async def promised(agents):
    store = agents
    await people(store)
    await store.add_milestone("M1", acceptance_criteria=PROMISED)
    await store.add_milestone("M2")
    return store


# -- the matching rule (pure) ----------------------------------------------------------------------------


def entry(name: str, status: CriterionStatus = CriterionStatus.MET) -> Criterion:
    return Criterion(name, status)


def test_text_matches_after_normalising_case_spacing_punctuation_and_marks():
    assert normalise("- [x]  PRAGMA integrity_check returns \u201cok\u201d.") == normalise(PROMISED[1])
    assert normalise("all \u200bunit  te\u00adsts pass (90 % + coverage)") == normalise(PROMISED[2])
    assert normalise("All unit tests pass (95%+ coverage)") != normalise(PROMISED[2])


def test_a_leading_number_names_a_criterion():
    for name, number in (("Criterion 2: integrity ok", 2), ("AC3", 3), ("#1 ddl", 1), ("3. tests", 3),
                         ("2) x", 2), ("- [ ] Criterion 1: done", 1)):
        assert named_number(name) == number, name
    for name in ("15 core indexes created", "50ms reads", "criteria", ""):
        assert named_number(name) is None, name


def test_each_criterion_is_matched_once_and_no_entry_names_two():
    r = review(PROMISED, [entry("all ddl scripts executed without errors"),
                          entry("Criterion 1: again", CriterionStatus.NOT_MET),  # 1 is taken: unmatched
                          entry("Criterion 3: tests", CriterionStatus.UNKNOWN),
                          entry("something else")])
    assert [(c.index, c.status, c.matched_by) for c in r.checks] == [
        (1, "met", "text"), (2, NOT_REPORTED, None), (3, "unknown", "number")]
    assert [e.name for e in r.unmatched] == ["Criterion 1: again", "something else"]
    assert [c.index for c in r.unsettled] == [2, 3] and r.met == 1


def test_text_wins_over_a_number_and_duplicate_criteria_take_one_entry_each():
    r = review(["x", "x", "y"], [entry("3: x"), entry("X"), entry("x!")])
    # "3: x" does not read as "x"; the two "x" entries take the two "x" criteria, then "3: x" names y.
    assert [(c.entry and c.entry.name, c.matched_by) for c in r.checks] == [
        ("X", "text"), ("x!", "text"), ("3: x", "number")]
    assert r.unmatched == ()


# -- in the store ---------------------------------------------------------------------------------------


async def test_the_gate_lists_every_acceptance_criterion_with_what_the_report_says(promised):
    store = promised
    await store.submit_report("M1", submitted_by="bot", criteria=[
        met("ALL DDL scripts executed without errors."), met("Criterion 3: pytest", "not_met", "2 failed"),
        met("ruff clean")])
    check = (await store.gate_status("M1")).criteria
    assert [(c.index, c.status) for c in check.checks] == [(1, "met"), (2, NOT_REPORTED), (3, "not_met")]
    assert check.checks[2].entry.evidence == "2 failed"
    assert [e.name for e in check.unmatched] == ["ruff clean"]


async def test_approving_with_unreported_or_unmet_criteria_needs_them_accepted(promised, where):
    store = promised
    await store.submit_report("M1", submitted_by="bot", criteria=[met(PROMISED[0]), met("3", "unknown")])
    gate = await store.gate_status("M1")
    unsettled = [c.text for c in gate.criteria.unsettled]
    assert unsettled == PROMISED[1:]
    for decision in ("APPROVE", "CONDITIONAL"):
        extra = {"conditions": ["later"]} if decision == "CONDITIONAL" else {}
        with pytest.raises(InvalidArgument, match=r"approving leaves 2 acceptance criteria not met: "
                           r"2 'PRAGMA integrity_check returns \"ok\"' \(not reported\); "
                           r"3 'All unit tests pass \(90%\+ coverage\)' \(unknown\)") as refused:
            await decide(store, "M1", decision=decision, rationale="ok", reviewer="alice", **extra)
        assert refused.value.fields.get("field") == "accept_unmet"
        with pytest.raises(InvalidArgument, match="accept_unmet"):  # one of the two is not enough
            await decide(store, "M1", decision=decision, rationale="ok", reviewer="alice",
                         accept_unmet=unsettled[:1], **extra)
    with pytest.raises(InvalidArgument, match="not unreported or unmet: 'All DDL"):
        await decide(store, "M1", decision="APPROVE", rationale="ok", reviewer="alice",
                     accept_unmet=[*unsettled, PROMISED[0]])
    with pytest.raises(InvalidArgument, match="only an approval"):
        await decide(store, "M1", decision="REVISE", rationale="no", reviewer="alice", accept_unmet=unsettled)
    # The preview every seat shows says the same before anything is signed.
    refusal = gates.preview(gate, Decision.APPROVE, reviewer="alice", rationale="ok").refusal
    assert refusal is not None and "2 acceptance criteria not met" in str(refusal)
    assert gates.preview(gate, Decision.APPROVE, reviewer="alice", rationale="ok",
                         accept_unmet=unsettled).refusal is None
    assert (await store.gate_status("M1")).decisions == ()

    # Accepted by name: recorded with the decision, signed, shown, and the gate passes.
    decided = await decide(store, "M1", decision="APPROVE", rationale="ok", reviewer="alice",
                           accept_unmet=list(reversed(unsettled)))
    assert decided.accepted_unmet == tuple(unsettled) and decided.verified
    gate = await store.gate_status("M1")
    assert gate.decisions[0].accepted_unmet == tuple(unsettled) and gate.decisions[0].verified
    assert gate.milestone.status is MilestoneStatus.APPROVED and gate.verified_passed
    [event] = await store.events(kind=EventKind.GATE_DECIDED.value)
    assert event.payload["accepted_unmet"] == unsettled

    # What was accepted is part of what the reviewer signed: rewritten, the decision no longer verifies.
    with raw(where) as conn:
        conn.execute(drop_trigger(where, "gate_decisions_no_update", "gate_decisions"))
        conn.execute("UPDATE gate_decisions SET accepted_unmet = NULL")
    assert not (await store.gate_status("M1")).decisions[0].verified


async def test_a_signature_without_the_accepted_criteria_does_not_stand_for_one_with_them(promised):
    store = promised
    await store.submit_report("M1", submitted_by="bot", criteria=[met(p) for p in PROMISED[:2]])
    gate = await store.gate_status("M1")
    bare = signer("alice").sign(signing.decision_message(
        milestone_id=gate.milestone.id, report_hash=gate.report.content_hash, decision="APPROVE",
        rationale="ok", conditions=(), reviewer="alice"))
    with pytest.raises(PermissionDenied):
        await store.decide_gate("M1", decision="APPROVE", rationale="ok", reviewer="alice",
                                accept_unmet=[PROMISED[2]], signature=bare)


async def test_a_report_meeting_every_criterion_approves_as_before(promised):
    """Decisions that accept nothing sign the same bytes as before criteria were checked: decisions
    recorded then still verify."""
    store = promised
    await store.submit_report("M1", submitted_by="bot", criteria=[met(f"{i}.") for i in (1, 2, 3)])
    assert (await store.gate_status("M1")).criteria.unsettled == ()
    decided = await decide(store, "M1", decision="APPROVE", rationale="ok", reviewer="alice")
    assert decided.verified and decided.accepted_unmet == ()
    fields = dict(milestone_id=1, report_hash="h", decision="APPROVE", rationale="ok", conditions=[], reviewer="a")
    assert signing.decision_payload(**fields) == signing.payload(signing.DECISION, **fields)


async def test_the_next_milestone_context_is_kept_and_hashed(promised):
    store = promised
    plain = await store.submit_report("M1", submitted_by="bot", summary="s")
    assert plain.next_milestone_context == ""
    # A report without one hashes as reports always did.
    assert plain.content_hash == gates.report_hash(
        milestone="M1", version=1, submitted_by="bot", summary="s", criteria=(), metrics=(), issues=(),
        recommendations=(), proposed_decision=None)
    context = "M2 agents: memory tables next; reuse the [bold]pool[/bold]\x1b[31m"
    with_context = await store.submit_report("M1", submitted_by="bot", summary="s", next_milestone_context=context)
    assert with_context.next_milestone_context == context
    assert (await store.get_report("M1")).next_milestone_context == context
    assert with_context.content_hash != plain.content_hash
    with pytest.raises(InvalidArgument, match="next_milestone_context"):
        await store.submit_report("M1", submitted_by="bot", next_milestone_context=["not", "text"])


async def test_evidence_attaches_a_command_and_its_result_to_a_criterion(promised):
    store = promised
    added = await store.add_evidence("M1", criterion=3, command="pytest -q", exit_code=0,
                                     output_sha256=DIGEST.upper(), recorded_by="a1",
                                     ran_at="2026-01-31T17:00:00+00:00")
    assert (added.criterion, added.command, added.exit_code, added.output_sha256, added.recorded_by) == (
        3, "pytest -q", 0, DIGEST, "a1")
    assert added.ran_at.isoformat() == "2026-01-31T17:00:00+00:00" and added.passed
    await store.add_evidence("M1", criterion=3, command="ruff check", exit_code=1, output_sha256=DIGEST,
                             recorded_by="a1")
    gate = await store.gate_status("M1")
    assert [(e.command, e.exit_code) for e in gate.evidence] == [("pytest -q", 0), ("ruff check", 1)]
    assert [len(c.evidence) for c in gate.criteria.checks] == [0, 0, 2]
    event = (await store.events(kind=EventKind.GATE_EVIDENCE_ADDED.value))[-1]  # newest first
    assert event.payload["criterion"] == 3 and event.payload["output_sha256"] == DIGEST


@pytest.mark.parametrize("fields, words", [
    ({"criterion": 4}, "has 3 acceptance criteria; there is no criterion 4"),
    ({"criterion": 0}, "criterion"),
    ({"output_sha256": "abc"}, "64 hexadecimal digits"),
    ({"exit_code": "0"}, "exit_code must be a whole number"),
    ({"command": "  "}, "command"),
    ({"ran_at": "yesterday"}, "ISO 8601"),
    ({"recorded_by": "alice"}, "alice is a reviewer"),
    ({"recorded_by": "nobody"}, "not a registered agent"),
])
async def test_bad_evidence_is_refused_and_nothing_written(promised, fields, words):
    store = promised
    given = dict(criterion=1, command="pytest", exit_code=0, output_sha256=DIGEST, recorded_by="a1") | fields
    with pytest.raises((InvalidArgument, PermissionDenied), match=words):
        await store.add_evidence("M1", **given)
    assert (await store.gate_status("M1")).evidence == ()


async def test_a_milestone_without_criteria_takes_no_evidence(promised):
    with pytest.raises(InvalidArgument, match="'M2' has no acceptance criteria"):
        await promised.add_evidence("M2", criterion=1, command="x", exit_code=0, output_sha256=DIGEST,
                                    recorded_by="a1")
