"""The gate decision end to end: the milestones screen, the DecisionModal, and what lands in the database."""

from __future__ import annotations

from textual.widgets import RadioButton, Static, TextArea

from swarmdeck.app.modals.decision import DecisionModal
from swarmdeck.app.modals.gate_acts import CloseConditionModal, ResumeModal
from swarmdeck.app.screens.milestones import MilestonesScreen
from swarmdeck.widgets.status_bar import StatusBar
from signing_support import decide
from ui_support import (M2_UNMET, db_act, db_call, loaded, make_app, plain, rows, screen_text, settle, static_text, type_text,
                        wait_for)

SIZE = (120, 40)


def status_bar(app) -> str:
    return plain(app.screen.query_one(StatusBar).render())


def panel(app) -> str:
    return static_text(app.screen.query_one("#gate-panel"))


async def open_decision(pilot) -> DecisionModal:
    await loaded(pilot)
    assert isinstance(pilot.app.screen, MilestonesScreen)
    await pilot.press("d")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DecisionModal), what="the decision modal")
    return pilot.app.screen


async def choose(pilot, modal: DecisionModal, decision: str) -> None:
    button = next(b for b in modal.query(RadioButton) if b.name == decision)
    await pilot.click(button)
    await wait_for(pilot, lambda: modal.decision.value == decision, what=f"{decision} chosen")


async def write(pilot, modal: DecisionModal, selector: str, text: str) -> None:
    modal.query_one(selector, TextArea).focus()
    await type_text(pilot, text)


async def recorded(pilot, db, milestone: int, count: int = 1):
    """Wait until the screen shows ``count`` decisions, then return the gate as the database has it."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, MilestonesScreen), what="the modal to close")
    await wait_for(pilot, lambda: len(getattr(pilot.app.screen.gate, "decisions", ())) == count,
                   what=f"{count} decision(s) on screen")
    await settle(pilot)
    return await db_call(db, "gate_status", milestone)


async def test_a_decision_needs_a_rationale_and_conditional_needs_conditions(seeded):
    m2 = seeded.milestones["Memory service"]
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_decision(pilot)
        text = "\n".join(static_text(s) for s in modal.query(Static))
        assert "Decide the gate of Memory service" in text
        assert f"hash {seeded.report_hash[:12]}" in text and "submitted by validator" in text
        assert "deciding as alice" in text and "proposed: CONDITIONAL" in text
        # The report proposed CONDITIONAL, so that is the choice the modal starts on.
        assert modal.decision.value == "CONDITIONAL"

        error = modal.query_one("#decision-error", Static)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "A rationale is required" in static_text(error), what="the rationale error")
        assert app.screen is modal and modal.query_one("#rationale").has_focus

        await write(pilot, modal, "#rationale", "Latency later")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "CONDITIONAL needs at least one condition" in static_text(error),
                       what="the conditions error")
        assert app.screen is modal and modal.query_one("#conditions").has_focus

        # Whitespace is not a rationale either.
        await choose(pilot, modal, "APPROVE")
        modal.query_one("#rationale", TextArea).text = "   \n  "
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: "A rationale is required" in static_text(error))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MilestonesScreen), what="the modal to close")
        await settle(pilot)
    gate = await db_call(seeded.path, "gate_status", m2)
    assert gate.decisions == () and gate.milestone.status.value == "review"


async def test_approve_records_the_decision_and_opens_the_next_milestone(seeded):
    t, m = seeded.tasks, seeded.milestones
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert "⚑ 1 gate awaits review" in status_bar(app)
        modal = await open_decision(pilot)
        await choose(pilot, modal, "APPROVE")
        consequence = static_text(modal.query_one("#consequence"))
        assert "Memory service is approved, and Learning loop opens: 3 tasks, 2 ready now" in consequence
        assert not modal.query_one("#conditions").display
        # The report says one acceptance criterion is not met: the dialog names it beside a box to tick.
        unsettled = static_text(modal.query_one("#unsettled"))
        assert "1 acceptance criterion not met" in unsettled and "2. Search p95 under 50 ms  (not met)" in unsettled
        await write(pilot, modal, "#rationale", "Met; latency later")
        await pilot.press("ctrl+s")
        # Approving without ticking it is refused, in the dialog, with what was typed still there.
        error = modal.query_one("#decision-error", Static)
        await wait_for(pilot, lambda: "Tick the box" in static_text(error), what="the unmet criteria refusal")
        assert app.screen is modal and modal.query_one("#accept-unmet").has_focus
        await pilot.press("space")
        await pilot.press("ctrl+s")

        gate = await recorded(pilot, seeded.path, m["Memory service"])
        [decision] = gate.decisions
        assert decision.decision.value == "APPROVE" and decision.reviewer == "alice"
        # Who accepted what unmet is recorded with the decision, signed, and shown in its history.
        assert decision.accepted_unmet == ("Search p95 under 50 ms",) and decision.verified
        assert "accepted unmet: Search p95 under 50 ms" in panel(app)
        assert decision.report_hash == seeded.report_hash and decision.report_version == 1
        assert decision.rationale == "Met; latency later"
        assert gate.milestone.status.value == "approved"
        assert (await db_call(seeded.path, "get_milestone", m["Learning loop"])).status.value == "open"
        tasks = {x.id: x.status.value for x in await db_call(seeded.path, "tasks_by_ids",
                                                             [t["lessons"], t["estimates"], t["retro"]])}
        assert tasks == {t["lessons"]: "ready", t["estimates"]: "ready", t["retro"]: "blocked"}

        # The screen follows: gate count, table, and the history under the report.
        await wait_for(pilot, lambda: "await" not in status_bar(app), what="the review count to drop")
        assert app.pending_reviews == 0
        await wait_for(pilot, lambda: [c[2] for c in rows(app.screen.table).values()]
                       == ["approved", "approved", "open"], what="the table to follow")
        text = panel(app)
        history = text[text.index("Decisions"):]
        assert "APPROVE" in history and "alice" in history and f"({seeded.report_hash[:8]})" in history
        assert "Met; latency later" in history


async def test_escalate_pauses_the_swarm_until_r_resumes_it(seeded):
    m2 = seeded.milestones["Memory service"]
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_decision(pilot)
        await choose(pilot, modal, "ESCALATE")
        assert "The whole swarm pauses" in static_text(modal.query_one("#consequence"))
        await write(pilot, modal, "#rationale", "Data leak")
        await pilot.click("#confirm")
        gate = await recorded(pilot, seeded.path, m2)
        assert gate.decisions[-1].decision.value == "ESCALATE"
        assert (await db_call(seeded.path, "swarm_state")).paused
        await wait_for(pilot, lambda: "SWARM PAUSED" in status_bar(app), what="SWARM PAUSED")
        assert "Data leak" in status_bar(app)

        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, ResumeModal), what="the resume modal")
        assert "Data leak" in "\n".join(static_text(s) for s in app.screen.query(Static))
        await pilot.press("enter")  # a reason is required
        await wait_for(pilot, lambda: "Say why" in static_text(app.screen.query_one("#resume-error")))
        await type_text(pilot, "Leak patched")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MilestonesScreen), what="the modal to close")
        await wait_for(pilot, lambda: "SWARM PAUSED" not in status_bar(app), what="the swarm to resume")
        assert not (await db_call(seeded.path, "swarm_state")).paused
        assert (await db_call(seeded.path, "get_milestone", m2)).status.value == "review"
        assert "⚑ 1 gate awaits review" in status_bar(app)
        [resumption] = (await db_call(seeded.path, "gate_status", m2)).resumptions
        assert (resumption.resumed_by, resumption.reason) == ("alice", "Leak patched")
        await wait_for(pilot, lambda: "RESUMED" in panel(app), what="the resumption in the history")
        assert "Leak patched" in panel(app)


async def test_conditional_tracks_conditions_and_x_closes_them(seeded):
    m2 = seeded.milestones["Memory service"]
    app = make_app(seeded.path)
    async with app.run_test(size=SIZE) as pilot:
        modal = await open_decision(pilot)
        assert modal.query_one("#conditions").display
        await write(pilot, modal, "#rationale", "Proceed")
        await write(pilot, modal, "#conditions", "Fix leak\np95 < 50")
        await wait_for(pilot, lambda: "2 condition(s) stay tracked" in static_text(modal.query_one("#consequence")))
        await pilot.click("#accept-unmet")
        await pilot.press("ctrl+s")
        gate = await recorded(pilot, seeded.path, m2)
        assert gate.milestone.status.value == "conditional"
        assert [c.text for c in gate.conditions] == ["Fix leak", "p95 < 50"]
        assert {c.status.value for c in gate.conditions} == {"open"}
        # the panel shows the decision once its refresh after the write has run (the database has it already)
        await wait_for(pilot, lambda: panel(app).count("☐ open") == 2, what="both conditions on the panel")

        # x: the reviewer picks which condition (the first is chosen to start with) and says how.
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, CloseConditionModal), what="the close modal")
        assert [b.name for b in app.screen.query(RadioButton)] == [str(c.id) for c in gate.conditions]
        await pilot.press("ctrl+s")  # a note is required
        await wait_for(pilot, lambda: "Say how" in static_text(app.screen.query_one("#close-error")))
        await type_text(pilot, "Leak fixed in #12")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: panel(app).count("☐ open") == 1, what="one condition closed")
        gate = await db_call(seeded.path, "gate_status", m2)
        assert [c.status.value for c in gate.conditions] == ["closed", "open"]
        assert gate.conditions[0].closed_by == "alice"
        assert gate.conditions[0].note == "Leak fixed in #12" and "closed by alice" in panel(app)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, CloseConditionModal), what="the close modal")
        assert [b.name for b in app.screen.query(RadioButton)] == [str(gate.conditions[1].id)]
        await type_text(pilot, "p95 is 41 ms")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "☐ open" not in panel(app), what="both conditions closed")
        assert (await db_call(seeded.path, "get_milestone", m2)).status.value == "approved"
        await pilot.press("x")
        await wait_for(pilot, lambda: any("No open condition" in n.message for n in app._notifications))


async def test_a_refused_decision_is_shown_not_swallowed(seeded):
    """The store refuses the submitter's own decision; the reviewer is told why, and nothing is recorded."""
    app = make_app(seeded.path, reviewer="validator")
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("d")  # refused before the reviewer writes a rationale for nothing
        await wait_for(pilot, lambda: any("validator submitted this report and cannot decide it" in n.message
                                          for n in app._notifications), what="the refusal")
        assert isinstance(app.screen, MilestonesScreen)
    gate = await db_call(seeded.path, "gate_status", seeded.milestones["Memory service"])
    assert gate.decisions == () and gate.milestone.status.value == "review"


async def test_a_seat_whose_reviewer_is_not_registered_reads_but_does_not_decide(seeded):
    """The dashboard is a human seat, for a registered reviewer: anyone else is told how to register."""
    m2 = seeded.milestones["Memory service"]
    await db_act(seeded.path, decide, m2, decision="CONDITIONAL", rationale="go", reviewer="bob",
                 conditions=["Fix leak"], accept_unmet=M2_UNMET)
    for reviewer, why in (("zoe", "zoe is not a registered reviewer"), ("builder-1", "builder-1 is a registered agent")):
        app = make_app(seeded.path, reviewer=reviewer)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("down")
            await wait_for(pilot, lambda: "Fix leak" in panel(app), what="the gate with its condition")  # it reads
            await pilot.press("x")
            await wait_for(pilot, lambda: any(why in n.message for n in app._notifications), what="the refusal")
            [note] = [n for n in app._notifications if why in n.message]
            assert "This seat still shows every gate" in note.message
            if reviewer == "zoe":
                assert "swarmdeck reviewer add zoe" in note.message
            assert isinstance(app.screen, MilestonesScreen)
    gate = await db_call(seeded.path, "gate_status", m2)
    assert [c.status.value for c in gate.conditions] == ["open"]


async def test_the_other_gate_dialogs_show_their_own_keys_and_tab_never_reaches_cancel(seeded):
    m2 = seeded.milestones["Memory service"]
    await db_act(seeded.path, decide, m2, decision="CONDITIONAL", rationale="go", reviewer="bob",
                 conditions=["Fix leak"], accept_unmet=M2_UNMET)
    app = make_app(seeded.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("down")
        await wait_for(pilot, lambda: "Fix leak" in panel(app), what="the gate with its condition")
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, CloseConditionModal), what="the close modal")
        await settle(pilot)
        footer = screen_text(app).splitlines()[-1]
        assert "Cancel" in footer and "Confirm" in footer and "Close condition" not in footer
        for _ in range(4):
            await pilot.press("tab")
            assert app.focused is not app.screen.query_one("#cancel")
